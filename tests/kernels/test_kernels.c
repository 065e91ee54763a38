/*
 * test_kernels.c — checks of the math kernels (lc_kernels.h).
 *
 * Usage: test_kernels <group>, group one of rmsnorm rope swiglu linear
 * lmhead adamw sumsq qknorm rope_scaled lmhead_rows (each is its own ctest, kernels_<group>); attention has
 * its own program, test_attention.c.
 *
 * Every backward is checked against central finite differences of the scalar
 * L = sum(R * out) (R random) computed with the double twins of the kernels
 * (kernels_f64.h, the same code instantiated for double), at ~1e-6 relative
 * tolerance; gradients are pre-filled with random values to check that
 * backward accumulates. The public float kernels are then compared with the
 * double ones on the same inputs (~1e-5 relative). Prints max abs/rel error
 * per tensor; exits non-zero on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"
#include "lc_cpu.h"
#include "kernels_f64.h"
#include "lc_kernels.h"

/* ---- rmsnorm ---------------------------------------------------------------- */

typedef struct {
    double *out, *rstd, *inp, *w, *R;
    int N, C;
} rms_ctx;

static double rms_loss(void *p)
{
    rms_ctx *c = p;
    lc_rmsnorm_forward_f64(c->out, c->rstd, c->inp, c->w, c->N, c->C, 1e-5f);
    return dot(c->R, c->out, (size_t)c->N * c->C);
}

static void test_rmsnorm(void)
{
    const int N = 5, C = 37;
    const size_t NC = (size_t)N * C;
    rms_ctx c = {dalloc(NC), dalloc(N), dalloc(NC), dalloc(C), dalloc(NC), N, C};
    randn(c.inp, NC, 1.0);
    randn(c.w, C, 1.0);
    randn(c.R, NC, 1.0);
    /* forward vs the formula */
    double *ref = dalloc(NC);
    for (int n = 0; n < N; n++) {
        double ss = 0;
        for (int i = 0; i < C; i++) ss += c.inp[n * C + i] * c.inp[n * C + i];
        double r = 1 / sqrt(ss / C + (double)1e-5f);
        for (int i = 0; i < C; i++) ref[n * C + i] = c.inp[n * C + i] * r * c.w[i];
    }
    rms_loss(&c);
    check_close("forward vs formula", c.out, ref, NC, 1e-14);
    /* backward accumulates onto g0 */
    double *g0 = dalloc(NC), *dinp = dalloc(NC), *an = dalloc(NC);
    randn(g0, NC, 1.0);
    memcpy(dinp, g0, NC * sizeof(double));
    lc_rmsnorm_backward_f64(dinp, c.R, c.inp, c.w, c.rstd, N, C);
    for (size_t i = 0; i < NC; i++) an[i] = dinp[i] - g0[i];
    fd_check("dinp", c.inp, NC, an, rms_loss, &c);
    /* float vs double */
    float *x = to_f32(c.inp, NC), *w = to_f32(c.w, C), *R = to_f32(c.R, NC);
    float *out = falloc(NC), *rstd = falloc(N), *dx = to_f32(g0, NC);
    lc_rmsnorm_forward(out, rstd, x, w, N, C, 1e-5f);
    lc_rmsnorm_backward(dx, R, x, w, rstd, N, C);
    check_close_f("f32 out vs f64", out, c.out, NC, F32_RTOL);
    check_close_f("f32 rstd vs f64", rstd, c.rstd, N, F32_RTOL);
    check_close_f("f32 dinp vs f64", dx, dinp, NC, F32_RTOL);
    free(c.out), free(c.rstd), free(c.inp), free(c.w), free(c.R), free(ref), free(g0);
    free(dinp), free(an), free(x), free(w), free(R), free(out), free(rstd), free(dx);
}

/* ---- q/k norm (per-head RMSNorm, Qwen3) ------------------------------------- */

typedef struct {
    double *out, *rstd, *inp, *w, *R;
    int N, H, hd;
} qkn_ctx;

static double qkn_loss(void *p)
{
    qkn_ctx *c = p;
    lc_qknorm_forward_f64(c->out, c->rstd, c->inp, c->w, c->N, c->H, c->hd, 1e-6f);
    return dot(c->R, c->out, (size_t)c->N * c->H * c->hd);
}

static void test_qknorm(void)
{
    const int N = 4, H = 3, hd = 10;
    const size_t n = (size_t)N * H * hd;
    qkn_ctx c = {dalloc(n), dalloc((size_t)N * H), dalloc(n), dalloc(hd), dalloc(n), N, H, hd};
    randn(c.inp, n, 1.0);
    randn(c.w, hd, 1.0);
    randn(c.R, n, 1.0);
    /* forward vs the formula: each head of each row normed alone, one weight (hd) */
    double *ref = dalloc(n);
    for (int v = 0; v < N * H; v++) {
        const double *x = c.inp + (size_t)v * hd;
        double ss = 0;
        for (int i = 0; i < hd; i++) ss += x[i] * x[i];
        double r = 1 / sqrt(ss / hd + (double)1e-6f);
        for (int i = 0; i < hd; i++) ref[(size_t)v * hd + i] = x[i] * r * c.w[i];
    }
    qkn_loss(&c);
    check_close("forward vs per-head formula", c.out, ref, n, 1e-14);
    double *g0 = dalloc(n), *dinp = dalloc(n), *an = dalloc(n);
    randn(g0, n, 1.0);
    memcpy(dinp, g0, n * sizeof(double));
    lc_qknorm_backward_f64(dinp, c.R, c.inp, c.w, c.rstd, N, H, hd);
    for (size_t i = 0; i < n; i++) an[i] = dinp[i] - g0[i]; /* backward accumulates */
    fd_check("dinp", c.inp, n, an, qkn_loss, &c);
    float *x = to_f32(c.inp, n), *w = to_f32(c.w, hd), *R = to_f32(c.R, n);
    float *out = falloc(n), *rstd = falloc((size_t)N * H), *dx = to_f32(g0, n);
    lc_qknorm_forward(out, rstd, x, w, N, H, hd, 1e-6f);
    lc_qknorm_backward(dx, R, x, w, rstd, N, H, hd);
    check_close_f("f32 out vs f64", out, c.out, n, F32_RTOL);
    check_close_f("f32 dinp vs f64", dx, dinp, n, F32_RTOL);
    lc_qknorm_forward(x, rstd, x, w, N, H, hd, 1e-6f); /* in place, as inference runs it */
    check_close_f("f32 in place vs f64", x, c.out, n, F32_RTOL);
    free(c.out), free(c.rstd), free(c.inp), free(c.w), free(c.R), free(ref), free(g0), free(dinp), free(an);
    free(x), free(w), free(R), free(out), free(rstd), free(dx);
}

/* ---- scaled RoPE tables (linear, llama3, GGUF rope_freqs) ------------------- */

/* transformers' llama3 inv_freq in double (modeling_rope_utils.py). */
static double llama3_inv(double inv, double factor, double lo, double hi, double orig)
{
    double wavelen = 2 * M_PI / inv;
    double f = wavelen > orig / lo ? inv / factor : inv;
    double smooth = (orig / wavelen - lo) / (hi - lo);
    int medium = !(wavelen < orig / hi) && !(wavelen > orig / lo);
    return medium ? (1 - smooth) * f / factor + smooth * f : f;
}

static void test_rope_scaled(void)
{
    const int T = 40, hd = 16, h2 = hd / 2;
    const float theta = 10000.0f;
    float *cf = falloc((size_t)T * h2), *sf = falloc((size_t)T * h2);
    double *tc = dalloc((size_t)T * h2), *ts = dalloc((size_t)T * h2);
    /* wavelengths 2π·10000^(i/8) = 6.3, 20, 63, ...: with original 32, low 1,
     * high 4 the first is kept, the second smoothed, the rest divided */
    const lc_rope_scaling cases[3] = {{.type = LC_ROPE_NONE},
                                      {.type = LC_ROPE_LINEAR, .factor = 4.0f},
                                      {.type = LC_ROPE_LLAMA3, .factor = 8.0f, .low_freq_factor = 1.0f,
                                       .high_freq_factor = 4.0f, .original_max_position = 32}};
    static const char *names[3] = {"none", "linear", "llama3"};
    double inv_ll[64];
    for (int k = 0; k < 3; k++) {
        const lc_rope_scaling *sc = &cases[k];
        lc_rope_table_scaled(cf, sf, T, hd, theta, sc, NULL);
        for (int i = 0; i < h2; i++) {
            double inv = pow(10000.0, -2.0 * i / hd);
            if (sc->type == LC_ROPE_LINEAR) inv /= sc->factor;
            if (sc->type == LC_ROPE_LLAMA3) inv = inv_ll[i] = llama3_inv(inv, 8, 1, 4, 32);
            for (int t = 0; t < T; t++) tc[t * h2 + i] = cos(t * inv), ts[t * h2 + i] = sin(t * inv);
        }
        /* float rounding of inv_freq and of the angle (|angle| < T): a few
         * ulp of T = 40 */
        char what[64];
        snprintf(what, sizeof what, "%s table cos vs double", names[k]);
        check_close_f(what, cf, tc, (size_t)T * h2, 2e-5);
        snprintf(what, sizeof what, "%s table sin vs double", names[k]);
        check_close_f(what, sf, ts, (size_t)T * h2, 2e-5);
    }
    expect(inv_ll[0] == pow(10000.0, 0) && fabs(inv_ll[7] - pow(10000.0, -14.0 / 16) / 8) < 1e-15,
           "llama3: the highest frequency kept, the lowest divided by factor");
    /* yarn (factor 4, original 32, betas 32 / 1, truncate): the correction
     * range over hd 16 is dims [0, 3] -> blend; cos/sin times 1.1386 */
    {
        lc_rope_scaling y = {LC_ROPE_YARN, 4.0f, 0, 0, 32, 32.0f, 1.0f, 1, 1.1386294f};
        lc_rope_table_scaled(cf, sf, T, hd, theta, &y, NULL);
        double lo = floor(hd * log(32 / (32 * 2 * M_PI)) / (2 * log(10000.0)));
        double hi = ceil(hd * log(32 / (1 * 2 * M_PI)) / (2 * log(10000.0)));
        lo = lo < 0 ? 0 : lo, hi = hi > hd - 1 ? hd - 1 : hi;
        for (int i = 0; i < h2; i++) {
            double ramp = fmin(fmax((i - lo) / (hi - lo), 0), 1), ex = 1 - ramp;
            double pos = pow(10000.0, 2.0 * i / hd), inv = (1 / (4 * pos)) * (1 - ex) + (1 / pos) * ex;
            for (int t = 0; t < T; t++)
                tc[t * h2 + i] = 1.1386294 * cos(t * inv), ts[t * h2 + i] = 1.1386294 * sin(t * inv);
        }
        check_close_f("yarn table cos vs double", cf, tc, (size_t)T * h2, 2e-5);
        check_close_f("yarn table sin vs double", sf, ts, (size_t)T * h2, 2e-5);
    }
    /* GGUF rope_freqs: inv_freq / ratio, with llama.cpp's ratio = unscaled / scaled */
    float div[8];
    for (int i = 0; i < h2; i++) div[i] = (float)(pow(10000.0, -2.0 * i / hd) / inv_ll[i]);
    lc_rope_table_scaled(cf, sf, T, hd, theta, NULL, div);
    for (int i = 0; i < h2; i++)
        for (int t = 0; t < T; t++) tc[t * h2 + i] = cos(t * inv_ll[i]), ts[t * h2 + i] = sin(t * inv_ll[i]);
    check_close_f("rope_freqs table cos vs llama3 double", cf, tc, (size_t)T * h2, 2e-5);
    check_close_f("rope_freqs table sin vs llama3 double", sf, ts, (size_t)T * h2, 2e-5);
    /* unscaled: identical to lc_rope_table */
    float *c0 = falloc((size_t)T * h2), *s0 = falloc((size_t)T * h2);
    lc_rope_table(c0, s0, T, hd, theta);
    lc_rope_table_scaled(cf, sf, T, hd, theta, NULL, NULL);
    expect(!memcmp(c0, cf, (size_t)T * h2 * sizeof(float)) && !memcmp(s0, sf, (size_t)T * h2 * sizeof(float)),
           "unscaled table bit-identical to lc_rope_table");
    free(cf), free(sf), free(tc), free(ts), free(c0), free(s0);
}

/* ---- rope --------------------------------------------------------------- */

typedef struct {
    double *x, *y, *cs, *sn, *R;
    int B, T, H, hd;
} rope_ctx;

static double rope_loss(void *p)
{
    rope_ctx *c = p;
    size_t n = (size_t)c->B * c->T * c->H * c->hd;
    memcpy(c->y, c->x, n * sizeof(double));
    lc_rope_forward_f64(c->y, c->cs, c->sn, c->B, c->T, c->H, c->hd);
    return dot(c->R, c->y, n);
}

static void test_rope(void)
{
    const int B = 2, T = 6, H = 3, hd = 8, h2 = hd / 2;
    const size_t n = (size_t)B * T * H * hd;
    float *cf = falloc((size_t)T * h2), *sf = falloc((size_t)T * h2);
    lc_rope_table(cf, sf, T, hd, 10000.0f);
    /* table vs the exact double formula: differs only by HF's float rounding
     * of inv_freq and the angle (|angle| < T here) */
    double *tc = dalloc((size_t)T * h2), *ts = dalloc((size_t)T * h2);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < h2; i++) {
            double a = t * pow(10000.0, -2.0 * i / hd);
            tc[t * h2 + i] = cos(a), ts[t * h2 + i] = sin(a);
        }
    check_close_f("table cos vs double formula", cf, tc, (size_t)T * h2, 1e-6);
    check_close_f("table sin vs double formula", sf, ts, (size_t)T * h2, 1e-6);
    rope_ctx c = {dalloc(n), dalloc(n), to_f64(cf, (size_t)T * h2), to_f64(sf, (size_t)T * h2),
                  dalloc(n), B, T, H, hd};
    randn(c.x, n, 1.0);
    randn(c.R, n, 1.0);
    rope_loss(&c);
    /* explicit HF formula: x * cat(cos, cos) + rotate_half(x) * cat(sin, sin),
     * rotate_half(x) = cat(-x2, x1) */
    double *ref = dalloc(n);
    for (size_t v = 0; v < n / hd; v++) {
        int t = (int)(v / H) % T;
        const double *x = c.x + v * hd;
        for (int d = 0; d < hd; d++) {
            double rot = d < h2 ? -x[d + h2] : x[d - h2];
            ref[v * hd + d] = x[d] * c.cs[t * h2 + d % h2] + rot * c.sn[t * h2 + d % h2];
        }
    }
    check_close("forward vs rotate-half formula", c.y, ref, n, 1e-15);
    /* backward is the adjoint: <R, rope(x)> == <rope^T(R), x>, and matches FD */
    double *g = dalloc(n);
    memcpy(g, c.R, n * sizeof(double));
    lc_rope_backward_f64(g, c.cs, c.sn, B, T, H, hd);
    double lhs = dot(c.R, c.y, n), rhs = dot(g, c.x, n);
    printf("  adjoint <R,rope(x)>=%.15g <rope^T(R),x>=%.15g\n", lhs, rhs);
    expect(fabs(lhs - rhs) <= 1e-12 * (fabs(lhs) + 1), "backward is the adjoint");
    fd_check("dx", c.x, n, g, rope_loss, &c);
    float *xf = to_f32(c.x, n), *gf = to_f32(c.R, n);
    lc_rope_forward(xf, cf, sf, B, T, H, hd);
    lc_rope_backward(gf, cf, sf, B, T, H, hd);
    check_close_f("f32 forward vs f64", xf, c.y, n, F32_RTOL);
    check_close_f("f32 backward vs f64", gf, g, n, F32_RTOL);
    free(cf), free(sf), free(tc), free(ts), free(c.x), free(c.y), free(c.cs), free(c.sn);
    free(c.R), free(ref), free(g), free(xf), free(gf);
}

/* ---- swiglu --------------------------------------------------------------- */

typedef struct {
    double *h, *g, *u, *R;
    size_t n;
} swi_ctx;

static double swi_loss(void *p)
{
    swi_ctx *c = p;
    lc_swiglu_forward_f64(c->h, c->g, c->u, c->n);
    return dot(c->R, c->h, c->n);
}

static void test_swiglu(void)
{
    const size_t n = 1003;
    swi_ctx c = {dalloc(n), dalloc(n), dalloc(n), dalloc(n), n};
    randn(c.g, n, 3.0);
    c.g[0] = -60, c.g[1] = 60, c.g[2] = 0; /* saturated tails and zero */
    randn(c.u, n, 1.0);
    randn(c.R, n, 1.0);
    swi_loss(&c);
    double *ref = dalloc(n);
    for (size_t i = 0; i < n; i++) ref[i] = c.g[i] / (1 + exp(-c.g[i])) * c.u[i];
    check_close("forward vs formula", c.h, ref, n, 1e-15);
    double *g0 = dalloc(n), *g1 = dalloc(n), *dg = dalloc(n), *du = dalloc(n);
    double *ag = dalloc(n), *au = dalloc(n);
    randn(g0, n, 1.0), randn(g1, n, 1.0);
    memcpy(dg, g0, n * 8), memcpy(du, g1, n * 8);
    lc_swiglu_backward_f64(dg, du, c.R, c.g, c.u, n);
    for (size_t i = 0; i < n; i++) ag[i] = dg[i] - g0[i], au[i] = du[i] - g1[i];
    fd_check("dgate", c.g, n, ag, swi_loss, &c);
    fd_check("dup", c.u, n, au, swi_loss, &c);
    float *gf = to_f32(c.g, n), *uf = to_f32(c.u, n), *Rf = to_f32(c.R, n), *hf = falloc(n);
    float *dgf = to_f32(g0, n), *duf = to_f32(g1, n);
    lc_swiglu_forward(hf, gf, uf, n);
    lc_swiglu_backward(dgf, duf, Rf, gf, uf, n);
    check_close_f("f32 h vs f64", hf, c.h, n, F32_RTOL);
    check_close_f("f32 dgate vs f64", dgf, dg, n, F32_RTOL);
    check_close_f("f32 dup vs f64", duf, du, n, F32_RTOL);
    free(c.h), free(c.g), free(c.u), free(c.R), free(ref), free(g0), free(g1), free(dg);
    free(du), free(ag), free(au), free(gf), free(uf), free(Rf), free(hf), free(dgf), free(duf);
}

/* ---- linear ----------------------------------------------------------------- */

typedef struct {
    double *out, *x, *W, *b, *R;
    int N, I, O;
} lin_ctx;

static double lin_loss(void *p)
{
    lin_ctx *c = p;
    lc_linear_forward_f64(c->out, c->x, c->W, c->b, c->N, c->I, c->O);
    return dot(c->R, c->out, (size_t)c->N * c->O);
}

static void test_linear_cfg(int with_bias)
{
    const int N = 7, I = 13, O = 11;
    const size_t nx = (size_t)N * I, nw = (size_t)O * I, no = (size_t)N * O;
    printf(" config N=%d I=%d O=%d bias=%d\n", N, I, O, with_bias);
    lin_ctx c = {dalloc(no), dalloc(nx), dalloc(nw), with_bias ? dalloc(O) : NULL, dalloc(no),
                 N, I, O};
    randn(c.x, nx, 1.0), randn(c.W, nw, 1.0), randn(c.R, no, 1.0);
    if (c.b) randn(c.b, O, 1.0);
    lin_loss(&c);
    double *ref = dalloc(no);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++)
            ref[n * O + o] = dot(c.x + n * I, c.W + o * I, I) + (c.b ? c.b[o] : 0);
    check_close("forward vs formula", c.out, ref, no, 1e-14);
    double *g0x = dalloc(nx), *g0w = dalloc(nw), *g0b = dalloc(O);
    randn(g0x, nx, 1.0), randn(g0w, nw, 1.0), randn(g0b, O, 1.0);
    double *dx = dalloc(nx), *dW = dalloc(nw), *db = dalloc(O);
    memcpy(dx, g0x, nx * 8), memcpy(dW, g0w, nw * 8), memcpy(db, g0b, (size_t)O * 8);
    lc_linear_backward_input_f64(dx, c.R, c.W, N, I, O);
    lc_linear_backward_weight_f64(dW, c.b ? db : NULL, c.R, c.x, N, I, O);
    double *ax = dalloc(nx), *aw = dalloc(nw), *ab = dalloc(O);
    for (size_t i = 0; i < nx; i++) ax[i] = dx[i] - g0x[i];
    for (size_t i = 0; i < nw; i++) aw[i] = dW[i] - g0w[i];
    for (int i = 0; i < O; i++) ab[i] = db[i] - g0b[i];
    fd_check("dinp", c.x, nx, ax, lin_loss, &c);
    fd_check("dW", c.W, nw, aw, lin_loss, &c);
    if (c.b) fd_check("dbias", c.b, O, ab, lin_loss, &c);
    float *xf = to_f32(c.x, nx), *Wf = to_f32(c.W, nw), *bf = c.b ? to_f32(c.b, O) : NULL;
    float *Rf = to_f32(c.R, no), *of = falloc(no), *dxf = to_f32(g0x, nx), *dWf = to_f32(g0w, nw),
          *dbf = to_f32(g0b, O);
    lc_linear_forward(of, xf, Wf, bf, N, I, O);
    lc_linear_backward_input(dxf, Rf, Wf, N, I, O);
    lc_linear_backward_weight(dWf, bf ? dbf : NULL, Rf, xf, N, I, O);
    check_close_f("f32 out vs f64", of, c.out, no, F32_RTOL);
    check_close_f("f32 dinp vs f64", dxf, dx, nx, F32_RTOL);
    check_close_f("f32 dW vs f64", dWf, dW, nw, F32_RTOL);
    check_close_f("f32 dbias vs f64", dbf, db, O, F32_RTOL);
    free(c.out), free(c.x), free(c.W), free(c.b), free(c.R), free(ref), free(g0x), free(g0w);
    free(g0b), free(dx), free(dW), free(db), free(ax), free(aw), free(ab), free(xf), free(Wf);
    free(bf), free(Rf), free(of), free(dxf), free(dWf), free(dbf);
}

static void test_linear(void)
{
    test_linear_cfg(1);
    test_linear_cfg(0);
}

/* ---- lm head + cross-entropy ------------------------------------------------ */

typedef struct {
    double *hid, *W, *scratch, gs;
    int *tg;
    int N, C, V, chunk;
} xent_ctx;

static double xent_loss(void *p)
{
    xent_ctx *c = p;
    return c->gs * lc_lmhead_xent_f64(NULL, c->hid, c->W, c->tg, c->N, c->C, c->V, 0, c->scratch,
                                      c->chunk);
}

static void test_lmhead(void)
{
    const int N = 13, C = 24, V = 97, chunk = 4;
    const size_t nh = (size_t)N * C, nw = (size_t)V * C;
    int tg[13];
    int ntarget = 0;
    for (int n = 0; n < N; n++) {
        tg[n] = (n % 3 == 1) ? -1 : (int)lc_rng_below(&g_rng, V);
        ntarget += tg[n] >= 0;
    }
    tg[N - 1] = V - 1;
    xent_ctx c = {dalloc(nh), dalloc(nw), dalloc(lc_lmhead_xent_scratch_floats(chunk, C, V)),
                  1.0 / ntarget, tg, N, C, V, chunk};
    randn(c.hid, nh, 1.0), randn(c.W, nw, 0.5);
    /* naive loss over the target rows */
    double ref = 0;
    for (int n = 0; n < N; n++) {
        if (tg[n] < 0) continue;
        double mx = -INFINITY, sum = 0, *lg = dalloc(V);
        for (int v = 0; v < V; v++) lg[v] = dot(c.hid + n * C, c.W + v * C, C), mx = fmax(mx, lg[v]);
        for (int v = 0; v < V; v++) sum += exp(lg[v] - mx);
        ref += mx + log(sum) - lg[tg[n]];
        free(lg);
    }
    double g0v = 0.25;
    double *dh = dalloc(nh), *an = dalloc(nh);
    for (size_t i = 0; i < nh; i++) dh[i] = g0v;
    double loss = lc_lmhead_xent_f64(dh, c.hid, c.W, tg, N, C, V, c.gs, c.scratch, chunk);
    double loss_nograd = xent_loss(&c) / c.gs;
    check_close("loss vs naive", &loss, &ref, 1, 1e-13);
    check_close("loss without dhidden", &loss_nograd, &ref, 1, 1e-13);
    int skipped_untouched = 1;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < C; i++) {
            an[n * C + i] = dh[n * C + i] - g0v;
            if (tg[n] < 0 && dh[n * C + i] != g0v) skipped_untouched = 0;
        }
    expect(skipped_untouched, "rows with target -1 untouched");
    fd_check("dhidden", c.hid, nh, an, xent_loss, &c);
    float *hf = to_f32(c.hid, nh), *Wf = to_f32(c.W, nw), *dhf = falloc(nh);
    float *sf = falloc(lc_lmhead_xent_scratch_floats(chunk, C, V));
    for (size_t i = 0; i < nh; i++) dhf[i] = (float)g0v;
    double lossf = lc_lmhead_xent(dhf, hf, Wf, tg, N, C, V, (float)c.gs, sf, chunk);
    check_close("f32 loss vs f64", &lossf, &loss, 1, F32_RTOL);
    check_close_f("f32 dhidden vs f64", dhf, dh, nh, F32_RTOL);
    int none[3] = {-1, -1, -1};
    double z = lc_lmhead_xent(dhf, hf, Wf, none, 3, C, V, 1.0f, sf, chunk);
    expect(z == 0, "all targets -1: loss 0");
    free(c.hid), free(c.W), free(c.scratch), free(dh), free(an), free(hf), free(Wf), free(dhf);
    free(sf);
}

/* ---- lm head + cross-entropy with replaced rows (trainable tokens) ------------ */

typedef struct {
    double *hid, *W, *rows, *scratch, gs;
    int *tg, *ids;
    int N, C, V, n, chunk;
} xent_rows_ctx;

static double xent_rows_loss(void *p)
{
    xent_rows_ctx *c = p;
    return c->gs * lc_lmhead_xent_rows_f64(NULL, NULL, c->hid, c->W, c->tg, c->N, c->C, c->V, 0, c->ids, c->rows,
                                           c->n, c->scratch, c->chunk);
}

/* lc_lmhead_xent_rows: loss and dhidden equal lc_lmhead_xent on W with the
 * rows replaced (1e-13 rel: the same sums in another order), the rows'
 * gradient against central differences, accumulation, float vs double. */
static void test_lmhead_rows(void)
{
    const int N = 13, C = 24, V = 97, chunk = 4, n = 3;
    const size_t nh = (size_t)N * C, nw = (size_t)V * C, nr = (size_t)n * C;
    int tg[13], ids[3] = {5, 40, V - 1}, ntarget = 0;
    for (int i = 0; i < N; i++) {
        tg[i] = (i % 3 == 1) ? -1 : (int)lc_rng_below(&g_rng, V);
        ntarget += tg[i] >= 0;
    }
    tg[0] = 40, tg[N - 1] = V - 1; /* replaced rows as targets too */
    xent_rows_ctx c = {dalloc(nh), dalloc(nw), dalloc(nr), dalloc(lc_lmhead_xent_scratch_floats(chunk, C, V)),
                       1.0 / ntarget, tg, ids, N, C, V, n, chunk};
    randn(c.hid, nh, 1.0), randn(c.W, nw, 0.5), randn(c.rows, nr, 0.5);
    double *W2 = dalloc(nw), *dh = dalloc(nh), *dh2 = dalloc(nh), *dr = dalloc(nr), *an = dalloc(nr);
    memcpy(W2, c.W, nw * sizeof(double));
    for (int j = 0; j < n; j++) memcpy(W2 + (size_t)ids[j] * C, c.rows + (size_t)j * C, C * sizeof(double));
    const double g0v = 0.25;
    for (size_t i = 0; i < nh; i++) dh[i] = dh2[i] = g0v;
    for (size_t i = 0; i < nr; i++) dr[i] = g0v;
    double loss = lc_lmhead_xent_rows_f64(dh, dr, c.hid, c.W, tg, N, C, V, c.gs, ids, c.rows, n, c.scratch, chunk);
    double ref = lc_lmhead_xent_f64(dh2, c.hid, W2, tg, N, C, V, c.gs, c.scratch, chunk);
    check_close("loss vs xent on the replaced W", &loss, &ref, 1, 1e-13);
    check_close("dhidden vs xent on the replaced W", dh, dh2, nh, 1e-13);
    for (size_t i = 0; i < nr; i++) an[i] = dr[i] - g0v;
    fd_check("d rows", c.rows, nr, an, xent_rows_loss, &c);
    double base = lc_lmhead_xent_f64(NULL, c.hid, c.W, tg, N, C, V, 0, c.scratch, chunk);
    expect(fabs(base - loss) > 1e-3 * fabs(loss), "the replaced rows change the loss (the check can fail)");
    float *hf = to_f32(c.hid, nh), *Wf = to_f32(c.W, nw), *rf = to_f32(c.rows, nr);
    float *dhf = falloc(nh), *drf = falloc(nr);
    float *sf = falloc(lc_lmhead_xent_scratch_floats(chunk, C, V));
    for (size_t i = 0; i < nh; i++) dhf[i] = (float)g0v;
    for (size_t i = 0; i < nr; i++) drf[i] = (float)g0v;
    double lossf = lc_lmhead_xent_rows(dhf, drf, hf, Wf, tg, N, C, V, (float)c.gs, ids, rf, n, sf, chunk);
    check_close("f32 loss vs f64", &lossf, &loss, 1, F32_RTOL);
    check_close_f("f32 dhidden vs f64", dhf, dh, nh, F32_RTOL);
    check_close_f("f32 d rows vs f64", drf, dr, nr, F32_RTOL);
    free(c.hid), free(c.W), free(c.rows), free(c.scratch), free(W2), free(dh), free(dh2), free(dr), free(an);
    free(hf), free(Wf), free(rf), free(dhf), free(drf), free(sf);
}

/* ---- AdamW -------------------------------------------------------------------- */

/* torch.optim.AdamW's single-tensor step, entirely in double. */
static void adamw_ref(double *p, const double *g, double *m, double *v, size_t n, double lr,
                      double b1, double b2, double eps, double wd, long t)
{
    double bc1 = 1 - pow(b1, (double)t), bc2 = 1 - pow(b2, (double)t);
    for (size_t i = 0; i < n; i++) {
        p[i] *= 1 - lr * wd;
        m[i] += (1 - b1) * (g[i] - m[i]);
        v[i] = v[i] * b2 + (1 - b2) * g[i] * g[i];
        double denom = sqrt(v[i]) / sqrt(bc2) + eps;
        p[i] += -(lr / bc1) * m[i] / denom;
    }
}

static void test_adamw_cfg(float lr, float b1, float b2, float eps, float wd)
{
    const size_t n = 100003; /* above the OpenMP threshold, odd length */
    const int steps = 6;
    printf(" config lr=%g beta1=%g beta2=%g eps=%g wd=%g, %d steps\n", lr, b1, b2, eps, wd, steps);
    double *p = dalloc(n), *m = dalloc(n), *v = dalloc(n), *g = dalloc(n);
    randn(p, n, 0.1);
    float *pf = to_f32(p, n), *mf = falloc(n), *vf = falloc(n), *gf = falloc(n);
    for (long t = 1; t <= steps; t++) {
        randn(g, n, 1e-2);
        g[0] = 0;    /* a parameter that never gets a gradient */
        g[1] = 1e-9; /* tiny gradients: eps dominates */
        for (size_t i = 0; i < n; i++) gf[i] = (float)g[i];
        lc_adamw_step(pf, gf, mf, vf, n, lr, b1, b2, eps, wd, t);
        adamw_ref(p, g, m, v, n, lr, b1, b2, eps, wd, t);
    }
    /* float rounding per step: p is rounded about twice (decay, update),
     * 2 * 6e-8 |p|, and the lr-sized update carries a few ulps of itself;
     * m and v ~1e-7 relative to the size of their terms */
    double *pf64 = to_f64(pf, n), *mf64 = to_f64(mf, n), *vf64 = to_f64(vf, n);
    check_close_tol("param vs double torch formula", pf64, p, n, steps * 1.2e-7,
                    steps * 7.2e-7 * lr);
    check_close_floor("m vs double torch formula", mf64, m, n, 1e-6, 0.1);
    check_close_floor("v vs double torch formula", vf64, v, n, 1e-6, 0.1);
    free(pf64), free(mf64), free(vf64);
    free(p), free(m), free(v), free(g), free(pf), free(mf), free(vf), free(gf);
}

static void test_adamw(void)
{
    test_adamw_cfg(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f);
    test_adamw_cfg(5e-2f, 0.6f, 0.95f, 1e-6f, 0.1f); /* |1-beta1| >= 0.5: torch's other lerp branch */
}

/* ---- sum of squares, scale ----------------------------------------------------- */

static void test_sumsq(void)
{
    size_t sizes[3] = {0, 1001, 300007};
    for (int k = 0; k < 3; k++) {
        size_t n = sizes[k];
        float *x = falloc(n);
        long double ref = 0;
        for (size_t i = 0; i < n; i++) {
            x[i] = lc_rng_normal(&g_rng) * (i % 7 == 0 ? 100.0f : 1.0f);
            ref += (long double)x[i] * x[i];
        }
        double got = lc_sum_squares(x, n), r = (double)ref;
        char label[64];
        snprintf(label, sizeof label, "sum_squares n=%zu", n);
        check_close(label, &got, &r, 1, 1e-13);
        expect(lc_sum_squares(x, n) == got, "sum_squares deterministic");
        lc_scale(x, n, 0.5f);
        double got2 = lc_sum_squares(x, n), r2 = r / 4;
        check_close("after lc_scale(0.5)", &got2, &r2, 1, 1e-13);
        free(x);
    }
}

int main(int argc, char **argv)
{
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    static const struct {
        const char *name;
        void (*fn)(void);
    } groups[] = {{"rmsnorm", test_rmsnorm}, {"rope", test_rope},     {"swiglu", test_swiglu},
                  {"linear", test_linear},   {"lmhead", test_lmhead}, {"adamw", test_adamw},
                  {"sumsq", test_sumsq},     {"qknorm", test_qknorm}, {"rope_scaled", test_rope_scaled},
                  {"lmhead_rows", test_lmhead_rows}};
    const int ng = (int)(sizeof groups / sizeof groups[0]);
    lc_rng_seed(&g_rng, 1234);
    int ran = 0;
    for (int i = 0; i < ng; i++) {
        if (argc > 1 && strcmp(argv[1], groups[i].name) != 0) continue;
        printf("[%s]\n", groups[i].name);
        groups[i].fn();
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "test_kernels: unknown group '%s'\n", argv[1]);
        return 2;
    }
    printf(g_fail ? "FAILED\n" : "all passed\n");
    return g_fail ? 1 : 0;
}
