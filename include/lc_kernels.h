/*
 * lc_kernels.h — the math of a Llama-family transformer layer, forward and
 * backward, as plain functions over raw float arrays (llm.c style).
 *
 * Conventions
 *  - Argument order: outputs, then inputs, then sizes. Shapes in comments.
 *  - Every *_backward ACCUMULATES (+=) into its gradient outputs; callers zero
 *    gradient buffers once before the backward pass.
 *  - Weights are row-major (out, in) like HF/PEFT/ggml: y = x · W^T.
 *  - No I/O, no allocation inside kernels unless stated.
 *  - Functions that call BLAS (marked [BLAS]) must be called from outside any
 *    OpenMP parallel region; the others parallelise internally with OpenMP.
 *  - Nothing here needs -ffast-math; results are deterministic for a fixed
 *    thread count.
 */
#ifndef LC_KERNELS_H
#define LC_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "lc_common.h"
#include "lc_family.h" /* lc_rope_scaling */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- linear ----------------------------------------------------------
 * (The input width is named In, not I: <complex.h>, pulled in by <cblas.h>,
 * defines I as a macro.) */
/* [BLAS] out (N, O) = inp (N, In) · W^T (W: (O, In)) + bias (O) (bias may be NULL).
 * Overwrites out. */
void lc_linear_forward(float *out, const float *inp, const float *W, const float *bias,
                       int N, int In, int O);
/* [BLAS] dinp (N, In) += dout (N, O) · W (W: (O, In)). */
void lc_linear_backward_input(float *dinp, const float *dout, const float *W,
                              int N, int In, int O);
/* [BLAS] dW (O, In) += dout^T (O, N) · inp (N, In); dbias (O) += sum_n dout (may be NULL).
 * Used for LoRA matrices only (frozen weights never get gradients). */
void lc_linear_backward_weight(float *dW, float *dbias, const float *dout, const float *inp,
                               int N, int In, int O);

/* ---- RMSNorm: out = inp * rstd * weight, rstd = 1/sqrt(mean(inp^2) + eps) ---- */
/* out (N, C), rstd (N) saved for backward, inp (N, C), weight (C).
 * A few rows (N < 8, decode) run on the calling thread. */
void lc_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight,
                        int N, int C, float eps);
/* dinp (N, C) += d/dinp; the norm weight is frozen, so no dweight. */
void lc_rmsnorm_backward(float *dinp, const float *dout, const float *inp, const float *weight,
                         const float *rstd, int N, int C);

/* ---- q/k norm (Qwen3, Gemma 3): RMSNorm over each head of q or k ------
 * x (N, H, hd) viewed as N*H rows of hd, one weight (hd) shared by the heads:
 * out (N, H, hd), rstd (N*H) saved for backward. Same arithmetic as
 * lc_rmsnorm_forward / _backward on those rows. */
void lc_qknorm_forward(float *out, float *rstd, const float *inp, const float *weight,
                       int N, int H, int hd, float eps);
/* dinp (N, H, hd) += d/dinp (the weight is frozen). */
void lc_qknorm_backward(float *dinp, const float *dout, const float *inp, const float *weight,
                        const float *rstd, int N, int H, int hd);

/* ---- RoPE, HF rotate-half order ------------------------------------------
 * For each head vector x (hd), i < hd/2, position p:
 *   x'[i]        = x[i] cos(p θ_i) - x[i+hd/2] sin(p θ_i)
 *   x'[i+hd/2]   = x[i+hd/2] cos(p θ_i) + x[i] sin(p θ_i),  θ_i = theta^(-2i/hd).
 * Positions are t = 0..T-1 within each sequence. */
/* cos, sin (T, hd/2). Reproduces HF's fp32 table: inv_freq = 1/theta^((2i)/hd)
 * and angle = inv_freq * t rounded to float at each step, then cos/sin of that
 * float angle evaluated in double and rounded to float. */
void lc_rope_table(float *cos_t, float *sin_t, int T, int hd, float theta);
/* The same with scaled frequencies (lc_family.h, lc_rope_scaling; sc NULL or
 * type none: unscaled), each step in float as transformers'
 * modeling_rope_utils.py; then inv_freq[i] /= freq_div[i] when freq_div
 * (hd/2) is given (GGUF rope_freqs.weight, as ggml_rope_ext's freq_factors). */
void lc_rope_table_scaled(float *cos_t, float *sin_t, int T, int hd, float theta,
                          const lc_rope_scaling *sc, const float *freq_div);
/* x (B, T, H, hd), rotated in place (B*T < 8 rows: on the calling thread). */
void lc_rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int H, int hd);
/* dx (B, T, H, hd): gradient w.r.t. the rotated vector, rotated back in place
 * (the transpose of the rotation). Not accumulating: it transforms in place. */
void lc_rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int H, int hd);

/* ---- causal self-attention with grouped-query heads ----------------------
 * q (B, T, Hq, hd); k, v (B, T, Hkv, hd); query head h uses kv head
 * h / (Hq / Hkv). Scores scaled by 1/sqrt(hd), causal mask (s <= t).
 * out (B, T, Hq, hd); lse (B, Hq, T) = log-sum-exp of each score row, saved so
 * backward can recompute the probabilities instead of storing (B, Hq, T, T).
 * Tiled (flash-style): Q·K^T and P·V run as BLAS GEMMs on tiles inside one
 * OpenMP parallel loop (the BLAS runs single-threaded there); fully masked
 * tiles are skipped; memory O(T). Each call allocates O(tile) scratch per
 * thread, and backward up to 3 more dq-sized buffers (per-key-chunk parts of
 * dq, summed in a fixed order); LC_ASSERT aborts if that allocation fails.
 * Any hd > 0. Results do not depend on the thread count. */
void lc_attention_forward(float *out, float *lse, const float *q, const float *k,
                          const float *v, int B, int T, int Hq, int Hkv, int hd);
/* dq (B, T, Hq, hd) +=, dk, dv (B, T, Hkv, hd) +=. `out` and `lse` are the
 * forward's outputs. */
void lc_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                           const float *out, const float *lse, const float *q,
                           const float *k, const float *v, int B, int T, int Hq,
                           int Hkv, int hd);

/* Masks on top of causal, for the _masked variants: key s is visible from
 * query position t iff s <= t and
 *  - window > 0 (sliding window, Mistral/Gemma local layers): t - s < window;
 *  - n_seg > 0 (block-diagonal, padding-free packed rows): s and t lie in the
 *    same segment; segment i holds positions [seg_off[i], seg_off[i+1]) of
 *    every batch row, with 0 = seg_off[0] < seg_off[1] < ... < seg_off[n_seg] = T
 *    (checked with LC_ASSERT).
 * A zeroed struct (or a NULL mask) is plain causal. */
typedef struct lc_att_mask {
    int window;         /* 0: no window */
    int n_seg;          /* 0: one sequence per batch row */
    const int *seg_off; /* (n_seg + 1) segment offsets, or NULL when n_seg == 0 */
} lc_att_mask;
/* As lc_attention_forward / _backward with `mask` (may be NULL). */
void lc_attention_forward_masked(float *out, float *lse, const float *q, const float *k,
                                 const float *v, const lc_att_mask *mask, int B, int T,
                                 int Hq, int Hkv, int hd);
void lc_attention_backward_masked(float *dq, float *dk, float *dv, const float *dout,
                                  const float *out, const float *lse, const float *q,
                                  const float *k, const float *v, const lc_att_mask *mask,
                                  int B, int T, int Hq, int Hkv, int hd);
/* Prefill against a KV cache, the same kernel: out (N, Hq, hd) for queries
 * q (N, Hq, hd) at positions p0 .. p0+N-1 over cached keys and values
 * kc, vc (Hkv, ld, hd), rows 0 .. p0+N-1 filled; causal, plus a sliding
 * window when window > 0. p0 + N <= ld. */
void lc_attention_prefill(float *out, const float *q, const float *kc, const float *vc,
                          int p0, int N, int Hq, int Hkv, int hd, int ld, int window);

/* ---- SwiGLU: h = silu(gate) * up, silu(x) = x / (1 + exp(-x)) ---------- */
/* h, gate, up: n elements. */
void lc_swiglu_forward(float *h, const float *gate, const float *up, size_t n);
void lc_swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate,
                        const float *up, size_t n);

/* ---- fused LM head + cross-entropy (chunked; never all N x V logits) ----
 * hidden (N, C), W (V, C), targets (N): a token id, or -1 for a position that
 * carries no loss (prompt, padding) and is skipped entirely.
 * Returns sum over target rows of -log softmax(hidden · W^T)[target] (double,
 * unnormalised). If dhidden != NULL: dhidden (N, C) += grad_scale *
 * d(sum loss)/d(hidden); callers pass grad_scale = 1 / (number of target
 * tokens in the whole optimizer step). scratch holds (chunk, V) floats plus
 * (chunk, C) floats; rows are processed `chunk` at a time, 1 <= chunk <=
 * LC_XENT_MAX_CHUNK. Targets must be < V (checked with LC_ASSERT). [BLAS] */
#define LC_XENT_MAX_CHUNK 4096
double lc_lmhead_xent(float *dhidden, const float *hidden, const float *W, const int *targets,
                      int N, int C, int V, float grad_scale, float *scratch, int chunk);
/* Floats of scratch lc_lmhead_xent needs for a given chunk. */
size_t lc_lmhead_xent_scratch_floats(int chunk, int C, int V);

/* ---- optimizer ---------------------------------------------------------
 * AdamW as torch.optim.AdamW (decoupled weight decay, bias correction):
 *   p -= lr * wd * p
 *   m = b1 m + (1-b1) g ;  v = b2 v + (1-b2) g^2
 *   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * t is the 1-based step count. param, grad, m, v: n floats. Follows torch's
 * operation order and float rounding (lerp_, fused addcmul_, addcdiv_): m and
 * v come out bit-identical to torch 2.x CPU AdamW(foreach=False); params agree
 * to a few ulp (torch's vectorised sqrt is not correctly rounded). */
void lc_adamw_step(float *param, const float *grad, float *m, float *v, size_t n, float lr,
                   float beta1, float beta2, float eps, float weight_decay, long t);
/* Sum of squares in double (for global-norm gradient clipping); deterministic
 * for a fixed thread count. */
double lc_sum_squares(const float *x, size_t n);
/* x *= s. */
void lc_scale(float *x, size_t n, float s);

/* ---- LayerNorm (GPT-2): out = (inp - mean) * rstd * weight + bias --------
 * rstd = 1/sqrt(var + eps), var the biased row variance (torch LayerNorm).
 * out (N, C), mean (N), rstd (N) saved for backward, inp (N, C), weight and
 * bias (C). */
void lc_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, int N, int C, float eps);
/* dinp (N, C) += d/dinp; weight and bias are frozen, so no dweight/dbias. */
void lc_layernorm_backward(float *dinp, const float *dout, const float *inp, const float *weight,
                           const float *mean, const float *rstd, int N, int C);

/* ---- GELU, tanh approximation (GPT-2 "gelu_new", torch gelu(approximate="tanh")):
 * h = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). h, x: n elements. */
void lc_gelu_tanh_forward(float *h, const float *x, size_t n);
/* dx (n) += dh * gelu'(x). */
void lc_gelu_tanh_backward(float *dx, const float *dh, const float *x, size_t n);

/* ---- GeGLU (Gemma, HF gelu_pytorch_tanh): h = gelu_tanh(gate) * up -------
 * h, gate, up: n elements (h may be gate). Backward accumulates:
 * dgate += dh * up * gelu_tanh'(gate), dup += dh * gelu_tanh(gate). */
void lc_geglu_forward(float *h, const float *gate, const float *up, size_t n);
void lc_geglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up, size_t n);

/* ---- bf16 frozen matmuls (matmul_bf16.c; see lc_cpu.h for the paths) ---- */
/* out (n) = x rounded to bf16 (nearest even, as torch), kept as fp32 (out may be x). */
void lc_round_bf16_f32(float *out, const float *x, size_t n);
/* out (n) = x rounded to bf16 (nearest even). */
void lc_round_bf16(uint16_t *out, const float *x, size_t n);
/* Make oneDNN's CPU engine (once; LC_ERR_UNSUPPORTED without oneDNN). */
lc_status lc_onednn_init(void);
/* The kernel oneDNN chose for the first bf16 matmul, e.g.
 * "brg:avx512_core_amx_bf16" or "ref:any" ("not run yet", "none"). */
const char *lc_onednn_impl(void);
/* y (M, N) = x (M, K) · w  (+= y when accumulate), x and w bf16, fp32
 * accumulation, through oneDNN. x row stride ldx, y row stride ldy; w is (K, N)
 * with row stride ldw, or with w_trans (N, K) with row stride ldw (a weight
 * matrix W (out, in) used as W^T). Runs single-threaded inside an OpenMP
 * region. LC_ERR_UNSUPPORTED without oneDNN or when it has no kernel. */
lc_status lc_matmul_bf16(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *w, int ldw, int w_trans,
                         int M, int N, int K, int accumulate);

#ifdef __cplusplus
}
#endif
#endif /* LC_KERNELS_H */
