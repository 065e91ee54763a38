/*
 * lc_dora_kernels.h — the DoRA kernels (src/kernels/dora_f32.c, dora_f64.c):
 * row norms of W + sBA from cached pieces, gains, and the forward/backward
 * combine. The maths and its derivation: lc_dora.h (model module), which
 * includes this header and adds the engine helpers over lc_weight.
 */
#ifndef LC_DORA_KERNELS_H
#define LC_DORA_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/* norm (out) = sqrt(w2 + 2 s rowdot(B, WA) + s² rowquad(B, A Aᵀ)).
 * w2 (out) = ‖W_i‖², WA (out, r) = W Aᵀ, A (r, in), B (out, r);
 * gram (r, r) is scratch. */
void lc_dora_norms(float *norm, const double *w2, const float *WA, const float *A, const float *B, float s, int in,
                   int out, int r, float *gram);
/* g (out) = mag / norm. */
void lc_dora_gain(float *g, const float *mag, const float *norm, int out);
/* Forward combine on N rows. y (N, out) holds W x + b on entry.
 * lr (N, out) = (x̃ Aᵀ) Bᵀ unscaled. base (N, out): W x̃ when dropout ran,
 * NULL otherwise (then base = y - b). bias (out) or NULL. */
void lc_dora_forward(float *y, const float *lr, const float *base, const float *bias, const float *g, float s, int N,
                     int out);
/* Backward on N rows. base (N, out) = W x̃ (without bias), lr as in forward.
 * dmag (out) += Σ_n dy ⊙ (base + s lr) / norm; dyg (N, out) = g ⊙ dy;
 * dyg1 (N, out) = (g - 1) ⊙ dy when not NULL; dyg1 may be base itself (each
 * element is read before it is overwritten). */
void lc_dora_backward(float *dmag, float *dyg, float *dyg1, const float *dy, const float *base, const float *lr,
                      const float *norm, const float *g, float s, int N, int out);

/* double twins (tests only) */
void lc_dora_norms_f64(double *norm, const double *w2, const double *WA, const double *A, const double *B, double s,
                       int in, int out, int r, double *gram);
void lc_dora_gain_f64(double *g, const double *mag, const double *norm, int out);
void lc_dora_forward_f64(double *y, const double *lr, const double *base, const double *bias, const double *g,
                         double s, int N, int out);
void lc_dora_backward_f64(double *dmag, double *dyg, double *dyg1, const double *dy, const double *base,
                          const double *lr, const double *norm, const double *g, double s, int N, int out);

#ifdef __cplusplus
}
#endif
#endif /* LC_DORA_KERNELS_H */
