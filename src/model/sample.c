/*
 * sample.c — next-token selection with Hugging Face generate() semantics
 * (see lc_sample.h): repetition penalty, temperature, top-k, top-p, greedy.
 *
 * Candidates are found without sorting the whole vocabulary when a filter is
 * on: top-k keeps the values >= the k-th largest (found by quickselect), and
 * top-p first drops tokens whose probability is below (1 - top_p) / (V - 1),
 * which can never be in the nucleus (all tokens ranked at or below such a
 * token together hold less than 1 - top_p of the mass). The survivors are
 * heap-sorted, most probable first.
 */
#include "lc_sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

lc_sample_params lc_sample_default_params(void) {
    lc_sample_params p = {0.0f, 0, 1.0f, 1.0f};
    return p;
}

lc_status lc_sample_params_validate(const lc_sample_params *p) {
    if (!(p->temperature >= 0) || isinf(p->temperature))
        return lc_errorf(LC_ERR_ARG, "temperature must be a finite number >= 0 (got %g)", p->temperature);
    if (p->top_k < 0) return lc_errorf(LC_ERR_ARG, "top-k must be >= 0 (got %d; 0 turns it off)", p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return lc_errorf(LC_ERR_ARG, "top-p must be in (0, 1] (got %g; 1 turns it off)", p->top_p);
    if (!(p->repetition_penalty > 0) || isinf(p->repetition_penalty))
        return lc_errorf(LC_ERR_ARG, "repetition penalty must be a finite number > 0 (got %g; 1 turns it off)",
                         p->repetition_penalty);
    return LC_OK;
}

int lc_sample_argmax(const float *logits, int V) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

void lc_sample_repetition_penalty(float *logits, int V, const int32_t *hist, int n, float penalty,
                                  unsigned char *seen) {
    for (int i = 0; i < n; i++) {
        int32_t id = hist[i];
        if (id < 0 || id >= V || seen[id]) continue;
        seen[id] = 1;
        logits[id] = logits[id] < 0 ? logits[id] * penalty : logits[id] / penalty;
    }
    for (int i = 0; i < n; i++)
        if (hist[i] >= 0 && hist[i] < V) seen[hist[i]] = 0;
}

/* ------------------------------------------------ ordering of candidates */

/* a ranks before b: larger value, then lower id. */
static int before(float va, int32_t ia, float vb, int32_t ib) { return va > vb || (va == vb && ia < ib); }

static void swap2(float *v, int32_t *id, int a, int b) {
    float tv = v[a];
    v[a] = v[b];
    v[b] = tv;
    int32_t ti = id[a];
    id[a] = id[b];
    id[b] = ti;
}

/* Heap sort of (v, id)[n] into rank order (a heap whose root ranks last). */
static void sift(float *v, int32_t *id, int i, int n) {
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && before(v[c], id[c], v[c + 1], id[c + 1])) c++;
        if (!before(v[i], id[i], v[c], id[c])) return;
        swap2(v, id, i, c);
        i = c;
    }
}

static void rank_sort(float *v, int32_t *id, int n) {
    for (int i = n / 2 - 1; i >= 0; i--) sift(v, id, i, n);
    for (int end = n - 1; end > 0; end--) {
        swap2(v, id, 0, end);
        sift(v, id, 0, end);
    }
}

/* The k-th largest (1-based) of x[n]; reorders x. Quickselect. */
static float kth_largest(float *x, int n, int k) {
    int lo = 0, hi = n - 1, target = k - 1;
    while (lo < hi) {
        float pivot = x[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (x[i] > pivot) i++;
            while (x[j] < pivot) j--;
            if (i <= j) {
                float t = x[i];
                x[i++] = x[j];
                x[j--] = t;
            }
        }
        if (target <= j) hi = j;
        else if (target >= i) lo = i;
        else return x[target];
    }
    return x[target];
}

int lc_sample_candidates(const float *logits, int V, const lc_sample_params *p, int32_t *ids,
                         float *probs) {
    LC_ASSERT(V >= 1 && p->temperature > 0);
    float inv_t = 1.0f / p->temperature;
    float *z = probs; /* scaled logits of the candidates, then their probabilities */
    float mx = -INFINITY;
    for (int i = 0; i < V; i++)
        if (logits[i] * inv_t > mx) mx = logits[i] * inv_t;
    float kth = -INFINITY;
    if (p->top_k > 0 && p->top_k < V) {
        for (int i = 0; i < V; i++) z[i] = logits[i] * inv_t;
        kth = kth_largest(z, V, p->top_k);
    }
    double cut = -INFINITY; /* log-probability (relative to the max) below which top-p drops a token */
    if (p->top_p < 1 && V > 1) {
        double sum = 0;
        for (int i = 0; i < V; i++) sum += exp((double)(logits[i] * inv_t) - mx);
        cut = log((1.0 - p->top_p) / (V - 1) * sum);
    }
    int n = 0;
    double mass = 0; /* softmax normaliser (relative to mx) over the top-k survivors */
    for (int i = 0; i < V; i++) {
        float zi = logits[i] * inv_t;
        if (zi < kth) continue;
        mass += exp((double)zi - mx);
        if ((double)zi - mx < cut) continue;
        z[n] = zi;
        ids[n++] = i;
    }
    if (n == 0) { /* only possible through rounding at the cut: keep the best */
        z[0] = mx;
        ids[n++] = lc_sample_argmax(logits, V);
    }
    rank_sort(z, ids, n);
    int keep = n;
    if (p->top_p < 1) { /* keep while the mass ranked strictly above stays < top_p */
        double above = 0;
        for (int i = 0; i < n; i++) {
            if (i > 0 && above >= p->top_p) {
                keep = i;
                break;
            }
            above += exp((double)z[i] - mx) / mass;
        }
    }
    double kept = 0;
    for (int i = 0; i < keep; i++) kept += exp((double)z[i] - mx);
    for (int i = 0; i < keep; i++) probs[i] = (float)(exp((double)z[i] - mx) / kept); /* z aliases probs */
    return keep;
}

/* ------------------------------------------------------------- sampler */

struct lc_sampler {
    lc_sample_params p;
    lc_rng rng;
    int V;
    unsigned char *seen; /* (V) */
    int32_t *ids;        /* (V) */
    float *probs;        /* (V) */
};

lc_status lc_sampler_create(lc_sampler **out, int V, const lc_sample_params *p, uint64_t seed) {
    *out = NULL;
    lc_status st = lc_sample_params_validate(p);
    if (st) return st;
    if (V < 1) return lc_errorf(LC_ERR_ARG, "vocabulary size must be >= 1 (got %d)", V);
    lc_sampler *s = calloc(1, sizeof *s);
    if (!s) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    s->p = *p;
    s->V = V;
    lc_rng_seed(&s->rng, seed);
    s->seen = calloc((size_t)V, 1);
    s->ids = malloc((size_t)V * sizeof *s->ids);
    s->probs = malloc((size_t)V * sizeof *s->probs);
    if (!s->seen || !s->ids || !s->probs) {
        lc_sampler_free(s);
        return lc_errorf(LC_ERR_NOMEM, "out of memory for the sampler");
    }
    *out = s;
    return LC_OK;
}

void lc_sampler_free(lc_sampler *s) {
    if (!s) return;
    free(s->seen);
    free(s->ids);
    free(s->probs);
    free(s);
}

int lc_sampler_sample(lc_sampler *s, float *logits, const int32_t *hist, int n) {
    if (s->p.repetition_penalty != 1.0f)
        lc_sample_repetition_penalty(logits, s->V, hist, n, s->p.repetition_penalty, s->seen);
    if (s->p.temperature == 0) return lc_sample_argmax(logits, s->V);
    int k = lc_sample_candidates(logits, s->V, &s->p, s->ids, s->probs);
    float u = lc_rng_uniform(&s->rng);
    double cum = 0;
    for (int i = 0; i < k; i++) {
        cum += s->probs[i];
        if (u < cum) return s->ids[i];
    }
    return s->ids[k - 1];
}
