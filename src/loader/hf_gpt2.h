/*
 * hf_gpt2.h — private: the GPT-2 (GPT2LMHeadModel, model_type "gpt2") part of
 * the Hugging Face loader, called from hf_config.c and hf_loader.c once the
 * architecture is known.
 */
#ifndef LC_LOADER_HF_GPT2_H
#define LC_LOADER_HF_GPT2_H

#include <jansson.h>

#include "lc_loader.h"

/* config.json (already parsed, architecture GPT-2) into *c: n_embd, n_layer,
 * n_head, n_inner (null: 4 n_embd), n_positions, layer_norm_epsilon (default
 * 1e-5), vocab_size, activation_function "gelu_new" or "gelu_pytorch_tanh"
 * (default gelu_new); always tied; bos/eos ids if present. */
lc_status lc_hf_gpt2_config(const char *path, json_t *root, lc_model_config *c);

/* The weights of the GPT-2 model directory `dir` into m (m->cfg and m->layers
 * already set): model.safetensors or a sharded index; tensor names with or
 * without the "transformer." prefix; Conv1D (in, out) weights transposed into
 * (out, in); the attn.bias / attn.masked_bias buffers and a saved tied
 * lm_head.weight ignored, any other extra tensor refused. Everything is
 * converted to owned fp32. Sets m->identity. On failure m may hold partial
 * buffers (the caller frees it). */
lc_status lc_hf_gpt2_load(lc_model *m, const char *dir, lc_hf_info *info);

#endif /* LC_LOADER_HF_GPT2_H */
