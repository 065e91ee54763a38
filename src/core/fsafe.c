/*
 * fsafe.c — file handling that loses nothing a user owns (lc_fsafe.h):
 * input-vs-output identity by device + inode, overwrite only of a writer's
 * own kind of file, atomic whole-file writes via O_NOFOLLOW temp files,
 * symlink-refusing log files, mkdir -p, and run-directory locks (flock).
 */
#include "lc_fsafe.h"
#include "lc_path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int same_inode(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* 1 when some regular file directly inside dir is the file `o`. */
static int dir_holds(const char *dir, const struct stat *o) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) {
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, 0) == 0 && S_ISREG(sb.st_mode) && same_inode(&sb, o)) found = 1;
    }
    closedir(d);
    return found;
}

lc_status lc_fs_refuse_input(const char *out, const char *const *inputs, const char *const *roles, int n) {
    struct stat o, ol;
    int have_o = stat(out, &o) == 0, have_ol = lstat(out, &ol) == 0;
    if (!have_o && !have_ol) return LC_OK;
    for (int i = 0; i < n; i++) {
        struct stat in;
        if (!inputs[i] || stat(inputs[i], &in) != 0) continue;
        const char *role = roles && roles[i] ? roles[i] : "an input";
        int hit = (have_o && same_inode(&o, &in)) || (have_ol && same_inode(&ol, &in));
        if (!hit && S_ISDIR(in.st_mode) && have_o && S_ISREG(o.st_mode)) hit = dir_holds(inputs[i], &o);
        if (hit)
            return lc_errorf(LC_ERR_ARG, "%s is %s (%s): refusing to overwrite an input; choose another output path", out,
                             role, inputs[i]);
    }
    return LC_OK;
}

lc_status lc_fs_check_overwrite(const char *out, const void *magic, size_t magic_len, const char *kind, int force) {
    struct stat sb;
    if (lstat(out, &sb) != 0) return LC_OK;
    if (force) return LC_OK;
    if (stat(out, &sb) != 0 || S_ISDIR(sb.st_mode))
        return lc_errorf(LC_ERR_ARG, "%s exists and is %s, not %s; refusing to replace it", out,
                         S_ISDIR(sb.st_mode) ? "a directory" : "a dangling symlink", kind);
    unsigned char buf[64];
    size_t got = 0;
    int fd = open(out, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0 && S_ISREG(sb.st_mode) && magic_len <= sizeof buf) {
        ssize_t r = read(fd, buf, magic_len);
        got = r > 0 ? (size_t)r : 0;
    }
    if (fd >= 0) close(fd);
    if (!S_ISREG(sb.st_mode) || got != magic_len || memcmp(buf, magic, magic_len))
        return lc_errorf(LC_ERR_ARG, "%s exists and is not %s: refusing to overwrite it (use --force to replace it)",
                         out, kind);
    return LC_OK;
}

lc_status lc_fs_fsync(const char *path, int is_dir) {
    int fd = open(path, is_dir ? (O_RDONLY | O_DIRECTORY | O_CLOEXEC) : (O_RDONLY | O_CLOEXEC));
    if (fd < 0) return lc_errorf(LC_ERR_IO, "cannot open %s for fsync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    if (rc != 0 && !(is_dir && (err == EINVAL || err == EROFS)))
        return lc_errorf(LC_ERR_IO, "fsync %s: %s", path, strerror(err));
    return LC_OK;
}

/* Best effort: the file is already in place when this runs. */
static void fsync_dir_of(const char *path) {
    char dir[4096];
    if (!lc_path_dirname(dir, sizeof dir, path)) lc_fs_fsync(dir, 1);
}

int lc_fs_write_full(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

lc_status lc_fs_write_atomic(const char *path, const void *data, size_t n) {
    char tmp[4200];
    lc_status st = lc_path_fmt(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (st) return st;
    unlink(tmp); /* a stale temp of a dead process with our pid (a symlink is removed, not followed) */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return lc_errorf(LC_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    int bad = lc_fs_write_full(fd, data, n) || fsync(fd) != 0;
    int err = errno;
    if (close(fd) != 0 && !bad) bad = 1, err = errno;
    if (!bad && rename(tmp, path) != 0) bad = 1, err = errno;
    if (bad) {
        unlink(tmp);
        return lc_errorf(LC_ERR_IO, "cannot write %s: %s (the previous file, if any, is untouched)", path,
                         strerror(err));
    }
    fsync_dir_of(path);
    return LC_OK;
}

FILE *lc_fs_fopen_nofollow(const char *path, const char *mode) {
    int append = mode[0] == 'a';
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
    if (fd < 0) return NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    FILE *f = fdopen(fd, append ? "a" : "w");
    if (!f) close(fd);
    return f;
}

lc_status lc_fs_mkdir_p(const char *dir) {
    char buf[4096];
    lc_status st = lc_path_fmt(buf, sizeof buf, "%s", dir);
    if (st) return st;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) && errno != EEXIST)
            return lc_errorf(LC_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST)
        return lc_errorf(LC_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
    struct stat sb;
    if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return lc_errorf(LC_ERR_IO, "cannot create directory %s: %s", buf, strerror(ENOTDIR));
    return LC_OK;
}

lc_status lc_fs_mkdir_parents(const char *path) {
    char buf[4096];
    lc_status st = lc_path_fmt(buf, sizeof buf, "%s", path);
    if (st) return st;
    char *slash = strrchr(buf, '/');
    while (slash && slash > buf && slash[-1] == '/') slash--;
    if (!slash || slash == buf) return LC_OK;
    *slash = 0;
    st = lc_fs_mkdir_p(buf);
    return st ? lc_error_wrap(st, "%s", path) : LC_OK;
}

lc_status lc_fs_lock_dir(const char *dir, const char *what, int *fd_out) {
    char path[4200];
    *fd_out = -1;
    lc_status st = lc_path_join(path, sizeof path, dir, LC_FS_LOCK_NAME);
    if (st) return st;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return lc_errorf(LC_ERR_IO, "cannot create the lock file %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char buf[32] = {0};
        ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
        long pid = r > 0 ? strtol(buf, NULL, 10) : 0;
        close(fd);
        if (err == EWOULDBLOCK)
            return lc_errorf(LC_ERR_IO, "%s is in use by another lorac %s (pid %ld holds %s); wait for it to finish "
                             "or use another directory", dir, what, pid, path);
        return lc_errorf(LC_ERR_IO, "cannot lock %s: %s", path, strerror(err));
    }
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
        /* the lock holds even when the pid cannot be recorded (full disk) */
    }
    *fd_out = fd;
    return LC_OK;
}

void lc_fs_unlock_dir(int fd) {
    if (fd >= 0) close(fd);
}
