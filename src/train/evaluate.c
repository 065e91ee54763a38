/*
 * evaluate.c — mean answer-token loss over a set of rows, for one adapter or
 * several in one pass (lc_eval.h).
 *
 * Under MPI (lc_dist.h: a training group of N > 1 ranks) the batches are
 * sharded: rank r computes batches i % N == r, every batch's (loss sum,
 * target count) goes into a per-batch table (zeros for the other ranks'
 * batches), one lc_dist_sum_doubles fills in the table on every rank (x + 0
 * is exact, so each entry is the owning rank's number bit for bit), and the
 * table is then summed in batch order — the very additions a single process
 * does. The result is bit-identical to N = 1 when each batch's forward pass
 * is (same build, same threads per rank).
 */
#include "lc_eval.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "lc_dist.h"

/* Forward one batch for K adapters (multi: lc_forward_multi, else
 * lc_forward with K = 1): loss sums s (K), target counts n (K). */
static lc_status batch_loss(const lc_model *m, const lc_lora *const *loras, int K, int multi, lc_acts *acts,
                            lc_batch *batches, double *s, int64_t *n) {
    if (!multi) return lc_forward(m, loras[0], 1.0f, acts, &batches[0], &s[0], &n[0], NULL);
    for (int k = 1; k < K; k++) batches[k] = batches[0]; /* every adapter on the same rows */
    return lc_forward_multi(m, loras, NULL, K, acts, batches, s, n);
}

/* Sums over all batches of this rank's share, in batch order, for K adapters.
 * Sharded (N > 1): no interrupt checks inside — a rank that stopped early
 * would leave the others waiting in the sum; the training loop's stop flag
 * (agreed by every rank) ends the run right after. */
static lc_status rows_loss(const lc_model *m, const lc_lora *const *loras, int K, int multi, lc_acts *acts,
                           const lc_rows *rows, int B, int padding_free, int32_t pad_id, double *mean_losses,
                           int64_t *n_targets) {
    lc_batcher bt;
    lc_status st = lc_batcher_init(&bt, rows, B, 0, pad_id, 0);
    if (!st && padding_free && (st = lc_batcher_set_layout(&bt, 1, 0))) lc_batcher_free(&bt);
    if (st) return st;
    int64_t nb = lc_batcher_batches_per_epoch(&bt);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int sharded = lc_dist_size() > 1;
    /* part (nb, 2, K) + 1: per batch, the K loss sums then the K target
     * counts, and last the number of ranks that failed (sharded only) */
    size_t len = sharded ? (size_t)nb * 2 * (size_t)K + 1 : 1;
    double *part = calloc(len, sizeof *part);
    if (!part) {
        lc_batcher_free(&bt);
        return lc_errorf(LC_ERR_NOMEM, "out of memory for the losses of %lld batches", (long long)nb);
    }
    double sum[LC_MAX_TRIALS] = {0}, s[LC_MAX_TRIALS];
    int64_t n[LC_MAX_TRIALS] = {0}, k_n[LC_MAX_TRIALS], own = 0;
    lc_batch batches[LC_MAX_TRIALS];
    for (int64_t i = 0; i < nb && !st; i++) {
        if (!sharded && (st = lc_interrupt_check("computing the loss"))) break;
        lc_batcher_next(&bt, &batches[0], NULL); /* every rank walks every batch: the same rows in each */
        lc_dist_heartbeat();
        if (sharded && !lc_dist_owns(i)) continue; /* dist: another rank's batch */
        st = batch_loss(m, loras, K, multi, acts, batches, s, k_n);
        own++;
        for (int k = 0; k < K && !st; k++) {
            if (sharded) {
                part[(size_t)i * 2 * (size_t)K + (size_t)k] = s[k];
                part[(size_t)i * 2 * (size_t)K + (size_t)(K + k)] = (double)k_n[k]; /* exact below 2^53 */
            } else {
                sum[k] += s[k];
                n[k] += k_n[k];
            }
        }
    }
    lc_batcher_free(&bt);
    if (sharded) {
        /* every rank reaches the sum, also after a failure (the others wait
         * for it), and learns whether another rank failed */
        part[len - 1] = st ? 1 : 0;
        lc_status sst = lc_dist_sum_doubles(part, len);
        if (!st) st = sst;
        if (!st && part[len - 1] > 0)
            st = lc_errorf(LC_ERR_IO, "%.0f other rank(s) failed while computing the loss (their message is above)",
                           part[len - 1]);
        for (int64_t i = 0; i < nb && !st; i++) /* batch order: the additions of a single process */
            for (int k = 0; k < K; k++) {
                sum[k] += part[(size_t)i * 2 * (size_t)K + (size_t)k];
                n[k] += (int64_t)part[(size_t)i * 2 * (size_t)K + (size_t)(K + k)];
            }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    lc_dist_count_shard(own, nb, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    free(part);
    if (st) return st;
    for (int k = 0; k < K; k++) {
        mean_losses[k] = n[k] ? sum[k] / (double)n[k] : NAN;
        if (n_targets) n_targets[k] = n[k];
    }
    return LC_OK;
}

lc_status lc_eval_rows_loss(const lc_model *m, const lc_lora *lora, lc_acts *acts, const lc_rows *rows,
                            int B, int padding_free, int32_t pad_id, double *mean_loss, int64_t *n_targets) {
    const lc_lora *loras[1] = {lora};
    return rows_loss(m, loras, 1, 0, acts, rows, B, padding_free, pad_id, mean_loss, n_targets);
}

lc_status lc_eval_rows_loss_multi(const lc_model *m, const lc_lora *const *loras, int K, lc_acts *acts,
                                  const lc_rows *rows, int B, int padding_free, int32_t pad_id,
                                  double *mean_losses, int64_t *n_targets) {
    if (K <= 0 || K > LC_MAX_TRIALS) return lc_errorf(LC_ERR_ARG, "1 to %d adapters per pass, got %d", LC_MAX_TRIALS, K);
    return rows_loss(m, loras, K, 1, acts, rows, B, padding_free, pad_id, mean_losses, n_targets);
}
