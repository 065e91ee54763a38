/*
 * test_neftune.c — NEFTune noise (lc_neftune_add, neftune_alpha) as
 * transformers' neftune_post_forward_hook defines it: x += U(-m, m) with
 * m = alpha / sqrt(T * C), training passes only.
 *
 *  1. statistics of the noise on zeros, n = B*T*C draws: every value in
 *     [-m, m]; mean within 5 sigma of 0 (sigma = m / sqrt(3 n)); variance
 *     within 5 sigma of m^2 / 3 (the sample variance's relative sigma is
 *     sqrt(0.8 / n) for a uniform); max |x| >= 0.99 m (P(fail) = 0.99^n);
 *     the same seed gives the same noise bit for bit, another seed other noise;
 *     a padding-free stream draws each token's padded-layout noise;
 *  2. eval is unaffected: lc_forward's logits with alpha 5 are bit-identical
 *     to alpha 0; training is affected: lc_forward_backward's loss differs;
 *  3. the scale: alpha 2 gives exactly twice alpha 1's noise, and 4x the
 *     row length T half of it (m = alpha / sqrt(T C); the draws depend on
 *     neither: factors of 2 are exact in fp32).
 * (padded = padding-free with NEFTune on: test_padding_free; resume
 * bit-identical with NEFTune: train_resume's neftune variant.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_lora.h"
#include "lc_model.h"
#include "lc_transformer.h"
#include "../lc_test.h"

static void stats(void) {
    enum { B = 3, T = 40, C = 64 };
    size_t n = (size_t)B * T * C;
    float *x = calloc(n, sizeof *x), *y = calloc(n, sizeof *y), *z = calloc(n, sizeof *z);
    float alpha = 5.0f, m = alpha / sqrtf((float)T * C);
    lc_neftune_add(x, B * T, C, T, NULL, 1234, alpha);
    double s = 0, s2 = 0, mx = 0;
    int in_range = 1;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
        if (fabs(x[i]) > mx) mx = fabs(x[i]);
        in_range &= fabsf(x[i]) <= m;
    }
    double mean = s / n, var = s2 / n - mean * mean, sig_mean = m / sqrt(3.0 * n), want_var = (double)m * m / 3;
    printf("NEFTune noise, alpha %g, T %d, C %d: m = %.6g; mean %.3g (5 sigma %.3g), var / (m^2/3) = %.5f "
           "(5 sigma %.4f), max %.6g\n", alpha, T, C, m, mean, 5 * sig_mean, var / want_var, 5 * sqrt(0.8 / n), mx);
    CHECK(in_range, "every value within [-m, m]");
    CHECK(fabs(mean) <= 5 * sig_mean, "mean 0");
    CHECK(fabs(var / want_var - 1) <= 5 * sqrt(0.8 / n), "variance m^2 / 3");
    CHECK(mx >= 0.99 * m, "reaches +-m");
    lc_neftune_add(y, B * T, C, T, NULL, 1234, alpha);
    CHECK(!memcmp(x, y, n * sizeof *x), "same seed: same noise");
    lc_neftune_add(z, B * T, C, T, NULL, 1235, alpha);
    CHECK(memcmp(x, z, n * sizeof *x) != 0, "another seed: other noise");
    /* a stream of rows 0 (len 5) and 2 (len 40): each token draws its padded slot's noise */
    int32_t slot[45];
    for (int i = 0; i < 5; i++) slot[i] = i;
    for (int i = 0; i < 40; i++) slot[5 + i] = 2 * T + i;
    float *f = calloc((size_t)45 * C, sizeof *f);
    lc_neftune_add(f, 45, C, T, slot, 1234, alpha);
    int same = !memcmp(f, x, (size_t)5 * C * sizeof *f) &&
               !memcmp(f + (size_t)5 * C, x + (size_t)2 * T * C, (size_t)40 * C * sizeof *f);
    CHECK(same, "padding-free tokens draw their padded slot's noise");
    /* scale: alpha x2 -> noise x2 exactly; T x4 -> noise / 2 exactly */
    float *g = calloc(n, sizeof *g), *h = calloc(n, sizeof *h);
    lc_neftune_add(g, B * T, C, T, NULL, 1234, 2 * alpha);
    lc_neftune_add(h, B * T, C, 4 * T, NULL, 1234, alpha);
    int dbl = 1, half = 1;
    for (size_t i = 0; i < n; i++) dbl &= g[i] == 2 * x[i], half &= h[i] == 0.5f * x[i];
    CHECK(dbl, "alpha x2: noise x2 (bit-exact)");
    CHECK(half, "row length T x4: noise / 2 (bit-exact)");
    free(g);
    free(h);
    free(f);
    free(x);
    free(y);
    free(z);
}

static double train_loss(const lc_model *m, lc_lora *lora, lc_acts *a, const lc_batch *b, float alpha) {
    double loss = 0;
    lora->cfg.neftune_alpha = alpha;
    lc_lora_zero_grad(lora);
    if (lc_forward_backward(m, lora, a, b, 1.0f, 77, &loss, NULL)) {
        printf("  forward_backward: %s\n", lc_error_msg());
        g_fail++;
    }
    return loss;
}

static void model_checks(void) {
    lc_model_config cfg = {.arch = LC_ARCH_QWEN2, .vocab_size = 101, .hidden_size = 48, .intermediate_size = 80,
                           .n_layers = 2, .n_heads = 6, .n_kv_heads = 2, .head_dim = 8, .max_position = 64,
                           .rms_eps = 1e-6f, .rope_theta = 10000.0f, .bos_id = -1, .eos_id = -1};
    enum { B = 2, T = 16 };
    lc_model m;
    lc_lora lora;
    lc_rng rng;
    lc_rng_seed(&rng, 5);
    lc_lora_config lc = lc_lora_default_config();
    lc.r = 4;
    lc.targets = (1u << LC_T_COUNT) - 1;
    lc.targets &= lc_lora_arch_targets(LC_ARCH_QWEN2);
    if (lc_model_init_random(&m, &cfg, 0.2f, 3) || lc_lora_init(&lora, &m, &lc, &rng)) {
        printf("init: %s\n", lc_error_msg());
        g_fail++;
        return;
    }
    for (size_t i = 0; i < lora.n_params; i++) lora.params[i] = 0.1f * lc_rng_normal(&rng);
    int32_t tok[B * T], tgt[B * T];
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)lc_rng_below(&rng, 101);
    for (int i = 0; i < B * T; i++) tgt[i] = (i % T) + 1 < T ? tok[i + 1] : -1;
    lc_batch b = {.tokens = tok, .targets = tgt, .B = B, .T = T};
    lc_acts *a = NULL;
    float *l0 = malloc((size_t)B * T * 101 * sizeof(float)), *l1 = malloc((size_t)B * T * 101 * sizeof(float));
    if (lc_acts_create(&a, &m, &lora, B, T)) {
        printf("acts: %s\n", lc_error_msg());
        g_fail++;
        goto done;
    }
    lora.cfg.neftune_alpha = 0;
    lc_status s0 = lc_forward(&m, &lora, 1.0f, a, &b, NULL, NULL, l0);
    lora.cfg.neftune_alpha = 5;
    lc_status s1 = lc_forward(&m, &lora, 1.0f, a, &b, NULL, NULL, l1);
    CHECK(!s0 && !s1 && !memcmp(l0, l1, (size_t)B * T * 101 * sizeof(float)), "eval logits unaffected (bit-identical)");
    double base = train_loss(&m, &lora, a, &b, 0), a5 = train_loss(&m, &lora, a, &b, 5.0f),
           again = train_loss(&m, &lora, a, &b, 5.0f), back = train_loss(&m, &lora, a, &b, 0);
    printf("training loss: alpha 0 %.9g, alpha 5 %.9g\n", base, a5);
    CHECK(a5 != base, "training loss changes with NEFTune");
    CHECK(a5 == again && back == base, "training pass deterministic (same seed)");
done:
    free(l0);
    free(l1);
    lc_acts_free(a);
    lc_lora_free(&lora);
    lc_model_free(&m);
}

int main(void) {
    stats();
    model_checks();
    printf("%s\n", g_fail ? "FAIL" : "PASS");
    return lc_test_finish("test_neftune");
}
