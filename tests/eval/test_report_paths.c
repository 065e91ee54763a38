/*
 * test_report_paths.c — report.html never works on a cut-off path: a
 * directory too long for the report's path buffers (4200 bytes) makes
 * lc_report_train / lc_report_eval / lc_report_sweep fail with LC_ERR_ARG
 * "path too long" (and say so on warn) instead of reading or writing a
 * truncated path. Controls: a short directory that does not exist gives the
 * usual outcome (train: nothing ran, LC_OK; eval: no eval.json,
 * LC_ERR_FORMAT), so the checks tell the two cases apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_report.h"
#include "lc_sweep.h"

#include "../lc_test.h"

/* What lc_report_* wrote on warn so far (warn: an open_memstream on *buf). */
static const char *warned(FILE *warn, char *const *buf) {
    fflush(warn);
    return *buf ? *buf : "";
}

int main(void) {
    /* "/tmp/lorac-no-such-dir/aaaa...": 4300 bytes, more than the 4200 that fit */
    static char longdir[4301];
    const char *head = "/tmp/lorac-no-such-dir/";
    size_t n = strlen(head);
    memcpy(longdir, head, n);
    memset(longdir + n, 'a', sizeof longdir - 1 - n);
    longdir[sizeof longdir - 1] = 0;
    const char *shortdir = "/tmp/lorac-no-such-dir/run";

    char *wbuf = NULL;
    size_t wlen = 0;
    FILE *warn = open_memstream(&wbuf, &wlen);
    if (!warn) return 1;

    CHECK_ERR(lc_report_train(longdir, NULL, LC_OK, warn), LC_ERR_ARG, "path too long", "/tmp/lorac-no-such-dir/aaa");
    CHECK(strstr(warned(warn, &wbuf), "report.html not written: path too long") != NULL, "warn: '%s'",
          warned(warn, &wbuf));
    CHECK_ERR(lc_report_train(longdir, NULL, LC_ERR_INTERRUPTED, warn), LC_ERR_ARG, "path too long");
    CHECK_ERR(lc_report_eval(longdir, warn), LC_ERR_ARG, "path too long");

    lc_sweep_result res;
    memset(&res, 0, sizeof res);
    res.best = -1;
    CHECK_ERR(lc_report_sweep(longdir, &res, warn), LC_ERR_ARG, "path too long");

    /* controls: the same calls on a short directory that does not exist */
    CHECK_OK(lc_report_train(shortdir, NULL, LC_OK, NULL), "a dir without metrics.jsonl: nothing ran");
    CHECK_ERR(lc_report_eval(shortdir, NULL), LC_ERR_FORMAT, "eval.json");

    fclose(warn);
    free(wbuf);
    return lc_test_finish("test_report_paths");
}
