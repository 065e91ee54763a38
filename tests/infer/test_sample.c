/*
 * test_sample.c — sampling (lc_sample.h) on hand-made logits, against values
 * worked out by hand with Hugging Face's semantics:
 *   greedy = first argmax; repetition penalty divides positive / multiplies
 *   negative logits of tokens present, once per distinct token; temperature
 *   scales before softmax; top-k keeps ties at the k-th value; top-p keeps
 *   tokens while the mass ranked above them is < top_p (at least one);
 *   seeded draws reproduce and follow the distribution.
 */
#include <stdlib.h>
#include <string.h>

#include "infer_test.h"
#include "lc_sample.h"

static int near(double a, double b, double tol) { return fabs(a - b) <= tol; }

/* softmax of x[n] / T into p */
static void softmax(const double *x, int n, double T, double *p) {
    double mx = -1e300, s = 0;
    for (int i = 0; i < n; i++) mx = x[i] / T > mx ? x[i] / T : mx;
    for (int i = 0; i < n; i++) s += p[i] = exp(x[i] / T - mx);
    for (int i = 0; i < n; i++) p[i] /= s;
}

int main(void) {
    int32_t ids[16];
    float probs[16];
    char what[128];

    /* greedy: first maximum wins */
    float g[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, -3.0f};
    check(lc_sample_argmax(g, 6) == 1, "argmax picks the first of tied maxima");

    /* repetition penalty: hist has duplicates and an out-of-range id */
    float rp[6] = {2.0f, -2.0f, 1.0f, 0.0f, -0.5f, 3.0f};
    int32_t hist[6] = {0, 1, 1, 3, 0, 99};
    unsigned char seen[6] = {0};
    lc_sample_repetition_penalty(rp, 6, hist, 6, 2.0f, seen);
    float want_rp[6] = {1.0f, -4.0f, 1.0f, 0.0f, -0.5f, 3.0f};
    int same = 1, clean = 1;
    for (int i = 0; i < 6; i++) same &= rp[i] == want_rp[i], clean &= seen[i] == 0;
    check(same, "repetition penalty 2: 2 -> 1, -2 -> -4, once per distinct id");
    check(clean, "repetition penalty leaves its scratch zeroed");

    /* temperature only: all tokens, softmax(z / T), sorted */
    float z[5] = {1.0f, 3.0f, 2.0f, 0.0f, 2.0f};
    double zd[5] = {1, 3, 2, 0, 2}, p[5];
    lc_sample_params sp = lc_sample_default_params();
    sp.temperature = 0.5f;
    int n = lc_sample_candidates(z, 5, &sp, ids, probs);
    softmax(zd, 5, 0.5, p);
    int ok = n == 5 && ids[0] == 1 && ids[1] == 2 && ids[2] == 4 && ids[3] == 0 && ids[4] == 3;
    for (int i = 0; i < n && ok; i++) ok = near(probs[i], p[ids[i]], 1e-6);
    check(ok, "temperature 0.5: softmax(z/0.5), ranked, ties by id");

    /* top-k 2 with a tie at the 2nd value keeps 3 tokens */
    sp.temperature = 1.0f;
    sp.top_k = 2;
    n = lc_sample_candidates(z, 5, &sp, ids, probs);
    double e3 = exp(3.0), e2 = exp(2.0);
    ok = n == 3 && ids[0] == 1 && ids[1] == 2 && ids[2] == 4 && near(probs[0], e3 / (e3 + 2 * e2), 1e-6) &&
         near(probs[1], e2 / (e3 + 2 * e2), 1e-6);
    check(ok, "top-k 2 keeps the tie at the 2nd value (3 tokens), renormalised");
    sp.top_k = 1;
    n = lc_sample_candidates(z, 5, &sp, ids, probs);
    check(n == 1 && ids[0] == 1 && probs[0] == 1.0f, "top-k 1: only the argmax, probability 1");

    /* top-p on probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625 (logits = log p) */
    float lp[5] = {logf(0.0625f), logf(0.5f), logf(0.125f), logf(0.25f), logf(0.0625f)};
    sp.top_k = 0;
    float tps[4] = {0.5f, 0.6f, 0.75f, 0.8f};
    int want_n[4] = {1, 2, 2, 3}; /* mass above must stay < top_p: 0 | 0, .5 | 0, .5 | 0, .5, .75 (.875 >= .8 stops) */
    for (int i = 0; i < 4; i++) {
        sp.top_p = tps[i];
        n = lc_sample_candidates(lp, 5, &sp, ids, probs);
        double kept = want_n[i] == 1 ? 0.5 : want_n[i] == 2 ? 0.75 : 0.875;
        ok = n == want_n[i] && ids[0] == 1 && near(probs[0], 0.5 / kept, 1e-6);
        if (n >= 2) ok &= ids[1] == 3;
        if (n >= 3) ok &= ids[2] == 2;
        snprintf(what, sizeof what, "top-p %.2f keeps %d token(s), renormalised", tps[i], want_n[i]);
        check(ok, what);
    }
    /* top-k then top-p: k=3 renormalises to .571/.286/.143; top-p 0.6 keeps 2 */
    sp.top_k = 3;
    sp.top_p = 0.6f;
    n = lc_sample_candidates(lp, 5, &sp, ids, probs);
    check(n == 2 && ids[0] == 1 && ids[1] == 3 && near(probs[0], 2.0 / 3.0, 1e-6),
          "top-k 3 then top-p 0.6: 2 tokens (mass above computed after top-k)");

    /* a large vocabulary: the top-p prefilter must not change the result */
    enum { VB = 5000 };
    float *big = malloc(VB * sizeof(float));
    int32_t *bid = malloc(VB * sizeof(int32_t));
    float *bp = malloc(VB * sizeof(float));
    lc_rng rng;
    lc_rng_seed(&rng, 7);
    for (int i = 0; i < VB; i++) big[i] = 1.0f * lc_rng_normal(&rng);
    sp.top_k = 0;
    sp.top_p = 0.95f;
    sp.temperature = 0.8f;
    n = lc_sample_candidates(big, VB, &sp, bid, bp);
    /* brute force: sort all by logit, walk */
    double *pb = malloc(VB * sizeof(double)), *bd = malloc(VB * sizeof(double));
    for (int i = 0; i < VB; i++) bd[i] = big[i] * (1.0f / 0.8f); /* the same float scaling */
    softmax(bd, VB, 1.0, pb);
    double above = 0;
    int m = 0;
    for (;;) { /* repeatedly take the largest remaining */
        int best = -1;
        for (int i = 0; i < VB; i++)
            if (pb[i] >= 0 && (best < 0 || pb[i] > pb[best])) best = i;
        if (m > 0 && above >= 0.95) break;
        if (best < 0) break;
        ok = m < n && bid[m] == best;
        if (!ok) break;
        above += pb[best];
        pb[best] = -1;
        m++;
    }
    if (m != n || !ok) printf("    (brute force: mismatch at rank %d, mass above %.9f)\n", m, above);
    snprintf(what, sizeof what, "top-p 0.95 on %d random logits = brute force (%d tokens)", VB, n);
    check(ok && m == n, what);

    /* sampler: seeded draws reproduce; frequencies follow the distribution */
    sp = lc_sample_default_params();
    sp.temperature = 1.0f;
    lc_sampler *s1 = NULL, *s2 = NULL, *s3 = NULL;
    if (lc_sampler_create(&s1, 5, &sp, 42) || lc_sampler_create(&s2, 5, &sp, 42) ||
        lc_sampler_create(&s3, 5, &sp, 43)) {
        fprintf(stderr, "lc_sampler_create: %s\n", lc_error_msg());
        return 1;
    }
    int same12 = 1, diff13 = 0, counts[5] = {0};
    const int draws = 20000;
    for (int i = 0; i < draws; i++) {
        float a[5], b[5], c[5];
        memcpy(a, lp, sizeof a);
        memcpy(b, lp, sizeof b);
        memcpy(c, lp, sizeof c);
        int x = lc_sampler_sample(s1, a, NULL, 0), y = lc_sampler_sample(s2, b, NULL, 0);
        int w = lc_sampler_sample(s3, c, NULL, 0);
        same12 &= x == y;
        diff13 |= x != w;
        counts[x]++;
    }
    check(same12, "same seed: identical draws");
    check(diff13, "different seed: different draws");
    double want_p[5] = {0.0625, 0.5, 0.125, 0.25, 0.0625}, worst = 0;
    for (int i = 0; i < 5; i++) {
        double f = (double)counts[i] / draws, sd = sqrt(want_p[i] * (1 - want_p[i]) / draws);
        if (fabs(f - want_p[i]) / sd > worst) worst = fabs(f - want_p[i]) / sd;
    }
    printf("    (worst frequency deviation: %.2f standard deviations)\n", worst);
    check(worst < 5, "draw frequencies within 5 sd of the probabilities");
    /* greedy sampler with a repetition penalty flips the choice */
    sp = lc_sample_default_params();
    sp.repetition_penalty = 4.0f;
    lc_sampler *sg = NULL;
    lc_sampler_create(&sg, 5, &sp, 1);
    float q[5] = {1.0f, 3.0f, 2.0f, 0.0f, -1.0f};
    int32_t h1[1] = {1};
    check(sg && lc_sampler_sample(sg, q, h1, 1) == 2, "greedy with penalty 4 on the argmax picks the runner-up");
    /* parameter validation */
    lc_sample_params bad = lc_sample_default_params();
    bad.top_p = 0.0f;
    lc_status st = lc_sample_params_validate(&bad);
    printf("    (message: %s)\n", lc_error_msg());
    check(st == LC_ERR_ARG, "top-p 0 rejected");
    bad = lc_sample_default_params();
    bad.temperature = -1;
    check(lc_sample_params_validate(&bad) == LC_ERR_ARG, "negative temperature rejected");
    lc_sampler_free(s1);
    lc_sampler_free(s2);
    lc_sampler_free(s3);
    lc_sampler_free(sg);
    free(big);
    free(bid);
    free(bp);
    free(pb);
    free(bd);
    return finish("test_sample");
}
