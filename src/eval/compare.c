/*
 * compare.c — `lorac eval`: base model, unmerged adapters and merged models
 * side by side on one test file (lc_sweep.h, "compare").
 *
 *   test file ─ lc_dataset_load ─┬─ lc_rows_build ─ lc_eval_rows_loss ─ loss, perplexity
 *                                └─ prompt ids ─ lc_infer_generate (greedy) ─ decode ─ lc_metric_sums
 *
 * Candidates are grouped by model: the base group (base + its adapters)
 * shares one loaded model, tokenizer and set of rows; each merged model is a
 * group of its own with its own tokenizer.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval_io.h"
#include "lc_path.h"
#include "lc_adapter.h"
#include "lc_base.h"
#include "lc_data.h"
#include "lc_eval.h"
#include "lc_infer.h"
#include "lc_fsafe.h"
#include "lc_prompt.h"
#include "lc_sweep.h"

#define LC_COMPARE_MAX_CANDS 64

lc_compare_params lc_compare_default_params(void) {
    lc_compare_params p;
    memset(&p, 0, sizeof p);
    p.max_new_tokens = 128;
    p.metrics = LC_METRIC_ALL;
    p.max_seq_len = 512;
    p.batch_size = 8;
    return p;
}

/* One test example as generation sees it. */
typedef struct {
    const lc_example *ex;
    int n_prompt_msgs;     /* messages before the answer */
    const char *reference; /* the answer (last assistant message / completion); NULL for text rows */
} gen_example;

typedef struct {
    const lc_compare_params *p;
    lc_train_config cfg;   /* data reading + tokenisation settings */
    lc_dataset ds;
    lc_dataset view;       /* first `limit` examples of ds (not owned) */
    gen_example *gx;       /* (view.n) */
    char **labels;         /* accuracy labels */
    int n_labels;
    char ***answers;       /* (n_rows, view.n) generated text, NULL where none */
    char **prompts;        /* (view.n) rendered prompt text of the base group */
    int tmpl_from_adapter; /* cfg.chat_template is the name an adapter stored */
    int warned_ctx;        /* the max_new_tokens clamp was reported */
    lc_compare_result *res;
} compare;

static const char *base_name(const char *path, char *buf, size_t size) {
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    size_t n = strlen(s) < size - 1 ? strlen(s) : size - 1;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = 0;
    return buf;
}

/* ------------------------------------------------------------ examples */

static lc_status examples_prepare(compare *C) {
    C->gx = calloc((size_t)C->view.n + 1, sizeof *C->gx);
    if (!C->gx) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < C->view.n; i++) {
        const lc_example *e = &C->view.ex[i];
        gen_example *g = &C->gx[i];
        g->ex = e;
        if (e->kind == LC_EX_PROMPT_COMPLETION) {
            g->n_prompt_msgs = 1;
            g->reference = e->msgs[1].content;
        } else if (e->kind == LC_EX_CHAT) {
            int last = e->n_msgs - 1;
            if (last >= 1 && !strcmp(e->msgs[last].role, "assistant")) {
                g->n_prompt_msgs = last;
                g->reference = e->msgs[last].content;
            }
        }
    }
    return LC_OK;
}

static int n_words(const char *s) {
    int n = 0;
    for (const char *q = s; *q;) {
        while (*q == ' ' || *q == '\t' || *q == '\n') q++;
        if (!*q) break;
        n++;
        while (*q && *q != ' ' && *q != '\t' && *q != '\n') q++;
    }
    return n;
}

static lc_status label_push(compare *C, const char *s, size_t n) {
    char **l2 = realloc(C->labels, (size_t)(C->n_labels + 1) * sizeof *l2);
    if (!l2) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    C->labels = l2;
    if (!(l2[C->n_labels] = strndup(s, n))) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    C->n_labels++;
    return LC_OK;
}

/* Accuracy labels: given, or else the distinct references when they look
 * like labels (at most 20 distinct ones of at most 3 words each). */
static lc_status labels_prepare(compare *C) {
    lc_status st;
    const char *spec = C->p->labels;
    if (spec && *spec) {
        for (const char *s = spec; *s;) {
            size_t n = strcspn(s, ",");
            if (n && (st = label_push(C, s, n))) return st;
            s += n;
            if (*s == ',') s++;
        }
        return LC_OK;
    }
    int ok = 1;
    for (int i = 0; i < C->view.n && ok; i++) {
        const char *r = C->gx[i].reference;
        if (!r) continue;
        if (n_words(r) > 3 || n_words(r) == 0) ok = 0;
        int dup = 0;
        for (int k = 0; k < C->n_labels && !dup && ok; k++) { /* same words both ways = same label */
            const char *a[1] = {C->labels[k]}, *b[1] = {r};
            dup = lc_label_find(r, a, 1) == 0 && lc_label_find(C->labels[k], b, 1) == 0 &&
                  n_words(r) == n_words(C->labels[k]);
        }
        if (ok && !dup) {
            if (C->n_labels == 20) ok = 0;
            else if ((st = label_push(C, r, strlen(r)))) return st;
        }
    }
    if (!ok) { /* not a label task: no accuracy */
        for (int k = 0; k < C->n_labels; k++) free(C->labels[k]);
        free(C->labels);
        C->labels = NULL;
        C->n_labels = 0;
    }
    return LC_OK;
}

/* Token ids of the prompt of example g (the messages before the answer),
 * as lc_prompt_build lays them out for `lorac generate`; malloc'd into *ids;
 * *text (may be NULL) gets the text. */
static lc_status prompt_ids(const gen_example *g, const lc_tokenizer *tok, const lc_chat_template *tmpl,
                            int32_t **ids, int *n, char **text) {
    lc_chat_msg *msgs = malloc((size_t)g->n_prompt_msgs * sizeof *msgs);
    if (!msgs) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_prompt_msgs; i++) msgs[i] = (lc_chat_msg){g->ex->msgs[i].role, g->ex->msgs[i].content};
    lc_status st = lc_prompt_build(tok, tmpl, msgs, g->n_prompt_msgs, g->ex->kind == LC_EX_PROMPT_COMPLETION, ids, n,
                                   text);
    free(msgs);
    return st;
}

/* -------------------------------------------------------- one model group */

typedef struct {
    int32_t **ids; /* (n) prompt ids, NULL for examples without an answer */
    int *n_ids;
    int max_prompt;
    int32_t stop[LC_PROMPT_MAX_STOP];
    int n_stop;
} prompts;

static void prompts_free(prompts *P, int n) {
    if (P->ids)
        for (int i = 0; i < n; i++) free(P->ids[i]);
    free(P->ids);
    free(P->n_ids);
    memset(P, 0, sizeof *P);
}

static lc_status prompts_build(compare *C, prompts *P, const lc_base *b, const lc_chat_template *tmpl,
                               int keep_text) {
    const lc_tokenizer *tok = b->tok;
    int n = C->view.n;
    P->ids = calloc((size_t)n + 1, sizeof *P->ids);
    P->n_ids = calloc((size_t)n + 1, sizeof *P->n_ids);
    if (!P->ids || !P->n_ids) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (!C->gx[i].reference) continue;
        lc_status st = prompt_ids(&C->gx[i], tok, tmpl, &P->ids[i], &P->n_ids[i], keep_text ? &C->prompts[i] : NULL);
        if (st) return lc_error_wrap(st, "%s:%d: building the prompt", C->p->data, C->gx[i].ex->line);
        if (P->n_ids[i] > P->max_prompt) P->max_prompt = P->n_ids[i];
    }
    P->n_stop = lc_prompt_stop_ids(tok, tmpl, b->model.cfg.eos_id, b->model.cfg.vocab_size, P->stop);
    return LC_OK;
}

static void trim(char *s) {
    size_t n = strlen(s), a = 0;
    while (a < n && (s[a] == ' ' || s[a] == '\n' || s[a] == '\t' || s[a] == '\r')) a++;
    while (n > a && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    memmove(s, s + a, n - a);
    s[n - a] = 0;
}

/* lc_token_fn: stop generating once a stop signal has arrived. */
static int stop_on_signal(void *ctx, int32_t id) {
    (void)ctx;
    (void)id;
    return lc_interrupt_pending() != 0;
}

/* max_new_tokens, clamped so prompt + answer fit the model's context
 * (max_position_embeddings); a warning says so, once per eval. */
static int clamp_new_tokens(compare *C, const lc_base *b, int max_prompt) {
    int want = C->p->max_new_tokens, ctx = b->model.cfg.max_position;
    if (ctx <= 0 || max_prompt + want <= ctx) return want;
    int got = ctx - max_prompt > 1 ? ctx - max_prompt : 1;
    if (!C->warned_ctx)
        lc_reporter_msg(C->p->reporter, LC_REPORT_NOTICE,
                      "lorac eval: warning: --max-new-tokens %d does not fit the model's context of %d tokens "
                      "(longest prompt %d tokens); generating at most %d", want, ctx, max_prompt, got);
    C->warned_ctx = 1;
    return got;
}

/* Loss and generations of one candidate (lora may be NULL). */
static lc_status run_candidate(compare *C, int ci, const lc_base *b, const lc_lora *lora, const lc_rows *rows,
                               const prompts *P) {
    const lc_compare_params *p = C->p;
    lc_compare_row *row = &C->res->rows[ci];
    lc_status st = LC_OK;
    lc_acts *acts = NULL;
    lc_infer *inf = NULL;
    lc_sampler *smp = NULL;
    int32_t *out = NULL;
    if ((p->metrics & LC_METRIC_LOSS) && rows->n_rows > 0) {
        int32_t pad = lc_tokenizer_eos_id(b->tok) >= 0 ? lc_tokenizer_eos_id(b->tok) : 0;
        int B = p->batch_size > 0 ? p->batch_size : 8;
        if ((st = lc_acts_create(&acts, &b->model, lora, B, rows->max_len))) goto done;
        if ((st = lc_eval_rows_loss(&b->model, lora, acts, rows, B, 1, pad, &row->loss, &row->n_loss_tokens))) goto done;
        row->ppl = exp(row->loss);
    }
    if (!(p->metrics & LC_METRIC_GENERATION) || P->max_prompt == 0) goto done;
    lc_infer_adapter ad = {lora, 1.0f};
    int max_new = clamp_new_tokens(C, b, P->max_prompt);
    if ((st = lc_infer_create(&inf, &b->model, lora ? &ad : NULL, lora ? 1 : 0, P->max_prompt + max_new)))
        goto done;
    lc_sample_params sp = lc_sample_default_params(); /* greedy */
    if ((st = lc_sampler_create(&smp, b->model.cfg.vocab_size, &sp, 0))) goto done;
    if (!(out = malloc((size_t)(max_new + 1) * sizeof *out))) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory");
        goto done;
    }
    lc_metric_sums sums = {.mask = p->metrics & LC_METRIC_GENERATION};
    if (!C->n_labels) sums.mask &= ~(unsigned)LC_METRIC_ACCURACY;
    double t0 = lc_time_now();
    char what[128];
    snprintf(what, sizeof what, "lorac eval: %s: generated", row->name);
    for (int i = 0; i < C->view.n; i++) {
        if (!P->ids[i]) continue;
        lc_gen_stats gs;
        if ((st = lc_infer_generate(inf, smp, P->ids[i], P->n_ids[i], max_new, P->stop, P->n_stop, stop_on_signal,
                                    NULL, out, &gs)) ||
            (st = lc_interrupt_check("generating answers"))) {
            lc_error_wrap(st, "%s: generating for %s:%d", row->name, p->data, C->gx[i].ex->line);
            goto done;
        }
        char *text = lc_tokenizer_decode(b->tok, out, gs.n_gen, 1);
        if (!text) {
            st = lc_errorf(LC_ERR_NOMEM, "out of memory decoding");
            goto done;
        }
        trim(text);
        C->answers[ci][i] = text;
        row->gen_tokens += gs.n_gen;
        row->n_gen_examples++;
        if ((st = lc_metric_sums_add(&sums, text, C->gx[i].reference, (const char *const *)C->labels, C->n_labels)))
            goto done;
        lc_reporter_count(p->reporter, what, i + 1, C->view.n);
    }
    lc_reporter_phase_end(p->reporter);
    row->gen_s = lc_time_now() - t0;
    for (int bit = 1; bit < 6; bit++) row->metric[bit] = lc_metric_sums_value(&sums, 1u << bit);
done:
    free(out);
    lc_sampler_free(smp);
    lc_infer_free(inf);
    lc_acts_free(acts);
    return st;
}

/* The chat template for a model (lc_prompt_template_resolve): --chat-template,
 * else the name the first adapter recorded, else the model's own. */
static lc_status resolve_template(const compare *C, const lc_base *b, lc_chat_template **out) {
    const char *requested = C->tmpl_from_adapter ? NULL : C->cfg.chat_template;
    const char *recorded = C->tmpl_from_adapter ? C->cfg.chat_template : NULL;
    return lc_prompt_template_resolve(out, requested, recorded, b->tok, b->model.fam.name, NULL, 0);
}

/* Open a model, build its rows and prompts, run its candidates [c0, c1). */
static lc_status run_group(compare *C, const char *model_path, const char *tok_path, int c0, int c1) {
    lc_base b;
    lc_chat_template *tmpl = NULL;
    lc_rows rows = {0};
    prompts P = {0};
    lc_lora lora;
    int have_lora = 0;
    lc_status st = lc_base_open(&b, model_path, tok_path);
    if (st) return st;
    /* adapters with add_tokens: the base grows first (new rows the mean, as HF's resize), so the rows and
     * prompts are encoded with the new ids and the base candidate is the resized base */
    for (int ci = c0; ci < c1 && !st; ci++)
        if (C->res->rows[ci].kind == LC_CAND_ADAPTER) st = lc_base_prepare_adapter(&b, C->res->rows[ci].path);
    if (st) goto done;
    if ((st = resolve_template(C, &b, &tmpl))) goto done;
    snprintf(C->res->template_name, sizeof C->res->template_name, "%s", lc_chat_template_name(tmpl));
    if (C->p->metrics & LC_METRIC_LOSS) {
        if ((st = lc_rows_build(&rows, &C->view, b.tok, tmpl, &C->cfg))) {
            lc_error_wrap(st, "%s", C->p->data);
            goto done;
        }
    }
    if ((st = prompts_build(C, &P, &b, tmpl, c0 == 0))) goto done;
    for (int ci = c0; ci < c1; ci++) {
        lc_compare_row *row = &C->res->rows[ci];
        if (row->kind == LC_CAND_ADAPTER) {
            lc_adapter_info info;
            if ((st = lc_adapter_load(row->path, &b.model, &lora, NULL, &info, 0))) goto done;
            have_lora = 1;
            lc_lora_scale_by(&lora, row->mult);
        }
        lc_reporter_msg(C->p->reporter, LC_REPORT_DETAIL, "lorac eval: %s (%s): loss and %d generations", row->name,
                      row->path, C->view.n);
        if ((st = run_candidate(C, ci, &b, have_lora ? &lora : NULL, &rows, &P))) goto done;
        if (have_lora) lc_lora_free(&lora);
        have_lora = 0;
    }
done:
    if (have_lora) lc_lora_free(&lora);
    prompts_free(&P, C->view.n);
    lc_rows_free(&rows);
    lc_chat_template_free(tmpl);
    lc_base_close(&b);
    return st;
}

/* -------------------------------------------------------------- output */

double lc_compare_row_value(const lc_compare_row *row, unsigned bit) {
    if (bit == LC_METRIC_LOSS) return row->loss;
    for (int k = 1; k < 6; k++)
        if (bit == 1u << k) return row->metric[k];
    return NAN;
}

static const char *kind_name(lc_cand_kind k) {
    return k == LC_CAND_BASE ? "base" : k == LC_CAND_ADAPTER ? "adapter" : "merged";
}

void lc_compare_print(FILE *f, const lc_compare_result *res) {
    fprintf(f, "%-28s %-8s", "candidate", "kind");
    if (res->metrics & LC_METRIC_LOSS) fprintf(f, " %10s %10s", "loss", "ppl");
    for (int k = 1; k < 6; k++)
        if (res->metrics & (1u << k)) fprintf(f, " %9s", lc_metric_name(1u << k));
    fputc('\n', f);
    for (int i = 0; i < res->n_rows; i++) {
        const lc_compare_row *r = &res->rows[i];
        fprintf(f, "%-28.28s %-8s", r->name, kind_name(r->kind));
        for (int k = 0; k < 6; k++) {
            unsigned bit = 1u << k;
            if (!(res->metrics & bit)) continue;
            double v = lc_compare_row_value(r, bit);
            int best = !isnan(v);
            for (int j = 0; j < res->n_rows && best; j++) {
                double w = lc_compare_row_value(&res->rows[j], bit);
                if (!isnan(w) && (k == 0 ? w < v : w > v)) best = 0;
            }
            if (k == 0) fprintf(f, " %9.4f%c %10.3f", v, best && res->n_rows > 1 ? '*' : ' ', r->ppl);
            else fprintf(f, " %8.2f%c", v, best && res->n_rows > 1 ? '*' : ' ');
        }
        fputc('\n', f);
    }
    fprintf(f, "(%d examples, template %s; loss: mean answer-token cross-entropy; metrics 0-100; * = best)\n",
            res->n_examples, res->template_name);
}

/* Close a memory stream and write its bytes to path atomically. */
static lc_status mem_commit(FILE *f, char **buf, size_t *len, const char *path) {
    int bad = fclose(f) != 0;
    lc_status st = bad ? lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path) : lc_fs_write_atomic(path, *buf, *len);
    free(*buf);
    *buf = NULL;
    *len = 0;
    return st;
}

/* dir/name into buf, or LC_ERR_ARG when it does not fit (never a cut path). */

/* Before any work: out_dir can be created, and none of the files eval
 * writes there is one of its inputs (the test file, a model, an adapter). */
static lc_status check_outputs(const lc_compare_params *p) {
    static const char *const OUT[] = {"eval.json", "eval.csv", "generations.jsonl"};
    const char *in[4 + 2 * LC_COMPARE_MAX_CANDS], *role[4 + 2 * LC_COMPARE_MAX_CANDS];
    int n = 0;
    in[n] = p->data, role[n++] = "the test data";
    in[n] = p->model, role[n++] = "the base model";
    if (p->tokenizer && *p->tokenizer) in[n] = p->tokenizer, role[n++] = "the tokenizer";
    for (int i = 0; i < p->n_adapters && n < 2 + LC_COMPARE_MAX_CANDS; i++) in[n] = p->adapters[i], role[n++] = "an adapter";
    for (int i = 0; i < p->n_merged && n < 3 + 2 * LC_COMPARE_MAX_CANDS; i++) in[n] = p->merged[i], role[n++] = "a merged model";
    lc_status st = lc_fs_mkdir_p(p->out_dir);
    char path[1200];
    for (int k = 0; k < 3 && !st; k++)
        if (!(st = lc_path_join(path, sizeof path, p->out_dir, OUT[k]))) st = lc_fs_refuse_input(path, in, role, n);
    return st;
}

/* eval.json: the run's settings and one object per candidate. */
static lc_status write_eval_json(const compare *C, const char *path) {
    const lc_compare_result *res = C->res;
    json_t *root = json_object(), *cands = json_array();
    json_object_set_new(root, "model", json_string(C->p->model));
    json_object_set_new(root, "data", json_string(C->p->data));
    json_object_set_new(root, "n_examples", json_integer(res->n_examples));
    json_object_set_new(root, "chat_template", json_string(res->template_name));
    json_object_set_new(root, "max_new_tokens", json_integer(C->p->max_new_tokens));
    for (int i = 0; i < res->n_rows; i++) {
        const lc_compare_row *r = &res->rows[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(r->name));
        json_object_set_new(o, "kind", json_string(kind_name(r->kind)));
        json_object_set_new(o, "path", json_string(r->path));
        if (r->kind == LC_CAND_ADAPTER) json_object_set_new(o, "scale_mult", json_real(r->mult));
        if (res->metrics & LC_METRIC_LOSS) {
            json_object_set_new(o, "loss", eval_json_num(r->loss));
            json_object_set_new(o, "perplexity", eval_json_num(r->ppl));
            json_object_set_new(o, "loss_tokens", json_integer(r->n_loss_tokens));
        }
        for (int k = 1; k < 6; k++)
            if (res->metrics & (1u << k)) json_object_set_new(o, lc_metric_name(1u << k), eval_json_num(r->metric[k]));
        json_object_set_new(o, "generated_examples", json_integer(r->n_gen_examples));
        json_object_set_new(o, "generated_tokens", json_integer(r->gen_tokens));
        json_object_set_new(o, "generation_s", json_real(r->gen_s));
        json_array_append_new(cands, o);
    }
    json_object_set_new(root, "candidates", cands);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (!text) return lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path);
    lc_status st = lc_fs_write_atomic(path, text, strlen(text));
    free(text);
    return st;
}

/* eval.csv: one row per candidate. */
static lc_status write_eval_csv(const compare *C, const char *path) {
    const lc_compare_result *res = C->res;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path);
    fputs("candidate,kind,path,loss,perplexity,loss_tokens,em,f1,rougeL,bleu,accuracy,generated_examples,"
          "generated_tokens,generation_s\n", f);
    for (int i = 0; i < res->n_rows; i++) {
        const lc_compare_row *r = &res->rows[i];
        eval_csv_field(f, r->name);
        fprintf(f, ",%s,", kind_name(r->kind));
        eval_csv_field(f, r->path);
        fprintf(f, ",%.9g,%.9g,%lld", r->loss, r->ppl, (long long)r->n_loss_tokens);
        for (int k = 1; k < 6; k++) fprintf(f, ",%.9g", r->metric[k]);
        fprintf(f, ",%d,%lld,%.3f\n", r->n_gen_examples, (long long)r->gen_tokens, r->gen_s);
    }
    return mem_commit(f, &buf, &len, path);
}

/* generations.jsonl: per example its prompt, reference and every
 * candidate's answer. */
static lc_status write_generations(const compare *C, const char *path) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path);
    for (int i = 0; i < C->view.n; i++) {
        if (!C->gx[i].reference) continue;
        json_t *o = json_object(), *ans = json_object();
        json_object_set_new(o, "index", json_integer(i));
        json_object_set_new(o, "line", json_integer(C->gx[i].ex->line));
        json_object_set_new(o, "prompt", json_string(C->prompts[i] ? C->prompts[i] : ""));
        json_object_set_new(o, "reference", json_string(C->gx[i].reference));
        for (int c = 0; c < C->res->n_rows; c++)
            if (C->answers[c][i]) json_object_set_new(ans, C->res->rows[c].name, json_string(C->answers[c][i]));
        json_object_set_new(o, "answers", ans);
        char *line = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!line) {
            fclose(f);
            free(buf);
            return lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path);
        }
        fprintf(f, "%s\n", line);
        free(line);
    }
    return mem_commit(f, &buf, &len, path);
}

/* eval.json, eval.csv and generations.jsonl in out_dir, each atomically. */
static lc_status write_outputs(compare *C) {
    const char *dir = C->p->out_dir;
    char path[1200];
    lc_status st = LC_OK;
    if (mkdir(dir, 0755) && errno != EEXIST) return lc_errorf(LC_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    if (!(st = lc_path_join(path, sizeof path, dir, "eval.json"))) st = write_eval_json(C, path);
    if (!st && !(st = lc_path_join(path, sizeof path, dir, "eval.csv"))) st = write_eval_csv(C, path);
    if (!st && !(st = lc_path_join(path, sizeof path, dir, "generations.jsonl"))) st = write_generations(C, path);
    return st;
}

/* ---------------------------------------------------------------- main */

static lc_status add_rows(compare *C) {
    const lc_compare_params *p = C->p;
    lc_compare_result *res = C->res;
    res->n_rows = 1 + p->n_adapters + p->n_merged;
    res->rows = calloc((size_t)res->n_rows, sizeof *res->rows);
    C->answers = calloc((size_t)res->n_rows, sizeof *C->answers);
    if (!res->rows || !C->answers) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < res->n_rows; i++) {
        lc_compare_row *r = &res->rows[i];
        r->loss = r->ppl = NAN;
        for (int k = 0; k < 6; k++) r->metric[k] = NAN;
        r->mult = 1.0f;
        char stem[256];
        if (i == 0) {
            r->kind = LC_CAND_BASE;
            snprintf(r->name, sizeof r->name, "base");
            snprintf(r->path, sizeof r->path, "%s", p->model);
        } else if (i <= p->n_adapters) {
            r->kind = LC_CAND_ADAPTER;
            snprintf(r->path, sizeof r->path, "%s", p->adapters[i - 1]);
            r->mult = p->adapter_mults ? p->adapter_mults[i - 1] : 1.0f;
            /* name: the run directory for ".../run/adapter.h5", else the file stem */
            base_name(r->path, stem, sizeof stem);
            if (!strcmp(stem, "adapter") || !strcmp(stem, "best") || !strncmp(stem, "checkpoint-", 11)) {
                char d[1024];
                snprintf(d, sizeof d, "%s", r->path);
                char *sl = strrchr(d, '/');
                if (sl) {
                    *sl = 0;
                    char dn[256];
                    snprintf(r->name, sizeof r->name, "%.30s/%.30s", base_name(d, dn, sizeof dn), stem);
                } else {
                    snprintf(r->name, sizeof r->name, "%.60s", stem);
                }
            } else {
                snprintf(r->name, sizeof r->name, "%.60s", stem);
            }
            if (r->mult != 1.0f) {
                size_t l = strlen(r->name);
                snprintf(r->name + l, sizeof r->name - l, "x%g", r->mult);
            }
        } else {
            r->kind = LC_CAND_MERGED;
            snprintf(r->path, sizeof r->path, "%s", p->merged[i - 1 - p->n_adapters]);
            snprintf(r->name, sizeof r->name, "merged:%.50s", base_name(r->path, stem, sizeof stem));
        }
        for (int j = 0; j < i; j++) /* unique names */
            if (!strcmp(res->rows[j].name, r->name)) {
                size_t l = strlen(r->name);
                snprintf(r->name + (l > 56 ? 56 : l), sizeof r->name - (l > 56 ? 56 : l), "#%d", i);
            }
        C->answers[i] = calloc((size_t)C->view.n + 1, sizeof **C->answers);
        if (!C->answers[i]) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    }
    return LC_OK;
}

lc_status lc_compare_run(const lc_compare_params *p, lc_compare_result *res) {
    compare C;
    memset(&C, 0, sizeof C);
    memset(res, 0, sizeof *res);
    C.p = p;
    C.res = res;
    res->metrics = p->metrics;
    if (!p->model || !*p->model || !p->data || !*p->data)
        return lc_errorf(LC_ERR_ARG, "eval needs a model and a test data file");
    if (p->max_new_tokens < 1) return lc_errorf(LC_ERR_ARG, "max_new_tokens is %d: expected >= 1", p->max_new_tokens);
    if (p->n_adapters + p->n_merged + 1 > LC_COMPARE_MAX_CANDS)
        return lc_errorf(LC_ERR_ARG, "eval: at most %d candidates", LC_COMPARE_MAX_CANDS);
    for (int i = 0; i < p->n_adapters; i++) {
        lc_status mst = lc_adapter_check_mult(p->adapters[i], p->adapter_mults ? p->adapter_mults[i] : 1.0);
        if (mst) return mst;
    }
    if (p->out_dir && *p->out_dir) {
        lc_status ost = check_outputs(p);
        if (ost) return ost;
    }
    lc_threads_init(p->threads);
    C.cfg = lc_train_config_default();
    C.cfg.mask_prompt = 1; /* loss on answer tokens only */
    if (p->max_seq_len > 0) C.cfg.max_seq_len = p->max_seq_len;
    lc_status st = LC_OK;
    if (p->chat_template && *p->chat_template) {
        snprintf(C.cfg.chat_template, sizeof C.cfg.chat_template, "%s", p->chat_template);
    } else if (p->n_adapters > 0) { /* the template the first adapter was trained with */
        lc_adapter_info info;
        if ((st = lc_adapter_read_info(p->adapters[0], &info))) return st;
        snprintf(C.cfg.chat_template, sizeof C.cfg.chat_template, "%s", info.chat_template[0] ? info.chat_template : "auto");
        C.tmpl_from_adapter = 1;
    } else {
        snprintf(C.cfg.chat_template, sizeof C.cfg.chat_template, "auto");
    }
    if ((st = lc_dataset_load(&C.ds, p->data, &C.cfg))) return st;
    C.view = C.ds;
    if (p->limit > 0 && p->limit < C.view.n) C.view.n = p->limit;
    res->n_examples = C.view.n;
    if ((st = examples_prepare(&C)) || (st = labels_prepare(&C)) || (st = add_rows(&C))) goto done;
    if (!(C.prompts = calloc((size_t)C.view.n + 1, sizeof *C.prompts))) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = run_group(&C, p->model, p->tokenizer, 0, 1 + p->n_adapters))) goto done;
    for (int m = 0; m < p->n_merged; m++) {
        int ci = 1 + p->n_adapters + m;
        if ((st = run_group(&C, p->merged[m], NULL, ci, ci + 1))) goto done;
    }
    if (p->out_dir && *p->out_dir) st = write_outputs(&C);
done:
    if (C.answers)
        for (int c = 0; c < res->n_rows; c++) {
            if (!C.answers[c]) continue;
            for (int i = 0; i < C.view.n; i++) free(C.answers[c][i]);
            free(C.answers[c]);
        }
    free(C.answers);
    if (C.prompts)
        for (int i = 0; i < C.view.n; i++) free(C.prompts[i]);
    free(C.prompts);
    for (int k = 0; k < C.n_labels; k++) free(C.labels[k]);
    free(C.labels);
    free(C.gx);
    lc_dataset_free(&C.ds);
    if (st) lc_compare_result_free(res);
    return st;
}

void lc_compare_result_free(lc_compare_result *res) {
    free(res->rows);
    memset(res, 0, sizeof *res);
}
