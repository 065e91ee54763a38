/*
 * lc_config.h — the resolved configuration of one `lorac train` run.
 *
 * Keys are named as PEFT / HF Trainer / axolotl / mlx-lm users know them
 * (r, alpha, target_modules, lr, warmup_ratio, grad_accum, max_seq_len, ...).
 * A run config comes from, in order: lc_train_config_default(), a YAML file
 * (lc_train_config_load_yaml), then `--key value` flags (lc_train_config_set),
 * then lc_train_config_validate() for cross-field checks. The resolved config
 * is saved with lc_train_config_to_yaml() next to the checkpoints; loading
 * that file gives back an identical struct.
 *
 * Every key, its type, default and allowed values is listed in
 * docs/cli.md (config keys) and by lc_train_config_help().
 */
#ifndef LC_CONFIG_H
#define LC_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "lc_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LC_CFG_PATH_MAX 1024 /* bytes for a path or short string value */
#define LC_CFG_TEXT_MAX 4096 /* bytes for chat_template (may be a custom template) */

typedef enum {
    LC_FMT_AUTO = 0,          /* from the file extension (.csv) or the first row's keys */
    LC_FMT_PROMPT_COMPLETION, /* {"prompt": ..., "completion": ...} */
    LC_FMT_ALPACA,            /* {"instruction": ..., "input": ..., "output": ...} */
    LC_FMT_CHAT,              /* {"messages": [{"role": ..., "content": ...}, ...]} */
    LC_FMT_TEXT,              /* {"text": ...} */
    LC_FMT_CSV,               /* header row + csv_prompt_column / csv_completion_column */
} lc_data_format;

typedef enum { LC_SCHED_CONSTANT = 0, LC_SCHED_LINEAR, LC_SCHED_COSINE } lc_lr_schedule;
typedef enum { LC_TRUNC_TRUNCATE = 0, LC_TRUNC_DROP } lc_truncation;

/* padding_free: auto = on (the default; a later version may choose per
 * model or CPU), true = on, false = rows padded to the longest in the
 * micro-batch (the reference layout). */
typedef enum { LC_PF_AUTO = 0, LC_PF_ON = 1, LC_PF_OFF = 2 } lc_padding_free;

typedef struct {
    /* --- model and data --- */
    char model[LC_CFG_PATH_MAX];      /* HF model dir or .gguf; required */
    char tokenizer[LC_CFG_PATH_MAX];  /* tokenizer.json or dir; "" = from model */
    char data[LC_CFG_PATH_MAX];       /* training file (jsonl or csv); required */
    char valid_data[LC_CFG_PATH_MAX]; /* "" = split `split` of data off */
    char test_data[LC_CFG_PATH_MAX];  /* "" = none */
    double split;                     /* valid ratio when valid_data is "", [0, 1) */
    lc_data_format data_format;
    char csv_prompt_column[LC_CFG_PATH_MAX];
    char csv_completion_column[LC_CFG_PATH_MAX];
    int skip_bad_rows;                /* skip (and count) malformed rows instead of failing */
    /* --- LoRA --- */
    int r;
    double alpha;
    double dropout;                   /* [0, 1) */
    char target_modules[LC_CFG_PATH_MAX]; /* normalised: "q_proj,v_proj" or "all-linear" */
    int rslora;                       /* scale alpha/sqrt(r) instead of alpha/r */
    int init_gaussian;                /* init: "kaiming" (0, PEFT default), "gaussian" (1), "pissa" (2), "olora" (3) */
    char rank_pattern[LC_CFG_PATH_MAX];  /* PEFT rank_pattern as JSON text {"regex": r}; "" = none */
    char alpha_pattern[LC_CFG_PATH_MAX]; /* PEFT alpha_pattern as JSON text; "" = none */
    char layers_to_transform[LC_CFG_PATH_MAX]; /* JSON: index or [indices]; "" = every layer */
    char trainable_token_indices[LC_CFG_PATH_MAX]; /* PEFT: JSON [ids] or {"embed_tokens": [ids]}; "" = none */
    char add_tokens[LC_CFG_PATH_MAX]; /* JSON list of new special tokens (HF add_tokens + resize); "" = none */
    double neftune_alpha;             /* NEFTune embedding noise during training; 0 = off */
    char init_adapter[LC_CFG_PATH_MAX];  /* start from this adapter's weights (fresh optimizer); "" = new */
    int use_dora;                     /* DoRA: trainable magnitude per output feature (lc_dora.h) */
    /* --- optimiser and schedule --- */
    double lr;
    lc_lr_schedule lr_schedule;
    int warmup_steps;
    double warmup_ratio;              /* fraction of total steps, [0, 1) */
    double weight_decay;
    double max_grad_norm;             /* 0 = no clipping */
    double adam_beta1, adam_beta2, adam_eps;
    double loraplus_lr_ratio;         /* LoRA+: lr of lora_B = ratio * lr; 1 = plain LoRA */
    /* --- batching --- */
    int batch_size;                   /* rows per micro-batch */
    int grad_accum;                   /* micro-batches per optimiser step */
    int epochs;
    int max_steps;                    /* > 0: stop after this many optimiser steps; -1 = epochs */
    int max_seq_len;
    lc_truncation truncation;
    int packing;                      /* examples concatenated into max_seq_len rows, one segment each */
    int padding_free;                 /* lc_padding_free: micro-batches as one token stream, no padding */
    int batch_tokens;                 /* > 0: token budget per micro-batch instead of batch_size rows */
    int mask_prompt;                  /* loss only on completion / assistant tokens */
    int grad_checkpointing;           /* recompute layer activations in backward */
    int precision;                    /* frozen matmuls: index into lc_precision_setting_name() */
    char chat_template[LC_CFG_TEXT_MAX]; /* "none", "auto", "chatml", "llama2", "llama3" or custom */
    /* --- run control --- */
    uint64_t seed;
    int eval_every;                   /* optimiser steps; 0 = only at the end */
    int save_every;                   /* optimiser steps; 0 = only at the end */
    int keep_last;                    /* checkpoints kept; 0 = all */
    char out_dir[LC_CFG_PATH_MAX];
    int early_stopping_patience;      /* evals without improvement; 0 = off */
    int max_nan_steps;                /* consecutive non-finite steps tolerated (skipped) */
    int threads;                      /* 0 = OMP_NUM_THREADS or all cores */
    int log_every;                    /* optimiser steps */
    /* --- not a config key (never saved): `lorac train --overwrite` --- */
    int overwrite;                    /* delete a previous run's files in out_dir first */
} lc_train_config;

/* The documented defaults (see docs/cli.md). model and data are "". */
lc_train_config lc_train_config_default(void);

/* Apply a YAML mapping file over *cfg (keys not in the file keep their value).
 * Errors: LC_ERR_IO (cannot open), LC_ERR_FORMAT (YAML syntax, not a mapping),
 * LC_ERR_CONFIG ("PATH:LINE: unknown key 'lrr' (did you mean 'lr'?); allowed
 * keys: ..." or "PATH:LINE: bad value 'x' for 'lr': expected ..."). On error
 * *cfg may hold the keys applied before the bad one. */
lc_status lc_train_config_load_yaml(lc_train_config *cfg, const char *path);

/* The same from YAML text in memory (e.g. the config stored in a
 * checkpoint); name stands for the file in error messages. */
lc_status lc_train_config_load_yaml_text(lc_train_config *cfg, const char *text, const char *name);
/* Set one key from a string, as a `--key value` flag does. Dashes in the key
 * are read as underscores (--max-seq-len). Same validation and messages as
 * the YAML loader, with "--key" in place of "PATH:LINE". */
lc_status lc_train_config_set(lc_train_config *cfg, const char *key, const char *value);

/* Cross-field checks (model and data set, warmup_ratio in [0,1), r > 0,
 * epochs or max_steps, ...). LC_ERR_CONFIG naming the key(s) on failure. */
lc_status lc_train_config_validate(const lc_train_config *cfg);

/* Write every key as YAML (loads back into an identical struct). Returns
 * LC_ERR_IO if writing fails. */
lc_status lc_train_config_to_yaml(const lc_train_config *cfg, FILE *f);

/* The name of key i of the KEYS table, NULL past the last (for the CLI's
 * option tables: every key is a --KEY flag of train and sweep). */
const char *lc_train_config_key_name(int i);

/* Walk the KEYS table and call fn(user, key, value in a, value in b) for
 * every key whose value differs (values as lc_train_config_to_yaml writes
 * them, so equal text means an equal value), in table order. Returns the
 * number of differing keys, -1 when out of memory. */
typedef void (*lc_config_diff_fn)(void *user, const char *key, const char *value_a, const char *value_b);
int lc_train_config_diff(const lc_train_config *a, const lc_train_config *b, lc_config_diff_fn fn, void *user);
/* One line per key: name, default, allowed values (for `lorac train --help`). */
void lc_train_config_help(FILE *f);

/* Names for enum values ("cosine", "alpaca", ...). */
const char *lc_data_format_name(lc_data_format f);
const char *lc_lr_schedule_name(lc_lr_schedule s);
/* The `precision` value stored as index p: "fp32", "bf16", "auto",
 * "bf16-emulated", "bf16-onednn" (parse with lc_matmul_path_parse). */
const char *lc_precision_setting_name(int p);

#ifdef __cplusplus
}
#endif
#endif /* LC_CONFIG_H */
