/*
 * lc_quant.h — weight storage types and their exact dequantisation, as ggml
 * defines them (block layouts of Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K; IEEE
 * half; bfloat16). Pure math: no I/O.
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
    LC_DT_COUNT
} lc_dtype;

const char *lc_dtype_name(lc_dtype t);
/* Elements per block (1 for F32/F16/BF16, 32 for Q*_0/Q4_1, 256 for K-quants). */
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
 * matches ggml's reference quantize_row_*_ref. Returns 0, or -1 if t has no quantiser. */
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

float lc_f16_to_f32(uint16_t h);
uint16_t lc_f32_to_f16(float f);
float lc_bf16_to_f32(uint16_t h);
uint16_t lc_f32_to_bf16(float f); /* round to nearest even, as torch */

#ifdef __cplusplus
}
#endif
#endif /* LC_QUANT_H */
