/*
 * test_smollm2.c — lc_infer on SmolLM2-135M-Instruct (GGUF, Q4_1 layers, Q8_0
 * tied embeddings) against PyTorch.
 *
 * usage: test_smollm2 <SmolLM2-135M-Instruct.Q4_1.gguf> <smollm2_ref.safetensors>
 * Exits 77 (skipped) when the GGUF is absent.
 *
 * The reference (tests/infer/smollm2_ref.py, committed) holds, for three
 * ChatML prompts, the token ids and transformers' LlamaForCausalLM float32
 * last-position logits computed on the same dequantised weights. Checks:
 *   1. lorac's detected template + tokenizer give the reference's ids;
 *   2. lc_infer_prefill last logits: max abs error <= 1e-4;
 *   3. prefill-all logits of prompt 0 equal lc_forward's (1e-5 * max|ref|);
 *   4. greedy decoding of "What is the capital of France?" answers with "Paris".
 * Prints prefill and decode speed (tokens/s, batch 1).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lc_cpu.h"
#include "infer_test.h"
#include "lc_base.h"
#include "lc_chat.h"
#include "lc_infer.h"
#include "lc_safetensors.h"
#include "lc_transformer.h"

#define N_PROMPTS 3
#define TOL_ABS 1e-4

/* Keep in sync with PROMPTS in tests/infer/smollm2_ref.py. */
static const char *PROMPTS[N_PROMPTS] = {
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain in one sentence why the sky is blue.",
};

/* A reference tensor copied out (its data may be unaligned); NULL if absent. */
static void *ref_copy(const lc_safetensors *st, const char *name, lc_st_dtype dt, size_t *numel) {
    const lc_st_tensor *t = lc_safetensors_find(st, name);
    if (!t || t->dtype != dt) {
        fprintf(stderr, "%s: tensor '%s' missing or not %s\n", st->path, name, lc_st_dtype_name(dt));
        return NULL;
    }
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    void *p = malloc(t->nbytes ? t->nbytes : 1);
    if (p) memcpy(p, t->data, t->nbytes);
    *numel = n;
    return p;
}

/* Render one user question with the model's chat template and encode it. */
static int encode_prompt(const lc_base *b, const lc_chat_template *tmpl, const char *q, int32_t **ids, int *n) {
    lc_chat_msg msg = {"user", q};
    lc_chat_segment *segs = NULL;
    int n_segs = 0;
    if (lc_chat_render(tmpl, &msg, 1, 1, &segs, &n_segs)) return -1;
    size_t len = 0;
    for (int i = 0; i < n_segs; i++) len += strlen(segs[i].text);
    char *text = malloc(len + 1);
    text[0] = 0;
    for (int i = 0; i < n_segs; i++) strcat(text, segs[i].text);
    lc_chat_segments_free(segs, n_segs);
    int rc = lc_tokenizer_encode(b->tok, text, len, 0, ids, n) ? -1 : 0;
    free(text);
    return rc;
}

/* Max abs error of lc_forward vs lc_infer_prefill_all on ids. */
static void check_vs_forward(const lc_model *m, const int32_t *ids, int n) {
    size_t V = (size_t)m->cfg.vocab_size;
    float *ref = malloc(n * V * sizeof(float)), *got = malloc(n * V * sizeof(float));
    lc_acts *a = NULL;
    lc_infer *s = NULL;
    lc_batch batch = {.tokens = ids, .targets = NULL, .B = 1, .T = n};
    int ok = lc_acts_create(&a, m, NULL, 1, n) == LC_OK &&
             lc_forward(m, NULL, 1.0f, a, &batch, NULL, NULL, ref) == LC_OK &&
             lc_infer_create(&s, m, NULL, 0, n) == LC_OK && lc_infer_prefill_all(s, ids, n, got) == LC_OK;
    if (check(ok, "lc_forward and lc_infer_prefill_all ran"))
        compare_rel("prompt 0: prefill logits at every position vs lc_forward", got, ref, n * V, 1e-5);
    lc_acts_free(a);
    lc_infer_free(s);
    free(ref);
    free(got);
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    if (argc != 3) {
        fprintf(stderr, "usage: %s <model.gguf> <ref.safetensors>\n", argv[0]);
        return 2;
    }
    if (access(argv[1], R_OK) != 0) {
        printf("SKIP: %s not found (scripts/setup.sh downloads it)\n", argv[1]);
        return 77;
    }
    lc_base b;
    lc_safetensors st;
    lc_chat_template *tmpl = NULL;
    if (lc_base_open(&b, argv[1], NULL) || lc_safetensors_open(&st, argv[2]) ||
        lc_chat_template_detect(&tmpl, lc_tokenizer_chat_template(b.tok))) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return 1;
    }
    check(!strcmp(lc_chat_template_name(tmpl), "chatml"), "GGUF chat template detected as chatml");
    int V = b.model.cfg.vocab_size;
    lc_infer *s = NULL;
    float *logits = malloc((size_t)V * sizeof(float));
    if (lc_infer_create(&s, &b.model, NULL, 0, 512)) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return 1;
    }
    double prefill_tokens = 0, prefill_s = 0;
    int32_t *first_ids = NULL;
    int first_n = 0;
    for (int p = 0; p < N_PROMPTS; p++) {
        char name[64], what[128];
        size_t n_ref = 0, n_logits = 0;
        snprintf(name, sizeof name, "prompt%d.ids", p);
        int32_t *ref_ids = ref_copy(&st, name, LC_ST_I32, &n_ref);
        snprintf(name, sizeof name, "prompt%d.logits", p);
        float *ref = ref_copy(&st, name, LC_ST_F32, &n_logits);
        int32_t *ids = NULL;
        int n = 0;
        if (!ref_ids || !ref || n_logits != (size_t)V || encode_prompt(&b, tmpl, PROMPTS[p], &ids, &n)) {
            fprintf(stderr, "prompt %d: %s\n", p, lc_error_msg());
            return 1;
        }
        snprintf(what, sizeof what, "prompt %d: lorac's ChatML ids = reference ids (%d tokens)", p, n);
        check((size_t)n == n_ref && !memcmp(ids, ref_ids, n_ref * sizeof *ids), what);
        lc_infer_rewind(s, 0);
        double t0 = lc_time_now();
        lc_status rc = lc_infer_prefill(s, ref_ids, (int)n_ref, logits);
        prefill_s += lc_time_now() - t0;
        prefill_tokens += (double)n_ref;
        snprintf(what, sizeof what, "prompt %d: last-position logits vs PyTorch", p);
        if (check(rc == LC_OK, "prefill ran")) {
            /* absolute tolerance: express it as rtol of max|ref| for the shared printer */
            double mx = 0;
            for (int i = 0; i < V; i++) mx = fabs(ref[i]) > mx ? fabs(ref[i]) : mx;
            compare_rel(what, logits, ref, (size_t)V, TOL_ABS / mx);
        }
        if (p == 0) {
            first_ids = ref_ids;
            first_n = (int)n_ref;
        } else {
            free(ref_ids);
        }
        free(ids);
        free(ref);
    }
    printf("  prefill speed: %.0f tokens/s\n", prefill_tokens / prefill_s);
    check_vs_forward(&b.model, first_ids, first_n);

    /* greedy answer to the first prompt */
    lc_sample_params greedy = lc_sample_default_params();
    lc_sampler *smp = NULL;
    int32_t stops[2] = {lc_tokenizer_eos_id(b.tok), lc_tokenizer_token_id(b.tok, "<|im_end|>")};
    int32_t out[64];
    lc_gen_stats gs;
    if (lc_sampler_create(&smp, V, &greedy, 0) ||
        lc_infer_generate(s, smp, first_ids, first_n, 64, stops, 2, NULL, NULL, out, &gs)) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return 1;
    }
    char *answer = lc_tokenizer_decode(b.tok, out, gs.n_gen, 1);
    printf("  answer: \"%s\"\n", answer ? answer : "(null)");
    printf("  decode speed (batch 1): %d tokens in %.3f s = %.1f tokens/s (%d threads)\n", gs.n_gen, gs.gen_s,
           gs.n_gen / gs.gen_s, lc_threads_get());
    check(answer && strstr(answer, "Paris"), "greedy answer to \"What is the capital of France?\" mentions Paris");
    free(answer);
    lc_sampler_free(smp);
    free(first_ids);
    free(logits);
    lc_infer_free(s);
    lc_chat_template_free(tmpl);
    lc_safetensors_close(&st);
    lc_base_close(&b);
    return finish("test_smollm2");
}
