/*
 * norm_act_f64.h — private: double twins of the LayerNorm, GELU (tanh) and GeGLU
 * kernels of lc_kernels.h (same contracts, `double` for `float`), used only by
 * tests/kernels/test_norm_act.c for finite-difference checks.
 */
#ifndef LC_NORM_ACT_F64_H
#define LC_NORM_ACT_F64_H

#include <stddef.h>

void lc_layernorm_forward_f64(double *out, double *mean, double *rstd, const double *inp,
                              const double *weight, const double *bias, int N, int C, float eps);
void lc_layernorm_backward_f64(double *dinp, const double *dout, const double *inp,
                               const double *weight, const double *mean, const double *rstd, int N,
                               int C);
void lc_gelu_tanh_forward_f64(double *h, const double *x, size_t n);
void lc_gelu_tanh_backward_f64(double *dx, const double *dh, const double *x, size_t n);

void lc_geglu_forward_f64(double *h, const double *gate, const double *up, size_t n);
void lc_geglu_backward_f64(double *dgate, double *dup, const double *dh, const double *gate, const double *up,
                           size_t n);

#endif /* LC_NORM_ACT_F64_H */
