/*
 * lc_tokens.h — PEFT trainable tokens on a LoRA adapter (LoraConfig
 * trainable_token_indices; peft/tuners/trainable_tokens, PEFT 0.21):
 *
 *   trainable_token_indices: [i_0, ..., i_{n-1}]     (or {"embed_tokens": [...]})
 *
 * Rows i_j of the input embedding E (V, C) are replaced by trainable values
 * delta (n, C) — PEFT's token_adapter.trainable_tokens_delta, which despite
 * its name holds the rows themselves (index_copy, not an addition) and starts
 * as E[i_j]. With a tied LM head (tie_word_embeddings) the head's rows i_j are
 * the same delta, so logit i_j = h · delta_j and delta gets the gradient of
 * both uses. Everything else stays frozen. The delta rows are the last n*C
 * floats of lora->params (grads, AdamW m and v alike): the optimizer's flat
 * step, the checkpoint's moments and the multi-trial passes need nothing
 * special. Llama family only (GPT-2: LC_ERR_UNSUPPORTED).
 */
#ifndef LC_TOKENS_H
#define LC_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "lc_common.h"
#include "lc_lora.h"
#include "lc_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PEFT's saved name of delta (n, C) in adapter_model.safetensors. */
#define LC_TOKENS_TENSOR "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"

/* Parse trainable_token_indices JSON text ("" = none: *n = 0, *ids = NULL):
 * a non-empty list of distinct integers >= 0, or a mapping whose keys name
 * the input embedding ("embed_tokens", "model.embed_tokens") and, only with
 * the same list, the tied head ("lm_head"). V > 0 also checks every id < V.
 * *ids is malloc'd (caller frees). LC_ERR_CONFIG naming the key otherwise. */
lc_status lc_tokens_parse(const char *text, int V, int **ids, int *n);

/* ---- add_tokens: new vocabulary entries (HF tokenizer.add_tokens(...,
 * special_tokens=True) + model.resize_token_embeddings(len(tokenizer))) ---- */

/* Parse add_tokens JSON text ("" = none: *n = 0, *strs = NULL): a non-empty
 * list of distinct non-empty strings. *strs (n malloc'd strings in a
 * malloc'd array) is freed with lc_tokens_strs_free. LC_ERR_CONFIG naming
 * the key and the entry otherwise. */
lc_status lc_tokens_parse_added(const char *text, char ***strs, int *n);
void lc_tokens_strs_free(char **strs, int n);
/* Grow m's vocabulary V by n rows, as transformers' resize_token_embeddings
 * with mean_resizing: tok_emb becomes owned fp32 (V+n, C), old rows
 * dequantised, each new row the mean of the old rows (summed in double;
 * transformers adds a sample of N(0, 1e-9·cov), lorac takes the exact
 * mean); an untied lm_head the same with its own mean; a tied one follows
 * the embedding. cfg.vocab_size += n; m->identity stays the loaded base's.
 * Llama family only (LC_ERR_UNSUPPORTED for GPT-2). */
lc_status lc_tokens_grow_vocab(lc_model *m, int n);
/* out (cap bytes) = the JSON list of trainable ids: the user's
 * trainable_token_indices (list or {"embed_tokens": ...} text, ids < first)
 * followed by first .. first+n-1 (the added tokens). */
lc_status lc_tokens_indices_with_added(char *out, size_t cap, const char *user, int first, int n);

/* Set up lora->tok for model m from lora->cfg (ids, tied); *floats gets the
 * parameters it needs (n * C). LC_ERR_UNSUPPORTED for GPT-2. */
lc_status lc_tokens_plan(lc_lora *lora, const lc_model *m, size_t *floats);
/* Point delta / ddelta at params + off / grads + off and set delta to the
 * embedding rows (PEFT init_weights=True), dequantised if need be. */
void lc_tokens_carve(lc_lora *lora, const lc_model *m, size_t off);
void lc_tokens_free(lc_lora_tokens *t);

/* x (N, C): the row of every token of lora's set replaced by its delta row
 * (before any embedding scale). lora NULL or without tokens: nothing. */
void lc_tokens_embed(float *x, const int32_t *tokens, int N, const lc_lora *lora);
/* ddelta_j += scale * dx[n] for every n with tokens[n] == ids[j]; dx (N, C)
 * is d loss / d (the scaled embedding), scale the family's embed_scale.
 * ACCUMULATES. */
void lc_tokens_embed_backward(lc_lora *lora, const float *dx, const int32_t *tokens, int N, float scale);
/* The override of the tied head for lc_lmhead_xent_rows: its row count
 * (0 without tokens or untied) and ids, rows, gradient rows. */
int lc_tokens_head(const lc_lora *lora, const int **ids, const float **rows, float **drows);
/* logits (N, V) computed with the frozen head: with a tied head, column
 * ids[j] becomes hidden[n] · delta_j. */
void lc_tokens_head_logits(float *logits, const float *hidden, int N, int V, const lc_lora *lora);
/* W (V, C), fp32: rows ids replaced by delta (merge, PEFT index_copy). */
void lc_tokens_merge_rows(float *W, int V, const lc_lora *lora);

#ifdef __cplusplus
}
#endif
#endif /* LC_TOKENS_H */
