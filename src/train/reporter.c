/*
 * reporter.c — the library side of lc_reporter.h: emit an event to a reporter
 * when it has a callback for it. Formatting a message happens only when
 * someone listens.
 */
#include "lc_reporter.h"

#include <stdarg.h>
#include <stdio.h>

void lc_reporter_msg(const lc_reporter *r, lc_reporter_level level, const char *fmt, ...) {
    if (!r || !r->message) return;
    char text[4096]; /* a longer message is cut: these are human-readable lines */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    r->message(r->user, level, text);
}

void lc_reporter_metrics(const lc_reporter *r, const lc_train_metrics *m) {
    if (r && r->train_metrics) r->train_metrics(r->user, m);
}

void lc_reporter_progress(const lc_reporter *r, const lc_train_progress *p) {
    if (r && r->train_progress) r->train_progress(r->user, p);
}

void lc_reporter_count(const lc_reporter *r, const char *what, int done, int total) {
    if (r && r->count) r->count(r->user, what, done, total);
}

void lc_reporter_phase_end(const lc_reporter *r) {
    if (r && r->phase_end) r->phase_end(r->user);
}
