/*
 * run_dir.c — a training run's directory: the lock (one writer at a time),
 * the refusal to mix two runs in one out_dir (or, with --overwrite, the
 * removal of the previous run's own files — never anyone else's), and the
 * newest checkpoint that actually loads for --resume.
 */
#include "run_dir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lc_adapter.h"
#include "lc_ckpt.h"
#include "lc_fsafe.h"
#include "lc_path.h"
#include "lc_train.h"

/* "checkpoint-<digits>.h5" */
static int is_checkpoint(const char *n) {
    if (strncmp(n, "checkpoint-", 11)) return 0;
    const char *p = n + 11;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    return !strcmp(p, ".h5");
}

/* 2: saved state of a run, 1: another file a run writes, 0: not lorac's. */
static int run_file_kind(const char *n) {
    if (is_checkpoint(n) || !strcmp(n, "best.h5") || !strcmp(n, "adapter.h5")) return 2;
    static const char *const OWN[] = {"config.yaml", "metrics.jsonl", "metrics.csv", LC_TRAIN_DONE_NAME,
                                      "report.html", LC_FS_LOCK_NAME};
    for (size_t i = 0; i < sizeof OWN / sizeof OWN[0]; i++)
        if (!strcmp(n, OWN[i])) return 1;
    const char *t = strstr(n, ".tmp.");
    if (t) { /* a temp file of one of those */
        char base[512];
        snprintf(base, sizeof base, "%.*s", (int)(t - n), n);
        return run_file_kind(base) ? 1 : 0;
    }
    return 0;
}

/* "model M, data D" from a run's config.yaml, or "" (also when the path does
 * not fit: this only adds detail to another error, which names dir). */
static void describe_run(const char *dir, char *out, size_t size) {
    char path[4200], line[256], model[300] = "", data[300] = "";
    out[0] = 0;
    if (lc_path_join(path, sizeof path, dir, "config.yaml")) return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!strncmp(line, "model: ", 7)) snprintf(model, sizeof model, "%s", line + 7);
        if (!strncmp(line, "data: ", 6)) snprintf(data, sizeof data, "%s", line + 6);
    }
    fclose(f);
    if (model[0] || data[0]) snprintf(out, size, "; its config.yaml: model %s, data %s", model, data);
}

typedef struct {
    int n_saved, n_own; /* files of a run: saved state, and the rest */
} dir_scan;

static lc_status scan(const char *dir, dir_scan *s, int delete_own) {
    memset(s, 0, sizeof *s);
    DIR *d = opendir(dir);
    if (!d) return lc_errorf(LC_ERR_IO, "cannot list %s: %s", dir, strerror(errno));
    struct dirent *e;
    char path[4200];
    lc_status st = LC_OK;
    while ((e = readdir(d)) && !st) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        int k = run_file_kind(e->d_name);
        s->n_saved += k == 2;
        s->n_own += k == 1;
        if (delete_own && k && strcmp(e->d_name, LC_FS_LOCK_NAME)) {
            if ((st = lc_path_join(path, sizeof path, dir, e->d_name))) break;
            if (unlink(path) != 0) st = lc_errorf(LC_ERR_IO, "--overwrite: cannot delete %s: %s", path, strerror(errno));
        }
    }
    closedir(d);
    return st;
}

/* None of the files a run writes in dir is one of its inputs. */
static lc_status refuse_inputs(const lc_train_config *cfg) {
    static const char *const OUT[] = {"config.yaml", "metrics.jsonl", "metrics.csv", "best.h5", "adapter.h5"};
    const char *in[5] = {cfg->model, cfg->tokenizer, cfg->data, cfg->valid_data, cfg->test_data};
    const char *role[5] = {"the model", "the tokenizer", "the training data", "the validation data", "the test data"};
    char path[4200];
    for (size_t k = 0; k < sizeof OUT / sizeof OUT[0]; k++) {
        lc_status st = lc_path_join(path, sizeof path, cfg->out_dir, OUT[k]);
        if (!st) st = lc_fs_refuse_input(path, in, role, 5);
        if (st) return lc_error_wrap(st, "out_dir");
    }
    return LC_OK;
}

lc_status lc_run_dir_claim(const lc_train_config *cfg, int resume, const lc_reporter *rep, int *lock_fd) {
    const char *dir = cfg->out_dir;
    lc_status st = lc_fs_mkdir_p(dir);
    if (st || (st = lc_fs_lock_dir(dir, "train", lock_fd)) || (st = refuse_inputs(cfg)) || resume) return st;
    dir_scan s;
    if ((st = scan(dir, &s, 0))) return st;
    if (!s.n_saved) return LC_OK; /* empty, foreign files only, or a run stopped before its first save */
    if (!cfg->overwrite) {
        char what[700];
        describe_run(dir, what, sizeof what);
        int64_t step = lc_ckpt_newest_step(dir, "checkpoint");
        char newest[64] = "no checkpoint-N.h5";
        if (step >= 0) snprintf(newest, sizeof newest, "newest checkpoint-%lld.h5", (long long)step);
        return lc_errorf(LC_ERR_IO, "out_dir %s already holds another run (%d saved file(s), %s%s): continue it with "
                         "`lorac train --resume %s`, choose a new out_dir, or pass --overwrite to delete that run "
                         "first", dir, s.n_saved, newest, what, dir);
    }
    int n = s.n_saved + s.n_own;
    if ((st = scan(dir, &s, 1))) return st;
    lc_reporter_msg(rep, LC_REPORT_DETAIL, "lorac: --overwrite: deleted the previous run's %d file(s) in %s", n - 1, dir);
    return LC_OK;
}

int64_t lc_run_dir_resume_step(const char *dir, const lc_reporter *rep) {
    int64_t s = lc_ckpt_newest_step(dir, "checkpoint");
    if (s < 0) {
        lc_errorf(LC_ERR_IO, "--resume: no checkpoint-<step>.h5 in %s", dir);
        return -1;
    }
    for (; s >= 0; s = lc_ckpt_step_before(dir, "checkpoint", s)) {
        char path[4200];
        lc_adapter_info info;
        if (lc_path_fmt(path, sizeof path, "%s/checkpoint-%lld.h5", dir, (long long)s)) {
            lc_error_wrap(LC_ERR_ARG, "--resume");
            return -1;
        }
        lc_status st = lc_adapter_read_info(path, &info);
        if (!st && !info.has_train_state)
            st = lc_errorf(LC_ERR_FORMAT, "%s holds no training state", path);
        if (!st) return s;
        /* kept (renamed, so that neither this resume's own save of that step nor a later --resume trips on it) */
        char aside[4300];
        /* aside has room for path + ".corrupt" (4300 > 4200 + 8): this cannot fail */
        int moved = !lc_path_fmt(aside, sizeof aside, "%s.corrupt", path) && access(aside, F_OK) != 0 &&
                    rename(path, aside) == 0;
        lc_reporter_msg(rep, LC_REPORT_NOTICE, "lorac: warning: %s is corrupt or unreadable (%s); %s%s; resuming from "
                      "the previous checkpoint", path, lc_error_msg(), moved ? "kept as " : "left as it is",
                      moved ? aside : "");
    }
    lc_errorf(LC_ERR_FORMAT, "--resume: no checkpoint in %s can be read (each is reported above)", dir);
    return -1;
}
