/*
 * test_tokenizer.c — compares lorac's tokenizer with Hugging Face `tokenizers`
 * on the cases written by make_cases.py (ids exactly, with and without
 * special tokens, and decode output), and checks error handling.
 *
 *   test_tokenizer hf    TOKENIZER_JSON CASES        tokenizer.json path
 *   test_tokenizer gguf  VOCAB_BIN CASES             GGUF tokenizer.ggml.* arrays
 *   test_tokenizer spm   TOK512_BIN CASES MAX_BAD    llama2.c vocab with scores (SPM path)
 *   test_tokenizer model MODEL CASES [MAX_BAD]       the tokenizer lc_base_open builds for a
 *                                                    model (GGUF metadata or HF directory),
 *                                                    without weights; also its speed
 *   test_tokenizer errors TMPDIR SHARED              corrupt / unsupported / missing files
 *
 * Exits non-zero on any mismatch (spm: more than MAX_BAD mismatching cases).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lc_base.h"
#include "lc_tokenizer.h"

typedef struct {
    char *p;
    uint32_t n;
} blob;

typedef struct {
    int32_t *p;
    uint32_t n;
} idv;

typedef struct {
    blob text, dec_plain, dec_skip;
    idv plain, special;
} tcase;

static int rd_u32(FILE *f, uint32_t *x) { return fread(x, 4, 1, f) == 1 ? 0 : -1; }

static int rd_blob(FILE *f, blob *b) {
    if (rd_u32(f, &b->n) || b->n > (1u << 28)) return -1;
    b->p = malloc(b->n + 1);
    if (!b->p || fread(b->p, 1, b->n, f) != b->n) return -1;
    b->p[b->n] = 0;
    return 0;
}

static int rd_ids(FILE *f, idv *v) {
    if (rd_u32(f, &v->n) || v->n > (1u << 26)) return -1;
    v->p = malloc((size_t)v->n * 4 + 4);
    return v->p && fread(v->p, 4, v->n, f) == v->n ? 0 : -1;
}

static tcase *read_cases(const char *path, int *n_out) {
    FILE *f = fopen(path, "rb");
    char magic[8];
    uint32_t n;
    if (!f || fread(magic, 1, 8, f) != 8 || memcmp(magic, "LCTKCAS1", 8) || rd_u32(f, &n)) {
        fprintf(stderr, "FAIL: cannot read cases file %s\n", path);
        if (f) fclose(f);
        return NULL;
    }
    tcase *c = calloc(n, sizeof *c);
    for (uint32_t i = 0; i < n; i++) {
        if (rd_blob(f, &c[i].text) || rd_ids(f, &c[i].plain) || rd_ids(f, &c[i].special) ||
            rd_blob(f, &c[i].dec_plain) || rd_blob(f, &c[i].dec_skip)) {
            fprintf(stderr, "FAIL: %s: truncated at case %u\n", path, i);
            fclose(f);
            return NULL;
        }
    }
    fclose(f);
    *n_out = (int)n;
    return c;
}

static void free_cases(tcase *c, int n) {
    for (int i = 0; i < n; i++) {
        free(c[i].text.p), free(c[i].dec_plain.p), free(c[i].dec_skip.p);
        free(c[i].plain.p), free(c[i].special.p);
    }
    free(c);
}

static void show(const char *label, const char *s, size_t n) {
    fprintf(stderr, "    %s \"", label);
    for (size_t i = 0; i < n && i < 120; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stderr);
        else if (c == '\t') fputs("\\t", stderr);
        else if (c < 0x20 || c == 0x7f) fprintf(stderr, "\\x%02x", c);
        else fputc(c, stderr);
    }
    fprintf(stderr, "%s\"\n", n > 120 ? "..." : "");
}

static void show_ids(const char *label, const int32_t *a, int n) {
    fprintf(stderr, "    %s [", label);
    for (int i = 0; i < n && i < 24; i++) fprintf(stderr, "%s%d", i ? "," : "", a[i]);
    fprintf(stderr, "%s] (%d ids)\n", n > 24 ? ",..." : "", n);
}

/* Compare tokenizer t against the cases; returns the number of failing cases. */
static int compare(const lc_tokenizer *t, tcase *c, int n, int check_special, int check_decode,
                   const char *what) {
    int bad_ids = 0, bad_special = 0, bad_dec = 0, bad_skip = 0, shown = 0;
    int rt_total = 0, rt_ok = 0, bad_cases = 0;
    long n_tokens = 0;
    for (int i = 0; i < n; i++) {
        int32_t *ids = NULL, *ids2 = NULL;
        int m = 0, m2 = 0, bad = 0;
        if (lc_tokenizer_encode(t, c[i].text.p, c[i].text.n, 0, &ids, &m) ||
            lc_tokenizer_encode(t, c[i].text.p, c[i].text.n, 1, &ids2, &m2)) {
            fprintf(stderr, "FAIL %s case %d: encode error: %s\n", what, i, lc_error_msg());
            return n;
        }
        n_tokens += m;
        if ((uint32_t)m != c[i].plain.n || memcmp(ids, c[i].plain.p, (size_t)m * 4)) {
            bad_ids++, bad = 1;
            if (shown++ < 5) {
                fprintf(stderr, "  mismatch (add_special=0) case %d:\n", i);
                show("text", c[i].text.p, c[i].text.n);
                show_ids("HF   ", c[i].plain.p, (int)c[i].plain.n);
                show_ids("lorac", ids, m);
            }
        }
        if (check_special &&
            ((uint32_t)m2 != c[i].special.n || memcmp(ids2, c[i].special.p, (size_t)m2 * 4))) {
            bad_special++, bad = 1;
            if (shown++ < 5) {
                fprintf(stderr, "  mismatch (add_special=1) case %d:\n", i);
                show("text", c[i].text.p, c[i].text.n);
                show_ids("HF   ", c[i].special.p, (int)c[i].special.n);
                show_ids("lorac", ids2, m2);
            }
        }
        if (check_decode) {
            size_t dn, dn2, rn;
            char *d = lc_tokenizer_decode_len(t, c[i].plain.p, (int)c[i].plain.n, 0, &dn);
            char *d2 = lc_tokenizer_decode_len(t, c[i].special.p, (int)c[i].special.n, 1, &dn2);
            if (!d || dn != c[i].dec_plain.n || memcmp(d, c[i].dec_plain.p, dn)) {
                bad_dec++, bad = 1;
                if (shown++ < 5) {
                    fprintf(stderr, "  decode mismatch case %d:\n", i);
                    show("HF   ", c[i].dec_plain.p, c[i].dec_plain.n);
                    show("lorac", d ? d : "(null)", d ? dn : 6);
                }
            }
            if (!d2 || dn2 != c[i].dec_skip.n || memcmp(d2, c[i].dec_skip.p, dn2)) {
                bad_skip++, bad = 1;
                if (shown++ < 5) {
                    fprintf(stderr, "  decode(skip_special) mismatch case %d:\n", i);
                    show("HF   ", c[i].dec_skip.p, c[i].dec_skip.n);
                    show("lorac", d2 ? d2 : "(null)", d2 ? dn2 : 6);
                }
            }
            /* round trip where HF's decode gives the text back */
            if (c[i].dec_plain.n == c[i].text.n &&
                memcmp(c[i].dec_plain.p, c[i].text.p, c[i].text.n) == 0) {
                char *rt = lc_tokenizer_decode_len(t, ids, m, 0, &rn);
                rt_total++;
                if (rt && rn == c[i].text.n && memcmp(rt, c[i].text.p, rn) == 0)
                    rt_ok++;
                else
                    bad = 1;
                free(rt);
            }
            free(d);
            free(d2);
        }
        bad_cases += bad;
        free(ids);
        free(ids2);
    }
    printf("%s: %d cases, %ld tokens: id mismatches %d (add_special=0), %d (add_special=1); "
           "decode mismatches %d, %d (skip_special); round trip %d/%d\n",
           what, n, n_tokens, bad_ids, bad_special, bad_dec, bad_skip, rt_ok, rt_total);
    return bad_cases;
}

/* ---------------------------------------------------------------- threads */

typedef struct {
    const lc_tokenizer *t;
    tcase *c;
    int n, start, bad;
} thr_arg;

static void *thr_main(void *p) {
    thr_arg *a = p;
    for (int k = 0; k < a->n; k++) {
        int i = (k + a->start) % a->n; /* each thread walks the cases from a different start */
        int32_t *ids;
        int m;
        if (lc_tokenizer_encode(a->t, a->c[i].text.p, a->c[i].text.n, 0, &ids, &m)) {
            a->bad++;
            continue;
        }
        a->bad += (uint32_t)m != a->c[i].plain.n || memcmp(ids, a->c[i].plain.p, (size_t)m * 4);
        free(ids);
    }
    return NULL;
}

/* Encode all cases from 4 threads at once (shared word cache); count mismatches. */
static int threaded(const lc_tokenizer *t, tcase *c, int n) {
    enum { T = 4 };
    pthread_t th[T];
    thr_arg a[T];
    int bad = 0;
    for (int k = 0; k < T; k++) {
        a[k] = (thr_arg){t, c, n, k * n / T, 0};
        pthread_create(&th[k], NULL, thr_main, &a[k]);
    }
    for (int k = 0; k < T; k++) pthread_join(th[k], NULL), bad += a[k].bad;
    printf("threads: 4 x %d encodes concurrently, %d mismatches\n", n, bad);
    return bad;
}

/* ---------------------------------------------------------------- hf */

static int run_hf(const char *tok_path, const char *cases) {
    lc_tokenizer *t;
    int n;
    if (lc_tokenizer_load(&t, tok_path)) {
        fprintf(stderr, "FAIL: load %s: %s\n", tok_path, lc_error_msg());
        return 1;
    }
    tcase *c = read_cases(cases, &n);
    if (!c) return lc_tokenizer_free(t), 1;
    printf("%s: %s, vocab %d, bos %d, eos %d\n", tok_path, lc_tokenizer_kind(t),
           lc_tokenizer_vocab_size(t), lc_tokenizer_bos_id(t), lc_tokenizer_eos_id(t));
    int bad = compare(t, c, n, 1, 1, "hf");
    bad += threaded(t, c, n);
    free_cases(c, n);
    lc_tokenizer_free(t);
    if (bad) fprintf(stderr, "FAIL: %d of %d cases differ from HF tokenizers\n", bad, n);
    return bad != 0;
}

/* ---------------------------------------------------------------- gguf */

static int run_gguf(const char *vocab_path, const char *cases) {
    FILE *f = fopen(vocab_path, "rb");
    char magic[8];
    blob model = {0}, pre = {0}, tmpl = {0};
    int32_t hdr[4];
    uint32_t nt, nm;
    int rc = 1, n = 0;
    char **toks = NULL, **merges = NULL;
    int32_t *types = NULL;
    float *scores = NULL;
    lc_tokenizer *t = NULL;
    tcase *c = NULL;
    if (!f) {
        printf("SKIP: no GGUF vocabulary dump %s (model file absent)\n", vocab_path);
        return 77;
    }
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "LCTKVOC1", 8) || rd_blob(f, &model) ||
        rd_blob(f, &pre) || fread(hdr, 4, 4, f) != 4 || rd_u32(f, &nt))
        goto bad_file;
    toks = calloc(nt, sizeof *toks);
    types = calloc(nt, sizeof *types);
    scores = calloc(nt, sizeof *scores);
    for (uint32_t i = 0; i < nt; i++) {
        blob b;
        if (rd_blob(f, &b) || fread(&types[i], 4, 1, f) != 1 || fread(&scores[i], 4, 1, f) != 1)
            goto bad_file;
        toks[i] = b.p;
    }
    if (rd_u32(f, &nm)) goto bad_file;
    merges = calloc(nm + 1, sizeof *merges);
    for (uint32_t i = 0; i < nm; i++) {
        blob b;
        if (rd_blob(f, &b)) goto bad_file;
        merges[i] = b.p;
    }
    if (rd_blob(f, &tmpl)) goto bad_file;
    if (lc_tokenizer_from_vocab(&t, model.p, pre.p, (const char *const *)toks, scores, types,
                                (int)nt, (const char *const *)merges, (int)nm, hdr[0], hdr[1],
                                hdr[2], hdr[3], -1)) {
        fprintf(stderr, "FAIL: from_vocab: %s\n", lc_error_msg());
        goto done;
    }
    if (tmpl.n && lc_tokenizer_set_chat_template(t, tmpl.p)) goto done;
    printf("gguf vocab: model %s, pre %s, %u tokens, %u merges, bos %d eos %d, template %u bytes\n",
           model.p, pre.p, nt, nm, lc_tokenizer_bos_id(t), lc_tokenizer_eos_id(t), tmpl.n);
    if (!(c = read_cases(cases, &n))) goto done;
    /* the GGUF lacks the tokenizer.json's extra "[PAD]" (id 49152): skip cases using it */
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (strstr(c[i].text.p, "[PAD]")) continue;
        tcase tmp = c[kept];
        c[kept++] = c[i];
        c[i] = tmp;
    }
    int bad = compare(t, c, kept, 1, 1, "gguf");
    if (bad) fprintf(stderr, "FAIL: %d of %d cases differ from HF tokenizers\n", bad, kept);
    rc = bad != 0;
    goto done;
bad_file:
    fprintf(stderr, "FAIL: %s is malformed\n", vocab_path);
done:
    if (f) fclose(f);
    for (uint32_t i = 0; toks && i < nt; i++) free(toks[i]);
    for (uint32_t i = 0; merges && i < nm; i++) free(merges[i]);
    free(toks), free(merges), free(types), free(scores);
    free(model.p), free(pre.p), free(tmpl.p);
    if (c) free_cases(c, n);
    lc_tokenizer_free(t);
    return rc;
}

/* ---------------------------------------------------------------- spm (llama2.c tok512.bin) */

static int run_spm(const char *tok_path, const char *cases, int max_bad) {
    FILE *f = fopen(tok_path, "rb");
    int32_t maxlen;
    enum { N = 512 };
    char *toks[N] = {0};
    float scores[N];
    int32_t types[N];
    int rc = 1, n = 0;
    lc_tokenizer *t = NULL;
    tcase *c = NULL;
    if (!f || fread(&maxlen, 4, 1, f) != 1) goto bad_file;
    for (int i = 0; i < N; i++) {
        int32_t len;
        if (fread(&scores[i], 4, 1, f) != 1 || fread(&len, 4, 1, f) != 1 || len < 0 || len > 64)
            goto bad_file;
        char raw[65] = {0};
        if (fread(raw, 1, (size_t)len, f) != (size_t)len) goto bad_file;
        /* llama2.c exported "▁" as ' '; GGUF (and SentencePiece) keep "▁" */
        toks[i] = calloc((size_t)len * 3 + 1, 1);
        for (int k = 0, o = 0; k < len; k++) {
            if (raw[k] == ' ') memcpy(toks[i] + o, "\xE2\x96\x81", 3), o += 3;
            else toks[i][o++] = raw[k];
        }
        types[i] = i == 0 ? 2 : i < 3 ? 3 : (i < 259 ? 6 : 1);
    }
    /* llama2.c stores BOS/EOS as "\n<s>\n"; SentencePiece names them <s>, </s> */
    free(toks[1]), free(toks[2]);
    toks[1] = strdup("<s>"), toks[2] = strdup("</s>");
    if (lc_tokenizer_from_vocab(&t, "llama", "default", (const char *const *)toks, scores, types,
                                N, NULL, 0, 1, 2, 0, 1, -1)) {
        fprintf(stderr, "FAIL: from_vocab(llama, scores): %s\n", lc_error_msg());
        goto done;
    }
    if (!(c = read_cases(cases, &n))) goto done;
    int bad = compare(t, c, n, 1, 1, "spm-scores");
    printf("spm-scores: %d of %d cases differ from HF's merges-based BPE (allowed %d)\n", bad, n,
           max_bad);
    rc = bad > max_bad;
    if (rc) fprintf(stderr, "FAIL: too many differences\n");
    goto done;
bad_file:
    fprintf(stderr, "FAIL: cannot read llama2.c tokenizer %s\n", tok_path);
done:
    if (f) fclose(f);
    for (int i = 0; i < N; i++) free(toks[i]);
    if (c) free_cases(c, n);
    lc_tokenizer_free(t);
    return rc;
}

/* ---------------------------------------------------------------- model (GGUF / HF dir) */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Encode speed on the case texts, single thread: once cold (empty word
 * cache) and once warm. */
static void bench(const lc_tokenizer *t, tcase *c, int n) {
    for (int pass = 0; pass < 2; pass++) {
        size_t bytes = 0;
        long toks = 0;
        double t0 = now_s();
        for (int i = 0; i < n; i++) {
            int32_t *ids;
            int m;
            if (lc_tokenizer_encode(t, c[i].text.p, c[i].text.n, 0, &ids, &m)) continue;
            bytes += c[i].text.n, toks += m;
            free(ids);
        }
        double dt = now_s() - t0;
        printf("speed (%s cache): %zu bytes, %ld tokens in %.3f s: %.2f MB/s, %.0f tokens/s\n",
               pass ? "warm" : "cold", bytes, toks, dt, (double)bytes / dt / 1e6, (double)toks / dt);
    }
}

static int run_model(const char *model, const char *cases, int max_bad) {
    lc_tokenizer *t;
    int n;
    double t0 = now_s();
    if (lc_base_open_tokenizer(&t, model, NULL)) {
        fprintf(stderr, "FAIL: tokenizer of %s: %s\n", model, lc_error_msg());
        return 1;
    }
    double load = now_s() - t0;
    tcase *c = read_cases(cases, &n);
    if (!c) return lc_tokenizer_free(t), 1;
    printf("%s: %s, vocab %d, bos %d, eos %d, built in %.2f s\n", model, lc_tokenizer_kind(t),
           lc_tokenizer_vocab_size(t), lc_tokenizer_bos_id(t), lc_tokenizer_eos_id(t), load);
    int bad = compare(t, c, n, 1, 1, "model");
    bad += threaded(t, c, n);
    bench(t, c, n);
    free_cases(c, n);
    lc_tokenizer_free(t);
    if (bad > max_bad)
        fprintf(stderr, "FAIL: %d of %d cases differ from the oracle (allowed %d)\n", bad, n, max_bad);
    return bad > max_bad;
}

/* ---------------------------------------------------------------- errors */

static int write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(s, f);
    return fclose(f);
}

static int expect(lc_status got, lc_status want, const char *needle, const char *what) {
    const char *msg = lc_error_msg();
    int ok = got == want && (!needle || strstr(msg, needle));
    printf("%s %s: %s: %s\n", ok ? "ok  " : "FAIL", what, lc_status_name(got), msg);
    return !ok;
}

static int run_errors(const char *tmp, const char *shared) {
    char path[4096];
    lc_tokenizer *t = NULL;
    int bad = 0;
    mkdir(tmp, 0755);
    snprintf(path, sizeof path, "%s/corrupt.json", tmp);
    write_file(path, "{\"model\": {\"type\": \"BPE\",\n  \"vocab\": {\"a\": 0,,}}}\n");
    bad += expect(lc_tokenizer_load(&t, path), LC_ERR_FORMAT, "corrupt.json:2:", "corrupt JSON");
    snprintf(path, sizeof path, "%s/unknown_pre.json", tmp);
    write_file(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2},"
                     " \"merges\": [\"a b\"]},"
                     " \"pre_tokenizer\": {\"type\": \"FancySplitter\"}}");
    bad += expect(lc_tokenizer_load(&t, path), LC_ERR_UNSUPPORTED, "FancySplitter",
                  "unknown pre-tokenizer");
    snprintf(path, sizeof path, "%s/unknown_norm.json", tmp);
    write_file(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                     " \"normalizer\": {\"type\": \"Precompiled\"}}");
    bad += expect(lc_tokenizer_load(&t, path), LC_ERR_UNSUPPORTED, "Precompiled",
                  "unknown normalizer");
    snprintf(path, sizeof path, "%s/unigram.json", tmp);
    write_file(path, "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
    bad += expect(lc_tokenizer_load(&t, path), LC_ERR_UNSUPPORTED, "Unigram", "unknown model");
    snprintf(path, sizeof path, "%s/badmerge.json", tmp);
    write_file(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1},"
                     " \"merges\": [\"a b\"]}}");
    bad += expect(lc_tokenizer_load(&t, path), LC_ERR_FORMAT, "merges[0]", "merge not in vocab");
    snprintf(path, sizeof path, "%s/does_not_exist.json", tmp);
    bad += expect(lc_tokenizer_load(&t, path), LC_ERR_IO, "does_not_exist", "missing file");
    snprintf(path, sizeof path, "%s", tmp); /* a directory without tokenizer.json */
    bad += expect(lc_tokenizer_load(&t, path), LC_ERR_IO, "tokenizer.json", "dir without file");
    const char *toks[] = {"a", "b", "ab"};
    bad += expect(lc_tokenizer_from_vocab(&t, "bert", "default", toks, NULL, NULL, 3, NULL, 0,
                                          -1, -1, -1, 0, -1),
                  LC_ERR_UNSUPPORTED, "bert", "unknown GGUF model");
    const char *merges[] = {"a b"};
    bad += expect(lc_tokenizer_from_vocab(&t, "gpt2", "nonsense-pre", toks, NULL, NULL, 3, merges,
                                          1, -1, -1, -1, 0, -1),
                  LC_ERR_UNSUPPORTED, "nonsense-pre", "unknown GGUF pre");
    bad += expect(lc_tokenizer_from_vocab(&t, "gpt2", "gpt-2", toks, NULL, NULL, 2, merges, 1, -1,
                                          -1, -1, 0, -1),
                  LC_ERR_FORMAT, "merges[0]", "GGUF merge not in vocab");

    /* model directory: bos/eos from tokenizer_config.json, chat_template, accessors */
    snprintf(path, sizeof path, "%s/fixtures/models/stories260K-hf", shared);
    if (lc_tokenizer_load(&t, path)) {
        printf("FAIL load dir %s: %s\n", path, lc_error_msg());
        return 1;
    }
    int32_t *ids;
    int n;
    const char *s = "Once upon a time";
    int ok = lc_tokenizer_bos_id(t) == 1 && lc_tokenizer_eos_id(t) == 2 &&
             lc_tokenizer_token_id(t, "<s>") == 1 && lc_tokenizer_token_id(t, "nope") == -1 &&
             !strcmp(lc_tokenizer_kind(t), "SentencePiece BPE") &&
             lc_tokenizer_encode(t, s, strlen(s), 1, &ids, &n) == LC_OK && n == 5 &&
             ids[0] == 1 && ids[1] == 403 && ids[2] == 407 && ids[3] == 261 && ids[4] == 378;
    char *tk = ok ? lc_tokenizer_decode_token(t, 403) : NULL;
    printf("%s stories260K dir: bos/eos 1/2, 'Once upon a time' -> [1, 403, 407, 261, 378], "
           "token 403 = \"%s\"\n", ok ? "ok  " : "FAIL", tk ? tk : "?");
    bad += !ok;
    if (ok) free(ids);
    free(tk);
    lc_tokenizer_free(t);
    snprintf(path, sizeof path, "%s/fixtures/tokenizers/smollm/tokenizer.json", shared);
    if (lc_tokenizer_load(&t, path)) {
        printf("FAIL load %s: %s\n", path, lc_error_msg());
        return 1;
    }
    ok = lc_tokenizer_bos_id(t) == 0 && lc_tokenizer_eos_id(t) == 0 &&
         lc_tokenizer_vocab_size(t) == 49153 && lc_tokenizer_token_id(t, "[PAD]") == 49152 &&
         !strcmp(lc_tokenizer_kind(t), "byte-level BPE");
    printf("%s smollm: bos/eos 0/0, vocab 49153 with [PAD] = 49152\n", ok ? "ok  " : "FAIL");
    bad += !ok;
    lc_tokenizer_free(t);
    return bad != 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "hf")) return run_hf(argv[2], argv[3]);
    if (argc >= 4 && !strcmp(argv[1], "gguf")) return run_gguf(argv[2], argv[3]);
    if (argc >= 5 && !strcmp(argv[1], "spm")) return run_spm(argv[2], argv[3], atoi(argv[4]));
    if (argc >= 4 && !strcmp(argv[1], "model"))
        return run_model(argv[2], argv[3], argc >= 5 ? atoi(argv[4]) : 0);
    if (argc >= 4 && !strcmp(argv[1], "errors")) return run_errors(argv[2], argv[3]);
    fprintf(stderr, "usage: test_tokenizer hf|gguf|spm|model|errors ...\n");
    return 2;
}
