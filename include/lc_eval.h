/*
 * lc_eval.h — loss of a model (base, or base + unmerged adapter) over
 * tokenised rows: the validation loss of training and `lorac eval`'s loss.
 */
#ifndef LC_EVAL_H
#define LC_EVAL_H

#include <stdint.h>

#include "lc_data.h"
#include "lc_lora.h"
#include "lc_model.h"
#include "lc_transformer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mean cross-entropy over all target tokens of `rows` (file order, batches of
 * B, no dropout), padding_free: batches without padding (lc_batch; the same
 * numbers within fp32 rounding, less work), else padded to
 * each batch's longest row. acts must hold (B, rows->max_len). lora may be
 * NULL.
 * Under MPI with a training group of N > 1 ranks (lc_dist.h) this is a
 * collective: every rank of the group must call it with the same rows; the
 * batches are sharded over the ranks and every rank gets the single-process
 * result, bit for bit (src/train/evaluate.c). */
lc_status lc_eval_rows_loss(const lc_model *m, const lc_lora *lora, lc_acts *acts, const lc_rows *rows,
                            int B, int padding_free, int32_t pad_id, double *mean_loss, int64_t *n_targets);

/* The same for K adapters in one pass (lc_forward_multi): loras (K, NULL =
 * base); mean_losses (K) and n_targets (K, or NULL) get what K calls of
 * lc_eval_rows_loss would give, bit for bit. acts from lc_acts_create_multi
 * with room for K batches of (B, rows->max_len). */
lc_status lc_eval_rows_loss_multi(const lc_model *m, const lc_lora *const *loras, int K, lc_acts *acts,
                                  const lc_rows *rows, int B, int padding_free, int32_t pad_id,
                                  double *mean_losses, int64_t *n_targets);

#ifdef __cplusplus
}
#endif
#endif
