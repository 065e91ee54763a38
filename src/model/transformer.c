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
 * The family description (m->fam, lc_family.h) decides the variants: with
 * qk_norm, q and k pass a per-head RMSNorm between projection and RoPE
 * (Qwen3, Gemma 3); the RoPE table carries the family's frequency scaling;
 * GPT-2's LayerNorm / learned-position layers run in gpt2.c (fam.layer).
 * Gemma 3 (fam.norm_place sandwich): the attention output o and the MLP
 * output d pass their own RMSNorm before the residual add (o and d are saved
 * for backward), the MLP is GeGLU, embeddings are scaled by fam.embed_scale,
 * q is scaled by attn_scale·√hd after RoPE (the attention kernel divides by
 * √hd), and sliding layers (lc_model_layer_window) attend within their
 * window with the local RoPE table.
 * Backward walks the same path in reverse, recomputing xn1, xn2 and h.
 * The N rows are a token stream cut into causal segments (lc_batch): padded
 * rows of T, or padding-free rows / packed examples of any length. Everything
 * but RoPE and attention is row-wise; those two run per segment
 * (attention_segments, rope_segments), so attention is block-diagonal and
 * positions restart at 0 in every segment.
 * Several adapters can share one pass (trials: K stacked micro-batches, see
 * lc_transformer.h). Frozen weights may be quantised (lc_weight.type != F32): they are
 * dequantised a block of rows at a time into scratch inside the matmuls.
 */
#include "lc_transformer.h"

#include "gpt2.h"
#include "segments.h"
#include "lc_cpu.h"
#include "lc_dora.h"
#include "lc_tokens.h"
#include "lc_kernels.h" /* before cblas.h: its complex.h defines the macro I */

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>
#include <time.h>

/* A frozen matmul works on tiles of whole weight rows, at most LC_DEQ_FLOATS
 * floats (4 MB): a 135M model's matrices are one tile each, a 7B model's a
 * few hundred rows. Quantised tiles are dequantised into scratch. */
#define LC_DEQ_FLOATS ((size_t)1 << 20)
#define LC_XENT_CHUNK 256

typedef struct {
    float *x_in;       /* (N, C) */
    float *rstd1;      /* (N) */
    float *q;          /* (N, Hq*hd) after RoPE */
    float *k, *v;      /* (N, Hkv*hd), k after RoPE */
    float *att;        /* (N, Hq*hd) */
    float *lse;        /* (B, Hq, T) when rows are one run of equal length, else (1, Hq, Nk) per trial */
    float *x_mid;      /* (N, C) */
    float *rstd2;      /* (N) */
    float *gate, *up;  /* (N, F) */
    float *xa[LC_T_COUNT]; /* (N, r) LoRA intermediates; NULL when not targeted */
    /* q/k norm families only (NULL otherwise): the projections before the
     * per-head RMSNorm, and its rstd */
    float *q_raw, *k_raw;    /* (N, Hq*hd), (N, Hkv*hd) */
    float *rstd_q, *rstd_k;  /* (N*Hq), (N*Hkv) */
    /* sandwich-norm families only (NULL otherwise): the attention and MLP
     * outputs before their post-norms, and those norms' rstd */
    float *o_raw, *d_raw;    /* (N, C) */
    float *rstd_po, *rstd_pm; /* (N) */
} layer_acts;

struct lc_acts {
    lc_layer_kind kind; /* LC_LAYER_ROPE_RMS; first, as in gpt2.c's activations (lc_acts_free tells them apart) */
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
    float *deq;        /* (LC_DEQ_FLOATS) dequantised weight tile */
    float *rope_cos, *rope_sin; /* (T, hd/2) */
    float *rope_cos_l, *rope_sin_l; /* (T, hd/2) sliding layers' table; NULL without sliding layers */
    int xent_chunk;    /* rows per LM-head chunk (xent_chunk_rows) */
    float *xent;       /* lm-head scratch */
    float *head_f32;   /* (V, C) dequantised lm_head when quantised, else NULL */
    int32_t *row_seg;  /* (B + 1) offsets of padded rows, the segments of a batch without seg */
    size_t bytes;
    /* frozen-matmul path (lc_acts_set_matmul_path); bf16 scratch allocated there */
    lc_matmul_path path;
    float *xr;         /* (N, wide) matmul input rounded to bf16: floats (emulated) or uint16 (oneDNN) */
    uint16_t *deq16;   /* (deq floats) bf16 weight tile for oneDNN from non-bf16 weights */
    size_t deq_cap;    /* floats of deq */
    /* DoRA (lc_dora.h), NULL when no adapter of the pass uses it; wout = widest projection output */
    int L, wout;
    double *dora_w2;   /* (L, LC_T_COUNT, wout) constant ‖W_i‖² of the DoRA-targeted weights */
    float *dora_norm;  /* (K, L, LC_T_COUNT, wout) ‖W + sBA‖ per row, set in forward, read in backward */
    float *dora_g;     /* (wout) m / norm */
    float *dora_wa;    /* (wout * r + r * r) W Aᵀ and A Aᵀ */
    float *dora_lr;    /* (N, wide) (x̃ Aᵀ) Bᵀ of one trial */
    float *dora_base;  /* (N, wide) W x̃ of one trial; backward: (g - 1) ⊙ dy */
    float *dora_dy;    /* (N, wide) training: dy with DoRA trials' rows scaled by g */
    lc_pass_profile *prof; /* per-part timing (lc_acts_set_profile), NULL = off */
};

/* Per-part timing (lc_pass_profile): PROF_BEGIN opens a timed part in a
 * scope, PROF_END adds its wall seconds to a field; both cost one pointer
 * test when profiling is off. */
#define PROF_BEGIN(a) double prof_t0_ = (a)->prof ? lc_time_now() : 0.0
#define PROF_END(a, field)                                                                                    \
    do {                                                                                                       \
        if ((a)->prof) (a)->prof->field += lc_time_now() - prof_t0_;                                           \
    } while (0)
/* Seconds spent in the frozen matmuls so far (LoRA timing leaves DoRA's out). */
static double prof_frozen_s(const lc_acts *a) { return a->prof ? a->prof->frozen_fwd_s + a->prof->frozen_bwd_s : 0; }

/* ---------------------------------------------------------------- memory */

/* Weight rows per frozen-matmul tile for rows of `in` elements. */
static int tile_rows(int in) {
    size_t n = LC_DEQ_FLOATS / (size_t)in;
    return n > 0 ? (int)(n < 1u << 30 ? n : 1u << 30) : 1;
}

/* Floats of the dequantisation scratch: the largest tile of any projection. */
static size_t deq_floats(const lc_model_config *c) {
    int ins[3] = {c->hidden_size, c->n_heads * c->head_dim, c->intermediate_size};
    int outs[3] = {c->intermediate_size > c->n_heads * c->head_dim ? c->intermediate_size : c->n_heads * c->head_dim,
                   c->hidden_size, c->hidden_size};
    size_t most = 0;
    for (int i = 0; i < 3; i++) {
        size_t rows = (size_t)tile_rows(ins[i]);
        if (rows > (size_t)outs[i]) rows = (size_t)outs[i];
        if (rows * ins[i] > most) most = rows * ins[i];
    }
    return most;
}

static float *take(float **cursor, size_t n) {
    float *p = *cursor;
    *cursor += (n + 15) & ~(size_t)15; /* keep 64-byte alignment */
    return p;
}

static size_t padded(size_t n) { return (n + 15) & ~(size_t)15; }

/* The widest projection output: the stride of the DoRA per-row tables. */
static size_t dora_wout(const lc_model_config *c) {
    size_t w = (size_t)c->intermediate_size, q = (size_t)c->n_heads * c->head_dim;
    if (q > w) w = q;
    return (size_t)c->hidden_size > w ? (size_t)c->hidden_size : w;
}

/* ‖W_i‖² of every weight a DoRA adapter of the pass targets (once per acts). */
static lc_status dora_weight_norms(lc_acts *a, const lc_model *m, const lc_lora *const *loras, int K) {
    unsigned want = 0;
    for (int k = 0; k < K; k++)
        if (loras[k] && loras[k]->cfg.use_dora) want |= loras[k]->cfg.targets;
    for (int l = 0; l < a->L; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            if (!(want & (1u << t))) continue;
            lc_status st = lc_dora_weight_sq(a->dora_w2 + ((size_t)l * LC_T_COUNT + t) * a->wout,
                                             lc_lora_target_weight(m, l, (lc_lora_target)t));
            if (st) return st;
        }
    return LC_OK;
}

/* Sizes of one Llama-family activation set: what the K adapters need
 * together (the widest rank, every targeted projection, dropout scratch if
 * any of them drops out) and the shapes of the N = B T rows. */
typedef struct {
    int train, any_dropout, any_dora, ckpt, qkn, sandwich, local_rope, xent_chunk;
    unsigned targets;
    size_t r, N, C, F, Q, KV, L, wide, wout;
    size_t per_layer, shared, scratch, total; /* floats, see acts_plan_count */
} acts_plan;

/* Rows of the fused LM head per chunk: LC_XENT_CHUNK, fewer for large
 * vocabularies so its (chunk, V) logits stay near 64 MB (Gemma's 262,144
 * tokens: 64 rows). */
static int xent_chunk_rows(int V) {
    int rows = (int)(((size_t)1 << 24) / (size_t)V);
    return rows > LC_XENT_CHUNK ? LC_XENT_CHUNK : rows < 16 ? 16 : rows;
}

static void acts_plan_init(acts_plan *p, const lc_model *m, const lc_lora *const *loras, int K, int B, int T,
                           int grad_checkpointing) {
    const lc_model_config *c = &m->cfg;
    memset(p, 0, sizeof *p);
    for (int k = 0; k < K; k++) {
        if (!loras[k]) continue;
        p->train = 1;
        if ((size_t)loras[k]->r_max > p->r) p->r = (size_t)loras[k]->r_max;
        p->targets |= loras[k]->cfg.targets;
        p->any_dropout |= loras[k]->cfg.dropout > 0;
        p->any_dora |= loras[k]->cfg.use_dora;
    }
    p->N = (size_t)B * T; /* B already counts all K trials */
    p->C = c->hidden_size;
    p->F = c->intermediate_size;
    p->Q = (size_t)c->n_heads * c->head_dim;
    p->KV = (size_t)c->n_kv_heads * c->head_dim;
    p->L = c->n_layers;
    p->wide = p->F > p->Q ? p->F : p->Q;
    if (p->C > p->wide) p->wide = p->C;
    p->ckpt = grad_checkpointing && p->train;
    p->qkn = m->fam.qk_norm;
    p->sandwich = m->fam.norm_place == LC_NORM_SANDWICH;
    p->local_rope = m->fam.sliding_window > 0;
    p->xent_chunk = xent_chunk_rows(c->vocab_size);
    p->wout = dora_wout(c);
}

/* Count floats: per-layer activations (with checkpointing only x_in is per
 * layer; the rest is one shared set), then scratch. */
static void acts_plan_count(acts_plan *p, const lc_model_config *c, int K, int B, int T) {
    size_t N = p->N, C = p->C, F = p->F, Q = p->Q, KV = p->KV, L = p->L, r = p->r, wide = p->wide,
           wout = p->wout;
    size_t per_layer = padded(N * C), shared = padded(N) + padded(N * Q) + 2 * padded(N * KV) +
                       padded(N * Q) + padded((size_t)B * c->n_heads * T) + padded(N * C) +
                       padded(N) + 2 * padded(N * F);
    if (p->qkn) shared += padded(N * Q) + padded(N * KV) + padded(N * c->n_heads) + padded(N * c->n_kv_heads);
    if (p->sandwich) shared += 2 * padded(N * C) + 2 * padded(N);
    size_t n_lora_targets = 0;
    for (int t = 0; t < LC_T_COUNT; t++)
        if (p->targets & (1u << t)) n_lora_targets++;
    shared += n_lora_targets * padded(N * r);
    if (p->ckpt) shared += padded(N * C); /* x_tmp */
    else per_layer += shared;
    size_t scratch = 3 * padded(N * C) + padded(N) + padded(N * C) + padded(N * wide);
    if (p->train)
        scratch += padded(N * C) + 2 * padded(N * Q) + 2 * padded(N * KV) + 3 * padded(N * F) +
                   padded(N * (r ? r : 1)) + (p->any_dropout ? padded(N * wide) : 0);
    scratch += padded(deq_floats(c)) + (p->local_rope ? 4 : 2) * padded((size_t)T * c->head_dim / 2);
    if (p->any_dora) /* norms, gain, W Aᵀ / A Aᵀ, lr and base (+ scaled dy when training); w2 is doubles */
        scratch += padded((size_t)K * L * LC_T_COUNT * wout) + padded(wout) + padded(wout * r + r * r) +
                   (2 + p->train) * padded(N * wide) + padded(2 * L * LC_T_COUNT * wout);
    scratch += padded(lc_lmhead_xent_scratch_floats(p->xent_chunk, (int)C, c->vocab_size));
    p->per_layer = per_layer;
    p->shared = shared;
    p->scratch = scratch;
    p->total = L * per_layer + (p->ckpt ? shared : 0) + scratch;
}

/* Carve the per-layer activations out of the block at *cur: every x_in
 * first, then each layer's set (layers > 0 alias layer 0's under
 * checkpointing). */
static void acts_carve_layers(lc_acts *a, const acts_plan *p, const lc_model_config *c, float **cur) {
    size_t N = p->N, C = p->C, F = p->F, Q = p->Q, KV = p->KV, L = p->L, r = p->r;
    for (size_t l = 0; l < L; l++) a->layers[l].x_in = take(cur, N * C);
    for (size_t l = 0; l < L; l++) {
        layer_acts *la = &a->layers[l];
        if (p->ckpt && l > 0) { /* alias layer 0's shared set */
            float *x_in = la->x_in;
            *la = a->layers[0];
            la->x_in = x_in;
            continue;
        }
        la->rstd1 = take(cur, N);
        la->q = take(cur, N * Q);
        la->k = take(cur, N * KV);
        la->v = take(cur, N * KV);
        la->att = take(cur, N * Q);
        la->lse = take(cur, (size_t)a->B * c->n_heads * a->T);
        la->x_mid = take(cur, N * C);
        la->rstd2 = take(cur, N);
        la->gate = take(cur, N * F);
        la->up = take(cur, N * F);
        for (int t = 0; t < LC_T_COUNT; t++)
            if (p->targets & (1u << t)) la->xa[t] = take(cur, N * r);
        if (p->qkn) {
            la->q_raw = take(cur, N * Q);
            la->k_raw = take(cur, N * KV);
            la->rstd_q = take(cur, N * c->n_heads);
            la->rstd_k = take(cur, N * c->n_kv_heads);
        }
        if (p->sandwich) {
            la->o_raw = take(cur, N * C);
            la->d_raw = take(cur, N * C);
            la->rstd_po = take(cur, N);
            la->rstd_pm = take(cur, N);
        }
    }
}

/* Carve the scratch buffers (after the layers) out of the block at *cur. */
static void acts_carve_scratch(lc_acts *a, const acts_plan *p, const lc_model_config *c, int K, float **cur) {
    size_t N = p->N, C = p->C, F = p->F, Q = p->Q, KV = p->KV, L = p->L, r = p->r, wide = p->wide,
           wout = p->wout;
    int T = a->T;
    if (p->ckpt) a->x_tmp = take(cur, N * C);
    a->x_final = take(cur, N * C);
    a->hf = take(cur, N * C);
    a->xn = take(cur, N * C);
    a->rstd_f = take(cur, N);
    a->dx = take(cur, N * C);
    a->big = take(cur, N * wide);
    if (p->train) {
        a->dxn = take(cur, N * C);
        a->dq = take(cur, N * Q);
        a->datt = take(cur, N * Q);
        a->dk = take(cur, N * KV);
        a->dv = take(cur, N * KV);
        a->dgate = take(cur, N * F);
        a->dup = take(cur, N * F);
        a->dh = take(cur, N * F);
        a->dxa = take(cur, N * (r ? r : 1));
        if (p->any_dropout) a->drop = take(cur, N * wide);
    }
    a->deq = take(cur, deq_floats(c));
    a->deq_cap = deq_floats(c);
    a->L = (int)L;
    a->wout = (int)wout;
    if (p->any_dora) {
        a->dora_norm = take(cur, (size_t)K * L * LC_T_COUNT * wout);
        a->dora_g = take(cur, wout);
        a->dora_wa = take(cur, wout * r + r * r);
        a->dora_lr = take(cur, N * wide);
        a->dora_base = take(cur, N * wide);
        if (p->train) a->dora_dy = take(cur, N * wide);
        a->dora_w2 = (double *)take(cur, 2 * L * LC_T_COUNT * wout);
    }
    a->rope_cos = take(cur, (size_t)T * c->head_dim / 2);
    a->rope_sin = take(cur, (size_t)T * c->head_dim / 2);
    if (p->local_rope) {
        a->rope_cos_l = take(cur, (size_t)T * c->head_dim / 2);
        a->rope_sin_l = take(cur, (size_t)T * c->head_dim / 2);
    }
    a->xent_chunk = p->xent_chunk;
    a->xent = take(cur, lc_lmhead_xent_scratch_floats(p->xent_chunk, (int)C, c->vocab_size));
}

/* The allocations after the block: row segments, the DoRA weight norms and,
 * for a quantised lm_head, its f32 copy. On error a is freed. */
static lc_status acts_finish(lc_acts *a, const lc_model *m, const lc_lora *const *loras, int K, int any_dora) {
    const lc_model_config *c = &m->cfg;
    size_t C = c->hidden_size;
    if (!(a->row_seg = lc_alloc(((size_t)a->B + 1) * sizeof(int32_t)))) {
        lc_acts_free(a);
        return lc_errorf(LC_ERR_NOMEM, "out of memory");
    }
    lc_status dst = any_dora ? dora_weight_norms(a, m, loras, K) : LC_OK;
    if (dst) {
        lc_acts_free(a);
        return dst;
    }
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
    return LC_OK;
}

lc_status lc_acts_create_multi(lc_acts **out, const lc_model *m, const lc_lora *const *loras, int K, int B,
                               int T, int grad_checkpointing) {
    *out = NULL;
    if (K <= 0) return lc_errorf(LC_ERR_ARG, "number of trials must be positive (K %d)", K);
    if (m->fam.layer == LC_LAYER_GPT2) { /* GPT-2: gpt2.c, one adapter at a time */
        if (K > 1)
            return lc_errorf(LC_ERR_ARG, "training several adapters in one pass is implemented for the Llama "
                                         "family only, not GPT-2");
        return lc_gpt2_acts_create(out, m, loras[0], B, T, grad_checkpointing);
    }
    const lc_model_config *c = &m->cfg;
    if (B <= 0 || T <= 0) return lc_errorf(LC_ERR_ARG, "batch shape must be positive (B %d, T %d)", B, T);
    lc_acts *a = lc_calloc(sizeof *a);
    if (!a) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    a->kind = LC_LAYER_ROPE_RMS;
    B *= K; /* trial k owns rows [k N/K, (k+1) N/K) */
    acts_plan p;
    acts_plan_init(&p, m, loras, K, B, T, grad_checkpointing);
    acts_plan_count(&p, c, K, B, T);
    a->B = B;
    a->T = T;
    a->r = (int)p.r;
    a->ckpt = p.ckpt;
    size_t total = p.total, L = p.L;
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
    acts_carve_layers(a, &p, c, &cur);
    acts_carve_scratch(a, &p, c, K, &cur);
    LC_ASSERT((size_t)(cur - mem) <= total);
    a->bytes = total * sizeof(float) + L * sizeof(layer_acts) + ((size_t)B + 1) * sizeof(int32_t);
    /* The first layer's x_in is the block start: remember it for freeing. */
    LC_ASSERT(a->layers[0].x_in == mem);
    lc_model_rope_table(m, a->rope_cos, a->rope_sin, T);
    if (a->rope_cos_l) lc_model_rope_table_local(m, a->rope_cos_l, a->rope_sin_l, T);
    lc_status st = acts_finish(a, m, loras, K, p.any_dora);
    if (st) return st;
    *out = a;
    return LC_OK;
}

lc_status lc_acts_create_ex(lc_acts **out, const lc_model *m, const lc_lora *lora, int B, int T,
                           int grad_checkpointing) {
    return lc_acts_create_multi(out, m, &lora, 1, B, T, grad_checkpointing);
}

lc_status lc_acts_create(lc_acts **out, const lc_model *m, const lc_lora *lora, int B, int T) {
    return lc_acts_create_ex(out, m, lora, B, T, 0);
}

/* oneDNN probe: one tiny bf16 matmul, forward- and backward-shaped, so that a
 * library without a usable kernel is an error here, not inside a step. */
static lc_status onednn_probe(void) {
    uint16_t x[2 * 3], w[3 * 2];
    float y[2 * 2] = {0};
    for (int i = 0; i < 6; i++) x[i] = w[i] = 0x3f80; /* 1.0 */
    lc_status st = lc_onednn_init();
    if (!st) st = lc_matmul_bf16(y, 2, x, 3, w, 3, 1, 2, 2, 3, 0);
    if (!st) st = lc_matmul_bf16(y, 2, x, 3, w, 2, 0, 2, 2, 3, 1);
    if (!st && (y[0] != 6.0f || y[3] != 6.0f))
        st = lc_errorf(LC_ERR_NUMERIC, "oneDNN bf16 matmul probe: got %g, expected 6", (double)y[0]);
    return st;
}

lc_status lc_acts_set_matmul_path(lc_acts *a, const lc_model *m, lc_matmul_path path) {
    if (path == LC_MATMUL_FP32) return LC_OK;
    if (m->fam.layer == LC_LAYER_GPT2)
        return lc_errorf(LC_ERR_UNSUPPORTED, "precision %s is implemented for the Llama family only, not GPT-2 "
                                             "(use precision: fp32)", lc_matmul_path_name(path));
    if (path == LC_MATMUL_BF16_ONEDNN) {
        lc_status st = onednn_probe();
        if (st) return st;
    }
    const lc_model_config *c = &m->cfg;
    size_t wide = (size_t)c->intermediate_size, q = (size_t)c->n_heads * c->head_dim;
    if (q > wide) wide = q;
    if ((size_t)c->hidden_size > wide) wide = (size_t)c->hidden_size;
    size_t nx = (size_t)a->B * a->T * wide, nd = deq_floats(c);
    lc_free(a->xr), lc_free(a->deq16);
    a->xr = lc_alloc(nx * sizeof(float));
    a->deq16 = path == LC_MATMUL_BF16_ONEDNN ? lc_alloc(nd * sizeof(uint16_t)) : NULL;
    if (!a->xr || (path == LC_MATMUL_BF16_ONEDNN && !a->deq16)) {
        lc_free(a->xr), lc_free(a->deq16);
        a->xr = NULL, a->deq16 = NULL;
        return lc_errorf(LC_ERR_NOMEM, "out of memory for the bf16 matmul scratch (%.1f MB)", nx * 4.0 / 1e6);
    }
    a->bytes += nx * sizeof(float) + (a->deq16 ? nd * sizeof(uint16_t) : 0);
    a->path = path;
    return LC_OK;
}

void lc_acts_set_profile(lc_acts *a, lc_pass_profile *p) {
    size_t n;
    if (!lc_gpt2_acts_bytes(a, &n)) a->prof = p;
}

lc_matmul_path lc_acts_matmul_path(const lc_acts *a) {
    size_t n;
    return lc_gpt2_acts_bytes(a, &n) ? LC_MATMUL_FP32 : a->path;
}

void lc_acts_free(lc_acts *a) {
    if (!a || lc_gpt2_acts_free(a)) return;
    lc_free(a->xr);
    lc_free(a->deq16);
    if (a->layers) lc_free(a->layers[0].x_in);
    lc_free(a->layers);
    lc_free(a->head_f32);
    lc_free(a->row_seg);
    lc_free(a);
}

size_t lc_acts_bytes(const lc_acts *a) {
    size_t n;
    return lc_gpt2_acts_bytes(a, &n) ? n : a->bytes;
}

/* --------------------------------------------------- frozen matmuls (any dtype) */

/* The frozen matmuls split their rows themselves: each trial's Nk rows are
 * cut into P = (threads) parts at multiples of LC_ROW_ALIGN from the trial's
 * first row, and every (trial, part) is one single-threaded sgemm (OpenBLAS
 * runs single-threaded inside an OpenMP region). A trial's rows therefore go
 * through exactly the same sgemm calls whether it is alone or stacked with
 * others — which makes one-pass sweeps bit-identical to sequential runs.
 * (OpenBLAS's own threading picks its split from the total row count, and
 * its edge kernels round differently, so a row's result would depend on its
 * neighbours.) Quantised weights are dequantised a tile of tile_rows()
 * output rows at a time, once for all trials; fp32 weights go through the
 * same tiles, so a quantised model and its dequantised fp32 copy give
 * bit-identical results (what merged-vs-unmerged checks rely on). */
#define LC_ROW_ALIGN 16

static void part_rows(int Nk, int p, int P, int *r0, int *r1) {
    int per = (Nk + P - 1) / P;
    per = (per + LC_ROW_ALIGN - 1) / LC_ROW_ALIGN * LC_ROW_ALIGN;
    *r0 = p * per < Nk ? p * per : Nk;
    *r1 = (p + 1) * per < Nk ? (p + 1) * per : Nk;
}

/* One (trial, part) of an fp32 frozen matmul on a weight tile w (nt, In)
 * whose first row is output row t0; x, y as in frozen_matmul. */
static void part_sgemm(float *y, const float *x, const float *w, int O, int In, int t0, int nt, size_t row, int M,
                       int backward) {
    if (backward)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, In, nt, 1.0f, x + row * O + t0, O, w, In, 1.0f,
                    y + row * In, In);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, nt, In, 1.0f, x + row * In, In, w, In, 0.0f,
                    y + row * O + t0, O);
}

/* The frozen matmul of K trials of Nk rows, any weight dtype, fp32 path:
 *   forward:   out (K*Nk, O)  = inp (K*Nk, I) · W^T    (x = inp, y = out)
 *   backward:  dinp (K*Nk, I) += dout (K*Nk, O) · W    (x = dout, y = dinp) */
static void frozen_matmul_f32(float *y, const float *x, const lc_weight *W, int K, int Nk, float *deq,
                              int backward) {
    int O = W->rows, In = W->cols, P = omp_get_max_threads();
    int f32 = W->type == LC_DT_F32;
    size_t rb = lc_dtype_row_bytes(W->type, In);
    int tile = tile_rows(In);
    for (int t0 = 0; t0 < O; t0 += tile) {
        int nt = O - t0 < tile ? O - t0 : tile;
        const float *w = f32 ? (const float *)W->data + (size_t)t0 * In : deq; /* (nt, In) */
        if (!f32) lc_dequantize_rows(W->type, W->data, (int64_t)rb, t0, nt, In, deq);
#pragma omp parallel for schedule(static)
        for (int item = 0; item < K * P; item++) {
            int k = item / P, r0, r1;
            part_rows(Nk, item % P, P, &r0, &r1);
            if (r1 > r0) part_sgemm(y, x, w, O, In, t0, nt, (size_t)k * Nk + r0, r1 - r0, backward);
        }
    }
}

/* The same product in bf16 (lc_cpu.h): the input x is rounded to bf16 once,
 * each weight tile is bf16 (bf16 weights as stored; any other dtype
 * dequantised and rounded to bf16), and the products accumulate in fp32:
 *   emulated: the bf16 tile widened to fp32 (exact) and fp32 sgemm;
 *   oneDNN:   bf16 x bf16 -> fp32 on the CPU's bf16 units (lc_matmul_bf16).
 * Both see the same bf16 numbers, so they agree up to summation order. The
 * row split is the fp32 path's: one-pass sweeps stay bit-identical. */
static void frozen_matmul_bf16(lc_acts *a, float *y, const float *x, const lc_weight *W, int K, int Nk,
                               int backward) {
    int O = W->rows, In = W->cols, P = omp_get_max_threads(), xc = backward ? O : In;
    int onednn = a->path == LC_MATMUL_BF16_ONEDNN, bf16 = W->type == LC_DT_BF16;
    size_t rb = lc_dtype_row_bytes(W->type, In), nx = (size_t)K * Nk * xc;
    uint16_t *x16 = (uint16_t *)a->xr;
    if (onednn) lc_round_bf16(x16, x, nx);
    else lc_round_bf16_f32(a->xr, x, nx);
    int tile = tile_rows(In);
    for (int t0 = 0; t0 < O; t0 += tile) {
        int nt = O - t0 < tile ? O - t0 : tile;
        const uint16_t *w16 = (const uint16_t *)W->data + (size_t)t0 * In; /* (nt, In), bf16 weights */
        if (!onednn || !bf16) lc_dequantize_rows(W->type, W->data, (int64_t)rb, t0, nt, In, a->deq);
        if (!onednn && !bf16) lc_round_bf16_f32(a->deq, a->deq, (size_t)nt * In);
        if (onednn && !bf16) lc_round_bf16(a->deq16, a->deq, (size_t)nt * In), w16 = a->deq16;
#pragma omp parallel for schedule(static)
        for (int item = 0; item < K * P; item++) {
            int k = item / P, r0, r1;
            part_rows(Nk, item % P, P, &r0, &r1);
            if (r1 <= r0) continue;
            size_t row = (size_t)k * Nk + r0;
            if (!onednn) {
                part_sgemm(y, a->xr, a->deq, O, In, t0, nt, row, r1 - r0, backward);
                continue;
            }
            lc_status st = backward ? lc_matmul_bf16(y + row * In, In, x16 + row * O + t0, O, w16, In, 0, r1 - r0,
                                                     In, nt, 1)
                                    : lc_matmul_bf16(y + row * O + t0, O, x16 + row * In, In, w16, In, 1, r1 - r0,
                                                     nt, In, 0);
            LC_ASSERT(st == LC_OK); /* probed by lc_acts_set_matmul_path */
        }
    }
}

/* Process CPU seconds, all threads (the profile's frozen_cpu_s). */
static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void frozen_matmul(lc_acts *a, float *y, const float *x, const lc_weight *W, int K, int Nk, int backward) {
    PROF_BEGIN(a);
    double cpu0 = a->prof ? cpu_seconds() : 0.0;
    if (a->path == LC_MATMUL_FP32) frozen_matmul_f32(y, x, W, K, Nk, a->deq, backward);
    else frozen_matmul_bf16(a, y, x, W, K, Nk, backward);
    if (!a->prof) return;
    a->prof->frozen_cpu_s += cpu_seconds() - cpu0;
    double flop = 2.0 * K * Nk * W->rows * W->cols;
    if (backward) a->prof->frozen_bwd_flop += flop;
    else a->prof->frozen_fwd_flop += flop;
    if (backward) PROF_END(a, frozen_bwd_s);
    else PROF_END(a, frozen_fwd_s);
}

/* out (K*Nk, O) = inp (K*Nk, I) · W^T + bias, for K trials of Nk rows */
static void weight_forward(lc_acts *a, float *out, const float *inp, const lc_weight *W, const float *bias, int K,
                           int Nk) {
    frozen_matmul(a, out, inp, W, K, Nk, 0);
    if (bias) {
        int N = K * Nk, O = W->rows;
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < O; o++) out[(size_t)n * O + o] += bias[o];
    }
}

/* dinp (K*Nk, I) += dout (K*Nk, O) · W, for K trials of Nk rows */
static void weight_backward_input(lc_acts *a, float *dinp, const float *dout, const lc_weight *W, int K, int Nk) {
    frozen_matmul(a, dinp, dout, W, K, Nk, 1);
}

/* ------------------------------------------------------------ LoRA pieces */

/* The LoRA input x (rows, in): x itself, or a dropped-out copy (mask
 * regenerated from the seed, so backward needs no stored mask). */
static const float *lora_input(lc_acts *a, const lc_lora *lora, const float *x, int rows, int in,
                               const int32_t *slot, uint64_t seed, int layer, int t, int training) {
    float p = lora->cfg.dropout;
    if (!training || p <= 0) return x;
    float keep = 1.0f / (1.0f - p);
    uint64_t stream = lc_hash64(seed, (uint64_t)layer * LC_T_COUNT + (uint64_t)t);
    float *d = a->drop;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < rows; n++)
        for (size_t j = 0, i = (size_t)n * in; j < (size_t)in; j++, i++)
            d[i] = lc_hash_uniform(stream, lc_mask_index(slot, n, j, in)) < p ? 0.0f : x[i] * keep;
    return d;
}

/* The LoRA matmuls are split by hand as the frozen ones are (part_rows):
 * OpenBLAS's own threading of these skinny (r-wide) shapes costs more than
 * the work, and each thread keeps its rows of xa in cache between the two
 * products. Products over rows (dx, dxa, xa, y) split the rows; the two
 * reductions over rows (dA, dB) split their output columns instead, so every
 * element is one sgemm's sum, whatever the thread count splits. */

/* y (N, out) += scale * (xd · A^T) · B^T, saving xa = xd · A^T (N, r). */
static void lora_forward(float *y, float *xa, const lc_lora_pair *p, const float *xd, int N, int r,
                         float scale) {
    int in = p->in, out = p->out;
#pragma omp parallel
    {
        int r0, r1;
        part_rows(N, omp_get_thread_num(), omp_get_num_threads(), &r0, &r1);
        if (r1 > r0) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, r, in, 1.0f, xd + (size_t)r0 * in, in,
                        p->A, in, 0.0f, xa + (size_t)r0 * r, r);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, out, r, scale, xa + (size_t)r0 * r, r,
                        p->B, r, 1.0f, y + (size_t)r0 * out, out);
        }
    }
}

/* dx (N, in) += dxd ⊙ the dropout mask of lora_input / (1 - p). */
static void add_masked(float *dx, const float *dxd, int N, int in_, float dropout, const int32_t *slot,
                       uint64_t seed, int layer, int t) {
    float keep = 1.0f / (1.0f - dropout);
    uint64_t stream = lc_hash64(seed, (uint64_t)layer * LC_T_COUNT + (uint64_t)t);
    size_t in = (size_t)in_;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (size_t j = 0, i = (size_t)n * in; j < in; j++, i++)
            if (lc_hash_uniform(stream, lc_mask_index(slot, n, j, in)) >= dropout) dx[i] += dxd[i] * keep;
}

/* Given dy (N, out): dB += scale dy^T xa; dxa = scale dy B; dA += dxa^T xd;
 * if dx: dx += (dxa A) ⊙ dropout mask (slot: mask_index). */
static void lora_backward(float *dx, lc_acts *a, lc_lora_pair *p, const float *dy, const float *xa,
                          const float *xd, int N, int r, float scale, float dropout, const int32_t *slot,
                          uint64_t seed, int layer, int t) {
    int in = p->in, out = p->out;
    float *dxa = a->dxa, *dxd = dropout > 0 ? a->drop : dx; /* with dropout: dxd = dxa · A, masked below */
#pragma omp parallel
    {
        int np = omp_get_num_threads(), id = omp_get_thread_num(), r0, r1, o0, o1, i0, i1;
        part_rows(N, id, np, &r0, &r1);
        part_rows(out, id, np, &o0, &o1);
        part_rows(in, id, np, &i0, &i1);
        if (o1 > o0) /* dB[o0:o1] += scale dy[:, o0:o1]^T xa */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o1 - o0, r, N, scale, dy + o0, out, xa, r, 1.0f,
                        p->dB + (size_t)o0 * r, r);
        if (r1 > r0) /* dxa rows = scale dy rows B */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, r, out, scale, dy + (size_t)r0 * out,
                        out, p->B, r, 0.0f, dxa + (size_t)r0 * r, r);
#pragma omp barrier
        if (i1 > i0) /* dA[:, i0:i1] += dxa^T xd[:, i0:i1] */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, i1 - i0, N, 1.0f, dxa, r, xd + i0, in, 1.0f,
                        p->dA + i0, in);
        if (dx && dropout > 0) {
#pragma omp barrier /* xd is the dropout buffer dxd overwrites: all of dA first */
        }
        if (dx && r1 > r0) /* dx rows += dxa rows A (dropout: into dxd) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, in, r, 1.0f, dxa + (size_t)r0 * r, r,
                        p->A, in, dropout > 0 ? 0.0f : 1.0f, dxd + (size_t)r0 * in, in);
    }
    if (dx && dropout > 0) add_masked(dx, a->drop, N, in, dropout, slot, seed, layer, t);
}

/* The adapters of one pass: K trials stacked along the batch, trial k owning
 * rows [k Nk, (k+1) Nk) of every activation (Nk = N / K), each with its own
 * adapter (NULL: base model only), scale multiplier and dropout seed. The
 * frozen matmuls run once over all N rows; each LoRA runs on its own rows,
 * exactly as it would alone. All trials' rows share one layout: the same
 * segments (offsets within a trial's rows) and padded slots (lc_batch). */
typedef struct {
    int K, Nk;
    lc_lora *const *lora; /* (K) */
    const float *mult;    /* (K) */
    const uint64_t *seed; /* (K) */
    const int32_t *seg;   /* (n_seg + 1) segment offsets in a trial's rows, seg[n_seg] = Nk */
    int n_seg;
    const int32_t *slot;  /* (Nk) padded index per row, NULL = padded layout */
} trials;

/* trial k's DoRA norms of (layer, t): (out) */
static float *dora_norm(const lc_acts *a, int k, int layer, lc_lora_target t) {
    return a->dora_norm + (((size_t)k * a->L + layer) * LC_T_COUNT + t) * a->wout;
}

/* DoRA on one trial's Nk rows (lc_dora.h): y (Nk, out) holds x W^T + b on
 * entry; x the projection input, xd the LoRA input (x, or dropout(x) when
 * training). Sets xa (Nk, r) and the trial's norms (read by backward). */
static void dora_forward(float *y, lc_acts *a, const lc_lora_pair *p, const float *x, const float *xd, float *xa,
                         const lc_weight *W, const float *bias, int layer, lc_lora_target t, int k, int Nk, int r,
                         float s) {
    int in = p->in, out = p->out;
    float *norm = dora_norm(a, k, layer, t);
    lc_dora_weight_at(a->dora_wa, W, p->A, r, a->deq, a->deq_cap);
    lc_dora_norms(norm, a->dora_w2 + ((size_t)layer * LC_T_COUNT + t) * a->wout, a->dora_wa, p->A, p->B, s, in, out,
                  r, a->dora_wa + (size_t)out * r);
    lc_dora_gain(a->dora_g, p->mag, norm, out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Nk, r, in, 1.0f, xd, in, p->A, in, 0.0f, xa, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Nk, out, r, 1.0f, xa, r, p->B, r, 0.0f, a->dora_lr, out);
    const float *base = NULL; /* W x̃ only when dropout ran (PEFT's base_result = None) */
    if (xd != x) frozen_matmul(a, a->dora_base, xd, W, 1, Nk, 0), base = a->dora_base;
    lc_dora_forward(y, a->dora_lr, base, bias, a->dora_g, s, Nk, out);
}

/* Backward of dora_forward on one trial's rows (norms from forward, detached):
 * dmag += Σ dy ⊙ (W x̃ + s lr) / n; the LoRA sees g ⊙ dy; with dropout, dx
 * also gets mask ⊙ ((g - 1) ⊙ dy) W (without it, (g ⊙ dy) W came in through
 * the frozen matmul: dora_scaled_dy). */
static void dora_backward(float *dx, lc_acts *a, lc_lora_pair *p, const float *xd, const float *dy, const float *xa,
                          const lc_weight *W, const lc_lora *lora, const trials *tr, int layer, lc_lora_target t,
                          int k, int r) {
    int Nk = tr->Nk, out = p->out;
    float s = p->scale, dropout = lora->cfg.dropout;
    const float *norm = dora_norm(a, k, layer, t);
    float *dyg = a->dora_dy + (size_t)k * Nk * out, *base = a->dora_base;
    lc_dora_gain(a->dora_g, p->mag, norm, out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Nk, out, r, 1.0f, xa, r, p->B, r, 0.0f, a->dora_lr, out);
    frozen_matmul(a, base, xd, W, 1, Nk, 0);
    /* (g - 1) ⊙ dy overwrites base element by element after reading it */
    lc_dora_backward(p->dmag, dyg, dropout > 0 ? base : NULL, dy, base, a->dora_lr, norm, a->dora_g, s, Nk, out);
    lora_backward(dx, a, p, dyg, xa, xd, Nk, r, s, dropout, tr->slot, tr->seed[k], layer, (int)t);
    if (!dx || dropout <= 0) return;
    memset(a->drop, 0, (size_t)Nk * p->in * sizeof(float));
    frozen_matmul(a, a->drop, base, W, 1, Nk, 1);
    add_masked(dx, a->drop, Nk, p->in, dropout, tr->slot, tr->seed[k], layer, (int)t);
}

/* The frozen matmul's dy for backward: dy itself, or, when a trial uses DoRA
 * without dropout (y = b + g ⊙ (W x + s BAx)), a copy with its rows scaled by g. */
static const float *dora_scaled_dy(lc_acts *a, const trials *tr, const float *dy, int layer, lc_lora_target t,
                                   int out) {
    int any = 0;
    for (int k = 0; k < tr->K; k++) {
        const lc_lora_pair *p = lc_lora_get(tr->lora[k], layer, t);
        any |= p->mag && tr->lora[k]->cfg.dropout <= 0;
    }
    if (!any) return dy;
    size_t n = (size_t)tr->Nk * out;
    for (int k = 0; k < tr->K; k++) {
        const lc_lora_pair *p = lc_lora_get(tr->lora[k], layer, t);
        float *dst = a->dora_dy + k * n;
        const float *src = dy + k * n;
        if (!p->mag || tr->lora[k]->cfg.dropout > 0) {
            memcpy(dst, src, n * sizeof(float));
            continue;
        }
        lc_dora_gain(a->dora_g, p->mag, dora_norm(a, k, layer, t), out);
        const float *g = a->dora_g;
#pragma omp parallel for schedule(static)
        for (int i = 0; i < tr->Nk; i++)
            for (int o = 0; o < out; o++) dst[(size_t)i * out + o] = g[o] * src[(size_t)i * out + o];
    }
    return a->dora_dy;
}

/* One projection: y = x W^T (+bias) (+ each trial's LoRA on its rows). */
static void proj_forward(float *y, lc_acts *a, const trials *tr, const float *x, const lc_weight *W,
                         const float *bias, int layer, lc_lora_target t, float *xa, int training) {
    weight_forward(a, y, x, W, bias, tr->K, tr->Nk);
    if (!xa) return;
    int in = W->cols, out = W->rows, Nk = tr->Nk;
    PROF_BEGIN(a);
    double frozen0 = prof_frozen_s(a);
    for (int k = 0; k < tr->K; k++) {
        const lc_lora *lora = tr->lora[k];
        if (!lora) continue;
        const lc_lora_pair *p = lc_lora_get(lora, layer, t);
        if (!p->A) continue;
        size_t row0 = (size_t)k * Nk;
        const float *xd = lora_input(a, lora, x + row0 * in, Nk, in, tr->slot, tr->seed[k], layer, t, training);
        if (p->mag) {
            dora_forward(y + row0 * out, a, p, x + row0 * in, xd, xa + row0 * a->r, W, bias, layer, t, k, Nk, p->r,
                         p->scale * tr->mult[k]);
            continue;
        }
        lora_forward(y + row0 * out, xa + row0 * a->r, p, xd, Nk, p->r, p->scale * tr->mult[k]);
    }
    if (a->prof) a->prof->lora_s -= prof_frozen_s(a) - frozen0; /* DoRA's frozen matmuls counted there */
    PROF_END(a, lora_s);
}

/* Backward of one projection: dx += dy W (if dx) and each trial's LoRA gradients. */
static void proj_backward(float *dx, lc_acts *a, const trials *tr, const float *x, const lc_weight *W, int layer,
                          lc_lora_target t, const float *xa, const float *dy) {
    int in = W->cols, out = W->rows, Nk = tr->Nk;
    if (dx) weight_backward_input(a, dx, xa ? dora_scaled_dy(a, tr, dy, layer, t, out) : dy, W, tr->K, tr->Nk);
    if (!xa) return;
    PROF_BEGIN(a);
    double frozen0 = prof_frozen_s(a);
    for (int k = 0; k < tr->K; k++) {
        lc_lora *lora = tr->lora[k];
        lc_lora_pair *p = lc_lora_get(lora, layer, t);
        if (!p->A) continue;
        size_t row0 = (size_t)k * Nk;
        const float *xd = lora_input(a, lora, x + row0 * in, Nk, in, tr->slot, tr->seed[k], layer, t, 1);
        if (p->mag) {
            dora_backward(dx ? dx + row0 * in : NULL, a, p, xd, dy + row0 * out, xa + row0 * a->r, W, lora, tr, layer,
                          t, k, p->r);
            continue;
        }
        lora_backward(dx ? dx + row0 * in : NULL, a, p, dy + row0 * out, xa + row0 * a->r, xd, Nk, p->r,
                      p->scale, lora->cfg.dropout, tr->slot, tr->seed[k], layer, (int)t);
    }
    if (a->prof) a->prof->lora_s -= prof_frozen_s(a) - frozen0; /* DoRA's frozen matmuls counted there */
    PROF_END(a, lora_s);
}

/* ------------------------------------------- segments: RoPE and attention */

/* The next run of equal-length segments over all K trials' rows (trial k's
 * segments are trial 0's shifted by k Nk): lc_seg_next_run. A padded batch
 * without packing is a single run. */
static int next_run(const trials *tr, int *it, int *row0, int *count, int *len) {
    lc_seg_list s = {tr->seg, tr->n_seg, tr->K, tr->Nk};
    return lc_seg_next_run(&s, it, row0, count, len);
}

/* x (N, H, hd) rotated at positions 0.. of each segment (backward: by the
 * transposed rotation); local: the sliding layers' table. */
static void rope_segments(float *x, const lc_acts *a, const trials *tr, int H, int hd, int backward, int local) {
    int it = 0, row0, count, len;
    const float *cs = local ? a->rope_cos_l : a->rope_cos, *sn = local ? a->rope_sin_l : a->rope_sin;
    PROF_BEGIN(a);
    while (next_run(tr, &it, &row0, &count, &len)) {
        float *xs = x + (size_t)row0 * H * hd; /* (count, len, H, hd) */
        if (backward) lc_rope_backward(xs, cs, sn, count, len, H, hd);
        else lc_rope_forward(xs, cs, sn, count, len, H, hd);
    }
    PROF_END(a, attention_s);
}

/* Block-diagonal causal attention of one layer. One run of equal-length
 * segments over all trials (padded rows, or rows that happen to be equally
 * long) is the plain causal kernel over (count, len). Any other layout is the
 * masked kernel once per trial over its stream, (1, Nk), with the segments as
 * its block-diagonal mask: tiles span segment boundaries, so short rows still
 * make GEMM-sized tiles, and a trial's numbers do not depend on the others in
 * the pass (one-pass sweeps stay bit-identical to trials run alone). This
 * pair is the only code that knows how attention sees the segments; lse is
 * (count, Hq, len) at lse + row0·Hq, or (1, Hq, Nk) at lse + k·Nk·Hq. */
static int attention_single_run(const trials *tr, int *row0, int *count, int *len) {
    int it = 0, r, c, l;
    lc_seg_list s = {tr->seg, tr->n_seg, tr->K, tr->Nk};
    lc_seg_next_run(&s, &it, row0, count, len);
    return !lc_seg_next_run(&s, &it, &r, &c, &l);
}

static void attention_segments_forward(layer_acts *la, const trials *tr, const lc_model_config *c, int window) {
    int Hq = c->n_heads, Hkv = c->n_kv_heads, hd = c->head_dim, row0 = 0, count = 0, len = 0;
    if (attention_single_run(tr, &row0, &count, &len)) {
        size_t q0 = (size_t)row0 * Hq * hd, kv0 = (size_t)row0 * Hkv * hd;
        lc_att_mask win = {window, 0, NULL};
        lc_attention_forward_masked(la->att + q0, la->lse + (size_t)row0 * Hq, la->q + q0, la->k + kv0,
                                    la->v + kv0, window ? &win : NULL, count, len, Hq, Hkv, hd);
        return;
    }
    lc_att_mask mask = {window, tr->n_seg, tr->seg};
    for (int k = 0; k < tr->K; k++) {
        size_t r0 = (size_t)k * tr->Nk, q0 = r0 * Hq * hd, kv0 = r0 * Hkv * hd;
        lc_attention_forward_masked(la->att + q0, la->lse + r0 * Hq, la->q + q0, la->k + kv0, la->v + kv0, &mask, 1,
                                    tr->Nk, Hq, Hkv, hd);
    }
}

/* dq, dk, dv (accumulated) from datt, in the forward's layout. */
static void attention_segments_backward(lc_acts *a, const layer_acts *la, const trials *tr,
                                        const lc_model_config *c, int window) {
    int Hq = c->n_heads, Hkv = c->n_kv_heads, hd = c->head_dim, row0 = 0, count = 0, len = 0;
    if (attention_single_run(tr, &row0, &count, &len)) {
        size_t q0 = (size_t)row0 * Hq * hd, kv0 = (size_t)row0 * Hkv * hd;
        lc_att_mask win = {window, 0, NULL};
        lc_attention_backward_masked(a->dq + q0, a->dk + kv0, a->dv + kv0, a->datt + q0, la->att + q0,
                                     la->lse + (size_t)row0 * Hq, la->q + q0, la->k + kv0, la->v + kv0,
                                     window ? &win : NULL, count, len, Hq, Hkv, hd);
        return;
    }
    lc_att_mask mask = {window, tr->n_seg, tr->seg};
    for (int k = 0; k < tr->K; k++) {
        size_t r0 = (size_t)k * tr->Nk, q0 = r0 * Hq * hd, kv0 = r0 * Hkv * hd;
        lc_attention_backward_masked(a->dq + q0, a->dk + kv0, a->dv + kv0, a->datt + q0, la->att + q0,
                                     la->lse + r0 * Hq, la->q + q0, la->k + kv0, la->v + kv0, &mask, 1, tr->Nk, Hq,
                                     Hkv, hd);
    }
}

/* ------------------------------------------------------------- the passes */

/* x (N, C) = the embedding rows of tokens; lora's trainable tokens (lc_tokens.h) replace theirs. */
static void embed(float *x, const lc_model *m, const int32_t *tokens, int N, const lc_lora *lora) {
    int C = m->cfg.hidden_size;
    const lc_weight *E = &m->tok_emb;
    size_t rb = lc_dtype_row_bytes(E->type, C);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const char *row = (const char *)E->data + (size_t)tokens[n] * rb;
        if (E->type == LC_DT_F32) memcpy(x + (size_t)n * C, row, (size_t)C * sizeof(float));
        else lc_dequantize(E->type, row, x + (size_t)n * C, C);
    }
    lc_tokens_embed(x, tokens, N, lora); /* trained rows replace theirs before any scale */
    if (m->fam.embed_scale != 1.0f) lc_scale(x, (size_t)N * C, m->fam.embed_scale); /* Gemma: × √C */
}

static void residual_add(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

int64_t lc_batch_tokens(const lc_batch *b) {
    if (!b->slot) return (int64_t)b->B * b->T;
    return b->seg && b->n_seg > 0 ? b->seg[b->n_seg] : 0;
}

/* The slots of a padding-free batch: in range, consecutive within each
 * segment, and no segment across the end of a padded row. */
static lc_status check_slots(const lc_batch *b) {
    for (int s = 0; s < b->n_seg; s++) {
        int32_t first = b->slot[b->seg[s]], last = b->slot[b->seg[s + 1] - 1];
        if (first < 0 || (int64_t)last >= (int64_t)b->B * b->T || first / b->T != last / b->T)
            return lc_errorf(LC_ERR_ARG, "segment %d's padded slots %d..%d leave a row of the (%d, %d) layout", s,
                             first, last, b->B, b->T);
        for (int32_t i = b->seg[s] + 1; i < b->seg[s + 1]; i++)
            if (b->slot[i] != b->slot[i - 1] + 1)
                return lc_errorf(LC_ERR_ARG, "token %d's padded slot %d does not follow %d in its segment", i,
                                 b->slot[i], b->slot[i - 1]);
    }
    return LC_OK;
}

lc_status lc_batch_check(const lc_batch *b) {
    if (b->B <= 0 || b->T <= 0) return lc_errorf(LC_ERR_ARG, "batch shape must be positive (B %d, T %d)", b->B, b->T);
    if (b->slot && !b->seg) return lc_errorf(LC_ERR_ARG, "a padding-free batch needs its segment offsets");
    if (!b->seg) return LC_OK;
    if (b->n_seg < 1 || b->seg[0] != 0)
        return lc_errorf(LC_ERR_ARG, "segment offsets must start at 0 (%d segments)", b->n_seg);
    int64_t n = b->seg[b->n_seg], cap = (int64_t)b->B * b->T;
    if (b->slot ? n > cap : n != cap)
        return lc_errorf(LC_ERR_ARG, "the segments hold %lld tokens, the batch's (%d, %d) rows %s %lld", (long long)n,
                         b->B, b->T, b->slot ? "at most" : "exactly", (long long)cap);
    for (int s = 0; s < b->n_seg; s++) {
        int len = b->seg[s + 1] - b->seg[s];
        if (len <= 0) return lc_errorf(LC_ERR_ARG, "segment %d is empty (offsets %d, %d)", s, b->seg[s], b->seg[s + 1]);
        if (!b->slot && b->seg[s] / b->T != (b->seg[s + 1] - 1) / b->T)
            return lc_errorf(LC_ERR_ARG, "segment %d (tokens %d..%d) crosses the end of a row of %d", s, b->seg[s],
                             b->seg[s + 1] - 1, b->T);
    }
    return b->slot ? check_slots(b) : LC_OK;
}

/* Two batches of one layout (segments and slots): trials share them. */
static int same_layout(const lc_batch *x, const lc_batch *y) {
    if (x->B != y->B || x->T != y->T || !x->seg != !y->seg || !x->slot != !y->slot) return 0;
    if (!x->seg) return 1;
    size_t n = (size_t)lc_batch_tokens(x);
    if (x->n_seg != y->n_seg || memcmp(x->seg, y->seg, ((size_t)x->n_seg + 1) * sizeof *x->seg)) return 0;
    return !x->slot || !memcmp(x->slot, y->slot, n * sizeof *x->slot);
}

/* The longest segment of a checked batch. */
static int longest_segment(const lc_batch *b) {
    if (!b->seg) return b->T;
    int most = 0;
    for (int s = 0; s < b->n_seg; s++)
        if (b->seg[s + 1] - b->seg[s] > most) most = b->seg[s + 1] - b->seg[s];
    return most;
}

static lc_status check_tokens(const lc_model *m, const lc_batch *b) {
    size_t N = (size_t)lc_batch_tokens(b);
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

/* The K batches fit the activations together and share one shape; each
 * adapter fits what the activations were made for. */
static lc_status check_pass(const lc_model *m, const lc_acts *a, lc_lora *const *loras, int K,
                            const lc_batch *batches, int training) {
    if (K <= 0 || K > LC_MAX_TRIALS)
        return lc_errorf(LC_ERR_ARG, "1 to %d trials in one pass, got %d", LC_MAX_TRIALS, K);
    lc_status st = lc_batch_check(&batches[0]);
    if (st) return st;
    int B = batches[0].B, T = batches[0].T;
    int64_t n = lc_batch_tokens(&batches[0]);
    int padded = !batches[0].slot, longest = longest_segment(&batches[0]);
    if (padded ? (size_t)K * B > (size_t)a->B || T > a->T
               : (size_t)K * n > (size_t)a->B * a->T || longest > a->T)
        return lc_errorf(LC_ERR_ARG, "%d batch(es) of (%d, %d) (%lld tokens, longest segment %d) exceed the "
                         "activations' capacity (%d, %d)", K, B, T, (long long)n, longest, a->B, a->T);
    for (int k = 0; k < K; k++) {
        if (!same_layout(&batches[k], &batches[0]))
            return lc_errorf(LC_ERR_ARG, "trial %d's batch is (%d, %d), trial 0's is (%d, %d), or their segments "
                             "differ: batches trained in one pass must have one shape and layout", k, batches[k].B,
                             batches[k].T, B, T);
        if (training && !batches[k].targets) return lc_errorf(LC_ERR_ARG, "forward_backward needs targets");
        st = check_tokens(m, &batches[k]);
        if (st) return st;
        const lc_lora *l = loras[k];
        if (!l) {
            if (training) return lc_errorf(LC_ERR_ARG, "forward_backward needs a LoRA adapter for every trial");
            continue;
        }
        if (l->r_max > a->r)
            return lc_errorf(LC_ERR_ARG, "activations were created for LoRA rank %d, adapter has %d", a->r,
                             l->r_max);
        for (int t = 0; t < LC_T_COUNT; t++)
            if ((l->cfg.targets & (1u << t)) && !a->layers[0].xa[t])
                return lc_errorf(LC_ERR_ARG, "activations were created without LoRA on %s, the adapter has it",
                                 lc_lora_target_name((lc_lora_target)t));
        if (l->cfg.use_dora && (!a->dora_norm || (training && !a->dora_dy)))
            return lc_errorf(LC_ERR_ARG, "activations were created without DoRA scratch, the adapter uses DoRA");
        if (training && l->cfg.dropout > 0 && !a->drop)
            return lc_errorf(LC_ERR_ARG, "activations were created without dropout scratch");
    }
    if (training && (!a->dx || !a->dq))
        return lc_errorf(LC_ERR_ARG, "forward_backward needs training activations (made with an adapter)");
    return LC_OK;
}

/* dq (N, Hq*hd), dk (N, Hkv*hd): gradients w.r.t. the normed q, k become
 * gradients w.r.t. the projections q_raw, k_raw (a->big as scratch). */
static void qknorm_backward(lc_acts *a, const layer_acts *la, const lc_layer *w, int N, const lc_model_config *c) {
    int Hq = c->n_heads, Hkv = c->n_kv_heads, hd = c->head_dim;
    size_t nq = (size_t)N * Hq * hd, nk = (size_t)N * Hkv * hd;
    memset(a->big, 0, nq * sizeof(float));
    lc_qknorm_backward(a->big, a->dq, la->q_raw, w->q_norm, la->rstd_q, N, Hq, hd);
    memcpy(a->dq, a->big, nq * sizeof(float));
    memset(a->big, 0, nk * sizeof(float));
    lc_qknorm_backward(a->big, a->dk, la->k_raw, w->k_norm, la->rstd_k, N, Hkv, hd);
    memcpy(a->dk, a->big, nk * sizeof(float));
}

/* The MLP activation h (n) from gate and up (h may be gate). */
static void act_forward(const lc_model *m, float *h, const float *gate, const float *up, size_t n) {
    if (m->fam.act == LC_ACT_GEGLU_TANH) lc_geglu_forward(h, gate, up, n);
    else lc_swiglu_forward(h, gate, up, n);
}

static void act_backward(const lc_model *m, float *dgate, float *dup, const float *dh, const float *gate,
                         const float *up, size_t n) {
    if (m->fam.act == LC_ACT_GEGLU_TANH) lc_geglu_backward(dgate, dup, dh, gate, up, n);
    else lc_swiglu_backward(dgate, dup, dh, gate, up, n);
}

/* Sandwich norms: out (N, C) = post-norm of raw when w is set (rstd saved);
 * else raw is out already (the projection wrote there). */
static void post_norm(float *out, float *rstd, const float *raw, const float *w, int N, int C, float eps) {
    if (w) lc_rmsnorm_forward(out, rstd, raw, w, N, C, eps);
}

/* Backward of post_norm: the gradient w.r.t. raw (into a->dxn) from dy, the
 * gradient w.r.t. its output; dy itself without a post-norm. */
static const float *post_norm_backward(lc_acts *a, const float *dy, const float *raw, const float *w,
                                       const float *rstd, int N, int C) {
    if (!w) return dy;
    memset(a->dxn, 0, (size_t)N * C * sizeof(float));
    lc_rmsnorm_backward(a->dxn, dy, raw, w, rstd, N, C);
    return a->dxn;
}

/* One layer forward from x_in into x_out, filling la's saved activations. */
static void layer_forward(const lc_model *m, const trials *tr, lc_acts *a, int l, layer_acts *la, float *x_out,
                          int training) {
    const lc_model_config *c = &m->cfg;
    int N = tr->K * tr->Nk, C = c->hidden_size, F = c->intermediate_size;
    int Hq = c->n_heads, Hkv = c->n_kv_heads, hd = c->head_dim, win = lc_model_layer_window(m, l);
    const lc_layer *w = &m->layers[l];
    float qs = lc_model_q_scale(m);
    lc_rmsnorm_forward(a->xn, la->rstd1, la->x_in, w->attn_norm, N, C, c->rms_eps);
    int qkn = m->fam.qk_norm; /* q, k = per-head RMSNorm of the projections (q_raw, k_raw) */
    proj_forward(qkn ? la->q_raw : la->q, a, tr, a->xn, &w->wq, w->bq, l, LC_T_Q, la->xa[LC_T_Q], training);
    proj_forward(qkn ? la->k_raw : la->k, a, tr, a->xn, &w->wk, w->bk, l, LC_T_K, la->xa[LC_T_K], training);
    proj_forward(la->v, a, tr, a->xn, &w->wv, w->bv, l, LC_T_V, la->xa[LC_T_V], training);
    if (qkn) {
        lc_qknorm_forward(la->q, la->rstd_q, la->q_raw, w->q_norm, N, Hq, hd, c->rms_eps);
        lc_qknorm_forward(la->k, la->rstd_k, la->k_raw, w->k_norm, N, Hkv, hd, c->rms_eps);
    }
    rope_segments(la->q, a, tr, Hq, hd, 0, win > 0);
    rope_segments(la->k, a, tr, Hkv, hd, 0, win > 0);
    if (qs != 1.0f) lc_scale(la->q, (size_t)N * Hq * hd, qs);
    { PROF_BEGIN(a); attention_segments_forward(la, tr, c, win); PROF_END(a, attention_s); }
    proj_forward(la->o_raw ? la->o_raw : a->xn, a, tr, la->att, &w->wo, NULL, l, LC_T_O, la->xa[LC_T_O], training);
    post_norm(a->xn, la->rstd_po, la->o_raw, w->post_attn_norm, N, C, c->rms_eps);
    residual_add(la->x_mid, la->x_in, a->xn, (size_t)N * C);
    lc_rmsnorm_forward(a->xn, la->rstd2, la->x_mid, w->mlp_norm, N, C, c->rms_eps);
    proj_forward(la->gate, a, tr, a->xn, &w->w_gate, NULL, l, LC_T_GATE, la->xa[LC_T_GATE], training);
    proj_forward(la->up, a, tr, a->xn, &w->w_up, NULL, l, LC_T_UP, la->xa[LC_T_UP], training);
    act_forward(m, a->big, la->gate, la->up, (size_t)N * F);
    proj_forward(la->d_raw ? la->d_raw : a->xn, a, tr, a->big, &w->w_down, NULL, l, LC_T_DOWN, la->xa[LC_T_DOWN],
                 training);
    post_norm(a->xn, la->rstd_pm, la->d_raw, w->post_mlp_norm, N, C, c->rms_eps);
    residual_add(x_out, la->x_mid, a->xn, (size_t)N * C);
}

/* The layout of batches[0] (all trials share it: check_pass) into tr:
 * its segments, or one segment per padded row. */
static void set_layout(trials *tr, lc_acts *a, const lc_batch *b) {
    tr->Nk = (int)lc_batch_tokens(b);
    tr->slot = b->slot;
    if (b->seg) {
        tr->seg = b->seg;
        tr->n_seg = b->n_seg;
        return;
    }
    for (int i = 0; i <= b->B; i++) a->row_seg[i] = i * b->T;
    tr->seg = a->row_seg;
    tr->n_seg = b->B;
}

/* Runs all layers forward over the K trials' stacked batches (all of one
 * layout, set_layout), filling the saved activations; x_final and hf set. */
static void forward_layers(const lc_model *m, const trials *tr, lc_acts *a, const lc_batch *batches, int training) {
    const lc_model_config *c = &m->cfg;
    int N = tr->K * tr->Nk, C = c->hidden_size;
    for (int k = 0; k < tr->K; k++) {
        float *x = a->layers[0].x_in + (size_t)k * tr->Nk * C; /* (Nk, C) */
        embed(x, m, batches[k].tokens, tr->Nk, tr->lora[k]);
        if (training && tr->lora[k])
            lc_neftune_add(x, tr->Nk, C, batches[k].T, tr->slot, tr->seed[k], tr->lora[k]->cfg.neftune_alpha);
    }
    for (int l = 0; l < c->n_layers; l++) {
        float *x_out = (l + 1 < c->n_layers) ? a->layers[l + 1].x_in : a->x_final;
        layer_forward(m, tr, a, l, &a->layers[l], x_out, training);
    }
    lc_rmsnorm_forward(a->hf, a->rstd_f, a->x_final, m->final_norm, N, c->hidden_size, c->rms_eps);
}

static const float *head_weights(const lc_model *m, const lc_acts *a) {
    return a->head_f32 ? a->head_f32 : (const float *)m->lm_head.data;
}

/* The fused LM head + loss of one trial's rows (dhf (N, C) += its gradient
 * when not NULL), with the tied head's trainable-token rows of lora. */
static double head_xent(float *dhf, const lc_model *m, const lc_acts *a, const lc_lora *lora, const float *hf,
                        const int32_t *targets, int N, float grad_scale) {
    const int *ids;
    const float *rows;
    float *drows;
    int n = lc_tokens_head(lora, &ids, &rows, &drows);
    return lc_lmhead_xent_rows(dhf, dhf ? drows : NULL, hf, head_weights(m, a), targets, N, m->cfg.hidden_size,
                               m->cfg.vocab_size, grad_scale, ids, rows, n, a->xent, a->xent_chunk);
}

static int64_t count_targets(const lc_batch *b) {
    int64_t n = 0;
    size_t N = (size_t)lc_batch_tokens(b);
    for (size_t i = 0; i < N; i++) n += b->targets[i] >= 0;
    return n;
}

lc_status lc_forward_multi(const lc_model *m, const lc_lora *const *loras, const float *lora_scale_mults, int K,
                           lc_acts *a, const lc_batch *batches, double *loss_sums, int64_t *n_targets) {
    if (m->fam.layer == LC_LAYER_GPT2) { /* GPT-2: gpt2.c, one adapter at a time */
        lc_status st = LC_OK;
        for (int k = 0; k < K && !st; k++)
            st = lc_gpt2_forward(m, loras[k], lora_scale_mults ? lora_scale_mults[k] : 1.0f, a, &batches[k],
                                 &loss_sums[k], n_targets ? &n_targets[k] : NULL, NULL);
        return st;
    }
    lc_lora *const *ls = (lc_lora *const *)loras; /* forward only reads them */
    lc_status st = check_pass(m, a, ls, K, batches, 0);
    if (st) return st;
    int C = m->cfg.hidden_size;
    float mults[LC_MAX_TRIALS];
    uint64_t seeds[LC_MAX_TRIALS] = {0};
    for (int k = 0; k < K; k++) mults[k] = lora_scale_mults ? lora_scale_mults[k] : 1.0f;
    for (int k = 0; k < K; k++)
        if (!batches[k].targets) return lc_errorf(LC_ERR_ARG, "loss requested without targets");
    trials tr = {K, 0, ls, mults, seeds, NULL, 0, NULL};
    set_layout(&tr, a, &batches[0]);
    int Nk = tr.Nk;
    forward_layers(m, &tr, a, batches, 0);
    for (int k = 0; k < K; k++) {
        loss_sums[k] = head_xent(NULL, m, a, loras[k], a->hf + (size_t)k * Nk * C, batches[k].targets, Nk, 0.0f);
        if (n_targets) n_targets[k] = count_targets(&batches[k]);
    }
    return LC_OK;
}

lc_status lc_forward(const lc_model *m, const lc_lora *lora, float lora_scale_mult, lc_acts *a,
                     const lc_batch *batch, double *loss_sum, int64_t *n_targets, float *logits) {
    if (m->fam.layer == LC_LAYER_GPT2) /* GPT-2: gpt2.c */
        return lc_gpt2_forward(m, lora, lora_scale_mult, a, batch, loss_sum, n_targets, logits);
    lc_lora *ls = (lc_lora *)lora; /* forward only reads it */
    lc_status st = check_pass(m, a, &ls, 1, batch, 0);
    if (st) return st;
    int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    uint64_t seed = 0;
    trials tr = {1, 0, &ls, &lora_scale_mult, &seed, NULL, 0, NULL};
    set_layout(&tr, a, batch);
    int N = tr.Nk;
    forward_layers(m, &tr, a, batch, 0);
    if (logits) lc_linear_forward(logits, a->hf, head_weights(m, a), NULL, N, C, V);
    if (logits) lc_tokens_head_logits(logits, a->hf, N, V, lora);
    if (loss_sum) {
        if (!batch->targets) return lc_errorf(LC_ERR_ARG, "loss requested without targets");
        *loss_sum = head_xent(NULL, m, a, lora, a->hf, batch->targets, N, 0.0f);
        if (n_targets) *n_targets = count_targets(batch);
    }
    return LC_OK;
}

/* One layer backward: a->dx holds d loss / d x_out on entry, d loss / d x_in
 * on exit (layer 0: only what the LoRA gradients need), every LoRA gradient
 * of the layer accumulated. */
/* need_dx0: layer 0's input gradient too (trainable token rows). */
static void layer_backward(const lc_model *m, const trials *tr, lc_acts *a, int l, int need_dx0) {
    const lc_model_config *c = &m->cfg;
    int N = tr->K * tr->Nk, C = c->hidden_size, win = lc_model_layer_window(m, l);
    int F = c->intermediate_size, Hq = c->n_heads, Hkv = c->n_kv_heads, hd = c->head_dim;
    size_t NC = (size_t)N * C, NQ = (size_t)N * Hq * hd, NKV = (size_t)N * Hkv * hd, NF = (size_t)N * F;
    const lc_layer *w = &m->layers[l];
    layer_acts *la = &a->layers[l];
    float qs = lc_model_q_scale(m);
    /* With checkpointing, the shared activations hold another layer's:
     * recompute this one (same inputs, seed and kernels: bit-identical). */
    if (a->ckpt) layer_forward(m, tr, a, l, la, a->x_tmp, 1);
    /* --- MLP: x_out = x_mid + post(down(act(gate(xn2), up(xn2)))) --- */
    act_forward(m, a->big, la->gate, la->up, NF); /* recompute h */
    memset(a->dh, 0, NF * sizeof(float));
    const float *dd = post_norm_backward(a, a->dx, la->d_raw, w->post_mlp_norm, la->rstd_pm, N, C);
    proj_backward(a->dh, a, tr, a->big, &w->w_down, l, LC_T_DOWN, la->xa[LC_T_DOWN], dd);
    memset(a->dgate, 0, NF * sizeof(float));
    memset(a->dup, 0, NF * sizeof(float));
    act_backward(m, a->dgate, a->dup, a->dh, la->gate, la->up, NF);
    lc_rmsnorm_forward(a->xn, la->rstd2, la->x_mid, w->mlp_norm, N, C, c->rms_eps); /* recompute xn2 */
    memset(a->dxn, 0, NC * sizeof(float));
    proj_backward(a->dxn, a, tr, a->xn, &w->w_gate, l, LC_T_GATE, la->xa[LC_T_GATE], a->dgate);
    proj_backward(a->dxn, a, tr, a->xn, &w->w_up, l, LC_T_UP, la->xa[LC_T_UP], a->dup);
    lc_rmsnorm_backward(a->dx, a->dxn, la->x_mid, w->mlp_norm, la->rstd2, N, C); /* dx: d/dx_mid */
    /* --- attention: x_mid = x_in + post(o(attn(rope(q(xn1)), rope(k(xn1)), v(xn1)))) --- */
    memset(a->datt, 0, NQ * sizeof(float));
    const float *dout = post_norm_backward(a, a->dx, la->o_raw, w->post_attn_norm, la->rstd_po, N, C);
    proj_backward(a->datt, a, tr, la->att, &w->wo, l, LC_T_O, la->xa[LC_T_O], dout);
    memset(a->dq, 0, NQ * sizeof(float));
    memset(a->dk, 0, NKV * sizeof(float));
    memset(a->dv, 0, NKV * sizeof(float));
    { PROF_BEGIN(a); attention_segments_backward(a, la, tr, c, win); PROF_END(a, attention_s); }
    if (qs != 1.0f) lc_scale(a->dq, NQ, qs);
    rope_segments(a->dq, a, tr, Hq, hd, 1, win > 0);
    rope_segments(a->dk, a, tr, Hkv, hd, 1, win > 0);
    if (m->fam.qk_norm) qknorm_backward(a, la, w, N, c); /* dq, dk: w.r.t. the projections */
    lc_rmsnorm_forward(a->xn, la->rstd1, la->x_in, w->attn_norm, N, C, c->rms_eps); /* recompute xn1 */
    /* Layer 0's input is the frozen embedding: its gradient is needed only for trainable tokens. */
    float *dxn1 = l > 0 || need_dx0 ? a->dxn : NULL;
    if (dxn1) memset(dxn1, 0, NC * sizeof(float));
    proj_backward(dxn1, a, tr, a->xn, &w->wq, l, LC_T_Q, la->xa[LC_T_Q], a->dq);
    proj_backward(dxn1, a, tr, a->xn, &w->wk, l, LC_T_K, la->xa[LC_T_K], a->dk);
    proj_backward(dxn1, a, tr, a->xn, &w->wv, l, LC_T_V, la->xa[LC_T_V], a->dv);
    if (dxn1) lc_rmsnorm_backward(a->dx, dxn1, la->x_in, w->attn_norm, la->rstd1, N, C);
}

lc_status lc_forward_backward_multi(const lc_model *m, lc_lora *const *loras, int K, lc_acts *a,
                                    const lc_batch *batches, const float *grad_scales, const uint64_t *seeds,
                                    double *loss_sums, int64_t *n_targets) {
    if (m->fam.layer == LC_LAYER_GPT2) { /* GPT-2: gpt2.c, one adapter at a time */
        if (K != 1)
            return lc_errorf(LC_ERR_ARG, "training several adapters in one pass is implemented for the Llama "
                                         "family only, not GPT-2");
        return lc_gpt2_forward_backward(m, loras[0], a, batches, grad_scales[0], seeds[0], loss_sums, n_targets);
    }
    lc_status st = check_pass(m, a, loras, K, batches, 1);
    if (st) return st;
    PROF_BEGIN(a);
    const lc_model_config *c = &m->cfg;
    float ones[LC_MAX_TRIALS];
    for (int k = 0; k < K; k++) ones[k] = 1.0f;
    trials tr = {K, 0, loras, ones, seeds, NULL, 0, NULL};
    set_layout(&tr, a, &batches[0]);
    int Nk = tr.Nk, N = K * Nk, C = c->hidden_size;
    size_t NC = (size_t)N * C;

    forward_layers(m, &tr, a, batches, 1);
    int any_tokens = 0;
    for (int k = 0; k < K; k++) any_tokens |= loras[k] && loras[k]->tok.n;

    /* head + loss, fused, each trial on its rows with its own gradient scale:
     * dhf = d loss / d hf, then through the final norm */
    memset(a->dxn, 0, NC * sizeof(float));
    {
        PROF_BEGIN(a);
        for (int k = 0; k < K; k++) {
            size_t off = (size_t)k * Nk * C;
            loss_sums[k] = head_xent(a->dxn + off, m, a, loras[k], a->hf + off, batches[k].targets, Nk, grad_scales[k]);
            if (n_targets) n_targets[k] = count_targets(&batches[k]);
        }
        PROF_END(a, head_s);
    }
    memset(a->dx, 0, NC * sizeof(float));
    lc_rmsnorm_backward(a->dx, a->dxn, a->x_final, m->final_norm, a->rstd_f, N, C);

    for (int l = c->n_layers - 1; l >= 0; l--) layer_backward(m, &tr, a, l, any_tokens);
    for (int k = 0; k < K && any_tokens; k++) /* a->dx: d loss / d embeddings */
        lc_tokens_embed_backward(loras[k], a->dx + (size_t)k * Nk * C, batches[k].tokens, Nk, m->fam.embed_scale);
    PROF_END(a, pass_s);
    return LC_OK;
}

lc_status lc_forward_backward(const lc_model *m, lc_lora *lora, lc_acts *a, const lc_batch *batch,
                              float grad_scale, uint64_t seed, double *loss_sum, int64_t *n_targets) {
    return lc_forward_backward_multi(m, &lora, 1, a, batch, &grad_scale, &seed, loss_sum, n_targets);
}
