/*
 * test_dora.c — the DoRA kernels (lc_dora_kernels.h) in double against central finite
 * differences, and the float kernels against the double ones.
 *
 * One DoRA projection, composed exactly as transformer.c composes it (frozen
 * matmul, LoRA GEMMs, lc_dora_forward / lc_dora_backward), in double:
 *   forward   y = x Wᵀ + b; lr = (x̃ Aᵀ) Bᵀ; y ← lc_dora_forward(y, lr, W x̃ | NULL)
 *   loss      L = Σ y ⊙ R   (so dy = R)
 *   backward  dmag, dyg = g ⊙ dy, dyg1 = (g - 1) ⊙ dy from lc_dora_backward;
 *             dB = s dygᵀ xa, dA = (s dyg B)ᵀ x̃, dx = the frozen path
 *             ((g⊙dy) W without dropout, dy W + D ⊙ (dyg1 W) with) + D ⊙ (s dyg B A)
 * with the norm n = ‖W + sBA‖ held at its value at the unperturbed A, B
 * (PEFT detaches it: the finite differences see it as a constant too), for
 * no dropout and a fixed dropout mask D (entries 0 or 1/(1-p)). Checked:
 *   - lc_dora_norms_f64 = ‖W + sBA‖ formed densely        rel 1e-12
 *   - FD of L w.r.t. A, B, magnitude, x and the bias       FD_RTOL (1e-6)
 *   - float kernels (norms, forward, backward) vs double   F32_RTOL (1e-5)
 * Exits non-zero on any failure.
 */
#include "kernel_check.h"

#include "lc_dora_kernels.h"

enum { N = 6, IN = 9, OUT = 7, R = 3 };
static const double S = 1.7;

typedef struct {
    double W[OUT * IN], b[OUT], A[R * IN], B[OUT * R], m[OUT], x[N * IN], Rw[N * OUT], D[N * IN];
    double norm[OUT];
    int dropout;
    double y[N * OUT], xd[N * IN], xa[N * R], lr[N * OUT], base[N * OUT], g[OUT];
} ctx_t;

/* C (M, K2) = X (M, K) · Y (K2, K)ᵀ */
static void mm_t(double *C, const double *X, const double *Y, int M, int K2, int K) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < K2; j++) C[i * K2 + j] = dot(X + (size_t)i * K, Y + (size_t)j * K, (size_t)K);
}

static void norms(ctx_t *c, double *out) {
    double WA[OUT * R], w2[OUT], gram[R * R];
    mm_t(WA, c->W, c->A, OUT, R, IN);
    for (int i = 0; i < OUT; i++) w2[i] = dot(c->W + i * IN, c->W + i * IN, IN);
    lc_dora_norms_f64(out, w2, WA, c->A, c->B, S, IN, OUT, R, gram);
}

static double forward(void *p) {
    ctx_t *c = p;
    for (int i = 0; i < N * IN; i++) c->xd[i] = c->dropout ? c->D[i] * c->x[i] : c->x[i];
    mm_t(c->y, c->x, c->W, N, OUT, IN);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) c->y[n * OUT + o] += c->b[o];
    mm_t(c->xa, c->xd, c->A, N, R, IN);
    mm_t(c->lr, c->xa, c->B, N, OUT, R);
    mm_t(c->base, c->xd, c->W, N, OUT, IN);
    lc_dora_gain_f64(c->g, c->m, c->norm, OUT);
    lc_dora_forward_f64(c->y, c->lr, c->dropout ? c->base : NULL, c->b, c->g, S, N, OUT);
    return dot(c->y, c->Rw, N * OUT);
}

static void run_case(int dropout) {
    printf("DoRA projection, %s:\n", dropout ? "dropout p = 0.3 (fixed mask)" : "no dropout");
    ctx_t *c = calloc(1, sizeof *c);
    randn(c->W, OUT * IN, 0.5);
    randn(c->b, OUT, 0.3);
    randn(c->A, R * IN, 0.4);
    randn(c->B, OUT * R, 0.4);
    randn(c->x, N * IN, 1.0);
    randn(c->Rw, N * OUT, 1.0);
    c->dropout = dropout;
    for (int i = 0; i < N * IN; i++) c->D[i] = lc_rng_uniform(&g_rng) < 0.3 ? 0.0 : 1.0 / 0.7;
    /* the norm against W + sBA formed densely */
    double dense[OUT];
    for (int i = 0; i < OUT; i++) {
        double ss = 0;
        for (int j = 0; j < IN; j++) {
            double ba = 0;
            for (int k = 0; k < R; k++) ba += c->B[i * R + k] * c->A[k * IN + j];
            double w = c->W[i * IN + j] + S * ba;
            ss += w * w;
        }
        dense[i] = sqrt(ss);
    }
    norms(c, c->norm);
    check_close_tol("norms vs dense ||W + sBA||", c->norm, dense, OUT, 1e-12, 0);
    for (int i = 0; i < OUT; i++) c->m[i] = c->norm[i] * (0.7 + 0.6 * lc_rng_uniform(&g_rng));
    forward(c);
    /* analytic backward, as transformer.c composes it */
    double dmag[OUT] = {0}, dyg[N * OUT], dyg1[N * OUT], dA[R * IN] = {0}, dB[OUT * R] = {0}, dx[N * IN] = {0};
    double db[OUT] = {0}, dxa[N * R] = {0};
    lc_dora_backward_f64(dmag, dyg, dyg1, c->Rw, c->base, c->lr, c->norm, c->g, S, N, OUT);
    const double *dyw = dropout ? c->Rw : dyg; /* the frozen matmul's dy */
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            db[o] += c->Rw[n * OUT + o];
            for (int j = 0; j < IN; j++) {
                dx[n * IN + j] += dyw[n * OUT + o] * c->W[o * IN + j];
                if (dropout) dx[n * IN + j] += c->D[n * IN + j] * dyg1[n * OUT + o] * c->W[o * IN + j];
            }
            for (int k = 0; k < R; k++) {
                dB[o * R + k] += S * dyg[n * OUT + o] * c->xa[n * R + k];
                dxa[n * R + k] += S * dyg[n * OUT + o] * c->B[o * R + k];
            }
        }
    for (int n = 0; n < N; n++)
        for (int k = 0; k < R; k++)
            for (int j = 0; j < IN; j++) {
                dA[k * IN + j] += dxa[n * R + k] * c->xd[n * IN + j];
                dx[n * IN + j] += (dropout ? c->D[n * IN + j] : 1.0) * dxa[n * R + k] * c->A[k * IN + j];
            }
    fd_check("d/d magnitude", c->m, OUT, dmag, forward, c);
    fd_check("d/d lora_A (norm detached)", c->A, R * IN, dA, forward, c);
    fd_check("d/d lora_B (norm detached)", c->B, OUT * R, dB, forward, c);
    fd_check("d/d x", c->x, N * IN, dx, forward, c);
    fd_check("d/d bias", c->b, OUT, db, forward, c);

    /* float kernels vs double */
    float fA[R * IN], fB[OUT * R], fWA[OUT * R], fgram[R * R], fn[OUT];
    double w2[OUT], WA[OUT * R];
    mm_t(WA, c->W, c->A, OUT, R, IN);
    for (int i = 0; i < OUT; i++) w2[i] = dot(c->W + i * IN, c->W + i * IN, IN);
    for (int i = 0; i < R * IN; i++) fA[i] = (float)c->A[i];
    for (int i = 0; i < OUT * R; i++) fB[i] = (float)c->B[i], fWA[i] = (float)WA[i];
    lc_dora_norms(fn, w2, fWA, fA, fB, (float)S, IN, OUT, R, fgram);
    check_close_f("float norms vs double", fn, c->norm, OUT, F32_RTOL);
    float *fy = falloc(N * OUT), *flr = to_f32(c->lr, N * OUT), *fbase = to_f32(c->base, N * OUT);
    float *fg = to_f32(c->g, OUT), *fb = to_f32(c->b, OUT), *fdy = to_f32(c->Rw, N * OUT);
    float *fnorm = to_f32(c->norm, OUT), fdm[OUT] = {0}, *fdyg = falloc(N * OUT), *fdyg1 = falloc(N * OUT);
    double *yref = dalloc(N * OUT);
    /* forward from the same pre-DoRA y (x Wᵀ + b) */
    mm_t(yref, c->x, c->W, N, OUT, IN);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) yref[n * OUT + o] += c->b[o];
    for (int i = 0; i < N * OUT; i++) fy[i] = (float)yref[i];
    lc_dora_forward_f64(yref, c->lr, dropout ? c->base : NULL, c->b, c->g, S, N, OUT);
    lc_dora_forward(fy, flr, dropout ? fbase : NULL, fb, fg, (float)S, N, OUT);
    check_close_f("float forward vs double", fy, yref, N * OUT, F32_RTOL);
    lc_dora_backward(fdm, fdyg, fdyg1, fdy, fbase, flr, fnorm, fg, (float)S, N, OUT);
    check_close_f("float dmag vs double", fdm, dmag, OUT, F32_RTOL);
    check_close_f("float g*dy vs double", fdyg, dyg, N * OUT, F32_RTOL);
    check_close_f("float (g-1)*dy vs double", fdyg1, dyg1, N * OUT, F32_RTOL);
    free(fy), free(flr), free(fbase), free(fg), free(fb), free(fdy), free(fnorm), free(fdyg), free(fdyg1), free(yref);
    free(c);
}

int main(void) {
    lc_rng_seed(&g_rng, 4242);
    run_case(0);
    run_case(1);
    printf("%s\n", g_fail ? "FAIL" : "PASS");
    return g_fail;
}
