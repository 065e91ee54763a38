/*
 * ckpt_files.c — the file-system side of checkpoints: committing a finished
 * temp file (fsync, rename, fsync of the directory), keeping only the newest
 * "<prefix>-<step>.h5" files, and removing temp files left by dead writers.
 */
#include "ckpt_internal.h"
#include "lc_path.h"
#include "lc_fsafe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

lc_status lc_ckpt__commit(const char *tmp, const char *path) {
    lc_status st = lc_fs_fsync(tmp, 0);
    if (st) goto fail;
    if (rename(tmp, path) != 0) {
        st = lc_errorf(LC_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    /* The directory entry must reach the disk too, or a power cut could
     * bring back the old name. */
    char dir[4096];
    if ((st = lc_path_dirname(dir, sizeof dir, path))) return st; /* the new file is in place */
    return lc_fs_fsync(dir, 1);  /* the new file is in place even if this fails */
fail:
    unlink(tmp);
    return st;
}

/* Parse "<prefix>-<digits>.h5" into *step; 1 on a match. */
static int parse_step_name(const char *name, const char *prefix, unsigned long long *step) {
    size_t np = strlen(prefix);
    if (strncmp(name, prefix, np) != 0 || name[np] != '-') return 0;
    const char *p = name + np + 1;
    if (*p < '0' || *p > '9') return 0;
    unsigned long long v = 0;
    while (*p >= '0' && *p <= '9') {
        if (v > (~0ULL - 9) / 10) return 0;
        v = v * 10 + (unsigned long long)(*p++ - '0');
    }
    if (strcmp(p, ".h5") != 0) return 0;
    *step = v;
    return 1;
}

typedef struct {
    unsigned long long step;
    char *name;
} step_file;

static int cmp_step_desc(const void *a, const void *b) {
    const step_file *x = a, *y = b;
    if (x->step != y->step) return x->step < y->step ? 1 : -1;
    return strcmp(x->name, y->name);
}

lc_status lc_ckpt_prune(const char *dir, const char *prefix, int keep_last, int *n_deleted) {
    lc_status st = LC_OK;
    step_file *files = NULL;
    size_t n = 0, cap = 0;
    int deleted = 0;
    if (n_deleted) *n_deleted = 0;
    if (!dir || !prefix || !prefix[0] || strchr(prefix, '/'))
        return lc_errorf(LC_ERR_ARG, "lc_ckpt_prune: bad directory or prefix");
    if (keep_last <= 0) return LC_OK;
    DIR *d = opendir(dir);
    if (!d) return lc_errorf(LC_ERR_IO, "cannot list checkpoint directory %s: %s", dir,
                             strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long long step;
        if (!parse_step_name(de->d_name, prefix, &step)) continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            step_file *f = realloc(files, nc * sizeof *f);
            if (!f) {
                st = lc_errorf(LC_ERR_NOMEM, "lc_ckpt_prune: out of memory");
                goto fail;
            }
            files = f;
            cap = nc;
        }
        files[n].step = step;
        files[n].name = lc_ckpt__strdup(de->d_name);
        if (!files[n].name) {
            st = lc_errorf(LC_ERR_NOMEM, "lc_ckpt_prune: out of memory");
            goto fail;
        }
        n++;
    }
    if (n > 1) qsort(files, n, sizeof *files, cmp_step_desc);
    for (size_t i = (size_t)keep_last; i < n; i++) {
        char path[4096];
        if ((st = lc_path_join(path, sizeof path, dir, files[i].name))) goto fail;
        if (unlink(path) != 0 && errno != ENOENT) {
            st = lc_errorf(LC_ERR_IO, "cannot delete old checkpoint %s: %s", path,
                           strerror(errno));
            goto fail;
        }
        deleted++;
    }
fail:
    for (size_t i = 0; i < n; i++) free(files[i].name);
    free(files);
    closedir(d);
    if (n_deleted) *n_deleted = deleted;
    return st;
}

int64_t lc_ckpt_newest_step(const char *dir, const char *prefix) { return lc_ckpt_step_before(dir, prefix, INT64_MAX); }

int64_t lc_ckpt_step_before(const char *dir, const char *prefix, int64_t below) {
    int64_t best = -1;
    DIR *d = dir && prefix ? opendir(dir) : NULL;
    if (!d) return -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long long step;
        if (parse_step_name(de->d_name, prefix, &step) && step <= INT64_MAX && (int64_t)step > best &&
            (int64_t)step < below)
            best = (int64_t)step;
    }
    closedir(d);
    return best;
}

/* "<anything>.tmp.<digits>": returns the pid, or 0 when not a temp name. */
static long temp_name_pid(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name) return 0;
    /* the last ".tmp." wins, e.g. "a.tmp.b.h5.tmp.12" */
    const char *next;
    while ((next = strstr(t + 1, ".tmp.")) != NULL) t = next;
    const char *p = t + 5;
    if (!*p) return 0;
    long pid = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || pid > 100000000) return 0;
        pid = pid * 10 + (*p - '0');
    }
    return pid;
}

lc_status lc_ckpt_cleanup_temp(const char *dir, int *n_removed) {
    lc_status st = LC_OK;
    int removed = 0;
    if (n_removed) *n_removed = 0;
    if (!dir) return lc_errorf(LC_ERR_ARG, "lc_ckpt_cleanup_temp: directory is NULL");
    DIR *d = opendir(dir);
    if (!d) return lc_errorf(LC_ERR_IO, "cannot list checkpoint directory %s: %s", dir,
                             strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        long pid = temp_name_pid(de->d_name);
        if (pid <= 0) continue;
        /* A live process other than us may be writing it right now. EPERM
         * means the process exists but is someone else's: keep that too. */
        if ((pid_t)pid != getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) continue;
        char path[4096];
        if ((st = lc_path_join(path, sizeof path, dir, de->d_name))) break;
        struct stat sb;
        if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (unlink(path) != 0 && errno != ENOENT) {
            st = lc_errorf(LC_ERR_IO, "cannot remove stale temp file %s: %s", path,
                           strerror(errno));
            break;
        }
        removed++;
    }
    closedir(d);
    if (n_removed) *n_removed = removed;
    return st;
}
