/*
 * infer_gpt2.h — private: the KV-cache forward of GPT-2 layers
 * (fam.layer == LC_LAYER_GPT2) behind lc_infer (lc_infer.h). infer.c keeps
 * the tokens, the position and the input checks and hands each run of
 * tokens here; this file owns the cache and scratch of GPT-2's layer.
 */
#ifndef LC_MODEL_INFER_GPT2_H
#define LC_MODEL_INFER_GPT2_H

#include "lc_infer.h"

typedef struct lc_gpt2_infer lc_gpt2_infer;

/* A cache of max_len positions for GPT-2 model m with adapters[n_adapters]
 * applied unmerged (copied by value). LC_ERR_ARG when max_len exceeds the
 * model's n_positions (its learned position table has no more rows);
 * LC_ERR_MISMATCH for an adapter of other shapes; LC_ERR_UNSUPPORTED for a
 * DoRA adapter or a weight that is not fp32. */
lc_status lc_gpt2_infer_create(lc_gpt2_infer **out, const lc_model *m, const lc_infer_adapter *adapters, int n_adapters,
                               int max_len);
void lc_gpt2_infer_free(lc_gpt2_infer *g);
size_t lc_gpt2_infer_bytes(const lc_gpt2_infer *g);

/* tokens[n] (checked by the caller: in the vocabulary, p0 + n <= max_len) at
 * positions p0 .. p0+n-1 into the cache. logits (may be NULL): all ? (n, V)
 * every position's : (V) the last position's. */
void lc_gpt2_infer_run(lc_gpt2_infer *g, const int32_t *tokens, int n, int p0, float *logits, int all);

#endif /* LC_MODEL_INFER_GPT2_H */
