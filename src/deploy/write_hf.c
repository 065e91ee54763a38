/*
 * write_hf.c — a (merged) lc_model as a Hugging Face model directory:
 * config.json, model.safetensors (F32 / F16 / BF16, HF tensor names) and the
 * tokenizer files, built in a temporary directory and renamed into place.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deploy_internal.h"
#include "lc_path.h"
#include "lc_safetensors.h"
#include "lc_tokens.h"

static const char *torch_dtype(lc_dtype t) {
    return t == LC_DT_F16 ? "float16" : t == LC_DT_BF16 ? "bfloat16" : "float32";
}

/* Gemma 3's keys (hf_gemma3.c reads them back): activation, score scale,
 * window and layer types, and rope_parameters per layer type (the global
 * RoPE with its scaling, the unscaled local one); the older spellings of the
 * same values are removed so that only one is there. */
static void gemma3_config(json_t *root, const lc_model *m, json_t *global_rope) {
    const lc_model_config *c = &m->cfg;
    json_object_set_new(root, "hidden_activation", json_string("gelu_pytorch_tanh"));
    float qp = c->query_pre_attn_scalar; /* an int in transformers' (strictly typed) Gemma3TextConfig */
    json_object_set_new(root, "query_pre_attn_scalar",
                        qp == (float)(long long)qp ? json_integer((long long)qp) : json_real(dp_float_short(qp)));
    json_object_set_new(root, "sliding_window", json_integer(c->sliding_window));
    json_t *lt = json_array();
    for (int l = 0; l < c->n_layers; l++)
        json_array_append_new(lt, json_string(lc_model_layer_window(m, l) ? "sliding_attention" : "full_attention"));
    json_object_set_new(root, "layer_types", lt);
    json_object_set_new(root, "final_logit_softcapping", json_null());
    json_object_set_new(root, "attn_logit_softcapping", json_null());
    json_t *g = global_rope ? global_rope : json_object(), *loc = json_object(), *rp = json_object();
    if (!global_rope) json_object_set_new(g, "rope_type", json_string("default"));
    json_object_set_new(g, "rope_theta", json_real(dp_float_short(c->rope_theta)));
    json_object_set_new(loc, "rope_type", json_string("default"));
    json_object_set_new(loc, "rope_theta", json_real(dp_float_short(c->rope_local_theta)));
    json_object_set_new(rp, "full_attention", g);
    json_object_set_new(rp, "sliding_attention", loc);
    json_object_set_new(root, "rope_parameters", rp);
    static const char *const old[] = {"rope_scaling", "rope_theta", "rope_local_base_freq", "sliding_window_pattern",
                                      "hidden_act", "mlp_bias"};
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++) json_object_del(root, old[i]);
}

/* transformers >= 4.56 writes "dtype", older "torch_dtype": update what is there. */
static void set_dtype(json_t *root, lc_dtype dtype) {
    int has_dtype = json_object_get(root, "dtype") != NULL;
    if (has_dtype) json_object_set_new(root, "dtype", json_string(torch_dtype(dtype)));
    if (!has_dtype || json_object_get(root, "torch_dtype"))
        json_object_set_new(root, "torch_dtype", json_string(torch_dtype(dtype)));
}

/* config.json: the base's (when given) with every value lorac knows replaced
 * by the model's, or a fresh one. */
static lc_status build_config(json_t **out, const lc_model *m, const char *base_dir, lc_dtype dtype) {
    const lc_model_config *c = &m->cfg;
    json_t *root = NULL;
    char path[4096];
    if (base_dir) {
        json_error_t err;
        lc_status st = lc_path_join(path, sizeof path, base_dir, "config.json");
        if (st) return st;
        root = json_load_file(path, 0, &err);
        if (!root || !json_is_object(root)) {
            json_decref(root);
            return lc_errorf(LC_ERR_FORMAT, "%s:%d: %s", path, err.line, root ? "not a JSON object" : err.text);
        }
    } else if (!(root = json_object())) {
        return lc_errorf(LC_ERR_NOMEM, "out of memory for config.json");
    }
    if (m->fam.layer == LC_LAYER_GPT2) { /* GPT2Config's own key names (write_hf_gpt2.c) */
        dp_hf_gpt2_config(root, m);
        set_dtype(root, dtype);
        *out = root;
        return LC_OK;
    }
    json_t *arch = json_array();
    json_array_append_new(arch, json_string(lc_arch_name(c->arch)));
    json_object_set_new(root, "architectures", arch);
    json_object_set_new(root, "model_type", json_string(m->fam.model_type));
    json_object_set_new(root, "hidden_size", json_integer(c->hidden_size));
    json_object_set_new(root, "intermediate_size", json_integer(c->intermediate_size));
    json_object_set_new(root, "num_hidden_layers", json_integer(c->n_layers));
    json_object_set_new(root, "num_attention_heads", json_integer(c->n_heads));
    json_object_set_new(root, "num_key_value_heads", json_integer(c->n_kv_heads));
    json_object_set_new(root, "head_dim", json_integer(c->head_dim));
    json_object_set_new(root, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(root, "max_position_embeddings", json_integer(c->max_position));
    json_object_set_new(root, "rms_norm_eps", json_real(dp_float_short(c->rms_eps)));
    json_object_set_new(root, "rope_theta", json_real(dp_float_short(c->rope_theta)));
    json_t *rp = json_object_get(root, "rope_parameters");
    if (json_is_object(rp)) json_object_set_new(rp, "rope_theta", json_real(dp_float_short(c->rope_theta)));
    const lc_rope_scaling *rs = &m->fam.rope; /* a base's config keeps its own rope_scaling */
    int gemma = c->arch == LC_ARCH_GEMMA3;
    if (rs->type != LC_ROPE_NONE &&
        (gemma || (!json_object_get(root, "rope_scaling") &&
                   !json_is_string(json_object_get(json_object_get(root, "rope_parameters"), "rope_type"))))) {
        json_t *o = json_object();
        json_object_set_new(o, "rope_type", json_string(lc_rope_scaling_name(rs->type)));
        json_object_set_new(o, "factor", json_real(dp_float_short(rs->factor)));
        if (rs->type == LC_ROPE_YARN) {
            json_object_set_new(o, "original_max_position_embeddings", json_integer(rs->original_max_position));
            json_object_set_new(o, "beta_fast", json_real(dp_float_short(rs->beta_fast)));
            json_object_set_new(o, "beta_slow", json_real(dp_float_short(rs->beta_slow)));
            json_object_set_new(o, "truncate", json_boolean(rs->truncate));
            json_object_set_new(o, "attention_factor", json_real(dp_float_short(rs->attn_factor)));
        }
        if (rs->type == LC_ROPE_LLAMA3) {
            json_object_set_new(o, "low_freq_factor", json_real(dp_float_short(rs->low_freq_factor)));
            json_object_set_new(o, "high_freq_factor", json_real(dp_float_short(rs->high_freq_factor)));
            json_object_set_new(o, "original_max_position_embeddings", json_integer(rs->original_max_position));
        }
        if (gemma) gemma3_config(root, m, o);
        else json_object_set_new(root, "rope_scaling", o);
    } else if (gemma) {
        gemma3_config(root, m, NULL);
    }
    if (!gemma) json_object_set_new(root, "hidden_act", json_string("silu"));
    json_object_set_new(root, "tie_word_embeddings", json_boolean(c->tie_embeddings));
    if (c->arch != LC_ARCH_QWEN2) { /* Qwen2 always has q/k/v biases and no such key */
        json_object_set_new(root, "attention_bias", json_boolean(c->attn_bias));
        if (!gemma) json_object_set_new(root, "mlp_bias", json_false());
    }
    json_object_set_new(root, "bos_token_id", c->bos_id >= 0 ? json_integer(c->bos_id) : json_null());
    json_object_set_new(root, "eos_token_id", c->eos_id >= 0 ? json_integer(c->eos_id) : json_null());
    set_dtype(root, dtype);
    *out = root;
    return LC_OK;
}

static int collect(hf_entry *e, const lc_model *m) {
    if (m->fam.layer == LC_LAYER_GPT2) return dp_hf_gpt2_collect(e, m);
    int k = 0;
#define MAT(w_, ...) (snprintf(e[k].name, sizeof e[k].name, __VA_ARGS__), e[k].w = (w_), e[k].vec = NULL, k++)
#define VEC(v_, n_, ...) (snprintf(e[k].name, sizeof e[k].name, __VA_ARGS__), e[k].w = NULL, e[k].vec = (v_), e[k].n = (n_), k++)
/* a norm weight: lorac holds the applied multiplier, HF (1 + w) families store w */
#define NORM(v_, n_, ...) (VEC(v_, n_, __VA_ARGS__), e[k - 1].shift = m->fam.norm_plus_one ? -1.0f : 0.0f)
    const lc_model_config *c = &m->cfg;
    const int C = c->hidden_size, qr = c->n_heads * c->head_dim, kvr = c->n_kv_heads * c->head_dim;
    MAT(&m->tok_emb, "model.embed_tokens.weight");
    for (int l = 0; l < c->n_layers; l++) {
        const lc_layer *L = &m->layers[l];
        NORM(L->attn_norm, C, "model.layers.%d.input_layernorm.weight", l);
        MAT(&L->wq, "model.layers.%d.self_attn.q_proj.weight", l);
        MAT(&L->wk, "model.layers.%d.self_attn.k_proj.weight", l);
        MAT(&L->wv, "model.layers.%d.self_attn.v_proj.weight", l);
        if (c->attn_bias) {
            VEC(L->bq, qr, "model.layers.%d.self_attn.q_proj.bias", l);
            VEC(L->bk, kvr, "model.layers.%d.self_attn.k_proj.bias", l);
            VEC(L->bv, kvr, "model.layers.%d.self_attn.v_proj.bias", l);
        }
        if (L->q_norm) { /* q/k-norm families (Qwen3) */
            NORM(L->q_norm, c->head_dim, "model.layers.%d.self_attn.q_norm.weight", l);
            NORM(L->k_norm, c->head_dim, "model.layers.%d.self_attn.k_norm.weight", l);
        }
        MAT(&L->wo, "model.layers.%d.self_attn.o_proj.weight", l);
        if (L->post_attn_norm) { /* sandwich norms (Gemma 3) */
            NORM(L->post_attn_norm, C, "model.layers.%d.post_attention_layernorm.weight", l);
            NORM(L->mlp_norm, C, "model.layers.%d.pre_feedforward_layernorm.weight", l);
            NORM(L->post_mlp_norm, C, "model.layers.%d.post_feedforward_layernorm.weight", l);
        } else {
            NORM(L->mlp_norm, C, "model.layers.%d.post_attention_layernorm.weight", l);
        }
        MAT(&L->w_gate, "model.layers.%d.mlp.gate_proj.weight", l);
        MAT(&L->w_up, "model.layers.%d.mlp.up_proj.weight", l);
        MAT(&L->w_down, "model.layers.%d.mlp.down_proj.weight", l);
    }
    NORM(m->final_norm, C, "model.norm.weight");
    if (!c->tie_embeddings) MAT(&m->lm_head, "lm_head.weight");
#undef MAT
#undef VEC
#undef NORM
    return k;
}

/* fp32 (n) + shift -> dtype into a new buffer. */
static void *convert(const float *x, size_t n, lc_dtype dtype, float shift) {
    size_t es = dtype == LC_DT_F32 ? 4 : 2;
    void *out = lc_alloc(n * es);
    float *tmp = shift != 0.0f ? lc_alloc(n * sizeof(float)) : NULL;
    if (!out || (shift != 0.0f && !tmp)) {
        lc_free(out);
        lc_free(tmp);
        return NULL;
    }
    if (tmp) {
        for (size_t i = 0; i < n; i++) tmp[i] = x[i] + shift;
        x = tmp;
    }
    if (dtype == LC_DT_F32) memcpy(out, x, n * 4);
    else lc_quantize(dtype, x, out, (int64_t)n);
    lc_free(tmp);
    return out;
}

/* The bytes to write for matrix entry e in dtype: the model's own data when
 * it is already fp32, untransposed and written as fp32; else a converted
 * (and, for a Conv1D, transposed to (in, out)) copy returned in *buf too. */
static lc_status matrix_data(const hf_entry *e, lc_dtype dtype, const void **data, void **buf) {
    const lc_weight *w = e->w;
    size_t count = (size_t)w->rows * (size_t)w->cols;
    if (w->type == LC_DT_F32 && dtype == LC_DT_F32 && !e->transpose) {
        *data = w->data; /* written straight from the model */
        return LC_OK;
    }
    const float *f;
    float *tmp, *tr = NULL;
    lc_status st = dp_weight_f32(w, e->name, &f, &tmp);
    if (st) return st;
    if (e->transpose) { /* (rows, cols) -> (cols, rows) */
        if (!(tr = lc_alloc(count * sizeof(float)))) {
            lc_free(tmp);
            return lc_errorf(LC_ERR_NOMEM, "out of memory transposing %s", e->name);
        }
        for (size_t r = 0; r < (size_t)w->rows; r++)
            for (size_t c = 0; c < (size_t)w->cols; c++) tr[c * w->rows + r] = f[r * w->cols + c];
        lc_free(tmp);
        f = tmp = tr;
    }
    if (dtype == LC_DT_F32) *buf = tmp, tmp = NULL;
    else *buf = convert(f, count, dtype, 0.0f);
    lc_free(tmp);
    if (!*buf) return lc_errorf(LC_ERR_NOMEM, "out of memory converting %s", e->name);
    *data = *buf;
    return LC_OK;
}

static lc_status write_weights(const lc_model *m, lc_dtype dtype, const char *path) {
    const int L = m->cfg.n_layers;
    const int cap = 3 + L * 14;
    hf_entry *e = calloc((size_t)cap, sizeof *e);
    lc_st_tensor *t = calloc((size_t)cap, sizeof *t);
    void **bufs = calloc((size_t)cap, sizeof *bufs);
    lc_status st = LC_OK;
    if (!e || !t || !bufs) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int n = collect(e, m);
    LC_ASSERT(n <= cap);
    const lc_st_dtype sdt = dtype == LC_DT_F16 ? LC_ST_F16 : dtype == LC_DT_BF16 ? LC_ST_BF16 : LC_ST_F32;
    const size_t es = dtype == LC_DT_F32 ? 4 : 2;
    for (int i = 0; i < n; i++) {
        if ((st = lc_interrupt_check("converting the merged weights"))) goto fail;
        t[i].name = e[i].name;
        t[i].dtype = sdt;
        t[i].ndim = e[i].w ? 2 : 1;
        size_t count;
        if (e[i].w) {
            const lc_weight *w = e[i].w;
            t[i].shape[0] = e[i].transpose ? w->cols : w->rows;
            t[i].shape[1] = e[i].transpose ? w->rows : w->cols;
            count = (size_t)w->rows * (size_t)w->cols;
            if ((st = matrix_data(&e[i], dtype, &t[i].data, &bufs[i]))) goto fail;
        } else {
            t[i].shape[0] = e[i].n;
            count = (size_t)e[i].n;
            if (dtype == LC_DT_F32 && e[i].shift == 0.0f) {
                t[i].data = e[i].vec;
            } else {
                if (!(bufs[i] = convert(e[i].vec, count, dtype, e[i].shift))) {
                    st = lc_errorf(LC_ERR_NOMEM, "out of memory converting %s", e[i].name);
                    goto fail;
                }
                t[i].data = bufs[i];
            }
        }
        t[i].nbytes = count * es;
    }
    const char *keys[] = {"format"}, *vals[] = {"pt"};
    st = lc_safetensors_write(path, t, n, keys, vals, 1);
fail:
    for (int i = 0; bufs && i < cap; i++) lc_free(bufs[i]);
    free(bufs);
    free(t);
    free(e);
    return st;
}

static const char *TOKENIZER_FILES[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "generation_config.json", "tokenizer.model", "vocab.json",
                                        "merges.txt"};

/* One HF AddedToken as save_pretrained writes a special one. */
static json_t *added_entry(int id, const char *content) {
    return json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", id, "content", content, "single_word", 0, "lstrip", 0,
                     "rstrip", 0, "normalized", 0, "special", 1);
}

/* file (a JSON object) with the n strings of add_tokens appended, ids first..:
 * tokenizer.json's "added_tokens" list, or tokenizer_config.json's
 * "added_tokens_decoder" mapping (is_config). A missing file: nothing. */
static lc_status patch_added(const char *file, int is_config, char **strs, int n, int first) {
    struct stat sb;
    if (stat(file, &sb) != 0)
        return is_config ? LC_OK
                         : lc_errorf(LC_ERR_UNSUPPORTED,
                                     "%s: no tokenizer.json to add "
                                     "the adapter's add_tokens to",
                                     file);
    json_error_t err;
    json_t *root = json_load_file(file, 0, &err);
    if (!root || !json_is_object(root))
        return json_decref(root),
               lc_errorf(LC_ERR_FORMAT, "%s:%d: %s", file, err.line, root ? "not a JSON object" : err.text);
    json_t *list = json_object_get(root, is_config ? "added_tokens_decoder" : "added_tokens");
    if (!list) {
        list = is_config ? json_object() : json_array();
        json_object_set_new(root, is_config ? "added_tokens_decoder" : "added_tokens", list);
    }
    for (int i = 0; i < n; i++) {
        json_t *e = added_entry(first + i, strs[i]);
        if (is_config) {
            char key[16];
            snprintf(key, sizeof key, "%d", first + i);
            json_object_del(e, "id");
            json_object_set_new(list, key, e);
        } else {
            json_array_append_new(list, e);
        }
    }
    lc_status st = dp_write_json(file, root);
    json_decref(root);
    return st;
}

/* The adapter's added tokens into the copied tokenizer files of tmp. */
lc_status dp_write_added_tokens(const lc_model *m, const char *add_tokens, const char *tmp) {
    char **strs = NULL, path[4096];
    int n = 0;
    lc_status st = lc_tokens_parse_added(add_tokens, &strs, &n);
    if (!st && n && !(st = lc_path_join(path, sizeof path, tmp, "tokenizer.json")))
        st = patch_added(path, 0, strs, n, m->cfg.vocab_size - n);
    if (!st && n && !(st = lc_path_join(path, sizeof path, tmp, "tokenizer_config.json")))
        st = patch_added(path, 1, strs, n, m->cfg.vocab_size - n);
    lc_tokens_strs_free(strs, n);
    return st;
}

lc_status dp_copy_tokenizer_files(const char *src_dir, const char *dst_dir) {
    char src[4096], path[4096];
    struct stat sb;
    lc_status st = LC_OK;
    for (size_t i = 0; i < sizeof TOKENIZER_FILES / sizeof TOKENIZER_FILES[0] && !st; i++) {
        if ((st = lc_path_join(src, sizeof src, src_dir, TOKENIZER_FILES[i]))) break;
        if (stat(src, &sb) != 0) continue;
        if (!(st = lc_path_join(path, sizeof path, dst_dir, TOKENIZER_FILES[i]))) st = dp_copy_file(src, path);
    }
    return st;
}

lc_status lc_deploy_write_hf(const lc_model *m, const char *base_dir, const char *tokenizer_json,
                             const char *add_tokens, lc_dtype dtype, const char *out_dir) {
    if (m->rope_freqs && !base_dir)
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: the GGUF base scales RoPE by rope_freqs.weight, which an HF "
                         "config.json cannot state exactly: write a .gguf instead", out_dir);
    if (dtype != LC_DT_F32 && dtype != LC_DT_F16 && dtype != LC_DT_BF16)
        return lc_errorf(LC_ERR_ARG, "%s: HF output dtype must be f32, f16 or bf16 (got %s)", out_dir,
                         lc_dtype_name(dtype));
    if (!base_dir && !tokenizer_json)
        return lc_errorf(LC_ERR_ARG, "%s: no tokenizer to copy (give the base HF directory or a tokenizer.json)",
                         out_dir);
    struct stat sb;
    if (tokenizer_json && stat(tokenizer_json, &sb) != 0)
        return lc_errorf(LC_ERR_IO, "tokenizer '%s' not found", tokenizer_json);
    json_t *cfg = NULL;
    lc_status st = build_config(&cfg, m, base_dir, dtype);
    if (st) return st;
    char tmp[4096], path[4096], src[4096];
    if ((st = dp_tmpdir_create(out_dir, tmp, sizeof tmp))) {
        json_decref(cfg);
        return st;
    }
    if (!(st = lc_path_join(path, sizeof path, tmp, "config.json"))) st = dp_write_json(path, cfg);
    if (!st && !(st = lc_path_join(path, sizeof path, tmp, "model.safetensors"))) st = write_weights(m, dtype, path);
    if (!st) st = lc_interrupt_check("writing the merged model"); /* nothing is committed after a signal */
    if (!st && base_dir) {
        st = dp_copy_tokenizer_files(base_dir, tmp);
    } else if (!st) {
        if (S_ISDIR(sb.st_mode)) {
            if (!(st = lc_path_join(src, sizeof src, tokenizer_json, "tokenizer.json")))
                tokenizer_json = src;
        }
        if (!st && !(st = lc_path_join(path, sizeof path, tmp, "tokenizer.json"))) st = dp_copy_file(tokenizer_json, path);
    }
    if (!st && add_tokens && add_tokens[0]) st = dp_write_added_tokens(m, add_tokens, tmp);
    json_decref(cfg);
    if (st) {
        dp_tmpdir_discard(tmp);
        return lc_error_wrap(st, "writing %s", out_dir);
    }
    return dp_tmpdir_commit(tmp, out_dir);
}
