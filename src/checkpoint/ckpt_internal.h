/*
 * ckpt_internal.h — the lc_ckpt struct shared by the checkpoint module's
 * files: ckpt.c (in-memory container, getters), ckpt_h5.c (HDF5 write/read)
 * and ckpt_files.c (atomic-rename helpers, prune, temp cleanup).
 * Not a public header.
 */
#ifndef LC_CKPT_INTERNAL_H
#define LC_CKPT_INTERNAL_H

#include "lc_ckpt.h"

typedef struct {
    lc_ckpt_entry e;   /* e.name and e.note point into owned strings */
    char *name;        /* owned */
    char *note;        /* owned, OTHER only */
    const void *data;  /* borrowed (f32 added for writing) or == owned */
    void *owned;       /* lc_alloc'd; BYTES/STRING carry one extra NUL byte */
    int nonfinite;     /* loaded f32 holding NaN/inf: getters refuse it */
    size_t bad_index;  /* first non-finite element when nonfinite */
} ckpt_ent;

typedef struct {
    lc_ckpt_attr a;    /* a.object / a.key point into the owned strings */
    char *object, *key;
    char *s;           /* STR value (owned) */
    int64_t i;
    double d;
    char *note;        /* OTHER: what it is */
} ckpt_attr;

struct lc_ckpt {
    char *source;      /* file it was read from; NULL when built in memory */
    ckpt_ent *ents;
    size_t n_ents, cap_ents;
    ckpt_attr *attrs;
    size_t n_attrs, cap_attrs;
};

/* Validate and normalise a dataset/object path: drops one leading '/',
 * rejects empty components, "." and "..", trailing '/'. allow_root: "" ok.
 * Returns a pointer into `name` (past the '/') or NULL with lc_errorf set. */
const char *lc_ckpt__norm_name(const char *name, int allow_root, const char *what);
/* Append an entry (name copied), returns it zeroed except name, or NULL
 * (LC_ERR_NOMEM set). Does no conflict checks. */
ckpt_ent *lc_ckpt__push_ent(lc_ckpt *c, const char *name);
/* Append an attribute slot (object/key copied), or NULL (LC_ERR_NOMEM). */
ckpt_attr *lc_ckpt__push_attr(lc_ckpt *c, const char *object, const char *key);
/* strdup via malloc; NULL on failure. */
char *lc_ckpt__strdup(const char *s);

/* Write `path` atomically from a file already complete at `tmp`: fsync the
 * temp, rename over path, fsync the directory. On failure tmp is removed. */
lc_status lc_ckpt__commit(const char *tmp, const char *path);

#endif /* LC_CKPT_INTERNAL_H */
