/*
 * infer.c — KV-cache forward for generation (see lc_infer.h).
 *
 * Tokens go through the model in chunks of at most CHUNK rows. Per layer
 * (N rows at absolute positions p0 .. p0+N-1):
 *   x ─ rmsnorm ─ xn ─┬─ q_proj(+LoRAs) ─ RoPE(p0..) ─ q ──────────────┐
 *                     ├─ k_proj(+LoRAs) ─ RoPE(p0..) ─ → cache k[p0..] ├─ attention over cache[0..p0+N) ─ att
 *                     └─ v_proj(+LoRAs) ───────────── → cache v[p0..] ┘
 *   x += o_proj(att);  x += down_proj(silu(gate_proj(xn2)) * up_proj(xn2)),  xn2 = rmsnorm(x)
 * Frozen matmuls: N > 1 dequantises LC_INFER_DEQ_ROWS rows at a time and
 * calls sgemm (the training path's numerics); N == 1 is a matrix-vector
 * product where each thread dequantises one row into a small buffer and dots
 * it with x while it is still in L1.
 */
#include "lc_infer.h"

#include "lc_kernels.h" /* before cblas.h: its complex.h defines the macro I */

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#define CHUNK 64                /* rows per prefill pass */
#define LC_INFER_DEQ_ROWS 256   /* rows of a quantised weight dequantised per GEMM tile */

struct lc_infer {
    const lc_model *m;
    lc_infer_adapter *ad;  /* (n_ad) */
    int n_ad, r_max;
    int wide;              /* max(C, F, Hq*hd): the widest weight row */
    int max_len, pos, nthr;
    int32_t *tokens;       /* (max_len) */
    float *kc, *vc;        /* (L, Hkv, max_len, hd) RoPE'd keys, values */
    float *cos_t, *sin_t;  /* (max_len, hd/2) */
    float *x;              /* (CHUNK, C) residual stream */
    float *xn;             /* (CHUNK, C) normed input / projection output */
    float *rstd;           /* (CHUNK) */
    float *q, *att;        /* (CHUNK, Hq*hd) */
    float *k, *v;          /* (CHUNK, Hkv*hd) */
    float *gate, *up;      /* (CHUNK, F) */
    float *xa;             /* (CHUNK, r_max) LoRA intermediate */
    float *deq;            /* (LC_INFER_DEQ_ROWS, wide) dequantised tile */
    float *rowbuf;         /* (nthr, wide) one dequantised row per thread */
    float *scores;         /* (nthr, max_len) attention scores per thread */
    float *mem;            /* the one block all of the above floats live in */
    size_t bytes;
};

/* ---------------------------------------------------------------- memory */

static size_t padded(size_t n) { return (n + 15) & ~(size_t)15; }

static float *take(float **cursor, size_t n) {
    float *p = *cursor;
    *cursor += padded(n); /* keeps 64-byte alignment */
    return p;
}

static lc_status check_adapter(const lc_model *m, const lc_lora *l, int idx) {
    const lc_model_config *c = &m->cfg;
    if (!l) return lc_errorf(LC_ERR_ARG, "adapter %d is NULL", idx);
    if (l->n_layers != c->n_layers)
        return lc_errorf(LC_ERR_MISMATCH, "adapter %d has %d layers, the model has %d", idx, l->n_layers,
                         c->n_layers);
    for (int layer = 0; layer < c->n_layers; layer++) {
        const lc_layer *w = &m->layers[layer];
        const lc_weight *W[LC_T_COUNT] = {&w->wq, &w->wk, &w->wv, &w->wo, &w->w_gate, &w->w_up, &w->w_down};
        for (int t = 0; t < LC_T_COUNT; t++) {
            const lc_lora_pair *p = lc_lora_get(l, layer, (lc_lora_target)t);
            if (!p->A) continue;
            if (p->in != W[t]->cols || p->out != W[t]->rows)
                return lc_errorf(LC_ERR_MISMATCH,
                                 "adapter %d, layer %d %s: LoRA shape (out %d, in %d) does not match the "
                                 "model's weight (%d, %d)",
                                 idx, layer, lc_lora_target_name((lc_lora_target)t), p->out, p->in,
                                 W[t]->rows, W[t]->cols);
        }
    }
    return LC_OK;
}

lc_status lc_infer_create(lc_infer **out, const lc_model *m, const lc_infer_adapter *adapters,
                          int n_adapters, int max_len) {
    const lc_model_config *c = &m->cfg;
    *out = NULL;
    if (max_len < 1) return lc_errorf(LC_ERR_ARG, "inference context length must be >= 1 (got %d)", max_len);
    if (n_adapters < 0 || (n_adapters > 0 && !adapters))
        return lc_errorf(LC_ERR_ARG, "bad adapter list (%d adapters)", n_adapters);
    int r_max = 0;
    for (int i = 0; i < n_adapters; i++) {
        lc_status st = check_adapter(m, adapters[i].lora, i);
        if (st) return st;
        if (adapters[i].lora->cfg.r > r_max) r_max = adapters[i].lora->cfg.r;
    }
    lc_infer *s = lc_calloc(sizeof *s);
    if (!s) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    s->m = m;
    s->max_len = max_len;
    s->n_ad = n_adapters;
    s->r_max = r_max;
    s->nthr = omp_get_max_threads();
    size_t C = c->hidden_size, F = c->intermediate_size, hd = c->head_dim, L = c->n_layers;
    size_t Q = (size_t)c->n_heads * hd, KV = (size_t)c->n_kv_heads * hd, T = (size_t)max_len;
    size_t wide = C > F ? C : F;
    if (Q > wide) wide = Q;
    s->wide = (int)wide;
    if (hd > 256) {
        lc_infer_free(s);
        return lc_errorf(LC_ERR_UNSUPPORTED, "head_dim %zu > 256 is not supported by inference", hd);
    }
    size_t total = 2 * padded(L * KV * T) + 2 * padded(T * hd / 2) + 2 * padded(CHUNK * C) + padded(CHUNK) +
                   2 * padded(CHUNK * Q) + 2 * padded(CHUNK * KV) + 2 * padded(CHUNK * F) +
                   padded(CHUNK * (size_t)(r_max ? r_max : 1)) + padded(LC_INFER_DEQ_ROWS * wide) +
                   padded((size_t)s->nthr * wide) + padded((size_t)s->nthr * T);
    s->mem = lc_alloc(total * sizeof(float));
    s->tokens = lc_alloc(T * sizeof(int32_t));
    s->ad = n_adapters ? lc_alloc((size_t)n_adapters * sizeof *s->ad) : NULL;
    if (!s->mem || !s->tokens || (n_adapters && !s->ad)) {
        lc_infer_free(s);
        return lc_errorf(LC_ERR_NOMEM, "out of memory for the KV cache (%.1f MB for %d positions)",
                         total * 4.0 / 1e6, max_len);
    }
    if (n_adapters) memcpy(s->ad, adapters, (size_t)n_adapters * sizeof *s->ad);
    float *cur = s->mem;
    s->kc = take(&cur, L * KV * T);
    s->vc = take(&cur, L * KV * T);
    s->cos_t = take(&cur, T * hd / 2);
    s->sin_t = take(&cur, T * hd / 2);
    s->x = take(&cur, CHUNK * C);
    s->xn = take(&cur, CHUNK * C);
    s->rstd = take(&cur, CHUNK);
    s->q = take(&cur, CHUNK * Q);
    s->att = take(&cur, CHUNK * Q);
    s->k = take(&cur, CHUNK * KV);
    s->v = take(&cur, CHUNK * KV);
    s->gate = take(&cur, CHUNK * F);
    s->up = take(&cur, CHUNK * F);
    s->xa = take(&cur, CHUNK * (size_t)(r_max ? r_max : 1));
    s->deq = take(&cur, LC_INFER_DEQ_ROWS * wide);
    s->rowbuf = take(&cur, (size_t)s->nthr * wide);
    s->scores = take(&cur, (size_t)s->nthr * T);
    LC_ASSERT((size_t)(cur - s->mem) <= total);
    s->bytes = total * sizeof(float) + T * sizeof(int32_t);
    lc_rope_table(s->cos_t, s->sin_t, max_len, c->head_dim, c->rope_theta);
    *out = s;
    return LC_OK;
}

void lc_infer_free(lc_infer *s) {
    if (!s) return;
    lc_free(s->mem);
    lc_free(s->tokens);
    lc_free(s->ad);
    lc_free(s);
}

void lc_infer_rewind(lc_infer *s, int pos) {
    LC_ASSERT(pos >= 0 && pos <= s->pos);
    s->pos = pos;
}

int lc_infer_pos(const lc_infer *s) { return s->pos; }
const int32_t *lc_infer_tokens(const lc_infer *s) { return s->tokens; }
int lc_infer_max_len(const lc_infer *s) { return s->max_len; }
size_t lc_infer_bytes(const lc_infer *s) { return s->bytes; }

/* ------------------------------------------------------- frozen matmuls */

/* a (n) · b (n) with a vectorisable reduction (no -ffast-math needed). */
static float dot(const float *a, const float *b, int n) {
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

/* out (O) = W (O, K) · x (K) + bias: one row per iteration; quantised rows are
 * dequantised into this thread's row buffer right before the dot. */
static void matvec(lc_infer *s, float *out, const float *x, const lc_weight *W, const float *bias) {
    int O = W->rows, K = W->cols;
    size_t rb = lc_dtype_row_bytes(W->type, K);
    const char *data = W->data;
#pragma omp parallel num_threads(s->nthr)
    {
        float *row = s->rowbuf + (size_t)omp_get_thread_num() * s->wide; /* (K) */
#pragma omp for schedule(static)
        for (int o = 0; o < O; o++) {
            const float *w;
            if (W->type == LC_DT_F32) {
                w = (const float *)(data + (size_t)o * rb);
            } else {
                lc_dequantize(W->type, data + (size_t)o * rb, row, K);
                w = row;
            }
            out[o] = dot(w, x, K) + (bias ? bias[o] : 0.0f);
        }
    }
}

/* out (N, O) = inp (N, K) · W^T + bias, any weight dtype. */
static void weight_forward(lc_infer *s, float *out, const float *inp, const lc_weight *W, const float *bias,
                           int N) {
    int O = W->rows, K = W->cols;
    if (N == 1) {
        matvec(s, out, inp, W, bias);
        return;
    }
    if (W->type == LC_DT_F32) {
        lc_linear_forward(out, inp, (const float *)W->data, bias, N, K, O);
        return;
    }
    size_t rb = lc_dtype_row_bytes(W->type, K);
    for (int r0 = 0; r0 < O; r0 += LC_INFER_DEQ_ROWS) {
        int nr = O - r0 < LC_INFER_DEQ_ROWS ? O - r0 : LC_INFER_DEQ_ROWS;
        lc_dequantize_rows(W->type, W->data, (int64_t)rb, r0, nr, K, s->deq);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, nr, K, 1.0f, inp, K, s->deq, K, 0.0f,
                    out + r0, O);
    }
    if (bias) {
        for (int n = 0; n < N; n++)
            for (int o = 0; o < O; o++) out[(size_t)n * O + o] += bias[o];
    }
}

/* y (N, out) = x W^T (+bias) + sum over adapters of mult*scale*(x A^T) B^T. */
static void proj(lc_infer *s, float *y, const float *x, const lc_weight *W, const float *bias, int layer,
                 lc_lora_target t, int N) {
    weight_forward(s, y, x, W, bias, N);
    for (int i = 0; i < s->n_ad; i++) {
        const lc_lora *l = s->ad[i].lora;
        const lc_lora_pair *p = lc_lora_get(l, layer, t);
        if (!p->A) continue;
        int r = l->cfg.r;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, p->in, 1.0f, x, p->in, p->A, p->in, 0.0f,
                    s->xa, r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, p->out, r, l->scale * s->ad[i].mult, s->xa,
                    r, p->B, r, 1.0f, y, p->out);
    }
}

/* --------------------------------------------------------------- attention */

/* att (N, Hq, hd) for queries q (N, Hq, hd) at positions p0 + i over the
 * cached keys/values of this layer, kc/vc (Hkv, max_len, hd), causal. */
static void attend(lc_infer *s, float *att, const float *q, const float *kc, const float *vc, int p0, int N) {
    const lc_model_config *c = &s->m->cfg;
    int Hq = c->n_heads, Hkv = c->n_kv_heads, hd = c->head_dim, group = Hq / Hkv;
    size_t T = (size_t)s->max_len;
    const float scale = (float)(1.0 / sqrt((double)hd));
#pragma omp parallel num_threads(s->nthr)
    {
        float *sc = s->scores + (size_t)omp_get_thread_num() * T; /* (len) */
        float qs[256];
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < N * Hq; task++) {
            int i = task / Hq, h = task % Hq, len = p0 + i + 1;
            const float *qr = q + ((size_t)i * Hq + h) * hd;
            const float *kh = kc + (size_t)(h / group) * T * hd; /* (max_len, hd) */
            const float *vh = vc + (size_t)(h / group) * T * hd;
            for (int d = 0; d < hd; d++) qs[d] = qr[d] * scale;
            float mx = -INFINITY;
            for (int j = 0; j < len; j++) {
                sc[j] = dot(qs, kh + (size_t)j * hd, hd);
                if (sc[j] > mx) mx = sc[j];
            }
            double sum = 0;
            for (int j = 0; j < len; j++) {
                sc[j] = expf(sc[j] - mx);
                sum += sc[j];
            }
            float inv = (float)(1.0 / sum);
            float *o = att + ((size_t)i * Hq + h) * hd;
            memset(o, 0, (size_t)hd * sizeof(float));
            for (int j = 0; j < len; j++) {
                const float *vr = vh + (size_t)j * hd;
                float p = sc[j];
#pragma omp simd
                for (int d = 0; d < hd; d++) o[d] += p * vr[d];
            }
            for (int d = 0; d < hd; d++) o[d] *= inv;
        }
    }
}

/* ------------------------------------------------------------ the pass */

static void add_inplace(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* Copy the chunk's k, v (N, Hkv, hd) into layer l's cache at p0. */
static void cache_store(lc_infer *s, int l, int p0, int N) {
    const lc_model_config *c = &s->m->cfg;
    int Hkv = c->n_kv_heads, hd = c->head_dim;
    size_t T = (size_t)s->max_len, layer = (size_t)l * Hkv * T * hd;
    for (int i = 0; i < N; i++)
        for (int h = 0; h < Hkv; h++) {
            size_t dst = layer + ((size_t)h * T + (size_t)(p0 + i)) * hd;
            size_t src = ((size_t)i * Hkv + h) * hd;
            memcpy(s->kc + dst, s->k + src, (size_t)hd * sizeof(float));
            memcpy(s->vc + dst, s->v + src, (size_t)hd * sizeof(float));
        }
}

/* One chunk of N <= CHUNK tokens at positions s->pos ...; leaves the final
 * normed hidden states in s->xn (N, C) and advances s->pos. */
static void forward_chunk(lc_infer *s, const int32_t *tokens, int N) {
    const lc_model *m = s->m;
    const lc_model_config *c = &m->cfg;
    int C = c->hidden_size, F = c->intermediate_size, Hq = c->n_heads, Hkv = c->n_kv_heads, hd = c->head_dim;
    int p0 = s->pos;
    size_t T = (size_t)s->max_len, kv_layer = (size_t)Hkv * T * hd;
    const float *cs = s->cos_t + (size_t)p0 * (hd / 2), *sn = s->sin_t + (size_t)p0 * (hd / 2);
    size_t rb = lc_dtype_row_bytes(m->tok_emb.type, C);
    for (int n = 0; n < N; n++) {
        const char *row = (const char *)m->tok_emb.data + (size_t)tokens[n] * rb;
        if (m->tok_emb.type == LC_DT_F32) memcpy(s->x + (size_t)n * C, row, (size_t)C * sizeof(float));
        else lc_dequantize(m->tok_emb.type, row, s->x + (size_t)n * C, C);
    }
    for (int l = 0; l < c->n_layers; l++) {
        const lc_layer *w = &m->layers[l];
        lc_rmsnorm_forward(s->xn, s->rstd, s->x, w->attn_norm, N, C, c->rms_eps);
        proj(s, s->q, s->xn, &w->wq, w->bq, l, LC_T_Q, N);
        proj(s, s->k, s->xn, &w->wk, w->bk, l, LC_T_K, N);
        proj(s, s->v, s->xn, &w->wv, w->bv, l, LC_T_V, N);
        lc_rope_forward(s->q, cs, sn, 1, N, Hq, hd);
        lc_rope_forward(s->k, cs, sn, 1, N, Hkv, hd);
        cache_store(s, l, p0, N);
        attend(s, s->att, s->q, s->kc + l * kv_layer, s->vc + l * kv_layer, p0, N);
        proj(s, s->xn, s->att, &w->wo, NULL, l, LC_T_O, N);
        add_inplace(s->x, s->xn, (size_t)N * C);
        lc_rmsnorm_forward(s->xn, s->rstd, s->x, w->mlp_norm, N, C, c->rms_eps);
        proj(s, s->gate, s->xn, &w->w_gate, NULL, l, LC_T_GATE, N);
        proj(s, s->up, s->xn, &w->w_up, NULL, l, LC_T_UP, N);
        lc_swiglu_forward(s->gate, s->gate, s->up, (size_t)N * F);
        proj(s, s->xn, s->gate, &w->w_down, NULL, l, LC_T_DOWN, N);
        add_inplace(s->x, s->xn, (size_t)N * C);
    }
    lc_rmsnorm_forward(s->xn, s->rstd, s->x, m->final_norm, N, C, c->rms_eps);
    memcpy(s->tokens + p0, tokens, (size_t)N * sizeof(int32_t));
    s->pos = p0 + N;
}

static lc_status check_input(const lc_infer *s, const int32_t *tokens, int n) {
    if (n < 1) return lc_errorf(LC_ERR_ARG, "nothing to run: %d tokens", n);
    if (s->pos + n > s->max_len)
        return lc_errorf(LC_ERR_ARG, "context full: %d cached + %d new tokens exceed the cache length %d",
                         s->pos, n, s->max_len);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= s->m->cfg.vocab_size)
            return lc_errorf(LC_ERR_ARG, "token id %d at position %d is outside the vocabulary (0..%d)",
                             tokens[i], i, s->m->cfg.vocab_size - 1);
    return LC_OK;
}

/* Shared body: all = 1 writes (n, V) logits, else the last row's (V). */
static lc_status run(lc_infer *s, const int32_t *tokens, int n, float *logits, int all) {
    lc_status st = check_input(s, tokens, n);
    if (st) return st;
    int V = s->m->cfg.vocab_size, C = s->m->cfg.hidden_size;
    for (int i0 = 0; i0 < n; i0 += CHUNK) {
        int N = n - i0 < CHUNK ? n - i0 : CHUNK;
        forward_chunk(s, tokens + i0, N);
        if (!logits) continue;
        if (all) weight_forward(s, logits + (size_t)i0 * V, s->xn, &s->m->lm_head, NULL, N);
        else if (i0 + N == n) matvec(s, logits, s->xn + (size_t)(N - 1) * C, &s->m->lm_head, NULL);
    }
    return LC_OK;
}

lc_status lc_infer_prefill(lc_infer *s, const int32_t *tokens, int n, float *logits) {
    return run(s, tokens, n, logits, 0);
}

lc_status lc_infer_prefill_all(lc_infer *s, const int32_t *tokens, int n, float *logits) {
    return run(s, tokens, n, logits, 1);
}

lc_status lc_infer_decode(lc_infer *s, int32_t token, float *logits) { return run(s, &token, 1, logits, 0); }
