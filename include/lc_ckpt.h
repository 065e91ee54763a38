/*
 * lc_ckpt.h — a generic HDF5 container for LoRA adapters and training state.
 *
 * An lc_ckpt is a list of named datasets plus attributes. The training code
 * decides what goes in; this module only knows how to store it safely:
 *
 *   datasets   float32 tensors (rank 0..LC_CKPT_MAX_DIMS), int64 / uint64
 *              arrays, raw byte arrays (uint8) and UTF-8 strings (scalar).
 *              Names are HDF5 paths: "adapter/base_model.model.model.layers.0
 *              .self_attn.q_proj.lora_A.weight" is dataset
 *              "base_model...lora_A.weight" (dots and all) in group "adapter".
 *   attributes string / int64 / double, on the root ("" or "/"), on a group
 *              (created if no dataset lives under it) or on a dataset.
 *
 * Writing is atomic (temp file, flush, fsync, rename, fsync of the directory)
 * and refuses non-finite floats before touching the disk. Reading loads the
 * whole file into memory owned by the lc_ckpt. The exact on-disk layout is in
 * docs/formats.md ("HDF5 checkpoints").
 *
 * Ownership: float tensors added for writing are BORROWED (the caller keeps
 * them alive and unchanged until lc_ckpt_write returns or lc_ckpt_free);
 * everything else passed in (int arrays, bytes, strings, attribute values,
 * names) is copied. Pointers returned by getters are owned by the lc_ckpt and
 * valid until lc_ckpt_free.
 *
 * HDF5's automatic error-stack printing is switched off by every call that
 * touches a file; HDF5 failures come back as lc_status with a message naming
 * the file and the object.
 */
#ifndef LC_CKPT_H
#define LC_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "lc_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LC_CKPT_MAX_DIMS 8
/* Numeric datasets larger than this many bytes are stored chunked (chunks of
 * at most 1 MiB) with the shuffle + deflate (level 4) filters. */
#define LC_CKPT_COMPRESS_MIN_BYTES 4096
#define LC_CKPT_DEFLATE_LEVEL 4

typedef struct lc_ckpt lc_ckpt;

typedef enum {
    LC_CKPT_F32 = 0, /* float tensor (files: any float type, converted to f32) */
    LC_CKPT_I64,     /* signed integers (files: any signed width, widened) */
    LC_CKPT_U64,     /* unsigned integers wider than 8 bits (widened) */
    LC_CKPT_BYTES,   /* uint8 array */
    LC_CKPT_STRING,  /* scalar string (fixed or variable length in files) */
    LC_CKPT_OTHER,   /* a dataset lorac does not read: listed, never loaded */
} lc_ckpt_kind;

typedef enum {
    LC_CKPT_ATTR_STR = 0,
    LC_CKPT_ATTR_I64,
    LC_CKPT_ATTR_F64,
    LC_CKPT_ATTR_OTHER, /* e.g. an array attribute written by another tool */
} lc_ckpt_attr_kind;

/* One dataset, as listed by lc_ckpt_entry_at / lc_ckpt_find. */
typedef struct {
    const char *name;  /* "group/sub/dataset", no leading '/' */
    lc_ckpt_kind kind;
    int ndim;          /* 0 for scalars and strings */
    int64_t shape[LC_CKPT_MAX_DIMS];
    size_t numel;      /* elements; for BYTES and STRING the byte length */
    const char *note;  /* for OTHER: what the type is; else NULL */
} lc_ckpt_entry;

/* One attribute, as listed by lc_ckpt_attr_at. */
typedef struct {
    const char *object; /* "" = root, else a group or dataset path */
    const char *key;
    lc_ckpt_attr_kind kind;
} lc_ckpt_attr;

/* ---- building ---- */

/* A new, empty container. *out is NULL on failure. Free with lc_ckpt_free. */
lc_status lc_ckpt_create(lc_ckpt **out);
/* Free c and everything it owns (never the borrowed float tensors). NULL ok. */
void lc_ckpt_free(lc_ckpt *c);

/* Add a float32 tensor. shape has ndim entries (each >= 0; ndim 0 = scalar);
 * data holds prod(shape) floats, row-major, BORROWED until write/free.
 * Errors (LC_ERR_ARG): bad name (empty, "//", "." or ".." components,
 * trailing '/'), a name already used, a name that would be both a dataset
 * and a group ("a" and "a/b"), ndim out of range, negative dimension. */
lc_status lc_ckpt_add_f32(lc_ckpt *c, const char *name, int ndim,
                          const int64_t *shape, const float *data);
/* Add 1-D integer arrays of n elements (copied). */
lc_status lc_ckpt_add_i64(lc_ckpt *c, const char *name, size_t n, const int64_t *data);
lc_status lc_ckpt_add_u64(lc_ckpt *c, const char *name, size_t n, const uint64_t *data);
/* Add n raw bytes (copied) as a 1-D uint8 dataset. */
lc_status lc_ckpt_add_bytes(lc_ckpt *c, const char *name, const void *data, size_t n);
/* Add a NUL-terminated UTF-8 text (copied) as a scalar string dataset
 * (e.g. the training config as YAML, a chat template). */
lc_status lc_ckpt_add_string(lc_ckpt *c, const char *name, const char *text);

/* Set an attribute on `object` ("" or "/" for the root). Setting the same
 * (object, key) again replaces the value (and its type). */
lc_status lc_ckpt_set_attr_str(lc_ckpt *c, const char *object, const char *key, const char *value);
lc_status lc_ckpt_set_attr_i64(lc_ckpt *c, const char *object, const char *key, int64_t value);
lc_status lc_ckpt_set_attr_f64(lc_ckpt *c, const char *object, const char *key, double value);

/* ---- files ---- */

/* Write c to `path` atomically:
 *  1. every float tensor is checked finite first; NaN/inf => LC_ERR_NUMERIC
 *     naming the tensor and the first bad element, and nothing is created;
 *  2. the file is written as "<path>.tmp.<pid>" in the same directory,
 *     flushed and closed, fsync'ed, renamed over `path`, and the directory
 *     is fsync'ed.
 * On any failure the temp file is removed and an existing file at `path` is
 * untouched. Errors: LC_ERR_IO (cannot create/write/rename, with the OS
 * reason), LC_ERR_NUMERIC, LC_ERR_UNSUPPORTED (an OTHER entry from a loaded
 * file cannot be re-written), LC_ERR_FORMAT (HDF5 refused an object, e.g.
 * an attribute on a path that runs through a dataset).
 * Output is deterministic: the same container gives the same bytes. */
lc_status lc_ckpt_write(const lc_ckpt *c, const char *path);

/* Load every dataset and attribute of an HDF5 file into a new container
 * (for trusted files: tests, tools; lorac's readers of adapters use
 * lc_ckpt_read_named, which never walks the file's links)
 * (*out NULL on failure). Datasets of types lorac does not read are listed as
 * LC_CKPT_OTHER. Errors: LC_ERR_IO (cannot open), LC_ERR_FORMAT (not HDF5,
 * truncated, unreadable object, too many dimensions), LC_ERR_NOMEM. */
lc_status lc_ckpt_read(lc_ckpt **out, const char *path);

/* One object for lc_ckpt_read_named: a dataset (key NULL) or an attribute
 * `key` on the object `name` ("" = root). For datasets, ndim >= 0 is the
 * required rank and shape (checked before anything is read: LC_ERR_MISMATCH
 * naming file, dataset, expected and found); ndim -1 accepts any shape up to
 * LC_CKPT_NAMED_MAX_BYTES. `kind` is the dataset's required kind (its HDF5
 * type class is checked before reading: float for F32, integer for I64 /
 * U64 / BYTES, string for STRING); LC_CKPT_OTHER accepts any. */
typedef struct {
    const char *name;
    const char *key;
    int ndim;
    int64_t shape[LC_CKPT_MAX_DIMS];
    lc_ckpt_kind kind;
} lc_ckpt_want;
#define LC_CKPT_NAMED_MAX_BYTES ((size_t)1 << 30)

/* Load only the listed objects of an untrusted file, each opened by its
 * name (no iteration over the file's links or attributes). Objects that do
 * not exist are skipped (the getters then name what is missing). *c NULL:
 * a new container is made; else the objects are added to *c (already
 * present ones skipped), so a reader can look at metadata first and then
 * ask for tensors whose shapes it derived from it. On failure a container
 * made here is freed and *c is NULL; one passed in is kept. */
lc_status lc_ckpt_read_named(lc_ckpt **c, const char *path, const lc_ckpt_want *want, size_t n);

/* The file a container was read from, or "<new checkpoint>". */
const char *lc_ckpt_source(const lc_ckpt *c);

/* ---- listing ---- */

/* Datasets in order: insertion order when built, name order when read. */
size_t lc_ckpt_count(const lc_ckpt *c);
const lc_ckpt_entry *lc_ckpt_entry_at(const lc_ckpt *c, size_t i);
/* The entry called `name` (leading '/' ignored), or NULL. Sets no error. */
const lc_ckpt_entry *lc_ckpt_find(const lc_ckpt *c, const char *name);
size_t lc_ckpt_attr_count(const lc_ckpt *c);
const lc_ckpt_attr *lc_ckpt_attr_at(const lc_ckpt *c, size_t i);
/* 1 if the attribute exists (any kind), else 0. Sets no error. */
int lc_ckpt_has_attr(const lc_ckpt *c, const char *object, const char *key);

/* ---- getters (LC_ERR_FORMAT naming the file and object when the name is
 *      missing or of another kind; returned memory owned by c) ---- */

/* A float tensor; *entry (optional) gives its shape. A loaded tensor holding
 * NaN/inf gives LC_ERR_NUMERIC. */
lc_status lc_ckpt_get_tensor(const lc_ckpt *c, const char *name,
                             const lc_ckpt_entry **entry, const float **data);
/* Like lc_ckpt_get_tensor, but the tensor must have exactly `ndim` dims equal
 * to `shape`; otherwise LC_ERR_MISMATCH "expected (r, in) = (8, 64), found
 * (8, 32)"-style, naming file and tensor. */
lc_status lc_ckpt_get_tensor_shaped(const lc_ckpt *c, const char *name, int ndim,
                                    const int64_t *shape, const float **data);
/* Same check, then copy the floats into dst (prod(shape) floats). */
lc_status lc_ckpt_copy_tensor(const lc_ckpt *c, const char *name, int ndim,
                              const int64_t *shape, float *dst);
lc_status lc_ckpt_get_i64(const lc_ckpt *c, const char *name, const int64_t **data, size_t *n);
lc_status lc_ckpt_get_u64(const lc_ckpt *c, const char *name, const uint64_t **data, size_t *n);
/* Bytes of a BYTES or STRING dataset (no terminator counted). */
lc_status lc_ckpt_get_bytes(const lc_ckpt *c, const char *name, const uint8_t **data, size_t *n);
/* A STRING dataset as a NUL-terminated string (also a BYTES dataset without
 * embedded NULs). */
lc_status lc_ckpt_get_string(const lc_ckpt *c, const char *name, const char **text);

lc_status lc_ckpt_get_attr_str(const lc_ckpt *c, const char *object, const char *key, const char **value);
lc_status lc_ckpt_get_attr_i64(const lc_ckpt *c, const char *object, const char *key, int64_t *value);
/* Also accepts an int64 attribute (converted). */
lc_status lc_ckpt_get_attr_f64(const lc_ckpt *c, const char *object, const char *key, double *value);

/* ---- directory helpers ---- */

/* In `dir`, delete the files named "<prefix>-<step>.h5" (step: decimal
 * digits) except the keep_last with the highest step. keep_last <= 0 keeps
 * everything. Other files (including temp files) are not touched.
 * *n_deleted (optional) counts deletions. Errors: LC_ERR_IO. */
lc_status lc_ckpt_prune(const char *dir, const char *prefix, int keep_last, int *n_deleted);

/* The highest <step> of the files "<prefix>-<step>.h5" in `dir`, or -1 when
 * there is none (or dir cannot be listed). */
int64_t lc_ckpt_newest_step(const char *dir, const char *prefix);
/* The highest <step> below `below` (the next older checkpoint), or -1. */
int64_t lc_ckpt_step_before(const char *dir, const char *prefix, int64_t below);

/* Remove leftover "<name>.tmp.<pid>" files in `dir` from writers that died
 * (crash, SIGKILL) before renaming. Files whose <pid> is a live process other
 * than this one are kept (they may be another writer's work in progress).
 * *n_removed (optional) counts removals. Errors: LC_ERR_IO. */
lc_status lc_ckpt_cleanup_temp(const char *dir, int *n_removed);

#ifdef __cplusplus
}
#endif
#endif /* LC_CKPT_H */
