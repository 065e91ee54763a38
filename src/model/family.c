/*
 * family.c — the table of model families (lc_family.h): one row per
 * architecture with what is fixed for it, completed from the config's
 * per-model fields (biases, tied head, q/k norm, RoPE scaling). Adding a
 * family: a row here, its config keys in the loaders, and any genuinely new
 * kernel (docs/architecture.md, "Model families").
 */
#include "lc_model.h"
#include "lc_kernels.h"
#include "lc_lora.h"

#include <math.h>
#include <string.h>

#define LLAMA_T ((1u << (LC_T_DOWN + 1)) - 1)
#define GPT2_T ((1u << LC_T_C_ATTN) | (1u << LC_T_ATTN_C_PROJ) | (1u << LC_T_C_FC) | (1u << LC_T_MLP_C_PROJ))

/* Fixed per architecture; config-dependent fields are left 0 here. */
static const struct {
    lc_arch arch;
    lc_family f;
} TABLE[] = {
    {LC_ARCH_LLAMA,
     {.name = "llama", .layer = LC_LAYER_ROPE_RMS, .norm = LC_NORM_RMS, .norm_place = LC_NORM_PRE,
      .act = LC_ACT_SWIGLU, .pos = LC_POS_ROPE, .embed_scale = 1.0f, .lora_targets = LLAMA_T,
      .hf_arch = "LlamaForCausalLM", .model_type = "llama", .gguf_arch = "llama", .gguf_permute_qk = 1}},
    {LC_ARCH_MISTRAL,
     {.name = "mistral", .layer = LC_LAYER_ROPE_RMS, .norm = LC_NORM_RMS, .norm_place = LC_NORM_PRE,
      .act = LC_ACT_SWIGLU, .pos = LC_POS_ROPE, .embed_scale = 1.0f, .lora_targets = LLAMA_T,
      .hf_arch = "MistralForCausalLM", .model_type = "mistral", .gguf_arch = "llama", .gguf_permute_qk = 1}},
    {LC_ARCH_QWEN2,
     {.name = "qwen2", .layer = LC_LAYER_ROPE_RMS, .norm = LC_NORM_RMS, .norm_place = LC_NORM_PRE,
      .act = LC_ACT_SWIGLU, .pos = LC_POS_ROPE, .embed_scale = 1.0f, .lora_targets = LLAMA_T,
      .hf_arch = "Qwen2ForCausalLM", .model_type = "qwen2", .gguf_arch = "qwen2", .gguf_permute_qk = 0}},
    {LC_ARCH_QWEN3,
     {.name = "qwen3", .layer = LC_LAYER_ROPE_RMS, .norm = LC_NORM_RMS, .norm_place = LC_NORM_PRE,
      .act = LC_ACT_SWIGLU, .qk_norm = 1, .pos = LC_POS_ROPE, .embed_scale = 1.0f, .lora_targets = LLAMA_T,
      .hf_arch = "Qwen3ForCausalLM", .model_type = "qwen3", .gguf_arch = "qwen3", .gguf_permute_qk = 0}},
    {LC_ARCH_GEMMA3,
     {.name = "gemma3", .layer = LC_LAYER_ROPE_RMS, .norm = LC_NORM_RMS, .norm_place = LC_NORM_SANDWICH,
      .norm_plus_one = 1, .act = LC_ACT_GEGLU_TANH, .qk_norm = 1, .pos = LC_POS_ROPE, .embed_scale = -1.0f /* √C */,
      .lora_targets = LLAMA_T, .hf_arch = "Gemma3ForCausalLM", .model_type = "gemma3_text", .gguf_arch = "gemma3",
      .gguf_permute_qk = 0}},
    {LC_ARCH_GPT2,
     {.name = "gpt2", .layer = LC_LAYER_GPT2, .norm = LC_NORM_LAYER, .norm_place = LC_NORM_PRE,
      .act = LC_ACT_GELU_TANH, .pos = LC_POS_LEARNED, .embed_scale = 1.0f, .all_bias = 1, .fused_qkv = 1,
      .lora_targets = GPT2_T, .hf_arch = "GPT2LMHeadModel", .model_type = "gpt2", .gguf_arch = NULL}},
};
#define N_TABLE ((int)(sizeof TABLE / sizeof TABLE[0]))

const char *lc_rope_scaling_name(lc_rope_scaling_type t) {
    switch (t) {
    case LC_ROPE_NONE: return "none";
    case LC_ROPE_LINEAR: return "linear";
    case LC_ROPE_LLAMA3: return "llama3";
    case LC_ROPE_YARN: return "yarn";
    }
    return "?";
}

/* What each layer implementation computes: anything else is refused. The
 * RoPE/RMSNorm layer computes pre or sandwich RMSNorms ((1 + w) weights are
 * stored as 1 + w at load, so they need nothing here), SwiGLU or GeGLU, any
 * attention scale, scaled embeddings and per-layer sliding windows; not
 * (yet) final-logit soft-capping (Gemma 2; Gemma 3 configs leave it null). */
static lc_status check_supported(const lc_family *f) {
    const char *what = NULL;
    if (f->layer == LC_LAYER_ROPE_RMS) {
        if (f->norm != LC_NORM_RMS) what = "a LayerNorm";
        else if (f->norm_place == LC_NORM_POST) what = "post-norms";
        else if (f->act == LC_ACT_GELU_TANH) what = "an ungated GELU MLP";
        else if (f->pos != LC_POS_ROPE) what = "learned positions";
        else if (f->logit_softcap != 0) what = "final-logit soft-capping";
        else if (f->all_bias || f->fused_qkv) what = "biases on every linear / a fused qkv projection";
    } else if (f->qk_norm || f->rope.type != LC_ROPE_NONE || f->qkv_bias != 1 || !f->tied_head) {
        what = "q/k norms, RoPE scaling or an untied head with GPT-2 layers";
    }
    if (what)
        return lc_errorf(LC_ERR_UNSUPPORTED, "model family %s: %s is described but not implemented", f->name, what);
    return LC_OK;
}

lc_status lc_family_describe(lc_family *f, const lc_model_config *c) {
    memset(f, 0, sizeof *f);
    int i = 0;
    while (i < N_TABLE && TABLE[i].arch != c->arch) i++;
    if (i == N_TABLE) return lc_errorf(LC_ERR_UNSUPPORTED, "no family description for architecture %d", (int)c->arch);
    *f = TABLE[i].f;
    f->tied_head = c->tie_embeddings;
    if (f->layer == LC_LAYER_GPT2) {
        f->qkv_bias = 1;
    } else {
        f->qkv_bias = c->attn_bias;
        f->qk_norm = f->qk_norm || c->qk_norm;
        f->rope = c->rope_scaling;
        f->sliding_window = c->sliding_window;
        if (c->query_pre_attn_scalar > 0) f->attn_scale = 1.0f / sqrtf(c->query_pre_attn_scalar);
        if (f->embed_scale < 0) f->embed_scale = sqrtf((float)c->hidden_size); /* HF: hidden_size**0.5 in float32 */
        f->sliding_pattern = c->sliding_pattern;
        f->logit_softcap = c->final_softcap;
    }
    return check_supported(f);
}

lc_status lc_model_describe(lc_model *m) {
    lc_status st = lc_family_describe(&m->fam, &m->cfg);
    if (!st) m->fam.rope_freqs = m->rope_freqs != NULL;
    return st;
}

void lc_model_rope_table(const lc_model *m, float *cos_t, float *sin_t, int T) {
    const lc_model_config *c = &m->cfg;
    lc_rope_table_scaled(cos_t, sin_t, T, c->head_dim, c->rope_theta, &m->fam.rope, m->rope_freqs);
}

float lc_model_q_scale(const lc_model *m) {
    float s = m->fam.attn_scale;
    return s > 0 ? (float)((double)s * sqrt((double)m->cfg.head_dim)) : 1.0f;
}

int lc_model_layer_window(const lc_model *m, int layer) {
    const lc_family *f = &m->fam;
    if (f->sliding_window <= 0) return 0;
    return f->sliding_pattern > 0 && (layer + 1) % f->sliding_pattern == 0 ? 0 : f->sliding_window;
}

void lc_model_rope_table_local(const lc_model *m, float *cos_t, float *sin_t, int T) {
    lc_rope_table(cos_t, sin_t, T, m->cfg.head_dim, m->cfg.rope_local_theta);
}
