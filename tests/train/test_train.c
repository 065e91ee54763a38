/*
 * test_train.c — `lorac train` (lc_train_run) and its training step on the
 * real stories260K model (HF directory from ../shared), with small jsonl
 * files of simple English Q&A written into a work directory.
 *
 * usage: test_train <accum|resume|resume_dora|layout|nan|sanity|checkpoints|init_adapter|weight_init> MODEL_DIR WORK_DIR
 *
 *   accum        grad accumulation: one micro-batch of 4 rows vs two of 2
 *                (each padded to its own longest row) give the same LoRA
 *                gradients; lc_train_run with batch 2 x accum 2 gives the
 *                loss curve of batch 4 x accum 1.
 *   resume       a run stopped after step 5 (lc_train_debug.stop_after_step) and
 *                resumed repeats the uninterrupted run bit for bit (metrics
 *                strings, adapter/checkpoint tensors), with the stop inside an
 *                epoch and at an epoch boundary.
 *   layout       padded vs padding-free batches give the same loss and
 *                grad-norm curves within rounding (dropout on, packing off
 *                and on); batch_tokens over 2 epochs, stopped and resumed,
 *                repeats itself bit for bit.
 *   nan          a non-finite step is skipped (rolled back, reported, not in
 *                the metrics) under max_nan_steps; with max_nan_steps 0 the
 *                run fails with LC_ERR_NUMERIC and the last checkpoint stays.
 *   sanity       150 steps on 4 pairs bring the train loss to the floor that
 *                the final RMSNorm allows (a bound computed from the weights).
 *   checkpoints  keep_last pruning, best.h5 is the best step's adapter,
 *                adapter.h5 loads on its base and is refused on another.
 *
 * Every check prints what it measured; any failure makes the exit status 1.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lc_cpu.h"
#include "lc_adapter.h"
#include "lc_base.h"
#include "lc_ckpt.h"
#include "lc_config.h"
#include "lc_data.h"
#include "lc_deploy.h"
#include "lc_eval.h"
#include "lc_loader.h"
#include "lc_lora.h"
#include "lc_schedule.h"
#include "lc_train.h"
#include "lc_transformer.h"

#include "../lc_test.h"

/* A call that must succeed: CHECK_OK (the library message is printed), and
 * on failure the rest of the function is skipped (its `fail:` label). */
#define EXPECT_OK(expr)                                                                                                \
    do {                                                                                                               \
        int failed_before_ = g_fail;                                                                                   \
        CHECK_OK(expr);                                                                                                \
        if (g_fail != failed_before_) goto fail;                                                                       \
    } while (0)

/* ------------------------------------------------------------- files */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static void mkdir_p(const char *dir) {
    char buf[1200];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Simple English Q&A pairs of different lengths. */
static const char *QA[][2] = {
    {"What color is the sky?", " The sky is blue."},
    {"What does the cat say?", " The cat says meow."},
    {"Where does the fish live?", " The fish lives in the water."},
    {"What does Lily like?", " Lily likes to play in the park with her dog."},
    {"Who is Tom?", " Tom is a little boy."},
    {"What is in the box?", " A red ball is in the box."},
    {"What did Ben eat?", " Ben ate a big apple."},
    {"Where is the sun?", " The sun is up in the sky."},
    {"What does the dog want?", " The dog wants to run and play."},
    {"Why was Sue sad?", " Sue was sad because her toy broke."},
    {"What is the bird doing?", " The bird is singing in the tree."},
    {"Who helped Mia?", " Her mom helped Mia find her shoe."},
    {"What is hot?", " The fire is hot."},
    {"What did the frog do?", " The frog jumped into the pond."},
    {"How big is the bear?", " The bear is very big and brown."},
    {"Where did they go?", " They went to the beach to swim."},
};
static const char *QA_VALID[][2] = {
    {"What is cold?", " The snow is cold."},
    {"What does the cow say?", " The cow says moo."},
    {"Who is Max?", " Max is a happy dog."},
    {"Where is the cake?", " The cake is on the table."},
};

/* Write rows idx[0..n) of QA (or QA_VALID) as prompt/completion jsonl. */
static void write_jsonl(const char *path, const char *(*pairs)[2], const int *idx, int n) {
    FILE *f = fopen(path, "w");
    if (!f) {
        printf("FAIL: cannot write %s\n", path);
        exit(1);
    }
    for (int i = 0; i < n; i++)
        fprintf(f, "{\"prompt\": \"%s\", \"completion\": \"%s\"}\n", pairs[idx[i]][0], pairs[idx[i]][1]);
    fclose(f);
}

static void write_first(const char *path, const char *(*pairs)[2], int n) {
    int idx[16];
    for (int i = 0; i < n; i++) idx[i] = i;
    write_jsonl(path, pairs, idx, n);
}

/* A quiet, small run config: LoRA all-linear r 8 on stories260K, no
 * validation split unless valid is given. */
static lc_train_config base_config(const char *model, const char *data, const char *valid, const char *out_dir) {
    lc_train_config c = lc_train_config_default();
    snprintf(c.model, sizeof c.model, "%.1000s", model);
    snprintf(c.data, sizeof c.data, "%.1000s", data);
    if (valid) snprintf(c.valid_data, sizeof c.valid_data, "%.1000s", valid);
    snprintf(c.out_dir, sizeof c.out_dir, "%.1000s", out_dir);
    snprintf(c.target_modules, sizeof c.target_modules, "all-linear");
    c.split = 0;
    c.lr = 3e-3;
    c.max_seq_len = 64;
    c.eval_every = 0;
    c.save_every = 0;
    c.keep_last = 0;
    return c;
}

/* lc_train_run with the test hooks (lc_train_debug; 0: off), reporting to
 * rep (NULL: nothing). */
static lc_status train(const lc_train_config *cfg, int resume, int64_t stop_after, int64_t inject_nan,
                       const lc_reporter *rep, lc_train_result *res) {
    lc_train_debug dbg = {.inject_nan_step = inject_nan, .stop_after_step = stop_after};
    lc_train_options opt = {.resume = resume, .reporter = rep, .debug = &dbg};
    return lc_train_run(cfg, &opt, res);
}

/* ----------------------------------------------------------- metrics */

typedef struct {
    long long step;
    char epoch[40], loss[40], lr[40], grad_norm[40], targets[40], valid_loss[40];
} metric_line;

/* The raw text of "key": up to ',' or '}' ("" if absent). */
static void field(const char *line, const char *key, char *out, size_t size) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    out[0] = 0;
    const char *p = strstr(line, pat);
    if (!p) return;
    p += strlen(pat);
    size_t n = strcspn(p, ",}\n");
    if (n >= size) n = size - 1;
    memcpy(out, p, n);
    out[n] = 0;
}

/* Read metrics.jsonl of a run directory; returns the number of lines (<= cap). */
static int read_metrics(const char *dir, metric_line *m, int cap) {
    char path[1200], line[1024], step[40];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot read %s", path);
    if (!f) return 0;
    int n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        metric_line *x = &m[n++];
        field(line, "step", step, sizeof step);
        x->step = step[0] ? atoll(step) : -1;
        field(line, "epoch", x->epoch, sizeof x->epoch);
        field(line, "loss", x->loss, sizeof x->loss);
        field(line, "lr", x->lr, sizeof x->lr);
        field(line, "grad_norm", x->grad_norm, sizeof x->grad_norm);
        field(line, "targets", x->targets, sizeof x->targets);
        field(line, "valid_loss", x->valid_loss, sizeof x->valid_loss);
    }
    fclose(f);
    return n;
}

static const metric_line *metric_at(const metric_line *m, int n, long long step) {
    for (int i = 0; i < n; i++)
        if (m[i].step == step) return &m[i];
    return NULL;
}

/* -------------------------------------------------------- checkpoints */

/* Compare two HDF5 checkpoints: the same datasets, every float tensor and
 * integer array bit-identical (strings, e.g. the config with its out_dir,
 * and attributes such as elapsed_s are not compared). */
static void compare_ckpt(const char *a_path, const char *b_path) {
    lc_ckpt *a = NULL, *b = NULL;
    size_t n_f32 = 0, n_int = 0, n_bad = 0;
    double worst = 0;
    EXPECT_OK(lc_ckpt_read(&a, a_path));
    EXPECT_OK(lc_ckpt_read(&b, b_path));
    CHECK(lc_ckpt_count(a) == lc_ckpt_count(b), "%s has %zu datasets, %s %zu", a_path, lc_ckpt_count(a), b_path,
          lc_ckpt_count(b));
    for (size_t i = 0; i < lc_ckpt_count(a); i++) {
        const lc_ckpt_entry *ea = lc_ckpt_entry_at(a, i), *eb = lc_ckpt_find(b, ea->name);
        if (!eb || eb->kind != ea->kind || eb->numel != ea->numel) {
            CHECK(0, "%s: dataset %s missing or of another kind/size in %s", a_path, ea->name, b_path);
            continue;
        }
        if (ea->kind == LC_CKPT_F32) {
            const float *da, *db;
            EXPECT_OK(lc_ckpt_get_tensor(a, ea->name, NULL, &da));
            EXPECT_OK(lc_ckpt_get_tensor(b, ea->name, NULL, &db));
            double d = 0;
            for (size_t k = 0; k < ea->numel; k++) d = fmax(d, fabs((double)da[k] - db[k]));
            worst = fmax(worst, d);
            n_f32++;
            if (memcmp(da, db, ea->numel * sizeof(float))) {
                n_bad++;
                printf("  %s differs: max abs %.3g\n", ea->name, d);
            }
        } else if (ea->kind == LC_CKPT_I64) {
            const int64_t *ia, *ib;
            size_t na, nb;
            EXPECT_OK(lc_ckpt_get_i64(a, ea->name, &ia, &na));
            EXPECT_OK(lc_ckpt_get_i64(b, ea->name, &ib, &nb));
            n_int++;
            if (na != nb || memcmp(ia, ib, na * sizeof *ia)) {
                n_bad++;
                printf("  %s differs\n", ea->name);
            }
        } else if (ea->kind == LC_CKPT_U64) {
            const uint64_t *ua, *ub;
            size_t na, nb;
            EXPECT_OK(lc_ckpt_get_u64(a, ea->name, &ua, &na));
            EXPECT_OK(lc_ckpt_get_u64(b, ea->name, &ub, &nb));
            n_int++;
            if (na != nb || memcmp(ua, ub, na * sizeof *ua)) {
                n_bad++;
                printf("  %s differs\n", ea->name);
            }
        }
    }
    printf("  %s vs %s: %zu float tensors (max abs diff %.3g), %zu integer arrays, %zu differ\n", a_path, b_path,
           n_f32, worst, n_int, n_bad);
    CHECK(n_bad == 0 && n_f32 > 0, "%s and %s are not bit-identical", a_path, b_path);
fail:
    lc_ckpt_free(a);
    lc_ckpt_free(b);
}

/* Load a training checkpoint (with state) and check every array is finite. */
static int load_finite(const lc_base *base, const char *path, lc_train_state *state) {
    lc_lora l;
    lc_train_state st_local;
    int ok = 0;
    EXPECT_OK(lc_adapter_load(path, &base->model, &l, state ? state : &st_local, NULL, 0));
    ok = lc_all_finite(l.params, l.n_params) && lc_all_finite(l.m, l.n_params) && lc_all_finite(l.v, l.n_params);
    CHECK(ok, "%s holds non-finite parameters or moments", path);
    lc_lora_free(&l);
fail:
    return ok;
}

/* Tokenised rows of a jsonl file as lc_train_run builds them. */
static lc_status build_rows(lc_rows *rows, const lc_base *base, const lc_train_config *cfg, const char *path) {
    lc_dataset ds = {0};
    lc_chat_template *tmpl = NULL;
    lc_status st = lc_dataset_load(&ds, path, cfg);
    if (!st) st = lc_data_template_resolve(&tmpl, cfg, base->tok, base->model.fam.name);
    if (!st) st = lc_rows_build(rows, &ds, base->tok, tmpl, cfg);
    lc_chat_template_free(tmpl);
    lc_dataset_free(&ds);
    return st;
}

/* =============================================================== accum */

/* Gradients of one micro-batch of all rows vs two micro-batches of half. */
static void accum_direct(const char *model, const char *work) {
    char data[1200];
    snprintf(data, sizeof data, "%s/four.jsonl", work);
    /* two short rows first, two long ones after: the 2-row batches have
     * different lengths from each other and from the 4-row batch */
    int idx[4] = {0, 12, 3, 9};
    write_jsonl(data, QA, idx, 4);
    lc_train_config cfg = base_config(model, data, NULL, work);
    lc_base base = {0};
    lc_rows rows = {0};
    lc_lora lora = {0};
    lc_acts *acts = NULL;
    lc_batcher b4 = {0}, b2 = {0};
    float *g_full = NULL;
    EXPECT_OK(lc_base_open(&base, model, NULL));
    EXPECT_OK(build_rows(&rows, &base, &cfg, data));
    CHECK(rows.n_rows == 4, "expected 4 rows, found %d", rows.n_rows);
    lc_lora_config lc = lc_lora_default_config();
    lc.r = 8;
    lc.alpha = 16;
    lc.dropout = 0;
    EXPECT_OK(lc_lora_targets_parse("all-linear", &lc.targets));
    lc_rng rng;
    lc_rng_seed(&rng, 7);
    EXPECT_OK(lc_lora_init(&lora, &base.model, &lc, &rng));
    /* non-zero B (and A) so that every A and B gradient is non-trivial */
    for (size_t i = 0; i < lora.n_params; i++) lora.params[i] = 0.1f * lc_rng_normal(&rng);
    int32_t pad = lc_tokenizer_eos_id(base.tok);
    EXPECT_OK(lc_acts_create(&acts, &base.model, &lora, 4, rows.max_len));
    size_t np = lora.n_params;
    g_full = malloc(np * sizeof(float));

    /* one micro-batch of 4 rows */
    EXPECT_OK(lc_batcher_init(&b4, &rows, 4, 0, pad, 1));
    lc_batch b;
    lc_batcher_next(&b4, &b, NULL);
    int64_t n_all = lc_batch_count_targets(&b);
    int T4 = b.T;
    float scale = 1.0f / (float)n_all;
    double loss4 = 0, loss2 = 0;
    int64_t nt4 = 0, nt2 = 0;
    lc_lora_zero_grad(&lora);
    EXPECT_OK(lc_forward_backward(&base.model, &lora, acts, &b, scale, 1, &loss4, &nt4));
    memcpy(g_full, lora.grads, np * sizeof(float));
    /* the same micro-batch again: bit-identical (what bit-exact resume needs) */
    {
        double again = 0;
        lc_lora_zero_grad(&lora);
        EXPECT_OK(lc_forward_backward(&base.model, &lora, acts, &b, scale, 1, &again, NULL));
        int same = again == loss4 && !memcmp(g_full, lora.grads, np * sizeof(float));
        printf("accum: the same batch twice: %s\n", same ? "bit-identical" : "DIFFERENT");
        CHECK(same, "lc_forward_backward is not deterministic");
    }

    /* two micro-batches of 2 rows, same scale, accumulated */
    EXPECT_OK(lc_batcher_init(&b2, &rows, 2, 0, pad, 1));
    lc_lora_zero_grad(&lora);
    int T2[2];
    for (int i = 0; i < 2; i++) {
        double ls = 0;
        int64_t nt = 0;
        lc_batcher_next(&b2, &b, NULL);
        T2[i] = b.T;
        EXPECT_OK(lc_forward_backward(&base.model, &lora, acts, &b, scale, 1, &ls, &nt));
        loss2 += ls;
        nt2 += nt;
    }
    printf("accum: T of the 4-row batch %d, of the 2-row batches %d and %d; %lld targets\n", T4, T2[0], T2[1],
           (long long)n_all);
    CHECK(T2[0] != T2[1] && T2[0] < T4, "the micro-batches should have different padded lengths");
    CHECK(nt4 == n_all && nt2 == n_all, "targets: one batch %lld, two batches %lld, counted %lld", (long long)nt4,
          (long long)nt2, (long long)n_all);
    double lrel = fabs(loss4 - loss2) / fabs(loss4);
    printf("accum: summed loss %.9g (one batch) vs %.9g (two), rel diff %.3g\n", loss4, loss2, lrel);
    CHECK(lrel < 1e-6, "summed losses differ by %.3g relative", lrel);
    double gmax = 0, dmax = 0;
    for (size_t i = 0; i < np; i++) {
        gmax = fmax(gmax, fabs(g_full[i]));
        dmax = fmax(dmax, fabs((double)g_full[i] - lora.grads[i]));
    }
    /* every A and B gradient non-trivial */
    int trivial = 0;
    for (int l = 0; l < lora.n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            lc_lora_pair *p = lc_lora_get(&lora, l, (lc_lora_target)t);
            if (!p->A) continue;
            float ma = 0, mb = 0;
            for (int k = 0; k < lc.r * p->in; k++) ma = fmaxf(ma, fabsf(p->dA[k]));
            for (int k = 0; k < p->out * lc.r; k++) mb = fmaxf(mb, fabsf(p->dB[k]));
            if (!(ma > 1e-3f * gmax) || !(mb > 1e-3f * gmax)) {
                printf("  layer %d %s: max|dA| %.3g max|dB| %.3g\n", l, lc_lora_target_name((lc_lora_target)t), ma,
                       mb);
                trivial++;
            }
        }
    CHECK(trivial == 0, "%d LoRA modules have (near-)zero gradients", trivial);
    /* Limit: fp32 rounding. Against a float64 PyTorch evaluation of this very
     * batch (same weights, adapter and rows), lorac's gradients are off by
     * 1.0e-5 x max|g| whatever the grouping (4, 2+2 or 1+1+1+1 rows), and the
     * groupings differ from each other by 4.5e-6 to 1.2e-5 (which rows share
     * an sgemm call and its rounding depends on the grouping and the thread
     * count): two groupings each within 1e-5 of the truth may differ by 2e-5,
     * the limit. 1e-6 is below what fp32 resolves here. A wrong accumulation
     * (= for +=, a per-micro-batch 1/targets, padding counted) is O(1e-1). */
    printf("accum: LoRA grads (%zu): max|g| %.6g, max abs diff %.3g, relative to max|g| %.3g (limit 2e-5)\n", np, gmax,
           dmax, dmax / gmax);
    CHECK(gmax > 0 && dmax <= 2e-5 * gmax, "accumulated gradients differ: %.3g relative", dmax / gmax);
fail:
    free(g_full);
    lc_batcher_free(&b4);
    lc_batcher_free(&b2);
    lc_acts_free(acts);
    if (lora.params) lc_lora_free(&lora);
    lc_rows_free(&rows);
    lc_base_close(&base);
}

/* lc_train_run: batch 2 x accum 2 vs batch 4 x accum 1. The batcher's epoch
 * order does not depend on the batch size (a shuffle of all rows), and 8
 * rows split evenly into steps of 4, so both runs see the same 4 rows in
 * every step; with dropout 0 only float rounding can differ. */
static void accum_train(const char *model, const char *work) {
    char data[1200], dir_a[1200], dir_b[1200];
    snprintf(data, sizeof data, "%s/eight.jsonl", work);
    snprintf(dir_a, sizeof dir_a, "%s/b4x1", work);
    snprintf(dir_b, sizeof dir_b, "%s/b2x2", work);
    write_first(data, QA, 8);
    lc_train_config ca = base_config(model, data, NULL, dir_a);
    ca.max_steps = 8;
    ca.batch_size = 4;
    ca.grad_accum = 1;
    ca.warmup_steps = 2;
    lc_train_config cb = ca;
    snprintf(cb.out_dir, sizeof cb.out_dir, "%.1000s", dir_b);
    cb.batch_size = 2;
    cb.grad_accum = 2;
    lc_train_result ra, rb;
    metric_line ma[32], mb[32];
    EXPECT_OK(train(&ca, 0, 0, 0, NULL, &ra));
    EXPECT_OK(train(&cb, 0, 0, 0, NULL, &rb));
    int na = read_metrics(dir_a, ma, 32), nb = read_metrics(dir_b, mb, 32);
    CHECK(na == 8 && nb == 8, "expected 8 metric lines, found %d and %d", na, nb);
    double worst_loss = 0, worst_gn = 0;
    for (int i = 0; i < na && i < nb; i++) {
        double la = atof(ma[i].loss), lb = atof(mb[i].loss);
        double ga = atof(ma[i].grad_norm), gb = atof(mb[i].grad_norm);
        double rl = fabs(la - lb) / fabs(la), rg = fabs(ga - gb) / fabs(ga);
        worst_loss = fmax(worst_loss, rl);
        worst_gn = fmax(worst_gn, rg);
        CHECK(ma[i].step == mb[i].step && !strcmp(ma[i].targets, mb[i].targets),
              "step %lld: targets %s vs %s (steps must see the same rows)", ma[i].step, ma[i].targets, mb[i].targets);
        if (i < 3 || i == na - 1)
            printf("  step %lld: loss %s vs %s, grad_norm %s vs %s\n", ma[i].step, ma[i].loss, mb[i].loss,
                   ma[i].grad_norm, mb[i].grad_norm);
    }
    printf("accum: lc_train_run 4x1 vs 2x2 over %d steps: max rel diff loss %.3g, grad_norm %.3g (limit 1e-5)\n", na,
           worst_loss, worst_gn);
    CHECK(worst_loss <= 1e-5, "loss curves differ by %.3g relative", worst_loss);
    CHECK(worst_gn <= 1e-5, "grad norms differ by %.3g relative", worst_gn);
    CHECK(ma[0].loss[0] && atof(ma[na - 1].loss) < atof(ma[0].loss), "the loss should fall over 8 steps");
fail:;
}

/* ============================================================== resume */

static void resume_variant(const char *model, const char *work, const char *name, int n_rows, int batch,
                           int64_t want_epoch, int64_t want_pos, int dora, double neftune_alpha, const char *tokens) {
    char data[1200], valid[1200], dir_a[1200], dir_b[1200], pa[1300], pb[1300];
    snprintf(data, sizeof data, "%s/%s_train.jsonl", work, name);
    snprintf(valid, sizeof valid, "%s/valid.jsonl", work);
    snprintf(dir_a, sizeof dir_a, "%s/%s_A", work, name);
    snprintf(dir_b, sizeof dir_b, "%s/%s_B", work, name);
    write_first(data, QA, n_rows);
    write_first(valid, QA_VALID, 4);
    lc_train_config ca = base_config(model, data, valid, dir_a);
    ca.max_steps = 12;
    ca.eval_every = 4;
    ca.save_every = 4;
    ca.dropout = 0.1;
    ca.use_dora = dora; /* DoRA: magnitudes and their AdamW moments must resume too */
    ca.batch_size = batch;
    ca.grad_accum = 2;
    ca.lr_schedule = LC_SCHED_COSINE;
    ca.warmup_steps = 2;
    ca.keep_last = 3;
    ca.neftune_alpha = neftune_alpha;
    snprintf(ca.trainable_token_indices, sizeof ca.trainable_token_indices, "%s", tokens ? tokens : "");
    lc_train_config cb = ca;
    snprintf(cb.out_dir, sizeof cb.out_dir, "%.1000s", dir_b);
    lc_train_result ra, rb;
    lc_base base = {0};
    metric_line ma[32], mb[32];
    EXPECT_OK(train(&ca, 0, 0, 0, NULL, &ra));
    lc_status st = train(&cb, 0, 5, 0, NULL, &rb);
    printf("resume/%s: stopped run returned %s (%s)\n", name, lc_status_name(st), lc_error_msg());
    CHECK(st == LC_ERR_INTERRUPTED && rb.interrupted && rb.steps_done == 5,
          "stop after 5: status %s, interrupted %d, steps %lld", lc_status_name(st), rb.interrupted,
          (long long)rb.steps_done);
    snprintf(pb, sizeof pb, "%s/checkpoint-5.h5", dir_b);
    snprintf(pa, sizeof pa, "%s/adapter.h5", dir_b);
    CHECK(file_exists(pb), "%s missing after the stop", pb);
    CHECK(!file_exists(pa), "%s should not exist after an interrupted run", pa);
    /* where the batcher stood: the variant's point */
    EXPECT_OK(lc_base_open(&base, model, NULL));
    lc_train_state ts;
    if (load_finite(&base, pb, &ts)) {
        printf("resume/%s: checkpoint-5 at epoch %lld, position %lld of %d rows\n", name, (long long)ts.epoch,
               (long long)ts.pos, n_rows);
        CHECK(ts.step == 5 && ts.epoch == want_epoch && ts.pos == want_pos,
              "checkpoint-5: step %lld epoch %lld pos %lld, expected step 5 epoch %lld pos %lld", (long long)ts.step,
              (long long)ts.epoch, (long long)ts.pos, (long long)want_epoch, (long long)want_pos);
    }
    EXPECT_OK(train(&cb, 1, 0, 0, NULL, &rb));
    CHECK(rb.steps_done == 12 && ra.steps_done == 12, "steps done %lld / %lld, expected 12", (long long)ra.steps_done,
          (long long)rb.steps_done);
    CHECK(ra.best_step == rb.best_step, "best step %lld vs %lld", (long long)ra.best_step, (long long)rb.best_step);

    int na = read_metrics(dir_a, ma, 32), nb = read_metrics(dir_b, mb, 32);
    CHECK(na == 13 && nb == na, "metrics lines: %d uninterrupted, %d resumed (expected 13: step 0 + 12)", na, nb);
    int n_cmp = 0, n_diff = 0;
    for (int i = 0; i < na && i < nb; i++) {
        const metric_line *x = &ma[i], *y = &mb[i];
        int same = x->step == y->step && x->step == i && !strcmp(x->loss, y->loss) && !strcmp(x->lr, y->lr) &&
                   !strcmp(x->grad_norm, y->grad_norm) && !strcmp(x->valid_loss, y->valid_loss) &&
                   !strcmp(x->epoch, y->epoch) && !strcmp(x->targets, y->targets);
        n_cmp += 6;
        if (!same) {
            n_diff++;
            printf("  step %lld/%lld: loss %s/%s lr %s/%s grad_norm %s/%s valid %s/%s epoch %s/%s\n", x->step, y->step,
                   x->loss, y->loss, x->lr, y->lr, x->grad_norm, y->grad_norm, x->valid_loss, y->valid_loss, x->epoch,
                   y->epoch);
        }
    }
    const metric_line *v4 = metric_at(ma, na, 4), *v12 = metric_at(ma, na, 12);
    CHECK(v4 && v4->valid_loss[0] && v12 && v12->valid_loss[0], "valid_loss missing at steps 4/12");
    printf("resume/%s: %d metric values over %d lines compared as strings, %d lines differ (e.g. step 6 loss %s)\n",
           name, n_cmp, na, n_diff, na > 6 ? ma[6].loss : "?");
    CHECK(n_diff == 0, "resumed metrics differ from the uninterrupted run");
    const char *files[] = {"adapter.h5", "checkpoint-12.h5", "checkpoint-8.h5", "best.h5"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(pa, sizeof pa, "%s/%s", dir_a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", dir_b, files[i]);
        compare_ckpt(pa, pb);
    }
fail:
    lc_base_close(&base);
}

/* The tokens variant's final adapter: 4 token rows, trained (every row moved
 * off the embedding: BOS 1 and EOS 2 are in every example, 13 and 300 get at
 * least the tied head's gradient), everything finite. */
static void tokens_trained(const char *model, const char *work) {
    char path[1200];
    lc_base base = {0};
    lc_lora l;
    memset(&l, 0, sizeof l);
    snprintf(path, sizeof path, "%s/tokens_A/adapter.h5", work);
    EXPECT_OK(lc_base_open(&base, model, NULL));
    EXPECT_OK(lc_adapter_load(path, &base.model, &l, NULL, NULL, 0));
    int C = base.model.cfg.hidden_size, moved = 0;
    const float *E = (const float *)base.model.tok_emb.data;
    for (int j = 0; j < l.tok.n; j++)
        moved += memcmp(l.tok.delta + (size_t)j * C, E + (size_t)l.tok.ids[j] * C, (size_t)C * sizeof(float)) != 0;
    printf("resume/tokens: %d token rows, %d moved off the embedding by training\n", l.tok.n, moved);
    CHECK(l.tok.n == 4 && l.tok.tied && moved == 4, "token rows %d (tied %d), %d trained; expected 4, tied, 4",
          l.tok.n, l.tok.tied, moved);
fail:
    lc_lora_free(&l);
    lc_base_close(&base);
}

/* ============================================================= layout */

/* Loss and grad_norm curves of two runs on the same rows: equal targets per
 * step and every value within rel_tol (the limit accum_train derives: only
 * float rounding differs). */
static void compare_curves(const char *dir_a, const char *dir_b, int want_lines, double rel_tol, const char *name) {
    metric_line ma[40], mb[40];
    int na = read_metrics(dir_a, ma, 40), nb = read_metrics(dir_b, mb, 40); /* no validation: no step-0 line */
    if (na < 1 || nb < 1) {
        CHECK(0, "%s: no metrics", name);
        return;
    }
    CHECK(na == want_lines && nb == na, "%s: %d and %d metric lines, expected %d", name, na, nb, want_lines);
    double worst = 0;
    for (int i = 0; i < na && i < nb; i++) {
        double la = atof(ma[i].loss), lb = atof(mb[i].loss), ga = atof(ma[i].grad_norm), gb = atof(mb[i].grad_norm);
        worst = fmax(worst, fmax(fabs(la - lb) / fabs(la), fabs(ga - gb) / fabs(ga)));
        CHECK(!strcmp(ma[i].targets, mb[i].targets), "%s step %lld: targets %s vs %s", name, ma[i].step,
              ma[i].targets, mb[i].targets);
    }
    printf("layout/%s: %d steps, loss %s -> %s vs %s -> %s, max rel diff of loss and grad_norm %.3g (limit %g)\n",
           name, na, ma[0].loss, ma[na - 1].loss, mb[0].loss, mb[nb - 1].loss, worst, rel_tol);
    CHECK(worst <= rel_tol, "%s: curves differ by %.3g relative", name, worst);
}

/* Padded vs padding-free training (dropout 0.1: both layouts draw the same
 * masks), with packing off and on (packed examples as segments). */
static void layout_pair(const char *model, const char *work, int packing) {
    char data[1200], dir_a[1200], dir_b[1200];
    snprintf(data, sizeof data, "%s/qa16.jsonl", work);
    snprintf(dir_a, sizeof dir_a, "%s/padded_%d", work, packing);
    snprintf(dir_b, sizeof dir_b, "%s/free_%d", work, packing);
    write_first(data, QA, 16);
    lc_train_config ca = base_config(model, data, NULL, dir_a);
    ca.max_steps = 8;
    ca.batch_size = packing ? 2 : 5; /* 5 does not divide 16: a short last batch, then a new epoch */
    ca.dropout = 0.1;
    ca.packing = packing;
    ca.padding_free = LC_PF_OFF;
    lc_train_config cb = ca;
    snprintf(cb.out_dir, sizeof cb.out_dir, "%.1000s", dir_b);
    cb.padding_free = LC_PF_ON;
    lc_train_result ra, rb;
    EXPECT_OK(train(&ca, 0, 0, 0, NULL, &ra));
    EXPECT_OK(train(&cb, 0, 0, 0, NULL, &rb));
    compare_curves(dir_a, dir_b, 8, 1e-5, packing ? "packed, padded vs padding-free" : "padded vs padding-free");
fail:;
}

/* batch_tokens: a run over 2 epochs (steps counted by replaying the
 * shuffles) and the same run stopped after 3 steps and resumed: identical
 * metrics and adapter bits. */
static void layout_budget_resume(const char *model, const char *work) {
    char data[1200], dir_a[1200], dir_b[1200], pa[1300], pb[1300];
    snprintf(data, sizeof data, "%s/qa16b.jsonl", work);
    snprintf(dir_a, sizeof dir_a, "%s/budget_A", work);
    snprintf(dir_b, sizeof dir_b, "%s/budget_B", work);
    write_first(data, QA, 16);
    lc_train_config ca = base_config(model, data, NULL, dir_a);
    ca.epochs = 2;
    ca.batch_tokens = 70;
    ca.grad_accum = 2;
    ca.dropout = 0.1;
    ca.save_every = 3;
    lc_train_config cb = ca;
    snprintf(cb.out_dir, sizeof cb.out_dir, "%.1000s", dir_b);
    lc_train_result ra, rb;
    EXPECT_OK(train(&ca, 0, 0, 0, NULL, &ra));
    lc_status st = train(&cb, 0, 3, 0, NULL, &rb);
    CHECK(st == LC_ERR_INTERRUPTED && rb.steps_done == 3, "budget run stopped after 3: %s", lc_status_name(st));
    EXPECT_OK(train(&cb, 1, 0, 0, NULL, &rb));
    printf("layout/batch_tokens 70 x accum 2, 2 epochs: %lld steps; resumed after 3: %lld steps\n",
           (long long)ra.steps_done, (long long)rb.steps_done);
    CHECK(ra.steps_done >= 4 && rb.steps_done == ra.steps_done, "steps %lld vs %lld", (long long)ra.steps_done,
          (long long)rb.steps_done);
    compare_curves(dir_a, dir_b, (int)ra.steps_done, 0, "batch_tokens resumed (bit-identical)");
    snprintf(pa, sizeof pa, "%s/adapter.h5", dir_a);
    snprintf(pb, sizeof pb, "%s/adapter.h5", dir_b);
    compare_ckpt(pa, pb);
fail:;
}

/* ================================================================= nan */

/* A reporter that appends every message line to a FILE. */
static void message_to_file(void *user, lc_reporter_level level, const char *text) {
    (void)level;
    fprintf((FILE *)user, "%s\n", text);
}

/* Run with NaN injected at step inject_nan, the reported messages written
 * into log_path; returns the status. */
static lc_status run_capture(const lc_train_config *cfg, int64_t inject_nan, lc_train_result *res,
                             const char *log_path) {
    FILE *log = fopen(log_path, "w");
    if (!log) return lc_errorf(LC_ERR_IO, "cannot write %s", log_path);
    lc_reporter rep = {.message = message_to_file, .user = log};
    lc_status st = train(cfg, 0, 0, inject_nan, &rep, res);
    fclose(log);
    return st;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_nan(const char *model, const char *work) {
    char data[1200], dir[1200], path[1300], log[1300];
    snprintf(data, sizeof data, "%s/eight.jsonl", work);
    write_first(data, QA, 8);
    lc_base base = {0};
    lc_train_result res;
    metric_line m[32];
    char *text = NULL;
    EXPECT_OK(lc_base_open(&base, model, NULL));

    /* 1. one bad step tolerated: skipped, reported, not a trained step */
    snprintf(dir, sizeof dir, "%s/skip", work);
    lc_train_config cfg = base_config(model, data, NULL, dir);
    cfg.max_steps = 8;
    cfg.save_every = 2;
    cfg.max_nan_steps = 2;
    cfg.warmup_steps = 2;
    cfg.log_every = 1;
    snprintf(log, sizeof log, "%s/skip.log", work);
    mkdir_p(dir);
    lc_status st = run_capture(&cfg, 3, &res, log);
    text = slurp(log);
    printf("nan/skip: status %s, skipped_steps %lld, steps_done %lld\n", lc_status_name(st),
           (long long)res.skipped_steps, (long long)res.steps_done);
    CHECK(st == LC_OK && res.skipped_steps == 1 && res.steps_done == 8, "NaN at step 3 with max_nan_steps 2: %s, %s",
          lc_status_name(st), lc_error_msg());
    const char *rep = strstr(text, "step 3 skipped");
    printf("nan/skip: report line: %.*s\n", rep ? (int)strcspn(rep, "\n") : 4, rep ? rep : "none");
    CHECK(rep != NULL, "no 'step 3 skipped' report on stderr");
    int n = read_metrics(dir, m, 32);
    CHECK(n == 7, "metrics: %d lines, expected 7 (steps 1-8 without 3)", n);
    CHECK(metric_at(m, n, 3) == NULL, "the skipped step 3 appears in metrics.jsonl");
    /* the skipped step still used its schedule slot: step s logs lr(s-1) */
    for (int i = 0; i < n; i++) {
        char want[40];
        snprintf(want, sizeof want, "%.9g", lc_schedule_lr(cfg.lr_schedule, cfg.lr, (long)m[i].step - 1, 8, 2));
        CHECK(!strcmp(m[i].lr, want), "step %lld: lr %s, schedule gives %s", m[i].step, m[i].lr, want);
        CHECK(isfinite(atof(m[i].loss)) && isfinite(atof(m[i].grad_norm)), "step %lld: loss %s grad_norm %s",
              m[i].step, m[i].loss, m[i].grad_norm);
    }
    int n_ck = 0;
    for (int s = 2; s <= 8; s += 2) {
        lc_train_state ts;
        snprintf(path, sizeof path, "%s/checkpoint-%d.h5", dir, s);
        if (load_finite(&base, path, &ts)) {
            n_ck++;
            CHECK(ts.step == s && ts.bad_steps == 0, "%s: step %lld bad_steps %lld", path, (long long)ts.step,
                  (long long)ts.bad_steps);
        }
    }
    snprintf(path, sizeof path, "%s/adapter.h5", dir);
    lc_lora l;
    EXPECT_OK(lc_adapter_load(path, &base.model, &l, NULL, NULL, 0));
    CHECK(lc_all_finite(l.params, l.n_params), "adapter.h5 not finite");
    lc_lora_free(&l);
    printf("nan/skip: %d checkpoints + adapter.h5 load and are finite\n", n_ck);
    free(text);
    text = NULL;

    /* 2. the skipped step changed nothing: stop right after it, and the
     * final adapter equals checkpoint-2 bit for bit (rolled back) */
    snprintf(dir, sizeof dir, "%s/rollback", work);
    cfg = base_config(model, data, NULL, dir);
    cfg.max_steps = 3;
    cfg.save_every = 2;
    cfg.max_nan_steps = 1;
    st = train(&cfg, 0, 0, 3, NULL, &res);
    CHECK(st == LC_OK && res.skipped_steps == 1, "rollback run: %s skipped %lld", lc_status_name(st),
          (long long)res.skipped_steps);
    char p2[1300];
    snprintf(path, sizeof path, "%s/checkpoint-2.h5", dir);
    snprintf(p2, sizeof p2, "%s/adapter.h5", dir);
    printf("nan/rollback: adapter after skipped step 3 vs checkpoint-2:\n");
    {
        /* compare only the adapter tensors (the checkpoint also has state) */
        lc_lora a, b;
        EXPECT_OK(lc_adapter_load(path, &base.model, &a, NULL, NULL, 0));
        st = lc_adapter_load(p2, &base.model, &b, NULL, NULL, 0);
        if (st) {
            lc_lora_free(&a);
            EXPECT_OK(st);
        }
        double d = 0;
        for (size_t i = 0; i < a.n_params; i++) d = fmax(d, fabs((double)a.params[i] - b.params[i]));
        printf("  %zu parameters, max abs diff %.3g\n", a.n_params, d);
        CHECK(!memcmp(a.params, b.params, a.n_params * sizeof(float)), "a skipped step changed the parameters");
        lc_lora_free(&a);
        lc_lora_free(&b);
    }

    /* 3. max_nan_steps 0: the run fails, the last checkpoint stays */
    snprintf(dir, sizeof dir, "%s/fail", work);
    cfg = base_config(model, data, NULL, dir);
    cfg.max_steps = 8;
    cfg.save_every = 2;
    cfg.max_nan_steps = 0;
    st = train(&cfg, 0, 0, 3, NULL, &res);
    printf("nan/fail: status %s: %s\n", lc_status_name(st), lc_error_msg());
    CHECK(st == LC_ERR_NUMERIC, "max_nan_steps 0: expected LC_ERR_NUMERIC, got %s", lc_status_name(st));
    CHECK(strstr(lc_error_msg(), "max_nan_steps") != NULL, "the message should name max_nan_steps");
    snprintf(path, sizeof path, "%s/checkpoint-2.h5", dir);
    lc_train_state ts;
    if (load_finite(&base, path, &ts))
        CHECK(ts.step == 2, "checkpoint-2.h5 holds step %lld", (long long)ts.step);
    snprintf(path, sizeof path, "%s/checkpoint-4.h5", dir);
    CHECK(!file_exists(path), "%s written after the failure", path);
    snprintf(path, sizeof path, "%s/adapter.h5", dir);
    CHECK(!file_exists(path), "%s written by a failed run", path);
    n = read_metrics(dir, m, 32);
    CHECK(n == 2 && m[n - 1].step == 2, "metrics of the failed run: %d lines, expected steps 1-2", n);
fail:
    free(text);
    lc_base_close(&base);
}

/* ============================================================== sanity */

/* A lower bound on the mean cross-entropy any hidden state can reach: the
 * final RMSNorm output x has |x| <= sqrt(C) (eps only shrinks it), and the
 * logits are W' x with W' = lm_head * diag(final_norm). For target v,
 * z_u - z_v >= -sqrt(C) |W'_u - W'_v|, so
 *   loss(v) >= log(1 + sum_{u != v} exp(-sqrt(C) |W'_u - W'_v|)). */
static double loss_floor(const lc_model *m, const lc_rows *rows) {
    int V = m->cfg.vocab_size, C = m->cfg.hidden_size;
    const float *W = m->lm_head.data; /* (V, C) */
    const float *g = m->final_norm;   /* (C) */
    double *floor_v = calloc((size_t)V, sizeof *floor_v);
    double sum = 0;
    int64_t n = 0;
    for (int64_t i = 0; i < rows->n_tokens; i++) {
        int v = rows->labels[i];
        if (v < 0) continue;
        if (floor_v[v] == 0) {
            double s = 0;
            for (int u = 0; u < V; u++) {
                if (u == v) continue;
                double d2 = 0;
                for (int c = 0; c < C; c++) {
                    double d = ((double)W[(size_t)u * C + c] - W[(size_t)v * C + c]) * g[c];
                    d2 += d * d;
                }
                s += exp(-sqrt((double)C) * sqrt(d2));
            }
            floor_v[v] = log1p(s);
        }
        sum += floor_v[v];
        n++;
    }
    free(floor_v);
    return sum / (double)n;
}

static void test_sanity(const char *model, const char *work) {
    char data[1200], dir[1200];
    snprintf(data, sizeof data, "%s/four.jsonl", work);
    snprintf(dir, sizeof dir, "%s/run", work);
    write_first(data, QA, 4);
    lc_train_config cfg = base_config(model, data, NULL, dir);
    cfg.r = 8;
    cfg.alpha = 16;
    cfg.lr = 3e-3;
    cfg.max_steps = 150;
    cfg.batch_size = 4;
    lc_base base = {0};
    lc_rows rows = {0};
    lc_train_result res;
    metric_line m[160];
    EXPECT_OK(lc_base_open(&base, model, NULL));
    CHECK(base.model.lm_head.type == LC_DT_F32, "stories260K should be fp32");
    EXPECT_OK(build_rows(&rows, &base, &cfg, data));
    double floor = loss_floor(&base.model, &rows);
    EXPECT_OK(train(&cfg, 0, 0, 0, NULL, &res));
    int n = read_metrics(dir, m, 160);
    CHECK(n == 150, "expected 150 metric lines, found %d", n);
    double l0 = atof(m[0].loss), lf = res.final_train_loss;
    double drop = 1 - lf / l0, gap_closed = (l0 - lf) / (l0 - floor);
    printf("sanity: %lld answer tokens; loss step 1 %.6f -> step 150 %.6f (drop %.1f%%); RMSNorm floor >= %.6f "
           "(the most a drop can be: %.1f%%); gap to the floor closed %.2f%%\n",
           (long long)rows.n_loss_tokens, l0, lf, 100 * drop, floor, 100 * (1 - floor / l0), 100 * gap_closed);
    CHECK(lf >= floor - 1e-4, "final loss %.6f is below what the maths allows (%.6f): the loss is miscomputed", lf,
          floor);
    CHECK(drop > 0.85, "loss fell by %.1f%%, expected > 85%%", 100 * drop);
    CHECK(gap_closed > 0.98, "only %.2f%% of the gap to the floor closed (expected > 98%%)", 100 * gap_closed);
fail:
    lc_rows_free(&rows);
    lc_base_close(&base);
}

/* ========================================================= checkpoints */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_checkpoints(const char *model, const char *work) {
    char data[1200], valid[1200], dir[1200], path[1300];
    snprintf(data, sizeof data, "%s/eight.jsonl", work);
    snprintf(valid, sizeof valid, "%s/valid.jsonl", work);
    snprintf(dir, sizeof dir, "%s/run", work);
    write_first(data, QA, 8);
    write_first(valid, QA_VALID, 4);
    lc_train_config cfg = base_config(model, data, valid, dir);
    cfg.max_steps = 10;
    cfg.save_every = 2;
    cfg.eval_every = 2;
    cfg.keep_last = 2;
    cfg.batch_size = 4;
    cfg.lr = 2e-2; /* high enough that validation loss turns up again */
    cfg.lr_schedule = LC_SCHED_CONSTANT;
    lc_base base = {0};
    lc_model other = {0};
    lc_rows vrows = {0};
    lc_lora l = {0};
    lc_acts *acts = NULL;
    lc_train_result res;
    metric_line m[32];
    char *names[64];
    int n_names = 0;
    EXPECT_OK(train(&cfg, 0, 0, 0, NULL, &res));

    /* the directory: exactly these files */
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' && n_names < 64) names[n_names++] = strdup(e->d_name);
    if (d) closedir(d);
    qsort(names, (size_t)n_names, sizeof *names, cmp_str);
    const char *want[] = {"adapter.h5", "best.h5", "checkpoint-10.h5", "checkpoint-8.h5", "config.yaml",
                          "done.json", "metrics.csv", "metrics.jsonl"};
    int same = n_names == 8;
    printf("checkpoints: out_dir holds");
    for (int i = 0; i < n_names; i++) {
        printf(" %s", names[i]);
        if (same && strcmp(names[i], want[i])) same = 0;
    }
    printf("\n");
    CHECK(same, "keep_last 2: expected exactly checkpoint-8/10.h5, best.h5, adapter.h5, config.yaml, done.json, metrics");

    /* best.h5 is the adapter of the step with the lowest validation loss */
    int n = read_metrics(dir, m, 32);
    long long best_step = -1;
    double best = INFINITY;
    for (int i = 0; i < n; i++)
        if (m[i].step > 0 && m[i].valid_loss[0] && atof(m[i].valid_loss) < best) {
            best = atof(m[i].valid_loss);
            best_step = m[i].step;
        }
    printf("checkpoints: metrics best valid_loss %.9g at step %lld; result best %.9g at step %lld\n", best, best_step,
           res.best_valid_loss, (long long)res.best_step);
    char rbest[40];
    snprintf(rbest, sizeof rbest, "%.9g", res.best_valid_loss);
    const metric_line *mb = metric_at(m, n, best_step);
    CHECK(best_step == res.best_step && mb && !strcmp(rbest, mb->valid_loss), "best step/loss disagree with metrics");
    CHECK(best_step < 10, "this config should make an earlier step the best one (lr 2e-2), found %lld", best_step);
    EXPECT_OK(lc_base_open(&base, model, NULL));
    EXPECT_OK(build_rows(&vrows, &base, &cfg, valid));
    snprintf(path, sizeof path, "%s/best.h5", dir);
    lc_adapter_info info;
    EXPECT_OK(lc_adapter_load(path, &base.model, &l, NULL, &info, 0));
    CHECK(!info.has_train_state, "best.h5 should hold no training state");
    EXPECT_OK(lc_acts_create(&acts, &base.model, &l, cfg.batch_size, vrows.max_len));
    double vloss = NAN;
    EXPECT_OK(lc_eval_rows_loss(&base.model, &l, acts, &vrows, cfg.batch_size, 1, lc_tokenizer_eos_id(base.tok),
                                &vloss, NULL));
    char vbuf[40];
    snprintf(vbuf, sizeof vbuf, "%.9g", vloss);
    printf("checkpoints: best.h5 re-evaluated: valid loss %s, metrics at step %lld: %s\n", vbuf, best_step,
           mb ? mb->valid_loss : "?");
    CHECK(mb && !strcmp(vbuf, mb->valid_loss), "best.h5 is not the adapter of step %lld", best_step);
    lc_lora_free(&l);

    /* adapter.h5 = the final weights, the same as checkpoint-10's */
    lc_lora fin, ck;
    snprintf(path, sizeof path, "%s/adapter.h5", dir);
    EXPECT_OK(lc_adapter_load(path, &base.model, &fin, NULL, &info, 0));
    CHECK(!info.has_train_state && info.cfg.r == 8 && fabs(info.scale - 2.0) < 1e-12,
          "adapter.h5 info: state %d r %d scale %g", info.has_train_state, info.cfg.r, info.scale);
    snprintf(path, sizeof path, "%s/checkpoint-10.h5", dir);
    lc_status st = lc_adapter_load(path, &base.model, &ck, NULL, NULL, 0);
    if (!st) {
        CHECK(!memcmp(fin.params, ck.params, fin.n_params * sizeof(float)), "adapter.h5 != checkpoint-10.h5 weights");
        lc_lora_free(&ck);
    } else {
        CHECK(0, "checkpoint-10.h5: %s", lc_error_msg());
    }
    lc_lora_free(&fin);

    /* refused on another base of the same shapes */
    EXPECT_OK(lc_model_init_random(&other, &base.model.cfg, 0.02f, 12345));
    EXPECT_OK(lc_model_identity_compute(&other, other.identity));
    snprintf(path, sizeof path, "%s/adapter.h5", dir);
    st = lc_adapter_load(path, &other, &l, NULL, NULL, 0);
    printf("checkpoints: on a random base of the same shapes: %s: %s\n", lc_status_name(st), lc_error_msg());
    CHECK(st == LC_ERR_MISMATCH, "an adapter for another base must be refused (LC_ERR_MISMATCH), got %s",
          lc_status_name(st));
    CHECK(strstr(lc_error_msg(), "random(seed=12345)") != NULL, "the refusal should name the other base");
    if (st == LC_OK) lc_lora_free(&l);
    st = lc_adapter_load(path, &other, &l, NULL, NULL, 1);
    CHECK_OK(st, "allow_other_base should load it");
    if (st == LC_OK) lc_lora_free(&l);
fail:
    for (int i = 0; i < n_names; i++) free(names[i]);
    lc_lora_free(&l);
    lc_acts_free(acts);
    lc_rows_free(&vrows);
    lc_model_free(&other);
    lc_base_close(&base);
}

/* ================================================================ main */

/* init_adapter. A: 4 rows in one full batch per step (every step sees the
 * same rows), constant lr, no dropout, with rank_pattern and
 * layers_to_transform, checkpoint-2 saved. B: init_adapter = A's
 * checkpoint-2, one step. C: the same from checkpoint-2 exported as a PEFT
 * directory. Checks:
 *  - B's step-1 loss and grad norm equal A's step 3 (same weights, same
 *    rows; rel 1e-5: only the rows' order in the batch differs);
 *  - the optimizer started fresh: B's checkpoint-1 is at step 1, and every
 *    moment pair obeys m^2 / v = (1-b1)^2 / (1-b2) = 10, true only for
 *    moments that were 0 before the step (A's checkpoint-2 moments are not);
 *  - C's checkpoint-1 is bit-identical to B's (PEFT dir == HDF5 source);
 *  - a config whose ranks, targets or layers differ is refused, naming the
 *    module and both values. */
static void test_init_adapter(const char *model, const char *work) {
    char data[1200], dir_a[1200], dir_b[1200], dir_c[1200], peft_dir[1200], ck[1300], pb[1300], pc[1300];
    snprintf(data, sizeof data, "%s/init_train.jsonl", work);
    snprintf(dir_a, sizeof dir_a, "%s/init_A", work);
    snprintf(dir_b, sizeof dir_b, "%s/init_B", work);
    snprintf(dir_c, sizeof dir_c, "%s/init_C", work);
    /* as long as the .h5 path, so the config.yaml strings the checkpoints store have one size */
    snprintf(peft_dir, sizeof peft_dir, "%.1100s/checkpoint-2.hf", dir_a);
    snprintf(ck, sizeof ck, "%s/checkpoint-2.h5", dir_a);
    write_first(data, QA, 4);
    lc_train_config ca = base_config(model, data, NULL, dir_a);
    ca.batch_size = 4;
    ca.max_steps = 4;
    ca.save_every = 2;
    ca.lr_schedule = LC_SCHED_CONSTANT;
    snprintf(ca.rank_pattern, sizeof ca.rank_pattern, "{\"q_proj\": 4, \"down_proj\": 2}");
    snprintf(ca.alpha_pattern, sizeof ca.alpha_pattern, "{\"o_proj\": 4}");
    snprintf(ca.layers_to_transform, sizeof ca.layers_to_transform, "[0, 2, 4]");
    lc_train_config cb = ca;
    snprintf(cb.out_dir, sizeof cb.out_dir, "%.1000s", dir_b);
    snprintf(cb.init_adapter, sizeof cb.init_adapter, "%.1000s", ck);
    cb.max_steps = 1;
    cb.save_every = 1;
    lc_train_config cc = cb;
    snprintf(cc.out_dir, sizeof cc.out_dir, "%.1000s", dir_c);
    snprintf(cc.init_adapter, sizeof cc.init_adapter, "%.1000s", peft_dir);
    lc_train_result ra, rb, rc;
    lc_base base = {0};
    lc_lora l = {0}, lb = {0};
    lc_train_state ts;
    metric_line ma[16], mb[16];

    EXPECT_OK(train(&ca, 0, 0, 0, NULL, &ra));
    EXPECT_OK(train(&cb, 0, 0, 0, NULL, &rb));
    int na = read_metrics(dir_a, ma, 16), nb = read_metrics(dir_b, mb, 16);
    const metric_line *a3 = metric_at(ma, na, 3), *b1 = metric_at(mb, nb, 1);
    CHECK(a3 && b1, "metrics: A step 3 or B step 1 missing");
    if (a3 && b1) {
        double la = atof(a3->loss), lb1 = atof(b1->loss), ga = atof(a3->grad_norm), gb = atof(b1->grad_norm);
        printf("init_adapter: loss A step 3 %.9g, B step 1 %.9g; grad norm %.9g / %.9g\n", la, lb1, ga, gb);
        CHECK(fabs(la - lb1) <= 1e-5 * fabs(la) && fabs(ga - gb) <= 1e-5 * fabs(ga),
              "B's first step does not start from A's checkpoint-2 weights");
    }
    EXPECT_OK(lc_base_open(&base, model, NULL));
    snprintf(pb, sizeof pb, "%s/checkpoint-1.h5", dir_b);
    EXPECT_OK(lc_adapter_load(pb, &base.model, &lb, &ts, NULL, 0));
    CHECK(ts.step == 1, "B's checkpoint-1 is at step %lld, expected 1 (fresh step counter)", (long long)ts.step);
    double worst = 0;
    size_t n_nz = 0;
    for (size_t i = 0; i < lb.n_params; i++) {
        if (!(lb.v[i] > 1e-30f)) continue;
        double ratio = (double)lb.m[i] * lb.m[i] / lb.v[i];
        if (fabs(ratio - 10.0) / 10.0 > worst) worst = fabs(ratio - 10.0) / 10.0;
        n_nz++;
    }
    printf("init_adapter: m^2/v = (1-b1)^2/(1-b2) = 10 over %zu moments: worst rel err %.3g (limit 1e-3)\n", n_nz,
           worst);
    CHECK(n_nz > lb.n_params / 2 && worst <= 1e-3, "AdamW moments did not start from zero");
    /* the same start from a PEFT directory */
    EXPECT_OK(lc_adapter_load(ck, &base.model, &l, NULL, NULL, 0));
    EXPECT_OK(lc_deploy_export_peft(&l, &base.model, NULL, peft_dir));
    EXPECT_OK(train(&cc, 0, 0, 0, NULL, &rc));
    snprintf(pc, sizeof pc, "%s/checkpoint-1.h5", dir_c);
    compare_ckpt(pb, pc);
    /* refusals: another rank, fewer targets, other layers */
    lc_train_config bad = cb;
    snprintf(bad.out_dir, sizeof bad.out_dir, "%s/init_bad", work);
    bad.rank_pattern[0] = 0;
    lc_status st = train(&bad, 0, 0, 0, NULL, &rc);
    printf("init_adapter: without rank_pattern: %s\n", lc_error_msg());
    CHECK(st == LC_ERR_MISMATCH && strstr(lc_error_msg(), "model.layers.0.self_attn.q_proj has rank 4 in the file, "
                                                          "the config gives 8"), "rank mismatch not refused");
    bad = cb;
    snprintf(bad.out_dir, sizeof bad.out_dir, "%s/init_bad2", work);
    snprintf(bad.layers_to_transform, sizeof bad.layers_to_transform, "[0, 1, 2, 4]");
    st = train(&bad, 0, 0, 0, NULL, &rc);
    printf("init_adapter: other layers: %s\n", lc_error_msg());
    CHECK(st == LC_ERR_MISMATCH && strstr(lc_error_msg(), "model.layers.1.self_attn.q_proj is not adapted in the file"),
          "layer mismatch not refused");
    bad = cb;
    snprintf(bad.out_dir, sizeof bad.out_dir, "%s/init_bad3", work);
    bad.alpha = 32;
    st = train(&bad, 0, 0, 0, NULL, &rc);
    printf("init_adapter: other alpha: %s\n", lc_error_msg());
    CHECK(st == LC_ERR_MISMATCH && strstr(lc_error_msg(), "has scale"), "alpha mismatch not refused");
    bad = cb;
    snprintf(bad.out_dir, sizeof bad.out_dir, "%s/init_bad4", work);
    snprintf(bad.trainable_token_indices, sizeof bad.trainable_token_indices, "[1, 2]");
    st = train(&bad, 0, 0, 0, NULL, &rc);
    printf("init_adapter: trainable tokens the file lacks: %s\n", lc_error_msg());
    CHECK(st == LC_ERR_MISMATCH && strstr(lc_error_msg(), "trainable_token_indices must agree"),
          "trainable-token mismatch not refused");
fail:
    lc_lora_free(&l);
    lc_lora_free(&lb);
    lc_base_close(&base);
}

/* init pissa / olora (weight_init in train.c). P: PiSSA, 3 steps on 4 rows
 * in one batch, validation and test on 4 other rows; K: the same with the
 * default init (B = 0: the original model). Checks:
 *  - the residual base + the initial A/B is the original model: P's step-0
 *    validation loss and its base test loss equal K's (rel 1e-5: the
 *    residual W - s·B0·A0 and the adapter re-add s·B0·A0 in fp32);
 *  - adapter.h5 is PEFT's conversion: rank 2r, and on the ORIGINAL base it
 *    gives P's final validation loss (rel 1e-4: the same function, once as
 *    residual + trained adapter, once as W + converted adapter, in fp32);
 *  - resume: stopped after step 1 and resumed (the residual recomputed)
 *    gives checkpoint-3 bit-identical to the uninterrupted run;
 *  - OLoRA's step-0 validation loss equals K's as well. */
static void test_weight_init(const char *model, const char *work) {
    char data[1200], valid[1200], dir_p[1200], dir_r[1200], dir_k[1200], dir_o[1200], pa[1300], pb[1300];
    snprintf(data, sizeof data, "%s/wi_train.jsonl", work);
    snprintf(valid, sizeof valid, "%s/wi_valid.jsonl", work);
    snprintf(dir_p, sizeof dir_p, "%s/wi_pissa", work);
    snprintf(dir_r, sizeof dir_r, "%s/wi_piss2", work); /* as long as dir_p: equal config strings */
    snprintf(dir_k, sizeof dir_k, "%s/wi_kaiming", work);
    snprintf(dir_o, sizeof dir_o, "%s/wi_olora", work);
    write_first(data, QA, 4);
    write_first(valid, QA_VALID, 4);
    lc_train_config cp = base_config(model, data, valid, dir_p);
    snprintf(cp.test_data, sizeof cp.test_data, "%.1000s", valid);
    cp.batch_size = 4;
    cp.max_steps = 3;
    cp.eval_every = 3;
    cp.save_every = 3;
    cp.init_gaussian = 2; /* init: pissa */
    snprintf(cp.rank_pattern, sizeof cp.rank_pattern, "{\"q_proj\": 4}");
    lc_train_config ck = cp, cr = cp, co = cp;
    ck.init_gaussian = 0;
    snprintf(ck.out_dir, sizeof ck.out_dir, "%.1000s", dir_k);
    snprintf(cr.out_dir, sizeof cr.out_dir, "%.1000s", dir_r);
    co.init_gaussian = 3;
    co.max_steps = 1;
    snprintf(co.out_dir, sizeof co.out_dir, "%.1000s", dir_o);
    lc_train_result rp, rk, rr, ro;
    lc_base base = {0};
    lc_lora conv = {0};
    lc_rows rows = {0};
    lc_acts *acts = NULL;
    metric_line mp[16], mk[16], mo[16];
    EXPECT_OK(train(&cp, 0, 0, 0, NULL, &rp));
    EXPECT_OK(train(&ck, 0, 0, 0, NULL, &rk));
    EXPECT_OK(train(&co, 0, 0, 0, NULL, &ro));
    int np = read_metrics(dir_p, mp, 16), nk = read_metrics(dir_k, mk, 16), no = read_metrics(dir_o, mo, 16);
    const metric_line *p0 = metric_at(mp, np, 0), *k0 = metric_at(mk, nk, 0), *o0 = metric_at(mo, no, 0);
    CHECK(p0 && k0 && o0, "step-0 metrics missing");
    if (p0 && k0 && o0) {
        double vp = atof(p0->valid_loss), vk = atof(k0->valid_loss), vo = atof(o0->valid_loss);
        printf("weight_init: step-0 validation loss: kaiming (original model) %.9g, pissa %.9g, olora %.9g\n", vk, vp,
               vo);
        CHECK(fabs(vp - vk) <= 1e-5 * vk && fabs(vo - vk) <= 1e-5 * vk,
              "residual base + initial A/B is not the original model");
    }
    printf("weight_init: base test loss: kaiming run %.9g, pissa run %.9g\n", rk.test_loss_base, rp.test_loss_base);
    CHECK(fabs(rp.test_loss_base - rk.test_loss_base) <= 1e-5 * rk.test_loss_base, "pissa run's base test loss");
    /* the converted adapter on the original base */
    snprintf(pa, sizeof pa, "%s/adapter.h5", dir_p);
    EXPECT_OK(lc_base_open(&base, model, NULL));
    EXPECT_OK(lc_adapter_load(pa, &base.model, &conv, NULL, NULL, 0));
    CHECK(conv.cfg.r == 16 && lc_lora_get(&conv, 0, LC_T_Q)->r == 8 && lc_lora_get(&conv, 0, LC_T_V)->r == 16,
          "adapter.h5 is not the rank-2r conversion (r %d, q_proj %d)", conv.cfg.r, lc_lora_get(&conv, 0, LC_T_Q)->r);
    EXPECT_OK(build_rows(&rows, &base, &cp, valid));
    EXPECT_OK(lc_acts_create(&acts, &base.model, &conv, 4, rows.max_len));
    double vconv = NAN;
    EXPECT_OK(lc_eval_rows_loss(&base.model, &conv, acts, &rows, 4, 1, 0, &vconv, NULL));
    printf("weight_init: final validation loss %.9g (residual base), converted adapter on the original base %.9g\n",
           rp.last_valid_loss, vconv);
    CHECK(fabs(vconv - rp.last_valid_loss) <= 1e-4 * rp.last_valid_loss, "converted adapter differs");
    /* resume */
    lc_status st = train(&cr, 0, 1, 0, NULL, &rr);
    CHECK(st == LC_ERR_INTERRUPTED, "stop after 1: %s", lc_status_name(st));
    EXPECT_OK(train(&cr, 1, 0, 0, NULL, &rr));
    snprintf(pa, sizeof pa, "%s/checkpoint-3.h5", dir_p);
    snprintf(pb, sizeof pb, "%s/checkpoint-3.h5", dir_r);
    compare_ckpt(pa, pb);
fail:
    lc_acts_free(acts);
    lc_rows_free(&rows);
    lc_lora_free(&conv);
    lc_base_close(&base);
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    if (argc != 4) {
        fprintf(stderr, "usage: %s <accum|resume|resume_dora|resume_tokens|layout|nan|sanity|checkpoints|init_adapter|weight_init> MODEL_DIR WORK_DIR\n", argv[0]);
        return 2;
    }
    const char *what = argv[1], *model = argv[2], *work = argv[3];
    rm_tree(work);
    mkdir_p(work);
    double t0 = lc_time_now();
    if (!strcmp(what, "accum")) {
        accum_direct(model, work);
        accum_train(model, work);
    } else if (!strcmp(what, "resume")) {
        /* 12 rows, 2 x 2 per step: 3 steps per epoch, step 5 ends mid-epoch 1 (row 8) */
        resume_variant(model, work, "mid_epoch", 12, 2, 1, 8, 0, 0, NULL);
        /* 10 rows, 1 x 2 per step: 5 steps per epoch, step 5 ends epoch 0 */
        resume_variant(model, work, "epoch_end", 10, 1, 0, 10, 0, 0, NULL);
        /* NEFTune's noise is drawn from the step's seed: a resumed run draws it again */
        resume_variant(model, work, "neftune", 12, 2, 1, 8, 0, 5.0, NULL);
    } else if (!strcmp(what, "resume_dora")) { /* use_dora with dropout 0.1, stopped mid-epoch */
        resume_variant(model, work, "dora", 12, 2, 1, 8, 1, 0, NULL);
    } else if (!strcmp(what, "resume_tokens")) { /* trainable tokens (tied head): rows and their moments resume */
        resume_variant(model, work, "tokens", 12, 2, 1, 8, 0, 0, "[1, 2, 13, 300]");
        tokens_trained(model, work);
    } else if (!strcmp(what, "layout")) {
        layout_pair(model, work, 0);
        layout_pair(model, work, 1);
        layout_budget_resume(model, work);
    } else if (!strcmp(what, "nan")) {
        test_nan(model, work);
    } else if (!strcmp(what, "sanity")) {
        test_sanity(model, work);
    } else if (!strcmp(what, "checkpoints")) {
        test_checkpoints(model, work);
    } else if (!strcmp(what, "init_adapter")) {
        test_init_adapter(model, work);
    } else if (!strcmp(what, "weight_init")) {
        test_weight_init(model, work);
    } else {
        fprintf(stderr, "unknown test '%s'\n", what);
        return 2;
    }
    char name[64];
    snprintf(name, sizeof name, "train %s (%.1f s)", what, lc_time_now() - t0);
    return lc_test_finish(name);
}
