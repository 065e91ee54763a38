/*
 * bench_train_fuse.c — would fusing the frozen projections that share an
 * input into one GEMM (q/k/v: X·[Wq;Wk;Wv]ᵀ; gate/up: X·[Wg;Wu]ᵀ; backward
 * dX = [dQ dK dV]·[Wq;Wk;Wv]) make bench_train's frozen matmuls faster?
 *
 * The shapes are bench_train's job (SmolLM2-135M: C = 576, q 576, k/v 192,
 * gate/up 1536; N = B·T = 1024 rows). transformer.c's frozen_matmul_f32
 * splits the rows into P parts (P = threads) and runs one single-threaded
 * sgemm per part, so the unit that fusing changes is one thread's sgemm on
 * N/P rows. For each group (qkv, gate_up) and direction this times, on
 * that many rows and one thread:
 *   separate    one sgemm per projection (today's code; backward accumulates)
 *   fused       one sgemm against the stacked weight (N/P, Σout): the best
 *               case, with outputs/gradients already in one strided buffer
 *   fused+copy  the fused sgemm plus the copy that keeps today's separate
 *               activation buffers: scatter of the (rows, Σout) output into
 *               them (forward), gather of dq|dk|dv into one buffer (backward)
 * over L = 30 layers' weights (cold in cache, as in a pass), best of --reps.
 * Time is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID): on a machine
 * shared with other processes it is far steadier than wall time, which is
 * what lets a difference of a few percent be seen at all. Every variant
 * computes the same products, so the rates are GFLOP/s of the same work.
 * Output: a table on stderr, one JSON line on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lc_common.h"

#include <cblas.h>

#define BF_C 576
#define BF_L 30
#define BF_MAXP 3

typedef struct {
    const char *name;
    int n, out[BF_MAXP], sum; /* projections, their output widths, Σout */
    float *w[BF_L];           /* (Σout, C) stacked weights per layer; projection j = rows [off_j, off_j + out_j) */
} group;

static double thread_cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *filled(size_t n, unsigned salt) {
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_train_fuse: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)(((i + salt) * 2654435761u) % 1000u) * 1e-3f - 0.5f;
    return p;
}

/* Forward of one layer on M rows: y_j (M, out_j) = x (M, C) · W_jᵀ.
 * mode 0 separate, 1 fused into yf (M, Σout), 2 fused then scattered. */
static void forward(const group *g, const float *w, const float *x, float **y, float *yf, int M, int mode) {
    if (mode == 0) {
        for (int j = 0, off = 0; j < g->n; off += g->out[j], j++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, g->out[j], BF_C, 1.0f, x, BF_C,
                        w + (size_t)off * BF_C, BF_C, 0.0f, y[j], g->out[j]);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, g->sum, BF_C, 1.0f, x, BF_C, w, BF_C, 0.0f, yf, g->sum);
    if (mode == 1) return;
    for (int r = 0; r < M; r++)
        for (int j = 0, off = 0; j < g->n; off += g->out[j], j++)
            memcpy(y[j] + (size_t)r * g->out[j], yf + (size_t)r * g->sum + off, (size_t)g->out[j] * sizeof(float));
}

/* Backward to the input of one layer on M rows: dx (M, C) += Σ_j dy_j · W_j.
 * mode 0 separate (accumulating), 1 fused from dyf (M, Σout), 2 gathered into dyf first. */
static void backward(const group *g, const float *w, float **dy, float *dyf, float *dx, int M, int mode) {
    if (mode == 0) {
        for (int j = 0, off = 0; j < g->n; off += g->out[j], j++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, BF_C, g->out[j], 1.0f, dy[j], g->out[j],
                        w + (size_t)off * BF_C, BF_C, 1.0f, dx, BF_C);
        return;
    }
    if (mode == 2)
        for (int r = 0; r < M; r++)
            for (int j = 0, off = 0; j < g->n; off += g->out[j], j++)
                memcpy(dyf + (size_t)r * g->sum + off, dy[j] + (size_t)r * g->out[j],
                       (size_t)g->out[j] * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, BF_C, g->sum, 1.0f, dyf, g->sum, w, BF_C, 1.0f, dx, BF_C);
}

/* Best-of-reps GFLOP/s of the six variants (forward 0..2, backward 0..2) of
 * group g on M rows, the variants interleaved within each repetition so a
 * change of load hits them alike. */
static void time_group(const group *g, int M, int reps, double gflops[6]) {
    float *x = filled((size_t)M * BF_C, 1), *dx = filled((size_t)M * BF_C, 2);
    float *yf = filled((size_t)M * g->sum, 3), *y[BF_MAXP];
    for (int j = 0; j < g->n; j++) y[j] = filled((size_t)M * g->out[j], 4 + (unsigned)j);
    double best[6] = {1e30, 1e30, 1e30, 1e30, 1e30, 1e30};
    for (int rep = 0; rep < reps; rep++)
        for (int v = 0; v < 6; v++) {
            double t0 = thread_cpu_now();
            for (int l = 0; l < BF_L; l++) {
                if (v < 3) forward(g, g->w[l], x, y, yf, M, v);
                else backward(g, g->w[l], y, yf, dx, M, v - 3);
            }
            double dt = thread_cpu_now() - t0;
            if (dt < best[v]) best[v] = dt;
        }
    for (int v = 0; v < 6; v++) gflops[v] = 2.0 * BF_L * M * (double)g->sum * BF_C / best[v] / 1e9;
    free(x), free(dx), free(yf);
    for (int j = 0; j < g->n; j++) free(y[j]);
}

static void group_init(group *g, const char *name, int n, const int *out) {
    g->name = name, g->n = n, g->sum = 0;
    for (int j = 0; j < n; j++) g->out[j] = out[j], g->sum += out[j];
    for (int l = 0; l < BF_L; l++) g->w[l] = filled((size_t)g->sum * BF_C, 100u + (unsigned)l);
}

int main(int argc, char **argv) {
    int N = 1024, P = 2, reps = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows")) N = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) P = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_train_fuse [--rows 1024] [--threads 2] [--reps 10]\n");
            return 2;
        }
    }
    if (N < 1 || P < 1 || reps < 1) {
        fprintf(stderr, "bench_train_fuse: --rows, --threads and --reps must be >= 1\n");
        return 2;
    }
    lc_threads_init(1); /* one thread's sgemm, as inside transformer.c's OpenMP region */
    int M = (N + P - 1) / P, qkv[3] = {576, 192, 192}, gu[2] = {1536, 1536};
    group g[2];
    group_init(&g[0], "qkv", 3, qkv);
    group_init(&g[1], "gate_up", 2, gu);
    const char *col[6] = {"fwd_separate", "fwd_fused", "fwd_fused_copy", "bwd_separate", "bwd_fused", "bwd_fused_copy"};
    fprintf(stderr,
            "bench_train_fuse: %d rows per thread (N = %d, P = %d), C = %d, %d layers, best of %d, "
            "GFLOP/s of one thread (thread CPU time)\n",
            M, N, P, BF_C, BF_L, reps);
    printf("{\"rows_per_thread\":%d,\"reps\":%d", M, reps);
    for (int i = 0; i < 2; i++) {
        double gf[6];
        time_group(&g[i], M, reps, gf);
        fprintf(stderr, "  %-8s forward: separate %5.1f  fused %5.1f (%+.1f %%)  fused+scatter %5.1f (%+.1f %%)\n",
                g[i].name, gf[0], gf[1], 100 * (gf[1] / gf[0] - 1), gf[2], 100 * (gf[2] / gf[0] - 1));
        fprintf(stderr, "  %-8s backward: separate %5.1f  fused %5.1f (%+.1f %%)  gather+fused %5.1f (%+.1f %%)\n",
                g[i].name, gf[3], gf[4], 100 * (gf[4] / gf[3] - 1), gf[5], 100 * (gf[5] / gf[3] - 1));
        printf(",\"%s\":{", g[i].name);
        for (int v = 0; v < 6; v++) printf("%s\"%s\":%.1f", v ? "," : "", col[v], gf[v]);
        printf("}");
        for (int l = 0; l < BF_L; l++) free(g[i].w[l]);
    }
    printf("}\n");
    return 0;
}
