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
 * calls sgemm (the training path's numerics). N == 1 (decode_one) runs the
 * whole token in one OpenMP region, each thread taking a slice of every
 * matrix's output rows: F32 rows 4 at a time through an AVX2/FMA kernel
 * (dot4_f32), quantised rows through fused dequantise-and-dot (row_dot).
 * The family description (m->fam) adds a per-head q/k RMSNorm before RoPE
 * (qk_norm) and scales the RoPE table; RMSNorm, RoPE and the q/k norm are the
 * training path's kernels. Gemma 3 adds (as transformer.c): embeddings ×
 * embed_scale, post-norms on the attention and MLP outputs (sandwich), GeGLU,
 * the family's score scale, and sliding layers that attend to the last
 * `window` positions with the local RoPE table (the cache keeps every
 * position; a sliding layer reads only its window).
 *
 * A DoRA adapter i (lc_dora.h, no dropout at inference) turns the output
 * accumulated so far into y ← b + g ⊙ (y − b + s·mult·B A x), g = m / ‖W +
 * s·mult·BA‖ computed once at create — PEFT's order: each DoRA adapter's
 * base_result is the result of the base and the adapters before it.
 */
#include "lc_infer.h"

#include "infer_gpt2.h"
#include "lc_dora.h"
#include "lc_tokens.h"
#include "lc_kernels.h" /* before cblas.h: its complex.h defines the macro I */

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#define CHUNK 64                /* rows per prefill pass */
#define LC_INFER_DEQ_ROWS 256   /* rows of a quantised weight dequantised per GEMM tile */
#define PAR_MIN_WORK 65536      /* multiply-adds below which a loop runs on one thread */

struct lc_infer {
    const lc_model *m;
    lc_infer_adapter *ad;  /* (n_ad) */
    int n_ad, r_max;
    int wide;              /* max(C, F, Hq*hd): the widest weight row */
    int max_len, pos, nthr;
    int32_t *tokens;       /* (max_len) */
    float *kc, *vc;        /* (L, Hkv, max_len, hd) RoPE'd keys, values */
    float *cos_t, *sin_t;  /* (max_len, hd/2) */
    float *cos_l, *sin_l;  /* (max_len, hd/2) sliding layers' table, or the global one without sliding layers */
    float qscale;          /* prefill: q × this before the kernel's 1/√hd (lc_model_q_scale) */
    float att_scale;       /* decode: the score scale */
    float *x;              /* (CHUNK, C) residual stream */
    float *xn;             /* (CHUNK, C) normed input / projection output */
    float *rstd;           /* (CHUNK * Hq) norm scratch */
    float *q, *att;        /* (CHUNK, Hq*hd) */
    float *k, *v;          /* (CHUNK, Hkv*hd) */
    float *gate, *up;      /* (CHUNK, F) */
    float *xa;             /* (CHUNK, r_max) LoRA intermediate */
    float *deq;            /* (LC_INFER_DEQ_ROWS, wide) dequantised tile */
    float *rowbuf;         /* (nthr, wide) one dequantised row per thread */
    float *tbuf;           /* (nthr, tstride) per-thread decode state, see decode_one */
    size_t tstride;
    float *scores;         /* (nthr, max_len) attention scores per thread */
    float *mem;            /* the one block all of the above floats live in */
    float *dora_g;         /* (n_ad, L, LC_T_COUNT, wide) DoRA gains m / norm; NULL when no adapter uses DoRA */
    size_t bytes;
    lc_gpt2_infer *g2;     /* GPT-2 layers (infer_gpt2.c) keep their own cache; NULL for the RoPE layer */
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

/* The DoRA gains of adapter i, (layer, t): (out) */
static float *dora_gain(const lc_infer *s, int i, int layer, lc_lora_target t) {
    return s->dora_g + (((size_t)i * s->m->cfg.n_layers + layer) * LC_T_COUNT + t) * s->wide;
}

/* g = m / ‖W + s·mult·BA‖ for every DoRA pair (the adapters are fixed while generating). */
static lc_status dora_gains(lc_infer *s) {
    int any = 0, L = s->m->cfg.n_layers;
    for (int i = 0; i < s->n_ad; i++) any |= s->ad[i].lora->cfg.use_dora;
    if (!any) return LC_OK;
    s->dora_g = lc_alloc((size_t)s->n_ad * L * LC_T_COUNT * s->wide * sizeof(float));
    if (!s->dora_g) return lc_errorf(LC_ERR_NOMEM, "out of memory for DoRA gains");
    for (int i = 0; i < s->n_ad; i++)
        for (int l = 0; l < L && s->ad[i].lora->cfg.use_dora; l++)
            for (int t = 0; t < LC_T_COUNT; t++) {
                const lc_lora *lo = s->ad[i].lora;
                const lc_lora_pair *p = lc_lora_get(lo, l, (lc_lora_target)t);
                if (!p->mag) continue;
                float *g = dora_gain(s, i, l, (lc_lora_target)t);
                lc_status st = lc_dora_pair_norms(g, lc_lora_target_weight(s->m, l, (lc_lora_target)t), p,
                                                  p->r, p->scale * s->ad[i].mult);
                if (st) return st;
                lc_dora_gain(g, p->mag, g, p->out);
            }
    return LC_OK;
}

/* y[o] ← b[o] + g[o] (y[o] − b[o]) for o in [lo, hi) of N rows of `out`. */
/* Trainable tokens (lc_tokens.h) of adapter i must not share an id with an
 * earlier adapter's (PEFT refuses overlapping token indices too). */
static lc_status check_tokens_disjoint(const lc_infer_adapter *ad, int i) {
    const lc_lora_tokens *t = &ad[i].lora->tok;
    for (int k = 0; k < i; k++)
        for (int a = 0; a < t->n; a++)
            for (int b = 0; b < ad[k].lora->tok.n; b++)
                if (t->ids[a] == ad[k].lora->tok.ids[b])
                    return lc_errorf(LC_ERR_ARG, "adapters %d and %d both train token %d (trainable_token_indices "
                                                 "must be disjoint)", k, i, t->ids[a]);
    return LC_OK;
}

/* The adapters' trainable-token rows: embeddings x (N, C) of tokens, and the
 * tied head's logit columns of logits (N, V) from final hidden xn (N, C).
 * They replace rows whatever the adapter's multiplier (PEFT: not scaled). */
static void tokens_embed(lc_infer *s, const int32_t *tokens, int N) {
    for (int i = 0; i < s->n_ad; i++) lc_tokens_embed(s->x, tokens, N, s->ad[i].lora);
}
static void tokens_logits(const lc_infer *s, float *logits, const float *xn, int N) {
    for (int i = 0; i < s->n_ad; i++) lc_tokens_head_logits(logits, xn, N, s->m->cfg.vocab_size, s->ad[i].lora);
}

static void dora_apply(float *y, const float *g, const float *bias, int N, int out, int lo, int hi) {
    for (int n = 0; n < N; n++)
        for (int o = lo; o < hi; o++) {
            float b = bias ? bias[o] : 0.0f, *v = y + (size_t)n * out + o;
            *v = b + g[o] * (*v - b);
        }
}

/* GPT-2 layers: the cache and the pass are infer_gpt2.c's; this struct keeps
 * the tokens and the position. */
static lc_status create_gpt2(lc_infer **out, const lc_model *m, const lc_infer_adapter *adapters, int n_adapters,
                             int max_len) {
    lc_infer *s = lc_calloc(sizeof *s);
    if (!s || !(s->tokens = lc_alloc((size_t)max_len * sizeof(int32_t)))) {
        lc_free(s);
        return lc_errorf(LC_ERR_NOMEM, "out of memory");
    }
    s->m = m;
    s->max_len = max_len;
    lc_status st = lc_gpt2_infer_create(&s->g2, m, adapters, n_adapters, max_len);
    if (st) {
        lc_infer_free(s);
        return st;
    }
    s->bytes = (size_t)max_len * sizeof(int32_t) + lc_gpt2_infer_bytes(s->g2);
    *out = s;
    return LC_OK;
}

lc_status lc_infer_create(lc_infer **out, const lc_model *m, const lc_infer_adapter *adapters,
                          int n_adapters, int max_len) {
    const lc_model_config *c = &m->cfg;
    *out = NULL;
    if (max_len < 1) return lc_errorf(LC_ERR_ARG, "inference context length must be >= 1 (got %d)", max_len);
    if (n_adapters < 0 || (n_adapters > 0 && !adapters))
        return lc_errorf(LC_ERR_ARG, "bad adapter list (%d adapters)", n_adapters);
    if (m->fam.layer == LC_LAYER_GPT2) return create_gpt2(out, m, adapters, n_adapters, max_len);
    int r_max = 0;
    for (int i = 0; i < n_adapters; i++) {
        lc_status st = check_adapter(m, adapters[i].lora, i);
        if (st || (st = check_tokens_disjoint(adapters, i))) return st;
        if (adapters[i].lora->r_max > r_max) r_max = adapters[i].lora->r_max;
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
    /* per thread: x, xn (C), roped k (KV), LoRA x·A^T (r_max), block sums (wide / 32 + 1),
     * norm rstd (Hq) */
    s->tstride = 2 * padded(C) + padded(KV) + padded((size_t)(r_max ? r_max : 1)) + padded(wide / 32 + 1) +
                 padded((size_t)c->n_heads);
    int local = m->fam.sliding_window > 0;
    size_t total = 2 * padded(L * KV * T) + (local ? 4 : 2) * padded(T * hd / 2) + 2 * padded(CHUNK * C) +
                   padded(CHUNK * (size_t)c->n_heads) + 2 * padded(CHUNK * Q) + 2 * padded(CHUNK * KV) + 2 * padded(CHUNK * F) +
                   padded(CHUNK * (size_t)(r_max ? r_max : 1)) + padded(LC_INFER_DEQ_ROWS * wide) +
                   padded((size_t)s->nthr * wide) + (size_t)s->nthr * s->tstride + padded((size_t)s->nthr * T);
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
    s->cos_l = local ? take(&cur, T * hd / 2) : s->cos_t;
    s->sin_l = local ? take(&cur, T * hd / 2) : s->sin_t;
    s->x = take(&cur, CHUNK * C);
    s->xn = take(&cur, CHUNK * C);
    s->rstd = take(&cur, CHUNK * (size_t)c->n_heads);
    s->q = take(&cur, CHUNK * Q);
    s->att = take(&cur, CHUNK * Q);
    s->k = take(&cur, CHUNK * KV);
    s->v = take(&cur, CHUNK * KV);
    s->gate = take(&cur, CHUNK * F);
    s->up = take(&cur, CHUNK * F);
    s->xa = take(&cur, CHUNK * (size_t)(r_max ? r_max : 1));
    s->deq = take(&cur, LC_INFER_DEQ_ROWS * wide);
    s->rowbuf = take(&cur, (size_t)s->nthr * wide);
    s->tbuf = take(&cur, (size_t)s->nthr * s->tstride);
    s->scores = take(&cur, (size_t)s->nthr * T);
    LC_ASSERT((size_t)(cur - s->mem) <= total);
    s->bytes = total * sizeof(float) + T * sizeof(int32_t);
    lc_model_rope_table(m, s->cos_t, s->sin_t, max_len);
    if (local) lc_model_rope_table_local(m, s->cos_l, s->sin_l, max_len);
    float as = m->fam.attn_scale;
    s->qscale = lc_model_q_scale(m);
    s->att_scale = as > 0 ? as : (float)(1.0 / sqrt((double)hd));
    lc_status st = dora_gains(s);
    if (st) {
        lc_infer_free(s);
        return st;
    }
    *out = s;
    return LC_OK;
}

void lc_infer_free(lc_infer *s) {
    if (!s) return;
    lc_gpt2_infer_free(s->g2);
    lc_free(s->mem);
    lc_free(s->tokens);
    lc_free(s->ad);
    lc_free(s->dora_g);
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

/* Quantised rows go through lc_quant_row_dot (lc_quant.h: fused
 * dequantise-and-dot kernels for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K, chosen
 * by the CPU's features at run time; other types dequantised into tmp);
 * xsum (K/32) = lc_quant_block_sums(x). F32 rows go through dot4_f32. */
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

static inline float hsum8(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

/* out[0..4) = the 4 rows at w, w + ld, w + 2 ld, w + 3 ld (each K floats) · x (K).
 * Decode is bound by the bytes of W, so the kernel only has to keep loads in
 * flight: each x load feeds 4 rows, and two accumulators per row hide the FMA
 * latency. Per row: acc_a sums the 8-lane blocks 0, 2, 4, ..., acc_b the odd
 * ones, then hsum8(acc_a + acc_b), then the scalar tail (K % 8). */
static void dot4_f32(float *out, const float *w, size_t ld, const float *x, int K) {
    const float *r0 = w, *r1 = w + ld, *r2 = w + 2 * ld, *r3 = w + 3 * ld;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + k), x0, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + k), x0, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + k), x0, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(r3 + k), x0, a3);
        b0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + k + 8), x1, b0);
        b1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + k + 8), x1, b1);
        b2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + k + 8), x1, b2);
        b3 = _mm256_fmadd_ps(_mm256_loadu_ps(r3 + k + 8), x1, b3);
    }
    if (k + 8 <= K) {
        __m256 x0 = _mm256_loadu_ps(x + k);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + k), x0, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + k), x0, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + k), x0, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(r3 + k), x0, a3);
        k += 8;
    }
    float y0 = hsum8(_mm256_add_ps(a0, b0)), y1 = hsum8(_mm256_add_ps(a1, b1));
    float y2 = hsum8(_mm256_add_ps(a2, b2)), y3 = hsum8(_mm256_add_ps(a3, b3));
    for (; k < K; k++) {
        y0 += r0[k] * x[k];
        y1 += r1[k] * x[k];
        y2 += r2[k] * x[k];
        y3 += r3[k] * x[k];
    }
    out[0] = y0, out[1] = y1, out[2] = y2, out[3] = y3;
}
#else
/* Portable version of the above: four independent row dots. */
static void dot4_f32(float *out, const float *w, size_t ld, const float *x, int K) {
    for (int r = 0; r < 4; r++) out[r] = dot(w + (size_t)r * ld, x, K);
}
#endif

static float row_dot(lc_dtype t, const uint8_t *row, const float *x, const float *xsum, int K, float *tmp) {
    return lc_quant_row_dot(t, row, x, xsum, K, tmp);
}

/* xsum (K/32): see lc_quant_block_sums. */
static void block_sums(float *xsum, const float *x, int K) { lc_quant_block_sums(xsum, x, K); }

/* out[lo, hi) = rows lo .. hi-1 of W (O, K) · x (K) (+ bias), on the calling
 * thread: F32 in blocks of 4 rows through dot4_f32 (the last hi-lo % 4 rows
 * through dot), quantised rows through the fused row_dot. xsum (K/32): see
 * block_sums (read for Q4_0 / Q4_1 only); tmp (K) scratch. */
static void rows_forward(float *out, const float *x, const float *xsum, const lc_weight *W, const float *bias,
                         int lo, int hi, float *tmp) {
    int K = W->cols, o = lo;
    if (W->type == LC_DT_F32) {
        const float *w = (const float *)W->data; /* (O, K) */
        for (; o + 4 <= hi; o += 4) dot4_f32(out + o, w + (size_t)o * K, (size_t)K, x, K);
        for (; o < hi; o++) out[o] = dot(w + (size_t)o * K, x, K);
    } else {
        size_t rb = lc_dtype_row_bytes(W->type, K);
        for (; o < hi; o++) out[o] = row_dot(W->type, (const uint8_t *)W->data + (size_t)o * rb, x, xsum, K, tmp);
    }
    if (bias)
        for (o = lo; o < hi; o++) out[o] += bias[o];
}

/* out (N, O) = inp (N, K) · W^T + bias, any weight dtype. */
static void weight_forward(lc_infer *s, float *out, const float *inp, const lc_weight *W, const float *bias,
                           int N) {
    int O = W->rows, K = W->cols;
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
        int r = p->r;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, p->in, 1.0f, x, p->in, p->A, p->in, 0.0f,
                    s->xa, r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, p->out, r, p->scale * s->ad[i].mult, s->xa,
                    r, p->B, r, 1.0f, y, p->out);
        if (p->mag) dora_apply(y, dora_gain(s, i, layer, t), bias, N, p->out, 0, p->out);
    }
}

/* --------------------------------------------------------------- attention */


/* sc[j] = exp(sc[j] - mx) for j < len; returns 1 / sum (summed in double). */
static float exp_scores(float *sc, int len, float mx) {
    double sum = 0;
    for (int j = 0; j < len; j++) {
        sc[j] = expf(sc[j] - mx);
        sum += sc[j];
    }
    return (float)(1.0 / sum);
}

/* att (N, Hq, hd) for queries q (N, Hq, hd) at positions p0 + i over the
 * cached keys/values of this layer, kc/vc (Hkv, max_len, hd), causal: the
 * training path's tiled attention kernel (GEMM tiles, online softmax). */
static void attend(lc_infer *s, float *att, const float *q, const float *kc, const float *vc, int p0, int N,
                   int window) {
    const lc_model_config *c = &s->m->cfg;
    lc_attention_prefill(att, q, kc, vc, p0, N, c->n_heads, c->n_kv_heads, c->head_dim, s->max_len, window);
}

/* The family's MLP activation: h (n) from gate and up (h may be gate). */
static void act(const lc_model *m, float *h, const float *gate, const float *up, size_t n) {
    if (m->fam.act == LC_ACT_GEGLU_TANH) lc_geglu_forward(h, gate, up, n);
    else lc_swiglu_forward(h, gate, up, n);
}

/* Sandwich norms: the branch output y (N, C) normed in place by w (NULL: none). */
static void post_norm(float *y, float *rstd, const float *w, int N, int C, float eps) {
    if (w) lc_rmsnorm_forward(y, rstd, y, w, N, C, eps);
}

/* ------------------------------------------------------------ the pass */

/* RMSNorm and RoPE are the training path's kernels (lc_kernels.h); with a
 * few rows (decode) they run on the calling thread, and inside decode_one's
 * parallel region each thread runs them on its own copy. out, x (N, C);
 * w (C); rstd (N). */
static void rmsnorm(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps) {
    lc_rmsnorm_forward(out, rstd, x, w, N, C, eps);
}

/* x (N, H, hd) at consecutive positions whose table rows start at cs, sn (N, hd/2). */
static void rope(float *x, const float *cs, const float *sn, int N, int H, int hd) {
    lc_rope_forward(x, cs, sn, 1, N, H, hd);
}

/* q/k-norm families: x (N, H, hd) normed per head in place; rstd (N*H) scratch. */
static void qknorm(float *x, float *rstd, const float *w, int N, int H, int hd, float eps) {
    if (w) lc_qknorm_forward(x, rstd, x, w, N, H, hd, eps);
}

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

/* s->x (N, C) = the embedding rows of tokens (N). */
static void embed(lc_infer *s, const int32_t *tokens, int N) {
    const lc_weight *E = &s->m->tok_emb;
    int C = s->m->cfg.hidden_size;
    size_t rb = lc_dtype_row_bytes(E->type, C);
    for (int n = 0; n < N; n++) {
        const char *row = (const char *)E->data + (size_t)tokens[n] * rb;
        if (E->type == LC_DT_F32) memcpy(s->x + (size_t)n * C, row, (size_t)C * sizeof(float));
        else lc_dequantize(E->type, row, s->x + (size_t)n * C, C);
    }
    tokens_embed(s, tokens, N); /* trained rows replace theirs before any scale */
    if (s->m->fam.embed_scale != 1.0f) lc_scale(s->x, (size_t)N * C, s->m->fam.embed_scale); /* Gemma: × √C */
}

/* One chunk of 1 < N <= CHUNK tokens at positions s->pos ...; leaves the final
 * normed hidden states in s->xn (N, C) and advances s->pos. */
static void forward_chunk(lc_infer *s, const int32_t *tokens, int N) {
    const lc_model *m = s->m;
    const lc_model_config *c = &m->cfg;
    int C = c->hidden_size, F = c->intermediate_size, Hq = c->n_heads, Hkv = c->n_kv_heads, hd = c->head_dim;
    int p0 = s->pos;
    size_t T = (size_t)s->max_len, kv_layer = (size_t)Hkv * T * hd;
    embed(s, tokens, N);
    for (int l = 0; l < c->n_layers; l++) {
        const lc_layer *w = &m->layers[l];
        int win = lc_model_layer_window(m, l);
        const float *cs = (win ? s->cos_l : s->cos_t) + (size_t)p0 * (hd / 2);
        const float *sn = (win ? s->sin_l : s->sin_t) + (size_t)p0 * (hd / 2);
        rmsnorm(s->xn, s->rstd, s->x, w->attn_norm, N, C, c->rms_eps);
        proj(s, s->q, s->xn, &w->wq, w->bq, l, LC_T_Q, N);
        proj(s, s->k, s->xn, &w->wk, w->bk, l, LC_T_K, N);
        proj(s, s->v, s->xn, &w->wv, w->bv, l, LC_T_V, N);
        qknorm(s->q, s->rstd, w->q_norm, N, Hq, hd, c->rms_eps);
        qknorm(s->k, s->rstd, w->k_norm, N, Hkv, hd, c->rms_eps);
        rope(s->q, cs, sn, N, Hq, hd);
        rope(s->k, cs, sn, N, Hkv, hd);
        if (s->qscale != 1.0f) lc_scale(s->q, (size_t)N * Hq * hd, s->qscale);
        cache_store(s, l, p0, N);
        attend(s, s->att, s->q, s->kc + l * kv_layer, s->vc + l * kv_layer, p0, N, win);
        proj(s, s->xn, s->att, &w->wo, NULL, l, LC_T_O, N);
        post_norm(s->xn, s->rstd, w->post_attn_norm, N, C, c->rms_eps);
        add_inplace(s->x, s->xn, (size_t)N * C);
        rmsnorm(s->xn, s->rstd, s->x, w->mlp_norm, N, C, c->rms_eps);
        proj(s, s->gate, s->xn, &w->w_gate, NULL, l, LC_T_GATE, N);
        proj(s, s->up, s->xn, &w->w_up, NULL, l, LC_T_UP, N);
        act(m, s->gate, s->gate, s->up, (size_t)N * F);
        proj(s, s->xn, s->gate, &w->w_down, NULL, l, LC_T_DOWN, N);
        post_norm(s->xn, s->rstd, w->post_mlp_norm, N, C, c->rms_eps);
        add_inplace(s->x, s->xn, (size_t)N * C);
    }
    rmsnorm(s->xn, s->rstd, s->x, m->final_norm, N, C, c->rms_eps);
    memcpy(s->tokens + p0, tokens, (size_t)N * sizeof(int32_t));
    s->pos = p0 + N;
}

/* ------------------------------------------------- decode: one token */

/* One token costs a matrix-vector product per weight, so it is bound by the
 * bytes of the weights, and on a small model the threads' hand-offs matter as
 * much as the kernel: with OMP_WAIT_POLICY=PASSIVE every fork, join or
 * barrier where a thread waits puts it to sleep, and waking it costs ~10 us
 * on a KVM guest. So the whole token runs in one parallel region with 5
 * barriers per layer (after q/k/v, attention, o, gate/up, down) instead of a
 * region (fork + join) per projection. What is cheap and needs a whole
 * vector (residual add, RMSNorm, RoPE of k, the x·A^T of a LoRA, the block
 * sums of a Q4 input) every thread computes for itself into its own slice of
 * s->tbuf, in the same order, so the copies stay identical; the products are
 * split by output rows (split()), each thread adding its rows' LoRA terms and
 * (gate/up) SwiGLU. Attention is split by query head; the current position's
 * roped k comes from the thread's own copy while thread 0 stores it (and v)
 * in the cache, which no thread reads at that position during this token. */

/* Thread t's slice of s->tbuf. */
typedef struct {
    float *x;  /* (C) residual stream */
    float *xn; /* (C) normed input */
    float *kr; /* (Hkv * hd) roped k */
    float *xa; /* (r_max) x · A^T of one LoRA */
    float *xs; /* (wide / 32 + 1) block sums of a Q4 input */
    float *rs; /* (Hq) norm rstd scratch */
} tslice;

static tslice thread_slice(const lc_infer *s, int t) {
    const lc_model_config *c = &s->m->cfg;
    tslice ts;
    ts.x = s->tbuf + (size_t)t * s->tstride;
    ts.xn = ts.x + padded((size_t)c->hidden_size);
    ts.kr = ts.xn + padded((size_t)c->hidden_size);
    ts.xa = ts.kr + padded((size_t)c->n_kv_heads * c->head_dim);
    ts.xs = ts.xa + padded((size_t)(s->r_max ? s->r_max : 1));
    ts.rs = ts.xs + padded((size_t)s->wide / 32 + 1);
    return ts;
}

/* [lo, hi) of n output rows for thread t of nt, in whole 16-row blocks (the
 * SwiGLU vector blocks stay whole, so its results do not depend on nt). */
static void split(int n, int t, int nt, int *lo, int *hi) {
    int u = (n + 15) / 16, a = (int)((int64_t)u * t / nt), b = (int)((int64_t)u * (t + 1) / nt);
    *lo = 16 * a < n ? 16 * a : n;
    *hi = 16 * b < n ? 16 * b : n;
}

/* Rows [lo, hi) of y (out) for layer/target: W x + bias + the adapters'
 * mult * scale * B (A x); xsum: block sums of x (K/32); xa (r_max), tmp (K)
 * this thread's scratch. */
static void proj_rows(lc_infer *s, float *y, const float *x, const float *xsum, const lc_weight *W,
                      const float *bias, int layer, lc_lora_target t, int lo, int hi, float *xa, float *tmp) {
    rows_forward(y, x, xsum, W, bias, lo, hi, tmp);
    for (int i = 0; i < s->n_ad; i++) {
        const lc_lora *l = s->ad[i].lora;
        const lc_lora_pair *p = lc_lora_get(l, layer, t);
        if (!p->A) continue;
        int r = p->r;
        float sc = p->scale * s->ad[i].mult;
        for (int j = 0; j < r; j++) xa[j] = dot(p->A + (size_t)j * p->in, x, p->in);
        for (int o = lo; o < hi; o++) y[o] += sc * dot(p->B + (size_t)o * r, xa, r);
        if (p->mag) dora_apply(y, dora_gain(s, i, layer, t), bias, 1, p->out, lo, hi);
    }
}

/* att (hd) for query head h of the token at position p0: q (hd) before RoPE;
 * kc, vc (Hkv, max_len, hd) this layer's cache, valid below p0; kcur (Hkv,
 * hd) roped and vcur (Hkv, hd) the token's own keys and values; cs, sn
 * (hd/2) RoPE table row p0; sc (p0 + 1) scratch. One query row: a dot per
 * key, then one softmax (the prefill's tiled kernel pays off from a few rows on). */
static void attend_head(const lc_infer *s, float *att, const float *q, const float *kc, const float *vc,
                        const float *kcur, const float *vcur, const float *cs, const float *sn, int h, int p0,
                        float *sc, const float *q_norm, float *rs, int window) {
    const lc_model_config *c = &s->m->cfg;
    int hd = c->head_dim, g = h / (c->n_heads / c->n_kv_heads), len = p0 + 1;
    int j0 = window > 0 && p0 - window + 1 > 0 ? p0 - window + 1 : 0; /* first visible key: p0 - j < window */
    size_t T = (size_t)s->max_len;
    const float scale = s->att_scale;
    const float *kh = kc + (size_t)g * T * hd, *vh = vc + (size_t)g * T * hd; /* (max_len, hd) */
    float qs[256];
    memcpy(qs, q, (size_t)hd * sizeof(float));
    qknorm(qs, rs, q_norm, 1, 1, hd, c->rms_eps);
    rope(qs, cs, sn, 1, 1, hd);
    for (int d = 0; d < hd; d++) qs[d] *= scale;
    float mx = -INFINITY;
    sc += j0; /* sc[j - j0] is the score of key j */
    for (int j = j0; j < len; j++) {
        sc[j - j0] = dot(qs, j < p0 ? kh + (size_t)j * hd : kcur + (size_t)g * hd, hd);
        if (sc[j - j0] > mx) mx = sc[j - j0];
    }
    float inv = exp_scores(sc, len - j0, mx);
    memset(att, 0, (size_t)hd * sizeof(float));
    for (int j = j0; j < len; j++) {
        const float *vr = j < p0 ? vh + (size_t)j * hd : vcur + (size_t)g * hd;
        float p = sc[j - j0];
#pragma omp simd
        for (int d = 0; d < hd; d++) att[d] += p * vr[d];
    }
    for (int d = 0; d < hd; d++) att[d] *= inv;
}

/* x (C) += y (C), or += its post-norm by w (sandwich families) computed into
 * this thread's tmp (C) with rstd scratch rs. */
static void add_post_normed(float *x, float *tmp, float *rs, const float *y, const float *w, int C, float eps) {
    if (w) {
        lc_rmsnorm_forward(tmp, rs, y, w, 1, C, eps);
        y = tmp;
    }
    add_inplace(x, y, (size_t)C);
}

/* The token at position s->pos through all layers; logits (V) when not NULL;
 * leaves the final normed hidden state in s->xn (C) and advances s->pos. */
static void decode_one(lc_infer *s, int32_t token, float *logits) {
    const lc_model *m = s->m;
    const lc_model_config *c = &m->cfg;
    int C = c->hidden_size, F = c->intermediate_size, Hq = c->n_heads, Hkv = c->n_kv_heads, hd = c->head_dim;
    int Q = Hq * hd, KV = Hkv * hd, V = c->vocab_size, p0 = s->pos;
    size_t T = (size_t)s->max_len, kv_layer = (size_t)Hkv * T * hd;
    embed(s, &token, 1);
    /* tiny (test) models: one thread, the barriers would cost more than the work */
#pragma omp parallel num_threads(s->nthr) if ((size_t)C * C >= PAR_MIN_WORK)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        tslice ts = thread_slice(s, t);
        float *x = ts.x, *xn = ts.xn, *kr = ts.kr, *xa = ts.xa, *xs = ts.xs, *rs = ts.rs;
        float *tmp = s->rowbuf + (size_t)t * s->wide; /* (wide) */
        float *sc = s->scores + (size_t)t * T;        /* (p0 + 1) */
        int qlo, qhi, klo, khi, clo, chi, flo, fhi, vlo, vhi;
        split(Q, t, nt, &qlo, &qhi);
        split(KV, t, nt, &klo, &khi);
        split(C, t, nt, &clo, &chi);
        split(F, t, nt, &flo, &fhi);
        split(V, t, nt, &vlo, &vhi);
        int hlo = Hq * t / nt, hhi = Hq * (t + 1) / nt;
        memcpy(x, s->x, (size_t)C * sizeof(float));
        for (int l = 0; l < c->n_layers; l++) {
            const lc_layer *w = &m->layers[l];
            float *kc = s->kc + l * kv_layer, *vc = s->vc + l * kv_layer;
            int win = lc_model_layer_window(m, l);
            const float *cs = (win ? s->cos_l : s->cos_t) + (size_t)p0 * (hd / 2);
            const float *sn = (win ? s->sin_l : s->sin_t) + (size_t)p0 * (hd / 2);
            rmsnorm(xn, rs, x, w->attn_norm, 1, C, c->rms_eps);
            block_sums(xs, xn, C);
            proj_rows(s, s->q, xn, xs, &w->wq, w->bq, l, LC_T_Q, qlo, qhi, xa, tmp);
            proj_rows(s, s->k, xn, xs, &w->wk, w->bk, l, LC_T_K, klo, khi, xa, tmp);
            proj_rows(s, s->v, xn, xs, &w->wv, w->bv, l, LC_T_V, klo, khi, xa, tmp);
#pragma omp barrier
            memcpy(kr, s->k, (size_t)KV * sizeof(float));
            qknorm(kr, rs, w->k_norm, 1, Hkv, hd, c->rms_eps);
            rope(kr, cs, sn, 1, Hkv, hd);
            if (t == 0)
                for (int g = 0; g < Hkv; g++) {
                    memcpy(kc + ((size_t)g * T + p0) * hd, kr + (size_t)g * hd, (size_t)hd * sizeof(float));
                    memcpy(vc + ((size_t)g * T + p0) * hd, s->v + (size_t)g * hd, (size_t)hd * sizeof(float));
                }
            for (int h = hlo; h < hhi; h++)
                attend_head(s, s->att + (size_t)h * hd, s->q + (size_t)h * hd, kc, vc, kr, s->v, cs, sn, h, p0, sc,
                            w->q_norm, rs, win);
#pragma omp barrier
            block_sums(xs, s->att, Q);
            proj_rows(s, s->xn, s->att, xs, &w->wo, NULL, l, LC_T_O, clo, chi, xa, tmp);
#pragma omp barrier
            add_post_normed(x, xn, rs, s->xn, w->post_attn_norm, C, c->rms_eps);
            rmsnorm(xn, rs, x, w->mlp_norm, 1, C, c->rms_eps);
            block_sums(xs, xn, C);
            proj_rows(s, s->gate, xn, xs, &w->w_gate, NULL, l, LC_T_GATE, flo, fhi, xa, tmp);
            proj_rows(s, s->up, xn, xs, &w->w_up, NULL, l, LC_T_UP, flo, fhi, xa, tmp);
            act(m, s->gate + flo, s->gate + flo, s->up + flo, (size_t)(fhi - flo));
#pragma omp barrier
            block_sums(xs, s->gate, F);
            proj_rows(s, s->xn, s->gate, xs, &w->w_down, NULL, l, LC_T_DOWN, clo, chi, xa, tmp);
#pragma omp barrier
            add_post_normed(x, xn, rs, s->xn, w->post_mlp_norm, C, c->rms_eps);
        }
        rmsnorm(xn, rs, x, m->final_norm, 1, C, c->rms_eps);
        if (logits) {
            block_sums(xs, xn, C);
            rows_forward(logits, xn, xs, &m->lm_head, NULL, vlo, vhi, tmp);
        }
    }
    memcpy(s->xn, thread_slice(s, 0).xn, (size_t)C * sizeof(float));
    if (logits) tokens_logits(s, logits, s->xn, 1);
    s->tokens[p0] = token;
    s->pos = p0 + 1;
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

/* logits (V) = lm_head · xn (C), the last row of a prefill. */
static void decode_last_logits(lc_infer *s, float *logits, const float *xn) {
    const lc_weight *W = &s->m->lm_head;
    float *xs = thread_slice(s, 0).xs;
    block_sums(xs, xn, W->cols);
#pragma omp parallel num_threads(s->nthr)
    {
        int t = omp_get_thread_num(), lo, hi;
        split(W->rows, t, omp_get_num_threads(), &lo, &hi);
        rows_forward(logits, xn, xs, W, NULL, lo, hi, s->rowbuf + (size_t)t * s->wide);
    }
    tokens_logits(s, logits, xn, 1);
}

/* Shared body: all = 1 writes (n, V) logits, else the last row's (V). */
static lc_status run(lc_infer *s, const int32_t *tokens, int n, float *logits, int all) {
    lc_status st = check_input(s, tokens, n);
    if (st) return st;
    if (s->g2) { /* GPT-2 layers */
        lc_gpt2_infer_run(s->g2, tokens, n, s->pos, logits, all);
        memcpy(s->tokens + s->pos, tokens, (size_t)n * sizeof(int32_t));
        s->pos += n;
        return LC_OK;
    }
    int V = s->m->cfg.vocab_size, C = s->m->cfg.hidden_size;
    for (int i0 = 0; i0 < n; i0 += CHUNK) {
        int N = n - i0 < CHUNK ? n - i0 : CHUNK;
        if (N == 1) { /* decode, or a 1-token tail of a prefill */
            decode_one(s, tokens[i0], !logits ? NULL : all ? logits + (size_t)i0 * V : i0 + 1 == n ? logits : NULL);
            continue;
        }
        forward_chunk(s, tokens + i0, N);
        if (!logits) continue;
        if (all) weight_forward(s, logits + (size_t)i0 * V, s->xn, &s->m->lm_head, NULL, N);
        if (all) tokens_logits(s, logits + (size_t)i0 * V, s->xn, N);
        else if (i0 + N == n) decode_last_logits(s, logits, s->xn + (size_t)(N - 1) * C);
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

/* ------------------------------------------------------------ generation */

static int is_stop(int32_t id, const int32_t *stop_ids, int n_stop) {
    for (int i = 0; i < n_stop; i++)
        if (stop_ids[i] == id) return 1;
    return 0;
}

lc_status lc_infer_generate(lc_infer *s, lc_sampler *smp, const int32_t *prompt, int n_prompt, int max_new,
                            const int32_t *stop_ids, int n_stop, lc_token_fn on_token, void *ctx,
                            int32_t *out, lc_gen_stats *stats) {
    lc_gen_stats g = {n_prompt, 0, 0, 0, 0, LC_STOP_MAX_TOKENS, -1};
    if (n_prompt < 1) return lc_errorf(LC_ERR_ARG, "generation needs at least one prompt token");
    int V = s->m->cfg.vocab_size;
    float *logits = lc_alloc((size_t)V * sizeof(float)); /* (V) */
    if (!logits) return lc_errorf(LC_ERR_NOMEM, "out of memory for logits");
    int cp = 0; /* reuse the cached common prefix */
    while (cp < s->pos && cp < n_prompt - 1 && s->tokens[cp] == prompt[cp]) cp++;
    s->pos = cp;
    double t0 = lc_time_now();
    g.n_prompt_run = n_prompt - cp;
    lc_status st = lc_infer_prefill(s, prompt + cp, n_prompt - cp, logits);
    if (st) goto done;
    double t1 = lc_time_now();
    g.prompt_s = t1 - t0;
    for (int i = 0; i < max_new; i++) {
        int32_t id = lc_sampler_sample(smp, logits, s->tokens, s->pos);
        if (is_stop(id, stop_ids, n_stop)) {
            g.reason = LC_STOP_TOKEN;
            g.stop_token = id;
            break;
        }
        if (out) out[g.n_gen] = id;
        g.n_gen++;
        if (on_token && on_token(ctx, id)) {
            g.reason = LC_STOP_CALLBACK;
            break;
        }
        if (i + 1 == max_new) break;
        if (s->pos >= s->max_len) {
            g.reason = LC_STOP_CONTEXT;
            break;
        }
        if ((st = lc_infer_decode(s, id, logits)) != LC_OK) goto done;
    }
    g.gen_s = lc_time_now() - t1;
done:
    lc_free(logits);
    if (stats) *stats = g;
    return st;
}
