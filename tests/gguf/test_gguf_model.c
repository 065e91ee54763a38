/*
 * test_gguf_model.c — the real SmolLM2-135M-Instruct Q4_1 GGUF.
 *
 *   test_gguf_model MODEL.gguf REFDIR   (REFDIR from make_gguf_model_refs.py)
 * - every tensor dequantised by lorac equals gguf-python bit for bit (checksums
 *   of the float32 bits for all 272 tensors, full comparison for layer 0);
 * - lc_model_load_gguf: config, tied head, quantised weights in place, q/k of
 *   layer 0 in HF order equal to numpy's inverse of llama.cpp's permute;
 *   a stable 64-hex identity; tokenizer metadata.
 * Exits 77 (ctest skip) when the model is missing, non-zero on any mismatch.
 */
#include "lc_cpu.h"
#include "lc_gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lc_test.h"

static float *read_f32(const char *dir, const char *name, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *p = malloc(n * sizeof(float));
    size_t got = fread(p, sizeof(float), n, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != n || extra) {
        free(p);
        return NULL;
    }
    return p;
}

/* Bitwise comparison with max abs/rel error printed. Returns mismatches. */
static long compare(const char *what, const float *got, const float *ref, size_t n) {
    long bad = 0;
    double ma = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t a, b;
        memcpy(&a, got + i, 4);
        memcpy(&b, ref + i, 4);
        bad += a != b;
        double e = fabs((double)got[i] - ref[i]);
        if (e > ma) ma = e;
        if (ref[i] != 0 && e / fabs(ref[i]) > mr) mr = e / fabs(ref[i]);
    }
    printf("  %-28s n=%-8zu bit mismatches=%ld max_abs=%.3g max_rel=%.3g\n", what, n, bad, ma, mr);
    return bad;
}

static void check_tensors(const char *path, const char *dir) {
    lc_gguf *g = NULL;
    lc_status s = lc_gguf_open(&g, path);
    CHECK(s == LC_OK, "open: %s", lc_error_msg());
    if (s) return;
    char cpath[4096], name[256];
    snprintf(cpath, sizeof cpath, "%s/checksums.txt", dir);
    FILE *f = fopen(cpath, "r");
    CHECK(f != NULL, "cannot read %s", cpath);
    if (!f) goto done;
    unsigned long long n, s1, s2;
    int total = 0, exact = 0;
    while (fscanf(f, "%255s %llu %llu %llu", name, &n, &s1, &s2) == 4) {
        total++;
        const lc_gguf_tensor *t = lc_gguf_find_tensor(g, name);
        CHECK(t != NULL, "tensor %s missing in lorac's reading", name);
        if (!t) continue;
        int64_t nel = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        CHECK((unsigned long long)nel == n, "%s: %lld elements, gguf-python %llu", name, (long long)nel, n);
        float *y = malloc(sizeof(float) * (size_t)nel); /* (nel) */
        lc_dequantize_rows(t->type, t->data, (int64_t)lc_dtype_row_bytes(t->type, t->ne[0]), 0,
                           (int)(nel / t->ne[0]), (int)t->ne[0], y);
        uint64_t a1 = 0, a2 = 0;
        for (int64_t i = 0; i < nel; i++) {
            uint32_t u;
            memcpy(&u, y + i, 4);
            a1 += u;
            a2 += (uint64_t)u * (uint64_t)(i + 1);
        }
        int ok = a1 == s1 && a2 == s2;
        exact += ok;
        CHECK(ok, "%s (%s): dequantisation checksum differs from gguf-python", name, lc_dtype_name(t->type));
        if (strncmp(name, "blk.0.", 6) == 0 || strcmp(name, "output_norm.weight") == 0) {
            float *ref = read_f32(dir, name, (size_t)nel);
            CHECK(ref != NULL, "missing reference %s", name);
            if (ref) CHECK(compare(name, y, ref, (size_t)nel) == 0, "%s differs", name);
            free(ref);
        }
        free(y);
    }
    fclose(f);
    printf("dequantised %d/%d tensors bit-exactly equal to gguf-python (checksums)\n", exact, total);
    CHECK(total == lc_gguf_n_tensors(g) && total == 272, "compared %d of %lld tensors", total,
          (long long)lc_gguf_n_tensors(g));
done:
    lc_gguf_close(g);
}

static void check_weight(const char *what, const lc_weight *w, const float *ref) {
    float *y = malloc(sizeof(float) * (size_t)w->rows * w->cols); /* (rows, cols) */
    lc_dequantize_rows(w->type, w->data, (int64_t)lc_dtype_row_bytes(w->type, w->cols), 0, w->rows, w->cols, y);
    CHECK(ref && compare(what, y, ref, (size_t)w->rows * w->cols) == 0, "%s differs from reference", what);
    free(y);
}

static void check_model(const char *path, const char *dir) {
    lc_model m;
    lc_gguf *g = NULL;
    double t0 = lc_time_now();
    lc_status s = lc_model_load_gguf(&m, path, &g);
    double dt = lc_time_now() - t0;
    CHECK(s == LC_OK, "load: %s", lc_error_msg());
    if (s) return;
    const lc_model_config *c = &m.cfg;
    printf("loaded %s in %.3f s: V=%d C=%d F=%d L=%d Hq=%d Hkv=%d hd=%d ctx=%d eps=%g theta=%g tie=%d bos=%d eos=%d\n",
           path, dt, c->vocab_size, c->hidden_size, c->intermediate_size, c->n_layers, c->n_heads, c->n_kv_heads,
           c->head_dim, c->max_position, c->rms_eps, c->rope_theta, c->tie_embeddings, c->bos_id, c->eos_id);
    CHECK(c->arch == LC_ARCH_LLAMA && c->vocab_size == 49152 && c->hidden_size == 576 &&
              c->intermediate_size == 1536 && c->n_layers == 30 && c->n_heads == 9 && c->n_kv_heads == 3 &&
              c->head_dim == 64 && c->max_position == 8192 && c->rms_eps == 1e-5f && c->rope_theta == 100000.0f &&
              c->tie_embeddings == 1 && c->attn_bias == 0 && c->bos_id == 1 && c->eos_id == 2,
          "config differs from SmolLM2-135M's");
    CHECK(m.tok_emb.type == LC_DT_Q8_0 && m.tok_emb.rows == 49152 && m.tok_emb.cols == 576, "tok_emb");
    CHECK(m.lm_head.data == m.tok_emb.data, "lm_head should be tied to tok_emb");
    CHECK(m.layers[29].w_down.type == LC_DT_Q4_1 && m.layers[29].w_down.rows == 576 &&
              m.layers[29].w_down.cols == 1536, "w_down shape/type");
    CHECK(m.layers[0].wv.data == lc_gguf_find_tensor(g, "blk.0.attn_v.weight")->data, "wv should stay in the mmap");
    CHECK(m.layers[0].wq.data != lc_gguf_find_tensor(g, "blk.0.attn_q.weight")->data, "wq should be a reordered copy");
    size_t qn = 576 * 576, kn = 192 * 576;
    float *q = read_f32(dir, "q_hf", qn), *k = read_f32(dir, "k_hf", kn);
    float *v = read_f32(dir, "blk.0.attn_v.weight", kn), *nrm = read_f32(dir, "blk.0.attn_norm.weight", 576);
    printf("layer 0 in HF order vs numpy's inverse of llama.cpp's permute:\n");
    check_weight("wq (un-permuted, 9 heads)", &m.layers[0].wq, q);
    check_weight("wk (un-permuted, 3 heads)", &m.layers[0].wk, k);
    check_weight("wv (unchanged)", &m.layers[0].wv, v);
    CHECK(nrm && compare("attn_norm", m.layers[0].attn_norm, nrm, 576) == 0, "attn_norm");
    free(q), free(k), free(v), free(nrm);

    int hex = (int)strlen(m.identity) == 64;
    for (int i = 0; i < 64 && hex; i++) hex = strchr("0123456789abcdef", m.identity[i]) != NULL;
    CHECK(hex, "identity '%s' is not 64 hex chars", m.identity);
    printf("identity %s\n", m.identity);

    lc_gguf_tokenizer tk;
    s = lc_gguf_tokenizer_info(g, &tk);
    CHECK(s == LC_OK, "tokenizer info: %s", lc_error_msg());
    if (!s) {
        printf("tokenizer: model=%s pre=%s tokens=%lld merges=%lld bos=%d eos=%d unk=%d pad=%d add_bos=%d scores=%s\n",
               tk.model, tk.pre, (long long)tk.n_tokens, (long long)tk.n_merges, tk.bos_id, tk.eos_id, tk.unk_id,
               tk.pad_id, tk.add_bos, tk.scores ? "yes" : "no");
        CHECK(tk.n_tokens == 49152 && tk.n_merges == 48900 && strcmp(tk.model, "gpt2") == 0 &&
                  strcmp(tk.pre, "smollm") == 0 && tk.bos_id == 1 && tk.eos_id == 2 && tk.add_bos == 0 &&
                  tk.token_type && tk.token_type[1] == 3 && tk.token_type[100] == 1 && tk.scores == NULL,
              "tokenizer metadata");
        CHECK(strcmp(tk.tokens[1].ptr, "<|im_start|>") == 0 && strcmp(tk.tokens[0].ptr, "<|endoftext|>") == 0,
              "special tokens");
        CHECK(tk.chat_template && strstr(tk.chat_template, "<|im_start|>"), "chat template");
    }
    char id1[65];
    memcpy(id1, m.identity, 65);
    lc_gguf_close(g);
    lc_model_free(&m);
    s = lc_model_load_gguf(&m, path, NULL);
    CHECK(s == LC_OK && strcmp(id1, m.identity) == 0, "identity not stable across loads");
    lc_model_free(&m);
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    if (argc < 3) {
        fprintf(stderr, "usage: test_gguf_model MODEL.gguf REFDIR\n");
        return 2;
    }
    if (access(argv[1], R_OK) != 0) {
        printf("skip: %s not found\n", argv[1]);
        return 77;
    }
    check_tensors(argv[1], argv[2]);
    check_model(argv[1], argv[2]);
    lc_model m;
    lc_status s = lc_model_load_gguf(&m, "/nonexistent.gguf", NULL);
    CHECK(s == LC_ERR_IO, "missing file should be an I/O error");
    return lc_test_failed();
}
