/*
 * test_checkpointing.c — gradient checkpointing changes memory, never
 * numbers: loss and every LoRA gradient must be bit-identical with and
 * without it (random GQA model with q/k/v biases, LoRA on all seven
 * projections with non-zero B and dropout 0.1, two micro-batch shapes).
 * With argument "qwen3": a random Qwen3 instead (per-head q/k norm, no
 * biases, head_dim 12 != hidden / heads, llama3 RoPE scaling); "gemma3": a
 * random Gemma 3 (sandwich norms, GeGLU, window 7 < T on every other layer).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_cpu.h"
#include "lc_lora.h"
#include "lc_model.h"
#include "lc_transformer.h"
#include "../lc_test.h"

static int run(const lc_model *m, lc_lora *lora, int ckpt, const lc_batch *b, double *loss, float *grads) {
    lc_acts *a = NULL;
    if (lc_acts_create_ex(&a, m, lora, 3, 24, ckpt)) {
        fprintf(stderr, "acts: %s\n", lc_error_msg());
        return 1;
    }
    lc_lora_zero_grad(lora);
    int64_t nt = 0;
    if (lc_forward_backward(m, lora, a, b, 1.0f / 40, 1234, loss, &nt)) {
        fprintf(stderr, "forward_backward: %s\n", lc_error_msg());
        return 1;
    }
    memcpy(grads, lora->grads, lora->n_params * sizeof(float));
    printf("  checkpointing %d: activations %.2f MB, loss %.9g\n", ckpt, lc_acts_bytes(a) / 1e6, *loss);
    lc_acts_free(a);
    return 0;
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    lc_model_config cfg = {.arch = LC_ARCH_QWEN2, .vocab_size = 101, .hidden_size = 48,
                           .intermediate_size = 80, .n_layers = 3, .n_heads = 6, .n_kv_heads = 2,
                           .head_dim = 8, .max_position = 64, .rms_eps = 1e-6f, .rope_theta = 10000.0f,
                           .tie_embeddings = 0, .attn_bias = 1, .bos_id = -1, .eos_id = -1};
    if (argc > 1 && !strcmp(argv[1], "qwen3")) {
        cfg.arch = LC_ARCH_QWEN3, cfg.qk_norm = 1, cfg.attn_bias = 0, cfg.head_dim = 12;
        cfg.rope_scaling = (lc_rope_scaling){.type = LC_ROPE_LLAMA3, .factor = 8.0f, .low_freq_factor = 1.0f,
                                             .high_freq_factor = 4.0f, .original_max_position = 16};
    }
    if (argc > 1 && !strcmp(argv[1], "gemma3")) { /* sandwich norms saved per layer: recomputed under checkpointing */
        cfg.arch = LC_ARCH_GEMMA3, cfg.qk_norm = 1, cfg.attn_bias = 0, cfg.head_dim = 12, cfg.tie_embeddings = 1;
        cfg.sliding_window = 7, cfg.sliding_pattern = 2, cfg.rope_local_theta = 500.0f;
        cfg.query_pre_attn_scalar = 10.0f;
    }
    lc_model m;
    lc_lora lora;
    lc_rng rng;
    lc_rng_seed(&rng, 7);
    lc_lora_config lc = lc_lora_default_config();
    lc.r = 4;
    lc.targets = (1u << LC_T_COUNT) - 1;
    lc.dropout = 0.1f;
    if (lc_model_init_random(&m, &cfg, 0.2f, 3) || lc_lora_init(&lora, &m, &lc, &rng)) {
        fprintf(stderr, "init: %s\n", lc_error_msg());
        return 1;
    }
    for (size_t i = 0; i < lora.n_params; i++) lora.params[i] = 0.1f * lc_rng_normal(&rng);
    int shapes[2][2] = {{3, 24}, {2, 17}};
    for (int s = 0; s < 2; s++) {
        int B = shapes[s][0], T = shapes[s][1];
        int32_t tok[3 * 24], tgt[3 * 24];
        for (int i = 0; i < B * T; i++) tok[i] = (int32_t)lc_rng_below(&rng, cfg.vocab_size);
        for (int i = 0; i < B * T; i++) tgt[i] = (i % T < 3 || i % T == T - 1) ? -1 : tok[i + 1];
        lc_batch b = {.tokens = tok, .targets = tgt, .B = B, .T = T};
        float *g0 = malloc(lora.n_params * sizeof(float)), *g1 = malloc(lora.n_params * sizeof(float));
        double l0, l1;
        printf("batch (%d, %d):\n", B, T);
        if (run(&m, &lora, 0, &b, &l0, g0) || run(&m, &lora, 1, &b, &l1, g1)) return 1;
        size_t ndiff = 0;
        double maxg = 0;
        for (size_t i = 0; i < lora.n_params; i++) {
            if (memcmp(&g0[i], &g1[i], sizeof(float))) ndiff++;
            if (fabs(g0[i]) > maxg) maxg = fabs(g0[i]);
        }
        printf("  loss equal: %s; gradients differing in bits: %zu of %zu (max|g| %.3g)\n",
               l0 == l1 ? "yes" : "NO", ndiff, lora.n_params, maxg);
        CHECK(l0 == l1 && ndiff == 0 && maxg > 0, "batch (%d, %d): checkpointing changed the loss or %zu gradients", B, T, ndiff);
        free(g0);
        free(g1);
    }
    lc_lora_free(&lora);
    lc_model_free(&m);
    return lc_test_finish("test_checkpointing");
}
