/*
 * lc_train.h — the `lorac train` job: config → base model + tokenizer →
 * tokenised rows → LoRA training loop (grad accumulation normalised by target
 * tokens, LR schedule, AdamW/LoRA+, clipping, NaN skipping, validation, early
 * stopping) → HDF5 checkpoints in out_dir, resumable bit-identically.
 *
 * Files in out_dir: config.yaml (resolved), metrics.jsonl + metrics.csv,
 * checkpoint-<step>.h5 (keep_last pruned), best.h5 (lowest validation loss),
 * adapter.h5 (the final adapter, without optimizer state).
 */
#ifndef LC_TRAIN_H
#define LC_TRAIN_H

#include <stdint.h>

#include "lc_common.h"
#include "lc_config.h"
#include "lc_reporter.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t steps_done;
    int64_t total_steps;
    double final_train_loss;   /* mean loss of the last step */
    double first_valid_loss;   /* at step 0 (before training), NAN if no valid set */
    double last_valid_loss;
    double best_valid_loss;
    int64_t best_step;
    double tokens_per_s;       /* target tokens trained per second */
    double test_loss_base;     /* answer loss on test_data of the base model (NAN if none) */
    double test_loss;          /* ... and of the final adapter */
    int64_t skipped_steps;     /* non-finite steps skipped */
    int interrupted;           /* stopped by Ctrl-C (checkpoint saved) */
    int stopped_early;         /* early stopping triggered */
    char final_adapter[1200];  /* out_dir/adapter.h5 */
    char matmul_path[32];      /* the frozen-matmul path that ran: "fp32", "bf16-emulated", "bf16-onednn" */
} lc_train_result;

/* Test hooks, passed in lc_train_options.debug (never set by the CLI). Each
 * fires once per run. */
typedef struct {
    int64_t inject_nan_step; /* make the gradient of this step (1-based) non-finite, to check that such a
                                step is skipped and never saved; 0: off */
    int64_t stop_after_step; /* behave as if Ctrl-C came right after this many steps; 0: off */
} lc_train_debug;

/* How to run: all zero (or a NULL pointer) is a fresh, silent run. */
typedef struct {
    int resume;                  /* continue from the newest checkpoint-<step>.h5 in out_dir */
    const lc_reporter *reporter; /* progress, metrics and messages (lc_reporter.h); NULL: none */
    const lc_train_debug *debug; /* test hooks; NULL: none */
} lc_train_options;

/* Run training as configured (opt may be NULL).
 *
 * resume: continue from the newest checkpoint-<step>.h5 in cfg->out_dir
 * (the CLI passes the run's saved config.yaml plus any flags). The config
 * stored in that checkpoint is compared with cfg key by key (through the
 * config KEYS table, lc_train_config_diff); every key that differs is named
 * in one LC_ERR_CONFIG ("lr 0.001 -> 0.5; r 8 -> 16"), except the keys a
 * resumed run may change, which only stop, extend, log or place the run and
 * never alter the trajectory up to the resumed step: max_steps, epochs,
 * eval_every, save_every, keep_last, log_every, threads,
 * early_stopping_patience, max_nan_steps, out_dir, test_data. The run then
 * continues bit-identically (for the same thread count), the changed keys
 * applying from the resumed step on. */
lc_status lc_train_run(const lc_train_config *cfg, const lc_train_options *opt, lc_train_result *res);

/* Train K trials in one pass: cfgs (K) differ only in the adapter, optimizer
 * and schedule keys (r, alpha, dropout, target_modules, rslora, init,
 * rank_pattern, alpha_pattern, layers_to_transform, init_adapter,
 * neftune_alpha, lr,
 * lr_schedule, warmup_*, weight_decay, max_grad_norm, adam_*,
 * loraplus_lr_ratio) and in out_dir, keep_last, early_stopping_patience and
 * max_nan_steps; any other difference is LC_ERR_CONFIG naming every such
 * key. Every step runs the one shared batch through
 * lc_forward_backward_multi; each trial writes its own run directory exactly
 * as lc_train_run would, and its numbers are bit-identical to lc_train_run
 * with its config (same thread count). A trial that stops early drops out;
 * the others go on. opt->resume: every trial continues from its newest
 * checkpoint, which must be of the same step. res (K) receives each trial's
 * result. K <= LC_MAX_TRIALS. */
lc_status lc_train_run_multi(const lc_train_config *cfgs, int K, const lc_train_options *opt, lc_train_result *res);

/* out_dir/done.json: the record of a finished run. lc_train_run(_multi)
 * writes it atomically (rank 0) for each trial that completed, i.e. trained
 * to its last step or stopped early, after adapter.h5 and the test loss;
 * a run that starts training in out_dir (fresh or --resume, once its
 * config and checkpoint are accepted) first removes it.
 * Together with adapter.h5 it is what "finished" means to `lorac sweep`,
 * whichever command finished the run. Fields: best_valid_loss, best_step,
 * last_valid_loss, final_train_loss, steps, total_steps, stopped_early,
 * test_loss_base, test_loss (NaN as null) and train_s (seconds in training
 * steps, over every resumed part: the run's lc_train_state elapsed_s). */
#define LC_TRAIN_DONE_NAME "done.json"
lc_status lc_train_done_write(const char *out_dir, const lc_train_result *res, double train_s);
/* Read out_dir/done.json into those fields of *res (the others untouched;
 * absent numbers NAN, best_step -1): LC_ERR_IO when it cannot be opened,
 * LC_ERR_FORMAT naming file:line when it is not such a JSON object. */
lc_status lc_train_done_read(const char *out_dir, lc_train_result *res);

/* Ask a running lc_train_run to save a checkpoint and stop after the current
 * step (async-signal-safe: only sets a flag). */
void lc_train_request_stop(void);

#ifdef __cplusplus
}
#endif
#endif /* LC_TRAIN_H */
