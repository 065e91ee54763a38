/*
 * cli_deploy.c — `lorac merge`, `lorac export`, `lorac import`: deploy a
 * trained adapter (merged weights, PEFT / llama.cpp adapters) and bring PEFT
 * adapters in. Thin wrappers over lc_deploy.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "lc_adapter.h"
#include "lc_tokens.h"
#include "lc_deploy.h"
#include "lc_gguf.h"
#include "lc_fsafe.h"
#include "lc_loader.h"

#define MAX_ADAPTERS 16

static int parse_type(const char *s, lc_dtype *out) {
    static const struct {
        const char *name;
        lc_dtype t;
    } T[] = {{"f32", LC_DT_F32},   {"f16", LC_DT_F16},   {"bf16", LC_DT_BF16},
             {"q8_0", LC_DT_Q8_0}, {"q5_0", LC_DT_Q5_0}, {"q5_1", LC_DT_Q5_1},
             {"q4_0", LC_DT_Q4_0}, {"q4_1", LC_DT_Q4_1}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (!strcmp(s, T[i].name)) return *out = T[i].t, 0;
    return -1;
}

/* Open a base model without its tokenizer: HF directory or .gguf file. */
static lc_status open_model(lc_model *m, const char *path) {
    size_t n = strlen(path);
    if (n > 5 && !strcmp(path + n - 5, ".gguf")) return lc_model_load_gguf(m, path, NULL);
    return lc_model_load_hf(m, path);
}

/* An existing out file may be replaced only when it is the verb's own kind of
 * output: a lorac adapter (kind 'h') or a llama.cpp LoRA GGUF (kind 'g'). */
static lc_status check_out_kind(const char *out, char kind, int force) {
    struct stat sb;
    if (force || lstat(out, &sb) != 0) return LC_OK;
    lc_status st = kind == 'h' ? lc_fs_check_overwrite(out, "\x89HDF\r\n\x1a\n", 8, "a lorac adapter", 0)
                               : lc_fs_check_overwrite(out, "GGUF", 4, "a llama.cpp LoRA adapter (GGUF)", 0);
    if (st) return st;
    if (kind == 'h') {
        lc_adapter_info info;
        if (lc_adapter_read_info(out, &info))
            return lc_errorf(LC_ERR_ARG, "%s exists and is not a lorac adapter: refusing to overwrite it (use --force "
                             "to replace it)", out);
        return LC_OK;
    }
    lc_gguf *g = NULL;
    const char *type = NULL;
    int ok = lc_gguf_open(&g, out) == LC_OK && lc_gguf_get_str(g, "general.type", &type) == LC_OK &&
             !strcmp(type, "adapter");
    lc_gguf_close(g);
    if (!ok)
        return lc_errorf(LC_ERR_ARG, "%s exists and is a GGUF model, not a LoRA adapter: refusing to overwrite it "
                         "(use --force to replace it)", out);
    return LC_OK;
}

/* The checks every file-writing verb makes before any work: out is none of
 * the inputs (device + inode), an existing out is of the verb's own kind
 * (else --force), and out's parent directories exist (created). */
static lc_status check_out_file(const char *out, const char *const *in, const char *const *roles, int n, char kind,
                                int force) {
    lc_status st = lc_fs_refuse_input(out, in, roles, n);
    if (!st) st = check_out_kind(out, kind, force);
    if (!st) st = lc_fs_mkdir_parents(out);
    return st;
}

enum { M_MODEL, M_ADAPTER, M_OUT, M_DTYPE, M_GGUF_TYPE, M_TOKENIZER, M_FORCE, M_COUNT };

static const cli_opt MERGE_OPTS[M_COUNT] = {
    [M_MODEL] = {"model", 0, "BASE", "base model: HF directory or .gguf file (required)"},
    [M_ADAPTER] = {"adapter", 0, "A.h5[:SCALE]", "adapter to fold in, its update times SCALE (default 1);\nrepeatable (required)"},
    [M_OUT] = {"out", 0, "DIR|FILE.gguf", "the merged model: an HF directory, or a GGUF file (required)"},
    [M_DTYPE] = {"dtype", 0, "T", "HF output weights: f32 (default), f16 or bf16"},
    [M_GGUF_TYPE] = {"gguf-type", 0, "T", "GGUF output weights: f32 (default), f16, bf16, q8_0, q5_0, q5_1, q4_0 or q4_1"},
    [M_TOKENIZER] = {"tokenizer", 0, "T", "tokenizer.json for an HF directory from a GGUF base"},
    [M_FORCE] = {"force", 'f', NULL, "replace an existing .gguf output that is not a GGUF file"},
};

static const cli_spec MERGE_SPEC = {
    "merge", "lorac merge --model BASE --adapter A.h5[:SCALE] [--adapter B.h5:0.5 ...] --out DIR|FILE.gguf [options]",
    "Folds the adapters into the base weights (fp32: W += scale * alpha/r * B·A) and writes an HF\n"
    "directory (config.json, model.safetensors, tokenizer files) or, for a GGUF base, a GGUF file\n"
    "(--out ending in .gguf; the base's metadata and tokenizer are kept). The written model is\n"
    "reloaded and its logits compared with the base + unmerged adapters on 3 probe prompts.\n"
    "An HF directory from a GGUF base needs --tokenizer. The output is never one of the inputs.",
    MERGE_OPTS, M_COUNT, 0, 0, NULL};

typedef struct {
    lc_merge_params p;
    char *paths[MAX_ADAPTERS];
    float scales[MAX_ADAPTERS];
    int n;
} merge_opts;

/* One merge option; 0 or -1 (error printed). */
static int merge_set(merge_opts *m, const cli_arg *a) {
    switch (a->opt) {
    case M_MODEL: m->p.model_path = a->val; return 0;
    case M_OUT: m->p.out_path = a->val; return 0;
    case M_TOKENIZER: m->p.tokenizer_path = a->val; return 0;
    case M_FORCE: m->p.force = 1; return 0;
    case M_DTYPE:
        if (!parse_type(a->val, &m->p.hf_dtype) && m->p.hf_dtype <= LC_DT_BF16) return 0;
        fprintf(stderr, "lorac merge: --dtype must be f32, f16 or bf16 (got '%s')\n", a->val);
        return -1;
    case M_GGUF_TYPE:
        if (!parse_type(a->val, &m->p.gguf_type)) return 0;
        fprintf(stderr, "lorac merge: --gguf-type must be f32, f16, bf16, q8_0, q5_0, q5_1, q4_0 or q4_1 (got '%s')\n", a->val);
        return -1;
    case M_ADAPTER:
        if (m->n == MAX_ADAPTERS) {
            fprintf(stderr, "lorac merge: at most %d adapters\n", MAX_ADAPTERS);
            return -1;
        }
        if (cli_adapter_arg("merge", a->val, &m->paths[m->n], &m->scales[m->n])) return -1;
        m->n++;
        return 0;
    }
    return -1;
}

/* Returns 0, 1 (help shown) or 2. */
static int merge_parse(merge_opts *m, int argc, char **argv) {
    cli_args args;
    int rc = cli_parse(&MERGE_SPEC, argc, argv, &args);
    for (int i = 0; i < args.n && !rc; i++)
        if (merge_set(m, &args.v[i])) rc = 2;
    cli_args_free(&args);
    if (!rc && (!m->p.model_path || !m->p.out_path || !m->n)) {
        fprintf(stderr, "lorac merge: --model, --adapter and --out are required (see `lorac merge --help`)\n");
        rc = 2;
    }
    return rc;
}

static int merge_run(merge_opts *m) {
    lc_merge_params p = m->p;
    int n = m->n;
    p.adapter_paths = (const char *const *)m->paths;
    p.adapter_scales = m->scales;
    p.n_adapters = n;
    size_t ol = strlen(p.out_path);
    int gguf_out = ol > 5 && !strcmp(p.out_path + ol - 5, ".gguf");
    if (gguf_out && p.gguf_type != LC_DT_F32)
        fprintf(stderr, "lorac merge: warning: storing the merged weights as %s rounds them again; part of the "
                        "adapter's update is lost (use --gguf-type f32 for an exact merge)\n",
                lc_dtype_name(p.gguf_type));
    lc_threads_init(0);
    lc_merge_report rep;
    lc_status st = lc_deploy_merge(&p, &rep);
    if (st) {
        fprintf(stderr, "lorac merge: %s\n", lc_error_msg());
        return 1;
    }
    printf("merged %d adapter(s) into %s -> %s (%s)\n", n, p.model_path, p.out_path,
           gguf_out ? lc_dtype_name(p.gguf_type) : lc_dtype_name(p.hf_dtype));
    printf("merge %.2f s, write %.2f s, checks %.2f s\n", rep.seconds_merge, rep.seconds_write, rep.seconds_check);
    printf("check: max |logit difference| merged (reloaded) vs base + unmerged adapters = %.3g "
           "(%d probes x %d tokens; max |logit| %.3g)\n",
           rep.max_abs_diff, rep.n_probes, rep.probe_len, rep.max_abs_logit);
    return 0;
}

int cli_merge(int argc, char **argv) {
    merge_opts m;
    memset(&m, 0, sizeof m);
    m.p = lc_merge_default_params();
    int rc = merge_parse(&m, argc, argv);
    rc = rc == 1 ? 0 : rc ? rc : merge_run(&m);
    for (int i = 0; i < m.n; i++) free(m.paths[i]);
    return rc;
}

/* The current error, for `lorac VERB`: exit code 1. */
static int failed(const char *verb) {
    fprintf(stderr, "lorac %s: %s\n", verb, lc_error_msg());
    return 1;
}

/* What export and import do once their arguments are checked. */
typedef enum { JOB_EXPORT_PEFT, JOB_EXPORT_GGUF, JOB_IMPORT_PEFT } adapter_job;

/* An adapter with add_tokens: the model m grows by them for a PEFT export
 * (which writes the resized embedding and the tokenizer files); the
 * llama.cpp LoRA GGUF cannot replace or add embedding rows and is refused. */
static lc_status prepare_added(const char *src, adapter_job job, lc_model *m) {
    lc_adapter_info info;
    char **strs = NULL;
    int n = 0;
    lc_status st = lc_adapter_read_info(src, &info);
    if (st || !info.cfg.add_tokens[0]) return st;
    if (job == JOB_EXPORT_GGUF)
        return lc_errorf(LC_ERR_UNSUPPORTED,
                         "%s: an adapter with add_tokens (%s) is not exported as a llama.cpp GGUF LoRA: that format "
                         "cannot replace or add embedding rows; merge it into the base instead (lorac merge writes "
                         "the new tokens into the GGUF file), or export --format peft",
                         src, info.cfg.add_tokens);
    if (m->cfg.vocab_size != info.base_vocab_size)
        return lc_errorf(LC_ERR_MISMATCH, "%s: its base had %d tokens, the model %d", src, info.base_vocab_size,
                         m->cfg.vocab_size);
    if (!(st = lc_tokens_parse_added(info.cfg.add_tokens, &strs, &n))) st = lc_tokens_grow_vocab(m, n);
    lc_tokens_strs_free(strs, n);
    return st;
}

/* Open the base model, read the adapter src (a lorac adapter to export, a
 * PEFT directory to import), write it to out in the job's format (base_name:
 * for a PEFT export) and say so. Exit code 0, or 1 with the error printed. */
static int convert_adapter(adapter_job job, const char *src, const char *model, const char *out,
                           const char *base_name) {
    int import = job == JOB_IMPORT_PEFT;
    lc_model m;
    lc_lora lora;
    memset(&m, 0, sizeof m);
    memset(&lora, 0, sizeof lora);
    lc_status st = open_model(&m, model);
    if (!st && !import) st = prepare_added(src, job, &m);
    if (!st) st = import ? lc_deploy_import_peft(src, &m, &lora) : lc_adapter_load(src, &m, &lora, NULL, NULL, 0);
    if (!st) st = import                    ? lc_adapter_save(out, &lora, &m, NULL, NULL, NULL)
                  : job == JOB_EXPORT_GGUF ? lc_deploy_export_gguf(&lora, &m, out)
                                           : lc_deploy_export_peft(&lora, &m, base_name, out);
    if (!st) printf("%s %s (r %d, alpha %g%s) %s %s -> %s\n", import ? "imported" : "exported", src, lora.cfg.r,
                    lora.cfg.alpha, lora.cfg.rslora ? ", rsLoRA" : "", import ? "for" : "as",
                    import ? model : job == JOB_EXPORT_GGUF ? "gguf" : "peft", out);
    lc_lora_free(&lora);
    lc_model_free(&m);
    return st ? failed(import ? "import" : "export") : 0;
}

enum { E_ADAPTER, E_MODEL, E_FORMAT, E_OUT, E_BASE_NAME, E_FORCE, E_COUNT };

static const cli_opt EXPORT_OPTS[E_COUNT] = {
    [E_ADAPTER] = {"adapter", 0, "A.h5", "the lorac adapter (required)"},
    [E_MODEL] = {"model", 0, "BASE", "the base model it was trained on (required)"},
    [E_FORMAT] = {"format", 0, "peft|gguf", "peft: adapter_config.json + adapter_model.safetensors for\n"
                                            "PeftModel.from_pretrained; gguf: a llama.cpp LoRA adapter\n"
                                            "(llama-cli --lora ADAPTER.gguf) (required)"},
    [E_OUT] = {"out", 0, "DIR|ADAPTER.gguf", "where to write it; missing parent directories are created (required)"},
    [E_BASE_NAME] = {"base-name", 0, "NAME", "base_model_name_or_path in adapter_config.json (default: --model)"},
    [E_FORCE] = {"force", 'f', NULL, "replace an existing ADAPTER.gguf that is not a LoRA GGUF"},
};

static const cli_spec EXPORT_SPEC = {
    "export",
    "lorac export --adapter A.h5 --model BASE --format peft --out DIR\n"
    "       lorac export --adapter A.h5 --model BASE --format gguf --out ADAPTER.gguf",
    "Writes an adapter for PEFT or llama.cpp. The output is never one of the inputs.",
    EXPORT_OPTS, E_COUNT, 0, 0, NULL};

/* Options whose value is a string go to dst[opt]; flags set *force.
 * Returns 0, 1 (help shown) or 2. */
static int parse_strings(const cli_spec *spec, int argc, char **argv, const char **dst, int force_opt, int *force) {
    cli_args args;
    int rc = cli_parse(spec, argc, argv, &args);
    for (int i = 0; i < args.n && !rc; i++) {
        if (args.v[i].opt == force_opt) *force = 1;
        else dst[args.v[i].opt] = args.v[i].val;
    }
    cli_args_free(&args);
    return rc;
}

int cli_export(int argc, char **argv) {
    const char *v[E_COUNT] = {0};
    int force = 0;
    int rc = parse_strings(&EXPORT_SPEC, argc, argv, v, E_FORCE, &force);
    if (rc) return rc == 1 ? 0 : rc;
    const char *adapter = v[E_ADAPTER], *model = v[E_MODEL], *format = v[E_FORMAT], *out = v[E_OUT],
               *base_name = v[E_BASE_NAME];
    if (!adapter || !model || !format || !out) {
        fprintf(stderr, "lorac export: --adapter, --model, --format and --out are required (see `lorac export --help`)\n");
        return 2;
    }
    int gguf = !strcmp(format, "gguf");
    if (!gguf && strcmp(format, "peft")) {
        fprintf(stderr, "lorac export: --format must be peft or gguf (got '%s')\n", format);
        return 2;
    }
    const char *in[2] = {adapter, model}, *roles[2] = {"the adapter", "the base model"};
    lc_status st = gguf ? check_out_file(out, in, roles, 2, 'g', force) : lc_fs_refuse_input(out, in, roles, 2);
    if (st) return failed("export");
    return convert_adapter(gguf ? JOB_EXPORT_GGUF : JOB_EXPORT_PEFT, adapter, model, out, base_name);
}

enum { I_PEFT, I_MODEL, I_OUT, I_FORCE, I_COUNT };

static const cli_opt IMPORT_OPTS[I_COUNT] = {
    [I_PEFT] = {"peft", 0, "DIR", "the PEFT adapter: adapter_config.json + adapter_model.safetensors (required)"},
    [I_MODEL] = {"model", 0, "BASE", "the base model it was made for (required)"},
    [I_OUT] = {"out", 0, "ADAPTER.h5", "the lorac adapter to write (required)"},
    [I_FORCE] = {"force", 'f', NULL, "replace an existing file that is not a lorac adapter"},
};

static const cli_spec IMPORT_SPEC = {
    "import", "lorac import --peft DIR --model BASE --out ADAPTER.h5",
    "Reads a PEFT LoRA adapter made for BASE and stores it as a lorac adapter (usable by merge,\n"
    "export, generate, eval). The output is never one of the inputs.",
    IMPORT_OPTS, I_COUNT, 0, 0, NULL};

int cli_import(int argc, char **argv) {
    const char *v[I_COUNT] = {0};
    int force = 0;
    int rc = parse_strings(&IMPORT_SPEC, argc, argv, v, I_FORCE, &force);
    if (rc) return rc == 1 ? 0 : rc;
    const char *peft = v[I_PEFT], *model = v[I_MODEL], *out = v[I_OUT];
    if (!peft || !model || !out) {
        fprintf(stderr, "lorac import: --peft, --model and --out are required (see `lorac import --help`)\n");
        return 2;
    }
    const char *in[2] = {peft, model}, *roles[2] = {"the PEFT adapter", "the base model"};
    if (check_out_file(out, in, roles, 2, 'h', force)) return failed("import");
    return convert_adapter(JOB_IMPORT_PEFT, peft, model, out, NULL);
}
