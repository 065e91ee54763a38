/*
 * gguf_write.c — GGUF v3 writer: metadata of every type (nested arrays too)
 * and tensors of any lc_dtype, each aligned, saved atomically (write
 * path.tmp, fflush, fsync, rename over path).
 *
 * Metadata is serialised into a byte buffer as it is added, so the caller's
 * values need not outlive the call; tensor data is only referenced and is
 * copied to the file by lc_gguf_writer_write.
 */
#include "lc_gguf.h"
#include "lc_path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *name;
    lc_dtype type;
    int n_dims;
    int64_t ne[LC_GGUF_MAX_DIMS];
    const void *data;
    uint64_t nbytes, offset;
} wtensor;

struct lc_gguf_writer {
    uint32_t alignment;
    uint8_t *kv;          /* serialised key/value pairs */
    size_t kv_len, kv_cap;
    char **keys;          /* (n_kv) for duplicate checks */
    int64_t n_kv, cap_keys;
    wtensor *tensors;
    int64_t n_tensors, cap_tensors;
    uint64_t data_size;   /* running size of the data section */
};

static lc_status buf_put(lc_gguf_writer *w, const void *p, size_t n) {
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        while (cap < w->kv_len + n) cap *= 2;
        uint8_t *b = realloc(w->kv, cap);
        if (!b) return lc_errorf(LC_ERR_NOMEM, "GGUF writer: out of memory (%zu bytes of metadata)", cap);
        w->kv = b;
        w->kv_cap = cap;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
    return LC_OK;
}

static lc_status put_u32(lc_gguf_writer *w, uint32_t v) { return buf_put(w, &v, 4); }
static lc_status put_u64(lc_gguf_writer *w, uint64_t v) { return buf_put(w, &v, 8); }
static lc_status put_str(lc_gguf_writer *w, const char *p, uint64_t len) {
    lc_status s = put_u64(w, len);
    return s ? s : buf_put(w, p, (size_t)len);
}

static lc_status put_array(lc_gguf_writer *w, lc_gguf_type et, const void *data, uint64_t n, int depth);

/* The value's payload (without its type id). */
static lc_status put_value(lc_gguf_writer *w, const lc_gguf_value *v, int depth) {
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
        uint64_t u64; int64_t i64; float f32; double f64;
    } x;
    switch (v->type) {
    case LC_GGUF_UINT8: case LC_GGUF_BOOL: x.u8 = (uint8_t)v->u64; break;
    case LC_GGUF_INT8: x.i8 = (int8_t)v->i64; break;
    case LC_GGUF_UINT16: x.u16 = (uint16_t)v->u64; break;
    case LC_GGUF_INT16: x.i16 = (int16_t)v->i64; break;
    case LC_GGUF_UINT32: x.u32 = (uint32_t)v->u64; break;
    case LC_GGUF_INT32: x.i32 = (int32_t)v->i64; break;
    case LC_GGUF_UINT64: x.u64 = v->u64; break;
    case LC_GGUF_INT64: x.i64 = v->i64; break;
    case LC_GGUF_FLOAT32: x.f32 = (float)v->f64; break;
    case LC_GGUF_FLOAT64: x.f64 = v->f64; break;
    case LC_GGUF_STRING: return put_str(w, v->str.ptr, v->str.len);
    case LC_GGUF_ARRAY: return put_array(w, v->arr.type, v->arr.data, v->arr.n, depth);
    default: return lc_errorf(LC_ERR_ARG, "GGUF writer: value type id %d is not a GGUF type", (int)v->type);
    }
    return buf_put(w, &x, lc_gguf_type_size(v->type));
}

static lc_status put_array(lc_gguf_writer *w, lc_gguf_type et, const void *data, uint64_t n, int depth) {
    lc_status s;
    if ((unsigned)et >= LC_GGUF_TYPE_COUNT)
        return lc_errorf(LC_ERR_ARG, "GGUF writer: array element type id %d is not a GGUF type", (int)et);
    if (depth > 8) return lc_errorf(LC_ERR_ARG, "GGUF writer: arrays nested deeper than 8 levels");
    if ((s = put_u32(w, (uint32_t)et)) || (s = put_u64(w, n))) return s;
    if (et == LC_GGUF_STRING) {
        const lc_gguf_str *strs = data;
        for (uint64_t i = 0; i < n; i++)
            if ((s = put_str(w, strs[i].ptr, strs[i].len))) return s;
    } else if (et == LC_GGUF_ARRAY) {
        const lc_gguf_value *vals = data;
        for (uint64_t i = 0; i < n; i++) {
            if (vals[i].type != LC_GGUF_ARRAY)
                return lc_errorf(LC_ERR_ARG, "GGUF writer: element %llu of an array of arrays has type %s",
                                 (unsigned long long)i, lc_gguf_type_name(vals[i].type));
            if ((s = put_value(w, &vals[i], depth + 1))) return s;
        }
    } else if (n) {
        return buf_put(w, data, (size_t)n * lc_gguf_type_size(et));
    }
    return LC_OK;
}

lc_status lc_gguf_writer_init(lc_gguf_writer **out, uint32_t alignment) {
    *out = NULL;
    if (alignment == 0) alignment = 32;
    if (alignment & (alignment - 1))
        return lc_errorf(LC_ERR_ARG, "GGUF writer: alignment %u is not a power of two", alignment);
    lc_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return lc_errorf(LC_ERR_NOMEM, "GGUF writer: out of memory");
    w->alignment = alignment;
    if (alignment != 32) {
        lc_status s = lc_gguf_writer_add_u32(w, "general.alignment", alignment);
        if (s) {
            lc_gguf_writer_free(w);
            return s;
        }
    }
    *out = w;
    return LC_OK;
}

void lc_gguf_writer_free(lc_gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (int64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->keys);
    free(w->tensors);
    free(w->kv);
    free(w);
}

lc_status lc_gguf_writer_add_kv(lc_gguf_writer *w, const char *key, const lc_gguf_value *val) {
    lc_status s;
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return lc_errorf(LC_ERR_ARG, "GGUF writer: duplicate metadata key '%s'", key);
    if (w->n_kv == w->cap_keys) {
        int64_t cap = w->cap_keys ? 2 * w->cap_keys : 32;
        char **k = realloc(w->keys, (size_t)cap * sizeof *k);
        if (!k) return lc_errorf(LC_ERR_NOMEM, "GGUF writer: out of memory");
        w->keys = k;
        w->cap_keys = cap;
    }
    char *kc = strdup(key);
    if (!kc) return lc_errorf(LC_ERR_NOMEM, "GGUF writer: out of memory");
    size_t mark = w->kv_len;
    if ((s = put_str(w, key, strlen(key))) || (s = put_u32(w, (uint32_t)val->type)) ||
        (s = put_value(w, val, 0))) {
        w->kv_len = mark; /* drop the partial entry */
        free(kc);
        return lc_error_wrap(s, "GGUF writer: key '%s'", key);
    }
    w->keys[w->n_kv++] = kc;
    return LC_OK;
}

lc_status lc_gguf_writer_add_str(lc_gguf_writer *w, const char *key, const char *s) {
    lc_gguf_value v = {.type = LC_GGUF_STRING, .str = {s, strlen(s)}};
    return lc_gguf_writer_add_kv(w, key, &v);
}
lc_status lc_gguf_writer_add_u32(lc_gguf_writer *w, const char *key, uint32_t x) {
    lc_gguf_value v = {.type = LC_GGUF_UINT32, .u64 = x};
    return lc_gguf_writer_add_kv(w, key, &v);
}
lc_status lc_gguf_writer_add_i32(lc_gguf_writer *w, const char *key, int32_t x) {
    lc_gguf_value v = {.type = LC_GGUF_INT32, .i64 = x};
    return lc_gguf_writer_add_kv(w, key, &v);
}
lc_status lc_gguf_writer_add_f32(lc_gguf_writer *w, const char *key, float x) {
    lc_gguf_value v = {.type = LC_GGUF_FLOAT32, .f64 = x};
    return lc_gguf_writer_add_kv(w, key, &v);
}
lc_status lc_gguf_writer_add_bool(lc_gguf_writer *w, const char *key, int x) {
    lc_gguf_value v = {.type = LC_GGUF_BOOL, .u64 = x ? 1 : 0};
    return lc_gguf_writer_add_kv(w, key, &v);
}
lc_status lc_gguf_writer_add_arr(lc_gguf_writer *w, const char *key, lc_gguf_type elem_type, const void *data,
                                 uint64_t n) {
    lc_gguf_value v = {.type = LC_GGUF_ARRAY, .arr = {elem_type, n, data}};
    return lc_gguf_writer_add_kv(w, key, &v);
}

lc_status lc_gguf_writer_add_tensor(lc_gguf_writer *w, const char *name, lc_dtype t, int n_dims,
                                    const int64_t *ne, const void *data) {
    if ((unsigned)t >= LC_DT_COUNT)
        return lc_errorf(LC_ERR_ARG, "GGUF writer: tensor '%s': invalid type %d", name, (int)t);
    if (n_dims < 1 || n_dims > LC_GGUF_MAX_DIMS)
        return lc_errorf(LC_ERR_ARG, "GGUF writer: tensor '%s': %d dims, expected 1..%d", name, n_dims,
                         LC_GGUF_MAX_DIMS);
    for (int64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return lc_errorf(LC_ERR_ARG, "GGUF writer: duplicate tensor name '%s'", name);
    if (ne[0] <= 0 || ne[0] % lc_dtype_block_elems(t) != 0)
        return lc_errorf(LC_ERR_ARG, "GGUF writer: tensor '%s': %s rows need a positive multiple of %d "
                         "elements, got %lld", name, lc_dtype_name(t), lc_dtype_block_elems(t), (long long)ne[0]);
    if (w->n_tensors == w->cap_tensors) {
        int64_t cap = w->cap_tensors ? 2 * w->cap_tensors : 64;
        wtensor *tt = realloc(w->tensors, (size_t)cap * sizeof *tt);
        if (!tt) return lc_errorf(LC_ERR_NOMEM, "GGUF writer: out of memory");
        w->tensors = tt;
        w->cap_tensors = cap;
    }
    wtensor *wt = &w->tensors[w->n_tensors];
    memset(wt, 0, sizeof *wt);
    uint64_t rows = 1;
    for (int d = 0; d < LC_GGUF_MAX_DIMS; d++) {
        wt->ne[d] = d < n_dims ? ne[d] : 1;
        if (wt->ne[d] < 0) return lc_errorf(LC_ERR_ARG, "GGUF writer: tensor '%s': negative dim", name);
        if (d > 0) rows *= (uint64_t)wt->ne[d];
    }
    wt->name = strdup(name);
    if (!wt->name) return lc_errorf(LC_ERR_NOMEM, "GGUF writer: out of memory");
    wt->type = t;
    wt->n_dims = n_dims;
    wt->data = data;
    wt->nbytes = (uint64_t)lc_dtype_row_bytes(t, ne[0]) * rows;
    wt->offset = w->data_size;
    uint64_t a = w->alignment;
    w->data_size = (wt->offset + wt->nbytes + a - 1) / a * a;
    w->n_tensors++;
    return LC_OK;
}

static int write_zeros(FILE *f, uint64_t n) {
    static const uint8_t z[64];
    while (n) {
        size_t k = n > sizeof z ? sizeof z : (size_t)n;
        if (fwrite(z, 1, k, f) != k) return -1;
        n -= k;
    }
    return 0;
}

static int write_all(lc_gguf_writer *w, FILE *f) {
    uint32_t magic = 0x46554747u, version = 3;
    uint64_t nt = (uint64_t)w->n_tensors, nkv = (uint64_t)w->n_kv;
    if (fwrite(&magic, 4, 1, f) != 1 || fwrite(&version, 4, 1, f) != 1 || fwrite(&nt, 8, 1, f) != 1 ||
        fwrite(&nkv, 8, 1, f) != 1)
        return -1;
    if (w->kv_len && fwrite(w->kv, 1, w->kv_len, f) != w->kv_len) return -1;
    uint64_t pos = 24 + w->kv_len;
    for (int64_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        uint64_t len = strlen(t->name);
        uint32_t nd = (uint32_t)t->n_dims, gt = lc_dtype_to_ggml(t->type);
        if (fwrite(&len, 8, 1, f) != 1 || fwrite(t->name, 1, len, f) != len || fwrite(&nd, 4, 1, f) != 1)
            return -1;
        for (int d = 0; d < t->n_dims; d++) {
            uint64_t ne = (uint64_t)t->ne[d];
            if (fwrite(&ne, 8, 1, f) != 1) return -1;
        }
        if (fwrite(&gt, 4, 1, f) != 1 || fwrite(&t->offset, 8, 1, f) != 1) return -1;
        pos += 8 + len + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
    }
    uint64_t a = w->alignment;
    if (write_zeros(f, (a - pos % a) % a)) return -1;
    uint64_t done = 0;
    for (int64_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        if (lc_interrupt_pending()) { /* Ctrl-C / SIGTERM: the temp file is removed, nothing renamed */
            errno = EINTR;
            return -1;
        }
        if (write_zeros(f, t->offset - done)) return -1;
        if (t->nbytes && fwrite(t->data, 1, (size_t)t->nbytes, f) != t->nbytes) return -1;
        done = t->offset + t->nbytes;
    }
    return write_zeros(f, w->data_size - done);
}

lc_status lc_gguf_writer_write(lc_gguf_writer *w, const char *path) {
    char tmp[4096];
    lc_status pst = lc_path_fmt(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (pst) return lc_error_wrap(pst, "GGUF writer");
    unlink(tmp); /* a stale temp of ours or a planted symlink: removed, never followed */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        int err = errno;
        if (fd >= 0) close(fd), unlink(tmp);
        return lc_errorf(LC_ERR_IO, "%s: cannot create: %s", tmp, strerror(err));
    }
    int bad = write_all(w, f);
    int err = errno;
    if (!bad && fflush(f) != 0) bad = 1, err = errno;
    if (!bad && fsync(fileno(f)) != 0) bad = 1, err = errno;
    if (fclose(f) != 0 && !bad) bad = 1, err = errno;
    if (!bad && rename(tmp, path) != 0) bad = 1, err = errno;
    if (bad) {
        unlink(tmp);
        return lc_errorf(LC_ERR_IO, "%s: writing GGUF failed: %s", path, strerror(err));
    }
    return LC_OK;
}
