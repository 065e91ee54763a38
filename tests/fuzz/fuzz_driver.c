/*
 * fuzz_driver.c — a deterministic mutation fuzzer for lorac's parsers of
 * untrusted files (issue 16): safetensors, GGUF, tokenizer.json, HDF5
 * adapters (metadata and tensors, read by name), jsonl / csv data and YAML
 * configs. Built normally it is a regression test; built by
 * scripts/fuzz.sh with -fsanitize=address,undefined every memory error or
 * UB inside lorac (and any bad free inside libhdf5, whose free ASan
 * intercepts) aborts the run.
 *
 *   fuzz_driver run CORPUS_DIR WORK_DIR SECONDS [MAX_ITERS]
 *       every seed in CORPUS_DIR/<target>/ mutated in turn (byte flips, set
 *       bytes, truncation, chunk duplication, insertion) from a fixed seed,
 *       written to WORK_DIR and parsed by the target's reader, until
 *       SECONDS (split evenly over the targets) or MAX_ITERS per target.
 *       Prints per-target counts (accepted / rejected); exit 0 unless a
 *       crash (the sanitizers abort with their own report).
 *   fuzz_driver make-adapter OUT.h5
 *       the HDF5 seed: a lorac adapter for the tiny random model below.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_adapter.h"
#include "lc_config.h"
#include "lc_data.h"
#include "lc_gguf.h"
#include "lc_lora.h"
#include "lc_model.h"
#include "lc_safetensors.h"
#include "lc_tokenizer.h"

/* The base the adapter seed belongs to: 2 layers, C 16, 2 heads of 8. */
static lc_status tiny_model(lc_model *m) {
    lc_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = LC_ARCH_LLAMA;
    c.vocab_size = 64;
    c.hidden_size = 16;
    c.intermediate_size = 32;
    c.n_layers = 2;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.head_dim = 8;
    c.max_position = 64;
    c.rms_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.tie_embeddings = 1;
    c.bos_id = 1;
    c.eos_id = 2;
    return lc_model_init_random(m, &c, 0.02f, 16);
}

static lc_model g_model;

/* ---- targets: parse one file, 0 accepted / 1 rejected ---- */

static int t_safetensors(const char *p) {
    lc_safetensors st;
    int rc = lc_safetensors_open(&st, p) != LC_OK;
    lc_safetensors_close(&st);
    return rc;
}

static int t_gguf(const char *p) {
    lc_gguf *g = NULL;
    int rc = lc_gguf_open(&g, p) != LC_OK;
    lc_gguf_close(g);
    return rc;
}

static int t_tokenizer(const char *p) {
    lc_tokenizer *t = NULL;
    if (lc_tokenizer_load(&t, p) != LC_OK) return 1;
    int32_t *ids = NULL;
    int n = 0;
    const char *text = "Hello, world! 12 ab";
    if (lc_tokenizer_encode(t, text, strlen(text), 1, &ids, &n) == LC_OK) free(lc_tokenizer_decode(t, ids, n, 1));
    free(ids);
    lc_tokenizer_free(t);
    return 0;
}

static int t_adapter(const char *p) {
    lc_adapter_info info;
    if (lc_adapter_read_info(p, &info) != LC_OK) return 1;
    lc_lora lora;
    lc_train_state state;
    int rc = lc_adapter_load(p, &g_model, &lora, info.has_train_state ? &state : NULL, NULL, 1) != LC_OK;
    if (!rc) lc_lora_free(&lora);
    free(lc_adapter_config_yaml(p));
    return rc;
}

static int t_data(const char *p) {
    lc_train_config cfg = lc_train_config_default();
    cfg.skip_bad_rows = (strlen(p) & 1) != 0; /* both modes, deterministically */
    lc_dataset ds;
    memset(&ds, 0, sizeof ds);
    int rc = lc_dataset_load(&ds, p, &cfg) != LC_OK;
    lc_dataset_free(&ds);
    return rc;
}

static int t_yaml(const char *p) {
    lc_train_config cfg = lc_train_config_default();
    return lc_train_config_load_yaml(&cfg, p) != LC_OK || lc_train_config_validate(&cfg) != LC_OK;
}

typedef struct {
    const char *name, *ext; /* corpus subdirectory, extension of the mutated file */
    int (*parse)(const char *);
    long accepted, rejected;
} target;

static target TARGETS[] = {
    {"safetensors", ".safetensors", t_safetensors, 0, 0}, {"gguf", ".gguf", t_gguf, 0, 0},
    {"tokenizer", ".json", t_tokenizer, 0, 0},           {"adapter", ".h5", t_adapter, 0, 0},
    {"jsonl", ".jsonl", t_data, 0, 0},                    {"csv", ".csv", t_data, 0, 0},
    {"yaml", ".yaml", t_yaml, 0, 0},
};
#define N_TARGETS ((int)(sizeof TARGETS / sizeof TARGETS[0]))

/* ---- mutations (xorshift64*, fixed seed: the same run every time) ---- */

static uint64_t g_rng = 0x16f00d5eedULL;
static uint64_t rnd(void) {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1DULL;
}

/* Mutate seed[n] into out (capacity cap >= 2n + 64); returns the new length. */
static size_t mutate(const unsigned char *seed, size_t n, unsigned char *out, size_t cap) {
    static const unsigned char SPECIAL[] = {0, 0xff, 0x7f, 0x80, '"', ',', '\n', '{', '}', '[', ':', '-', '9'};
    memcpy(out, seed, n);
    size_t len = n;
    int rounds = 1 + (int)(rnd() % 4);
    for (int k = 0; k < rounds && len > 0; k++) {
        size_t at = rnd() % len;
        switch (rnd() % 6) {
        case 0: out[at] ^= (unsigned char)(1u << (rnd() % 8)); break;
        case 1: out[at] = SPECIAL[rnd() % sizeof SPECIAL]; break;
        case 2: len = at + 1; break; /* truncate */
        case 3: { /* duplicate a chunk */
            size_t span = 1 + rnd() % 32;
            if (at + span > len) span = len - at;
            if (len + span <= cap) {
                memmove(out + at + span, out + at, len - at);
                len += span;
            }
            break;
        }
        case 4: /* a little-endian 32/64-bit field set to an extreme */
            if (at + 8 <= len) {
                uint64_t v = (rnd() & 1) ? ~0ULL >> (rnd() % 40) : (uint64_t)1 << (rnd() % 63);
                memcpy(out + at, &v, (rnd() & 1) ? 8 : 4);
            }
            break;
        default: /* insert a random byte */
            if (len + 1 <= cap) {
                memmove(out + at + 1, out + at, len - at);
                out[at] = (unsigned char)rnd();
                len++;
            }
        }
    }
    return len;
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (b && fread(b, 1, (size_t)size, f) != (size_t)size) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)size;
    return b;
}

/* Run target t over its seeds until the deadline or max_iters; -1 without seeds. */
static int fuzz_target(target *t, const char *corpus, const char *work, double deadline, long max_iters) {
    char dir[4096], path[8400], out[4200];
    snprintf(dir, sizeof dir, "%s/%s", corpus, t->name);
    snprintf(out, sizeof out, "%s/mutant%s", work, t->ext);
    DIR *d = opendir(dir);
    if (!d) return -1;
    char *seeds[64];
    int ns = 0;
    struct dirent *e;
    while ((e = readdir(d)) && ns < 64)
        if (e->d_name[0] != '.') seeds[ns++] = strdup(e->d_name);
    closedir(d);
    if (!ns) return -1;
    for (long it = 0; it < max_iters && lc_time_now() < deadline; it++) {
        snprintf(path, sizeof path, "%s/%s", dir, seeds[it % ns]);
        size_t n;
        unsigned char *seed = read_all(path, &n);
        if (!seed) continue;
        size_t cap = 2 * n + 64;
        unsigned char *m = malloc(cap);
        size_t len = it < ns ? n : mutate(seed, n, m ? m : seed, cap); /* each seed once unmutated */
        if (it < ns && m) memcpy(m, seed, n);
        FILE *f = fopen(out, "wb");
        if (f && m) fwrite(m, 1, len, f);
        if (f) fclose(f);
        if (t->parse(out)) t->rejected++;
        else t->accepted++;
        free(m);
        free(seed);
    }
    for (int i = 0; i < ns; i++) free(seeds[i]);
    return 0;
}

static int make_adapter(const char *out) {
    lc_lora lora;
    lc_lora_config c = lc_lora_default_config();
    c.r = 2;
    c.targets = lc_lora_arch_targets(LC_ARCH_LLAMA);
    lc_rng rng;
    lc_rng_seed(&rng, 16);
    if (lc_lora_init(&lora, &g_model, &c, &rng)) return 1;
    for (size_t i = 0; i < lora.n_params; i++) lora.params[i] = lc_rng_normal(&rng) * 0.01f;
    lc_train_state st;
    memset(&st, 0, sizeof st);
    st.step = 3;
    st.total_steps = 9;
    st.best_valid_loss = 1.5;
    lc_status s = lc_adapter_save(out, &lora, &g_model, "chatml", &st, "r: 2\nlr: 0.001\n");
    lc_lora_free(&lora);
    return s != LC_OK;
}

int main(int argc, char **argv) {
    if (tiny_model(&g_model)) {
        fprintf(stderr, "fuzz_driver: %s\n", lc_error_msg());
        return 1;
    }
    int rc = 2;
    if (argc == 3 && !strcmp(argv[1], "make-adapter")) {
        rc = make_adapter(argv[2]);
        if (rc) fprintf(stderr, "fuzz_driver: %s\n", lc_error_msg());
    } else if ((argc == 5 || argc == 6) && !strcmp(argv[1], "run")) {
        double per = atof(argv[4]) / N_TARGETS, t0 = lc_time_now();
        long max_iters = argc == 6 ? atol(argv[5]) : 1L << 40;
        rc = 0;
        for (int i = 0; i < N_TARGETS; i++) {
            target *t = &TARGETS[i];
            if (fuzz_target(t, argv[2], argv[3], t0 + per * (i + 1), max_iters) < 0) {
                fprintf(stderr, "fuzz_driver: no seeds in %s/%s\n", argv[2], t->name);
                rc = 1;
            }
            printf("%-12s %7ld inputs: %6ld accepted, %6ld rejected\n", t->name, t->accepted + t->rejected,
                   t->accepted, t->rejected);
            fflush(stdout);
        }
    } else {
        fprintf(stderr, "usage: fuzz_driver run CORPUS WORK SECONDS [MAX_ITERS] | make-adapter OUT.h5\n");
    }
    lc_model_free(&g_model);
    return rc;
}
