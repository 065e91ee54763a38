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
#include "lc_train.h"

/* Ctrl-C / SIGTERM: the loop saves a checkpoint after the current step;
 * phases before it (load, tokenise, first validation) stop at once. A
 * second signal ends the process. */
static void on_sigint(int sig) {
    if (lc_interrupt_pending()) _exit(128 + sig);
    lc_interrupt_raise(sig);
    lc_train_request_stop();
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: lorac train --config FILE.yaml [--KEY VALUE ...] [--quiet] [--overwrite]\n"
            "       lorac train --resume RUN_DIR [--KEY VALUE ...]\n\n"
            "Trains a LoRA adapter. Every config key can be given as a flag (--lr 3e-4 overrides\n"
            "the file). Ctrl-C saves a checkpoint; --resume continues bit-identically.\n"
            "An out_dir holding another run is refused; --overwrite deletes that run's files first.\n"
            "One process at a time per out_dir (out_dir/.lorac.lock).\n\nkeys:\n");
    lc_train_config_help(f);
}

int cli_train(int argc, char **argv) {
    lc_train_config cfg = lc_train_config_default();
    const char *config_path = NULL, *resume_dir = NULL;
    int quiet = 0, overwrite = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else if (!strcmp(argv[i], "--overwrite")) overwrite = 1;
        else if (!strcmp(argv[i], "--config") && i + 1 < argc) config_path = argv[++i];
        else if (!strcmp(argv[i], "--resume") && i + 1 < argc) resume_dir = argv[++i];
    }
    char resumed_cfg[1200];
    if (resume_dir) {
        snprintf(resumed_cfg, sizeof resumed_cfg, "%s/config.yaml", resume_dir);
        if (!config_path) config_path = resumed_cfg;
    }
    if (!config_path) {
        usage(stderr);
        fprintf(stderr, "\nlorac train: --config FILE or --resume DIR is required\n");
        return 2;
    }
    if (lc_train_config_load_yaml(&cfg, config_path)) {
        fprintf(stderr, "lorac train: %s\n", lc_error_msg());
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "--overwrite")) continue;
        if ((!strcmp(argv[i], "--config") || !strcmp(argv[i], "--resume")) && i + 1 < argc) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--", 2) || i + 1 >= argc) {
            fprintf(stderr, "lorac train: expected --KEY VALUE, found '%s'\n", argv[i]);
            return 2;
        }
        if (lc_train_config_set(&cfg, argv[i] + 2, argv[i + 1])) {
            fprintf(stderr, "lorac train: %s\n", lc_error_msg());
            return 2;
        }
        i++;
    }
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
