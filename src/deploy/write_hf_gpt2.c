/*
 * write_hf_gpt2.c — what a merged GPT-2 (GPT2LMHeadModel) HF directory holds
 * beyond write_hf.c's common part: GPT2Config's keys, and the tensor list as
 * transformers saves it (the inverse of src/loader/hf_gpt2.c):
 *   transformer.wte.weight (V, C)   transformer.wpe.weight (P, C)
 *   transformer.h.N.ln_1.{weight,bias} (C)   transformer.h.N.ln_2.{weight,bias} (C)
 *   transformer.h.N.attn.c_attn.weight (C, 3C) .bias (3C)
 *   transformer.h.N.attn.c_proj.weight (C, C)  .bias (C)
 *   transformer.h.N.mlp.c_fc.weight    (C, F)  .bias (F)
 *   transformer.h.N.mlp.c_proj.weight  (F, C)  .bias (C)
 *   transformer.ln_f.{weight,bias} (C)
 * The four projections are Conv1D, stored (in, out): lorac's (out, in)
 * weights are written transposed. lm_head is tied to wte and not written.
 */
#include <stdio.h>

#include "deploy_internal.h"

void dp_hf_gpt2_config(json_t *root, const lc_model *m) {
    const lc_model_config *c = &m->cfg;
    json_t *arch = json_array();
    json_array_append_new(arch, json_string(m->fam.hf_arch));
    json_object_set_new(root, "architectures", arch);
    json_object_set_new(root, "model_type", json_string(m->fam.model_type));
    json_object_set_new(root, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(root, "n_embd", json_integer(c->hidden_size));
    json_object_set_new(root, "n_layer", json_integer(c->n_layers));
    json_object_set_new(root, "n_head", json_integer(c->n_heads));
    json_object_set_new(root, "n_positions", json_integer(c->max_position));
    json_object_set_new(root, "n_inner", json_integer(c->intermediate_size));
    json_object_set_new(root, "layer_norm_epsilon", json_real(dp_float_short(c->layer_norm_eps)));
    json_object_set_new(root, "activation_function", json_string("gelu_new"));
    json_object_set_new(root, "tie_word_embeddings", json_true());
    json_object_set_new(root, "bos_token_id", c->bos_id >= 0 ? json_integer(c->bos_id) : json_null());
    json_object_set_new(root, "eos_token_id", c->eos_id >= 0 ? json_integer(c->eos_id) : json_null());
}

int dp_hf_gpt2_collect(hf_entry *e, const lc_model *m) {
    int k = 0;
#define MAT(w_, tr_, ...)                                                                                              \
    (snprintf(e[k].name, sizeof e[k].name, __VA_ARGS__), e[k].w = (w_), e[k].transpose = (tr_), e[k].vec = NULL, k++)
#define VEC(v_, n_, ...)                                                                                               \
    (snprintf(e[k].name, sizeof e[k].name, __VA_ARGS__), e[k].w = NULL, e[k].vec = (v_), e[k].n = (n_), k++)
    const lc_model_config *c = &m->cfg;
    const int C = c->hidden_size, F = c->intermediate_size;
    MAT(&m->tok_emb, 0, "transformer.wte.weight");
    MAT(&m->pos_emb, 0, "transformer.wpe.weight");
    for (int l = 0; l < c->n_layers; l++) {
        const lc_layer *L = &m->layers[l];
        VEC(L->attn_norm, C, "transformer.h.%d.ln_1.weight", l);
        VEC(L->attn_norm_b, C, "transformer.h.%d.ln_1.bias", l);
        MAT(&L->wqkv, 1, "transformer.h.%d.attn.c_attn.weight", l);
        VEC(L->bqkv, 3 * C, "transformer.h.%d.attn.c_attn.bias", l);
        MAT(&L->wo, 1, "transformer.h.%d.attn.c_proj.weight", l);
        VEC(L->bo, C, "transformer.h.%d.attn.c_proj.bias", l);
        VEC(L->mlp_norm, C, "transformer.h.%d.ln_2.weight", l);
        VEC(L->mlp_norm_b, C, "transformer.h.%d.ln_2.bias", l);
        MAT(&L->w_up, 1, "transformer.h.%d.mlp.c_fc.weight", l);
        VEC(L->b_up, F, "transformer.h.%d.mlp.c_fc.bias", l);
        MAT(&L->w_down, 1, "transformer.h.%d.mlp.c_proj.weight", l);
        VEC(L->b_down, C, "transformer.h.%d.mlp.c_proj.bias", l);
    }
    VEC(m->final_norm, C, "transformer.ln_f.weight");
    VEC(m->final_norm_b, C, "transformer.ln_f.bias");
#undef MAT
#undef VEC
    return k;
}
