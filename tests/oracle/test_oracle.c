/*
 * test_oracle.c — lorac against PyTorch + PEFT on a whole model.
 *
 * usage: test_oracle <hf_model_dir> <case_ref.safetensors>
 *
 * The reference file is written by tests/oracle/make_refs.py (committed, so
 * no torch is needed here). Steps, each compared tensor printed with its max
 * abs error, max|ref| and their ratio:
 *   1. load the HF dir, make an r/alpha adapter on all seven projections and
 *      overwrite its A/B with the reference's initial values;
 *   2. lc_forward logits and loss            (max_abs <= 1e-5 * max|ref|)
 *   3. lc_forward_backward loss and every A/B gradient
 *                                            (loss 1e-5 rel, grads 1e-4 * max|ref|)
 *   4. base logits: lora == NULL, and adapter with B = 0   (1e-5 * max|ref|)
 *   5. 10 AdamW steps (lr 1e-2, wd 0.01, clip 1.0) on the same batch: the
 *      loss before each step (1e-5 rel), the pre-clip grad norm (1e-4 rel, as
 *      for gradients) and
 *      the final A/B (1e-4 * max|ref|, or the reference's per-tensor
 *      "<name>.after10_atol" where float32 noise is measured to be larger).
 * Exits 0 only if every check passes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int g_checks, g_failures;

/* A reference tensor copied out of the file (its data may be unaligned).
 * Checks dtype and element count; returns NULL with a message on mismatch. */
static void *ref_get(const lc_safetensors *st, const char *name, lc_st_dtype dtype, size_t numel) {
    const lc_st_tensor *t = lc_safetensors_find(st, name);
    if (!t) {
        fprintf(stderr, "%s: tensor '%s' missing\n", st->path, name);
        return NULL;
    }
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    if (t->dtype != dtype || n != numel) {
        fprintf(stderr, "%s: tensor '%s': expected %s with %zu elements, found %s with %zu\n",
                st->path, name, lc_st_dtype_name(dtype), numel, lc_st_dtype_name(t->dtype), n);
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

/* Compare got against ref: pass iff max|got - ref| <= tol (NaN fails).
 * tol = rtol * max|ref| unless atol > 0. Prints one table row. */
static int compare(const char *what, const float *got, const float *ref, size_t n, double rtol,
                   double atol) {
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
    printf("  %-72s %10.3e %10.3e %10.3e %10.3e  %s\n", what, max_err, max_ref,
           max_ref > 0 ? max_err / max_ref : max_err, tol, ok ? "ok" : (nan ? "FAIL (NaN)" : "FAIL"));
    g_checks++;
    if (!ok) g_failures++;
    return ok;
}

static void compare_scalar(const char *what, double got, double ref, double rtol) {
    float g = (float)got, r = (float)ref;
    compare(what, &g, &r, 1, rtol, 0);
}

/* Copy every A/B of the adapter from the reference (suffix "" = initial
 * values). The adapter must cover exactly the tensors the file has. */
static int load_adapter(lc_lora *lora, const lc_safetensors *st) {
    char name[256];
    for (int l = 0; l < lora->n_layers; l++) {
        for (int t = 0; t < LC_T_COUNT; t++) {
            if (!(lora->cfg.targets & (1u << t))) continue; /* not a target of this architecture */
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
    }
    return 0;
}

/* Compare each A/B of the adapter (grads = 0: params, 1: gradients) against
 * "<name><suffix>" in the reference. */
static int compare_adapter(const lc_lora *lora, const lc_safetensors *st, int grads,
                           const char *suffix, double rtol) {
    char name[256], full[300];
    for (int l = 0; l < lora->n_layers; l++) {
        for (int t = 0; t < LC_T_COUNT; t++) {
            if (!(lora->cfg.targets & (1u << t))) continue;
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
                if (!grads && lc_safetensors_find(st, full) && ref_scalar_f32(st, full, &a) == 0)
                    atol = a; /* measured by make_refs.py, >= rtol * max|ref| */
                /* short name for the table: drop "base_model.model.model." */
                const char *shown = strncmp(name, "base_model.model.model.", 23) ? name : name + 23;
                snprintf(full, sizeof full, "%s%s", shown, grads ? ".grad" : suffix);
                compare(full, got, ref, numel, rtol, atol);
                free(ref);
            }
        }
    }
    return 0;
}

static int run(const char *dir, const char *ref_path) {
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
    int32_t *nt_ref = ref_get(&st, "n_targets", LC_ST_I32, 1);
    int32_t *r_ref = ref_get(&st, "meta.r", LC_ST_I32, 1);
    float alpha, scaling;
    int n_ref = nt_ref ? nt_ref[0] : 0, r = r_ref ? r_ref[0] : 0;
    free(nt_ref);
    free(r_ref);
    if (!tokens || !targets || !n_ref || !r || ref_scalar_f32(&st, "meta.alpha", &alpha) ||
        ref_scalar_f32(&st, "meta.scaling", &scaling))
        goto fail;
    printf("model %s (%s, L=%d C=%d V=%d), batch B=%d T=%d, %d targets, LoRA r=%d alpha=%g\n", dir,
           lc_arch_name(m.cfg.arch), m.cfg.n_layers, m.cfg.hidden_size, V, B, T, n_ref, r, alpha);

    lc_lora_config lcfg = lc_lora_default_config();
    lcfg.r = r;
    lcfg.alpha = alpha;
    lcfg.dropout = 0;
    lcfg.targets = (1u << LC_T_COUNT) - 1;
    lc_rng rng;
    lc_rng_seed(&rng, 1);
    if (lc_lora_init(&lora, &m, &lcfg, &rng) != LC_OK) {
        fprintf(stderr, "lc_lora_init: %s\n", lc_error_msg());
        goto fail;
    }
    have_lora = 1;
    if (load_adapter(&lora, &st)) goto fail;
    if (lc_acts_create(&acts, &m, &lora, B, T) != LC_OK) {
        fprintf(stderr, "lc_acts_create: %s\n", lc_error_msg());
        goto fail;
    }
    logits = malloc(BT * V * sizeof(float));
    params0 = malloc(lora.n_params * sizeof(float));
    if (!logits || !params0) goto fail;
    memcpy(params0, lora.params, lora.n_params * sizeof(float));
    lc_batch batch = {tokens, targets, B, T};

    printf("  %-72s %10s %10s %10s %10s\n", "tensor", "max_abs", "max|ref|", "rel", "tol");
    /* 1. forward with the adapter */
    double loss_sum = 0;
    int64_t nt = 0;
    compare_scalar("lora scale (alpha / r)", lora.scale, scaling, 1e-7);
    if (lc_forward(&m, &lora, 1.0f, acts, &batch, &loss_sum, &nt, logits) != LC_OK) {
        fprintf(stderr, "lc_forward: %s\n", lc_error_msg());
        goto fail;
    }
    if (nt != n_ref) {
        fprintf(stderr, "lc_forward: %lld targets, reference has %d\n", (long long)nt, n_ref);
        g_failures++;
    }
    if (!(ref = ref_get(&st, "logits", LC_ST_F32, BT * V))) goto fail;
    compare("logits", logits, ref, BT * V, TOL_LOGITS, 0);
    free(ref);
    float loss_ref;
    if (ref_scalar_f32(&st, "loss", &loss_ref)) goto fail;
    compare_scalar("loss (lc_forward)", loss_sum / (double)nt, loss_ref, TOL_LOSS);

    /* 2. forward + backward */
    lc_lora_zero_grad(&lora);
    if (lc_forward_backward(&m, &lora, acts, &batch, 1.0f / (float)n_ref, 0, &loss_sum, &nt) != LC_OK) {
        fprintf(stderr, "lc_forward_backward: %s\n", lc_error_msg());
        goto fail;
    }
    compare_scalar("loss (lc_forward_backward)", loss_sum / (double)nt, loss_ref, TOL_LOSS);
    if (compare_adapter(&lora, &st, 1, ".grad", TOL_GRAD)) goto fail;

    /* 3. base model: no adapter, and adapter with B = 0 */
    if (!(ref = ref_get(&st, "base_logits", LC_ST_F32, BT * V))) goto fail;
    if (lc_forward(&m, NULL, 1.0f, acts, &batch, NULL, NULL, logits) != LC_OK) {
        fprintf(stderr, "lc_forward (base): %s\n", lc_error_msg());
        goto fail;
    }
    compare("base_logits (lora = NULL)", logits, ref, BT * V, TOL_LOGITS, 0);
    for (int l = 0; l < lora.n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            lc_lora_pair *p = lc_lora_get(&lora, l, (lc_lora_target)t);
            if (p->B) memset(p->B, 0, (size_t)p->out * r * sizeof(float));
        }
    if (lc_forward(&m, &lora, 1.0f, acts, &batch, NULL, NULL, logits) != LC_OK) {
        fprintf(stderr, "lc_forward (B = 0): %s\n", lc_error_msg());
        goto fail;
    }
    compare("base_logits (all lora_B = 0)", logits, ref, BT * V, TOL_LOGITS, 0);
    free(ref);
    ref = NULL;
    memcpy(lora.params, params0, lora.n_params * sizeof(float));

    /* 4. ten AdamW steps on the same batch */
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
    opt.beta1 = 0.9f;
    opt.beta2 = 0.999f;
    opt.eps = 1e-8f;
    opt.weight_decay = 0.01f;
    opt.max_grad_norm = 1.0f;
    opt.loraplus_lr_ratio = 0;
    int step_ok = 1;
    for (int s = 0; s < N_STEPS && step_ok; s++) {
        char what[64];
        double gn = 0;
        lc_lora_zero_grad(&lora);
        step_ok = lc_forward_backward(&m, &lora, acts, &batch, 1.0f / (float)n_ref, (uint64_t)s,
                                      &loss_sum, &nt) == LC_OK &&
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

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <hf_model_dir> <case_ref.safetensors>\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep the table if the engine aborts */
    lc_threads_init(0);
    run(argv[1], argv[2]);
    printf("%d checks, %d failed: %s\n", g_checks, g_failures, g_failures ? "FAIL" : "PASS");
    return g_failures ? 1 : 0;
}
