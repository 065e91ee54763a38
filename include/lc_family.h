/*
 * lc_family.h — a model family as data: what a decoder layer is made of
 * (norms, activation, q/k norms, positions and RoPE scaling, attention
 * pattern, embedding and logit treatment, biases, fused projections, LoRA
 * targets, file-format names). lc_family_describe fills one from a model's
 * configuration once, at load (the loaders and lc_model_init_random store it
 * in lc_model.fam); training (transformer.c / gpt2.c), inference (infer.c),
 * merge and export read that description instead of testing the
 * architecture.
 *
 * Each architecture is one row of a table in src/model/family.c plus the
 * per-model bits its config carries (q/k/v biases, tied head, RoPE scaling,
 * sliding window). A description may name something lorac does not compute
 * yet (a post-norm, a soft-cap); lc_family_describe refuses such a
 * combination with LC_ERR_UNSUPPORTED, naming the feature, so every model
 * that loads runs exactly the maths its description says.
 * See docs/architecture.md, "Model families", for how to add a family.
 */
#ifndef LC_FAMILY_H
#define LC_FAMILY_H

#include "lc_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which layer implementation runs the family: the pre-norm RMSNorm/RoPE
 * layer of transformer.c and infer.c, or GPT-2's LayerNorm/learned-position
 * layer (gpt2.c). */
typedef enum { LC_LAYER_ROPE_RMS = 0, LC_LAYER_GPT2 } lc_layer_kind;
typedef enum { LC_NORM_RMS = 0, LC_NORM_LAYER } lc_norm_kind;
/* pre: x + f(norm(x)); post: norm(x + f(x)); sandwich: x + norm(f(norm(x))) (Gemma). */
typedef enum { LC_NORM_PRE = 0, LC_NORM_POST, LC_NORM_SANDWICH } lc_norm_place;
/* SwiGLU: silu(gate) * up; GeGLU: gelu_tanh(gate) * up; GELU: gelu_tanh(fc) (no gate). */
typedef enum { LC_ACT_SWIGLU = 0, LC_ACT_GEGLU_TANH, LC_ACT_GELU_TANH } lc_act_kind;
typedef enum { LC_POS_ROPE = 0, LC_POS_LEARNED } lc_pos_kind;

/* RoPE frequency scaling, as transformers' modeling_rope_utils.py defines it
 * (inv_freq_i = theta^(-2i/hd) before scaling):
 *  - none:   inv_freq unchanged;
 *  - linear: inv_freq / factor;
 *  - llama3: wavelength 2π/inv_freq above original_max_position /
 *            low_freq_factor: inv_freq / factor; below original / high_freq_factor:
 *            unchanged; between: (1 - s) inv_freq / factor + s inv_freq with
 *            s = (original / wavelength - low) / (high - low);
 *  - yarn:   per frequency a ramp between inv_freq / factor (interpolation)
 *            and inv_freq (extrapolation) over the dimensions between the
 *            correction range of beta_fast and beta_slow rotations in
 *            original_max_position; cos and sin multiplied by attn_factor. */
typedef enum { LC_ROPE_NONE = 0, LC_ROPE_LINEAR, LC_ROPE_LLAMA3, LC_ROPE_YARN } lc_rope_scaling_type;
typedef struct {
    lc_rope_scaling_type type;
    float factor;               /* linear, llama3, yarn */
    float low_freq_factor;      /* llama3 */
    float high_freq_factor;     /* llama3 */
    int original_max_position;  /* llama3, yarn: original_max_position_embeddings */
    float beta_fast, beta_slow; /* yarn (HF defaults 32, 1) */
    int truncate;               /* yarn: correction range rounded outwards (HF default true) */
    float attn_factor;          /* yarn: cos/sin multiplier (HF attention_factor / mscale) */
} lc_rope_scaling;
/* "none", "linear", "llama3", "yarn". */
const char *lc_rope_scaling_name(lc_rope_scaling_type t);

typedef struct {
    const char *name;          /* family name, e.g. "llama", "qwen3", "gpt2" */
    lc_layer_kind layer;       /* which implementation runs the layers */
    lc_norm_kind norm;         /* RMSNorm (no bias) or LayerNorm (weight + bias) */
    lc_norm_place norm_place;  /* where the two norms of a layer sit */
    int norm_plus_one;         /* HF norm weights applied as (1 + w) (Gemma): lorac stores 1 + w (loaders
                                * add 1, HF writers subtract it; llama.cpp's GGUF stores 1 + w already) */
    lc_act_kind act;           /* MLP activation */
    int qk_norm;               /* RMSNorm over each q and k head (weight (hd)) before RoPE (Qwen3) */
    lc_pos_kind pos;           /* RoPE (rotate-half) or learned absolute positions */
    lc_rope_scaling rope;      /* frequency scaling (config) */
    int rope_freqs;            /* per-frequency divisors read from the file (GGUF rope_freqs.weight) */
    int sliding_window;        /* 0: global attention on every layer */
    int sliding_pattern;       /* with a window: layer l is global iff (l + 1) % pattern == 0 (Gemma 3: 6),
                                * and the sliding layers use the unscaled local RoPE base (lc_model_config) */
    float attn_scale;          /* score scale; 0 = 1/sqrt(head_dim) */
    float embed_scale;         /* embeddings multiplied by this (1 = none; Gemma √C: -1 in the table) */
    float logit_softcap;       /* final logits cap·tanh(z/cap); 0 = none */
    int tied_head;             /* lm_head shares the token embeddings */
    int qkv_bias;              /* q/k/v projections have biases */
    int all_bias;              /* every linear and norm has a bias (GPT-2) */
    int fused_qkv;             /* one q|k|v projection (GPT-2 c_attn) */
    unsigned lora_targets;     /* bitmask of lc_lora_target the family has */
    const char *hf_arch;       /* HF architectures[0], e.g. "Qwen3ForCausalLM" */
    const char *model_type;    /* HF model_type, e.g. "qwen3" */
    const char *gguf_arch;     /* GGUF general.architecture, NULL: not written by lorac */
    int gguf_permute_qk;       /* llama.cpp stores q/k rows permuted (llama) */
} lc_family;

/* lc_family_describe (lc_model.h) fills one from a model config. */

#ifdef __cplusplus
}
#endif
#endif /* LC_FAMILY_H */
