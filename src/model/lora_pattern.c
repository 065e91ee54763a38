/*
 * lora_pattern.c — PEFT's per-module LoRA settings: rank_pattern and
 * alpha_pattern (regex key → r / alpha) and layers_to_transform (which layer
 * indices get adapters), resolved for one module exactly as PEFT 0.21 does:
 *
 *   key = first k in pattern (in order) with re.match(rf"(.*\.)?({k})$", name)
 *   r   = rank_pattern[key] if matched else r        (alpha likewise)
 *   layer index = first ".<digits>." after the first dotted segment of name
 *
 * where name is the module's path in the HF model ("model.layers.3.mlp.up_proj",
 * GPT-2 "transformer.h.3.attn.c_attn"). Regexes are PCRE2, whose syntax is
 * Python's `re` for the patterns people write (literals, ., *, ^, groups,
 * classes, alternation).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "lc_lora.h"
#include "lc_tokens.h"

void lc_lora_module_name(char *buf, size_t size, lc_arch arch, int layer, lc_lora_target t) {
    static const char *const leaf[LC_T_COUNT] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                 "down_proj", "c_attn", "c_proj", "c_fc", "c_proj"};
    const char *name = ((int)t >= 0 && t < LC_T_COUNT) ? leaf[t] : "?";
    if (arch == LC_ARCH_GPT2 || t >= LC_T_C_ATTN)
        snprintf(buf, size, "transformer.h.%d.%s.%s", layer, lc_lora_target_parent(t), name);
    else
        snprintf(buf, size, "model.layers.%d.%s.%s", layer, lc_lora_target_parent(t), name);
}

/* Parse JSON text (what = the config key, for messages). "" gives NULL. */
static lc_status parse_json(const char *text, const char *what, json_t **out) {
    *out = NULL;
    if (!text[0]) return LC_OK;
    json_error_t err;
    *out = json_loads(text, JSON_DECODE_ANY, &err);
    if (!*out) return lc_errorf(LC_ERR_CONFIG, "'%s': not valid JSON/YAML (%s): %s", what, err.text, text);
    return LC_OK;
}

/* Compile PEFT's anchored form of key k: ^(.*\.)?(k)$. */
static lc_status compile_key(const char *key, const char *what, pcre2_code **re) {
    char pat[LC_LORA_PATTERN_MAX + 32];
    int ec;
    PCRE2_SIZE eo;
    snprintf(pat, sizeof pat, "^(.*\\.)?(%s)$", key);
    *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
    if (!*re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return lc_errorf(LC_ERR_CONFIG, "'%s': key '%s' is not a valid regular expression: %s", what, key,
                         (const char *)msg);
    }
    return LC_OK;
}

/* 1 if key matches module name as PEFT's get_pattern_key tests it. */
static lc_status key_matches(const char *key, const char *what, const char *name, int *hit) {
    pcre2_code *re;
    lc_status st = compile_key(key, what, &re);
    if (st) return st;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) {
        pcre2_code_free(re);
        return lc_errorf(LC_ERR_NOMEM, "out of memory");
    }
    int rc = pcre2_match(re, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL);
    *hit = rc >= 0;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return LC_OK;
}

static lc_status check_pattern(const char *text, const char *what, int is_rank) {
    json_t *o;
    lc_status st = parse_json(text, what, &o);
    if (st || !o) return st;
    if (!json_is_object(o)) {
        json_decref(o);
        return lc_errorf(LC_ERR_CONFIG, "'%s': expected a mapping of module regex to %s, found %s", what,
                         is_rank ? "rank" : "alpha", text);
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        pcre2_code *re;
        if ((st = compile_key(k, what, &re))) break;
        pcre2_code_free(re);
        double x = json_is_number(v) ? json_number_value(v) : NAN;
        if (is_rank ? !(json_is_integer(v) && x >= 1 && x <= 65536) : !(isfinite(x) && x > 0 && x <= 1e9)) {
            st = lc_errorf(LC_ERR_CONFIG, "'%s': value of '%s' must be %s", what, k,
                           is_rank ? "an integer rank in [1, 65536]" : "a number alpha in (0, 1e9]");
            break;
        }
    }
    json_decref(o);
    return st;
}

lc_status lc_lora_patterns_check(const lc_lora_config *cfg) {
    lc_status st;
    int *ids, n; /* trainable_token_indices' shape; its ids < V are checked against the model (lc_tokens_plan) */
    if ((st = lc_tokens_parse(cfg->trainable_token_indices, 0, &ids, &n))) return st;
    free(ids);
    if ((st = check_pattern(cfg->rank_pattern, "rank_pattern", 1))) return st;
    if ((st = check_pattern(cfg->alpha_pattern, "alpha_pattern", 0))) return st;
    json_t *l;
    if ((st = parse_json(cfg->layers_to_transform, "layers_to_transform", &l)) || !l) return st;
    int ok = json_is_integer(l) ? json_integer_value(l) >= 0 : json_is_array(l);
    size_t i;
    json_t *e;
    if (json_is_array(l)) json_array_foreach(l, i, e) ok &= json_is_integer(e) && json_integer_value(e) >= 0;
    json_decref(l);
    if (!ok)
        return lc_errorf(LC_ERR_CONFIG, "'layers_to_transform': expected a layer index or a list of layer indices "
                                        "(integers >= 0), found %s", cfg->layers_to_transform);
    return LC_OK;
}

/* Value of the first key of pattern text matching name, if any (*found). */
static lc_status pattern_value(const char *text, const char *what, const char *name, double *value, int *found) {
    json_t *o;
    *found = 0;
    lc_status st = parse_json(text, what, &o);
    if (st || !o) return st;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) { /* jansson keeps insertion order */
        int hit = 0;
        if ((st = key_matches(k, what, name, &hit))) break;
        if (hit) {
            *value = json_number_value(v);
            *found = 1;
            break;
        }
    }
    json_decref(o);
    return st;
}

/* PEFT's layer test for a module: with layers_to_transform set, the index
 * is the first ".<digits>." after the first segment (r".*?\.[^.]*\.(\d+)\."). */
static lc_status layer_selected(const char *text, int layer, int *on) {
    json_t *l;
    *on = 1;
    lc_status st = parse_json(text, "layers_to_transform", &l);
    if (st || !l) return st;
    if (json_is_integer(l)) *on = json_integer_value(l) == layer;
    else if (json_is_array(l) && json_array_size(l) == 0) *on = 1; /* PEFT: an empty list selects all */
    else {
        size_t i;
        json_t *e;
        *on = 0;
        json_array_foreach(l, i, e) if (json_is_integer(e) && json_integer_value(e) == layer) *on = 1;
    }
    json_decref(l);
    return LC_OK;
}

lc_status lc_lora_module_params(const lc_lora_config *cfg, lc_arch arch, int layer, lc_lora_target t, int *r,
                                float *alpha, int *on) {
    char name[160];
    double x;
    int found;
    lc_status st;
    lc_lora_module_name(name, sizeof name, arch, layer, t);
    *r = cfg->r;
    *alpha = cfg->alpha;
    if ((st = layer_selected(cfg->layers_to_transform, layer, on))) return st;
    if ((st = pattern_value(cfg->rank_pattern, "rank_pattern", name, &x, &found))) return st;
    if (found) *r = (int)x;
    if ((st = pattern_value(cfg->alpha_pattern, "alpha_pattern", name, &x, &found))) return st;
    if (found) *alpha = (float)x;
    return LC_OK;
}
