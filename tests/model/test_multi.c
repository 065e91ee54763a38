/*
 * test_multi.c — several adapters in one pass (lc_forward_backward_multi,
 * lc_forward_multi) give each adapter exactly the numbers it gets alone:
 * loss and every LoRA gradient bit-identical, for K = 3 adapters that differ
 * in rank, targets, rsLoRA, dropout, DoRA (with and without dropout), seed and gradient scale, each on its own
 * micro-batch; with fp32, Q8_0 and Q4_1 frozen weights, with and without
 * gradient checkpointing, and with activations larger than the batches.
 * Forward-only losses (with scale multipliers and a base-only trial) too.
 * The same with precision bf16 (emulated path: bf16 weights, Q4_1 tiles).
 * Bad calls (batches of different shapes, too many rows) are refused.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_cpu.h"
#include "lc_lora.h"
#include "lc_model.h"
#include "lc_quant.h"
#include "lc_transformer.h"
#include "../lc_test.h"

#define K 3
#define B 2
#define T 20

/* Quantise every projection of m to type t in place (buffers kept in bufs). */
static void quantize_model(lc_model *m, lc_dtype t, void **bufs) {
    int n = 0;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        lc_layer *w = &m->layers[l];
        lc_weight *ws[7] = {&w->wq, &w->wk, &w->wv, &w->wo, &w->w_gate, &w->w_up, &w->w_down};
        for (int i = 0; i < 7; i++) {
            lc_weight *W = ws[i];
            size_t rb = lc_dtype_row_bytes(t, W->cols);
            uint8_t *q = malloc(rb * W->rows);
            for (int r = 0; r < W->rows; r++)
                lc_quantize(t, (const float *)W->data + (size_t)r * W->cols, q + r * rb, W->cols);
            bufs[n++] = q;
            W->data = q;
            W->type = t;
        }
    }
}

/* count of bit-differing floats and the largest absolute difference */
static size_t bit_diff(const float *a, const float *b, size_t n, double *maxd) {
    size_t d = 0;
    *maxd = 0;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], sizeof(float))) d++;
        double e = fabs((double)a[i] - b[i]);
        if (e > *maxd) *maxd = e;
    }
    return d;
}

/* The frozen-matmul path of the activations run_case makes (lc_cpu.h). */
static lc_matmul_path g_path = LC_MATMUL_FP32;

static lc_status acts_multi(lc_acts **a, const lc_model *m, const lc_lora *const *l, int k, int b, int t, int ckpt) {
    lc_status st = lc_acts_create_multi(a, m, l, k, b, t, ckpt);
    return st ? st : lc_acts_set_matmul_path(*a, m, g_path);
}

static void run_case(const lc_model *m, lc_lora *loras, int ckpt, const char *name) {
    static int32_t tok[K][B * T], tgt[K][B * T];
    lc_rng rng;
    lc_rng_seed(&rng, 99);
    lc_batch batches[K];
    for (int k = 0; k < K; k++) {
        for (int i = 0; i < B * T; i++) tok[k][i] = (int32_t)lc_rng_below(&rng, m->cfg.vocab_size);
        for (int i = 0; i < B * T; i++) /* prompt of k+2 tokens without loss, last position none */
            tgt[k][i] = (i % T < k + 2 || i % T == T - 1) ? -1 : tok[k][i + 1];
        batches[k] = (lc_batch){tok[k], tgt[k], B, T, NULL, 0, NULL};
    }
    float scales[K] = {1.0f / 30, 1.0f / 50, 0.25f};
    uint64_t seeds[K] = {11, 22, 33};
    printf("%s, checkpointing %d, frozen matmuls %s:\n", name, ckpt, lc_matmul_path_name(g_path));

    /* alone */
    double loss1[K];
    int64_t nt1[K];
    float *g1[K];
    for (int k = 0; k < K; k++) {
        lc_acts *a = NULL;
        const lc_lora *one = &loras[k];
        if (acts_multi(&a, m, &one, 1, B, T, ckpt) || (lc_lora_zero_grad(&loras[k]), 0) ||
            lc_forward_backward(m, &loras[k], a, &batches[k], scales[k], seeds[k], &loss1[k], &nt1[k])) {
            printf("  alone %d: %s\n", k, lc_error_msg());
            g_fail++;
            lc_acts_free(a);
            return;
        }
        g1[k] = malloc(loras[k].n_params * sizeof(float));
        memcpy(g1[k], loras[k].grads, loras[k].n_params * sizeof(float));
        lc_acts_free(a);
    }
    /* together, in activations made for larger batches (B+1, T+4) */
    lc_acts *a = NULL;
    const lc_lora *cl[K] = {&loras[0], &loras[1], &loras[2]};
    lc_lora *ml[K] = {&loras[0], &loras[1], &loras[2]};
    double lossK[K];
    int64_t ntK[K];
    if (acts_multi(&a, m, cl, K, B + 1, T + 4, ckpt)) {
        printf("  acts: %s\n", lc_error_msg());
        g_fail++;
        goto out;
    }
    for (int k = 0; k < K; k++) lc_lora_zero_grad(&loras[k]);
    if (lc_forward_backward_multi(m, ml, K, a, batches, scales, seeds, lossK, ntK)) {
        printf("  multi: %s\n", lc_error_msg());
        g_fail++;
        goto out;
    }
    for (int k = 0; k < K; k++) {
        double maxd, maxg = 0;
        size_t nd = bit_diff(g1[k], loras[k].grads, loras[k].n_params, &maxd);
        for (size_t i = 0; i < loras[k].n_params; i++) maxg = fmax(maxg, fabs(g1[k][i]));
        printf("  trial %d (r %d): loss %.9g alone, %.9g together (diff %.3g); gradients differing in bits %zu of "
               "%zu, max abs diff %.3g (max|g| %.3g)\n",
               k, loras[k].cfg.r, loss1[k], lossK[k], lossK[k] - loss1[k], nd, loras[k].n_params, maxd, maxg);
        CHECK(memcmp(&loss1[k], &lossK[k], sizeof(double)) == 0, "loss bit-identical");
        CHECK(nd == 0, "gradients bit-identical");
        CHECK(maxg > 0, "gradients non-zero");
        CHECK(nt1[k] == ntK[k], "target counts equal");
    }
    /* forward only: multipliers, and a base-only trial */
    {
        float mults[K] = {0.5f, 1.0f, 2.0f};
        const lc_lora *fl[K] = {&loras[0], NULL, &loras[2]};
        double lf[K], l1;
        if (lc_forward_multi(m, fl, mults, K, a, batches, lf, NULL)) {
            printf("  forward_multi: %s\n", lc_error_msg());
            g_fail++;
            goto out;
        }
        for (int k = 0; k < K; k++) {
            lc_acts *a1 = NULL;
            if (acts_multi(&a1, m, &fl[k], 1, B, T, 0) ||
                lc_forward(m, fl[k], mults[k], a1, &batches[k], &l1, NULL, NULL)) {
                printf("  forward alone: %s\n", lc_error_msg());
                g_fail++;
                lc_acts_free(a1);
                goto out;
            }
            lc_acts_free(a1);
            printf("  forward trial %d (%s, mult %g): loss %.9g alone, %.9g together\n", k,
                   fl[k] ? "adapter" : "base", mults[k], l1, lf[k]);
            CHECK(memcmp(&l1, &lf[k], sizeof(double)) == 0, "forward loss bit-identical");
        }
    }
out:
    lc_acts_free(a);
    for (int k = 0; k < K; k++) free(g1[k]);
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    (void)argc;
    lc_model_config cfg = {.arch = LC_ARCH_QWEN2, .vocab_size = 101, .hidden_size = 64,
                           .intermediate_size = 96, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                           .head_dim = 16, .max_position = 64, .rms_eps = 1e-6f, .rope_theta = 10000.0f,
                           .tie_embeddings = 0, .attn_bias = 1, .bos_id = -1, .eos_id = -1};
    lc_model m;
    if (lc_model_init_random(&m, &cfg, 0.2f, 5)) {
        fprintf(stderr, "model: %s\n", lc_error_msg());
        return 1;
    }
    /* three different adapters */
    lc_lora loras[K];
    lc_lora_config lc[K];
    for (int k = 0; k < K; k++) lc[k] = lc_lora_default_config();
    lc[0].r = 4, lc[0].targets = (1u << LC_T_COUNT) - 1, lc[0].dropout = 0.1f, lc[0].use_dora = 1;
    lc[1].r = 8, lc[1].targets = (1u << LC_T_Q) | (1u << LC_T_V), lc[1].rslora = 1, lc[1].alpha = 8, lc[1].use_dora = 1;
    lc[2].r = 2, lc[2].targets = ((1u << LC_T_COUNT) - 1) & ~(1u << LC_T_DOWN), lc[2].dropout = 0.05f;
    lc_rng rng;
    lc_rng_seed(&rng, 3);
    for (int k = 0; k < K; k++) {
        if (lc_lora_init(&loras[k], &m, &lc[k], &rng)) {
            fprintf(stderr, "lora: %s\n", lc_error_msg());
            return 1;
        }
        for (size_t i = 0; i < loras[k].n_params; i++) loras[k].params[i] = 0.1f * lc_rng_normal(&rng);
    }
    run_case(&m, loras, 0, "fp32 weights");
    run_case(&m, loras, 1, "fp32 weights");

    /* refused calls */
    {
        lc_acts *a = NULL;
        const lc_lora *cl[K] = {&loras[0], &loras[1], &loras[2]};
        lc_lora *ml[K] = {&loras[0], &loras[1], &loras[2]};
        int32_t tok[B * T] = {0}, tgt[B * T];
        for (int i = 0; i < B * T; i++) tgt[i] = 1;
        lc_batch bad[K] = {{tok, tgt, B, T, NULL, 0, NULL}, {tok, tgt, B, T - 1, NULL, 0, NULL}, {tok, tgt, B, T, NULL, 0, NULL}};
        float sc[K] = {1, 1, 1};
        uint64_t sd[K] = {1, 2, 3};
        double ls[K];
        if (lc_acts_create_multi(&a, &m, cl, K, B, T, 0)) return 1;
        lc_status st = lc_forward_backward_multi(&m, ml, K, a, bad, sc, sd, ls, NULL);
        printf("batches of two shapes: %s\n", st ? lc_error_msg() : "accepted");
        CHECK(st == LC_ERR_ARG && strstr(lc_error_msg(), "one shape"), "shape mismatch refused");
        lc_batch big[K] = {{tok, tgt, B, T, NULL, 0, NULL}, {tok, tgt, B, T, NULL, 0, NULL}, {tok, tgt, B, T, NULL, 0, NULL}};
        lc_acts_free(a);
        if (lc_acts_create_multi(&a, &m, cl, 2, B, T, 0)) return 1;
        st = lc_forward_backward_multi(&m, ml, K, a, big, sc, sd, ls, NULL);
        printf("3 batches in activations for 2: %s\n", st ? lc_error_msg() : "accepted");
        CHECK(st == LC_ERR_ARG && strstr(lc_error_msg(), "capacity"), "capacity refused");
        lc_acts_free(a);
    }

    lc_dtype qt[2] = {LC_DT_Q8_0, LC_DT_Q4_1};
    const char *qn[2] = {"Q8_0 weights", "Q4_1 weights"};
    for (int q = 0; q < 2; q++) {
        lc_model mq;
        void *bufs[7 * 2];
        if (lc_model_init_random(&mq, &cfg, 0.2f, 5)) return 1;
        quantize_model(&mq, qt[q], bufs);
        run_case(&mq, loras, q, qn[q]);
        for (int i = 0; i < 7 * cfg.n_layers; i++) free(bufs[i]);
        lc_model_free(&mq);
    }
    /* precision bf16 (emulated: every CPU has it): bf16 weights, and Q4_1
     * tiles rounded to bf16 */
    g_path = LC_MATMUL_BF16_EMULATED;
    if (lc_model_frozen_to_bf16(&m)) return 1;
    CHECK(m.layers[0].wq.type == LC_DT_BF16, "projection weights stored as bf16");
    run_case(&m, loras, 0, "bf16 weights");
    run_case(&m, loras, 1, "bf16 weights");
    {
        lc_model mq;
        void *bufs[7 * 2];
        if (lc_model_init_random(&mq, &cfg, 0.2f, 5)) return 1;
        quantize_model(&mq, LC_DT_Q4_1, bufs);
        if (lc_model_frozen_to_bf16(&mq)) return 1;
        CHECK(mq.layers[0].wq.type == LC_DT_Q4_1, "quantised weights stay quantised");
        run_case(&mq, loras, 1, "Q4_1 weights");
        for (int i = 0; i < 7 * cfg.n_layers; i++) free(bufs[i]);
        lc_model_free(&mq);
    }
    for (int k = 0; k < K; k++) lc_lora_free(&loras[k]);
    lc_model_free(&m);
    printf("%s\n", g_fail ? "FAIL" : "PASS");
    return lc_test_finish("test_multi");
}
