/*
 * write_gguf.c — GGUF outputs: a merged model (the base GGUF's metadata and
 * tensor list, weights from the merged lc_model back in llama.cpp's q/k row
 * order and in the chosen storage type) and a llama.cpp LoRA adapter (the
 * layout convert_lora_to_gguf.py writes).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy_internal.h"
#include "lc_tokens.h"

/* llama_ftype values for general.file_type */
static uint32_t file_type(lc_dtype t) {
    switch (t) {
    case LC_DT_F16: return 1;
    case LC_DT_Q4_0: return 2;
    case LC_DT_Q4_1: return 3;
    case LC_DT_Q8_0: return 7;
    case LC_DT_Q5_0: return 8;
    case LC_DT_Q5_1: return 9;
    case LC_DT_BF16: return 32;
    default: return 0; /* ALL_F32 */
    }
}

void lc_deploy_permute_rows(void *dst, const void *src, int n_heads, int head_dim, size_t row_bytes) {
    const int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++)
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < half; i++) {
                size_t to = (size_t)h * head_dim + 2 * (size_t)i + s;
                size_t from = (size_t)h * head_dim + (size_t)s * half + i;
                memcpy((uint8_t *)dst + to * row_bytes, (const uint8_t *)src + from * row_bytes, row_bytes);
            }
}

/* Where a base GGUF tensor's data comes from in the model. */
typedef struct {
    const lc_weight *w;  /* matrix, or NULL */
    const float *vec;    /* vector, or NULL */
    int permute_heads;   /* > 0: q/k rows back to GGUF order */
    int changed;         /* the merge modified it */
} gguf_src;

static const char *LAYER_MATS[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
static const lc_lora_target LAYER_TARGETS[] = {LC_T_Q, LC_T_K, LC_T_V, LC_T_O, LC_T_GATE, LC_T_UP, LC_T_DOWN};

static int map_tensor(const lc_model *m, const char *name, const unsigned *mask, gguf_src *s) {
    memset(s, 0, sizeof s[0]);
    const lc_model_config *c = &m->cfg;
    if (!strcmp(name, "token_embd.weight")) return s->w = &m->tok_emb, 1;
    if (!strcmp(name, "output.weight") && !c->tie_embeddings) return s->w = &m->lm_head, 1;
    if (!strcmp(name, "output_norm.weight")) return s->vec = m->final_norm, 1;
    if (!strcmp(name, "rope_freqs.weight") && m->rope_freqs) return s->vec = m->rope_freqs, 1; /* Llama 3.1 */
    int l, n = 0;
    char rest[64];
    if (sscanf(name, "blk.%d.%63s%n", &l, rest, &n) != 2 || name[n] || l < 0 || l >= c->n_layers) return 0;
    lc_layer *L = &m->layers[l];
    if (!strcmp(rest, "attn_norm.weight")) return s->vec = L->attn_norm, 1;
    if (!strcmp(rest, "ffn_norm.weight")) return s->vec = L->mlp_norm, 1;
    if (L->q_norm && !strcmp(rest, "attn_q_norm.weight")) return s->vec = L->q_norm, 1; /* Qwen3 */
    if (L->k_norm && !strcmp(rest, "attn_k_norm.weight")) return s->vec = L->k_norm, 1;
    /* Gemma 3's sandwich norms; GGUF stores 1 + w as lorac does */
    if (L->post_attn_norm && !strcmp(rest, "post_attention_norm.weight")) return s->vec = L->post_attn_norm, 1;
    if (L->post_mlp_norm && !strcmp(rest, "post_ffw_norm.weight")) return s->vec = L->post_mlp_norm, 1;
    if (c->attn_bias) {
        if (!strcmp(rest, "attn_q.bias")) return s->vec = L->bq, 1;
        if (!strcmp(rest, "attn_k.bias")) return s->vec = L->bk, 1;
        if (!strcmp(rest, "attn_v.bias")) return s->vec = L->bv, 1;
    }
    for (int i = 0; i < 7; i++) {
        char want[64];
        snprintf(want, sizeof want, "%s.weight", LAYER_MATS[i]);
        if (strcmp(rest, want)) continue;
        s->w = dp_target_weight((lc_model *)m, l, LAYER_TARGETS[i]);
        s->changed = !mask || (mask[l] >> LAYER_TARGETS[i] & 1u);
        if (m->fam.gguf_permute_qk && i < 2) s->permute_heads = i == 0 ? c->n_heads : c->n_kv_heads;
        return 1;
    }
    return 0;
}

/* The bytes of one matrix in GGUF form and type `type`, into *out (owned by
 * the caller unless it is *out == the model's own data; *owned says). */
static lc_status matrix_bytes(const gguf_src *s, const char *name, lc_dtype type, const void **out, void **owned) {
    const lc_weight *w = s->w;
    const float *f;
    float *tmp = NULL, *perm = NULL;
    *owned = NULL;
    lc_status st = dp_weight_f32(w, name, &f, &tmp);
    if (st) return st;
    size_t n = (size_t)w->rows * (size_t)w->cols;
    if (s->permute_heads > 0) {
        if (!(perm = lc_alloc(n * sizeof(float)))) {
            lc_free(tmp);
            return lc_errorf(LC_ERR_NOMEM, "out of memory for %s", name);
        }
        lc_deploy_permute_rows(perm, f, s->permute_heads, w->rows / s->permute_heads, (size_t)w->cols * sizeof(float));
        lc_free(tmp);
        tmp = perm;
        f = perm;
    }
    if (type == LC_DT_F32) {
        *out = f;
        *owned = tmp;
        return LC_OK;
    }
    size_t bytes = lc_dtype_row_bytes(type, w->cols) * (size_t)w->rows;
    void *q = lc_alloc(bytes);
    if (!q) {
        lc_free(tmp);
        return lc_errorf(LC_ERR_NOMEM, "out of memory for %s", name);
    }
    int rc = lc_quantize(type, f, q, (int64_t)n);
    lc_free(tmp);
    if (rc) {
        lc_free(q);
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: lorac cannot write type %s", name, lc_dtype_name(type));
    }
    *out = q;
    *owned = q;
    return LC_OK;
}

/* Key kv of the base with the n added strings appended when it is one of
 * the vocabulary arrays (tokens; token_type 3 = control; scores -1000) or
 * <arch>.vocab_size (V); *done = 0 for any other key (written as it is). */
static lc_status added_kv(lc_gguf_writer *w, const lc_gguf_kv *kv, char **strs, int n, int V, int *done) {
    static const char *const keys[3] = {"tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"};
    static const lc_gguf_type types[3] = {LC_GGUF_STRING, LC_GGUF_INT32, LC_GGUF_FLOAT32};
    *done = 0;
    if (!n) return LC_OK;
    if (dp_ends_with(kv->key, ".vocab_size") && kv->val.type == LC_GGUF_UINT32)
        return *done = 1, lc_gguf_writer_add_u32(w, kv->key, (uint32_t)V);
    int k = 0;
    while (k < 3 && strcmp(kv->key, keys[k])) k++;
    if (k == 3) return LC_OK;
    *done = 1;
    if (kv->val.type != LC_GGUF_ARRAY || kv->val.arr.type != types[k] || kv->val.arr.n + (uint64_t)n != (uint64_t)V)
        return lc_errorf(LC_ERR_FORMAT,
                         "%s: expected an array of %d entries (the model's %d rows less the %d added "
                         "tokens)",
                         kv->key, V - n, V, n);
    size_t es = k == 0 ? sizeof(lc_gguf_str) : 4, old = (size_t)kv->val.arr.n;
    char *a = malloc(((size_t)V) * es);
    if (!a) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    memcpy(a, kv->val.arr.data, old * es);
    for (int i = 0; i < n; i++) {
        void *e = a + (old + (size_t)i) * es;
        if (k == 0) *(lc_gguf_str *)e = (lc_gguf_str){strs[i], strlen(strs[i])};
        if (k == 1) *(int32_t *)e = 3;
        if (k == 2) *(float *)e = -1000.0f;
    }
    lc_status st = lc_gguf_writer_add_arr(w, kv->key, types[k], a, (uint64_t)V);
    free(a);
    return st;
}

lc_status lc_deploy_write_gguf(const lc_model *m, const lc_gguf *base, const unsigned *merged_targets,
                               const char *add_tokens, lc_dtype type, const char *out_path) {
    if (type != LC_DT_F32 && type != LC_DT_F16 && type != LC_DT_BF16 && type != LC_DT_Q8_0 && type != LC_DT_Q4_0 &&
        type != LC_DT_Q4_1 && type != LC_DT_Q5_0 && type != LC_DT_Q5_1)
        return lc_errorf(LC_ERR_ARG,
                         "%s: GGUF output type must be f32, f16, bf16, q8_0, q5_0, q5_1, q4_0 or q4_1 (got %s)",
                         out_path, lc_dtype_name(type));
    if (!m->fam.gguf_arch)
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: GGUF output supports llama, qwen2 and qwen3 models, not %s",
                         out_path, m->fam.name);
    lc_gguf_writer *w = NULL;
    int64_t nt = lc_gguf_n_tensors(base);
    void **bufs = calloc((size_t)nt + 1, sizeof *bufs);
    if (!bufs) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    char **strs = NULL;
    int n_add = 0, done = 0;
    lc_status st = lc_tokens_parse_added(add_tokens, &strs, &n_add);
    if (!st) st = lc_gguf_writer_init(&w, lc_gguf_alignment(base));
    int have_ft = 0;
    for (int64_t i = 0; i < lc_gguf_n_kv(base) && !st; i++) {
        const lc_gguf_kv *kv = lc_gguf_kv_at(base, i);
        if (!strcmp(kv->key, "general.alignment")) continue; /* the writer sets it */
        if ((st = added_kv(w, kv, strs, n_add, m->cfg.vocab_size, &done)) || done) continue;
        if (!strcmp(kv->key, "general.file_type")) {
            st = lc_gguf_writer_add_u32(w, kv->key, file_type(type));
            have_ft = 1;
        } else {
            st = lc_gguf_writer_add_kv(w, kv->key, &kv->val);
        }
    }
    if (!st && !have_ft) st = lc_gguf_writer_add_u32(w, "general.file_type", file_type(type));
    const int block = lc_dtype_block_elems(type);
    for (int64_t i = 0; i < nt && !st; i++) {
        const lc_gguf_tensor *t = lc_gguf_tensor_at(base, i);
        gguf_src s;
        if (!map_tensor(m, t->name, merged_targets, &s)) {
            st = lc_errorf(LC_ERR_UNSUPPORTED, "%s: tensor '%s' of the base is not part of lorac's model: cannot "
                           "write it", lc_gguf_path(base), t->name);
            break;
        }
        /* trainable tokens merged, or rows added (add_tokens): written with the model's rows */
        int64_t ne[LC_GGUF_MAX_DIMS];
        memcpy(ne, t->ne, sizeof ne);
        if ((s.w == &m->tok_emb || s.w == &m->lm_head) && s.w->data != t->data) s.changed = 1, ne[1] = s.w->rows;
        if (s.vec) { /* norms and biases: F32, byte copy when already F32 */
            const void *d = s.vec;
            if (t->type == LC_DT_F32) d = t->data;
            st = lc_gguf_writer_add_tensor(w, t->name, LC_DT_F32, t->n_dims, t->ne, d);
            continue;
        }
        if (!s.changed && t->type == type) { /* untouched and already in the wanted type */
            st = lc_gguf_writer_add_tensor(w, t->name, type, t->n_dims, t->ne, t->data);
            continue;
        }
        if (s.w->cols % block) {
            st = lc_errorf(LC_ERR_UNSUPPORTED, "%s: tensor '%s' has %d columns, not a multiple of %s's block of %d",
                           out_path, t->name, s.w->cols, lc_dtype_name(type), block);
            break;
        }
        const void *d = NULL;
        if ((st = matrix_bytes(&s, t->name, type, &d, &bufs[i]))) break;
        st = lc_gguf_writer_add_tensor(w, t->name, type, t->n_dims, ne, d);
    }
    if (!st) st = lc_gguf_writer_write(w, out_path);
    lc_gguf_writer_free(w);
    for (int64_t i = 0; i < nt; i++) lc_free(bufs[i]);
    free(bufs);
    lc_tokens_strs_free(strs, n_add);
    return st;
}

/* ---------------- llama.cpp LoRA adapter ---------------- */

static const char *gguf_target_name(lc_lora_target t) {
    for (int i = 0; i < 7; i++)
        if (LAYER_TARGETS[i] == t) return LAYER_MATS[i];
    return NULL;
}

/* What a llama.cpp GGUF LoRA cannot hold, refused with the reason and what to do instead. */
static lc_status check_exportable(const lc_lora *lora, const lc_model *base, const char *out_path) {
    if (!base->fam.gguf_arch)
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: GGUF export of %s adapters is not supported yet", out_path,
                         base->fam.name);
    if (lora->cfg.use_dora)
        return lc_errorf(LC_ERR_UNSUPPORTED,
                         "%s: a DoRA adapter cannot be written as a llama.cpp GGUF LoRA: llama.cpp's LoRA format holds "
                         "only lora_a/lora_b and applies W x + s·B A x, with no per-row magnitude m / ||W + s·B A|| "
                         "rescaling the whole output. Merge it into the base instead (lorac merge --model BASE.gguf "
                         "--adapter ADAPTER.h5 --out MERGED.gguf), or export --format peft", out_path);
    if (lora->tok.n)
        return lc_errorf(LC_ERR_UNSUPPORTED,
                         "%s: an adapter with trainable tokens (trainable_token_indices) is not written as a "
                         "llama.cpp GGUF LoRA: that format holds additive lora_a/lora_b pairs, while trainable "
                         "tokens replace rows of the embedding (and of a tied output head), which lorac does not "
                         "encode there. Merge it into the base instead (lorac merge --model BASE.gguf --adapter "
                         "ADAPTER.h5 --out MERGED.gguf), or export --format peft", out_path);
    if (lora->n_layers != base->cfg.n_layers)
        return lc_errorf(LC_ERR_MISMATCH, "adapter has %d layers, the model %d", lora->n_layers, base->cfg.n_layers);
    return LC_OK;
}

lc_status lc_deploy_export_gguf(const lc_lora *lora, const lc_model *base, const char *out_path) {
    const lc_model_config *c = &base->cfg;
    lc_status st = check_exportable(lora, base, out_path);
    if (st) return st;
    const int permute = base->fam.gguf_permute_qk; /* llama.cpp permutes llama (and mistral) q/k only */
    /* llama.cpp scales by alpha / r, r read from each lora_b: for rsLoRA store
     * alpha * sqrt(r) so it gets alpha / sqrt(r). A module whose own scale
     * differs from alpha / (its r) (alpha_pattern, rsLoRA with rank_pattern)
     * gets the ratio folded into its lora_b. */
    const float alpha = lora->cfg.rslora ? lora->cfg.alpha * sqrtf((float)lora->cfg.r) : lora->cfg.alpha;
    lc_gguf_writer *w = NULL;
    size_t cap = (size_t)c->n_layers * LC_T_COUNT;
    float **perm = calloc(cap, sizeof *perm);
    char (*names)[96] = calloc(2 * cap, sizeof *names);
    if (!perm || !names) {
        free(perm);
        free(names);
        return lc_errorf(LC_ERR_NOMEM, "out of memory");
    }
    st = lc_gguf_writer_init(&w, 0);
    if (!st) st = lc_gguf_writer_add_str(w, "general.architecture", base->fam.gguf_arch);
    if (!st) st = lc_gguf_writer_add_str(w, "general.type", "adapter");
    if (!st) st = lc_gguf_writer_add_str(w, "general.name", "lorac LoRA adapter");
    if (!st) st = lc_gguf_writer_add_u32(w, "general.file_type", 0);
    if (!st) st = lc_gguf_writer_add_str(w, "adapter.type", "lora");
    if (!st) st = lc_gguf_writer_add_f32(w, "adapter.lora.alpha", alpha);
    if (!st) st = lc_gguf_writer_add_u32(w, "general.quantization_version", 2);
    size_t k = 0;
    for (int l = 0; l < c->n_layers && !st; l++)
        for (int t = 0; t < LC_T_COUNT && !st; t++) {
            const lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            const char *tn = gguf_target_name((lc_lora_target)t);
            if (!p->A) continue;
            if (!tn) {
                st = lc_errorf(LC_ERR_UNSUPPORTED, "target %s has no llama.cpp name", lc_lora_target_name((lc_lora_target)t));
                break;
            }
            const float *B = p->B; /* (out, r) */
            const int r = p->r;
            int heads = t == LC_T_Q ? c->n_heads : t == LC_T_K ? c->n_kv_heads : 0;
            float fold = p->scale * (float)r / alpha; /* 1 unless alpha or rank patterns make it differ */
            int refold = fabsf(fold - 1.0f) > 1e-6f;
            if ((permute && heads) || refold) {
                size_t nb = (size_t)p->out * r;
                float *pb = perm[l * LC_T_COUNT + t] = lc_alloc(nb * sizeof(float));
                if (!pb) {
                    st = lc_errorf(LC_ERR_NOMEM, "out of memory");
                    break;
                }
                if (permute && heads) lc_deploy_permute_rows(pb, p->B, heads, p->out / heads, (size_t)r * sizeof(float));
                else memcpy(pb, p->B, nb * sizeof(float));
                if (refold)
                    for (size_t i = 0; i < nb; i++) pb[i] *= fold;
                B = pb;
            }
            int64_t neA[2] = {p->in, r}, neB[2] = {r, p->out};
            snprintf(names[k], sizeof names[k], "blk.%d.%s.weight.lora_a", l, tn);
            st = lc_gguf_writer_add_tensor(w, names[k++], LC_DT_F32, 2, neA, p->A);
            snprintf(names[k], sizeof names[k], "blk.%d.%s.weight.lora_b", l, tn);
            if (!st) st = lc_gguf_writer_add_tensor(w, names[k++], LC_DT_F32, 2, neB, B);
        }
    if (!st) st = lc_gguf_writer_write(w, out_path);
    lc_gguf_writer_free(w);
    for (size_t i = 0; i < cap; i++) lc_free(perm[i]);
    free(perm);
    free(names);
    return st;
}
