/*
 * test_attention.c — checks of the tiled attention kernels (lc_kernels.h):
 * causal, sliding-window, block-diagonal (segments) and window+segments
 * masks; GQA ratios 1/3/4/8; head sizes 4..256; T = 1, T below, at and not
 * a multiple of the tile sizes (ATT_ROWS = 128 rows, ATT_KB = 128 keys).
 *
 * Usage: test_attention <group>, group one of fd prefill threads (each its
 * own ctest, kernels_attention_<group>; kernels_attention runs fd).
 *  fd       per config: the double kernel against a naive full-softmax
 *           reference with an explicit mask (1e-12), its backward against
 *           central finite differences (1e-6), the float kernels against
 *           the double ones (1e-5), and the mask's structure: perturbing
 *           token t0 leaves bit-identical every output that cannot see t0
 *           and changes every one that can.
 *  prefill  lc_attention_prefill (queries p0.. over a KV cache, unused cache
 *           rows NaN) against the naive reference, double and float.
 *  threads  float forward + backward bit-identical for 1 and 3 threads.
 */
#include <omp.h>

#include "kernel_check.h"
#include "kernels_f64.h"
#include "lc_kernels.h"

typedef struct {
    double *q, *k, *v, *out, *lse, *R;
    int B, T, Hq, Hkv, hd;
    const lc_att_mask *mask;
} att_ctx;

/* sum a[i] b[i], compensated (Neumaier). A plain running sum over the ~1e5
 * terms of the larger configs carries rounding noise ~ eps sqrt(n) |L| ~ 1e-11,
 * which central differences divide by 2h = 2e-5: measured 3e-7 abs in dk
 * (error growing as 1/h, so rounding, not truncation), above FD_RTOL. */
static double dot_comp(const double *a, const double *b, size_t n)
{
    double s = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        double x = a[i] * b[i], t = s + x;
        c += fabs(s) >= fabs(x) ? (s - t) + x : (x - t) + s;
        s = t;
    }
    return s + c;
}

static double att_loss(void *p)
{
    att_ctx *c = p;
    lc_attention_forward_masked_f64(c->out, c->lse, c->q, c->k, c->v, c->mask, c->B, c->T, c->Hq,
                                    c->Hkv, c->hd);
    return dot_comp(c->R, c->out, (size_t)c->B * c->T * c->Hq * c->hd);
}

static int seg_of(const lc_att_mask *m, int p)
{
    int i = 0;
    while (i + 1 < m->n_seg && m->seg_off[i + 1] <= p) i++;
    return i;
}

/* the mask's definition, written independently of the kernel's lo(t) */
static int visible(const lc_att_mask *m, int t, int s)
{
    if (s > t) return 0;
    if (m && m->window > 0 && t - s >= m->window) return 0;
    if (m && m->n_seg > 0 && seg_of(m, t) != seg_of(m, s)) return 0;
    return 1;
}

/* Naive reference: full score row with the mask, explicit softmax. */
static void att_naive(double *out, double *lse, const att_ctx *c)
{
    const int T = c->T, Hq = c->Hq, Hkv = c->Hkv, hd = c->hd;
    double *s = dalloc((size_t)T);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < Hq; h++)
            for (int t = 0; t < T; t++) {
                const double *qr = c->q + (((size_t)b * T + t) * Hq + h) * hd;
                int kh = h / (Hq / Hkv);
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) {
                    if (!visible(c->mask, t, j)) continue;
                    const double *kr = c->k + (((size_t)b * T + j) * Hkv + kh) * hd;
                    s[j] = dot(qr, kr, hd) / sqrt((double)hd);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j <= t; j++)
                    if (visible(c->mask, t, j)) sum += exp(s[j] - mx);
                double *o = out + (((size_t)b * T + t) * Hq + h) * hd;
                for (int d = 0; d < hd; d++) o[d] = 0;
                for (int j = 0; j <= t; j++) {
                    if (!visible(c->mask, t, j)) continue;
                    const double *vr = c->v + (((size_t)b * T + j) * Hkv + kh) * hd;
                    for (int d = 0; d < hd; d++) o[d] += exp(s[j] - mx) / sum * vr[d];
                }
                lse[((size_t)b * Hq + h) * T + t] = mx + log(sum);
            }
    free(s);
}

static att_ctx ctx_new(int B, int T, int Hq, int Hkv, int hd, const lc_att_mask *mask)
{
    const size_t nq = (size_t)B * T * Hq * hd, nk = (size_t)B * T * Hkv * hd;
    att_ctx c = {dalloc(nq), dalloc(nk), dalloc(nk), dalloc(nq), dalloc((size_t)B * Hq * T),
                 dalloc(nq), B, T, Hq, Hkv, hd, mask};
    randn(c.q, nq, 1.5);
    randn(c.k, nk, 1.5);
    randn(c.v, nk, 1.0);
    randn(c.R, nq, 1.0);
    return c;
}

static void ctx_free(att_ctx *c)
{
    free(c->q), free(c->k), free(c->v), free(c->out), free(c->lse), free(c->R);
}

/* Perturb token t0's q, k, v (float copies) and check which outputs move:
 * exactly those at positions t that see t0 (t0 itself included). */
static void check_mask_structure(const att_ctx *c, float *qf, float *kf, float *vf, const float *of)
{
    const int B = c->B, T = c->T, Hq = c->Hq, Hkv = c->Hkv, hd = c->hd, t0 = T * 2 / 3;
    const size_t nq = (size_t)B * T * Hq * hd;
    float *of2 = falloc(nq), *lf2 = falloc((size_t)B * Hq * T);
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < Hq * hd; i++) qf[((size_t)b * T + t0) * Hq * hd + i] += 1.0f;
        for (int i = 0; i < Hkv * hd; i++) {
            kf[((size_t)b * T + t0) * Hkv * hd + i] -= 0.7f;
            vf[((size_t)b * T + t0) * Hkv * hd + i] += 2.0f;
        }
    }
    lc_attention_forward_masked(of2, lf2, qf, kf, vf, c->mask, B, T, Hq, Hkv, hd);
    int same = 1, changed = 1;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int moved = 0;
            for (int i = 0; i < Hq * hd; i++) {
                size_t o = ((size_t)b * T + t) * Hq * hd + i;
                if (of[o] != of2[o]) moved = 1;
            }
            if (visible(c->mask, t, t0) && !moved) changed = 0;
            if (!visible(c->mask, t, t0) && moved) same = 0;
        }
    expect(same, "mask: outputs not seeing t0 unchanged");
    expect(changed, "mask: outputs seeing t0 changed");
    free(of2), free(lf2);
}

/* Float kernels vs the double ones (forward, then backward accumulating on
 * g0), then the mask-structure check on the same float inputs. */
static void check_f32(att_ctx *c, const double *g0q, const double *g0k, const double *g0v,
                      const double *dq, const double *dk, const double *dv)
{
    const int B = c->B, T = c->T, Hq = c->Hq, Hkv = c->Hkv, hd = c->hd;
    const size_t nq = (size_t)B * T * Hq * hd, nk = (size_t)B * T * Hkv * hd,
                 nl = (size_t)B * Hq * T;
    float *qf = to_f32(c->q, nq), *kf = to_f32(c->k, nk), *vf = to_f32(c->v, nk),
          *Rf = to_f32(c->R, nq), *of = falloc(nq), *lf = falloc(nl);
    float *dqf = to_f32(g0q, nq), *dkf = to_f32(g0k, nk), *dvf = to_f32(g0v, nk);
    lc_attention_forward_masked(of, lf, qf, kf, vf, c->mask, B, T, Hq, Hkv, hd);
    lc_attention_backward_masked(dqf, dkf, dvf, Rf, of, lf, qf, kf, vf, c->mask, B, T, Hq, Hkv,
                                 hd);
    att_loss(c);
    check_close_f("f32 out vs f64", of, c->out, nq, F32_RTOL);
    check_close_f("f32 lse vs f64", lf, c->lse, nl, F32_RTOL);
    check_close_f("f32 dq vs f64", dqf, dq, nq, F32_RTOL);
    check_close_f("f32 dk vs f64", dkf, dk, nk, F32_RTOL);
    check_close_f("f32 dv vs f64", dvf, dv, nk, F32_RTOL);
    check_mask_structure(c, qf, kf, vf, of);
    free(qf), free(kf), free(vf), free(Rf), free(of), free(lf), free(dqf), free(dkf), free(dvf);
}

static void test_cfg(const char *what, int B, int T, int Hq, int Hkv, int hd,
                     const lc_att_mask *mask)
{
    printf(" %s: B=%d T=%d Hq=%d Hkv=%d hd=%d window=%d segments=%d\n", what, B, T, Hq, Hkv, hd,
           mask ? mask->window : 0, mask ? mask->n_seg : 0);
    att_ctx c = ctx_new(B, T, Hq, Hkv, hd, mask);
    const size_t nq = (size_t)B * T * Hq * hd, nk = (size_t)B * T * Hkv * hd,
                 nl = (size_t)B * Hq * T;
    double *ro = dalloc(nq), *rl = dalloc(nl);
    att_naive(ro, rl, &c);
    att_loss(&c);
    check_close("out vs naive softmax", c.out, ro, nq, 1e-12);
    check_close("lse vs naive softmax", c.lse, rl, nl, 1e-12);
    /* backward, accumulating onto random initial gradients */
    double *g0q = dalloc(nq), *g0k = dalloc(nk), *g0v = dalloc(nk);
    randn(g0q, nq, 1.0), randn(g0k, nk, 1.0), randn(g0v, nk, 1.0);
    double *dq = dalloc(nq), *dk = dalloc(nk), *dv = dalloc(nk);
    memcpy(dq, g0q, nq * 8), memcpy(dk, g0k, nk * 8), memcpy(dv, g0v, nk * 8);
    lc_attention_backward_masked_f64(dq, dk, dv, c.R, c.out, c.lse, c.q, c.k, c.v, mask, B, T, Hq,
                                     Hkv, hd);
    double *aq = dalloc(nq), *ak = dalloc(nk), *av = dalloc(nk);
    for (size_t i = 0; i < nq; i++) aq[i] = dq[i] - g0q[i];
    for (size_t i = 0; i < nk; i++) ak[i] = dk[i] - g0k[i], av[i] = dv[i] - g0v[i];
    fd_check("dq", c.q, nq, aq, att_loss, &c);
    fd_check("dk", c.k, nk, ak, att_loss, &c);
    fd_check("dv", c.v, nk, av, att_loss, &c);
    check_f32(&c, g0q, g0k, g0v, dq, dk, dv);
    ctx_free(&c);
    free(ro), free(rl), free(g0q), free(g0k), free(g0v), free(dq), free(dk), free(dv);
    free(aq), free(ak), free(av);
}

static void test_fd(void)
{
    /* causal; GQA ratios 1, 2, 3, 4, 8; hd 4 .. 256; T = 1 and T across tiles */
    test_cfg("causal", 2, 70, 4, 2, 8, NULL);
    test_cfg("causal", 1, 9, 3, 3, 16, NULL);
    test_cfg("causal", 1, 131, 3, 1, 4, NULL);
    test_cfg("causal", 1, 1, 4, 1, 64, NULL);
    test_cfg("causal", 1, 67, 2, 1, 64, NULL);
    test_cfg("causal", 1, 150, 8, 1, 32, NULL);
    test_cfg("causal", 1, 140, 4, 1, 128, NULL);
    test_cfg("causal", 1, 133, 3, 1, 256, NULL);
    const lc_att_mask w37 = {37, 0, NULL}, w1 = {1, 0, NULL}, w100 = {100, 0, NULL};
    test_cfg("window", 1, 150, 3, 1, 16, &w37);
    test_cfg("window", 2, 131, 4, 4, 8, &w1);
    test_cfg("window", 1, 200, 8, 1, 64, &w100);
    const int s1[] = {0, 50, 51, 137, 150}, s2[] = {0, 1, 130, 140}, s3[] = {0, 1};
    const lc_att_mask m1 = {0, 4, s1}, m2 = {0, 3, s2}, m3 = {0, 1, s3};
    test_cfg("segments", 1, 150, 4, 2, 16, &m1);
    test_cfg("segments", 2, 140, 3, 1, 128, &m2);
    test_cfg("segments", 1, 1, 3, 3, 8, &m3);
    const int s4[] = {0, 100, 260};
    const lc_att_mask m4 = {45, 2, s4};
    test_cfg("window+segments", 1, 260, 8, 1, 32, &m4);
}

/* Prefill of queries [p0, T) over a cache (Hkv, ld, hd) holding rows 0..T-1
 * of k, v; rows T..ld-1 are NaN (never read). */
static void prefill_cfg(int T, int p0, int Hq, int Hkv, int hd, int window)
{
    printf(" prefill: T=%d p0=%d Hq=%d Hkv=%d hd=%d window=%d\n", T, p0, Hq, Hkv, hd, window);
    const lc_att_mask m = {window, 0, NULL};
    att_ctx c = ctx_new(1, T, Hq, Hkv, hd, &m);
    const int ld = T + 3, N = T - p0;
    const size_t nq = (size_t)T * Hq * hd, nr = (size_t)N * Hq * hd;
    double *ro = dalloc(nq), *rl = dalloc((size_t)Hq * T);
    att_naive(ro, rl, &c);
    double *kc = dalloc((size_t)Hkv * ld * hd), *vc = dalloc((size_t)Hkv * ld * hd);
    for (int g = 0; g < Hkv; g++)
        for (int t = 0; t < ld; t++)
            for (int d = 0; d < hd; d++) {
                size_t o = ((size_t)g * ld + t) * hd + d, i = ((size_t)t * Hkv + g) * hd + d;
                kc[o] = t < T ? c.k[i] : NAN;
                vc[o] = t < T ? c.v[i] : NAN;
            }
    double *out = dalloc(nr);
    const double *ref = ro + (size_t)p0 * Hq * hd;
    lc_attention_prefill_f64(out, c.q + (size_t)p0 * Hq * hd, kc, vc, p0, N, Hq, Hkv, hd, ld,
                             window);
    check_close("prefill out vs naive", out, ref, nr, 1e-12);
    float *qf = to_f32(c.q + (size_t)p0 * Hq * hd, nr), *of = falloc(nr);
    float *kf = to_f32(kc, (size_t)Hkv * ld * hd), *vf = to_f32(vc, (size_t)Hkv * ld * hd);
    lc_attention_prefill(of, qf, kf, vf, p0, N, Hq, Hkv, hd, ld, window);
    check_close_f("f32 prefill out vs naive", of, ref, nr, F32_RTOL);
    ctx_free(&c);
    free(ro), free(rl), free(kc), free(vc), free(out), free(qf), free(of), free(kf), free(vf);
}

static void test_prefill(void)
{
    prefill_cfg(70, 0, 9, 3, 64, 0);
    prefill_cfg(200, 136, 9, 3, 64, 0); /* a chunk after 136 cached tokens */
    prefill_cfg(200, 199, 4, 1, 32, 0); /* one row */
    prefill_cfg(300, 100, 8, 2, 16, 50);
}

/* Bit-identical results for 1 and 3 threads (each output has one owner and
 * its sums run in a fixed order). */
static void test_threads(void)
{
    const int B = 2, T = 300, Hq = 6, Hkv = 2, hd = 32;
    const int so[] = {0, 90, 300};
    const lc_att_mask m = {0, 2, so};
    att_ctx c = ctx_new(B, T, Hq, Hkv, hd, &m);
    const size_t nq = (size_t)B * T * Hq * hd, nk = (size_t)B * T * Hkv * hd,
                 nl = (size_t)B * Hq * T;
    float *qf = to_f32(c.q, nq), *kf = to_f32(c.k, nk), *vf = to_f32(c.v, nk),
          *Rf = to_f32(c.R, nq);
    float *res[2][5];
    const int nth[2] = {1, 3};
    for (int r = 0; r < 2; r++) {
        float *o = falloc(nq), *l = falloc(nl), *dq = falloc(nq), *dk = falloc(nk),
              *dv = falloc(nk);
        omp_set_num_threads(nth[r]);
        lc_attention_forward_masked(o, l, qf, kf, vf, &m, B, T, Hq, Hkv, hd);
        lc_attention_backward_masked(dq, dk, dv, Rf, o, l, qf, kf, vf, &m, B, T, Hq, Hkv, hd);
        res[r][0] = o, res[r][1] = l, res[r][2] = dq, res[r][3] = dk, res[r][4] = dv;
    }
    const size_t n[5] = {nq, nl, nq, nk, nk};
    const char *name[5] = {"out", "lse", "dq", "dk", "dv"};
    for (int i = 0; i < 5; i++) {
        char label[64];
        snprintf(label, sizeof label, "%s: 1 thread == 3 threads", name[i]);
        expect(memcmp(res[0][i], res[1][i], n[i] * sizeof(float)) == 0, label);
        free(res[0][i]), free(res[1][i]);
    }
    ctx_free(&c);
    free(qf), free(kf), free(vf), free(Rf);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } groups[] = {{"fd", test_fd}, {"prefill", test_prefill}, {"threads", test_threads}};
    lc_rng_seed(&g_rng, 4321);
    int ran = 0;
    for (int i = 0; i < 3; i++) {
        if (argc > 1 && strcmp(argv[1], groups[i].name) != 0) continue;
        printf("[%s]\n", groups[i].name);
        groups[i].fn();
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "test_attention: unknown group '%s'\n", argv[1]);
        return 2;
    }
    printf(g_fail ? "FAILED\n" : "all passed\n");
    return g_fail ? 1 : 0;
}
