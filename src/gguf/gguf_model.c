/*
 * gguf_model.c — a Llama-family GGUF file as an lc_model, and its tokenizer
 * metadata.
 *
 * Config comes from the "<arch>.*" keys (arch = general.architecture, "llama",
 * "qwen2", "qwen3" or "gemma3" (load_gemma3_config); rope_freqs.weight, llama.cpp's Llama 3.1 RoPE scaling, is
 * read when present); tensors from llama.cpp's names (token_embd, blk.N.attn_q, ...,
 * output_norm, output). Matrices keep their storage type and point into the
 * mapping (which the model owns), except llama's attn_q/attn_k: llama.cpp's
 * converter interleaves each head's rows for its RoPE kernel, so those are
 * copied back into HF rotate-half row order (whole quantised rows move
 * unchanged). Norms and biases become float copies.
 * m->identity: lc_model_identity_compute (src/loader/identity.c), the one
 * identity rule for every format (weights in HF row order, so a GGUF's
 * identity does not depend on llama.cpp's q/k interleave).
 */
#include "lc_gguf.h"
#include "lc_loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ---------------- helpers ---------------- */

void lc_gguf_unpermute_rows(void *dst, const void *src, int n_heads, int head_dim, size_t row_bytes) {
    const int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++)
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < half; i++) {
                size_t to = (size_t)h * head_dim + (size_t)s * half + i;
                size_t from = (size_t)h * head_dim + 2 * (size_t)i + s;
                memcpy((uint8_t *)dst + to * row_bytes, (const uint8_t *)src + from * row_bytes, row_bytes);
            }
}

typedef struct {
    lc_model *m;
    lc_gguf *g;
    const char *path;
} loader;

static lc_status get_cfg_int(loader *L, const char *arch, const char *suffix, int required, int64_t dflt,
                             int *out) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v = dflt;
    if (lc_gguf_find(L->g, key) || required) {
        lc_status s = lc_gguf_get_int(L->g, key, &v);
        if (s) return s;
    }
    if (v < 0 || v > (int64_t)1 << 30)
        return lc_errorf(LC_ERR_FORMAT, "%s: metadata key '%s' = %lld is out of range", L->path, key, (long long)v);
    *out = (int)v;
    return LC_OK;
}

static lc_status get_cfg_float(loader *L, const char *arch, const char *suffix, double dflt, float *out) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    double v = dflt;
    if (lc_gguf_find(L->g, key)) {
        lc_status s = lc_gguf_get_float(L->g, key, &v);
        if (s) return s;
    }
    *out = (float)v;
    return LC_OK;
}

static int get_opt_id(const lc_gguf *g, const char *key) {
    int64_t v;
    if (!lc_gguf_find(g, key) || lc_gguf_get_int(g, key, &v) != LC_OK || v < 0 || v > INT32_MAX) return -1;
    return (int)v;
}

static lc_status find_shaped(loader *L, const char *name, int64_t rows, int64_t cols, const lc_gguf_tensor **out) {
    const lc_gguf_tensor *t = lc_gguf_find_tensor(L->g, name);
    if (!t) return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s' not found", L->path, name);
    int want_dims = rows > 0 ? 2 : 1;
    int64_t r = t->n_dims >= 2 ? t->ne[1] : 1;
    if (t->n_dims != want_dims || t->ne[0] != cols || (rows > 0 && r != rows))
        return lc_errorf(LC_ERR_FORMAT,
                         "%s: tensor '%s' has shape ne=[%lld, %lld] (%d dims), expected ne=[%lld, %lld] "
                         "(ggml order: columns first)",
                         L->path, name, (long long)t->ne[0], (long long)r, t->n_dims, (long long)cols,
                         (long long)(rows > 0 ? rows : 1));
    if (t->type == LC_DT_COUNT) {
        const char *tn = lc_ggml_type_name(t->ggml_type);
        return lc_errorf(LC_ERR_UNSUPPORTED,
                         "%s: tensor '%s' has ggml type %s, which lorac cannot dequantise (supported: F32, "
                         "F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)",
                         L->path, name, tn ? tn : "?");
    }
    *out = t;
    return LC_OK;
}

/* A matrix (rows, cols); unpermute_heads > 0 reorders q/k rows (llama only). */
static lc_status load_matrix(loader *L, const char *name, int rows, int cols, int unpermute_heads, lc_weight *w) {
    const lc_gguf_tensor *t = NULL;
    lc_status s = find_shaped(L, name, rows, cols, &t);
    if (s) return s;
    w->type = t->type;
    w->rows = rows;
    w->cols = cols;
    w->data = t->data;
    if (unpermute_heads > 0) {
        int hd = rows / unpermute_heads;
        void *buf = lc_alloc((size_t)t->nbytes);
        if (!buf) return lc_errorf(LC_ERR_NOMEM, "%s: out of memory for tensor '%s'", L->path, name);
        if ((s = lc_model_own(L->m, buf, (size_t)t->nbytes, 0))) {
            lc_free(buf);
            return s;
        }
        lc_gguf_unpermute_rows(buf, t->data, unpermute_heads, hd, lc_dtype_row_bytes(t->type, cols));
        w->data = buf;
    }
    return LC_OK;
}

/* A vector of n floats (norm weight or bias), dequantised into an owned copy. */
static lc_status load_vector(loader *L, const char *name, int n, float **out) {
    const lc_gguf_tensor *t = NULL;
    lc_status s = find_shaped(L, name, 0, n, &t);
    if (s) return s;
    float *v = lc_alloc((size_t)n * sizeof(float)); /* (n) */
    if (!v) return lc_errorf(LC_ERR_NOMEM, "%s: out of memory for tensor '%s'", L->path, name);
    if ((s = lc_model_own(L->m, v, (size_t)n * sizeof(float), 0))) {
        lc_free(v);
        return s;
    }
    lc_dequantize(t->type, t->data, v, n);
    *out = v;
    return LC_OK;
}

/* llama.cpp's RoPE scaling keys: <arch>.rope.scaling.type "none" or
 * "linear" with <arch>.rope.scaling.factor, or the older
 * <arch>.rope.scale_linear; other types (yarn, longrope) are refused. Llama
 * 3.1's scaling comes as the rope_freqs.weight tensor instead. */
static lc_status load_rope_scaling(loader *L, const char *arch) {
    lc_rope_scaling *rs = &L->m->cfg.rope_scaling;
    char key[256];
    const char *type = "none";
    float factor = 1.0f, linear = 1.0f;
    lc_status s;
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    if (lc_gguf_find(L->g, key) && (s = lc_gguf_get_str(L->g, key, &type))) return s;
    if ((s = get_cfg_float(L, arch, "rope.scaling.factor", 1.0, &factor)) ||
        (s = get_cfg_float(L, arch, "rope.scale_linear", 1.0, &linear)))
        return s;
    if (strcmp(type, "none") && strcmp(type, "linear"))
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: %s is '%s': this RoPE scaling is not supported (none, linear; "
                         "Llama 3.1 scaling as rope_freqs.weight)", L->path, key, type);
    if (!strcmp(type, "none") && linear != 1.0f) factor = linear, type = "linear";
    if (!strcmp(type, "linear") && factor != 1.0f) {
        if (!(factor > 0))
            return lc_errorf(LC_ERR_FORMAT, "%s: %s.rope.scaling.factor is %g, expected > 0", L->path, arch,
                             (double)factor);
        rs->type = LC_ROPE_LINEAR;
        rs->factor = factor;
    }
    return LC_OK;
}

/* Gemma 3 as llama.cpp reads it (llama-model.cpp, LLM_ARCH_GEMMA3): the
 * window from <arch>.attention.sliding_window, the rest fixed there: every
 * 6th layer global, local RoPE base 10000 unscaled, scores scaled by
 * head_dim^-1/2 (27B, 62 layers: (C / Hq)^-1/2); an optional
 * <arch>.final_logit_softcapping. The norm weights are stored as 1 + w by
 * llama.cpp's converter, which is lorac's in-memory convention. */
static lc_status load_gemma3_config(loader *L, const char *arch) {
    lc_model_config *c = &L->m->cfg;
    lc_status s;
    if ((s = get_cfg_int(L, arch, "attention.sliding_window", 1, 0, &c->sliding_window)) ||
        (s = get_cfg_float(L, arch, "final_logit_softcapping", 0.0, &c->final_softcap)))
        return s;
    c->sliding_pattern = c->sliding_window > 0 ? 6 : 0;
    c->rope_local_theta = 10000.0f;
    c->query_pre_attn_scalar = (float)(c->n_layers == 62 ? c->hidden_size / c->n_heads : c->head_dim);
    return LC_OK;
}

static lc_status load_config(loader *L, const char *arch) {
    lc_model_config *c = &L->m->cfg;
    lc_status s;
    if ((s = get_cfg_int(L, arch, "embedding_length", 1, 0, &c->hidden_size)) ||
        (s = get_cfg_int(L, arch, "feed_forward_length", 1, 0, &c->intermediate_size)) ||
        (s = get_cfg_int(L, arch, "block_count", 1, 0, &c->n_layers)) ||
        (s = get_cfg_int(L, arch, "attention.head_count", 1, 0, &c->n_heads)) ||
        (s = get_cfg_int(L, arch, "attention.head_count_kv", 0, c->n_heads, &c->n_kv_heads)) ||
        (s = get_cfg_int(L, arch, "context_length", 0, 2048, &c->max_position)) ||
        (s = get_cfg_float(L, arch, "rope.freq_base", 10000.0, &c->rope_theta)) ||
        (s = get_cfg_float(L, arch, "attention.layer_norm_rms_epsilon", 1e-5, &c->rms_eps)))
        return s;
    if (c->n_heads <= 0)
        return lc_errorf(LC_ERR_FORMAT, "%s: %s.attention.head_count must be positive", L->path, arch);
    int hd_default = c->hidden_size / c->n_heads, rope_dim = 0;
    if ((s = get_cfg_int(L, arch, "attention.key_length", 0, hd_default, &c->head_dim)) ||
        (s = get_cfg_int(L, arch, "rope.dimension_count", 0, c->head_dim, &rope_dim)))
        return s;
    if (rope_dim != c->head_dim)
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: %s.rope.dimension_count = %d but head_dim = %d: partial "
                         "rotary embeddings are not supported", L->path, arch, rope_dim, c->head_dim);
    const lc_gguf_value *tok = lc_gguf_find(L->g, "tokenizer.ggml.tokens");
    const lc_gguf_tensor *emb = lc_gguf_find_tensor(L->g, "token_embd.weight");
    int64_t vocab = tok && tok->type == LC_GGUF_ARRAY ? (int64_t)tok->arr.n : emb ? emb->ne[1] : 0;
    if (vocab <= 0 || vocab > INT32_MAX)
        return lc_errorf(LC_ERR_FORMAT, "%s: cannot tell the vocabulary size (no tokenizer.ggml.tokens array, "
                         "no token_embd.weight)", L->path);
    c->vocab_size = (int)vocab;
    c->bos_id = get_opt_id(L->g, "tokenizer.ggml.bos_token_id");
    c->eos_id = get_opt_id(L->g, "tokenizer.ggml.eos_token_id");
    c->tie_embeddings = lc_gguf_find_tensor(L->g, "output.weight") == NULL;
    c->attn_bias = lc_gguf_find_tensor(L->g, "blk.0.attn_q.bias") != NULL;
    c->qk_norm = c->arch == LC_ARCH_QWEN3 || c->arch == LC_ARCH_GEMMA3;
    if (c->arch == LC_ARCH_GEMMA3 && (s = load_gemma3_config(L, arch))) return s;
    if ((s = lc_model_config_validate(c))) return lc_error_wrap(s, "%s", L->path);
    return LC_OK;
}

/* Llama 3.1+ RoPE scaling as llama.cpp stores it: rope_freqs.weight (hd/2),
 * the divisor of each inverse frequency (ggml_rope_ext's freq_factors). */
static lc_status load_rope_freqs(loader *L) {
    if (!lc_gguf_find_tensor(L->g, "rope_freqs.weight")) return LC_OK;
    int h2 = L->m->cfg.head_dim / 2;
    lc_status s = load_vector(L, "rope_freqs.weight", h2, &L->m->rope_freqs);
    if (s) return s;
    for (int i = 0; i < h2; i++)
        if (!(L->m->rope_freqs[i] > 0))
            return lc_errorf(LC_ERR_FORMAT, "%s: rope_freqs.weight[%d] is %g, expected a positive divisor", L->path,
                             i, (double)L->m->rope_freqs[i]);
    return LC_OK;
}

static lc_status load_layer(loader *L, int l, int permute) {
    const lc_model_config *c = &L->m->cfg;
    lc_layer *ly = &L->m->layers[l];
    const int C = c->hidden_size, F = c->intermediate_size;
    const int q_rows = c->n_heads * c->head_dim, kv_rows = c->n_kv_heads * c->head_dim;
    char n[96];
    lc_status s;
#define NAME(suffix) (snprintf(n, sizeof n, "blk.%d.%s", l, suffix), n)
    if ((s = load_vector(L, NAME("attn_norm.weight"), C, &ly->attn_norm)) ||
        (s = load_matrix(L, NAME("attn_q.weight"), q_rows, C, permute ? c->n_heads : 0, &ly->wq)) ||
        (s = load_matrix(L, NAME("attn_k.weight"), kv_rows, C, permute ? c->n_kv_heads : 0, &ly->wk)) ||
        (s = load_matrix(L, NAME("attn_v.weight"), kv_rows, C, 0, &ly->wv)) ||
        (s = load_matrix(L, NAME("attn_output.weight"), C, q_rows, 0, &ly->wo)) ||
        (s = load_vector(L, NAME("ffn_norm.weight"), C, &ly->mlp_norm)) ||
        (L->m->fam.norm_place == LC_NORM_SANDWICH && /* Gemma 3 */
         ((s = load_vector(L, NAME("post_attention_norm.weight"), C, &ly->post_attn_norm)) ||
          (s = load_vector(L, NAME("post_ffw_norm.weight"), C, &ly->post_mlp_norm)))) ||
        (s = load_matrix(L, NAME("ffn_gate.weight"), F, C, 0, &ly->w_gate)) ||
        (s = load_matrix(L, NAME("ffn_up.weight"), F, C, 0, &ly->w_up)) ||
        (s = load_matrix(L, NAME("ffn_down.weight"), C, F, 0, &ly->w_down)))
        return s;
    if (c->qk_norm && ((s = load_vector(L, NAME("attn_q_norm.weight"), c->head_dim, &ly->q_norm)) ||
                       (s = load_vector(L, NAME("attn_k_norm.weight"), c->head_dim, &ly->k_norm))))
        return s;
    if (c->attn_bias) {
        if ((s = load_vector(L, NAME("attn_q.bias"), q_rows, &ly->bq)) ||
            (s = load_vector(L, NAME("attn_k.bias"), kv_rows, &ly->bk)) ||
            (s = load_vector(L, NAME("attn_v.bias"), kv_rows, &ly->bv)))
            return s;
    }
#undef NAME
    return LC_OK;
}

lc_status lc_model_load_gguf(lc_model *m, const char *path, lc_gguf **keep) {
    lc_gguf *g = NULL;
    lc_status s;
    if (keep) *keep = NULL;
    memset(m, 0, sizeof *m);
    if ((s = lc_gguf_open(&g, path))) return s;
    loader L = {m, g, path};
    void *base;
    size_t size;
    /* the model owns the mapping from here on, so the fail path has one owner */
    s = lc_gguf_release_map(g, &base, &size);
    if (!s && (s = lc_model_own(m, base, size, 1))) munmap(base, size);
    if (s) goto fail;
    const char *arch;
    if ((s = lc_gguf_get_str(g, "general.architecture", &arch))) goto fail;
    int permute;
    if (strcmp(arch, "llama") == 0) {
        m->cfg.arch = LC_ARCH_LLAMA;
        permute = 1;
    } else if (strcmp(arch, "qwen2") == 0 || strcmp(arch, "qwen3") == 0 || strcmp(arch, "gemma3") == 0) {
        m->cfg.arch = arch[0] == 'g' ? LC_ARCH_GEMMA3 : arch[4] == '2' ? LC_ARCH_QWEN2 : LC_ARCH_QWEN3;
        permute = 0; /* llama.cpp's converter does not permute qwen2's / qwen3's / gemma3's q/k */
    } else {
        s = lc_errorf(LC_ERR_UNSUPPORTED, "%s: general.architecture is '%s', expected 'llama', 'qwen2', 'qwen3' or "
                      "'gemma3'", path, arch);
        goto fail;
    }
    if ((s = load_config(&L, arch)) || (s = load_rope_scaling(&L, arch)) || (s = load_rope_freqs(&L))) goto fail;
    if ((s = lc_model_describe(m))) {
        s = lc_error_wrap(s, "%s", path);
        goto fail;
    }
    const lc_model_config *c = &m->cfg;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) {
        s = lc_errorf(LC_ERR_NOMEM, "%s: out of memory for %d layers", path, c->n_layers);
        goto fail;
    }
    if ((s = load_matrix(&L, "token_embd.weight", c->vocab_size, c->hidden_size, 0, &m->tok_emb))) goto fail;
    for (int l = 0; l < c->n_layers; l++)
        if ((s = load_layer(&L, l, permute))) goto fail;
    if ((s = load_vector(&L, "output_norm.weight", c->hidden_size, &m->final_norm))) goto fail;
    if (c->tie_embeddings) m->lm_head = m->tok_emb;
    else if ((s = load_matrix(&L, "output.weight", c->vocab_size, c->hidden_size, 0, &m->lm_head))) goto fail;
    if ((s = lc_model_identity_compute(m, m->identity))) goto fail;
    snprintf(m->source, sizeof m->source, "%s", path);
    if (keep) *keep = g;
    else lc_gguf_close(g);
    return LC_OK;
fail:
    lc_model_free(m);
    lc_gguf_close(g);
    return s;
}

/* ---------------- tokenizer metadata ---------------- */

static lc_status opt_arr(const lc_gguf *g, const char *key, lc_gguf_type et, const void **data, uint64_t *n) {
    *data = NULL;
    *n = 0;
    if (!lc_gguf_find(g, key)) return LC_OK;
    return lc_gguf_get_arr(g, key, et, data, n);
}

static lc_status opt_str(const lc_gguf *g, const char *key, const char **out) {
    *out = NULL;
    return lc_gguf_find(g, key) ? lc_gguf_get_str(g, key, out) : LC_OK;
}

static lc_status opt_bool(const lc_gguf *g, const char *key, int *out) {
    *out = -1;
    return lc_gguf_find(g, key) ? lc_gguf_get_bool(g, key, out) : LC_OK;
}

lc_status lc_gguf_tokenizer_info(const lc_gguf *g, lc_gguf_tokenizer *t) {
    lc_status s;
    const void *d;
    uint64_t n, ns, nt;
    const void *scores, *types;
    memset(t, 0, sizeof *t);
    if ((s = lc_gguf_get_arr(g, "tokenizer.ggml.tokens", LC_GGUF_STRING, &d, &n))) return s;
    t->tokens = d;
    t->n_tokens = (int64_t)n;
    if ((s = opt_arr(g, "tokenizer.ggml.scores", LC_GGUF_FLOAT32, &scores, &ns)) ||
        (s = opt_arr(g, "tokenizer.ggml.token_type", LC_GGUF_INT32, &types, &nt)) ||
        (s = opt_arr(g, "tokenizer.ggml.merges", LC_GGUF_STRING, &d, &n)))
        return s;
    if ((scores && ns != (uint64_t)t->n_tokens) || (types && nt != (uint64_t)t->n_tokens))
        return lc_errorf(LC_ERR_FORMAT, "%s: tokenizer.ggml.scores/token_type have %llu/%llu entries, expected %lld "
                         "(one per token)", lc_gguf_path(g), (unsigned long long)ns, (unsigned long long)nt,
                         (long long)t->n_tokens);
    t->scores = scores;
    t->token_type = types;
    t->merges = d;
    t->n_merges = (int64_t)n;
    if ((s = opt_str(g, "tokenizer.ggml.model", &t->model)) || (s = opt_str(g, "tokenizer.ggml.pre", &t->pre)) ||
        (s = opt_str(g, "tokenizer.chat_template", &t->chat_template)) ||
        (s = opt_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos)) ||
        (s = opt_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos)) ||
        (s = opt_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix)))
        return s;
    t->bos_id = get_opt_id(g, "tokenizer.ggml.bos_token_id");
    t->eos_id = get_opt_id(g, "tokenizer.ggml.eos_token_id");
    t->unk_id = get_opt_id(g, "tokenizer.ggml.unknown_token_id");
    t->pad_id = get_opt_id(g, "tokenizer.ggml.padding_token_id");
    return LC_OK;
}
