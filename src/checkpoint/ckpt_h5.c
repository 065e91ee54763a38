/*
 * ckpt_h5.c — lc_ckpt to and from HDF5 files (serial HDF5 C API, 1.10+).
 *
 * Write: finiteness check of every float tensor, then the whole file is
 * built in memory with HDF5's core driver (groups, datasets — numeric ones
 * above LC_CKPT_COMPRESS_MIN_BYTES chunked + shuffle + deflate —,
 * attributes), every HDF5 id closed, and the image written by us to
 * "<path>.tmp.<pid>" (O_NOFOLLOW) and committed by lc_ckpt__commit (fsync,
 * rename, fsync dir): a full disk is an ordinary write(2) error. Timestamps are not recorded,
 * so the same container always gives the same bytes.
 * Read: every hard-linked group and dataset (H5Lvisit, name order) and the
 * attributes of each, converted to the lc_ckpt kinds.
 *
 * HDF5 errors: automatic printing is switched off; on failure the error
 * stack is walked right away (before any other HDF5 call clears it) and its
 * outermost and innermost descriptions go into the lc_errorf message.
 */
#include "ckpt_internal.h"
#include "lc_fsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_MAX_BYTES (1u << 20)

static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

typedef struct {
    char first[384], last[384];
} h5_err_text;

static herr_t h5_walk_cb(unsigned n, const H5E_error2_t *e, void *ud) {
    h5_err_text *t = ud;
    if (!e->desc || !e->desc[0]) return 0;
    if (n == 0 || !t->first[0]) snprintf(t->first, sizeof t->first, "%s", e->desc);
    snprintf(t->last, sizeof t->last, "%s", e->desc);
    return 0;
}

/* Set an error "<context>: <HDF5's reason>" from the current error stack. */
static lc_status h5_fail(lc_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static lc_status h5_fail(lc_status code, const char *fmt, ...) {
    h5_err_text t = {{0}, {0}};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, h5_walk_cb, &t);
    H5Eclear2(H5E_DEFAULT);
    char ctx[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    if (!t.first[0]) return lc_errorf(code, "%s: HDF5 error", ctx);
    if (strcmp(t.first, t.last) == 0) return lc_errorf(code, "%s: %s", ctx, t.first);
    return lc_errorf(code, "%s: %s (%s)", ctx, t.first, t.last);
}

static void close_ids(hid_t *ids, int n) {
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0) continue;
        switch (H5Iget_type(ids[i])) {
        case H5I_DATATYPE: H5Tclose(ids[i]); break;
        case H5I_DATASPACE: H5Sclose(ids[i]); break;
        case H5I_GENPROP_LST: H5Pclose(ids[i]); break;
        case H5I_DATASET: H5Dclose(ids[i]); break;
        case H5I_ATTR: H5Aclose(ids[i]); break;
        case H5I_GROUP: H5Gclose(ids[i]); break;
        case H5I_FILE: H5Fclose(ids[i]); break;
        default: H5Oclose(ids[i]); break;
        }
        ids[i] = -1;
    }
}

/* ====================================================================== */
/* writing                                                                */
/* ====================================================================== */

typedef struct {
    hid_t fid;
    hid_t gcpl;        /* group creation: no timestamps */
    const char *path;  /* the final path, for messages */
    int deflate_ok;
} wctx;

static lc_status check_finite(const lc_ckpt *c) {
    for (size_t i = 0; i < c->n_ents; i++) {
        const ckpt_ent *e = &c->ents[i];
        if (e->e.kind != LC_CKPT_F32) continue;
        const float *x = e->data;  /* (numel) */
        if (lc_all_finite(x, e->e.numel)) continue;
        size_t j = 0;
        while (j < e->e.numel && isfinite(x[j])) j++;
        return lc_errorf(LC_ERR_NUMERIC,
                         "refusing to write checkpoint: tensor '%s' element %zu of %zu is %s",
                         e->name, j, e->e.numel, isnan(x[j]) ? "NaN" : "inf");
    }
    return LC_OK;
}

/* Create the groups on the way to `name`: all of its parents, and `name`
 * itself when `self`. Existing ones are kept. */
static lc_status ensure_groups(const wctx *w, const char *name, int self) {
    lc_status st = LC_OK;
    char *buf = lc_ckpt__strdup(name);
    if (!buf) return lc_errorf(LC_ERR_NOMEM, "writing %s: out of memory", w->path);
    for (char *p = buf;; p++) {
        int end = *p == 0;
        if (*p != '/' && !end) continue;
        if (end && !self) break;
        *p = 0;
        htri_t ex = H5Lexists(w->fid, buf, H5P_DEFAULT);
        if (ex < 0) {
            st = h5_fail(LC_ERR_FORMAT, "writing %s: cannot look up group '%s' for '%s'",
                         w->path, buf, name);
            break;
        }
        if (ex) {  /* must be a group to hold what comes below it */
            hid_t o = H5Oopen(w->fid, buf, H5P_DEFAULT);
            int is_group = o >= 0 && H5Iget_type(o) == H5I_GROUP;
            if (o >= 0) H5Oclose(o);
            if (!is_group) {
                st = lc_errorf(LC_ERR_FORMAT, "writing %s: '%s' is a dataset, so '%s' cannot "
                               "be created under it", w->path, buf, name);
                break;
            }
        } else {
            hid_t g = H5Gcreate2(w->fid, buf, H5P_DEFAULT, w->gcpl, H5P_DEFAULT);
            if (g < 0) {
                st = h5_fail(LC_ERR_FORMAT, "writing %s: cannot create group '%s'", w->path, buf);
                break;
            }
            H5Gclose(g);
        }
        if (end) break;
        *p = '/';
    }
    free(buf);
    return st;
}

/* Chunk shape: the whole array, leading dims halved until <= 1 MiB. */
static void chunk_dims(int ndim, const hsize_t *dims, size_t elsize, hsize_t *chunk) {
    size_t bytes = elsize;
    for (int d = 0; d < ndim; d++) {
        chunk[d] = dims[d];
        bytes *= (size_t)dims[d];
    }
    for (int d = 0; d < ndim && bytes > CHUNK_MAX_BYTES;) {
        if (chunk[d] <= 1) {
            d++;
            continue;
        }
        hsize_t half = (chunk[d] + 1) / 2;
        bytes = bytes / (size_t)chunk[d] * (size_t)half;
        chunk[d] = half;
    }
}

static lc_status write_entry(const wctx *w, const ckpt_ent *e) {
    enum { SPACE, FTYPE, MTYPE, DCPL, DSET, NIDS };
    hid_t ids[NIDS] = {-1, -1, -1, -1, -1};
    lc_status st = ensure_groups(w, e->name, 0);
    if (st) return st;
    hsize_t dims[LC_CKPT_MAX_DIMS];
    for (int d = 0; d < e->e.ndim; d++) dims[d] = (hsize_t)e->e.shape[d];
    switch (e->e.kind) {
    case LC_CKPT_F32:
        ids[FTYPE] = H5Tcopy(H5T_IEEE_F32LE);
        ids[MTYPE] = H5Tcopy(H5T_NATIVE_FLOAT);
        break;
    case LC_CKPT_I64:
        ids[FTYPE] = H5Tcopy(H5T_STD_I64LE);
        ids[MTYPE] = H5Tcopy(H5T_NATIVE_INT64);
        break;
    case LC_CKPT_U64:
        ids[FTYPE] = H5Tcopy(H5T_STD_U64LE);
        ids[MTYPE] = H5Tcopy(H5T_NATIVE_UINT64);
        break;
    case LC_CKPT_BYTES:
        ids[FTYPE] = H5Tcopy(H5T_STD_U8LE);
        ids[MTYPE] = H5Tcopy(H5T_NATIVE_UINT8);
        break;
    case LC_CKPT_STRING:  /* fixed length, NUL-terminated, UTF-8 */
        ids[FTYPE] = H5Tcopy(H5T_C_S1);
        if (ids[FTYPE] >= 0 && (H5Tset_size(ids[FTYPE], e->e.numel + 1) < 0 ||
                                H5Tset_strpad(ids[FTYPE], H5T_STR_NULLTERM) < 0 ||
                                H5Tset_cset(ids[FTYPE], H5T_CSET_UTF8) < 0)) {
            st = h5_fail(LC_ERR_FORMAT, "writing %s: string type for '%s'", w->path, e->name);
            goto fail;
        }
        ids[MTYPE] = H5Tcopy(ids[FTYPE]);
        break;
    case LC_CKPT_OTHER:
        return lc_errorf(LC_ERR_UNSUPPORTED, "writing %s: dataset '%s' (%s) was read from "
                         "another file and cannot be re-written", w->path, e->name,
                         e->note ? e->note : "unsupported type");
    }
    if (ids[FTYPE] < 0 || ids[MTYPE] < 0) {
        st = h5_fail(LC_ERR_FORMAT, "writing %s: datatype for '%s'", w->path, e->name);
        goto fail;
    }
    ids[SPACE] = e->e.ndim == 0 ? H5Screate(H5S_SCALAR)
                                : H5Screate_simple(e->e.ndim, dims, NULL);
    ids[DCPL] = H5Pcreate(H5P_DATASET_CREATE);
    if (ids[SPACE] < 0 || ids[DCPL] < 0 || H5Pset_obj_track_times(ids[DCPL], 0) < 0) {
        st = h5_fail(LC_ERR_FORMAT, "writing %s: dataspace for '%s'", w->path, e->name);
        goto fail;
    }
    size_t elsize = H5Tget_size(ids[MTYPE]);
    if (e->e.kind != LC_CKPT_STRING && e->e.ndim >= 1 && w->deflate_ok &&
        e->e.numel * elsize > LC_CKPT_COMPRESS_MIN_BYTES) {
        hsize_t chunk[LC_CKPT_MAX_DIMS];
        chunk_dims(e->e.ndim, dims, elsize, chunk);
        if (H5Pset_chunk(ids[DCPL], e->e.ndim, chunk) < 0 || H5Pset_shuffle(ids[DCPL]) < 0 ||
            H5Pset_deflate(ids[DCPL], LC_CKPT_DEFLATE_LEVEL) < 0) {
            st = h5_fail(LC_ERR_FORMAT, "writing %s: filters for '%s'", w->path, e->name);
            goto fail;
        }
    }
    ids[DSET] = H5Dcreate2(w->fid, e->name, ids[FTYPE], ids[SPACE], H5P_DEFAULT, ids[DCPL],
                           H5P_DEFAULT);
    if (ids[DSET] < 0) {
        st = h5_fail(LC_ERR_FORMAT, "writing %s: cannot create dataset '%s'", w->path, e->name);
        goto fail;
    }
    if (e->e.numel > 0 &&
        H5Dwrite(ids[DSET], ids[MTYPE], H5S_ALL, H5S_ALL, H5P_DEFAULT, e->data) < 0) {
        st = h5_fail(LC_ERR_IO, "writing %s: cannot write dataset '%s'", w->path, e->name);
        goto fail;
    }
fail:
    close_ids(ids, NIDS);
    return st;
}

static lc_status write_attr(const wctx *w, const ckpt_attr *a) {
    enum { OBJ, SPACE, FTYPE, MTYPE, ATTR, NIDS };
    hid_t ids[NIDS] = {-1, -1, -1, -1, -1};
    lc_status st = LC_OK;
    const void *buf = NULL;
    const char *obj = a->object[0] ? a->object : "/";
    if (a->object[0]) {
        htri_t ex = H5Lexists(w->fid, a->object, H5P_DEFAULT);
        if (ex <= 0) st = ensure_groups(w, a->object, 1);  /* error out there if ex < 0 */
        if (st) return st;
    }
    switch (a->a.kind) {
    case LC_CKPT_ATTR_STR:
        ids[FTYPE] = H5Tcopy(H5T_C_S1);
        if (ids[FTYPE] >= 0 && (H5Tset_size(ids[FTYPE], strlen(a->s) + 1) < 0 ||
                                H5Tset_strpad(ids[FTYPE], H5T_STR_NULLTERM) < 0 ||
                                H5Tset_cset(ids[FTYPE], H5T_CSET_UTF8) < 0))
            H5Tclose(ids[FTYPE]), ids[FTYPE] = -1;
        ids[MTYPE] = ids[FTYPE] >= 0 ? H5Tcopy(ids[FTYPE]) : -1;
        buf = a->s;
        break;
    case LC_CKPT_ATTR_I64:
        ids[FTYPE] = H5Tcopy(H5T_STD_I64LE);
        ids[MTYPE] = H5Tcopy(H5T_NATIVE_INT64);
        buf = &a->i;
        break;
    case LC_CKPT_ATTR_F64:
        ids[FTYPE] = H5Tcopy(H5T_IEEE_F64LE);
        ids[MTYPE] = H5Tcopy(H5T_NATIVE_DOUBLE);
        buf = &a->d;
        break;
    case LC_CKPT_ATTR_OTHER:
        return lc_errorf(LC_ERR_UNSUPPORTED, "writing %s: attribute '%s' on '/%s' (%s) cannot "
                         "be re-written", w->path, a->key, a->object,
                         a->note ? a->note : "unsupported type");
    }
    ids[OBJ] = H5Oopen(w->fid, obj, H5P_DEFAULT);
    if (ids[OBJ] < 0) {
        st = h5_fail(LC_ERR_FORMAT, "writing %s: cannot open '/%s' for attribute '%s'",
                     w->path, a->object, a->key);
        goto fail;
    }
    ids[SPACE] = H5Screate(H5S_SCALAR);
    if (ids[FTYPE] < 0 || ids[MTYPE] < 0 || ids[SPACE] < 0) {
        st = h5_fail(LC_ERR_FORMAT, "writing %s: type of attribute '%s'", w->path, a->key);
        goto fail;
    }
    ids[ATTR] = H5Acreate2(ids[OBJ], a->key, ids[FTYPE], ids[SPACE], H5P_DEFAULT, H5P_DEFAULT);
    if (ids[ATTR] < 0 || H5Awrite(ids[ATTR], ids[MTYPE], buf) < 0) {
        st = h5_fail(LC_ERR_FORMAT, "writing %s: cannot write attribute '%s' on '/%s'",
                     w->path, a->key, a->object);
        goto fail;
    }
fail:
    close_ids(ids, NIDS);
    return st;
}

/* Everything in c into the open file w->fid. */
static lc_status write_all(const wctx *w, const lc_ckpt *c) {
    for (size_t i = 0; i < c->n_ents; i++) {
        lc_status st = write_entry(w, &c->ents[i]);
        if (st) return st;
    }
    for (size_t i = 0; i < c->n_attrs; i++) {
        lc_status st = write_attr(w, &c->attrs[i]);
        if (st) return st;
    }
    return LC_OK;
}

/* Bob Jenkins' lookup3 hashlittle (public domain), as HDF5 checksums
 * metadata with it (H5_checksum_lookup3, initval 0). */
#define LK_ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
static uint32_t lookup3(const uint8_t *k, size_t length) {
    uint32_t a, b, c;
    a = b = c = 0xdeadbeef + (uint32_t)length;
    while (length > 12) {
        a += k[0] + ((uint32_t)k[1] << 8) + ((uint32_t)k[2] << 16) + ((uint32_t)k[3] << 24);
        b += k[4] + ((uint32_t)k[5] << 8) + ((uint32_t)k[6] << 16) + ((uint32_t)k[7] << 24);
        c += k[8] + ((uint32_t)k[9] << 8) + ((uint32_t)k[10] << 16) + ((uint32_t)k[11] << 24);
        a -= c; a ^= LK_ROT(c, 4);  c += b;
        b -= a; b ^= LK_ROT(a, 6);  a += c;
        c -= b; c ^= LK_ROT(b, 8);  b += a;
        a -= c; a ^= LK_ROT(c, 16); c += b;
        b -= a; b ^= LK_ROT(a, 19); a += c;
        c -= b; c ^= LK_ROT(b, 4);  b += a;
        length -= 12;
        k += 12;
    }
    switch (length) { /* the last block: all cases fall through */
    case 12: c += (uint32_t)k[11] << 24; /* fall through */
    case 11: c += (uint32_t)k[10] << 16; /* fall through */
    case 10: c += (uint32_t)k[9] << 8;   /* fall through */
    case 9: c += k[8];                   /* fall through */
    case 8: b += (uint32_t)k[7] << 24;   /* fall through */
    case 7: b += (uint32_t)k[6] << 16;   /* fall through */
    case 6: b += (uint32_t)k[5] << 8;    /* fall through */
    case 5: b += k[4];                   /* fall through */
    case 4: a += (uint32_t)k[3] << 24;   /* fall through */
    case 3: a += (uint32_t)k[2] << 16;   /* fall through */
    case 2: a += (uint32_t)k[1] << 8;    /* fall through */
    case 1: a += k[0]; break;
    case 0: return c;
    }
    c ^= b; c -= LK_ROT(b, 14);
    a ^= c; a -= LK_ROT(c, 11);
    b ^= a; b -= LK_ROT(a, 25);
    c ^= b; c -= LK_ROT(b, 16);
    a ^= c; a -= LK_ROT(c, 4);
    b ^= a; b -= LK_ROT(a, 14);
    c ^= b; c -= LK_ROT(b, 24);
    return c;
}

/* HDF5 1.10's H5Fget_file_image clears the superblock's file-consistency
 * flags in the copy but keeps the checksum computed with them set, so the
 * image would not open again. Superblock v2/v3 (what libver >= 1.8 writes):
 * 12 bytes + 4 addresses of `sizeof_addr` bytes, then the lookup3 checksum. */
static lc_status fix_superblock(uint8_t *img, size_t size, const char *path) {
    static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (size < 12 || memcmp(img, sig, 8))
        return lc_errorf(LC_ERR_IO, "writing %s: the HDF5 image has no superblock", path);
    if (img[8] < 2) return LC_OK; /* v0/v1: no checksum */
    size_t off = 12 + 4 * (size_t)img[9];
    if (off + 4 > size) return lc_errorf(LC_ERR_IO, "writing %s: the HDF5 image is truncated", path);
    uint32_t sum = lookup3(img, off);
    for (int i = 0; i < 4; i++) img[off + (size_t)i] = (uint8_t)(sum >> (8 * i));
    return LC_OK;
}

/* Build the whole file in memory (HDF5's core driver, no backing store):
 * HDF5 never touches the disk, so a full disk cannot leave a file open
 * inside the library. *image (malloc'd) and *size receive the bytes. */
static lc_status build_image(const lc_ckpt *c, const char *path, void **image, size_t *size) {
    enum { FAPL, FCPL, GCPL, FILE_ID, NIDS };
    hid_t ids[NIDS] = {-1, -1, -1, -1};
    lc_status st = LC_OK;
    *image = NULL;
    ids[FAPL] = H5Pcreate(H5P_FILE_ACCESS);
    ids[FCPL] = H5Pcreate(H5P_FILE_CREATE);
    ids[GCPL] = H5Pcreate(H5P_GROUP_CREATE);
    if (ids[FAPL] < 0 || ids[FCPL] < 0 || ids[GCPL] < 0 ||
        H5Pset_fapl_core(ids[FAPL], 1 << 20, 0) < 0 ||
        H5Pset_fclose_degree(ids[FAPL], H5F_CLOSE_STRONG) < 0 ||
        /* 1.8+ object headers: attributes over 64 KiB (chat templates) fit */
        H5Pset_libver_bounds(ids[FAPL], H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0 ||
        H5Pset_obj_track_times(ids[FCPL], 0) < 0 || H5Pset_obj_track_times(ids[GCPL], 0) < 0) {
        st = h5_fail(LC_ERR_IO, "writing %s: HDF5 property lists", path);
        goto done;
    }
    ids[FILE_ID] = H5Fcreate(path, H5F_ACC_TRUNC, ids[FCPL], ids[FAPL]);  /* in memory only */
    if (ids[FILE_ID] < 0) {
        st = h5_fail(LC_ERR_IO, "writing %s: cannot create the HDF5 image", path);
        goto done;
    }
    wctx w = {ids[FILE_ID], ids[GCPL], path, H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0};
    if ((st = write_all(&w, c))) goto done;
    ssize_t n = H5Fflush(ids[FILE_ID], H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(ids[FILE_ID], NULL, 0);
    if (n <= 0 || !(*image = malloc((size_t)n)) || H5Fget_file_image(ids[FILE_ID], *image, (size_t)n) != n) {
        st = *image || n <= 0 ? h5_fail(LC_ERR_IO, "writing %s: cannot get the HDF5 file image", path)
                              : lc_errorf(LC_ERR_NOMEM, "writing %s: out of memory (%zd bytes)", path, n);
        goto done;
    }
    *size = (size_t)n;
    st = fix_superblock(*image, *size, path);
done:
    close_ids(ids, NIDS);  /* every id, the file included, on every path */
    if (st) {
        free(*image);
        *image = NULL;
    }
    return st;
}

lc_status lc_ckpt_write(const lc_ckpt *c, const char *path) {
    if (!c || !path || !path[0])
        return lc_errorf(LC_ERR_ARG, "lc_ckpt_write: NULL checkpoint or empty path");
    size_t plen = strlen(path);
    if (path[plen - 1] == '/')
        return lc_errorf(LC_ERR_ARG, "lc_ckpt_write: path %s names a directory", path);
    lc_status st = check_finite(c);  /* before anything touches the disk */
    if (st) return lc_error_wrap(st, "%s", path);
    h5_quiet();
    char *tmp = malloc(plen + 32);
    if (!tmp) return lc_errorf(LC_ERR_NOMEM, "writing %s: out of memory", path);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    /* The temp file first: a clean OS error for unwritable or missing
     * directories before any work. A stale temp of ours (or a symlink
     * planted there) is removed, never followed. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = lc_errorf(LC_ERR_IO, "cannot create checkpoint temp file %s: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    void *image = NULL;
    size_t size = 0;
    st = build_image(c, path, &image, &size);
    int bad = st ? 1 : lc_fs_write_full(fd, image, size);
    int err = errno;
    if (close(fd) != 0 && !bad) bad = 1, err = errno;
    if (bad) {
        unlink(tmp);
        if (!st)
            st = lc_errorf(LC_ERR_IO, "cannot write %s: %s (the previous %s, if any, is untouched)", tmp,
                           strerror(err), path);
    } else {
        st = lc_ckpt__commit(tmp, path);  /* fsync, rename, fsync dir; removes tmp on failure */
    }
    free(image);
    free(tmp);
    return st;
}

/* ====================================================================== */
/* reading                                                                */
/* ====================================================================== */

typedef struct {
    lc_ckpt *c;
    const char *path;
    const char *object;  /* attributes: the object being read ("" = root) */
    lc_status st;        /* set when a callback stops the iteration */
} rctx;

/* Read a scalar string (fixed or variable length) from a dataset (is_attr 0)
 * or an attribute. Returns an lc_alloc'd NUL-terminated copy in *out. */
static lc_status read_string(const rctx *r, hid_t id, int is_attr, hid_t ftype, hid_t space,
                             const char *what, char **out, size_t *len) {
    lc_status st = LC_OK;
    hid_t mtype = H5Tcopy(H5T_C_S1);
    *out = NULL;
    htri_t vl = H5Tis_variable_str(ftype);
    if (mtype < 0 || vl < 0 || H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0) {
        st = h5_fail(LC_ERR_FORMAT, "%s: string type of %s", r->path, what);
        goto fail;
    }
    if (vl) {
        char *p = NULL;
        herr_t rc = H5Tset_size(mtype, H5T_VARIABLE);
        if (rc >= 0) rc = is_attr ? H5Aread(id, mtype, &p) : H5Dread(id, mtype, H5S_ALL, H5S_ALL,
                                                                     H5P_DEFAULT, &p);
        if (rc < 0) {
            st = h5_fail(LC_ERR_FORMAT, "%s: cannot read %s", r->path, what);
            goto fail;
        }
        *len = p ? strlen(p) : 0;
        *out = lc_alloc(*len + 1);
        if (*out) {
            if (*len) memcpy(*out, p, *len);
            (*out)[*len] = 0;
        }
        H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, &p);
    } else {
        size_t size = H5Tget_size(ftype);
        if (size == 0 || H5Tset_size(mtype, size) < 0 ||
            H5Tset_strpad(mtype, H5Tget_strpad(ftype)) < 0) {
            st = h5_fail(LC_ERR_FORMAT, "%s: string type of %s", r->path, what);
            goto fail;
        }
        *out = lc_alloc(size + 1);
        if (!*out) goto nomem;
        herr_t rc = is_attr ? H5Aread(id, mtype, *out)
                            : H5Dread(id, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out);
        if (rc < 0) {
            st = h5_fail(LC_ERR_FORMAT, "%s: cannot read %s", r->path, what);
            goto fail;
        }
        (*out)[size] = 0;
        *len = strnlen(*out, size);
    }
    if (!*out) goto nomem;
    H5Tclose(mtype);
    return LC_OK;
nomem:
    st = lc_errorf(LC_ERR_NOMEM, "%s: out of memory reading %s", r->path, what);
fail:
    if (mtype >= 0) H5Tclose(mtype);
    lc_free(*out);
    *out = NULL;
    return st;
}

static const char *class_name(H5T_class_t cls) {
    switch (cls) {
    case H5T_COMPOUND: return "(compound type)";
    case H5T_ENUM: return "(enum or bool)";
    case H5T_REFERENCE: return "(reference)";
    case H5T_OPAQUE: return "(opaque)";
    case H5T_VLEN: return "(variable-length sequence)";
    case H5T_ARRAY: return "(array type)";
    case H5T_BITFIELD: return "(bitfield)";
    case H5T_TIME: return "(time)";
    default: return "(unknown type)";
    }
}

/* Mark e as listed-but-not-loaded (LC_CKPT_OTHER) with a note like "(bitfield)". */
static void set_note(ckpt_ent *e, const char *note) {
    e->note = lc_ckpt__strdup(note);
    e->e.note = e->note;
}

/* e's shape and numel from the dataspace; LC_ERR_FORMAT when a dimension is
 * implausibly large (numel * 16 bytes must fit a size_t). */
static lc_status read_shape(const rctx *r, ckpt_ent *e, hid_t space, int ndim, const char *what) {
    hsize_t dims[LC_CKPT_MAX_DIMS];
    H5Sget_simple_extent_dims(space, dims, NULL);
    size_t numel = 1;
    e->e.ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] > (hsize_t)INT64_MAX || (dims[d] && numel > SIZE_MAX / 16 / dims[d]))
            return lc_errorf(LC_ERR_FORMAT, "%s: %s dimension %d is implausibly large (%llu)", r->path, what, d,
                             (unsigned long long)dims[d]);
        e->e.shape[d] = (int64_t)dims[d];
        numel *= (size_t)dims[d];
    }
    e->e.numel = numel;
    return LC_OK;
}

/* The entry kind lorac loads a float/integer dataset as, and the HDF5 memory
 * type to read it with; LC_CKPT_OTHER for every other class. */
static lc_ckpt_kind numeric_kind(H5T_class_t cls, hid_t ftype, hid_t *mtype) {
    if (cls == H5T_FLOAT) {
        *mtype = H5T_NATIVE_FLOAT;
        return LC_CKPT_F32;
    }
    if (cls != H5T_INTEGER) return LC_CKPT_OTHER;
    int is_unsigned = H5Tget_sign(ftype) == H5T_SGN_NONE;
    if (is_unsigned && H5Tget_size(ftype) == 1) {
        *mtype = H5T_NATIVE_UINT8;
        return LC_CKPT_BYTES;
    }
    *mtype = is_unsigned ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64;
    return is_unsigned ? LC_CKPT_U64 : LC_CKPT_I64;
}

/* Read all e->e.numel elements into e->owned (one spare NUL byte), and for
 * F32 note the first non-finite value. */
static lc_status read_numeric(const rctx *r, hid_t did, ckpt_ent *e, lc_ckpt_kind kind, hid_t mtype,
                              const char *what) {
    size_t numel = e->e.numel, elsize = H5Tget_size(mtype);
    e->owned = lc_alloc(numel * elsize + 1);
    if (!e->owned)
        return lc_errorf(LC_ERR_NOMEM, "%s: out of memory for %s (%zu bytes)", r->path, what, numel * elsize);
    ((char *)e->owned)[numel * elsize] = 0;
    if (numel && H5Dread(did, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, e->owned) < 0)
        return h5_fail(LC_ERR_FORMAT, "%s: cannot read %s", r->path, what);
    e->e.kind = kind;
    e->data = e->owned;
    if (kind == LC_CKPT_F32 && !lc_all_finite(e->owned, numel)) {
        const float *x = e->owned; /* (numel) */
        e->nonfinite = 1;
        while (e->bad_index < numel && isfinite(x[e->bad_index])) e->bad_index++;
    }
    return LC_OK;
}

/* A scalar string dataset: e becomes LC_CKPT_STRING, ndim 0, numel = length. */
static lc_status read_scalar_string(const rctx *r, hid_t did, ckpt_ent *e, hid_t ftype, hid_t space,
                                    const char *what) {
    size_t len;
    lc_status st = read_string(r, did, 0, ftype, space, what, (char **)&e->owned, &len);
    if (st) return st;
    e->e.kind = LC_CKPT_STRING;
    e->e.ndim = 0;
    e->e.numel = len;
    e->data = e->owned;
    return LC_OK;
}

/* One dataset: a new entry, loaded when lorac knows its type, else listed as
 * LC_CKPT_OTHER with a note (not an error). */
static lc_status read_dataset(rctx *r, hid_t did, const char *name) {
    enum { FTYPE, SPACE, NIDS };
    hid_t ids[NIDS] = {H5Dget_type(did), H5Dget_space(did)};
    lc_status st = LC_OK;
    char what[1200], note[64];
    snprintf(what, sizeof what, "dataset '%s'", name);
    int ndim = ids[SPACE] < 0 ? -1 : H5Sget_simple_extent_ndims(ids[SPACE]);
    H5S_class_t sclass = ids[SPACE] < 0 ? H5S_NO_CLASS : H5Sget_simple_extent_type(ids[SPACE]);
    H5T_class_t cls = ids[FTYPE] < 0 ? H5T_NO_CLASS : H5Tget_class(ids[FTYPE]);
    if (ndim < 0 || sclass == H5S_NO_CLASS || cls == H5T_NO_CLASS) {
        st = h5_fail(LC_ERR_FORMAT, "%s: cannot inspect %s", r->path, what);
        goto done;
    }
    ckpt_ent *e = lc_ckpt__push_ent(r->c, name);
    if (!e) {
        st = LC_ERR_NOMEM;
        goto done;
    }
    e->e.kind = LC_CKPT_OTHER;
    if (ndim > LC_CKPT_MAX_DIMS || sclass == H5S_NULL) {
        snprintf(note, sizeof note, sclass == H5S_NULL ? "(null dataspace)" : "(rank %d > %d)", ndim,
                 LC_CKPT_MAX_DIMS);
        set_note(e, note);
        goto done;
    }
    if ((st = read_shape(r, e, ids[SPACE], ndim, what))) goto done;
    hid_t mtype = -1;
    lc_ckpt_kind kind = numeric_kind(cls, ids[FTYPE], &mtype);
    if (kind != LC_CKPT_OTHER) {
        st = read_numeric(r, did, e, kind, mtype, what);
    } else if (cls == H5T_STRING && e->e.numel == 1) {
        st = read_scalar_string(r, did, e, ids[FTYPE], ids[SPACE], what);
    } else {
        if (cls == H5T_STRING) snprintf(note, sizeof note, "(array of %zu strings)", e->e.numel);
        else snprintf(note, sizeof note, "%s", class_name(cls));
        set_note(e, note);
    }
done:
    close_ids(ids, NIDS);
    return st;
}

/* H5Aiterate2 callback: one attribute of r->object. */
static herr_t attr_cb(hid_t loc, const char *key, const H5A_info_t *info, void *ud) {
    (void)info;
    rctx *r = ud;
    enum { ATTR, FTYPE, SPACE, NIDS };
    hid_t ids[NIDS] = {-1, -1, -1};
    char what[1400];
    snprintf(what, sizeof what, "attribute '%s' on '/%s'", key, r->object);
    ids[ATTR] = H5Aopen(loc, key, H5P_DEFAULT);
    if (ids[ATTR] >= 0) ids[FTYPE] = H5Aget_type(ids[ATTR]);
    if (ids[FTYPE] >= 0) ids[SPACE] = H5Aget_space(ids[ATTR]);
    hssize_t npoints = ids[SPACE] >= 0 ? H5Sget_simple_extent_npoints(ids[SPACE]) : -1;
    H5T_class_t cls = ids[FTYPE] >= 0 ? H5Tget_class(ids[FTYPE]) : H5T_NO_CLASS;
    if (npoints < 0 || cls == H5T_NO_CLASS) {
        r->st = h5_fail(LC_ERR_FORMAT, "%s: cannot open %s", r->path, what);
        goto done;
    }
    ckpt_attr *a = lc_ckpt__push_attr(r->c, r->object, key);
    if (!a) {
        r->st = LC_ERR_NOMEM;
        goto done;
    }
    a->a.kind = LC_CKPT_ATTR_OTHER;
    char note[64] = "";
    if (npoints != 1) {
        snprintf(note, sizeof note, "(%lld elements)", (long long)npoints);
    } else if (cls == H5T_STRING) {
        char *s;
        size_t len;
        r->st = read_string(r, ids[ATTR], 1, ids[FTYPE], ids[SPACE], what, &s, &len);
        if (r->st) goto done;
        a->s = lc_ckpt__strdup(s);  /* attributes own malloc'd strings */
        lc_free(s);
        if (!a->s) {
            r->st = lc_errorf(LC_ERR_NOMEM, "%s: out of memory reading %s", r->path, what);
            goto done;
        }
        a->a.kind = LC_CKPT_ATTR_STR;
    } else if (cls == H5T_INTEGER) {
        int u64 = H5Tget_sign(ids[FTYPE]) == H5T_SGN_NONE && H5Tget_size(ids[FTYPE]) >= 8;
        uint64_t u = 0;
        herr_t rc = u64 ? H5Aread(ids[ATTR], H5T_NATIVE_UINT64, &u)
                        : H5Aread(ids[ATTR], H5T_NATIVE_INT64, &a->i);
        if (rc < 0) {
            r->st = h5_fail(LC_ERR_FORMAT, "%s: cannot read %s", r->path, what);
            goto done;
        }
        if (u64 && u > (uint64_t)INT64_MAX)
            snprintf(note, sizeof note, "(uint64 %" PRIu64 " > INT64_MAX)", u);
        else
            a->a.kind = LC_CKPT_ATTR_I64;
        if (u64) a->i = (int64_t)u;
    } else if (cls == H5T_FLOAT) {
        if (H5Aread(ids[ATTR], H5T_NATIVE_DOUBLE, &a->d) < 0) {
            r->st = h5_fail(LC_ERR_FORMAT, "%s: cannot read %s", r->path, what);
            goto done;
        }
        a->a.kind = LC_CKPT_ATTR_F64;
    } else {
        snprintf(note, sizeof note, "%s", class_name(cls));
    }
    if (a->a.kind == LC_CKPT_ATTR_OTHER) a->note = lc_ckpt__strdup(note);
done:
    close_ids(ids, NIDS);
    return r->st ? -1 : 0;
}

static lc_status read_attrs(rctx *r, hid_t oid, const char *object) {
    r->object = object;
    hsize_t idx = 0;
    if (H5Aiterate2(oid, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, r) < 0) {
        if (r->st) return r->st;
        return h5_fail(LC_ERR_FORMAT, "%s: cannot list the attributes of '/%s'", r->path,
                       object);
    }
    return LC_OK;
}

/* H5Lvisit callback: every link below the root, in name order. */
static herr_t visit_cb(hid_t g, const char *name, const H5L_info_t *info, void *ud) {
    rctx *r = ud;
    if (info->type != H5L_TYPE_HARD) return 0;  /* soft/external links: not followed */
    hid_t oid = H5Oopen(g, name, H5P_DEFAULT);
    if (oid < 0) {
        r->st = h5_fail(LC_ERR_FORMAT, "%s: cannot open object '%s'", r->path, name);
        return -1;
    }
    if (H5Iget_type(oid) == H5I_DATASET) r->st = read_dataset(r, oid, name);
    if (!r->st) r->st = read_attrs(r, oid, name);
    H5Oclose(oid);
    return r->st ? -1 : 0;
}

lc_status lc_ckpt_read(lc_ckpt **out, const char *path) {
    if (!out || !path) return lc_errorf(LC_ERR_ARG, "lc_ckpt_read: NULL argument");
    *out = NULL;
    h5_quiet();
    struct stat sb;
    if (stat(path, &sb) != 0)
        return lc_errorf(LC_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return lc_errorf(LC_ERR_IO, "cannot open checkpoint %s: not a regular file", path);
    if (access(path, R_OK) != 0)
        return lc_errorf(LC_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return lc_errorf(LC_ERR_FORMAT, "%s is not an HDF5 file (no HDF5 signature found; "
                         "%lld bytes)", path, (long long)sb.st_size);
    }
    lc_status st = LC_OK;
    lc_ckpt *c = NULL;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fid = -1, root = -1;
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        st = h5_fail(LC_ERR_IO, "reading %s: HDF5 property list", path);
        goto fail;
    }
    fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fid < 0) {
        st = h5_fail(LC_ERR_FORMAT, "cannot open HDF5 file %s (truncated or corrupt?)", path);
        goto fail;
    }
    if ((st = lc_ckpt_create(&c))) goto fail;
    c->source = lc_ckpt__strdup(path);
    if (!c->source) {
        st = lc_errorf(LC_ERR_NOMEM, "reading %s: out of memory", path);
        goto fail;
    }
    rctx r = {c, path, "", LC_OK};
    root = H5Oopen(fid, "/", H5P_DEFAULT);
    if (root < 0) {
        st = h5_fail(LC_ERR_FORMAT, "%s: cannot open the root group", path);
        goto fail;
    }
    if ((st = read_attrs(&r, root, ""))) goto fail;
    if (H5Lvisit(fid, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &r) < 0) {
        st = r.st ? r.st : h5_fail(LC_ERR_FORMAT, "%s: cannot list the file's objects", path);
        goto fail;
    }
    H5Oclose(root);
    root = -1;
    if (H5Fclose(fid) < 0) {
        fid = -1;
        st = h5_fail(LC_ERR_FORMAT, "%s: error closing the file", path);
        goto fail;
    }
    H5Pclose(fapl);
    *out = c;
    return LC_OK;
fail:
    if (root >= 0) H5Oclose(root);
    if (fid >= 0) H5Fclose(fid);
    if (fapl >= 0) H5Pclose(fapl);
    lc_ckpt_free(c);
    return st;
}

/* ====================================================================== */
/* reading by name (untrusted files)                                      */
/* ====================================================================== */

/* 1 when every component of `name` exists as a link (an intermediate one
 * is a group), 0 when one is missing, -1 on an HDF5 error. */
static int named_exists(hid_t fid, const char *name) {
    if (!name[0]) return 1;
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", name) >= (int)sizeof buf) return 0;
    for (char *p = buf;; p++) {
        int end = *p == 0;
        if (*p != '/' && !end) continue;
        *p = 0;
        htri_t ex = H5Lexists(fid, buf, H5P_DEFAULT);
        if (ex <= 0) return ex < 0 ? -1 : 0;
        if (end) return 1;
        H5O_info_t oi;
        if (H5Oget_info_by_name(fid, buf, &oi, H5P_DEFAULT) < 0) return -1;
        if (oi.type != H5O_TYPE_GROUP) return 0;
        *p = '/';
    }
}

static int kind_matches(lc_ckpt_kind k, H5T_class_t cls) {
    switch (k) {
    case LC_CKPT_F32: return cls == H5T_FLOAT;
    case LC_CKPT_I64:
    case LC_CKPT_U64:
    case LC_CKPT_BYTES: return cls == H5T_INTEGER;
    case LC_CKPT_STRING: return cls == H5T_STRING;
    default: return 1;
    }
}

static const char *kind_word(lc_ckpt_kind k) {
    return k == LC_CKPT_F32 ? "floats" : k == LC_CKPT_STRING ? "a string" : "integers";
}

static const char *class_word(H5T_class_t cls) {
    return cls == H5T_FLOAT ? "floats" : cls == H5T_INTEGER ? "integers" : cls == H5T_STRING ? "strings"
                                                                                              : class_name(cls);
}

/* The dataset's rank, shape and type class against w (before reading). */
static lc_status named_check_shape(const rctx *r, hid_t did, const lc_ckpt_want *w) {
    hid_t space = H5Dget_space(did), type = H5Dget_type(did);
    lc_status st = LC_OK;
    int nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    size_t tsize = type >= 0 ? H5Tget_size(type) : 0;
    hsize_t dims[LC_CKPT_MAX_DIMS] = {0};
    if (nd < 0 || tsize == 0) {
        st = h5_fail(LC_ERR_FORMAT, "%s: cannot inspect dataset '%s'", r->path, w->name);
    } else if (nd > LC_CKPT_MAX_DIMS) {
        st = lc_errorf(LC_ERR_FORMAT, "%s: dataset '%s' has rank %d (at most %d)", r->path, w->name, nd,
                       LC_CKPT_MAX_DIMS);
    } else {
        H5Sget_simple_extent_dims(space, dims, NULL);
        double bytes = (double)tsize;
        int same = w->ndim < 0 || nd == w->ndim;
        for (int d = 0; d < nd; d++) {
            bytes *= (double)dims[d];
            if (w->ndim >= 0 && (hsize_t)w->shape[d] != dims[d]) same = 0;
        }
        if (!same) {
            char exp[160] = "", got[160] = "";
            for (int d = 0; d < w->ndim; d++)
                snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", d ? ", " : "", (long long)w->shape[d]);
            for (int d = 0; d < nd; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", d ? ", " : "",
                         (unsigned long long)dims[d]);
            st = lc_errorf(LC_ERR_MISMATCH, "%s: dataset '%s' has shape (%s), expected (%s)", r->path, w->name, got,
                           exp);
        } else if (!kind_matches(w->kind, H5Tget_class(type))) {
            st = lc_errorf(LC_ERR_FORMAT, "%s: dataset '%s' is stored as %s, expected %s", r->path, w->name,
                           class_word(H5Tget_class(type)), kind_word(w->kind));
        } else if (bytes > (double)LC_CKPT_NAMED_MAX_BYTES) {
            st = lc_errorf(LC_ERR_FORMAT, "%s: dataset '%s' is implausibly large (%.0f bytes)", r->path, w->name,
                           bytes);
        }
    }
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return st;
}

static lc_status named_one(rctx *r, hid_t fid, const lc_ckpt_want *w) {
    if (!w->key && lc_ckpt_find(r->c, w->name)) return LC_OK;
    if (w->key && lc_ckpt_has_attr(r->c, w->name, w->key)) return LC_OK;
    int ex = named_exists(fid, w->name);
    if (ex < 0) return h5_fail(LC_ERR_FORMAT, "%s: cannot look up '%s'", r->path, w->name);
    if (!ex) return LC_OK;
    hid_t oid = H5Oopen(fid, w->name[0] ? w->name : "/", H5P_DEFAULT);
    if (oid < 0) return h5_fail(LC_ERR_FORMAT, "%s: cannot open '%s'", r->path, w->name);
    lc_status st = LC_OK;
    if (!w->key) {
        if (H5Iget_type(oid) != H5I_DATASET)
            st = lc_errorf(LC_ERR_FORMAT, "%s: '%s' is not a dataset", r->path, w->name);
        if (!st) st = named_check_shape(r, oid, w);
        if (!st) st = read_dataset(r, oid, w->name);
    } else {
        htri_t ae = H5Aexists(oid, w->key);
        if (ae < 0) st = h5_fail(LC_ERR_FORMAT, "%s: cannot look up attribute '%s' on '/%s'", r->path, w->key, w->name);
        r->object = w->name;
        r->st = LC_OK;
        if (ae > 0 && attr_cb(oid, w->key, NULL, r) < 0) st = r->st;
    }
    H5Oclose(oid);
    return st;
}

lc_status lc_ckpt_read_named(lc_ckpt **c, const char *path, const lc_ckpt_want *want, size_t n) {
    if (!c || !path || (n && !want)) return lc_errorf(LC_ERR_ARG, "lc_ckpt_read_named: NULL argument");
    h5_quiet();
    struct stat sb;
    if (stat(path, &sb) != 0) return lc_errorf(LC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return lc_errorf(LC_ERR_IO, "cannot open %s: not a regular file", path);
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return lc_errorf(LC_ERR_FORMAT, "%s is not an HDF5 file (no HDF5 signature found; %lld bytes)", path,
                         (long long)sb.st_size);
    }
    int made = *c == NULL;
    lc_status st = made ? lc_ckpt_create(c) : LC_OK;
    if (st) return st;
    if (!(*c)->source && !((*c)->source = lc_ckpt__strdup(path))) st = lc_errorf(LC_ERR_NOMEM, "out of memory");
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fid = -1;
    if (!st && (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0))
        st = h5_fail(LC_ERR_IO, "reading %s: HDF5 property list", path);
    if (!st && (fid = H5Fopen(path, H5F_ACC_RDONLY, fapl)) < 0)
        st = h5_fail(LC_ERR_FORMAT, "cannot open HDF5 file %s (truncated or corrupt?)", path);
    rctx r = {*c, path, "", LC_OK};
    for (size_t i = 0; i < n && !st; i++) st = named_one(&r, fid, &want[i]);
    if (fid >= 0 && H5Fclose(fid) < 0 && !st) st = h5_fail(LC_ERR_FORMAT, "%s: error closing the file", path);
    if (fapl >= 0) H5Pclose(fapl);
    if (st && made) {
        lc_ckpt_free(*c);
        *c = NULL;
    }
    return st;
}
