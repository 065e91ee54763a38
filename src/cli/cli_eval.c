/*
 * cli_eval.c — `lorac eval`: compare the base model, adapters (unmerged) and
 * merged models on a test file: loss/perplexity on the answers and greedy
 * generations scored with EM, F1, ROUGE-L, BLEU and label accuracy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_progress.h"
#include "lc_report.h"
#include "lc_sweep.h"

enum {
    O_MODEL, O_DATA, O_ADAPTER, O_MERGED, O_TEMPLATE, O_MAX_NEW, O_METRICS, O_OUT, O_LIMIT, O_LABELS, O_MAX_SEQ,
    O_BATCH, O_TOKENIZER, O_THREADS, O_QUIET, O_COUNT
};

static const cli_opt OPTS[O_COUNT] = {
    [O_MODEL] = {"model", 0, "MODEL", "base model: HF directory or .gguf file (required)"},
    [O_DATA] = {"data", 0, "TEST.jsonl", "test data, any format `lorac train` reads (required)"},
    [O_ADAPTER] = {"adapter", 0, "A.h5[:SCALE]", "an adapter applied unmerged to MODEL; SCALE multiplies its\n"
                                                 "alpha/r scale (default 1); repeatable"},
    [O_MERGED] = {"merged", 0, "M", "a merged model (HF directory or .gguf); repeatable"},
    [O_TEMPLATE] = {"chat-template", 0, "T", "none, auto, chatml, llama2, llama3, gemma or custom (default: the\n"
                                             "first adapter's, else auto)"},
    [O_MAX_NEW] = {"max-new-tokens", 0, "N", "per answer (default 128)"},
    [O_METRICS] = {"metrics", 0, "LIST", "any of loss,em,f1,rougeL,bleu,accuracy or all (default all)"},
    [O_OUT] = {"out", 0, "DIR", "write DIR/eval.json, DIR/eval.csv, DIR/generations.jsonl"},
    [O_LIMIT] = {"limit", 0, "N", "only the first N examples (default 0 = all)"},
    [O_LABELS] = {"labels", 0, "L", "accuracy labels, comma-separated (default: the references, if they\n"
                                    "are short labels)"},
    [O_MAX_SEQ] = {"max-seq-len", 0, "N", "tokens per loss row (default 512)"},
    [O_BATCH] = {"batch-size", 0, "N", "rows per loss batch (default 8)"},
    [O_TOKENIZER] = {"tokenizer", 0, "PATH", "tokenizer.json or directory (default: the model's)"},
    [O_THREADS] = {"threads", 0, "N", "CPU threads (default: all cores)"},
    [O_QUIET] = {"quiet", 'q', NULL, "no progress on stderr"},
};

static const cli_spec SPEC = {
    "eval",
    "lorac eval --model MODEL --data TEST.jsonl [--adapter A.h5[:SCALE] ...] [--merged M ...] [options]",
    "Candidates: the base MODEL (always), each --adapter applied unmerged to it and each --merged\n"
    "model. For each: loss and perplexity on the answer tokens of TEST (rows built as `lorac train`\n"
    "builds them) and greedy answers scored against the references. Prompts, the chat template and\n"
    "the tokens that end an answer are those of `lorac generate` (lc_prompt.h).",
    OPTS, O_COUNT, 0, 0, NULL};

typedef struct {
    lc_compare_params p;
    const char **merged;
    char **paths; /* adapter paths (malloc'd) */
    float *mults;
    int n_ad, n_me;
    int quiet; /* --quiet: no progress on stderr */
} eval_opts;

static void eval_opts_free(eval_opts *o) {
    for (int k = 0; k < o->n_ad; k++) free(o->paths[k]);
    free(o->paths);
    free(o->mults);
    free(o->merged);
}

/* One option into *o; 0 or -1 (error printed). */
static int set_opt(eval_opts *o, const cli_arg *a) {
    lc_compare_params *p = &o->p;
    switch (a->opt) {
    case O_MODEL: p->model = a->val; return 0;
    case O_DATA: p->data = a->val; return 0;
    case O_TOKENIZER: p->tokenizer = a->val; return 0;
    case O_TEMPLATE: p->chat_template = a->val; return 0;
    case O_LABELS: p->labels = a->val; return 0;
    case O_OUT: p->out_dir = a->val; return 0;
    case O_QUIET: o->quiet = 1; return 0;
    case O_MAX_NEW: return cli_parse_int("eval", a->name, a->val, 1, 1 << 30, &p->max_new_tokens);
    case O_LIMIT: return cli_parse_int("eval", a->name, a->val, 0, 1 << 30, &p->limit);
    case O_MAX_SEQ: return cli_parse_int("eval", a->name, a->val, 2, 1 << 30, &p->max_seq_len);
    case O_BATCH: return cli_parse_int("eval", a->name, a->val, 1, 1 << 30, &p->batch_size);
    case O_THREADS: return cli_parse_int("eval", a->name, a->val, 0, 4096, &p->threads);
    case O_METRICS:
        if (!lc_metrics_parse(a->val, &p->metrics)) return 0;
        fprintf(stderr, "lorac eval: --metrics: %s\n", lc_error_msg());
        return -1;
    case O_MERGED: {
        const char **m = realloc(o->merged, (size_t)(o->n_me + 1) * sizeof *m);
        if (!m) return -1;
        o->merged = m;
        m[o->n_me++] = a->val;
        return 0;
    }
    case O_ADAPTER: {
        char **pp = realloc(o->paths, (size_t)(o->n_ad + 1) * sizeof *pp);
        if (pp) o->paths = pp;
        float *mm = pp ? realloc(o->mults, (size_t)(o->n_ad + 1) * sizeof *mm) : NULL;
        if (mm) o->mults = mm;
        if (!mm || cli_adapter_arg("eval", a->val, &o->paths[o->n_ad], &o->mults[o->n_ad])) return -1;
        o->n_ad++;
        return 0;
    }
    }
    return -1;
}

int cli_eval(int argc, char **argv) {
    eval_opts o = {.p = lc_compare_default_params()};
    cli_args args;
    int rc = cli_parse(&SPEC, argc, argv, &args);
    if (rc) return rc == 1 ? 0 : rc;
    for (int i = 0; i < args.n && !rc; i++)
        if (set_opt(&o, &args.v[i])) rc = 2;
    cli_args_free(&args);
    if (!rc && (!o.p.model || !o.p.data)) {
        fprintf(stderr, "lorac eval: --model and --data are required (see `lorac eval --help`)\n");
        rc = 2;
    }
    if (rc) {
        eval_opts_free(&o);
        return rc;
    }
    o.p.adapters = (const char *const *)o.paths;
    o.p.adapter_mults = o.mults;
    o.p.n_adapters = o.n_ad;
    o.p.merged = o.merged;
    o.p.n_merged = o.n_me;
    cli_progress progress;
    o.p.reporter = cli_progress_init(&progress, o.quiet);
    lc_compare_result res;
    if (lc_compare_run(&o.p, &res)) {
        fprintf(stderr, "lorac eval: %s\n", lc_error_msg());
        eval_opts_free(&o);
        return 1;
    }
    lc_compare_print(stdout, &res);
    lc_report_eval(o.p.out_dir, stderr); /* out_dir/report.html */
    if (o.p.out_dir) printf("wrote %s/eval.json, %s/eval.csv, %s/generations.jsonl\n", o.p.out_dir, o.p.out_dir, o.p.out_dir);
    lc_compare_result_free(&res);
    eval_opts_free(&o);
    return 0;
}
