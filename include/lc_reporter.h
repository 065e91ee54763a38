/*
 * lc_reporter.h — how the long-running library jobs (train, sweep, eval) tell
 * their caller what they are doing: a struct of callbacks and a user
 * pointer. The library never writes progress to stderr itself and knows
 * nothing of terminals; the CLI turns these events into its progress line
 * (src/cli/cli_progress.c: tty detection, ANSI in-place updates), tests
 * record them (tests/train/test_reporter.c).
 *
 * Every callback may be NULL (that event is dropped), and a NULL reporter
 * drops everything. Callbacks run on the calling thread, between steps,
 * never inside a parallel region; the pointers they get are valid only
 * during the call.
 */
#ifndef LC_REPORTER_H
#define LC_REPORTER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LC_REPORT_DETAIL = 0, /* what the job is doing (rows, model, header lines): `--quiet` hides these */
    LC_REPORT_NOTICE = 1, /* what a user must see even when quiet: warnings, a sweep's trial status */
} lc_reporter_level;

/* One optimiser step of one trial: the row written to metrics.jsonl. step 0
 * is the evaluation before training (loss, lr, grad_norm NAN, targets 0). */
typedef struct {
    int trial;            /* 0 .. n_trials-1 (0 for a plain run) */
    int64_t step, epoch;  /* optimiser steps done */
    double loss;          /* mean answer-token loss of the step */
    double lr, grad_norm; /* grad_norm before clipping */
    double valid_loss;    /* NAN unless evaluated after this step */
    int64_t targets;      /* answer tokens of the step */
    double tokens_per_s;  /* positions per second of this trial's step */
    double elapsed_s;     /* training seconds so far (evaluation excluded) */
    double peak_rss_mb;
} lc_train_metrics;

/* Once per optimiser step, after every trial's metrics: what a progress
 * display shows. Arrays are (n_trials). */
typedef struct {
    int64_t step, total_steps;
    int n_trials;
    const double *loss;       /* mean train loss of each trial's last step */
    const double *valid_loss; /* NAN where not evaluated at this step */
    const int *active;        /* 0 once a trial stopped early */
    double lr;                /* trial 0's learning rate of this step */
    double tokens_per_s;      /* all trials together */
    double eta_s;             /* estimated seconds to total_steps */
    double peak_rss_mb;
    int evaluated;            /* some trial has a validation loss at this step */
    int log_due;              /* step is a multiple of log_every */
} lc_train_progress;

typedef struct lc_reporter {
    /* A line of text (no trailing newline). */
    void (*message)(void *user, lc_reporter_level level, const char *text);
    /* Per trial per optimiser step (and step 0), as logged in metrics files. */
    void (*train_metrics)(void *user, const lc_train_metrics *m);
    /* Per optimiser step, for a progress display. */
    void (*train_progress)(void *user, const lc_train_progress *p);
    /* A counted piece of work advanced: `what` done of total ("lorac eval:
     * base: generated", 3, 20). */
    void (*count)(void *user, const char *what, int done, int total);
    /* The steps or counts reported so far are over (a display finishes its line). */
    void (*phase_end)(void *user);
    void *user;
} lc_reporter;

/* Format a message and pass it to r->message (nothing if r or it is NULL). */
void lc_reporter_msg(const lc_reporter *r, lc_reporter_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The other events, each a no-op when r or its callback is NULL. */
void lc_reporter_metrics(const lc_reporter *r, const lc_train_metrics *m);
void lc_reporter_progress(const lc_reporter *r, const lc_train_progress *p);
void lc_reporter_count(const lc_reporter *r, const char *what, int done, int total);
void lc_reporter_phase_end(const lc_reporter *r);

#ifdef __cplusplus
}
#endif
#endif /* LC_REPORTER_H */
