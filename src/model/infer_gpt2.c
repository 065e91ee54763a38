/*
 * infer_gpt2.c — KV-cache prefill and decode for GPT-2 layers
 * (infer_gpt2.h), the inference side of gpt2.c with the same kernels
 * (lc_layernorm_forward, lc_gelu_tanh_forward, lc_linear_forward) and the
 * cache attention kernel the RoPE layer uses (lc_attention_prefill).
 *
 * Tokens go through in chunks of at most CHUNK rows; per layer, for N rows at
 * absolute positions p0 .. p0+N-1:
 *   x ─ ln_1 ─ xn ─ c_attn(+LoRAs) ─ qkv (N, 3C) ─┬─ q ─────────────┐
 *                                                 ├─ k → cache k[p0..] ├─ attention over cache[0..p0+N) ─ att
 *                                                 └─ v → cache v[p0..] ┘
 *   x += attn.c_proj(att);  x += mlp.c_proj(gelu_tanh(c_fc(ln_2(x))))
 * with x = wte[token] + wpe[position] on entry and ln_f(x) · wte^T the logits.
 * Every projection is y = x W^T + b plus, per adapter, mult·scale·(x A^T) B^T
 * (PEFT's LoRA on GPT-2's Conv1D, whose weights the loader stored as (out, in)).
 * Decode (N = 1) runs the same code with each weight as one BLAS
 * matrix-vector product (sgemv), bound by the bytes of the weights.
 */
#include "infer_gpt2.h"

#include "lc_kernels.h" /* before cblas.h: its complex.h defines the macro I */

#include <cblas.h>
#include <string.h>

#define CHUNK 64 /* rows per prefill pass */

struct lc_gpt2_infer {
    const lc_model *m;
    lc_infer_adapter *ad; /* (n_ad) */
    int n_ad, r_max, max_len;
    float *kc, *vc;     /* (L, H, max_len, hd) keys, values */
    float *x;           /* (CHUNK, C) residual stream */
    float *xn;          /* (CHUNK, C) LayerNorm output / projection output */
    float *mean, *rstd; /* (CHUNK) */
    float *qkv;         /* (CHUNK, 3C) c_attn output */
    float *q, *att;     /* (CHUNK, C) = (CHUNK, H, hd) */
    float *fc;          /* (CHUNK, F) c_fc output, then its GELU */
    float *xa;          /* (CHUNK, r_max) LoRA x · A^T */
    float *mem;         /* the one block all of the above live in */
    size_t bytes;
};

static size_t padded(size_t n) { return (n + 15) & ~(size_t)15; } /* floats, 64-byte multiples */

static float *take(float **cursor, size_t n) {
    float *p = *cursor;
    *cursor += padded(n);
    return p;
}

/* Every adapter fits m's projections; no DoRA (GPT-2 does not train it). */
static lc_status check_adapters(const lc_model *m, const lc_infer_adapter *ad, int n) {
    for (int i = 0; i < n; i++) {
        const lc_lora *lo = ad[i].lora;
        if (!lo) return lc_errorf(LC_ERR_ARG, "adapter %d is NULL", i);
        if (lo->n_layers != m->cfg.n_layers)
            return lc_errorf(LC_ERR_MISMATCH, "adapter %d has %d layers, the model has %d", i, lo->n_layers,
                             m->cfg.n_layers);
        if (lo->cfg.use_dora)
            return lc_errorf(LC_ERR_UNSUPPORTED, "adapter %d is a DoRA adapter: DoRA is not implemented for GPT-2", i);
        for (int l = 0; l < m->cfg.n_layers; l++)
            for (int t = 0; t < LC_T_COUNT; t++) {
                const lc_lora_pair *p = lc_lora_get(lo, l, (lc_lora_target)t);
                if (!p->A) continue;
                const lc_weight *w = lc_lora_target_weight(m, l, (lc_lora_target)t);
                if (p->in != w->cols || p->out != w->rows || !w->data)
                    return lc_errorf(LC_ERR_MISMATCH,
                                     "adapter %d, layer %d %s: LoRA shape (out %d, in %d) does not match the "
                                     "GPT-2 model's weight (%d, %d)",
                                     i, l, lc_lora_target_name((lc_lora_target)t), p->out, p->in, w->rows, w->cols);
            }
    }
    return LC_OK;
}

static lc_status check_weights(const lc_model *m) {
    const lc_weight *top[2] = {&m->tok_emb, &m->pos_emb};
    for (int i = 0; i < 2; i++)
        if (top[i]->type != LC_DT_F32 || !top[i]->data)
            return lc_errorf(LC_ERR_UNSUPPORTED, "GPT-2 inference: %s is not fp32", i ? "wpe" : "wte");
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const lc_layer *w = &m->layers[l];
        const lc_weight *ws[4] = {&w->wqkv, &w->wo, &w->w_up, &w->w_down};
        for (int i = 0; i < 4; i++)
            if (ws[i]->type != LC_DT_F32 || !ws[i]->data)
                return lc_errorf(LC_ERR_UNSUPPORTED, "GPT-2 inference: a weight of layer %d is not fp32 (type %d)", l,
                                 (int)ws[i]->type);
    }
    return LC_OK;
}

static void carve(lc_gpt2_infer *g, size_t L, size_t T, size_t C, size_t F, size_t r) {
    float *cur = g->mem;
    g->kc = take(&cur, L * T * C);
    g->vc = take(&cur, L * T * C);
    g->x = take(&cur, CHUNK * C);
    g->xn = take(&cur, CHUNK * C);
    g->mean = take(&cur, CHUNK);
    g->rstd = take(&cur, CHUNK);
    g->qkv = take(&cur, CHUNK * 3 * C);
    g->q = take(&cur, CHUNK * C);
    g->att = take(&cur, CHUNK * C);
    g->fc = take(&cur, CHUNK * F);
    g->xa = take(&cur, CHUNK * r);
    LC_ASSERT((size_t)(cur - g->mem) * sizeof(float) <= g->bytes);
}

lc_status lc_gpt2_infer_create(lc_gpt2_infer **out, const lc_model *m, const lc_infer_adapter *adapters, int n_adapters,
                               int max_len) {
    const lc_model_config *c = &m->cfg;
    *out = NULL;
    if (max_len > c->max_position)
        return lc_errorf(LC_ERR_ARG,
                         "GPT-2 has learned positions for %d tokens (n_positions); a context of %d does not fit "
                         "(lower --ctx)",
                         c->max_position, max_len);
    lc_status st = check_weights(m);
    if (!st) st = check_adapters(m, adapters, n_adapters);
    if (st) return st;
    int r_max = 1;
    for (int i = 0; i < n_adapters; i++)
        if (adapters[i].lora->r_max > r_max) r_max = adapters[i].lora->r_max;
    size_t L = c->n_layers, T = (size_t)max_len, C = c->hidden_size, F = c->intermediate_size, r = r_max;
    size_t total = 2 * padded(L * T * C) + 3 * padded(CHUNK * C) + 2 * padded(CHUNK) + padded(CHUNK * 3 * C) +
                   padded(CHUNK * C) + padded(CHUNK * F) + padded(CHUNK * r);
    lc_gpt2_infer *g = lc_calloc(sizeof *g);
    if (!g) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    g->mem = lc_alloc(total * sizeof(float));
    g->ad = n_adapters ? lc_alloc((size_t)n_adapters * sizeof *g->ad) : NULL;
    if (!g->mem || (n_adapters && !g->ad)) {
        lc_gpt2_infer_free(g);
        return lc_errorf(LC_ERR_NOMEM, "out of memory for the GPT-2 KV cache (%.1f MB for %d positions)",
                         total * 4.0 / 1e6, max_len);
    }
    if (n_adapters) memcpy(g->ad, adapters, (size_t)n_adapters * sizeof *g->ad);
    g->m = m;
    g->n_ad = n_adapters;
    g->r_max = r_max;
    g->max_len = max_len;
    g->bytes = total * sizeof(float);
    carve(g, L, T, C, F, r);
    *out = g;
    return LC_OK;
}

void lc_gpt2_infer_free(lc_gpt2_infer *g) {
    if (!g) return;
    lc_free(g->mem);
    lc_free(g->ad);
    lc_free(g);
}

size_t lc_gpt2_infer_bytes(const lc_gpt2_infer *g) { return g ? g->bytes + sizeof *g : 0; }

/* y (N, O) = x (N, In) W^T + bias; one row (decode) as a BLAS matrix-vector
 * product: sgemm would pack all of W for a single row. */
static void linear(float *y, const float *x, const float *W, const float *bias, int N, int In, int O) {
    if (N > 1) {
        lc_linear_forward(y, x, W, bias, N, In, O);
        return;
    }
    if (bias) memcpy(y, bias, (size_t)O * sizeof(float));
    cblas_sgemv(CblasRowMajor, CblasNoTrans, O, In, 1.0f, W, In, x, 1, bias ? 1.0f : 0.0f, y, 1);
}

/* y (N, out) = x (N, in) W^T + bias + sum over adapters of mult·scale·(x A^T) B^T. */
static void proj(lc_gpt2_infer *g, float *y, const float *x, const lc_weight *W, const float *bias, int layer,
                 lc_lora_target t, int N) {
    linear(y, x, (const float *)W->data, bias, N, W->cols, W->rows);
    for (int i = 0; i < g->n_ad; i++) {
        const lc_lora_pair *p = lc_lora_get(g->ad[i].lora, layer, t);
        if (!p->A) continue;
        int r = p->r;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, p->in, 1.0f, x, p->in, p->A, p->in, 0.0f, g->xa, r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, p->out, r, p->scale * g->ad[i].mult, g->xa, r, p->B, r,
                    1.0f, y, p->out);
    }
}

static void add_inplace(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* g->x (N, C) = wte[tokens] + wpe[p0 ..]. */
static void embed(lc_gpt2_infer *g, const int32_t *tokens, int N, int p0) {
    int C = g->m->cfg.hidden_size;
    const float *wte = g->m->tok_emb.data, *wpe = g->m->pos_emb.data; /* (V, C), (P, C) */
    for (int n = 0; n < N; n++) {
        const float *e = wte + (size_t)tokens[n] * C, *p = wpe + (size_t)(p0 + n) * C;
        float *o = g->x + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = e[i] + p[i];
    }
}

/* qkv (N, 3C) → q (N, C) and layer l's cache rows p0 .. p0+N-1 (per head). */
static void split_store(lc_gpt2_infer *g, int l, int p0, int N) {
    const lc_model_config *c = &g->m->cfg;
    int C = c->hidden_size, H = c->n_heads, hd = c->head_dim;
    size_t T = (size_t)g->max_len, layer = (size_t)l * H * T * hd;
    for (int n = 0; n < N; n++) {
        const float *row = g->qkv + (size_t)n * 3 * C;
        memcpy(g->q + (size_t)n * C, row, (size_t)C * sizeof(float));
        for (int h = 0; h < H; h++) {
            size_t dst = layer + ((size_t)h * T + (size_t)(p0 + n)) * hd;
            memcpy(g->kc + dst, row + C + (size_t)h * hd, (size_t)hd * sizeof(float));
            memcpy(g->vc + dst, row + 2 * C + (size_t)h * hd, (size_t)hd * sizeof(float));
        }
    }
}

/* One layer over the chunk's N rows in g->x. */
static void layer_forward(lc_gpt2_infer *g, int l, int p0, int N) {
    const lc_model_config *c = &g->m->cfg;
    const lc_layer *w = &g->m->layers[l];
    int C = c->hidden_size, H = c->n_heads, hd = c->head_dim;
    size_t T = (size_t)g->max_len, kv_layer = (size_t)l * H * T * hd;
    float eps = c->layer_norm_eps;
    lc_layernorm_forward(g->xn, g->mean, g->rstd, g->x, w->attn_norm, w->attn_norm_b, N, C, eps);
    proj(g, g->qkv, g->xn, &w->wqkv, w->bqkv, l, LC_T_C_ATTN, N);
    split_store(g, l, p0, N);
    lc_attention_prefill(g->att, g->q, g->kc + kv_layer, g->vc + kv_layer, p0, N, H, H, hd, g->max_len, 0);
    proj(g, g->xn, g->att, &w->wo, w->bo, l, LC_T_ATTN_C_PROJ, N);
    add_inplace(g->x, g->xn, (size_t)N * C);
    lc_layernorm_forward(g->xn, g->mean, g->rstd, g->x, w->mlp_norm, w->mlp_norm_b, N, C, eps);
    proj(g, g->fc, g->xn, &w->w_up, w->b_up, l, LC_T_C_FC, N);
    lc_gelu_tanh_forward(g->fc, g->fc, (size_t)N * c->intermediate_size);
    proj(g, g->xn, g->fc, &w->w_down, w->b_down, l, LC_T_MLP_C_PROJ, N);
    add_inplace(g->x, g->xn, (size_t)N * C);
}

void lc_gpt2_infer_run(lc_gpt2_infer *g, const int32_t *tokens, int n, int p0, float *logits, int all) {
    const lc_model_config *c = &g->m->cfg;
    int C = c->hidden_size, V = c->vocab_size;
    const float *wte = g->m->lm_head.data; /* (V, C), tied */
    LC_ASSERT(n >= 1 && p0 >= 0 && p0 + n <= g->max_len);
    for (int i0 = 0; i0 < n; i0 += CHUNK) {
        int N = n - i0 < CHUNK ? n - i0 : CHUNK;
        embed(g, tokens + i0, N, p0 + i0);
        for (int l = 0; l < c->n_layers; l++) layer_forward(g, l, p0 + i0, N);
        if (!logits || (!all && i0 + N < n)) continue;
        if (all) {
            lc_layernorm_forward(g->xn, g->mean, g->rstd, g->x, g->m->final_norm, g->m->final_norm_b, N, C,
                                 c->layer_norm_eps);
            lc_linear_forward(logits + (size_t)i0 * V, g->xn, wte, NULL, N, C, V);
        } else { /* the last row only */
            const float *xl = g->x + (size_t)(N - 1) * C;
            lc_layernorm_forward(g->xn, g->mean, g->rstd, xl, g->m->final_norm, g->m->final_norm_b, 1, C,
                                 c->layer_norm_eps);
            linear(logits, g->xn, wte, NULL, 1, C, V);
        }
    }
}
