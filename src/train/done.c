/*
 * done.c — out_dir/done.json, the record of a finished training run
 * (lc_train.h): what lc_train_run(_multi) writes after a run completed
 * (adapter.h5 saved, test loss measured), and what `lorac sweep` reads to
 * recognise a trial finished by itself or by `lorac train` / `--resume` in
 * that directory. A run that starts training removes the file (train.c,
 * once its config and checkpoint are accepted): a run extended with
 * --resume is not finished until it finishes again.
 *
 * Layout (docs/formats.md, done.json): indented JSON, numbers with 17
 * significant digits (a double read back is the one written), NaN as null.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lc_fsafe.h"
#include "lc_path.h"
#include "lc_train.h"

static json_t *num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

lc_status lc_train_done_write(const char *out_dir, const lc_train_result *res, double train_s) {
    char path[1400];
    lc_status st = lc_path_join(path, sizeof path, out_dir, LC_TRAIN_DONE_NAME);
    if (st) return st;
    json_t *o = json_object();
    json_object_set_new(o, "best_valid_loss", num_or_null(res->best_valid_loss));
    json_object_set_new(o, "best_step", json_integer(res->best_step));
    json_object_set_new(o, "last_valid_loss", num_or_null(res->last_valid_loss));
    json_object_set_new(o, "final_train_loss", num_or_null(res->final_train_loss));
    json_object_set_new(o, "steps", json_integer(res->steps_done));
    json_object_set_new(o, "total_steps", json_integer(res->total_steps));
    json_object_set_new(o, "stopped_early", json_boolean(res->stopped_early));
    json_object_set_new(o, "test_loss_base", num_or_null(res->test_loss_base));
    json_object_set_new(o, "test_loss", num_or_null(res->test_loss));
    json_object_set_new(o, "train_s", json_real(train_s));
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(o);
    if (!text) return lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path);
    st = lc_fs_write_atomic(path, text, strlen(text));
    free(text);
    return st;
}

/* A number field, NAN when absent or null. */
static double num(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

lc_status lc_train_done_read(const char *out_dir, lc_train_result *res) {
    char path[1400];
    lc_status st = lc_path_join(path, sizeof path, out_dir, LC_TRAIN_DONE_NAME);
    if (st) return st;
    json_error_t e;
    json_t *o = json_load_file(path, 0, &e);
    if (!o) {
        if (e.line < 0) return lc_errorf(LC_ERR_IO, "%s", e.text); /* jansson: "unable to open PATH: why" */
        return lc_errorf(LC_ERR_FORMAT, "%s:%d: %s (delete it to train the run again)", path, e.line, e.text);
    }
    if (!json_is_object(o)) {
        json_decref(o);
        return lc_errorf(LC_ERR_FORMAT, "%s: expected a JSON object (delete it to train the run again)", path);
    }
    res->best_valid_loss = num(o, "best_valid_loss");
    res->last_valid_loss = num(o, "last_valid_loss");
    res->final_train_loss = num(o, "final_train_loss");
    res->test_loss_base = num(o, "test_loss_base");
    res->test_loss = num(o, "test_loss");
    double bs = num(o, "best_step"), s = num(o, "steps"), ts = num(o, "total_steps");
    res->best_step = isnan(bs) ? -1 : (int64_t)bs;
    res->steps_done = isnan(s) ? 0 : (int64_t)s;
    res->total_steps = isnan(ts) ? res->steps_done : (int64_t)ts; /* absent in a sweep's done.json of before */
    res->stopped_early = json_is_true(json_object_get(o, "stopped_early"));
    json_decref(o);
    return LC_OK;
}
