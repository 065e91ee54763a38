/*
 * test_norm_act.c — checks of the GPT-2 kernels: LayerNorm and GELU (tanh),
 * and Gemma's GeGLU (gelu_tanh(gate) * up).
 *
 * Usage: test_norm_act <group>, group one of layernorm gelu geglu (each its
 * own ctest, kernels_layernorm / kernels_gelu / kernels_geglu).
 *
 * As test_kernels.c: forward against the formula in double; every backward
 * against central finite differences of L = sum(R * out) (R random) with the
 * double twins (norm_act_f64.h) at 1e-6 relative, gradients pre-filled with
 * random values so accumulation is checked; then the public float kernels
 * against the double ones on identical inputs (1e-5 relative, floor 10% of
 * max|ref| for sums with cancellation). Prints max abs/rel error per tensor;
 * exits non-zero on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_cpu.h"
#include "lc_common.h"
#include "lc_kernels.h"
#include "norm_act_f64.h"

#define FD_H 1e-5
#define FD_RTOL 1e-6
#define F32_RTOL 1e-5
#define FORMULA_RTOL 1e-13
#define LN_EPS 1e-5f

#include "../lc_test.h"
static lc_rng g_rng;

static double *dalloc(size_t n) {
    double *p = calloc(n ? n : 1, sizeof(double));
    LC_ASSERT(p);
    return p;
}

static float *falloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    LC_ASSERT(p);
    return p;
}

/* scale * N(0,1) + shift, rounded to float so both variants see the same inputs. */
static void randn(double *x, size_t n, double scale, double shift) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(shift + scale * lc_rng_normal(&g_rng));
}

static float *to_f32(const double *x, size_t n) {
    float *y = falloc(n);
    for (size_t i = 0; i < n; i++) y[i] = (float)x[i];
    return y;
}

static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Pass when |got - ref| <= rtol (|ref| + floor * max|ref|) for every element. */
static void check_close(const char *what, const double *got, const double *ref, size_t n, double rtol,
                        double floor) {
    double maxref = 0, maxabs = 0, maxrel = 0;
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) maxref = fmax(maxref, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        double err = fabs(got[i] - ref[i]), den = fabs(ref[i]) + floor * maxref;
        double rel = den > 0 ? err / den : err;
        if (!(err <= rtol * den) && err != 0) {
            if (!bad) first = i;
            bad++;
        }
        if (err > maxabs || err != err) maxabs = err;
        if (rel > maxrel || rel != rel) maxrel = rel;
    }
    printf("  %-34s n=%-6zu max|ref|=%.3e max abs err=%.3e max rel err=%.3e (tol %.1e) %s\n", what, n,
           maxref, maxabs, maxrel, rtol, bad ? "FAIL" : "ok");
    if (bad) {
        printf("    %zu bad, first at %zu: got %.17g ref %.17g\n", bad, first, got[first], ref[first]);
        g_fail = 1;
    }
}

static void check_close_f(const char *what, const float *got, const double *ref, size_t n) {
    double *g = dalloc(n);
    for (size_t i = 0; i < n; i++) g[i] = got[i];
    check_close(what, g, ref, n, F32_RTOL, 0.1);
    free(g);
}

/* Central differences of loss() w.r.t. every x[i] against the analytic an[i]. */
typedef double (*loss_fn)(void *ctx);
static void fd_check(const char *what, double *x, size_t n, const double *an, loss_fn loss, void *ctx) {
    double *num = dalloc(n);
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i];
        x[i] = x0 + FD_H;
        double lp = loss(ctx);
        x[i] = x0 - FD_H;
        double lm = loss(ctx);
        x[i] = x0;
        num[i] = (lp - lm) / (2 * FD_H);
    }
    loss(ctx);
    char label[96];
    snprintf(label, sizeof label, "FD %s", what);
    check_close(label, an, num, n, FD_RTOL, 0.01);
    free(num);
}

/* ---- LayerNorm ------------------------------------------------------------ */

typedef struct {
    double *out, *mean, *rstd, *inp, *w, *b, *R;
    int N, C;
} ln_ctx;

static double ln_loss(void *p) {
    ln_ctx *c = p;
    lc_layernorm_forward_f64(c->out, c->mean, c->rstd, c->inp, c->w, c->b, c->N, c->C, LN_EPS);
    return dot(c->R, c->out, (size_t)c->N * c->C);
}

static void test_layernorm(void) {
    const int N = 6, C = 41;
    const size_t NC = (size_t)N * C;
    ln_ctx c = {dalloc(NC), dalloc(N), dalloc(N), dalloc(NC), dalloc(C), dalloc(C), dalloc(NC), N, C};
    randn(c.inp, NC, 2.0, 0.7); /* non-zero mean so centring matters */
    randn(c.w, C, 0.5, 1.0);
    randn(c.b, C, 0.5, 0.0);
    randn(c.R, NC, 1.0, 0.0);
    double *ref = dalloc(NC);
    for (int n = 0; n < N; n++) {
        const double *x = c.inp + (size_t)n * C;
        double mu = 0, var = 0;
        for (int i = 0; i < C; i++) mu += x[i] / C;
        for (int i = 0; i < C; i++) var += (x[i] - mu) * (x[i] - mu) / C;
        for (int i = 0; i < C; i++) ref[n * C + i] = (x[i] - mu) / sqrt(var + (double)LN_EPS) * c.w[i] + c.b[i];
    }
    ln_loss(&c);
    check_close("forward vs formula", c.out, ref, NC, FORMULA_RTOL, 0.01);
    /* backward accumulates onto g0: dinp - g0 is the gradient of L */
    double *g0 = dalloc(NC), *dinp = dalloc(NC), *an = dalloc(NC);
    randn(g0, NC, 1.0, 0.0);
    memcpy(dinp, g0, NC * sizeof(double));
    lc_layernorm_backward_f64(dinp, c.R, c.inp, c.w, c.mean, c.rstd, N, C);
    for (size_t i = 0; i < NC; i++) an[i] = dinp[i] - g0[i];
    fd_check("dinp", c.inp, NC, an, ln_loss, &c);
    /* float kernels vs double */
    float *fo = falloc(NC), *fm = falloc(N), *fr = falloc(N), *fi = to_f32(c.inp, NC), *fw = to_f32(c.w, C),
          *fb = to_f32(c.b, C), *fR = to_f32(c.R, NC), *fd = to_f32(g0, NC);
    lc_layernorm_forward(fo, fm, fr, fi, fw, fb, N, C, LN_EPS);
    check_close_f("float forward out", fo, c.out, NC);
    check_close_f("float forward rstd", fr, c.rstd, N);
    lc_layernorm_backward(fd, fR, fi, fw, fm, fr, N, C);
    check_close_f("float backward dinp (accumulated)", fd, dinp, NC);
    free(fo), free(fm), free(fr), free(fi), free(fw), free(fb), free(fR), free(fd);
    free(g0), free(dinp), free(an), free(ref);
    free(c.out), free(c.mean), free(c.rstd), free(c.inp), free(c.w), free(c.b), free(c.R);
}

/* ---- GELU (tanh) ------------------------------------------------------------ */

typedef struct {
    double *h, *x, *R;
    size_t n;
} gelu_ctx;

static double gelu_loss(void *p) {
    gelu_ctx *c = p;
    lc_gelu_tanh_forward_f64(c->h, c->x, c->n);
    return dot(c->R, c->h, c->n);
}

static void test_gelu(void) {
    const size_t n = 301;
    gelu_ctx c = {dalloc(n), dalloc(n), dalloc(n), n};
    randn(c.x, n, 3.0, 0.0);
    c.x[0] = 0, c.x[1] = -12, c.x[2] = 12; /* centre and both saturated tails */
    randn(c.R, n, 1.0, 0.0);
    double *ref = dalloc(n);
    for (size_t i = 0; i < n; i++) {
        double x = c.x[i];
        ref[i] = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    }
    gelu_loss(&c);
    check_close("forward vs formula", c.h, ref, n, FORMULA_RTOL, 0.01);
    double *g0 = dalloc(n), *dx = dalloc(n), *an = dalloc(n);
    randn(g0, n, 1.0, 0.0);
    memcpy(dx, g0, n * sizeof(double));
    lc_gelu_tanh_backward_f64(dx, c.R, c.x, n);
    for (size_t i = 0; i < n; i++) an[i] = dx[i] - g0[i];
    fd_check("dx", c.x, n, an, gelu_loss, &c);
    float *fh = falloc(n), *fx = to_f32(c.x, n), *fR = to_f32(c.R, n), *fd = to_f32(g0, n);
    lc_gelu_tanh_forward(fh, fx, n);
    check_close_f("float forward", fh, c.h, n);
    lc_gelu_tanh_backward(fd, fR, fx, n);
    check_close_f("float backward dx (accumulated)", fd, dx, n);
    free(fh), free(fx), free(fR), free(fd), free(g0), free(dx), free(an), free(ref);
    free(c.h), free(c.x), free(c.R);
}

/* ---- GeGLU ------------------------------------------------------------------ */

typedef struct {
    double *h, *gate, *up, *R;
    size_t n;
} geglu_ctx;

static double geglu_loss(void *p) {
    geglu_ctx *c = p;
    lc_geglu_forward_f64(c->h, c->gate, c->up, c->n);
    return dot(c->R, c->h, c->n);
}

static void test_geglu(void) {
    const size_t n = 301;
    geglu_ctx c = {dalloc(n), dalloc(n), dalloc(n), dalloc(n), n};
    randn(c.gate, n, 3.0, 0.0);
    randn(c.up, n, 1.5, 0.2);
    c.gate[0] = 0, c.gate[1] = -12, c.gate[2] = 12; /* centre and both saturated tails */
    randn(c.R, n, 1.0, 0.0);
    double *ref = dalloc(n);
    for (size_t i = 0; i < n; i++) {
        double x = c.gate[i];
        ref[i] = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))) * c.up[i];
    }
    geglu_loss(&c);
    check_close("forward vs formula", c.h, ref, n, FORMULA_RTOL, 0.01);
    double *g0 = dalloc(n), *u0 = dalloc(n), *dg = dalloc(n), *du = dalloc(n), *ag = dalloc(n), *au = dalloc(n);
    randn(g0, n, 1.0, 0.0);
    randn(u0, n, 1.0, 0.0);
    memcpy(dg, g0, n * sizeof(double));
    memcpy(du, u0, n * sizeof(double));
    lc_geglu_backward_f64(dg, du, c.R, c.gate, c.up, n);
    for (size_t i = 0; i < n; i++) ag[i] = dg[i] - g0[i], au[i] = du[i] - u0[i];
    fd_check("dgate", c.gate, n, ag, geglu_loss, &c);
    fd_check("dup", c.up, n, au, geglu_loss, &c);
    float *fh = falloc(n), *fg = to_f32(c.gate, n), *fu = to_f32(c.up, n), *fR = to_f32(c.R, n),
          *fdg = to_f32(g0, n), *fdu = to_f32(u0, n);
    lc_geglu_forward(fh, fg, fu, n);
    check_close_f("float forward", fh, c.h, n);
    lc_geglu_backward(fdg, fdu, fR, fg, fu, n);
    check_close_f("float backward dgate (accumulated)", fdg, dg, n);
    check_close_f("float backward dup (accumulated)", fdu, du, n);
    lc_geglu_forward(fg, fg, fu, n); /* h may alias gate */
    check_close_f("float forward in place", fg, c.h, n);
    free(fh), free(fg), free(fu), free(fR), free(fdg), free(fdu);
    free(g0), free(u0), free(dg), free(du), free(ag), free(au), free(ref);
    free(c.h), free(c.gate), free(c.up), free(c.R);
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    static const struct {
        const char *name;
        void (*fn)(void);
    } groups[] = {{"layernorm", test_layernorm}, {"gelu", test_gelu}, {"geglu", test_geglu}};
    lc_rng_seed(&g_rng, 4321);
    int ran = 0;
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        if (argc > 1 && strcmp(argv[1], groups[i].name)) continue;
        printf("[%s]\n", groups[i].name);
        groups[i].fn();
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "test_norm_act: unknown group '%s'\n", argv[1]);
        return 2;
    }
    printf(g_fail ? "FAILED\n" : "all passed\n");
    return g_fail ? 1 : 0;
}
