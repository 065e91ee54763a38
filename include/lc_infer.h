/*
 * lc_infer.h — incremental inference for generation: a key/value cache for one
 * sequence, prefill of n tokens and single-token decode, returning logits.
 *
 * Same numerics as lc_forward (lc_transformer.h): RMSNorm, HF rotate-half
 * RoPE at absolute positions, grouped-query attention, SwiGLU, fp32
 * activations; a GPT-2 model (fam.layer LC_LAYER_GPT2) runs its own layer
 * (src/model/infer_gpt2.c: LayerNorm, learned positions, fused c_attn, GELU,
 * fp32 weights only). Frozen weights may be quantised: prefill dequantises tiles of
 * rows before each GEMM (as training does); decode (one row) uses a fused
 * dequantise-and-dot matrix-vector product. Zero or more LoRA adapters are
 * applied UNMERGED, each with its own multiplier:
 *     y += mult * scale * (x · A^T) · B^T      (scale = alpha/r or alpha/sqrt(r))
 *
 * The cache holds the model and adapters by pointer: they must outlive it and
 * not change while it is used. One lc_infer serves one sequence; it is not
 * safe to use one from several threads at once.
 */
#ifndef LC_INFER_H
#define LC_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "lc_common.h"
#include "lc_lora.h"
#include "lc_model.h"
#include "lc_sample.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One adapter to apply, unmerged, with its scale multiplier (1.0 = as trained). */
typedef struct {
    const lc_lora *lora;
    float mult;
} lc_infer_adapter;

typedef struct lc_infer lc_infer; /* opaque: cache + scratch */

/* Allocate a cache for sequences of up to max_len tokens (1 <= max_len;
 * positions beyond the model's max_position are allowed but warned about by
 * callers, not here; GPT-2 refuses them, LC_ERR_ARG: its learned position
 * table ends there). adapters[n_adapters] (may be NULL when 0) are copied by
 * value; each must have been made for m (layer count and projection shapes
 * are checked: LC_ERR_MISMATCH). */
lc_status lc_infer_create(lc_infer **out, const lc_model *m, const lc_infer_adapter *adapters,
                          int n_adapters, int max_len);
void lc_infer_free(lc_infer *s);

/* Append n >= 1 tokens at positions pos .. pos+n-1 (pos = lc_infer_pos) to the
 * cache. If logits != NULL it receives the logits (V) of the LAST of these
 * positions. Fails with LC_ERR_ARG (cache unchanged) if a token is outside
 * the vocabulary or pos + n > max_len. */
lc_status lc_infer_prefill(lc_infer *s, const int32_t *tokens, int n, float *logits);
/* As lc_infer_prefill, but logits (n, V) receives every position's logits. */
lc_status lc_infer_prefill_all(lc_infer *s, const int32_t *tokens, int n, float *logits);
/* lc_infer_prefill of one token: logits (V) of the next position. */
lc_status lc_infer_decode(lc_infer *s, int32_t token, float *logits);

/* Forget everything after the first pos tokens (0 <= pos <= lc_infer_pos),
 * e.g. to reuse a shared prompt prefix. */
void lc_infer_rewind(lc_infer *s, int pos);
/* Tokens in the cache, their ids (pos of them), and the capacity. */
int lc_infer_pos(const lc_infer *s);
const int32_t *lc_infer_tokens(const lc_infer *s);
int lc_infer_max_len(const lc_infer *s);
/* Bytes the cache and its scratch hold. */
size_t lc_infer_bytes(const lc_infer *s);

/* ---- generation loop ---- */

typedef enum {
    LC_STOP_MAX_TOKENS = 0, /* max_new tokens generated */
    LC_STOP_TOKEN,          /* a stop token (EOS, end of turn) was sampled */
    LC_STOP_CALLBACK,       /* on_token asked to stop (e.g. a stop string) */
    LC_STOP_CONTEXT,        /* the cache is full */
} lc_stop_reason;

typedef struct {
    int n_prompt;          /* prompt tokens given */
    int n_prompt_run;      /* of those, run through the model (the rest were cached) */
    int n_gen;             /* tokens generated (a final stop token not counted) */
    double prompt_s;       /* seconds for the prefill */
    double gen_s;          /* seconds from the first sampled token to the end */
    lc_stop_reason reason;
    int32_t stop_token;    /* the stop token sampled, or -1 */
} lc_gen_stats;

/* Called with each generated token (never a stop token); return nonzero to stop. */
typedef int (*lc_token_fn)(void *ctx, int32_t id);

/* Continue prompt[n_prompt] (n_prompt >= 1): the cache is rewound to the
 * longest common prefix of its tokens and the prompt (at least the last
 * prompt token is always run), the rest is prefilled, then up to max_new
 * tokens are drawn with smp and decoded one at a time. Stops at any of
 * stop_ids[n_stop] (not passed to on_token, not stored in out), when on_token
 * returns nonzero, at max_new, or when the cache is full. out (room for
 * max_new, may be NULL) receives the generated ids; stats (may be NULL) the
 * counts and timings. Errors: those of lc_infer_prefill (e.g. the prompt does
 * not fit), LC_ERR_NOMEM. */
lc_status lc_infer_generate(lc_infer *s, lc_sampler *smp, const int32_t *prompt, int n_prompt, int max_new,
                            const int32_t *stop_ids, int n_stop, lc_token_fn on_token, void *ctx,
                            int32_t *out, lc_gen_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* LC_INFER_H */
