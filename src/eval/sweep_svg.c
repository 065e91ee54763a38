/*
 * sweep_svg.c — curves.svg of a sweep: every trial's train loss (solid line)
 * and validation loss (dashed line with dots) against the optimiser step,
 * read from each trial's metrics.jsonl, with axes, ticks and a legend.
 * Plain SVG 1.1 (polylines, lines, text): any browser or rsvg renders it.
 */
#include <errno.h>
#include <jansson.h>
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

/* The number under key in a parsed metrics line (NAN if absent or null). */
static double field(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Train and valid loss series of one trial; a missing file gives empty
 * series, a line that is not JSON (a killed run's torn last line) is skipped. */
static lc_status read_curves(const char *dir, series *train, series *valid) {
    char path[1400];
    lc_status st = lc_path_join(path, sizeof path, dir, "metrics.jsonl");
    if (st) return st;
    FILE *f = fopen(path, "r");
    if (!f) return LC_OK;
    char *line = NULL;
    size_t cap = 0;
    while (!st && getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        double step = field(o, "step"), loss = field(o, "loss"), vl = field(o, "valid_loss");
        json_decref(o);
        if (isnan(step)) continue;
        if ((isfinite(loss) && series_push(train, step, loss)) || (isfinite(vl) && series_push(valid, step, vl)))
            st = lc_errorf(LC_ERR_NOMEM, "out of memory reading %s", path);
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

/* The plot: data ranges rounded to nice ticks, and the layout in pixels
 * (plot area [L, L+W] x [T, T+H], legend to the right). */
typedef struct {
    double x0, x1, y0, y1, xs, ys; /* ranges and tick steps */
} frame;

static const double W = 620, H = 400, L = 70, T = 40, LEG = 300;

static double px(const frame *fr, double x) { return L + (x - fr->x0) / (fr->x1 - fr->x0) * W; }
static double py(const frame *fr, double y) { return T + H - (y - fr->y0) / (fr->y1 - fr->y0) * H; }

/* The frame around every point of the n trials' series. */
static frame frame_of(const series *tr, const series *va, int n) {
    frame fr = {INFINITY, -INFINITY, INFINITY, -INFINITY, 0, 0};
    for (int k = 0; k < n; k++) {
        const series *both[2] = {&tr[k], &va[k]};
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < both[s]->n; i++) {
                fr.x0 = fmin(fr.x0, both[s]->step[i]);
                fr.x1 = fmax(fr.x1, both[s]->step[i]);
                fr.y0 = fmin(fr.y0, both[s]->loss[i]);
                fr.y1 = fmax(fr.y1, both[s]->loss[i]);
            }
    }
    if (!isfinite(fr.x0)) fr.x0 = 0, fr.x1 = 1, fr.y0 = 0, fr.y1 = 1;
    if (fr.x1 <= fr.x0) fr.x1 = fr.x0 + 1;
    if (fr.y1 <= fr.y0) fr.y0 -= 0.5, fr.y1 += 0.5;
    fr.ys = nice_step(fr.y1 - fr.y0, 6), fr.xs = nice_step(fr.x1 - fr.x0, 8);
    fr.y0 = floor(fr.y0 / fr.ys) * fr.ys;
    fr.y1 = ceil(fr.y1 / fr.ys) * fr.ys;
    fr.x0 = floor(fr.x0 / fr.xs) * fr.xs;
    fr.x1 = ceil(fr.x1 / fr.xs) * fr.xs;
    return fr;
}

/* The SVG header, title, grid, ticks, labels and axis names. */
static void write_axes(FILE *f, const frame *fr) {
    const double width = L + W + 20 + LEG, height = T + H + 60;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%.0f\" y=\"22\" font-size=\"15\">lorac sweep: train loss (solid) and validation loss "
            "(dashed, dots)</text>\n",
            width, height, width, height, L);
    for (double y = fr->y0; y <= fr->y1 + fr->ys * 1e-6; y += fr->ys) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", L, py(fr, y), L + W,
                py(fr, y));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 6, py(fr, y) + 4, y);
    }
    for (double x = fr->x0; x <= fr->x1 + fr->xs * 1e-6; x += fr->xs) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", px(fr, x), T,
                px(fr, x), T + H);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.6g</text>\n", px(fr, x), T + H + 16, x);
    }
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"black\"/>\n", L, T,
            W, H);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">optimizer step</text>\n", L + W / 2, T + H + 38);
    fprintf(f, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">loss</text>\n", T + H / 2);
}

/* Trial k's curves: train loss solid, valid loss dashed with dots. */
static void write_curves(FILE *f, const frame *fr, int k, const series *tr, const series *va) {
    const char *c = COLORS[k % 10];
    const char *dash = k >= 10 ? " stroke-dasharray=\"1 2\"" : "";
    if (tr->n) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"", c, dash);
        for (int i = 0; i < tr->n; i++) fprintf(f, "%.1f,%.1f ", px(fr, tr->step[i]), py(fr, tr->loss[i]));
        fputs("\"/>\n", f);
    }
    if (!va->n) return;
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"6 4\" points=\"", c);
    for (int i = 0; i < va->n; i++) fprintf(f, "%.1f,%.1f ", px(fr, va->step[i]), py(fr, va->loss[i]));
    fputs("\"/>\n", f);
    for (int i = 0; i < va->n; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(fr, va->step[i]), py(fr, va->loss[i]),
                c);
}

/* The legend, best trial first. */
static void write_legend(FILE *f, const lc_sweep_result *res) {
    double lx = L + W + 20, ly = T + 6;
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

lc_status lc_sweep_write_svg(const lc_sweep_result *res, const char *path) {
    int n = res->n_trials;
    series *tr = calloc((size_t)n + 1, sizeof *tr), *va = calloc((size_t)n + 1, sizeof *va);
    lc_status st = (tr && va) ? LC_OK : lc_errorf(LC_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n && !st; k++) st = read_curves(res->trials[k].dir, &tr[k], &va[k]);
    char *svg = NULL;
    size_t svg_len = 0;
    FILE *f = st ? NULL : open_memstream(&svg, &svg_len); /* written to path atomically at the end */
    if (!st && !f) st = lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path);
    if (!st) {
        frame fr = frame_of(tr, va, n);
        write_axes(f, &fr);
        for (int k = 0; k < n; k++) write_curves(f, &fr, k, &tr[k], &va[k]);
        write_legend(f, res);
        fputs("</svg>\n", f);
        st = fclose(f) ? lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path)
                       : lc_fs_write_atomic(path, svg, svg_len);
    }
    free(svg);
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
