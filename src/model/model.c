/*
 * model.c — ownership and bookkeeping of an lc_model: the buffers it owns
 * (malloc'd or mmap'd), config validation, parameter counts, names.
 */
#include "lc_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *lc_arch_name(lc_arch a) {
    switch (a) {
    case LC_ARCH_LLAMA: return "LlamaForCausalLM";
    case LC_ARCH_MISTRAL: return "MistralForCausalLM";
    case LC_ARCH_QWEN2: return "Qwen2ForCausalLM";
    case LC_ARCH_GPT2: return "GPT2LMHeadModel";
    case LC_ARCH_QWEN3: return "Qwen3ForCausalLM";
    case LC_ARCH_GEMMA3: return "Gemma3ForCausalLM";
    }
    return "unknown";
}

lc_status lc_model_own(lc_model *m, void *ptr, size_t size, int is_mmap) {
    if (m->n_buffers == m->cap_buffers) {
        int cap = m->cap_buffers ? 2 * m->cap_buffers : 16;
        lc_buffer *b = realloc(m->buffers, (size_t)cap * sizeof *b);
        if (!b) return lc_errorf(LC_ERR_NOMEM, "out of memory tracking model buffers");
        m->buffers = b;
        m->cap_buffers = cap;
    }
    m->buffers[m->n_buffers++] = (lc_buffer){ptr, size, is_mmap};
    return LC_OK;
}

void lc_model_free(lc_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_buffers; i++) {
        lc_buffer *b = &m->buffers[i];
        if (b->is_mmap) munmap(b->ptr, b->size);
        else lc_free(b->ptr);
    }
    free(m->buffers);
    free(m->layers);
    memset(m, 0, sizeof *m);
}

/* GPT-2: one head layout (no GQA), no RoPE, LayerNorm eps, always tied. */
static lc_status validate_gpt2(const lc_model_config *c) {
    if (c->n_kv_heads != c->n_heads || c->head_dim * c->n_heads != c->hidden_size)
        return lc_errorf(LC_ERR_CONFIG,
                         "GPT-2 config: n_head (%d) must divide n_embd (%d) with head_dim %d and no "
                         "grouped-query heads (kv heads %d)",
                         c->n_heads, c->hidden_size, c->head_dim, c->n_kv_heads);
    if (c->max_position <= 0)
        return lc_errorf(LC_ERR_CONFIG, "GPT-2 config: n_positions must be > 0 (got %d)", c->max_position);
    if (!(c->layer_norm_eps > 0))
        return lc_errorf(LC_ERR_CONFIG, "GPT-2 config: layer_norm_epsilon must be > 0 (got %g)",
                         c->layer_norm_eps);
    if (!c->tie_embeddings)
        return lc_errorf(LC_ERR_CONFIG, "GPT-2 config: the lm_head must be tied to the token embeddings");
    return LC_OK;
}

lc_status lc_model_config_validate(const lc_model_config *c) {
    if (c->vocab_size <= 0 || c->hidden_size <= 0 || c->intermediate_size <= 0 ||
        c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 || c->head_dim <= 0)
        return lc_errorf(LC_ERR_CONFIG,
                         "model config: sizes must be positive (vocab %d, hidden %d, intermediate "
                         "%d, layers %d, heads %d, kv heads %d, head_dim %d)",
                         c->vocab_size, c->hidden_size, c->intermediate_size, c->n_layers,
                         c->n_heads, c->n_kv_heads, c->head_dim);
    if (c->n_heads % c->n_kv_heads != 0)
        return lc_errorf(LC_ERR_CONFIG,
                         "model config: num_attention_heads (%d) must be a multiple of "
                         "num_key_value_heads (%d)",
                         c->n_heads, c->n_kv_heads);
    if (c->arch == LC_ARCH_GPT2) return validate_gpt2(c);
    if (c->head_dim % 2 != 0)
        return lc_errorf(LC_ERR_CONFIG, "model config: head_dim (%d) must be even for RoPE",
                         c->head_dim);
    if (!(c->rms_eps > 0) || !(c->rope_theta > 0))
        return lc_errorf(LC_ERR_CONFIG, "model config: rms_norm_eps (%g) and rope_theta (%g) must be > 0",
                         c->rms_eps, c->rope_theta);
    if (c->sliding_window < 0 || c->sliding_pattern < 0 || (c->sliding_window > 0) != (c->sliding_pattern > 0) ||
        (c->sliding_window > 0 && !(c->rope_local_theta > 0)))
        return lc_errorf(LC_ERR_CONFIG, "model config: sliding window %d, pattern %d, local rope base %g: a window "
                         "needs a pattern >= 1 and a positive local rope base", c->sliding_window, c->sliding_pattern,
                         (double)c->rope_local_theta);
    if (c->query_pre_attn_scalar < 0 || c->final_softcap < 0)
        return lc_errorf(LC_ERR_CONFIG, "model config: query_pre_attn_scalar (%g) and the final logit soft-cap (%g) "
                         "must be >= 0", (double)c->query_pre_attn_scalar, (double)c->final_softcap);
    return LC_OK;
}

/* GPT-2: wte + wpe + per layer (ln_1, c_attn, c_proj, ln_2, c_fc, c_proj, all
 * with biases) + ln_f; lm_head tied. */
static int64_t gpt2_param_count(const lc_model_config *c) {
    int64_t C = c->hidden_size, F = c->intermediate_size;
    int64_t per_layer = 4 * C + (3 * C * C + 3 * C) + (C * C + C) + (C * F + F) + (F * C + C);
    return (int64_t)c->vocab_size * C + (int64_t)c->max_position * C + per_layer * c->n_layers + 2 * C;
}

static void add_to(float *v, int n, float delta) {
    if (v)
        for (int i = 0; i < n; i++) v[i] += delta;
}

void lc_model_norms_add(lc_model *m, float delta) {
    const lc_model_config *c = &m->cfg;
    int C = c->hidden_size;
    for (int l = 0; l < c->n_layers; l++) {
        lc_layer *L = &m->layers[l];
        add_to(L->attn_norm, C, delta);
        add_to(L->mlp_norm, C, delta);
        add_to(L->post_attn_norm, C, delta);
        add_to(L->post_mlp_norm, C, delta);
        add_to(L->q_norm, c->head_dim, delta);
        add_to(L->k_norm, c->head_dim, delta);
    }
    add_to(m->final_norm, C, delta);
}

int64_t lc_model_param_count(const lc_model *m) {
    const lc_model_config *c = &m->cfg;
    if (c->arch == LC_ARCH_GPT2) return gpt2_param_count(c);
    int64_t C = c->hidden_size, F = c->intermediate_size, hd = c->head_dim;
    int64_t per_layer = 2 * C                                   /* norms */
                        + C * c->n_heads * hd * 2              /* q, o */
                        + C * c->n_kv_heads * hd * 2           /* k, v */
                        + 3 * C * F;                           /* gate, up, down */
    if (c->attn_bias) per_layer += (int64_t)(c->n_heads + 2 * c->n_kv_heads) * hd;
    if (c->qk_norm) per_layer += 2 * hd;
    if (c->arch == LC_ARCH_GEMMA3) per_layer += 2 * C; /* post-attention and post-MLP norms */
    int64_t total = per_layer * c->n_layers + (int64_t)c->vocab_size * C + C;
    if (!c->tie_embeddings) total += (int64_t)c->vocab_size * C;
    return total;
}

static float *random_floats(lc_model *m, size_t n, float mean, float std, uint64_t seed) {
    float *p = lc_alloc(n * sizeof(float));
    if (!p || lc_model_own(m, p, n * sizeof(float), 0)) {
        lc_free(p);
        return NULL;
    }
    /* Chunks get their own streams so generation parallelises deterministically. */
    const size_t chunk = 1 << 16;
    size_t nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
    for (size_t ci = 0; ci < nchunks; ci++) {
        lc_rng rng;
        lc_rng_seed(&rng, lc_hash64(seed, ci));
        size_t end = (ci + 1) * chunk < n ? (ci + 1) * chunk : n;
        for (size_t i = ci * chunk; i < end; i++) p[i] = mean + std * lc_rng_normal(&rng);
    }
    return p;
}

static int random_weight(lc_model *m, lc_weight *w, int rows, int cols, float std, uint64_t seed) {
    w->type = LC_DT_F32;
    w->rows = rows;
    w->cols = cols;
    w->data = random_floats(m, (size_t)rows * cols, 0.0f, std, seed);
    return w->data != NULL;
}

/* GPT-2 layers: LayerNorms with biases, fused qkv, biases on every linear. */
static int random_gpt2(lc_model *m, float std, uint64_t s) {
    const lc_model_config *cfg = &m->cfg;
    int C = cfg->hidden_size, F = cfg->intermediate_size, V = cfg->vocab_size;
    int ok = random_weight(m, &m->tok_emb, V, C, std, s++) &&
             random_weight(m, &m->pos_emb, cfg->max_position, C, std, s++);
    for (int l = 0; l < cfg->n_layers && ok; l++) {
        lc_layer *L = &m->layers[l];
        ok = (L->attn_norm = random_floats(m, C, 1.0f, std, s++)) &&
             (L->attn_norm_b = random_floats(m, C, 0.0f, std, s++)) &&
             random_weight(m, &L->wqkv, 3 * C, C, std, s++) && (L->bqkv = random_floats(m, 3 * C, 0.0f, std, s++)) &&
             random_weight(m, &L->wo, C, C, std, s++) && (L->bo = random_floats(m, C, 0.0f, std, s++)) &&
             (L->mlp_norm = random_floats(m, C, 1.0f, std, s++)) &&
             (L->mlp_norm_b = random_floats(m, C, 0.0f, std, s++)) &&
             random_weight(m, &L->w_up, F, C, std, s++) && (L->b_up = random_floats(m, F, 0.0f, std, s++)) &&
             random_weight(m, &L->w_down, C, F, std, s++) && (L->b_down = random_floats(m, C, 0.0f, std, s++));
    }
    ok = ok && (m->final_norm = random_floats(m, C, 1.0f, std, s++)) &&
         (m->final_norm_b = random_floats(m, C, 0.0f, std, s++));
    if (ok) m->lm_head = m->tok_emb;
    return ok;
}

lc_status lc_model_init_random(lc_model *m, const lc_model_config *cfg, float std, uint64_t seed) {
    memset(m, 0, sizeof *m);
    lc_status st = lc_model_config_validate(cfg);
    if (st) return st;
    m->cfg = *cfg;
    if ((st = lc_model_describe(m))) return st;
    if (m->fam.layer == LC_LAYER_GPT2) {
        m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers);
        if (!m->layers || !random_gpt2(m, std, seed * 1000003u)) {
            lc_model_free(m);
            return lc_errorf(LC_ERR_NOMEM, "out of memory for a random model");
        }
        snprintf(m->source, sizeof m->source, "random(seed=%llu)", (unsigned long long)seed);
        return LC_OK;
    }
    int C = cfg->hidden_size, F = cfg->intermediate_size, V = cfg->vocab_size;
    int Q = cfg->n_heads * cfg->head_dim, KV = cfg->n_kv_heads * cfg->head_dim;
    m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers);
    if (!m->layers) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    uint64_t s = seed * 1000003u;
    int ok = random_weight(m, &m->tok_emb, V, C, std, s++);
    for (int l = 0; l < cfg->n_layers && ok; l++) {
        lc_layer *L = &m->layers[l];
        ok = (L->attn_norm = random_floats(m, C, 1.0f, std, s++)) && (L->mlp_norm = random_floats(m, C, 1.0f, std, s++)) &&
             random_weight(m, &L->wq, Q, C, std, s++) && random_weight(m, &L->wk, KV, C, std, s++) &&
             random_weight(m, &L->wv, KV, C, std, s++) && random_weight(m, &L->wo, C, Q, std, s++) &&
             random_weight(m, &L->w_gate, F, C, std, s++) && random_weight(m, &L->w_up, F, C, std, s++) &&
             random_weight(m, &L->w_down, C, F, std, s++);
        if (ok && cfg->attn_bias)
            ok = (L->bq = random_floats(m, Q, 0.0f, std, s++)) && (L->bk = random_floats(m, KV, 0.0f, std, s++)) &&
                 (L->bv = random_floats(m, KV, 0.0f, std, s++));
        if (ok && m->fam.qk_norm)
            ok = (L->q_norm = random_floats(m, cfg->head_dim, 1.0f, std, s++)) &&
                 (L->k_norm = random_floats(m, cfg->head_dim, 1.0f, std, s++));
        if (ok && m->fam.norm_place == LC_NORM_SANDWICH)
            ok = (L->post_attn_norm = random_floats(m, C, 1.0f, std, s++)) &&
                 (L->post_mlp_norm = random_floats(m, C, 1.0f, std, s++));
    }
    ok = ok && (m->final_norm = random_floats(m, C, 1.0f, std, s++));
    if (ok) {
        if (cfg->tie_embeddings) m->lm_head = m->tok_emb;
        else ok = random_weight(m, &m->lm_head, V, C, std, s++);
    }
    if (!ok) {
        lc_model_free(m);
        return lc_errorf(LC_ERR_NOMEM, "out of memory for a random model");
    }
    snprintf(m->source, sizeof m->source, "random(seed=%llu)", (unsigned long long)seed);
    return LC_OK;
}

static lc_status dequantize_weight(lc_model *m, lc_weight *w) {
    if (w->type == LC_DT_F32 || !w->data) return LC_OK;
    size_t n = (size_t)w->rows * w->cols, rb = lc_dtype_row_bytes(w->type, w->cols);
    float *out = lc_alloc(n * sizeof(float));
    if (!out || lc_model_own(m, out, n * sizeof(float), 0)) {
        lc_free(out);
        return lc_errorf(LC_ERR_NOMEM, "out of memory dequantising a %d x %d weight", w->rows, w->cols);
    }
    lc_dequantize_rows(w->type, w->data, (int64_t)rb, 0, w->rows, w->cols, out);
    w->type = LC_DT_F32;
    w->data = out;
    return LC_OK;
}

lc_status lc_model_dequantize_all(lc_model *m) {
    int tied = m->lm_head.data == m->tok_emb.data;
    lc_status st = dequantize_weight(m, &m->tok_emb);
    if (!st) {
        if (tied) m->lm_head = m->tok_emb;
        else st = dequantize_weight(m, &m->lm_head);
    }
    if (!st) st = dequantize_weight(m, &m->pos_emb); /* GPT-2; empty otherwise */
    for (int l = 0; l < m->cfg.n_layers && !st; l++) {
        lc_layer *L = &m->layers[l];
        lc_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down, &L->wqkv};
        for (int i = 0; i < 8 && !st; i++) st = dequantize_weight(m, ws[i]);
    }
    return st;
}

/* w (F32, F16 or BF16) -> an owned bf16 copy, rounded to nearest even as
 * torch's .to(torch.bfloat16); quantised weights are left as they are. */
static lc_status weight_to_bf16(lc_model *m, lc_weight *w) {
    if (!w->data || (w->type != LC_DT_F32 && w->type != LC_DT_F16)) return LC_OK;
    size_t n = (size_t)w->rows * w->cols, rb = lc_dtype_row_bytes(w->type, w->cols);
    uint16_t *out = lc_alloc(n * sizeof(uint16_t));
    float *row = lc_alloc((size_t)w->cols * sizeof(float));
    if (!out || !row || lc_model_own(m, out, n * sizeof(uint16_t), 0)) {
        lc_free(out), lc_free(row);
        return lc_errorf(LC_ERR_NOMEM, "out of memory converting a %d x %d weight to bf16", w->rows, w->cols);
    }
    for (int r = 0; r < w->rows; r++) { /* one row at a time: no full fp32 copy */
        lc_dequantize_rows(w->type, w->data, (int64_t)rb, r, 1, w->cols, row);
        for (int c = 0; c < w->cols; c++) out[(size_t)r * w->cols + c] = lc_f32_to_bf16(row[c]);
    }
    lc_free(row);
    w->type = LC_DT_BF16;
    w->data = out;
    return LC_OK;
}

/* 1 if any tensor of m points into [lo, hi). */
static int model_uses(const lc_model *m, const char *lo, const char *hi) {
    const void *p[] = {m->tok_emb.data, m->lm_head.data, m->pos_emb.data, m->final_norm, m->final_norm_b};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        if ((const char *)p[i] >= lo && (const char *)p[i] < hi) return 1;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const lc_layer *L = &m->layers[l];
        const void *q[] = {L->attn_norm, L->mlp_norm, L->post_attn_norm, L->post_mlp_norm, L->bq, L->bk, L->bv, L->q_norm, L->k_norm, L->attn_norm_b, L->mlp_norm_b, L->bqkv,
                           L->bo, L->b_up, L->b_down, L->wq.data, L->wk.data, L->wv.data, L->wo.data,
                           L->w_gate.data, L->w_up.data, L->w_down.data, L->wqkv.data};
        for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
            if ((const char *)q[i] >= lo && (const char *)q[i] < hi) return 1;
    }
    return 0;
}

/* Give back memory no tensor uses any more: owned blocks are freed; for
 * mapped files, the pages of a converted weight (old data, bytes) are
 * dropped from the resident set (MADV_DONTNEED; the file stays mapped). */
static void release_unused(lc_model *m, const void *old, size_t bytes) {
    for (int i = 0; i < m->n_buffers; i++) {
        lc_buffer *b = &m->buffers[i];
        const char *lo = b->ptr, *hi = lo + b->size;
        if (!b->ptr || (const char *)old < lo || (const char *)old >= hi) continue;
        if (!b->is_mmap && !model_uses(m, lo, hi)) {
            lc_free(b->ptr);
            b->ptr = NULL, b->size = 0;
        } else if (b->is_mmap) {
            size_t page = (size_t)sysconf(_SC_PAGESIZE);
            uintptr_t a = ((uintptr_t)old + page - 1) / page * page, e = ((uintptr_t)old + bytes) / page * page;
            if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
        }
        return;
    }
}

lc_status lc_model_frozen_to_bf16(lc_model *m) {
    if (m->fam.layer == LC_LAYER_GPT2)
        return lc_errorf(LC_ERR_UNSUPPORTED, "precision bf16 is implemented for the Llama family only, not GPT-2 "
                                             "(use precision: fp32)");
    lc_status st = LC_OK;
    for (int l = 0; l < m->cfg.n_layers && !st; l++) {
        lc_layer *L = &m->layers[l];
        lc_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 7 && !st; i++) {
            const void *old = ws[i]->data;
            size_t bytes = lc_dtype_row_bytes(ws[i]->type, ws[i]->cols) * (size_t)ws[i]->rows;
            st = weight_to_bf16(m, ws[i]);
            if (!st && ws[i]->data != old) release_unused(m, old, bytes);
        }
    }
    return st;
}
