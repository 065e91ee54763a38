/*
 * neftune.c — NEFTune noise on the input embeddings during training (Jain et
 * al. 2023, "NEFTune: Noisy Embeddings Improve Instruction Finetuning"), as
 * transformers' neftune_post_forward_hook (what HF Trainer and TRL's
 * SFTTrainer use for neftune_noise_alpha) adds it to the embedding output
 * (B, T, C) in training mode:
 *
 *     x += U(-m, m),   m = alpha / sqrt(T * C)
 *
 * T is the micro-batch's padded row length (output.size(1) with the usual
 * pad-to-longest collator: lc_batch.T, also for lorac's padding-free layout),
 * C the hidden size. Noise element (token, j) is drawn from a counter-based
 * hash of the pass's dropout seed on a stream of its own, at the token's
 * padded index (lc_mask_index), so padded and padding-free layouts, resumed
 * runs and any thread count draw the same noise. Eval / generation never
 * call this.
 */
#include <math.h>

#include "lc_transformer.h"
#include "segments.h"

#define NEFTUNE_STREAM 0x4E454654554E45ull /* "NEFTUNE": apart from the dropout streams (layer * targets + t) */

void lc_neftune_add(float *x, int n, int C, int T, const int32_t *slot, uint64_t seed, float alpha) {
    if (!(alpha > 0) || n <= 0) return;
    const float mag = alpha / sqrtf((float)T * (float)C);
    const uint64_t stream = lc_hash64(seed, NEFTUNE_STREAM);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        float *row = x + (size_t)i * C; /* (C) */
        for (int j = 0; j < C; j++)
            row[j] += (2.0f * lc_hash_uniform(stream, lc_mask_index(slot, (size_t)i, (size_t)j, (size_t)C)) - 1.0f) * mag;
    }
}
