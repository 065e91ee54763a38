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
             {"q8_0", LC_DT_Q8_0}, {"q4_0", LC_DT_Q4_0}, {"q4_1", LC_DT_Q4_1}};
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

static void merge_usage(FILE *f) {
    fprintf(f, "usage: lorac merge --model BASE --adapter A.h5[:SCALE] [--adapter B.h5:0.5 ...] --out DIR|FILE.gguf\n"
               "                   [--dtype f32|f16|bf16] [--gguf-type f32|f16|bf16|q8_0|q4_0|q4_1]\n"
               "                   [--tokenizer tokenizer.json] [--force]\n\n"
               "Folds the adapters into the base weights (fp32: W += scale * alpha/r * B·A) and writes an HF\n"
               "directory (config.json, model.safetensors, tokenizer files) or, for a GGUF base, a GGUF file\n"
               "(--out ending in .gguf; the base's metadata and tokenizer are kept). The written model is\n"
               "reloaded and its logits compared with the base + unmerged adapters on 3 probe prompts.\n"
               "An HF directory from a GGUF base needs --tokenizer. The output is never one of the inputs; an\n"
               "existing .gguf output that is not a GGUF file is replaced only with --force.\n");
}

int cli_merge(int argc, char **argv) {
    const char *paths[MAX_ADAPTERS];
    float scales[MAX_ADAPTERS];
    char specs[MAX_ADAPTERS][1024];
    lc_merge_params p = lc_merge_default_params();
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            merge_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--force")) {
            p.force = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "lorac merge: '%s' needs a value (or is unknown)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--model")) p.model_path = v;
        else if (!strcmp(a, "--out")) p.out_path = v;
        else if (!strcmp(a, "--tokenizer")) p.tokenizer_path = v;
        else if (!strcmp(a, "--dtype")) {
            if (parse_type(v, &p.hf_dtype) || p.hf_dtype > LC_DT_BF16) {
                fprintf(stderr, "lorac merge: --dtype must be f32, f16 or bf16 (got '%s')\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--gguf-type")) {
            if (parse_type(v, &p.gguf_type)) {
                fprintf(stderr, "lorac merge: --gguf-type must be f32, f16, bf16, q8_0, q4_0 or q4_1 (got '%s')\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--adapter")) {
            if (n == MAX_ADAPTERS) {
                fprintf(stderr, "lorac merge: at most %d adapters\n", MAX_ADAPTERS);
                return 2;
            }
            snprintf(specs[n], sizeof specs[n], "%s", v);
            scales[n] = 1.0f;
            char *colon = strrchr(specs[n], ':');
            if (colon) {
                char *end;
                float s = strtof(colon + 1, &end);
                if (end == colon + 1 || *end) {
                    fprintf(stderr, "lorac merge: --adapter %s: the scale after ':' is not a number\n", v);
                    return 2;
                }
                *colon = 0;
                scales[n] = s;
            }
            paths[n] = specs[n];
            n++;
        } else {
            fprintf(stderr, "lorac merge: unknown option '%s'\n", a);
            merge_usage(stderr);
            return 2;
        }
    }
    if (!p.model_path || !p.out_path || !n) {
        merge_usage(stderr);
        fprintf(stderr, "\nlorac merge: --model, --adapter and --out are required\n");
        return 2;
    }
    p.adapter_paths = paths;
    p.adapter_scales = scales;
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

static void export_usage(FILE *f) {
    fprintf(f, "usage: lorac export --adapter A.h5 --model BASE --format peft --out DIR\n"
               "       lorac export --adapter A.h5 --model BASE --format gguf --out ADAPTER.gguf\n\n"
               "peft: adapter_config.json + adapter_model.safetensors for PeftModel.from_pretrained.\n"
               "gguf: a llama.cpp LoRA adapter (llama-cli --lora ADAPTER.gguf).\n"
               "--base-name NAME sets base_model_name_or_path (default: the --model path).\n"
               "The output is never one of the inputs; an existing ADAPTER.gguf that is not a LoRA GGUF is\n"
               "replaced only with --force. Missing parent directories of --out are created.\n");
}

int cli_export(int argc, char **argv) {
    const char *adapter = NULL, *model = NULL, *format = NULL, *out = NULL, *base_name = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            export_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--force")) {
            force = 1;
            continue;
        }
        const char **dst = !strcmp(a, "--adapter") ? &adapter : !strcmp(a, "--model") ? &model
                         : !strcmp(a, "--format") ? &format : !strcmp(a, "--out") ? &out
                         : !strcmp(a, "--base-name") ? &base_name : NULL;
        if (!dst || !v) {
            fprintf(stderr, "lorac export: %s '%s'\n", dst ? "missing value for" : "unknown option", a);
            export_usage(stderr);
            return 2;
        }
        *dst = v;
        i++;
    }
    if (!adapter || !model || !format || !out) {
        export_usage(stderr);
        fprintf(stderr, "\nlorac export: --adapter, --model, --format and --out are required\n");
        return 2;
    }
    int gguf = !strcmp(format, "gguf");
    if (!gguf && strcmp(format, "peft")) {
        fprintf(stderr, "lorac export: --format must be peft or gguf (got '%s')\n", format);
        return 2;
    }
    const char *in[2] = {adapter, model}, *roles[2] = {"the adapter", "the base model"};
    lc_status st = gguf ? check_out_file(out, in, roles, 2, 'g', force) : lc_fs_refuse_input(out, in, roles, 2);
    if (st) {
        fprintf(stderr, "lorac export: %s\n", lc_error_msg());
        return 1;
    }
    lc_model m;
    lc_lora lora;
    memset(&m, 0, sizeof m);
    memset(&lora, 0, sizeof lora);
    st = open_model(&m, model);
    if (!st) st = lc_adapter_load(adapter, &m, &lora, NULL, NULL, 0);
    if (!st) st = gguf ? lc_deploy_export_gguf(&lora, &m, out) : lc_deploy_export_peft(&lora, &m, base_name, out);
    if (!st) printf("exported %s (r %d, alpha %g%s) as %s -> %s\n", adapter, lora.cfg.r, lora.cfg.alpha,
                    lora.cfg.rslora ? ", rsLoRA" : "", format, out);
    lc_lora_free(&lora);
    lc_model_free(&m);
    if (st) {
        fprintf(stderr, "lorac export: %s\n", lc_error_msg());
        return 1;
    }
    return 0;
}

static void import_usage(FILE *f) {
    fprintf(f, "usage: lorac import --peft DIR --model BASE --out ADAPTER.h5\n\n"
               "Reads a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) made for BASE and\n"
               "stores it as a lorac adapter (usable by merge, export, generate, eval). The output is never one\n"
               "of the inputs; an existing file that is not a lorac adapter is replaced only with --force.\n");
}

int cli_import(int argc, char **argv) {
    const char *peft = NULL, *model = NULL, *out = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            import_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--force")) {
            force = 1;
            continue;
        }
        const char **dst = !strcmp(a, "--peft") ? &peft : !strcmp(a, "--model") ? &model
                         : !strcmp(a, "--out") ? &out : NULL;
        if (!dst || !v) {
            fprintf(stderr, "lorac import: %s '%s'\n", dst ? "missing value for" : "unknown option", a);
            import_usage(stderr);
            return 2;
        }
        *dst = v;
        i++;
    }
    if (!peft || !model || !out) {
        import_usage(stderr);
        fprintf(stderr, "\nlorac import: --peft, --model and --out are required\n");
        return 2;
    }
    const char *in[2] = {peft, model}, *roles[2] = {"the PEFT adapter", "the base model"};
    lc_status st = check_out_file(out, in, roles, 2, 'h', force);
    if (st) {
        fprintf(stderr, "lorac import: %s\n", lc_error_msg());
        return 1;
    }
    lc_model m;
    lc_lora lora;
    memset(&m, 0, sizeof m);
    memset(&lora, 0, sizeof lora);
    st = open_model(&m, model);
    if (!st) st = lc_deploy_import_peft(peft, &m, &lora);
    if (!st) st = lc_adapter_save(out, &lora, &m, NULL, NULL, NULL);
    if (!st) printf("imported %s (r %d, alpha %g%s) for %s -> %s\n", peft, lora.cfg.r, lora.cfg.alpha,
                    lora.cfg.rslora ? ", rsLoRA" : "", model, out);
    lc_lora_free(&lora);
    lc_model_free(&m);
    if (st) {
        fprintf(stderr, "lorac import: %s\n", lc_error_msg());
        return 1;
    }
    return 0;
}
