/*
 * test_padding_free.c — a micro-batch's layout changes work, never numbers.
 * The same rows give the same loss and LoRA gradients (within fp32 rounding,
 * tolerance below) whether they are
 *   - padded to the longest row (B, T), the reference, or
 *   - padding-free: concatenated into one stream with per-row segments;
 * and examples packed into one row as separate segments give what they give
 * as separate rows (attention block-diagonal, positions restarting at 0).
 * Cases: mixed lengths with rows of 1 and 2 tokens, one row, dropout 0 and
 * 0.1 (padding-free draws the padded masks), gradient checkpointing
 * (bit-identical), K = 3 trials in one pass (each trial bit-identical to
 * itself alone, as test_multi checks for padded batches), forward-only
 * losses; for a Llama-family (Qwen2-shaped) model and for GPT-2 (learned
 * positions restarting per segment). A negative control runs the packed row WITHOUT its segments and
 * must exceed the tolerance, so the comparison can fail. Bad layouts are
 * refused.
 *
 * Tolerance. Both layouts compute the same sums; only their order differs
 * (the frozen sgemms see different row counts, so OpenBLAS's blocking and
 * edge kernels differ; the LoRA gradient reductions run over different row
 * counts; padding adds exact zeros: pad rows get exactly zero gradient, as
 * they feed no loss and no real row). Reordering a fp32 sum of n terms
 * changes it by at most gamma_n * sum|terms| (Higham), gamma_n ~ n * 2^-24;
 * the longest reduction here is n = 96 (GPT-2's F; Qwen2's F = 80, N <= 72
 * rows), gamma ~ 5.7e-6, and a gradient passes ~4 reductions per layer over
 * at most 3 layers: <= 12 * 5.7e-6 ~ 7e-5 of its tensor's scale. So: every gradient tensor within 1e-4 of its
 * largest |element|, the summed loss within 1e-5 relative (one reduction of
 * V = 101 logits per row, then a sum over rows).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_lora.h"
#include "lc_model.h"
#include "lc_transformer.h"
#include "../lc_test.h"

#define GRAD_TOL 1e-4
#define LOSS_TOL 1e-5
#define MAX_ROWS 8
#define MAX_T 24

/* A micro-batch built from rows of given lengths, in both layouts. */
typedef struct {
    int B, T, n;
    int32_t ptok[MAX_ROWS * MAX_T], ptgt[MAX_ROWS * MAX_T]; /* (B, T) padded */
    int32_t ftok[MAX_ROWS * MAX_T], ftgt[MAX_ROWS * MAX_T]; /* (n) stream */
    int32_t seg[MAX_ROWS * MAX_T + 1], slot[MAX_ROWS * MAX_T];
    int n_seg;
} two_layouts;

/* Random rows: token 0 of each row never carries loss, the last none. */
static void make_rows(two_layouts *x, const int *lens, int B, int vocab, lc_rng *rng) {
    x->B = B;
    x->T = 0;
    for (int b = 0; b < B; b++)
        if (lens[b] > x->T) x->T = lens[b];
    x->n = 0;
    x->n_seg = B;
    x->seg[0] = 0;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < x->T; t++) {
            int i = b * x->T + t;
            x->ptok[i] = t < lens[b] ? (int32_t)lc_rng_below(rng, (uint32_t)vocab) : 0; /* pad id 0 */
        }
        for (int t = 0; t < x->T; t++) {
            int i = b * x->T + t;
            x->ptgt[i] = (t >= 1 && t + 1 < lens[b]) ? x->ptok[i + 1] : -1;
            if (t == 0 && lens[b] > 1 && b % 2) x->ptgt[i] = x->ptok[i + 1]; /* some rows: loss from token 1 */
            if (t >= lens[b]) continue;
            x->ftok[x->n] = x->ptok[i];
            x->ftgt[x->n] = x->ptgt[i];
            x->slot[x->n++] = i;
        }
        x->seg[b + 1] = x->n;
    }
}

static lc_batch padded_batch(const two_layouts *x) {
    return (lc_batch){.tokens = x->ptok, .targets = x->ptgt, .B = x->B, .T = x->T};
}

static lc_batch free_batch(const two_layouts *x) {
    return (lc_batch){.tokens = x->ftok, .targets = x->ftgt, .B = x->B, .T = x->T, .seg = x->seg,
                      .n_seg = x->n_seg, .slot = x->slot};
}

/* Loss and gradients of one micro-batch (acts of (8, 24)). */
static int grads_of(const lc_model *m, lc_lora *lora, const lc_batch *b, int ckpt, double *loss, int64_t *nt,
                    float *g) {
    lc_acts *a = NULL;
    if (lc_acts_create_ex(&a, m, lora, MAX_ROWS, MAX_T, ckpt)) {
        printf("  acts: %s\n", lc_error_msg());
        return 1;
    }
    lc_lora_zero_grad(lora);
    lc_status st = lc_forward_backward(m, lora, a, b, 1.0f / 37, 4321, loss, nt);
    lc_acts_free(a);
    if (st) {
        printf("  forward_backward: %s\n", lc_error_msg());
        return 1;
    }
    memcpy(g, lora->grads, lora->n_params * sizeof(float));
    return 0;
}

/* Largest per-tensor difference relative to the tensor's largest |element|,
 * floored at 1e-2 of the largest |element| of all tensors: a tensor whose
 * true gradient is 0 (e.g. q/k when the only target attends to itself alone:
 * a softmax over one key has dS = P (dP - D) = 0) holds only rounding noise,
 * whose size follows the terms summed (bounded by the overall gradient
 * scale), not that tensor's own (noise) maximum. A reordered fp32 sum then
 * differs by ~n·2^-24 of the floor, far below the 1e-4 tolerance. */
static double worst_tensor_diff(const lc_model *m, const lc_lora *lora, const float *g0, const float *g1) {
    double worst = 0, global = 0;
    for (size_t i = 0; i < lora->n_params; i++)
        if (fabs(g0[i]) > global) global = fabs(g0[i]);
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            const lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A) continue;
            size_t offs[2] = {(size_t)(p->dA - lora->grads), (size_t)(p->dB - lora->grads)};
            size_t ns[2] = {(size_t)p->r * p->in, (size_t)p->out * p->r};
            for (int w = 0; w < 2; w++) {
                double mx = 1e-2 * global, d = 0;
                for (size_t i = offs[w]; i < offs[w] + ns[w]; i++) {
                    if (fabs(g0[i]) > mx) mx = fabs(g0[i]);
                    if (fabs((double)g0[i] - g1[i]) > d) d = fabs((double)g0[i] - g1[i]);
                }
                if (mx > 0 && d / mx > worst) worst = d / mx;
                if (mx == 0 && d > 0) worst = INFINITY;
            }
        }
    return worst;
}

/* Compare two batches holding the same rows. want_equal = 0: a negative
 * control, must differ by more than the tolerance. */
static void compare(const lc_model *m, lc_lora *lora, const lc_batch *ref, const lc_batch *alt, int ckpt,
                    int want_equal, const char *what) {
    float *g0 = malloc(lora->n_params * sizeof(float)), *g1 = malloc(lora->n_params * sizeof(float));
    double l0 = 0, l1 = 0;
    int64_t n0 = 0, n1 = 0;
    if (grads_of(m, lora, ref, ckpt, &l0, &n0, g0) || grads_of(m, lora, alt, ckpt, &l1, &n1, g1)) {
        CHECK(0, "%s", what);
    } else {
        double dl = fabs(l0 - l1) / fabs(l0), dg = worst_tensor_diff(m, lora, g0, g1);
        printf("  %s: loss %.9g vs %.9g (rel %.2g), targets %lld vs %lld, worst gradient tensor diff %.2g of max\n",
               what, l0, l1, dl, (long long)n0, (long long)n1, dg);
        int equal = n0 == n1 && dl <= LOSS_TOL && dg <= GRAD_TOL;
        CHECK(want_equal ? equal : (dg > 10 * GRAD_TOL && dl > 10 * LOSS_TOL), "%s", what);
    }
    free(g0);
    free(g1);
}

/* Padded vs padding-free on rows of the given lengths. */
static void case_rows(const lc_model *m, lc_lora *lora, const int *lens, int B, lc_rng *rng, const char *name) {
    static two_layouts x;
    make_rows(&x, lens, B, m->cfg.vocab_size, rng);
    lc_batch p = padded_batch(&x), f = free_batch(&x);
    printf("%s (B %d, T %d, %d real of %d padded tokens):\n", name, B, x.T, x.n, B * x.T);
    compare(m, lora, &p, &f, 0, 1, "padding-free = padded");
    compare(m, lora, &f, &f, 1, 1, "padding-free, checkpointing = without");
    /* checkpointing is bit-identical: compare the raw bits too */
    float *g0 = malloc(lora->n_params * sizeof(float)), *g1 = malloc(lora->n_params * sizeof(float));
    double l0, l1;
    int64_t n0, n1;
    if (!grads_of(m, lora, &f, 0, &l0, &n0, g0) && !grads_of(m, lora, &f, 1, &l1, &n1, g1))
        CHECK(l0 == l1 && !memcmp(g0, g1, lora->n_params * sizeof(float)), "checkpointing bit-identical");
    else
        CHECK(0, "checkpointing runs");
    free(g0);
    free(g1);
}

/* Two examples packed into row 0 (with padding after them) as segments vs
 * the same examples as separate padded rows; also packed + padding-free. */
static void case_packed(const lc_model *m, lc_lora *lora, lc_rng *rng) {
    static two_layouts sep, pk;
    int lens[3] = {7, 10, 15};
    make_rows(&sep, lens, 3, m->cfg.vocab_size, rng);
    /* packed: row 0 = example 0 + example 1 (17 tokens), row 1 = example 2 */
    pk.B = 2;
    pk.T = 20;
    for (int i = 0; i < 2 * 20; i++) pk.ptok[i] = 0, pk.ptgt[i] = -1;
    int src[3][3] = {{0, 0, 0}, {1, 0, 7}, {2, 1, 0}}; /* example, row, start */
    for (int e = 0; e < 3; e++)
        for (int t = 0; t < lens[e]; t++) {
            pk.ptok[src[e][1] * 20 + src[e][2] + t] = sep.ptok[e * sep.T + t];
            pk.ptgt[src[e][1] * 20 + src[e][2] + t] = sep.ptgt[e * sep.T + t];
        }
    int32_t pseg[4] = {0, 7, 20, 40}; /* padded layout: row 0's padding joins example 1's segment */
    lc_batch s = padded_batch(&sep);
    lc_batch p = {.tokens = pk.ptok, .targets = pk.ptgt, .B = 2, .T = 20, .seg = pseg, .n_seg = 3};
    lc_batch bad = {.tokens = pk.ptok, .targets = pk.ptgt, .B = 2, .T = 20};
    printf("packing (examples of 7, 10, 15 tokens; 7 + 10 in one row):\n");
    compare(m, lora, &s, &p, 0, 1, "packed segments = separate rows");
    compare(m, lora, &s, &bad, 0, 0, "negative control: packed row without segments differs");
    /* packed, padding-free: the stream of 32 real tokens, three segments */
    int32_t ftok[32], ftgt[32], fslot[32], fseg[4] = {0, 7, 17, 32};
    for (int i = 0, n = 0; i < 40; i++)
        if (i < 17 || (i >= 20 && i < 35)) ftok[n] = pk.ptok[i], ftgt[n] = pk.ptgt[i], fslot[n++] = i;
    lc_batch f = {.tokens = ftok, .targets = ftgt, .B = 2, .T = 20, .seg = fseg, .n_seg = 3, .slot = fslot};
    compare(m, lora, &s, &f, 0, 1, "packed padding-free = separate rows");
}

/* K = 3 adapters in one pass on a padding-free batch: each bit-identical to
 * itself alone; and the forward-only losses of lc_forward_multi equal the
 * padded batch's within the tolerance. */
static void case_multi(const lc_model *m, lc_lora *loras, lc_rng *rng) {
    enum { KT = 3 };
    static two_layouts x;
    int lens[5] = {13, 2, 24, 1, 9};
    make_rows(&x, lens, 5, m->cfg.vocab_size, rng);
    lc_batch f = free_batch(&x), p = padded_batch(&x);
    lc_batch fs[KT] = {f, f, f}, ps[KT] = {p, p, p};
    lc_lora *ml[KT] = {&loras[0], &loras[1], &loras[2]};
    const lc_lora *cl[KT] = {&loras[0], &loras[1], &loras[2]};
    float sc[KT] = {1.0f / 30, 0.5f, 1.0f / 7};
    uint64_t sd[KT] = {5, 6, 7};
    double alone[KT], together[KT], fl[KT], pl[KT];
    printf("one pass, K = %d (B 5, T 24, %d real tokens):\n", KT, x.n);
    size_t tot = 0;
    for (int k = 0; k < KT; k++) tot += loras[k].n_params;
    float *ga = malloc(tot * sizeof(float));
    lc_acts *a = NULL;
    int ok = 1;
    for (int k = 0, off = 0; k < KT && ok; off += (int)loras[k].n_params, k++) {
        if (lc_acts_create_ex(&a, m, &loras[k], MAX_ROWS, MAX_T, 0)) {
            CHECK(0, "acts");
            return;
        }
        lc_lora_zero_grad(&loras[k]);
        ok = !lc_forward_backward(m, &loras[k], a, &f, sc[k], sd[k], &alone[k], NULL);
        memcpy(ga + off, loras[k].grads, loras[k].n_params * sizeof(float));
        lc_acts_free(a);
    }
    if (ok) ok = !lc_acts_create_multi(&a, m, cl, KT, MAX_ROWS, MAX_T, 1);
    for (int k = 0; k < KT && ok; k++) lc_lora_zero_grad(&loras[k]);
    if (ok) ok = !lc_forward_backward_multi(m, ml, KT, a, fs, sc, sd, together, NULL);
    int same = ok;
    for (int k = 0, off = 0; k < KT && ok; off += (int)loras[k].n_params, k++)
        same &= alone[k] == together[k] && !memcmp(ga + off, loras[k].grads, loras[k].n_params * sizeof(float));
    if (!ok) printf("  error: %s\n", lc_error_msg());
    CHECK(same, "each trial bit-identical alone and together (checkpointing in the pass)");
    /* the same pass on the padded batches: each trial within the tolerance */
    float *gf = malloc(tot * sizeof(float));
    for (int k = 0, off = 0; k < KT && ok; off += (int)loras[k].n_params, k++) {
        memcpy(gf + off, loras[k].grads, loras[k].n_params * sizeof(float));
        lc_lora_zero_grad(&loras[k]);
    }
    double padded_l[KT];
    int pok = ok && !lc_forward_backward_multi(m, ml, KT, a, ps, sc, sd, padded_l, NULL);
    for (int k = 0, off = 0; k < KT && pok; off += (int)loras[k].n_params, k++) {
        double dg = worst_tensor_diff(m, &loras[k], loras[k].grads, gf + off);
        printf("  trial %d: loss %.9g padded, %.9g padding-free; worst gradient tensor diff %.2g of max\n", k,
               padded_l[k], together[k], dg);
        pok &= fabs(padded_l[k] - together[k]) <= LOSS_TOL * fabs(padded_l[k]) && dg <= GRAD_TOL;
    }
    CHECK(pok, "one-pass training: padding-free = padded for every trial");
    free(gf);
    float mults[KT] = {1.0f, 0.5f, 2.0f};
    int fok = ok && !lc_forward_multi(m, cl, mults, KT, a, fs, fl, NULL) &&
              !lc_forward_multi(m, cl, mults, KT, a, ps, pl, NULL);
    for (int k = 0; k < KT && fok; k++) {
        printf("  forward trial %d: loss %.9g padding-free, %.9g padded\n", k, fl[k], pl[k]);
        fok &= fabs(fl[k] - pl[k]) <= LOSS_TOL * fabs(pl[k]);
    }
    CHECK(fok, "one-pass forward losses: padding-free = padded");
    lc_acts_free(a);
    free(ga);
}

/* Layouts that break the lc_batch rules are refused with LC_ERR_ARG. */
static void case_refused(const lc_model *m, lc_lora *lora, lc_rng *rng) {
    static two_layouts x;
    int lens[3] = {5, 9, 3};
    make_rows(&x, lens, 3, m->cfg.vocab_size, rng);
    lc_acts *a = NULL;
    if (lc_acts_create_ex(&a, m, lora, 1, 16, 0)) { /* 16 tokens, 17 given */
        CHECK(0, "acts");
        return;
    }
    printf("refused layouts:\n");
    struct { lc_batch b; const char *what; } cases[5];
    int32_t cross[3] = {0, 12, 27}, gap_slot[17], empty[4] = {0, 5, 5, 17};
    memcpy(gap_slot, x.slot, sizeof gap_slot);
    gap_slot[7] += 1;
    lc_batch f = free_batch(&x);
    cases[0].b = f, cases[0].what = "17 tokens in activations for 1 x 16 (capacity)";
    cases[1].b = padded_batch(&x), cases[1].b.seg = cross, cases[1].b.n_seg = 2;
    cases[1].what = "padded segment across a row end";
    cases[2].b = f, cases[2].b.slot = gap_slot, cases[2].what = "slots not consecutive in a segment";
    cases[3].b = f, cases[3].b.seg = empty, cases[3].what = "empty segment";
    cases[4].b = f, cases[4].b.seg = NULL, cases[4].what = "padding-free without segments";
    double loss;
    for (int i = 0; i < 5; i++) {
        lc_status st = lc_forward_backward(m, lora, a, &cases[i].b, 1.0f, 1, &loss, NULL);
        printf("  %s -> %s\n", cases[i].what, st ? lc_error_msg() : "accepted");
        CHECK(st == LC_ERR_ARG, "%s", cases[i].what);
    }
    lc_acts_free(a);
}

/* GPT-2 (gpt2.c): learned positions restart per segment, attention per
 * segment; the same comparisons on a random GPT-2 with LoRA on all four
 * projections. */
static void case_gpt2(lc_rng *rng) {
    lc_model_config cfg = {.arch = LC_ARCH_GPT2, .vocab_size = 101, .hidden_size = 48, .intermediate_size = 96,
                           .n_layers = 2, .n_heads = 6, .n_kv_heads = 6, .head_dim = 8, .max_position = 64,
                           .layer_norm_eps = 1e-5f, .tie_embeddings = 1, .bos_id = -1, .eos_id = -1};
    lc_model m;
    lc_lora lora;
    lc_lora_config lc = lc_lora_default_config();
    lc.r = 4;
    lc.targets = (1u << LC_T_C_ATTN) | (1u << LC_T_ATTN_C_PROJ) | (1u << LC_T_C_FC) | (1u << LC_T_MLP_C_PROJ);
    lc.dropout = 0.1f;
    if (lc_model_init_random(&m, &cfg, 0.2f, 9) || lc_lora_init(&lora, &m, &lc, rng)) {
        printf("GPT-2 init: %s\n", lc_error_msg());
        g_fail++;
        return;
    }
    for (size_t i = 0; i < lora.n_params; i++) lora.params[i] = 0.1f * lc_rng_normal(rng);
    int mixed[6] = {17, 1, 24, 2, 9, 5}, one[1] = {21};
    printf("GPT-2:\n");
    case_rows(&m, &lora, mixed, 6, rng, "GPT-2, mixed lengths, dropout 0.1");
    case_rows(&m, &lora, one, 1, rng, "GPT-2, one row, dropout 0.1");
    lora.cfg.neftune_alpha = 5.0f;
    case_rows(&m, &lora, mixed, 6, rng, "GPT-2, mixed lengths, dropout 0.1, NEFTune alpha 5");
    lora.cfg.neftune_alpha = 0.0f;
    lora.cfg.dropout = 0; /* packed examples sit at other padded slots than as rows: other masks */
    case_packed(&m, &lora, rng);
    lc_lora_free(&lora);
    lc_model_free(&m);
}

/* Gemma 3 (sandwich norms, GeGLU, q/k norm, scaled embeddings and scores):
 * sliding layers (window 7 < the longest rows, every 2nd layer global) see
 * only their window inside each segment; the same comparisons. */
static void case_gemma3(lc_rng *rng) {
    lc_model_config cfg = {.arch = LC_ARCH_GEMMA3, .vocab_size = 101, .hidden_size = 48, .intermediate_size = 80,
                           .n_layers = 3, .n_heads = 4, .n_kv_heads = 2, .head_dim = 12, .max_position = 64,
                           .rms_eps = 1e-6f, .rope_theta = 10000.0f, .tie_embeddings = 1, .qk_norm = 1,
                           .bos_id = -1, .eos_id = -1, .sliding_window = 7, .sliding_pattern = 2,
                           .rope_local_theta = 500.0f, .query_pre_attn_scalar = 10.0f};
    lc_model m;
    lc_lora lora;
    lc_lora_config lc = lc_lora_default_config();
    lc.r = 4;
    lc.targets = (1u << LC_T_COUNT) - 1;
    lc.dropout = 0.1f;
    if (lc_model_init_random(&m, &cfg, 0.2f, 11) || lc_lora_init(&lora, &m, &lc, rng)) {
        printf("Gemma 3 init: %s\n", lc_error_msg());
        g_fail++;
        return;
    }
    for (size_t i = 0; i < lora.n_params; i++) lora.params[i] = 0.1f * lc_rng_normal(rng);
    int mixed[6] = {17, 1, 24, 2, 9, 5};
    printf("Gemma 3:\n");
    case_rows(&m, &lora, mixed, 6, rng, "Gemma 3, mixed lengths, window 7, dropout 0.1");
    lora.cfg.dropout = 0; /* packed examples sit at other padded slots than as rows: other masks */
    case_packed(&m, &lora, rng);
    lc_lora_free(&lora);
    lc_model_free(&m);
}

int main(void) {
    lc_model_config cfg = {.arch = LC_ARCH_QWEN2, .vocab_size = 101, .hidden_size = 48,
                           .intermediate_size = 80, .n_layers = 3, .n_heads = 6, .n_kv_heads = 2,
                           .head_dim = 8, .max_position = 64, .rms_eps = 1e-6f, .rope_theta = 10000.0f,
                           .tie_embeddings = 0, .attn_bias = 1, .bos_id = -1, .eos_id = -1};
    lc_model m;
    lc_lora loras[3];
    lc_rng rng;
    lc_rng_seed(&rng, 17);
    if (lc_model_init_random(&m, &cfg, 0.2f, 3)) return 1;
    for (int k = 0; k < 3; k++) {
        lc_lora_config lc = lc_lora_default_config();
        lc.r = 2 + 2 * k;
        lc.targets = k == 1 ? (1u << LC_T_Q) | (1u << LC_T_V) : (1u << LC_T_COUNT) - 1;
        lc.dropout = k == 2 ? 0.1f : 0.0f;
        if (lc_lora_init(&loras[k], &m, &lc, &rng)) {
            fprintf(stderr, "init: %s\n", lc_error_msg());
            return 1;
        }
        for (size_t i = 0; i < loras[k].n_params; i++) loras[k].params[i] = 0.1f * lc_rng_normal(&rng);
    }
    int mixed[6] = {17, 1, 24, 2, 9, 5}, one[1] = {19}, tiny[3] = {1, 2, 1};
    case_rows(&m, &loras[0], mixed, 6, &rng, "mixed lengths incl. rows of 1 and 2 tokens");
    case_rows(&m, &loras[0], one, 1, &rng, "one row");
    case_rows(&m, &loras[0], tiny, 3, &rng, "rows of 1, 2, 1 tokens");
    case_rows(&m, &loras[2], mixed, 6, &rng, "mixed lengths, dropout 0.1 (same masks)");
    loras[2].cfg.neftune_alpha = 5.0f; /* NEFTune noise hashes padded indices too */
    case_rows(&m, &loras[2], mixed, 6, &rng, "mixed lengths, dropout 0.1, NEFTune alpha 5 (same noise)");
    loras[2].cfg.neftune_alpha = 0.0f;
    case_packed(&m, &loras[0], &rng);
    case_multi(&m, loras, &rng);
    case_refused(&m, &loras[0], &rng);
    for (int k = 0; k < 3; k++) lc_lora_free(&loras[k]);
    lc_model_free(&m);
    case_gpt2(&rng);
    case_gemma3(&rng);
    printf("%s\n", g_fail ? "FAIL" : "PASS");
    return lc_test_finish("test_padding_free");
}
