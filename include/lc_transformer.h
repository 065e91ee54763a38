/*
 * lc_transformer.h — forward and backward passes of a frozen lc_model with
 * (optional) LoRA adapters. Backward computes only what training needs:
 * activation gradients and LoRA A/B gradients, never frozen-weight gradients.
 *
 * Activations kept for backward per layer (B·T rows): the layer input, q/k/v
 * after RoPE, attention output + log-sum-exp, the residual after attention,
 * gate and up, LoRA intermediates (x·A^T, r wide). Normalised inputs, SwiGLU
 * output and attention probabilities are recomputed in backward.
 *
 * Several adapters in one pass (the `_multi` calls, for one-pass sweeps): K
 * trials' micro-batches of one shape (B, T) are stacked into K·B rows; every
 * frozen matmul, norm and attention runs once over all rows, and each
 * trial's LoRA runs on its own rows with its own scale, dropout seed and
 * gradient scale. Each trial's numbers are bit-identical to a pass with that
 * adapter alone (every frozen op is row-independent and the per-trial LoRA
 * matmuls have the same shapes; tests/model checks it).
 */
#ifndef LC_TRANSFORMER_H
#define LC_TRANSFORMER_H

#include <stdint.h>

#include "lc_common.h"
#include "lc_lora.h"
#include "lc_cpu.h"
#include "lc_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Token ids and loss targets for one micro-batch. targets[i] is the id
 * predicted at token i (usually tokens[i+1]) or -1 for no loss.
 *
 * Two layouts of B rows whose longest has T tokens:
 *  - padded (slot == NULL): tokens and targets are (B, T), each row padded to
 *    T (pad targets -1);
 *  - padding-free (slot != NULL): the rows concatenated into one stream of
 *    n = seg[n_seg] real tokens, tokens and targets (n); slot (n) gives each
 *    token's index b*T + t in the padded layout (its dropout masks use it,
 *    so both layouts draw the same masks).
 * Segments: attention is causal within a segment and blind across segments
 * (block-diagonal), and positions restart at 0 in each. seg == NULL: every
 * row is one segment. Otherwise seg (n_seg + 1) holds the offsets of the
 * segments in the stream (seg[0] = 0, increasing); in the padded layout
 * seg[n_seg] = B*T and no segment crosses the end of a row (a row's padding
 * belongs to its last segment). Packed rows hold several examples: one
 * segment each. Every pass checks this description (lc_batch_check). */
typedef struct {
    const int32_t *tokens;  /* (B, T) padded, (n) padding-free */
    const int32_t *targets; /* same layout as tokens */
    int B, T;
    const int32_t *seg;     /* (n_seg + 1) segment offsets, or NULL */
    int n_seg;
    const int32_t *slot;    /* (n) padded index of each token; NULL = padded layout */
} lc_batch;

/* Tokens in the batch's stream: B*T padded, seg[n_seg] padding-free. */
int64_t lc_batch_tokens(const lc_batch *b);
/* The layout described above holds (token ids not checked): LC_ERR_ARG
 * naming the first broken rule. */
lc_status lc_batch_check(const lc_batch *b);

/* NEFTune: x (n, C) += U(-1, 1) * alpha / sqrt(T * C), as transformers'
 * neftune_post_forward_hook with T the batch's padded row length. Element
 * (i, j) hashes seed on NEFTune's own stream at the padded index of token i
 * (slot as in lc_batch; NULL = padded layout). alpha <= 0: nothing. The
 * training passes call it on the embeddings when lora->cfg.neftune_alpha > 0
 * (src/model/neftune.c). */
void lc_neftune_add(float *x, int n, int C, int T, const int32_t *slot, uint64_t seed, float alpha);

typedef struct lc_acts lc_acts; /* activation and scratch memory, opaque */

/* Allocate activations for micro-batches up to (B, T) for model m with adapter
 * lora (may be NULL: inference/eval of the base only). */
lc_status lc_acts_create(lc_acts **out, const lc_model *m, const lc_lora *lora, int B, int T);
/* The same, optionally with gradient checkpointing: only each layer's input
 * is kept and backward recomputes the layer's forward (identical numbers,
 * far less memory, about a third more compute). Training only. */
lc_status lc_acts_create_ex(lc_acts **out, const lc_model *m, const lc_lora *lora, int B, int T,
                            int grad_checkpointing);
/* Activations for K adapters trained or evaluated in one pass, each on its
 * own micro-batch of up to (B, T): room for K·B rows, the widest rank, every
 * targeted projection. loras (K) may hold NULLs (base only); K ≤
 * LC_MAX_TRIALS. Llama family only when K > 1. */
lc_status lc_acts_create_multi(lc_acts **out, const lc_model *m, const lc_lora *const *loras, int K, int B,
                               int T, int grad_checkpointing);
#define LC_MAX_TRIALS 64
void lc_acts_free(lc_acts *a);
/* Bytes of memory the activations hold. */
size_t lc_acts_bytes(const lc_acts *a);
/* How the frozen projection matmuls of forward and backward-to-activations
 * run (lc_cpu.h; default LC_MATMUL_FP32): the bf16 paths round each matmul's
 * input to bf16 and use bf16 weight tiles with fp32 accumulation; LoRA, norms,
 * attention, the LM head and the loss stay fp32. Allocates the bf16 scratch
 * (N·max(C, F, Hq·hd) floats); bf16-onednn first runs a tiny probe matmul.
 * Pair with lc_model_frozen_to_bf16 to store the weights in bf16. Llama family
 * only (LC_ERR_UNSUPPORTED for GPT-2 unless fp32). */
lc_status lc_acts_set_matmul_path(lc_acts *a, const lc_model *m, lc_matmul_path path);
lc_matmul_path lc_acts_matmul_path(const lc_acts *a);

/* Optional timing of the parts of a pass (bench_train): while set, the
 * Llama-family passes ADD wall seconds (and the frozen matmuls' FLOPs) into
 * *p; NULL (the default) turns it off, at the cost of one pointer test per
 * part. Parts: the frozen projection matmuls forward and backward to the
 * input (incl. a DoRA pass's extra ones), the LoRA side of every projection
 * (dropout, DoRA included), attention (incl. RoPE), the LM head with the loss,
 * and the whole pass; the rest (norms, SwiGLU, residuals, memsets) is
 * pass_s minus the parts. Forward-only passes add to the matmul, LoRA and
 * attention parts only. GPT-2's passes (gpt2.c) ignore it. frozen_cpu_s is
 * the process CPU time (all threads) of the frozen matmuls: unlike wall time
 * it does not grow while other processes hold the cores, so FLOPs per CPU
 * second measure the kernels themselves on a shared machine. */
typedef struct {
    double frozen_fwd_s, frozen_bwd_s;       /* frozen projection matmuls */
    double frozen_cpu_s;                     /* their process CPU seconds, both directions */
    double frozen_fwd_flop, frozen_bwd_flop; /* their FLOPs, 2·rows·in·out each */
    double lora_s, attention_s, head_s;      /* LoRA side, attention + RoPE, LM head + loss */
    double pass_s;                           /* the whole lc_forward_backward(_multi) */
} lc_pass_profile;
void lc_acts_set_profile(lc_acts *a, lc_pass_profile *p);

/* Forward + backward on one micro-batch. LoRA gradients are ACCUMULATED into
 * lora->grads, scaled by grad_scale (pass 1 / number of target tokens of the
 * whole optimizer step, so accumulation over micro-batches is exact).
 * Dropout (lora->cfg.dropout > 0) uses masks derived from dropout_seed.
 * *loss_sum receives the summed (unnormalised) cross-entropy over targets and
 * *n_targets the number of target positions. */
lc_status lc_forward_backward(const lc_model *m, lc_lora *lora, lc_acts *a, const lc_batch *batch,
                              float grad_scale, uint64_t dropout_seed, double *loss_sum,
                              int64_t *n_targets);

/* Forward only (no dropout), with the adapter applied unmerged if lora != NULL
 * (scaled by lora_scale_mult, 1.0 for as-trained).
 * If loss_sum != NULL: summed cross-entropy over targets (batch->targets used).
 * If logits != NULL: full logits (B, T, V) are written ((n, V) for a
 * padding-free batch). */
lc_status lc_forward(const lc_model *m, const lc_lora *lora, float lora_scale_mult, lc_acts *a,
                     const lc_batch *batch, double *loss_sum, int64_t *n_targets, float *logits);

/* lc_forward_backward for K adapters at once: loras (K), batches (K, all of
 * one shape), grad_scales (K), seeds (K); loss_sums (K) and n_targets (K, or
 * NULL) receive each trial's numbers. Acts from lc_acts_create_multi with
 * room for K batches. */
lc_status lc_forward_backward_multi(const lc_model *m, lc_lora *const *loras, int K, lc_acts *a,
                                    const lc_batch *batches, const float *grad_scales, const uint64_t *seeds,
                                    double *loss_sums, int64_t *n_targets);

/* lc_forward's loss for K adapters at once (no logits): loras (K, NULL =
 * base), lora_scale_mults (K, or NULL = all 1), batches (K, one shape, with
 * targets); loss_sums (K) and n_targets (K, or NULL). */
lc_status lc_forward_multi(const lc_model *m, const lc_lora *const *loras, const float *lora_scale_mults, int K,
                           lc_acts *a, const lc_batch *batches, double *loss_sums, int64_t *n_targets);

#ifdef __cplusplus
}
#endif
#endif /* LC_TRANSFORMER_H */
