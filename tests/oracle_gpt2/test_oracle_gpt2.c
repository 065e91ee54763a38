/*
 * test_oracle_gpt2.c — lorac's GPT-2 path against PyTorch + PEFT.
 *
 * usage: test_oracle_gpt2 oracle <hf_gpt2_dir> <tiny-gpt2_ref.safetensors>
 *        test_oracle_gpt2 api    <hf_gpt2_dir>
 *
 * oracle (reference written by make_refs_gpt2.py, committed): load the HF
 * dir (float16 Conv1D weights, transposed and widened by the loader), make an
 * r=4, alpha=8 adapter on c_attn, attn.c_proj, c_fc, mlp.c_proj with the
 * reference's initial A/B, then compare as tests/oracle does:
 *   logits, loss (lc_forward)                       1e-5 * max|ref|, 1e-5 rel
 *   loss and every A/B gradient (lc_forward_backward)  1e-5 rel, 1e-4 * max|ref|
 *   base logits: lora = NULL, and every lora_B = 0  1e-5 * max|ref|
 *   10 AdamW steps (lr 1e-2, wd 0.01, clip 1.0): loss and pre-clip grad norm
 *   per step (1e-5 / 1e-4 rel), final A/B (per-tensor atol from the file)
 *   and: gradient checkpointing gives bit-identical gradients (also with
 *   LoRA dropout); parameter count = HF num_parameters().
 * api: target_modules parsing for GPT-2 (c_proj = both, all-linear = the
 * four, Llama names refused), PEFT tensor names, config refusals.
 * Exits 0 only if every check passes.
 */
#define _DEFAULT_SOURCE /* realpath, mkdtemp, symlink */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lc_common.h"
#include "lc_loader.h"
#include "lc_lora.h"
#include "lc_model.h"
#include "lc_safetensors.h"
#include "lc_transformer.h"

#define N_STEPS 10
#define TOL_LOGITS 1e-5
#define TOL_LOSS 1e-5
#define TOL_GRAD 1e-4
#define TOL_NORM 1e-4
#define TOL_PARAM 1e-4
#define PEFT_PREFIX "base_model.model.transformer."

static int g_checks, g_failures;

static void check(int ok, const char *what) {
    printf("  %-72s %s\n", what, ok ? "ok" : "FAIL");
    g_checks++;
    if (!ok) g_failures++;
}

static void *ref_get(const lc_safetensors *st, const char *name, lc_st_dtype dtype, size_t numel) {
    const lc_st_tensor *t = lc_safetensors_find(st, name);
    if (!t) {
        fprintf(stderr, "%s: tensor '%s' missing\n", st->path, name);
        return NULL;
    }
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    if (t->dtype != dtype || n != numel) {
        fprintf(stderr, "%s: tensor '%s': expected %s with %zu elements, found %s with %zu\n", st->path, name,
                lc_st_dtype_name(dtype), numel, lc_st_dtype_name(t->dtype), n);
        return NULL;
    }
    void *p = malloc(t->nbytes ? t->nbytes : 1);
    if (p) memcpy(p, t->data, t->nbytes);
    return p;
}

static int ref_scalar_f32(const lc_safetensors *st, const char *name, float *out) {
    float *p = ref_get(st, name, LC_ST_F32, 1);
    if (!p) return -1;
    *out = p[0];
    free(p);
    return 0;
}

/* pass iff max|got - ref| <= (atol > 0 ? atol : rtol * max|ref|); NaN fails */
static int compare(const char *what, const float *got, const float *ref, size_t n, double rtol, double atol) {
    double max_err = 0, max_ref = 0;
    int nan = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)ref[i]);
        if (e != e) nan = 1;
        if (e > max_err) max_err = e;
        if (fabs((double)ref[i]) > max_ref) max_ref = fabs((double)ref[i]);
    }
    double tol = atol > 0 ? atol : rtol * max_ref;
    int ok = !nan && max_err <= tol;
    printf("  %-60s %10.3e %10.3e %10.3e %10.3e  %s\n", what, max_err, max_ref,
           max_ref > 0 ? max_err / max_ref : max_err, tol, ok ? "ok" : (nan ? "FAIL (NaN)" : "FAIL"));
    g_checks++;
    if (!ok) g_failures++;
    return ok;
}

static void compare_scalar(const char *what, double got, double ref, double rtol) {
    float g = (float)got, r = (float)ref;
    compare(what, &g, &r, 1, rtol, 0);
}

/* Copy A/B of every GPT-2 target from the reference (they must all be there). */
static int load_adapter(lc_lora *lora, const lc_safetensors *st) {
    char name[256];
    for (int l = 0; l < lora->n_layers; l++)
        for (int t = LC_T_C_ATTN; t < LC_T_COUNT; t++) {
            lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A) {
                fprintf(stderr, "adapter has no %s on layer %d\n", lc_lora_target_name(t), l);
                return -1;
            }
            for (int isB = 0; isB < 2; isB++) {
                size_t numel = (size_t)lora->cfg.r * (isB ? p->out : p->in);
                lc_lora_tensor_name(name, sizeof name, l, (lc_lora_target)t, isB);
                float *v = ref_get(st, name, LC_ST_F32, numel);
                if (!v) return -1;
                memcpy(isB ? p->B : p->A, v, numel * sizeof(float));
                free(v);
            }
        }
    return 0;
}

/* Compare params (grads 0) or gradients (grads 1) with "<name><suffix>". */
static int compare_adapter(const lc_lora *lora, const lc_safetensors *st, int grads, const char *suffix,
                           double rtol) {
    char name[256], full[300];
    for (int l = 0; l < lora->n_layers; l++)
        for (int t = LC_T_C_ATTN; t < LC_T_COUNT; t++) {
            const lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            for (int isB = 0; isB < 2; isB++) {
                size_t numel = (size_t)lora->cfg.r * (isB ? p->out : p->in);
                lc_lora_tensor_name(name, sizeof name, l, (lc_lora_target)t, isB);
                snprintf(full, sizeof full, "%s%s", name, suffix);
                float *ref = ref_get(st, full, LC_ST_F32, numel);
                if (!ref) return -1;
                const float *got = grads ? (isB ? p->dB : p->dA) : (isB ? p->B : p->A);
                double atol = 0;
                float a;
                snprintf(full, sizeof full, "%s%s_atol", name, suffix);
                if (!grads && lc_safetensors_find(st, full) && ref_scalar_f32(st, full, &a) == 0) atol = a;
                snprintf(full, sizeof full, "%s%s", name + strlen(PEFT_PREFIX), grads ? ".grad" : suffix);
                compare(full, got, ref, numel, rtol, atol);
                free(ref);
            }
        }
    return 0;
}

/* Gradients with and without checkpointing, at dropout p: must be equal bit for bit. */
static void check_checkpointing(const lc_model *m, lc_lora *lora, const lc_batch *b, int n_ref, float p) {
    lc_acts *a0 = NULL, *a1 = NULL;
    float *g0 = malloc(lora->n_params * sizeof(float));
    double l0 = 0, l1 = 0;
    float saved = lora->cfg.dropout;
    lora->cfg.dropout = p;
    int ok = g0 && lc_acts_create_ex(&a0, m, lora, b->B, b->T, 0) == LC_OK &&
             lc_acts_create_ex(&a1, m, lora, b->B, b->T, 1) == LC_OK;
    if (ok) {
        lc_lora_zero_grad(lora);
        ok = lc_forward_backward(m, lora, a0, b, 1.0f / (float)n_ref, 77, &l0, NULL) == LC_OK;
        memcpy(g0, lora->grads, lora->n_params * sizeof(float));
        lc_lora_zero_grad(lora);
        ok = ok && lc_forward_backward(m, lora, a1, b, 1.0f / (float)n_ref, 77, &l1, NULL) == LC_OK;
    }
    if (!ok) fprintf(stderr, "checkpointing run: %s\n", lc_error_msg());
    char what[128];
    snprintf(what, sizeof what, "grad checkpointing: bit-identical loss and grads (dropout %.1f, %.1f vs %.1f MB)",
             p, a0 ? lc_acts_bytes(a0) / 1e6 : 0.0, a1 ? lc_acts_bytes(a1) / 1e6 : 0.0);
    check(ok && l0 == l1 && !memcmp(g0, lora->grads, lora->n_params * sizeof(float)) &&
              lc_acts_bytes(a1) < lc_acts_bytes(a0),
          what);
    lora->cfg.dropout = saved;
    lc_acts_free(a0);
    lc_acts_free(a1);
    free(g0);
}

static int run_oracle(const char *dir, const char *ref_path) {
    lc_model m;
    lc_lora lora;
    lc_safetensors st;
    lc_acts *acts = NULL;
    int32_t *tokens = NULL, *targets = NULL;
    float *logits = NULL, *ref = NULL, *params0 = NULL;
    int rc = -1, have_lora = 0;
    memset(&m, 0, sizeof m);
    memset(&lora, 0, sizeof lora);
    memset(&st, 0, sizeof st);
    if (lc_model_load_hf(&m, dir) != LC_OK || lc_safetensors_open(&st, ref_path) != LC_OK) {
        fprintf(stderr, "%s\n", lc_error_msg());
        goto fail;
    }
    const lc_st_tensor *tt = lc_safetensors_find(&st, "tokens");
    if (!tt || tt->ndim != 2) {
        fprintf(stderr, "%s: 'tokens' missing or not 2-D\n", ref_path);
        goto fail;
    }
    const int B = (int)tt->shape[0], T = (int)tt->shape[1], V = m.cfg.vocab_size;
    const size_t BT = (size_t)B * T;
    tokens = ref_get(&st, "tokens", LC_ST_I32, BT);
    targets = ref_get(&st, "targets", LC_ST_I32, BT);
    int32_t *nt_ref = ref_get(&st, "n_targets", LC_ST_I32, 1), *r_ref = ref_get(&st, "meta.r", LC_ST_I32, 1);
    int32_t *np_ref = ref_get(&st, "meta.n_params", LC_ST_I32, 1);
    float alpha, scaling;
    int n_ref = nt_ref ? nt_ref[0] : 0, r = r_ref ? r_ref[0] : 0;
    int64_t n_params = np_ref ? np_ref[0] : -1;
    free(nt_ref);
    free(r_ref);
    free(np_ref);
    if (!tokens || !targets || !n_ref || !r || ref_scalar_f32(&st, "meta.alpha", &alpha) ||
        ref_scalar_f32(&st, "meta.scaling", &scaling))
        goto fail;
    const lc_model_config *c = &m.cfg;
    printf("model %s (%s, L=%d C=%d F=%d H=%d P=%d V=%d eps=%g), batch B=%d T=%d, %d targets, LoRA r=%d "
           "alpha=%g\n",
           dir, lc_arch_name(c->arch), c->n_layers, c->hidden_size, c->intermediate_size, c->n_heads,
           c->max_position, V, c->layer_norm_eps, B, T, n_ref, r, alpha);
    check(c->arch == LC_ARCH_GPT2 && c->n_layers == 2 && c->hidden_size == 64 && c->intermediate_size == 256 &&
              c->n_heads == 4 && c->max_position == 64 && V == 97 && c->tie_embeddings &&
              c->layer_norm_eps == 1e-5f && m.lm_head.data == m.tok_emb.data,
          "config: GPT2LMHeadModel 2 x 64, n_inner null -> 256, tied");
    char what[128];
    snprintf(what, sizeof what, "parameter count %lld = HF num_parameters() %lld",
             (long long)lc_model_param_count(&m), (long long)n_params);
    check(lc_model_param_count(&m) == n_params, what);

    lc_lora_config lcfg = lc_lora_default_config();
    lcfg.r = r;
    lcfg.alpha = alpha;
    if (lc_lora_targets_parse_arch("c_attn,c_proj,c_fc", LC_ARCH_GPT2, &lcfg.targets) != LC_OK) {
        fprintf(stderr, "lc_lora_targets_parse_arch: %s\n", lc_error_msg());
        goto fail;
    }
    lc_rng rng;
    lc_rng_seed(&rng, 1);
    if (lc_lora_init(&lora, &m, &lcfg, &rng) != LC_OK) {
        fprintf(stderr, "lc_lora_init: %s\n", lc_error_msg());
        goto fail;
    }
    have_lora = 1;
    if (load_adapter(&lora, &st) || lc_acts_create(&acts, &m, &lora, B, T) != LC_OK) {
        fprintf(stderr, "adapter / activations: %s\n", lc_error_msg());
        goto fail;
    }
    logits = malloc(BT * V * sizeof(float));
    params0 = malloc(lora.n_params * sizeof(float));
    if (!logits || !params0) goto fail;
    memcpy(params0, lora.params, lora.n_params * sizeof(float));
    lc_batch batch = {tokens, targets, B, T};

    printf("  %-60s %10s %10s %10s %10s\n", "tensor", "max_abs", "max|ref|", "rel", "tol");
    double loss_sum = 0;
    int64_t nt = 0;
    compare_scalar("lora scale (alpha / r)", lora.scale, scaling, 1e-7);
    if (lc_forward(&m, &lora, 1.0f, acts, &batch, &loss_sum, &nt, logits) != LC_OK) {
        fprintf(stderr, "lc_forward: %s\n", lc_error_msg());
        goto fail;
    }
    check(nt == n_ref, "lc_forward: number of targets");
    if (!(ref = ref_get(&st, "logits", LC_ST_F32, BT * V))) goto fail;
    compare("logits", logits, ref, BT * V, TOL_LOGITS, 0);
    free(ref);
    ref = NULL;
    float loss_ref;
    if (ref_scalar_f32(&st, "loss", &loss_ref)) goto fail;
    compare_scalar("loss (lc_forward)", loss_sum / (double)nt, loss_ref, TOL_LOSS);

    lc_lora_zero_grad(&lora);
    if (lc_forward_backward(&m, &lora, acts, &batch, 1.0f / (float)n_ref, 0, &loss_sum, &nt) != LC_OK) {
        fprintf(stderr, "lc_forward_backward: %s\n", lc_error_msg());
        goto fail;
    }
    compare_scalar("loss (lc_forward_backward)", loss_sum / (double)nt, loss_ref, TOL_LOSS);
    if (compare_adapter(&lora, &st, 1, ".grad", TOL_GRAD)) goto fail;

    if (!(ref = ref_get(&st, "base_logits", LC_ST_F32, BT * V))) goto fail;
    if (lc_forward(&m, NULL, 1.0f, acts, &batch, NULL, NULL, logits) != LC_OK) {
        fprintf(stderr, "lc_forward (base): %s\n", lc_error_msg());
        goto fail;
    }
    compare("base_logits (lora = NULL)", logits, ref, BT * V, TOL_LOGITS, 0);
    for (int l = 0; l < lora.n_layers; l++)
        for (int t = LC_T_C_ATTN; t < LC_T_COUNT; t++) {
            lc_lora_pair *p = lc_lora_get(&lora, l, (lc_lora_target)t);
            memset(p->B, 0, (size_t)p->out * r * sizeof(float));
        }
    if (lc_forward(&m, &lora, 1.0f, acts, &batch, NULL, NULL, logits) != LC_OK) {
        fprintf(stderr, "lc_forward (B = 0): %s\n", lc_error_msg());
        goto fail;
    }
    compare("base_logits (all lora_B = 0)", logits, ref, BT * V, TOL_LOGITS, 0);
    free(ref);
    ref = NULL;
    memcpy(lora.params, params0, lora.n_params * sizeof(float));
    check_checkpointing(&m, &lora, &batch, n_ref, 0.0f);
    check_checkpointing(&m, &lora, &batch, n_ref, 0.1f);

    float *losses = ref_get(&st, "losses_10", LC_ST_F32, N_STEPS);
    float *norms = ref_get(&st, "grad_norms_10", LC_ST_F32, N_STEPS);
    if (!losses || !norms) {
        free(losses);
        free(norms);
        goto fail;
    }
    memset(lora.m, 0, lora.n_params * sizeof(float));
    memset(lora.v, 0, lora.n_params * sizeof(float));
    lc_adamw_params opt = lc_adamw_default_params();
    opt.lr = 1e-2f;
    opt.weight_decay = 0.01f;
    opt.max_grad_norm = 1.0f;
    int step_ok = 1;
    for (int s = 0; s < N_STEPS && step_ok; s++) {
        double gn = 0;
        lc_lora_zero_grad(&lora);
        step_ok = lc_forward_backward(&m, &lora, acts, &batch, 1.0f / (float)n_ref, (uint64_t)s, &loss_sum, &nt) ==
                      LC_OK &&
                  lc_lora_optimizer_step(&lora, &opt, s + 1, &gn) == LC_OK;
        if (!step_ok) {
            fprintf(stderr, "step %d: %s\n", s + 1, lc_error_msg());
            break;
        }
        snprintf(what, sizeof what, "step %2d loss", s + 1);
        compare_scalar(what, loss_sum / (double)nt, losses[s], TOL_LOSS);
        snprintf(what, sizeof what, "step %2d grad norm (pre-clip)", s + 1);
        compare_scalar(what, gn, norms[s], TOL_NORM);
    }
    free(losses);
    free(norms);
    if (!step_ok) goto fail;
    if (compare_adapter(&lora, &st, 0, ".after10", TOL_PARAM)) goto fail;
    rc = 0;
fail:
    if (rc) g_failures++;
    free(ref);
    free(params0);
    free(logits);
    free(tokens);
    free(targets);
    lc_acts_free(acts);
    if (have_lora) lc_lora_free(&lora);
    lc_safetensors_close(&st);
    lc_model_free(&m);
    return rc;
}

/* Write `text` as <tmp>/config.json next to a link to the real weights and
 * load it: returns the status (message in lc_error_msg()). */
static lc_status load_with_config(const char *weights_dir, const char *tmp, const char *text) {
    char p[1024], w[PATH_MAX + 32], abs_dir[PATH_MAX];
    if (!realpath(weights_dir, abs_dir)) return lc_errorf(LC_ERR_IO, "%s: not found", weights_dir);
    snprintf(p, sizeof p, "%s/config.json", tmp);
    FILE *f = fopen(p, "w");
    if (!f) return lc_errorf(LC_ERR_IO, "cannot write %s", p);
    fputs(text, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/model.safetensors", tmp);
    snprintf(w, sizeof w, "%s/model.safetensors", abs_dir);
    unlink(p);
    if (symlink(w, p)) return lc_errorf(LC_ERR_IO, "cannot link %s", p);
    lc_model m;
    lc_status st = lc_model_load_hf(&m, tmp);
    if (!st) lc_model_free(&m);
    return st;
}

static void expect_error(lc_status st, lc_status want, const char *needle, const char *what) {
    const char *msg = st ? lc_error_msg() : "(no error)";
    char line[256];
    snprintf(line, sizeof line, "%s -> %.120s", what, msg);
    check(st == want && strstr(msg, needle) != NULL, line);
}

static int run_api(const char *dir) {
    unsigned mask = 0;
    const unsigned cproj = (1u << LC_T_ATTN_C_PROJ) | (1u << LC_T_MLP_C_PROJ);
    const unsigned all = (1u << LC_T_C_ATTN) | cproj | (1u << LC_T_C_FC);
    check(lc_lora_targets_parse_arch("c_proj", LC_ARCH_GPT2, &mask) == LC_OK && mask == cproj,
          "\"c_proj\" selects attn.c_proj and mlp.c_proj (PEFT suffix match)");
    check(lc_lora_targets_parse_arch("attn.c_proj", LC_ARCH_GPT2, &mask) == LC_OK &&
              mask == (1u << LC_T_ATTN_C_PROJ),
          "\"attn.c_proj\" selects only the attention one");
    check(lc_lora_targets_parse_arch("all-linear", LC_ARCH_GPT2, &mask) == LC_OK && mask == all,
          "all-linear = c_attn, attn.c_proj, c_fc, mlp.c_proj for GPT-2");
    check(lc_lora_targets_parse_arch("all-linear", LC_ARCH_LLAMA, &mask) == LC_OK && mask == 0x7f,
          "all-linear = the seven projections for Llama");
    expect_error(lc_lora_targets_parse_arch("q_proj,c_attn", LC_ARCH_GPT2, &mask), LC_ERR_CONFIG, "c_attn",
                 "q_proj refused for GPT-2");
    expect_error(lc_lora_targets_parse_arch("c_attn", LC_ARCH_QWEN2, &mask), LC_ERR_CONFIG, "q_proj",
                 "c_attn refused for Qwen2");
    check(lc_lora_targets_parse("c_attn,attn.c_proj,c_fc,mlp.c_proj", &mask) == LC_OK && mask == all,
          "stored GPT-2 target list parses back (lc_lora_targets_parse)");
    char name[256];
    lc_lora_tensor_name(name, sizeof name, 1, LC_T_C_ATTN, 0);
    check(!strcmp(name, "base_model.model.transformer.h.1.attn.c_attn.lora_A.weight"), name);
    lc_lora_tensor_name(name, sizeof name, 0, LC_T_MLP_C_PROJ, 1);
    check(!strcmp(name, "base_model.model.transformer.h.0.mlp.c_proj.lora_B.weight"), name);
    lc_lora_tensor_name(name, sizeof name, 0, LC_T_ATTN_C_PROJ, 1);
    check(!strcmp(name, "base_model.model.transformer.h.0.attn.c_proj.lora_B.weight"), name);
    lc_lora_tensor_name(name, sizeof name, 3, LC_T_Q, 0);
    check(!strcmp(name, "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight"), name);

    /* an adapter for Llama targets on a GPT-2 model is refused; all-linear keeps the four */
    lc_model m;
    lc_lora lora;
    lc_rng rng;
    lc_rng_seed(&rng, 5);
    if (lc_model_load_hf(&m, dir) != LC_OK) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return -1;
    }
    lc_lora_config lc = lc_lora_default_config(); /* q_proj, v_proj */
    expect_error(lc_lora_init(&lora, &m, &lc, &rng), LC_ERR_CONFIG, "c_attn", "q_proj,v_proj on GPT-2 refused");
    lc_lora_targets_parse("all-linear", &lc.targets);
    int ok = lc_lora_init(&lora, &m, &lc, &rng) == LC_OK;
    check(ok && lora.cfg.targets == all && lora.arch == LC_ARCH_GPT2 &&
              lc_lora_get(&lora, 0, LC_T_C_ATTN)->out == 192 && lc_lora_get(&lora, 0, LC_T_C_ATTN)->in == 64 &&
              lc_lora_get(&lora, 1, LC_T_MLP_C_PROJ)->in == 256,
          "all-linear on GPT-2: four targets, c_attn B (3C, r), mlp.c_proj A (r, F)");
    if (ok) lc_lora_free(&lora);
    /* T beyond n_positions */
    lc_acts *a = NULL;
    expect_error(lc_acts_create(&a, &m, NULL, 1, 65), LC_ERR_ARG, "n_positions", "T = 65 > n_positions 64");
    lc_model_free(&m);

    /* config refusals, each with the real weights beside it */
    char tmp[] = "/tmp/lc_gpt2_cfgXXXXXX";
    if (!mkdtemp(tmp)) return -1;
    const char *good = "{\"architectures\":[\"GPT2LMHeadModel\"],\"model_type\":\"gpt2\",\"vocab_size\":97,"
                       "\"n_embd\":64,\"n_layer\":2,\"n_head\":4,\"n_positions\":64,\"n_inner\":null";
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "%s}", good);
    check(load_with_config(dir, tmp, cfg) == LC_OK, "minimal GPT-2 config (defaults) loads");
    snprintf(cfg, sizeof cfg, "%s,\"activation_function\":\"relu\"}", good);
    expect_error(load_with_config(dir, tmp, cfg), LC_ERR_UNSUPPORTED, "gelu_new", "activation relu");
    snprintf(cfg, sizeof cfg, "%s,\"n_head\":5}", good);
    expect_error(load_with_config(dir, tmp, cfg), LC_ERR_CONFIG, "n_head", "n_head 5 does not divide 64");
    snprintf(cfg, sizeof cfg, "%s,\"n_inner\":128}", good);
    expect_error(load_with_config(dir, tmp, cfg), LC_ERR_FORMAT, "c_fc.weight", "n_inner 128: c_fc shape");
    snprintf(cfg, sizeof cfg, "%s,\"n_layer\":1}", good);
    expect_error(load_with_config(dir, tmp, cfg), LC_ERR_FORMAT, "unexpected tensor", "n_layer 1: layer 1 extra");
    snprintf(cfg, sizeof cfg, "%s,\"n_layer\":3}", good);
    expect_error(load_with_config(dir, tmp, cfg), LC_ERR_FORMAT, "h.2.ln_1.weight", "n_layer 3: layer 2 missing");
    snprintf(cfg, sizeof cfg, "{\"model_type\":\"gpt2\",\"vocab_size\":97,\"n_layer\":2}");
    expect_error(load_with_config(dir, tmp, cfg), LC_ERR_CONFIG, "n_embd", "n_embd missing");
    char p[1100];
    snprintf(p, sizeof p, "%s/config.json", tmp);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", tmp);
    unlink(p);
    rmdir(tmp);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "oracle") && strcmp(argv[1], "api")) ||
        (!strcmp(argv[1], "oracle") && argc != 4)) {
        fprintf(stderr, "usage: %s oracle <hf_gpt2_dir> <ref.safetensors> | api <hf_gpt2_dir>\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    lc_threads_init(0);
    int rc = !strcmp(argv[1], "oracle") ? run_oracle(argv[2], argv[3]) : run_api(argv[2]);
    if (rc) g_failures++;
    printf("%d checks, %d failed: %s\n", g_checks, g_failures, g_failures ? "FAIL" : "PASS");
    return g_failures ? 1 : 0;
}
