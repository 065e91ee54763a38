/*
 * test_quant.c — lc_quant against gguf-python (bit-exact) and self-checks.
 *
 *   test_quant refs DIR   compare with make_quant_refs.py's output in DIR:
 *                         dequantisation of every type equal as uint32 bits,
 *                         quantisation of F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1
 *                         equal bytes,
 *                         and lc_quant_row_dot (run-time choice and plain C)
 *                         within the derived rounding bound of the double dot
 *                         of gguf-python's dequantised rows.
 *   test_quant gguf MODEL REFS   a real GGUF (Gemma 3 270M: Q5_0, Q4_K, Q6_K,
 *                         Q8_0; SmolLM2: Q4_1, Q8_0): every tensor listed in
 *                         REFS (real_tensor_refs.py: gguf-python's checksums of
 *                         the float32 bits) dequantised by lc_dequantize to the
 *                         same bits, and lc_quant_row_dot on 64 rows of each
 *                         fused-type matrix within the bound of check_row_dot.
 *   test_quant bench MODEL      (by hand, not in ctest) one token's decode dots
 *                         over every layer matrix of MODEL, one thread: fused
 *                         lc_quant_row_dot against dequantise-then-dot.
 *   test_quant self       no Python: sizes, AVX2 vs portable Q4_1, rows API
 *                         equals the flat API, quantise→dequantise error bound,
 *                         and the Q4_1 dequantisation throughput.
 * Exits non-zero on any mismatch.
 */
#include "lc_common.h"
#include "lc_gguf.h"
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

/* The offset c of element j's block in a row of type t (w = a q + c; see
 * quant_dot.c), written here from ggml's block structs; 0 for the types
 * without an offset term or without a fused kernel. */
static double offset_of(lc_dtype t, const uint8_t *row, int j) {
    const uint8_t *b = row + (size_t)(j / lc_dtype_block_elems(t)) * lc_dtype_block_bytes(t);
    double d = lc_f16_to_f32((uint16_t)(b[0] | b[1] << 8)), m = lc_f16_to_f32((uint16_t)(b[2] | b[3] << 8));
    switch (t) {
    case LC_DT_Q4_0: return -8.0 * d;
    case LC_DT_Q5_0: return -16.0 * d;
    case LC_DT_Q4_1:
    case LC_DT_Q5_1: return m;
    case LC_DT_Q4_K: {
        int s = (j % 256) / 32; /* sub-block: 6-bit min, packed as ggml's get_scale_min_k4 */
        const uint8_t *q = b + 4;
        int mn = s < 4 ? q[s + 4] & 63 : (q[s + 4] >> 4) | ((q[s] >> 6) << 4);
        return -m * mn;
    }
    default: return 0.0;
    }
}

/* lc_quant_row_dot of each row (K elements) of q against x, checked against
 * the double dot of gguf-python's dequantised row `deq`.
 * Bound: the fused kernels evaluate sum_b a_b (q_b . x_b) + c_b xsum_b with
 * a_b, c_b rounded as the dequantiser rounds them. Every term passes through
 * at most n = K/16 + 72 float roundings (32 inside a block sum or xsum, one
 * per block across blocks: K/32, Q6_K K/16; hsum and the final adds: under
 * 8), so by the standard bound
 * |err| <= gamma_n * sum |term| <= 1.01 n u M, u = 2^-24, with M = sum_l
 * (|a q_l| + |c|)|x_l| <= sum_l (|w_l| + 2|c|)|x_l| (1 + 2u). The dequantised
 * w_l itself is within 2u (|a q_l| + |c|) of a q_l + c: +2 in n. Types
 * without a fused kernel dequantise and dot: n = K + 8 with c = 0. */
static void check_row_dot(lc_dtype t, const uint8_t *q, const float *deq, int rows, int K, lc_rng *rng) {
    float *x = malloc(sizeof(float) * K), *xsum = malloc(sizeof(float) * (K / 32 + 1)),
          *tmp = malloc(sizeof(float) * K);
    size_t rb = lc_dtype_row_bytes(t, K);
    double worst = 0; /* |err| / tol */
    for (int i = 0; i < K; i++) x[i] = lc_rng_normal(rng);
    lc_quant_block_sums(xsum, x, K);
    const double n = lc_quant_row_dot_fused(t) ? K / 16 + 74 : K + 8;
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = q + (size_t)r * rb;
        const float *w = deq + (size_t)r * K;
        double ref = 0, M = 0;
        for (int l = 0; l < K; l++) {
            ref += (double)w[l] * x[l];
            M += (fabs(w[l]) + 2 * fabs(offset_of(t, row, l))) * fabs(x[l]);
        }
        const double tol = 1.01 * n * 0x1p-24 * M * (1 + 0x1p-22);
        float got = lc_quant_row_dot(t, row, x, xsum, K, tmp);
        float port = lc_quant_row_dot_portable(t, row, x, xsum, K, tmp);
        CHECK_CLOSE(got, ref, tol, "%s row %d (K=%d): lc_quant_row_dot", lc_dtype_name(t), r, K);
        CHECK_CLOSE(port, ref, tol, "%s row %d (K=%d): lc_quant_row_dot_portable", lc_dtype_name(t), r, K);
        if (tol > 0 && fabs(got - ref) / tol > worst) worst = fabs(got - ref) / tol;
        if (tol > 0 && fabs(port - ref) / tol > worst) worst = fabs(port - ref) / tol;
    }
    printf("row_dot %-6s K=%-5d rows=%-3d fused=%d  max |err|/bound = %.3g\n", lc_dtype_name(t), K, rows,
           lc_quant_row_dot_fused(t), worst);
    free(x), free(xsum), free(tmp);
}

static int run_refs(const char *dir) {
    lc_rng rng;
    lc_rng_seed(&rng, 99);
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
        if (t != LC_DT_F32 && t != LC_DT_F16 && t != LC_DT_BF16 && n % 2048 == 0) {
            check_row_dot((lc_dtype)t, q, deq, (int)(n / 256), 256, &rng);
            check_row_dot((lc_dtype)t, q, deq, (int)(n / 2048), 2048, &rng);
        }
        if (src) { /* .src may cover the first blocks only (Q5_0, Q5_1: the rest are random) */
            n = ns / 4;
            nq = lc_dtype_row_bytes((lc_dtype)t, (int64_t)n);
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
    const size_t bytes[LC_DT_COUNT] = {4, 2, 2, 34, 18, 20, 144, 176, 210, 22, 24, 84, 110};
    const int elems[LC_DT_COUNT] = {1, 1, 1, 32, 32, 32, 256, 256, 256, 32, 32, 256, 256};
    for (int t = 0; t < LC_DT_COUNT; t++) {
        CHECK(lc_dtype_block_bytes((lc_dtype)t) == bytes[t], "%s block bytes", lc_dtype_name((lc_dtype)t));
        CHECK(lc_dtype_block_elems((lc_dtype)t) == elems[t], "%s block elems", lc_dtype_name((lc_dtype)t));
    }
    CHECK(lc_dtype_row_bytes(LC_DT_Q4_1, 576) == 18 * 20, "Q4_1 row bytes");
    CHECK(strcmp(lc_dtype_name(LC_DT_Q6_K), "Q6_K") == 0, "name");
    CHECK(strcmp(lc_dtype_name(LC_DT_Q5_0), "Q5_0") == 0 && strcmp(lc_dtype_name(LC_DT_Q3_K), "Q3_K") == 0, "name");
    CHECK(lc_quantize(LC_DT_Q4_K, NULL, NULL, 256) == -1, "K-quant quantiser should be absent");
    CHECK(lc_quantize(LC_DT_Q3_K, NULL, NULL, 256) == -1, "K-quant quantiser should be absent");

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
    lc_dtype qt[5] = {LC_DT_Q8_0, LC_DT_Q4_0, LC_DT_Q4_1, LC_DT_Q5_0, LC_DT_Q5_1};
    for (int k = 0; k < 5; k++) {
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
            double step = qt[k] == LC_DT_Q8_0   ? amax / 127.0
                          : qt[k] == LC_DT_Q4_0 ? amax / 8.0
                          : qt[k] == LC_DT_Q4_1 ? (hi - lo) / 15.0
                          : qt[k] == LC_DT_Q5_0 ? amax / 16.0
                                                : (hi - lo) / 31.0;
            for (int j = 0; j < 32; j++) {
                double e = fabs((double)x[bi * 32 + j] - y[bi * 32 + j]) / step;
                if (e > worst) worst = e;
            }
        }
        printf("roundtrip %-6s max error = %.4f steps\n", lc_dtype_name(qt[k]), worst);
        /* 0.5 step from rounding (Q4_0 / Q5_0: 1 step, the value opposite to
         * the signed max clamps at 15 / 31), plus levels * 2^-11 steps because
         * the scale d (and Q4_1's / Q5_1's min) is stored as f16 */
        double bound = qt[k] == LC_DT_Q8_0   ? 0.5 + 127.0 / 2048
                       : qt[k] == LC_DT_Q4_0 ? 1.0 + 8.0 / 2048
                       : qt[k] == LC_DT_Q4_1 ? 0.5 + 30.0 / 2048
                       : qt[k] == LC_DT_Q5_0 ? 1.0 + 16.0 / 2048
                                             : 0.5 + 62.0 / 2048;
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

/* s1 = sum of the float bits, s2 = sum of bits * (i + 1), both mod 2^64
 * (real_tensor_refs.py's checksums). */
static void bit_sums(const float *v, size_t n, uint64_t *s1, uint64_t *s2) {
    *s1 = *s2 = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        *s1 += u;
        *s2 += (uint64_t)u * (uint64_t)(i + 1);
    }
}

static int run_gguf(const char *model, const char *refs) {
    lc_gguf *g = NULL;
    REQUIRE_OK(lc_gguf_open(&g, model));
    FILE *f = fopen(refs, "r");
    CHECK(f != NULL, "cannot open %s", refs);
    if (!f) return lc_test_failed();
    char name[256], type[32];
    unsigned long long n, s1, s2;
    int count[LC_DT_COUNT] = {0};
    lc_rng rng;
    lc_rng_seed(&rng, 5);
    while (fscanf(f, "%255s %31s %llu %llu %llu", name, type, &n, &s1, &s2) == 5) {
        const lc_gguf_tensor *t = lc_gguf_find_tensor(g, name);
        CHECK(t != NULL, "%s: tensor %s missing", model, name);
        if (!t) continue;
        CHECK(t->type != LC_DT_COUNT && !strcmp(lc_dtype_name(t->type), type), "%s: %s has type %s, lorac reads %s",
              model, name, type, t->type == LC_DT_COUNT ? "nothing" : lc_dtype_name(t->type));
        if (t->type == LC_DT_COUNT) continue;
        float *out = malloc(sizeof(float) * n);
        lc_dequantize(t->type, t->data, out, (int64_t)n);
        uint64_t a, b;
        bit_sums(out, n, &a, &b);
        CHECK(a == s1 && b == s2, "%s (%s, %llu elements): lc_dequantize's bits differ from gguf-python's", name,
              type, n);
        if (t->n_dims == 2 && lc_quant_row_dot_fused(t->type)) { /* 64 rows through the decode kernels */
            int K = (int)t->ne[0], rows = t->ne[1] < 64 ? (int)t->ne[1] : 64;
            check_row_dot(t->type, t->data, out, rows, K, &rng);
        }
        count[t->type]++;
        free(out);
    }
    fclose(f);
    int total = 0;
    for (int t = 0; t < LC_DT_COUNT; t++)
        if (count[t]) printf("%s: %d tensors bit-equal to gguf-python\n", lc_dtype_name((lc_dtype)t), count[t]), total += count[t];
    CHECK(total > 0, "no tensors checked from %s", refs);
    lc_gguf_close(g);
    return lc_test_failed();
}

/* Seconds for `reps` passes of every row of t · x: fused (lc_quant_row_dot)
 * or dequantise-then-dot. */
static double time_rows(const lc_gguf_tensor *t, const float *x, const float *xsum, float *tmp, int fused, int reps,
                        double *sink) {
    int K = (int)t->ne[0], O = (int)t->ne[1];
    size_t rb = lc_dtype_row_bytes(t->type, K);
    double t0 = lc_time_now();
    for (int r = 0; r < reps; r++)
        for (int o = 0; o < O; o++) {
            const uint8_t *row = (const uint8_t *)t->data + (size_t)o * rb;
            if (fused) *sink += lc_quant_row_dot(t->type, row, x, xsum, K, tmp);
            else {
                lc_dequantize(t->type, row, tmp, K);
                float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
                for (int k = 0; k < K; k++) acc += tmp[k] * x[k];
                *sink += acc;
            }
        }
    return (lc_time_now() - t0) / reps;
}

static int run_bench(const char *model) {
    lc_gguf *g = NULL;
    REQUIRE_OK(lc_gguf_open(&g, model));
    double fused[LC_DT_COUNT] = {0}, plain[LC_DT_COUNT] = {0}, sink = 0;
    int count[LC_DT_COUNT] = {0};
    const int reps = 5, KMAX = 1 << 16;
    float *x = malloc(sizeof(float) * KMAX), *xsum = malloc(sizeof(float) * KMAX / 32), *tmp = malloc(sizeof(float) * KMAX);
    lc_rng rng;
    lc_rng_seed(&rng, 3);
    for (int i = 0; i < KMAX; i++) x[i] = lc_rng_normal(&rng);
    for (int64_t i = 0; i < lc_gguf_n_tensors(g); i++) {
        const lc_gguf_tensor *t = lc_gguf_tensor_at(g, i);
        if (t->n_dims != 2 || t->type == LC_DT_COUNT || t->type == LC_DT_F32 || strncmp(t->name, "blk.", 4) ||
            t->ne[0] > KMAX)
            continue;
        lc_quant_block_sums(xsum, x, (int)t->ne[0]);
        fused[t->type] += time_rows(t, x, xsum, tmp, 1, reps, &sink);
        plain[t->type] += time_rows(t, x, xsum, tmp, 0, reps, &sink);
        count[t->type]++;
    }
    double F = 0, P = 0;
    printf("%s: one token's layer-matrix dots, 1 thread, mean of %d passes\n", model, reps);
    for (int t = 0; t < LC_DT_COUNT; t++)
        if (count[t]) {
            printf("  %-5s x%-3d fused %s %7.3f ms   dequantise+dot %7.3f ms   (x%.2f)\n", lc_dtype_name((lc_dtype)t),
                   count[t], lc_quant_row_dot_fused((lc_dtype)t) ? "yes" : "no ", fused[t] * 1e3, plain[t] * 1e3,
                   plain[t] / fused[t]);
            F += fused[t], P += plain[t];
        }
    printf("  all layers: fused %.2f ms/token (%.1f tokens/s), dequantise+dot %.2f ms/token (%.1f tokens/s)\n",
           F * 1e3, 1 / F, P * 1e3, 1 / P);
    printf("(checksum %g)\n", sink);
    free(x), free(xsum), free(tmp);
    lc_gguf_close(g);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "gguf") == 0) return run_gguf(argv[2], argv[3]);
    if (argc >= 3 && strcmp(argv[1], "bench") == 0) return run_bench(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "refs") == 0) return run_refs(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "self") == 0) return run_self();
    fprintf(stderr, "usage: test_quant refs DIR | test_quant self | test_quant gguf MODEL REFS | test_quant bench MODEL\n");
    return 2;
}
