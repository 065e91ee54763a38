/*
 * cli_progress.c — the CLI's reporter: what `lorac train`, `sweep` and
 * `eval` show on stderr while the library works (contract in
 * cli_progress.h). The only place that knows about terminals: tty
 * detection and the ANSI in-place progress line.
 */
#include "cli_progress.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

#define CLEAR_LINE "\r\033[K" /* carriage return + erase to the end of the line */

/* Finish an in-place progress line before printing anything else. */
static void clear_in_place(cli_progress *p) {
    if (!p->in_place) return;
    fputs(CLEAR_LINE, stderr);
    p->in_place = 0;
}

static void on_message(void *user, lc_reporter_level level, const char *text) {
    cli_progress *p = user;
    if (p->quiet && level == LC_REPORT_DETAIL) return;
    clear_in_place(p);
    fprintf(stderr, "%s\n", text);
    fflush(stderr);
}

/* "step 12/60 | loss 2.1234 | valid 2.3456 | lr 3.00e-04 | 812 tok/s |
 * ETA 0m41s | mem 95 MB": with several trials, each trial's loss (and valid
 * loss) in trial order, no lr. */
static void format_progress(char *line, size_t size, const lc_train_progress *pr) {
    size_t o = (size_t)snprintf(line, size, "step %lld/%lld | loss", (long long)pr->step, (long long)pr->total_steps);
    int any_valid = 0;
    for (int k = 0; k < pr->n_trials && o < size; k++) {
        any_valid |= !isnan(pr->valid_loss[k]);
        o += (size_t)snprintf(line + o, size - o, pr->active[k] ? " %.4f" : " (stopped)", pr->loss[k]);
    }
    if (any_valid && o < size) {
        o += (size_t)snprintf(line + o, size - o, " | valid");
        for (int k = 0; k < pr->n_trials && o < size; k++)
            o += (size_t)snprintf(line + o, size - o, isnan(pr->valid_loss[k]) ? " -" : " %.4f", pr->valid_loss[k]);
    }
    if (pr->n_trials == 1 && o < size) o += (size_t)snprintf(line + o, size - o, " | lr %.2e", pr->lr);
    if (o < size)
        snprintf(line + o, size - o, " | %.0f tok/s | ETA %dm%02ds | mem %.0f MB", pr->tokens_per_s,
                 (int)(pr->eta_s / 60), (int)fmod(pr->eta_s, 60.0), pr->peak_rss_mb);
}

/* A terminal: every step in place, kept (newline) at an evaluation. Else a
 * line every log_every steps and at each evaluation. */
static void on_train_progress(void *user, const lc_train_progress *pr) {
    cli_progress *p = user;
    if (p->quiet || (!p->tty && !pr->log_due && !pr->evaluated)) return;
    char line[1024];
    format_progress(line, sizeof line, pr);
    if (p->tty) {
        fprintf(stderr, CLEAR_LINE "%s%s", line, pr->evaluated ? "\n" : "");
        p->in_place = !pr->evaluated;
    } else {
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
}

/* Counted progress, on a terminal only: "lorac eval: base: generated 3/20". */
static void on_count(void *user, const char *what, int done, int total) {
    cli_progress *p = user;
    if (p->quiet || !p->tty) return;
    fprintf(stderr, CLEAR_LINE "%s %d/%d", what, done, total);
    fflush(stderr);
    p->in_place = 1;
}

static void on_phase_end(void *user) {
    cli_progress *p = user;
    if (!p->in_place) return;
    fputc('\n', stderr);
    fflush(stderr);
    p->in_place = 0;
}

const lc_reporter *cli_progress_init(cli_progress *p, int quiet) {
    p->quiet = quiet;
    p->tty = isatty(STDERR_FILENO);
    p->in_place = 0;
    p->rep = (lc_reporter){.message = on_message, .train_progress = on_train_progress, .count = on_count,
                           .phase_end = on_phase_end, .user = p};
    return &p->rep;
}
