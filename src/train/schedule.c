/*
 * schedule.c — learning-rate schedules (see lc_schedule.h for the formulas,
 * which follow transformers' schedule functions exactly).
 */
#include "lc_schedule.h"

#include <math.h>
#include <string.h>

double lc_schedule_lr(lc_lr_schedule kind, double base_lr, long step, long total, long warmup) {
    if (step < warmup) return base_lr * (double)step / (double)(warmup > 1 ? warmup : 1);
    double span = (double)(total - warmup > 1 ? total - warmup : 1);
    double lambda = 1.0;
    switch (kind) {
    case LC_SCHED_CONSTANT: lambda = 1.0; break;
    case LC_SCHED_LINEAR: lambda = (double)(total - step) / span; break;
    case LC_SCHED_COSINE: lambda = 0.5 * (1.0 + cos(M_PI * (double)(step - warmup) / span)); break;
    }
    if (lambda < 0) lambda = 0;
    return base_lr * lambda;
}

