/*
 * lc_quant.h — weight storage types and their exact dequantisation, as ggml
 * defines them (block layouts of Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K,
 * Q4_K, Q5_K, Q6_K; IEEE half; bfloat16), and the fused quantised-row · x
 * dot products of the decode path. Pure math: no I/O.
 */
#ifndef LC_QUANT_H
#define LC_QUANT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LC_DT_F32 = 0,
    LC_DT_F16,
    LC_DT_BF16,
    LC_DT_Q8_0,
    LC_DT_Q4_0,
    LC_DT_Q4_1,
    LC_DT_Q4_K,
    LC_DT_Q5_K,
    LC_DT_Q6_K,
    LC_DT_Q5_0, /* appended: the values above keep their numbers */
    LC_DT_Q5_1,
    LC_DT_Q2_K,
    LC_DT_Q3_K,
    LC_DT_COUNT
} lc_dtype;

const char *lc_dtype_name(lc_dtype t);
/* Elements per block (1 for F32/F16/BF16, 32 for Q*_0/Q*_1, 256 for K-quants). */
int lc_dtype_block_elems(lc_dtype t);
/* Bytes per block. */
size_t lc_dtype_block_bytes(lc_dtype t);
/* Bytes of a row of `n` elements (n must be a multiple of the block size). */
size_t lc_dtype_row_bytes(lc_dtype t, int64_t n);

/* Dequantise n elements (n a multiple of the block size) from `src` to `dst`.
 * Bit-exact with ggml's dequantize_row_* functions. */
void lc_dequantize(lc_dtype t, const void *src, float *dst, int64_t n);
/* Same as lc_dequantize but never takes a SIMD path (plain C); gives
 * identical results. For tests of the fast paths. */
void lc_dequantize_portable(lc_dtype t, const void *src, float *dst, int64_t n);
/* Quantise n floats into type t (used for writing GGUF and in tests);
 * matches ggml's reference quantize_row_*_ref (F32, F16, BF16, Q8_0, Q4_0,
 * Q4_1, Q5_0, Q5_1). Returns 0, or -1 if t has no quantiser (the K-quants). */
int lc_quantize(lc_dtype t, const float *src, void *dst, int64_t n);

/* Dequantise rows [row0, row0 + nrows) of a row-major matrix stored as
 * consecutive rows of `row_bytes` bytes each (row_bytes = lc_dtype_row_bytes(t,
 * cols)) into out (nrows, cols), float32. Parallel over rows with OpenMP (when
 * the work is large enough); results are identical to lc_dequantize. This is
 * the fused path for QLoRA-style training on a frozen quantised base: dequantise
 * a tile of the weight just before its GEMM. cols must be a multiple of the
 * block size. */
void lc_dequantize_rows(lc_dtype t, const void *data, int64_t row_bytes, int row0, int nrows,
                        int cols, float *out);

/* xsum (K/32) = the sums of x (K) over each 32-element block, K a multiple
 * of 32: the offset terms of lc_quant_row_dot. */
void lc_quant_block_sums(float *xsum, const float *x, int K);
/* One quantised row (K elements of type t, K a multiple of the block size)
 * dotted with x (K), without writing the row out: fused kernels for Q8_0,
 * Q4_0, Q4_1, Q5_0, Q5_1, Q4_K and Q6_K (AVX2/FMA/F16C when the CPU has them, chosen
 * at run time, else plain C); any other type is dequantised into tmp (K,
 * caller's scratch) and dotted. xsum: lc_quant_block_sums(x). Each fused
 * kernel sums row . x = sum over blocks b (32 elements; Q6_K: 16) of
 * a_b (q_b . x_b) + c_b xsum_b (a_b the block's scale, c_b its offset; Q6_K
 * has none: q is signed), so it differs from
 * the dot of the dequantised row only by float rounding. */
float lc_quant_row_dot(lc_dtype t, const void *row, const float *x, const float *xsum, int K, float *tmp);
/* The same with the plain-C kernels only (tests of the AVX2 ones). */
float lc_quant_row_dot_portable(lc_dtype t, const void *row, const float *x, const float *xsum, int K, float *tmp);
/* 1 if lc_quant_row_dot has a fused kernel for t. */
int lc_quant_row_dot_fused(lc_dtype t);

float lc_f16_to_f32(uint16_t h);
uint16_t lc_f32_to_f16(float f);
float lc_bf16_to_f32(uint16_t h);
uint16_t lc_f32_to_bf16(float f); /* round to nearest even, as torch */

#ifdef __cplusplus
}
#endif
#endif /* LC_QUANT_H */
