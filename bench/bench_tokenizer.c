/*
 * bench_tokenizer.c — tokenizer throughput on real text: concatenates the
 * files of shared/data (PubMedQA, GSM8K, mental-health FAQ, SQuAD), repeated
 * up to ~10 MB, and encodes it line by line (lines capped at 64 KB) with the
 * SmolLM byte-level BPE tokenizer on one thread. Prints MB/s and tokens/s
 * for a cold word cache (new tokenizer) and a warm one (second pass).
 *
 * usage: bench_tokenizer [TOKENIZER_JSON] [DATA_DIR] [MB]
 *   defaults: ../shared/fixtures/tokenizers/smollm/tokenizer.json ../shared/data 10
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_tokenizer.h"

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)sz + 1);
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return p;
}

static int encode_all(const lc_tokenizer *t, const char *text, size_t n, long *n_tokens) {
    size_t i = 0;
    *n_tokens = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && text[j] != '\n' && j - i < 65536) j++;
        if (j < n && text[j] == '\n') j++;
        int32_t *ids;
        int m;
        if (lc_tokenizer_encode(t, text + i, j - i, 0, &ids, &m)) return -1;
        *n_tokens += m;
        free(ids);
        i = j;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *tok_path = argc > 1 ? argv[1] : "../shared/fixtures/tokenizers/smollm/tokenizer.json";
    const char *data = argc > 2 ? argv[2] : "../shared/data";
    double target_mb = argc > 3 ? atof(argv[3]) : 10.0;
    static const char *files[] = {"pubmedqa/ori_pqal.json", "gsm8k/train.jsonl", "gsm8k/test.jsonl",
                                  "mental-health-faq/Mental_Health_FAQ.csv",
                                  "squad-sample/squad_sample.json"};
    size_t cap = (size_t)(target_mb * 1e6) + 1, len = 0;
    char *text = malloc(cap);
    if (!text) return 1;
    while (len < cap - 1) {
        size_t before = len;
        for (size_t k = 0; k < sizeof files / sizeof *files && len < cap - 1; k++) {
            char path[4096];
            size_t n;
            snprintf(path, sizeof path, "%s/%s", data, files[k]);
            char *p = slurp(path, &n);
            if (!p) {
                fprintf(stderr, "bench_tokenizer: cannot read %s\n", path);
                return 1;
            }
            if (n > cap - 1 - len) n = cap - 1 - len;
            memcpy(text + len, p, n);
            len += n;
            free(p);
        }
        if (len == before) break;
    }
    lc_tokenizer *t;
    double t0 = lc_time_now();
    if (lc_tokenizer_load(&t, tok_path)) {
        fprintf(stderr, "bench_tokenizer: %s\n", lc_error_msg());
        return 1;
    }
    double t_load = lc_time_now() - t0;
    printf("tokenizer %s (%s, %d ids) loaded in %.3f s; text %.2f MB\n", tok_path,
           lc_tokenizer_kind(t), lc_tokenizer_vocab_size(t), t_load, len / 1e6);
    for (int pass = 0; pass < 2; pass++) {
        long n_tok;
        t0 = lc_time_now();
        if (encode_all(t, text, len, &n_tok)) {
            fprintf(stderr, "bench_tokenizer: %s\n", lc_error_msg());
            return 1;
        }
        double dt = lc_time_now() - t0;
        printf("%s cache: %.2f MB in %.3f s = %.2f MB/s, %ld tokens = %.2f M tokens/s "
               "(%.2f bytes/token)\n", pass ? "warm" : "cold", len / 1e6, dt, len / 1e6 / dt,
               n_tok, n_tok / 1e6 / dt, (double)len / (double)n_tok);
    }
    lc_tokenizer_free(t);
    free(text);
    return 0;
}
