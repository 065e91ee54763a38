/*
 * evaluate.c — mean answer-token loss over a set of rows, for one adapter or
 * several in one pass (lc_eval.h).
 */
#include "lc_eval.h"

#include <math.h>
#include <stdlib.h>

lc_status lc_eval_rows_loss(const lc_model *m, const lc_lora *lora, lc_acts *acts, const lc_rows *rows,
                            int B, int padding_free, int32_t pad_id, double *mean_loss, int64_t *n_targets) {
    lc_batcher bt;
    lc_status st = lc_batcher_init(&bt, rows, B, 0, pad_id, 0);
    if (!st && padding_free && (st = lc_batcher_set_layout(&bt, 1, 0))) lc_batcher_free(&bt);
    if (st) return st;
    double sum = 0;
    int64_t n = 0, nb = lc_batcher_batches_per_epoch(&bt);
    for (int64_t i = 0; i < nb && !st; i++) {
        if ((st = lc_interrupt_check("computing the loss"))) break;
        lc_batch batch;
        lc_batcher_next(&bt, &batch, NULL);
        double s = 0;
        int64_t k = 0;
        st = lc_forward(m, lora, 1.0f, acts, &batch, &s, &k, NULL);
        sum += s;
        n += k;
    }
    lc_batcher_free(&bt);
    if (st) return st;
    *mean_loss = n ? sum / (double)n : NAN;
    if (n_targets) *n_targets = n;
    return LC_OK;
}

lc_status lc_eval_rows_loss_multi(const lc_model *m, const lc_lora *const *loras, int K, lc_acts *acts,
                                  const lc_rows *rows, int B, int padding_free, int32_t pad_id,
                                  double *mean_losses, int64_t *n_targets) {
    if (K <= 0 || K > LC_MAX_TRIALS) return lc_errorf(LC_ERR_ARG, "1 to %d adapters per pass, got %d", LC_MAX_TRIALS, K);
    lc_batcher bt;
    lc_status st = lc_batcher_init(&bt, rows, B, 0, pad_id, 0);
    if (!st && padding_free && (st = lc_batcher_set_layout(&bt, 1, 0))) lc_batcher_free(&bt);
    if (st) return st;
    double sum[LC_MAX_TRIALS] = {0}, s[LC_MAX_TRIALS];
    int64_t n[LC_MAX_TRIALS] = {0}, k_n[LC_MAX_TRIALS];
    lc_batch batches[LC_MAX_TRIALS];
    int64_t nb = lc_batcher_batches_per_epoch(&bt);
    for (int64_t i = 0; i < nb && !st; i++) {
        if ((st = lc_interrupt_check("computing the loss"))) break;
        lc_batcher_next(&bt, &batches[0], NULL);
        for (int k = 1; k < K; k++) batches[k] = batches[0]; /* every adapter on the same rows */
        st = lc_forward_multi(m, loras, NULL, K, acts, batches, s, k_n);
        for (int k = 0; k < K && !st; k++) {
            sum[k] += s[k];
            n[k] += k_n[k];
        }
    }
    lc_batcher_free(&bt);
    if (st) return st;
    for (int k = 0; k < K; k++) {
        mean_losses[k] = n[k] ? sum[k] / (double)n[k] : NAN;
        if (n_targets) n_targets[k] = n[k];
    }
    return LC_OK;
}
