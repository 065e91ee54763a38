/*
 * lc_path.h — building file paths into fixed buffers without ever truncating
 * them: every function either writes the whole path or fails with LC_ERR_ARG
 * ("path too long ...") and leaves dst empty, so a cut-off path can never be
 * opened, created or deleted by mistake.
 */
#ifndef LC_PATH_H
#define LC_PATH_H

#include <stdarg.h>
#include <stddef.h>

#include "lc_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dst = dir + "/" + name (exactly that: no slash is added or removed).
 * LC_ERR_ARG naming both parts when the result (with its NUL) exceeds cap. */
lc_status lc_path_join(char *dst, size_t cap, const char *dir, const char *name);

/* dst = printf(fmt, ...), for paths with more parts ("%s/%s-%08lld.h5",
 * "%s.tmp.%ld"). LC_ERR_ARG with the length needed when it does not fit. */
lc_status lc_path_fmt(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
lc_status lc_path_vfmt(char *dst, size_t cap, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* dst = the directory part of path: "." for a bare name, "/" for "/x",
 * "a/b" for "a/b/c". LC_ERR_ARG when it does not fit in cap. */
lc_status lc_path_dirname(char *dst, size_t cap, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* LC_PATH_H */
