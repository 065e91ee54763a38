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
#include "lc_lora.h"
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

/* add_tokens (src/train/add_tokens.c): add the JSON list of strings `json`
 * to b as HF's tokenizer.add_tokens(..., special_tokens=True) followed by
 * model.resize_token_embeddings(len(tokenizer)) (lc_tokenizer_add_special,
 * lc_tokens_grow_vocab). *first (may be NULL) = the first new id = the old
 * vocabulary size V. The tokenizer's size must equal the model's V (a padded
 * embedding, e.g. Qwen2.5's, is refused: HF would shrink it). "" = nothing. */
lc_status lc_base_add_tokens(lc_base *b, const char *json, int *first);
/* The adapter config's side of add_tokens for a base b that lc_base_add_tokens
 * grew by add_tokens: lc->add_tokens = add_tokens, lc->trainable_token_indices
 * = user_indices (ids of the old vocabulary) followed by the new ids. */
lc_status lc_base_added_lora_config(lc_lora_config *lc, const lc_base *b, const char *add_tokens,
                                    const char *user_indices);
/* The added tokens of an adapter whose config is cfg and whose base had
 * base_vocab rows: applied to b unless b already holds exactly them (the
 * same strings at ids base_vocab ..), e.g. for a second adapter of the same
 * run. LC_ERR_MISMATCH when b holds other added rows. */
lc_status lc_base_apply_added(lc_base *b, const char *add_tokens, int base_vocab);
/* As lc_base_apply_added for the lorac HDF5 adapter at path (its
 * adapter/add_tokens and base/vocab_size): call before lc_adapter_load. */
lc_status lc_base_prepare_adapter(lc_base *b, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* LC_BASE_H */
