/*
 * hf_loader.c — a Hugging Face model directory into an lc_model.
 *
 * Path of the data: config.json -> lc_model_config; the list of tensors that
 * config implies (name, shape, destination) -> located in model.safetensors or
 * in the shards named by model.safetensors.index.json -> every shape and dtype
 * checked, unexpected tensors refused -> aligned F32 matrices used in place
 * from the mapping (the model then owns the mapping), everything else
 * converted to fp32 one tensor at a time into one owned block, dropping the
 * source pages behind it so peak memory stays near the fp32 size.
 */
#include "lc_loader.h"
#include "lc_path.h"
#include "hf_gpt2.h"
#include "lc_quant.h"
#include "lc_safetensors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NO_OFFSET ((size_t)-1)

/* One tensor the config calls for. */
typedef struct {
    char name[128];
    int rows, cols;         /* cols == 0: a vector of `rows` floats */
    lc_weight *w;           /* destination matrix, or */
    float **vec;            /* destination vector (always copied: float * must be writable) */
    int file;               /* index into ld->files once located */
    const lc_st_tensor *t;  /* located tensor */
    size_t dst_off;         /* byte offset in the converted block, or NO_OFFSET (zero copy) */
} hf_slot;

typedef struct {
    const char *dir;
    lc_safetensors *files;
    int n_files;
    char **file_names;      /* n_files, relative to dir */
    hf_slot *slots;
    int n_slots;
    const hf_slot **by_name; /* n_slots, sorted by name */
    json_t *weight_map;     /* from the index, or NULL */
} hf_load;

static void add_slot(hf_load *ld, const char *name, int rows, int cols, lc_weight *w, float **vec) {
    hf_slot *s = &ld->slots[ld->n_slots++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->rows = rows;
    s->cols = cols;
    s->w = w;
    s->vec = vec;
    s->file = -1;
    s->dst_off = NO_OFFSET;
}

static int cmp_slot_ptr(const void *a, const void *b) {
    return strcmp((*(const hf_slot *const *)a)->name, (*(const hf_slot *const *)b)->name);
}

/* The tensors the config implies, with their destinations in m. */
static lc_status plan_slots(hf_load *ld, lc_model *m) {
    const lc_model_config *c = &m->cfg;
    int C = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
    int qd = c->n_heads * c->head_dim, kd = c->n_kv_heads * c->head_dim;
    ld->slots = calloc((size_t)c->n_layers * 14 + 3, sizeof *ld->slots);
    ld->by_name = calloc((size_t)c->n_layers * 14 + 3, sizeof *ld->by_name);
    if (!ld->slots || !ld->by_name) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    char n[128];
    add_slot(ld, "model.embed_tokens.weight", V, C, &m->tok_emb, NULL);
    for (int l = 0; l < c->n_layers; l++) {
        lc_layer *ly = &m->layers[l];
#define LAYER_SLOT(suffix, r, k, w, v)                                  \
    do {                                                                \
        snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix);         \
        add_slot(ld, n, r, k, w, v);                                    \
    } while (0)
        LAYER_SLOT("input_layernorm.weight", C, 0, NULL, &ly->attn_norm);
        LAYER_SLOT("self_attn.q_proj.weight", qd, C, &ly->wq, NULL);
        LAYER_SLOT("self_attn.k_proj.weight", kd, C, &ly->wk, NULL);
        LAYER_SLOT("self_attn.v_proj.weight", kd, C, &ly->wv, NULL);
        LAYER_SLOT("self_attn.o_proj.weight", C, qd, &ly->wo, NULL);
        if (c->attn_bias) {
            LAYER_SLOT("self_attn.q_proj.bias", qd, 0, NULL, &ly->bq);
            LAYER_SLOT("self_attn.k_proj.bias", kd, 0, NULL, &ly->bk);
            LAYER_SLOT("self_attn.v_proj.bias", kd, 0, NULL, &ly->bv);
        }
        if (m->fam.qk_norm) { /* Qwen3: RMSNorm weights (head_dim) shared by the heads */
            LAYER_SLOT("self_attn.q_norm.weight", c->head_dim, 0, NULL, &ly->q_norm);
            LAYER_SLOT("self_attn.k_norm.weight", c->head_dim, 0, NULL, &ly->k_norm);
        }
        if (m->fam.norm_place == LC_NORM_SANDWICH) { /* Gemma 3: a norm before and after each block */
            LAYER_SLOT("post_attention_layernorm.weight", C, 0, NULL, &ly->post_attn_norm);
            LAYER_SLOT("pre_feedforward_layernorm.weight", C, 0, NULL, &ly->mlp_norm);
            LAYER_SLOT("post_feedforward_layernorm.weight", C, 0, NULL, &ly->post_mlp_norm);
        } else {
            LAYER_SLOT("post_attention_layernorm.weight", C, 0, NULL, &ly->mlp_norm);
        }
        LAYER_SLOT("mlp.gate_proj.weight", F, C, &ly->w_gate, NULL);
        LAYER_SLOT("mlp.up_proj.weight", F, C, &ly->w_up, NULL);
        LAYER_SLOT("mlp.down_proj.weight", C, F, &ly->w_down, NULL);
#undef LAYER_SLOT
    }
    add_slot(ld, "model.norm.weight", C, 0, NULL, &m->final_norm);
    if (!c->tie_embeddings) add_slot(ld, "lm_head.weight", V, C, &m->lm_head, NULL);
    for (int i = 0; i < ld->n_slots; i++) ld->by_name[i] = &ld->slots[i];
    qsort(ld->by_name, (size_t)ld->n_slots, sizeof *ld->by_name, cmp_slot_ptr);
    return LC_OK;
}

static const hf_slot *find_slot(const hf_load *ld, const char *name) {
    hf_slot key;
    snprintf(key.name, sizeof key.name, "%s", name);
    const hf_slot *kp = &key;
    const hf_slot **r = bsearch(&kp, ld->by_name, (size_t)ld->n_slots, sizeof *ld->by_name, cmp_slot_ptr);
    return r ? *r : NULL;
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static lc_status add_file(hf_load *ld, const char *rel) {
    for (int i = 0; i < ld->n_files; i++)
        if (!strcmp(ld->file_names[i], rel)) return LC_OK;
    if (!rel[0] || rel[0] == '/' || strstr(rel, ".."))
        return lc_errorf(LC_ERR_FORMAT, "%s/model.safetensors.index.json: shard name \"%s\" is not a plain file name",
                         ld->dir, rel);
    char path[2048];
    lc_status st = lc_path_join(path, sizeof path, ld->dir, rel);
    if (st) return st;
    ld->file_names[ld->n_files] = strdup(rel);
    if (!ld->file_names[ld->n_files]) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    lc_status rc = lc_safetensors_open(&ld->files[ld->n_files], path);
    ld->n_files++; /* counted even on failure so cleanup frees the name */
    return rc;
}

/* Open model.safetensors, or every shard named by the index. */
static lc_status open_files(hf_load *ld, json_t **index_root) {
    char path[2048];
    lc_status rc;
    if ((rc = lc_path_join(path, sizeof path, ld->dir, "model.safetensors"))) return rc;
    if (file_exists(path)) {
        ld->files = calloc(1, sizeof *ld->files);
        ld->file_names = calloc(1, sizeof *ld->file_names);
        if (!ld->files || !ld->file_names) return lc_errorf(LC_ERR_NOMEM, "out of memory");
        return add_file(ld, "model.safetensors");
    }
    if ((rc = lc_path_join(path, sizeof path, ld->dir, "model.safetensors.index.json"))) return rc;
    if (!file_exists(path))
        return lc_errorf(LC_ERR_IO, "%s: neither model.safetensors nor model.safetensors.index.json found",
                         ld->dir);
    json_error_t jerr;
    *index_root = json_load_file(path, 0, &jerr);
    if (!*index_root)
        return lc_errorf(LC_ERR_FORMAT, "%s: line %d: invalid JSON: %s", path, jerr.line, jerr.text);
    ld->weight_map = json_object_get(*index_root, "weight_map");
    if (!json_is_object(ld->weight_map) || json_object_size(ld->weight_map) == 0)
        return lc_errorf(LC_ERR_FORMAT, "%s: \"weight_map\" is missing or not a non-empty object", path);
    size_t n = json_object_size(ld->weight_map);
    ld->files = calloc(n, sizeof *ld->files);
    ld->file_names = calloc(n, sizeof *ld->file_names);
    if (!ld->files || !ld->file_names) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach(ld->weight_map, k, v) {
        if (!json_is_string(v))
            return lc_errorf(LC_ERR_FORMAT, "%s: weight_map[\"%s\"] is not a file name string", path, k);
        if ((rc = add_file(ld, json_string_value(v)))) return rc;
    }
    return LC_OK;
}

static const char *shape2(char *buf, size_t cap, int rows, int cols) {
    if (cols) snprintf(buf, cap, "[%d, %d]", rows, cols);
    else snprintf(buf, cap, "[%d]", rows);
    return buf;
}

static const char *st_shape(char *buf, size_t cap, const lc_st_tensor *t) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < t->ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

static int is_float_dtype(lc_st_dtype d) { return d == LC_ST_F32 || d == LC_ST_F16 || d == LC_ST_BF16; }

/* Find each slot's tensor and check its shape and dtype. */
static lc_status locate_slots(hf_load *ld) {
    char want[64], got[256];
    for (int i = 0; i < ld->n_slots; i++) {
        hf_slot *s = &ld->slots[i];
        int f = 0;
        if (ld->weight_map) {
            const char *fn = json_string_value(json_object_get(ld->weight_map, s->name));
            if (!fn)
                return lc_errorf(LC_ERR_FORMAT, "%s: missing tensor '%s' (expected shape %s): not in "
                                 "model.safetensors.index.json", ld->dir, s->name,
                                 shape2(want, sizeof want, s->rows, s->cols));
            for (f = 0; f < ld->n_files && strcmp(ld->file_names[f], fn); f++) {}
        }
        const lc_st_tensor *t = lc_safetensors_find(&ld->files[f], s->name);
        if (!t)
            return lc_errorf(LC_ERR_FORMAT, "%s: missing tensor '%s' (expected shape %s)", ld->files[f].path,
                             s->name, shape2(want, sizeof want, s->rows, s->cols));
        int ok = is_float_dtype(t->dtype) && t->ndim == (s->cols ? 2 : 1) && t->shape[0] == s->rows &&
                 (!s->cols || t->shape[1] == s->cols);
        if (!ok)
            return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': expected shape %s as F32/F16/BF16, found %s %s",
                             ld->files[f].path, s->name, shape2(want, sizeof want, s->rows, s->cols),
                             st_shape(got, sizeof got, t), lc_st_dtype_name(t->dtype));
        s->file = f;
        s->t = t;
    }
    return LC_OK;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* A tensor in the files that no slot wants: harmless leftovers pass, anything else is an error. */
static lc_status check_extra(const lc_model_config *c, const lc_safetensors *st, const lc_st_tensor *t) {
    char got[256];
    if (ends_with(t->name, ".rotary_emb.inv_freq")) return LC_OK; /* old checkpoints saved the RoPE table */
    int is_lm_head = !strcmp(t->name, "lm_head.weight");
    if (is_lm_head && c->tie_embeddings && t->ndim == 2 && t->shape[0] == c->vocab_size &&
        t->shape[1] == c->hidden_size)
        return LC_OK; /* tied: HF ignores a saved copy too */
    int layer = 0, used = 0;
    if ((c->arch == LC_ARCH_LLAMA || c->arch == LC_ARCH_QWEN3) && c->attn_bias &&
        sscanf(t->name, "model.layers.%d.self_attn.o_proj.bias%n", &layer, &used) == 1 &&
        used == (int)strlen(t->name)) {
        /* Llama's attention_bias also gives o_proj a bias, which lc_layer has no room for. */
        size_t n = is_float_dtype(t->dtype) ? t->nbytes / lc_st_dtype_size(t->dtype) : 0;
        for (size_t i = 0; i < n; i++)
            if (lc_safetensors_elem_f32(t, i) != 0.0f)
                return lc_errorf(LC_ERR_UNSUPPORTED, "%s: tensor '%s' is non-zero: an o_proj bias is not supported",
                                 st->path, t->name);
        if (n) return LC_OK;
    }
    return lc_errorf(LC_ERR_FORMAT, "%s: unexpected tensor '%s' (%s %s) for this %s config", st->path, t->name,
                     st_shape(got, sizeof got, t), lc_st_dtype_name(t->dtype),
                     c->tie_embeddings && is_lm_head ? "tied-embedding" : "model's");
}

static lc_status check_extras(const hf_load *ld, const lc_model_config *c) {
    lc_status rc;
    for (int f = 0; f < ld->n_files; f++)
        for (int i = 0; i < ld->files[f].n_tensors; i++) {
            const lc_st_tensor *t = &ld->files[f].tensors[i];
            const hf_slot *s = find_slot(ld, t->name);
            if (s && s->t == t) continue;
            if (s) /* same name in two shards, or in a shard the index does not name for it */
                return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s' also appears in %s", ld->files[f].path, t->name,
                                 ld->files[s->file].path);
            if ((rc = check_extra(c, &ld->files[f], t))) return rc;
        }
    return LC_OK;
}

/* fp32 copy of t into dst (n elements), then drop t's source pages from memory. */
static void convert_tensor(float *dst, const lc_st_tensor *t, size_t n) {
    if (t->dtype == LC_ST_F32) {
        memcpy(dst, t->data, n * sizeof(float));
    } else {
#pragma omp parallel for schedule(static) if (n > ((size_t)1 << 18))
        for (size_t i = 0; i < n; i++) dst[i] = lc_safetensors_elem_f32(t, i);
    }
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)t->data + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t b = ((uintptr_t)t->data + t->nbytes) & ~((uintptr_t)page - 1);
    if (b > a) (void)madvise((void *)a, b - a, MADV_DONTNEED); /* read-only private map: re-read on access */
}

/* Zero-copy where possible, else convert into one owned block. */
static lc_status fill_weights(hf_load *ld, lc_model *m, lc_hf_info *info) {
    size_t total = 0;
    int seen[3] = {0, 0, 0};
    for (int i = 0; i < ld->n_slots; i++) {
        hf_slot *s = &ld->slots[i];
        seen[s->t->dtype == LC_ST_F32 ? 0 : s->t->dtype == LC_ST_F16 ? 1 : 2] = 1;
        if (s->w && s->t->dtype == LC_ST_F32 && ((uintptr_t)s->t->data & 3) == 0) continue;
        s->dst_off = total;
        total += ((size_t)s->rows * (size_t)(s->cols ? s->cols : 1) * sizeof(float) + 63) & ~(size_t)63;
    }
    if (info) {
        const char *d = seen[0] + seen[1] + seen[2] > 1 ? "mixed" : seen[1] ? "F16" : seen[2] ? "BF16" : "F32";
        snprintf(info->source_dtype, sizeof info->source_dtype, "%s", d);
    }
    char *block = NULL;
    if (total) {
        block = lc_alloc(total);
        if (!block) return lc_errorf(LC_ERR_NOMEM, "%s: cannot allocate %zu bytes for fp32 weights", ld->dir, total);
        if (lc_model_own(m, block, total, 0)) {
            lc_free(block);
            return lc_errorf(LC_ERR_NOMEM, "out of memory");
        }
    }
    for (int i = 0; i < ld->n_slots; i++) {
        hf_slot *s = &ld->slots[i];
        size_t n = (size_t)s->rows * (size_t)(s->cols ? s->cols : 1);
        const void *data = s->t->data;
        if (s->dst_off != NO_OFFSET) {
            lc_status ist = lc_interrupt_check("loading the model"); /* converting takes seconds for large ones */
            if (ist) return ist;
            convert_tensor((float *)(block + s->dst_off), s->t, n); /* (rows, cols) */
            data = block + s->dst_off;
            if (info) info->n_converted++;
        } else if (info) {
            info->n_zero_copy++;
        }
        if (s->vec) {
            *s->vec = (float *)data;
        } else {
            s->w->type = LC_DT_F32;
            s->w->rows = s->rows;
            s->w->cols = s->cols;
            s->w->data = data;
        }
    }
    return LC_OK;
}

/* Hand to the model the mappings that zero-copy weights point into. */
static lc_status own_maps(hf_load *ld, lc_model *m) {
    for (int f = 0; f < ld->n_files; f++) {
        int used = 0;
        for (int i = 0; i < ld->n_slots && !used; i++) used = ld->slots[i].file == f && ld->slots[i].dst_off == NO_OFFSET;
        if (!used) continue;
        void *map;
        size_t size;
        lc_safetensors_take_map(&ld->files[f], &map, &size);
        if (lc_model_own(m, map, size, 1)) {
            munmap(map, size);
            return lc_errorf(LC_ERR_NOMEM, "out of memory");
        }
    }
    return LC_OK;
}

lc_status lc_model_load_hf_ex(lc_model *m, const char *dir, lc_hf_info *info) {
    lc_status rc;
    hf_load ld = {.dir = dir};
    json_t *index_root = NULL;
    char path[2048];
    lc_hf_info local;
    if (!info) info = &local;
    memset(m, 0, sizeof *m);
    if ((rc = lc_path_join(path, sizeof path, dir, "config.json"))) goto fail;
    if ((rc = lc_hf_config_load(path, &m->cfg, info))) goto fail;
    if ((rc = lc_model_describe(m))) {
        rc = lc_error_wrap(rc, "%s", path);
        goto fail;
    }
    m->layers = calloc((size_t)m->cfg.n_layers, sizeof *m->layers); /* freed by lc_model_free */
    if (!m->layers) {
        rc = lc_errorf(LC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (m->cfg.arch == LC_ARCH_GPT2) { /* own tensor names and Conv1D layout: hf_gpt2.c */
        if (!(rc = lc_hf_gpt2_load(m, dir, info))) snprintf(m->source, sizeof m->source, "%s", dir);
        goto fail; /* the common exit: frees m on error */
    }
    if ((rc = plan_slots(&ld, m)) || (rc = open_files(&ld, &index_root)) || (rc = locate_slots(&ld)) ||
        (rc = check_extras(&ld, &m->cfg)) || (rc = fill_weights(&ld, m, info)) || (rc = own_maps(&ld, m)))
        goto fail;
    if (m->cfg.tie_embeddings) m->lm_head = m->tok_emb;
    if (m->fam.norm_plus_one) lc_model_norms_add(m, 1.0f); /* HF's w applied as 1 + w: lorac stores 1 + w */
    snprintf(m->source, sizeof m->source, "%s", dir);
    if ((rc = lc_model_identity_compute(m, m->identity))) goto fail;
fail:
    for (int f = 0; f < ld.n_files; f++) {
        lc_safetensors_close(&ld.files[f]);
        free(ld.file_names[f]);
    }
    free(ld.files);
    free(ld.file_names);
    free(ld.slots);
    free(ld.by_name);
    json_decref(index_root);
    if (rc) {
        lc_model_free(m);
        memset(m, 0, sizeof *m);
    }
    return rc;
}

lc_status lc_model_load_hf(lc_model *m, const char *dir) { return lc_model_load_hf_ex(m, dir, NULL); }
