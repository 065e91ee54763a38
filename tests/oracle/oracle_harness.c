/*
 * oracle_harness.c — the oracle tests' shared steps (see oracle_harness.h):
 * reference access, the compare table, adapter loading and the forward /
 * backward / base-logits / AdamW comparisons against PyTorch + PEFT.
 * Compiled into test_oracle and test_oracle_gpt2.
 */
#include "oracle_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_common.h"
#include "lc_gguf.h"
#include "lc_infer.h"
#include "lc_loader.h"

int oracle_checks, oracle_failures;
int oracle_name_width = 72;

void *oracle_ref_get(const lc_safetensors *st, const char *name, lc_st_dtype dtype, size_t numel) {
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

int oracle_ref_scalar_f32(const lc_safetensors *st, const char *name, float *out) {
    float *p = oracle_ref_get(st, name, LC_ST_F32, 1);
    if (!p) return -1;
    *out = p[0];
    free(p);
    return 0;
}

void oracle_check(int ok, const char *what) {
    printf("  %-72s %s\n", what, ok ? "ok" : "FAIL");
    oracle_checks++;
    if (!ok) oracle_failures++;
}

int oracle_compare(const char *what, const float *got, const float *ref, size_t n, double rtol, double atol) {
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
    printf("  %-*s %10.3e %10.3e %10.3e %10.3e  %s\n", oracle_name_width, what, max_err, max_ref,
           max_ref > 0 ? max_err / max_ref : max_err, tol, ok ? "ok" : (nan ? "FAIL (NaN)" : "FAIL"));
    oracle_checks++;
    if (!ok) oracle_failures++;
    return ok;
}

void oracle_compare_scalar(const char *what, double got, double ref, double rtol) {
    float g = (float)got, r = (float)ref;
    oracle_compare(what, &g, &r, 1, rtol, 0);
}

/* Copy every A/B of the adapter from the reference's initial values. The
 * adapter must cover exactly the tensors the file has. */
static int load_adapter(lc_lora *lora, const lc_safetensors *st) {
    char name[256];
    for (int l = 0; l < lora->n_layers; l++) {
        for (int t = 0; t < LC_T_COUNT; t++) {
            if (!(lora->cfg.targets & (1u << t))) continue; /* not a target of this architecture */
            lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A && lora->cfg.layers_to_transform[0]) continue; /* layer left out (checked by count) */
            if (!p->A) {
                fprintf(stderr, "adapter has no %s on layer %d\n", lc_lora_target_name(t), l);
                return -1;
            }
            for (int isB = 0; isB < 2; isB++) {
                size_t numel = (size_t)p->r * (isB ? p->out : p->in);
                lc_lora_tensor_name(name, sizeof name, l, (lc_lora_target)t, isB);
                float *v = oracle_ref_get(st, name, LC_ST_F32, numel);
                if (!v) return -1;
                memcpy(isB ? p->B : p->A, v, numel * sizeof(float));
                free(v);
            }
        }
    }
    return 0;
}

/* The PEFT name without its model prefix, for the table. */
static const char *short_name(const char *name) {
    static const char *const prefixes[] = {"base_model.model.model.", "base_model.model.transformer."};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t n = strlen(prefixes[i]);
        if (!strncmp(name, prefixes[i], n)) return name + n;
    }
    return name;
}

/* Compare each A/B of the adapter (grads = 0: params, 1: gradients) against
 * "<name><suffix>" in the reference. */
static int compare_adapter(const lc_lora *lora, const lc_safetensors *st, int grads, const char *suffix, double rtol) {
    char name[256], full[300];
    for (int l = 0; l < lora->n_layers; l++) {
        for (int t = 0; t < LC_T_COUNT; t++) {
            if (!(lora->cfg.targets & (1u << t))) continue;
            const lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A) continue; /* layers_to_transform left it out */
            for (int isB = 0; isB < 2; isB++) {
                size_t numel = (size_t)p->r * (isB ? p->out : p->in);
                lc_lora_tensor_name(name, sizeof name, l, (lc_lora_target)t, isB);
                snprintf(full, sizeof full, "%s%s", name, suffix);
                float *ref = oracle_ref_get(st, full, LC_ST_F32, numel);
                if (!ref) return -1;
                const float *got = grads ? (isB ? p->dB : p->dA) : (isB ? p->B : p->A);
                double atol = 0;
                float a;
                snprintf(full, sizeof full, "%s%s_atol", name, suffix);
                if (lc_safetensors_find(st, full) && oracle_ref_scalar_f32(st, full, &a) == 0)
                    atol = a; /* measured by make_refs*.py, >= rtol * max|ref| */
                snprintf(full, sizeof full, "%s%s", short_name(name), grads ? ".grad" : suffix);
                oracle_compare(full, got, ref, numel, rtol, atol);
                free(ref);
            }
        }
    }
    return 0;
}

int oracle_compare_grads(const lc_lora *lora, const lc_safetensors *st, const char *suffix, double rtol) {
    return compare_adapter(lora, st, 1, suffix, rtol);
}

int oracle_open(oracle_case *c, const char *dir, const char *ref_path) {
    memset(c, 0, sizeof *c);
    size_t n = strlen(dir);
    int gguf = n > 5 && !strcmp(dir + n - 5, ".gguf"); /* the same model converted to GGUF */
    if ((gguf ? lc_model_load_gguf(&c->m, dir, NULL) : lc_model_load_hf(&c->m, dir)) != LC_OK ||
        lc_safetensors_open(&c->st, ref_path) != LC_OK) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return -1;
    }
    const lc_st_tensor *tt = lc_safetensors_find(&c->st, "tokens");
    if (!tt || tt->ndim != 2) {
        fprintf(stderr, "%s: 'tokens' missing or not 2-D\n", ref_path);
        return -1;
    }
    c->B = (int)tt->shape[0];
    c->T = (int)tt->shape[1];
    c->V = c->m.cfg.vocab_size;
    const size_t BT = (size_t)c->B * c->T;
    c->tokens = oracle_ref_get(&c->st, "tokens", LC_ST_I32, BT);
    c->targets = oracle_ref_get(&c->st, "targets", LC_ST_I32, BT);
    int32_t *nt_ref = oracle_ref_get(&c->st, "n_targets", LC_ST_I32, 1);
    int32_t *r_ref = oracle_ref_get(&c->st, "meta.r", LC_ST_I32, 1);
    c->n_ref = nt_ref ? nt_ref[0] : 0;
    c->r = r_ref ? r_ref[0] : 0;
    free(nt_ref);
    free(r_ref);
    if (!c->tokens || !c->targets || !c->n_ref || !c->r || oracle_ref_scalar_f32(&c->st, "meta.alpha", &c->alpha) ||
        oracle_ref_scalar_f32(&c->st, "meta.scaling", &c->scaling))
        return -1;
    c->batch = (lc_batch){.tokens = c->tokens, .targets = c->targets, .B = c->B, .T = c->T};
    return 0;
}

/* rank_pattern, alpha_pattern, layers_to_transform, use_rslora from the
 * reference's metadata (JSON, written by make_refs.run_case's lora_kw). */
static int patterns_from_meta(lc_lora_config *cfg, const lc_safetensors *st) {
    static const char *const keys[3] = {"rank_pattern", "alpha_pattern", "layers_to_transform"};
    char *dst[3] = {cfg->rank_pattern, cfg->alpha_pattern, cfg->layers_to_transform};
    for (int i = 0; i < 3; i++) {
        const char *v = lc_safetensors_meta(st, keys[i]);
        if (!v) continue;
        if (strlen(v) >= LC_LORA_PATTERN_MAX) return -1;
        strcpy(dst[i], v);
    }
    const char *rs = lc_safetensors_meta(st, "use_rslora");
    cfg->rslora = rs && !strcmp(rs, "true");
    return 0;
}

/* Every module's scaling against PEFT's ("<module>.scaling", when the
 * reference has them), and as many adapted modules as the reference. */
static void compare_module_scales(const lc_lora *lora, const lc_safetensors *st) {
    char name[256];
    int n_ref = 0, n_got = 0;
    for (int i = 0; i < st->n_tensors; i++) {
        const char *nm = st->tensors[i].name;
        size_t len = strlen(nm), suf = strlen(".lora_A.weight");
        n_ref += len > suf && !strcmp(nm + len - suf, ".lora_A.weight");
    }
    for (int l = 0; l < lora->n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            const lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A) continue;
            n_got++;
            lc_lora_tensor_name(name, sizeof name, l, (lc_lora_target)t, 0);
            strcpy(strstr(name, ".lora_A.weight"), ".scaling");
            if (!lc_safetensors_find(st, name)) continue;
            float ref;
            if (oracle_ref_scalar_f32(st, name, &ref) == 0) oracle_compare_scalar(short_name(name), p->scale, ref, 1e-7);
        }
    char what[96];
    snprintf(what, sizeof what, "adapted modules: lorac %d, PEFT %d", n_got, n_ref);
    oracle_check(n_got == n_ref, what);
}

int oracle_adapter(oracle_case *c) {
    lc_lora_config lcfg = lc_lora_default_config();
    lcfg.r = c->r;
    lcfg.alpha = c->alpha;
    lcfg.dropout = 0;
    if (patterns_from_meta(&lcfg, &c->st)) {
        fprintf(stderr, "reference metadata: a pattern is too long\n");
        return -1;
    }
    if (lc_lora_targets_parse_arch("all-linear", c->m.cfg.arch, &lcfg.targets) != LC_OK) {
        fprintf(stderr, "lc_lora_targets_parse_arch: %s\n", lc_error_msg());
        return -1;
    }
    lc_rng rng;
    lc_rng_seed(&rng, 1);
    if (lc_lora_init(&c->lora, &c->m, &lcfg, &rng) != LC_OK) {
        fprintf(stderr, "lc_lora_init: %s\n", lc_error_msg());
        return -1;
    }
    c->have_lora = 1;
    if (load_adapter(&c->lora, &c->st)) return -1;
    compare_module_scales(&c->lora, &c->st);
    if (lc_acts_create(&c->acts, &c->m, &c->lora, c->B, c->T) != LC_OK) {
        fprintf(stderr, "lc_acts_create: %s\n", lc_error_msg());
        return -1;
    }
    c->logits = malloc((size_t)c->B * c->T * c->V * sizeof(float));
    c->params0 = malloc(c->lora.n_params * sizeof(float));
    if (!c->logits || !c->params0) return -1;
    memcpy(c->params0, c->lora.params, c->lora.n_params * sizeof(float));
    return 0;
}

int oracle_forward_checks(oracle_case *c, int targets_row) {
    lc_lora *lora = &c->lora;
    const size_t BTV = (size_t)c->B * c->T * c->V;
    float *ref = NULL; /* (B*T, V) */
    int rc = -1;

    printf("  %-*s %10s %10s %10s %10s\n", oracle_name_width, "tensor", "max_abs", "max|ref|", "rel", "tol");
    /* 1. forward with the adapter */
    double loss_sum = 0;
    int64_t nt = 0;
    oracle_compare_scalar("lora scale (alpha / r)", lora->scale, c->scaling, 1e-7);
    if (lc_forward(&c->m, lora, 1.0f, c->acts, &c->batch, &loss_sum, &nt, c->logits) != LC_OK) {
        fprintf(stderr, "lc_forward: %s\n", lc_error_msg());
        goto fail;
    }
    if (targets_row) {
        oracle_check(nt == c->n_ref, "lc_forward: number of targets");
    } else if (nt != c->n_ref) {
        fprintf(stderr, "lc_forward: %lld targets, reference has %d\n", (long long)nt, c->n_ref);
        oracle_failures++;
    }
    if (!(ref = oracle_ref_get(&c->st, "logits", LC_ST_F32, BTV))) goto fail;
    oracle_compare("logits", c->logits, ref, BTV, ORACLE_TOL_LOGITS, 0);
    free(ref);
    ref = NULL;
    float loss_ref;
    if (oracle_ref_scalar_f32(&c->st, "loss", &loss_ref)) goto fail;
    oracle_compare_scalar("loss (lc_forward)", loss_sum / (double)nt, loss_ref, ORACLE_TOL_LOSS);

    /* 2. forward + backward */
    lc_lora_zero_grad(lora);
    if (lc_forward_backward(&c->m, lora, c->acts, &c->batch, 1.0f / (float)c->n_ref, 0, &loss_sum, &nt) != LC_OK) {
        fprintf(stderr, "lc_forward_backward: %s\n", lc_error_msg());
        goto fail;
    }
    oracle_compare_scalar("loss (lc_forward_backward)", loss_sum / (double)nt, loss_ref, ORACLE_TOL_LOSS);
    if (compare_adapter(lora, &c->st, 1, ".grad", ORACLE_TOL_GRAD)) goto fail;

    /* 3. base model: no adapter, and adapter with B = 0 */
    if (!(ref = oracle_ref_get(&c->st, "base_logits", LC_ST_F32, BTV))) goto fail;
    if (lc_forward(&c->m, NULL, 1.0f, c->acts, &c->batch, NULL, NULL, c->logits) != LC_OK) {
        fprintf(stderr, "lc_forward (base): %s\n", lc_error_msg());
        goto fail;
    }
    oracle_compare("base_logits (lora = NULL)", c->logits, ref, BTV, ORACLE_TOL_LOGITS, 0);
    for (int l = 0; l < lora->n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (p->B) memset(p->B, 0, (size_t)p->out * p->r * sizeof(float));
        }
    if (lc_forward(&c->m, lora, 1.0f, c->acts, &c->batch, NULL, NULL, c->logits) != LC_OK) {
        fprintf(stderr, "lc_forward (B = 0): %s\n", lc_error_msg());
        goto fail;
    }
    oracle_compare("base_logits (all lora_B = 0)", c->logits, ref, BTV, ORACLE_TOL_LOGITS, 0);
    memcpy(lora->params, c->params0, lora->n_params * sizeof(float));
    rc = 0;
fail:
    free(ref);
    return rc;
}

int oracle_adamw_checks(oracle_case *c) {
    lc_lora *lora = &c->lora;
    float *losses = oracle_ref_get(&c->st, "losses_10", LC_ST_F32, ORACLE_N_STEPS);    /* (10) */
    float *norms = oracle_ref_get(&c->st, "grad_norms_10", LC_ST_F32, ORACLE_N_STEPS); /* (10) */
    int rc = -1;
    if (!losses || !norms) goto fail;
    memset(lora->m, 0, lora->n_params * sizeof(float));
    memset(lora->v, 0, lora->n_params * sizeof(float));
    lc_adamw_params opt = lc_adamw_default_params();
    opt.lr = 1e-2f;
    opt.beta1 = 0.9f;
    opt.beta2 = 0.999f;
    opt.eps = 1e-8f; /* unless the reference says otherwise (make_refs.run_case's adam_eps) */
    if (lc_safetensors_find(&c->st, "meta.adam_eps") && oracle_ref_scalar_f32(&c->st, "meta.adam_eps", &opt.eps)) goto fail;
    opt.weight_decay = 0.01f;
    opt.max_grad_norm = 1.0f;
    opt.loraplus_lr_ratio = 0;
    for (int s = 0; s < ORACLE_N_STEPS; s++) {
        char what[64];
        double loss_sum = 0, gn = 0;
        int64_t nt = 0;
        lc_lora_zero_grad(lora);
        if (lc_forward_backward(&c->m, lora, c->acts, &c->batch, 1.0f / (float)c->n_ref, (uint64_t)s, &loss_sum, &nt) !=
                LC_OK ||
            lc_lora_optimizer_step(lora, &opt, s + 1, &gn) != LC_OK) {
            fprintf(stderr, "step %d: %s\n", s + 1, lc_error_msg());
            goto fail;
        }
        snprintf(what, sizeof what, "step %2d loss", s + 1);
        oracle_compare_scalar(what, loss_sum / (double)nt, losses[s], ORACLE_TOL_LOSS);
        snprintf(what, sizeof what, "step %2d grad norm (pre-clip)", s + 1);
        oracle_compare_scalar(what, gn, norms[s], ORACLE_TOL_NORM);
    }
    if (compare_adapter(lora, &c->st, 0, ".after10", ORACLE_TOL_PARAM)) goto fail;
    rc = 0;
fail:
    free(losses);
    free(norms);
    return rc;
}

void oracle_close(oracle_case *c) {
    free(c->params0);
    free(c->logits);
    free(c->tokens);
    free(c->targets);
    lc_acts_free(c->acts);
    if (c->have_lora) lc_lora_free(&c->lora);
    lc_safetensors_close(&c->st);
    lc_model_free(&c->m);
    memset(c, 0, sizeof *c);
}

/* Row 0 through lc_infer: one prefill, then T/2 prefilled + decoded (see the header). */
int oracle_infer_check(oracle_case *c, const float *ref) {
    lc_infer *s = NULL;
    lc_infer_adapter ad = {&c->lora, 1.0f};
    size_t TV = (size_t)c->T * c->V;
    float *lg = malloc(TV * sizeof(float));
    int h = c->T / 2;
    lc_status st = lg ? lc_infer_create(&s, &c->m, &ad, 1, c->T) : LC_ERR_NOMEM;
    if (!st) st = lc_infer_prefill_all(s, c->tokens, c->T, lg);
    if (!st) oracle_compare("generate: prefill logits of row 0 (lc_infer)", lg, ref, TV, ORACLE_TOL_LOGITS, 0);
    if (!st) lc_infer_rewind(s, 0), st = lc_infer_prefill_all(s, c->tokens, h, lg);
    for (int t = h; !st && t < c->T; t++) st = lc_infer_decode(s, c->tokens[t], lg + (size_t)t * c->V);
    if (!st)
        oracle_compare("generate: decoded logits of row 0 (lc_infer)", lg + (size_t)h * c->V, ref + (size_t)h * c->V,
                       TV - (size_t)h * c->V, ORACLE_TOL_LOGITS, 0);
    lc_infer_free(s);
    free(lg);
    return st ? -1 : 0;
}
