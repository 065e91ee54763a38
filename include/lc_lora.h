/*
 * lc_lora.h — LoRA adapters on the projections of a frozen lc_model, named
 * and shaped as PEFT stores them: for each targeted module, lora_A (r, in)
 * and lora_B (out, r); the update is  y += scale * (dropout(x) · A^T) · B^T
 * with scale = alpha / r, or alpha / sqrt(r) for rsLoRA.
 *
 * All A/B parameters live in one flat array (params), with gradients (grads)
 * and AdamW moments (m, v) in arrays of the same layout, so the optimizer is
 * one flat loop. Layout: layer-major, then target in lc_lora_target order,
 * then A followed by B.
 */
#ifndef LC_LORA_H
#define LC_LORA_H

#include <stddef.h>
#include <stdint.h>

#include "lc_common.h"
#include "lc_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LC_T_Q = 0, LC_T_K, LC_T_V, LC_T_O, LC_T_GATE, LC_T_UP, LC_T_DOWN, LC_T_COUNT
} lc_lora_target;

/* PEFT module names: "q_proj", "k_proj", ... */
const char *lc_lora_target_name(lc_lora_target t);
/* "self_attn" or "mlp": the parent module in HF naming. */
const char *lc_lora_target_parent(lc_lora_target t);
/* Parse "q_proj,v_proj", "all-linear" or "all" into a bitmask (1u << target). */
lc_status lc_lora_targets_parse(const char *spec, unsigned *mask);

typedef struct {
    int r;
    float alpha;
    int rslora;          /* scale = alpha / sqrt(r) instead of alpha / r */
    float dropout;       /* on the LoRA input, training only */
    unsigned targets;    /* bitmask of lc_lora_target */
    int init_gaussian;   /* A ~ N(0, std 1/r) as PEFT "gaussian", instead of kaiming-uniform */
} lc_lora_config;

lc_lora_config lc_lora_default_config(void); /* r 8, alpha 16, q_proj+v_proj, no dropout */

typedef struct {
    float *A, *B;        /* (r, in), (out, r) into params; NULL if not targeted */
    float *dA, *dB;      /* same offsets into grads */
    int in, out;
} lc_lora_pair;

typedef struct {
    lc_lora_config cfg;
    float scale;
    int n_layers;
    lc_lora_pair *pairs; /* (n_layers, LC_T_COUNT) */
    size_t n_params;
    float *params, *grads, *m, *v;
} lc_lora;

/* Allocate an adapter for model m with config cfg and initialise it as PEFT
 * does: A kaiming-uniform(a=sqrt(5)) i.e. U(-1/sqrt(in), 1/sqrt(in)), or
 * N(0, std=1/r) when init_gaussian (PEFT init_lora_weights="gaussian"); B = 0.
 * Draws from rng in layout order. */
lc_status lc_lora_init(lc_lora *lora, const lc_model *m, const lc_lora_config *cfg, lc_rng *rng);
void lc_lora_free(lc_lora *lora);
static inline lc_lora_pair *lc_lora_get(const lc_lora *l, int layer, lc_lora_target t) {
    return &l->pairs[layer * LC_T_COUNT + (int)t];
}
/* PEFT tensor name, e.g. "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight". */
void lc_lora_tensor_name(char *buf, size_t size, int layer, lc_lora_target t, int is_B);
/* Zero the gradient array. */
void lc_lora_zero_grad(lc_lora *lora);

typedef struct {
    float lr;
    float beta1, beta2, eps;
    float weight_decay;
    float max_grad_norm;      /* <= 0: no clipping */
    float loraplus_lr_ratio;  /* LoRA+: B's lr = lr * ratio; <= 0 or 1: plain */
} lc_adamw_params;

lc_adamw_params lc_adamw_default_params(void); /* lr 2e-4, betas (0.9, 0.999), eps 1e-8, wd 0, clip 1.0 */

/* One optimizer step on all LoRA parameters from lora->grads: global-norm
 * clipping (torch.nn.utils.clip_grad_norm_ semantics: coef = max_norm /
 * (norm + 1e-6), applied when coef < 1), then AdamW with bias correction at
 * 1-based step t. *grad_norm receives the pre-clip norm. If any gradient is
 * NaN/inf, nothing is updated and LC_ERR_NUMERIC is returned. */
lc_status lc_lora_optimizer_step(lc_lora *lora, const lc_adamw_params *p, long t,
                                 double *grad_norm);

#ifdef __cplusplus
}
#endif
#endif /* LC_LORA_H */
