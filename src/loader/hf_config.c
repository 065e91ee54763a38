/*
 * hf_config.c — config.json of a Hugging Face Llama / Mistral / Qwen2 / Qwen3 /
 * Gemma 3 (its own keys: hf_gemma3.c) model into an lc_model_config: architecture, sizes with HF's defaults,
 * RoPE scaling (linear, llama3), and a clear refusal of what lorac does not
 * compute (other RoPE scalings, non-SiLU MLPs, MLP biases).
 */
#include "lc_loader.h"

#include "hf_gemma3.h"
#include "hf_gpt2.h"
#include "hf_keys.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *hf_arch, *model_type;
    lc_arch arch;
} ARCHS[] = {
    {"LlamaForCausalLM", "llama", LC_ARCH_LLAMA},
    {"MistralForCausalLM", "mistral", LC_ARCH_MISTRAL},
    {"Qwen2ForCausalLM", "qwen2", LC_ARCH_QWEN2},
    {"Qwen3ForCausalLM", "qwen3", LC_ARCH_QWEN3},
    {"Gemma3ForCausalLM", "gemma3_text", LC_ARCH_GEMMA3}, /* its own keys: hf_gemma3.c */
    {"GPT2LMHeadModel", "gpt2", LC_ARCH_GPT2}, /* its keys: hf_gpt2.c */
};
#define N_ARCHS ((int)(sizeof ARCHS / sizeof ARCHS[0]))
#define SUPPORTED_MSG                                                                              \
    "supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma3ForCausalLM, " \
    "GPT2LMHeadModel (model_type llama, mistral, qwen2, qwen3, gemma3_text, gpt2)"

/* Short JSON rendering of a value for messages (caller frees). */
static char *json_repr(const json_t *v) {
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (s && strlen(s) > 80) strcpy(s + 76, "...");
    return s;
}

lc_status hf_key_bad(const char *path, const char *key, const char *want, const json_t *v) {
    char *r = json_repr(v);
    lc_status rc = lc_errorf(LC_ERR_CONFIG, "%s: \"%s\" must be %s, found %s", path, key, want, r ? r : "?");
    free(r);
    return rc;
}

/* Positive int key; absent or null gives `def` (def < 0: required). */
lc_status hf_key_pos_int(const char *path, json_t *o, const char *key, int def, int *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (def < 0) return lc_errorf(LC_ERR_CONFIG, "%s: required key \"%s\" is missing", path, key);
        *out = def;
        return LC_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > INT_MAX)
        return hf_key_bad(path, key, "a positive integer", v);
    *out = (int)json_integer_value(v);
    return LC_OK;
}

lc_status hf_key_pos_float(const char *path, json_t *o, const char *key, double def, float *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = (float)def;
        return LC_OK;
    }
    if (!json_is_number(v) || !(json_number_value(v) > 0)) return hf_key_bad(path, key, "a positive number", v);
    *out = (float)json_number_value(v);
    return LC_OK;
}

lc_status hf_key_bool(const char *path, json_t *o, const char *key, int def, int *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return LC_OK;
    }
    if (!json_is_boolean(v)) return hf_key_bad(path, key, "true or false", v);
    *out = json_is_true(v);
    return LC_OK;
}

/* Token id: int, null (-1) or a list (first element; empty = -1). */
lc_status hf_key_token_id(const char *path, json_t *o, const char *key, int *out) {
    json_t *v = json_object_get(o, key);
    *out = -1;
    if (json_is_array(v)) v = json_array_size(v) ? json_array_get(v, 0) : NULL;
    if (!v || json_is_null(v)) return LC_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT_MAX)
        return hf_key_bad(path, key, "a token id, a list of ids or null", v);
    *out = (int)json_integer_value(v);
    return LC_OK;
}

static lc_status parse_arch(const char *path, json_t *root, lc_arch *arch) {
    json_t *archs = json_object_get(root, "architectures");
    json_t *mt = json_object_get(root, "model_type");
    if (json_is_array(archs) && json_array_size(archs) > 0) {
        const char *a = json_string_value(json_array_get(archs, 0));
        if (!a) return hf_key_bad(path, "architectures", "a list of strings", archs);
        for (int i = 0; i < N_ARCHS; i++)
            if (!strcmp(a, ARCHS[i].hf_arch)) {
                *arch = ARCHS[i].arch;
                return LC_OK;
            }
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: architecture \"%s\" is not supported (" SUPPORTED_MSG ")",
                         path, a);
    }
    if (archs && !json_is_null(archs) && !json_is_array(archs))
        return hf_key_bad(path, "architectures", "a list of strings", archs);
    if (json_is_string(mt)) {
        for (int i = 0; i < N_ARCHS; i++)
            if (!strcmp(json_string_value(mt), ARCHS[i].model_type)) {
                *arch = ARCHS[i].arch;
                return LC_OK;
            }
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: model_type \"%s\" is not supported (" SUPPORTED_MSG ")", path,
                         json_string_value(mt));
    }
    return lc_errorf(LC_ERR_CONFIG, "%s: neither \"architectures\" nor \"model_type\" is set (" SUPPORTED_MSG ")",
                     path);
}

/* A required positive number of a rope_scaling object. */
static lc_status rope_number(const char *path, const char *key, json_t *v, const char *name, const char *type,
                             double *out) {
    json_t *x = json_object_get(v, name);
    if (!json_is_number(x) || !(json_number_value(x) > 0))
        return lc_errorf(LC_ERR_CONFIG, "%s: \"%s\" of type \"%s\" needs \"%s\" as a positive number%s", path, key,
                         type, name, x ? "" : " (missing)");
    *out = json_number_value(x);
    return LC_OK;
}

/* An optional positive number of a rope_scaling object (absent or null: def). */
static lc_status rope_opt(const char *path, const char *key, json_t *v, const char *name, double def, double *out) {
    json_t *x = json_object_get(v, name);
    if (!x || json_is_null(x)) {
        *out = def;
        return LC_OK;
    }
    if (!json_is_number(x) || !(json_number_value(x) > 0))
        return lc_errorf(LC_ERR_CONFIG, "%s: \"%s\": \"%s\" must be a positive number", path, key, name);
    *out = json_number_value(x);
    return LC_OK;
}

/* HF's yarn_get_mscale: 0.1 mscale ln(scale) + 1, 1 for scale <= 1. */
static double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * log(scale) + 1.0; }

/* yarn (transformers' _compute_yarn_parameters): original_max_position_embeddings
 * required; beta_fast 32, beta_slow 1, truncate true by default; the cos/sin
 * factor is attention_factor, else mscale(factor, mscale) / mscale(factor,
 * mscale_all_dim) when both are set, else mscale(factor). */
static lc_status parse_yarn(const char *path, const char *key, json_t *v, double factor, lc_rope_scaling *rs) {
    double orig = 0, bf = 0, bs = 0, af = 0, ms = 0, msa = 0;
    lc_status rc;
    if ((rc = rope_number(path, key, v, "original_max_position_embeddings", "yarn", &orig)) ||
        (rc = rope_opt(path, key, v, "beta_fast", 32, &bf)) || (rc = rope_opt(path, key, v, "beta_slow", 1, &bs)) ||
        (rc = rope_opt(path, key, v, "attention_factor", 0, &af)) || (rc = rope_opt(path, key, v, "mscale", 0, &ms)) ||
        (rc = rope_opt(path, key, v, "mscale_all_dim", 0, &msa)))
        return rc;
    if (orig != (double)(int)orig)
        return lc_errorf(LC_ERR_CONFIG, "%s: \"%s\": original_max_position_embeddings (%g) must be an integer", path,
                         key, orig);
    json_t *tr = json_object_get(v, "truncate");
    if (tr && !json_is_null(tr) && !json_is_boolean(tr)) return hf_key_bad(path, "truncate", "true or false", tr);
    rs->type = LC_ROPE_YARN;
    rs->original_max_position = (int)orig;
    rs->beta_fast = (float)bf;
    rs->beta_slow = (float)bs;
    rs->truncate = !tr || json_is_null(tr) || json_is_true(tr);
    if (af == 0) af = ms > 0 && msa > 0 ? yarn_mscale(factor, ms) / yarn_mscale(factor, msa) : yarn_mscale(factor, 1);
    rs->attn_factor = (float)af;
    return LC_OK;
}

/* rope_scaling / rope_parameters (transformers v5): null, or type "default",
 * "linear" (factor) or "llama3" (factor, low_freq_factor, high_freq_factor,
 * original_max_position_embeddings) into rs; other types are refused. Reads
 * rope_theta from the object when present (the v5 layout). */
lc_status hf_parse_rope(const char *path, json_t *root, const char *key, float *theta, lc_rope_scaling *rs) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return LC_OK;
    if (!json_is_object(v)) return hf_key_bad(path, key, "null or an object", v);
    json_t *t = json_object_get(v, "rope_type");
    if (!t) t = json_object_get(v, "type");
    if (t && !json_is_null(t) && !json_is_string(t)) return hf_key_bad(path, key, "an object with a string type", v);
    const char *type = json_is_string(t) ? json_string_value(t) : "default";
    lc_status rc;
    double factor = 0, lo = 0, hi = 0, orig = 0;
    if (!strcmp(type, "linear") || !strcmp(type, "llama3") || !strcmp(type, "yarn")) {
        if ((rc = rope_number(path, key, v, "factor", type, &factor))) return rc;
        memset(rs, 0, sizeof *rs);
        rs->type = LC_ROPE_LINEAR;
        rs->factor = (float)factor;
    } else if (strcmp(type, "default")) {
        return lc_errorf(LC_ERR_UNSUPPORTED,
                         "%s: \"%s\" has type \"%s\": this rope scaling is not supported (supported: null, "
                         "\"default\", \"linear\", \"llama3\", \"yarn\")",
                         path, key, type);
    }
    if (!strcmp(type, "llama3")) {
        if ((rc = rope_number(path, key, v, "low_freq_factor", type, &lo)) ||
            (rc = rope_number(path, key, v, "high_freq_factor", type, &hi)) ||
            (rc = rope_number(path, key, v, "original_max_position_embeddings", type, &orig)))
            return rc;
        if (!(hi > lo) || orig != (double)(int)orig)
            return lc_errorf(LC_ERR_CONFIG, "%s: \"%s\": llama3 needs high_freq_factor (%g) > low_freq_factor (%g) "
                             "and an integer original_max_position_embeddings (%g)", path, key, hi, lo, orig);
        rs->type = LC_ROPE_LLAMA3;
        rs->low_freq_factor = (float)lo;
        rs->high_freq_factor = (float)hi;
        rs->original_max_position = (int)orig;
    }
    if (!strcmp(type, "yarn") && (rc = parse_yarn(path, key, v, factor, rs))) return rc;
    return hf_key_pos_float(path, v, "rope_theta", *theta, theta);
}

/* Sizes no real model has (they would only fail later as "out of memory" or
 * an empty context): refused here, naming the key and its value. */
static lc_status check_limits(const char *path, const lc_model_config *c) {
    static const int MAX_LAYERS = 1024, MAX_DIM = 1 << 20;
    if (c->n_layers > MAX_LAYERS)
        return lc_errorf(LC_ERR_CONFIG, "%s: num_hidden_layers is %d: at most %d are supported", path, c->n_layers,
                         MAX_LAYERS);
    if (c->hidden_size > MAX_DIM || c->intermediate_size > MAX_DIM || c->vocab_size > 16 * MAX_DIM)
        return lc_errorf(LC_ERR_CONFIG, "%s: hidden_size %d / intermediate_size %d / vocab_size %d: implausibly "
                         "large (at most %d, %d, %d)", path, c->hidden_size, c->intermediate_size, c->vocab_size,
                         MAX_DIM, MAX_DIM, 16 * MAX_DIM);
    if (c->max_position < 2)
        return lc_errorf(LC_ERR_CONFIG, "%s: max_position_embeddings is %d: a model needs a context of at least 2 "
                         "positions", path, c->max_position);
    return LC_OK;
}

static lc_status parse_config(const char *path, json_t *root, lc_model_config *c, lc_hf_info *info) {
    lc_status rc;
    memset(c, 0, sizeof *c);
    if ((rc = parse_arch(path, root, &c->arch))) return rc;
    if (c->arch == LC_ARCH_GPT2) return lc_hf_gpt2_config(path, root, c);
    if ((rc = hf_key_pos_int(path, root, "vocab_size", -1, &c->vocab_size)) ||
        (rc = hf_key_pos_int(path, root, "hidden_size", -1, &c->hidden_size)) ||
        (rc = hf_key_pos_int(path, root, "intermediate_size", -1, &c->intermediate_size)) ||
        (rc = hf_key_pos_int(path, root, "num_hidden_layers", -1, &c->n_layers)) ||
        (rc = hf_key_pos_int(path, root, "num_attention_heads", -1, &c->n_heads)) ||
        (rc = hf_key_pos_int(path, root, "num_key_value_heads", c->n_heads, &c->n_kv_heads)) ||
        (rc = hf_key_pos_int(path, root, "max_position_embeddings", -1, &c->max_position)))
        return rc;
    if (c->hidden_size % c->n_heads && !json_is_integer(json_object_get(root, "head_dim")))
        return lc_errorf(LC_ERR_CONFIG, "%s: hidden_size %d is not a multiple of num_attention_heads %d and "
                         "head_dim is not set", path, c->hidden_size, c->n_heads);
    if ((rc = hf_key_pos_int(path, root, "head_dim", c->hidden_size / c->n_heads, &c->head_dim)) ||
        (rc = hf_key_pos_float(path, root, "rms_norm_eps", 1e-6, &c->rms_eps)) ||
        (rc = hf_key_pos_float(path, root, "rope_theta", 10000.0, &c->rope_theta)) ||
        (rc = hf_parse_rope(path, root, "rope_scaling", &c->rope_theta, &c->rope_scaling)) ||
        (rc = hf_parse_rope(path, root, "rope_parameters", &c->rope_theta, &c->rope_scaling)) ||
        (rc = hf_key_bool(path, root, "tie_word_embeddings", 0, &c->tie_embeddings)) ||
        (rc = hf_key_token_id(path, root, "bos_token_id", &c->bos_id)) ||
        (rc = hf_key_token_id(path, root, "eos_token_id", &c->eos_id)))
        return rc;
    if (c->arch == LC_ARCH_GEMMA3) { /* its activation, norms, windows and RoPE bases: hf_gemma3.c */
        if ((rc = lc_hf_gemma3_config(path, root, c))) return rc;
        if (info) info->sliding_window = c->sliding_window;
        return (rc = lc_model_config_validate(c)) ? lc_error_wrap(rc, "%s", path) : LC_OK;
    }
    /* Qwen2 always has q/k/v biases; Llama and Qwen3 have them (and an o_proj
     * bias) with attention_bias. Qwen3 norms each q/k head (q_norm, k_norm). */
    int bias = 0;
    if ((rc = hf_key_bool(path, root, "attention_bias", 0, &bias))) return rc;
    c->attn_bias = c->arch == LC_ARCH_QWEN2 || ((c->arch == LC_ARCH_LLAMA || c->arch == LC_ARCH_QWEN3) && bias);
    c->qk_norm = c->arch == LC_ARCH_QWEN3;
    int mlp_bias = 0;
    if ((rc = hf_key_bool(path, root, "mlp_bias", 0, &mlp_bias))) return rc;
    if (mlp_bias) return lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"mlp_bias\": true is not supported", path);
    json_t *act = json_object_get(root, "hidden_act");
    if (act && !json_is_null(act) && (!json_is_string(act) || strcmp(json_string_value(act), "silu"))) {
        char *r = json_repr(act);
        rc = lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"hidden_act\" is %s, only \"silu\" is supported", path,
                       r ? r : "?");
        free(r);
        return rc;
    }
    /* Sliding-window attention: recorded; lorac trains with T <= window. */
    int window = 0, use_window = 1;
    if ((rc = hf_key_pos_int(path, root, "sliding_window", 0, &window))) return rc;
    if ((c->arch == LC_ARCH_QWEN2 || c->arch == LC_ARCH_QWEN3) &&
        (rc = hf_key_bool(path, root, "use_sliding_window", 0, &use_window)))
        return rc;
    if (c->arch == LC_ARCH_LLAMA || !use_window || window >= c->max_position) window = 0;
    if (info) info->sliding_window = window;
    if ((rc = lc_model_config_validate(c))) return lc_error_wrap(rc, "%s", path);
    return LC_OK;
}

lc_status lc_hf_config_load(const char *path, lc_model_config *cfg, lc_hf_info *info) {
    json_error_t jerr;
    if (info) memset(info, 0, sizeof *info);
    FILE *f = fopen(path, "rb");
    if (!f) return lc_errorf(LC_ERR_IO, "%s: cannot open (is this a Hugging Face model directory?)", path);
    json_t *root = json_loadf(f, 0, &jerr);
    fclose(f);
    if (!root)
        return lc_errorf(LC_ERR_FORMAT, "%s: line %d column %d: invalid JSON: %s", path, jerr.line, jerr.column,
                         jerr.text);
    lc_status rc = json_is_object(root) ? parse_config(path, root, cfg, info)
                                        : lc_errorf(LC_ERR_FORMAT, "%s: expected a JSON object", path);
    if (!rc) rc = check_limits(path, cfg);
    json_decref(root);
    return rc;
}
