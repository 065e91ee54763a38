/*
 * lc_deploy.h — deploy what you trained: merge LoRA adapters into the base
 * weights (written as a Hugging Face directory or a GGUF file), export an
 * adapter for PEFT (adapter_config.json + adapter_model.safetensors) or for
 * llama.cpp (GGUF LoRA adapter), and import a PEFT adapter as a lorac HDF5
 * adapter. Layouts are documented in docs/formats.md (section 5).
 *
 * Every writer is all-or-nothing: files go to a temporary name in the target's
 * directory and are renamed into place at the end; on failure nothing is left.
 * An existing output directory is never overwritten (files are replaced
 * atomically, as the other lorac writers do).
 */
#ifndef LC_DEPLOY_H
#define LC_DEPLOY_H

#include <stddef.h>
#include <stdint.h>

#include "lc_common.h"
#include "lc_gguf.h"
#include "lc_lora.h"
#include "lc_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------- merge ---------------- */

/* Fold an adapter into the base, in fp32: for every targeted projection,
 * W += scale * lora->scale * B·A. A weight that is not yet an owned fp32 copy
 * (mapped from a file, half precision or quantised) is first copied /
 * dequantised into a new buffer that m owns; the old one stays valid (and
 * mapped) until lc_model_free. lora must have been made for m's shapes
 * (LC_ERR_MISMATCH otherwise). m->identity is cleared (the weights changed). */
lc_status lc_merge_lora(lc_model *m, const lc_lora *lora, float scale);

/* Write m (any weight types; converted on the fly) as a Hugging Face model
 * directory `out_dir`: config.json (architecture, sizes, eps, rope theta,
 * tie_word_embeddings, bos/eos, torch_dtype; other keys of base_dir's
 * config.json are kept), model.safetensors in dtype (LC_DT_F32, LC_DT_F16 or
 * LC_DT_BF16) with HF tensor names, and the tokenizer files: from base_dir
 * (tokenizer.json, tokenizer_config.json, special_tokens_map.json,
 * generation_config.json, those present) when base_dir != NULL, else
 * tokenizer_json (a tokenizer.json file; required then, LC_ERR_ARG if NULL).
 * add_tokens (JSON list of strings, "" or NULL = none): tokens an adapter
 * added (lc_base_add_tokens), the last n rows of m; they are appended to
 * tokenizer.json's added_tokens (and tokenizer_config.json's
 * added_tokens_decoder) as special tokens with ids V-n .. V-1, as
 * tokenizer.add_tokens(..., special_tokens=True) + save_pretrained writes them.
 * out_dir must not exist (LC_ERR_IO naming it). All-or-nothing. */
lc_status lc_deploy_write_hf(const lc_model *m, const char *base_dir, const char *tokenizer_json,
                             const char *add_tokens, lc_dtype dtype, const char *out_dir);

/* Write m as a GGUF file at out_path: all metadata of the open base GGUF
 * `base` (the file m was loaded from; its tokenizer included) except
 * general.file_type, which is set for `type`; tensors in the base's order and
 * names. Matrices are stored in `type` (LC_DT_F32, F16, BF16, Q8_0, Q5_0,
 * Q5_1, Q4_0, Q4_1), q/k rows permuted back to llama.cpp's order for llama; a matrix the
 * merge did not change whose base type already is `type` is copied byte for
 * byte. Vectors (norms, biases) stay F32. merged_targets[l] has bit t set
 * when layer l's target t was changed by the merge (NULL: all changed).
 * add_tokens (JSON list, "" or NULL = none): tokens an adapter added, the
 * last n rows of m: appended to tokenizer.ggml.tokens (token_type 3 =
 * control, as convert_hf_to_gguf.py marks HF's special added tokens; score
 * -1000 where the base has scores, as it writes for added tokens), and
 * token_embd / output written with V rows (<arch>.vocab_size too when the
 * base has that key).
 * Written atomically (out_path.tmp, rename). */
lc_status lc_deploy_write_gguf(const lc_model *m, const lc_gguf *base, const unsigned *merged_targets,
                               const char *add_tokens, lc_dtype type, const char *out_path);

/* What lc_deploy_merge did. */
typedef struct {
    double max_abs_diff;   /* max |logit(merged, reloaded) - logit(base + unmerged adapters)| */
    double max_abs_logit;  /* max |logit| of the reference, for scale */
    int n_probes, probe_len;
    double seconds_merge, seconds_write, seconds_check;
} lc_merge_report;

typedef struct {
    const char *model_path;      /* HF directory or .gguf file */
    const char *tokenizer_path;  /* optional tokenizer.json (needed for HF output from a GGUF base) */
    const char *const *adapter_paths; /* n_adapters lorac HDF5 adapters */
    const float *adapter_scales;      /* n_adapters user multipliers (1 = as trained) */
    int n_adapters;
    const char *out_path;        /* directory (HF) or *.gguf file */
    lc_dtype hf_dtype;           /* F32 / F16 / BF16 */
    lc_dtype gguf_type;          /* F32 / F16 / BF16 / Q8_0 / Q5_0 / Q5_1 / Q4_0 / Q4_1 */
    int allow_other_base;        /* skip the base identity check (tests, expert use) */
    int force;                   /* replace an existing out_path that is not a GGUF file */
} lc_merge_params;

lc_merge_params lc_merge_default_params(void); /* F32 outputs, no adapters */

/* The whole `lorac merge`: open the base, load each adapter (its base identity
 * must match, LC_ERR_MISMATCH otherwise), compute reference logits of the base
 * with the adapters unmerged on 3 probe prompts, merge, write out_path (HF
 * directory, or GGUF when it ends in ".gguf": a GGUF base is required then),
 * reload the written model from disk and compare logits (fp32) into *rep.
 * Nothing is written when any step before the write fails. */
lc_status lc_deploy_merge(const lc_merge_params *p, lc_merge_report *rep);

/* Logits (B=1, T, V) of m (+ lora unmerged, scaled by mult; lora may be NULL)
 * for tokens[T], fp32. logits must hold T * vocab floats. */
lc_status lc_deploy_logits(const lc_model *m, const lc_lora *lora, float mult, const int32_t *tokens, int T,
                           float *logits);

/* The probe prompts: n (<= 3) fixed token sequences of length T valid for a
 * vocabulary of size V (deterministic pseudo-random ids, starting with bos
 * when bos_id >= 0). tokens must hold n * T ids. */
void lc_deploy_probe_tokens(int32_t *tokens, int n, int T, int V, int bos_id);

/* ---------------- export / import ---------------- */

/* PEFT adapter directory out_dir: adapter_config.json (LoraConfig fields,
 * base_model_name_or_path = base_name or base->source) and
 * adapter_model.safetensors (F32, names as PEFT saves them,
 * "base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight", A (r, in),
 * B (out, r)). out_dir must not exist. All-or-nothing. */
lc_status lc_deploy_export_peft(const lc_lora *lora, const lc_model *base, const char *base_name,
                                const char *out_dir);

/* llama.cpp LoRA adapter GGUF at out_path, as convert_lora_to_gguf.py writes
 * it: general.architecture ("llama" / "qwen2"), general.type "adapter",
 * adapter.type "lora", adapter.lora.alpha (float32; for rsLoRA alpha·sqrt(r),
 * since llama.cpp scales by alpha / r), and per target F32 tensors
 * "blk.N.<attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down>.weight.lora_a"
 * ne = {in, r} and ".lora_b" ne = {r, out}; for llama, lora_b's rows of q/k
 * are permuted like llama.cpp permutes the q/k weights. Mistral bases are
 * written as "llama", as llama.cpp does. */
lc_status lc_deploy_export_gguf(const lc_lora *lora, const lc_model *base, const char *out_path);

/* Read a PEFT LoRA adapter directory (adapter_config.json +
 * adapter_model.safetensors; tensor names with or without ".default";
 * F32/F16/BF16) for `base` into *lora (allocated here as lc_lora_init; free
 * with lc_lora_free). Checks peft_type LORA, r, target_modules, every
 * expected tensor present with its shape and no other tensor; refuses what
 * lorac cannot represent (DoRA, modules_to_save, bias != "none",
 * fan_in_fan_out, a layers_pattern other than the model's own); takes
 * rank_pattern, alpha_pattern and layers_to_transform as PEFT does. */
lc_status lc_deploy_import_peft(const char *dir, const lc_model *base, lc_lora *lora);

/* Reorder q/k rows from HF rotate-half order to llama.cpp's interleaved GGUF
 * order (inverse of lc_gguf_unpermute_rows): GGUF row h*hd + 2*i + s = HF row
 * h*hd + s*hd/2 + i. dst and src must not overlap. */
void lc_deploy_permute_rows(void *dst, const void *src, int n_heads, int head_dim, size_t row_bytes);

#ifdef __cplusplus
}
#endif
#endif /* LC_DEPLOY_H */
