/*
 * ckpt.c — the in-memory side of lc_ckpt: building a container (datasets
 * and attributes with name checks), listing it, and the typed getters with
 * their "file, object, expected, found" errors. File I/O is in ckpt_h5.c.
 */
#include "ckpt_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_name(lc_ckpt_kind k) {
    switch (k) {
    case LC_CKPT_F32: return "a float32 tensor";
    case LC_CKPT_I64: return "an int64 array";
    case LC_CKPT_U64: return "a uint64 array";
    case LC_CKPT_BYTES: return "a byte array";
    case LC_CKPT_STRING: return "a string";
    case LC_CKPT_OTHER: break;
    }
    return "a dataset of an unsupported type";
}

static const char *attr_kind_name(lc_ckpt_attr_kind k) {
    switch (k) {
    case LC_CKPT_ATTR_STR: return "a string";
    case LC_CKPT_ATTR_I64: return "an integer";
    case LC_CKPT_ATTR_F64: return "a float";
    case LC_CKPT_ATTR_OTHER: break;
    }
    return "of an unsupported type";
}

char *lc_ckpt__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

const char *lc_ckpt__norm_name(const char *name, int allow_root, const char *what) {
    if (!name) {
        lc_errorf(LC_ERR_ARG, "checkpoint %s name is NULL", what);
        return NULL;
    }
    const char *n = name[0] == '/' ? name + 1 : name;
    if (n[0] == 0) {
        if (allow_root) return n;
        lc_errorf(LC_ERR_ARG, "checkpoint %s name '%s' is empty", what, name);
        return NULL;
    }
    const char *p = n;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
            lc_errorf(LC_ERR_ARG,
                      "checkpoint %s name '%s': empty, '.' or '..' path component "
                      "(expected names like \"adapter/x.lora_A.weight\")", what, name);
            return NULL;
        }
        if (!slash) break;
        p = slash + 1;
    }
    return n;
}

lc_status lc_ckpt_create(lc_ckpt **out) {
    if (!out) return lc_errorf(LC_ERR_ARG, "lc_ckpt_create: out is NULL");
    *out = calloc(1, sizeof(lc_ckpt));
    if (!*out) return lc_errorf(LC_ERR_NOMEM, "lc_ckpt_create: out of memory");
    return LC_OK;
}

void lc_ckpt_free(lc_ckpt *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_ents; i++) {
        free(c->ents[i].name);
        free(c->ents[i].note);
        lc_free(c->ents[i].owned);
    }
    for (size_t i = 0; i < c->n_attrs; i++) {
        free(c->attrs[i].object);
        free(c->attrs[i].key);
        free(c->attrs[i].s);
        free(c->attrs[i].note);
    }
    free(c->ents);
    free(c->attrs);
    free(c->source);
    free(c);
}

ckpt_ent *lc_ckpt__push_ent(lc_ckpt *c, const char *name) {
    if (c->n_ents == c->cap_ents) {
        size_t cap = c->cap_ents ? 2 * c->cap_ents : 16;
        ckpt_ent *e = realloc(c->ents, cap * sizeof *e);
        if (!e) goto nomem;
        c->ents = e;
        c->cap_ents = cap;
    }
    ckpt_ent *e = &c->ents[c->n_ents];
    memset(e, 0, sizeof *e);
    e->name = lc_ckpt__strdup(name);
    if (!e->name) goto nomem;
    e->e.name = e->name;
    c->n_ents++;
    return e;
nomem:
    lc_errorf(LC_ERR_NOMEM, "checkpoint: out of memory adding '%s'", name);
    return NULL;
}

ckpt_attr *lc_ckpt__push_attr(lc_ckpt *c, const char *object, const char *key) {
    if (c->n_attrs == c->cap_attrs) {
        size_t cap = c->cap_attrs ? 2 * c->cap_attrs : 16;
        ckpt_attr *a = realloc(c->attrs, cap * sizeof *a);
        if (!a) goto nomem;
        c->attrs = a;
        c->cap_attrs = cap;
    }
    ckpt_attr *a = &c->attrs[c->n_attrs];
    memset(a, 0, sizeof *a);
    a->object = lc_ckpt__strdup(object);
    a->key = lc_ckpt__strdup(key);
    if (!a->object || !a->key) {
        free(a->object);
        free(a->key);
        goto nomem;
    }
    a->a.object = a->object;
    a->a.key = a->key;
    c->n_attrs++;
    return a;
nomem:
    lc_errorf(LC_ERR_NOMEM, "checkpoint: out of memory adding attribute '%s'", key);
    return NULL;
}

/* 1 if `a` is a proper group prefix of `b` ("x" of "x/y"). */
static int is_group_prefix(const char *a, const char *b) {
    size_t n = strlen(a);
    return strncmp(a, b, n) == 0 && b[n] == '/';
}

/* Checks a new dataset name and returns it normalised, or NULL. */
static const char *check_new_name(const lc_ckpt *c, const char *name) {
    if (!c) {
        lc_errorf(LC_ERR_ARG, "checkpoint is NULL");
        return NULL;
    }
    const char *n = lc_ckpt__norm_name(name, 0, "dataset");
    if (!n) return NULL;
    for (size_t i = 0; i < c->n_ents; i++) {
        const char *o = c->ents[i].name;
        if (strcmp(o, n) == 0) {
            lc_errorf(LC_ERR_ARG, "checkpoint dataset '%s' added twice", n);
            return NULL;
        }
        if (is_group_prefix(o, n) || is_group_prefix(n, o)) {
            lc_errorf(LC_ERR_ARG,
                      "checkpoint dataset '%s' conflicts with '%s' (one would be a group "
                      "and a dataset at once)", n, o);
            return NULL;
        }
    }
    return n;
}

lc_status lc_ckpt_add_f32(lc_ckpt *c, const char *name, int ndim, const int64_t *shape,
                          const float *data) {
    const char *n = check_new_name(c, name);
    if (!n) return LC_ERR_ARG;
    if (ndim < 0 || ndim > LC_CKPT_MAX_DIMS || (ndim > 0 && !shape))
        return lc_errorf(LC_ERR_ARG, "checkpoint tensor '%s': ndim %d out of range 0..%d",
                         n, ndim, LC_CKPT_MAX_DIMS);
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return lc_errorf(LC_ERR_ARG, "checkpoint tensor '%s': dimension %d is %" PRId64,
                             n, d, shape[d]);
        numel *= (size_t)shape[d];
    }
    if (numel > 0 && !data)
        return lc_errorf(LC_ERR_ARG, "checkpoint tensor '%s': data is NULL", n);
    ckpt_ent *e = lc_ckpt__push_ent(c, n);
    if (!e) return LC_ERR_NOMEM;
    e->e.kind = LC_CKPT_F32;
    e->e.ndim = ndim;
    for (int d = 0; d < ndim; d++) e->e.shape[d] = shape[d];
    e->e.numel = numel;
    e->data = data;
    return LC_OK;
}

/* Shared by the copied kinds: `bytes` bytes of data, plus a NUL terminator. */
static lc_status add_copied(lc_ckpt *c, const char *name, lc_ckpt_kind kind, size_t numel,
                            const void *data, size_t bytes) {
    const char *n = check_new_name(c, name);
    if (!n) return LC_ERR_ARG;
    if (bytes > 0 && !data)
        return lc_errorf(LC_ERR_ARG, "checkpoint dataset '%s': data is NULL", n);
    void *copy = lc_alloc(bytes + 1);
    if (!copy) return lc_errorf(LC_ERR_NOMEM, "checkpoint dataset '%s': out of memory", n);
    if (bytes) memcpy(copy, data, bytes);
    ((char *)copy)[bytes] = 0;
    ckpt_ent *e = lc_ckpt__push_ent(c, n);
    if (!e) {
        lc_free(copy);
        return LC_ERR_NOMEM;
    }
    e->e.kind = kind;
    e->e.ndim = kind == LC_CKPT_STRING ? 0 : 1;
    e->e.shape[0] = (int64_t)numel;
    e->e.numel = numel;
    e->owned = copy;
    e->data = copy;
    return LC_OK;
}

lc_status lc_ckpt_add_i64(lc_ckpt *c, const char *name, size_t n, const int64_t *data) {
    return add_copied(c, name, LC_CKPT_I64, n, data, n * sizeof(int64_t));
}

lc_status lc_ckpt_add_u64(lc_ckpt *c, const char *name, size_t n, const uint64_t *data) {
    return add_copied(c, name, LC_CKPT_U64, n, data, n * sizeof(uint64_t));
}

lc_status lc_ckpt_add_bytes(lc_ckpt *c, const char *name, const void *data, size_t n) {
    return add_copied(c, name, LC_CKPT_BYTES, n, data, n);
}

lc_status lc_ckpt_add_string(lc_ckpt *c, const char *name, const char *text) {
    if (!text) return lc_errorf(LC_ERR_ARG, "checkpoint string '%s': text is NULL", name);
    size_t n = strlen(text);
    return add_copied(c, name, LC_CKPT_STRING, n, text, n);
}

/* ---- attributes ---- */

static ckpt_attr *find_attr(const lc_ckpt *c, const char *object, const char *key) {
    const char *o = object ? (object[0] == '/' ? object + 1 : object) : "";
    for (size_t i = 0; i < c->n_attrs; i++)
        if (strcmp(c->attrs[i].object, o) == 0 && strcmp(c->attrs[i].key, key) == 0)
            return &c->attrs[i];
    return NULL;
}

/* The slot for (object, key), reset for a new value; NULL with error set. */
static ckpt_attr *attr_slot(lc_ckpt *c, const char *object, const char *key, lc_status *st) {
    *st = LC_ERR_ARG;
    if (!c) {
        lc_errorf(LC_ERR_ARG, "checkpoint is NULL");
        return NULL;
    }
    const char *o = lc_ckpt__norm_name(object ? object : "", 1, "attribute object");
    if (!o) return NULL;
    if (!key || !key[0] || strchr(key, '/')) {
        lc_errorf(LC_ERR_ARG, "checkpoint attribute key '%s' on '/%s': must be non-empty "
                  "without '/'", key ? key : "(null)", o);
        return NULL;
    }
    ckpt_attr *a = find_attr(c, o, key);
    if (a) {
        free(a->s);
        free(a->note);
        a->s = a->note = NULL;
        *st = LC_OK;
        return a;
    }
    a = lc_ckpt__push_attr(c, o, key);
    *st = a ? LC_OK : LC_ERR_NOMEM;
    return a;
}

lc_status lc_ckpt_set_attr_str(lc_ckpt *c, const char *object, const char *key,
                               const char *value) {
    if (!value) return lc_errorf(LC_ERR_ARG, "checkpoint attribute '%s': value is NULL", key);
    lc_status st;
    ckpt_attr *a = attr_slot(c, object, key, &st);
    if (!a) return st;
    a->a.kind = LC_CKPT_ATTR_STR;
    a->s = lc_ckpt__strdup(value);
    if (!a->s) {  /* leave a valid (empty) string rather than a NULL one */
        a->a.kind = LC_CKPT_ATTR_OTHER;
        return lc_errorf(LC_ERR_NOMEM, "checkpoint attribute '%s': out of memory", key);
    }
    return LC_OK;
}

lc_status lc_ckpt_set_attr_i64(lc_ckpt *c, const char *object, const char *key, int64_t value) {
    lc_status st;
    ckpt_attr *a = attr_slot(c, object, key, &st);
    if (!a) return st;
    a->a.kind = LC_CKPT_ATTR_I64;
    a->i = value;
    return LC_OK;
}

lc_status lc_ckpt_set_attr_f64(lc_ckpt *c, const char *object, const char *key, double value) {
    lc_status st;
    ckpt_attr *a = attr_slot(c, object, key, &st);
    if (!a) return st;
    a->a.kind = LC_CKPT_ATTR_F64;
    a->d = value;
    return LC_OK;
}

/* ---- listing ---- */

const char *lc_ckpt_source(const lc_ckpt *c) {
    return c && c->source ? c->source : "<new checkpoint>";
}

size_t lc_ckpt_count(const lc_ckpt *c) { return c ? c->n_ents : 0; }

const lc_ckpt_entry *lc_ckpt_entry_at(const lc_ckpt *c, size_t i) {
    return c && i < c->n_ents ? &c->ents[i].e : NULL;
}

static const ckpt_ent *find_ent(const lc_ckpt *c, const char *name) {
    if (!c || !name) return NULL;
    const char *n = name[0] == '/' ? name + 1 : name;
    for (size_t i = 0; i < c->n_ents; i++)
        if (strcmp(c->ents[i].name, n) == 0) return &c->ents[i];
    return NULL;
}

const lc_ckpt_entry *lc_ckpt_find(const lc_ckpt *c, const char *name) {
    const ckpt_ent *e = find_ent(c, name);
    return e ? &e->e : NULL;
}

size_t lc_ckpt_attr_count(const lc_ckpt *c) { return c ? c->n_attrs : 0; }

const lc_ckpt_attr *lc_ckpt_attr_at(const lc_ckpt *c, size_t i) {
    return c && i < c->n_attrs ? &c->attrs[i].a : NULL;
}

int lc_ckpt_has_attr(const lc_ckpt *c, const char *object, const char *key) {
    return c && key && find_attr(c, object, key) != NULL;
}

/* ---- getters ---- */

/* The entry `name` of kind `want` (or `alt` if >= 0), else LC_ERR_FORMAT. */
static lc_status get_ent(const lc_ckpt *c, const char *name, lc_ckpt_kind want, int alt,
                         const ckpt_ent **out) {
    *out = NULL;
    if (!c || !name) return lc_errorf(LC_ERR_ARG, "checkpoint getter: NULL argument");
    const ckpt_ent *e = find_ent(c, name);
    if (!e)
        return lc_errorf(LC_ERR_FORMAT, "%s: no dataset '%s' in the checkpoint",
                         lc_ckpt_source(c), name);
    if (e->e.kind != want && (alt < 0 || e->e.kind != (lc_ckpt_kind)alt))
        return lc_errorf(LC_ERR_FORMAT, "%s: dataset '%s' is %s%s%s, expected %s",
                         lc_ckpt_source(c), name, kind_name(e->e.kind),
                         e->note ? " " : "", e->note ? e->note : "", kind_name(want));
    *out = e;
    return LC_OK;
}

lc_status lc_ckpt_get_tensor(const lc_ckpt *c, const char *name, const lc_ckpt_entry **entry,
                             const float **data) {
    const ckpt_ent *e;
    lc_status st = get_ent(c, name, LC_CKPT_F32, -1, &e);
    if (st) return st;
    if (e->nonfinite)
        return lc_errorf(LC_ERR_NUMERIC, "%s: tensor '%s' holds a NaN/inf (element %zu of %zu)",
                         lc_ckpt_source(c), e->name, e->bad_index, e->e.numel);
    if (entry) *entry = &e->e;
    if (data) *data = e->data;
    return LC_OK;
}

static void format_shape(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t off = (size_t)snprintf(buf, size, "(");
    for (int d = 0; d < ndim && off < size; d++)
        off += (size_t)snprintf(buf + off, size - off, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (off < size) snprintf(buf + off, size - off, ")");
}

lc_status lc_ckpt_get_tensor_shaped(const lc_ckpt *c, const char *name, int ndim,
                                    const int64_t *shape, const float **data) {
    const lc_ckpt_entry *e;
    lc_status st = lc_ckpt_get_tensor(c, name, &e, data);
    if (st) return st;
    int same = e->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = e->shape[d] == shape[d];
    if (!same) {
        char want[256], got[256];
        format_shape(want, sizeof want, ndim, shape);
        format_shape(got, sizeof got, e->ndim, e->shape);
        if (data) *data = NULL;
        return lc_errorf(LC_ERR_MISMATCH, "%s: tensor '%s' has the wrong shape: expected %s, "
                         "found %s", lc_ckpt_source(c), e->name, want, got);
    }
    return LC_OK;
}

lc_status lc_ckpt_copy_tensor(const lc_ckpt *c, const char *name, int ndim,
                              const int64_t *shape, float *dst) {
    const float *src;
    lc_status st = lc_ckpt_get_tensor_shaped(c, name, ndim, shape, &src);
    if (st) return st;
    const lc_ckpt_entry *e = lc_ckpt_find(c, name);
    if (e->numel) memcpy(dst, src, e->numel * sizeof(float));
    return LC_OK;
}

lc_status lc_ckpt_get_i64(const lc_ckpt *c, const char *name, const int64_t **data, size_t *n) {
    const ckpt_ent *e;
    lc_status st = get_ent(c, name, LC_CKPT_I64, -1, &e);
    if (st) return st;
    *data = e->data;
    *n = e->e.numel;
    return LC_OK;
}

lc_status lc_ckpt_get_u64(const lc_ckpt *c, const char *name, const uint64_t **data, size_t *n) {
    const ckpt_ent *e;
    lc_status st = get_ent(c, name, LC_CKPT_U64, -1, &e);
    if (st) return st;
    *data = e->data;
    *n = e->e.numel;
    return LC_OK;
}

lc_status lc_ckpt_get_bytes(const lc_ckpt *c, const char *name, const uint8_t **data, size_t *n) {
    const ckpt_ent *e;
    lc_status st = get_ent(c, name, LC_CKPT_BYTES, LC_CKPT_STRING, &e);
    if (st) return st;
    *data = e->data;
    *n = e->e.numel;
    return LC_OK;
}

lc_status lc_ckpt_get_string(const lc_ckpt *c, const char *name, const char **text) {
    const ckpt_ent *e;
    lc_status st = get_ent(c, name, LC_CKPT_STRING, LC_CKPT_BYTES, &e);
    if (st) return st;
    if (strlen(e->data) != e->e.numel)
        return lc_errorf(LC_ERR_FORMAT, "%s: dataset '%s' holds a NUL byte at offset %zu of "
                         "%zu; expected text", lc_ckpt_source(c), e->name,
                         strlen(e->data), e->e.numel);
    *text = e->data;
    return LC_OK;
}

static lc_status get_attr(const lc_ckpt *c, const char *object, const char *key,
                          lc_ckpt_attr_kind want, int alt, const ckpt_attr **out) {
    *out = NULL;
    if (!c || !key) return lc_errorf(LC_ERR_ARG, "checkpoint attribute getter: NULL argument");
    const char *o = object ? (object[0] == '/' ? object + 1 : object) : "";
    const ckpt_attr *a = find_attr(c, o, key);
    if (!a)
        return lc_errorf(LC_ERR_FORMAT, "%s: no attribute '%s' on '/%s'", lc_ckpt_source(c),
                         key, o);
    if (a->a.kind != want && (alt < 0 || a->a.kind != (lc_ckpt_attr_kind)alt))
        return lc_errorf(LC_ERR_FORMAT, "%s: attribute '%s' on '/%s' is %s%s%s, expected %s",
                         lc_ckpt_source(c), key, o, attr_kind_name(a->a.kind),
                         a->note ? " " : "", a->note ? a->note : "", attr_kind_name(want));
    *out = a;
    return LC_OK;
}

lc_status lc_ckpt_get_attr_str(const lc_ckpt *c, const char *object, const char *key,
                               const char **value) {
    const ckpt_attr *a;
    lc_status st = get_attr(c, object, key, LC_CKPT_ATTR_STR, -1, &a);
    if (st) return st;
    *value = a->s;
    return LC_OK;
}

lc_status lc_ckpt_get_attr_i64(const lc_ckpt *c, const char *object, const char *key,
                               int64_t *value) {
    const ckpt_attr *a;
    lc_status st = get_attr(c, object, key, LC_CKPT_ATTR_I64, -1, &a);
    if (st) return st;
    *value = a->i;
    return LC_OK;
}

lc_status lc_ckpt_get_attr_f64(const lc_ckpt *c, const char *object, const char *key,
                               double *value) {
    const ckpt_attr *a;
    lc_status st = get_attr(c, object, key, LC_CKPT_ATTR_F64, LC_CKPT_ATTR_I64, &a);
    if (st) return st;
    *value = a->a.kind == LC_CKPT_ATTR_I64 ? (double)a->i : a->d;
    return LC_OK;
}
