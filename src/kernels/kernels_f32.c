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

/* YaRN's correction dimension of num_rot rotations (double, as Python). */
static double yarn_dim(double num_rot, int dim, double base, int orig)
{
    return (dim * log(orig / (num_rot * 2 * 3.14159265358979323846))) / (2 * log(base));
}

/* inv (h2) = transformers' _compute_yarn_parameters inv_freq: the correction
 * range in double (Python floats), the ramp and the blend in float (torch
 * tensors; `1.0 / t` is torch's reciprocal). */
static void yarn_inv_freq(float *inv, int h2, float theta, const lc_rope_scaling *sc)
{
    const int dim = 2 * h2;
    double lo = yarn_dim(sc->beta_fast, dim, theta, sc->original_max_position);
    double hi = yarn_dim(sc->beta_slow, dim, theta, sc->original_max_position);
    if (sc->truncate) lo = floor(lo), hi = ceil(hi);
    if (lo < 0) lo = 0;
    if (hi > dim - 1) hi = dim - 1;
    if (lo == hi) hi += 0.001; /* HF: prevent singularity */
    for (int i = 0; i < h2; i++) {
        float e = (float)(2 * i) / (float)dim;
        float pos = (float)pow((double)theta, (double)e);
        float extra = 1.0f / pos, inter = 1.0f / (sc->factor * pos);
        float ramp = ((float)i - (float)lo) / (float)(hi - lo);
        ramp = ramp < 0.0f ? 0.0f : ramp > 1.0f ? 1.0f : ramp;
        float ef = 1.0f - ramp; /* extrapolation factor */
        inv[i] = inter * (1.0f - ef) + extra * ef;
    }
}

/* inv_freq (h2) scaled as transformers' rope init functions, in float. */
static void scale_inv_freq(float *inv, int h2, float theta, const lc_rope_scaling *sc)
{
    if (!sc || sc->type == LC_ROPE_NONE) return;
    const float factor = sc->factor;
    if (sc->type == LC_ROPE_LINEAR) {
        for (int i = 0; i < h2; i++) inv[i] = inv[i] / factor;
        return;
    }
    if (sc->type == LC_ROPE_YARN) {
        yarn_inv_freq(inv, h2, theta, sc);
        return;
    }
    /* llama3 (_compute_llama3_parameters): the Python scalars meet float32
     * tensors, so each operation rounds to float; `a / tensor` is torch's
     * reciprocal(tensor) * a. */
    const float old_len = (float)sc->original_max_position, lo = sc->low_freq_factor, hi = sc->high_freq_factor;
    const float low_wavelen = (float)((double)sc->original_max_position / (double)lo);
    const float high_wavelen = (float)((double)sc->original_max_position / (double)hi);
    const float two_pi = (float)(2.0 * 3.14159265358979323846);
    for (int i = 0; i < h2; i++) {
        float wavelen = (1.0f / inv[i]) * two_pi;
        float f = wavelen > low_wavelen ? inv[i] / factor : inv[i];
        float smooth = ((1.0f / wavelen) * old_len - lo) / (float)((double)hi - (double)lo);
        float smoothed = (1.0f - smooth) * f / factor + smooth * f;
        int medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
        inv[i] = medium ? smoothed : f;
    }
}

void lc_rope_table_scaled(float *cos_t, float *sin_t, int T, int hd, float theta, const lc_rope_scaling *sc,
                          const float *freq_div)
{
    /* cos_t, sin_t (T, hd/2); as lc_rope_table with inv_freq scaled */
    LC_ASSERT(T >= 0 && hd > 0 && hd % 2 == 0 && hd <= 4096 && theta > 0);
    const int h2 = hd / 2;
    float inv[2048];
    for (int i = 0; i < h2; i++) {
        float e = (float)(2 * i) / (float)hd;
        inv[i] = 1.0f / (float)pow((double)theta, (double)e);
    }
    scale_inv_freq(inv, h2, theta, sc);
    const float attn = sc && sc->type == LC_ROPE_YARN ? sc->attn_factor : 1.0f; /* cos/sin multiplier */
    if (freq_div)
        for (int i = 0; i < h2; i++) inv[i] = inv[i] / freq_div[i];
    for (int i = 0; i < h2; i++)
        for (int t = 0; t < T; t++) {
            float ang = inv[i] * (float)t;
            cos_t[(size_t)t * h2 + i] = (float)cos((double)ang) * attn;
            sin_t[(size_t)t * h2 + i] = (float)sin((double)ang) * attn;
        }
}

size_t lc_lmhead_xent_scratch_floats(int chunk, int C, int V)
{
    return (size_t)chunk * (size_t)V + (size_t)chunk * (size_t)C;
}
