/*
 * test_quant_train.c — the training path on quantised frozen weights: for
 * each of Q5_0, Q5_1, Q2_K, Q3_K, Q4_K and Q6_K, a random Llama-style model
 * whose seven projections per layer are random blocks of that type (random
 * bytes, finite f16 scales) is trained one step (lc_forward_backward, LoRA on
 * all seven projections) and evaluated (lc_forward logits), and so is the
 * same model with those weights dequantised once to fp32
 * (lc_model_dequantize_all).
 *
 * Tolerance: zero. On the fp32 matmul path every frozen matmul dequantises a
 * tile of whole rows and hands it to the same sgemm calls (same shapes,
 * same partition) as an fp32 weight's rows (docs/architecture.md, "Quantised
 * bases"), and lc_dequantize_rows is lc_dequantize, which test_quant checks
 * bit-equal to gguf-python. So the quantised model must give the very same
 * floats: loss, every logit and every LoRA gradient compared bit for bit. A
 * kept-quantised weight is also checked to still be quantised after the step
 * (no silent fp32 copy).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_cpu.h"
#include "lc_lora.h"
#include "lc_model.h"
#include "lc_quant.h"
#include "lc_transformer.h"
#include "../lc_test.h"

#define B 2
#define T 12

/* Byte offsets of the f16 fields (scales, mins) in a block of t, from
 * ggml's block structs; n_out receives their count. */
static const int *f16_fields(lc_dtype t, int *n_out) {
    static const int q5_0[] = {0}, two[] = {0, 2}, q2_k[] = {80, 82}, q3_k[] = {108}, q6_k[] = {208};
    switch (t) {
    case LC_DT_Q5_0: *n_out = 1; return q5_0;
    case LC_DT_Q5_1:
    case LC_DT_Q4_K: *n_out = 2; return two;
    case LC_DT_Q2_K: *n_out = 2; return q2_k;
    case LC_DT_Q3_K: *n_out = 1; return q3_k;
    case LC_DT_Q6_K: *n_out = 1; return q6_k;
    default: *n_out = 0; return NULL;
    }
}

/* Replace every projection of m by random blocks of type t (owned by m):
 * random bytes, then each f16 field a finite half of N(0, sd^2), sd chosen
 * so that the weights are O(0.05) like a trained model's. */
static void randomise_quantised(lc_model *m, lc_dtype t, lc_rng *rng) {
    int nf;
    const int *fields = f16_fields(t, &nf);
    const size_t bb = lc_dtype_block_bytes(t);
    const float sd = t == LC_DT_Q2_K || t == LC_DT_Q3_K ? 0.01f : 0.003f;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        lc_layer *L = &m->layers[l];
        lc_weight *ws[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 7; i++) {
            lc_weight *w = ws[i];
            LC_ASSERT(w->cols % lc_dtype_block_elems(t) == 0);
            size_t bytes = lc_dtype_row_bytes(t, w->cols) * (size_t)w->rows;
            uint8_t *q = lc_alloc(bytes);
            LC_ASSERT(q && lc_model_own(m, q, bytes, 0) == LC_OK);
            for (size_t k = 0; k < bytes; k++) q[k] = (uint8_t)lc_rng_u64(rng);
            for (size_t b = 0; b < bytes / bb; b++)
                for (int f = 0; f < nf; f++) {
                    uint16_t h = lc_f32_to_f16(sd * lc_rng_normal(rng));
                    q[b * bb + fields[f]] = (uint8_t)(h & 0xff);
                    q[b * bb + fields[f] + 1] = (uint8_t)(h >> 8);
                }
            w->type = t;
            w->data = q;
        }
    }
}

/* One training step and one forward of lora on m: loss, logits (B*T, V) and
 * the LoRA gradients (lora->n_params) into the outputs. */
static void run(const lc_model *m, lc_lora *lora, const int32_t *tok, const int32_t *tgt, double *loss, float *logits,
                float *grads) {
    lc_acts *a = NULL;
    lc_batch b = {tok, tgt, B, T, NULL, 0, NULL};
    int64_t nt = 0;
    REQUIRE_OK(lc_acts_create(&a, m, lora, B, T));
    memset(lora->grads, 0, lora->n_params * sizeof(float));
    REQUIRE_OK(lc_forward_backward(m, lora, a, &b, 1.0f / (B * T), 7, loss, &nt));
    memcpy(grads, lora->grads, lora->n_params * sizeof(float));
    REQUIRE_OK(lc_forward(m, lora, 1.0f, a, &b, NULL, NULL, logits));
    lc_acts_free(a);
}

static size_t bit_diffs(const void *a, const void *b, size_t n) {
    size_t d = 0;
    for (size_t i = 0; i < n; i++) d += memcmp((const float *)a + i, (const float *)b + i, sizeof(float)) != 0;
    return d;
}

static void check_type(const lc_model_config *cfg, lc_dtype t) {
    lc_model mq, md;
    lc_rng rng;
    lc_rng_seed(&rng, 11 + (uint64_t)t);
    REQUIRE_OK(lc_model_init_random(&mq, cfg, 0.05f, 5));
    REQUIRE_OK(lc_model_init_random(&md, cfg, 0.05f, 5));
    randomise_quantised(&mq, t, &rng);
    for (int l = 0; l < cfg->n_layers; l++) { /* md: the same blocks (mq owns them), then dequantised */
        lc_layer *q = &mq.layers[l], *d = &md.layers[l];
        d->wq = q->wq, d->wk = q->wk, d->wv = q->wv, d->wo = q->wo;
        d->w_gate = q->w_gate, d->w_up = q->w_up, d->w_down = q->w_down;
    }
    REQUIRE_OK(lc_model_dequantize_all(&md));
    CHECK(md.layers[0].wq.type == LC_DT_F32 && mq.layers[0].wq.type == t, "%s: types", lc_dtype_name(t));

    lc_lora_config lcfg = lc_lora_default_config();
    lcfg.r = 4;
    lcfg.alpha = 8;
    lcfg.targets = (1u << LC_T_COUNT) - 1;
    lc_lora lora;
    REQUIRE_OK(lc_lora_init(&lora, &mq, &lcfg, &rng));
    for (size_t i = 0; i < lora.n_params; i++) lora.params[i] = 0.05f * lc_rng_normal(&rng);
    int32_t tok[B * T], tgt[B * T];
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)lc_rng_below(&rng, (uint32_t)cfg->vocab_size);
    for (int i = 0; i < B * T; i++) tgt[i] = i % 5 == 0 ? -1 : (int32_t)lc_rng_below(&rng, (uint32_t)cfg->vocab_size);

    size_t nl = (size_t)B * T * cfg->vocab_size;
    float *lq = malloc(nl * sizeof(float)), *ld = malloc(nl * sizeof(float));
    float *gq = malloc(lora.n_params * sizeof(float)), *gd = malloc(lora.n_params * sizeof(float));
    double loss_q = 0, loss_d = 0;
    run(&mq, &lora, tok, tgt, &loss_q, lq, gq);
    run(&md, &lora, tok, tgt, &loss_d, ld, gd);
    size_t dl = bit_diffs(lq, ld, nl), dg = bit_diffs(gq, gd, lora.n_params);
    double gmax = 0;
    for (size_t i = 0; i < lora.n_params; i++) gmax = fmax(gmax, fabs(gq[i]));
    printf("%-5s loss %.9g vs %.9g   logits differing %zu/%zu   LoRA grads differing %zu/%zu (max|g| %.3g)\n",
           lc_dtype_name(t), loss_q, loss_d, dl, nl, dg, lora.n_params, gmax);
    CHECK(loss_q == loss_d && isfinite(loss_q), "%s: loss on quantised weights differs from dequantised fp32",
          lc_dtype_name(t));
    CHECK(dl == 0, "%s: %zu logits differ", lc_dtype_name(t), dl);
    CHECK(dg == 0 && gmax > 0, "%s: %zu LoRA gradients differ (or all zero)", lc_dtype_name(t), dg);
    CHECK(mq.layers[1].w_down.type == t, "%s: weight kept quantised", lc_dtype_name(t));
    free(lq), free(ld), free(gq), free(gd);
    lc_lora_free(&lora);
    lc_model_free(&md);
    lc_model_free(&mq);
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    (void)argc;
    /* every projection's input width (256 or 512) a multiple of the K-quants' 256 */
    lc_model_config cfg = {.arch = LC_ARCH_LLAMA,
                           .vocab_size = 97,
                           .hidden_size = 256,
                           .intermediate_size = 512,
                           .n_layers = 2,
                           .n_heads = 4,
                           .n_kv_heads = 2,
                           .head_dim = 64,
                           .max_position = 32,
                           .rms_eps = 1e-6f,
                           .rope_theta = 10000.0f,
                           .tie_embeddings = 0,
                           .attn_bias = 0,
                           .bos_id = -1,
                           .eos_id = -1};
    const lc_dtype types[] = {LC_DT_Q5_0, LC_DT_Q5_1, LC_DT_Q2_K, LC_DT_Q3_K, LC_DT_Q4_K, LC_DT_Q6_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) check_type(&cfg, types[i]);
    return lc_test_finish("test_quant_train");
}
