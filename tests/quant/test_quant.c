/*
 * test_quant.c — lc_quant against gguf-python (bit-exact) and self-checks.
 *
 *   test_quant refs DIR   compare with make_quant_refs.py's output in DIR:
 *                         dequantisation of every type equal as uint32 bits,
 *                         quantisation of F32/F16/BF16/Q8_0/Q4_0/Q4_1 equal bytes.
 *   test_quant self       no Python: sizes, AVX2 vs portable Q4_1, rows API
 *                         equals the flat API, quantise→dequantise error bound,
 *                         and the Q4_1 dequantisation throughput.
 * Exits non-zero on any mismatch.
 */
#include "lc_common.h"
#include "lc_quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lc_test.h"

static void *read_all(const char *dir, const char *name, const char *ext, size_t *n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return p;
}

/* Compare two float arrays bit-for-bit; print max abs/rel error. Returns mismatches. */
static long compare_bits(const char *what, const float *got, const float *ref, size_t n) {
    long bad = 0;
    double max_abs = 0, max_rel = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t a, b;
        memcpy(&a, &got[i], 4);
        memcpy(&b, &ref[i], 4);
        if (a != b) {
            if (bad < 3)
                fprintf(stderr, "  %s[%zu]: got %.9g (0x%08x) want %.9g (0x%08x)\n", what, i,
                        got[i], a, ref[i], b);
            bad++;
        }
        double e = fabs((double)got[i] - ref[i]);
        if (e > max_abs) max_abs = e;
        if (ref[i] != 0 && e / fabs(ref[i]) > max_rel) max_rel = e / fabs(ref[i]);
    }
    printf("%-16s n=%zu  bit mismatches=%ld  max_abs=%.3g max_rel=%.3g\n", what, n, bad, max_abs,
           max_rel);
    return bad;
}

static int run_refs(const char *dir) {
    for (int t = 0; t < LC_DT_COUNT; t++) {
        const char *name = lc_dtype_name((lc_dtype)t);
        size_t nq = 0, nd = 0, ns = 0;
        uint8_t *q = read_all(dir, name, "q", &nq);
        float *deq = read_all(dir, name, "deq", &nd);
        float *src = read_all(dir, name, "src", &ns);
        CHECK(q && deq, "missing reference files for %s in %s", name, dir);
        if (!q || !deq) goto next;
        size_t n = nd / 4;
        CHECK(lc_dtype_row_bytes((lc_dtype)t, (int64_t)n) == nq, "%s: %zu elems should take %zu bytes, file has %zu",
              name, n, lc_dtype_row_bytes((lc_dtype)t, (int64_t)n), nq);
        float *out = malloc(n * sizeof(float));
        char what[64];
        lc_dequantize((lc_dtype)t, q, out, (int64_t)n);
        snprintf(what, sizeof what, "deq %s", name);
        CHECK(compare_bits(what, out, deq, n) == 0, "dequantise %s differs from gguf-python", name);
        lc_dequantize_portable((lc_dtype)t, q, out, (int64_t)n);
        snprintf(what, sizeof what, "deq_port %s", name);
        CHECK(compare_bits(what, out, deq, n) == 0, "portable dequantise %s differs", name);
        if (src) {
            uint8_t *mine = malloc(nq);
            CHECK(lc_quantize((lc_dtype)t, src, mine, (int64_t)n) == 0, "no quantiser for %s", name);
            size_t bad = 0, first = (size_t)-1;
            for (size_t i = 0; i < nq; i++)
                if (mine[i] != q[i]) {
                    if (first == (size_t)-1) first = i;
                    bad++;
                }
            printf("quant %-10s bytes=%zu  mismatching bytes=%zu\n", name, nq, bad);
            CHECK(bad == 0, "quantise %s: %zu bytes differ from gguf-python (first at byte %zu: %u vs %u)",
                  name, bad, first, first < nq ? mine[first] : 0, first < nq ? q[first] : 0);
            free(mine);
        }
        free(out);
    next:
        free(q);
        free(deq);
        free(src);
    }
    return lc_test_failed();
}

static int run_self(void) {
    /* sizes as ggml defines them */
    const size_t bytes[LC_DT_COUNT] = {4, 2, 2, 34, 18, 20, 144, 176, 210};
    const int elems[LC_DT_COUNT] = {1, 1, 1, 32, 32, 32, 256, 256, 256};
    for (int t = 0; t < LC_DT_COUNT; t++) {
        CHECK(lc_dtype_block_bytes((lc_dtype)t) == bytes[t], "%s block bytes", lc_dtype_name((lc_dtype)t));
        CHECK(lc_dtype_block_elems((lc_dtype)t) == elems[t], "%s block elems", lc_dtype_name((lc_dtype)t));
    }
    CHECK(lc_dtype_row_bytes(LC_DT_Q4_1, 576) == 18 * 20, "Q4_1 row bytes");
    CHECK(strcmp(lc_dtype_name(LC_DT_Q6_K), "Q6_K") == 0, "name");
    CHECK(lc_quantize(LC_DT_Q4_K, NULL, NULL, 256) == -1, "K-quant quantiser should be absent");

    /* random blocks (any byte pattern, finite scales): fast == portable, rows == flat */
    lc_rng rng;
    lc_rng_seed(&rng, 7);
    const int rows = 96, cols = 1536;
    for (int t = 0; t < LC_DT_COUNT; t++) {
        size_t rb = lc_dtype_row_bytes((lc_dtype)t, cols);
        uint8_t *data = malloc(rb * rows);
        for (size_t i = 0; i < rb * rows; i++) data[i] = (uint8_t)lc_rng_u64(&rng);
        if (t == LC_DT_F32) /* keep it finite */
            for (int i = 0; i < rows * cols; i++) ((float *)data)[i] = lc_rng_normal(&rng);
        float *a = malloc(sizeof(float) * rows * cols), *b = malloc(sizeof(float) * rows * cols);
        lc_dequantize((lc_dtype)t, data, a, (int64_t)rows * cols);
        lc_dequantize_portable((lc_dtype)t, data, b, (int64_t)rows * cols);
        CHECK(memcmp(a, b, sizeof(float) * rows * cols) == 0, "%s: fast and portable differ",
              lc_dtype_name((lc_dtype)t));
        lc_dequantize_rows((lc_dtype)t, data, (int64_t)rb, 10, rows - 20, cols, b);
        CHECK(memcmp(a + (size_t)10 * cols, b, sizeof(float) * (rows - 20) * cols) == 0,
              "%s: lc_dequantize_rows differs from lc_dequantize", lc_dtype_name((lc_dtype)t));
        free(data);
        free(a);
        free(b);
    }

    /* quantise -> dequantise error bound: |x - x'| <= step/2 (+ half rounding of d, m) */
    const int n = 32 * 512;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    uint8_t *q = malloc(lc_dtype_row_bytes(LC_DT_Q8_0, n));
    for (int i = 0; i < n; i++) x[i] = lc_rng_normal(&rng);
    lc_dtype qt[3] = {LC_DT_Q8_0, LC_DT_Q4_0, LC_DT_Q4_1};
    for (int k = 0; k < 3; k++) {
        CHECK(lc_quantize(qt[k], x, q, n) == 0, "quantise");
        lc_dequantize(qt[k], q, y, n);
        double worst = 0; /* error in units of the block's step */
        for (int bi = 0; bi < n / 32; bi++) {
            float lo = x[bi * 32], hi = x[bi * 32], amax = 0;
            for (int j = 0; j < 32; j++) {
                float v = x[bi * 32 + j];
                lo = fminf(lo, v);
                hi = fmaxf(hi, v);
                amax = fmaxf(amax, fabsf(v));
            }
            double step = qt[k] == LC_DT_Q8_0 ? amax / 127.0 : qt[k] == LC_DT_Q4_0 ? amax / 8.0 : (hi - lo) / 15.0;
            for (int j = 0; j < 32; j++) {
                double e = fabs((double)x[bi * 32 + j] - y[bi * 32 + j]) / step;
                if (e > worst) worst = e;
            }
        }
        printf("roundtrip %-6s max error = %.4f steps\n", lc_dtype_name(qt[k]), worst);
        /* 0.5 step from rounding (Q4_0: 1 step, its +max clamps at 15), plus
         * levels * 2^-11 steps because the scale d (and Q4_1's min) is stored as f16 */
        double bound = qt[k] == LC_DT_Q8_0 ? 0.5 + 127.0 / 2048 : qt[k] == LC_DT_Q4_0 ? 1.0 + 8.0 / 2048 : 0.5 + 30.0 / 2048;
        CHECK(worst <= bound, "%s roundtrip error %.4f steps > %.4f", lc_dtype_name(qt[k]), worst, bound);
    }
    free(x);
    free(y);
    free(q);

    /* throughput of Q4_1 dequantisation (informational) */
    {
        const int R = 1536, Ccols = 576;
        size_t rb = lc_dtype_row_bytes(LC_DT_Q4_1, Ccols);
        uint8_t *w = calloc(rb, R);
        float *o = malloc(sizeof(float) * R * Ccols);
        for (size_t i = 0; i < rb * R; i++) w[i] = (uint8_t)lc_rng_u64(&rng);
        for (int r = 0; r < R; r++)
            for (int b = 0; b < Ccols / 32; b++) { w[r * rb + b * 20 + 1] &= 0x3b; w[r * rb + b * 20 + 3] &= 0x3b; }
        double t0 = lc_time_now();
        int reps = 50;
        for (int i = 0; i < reps; i++) lc_dequantize_rows(LC_DT_Q4_1, w, (int64_t)rb, 0, R, Ccols, o);
        double dt = lc_time_now() - t0;
        printf("Q4_1 dequantize_rows: %.2f Gelem/s (%d x %d, %d reps)\n",
               (double)R * Ccols * reps / dt * 1e-9, R, Ccols, reps);
        t0 = lc_time_now();
        for (int i = 0; i < reps; i++) lc_dequantize_portable(LC_DT_Q4_1, w, o, (int64_t)R * Ccols);
        dt = lc_time_now() - t0;
        printf("Q4_1 portable 1-thread: %.2f Gelem/s\n", (double)R * Ccols * reps / dt * 1e-9);
        free(w);
        free(o);
    }
    return lc_test_failed();
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "refs") == 0) return run_refs(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "self") == 0) return run_self();
    fprintf(stderr, "usage: test_quant refs DIR | test_quant self\n");
    return 2;
}
