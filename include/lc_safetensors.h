/*
 * lc_safetensors.h — reading and writing Hugging Face safetensors files.
 *
 * Layout: u64 little-endian N, then N bytes of UTF-8 JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "value", ...}}, then the byte buffer; offsets are
 * relative to the start of the buffer (byte 8 + N). Tensors are row-major,
 * little-endian.
 *
 * Reading maps the file read-only (mmap) and validates the whole header up
 * front, so tensor data pointers can be used without further checks.
 * Writing is atomic: temp file in the same directory, fsync, rename.
 */
#ifndef LC_SAFETENSORS_H
#define LC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include <string.h>

#include "lc_common.h"
#include "lc_quant.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LC_ST_F64 = 0,
    LC_ST_F32,
    LC_ST_F16,
    LC_ST_BF16,
    LC_ST_I64,
    LC_ST_I32,
    LC_ST_I16,
    LC_ST_I8,
    LC_ST_U8,
    LC_ST_BOOL,
    LC_ST_DTYPE_COUNT
} lc_st_dtype;

#define LC_ST_MAX_DIMS 8

/* Name as written in the header ("F32", "BF16", ...). */
const char *lc_st_dtype_name(lc_st_dtype t);
/* Bytes per element (8, 4, 2 or 1). */
size_t lc_st_dtype_size(lc_st_dtype t);
/* Parse a header dtype name; returns 0 and sets *out, or -1 if unknown. */
int lc_st_dtype_parse(const char *name, lc_st_dtype *out);

/* One tensor. When read: name and data point into the open file's memory
 * (valid until lc_safetensors_close); data may be unaligned.
 * When written: caller-owned; nbytes must equal prod(shape) * dtype size. */
typedef struct {
    const char *name;
    lc_st_dtype dtype;
    int ndim;                       /* 0 = scalar (1 element) */
    int64_t shape[LC_ST_MAX_DIMS];  /* (shape[0], ..., shape[ndim-1]) */
    const void *data;
    size_t nbytes;
    size_t file_offset;             /* read only: absolute byte offset of data in the file */
} lc_st_tensor;

/* Element i of an F32, F16 or BF16 tensor (any alignment), as fp32. */
static inline float lc_safetensors_elem_f32(const lc_st_tensor *t, size_t i) {
    const unsigned char *p = (const unsigned char *)t->data;
    if (t->dtype == LC_ST_F32) {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, p + 2 * i, 2);
    return t->dtype == LC_ST_F16 ? lc_f16_to_f32(h) : lc_bf16_to_f32(h);
}

typedef struct {
    char path[1024];
    void *map;          /* whole file, PROT_READ; NULL after lc_safetensors_take_map */
    size_t map_size;
    size_t file_size;
    lc_st_tensor *tensors; /* n_tensors, sorted by data offset */
    const lc_st_tensor **by_name; /* n_tensors, sorted by name (for find) */
    int n_tensors;
    char **meta_keys, **meta_vals; /* n_meta each, owned */
    int n_meta;
    char *names;           /* owned storage for tensor names */
} lc_safetensors;

/* Open and validate `path`: header length sane and inside the file, JSON well
 * formed, every dtype known, prod(shape) * dtype size == data_offsets span,
 * spans inside the file and non-overlapping, __metadata__ a map of strings.
 * On failure returns LC_ERR_IO / LC_ERR_FORMAT / LC_ERR_NOMEM with a message
 * naming the file, the tensor, what was expected and what was found; *st is
 * left zeroed (lc_safetensors_close on it is harmless). */
lc_status lc_safetensors_open(lc_safetensors *st, const char *path);
/* Tensor by name, or NULL (binary search in a name index built on open). */
const lc_st_tensor *lc_safetensors_find(const lc_safetensors *st, const char *name);
/* __metadata__ value for key, or NULL. */
const char *lc_safetensors_meta(const lc_safetensors *st, const char *key);
/* Hand the mapping to the caller (e.g. lc_model_own(m, map, size, 1)): tensor
 * data pointers stay valid as long as the caller keeps it mapped; close then
 * frees only the header tables. */
void lc_safetensors_take_map(lc_safetensors *st, void **map, size_t *size);
/* Unmap (unless taken) and free everything; zeroes *st. Safe on a zeroed struct. */
void lc_safetensors_close(lc_safetensors *st);

/* Write n tensors and n_meta metadata string pairs (meta may be NULL when
 * n_meta == 0) to `path` atomically. Tensor names must be unique and not
 * "__metadata__"; ndim <= LC_ST_MAX_DIMS. Data are laid out with the widest
 * dtypes first so every tensor is aligned to its element size, with no gaps
 * (as the reference implementation requires). Returns LC_OK, LC_ERR_ARG on a
 * bad tensor description, LC_ERR_IO on a write failure (the target file is
 * then untouched). */
lc_status lc_safetensors_write(const char *path, const lc_st_tensor *tensors, int n,
                               const char *const *meta_keys, const char *const *meta_vals,
                               int n_meta);

#ifdef __cplusplus
}
#endif
#endif /* LC_SAFETENSORS_H */
