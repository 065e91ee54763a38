/*
 * sweep_svg.c — curves.svg of a sweep: every trial's train loss (solid line)
 * and validation loss (dashed line with dots) against the optimiser step,
 * read from each trial's metrics.jsonl, with axes, ticks and a legend.
 * Plain SVG 1.1 (polylines, lines, text): any browser or rsvg renders it.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lc_fsafe.h"
#include "lc_path.h"
#include "lc_sweep.h"

typedef struct {
    double *step, *loss; /* (n) */
    int n, cap;
} series;

static int series_push(series *s, double step, double loss) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        double *a = realloc(s->step, (size_t)cap * sizeof *a);
        if (!a) return -1;
        s->step = a;
        double *b = realloc(s->loss, (size_t)cap * sizeof *b);
        if (!b) return -1;
        s->loss = b;
        s->cap = cap;
    }
    s->step[s->n] = step;
    s->loss[s->n] = loss;
    s->n++;
    return 0;
}

/* The number after "key": in a metrics line (NAN if absent or "nan"). */
static double field(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p) return NAN;
    char *end;
    double v = strtod(p + strlen(pat), &end);
    return end == p + strlen(pat) ? NAN : v;
}

/* Train and valid loss series of one trial; a missing file gives empty series. */
static lc_status read_curves(const char *dir, series *train, series *valid) {
    char path[1400];
    lc_status st = lc_path_join(path, sizeof path, dir, "metrics.jsonl");
    if (st) return st;
    FILE *f = fopen(path, "r");
    if (!f) return LC_OK;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        double step = field(line, "step"), loss = field(line, "loss"), vl = field(line, "valid_loss");
        if (isnan(step)) continue;
        if ((isfinite(loss) && series_push(train, step, loss)) || (isfinite(vl) && series_push(valid, step, vl))) {
            st = lc_errorf(LC_ERR_NOMEM, "out of memory reading %s", path);
            break;
        }
    }
    free(line);
    fclose(f);
    return st;
}

static const char *const COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

/* A "nice" tick step for a range: 1, 2 or 5 times a power of ten. */
static double nice_step(double range, int ticks) {
    double raw = range / ticks, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

/* The plot area in pixels: [L, L+W] x [T, T+H], the legend to its right. */
enum { PLOT_W = 620, PLOT_H = 400, PLOT_L = 70, PLOT_T = 40, LEGEND_W = 300 };

/* Data ranges rounded out to whole tick steps xs, ys. */
typedef struct {
    double x0, x1, y0, y1, xs, ys;
} plot_axes;

static double px(const plot_axes *a, double x) { return PLOT_L + (x - a->x0) / (a->x1 - a->x0) * PLOT_W; }
static double py(const plot_axes *a, double y) { return PLOT_T + PLOT_H - (y - a->y0) / (a->y1 - a->y0) * PLOT_H; }

/* Axes covering every point of the n trials' train (tr) and valid (va) series. */
static plot_axes axes_for(const series *tr, const series *va, int n) {
    plot_axes a = {INFINITY, -INFINITY, INFINITY, -INFINITY, 0, 0};
    for (int k = 0; k < n; k++) {
        const series *both[2] = {&tr[k], &va[k]};
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < both[s]->n; i++) {
                a.x0 = fmin(a.x0, both[s]->step[i]);
                a.x1 = fmax(a.x1, both[s]->step[i]);
                a.y0 = fmin(a.y0, both[s]->loss[i]);
                a.y1 = fmax(a.y1, both[s]->loss[i]);
            }
    }
    if (!isfinite(a.x0)) a.x0 = 0, a.x1 = 1, a.y0 = 0, a.y1 = 1;
    if (a.x1 <= a.x0) a.x1 = a.x0 + 1;
    if (a.y1 <= a.y0) a.y0 -= 0.5, a.y1 += 0.5;
    a.ys = nice_step(a.y1 - a.y0, 6), a.xs = nice_step(a.x1 - a.x0, 8);
    a.y0 = floor(a.y0 / a.ys) * a.ys;
    a.y1 = ceil(a.y1 / a.ys) * a.ys;
    a.x0 = floor(a.x0 / a.xs) * a.xs;
    a.x1 = ceil(a.x1 / a.xs) * a.xs;
    return a;
}

/* The SVG header, title, grid with tick labels, frame and axis titles. */
static void write_frame(FILE *f, const plot_axes *a) {
    const double L = PLOT_L, T = PLOT_T, W = PLOT_W, H = PLOT_H;
    const double width = L + W + 20 + LEGEND_W, height = T + H + 60;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%.0f\" y=\"22\" font-size=\"15\">lorac sweep: train loss (solid) and validation loss "
            "(dashed, dots)</text>\n",
            width, height, width, height, L);
    for (double y = a->y0; y <= a->y1 + a->ys * 1e-6; y += a->ys) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", L, py(a, y), L + W,
                py(a, y));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 6, py(a, y) + 4, y);
    }
    for (double x = a->x0; x <= a->x1 + a->xs * 1e-6; x += a->xs) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", px(a, x), T,
                px(a, x), T + H);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.6g</text>\n", px(a, x), T + H + 16, x);
    }
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"black\"/>\n", L, T,
            W, H);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">optimizer step</text>\n", L + W / 2, T + H + 38);
    fprintf(f, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">loss</text>\n", T + H / 2);
}

/* Trial k's curves in its colour: train solid, valid dashed with dots. */
static void write_curves(FILE *f, const plot_axes *a, const series *tr, const series *va, int k) {
    const char *c = COLORS[k % 10];
    const char *dash = k >= 10 ? " stroke-dasharray=\"1 2\"" : "";
    if (tr->n) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"", c, dash);
        for (int i = 0; i < tr->n; i++) fprintf(f, "%.1f,%.1f ", px(a, tr->step[i]), py(a, tr->loss[i]));
        fputs("\"/>\n", f);
    }
    if (va->n) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"6 4\" points=\"", c);
        for (int i = 0; i < va->n; i++) fprintf(f, "%.1f,%.1f ", px(a, va->step[i]), py(a, va->loss[i]));
        fputs("\"/>\n", f);
        for (int i = 0; i < va->n; i++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(a, va->step[i]),
                    py(a, va->loss[i]), c);
    }
}

/* The legend, best trial first, each with its best validation loss. */
static void write_legend(FILE *f, const lc_sweep_result *res) {
    double lx = PLOT_L + PLOT_W + 20, ly = PLOT_T + 6;
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-weight=\"bold\">trial (best valid loss)</text>\n", lx, ly);
    for (int i = 0; i < res->n_trials; i++) {
        int k = res->rank ? res->rank[i] : i;
        double y = ly + 18 * (i + 1);
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"3\"/>\n", lx,
                y - 4, lx + 22, y - 4, COLORS[k % 10]);
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\"%s>", lx + 28, y, k == res->best ? " font-weight=\"bold\"" : "");
        xml_text(f, res->trials[k].name);
        if (isfinite(res->trials[k].best_valid_loss)) fprintf(f, " (%.4f)", res->trials[k].best_valid_loss);
        fputs("</text>\n", f);
    }
}

/* The whole SVG for the trials' series, written atomically to path. */
static lc_status write_svg(const lc_sweep_result *res, const series *tr, const series *va, const char *path) {
    plot_axes a = axes_for(tr, va, res->n_trials);
    char *svg = NULL;
    size_t svg_len = 0;
    FILE *f = open_memstream(&svg, &svg_len); /* written to path atomically at the end */
    if (!f) return lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path);
    write_frame(f, &a);
    for (int k = 0; k < res->n_trials; k++) write_curves(f, &a, &tr[k], &va[k], k);
    write_legend(f, res);
    fputs("</svg>\n", f);
    lc_status st =
        fclose(f) ? lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path) : lc_fs_write_atomic(path, svg, svg_len);
    free(svg);
    return st;
}

lc_status lc_sweep_write_svg(const lc_sweep_result *res, const char *path) {
    int n = res->n_trials;
    series *tr = calloc((size_t)n + 1, sizeof *tr), *va = calloc((size_t)n + 1, sizeof *va);
    lc_status st = LC_OK;
    if (!tr || !va) st = lc_errorf(LC_ERR_NOMEM, "out of memory");
    for (int k = 0; !st && k < n; k++) st = read_curves(res->trials[k].dir, &tr[k], &va[k]);
    if (!st) st = write_svg(res, tr, va, path);
    for (int k = 0; tr && va && k < n; k++) {
        free(tr[k].step);
        free(tr[k].loss);
        free(va[k].step);
        free(va[k].loss);
    }
    free(tr);
    free(va);
    return st;
}
