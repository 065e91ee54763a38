/*
 * gpt2.c — forward and backward of a frozen GPT-2 (GPT2LMHeadModel) with
 * LoRA adapters on c_attn, attn.c_proj, c_fc and mlp.c_proj, as PEFT applies
 * them (c_attn: one A (r, C), one B (3C, r) on the fused q|k|v output).
 *
 * Data path of one layer (N = B*T rows, C hidden, F = n_inner):
 *   x_in ─ LayerNorm ─ xn1 ─ c_attn(+LoRA) ─ qkv (N, 3C) ─ split q|k|v ─ causal attention ─ att ┐
 *   x_mid = x_in + attn.c_proj(+LoRA)(att) ────────────────────────────────────────────────────┘
 *   x_mid ─ LayerNorm ─ xn2 ─ c_fc(+LoRA) ─ fc (N, F) ─ GELU(tanh) ─ h ─ mlp.c_proj(+LoRA) ─┐
 *   x_out = x_mid + ──────────────────────────────────────────────────────────────────────┘
 * Input: wte[token] + wpe[position]; output: ln_f, then the tied lm_head.
 * The N rows are a token stream cut into causal segments (lc_batch): padded
 * rows, or padding-free rows / packed examples. Positions restart at 0 in
 * every segment and attention runs per segment (block-diagonal), as in
 * transformer.c (segments.h).
 *
 * Saved per layer (unless gradient checkpointing, which keeps only x_in and
 * recomputes the layer in backward): x_in, LayerNorm mean/rstd, q, k, v, att
 * + log-sum-exp, x_mid, fc, LoRA intermediates x·A^T (N, r). The normalised
 * inputs and the GELU output are recomputed in backward.
 *
 * The activations are a GPT-2-specific object behind the opaque lc_acts
 * handle. Both layouts start with the layer kind (lc_family.h) that made
 * them, so lc_acts_free and lc_acts_bytes (transformer.c) recognise them by
 * that tag and hand them back here.
 * Frozen weights must be fp32 (lc_model_dequantize_all converts others).
 */
#include "gpt2.h"
#include "segments.h"

#include "lc_kernels.h" /* before cblas.h: its complex.h defines the macro I */

#include <cblas.h>
#include <string.h>

#define XENT_CHUNK 256
#define N_GT 4 /* GPT-2 LoRA targets, LC_T_C_ATTN .. LC_T_MLP_C_PROJ */

typedef struct {
    float *x_in;           /* (N, C) */
    float *mean1, *rstd1;  /* (N) */
    float *q, *k, *v;      /* (N, C) each, (B, T, H, hd) */
    float *att;            /* (N, C) */
    float *lse;            /* (B, H, T) */
    float *x_mid;          /* (N, C) */
    float *mean2, *rstd2;  /* (N) */
    float *fc;             /* (N, F) c_fc output, before GELU */
    float *xa[N_GT];       /* (N, r) LoRA x·A^T per GPT-2 target; NULL when not targeted */
} g2_layer;

typedef struct g2_acts {
    lc_layer_kind kind;    /* LC_LAYER_GPT2: first, as in transformer.c's lc_acts */
    int B, T, r;
    int ckpt;              /* gradient checkpointing: layers share one saved set */
    g2_layer *layers;
    float *mem;            /* the one block everything below points into */
    size_t bytes;
    float *x_tmp;          /* (N, C) recomputed layer output (checkpointing only) */
    float *x_final;        /* (N, C) */
    float *mean_f, *rstd_f;/* (N) */
    float *hf;             /* (N, C) after ln_f */
    float *xn;             /* (N, C) LayerNorm output / projection output */
    float *qkv;            /* (N, 3C) c_attn output; its gradient in backward */
    float *h;              /* (N, F) GELU output */
    /* training only */
    float *dx, *dxn;       /* (N, C) */
    float *dq, *dk, *dv, *datt; /* (N, C) */
    float *dfc, *dh;       /* (N, F) */
    float *dxa;            /* (N, r) */
    float *drop;           /* (N, max(C, F)) dropped-out LoRA input; NULL without dropout */
    float *xent;           /* lm-head scratch */
    int32_t *row_seg;      /* (B + 1) padded rows as segments, for a batch without seg */
    int32_t *pos;          /* (B*T) position of each stream row within its segment */
} g2_acts;

/* The layout of one pass (lc_batch): N stream rows, their segments, the
 * padded slot of each row (NULL: padded layout) for the dropout masks. */
typedef struct {
    int N;
    lc_seg_list segs; /* K = 1 */
    const int32_t *slot;
} g2_layout;

/* a (any lc_acts) holds GPT-2 activations: the tag both layouts start with. */
static int live_has(const void *a) { return *(const lc_layer_kind *)a == LC_LAYER_GPT2; }

/* ---------------------------------------------------------------- memory */

static size_t padded(size_t n) { return (n + 15) & ~(size_t)15; } /* floats, 64-byte multiples */

static float *take(float **cursor, size_t n) {
    float *p = *cursor;
    *cursor += padded(n);
    return p;
}

static int lora_on(const lc_lora *lora, int t) { return lora && (lora->cfg.targets & (1u << t)); }

/* Floats of one layer's saved set. */
static size_t layer_floats(size_t N, size_t C, size_t F, size_t BHT, const lc_lora *lora) {
    size_t n = 4 * padded(N) + 5 * padded(N * C) + padded(BHT) + padded(N * F);
    for (int t = 0; t < N_GT; t++)
        if (lora_on(lora, LC_T_C_ATTN + t)) n += padded(N * (size_t)lora->r_max);
    return n;
}

static void carve_layer(g2_layer *la, float **cur, size_t N, size_t C, size_t F, size_t BHT,
                        const lc_lora *lora) {
    la->mean1 = take(cur, N);
    la->rstd1 = take(cur, N);
    la->q = take(cur, N * C);
    la->k = take(cur, N * C);
    la->v = take(cur, N * C);
    la->att = take(cur, N * C);
    la->lse = take(cur, BHT);
    la->x_mid = take(cur, N * C);
    la->mean2 = take(cur, N);
    la->rstd2 = take(cur, N);
    la->fc = take(cur, N * F);
    for (int t = 0; t < N_GT; t++)
        la->xa[t] = lora_on(lora, LC_T_C_ATTN + t) ? take(cur, N * (size_t)lora->r_max) : NULL;
}

static lc_status check_f32(const lc_weight *w, const char *what, int layer) {
    if (w->type == LC_DT_F32 && w->data) return LC_OK;
    return lc_errorf(LC_ERR_UNSUPPORTED,
                     "GPT-2: weight %s of layer %d is not fp32 (type %d); call lc_model_dequantize_all first",
                     what, layer, (int)w->type);
}

/* Every weight the GPT-2 kernels read must be fp32. */
static lc_status check_all_f32(const lc_model *m) {
    lc_status st;
    if ((st = check_f32(&m->tok_emb, "wte", -1)) || (st = check_f32(&m->pos_emb, "wpe", -1))) return st;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const lc_layer *w = &m->layers[l];
        if ((st = check_f32(&w->wqkv, "c_attn", l)) || (st = check_f32(&w->wo, "attn.c_proj", l)) ||
            (st = check_f32(&w->w_up, "c_fc", l)) || (st = check_f32(&w->w_down, "mlp.c_proj", l)))
            return st;
    }
    return LC_OK;
}

/* Carve the scratch after the layers (x_tmp under checkpointing, the final
 * norm, the forward buffers, the gradients when training) out of *cur. */
static void carve_scratch(g2_acts *a, float **cur, size_t N, size_t C, size_t F, int V, const lc_lora *lora) {
    size_t r = lora ? (size_t)lora->r_max : 0, wide = F > C ? F : C;
    if (a->ckpt) a->x_tmp = take(cur, N * C);
    a->x_final = take(cur, N * C);
    a->hf = take(cur, N * C);
    a->mean_f = take(cur, N);
    a->rstd_f = take(cur, N);
    a->xn = take(cur, N * C);
    a->qkv = take(cur, 3 * N * C);
    a->h = take(cur, N * F);
    a->xent = take(cur, lc_lmhead_xent_scratch_floats(XENT_CHUNK, (int)C, V));
    if (lora) { /* training */
        a->dx = take(cur, N * C);
        a->dxn = take(cur, N * C);
        a->dq = take(cur, N * C);
        a->dk = take(cur, N * C);
        a->dv = take(cur, N * C);
        a->datt = take(cur, N * C);
        a->dfc = take(cur, N * F);
        a->dh = take(cur, N * F);
        a->dxa = take(cur, N * (r ? r : 1));
        if (lora->cfg.dropout > 0) a->drop = take(cur, N * wide);
    }
}

lc_status lc_gpt2_acts_create(lc_acts **out, const lc_model *m, const lc_lora *lora, int B, int T,
                              int grad_checkpointing) {
    const lc_model_config *c = &m->cfg;
    lc_status st;
    *out = NULL;
    if (B <= 0 || T <= 0) return lc_errorf(LC_ERR_ARG, "batch shape must be positive (B %d, T %d)", B, T);
    if (T > c->max_position)
        return lc_errorf(LC_ERR_ARG, "GPT-2: sequence length %d exceeds n_positions %d", T, c->max_position);
    if ((st = check_all_f32(m))) return st;
    size_t N = (size_t)B * T, C = c->hidden_size, F = c->intermediate_size, L = c->n_layers;
    size_t BHT = (size_t)B * c->n_heads * T, r = lora ? (size_t)lora->r_max : 0;
    size_t wide = F > C ? F : C;
    int train = lora != NULL, ckpt = grad_checkpointing && train;
    size_t per_layer = padded(N * C), shared = layer_floats(N, C, F, BHT, lora);
    if (ckpt) shared += padded(N * C); /* x_tmp */
    else per_layer += shared;
    size_t scratch = 2 * padded(N * C) + 2 * padded(N) + padded(N * C) + padded(3 * N * C) + padded(N * F) +
                     padded(lc_lmhead_xent_scratch_floats(XENT_CHUNK, (int)C, c->vocab_size));
    if (train)
        scratch += 2 * padded(N * C) + 4 * padded(N * C) + 2 * padded(N * F) + padded(N * (r ? r : 1)) +
                   (lora->cfg.dropout > 0 ? padded(N * wide) : 0);
    size_t total = L * per_layer + (ckpt ? shared : 0) + scratch;
    g2_acts *a = lc_calloc(sizeof *a);
    if (!a) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    a->mem = lc_alloc(total * sizeof(float));
    a->layers = lc_calloc(L * sizeof *a->layers);
    if (!a->mem || !a->layers) {
        lc_free(a->mem);
        lc_free(a->layers);
        lc_free(a);
        return lc_errorf(LC_ERR_NOMEM, "out of memory for GPT-2 activations (%.1f MB)", total * 4.0 / 1e6);
    }
    a->B = B;
    a->T = T;
    a->r = (int)r;
    a->ckpt = ckpt;
    float *cur = a->mem;
    for (size_t l = 0; l < L; l++) a->layers[l].x_in = take(&cur, N * C);
    for (size_t l = 0; l < L; l++) {
        if (ckpt && l > 0) { /* alias layer 0's shared set */
            float *x_in = a->layers[l].x_in;
            a->layers[l] = a->layers[0];
            a->layers[l].x_in = x_in;
            continue;
        }
        carve_layer(&a->layers[l], &cur, N, C, F, BHT, lora);
    }
    carve_scratch(a, &cur, N, C, F, c->vocab_size, lora);
    LC_ASSERT((size_t)(cur - a->mem) <= total);
    a->row_seg = lc_alloc(((size_t)B + 1) * sizeof(int32_t));
    a->pos = lc_alloc(N * sizeof(int32_t));
    if (!a->row_seg || !a->pos) {
        lc_free(a->row_seg);
        lc_free(a->pos);
        lc_free(a->mem);
        lc_free(a->layers);
        lc_free(a);
        return lc_errorf(LC_ERR_NOMEM, "out of memory for GPT-2 activations");
    }
    a->bytes = total * sizeof(float) + L * sizeof *a->layers + sizeof *a + (N + B + 1) * sizeof(int32_t);
    a->kind = LC_LAYER_GPT2;
    *out = (lc_acts *)a;
    return LC_OK;
}

int lc_gpt2_acts_free(lc_acts *acts) {
    if (!acts || !live_has(acts)) return 0;
    g2_acts *a = (g2_acts *)acts;
    lc_free(a->mem);
    lc_free(a->layers);
    lc_free(a->row_seg);
    lc_free(a->pos);
    lc_free(a);
    return 1;
}

int lc_gpt2_acts_bytes(const lc_acts *acts, size_t *bytes) {
    if (!acts || !live_has(acts)) return 0;
    *bytes = ((const g2_acts *)acts)->bytes;
    return 1;
}

/* ------------------------------------------------------------ LoRA pieces */

/* The LoRA input x (N, in): x, or a dropped-out copy (mask regenerated from
 * the seed; element (n, j) hashes its padded index, lc_mask_index). */
static const float *lora_input(g2_acts *a, const lc_lora *lora, const float *x, int N, int in,
                               const int32_t *slot, uint64_t seed, int layer, int t, int training) {
    float p = lora->cfg.dropout;
    if (!training || p <= 0) return x;
    float keep = 1.0f / (1.0f - p);
    uint64_t stream = lc_hash64(seed, (uint64_t)layer * LC_T_COUNT + (uint64_t)t);
    float *d = a->drop; /* (N, in) */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (size_t j = 0, i = (size_t)n * in; j < (size_t)in; j++, i++)
            d[i] = lc_hash_uniform(stream, lc_mask_index(slot, n, j, in)) < p ? 0.0f : x[i] * keep;
    return d;
}

/* y (N, O) = x (N, In) · W^T + bias, plus scale (x_d · A^T) · B^T with
 * xa = x_d · A^T (N, r) saved, when the target has LoRA. */
static void proj_forward(float *y, g2_acts *a, const lc_lora *lora, float lora_mult, const float *x,
                         const lc_weight *W, const float *bias, int layer, lc_lora_target t, float *xa,
                         const g2_layout *ly, uint64_t seed, int training) {
    int In = W->cols, O = W->rows, N = ly->N;
    lc_linear_forward(y, x, (const float *)W->data, bias, N, In, O);
    if (!lora || !xa) return;
    const lc_lora_pair *p = lc_lora_get(lora, layer, t);
    if (!p->A) return; /* layers_to_transform left this layer out */
    int r = p->r;
    const float *xd = lora_input(a, lora, x, N, In, ly->slot, seed, layer, (int)t, training);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, In, 1.0f, xd, In, p->A, In, 0.0f, xa, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, O, r, p->scale * lora_mult, xa, r, p->B, r, 1.0f,
                y, O);
}

/* Backward of proj_forward for dy (N, O): dx += dy W (if dx), and with LoRA
 * dB += s dy^T xa, dxa = s dy B, dA += dxa^T x_d, dx += (dxa A) ⊙ mask. */
static void proj_backward(float *dx, g2_acts *a, lc_lora *lora, const float *x, const lc_weight *W, int layer,
                          lc_lora_target t, const float *xa, const float *dy, const g2_layout *ly, uint64_t seed) {
    int In = W->cols, O = W->rows, N = ly->N;
    if (dx) lc_linear_backward_input(dx, dy, (const float *)W->data, N, In, O);
    if (!xa) return;
    lc_lora_pair *p = lc_lora_get(lora, layer, t);
    if (!p->A) return;
    int r = p->r;
    float s = p->scale, drop = lora->cfg.dropout;
    const float *xd = lora_input(a, lora, x, N, In, ly->slot, seed, layer, (int)t, 1);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, r, N, s, dy, O, xa, r, 1.0f, p->dB, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, r, O, s, dy, O, p->B, r, 0.0f, a->dxa, r);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, In, N, 1.0f, a->dxa, r, xd, In, 1.0f, p->dA, In);
    if (!dx) return;
    if (drop <= 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, In, r, 1.0f, a->dxa, r, p->A, In, 1.0f, dx, In);
        return;
    }
    float *dxd = a->drop; /* (N, In): the mask is regenerated from the seed */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, In, r, 1.0f, a->dxa, r, p->A, In, 0.0f, dxd, In);
    float keep = 1.0f / (1.0f - drop);
    uint64_t stream = lc_hash64(seed, (uint64_t)layer * LC_T_COUNT + (uint64_t)t);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (size_t j = 0, i = (size_t)n * In; j < (size_t)In; j++, i++)
            if (lc_hash_uniform(stream, lc_mask_index(ly->slot, n, j, In)) >= drop) dx[i] += dxd[i] * keep;
}

/* ------------------------------------------------------------- the passes */

static void residual_add(float *out, const float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = x[i] + y[i];
}

/* x (N, C) = wte[token] + wpe[position within its segment] */
static void embed(float *x, const lc_model *m, const int32_t *tokens, const int32_t *pos, int N) {
    int C = m->cfg.hidden_size;
    const float *wte = m->tok_emb.data, *wpe = m->pos_emb.data; /* (V, C), (P, C) */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *e = wte + (size_t)tokens[n] * C, *p = wpe + (size_t)pos[n] * C;
        float *o = x + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = e[i] + p[i];
    }
}

/* qkv (N, 3C) → q, k, v (N, C) each */
static void split_qkv(float *q, float *k, float *v, const float *qkv, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *s = qkv + (size_t)n * 3 * C;
        memcpy(q + (size_t)n * C, s, (size_t)C * sizeof(float));
        memcpy(k + (size_t)n * C, s + C, (size_t)C * sizeof(float));
        memcpy(v + (size_t)n * C, s + 2 * C, (size_t)C * sizeof(float));
    }
}

/* dqkv (N, 3C) = [dq | dk | dv] */
static void join_qkv(float *dqkv, const float *dq, const float *dk, const float *dv, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *d = dqkv + (size_t)n * 3 * C;
        memcpy(d, dq + (size_t)n * C, (size_t)C * sizeof(float));
        memcpy(d + C, dk + (size_t)n * C, (size_t)C * sizeof(float));
        memcpy(d + 2 * C, dv + (size_t)n * C, (size_t)C * sizeof(float));
    }
}

#define XA(t) la->xa[(t) - LC_T_C_ATTN]

/* Causal attention per segment (block-diagonal over the stream): the kernel
 * once per run of equal-length segments; lse of a run at row0 is
 * (count, H, len) at lse + row0·H. As transformer.c's attention_segments_*. */
static void attention_segments(g2_acts *a, g2_layer *la, const g2_layout *ly, int H, int hd, int backward) {
    int it = 0, row0, count, len, C = H * hd;
    while (lc_seg_next_run(&ly->segs, &it, &row0, &count, &len)) {
        size_t o = (size_t)row0 * C;
        float *lse = la->lse + (size_t)row0 * H;
        if (backward)
            lc_attention_backward(a->dq + o, a->dk + o, a->dv + o, a->datt + o, la->att + o, lse, la->q + o,
                                  la->k + o, la->v + o, count, len, H, H, hd);
        else
            lc_attention_forward(la->att + o, lse, la->q + o, la->k + o, la->v + o, count, len, H, H, hd);
    }
}

/* One layer from la->x_in into x_out, filling la's saved activations. */
static void layer_forward(const lc_model *m, const lc_lora *lora, float mult, g2_acts *a, int l, g2_layer *la,
                          float *x_out, const g2_layout *ly, uint64_t seed, int training) {
    const lc_model_config *c = &m->cfg;
    const lc_layer *w = &m->layers[l];
    int N = ly->N, C = c->hidden_size, F = c->intermediate_size, H = c->n_heads;
    float eps = c->layer_norm_eps;
    lc_layernorm_forward(a->xn, la->mean1, la->rstd1, la->x_in, w->attn_norm, w->attn_norm_b, N, C, eps);
    proj_forward(a->qkv, a, lora, mult, a->xn, &w->wqkv, w->bqkv, l, LC_T_C_ATTN, XA(LC_T_C_ATTN), ly, seed,
                 training);
    split_qkv(la->q, la->k, la->v, a->qkv, N, C);
    attention_segments(a, la, ly, H, c->head_dim, 0);
    proj_forward(a->xn, a, lora, mult, la->att, &w->wo, w->bo, l, LC_T_ATTN_C_PROJ, XA(LC_T_ATTN_C_PROJ), ly, seed,
                 training);
    residual_add(la->x_mid, la->x_in, a->xn, (size_t)N * C);
    lc_layernorm_forward(a->xn, la->mean2, la->rstd2, la->x_mid, w->mlp_norm, w->mlp_norm_b, N, C, eps);
    proj_forward(la->fc, a, lora, mult, a->xn, &w->w_up, w->b_up, l, LC_T_C_FC, XA(LC_T_C_FC), ly, seed, training);
    lc_gelu_tanh_forward(a->h, la->fc, (size_t)N * F);
    proj_forward(a->xn, a, lora, mult, a->h, &w->w_down, w->b_down, l, LC_T_MLP_C_PROJ, XA(LC_T_MLP_C_PROJ), ly,
                 seed, training);
    residual_add(x_out, la->x_mid, a->xn, (size_t)N * C);
}

/* The layout of a checked batch: its segments (or one per padded row) and
 * every row's position within its segment (a->pos). */
static g2_layout set_layout(g2_acts *a, const lc_batch *b) {
    g2_layout ly = {(int)lc_batch_tokens(b), {b->seg, b->n_seg, 1, 0}, b->slot};
    ly.segs.Nk = ly.N;
    if (!b->seg) {
        for (int i = 0; i <= b->B; i++) a->row_seg[i] = i * b->T;
        ly.segs.seg = a->row_seg;
        ly.segs.n_seg = b->B;
    }
    for (int s = 0; s < ly.segs.n_seg; s++)
        for (int32_t i = ly.segs.seg[s]; i < ly.segs.seg[s + 1]; i++) a->pos[i] = i - ly.segs.seg[s];
    return ly;
}

static void forward_layers(const lc_model *m, const lc_lora *lora, float mult, g2_acts *a, const lc_batch *b,
                           const g2_layout *ly, uint64_t seed, int training) {
    const lc_model_config *c = &m->cfg;
    embed(a->layers[0].x_in, m, b->tokens, a->pos, ly->N);
    if (training && lora) /* on wte's output in HF; the sum with wpe commutes */
        lc_neftune_add(a->layers[0].x_in, ly->N, c->hidden_size, b->T, ly->slot, seed, lora->cfg.neftune_alpha);
    for (int l = 0; l < c->n_layers; l++) {
        float *x_out = l + 1 < c->n_layers ? a->layers[l + 1].x_in : a->x_final;
        layer_forward(m, lora, mult, a, l, &a->layers[l], x_out, ly, seed, training);
    }
    lc_layernorm_forward(a->hf, a->mean_f, a->rstd_f, a->x_final, m->final_norm, m->final_norm_b, ly->N,
                         c->hidden_size, c->layer_norm_eps);
}

/* Backward of one layer: a->dx holds d/dx_out on entry, d/dx_in on exit
 * (layer 0: the input's gradient is not needed and dx is left as d/dx_mid). */
static void layer_backward(const lc_model *m, lc_lora *lora, g2_acts *a, int l, g2_layer *la, const g2_layout *ly,
                           uint64_t seed) {
    const lc_model_config *c = &m->cfg;
    const lc_layer *w = &m->layers[l];
    int N = ly->N, C = c->hidden_size, F = c->intermediate_size, H = c->n_heads;
    size_t NC = (size_t)N * C, NF = (size_t)N * F;
    float eps = c->layer_norm_eps;
    /* MLP: x_out = x_mid + c_proj(gelu(c_fc(ln_2(x_mid)))) */
    lc_gelu_tanh_forward(a->h, la->fc, NF); /* recompute h */
    memset(a->dh, 0, NF * sizeof(float));
    proj_backward(a->dh, a, lora, a->h, &w->w_down, l, LC_T_MLP_C_PROJ, XA(LC_T_MLP_C_PROJ), a->dx, ly, seed);
    memset(a->dfc, 0, NF * sizeof(float));
    lc_gelu_tanh_backward(a->dfc, a->dh, la->fc, NF);
    lc_layernorm_forward(a->xn, la->mean2, la->rstd2, la->x_mid, w->mlp_norm, w->mlp_norm_b, N, C, eps);
    memset(a->dxn, 0, NC * sizeof(float));
    proj_backward(a->dxn, a, lora, a->xn, &w->w_up, l, LC_T_C_FC, XA(LC_T_C_FC), a->dfc, ly, seed);
    lc_layernorm_backward(a->dx, a->dxn, la->x_mid, w->mlp_norm, la->mean2, la->rstd2, N, C); /* d/dx_mid */
    /* attention: x_mid = x_in + c_proj(attn(split(c_attn(ln_1(x_in))))) */
    memset(a->datt, 0, NC * sizeof(float));
    proj_backward(a->datt, a, lora, la->att, &w->wo, l, LC_T_ATTN_C_PROJ, XA(LC_T_ATTN_C_PROJ), a->dx, ly, seed);
    memset(a->dq, 0, NC * sizeof(float));
    memset(a->dk, 0, NC * sizeof(float));
    memset(a->dv, 0, NC * sizeof(float));
    attention_segments(a, la, ly, H, c->head_dim, 1);
    join_qkv(a->qkv, a->dq, a->dk, a->dv, N, C); /* qkv scratch now holds d qkv */
    lc_layernorm_forward(a->xn, la->mean1, la->rstd1, la->x_in, w->attn_norm, w->attn_norm_b, N, C, eps);
    float *dxn1 = l > 0 ? a->dxn : NULL; /* layer 0's input is the frozen embedding */
    if (dxn1) memset(dxn1, 0, NC * sizeof(float));
    proj_backward(dxn1, a, lora, a->xn, &w->wqkv, l, LC_T_C_ATTN, XA(LC_T_C_ATTN), a->qkv, ly, seed);
    if (dxn1) lc_layernorm_backward(a->dx, dxn1, la->x_in, w->attn_norm, la->mean1, la->rstd1, N, C);
}

#undef XA

/* ------------------------------------------------------------- entry points */

static lc_status check_call(const lc_model *m, const lc_lora *lora, const g2_acts *a, const lc_batch *b) {
    if (!live_has(a)) return lc_errorf(LC_ERR_ARG, "activations were not created for a GPT-2 model");
    lc_status st = lc_batch_check(b);
    if (st) return st;
    int64_t n = lc_batch_tokens(b);
    if (b->slot ? n > (int64_t)a->B * a->T || b->T > a->T : b->B > a->B || b->T > a->T)
        return lc_errorf(LC_ERR_ARG, "batch (%d, %d) (%lld tokens) exceeds the activations' capacity (%d, %d)", b->B,
                         b->T, (long long)n, a->B, a->T);
    if (lora && (a->r != lora->r_max || lora->arch != LC_ARCH_GPT2))
        return lc_errorf(LC_ERR_ARG, "adapter (rank %d, made for %s) does not fit these GPT-2 activations (rank %d)",
                         lora->r_max, lc_arch_name(lora->arch), a->r);
    for (int l = 0; lora && l < m->cfg.n_layers; l++)
        for (int t = LC_T_C_ATTN; t < LC_T_COUNT; t++)
            if (!!(lora->cfg.targets & (1u << t)) != !!a->layers[l].xa[t - LC_T_C_ATTN])
                return lc_errorf(LC_ERR_ARG, "adapter targets differ from those the activations were made for");
    for (size_t i = 0; i < (size_t)n; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= m->cfg.vocab_size)
            return lc_errorf(LC_ERR_ARG, "token id %d at position %zu is outside the vocabulary (0..%d)",
                             b->tokens[i], i, m->cfg.vocab_size - 1);
        if (b->targets && (b->targets[i] < -1 || b->targets[i] >= m->cfg.vocab_size))
            return lc_errorf(LC_ERR_ARG, "target id %d at position %zu is outside the vocabulary", b->targets[i],
                             i);
    }
    return LC_OK;
}

static int64_t count_targets(const lc_batch *b) {
    int64_t n = 0;
    for (size_t i = 0; i < (size_t)lc_batch_tokens(b); i++) n += b->targets[i] >= 0;
    return n;
}

lc_status lc_gpt2_forward(const lc_model *m, const lc_lora *lora, float lora_scale_mult, lc_acts *acts,
                          const lc_batch *batch, double *loss_sum, int64_t *n_targets, float *logits) {
    g2_acts *a = (g2_acts *)acts;
    lc_status st = check_call(m, lora, a, batch);
    if (st) return st;
    if (loss_sum && !batch->targets) return lc_errorf(LC_ERR_ARG, "loss requested without targets");
    g2_layout ly = set_layout(a, batch);
    int N = ly.N, C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    const float *W = m->lm_head.data; /* (V, C), tied to wte */
    forward_layers(m, lora, lora_scale_mult, a, batch, &ly, 0, 0);
    if (logits) lc_linear_forward(logits, a->hf, W, NULL, N, C, V);
    if (loss_sum) {
        *loss_sum = lc_lmhead_xent(NULL, a->hf, W, batch->targets, N, C, V, 0.0f, a->xent, XENT_CHUNK);
        if (n_targets) *n_targets = count_targets(batch);
    }
    return LC_OK;
}

lc_status lc_gpt2_forward_backward(const lc_model *m, lc_lora *lora, lc_acts *acts, const lc_batch *batch,
                                   float grad_scale, uint64_t seed, double *loss_sum, int64_t *n_targets) {
    g2_acts *a = (g2_acts *)acts;
    if (!lora || !live_has(a) || !a->dx)
        return lc_errorf(LC_ERR_ARG, "forward_backward needs a LoRA adapter and training activations");
    if (!batch->targets) return lc_errorf(LC_ERR_ARG, "forward_backward needs targets");
    lc_status st = check_call(m, lora, a, batch);
    if (st) return st;
    const lc_model_config *c = &m->cfg;
    g2_layout ly = set_layout(a, batch);
    int N = ly.N, C = c->hidden_size, V = c->vocab_size;
    size_t NC = (size_t)N * C;
    forward_layers(m, lora, 1.0f, a, batch, &ly, seed, 1);
    memset(a->dxn, 0, NC * sizeof(float));
    double loss = lc_lmhead_xent(a->dxn, a->hf, m->lm_head.data, batch->targets, N, C, V, grad_scale, a->xent,
                                 XENT_CHUNK);
    memset(a->dx, 0, NC * sizeof(float));
    lc_layernorm_backward(a->dx, a->dxn, a->x_final, m->final_norm, a->mean_f, a->rstd_f, N, C);
    for (int l = c->n_layers - 1; l >= 0; l--) {
        g2_layer *la = &a->layers[l];
        /* checkpointing: the shared set holds another layer's; recompute this one */
        if (a->ckpt) layer_forward(m, lora, 1.0f, a, l, la, a->x_tmp, &ly, seed, 1);
        layer_backward(m, lora, a, l, la, &ly, seed);
    }
    *loss_sum = loss;
    if (n_targets) *n_targets = count_targets(batch);
    return LC_OK;
}
