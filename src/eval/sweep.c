/*
 * sweep.c — `lorac sweep`: a grid of lc_train_run trials in their own run
 * directories, resumable, summarised and ranked by best validation loss
 * (lc_sweep.h). The plot is in sweep_svg.c.
 *
 * Trial state on disk: out_dir/trial-<k>-<key><value>.../ is an ordinary run
 * directory (config.yaml, metrics.jsonl, checkpoints, adapter.h5, and
 * done.json, which lc_train_run writes at the end of a finished run): the
 * presence of adapter.h5 and done.json is what "finished" means, whether the
 * sweep or a `lorac train [--resume]` in that directory finished the trial.
 *
 * Under MPI (`mpirun -np N lorac sweep`), trial k is trained by world rank
 * k % N alone (one-pass: a rank's trials form its pass); the results are
 * then broadcast from their ranks and rank 0 writes the summary and plot.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lc_path.h"
#include "lc_fsafe.h"
#include "eval_io.h"
#include "lc_ckpt.h"
#include "lc_dist.h"
#include "lc_sweep.h"
#include "lc_transformer.h" /* LC_MAX_TRIALS */
#include "lc_train.h"

lc_status lc_sweep_axis_parse(lc_sweep_axis *ax, const char *key, const char *values) {
    memset(ax, 0, sizeof *ax);
    if (strlen(key) >= sizeof ax->key) return lc_errorf(LC_ERR_CONFIG, "sweep key '%.80s' is too long", key);
    snprintf(ax->key, sizeof ax->key, "%s", key);
    for (char *d = ax->key; *d; d++)
        if (*d == '-') *d = '_';
    lc_train_config scratch = lc_train_config_default();
    for (const char *s = values; *s;) {
        size_t n = strcspn(s, ",");
        if (n == 0 || n >= sizeof ax->values[0])
            return lc_errorf(LC_ERR_CONFIG, "--%s: bad value list '%s': expected comma-separated values", key, values);
        if (ax->n == LC_SWEEP_MAX_VALUES)
            return lc_errorf(LC_ERR_CONFIG, "--%s: more than %d values", key, LC_SWEEP_MAX_VALUES);
        memcpy(ax->values[ax->n], s, n);
        ax->values[ax->n][n] = 0;
        lc_status st = lc_train_config_set(&scratch, ax->key, ax->values[ax->n]);
        if (st) return st;
        for (int k = 0; k < ax->n; k++)
            if (!strcmp(ax->values[k], ax->values[ax->n]))
                return lc_errorf(LC_ERR_CONFIG, "--%s: value '%s' given twice", key, ax->values[k]);
        ax->n++;
        s += n;
        if (*s == ',') s++;
    }
    if (ax->n == 0) return lc_errorf(LC_ERR_CONFIG, "--%s: no values", key);
    return LC_OK;
}

/* dir/name into buf, or LC_ERR_ARG when it does not fit (never a cut path). */

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static int has_checkpoint(const char *dir) { return lc_ckpt_newest_step(dir, "checkpoint") >= 0; }

/* Trial name: trial-<k>-lr1e-4-r8 (keys with '_' get a '_' before the value). */
static void trial_name(char *buf, size_t size, int k, const lc_sweep_axis *axes, int n_axes, char vals[][64]) {
    size_t o = (size_t)snprintf(buf, size, "trial-%d", k);
    for (int a = 0; a < n_axes && o < size; a++) {
        const char *sep = strchr(axes[a].key, '_') ? "_" : "";
        o += (size_t)snprintf(buf + o, size - o, "-%s%s", axes[a].key, sep);
        for (const char *v = vals[a]; *v && o + 1 < size; v++) {
            char c = *v;
            int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                     c == '-' || c == '+' || c == '_';
            buf[o++] = ok ? c : '_';
        }
        if (o < size) buf[o] = 0;
    }
}

/* Dump o (reference taken) to path atomically (temp + fsync + rename). */
static lc_status write_json_atomic(json_t *o, const char *path) {
    /* 17 digits, as done.json's (lc_train_done_write): the numbers a resumed sweep reads back
     * are the ones written */
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    json_decref(o);
    if (!text) return lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path);
    lc_status st = lc_fs_write_atomic(path, text, strlen(text));
    free(text);
    return st;
}

static void take_result(lc_sweep_trial *t, const lc_train_result *r) {
    t->best_valid_loss = r->best_valid_loss;
    t->last_valid_loss = r->last_valid_loss;
    t->final_train_loss = r->final_train_loss;
    t->best_step = r->best_step;
    t->steps = r->steps_done;
}

/* A trial finished before (adapter.h5 and the done.json that lc_train_run
 * writes at the end of a run: the sweep's, or a `lorac train [--resume]` in
 * the trial's directory): its numbers read back. */
static int finished_before(lc_sweep_trial *t, int n_trials, const lc_reporter *rep, lc_status *st) {
    char adapter[1400], done[1400];
    if ((*st = lc_path_join(adapter, sizeof adapter, t->dir, "adapter.h5")) ||
        (*st = lc_path_join(done, sizeof done, t->dir, LC_TRAIN_DONE_NAME)))
        return 1;
    if (!file_exists(adapter) || !file_exists(done)) return 0;
    t->status = LC_TRIAL_SKIPPED;
    lc_reporter_msg(rep, LC_REPORT_NOTICE, "lorac sweep: [%d/%d] %s: finished before, skipped", t->index + 1, n_trials,
                  t->name);
    lc_train_result r;
    if (!(*st = lc_train_done_read(t->dir, &r))) take_result(t, &r);
    return 1;
}

/* The trial's config: base with the swept keys set, out_dir its directory. */
static lc_status trial_config(const lc_train_config *base, const lc_sweep_axis *axes, int n_axes,
                              const lc_sweep_trial *t, lc_train_config *cfg) {
    *cfg = *base;
    for (int a = 0; a < n_axes; a++) {
        lc_status st = lc_train_config_set(cfg, axes[a].key, t->values[a]);
        if (st) return st;
    }
    if (strlen(t->dir) >= sizeof cfg->out_dir) return lc_errorf(LC_ERR_ARG, "trial directory too long: %s", t->dir);
    memcpy(cfg->out_dir, t->dir, strlen(t->dir) + 1);
    return LC_OK;
}

static lc_status run_trial(const lc_train_config *base, const lc_sweep_axis *axes, int n_axes, lc_sweep_trial *t,
                           int n_trials, const lc_reporter *rep) {
    lc_status st = LC_OK;
    if (finished_before(t, n_trials, rep, &st)) return st;
    lc_train_config cfg;
    if ((st = trial_config(base, axes, n_axes, t, &cfg))) return st;
    int resume = has_checkpoint(t->dir);
    cfg.overwrite = !resume; /* the trial dir is the sweep's own: one that never saved a checkpoint restarts */
    t->status = resume ? LC_TRIAL_RESUMED : LC_TRIAL_TRAINED;
    lc_reporter_msg(rep, LC_REPORT_NOTICE, "lorac sweep: [%d/%d] %s: %s", t->index + 1, n_trials, t->name,
                  resume ? "resuming from its newest checkpoint" : "training");
    lc_train_result r;
    lc_train_options opt = {.resume = resume, .reporter = rep};
    double t0 = lc_time_now();
    st = lc_train_run(&cfg, &opt, &r);
    t->train_s = lc_time_now() - t0;
    if (st) return lc_error_wrap(st, "sweep trial %s", t->name);
    take_result(t, &r);
    lc_reporter_msg(rep, LC_REPORT_NOTICE, "lorac sweep: [%d/%d] %s: best valid loss %.4f at step %lld (%.1f s)",
                  t->index + 1, n_trials, t->name, t->best_valid_loss, (long long)t->best_step, t->train_s);
    return LC_OK;
}

/* "lorac sweep: training 4 trial(s) in one pass: trial-0-... trial-1-..." */
static void report_pass(const lc_reporter *rep, const lc_sweep_result *res, const int *idx, int K, int resume) {
    char line[4096];
    size_t o = (size_t)snprintf(line, sizeof line, "lorac sweep: %s %d trial(s) in one pass:",
                                resume ? "resuming" : "training", K);
    for (int j = 0; j < K && o < sizeof line; j++)
        o += (size_t)snprintf(line + o, sizeof line - o, " %s", res->trials[idx[j]].name);
    lc_reporter_msg(rep, LC_REPORT_NOTICE, "%s", line);
}

/* One-pass mode: the unfinished trials train together with
 * lc_train_run_multi, grouped by the step of their newest checkpoint (a
 * killed one-pass sweep leaves them all at the same step; trials added to
 * the grid later start fresh in their own pass). */
static lc_status run_one_pass(const lc_train_config *base, const lc_sweep_axis *axes, int n_axes,
                              lc_sweep_result *res, const lc_reporter *rep) {
    int n = res->n_trials;
    lc_status st = LC_OK;
    int *todo = calloc((size_t)n, sizeof *todo);
    int64_t *step = calloc((size_t)n, sizeof *step);
    lc_train_config *cfgs = malloc((size_t)LC_MAX_TRIALS * sizeof *cfgs);
    lc_train_result *rs = malloc((size_t)LC_MAX_TRIALS * sizeof *rs);
    int *idx = malloc((size_t)LC_MAX_TRIALS * sizeof *idx);
    if (!todo || !step || !cfgs || !rs || !idx) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int k = 0; k < n && !st; k++) {
        if (k % lc_dist_world_size() != lc_dist_world_rank()) continue; /* dist: another rank's trial */
        if (finished_before(&res->trials[k], n, rep, &st)) continue;
        todo[k] = 1;
        step[k] = lc_ckpt_newest_step(res->trials[k].dir, "checkpoint");
    }
    for (int k0 = 0; k0 < n && !st; k0++) {
        if (!todo[k0]) continue;
        /* a pass: the trials (up to LC_MAX_TRIALS) at the same checkpoint step as k0 */
        int K = 0;
        for (int k = k0; k < n && K < LC_MAX_TRIALS && !st; k++) {
            if (!todo[k] || step[k] != step[k0]) continue;
            todo[k] = 0;
            idx[K] = k;
            st = trial_config(base, axes, n_axes, &res->trials[k], &cfgs[K]);
            cfgs[K].overwrite = step[k] < 0; /* as in run_trial */
            res->trials[k].status = step[k] >= 0 ? LC_TRIAL_RESUMED : LC_TRIAL_TRAINED;
            K++;
        }
        if (st) break;
        report_pass(rep, res, idx, K, step[k0] >= 0);
        lc_train_options opt = {.resume = step[k0] >= 0, .reporter = rep};
        double t0 = lc_time_now();
        st = lc_train_run_multi(cfgs, K, &opt, rs);
        double dt = lc_time_now() - t0;
        if (st) {
            lc_error_wrap(st, "sweep pass of %d trials", K);
            break;
        }
        for (int j = 0; j < K && !st; j++) {
            lc_sweep_trial *t = &res->trials[idx[j]];
            take_result(t, &rs[j]);
            t->train_s = dt; /* the pass's wall time, shared by its trials */
            lc_reporter_msg(rep, LC_REPORT_NOTICE, "lorac sweep: [%d/%d] %s: best valid loss %.4f at step %lld",
                          t->index + 1, n, t->name, t->best_valid_loss, (long long)t->best_step);
        }
        if (!st) lc_reporter_msg(rep, LC_REPORT_NOTICE, "lorac sweep: the pass of %d trial(s) took %.1f s", K, dt);
    }
out:
    free(todo);
    free(step);
    free(cfgs);
    free(rs);
    free(idx);
    return st;
}

/* dist: every rank must sweep the same grid over the same base config. */
static lc_status dist_check_config(const lc_train_config *base, const lc_sweep_axis *axes, int n_axes) {
    if (lc_dist_world_size() <= 1) return LC_OK;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    lc_status st = lc_train_config_to_yaml(base, f);
    for (int a = 0; a < n_axes; a++) {
        fprintf(f, "sweep %s:", axes[a].key);
        for (int v = 0; v < axes[a].n; v++) fprintf(f, " %s", axes[a].values[v]);
        fputc('\n', f);
    }
    fclose(f);
    if (!st) st = lc_dist_check_same_text("the sweep's config and grid", text);
    free(text);
    return st;
}

/* dist: every rank learns every trial's result from the rank that ran it
 * (after all agree that none failed). */
static lc_status dist_share_trials(lc_sweep_result *res, lc_status st) {
    if ((st = lc_dist_agree_world(st))) return st;
    for (int k = 0; k < res->n_trials && !st; k++)
        st = lc_dist_bcast_world(&res->trials[k], sizeof res->trials[k], k % lc_dist_world_size());
    return st;
}

static const lc_sweep_result *g_sort_res; /* qsort context */

static int cmp_rank(const void *a, const void *b) {
    const lc_sweep_trial *x = &g_sort_res->trials[*(const int *)a], *y = &g_sort_res->trials[*(const int *)b];
    int xn = !isfinite(x->best_valid_loss), yn = !isfinite(y->best_valid_loss);
    if (xn != yn) return xn - yn;
    if (!xn && x->best_valid_loss != y->best_valid_loss) return x->best_valid_loss < y->best_valid_loss ? -1 : 1;
    return x->index - y->index;
}

/* "skipped", "resumed" or "trained" (summary files) */
static const char *status_word(lc_trial_status s) {
    return s == LC_TRIAL_SKIPPED ? "skipped" : s == LC_TRIAL_RESUMED ? "resumed" : "trained";
}

/* the same for the table on stdout */
static const char *status_name(lc_trial_status s) {
    return s == LC_TRIAL_SKIPPED ? "skipped (done before)" : status_word(s);
}

void lc_sweep_print(FILE *f, const lc_sweep_result *res) {
    fprintf(f, "%-4s %-40s", "rank", "trial");
    fprintf(f, " %12s %9s %12s %12s %s\n", "best_valid", "at_step", "last_valid", "final_train", "status");
    for (int i = 0; i < res->n_trials; i++) {
        const lc_sweep_trial *t = &res->trials[res->rank[i]];
        fprintf(f, "%-4d %-40.40s %12.5f %9lld %12.5f %12.5f %s\n", i + 1, t->name, t->best_valid_loss,
                (long long)t->best_step, t->last_valid_loss, t->final_train_loss, status_name(t->status));
    }
    if (res->best >= 0)
        fprintf(f, "best: %s (valid loss %.5f) -> %s/adapter.h5\n", res->trials[res->best].name,
                res->trials[res->best].best_valid_loss, res->trials[res->best].dir);
    else
        fprintf(f, "best: none (no trial has a validation loss: set valid_data or split > 0)\n");
}

static lc_status write_summary(const lc_sweep_result *res, const char *out_dir) {
    char path[1200];
    lc_status st = lc_path_join(path, sizeof path, out_dir, "summary.csv");
    if (st) return st;
    char *csv = NULL;
    size_t csv_len = 0;
    FILE *f = open_memstream(&csv, &csv_len);
    if (!f) return lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path);
    fputs("rank,trial,dir", f);
    for (int a = 0; a < res->n_axes; a++) fprintf(f, ",%s", res->axes[a].key);
    fputs(",best_valid_loss,best_step,last_valid_loss,final_train_loss,steps,status,train_s\n", f);
    for (int i = 0; i < res->n_trials; i++) {
        const lc_sweep_trial *t = &res->trials[res->rank[i]];
        fprintf(f, "%d,", i + 1);
        eval_csv_field(f, t->name);
        fputc(',', f);
        eval_csv_field(f, t->dir);
        for (int a = 0; a < res->n_axes; a++) {
            fputc(',', f);
            eval_csv_field(f, t->values[a]);
        }
        fprintf(f, ",%.9g,%lld,%.9g,%.9g,%lld,%s,%.3f\n", t->best_valid_loss, (long long)t->best_step,
                t->last_valid_loss, t->final_train_loss, (long long)t->steps, status_word(t->status), t->train_s);
    }
    st = fclose(f) ? lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path)
                             : lc_fs_write_atomic(path, csv, csv_len);
    free(csv);
    if (st) return st;

    json_t *root = json_object(), *trials = json_array(), *axes = json_object();
    for (int a = 0; a < res->n_axes; a++) {
        json_t *vals = json_array();
        for (int v = 0; v < res->axes[a].n; v++) json_array_append_new(vals, json_string(res->axes[a].values[v]));
        json_object_set_new(axes, res->axes[a].key, vals);
    }
    json_object_set_new(root, "grid", axes);
    json_object_set_new(root, "best", res->best >= 0 ? json_string(res->trials[res->best].name) : json_null());
    json_object_set_new(root, "best_dir", res->best >= 0 ? json_string(res->trials[res->best].dir) : json_null());
    for (int i = 0; i < res->n_trials; i++) {
        const lc_sweep_trial *t = &res->trials[res->rank[i]];
        json_t *o = json_object(), *vals = json_object();
        json_object_set_new(o, "rank", json_integer(i + 1));
        json_object_set_new(o, "trial", json_string(t->name));
        json_object_set_new(o, "index", json_integer(t->index));
        json_object_set_new(o, "dir", json_string(t->dir));
        for (int a = 0; a < res->n_axes; a++) json_object_set_new(vals, res->axes[a].key, json_string(t->values[a]));
        json_object_set_new(o, "values", vals);
        json_object_set_new(o, "best_valid_loss", eval_json_num(t->best_valid_loss));
        json_object_set_new(o, "best_step", json_integer(t->best_step));
        json_object_set_new(o, "last_valid_loss", eval_json_num(t->last_valid_loss));
        json_object_set_new(o, "final_train_loss", eval_json_num(t->final_train_loss));
        json_object_set_new(o, "steps", json_integer(t->steps));
        json_object_set_new(o, "status", json_string(status_word(t->status)));
        json_object_set_new(o, "train_s", json_real(t->train_s));
        json_array_append_new(trials, o);
    }
    json_object_set_new(root, "trials", trials);
    if ((st = lc_path_join(path, sizeof path, out_dir, "summary.json"))) {
        json_decref(root);
        return st;
    }
    return write_json_atomic(root, path);
}

/* None of the summary files is one of the sweep's inputs (device + inode). */
static lc_status refuse_inputs(const lc_train_config *base, const char *out_dir) {
    static const char *const OUT[] = {"summary.csv", "summary.json", "curves.svg"};
    const char *in[5] = {base->model, base->tokenizer, base->data, base->valid_data, base->test_data};
    const char *role[5] = {"the model", "the tokenizer", "the training data", "the validation data", "the test data"};
    char path[1200];
    for (size_t k = 0; k < sizeof OUT / sizeof OUT[0]; k++) {
        lc_status st = lc_path_join(path, sizeof path, out_dir, OUT[k]);
        if (!st) st = lc_fs_refuse_input(path, in, role, 5);
        if (st) return st;
    }
    return LC_OK;
}

/* The grid's trials: values, names and directories (grid order: the last
 * axis varies fastest). */
static lc_status make_trials(lc_sweep_result *res, const lc_sweep_axis *axes, int n_axes, const char *out_dir) {
    int n = 1;
    for (int a = 0; a < n_axes; a++) n *= axes[a].n;
    res->n_axes = n_axes;
    memcpy(res->axes, axes, (size_t)n_axes * sizeof *axes);
    res->n_trials = n;
    res->trials = calloc((size_t)n, sizeof *res->trials);
    res->rank = calloc((size_t)n, sizeof *res->rank);
    if (!res->trials || !res->rank) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n; k++) {
        lc_sweep_trial *t = &res->trials[k];
        t->index = k;
        t->best_valid_loss = t->last_valid_loss = t->final_train_loss = NAN;
        t->best_step = -1;
        for (int a = n_axes - 1, rest = k; a >= 0; a--) {
            snprintf(t->values[a], sizeof t->values[a], "%s", axes[a].values[rest % axes[a].n]);
            rest /= axes[a].n;
        }
        trial_name(t->name, sizeof t->name, k, axes, n_axes, t->values);
        lc_status st = lc_path_join(t->dir, sizeof t->dir, out_dir, t->name);
        if (st) return st;
        res->rank[k] = k;
    }
    return LC_OK;
}

/* Rank the trials by best validation loss; rank 0 writes the summary files
 * and the plot. */
static lc_status rank_and_summarise(lc_sweep_result *res, const char *out_dir) {
    g_sort_res = res;
    qsort(res->rank, (size_t)res->n_trials, sizeof *res->rank, cmp_rank);
    g_sort_res = NULL;
    if (isfinite(res->trials[res->rank[0]].best_valid_loss)) res->best = res->rank[0];
    if (lc_dist_world_rank() != 0) return LC_OK;
    char path[1200];
    lc_status st = lc_path_join(path, sizeof path, out_dir, "curves.svg");
    if (!st) st = write_summary(res, out_dir);
    if (!st) st = lc_sweep_write_svg(res, path);
    return st;
}

lc_status lc_sweep_run(const lc_train_config *base, const lc_sweep_axis *axes, int n_axes, const char *out_dir,
                       int one_pass, const lc_reporter *rep, lc_sweep_result *res) {
    memset(res, 0, sizeof *res);
    res->best = -1;
    if (n_axes < 1 || n_axes > LC_SWEEP_MAX_AXES)
        return lc_errorf(LC_ERR_ARG, "a sweep needs 1 to %d swept keys, got %d", LC_SWEEP_MAX_AXES, n_axes);
    for (int a = 0; a < n_axes; a++)
        for (int b = 0; b < a; b++)
            if (!strcmp(axes[a].key, axes[b].key)) return lc_errorf(LC_ERR_ARG, "key '%s' swept twice", axes[a].key);
    lc_status st = lc_train_config_validate(base);
    if (st) return st;
    if (mkdir(out_dir, 0755) && errno != EEXIST)
        return lc_errorf(LC_ERR_IO, "cannot create %s: %s", out_dir, strerror(errno));
    if ((st = refuse_inputs(base, out_dir)) || (st = make_trials(res, axes, n_axes, out_dir)) ||
        (st = dist_check_config(base, axes, n_axes))) {
        lc_sweep_result_free(res);
        return st;
    }
    lc_dist_solo_begin(); /* dist: each rank trains its own trials alone */
    if (one_pass) st = run_one_pass(base, axes, n_axes, res, rep);
    else
        for (int k = 0; k < res->n_trials && !st; k++)
            if (k % lc_dist_world_size() == lc_dist_world_rank())
                st = run_trial(base, axes, n_axes, &res->trials[k], res->n_trials, rep);
    lc_dist_solo_end();
    st = dist_share_trials(res, st);
    if (!st) st = rank_and_summarise(res, out_dir);
    if (st) lc_sweep_result_free(res);
    return st;
}

void lc_sweep_result_free(lc_sweep_result *res) {
    free(res->trials);
    free(res->rank);
    memset(res, 0, sizeof *res);
    res->best = -1;
}
