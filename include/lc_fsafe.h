/*
 * lc_fsafe.h — file handling that loses nothing a user owns: outputs that
 * are never one of their own inputs (compared by device + inode, not by
 * name), overwrites only of a file of the writer's own kind (else --force),
 * atomic whole-file writes through a temp file opened with O_NOFOLLOW,
 * append-only logs that refuse symlinks, and an exclusive lock on a run
 * directory for the life of a process. The guarantees are listed in
 * docs/formats.md ("What survives what").
 */
#ifndef LC_FSAFE_H
#define LC_FSAFE_H

#include <stddef.h>
#include <stdio.h>

#include "lc_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* LC_ERR_ARG when `out` is (or, for directory inputs, is a file directly
 * inside) one of the n input paths: same st_dev + st_ino, through symlinks
 * and hard links. role[i] (may be NULL) names input i in the message
 * ("the base model"). Inputs that do not exist are ignored. */
lc_status lc_fs_refuse_input(const char *out, const char *const *inputs, const char *const *roles, int n);

/* When `out` exists: it must be a regular file (or a symlink to one) whose
 * first magic_len bytes are `magic`, else LC_ERR_ARG "<out> exists and is not
 * <kind>; refusing to overwrite it (use --force)" — unless force. A missing
 * `out` is fine. */
lc_status lc_fs_check_overwrite(const char *out, const void *magic, size_t magic_len, const char *kind, int force);

/* Write n bytes to `path` atomically: "<path>.tmp.<pid>" created with
 * O_EXCL | O_NOFOLLOW, written, fsync'ed, renamed over path (a symlink at
 * path is replaced, never followed), directory fsync'ed. On failure the temp
 * file is removed and path is untouched; LC_ERR_IO with the OS reason. */
lc_status lc_fs_write_atomic(const char *path, const void *data, size_t n);

/* write() all n bytes to fd (retrying on EINTR and short writes, at most
 * 1 GiB per call). 0 on success, -1 with errno set. */
int lc_fs_write_full(int fd, const void *data, size_t n);

/* fsync a file (is_dir 0) or a directory by path. LC_ERR_IO naming path;
 * a directory the file system cannot fsync (EINVAL, EROFS) is not an error,
 * since a rename into it is atomic anyway. */
lc_status lc_fs_fsync(const char *path, int is_dir);

/* fopen for logs in a run directory: mode "w" (truncate) or "a" (append),
 * never following a symlink at path (ELOOP -> NULL, errno set). */
FILE *lc_fs_fopen_nofollow(const char *path, const char *mode);

/* mkdir -p dir. LC_ERR_IO naming the component that could not be made. */
lc_status lc_fs_mkdir_p(const char *dir);
/* mkdir -p of the directory part of `path` (nothing for a bare name). */
lc_status lc_fs_mkdir_parents(const char *path);

/* The lock file of a run directory. */
#define LC_FS_LOCK_NAME ".lorac.lock"

/* Take an exclusive flock on dir/.lorac.lock (created) and write our pid in
 * it; *fd receives the descriptor, held until lc_fs_unlock_dir or exit.
 * LC_ERR_IO "<dir> is in use by another lorac process (pid N)" at once when
 * another process holds it. `what` names the user ("train"). */
lc_status lc_fs_lock_dir(const char *dir, const char *what, int *fd);
void lc_fs_unlock_dir(int fd);

#ifdef __cplusplus
}
#endif
#endif /* LC_FSAFE_H */
