/*
 * deploy_internal.h — helpers shared by the deploy module's files: all-or-
 * nothing output directories, file copies, JSON numbers, weight conversion.
 */
#ifndef LC_DEPLOY_INTERNAL_H
#define LC_DEPLOY_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include "lc_deploy.h"
#include "lc_path.h"

/* Fail (LC_ERR_IO) when `path` already exists. */
lc_status dp_check_absent(const char *path);
/* Create a fresh temporary directory next to out_dir ("<out_dir>.tmp.XXXXXX")
 * into tmp[size]. LC_ERR_IO naming out_dir's parent when it cannot. */
lc_status dp_tmpdir_create(const char *out_dir, char *tmp, size_t size);
/* Remove the temporary directory and the plain files in it (best effort). */
void dp_tmpdir_discard(const char *tmp);
/* fsync the files in tmp, rename tmp to out_dir (which must not exist), fsync
 * the parent. On failure tmp is discarded. */
lc_status dp_tmpdir_commit(const char *tmp, const char *out_dir);
/* Copy file src to dst (dst created). */
lc_status dp_copy_file(const char *src, const char *dst);
/* Dump a JSON value (indent 2, keys in insertion order) to path. */
lc_status dp_write_json(const char *path, const json_t *root);
/* Copy the tokenizer files of an HF directory src_dir (tokenizer.json,
 * tokenizer_config.json, special_tokens_map.json, ... those present) into dst_dir. */
lc_status dp_copy_tokenizer_files(const char *src_dir, const char *dst_dir);
/* add_tokens (JSON list; the last n of m's rows) appended to dir's copied
 * tokenizer.json added_tokens (required) and tokenizer_config.json
 * added_tokens_decoder (if present), as special tokens (write_hf.c). */
lc_status dp_write_added_tokens(const lc_model *m, const char *add_tokens, const char *dir);
/* The double whose shortest decimal form round-trips to float f (1e-5f -> 1e-05). */
double dp_float_short(float f);
/* 1 if s ends with suffix. */
int dp_ends_with(const char *s, const char *suffix);

/* Weight w as fp32 (rows, cols): w->data itself when already F32 (then
 * *owned = NULL), else a new lc_alloc'd buffer returned in *owned too. */
lc_status dp_weight_f32(const lc_weight *w, const char *name, const float **out, float **owned);

/* The frozen weight a target adapts, writable (lc_lora_target_weight on a model we own). */
static inline lc_weight *dp_target_weight(lc_model *m, int l, lc_lora_target t) {
    return (lc_weight *)lc_lora_target_weight(m, l, t);
}

/* One tensor of a merged HF model (write_hf.c), with its HF name. */
typedef struct {
    char name[160];
    const lc_weight *w; /* a matrix, or NULL for a vector */
    int transpose;      /* written as (cols, rows): GPT-2's Conv1D stores (in, out) */
    const float *vec;   /* (n) */
    int n;
    float shift;        /* added to a vector when written: -1 for the norms of (1 + w) families */
} hf_entry;

/* GPT-2 (write_hf_gpt2.c): the GPT2Config keys of m set in root (the
 * base's config.json or a fresh object); the tensors as GPT2LMHeadModel
 * saves them into e (room for 4 + 12 L); returns their count. */
void dp_hf_gpt2_config(json_t *root, const lc_model *m);
int dp_hf_gpt2_collect(hf_entry *e, const lc_model *m);

#endif
