/*
 * dora_f32.c — the float DoRA kernels of lc_dora.h (bodies in
 * dora_generic.inc), used by the training engine.
 */
#include "lc_dora_kernels.h"

#include "lc_kernels.h" /* before cblas.h: its complex.h defines the macro I */

#include <cblas.h>
#include <math.h>

#define real float
#define FN(name) name
#define R_GEMM cblas_sgemm
#define R_SQRT sqrt
#include "dora_generic.inc"
