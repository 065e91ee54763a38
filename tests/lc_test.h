/*
 * lc_test.h — the assertion helpers every C test shares. A failed check
 * prints "FAIL file:line: <expression>: <message>" to stderr and counts;
 * the test goes on, and main returns lc_test_finish(name): 1 when any check
 * failed (never the raw count, which an exit status would wrap at 256).
 *
 *   CHECK(cond)                       CHECK(cond, "fmt", ...)
 *   CHECK_CLOSE(got, want, tol, ...)  |got - want| <= tol; NaN always fails
 *   CHECK_OK(lc_status expr, ...)     the status must be LC_OK
 *   REQUIRE_OK(lc_status expr)        the same, but a failure ends the test (exit 1)
 *   CHECK_ERR(st, code, "needle"...)  status `code`, message holding each needle
 *
 * g_fail and g_checks are this test's counters (one per executable: include
 * this header in one .c file per test program, or in a helper header).
 */
#ifndef LC_TEST_H
#define LC_TEST_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_common.h"

static int g_fail = 0, g_checks = 0;

/* Print the failure line: expression, then the optional message (fmt is
 * " " when the caller gave none, from the " " __VA_ARGS__ trick below). */
__attribute__((format(printf, 4, 5), unused)) static void lc_test_fail_(const char *file, int line, const char *expr,
                                                                        const char *fmt, ...) {
    g_fail++;
    fprintf(stderr, "FAIL %s:%d: %s", file, line, expr);
    if (fmt[0] && !(fmt[0] == ' ' && !fmt[1])) {
        va_list ap;
        va_start(ap, fmt);
        fputc(':', stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
}

/* CHECK(cond) or CHECK(cond, "format", args...). */
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        g_checks++;                                                                                                    \
        if (!(cond)) lc_test_fail_(__FILE__, __LINE__, #cond, " " __VA_ARGS__);                                        \
    } while (0)

/* |got - want| <= tol, both printed on failure (NaN/inf never pass). */
#define CHECK_CLOSE(got, want, tol, ...)                                                                               \
    do {                                                                                                               \
        double g_ = (double)(got), w_ = (double)(want), t_ = (double)(tol);                                            \
        g_checks++;                                                                                                    \
        if (!(fabs(g_ - w_) <= t_)) {                                                                                  \
            lc_test_fail_(__FILE__, __LINE__, "|" #got " - " #want "| <= " #tol, " " __VA_ARGS__);                     \
            fprintf(stderr, "     got %.17g, want %.17g, |diff| %.3g > tol %.3g\n", g_, w_, fabs(g_ - w_), t_);        \
        }                                                                                                              \
    } while (0)

/* The lc_status expression must be LC_OK; the error message is printed. */
#define CHECK_OK(expr, ...)                                                                                            \
    do {                                                                                                               \
        lc_status st_ = (expr);                                                                                        \
        g_checks++;                                                                                                    \
        if (st_ != LC_OK) {                                                                                            \
            lc_test_fail_(__FILE__, __LINE__, #expr, " " __VA_ARGS__);                                                 \
            fprintf(stderr, "     -> %s: %s\n", lc_status_name(st_), lc_error_msg());                                  \
        }                                                                                                              \
    } while (0)

/* For set-up steps the rest of a test depends on: a failure exits(1). */
#define REQUIRE_OK(expr)                                                                                               \
    do {                                                                                                               \
        lc_status st_ = (expr);                                                                                        \
        g_checks++;                                                                                                    \
        if (st_ != LC_OK) {                                                                                            \
            lc_test_fail_(__FILE__, __LINE__, #expr, " ");                                                             \
            fprintf(stderr, "     -> %s: %s\n", lc_status_name(st_), lc_error_msg());                                  \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

/* Status must be `code` and the error message must contain every needle. */
#define CHECK_ERR(st, code, ...) lc_test_check_err_((st), (code), __FILE__, __LINE__, __VA_ARGS__, NULL)
__attribute__((sentinel, unused)) static void lc_test_check_err_(lc_status st, lc_status code, const char *file,
                                                                 int line, ...) {
    g_checks++;
    if (st != code) {
        g_fail++;
        fprintf(stderr, "FAIL %s:%d: status %s, expected %s (message: %s)\n", file, line, lc_status_name(st),
                lc_status_name(code), st ? lc_error_msg() : "-");
        return;
    }
    va_list ap;
    va_start(ap, line);
    for (const char *s; (s = va_arg(ap, const char *));) {
        if (!strstr(lc_error_msg(), s)) {
            g_fail++;
            fprintf(stderr, "FAIL %s:%d: message lacks \"%s\": %s\n", file, line, s, lc_error_msg());
        }
    }
    va_end(ap);
}

/* 1 when any check failed so far, else 0 (an exit status: never the count). */
__attribute__((unused)) static int lc_test_failed(void) { return g_fail ? 1 : 0; }

/* main's return value: prints "<name>: N checks, M failed"; 1 on any failure. */
__attribute__((unused)) static int lc_test_finish(const char *name) {
    printf("%s: %d checks, %d failed\n", name, g_checks, g_fail);
    return g_fail ? 1 : 0;
}

#endif /* LC_TEST_H */
