/*
 * quant_blocks.h — field readers shared by quant.c (dequantisation) and
 * quant_dot.c (fused row dots): unaligned little-endian f16 / u32 reads, the
 * 5-bit values of Q5_0/Q5_1 and the packed 6-bit scales of Q4_K/Q5_K. Block
 * layouts: see the top of quant.c. Internal to src/quant.
 */
#ifndef LC_QUANT_BLOCKS_H
#define LC_QUANT_BLOCKS_H

#include <stdint.h>

#include "lc_quant.h"

#define QK 32   /* elements per block of Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1 */
#define QKK 256 /* elements per block of the K-quants */

static inline float rd_f16(const uint8_t *p) { return lc_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

static inline uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Q5_0 / Q5_1: the 5-bit value of element j (0..31) of a block whose high
 * bits are qh (little-endian u32) and nibbles qs[16]. */
static inline int q5_value(const uint8_t *qs, uint32_t qh, int j) {
    const int nib = j < QK / 2 ? (qs[j] & 0x0f) : (qs[j - QK / 2] >> 4);
    return nib | (int)(((qh >> j) & 1u) << 4);
}

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block. */
static inline void k_scale_min(int j, const uint8_t *q, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

#endif /* LC_QUANT_BLOCKS_H */
