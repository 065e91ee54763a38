/*
 * cli_train.c — `lorac train`: run config from YAML + `--key value` flags,
 * Ctrl-C saves a checkpoint, `--resume DIR` continues a stopped run.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_progress.h"
#include "lc_ckpt.h"
#include "lc_config.h"
#include "lc_dist.h"
#include "lc_path.h"
#include "lc_report.h"
#include "lc_train.h"

/* Ctrl-C / SIGTERM: the loop saves a checkpoint after the current step;
 * phases before it (load, tokenise, first validation) stop at once. A
 * second signal ends the process. */
static void on_sigint(int sig) {
    if (lc_interrupt_pending()) _exit(128 + sig);
    lc_interrupt_raise(sig);
    lc_train_request_stop();
}

enum { O_CONFIG, O_RESUME, O_OVERWRITE, O_QUIET, O_COUNT };

static const cli_opt OPTS[O_COUNT] = {
    [O_CONFIG] = {"config", 0, "FILE.yaml", "the run config (a flat `key: value` mapping)"},
    [O_RESUME] = {"resume", 0, "RUN_DIR", "continue a stopped run from its newest checkpoint\n"
                                          "(its config.yaml unless --config is given)"},
    [O_OVERWRITE] = {"overwrite", 0, NULL, "an out_dir holding another run: delete that run's files first"},
    [O_QUIET] = {"quiet", 'q', NULL, "no progress bar or log lines on stderr"},
};

static void keys_help(FILE *f) {
    fprintf(f, "\nkeys (each also a --KEY VALUE option; --max-seq-len = --max_seq_len):\n");
    lc_train_config_help(f);
}

static const cli_spec SPEC = {
    "train",
    "lorac train --config FILE.yaml [--KEY VALUE ...] [--quiet] [--overwrite]\n"
    "       lorac train --resume RUN_DIR [--KEY VALUE ...]",
    "Trains a LoRA adapter. Every config key can be given as an option (--lr 3e-4 or --lr=3e-4\n"
    "overrides the file), applied left to right after the file. Ctrl-C saves a checkpoint; --resume\n"
    "continues bit-identically. One process at a time per out_dir (out_dir/.lorac.lock).",
    OPTS, O_COUNT, 0, 1, keys_help};

/* The options: config path, resume dir and flags; the --KEY VALUE pairs are
 * applied to *cfg after the YAML. Returns 0, 1 (help shown) or 2. */
static int parse_train(int argc, char **argv, lc_train_config *cfg, const char **resume_dir, int *quiet,
                       int *overwrite) {
    cli_args args;
    const char *config_path = NULL;
    int rc = cli_parse(&SPEC, argc, argv, &args);
    if (rc) return rc;
    for (int i = 0; i < args.n; i++) {
        const cli_arg *a = &args.v[i];
        if (a->opt == O_CONFIG) config_path = a->val;
        if (a->opt == O_RESUME) *resume_dir = a->val;
        if (a->opt == O_QUIET) *quiet = 1;
        if (a->opt == O_OVERWRITE) *overwrite = 1;
    }
    static char resumed_cfg[1200];
    if (*resume_dir && !config_path) {
        config_path = resumed_cfg;
        if (lc_path_join(resumed_cfg, sizeof resumed_cfg, *resume_dir, "config.yaml")) {
            fprintf(stderr, "lorac train: --resume: %s\n", lc_error_msg());
            cli_args_free(&args);
            return 2;
        }
    }
    if (!config_path) {
        fprintf(stderr, "lorac train: --config FILE or --resume DIR is required (see `lorac train --help`)\n");
        rc = 2;
    } else if (lc_train_config_load_yaml(cfg, config_path)) {
        fprintf(stderr, "lorac train: %s\n", lc_error_msg());
        rc = 2;
    }
    for (int i = 0; i < args.n && !rc; i++)
        if (args.v[i].opt == CLI_KEY && lc_train_config_set(cfg, args.v[i].name, args.v[i].val)) {
            fprintf(stderr, "lorac train: %s\n", lc_error_msg());
            rc = 2;
        }
    cli_args_free(&args);
    return rc;
}

int cli_train(int argc, char **argv) {
    lc_train_config cfg = lc_train_config_default();
    const char *resume_dir = NULL;
    int quiet = 0, overwrite = 0;
    int prc = parse_train(argc, argv, &cfg, &resume_dir, &quiet, &overwrite);
    if (prc) return prc == 1 ? 0 : prc;
    if (resume_dir) snprintf(cfg.out_dir, sizeof cfg.out_dir, "%s", resume_dir);
    if (overwrite && resume_dir) {
        fprintf(stderr, "lorac train: --overwrite and --resume contradict each other\n");
        return 2;
    }
    cfg.overwrite = overwrite;
    cli_install_signals(on_sigint);
    lc_train_result res;
    cli_progress progress;
    lc_train_options opt = {.resume = resume_dir != NULL, .reporter = cli_progress_init(&progress, quiet)};
    lc_status st = lc_train_run(&cfg, &opt, &res);
    lc_report_train(cfg.out_dir, &res, st, stderr); /* out_dir/report.html (also of a stopped run) */
    if (st == LC_ERR_INTERRUPTED) {
        if (lc_ckpt_newest_step(cfg.out_dir, "checkpoint") >= 0)
            fprintf(stderr, "lorac train: %s (continue with: lorac train --resume %s)\n", lc_error_msg(), cfg.out_dir);
        else
            fprintf(stderr, "lorac train: %s (no checkpoint was saved yet)\n", lc_error_msg());
        return 128 + (lc_interrupt_pending() ? lc_interrupt_pending() : SIGINT);
    }
    if (st) {
        fprintf(stderr, "lorac train: %s\n", lc_error_msg());
        return 1;
    }
    if (!lc_dist_is_root()) return 0; /* under mpirun: rank 0 reports */
    printf("trained %lld/%lld steps | final train loss %.4f", (long long)res.steps_done,
           (long long)res.total_steps, res.final_train_loss);
    if (!isnan(res.last_valid_loss)) {
        printf(" | valid loss ");
        if (!isnan(res.first_valid_loss)) printf("%.4f -> ", res.first_valid_loss);
        printf("%.4f (best %.4f at step %lld)", res.last_valid_loss, res.best_valid_loss, (long long)res.best_step);
    }
    printf(" | %.0f answer tokens/s%s\nadapter: %s\n", res.tokens_per_s,
           res.stopped_early ? " | stopped early" : "", res.final_adapter);
    if (!isnan(res.test_loss))
        printf("test loss (answer tokens): base %.4f -> tuned %.4f\n", res.test_loss_base, res.test_loss);
    return 0;
}
