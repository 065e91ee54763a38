/*
 * segments.h — the token layout of a training pass (lc_batch in
 * lc_transformer.h), shared by transformer.c and gpt2.c: walking a stream's
 * causal segments in runs of equal length (RoPE, positions and GPT-2's
 * attention run per run; transformer.c's attention takes the segment list), and the padded index each dropout mask element hashes.
 * Internal to src/model.
 */
#ifndef LC_MODEL_SEGMENTS_H
#define LC_MODEL_SEGMENTS_H

#include <stddef.h>
#include <stdint.h>

/* K copies of one segment list stacked: copy k covers stream rows
 * [k Nk, (k+1) Nk); seg (n_seg + 1) offsets within a copy, seg[n_seg] = Nk. */
typedef struct {
    const int32_t *seg;
    int n_seg, K, Nk;
} lc_seg_list;

/* The next run of consecutive segments of one length over all K copies
 * (the last of one copy and the first of the next are adjacent): rows
 * [row0, row0 + count·len). *it walks k·n_seg + s from 0; returns 0 when
 * done. B padded rows of T are a single run. */
static inline int lc_seg_next_run(const lc_seg_list *s, int *it, int *row0, int *count, int *len) {
    int total = s->K * s->n_seg;
    if (*it >= total) return 0;
    int i = *it % s->n_seg;
    *row0 = (*it / s->n_seg) * s->Nk + s->seg[i];
    *len = s->seg[i + 1] - s->seg[i];
    for (*count = 0; *it < total; (*count)++, (*it)++) {
        int i2 = *it % s->n_seg;
        if (s->seg[i2 + 1] - s->seg[i2] != *len) break;
    }
    return 1;
}

/* Index that element (row, j) of a (rows, in) LoRA input hashes for its
 * dropout mask: its index in the padded layout (slot: lc_batch; NULL = the
 * padded layout itself), so a padding-free batch draws the padded masks. */
static inline uint64_t lc_mask_index(const int32_t *slot, size_t row, size_t j, size_t in) {
    return (slot ? (uint64_t)slot[row] : (uint64_t)row) * in + j;
}

#endif /* LC_MODEL_SEGMENTS_H */
