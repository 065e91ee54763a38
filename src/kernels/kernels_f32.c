/*
 * kernels_f32.c — the public float kernels of lc_kernels.h: the type-generic
 * bodies in kernels_generic.inc instantiated for float (sgemm for BLAS), plus
 * the float-only helpers (RoPE table, scratch size).
 */
#include "lc_kernels.h"
#include "kernels_math.h"

#include <math.h>

#define real float
#define FN(name) name
#define R_EXP lc_expf_1   /* same rounding as the vector exp */
#define R_EXPV lc_expf_v8
#define R_LOG logf
#define R_GEMM cblas_sgemm
#include "kernels_generic.inc"
#include "attention_generic.inc"

void lc_rope_table(float *cos_t, float *sin_t, int T, int hd, float theta)
{
    /* cos_t, sin_t (T, hd/2). Follows HF's fp32 computation step by step:
     * inv_freq = 1 / theta^((2i)/hd) in float, angle = inv_freq * t in float,
     * then cos/sin of that float angle (evaluated in double, rounded once). */
    LC_ASSERT(T >= 0 && hd > 0 && hd % 2 == 0 && theta > 0);
    const int h2 = hd / 2;
    for (int i = 0; i < h2; i++) {
        float e = (float)(2 * i) / (float)hd;
        float pw = (float)pow((double)theta, (double)e);
        float inv = 1.0f / pw;
        for (int t = 0; t < T; t++) {
            float ang = inv * (float)t;
            cos_t[(size_t)t * h2 + i] = (float)cos((double)ang);
            sin_t[(size_t)t * h2 + i] = (float)sin((double)ang);
        }
    }
}

size_t lc_lmhead_xent_scratch_floats(int chunk, int C, int V)
{
    return (size_t)chunk * (size_t)V + (size_t)chunk * (size_t)C;
}
