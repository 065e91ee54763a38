/*
 * safetensors.c — mmap reader with a fully validated header, and an atomic
 * writer, for the safetensors format described in lc_safetensors.h.
 *
 * The reader trusts nothing in the file: every length and offset is checked
 * against the file size before a pointer into the mapping is handed out.
 */
#include "lc_safetensors.h"
#include "lc_fsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest header accepted (the reference implementation's limit). */
#define ST_MAX_HEADER ((uint64_t)100 << 20)

static const char *const DTYPE_NAMES[LC_ST_DTYPE_COUNT] = {
    "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL",
};
static const size_t DTYPE_SIZES[LC_ST_DTYPE_COUNT] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1};

const char *lc_st_dtype_name(lc_st_dtype t) {
    return (unsigned)t < LC_ST_DTYPE_COUNT ? DTYPE_NAMES[t] : "?";
}

size_t lc_st_dtype_size(lc_st_dtype t) { return (unsigned)t < LC_ST_DTYPE_COUNT ? DTYPE_SIZES[t] : 0; }

int lc_st_dtype_parse(const char *name, lc_st_dtype *out) {
    for (int i = 0; i < LC_ST_DTYPE_COUNT; i++)
        if (!strcmp(name, DTYPE_NAMES[i])) {
            *out = (lc_st_dtype)i;
            return 0;
        }
    return -1;
}

/* "[2, 3]" into buf (for messages). */
static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

/* prod(shape) * esize, or -1 on overflow. */
static int shape_bytes(int ndim, const int64_t *shape, size_t esize, size_t *out) {
    size_t n = esize;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(n, (size_t)shape[i], &n)) return -1;
    *out = n;
    return 0;
}

static int cmp_by_name(const void *a, const void *b) {
    const lc_st_tensor *x = *(const lc_st_tensor *const *)a, *y = *(const lc_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_by_offset(const void *a, const void *b) {
    const lc_st_tensor *x = a, *y = b;
    if (x->file_offset != y->file_offset) return x->file_offset < y->file_offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes; /* empty tensors first */
}

/* Parse one tensor entry `v` named `name` into *t. data_size: bytes after the header. */
static lc_status parse_tensor(lc_st_tensor *t, const char *path, const char *name, json_t *v,
                              size_t data_start, size_t data_size) {
    char sbuf[256];
    if (!json_is_object(v))
        return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': header entry is not an object", path, name);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape");
    json_t *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd))
        return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': missing or non-string \"dtype\"", path, name);
    if (lc_st_dtype_parse(json_string_value(jd), &t->dtype))
        return lc_errorf(LC_ERR_FORMAT,
                         "%s: tensor '%s': unknown dtype \"%s\" (expected one of F64, F32, F16, BF16, "
                         "I64, I32, I16, I8, U8, BOOL)",
                         path, name, json_string_value(jd));
    if (!json_is_array(js))
        return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': missing or non-array \"shape\"", path, name);
    if (json_array_size(js) > LC_ST_MAX_DIMS)
        return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': %zu dimensions, at most %d supported", path,
                         name, json_array_size(js), LC_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(js);
    for (int i = 0; i < t->ndim; i++) {
        json_t *d = json_array_get(js, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                             path, name, i);
        t->shape[i] = json_integer_value(d);
    }
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1)))
        return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" must be [begin, end] integers",
                         path, name);
    json_int_t b = json_integer_value(json_array_get(jo, 0)), e = json_integer_value(json_array_get(jo, 1));
    if (b < 0 || e < b)
        return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': data_offsets [%lld, %lld] are not 0 <= begin <= end",
                         path, name, (long long)b, (long long)e);
    size_t need;
    if (shape_bytes(t->ndim, t->shape, lc_st_dtype_size(t->dtype), &need))
        return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': shape %s overflows", path, name,
                         shape_str(sbuf, sizeof sbuf, t->ndim, t->shape));
    if ((uint64_t)e > data_size)
        return lc_errorf(LC_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%lld, %lld] end beyond the data section "
                         "(expected the file to hold at least %llu bytes, found %zu): truncated file?",
                         path, name, (long long)b, (long long)e, (unsigned long long)(data_start + (uint64_t)e),
                         data_start + data_size);
    if (need != (size_t)(e - b))
        return lc_errorf(LC_ERR_FORMAT,
                         "%s: tensor '%s': shape %s x %s (%zu bytes each) needs %zu bytes, but "
                         "data_offsets [%lld, %lld] span %lld bytes",
                         path, name, shape_str(sbuf, sizeof sbuf, t->ndim, t->shape),
                         lc_st_dtype_name(t->dtype), lc_st_dtype_size(t->dtype), need, (long long)b,
                         (long long)e, (long long)(e - b));
    t->file_offset = data_start + (size_t)b;
    t->nbytes = need;
    return LC_OK;
}

static lc_status parse_metadata(lc_safetensors *st, json_t *meta) {
    if (!json_is_object(meta))
        return lc_errorf(LC_ERR_FORMAT, "%s: \"__metadata__\" is not an object of strings", st->path);
    size_t n = json_object_size(meta);
    st->meta_keys = calloc(n + 1, sizeof(char *));
    st->meta_vals = calloc(n + 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_vals) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            return lc_errorf(LC_ERR_FORMAT, "%s: __metadata__ key '%s': expected a string value", st->path, k);
        st->meta_keys[st->n_meta] = strdup(k);
        st->meta_vals[st->n_meta] = strdup(json_string_value(v));
        if (!st->meta_keys[st->n_meta] || !st->meta_vals[st->n_meta]) {
            st->n_meta++;
            return lc_errorf(LC_ERR_NOMEM, "out of memory");
        }
        st->n_meta++;
    }
    return LC_OK;
}

/* Parse the JSON header and fill the tensor tables. */
static lc_status parse_header(lc_safetensors *st, const char *hdr, size_t hlen) {
    lc_status rc = LC_OK;
    json_error_t jerr;
    json_t *root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return lc_errorf(LC_ERR_FORMAT, "%s: header JSON invalid at byte %d: %s", st->path, jerr.position,
                         jerr.text);
    if (!json_is_object(root)) {
        rc = lc_errorf(LC_ERR_FORMAT, "%s: header JSON is not an object", st->path);
        goto fail;
    }
    size_t data_start = 8 + hlen, data_size = st->file_size - data_start;
    size_t n = 0, name_bytes = 0;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (strcmp(k, "__metadata__")) {
            n++;
            name_bytes += strlen(k) + 1;
        }
    }
    st->tensors = calloc(n + 1, sizeof *st->tensors);
    st->by_name = calloc(n + 1, sizeof *st->by_name);
    st->names = malloc(name_bytes + 1);
    if (!st->tensors || !st->by_name || !st->names) {
        rc = lc_errorf(LC_ERR_NOMEM, "out of memory reading %s", st->path);
        goto fail;
    }
    char *np = st->names;
    json_object_foreach(root, k, v) {
        if (!strcmp(k, "__metadata__")) {
            if ((rc = parse_metadata(st, v))) goto fail;
            continue;
        }
        lc_st_tensor *t = &st->tensors[st->n_tensors];
        size_t kl = strlen(k);
        memcpy(np, k, kl + 1);
        t->name = np;
        np += kl + 1;
        if ((rc = parse_tensor(t, st->path, k, v, data_start, data_size))) goto fail;
        t->data = (const char *)st->map + t->file_offset;
        st->n_tensors++;
    }
    /* No two tensors may share bytes. */
    qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, cmp_by_offset);
    const lc_st_tensor *prev = NULL;
    for (int i = 0; i < st->n_tensors; i++) {
        const lc_st_tensor *t = &st->tensors[i];
        if (!t->nbytes) continue;
        if (prev && t->file_offset < prev->file_offset + prev->nbytes) {
            rc = lc_errorf(LC_ERR_FORMAT,
                           "%s: tensors '%s' (bytes %zu..%zu) and '%s' (bytes %zu..%zu) overlap", st->path,
                           prev->name, prev->file_offset - data_start,
                           prev->file_offset - data_start + prev->nbytes, t->name, t->file_offset - data_start,
                           t->file_offset - data_start + t->nbytes);
            goto fail;
        }
        prev = t;
    }
    for (int i = 0; i < st->n_tensors; i++) st->by_name[i] = &st->tensors[i];
    qsort(st->by_name, (size_t)st->n_tensors, sizeof *st->by_name, cmp_by_name);
fail:
    json_decref(root);
    return rc;
}

lc_status lc_safetensors_open(lc_safetensors *st, const char *path) {
    lc_status rc = LC_OK;
    memset(st, 0, sizeof *st);
    snprintf(st->path, sizeof st->path, "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lc_errorf(LC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = lc_errorf(LC_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    st->file_size = (size_t)sb.st_size;
    if (st->file_size < 8) {
        rc = lc_errorf(LC_ERR_FORMAT, "%s: file is %zu bytes, expected at least 8 (header length): truncated?",
                       path, st->file_size);
        goto fail;
    }
    st->map = mmap(NULL, st->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (st->map == MAP_FAILED) {
        st->map = NULL;
        rc = lc_errorf(LC_ERR_IO, "%s: mmap of %zu bytes failed: %s", path, st->file_size, strerror(errno));
        goto fail;
    }
    st->map_size = st->file_size;
    close(fd);
    fd = -1;
    const unsigned char *p = st->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen < 2 || hlen > ST_MAX_HEADER) {
        rc = lc_errorf(LC_ERR_FORMAT, "%s: header length %llu is not sane (expected 2 .. %llu bytes)", path,
                       (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER);
        goto fail;
    }
    if (8 + hlen > st->file_size) {
        rc = lc_errorf(LC_ERR_FORMAT,
                       "%s: header length %llu goes beyond the file (expected at least %llu bytes, found "
                       "%zu): truncated file?",
                       path, (unsigned long long)hlen, (unsigned long long)(8 + hlen), st->file_size);
        goto fail;
    }
    if ((rc = parse_header(st, (const char *)p + 8, (size_t)hlen))) goto fail;
    return LC_OK;
fail:
    if (fd >= 0) close(fd);
    lc_safetensors_close(st);
    return rc;
}

const lc_st_tensor *lc_safetensors_find(const lc_safetensors *st, const char *name) {
    int lo = 0, hi = st->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, st->by_name[mid]->name);
        if (!c) return st->by_name[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *lc_safetensors_meta(const lc_safetensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_vals[i];
    return NULL;
}

void lc_safetensors_take_map(lc_safetensors *st, void **map, size_t *size) {
    *map = st->map;
    *size = st->map_size;
    st->map = NULL;
    st->map_size = 0;
}

void lc_safetensors_close(lc_safetensors *st) {
    if (st->map) munmap(st->map, st->map_size);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_vals[i]);
    }
    free(st->meta_keys);
    free(st->meta_vals);
    free(st->tensors);
    free(st->by_name);
    free(st->names);
    memset(st, 0, sizeof *st);
}

/* ---- writer ---- */

typedef struct {
    const lc_st_tensor *t;
    int index;
} st_slot;

static int cmp_slot_layout(const void *a, const void *b) {
    const st_slot *x = a, *y = b;
    size_t sx = lc_st_dtype_size(x->t->dtype), sy = lc_st_dtype_size(y->t->dtype);
    if (sx != sy) return sx > sy ? -1 : 1; /* widest first keeps every tensor aligned */
    return x->index - y->index;
}

static int cmp_slot_name(const void *a, const void *b) {
    return strcmp(((const st_slot *)a)->t->name, ((const st_slot *)b)->t->name);
}

/* Check the tensor descriptions; fill slots in layout order. */
static lc_status check_write_args(const char *path, const lc_st_tensor *tensors, int n, st_slot *slots) {
    char sbuf[256];
    for (int i = 0; i < n; i++) {
        const lc_st_tensor *t = &tensors[i];
        size_t need = 0;
        if (!t->name || !t->name[0] || !strcmp(t->name, "__metadata__"))
            return lc_errorf(LC_ERR_ARG, "%s: tensor %d has an empty or reserved name", path, i);
        if ((unsigned)t->dtype >= LC_ST_DTYPE_COUNT || t->ndim < 0 || t->ndim > LC_ST_MAX_DIMS)
            return lc_errorf(LC_ERR_ARG, "%s: tensor '%s': bad dtype %d or ndim %d", path, t->name,
                             (int)t->dtype, t->ndim);
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0) return lc_errorf(LC_ERR_ARG, "%s: tensor '%s': negative dim", path, t->name);
        if (shape_bytes(t->ndim, t->shape, lc_st_dtype_size(t->dtype), &need) || need != t->nbytes)
            return lc_errorf(LC_ERR_ARG, "%s: tensor '%s': shape %s x %s needs %zu bytes, nbytes is %zu", path,
                             t->name, shape_str(sbuf, sizeof sbuf, t->ndim, t->shape),
                             lc_st_dtype_name(t->dtype), need, t->nbytes);
        if (t->nbytes && !t->data)
            return lc_errorf(LC_ERR_ARG, "%s: tensor '%s': data is NULL", path, t->name);
        slots[i].t = t;
        slots[i].index = i;
    }
    qsort(slots, (size_t)n, sizeof *slots, cmp_slot_name);
    for (int i = 1; i < n; i++)
        if (!strcmp(slots[i - 1].t->name, slots[i].t->name))
            return lc_errorf(LC_ERR_ARG, "%s: tensor name '%s' given twice", path, slots[i].t->name);
    qsort(slots, (size_t)n, sizeof *slots, cmp_slot_layout);
    return LC_OK;
}

/* JSON header text, padded with spaces to a multiple of 8 bytes. Caller frees. */
static char *build_header(const st_slot *slots, int n, const char *const *mk, const char *const *mv,
                          int n_meta, size_t *len) {
    json_t *root = json_object(), *meta = NULL;
    char *text = NULL, *out = NULL;
    if (!root) return NULL;
    if (n_meta > 0) {
        meta = json_object();
        if (!meta || json_object_set_new(root, "__metadata__", meta)) goto done;
        for (int i = 0; i < n_meta; i++)
            if (json_object_set_new(meta, mk[i], json_string(mv[i]))) goto done;
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const lc_st_tensor *t = slots[i].t;
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        if (!e || !shape || !offs) {
            json_decref(e);
            json_decref(shape);
            json_decref(offs);
            goto done;
        }
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + t->nbytes)));
        json_object_set_new(e, "dtype", json_string(lc_st_dtype_name(t->dtype)));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", offs);
        if (json_object_set_new(root, t->name, e)) goto done;
        off += t->nbytes;
    }
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) goto done;
    size_t tl = strlen(text), padded = (tl + 7) & ~(size_t)7;
    out = malloc(padded);
    if (!out) goto done;
    memcpy(out, text, tl);
    memset(out + tl, ' ', padded - tl);
    *len = padded;
done:
    free(text);
    json_decref(root);
    return out;
}

lc_status lc_safetensors_write(const char *path, const lc_st_tensor *tensors, int n,
                               const char *const *meta_keys, const char *const *meta_vals,
                               int n_meta) {
    lc_status rc = LC_OK;
    st_slot *slots = NULL;
    char *hdr = NULL, *tmp = NULL, *dirbuf = NULL;
    int fd = -1;
    if (n < 0 || n_meta < 0 || (n > 0 && !tensors) || (n_meta > 0 && (!meta_keys || !meta_vals)))
        return lc_errorf(LC_ERR_ARG, "%s: bad tensor or metadata arrays", path);
    for (int i = 0; i < n_meta; i++)
        if (!meta_keys[i] || !meta_vals[i])
            return lc_errorf(LC_ERR_ARG, "%s: metadata entry %d is NULL", path, i);
    slots = calloc((size_t)n + 1, sizeof *slots);
    if (!slots) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    if ((rc = check_write_args(path, tensors, n, slots))) goto fail;
    size_t hlen = 0;
    hdr = build_header(slots, n, meta_keys, meta_vals, n_meta, &hlen);
    if (!hdr) {
        rc = lc_errorf(LC_ERR_NOMEM, "%s: cannot build the header", path);
        goto fail;
    }
    size_t pl = strlen(path);
    tmp = malloc(pl + 16);
    if (!tmp) {
        rc = lc_errorf(LC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(tmp, pl + 16, "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = lc_errorf(LC_ERR_IO, "%s: cannot create temp file %s: %s", path, tmp, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto fail;
    }
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int bad = fchmod(fd, 0644) || lc_fs_write_full(fd, le, 8) || lc_fs_write_full(fd, hdr, hlen);
    for (int i = 0; i < n && !bad; i++) bad = lc_fs_write_full(fd, slots[i].t->data, slots[i].t->nbytes);
    if (bad || fsync(fd)) {
        rc = lc_errorf(LC_ERR_IO, "%s: writing %s failed: %s", path, tmp, strerror(errno));
        goto fail;
    }
    if (close(fd)) {
        fd = -1;
        rc = lc_errorf(LC_ERR_IO, "%s: closing %s failed: %s", path, tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path)) {
        rc = lc_errorf(LC_ERR_IO, "%s: rename from %s failed: %s", path, tmp, strerror(errno));
        goto fail;
    }
    free(tmp);
    tmp = NULL;
    /* Make the rename itself durable. */
    dirbuf = strdup(path);
    if (dirbuf) {
        int dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
fail:
    if (fd >= 0) close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(dirbuf);
    free(hdr);
    free(slots);
    return rc;
}
