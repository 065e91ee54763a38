/*
 * lc_schedule.h — learning-rate schedules with warmup, with the semantics of
 * Hugging Face transformers' get_{constant,linear,cosine}_schedule_with_warmup:
 * the lr used for 0-based optimizer step s is base_lr * lambda(s), where
 *   s < warmup:  lambda = s / max(1, warmup)
 *   constant:    lambda = 1
 *   linear:      lambda = max(0, (total - s) / max(1, total - warmup))
 *   cosine:      lambda = max(0, 0.5 (1 + cos(pi * (s - warmup) / max(1, total - warmup))))
 */
#ifndef LC_SCHEDULE_H
#define LC_SCHEDULE_H

#include "lc_config.h" /* lc_lr_schedule */

#ifdef __cplusplus
extern "C" {
#endif

/* Learning rate for 0-based step `step` of `total` steps. */
double lc_schedule_lr(lc_lr_schedule kind, double base_lr, long step, long total, long warmup);

#ifdef __cplusplus
}
#endif
#endif
