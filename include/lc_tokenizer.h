/*
 * lc_tokenizer.h — Hugging Face `tokenizers`-compatible encode/decode from a
 * tokenizer.json (byte-level BPE: GPT-2, SmolLM, Qwen2, Llama 3; and
 * SentencePiece-style BPE with byte fallback: Llama 2, TinyLlama, Mistral), or
 * from GGUF `tokenizer.ggml.*` metadata. Ids are identical to HF's.
 */
#ifndef LC_TOKENIZER_H
#define LC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "lc_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lc_tokenizer lc_tokenizer;

/* Load from a tokenizer.json path, or a model directory containing one (then
 * tokenizer_config.json / config.json there supply bos/eos and chat_template). */
lc_status lc_tokenizer_load(lc_tokenizer **out, const char *path);

/* Build from vocabulary arrays (GGUF tokenizer.ggml.* metadata), as llama.cpp
 * tokenizes with parse_special = true.
 * model: "gpt2" (byte-level BPE) or "llama" (SentencePiece BPE);
 * pre: GGUF pre-tokenizer name ("default", "llama-bpe", "smollm", "qwen2", "gpt-2", ...);
 * tokens[n_tokens], scores (may be NULL), token_types (may be NULL; GGUF
 * values: 1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte),
 * merges[n_merges] as "a b" strings (may be NULL for llama/score-based).
 * add_space_prefix (llama only; GGUF tokenizer.ggml.add_space_prefix): 1
 * prepends "▁" to each text segment and decode drops one leading space
 * (Llama 2, Mistral); 0 does neither (Gemma); -1 = absent = 1. */
lc_status lc_tokenizer_from_vocab(lc_tokenizer **out, const char *model, const char *pre,
                                  const char *const *tokens, const float *scores,
                                  const int32_t *token_types, int n_tokens,
                                  const char *const *merges, int n_merges, int bos_id,
                                  int eos_id, int unk_id, int add_bos, int add_space_prefix);

void lc_tokenizer_free(lc_tokenizer *t);

/* Encode UTF-8 text (len bytes). Invalid UTF-8 is first replaced by U+FFFD per
 * maximal invalid subpart (as Python's bytes.decode("utf-8", "replace") before
 * HF sees the string); never a crash. Safe to call from several threads.
 * add_special: apply the post-processor (e.g. prepend <s>) as HF's
 * encode(text, add_special_tokens=True). Added/special tokens in the text are
 * always matched as HF does. *ids is malloc'd; caller frees with free(). */
lc_status lc_tokenizer_encode(const lc_tokenizer *t, const char *text, size_t len,
                              int add_special, int32_t **ids, int *n_ids);
/* Decode ids to a malloc'd UTF-8 string (caller frees), as HF's decode();
 * skip_special drops special tokens. */
char *lc_tokenizer_decode(const lc_tokenizer *t, const int32_t *ids, int n, int skip_special);
/* As lc_tokenizer_decode, also giving the byte length (text may contain NUL). */
char *lc_tokenizer_decode_len(const lc_tokenizer *t, const int32_t *ids, int n, int skip_special,
                              size_t *len);
/* The text of one token as decoded on its own (for streaming); malloc'd. */
char *lc_tokenizer_decode_token(const lc_tokenizer *t, int32_t id);

/* Add n new special tokens as HF's tokenizer.add_tokens(tokens,
 * special_tokens=True): ids vocab_size .. vocab_size+n-1 in order, matched as
 * whole strings before normalisation and pre-tokenisation (never split, not
 * normalised, no lstrip/rstrip), decoded as their text and dropped by
 * skip_special. Each must be non-empty and not yet a token (LC_ERR_ARG naming
 * the token and its id). Not thread-safe: call before encoding. */
lc_status lc_tokenizer_add_special(lc_tokenizer *t, const char *const *tokens, int n);

int lc_tokenizer_vocab_size(const lc_tokenizer *t);
int lc_tokenizer_bos_id(const lc_tokenizer *t); /* -1 if none */
int lc_tokenizer_eos_id(const lc_tokenizer *t); /* -1 if none */
int lc_tokenizer_token_id(const lc_tokenizer *t, const char *token); /* -1 if absent */
const char *lc_tokenizer_kind(const lc_tokenizer *t); /* "byte-level BPE" / "SentencePiece BPE" */
/* The chat_template string from tokenizer_config.json / GGUF metadata, or NULL. */
const char *lc_tokenizer_chat_template(const lc_tokenizer *t);
/* Set (copy) the chat template, e.g. GGUF tokenizer.chat_template for a
 * tokenizer built with lc_tokenizer_from_vocab; NULL clears it. */
lc_status lc_tokenizer_set_chat_template(lc_tokenizer *t, const char *tmpl);

#ifdef __cplusplus
}
#endif
#endif /* LC_TOKENIZER_H */
