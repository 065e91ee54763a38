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
#include "lc_sweep.h"
#include "lc_train.h"

static void on_sigint(int sig) {
    (void)sig;
    lc_train_request_stop();
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: lorac sweep --config FILE.yaml --out DIR --KEY V1,V2,... [--KEY V1,V2 ...] [--one-pass] [--quiet]\n\n"
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
            "weight_decay, max_grad_norm, adam_*, loraplus_lr_ratio): the others change the batches.\n");
}

int cli_sweep(int argc, char **argv) {
    lc_train_config cfg = lc_train_config_default();
    const char *config_path = NULL, *out = NULL;
    int quiet = 0, one_pass = 0;
    lc_sweep_axis axes[LC_SWEEP_MAX_AXES];
    int n_axes = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--config") && i + 1 < argc) config_path = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
    }
    if (!config_path || !out) {
        usage(stderr);
        fprintf(stderr, "\nlorac sweep: --config FILE and --out DIR are required\n");
        return 2;
    }
    if (lc_train_config_load_yaml(&cfg, config_path)) {
        fprintf(stderr, "lorac sweep: %s\n", lc_error_msg());
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!strcmp(a, "--one-pass")) {
            one_pass = 1;
            continue;
        }
        if ((!strcmp(a, "--config") || !strcmp(a, "--out")) && i + 1 < argc) {
            i++;
            continue;
        }
        if (strncmp(a, "--", 2) || i + 1 >= argc) {
            fprintf(stderr, "lorac sweep: expected --KEY V1,V2,..., found '%s'\n", a);
            return 2;
        }
        const char *key = a + 2, *vals = argv[++i];
        if (!strchr(vals, ',')) { /* a plain override */
            if (lc_train_config_set(&cfg, key, vals)) {
                fprintf(stderr, "lorac sweep: %s\n", lc_error_msg());
                return 2;
            }
            continue;
        }
        if (n_axes == LC_SWEEP_MAX_AXES) {
            fprintf(stderr, "lorac sweep: at most %d swept keys\n", LC_SWEEP_MAX_AXES);
            return 2;
        }
        if (lc_sweep_axis_parse(&axes[n_axes], key, vals)) {
            fprintf(stderr, "lorac sweep: %s\n", lc_error_msg());
            return 2;
        }
        n_axes++;
    }
    if (n_axes == 0) {
        fprintf(stderr, "lorac sweep: nothing to sweep: give at least one --KEY V1,V2,...\n");
        return 2;
    }
    if (lc_train_config_validate(&cfg)) {
        fprintf(stderr, "lorac sweep: %s\n", lc_error_msg());
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
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
    if (lc_dist_world_rank() == 0) { /* under mpirun: rank 0 reports */
        lc_sweep_print(stdout, &res);
        printf("wrote %s/summary.csv, %s/summary.json, %s/curves.svg\n", out, out, out);
    }
    lc_sweep_result_free(&res);
    return 0;
}
