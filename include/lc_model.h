/*
 * lc_model.h — a frozen Llama-family base model in memory: its configuration,
 * its weights (fp32 or quantised, possibly memory-mapped), and the forward /
 * backward pass used for LoRA training and inference.
 *
 * Architectures: Llama (Llama 2/3.x with linear / llama3 RoPE scaling,
 * SmolLM/SmolLM2, TinyLlama), Mistral, Qwen2 (q/k/v biases), Qwen3 (per-head
 * q/k RMSNorm, explicit head_dim). RMSNorm, rotate-half RoPE, grouped-query
 * attention, SwiGLU. What a family computes is its description, lc_model.fam
 * (lc_family.h), filled at load.
 * GPT-2 (LC_ARCH_GPT2): LayerNorm with biases, learned absolute position
 * embeddings, fused q|k|v projection, biases on every linear, GELU (tanh
 * approximation) MLP, tied lm_head; it uses the GPT-2 fields marked below and
 * leaves wq/wk/wv/w_gate empty.
 *
 * Gemma 3 (LC_ARCH_GEMMA3): sandwich RMSNorms (four per layer), GeGLU,
 * q/k norm, embeddings × √C, sliding-window layers with their own RoPE base
 * (the config fields below).
 *
 * Loaders (lc_loader.h for HF directories, lc_gguf.h for GGUF) fill an
 * lc_model; the weights here are always in HF orientation and HF q/k row order.
 * Norm weights are stored as the multiplier the RMSNorm applies: Gemma's HF
 * weights w (applied as 1 + w) are stored as 1 + w (computed in float32, as
 * HF does), llama.cpp's Gemma GGUF already stores 1 + w; writers of HF files
 * subtract 1 again (lc_family.norm_plus_one).
 */
#ifndef LC_MODEL_H
#define LC_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "lc_common.h"
#include "lc_family.h"
#include "lc_quant.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LC_ARCH_LLAMA = 0,
    LC_ARCH_MISTRAL,
    LC_ARCH_QWEN2,
    LC_ARCH_GPT2,
    LC_ARCH_QWEN3,
    LC_ARCH_GEMMA3,
} lc_arch;

const char *lc_arch_name(lc_arch a); /* HF architecture name, e.g. "LlamaForCausalLM" */

typedef struct lc_model_config {
    lc_arch arch;
    int vocab_size;        /* V */
    int hidden_size;       /* C */
    int intermediate_size; /* F */
    int n_layers;          /* L */
    int n_heads;           /* Hq */
    int n_kv_heads;        /* Hkv (divides Hq) */
    int head_dim;          /* hd (usually C / Hq) */
    int max_position;      /* max_position_embeddings */
    float rms_eps;
    float rope_theta;
    int tie_embeddings;    /* lm_head shares tok_emb */
    int attn_bias;         /* q/k/v projections have biases (Qwen2) */
    int qk_norm;           /* RMSNorm on each q/k head before RoPE (Qwen3: always) */
    lc_rope_scaling rope_scaling; /* rope_scaling of config.json (type none: unscaled) */
    int bos_id, eos_id;    /* -1 if unknown */
    /* Gemma 3 (0 for the other families): local layers attend to the last
     * sliding_window positions (key s visible from query t iff t - s <
     * window, HF's sliding_window_overlay) and use rope_local_theta
     * (unscaled); every sliding_pattern-th layer (i + 1 divisible by it) is
     * global with rope_theta and rope_scaling. Scores are scaled by
     * query_pre_attn_scalar^-1/2 (0: head_dim^-1/2); final logits are
     * soft-capped cap·tanh(z / cap) when final_softcap > 0. */
    int sliding_window;
    int sliding_pattern;
    float rope_local_theta;
    float query_pre_attn_scalar;
    float final_softcap;
    /* GPT-2 only: LayerNorm epsilon (layer_norm_epsilon). max_position is
     * n_positions (rows of pos_emb); F = n_inner; rms_eps, rope_theta unused. */
    float layer_norm_eps;
} lc_model_config;

/* A frozen weight matrix, row-major (rows = out features, cols = in features).
 * data is float* for LC_DT_F32, else ggml-layout blocks, row after row. */
typedef struct {
    lc_dtype type;
    int rows, cols;
    const void *data;
} lc_weight;

typedef struct {
    float *attn_norm;                  /* (C) */
    lc_weight wq;                      /* (Hq*hd, C) */
    lc_weight wk;                      /* (Hkv*hd, C) */
    lc_weight wv;                      /* (Hkv*hd, C) */
    lc_weight wo;                      /* (C, Hq*hd) */
    float *bq, *bk, *bv;               /* (Hq*hd), (Hkv*hd), (Hkv*hd); NULL unless attn_bias */
    float *q_norm, *k_norm;            /* (hd) each; NULL unless qk_norm */
    float *mlp_norm;                   /* (C) */
    /* Sandwich-norm families (Gemma 3), NULL otherwise: RMSNorm of the
     * attention output and of the MLP output before each residual add. */
    float *post_attn_norm, *post_mlp_norm; /* (C) */
    lc_weight w_gate;                  /* (F, C) */
    lc_weight w_up;                    /* (F, C) */
    lc_weight w_down;                  /* (C, F) */
    /* GPT-2 only (NULL / empty otherwise). attn_norm, mlp_norm are the
     * ln_1, ln_2 weights; wo = attn.c_proj, w_up = mlp.c_fc, w_down =
     * mlp.c_proj, all transposed from HF's Conv1D (in, out) into (out, in). */
    float *attn_norm_b, *mlp_norm_b;   /* (C) ln_1, ln_2 biases */
    lc_weight wqkv;                    /* (3C, C) attn.c_attn: rows q | k | v */
    float *bqkv;                       /* (3C) */
    float *bo;                         /* (C) attn.c_proj bias */
    float *b_up;                       /* (F) mlp.c_fc bias */
    float *b_down;                     /* (C) mlp.c_proj bias */
} lc_layer;

/* Memory the model owns: malloc'd blocks and mmap'd regions, freed together. */
typedef struct {
    void *ptr;
    size_t size;
    int is_mmap;
} lc_buffer;

typedef struct {
    lc_model_config cfg;
    lc_weight tok_emb;    /* (V, C) */
    lc_layer *layers;     /* L */
    float *final_norm;    /* (C) */
    lc_weight lm_head;    /* (V, C); same data as tok_emb when tied */
    char source[1024];    /* path it was loaded from */
    char identity[65];    /* hex SHA-256-like digest of config + weights (lc_model_identity) */
    lc_buffer *buffers;
    int n_buffers, cap_buffers;
    /* GPT-2 only (empty / NULL otherwise) */
    lc_weight pos_emb;    /* (max_position, C) learned position embeddings (wpe) */
    float *final_norm_b;  /* (C) ln_f bias; final_norm is ln_f's weight */
    /* The family description (lc_family.h), filled at load from cfg. */
    lc_family fam;
    float *rope_freqs;    /* (hd/2) GGUF rope_freqs.weight divisors of inv_freq, or NULL */
} lc_model;

/* Fill f from c (c->arch selects the row of the family table, c's
 * per-model fields the rest). LC_ERR_UNSUPPORTED naming the feature when the
 * description holds something no layer implementation computes. */
lc_status lc_family_describe(lc_family *f, const lc_model_config *c);
/* m->fam = the description of m->cfg (loaders call it once, after the
 * config and before the weights; rope_freqs set later updates fam). */
lc_status lc_model_describe(lc_model *m);
/* cos, sin (T, hd/2): the RoPE table of m's family (theta, scaling, GGUF
 * rope_freqs), HF's float32 arithmetic (lc_rope_table_scaled). */
void lc_model_rope_table(const lc_model *m, float *cos_t, float *sin_t, int T);
/* The factor q is multiplied by after RoPE so that an attention kernel's
 * 1/√hd gives the family's score scale: 1 unless attn_scale is set (Gemma's
 * query_pre_attn_scalar^-1/2 · √hd). Training and inference both use it. */
float lc_model_q_scale(const lc_model *m);
/* The sliding window of layer l (0: global attention), from m->fam. */
int lc_model_layer_window(const lc_model *m, int layer);
/* cos, sin (T, hd/2) of the sliding layers: base rope_local_theta, unscaled. */
void lc_model_rope_table_local(const lc_model *m, float *cos_t, float *sin_t, int T);

/* Add delta to every RMSNorm weight of m (layer norms, q/k norms, final
 * norm), in float32: the loaders of (1 + w) families (lc_family.norm_plus_one)
 * add 1 to HF's weights. The weights must be writable (owned copies). */
void lc_model_norms_add(lc_model *m, float delta);
/* Take ownership of a buffer (freed by lc_model_free). Returns LC_OK or LC_ERR_NOMEM. */
lc_status lc_model_own(lc_model *m, void *ptr, size_t size, int is_mmap);
/* Free everything the model owns and zero it. Safe on a zeroed model. */
void lc_model_free(lc_model *m);
/* Check the config is self-consistent (heads divide, sizes positive; for
 * GPT-2: n_kv_heads == n_heads, head_dim * n_heads == C, tied, eps > 0). */
lc_status lc_model_config_validate(const lc_model_config *c);
/* Parameter count of the base model (tied embeddings counted once; GPT-2:
 * with position embeddings and every bias, as HF's num_parameters()). */
int64_t lc_model_param_count(const lc_model *m);
/* Convert every quantised / half-precision weight to owned fp32 (memory grows
 * to 4 bytes per weight; the mapped originals stay mapped). */
lc_status lc_model_dequantize_all(lc_model *m);
/* precision bf16: store the seven projection weights of every layer (q, k, v,
 * o, gate, up, down) as owned bf16 (rounded to nearest even) when they are
 * F32 or F16; BF16 and quantised weights stay as they are, embeddings, norms
 * and the LM head stay fp32. Memory of the originals is given back: owned
 * blocks no tensor uses any more are freed, mapped pages are dropped from the
 * resident set (the file stays mapped). Llama family only (LC_ERR_UNSUPPORTED
 * for GPT-2). */
lc_status lc_model_frozen_to_bf16(lc_model *m);
/* A model with the given config and random fp32 weights (N(0, std) matrices,
 * norm weights 1 + N(0, std), biases N(0, std)), for benchmarks, tests and the
 * built-in demo when no real model is at hand. GPT-2 configs get every GPT-2
 * tensor (position embeddings, fused qkv, all biases). */
lc_status lc_model_init_random(lc_model *m, const lc_model_config *cfg, float std, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif /* LC_MODEL_H */
