/*
 * lc_lora.h — LoRA adapters on the projections of a frozen lc_model, named
 * and shaped as PEFT stores them: for each targeted module, lora_A (r, in)
 * and lora_B (out, r); the update is  y += scale * (dropout(x) · A^T) · B^T
 * with scale = alpha / r, or alpha / sqrt(r) for rsLoRA.
 *
 * All A/B parameters live in one flat array (params), with gradients (grads)
 * and AdamW moments (m, v) in arrays of the same layout, so the optimizer is
 * one flat loop. Layout: layer-major, then target in lc_lora_target order,
 * then A followed by B (and, with DoRA, the magnitude (out)); with
 * trainable_token_indices the token rows (n, C) come last.
 *
 * GPT-2 (LC_ARCH_GPT2) has its own targets, named as PEFT names its Conv1D
 * modules: c_attn (fused q|k|v: one A (r, C), one B (3C, r)), attn.c_proj,
 * c_fc and mlp.c_proj. As in PEFT, "c_proj" selects both c_proj modules.
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
    LC_T_Q = 0, LC_T_K, LC_T_V, LC_T_O, LC_T_GATE, LC_T_UP, LC_T_DOWN, /* Llama family */
    LC_T_C_ATTN, LC_T_ATTN_C_PROJ, LC_T_C_FC, LC_T_MLP_C_PROJ,           /* GPT-2 */
    LC_T_COUNT
} lc_lora_target;

/* PEFT target_modules name, unique per target: "q_proj", ..., "down_proj",
 * "c_attn", "attn.c_proj", "c_fc", "mlp.c_proj". */
const char *lc_lora_target_name(lc_lora_target t);
/* The frozen weight a target adapts in layer `layer` (q_proj → wq, c_attn →
 * wqkv, ...). */
const lc_weight *lc_lora_target_weight(const lc_model *m, int layer, lc_lora_target t);
/* The parent module in HF naming: "self_attn" or "mlp"; GPT-2: "attn" or "mlp". */
const char *lc_lora_target_parent(lc_lora_target t);
/* Bitmask of the targets a model of architecture `arch` has. */
unsigned lc_lora_arch_targets(lc_arch arch);
/* Parse target_modules for a model of architecture `arch` into a bitmask
 * (1u << target): a comma/space separated list of module names (for GPT-2
 * "c_proj" means both attn.c_proj and mlp.c_proj, as in PEFT; "attn.c_proj"
 * and "mlp.c_proj" pick one), or "all-linear" / "all" = every target of the
 * architecture (PEFT's all-linear: lm_head excluded). A name the architecture
 * does not have is an LC_ERR_CONFIG error that lists the allowed names. */
lc_status lc_lora_targets_parse_arch(const char *spec, lc_arch arch, unsigned *mask);
/* The Llama-family version, for callers that do not know the model yet:
 * "all-linear" / "all" give every target of every architecture (lc_lora_init
 * keeps those of the model's), and names of any architecture are accepted
 * (so a stored GPT-2 target list parses back). */
lc_status lc_lora_targets_parse(const char *spec, unsigned *mask);

#define LC_LORA_PATTERN_MAX 1024 /* bytes of a rank/alpha pattern or layer list (JSON text) */

typedef struct {
    int r;
    float alpha;
    int rslora;          /* scale = alpha / sqrt(r) instead of alpha / r */
    float dropout;       /* on the LoRA input, training only */
    float neftune_alpha; /* NEFTune noise on the input embeddings, training only; 0 = off */
    unsigned targets;    /* bitmask of lc_lora_target */
    int init_gaussian;   /* A ~ N(0, std 1/r) as PEFT "gaussian", instead of kaiming-uniform */
    int use_dora;        /* DoRA (lc_dora.h): a trainable magnitude (out) per targeted module */
    /* PEFT rank_pattern / alpha_pattern: JSON object text {"regex": value, ...}
     * ("" = none). A module named e.g. "model.layers.3.self_attn.q_proj"
     * (GPT-2: "transformer.h.3.attn.c_attn") takes the value of the first key
     * (in order) for which the regex "(.*\.)?(KEY)$" matches the whole name
     * (peft.utils.other.get_pattern_key), else r / alpha. */
    char rank_pattern[LC_LORA_PATTERN_MAX];
    char alpha_pattern[LC_LORA_PATTERN_MAX];
    /* PEFT layers_to_transform as JSON text: an integer or a list of layer
     * indices ("" = every layer). */
    char layers_to_transform[LC_LORA_PATTERN_MAX];
    /* PEFT trainable_token_indices as JSON text: a list of token ids, or
     * {"embed_tokens": [ids]} ("" = none). Those rows of the input embedding
     * (and of a tied LM head) are trained (lc_tokens.h). */
    char trainable_token_indices[LC_LORA_PATTERN_MAX];
    /* Vocabulary added to the base (HF tokenizer.add_tokens(special_tokens=True)
     * + resize_token_embeddings) as a JSON list of strings ("" = none): they
     * take ids V .. V+n-1 of the grown model and are among the trainable
     * tokens above (lc_tokens.h, lc_base_add_tokens). */
    char add_tokens[LC_LORA_PATTERN_MAX];
} lc_lora_config;

lc_lora_config lc_lora_default_config(void); /* r 8, alpha 16, q_proj+v_proj, no dropout */

typedef struct {
    float *A, *B;        /* (r, in), (out, r) into params; NULL if not targeted */
    float *dA, *dB;      /* same offsets into grads */
    float *mag, *dmag;   /* DoRA magnitude (out) = PEFT lora_magnitude_vector and its gradient; NULL without DoRA */
    int in, out;
    int r;               /* this module's rank (rank_pattern, else cfg.r) */
    float scale;         /* its alpha / r (alpha / sqrt(r) for rsLoRA) */
} lc_lora_pair;

/* PEFT trainable tokens (TrainableTokensLayer, src/model/trainable_tokens.c):
 * n rows of the input embedding replaced by trainable values; with a tied
 * head the same rows of the LM head too. */
typedef struct {
    int n;               /* rows trained; 0 = none */
    int C;               /* hidden size */
    int tied;            /* the model's LM head shares the embedding: its rows follow */
    int *ids;            /* (n) token ids in the order given (PEFT token_indices) */
    float *delta;        /* (n, C) the rows' values = PEFT trainable_tokens_delta; into params */
    float *ddelta;       /* (n, C) their gradient; into grads */
} lc_lora_tokens;

typedef struct {
    lc_lora_config cfg;
    float scale;         /* cfg.alpha / cfg.r: the default; each pair has its own */
    int r_max;           /* largest rank of any pair (scratch sizing) */
    int n_layers;
    lc_lora_pair *pairs; /* (n_layers, LC_T_COUNT) */
    size_t n_params;
    float *params, *grads, *m, *v;
    lc_arch arch;        /* of the model it was made for: picks PEFT tensor names */
    lc_lora_tokens tok;  /* trainable_token_indices; its delta is the last n*C floats of params */
} lc_lora;

/* Allocate an adapter for model m with config cfg and initialise it as PEFT
 * does: A kaiming-uniform(a=sqrt(5)) i.e. U(-1/sqrt(in), 1/sqrt(in)), or
 * N(0, std=1/r) when init_gaussian (PEFT init_lora_weights="gaussian"); B = 0.
 * Draws from rng in layout order. Targets the model's architecture does not
 * have are dropped (lora->cfg.targets keeps the rest); none left is an
 * LC_ERR_CONFIG error naming the architecture's targets. */
lc_status lc_lora_init(lc_lora *lora, const lc_model *m, const lc_lora_config *cfg, lc_rng *rng);
void lc_lora_free(lc_lora *lora);
/* PEFT's weight-derived inits (src/model/lora_init.c). */
typedef enum { LC_INIT_PISSA = 1, LC_INIT_OLORA = 2 } lc_lora_init_kind;
/* Re-initialise every module of lora from its frozen weight in m as PEFT's
 * init_lora_weights="pissa" (A = sqrt(S_r/s) Uh_r, B = V_r sqrt(S_r/s), thin
 * SVD W = V S Uh) or "olora" (A = R_r, B = Q_r, QR W = Q R), then replace
 * the weight by the residual W - s·B·A, which makes it an fp32 buffer m owns
 * (copied, dequantised if need be). Factorisations by LAPACK in float64;
 * singular vectors / Householder signs as LAPACK gives them. LC_ERR_CONFIG
 * if a module's r exceeds min(out, in). */
lc_status lc_lora_init_from_weights(lc_lora *lora, lc_model *m, lc_lora_init_kind kind);
/* PEFT's conversion of a PiSSA / OLoRA adapter for the original base
 * (path_initial_model_for_weight_conversion): out (allocated here, free with
 * lc_lora_free) gets rank 2r per module, A = [A'; A0], B = [B', -B0], alpha
 * x2 (x sqrt 2 with rsLoRA) and rank/alpha patterns scaled alike, so each
 * module's scale is unchanged. trained: A', B' trained on the residual;
 * init0 (trained->n_params): A0, B0 in trained's layout; m: the model the
 * adapters are for. */
lc_status lc_lora_convert_to_base(lc_lora *out, const lc_lora *trained, const float *init0, const lc_model *m);
/* Multiply every module's scale (and lora->scale) by mult. */
void lc_lora_scale_by(lc_lora *lora, float mult);
/* PEFT's module name of target t in layer l: "model.layers.3.self_attn.q_proj",
 * GPT-2 "transformer.h.3.mlp.c_proj" (what rank_pattern keys are matched on). */
void lc_lora_module_name(char *buf, size_t size, lc_arch arch, int layer, lc_lora_target t);
/* Check rank_pattern, alpha_pattern and layers_to_transform of cfg: JSON of
 * the right shape, every key a valid regular expression, ranks integers in
 * [1, 65536], alphas finite > 0, layers integers >= 0. LC_ERR_CONFIG naming
 * the key and what was expected. */
lc_status lc_lora_patterns_check(const lc_lora_config *cfg);
/* Rank and alpha of module (layer, t) under cfg's patterns, and whether
 * layers_to_transform lets the module be adapted (*on). */
lc_status lc_lora_module_params(const lc_lora_config *cfg, lc_arch arch, int layer, lc_lora_target t, int *r,
                                float *alpha, int *on);
static inline lc_lora_pair *lc_lora_get(const lc_lora *l, int layer, lc_lora_target t) {
    return &l->pairs[layer * LC_T_COUNT + (int)t];
}
/* PEFT tensor name, e.g. "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight";
 * GPT-2 targets: "base_model.model.transformer.h.3.attn.c_attn.lora_A.weight",
 * "base_model.model.transformer.h.3.mlp.c_proj.lora_B.weight". */
void lc_lora_tensor_name(char *buf, size_t size, int layer, lc_lora_target t, int is_B);
/* PEFT's DoRA magnitude name as saved in adapter_model.safetensors, e.g.
 * "base_model.model.model.layers.3.self_attn.q_proj.lora_magnitude_vector". */
void lc_lora_magnitude_name(char *buf, size_t size, int layer, lc_lora_target t);
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

/* One optimizer step on all LoRA parameters (DoRA magnitudes included, with
 * B's learning rate under LoRA+ as PEFT groups 1-D parameters) from lora->grads: global-norm
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
