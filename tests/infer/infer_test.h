/*
 * infer_test.h — the comparison helper the infer tests share: prints one row
 * (max abs error, max |ref|, their ratio, tolerance) and counts failures.
 */
#ifndef INFER_TEST_H
#define INFER_TEST_H

#include <math.h>
#include <stdio.h>
#include <stddef.h>

#include "../lc_test.h" /* g_checks, g_fail */

/* Pass iff max|got - ref| <= rtol * max|ref| (NaN fails). */
__attribute__((unused)) static int compare_rel(const char *what, const float *got, const float *ref, size_t n, double rtol) {
    double max_err = 0, max_ref = 0;
    int nan = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)ref[i]);
        if (e != e) nan = 1;
        if (e > max_err) max_err = e;
        if (fabs((double)ref[i]) > max_ref) max_ref = fabs((double)ref[i]);
    }
    double tol = rtol * max_ref;
    int ok = !nan && max_err <= tol;
    printf("  %-60s max_abs %9.3e  max|ref| %9.3e  rel %9.3e  tol %9.3e  %s\n", what, max_err, max_ref,
           max_ref > 0 ? max_err / max_ref : max_err, tol, ok ? "ok" : (nan ? "FAIL (NaN)" : "FAIL"));
    g_checks++;
    if (!ok) g_fail++;
    return ok;
}

/* A boolean check with a message. */
static int check(int cond, const char *what) {
    printf("  %-60s %s\n", what, cond ? "ok" : "FAIL");
    g_checks++;
    if (!cond) g_fail++;
    return cond;
}

static int finish(const char *name) { return lc_test_finish(name); }

#endif
