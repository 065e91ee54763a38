/*
 * data_test.h — tiny assertion helpers shared by the tests in tests/data:
 * CHECK counts failures (the test exits non-zero if any), temp files.
 */
#ifndef LC_DATA_TEST_H
#define LC_DATA_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lc_common.h"

static int g_fail = 0, g_checks = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        g_checks++;                                                                   \
        if (!(cond)) {                                                                \
            g_fail++;                                                                 \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                             \
    } while (0)

/* status must be `code` and the error message must contain every needle. */
#define CHECK_ERR(st, code, ...) check_err_impl((st), (code), __FILE__, __LINE__, __VA_ARGS__, NULL)
static inline void check_err_impl(lc_status st, lc_status code, const char *file, int line, ...) {
    va_list ap;
    g_checks++;
    if (st != code) {
        g_fail++;
        fprintf(stderr, "FAIL %s:%d: status %s, expected %s (message: %s)\n", file, line,
                lc_status_name(st), lc_status_name(code), st ? lc_error_msg() : "-");
        return;
    }
    va_start(ap, line);
    for (const char *s; (s = va_arg(ap, const char *));) {
        if (!strstr(lc_error_msg(), s)) {
            g_fail++;
            fprintf(stderr, "FAIL %s:%d: message lacks \"%s\": %s\n", file, line, s, lc_error_msg());
        }
    }
    va_end(ap);
}

#define CHECK_OK(st)                                                                  \
    do {                                                                              \
        lc_status st_ = (st);                                                         \
        g_checks++;                                                                   \
        if (st_ != LC_OK) {                                                           \
            g_fail++;                                                                 \
            fprintf(stderr, "FAIL %s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #st,    \
                    lc_status_name(st_), lc_error_msg());                             \
        }                                                                             \
    } while (0)

static char g_tmpdir[256];

/* A fresh temp directory for this test's files. */
static inline void tmp_init(const char *tag) {
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/lc_%s_XXXXXX", tag);
    if (!mkdtemp(g_tmpdir)) {
        perror("mkdtemp");
        exit(2);
    }
}

/* Write `text` (len bytes, or strlen when len < 0) to g_tmpdir/name; returns the path (static). */
static inline const char *tmp_write(const char *name, const char *text, long len) {
    static char path[8][512];
    static int k = 0;
    char *p = path[k++ % 8];
    snprintf(p, 512, "%s/%s", g_tmpdir, name);
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        exit(2);
    }
    fwrite(text, 1, len < 0 ? strlen(text) : (size_t)len, f);
    fclose(f);
    return p;
}

static int test_finish(const char *name) {
    if (g_tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmpdir);
    }
    printf("%s: %d checks, %d failed\n", name, g_checks, g_fail);
    return g_fail ? 1 : 0;
}

#endif
