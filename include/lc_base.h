/*
 * lc_base.h — open the base model a user points lorac at, whatever its form:
 * a Hugging Face directory (config.json + safetensors + tokenizer.json) or a
 * GGUF file (weights, possibly quantised, and tokenizer in its metadata),
 * optionally with a separate tokenizer.json. Used by every verb.
 */
#ifndef LC_BASE_H
#define LC_BASE_H

#include "lc_common.h"
#include "lc_gguf.h"
#include "lc_model.h"
#include "lc_tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    lc_model model;
    lc_tokenizer *tok;
    int is_gguf;
    char path[1024];
} lc_base;

/* Load model + tokenizer. tokenizer_path may be NULL or "" (then the model
 * directory's tokenizer.json, or the GGUF metadata, is used). On failure *b is
 * left freed and the message names what failed. */
lc_status lc_base_open(lc_base *b, const char *model_path, const char *tokenizer_path);
void lc_base_close(lc_base *b);

/* The tokenizer alone, without the weights: tokenizer_path if given, else
 * the GGUF file's tokenizer.ggml.* metadata, else the model directory's
 * tokenizer.json. The same tokenizer lc_base_open builds. Free with
 * lc_tokenizer_free. */
lc_status lc_base_open_tokenizer(lc_tokenizer **out, const char *model_path, const char *tokenizer_path);

#ifdef __cplusplus
}
#endif
#endif /* LC_BASE_H */
