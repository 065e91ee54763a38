/*
 * quant_dot.c — one quantised row · x without writing the row out: the
 * kernel of token-by-token decoding, which is bound by the bytes of the
 * weights (lc_quant_row_dot, lc_quant.h).
 *
 * Every fused type is "scale × small integer + offset" per 32-element block b
 * (Q4_K: per 32-element sub-block, each with its own 6-bit scale and min):
 *   Q8_0  w = q d              a_b = d,          c_b = 0
 *   Q4_0  w = (q - 8) d        a_b = d,          c_b = -8 d
 *   Q4_1  w = q d + m          a_b = d,          c_b = m
 *   Q5_0  w = (q - 16) d       a_b = d,          c_b = -16 d
 *   Q5_1  w = q d + m          a_b = d,          c_b = m
 *   Q4_K  w = (d sc) q - dmin mn   a_b = d*sc,   c_b = -(dmin*mn)
 *   Q6_K  w = (d sc) (q - 32)      a_b = d*sc,   c_b = 0  (16-element
 *         sub-blocks; q - 32 is taken as the signed integer, so no offset)
 * so row · x = sum_b a_b (q_b · x_b) + c_b xsum_b with xsum_b the sum of x
 * over block b (lc_quant_block_sums, once per x for all rows). a_b and c_b
 * are rounded exactly as the dequantiser rounds them; the result differs
 * from the dot of the dequantised row only by the float rounding of the sums.
 *
 * Two implementations of each: AVX2+FMA+F16C (compiled with a target
 * attribute, whatever -march says) and plain C; lc_quant_row_dot picks one by
 * the CPU's features (lc_cpu_detect, once). Other types (Q2_K, Q3_K, Q5_K,
 * F16, BF16) are dequantised into the caller's scratch and dotted.
 */
#include "lc_cpu.h"
#include "lc_quant.h"
#include "quant_blocks.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LC_DOT_X86 1
#define TGT __attribute__((target("avx2,fma,f16c")))
#endif

/* a (n) · b (n) in float with a vectorisable reduction. */
static float dot_f32(const float *a, const float *b, int n) {
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

void lc_quant_block_sums(float *xsum, const float *x, int K) {
    for (int b = 0; b < K / QK; b++) {
        float acc = 0.0f;
        for (int j = 0; j < QK; j++) acc += x[QK * b + j];
        xsum[b] = acc;
    }
}

/* ------------------------------------------------------------ plain C */

static float dot_q8_0_c(const uint8_t *row, const float *x, int nb) {
    float acc = 0.0f;
    for (int b = 0; b < nb; b++, row += 34, x += QK) {
        const int8_t *q = (const int8_t *)(row + 2);
        float sb = 0.0f;
#pragma omp simd reduction(+ : sb)
        for (int j = 0; j < QK; j++) sb += (float)q[j] * x[j];
        acc += rd_f16(row) * sb;
    }
    return acc;
}

/* Q4_0 (q41 = 0) and Q4_1 (q41 = 1). */
static float dot_q4_c(const uint8_t *row, const float *x, const float *xsum, int nb, int q41) {
    const int bytes = q41 ? 20 : 18;
    float acc = 0.0f;
    for (int b = 0; b < nb; b++, row += bytes, x += QK) {
        const uint8_t *q = row + (q41 ? 4 : 2);
        float sb = 0.0f;
#pragma omp simd reduction(+ : sb)
        for (int j = 0; j < 16; j++) sb += (float)(q[j] & 15) * x[j] + (float)(q[j] >> 4) * x[j + 16];
        const float d = rd_f16(row), off = q41 ? rd_f16(row + 2) : -8.0f * d;
        acc += d * sb + off * xsum[b];
    }
    return acc;
}

/* Q5_0 (q51 = 0) and Q5_1 (q51 = 1). */
static float dot_q5_c(const uint8_t *row, const float *x, const float *xsum, int nb, int q51) {
    const int bytes = q51 ? 24 : 22, hoff = q51 ? 4 : 2;
    float acc = 0.0f;
    for (int b = 0; b < nb; b++, row += bytes, x += QK) {
        const uint32_t qh = rd_u32(row + hoff);
        const uint8_t *qs = row + hoff + 4;
        float sb = 0.0f;
        for (int j = 0; j < QK; j++) sb += (float)q5_value(qs, qh, j) * x[j];
        const float d = rd_f16(row), off = q51 ? rd_f16(row + 2) : -16.0f * d;
        acc += d * sb + off * xsum[b];
    }
    return acc;
}

static float dot_q4_k_c(const uint8_t *row, const float *x, const float *xsum, int nbk) {
    float acc = 0.0f;
    for (int b = 0; b < nbk; b++, row += 144, x += QKK, xsum += 8) {
        const float d = rd_f16(row), dmin = rd_f16(row + 2);
        const uint8_t *qs = row + 16;
        for (int s = 0; s < 8; s++) { /* sub-block s: nibble s&1 of qs[32 (s/2) ..] */
            int sc, mn;
            k_scale_min(s, row + 4, &sc, &mn);
            const uint8_t *q = qs + 32 * (s / 2);
            const int shift = 4 * (s & 1);
            const float *xs = x + 32 * s;
            float sb = 0.0f;
#pragma omp simd reduction(+ : sb)
            for (int l = 0; l < 32; l++) sb += (float)((q[l] >> shift) & 15) * xs[l];
            acc += (d * (float)sc) * sb - (dmin * (float)mn) * xsum[s];
        }
    }
    return acc;
}

/* Q6_K: element 32g + l of half h (g < 4, l < 32) has the nibble g/2 of
 * ql[64h + 32(g&1) + l], bits 2g..2g+1 of qh[32h + l] and the scale
 * sc[8h + l/16 + 2g] (quant.c's deq_q6_k). */
static float dot_q6_k_c(const uint8_t *row, const float *x, int nbk) {
    float acc = 0.0f;
    for (int b = 0; b < nbk; b++, row += 210, x += QKK) {
        const int8_t *sc = (const int8_t *)(row + 192);
        const float d = rd_f16(row + 208);
        for (int h = 0; h < 2; h++)
            for (int g = 0; g < 4; g++)
                for (int is = 0; is < 2; is++) { /* 16 elements with one scale */
                    const uint8_t *ql = row + 64 * h + 32 * (g & 1) + 16 * is, *qh = row + 128 + 32 * h + 16 * is;
                    const float *xs = x + 128 * h + 32 * g + 16 * is;
                    float sb = 0.0f;
#pragma omp simd reduction(+ : sb)
                    for (int l = 0; l < 16; l++) {
                        const int q = ((ql[l] >> (4 * (g >> 1))) & 15) | (((qh[l] >> (2 * g)) & 3) << 4);
                        sb += (float)(q - 32) * xs[l];
                    }
                    acc += (d * (float)sc[8 * h + is + 2 * g]) * sb;
                }
    }
    return acc;
}

/* ------------------------------------------------------------ AVX2 */

#ifdef LC_DOT_X86
TGT static inline float f16x(const uint8_t *p) { return _cvtsh_ss((unsigned short)(p[0] | p[1] << 8)); }

TGT static inline float hsum8(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

/* 8 bytes (unsigned / signed) to 8 floats */
TGT static inline __m256 u8x8(__m128i b) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)); }
TGT static inline __m256 i8x8(__m128i b) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)); }

/* 16 nibble bytes (lo: elements 0..15 as 16 bytes) · x (16): two 8-lane FMAs into s. */
TGT static inline __m256 nib16_dot(__m128i v, const float *x, __m256 s) {
    s = _mm256_fmadd_ps(u8x8(v), _mm256_loadu_ps(x), s);
    return _mm256_fmadd_ps(u8x8(_mm_srli_si128(v, 8)), _mm256_loadu_ps(x + 8), s);
}

TGT static float dot_q8_0_avx2(const uint8_t *row, const float *x, int nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++, row += 34, x += QK) {
        const uint8_t *q = row + 2;
        __m256 s = _mm256_mul_ps(i8x8(_mm_loadl_epi64((const __m128i *)q)), _mm256_loadu_ps(x));
        s = _mm256_fmadd_ps(i8x8(_mm_loadl_epi64((const __m128i *)(q + 8))), _mm256_loadu_ps(x + 8), s);
        s = _mm256_fmadd_ps(i8x8(_mm_loadl_epi64((const __m128i *)(q + 16))), _mm256_loadu_ps(x + 16), s);
        s = _mm256_fmadd_ps(i8x8(_mm_loadl_epi64((const __m128i *)(q + 24))), _mm256_loadu_ps(x + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16x(row)), s, acc);
    }
    return hsum8(acc);
}

TGT static float dot_q4_avx2(const uint8_t *row, const float *x, const float *xsum, int nb, int q41) {
    const int bytes = q41 ? 20 : 18;
    const __m128i mask = _mm_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps();
    float off_acc = 0.0f;
    for (int b = 0; b < nb; b++, row += bytes, x += QK) {
        __m128i raw = _mm_loadu_si128((const __m128i *)(row + (q41 ? 4 : 2)));
        __m128i lo = _mm_and_si128(raw, mask), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
        __m256 s = nib16_dot(hi, x + 16, nib16_dot(lo, x, _mm256_setzero_ps()));
        const float d = f16x(row);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), s, acc);
        off_acc += (q41 ? f16x(row + 2) : -8.0f * d) * xsum[b];
    }
    return hsum8(acc) + off_acc;
}

/* Q5_0 / Q5_1: the nibbles as Q4's, plus bit j of qh as 16 for element j. */
TGT static float dot_q5_avx2(const uint8_t *row, const float *x, const float *xsum, int nb, int q51) {
    const int bytes = q51 ? 24 : 22, hoff = q51 ? 4 : 2;
    const __m128i mask = _mm_set1_epi8(15);
    const __m256i one = _mm256_set1_epi32(1);
    __m256i shift[4]; /* element 8k + i reads bit 8k + i of qh */
    for (int k = 0; k < 4; k++)
        shift[k] =
            _mm256_setr_epi32(8 * k, 8 * k + 1, 8 * k + 2, 8 * k + 3, 8 * k + 4, 8 * k + 5, 8 * k + 6, 8 * k + 7);
    __m256 acc = _mm256_setzero_ps();
    float off_acc = 0.0f;
    for (int b = 0; b < nb; b++, row += bytes, x += QK) {
        uint32_t qh;
        memcpy(&qh, row + hoff, 4); /* little-endian x86 */
        const __m256i qhv = _mm256_set1_epi32((int)qh);
        __m128i raw = _mm_loadu_si128((const __m128i *)(row + hoff + 4));
        __m128i lo = _mm_and_si128(raw, mask), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
        const __m128i part[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        __m256 s = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            __m256i h = _mm256_and_si256(_mm256_srlv_epi32(qhv, shift[k]), one);
            __m256i q = _mm256_or_si256(_mm256_cvtepu8_epi32(part[k]), _mm256_slli_epi32(h, 4));
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), _mm256_loadu_ps(x + 8 * k), s);
        }
        const float d = f16x(row);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), s, acc);
        off_acc += (q51 ? f16x(row + 2) : -16.0f * d) * xsum[b];
    }
    return hsum8(acc) + off_acc;
}

TGT static float dot_q4_k_avx2(const uint8_t *row, const float *x, const float *xsum, int nbk) {
    const __m128i mask = _mm_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps();
    float off_acc = 0.0f;
    for (int b = 0; b < nbk; b++, row += 144, x += QKK, xsum += 8) {
        const float d = f16x(row), dmin = f16x(row + 2);
        for (int c = 0; c < 4; c++) { /* 64 elements: sub-blocks 2c (low nibbles), 2c+1 (high) */
            int sc0, m0, sc1, m1;
            k_scale_min(2 * c, row + 4, &sc0, &m0);
            k_scale_min(2 * c + 1, row + 4, &sc1, &m1);
            const uint8_t *q = row + 16 + 32 * c;
            const float *xc = x + 64 * c;
            __m128i r0 = _mm_loadu_si128((const __m128i *)q), r1 = _mm_loadu_si128((const __m128i *)(q + 16));
            __m256 s0 = nib16_dot(_mm_and_si128(r0, mask), xc, _mm256_setzero_ps());
            s0 = nib16_dot(_mm_and_si128(r1, mask), xc + 16, s0);
            __m256 s1 = nib16_dot(_mm_and_si128(_mm_srli_epi16(r0, 4), mask), xc + 32, _mm256_setzero_ps());
            s1 = nib16_dot(_mm_and_si128(_mm_srli_epi16(r1, 4), mask), xc + 48, s1);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc0), s0, acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc1), s1, acc);
            off_acc -= (dmin * (float)m0) * xsum[2 * c] + (dmin * (float)m1) * xsum[2 * c + 1];
        }
    }
    return hsum8(acc) + off_acc;
}

TGT static float dot_q6_k_avx2(const uint8_t *row, const float *x, int nbk) {
    const __m256i m15 = _mm256_set1_epi32(15), m3 = _mm256_set1_epi32(3), k32 = _mm256_set1_epi32(32);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nbk; b++, row += 210, x += QKK) {
        const int8_t *sc = (const int8_t *)(row + 192);
        const float d = f16x(row + 208);
        for (int h = 0; h < 2; h++)
            for (int g = 0; g < 4; g++) {
                const __m128i nsh = _mm_cvtsi32_si128(4 * (g >> 1)), hsh = _mm_cvtsi32_si128(2 * g);
                for (int is = 0; is < 2; is++) { /* 16 elements with one scale: two 8-lane chunks */
                    const uint8_t *ql = row + 64 * h + 32 * (g & 1) + 16 * is, *qh = row + 128 + 32 * h + 16 * is;
                    const float *xs = x + 128 * h + 32 * g + 16 * is;
                    __m256 s = _mm256_setzero_ps();
                    for (int c = 0; c < 16; c += 8) {
                        __m256i lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(ql + c)));
                        __m256i hi = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qh + c)));
                        lo = _mm256_and_si256(_mm256_srl_epi32(lo, nsh), m15);
                        hi = _mm256_slli_epi32(_mm256_and_si256(_mm256_srl_epi32(hi, hsh), m3), 4);
                        __m256i q = _mm256_sub_epi32(_mm256_or_si256(lo, hi), k32);
                        s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), _mm256_loadu_ps(xs + c), s);
                    }
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[8 * h + is + 2 * g]), s, acc);
                }
            }
    }
    return hsum8(acc);
}
#endif

/* ------------------------------------------------------------ dispatch */

/* 1 if the AVX2 kernels may run here (cpuid + OS state), asked once. */
static int use_avx2(void) {
#ifdef LC_DOT_X86
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        lc_cpu_features f;
        lc_cpu_detect(&f);
        v = f.avx2 && f.fma && f.f16c && f.os_ymm;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
#else
    return 0;
#endif
}

int lc_quant_row_dot_fused(lc_dtype t) {
    return t == LC_DT_Q8_0 || t == LC_DT_Q4_0 || t == LC_DT_Q4_1 || t == LC_DT_Q5_0 || t == LC_DT_Q5_1 ||
           t == LC_DT_Q4_K || t == LC_DT_Q6_K;
}

static float row_dot_impl(lc_dtype t, const uint8_t *row, const float *x, const float *xsum, int K, float *tmp,
                          int avx2) {
    const int nb = K / QK;
#ifdef LC_DOT_X86
    if (avx2) switch (t) {
        case LC_DT_Q8_0: return dot_q8_0_avx2(row, x, nb);
        case LC_DT_Q4_0: return dot_q4_avx2(row, x, xsum, nb, 0);
        case LC_DT_Q4_1: return dot_q4_avx2(row, x, xsum, nb, 1);
        case LC_DT_Q5_0: return dot_q5_avx2(row, x, xsum, nb, 0);
        case LC_DT_Q5_1: return dot_q5_avx2(row, x, xsum, nb, 1);
        case LC_DT_Q4_K: return dot_q4_k_avx2(row, x, xsum, K / QKK);
        case LC_DT_Q6_K: return dot_q6_k_avx2(row, x, K / QKK);
        default: break;
        }
#else
    (void)avx2;
#endif
    switch (t) {
    case LC_DT_Q8_0: return dot_q8_0_c(row, x, nb);
    case LC_DT_Q4_0: return dot_q4_c(row, x, xsum, nb, 0);
    case LC_DT_Q4_1: return dot_q4_c(row, x, xsum, nb, 1);
    case LC_DT_Q5_0: return dot_q5_c(row, x, xsum, nb, 0);
    case LC_DT_Q5_1: return dot_q5_c(row, x, xsum, nb, 1);
    case LC_DT_Q4_K: return dot_q4_k_c(row, x, xsum, K / QKK);
    case LC_DT_Q6_K: return dot_q6_k_c(row, x, K / QKK);
    default: break;
    }
    lc_dequantize(t, row, tmp, K);
    return dot_f32(tmp, x, K);
}

float lc_quant_row_dot(lc_dtype t, const void *row, const float *x, const float *xsum, int K, float *tmp) {
    return row_dot_impl(t, (const uint8_t *)row, x, xsum, K, tmp, use_avx2());
}

float lc_quant_row_dot_portable(lc_dtype t, const void *row, const float *x, const float *xsum, int K, float *tmp) {
    return row_dot_impl(t, (const uint8_t *)row, x, xsum, K, tmp, 0);
}
