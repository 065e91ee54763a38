/*
 * lc_loader.h — load a Hugging Face model directory (config.json plus
 * model.safetensors or a sharded model.safetensors.index.json) into an
 * lc_model, and the 256-bit digest that gives a model its identity.
 *
 * Supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM,
 * Qwen3ForCausalLM (model_type llama / mistral / qwen2 / qwen3), GPT-2;
 * SiLU MLP; rope_scaling none, "linear", "llama3" or "yarn". The family
 * description (lc_model.fam) is filled from the config at load.
 * F32 weights are used in place from the memory-mapped file when aligned;
 * F16 / BF16 weights are converted to fp32, one tensor at a time.
 */
#ifndef LC_LOADER_H
#define LC_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "lc_common.h"
#include "lc_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What config.json says that lc_model_config has no field for. */
typedef struct {
    int sliding_window;      /* attention window if set and < max_position, else 0 (none) */
    char source_dtype[16];   /* dtype of the weights as stored: "F32", "F16", "BF16" or "mixed" */
    int n_zero_copy;         /* weights used in place from the mapping */
    int n_converted;         /* weights copied/converted to owned fp32 */
} lc_hf_info;

/* Parse config.json at `path` into *cfg (and *info if non-NULL).
 * Defaults: num_key_value_heads = heads, head_dim = hidden / heads,
 * rope_theta = 10000, rms_norm_eps = 1e-6, tie_word_embeddings = false,
 * bos/eos = -1 (eos may be a list: the first is taken).
 * Errors: LC_ERR_IO (unreadable), LC_ERR_FORMAT (not JSON), LC_ERR_CONFIG
 * (missing / ill-typed key), LC_ERR_UNSUPPORTED (unknown architecture,
 * rope_scaling other than default / linear / llama3 / yarn, hidden_act other than
 * silu, mlp_bias). */
lc_status lc_hf_config_load(const char *path, lc_model_config *cfg, lc_hf_info *info);

/* Load the HF model directory `dir` into *m. *m is overwritten (any previous
 * content is NOT freed: pass a zeroed or freed model). On success m owns all
 * its memory (free with lc_model_free); m->source = dir and m->identity is
 * set (lc_model_identity_compute). On failure *m is freed and zeroed and the
 * message names the file, tensor, expected and found shape/dtype. */
lc_status lc_model_load_hf(lc_model *m, const char *dir);
/* Same, also filling *info (may be NULL). */
lc_status lc_model_load_hf_ex(lc_model *m, const char *dir, lc_hf_info *info);

/* ---- 256-bit digest (not cryptographic; fast, parallel, deterministic) ----
 * Each update splits its data into fixed 1 MiB chunks hashed in parallel by
 * 4 multiply-rotate lanes; chunk results are folded in order. The result
 * depends on the bytes and on how they were split into updates, never on the
 * thread count. */
typedef struct {
    uint64_t h[4];
    uint64_t n_bytes, n_chunks;
} lc_digest;

void lc_digest_init(lc_digest *d);
void lc_digest_update(lc_digest *d, const void *data, size_t n);
/* 64 lowercase hex characters plus NUL. */
void lc_digest_final(const lc_digest *d, char hex[65]);

/* Digest of what determines the model's outputs: architecture, sizes, eps,
 * rope theta, tying, biases (not bos/eos or max_position), then every weight
 * in a fixed order (its role, type, shape and stored bytes, quantised blocks
 * included). Writes 64 hex chars + NUL; LC_ERR_ARG on an invalid weight type. */
lc_status lc_model_identity_compute(const lc_model *m, char hex[65]);

#ifdef __cplusplus
}
#endif
#endif /* LC_LOADER_H */
