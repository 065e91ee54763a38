/*
 * test_generate.c — generation on stories260K (HF layout) with lc_infer_generate.
 *
 * usage: test_generate <stories260K-hf dir> <tiny-qwen2 dir> <out dir>
 *
 *   1. greedy, from BOS (template none), 40 tokens: the decoded text equals the
 *      golden string below exactly (llama2.c's reference run begins "Once upon
 *      a time, there was a little girl named Lily."), and every generated
 *      token is the argmax of lc_forward's logits over the whole sequence;
 *   2. running the same prompt again on the same cache reuses the cached
 *      prefix (only the last prompt token is recomputed) and gives the same text;
 *   3. seeded sampling (temperature 0.8, top-k 40, top-p 0.9, penalty 1.1):
 *      the same seed twice gives the same text, another seed a different one;
 *   4. adapters on disk: an adapter saved for stories260K loads and changes the
 *      output (multiplier 0 gives the base text back); one saved for
 *      tiny-qwen2 is refused (LC_ERR_MISMATCH). Both files stay in <out dir>
 *      for the CLI tests (stories_adapter.h5, qwen_adapter.h5).
 */
#include <stdlib.h>
#include <string.h>

#include "lc_cpu.h"
#include "infer_test.h"
#include "lc_adapter.h"
#include "lc_base.h"
#include "lc_loader.h"
#include "lc_infer.h"
#include "lc_transformer.h"

#define N_GEN 40

static const char *GOLDEN =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, "
    "she saw a big, r";

/* Generate from prompt with a fresh sampler; returns the decoded text (malloc'd). */
static char *generate(lc_base *b, lc_infer *s, const lc_sample_params *sp, uint64_t seed, const int32_t *prompt,
                      int n_prompt, int32_t *ids, lc_gen_stats *st) {
    lc_sampler *smp = NULL;
    int32_t eos = lc_tokenizer_eos_id(b->tok);
    if (lc_sampler_create(&smp, b->model.cfg.vocab_size, sp, seed) ||
        lc_infer_generate(s, smp, prompt, n_prompt, N_GEN, &eos, 1, NULL, NULL, ids, st)) {
        fprintf(stderr, "generate: %s\n", lc_error_msg());
        lc_sampler_free(smp);
        return NULL;
    }
    lc_sampler_free(smp);
    return lc_tokenizer_decode(b->tok, ids, st->n_gen, 1);
}

/* Every generated token must be the argmax of lc_forward at its position. */
static void check_argmax(const lc_model *m, const int32_t *prompt, int n_prompt, const int32_t *gen, int n_gen) {
    int T = n_prompt + n_gen - 1, V = m->cfg.vocab_size;
    int32_t *tok = malloc((size_t)T * sizeof *tok);
    float *logits = malloc((size_t)T * V * sizeof *logits);
    lc_acts *a = NULL;
    memcpy(tok, prompt, (size_t)n_prompt * sizeof *tok);
    memcpy(tok + n_prompt, gen, (size_t)(n_gen - 1) * sizeof *tok);
    lc_batch batch = {.tokens = tok, .targets = NULL, .B = 1, .T = T};
    int ok = lc_acts_create(&a, m, NULL, 1, T) == LC_OK &&
             lc_forward(m, NULL, 1.0f, a, &batch, NULL, NULL, logits) == LC_OK;
    for (int i = 0; ok && i < n_gen; i++) {
        const float *row = logits + (size_t)(n_prompt - 1 + i) * V;
        ok = lc_sample_argmax(row, V) == gen[i];
    }
    check(ok, "each greedy token = argmax of lc_forward's logits");
    lc_acts_free(a);
    free(tok);
    free(logits);
}

/* A random adapter (all targets, B != 0) for m, saved to path. */
static int save_adapter(const lc_model *m, const char *path, uint64_t seed) {
    lc_lora_config cfg = lc_lora_default_config();
    cfg.r = 4;
    lc_lora_targets_parse("all-linear", &cfg.targets);
    lc_rng rng;
    lc_rng_seed(&rng, seed);
    lc_lora l;
    if (lc_lora_init(&l, m, &cfg, &rng)) return -1;
    for (int i = 0; i < l.n_layers; i++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            lc_lora_pair *p = lc_lora_get(&l, i, (lc_lora_target)t);
            for (int j = 0; j < p->out * cfg.r; j++) p->B[j] = 0.2f * lc_rng_normal(&rng);
        }
    lc_status st = lc_adapter_save(path, &l, m, "none", NULL, NULL);
    lc_lora_free(&l);
    return st ? -1 : 0;
}

static void check_adapters(lc_base *b, lc_infer *base_inf, const char *qwen_dir, const char *out_dir,
                           const int32_t *prompt, int n_prompt) {
    char good[1200], other[1200];
    snprintf(good, sizeof good, "%s/stories_adapter.h5", out_dir);
    snprintf(other, sizeof other, "%s/qwen_adapter.h5", out_dir);
    lc_model q;
    int saved = save_adapter(&b->model, good, 11) == 0 && lc_model_load_hf(&q, qwen_dir) == LC_OK;
    if (saved) {
        saved = save_adapter(&q, other, 12) == 0;
        lc_model_free(&q);
    }
    if (!check(saved, "adapters saved")) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return;
    }
    lc_lora l, l2;
    lc_adapter_info info;
    if (!check(lc_adapter_load(good, &b->model, &l, NULL, &info, 0) == LC_OK, "adapter for this base loads")) return;
    lc_sample_params greedy = lc_sample_default_params();
    lc_gen_stats st;
    int32_t ids[N_GEN];
    char *base = generate(b, base_inf, &greedy, 0, prompt, n_prompt, ids, &st);
    char *with = NULL, *zero = NULL;
    for (int k = 0; k < 2; k++) {
        lc_infer_adapter ad = {&l, k ? 1.0f : 0.0f};
        lc_infer *s = NULL;
        if (lc_infer_create(&s, &b->model, &ad, 1, 256) == LC_OK) {
            char *t = generate(b, s, &greedy, 0, prompt, n_prompt, ids, &st);
            if (k) with = t;
            else zero = t;
        }
        lc_infer_free(s);
    }
    printf("  with adapter: \"%s\"\n", with ? with : "(null)");
    check(base && zero && !strcmp(base, zero), "adapter with multiplier 0: base text");
    check(base && with && strcmp(base, with) != 0, "adapter with multiplier 1: different text");
    lc_status rc = lc_adapter_load(other, &b->model, &l2, NULL, NULL, 0);
    printf("    (message: %s)\n", lc_error_msg());
    check(rc == LC_ERR_MISMATCH, "adapter for another base: LC_ERR_MISMATCH");
    if (rc == LC_OK) lc_lora_free(&l2);
    lc_lora_free(&l);
    free(base);
    free(with);
    free(zero);
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    if (argc != 4) {
        fprintf(stderr, "usage: %s <stories260K-hf dir> <tiny-qwen2 dir> <out dir>\n", argv[0]);
        return 2;
    }
    lc_base b;
    if (lc_base_open(&b, argv[1], NULL) != LC_OK) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return 1;
    }
    int32_t *prompt = NULL, ids[N_GEN], ids2[N_GEN];
    int n_prompt = 0;
    lc_infer *s = NULL;
    if (lc_tokenizer_encode(b.tok, "", 0, 1, &prompt, &n_prompt) || lc_infer_create(&s, &b.model, NULL, 0, 256)) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return 1;
    }
    check(n_prompt == 1 && prompt[0] == lc_tokenizer_bos_id(b.tok), "empty prompt encodes to [BOS]");
    lc_sample_params greedy = lc_sample_default_params();
    lc_gen_stats st, st2;
    char *text = generate(&b, s, &greedy, 0, prompt, n_prompt, ids, &st);
    printf("  greedy: \"%s\"\n", text ? text : "(null)");
    check(text && st.n_gen == N_GEN && !strcmp(text, GOLDEN), "greedy 40 tokens from BOS = golden text");
    check(text && !strncmp(text, "Once upon a time, there was a little girl named Lily.", 52),
          "starts with llama2.c's \"Once upon a time, there was a little girl named Lily.\"");
    if (text) check_argmax(&b.model, prompt, n_prompt, ids, st.n_gen);
    char *again = generate(&b, s, &greedy, 0, prompt, n_prompt, ids2, &st2);
    check(again && text && !strcmp(again, text) && st2.n_prompt_run == 1,
          "second run on the same cache: same text, prefix reused");
    free(text);
    free(again);

    lc_sample_params sp = {0.8f, 40, 0.9f, 1.1f};
    char *t1 = generate(&b, s, &sp, 5, prompt, n_prompt, ids, &st);
    char *t2 = generate(&b, s, &sp, 5, prompt, n_prompt, ids, &st);
    char *t3 = generate(&b, s, &sp, 6, prompt, n_prompt, ids, &st);
    printf("  seed 5: \"%s\"\n  seed 6: \"%s\"\n", t1 ? t1 : "(null)", t3 ? t3 : "(null)");
    check(t1 && t2 && !strcmp(t1, t2), "sampling, same seed twice: same text");
    check(t1 && t3 && strcmp(t1, t3) != 0, "sampling, another seed: different text");
    free(t1);
    free(t2);
    free(t3);
    check_adapters(&b, s, argv[2], argv[3], prompt, n_prompt);
    free(prompt);
    lc_infer_free(s);
    lc_base_close(&b);
    return finish("test_generate");
}
