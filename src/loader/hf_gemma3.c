/*
 * hf_gemma3.c — the Gemma 3 keys of a Hugging Face config.json (see
 * hf_gemma3.h), with transformers 5.x's Gemma3TextConfig defaults and
 * semantics: layer i is global ("full_attention") iff (i + 1) is a multiple
 * of the pattern, the others slide over `sliding_window` positions (key s
 * visible from query t iff t - s < window) with the local RoPE base.
 */
#include "hf_gemma3.h"

#include "hf_keys.h"

#include <string.h>

/* Null or absent, else a positive number (a soft-cap lorac may refuse). */
static lc_status opt_number(const char *path, json_t *root, const char *key, float *out) {
    *out = 0;
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return LC_OK;
    return hf_key_pos_float(path, root, key, 0, out);
}

static lc_status check_activation(const char *path, json_t *root) {
    static const char *const keys[] = {"hidden_activation", "hidden_act"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(root, keys[i]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_string(v) || (strcmp(json_string_value(v), "gelu_pytorch_tanh") &&
                                   strcmp(json_string_value(v), "gelu_tanh")))
            return hf_key_bad(path, keys[i], "\"gelu_pytorch_tanh\" (the only Gemma 3 MLP activation lorac has)", v);
    }
    return LC_OK;
}

/* layer_types (a list of "sliding_attention" / "full_attention") or
 * sliding_window_pattern into c->sliding_pattern; lorac describes the
 * layers by a period, so a list without one is refused. */
static lc_status parse_layer_types(const char *path, json_t *root, lc_model_config *c) {
    json_t *lt = json_object_get(root, "layer_types");
    int pattern = 6, L = c->n_layers;
    lc_status rc;
    if (!lt || json_is_null(lt)) {
        if ((rc = hf_key_pos_int(path, root, "sliding_window_pattern", 6, &pattern))) return rc;
        c->sliding_pattern = pattern;
        return LC_OK;
    }
    if (!json_is_array(lt) || (int)json_array_size(lt) != L)
        return hf_key_bad(path, "layer_types", "a list with one entry per layer", lt);
    pattern = L + 1; /* no global layer: every layer slides */
    for (int i = 0; i < L; i++) {
        const char *t = json_string_value(json_array_get(lt, (size_t)i));
        if (!t || (strcmp(t, "sliding_attention") && strcmp(t, "full_attention")))
            return hf_key_bad(path, "layer_types", "a list of \"sliding_attention\" / \"full_attention\"", lt);
        if (!strcmp(t, "full_attention") && pattern == L + 1) pattern = i + 1;
    }
    for (int i = 0; i < L; i++) {
        int full = (i + 1) % pattern == 0;
        if (full != !strcmp(json_string_value(json_array_get(lt, (size_t)i)), "full_attention"))
            return lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"layer_types\": layer %d is not what a period of %d (every "
                             "%d-th layer global) gives: only periodic patterns are supported", path, i, pattern,
                             pattern);
    }
    c->sliding_pattern = pattern;
    return LC_OK;
}

/* Global RoPE (theta, scaling) and the local base, old keys then
 * transformers 5's rope_parameters {full_attention, sliding_attention}. */
static lc_status parse_ropes(const char *path, json_t *root, lc_model_config *c) {
    lc_status rc;
    memset(&c->rope_scaling, 0, sizeof c->rope_scaling);
    if ((rc = hf_key_pos_float(path, root, "rope_theta", 1e6, &c->rope_theta)) ||
        (rc = hf_key_pos_float(path, root, "rope_local_base_freq", 1e4, &c->rope_local_theta)) ||
        (rc = hf_parse_rope(path, root, "rope_scaling", &c->rope_theta, &c->rope_scaling)))
        return rc;
    json_t *rp = json_object_get(root, "rope_parameters");
    if (!rp || json_is_null(rp)) return LC_OK;
    if (!json_is_object(rp)) return hf_key_bad(path, "rope_parameters", "null or an object", rp);
    if (!json_object_get(rp, "full_attention") && !json_object_get(rp, "sliding_attention"))
        return hf_parse_rope(path, root, "rope_parameters", &c->rope_theta, &c->rope_scaling); /* one for all */
    if ((rc = hf_parse_rope(path, rp, "full_attention", &c->rope_theta, &c->rope_scaling))) return rc;
    lc_rope_scaling local = {0};
    if ((rc = hf_parse_rope(path, rp, "sliding_attention", &c->rope_local_theta, &local))) return rc;
    if (local.type != LC_ROPE_NONE)
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"rope_parameters\".\"sliding_attention\" is scaled (%s): only "
                         "an unscaled local RoPE is supported", path, lc_rope_scaling_name(local.type));
    return LC_OK;
}

lc_status lc_hf_gemma3_config(const char *path, json_t *root, lc_model_config *c) {
    lc_status rc;
    int bias = 0, bidir = 0;
    float attn_cap = 0;
    if ((rc = check_activation(path, root)) ||
        (rc = hf_key_pos_int(path, root, "head_dim", 256, &c->head_dim)) ||
        (rc = hf_key_bool(path, root, "tie_word_embeddings", 1, &c->tie_embeddings)) ||
        (rc = hf_key_bool(path, root, "attention_bias", 0, &bias)) ||
        (rc = hf_key_bool(path, root, "use_bidirectional_attention", 0, &bidir)) ||
        (rc = hf_key_pos_float(path, root, "query_pre_attn_scalar", 256, &c->query_pre_attn_scalar)) ||
        (rc = hf_key_pos_int(path, root, "sliding_window", 4096, &c->sliding_window)) ||
        (rc = opt_number(path, root, "final_logit_softcapping", &c->final_softcap)) ||
        (rc = opt_number(path, root, "attn_logit_softcapping", &attn_cap)) ||
        (rc = parse_layer_types(path, root, c)) || (rc = parse_ropes(path, root, c)))
        return rc;
    if (bias) return lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"attention_bias\": true is not supported for Gemma 3", path);
    if (bidir)
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"use_bidirectional_attention\": true is not supported (lorac "
                         "trains causal language models)", path);
    if (attn_cap > 0)
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"attn_logit_softcapping\" is %g: soft-capped attention scores "
                         "are not implemented (Gemma 3 configs leave it null)", path, (double)attn_cap);
    c->qk_norm = 1;
    c->attn_bias = 0;
    return LC_OK;
}
