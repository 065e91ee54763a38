/*
 * report.c — report.html of a train run, an eval and a sweep (lc_report.h):
 * read back the files those verbs wrote (metrics.jsonl, config.yaml,
 * eval.json, generations.jsonl, curves.svg), draw the curves as inline SVG
 * polylines, escape every piece of text, write the page atomically.
 *
 * Page skeleton (every report): header with the verb and directory, a
 * status line, "cards" with the key numbers, then sections. Charts are
 * <svg class="chart" id="..."> with one <polyline class="curve NAME"
 * data-points="N"> per series (tests count the points), a grid, tick labels
 * and a legend; no script anywhere.
 */
#include "lc_report.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lc_ckpt.h"
#include "lc_config.h"
#include "lc_cpu.h"
#include "lc_dist.h"
#include "lc_fsafe.h"
#include "lc_metrics.h"
#include "lc_path.h"

/* ---------------------------------------------------------------- text */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_len(const unsigned char *s) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!n) return 0;
    unsigned lo = 0x80, hi = 0xBF; /* the second byte's range (no overlongs, surrogates, > U+10FFFF) */
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

void lc_html_escape(FILE *f, const char *s) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned c = *p;
        int n = utf8_len(p);
        if (!n || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) {
            fputs("\xEF\xBF\xBD", f); /* U+FFFD */
            p++;
            continue;
        }
        if (c == '&') fputs("&amp;", f);
        else if (c == '<') fputs("&lt;", f);
        else if (c == '>') fputs("&gt;", f);
        else if (c == '"') fputs("&quot;", f);
        else if (c == '\'') fputs("&#39;", f);
        else fwrite(p, 1, (size_t)n, f);
        p += n;
    }
}
#define ESC(f, s) lc_html_escape(f, s)

/* A relative link: unreserved characters and '/' as they are, the rest %XX. */
static void url_escape(FILE *f, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~/", *p))
            fputc(*p, f);
        else fprintf(f, "%%%02X", *p);
    }
}

/* The whole file as a string (malloc'd), NULL if it cannot be read. */
static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (m) {
        char chunk[8192];
        size_t k;
        while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, k, m);
        fclose(m);
    }
    fclose(f);
    return buf;
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* -------------------------------------------------------------- series */

typedef struct {
    double *x, *y; /* (n) */
    int n, cap;
} series;

/* Append (x, y); points at x or later from before are dropped first, so a
 * metrics file with a step logged twice (a resumed run) keeps the newest. */
static int series_push(series *s, double x, double y) {
    while (s->n && s->x[s->n - 1] >= x) s->n--;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        double *a = realloc(s->x, (size_t)cap * sizeof *a);
        if (!a) return -1;
        s->x = a;
        double *b = realloc(s->y, (size_t)cap * sizeof *b);
        if (!b) return -1;
        s->y = b;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
    return 0;
}

static void series_free(series *s) {
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof *s);
}

/* --------------------------------------------------------------- chart */

typedef struct {
    const series *s;
    const char *name;  /* legend */
    const char *cls;   /* polyline class: "train-loss", "valid-loss", "lr" */
    const char *color;
    int dashed, dots;
} curve;

/* 1, 2 or 5 times a power of ten, about range/ticks. */
static double nice_step(double range, int ticks) {
    double raw = range / ticks, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* An inline <svg> line chart of the curves against the optimizer step. */
static void svg_chart(FILE *f, const char *id, const char *ylabel, const curve *c, int nc) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    int total = 0;
    for (int k = 0; k < nc; k++)
        for (int i = 0; i < c[k].s->n; i++, total++) {
            x0 = fmin(x0, c[k].s->x[i]);
            x1 = fmax(x1, c[k].s->x[i]);
            y0 = fmin(y0, c[k].s->y[i]);
            y1 = fmax(y1, c[k].s->y[i]);
        }
    if (!total) {
        fputs("<p class=\"empty\">nothing logged yet</p>\n", f);
        return;
    }
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) {
        double d = y0 != 0 ? fabs(y0) * 0.1 : 0.5;
        y0 -= d, y1 += d;
    }
    double ys = nice_step(y1 - y0, 5), xs = nice_step(x1 - x0, 8);
    y0 = floor(y0 / ys) * ys, y1 = ceil(y1 / ys) * ys;
    x0 = floor(x0 / xs) * xs, x1 = ceil(x1 / xs) * xs;
    const double W = 640, H = 240, L = 64, T = 14; /* plot area [L, L+W] x [T, T+H] */
    const double width = L + W + 210, height = T + H + 44;
#define PX(x) (L + ((x) - x0) / (x1 - x0) * W)
#define PY(y) (T + H - ((y) - y0) / (y1 - y0) * H)
    fprintf(f, "<svg class=\"chart\" id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" "
               "role=\"img\">\n", id, width, height);
    for (double y = y0; y <= y1 + ys * 1e-6; y += ys) {
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", L, PY(y), L + W, PY(y));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 6, PY(y) + 4, fabs(y) < ys * 1e-6 ? 0 : y);
    }
    for (double x = x0; x <= x1 + xs * 1e-6; x += xs) {
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", PX(x), T, PX(x), T + H);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.6g</text>\n", PX(x), T + H + 16, x);
    }
    fprintf(f, "<rect class=\"frame\" x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\"/>\n", L, T, W, H);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">optimizer step</text>\n", L + W / 2, T + H + 36);
    fprintf(f, "<text transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\">", T + H / 2);
    ESC(f, ylabel);
    fputs("</text>\n", f);
    for (int k = 0; k < nc; k++) {
        const series *s = c[k].s;
        if (!s->n) continue;
        fprintf(f, "<polyline class=\"curve %s\" data-points=\"%d\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s "
                   "points=\"", c[k].cls, s->n, c[k].color, c[k].dashed ? "2" : "1.6",
                c[k].dashed ? " stroke-dasharray=\"6 4\"" : "");
        for (int i = 0; i < s->n; i++) fprintf(f, "%s%.1f,%.1f", i ? " " : "", PX(s->x[i]), PY(s->y[i]));
        fputs("\"/>\n", f);
        if (c[k].dots)
            for (int i = 0; i < s->n; i++)
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>step %.0f: %.4g</title></circle>",
                        PX(s->x[i]), PY(s->y[i]), c[k].color, s->x[i], s->y[i]);
        if (c[k].dots) fputc('\n', f);
    }
    for (int k = 0; k < nc; k++) { /* legend */
        double y = T + 12 + 20 * k;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"3\"%s/>", L + W + 14,
                y - 4, L + W + 38, y - 4, c[k].color, c[k].dashed ? " stroke-dasharray=\"6 4\"" : "");
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">", L + W + 44, y);
        ESC(f, c[k].name);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
#undef PX
#undef PY
}

/* ------------------------------------------------------------- the page */

static const char CSS[] =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#1d2330;"
    "background:#f4f6f9;margin:0}\n"
    "main{max-width:1120px;margin:0 auto;padding:24px 28px 60px}\n"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:30px 0 10px;border-bottom:1px solid #d5dae3;"
    "padding-bottom:4px}\n"
    ".sub{color:#5b6475;margin:0 0 14px;word-break:break-all}\n"
    ".status{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;font-size:13px}\n"
    ".ok{background:#dcf3e3;color:#176a34}.warn{background:#fff1cc;color:#7a5a00}.bad{background:#fbdcdc;"
    "color:#8a1c1c}\n"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}\n"
    ".card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:10px 14px;min-width:150px}\n"
    ".card b{display:block;font-size:20px}.card span{color:#5b6475;font-size:12px}\n"
    ".chart{background:#fff;border:1px solid #dde2ea;border-radius:8px;width:100%;height:auto;font-size:12px;"
    "font-family:inherit}\n"
    ".chart .grid{stroke:#e6e9ef}.chart .frame{fill:none;stroke:#9aa3b2}.chart text{fill:#3b4252}\n"
    "table{border-collapse:collapse;background:#fff;border:1px solid #dde2ea;font-size:14px;margin:6px 0}\n"
    "th,td{padding:5px 10px;border-bottom:1px solid #e6e9ef;text-align:left;vertical-align:top}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#eef1f6}\n"
    ".best{font-weight:700;color:#176a34}\n"
    ".ex{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:10px 14px;margin:10px 0}\n"
    ".ex .q{font-weight:600;margin-bottom:6px}\n"
    "details{margin:0 0 8px;font-size:13px;color:#5b6475}details pre{margin:4px 0 0}\n"
    ".answers{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:10px}\n"
    ".answers div{background:#f7f8fb;border-radius:6px;padding:6px 10px;white-space:pre-wrap;word-break:break-word}\n"
    ".answers div.ref{background:#e8f1ff}.answers h4{margin:0 0 4px;font-size:12px;color:#5b6475}\n"
    "pre{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:10px 14px;overflow-x:auto;"
    "font-size:13px;white-space:pre-wrap;word-break:break-word}\n"
    ".empty{color:#5b6475;font-style:italic}a{color:#1f5fbf}\n"
    ".sweep-curves svg{max-width:100%;height:auto;border:1px solid #dde2ea;border-radius:8px}\n"
    "footer{margin-top:36px;color:#7a8396;font-size:12px}\n";

static void page_begin(FILE *f, const char *verb, const char *dir) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>lorac ", f);
    ESC(f, verb);
    fputs(" report: ", f);
    ESC(f, dir);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n<h1>lorac %s</h1>\n<p class=\"sub\">", CSS,
            verb);
    ESC(f, dir);
    fputs("</p>\n", f);
}

static void page_end(FILE *f) {
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
    fprintf(f, "<footer>written by lorac on %s; self-contained (no script, no network)</footer>\n"
               "</main>\n</body>\n</html>\n", when);
}

static void card(FILE *f, const char *value, const char *label) {
    fputs("<div class=\"card\"><b>", f);
    ESC(f, value);
    fputs("</b><span>", f);
    ESC(f, label);
    fputs("</span></div>\n", f);
}

static void cardf(FILE *f, const char *label, const char *fmt, double v) {
    char buf[64];
    if (isfinite(v)) snprintf(buf, sizeof buf, fmt, v);
    else snprintf(buf, sizeof buf, "-");
    card(f, buf, label);
}

/* A <pre> section with a file's text, or a note that it is missing. */
static void file_section(FILE *f, const char *title, const char *path) {
    fputs("<h2>", f);
    ESC(f, title);
    fputs("</h2>\n", f);
    char *text = read_text(path);
    if (text) {
        fputs("<pre class=\"config\">", f);
        ESC(f, text);
        fputs("</pre>\n", f);
    } else {
        fputs("<p class=\"empty\">", f);
        ESC(f, path);
        fputs(" is missing</p>\n", f);
    }
    free(text);
}

/* The one-line compute path for the named matmul path ("fp32", ...), or
 * for the path `precision` (a config setting index) resolves to here. */
static void compute_line(char *buf, size_t n, const char *path_name, int precision) {
    for (int p = LC_MATMUL_FP32; path_name && path_name[0] && p <= LC_MATMUL_BF16_ONEDNN; p++)
        if (!strcmp(path_name, lc_matmul_path_name((lc_matmul_path)p))) {
            lc_compute_path_describe(buf, n, (lc_matmul_path)p, 0);
            return;
        }
    lc_precision prec;
    int forced;
    lc_cpu_features feat;
    lc_matmul_path path = LC_MATMUL_FP32;
    lc_cpu_detect(&feat);
    if (!lc_matmul_path_parse(lc_precision_setting_name(precision), &prec, &forced))
        lc_matmul_path_resolve(prec, forced, &feat, lc_onednn_available(), &path);
    lc_compute_path_describe(buf, n, path, 0);
}

static void compute_section(FILE *f, const char *line, const char *note) {
    fputs("<h2>Compute path</h2>\n<pre class=\"compute\">", f);
    ESC(f, line);
    fputs("</pre>\n", f);
    if (note) {
        fputs("<p class=\"sub\">", f);
        ESC(f, note);
        fputs("</p>\n", f);
    }
}

/* Finish the memstream and write it to dir/report.html atomically. */
static lc_status page_write(FILE *f, char **buf, size_t *len, const char *dir) {
    char path[4200];
    lc_status st = lc_path_join(path, sizeof path, dir, "report.html");
    if (fclose(f) && !st) st = lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path);
    return st ? st : lc_fs_write_atomic(path, *buf, *len);
}

/* ------------------------------------------------------------ train run */

static double jnum(json_t *o, const char *key);
static void eval_table(FILE *f, json_t *cands);
static void eval_generations(FILE *f, const char *path, json_t *cands, const char *data);

typedef struct {
    series train, valid, lr, targets;
    double test_base, test_tuned, elapsed_s, peak_rss_mb;
    int64_t last_step, epoch;
    int bad_lines;
} run_metrics;

static double jnum(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* metrics.jsonl of a run dir. LC_ERR_IO if it does not exist (LC_ERR_ARG,
 * with a message, when its path does not fit). */
static lc_status read_metrics(const char *dir, run_metrics *m) {
    memset(m, 0, sizeof *m);
    m->test_base = m->test_tuned = m->elapsed_s = m->peak_rss_mb = NAN;
    m->last_step = -1;
    char path[4200];
    lc_status st = lc_path_join(path, sizeof path, dir, "metrics.jsonl");
    if (st) return st;
    FILE *fp = fopen(path, "r");
    if (!fp) return LC_ERR_IO;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) > 0 && !st) {
        json_t *o = json_loads(line, 0, NULL);
        double step = o ? jnum(o, "step") : NAN;
        if (!o || !isfinite(step)) { /* e.g. a line torn by a crash */
            m->bad_lines += line[0] != '\n';
            json_decref(o);
            continue;
        }
        double tb = jnum(o, "test_loss_base"), tt = jnum(o, "test_loss");
        if (isfinite(tb) || isfinite(tt)) {
            m->test_base = tb, m->test_tuned = tt;
        } else {
            double loss = jnum(o, "loss"), lr = jnum(o, "lr"), vl = jnum(o, "valid_loss"), tg = jnum(o, "targets");
            double el = jnum(o, "elapsed_s"), rss = jnum(o, "peak_rss_mb"), ep = jnum(o, "epoch");
            if ((isfinite(loss) && series_push(&m->train, step, loss)) || (isfinite(lr) && isfinite(loss) && series_push(&m->lr, step, lr)) ||
                (isfinite(vl) && series_push(&m->valid, step, vl)) ||
                (isfinite(tg) && isfinite(loss) && series_push(&m->targets, step, tg)))
                st = lc_errorf(LC_ERR_NOMEM, "out of memory reading %s", path);
            if (step >= (double)m->last_step) {
                m->last_step = (int64_t)step;
                if (isfinite(el) && step > 0) m->elapsed_s = el;
                if (isfinite(rss)) m->peak_rss_mb = rss;
                if (isfinite(ep)) m->epoch = (int64_t)ep;
            }
        }
        json_decref(o);
    }
    free(line);
    fclose(fp);
    return st;
}

static void metrics_free(run_metrics *m) {
    series_free(&m->train);
    series_free(&m->valid);
    series_free(&m->lr);
    series_free(&m->targets);
}

/* The files of a run dir that its page reads, joined before the page is
 * begun so that a path too long fails the report instead of cutting it. */
typedef struct {
    char adapter[4200], config[4200], eval_json[4200], eval_gen[4200];
} run_paths;

static lc_status run_paths_of(const char *dir, run_paths *p) {
    lc_status st;
    if ((st = lc_path_join(p->adapter, sizeof p->adapter, dir, "adapter.h5")) ||
        (st = lc_path_join(p->config, sizeof p->config, dir, "config.yaml")) ||
        (st = lc_path_join(p->eval_json, sizeof p->eval_json, dir, "eval/eval.json")) ||
        (st = lc_path_join(p->eval_gen, sizeof p->eval_gen, dir, "eval/generations.jsonl")))
        return st;
    return LC_OK;
}

/* The status line: finished (with its adapter) or stopped (with the resume
 * command). state: 0 finished, 1 stopped (resumable), 2 from the files
 * (adapter.h5 present: finished). */
static void run_status(FILE *f, const char *dir, const run_paths *p, const run_metrics *m, int state,
                       const char *trial_note) {
    int64_t ck = lc_ckpt_newest_step(dir, "checkpoint");
    int has_adapter = file_exists(p->adapter);
    if (state == 2) state = has_adapter ? 0 : 1;
    fputs("<p>", f);
    if (state == 0) {
        fprintf(f, "<span class=\"status ok\">finished</span> %lld optimizer steps; adapter: ", (long long)m->last_step);
        ESC(f, has_adapter ? "adapter.h5" : "(none)");
    } else {
        fprintf(f, "<span class=\"status warn\">stopped</span> at step %lld; ", (long long)m->last_step);
        if (ck >= 0) {
            fprintf(f, "newest checkpoint-%lld.h5; continue with <code>lorac train --resume ", (long long)ck);
            ESC(f, dir);
            fputs("</code>", f);
        } else fputs("no checkpoint was saved", f);
    }
    if (trial_note) {
        fputs(" &middot; ", f);
        ESC(f, trial_note);
    }
    fputs("</p>\n", f);
}

/* The key numbers as cards: losses, epochs, time, throughput, memory. */
static void run_cards(FILE *f, const run_metrics *m) {
    char buf[512];
    fputs("<div class=\"cards\">\n", f);
    double tokens = 0;
    for (int i = 0; i < m->targets.n; i++) tokens += m->targets.y[i];
    cardf(f, "final train loss", "%.4f", m->train.n ? m->train.y[m->train.n - 1] : NAN);
    if (m->valid.n) {
        double best = m->valid.y[0];
        int64_t bs = (int64_t)m->valid.x[0];
        for (int i = 1; i < m->valid.n; i++)
            if (m->valid.y[i] < best) best = m->valid.y[i], bs = (int64_t)m->valid.x[i];
        char label[128];
        snprintf(buf, sizeof buf, "%.4f \xE2\x86\x92 %.4f", m->valid.y[0], m->valid.y[m->valid.n - 1]);
        snprintf(label, sizeof label, "validation loss (step %.0f \xE2\x86\x92 %.0f)", m->valid.x[0],
                 m->valid.x[m->valid.n - 1]);
        card(f, buf, label);
        snprintf(buf, sizeof buf, "best validation loss (step %lld)", (long long)bs);
        cardf(f, buf, "%.4f", best);
    }
    if (isfinite(m->test_base) || isfinite(m->test_tuned)) {
        snprintf(buf, sizeof buf, "%.4f \xE2\x86\x92 %.4f", m->test_base, m->test_tuned);
        card(f, buf, "test loss, base \xE2\x86\x92 tuned");
    }
    cardf(f, "epochs (passes over the data)", "%.0f", (double)m->epoch + (m->last_step > 0));
    cardf(f, "training time (s)", "%.0f", m->elapsed_s);
    cardf(f, "answer tokens / s", "%.0f", m->elapsed_s > 0 ? tokens / m->elapsed_s : NAN);
    cardf(f, "peak memory (MB)", "%.0f", m->peak_rss_mb);
    fputs("</div>\n", f);
    if (m->bad_lines)
        fprintf(f, "<p class=\"sub\">%d unreadable line(s) in metrics.jsonl were skipped (a write cut short by a "
                   "crash)</p>\n", m->bad_lines);
}

/* The curves, the held-out table, the generated answers, config and compute path. */
static void run_sections(FILE *f, const run_paths *p, const run_metrics *m, const char *compute) {
    fputs("<h2>Loss</h2>\n", f);
    curve lc[2] = {{&m->train, "train loss (each step)", "train-loss", "#1f6fd1", 0, 0},
                   {&m->valid, "validation loss", "valid-loss", "#d9480f", 1, 1}};
    svg_chart(f, "loss-chart", "loss (answer tokens)", lc, 2);
    fputs("<h2>Learning rate</h2>\n", f);
    curve lrc[1] = {{&m->lr, "learning rate", "lr", "#2b8a3e", 0, 0}};
    svg_chart(f, "lr-chart", "learning rate", lrc, 1);

    fputs("<h2>Held-out evaluation</h2>\n", f);
    if (isfinite(m->test_base) || isfinite(m->test_tuned)) {
        fprintf(f, "<table class=\"eval\"><tr><th>model</th><th>test loss (answer tokens)</th><th>perplexity</th></tr>\n"
                   "<tr><td>base</td><td class=\"num\">%.4f</td><td class=\"num\">%.3f</td></tr>\n"
                   "<tr><td>tuned (adapter.h5)</td><td class=\"num best\">%.4f</td><td class=\"num best\">%.3f</td>"
                   "</tr>\n</table>\n",
                m->test_base, exp(m->test_base), m->test_tuned, exp(m->test_tuned));
    } else fputs("<p class=\"empty\">no test_data in the config (or the run has not finished)</p>\n", f);
    json_t *ev = json_load_file(p->eval_json, 0, NULL);
    if (ev) { /* `lorac eval --out <run>/eval` */
        fputs("<h2>Generated answers (<a href=\"eval/report.html\">lorac eval</a> of ", f);
        ESC(f, json_string_value(json_object_get(ev, "data")));
        fputs(")</h2>\n", f);
        eval_table(f, json_object_get(ev, "candidates"));
        eval_generations(f, p->eval_gen, json_object_get(ev, "candidates"),
                         json_string_value(json_object_get(ev, "data")));
        json_decref(ev);
    } else
        fputs("<p class=\"sub\">Generated answers: <code>lorac eval --adapter RUN/adapter.h5 --out RUN/eval</code> "
              "scores them and adds them to this page.</p>\n", f);
    file_section(f, "Config (config.yaml)", p->config);
    compute_section(f, compute, NULL);
}

/* state: 0 finished, 1 stopped (resumable), 2 from the files (adapter.h5: finished) */
static void run_body(FILE *f, const char *dir, const run_paths *p, const run_metrics *m, int state,
                     const char *compute, const char *trial_note) {
    run_status(f, dir, p, m, state, trial_note);
    run_cards(f, m);
    run_sections(f, p, m, compute);
}

/* Write dir/report.html of a run (none if it has no metrics.jsonl). state
 * as in run_body; path_name: the
 * matmul path that ran (NULL: resolve the config's precision). */
static lc_status write_run_report(const char *dir, int state, const char *path_name,
                                  const char *trial_note) {
    run_metrics m;
    lc_status st = read_metrics(dir, &m);
    if (st == LC_ERR_IO) { /* nothing ran */
        metrics_free(&m);
        return LC_OK;
    }
    char compute[1024];
    run_paths paths;
    if (!st) st = run_paths_of(dir, &paths);
    int precision = 0;
    if (!st && (!path_name || !path_name[0])) {
        lc_train_config cfg = lc_train_config_default();
        if (!lc_train_config_load_yaml(&cfg, paths.config)) precision = cfg.precision;
    }
    compute_line(compute, sizeof compute, path_name, precision);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = st ? NULL : open_memstream(&buf, &len);
    if (!st && !f) st = lc_errorf(LC_ERR_NOMEM, "out of memory writing %s/report.html", dir);
    if (!st) {
        page_begin(f, "train", dir);
        run_body(f, dir, &paths, &m, state, compute, trial_note);
        page_end(f);
        st = page_write(f, &buf, &len, dir);
    }
    free(buf);
    metrics_free(&m);
    return st;
}

/* Report the failure of a report on warn, then put the caller's error back. */
static lc_status finish(lc_status st, FILE *warn, lc_status prev_code, const char *prev_msg) {
    if (st && warn) fprintf(warn, "lorac: report.html not written: %s\n", lc_error_msg());
    if (prev_code) lc_errorf(prev_code, "%s", prev_msg);
    return st;
}

lc_status lc_report_train(const char *dir, const lc_train_result *res, lc_status run_status, FILE *warn) {
    if (!dir || !lc_dist_is_root()) return LC_OK;
    char prev[2048];
    snprintf(prev, sizeof prev, "%s", run_status ? lc_error_msg() : "");
    /* a run that failed may have failed to claim dir (another run's, or in use): leave dir alone */
    if (run_status != LC_OK && run_status != LC_ERR_INTERRUPTED) return LC_OK;
    lc_status st = write_run_report(dir, run_status ? 1 : 0, res ? res->matmul_path : NULL, NULL);
    return finish(st, warn, run_status, prev);
}

/* ------------------------------------------------------------------ eval */

static const char *const EVAL_COLS[] = {"loss", "perplexity", "em", "f1", "rougeL", "bleu", "accuracy"};
static const char *const EVAL_HEAD[] = {"loss", "perplexity", "exact match", "token F1", "ROUGE-L", "BLEU",
                                        "accuracy"};

static void eval_table(FILE *f, json_t *cands) {
    size_t nc = json_array_size(cands);
    int has[7] = {0};
    double best[7];
    for (int k = 0; k < 7; k++) {
        best[k] = NAN;
        for (size_t i = 0; i < nc; i++) {
            double v = jnum(json_array_get(cands, i), EVAL_COLS[k]);
            if (!isfinite(v)) continue;
            has[k] = 1;
            if (isnan(best[k]) || (k < 2 ? v < best[k] : v > best[k])) best[k] = v;
        }
    }
    fputs("<table class=\"eval\"><tr><th>candidate</th><th>kind</th>", f);
    for (int k = 0; k < 7; k++)
        if (has[k]) fprintf(f, "<th>%s</th>", EVAL_HEAD[k]);
    fputs("<th>answered</th><th>tokens/s</th></tr>\n", f);
    for (size_t i = 0; i < nc; i++) {
        json_t *o = json_array_get(cands, i);
        fputs("<tr><td>", f);
        ESC(f, json_string_value(json_object_get(o, "name")));
        fputs("</td><td>", f);
        ESC(f, json_string_value(json_object_get(o, "kind")));
        fputs("</td>", f);
        for (int k = 0; k < 7; k++) {
            if (!has[k]) continue;
            double v = jnum(o, EVAL_COLS[k]);
            if (!isfinite(v)) fputs("<td class=\"num\">-</td>", f);
            else fprintf(f, "<td class=\"num%s\">%.*f</td>", nc > 1 && v == best[k] ? " best" : "", k < 2 ? 4 : 2, v);
        }
        double toks = jnum(o, "generated_tokens"), secs = jnum(o, "generation_s");
        fprintf(f, "<td class=\"num\">%.0f</td><td class=\"num\">%.1f</td></tr>\n", jnum(o, "generated_examples"),
                secs > 0 ? toks / secs : NAN);
    }
    fputs("</table>\n<p class=\"sub\">loss/perplexity: mean cross-entropy on the reference answers' tokens (lower is "
          "better); EM, F1, ROUGE-L, BLEU, accuracy: 0-100 on the greedy answers (higher is better); best of each "
          "column in bold.</p>\n", f);
}

/* One example: the prompt, then reference and each candidate's answer side
 * by side with its token F1 and ROUGE-L. */
static void eval_example(FILE *f, json_t *ex, json_t *cands, const char *question) {
    const char *prompt = json_string_value(json_object_get(ex, "prompt"));
    const char *ref = json_string_value(json_object_get(ex, "reference"));
    json_t *ans = json_object_get(ex, "answers");
    fprintf(f, "<div class=\"ex\"><div class=\"q\">#%lld (line %lld): ", (long long)jnum(ex, "index"),
            (long long)jnum(ex, "line"));
    ESC(f, question ? question : prompt ? prompt : "");
    fputs("</div>\n", f);
    if (question && prompt) { /* the rendered prompt (chat template) on demand: <details> needs no script */
        fputs("<details><summary>prompt as the model saw it</summary><pre class=\"prompt\">", f);
        ESC(f, prompt);
        fputs("</pre></details>\n", f);
    }
    fputs("<div class=\"answers\">\n<div class=\"ref\"><h4>reference</h4>", f);
    ESC(f, ref ? ref : "");
    fputs("</div>\n", f);
    for (size_t i = 0; i < json_array_size(cands); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(cands, i), "name"));
        const char *a = name ? json_string_value(json_object_get(ans, name)) : NULL;
        if (!a) continue;
        double f1 = NAN, rl = NAN;
        if (ref) {
            lc_metric_f1(a, ref, &f1);
            lc_metric_rouge_l(a, ref, &rl, NULL, NULL);
        }
        fputs("<div class=\"answer\"><h4>", f);
        ESC(f, name);
        fprintf(f, " &middot; F1 %.0f &middot; ROUGE-L %.0f</h4>", 100 * f1, 100 * rl);
        ESC(f, a);
        fputs("</div>\n", f);
    }
    fputs("</div></div>\n", f);
}

/* The "prompt" (or "instruction") of line `line` (1-based) of a jsonl test
 * file, malloc'd; NULL for other formats or when it cannot be read (the
 * file may have moved since the eval: the rendered prompt is shown then). */
static char *data_question(const char *data, long long line) {
    size_t n = data ? strlen(data) : 0;
    if (n < 6 || strcmp(data + n - 6, ".jsonl") || line < 1) return NULL;
    FILE *d = fopen(data, "r");
    if (!d) return NULL;
    char *text = NULL, *q = NULL;
    size_t cap = 0;
    for (long long i = 1; getline(&text, &cap, d) > 0; i++) {
        if (i < line) continue;
        json_t *o = json_loads(text, 0, NULL);
        const char *s = json_string_value(json_object_get(o, "prompt"));
        if (!s) s = json_string_value(json_object_get(o, "instruction"));
        if (s) q = strdup(s);
        json_decref(o);
        break;
    }
    free(text);
    fclose(d);
    return q;
}

/* Every example of path (an eval's generations.jsonl: eval_example); data: the test file. */
static void eval_generations(FILE *f, const char *path, json_t *cands, const char *data) {
    FILE *g = fopen(path, "r");
    int n = 0;
    if (g) {
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, g) > 0) {
            json_t *ex = json_loads(line, 0, NULL);
            char *q = ex ? data_question(data, (long long)jnum(ex, "line")) : NULL;
            if (ex) eval_example(f, ex, cands, q), n++;
            free(q);
            json_decref(ex);
        }
        free(line);
        fclose(g);
    }
    if (!n) fputs("<p class=\"empty\">no generations (--metrics without generation metrics)</p>\n", f);
}

static lc_status eval_page(FILE *f, const char *dir) {
    char path[4200], gen_path[4200];
    lc_status st;
    if ((st = lc_path_join(path, sizeof path, dir, "eval.json")) ||
        (st = lc_path_join(gen_path, sizeof gen_path, dir, "generations.jsonl")))
        return st;
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) return lc_errorf(LC_ERR_FORMAT, "%s:%d: %s", path, jerr.line, jerr.text);
    json_t *cands = json_object_get(root, "candidates");
    page_begin(f, "eval", dir);
    fprintf(f, "<p><span class=\"status ok\">finished</span> %lld examples of ", (long long)jnum(root, "n_examples"));
    ESC(f, json_string_value(json_object_get(root, "data")));
    fputs("</p>\n<h2>Candidates</h2>\n", f);
    eval_table(f, cands);
    fputs("<h2>Generations</h2>\n", f);
    eval_generations(f, gen_path, cands, json_string_value(json_object_get(root, "data")));
    fputs("<h2>Settings</h2>\n<table class=\"settings\">", f);
    static const char *const KEYS[] = {"model", "data", "chat_template", "max_new_tokens", "n_examples"};
    for (size_t k = 0; k < sizeof KEYS / sizeof KEYS[0]; k++) {
        json_t *v = json_object_get(root, KEYS[k]);
        fprintf(f, "<tr><th>%s</th><td>", KEYS[k]);
        if (json_is_string(v)) ESC(f, json_string_value(v));
        else if (json_is_number(v)) fprintf(f, "%.0f", json_number_value(v));
        fputs("</td></tr>", f);
    }
    for (size_t i = 0; i < json_array_size(cands); i++) {
        json_t *o = json_array_get(cands, i);
        fputs("<tr><th>", f);
        ESC(f, json_string_value(json_object_get(o, "name")));
        fputs("</th><td>", f);
        ESC(f, json_string_value(json_object_get(o, "path")));
        double mult = jnum(o, "scale_mult");
        if (isfinite(mult) && mult != 1) fprintf(f, " (scale &times; %g)", mult);
        fputs("</td></tr>", f);
    }
    fputs("</table>\n", f);
    json_decref(root);
    char compute[1024];
    compute_line(compute, sizeof compute, "fp32", 0);
    compute_section(f, compute, "eval runs every candidate in fp32 (quantised weights dequantised per tile)");
    page_end(f);
    return LC_OK;
}

lc_status lc_report_eval(const char *dir, FILE *warn) {
    if (!dir || !lc_dist_is_root()) return LC_OK;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lc_status st = f ? LC_OK : lc_errorf(LC_ERR_NOMEM, "out of memory writing %s/report.html", dir);
    if (!st && (st = eval_page(f, dir))) fclose(f);
    else if (!st) st = page_write(f, &buf, &len, dir);
    free(buf);
    /* out_dir inside a run dir (RUN/eval): that run's report shows the answers too */
    char trimmed[4200], parent[4200], probe[4300];
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--; /* "RUN/eval/" is in RUN too */
    if (!st && !(st = lc_path_fmt(trimmed, sizeof trimmed, "%.*s", (int)n, dir)) &&
        !(st = lc_path_dirname(parent, sizeof parent, trimmed)) &&
        !(st = lc_path_join(probe, sizeof probe, parent, "metrics.jsonl")) && file_exists(probe) &&
        !(st = lc_path_join(probe, sizeof probe, parent, "config.yaml")) && file_exists(probe))
        st = write_run_report(parent, 2, NULL, NULL);
    return finish(st, warn, LC_OK, NULL);
}

/* ----------------------------------------------------------------- sweep */

static const char *const TRIAL_STATUS[] = {"trained", "skipped (already done)", "resumed"};

static void sweep_table(FILE *f, const lc_sweep_result *res) {
    fputs("<table class=\"trials\"><tr><th>rank</th><th>trial</th>", f);
    for (int a = 0; a < res->n_axes; a++) {
        fputs("<th>", f);
        ESC(f, res->axes[a].key);
        fputs("</th>", f);
    }
    fputs("<th>best valid loss</th><th>at step</th><th>last valid loss</th><th>final train loss</th><th>steps</th>"
          "<th>time (s)</th><th>this run</th></tr>\n", f);
    for (int i = 0; i < res->n_trials; i++) {
        int k = res->rank ? res->rank[i] : i;
        const lc_sweep_trial *t = &res->trials[k];
        const char *b = k == res->best ? " best" : "";
        fprintf(f, "<tr><td class=\"num%s\">%d</td><td class=\"%s\"><a href=\"", b, i + 1, b);
        url_escape(f, t->name);
        fputs("/report.html\">", f);
        ESC(f, t->name);
        fputs("</a></td>", f);
        for (int a = 0; a < res->n_axes; a++) {
            fputs("<td>", f);
            ESC(f, t->values[a]);
            fputs("</td>", f);
        }
        fprintf(f, "<td class=\"num%s\">%.4f</td><td class=\"num\">%lld</td><td class=\"num\">%.4f</td>"
                   "<td class=\"num\">%.4f</td><td class=\"num\">%lld</td><td class=\"num\">%.0f</td><td>%s</td></tr>\n",
                b, t->best_valid_loss, (long long)t->best_step, t->last_valid_loss, t->final_train_loss,
                (long long)t->steps, t->train_s, TRIAL_STATUS[t->status <= 2 ? t->status : 0]);
    }
    fputs("</table>\n", f);
}

static lc_status sweep_page(FILE *f, const char *dir, const lc_sweep_result *res) {
    const char *cfg_trial = res->best >= 0 ? res->trials[res->best].dir : res->n_trials ? res->trials[0].dir : NULL;
    char svg_path[4200], cfg_path[4200];
    lc_status st;
    if ((st = lc_path_join(svg_path, sizeof svg_path, dir, "curves.svg")) ||
        (cfg_trial && (st = lc_path_join(cfg_path, sizeof cfg_path, cfg_trial, "config.yaml"))))
        return st;
    page_begin(f, "sweep", dir);
    fprintf(f, "<p><span class=\"status ok\">finished</span> %d trials over ", res->n_trials);
    for (int a = 0; a < res->n_axes; a++) {
        fputs(a ? " &times; " : "", f);
        ESC(f, res->axes[a].key);
        fputs(" \xE2\x88\x88 {", f);
        for (int v = 0; v < res->axes[a].n; v++) {
            fputs(v ? ", " : "", f);
            ESC(f, res->axes[a].values[v]);
        }
        fputs("}", f);
    }
    fputs("</p>\n", f);
    if (res->best >= 0) {
        fputs("<div class=\"cards\">\n", f);
        card(f, res->trials[res->best].name, "best trial (lowest validation loss)");
        cardf(f, "its best validation loss", "%.4f", res->trials[res->best].best_valid_loss);
        fputs("</div>\n", f);
    }
    fputs("<h2>Trials, best first</h2>\n", f);
    sweep_table(f, res);
    fputs("<h2>Loss curves (curves.svg)</h2>\n<div class=\"sweep-curves\">\n", f);
    char *svg = read_text(svg_path);
    const char *body = svg ? strstr(svg, "<svg") : NULL;
    if (body) fputs(body, f); /* written by lc_sweep_write_svg: its text is escaped already */
    else fputs("<p class=\"empty\">curves.svg is missing</p>\n", f);
    free(svg);
    fputs("</div>\n", f);
    lc_train_config cfg = lc_train_config_default();
    if (cfg_trial) {
        file_section(f, res->best >= 0 ? "Config of the best trial" : "Config of the first trial", cfg_path);
        if (lc_train_config_load_yaml(&cfg, cfg_path)) cfg = lc_train_config_default();
    }
    char compute[1024];
    compute_line(compute, sizeof compute, NULL, cfg.precision);
    compute_section(f, compute, "the path the trials' precision setting resolves to on this machine");
    page_end(f);
    return LC_OK;
}

lc_status lc_report_sweep(const char *dir, const lc_sweep_result *res, FILE *warn) {
    if (!dir || !res || lc_dist_world_rank() != 0) return LC_OK;
    lc_status st = LC_OK;
    for (int k = 0; k < res->n_trials && !st; k++)
        st = write_run_report(res->trials[k].dir, 2, NULL, TRIAL_STATUS[res->trials[k].status <= 2 ? res->trials[k].status : 0]);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = st ? NULL : open_memstream(&buf, &len);
    if (!st && !f) st = lc_errorf(LC_ERR_NOMEM, "out of memory writing %s/report.html", dir);
    if (!st && (st = sweep_page(f, dir, res))) fclose(f);
    else if (!st) st = page_write(f, &buf, &len, dir);
    free(buf);
    return finish(st, warn, LC_OK, NULL);
}
