/*
 * kernel_check.h — helpers shared by the kernels tests (test_kernels.c,
 * test_attention.c): double/float buffers, random inputs rounded to float,
 * tolerance checks that print max abs/rel error, and the central
 * finite-difference check. Each test file gets its own g_rng; the failure
 * count g_fail is tests/lc_test.h's.
 */
#ifndef LC_KERNEL_CHECK_H
#define LC_KERNEL_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_common.h"

#include "../lc_test.h" /* g_fail and the CHECK macros */

static lc_rng g_rng;

#define FD_H 1e-5
#define FD_RTOL 1e-6  /* finite differences vs analytic, double */
#define F32_RTOL 1e-5 /* float kernels vs double kernels */
#define FD_SAMPLES 120

/* ---- small helpers ------------------------------------------------------ */

static inline double *dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    LC_ASSERT(p);
    return p;
}

static inline float *falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    LC_ASSERT(p);
    return p;
}

/* Random values scale * N(0,1), rounded to float so the float and double
 * kernels see identical inputs. */
static inline void randn(double *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * lc_rng_normal(&g_rng));
}

static inline float *to_f32(const double *x, size_t n)
{
    float *y = falloc(n);
    for (size_t i = 0; i < n; i++) y[i] = (float)x[i];
    return y;
}

static inline double *to_f64(const float *x, size_t n)
{
    double *y = dalloc(n);
    for (size_t i = 0; i < n; i++) y[i] = x[i];
    return y;
}

static inline double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Element i passes when |got - ref| <= rtol |ref| + atol. The printed
 * relative error is |got - ref| / (|ref| + atol / rtol), so <= 1 * rtol passes. */
static inline void check_close_tol(const char *what, const double *got, const double *ref, size_t n,
                            double rtol, double atol)
{
    double maxref = 0, maxabs = 0, maxrel = 0;
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < n; i++) maxref = fmax(maxref, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        double err = fabs(got[i] - ref[i]), den = fabs(ref[i]) + atol / rtol;
        double rel = den > 0 ? err / den : err;
        if (!(err <= rtol * fabs(ref[i]) + atol) && !(err == 0)) {
            if (!bad) first_bad = i;
            bad++;
        }
        if (err > maxabs || err != err) maxabs = err;
        if (rel > maxrel || rel != rel) maxrel = rel;
    }
    printf("  %-34s n=%-6zu max|ref|=%.3e max abs err=%.3e max rel err=%.3e (tol %.1e) %s\n",
           what, n, maxref, maxabs, maxrel, rtol, bad ? "FAIL" : "ok");
    if (bad) {
        printf("    %zu bad, first at %zu: got %.17g ref %.17g\n", bad, first_bad, got[first_bad],
               ref[first_bad]);
        g_fail = 1;
    }
}

/* Tolerance rtol (|ref| + floor max|ref|): the floor keeps near-zero entries,
 * whose error comes from cancelling terms at the scale of the tensor, from
 * failing on that noise. */
static inline void check_close_floor(const char *what, const double *got, const double *ref, size_t n,
                              double rtol, double floor)
{
    double maxref = 0;
    for (size_t i = 0; i < n; i++) maxref = fmax(maxref, fabs(ref[i]));
    check_close_tol(what, got, ref, n, rtol, rtol * floor * maxref);
}

/* Checks against finite differences or formulas: floor 1% of max|ref|. */
static inline void check_close(const char *what, const double *got, const double *ref, size_t n,
                        double rtol)
{
    check_close_floor(what, got, ref, n, rtol, 0.01);
}

/* float kernel vs double kernel: float rounding of sums with cancellation is
 * relative to the size of the terms, so the floor is 10% of max|ref|. */
static inline void check_close_f(const char *what, const float *got, const double *ref, size_t n,
                          double rtol)
{
    double *g = to_f64(got, n);
    check_close_floor(what, g, ref, n, rtol, 0.1);
    free(g);
}

static inline void expect(int cond, const char *what)
{
    printf("  %-34s %s\n", what, cond ? "ok" : "FAIL");
    if (!cond) g_fail = 1;
}

/* Central finite differences of loss() w.r.t. x at up to FD_SAMPLES indices
 * (all when n is small), compared with the analytic gradient `an`. */
typedef double (*loss_fn)(void *ctx);
static inline void fd_check(const char *what, double *x, size_t n, const double *an, loss_fn loss,
                     void *ctx)
{
    size_t m = n <= FD_SAMPLES ? n : FD_SAMPLES;
    double *num = dalloc(m), *ana = dalloc(m);
    for (size_t s = 0; s < m; s++) {
        /* all indices, or the last one plus random others */
        size_t i = n <= FD_SAMPLES ? s : (s == 0 ? n - 1 : lc_rng_below(&g_rng, (uint32_t)n));
        double x0 = x[i];
        x[i] = x0 + FD_H;
        double lp = loss(ctx);
        x[i] = x0 - FD_H;
        double lm = loss(ctx);
        x[i] = x0;
        num[s] = (lp - lm) / (2 * FD_H);
        ana[s] = an[i];
    }
    loss(ctx); /* leave the context's outputs at the unperturbed point */
    char label[96];
    snprintf(label, sizeof label, "FD %s", what);
    check_close(label, ana, num, m, FD_RTOL);
    free(num);
    free(ana);
}

#endif /* LC_KERNEL_CHECK_H */
