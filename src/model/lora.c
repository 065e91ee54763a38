/*
 * lora.c — LoRA adapter parameters for an lc_model: PEFT names and shapes
 * (Llama family and GPT-2), target_modules parsing, initialisation, and the optimizer step (global-norm clipping + AdamW, with
 * LoRA+ learning-rate ratio for B). Per-module rank and alpha (rank_pattern,
 * alpha_pattern, layers_to_transform) are resolved in lora_pattern.c.
 */
#include "lc_lora.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_dora.h"
#include "lc_kernels.h"
#include "lc_tokens.h"

static const char *TARGET_NAMES[LC_T_COUNT] = {"q_proj",    "k_proj",  "v_proj",      "o_proj",
                                               "gate_proj", "up_proj", "down_proj",   "c_attn",
                                               "attn.c_proj", "c_fc",  "mlp.c_proj"};
/* Module name alone, as in the PEFT tensor name (after the parent). */
static const char *LEAF_NAMES[LC_T_COUNT] = {"q_proj",    "k_proj",  "v_proj", "o_proj", "gate_proj", "up_proj",
                                             "down_proj", "c_attn", "c_proj", "c_fc",   "c_proj"};

#define LLAMA_TARGETS ((1u << (LC_T_DOWN + 1)) - 1)
#define GPT2_TARGETS ((1u << LC_T_C_ATTN) | (1u << LC_T_ATTN_C_PROJ) | (1u << LC_T_C_FC) | (1u << LC_T_MLP_C_PROJ))
#define C_PROJ_BOTH ((1u << LC_T_ATTN_C_PROJ) | (1u << LC_T_MLP_C_PROJ))

const lc_weight *lc_lora_target_weight(const lc_model *m, int layer, lc_lora_target t) {
    const lc_layer *L = &m->layers[layer];
    switch (t) {
    case LC_T_Q: return &L->wq;
    case LC_T_K: return &L->wk;
    case LC_T_V: return &L->wv;
    case LC_T_O: return &L->wo;
    case LC_T_GATE: return &L->w_gate;
    case LC_T_UP: return &L->w_up;
    case LC_T_DOWN: return &L->w_down;
    case LC_T_C_ATTN: return &L->wqkv;
    case LC_T_ATTN_C_PROJ: return &L->wo;
    case LC_T_C_FC: return &L->w_up;
    case LC_T_MLP_C_PROJ: return &L->w_down;
    default: LC_ASSERT(!"bad LoRA target");
    }
    return NULL;
}

const char *lc_lora_target_name(lc_lora_target t) {
    return ((int)t >= 0 && t < LC_T_COUNT) ? TARGET_NAMES[t] : "?";
}

const char *lc_lora_target_parent(lc_lora_target t) {
    if (t >= LC_T_C_ATTN) return t <= LC_T_ATTN_C_PROJ ? "attn" : "mlp";
    return t <= LC_T_O ? "self_attn" : "mlp";
}

unsigned lc_lora_arch_targets(lc_arch arch) { return arch == LC_ARCH_GPT2 ? GPT2_TARGETS : LLAMA_TARGETS; }

/* "q_proj, k_proj, ..." for the targets in mask (c_proj written once as "c_proj"). */
static void allowed_names(char *buf, size_t size, unsigned mask) {
    size_t n = 0;
    buf[0] = 0;
    for (int t = 0; t < LC_T_COUNT && n < size; t++) {
        if (!(mask & (1u << t))) continue;
        n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", TARGET_NAMES[t]);
        if (t == LC_T_ATTN_C_PROJ && n < size) n += (size_t)snprintf(buf + n, size - n, ", c_proj");
    }
}

/* Targets named `name` (n bytes): one bit, both c_proj bits for "c_proj", or 0. */
static unsigned name_bits(const char *name, size_t n) {
    if (n == 6 && !strncmp(name, "c_proj", 6)) return C_PROJ_BOTH;
    for (int t = 0; t < LC_T_COUNT; t++)
        if (strlen(TARGET_NAMES[t]) == n && !strncmp(name, TARGET_NAMES[t], n)) return 1u << t;
    return 0;
}

/* Shared parser: names must be among `allowed`; all-linear gives `all`. */
static lc_status parse_targets(const char *spec, unsigned allowed, unsigned all, const char *arch_desc,
                               unsigned *mask) {
    char names[256];
    *mask = 0;
    if (!spec || !*spec) return lc_errorf(LC_ERR_CONFIG, "target_modules is empty");
    if (!strcmp(spec, "all-linear") || !strcmp(spec, "all")) {
        *mask = all;
        return LC_OK;
    }
    const char *p = spec;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        size_t n = strcspn(p, ", ");
        unsigned bits = name_bits(p, n);
        if (!bits || (bits & ~allowed)) {
            allowed_names(names, sizeof names, allowed);
            return lc_errorf(LC_ERR_CONFIG, "target_modules: %s module '%.*s' (allowed%s: %s, or all-linear)",
                             bits ? "no" : "unknown", (int)n, p, arch_desc, names);
        }
        *mask |= bits;
        p += n;
    }
    if (!*mask) return lc_errorf(LC_ERR_CONFIG, "target_modules '%s' names no module", spec);
    return LC_OK;
}

lc_status lc_lora_targets_parse_arch(const char *spec, lc_arch arch, unsigned *mask) {
    char desc[96];
    unsigned allowed = lc_lora_arch_targets(arch);
    snprintf(desc, sizeof desc, " for %s", lc_arch_name(arch));
    return parse_targets(spec, allowed, allowed, desc, mask);
}

lc_status lc_lora_targets_parse(const char *spec, unsigned *mask) {
    return parse_targets(spec, LLAMA_TARGETS | GPT2_TARGETS, LLAMA_TARGETS | GPT2_TARGETS, "", mask);
}

lc_lora_config lc_lora_default_config(void) {
    return (lc_lora_config){.r = 8, .alpha = 16.0f, .rslora = 0, .dropout = 0.0f,
                            .targets = (1u << LC_T_Q) | (1u << LC_T_V), .init_gaussian = 0};
}

lc_adamw_params lc_adamw_default_params(void) {
    return (lc_adamw_params){.lr = 2e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                             .weight_decay = 0.0f, .max_grad_norm = 1.0f, .loraplus_lr_ratio = 0.0f};
}

/* (in, out) features of a target projection. */
static void target_dims(const lc_model_config *c, lc_lora_target t, int *in, int *out) {
    int C = c->hidden_size, F = c->intermediate_size;
    int q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;
    switch (t) {
    case LC_T_C_ATTN: *in = C; *out = 3 * C; break;
    case LC_T_ATTN_C_PROJ: *in = C; *out = C; break;
    case LC_T_C_FC: *in = C; *out = F; break;
    case LC_T_MLP_C_PROJ: *in = F; *out = C; break;
    case LC_T_Q: *in = C; *out = q; break;
    case LC_T_K: *in = C; *out = kv; break;
    case LC_T_V: *in = C; *out = kv; break;
    case LC_T_O: *in = q; *out = C; break;
    case LC_T_GATE: *in = C; *out = F; break;
    case LC_T_UP: *in = C; *out = F; break;
    default: *in = F; *out = C; break;
    }
}

/* PEFT's scaling: alpha / r, or alpha / sqrt(r) with use_rslora. */
static float module_scale(const lc_lora_config *cfg, int r, float alpha) {
    return cfg->rslora ? alpha / sqrtf((float)r) : alpha / (float)r;
}

/* The checks of a LoRA config against the model before anything is made;
 * *have gets the modules the model's architecture offers. */
static lc_status lora_check_config(const lc_model *m, const lc_lora_config *cfg, unsigned *have_out) {
    if (cfg->r <= 0) return lc_errorf(LC_ERR_CONFIG, "LoRA rank r must be > 0 (got %d)", cfg->r);
    if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f))
        return lc_errorf(LC_ERR_CONFIG, "LoRA dropout must be in [0, 1) (got %g)", cfg->dropout);
    if (!cfg->targets) return lc_errorf(LC_ERR_CONFIG, "LoRA targets no module");
    unsigned have = lc_lora_arch_targets(m->cfg.arch);
    if (!(cfg->targets & have)) {
        char names[256];
        allowed_names(names, sizeof names, have);
        return lc_errorf(LC_ERR_CONFIG, "LoRA target_modules name no module of a %s model (its modules: %s)",
                         lc_arch_name(m->cfg.arch), names);
    }
    if (cfg->use_dora && m->cfg.arch == LC_ARCH_GPT2)
        return lc_errorf(LC_ERR_UNSUPPORTED, "use_dora: DoRA is implemented for the Llama family only, not GPT-2 "
                                             "(set use_dora: false)");
    *have_out = have;
    return lc_lora_patterns_check(cfg);
}

/* Each module's rank, scale, shape and whether layers_to_transform keeps it;
 * *total gets the number of parameters (A, B and DoRA magnitudes). */
static lc_status lora_plan_modules(lc_lora *lora, const lc_model *m, size_t *total_out) {
    const lc_lora_config *cfg = &lora->cfg;
    int L = m->cfg.n_layers;
    size_t total = 0;
    int any = 0;
    for (int l = 0; l < L; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            if (!(cfg->targets & (1u << t))) continue;
            lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            int on;
            float alpha;
            lc_status st = lc_lora_module_params(cfg, m->cfg.arch, l, (lc_lora_target)t, &p->r, &alpha, &on);
            if (st) return st;
            if (!on) {
                p->r = 0;
                continue;
            }
            any = 1;
            p->scale = module_scale(cfg, p->r, alpha);
            if (p->r > lora->r_max) lora->r_max = p->r;
            target_dims(&m->cfg, (lc_lora_target)t, &p->in, &p->out);
            total += (size_t)p->r * p->in + (size_t)p->out * p->r + (cfg->use_dora ? (size_t)p->out : 0);
        }
    if (!any)
        return lc_errorf(LC_ERR_CONFIG, "layers_to_transform %s selects no layer of the model's %d",
                         cfg->layers_to_transform, L);
    *total_out = total;
    return LC_OK;
}

/* Point every module's A, B (and DoRA magnitude) into the parameter block
 * and draw A: Gaussian / r or PEFT's Kaiming-uniform bound 1/sqrt(in); B
 * stays zero. Returns the floats used. */
static size_t lora_carve_and_draw(lc_lora *lora, lc_rng *rng) {
    const lc_lora_config *cfg = &lora->cfg;
    size_t off = 0;
    for (int l = 0; l < lora->n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->r) continue;
            int r = p->r;
            p->A = lora->params + off;
            p->dA = lora->grads + off;
            off += (size_t)r * p->in;
            p->B = lora->params + off;
            p->dB = lora->grads + off;
            off += (size_t)p->out * r;
            if (cfg->use_dora) { /* set by lc_dora_init_magnitude */
                p->mag = lora->params + off;
                p->dmag = lora->grads + off;
                off += (size_t)p->out;
            }
            size_t nA = (size_t)r * p->in;
            if (cfg->init_gaussian) {
                for (size_t i = 0; i < nA; i++) p->A[i] = lc_rng_normal(rng) / (float)r;
            } else {
                float bound = 1.0f / sqrtf((float)p->in);
                for (size_t i = 0; i < nA; i++) p->A[i] = (2.0f * lc_rng_uniform(rng) - 1.0f) * bound;
            }
        }
    return off;
}

lc_status lc_lora_init(lc_lora *lora, const lc_model *m, const lc_lora_config *cfg, lc_rng *rng) {
    memset(lora, 0, sizeof *lora);
    unsigned have = 0;
    lc_status st = lora_check_config(m, cfg, &have);
    if (st) return st;
    lora->cfg = *cfg;
    lora->cfg.targets = cfg->targets & have;
    lora->arch = m->cfg.arch;
    cfg = &lora->cfg;
    lora->scale = module_scale(cfg, cfg->r, cfg->alpha);
    lora->n_layers = m->cfg.n_layers;
    int L = m->cfg.n_layers;
    lora->pairs = calloc((size_t)L * LC_T_COUNT, sizeof *lora->pairs);
    if (!lora->pairs) return lc_errorf(LC_ERR_NOMEM, "out of memory for LoRA tables");
    size_t total = 0, ntok = 0;
    if ((st = lora_plan_modules(lora, m, &total)) || (st = lc_tokens_plan(lora, m, &ntok))) {
        lc_lora_free(lora);
        return st;
    }
    total += ntok; /* trainable token rows last */
    lora->n_params = total;
    lora->params = lc_calloc(total * sizeof(float));
    lora->grads = lc_calloc(total * sizeof(float));
    lora->m = lc_calloc(total * sizeof(float));
    lora->v = lc_calloc(total * sizeof(float));
    if (!lora->params || !lora->grads || !lora->m || !lora->v) {
        lc_lora_free(lora);
        return lc_errorf(LC_ERR_NOMEM, "out of memory for %zu LoRA parameters", total);
    }
    size_t off = lora_carve_and_draw(lora, rng);
    lc_tokens_carve(lora, m, off);
    LC_ASSERT(off + ntok == total);
    if (cfg->use_dora && (st = lc_dora_init_magnitude(lora, m))) {
        lc_lora_free(lora);
        return st;
    }
    return LC_OK;
}

void lc_lora_free(lc_lora *lora) {
    if (!lora) return;
    free(lora->pairs);
    lc_tokens_free(&lora->tok);
    lc_free(lora->params);
    lc_free(lora->grads);
    lc_free(lora->m);
    lc_free(lora->v);
    memset(lora, 0, sizeof *lora);
}

void lc_lora_scale_by(lc_lora *lora, float mult) {
    lora->scale *= mult;
    for (int i = 0; i < lora->n_layers * LC_T_COUNT; i++) lora->pairs[i].scale *= mult;
}

void lc_lora_tensor_name(char *buf, size_t size, int layer, lc_lora_target t, int is_B) {
    const char *leaf = ((int)t >= 0 && t < LC_T_COUNT) ? LEAF_NAMES[t] : "?";
    const char *fmt = t >= LC_T_C_ATTN ? "base_model.model.transformer.h.%d.%s.%s.lora_%s.weight"
                                       : "base_model.model.model.layers.%d.%s.%s.lora_%s.weight";
    snprintf(buf, size, fmt, layer, lc_lora_target_parent(t), leaf, is_B ? "B" : "A");
}

void lc_lora_magnitude_name(char *buf, size_t size, int layer, lc_lora_target t) {
    const char *leaf = ((int)t >= 0 && t < LC_T_COUNT) ? LEAF_NAMES[t] : "?";
    const char *fmt = t >= LC_T_C_ATTN ? "base_model.model.transformer.h.%d.%s.%s.lora_magnitude_vector"
                                       : "base_model.model.model.layers.%d.%s.%s.lora_magnitude_vector";
    snprintf(buf, size, fmt, layer, lc_lora_target_parent(t), leaf);
}

void lc_lora_zero_grad(lc_lora *lora) { memset(lora->grads, 0, lora->n_params * sizeof(float)); }

lc_status lc_lora_optimizer_step(lc_lora *lora, const lc_adamw_params *p, long t, double *grad_norm) {
    double ss = lc_sum_squares(lora->grads, lora->n_params);
    double norm = sqrt(ss);
    if (grad_norm) *grad_norm = norm;
    if (!isfinite(norm))
        return lc_errorf(LC_ERR_NUMERIC, "gradient norm is %g at step %ld: step skipped", norm, t);
    if (p->max_grad_norm > 0) {
        /* torch.nn.utils.clip_grad_norm_: coef computed in float32 */
        float coef = (float)(p->max_grad_norm / (float)(norm + 1e-6));
        if (coef < 1.0f) lc_scale(lora->grads, lora->n_params, coef);
    }
    float ratio = (p->loraplus_lr_ratio > 0) ? p->loraplus_lr_ratio : 1.0f;
    for (int l = 0; l < lora->n_layers; l++)
        for (int k = 0; k < LC_T_COUNT; k++) {
            lc_lora_pair *q = lc_lora_get(lora, l, (lc_lora_target)k);
            if (!q->A) continue;
            size_t oA = (size_t)(q->A - lora->params), nA = (size_t)q->r * q->in;
            size_t oB = (size_t)(q->B - lora->params), nB = (size_t)q->out * q->r;
            lc_adamw_step(q->A, q->dA, lora->m + oA, lora->v + oA, nA, p->lr, p->beta1, p->beta2,
                          p->eps, p->weight_decay, t);
            lc_adamw_step(q->B, q->dB, lora->m + oB, lora->v + oB, nB, p->lr * ratio, p->beta1,
                          p->beta2, p->eps, p->weight_decay, t);
            if (q->mag) { /* PEFT's LoRA+ puts 1-D parameters in B's group */
                size_t oM = (size_t)(q->mag - lora->params);
                lc_adamw_step(q->mag, q->dmag, lora->m + oM, lora->v + oM, (size_t)q->out, p->lr * ratio, p->beta1,
                              p->beta2, p->eps, p->weight_decay, t);
            }
        }
    if (lora->tok.n) { /* PEFT's LoRA+ puts trainable_tokens_delta in A's group; Trainer decays it */
        size_t oT = (size_t)(lora->tok.delta - lora->params), nT = (size_t)lora->tok.n * lora->tok.C;
        lc_adamw_step(lora->tok.delta, lora->tok.ddelta, lora->m + oT, lora->v + oT, nT, p->lr, p->beta1, p->beta2,
                      p->eps, p->weight_decay, t);
    }
    return LC_OK;
}
