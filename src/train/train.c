/*
 * train.c — the training loop behind `lorac train` (contract in lc_train.h).
 *
 *   config ─ lc_base_open ─ lc_dataset_load/split ─ lc_rows_build ─ lc_batcher
 *      └─ per step: grad_accum micro-batches → lc_forward_backward (grad scale
 *         1/targets of the whole step) → lc_lora_optimizer_step (clip + AdamW)
 *         → metrics → eval / checkpoint / early stop.
 *
 * Three phases, in this order in the file's second half: set-up (setup:
 * trials, inputs, adapters, batches, files, header, step-0 evaluation), the
 * loop (train_loop: one short function per phase of a step) and finish
 * (final adapters, test set, results). Nothing here prints: messages,
 * metrics rows and per-step progress go to the caller's lc_reporter
 * (lc_reporter.h); the CLI draws them (cli/cli_progress.c).
 *
 * Determinism: every random choice derives from cfg->seed and the step, and
 * all state that changes is saved in checkpoints, so a resumed run repeats
 * the uninterrupted one bit for bit (for the same thread count).
 *
 * Under MPI (lc_dist.h, docs/scale-out.md) every rank builds the same
 * batches; rank r computes micro-batches i % N == r, the LoRA gradients and
 * losses are summed over ranks before the optimizer step, and rank 0 alone
 * writes files. The hooks are marked "dist:".
 *
 * One pass, several trials (lc_train_run_multi, `lorac sweep --one-pass`):
 * the trials share the model, the rows, the batcher and the activations; per
 * step the one batch goes through lc_forward_backward_multi for all of them,
 * then each trial takes its own optimizer step, evaluation, metrics and
 * checkpoints in its own run directory. A plain run is the K = 1 case, so
 * both are one code path.
 */
#include "lc_path.h"
#include "lc_cpu.h"
#include "lc_train.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lc_adapter.h"
#include "lc_base.h"
#include "lc_ckpt.h"
#include "lc_data.h"
#include "lc_dist.h"
#include "lc_eval.h"
#include "lc_fsafe.h"
#include "run_dir.h"
#include "lc_schedule.h"
#include "lc_transformer.h"

static volatile sig_atomic_t g_stop_requested = 0;

void lc_train_request_stop(void) { g_stop_requested = 1; }

/* One trial: an adapter with its optimizer state, run directory and files.
 * A plain run is one trial; a one-pass sweep trains several in lockstep. */
typedef struct {
    const lc_train_config *cfg;
    lc_train_result *res;
    lc_lora lora;
    int lora_ready;
    lc_train_state state;
    FILE *jsonl, *csv;
    char *config_yaml;
    float *backup;   /* (3, n_params): params, m, v before the step, restored if it fails */
    int active;      /* still training (not stopped early) */
    int skipped;     /* this step was skipped (non-finite) */
    double loss;     /* mean loss of the last step */
    int lock_fd;     /* flock on out_dir/.lorac.lock for the life of the run; -1 none */
    float *init0;    /* init pissa / olora: the initial A/B (n_params); the base holds the residual */
} trial;

typedef struct {
    const lc_train_config *cfg; /* trial 0's config: the keys every trial shares */
    int K;
    trial *tr;                  /* (K) */
    int resume;
    int64_t resume_step;        /* the checkpoint step resumed from; -1 for a fresh run */
    const lc_reporter *rep;     /* NULL: nothing reported (and on every MPI rank but 0) */
    lc_train_debug debug;       /* a copy: each hook fires once */
    lc_base base;
    lc_chat_template *tmpl;
    lc_rows train_rows, valid_rows, test_rows;
    lc_acts *acts;
    lc_batcher batcher;
    int batcher_ready;
    int32_t pad_id;
    int threads;
    int maxT;                   /* longest row of any split: the activations' row length */
    lc_matmul_path path;        /* the frozen-matmul path that runs */
    int padding_free;           /* the resolved padding_free key */
    /* copies of the micro-batches of one step (shared by all trials): the
     * arrays of micro-batch i at i * mb_cap (seg at i * (mb_cap + 1)) */
    int32_t *mb_tokens, *mb_targets, *mb_slot, *mb_seg;
    int64_t mb_cap;
    lc_batch *mb; /* (grad_accum) */
} run;

/* dir/name into buf, or LC_ERR_ARG when it does not fit (never a cut path). */

static lc_status out_path(char *buf, size_t size, const trial *t, const char *name) {
    return lc_path_join(buf, size, t->cfg->out_dir, name);
}

static char *config_to_string(const lc_train_config *cfg) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    lc_status st = lc_train_config_to_yaml(cfg, f);
    fclose(f);
    if (st) {
        free(text);
        return NULL;
    }
    return text;
}

/* ------------------------------------------------------------------ data */

static lc_status load_rows(run *R) {
    const lc_train_config *cfg = R->cfg;
    lc_dataset all = {0}, train = {0}, valid = {0};
    lc_status st = lc_dataset_load(&all, cfg->data, cfg);
    if (st) return st;
    if (cfg->valid_data[0]) {
        train = all;
        memset(&all, 0, sizeof all);
        st = lc_dataset_load(&valid, cfg->valid_data, cfg);
    } else if (cfg->split > 0) {
        st = lc_dataset_split(&all, cfg->split, cfg->seed, &train, &valid);
    } else {
        train = all;
        memset(&all, 0, sizeof all);
    }
    if (!st) st = lc_data_template_resolve(&R->tmpl, cfg, R->base.tok, R->base.model.fam.name);
    lc_rows raw = {0};
    if (!st) st = lc_rows_build(&raw, &train, R->base.tok, R->tmpl, cfg);
    /* counts of the tokenisation step (packing makes new rows) */
    int n_truncated = raw.n_truncated, n_long = raw.n_dropped_long, n_no_loss = raw.n_dropped_no_loss;
    if (!st && cfg->packing) {
        st = lc_rows_pack(&R->train_rows, &raw, cfg->max_seq_len);
        lc_rows_free(&raw);
    } else if (!st) {
        R->train_rows = raw;
    }
    if (!st && valid.n) st = lc_rows_build(&R->valid_rows, &valid, R->base.tok, R->tmpl, cfg);
    if (!st && cfg->test_data[0]) {
        lc_dataset test = {0};
        st = lc_dataset_load(&test, cfg->test_data, cfg);
        if (!st) st = lc_rows_build(&R->test_rows, &test, R->base.tok, R->tmpl, cfg);
        lc_dataset_free(&test);
    }
    if (!st) {
        lc_reporter_msg(R->rep, LC_REPORT_DETAIL,
                "lorac: %d training rows (%lld answer tokens, longest %d; %d truncated, %d dropped as too "
                "long, %d without answer tokens; %d bad rows skipped), %d validation rows, template %s",
                R->train_rows.n_rows, (long long)R->train_rows.n_loss_tokens, R->train_rows.max_len,
                n_truncated, n_long, n_no_loss, train.n_skipped, R->valid_rows.n_rows,
                lc_chat_template_name(R->tmpl));
    }
    if (!st && R->train_rows.n_rows == 0)
        st = lc_errorf(LC_ERR_FORMAT, "%s: no usable training rows", cfg->data);
    lc_dataset_free(&all);
    lc_dataset_free(&train);
    lc_dataset_free(&valid);
    return st;
}

/* ---------------------------------------------------------- checkpoints */

/* Keys a resumed run may change: they only stop, extend, log or place the
 * run (or choose which checkpoints are kept), never the training trajectory
 * up to the resumed step. threads: the numbers are bit-identical only for
 * the same thread count, but a run may go on with fewer or more threads. */
static const char *const RESUME_MAY_CHANGE[] = {
    "max_steps", "epochs", "eval_every", "save_every", "keep_last", "log_every", "threads",
    "early_stopping_patience", "max_nan_steps", "out_dir", "test_data", NULL};

/* Keys the trials of one pass may set differently: each trial's adapter,
 * optimizer, schedule and run directory. Everything else (model, data,
 * batching, seed, evaluation and save steps) decides the shared batches. */
static const char *const ONE_PASS_MAY_DIFFER[] = {
    "r", "alpha", "dropout", "target_modules", "rslora", "init", "lr", "lr_schedule", "warmup_steps",
    "warmup_ratio", "weight_decay", "max_grad_norm", "adam_beta1", "adam_beta2", "adam_eps", "loraplus_lr_ratio",
    "rank_pattern", "alpha_pattern", "layers_to_transform", "trainable_token_indices", "init_adapter", "neftune_alpha",
    "out_dir", "keep_last", "early_stopping_patience", "max_nan_steps", NULL};

/* The keys two configs may not differ in, listed "key a -> b; key a -> b". */
typedef struct {
    const char *const *allowed; /* keys that may differ */
    FILE *f;                    /* the list (a memory stream) */
    int n;                      /* keys listed */
} diff_list;

static void list_diff(void *user, const char *key, const char *a, const char *b) {
    diff_list *d = user;
    for (int i = 0; d->allowed[i]; i++)
        if (!strcmp(key, d->allowed[i])) return;
    fprintf(d->f, "%s%s %s -> %s", d->n++ ? "; " : "", key, a, b);
}

/* The keys (not in `allowed`) whose values differ between a and b, as one
 * malloc'd "key a -> b; ..." list in *text ("" when none). */
static lc_status config_diff_text(const lc_train_config *a, const lc_train_config *b, const char *const *allowed,
                                  char **text) {
    size_t len = 0;
    *text = NULL;
    diff_list d = {allowed, open_memstream(text, &len), 0};
    if (!d.f) return lc_errorf(LC_ERR_NOMEM, "out of memory comparing configs");
    int n = lc_train_config_diff(a, b, list_diff, &d);
    if (fclose(d.f) != 0 || n < 0) {
        free(*text);
        *text = NULL;
        return lc_errorf(LC_ERR_NOMEM, "out of memory comparing configs");
    }
    return LC_OK;
}

/* A resumed run must keep the config its checkpoint was trained with, except
 * for RESUME_MAY_CHANGE keys: LC_ERR_CONFIG naming every key that differs. */
static lc_status check_resume_config(const char *ckpt_path, const char *saved_yaml, const lc_train_config *now) {
    if (!saved_yaml) return lc_errorf(LC_ERR_FORMAT, "%s: no config.yaml stored in the checkpoint", ckpt_path);
    lc_train_config saved = lc_train_config_default();
    lc_status st = lc_train_config_load_yaml_text(&saved, saved_yaml, ckpt_path);
    if (st) return lc_error_wrap(st, "--resume: the config stored in the checkpoint");
    char *diff;
    if ((st = config_diff_text(&saved, now, RESUME_MAY_CHANGE, &diff))) return st;
    if (diff[0])
        st = lc_errorf(LC_ERR_CONFIG,
                       "--resume: the config differs from the one %s was trained with: %s (a resumed run keeps "
                       "its training config; only max_steps, epochs, eval_every, save_every, keep_last, "
                       "log_every, threads, early_stopping_patience, max_nan_steps, test_data may change)",
                       ckpt_path, diff);
    free(diff);
    return st;
}

static lc_status save_checkpoint(run *R, trial *t, const char *name, int with_state) {
    if (!lc_dist_is_root()) return LC_OK; /* dist: rank 0 writes */
    char path[1200];
    lc_status st = out_path(path, sizeof path, t, name);
    if (st) return st;
    if (with_state && R->batcher_ready) {
        lc_batcher_state bs = lc_batcher_get_state(&R->batcher);
        t->state.epoch = bs.epoch;
        t->state.pos = bs.pos;
        memcpy(t->state.epoch_rng, bs.rng.s, sizeof t->state.epoch_rng);
    }
    /* the template as lc_chat_template_create takes it back: a name, or the custom string itself */
    const char *tmpl = lc_chat_template_name(R->tmpl);
    if (!strcmp(tmpl, "custom")) tmpl = t->cfg->chat_template;
    if (t->init0 && !with_state) { /* best.h5, adapter.h5: PEFT's conversion, for the original base */
        lc_lora conv;
        st = lc_lora_convert_to_base(&conv, &t->lora, t->init0, &R->base.model);
        if (!st) {
            st = lc_adapter_save(path, &conv, &R->base.model, tmpl, NULL, t->config_yaml);
            lc_lora_free(&conv);
        }
    } else {
        st = lc_adapter_save(path, &t->lora, &R->base.model, tmpl, with_state ? &t->state : NULL, t->config_yaml);
    }
    if (st) lc_error_wrap(st, "saving %s", path);
    return st;
}

static lc_status save_step_checkpoint(run *R, trial *t) {
    char name[64];
    snprintf(name, sizeof name, "checkpoint-%lld.h5", (long long)t->state.step);
    lc_status st = save_checkpoint(R, t, name, 1);
    if (!st && t->cfg->keep_last > 0 && lc_dist_is_root()) st = lc_ckpt_prune(t->cfg->out_dir, "checkpoint", t->cfg->keep_last, NULL);
    return st;
}

/* The step of one metrics line: jsonl {"step": N, ...} (parsed as JSON),
 * csv "N,...". 0 on success, -1 when the line has no such step. *test: the
 * line is the test-loss line of a run's end (jsonl). */
static int metrics_line_step(const char *line, int is_csv, long long *step, int *test) {
    *test = 0;
    if (is_csv) {
        char *end;
        errno = 0;
        *step = strtoll(line, &end, 10);
        return end != line && *end == ',' && errno == 0 ? 0 : -1;
    }
    json_error_t e;
    json_t *o = json_loads(line, 0, &e), *s = json_object_get(o, "step");
    int ok = json_is_integer(s);
    if (ok) *step = (long long)json_integer_value(s);
    *test = json_object_get(o, "test_loss") != NULL;
    json_decref(o);
    return ok ? 0 : -1;
}

/* Keep the metrics lines of steps <= last_step (a resumed run rewrites the
 * rest, and its test-loss line at its end: an earlier one is dropped, also
 * when the run resumes at its last step). A last line without its newline is the torn write of a killed run
 * and is dropped; any other line without a step is LC_ERR_FORMAT naming it.
 * The file is replaced atomically; read and write errors are returned. */
static lc_status trim_metrics(const char *path, int64_t last_step, int is_csv) {
    struct stat sb;
    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return lc_errorf(LC_ERR_IO, "%s is not a regular file (a symlink?); lorac does not follow it", path);
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? LC_OK : lc_errorf(LC_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    char *kept = NULL, *line = NULL;
    size_t kept_len = 0, cap = 0;
    FILE *mem = open_memstream(&kept, &kept_len);
    lc_status st = mem ? LC_OK : lc_errorf(LC_ERR_NOMEM, "out of memory reading %s", path);
    ssize_t n;
    for (int lineno = 1; !st && (n = getline(&line, &cap, f)) > 0; lineno++) {
        long long step;
        int test;
        if (line[n - 1] != '\n') break; /* torn last line */
        if (is_csv && lineno == 1) {    /* the header */
            fputs(line, mem);
            continue;
        }
        if (metrics_line_step(line, is_csv, &step, &test))
            st = lc_errorf(LC_ERR_FORMAT, "%s:%d: expected a metrics line with a step, found '%.*s'", path, lineno,
                           (int)(n > 80 ? 80 : n - 1), line);
        else if (step <= last_step && !test)
            fputs(line, mem);
    }
    if (!st && ferror(f)) st = lc_errorf(LC_ERR_IO, "reading %s: %s", path, strerror(errno));
    free(line);
    fclose(f);
    if (mem && fclose(mem) != 0 && !st) st = lc_errorf(LC_ERR_NOMEM, "out of memory reading %s", path);
    if (!st) st = lc_fs_write_atomic(path, kept, kept_len); /* temp + rename: a symlink is replaced, not followed */
    free(kept);
    return st;
}

/* --------------------------------------------------------------- metrics */

/* A JSON number, or null for NaN/inf (JSON has no NaN). */
static void json_num(FILE *f, const char *key, double v, int comma) {
    if (isfinite(v)) fprintf(f, "%s\"%s\":%.9g", comma ? "," : "", key, v);
    else fprintf(f, "%s\"%s\":null", comma ? "," : "", key);
}

/* A CSV field: the number, or empty for NaN/inf. */
static void csv_num(FILE *f, double v, const char *sep) {
    if (isfinite(v)) fprintf(f, "%.9g", v);
    fputs(sep, f);
}

/* One metrics row: to the reporter, and (rank 0) appended to the trial's
 * metrics.jsonl and metrics.csv; a failed write is LC_ERR_IO naming the file. */
static lc_status log_metrics(run *R, trial *t, const lc_train_metrics *m) {
    lc_reporter_metrics(R->rep, m);
    if (t->jsonl) {
        fprintf(t->jsonl, "{\"step\":%lld,\"epoch\":%lld", (long long)m->step, (long long)m->epoch);
        json_num(t->jsonl, "loss", m->loss, 1);
        json_num(t->jsonl, "lr", m->lr, 1);
        json_num(t->jsonl, "grad_norm", m->grad_norm, 1);
        fprintf(t->jsonl, ",\"targets\":%lld,\"tokens_per_s\":%.1f,\"elapsed_s\":%.3f,\"peak_rss_mb\":%.0f",
                (long long)m->targets, m->tokens_per_s, m->elapsed_s, m->peak_rss_mb);
        if (!isnan(m->valid_loss)) json_num(t->jsonl, "valid_loss", m->valid_loss, 1);
        fputs("}\n", t->jsonl);
        if (fflush(t->jsonl) != 0 || ferror(t->jsonl))
            return lc_errorf(LC_ERR_IO, "writing %s/metrics.jsonl: %s", t->cfg->out_dir, strerror(errno));
    }
    if (t->csv) {
        fprintf(t->csv, "%lld,%lld,", (long long)m->step, (long long)m->epoch);
        csv_num(t->csv, m->loss, ",");
        csv_num(t->csv, m->lr, ",");
        csv_num(t->csv, m->grad_norm, ",");
        fprintf(t->csv, "%lld,%.1f,%.3f,%.0f,", (long long)m->targets, m->tokens_per_s, m->elapsed_s,
                m->peak_rss_mb);
        csv_num(t->csv, m->valid_loss, "\n");
        if (fflush(t->csv) != 0 || ferror(t->csv))
            return lc_errorf(LC_ERR_IO, "writing %s/metrics.csv: %s", t->cfg->out_dir, strerror(errno));
    }
    return LC_OK;
}

/* The progress event of one step: every trial's loss (and valid loss),
 * trial 0's lr; tok_s counts the tokens of all trials. */
static void report_progress(run *R, const double *vloss, double lr, double tok_s, int evaluated) {
    double loss[LC_MAX_TRIALS];
    int active[LC_MAX_TRIALS];
    for (int k = 0; k < R->K; k++) loss[k] = R->tr[k].loss, active[k] = R->tr[k].active;
    const lc_train_state *s = &R->tr[0].state;
    double per_step = s->step > 0 ? s->elapsed_s / (double)s->step : 0;
    int log_every = R->cfg->log_every > 0 ? R->cfg->log_every : 1;
    lc_train_progress p = {.step = s->step, .total_steps = s->total_steps, .n_trials = R->K, .loss = loss,
                           .valid_loss = vloss, .active = active, .lr = lr, .tokens_per_s = tok_s,
                           .eta_s = per_step * (double)(s->total_steps - s->step),
                           .peak_rss_mb = lc_peak_rss_bytes() / 1048576.0, .evaluated = evaluated,
                           .log_due = s->step % log_every == 0};
    lc_reporter_progress(R->rep, &p);
}

/* ------------------------------------------------------------------- step */

/* dist: sum the step's LoRA gradients (already scaled by 1/targets of the
 * whole step) and loss sums over the ranks, so every rank steps alike. */
static lc_status dist_sum_step(run *R, const int *idx, int n, double *loss_sum) {
    if (lc_dist_size() <= 1) return LC_OK;
    lc_status st = lc_dist_sum_doubles(loss_sum, (size_t)n);
    for (int j = 0; j < n && !st; j++) st = lc_dist_sum_floats(R->tr[idx[j]].lora.grads, R->tr[idx[j]].lora.n_params);
    return st;
}

/* dist: refuse to train unless every rank has the same config, model and
 * tokenised data (hashes compared; the error names what differs). */
static lc_status dist_check_inputs(const run *R) {
    if (lc_dist_size() <= 1) return LC_OK;
    lc_status st = LC_OK;
    for (int k = 0; k < R->K && !st; k++) st = lc_dist_check_same_text("the resolved config", R->tr[k].config_yaml);
    uint64_t hm = 0, ht = 0;
    if (!st) st = lc_dist_hash_path(R->cfg->model, &hm);
    if (!st && R->cfg->tokenizer[0]) st = lc_dist_hash_path(R->cfg->tokenizer, &ht);
    char what[1400];
    snprintf(what, sizeof what, "the model (%s)", R->cfg->model);
    if (!st) st = lc_dist_check_same(what, lc_hash64(hm, ht));
    const lc_rows *rows[3] = {&R->train_rows, &R->valid_rows, &R->test_rows};
    const char *names[3] = {R->cfg->data, R->cfg->valid_data[0] ? R->cfg->valid_data : "split of data",
                            R->cfg->test_data};
    for (int i = 0; i < 3 && !st; i++) {
        const lc_rows *r = rows[i];
        uint64_t h = lc_dist_hash_bytes((uint64_t)r->n_rows, r->ids, sizeof(int32_t) * (size_t)r->n_tokens);
        h = lc_dist_hash_bytes(h, r->labels, sizeof(int32_t) * (size_t)r->n_tokens);
        snprintf(what, sizeof what, "the tokenised %s data (%s)", i == 0 ? "training" : i == 1 ? "validation" : "test",
                 names[i]);
        st = lc_dist_check_same(what, h);
    }
    return st;
}

/* Fetch grad_accum micro-batches into owned buffers (targets of the whole
 * step must be known before any backward, for the 1/targets scale). */
static int64_t fetch_step_batches(run *R, int n_micro) {
    int64_t targets = 0, epoch = 0;
    for (int i = 0; i < n_micro; i++) {
        lc_batch b;
        lc_batcher_next(&R->batcher, &b, &epoch);
        size_t off = (size_t)i * R->mb_cap, n = (size_t)lc_batch_tokens(&b);
        lc_batch *c = &R->mb[i];
        *c = b;
        c->tokens = memcpy(R->mb_tokens + off, b.tokens, sizeof(int32_t) * n);
        c->targets = memcpy(R->mb_targets + off, b.targets, sizeof(int32_t) * n);
        if (b.seg) c->seg = memcpy(R->mb_seg + off + i, b.seg, sizeof(int32_t) * ((size_t)b.n_seg + 1));
        if (b.slot) c->slot = memcpy(R->mb_slot + off, b.slot, sizeof(int32_t) * n);
        targets += lc_batch_count_targets(&b);
    }
    for (int k = 0; k < R->K; k++) R->tr[k].state.epoch = epoch;
    return targets;
}

/* The micro-batch layout: padding_free auto and true are on (every
 * architecture has segments: transformer.c, gpt2.c), false pads. */
static lc_status resolve_layout(run *R) {
    const lc_train_config *cfg = R->cfg;
    R->padding_free = cfg->padding_free != LC_PF_OFF;
    return lc_batcher_set_layout(&R->batcher, R->padding_free, cfg->batch_tokens);
}

/* "8" (rows) or "<= 4096 tokens": the micro-batch size for the header. */
static const char *batch_text(const lc_train_config *cfg, char *buf, size_t size) {
    if (cfg->batch_tokens > 0) snprintf(buf, size, "<= %d tokens", cfg->batch_tokens);
    else snprintf(buf, size, "%d", cfg->batch_size);
    return buf;
}

/* Room for grad_accum micro-batches of up to mb_cap tokens each. */
static lc_status alloc_step_batches(run *R) {
    const lc_train_config *cfg = R->cfg;
    int64_t ml = R->train_rows.max_len;
    R->mb_cap = cfg->batch_tokens > 0 ? (cfg->batch_tokens > ml ? cfg->batch_tokens : ml) : cfg->batch_size * ml;
    size_t n = (size_t)cfg->grad_accum * (size_t)R->mb_cap;
    R->mb_tokens = malloc(n * sizeof(int32_t));
    R->mb_targets = malloc(n * sizeof(int32_t));
    R->mb_slot = malloc(n * sizeof(int32_t));
    R->mb_seg = malloc((n + (size_t)cfg->grad_accum) * sizeof(int32_t));
    R->mb = calloc((size_t)cfg->grad_accum, sizeof *R->mb);
    if (!R->mb_tokens || !R->mb_targets || !R->mb_slot || !R->mb_seg || !R->mb)
        return lc_errorf(LC_ERR_NOMEM, "out of memory for %lld-token batches", (long long)n);
    return LC_OK;
}

/* Validation loss of the trials flagged in `which` (all in one pass) into
 * vloss (K; NAN for the others, or without a validation set). */
static lc_status evaluate(run *R, const int *which, double *vloss) {
    const lc_lora *loras[LC_MAX_TRIALS];
    double losses[LC_MAX_TRIALS];
    int idx[LC_MAX_TRIALS], n = 0;
    for (int k = 0; k < R->K; k++) {
        vloss[k] = NAN;
        if (which[k]) {
            idx[n] = k;
            loras[n++] = &R->tr[k].lora;
        }
    }
    if (R->valid_rows.n_rows == 0 || n == 0) return LC_OK;
    lc_status st = lc_eval_rows_loss_multi(&R->base.model, loras, n, R->acts, &R->valid_rows, R->cfg->batch_size,
                                           R->padding_free, R->pad_id, losses, NULL);
    for (int i = 0; i < n && !st; i++) vloss[idx[i]] = losses[i];
    return st;
}

static lc_status after_eval(run *R, trial *t, double vloss, int *stop_early) {
    if (isnan(vloss)) return LC_OK;
    if (vloss < t->state.best_valid_loss) {
        t->state.best_valid_loss = vloss;
        t->state.best_step = t->state.step;
        t->state.evals_since_best = 0;
        return save_checkpoint(R, t, "best.h5", 0);
    }
    t->state.evals_since_best++;
    if (t->cfg->early_stopping_patience > 0 && t->state.evals_since_best >= t->cfg->early_stopping_patience)
        *stop_early = 1;
    return LC_OK;
}

/* "" for a plain run, " (trial out_dir)" when several train together. */
static const char *trial_tag(const run *R, const trial *t, char *buf, size_t size) {
    if (R->K == 1) return "";
    snprintf(buf, size, " (%s)", t->cfg->out_dir);
    return buf;
}

/* The optimizer step of one trial after its gradients are in: clipping,
 * AdamW, and on a non-finite loss/gradient/update the old parameters back
 * and the step counted as skipped. */
static lc_status optimizer_step(run *R, trial *t, int64_t step, double lr, double *gnorm) {
    const lc_train_config *cfg = t->cfg;
    lc_adamw_params opt = {.lr = (float)lr, .beta1 = (float)cfg->adam_beta1, .beta2 = (float)cfg->adam_beta2,
                           .eps = (float)cfg->adam_eps, .weight_decay = (float)cfg->weight_decay,
                           .max_grad_norm = (float)cfg->max_grad_norm,
                           .loraplus_lr_ratio = (float)cfg->loraplus_lr_ratio};
    size_t np = t->lora.n_params;
    memcpy(t->backup, t->lora.params, np * sizeof(float));
    memcpy(t->backup + np, t->lora.m, np * sizeof(float));
    memcpy(t->backup + 2 * np, t->lora.v, np * sizeof(float));
    *gnorm = NAN;
    t->skipped = 0;
    lc_status ost = isfinite(t->loss) ? lc_lora_optimizer_step(&t->lora, &opt, step + 1, gnorm)
                                      : lc_errorf(LC_ERR_NUMERIC, "loss is %g", t->loss);
    if (ost == LC_OK && !lc_all_finite(t->lora.params, np))
        ost = lc_errorf(LC_ERR_NUMERIC, "an update made LoRA parameters non-finite");
    if (ost != LC_ERR_NUMERIC) return ost;
    memcpy(t->lora.params, t->backup, np * sizeof(float));
    memcpy(t->lora.m, t->backup + np, np * sizeof(float));
    memcpy(t->lora.v, t->backup + 2 * np, np * sizeof(float));
    t->state.bad_steps++;
    t->res->skipped_steps++;
    t->skipped = 1;
    char tag[1200];
    lc_reporter_msg(R->rep, LC_REPORT_DETAIL, "lorac: step %lld skipped%s: %s", (long long)step + 1,
                  trial_tag(R, t, tag, sizeof tag), lc_error_msg());
    if (t->state.bad_steps > cfg->max_nan_steps)
        return lc_errorf(LC_ERR_NUMERIC,
                         "%lld consecutive steps had non-finite loss or gradients (max_nan_steps %d): "
                         "training stopped; the last good checkpoint is in %s (try a lower lr)",
                         (long long)t->state.bad_steps, cfg->max_nan_steps, cfg->out_dir);
    /* A skipped step still consumes its batches and its schedule slot. */
    t->state.step++;
    return LC_OK;
}

/* ------------------------------------------------------------------ loop
 *
 * One optimiser step of the trials still training, in phases:
 * stop_if_requested → forward_backward → update → count_step → evaluate_step
 * → log_step → save_step. */

typedef struct {
    int n, idx[LC_MAX_TRIALS]; /* the trials taking this step */
    int64_t step;              /* steps done before this one */
    int64_t ntargets;          /* answer tokens of the step (all micro-batches) */
    int64_t positions;         /* real tokens of the step, per trial */
    double t0, tok_s;          /* start time; positions per second of one trial */
    double lr[LC_MAX_TRIALS], gnorm[LC_MAX_TRIALS], loss_sum[LC_MAX_TRIALS]; /* by j (of idx) */
    double vloss[LC_MAX_TRIALS];                                              /* by trial k */
    int which[LC_MAX_TRIALS];                                                 /* by k: evaluate now */
    int stop_early[LC_MAX_TRIALS];                                            /* by j */
    int evaluated;             /* some trial got a validation loss */
} step_ctx;

/* Ctrl-C (or the stop_after_step hook): every trial still training saves a
 * checkpoint and the run ends with LC_ERR_INTERRUPTED. *stopped 0: go on. */
static lc_status stop_if_requested(run *R, const step_ctx *S, int *stopped) {
    if (R->debug.stop_after_step > 0 && S->step == R->debug.stop_after_step) {
        g_stop_requested = 1;
        R->debug.stop_after_step = 0; /* fires once */
    }
    if (lc_dist_any(g_stop_requested)) g_stop_requested = 1; /* dist: every rank stops at the same step */
    *stopped = g_stop_requested != 0;
    if (!*stopped) return LC_OK;
    lc_status st = LC_OK;
    for (int j = 0; j < S->n && !st; j++) {
        st = save_step_checkpoint(R, &R->tr[S->idx[j]]);
        R->tr[S->idx[j]].res->interrupted = 1;
    }
    if (st) return st;
    if (R->K == 1)
        return lc_errorf(LC_ERR_INTERRUPTED, "interrupted at step %lld: checkpoint saved in %s", (long long)S->step,
                         R->cfg->out_dir);
    return lc_errorf(LC_ERR_INTERRUPTED, "interrupted at step %lld: checkpoints saved in the %d trials' directories",
                     (long long)S->step, S->n);
}

/* Each trial's lr, then the step's micro-batches forward and backward for
 * all trials at once (gradients scaled by 1/targets of the whole step) and,
 * under MPI, summed over the ranks. */
static lc_status forward_backward(run *R, step_ctx *S) {
    const lc_train_config *cfg = R->cfg; /* the shared keys */
    int64_t total = R->tr[0].state.total_steps;
    float scales[LC_MAX_TRIALS];
    uint64_t seeds[LC_MAX_TRIALS];
    lc_lora *loras[LC_MAX_TRIALS];
    lc_batch batches[LC_MAX_TRIALS];
    double ls[LC_MAX_TRIALS];
    S->ntargets = fetch_step_batches(R, cfg->grad_accum);
    for (int j = 0; j < S->n; j++) {
        trial *t = &R->tr[S->idx[j]];
        const lc_train_config *c = t->cfg;
        long warmup = c->warmup_steps > 0 ? c->warmup_steps : (long)ceil(c->warmup_ratio * (double)total);
        S->lr[j] = lc_schedule_lr(c->lr_schedule, c->lr, S->step, total, warmup);
        lc_lora_zero_grad(&t->lora);
        loras[j] = &t->lora;
        S->loss_sum[j] = 0;
        scales[j] = S->ntargets ? 1.0f / (float)S->ntargets : 0.0f;
    }
    S->positions = 0;
    lc_status st = LC_OK;
    for (int i = 0; i < cfg->grad_accum && !st; i++) {
        S->positions += lc_batch_tokens(&R->mb[i]); /* real tokens when padding-free */
        if (!lc_dist_owns(i)) continue;            /* dist: another rank's micro-batch */
        for (int j = 0; j < S->n; j++) {
            batches[j] = R->mb[i]; /* every trial trains on the same batch */
            /* dropout seed of (step, micro-batch): hashed in two levels, so no two
             * pairs share one (step·4096 + i collided once grad_accum > 4096) */
            seeds[j] = lc_hash64(lc_hash64(R->tr[S->idx[j]].cfg->seed, (uint64_t)S->step), (uint64_t)i);
        }
        st = lc_forward_backward_multi(&R->base.model, loras, S->n, R->acts, batches, scales, seeds, ls, NULL);
        for (int j = 0; j < S->n; j++) S->loss_sum[j] += ls[j];
    }
    if (!st) st = dist_sum_step(R, S->idx, S->n, S->loss_sum);
    return st;
}

/* Each trial's optimizer step (the inject_nan_step hook spoils a gradient
 * first); a non-finite one is rolled back and skipped. */
static lc_status update(run *R, step_ctx *S) {
    int inject = R->debug.inject_nan_step == S->step + 1;
    if (inject) R->debug.inject_nan_step = 0; /* fires once */
    lc_status st = LC_OK;
    for (int j = 0; j < S->n && !st; j++) {
        trial *t = &R->tr[S->idx[j]];
        t->loss = S->ntargets ? S->loss_sum[j] / (double)S->ntargets : 0.0;
        if (inject) t->lora.grads[t->lora.n_params / 2] = NAN;
        st = optimizer_step(R, t, S->step, S->lr[j], &S->gnorm[j]);
    }
    return st;
}

/* The step counts for every trial that did not skip it; which of them
 * evaluate now. Returns how many counted it. */
static int count_step(run *R, step_ctx *S) {
    int64_t step = S->step + 1, total = R->tr[0].state.total_steps;
    double dt = lc_time_now() - S->t0;
    S->tok_s = dt > 0 ? (double)S->positions / dt : 0;
    int eval_now = (R->cfg->eval_every > 0 && step % R->cfg->eval_every == 0) || step == total;
    int n_done = 0;
    for (int k = 0; k < R->K; k++) S->which[k] = 0, S->vloss[k] = NAN;
    for (int j = 0; j < S->n; j++) {
        trial *t = &R->tr[S->idx[j]];
        S->stop_early[j] = 0;
        if (t->skipped) continue;
        t->state.bad_steps = 0;
        t->state.step++;
        t->state.tokens_seen += S->ntargets;
        t->state.elapsed_s += dt;
        S->which[S->idx[j]] = eval_now;
        n_done++;
    }
    return n_done;
}

/* Validation of the trials due, best.h5 and early stopping. A Ctrl-C during
 * the evaluation drops it: the next stop_if_requested saves the checkpoint. */
static lc_status evaluate_step(run *R, step_ctx *S) {
    lc_status st = evaluate(R, S->which, S->vloss);
    if (st == LC_ERR_INTERRUPTED && g_stop_requested) {
        for (int k = 0; k < R->K; k++) S->which[k] = 0, S->vloss[k] = NAN;
        st = LC_OK;
    }
    S->evaluated = 0;
    for (int j = 0; j < S->n && !st; j++) {
        trial *t = &R->tr[S->idx[j]];
        if (t->skipped || !S->which[S->idx[j]]) continue;
        t->res->last_valid_loss = S->vloss[S->idx[j]];
        S->evaluated |= !isnan(S->vloss[S->idx[j]]);
        st = after_eval(R, t, S->vloss[S->idx[j]], &S->stop_early[j]);
    }
    return st;
}

/* Each counted trial's metrics row, then the step's progress event. */
static lc_status log_step(run *R, const step_ctx *S) {
    double rss = lc_peak_rss_bytes() / 1048576.0;
    lc_status st = LC_OK;
    for (int j = 0; j < S->n && !st; j++) {
        trial *t = &R->tr[S->idx[j]];
        if (t->skipped) continue;
        lc_train_metrics m = {.trial = S->idx[j], .step = t->state.step, .epoch = t->state.epoch, .loss = t->loss,
                              .lr = S->lr[j], .grad_norm = S->gnorm[j], .valid_loss = S->vloss[S->idx[j]],
                              .targets = S->ntargets, .tokens_per_s = S->tok_s, .elapsed_s = t->state.elapsed_s,
                              .peak_rss_mb = rss};
        st = log_metrics(R, t, &m);
    }
    if (!st) report_progress(R, S->vloss, S->lr[0], S->tok_s * S->n, S->evaluated);
    return st;
}

/* Checkpoints due at this step; a trial that stops early saves one and
 * drops out. */
static lc_status save_step(run *R, const step_ctx *S) {
    const lc_train_config *cfg = R->cfg;
    int64_t step = S->step + 1, total = R->tr[0].state.total_steps;
    for (int j = 0; j < S->n; j++) {
        trial *t = &R->tr[S->idx[j]];
        if (t->skipped) continue;
        int save_now = (cfg->save_every > 0 && step % cfg->save_every == 0) || step == total || S->stop_early[j];
        lc_status st = save_now ? save_step_checkpoint(R, t) : LC_OK;
        if (st) return st;
        if (S->stop_early[j]) {
            t->res->stopped_early = 1;
            t->active = 0;
            char tag[1200];
            lc_reporter_msg(R->rep, LC_REPORT_DETAIL,
                          "lorac: early stopping%s: no validation improvement in %d evaluations",
                          trial_tag(R, t, tag, sizeof tag), t->cfg->early_stopping_patience);
        }
    }
    return LC_OK;
}

/* Steps until total_steps, every trial stopped early, an error or Ctrl-C. */
static lc_status train_loop(run *R) {
    int64_t total = R->tr[0].state.total_steps;
    lc_status st = LC_OK;
    for (int64_t step = R->tr[0].state.step; !st; step++) {
        step_ctx S = {.step = step};
        for (int k = 0; k < R->K; k++) /* the trials still training take this step together */
            if (R->tr[k].active) S.idx[S.n++] = k;
        if (S.n == 0 || step >= total) break;
        int stopped;
        if ((st = stop_if_requested(R, &S, &stopped)) || stopped) break;
        S.t0 = lc_time_now();
        if ((st = forward_backward(R, &S)) || (st = update(R, &S))) break;
        if (count_step(R, &S) == 0) continue; /* every trial skipped it */
        if (!(st = evaluate_step(R, &S)) && !(st = log_step(R, &S))) st = save_step(R, &S);
    }
    lc_reporter_phase_end(R->rep);
    for (int k = 0; k < R->K; k++) R->tr[k].res->final_train_loss = R->tr[k].loss;
    return st;
}

/* ------------------------------------------------------------------ run */

static void run_free(run *R) {
    for (int k = 0; k < R->K && R->tr; k++) {
        trial *t = &R->tr[k];
        if (t->jsonl) fclose(t->jsonl);
        if (t->csv) fclose(t->csv);
        lc_fs_unlock_dir(t->lock_fd);
        if (t->lora_ready) lc_lora_free(&t->lora);
        free(t->config_yaml);
        lc_free(t->backup);
        lc_free(t->init0);
    }
    free(R->tr);
    if (R->batcher_ready) lc_batcher_free(&R->batcher);
    lc_acts_free(R->acts);
    lc_rows_free(&R->train_rows);
    lc_rows_free(&R->valid_rows);
    lc_rows_free(&R->test_rows);
    lc_chat_template_free(R->tmpl);
    lc_base_close(&R->base);
    free(R->mb_tokens);
    free(R->mb_targets);
    free(R->mb_slot);
    free(R->mb_seg);
    free(R->mb);
}

/* precision (config) -> the frozen-matmul path for this CPU and build
 * (lc_cpu.h); bf16 paths store the projection weights in bf16 and set the
 * activations' path. */
static lc_status choose_matmul_path(lc_model *m, lc_acts *acts, const lc_train_config *cfg, lc_matmul_path *path) {
    lc_precision prec;
    int forced;
    lc_cpu_features f;
    lc_cpu_detect(&f);
    lc_status st = lc_matmul_path_parse(lc_precision_setting_name(cfg->precision), &prec, &forced);
    if (!st) st = lc_matmul_path_resolve(prec, forced, &f, lc_onednn_available(), path);
    if (!st && *path != LC_MATMUL_FP32 && m->cfg.arch == LC_ARCH_GPT2) {
        if (prec == LC_PREC_AUTO) *path = LC_MATMUL_FP32; /* auto: GPT-2 has no bf16 path yet */
        else return lc_errorf(LC_ERR_CONFIG, "precision: '%s' is implemented for the Llama family only, not GPT-2 "
                                             "(use fp32 or auto)", lc_precision_setting_name(cfg->precision));
    }
    if (!st && *path != LC_MATMUL_FP32) st = lc_model_frozen_to_bf16(m);
    if (!st) st = lc_acts_set_matmul_path(acts, m, *path);
    return st;
}

/* The trials of one pass agree on every key but ONE_PASS_MAY_DIFFER and
 * have distinct run directories. */
static lc_status check_one_pass(const run *R) {
    for (int k = 1; k < R->K; k++) {
        const trial *t = &R->tr[k];
        char *diff;
        lc_status st = config_diff_text(R->tr[0].cfg, t->cfg, ONE_PASS_MAY_DIFFER, &diff);
        if (!st && diff[0])
            st = lc_errorf(LC_ERR_CONFIG,
                           "trials trained in one pass must share the keys that decide the batches or the steps "
                           "they share, but %s and %s differ in: %s; only r, alpha, dropout, target_modules, "
                           "rslora, init, lr, lr_schedule, warmup_steps, warmup_ratio, weight_decay, "
                           "max_grad_norm, adam_*, loraplus_lr_ratio, keep_last, early_stopping_patience and "
                           "max_nan_steps may differ",
                           R->tr[0].cfg->out_dir, t->cfg->out_dir, diff);
        free(diff);
        if (st) return st;
        for (int j = 0; j < k; j++)
            if (!strcmp(R->tr[j].cfg->out_dir, t->cfg->out_dir))
                return lc_errorf(LC_ERR_CONFIG, "two trials share the run directory %s", t->cfg->out_dir);
    }
    return LC_OK;
}

/* Restore every trial from checkpoint-<step>.h5 of the newest step; all
 * trials must be at the same step and batcher position. */
/* init: pissa (2) / olora (3), stored in the init_gaussian slot of the config. */
static lc_lora_init_kind weight_init_kind(const lc_train_config *c) {
    return c->init_gaussian == 2 ? LC_INIT_PISSA : c->init_gaussian == 3 ? LC_INIT_OLORA : (lc_lora_init_kind)0;
}

/* PiSSA / OLoRA: factor the base weights of t's modules into t->init0 and
 * turn the base into the residual. A fresh run starts from those factors;
 * a resumed one (params from its checkpoint) recomputes them, so the base
 * becomes the same residual (LAPACK with the same threads is deterministic). */
static lc_status weight_init(run *R, trial *t, int fresh) {
    lc_lora_init_kind kind = weight_init_kind(t->cfg);
    if (!kind) return LC_OK;
    if (R->K > 1)
        return lc_errorf(LC_ERR_CONFIG, "init %s rewrites the base weights: it cannot share one pass with other trials",
                         kind == LC_INIT_PISSA ? "pissa" : "olora");
    if (t->cfg->init_adapter[0])
        return lc_errorf(LC_ERR_CONFIG, "init %s and init_adapter both set: use one",
                         kind == LC_INIT_PISSA ? "pissa" : "olora");
    lc_lora scratch;
    lc_lora *l = &t->lora;
    lc_status st = LC_OK;
    if (!fresh) {
        lc_rng rng;
        lc_rng_seed(&rng, 0);
        if ((st = lc_lora_init(&scratch, &R->base.model, &t->lora.cfg, &rng))) return st;
        l = &scratch;
    }
    if (!(t->init0 = lc_alloc(l->n_params * sizeof(float)))) st = lc_errorf(LC_ERR_NOMEM, "out of memory");
    if (!st) st = lc_lora_init_from_weights(l, &R->base.model, kind);
    if (!st) memcpy(t->init0, l->params, l->n_params * sizeof(float));
    if (!fresh) lc_lora_free(&scratch);
    return st;
}

static lc_status resume_trials(run *R) {
    R->resume_step = -1;
    for (int k = 0; k < R->K; k++) {
        trial *t = &R->tr[k];
        int64_t s = lc_run_dir_resume_step(t->cfg->out_dir, R->rep); /* skips (and reports) corrupt newer ones */
        if (s < 0) return LC_ERR_FORMAT;
        if (k == 0) R->resume_step = s;
        if (s != R->resume_step)
            return lc_errorf(LC_ERR_CONFIG, "--resume: the newest checkpoint of %s is step %lld but that of %s is "
                                            "step %lld; trials resumed in one pass must be at the same step",
                             R->tr[0].cfg->out_dir, (long long)R->resume_step, t->cfg->out_dir, (long long)s);
        char path[1200], name[64];
        snprintf(name, sizeof name, "checkpoint-%lld.h5", (long long)s);
        lc_status st = out_path(path, sizeof path, t, name);
        if (st) return st;
        char *saved = lc_adapter_config_yaml(path);
        st = check_resume_config(path, saved, t->cfg);
        free(saved);
        if (st) return st;
        if ((st = lc_adapter_load(path, &R->base.model, &t->lora, &t->state, NULL, 0))) return st;
        t->lora_ready = 1;
        t->lora.cfg.neftune_alpha = (float)t->cfg->neftune_alpha; /* a training setting: not in the adapter */
        if ((st = weight_init(R, t, 0))) return st;
        const lc_train_state *s0 = &R->tr[0].state;
        if (t->state.epoch != s0->epoch || t->state.pos != s0->pos ||
            memcmp(t->state.epoch_rng, s0->epoch_rng, sizeof s0->epoch_rng))
            return lc_errorf(LC_ERR_CONFIG, "--resume: %s and %s were saved at different data positions; they "
                                            "cannot be resumed in one pass", R->tr[0].cfg->out_dir, path);
    }
    return LC_OK;
}

/* A resumed trial's last train loss and validation loss, from its (trimmed)
 * metrics.jsonl: the result of a resume with no step left to train (a
 * finished run resumed again) is then the run's, not NaN; later steps
 * overwrite them. Rows without a number keep the previous one. */
static lc_status restore_last_losses(trial *t, const char *jpath) {
    FILE *f = fopen(jpath, "r");
    if (!f) return errno == ENOENT ? LC_OK : lc_errorf(LC_ERR_IO, "cannot read %s: %s", jpath, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL), *loss = json_object_get(o, "loss"),
               *v = json_object_get(o, "valid_loss");
        if (json_is_number(loss)) t->loss = json_number_value(loss);
        if (json_is_number(v)) t->res->last_valid_loss = json_number_value(v);
        json_decref(o);
    }
    lc_status st = ferror(f) ? lc_errorf(LC_ERR_IO, "reading %s: %s", jpath, strerror(errno)) : LC_OK;
    free(line);
    fclose(f);
    return st;
}

/* A run that starts training is not finished: the done.json of the run it
 * continues or replaces goes (lc_train.h). */
static lc_status unmark_done(const trial *t) {
    char path[1200];
    lc_status st = out_path(path, sizeof path, t, LC_TRAIN_DONE_NAME);
    if (!st && unlink(path) != 0 && errno != ENOENT)
        st = lc_errorf(LC_ERR_IO, "cannot delete %s: %s", path, strerror(errno));
    return st;
}

/* The run directory of a trial: config.yaml, metrics files (trimmed to the
 * resumed step, or new), no done.json. */
static lc_status open_trial_files(trial *t, int resume) {
    if (!lc_dist_is_root()) return LC_OK; /* dist: rank 0 writes */
    char path[1200], jpath[1200], cpath[1200];
    lc_status st;
    if ((st = out_path(path, sizeof path, t, "config.yaml")) || (st = out_path(jpath, sizeof jpath, t, "metrics.jsonl")) ||
        (st = out_path(cpath, sizeof cpath, t, "metrics.csv")))
        return st;
    if ((st = lc_fs_write_atomic(path, t->config_yaml, strlen(t->config_yaml))) || (st = unmark_done(t))) return st;
    if (resume && ((st = trim_metrics(jpath, t->state.step, 0)) || (st = trim_metrics(cpath, t->state.step, 1)) ||
                   (st = restore_last_losses(t, jpath))))
        return st;
    t->jsonl = lc_fs_fopen_nofollow(jpath, resume ? "a" : "w");
    t->csv = lc_fs_fopen_nofollow(cpath, resume ? "a" : "w");
    if (!t->jsonl || !t->csv)
        return lc_errorf(LC_ERR_IO, "cannot write metrics in %s: %s%s", t->cfg->out_dir, strerror(errno),
                         errno == ELOOP ? " (metrics.jsonl / metrics.csv is a symlink; lorac does not follow it)" : "");
    if (!resume &&
        (fputs("step,epoch,loss,lr,grad_norm,targets,tokens_per_s,elapsed_s,peak_rss_mb,valid_loss\n", t->csv) < 0 ||
         fflush(t->csv) != 0))
        return lc_errorf(LC_ERR_IO, "writing %s: %s", cpath, strerror(errno));
    return LC_OK;
}

/* ----------------------------------------------------------------- set-up */

/* The trials: results reset, configs validated and serialised, one-pass
 * agreement checked. */
static lc_status setup_trials(run *R, const lc_train_config *cfgs, int K, const lc_train_options *opt,
                              lc_train_result *res) {
    if (K < 1 || K > LC_MAX_TRIALS) return lc_errorf(LC_ERR_ARG, "1 to %d trials per pass, got %d", LC_MAX_TRIALS, K);
    R->cfg = &cfgs[0];
    R->K = K;
    R->resume = opt && opt->resume;
    R->resume_step = -1;
    R->rep = opt && lc_dist_is_root() ? opt->reporter : NULL; /* dist: rank 0 reports */
    if (opt && opt->debug) R->debug = *opt->debug;
    for (int k = 0; k < K; k++) {
        memset(&res[k], 0, sizeof res[k]);
        res[k].first_valid_loss = res[k].last_valid_loss = res[k].best_valid_loss = NAN;
        res[k].test_loss = res[k].test_loss_base = NAN;
    }
    if (!(R->tr = calloc((size_t)K, sizeof *R->tr))) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    for (int k = 0; k < K; k++) {
        trial *t = &R->tr[k];
        t->cfg = &cfgs[k];
        t->res = &res[k];
        t->active = 1;
        t->loss = NAN;
        t->lock_fd = -1;
        lc_status st = lc_train_config_validate(t->cfg);
        if (st) return st;
        if (!(t->config_yaml = config_to_string(t->cfg))) return lc_errorf(LC_ERR_NOMEM, "cannot serialise the config");
    }
    return check_one_pass(R);
}

/* Threads, the run directories (claimed by rank 0), the base model and
 * tokenizer, the tokenised rows (the same on every rank). */
static lc_status setup_inputs(run *R) {
    char layout[512];
    R->threads = lc_threads_init(lc_dist_threads(R->cfg->threads, layout, sizeof layout));
    if (lc_dist_active()) lc_reporter_msg(R->rep, LC_REPORT_DETAIL, "lorac: MPI: %s", layout);
    lc_status st = LC_OK;
    for (int k = 0; k < R->K && lc_dist_is_root() && !st; k++) { /* dist: rank 0 claims and writes */
        st = lc_run_dir_claim(R->tr[k].cfg, R->resume, R->rep, &R->tr[k].lock_fd);
        if (!st) lc_ckpt_cleanup_temp(R->tr[k].cfg->out_dir, NULL);
    }
    if (st || (st = lc_base_open(&R->base, R->cfg->model, R->cfg->tokenizer)) ||
        (st = lc_base_add_tokens(&R->base, R->cfg->add_tokens, NULL)) || (st = load_rows(R)) ||
        (st = dist_check_inputs(R)))
        return st;
    int32_t eos = lc_tokenizer_eos_id(R->base.tok);
    R->pad_id = eos >= 0 ? eos : 0;
    return LC_OK;
}

/* Each trial's adapter and optimizer state: from its checkpoint, or new;
 * and the room to roll a failed step back. */
static lc_status setup_adapters(run *R) {
    lc_status st = R->resume ? resume_trials(R) : LC_OK;
    for (int k = 0; k < R->K && !R->resume && !st; k++) {
        trial *t = &R->tr[k];
        const lc_train_config *c = t->cfg;
        lc_lora_config lc = {.r = c->r, .alpha = (float)c->alpha, .rslora = c->rslora, .dropout = (float)c->dropout,
                             .init_gaussian = c->init_gaussian == 1, .use_dora = c->use_dora};
        lc.neftune_alpha = (float)c->neftune_alpha;
        memcpy(lc.rank_pattern, c->rank_pattern, sizeof lc.rank_pattern);
        memcpy(lc.alpha_pattern, c->alpha_pattern, sizeof lc.alpha_pattern);
        memcpy(lc.layers_to_transform, c->layers_to_transform, sizeof lc.layers_to_transform);
        memcpy(lc.trainable_token_indices, c->trainable_token_indices, sizeof lc.trainable_token_indices);
        if ((st = lc_base_added_lora_config(&lc, &R->base, c->add_tokens, c->trainable_token_indices))) break;
        if ((st = lc_lora_targets_parse_arch(c->target_modules, R->base.model.cfg.arch, &lc.targets))) break;
        lc_rng rng;
        lc_rng_seed(&rng, c->seed);
        if ((st = lc_lora_init(&t->lora, &R->base.model, &lc, &rng))) break;
        t->lora_ready = 1;
        if (c->init_adapter[0] && (st = lc_adapter_init_from(&t->lora, &R->base.model, c->init_adapter))) break;
        if ((st = weight_init(R, t, 1))) break;
        t->state.best_valid_loss = INFINITY;
    }
    for (int k = 0; k < R->K && !st; k++)
        if (!(R->tr[k].backup = lc_alloc(3 * R->tr[k].lora.n_params * sizeof(float))))
            st = lc_errorf(LC_ERR_NOMEM, "out of memory");
    return st;
}

/* The batcher (at the resumed position), the number of steps, the step's
 * micro-batch buffers, the activations and the frozen-matmul path. */
static lc_status setup_batches(run *R) {
    const lc_train_config *cfg = R->cfg;
    lc_status st = lc_batcher_init(&R->batcher, &R->train_rows, cfg->batch_size, 1, R->pad_id,
                                   lc_hash64(cfg->seed, 0xBA7C4ull));
    if (st) return st;
    R->batcher_ready = 1;
    if ((st = resolve_layout(R))) return st;
    if (R->resume) {
        lc_batcher_state bs = {.epoch = R->tr[0].state.epoch, .pos = R->tr[0].state.pos};
        memcpy(bs.rng.s, R->tr[0].state.epoch_rng, sizeof bs.rng.s);
        if ((st = lc_batcher_set_state(&R->batcher, &bs))) return st;
    }
    int64_t epoch_steps = cfg->max_steps > 0 ? 0 : lc_batcher_count_steps(&R->batcher, cfg->epochs, cfg->grad_accum);
    if (epoch_steps < 0) return lc_errorf(LC_ERR_NOMEM, "out of memory counting the steps of %d epochs", cfg->epochs);
    for (int k = 0; k < R->K; k++) R->tr[k].state.total_steps = cfg->max_steps > 0 ? cfg->max_steps : epoch_steps;
    R->maxT = R->train_rows.max_len > R->valid_rows.max_len ? R->train_rows.max_len : R->valid_rows.max_len;
    if (R->test_rows.max_len > R->maxT) R->maxT = R->test_rows.max_len;
    if ((st = alloc_step_batches(R))) return st;
    /* rows of maxT: batch_size of them (evaluation, padded or not), or enough for a token budget */
    int64_t acts_rows = (R->mb_cap + R->maxT - 1) / R->maxT;
    if (acts_rows < cfg->batch_size) acts_rows = cfg->batch_size;
    const lc_lora *loras[LC_MAX_TRIALS];
    for (int k = 0; k < R->K; k++) loras[k] = &R->tr[k].lora;
    if ((st = lc_acts_create_multi(&R->acts, &R->base.model, loras, R->K, (int)acts_rows, R->maxT,
                                   cfg->grad_checkpointing)))
        return st;
    return choose_matmul_path(&R->base.model, R->acts, cfg, &R->path);
}

/* The run's header lines: model, adapter, steps, memory, precision, trials. */
static void report_header(const run *R) {
    const lc_train_config *cfg = R->cfg;
    const trial *t = &R->tr[0];
    char bt[48], line[1024];
    lc_reporter_msg(R->rep, LC_REPORT_DETAIL,
                  "lorac: %s (%s, %.1fM params) | LoRA r=%d alpha=%g on %s: %.2fM trainable | %lld steps, "
                  "batch %s x accum %d (%s), %d threads%s",
                  cfg->model, lc_arch_name(R->base.model.cfg.arch), lc_model_param_count(&R->base.model) / 1e6,
                  t->lora.cfg.r, t->lora.cfg.alpha, cfg->target_modules, t->lora.n_params / 1e6,
                  (long long)t->state.total_steps, batch_text(cfg, bt, sizeof bt), cfg->grad_accum,
                  R->padding_free ? "padding-free" : "padded", R->threads, R->resume ? " (resumed)" : "");
    if (R->K == 1) /* exact: what lc_acts_create_multi allocated; O(B T), no T x T buffer */
        lc_reporter_msg(R->rep, LC_REPORT_DETAIL, "lorac: activation memory %.0f MB for micro-batches of %s x %d tokens%s",
                      lc_acts_bytes(R->acts) / 1048576.0, bt, R->maxT,
                      cfg->grad_checkpointing ? " (gradient checkpointing)" : "");
    lc_compute_path_describe(line, sizeof line, R->path, 0);
    lc_reporter_msg(R->rep, LC_REPORT_DETAIL, "lorac: precision %s: %s", lc_precision_setting_name(cfg->precision), line);
    if (R->K > 1) {
        lc_reporter_msg(R->rep, LC_REPORT_DETAIL, "lorac: %d trials in one pass (shared frozen matmuls, activations %.0f MB):",
                      R->K, lc_acts_bytes(R->acts) / 1048576.0);
        for (int k = 0; k < R->K; k++) {
            const lc_train_config *c = R->tr[k].cfg;
            lc_reporter_msg(R->rep, LC_REPORT_DETAIL, "lorac:   trial %d: r=%d alpha=%g lr=%g %s on %s -> %s", k,
                          R->tr[k].lora.cfg.r, R->tr[k].lora.cfg.alpha, c->lr, lc_lr_schedule_name(c->lr_schedule),
                          c->target_modules, c->out_dir);
        }
    }
    if (R->resume && R->K == 1)
        lc_reporter_msg(R->rep, LC_REPORT_DETAIL, "lorac: resumed from %s/checkpoint-%lld.h5", cfg->out_dir,
                      (long long)R->resume_step);
    else if (R->resume)
        lc_reporter_msg(R->rep, LC_REPORT_DETAIL, "lorac: resumed every trial from its checkpoint-%lld.h5",
                      (long long)R->resume_step);
}

/* A fresh run's validation loss before training (step 0 of the metrics). */
static lc_status first_evaluation(run *R) {
    double v0[LC_MAX_TRIALS];
    int all[LC_MAX_TRIALS];
    for (int k = 0; k < R->K; k++) all[k] = 1;
    lc_status st = evaluate(R, all, v0);
    for (int k = 0; k < R->K && !st; k++) {
        R->tr[k].res->first_valid_loss = v0[k];
        lc_train_metrics m = {.trial = k, .step = 0, .epoch = R->tr[k].state.epoch, .loss = NAN, .lr = 0,
                              .grad_norm = NAN, .valid_loss = v0[k], .peak_rss_mb = lc_peak_rss_bytes() / 1048576.0};
        if (!isnan(v0[k])) st = log_metrics(R, &R->tr[k], &m);
    }
    if (!st && !isnan(v0[0]))
        lc_reporter_msg(R->rep, LC_REPORT_DETAIL, "lorac: validation loss before training: %.4f", v0[0]);
    return st;
}

/* Everything before the first step. */
static lc_status setup(run *R, const lc_train_config *cfgs, int K, const lc_train_options *opt, lc_train_result *res) {
    lc_status st;
    if ((st = setup_trials(R, cfgs, K, opt, res)) || (st = setup_inputs(R)) || (st = setup_adapters(R)) ||
        (st = setup_batches(R)))
        return st;
    for (int k = 0; k < K; k++) {
        snprintf(res[k].matmul_path, sizeof res[k].matmul_path, "%s", lc_matmul_path_name(R->path));
        if ((st = open_trial_files(&R->tr[k], R->resume))) return st;
    }
    report_header(R);
    return R->resume ? LC_OK : first_evaluation(R);
}

/* ----------------------------------------------------------------- finish */

/* The test loss of the original base model. With PiSSA/OLoRA the base holds
 * the residual: the original model is it plus the initial A/B (t->init0). */
static lc_status test_loss_base(run *R, double *base_loss) {
    const lc_train_config *cfg = R->cfg;
    lc_lora *l0 = &R->tr[0].lora;
    if (!R->tr[0].init0)
        return lc_eval_rows_loss(&R->base.model, NULL, R->acts, &R->test_rows, cfg->batch_size, R->padding_free,
                                 R->pad_id, base_loss, NULL);
    float *trained = lc_alloc(l0->n_params * sizeof(float));
    if (!trained) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    memcpy(trained, l0->params, l0->n_params * sizeof(float));
    memcpy(l0->params, R->tr[0].init0, l0->n_params * sizeof(float));
    lc_status st = lc_eval_rows_loss(&R->base.model, l0, R->acts, &R->test_rows, cfg->batch_size, R->padding_free,
                                     R->pad_id, base_loss, NULL);
    memcpy(l0->params, trained, l0->n_params * sizeof(float));
    lc_free(trained);
    return st;
}

/* The final adapters, then the held-out test set: base model vs each final
 * adapter, once. */
static lc_status finish(run *R) {
    const lc_train_config *cfg = R->cfg;
    lc_status st = LC_OK;
    for (int k = 0; k < R->K && !st; k++) {
        trial *t = &R->tr[k];
        if (!(st = out_path(t->res->final_adapter, sizeof t->res->final_adapter, t, "adapter.h5")))
            st = save_checkpoint(R, t, "adapter.h5", 0);
    }
    if (st || R->test_rows.n_rows == 0) return st;
    double base_loss, test_loss[LC_MAX_TRIALS];
    const lc_lora *loras[LC_MAX_TRIALS];
    for (int k = 0; k < R->K; k++) loras[k] = &R->tr[k].lora;
    st = test_loss_base(R, &base_loss);
    if (!st)
        st = lc_eval_rows_loss_multi(&R->base.model, loras, R->K, R->acts, &R->test_rows, cfg->batch_size,
                                     R->padding_free, R->pad_id, test_loss, NULL);
    for (int k = 0; k < R->K && !st; k++) {
        trial *t = &R->tr[k];
        t->res->test_loss_base = base_loss;
        t->res->test_loss = test_loss[k];
        if (!t->jsonl) continue;
        fprintf(t->jsonl, "{\"step\":%lld,\"test_loss_base\":%.9g,\"test_loss\":%.9g}\n", (long long)t->state.step,
                base_loss, test_loss[k]);
        if (fflush(t->jsonl) != 0 || ferror(t->jsonl))
            st = lc_errorf(LC_ERR_IO, "writing %s/metrics.jsonl: %s", t->cfg->out_dir, strerror(errno));
    }
    return st;
}

/* Each trial's counters into its result (also after an error or Ctrl-C). */
static void collect_results(run *R) {
    for (int k = 0; k < R->K; k++) {
        const lc_train_state *s = &R->tr[k].state;
        lc_train_result *res = R->tr[k].res;
        res->steps_done = s->step;
        res->total_steps = s->total_steps;
        res->best_valid_loss = isfinite(s->best_valid_loss) ? s->best_valid_loss : NAN;
        res->best_step = s->best_step;
        res->tokens_per_s = s->elapsed_s > 0 ? (double)s->tokens_seen / s->elapsed_s : 0;
    }
}

/* Each finished trial's done.json (rank 0), once its results are collected. */
static lc_status write_done(run *R) {
    lc_status st = LC_OK;
    for (int k = 0; k < R->K && lc_dist_is_root() && !st; k++)
        st = lc_train_done_write(R->tr[k].cfg->out_dir, R->tr[k].res, R->tr[k].state.elapsed_s);
    return st;
}

lc_status lc_train_run_multi(const lc_train_config *cfgs, int K, const lc_train_options *opt, lc_train_result *res) {
    run R;
    memset(&R, 0, sizeof R);
    g_stop_requested = 0;
    lc_status st = setup(&R, cfgs, K, opt, res);
    if (!st) {
        st = train_loop(&R);
        if (!st) st = finish(&R);
        collect_results(&R);
        if (!st) st = write_done(&R);
    }
    run_free(&R);
    return st;
}

lc_status lc_train_run(const lc_train_config *cfg, const lc_train_options *opt, lc_train_result *res) {
    return lc_train_run_multi(cfg, 1, opt, res);
}
