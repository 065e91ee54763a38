/*
 * cli_train.c — `lorac train`: run config from YAML + `--key value` flags,
 * Ctrl-C saves a checkpoint, `--resume DIR` continues a stopped run.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lc_config.h"
#include "lc_dist.h"
#include "lc_train.h"

static void on_sigint(int sig) {
    (void)sig;
    lc_train_request_stop();
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: lorac train --config FILE.yaml [--KEY VALUE ...] [--quiet]\n"
            "       lorac train --resume RUN_DIR [--KEY VALUE ...]\n\n"
            "Trains a LoRA adapter. Every config key can be given as a flag (--lr 3e-4 overrides\n"
            "the file). Ctrl-C saves a checkpoint; --resume continues bit-identically.\n\nkeys:\n");
    lc_train_config_help(f);
}

int cli_train(int argc, char **argv) {
    lc_train_config cfg = lc_train_config_default();
    const char *config_path = NULL, *resume_dir = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--quiet")) quiet = 1;
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
        if (!strcmp(argv[i], "--quiet")) continue;
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
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    lc_train_result res;
    lc_status st = lc_train_run(&cfg, resume_dir != NULL, quiet, &res);
    if (st == LC_ERR_INTERRUPTED) {
        fprintf(stderr, "lorac train: %s (continue with: lorac train --resume %s)\n", lc_error_msg(), cfg.out_dir);
        return 130;
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
