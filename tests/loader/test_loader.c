/*
 * test_loader.c — tests of the safetensors reader/writer and the HF loader.
 *
 *   test_loader safetensors <fixtures> <tmp>   reader on every dtype, writer round trip,
 *                                              every header validation error
 *   test_loader stories <model dir> <ref dir>  the real stories260K-hf model: config,
 *                                              tensors vs Python safetensors, zero copy
 *   test_loader hf <model dir> <ref dir> <arch> <dtype> <sliding window>
 *                                              a transformers-written model: every tensor
 *                                              vs torch's fp32 conversion (bit exact)
 *   test_loader errors <stories dir> <tmp>     broken model dirs give their specific error
 *
 * Reference tensors are raw float32 files written by gen_fixtures.py. Every
 * comparison prints max abs / rel error; the exit status is the failure count.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lc_cpu.h"
#include "lc_loader.h"
#include "lc_quant.h"
#include "lc_safetensors.h"


#include "../lc_test.h"

/* ---- small file helpers ---- */

static void *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)sz + 1);
    if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) *n = (size_t)sz;
    return buf;
}

static void write_all(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void make_dir(const char *path) {
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    if (mkdir(path, 0755) && errno != EEXIST) {
        fprintf(stderr, "cannot create %s\n", path);
        exit(2);
    }
}

/* A safetensors file from header text and data, with an optional forged length. */
static void write_raw_st(const char *path, const char *header, const void *data, size_t ndata, uint64_t hlen) {
    size_t hl = strlen(header);
    if (!hlen) hlen = hl;
    unsigned char *buf = malloc(8 + hl + ndata);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (ndata) memcpy(buf + 8 + hl, data, ndata);
    write_all(path, buf, 8 + hl + ndata);
    free(buf);
}

/* rc must be `code` and the message must contain every NULL-terminated substring. */
static void expect_error(const char *what, lc_status rc, lc_status code, ...) {
    const char *msg = lc_error_msg();
    int ok = rc == code;
    va_list ap;
    va_start(ap, code);
    for (const char *s; (s = va_arg(ap, const char *));)
        if (!strstr(msg, s)) {
            ok = 0;
            fprintf(stderr, "  [%s] message lacks \"%s\"\n", what, s);
        }
    va_end(ap);
    printf("%-28s %s -> %s: %s\n", what, ok ? "ok  " : "FAIL", lc_status_name(rc), msg);
    CHECK(ok, "%s: wanted status %s, got %s", what, lc_status_name(code), lc_status_name(rc));
}

/* Compare n floats to a raw float32 reference file; exact equality required. */
static void compare_ref(const char *name, const float *got, size_t n, const char *ref_dir) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s.f32", ref_dir, name);
    size_t nb = 0;
    float *ref = read_all(path, &nb);
    CHECK(ref != NULL, "cannot read reference %s", path);
    if (!ref) return;
    CHECK(nb == n * sizeof(float), "%s: reference has %zu floats, model has %zu", name, nb / 4, n);
    double max_abs = 0, max_rel = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n && i * 4 < nb; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        double r = d / (fabs((double)ref[i]) > 0 ? fabs((double)ref[i]) : 1.0);
        if (d > max_abs) max_abs = d;
        if (r > max_rel) max_rel = r;
        if (memcmp(&got[i], &ref[i], 4)) bad++; /* conversions are exact: bit equality */
    }
    printf("  %-48s n=%-6zu max_abs=%.3g max_rel=%.3g\n", name, n, max_abs, max_rel);
    CHECK(bad == 0, "%s: %zu of %zu elements differ bitwise from the reference", name, bad, n);
    free(ref);
}

/* Pointer and element count of the model tensor HF calls `name`, or NULL. */
static const float *model_tensor(const lc_model *m, const char *name, size_t *n) {
    const lc_model_config *c = &m->cfg;
    int l = 0, used = 0;
    char rest[128];
    const lc_weight *w = NULL;
    const float *v = NULL;
    size_t qd = (size_t)c->n_heads * c->head_dim, kd = (size_t)c->n_kv_heads * c->head_dim;
    if (!strcmp(name, "model.embed_tokens.weight")) w = &m->tok_emb;
    else if (!strcmp(name, "lm_head.weight")) w = &m->lm_head;
    else if (!strcmp(name, "model.norm.weight")) v = m->final_norm, *n = (size_t)c->hidden_size;
    else if (sscanf(name, "model.layers.%d.%127s%n", &l, rest, &used) == 2 && l >= 0 && l < c->n_layers) {
        const lc_layer *ly = &m->layers[l];
        if (!strcmp(rest, "input_layernorm.weight")) v = ly->attn_norm, *n = (size_t)c->hidden_size;
        else if (!strcmp(rest, "post_attention_layernorm.weight")) v = ly->mlp_norm, *n = (size_t)c->hidden_size;
        else if (!strcmp(rest, "self_attn.q_proj.weight")) w = &ly->wq;
        else if (!strcmp(rest, "self_attn.k_proj.weight")) w = &ly->wk;
        else if (!strcmp(rest, "self_attn.v_proj.weight")) w = &ly->wv;
        else if (!strcmp(rest, "self_attn.o_proj.weight")) w = &ly->wo;
        else if (!strcmp(rest, "self_attn.q_proj.bias")) v = ly->bq, *n = qd;
        else if (!strcmp(rest, "self_attn.k_proj.bias")) v = ly->bk, *n = kd;
        else if (!strcmp(rest, "self_attn.v_proj.bias")) v = ly->bv, *n = kd;
        else if (!strcmp(rest, "mlp.gate_proj.weight")) w = &ly->w_gate;
        else if (!strcmp(rest, "mlp.up_proj.weight")) w = &ly->w_up;
        else if (!strcmp(rest, "mlp.down_proj.weight")) w = &ly->w_down;
    }
    if (w) {
        if (w->type != LC_DT_F32) return NULL;
        *n = (size_t)w->rows * (size_t)w->cols;
        return w->data;
    }
    return v;
}

/* Compare every reference file in ref_dir; returns how many were compared. */
static int compare_all(const lc_model *m, const char *ref_dir, const char *const *names, int n_names) {
    int compared = 0;
    for (int i = 0; i < n_names; i++) {
        size_t n = 0;
        const float *p = model_tensor(m, names[i], &n);
        CHECK(p != NULL, "model has no fp32 tensor for '%s'", names[i]);
        if (!p) continue;
        compare_ref(names[i], p, n, ref_dir);
        compared++;
    }
    return compared;
}

/* ---- safetensors reader / writer ---- */

static int test_safetensors(const char *fx, const char *tmp) {
    char path[2048];
    lc_safetensors st;
    lc_status rc;
    make_dir(tmp);

    /* 1. Python-written file with every dtype. */
    snprintf(path, sizeof path, "%s/dtypes.safetensors", fx);
    rc = lc_safetensors_open(&st, path);
    CHECK(rc == LC_OK, "open %s: %s", path, lc_error_msg());
    if (rc == LC_OK) {
        CHECK(st.n_tensors == 11, "n_tensors %d", st.n_tensors);
        const lc_st_tensor *t = lc_safetensors_find(&st, "f64");
        CHECK(t && t->dtype == LC_ST_F64 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3, "f64 header");
        if (t) {
            double d[6];
            memcpy(d, t->data, sizeof d);
            for (int i = 0; i < 6; i++) CHECK(d[i] == 0.5 * i, "f64[%d] = %g", i, d[i]);
        }
        t = lc_safetensors_find(&st, "f16");
        CHECK(t && t->dtype == LC_ST_F16 && t->nbytes == 6, "f16 header");
        if (t) {
            uint16_t h[3];
            memcpy(h, t->data, sizeof h);
            CHECK(lc_f16_to_f32(h[0]) == 1.0f && lc_f16_to_f32(h[1]) == -2.5f && lc_f16_to_f32(h[2]) == 65504.0f,
                  "f16 values");
        }
        t = lc_safetensors_find(&st, "i64");
        CHECK(t && t->dtype == LC_ST_I64, "i64 header");
        if (t) {
            int64_t v[2];
            memcpy(v, t->data, sizeof v);
            CHECK(v[0] == -(1LL << 40) && v[1] == 7, "i64 values");
        }
        t = lc_safetensors_find(&st, "i8");
        CHECK(t && t->dtype == LC_ST_I8 && t->nbytes == 10 && ((const int8_t *)t->data)[0] == -5, "i8");
        t = lc_safetensors_find(&st, "i16");
        CHECK(t && t->dtype == LC_ST_I16 && t->shape[0] == 3, "i16");
        t = lc_safetensors_find(&st, "u8");
        CHECK(t && t->dtype == LC_ST_U8 && ((const uint8_t *)t->data)[1] == 255, "u8");
        t = lc_safetensors_find(&st, "bool");
        CHECK(t && t->dtype == LC_ST_BOOL && t->nbytes == 3 && ((const uint8_t *)t->data)[0] == 1, "bool");
        t = lc_safetensors_find(&st, "scalar");
        CHECK(t && t->ndim == 0 && t->nbytes == 4 && *(const float *)t->data == 3.25f, "scalar");
        t = lc_safetensors_find(&st, "empty");
        CHECK(t && t->ndim == 2 && t->shape[0] == 0 && t->nbytes == 0, "empty");
        CHECK(lc_safetensors_find(&st, "nope") == NULL, "find of a missing name");
        const char *note = lc_safetensors_meta(&st, "note");
        CHECK(note && !strcmp(note, "lorac"), "metadata note = %s", note ? note : "(null)");
        lc_safetensors_close(&st);
        printf("dtypes.safetensors: all 10 dtypes, scalar, empty, metadata read\n");
    }

    /* 2. Writer round trip (alignment reordering, metadata); Python re-reads it later. */
    uint8_t u8[3] = {1, 2, 3};
    float f32[6];
    for (int i = 0; i < 6; i++) f32[i] = 0.25f * i;
    int16_t i16[5] = {-7, 8, 9, 10, 11};
    double f64[2] = {1.5, -2.0};
    int64_t sc = 42;
    lc_st_tensor wt[5] = {
        {.name = "a.u8", .dtype = LC_ST_U8, .ndim = 1, .shape = {3}, .data = u8, .nbytes = 3},
        {.name = "b.f32", .dtype = LC_ST_F32, .ndim = 2, .shape = {2, 3}, .data = f32, .nbytes = 24},
        {.name = "c.i16", .dtype = LC_ST_I16, .ndim = 1, .shape = {5}, .data = i16, .nbytes = 10},
        {.name = "d.f64", .dtype = LC_ST_F64, .ndim = 1, .shape = {2}, .data = f64, .nbytes = 16},
        {.name = "e.scalar", .dtype = LC_ST_I64, .ndim = 0, .data = &sc, .nbytes = 8},
    };
    const char *mk[2] = {"format", "lorac"}, *mv[2] = {"pt", "writer test"};
    snprintf(path, sizeof path, "%s/written.safetensors", fx);
    rc = lc_safetensors_write(path, wt, 5, mk, mv, 2);
    CHECK(rc == LC_OK, "write: %s", lc_error_msg());
    rc = lc_safetensors_open(&st, path);
    CHECK(rc == LC_OK, "reopen written: %s", lc_error_msg());
    if (rc == LC_OK) {
        for (int i = 0; i < 5; i++) {
            const lc_st_tensor *t = lc_safetensors_find(&st, wt[i].name);
            CHECK(t && t->dtype == wt[i].dtype && t->ndim == wt[i].ndim && t->nbytes == wt[i].nbytes &&
                      !memcmp(t->data, wt[i].data, wt[i].nbytes),
                  "round trip of %s", wt[i].name);
            CHECK(t && t->file_offset % lc_st_dtype_size(t->dtype) == 0, "%s not aligned", wt[i].name);
        }
        CHECK(lc_safetensors_meta(&st, "lorac") && !strcmp(lc_safetensors_meta(&st, "lorac"), "writer test"),
              "metadata round trip");
        lc_safetensors_close(&st);
        printf("writer round trip: 5 tensors, 2 metadata keys, each aligned to its element size\n");
    }
    lc_st_tensor dup[2] = {wt[0], wt[0]};
    snprintf(path, sizeof path, "%s/dup.safetensors", tmp);
    expect_error("writer: duplicate name", lc_safetensors_write(path, dup, 2, NULL, NULL, 0), LC_ERR_ARG,
                 "'a.u8' given twice", NULL);
    CHECK(access(path, F_OK) != 0, "failed write left a file behind");
    lc_st_tensor badn = wt[1];
    badn.nbytes = 20;
    expect_error("writer: nbytes mismatch", lc_safetensors_write(path, &badn, 1, NULL, NULL, 0), LC_ERR_ARG,
                 "needs 24 bytes", NULL);
    snprintf(path, sizeof path, "%s/no-such-dir/x.safetensors", tmp);
    expect_error("writer: missing directory", lc_safetensors_write(path, wt, 1, NULL, NULL, 0), LC_ERR_IO,
                 "no-such-dir", NULL);

    /* 3. Header validation. */
    float d4[4] = {1, 2, 3, 4};
    struct {
        const char *what, *header;
        size_t ndata;
        uint64_t forged_len;
        const char *s1, *s2;
    } cases[] = {
        {"header length beyond file", "{}", 0, 5000, "header length 5000 goes beyond the file", "truncated"},
        {"header length absurd", "{}", 0, (uint64_t)1 << 40, "is not sane", NULL},
        {"header not JSON", "{\"a\": ", 0, 0, "invalid", NULL},
        {"header not an object", "[1, 2]", 0, 0, "not an object", NULL},
        {"duplicate key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                          "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0, "duplicate", NULL},
        {"unknown dtype", "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 16, 0,
         "tensor 'w': unknown dtype \"F8_E4M3\"", NULL},
        {"shape x dtype != span", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16, 0,
         "tensor 'w': shape [2, 2] x F32", "needs 16 bytes, but data_offsets [0, 12] span 12"},
        {"offsets beyond file", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, 0,
         "tensor 'w'", "truncated"},
        {"overlapping tensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16, 0,
         "'a' (bytes 0..8) and 'b' (bytes 4..12) overlap", NULL},
        {"negative dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 16, 0,
         "shape[0] is not a non-negative integer", NULL},
        {"offsets reversed", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 16, 0,
         "begin <= end", NULL},
        {"metadata not strings", "{\"__metadata__\":{\"k\":1}}", 0, 0, "__metadata__ key 'k'", NULL},
        {"missing data_offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, 0, "data_offsets", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "%s/bad%zu.safetensors", tmp, i);
        write_raw_st(path, cases[i].header, d4, cases[i].ndata, cases[i].forged_len);
        expect_error(cases[i].what, lc_safetensors_open(&st, path), LC_ERR_FORMAT, path, cases[i].s1, cases[i].s2,
                     NULL);
        CHECK(st.map == NULL && st.tensors == NULL, "failed open left state behind");
    }
    snprintf(path, sizeof path, "%s/short.safetensors", tmp);
    write_all(path, "abc", 3);
    expect_error("file shorter than 8 bytes", lc_safetensors_open(&st, path), LC_ERR_FORMAT, "3 bytes", NULL);
    snprintf(path, sizeof path, "%s/absent.safetensors", tmp);
    expect_error("missing file", lc_safetensors_open(&st, path), LC_ERR_IO, "absent.safetensors", NULL);
    lc_safetensors_close(&st);
    return g_fail;
}

/* ---- stories260K-hf ---- */

static int test_stories(const char *dir, const char *ref_dir) {
    lc_model m;
    lc_hf_info info;
    lc_status rc = lc_model_load_hf_ex(&m, dir, &info);
    CHECK(rc == LC_OK, "load %s: %s", dir, lc_error_msg());
    if (rc) return g_fail;
    const lc_model_config *c = &m.cfg;
    printf("config: arch=%d V=%d C=%d F=%d L=%d Hq=%d Hkv=%d hd=%d maxpos=%d eps=%g theta=%g tie=%d bias=%d "
           "bos=%d eos=%d\n",
           (int)c->arch, c->vocab_size, c->hidden_size, c->intermediate_size, c->n_layers, c->n_heads,
           c->n_kv_heads, c->head_dim, c->max_position, (double)c->rms_eps, (double)c->rope_theta,
           c->tie_embeddings, c->attn_bias, c->bos_id, c->eos_id);
    CHECK(c->arch == LC_ARCH_LLAMA && c->vocab_size == 512 && c->hidden_size == 64 && c->intermediate_size == 172 &&
              c->n_layers == 5 && c->n_heads == 8 && c->n_kv_heads == 4 && c->head_dim == 8 &&
              c->max_position == 512 && c->rms_eps == 1e-5f && c->rope_theta == 10000.0f && c->tie_embeddings == 1 &&
              c->attn_bias == 0 && c->bos_id == 1 && c->eos_id == 2,
          "stories260K config values");
    static const char *names[] = {
        "model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
        "model.layers.2.self_attn.k_proj.weight", "model.layers.4.mlp.down_proj.weight",
        "model.layers.3.input_layernorm.weight", "model.norm.weight",
    };
    CHECK(compare_all(&m, ref_dir, names, 6) == 6, "compared fewer than 6 tensors");
    CHECK(m.lm_head.data == m.tok_emb.data && m.lm_head.rows == 512, "tied lm_head shares tok_emb");
    CHECK(m.layers[1].bq == NULL, "no biases for llama");
    printf("zero-copy weights: %d, converted: %d, source dtype %s, sliding window %d\n", info.n_zero_copy,
           info.n_converted, info.source_dtype, info.sliding_window);
    CHECK(info.n_zero_copy == 1 + 5 * 7 && info.n_converted == 5 * 2 + 1, "F32 matrices used in place");
    CHECK(!strcmp(info.source_dtype, "F32") && info.sliding_window == 0, "info");
    CHECK(!strcmp(m.source, dir), "source = %s", m.source);
    CHECK(strlen(m.identity) == 64 && strspn(m.identity, "0123456789abcdef") == 64, "identity hex: %s", m.identity);
    printf("identity %s, %lld parameters\n", m.identity, (long long)lc_model_param_count(&m));
    CHECK(lc_model_param_count(&m) == 512 * 64 + 5 * (2 * 64 + 64 * 64 * 2 + 32 * 64 * 2 + 3 * 172 * 64) + 64,
          "param count %lld", (long long)lc_model_param_count(&m));

    /* Same files, same identity; one flipped weight bit, another identity. */
    lc_model m2;
    rc = lc_model_load_hf(&m2, dir);
    CHECK(rc == LC_OK && !strcmp(m.identity, m2.identity), "identity is deterministic");
    if (rc == LC_OK) {
        float *norm = m2.final_norm;
        uint32_t bits;
        memcpy(&bits, norm, 4);
        bits ^= 1;
        memcpy(norm, &bits, 4);
        char id2[65];
        CHECK(lc_model_identity_compute(&m2, id2) == LC_OK && strcmp(id2, m.identity), "identity sees one bit");
        lc_model_free(&m2);
    }
    /* The digest does not depend on the thread count. */
    lc_digest d;
    char h1[65], h2[65];
    size_t big = (size_t)5 << 20;
    unsigned char *buf = malloc(big);
    for (size_t i = 0; i < big; i++) buf[i] = (unsigned char)(i * 2654435761u >> 13);
    lc_digest_init(&d);
    lc_digest_update(&d, buf, big);
    lc_digest_final(&d, h1);
    int nt = lc_threads_get();
    lc_threads_init(1);
    lc_digest_init(&d);
    lc_digest_update(&d, buf, big);
    lc_digest_final(&d, h2);
    lc_threads_init(nt);
    CHECK(!strcmp(h1, h2), "digest differs with thread count: %s vs %s", h1, h2);
    buf[big - 1] ^= 0x80;
    lc_digest_init(&d);
    lc_digest_update(&d, buf, big);
    lc_digest_final(&d, h2);
    CHECK(strcmp(h1, h2), "digest misses the last byte");
    free(buf);
    lc_model_free(&m);
    return g_fail;
}

/* ---- transformers-written models (F16, BF16, sharded, Mistral) ---- */

static int list_refs(const char *ref_dir, char ***names) {
    int n = 0, cap = 64;
    *names = malloc(sizeof(char *) * (size_t)cap);
    DIR *d = opendir(ref_dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".f32")) continue;
        if (n == cap) *names = realloc(*names, sizeof(char *) * (size_t)(cap *= 2));
        (*names)[n] = strndup(e->d_name, l - 4);
        n++;
    }
    if (d) closedir(d);
    return n;
}

static int test_hf(const char *dir, const char *ref_dir, const char *arch, const char *dtype, int window) {
    lc_model m;
    lc_hf_info info;
    lc_status rc = lc_model_load_hf_ex(&m, dir, &info);
    CHECK(rc == LC_OK, "load %s: %s", dir, lc_error_msg());
    if (rc) return g_fail;
    const lc_model_config *c = &m.cfg;
    printf("%s: arch %s, source dtype %s, %d zero-copy, %d converted, window %d, tie %d, bias %d, eos %d, "
           "theta %g\n",
           dir, lc_arch_name(c->arch), info.source_dtype, info.n_zero_copy, info.n_converted, info.sliding_window,
           c->tie_embeddings, c->attn_bias, c->eos_id, (double)c->rope_theta);
    CHECK(!strcmp(lc_arch_name(c->arch), arch), "arch %s", lc_arch_name(c->arch));
    CHECK(!strcmp(info.source_dtype, dtype), "source dtype %s, expected %s", info.source_dtype, dtype);
    CHECK(info.sliding_window == window, "sliding window %d, expected %d", info.sliding_window, window);
    CHECK(c->hidden_size == 32 && c->intermediate_size == 48 && c->n_layers == 2 && c->n_heads == 4 &&
              c->n_kv_heads == 2 && c->head_dim == 8 && c->vocab_size == 96 && c->max_position == 128,
          "tiny config sizes");
    CHECK(c->attn_bias == (c->arch == LC_ARCH_QWEN2), "attn_bias only for qwen2");
    if (!strcmp(dtype, "F32")) CHECK(info.n_converted == 2 * 2 + 1, "F32: only vectors copied");
    else CHECK(info.n_zero_copy == 0, "F16/BF16: everything converted");
    if (c->arch == LC_ARCH_LLAMA && !c->tie_embeddings)
        CHECK(c->rope_theta == 50000.0f && c->rms_eps == 1e-5f && c->eos_id == 2, "llama_f16 config values");
    char **names = NULL;
    int n = list_refs(ref_dir, &names);
    int expect = 1 + c->n_layers * (9 + 3 * c->attn_bias) + 1 + !c->tie_embeddings;
    CHECK(n == expect, "%d reference tensors, expected %d", n, expect);
    CHECK(compare_all(&m, ref_dir, (const char *const *)names, n) == n, "not every tensor compared");
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    if (c->tie_embeddings) CHECK(m.lm_head.data == m.tok_emb.data, "tied");
    lc_model_free(&m);
    return g_fail;
}

/* ---- broken model directories ---- */

static json_t *g_cfg; /* stories config.json, modified per case */
static const char *g_stories;

/* tmp/<name>/ with a config (edited by `edit`, NULL = unchanged) and model.safetensors linked from stories. */
static void case_dir(char *out, size_t cap, const char *tmp, const char *name, const char *edit_json,
                     int link_weights) {
    snprintf(out, cap, "%s/%s", tmp, name);
    make_dir(out);
    json_t *c = json_deep_copy(g_cfg);
    if (edit_json) {
        json_t *e = json_loads(edit_json, 0, NULL);
        if (!e) {
            fprintf(stderr, "bad edit json %s\n", edit_json);
            exit(2);
        }
        const char *k;
        json_t *v;
        json_object_foreach(e, k, v) {
            if (json_is_string(v) && !strcmp(json_string_value(v), "<delete>")) json_object_del(c, k);
            else json_object_set(c, k, v);
        }
        json_decref(e);
    }
    char p[4096], src[4096];
    snprintf(p, sizeof p, "%s/config.json", out);
    json_dump_file(c, p, JSON_INDENT(2));
    json_decref(c);
    if (link_weights) {
        snprintf(p, sizeof p, "%s/model.safetensors", out);
        snprintf(src, sizeof src, "%s/model.safetensors", g_stories);
        if (symlink(src, p)) exit(2);
    }
}

/* Rewrite stories' tensors into dir/file, dropping `drop`, reshaping/retyping `alter`, adding `extra`. */
static void rewrite_weights(const char *dir, const char *file, const char *drop, const char *alter, int alter_mode,
                            const char *extra) {
    char p[4096];
    lc_safetensors st;
    snprintf(p, sizeof p, "%s/model.safetensors", g_stories);
    if (lc_safetensors_open(&st, p)) exit(2);
    lc_st_tensor *ts = calloc((size_t)st.n_tensors + 1, sizeof *ts);
    int n = 0;
    static float zeros[64 * 64];
    for (int i = 0; i < st.n_tensors; i++) {
        if (drop && !strcmp(st.tensors[i].name, drop)) continue;
        ts[n] = st.tensors[i];
        if (alter && !strcmp(ts[n].name, alter)) {
            if (alter_mode == 0) { /* transpose the shape */
                int64_t t = ts[n].shape[0];
                ts[n].shape[0] = ts[n].shape[1];
                ts[n].shape[1] = t;
            } else { /* same bytes, as I32 */
                ts[n].dtype = LC_ST_I32;
            }
        }
        n++;
    }
    if (extra) ts[n++] = (lc_st_tensor){.name = extra, .dtype = LC_ST_F32, .ndim = 2, .shape = {64, 64},
                                        .data = zeros, .nbytes = sizeof zeros};
    snprintf(p, sizeof p, "%s/%s", dir, file);
    if (lc_safetensors_write(p, ts, n, NULL, NULL, 0)) {
        fprintf(stderr, "%s\n", lc_error_msg());
        exit(2);
    }
    free(ts);
    lc_safetensors_close(&st);
}

static void expect_load_error(const char *what, const char *dir, lc_status code, const char *s1, const char *s2,
                              const char *s3) {
    lc_model m;
    memset(&m, 0x5a, sizeof m); /* garbage in: the loader must not read it */
    lc_status rc = lc_model_load_hf(&m, dir);
    expect_error(what, rc, code, s1 ? s1 : "", s2 ? s2 : "", s3 ? s3 : "", NULL);
    if (rc == LC_OK) lc_model_free(&m);
    else CHECK(m.layers == NULL && m.n_buffers == 0 && m.buffers == NULL, "%s: model not zeroed after failure", what);
}

static int test_errors(const char *stories, const char *tmp) {
    char dir[2048], p[4096], src[4096];
    g_stories = stories;
    make_dir(tmp);
    snprintf(p, sizeof p, "%s/config.json", stories);
    g_cfg = json_load_file(p, 0, NULL);
    CHECK(g_cfg != NULL, "read %s", p);
    if (!g_cfg) return g_fail;
    size_t n = 0;
    snprintf(src, sizeof src, "%s/model.safetensors", stories);
    unsigned char *bytes = read_all(src, &n);
    CHECK(bytes && n > 2000, "read %s", src);
    if (!bytes) return g_fail;

    case_dir(dir, sizeof dir, tmp, "truncated", NULL, 0);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_all(p, bytes, n - 1000);
    expect_load_error("truncated file", dir, LC_ERR_FORMAT, "truncated/model.safetensors", "truncated file?",
                      "tensor 'model.");

    case_dir(dir, sizeof dir, tmp, "hdrlen", NULL, 0);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_raw_st(p, "{}", NULL, 0, 123456);
    expect_load_error("header length beyond file", dir, LC_ERR_FORMAT, "hdrlen/model.safetensors",
                      "header length 123456 goes beyond the file", "found 10");

    case_dir(dir, sizeof dir, tmp, "baddtype", NULL, 0);
    unsigned char *copy = malloc(n);
    memcpy(copy, bytes, n);
    char *hit = memmem(copy, 8 + 4096, "\"F32\"", 5);
    CHECK(hit != NULL, "F32 in stories header");
    if (hit) memcpy(hit, "\"F8X\"", 5);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_all(p, copy, n);
    free(copy);
    expect_load_error("bad dtype", dir, LC_ERR_FORMAT, "baddtype/model.safetensors", "unknown dtype \"F8X\"",
                      "tensor '");

    case_dir(dir, sizeof dir, tmp, "wrongshape", NULL, 0);
    rewrite_weights(dir, "model.safetensors", NULL, "model.layers.1.mlp.up_proj.weight", 0, NULL);
    expect_load_error("wrong shape", dir, LC_ERR_FORMAT, "tensor 'model.layers.1.mlp.up_proj.weight'",
                      "expected shape [172, 64]", "found [64, 172] F32");

    case_dir(dir, sizeof dir, tmp, "wrongdtype", NULL, 0);
    rewrite_weights(dir, "model.safetensors", NULL, "model.layers.0.input_layernorm.weight", 1, NULL);
    expect_load_error("wrong dtype", dir, LC_ERR_FORMAT, "'model.layers.0.input_layernorm.weight'",
                      "expected shape [64] as F32/F16/BF16", "found [64] I32");

    case_dir(dir, sizeof dir, tmp, "missing", NULL, 0);
    rewrite_weights(dir, "model.safetensors", "model.norm.weight", NULL, 0, NULL);
    expect_load_error("missing tensor", dir, LC_ERR_FORMAT, "missing tensor 'model.norm.weight'",
                      "expected shape [64]", NULL);

    case_dir(dir, sizeof dir, tmp, "extra", NULL, 0);
    rewrite_weights(dir, "model.safetensors", NULL, NULL, 0, "model.layers.7.self_attn.q_proj.weight");
    expect_load_error("extra tensor", dir, LC_ERR_FORMAT, "unexpected tensor 'model.layers.7.self_attn.q_proj.weight'",
                      "[64, 64] F32", NULL);

    case_dir(dir, sizeof dir, tmp, "untied", "{\"tie_word_embeddings\": false}", 1);
    expect_load_error("untied without lm_head", dir, LC_ERR_FORMAT, "missing tensor 'lm_head.weight'",
                      "expected shape [512, 64]", NULL);

    case_dir(dir, sizeof dir, tmp, "rope", "{\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}}", 1);
    expect_load_error("rope_scaling dynamic", dir, LC_ERR_UNSUPPORTED, "\"rope_scaling\" has type \"dynamic\"",
                      "rope/config.json", NULL);
    case_dir(dir, sizeof dir, tmp, "ropey", "{\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2.0}}", 1);
    expect_load_error("rope_scaling yarn without original", dir, LC_ERR_CONFIG,
                      "\"rope_scaling\" of type \"yarn\" needs \"original_max_position_embeddings\"", NULL, NULL);
    case_dir(dir, sizeof dir, tmp, "rope3", "{\"rope_parameters\": {\"rope_type\": \"llama3\", \"factor\": 8.0}}", 1);
    expect_load_error("rope_parameters llama3 incomplete", dir, LC_ERR_CONFIG,
                      "\"rope_parameters\" of type \"llama3\" needs \"low_freq_factor\"", NULL, NULL);
    case_dir(dir, sizeof dir, tmp, "rope1", "{\"rope_scaling\": {\"type\": \"linear\"}}", 1);
    expect_load_error("rope_scaling linear without factor", dir, LC_ERR_CONFIG,
                      "\"rope_scaling\" of type \"linear\" needs \"factor\"", NULL, NULL);
    case_dir(dir, sizeof dir, tmp, "ropebad", "{\"rope_scaling\": 2.0}", 1);
    expect_load_error("rope_scaling not an object", dir, LC_ERR_CONFIG, "\"rope_scaling\" must be null or an object",
                      "found 2.0", NULL);

    case_dir(dir, sizeof dir, tmp, "arch", "{\"architectures\": [\"FalconForCausalLM\"], \"model_type\": \"falcon\"}", 1);
    expect_load_error("unknown architecture", dir, LC_ERR_UNSUPPORTED, "architecture \"FalconForCausalLM\"",
                      "supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM", NULL);
    case_dir(dir, sizeof dir, tmp, "mtype", "{\"architectures\": \"<delete>\", \"model_type\": \"phi3\"}", 1);
    expect_load_error("unknown model_type", dir, LC_ERR_UNSUPPORTED, "model_type \"phi3\"", "qwen2", NULL);

#define GEMMA3 "\"architectures\": [\"Gemma3ForCausalLM\"], \"model_type\": \"gemma3_text\", \"hidden_act\": \"<delete>\""
    case_dir(dir, sizeof dir, tmp, "g3softcap", "{" GEMMA3 ", \"attn_logit_softcapping\": 50.0}", 1);
    expect_load_error("gemma3 attn_logit_softcapping", dir, LC_ERR_UNSUPPORTED, "\"attn_logit_softcapping\" is 50",
                      "not implemented", NULL);
    case_dir(dir, sizeof dir, tmp, "g3final", "{" GEMMA3 ", \"final_logit_softcapping\": 30.0}", 1);
    expect_load_error("gemma3 final_logit_softcapping", dir, LC_ERR_UNSUPPORTED, "final-logit soft-capping",
                      "not implemented", NULL);
    case_dir(dir, sizeof dir, tmp, "g3types",
             "{" GEMMA3 ", \"layer_types\": [\"sliding_attention\", \"full_attention\", \"full_attention\", "
             "\"sliding_attention\", \"sliding_attention\"]}", 1);
    expect_load_error("gemma3 non-periodic layer_types", dir, LC_ERR_UNSUPPORTED, "layer 2 is not what a period of 2",
                      "only periodic patterns", NULL);
    case_dir(dir, sizeof dir, tmp, "g3act", "{" GEMMA3 ", \"hidden_activation\": \"gelu\"}", 1);
    expect_load_error("gemma3 hidden_activation", dir, LC_ERR_CONFIG, "\"hidden_activation\" must be",
                      "gelu_pytorch_tanh", NULL);
    case_dir(dir, sizeof dir, tmp, "g3tensors", "{" GEMMA3 "}", 1); /* Llama weights under a Gemma 3 config */
    expect_load_error("gemma3 config, llama tensors", dir, LC_ERR_FORMAT,
                      "missing tensor 'model.layers.0.self_attn.q_norm.weight'", NULL, NULL);
#undef GEMMA3
    case_dir(dir, sizeof dir, tmp, "act", "{\"hidden_act\": \"gelu\"}", 1);
    expect_load_error("hidden_act gelu", dir, LC_ERR_UNSUPPORTED, "\"hidden_act\" is \"gelu\"", "silu", NULL);
    case_dir(dir, sizeof dir, tmp, "nohidden", "{\"hidden_size\": \"<delete>\"}", 1);
    expect_load_error("missing hidden_size", dir, LC_ERR_CONFIG, "required key \"hidden_size\"", NULL, NULL);
    case_dir(dir, sizeof dir, tmp, "badheads", "{\"num_attention_heads\": -8}", 1);
    expect_load_error("negative heads", dir, LC_ERR_CONFIG, "\"num_attention_heads\" must be a positive integer",
                      "found -8", NULL);
    case_dir(dir, sizeof dir, tmp, "notjson", NULL, 1);
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_all(p, "{\"hidden_size\": 64,\n oops", 26);
    expect_load_error("config not JSON", dir, LC_ERR_FORMAT, "notjson/config.json: line 2", NULL, NULL);

    case_dir(dir, sizeof dir, tmp, "noweights", NULL, 0);
    expect_load_error("no weight files", dir, LC_ERR_IO, "neither model.safetensors nor", NULL, NULL);
    case_dir(dir, sizeof dir, tmp, "noconfig", NULL, 1);
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    expect_load_error("no config.json", dir, LC_ERR_IO, "noconfig/config.json: cannot open", NULL, NULL);

    /* Sharded: the index names a shard that is not there; then a tensor the index puts in the wrong shard. */
    case_dir(dir, sizeof dir, tmp, "shardmiss", NULL, 0);
    rewrite_weights(dir, "model-00001-of-00002.safetensors", NULL, NULL, 0, NULL);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    const char *idx = "{\"metadata\": {}, \"weight_map\": {\"model.embed_tokens.weight\": "
                      "\"model-00001-of-00002.safetensors\", \"model.norm.weight\": \"model-00002-of-00002.safetensors\"}}";
    write_all(p, idx, strlen(idx));
    expect_load_error("index names a missing shard", dir, LC_ERR_IO, "model-00002-of-00002.safetensors: cannot open",
                      NULL, NULL);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    lc_st_tensor nothing = {.name = "unused.x", .dtype = LC_ST_U8, .ndim = 1, .shape = {1}, .data = "x", .nbytes = 1};
    CHECK(lc_safetensors_write(p, &nothing, 1, NULL, NULL, 0) == LC_OK, "write shard 2");
    expect_load_error("index incomplete", dir, LC_ERR_FORMAT,
                      "missing tensor 'model.layers.0.input_layernorm.weight'", "not in model.safetensors.index.json",
                      NULL);

    /* Accepted variants: eos as a list, rope_scaling "default", null head_dim, a stray rotary inv_freq;
     * sliding_window is ignored for Llama. */
    case_dir(dir, sizeof dir, tmp, "variants",
             "{\"eos_token_id\": [7, 2], \"rope_scaling\": {\"rope_type\": \"default\"}, \"rope_theta\": 500000.0,"
             " \"head_dim\": null, \"sliding_window\": 4}", 0);
    rewrite_weights(dir, "model.safetensors", NULL, NULL, 0, "model.layers.0.self_attn.rotary_emb.inv_freq");
    lc_model m;
    lc_status rc = lc_model_load_hf(&m, dir);
    CHECK(rc == LC_OK, "variants: %s", lc_error_msg());
    if (rc == LC_OK) {
        printf("variants: eos %d, theta %g, head_dim %d (defaults to hidden / heads)\n", m.cfg.eos_id,
               (double)m.cfg.rope_theta, m.cfg.head_dim);
        CHECK(m.cfg.eos_id == 7 && m.cfg.rope_theta == 500000.0f && m.cfg.head_dim == 8, "variant values");
        lc_model_free(&m);
    }

    /* One extra header byte misaligns every F32 tensor: all are then copied, values and identity unchanged. */
    case_dir(dir, sizeof dir, tmp, "unaligned", NULL, 0);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | bytes[i];
    unsigned char *ua = malloc(n + 1);
    for (int i = 0; i < 8; i++) ua[i] = (unsigned char)((hl + 1) >> (8 * i));
    memcpy(ua + 8, bytes + 8, hl);
    ua[8 + hl] = ' ';
    memcpy(ua + 9 + hl, bytes + 8 + hl, n - 8 - hl);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_all(p, ua, n + 1);
    free(ua);
    lc_model ref;
    lc_hf_info info;
    rc = lc_model_load_hf(&ref, stories);
    lc_status rc2 = lc_model_load_hf_ex(&m, dir, &info);
    CHECK(rc == LC_OK && rc2 == LC_OK, "unaligned: %s", lc_error_msg());
    if (rc == LC_OK && rc2 == LC_OK) {
        printf("unaligned F32: %d zero-copy, %d copied, identity %s\n", info.n_zero_copy, info.n_converted,
               !strcmp(m.identity, ref.identity) ? "unchanged" : "CHANGED");
        CHECK(info.n_zero_copy == 0 && info.n_converted == 47, "unaligned F32 must be copied");
        CHECK(((uintptr_t)m.tok_emb.data & 63) == 0, "copies are 64-byte aligned");
        CHECK(!memcmp(m.tok_emb.data, ref.tok_emb.data, 512 * 64 * 4) &&
                  !memcmp(m.layers[4].w_down.data, ref.layers[4].w_down.data, 64 * 172 * 4),
              "unaligned copy equals the in-place weights");
        CHECK(!strcmp(m.identity, ref.identity), "identity depends on values, not layout");
    }
    if (rc == LC_OK) lc_model_free(&ref);
    if (rc2 == LC_OK) lc_model_free(&m);
    free(bytes);
    json_decref(g_cfg);
    nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return g_fail;
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    int rc = -1;
    if (argc == 4 && !strcmp(argv[1], "safetensors")) rc = test_safetensors(argv[2], argv[3]);
    else if (argc == 4 && !strcmp(argv[1], "stories")) rc = test_stories(argv[2], argv[3]);
    else if (argc == 7 && !strcmp(argv[1], "hf")) rc = test_hf(argv[2], argv[3], argv[4], argv[5], atoi(argv[6]));
    else if (argc == 4 && !strcmp(argv[1], "errors")) rc = test_errors(argv[2], argv[3]);
    if (rc < 0) {
        fprintf(stderr, "usage: test_loader safetensors|stories|hf|errors ... (see the file comment)\n");
        return 2;
    }
    printf("%s: %d failure(s)\n", argv[1], rc);
    return rc ? 1 : 0;
}
