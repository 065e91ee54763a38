/*
 * test_schedule.c — lc_schedule_lr against transformers' schedules (table in
 * schedule_ref.inc, written by schedule_ref.py) and hand-checked values.
 */
#include <math.h>
#include <stdio.h>

#include "lc_schedule.h"
#include "../lc_test.h"

#include "schedule_ref.inc"

int main(void) {
    double max_rel = 0;
    for (size_t c = 0; c < sizeof REF / sizeof REF[0]; c++)
        for (int s = 0; s < 23; s++) {
            double got = lc_schedule_lr(REF[c].kind, 3e-4, s, 23, REF[c].warmup);
            double want = REF[c].lr[s];
            double err = fabs(got - want), rel = want != 0 ? err / fabs(want) : err;
            if (rel > max_rel) max_rel = rel;
            CHECK(err <= 1e-12 * fabs(want) + 1e-18, "%s warmup %ld step %d: got %.17g want %.17g",
                  lc_lr_schedule_name(REF[c].kind), REF[c].warmup, s, got, want);
        }
    /* hand-checked: linear, warmup 2, total 10: steps 0,1 warm up; step 6 -> (10-6)/8 */
    CHECK_CLOSE(lc_schedule_lr(LC_SCHED_LINEAR, 1.0, 1, 10, 2), 0.5, 1e-15, "linear warmup step 1");
    CHECK_CLOSE(lc_schedule_lr(LC_SCHED_LINEAR, 1.0, 6, 10, 2), 0.5, 1e-15, "linear step 6");
    CHECK_CLOSE(lc_schedule_lr(LC_SCHED_COSINE, 1.0, 6, 10, 2), 0.5, 1e-15, "cosine step 6");
    printf("schedule: max rel error vs transformers %.3g\n", max_rel);
    return lc_test_finish("test_schedule");
}
