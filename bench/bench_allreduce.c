/*
 * bench_allreduce.c — the gradient allreduce alone, as lorac's training step
 * does it (lc_dist_sum_floats: MPI_Iallreduce of fp32, polled), for LoRA
 * gradient sizes from stories260K to SmolLM2-360M. Medians of many
 * repetitions (the host is shared and noisy). Inputs of docs/scale-out.md.
 *
 *   mpirun -np 2 build/bench/bench_allreduce [--reps 50] [--floats N ...]
 * Prints one JSON line per size (rank 0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_common.h"
#include "lc_dist.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_size(size_t n, int reps) {
    float *buf = malloc(n * sizeof(float)); /* (n) a LoRA gradient */
    double *t = malloc((size_t)reps * sizeof(double));
    for (size_t i = 0; i < n; i++) buf[i] = 1e-3f * (float)(i % 1000);
    lc_dist_sum_floats(buf, n); /* warm-up: connections, registration */
    for (int r = 0; r < reps; r++) {
        lc_dist_any(0); /* line the ranks up */
        double t0 = lc_time_now();
        lc_dist_sum_floats(buf, n);
        t[r] = lc_time_now() - t0;
        for (size_t i = 0; i < n; i++) buf[i] *= 0.5f; /* keep the values finite */
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_d);
    int N = lc_dist_size();
    double med = t[reps / 2];
    /* ring-allreduce bus bandwidth: 2 (N-1)/N * bytes / time */
    double bus = N > 1 ? 2.0 * (N - 1) / N * (double)n * 4 / med / 1e9 : 0;
    if (lc_dist_is_root())
        printf("{\"ranks\":%d,\"floats\":%zu,\"mbytes\":%.2f,\"reps\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f,"
               "\"p90_ms\":%.3f,\"busbw_gb_s\":%.2f}\n", N, n, n * 4 / 1e6, reps, med * 1e3, t[0] * 1e3,
               t[reps * 9 / 10] * 1e3, bus);
    fflush(stdout);
    free(buf);
    free(t);
}

int main(int argc, char **argv) {
    if (lc_dist_init(&argc, &argv)) {
        fprintf(stderr, "bench_allreduce: %s\n", lc_error_msg());
        return 1;
    }
    int reps = 50, n_sizes = 0;
    size_t sizes[32];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--floats") && i + 1 < argc && n_sizes < 32) sizes[n_sizes++] = strtoull(argv[++i], 0, 10);
        else {
            fprintf(stderr, "usage: mpirun -np N bench_allreduce [--reps R] [--floats N ...]\n");
            lc_dist_finalize(2);
            return 2;
        }
    }
    if (reps < 3) reps = 3;
    if (!n_sizes) { /* stories260K r=8 all-linear .. SmolLM2-135M r=8 q,v / all-linear .. r=32 */
        size_t def[] = {1024, 65536, 460800, 2442240, 9768960};
        n_sizes = 5;
        memcpy(sizes, def, sizeof def);
    }
    for (int s = 0; s < n_sizes; s++) bench_size(sizes[s], reps);
    lc_dist_finalize(0);
    return 0;
}
