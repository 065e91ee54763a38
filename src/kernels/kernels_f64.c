/*
 * kernels_f64.c — double twins of the transformer kernels (suffix _f64), the
 * same bodies as the public float API (kernels_generic.inc) with dgemm. They
 * exist so the tests can check every backward against central finite
 * differences at tight tolerances; training never calls them.
 */
#include "kernels_f64.h"

#include <math.h>

#define real double
#define FN(name) name##_f64
#define R_EXP exp
typedef double v4d __attribute__((vector_size(32)));
static inline v4d exp_v4d(v4d x)
{
    for (int i = 0; i < 4; i++) x[i] = exp(x[i]);
    return x;
}
#define R_EXPV exp_v4d
#define R_LOG log
#define R_GEMM cblas_dgemm
#include "kernels_generic.inc"
#include "attention_generic.inc"
