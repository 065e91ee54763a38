/*
 * fsutil.c — small file-system and conversion helpers for the deploy module:
 * output directories that appear all at once (build in "<out>.tmp.XXXXXX",
 * fsync, rename), file copies, JSON output, weights as fp32.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy_internal.h"
#include "lc_path.h"
#include "lc_fsafe.h"

int dp_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

lc_status dp_check_absent(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) == 0)
        return lc_errorf(LC_ERR_IO, "%s already exists: lorac does not overwrite an output directory (remove it "
                         "or choose another --out)", path);
    return LC_OK;
}

lc_status dp_tmpdir_create(const char *out_dir, char *tmp, size_t size) {
    lc_status st = dp_check_absent(out_dir);
    if (st) return st;
    if ((st = lc_path_fmt(tmp, size, "%s.tmp.XXXXXX", out_dir))) return lc_error_wrap(st, "output directory");
    if (!mkdtemp(tmp))
        return lc_errorf(LC_ERR_IO, "%s: cannot create a directory there: %s", out_dir, strerror(errno));
    return LC_OK;
}

void dp_tmpdir_discard(const char *tmp) {
    DIR *d = opendir(tmp);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            if (lc_path_join(path, sizeof path, tmp, e->d_name) == LC_OK) unlink(path);
        }
        closedir(d);
    }
    rmdir(tmp);
}

lc_status dp_tmpdir_commit(const char *tmp, const char *out_dir) {
    DIR *d = opendir(tmp);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.' && lc_path_join(path, sizeof path, tmp, e->d_name) == LC_OK)
                (void)lc_fs_fsync(path, 0); /* best effort, as before the rename below */
        closedir(d);
    }
    (void)lc_fs_fsync(tmp, 1);
    lc_status st = dp_check_absent(out_dir);
    if (!st && rename(tmp, out_dir) != 0)
        st = lc_errorf(LC_ERR_IO, "%s: cannot rename %s into place: %s", out_dir, tmp, strerror(errno));
    if (st) {
        dp_tmpdir_discard(tmp);
        return st;
    }
    char parent[4096];
    if (!lc_path_dirname(parent, sizeof parent, out_dir)) (void)lc_fs_fsync(parent, 1); /* best effort */
    return LC_OK;
}

lc_status dp_copy_file(const char *src, const char *dst) {
    lc_status st = LC_OK;
    FILE *in = fopen(src, "rb"), *out = NULL;
    if (!in) return lc_errorf(LC_ERR_IO, "%s: cannot open: %s", src, strerror(errno));
    if (!(out = fopen(dst, "wb"))) {
        st = lc_errorf(LC_ERR_IO, "%s: cannot create: %s", dst, strerror(errno));
        goto fail;
    }
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) {
            st = lc_errorf(LC_ERR_IO, "%s: write failed: %s", dst, strerror(errno));
            goto fail;
        }
    if (ferror(in)) st = lc_errorf(LC_ERR_IO, "%s: read failed", src);
fail:
    if (out && fclose(out) != 0 && !st) st = lc_errorf(LC_ERR_IO, "%s: write failed: %s", dst, strerror(errno));
    fclose(in);
    return st;
}

lc_status dp_write_json(const char *path, const json_t *root) {
    /* 15 significant digits: doubles from dp_float_short print as typed (1e-05) */
    if (json_dump_file(root, path, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) != 0)
        return lc_errorf(LC_ERR_IO, "%s: cannot write JSON", path);
    FILE *f = fopen(path, "ab"); /* end with a newline like HF's files */
    if (!f || fputc('\n', f) == EOF || fclose(f) != 0) return lc_errorf(LC_ERR_IO, "%s: cannot write", path);
    return LC_OK;
}

double dp_float_short(float f) {
    char buf[64];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f) return strtod(buf, NULL);
    }
    return (double)f;
}

lc_status dp_weight_f32(const lc_weight *w, const char *name, const float **out, float **owned) {
    *owned = NULL;
    if (w->type == LC_DT_F32) {
        *out = w->data;
        return LC_OK;
    }
    size_t n = (size_t)w->rows * (size_t)w->cols;
    float *buf = lc_alloc(n * sizeof(float)); /* (rows, cols) */
    if (!buf) return lc_errorf(LC_ERR_NOMEM, "out of memory converting %s (%d x %d) to fp32", name, w->rows, w->cols);
    lc_dequantize_rows(w->type, w->data, (int64_t)lc_dtype_row_bytes(w->type, w->cols), 0, w->rows, w->cols, buf);
    *out = buf;
    *owned = buf;
    return LC_OK;
}

