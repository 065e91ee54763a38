/*
 * lc_dora.h — DoRA (weight-decomposed LoRA, Liu et al. 2024) with PEFT's
 * semantics (peft 0.21 tuners/lora/dora.py + variants.DoraLinearVariant).
 *
 * A DoRA projection has, besides lora_A (r, in) and lora_B (out, r), a
 * trainable magnitude m (out) — PEFT's lora_magnitude_vector — one number per
 * output feature (per row of W (out, in)). With s the LoRA scale:
 *
 *   n_i = ‖W_i + s (B A)_i‖₂          the row norm of the adapted weight,
 *                                      DETACHED: treated as a constant in
 *                                      backward (DoRA paper §4.3, as PEFT)
 *   g_i = m_i / n_i
 *   no dropout (or eval):  y = b + g ⊙ (W x + s B A x)
 *   dropout in training:   y = W x + b + (g - 1) ⊙ (W x̃) + g ⊙ s B A x̃,
 *                          x̃ = dropout(x)      (PEFT's base_result=None path)
 *
 * Gradients (n constant), with z = W x̃ + s B A x̃ (x̃ = x without dropout):
 *   dm_i = Σ_t dy_ti z_ti / n_i
 *   the LoRA path (dA, dB, its part of dx) sees g ⊙ dy instead of dy;
 *   the frozen path's dx is Wᵀ (g ⊙ dy) without dropout, and
 *   Wᵀ dy + mask ⊙ Wᵀ ((g - 1) ⊙ dy) with it.
 *
 * The norm per step without forming W + sBA (W may be quantised):
 *   n_i² = ‖W_i‖² + 2 s B_i · (W Aᵀ)_i + s² B_i (A Aᵀ) B_iᵀ
 * ‖W_i‖² is constant (computed once); W Aᵀ (out, r) costs one pass over W
 * (O(out·in·r), like r extra tokens); A Aᵀ is O(r²·in). Everything in double.
 *
 * The kernels (lc_dora_kernels.h) are used by the engine (src/model/dora.c,
 * transformer.c); the _f64 twins exist for the finite-difference tests only.
 * Backward kernels accumulate (+=) into dmag.
 */
#ifndef LC_DORA_H
#define LC_DORA_H

#include "lc_common.h"
#include "lc_dora_kernels.h"
#include "lc_lora.h"
#include "lc_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- engine helpers over lc_weight (src/model/dora.c) ---- */

/* w2 (W->rows) = ‖W_i‖² of the dequantised rows, in double. */
lc_status lc_dora_weight_sq(double *w2, const lc_weight *W);
/* WA (W->rows, r) = W Aᵀ for A (r, W->cols), a tile of cap / W->cols rows at a
 * time (cap >= W->cols), quantised rows dequantised into scratch (cap floats;
 * F32 weights need none and may pass NULL). */
void lc_dora_weight_at(float *WA, const lc_weight *W, const float *A, int r, float *scratch, size_t cap);
/* norm (p->out) = ‖W + s B A‖ per row for one adapter pair (allocates its own
 * scratch; for merge, init and tools — the engine uses its acts scratch). */
lc_status lc_dora_pair_norms(float *norm, const lc_weight *W, const lc_lora_pair *p, int r, float s);
/* Every DoRA pair's magnitude = ‖W + scale·B A‖ per row, as PEFT initialises
 * it (after A/B init). */
lc_status lc_dora_init_magnitude(lc_lora *lora, const lc_model *m);

#ifdef __cplusplus
}
#endif
#endif /* LC_DORA_H */
