/*
 * kernels_speed.c — timing of the heavy kernels at SmolLM2-135M training
 * shapes (B=4, T=256, C=576, Hq=9, Hkv=3, hd=64, V=49152), to see whether
 * they are bottlenecks. Not a test: prints GFLOP/s and exits 0.
 *
 * Usage: kernels_speed [threads] [xent_chunk] [all|att|xent] [T]
 * T (default 256) sets the attention sequence length at a fixed 1024 tokens
 * (B = max(1, 1024 / T)); a bare sgemm of the MLP shape (B*T x 1536 x 576)
 * is timed in the same run as the GEMM rate attention is compared with.
 * FLOP counts: attention forward 4*P*hd, backward 10*P*hd (5 GEMMs, the
 * scores recomputed once), P = B*Hq*T(T+1)/2 causal pairs (the GEMM work of
 * the diagonal tiles' masked halves is not counted); LM head 2*N*C*V per GEMM
 * (2 GEMMs with gradient). A bare sgemm of the logits shape is timed as the
 * ceiling for lmhead_xent.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lc_cpu.h"
#include "lc_common.h"
#include "lc_kernels.h"

static float *rand_buf(lc_rng *rng, size_t n, float scale)
{
    float *p = lc_alloc(n * sizeof(float));
    LC_ASSERT(p);
    for (size_t i = 0; i < n; i++) p[i] = scale * lc_rng_normal(rng);
    return p;
}

/* Process CPU seconds. On a shared, loaded machine the second column,
 * flops / (cpu seconds / threads), estimates the uncontended rate better than
 * wall time does (it is optimistic when OpenMP threads sleep while waiting). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int g_threads = 1;

static void report(const char *what, double flops, double sec, double cpu)
{
    printf("  %-38s %8.2f ms %7.2f GFLOP/s | cpu/thr %8.2f ms %7.2f GFLOP/s\n", what,
           sec * 1e3, flops / sec * 1e-9, cpu * 1e3, flops / cpu * 1e-9);
}

/* Times a bare sgemm (N x 1536 x 576, the MLP's up projection) and prints
 * the attention rate `att_rate` (flops per cpu-second per thread) as a
 * fraction of it, both measured in this run. */
static void att_vs_gemm(int N, int C, double att_rate, lc_rng *rng)
{
    const int F = 1536;
    float *x = rand_buf(rng, (size_t)N * C, 1), *w = rand_buf(rng, (size_t)F * C, 1);
    float *y = lc_calloc((size_t)N * F * sizeof(float));
    LC_ASSERT(y);
    double tb = 1e30, cb = 0;
    for (int r = 0; r < 5; r++) {
        double c0 = cpu_now(), t0 = lc_time_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, F, C, 1, x, C, w, C, 0, y, F);
        double c1 = cpu_now(), t1 = lc_time_now();
        if (t1 - t0 < tb) tb = t1 - t0, cb = c1 - c0;
    }
    double fl = 2.0 * N * F * C;
    report("bare sgemm (N x 1536 x 576)", fl, tb, cb / g_threads);
    printf("  attention / sgemm (cpu/thr rates): %.2f\n", att_rate / (fl / (cb / g_threads)));
    lc_free(x), lc_free(w), lc_free(y);
}

int main(int argc, char **argv)
{
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    int threads = g_threads = lc_threads_init(argc > 1 ? atoi(argv[1]) : 0);
    int chunk = argc > 2 ? atoi(argv[2]) : 128;
    const char *what = argc > 3 ? argv[3] : "all";
    if (chunk < 1 || chunk > LC_XENT_MAX_CHUNK) {
        fprintf(stderr, "kernels_speed: chunk must be in [1, %d]\n", LC_XENT_MAX_CHUNK);
        return 2;
    }
    const int T = argc > 4 ? atoi(argv[4]) : 256, B = T < 1024 ? 1024 / (T > 0 ? T : 1) : 1;
    const int C = 576, Hq = 9, Hkv = 3, hd = 64, V = 49152, N = B * T;
    if (T < 1 || T > (1 << 20)) {
        fprintf(stderr, "kernels_speed: T must be in [1, 2^20]\n");
        return 2;
    }
    const int reps = T <= 1024 ? 10 : 3;
    lc_rng rng;
    lc_rng_seed(&rng, 7);
    printf("kernels_speed: %d threads, B=%d T=%d C=%d Hq=%d Hkv=%d hd=%d V=%d chunk=%d\n", threads,
           B, T, C, Hq, Hkv, hd, V, chunk);

    /* attention */
    size_t nq = (size_t)N * Hq * hd, nk = (size_t)N * Hkv * hd;
    float *q = rand_buf(&rng, nq, 1), *k = rand_buf(&rng, nk, 1), *v = rand_buf(&rng, nk, 1);
    float *dout = rand_buf(&rng, nq, 1), *out = lc_calloc(nq * 4), *lse = lc_calloc((size_t)B * Hq * T * 4);
    float *dq = lc_calloc(nq * 4), *dk = lc_calloc(nk * 4), *dv = lc_calloc(nk * 4);
    double P = (double)B * Hq * T * (T + 1) / 2;
    double tf = 1e30, tb = 1e30, cf = 0, cb = 0;
    for (int r = 0; r < reps && strcmp(what, "xent") != 0; r++) {
        double c0 = cpu_now(), t0 = lc_time_now();
        lc_attention_forward(out, lse, q, k, v, B, T, Hq, Hkv, hd);
        double c1 = cpu_now(), t1 = lc_time_now();
        lc_attention_backward(dq, dk, dv, dout, out, lse, q, k, v, B, T, Hq, Hkv, hd);
        double c2 = cpu_now(), t2 = lc_time_now();
        if (t1 - t0 < tf) tf = t1 - t0, cf = c1 - c0;
        if (t2 - t1 < tb) tb = t2 - t1, cb = c2 - c1;
    }
    if (strcmp(what, "xent") != 0) {
    printf("attention (best of %d):\n", reps);
    report("forward", 4 * P * hd, tf, cf / g_threads);
    report("backward", 10 * P * hd, tb, cb / g_threads);
    report("forward + backward", 14 * P * hd, tf + tb, (cf + cb) / g_threads);
    printf("  x30 layers: %.0f ms per micro-batch\n", 30 * (tf + tb) * 1e3);
    att_vs_gemm(N, C, 14 * P * hd / ((cf + cb) / g_threads), &rng);
    }

    /* LM head + cross-entropy */
    float *hid = rand_buf(&rng, (size_t)N * C, 1), *W = rand_buf(&rng, (size_t)V * C, 0.05f);
    float *dh = lc_calloc((size_t)N * C * 4);
    float *scratch = lc_alloc(lc_lmhead_xent_scratch_floats(chunk, C, V) * sizeof(float));
    int *tg = malloc(N * sizeof(int));
    LC_ASSERT(hid && W && dh && scratch && tg);
    for (int n = 0; n < N; n++) tg[n] = n % 5 == 0 ? -1 : (int)lc_rng_below(&rng, V);
    int nt = 0;
    for (int n = 0; n < N; n++) nt += tg[n] >= 0;
    double tl = 1e30, tg2 = 1e30, ts = 1e30, cl = 0, cg = 0, cs = 0, loss = 0;
    for (int r = 0; r < 3 && strcmp(what, "att") != 0; r++) {
        double c0 = cpu_now(), t0 = lc_time_now();
        loss = lc_lmhead_xent(NULL, hid, W, tg, N, C, V, 0, scratch, chunk);
        double c1 = cpu_now(), t1 = lc_time_now();
        lc_lmhead_xent(dh, hid, W, tg, N, C, V, 1.0f / nt, scratch, chunk);
        double c2 = cpu_now(), t2 = lc_time_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, chunk, V, C, 1, hid, C, W, C, 0,
                    scratch, V);
        double c3 = cpu_now(), t3 = lc_time_now();
        if (t1 - t0 < tl) tl = t1 - t0, cl = c1 - c0;
        if (t2 - t1 < tg2) tg2 = t2 - t1, cg = c2 - c1;
        if (t3 - t2 < ts) ts = t3 - t2, cs = c3 - c2;
    }
    if (strcmp(what, "att") != 0) {
    printf("lmhead_xent, %d target rows of %d (best of 3), mean loss %.4f:\n", nt, N, loss / nt);
    report("loss only (1 GEMM + softmax)", 2.0 * nt * C * V, tl, cl / g_threads);
    report("loss + dhidden (2 GEMMs + softmax)", 4.0 * nt * C * V, tg2, cg / g_threads);
    report("bare sgemm (chunk x V x C)", 2.0 * chunk * C * V, ts, cs / g_threads);
    }
    lc_free(q), lc_free(k), lc_free(v), lc_free(dout), lc_free(out), lc_free(lse);
    lc_free(dq), lc_free(dk), lc_free(dv), lc_free(hid), lc_free(W), lc_free(dh);
    lc_free(scratch), free(tg);
    return 0;
}
