/*
 * lc_gguf.h — GGUF files (llama.cpp's model format): a strict reader for
 * versions 2 and 3 (memory-mapped), an atomic writer, and a loader that turns
 * a Llama-family GGUF into an lc_model with its matrices still quantised.
 *
 * File layout (little-endian):
 *   u32 magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv x { str key | u32 value_type | value }
 *   n_tensors x { str name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 *   zero padding to `general.alignment` (default 32) | tensor data
 * str = u64 length + bytes (no NUL); array value = u32 elem_type | u64 n | n values.
 * ne[0] is the fastest-varying dimension: a matrix (rows, cols) has ne = {cols, rows}.
 * Each tensor's offset is relative to the start of the data and aligned.
 *
 * Metadata is copied out of the file at open time (keys and strings NUL-
 * terminated, arrays in native aligned layout), so it stays valid even after
 * the mapping is handed to a model with lc_gguf_release_map.
 */
#ifndef LC_GGUF_H
#define LC_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "lc_common.h"
#include "lc_model.h"
#include "lc_quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata value types, with GGUF's numeric ids. */
typedef enum {
    LC_GGUF_UINT8 = 0,
    LC_GGUF_INT8 = 1,
    LC_GGUF_UINT16 = 2,
    LC_GGUF_INT16 = 3,
    LC_GGUF_UINT32 = 4,
    LC_GGUF_INT32 = 5,
    LC_GGUF_FLOAT32 = 6,
    LC_GGUF_BOOL = 7,
    LC_GGUF_STRING = 8,
    LC_GGUF_ARRAY = 9,
    LC_GGUF_UINT64 = 10,
    LC_GGUF_INT64 = 11,
    LC_GGUF_FLOAT64 = 12,
    LC_GGUF_TYPE_COUNT
} lc_gguf_type;

const char *lc_gguf_type_name(lc_gguf_type t); /* "uint32", "string", ... */
/* Bytes of one scalar of type t in a GGUF file (0 for STRING and ARRAY). */
size_t lc_gguf_type_size(lc_gguf_type t);

/* A string: `len` bytes at `ptr`, followed by a NUL (ptr may contain NULs). */
typedef struct {
    const char *ptr;
    uint64_t len;
} lc_gguf_str;

/* One metadata value. Scalars: u64 for UINT8..UINT64 and BOOL (0/1), i64 for
 * INT8..INT64, f64 for FLOAT32/FLOAT64, str for STRING. Arrays: arr.data holds
 * arr.n elements of arr.type in native layout: uint8_t/int8_t/.../float/double
 * (BOOL as uint8_t), lc_gguf_str for STRING, lc_gguf_value for ARRAY (nested). */
typedef struct lc_gguf_value {
    lc_gguf_type type;
    union {
        uint64_t u64;
        int64_t i64;
        double f64;
        lc_gguf_str str;
        struct {
            lc_gguf_type type;
            uint64_t n;
            const void *data;
        } arr;
    };
} lc_gguf_value;

typedef struct {
    const char *key; /* NUL-terminated */
    lc_gguf_value val;
} lc_gguf_kv;

#define LC_GGUF_MAX_DIMS 4

typedef struct {
    const char *name;              /* NUL-terminated */
    int n_dims;                    /* 1..4 */
    int64_t ne[LC_GGUF_MAX_DIMS];  /* ggml order: ne[0] = columns; unused dims are 1 */
    uint32_t ggml_type;            /* the id in the file */
    lc_dtype type;                 /* LC_DT_COUNT if lorac cannot dequantise this type */
    uint64_t offset;               /* relative to the data section */
    uint64_t nbytes;
    const void *data;              /* into the mapping */
} lc_gguf_tensor;

typedef struct lc_gguf lc_gguf;

/* Open and validate a GGUF file (v2/v3). Every read is bounds-checked: a
 * truncated file, bad magic, unsupported version, impossible counts, a
 * duplicate key or tensor, a tensor beyond the end of the file or misaligned,
 * or an unknown tensor type return LC_ERR_FORMAT / LC_ERR_UNSUPPORTED with the
 * file, the key or tensor, and expected vs found. Known ggml types lorac cannot
 * dequantise (e.g. IQ2_XXS) open fine with tensor.type = LC_DT_COUNT.
 * On success *out is owned by the caller: lc_gguf_close. */
lc_status lc_gguf_open(lc_gguf **out, const char *path);
void lc_gguf_close(lc_gguf *g);

const char *lc_gguf_path(const lc_gguf *g);
uint32_t lc_gguf_version(const lc_gguf *g);
uint32_t lc_gguf_alignment(const lc_gguf *g);
uint64_t lc_gguf_data_offset(const lc_gguf *g); /* absolute file offset of the data section */

int64_t lc_gguf_n_kv(const lc_gguf *g);
const lc_gguf_kv *lc_gguf_kv_at(const lc_gguf *g, int64_t i);
/* The value of `key`, or NULL if absent. */
const lc_gguf_value *lc_gguf_find(const lc_gguf *g, const char *key);

/* Typed getters. LC_ERR_FORMAT ("<file>: key 'k' not found" / "has type float32,
 * expected an integer") when absent or of the wrong type.
 * get_int accepts any integer type (and bool), failing if it does not fit int64;
 * get_float accepts float32/float64 and integers; get_str returns a pointer
 * owned by g; get_arr checks the element type and returns the native array. */
lc_status lc_gguf_get_int(const lc_gguf *g, const char *key, int64_t *out);
lc_status lc_gguf_get_float(const lc_gguf *g, const char *key, double *out);
lc_status lc_gguf_get_bool(const lc_gguf *g, const char *key, int *out);
lc_status lc_gguf_get_str(const lc_gguf *g, const char *key, const char **out);
lc_status lc_gguf_get_arr(const lc_gguf *g, const char *key, lc_gguf_type elem_type,
                          const void **data, uint64_t *n);

int64_t lc_gguf_n_tensors(const lc_gguf *g);
const lc_gguf_tensor *lc_gguf_tensor_at(const lc_gguf *g, int64_t i);
/* The tensor named `name`, or NULL. */
const lc_gguf_tensor *lc_gguf_find_tensor(const lc_gguf *g, const char *name);

/* Hand the file mapping to a new owner (e.g. lc_model_own(m, base, size, 1)).
 * Tensor data pointers stay valid while the new owner keeps the mapping;
 * metadata stays valid until lc_gguf_close. Returns LC_ERR_ARG if already released. */
lc_status lc_gguf_release_map(lc_gguf *g, void **base, size_t *size);

/* ggml type ids <-> lc_dtype. lc_dtype_from_ggml returns LC_DT_COUNT for ids
 * lorac cannot dequantise. */
lc_dtype lc_dtype_from_ggml(uint32_t ggml_type);
uint32_t lc_dtype_to_ggml(lc_dtype t);
/* Name of a ggml type id ("Q5_0", ...) or NULL if unknown to lorac. */
const char *lc_ggml_type_name(uint32_t ggml_type);

/* ---------------- writer ---------------- */

typedef struct lc_gguf_writer lc_gguf_writer;

/* A new, empty writer (version 3). alignment 0 => 32; otherwise a power of two,
 * written as general.alignment when not 32. */
lc_status lc_gguf_writer_init(lc_gguf_writer **out, uint32_t alignment);
void lc_gguf_writer_free(lc_gguf_writer *w);
/* Add a metadata key (deep copy of the value, arrays included). Duplicate keys
 * are LC_ERR_ARG. Convenience wrappers for the common scalar types follow. */
lc_status lc_gguf_writer_add_kv(lc_gguf_writer *w, const char *key, const lc_gguf_value *val);
lc_status lc_gguf_writer_add_str(lc_gguf_writer *w, const char *key, const char *s);
lc_status lc_gguf_writer_add_u32(lc_gguf_writer *w, const char *key, uint32_t v);
lc_status lc_gguf_writer_add_i32(lc_gguf_writer *w, const char *key, int32_t v);
lc_status lc_gguf_writer_add_f32(lc_gguf_writer *w, const char *key, float v);
lc_status lc_gguf_writer_add_bool(lc_gguf_writer *w, const char *key, int v);
/* Array of n elements of elem_type, laid out as in lc_gguf_value.arr (for STRING,
 * `data` is an array of lc_gguf_str). */
lc_status lc_gguf_writer_add_arr(lc_gguf_writer *w, const char *key, lc_gguf_type elem_type,
                                 const void *data, uint64_t n);
/* Add a tensor of type t with n_dims dims ne (ggml order, ne[0] = columns,
 * a multiple of t's block size); `data` holds lc_dtype_row_bytes(t, ne[0]) *
 * ne[1] * ... bytes and is NOT copied: keep it alive until the write. */
lc_status lc_gguf_writer_add_tensor(lc_gguf_writer *w, const char *name, lc_dtype t, int n_dims,
                                    const int64_t *ne, const void *data);
/* Write the file atomically (path.tmp, fsync, rename). */
lc_status lc_gguf_writer_write(lc_gguf_writer *w, const char *path);

/* ---------------- model loading ---------------- */

/* Load a GGUF model (general.architecture "llama" or "qwen2") into *m
 * (zeroed by the caller or freshly lc_model_free'd). Quantised matrices stay
 * quantised and point into the mapping, which the model owns; q/k rows are
 * reordered from llama.cpp's interleaved RoPE layout back to HF rotate-half
 * order (into owned buffers, bit-exactly); norms and biases are dequantised
 * float copies. m->identity is lc_model_identity_compute's digest (lc_loader.h).
 * If keep is non-NULL, *keep receives the open file (metadata for the
 * tokenizer; lc_gguf_close it); otherwise it is closed. On error *m is freed. */
lc_status lc_model_load_gguf(lc_model *m, const char *path, lc_gguf **keep);

/* Reorder the rows of a q or k weight (n_heads*head_dim rows of row_bytes
 * each) from llama.cpp's GGUF order to HF order: HF row h*hd + s*hd/2 + i is
 * GGUF row h*hd + 2*i + s. dst and src must not overlap. */
void lc_gguf_unpermute_rows(void *dst, const void *src, int n_heads, int head_dim, size_t row_bytes);

/* Tokenizer metadata of an open GGUF (pointers owned by g). Absent items are
 * NULL / 0 / -1. token_type uses llama.cpp's ids (1 normal, 2 unknown,
 * 3 control, 4 user-defined, 5 unused, 6 byte). */
typedef struct {
    const char *model;         /* tokenizer.ggml.model: "gpt2", "llama", ... */
    const char *pre;           /* tokenizer.ggml.pre: pre-tokenizer name, e.g. "smollm" */
    const lc_gguf_str *tokens; /* (n_tokens) */
    int64_t n_tokens;
    const float *scores;       /* (n_tokens) or NULL */
    const int32_t *token_type; /* (n_tokens) or NULL */
    const lc_gguf_str *merges; /* (n_merges) "a b" strings, or NULL */
    int64_t n_merges;
    int bos_id, eos_id, unk_id, pad_id; /* -1 if absent */
    int add_bos, add_eos;      /* -1 if absent, else 0/1 */
    int add_space_prefix;      /* tokenizer.ggml.add_space_prefix: -1 if absent, else 0/1 */
    const char *chat_template; /* tokenizer.chat_template or NULL */
} lc_gguf_tokenizer;

/* Fill *t from g. LC_ERR_FORMAT if tokenizer.ggml.tokens is missing or a
 * present key has the wrong type or length. */
lc_status lc_gguf_tokenizer_info(const lc_gguf *g, lc_gguf_tokenizer *t);

#ifdef __cplusplus
}
#endif
#endif /* LC_GGUF_H */
