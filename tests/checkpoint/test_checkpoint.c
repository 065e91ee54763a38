/*
 * test_checkpoint.c — tests of the HDF5 checkpoint container (lc_ckpt.h).
 *
 *   test_checkpoint roundtrip  DIR   write/read every kind, bit equality, listing,
 *                                    getter errors, deterministic bytes
 *   test_checkpoint nan        DIR   NaN/inf refused, nothing written, old file intact
 *   test_checkpoint crash      DIR   SIGKILLed writers never leave a partial file
 *   test_checkpoint io         DIR   unwritable/missing dirs, bad files to read
 *   test_checkpoint prune      DIR   lc_ckpt_prune, lc_ckpt_newest_step and lc_ckpt_cleanup_temp
 *   test_checkpoint write-sample PATH   the file check_h5py.py inspects
 *   test_checkpoint read-foreign PATH   check a file check_h5py.py wrote with h5py
 *
 * DIR is emptied first. Exits non-zero on any failed check.
 */
#include "lc_ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#include "../lc_test.h"

/* Expect status `want` and a message containing `needle`. */
static void expect_err(lc_status got, lc_status want, const char *needle, const char *what) {
    CHECK(got == want, "%s: status %s, expected %s (msg: %s)", what, lc_status_name(got),
          lc_status_name(want), lc_error_msg());
    if (needle)
        CHECK(strstr(lc_error_msg(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
              lc_error_msg(), needle);
    printf("  %-34s -> %s: %s\n", what, lc_status_name(got), lc_error_msg());
}

/* ---- small file helpers ---- */

static void rm_tree_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[4096];
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            chmod(p, 0755);
            rm_tree_files(p);
            rmdir(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
}

static void fresh_dir(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot create %s\n", dir);
        exit(1);
    }
    rm_tree_files(dir);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

static int count_files(const char *dir, const char *substr) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (de->d_name[0] != '.' && (!substr || strstr(de->d_name, substr))) n++;
    if (d) closedir(d);
    return n;
}

static void touch(const char *dir, const char *name) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
}

static int exists(const char *dir, const char *name) {
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0;
}

/* Deterministic float pattern with awkward values mixed in. */
static float pattern(uint64_t seed, size_t i) {
    uint64_t h = (seed + 1) * 0x9E3779B97F4A7C15ull ^ (i * 0xBF58476D1CE4E5B9ull);
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 29;
    switch (h % 97) {
    case 0: return -0.0f;
    case 1: return FLT_MIN / 8;  /* subnormal */
    case 2: return FLT_MAX;
    case 3: return -FLT_MIN;
    default: return (float)((double)(h >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

/* Bit-level comparison; prints max abs error (0 when equal) and mismatches. */
static void compare_f32(const char *name, const float *got, const float *want, size_t n) {
    double max_abs = 0, max_rel = 0;
    size_t bit_diff = 0;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) bit_diff++;
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > max_abs) max_abs = d;
        double r = d / fmax(fabs((double)want[i]), 1e-30);
        if (r > max_rel) max_rel = r;
    }
    printf("  %-72s n=%-7zu max_abs=%.3g max_rel=%.3g bit-diff=%zu\n", name, n, max_abs, max_rel,
           bit_diff);
    CHECK(bit_diff == 0, "%s: %zu of %zu floats differ bitwise", name, bit_diff, n);
}

/* ====================================================================== */

#define QA "adapter/base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
#define QB "adapter/base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"

typedef struct {
    float scalar;
    float v7[7];
    float *qa, *qb;       /* (8, 64), (64, 8) */
    float t3[2 * 3 * 5];  /* (2, 3, 5) */
    float *big;           /* (512, 576) */
    int64_t i64[6];
    uint64_t u64[5];
    unsigned char bytes[300];
    char *long_attr;      /* 100 KB string attribute */
} sample;

static const char *k_yaml = "model: stories260K\nlora:\n  r: 8\n  alpha: 16\n"
                            "note: \"caf\xc3\xa9 \xe2\x9c\x93\"\n";

static void sample_init(sample *s) {
    s->scalar = 3.5f;
    for (int i = 0; i < 7; i++) s->v7[i] = pattern(1, i);
    s->qa = malloc(8 * 64 * sizeof(float));
    s->qb = malloc(64 * 8 * sizeof(float));
    s->big = malloc(512 * 576 * sizeof(float));
    for (int i = 0; i < 8 * 64; i++) s->qa[i] = pattern(2, i), s->qb[i] = pattern(3, i);
    for (int i = 0; i < 30; i++) s->t3[i] = pattern(4, i);
    for (int i = 0; i < 512 * 576; i++) s->big[i] = pattern(5, i);
    int64_t iv[6] = {0, -1, 42, INT64_MIN, INT64_MAX, 123456789012345};
    uint64_t uv[5] = {UINT64_MAX, 0, 0x0123456789abcdefull, 1ull << 63, 7};
    memcpy(s->i64, iv, sizeof iv);
    memcpy(s->u64, uv, sizeof uv);
    for (int i = 0; i < 300; i++) s->bytes[i] = (unsigned char)(i * 7);  /* has NULs, 0xff.. */
    s->long_attr = malloc(100001);
    for (int i = 0; i < 100000; i++) s->long_attr[i] = "{%- chat -%}\n"[i % 13];
    s->long_attr[100000] = 0;
}

static void sample_free(sample *s) {
    free(s->qa);
    free(s->qb);
    free(s->big);
    free(s->long_attr);
}

static lc_ckpt *sample_ckpt(const sample *s) {
    lc_ckpt *c;
    REQUIRE_OK(lc_ckpt_create(&c));
    REQUIRE_OK(lc_ckpt_add_f32(c, "scalar", 0, NULL, &s->scalar));
    REQUIRE_OK(lc_ckpt_add_f32(c, "vec7", 1, (int64_t[]){7}, s->v7));
    REQUIRE_OK(lc_ckpt_add_f32(c, QA, 2, (int64_t[]){8, 64}, s->qa));
    REQUIRE_OK(lc_ckpt_add_f32(c, "/" QB, 2, (int64_t[]){64, 8}, s->qb));
    REQUIRE_OK(lc_ckpt_add_f32(c, "deep/a/b/t3", 3, (int64_t[]){2, 3, 5}, s->t3));
    REQUIRE_OK(lc_ckpt_add_f32(c, "optimizer/m/big", 2, (int64_t[]){512, 576}, s->big));
    REQUIRE_OK(lc_ckpt_add_f32(c, "empty", 2, (int64_t[]){0, 4}, NULL));
    REQUIRE_OK(lc_ckpt_add_i64(c, "state/i64", 6, s->i64));
    REQUIRE_OK(lc_ckpt_add_u64(c, "state/rng", 5, s->u64));
    REQUIRE_OK(lc_ckpt_add_bytes(c, "state/blob", s->bytes, sizeof s->bytes));
    REQUIRE_OK(lc_ckpt_add_string(c, "config/train.yaml", k_yaml));
    REQUIRE_OK(lc_ckpt_add_string(c, "config/empty", ""));
    REQUIRE_OK(lc_ckpt_set_attr_str(c, "", "format", "lorac-checkpoint"));
    REQUIRE_OK(lc_ckpt_set_attr_i64(c, "/", "step", 999));  /* replaced below */
    REQUIRE_OK(lc_ckpt_set_attr_i64(c, "/", "step", -1234567890123));
    REQUIRE_OK(lc_ckpt_set_attr_f64(c, "", "loss", 2.718281828459045));
    REQUIRE_OK(lc_ckpt_set_attr_i64(c, "adapter", "r", 8));
    REQUIRE_OK(lc_ckpt_set_attr_f64(c, "adapter", "lora_alpha", 16.0));
    REQUIRE_OK(lc_ckpt_set_attr_str(c, "adapter", "target_modules", "q_proj,v_proj"));
    REQUIRE_OK(lc_ckpt_set_attr_str(c, QA, "role", "lora_A"));
    REQUIRE_OK(lc_ckpt_set_attr_str(c, "meta/tokenizer", "chat_template", s->long_attr));
    REQUIRE_OK(lc_ckpt_set_attr_f64(c, "meta", "tiny", 5e-324));
    return c;
}

static void check_sample(const lc_ckpt *c, const sample *s) {
    const float *x;
    const lc_ckpt_entry *e;
    REQUIRE_OK(lc_ckpt_get_tensor(c, "scalar", &e, &x));
    CHECK(e->ndim == 0 && e->numel == 1, "scalar ndim %d numel %zu", e->ndim, e->numel);
    compare_f32("scalar", x, &s->scalar, 1);
    REQUIRE_OK(lc_ckpt_get_tensor_shaped(c, "vec7", 1, (int64_t[]){7}, &x));
    compare_f32("vec7 (7)", x, s->v7, 7);
    REQUIRE_OK(lc_ckpt_get_tensor_shaped(c, QA, 2, (int64_t[]){8, 64}, &x));
    compare_f32(QA " (8, 64)", x, s->qa, 8 * 64);
    float *copy = malloc(64 * 8 * sizeof(float));
    REQUIRE_OK(lc_ckpt_copy_tensor(c, "/" QB, 2, (int64_t[]){64, 8}, copy));
    compare_f32(QB " (64, 8) copy", copy, s->qb, 64 * 8);
    free(copy);
    REQUIRE_OK(lc_ckpt_get_tensor_shaped(c, "deep/a/b/t3", 3, (int64_t[]){2, 3, 5}, &x));
    compare_f32("deep/a/b/t3 (2, 3, 5)", x, s->t3, 30);
    REQUIRE_OK(lc_ckpt_get_tensor_shaped(c, "optimizer/m/big", 2, (int64_t[]){512, 576}, &x));
    compare_f32("optimizer/m/big (512, 576)", x, s->big, 512 * 576);
    REQUIRE_OK(lc_ckpt_get_tensor(c, "empty", &e, &x));
    CHECK(e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 4 && e->numel == 0,
          "empty: ndim %d shape %" PRId64 "x%" PRId64, e->ndim, e->shape[0], e->shape[1]);

    const int64_t *iv;
    const uint64_t *uv;
    const uint8_t *bv;
    const char *text;
    size_t n;
    REQUIRE_OK(lc_ckpt_get_i64(c, "state/i64", &iv, &n));
    CHECK(n == 6 && memcmp(iv, s->i64, sizeof s->i64) == 0, "i64 array differs (n %zu)", n);
    REQUIRE_OK(lc_ckpt_get_u64(c, "state/rng", &uv, &n));
    CHECK(n == 5 && memcmp(uv, s->u64, sizeof s->u64) == 0, "u64 array differs (n %zu)", n);
    REQUIRE_OK(lc_ckpt_get_bytes(c, "state/blob", &bv, &n));
    CHECK(n == 300 && memcmp(bv, s->bytes, 300) == 0, "bytes differ (n %zu)", n);
    REQUIRE_OK(lc_ckpt_get_string(c, "config/train.yaml", &text));
    CHECK(strcmp(text, k_yaml) == 0, "yaml text differs: '%s'", text);
    REQUIRE_OK(lc_ckpt_get_string(c, "config/empty", &text));
    CHECK(text[0] == 0, "empty string reads back as '%s'", text);
    printf("  int64/uint64/bytes/strings: exact\n");

    const char *sv;
    int64_t i;
    double d;
    REQUIRE_OK(lc_ckpt_get_attr_str(c, "", "format", &sv));
    CHECK(strcmp(sv, "lorac-checkpoint") == 0, "format attr '%s'", sv);
    REQUIRE_OK(lc_ckpt_get_attr_i64(c, "/", "step", &i));
    CHECK(i == -1234567890123, "step attr %" PRId64, i);
    REQUIRE_OK(lc_ckpt_get_attr_f64(c, "", "loss", &d));
    CHECK(d == 2.718281828459045, "loss attr %.17g", d);
    REQUIRE_OK(lc_ckpt_get_attr_i64(c, "adapter", "r", &i));
    CHECK(i == 8, "r attr %" PRId64, i);
    REQUIRE_OK(lc_ckpt_get_attr_f64(c, "adapter", "r", &d));  /* int attr read as double */
    CHECK(d == 8.0, "r as double %g", d);
    REQUIRE_OK(lc_ckpt_get_attr_f64(c, "/adapter", "lora_alpha", &d));
    CHECK(d == 16.0, "lora_alpha %g", d);
    REQUIRE_OK(lc_ckpt_get_attr_str(c, "adapter", "target_modules", &sv));
    CHECK(strcmp(sv, "q_proj,v_proj") == 0, "target_modules '%s'", sv);
    REQUIRE_OK(lc_ckpt_get_attr_str(c, QA, "role", &sv));
    CHECK(strcmp(sv, "lora_A") == 0, "role '%s'", sv);
    REQUIRE_OK(lc_ckpt_get_attr_str(c, "meta/tokenizer", "chat_template", &sv));
    CHECK(strcmp(sv, s->long_attr) == 0, "100 KB chat_template attribute differs");
    REQUIRE_OK(lc_ckpt_get_attr_f64(c, "meta", "tiny", &d));
    CHECK(d == 5e-324, "tiny %g", d);
    printf("  attributes (str/int64/double, root/group/dataset, 100 KB string): exact\n");
}

static int cmd_roundtrip(const char *dir) {
    fresh_dir(dir);
    sample s;
    sample_init(&s);
    lc_ckpt *c = sample_ckpt(&s);
    char path[4096], path2[4096];
    snprintf(path, sizeof path, "%s/ckpt-1.h5", dir);
    snprintf(path2, sizeof path2, "%s/again.h5", dir);
    printf("in-memory container:\n");
    check_sample(c, &s);
    REQUIRE_OK(lc_ckpt_write(c, path));
    usleep(1100000);  /* a second apart: any timestamp in the file would differ */
    REQUIRE_OK(lc_ckpt_write(c, path2));
    CHECK(count_files(dir, ".tmp.") == 0, "temp files left behind");

    size_t n1, n2;
    unsigned char *b1 = slurp(path, &n1), *b2 = slurp(path2, &n2);
    CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0,
          "two writes of the same container differ (%zu vs %zu bytes)", n1, n2);
    printf("deterministic: two writes give identical %zu-byte files\n", n1);
    /* big (512, 576) random floats: shuffle+deflate shrinks the sign/exponent bytes */
    size_t raw = (512 * 576 + 2 * 8 * 64 + 37) * sizeof(float) + 100000;
    printf("file %zu bytes vs %zu raw payload bytes\n", n1, raw);
    CHECK(n1 < raw, "file not compressed: %zu >= %zu", n1, raw);
    free(b1);
    free(b2);

    lc_ckpt *r;
    REQUIRE_OK(lc_ckpt_read(&r, path));
    printf("read back from %s:\n", path);
    check_sample(r, &s);
    CHECK(strcmp(lc_ckpt_source(r), path) == 0, "source '%s'", lc_ckpt_source(r));

    /* listing: every dataset once, with the right kinds */
    CHECK(lc_ckpt_count(r) == lc_ckpt_count(c), "count %zu vs %zu", lc_ckpt_count(r),
          lc_ckpt_count(c));
    for (size_t i = 0; i < lc_ckpt_count(c); i++) {
        const lc_ckpt_entry *want = lc_ckpt_entry_at(c, i);
        const lc_ckpt_entry *got = lc_ckpt_find(r, want->name);
        CHECK(got && got->kind == want->kind && got->ndim == want->ndim &&
                  got->numel == want->numel,
              "entry '%s' differs after reading", want->name);
    }
    for (size_t i = 0; i < lc_ckpt_count(r); i++) {
        const lc_ckpt_entry *e = lc_ckpt_entry_at(r, i);
        printf("  [%zu] %-72s kind %d ndim %d numel %zu\n", i, e->name, e->kind, e->ndim,
               e->numel);
    }
    CHECK(lc_ckpt_attr_count(r) == lc_ckpt_attr_count(c), "attr count %zu vs %zu",
          lc_ckpt_attr_count(r), lc_ckpt_attr_count(c));
    CHECK(lc_ckpt_has_attr(r, "adapter", "r") && !lc_ckpt_has_attr(r, "adapter", "nope"),
          "has_attr");

    /* errors from getters */
    const float *x;
    printf("getter errors:\n");
    expect_err(lc_ckpt_get_tensor_shaped(r, QA, 2, (int64_t[]){8, 32}, &x), LC_ERR_MISMATCH,
               "expected (8, 32), found (8, 64)", "wrong shape");
    expect_err(lc_ckpt_get_tensor_shaped(r, QA, 1, (int64_t[]){512}, &x), LC_ERR_MISMATCH,
               "expected (512), found (8, 64)", "wrong rank");
    CHECK(strstr(lc_error_msg(), path) && strstr(lc_error_msg(), QA), "names file+tensor");
    expect_err(lc_ckpt_get_tensor(r, "adapter/nope", NULL, &x), LC_ERR_FORMAT, "adapter/nope",
               "missing tensor");
    CHECK(strstr(lc_error_msg(), path) != NULL, "missing-name message lacks the path");
    expect_err(lc_ckpt_get_tensor(r, "state/rng", NULL, &x), LC_ERR_FORMAT,
               "is a uint64 array, expected a float32 tensor", "wrong kind");
    const int64_t *iv;
    size_t n;
    expect_err(lc_ckpt_get_i64(r, "state/rng", &iv, &n), LC_ERR_FORMAT, "expected an int64",
               "u64 as i64");
    int64_t iv1;
    expect_err(lc_ckpt_get_attr_i64(r, "adapter", "lora_alpha", &iv1), LC_ERR_FORMAT,
               "is a float, expected an integer", "float attr as int");
    expect_err(lc_ckpt_get_attr_i64(r, "adapter", "missing", &iv1), LC_ERR_FORMAT,
               "no attribute 'missing' on '/adapter'", "missing attribute");
    const char *text;
    expect_err(lc_ckpt_get_string(r, "state/blob", &text), LC_ERR_FORMAT, "NUL byte",
               "bytes with NULs as text");

    /* errors from building */
    printf("builder errors:\n");
    float one = 1;
    expect_err(lc_ckpt_add_f32(c, QA, 1, (int64_t[]){1}, &one), LC_ERR_ARG, "added twice",
               "duplicate name");
    expect_err(lc_ckpt_add_f32(c, "adapter", 1, (int64_t[]){1}, &one), LC_ERR_ARG,
               "conflicts", "dataset over a group");
    expect_err(lc_ckpt_add_f32(c, "vec7/x", 1, (int64_t[]){1}, &one), LC_ERR_ARG, "conflicts",
               "group under a dataset");
    expect_err(lc_ckpt_add_f32(c, "a//b", 1, (int64_t[]){1}, &one), LC_ERR_ARG, "component",
               "empty component");
    expect_err(lc_ckpt_add_f32(c, "a/../b", 1, (int64_t[]){1}, &one), LC_ERR_ARG, "component",
               "dot-dot component");
    expect_err(lc_ckpt_add_f32(c, "x", 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, &one),
               LC_ERR_ARG, "ndim 9", "rank 9");
    expect_err(lc_ckpt_add_f32(c, "y", 1, (int64_t[]){-2}, &one), LC_ERR_ARG, "-2",
               "negative dim");
    expect_err(lc_ckpt_set_attr_i64(c, "", "a/b", 1), LC_ERR_ARG, "without '/'",
               "key with slash");

    /* a read container can be extended and written again */
    float extra[3] = {1, 2, 3};
    REQUIRE_OK(lc_ckpt_add_f32(r, "extra", 1, (int64_t[]){3}, extra));
    REQUIRE_OK(lc_ckpt_set_attr_i64(r, "adapter", "new_attr", 7));
    REQUIRE_OK(lc_ckpt_write(r, path2));
    lc_ckpt *r2;
    REQUIRE_OK(lc_ckpt_read(&r2, path2));
    printf("read, extended, written, read again:\n");
    check_sample(r2, &s);
    int64_t na;
    REQUIRE_OK(lc_ckpt_get_attr_i64(r2, "adapter", "new_attr", &na));
    CHECK(na == 7, "new_attr after rewrite %" PRId64, na);
    REQUIRE_OK(lc_ckpt_get_tensor_shaped(r2, "extra", 1, (int64_t[]){3}, &x));
    compare_f32("extra (3)", x, extra, 3);
    lc_ckpt_free(r2);

    /* an attribute on a path through a dataset fails cleanly, old file kept */
    lc_ckpt *bad;
    REQUIRE_OK(lc_ckpt_create(&bad));
    REQUIRE_OK(lc_ckpt_add_f32(bad, "t", 1, (int64_t[]){1}, &one));
    REQUIRE_OK(lc_ckpt_set_attr_i64(bad, "t/sub", "k", 1));
    expect_err(lc_ckpt_write(bad, path2), LC_ERR_FORMAT, "t", "attr under a dataset");
    CHECK(count_files(dir, ".tmp.") == 0, "temp file left after a failed write");
    REQUIRE_OK(lc_ckpt_read(&r2, path2));
    CHECK(lc_ckpt_find(r2, "extra") != NULL, "previous file damaged by a failed write");
    lc_ckpt_free(r2);
    lc_ckpt_free(bad);

    lc_ckpt_free(r);
    lc_ckpt_free(c);
    sample_free(&s);
    return g_fail;
}

/* ====================================================================== */

static int cmd_nan(const char *dir) {
    fresh_dir(dir);
    char path[4096], fresh[4096];
    snprintf(path, sizeof path, "%s/ckpt.h5", dir);
    snprintf(fresh, sizeof fresh, "%s/never.h5", dir);
    float good[1000], bad[1000];
    for (int i = 0; i < 1000; i++) good[i] = bad[i] = pattern(9, i);
    lc_ckpt *c;
    REQUIRE_OK(lc_ckpt_create(&c));
    REQUIRE_OK(lc_ckpt_add_f32(c, "adapter/w", 2, (int64_t[]){10, 100}, good));
    REQUIRE_OK(lc_ckpt_set_attr_i64(c, "", "step", 1));
    REQUIRE_OK(lc_ckpt_write(c, path));
    lc_ckpt_free(c);
    size_t n0, n1;
    unsigned char *before = slurp(path, &n0);
    struct stat st0, st1;
    stat(path, &st0);

    const float specials[3] = {NAN, INFINITY, -INFINITY};
    const char *names[3] = {"NaN", "inf", "inf"};
    for (int k = 0; k < 3; k++) {
        bad[777] = specials[k];
        REQUIRE_OK(lc_ckpt_create(&c));
        REQUIRE_OK(lc_ckpt_add_f32(c, "adapter/w", 2, (int64_t[]){10, 100}, good));
        REQUIRE_OK(lc_ckpt_add_f32(c, "optimizer/m/adapter.w", 2, (int64_t[]){10, 100}, bad));
        REQUIRE_OK(lc_ckpt_set_attr_i64(c, "", "step", 2));
        expect_err(lc_ckpt_write(c, path), LC_ERR_NUMERIC, "optimizer/m/adapter.w",
                   "non-finite over an old file");
        CHECK(strstr(lc_error_msg(), "element 777") && strstr(lc_error_msg(), names[k]),
              "message lacks element index / kind: %s", lc_error_msg());
        expect_err(lc_ckpt_write(c, fresh), LC_ERR_NUMERIC, "optimizer/m/adapter.w",
                   "non-finite, no old file");
        lc_ckpt_free(c);
        CHECK(!exists(dir, "never.h5"), "a file was created for a NaN checkpoint");
        CHECK(count_files(dir, NULL) == 1, "extra files in %s: %d", dir, count_files(dir, NULL));
        unsigned char *after = slurp(path, &n1);
        stat(path, &st1);
        CHECK(after && n0 == n1 && memcmp(before, after, n0) == 0 && st0.st_ino == st1.st_ino,
              "old checkpoint changed by a refused write");
        free(after);
    }
    /* and the old one still loads with step 1 */
    lc_ckpt *r;
    REQUIRE_OK(lc_ckpt_read(&r, path));
    int64_t step;
    REQUIRE_OK(lc_ckpt_get_attr_i64(r, "", "step", &step));
    CHECK(step == 1, "step %" PRId64, step);
    lc_ckpt_free(r);
    printf("NaN/+inf/-inf refused; old file byte-identical (%zu bytes, same inode), "
           "no new file\n", n0);
    free(before);
    return g_fail;
}

/* ====================================================================== */

#define CRASH_N (1 << 21)  /* 2M floats = 8 MiB per tensor, two tensors */

static void fill_version(float *a, float *b, int64_t version) {
    for (size_t i = 0; i < CRASH_N; i++) {
        a[i] = pattern((uint64_t)version, i);
        b[i] = (float)version + (float)(i % 1024) * 0.5f;
    }
}

/* Child: write versions first_version, +1, ... to path until killed. */
static void crash_writer(const char *path, int64_t first_version) {
    float *a = malloc(CRASH_N * sizeof(float)), *b = malloc(CRASH_N * sizeof(float));
    for (int64_t v = first_version;; v++) {
        fill_version(a, b, v);
        lc_ckpt *c;
        if (lc_ckpt_create(&c)) _exit(3);
        lc_ckpt_add_f32(c, "adapter/a", 2, (int64_t[]){2048, 1024}, a);
        lc_ckpt_add_f32(c, "optimizer/b", 1, (int64_t[]){CRASH_N}, b);
        lc_ckpt_set_attr_i64(c, "", "version", v);
        if (lc_ckpt_write(c, path) != LC_OK) {
            fprintf(stderr, "child: %s\n", lc_error_msg());
            _exit(2);
        }
        lc_ckpt_free(c);
    }
}

/* Load path and check it is one complete version; returns it, or -1. */
static int64_t crash_verify(const char *path, float *a, float *b) {
    lc_ckpt *r;
    if (lc_ckpt_read(&r, path) != LC_OK) {
        fprintf(stderr, "FAIL: %s does not load: %s\n", path, lc_error_msg());
        return -1;
    }
    int64_t v = -1;
    const float *ga, *gb;
    if (lc_ckpt_get_attr_i64(r, "", "version", &v) ||
        lc_ckpt_get_tensor_shaped(r, "adapter/a", 2, (int64_t[]){2048, 1024}, &ga) ||
        lc_ckpt_get_tensor_shaped(r, "optimizer/b", 1, (int64_t[]){CRASH_N}, &gb)) {
        fprintf(stderr, "FAIL: %s incomplete: %s\n", path, lc_error_msg());
        lc_ckpt_free(r);
        return -1;
    }
    fill_version(a, b, v);
    int same = memcmp(a, ga, CRASH_N * sizeof(float)) == 0 &&
               memcmp(b, gb, CRASH_N * sizeof(float)) == 0;
    lc_ckpt_free(r);
    if (!same) {
        fprintf(stderr, "FAIL: %s version %" PRId64 " has data of another version\n", path, v);
        return -1;
    }
    return v;
}

static int cmd_crash(const char *dir) {
    fresh_dir(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/ckpt.h5", dir);
    float *a = malloc(CRASH_N * sizeof(float)), *b = malloc(CRASH_N * sizeof(float));
    /* version 0 written by us, so there is always a previous checkpoint */
    fill_version(a, b, 0);
    lc_ckpt *c;
    REQUIRE_OK(lc_ckpt_create(&c));
    REQUIRE_OK(lc_ckpt_add_f32(c, "adapter/a", 2, (int64_t[]){2048, 1024}, a));
    REQUIRE_OK(lc_ckpt_add_f32(c, "optimizer/b", 1, (int64_t[]){CRASH_N}, b));
    REQUIRE_OK(lc_ckpt_set_attr_i64(c, "", "version", 0));
    double t0 = lc_time_now();
    REQUIRE_OK(lc_ckpt_write(c, path));
    double t_write = lc_time_now() - t0;
    lc_ckpt_free(c);
    printf("one 16 MiB write takes %.0f ms\n", t_write * 1e3);

    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int iters = 10, mid_write = 0;
    int64_t last = 0, next_first = 1;
    for (int it = 0; it < iters; it++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) crash_writer(path, next_first);
        /* kill somewhere within the first ~2.5 writes (fill + write) */
        long us = 20000 + rand() % (long)(2.5e6 * t_write + 60000);
        usleep((useconds_t)us);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "child ended otherwise (status %d)", status);
        int tmps = count_files(dir, ".tmp.");
        mid_write += tmps > 0;
        int64_t v = crash_verify(path, a, b);
        CHECK(v >= 0, "iteration %d: no loadable checkpoint", it);
        CHECK(v >= last, "iteration %d: version went back from %" PRId64 " to %" PRId64, it,
              last, v);
        printf("  iter %d: killed after %5.1f ms, temp files left %d, file holds version %"
               PRId64 " (complete)\n", it, us / 1e3, tmps, v);
        if (v > last) last = v;
        next_first += 1000;  /* each child writes its own version range */
        int removed;
        REQUIRE_OK(lc_ckpt_cleanup_temp(dir, &removed));
        CHECK(removed == tmps, "cleanup removed %d of %d temp files", removed, tmps);
        CHECK(count_files(dir, ".tmp.") == 0, "temp files remain after cleanup");
    }
    printf("%d of %d kills landed mid-write (temp file present)\n", mid_write, iters);
    CHECK(mid_write >= 1, "no kill happened during a write; the test proved nothing");
    CHECK(count_files(dir, NULL) == 1, "stray files in %s", dir);
    free(a);
    free(b);
    return g_fail;
}

/* ====================================================================== */

static lc_ckpt *small_ckpt(float *buf) {
    lc_ckpt *c;
    REQUIRE_OK(lc_ckpt_create(&c));
    REQUIRE_OK(lc_ckpt_add_f32(c, "w", 1, (int64_t[]){4}, buf));
    return c;
}

static int cmd_io(const char *dir) {
    fresh_dir(dir);
    float buf[4] = {1, 2, 3, 4};
    lc_ckpt *c = small_ckpt(buf), *r = NULL;
    char path[4096];
    printf("write errors:\n");
    snprintf(path, sizeof path, "%s/no/such/dir/ckpt.h5", dir);
    expect_err(lc_ckpt_write(c, path), LC_ERR_IO, "No such file or directory", "missing dir");
    CHECK(strstr(lc_error_msg(), dir) != NULL, "message lacks the path");
    touch(dir, "plainfile");
    snprintf(path, sizeof path, "%s/plainfile/ckpt.h5", dir);
    expect_err(lc_ckpt_write(c, path), LC_ERR_IO, "Not a directory", "dir is a file");
    snprintf(path, sizeof path, "%s/sub/", dir);
    expect_err(lc_ckpt_write(c, path), LC_ERR_ARG, "directory", "path ends in '/'");
    /* path is an existing directory: rename fails, temp removed */
    snprintf(path, sizeof path, "%s/adir", dir);
    mkdir(path, 0755);
    expect_err(lc_ckpt_write(c, path), LC_ERR_IO, "rename", "path is a directory");
    CHECK(count_files(dir, ".tmp.") == 0, "temp left after failed rename");

    /* read-only directory: as an unprivileged user (root ignores modes, so a
     * root test drops to 'nobody' in a child) */
    char ro[4096], old[4096];
    snprintf(ro, sizeof ro, "%s/readonly", dir);
    snprintf(old, sizeof old, "%s/readonly/ckpt.h5", dir);
    mkdir(ro, 0755);
    REQUIRE_OK(lc_ckpt_write(c, old));
    chmod(old, 0644);
    chmod(ro, 0555);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && setuid(65534) != 0) _exit(77);
        buf[0] = 99;
        lc_status st = lc_ckpt_write(c, old);
        printf("  %-34s -> %s: %s\n", "read-only directory", lc_status_name(st), lc_error_msg());
        fflush(stdout);
        _exit(st == LC_ERR_IO && strstr(lc_error_msg(), "Permission denied") ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        printf("  read-only directory: SKIPPED (cannot drop root privileges)\n");
    } else {
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "read-only dir did not give LC_ERR_IO 'Permission denied'");
        const float *x;
        REQUIRE_OK(lc_ckpt_read(&r, old));
        REQUIRE_OK(lc_ckpt_get_tensor(r, "w", NULL, &x));
        CHECK(x[0] == 1.0f, "old file changed: w[0] = %g", x[0]);
        lc_ckpt_free(r);
        r = NULL;
    }
    chmod(ro, 0755);
    lc_ckpt_free(c);

    printf("read errors:\n");
    snprintf(path, sizeof path, "%s/missing.h5", dir);
    expect_err(lc_ckpt_read(&r, path), LC_ERR_IO, "No such file", "missing file");
    CHECK(r == NULL, "out not NULL on failure");
    expect_err(lc_ckpt_read(&r, dir), LC_ERR_IO, "not a regular file", "directory");
    snprintf(path, sizeof path, "%s/text.h5", dir);
    FILE *f = fopen(path, "w");
    fputs("model: not really hdf5\n", f);
    fclose(f);
    expect_err(lc_ckpt_read(&r, path), LC_ERR_FORMAT, "not an HDF5 file", "text file");
    /* truncated copies of a real checkpoint */
    float big[20000];
    for (int i = 0; i < 20000; i++) big[i] = pattern(11, i);
    REQUIRE_OK(lc_ckpt_create(&c));
    REQUIRE_OK(lc_ckpt_add_f32(c, "adapter/big", 2, (int64_t[]){100, 200}, big));
    REQUIRE_OK(lc_ckpt_set_attr_str(c, "adapter", "note", "x"));
    snprintf(path, sizeof path, "%s/full.h5", dir);
    REQUIRE_OK(lc_ckpt_write(c, path));
    lc_ckpt_free(c);
    size_t n;
    unsigned char *bytes = slurp(path, &n);
    const double fracs[4] = {0.05, 0.5, 0.9, 0.999};
    for (int k = 0; k < 4; k++) {
        char tp[4096], what[64];
        snprintf(tp, sizeof tp, "%s/trunc%d.h5", dir, k);
        f = fopen(tp, "wb");
        fwrite(bytes, 1, (size_t)(n * fracs[k]), f);
        fclose(f);
        snprintf(what, sizeof what, "truncated to %.1f%%", fracs[k] * 100);
        lc_status st = lc_ckpt_read(&r, tp);
        expect_err(st, LC_ERR_FORMAT, tp, what);
        lc_ckpt_free(r);
        r = NULL;
    }
    free(bytes);
    return g_fail;
}

/* ====================================================================== */

static int cmd_prune(const char *dir) {
    fresh_dir(dir);
    const char *files[] = {"ckpt-1.h5", "ckpt-2.h5", "ckpt-10.h5", "ckpt-9.h5",
                           "ckpt-100.h5", "ckpt-best.h5", "ckpt-5.h5.tmp.123",
                           "other-3.h5", "ckpt-7.txt", "ckpt-.h5", "ckpt-3.h5x"};
    size_t nf = sizeof files / sizeof *files;
    for (size_t i = 0; i < nf; i++) touch(dir, files[i]);
    /* the newest step: ckpt-100 (not the temp file, "other-", "ckpt-best" or odd names) */
    CHECK(lc_ckpt_newest_step(dir, "ckpt") == 100, "newest step %lld, expected 100",
          (long long)lc_ckpt_newest_step(dir, "ckpt"));
    CHECK(lc_ckpt_newest_step(dir, "other") == 3 && lc_ckpt_newest_step(dir, "none") == -1,
          "newest step of other prefixes");
    int del = -1;
    REQUIRE_OK(lc_ckpt_prune(dir, "ckpt", 0, &del));
    CHECK(del == 0 && count_files(dir, NULL) == (int)nf, "keep_last 0 deleted %d", del);
    REQUIRE_OK(lc_ckpt_prune(dir, "ckpt", 2, &del));
    CHECK(del == 3, "deleted %d, expected 3", del);
    const char *kept[] = {"ckpt-100.h5", "ckpt-10.h5", "ckpt-best.h5", "ckpt-5.h5.tmp.123",
                          "other-3.h5", "ckpt-7.txt", "ckpt-.h5", "ckpt-3.h5x"};
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
        CHECK(exists(dir, kept[i]), "%s was deleted", kept[i]);
    CHECK(!exists(dir, "ckpt-1.h5") && !exists(dir, "ckpt-2.h5") && !exists(dir, "ckpt-9.h5"),
          "old checkpoints kept");
    REQUIRE_OK(lc_ckpt_prune(dir, "ckpt", 5, &del));
    CHECK(del == 0, "second prune deleted %d", del);
    printf("prune keep_last=2: deleted ckpt-1, -2, -9; kept ckpt-10, -100 and non-matching\n");
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    expect_err(lc_ckpt_prune(missing, "ckpt", 2, &del), LC_ERR_IO, "nope", "prune missing dir");
    CHECK(lc_ckpt_newest_step(missing, "ckpt") == -1, "newest step of a missing dir");

    /* temp files: a dead writer's is removed, a live one's and odd names kept */
    fflush(stdout);
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char name[256];
    snprintf(name, sizeof name, "ckpt-11.h5.tmp.%ld", (long)dead);
    touch(dir, name);
    char live[256];
    snprintf(live, sizeof live, "ckpt-12.h5.tmp.%ld", (long)getppid());
    touch(dir, live);
    char mine[256];
    snprintf(mine, sizeof mine, "ckpt-13.h5.tmp.%ld", (long)getpid());
    touch(dir, mine);
    touch(dir, "notes.tmp.txt");
    int removed = -1;
    REQUIRE_OK(lc_ckpt_cleanup_temp(dir, &removed));
    CHECK(!exists(dir, name), "dead writer's temp %s kept", name);
    CHECK(!exists(dir, mine), "own stale temp %s kept", mine);
    CHECK(exists(dir, live), "live process's temp %s removed", live);
    CHECK(exists(dir, "notes.tmp.txt"), "unrelated file removed");
    /* ckpt-5.h5.tmp.123: pid 123 is normally not running; either way it is a temp */
    printf("cleanup_temp removed %d files (dead pid %ld, own pid); kept live pid %ld's\n",
           removed, (long)dead, (long)getppid());
    CHECK(removed >= 2, "removed %d", removed);
    return g_fail;
}

/* ====================================================================== */

/* The documented sample that check_h5py.py inspects. Values are exact in
 * float32 and easy to recompute in numpy: A[i] = (i % 1000) * 0.25 - 100. */
static int cmd_write_sample(const char *path) {
    float *qa = malloc(8 * 64 * sizeof(float)), *qb = malloc(64 * 8 * sizeof(float));
    float *m = malloc(512 * 576 * sizeof(float));
    for (int i = 0; i < 8 * 64; i++) qa[i] = (float)(i % 1000) * 0.25f - 100.0f;
    for (int i = 0; i < 64 * 8; i++) qb[i] = (float)i * -0.5f;
    for (int i = 0; i < 512 * 576; i++) m[i] = (float)(i % 1000) * 0.25f - 100.0f;
    int64_t order[1000];
    for (int i = 0; i < 1000; i++) order[i] = (i * 37) % 1000;
    uint64_t rng[4] = {1, 2, UINT64_MAX, 0x0123456789abcdefull};
    lc_ckpt *c;
    REQUIRE_OK(lc_ckpt_create(&c));
    REQUIRE_OK(lc_ckpt_add_f32(c, QA, 2, (int64_t[]){8, 64}, qa));
    REQUIRE_OK(lc_ckpt_add_f32(c, QB, 2, (int64_t[]){64, 8}, qb));
    REQUIRE_OK(lc_ckpt_add_f32(c, "optimizer/m/big", 2, (int64_t[]){512, 576}, m));
    REQUIRE_OK(lc_ckpt_add_i64(c, "state/data_order", 1000, order));
    REQUIRE_OK(lc_ckpt_add_u64(c, "state/rng", 4, rng));
    REQUIRE_OK(lc_ckpt_add_bytes(c, "state/blob", "\x00\x01\xff", 3));
    REQUIRE_OK(lc_ckpt_add_string(c, "config/train.yaml", k_yaml));
    REQUIRE_OK(lc_ckpt_set_attr_str(c, "", "format", "lorac-checkpoint"));
    REQUIRE_OK(lc_ckpt_set_attr_i64(c, "", "step", 1234));
    REQUIRE_OK(lc_ckpt_set_attr_f64(c, "", "loss", 1.25));
    REQUIRE_OK(lc_ckpt_set_attr_i64(c, "adapter", "r", 8));
    REQUIRE_OK(lc_ckpt_set_attr_f64(c, "adapter", "lora_alpha", 16.0));
    REQUIRE_OK(lc_ckpt_set_attr_str(c, "adapter", "target_modules", "q_proj,v_proj"));
    REQUIRE_OK(lc_ckpt_write(c, path));
    lc_ckpt_free(c);
    free(qa);
    free(qb);
    free(m);
    printf("wrote %s\n", path);
    return 0;
}

/* Check the file check_h5py.py wrote with h5py (see that script). */
static int cmd_read_foreign(const char *path) {
    lc_ckpt *r;
    REQUIRE_OK(lc_ckpt_read(&r, path));
    for (size_t i = 0; i < lc_ckpt_count(r); i++) {
        const lc_ckpt_entry *e = lc_ckpt_entry_at(r, i);
        printf("  %-40s kind %d ndim %d numel %zu %s\n", e->name, e->kind, e->ndim, e->numel,
               e->note ? e->note : "");
    }
    const float *x;
    float want[6] = {0.1f, -2.5f, 1e-3f, 3.0f, 1e30f, -0.0f};
    REQUIRE_OK(lc_ckpt_get_tensor_shaped(r, "f64", 2, (int64_t[]){2, 3}, &x));
    compare_f32("f64 -> f32 (2, 3)", x, want, 6);
    REQUIRE_OK(lc_ckpt_get_tensor_shaped(r, "grp/f32", 1, (int64_t[]){6}, &x));
    compare_f32("grp/f32 (6)", x, want, 6);
    float half[3] = {1.5f, -2.0f, 0.0009765625f};
    REQUIRE_OK(lc_ckpt_get_tensor_shaped(r, "f16", 1, (int64_t[]){3}, &x));
    compare_f32("f16 -> f32 (3)", x, half, 3);
    const int64_t *iv;
    const uint64_t *uv;
    size_t n;
    REQUIRE_OK(lc_ckpt_get_i64(r, "i32", &iv, &n));
    CHECK(n == 3 && iv[0] == -7 && iv[1] == 0 && iv[2] == 2147483647, "i32 widened wrong");
    REQUIRE_OK(lc_ckpt_get_u64(r, "u16", &uv, &n));
    CHECK(n == 2 && uv[0] == 65535 && uv[1] == 1, "u16 widened wrong");
    const char *s;
    REQUIRE_OK(lc_ckpt_get_string(r, "vlen_text", &s));
    CHECK(strcmp(s, "h\xc3\xa9llo\nworld") == 0, "vlen text '%s'", s);
    REQUIRE_OK(lc_ckpt_get_string(r, "fixed_text", &s));
    CHECK(strcmp(s, "abc") == 0, "fixed text '%s'", s);
    expect_err(lc_ckpt_get_string(r, "str_list", &s), LC_ERR_FORMAT, "array of 2 strings",
               "array of strings");
    expect_err(lc_ckpt_get_tensor(r, "compound", NULL, &x), LC_ERR_FORMAT, "compound",
               "compound dataset");
    expect_err(lc_ckpt_get_tensor(r, "nan", NULL, &x), LC_ERR_NUMERIC, "element 1 of 3",
               "NaN in a foreign file");
    CHECK(lc_ckpt_find(r, "soft") == NULL, "soft link was followed");
    int64_t i;
    double d;
    REQUIRE_OK(lc_ckpt_get_attr_str(r, "", "vlen_attr", &s));
    CHECK(strcmp(s, "\xe2\x9c\x93 ok") == 0, "vlen attr '%s'", s);
    REQUIRE_OK(lc_ckpt_get_attr_i64(r, "", "np_int32", &i));
    CHECK(i == -5, "np_int32 %" PRId64, i);
    REQUIRE_OK(lc_ckpt_get_attr_i64(r, "", "py_int", &i));
    CHECK(i == 1234567890123, "py_int %" PRId64, i);
    REQUIRE_OK(lc_ckpt_get_attr_f64(r, "grp", "py_float", &d));
    CHECK(d == 0.1, "py_float %.17g", d);
    expect_err(lc_ckpt_get_attr_str(r, "", "list_attr", &s), LC_ERR_FORMAT, "(3 elements)",
               "array attribute");
    expect_err(lc_ckpt_get_attr_i64(r, "", "bool_attr", &i), LC_ERR_FORMAT, "enum or bool",
               "bool attribute");
    REQUIRE_OK(lc_ckpt_get_attr_i64(r, "grp/f32", "dset_attr", &i));
    CHECK(i == 3, "dset_attr %" PRId64, i);
    lc_ckpt_free(r);
    return g_fail;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s roundtrip|nan|crash|io|prune DIR | write-sample PATH | "
                        "read-foreign PATH\n", argv[0]);
        return 2;
    }
    const char *cmd = argv[1], *arg = argv[2];
    int rc;
    if (!strcmp(cmd, "roundtrip")) rc = cmd_roundtrip(arg);
    else if (!strcmp(cmd, "nan")) rc = cmd_nan(arg);
    else if (!strcmp(cmd, "crash")) rc = cmd_crash(arg);
    else if (!strcmp(cmd, "io")) rc = cmd_io(arg);
    else if (!strcmp(cmd, "prune")) rc = cmd_prune(arg);
    else if (!strcmp(cmd, "write-sample")) rc = cmd_write_sample(arg);
    else if (!strcmp(cmd, "read-foreign")) rc = cmd_read_foreign(arg);
    else {
        fprintf(stderr, "unknown command %s\n", cmd);
        return 2;
    }
    printf("%s: %s (%d failed checks)\n", cmd, rc ? "FAILED" : "ok", rc);
    return rc ? 1 : 0;
}
