/*
 * test_gguf.c — the GGUF reader and writer.
 *
 *   test_gguf roundtrip DIR  write DIR/rt.gguf (every metadata type, nested
 *                            arrays, one tensor per lc_dtype, alignment 64) and
 *                            DIR/rt32.gguf (default alignment), read both back
 *                            and compare every value and byte; also writes
 *                            DIR/<tensor>.q / .f32 for check_writer.py.
 *   test_gguf corrupt DIR    damaged files: truncated at every length, bad magic,
 *                            version 99 / 1, tensor past EOF, unknown type id,
 *                            misaligned offset, bad alignment key, random byte
 *                            flips: each a clear error, never a crash.
 * Exits non-zero on any failed check.
 */
#include "lc_gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lc_test.h"

/* ---------------- the test file's content ---------------- */

#define N_TENSORS LC_DT_COUNT
static const int64_t k_rows = 3, k_cols = 512;
static uint8_t *g_tdata[N_TENSORS]; /* (k_rows, row_bytes) per dtype */

static void make_tensors(void) {
    lc_rng rng;
    lc_rng_seed(&rng, 42);
    float *x = malloc(sizeof(float) * k_rows * k_cols); /* (rows, cols) */
    for (int i = 0; i < k_rows * k_cols; i++) x[i] = lc_rng_normal(&rng);
    for (int t = 0; t < N_TENSORS; t++) {
        size_t n = lc_dtype_row_bytes((lc_dtype)t, k_cols) * k_rows;
        g_tdata[t] = malloc(n);
        if (lc_quantize((lc_dtype)t, x, g_tdata[t], k_rows * k_cols) != 0) {
            /* K-quants: random bytes, then sane f16 scales (0x2000 ~ 0.0078) */
            for (size_t i = 0; i < n; i++) g_tdata[t][i] = (uint8_t)lc_rng_u64(&rng);
            size_t bb = lc_dtype_block_bytes((lc_dtype)t);
            for (size_t b = 0; b < n / bb; b++) {
                uint8_t *blk = g_tdata[t] + b * bb;
                if (t == LC_DT_Q6_K) blk[209] = 0x20;
                else blk[1] = 0x20, blk[3] = 0x1c;
            }
        }
    }
    free(x);
}

static const char *k_strs[] = {"alpha", "", "h\xc3\xa9llo w\xc3\xb6rld", "<|im_start|>"};

static lc_status write_file(const char *path, uint32_t alignment) {
    lc_gguf_writer *w = NULL;
    lc_status s = lc_gguf_writer_init(&w, alignment);
    if (s) return s;
    lc_gguf_value v;
#define ADD(k, ...) do { v = (lc_gguf_value){__VA_ARGS__}; if ((s = lc_gguf_writer_add_kv(w, k, &v))) goto done; } while (0)
    ADD("t.u8", .type = LC_GGUF_UINT8, .u64 = 200);
    ADD("t.i8", .type = LC_GGUF_INT8, .i64 = -100);
    ADD("t.u16", .type = LC_GGUF_UINT16, .u64 = 60000);
    ADD("t.i16", .type = LC_GGUF_INT16, .i64 = -30000);
    ADD("t.i64", .type = LC_GGUF_INT64, .i64 = -5000000000LL);
    ADD("t.u64", .type = LC_GGUF_UINT64, .u64 = 18000000000000000000ULL);
    ADD("t.f64", .type = LC_GGUF_FLOAT64, .f64 = 3.141592653589793);
#undef ADD
    if ((s = lc_gguf_writer_add_u32(w, "t.u32", 4000000000u)) || (s = lc_gguf_writer_add_i32(w, "t.i32", -2000000000)) ||
        (s = lc_gguf_writer_add_f32(w, "t.f32", 1e-5f)) || (s = lc_gguf_writer_add_bool(w, "t.bool", 1)) ||
        (s = lc_gguf_writer_add_str(w, "t.str", "SmolLM2 \xe2\x96\x81 test")))
        goto done;
    int32_t ai[5] = {-1, 0, 1, 2147483647, -2147483647 - 1};
    float af[3] = {0.5f, -2.25f, 1e30f};
    uint8_t ab[3] = {1, 0, 1};
    lc_gguf_str as[4];
    for (int i = 0; i < 4; i++) as[i] = (lc_gguf_str){k_strs[i], strlen(k_strs[i])};
    uint64_t au[2] = {1, 0xffffffffffffffffULL};
    lc_gguf_value inner[2] = {{.type = LC_GGUF_ARRAY, .arr = {LC_GGUF_INT32, 5, ai}},
                              {.type = LC_GGUF_ARRAY, .arr = {LC_GGUF_STRING, 4, as}}};
    if ((s = lc_gguf_writer_add_arr(w, "a.i32", LC_GGUF_INT32, ai, 5)) ||
        (s = lc_gguf_writer_add_arr(w, "a.f32", LC_GGUF_FLOAT32, af, 3)) ||
        (s = lc_gguf_writer_add_arr(w, "a.bool", LC_GGUF_BOOL, ab, 3)) ||
        (s = lc_gguf_writer_add_arr(w, "a.str", LC_GGUF_STRING, as, 4)) ||
        (s = lc_gguf_writer_add_arr(w, "a.u64", LC_GGUF_UINT64, au, 2)) ||
        (s = lc_gguf_writer_add_arr(w, "a.empty", LC_GGUF_FLOAT32, NULL, 0)) ||
        (s = lc_gguf_writer_add_arr(w, "a.nested", LC_GGUF_ARRAY, inner, 2)))
        goto done;
    CHECK(lc_gguf_writer_add_u32(w, "t.u8", 1) == LC_ERR_ARG, "duplicate key accepted");
    for (int t = 0; t < N_TENSORS; t++) {
        char name[64];
        snprintf(name, sizeof name, "tensor.%s", lc_dtype_name((lc_dtype)t));
        int64_t ne[2] = {k_cols, k_rows};
        if ((s = lc_gguf_writer_add_tensor(w, name, (lc_dtype)t, 2, ne, g_tdata[t]))) goto done;
    }
    float one = 7.0f;
    int64_t ne1 = 1;
    if ((s = lc_gguf_writer_add_tensor(w, "scalar", LC_DT_F32, 1, &ne1, &one))) goto done;
    s = lc_gguf_writer_write(w, path);
done:
    lc_gguf_writer_free(w);
    return s;
}

static int str_eq(lc_gguf_str a, const char *b) { return a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0; }

static void check_file(const char *path, uint32_t alignment) {
    lc_gguf *g = NULL;
    lc_status s = lc_gguf_open(&g, path);
    CHECK(s == LC_OK, "open %s: %s", path, lc_error_msg());
    if (s) return;
    CHECK(lc_gguf_version(g) == 3, "version");
    CHECK(lc_gguf_alignment(g) == alignment, "alignment %u, want %u", lc_gguf_alignment(g), alignment);
    CHECK(lc_gguf_data_offset(g) % alignment == 0, "data offset aligned");
    int64_t i;
    double f;
    int b;
    const char *str;
    CHECK(lc_gguf_get_int(g, "t.u8", &i) == 0 && i == 200, "u8");
    CHECK(lc_gguf_get_int(g, "t.i8", &i) == 0 && i == -100, "i8");
    CHECK(lc_gguf_get_int(g, "t.u16", &i) == 0 && i == 60000, "u16");
    CHECK(lc_gguf_get_int(g, "t.i16", &i) == 0 && i == -30000, "i16");
    CHECK(lc_gguf_get_int(g, "t.u32", &i) == 0 && i == 4000000000LL, "u32");
    CHECK(lc_gguf_get_int(g, "t.i32", &i) == 0 && i == -2000000000, "i32");
    CHECK(lc_gguf_get_int(g, "t.i64", &i) == 0 && i == -5000000000LL, "i64");
    CHECK(lc_gguf_get_int(g, "t.u64", &i) == LC_ERR_FORMAT, "u64 > INT64_MAX should not fit");
    CHECK(lc_gguf_find(g, "t.u64")->u64 == 18000000000000000000ULL, "u64 raw");
    CHECK(lc_gguf_get_float(g, "t.f32", &f) == 0 && (float)f == 1e-5f, "f32");
    CHECK(lc_gguf_get_float(g, "t.f64", &f) == 0 && f == 3.141592653589793, "f64");
    CHECK(lc_gguf_get_bool(g, "t.bool", &b) == 0 && b == 1, "bool");
    CHECK(lc_gguf_get_str(g, "t.str", &str) == 0 && strcmp(str, "SmolLM2 \xe2\x96\x81 test") == 0, "str");
    CHECK(lc_gguf_get_str(g, "t.u8", &str) == LC_ERR_FORMAT && strstr(lc_error_msg(), "expected string"),
          "wrong type message: %s", lc_error_msg());
    CHECK(lc_gguf_get_int(g, "missing.key", &i) == LC_ERR_FORMAT && strstr(lc_error_msg(), "missing.key"),
          "missing key message: %s", lc_error_msg());
    const void *d;
    uint64_t n;
    CHECK(lc_gguf_get_arr(g, "a.i32", LC_GGUF_INT32, &d, &n) == 0 && n == 5 &&
              ((const int32_t *)d)[3] == 2147483647 && ((const int32_t *)d)[4] == -2147483647 - 1, "a.i32");
    CHECK(lc_gguf_get_arr(g, "a.i32", LC_GGUF_FLOAT32, &d, &n) == LC_ERR_FORMAT, "a.i32 as float");
    CHECK(lc_gguf_get_arr(g, "a.f32", LC_GGUF_FLOAT32, &d, &n) == 0 && n == 3 && ((const float *)d)[2] == 1e30f, "a.f32");
    CHECK(lc_gguf_get_arr(g, "a.bool", LC_GGUF_BOOL, &d, &n) == 0 && n == 3 && ((const uint8_t *)d)[1] == 0, "a.bool");
    CHECK(lc_gguf_get_arr(g, "a.u64", LC_GGUF_UINT64, &d, &n) == 0 && ((const uint64_t *)d)[1] == 0xffffffffffffffffULL, "a.u64");
    CHECK(lc_gguf_get_arr(g, "a.empty", LC_GGUF_FLOAT32, &d, &n) == 0 && n == 0, "a.empty");
    if (lc_gguf_get_arr(g, "a.str", LC_GGUF_STRING, &d, &n) == 0 && n == 4) {
        const lc_gguf_str *ss = d;
        for (int k = 0; k < 4; k++) CHECK(str_eq(ss[k], k_strs[k]) && ss[k].ptr[ss[k].len] == 0, "a.str[%d]", k);
    } else CHECK(0, "a.str");
    if (lc_gguf_get_arr(g, "a.nested", LC_GGUF_ARRAY, &d, &n) == 0 && n == 2) {
        const lc_gguf_value *in = d;
        CHECK(in[0].arr.type == LC_GGUF_INT32 && in[0].arr.n == 5 && ((const int32_t *)in[0].arr.data)[0] == -1, "nested[0]");
        CHECK(in[1].arr.type == LC_GGUF_STRING && in[1].arr.n == 4 &&
              str_eq(((const lc_gguf_str *)in[1].arr.data)[2], k_strs[2]), "nested[1]");
    } else CHECK(0, "a.nested");
    CHECK(lc_gguf_n_tensors(g) == N_TENSORS + 1, "tensor count");
    for (int t = 0; t < N_TENSORS; t++) {
        char name[64];
        snprintf(name, sizeof name, "tensor.%s", lc_dtype_name((lc_dtype)t));
        const lc_gguf_tensor *ti = lc_gguf_find_tensor(g, name);
        CHECK(ti != NULL, "tensor %s missing", name);
        if (!ti) continue;
        size_t nb = lc_dtype_row_bytes((lc_dtype)t, k_cols) * k_rows;
        CHECK(ti->type == (lc_dtype)t && ti->n_dims == 2 && ti->ne[0] == k_cols && ti->ne[1] == k_rows &&
                  ti->nbytes == nb, "tensor %s info", name);
        CHECK(((uintptr_t)ti->data) % alignment == 0, "tensor %s data not aligned", name);
        CHECK(memcmp(ti->data, g_tdata[t], nb) == 0, "tensor %s bytes differ", name);
    }
    const lc_gguf_tensor *sc = lc_gguf_find_tensor(g, "scalar");
    CHECK(sc && sc->n_dims == 1 && *(const float *)sc->data == 7.0f, "scalar tensor");
    CHECK(lc_gguf_find_tensor(g, "nope") == NULL, "find missing tensor");
    printf("read back %s: %lld keys, %lld tensors, alignment %u: all equal\n", path, (long long)lc_gguf_n_kv(g),
           (long long)lc_gguf_n_tensors(g), lc_gguf_alignment(g));
    lc_gguf_close(g);
}

static int dump(const char *dir, const char *name, const char *ext, const void *p, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(p, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

static int run_roundtrip(const char *dir) {
    char p1[4096], p2[4096];
    snprintf(p1, sizeof p1, "%s/rt.gguf", dir);
    snprintf(p2, sizeof p2, "%s/rt32.gguf", dir);
    make_tensors();
    lc_status s = write_file(p1, 64);
    CHECK(s == LC_OK, "write: %s", lc_error_msg());
    s = write_file(p2, 0);
    CHECK(s == LC_OK, "write: %s", lc_error_msg());
    check_file(p1, 64);
    check_file(p2, 32);
    float *f = malloc(sizeof(float) * k_rows * k_cols);
    for (int t = 0; t < N_TENSORS; t++) {
        char name[64];
        snprintf(name, sizeof name, "tensor.%s", lc_dtype_name((lc_dtype)t));
        lc_dequantize((lc_dtype)t, g_tdata[t], f, k_rows * k_cols);
        CHECK(dump(dir, name, "q", g_tdata[t], lc_dtype_row_bytes((lc_dtype)t, k_cols) * k_rows) == 0 &&
              dump(dir, name, "f32", f, sizeof(float) * k_rows * k_cols) == 0, "dump %s", name);
        free(g_tdata[t]);
    }
    free(f);
    return lc_test_failed();
}

/* ---------------- corrupt files ---------------- */

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*n);
    if (fread(p, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return p;
}

static void spit(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

/* Expect opening `bytes` to fail with `code` and a message containing all of `words`. */
static void expect_error(const char *path, const uint8_t *bytes, size_t n, lc_status code, const char *label,
                         const char *w1, const char *w2) {
    spit(path, bytes, n);
    lc_gguf *g = NULL;
    lc_status s = lc_gguf_open(&g, path);
    const char *msg = lc_error_msg();
    printf("%-22s -> %s: %s\n", label, lc_status_name(s), s ? msg : "(opened)");
    CHECK(s == code, "%s: got status %s, want %s", label, lc_status_name(s), lc_status_name(code));
    CHECK(g == NULL || s == LC_OK, "%s: handle returned on error", label);
    CHECK(s == LC_OK || strstr(msg, path), "%s: message does not name the file", label);
    CHECK(!w1 || strstr(msg, w1), "%s: message lacks '%s'", label, w1);
    CHECK(!w2 || strstr(msg, w2), "%s: message lacks '%s'", label, w2);
    lc_gguf_close(g);
}

/* Offset of the tensor info's type field for tensor `name` (2 dims). */
static size_t info_field(const uint8_t *p, size_t n, const char *name) {
    size_t len = strlen(name);
    for (size_t i = 8; i + len + 8 < n; i++)
        if (memcmp(p + i, name, len) == 0 && p[i - 8] == len && p[i + len] == 2) return i + len + 4 + 16;
    return 0;
}

static int run_corrupt(const char *dir) {
    char good[4096], bad[4096];
    snprintf(good, sizeof good, "%s/good.gguf", dir);
    snprintf(bad, sizeof bad, "%s/bad.gguf", dir);
    make_tensors();
    CHECK(write_file(good, 0) == LC_OK, "write: %s", lc_error_msg());
    for (int t = 0; t < N_TENSORS; t++) free(g_tdata[t]);
    size_t n;
    uint8_t *p = slurp(good, &n), *q = malloc(n);
    CHECK(p && n > 100, "read back good file");
    if (!p) return 1;

    /* every truncation that cuts the header or a tensor's data fails cleanly with
     * a format error (cutting only the zero padding after the last tensor is harmless) */
    size_t need = 0;
    {
        lc_gguf *g = NULL;
        CHECK(lc_gguf_open(&g, good) == LC_OK, "open good: %s", lc_error_msg());
        if (!g) return 1;
        for (int64_t i = 0; i < lc_gguf_n_tensors(g); i++) {
            const lc_gguf_tensor *t = lc_gguf_tensor_at(g, i);
            size_t end = (size_t)(lc_gguf_data_offset(g) + t->offset + t->nbytes);
            if (end > need) need = end;
        }
        lc_gguf_close(g);
    }
    int wrong = 0, tried = 0;
    size_t hdr_end = 0;
    {
        lc_gguf *g = NULL;
        if (lc_gguf_open(&g, good) == LC_OK) hdr_end = (size_t)lc_gguf_data_offset(g);
        lc_gguf_close(g);
    }
    /* every length inside the header, then a stride through the tensor data */
    for (size_t len = 0; len < need; len += len < hdr_end + 64 ? 1 : 97) {
        tried++;
        spit(bad, p, len);
        lc_gguf *g = NULL;
        lc_status s = lc_gguf_open(&g, bad);
        if (s != LC_ERR_FORMAT || g) {
            if (wrong++ < 3) fprintf(stderr, "truncated to %zu: status %s (%s)\n", len, lc_status_name(s), lc_error_msg());
        }
        lc_gguf_close(g);
    }
    printf("truncation at %d lengths below the end of the last tensor (%zu): %d not reported as format errors\n",
           tried, need, wrong);
    CHECK(wrong == 0, "some truncations not detected");
    expect_error(bad, p, 100, LC_ERR_FORMAT, "truncated header", "truncated", NULL);
    expect_error(bad, p, need - 1, LC_ERR_FORMAT, "truncated data", "past the end", "scalar");

    memcpy(q, p, n);
    memcpy(q, "GGUG", 4);
    expect_error(bad, q, n, LC_ERR_FORMAT, "bad magic", "magic", "47 47 55 47");
    memcpy(q, p, n);
    q[4] = 99;
    expect_error(bad, q, n, LC_ERR_UNSUPPORTED, "version 99", "version 99", "expected 2 or 3");
    q[4] = 1;
    expect_error(bad, q, n, LC_ERR_UNSUPPORTED, "version 1", "version 1", NULL);
    q[4] = 2; /* v2 has the same layout */
    expect_error(bad, q, n, LC_OK, "version 2", NULL, NULL);

    size_t tf = info_field(p, n, "tensor.Q4_1");
    CHECK(tf > 0, "could not locate tensor info");
    memcpy(q, p, n);
    uint32_t ty = 99;
    memcpy(q + tf, &ty, 4);
    expect_error(bad, q, n, LC_ERR_UNSUPPORTED, "unknown type id", "tensor.Q4_1", "type id 99");
    memcpy(q, p, n);
    uint64_t off = (uint64_t)n + 4096;
    memcpy(q + tf + 4, &off, 8);
    expect_error(bad, q, n, LC_ERR_FORMAT, "offset past EOF", "tensor.Q4_1", "past the end");
    memcpy(q, p, n);
    off = 33;
    memcpy(q + tf + 4, &off, 8);
    expect_error(bad, q, n, LC_ERR_FORMAT, "misaligned offset", "tensor.Q4_1", "alignment");
    memcpy(q, p, n);
    uint64_t big = 1ull << 40;
    memcpy(q + tf - 16, &big, 8); /* ne[0] */
    expect_error(bad, q, n, LC_ERR_FORMAT, "huge dims", "tensor.Q4_1", NULL);
    memcpy(q, p, n);
    uint64_t many = 1ull << 50;
    memcpy(q + 16, &many, 8); /* n_kv */
    expect_error(bad, q, n, LC_ERR_FORMAT, "absurd key count", "cannot fit", NULL);

    /* a key's value type id out of range: the first key starts at 24 */
    memcpy(q, p, n);
    uint64_t klen;
    memcpy(&klen, p + 24, 8);
    uint32_t vt = 77;
    memcpy(q + 24 + 8 + klen, &vt, 4);
    expect_error(bad, q, n, LC_ERR_FORMAT, "bad value type", "value type id 77", NULL);

    /* random byte flips in the header: any status, never a crash or leak (run under ASan) */
    lc_rng rng;
    lc_rng_seed(&rng, 3);
    size_t hdr = n < 1200 ? n : 1200;
    int opened = 0;
    for (int it = 0; it < 400; it++) {
        memcpy(q, p, n);
        for (int k = 0; k < 3; k++) q[lc_rng_below(&rng, (uint32_t)hdr)] ^= (uint8_t)(1u << lc_rng_below(&rng, 8));
        spit(bad, q, n);
        lc_gguf *g = NULL;
        if (lc_gguf_open(&g, bad) == LC_OK) opened++;
        lc_gguf_close(g);
    }
    printf("400 random header corruptions: %d still opened (benign flips), none crashed\n", opened);
    lc_gguf *g = NULL;
    CHECK(lc_gguf_open(&g, "/nonexistent/x.gguf") == LC_ERR_IO && strstr(lc_error_msg(), "/nonexistent/x.gguf"),
          "missing file");
    free(p);
    free(q);
    return lc_test_failed();
}

/* ---------------- a tiny synthetic model through lc_model_load_gguf ---------------- */

enum { TM_C = 64, TM_F = 96, TM_L = 2, TM_HQ = 4, TM_HKV = 2, TM_HD = 16, TM_V = 40 };

/* Write a tiny llama/qwen2 GGUF; q/k rows are generated in HF order (hf_q, hf_k: Q8_0
 * bytes) and permuted as llama.cpp's converter does for llama. `drop` omits a tensor. */
static lc_status write_tiny(const char *path, const char *arch, const char *drop, uint8_t *hf_q, uint8_t *hf_k) {
    lc_rng rng;
    lc_rng_seed(&rng, 11);
    lc_gguf_writer *w = NULL;
    lc_status s = lc_gguf_writer_init(&w, 0);
    if (s) return s;
    enum { MAXT = 64 };
    void *bufs[MAXT];
    int nb = 0;
    char key[128];
    lc_gguf_str toks[TM_V];
    char tokmem[TM_V][8];
    for (int i = 0; i < TM_V; i++) {
        snprintf(tokmem[i], sizeof tokmem[i], "t%d", i);
        toks[i] = (lc_gguf_str){tokmem[i], strlen(tokmem[i])};
    }
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", arch, suffix), key)
    if ((s = lc_gguf_writer_add_str(w, "general.architecture", arch)) ||
        (s = lc_gguf_writer_add_u32(w, KEY("embedding_length"), TM_C)) ||
        (s = lc_gguf_writer_add_u32(w, KEY("feed_forward_length"), TM_F)) ||
        (s = lc_gguf_writer_add_u32(w, KEY("block_count"), TM_L)) ||
        (s = lc_gguf_writer_add_u32(w, KEY("attention.head_count"), TM_HQ)) ||
        (s = lc_gguf_writer_add_u32(w, KEY("attention.head_count_kv"), TM_HKV)) ||
        (s = lc_gguf_writer_add_f32(w, KEY("rope.freq_base"), 500000.0f)) ||
        (s = lc_gguf_writer_add_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-6f)) ||
        (s = lc_gguf_writer_add_u32(w, KEY("context_length"), 256)) ||
        (s = lc_gguf_writer_add_arr(w, "tokenizer.ggml.tokens", LC_GGUF_STRING, toks, TM_V)) ||
        (s = lc_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1)))
        goto done;
#undef KEY
    int qwen = strcmp(arch, "qwen2") == 0;
    struct { const char *name; int rows, cols, heads; } mats[] = {
        {"attn_q.weight", TM_HQ * TM_HD, TM_C, TM_HQ}, {"attn_k.weight", TM_HKV * TM_HD, TM_C, TM_HKV},
        {"attn_v.weight", TM_HKV * TM_HD, TM_C, 0},    {"attn_output.weight", TM_C, TM_HQ * TM_HD, 0},
        {"ffn_gate.weight", TM_F, TM_C, 0},            {"ffn_up.weight", TM_F, TM_C, 0},
        {"ffn_down.weight", TM_C, TM_F, 0},
    };
    for (int l = -1; l <= TM_L; l++) {
        int nm = l < 0 || l == TM_L ? 1 : 7 + 2 + (qwen ? 3 : 0);
        for (int j = 0; j < nm; j++) {
            char name[96];
            int rows = 1, cols = TM_C, heads = 0, vec = 1;
            lc_dtype t = LC_DT_F32;
            if (l < 0) snprintf(name, sizeof name, "token_embd.weight"), rows = TM_V, vec = 0, t = LC_DT_Q8_0;
            else if (l == TM_L) snprintf(name, sizeof name, "output_norm.weight");
            else if (j < 7) {
                snprintf(name, sizeof name, "blk.%d.%s", l, mats[j].name);
                rows = mats[j].rows, cols = mats[j].cols, heads = qwen ? 0 : mats[j].heads, vec = 0;
                t = j % 2 ? LC_DT_Q4_1 : LC_DT_Q8_0;
            } else if (j < 9) snprintf(name, sizeof name, "blk.%d.%s", l, j == 7 ? "attn_norm.weight" : "ffn_norm.weight");
            else {
                const char *b[3] = {"attn_q.bias", "attn_k.bias", "attn_v.bias"};
                snprintf(name, sizeof name, "blk.%d.%s", l, b[j - 9]);
                cols = j == 9 ? TM_HQ * TM_HD : TM_HKV * TM_HD;
            }
            if (drop && strcmp(drop, name) == 0) continue;
            float *x = malloc(sizeof(float) * rows * cols);
            for (int i = 0; i < rows * cols; i++) x[i] = lc_rng_normal(&rng);
            size_t rb = lc_dtype_row_bytes(t, cols);
            uint8_t *hf = malloc(rb * rows), *out = malloc(rb * rows);
            lc_quantize(t, x, hf, (int64_t)rows * cols);
            if (heads) /* llama.cpp's permute: GGUF row h*hd + 2i + s <- HF row h*hd + s*hd/2 + i */
                for (int h = 0; h < heads; h++)
                    for (int i = 0; i < TM_HD / 2; i++)
                        for (int sgn = 0; sgn < 2; sgn++)
                            memcpy(out + ((size_t)h * TM_HD + 2 * i + sgn) * rb,
                                   hf + ((size_t)h * TM_HD + sgn * TM_HD / 2 + i) * rb, rb);
            else memcpy(out, hf, rb * rows);
            if (l == 0 && j == 0 && hf_q) memcpy(hf_q, hf, rb * rows);
            if (l == 0 && j == 1 && hf_k) memcpy(hf_k, hf, rb * rows);
            free(x);
            free(hf);
            bufs[nb++] = out;
            int64_t ne[2] = {cols, rows};
            if ((s = lc_gguf_writer_add_tensor(w, name, t, vec ? 1 : 2, ne, out))) goto done;
        }
    }
    s = lc_gguf_writer_write(w, path);
done:
    for (int i = 0; i < nb; i++) free(bufs[i]);
    lc_gguf_writer_free(w);
    return s;
}

static int run_model(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    size_t qb = lc_dtype_row_bytes(LC_DT_Q8_0, TM_C) * TM_HQ * TM_HD;
    size_t kb = lc_dtype_row_bytes(LC_DT_Q4_1, TM_C) * TM_HKV * TM_HD;
    uint8_t *hq = malloc(qb), *hk = malloc(kb);
    const char *archs[2] = {"llama", "qwen2"};
    for (int a = 0; a < 2; a++) {
        CHECK(write_tiny(path, archs[a], NULL, hq, hk) == LC_OK, "write tiny: %s", lc_error_msg());
        lc_model m;
        lc_status s = lc_model_load_gguf(&m, path, NULL);
        CHECK(s == LC_OK, "load tiny %s: %s", archs[a], lc_error_msg());
        if (s) continue;
        const lc_model_config *c = &m.cfg;
        CHECK(c->hidden_size == TM_C && c->intermediate_size == TM_F && c->n_layers == TM_L && c->n_heads == TM_HQ &&
                  c->n_kv_heads == TM_HKV && c->head_dim == TM_HD && c->vocab_size == TM_V && c->rms_eps == 1e-6f &&
                  c->rope_theta == 500000.0f && c->max_position == 256 && c->bos_id == 1 && c->eos_id == -1 &&
                  c->tie_embeddings == 1 && c->attn_bias == (a == 1),
              "tiny %s config", archs[a]);
        CHECK(m.layers[0].wq.type == LC_DT_Q8_0 && memcmp(m.layers[0].wq.data, hq, qb) == 0,
              "tiny %s: q rows not back in HF order", archs[a]);
        CHECK(m.layers[0].wk.type == LC_DT_Q4_1 && memcmp(m.layers[0].wk.data, hk, kb) == 0,
              "tiny %s: k rows not back in HF order", archs[a]);
        CHECK((m.layers[1].bq != NULL) == (a == 1), "tiny %s biases", archs[a]);
        printf("tiny %s: loaded, q/k rows restored to HF order bit-exactly, identity %.16s...\n", archs[a], m.identity);
        lc_model_free(&m);
    }
    /* errors name the tensor */
    CHECK(write_tiny(path, "llama", "blk.1.ffn_up.weight", NULL, NULL) == LC_OK, "write");
    lc_model m;
    lc_status s = lc_model_load_gguf(&m, path, NULL);
    printf("missing tensor -> %s: %s\n", lc_status_name(s), lc_error_msg());
    CHECK(s == LC_ERR_FORMAT && strstr(lc_error_msg(), "blk.1.ffn_up.weight"), "missing tensor error");
    CHECK(write_tiny(path, "gpt9", NULL, NULL, NULL) == LC_OK, "write");
    s = lc_model_load_gguf(&m, path, NULL);
    printf("unknown arch   -> %s: %s\n", lc_status_name(s), lc_error_msg());
    CHECK(s == LC_ERR_UNSUPPORTED && strstr(lc_error_msg(), "gpt9"), "unknown arch error");
    free(hq);
    free(hk);
    return lc_test_failed();
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "model") == 0) return run_model(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "roundtrip") == 0) return run_roundtrip(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "corrupt") == 0) return run_corrupt(argv[2]);
    fprintf(stderr, "usage: test_gguf roundtrip|corrupt DIR\n");
    return 2;
}
