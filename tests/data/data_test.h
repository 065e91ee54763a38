/*
 * data_test.h — temp files for the tests in tests/data, and test_finish
 * (removes them, then lc_test_finish). The checks are tests/lc_test.h's.
 */
#ifndef LC_DATA_TEST_H
#define LC_DATA_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lc_common.h"

#include "../lc_test.h" /* CHECK, CHECK_OK, CHECK_ERR, g_fail, g_checks */

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
    return lc_test_finish(name);
}

#endif
