/*
 * lc_sweep.h — comparative experiments, the two ends of "which adapter is
 * better?":
 *
 *  - compare (`lorac eval`): a base model, any number of adapters applied
 *    unmerged, and any number of merged models, side by side on one test
 *    file: answer-token loss and perplexity (the training loss, on the
 *    test rows), and greedy generations scored with lc_metrics.h. Writes
 *    eval.json, eval.csv and generations.jsonl.
 *
 *  - sweep (`lorac sweep`): a grid of training runs over config keys
 *    (lr x r x ...), each its own run directory trained with lc_train_run
 *    (or all together in one pass with lc_train_run_multi);
 *    resumable (a finished trial is skipped, an interrupted one resumed from
 *    its newest checkpoint); ends with summary.csv/json sorted by best
 *    validation loss and curves.svg of every trial's train/valid loss.
 */
#ifndef LC_SWEEP_H
#define LC_SWEEP_H

#include <stdint.h>
#include <stdio.h>

#include "lc_common.h"
#include "lc_config.h"
#include "lc_metrics.h"
#include "lc_reporter.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- compare */

typedef enum { LC_CAND_BASE = 0, LC_CAND_ADAPTER, LC_CAND_MERGED } lc_cand_kind;

typedef struct {
    const char *model;              /* base model: HF dir or .gguf (required) */
    const char *tokenizer;          /* NULL or "": from the model */
    const char *data;               /* test file: jsonl (prompt/completion, alpaca, messages) or csv */
    const char *const *adapters;    /* (n_adapters) adapter .h5 files for `model` */
    const float *adapter_mults;     /* (n_adapters) scale multipliers; NULL = all 1 */
    int n_adapters;
    const char *const *merged;      /* (n_merged) merged models (HF dir or .gguf) */
    int n_merged;
    const char *chat_template;      /* NULL or "": the first adapter's, else "auto" */
    int max_new_tokens;             /* per generated answer */
    unsigned metrics;               /* LC_METRIC_* */
    const char *labels;             /* accuracy labels "yes,no,maybe"; NULL: the distinct references (<= 20) */
    int limit;                      /* only the first `limit` examples; 0 = all */
    int max_seq_len;                /* rows for the loss (longer ones truncated) */
    int batch_size;                 /* rows per forward pass for the loss */
    int threads;                    /* 0: OMP_NUM_THREADS or all cores */
    const char *out_dir;            /* NULL: write no files */
    const lc_reporter *reporter;    /* messages and generation progress (lc_reporter.h); NULL: none */
} lc_compare_params;

/* max_new_tokens 128, metrics all, max_seq_len 512, batch_size 8; the rest 0/NULL. */
lc_compare_params lc_compare_default_params(void);

typedef struct {
    char name[64];          /* "base", "adapter1" (file stem), "merged1" ... (unique) */
    lc_cand_kind kind;
    char path[1024];        /* model or adapter file */
    float mult;             /* adapter scale multiplier */
    double loss, ppl;       /* mean answer-token cross-entropy and exp(loss); NAN if not asked */
    int64_t n_loss_tokens;
    double metric[6];       /* by bit index of LC_METRIC_* (loss excluded): 0..100, NAN if not asked */
    int n_gen_examples;     /* examples with a generated answer */
    int64_t gen_tokens;     /* tokens generated in all */
    double gen_s;           /* seconds generating */
} lc_compare_row;

typedef struct {
    int n_rows;
    lc_compare_row *rows;   /* (n_rows): base first, then adapters, then merged models */
    int n_examples;         /* examples evaluated (after limit) */
    unsigned metrics;
    char template_name[64];
} lc_compare_result;

/* Evaluate every candidate (see the top of this file). Errors name the file
 * that failed (model, adapter, data row). With out_dir, writes
 * out_dir/eval.json, eval.csv and generations.jsonl (one line per example:
 * index, line, prompt, reference, answers{candidate: text}). */
lc_status lc_compare_run(const lc_compare_params *p, lc_compare_result *res);
void lc_compare_result_free(lc_compare_result *res);
/* The side-by-side table (best value of each column marked with '*'). */
void lc_compare_print(FILE *f, const lc_compare_result *res);
/* The value of a LC_METRIC_* bit in a row (LC_METRIC_LOSS gives the loss). */
double lc_compare_row_value(const lc_compare_row *row, unsigned bit);

/* ---------------------------------------------------------------- sweep */

#define LC_SWEEP_MAX_AXES 6
#define LC_SWEEP_MAX_VALUES 16

typedef struct {
    char key[64];                               /* a config key (lc_train_config_set) */
    int n;
    char values[LC_SWEEP_MAX_VALUES][64];
} lc_sweep_axis;

/* Parse "1e-4,3e-4,1e-3" for key into *ax; each value is checked with
 * lc_train_config_set on a scratch config (LC_ERR_CONFIG naming it). */
lc_status lc_sweep_axis_parse(lc_sweep_axis *ax, const char *key, const char *values);

typedef enum { LC_TRIAL_TRAINED = 0, LC_TRIAL_SKIPPED, LC_TRIAL_RESUMED } lc_trial_status;

typedef struct {
    int index;                                  /* k in trial-<k>-... (grid order, last axis fastest) */
    char name[256];                             /* trial-<k>-lr1e-4-r8 */
    char dir[1300];                             /* out_dir/name */
    char values[LC_SWEEP_MAX_AXES][64];
    lc_trial_status status;
    double best_valid_loss, last_valid_loss, final_train_loss; /* NAN when absent */
    int64_t best_step, steps;
    double train_s;                             /* wall time of this trial's training (0 if skipped) */
} lc_sweep_trial;

typedef struct {
    int n_axes;
    lc_sweep_axis axes[LC_SWEEP_MAX_AXES];
    int n_trials;
    lc_sweep_trial *trials;                     /* (n_trials) in grid order */
    int *rank;                                  /* (n_trials) trial indices by best valid loss, NAN last */
    int best;                                   /* trial index of rank[0], -1 if none has a valid loss */
} lc_sweep_result;

/* Train every grid point of axes[n_axes] over *base (keys overridden with
 * lc_train_config_set, out_dir = out_dir/trial-<k>-...). A trial whose dir
 * holds adapter.h5 and done.json is skipped (its numbers read back); one
 * with a checkpoint-<step>.h5 is resumed; the rest train from scratch;
 * done.json is written atomically when a trial's lc_train_run returns. Then
 * writes out_dir/summary.csv, summary.json (grid, best trial, trials by rank)
 * and curves.svg. Stops at the first failing trial (LC_ERR_INTERRUPTED when
 * lc_train_request_stop was called). rep: the sweep's own lines (which
 * trial trains, resumes or is skipped, its best loss) as LC_REPORT_NOTICE,
 * and every trial's training events (lc_train_run's reporter); NULL: none.
 * one_pass: the unfinished trials train together (lc_train_run_multi: the
 * frozen matmuls once per step for all of them), each trial's numbers
 * bit-identical to the sequential mode's; only adapter/optimizer/schedule
 * keys may be swept (LC_ERR_CONFIG names any other); a trial's train_s is
 * then its pass's wall time. */
lc_status lc_sweep_run(const lc_train_config *base, const lc_sweep_axis *axes, int n_axes, const char *out_dir,
                       int one_pass, const lc_reporter *rep, lc_sweep_result *res);
void lc_sweep_result_free(lc_sweep_result *res);
/* The summary table, best first. */
void lc_sweep_print(FILE *f, const lc_sweep_result *res);
/* SVG line plot of each trial's train loss (solid) and valid loss (dashed,
 * dots) against the step, read from trial_dir/metrics.jsonl. */
lc_status lc_sweep_write_svg(const lc_sweep_result *res, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* LC_SWEEP_H */
