/*
 * dora_f64.c — double twins (suffix _f64) of the DoRA kernels, the same
 * bodies as dora_f32.c (dora_generic.inc) with dgemm; only the
 * finite-difference tests call them.
 */
#include "lc_dora_kernels.h"

#include "lc_kernels.h" /* before cblas.h: its complex.h defines the macro I */

#include <cblas.h>
#include <math.h>

#define real double
#define FN(name) name##_f64
#define R_GEMM cblas_dgemm
#define R_SQRT sqrt
#include "dora_generic.inc"
