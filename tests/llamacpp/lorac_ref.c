/*
 * lorac_ref.c — reference numbers from lorac for the llama.cpp interop tests
 * (tests/llamacpp/test_llamacpp.py). One run:
 *
 *   lorac_ref MODEL ADAPTER|- PROMPT|ids:ID,ID,... N_NEW OUT.bin [KEEP]
 *
 * opens MODEL (GGUF or HF dir) with its tokenizer, applies ADAPTER (a lorac
 * HDF5 adapter, unmerged, multiplier 1; "-" for none; its base identity is
 * not checked, so an adapter trained on a Q4_1 file can run on that file's
 * F32 conversion), encodes PROMPT with the tokenizer's special tokens (BOS),
 * (or takes the token ids after "ids:" as they are), and writes OUT.bin, all
 * little-endian:
 *     int32 n_prompt, int32 vocab, int32 n_gen, int32 eos_tokenizer, int32 eos_config,
 *     int32 n_logits                     (min(KEEP, n_prompt); KEEP defaults to all)
 *     int32 prompt[n_prompt]
 *     f32   logits[n_logits][vocab]      (the last n_logits prompt positions: the
 *                                         tokens before them are prefilled first
 *                                         without logits, then these in one prefill,
 *                                         so a long prompt needs no (n_prompt, V) buffer)
 *     int32 gen[n_gen]                   (greedy: first arg-max; stops before
 *                                         either EOS id, as `lorac generate`)
 * Exit 0 ok, 1 on any error (message on stderr).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_cpu.h"
#include "lc_adapter.h"
#include "lc_base.h"
#include "lc_infer.h"

/* Parse "ID,ID,..." into a malloc'd array; -1 on a malformed list. */
static int parse_ids(const char *s, int32_t **out, int *n) {
    int cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int32_t *v = malloc((size_t)cap * sizeof *v);
    if (!v) return -1;
    *n = 0;
    for (;;) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < 0 || x > INT32_MAX || (*end && *end != ',')) {
            free(v);
            return -1;
        }
        v[(*n)++] = (int32_t)x;
        if (!*end) break;
        s = end + 1;
    }
    *out = v;
    return 0;
}

/* Index of the first largest value of x[n]. */
static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core (lc_cpu.h) */
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: lorac_ref MODEL ADAPTER|- PROMPT|ids:ID,ID,... N_NEW OUT.bin [KEEP]\n");
        return 1;
    }
    const char *model_path = argv[1], *adapter_path = argv[2], *prompt = argv[3], *out_path = argv[5];
    int n_new = atoi(argv[4]), keep = argc == 7 ? atoi(argv[6]) : INT32_MAX;
    lc_base base;
    lc_lora lora;
    lc_infer *inf = NULL;
    int base_open = 0, lora_open = 0, rc = 1, n_prompt = 0, n_gen = 0;
    int32_t *ids = NULL;  /* (n_prompt) */
    int32_t *gen = NULL;  /* (n_new) */
    float *logits = NULL; /* (n_logits, V) */
    float *step = NULL;   /* (V) */
    FILE *f = NULL;

    lc_threads_init(0);
    if (n_new < 0 || keep < 1) {
        fprintf(stderr, "lorac_ref: N_NEW must be >= 0 and KEEP >= 1 (got '%s', '%s')\n", argv[4],
                argc == 7 ? argv[6] : "all");
        goto fail;
    }
    if (lc_base_open(&base, model_path, NULL)) goto lc_fail;
    base_open = 1;
    if (strcmp(adapter_path, "-")) {
        if (lc_adapter_load(adapter_path, &base.model, &lora, NULL, NULL, 1)) goto lc_fail;
        lora_open = 1;
    }
    const int V = base.model.cfg.vocab_size;
    const int eos_tok = lc_tokenizer_eos_id(base.tok), eos_cfg = base.model.cfg.eos_id;
    if (!strncmp(prompt, "ids:", 4)) {
        if (parse_ids(prompt + 4, &ids, &n_prompt)) {
            fprintf(stderr, "lorac_ref: bad id list '%s' (expected ids:N,N,...)\n", prompt);
            goto fail;
        }
    } else if (lc_tokenizer_encode(base.tok, prompt, strlen(prompt), 1, &ids, &n_prompt)) {
        goto lc_fail;
    }
    if (n_prompt < 1) {
        fprintf(stderr, "lorac_ref: the prompt has no tokens\n");
        goto fail;
    }
    lc_infer_adapter ad = {&lora, 1.0f};
    if (lc_infer_create(&inf, &base.model, lora_open ? &ad : NULL, lora_open, n_prompt + n_new + 1)) goto lc_fail;
    const int n_logits = keep < n_prompt ? keep : n_prompt, n_before = n_prompt - n_logits;
    logits = malloc((size_t)n_logits * V * sizeof *logits);
    gen = malloc(((size_t)n_new + 1) * sizeof *gen);
    step = malloc((size_t)V * sizeof *step);
    if (!logits || !gen || !step) {
        fprintf(stderr, "lorac_ref: out of memory\n");
        goto fail;
    }
    if (n_before > 0 && lc_infer_prefill(inf, ids, n_before, NULL)) goto lc_fail;
    if (lc_infer_prefill_all(inf, ids + n_before, n_logits, logits)) goto lc_fail;
    const float *last = logits + (size_t)(n_logits - 1) * V; /* (V) */
    for (int32_t next = argmax(last, V); n_gen < n_new; next = argmax(step, V)) {
        if (next == eos_tok || next == eos_cfg) break;
        gen[n_gen++] = next;
        if (n_gen == n_new) break;
        if (lc_infer_decode(inf, next, step)) goto lc_fail;
    }

    f = fopen(out_path, "wb");
    int32_t hdr[6] = {n_prompt, V, n_gen, eos_tok, eos_cfg, n_logits};
    if (!f || fwrite(hdr, sizeof hdr, 1, f) != 1 || fwrite(ids, sizeof *ids, (size_t)n_prompt, f) != (size_t)n_prompt ||
        fwrite(logits, sizeof *logits, (size_t)n_logits * V, f) != (size_t)n_logits * V ||
        fwrite(gen, sizeof *gen, (size_t)n_gen, f) != (size_t)n_gen || fclose(f)) {
        f = NULL;
        fprintf(stderr, "lorac_ref: cannot write '%s'\n", out_path);
        goto fail;
    }
    f = NULL;
    rc = 0;
    goto fail;
lc_fail:
    fprintf(stderr, "lorac_ref: %s\n", lc_error_msg());
fail:
    if (f) fclose(f);
    free(ids);
    free(gen);
    free(logits);
    free(step);
    lc_infer_free(inf);
    if (lora_open) lc_lora_free(&lora);
    if (base_open) lc_base_close(&base);
    return rc;
}
