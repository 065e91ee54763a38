/*
 * config.c — the `lorac train` run configuration: defaults, YAML loading
 * (libyaml document API, so every error carries its line), `--key value`
 * overrides, cross-field validation and saving the resolved config as YAML.
 *
 * One table (KEYS below) describes every key: its type, where it lives in
 * lc_train_config, its allowed range or choices and its help text. Loading,
 * overriding, saving and the help listing all walk that table, so a key added
 * there is parsed, validated, saved and documented at once.
 */
#include "lc_config.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <yaml.h>

#include "lc_lora.h"
#include "lc_tokens.h"

_Static_assert(sizeof(lc_data_format) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(lc_lr_schedule) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(lc_truncation) == sizeof(int), "enums are stored as int");
_Static_assert(LC_CFG_PATH_MAX == LC_LORA_PATTERN_MAX, "patterns copy between lc_train_config and lc_lora_config");

/* K_JSON: a PEFT mapping or list (rank_pattern, layers_to_transform) held as
 * JSON text, which is also YAML flow syntax, so it saves and loads as is. */
typedef enum { K_STR, K_INT, K_U64, K_DBL, K_BOOL, K_ENUM, K_TARGETS, K_JSON } key_type;

typedef struct {
    const char *name;
    key_type type;
    size_t off;                 /* offsetof(lc_train_config, field) */
    size_t size;                /* K_STR / K_TARGETS: capacity of the char array */
    double lo, hi;              /* K_INT / K_DBL: allowed range */
    int lo_open, hi_open;       /* K_DBL: exclusive bounds */
    const char *const *choices; /* K_ENUM: names, index = stored value */
    const char *allowed;        /* human text for error messages and help */
    const char *help;
} key_desc;

static const char *const FORMAT_NAMES[] = {"auto", "prompt_completion", "alpaca", "chat",
                                           "text", "csv", NULL};
static const char *const SCHED_NAMES[] = {"constant", "linear", "cosine", NULL};
static const char *const TRUNC_NAMES[] = {"truncate", "drop", NULL};
static const char *const INIT_NAMES[] = {"kaiming", "gaussian", "pissa", "olora", NULL};
static const char *const PF_NAMES[] = {"auto", "true", "false", NULL}; /* lc_padding_free */
/* lc_matmul_path_parse's words (lc_cpu.h). The default is fp32 (index 0): the
 * oneDNN bf16 path `auto` takes on CPUs with bf16 units has not yet been run
 * on such a CPU (docs/architecture.md, "Precision"); auto is opt-in until it has. */
static const char *const PREC_NAMES[] = {"fp32", "bf16", "auto", "bf16-emulated", "bf16-onednn", NULL};
#define PREC_FP32 0
/* PEFT module names in lc_lora_target order (lc_lora.h). */
static const char *const TARGET_NAMES[] = {"q_proj",    "k_proj",  "v_proj",    "o_proj",
                                           "gate_proj", "up_proj", "down_proj", "c_attn",
                                           "attn.c_proj", "c_fc", "mlp.c_proj", NULL};
#define TARGET_ATTN_C_PROJ 8 /* "c_proj" alone means both GPT-2 c_proj modules, as in PEFT */
#define TARGET_MLP_C_PROJ 10

#define F(field) offsetof(lc_train_config, field)
#define S(field) sizeof(((lc_train_config *)0)->field)
#define STR(name, help) {#name, K_STR, F(name), S(name), 0, 0, 0, 0, NULL, "a string", help}
#define INT(name, lo, hi, allowed, help) {#name, K_INT, F(name), 0, lo, hi, 0, 0, NULL, allowed, help}
#define DBL(name, lo, hi, lo_open, hi_open, allowed, help)                                        \
    {#name, K_DBL, F(name), 0, lo, hi, lo_open, hi_open, NULL, allowed, help}
#define BOOL(name, help) {#name, K_BOOL, F(name), 0, 0, 0, 0, 0, NULL, "true or false", help}
#define ENUM(name, field, names, allowed, help)                                                   \
    {#name, K_ENUM, F(field), 0, 0, 0, 0, 0, names, allowed, help}

static const key_desc KEYS[] = {
    STR(model, "base model: HF directory (config.json + safetensors) or .gguf file (required)"),
    STR(tokenizer, "tokenizer.json or directory; empty: the model's"),
    STR(data, "training data: .jsonl or .csv (required)"),
    STR(valid_data, "validation data; empty: split a `split` fraction off `data`"),
    STR(test_data, "test data, evaluated once at the end; empty: none"),
    DBL(split, 0, 1, 0, 1, "a number in [0, 1)", "validation fraction taken from data when valid_data is empty"),
    ENUM(data_format, data_format, FORMAT_NAMES, "one of auto, prompt_completion, alpaca, chat, text, csv",
         "row format; auto: from .csv or the first row's keys"),
    STR(csv_prompt_column, "csv column holding the prompt"),
    STR(csv_completion_column, "csv column holding the completion"),
    BOOL(skip_bad_rows, "skip and count malformed rows instead of stopping"),
    INT(r, 1, 65536, "an integer in [1, 65536]", "LoRA rank"),
    DBL(alpha, 0, 1e9, 1, 0, "a number > 0", "LoRA alpha (scale = alpha / r)"),
    DBL(dropout, 0, 1, 0, 1, "a number in [0, 1)", "dropout on the LoRA input"),
    DBL(neftune_alpha, 0, 1e6, 0, 0, "a number >= 0",
        "NEFTune: training adds U(-1,1) * alpha / sqrt(T * hidden) to the input embeddings (T: the micro-batch's "
        "padded row length), as HF Trainer's neftune_noise_alpha; 0: off"),
    {"target_modules", K_TARGETS, F(target_modules), S(target_modules), 0, 0, 0, 0, NULL,
     "a list of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj (Llama family), c_attn, c_proj, c_fc "
     "(GPT-2), or all-linear",
     "modules that get adapters"},
    BOOL(rslora, "rank-stabilised scale alpha / sqrt(r)"),
    {"rank_pattern", K_JSON, F(rank_pattern), S(rank_pattern), 0, 0, 0, 0, NULL,
     "a mapping of module regex to rank, e.g. {q_proj: 16, down_proj: 4}",
     "per-module rank (PEFT rank_pattern: first key whose regex matches the end of the module name after a '.')"},
    STR(init_adapter, "start from this adapter's weights (lorac .h5 or PEFT directory) with fresh optimizer "
                      "state; its modules, ranks and scales must match this config; empty: a new adapter"),
    {"alpha_pattern", K_JSON, F(alpha_pattern), S(alpha_pattern), 0, 0, 0, 0, NULL,
     "a mapping of module regex to alpha, e.g. {\"v_proj\": 32}", "per-module alpha (PEFT alpha_pattern)"},
    {"layers_to_transform", K_JSON, F(layers_to_transform), S(layers_to_transform), 0, 0, 0, 0, NULL,
     "a layer index or a list of layer indices, e.g. [0, 1, 5]", "adapt only these layers; empty: all"},
    {"trainable_token_indices", K_JSON, F(trainable_token_indices), S(trainable_token_indices), 0, 0, 0, 0, NULL,
     "a list of token ids, e.g. [0, 5], or {embed_tokens: [0, 5]}",
     "train these rows of the input embedding (and of a tied LM head) as PEFT trainable tokens; empty: none"},
    {"add_tokens", K_JSON, F(add_tokens), S(add_tokens), 0, 0, 0, 0, NULL,
     "a list of new token strings, e.g. [\"<|tool|>\", \"<obs>\"] (a flag may give one string alone)",
     "add these special tokens to the vocabulary (HF tokenizer.add_tokens(special_tokens=True) + "
     "resize_token_embeddings: ids V.., new rows the mean of the old) and train their rows as trainable tokens; "
     "empty: none"},
    ENUM(init, init_gaussian, INIT_NAMES, "one of kaiming, gaussian, pissa, olora",
         "lora_A init (lora_B is zero); pissa / olora: A and B from the SVD / QR of the frozen weight, the base "
         "becomes the residual, adapter.h5 and best.h5 are PEFT's rank-2r conversion for the original base"),
    BOOL(use_dora, "DoRA (PEFT use_dora): a trainable magnitude per output feature times the row-normalised W + s·BA "
                   "(Llama family; the norm is detached as in PEFT)"),
    DBL(lr, 0, 10, 1, 0, "a number in (0, 10]", "peak learning rate"),
    ENUM(lr_schedule, lr_schedule, SCHED_NAMES, "one of constant, linear, cosine", "decay after warmup"),
    INT(warmup_steps, 0, INT_MAX, "an integer >= 0", "linear warmup steps"),
    DBL(warmup_ratio, 0, 1, 0, 1, "a number in [0, 1)", "warmup as a fraction of all steps (instead of warmup_steps)"),
    DBL(weight_decay, 0, 1e9, 0, 0, "a number >= 0", "AdamW decoupled weight decay"),
    DBL(max_grad_norm, 0, 1e30, 0, 0, "a number >= 0", "global gradient-norm clip; 0: off"),
    DBL(adam_beta1, 0, 1, 0, 1, "a number in [0, 1)", "AdamW beta1"),
    DBL(adam_beta2, 0, 1, 0, 1, "a number in [0, 1)", "AdamW beta2"),
    DBL(adam_eps, 0, 1, 1, 0, "a number in (0, 1]", "AdamW epsilon"),
    DBL(loraplus_lr_ratio, 0, 1e6, 1, 0, "a number > 0", "LoRA+: lr of lora_B = ratio * lr; 1: plain LoRA"),
    INT(batch_size, 1, 1 << 20, "an integer in [1, 1048576]", "rows per micro-batch (and per evaluation batch)"),
    INT(batch_tokens, 0, 1 << 28, "an integer in [0, 268435456]",
        "token budget per training micro-batch: rows are taken while their real tokens fit (a longer row comes "
        "alone), instead of batch_size rows; needs padding_free; 0: off"),
    ENUM(padding_free, padding_free, PF_NAMES, "one of auto, true, false",
         "micro-batches as one stream of real tokens (no padding; attention per row); auto: on"),
    INT(grad_accum, 1, 1 << 20, "an integer in [1, 1048576]", "micro-batches per optimiser step"),
    INT(epochs, 1, 1 << 20, "an integer in [1, 1048576]", "passes over the training data"),
    INT(max_steps, -1, INT_MAX, "an integer in [-1, 2147483647]",
        "stop after this many optimiser steps; <= 0: use epochs"),
    INT(max_seq_len, 2, 1 << 20, "an integer in [2, 1048576]", "tokens per row"),
    ENUM(truncation, truncation, TRUNC_NAMES, "one of truncate, drop", "what to do with longer rows"),
    BOOL(packing, "concatenate rows into max_seq_len sequences (each example attends only to itself)"),
    BOOL(mask_prompt, "loss only on the completion / assistant turns"),
    BOOL(grad_checkpointing,
         "keep only each layer's input and recompute the layer in backward (less memory, ~1/3 more compute)"),
    ENUM(precision, precision, PREC_NAMES, "one of fp32, bf16, auto, bf16-emulated, bf16-onednn",
         "frozen matmuls: fp32 (exact reference), bf16 (bf16 weights, fp32 accumulation; on bf16 units via "
         "oneDNN, else emulated), auto (bf16 where the CPU has bf16 units, else fp32)"),
    STR(chat_template, "none, auto (from the model), chatml, llama2, llama3, gemma, or a custom template"),
    {"seed", K_U64, F(seed), 0, 0, 0, 0, 0, NULL, "an integer >= 0", "seed for split, init, shuffling, dropout"},
    INT(eval_every, 0, INT_MAX, "an integer >= 0", "optimiser steps between evaluations; 0: only at the end"),
    INT(save_every, 0, INT_MAX, "an integer >= 0", "optimiser steps between checkpoints; 0: only at the end"),
    INT(keep_last, 0, INT_MAX, "an integer >= 0", "checkpoints kept; 0: all"),
    STR(out_dir, "directory for checkpoints, the adapter and logs"),
    INT(early_stopping_patience, 0, INT_MAX, "an integer >= 0",
        "stop after this many evals without improvement; 0: off"),
    INT(max_nan_steps, 0, INT_MAX, "an integer >= 0", "consecutive non-finite steps skipped before stopping"),
    INT(threads, 0, 4096, "an integer in [0, 4096]", "threads; 0: OMP_NUM_THREADS or all cores"),
    INT(log_every, 1, INT_MAX, "an integer >= 1", "optimiser steps between log lines"),
};
#define N_KEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

/* Names other tools use, offered as "did you mean" (never accepted silently). */
static const char *const ALIASES[][2] = {
    {"learning_rate", "lr"},           {"lora_alpha", "alpha"},
    {"lora_dropout", "dropout"},       {"lora_r", "r"},
    {"rank", "r"},                     {"num_train_epochs", "epochs"},
    {"per_device_train_batch_size", "batch_size"},
    {"micro_batch_size", "batch_size"}, {"gradient_accumulation_steps", "grad_accum"},
    {"iters", "max_steps"},            {"lr_scheduler_type", "lr_schedule"},
    {"lr_scheduler", "lr_schedule"},   {"sequence_len", "max_seq_len"},
    {"max_seq_length", "max_seq_len"}, {"output_dir", "out_dir"},
    {"adapter_path", "out_dir"},       {"use_rslora", "rslora"},
    {"init_lora_weights", "init"},     {"train_on_inputs", "mask_prompt"},
    {"train_file", "data"},            {"validation_file", "valid_data"},
    {"steps_per_eval", "eval_every"},  {"eval_steps", "eval_every"},
    {"save_steps", "save_every"},      {"save_total_limit", "keep_last"},
    {"logging_steps", "log_every"},    {"steps_per_report", "log_every"},
    {"max_grad_norm_clip", "max_grad_norm"}, {"loraplus_ratio", "loraplus_lr_ratio"},
    {"val_set_size", "split"},         {"gradient_checkpointing", "grad_checkpointing"},         {"sample_packing", "packing"},
};

lc_train_config lc_train_config_default(void) {
    lc_train_config c;
    memset(&c, 0, sizeof c);
    c.split = 0.1;
    c.data_format = LC_FMT_AUTO;
    strcpy(c.csv_prompt_column, "prompt");
    strcpy(c.csv_completion_column, "completion");
    c.skip_bad_rows = 0;
    c.r = 8;
    c.alpha = 16;
    c.dropout = 0.0;
    strcpy(c.target_modules, "q_proj,v_proj");
    c.rslora = 0;
    c.init_gaussian = 0;
    c.lr = 2e-4;
    c.lr_schedule = LC_SCHED_COSINE;
    c.warmup_steps = 0;
    c.warmup_ratio = 0.0;
    c.weight_decay = 0.0;
    c.max_grad_norm = 1.0;
    c.adam_beta1 = 0.9;
    c.adam_beta2 = 0.999;
    c.adam_eps = 1e-8;
    c.loraplus_lr_ratio = 1.0;
    c.batch_size = 4;
    c.grad_accum = 1;
    c.epochs = 1;
    c.max_steps = -1;
    c.max_seq_len = 512;
    c.truncation = LC_TRUNC_TRUNCATE;
    c.packing = 0;
    c.padding_free = LC_PF_AUTO;
    c.batch_tokens = 0;
    c.mask_prompt = 1;
    strcpy(c.chat_template, "none");
    c.seed = 42;
    c.eval_every = 100;
    c.save_every = 100;
    c.keep_last = 3;
    strcpy(c.out_dir, "runs/lora");
    c.early_stopping_patience = 0;
    c.max_nan_steps = 3;
    c.threads = 0;
    c.precision = PREC_FP32;
    c.log_every = 10;
    return c;
}

const char *lc_data_format_name(lc_data_format f) {
    return (unsigned)f < sizeof FORMAT_NAMES / sizeof FORMAT_NAMES[0] - 1 ? FORMAT_NAMES[f] : "?";
}
const char *lc_precision_setting_name(int p) {
    return p >= 0 && p < (int)(sizeof PREC_NAMES / sizeof PREC_NAMES[0]) - 1 ? PREC_NAMES[p] : "?";
}

const char *lc_lr_schedule_name(lc_lr_schedule s) {
    return (unsigned)s < sizeof SCHED_NAMES / sizeof SCHED_NAMES[0] - 1 ? SCHED_NAMES[s] : "?";
}

/* ---- key lookup and suggestions ---- */

static const key_desc *find_key(const char *name) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(KEYS[i].name, name)) return &KEYS[i];
    return NULL;
}

/* Levenshtein distance, capped at 64 characters per string. */
static int edit_distance(const char *a, const char *b) {
    int la = (int)strnlen(a, 64), lb = (int)strnlen(b, 64);
    int row[65];
    for (int j = 0; j <= lb; j++) row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *suggest_key(const char *name) {
    for (size_t i = 0; i < sizeof ALIASES / sizeof ALIASES[0]; i++)
        if (!strcmp(ALIASES[i][0], name)) return ALIASES[i][1];
    const char *best = NULL;
    int best_d = INT_MAX;
    for (int i = 0; i < N_KEYS; i++) {
        int d = edit_distance(name, KEYS[i].name);
        if (d < best_d) best_d = d, best = KEYS[i].name;
    }
    int len = (int)strlen(name);
    int limit = len <= 3 ? 1 : (len <= 6 ? 2 : 3);
    return best_d <= limit ? best : NULL;
}

static lc_status unknown_key(const char *where, const char *name) {
    char allowed[2048];
    size_t n = 0;
    allowed[0] = 0;
    for (int i = 0; i < N_KEYS && n < sizeof allowed - 64; i++)
        n += (size_t)snprintf(allowed + n, sizeof allowed - n, "%s%s", i ? ", " : "", KEYS[i].name);
    const char *s = suggest_key(name);
    if (s)
        return lc_errorf(LC_ERR_CONFIG, "%s: unknown key '%s' (did you mean '%s'?); allowed keys: %s",
                         where, name, s, allowed);
    return lc_errorf(LC_ERR_CONFIG, "%s: unknown key '%s'; allowed keys: %s", where, name, allowed);
}

static lc_status bad_value(const char *where, const key_desc *k, const char *value) {
    return lc_errorf(LC_ERR_CONFIG, "%s: bad value '%s' for '%s': expected %s", where, value, k->name,
                     k->allowed);
}

/* ---- value parsing ---- */

static int parse_bool(const char *v, int *out) {
    static const char *const T[] = {"true", "yes", "on", "1"}, *const Fs[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(v, T[i])) return *out = 1, 1;
        if (!strcasecmp(v, Fs[i])) return *out = 0, 1;
    }
    return 0;
}

static int parse_double(const char *v, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || errno == ERANGE || !isfinite(x)) return 0;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return 0;
    *out = x;
    return 1;
}

static int parse_long(const char *v, long long *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || errno == ERANGE) return 0;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return 0;
    *out = x;
    return 1;
}

/* Normalise a comma-separated target list into canonical PEFT order, or
 * "all-linear". Returns 0 (with *bad set to the offending name) if invalid. */
static int parse_targets(const char *spec, char *out, size_t cap, char *bad, size_t bad_cap) {
    unsigned mask = 0;
    int all = 0, n_names = 0;
    const char *p = spec;
    bad[0] = 0;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *s = p;
        while (*p && *p != ',') p++;
        const char *e = p;
        while (e > s && isspace((unsigned char)e[-1])) e--;
        size_t len = (size_t)(e - s);
        char name[64];
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, s, len);
        name[len] = 0;
        n_names++;
        if (!strcmp(name, "all-linear") || !strcmp(name, "all")) { all = 1; continue; }
        if (!strcmp(name, "c_proj")) {
            mask |= (1u << TARGET_ATTN_C_PROJ) | (1u << TARGET_MLP_C_PROJ);
            continue;
        }
        int found = -1;
        for (int t = 0; TARGET_NAMES[t]; t++)
            if (!strcmp(name, TARGET_NAMES[t])) found = t;
        if (found < 0) {
            snprintf(bad, bad_cap, "%s", name);
            return 0;
        }
        mask |= 1u << found;
    }
    if (n_names == 0) return 0;
    if (all) {
        snprintf(out, cap, "all-linear");
        return 1;
    }
    size_t n = 0;
    out[0] = 0;
    for (int t = 0; TARGET_NAMES[t]; t++)
        if (mask & (1u << t)) n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "", TARGET_NAMES[t]);
    return 1;
}

/* add_tokens from JSON text v (a list of strings; a flag may give a lone
 * token string, which is not JSON, as is), checked by lc_tokens_parse_added. */
static lc_status set_add_tokens(char *base, const key_desc *k, const char *v, const char *where) {
    json_t *j = *v ? json_loads(v, JSON_DECODE_ANY, NULL) : json_null();
    if (!j && *v != '[') j = json_pack("[s]", v); /* one token given alone: "<|tool|>" */
    if (!j) return lc_errorf(LC_ERR_CONFIG, "%s: bad value '%s' for '%s': expected %s", where, v, k->name, k->allowed);
    char *text = json_is_null(j) || (json_is_array(j) && !json_array_size(j)) ? NULL : json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    char **strs = NULL;
    int n = 0;
    lc_status st = text && strlen(text) >= k->size
                       ? lc_errorf(LC_ERR_CONFIG, "value for '%s' is %zu bytes long; at most %zu allowed", k->name,
                                   strlen(text), k->size - 1)
                       : lc_tokens_parse_added(text, &strs, &n);
    lc_tokens_strs_free(strs, n);
    if (!st) snprintf(base, k->size, "%s", text ? text : "");
    free(text);
    return st ? lc_error_wrap(st, "%s", where) : LC_OK;
}

/* K_JSON key k from JSON text v (a flag's value, or what the YAML loader
 * built from a mapping / list), normalised to one line of JSON and checked
 * as lc_lora_patterns_check does. "", null, {} and [] clear it. A flag may
 * also give layers_to_transform or trainable_token_indices as "0,2,5". */
static lc_status set_json(lc_train_config *cfg, const key_desc *k, const char *v, const char *where) {
    char *base = (char *)cfg + k->off, buf[LC_CFG_PATH_MAX + 2];
    json_error_t err;
    while (isspace((unsigned char)*v)) v++;
    if (!strcmp(k->name, "add_tokens")) return set_add_tokens(base, k, v, where);
    if ((!strcmp(k->name, "layers_to_transform") || !strcmp(k->name, "trainable_token_indices")) && *v &&
        *v != '[' && *v != '{' && strchr(v, ',') &&
        strlen(v) < sizeof buf - 2) {
        snprintf(buf, sizeof buf, "[%s]", v);
        v = buf;
    }
    json_t *j = *v ? json_loads(v, JSON_DECODE_ANY, &err) : json_null();
    if (!j) return lc_errorf(LC_ERR_CONFIG, "%s: bad value '%s' for '%s': %s; expected %s", where, v, k->name, err.text,
                             k->allowed);
    char *text = NULL;
    if (!json_is_null(j) && !(json_is_object(j) && !json_object_size(j)) && !(json_is_array(j) && !json_array_size(j)))
        text = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    size_t n = text ? strlen(text) : 0;
    if (n >= k->size) {
        free(text);
        return lc_errorf(LC_ERR_CONFIG, "%s: value for '%s' is %zu bytes long; at most %zu allowed", where, k->name, n,
                         k->size - 1);
    }
    lc_lora_config lc;
    memset(&lc, 0, sizeof lc);
    char *dst = !strcmp(k->name, "rank_pattern") ? lc.rank_pattern
                : !strcmp(k->name, "alpha_pattern") ? lc.alpha_pattern
                : !strcmp(k->name, "trainable_token_indices") ? lc.trainable_token_indices : lc.layers_to_transform;
    memcpy(dst, text ? text : "", n + 1);
    free(text);
    lc_status st = lc_lora_patterns_check(&lc);
    if (st) return lc_error_wrap(st, "%s", where);
    memcpy(base, dst, n + 1);
    return LC_OK;
}

/* JSON text of a YAML node (mapping of scalars to numbers, list of numbers,
 * or a scalar), for a K_JSON key; NULL for deeper nesting or a bad scalar. */
static json_t *yaml_to_json(yaml_document_t *doc, yaml_node_t *n, int depth) {
    if (n->type == YAML_SCALAR_NODE) {
        const char *s = (const char *)n->data.scalar.value;
        json_t *j = NULL;
        if (depth > 0 && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) j = json_loads(s, JSON_DECODE_ANY, NULL);
        if (!j && depth > 0) j = json_string(s); /* quoted, or a plain string such as - <obs> */
        if (!j && depth == 0) j = json_loads(s, JSON_DECODE_ANY, NULL);
        return j;
    }
    if (depth > 1) return NULL;
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; a && it < n->data.sequence.items.top; it++) {
            json_t *e = yaml_to_json(doc, yaml_document_get_node(doc, *it), depth + 1);
            if (!e || json_array_append_new(a, e)) json_decref(a), a = NULL;
        }
        return a;
    }
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; o && p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        json_t *e = yaml_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1);
        if (kn->type != YAML_SCALAR_NODE || !e || json_object_set_new(o, (const char *)kn->data.scalar.value, e))
            json_decref(o), o = NULL;
    }
    return o;
}

/* Set key k from string v; `where` prefixes error messages. */
static lc_status set_value(lc_train_config *cfg, const key_desc *k, const char *v, const char *where) {
    char *base = (char *)cfg + k->off;
    switch (k->type) {
    case K_STR: {
        size_t len = strlen(v);
        if (len >= k->size)
            return lc_errorf(LC_ERR_CONFIG, "%s: value for '%s' is %zu bytes long; at most %zu allowed",
                             where, k->name, len, k->size - 1);
        memcpy(base, v, len + 1);
        return LC_OK;
    }
    case K_INT: {
        long long x;
        if (!parse_long(v, &x) || x < (long long)k->lo || x > (long long)k->hi) return bad_value(where, k, v);
        *(int *)base = (int)x;
        return LC_OK;
    }
    case K_U64: {
        char *end;
        errno = 0;
        while (isspace((unsigned char)*v)) v++;
        unsigned long long x = strtoull(v, &end, 10);
        if (*v == '-' || end == v || *end || errno == ERANGE) return bad_value(where, k, v);
        *(uint64_t *)base = (uint64_t)x;
        return LC_OK;
    }
    case K_DBL: {
        double x;
        if (!parse_double(v, &x)) return bad_value(where, k, v);
        if (x < k->lo || x > k->hi || (k->lo_open && x == k->lo) || (k->hi_open && x == k->hi))
            return bad_value(where, k, v);
        *(double *)base = x;
        return LC_OK;
    }
    case K_BOOL: {
        int b;
        if (!parse_bool(v, &b)) return bad_value(where, k, v);
        *(int *)base = b;
        return LC_OK;
    }
    case K_ENUM:
        for (int i = 0; k->choices[i]; i++)
            if (!strcmp(v, k->choices[i])) {
                *(int *)base = i;
                return LC_OK;
            }
        return bad_value(where, k, v);
    case K_JSON: return set_json(cfg, k, v, where);
    case K_TARGETS: {
        char bad[64];
        if (!parse_targets(v, base, k->size, bad, sizeof bad)) {
            if (bad[0])
                return lc_errorf(LC_ERR_CONFIG, "%s: bad value '%s' for 'target_modules': unknown module '%s'; expected %s",
                                 where, v, bad, k->allowed);
            return bad_value(where, k, v);
        }
        return LC_OK;
    }
    }
    return lc_errorf(LC_ERR_ARG, "internal: key type %d", (int)k->type);
}

lc_status lc_train_config_set(lc_train_config *cfg, const char *key, const char *value) {
    char name[128], where[160];
    size_t i = 0;
    if (!key || !value) return lc_errorf(LC_ERR_ARG, "lc_train_config_set: NULL key or value");
    while (*key == '-') key++;
    for (; key[i] && i < sizeof name - 1; i++) name[i] = key[i] == '-' ? '_' : key[i];
    name[i] = 0;
    snprintf(where, sizeof where, "--%s", key);
    const key_desc *k = find_key(name);
    if (!k) return unknown_key(where, name);
    return set_value(cfg, k, value, where);
}

/* ---- YAML ---- */

/* Plain (unquoted) scalars that YAML reads as null. */
static int is_null_scalar(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* Apply one `key: value` pair. */
static lc_status apply_pair(lc_train_config *cfg, yaml_document_t *doc, yaml_node_pair_t *pair,
                            const char *path, int *seen_line) {
    yaml_node_t *kn = yaml_document_get_node(doc, pair->key);
    yaml_node_t *vn = yaml_document_get_node(doc, pair->value);
    char where[LC_CFG_PATH_MAX + 32];
    int kline = (int)kn->start_mark.line + 1, vline = (int)vn->start_mark.line + 1;
    snprintf(where, sizeof where, "%s:%d", path, kline);
    if (kn->type != YAML_SCALAR_NODE)
        return lc_errorf(LC_ERR_CONFIG, "%s: expected a key name, found a %s", where,
                         kn->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
    const char *name = (const char *)kn->data.scalar.value;
    const key_desc *k = find_key(name);
    if (!k) return unknown_key(where, name);
    int idx = (int)(k - KEYS);
    if (seen_line[idx])
        return lc_errorf(LC_ERR_CONFIG, "%s: duplicate key '%s' (first set at line %d)", where, name,
                         seen_line[idx]);
    seen_line[idx] = kline;
    snprintf(where, sizeof where, "%s:%d", path, vline);

    if (k->type == K_JSON && vn->type != YAML_SCALAR_NODE) {
        json_t *j = yaml_to_json(doc, vn, 0);
        char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
        json_decref(j);
        if (!text)
            return lc_errorf(LC_ERR_CONFIG, "%s: bad value for '%s': expected %s (numbers, no nesting)", where, name,
                             k->allowed);
        lc_status st = set_value(cfg, k, text, where);
        free(text);
        return st;
    }
    if (vn->type == YAML_MAPPING_NODE)
        return lc_errorf(LC_ERR_CONFIG, "%s: bad value for '%s': expected %s, found a mapping", where,
                         name, k->allowed);
    if (vn->type == YAML_SEQUENCE_NODE) {
        if (k->type != K_TARGETS)
            return lc_errorf(LC_ERR_CONFIG, "%s: bad value for '%s': expected %s, found a list", where,
                             name, k->allowed);
        char joined[LC_CFG_PATH_MAX];
        size_t n = 0;
        joined[0] = 0;
        for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(doc, *it);
            if (e->type != YAML_SCALAR_NODE)
                return lc_errorf(LC_ERR_CONFIG, "%s:%d: bad value for 'target_modules': expected module names, found a nested %s",
                                 path, (int)e->start_mark.line + 1,
                                 e->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
            const char *s = (const char *)e->data.scalar.value;
            if (n + strlen(s) + 2 >= sizeof joined)
                return lc_errorf(LC_ERR_CONFIG, "%s: 'target_modules' list too long", where);
            n += (size_t)snprintf(joined + n, sizeof joined - n, "%s%s", n ? "," : "", s);
        }
        return set_value(cfg, k, joined, where);
    }
    if (is_null_scalar(vn)) {
        if (k->type == K_STR || k->type == K_JSON) return set_value(cfg, k, "", where);
        return lc_errorf(LC_ERR_CONFIG, "%s: missing value for '%s': expected %s", where, name, k->allowed);
    }
    return set_value(cfg, k, (const char *)vn->data.scalar.value, where);
}

/* A config is one YAML document: a second one ("---" and more keys) would
 * be silently ignored, so it is an error naming its line. */
static lc_status refuse_second_document(yaml_parser_t *parser, const char *path) {
    yaml_document_t next;
    if (!yaml_parser_load(parser, &next))
        return lc_errorf(LC_ERR_FORMAT, "%s:%d: YAML syntax error after the first document: %s", path,
                         (int)parser->problem_mark.line + 1, parser->problem ? parser->problem : "?");
    yaml_node_t *root = yaml_document_get_root_node(&next);
    int line = root ? (int)next.start_mark.line + 1 : 0;
    yaml_document_delete(&next);
    if (root)
        return lc_errorf(LC_ERR_FORMAT, "%s:%d: a second YAML document ('---'); lorac reads one document per "
                         "config, so its keys would be ignored: merge them into the first", path, line);
    return LC_OK;
}

/* The YAML mapping in f (named `path` in messages) over *cfg. */
static lc_status load_yaml_stream(lc_train_config *cfg, FILE *f, const char *path) {
    lc_status st = LC_OK;
    yaml_parser_t parser;
    yaml_document_t doc;
    int parser_ok = 0, doc_ok = 0;
    int seen_line[N_KEYS];
    memset(seen_line, 0, sizeof seen_line);

    if (!yaml_parser_initialize(&parser)) {
        st = lc_errorf(LC_ERR_NOMEM, "%s: cannot initialise the YAML parser", path);
        goto fail;
    }
    parser_ok = 1;
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        st = lc_errorf(LC_ERR_FORMAT, "%s:%d: YAML syntax error: %s%s%s", path,
                       (int)parser.problem_mark.line + 1, parser.problem ? parser.problem : "?",
                       parser.context ? " " : "", parser.context ? parser.context : "");
        goto fail;
    }
    doc_ok = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) goto fail; /* empty file: nothing to apply */
    if (root->type == YAML_SCALAR_NODE && is_null_scalar(root)) goto fail;
    if (root->type != YAML_MAPPING_NODE) {
        st = lc_errorf(LC_ERR_FORMAT, "%s:%d: expected a mapping of `key: value` lines, found a %s", path,
                       (int)root->start_mark.line + 1, root->type == YAML_SEQUENCE_NODE ? "list" : "scalar");
        goto fail;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        st = apply_pair(cfg, &doc, p, path, seen_line);
        if (st != LC_OK) goto fail;
    }
    st = refuse_second_document(&parser, path);
fail:
    if (doc_ok) yaml_document_delete(&doc);
    if (parser_ok) yaml_parser_delete(&parser);
    return st;
}

lc_status lc_train_config_load_yaml(lc_train_config *cfg, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return lc_errorf(LC_ERR_IO, "%s: cannot open config: %s", path, strerror(errno));
    lc_status st = load_yaml_stream(cfg, f, path);
    fclose(f);
    return st;
}

lc_status lc_train_config_load_yaml_text(lc_train_config *cfg, const char *text, const char *name) {
    if (!*text) return LC_OK; /* fmemopen refuses size 0; an empty document applies nothing */
    FILE *f = fmemopen((void *)text, strlen(text), "rb");
    if (!f) return lc_errorf(LC_ERR_NOMEM, "%s: cannot read the config text: %s", name, strerror(errno));
    lc_status st = load_yaml_stream(cfg, f, name);
    fclose(f);
    return st;
}

/* ---- validation ---- */

lc_status lc_train_config_validate(const lc_train_config *c) {
    if (!c->model[0])
        return lc_errorf(LC_ERR_CONFIG, "'model' is required: set `model:` in the config or pass --model PATH");
    if (!c->data[0])
        return lc_errorf(LC_ERR_CONFIG, "'data' is required: set `data:` in the config or pass --data FILE");
    if (c->warmup_ratio < 0 || c->warmup_ratio >= 1)
        return lc_errorf(LC_ERR_CONFIG, "'warmup_ratio' is %g: expected a number in [0, 1)", c->warmup_ratio);
    if (c->warmup_steps > 0 && c->warmup_ratio > 0)
        return lc_errorf(LC_ERR_CONFIG, "'warmup_steps' (%d) and 'warmup_ratio' (%g) are both set: use one",
                         c->warmup_steps, c->warmup_ratio);
    if (c->r <= 0) return lc_errorf(LC_ERR_CONFIG, "'r' is %d: expected an integer >= 1", c->r);
    if (!(c->alpha > 0)) return lc_errorf(LC_ERR_CONFIG, "'alpha' is %g: expected a number > 0", c->alpha);
    if (!(c->dropout >= 0 && c->dropout < 1))
        return lc_errorf(LC_ERR_CONFIG, "'dropout' is %g: expected a number in [0, 1)", c->dropout);
    if (!(c->lr > 0)) return lc_errorf(LC_ERR_CONFIG, "'lr' is %g: expected a number > 0", c->lr);
    if (!(c->split >= 0 && c->split < 1))
        return lc_errorf(LC_ERR_CONFIG, "'split' is %g: expected a number in [0, 1)", c->split);
    if (c->batch_size < 1 || c->grad_accum < 1)
        return lc_errorf(LC_ERR_CONFIG, "'batch_size' (%d) and 'grad_accum' (%d) must be >= 1",
                         c->batch_size, c->grad_accum);
    if (c->epochs < 1 && c->max_steps <= 0)
        return lc_errorf(LC_ERR_CONFIG, "'epochs' is %d and 'max_steps' is %d: set epochs >= 1 or max_steps >= 1",
                         c->epochs, c->max_steps);
    if (c->max_seq_len < 2)
        return lc_errorf(LC_ERR_CONFIG, "'max_seq_len' is %d: expected an integer >= 2", c->max_seq_len);
    if (!c->target_modules[0])
        return lc_errorf(LC_ERR_CONFIG, "'target_modules' is empty: expected e.g. q_proj,v_proj or all-linear");
    if (!c->chat_template[0])
        return lc_errorf(LC_ERR_CONFIG, "'chat_template' is empty: expected none, auto, chatml, llama2, llama3, gemma or a template");
    if (c->data_format == LC_FMT_CSV || c->data_format == LC_FMT_AUTO) {
        if (!c->csv_prompt_column[0] || !c->csv_completion_column[0])
            return lc_errorf(LC_ERR_CONFIG, "'csv_prompt_column' and 'csv_completion_column' must name csv header columns");
        if (!strcmp(c->csv_prompt_column, c->csv_completion_column))
            return lc_errorf(LC_ERR_CONFIG, "'csv_prompt_column' and 'csv_completion_column' are both '%s': they must differ",
                             c->csv_prompt_column);
    }
    if (c->early_stopping_patience > 0 && !c->valid_data[0] && c->split <= 0)
        return lc_errorf(LC_ERR_CONFIG, "'early_stopping_patience' is %d but there is no validation data: set 'valid_data' or 'split' > 0",
                         c->early_stopping_patience);
    if (c->batch_tokens > 0 && c->padding_free == LC_PF_OFF)
        return lc_errorf(LC_ERR_CONFIG, "'batch_tokens' is %d but 'padding_free' is false: a token budget needs "
                         "padding-free batches (set padding_free: auto or true, or batch_tokens: 0 and use batch_size)",
                         c->batch_tokens);
    if (c->batch_tokens < 0)
        return lc_errorf(LC_ERR_CONFIG, "'batch_tokens' is %d: expected an integer >= 0", c->batch_tokens);
    if (c->packing && c->truncation == LC_TRUNC_DROP)
        return lc_errorf(LC_ERR_CONFIG, "'packing' splits long rows across sequences; 'truncation: drop' does not apply: use truncation: truncate");
    if (!(c->loraplus_lr_ratio > 0))
        return lc_errorf(LC_ERR_CONFIG, "'loraplus_lr_ratio' is %g: expected a number > 0", c->loraplus_lr_ratio);
    return LC_OK;
}

/* ---- saving ---- */

/* YAML double-quoted string with escapes; UTF-8 bytes are written as they are. */
static void write_quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\t': fputs("\\t", f); break;
        case '\r': fputs("\\r", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\x%02x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* Shortest %g form that reads back to the same double. */
static void write_double(FILE *f, double x) {
    char buf[64];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    fputs(buf, f);
}

static void write_value(FILE *f, const lc_train_config *cfg, const key_desc *k) {
    const char *base = (const char *)cfg + k->off;
    switch (k->type) {
    case K_STR:
    case K_TARGETS: write_quoted(f, base); break;
    case K_INT: fprintf(f, "%d", *(const int *)base); break;
    case K_U64: fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)base); break;
    case K_DBL: write_double(f, *(const double *)base); break;
    case K_BOOL: fputs(*(const int *)base ? "true" : "false", f); break;
    case K_ENUM: fputs(k->choices[*(const int *)base], f); break;
    case K_JSON: fputs(*base ? base : "null", f); break;
    }
}

lc_status lc_train_config_to_yaml(const lc_train_config *cfg, FILE *f) {
    fputs("# lorac train: resolved run configuration (load with --config)\n", f);
    for (int i = 0; i < N_KEYS; i++) {
        fprintf(f, "%s: ", KEYS[i].name);
        write_value(f, cfg, &KEYS[i]);
        fputc('\n', f);
    }
    if (fflush(f) != 0 || ferror(f)) return lc_errorf(LC_ERR_IO, "writing the run config: %s", strerror(errno));
    return LC_OK;
}

const char *lc_train_config_key_name(int i) { return i >= 0 && i < N_KEYS ? KEYS[i].name : NULL; }

/* One key's value as YAML writes it (shortest round-trip form for numbers),
 * into a malloc'd string; NULL when out of memory. */
static char *value_text(const lc_train_config *cfg, const key_desc *k) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    write_value(f, cfg, k);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

int lc_train_config_diff(const lc_train_config *a, const lc_train_config *b, lc_config_diff_fn fn, void *user) {
    int n = 0;
    for (int i = 0; i < N_KEYS; i++) {
        char *va = value_text(a, &KEYS[i]), *vb = value_text(b, &KEYS[i]);
        if (!va || !vb) {
            free(va);
            free(vb);
            return -1;
        }
        if (strcmp(va, vb)) {
            n++;
            if (fn) fn(user, KEYS[i].name, va, vb);
        }
        free(va);
        free(vb);
    }
    return n;
}

void lc_train_config_help(FILE *f) {
    lc_train_config d = lc_train_config_default();
    for (int i = 0; i < N_KEYS; i++) {
        fprintf(f, "  --%-24s %s (default: ", KEYS[i].name, KEYS[i].help);
        write_value(f, &d, &KEYS[i]);
        fprintf(f, "; %s)\n", KEYS[i].allowed);
    }
}
