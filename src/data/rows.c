/*
 * rows.c — tokenised training rows (ids + next-token labels in flat arrays
 * with row offsets): appending with truncation/dropping, and packing into
 * fixed-length sequences that remember where each example starts. No tokenizer here: see tokenize_rows.c.
 */
#include <stdlib.h>
#include <string.h>

#include "lc_data.h"

void lc_rows_free(lc_rows *rows) {
    free(rows->offsets);
    free(rows->ids);
    free(rows->labels);
    free(rows->starts);
    memset(rows, 0, sizeof *rows);
}

static lc_status reserve(lc_rows *rows, int64_t more_rows, int64_t more_tokens) {
    if (!rows->offsets || rows->n_rows + more_rows + 1 > rows->cap_rows) {
        int64_t cap = rows->cap_rows ? rows->cap_rows : 256;
        while (cap < rows->n_rows + more_rows + 1) cap *= 2;
        int64_t *o = realloc(rows->offsets, (size_t)cap * sizeof *o);
        if (!o) return lc_errorf(LC_ERR_NOMEM, "out of memory for %lld row offsets", (long long)cap);
        if (!rows->offsets) o[0] = 0;
        rows->offsets = o;
        rows->cap_rows = cap;
    }
    if (rows->n_tokens + more_tokens > rows->cap_tokens || !rows->ids) {
        int64_t cap = rows->cap_tokens ? rows->cap_tokens : 4096;
        while (cap < rows->n_tokens + more_tokens) cap *= 2;
        int32_t *ids = realloc(rows->ids, (size_t)cap * sizeof *ids);
        if (!ids) return lc_errorf(LC_ERR_NOMEM, "out of memory for %lld tokens", (long long)cap);
        rows->ids = ids;
        int32_t *labels = realloc(rows->labels, (size_t)cap * sizeof *labels);
        if (!labels) return lc_errorf(LC_ERR_NOMEM, "out of memory for %lld tokens", (long long)cap);
        rows->labels = labels;
        rows->cap_tokens = cap;
    }
    return LC_OK;
}

/* Append ids[n] with ready-made labels[n]; drops (and counts) a row without loss. */
static lc_status append_labeled(lc_rows *rows, const int32_t *ids, const int32_t *labels, int n) {
    int64_t n_loss = 0;
    for (int j = 0; j < n; j++) n_loss += labels[j] >= 0;
    if (n_loss == 0) {
        rows->n_dropped_no_loss++;
        return LC_OK;
    }
    lc_status st = reserve(rows, 1, n);
    if (st != LC_OK) return st;
    memcpy(rows->ids + rows->n_tokens, ids, (size_t)n * sizeof *ids);
    memcpy(rows->labels + rows->n_tokens, labels, (size_t)n * sizeof *labels);
    rows->n_tokens += n;
    rows->offsets[++rows->n_rows] = rows->n_tokens;
    rows->n_loss_tokens += n_loss;
    if (n > rows->max_len) rows->max_len = n;
    return LC_OK;
}

lc_status lc_rows_add(lc_rows *rows, const int32_t *ids, const uint8_t *train, int n, int max_len,
                      lc_truncation truncation) {
    if (n < 0 || max_len < 2) return lc_errorf(LC_ERR_ARG, "lc_rows_add: n %d, max_len %d", n, max_len);
    if (n > max_len) {
        if (truncation == LC_TRUNC_DROP) {
            rows->n_dropped_long++;
            return LC_OK;
        }
        n = max_len;
        rows->n_truncated++;
    }
    if (n == 0) {
        rows->n_dropped_no_loss++;
        return LC_OK;
    }
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    if (!labels) return lc_errorf(LC_ERR_NOMEM, "out of memory for a row of %d tokens", n);
    for (int j = 0; j + 1 < n; j++) labels[j] = train[j + 1] ? ids[j + 1] : -1;
    labels[n - 1] = -1;
    lc_status st = append_labeled(rows, ids, labels, n);
    free(labels);
    return st;
}

/* starts of the packed row just appended (stream tokens [s, s+n)): its first
 * token, and every token where a row of *in begins; *r walks in's rows. */
static void mark_starts(lc_rows *out, const lc_rows *in, int64_t s, int n, int *r) {
    uint8_t *st = out->starts + out->offsets[out->n_rows - 1];
    while (*r < in->n_rows && in->offsets[*r] < s) (*r)++;
    for (int j = 0; j < n; j++) st[j] = j == 0;
    for (; *r < in->n_rows && in->offsets[*r] < s + n; (*r)++) st[in->offsets[*r] - s] = 1;
}

lc_status lc_rows_pack(lc_rows *out, const lc_rows *in, int T) {
    lc_status st = LC_OK;
    int32_t *lab = NULL;
    int r = 0;
    memset(out, 0, sizeof *out);
    if (T < 2) return lc_errorf(LC_ERR_ARG, "lc_rows_pack: T %d < 2", T);
    lab = malloc((size_t)T * sizeof *lab);
    out->starts = malloc((size_t)(in->n_tokens > 0 ? in->n_tokens : 1)); /* packed tokens <= in's */
    if (!lab || !out->starts) {
        free(lab);
        lc_rows_free(out);
        return lc_errorf(LC_ERR_NOMEM, "out of memory packing rows");
    }
    out->n_truncated = in->n_truncated;
    out->n_dropped_long = in->n_dropped_long;
    out->n_dropped_no_loss = in->n_dropped_no_loss;
    /* The stream's labels are the rows' labels: each row already ends in -1,
     * so no token predicts the start of the next row. Each chunk also ends in
     * -1 (its next token lives in the next chunk). */
    for (int64_t s = 0; s < in->n_tokens; s += T) {
        int n = (int)(in->n_tokens - s < T ? in->n_tokens - s : T);
        memcpy(lab, in->labels + s, (size_t)n * sizeof *lab);
        lab[n - 1] = -1;
        int before = out->n_rows;
        if ((st = append_labeled(out, in->ids + s, lab, n)) != LC_OK) goto fail;
        if (out->n_rows > before) mark_starts(out, in, s, n, &r);
    }
    free(lab);
    return LC_OK;
fail:
    free(lab);
    lc_rows_free(out);
    return st;
}
