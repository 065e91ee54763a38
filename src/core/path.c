/*
 * path.c — path building that refuses truncation (lc_path.h). snprintf's
 * return value says how long the whole result would have been; every
 * function here compares it with the buffer and fails instead of cutting.
 */
#include "lc_path.h"

#include <stdio.h>
#include <string.h>

/* Shown in messages: at most this many bytes of an over-long path. */
#define SHOWN 240

/* `what` is the start of the path (all of it when need <= SHOWN). */
static lc_status too_long(char *dst, size_t cap, size_t need, const char *what) {
    lc_status st = lc_errorf(LC_ERR_ARG, "path too long (%zu bytes, at most %zu fit): %s%s", need, cap ? cap - 1 : 0,
                             what, need > strlen(what) ? "..." : "");
    if (cap) dst[0] = 0;
    return st;
}

lc_status lc_path_vfmt(char *dst, size_t cap, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(dst, cap, fmt, ap);
    lc_status st = LC_OK;
    if (n < 0) {
        st = lc_errorf(LC_ERR_ARG, "cannot format a path from \"%s\"", fmt);
        if (cap) dst[0] = 0;
    } else if ((size_t)n >= cap) {
        /* Format once more, whole, only to name the path in the message. */
        char shown[SHOWN + 1];
        vsnprintf(shown, sizeof shown, fmt, again);
        st = too_long(dst, cap, (size_t)n, shown);
    }
    va_end(again);
    return st;
}

lc_status lc_path_fmt(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lc_status st = lc_path_vfmt(dst, cap, fmt, ap);
    va_end(ap);
    return st;
}

lc_status lc_path_join(char *dst, size_t cap, const char *dir, const char *name) {
    return lc_path_fmt(dst, cap, "%s/%s", dir, name);
}

lc_status lc_path_dirname(char *dst, size_t cap, const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return lc_path_fmt(dst, cap, ".");
    if (slash == path) return lc_path_fmt(dst, cap, "/");
    return lc_path_fmt(dst, cap, "%.*s", (int)(slash - path), path);
}
