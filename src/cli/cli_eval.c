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
#include "lc_sweep.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: lorac eval --model MODEL --data TEST.jsonl [--adapter A.h5[:SCALE] ...] [--merged M ...]\n"
            "                  [--chat-template NAME] [--max-new-tokens N] [--metrics LIST] [--out DIR]\n"
            "                  [--limit N] [--labels yes,no,maybe] [--max-seq-len N] [--batch-size N]\n"
            "                  [--tokenizer PATH] [--threads N] [--quiet]\n\n"
            "Candidates: the base MODEL (always), each --adapter applied unmerged to it (SCALE multiplies\n"
            "its alpha/r scale, default 1) and each --merged model (HF dir or .gguf). For each: loss and\n"
            "perplexity on the answer tokens of TEST (rows built as `lorac train` builds them) and greedy\n"
            "answers scored against the references.\n\n"
            "  --metrics LIST       any of loss,em,f1,rougeL,bleu,accuracy or all (default all)\n"
            "  --chat-template T    none, auto, chatml, llama2, llama3 or custom (default: the first\n"
            "                       adapter's, else auto)\n"
            "  --max-new-tokens N   per answer (default 128)\n"
            "  --labels L           accuracy labels (default: the references, if they are short labels)\n"
            "  --out DIR            write DIR/eval.json, DIR/eval.csv, DIR/generations.jsonl\n");
}

static int push(const char ***arr, int *n, const char *v) {
    const char **a = realloc(*arr, (size_t)(*n + 1) * sizeof *a);
    if (!a) return -1;
    a[(*n)++] = v;
    *arr = a;
    return 0;
}

static int parse_int(const char *s, int lo, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end || v < lo || v > 1 << 30) return -1;
    *out = (int)v;
    return 0;
}

int cli_eval(int argc, char **argv) {
    lc_compare_params p = lc_compare_default_params();
    const char **adapters = NULL, **merged = NULL;
    char **adapter_paths = NULL;
    float *mults = NULL;
    int n_ad = 0, n_me = 0, rc = 2, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto done;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (strncmp(a, "--", 2) || !v) {
            fprintf(stderr, "lorac eval: expected --OPTION VALUE, found '%s' (see lorac eval --help)\n", a);
            goto done;
        }
        i++;
        int bad = 0;
        if (!strcmp(a, "--model")) p.model = v;
        else if (!strcmp(a, "--tokenizer")) p.tokenizer = v;
        else if (!strcmp(a, "--data")) p.data = v;
        else if (!strcmp(a, "--adapter")) bad = push(&adapters, &n_ad, v);
        else if (!strcmp(a, "--merged")) bad = push(&merged, &n_me, v);
        else if (!strcmp(a, "--chat-template") || !strcmp(a, "--chat_template")) p.chat_template = v;
        else if (!strcmp(a, "--max-new-tokens") || !strcmp(a, "--max_new_tokens")) bad = parse_int(v, 1, &p.max_new_tokens);
        else if (!strcmp(a, "--limit")) bad = parse_int(v, 0, &p.limit);
        else if (!strcmp(a, "--max-seq-len") || !strcmp(a, "--max_seq_len")) bad = parse_int(v, 2, &p.max_seq_len);
        else if (!strcmp(a, "--batch-size") || !strcmp(a, "--batch_size")) bad = parse_int(v, 1, &p.batch_size);
        else if (!strcmp(a, "--threads")) bad = parse_int(v, 0, &p.threads);
        else if (!strcmp(a, "--labels")) p.labels = v;
        else if (!strcmp(a, "--out")) p.out_dir = v;
        else if (!strcmp(a, "--metrics")) {
            if (lc_metrics_parse(v, &p.metrics)) {
                fprintf(stderr, "lorac eval: --metrics: %s\n", lc_error_msg());
                goto done;
            }
        } else {
            fprintf(stderr, "lorac eval: unknown option '%s' (see lorac eval --help)\n", a);
            goto done;
        }
        if (bad) {
            fprintf(stderr, "lorac eval: bad value '%s' for %s\n", v, a);
            goto done;
        }
    }
    if (!p.model || !p.data) {
        usage(stderr);
        fprintf(stderr, "\nlorac eval: --model and --data are required\n");
        goto done;
    }
    /* A.h5:SCALE */
    adapter_paths = calloc((size_t)n_ad + 1, sizeof *adapter_paths);
    mults = calloc((size_t)n_ad + 1, sizeof *mults);
    if (!adapter_paths || !mults) {
        fprintf(stderr, "lorac eval: out of memory\n");
        rc = 1;
        goto done;
    }
    for (int k = 0; k < n_ad; k++) {
        adapter_paths[k] = strdup(adapters[k]);
        if (!adapter_paths[k]) {
            rc = 1;
            goto done;
        }
        mults[k] = 1.0f;
        char *colon = strrchr(adapter_paths[k], ':'), *end;
        if (colon) {
            double m = strtod(colon + 1, &end);
            if (colon[1] && !*end) {
                *colon = 0;
                mults[k] = (float)m;
            }
        }
    }
    p.adapters = (const char *const *)adapter_paths;
    p.adapter_mults = mults;
    p.n_adapters = n_ad;
    p.merged = merged;
    p.n_merged = n_me;
    cli_progress progress;
    p.reporter = cli_progress_init(&progress, quiet);
    lc_compare_result res;
    if (lc_compare_run(&p, &res)) {
        fprintf(stderr, "lorac eval: %s\n", lc_error_msg());
        rc = 1;
        goto done;
    }
    lc_compare_print(stdout, &res);
    if (p.out_dir) printf("wrote %s/eval.json, %s/eval.csv, %s/generations.jsonl\n", p.out_dir, p.out_dir, p.out_dir);
    lc_compare_result_free(&res);
    rc = 0;
done:
    if (adapter_paths)
        for (int k = 0; k < n_ad; k++) free(adapter_paths[k]);
    free(adapter_paths);
    free(mults);
    free(adapters);
    free(merged);
    return rc;
}
