/*
 * cli_progress.h — the CLI's reporter (lc_reporter.h) on stderr: message
 * lines, the training progress line and counted progress ("generated
 * 3/20"). On a terminal the progress line is updated in place (ANSI
 * "\r\033[K"); otherwise a line is printed every log_every steps and at
 * each evaluation, and counted progress is not shown. --quiet keeps only
 * notices (warnings, a sweep's trial status).
 */
#ifndef LC_CLI_PROGRESS_H
#define LC_CLI_PROGRESS_H

#include "lc_reporter.h"

typedef struct {
    int quiet;    /* only LC_REPORT_NOTICE messages */
    int tty;      /* stderr is a terminal */
    int in_place; /* a progress line is on screen without its newline */
    lc_reporter rep;
} cli_progress;

/* Set p up for stderr; returns &p->rep (valid while p is). */
const lc_reporter *cli_progress_init(cli_progress *p, int quiet);

#endif
