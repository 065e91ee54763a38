/*
 * kernels_f64.h — private: double-precision twins of the lc_kernels.h math
 * kernels (same contracts, `double` for `float`), used only by the kernels
 * tests for finite-difference checks. Not part of the public API.
 */
#ifndef LC_KERNELS_F64_H
#define LC_KERNELS_F64_H

#include <stddef.h>

#include "lc_kernels.h"

void lc_linear_forward_f64(double *out, const double *inp, const double *W, const double *bias,
                           int N, int I, int O);
void lc_linear_backward_input_f64(double *dinp, const double *dout, const double *W, int N, int I,
                                  int O);
void lc_linear_backward_weight_f64(double *dW, double *dbias, const double *dout,
                                   const double *inp, int N, int I, int O);
void lc_rmsnorm_forward_f64(double *out, double *rstd, const double *inp, const double *weight,
                            int N, int C, float eps);
void lc_rmsnorm_backward_f64(double *dinp, const double *dout, const double *inp,
                             const double *weight, const double *rstd, int N, int C);
void lc_qknorm_forward_f64(double *out, double *rstd, const double *inp, const double *weight, int N,
                           int H, int hd, float eps);
void lc_qknorm_backward_f64(double *dinp, const double *dout, const double *inp, const double *weight,
                            const double *rstd, int N, int H, int hd);
void lc_rope_forward_f64(double *x, const double *cos_t, const double *sin_t, int B, int T, int H,
                         int hd);
void lc_rope_backward_f64(double *dx, const double *cos_t, const double *sin_t, int B, int T,
                          int H, int hd);
void lc_attention_forward_f64(double *out, double *lse, const double *q, const double *k,
                              const double *v, int B, int T, int Hq, int Hkv, int hd);
void lc_attention_backward_f64(double *dq, double *dk, double *dv, const double *dout,
                               const double *out, const double *lse, const double *q,
                               const double *k, const double *v, int B, int T, int Hq, int Hkv,
                               int hd);
void lc_attention_forward_masked_f64(double *out, double *lse, const double *q,
                                     const double *k, const double *v, const lc_att_mask *mask,
                                     int B, int T, int Hq, int Hkv, int hd);
void lc_attention_backward_masked_f64(double *dq, double *dk, double *dv, const double *dout,
                                      const double *out, const double *lse, const double *q,
                                      const double *k, const double *v, const lc_att_mask *mask,
                                      int B, int T, int Hq, int Hkv, int hd);
void lc_attention_prefill_f64(double *out, const double *q, const double *kc, const double *vc,
                              int p0, int N, int Hq, int Hkv, int hd, int ld, int window);
void lc_swiglu_forward_f64(double *h, const double *gate, const double *up, size_t n);
void lc_swiglu_backward_f64(double *dgate, double *dup, const double *dh, const double *gate,
                            const double *up, size_t n);
double lc_lmhead_xent_f64(double *dhidden, const double *hidden, const double *W,
                          const int *targets, int N, int C, int V, double grad_scale,
                          double *scratch, int chunk);
double lc_lmhead_xent_rows_f64(double *dhidden, double *ov_drows, const double *hidden, const double *W,
                               const int *targets, int N, int C, int V, double grad_scale, const int *ov_ids,
                               const double *ov_rows, int n_ov, double *scratch, int chunk);

#endif /* LC_KERNELS_F64_H */
