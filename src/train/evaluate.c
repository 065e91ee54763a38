/*
 * evaluate.c — mean answer-token loss over a set of rows (lc_eval.h).
 */
#include "lc_eval.h"

#include <math.h>

lc_status lc_eval_rows_loss(const lc_model *m, const lc_lora *lora, lc_acts *acts, const lc_rows *rows,
                            int B, int32_t pad_id, double *mean_loss, int64_t *n_targets) {
    lc_batcher bt;
    lc_status st = lc_batcher_init(&bt, rows, B, 0, pad_id, 0);
    if (st) return st;
    double sum = 0;
    int64_t n = 0, nb = lc_batcher_batches_per_epoch(&bt);
    for (int64_t i = 0; i < nb && !st; i++) {
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
