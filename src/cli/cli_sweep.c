/*
 * cli_sweep.c — `lorac sweep`: train a grid of configs (any config key with
 * comma-separated values, e.g. --lr 1e-4,3e-4 --r 8,16), resumable, and rank
 * the trials by best validation loss, one trial after another or all in one
 * pass (--one-pass). Ctrl-C stops the running trial(s) with a checkpoint;
 * running the same command again continues.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_progress.h"
#include "lc_dist.h"
#include "lc_report.h"
#include "lc_sweep.h"
#include "lc_train.h"

static void on_sigint(int sig) {
    (void)sig;
    lc_train_request_stop();
}

enum { O_CONFIG, O_OUT, O_ONE_PASS, O_QUIET, O_COUNT };

static const cli_opt OPTS[O_COUNT] = {
    [O_CONFIG] = {"config", 0, "FILE.yaml", "the base run config (required)"},
    [O_OUT] = {"out", 0, "DIR", "the sweep directory: one run dir per trial, the summaries (required)"},
    [O_ONE_PASS] = {"one-pass", 0, NULL, "train all trials together in one process (see above)"},
    [O_QUIET] = {"quiet", 'q', NULL, "no progress on stderr"},
};

static const cli_spec SPEC = {
    "sweep",
    "lorac sweep --config FILE.yaml --out DIR --KEY V1,V2,... [--KEY V1,V2 ...] [--one-pass] [--quiet]",
    "Trains one run per combination of the values (e.g. --lr 1e-4,3e-4,1e-3 --r 8,16: 6 trials) in\n"
    "DIR/trial-<k>-lr<..>-r<..>/, each an ordinary `lorac train` run dir. A key with one value just\n"
    "overrides the config. Running the same command again skips finished trials and resumes an\n"
    "interrupted one from its newest checkpoint. At the end: DIR/summary.csv and summary.json (sorted\n"
    "by best validation loss, the best named) and DIR/curves.svg (train/valid loss of every trial).\n"
    "Any config key can be swept (see `lorac train --help`); common: lr, r, alpha, lr_schedule, seed,\n"
    "dropout, target_modules (values containing commas cannot be swept).\n\n"
    "--one-pass trains all trials together in one process: every frozen matmul of a step runs once\n"
    "over the trials' stacked batches, each trial keeps its own adapter, optimizer, schedule and run\n"
    "dir, and its numbers are bit-identical to training it alone. Memory grows with the number of\n"
    "trials (activations); the base weights are shared. Only adapter, optimizer and schedule keys can\n"
    "be swept that way (r, alpha, dropout, target_modules, rslora, init, lr, lr_schedule, warmup_*,\n"
    "weight_decay, max_grad_norm, adam_*, loraplus_lr_ratio): the others change the batches.",
    OPTS, O_COUNT, 0, 1, NULL};

/* A --KEY VALUES pair: an axis (values with commas) or a plain override. */
static int add_key(lc_train_config *cfg, lc_sweep_axis *axes, int *n_axes, const cli_arg *a) {
    if (!strchr(a->val, ',')) { /* a plain override */
        if (!lc_train_config_set(cfg, a->name, a->val)) return 0;
        fprintf(stderr, "lorac sweep: %s\n", lc_error_msg());
        return 2;
    }
    if (*n_axes == LC_SWEEP_MAX_AXES) {
        fprintf(stderr, "lorac sweep: at most %d swept keys\n", LC_SWEEP_MAX_AXES);
        return 2;
    }
    if (lc_sweep_axis_parse(&axes[*n_axes], a->name, a->val)) {
        fprintf(stderr, "lorac sweep: %s\n", lc_error_msg());
        return 2;
    }
    (*n_axes)++;
    return 0;
}

/* Options, config and axes; 0, 1 (help shown) or 2. */
static int parse_sweep(int argc, char **argv, lc_train_config *cfg, const char **out, int *one_pass, int *quiet,
                       lc_sweep_axis *axes, int *n_axes) {
    cli_args args;
    const char *config_path = NULL;
    int rc = cli_parse(&SPEC, argc, argv, &args);
    if (rc) return rc;
    for (int i = 0; i < args.n; i++) {
        int o = args.v[i].opt;
        if (o == O_CONFIG) config_path = args.v[i].val;
        if (o == O_OUT) *out = args.v[i].val;
        if (o == O_ONE_PASS) *one_pass = 1;
        if (o == O_QUIET) *quiet = 1;
    }
    if (!config_path || !*out) {
        fprintf(stderr, "lorac sweep: --config FILE and --out DIR are required (see `lorac sweep --help`)\n");
        rc = 2;
    } else if (lc_train_config_load_yaml(cfg, config_path)) {
        fprintf(stderr, "lorac sweep: %s\n", lc_error_msg());
        rc = 2;
    }
    for (int i = 0; i < args.n && !rc; i++)
        if (args.v[i].opt == CLI_KEY) rc = add_key(cfg, axes, n_axes, &args.v[i]);
    cli_args_free(&args);
    return rc;
}

int cli_sweep(int argc, char **argv) {
    lc_train_config cfg = lc_train_config_default();
    const char *out = NULL;
    int quiet = 0, one_pass = 0;
    lc_sweep_axis axes[LC_SWEEP_MAX_AXES];
    int n_axes = 0;
    int prc = parse_sweep(argc, argv, &cfg, &out, &one_pass, &quiet, axes, &n_axes);
    if (prc) return prc == 1 ? 0 : prc;
    if (n_axes == 0) {
        fprintf(stderr, "lorac sweep: nothing to sweep: give at least one --KEY V1,V2,...\n");
        return 2;
    }
    if (lc_train_config_validate(&cfg)) {
        fprintf(stderr, "lorac sweep: %s\n", lc_error_msg());
        return 2;
    }
    cli_install_signals(on_sigint);
    lc_sweep_result res;
    cli_progress progress;
    lc_status st = lc_sweep_run(&cfg, axes, n_axes, out, one_pass, cli_progress_init(&progress, quiet), &res);
    if (st == LC_ERR_INTERRUPTED) {
        fprintf(stderr, "lorac sweep: %s (run the same command again to continue)\n", lc_error_msg());
        return 130;
    }
    if (st) {
        fprintf(stderr, "lorac sweep: %s\n", lc_error_msg());
        return 1;
    }
    lc_report_sweep(out, &res, stderr); /* out/report.html and each trial's */
    if (lc_dist_world_rank() == 0) { /* under mpirun: rank 0 reports */
        lc_sweep_print(stdout, &res);
        printf("wrote %s/summary.csv, %s/summary.json, %s/curves.svg\n", out, out, out);
    }
    lc_sweep_result_free(&res);
    return 0;
}
