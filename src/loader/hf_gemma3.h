/*
 * hf_gemma3.h — private to the loader: the Gemma 3 keys of config.json
 * (hf_gemma3.c), read after hf_config.c's common keys.
 */
#ifndef LC_LOADER_HF_GEMMA3_H
#define LC_LOADER_HF_GEMMA3_H

#include <jansson.h>

#include "lc_model.h"

/* Gemma3ForCausalLM (model_type gemma3_text): hidden_activation, head_dim
 * (default 256), tie_word_embeddings (default true), query_pre_attn_scalar
 * (default 256), sliding_window (default 4096) with layer_types or
 * sliding_window_pattern (default 6), the global and local RoPE bases and
 * scaling (transformers 5's rope_parameters {full_attention, sliding_attention}
 * or the older rope_theta / rope_local_base_freq / rope_scaling),
 * final_logit_softcapping into c. Refuses, naming the key: another
 * activation, attention biases, attn_logit_softcapping, bidirectional
 * attention, layer types without a period, a scaled local RoPE. */
lc_status lc_hf_gemma3_config(const char *path, json_t *root, lc_model_config *c);

#endif /* LC_LOADER_HF_GEMMA3_H */
