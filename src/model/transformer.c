/*
 * transformer.c — forward and backward of a frozen Llama-family model with
 * LoRA adapters (see lc_transformer.h for what is stored and recomputed).
 *
 * Data path of one layer (N = B*T rows, C hidden, F intermediate):
 *   x_in ─ rmsnorm ─ xn1 ─┬─ q_proj(+LoRA) ─ RoPE ─ q ┐
 *                         ├─ k_proj(+LoRA) ─ RoPE ─ k ┼─ causal GQA attention ─ att ─ o_proj(+LoRA) ─┐
 *                         └─ v_proj(+LoRA) ─────── v ┘                                             │
 *   x_mid = x_in + ────────────────────────────────────────────────────────────────────────────────┘
 *   x_mid ─ rmsnorm ─ xn2 ─┬─ gate_proj(+LoRA) ─ gate ┐
 *                          └─ up_proj(+LoRA)   ─ up   ┴─ swiglu ─ h ─ down_proj(+LoRA) ─┐
 *   x_out = x_mid + ───────────────────────────────────────────────────────────────────┘
 * Backward walks the same path in reverse, recomputing xn1, xn2 and h.
 * Frozen weights may be quantised (lc_weight.type != F32): they are
 * dequantised a block of rows at a time into scratch inside the matmuls.
 */
#include "lc_transformer.h"

#include "gpt2.h"
#include "lc_kernels.h" /* before cblas.h: its complex.h defines the macro I */

#include <cblas.h>
#include <math.h>
#include <string.h>

#define LC_DEQ_ROWS 256 /* rows of a quantised weight dequantised per GEMM tile */
#define LC_XENT_CHUNK 256

typedef struct {
    float *x_in;       /* (N, C) */
    float *rstd1;      /* (N) */
    float *q;          /* (N, Hq*hd) after RoPE */
    float *k, *v;      /* (N, Hkv*hd), k after RoPE */
    float *att;        /* (N, Hq*hd) */
    float *lse;        /* (B, Hq, T) */
    float *x_mid;      /* (N, C) */
    float *rstd2;      /* (N) */
    float *gate, *up;  /* (N, F) */
    float *xa[LC_T_COUNT]; /* (N, r) LoRA intermediates; NULL when not targeted */
} layer_acts;

struct lc_acts {
    int B, T, r;
    int ckpt;          /* gradient checkpointing: layers share one set of activations */
    float *x_tmp;      /* (N, C) recomputed layer output (checkpointing only) */
    layer_acts *layers;
    float *x_final;    /* (N, C) output of the last layer */
    float *rstd_f;     /* (N) */
    float *hf;         /* (N, C) final-normed hidden */
    /* scratch shared by all layers */
    float *xn;         /* (N, C) */
    float *big;        /* (N, max(F, Hq*hd, C)): h / dropout input */
    float *dx;         /* (N, C) residual-stream gradient */
    float *dxn;        /* (N, C) */
    float *dq, *dk, *dv, *datt; /* (N, Hq*hd), (N, Hkv*hd) x2, (N, Hq*hd) */
    float *dgate, *dup, *dh;    /* (N, F) */
    float *dxa;        /* (N, r) */
    float *drop;       /* (N, max(C, F, Hq*hd)) dropped-out LoRA input; NULL without dropout */
    float *deq;        /* (LC_DEQ_ROWS, max(C, F)) dequantised weight tile */
    float *rope_cos, *rope_sin; /* (T, hd/2) */
    float *xent;       /* lm-head scratch */
    float *head_f32;   /* (V, C) dequantised lm_head when quantised, else NULL */
    size_t bytes;
};

/* ---------------------------------------------------------------- memory */

static float *take(float **cursor, size_t n) {
    float *p = *cursor;
    *cursor += (n + 15) & ~(size_t)15; /* keep 64-byte alignment */
    return p;
}

static size_t padded(size_t n) { return (n + 15) & ~(size_t)15; }

lc_status lc_acts_create_ex(lc_acts **out, const lc_model *m, const lc_lora *lora, int B, int T,
                           int grad_checkpointing) {
    if (m->cfg.arch == LC_ARCH_GPT2) /* GPT-2: gpt2.c */
        return lc_gpt2_acts_create(out, m, lora, B, T, grad_checkpointing);
    const lc_model_config *c = &m->cfg;
    *out = NULL;
    if (B <= 0 || T <= 0) return lc_errorf(LC_ERR_ARG, "batch shape must be positive (B %d, T %d)", B, T);
    lc_acts *a = lc_calloc(sizeof *a);
    if (!a) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    size_t N = (size_t)B * T, C = c->hidden_size, F = c->intermediate_size;
    size_t Q = (size_t)c->n_heads * c->head_dim, KV = (size_t)c->n_kv_heads * c->head_dim;
    size_t L = c->n_layers, r = lora ? (size_t)lora->cfg.r : 0;
    size_t wide = F > Q ? F : Q;
    if (C > wide) wide = C;
    int train = lora != NULL;
    a->B = B;
    a->T = T;
    a->r = (int)r;
    int ckpt = grad_checkpointing && train;
    a->ckpt = ckpt;
    /* count floats: per-layer activations (with checkpointing only x_in is per
     * layer; the rest is one shared set), then scratch */
    size_t per_layer = padded(N * C), shared = padded(N) + padded(N * Q) + 2 * padded(N * KV) +
                       padded(N * Q) + padded((size_t)B * c->n_heads * T) + padded(N * C) +
                       padded(N) + 2 * padded(N * F);
    size_t n_lora_targets = 0;
    if (lora)
        for (int t = 0; t < LC_T_COUNT; t++)
            if (lora->cfg.targets & (1u << t)) n_lora_targets++;
    shared += n_lora_targets * padded(N * r);
    if (ckpt) shared += padded(N * C); /* x_tmp */
    else per_layer += shared;
    size_t scratch = 3 * padded(N * C) + padded(N) + padded(N * C) + padded(N * wide);
    if (train)
        scratch += padded(N * C) + 2 * padded(N * Q) + 2 * padded(N * KV) + 3 * padded(N * F) +
                   padded(N * (r ? r : 1)) + (lora->cfg.dropout > 0 ? padded(N * wide) : 0);
    scratch += padded((size_t)LC_DEQ_ROWS * (C > F ? C : F)) + 2 * padded((size_t)T * c->head_dim / 2);
    scratch += padded(lc_lmhead_xent_scratch_floats(LC_XENT_CHUNK, (int)C, c->vocab_size));
    size_t total = L * per_layer + (ckpt ? shared : 0) + scratch;
    float *mem = lc_alloc(total * sizeof(float));
    a->layers = lc_calloc(L * sizeof(layer_acts));
    if (!mem || !a->layers) {
        lc_free(mem);
        lc_free(a->layers);
        lc_free(a);
        return lc_errorf(LC_ERR_NOMEM, "out of memory for activations (%.1f MB)",
                         total * 4.0 / 1e6);
    }
    float *cur = mem;
    for (size_t l = 0; l < L; l++) a->layers[l].x_in = take(&cur, N * C);
    for (size_t l = 0; l < L; l++) {
        layer_acts *la = &a->layers[l];
        if (ckpt && l > 0) { /* alias layer 0's shared set */
            float *x_in = la->x_in;
            *la = a->layers[0];
            la->x_in = x_in;
            continue;
        }
        la->rstd1 = take(&cur, N);
        la->q = take(&cur, N * Q);
        la->k = take(&cur, N * KV);
        la->v = take(&cur, N * KV);
        la->att = take(&cur, N * Q);
        la->lse = take(&cur, (size_t)B * c->n_heads * T);
        la->x_mid = take(&cur, N * C);
        la->rstd2 = take(&cur, N);
        la->gate = take(&cur, N * F);
        la->up = take(&cur, N * F);
        for (int t = 0; t < LC_T_COUNT; t++)
            if (lora && (lora->cfg.targets & (1u << t))) la->xa[t] = take(&cur, N * r);
    }
    if (ckpt) a->x_tmp = take(&cur, N * C);
    a->x_final = take(&cur, N * C);
    a->hf = take(&cur, N * C);
    a->xn = take(&cur, N * C);
    a->rstd_f = take(&cur, N);
    a->dx = take(&cur, N * C);
    a->big = take(&cur, N * wide);
    if (train) {
        a->dxn = take(&cur, N * C);
        a->dq = take(&cur, N * Q);
        a->datt = take(&cur, N * Q);
        a->dk = take(&cur, N * KV);
        a->dv = take(&cur, N * KV);
        a->dgate = take(&cur, N * F);
        a->dup = take(&cur, N * F);
        a->dh = take(&cur, N * F);
        a->dxa = take(&cur, N * (r ? r : 1));
        if (lora->cfg.dropout > 0) a->drop = take(&cur, N * wide);
    }
    a->deq = take(&cur, (size_t)LC_DEQ_ROWS * (C > F ? C : F));
    a->rope_cos = take(&cur, (size_t)T * c->head_dim / 2);
    a->rope_sin = take(&cur, (size_t)T * c->head_dim / 2);
    a->xent = take(&cur, lc_lmhead_xent_scratch_floats(LC_XENT_CHUNK, (int)C, c->vocab_size));
    LC_ASSERT((size_t)(cur - mem) <= total);
    a->bytes = total * sizeof(float) + L * sizeof(layer_acts);
    /* The first layer's x_in is the block start: remember it for freeing. */
    LC_ASSERT(a->layers[0].x_in == mem);
    lc_rope_table(a->rope_cos, a->rope_sin, T, c->head_dim, c->rope_theta);
    if (m->lm_head.type != LC_DT_F32) {
        size_t n = (size_t)c->vocab_size * C;
        a->head_f32 = lc_alloc(n * sizeof(float));
        if (!a->head_f32) {
            lc_acts_free(a);
            return lc_errorf(LC_ERR_NOMEM, "out of memory for the dequantised lm_head");
        }
        size_t rb = lc_dtype_row_bytes(m->lm_head.type, (int64_t)C);
        lc_dequantize_rows(m->lm_head.type, m->lm_head.data, (int64_t)rb, 0, c->vocab_size, (int)C, a->head_f32);
        a->bytes += n * sizeof(float);
    }
    *out = a;
    return LC_OK;
}

lc_status lc_acts_create(lc_acts **out, const lc_model *m, const lc_lora *lora, int B, int T) {
    return lc_acts_create_ex(out, m, lora, B, T, 0);
}

void lc_acts_free(lc_acts *a) {
    if (!a || lc_gpt2_acts_free(a)) return;
    if (a->layers) lc_free(a->layers[0].x_in);
    lc_free(a->layers);
    lc_free(a->head_f32);
    lc_free(a);
}

size_t lc_acts_bytes(const lc_acts *a) {
    size_t n;
    return lc_gpt2_acts_bytes(a, &n) ? n : a->bytes;
}

/* --------------------------------------------------- frozen matmuls (any dtype) */

/* out (N, O) = inp (N, I) · W^T + bias */
static void weight_forward(float *out, const float *inp, const lc_weight *W, const float *bias, int N,
                           float *deq) {
    int O = W->rows, K = W->cols;
    if (W->type == LC_DT_F32) {
        lc_linear_forward(out, inp, (const float *)W->data, bias, N, K, O);
        return;
    }
    size_t rb = lc_dtype_row_bytes(W->type, K);
    for (int r0 = 0; r0 < O; r0 += LC_DEQ_ROWS) {
        int nr = O - r0 < LC_DEQ_ROWS ? O - r0 : LC_DEQ_ROWS;
        lc_dequantize_rows(W->type, W->data, (int64_t)rb, r0, nr, K, deq);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, nr, K, 1.0f, inp, K, deq, K, 0.0f,
                    out + r0, O);
    }
    if (bias) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < O; o++) out[(size_t)n * O + o] += bias[o];
    }
}

/* dinp (N, I) += dout (N, O) · W */
static void weight_backward_input(float *dinp, const float *dout, const lc_weight *W, int N, float *deq) {
    int O = W->rows, K = W->cols;
    if (W->type == LC_DT_F32) {
        lc_linear_backward_input(dinp, dout, (const float *)W->data, N, K, O);
        return;
    }
    size_t rb = lc_dtype_row_bytes(W->type, K);
    for (int r0 = 0; r0 < O; r0 += LC_DEQ_ROWS) {
        int nr = O - r0 < LC_DEQ_ROWS ? O - r0 : LC_DEQ_ROWS;
        lc_dequantize_rows(W->type, W->data, (int64_t)rb, r0, nr, K, deq);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, K, nr, 1.0f, dout + r0, O, deq, K,
                    1.0f, dinp, K);
    }
}

/* ------------------------------------------------------------ LoRA pieces */

/* The LoRA input: x itself, or a dropped-out copy (mask regenerated from the
 * seed, so backward needs no stored mask). */
static const float *lora_input(lc_acts *a, const lc_lora *lora, const float *x, size_t n,
                               uint64_t seed, int layer, int t, int training) {
    float p = lora->cfg.dropout;
    if (!training || p <= 0) return x;
    float keep = 1.0f / (1.0f - p);
    uint64_t stream = lc_hash64(seed, (uint64_t)layer * LC_T_COUNT + (uint64_t)t);
    float *d = a->drop;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) d[i] = lc_hash_uniform(stream, i) < p ? 0.0f : x[i] * keep;
    return d;
}

/* y (N, out) += scale * (xd · A^T) · B^T, saving xa = xd · A^T (N, r). */
static void lora_forward(float *y, float *xa, const lc_lora_pair *p, const float *xd, int N, int r,
                         float scale) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, p->in, 1.0f, xd, p->in, p->A, p->in,
                0.0f, xa, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, p->out, r, scale, xa, r, p->B, r, 1.0f, y,
                p->out);
}

/* Given dy (N, out): dB += scale dy^T xa; dxa = scale dy B; dA += dxa^T xd;
 * if dx: dx += (dxa A) ⊙ dropout mask. */
static void lora_backward(float *dx, lc_acts *a, lc_lora_pair *p, const float *dy, const float *xa,
                          const float *xd, int N, int r, float scale, float dropout, uint64_t seed,
                          int layer, int t) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p->out, r, N, scale, dy, p->out, xa, r, 1.0f,
                p->dB, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, r, p->out, scale, dy, p->out, p->B, r,
                0.0f, a->dxa, r);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, p->in, N, 1.0f, a->dxa, r, xd, p->in, 1.0f,
                p->dA, p->in);
    if (!dx) return;
    if (dropout <= 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, p->in, r, 1.0f, a->dxa, r, p->A,
                    p->in, 1.0f, dx, p->in);
        return;
    }
    /* dxd = dxa · A into the dropout buffer, then mask and scale into dx */
    float *dxd = a->drop;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, p->in, r, 1.0f, a->dxa, r, p->A, p->in,
                0.0f, dxd, p->in);
    float keep = 1.0f / (1.0f - dropout);
    uint64_t stream = lc_hash64(seed, (uint64_t)layer * LC_T_COUNT + (uint64_t)t);
    size_t n = (size_t)N * p->in;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        if (lc_hash_uniform(stream, i) >= dropout) dx[i] += dxd[i] * keep;
}

/* One projection: y = x W^T (+bias) (+ LoRA). */
static void proj_forward(float *y, lc_acts *a, const lc_lora *lora, float lora_mult, const float *x,
                         const lc_weight *W, const float *bias, int layer, lc_lora_target t,
                         float *xa, int N, uint64_t seed, int training) {
    weight_forward(y, x, W, bias, N, a->deq);
    if (!lora || !xa) return;
    const lc_lora_pair *p = lc_lora_get(lora, layer, t);
    const float *xd = lora_input(a, lora, x, (size_t)N * W->cols, seed, layer, t, training);
    lora_forward(y, xa, p, xd, N, lora->cfg.r, lora->scale * lora_mult);
}

/* Backward of one projection: dx += dy W (if dx) and the LoRA gradients. */
static void proj_backward(float *dx, lc_acts *a, lc_lora *lora, const float *x, const lc_weight *W,
                          int layer, lc_lora_target t, const float *xa, const float *dy, int N,
                          uint64_t seed) {
    if (dx) weight_backward_input(dx, dy, W, N, a->deq);
    if (!xa) return;
    lc_lora_pair *p = lc_lora_get(lora, layer, t);
    const float *xd = lora_input(a, lora, x, (size_t)N * W->cols, seed, layer, t, 1);
    lora_backward(dx, a, p, dy, xa, xd, N, lora->cfg.r, lora->scale, lora->cfg.dropout, seed, layer,
                  (int)t);
}

/* ------------------------------------------------------------- the passes */

static void embed(float *x, const lc_model *m, const int32_t *tokens, int N) {
    int C = m->cfg.hidden_size;
    const lc_weight *E = &m->tok_emb;
    size_t rb = lc_dtype_row_bytes(E->type, C);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const char *row = (const char *)E->data + (size_t)tokens[n] * rb;
        if (E->type == LC_DT_F32) memcpy(x + (size_t)n * C, row, (size_t)C * sizeof(float));
        else lc_dequantize(E->type, row, x + (size_t)n * C, C);
    }
}

static void residual_add(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static lc_status check_tokens(const lc_model *m, const lc_batch *b, const lc_acts *a) {
    if (b->B > a->B || b->T > a->T || b->B <= 0 || b->T <= 0)
        return lc_errorf(LC_ERR_ARG, "batch (%d, %d) exceeds the activations' capacity (%d, %d)", b->B,
                         b->T, a->B, a->T);
    size_t N = (size_t)b->B * b->T;
    for (size_t i = 0; i < N; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= m->cfg.vocab_size)
            return lc_errorf(LC_ERR_ARG, "token id %d at position %zu is outside the vocabulary (0..%d)",
                             b->tokens[i], i, m->cfg.vocab_size - 1);
        if (b->targets && (b->targets[i] < -1 || b->targets[i] >= m->cfg.vocab_size))
            return lc_errorf(LC_ERR_ARG, "target id %d at position %zu is outside the vocabulary",
                             b->targets[i], i);
    }
    return LC_OK;
}

/* One layer forward from x_in into x_out, filling la's saved activations. */
static void layer_forward(const lc_model *m, const lc_lora *lora, float lora_mult, lc_acts *a, int l,
                          layer_acts *la, float *x_out, int B, int T, uint64_t seed, int training) {
    const lc_model_config *c = &m->cfg;
    int N = B * T, C = c->hidden_size, F = c->intermediate_size;
    int Hq = c->n_heads, Hkv = c->n_kv_heads, hd = c->head_dim;
    const lc_layer *w = &m->layers[l];
    lc_rmsnorm_forward(a->xn, la->rstd1, la->x_in, w->attn_norm, N, C, c->rms_eps);
    proj_forward(la->q, a, lora, lora_mult, a->xn, &w->wq, w->bq, l, LC_T_Q, la->xa[LC_T_Q], N, seed, training);
    proj_forward(la->k, a, lora, lora_mult, a->xn, &w->wk, w->bk, l, LC_T_K, la->xa[LC_T_K], N, seed, training);
    proj_forward(la->v, a, lora, lora_mult, a->xn, &w->wv, w->bv, l, LC_T_V, la->xa[LC_T_V], N, seed, training);
    lc_rope_forward(la->q, a->rope_cos, a->rope_sin, B, T, Hq, hd);
    lc_rope_forward(la->k, a->rope_cos, a->rope_sin, B, T, Hkv, hd);
    lc_attention_forward(la->att, la->lse, la->q, la->k, la->v, B, T, Hq, Hkv, hd);
    proj_forward(a->xn, a, lora, lora_mult, la->att, &w->wo, NULL, l, LC_T_O, la->xa[LC_T_O], N, seed, training);
    residual_add(la->x_mid, la->x_in, a->xn, (size_t)N * C);
    lc_rmsnorm_forward(a->xn, la->rstd2, la->x_mid, w->mlp_norm, N, C, c->rms_eps);
    proj_forward(la->gate, a, lora, lora_mult, a->xn, &w->w_gate, NULL, l, LC_T_GATE, la->xa[LC_T_GATE], N, seed, training);
    proj_forward(la->up, a, lora, lora_mult, a->xn, &w->w_up, NULL, l, LC_T_UP, la->xa[LC_T_UP], N, seed, training);
    lc_swiglu_forward(a->big, la->gate, la->up, (size_t)N * F);
    proj_forward(a->xn, a, lora, lora_mult, a->big, &w->w_down, NULL, l, LC_T_DOWN, la->xa[LC_T_DOWN], N, seed, training);
    residual_add(x_out, la->x_mid, a->xn, (size_t)N * C);
}

/* Runs all layers forward, filling the saved activations; x_final and hf set. */
static void forward_layers(const lc_model *m, const lc_lora *lora, float lora_mult, lc_acts *a,
                           const lc_batch *b, uint64_t seed, int training) {
    const lc_model_config *c = &m->cfg;
    int N = b->B * b->T;
    embed(a->layers[0].x_in, m, b->tokens, N);
    for (int l = 0; l < c->n_layers; l++) {
        float *x_out = (l + 1 < c->n_layers) ? a->layers[l + 1].x_in : a->x_final;
        layer_forward(m, lora, lora_mult, a, l, &a->layers[l], x_out, b->B, b->T, seed, training);
    }
    lc_rmsnorm_forward(a->hf, a->rstd_f, a->x_final, m->final_norm, N, c->hidden_size, c->rms_eps);
}

static const float *head_weights(const lc_model *m, const lc_acts *a) {
    return a->head_f32 ? a->head_f32 : (const float *)m->lm_head.data;
}

static int64_t count_targets(const lc_batch *b) {
    int64_t n = 0;
    size_t N = (size_t)b->B * b->T;
    for (size_t i = 0; i < N; i++) n += b->targets[i] >= 0;
    return n;
}

lc_status lc_forward(const lc_model *m, const lc_lora *lora, float lora_scale_mult, lc_acts *a,
                     const lc_batch *batch, double *loss_sum, int64_t *n_targets, float *logits) {
    if (m->cfg.arch == LC_ARCH_GPT2) /* GPT-2: gpt2.c */
        return lc_gpt2_forward(m, lora, lora_scale_mult, a, batch, loss_sum, n_targets, logits);
    lc_status st = check_tokens(m, batch, a);
    if (st) return st;
    if (lora && a->r != lora->cfg.r)
        return lc_errorf(LC_ERR_ARG, "activations were created for LoRA rank %d, adapter has %d", a->r,
                         lora->cfg.r);
    int N = batch->B * batch->T, C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    forward_layers(m, lora, lora_scale_mult, a, batch, 0, 0);
    if (logits) lc_linear_forward(logits, a->hf, head_weights(m, a), NULL, N, C, V);
    if (loss_sum) {
        if (!batch->targets) return lc_errorf(LC_ERR_ARG, "loss requested without targets");
        *loss_sum = lc_lmhead_xent(NULL, a->hf, head_weights(m, a), batch->targets, N, C, V, 0.0f,
                                   a->xent, LC_XENT_CHUNK);
        if (n_targets) *n_targets = count_targets(batch);
    }
    return LC_OK;
}

lc_status lc_forward_backward(const lc_model *m, lc_lora *lora, lc_acts *a, const lc_batch *batch,
                              float grad_scale, uint64_t seed, double *loss_sum, int64_t *n_targets) {
    if (m->cfg.arch == LC_ARCH_GPT2) /* GPT-2: gpt2.c */
        return lc_gpt2_forward_backward(m, lora, a, batch, grad_scale, seed, loss_sum, n_targets);
    if (!lora || !a->dx || !a->dq) return lc_errorf(LC_ERR_ARG, "forward_backward needs a LoRA adapter and training activations");
    if (!batch->targets) return lc_errorf(LC_ERR_ARG, "forward_backward needs targets");
    lc_status st = check_tokens(m, batch, a);
    if (st) return st;
    if (a->r != lora->cfg.r)
        return lc_errorf(LC_ERR_ARG, "activations were created for LoRA rank %d, adapter has %d", a->r,
                         lora->cfg.r);
    const lc_model_config *c = &m->cfg;
    int B = batch->B, T = batch->T, N = B * T, C = c->hidden_size, F = c->intermediate_size;
    int Hq = c->n_heads, Hkv = c->n_kv_heads, hd = c->head_dim, V = c->vocab_size;
    size_t NC = (size_t)N * C, NQ = (size_t)N * Hq * hd, NKV = (size_t)N * Hkv * hd, NF = (size_t)N * F;

    forward_layers(m, lora, 1.0f, a, batch, seed, 1);

    /* head + loss, fused: dhf = d loss / d hf, then through the final norm */
    memset(a->dxn, 0, NC * sizeof(float));
    double loss = lc_lmhead_xent(a->dxn, a->hf, head_weights(m, a), batch->targets, N, C, V, grad_scale,
                                 a->xent, LC_XENT_CHUNK);
    memset(a->dx, 0, NC * sizeof(float));
    lc_rmsnorm_backward(a->dx, a->dxn, a->x_final, m->final_norm, a->rstd_f, N, C);

    for (int l = c->n_layers - 1; l >= 0; l--) {
        const lc_layer *w = &m->layers[l];
        layer_acts *la = &a->layers[l];
        /* With checkpointing, the shared activations hold another layer's:
         * recompute this one (same inputs, seed and kernels: bit-identical). */
        if (a->ckpt) layer_forward(m, lora, 1.0f, a, l, la, a->x_tmp, B, T, seed, 1);
        /* --- MLP: x_out = x_mid + down(swiglu(gate(xn2), up(xn2))) --- */
        lc_swiglu_forward(a->big, la->gate, la->up, NF); /* recompute h */
        memset(a->dh, 0, NF * sizeof(float));
        proj_backward(a->dh, a, lora, a->big, &w->w_down, l, LC_T_DOWN, la->xa[LC_T_DOWN], a->dx, N, seed);
        memset(a->dgate, 0, NF * sizeof(float));
        memset(a->dup, 0, NF * sizeof(float));
        lc_swiglu_backward(a->dgate, a->dup, a->dh, la->gate, la->up, NF);
        lc_rmsnorm_forward(a->xn, la->rstd2, la->x_mid, w->mlp_norm, N, C, c->rms_eps); /* recompute xn2 */
        memset(a->dxn, 0, NC * sizeof(float));
        proj_backward(a->dxn, a, lora, a->xn, &w->w_gate, l, LC_T_GATE, la->xa[LC_T_GATE], a->dgate, N, seed);
        proj_backward(a->dxn, a, lora, a->xn, &w->w_up, l, LC_T_UP, la->xa[LC_T_UP], a->dup, N, seed);
        lc_rmsnorm_backward(a->dx, a->dxn, la->x_mid, w->mlp_norm, la->rstd2, N, C); /* dx: d/dx_mid */
        /* --- attention: x_mid = x_in + o(attn(rope(q(xn1)), rope(k(xn1)), v(xn1))) --- */
        memset(a->datt, 0, NQ * sizeof(float));
        proj_backward(a->datt, a, lora, la->att, &w->wo, l, LC_T_O, la->xa[LC_T_O], a->dx, N, seed);
        memset(a->dq, 0, NQ * sizeof(float));
        memset(a->dk, 0, NKV * sizeof(float));
        memset(a->dv, 0, NKV * sizeof(float));
        lc_attention_backward(a->dq, a->dk, a->dv, a->datt, la->att, la->lse, la->q, la->k, la->v, B, T,
                              Hq, Hkv, hd);
        lc_rope_backward(a->dq, a->rope_cos, a->rope_sin, B, T, Hq, hd);
        lc_rope_backward(a->dk, a->rope_cos, a->rope_sin, B, T, Hkv, hd);
        lc_rmsnorm_forward(a->xn, la->rstd1, la->x_in, w->attn_norm, N, C, c->rms_eps); /* recompute xn1 */
        /* Layer 0's input is the frozen embedding: its gradient is not needed. */
        float *dxn1 = l > 0 ? a->dxn : NULL;
        if (dxn1) memset(dxn1, 0, NC * sizeof(float));
        proj_backward(dxn1, a, lora, a->xn, &w->wq, l, LC_T_Q, la->xa[LC_T_Q], a->dq, N, seed);
        proj_backward(dxn1, a, lora, a->xn, &w->wk, l, LC_T_K, la->xa[LC_T_K], a->dk, N, seed);
        proj_backward(dxn1, a, lora, a->xn, &w->wv, l, LC_T_V, la->xa[LC_T_V], a->dv, N, seed);
        if (dxn1) lc_rmsnorm_backward(a->dx, dxn1, la->x_in, w->attn_norm, la->rstd1, N, C);
    }
    *loss_sum = loss;
    if (n_targets) *n_targets = count_targets(batch);
    return LC_OK;
}
