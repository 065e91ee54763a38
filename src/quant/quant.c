/*
 * quant.c — ggml's weight storage types: block layouts, exact dequantisation
 * (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K,
 * Q6_K) and the reference quantisers for F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/
 * Q5_1.
 *
 * Bit-exactness: every value is computed with the same float operations in
 * the same order as ggml's reference C (and gguf-python's numpy port), one
 * rounding per operation. This file is built with -ffp-contract=off so the
 * compiler never fuses a multiply and an add into an FMA (which rounds once
 * and would change the last bit). The AVX2 path for Q4_1 uses separate
 * multiply and add instructions for the same reason.
 *
 * Block layouts (all little-endian; "f16" = IEEE half):
 *   Q8_0 (32 elems, 34 B):  f16 d | int8 qs[32]             x = qs*d
 *   Q4_0 (32 elems, 18 B):  f16 d | u8 qs[16]               x = (nib-8)*d
 *   Q4_1 (32 elems, 20 B):  f16 d | f16 m | u8 qs[16]       x = nib*d + m
 *       element j < 16 is the low nibble of qs[j], element j+16 the high one.
 *   Q5_0 (32 elems, 22 B):  f16 d | u32 qh | u8 qs[16]      x = (q-16)*d
 *   Q5_1 (32 elems, 24 B):  f16 d | f16 m | u32 qh | u8 qs[16]   x = q*d + m
 *       q = Q4_0's nibble of element j | (bit j of qh) << 4.
 *   Q2_K (256 elems, 84 B): u8 scales[16] | u8 qs[64] | f16 d | f16 dmin;
 *       16 sub-blocks of 16: x = (d*(sc&15))*q - dmin*(sc>>4), q 2-bit.
 *       Element 128h + 32j + l (h < 2, j < 4, l < 32) is bits 2j..2j+1 of
 *       qs[32h + l]; its sub-block is its index / 16.
 *   Q3_K (256 elems, 110 B): u8 hmask[32] | u8 qs[64] | u8 scales[12] | f16 d;
 *       x = (d*(s-32)) * (q2 - (bit ? 0 : 4)), q2 as Q2_K's, bit = bit k of
 *       hmask[l] for element 32k + l; s 6-bit: low 4 bits from scales[i] (i <
 *       8) or scales[i-8] >> 4, high 2 bits from scales[8 + i%4] >> 2(i/4).
 *   Q4_K (256 elems, 144 B): f16 d | f16 dmin | u8 scales[12] | u8 qs[128]
 *       8 sub-blocks of 32, each with a 6-bit scale and a 6-bit min packed in
 *       scales[]; x = (d*sc)*nib - (dmin*mn). Chunk c (64 elems) uses qs[32c..]:
 *       low nibbles -> sub-block 2c, high nibbles -> sub-block 2c+1.
 *   Q5_K (256 elems, 176 B): Q4_K's header | u8 qh[32] | u8 qs[128]; the 5th
 *       bit of element l of sub-block j is bit j of qh[l].
 *   Q6_K (256 elems, 210 B): u8 ql[128] | u8 qh[64] | int8 scales[16] | f16 d;
 *       x = (d*scales[i/16]) * (q - 32), q 6-bit from ql nibble + 2 qh bits.
 */
#include "lc_quant.h"
#include "lc_common.h"
#include "quant_blocks.h"

#include <math.h>
#include <string.h>

#ifdef __AVX2__
#include <immintrin.h>
#endif


typedef struct {
    const char *name;
    int block_elems;
    size_t block_bytes;
} dtype_info;

static const dtype_info k_dtypes[LC_DT_COUNT] = {
    [LC_DT_F32] = {"F32", 1, 4},
    [LC_DT_F16] = {"F16", 1, 2},
    [LC_DT_BF16] = {"BF16", 1, 2},
    [LC_DT_Q8_0] = {"Q8_0", QK, 2 + QK},
    [LC_DT_Q4_0] = {"Q4_0", QK, 2 + QK / 2},
    [LC_DT_Q4_1] = {"Q4_1", QK, 4 + QK / 2},
    [LC_DT_Q4_K] = {"Q4_K", QKK, 4 + 12 + QKK / 2},
    [LC_DT_Q5_K] = {"Q5_K", QKK, 4 + 12 + QKK / 8 + QKK / 2},
    [LC_DT_Q6_K] = {"Q6_K", QKK, QKK / 2 + QKK / 4 + QKK / 16 + 2},
    [LC_DT_Q5_0] = {"Q5_0", QK, 2 + 4 + QK / 2},
    [LC_DT_Q5_1] = {"Q5_1", QK, 4 + 4 + QK / 2},
    [LC_DT_Q2_K] = {"Q2_K", QKK, QKK / 16 + QKK / 4 + 4},
    [LC_DT_Q3_K] = {"Q3_K", QKK, QKK / 8 + QKK / 4 + 12 + 2},
};

const char *lc_dtype_name(lc_dtype t) {
    if ((unsigned)t >= LC_DT_COUNT) return "unknown";
    return k_dtypes[t].name;
}

int lc_dtype_block_elems(lc_dtype t) {
    if ((unsigned)t >= LC_DT_COUNT) return 0;
    return k_dtypes[t].block_elems;
}

size_t lc_dtype_block_bytes(lc_dtype t) {
    if ((unsigned)t >= LC_DT_COUNT) return 0;
    return k_dtypes[t].block_bytes;
}

size_t lc_dtype_row_bytes(lc_dtype t, int64_t n) {
    if ((unsigned)t >= LC_DT_COUNT || n < 0) return 0;
    return (size_t)(n / k_dtypes[t].block_elems) * k_dtypes[t].block_bytes;
}

static inline void wr_f16(uint8_t *p, float f) {
    uint16_t h = lc_f32_to_f16(f);
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
}

/* ---------------- dequantisation, one block at a time ---------------- */

static void deq_q8_0(const uint8_t *b, float *y) { /* y: (32) */
    const float d = rd_f16(b);
    const int8_t *qs = (const int8_t *)(b + 2);
    for (int j = 0; j < QK; j++) y[j] = (float)qs[j] * d;
}

static void deq_q4_0(const uint8_t *b, float *y) { /* y: (32) */
    const float d = rd_f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < QK / 2; j++) {
        y[j] = (float)((int)(qs[j] & 0x0f) - 8) * d;
        y[j + QK / 2] = (float)((int)(qs[j] >> 4) - 8) * d;
    }
}

static void deq_q4_1_scalar(const uint8_t *b, float *y) { /* y: (32) */
    const float d = rd_f16(b);
    const float m = rd_f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < QK / 2; j++) {
        y[j] = (float)(qs[j] & 0x0f) * d + m;
        y[j + QK / 2] = (float)(qs[j] >> 4) * d + m;
    }
}

#ifdef __AVX2__
/* Same arithmetic as deq_q4_1_scalar: convert nibble to float, one rounded
 * multiply, one rounded add (no FMA), so results are identical. */
static void deq_q4_1_avx2(const uint8_t *b, float *y) { /* y: (32) */
    const __m256 d = _mm256_set1_ps(rd_f16(b));
    const __m256 m = _mm256_set1_ps(rd_f16(b + 2));
    const __m128i raw = _mm_loadu_si128((const __m128i *)(b + 4));
    const __m128i mask = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_and_si128(raw, mask);                    /* elems 0..15 */
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask); /* elems 16..31 */
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; k++) {
        __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]));
        _mm256_storeu_ps(y + 8 * k, _mm256_add_ps(_mm256_mul_ps(q, d), m));
    }
}
#define LC_Q4_1_FAST deq_q4_1_avx2
#else
#define LC_Q4_1_FAST deq_q4_1_scalar
#endif

/* Both halves per step, as deq_q4_0 (the loop vectorises); the value is
 * q5_value(qs, qh, j) of quant_blocks.h. */
static void deq_q5_0(const uint8_t *b, float *y) { /* y: (32) */
    const float d = rd_f16(b);
    const uint32_t qh = rd_u32(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < QK / 2; j++) {
        const int q0 = (qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
        const int q1 = (qs[j] >> 4) | (int)(((qh >> (j + QK / 2)) & 1u) << 4);
        y[j] = (float)(q0 - 16) * d;
        y[j + QK / 2] = (float)(q1 - 16) * d;
    }
}

static void deq_q5_1(const uint8_t *b, float *y) { /* y: (32) */
    const float d = rd_f16(b), m = rd_f16(b + 2);
    const uint32_t qh = rd_u32(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < QK / 2; j++) {
        const int q0 = (qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
        const int q1 = (qs[j] >> 4) | (int)(((qh >> (j + QK / 2)) & 1u) << 4);
        y[j] = (float)q0 * d + m;
        y[j + QK / 2] = (float)q1 * d + m;
    }
}

static void deq_q2_k(const uint8_t *b, float *y) { /* y: (256) */
    const uint8_t *scales = b, *qs = b + 16;
    const float d = rd_f16(b + 80), dmin = rd_f16(b + 82);
    float dl[16], ml[16]; /* per 16-element sub-block */
    for (int i = 0; i < 16; i++) dl[i] = d * (float)(scales[i] & 0x0f), ml[i] = dmin * (float)(scales[i] >> 4);
    for (int e = 0; e < QKK; e++) {
        const int h = e / 128, j = (e % 128) / 32, l = e % 32;
        const int q = (qs[32 * h + l] >> (2 * j)) & 3;
        y[e] = dl[e / 16] * (float)q - ml[e / 16];
    }
}

static void deq_q3_k(const uint8_t *b, float *y) { /* y: (256) */
    const uint8_t *hmask = b, *qs = b + 32, *sc = b + 96;
    const float d = rd_f16(b + 108);
    float dl[16]; /* per 16-element sub-block */
    for (int i = 0; i < 16; i++) {
        const int lo = i < 8 ? (sc[i] & 0x0f) : (sc[i - 8] >> 4);
        const int hi = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
        dl[i] = d * (float)((lo | hi << 4) - 32);
    }
    for (int e = 0; e < QKK; e++) {
        const int h = e / 128, j = (e % 128) / 32, l = e % 32;
        const int q2 = (qs[32 * h + l] >> (2 * j)) & 3;
        const int bit = (hmask[l] >> (e / 32)) & 1;
        y[e] = dl[e / 16] * (float)(q2 - (bit ? 0 : 4));
    }
}

static void deq_q4_k(const uint8_t *b, float *y) { /* y: (256) */
    const float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *scales = b + 4, *qs = b + 16;
    for (int c = 0; c < 4; c++) { /* 64-element chunk: two sub-blocks */
        int sc0, m0, sc1, m1;
        k_scale_min(2 * c, scales, &sc0, &m0);
        k_scale_min(2 * c + 1, scales, &sc1, &m1);
        const float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
        const float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
        const uint8_t *q = qs + 32 * c;
        for (int l = 0; l < 32; l++) y[64 * c + l] = d0 * (float)(q[l] & 0x0f) - mm0;
        for (int l = 0; l < 32; l++) y[64 * c + 32 + l] = d1 * (float)(q[l] >> 4) - mm1;
    }
}

static void deq_q5_k(const uint8_t *b, float *y) { /* y: (256) */
    const float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *qs = b + 48;
    for (int c = 0; c < 4; c++) {
        int sc0, m0, sc1, m1;
        k_scale_min(2 * c, scales, &sc0, &m0);
        k_scale_min(2 * c + 1, scales, &sc1, &m1);
        const float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
        const float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
        const uint8_t *q = qs + 32 * c;
        const int s0 = 2 * c, s1 = 2 * c + 1; /* sub-block = bit index in qh */
        for (int l = 0; l < 32; l++) {
            int v = (q[l] & 0x0f) | (((qh[l] >> s0) & 1) << 4);
            y[64 * c + l] = d0 * (float)v - mm0;
        }
        for (int l = 0; l < 32; l++) {
            int v = (q[l] >> 4) | (((qh[l] >> s1) & 1) << 4);
            y[64 * c + 32 + l] = d1 * (float)v - mm1;
        }
    }
}

static void deq_q6_k(const uint8_t *b, float *y) { /* y: (256) */
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    const float d = rd_f16(b + 208);
    for (int h = 0; h < 2; h++) { /* two halves of 128 elements */
        const uint8_t *l0 = ql + 64 * h, *h0 = qh + 32 * h;
        const int8_t *s = sc + 8 * h;
        float *o = y + 128 * h;
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            int q1 = ((l0[l] & 0x0f) | (((h0[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((l0[l + 32] & 0x0f) | (((h0[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((l0[l] >> 4) | (((h0[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((l0[l + 32] >> 4) | (((h0[l] >> 6) & 3) << 4)) - 32;
            o[l] = (d * (float)s[is + 0]) * (float)q1;
            o[l + 32] = (d * (float)s[is + 2]) * (float)q2;
            o[l + 64] = (d * (float)s[is + 4]) * (float)q3;
            o[l + 96] = (d * (float)s[is + 6]) * (float)q4;
        }
    }
}

static void dequantize_impl(lc_dtype t, const void *src, float *dst, int64_t n, int portable) {
    const uint8_t *p = (const uint8_t *)src;
    switch (t) {
    case LC_DT_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return;
    case LC_DT_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = rd_f16(p + 2 * i);
        return;
    case LC_DT_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = lc_bf16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return;
    default: break;
    }
    const int be = lc_dtype_block_elems(t);
    const size_t bb = lc_dtype_block_bytes(t);
    LC_ASSERT(be > 0 && n % be == 0);
    const int64_t nb = n / be;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *b = p + (size_t)i * bb;
        float *y = dst + i * be;
        switch (t) {
        case LC_DT_Q8_0: deq_q8_0(b, y); break;
        case LC_DT_Q4_0: deq_q4_0(b, y); break;
        case LC_DT_Q4_1:
            if (portable) deq_q4_1_scalar(b, y);
            else LC_Q4_1_FAST(b, y);
            break;
        case LC_DT_Q4_K: deq_q4_k(b, y); break;
        case LC_DT_Q5_K: deq_q5_k(b, y); break;
        case LC_DT_Q6_K: deq_q6_k(b, y); break;
        case LC_DT_Q5_0: deq_q5_0(b, y); break;
        case LC_DT_Q5_1: deq_q5_1(b, y); break;
        case LC_DT_Q2_K: deq_q2_k(b, y); break;
        case LC_DT_Q3_K: deq_q3_k(b, y); break;
        default: break;
        }
    }
}

void lc_dequantize(lc_dtype t, const void *src, float *dst, int64_t n) {
    dequantize_impl(t, src, dst, n, 0);
}

void lc_dequantize_portable(lc_dtype t, const void *src, float *dst, int64_t n) {
    dequantize_impl(t, src, dst, n, 1);
}

void lc_dequantize_rows(lc_dtype t, const void *data, int64_t row_bytes, int row0, int nrows,
                        int cols, float *out) {
    const uint8_t *base = (const uint8_t *)data;
    const int64_t work = (int64_t)nrows * cols;
#pragma omp parallel for schedule(static) if (work >= 65536)
    for (int r = 0; r < nrows; r++)
        lc_dequantize(t, base + (int64_t)(row0 + r) * row_bytes, out + (int64_t)r * cols, cols);
}

/* ---------------- reference quantisers (ggml quantize_row_*_ref) ---------------- */

static void q_q8_0(const float *x, uint8_t *b) { /* x: (32) */
    float amax = 0.0f;
    for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    wr_f16(b, d);
    for (int j = 0; j < QK; j++) ((int8_t *)(b + 2))[j] = (int8_t)roundf(x[j] * id);
}

static void q_q4_0(const float *x, uint8_t *b) { /* x: (32) */
    float amax = 0.0f, max = 0.0f; /* max: the signed value of largest magnitude (first one) */
    for (int j = 0; j < QK; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    wr_f16(b, d);
    for (int j = 0; j < QK / 2; j++) {
        const float x0 = x[j] * id, x1 = x[j + QK / 2] * id;
        int q0 = (int)(int8_t)(x0 + 8.5f), q1 = (int)(int8_t)(x1 + 8.5f);
        if (q0 > 15) q0 = 15;
        if (q1 > 15) q1 = 15;
        b[2 + j] = (uint8_t)(q0 | (q1 << 4));
    }
}

static void q_q4_1(const float *x, uint8_t *b) { /* x: (32) */
    float min = x[0], max = x[0];
    for (int j = 1; j < QK; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    wr_f16(b, d);
    wr_f16(b + 2, min);
    for (int j = 0; j < QK / 2; j++) {
        const float x0 = (x[j] - min) * id, x1 = (x[j + QK / 2] - min) * id;
        int q0 = (int)(int8_t)(x0 + 0.5f), q1 = (int)(int8_t)(x1 + 0.5f);
        if (q0 > 15) q0 = 15;
        if (q1 > 15) q1 = 15;
        b[4 + j] = (uint8_t)(q0 | (q1 << 4));
    }
}

/* Q5_0 / Q5_1: the 5-bit values q[32] into qh (bit j = bit 4 of q[j]) and
 * the nibbles qs[16] (Q4_0's order). */
static void pack_q5(const int *q, uint8_t *qh_out, uint8_t *qs) {
    uint32_t qh = 0;
    for (int j = 0; j < QK / 2; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0f) | ((q[j + QK / 2] & 0x0f) << 4));
        qh |= (uint32_t)((q[j] >> 4) & 1) << j;
        qh |= (uint32_t)((q[j + QK / 2] >> 4) & 1) << (j + QK / 2);
    }
    for (int k = 0; k < 4; k++) qh_out[k] = (uint8_t)(qh >> (8 * k));
}

static void q_q5_0(const float *x, uint8_t *b) { /* x: (32); as ggml's quantize_row_q5_0_ref */
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int q[QK];
    for (int j = 0; j < QK; j++) {
        int v = (int)(int8_t)(x[j] * id + 16.5f);
        q[j] = v > 31 ? 31 : v;
    }
    wr_f16(b, d);
    pack_q5(q, b + 2, b + 6);
}

static void q_q5_1(const float *x, uint8_t *b) { /* x: (32); as ggml's quantize_row_q5_1_ref */
    float min = x[0], max = x[0];
    for (int j = 1; j < QK; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int q[QK];
    for (int j = 0; j < QK; j++) {
        int v = (int)(uint8_t)((x[j] - min) * id + 0.5f);
        q[j] = v > 31 ? 31 : v;
    }
    wr_f16(b, d);
    wr_f16(b + 2, min);
    pack_q5(q, b + 4, b + 8);
}

int lc_quantize(lc_dtype t, const float *src, void *dst, int64_t n) {
    uint8_t *p = (uint8_t *)dst;
    switch (t) {
    case LC_DT_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return 0;
    case LC_DT_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = lc_f32_to_f16(src[i]);
            p[2 * i] = (uint8_t)(h & 0xff);
            p[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return 0;
    case LC_DT_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = lc_f32_to_bf16(src[i]);
            p[2 * i] = (uint8_t)(h & 0xff);
            p[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return 0;
    case LC_DT_Q8_0:
    case LC_DT_Q4_0:
    case LC_DT_Q4_1:
    case LC_DT_Q5_0:
    case LC_DT_Q5_1: break;
    default: return -1;
    }
    if (n % QK != 0) return -1;
    const size_t bb = lc_dtype_block_bytes(t);
    for (int64_t i = 0; i < n / QK; i++) {
        const float *x = src + i * QK;
        uint8_t *b = p + (size_t)i * bb;
        switch (t) {
        case LC_DT_Q8_0: q_q8_0(x, b); break;
        case LC_DT_Q4_0: q_q4_0(x, b); break;
        case LC_DT_Q4_1: q_q4_1(x, b); break;
        case LC_DT_Q5_0: q_q5_0(x, b); break;
        default: q_q5_1(x, b); break;
        }
    }
    return 0;
}
