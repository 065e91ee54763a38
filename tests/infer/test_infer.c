/*
 * test_infer.c — the KV-cache forward (lc_infer) against the training forward
 * (lc_forward) on a real model: an HF directory, or a GGUF file (SmolLM2:
 * 30 layers wide enough that decode runs on every thread, with adapters).
 *
 * usage: test_infer <hf_model_dir | model.gguf | random-gpt2>   (exit 77: the GGUF is absent)
 * random-gpt2: a random GPT-2 (lc_model_init_random; n_positions 128, so the
 * prefill crosses the chunk boundary, which tiny-gpt2's 64 positions cannot).
 *
 * Checks (all logits compared with max_abs <= 1e-5 * max|ref|):
 *   1. prefill of T tokens (crossing the internal chunk boundary): logits at
 *      every position equal lc_forward's, for the base, for one LoRA adapter
 *      with multiplier 0.7, and for the same adapter given twice (0.3 + 0.4);
 *   2. prefill of a prefix then token-by-token decode equals one prefill;
 *      rewinding and re-running the tail equals it too;
 *   3. the same on a copy of the model quantised to Q4_1 (layers) and Q8_0
 *      (embeddings / lm_head) when its widths are multiples of 32: this runs
 *      the dequantise-tile GEMM (prefill) and fused dequant-dot (decode);
 *   4. bad input: out-of-vocabulary token and a full cache give LC_ERR_ARG.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lc_cpu.h"
#include "infer_test.h"
#include "lc_gguf.h"
#include "lc_infer.h"
#include "lc_loader.h"
#include "lc_transformer.h"

#define T_SEQ 80 /* > the 64-row prefill chunk */
#define TOL 1e-5

/* Reference logits (T, V) from lc_forward. */
static float *forward_logits(const lc_model *m, const lc_lora *lora, float mult, const int32_t *tok, int T) {
    lc_acts *a = NULL;
    float *logits = malloc((size_t)T * m->cfg.vocab_size * sizeof(float));
    lc_batch b = {.tokens = tok, .targets = NULL, .B = 1, .T = T};
    if (!logits || lc_acts_create(&a, m, lora, 1, T) || lc_forward(m, lora, mult, a, &b, NULL, NULL, logits)) {
        fprintf(stderr, "lc_forward: %s\n", lc_error_msg());
        free(logits);
        logits = NULL;
    }
    lc_acts_free(a);
    return logits;
}

/* lc_infer logits (T, V) by one prefill_all. */
static float *infer_logits(const lc_model *m, const lc_infer_adapter *ad, int n_ad, const int32_t *tok, int T) {
    lc_infer *s = NULL;
    float *logits = malloc((size_t)T * m->cfg.vocab_size * sizeof(float));
    if (!logits || lc_infer_create(&s, m, ad, n_ad, T) || lc_infer_prefill_all(s, tok, T, logits)) {
        fprintf(stderr, "lc_infer: %s\n", lc_error_msg());
        free(logits);
        logits = NULL;
    }
    lc_infer_free(s);
    return logits;
}

/* Prefill n0 tokens then decode the rest one by one, comparing each step's
 * logits with ref (T, V); then rewind to n1 and prefill the tail at once. */
static void check_decode(const char *tag, const lc_model *m, const lc_infer_adapter *ad, int n_ad,
                         const int32_t *tok, int T, const float *ref, int n0, int n1) {
    int V = m->cfg.vocab_size;
    lc_infer *s = NULL;
    float *got = malloc((size_t)T * V * sizeof(float));
    char what[160];
    if (!got || lc_infer_create(&s, m, ad, n_ad, T)) {
        fprintf(stderr, "lc_infer_create: %s\n", lc_error_msg());
        g_fail++;
        goto done;
    }
    int ok = lc_infer_prefill(s, tok, n0, got + (size_t)(n0 - 1) * V) == LC_OK;
    for (int t = n0; ok && t < T; t++) ok = lc_infer_decode(s, tok[t], got + (size_t)t * V) == LC_OK;
    snprintf(what, sizeof what, "%s: prefill(%d) + decode x%d", tag, n0, T - n0);
    if (!check(ok && lc_infer_pos(s) == T, what)) goto done;
    snprintf(what, sizeof what, "%s: decode logits, positions %d..%d", tag, n0 - 1, T - 1);
    compare_rel(what, got + (size_t)(n0 - 1) * V, ref + (size_t)(n0 - 1) * V, (size_t)(T - n0 + 1) * V, TOL);
    lc_infer_rewind(s, n1);
    ok = lc_infer_prefill(s, tok + n1, T - n1, got) == LC_OK;
    snprintf(what, sizeof what, "%s: rewind to %d, prefill tail: last logits", tag, n1);
    if (check(ok, "rewind + prefill")) compare_rel(what, got, ref + (size_t)(T - 1) * V, (size_t)V, TOL);
done:
    lc_infer_free(s);
    free(got);
}

static void check_model(const char *tag, const lc_model *m, const lc_lora *lora, const int32_t *tok, int T) {
    int V = m->cfg.vocab_size;
    char what[160];
    printf("%s\n", tag);
    /* base */
    float *ref = forward_logits(m, NULL, 1.0f, tok, T);
    float *got = infer_logits(m, NULL, 0, tok, T);
    snprintf(what, sizeof what, "%s base: prefill logits (%d x %d)", tag, T, V);
    if (check(ref && got, "forward and prefill ran")) compare_rel(what, got, ref, (size_t)T * V, TOL);
    if (ref) check_decode(tag, m, NULL, 0, tok, T, ref, 30, 17);
    free(got);
    free(ref);
    /* one adapter, multiplier 0.7; then the same adapter twice, 0.3 + 0.4 */
    ref = forward_logits(m, lora, 0.7f, tok, T);
    lc_infer_adapter one = {lora, 0.7f}, two[2] = {{lora, 0.3f}, {lora, 0.4f}};
    got = infer_logits(m, &one, 1, tok, T);
    snprintf(what, sizeof what, "%s LoRA x0.7: prefill logits", tag);
    if (check(ref && got, "forward and prefill ran (LoRA)")) compare_rel(what, got, ref, (size_t)T * V, TOL);
    free(got);
    got = infer_logits(m, two, 2, tok, T);
    snprintf(what, sizeof what, "%s LoRA x0.3 + same LoRA x0.4: prefill logits", tag);
    if (check(ref && got, "prefill ran (two adapters)")) compare_rel(what, got, ref, (size_t)T * V, TOL);
    free(got);
    if (ref) check_decode(tag, m, &one, 1, tok, T, ref, 1, 63);
    free(ref);
}

/* Quantise every frozen matrix of m in place (layers Q4_1, embeddings and
 * lm_head Q8_0); the model owns the new buffers. Returns 0, or -1 if a width
 * is not a multiple of 32 (then m is unchanged). */
static int quantise_model(lc_model *m) {
    if (m->fam.layer == LC_LAYER_GPT2) return -1; /* GPT-2 runs fp32 weights only */
    lc_weight *ws[7 * 64 + 2];
    int n = 0;
    ws[n++] = &m->tok_emb;
    if (!m->cfg.tie_embeddings) ws[n++] = &m->lm_head;
    LC_ASSERT(m->cfg.n_layers <= 64);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        lc_layer *L = &m->layers[l];
        lc_weight *lw[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 7; i++) ws[n++] = lw[i];
    }
    for (int i = 0; i < n; i++)
        if (ws[i]->cols % 32 || ws[i]->type != LC_DT_F32) return -1;
    for (int i = 0; i < n; i++) {
        lc_dtype t = i < 2 && (ws[i] == &m->tok_emb || ws[i] == &m->lm_head) ? LC_DT_Q8_0 : LC_DT_Q4_1;
        size_t bytes = lc_dtype_row_bytes(t, ws[i]->cols) * ws[i]->rows;
        void *q = lc_alloc(bytes);
        LC_ASSERT(q && lc_model_own(m, q, bytes, 0) == LC_OK);
        LC_ASSERT(lc_quantize(t, ws[i]->data, q, (int64_t)ws[i]->rows * ws[i]->cols) == 0);
        ws[i]->type = t;
        ws[i]->data = q;
    }
    if (m->cfg.tie_embeddings) m->lm_head = m->tok_emb;
    return 0;
}

static void check_errors(const lc_model *m) {
    lc_infer *s = NULL;
    if (lc_infer_create(&s, m, NULL, 0, 4)) {
        check(0, "create a 4-token cache");
        return;
    }
    int32_t bad[2] = {1, m->cfg.vocab_size};
    lc_status st = lc_infer_prefill(s, bad, 2, NULL);
    printf("    (message: %s)\n", lc_error_msg());
    check(st == LC_ERR_ARG && lc_infer_pos(s) == 0, "token outside the vocabulary: LC_ERR_ARG, cache unchanged");
    int32_t ok[5] = {1, 2, 3, 4, 5};
    st = lc_infer_prefill(s, ok, 5, NULL);
    printf("    (message: %s)\n", lc_error_msg());
    check(st == LC_ERR_ARG && lc_infer_pos(s) == 0, "5 tokens into a 4-token cache: LC_ERR_ARG");
    lc_infer_free(s);
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    if (argc != 2) {
        fprintf(stderr, "usage: %s <hf_model_dir | model.gguf>\n", argv[0]);
        return 2;
    }
    lc_model m;
    size_t len = strlen(argv[1]);
    int gguf = len > 5 && !strcmp(argv[1] + len - 5, ".gguf");
    if (gguf && access(argv[1], R_OK)) {
        printf("SKIP: %s not present (scripts/fetch_smollm2.sh)\n", argv[1]);
        return 77;
    }
    lc_model_config g2 = {.arch = LC_ARCH_GPT2, .vocab_size = 101, .hidden_size = 64, .intermediate_size = 256,
                          .n_layers = 2, .n_heads = 4, .n_kv_heads = 4, .head_dim = 16, .max_position = 128,
                          .tie_embeddings = 1, .bos_id = -1, .eos_id = -1, .layer_norm_eps = 1e-5f};
    lc_status lst = !strcmp(argv[1], "random-gpt2") ? lc_model_init_random(&m, &g2, 0.1f, 5)
                    : gguf                          ? lc_model_load_gguf(&m, argv[1], NULL)
                                                    : lc_model_load_hf(&m, argv[1]);
    if (lst != LC_OK) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return 1;
    }
    /* GPT-2's learned positions end at n_positions (tiny-gpt2: 64) */
    int V = m.cfg.vocab_size, T = m.cfg.max_position < T_SEQ ? m.cfg.max_position : T_SEQ;
    int32_t tok[T_SEQ];
    lc_rng rng;
    lc_rng_seed(&rng, 1234);
    for (int t = 0; t < T; t++) tok[t] = (int32_t)lc_rng_below(&rng, (uint32_t)V);
    /* An adapter on all seven projections with non-zero B. */
    lc_lora_config lcfg = lc_lora_default_config();
    lcfg.r = 4;
    lcfg.alpha = 8;
    lc_lora_targets_parse_arch("all-linear", m.cfg.arch, &lcfg.targets);
    lc_lora lora;
    if (lc_lora_init(&lora, &m, &lcfg, &rng) != LC_OK) {
        fprintf(stderr, "lc_lora_init: %s\n", lc_error_msg());
        return 1;
    }
    for (int l = 0; l < lora.n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            lc_lora_pair *p = lc_lora_get(&lora, l, (lc_lora_target)t);
            for (int i = 0; i < p->out * lcfg.r; i++) p->B[i] = 0.05f * lc_rng_normal(&rng);
        }
    int stored_f32 = m.fam.layer == LC_LAYER_GPT2 || m.layers[0].wq.type == LC_DT_F32;
    check_model(stored_f32 ? "fp32" : "as stored (quantised)", &m, &lora, tok, T);
    if (quantise_model(&m) == 0) check_model("Q4_1/Q8_0", &m, &lora, tok, T);
    else if (m.fam.layer == LC_LAYER_GPT2) printf("(GPT-2 runs fp32 weights only: quantised check skipped)\n");
    else if (stored_f32) printf("(widths not multiples of 32: quantised check skipped for this model)\n");
    check_errors(&m);
    lc_lora_free(&lora);
    lc_model_free(&m);
    return finish("test_infer");
}
