/*
 * peft.c — LoRA adapters as Hugging Face PEFT saves them: a directory with
 * adapter_config.json (LoraConfig) and adapter_model.safetensors holding
 * "base_model.model.model.layers.N.<parent>.<module>.lora_A.weight" (r, in)
 * and "...lora_B.weight" (out, r), and for DoRA (use_dora) the magnitude
 * "...<module>.lora_magnitude_vector" (out), and with trainable_token_indices
 * "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"
 * (n, C). Export writes exactly that;
 * import reads it (also with PEFT's in-memory ".default" infix, and F16/BF16
 * tensors).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deploy_internal.h"
#include "lc_fsafe.h"
#include "lc_path.h"
#include "lc_safetensors.h"
#include "lc_tokens.h"

/* ---------------- per-module rank, alpha and layers ---------------- */

/* JSON value of a pattern / layer-list text ("" gives `dflt`). The text was
 * checked when the adapter was made (lc_lora_patterns_check). */
static json_t *pattern_json(const char *text, json_t *dflt) {
    json_t *v = text[0] ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    if (!v) return dflt;
    json_decref(dflt);
    return v;
}

/* adapter_config.json's rank_pattern, alpha_pattern, layers_to_transform. */
static void put_patterns(json_t *root, const lc_lora_config *c) {
    json_object_set_new(root, "rank_pattern", pattern_json(c->rank_pattern, json_object()));
    json_object_set_new(root, "alpha_pattern", pattern_json(c->alpha_pattern, json_object()));
    json_object_set_new(root, "layers_to_transform", pattern_json(c->layers_to_transform, json_null()));
    json_object_set_new(root, "trainable_token_indices", pattern_json(c->trainable_token_indices, json_null()));
}

/* JSON text of key into dst ("" when absent, null, {} or []). */
static lc_status pattern_text(const char *path, json_t *root, const char *key, char *dst, size_t cap) {
    json_t *v = json_object_get(root, key);
    dst[0] = 0;
    if (!v || json_is_null(v) || (json_is_object(v) && !json_object_size(v)) || (json_is_array(v) && !json_array_size(v)))
        return LC_OK;
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    size_t n = strlen(text);
    if (n < cap) memcpy(dst, text, n + 1);
    free(text);
    if (n >= cap) return lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"%s\" is %zu bytes of JSON; lorac holds at most %zu", path, key, n, cap - 1);
    return LC_OK;
}

/* rank_pattern, alpha_pattern, layers_to_transform, trainable_token_indices (and layers_pattern, which
 * lorac accepts only as the model's own layer list name: "layers" or "h"). */
static lc_status take_patterns(const char *path, json_t *root, lc_arch arch, lc_lora_config *cfg) {
    lc_status st;
    json_t *lp = json_object_get(root, "layers_pattern");
    const char *own = arch == LC_ARCH_GPT2 ? "h" : "layers";
    if (json_is_array(lp) && json_array_size(lp) == 1) lp = json_array_get(lp, 0);
    if (lp && !json_is_null(lp) && !(json_is_array(lp) && !json_array_size(lp)) &&
        !(json_is_string(lp) && (!json_string_value(lp)[0] || !strcmp(json_string_value(lp), own))))
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"layers_pattern\" must be \"%s\" (this model's layer list) or unset",
                         path, own);
    if ((st = pattern_text(path, root, "rank_pattern", cfg->rank_pattern, sizeof cfg->rank_pattern)) ||
        (st = pattern_text(path, root, "alpha_pattern", cfg->alpha_pattern, sizeof cfg->alpha_pattern)) ||
        (st = pattern_text(path, root, "layers_to_transform", cfg->layers_to_transform, sizeof cfg->layers_to_transform)) ||
        (st = pattern_text(path, root, "trainable_token_indices", cfg->trainable_token_indices,
                           sizeof cfg->trainable_token_indices)))
        return st;
    if ((st = lc_lora_patterns_check(cfg))) return lc_error_wrap(st, "%s", path);
    return LC_OK;
}

/* ---------------- export ---------------- */

static json_t *peft_config(const lc_lora *lora, const lc_model *base, const char *base_name) {
    const lc_lora_config *c = &lora->cfg;
    json_t *root = json_object(), *targets = json_array();
    if (!root || !targets) {
        json_decref(root);
        json_decref(targets);
        return NULL;
    }
    for (int t = 0; t < LC_T_COUNT; t++)
        if (c->targets & (1u << t)) json_array_append_new(targets, json_string(lc_lora_target_name((lc_lora_target)t)));
    double alpha = dp_float_short(c->alpha);
    json_object_set_new(root, "auto_mapping", json_null());
    json_object_set_new(root, "base_model_name_or_path", json_string(base_name ? base_name : base->source));
    json_object_set_new(root, "bias", json_string("none"));
    json_object_set_new(root, "exclude_modules", json_null());
    /* PEFT sets fan_in_fan_out for GPT-2's Conv1D; the A/B tensors are the same */
    json_object_set_new(root, "fan_in_fan_out", json_boolean(base->fam.layer == LC_LAYER_GPT2));
    json_object_set_new(root, "inference_mode", json_true());
    json_object_set_new(root, "init_lora_weights", c->init_gaussian ? json_string("gaussian") : json_true());
    json_object_set_new(root, "layer_replication", json_null());
    json_object_set_new(root, "layers_pattern", json_null());
    json_object_set_new(root, "loftq_config", json_object());
    json_object_set_new(root, "lora_alpha", alpha == floor(alpha) && fabs(alpha) < 1e9 ? json_integer((json_int_t)alpha)
                                                                                    : json_real(alpha));
    json_object_set_new(root, "lora_bias", json_false());
    json_object_set_new(root, "lora_dropout", json_real(dp_float_short(c->dropout)));
    json_object_set_new(root, "megatron_config", json_null());
    json_object_set_new(root, "megatron_core", json_string("megatron.core"));
    json_object_set_new(root, "modules_to_save", json_null());
    json_object_set_new(root, "peft_type", json_string("LORA"));
    json_object_set_new(root, "r", json_integer(c->r));
    json_object_set_new(root, "revision", json_null());
    json_object_set_new(root, "target_modules", targets);
    json_object_set_new(root, "task_type", json_string("CAUSAL_LM"));
    json_object_set_new(root, "use_dora", json_boolean(c->use_dora));
    json_object_set_new(root, "use_rslora", json_boolean(c->rslora));
    put_patterns(root, c);
    return root;
}

/* add_tokens: PEFT's resized-vocabulary tensors (save_embedding_layers
 * "auto" on a resized model) name the whole embedding and LM head. */
#define PEFT_EMB_BASE "base_model.model.model.embed_tokens.token_adapter.base_layer.weight"
#define PEFT_HEAD_BASE "base_model.model.lm_head.token_adapter.base_layer.weight"
#define PEFT_HEAD_DELTA "base_model.model.lm_head.token_adapter.trainable_tokens_delta"
#define PEFT_HEAD "base_model.model.lm_head.weight"

/* An adapter with add_tokens exports from a base grown by them (fp32 rows)
 * whose HF directory has a tokenizer.json to add them to. */
static lc_status added_check(const lc_lora *lora, const lc_model *base) {
    char tj[4096];
    struct stat sb;
    lc_status st = lc_path_join(tj, sizeof tj, base->source, "tokenizer.json");
    if (st || stat(tj, &sb) != 0)
        return lc_errorf(LC_ERR_UNSUPPORTED,
                         "%s: a PEFT export of an adapter with add_tokens (%s) needs the base's HF "
                         "directory with its tokenizer.json (the new tokens are added to a copy)",
                         base->source, lora->cfg.add_tokens);
    if (base->tok_emb.type != LC_DT_F32 || base->lm_head.type != LC_DT_F32 ||
        base->tok_emb.rows != base->cfg.vocab_size)
        return lc_errorf(LC_ERR_ARG, "PEFT export with add_tokens: the base must be grown by them first "
                                     "(lc_tokens_grow_vocab)");
    return LC_OK;
}

/* The resized embedding and head as PEFT saves them into t; their count. */
static int added_tensors(const lc_lora *lora, const lc_model *base, lc_st_tensor *t) {
    int64_t V = base->cfg.vocab_size, C = base->cfg.hidden_size;
    size_t bytes = (size_t)V * C * sizeof(float);
    int n = 0;
    t[n++] = (lc_st_tensor){.name = PEFT_EMB_BASE,
                            .dtype = LC_ST_F32,
                            .ndim = 2,
                            .shape = {V, C},
                            .data = base->tok_emb.data,
                            .nbytes = bytes};
    if (lora->tok.tied) { /* PEFT wraps a tied head too: the same rows and delta again */
        t[n++] = (lc_st_tensor){.name = PEFT_HEAD_BASE,
                                .dtype = LC_ST_F32,
                                .ndim = 2,
                                .shape = {V, C},
                                .data = base->tok_emb.data,
                                .nbytes = bytes};
        t[n++] = (lc_st_tensor){.name = PEFT_HEAD_DELTA,
                                .dtype = LC_ST_F32,
                                .ndim = 2,
                                .shape = {lora->tok.n, C},
                                .data = lora->tok.delta,
                                .nbytes = (size_t)lora->tok.n * C * sizeof(float)};
    } else {
        t[n++] = (lc_st_tensor){.name = PEFT_HEAD,
                                .dtype = LC_ST_F32,
                                .ndim = 2,
                                .shape = {V, C},
                                .data = base->lm_head.data,
                                .nbytes = bytes};
    }
    return n;
}

lc_status lc_deploy_export_peft(const lc_lora *lora, const lc_model *base, const char *base_name, const char *out_dir) {
    if (lora->n_layers != base->cfg.n_layers)
        return lc_errorf(LC_ERR_MISMATCH, "adapter has %d layers, the model %d", lora->n_layers, base->cfg.n_layers);
    lc_status st = lora->cfg.add_tokens[0] ? added_check(lora, base) : LC_OK;
    if (st) return st;
    size_t cap = (size_t)lora->n_layers * LC_T_COUNT * 3 + 4;
    lc_st_tensor *t = calloc(cap, sizeof *t);
    char (*names)[160] = calloc(cap, sizeof *names);
    json_t *cfg = peft_config(lora, base, base_name);
    char tmp[4096], path[4096];
    int have_tmp = 0;
    if (!t || !names || !cfg) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int n = 0;
    for (int l = 0; l < lora->n_layers; l++)
        for (int k = 0; k < LC_T_COUNT; k++) {
            const lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)k);
            if (!p->A) continue;
            for (int isB = 0; isB < 2; isB++, n++) {
                lc_lora_tensor_name(names[n], sizeof names[n], l, (lc_lora_target)k, isB);
                t[n].name = names[n];
                t[n].dtype = LC_ST_F32;
                t[n].ndim = 2;
                t[n].shape[0] = isB ? p->out : p->r;
                t[n].shape[1] = isB ? p->r : p->in;
                t[n].data = isB ? p->B : p->A;
                t[n].nbytes = (size_t)t[n].shape[0] * (size_t)t[n].shape[1] * sizeof(float);
            }
            if (!p->mag) continue;
            lc_lora_magnitude_name(names[n], sizeof names[n], l, (lc_lora_target)k); /* DoRA: (out) */
            t[n] = (lc_st_tensor){.name = names[n], .dtype = LC_ST_F32, .ndim = 1, .shape = {p->out}, .data = p->mag,
                                  .nbytes = (size_t)p->out * sizeof(float)};
            n++;
        }
    if (lora->tok.n) /* trainable tokens (n, C): PEFT's token_adapter.trainable_tokens_delta */
        t[n++] = (lc_st_tensor){.name = LC_TOKENS_TENSOR, .dtype = LC_ST_F32, .ndim = 2,
                                .shape = {lora->tok.n, lora->tok.C}, .data = lora->tok.delta,
                                .nbytes = (size_t)lora->tok.n * lora->tok.C * sizeof(float)};
    if (lora->cfg.add_tokens[0]) n += added_tensors(lora, base, t + n);
    if ((st = lc_fs_mkdir_parents(out_dir)) || (st = dp_tmpdir_create(out_dir, tmp, sizeof tmp))) goto fail;
    have_tmp = 1;
    if ((st = lc_path_join(path, sizeof path, tmp, "adapter_config.json")) || (st = dp_write_json(path, cfg))) goto fail;
    const char *keys[] = {"format"}, *vals[] = {"pt"};
    if ((st = lc_path_join(path, sizeof path, tmp, "adapter_model.safetensors")) ||
        (st = lc_safetensors_write(path, t, n, keys, vals, 1)))
        goto fail;
    if (lora->cfg.add_tokens[0] && ((st = dp_copy_tokenizer_files(base->source, tmp)) ||
                                    (st = dp_write_added_tokens(base, lora->cfg.add_tokens, tmp))))
        goto fail;
    have_tmp = 0;
    st = dp_tmpdir_commit(tmp, out_dir);
fail:
    if (have_tmp) dp_tmpdir_discard(tmp);
    json_decref(cfg);
    free(names);
    free(t);
    return st;
}

/* ---------------- import ---------------- */

/* A config key that must be absent, null, false, empty or equal to `ok`. */
static lc_status refuse_if_set(const char *path, json_t *root, const char *key, const char *what) {
    json_t *v = json_object_get(root, key);
    int set = v && !json_is_null(v) && !json_is_false(v) &&
              !((json_is_object(v) && json_object_size(v) == 0) || (json_is_array(v) && json_array_size(v) == 0));
    if (set) return lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"%s\" is set: %s is not supported by lorac", path, key, what);
    return LC_OK;
}

/* The scalar keys of adapter_config.json (peft_type, r, lora_alpha, dropout,
 * rslora, init, bias, use_dora) and the keys lorac refuses when set. */
static lc_status parse_scalars(const char *path, json_t *root, const lc_model *base, lc_lora_config *cfg) {
    lc_status st;
    json_t *v;
    v = json_object_get(root, "peft_type");
    if (v && (!json_is_string(v) || strcmp(json_string_value(v), "LORA")))
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: peft_type is %s, expected \"LORA\"", path,
                         json_is_string(v) ? json_string_value(v) : "not a string");
    v = json_object_get(root, "r");
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > 65536)
        return lc_errorf(LC_ERR_FORMAT, "%s: \"r\" must be a positive integer", path);
    cfg->r = (int)json_integer_value(v);
    v = json_object_get(root, "lora_alpha");
    if (v && !json_is_number(v))
        return lc_errorf(LC_ERR_FORMAT, "%s: \"lora_alpha\" must be a number", path);
    cfg->alpha = v ? (float)json_number_value(v) : 8.0f; /* PEFT's default */
    if (!isfinite(cfg->alpha) || !(cfg->alpha > 0) || cfg->alpha > 1e9f)
        return lc_errorf(LC_ERR_NUMERIC, "%s: \"lora_alpha\" is %g: expected a finite number in (0, 1e9]", path,
                         v ? json_number_value(v) : 8.0);
    v = json_object_get(root, "lora_dropout");
    cfg->dropout = json_is_number(v) ? (float)json_number_value(v) : 0.0f;
    v = json_object_get(root, "use_rslora");
    cfg->rslora = json_is_true(v);
    v = json_object_get(root, "init_lora_weights");
    cfg->init_gaussian = json_is_string(v) && !strcmp(json_string_value(v), "gaussian");
    v = json_object_get(root, "bias");
    if (v && !json_is_null(v) && (!json_is_string(v) || strcmp(json_string_value(v), "none")))
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"bias\" must be \"none\" (trained biases are not supported)", path);
    if (base->fam.layer != LC_LAYER_GPT2 && (st = refuse_if_set(path, root, "fan_in_fan_out", "fan_in_fan_out")))
        return st;
    v = json_object_get(root, "use_dora");
    cfg->use_dora = json_is_true(v);
    if ((st = refuse_if_set(path, root, "modules_to_save", "saving full modules")) ||
        (st = refuse_if_set(path, root, "layer_replication", "layer replication")) ||
        (st = refuse_if_set(path, root, "target_parameters", "targeting parameters")) ||
        (st = refuse_if_set(path, root, "use_qalora", "QA-LoRA")))
        return st;
    return LC_OK;
}

/* target_modules (a list of names or "all-linear") as a comma-separated spec. */
static lc_status parse_target_modules(const char *path, json_t *root, char *spec, size_t size) {
    json_t *v = json_object_get(root, "target_modules");
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "all-linear")) {
            return lc_errorf(LC_ERR_UNSUPPORTED, "%s: target_modules \"%s\" is a regular expression; lorac takes a list "
                             "of module names or \"all-linear\"", path, json_string_value(v));
        }
        snprintf(spec, size, "all-linear");
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            size_t n = strlen(spec);
            if (!json_is_string(e) || strchr(json_string_value(e), ','))
                return lc_errorf(LC_ERR_FORMAT, "%s: target_modules[%zu] is not a module name", path, i);
            snprintf(spec + n, size - n, "%s%s", n ? "," : "", json_string_value(e));
        }
    } else {
        return lc_errorf(LC_ERR_FORMAT, "%s: \"target_modules\" must be a list of module names or \"all-linear\"", path);
    }
    return LC_OK;
}

static lc_status parse_config(const char *path, const lc_model *base, lc_lora_config *cfg) {
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root && err.line < 0) return lc_errorf(LC_ERR_IO, "%s: cannot read (is this a PEFT adapter directory?)", path);
    if (!root) return lc_errorf(LC_ERR_FORMAT, "%s:%d: %s", path, err.line, err.text);
    lc_status st = LC_OK;
    char spec[1024] = "";
    *cfg = lc_lora_default_config();
    if (!json_is_object(root)) {
        st = lc_errorf(LC_ERR_FORMAT, "%s: expected a JSON object", path);
        goto done;
    }
    if ((st = parse_scalars(path, root, base, cfg)) || (st = parse_target_modules(path, root, spec, sizeof spec)))
        goto done;
    if ((st = lc_lora_targets_parse_arch(spec, base->cfg.arch, &cfg->targets))) {
        st = lc_error_wrap(st, "%s", path);
        goto done;
    }
    st = take_patterns(path, root, base->cfg.arch, cfg);
done:
    json_decref(root);
    return st;
}

/* Copy tensor `t` (expected shape rows x cols; cols 0: a vector of rows) into dst as fp32. */
static lc_status take_tensor(const char *path, const lc_st_tensor *t, int rows, int cols, float *dst) {
    if (!cols && (t->ndim != 1 || t->shape[0] != rows))
        return lc_errorf(LC_ERR_MISMATCH, "%s: tensor '%s' has %d dims (first %lld), expected a vector of %d (the "
                         "DoRA magnitude has one entry per output feature)", path, t->name, t->ndim,
                         (long long)(t->ndim > 0 ? t->shape[0] : 0), rows);
    if (cols && (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols))
        return lc_errorf(LC_ERR_MISMATCH, "%s: tensor '%s' has shape [%lld, %lld] (%d dims), expected [%d, %d]%s", path,
                         t->name, (long long)(t->ndim > 0 ? t->shape[0] : 0), (long long)(t->ndim > 1 ? t->shape[1] : 0),
                         t->ndim, rows, cols, " (r, in) for lora_A / (out, r) for lora_B: is r or the base right?");
    size_t n = (size_t)rows * (size_t)(cols ? cols : 1);
    const uint8_t *b = t->data;
    switch (t->dtype) {
    case LC_ST_F32: memcpy(dst, b, n * 4); break;
    case LC_ST_F16:
    case LC_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(b[2 * i] | b[2 * i + 1] << 8);
            dst[i] = t->dtype == LC_ST_F16 ? lc_f16_to_f32(h) : lc_bf16_to_f32(h);
        }
        break;
    default:
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", path, t->name,
                         lc_st_dtype_name(t->dtype));
    }
    if (!lc_all_finite(dst, n)) return lc_errorf(LC_ERR_NUMERIC, "%s: tensor '%s' holds NaN or inf", path, t->name);
    return LC_OK;
}

/* The tensor for (l, t, isB) under PEFT's saved name or with ".default". */
static const lc_st_tensor *find_lora_tensor(const lc_safetensors *st, int l, lc_lora_target t, int isB, char *name,
                                            size_t size) {
    lc_lora_tensor_name(name, size, l, t, isB);
    const lc_st_tensor *x = lc_safetensors_find(st, name);
    if (x) return x;
    char alt[256];
    const char *dot = strstr(name, isB ? ".lora_B." : ".lora_A.");
    if (!dot) return NULL;
    snprintf(alt, sizeof alt, "%.*s.lora_%c.default.weight", (int)(dot - name), name, isB ? 'B' : 'A');
    return lc_safetensors_find(st, alt);
}

/* The DoRA magnitude of (l, t): PEFT's saved name, or its in-memory
 * "...lora_magnitude_vector.default.weight". */
static const lc_st_tensor *find_magnitude(const lc_safetensors *st, int l, lc_lora_target t, char *name,
                                          size_t size) {
    lc_lora_magnitude_name(name, size, l, t);
    const lc_st_tensor *x = lc_safetensors_find(st, name);
    char alt[300];
    snprintf(alt, sizeof alt, "%s.default.weight", name);
    return x ? x : lc_safetensors_find(st, alt);
}

/* The trainable tokens' delta under PEFT's saved name or its in-memory ".default". */
static const lc_st_tensor *find_tokens(const lc_safetensors *st) {
    const lc_st_tensor *x = lc_safetensors_find(st, LC_TOKENS_TENSOR);
    return x ? x : lc_safetensors_find(st, LC_TOKENS_TENSOR ".default");
}

/* trainable_token_indices set: the delta (n, C) into lora; counts it in *found. */
static lc_status take_tokens(const char *wpath, const lc_safetensors *st, lc_lora *lora, int *found) {
    if (!lora->tok.n) return LC_OK;
    const lc_st_tensor *x = find_tokens(st);
    if (!x)
        return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s' is missing (adapter_config.json sets trainable_token_indices)",
                         wpath, LC_TOKENS_TENSOR);
    (*found)++;
    return take_tensor(wpath, x, lora->tok.n, lora->tok.C, lora->tok.delta);
}

/* PEFT's save of a resized vocabulary (added tokens) is not imported. */
static lc_status refuse_resized(const lc_safetensors *st, const char *wpath) {
    if (!lc_safetensors_find(st, PEFT_EMB_BASE)) return LC_OK;
    return lc_errorf(LC_ERR_UNSUPPORTED,
                     "%s: holds a resized embedding ('%s': tokens were added to the vocabulary); lorac does not "
                     "import such an adapter (merge it in PEFT, or train it with lorac's add_tokens)",
                     wpath, PEFT_EMB_BASE);
}

/* A config that failed to parse (status st): the resized-vocabulary refusal
 * when the weights say so (its new ids fail the vocabulary check), else st. */
static lc_status resized_or(lc_status st, const char *wpath) {
    struct stat sb;
    lc_safetensors w;
    memset(&w, 0, sizeof w);
    if (stat(wpath, &sb) != 0) return st; /* the config's message stands */
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", lc_error_msg());
    lc_status r = lc_safetensors_open(&w, wpath) ? LC_OK : refuse_resized(&w, wpath);
    lc_safetensors_close(&w);
    if (r) return r;
    return lc_errorf(st, "%s", msg);
}

lc_status lc_deploy_import_peft(const char *dir, const lc_model *base, lc_lora *lora) {
    memset(lora, 0, sizeof *lora);
    char cpath[4096], wpath[4096], name[256];
    lc_lora_config cfg;
    lc_safetensors st_file;
    memset(&st_file, 0, sizeof st_file);
    lc_status st;
    if ((st = lc_path_join(cpath, sizeof cpath, dir, "adapter_config.json")) ||
        (st = lc_path_join(wpath, sizeof wpath, dir, "adapter_model.safetensors")))
        return st;
    if ((st = parse_config(cpath, base, &cfg))) return resized_or(st, wpath); /* new ids >= V fail first */
    if ((st = lc_safetensors_open(&st_file, wpath))) return st;
    if ((st = refuse_resized(&st_file, wpath))) goto fail;
    lc_rng rng;
    lc_rng_seed(&rng, 0);
    if ((st = lc_lora_init(lora, base, &cfg, &rng))) goto fail;
    if (lora->cfg.targets != cfg.targets) {
        st = lc_errorf(LC_ERR_MISMATCH, "%s: target_modules name modules the model does not have", cpath);
        goto fail;
    }
    int found = 0;
    for (int l = 0; l < lora->n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A) continue;
            for (int isB = 0; isB < 2; isB++) {
                const lc_st_tensor *x = find_lora_tensor(&st_file, l, (lc_lora_target)t, isB, name, sizeof name);
                if (!x) {
                    st = lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s' is missing (target_modules lists %s)", wpath, name,
                                   lc_lora_target_name((lc_lora_target)t));
                    goto fail;
                }
                if ((st = take_tensor(wpath, x, isB ? p->out : p->r, isB ? p->r : p->in, isB ? p->B : p->A)))
                    goto fail;
                found++;
            }
            if (!p->mag) continue;
            const lc_st_tensor *x = find_magnitude(&st_file, l, (lc_lora_target)t, name, sizeof name);
            if (!x) {
                st = lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s' is missing (adapter_config.json has use_dora: true)",
                               wpath, name);
                goto fail;
            }
            if ((st = take_tensor(wpath, x, p->out, 0, p->mag))) goto fail;
            found++;
        }
    if ((st = take_tokens(wpath, &st_file, lora, &found))) goto fail;
    if (found != st_file.n_tensors) {
        /* name the first tensor that is not an expected LoRA tensor */
        for (int i = 0; i < st_file.n_tensors; i++) {
            const char *nm = st_file.tensors[i].name;
            int l = -1, ok = lora->tok.n && find_tokens(&st_file) == &st_file.tensors[i];
            if (sscanf(nm, "base_model.model.model.layers.%d.", &l) == 1 ||
                sscanf(nm, "base_model.model.transformer.h.%d.", &l) == 1)
                for (int t = 0; t < LC_T_COUNT && !ok; t++)
                    for (int isB = 0; isB < 2 && !ok && l >= 0 && l < lora->n_layers; isB++)
                        ok = lc_lora_get(lora, l, (lc_lora_target)t)->A &&
                             (find_lora_tensor(&st_file, l, (lc_lora_target)t, isB, name, sizeof name) ==
                                  &st_file.tensors[i] ||
                              (lc_lora_get(lora, l, (lc_lora_target)t)->mag &&
                               find_magnitude(&st_file, l, (lc_lora_target)t, name, sizeof name) == &st_file.tensors[i]));
            if (!ok) {
                st = lc_errorf(LC_ERR_UNSUPPORTED, "%s: unexpected tensor '%s' (not a lora_A/lora_B%s of the %d layers and "
                               "target_modules of adapter_config.json)", wpath, nm,
                               lora->cfg.use_dora ? "/lora_magnitude_vector" : "", lora->n_layers);
                goto fail;
            }
        }
        st = lc_errorf(LC_ERR_FORMAT, "%s: %d tensors, expected %d", wpath, st_file.n_tensors, found);
    }
fail:
    if (st) lc_lora_free(lora);
    lc_safetensors_close(&st_file);
    return st;
}
