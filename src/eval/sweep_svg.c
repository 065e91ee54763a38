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
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return LC_OK;
    char *line = NULL;
    size_t cap = 0;
    lc_status st = LC_OK;
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

lc_status lc_sweep_write_svg(const lc_sweep_result *res, const char *path) {
    int n = res->n_trials;
    series *tr = calloc((size_t)n + 1, sizeof *tr), *va = calloc((size_t)n + 1, sizeof *va);
    lc_status st = LC_OK;
    FILE *f = NULL;
    if (!tr || !va) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory");
        goto done;
    }
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int k = 0; k < n; k++) {
        if ((st = read_curves(res->trials[k].dir, &tr[k], &va[k]))) goto done;
        series *both[2] = {&tr[k], &va[k]};
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < both[s]->n; i++) {
                x0 = fmin(x0, both[s]->step[i]);
                x1 = fmax(x1, both[s]->step[i]);
                y0 = fmin(y0, both[s]->loss[i]);
                y1 = fmax(y1, both[s]->loss[i]);
            }
    }
    if (!isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) y0 -= 0.5, y1 += 0.5;
    double ys = nice_step(y1 - y0, 6), xs = nice_step(x1 - x0, 8);
    y0 = floor(y0 / ys) * ys;
    y1 = ceil(y1 / ys) * ys;
    x0 = floor(x0 / xs) * xs;
    x1 = ceil(x1 / xs) * xs;
    /* layout (pixels): plot area [L, L+W] x [T, T+H], legend to the right */
    const double W = 620, H = 400, L = 70, T = 40, LEG = 300;
    const double width = L + W + 20 + LEG, height = T + H + 60;
#define PX(x) (L + ((x) - x0) / (x1 - x0) * W)
#define PY(y) (T + H - ((y) - y0) / (y1 - y0) * H)
    char *svg = NULL;
    size_t svg_len = 0;
    f = open_memstream(&svg, &svg_len); /* written to path atomically at the end */
    if (!f) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path);
        goto done;
    }
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%.0f\" y=\"22\" font-size=\"15\">lorac sweep: train loss (solid) and validation loss "
            "(dashed, dots)</text>\n",
            width, height, width, height, L);
    /* grid, ticks and labels */
    for (double y = y0; y <= y1 + ys * 1e-6; y += ys) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", L, PY(y), L + W, PY(y));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 6, PY(y) + 4, y);
    }
    for (double x = x0; x <= x1 + xs * 1e-6; x += xs) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", PX(x), T, PX(x), T + H);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.6g</text>\n", PX(x), T + H + 16, x);
    }
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"black\"/>\n", L, T,
            W, H);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">optimizer step</text>\n", L + W / 2, T + H + 38);
    fprintf(f, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">loss</text>\n", T + H / 2);
    /* curves */
    for (int k = 0; k < n; k++) {
        const char *c = COLORS[k % 10];
        const char *dash = k >= 10 ? " stroke-dasharray=\"1 2\"" : "";
        if (tr[k].n) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"", c, dash);
            for (int i = 0; i < tr[k].n; i++) fprintf(f, "%.1f,%.1f ", PX(tr[k].step[i]), PY(tr[k].loss[i]));
            fputs("\"/>\n", f);
        }
        if (va[k].n) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"6 4\" points=\"",
                    c);
            for (int i = 0; i < va[k].n; i++) fprintf(f, "%.1f,%.1f ", PX(va[k].step[i]), PY(va[k].loss[i]));
            fputs("\"/>\n", f);
            for (int i = 0; i < va[k].n; i++)
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX(va[k].step[i]),
                        PY(va[k].loss[i]), c);
        }
    }
    /* legend, best first */
    double lx = L + W + 20, ly = T + 6;
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-weight=\"bold\">trial (best valid loss)</text>\n", lx, ly);
    for (int i = 0; i < n; i++) {
        int k = res->rank ? res->rank[i] : i;
        double y = ly + 18 * (i + 1);
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"3\"/>\n", lx,
                y - 4, lx + 22, y - 4, COLORS[k % 10]);
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\"%s>", lx + 28, y, k == res->best ? " font-weight=\"bold\"" : "");
        xml_text(f, res->trials[k].name);
        if (isfinite(res->trials[k].best_valid_loss)) fprintf(f, " (%.4f)", res->trials[k].best_valid_loss);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
#undef PX
#undef PY
    st = fclose(f) ? lc_errorf(LC_ERR_NOMEM, "out of memory writing %s", path) : lc_fs_write_atomic(path, svg, svg_len);
    free(svg);
    f = NULL;
done:
    if (f) fclose(f);
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
