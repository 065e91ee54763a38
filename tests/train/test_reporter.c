/*
 * test_reporter.c — the training run's reporter events (lc_reporter.h),
 * recorded from short real runs of lc_train_run on stories260K (HF directory
 * from ../shared), and --resume's config comparison (lc_train_config_diff).
 *
 * usage: test_reporter MODEL_DIR WORK_DIR
 *
 *   events   6 steps, eval_every 3, log_every 2, a validation file: one
 *            metrics event per step (and step 0, the evaluation before
 *            training), each equal to its metrics.jsonl line (parsed with
 *            jansson, numbers as %.9g text); one progress event per step
 *            after that step's metrics, with log_due every 2nd step,
 *            evaluated at steps 3 and 6, the same losses; phase_end once,
 *            after the last step; the header lines as DETAIL messages and no
 *            NOTICE; the lr of each step equals lc_schedule_lr.
 *   resume   stopped after step 3 (lc_train_debug.stop_after_step): the
 *            resumed run with lr, r and seed changed fails with LC_ERR_CONFIG
 *            naming all three keys with both values and none of the keys that
 *            may change; with only max_steps (6 -> 8) and log_every changed it
 *            runs, and its events start at step 4. A metrics.jsonl line
 *            without a step is refused naming file:line; a torn last line
 *            (a killed run's) is dropped, leaving steps 0..8 once each.
 *   fsize    a metrics file that cannot grow (RLIMIT_FSIZE 4096) stops the
 *            run mid-way with LC_ERR_IO naming metrics.jsonl.
 *   diff     lc_train_config_diff names exactly the keys set differently, in
 *            KEYS order, with the values YAML writes.
 *
 * Every check prints what it measured; any failure makes the exit status 1.
 */
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "lc_config.h"
#include "lc_reporter.h"
#include "lc_schedule.h"
#include "lc_train.h"

#include "../lc_test.h"

/* ----------------------------------------------------------- recorder */

#define MAX_EV 256

typedef enum { EV_MESSAGE, EV_METRICS, EV_PROGRESS, EV_COUNT, EV_PHASE_END } ev_kind;

typedef struct {
    ev_kind kind;
    lc_reporter_level level;
    char text[512];
    lc_train_metrics m;
    lc_train_progress p;   /* arrays not kept: their values below (one trial) */
    double p_loss, p_valid;
    int p_active;
} event;

typedef struct {
    event ev[MAX_EV];
    int n;
} recorder;

static event *next_event(recorder *r, ev_kind kind) {
    if (r->n == MAX_EV) {
        CHECK(0, "more than %d reporter events", MAX_EV);
        return NULL;
    }
    event *e = &r->ev[r->n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    return e;
}

static void rec_message(void *user, lc_reporter_level level, const char *text) {
    event *e = next_event(user, EV_MESSAGE);
    if (!e) return;
    e->level = level;
    snprintf(e->text, sizeof e->text, "%s", text);
}

static void rec_metrics(void *user, const lc_train_metrics *m) {
    event *e = next_event(user, EV_METRICS);
    if (e) e->m = *m;
}

static void rec_progress(void *user, const lc_train_progress *p) {
    event *e = next_event(user, EV_PROGRESS);
    if (!e) return;
    e->p = *p;
    e->p_loss = p->loss[0];
    e->p_valid = p->valid_loss[0];
    e->p_active = p->active[0];
    e->p.loss = e->p.valid_loss = NULL;
    e->p.active = NULL;
}

static void rec_count(void *user, const char *what, int done, int total) {
    event *e = next_event(user, EV_COUNT);
    if (e) snprintf(e->text, sizeof e->text, "%s %d/%d", what, done, total);
}

static void rec_phase_end(void *user) { next_event(user, EV_PHASE_END); }

static lc_reporter recorder_reporter(recorder *r) {
    r->n = 0;
    return (lc_reporter){.message = rec_message, .train_metrics = rec_metrics, .train_progress = rec_progress,
                         .count = rec_count, .phase_end = rec_phase_end, .user = r};
}

/* ------------------------------------------------------------- files */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void write_data(const char *path, int first, int n) {
    static const char *QA[][2] = {
        {"What color is the sky?", " The sky is blue."},
        {"What does the cat say?", " The cat says meow."},
        {"Where does the fish live?", " The fish lives in the water."},
        {"What does Lily like?", " Lily likes to play in the park with her dog."},
        {"Who is Tom?", " Tom is a little boy."},
        {"What is in the box?", " A red ball is in the box."},
        {"What did Ben eat?", " Ben ate a big apple."},
        {"Where is the sun?", " The sun is up in the sky."},
        {"What is cold?", " The snow is cold."},
        {"What does the cow say?", " The cow says moo."},
    };
    FILE *f = fopen(path, "w");
    if (!f) {
        printf("FAIL: cannot write %s\n", path);
        exit(1);
    }
    for (int i = first; i < first + n; i++)
        fprintf(f, "{\"prompt\": \"%s\", \"completion\": \"%s\"}\n", QA[i][0], QA[i][1]);
    fclose(f);
}

static lc_train_config small_config(const char *model, const char *work, const char *name) {
    lc_train_config c = lc_train_config_default();
    snprintf(c.model, sizeof c.model, "%.1000s", model);
    snprintf(c.data, sizeof c.data, "%.1000s/train.jsonl", work);
    snprintf(c.valid_data, sizeof c.valid_data, "%.1000s/valid.jsonl", work);
    snprintf(c.out_dir, sizeof c.out_dir, "%.1000s/%s", work, name);
    snprintf(c.target_modules, sizeof c.target_modules, "q_proj,v_proj");
    c.split = 0;
    c.lr = 3e-3;
    c.lr_schedule = LC_SCHED_COSINE;
    c.warmup_steps = 2;
    c.batch_size = 2;
    c.max_seq_len = 64;
    c.max_steps = 6;
    c.eval_every = 3;
    c.save_every = 3;
    c.log_every = 2;
    c.keep_last = 0;
    return c;
}

/* The %.9g text of v, "nan" for NAN: the form metrics.jsonl writes numbers in. */
static void num_text(char *buf, size_t size, double v) {
    if (isnan(v)) snprintf(buf, size, "nan");
    else snprintf(buf, size, "%.9g", v);
}

/* metrics.jsonl's line of `step` (a JSON null reads as NAN); 0 if absent. */
static int jsonl_line(const char *dir, int64_t step, double *loss, double *lr, double *valid) {
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[2048];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        if (o && json_integer_value(json_object_get(o, "step")) == step && json_object_get(o, "lr")) {
            json_t *l = json_object_get(o, "loss"), *r = json_object_get(o, "lr"), *v = json_object_get(o, "valid_loss");
            *loss = json_is_number(l) ? json_number_value(l) : NAN;
            *lr = json_is_number(r) ? json_number_value(r) : NAN;
            *valid = json_is_number(v) ? json_number_value(v) : NAN;
            found = 1;
        }
        json_decref(o);
    }
    fclose(f);
    return found;
}

/* The first size-1 bytes of path, NUL-terminated; the count read. */
static size_t read_file(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    return n;
}

/* ------------------------------------------------------------- events */

static void check_metrics_event(const event *e, const lc_train_config *c, int64_t step) {
    char a[64], b[64];
    double loss, lr, valid;
    CHECK(jsonl_line(c->out_dir, step, &loss, &lr, &valid), "no metrics.jsonl line for step %lld", (long long)step);
    num_text(a, sizeof a, e->m.loss), num_text(b, sizeof b, loss);
    CHECK(!strcmp(a, b), "step %lld: metrics event loss %s, metrics.jsonl %s", (long long)step, a, b);
    num_text(a, sizeof a, e->m.valid_loss), num_text(b, sizeof b, valid);
    CHECK(!strcmp(a, b), "step %lld: metrics event valid_loss %s, metrics.jsonl %s", (long long)step, a, b);
    int evaluated = step == 0 || step % c->eval_every == 0 || step == c->max_steps;
    CHECK(evaluated == !isnan(e->m.valid_loss), "step %lld: valid_loss %g, expected %s", (long long)step,
          e->m.valid_loss, evaluated ? "a number" : "NAN");
    if (step == 0) return;
    double want = lc_schedule_lr(c->lr_schedule, c->lr, (long)step - 1, c->max_steps, c->warmup_steps);
    CHECK(e->m.lr == want && isfinite(e->m.loss) && e->m.targets > 0,
          "step %lld: lr %.9g (schedule %.9g), loss %g, targets %lld", (long long)step, e->m.lr, want, e->m.loss,
          (long long)e->m.targets);
}

/* The events of steps first..last of a one-trial run, in order: per step
 * metrics then progress; phase_end once at the end; messages anywhere. */
static void check_step_events(const recorder *r, const lc_train_config *c, int64_t first, int64_t last) {
    int64_t want_step = first;
    int want_progress = 0, n_phase_end = 0, n_notice = 0;
    double last_loss = NAN;
    for (int i = 0; i < r->n; i++) {
        const event *e = &r->ev[i];
        if (e->kind == EV_MESSAGE) {
            n_notice += e->level == LC_REPORT_NOTICE;
        } else if (e->kind == EV_METRICS) {
            CHECK(!want_progress && e->m.step == want_step && e->m.trial == 0,
                  "event %d: metrics of step %lld (trial %d), expected step %lld", i, (long long)e->m.step,
                  e->m.trial, (long long)want_step);
            check_metrics_event(e, c, e->m.step);
            last_loss = e->m.loss;
            want_progress = e->m.step > 0; /* the step-0 evaluation has no progress event */
            if (!want_progress) want_step++;
        } else if (e->kind == EV_PROGRESS) {
            int64_t s = e->p.step;
            CHECK(want_progress && s == want_step && e->p.total_steps == c->max_steps && e->p.n_trials == 1,
                  "event %d: progress of step %lld/%lld, expected step %lld/%d after its metrics", i, (long long)s,
                  (long long)e->p.total_steps, (long long)want_step, c->max_steps);
            CHECK(e->p.log_due == (s % c->log_every == 0) && e->p.evaluated == (s % c->eval_every == 0 || s == c->max_steps),
                  "step %lld: log_due %d evaluated %d", (long long)s, e->p.log_due, e->p.evaluated);
            CHECK(e->p_loss == last_loss && e->p_active && e->p.tokens_per_s > 0 && e->p.eta_s >= 0,
                  "step %lld: progress loss %g (metrics %g), active %d, %g tok/s, eta %g", (long long)s, e->p_loss,
                  last_loss, e->p_active, e->p.tokens_per_s, e->p.eta_s);
            CHECK(isnan(e->p_valid) == !e->p.evaluated, "step %lld: progress valid loss %g", (long long)s, e->p_valid);
            want_progress = 0;
            want_step++;
        } else if (e->kind == EV_PHASE_END) {
            n_phase_end++;
            CHECK(want_step == last + 1, "phase_end after step %lld, expected after %lld", (long long)want_step - 1,
                  (long long)last);
        } else {
            CHECK(0, "event %d: a count event from training (%s)", i, e->text);
        }
    }
    CHECK(want_step == last + 1 && n_phase_end == 1 && n_notice == 0,
          "events end at step %lld (expected %lld), %d phase_end (expected 1), %d notices (expected 0)",
          (long long)want_step - 1, (long long)last, n_phase_end, n_notice);
}

static int has_message(const recorder *r, const char *needle) {
    for (int i = 0; i < r->n; i++)
        if (r->ev[i].kind == EV_MESSAGE && strstr(r->ev[i].text, needle)) return 1;
    return 0;
}

static void test_events(const char *model, const char *work) {
    static recorder r;
    lc_reporter rep = recorder_reporter(&r);
    lc_train_config c = small_config(model, work, "events");
    lc_train_options opt = {.reporter = &rep};
    lc_train_result res;
    lc_status st = lc_train_run(&c, &opt, &res);
    CHECK_OK(st, "events run");
    if (st) return;
    int n_kind[5] = {0};
    for (int i = 0; i < r.n; i++) n_kind[r.ev[i].kind]++;
    printf("events: %d recorded: %d messages, %d metrics, %d progress, %d count, %d phase_end; final loss %.4f\n",
           r.n, n_kind[EV_MESSAGE], n_kind[EV_METRICS], n_kind[EV_PROGRESS], n_kind[EV_COUNT], n_kind[EV_PHASE_END],
           res.final_train_loss);
    CHECK(n_kind[EV_METRICS] == 7 && n_kind[EV_PROGRESS] == 6, "expected 7 metrics events (steps 0-6), 6 progress");
    check_step_events(&r, &c, 0, 6);
    const char *want[] = {"training rows", "LoRA r=8", "precision", "validation loss before training"};
    for (int i = 0; i < 4; i++) CHECK(has_message(&r, want[i]), "no message containing '%s'", want[i]);
    for (int i = 0; i < r.n; i++)
        if (r.ev[i].kind == EV_MESSAGE) printf("  message (%s): %.100s\n", r.ev[i].level ? "notice" : "detail", r.ev[i].text);
}

/* --------------------------------------------------------------- resume */

static void test_resume(const char *model, const char *work) {
    static recorder r;
    lc_reporter rep = recorder_reporter(&r);
    lc_train_config c = small_config(model, work, "resume");
    lc_train_debug dbg = {.stop_after_step = 3};
    lc_train_options opt = {.reporter = &rep, .debug = &dbg};
    lc_train_result res;
    lc_status st = lc_train_run(&c, &opt, &res);
    printf("resume: stopped after step 3: %s (%s)\n", lc_status_name(st), lc_error_msg());
    CHECK(st == LC_ERR_INTERRUPTED && res.interrupted && res.steps_done == 3, "stop_after_step 3: %s, %lld steps",
          lc_status_name(st), (long long)res.steps_done);

    lc_train_config changed = c;
    changed.lr = 2e-3;
    changed.r = 16;
    changed.seed = 43;
    changed.max_steps = 8; /* may change */
    changed.threads = 1;   /* may change */
    opt = (lc_train_options){.resume = 1, .reporter = &rep};
    st = lc_train_run(&changed, &opt, &res);
    const char *msg = lc_error_msg();
    printf("resume: lr, r, seed, max_steps, threads changed: %s: %s\n", lc_status_name(st), msg);
    CHECK(st == LC_ERR_CONFIG, "a resume with lr, r and seed changed: %s, expected LC_ERR_CONFIG", lc_status_name(st));
    CHECK(strstr(msg, "r 8 -> 16; lr 0.003 -> 0.002; seed 42 -> 43") != NULL,
          "the error names r, lr and seed with both values in KEYS order: %s", msg);
    CHECK(!strstr(msg, "max_steps 6") && !strstr(msg, "threads 0"), "the error names a key that may change: %s", msg);

    /* metrics.jsonl as a killed run may leave it: a line without a step in the middle is refused
     * (file:line named); a torn last line (no newline) is dropped */
    char path[1200], saved[8192];
    snprintf(path, sizeof path, "%s/metrics.jsonl", c.out_dir);
    size_t n_saved = read_file(path, saved, sizeof saved);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"step\":0}\n{\"no_step\":1}\n%s", saved);
    fclose(f);
    changed = c;
    st = lc_train_run(&changed, &opt, &res);
    msg = lc_error_msg();
    printf("resume: metrics.jsonl with a line without a step: %s: %s\n", lc_status_name(st), msg);
    CHECK(st == LC_ERR_FORMAT && strstr(msg, "metrics.jsonl:2:") && strstr(msg, "no_step"),
          "a metrics line without a step: %s, expected LC_ERR_FORMAT naming metrics.jsonl:2", lc_status_name(st));
    f = fopen(path, "w");
    fwrite(saved, 1, n_saved, f);
    fputs("{\"step\":4,\"epoch\":0,\"lo", f); /* torn */
    fclose(f);

    changed.max_steps = 8;
    changed.log_every = 1;
    r.n = 0;
    st = lc_train_run(&changed, &opt, &res);
    printf("resume: max_steps 6 -> 8, log_every 2 -> 1: %s, %lld steps\n", lc_status_name(st), (long long)res.steps_done);
    CHECK(st == LC_OK && res.steps_done == 8, "resume with max_steps and log_every changed: %s (%s)",
          lc_status_name(st), lc_error_msg());
    CHECK(has_message(&r, "resumed from"), "no 'resumed from' message");
    changed.eval_every = 3;
    if (!st) check_step_events(&r, &changed, 4, 8);
    /* steps 0, 1..8 once each, every line whole */
    char text[8192];
    read_file(path, text, sizeof text);
    int64_t want = 0;
    int bad = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o || json_integer_value(json_object_get(o, "step")) != want) bad++;
        if (o && json_object_get(o, "lr")) want++; /* the test-loss line has none */
        json_decref(o);
    }
    printf("resume: metrics.jsonl after resuming: steps 0..%lld, %d bad line(s)\n", (long long)want - 1, bad);
    CHECK(want == 9 && bad == 0, "metrics.jsonl after the resume: steps 0..%lld, %d bad lines", (long long)want - 1, bad);
}

/* ----------------------------------------------------------- write error */

/* A metrics file that cannot grow (RLIMIT_FSIZE, as a full disk): the run
 * stops at that step with LC_ERR_IO naming the file, instead of training on
 * with a log that has lost its lines. */
static void test_write_error(const char *model, const char *work) {
    lc_train_config c = small_config(model, work, "fsize");
    c.valid_data[0] = 0;
    c.max_steps = 60;
    c.eval_every = 0;
    c.save_every = 0;
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096; /* config.yaml (~1.5 KB) fits; metrics.jsonl (~180 B a step) fills it by step ~23 */
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    lc_train_result res;
    lc_status st = lc_train_run(&c, NULL, &res);
    setrlimit(RLIMIT_FSIZE, &old);
    const char *msg = lc_error_msg();
    printf("write error: metrics files limited to 4096 bytes: %s after %lld steps: %s\n", lc_status_name(st),
           (long long)res.steps_done, msg);
    CHECK(st == LC_ERR_IO && strstr(msg, "metrics.jsonl") && res.steps_done > 5 && res.steps_done < 40,
          "a failed metrics write: %s after %lld steps (%s), expected LC_ERR_IO naming metrics.jsonl mid-run",
          lc_status_name(st), (long long)res.steps_done, msg);
}

/* ----------------------------------------------------------------- diff */

typedef struct {
    char text[512];
    int n;
} diff_text;

static void add_diff(void *user, const char *key, const char *a, const char *b) {
    diff_text *d = user;
    size_t o = strlen(d->text);
    snprintf(d->text + o, sizeof d->text - o, "%s%s %s -> %s", d->n++ ? "; " : "", key, a, b);
}

static void test_diff(void) {
    lc_train_config a = lc_train_config_default(), b = a;
    diff_text d = {"", 0};
    int n = lc_train_config_diff(&a, &b, add_diff, &d);
    CHECK(n == 0 && d.n == 0, "equal configs: %d differences (%s)", n, d.text);
    b.lr = 3e-4;
    b.r = 16;
    b.lr_schedule = LC_SCHED_LINEAR;
    snprintf(b.data, sizeof b.data, "x.jsonl");
    b.packing = !a.packing;
    n = lc_train_config_diff(&a, &b, add_diff, &d);
    char want[512];
    snprintf(want, sizeof want, "data \"\" -> \"x.jsonl\"; r 8 -> 16; lr 0.0002 -> 0.0003; lr_schedule %s -> linear; "
             "packing %s -> %s", lc_lr_schedule_name(a.lr_schedule), a.packing ? "true" : "false",
             b.packing ? "true" : "false");
    printf("diff: %d keys: %s\n", n, d.text);
    CHECK(n == 5 && !strcmp(d.text, want), "lc_train_config_diff: %d keys '%s', expected 5 '%s'", n, d.text, want);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL_DIR WORK_DIR\n", argv[0]);
        return 2;
    }
    const char *model = argv[1], *work = argv[2];
    nftw(work, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    mkdir(work, 0755);
    char path[1200];
    snprintf(path, sizeof path, "%s/train.jsonl", work);
    write_data(path, 0, 8);
    snprintf(path, sizeof path, "%s/valid.jsonl", work);
    write_data(path, 8, 2);
    test_diff();
    test_events(model, work);
    test_resume(model, work);
    test_write_error(model, work);
    return lc_test_finish("test_reporter");
}
