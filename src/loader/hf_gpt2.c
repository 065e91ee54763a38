/*
 * hf_gpt2.c — a Hugging Face GPT-2 directory (GPT2LMHeadModel) into an
 * lc_model: its config.json keys, and its weights.
 *
 * GPT-2 stores its linear layers as Conv1D with weight (in, out), y = x W + b;
 * lc_weight is (out, in), so those are transposed while converting to fp32.
 * Tensor names (HF saves them with or without the "transformer." prefix):
 *   wte.weight (V, C)  wpe.weight (P, C)  ln_f.{weight,bias} (C)
 *   h.N.ln_1.{weight,bias} (C)            h.N.ln_2.{weight,bias} (C)
 *   h.N.attn.c_attn.weight (C, 3C) .bias (3C)
 *   h.N.attn.c_proj.weight (C, C)  .bias (C)
 *   h.N.mlp.c_fc.weight    (C, F)  .bias (F)
 *   h.N.mlp.c_proj.weight  (F, C)  .bias (C)
 * Ignored: h.N.attn.bias / h.N.attn.masked_bias (old causal-mask buffers)
 * and lm_head.weight (tied to wte).
 */
#include "hf_gpt2.h"
#include "hf_keys.h"
#include "lc_path.h"

#include "lc_quant.h"
#include "lc_safetensors.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ config */

lc_status lc_hf_gpt2_config(const char *path, json_t *root, lc_model_config *c) {
    lc_status st;
    memset(c, 0, sizeof *c);
    c->arch = LC_ARCH_GPT2;
    if ((st = hf_key_pos_int(path, root, "vocab_size", -1, &c->vocab_size)) ||
        (st = hf_key_pos_int(path, root, "n_embd", -1, &c->hidden_size)) ||
        (st = hf_key_pos_int(path, root, "n_layer", -1, &c->n_layers)) ||
        (st = hf_key_pos_int(path, root, "n_head", -1, &c->n_heads)) ||
        (st = hf_key_pos_int(path, root, "n_positions", -1, &c->max_position)))
        return st;
    if (c->hidden_size % c->n_heads)
        return lc_errorf(LC_ERR_CONFIG, "%s: n_embd %d is not a multiple of n_head %d", path, c->hidden_size,
                         c->n_heads);
    if ((st = hf_key_pos_int(path, root, "n_inner", 4 * c->hidden_size, &c->intermediate_size))) return st;
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->hidden_size / c->n_heads;
    c->tie_embeddings = 1;
    c->rope_theta = 10000.0f; /* unused by GPT-2 */
    c->rms_eps = 1e-5f;       /* unused by GPT-2 */
    if ((st = hf_key_pos_float(path, root, "layer_norm_epsilon", 1e-5, &c->layer_norm_eps))) return st;
    json_t *v = json_object_get(root, "activation_function");
    if (v && !json_is_null(v)) {
        const char *a = json_string_value(v);
        if (!a || (strcmp(a, "gelu_new") && strcmp(a, "gelu_pytorch_tanh")))
            return lc_errorf(LC_ERR_UNSUPPORTED,
                             "%s: \"activation_function\" is %s%s%s; only \"gelu_new\" and \"gelu_pytorch_tanh\" "
                             "(GELU, tanh approximation) are supported",
                             path, a ? "\"" : "", a ? a : "not a string", a ? "\"" : "");
    }
    /* attention variants lorac does not compute */
    const char *flags[] = {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention"};
    for (int i = 0; i < 3; i++) {
        v = json_object_get(root, flags[i]);
        if (json_is_true(v))
            return lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"%s\": true is not supported", path, flags[i]);
    }
    v = json_object_get(root, "scale_attn_weights");
    if (json_is_false(v))
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"scale_attn_weights\": false is not supported", path);
    v = json_object_get(root, "tie_word_embeddings");
    if (json_is_false(v))
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: \"tie_word_embeddings\": false is not supported for GPT-2", path);
    if ((st = hf_key_token_id(path, root, "bos_token_id", &c->bos_id)) ||
        (st = hf_key_token_id(path, root, "eos_token_id", &c->eos_id)))
        return st;
    if ((st = lc_model_config_validate(c))) return lc_error_wrap(st, "%s", path);
    return LC_OK;
}

/* ----------------------------------------------------------------- weights */

typedef struct {
    const char *dir;
    lc_safetensors *files;
    int n_files;
    const char *prefix;      /* "transformer." or "" */
    unsigned char **used;    /* per file, per tensor: consumed (to spot extras) */
} g2_load;

/* Find a tensor by short name (prefix added) in any of the files. */
static const lc_st_tensor *find(const g2_load *ld, const char *name, int *file) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", ld->prefix, name);
    for (int f = 0; f < ld->n_files; f++) {
        const lc_st_tensor *t = lc_safetensors_find(&ld->files[f], full);
        if (t) {
            if (file) *file = f;
            return t;
        }
    }
    return NULL;
}

static void shape_str(char *buf, size_t cap, const lc_st_tensor *t) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < t->ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* Tensor `name` of shape (d0) or (d0, d1) (d1 == 0: a vector) as fp32 into
 * owned memory; transposed (stored (d0, d1), returned (d1, d0)) if transpose. */
static lc_status fetch(lc_model *m, g2_load *ld, const char *name, int d0, int d1, int transpose, float **out) {
    int f = 0;
    char want[64], got[128];
    if (d1) snprintf(want, sizeof want, "[%d, %d]", d0, d1);
    else snprintf(want, sizeof want, "[%d]", d0);
    const lc_st_tensor *t = find(ld, name, &f);
    if (!t)
        return lc_errorf(LC_ERR_FORMAT, "%s: missing tensor '%s%s' (expected shape %s)", ld->dir, ld->prefix, name,
                         want);
    int ok = (t->dtype == LC_ST_F32 || t->dtype == LC_ST_F16 || t->dtype == LC_ST_BF16) &&
             t->ndim == (d1 ? 2 : 1) && t->shape[0] == d0 && (!d1 || t->shape[1] == d1);
    if (!ok) {
        shape_str(got, sizeof got, t);
        return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': expected shape %s as F32/F16/BF16, found %s %s",
                         ld->files[f].path, t->name, want, got, lc_st_dtype_name(t->dtype));
    }
    ld->used[f][t - ld->files[f].tensors] = 1;
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    float *p = lc_alloc(n * sizeof(float));
    if (!p || lc_model_own(m, p, n * sizeof(float), 0)) {
        lc_free(p);
        return lc_errorf(LC_ERR_NOMEM, "out of memory for tensor '%s'", t->name);
    }
    if (transpose) {
#pragma omp parallel for schedule(static) if (n > ((size_t)1 << 16))
        for (int j = 0; j < d1; j++) /* p (d1, d0) */
            for (int i = 0; i < d0; i++) p[(size_t)j * d0 + i] = lc_safetensors_elem_f32(t, (size_t)i * d1 + j);
    } else {
#pragma omp parallel for schedule(static) if (n > ((size_t)1 << 16))
        for (size_t i = 0; i < n; i++) p[i] = lc_safetensors_elem_f32(t, i);
    }
    *out = p;
    return LC_OK;
}

/* A Conv1D weight (in, out) into w as (out, in). */
static lc_status fetch_conv(lc_model *m, g2_load *ld, const char *name, int in, int outf, lc_weight *w) {
    float *p;
    lc_status st = fetch(m, ld, name, in, outf, 1, &p);
    if (st) return st;
    *w = (lc_weight){LC_DT_F32, outf, in, p};
    return LC_OK;
}

static lc_status fetch_emb(lc_model *m, g2_load *ld, const char *name, int rows, int cols, lc_weight *w) {
    float *p;
    lc_status st = fetch(m, ld, name, rows, cols, 0, &p);
    if (st) return st;
    *w = (lc_weight){LC_DT_F32, rows, cols, p};
    return LC_OK;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Every tensor must have been used, or be a known harmless leftover. */
static lc_status check_extras(const g2_load *ld, const lc_model_config *c) {
    for (int f = 0; f < ld->n_files; f++)
        for (int i = 0; i < ld->files[f].n_tensors; i++) {
            const lc_st_tensor *t = &ld->files[f].tensors[i];
            if (ld->used[f][i]) continue;
            if (ends_with(t->name, ".attn.bias") || ends_with(t->name, ".attn.masked_bias")) continue;
            if (!strcmp(t->name, "lm_head.weight") && t->ndim == 2 && t->shape[0] == c->vocab_size &&
                t->shape[1] == c->hidden_size)
                continue; /* a saved copy of the tied head */
            char got[128];
            shape_str(got, sizeof got, t);
            return lc_errorf(LC_ERR_FORMAT,
                             "%s: unexpected tensor '%s' (%s %s) for this GPT-2 config (or a duplicate of one "
                             "in another shard)",
                             ld->files[f].path, t->name, got, lc_st_dtype_name(t->dtype));
        }
    return LC_OK;
}

/* Used-flags for file f once it is open. */
static lc_status add_used(g2_load *ld, int f) {
    ld->used[f] = calloc((size_t)ld->files[f].n_tensors + 1, 1);
    return ld->used[f] ? LC_OK : lc_errorf(LC_ERR_NOMEM, "out of memory");
}

static lc_status open_files(g2_load *ld, json_t **index) {
    char path[2048];
    lc_status rc = lc_path_join(path, sizeof path, ld->dir, "model.safetensors");
    if (rc) return rc;
    FILE *fp = fopen(path, "rb");
    if (fp) {
        fclose(fp);
        ld->files = calloc(1, sizeof *ld->files);
        ld->used = calloc(1, sizeof *ld->used);
        if (!ld->files || !ld->used) return lc_errorf(LC_ERR_NOMEM, "out of memory");
        ld->n_files = 1;
        lc_status st = lc_safetensors_open(&ld->files[0], path);
        return st ? st : add_used(ld, 0);
    }
    if ((rc = lc_path_join(path, sizeof path, ld->dir, "model.safetensors.index.json"))) return rc;
    json_error_t jerr;
    if (!(*index = json_load_file(path, 0, &jerr)))
        return lc_errorf(LC_ERR_IO, "%s: neither model.safetensors nor a readable model.safetensors.index.json (%s)",
                         ld->dir, jerr.text);
    json_t *wm = json_object_get(*index, "weight_map");
    if (!json_is_object(wm) || !json_object_size(wm))
        return lc_errorf(LC_ERR_FORMAT, "%s: \"weight_map\" is missing or not a non-empty object", path);
    size_t n = json_object_size(wm);
    const char **names = calloc(n, sizeof *names);
    ld->files = calloc(n, sizeof *ld->files);
    ld->used = calloc(n, sizeof *ld->used);
    if (!names || !ld->files || !ld->used) {
        free(names);
        return lc_errorf(LC_ERR_NOMEM, "out of memory");
    }
    lc_status st = LC_OK;
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v) {
        const char *fn = json_string_value(v);
        if (!fn || !fn[0] || fn[0] == '/' || strstr(fn, "..")) {
            st = lc_errorf(LC_ERR_FORMAT, "%s: weight_map[\"%s\"] is not a plain file name", path, k);
            break;
        }
        int seen = 0;
        for (int i = 0; i < ld->n_files && !seen; i++) seen = !strcmp(names[i], fn);
        if (seen) continue;
        char fp2[2048];
        if ((st = lc_path_join(fp2, sizeof fp2, ld->dir, fn))) break;
        names[ld->n_files] = fn;
        if ((st = lc_safetensors_open(&ld->files[ld->n_files++], fp2)) || (st = add_used(ld, ld->n_files - 1)))
            break;
    }
    free(names);
    return st;
}

/* Digest of config and every GPT-2 tensor, in a fixed order (see lc_loader.h). */
static void gpt2_identity(const lc_model *m, char hex[65]) {
    const lc_model_config *c = &m->cfg;
    lc_digest d;
    lc_digest_init(&d);
    char tag[256];
    int n = snprintf(tag, sizeof tag, "lorac-identity-gpt2-v1 V=%d C=%d F=%d L=%d H=%d P=%d eps=%a",
                     c->vocab_size, c->hidden_size, c->intermediate_size, c->n_layers, c->n_heads,
                     c->max_position, (double)c->layer_norm_eps);
    lc_digest_update(&d, tag, (size_t)n);
    size_t C = c->hidden_size, F = c->intermediate_size;
#define DIG(p, cnt) lc_digest_update(&d, (p), (cnt) * sizeof(float))
    DIG(m->tok_emb.data, (size_t)c->vocab_size * C);
    DIG(m->pos_emb.data, (size_t)c->max_position * C);
    for (int l = 0; l < c->n_layers; l++) {
        const lc_layer *w = &m->layers[l];
        DIG(w->attn_norm, C), DIG(w->attn_norm_b, C), DIG(w->wqkv.data, 3 * C * C), DIG(w->bqkv, 3 * C);
        DIG(w->wo.data, C * C), DIG(w->bo, C), DIG(w->mlp_norm, C), DIG(w->mlp_norm_b, C);
        DIG(w->w_up.data, F * C), DIG(w->b_up, F), DIG(w->w_down.data, C * F), DIG(w->b_down, C);
    }
    DIG(m->final_norm, C), DIG(m->final_norm_b, C);
#undef DIG
    lc_digest_final(&d, hex);
}

lc_status lc_hf_gpt2_load(lc_model *m, const char *dir, lc_hf_info *info) {
    const lc_model_config *c = &m->cfg;
    int C = c->hidden_size, F = c->intermediate_size, V = c->vocab_size, P = c->max_position;
    g2_load ld = {.dir = dir, .prefix = ""};
    json_t *index = NULL;
    lc_status st = open_files(&ld, &index);
    if (!st) {
        ld.prefix = "transformer.";
        if (!find(&ld, "wte.weight", NULL)) ld.prefix = "";
        st = fetch_emb(m, &ld, "wte.weight", V, C, &m->tok_emb);
    }
    if (!st) st = fetch_emb(m, &ld, "wpe.weight", P, C, &m->pos_emb);
    char n[128];
#define NAME(suffix) (snprintf(n, sizeof n, "h.%d.%s", l, suffix), n)
    for (int l = 0; l < c->n_layers && !st; l++) {
        lc_layer *w = &m->layers[l];
        if ((st = fetch(m, &ld, NAME("ln_1.weight"), C, 0, 0, &w->attn_norm)) ||
            (st = fetch(m, &ld, NAME("ln_1.bias"), C, 0, 0, &w->attn_norm_b)) ||
            (st = fetch_conv(m, &ld, NAME("attn.c_attn.weight"), C, 3 * C, &w->wqkv)) ||
            (st = fetch(m, &ld, NAME("attn.c_attn.bias"), 3 * C, 0, 0, &w->bqkv)) ||
            (st = fetch_conv(m, &ld, NAME("attn.c_proj.weight"), C, C, &w->wo)) ||
            (st = fetch(m, &ld, NAME("attn.c_proj.bias"), C, 0, 0, &w->bo)) ||
            (st = fetch(m, &ld, NAME("ln_2.weight"), C, 0, 0, &w->mlp_norm)) ||
            (st = fetch(m, &ld, NAME("ln_2.bias"), C, 0, 0, &w->mlp_norm_b)) ||
            (st = fetch_conv(m, &ld, NAME("mlp.c_fc.weight"), C, F, &w->w_up)) ||
            (st = fetch(m, &ld, NAME("mlp.c_fc.bias"), F, 0, 0, &w->b_up)) ||
            (st = fetch_conv(m, &ld, NAME("mlp.c_proj.weight"), F, C, &w->w_down)))
            break;
        st = fetch(m, &ld, NAME("mlp.c_proj.bias"), C, 0, 0, &w->b_down);
    }
#undef NAME
    if (!st) st = fetch(m, &ld, "ln_f.weight", C, 0, 0, &m->final_norm);
    if (!st) st = fetch(m, &ld, "ln_f.bias", C, 0, 0, &m->final_norm_b);
    if (!st) st = check_extras(&ld, c);
    if (!st) {
        m->lm_head = m->tok_emb;
        gpt2_identity(m, m->identity);
        if (info) {
            int seen[3] = {0, 0, 0};
            for (int f = 0; f < ld.n_files; f++)
                for (int i = 0; i < ld.files[f].n_tensors; i++) {
                    lc_st_dtype d = ld.files[f].tensors[i].dtype;
                    if (d == LC_ST_F32 || d == LC_ST_F16 || d == LC_ST_BF16)
                        seen[d == LC_ST_F32 ? 0 : d == LC_ST_F16 ? 1 : 2] = 1;
                }
            const char *d = seen[0] + seen[1] + seen[2] > 1 ? "mixed" : seen[1] ? "F16" : seen[2] ? "BF16" : "F32";
            snprintf(info->source_dtype, sizeof info->source_dtype, "%s", d);
            info->n_converted = 2 + 12 * c->n_layers + 2;
        }
    }
    for (int f = 0; f < ld.n_files; f++) {
        lc_safetensors_close(&ld.files[f]);
        if (ld.used) free(ld.used[f]);
    }
    free(ld.files);
    free(ld.used);
    json_decref(index);
    return st;
}
