/*
 * train.c — the training loop behind `lorac train` (contract in lc_train.h).
 *
 *   config ─ lc_base_open ─ lc_dataset_load/split ─ lc_rows_build ─ lc_batcher
 *      └─ per step: grad_accum micro-batches → lc_forward_backward (grad scale
 *         1/targets of the whole step) → lc_lora_optimizer_step (clip + AdamW)
 *         → metrics → eval / checkpoint / early stop.
 *
 * Determinism: every random choice derives from cfg->seed and the step, and
 * all state that changes is saved in checkpoints, so a resumed run repeats
 * the uninterrupted one bit for bit (for the same thread count).
 */
#include "lc_train.h"

#include <dirent.h>
#include <errno.h>
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
#include "lc_eval.h"
#include "lc_schedule.h"
#include "lc_transformer.h"

static volatile sig_atomic_t g_stop_requested = 0;
static int64_t g_inject_nan_step = 0;
static int64_t g_stop_after_step = 0;

void lc_train_request_stop(void) { g_stop_requested = 1; }
void lc_train_debug_inject_nan(int64_t step) { g_inject_nan_step = step; }
void lc_train_debug_stop_after(int64_t step) { g_stop_after_step = step; }

typedef struct {
    const lc_train_config *cfg;
    lc_base base;
    lc_chat_template *tmpl;
    lc_rows train_rows, valid_rows, test_rows;
    lc_lora lora;
    int lora_ready;
    lc_acts *acts;
    lc_batcher batcher;
    int batcher_ready;
    lc_train_state state;
    FILE *jsonl, *csv;
    char *config_yaml;
    int32_t pad_id;
    int quiet, tty;
    /* copies of the micro-batches of one step */
    int32_t *mb_tokens, *mb_targets;
    int *mb_B, *mb_T;
} run;

static lc_status mkdir_p(const char *dir) {
    char buf[1200];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) && errno != EEXIST)
            return lc_errorf(LC_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST)
        return lc_errorf(LC_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
    return LC_OK;
}

static void out_path(char *buf, size_t size, const run *R, const char *name) {
    snprintf(buf, size, "%s/%s", R->cfg->out_dir, name);
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
    if (!st) st = lc_data_template_resolve(&R->tmpl, cfg, R->base.tok);
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
    if (!st && !R->quiet) {
        fprintf(stderr,
                "lorac: %d training rows (%lld answer tokens, longest %d; %d truncated, %d dropped as too "
                "long, %d without answer tokens; %d bad rows skipped), %d validation rows, template %s\n",
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

/* Keys a resumed run may change: they do not alter the training trajectory
 * up to the resumed step (or only stop/extend it). */
static const char *const RESUME_MAY_CHANGE[] = {
    "max_steps", "epochs", "eval_every", "save_every", "keep_last", "log_every", "threads",
    "early_stopping_patience", "max_nan_steps", "out_dir", "test_data", NULL};

/* The value text of `key` in a config YAML (one "key: value" line per key),
 * copied into buf; 0 if absent. */
static int yaml_value(const char *yaml, const char *key, char *buf, size_t size) {
    size_t klen = strlen(key);
    for (const char *p = yaml; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, key, klen) && p[klen] == ':') {
            const char *v = p + klen + 1, *e = strchr(v, '\n');
            size_t n = e ? (size_t)(e - v) : strlen(v);
            if (n >= size) n = size - 1;
            memcpy(buf, v, n);
            buf[n] = 0;
            return 1;
        }
    }
    return 0;
}

/* A resumed run must keep the config its checkpoint was trained with, except
 * for RESUME_MAY_CHANGE keys: LC_ERR_CONFIG naming the first differing key. */
static lc_status check_resume_config(const char *ckpt_path, const char *saved, const char *now) {
    if (!saved) return lc_errorf(LC_ERR_FORMAT, "%s: no config.yaml stored in the checkpoint", ckpt_path);
    for (const char *p = saved; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        const char *colon = strchr(p, ':'), *nl = strchr(p, '\n');
        if (!colon || (nl && colon > nl) || *p == '#' || *p == ' ') continue;
        char key[128], a[LC_CFG_TEXT_MAX], b[LC_CFG_TEXT_MAX];
        size_t klen = (size_t)(colon - p);
        if (klen >= sizeof key) continue;
        memcpy(key, p, klen);
        key[klen] = 0;
        int may = 0;
        for (int i = 0; RESUME_MAY_CHANGE[i]; i++) may |= !strcmp(key, RESUME_MAY_CHANGE[i]);
        if (may) continue;
        yaml_value(saved, key, a, sizeof a);
        if (!yaml_value(now, key, b, sizeof b) || strcmp(a, b))
            return lc_errorf(LC_ERR_CONFIG,
                             "--resume: '%s' was%s in %s but is now%s; a resumed run keeps its training "
                             "config (only max_steps, epochs, eval_every, save_every, keep_last, log_every, "
                             "threads, early_stopping_patience, max_nan_steps, test_data may change)",
                             key, a, ckpt_path, b);
    }
    return LC_OK;
}

/* Step number of the newest checkpoint-<step>.h5 in dir, or -1. */
static int64_t newest_checkpoint(const char *dir) {
    int64_t best = -1;
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        long long step;
        char tail[8];
        if (sscanf(e->d_name, "checkpoint-%lld.%7s", &step, tail) == 2 && !strcmp(tail, "h5") && step > best)
            best = step;
    }
    closedir(d);
    return best;
}

static lc_status save_checkpoint(run *R, const char *name, int with_state) {
    char path[1200];
    out_path(path, sizeof path, R, name);
    if (with_state && R->batcher_ready) {
        lc_batcher_state bs = lc_batcher_get_state(&R->batcher);
        R->state.epoch = bs.epoch;
        R->state.pos = bs.pos;
        memcpy(R->state.epoch_rng, bs.rng.s, sizeof R->state.epoch_rng);
    }
    /* the template as lc_chat_template_create takes it back: a name, or the custom string itself */
    const char *tmpl = lc_chat_template_name(R->tmpl);
    if (!strcmp(tmpl, "custom")) tmpl = R->cfg->chat_template;
    lc_status st = lc_adapter_save(path, &R->lora, &R->base.model, tmpl,
                                   with_state ? &R->state : NULL, R->config_yaml);
    if (st) lc_error_wrap(st, "saving %s", path);
    return st;
}

static lc_status save_step_checkpoint(run *R) {
    char name[64];
    snprintf(name, sizeof name, "checkpoint-%lld.h5", (long long)R->state.step);
    lc_status st = save_checkpoint(R, name, 1);
    if (!st && R->cfg->keep_last > 0) st = lc_ckpt_prune(R->cfg->out_dir, "checkpoint", R->cfg->keep_last, NULL);
    return st;
}

/* On resume, drop metric lines of steps after the checkpoint (written
 * before a crash) so the files read as one uninterrupted run. */
static lc_status trim_metrics(const char *path, int64_t last_step, int is_csv) {
    FILE *f = fopen(path, "r");
    if (!f) return LC_OK;
    char *kept = NULL, *line = NULL;
    size_t kept_len = 0, cap = 0;
    FILE *mem = open_memstream(&kept, &kept_len);
    ssize_t n;
    int first = 1;
    while ((n = getline(&line, &cap, f)) > 0) {
        long long step = -1;
        if (is_csv) {
            if (first) { fputs(line, mem); first = 0; continue; }
            step = atoll(line);
        } else {
            const char *p = strstr(line, "\"step\":");
            if (p) step = atoll(p + 7);
        }
        if (step <= last_step) fputs(line, mem);
    }
    free(line);
    fclose(f);
    fclose(mem);
    f = fopen(path, "w");
    if (!f) {
        free(kept);
        return lc_errorf(LC_ERR_IO, "cannot rewrite %s: %s", path, strerror(errno));
    }
    fwrite(kept, 1, kept_len, f);
    fclose(f);
    free(kept);
    return LC_OK;
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

static void log_metrics(run *R, double loss, double lr, double grad_norm, double tok_s, double valid_loss,
                        int64_t ntargets) {
    double rss = lc_peak_rss_bytes() / 1048576.0;
    if (R->jsonl) {
        fprintf(R->jsonl, "{\"step\":%lld,\"epoch\":%lld", (long long)R->state.step, (long long)R->state.epoch);
        json_num(R->jsonl, "loss", loss, 1);
        json_num(R->jsonl, "lr", lr, 1);
        json_num(R->jsonl, "grad_norm", grad_norm, 1);
        fprintf(R->jsonl, ",\"targets\":%lld,\"tokens_per_s\":%.1f,\"elapsed_s\":%.3f,\"peak_rss_mb\":%.0f",
                (long long)ntargets, tok_s, R->state.elapsed_s, rss);
        if (!isnan(valid_loss)) json_num(R->jsonl, "valid_loss", valid_loss, 1);
        fputs("}\n", R->jsonl);
        fflush(R->jsonl);
    }
    if (R->csv) {
        fprintf(R->csv, "%lld,%lld,", (long long)R->state.step, (long long)R->state.epoch);
        csv_num(R->csv, loss, ",");
        csv_num(R->csv, lr, ",");
        csv_num(R->csv, grad_norm, ",");
        fprintf(R->csv, "%lld,%.1f,%.3f,%.0f,", (long long)ntargets, tok_s, R->state.elapsed_s, rss);
        csv_num(R->csv, valid_loss, "\n");
        fflush(R->csv);
    }
}

static void progress(run *R, double loss, double lr, double tok_s, double valid_loss, int force_line) {
    if (R->quiet) return;
    int64_t step = R->state.step, total = R->state.total_steps;
    double per_step = step > 0 ? R->state.elapsed_s / (double)step : 0;
    double eta = per_step * (double)(total - step);
    char vl[48] = "";
    if (!isnan(valid_loss)) snprintf(vl, sizeof vl, " | valid %.4f", valid_loss);
    char line[256];
    snprintf(line, sizeof line, "step %lld/%lld | loss %.4f%s | lr %.2e | %.0f tok/s | ETA %dm%02ds | mem %.0f MB",
             (long long)step, (long long)total, loss, vl, lr, tok_s, (int)(eta / 60), (int)fmod(eta, 60.0),
             lc_peak_rss_bytes() / 1048576.0);
    if (R->tty && !force_line) {
        fprintf(stderr, "\r\033[K%s", line);
    } else {
        if (R->tty) fputs("\r\033[K", stderr);
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
}

/* ------------------------------------------------------------------ step */

/* Fetch grad_accum micro-batches into owned buffers (targets of the whole
 * step must be known before any backward, for the 1/targets scale). */
static int64_t fetch_step_batches(run *R, int n_micro) {
    int64_t targets = 0;
    int cap = R->batcher.rows->max_len;
    for (int i = 0; i < n_micro; i++) {
        lc_batch b;
        int64_t epoch;
        lc_batcher_next(&R->batcher, &b, &epoch);
        size_t off = (size_t)i * R->cfg->batch_size * cap;
        memcpy(R->mb_tokens + off, b.tokens, sizeof(int32_t) * b.B * b.T);
        memcpy(R->mb_targets + off, b.targets, sizeof(int32_t) * b.B * b.T);
        R->mb_B[i] = b.B;
        R->mb_T[i] = b.T;
        targets += lc_batch_count_targets(&b);
        R->state.epoch = epoch;
    }
    return targets;
}

static lc_status evaluate(run *R, double *loss) {
    *loss = NAN;
    if (R->valid_rows.n_rows == 0) return LC_OK;
    return lc_eval_rows_loss(&R->base.model, &R->lora, R->acts, &R->valid_rows, R->cfg->batch_size, R->pad_id,
                             loss, NULL);
}

static lc_status after_eval(run *R, double vloss, int *stop_early) {
    const lc_train_config *cfg = R->cfg;
    if (isnan(vloss)) return LC_OK;
    if (vloss < R->state.best_valid_loss) {
        R->state.best_valid_loss = vloss;
        R->state.best_step = R->state.step;
        R->state.evals_since_best = 0;
        return save_checkpoint(R, "best.h5", 0);
    }
    R->state.evals_since_best++;
    if (cfg->early_stopping_patience > 0 && R->state.evals_since_best >= cfg->early_stopping_patience)
        *stop_early = 1;
    return LC_OK;
}

static lc_status train_loop(run *R, lc_train_result *res) {
    const lc_train_config *cfg = R->cfg;
    lc_model *m = &R->base.model;
    lc_adamw_params opt = {.lr = (float)cfg->lr, .beta1 = (float)cfg->adam_beta1, .beta2 = (float)cfg->adam_beta2,
                           .eps = (float)cfg->adam_eps, .weight_decay = (float)cfg->weight_decay,
                           .max_grad_norm = (float)cfg->max_grad_norm,
                           .loraplus_lr_ratio = (float)cfg->loraplus_lr_ratio};
    int64_t total = R->state.total_steps;
    long warmup = cfg->warmup_steps > 0 ? cfg->warmup_steps : (long)ceil(cfg->warmup_ratio * (double)total);
    size_t np = R->lora.n_params;
    float *backup = lc_alloc(3 * np * sizeof(float));
    if (!backup) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    lc_status st = LC_OK;
    int stop_early = 0;
    double loss = NAN, vloss = NAN;
    int log_every = cfg->log_every > 0 ? cfg->log_every : 1;
    while (R->state.step < total) {
        if (g_stop_after_step > 0 && R->state.step == g_stop_after_step) {
            g_stop_requested = 1;
            g_stop_after_step = 0; /* fires once */
        }
        if (g_stop_requested) {
            st = save_step_checkpoint(R);
            if (!st) {
                res->interrupted = 1;
                st = lc_errorf(LC_ERR_INTERRUPTED, "interrupted at step %lld: checkpoint saved in %s",
                               (long long)R->state.step, cfg->out_dir);
            }
            break;
        }
        double t0 = lc_time_now();
        int64_t step = R->state.step; /* 0-based index of the step being taken */
        double lr = lc_schedule_lr(cfg->lr_schedule, cfg->lr, step, total, warmup);
        opt.lr = (float)lr;
        int64_t ntargets = fetch_step_batches(R, cfg->grad_accum);
        lc_lora_zero_grad(&R->lora);
        double loss_sum = 0;
        int64_t positions = 0;
        int cap = R->batcher.rows->max_len;
        for (int i = 0; i < cfg->grad_accum && !st; i++) {
            size_t off = (size_t)i * cfg->batch_size * cap;
            lc_batch b = {R->mb_tokens + off, R->mb_targets + off, R->mb_B[i], R->mb_T[i]};
            double ls = 0;
            uint64_t seed = lc_hash64(cfg->seed, (uint64_t)step * 4096u + (uint64_t)i);
            st = lc_forward_backward(m, &R->lora, R->acts, &b, ntargets ? 1.0f / (float)ntargets : 0.0f, seed,
                                     &ls, NULL);
            loss_sum += ls;
            positions += (int64_t)b.B * b.T;
        }
        if (st) break;
        loss = ntargets ? loss_sum / (double)ntargets : 0.0;
        if (g_inject_nan_step == step + 1) {
            R->lora.grads[np / 2] = NAN;
            g_inject_nan_step = 0; /* fires once */
        }
        memcpy(backup, R->lora.params, np * sizeof(float));
        memcpy(backup + np, R->lora.m, np * sizeof(float));
        memcpy(backup + 2 * np, R->lora.v, np * sizeof(float));
        double gnorm = NAN;
        lc_status ost = isfinite(loss) ? lc_lora_optimizer_step(&R->lora, &opt, step + 1, &gnorm)
                                       : lc_errorf(LC_ERR_NUMERIC, "loss is %g", loss);
        if (ost == LC_OK && !lc_all_finite(R->lora.params, np))
            ost = lc_errorf(LC_ERR_NUMERIC, "an update made LoRA parameters non-finite");
        if (ost == LC_ERR_NUMERIC) {
            memcpy(R->lora.params, backup, np * sizeof(float));
            memcpy(R->lora.m, backup + np, np * sizeof(float));
            memcpy(R->lora.v, backup + 2 * np, np * sizeof(float));
            R->state.bad_steps++;
            res->skipped_steps++;
            if (!R->quiet)
                fprintf(stderr, "%slorac: step %lld skipped: %s\n", R->tty ? "\r\033[K" : "", (long long)step + 1,
                        lc_error_msg());
            if (R->state.bad_steps > cfg->max_nan_steps) {
                st = lc_errorf(LC_ERR_NUMERIC,
                               "%lld consecutive steps had non-finite loss or gradients (max_nan_steps %d): "
                               "training stopped; the last good checkpoint is in %s (try a lower lr)",
                               (long long)R->state.bad_steps, cfg->max_nan_steps, cfg->out_dir);
                break;
            }
            /* A skipped step still consumes its batches and its schedule slot. */
            R->state.step++;
            continue;
        } else if (ost) {
            st = ost;
            break;
        }
        R->state.bad_steps = 0;
        R->state.step++;
        R->state.tokens_seen += ntargets;
        double dt = lc_time_now() - t0;
        R->state.elapsed_s += dt;
        double tok_s = dt > 0 ? (double)positions / dt : 0;
        vloss = NAN;
        int eval_now = cfg->eval_every > 0 && R->state.step % cfg->eval_every == 0;
        if (eval_now || R->state.step == total) {
            if ((st = evaluate(R, &vloss))) break;
            res->last_valid_loss = vloss;
            if ((st = after_eval(R, vloss, &stop_early))) break;
        }
        log_metrics(R, loss, lr, gnorm, tok_s, vloss, ntargets);
        if (R->tty) progress(R, loss, lr, tok_s, vloss, !isnan(vloss)); /* in place; a line per eval */
        else if (!isnan(vloss) || R->state.step % log_every == 0) progress(R, loss, lr, tok_s, vloss, 1);
        int save_now = (cfg->save_every > 0 && R->state.step % cfg->save_every == 0) || R->state.step == total || stop_early;
        if (save_now && (st = save_step_checkpoint(R))) break;
        if (stop_early) {
            res->stopped_early = 1;
            if (!R->quiet)
                fprintf(stderr, "%slorac: early stopping: no validation improvement in %d evaluations\n",
                        R->tty ? "\r\033[K" : "", cfg->early_stopping_patience);
            break;
        }
    }
    if (R->tty && !R->quiet) fputc('\n', stderr);
    lc_free(backup);
    res->final_train_loss = loss;
    return st;
}

/* ------------------------------------------------------------------ run */

static void run_free(run *R) {
    if (R->jsonl) fclose(R->jsonl);
    if (R->csv) fclose(R->csv);
    if (R->batcher_ready) lc_batcher_free(&R->batcher);
    lc_acts_free(R->acts);
    if (R->lora_ready) lc_lora_free(&R->lora);
    lc_rows_free(&R->train_rows);
    lc_rows_free(&R->valid_rows);
    lc_rows_free(&R->test_rows);
    lc_chat_template_free(R->tmpl);
    lc_base_close(&R->base);
    free(R->config_yaml);
    free(R->mb_tokens);
    free(R->mb_targets);
    free(R->mb_B);
    free(R->mb_T);
}

lc_status lc_train_run(const lc_train_config *cfg, int resume, int quiet, lc_train_result *res) {
    run R;
    memset(&R, 0, sizeof R);
    memset(res, 0, sizeof *res);
    res->first_valid_loss = res->last_valid_loss = res->best_valid_loss = NAN;
    res->test_loss = res->test_loss_base = NAN;
    R.cfg = cfg;
    R.quiet = quiet;
    R.tty = isatty(STDERR_FILENO);
    g_stop_requested = 0;
    lc_status st = lc_train_config_validate(cfg);
    if (st) return st;
    int threads = lc_threads_init(cfg->threads);
    if ((st = mkdir_p(cfg->out_dir))) return st;
    lc_ckpt_cleanup_temp(cfg->out_dir, NULL);
    if ((st = lc_base_open(&R.base, cfg->model, cfg->tokenizer))) goto done;
    if ((st = load_rows(&R))) goto done;
    R.pad_id = lc_tokenizer_eos_id(R.base.tok) >= 0 ? lc_tokenizer_eos_id(R.base.tok) : 0;
    if (!(R.config_yaml = config_to_string(cfg))) {
        st = lc_errorf(LC_ERR_NOMEM, "cannot serialise the config");
        goto done;
    }
    char path[1200];
    int64_t resume_step = -1;
    if (resume) {
        resume_step = newest_checkpoint(cfg->out_dir);
        if (resume_step < 0) {
            st = lc_errorf(LC_ERR_IO, "--resume: no checkpoint-<step>.h5 in %s", cfg->out_dir);
            goto done;
        }
        snprintf(path, sizeof path, "%s/checkpoint-%lld.h5", cfg->out_dir, (long long)resume_step);
        char *saved = lc_adapter_config_yaml(path);
        st = check_resume_config(path, saved, R.config_yaml);
        free(saved);
        if (st) goto done;
        if ((st = lc_adapter_load(path, &R.base.model, &R.lora, &R.state, NULL, 0))) goto done;
        R.lora_ready = 1;
    } else {
        lc_lora_config lc = {.r = cfg->r, .alpha = (float)cfg->alpha, .rslora = cfg->rslora,
                             .dropout = (float)cfg->dropout, .init_gaussian = cfg->init_gaussian};
        if ((st = lc_lora_targets_parse_arch(cfg->target_modules, R.base.model.cfg.arch, &lc.targets))) goto done;
        lc_rng rng;
        lc_rng_seed(&rng, cfg->seed);
        if ((st = lc_lora_init(&R.lora, &R.base.model, &lc, &rng))) goto done;
        R.lora_ready = 1;
        R.state.best_valid_loss = INFINITY;
    }
    if ((st = lc_batcher_init(&R.batcher, &R.train_rows, cfg->batch_size, 1, R.pad_id,
                              lc_hash64(cfg->seed, 0xBA7C4ull))))
        goto done;
    R.batcher_ready = 1;
    if (resume) {
        lc_batcher_state bs = {.epoch = R.state.epoch, .pos = R.state.pos};
        memcpy(bs.rng.s, R.state.epoch_rng, sizeof bs.rng.s);
        if ((st = lc_batcher_set_state(&R.batcher, &bs))) goto done;
    }
    int64_t per_epoch = (lc_batcher_batches_per_epoch(&R.batcher) + cfg->grad_accum - 1) / cfg->grad_accum;
    R.state.total_steps = cfg->max_steps > 0 ? cfg->max_steps : (int64_t)cfg->epochs * per_epoch;
    int maxT = R.train_rows.max_len > R.valid_rows.max_len ? R.train_rows.max_len : R.valid_rows.max_len;
    if (R.test_rows.max_len > maxT) maxT = R.test_rows.max_len;
    if ((st = lc_acts_create_ex(&R.acts, &R.base.model, &R.lora, cfg->batch_size, maxT, cfg->grad_checkpointing)))
        goto done;
    size_t mb = (size_t)cfg->grad_accum * cfg->batch_size * R.train_rows.max_len;
    R.mb_tokens = malloc(mb * sizeof(int32_t));
    R.mb_targets = malloc(mb * sizeof(int32_t));
    R.mb_B = malloc(sizeof(int) * cfg->grad_accum);
    R.mb_T = malloc(sizeof(int) * cfg->grad_accum);
    if (!R.mb_tokens || !R.mb_targets || !R.mb_B || !R.mb_T) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory for batches");
        goto done;
    }
    /* resolved config beside the checkpoints */
    out_path(path, sizeof path, &R, "config.yaml");
    FILE *cf = fopen(path, "w");
    if (!cf || fputs(R.config_yaml, cf) < 0) {
        if (cf) fclose(cf);
        st = lc_errorf(LC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        goto done;
    }
    fclose(cf);
    char jpath[1200], cpath[1200];
    out_path(jpath, sizeof jpath, &R, "metrics.jsonl");
    out_path(cpath, sizeof cpath, &R, "metrics.csv");
    if (resume) {
        if ((st = trim_metrics(jpath, R.state.step, 0)) || (st = trim_metrics(cpath, R.state.step, 1))) goto done;
    }
    R.jsonl = fopen(jpath, resume ? "a" : "w");
    R.csv = fopen(cpath, resume ? "a" : "w");
    if (!R.jsonl || !R.csv) {
        st = lc_errorf(LC_ERR_IO, "cannot write metrics in %s: %s", cfg->out_dir, strerror(errno));
        goto done;
    }
    if (!resume)
        fputs("step,epoch,loss,lr,grad_norm,targets,tokens_per_s,elapsed_s,peak_rss_mb,valid_loss\n", R.csv);
    if (!quiet)
        fprintf(stderr,
                "lorac: %s (%s, %.1fM params) | LoRA r=%d alpha=%g on %s: %.2fM trainable | %lld steps, "
                "batch %d x accum %d, %d threads%s\n",
                cfg->model, lc_arch_name(R.base.model.cfg.arch), lc_model_param_count(&R.base.model) / 1e6,
                R.lora.cfg.r, R.lora.cfg.alpha, cfg->target_modules, R.lora.n_params / 1e6,
                (long long)R.state.total_steps, cfg->batch_size, cfg->grad_accum, threads,
                resume ? " (resumed)" : "");
    if (resume && !quiet)
        fprintf(stderr, "lorac: resumed from %s/checkpoint-%lld.h5\n", cfg->out_dir, (long long)resume_step);
    if (!resume) {
        double v0 = NAN;
        if ((st = evaluate(&R, &v0))) goto done;
        res->first_valid_loss = v0;
        if (!isnan(v0)) {
            log_metrics(&R, NAN, 0, NAN, 0, v0, 0);
            if (!quiet) fprintf(stderr, "lorac: validation loss before training: %.4f\n", v0);
        }
    }
    st = train_loop(&R, res);
    if (st == LC_OK) {
        out_path(res->final_adapter, sizeof res->final_adapter, &R, "adapter.h5");
        st = save_checkpoint(&R, "adapter.h5", 0);
    }
    if (st == LC_OK && R.test_rows.n_rows > 0) {
        /* held-out test set, once at the end: base model vs the final adapter */
        st = lc_eval_rows_loss(&R.base.model, NULL, R.acts, &R.test_rows, cfg->batch_size, R.pad_id,
                               &res->test_loss_base, NULL);
        if (!st)
            st = lc_eval_rows_loss(&R.base.model, &R.lora, R.acts, &R.test_rows, cfg->batch_size, R.pad_id,
                                   &res->test_loss, NULL);
        if (!st && R.jsonl) {
            fprintf(R.jsonl, "{\"step\":%lld,\"test_loss_base\":%.9g,\"test_loss\":%.9g}\n",
                    (long long)R.state.step, res->test_loss_base, res->test_loss);
            fflush(R.jsonl);
        }
    }
    res->steps_done = R.state.step;
    res->total_steps = R.state.total_steps;
    res->best_valid_loss = isfinite(R.state.best_valid_loss) ? R.state.best_valid_loss : NAN;
    res->best_step = R.state.best_step;
    res->tokens_per_s = R.state.elapsed_s > 0 ? (double)R.state.tokens_seen / R.state.elapsed_s : 0;
done:
    run_free(&R);
    return st;
}
