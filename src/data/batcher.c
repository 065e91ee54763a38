/*
 * batcher.c — micro-batches for training and evaluation: a shuffled order
 * per epoch drawn from an lc_rng; B rows per micro-batch, or (batch_tokens)
 * as many rows as fit a token budget. Two layouts (lc_batch): rows padded to
 * the longest in the batch (pad id, target -1), or padding-free (the rows
 * concatenated, one segment each). Packed rows (lc_rows.starts) get one
 * segment per packed example in either layout. The state (epoch, position,
 * RNG at the start of the epoch) is plain data, so a resumed run sees
 * exactly the batches the interrupted one would have seen.
 */
#include <stdlib.h>
#include <string.h>

#include "lc_data.h"

/* Order of an epoch from *rng (advanced past the shuffle). */
static void shuffle_order(int32_t *order, int n, int shuffle, lc_rng *rng) {
    for (int i = 0; i < n; i++) order[i] = i;
    if (!shuffle) return;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)lc_rng_below(rng, (uint32_t)i + 1);
        int32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Order of the current epoch from b->st.rng; leaves b->rng past the shuffle. */
static void make_order(lc_batcher *b) {
    b->rng = b->st.rng;
    shuffle_order(b->order, b->rows->n_rows, b->shuffle, &b->rng);
}

static int row_len(const lc_rows *rows, int32_t r) { return (int)(rows->offsets[r + 1] - rows->offsets[r]); }

/* Rows in the micro-batch starting at order[pos]: B of them, or with a token
 * budget as many as fit it (at least one); never past the epoch's end.
 * *T receives the longest, *n the real tokens. */
static int take_rows(const lc_batcher *b, const int32_t *order, int64_t pos, int *T, int64_t *n) {
    const lc_rows *rows = b->rows;
    int nb = 0;
    *T = 0;
    *n = 0;
    while (pos + nb < rows->n_rows) {
        int len = row_len(rows, order[pos + nb]);
        if (b->max_tokens > 0 ? nb > 0 && *n + len > b->max_tokens : nb == b->B) break;
        *n += len;
        if (len > *T) *T = len;
        nb++;
    }
    return nb;
}

/* Token capacity of one micro-batch, and room for its segment offsets. */
static lc_status alloc_buffers(lc_batcher *b) {
    const lc_rows *rows = b->rows;
    int64_t cap = b->max_tokens > 0 ? (b->max_tokens > rows->max_len ? b->max_tokens : rows->max_len)
                                    : (int64_t)b->B * rows->max_len;
    if (cap > INT32_MAX / 2)
        return lc_errorf(LC_ERR_ARG, "batcher: %lld tokens per micro-batch is too many", (long long)cap);
    free(b->tokens);
    free(b->targets);
    free(b->seg);
    free(b->slot);
    b->tokens = malloc((size_t)cap * sizeof *b->tokens);
    b->targets = malloc((size_t)cap * sizeof *b->targets);
    b->seg = malloc(((size_t)cap + 1) * sizeof *b->seg);
    b->slot = malloc((size_t)cap * sizeof *b->slot);
    if (!b->tokens || !b->targets || !b->seg || !b->slot)
        return lc_errorf(LC_ERR_NOMEM, "batcher: out of memory for %lld tokens", (long long)cap);
    return LC_OK;
}

lc_status lc_batcher_init(lc_batcher *b, const lc_rows *rows, int B, int shuffle, int32_t pad_id,
                          uint64_t seed) {
    memset(b, 0, sizeof *b);
    if (!rows || rows->n_rows < 1) return lc_errorf(LC_ERR_ARG, "batcher: no rows to batch (all examples dropped?)");
    if (B < 1) return lc_errorf(LC_ERR_ARG, "batcher: batch size %d < 1", B);
    b->rows = rows;
    b->B = B;
    b->shuffle = shuffle;
    b->pad_id = pad_id;
    b->order = malloc((size_t)rows->n_rows * sizeof *b->order);
    lc_status st = b->order ? alloc_buffers(b) : lc_errorf(LC_ERR_NOMEM, "batcher: out of memory");
    if (st) {
        lc_batcher_free(b);
        return st;
    }
    lc_rng_seed(&b->st.rng, seed);
    b->rng0 = b->st.rng;
    make_order(b);
    return LC_OK;
}

lc_status lc_batcher_set_layout(lc_batcher *b, int padding_free, int64_t max_tokens) {
    if (max_tokens < 0) return lc_errorf(LC_ERR_ARG, "batcher: token budget %lld < 0", (long long)max_tokens);
    if (max_tokens > 0 && !padding_free)
        return lc_errorf(LC_ERR_ARG, "batcher: a token budget (batch_tokens %lld) needs padding-free batches",
                         (long long)max_tokens);
    b->padding_free = padding_free;
    b->max_tokens = max_tokens;
    return alloc_buffers(b);
}

void lc_batcher_free(lc_batcher *b) {
    free(b->order);
    free(b->tokens);
    free(b->targets);
    free(b->seg);
    free(b->slot);
    memset(b, 0, sizeof *b);
}

int64_t lc_batcher_batches_per_epoch(const lc_batcher *b) {
    if (b->max_tokens <= 0) return (b->rows->n_rows + b->B - 1) / b->B;
    int64_t nb = 0, n;
    int T;
    for (int64_t pos = 0; pos < b->rows->n_rows; nb++) pos += take_rows(b, b->order, pos, &T, &n);
    return nb;
}

int64_t lc_batcher_count_steps(const lc_batcher *b, int64_t epochs, int grad_accum) {
    if (b->max_tokens <= 0) return epochs * ((lc_batcher_batches_per_epoch(b) + grad_accum - 1) / grad_accum);
    int32_t *order = malloc((size_t)b->rows->n_rows * sizeof *order);
    if (!order) return -1;
    lc_rng rng = b->rng0;
    int64_t steps = 0;
    for (int64_t e = 0; e < epochs; e++) {
        shuffle_order(order, b->rows->n_rows, b->shuffle, &rng);
        int64_t nb = 0, n;
        int T;
        for (int64_t pos = 0; pos < b->rows->n_rows; nb++) pos += take_rows(b, order, pos, &T, &n);
        steps += (nb + grad_accum - 1) / grad_accum;
    }
    free(order);
    return steps;
}

/* Append the segments of one row of len tokens starting at token off of
 * the rows (one per packed example, rows->starts) at stream offset at;
 * the row's last segment ends at at + end (end >= len: padding joins it). */
static void row_segments(lc_batcher *b, int64_t off, int len, int32_t at, int end, int *n_seg) {
    const uint8_t *starts = b->rows->starts;
    for (int t = 1; starts && t < len; t++)
        if (starts[off + t]) b->seg[++*n_seg] = at + t;
    b->seg[++*n_seg] = at + end;
}

/* Rows order[pos..pos+nb) padded to T. */
static void fill_padded(lc_batcher *b, int64_t pos, int nb, int T, int *n_seg) {
    const lc_rows *rows = b->rows;
    for (int i = 0; i < nb; i++) {
        int32_t r = b->order[pos + i];
        int64_t off = rows->offsets[r];
        int len = row_len(rows, r);
        int32_t *tok = b->tokens + (size_t)i * T, *tgt = b->targets + (size_t)i * T; /* (T) each */
        memcpy(tok, rows->ids + off, (size_t)len * sizeof *tok);
        memcpy(tgt, rows->labels + off, (size_t)len * sizeof *tgt);
        for (int t = len; t < T; t++) {
            tok[t] = b->pad_id;
            tgt[t] = -1;
        }
        row_segments(b, off, len, i * T, T, n_seg);
    }
}

/* Rows order[pos..pos+nb) concatenated; slot = padded index b*T + t. */
static void fill_free(lc_batcher *b, int64_t pos, int nb, int T, int *n_seg) {
    const lc_rows *rows = b->rows;
    int32_t at = 0;
    for (int i = 0; i < nb; i++) {
        int32_t r = b->order[pos + i];
        int64_t off = rows->offsets[r];
        int len = row_len(rows, r);
        memcpy(b->tokens + at, rows->ids + off, (size_t)len * sizeof *b->tokens);
        memcpy(b->targets + at, rows->labels + off, (size_t)len * sizeof *b->targets);
        for (int t = 0; t < len; t++) b->slot[at + t] = i * T + t;
        row_segments(b, off, len, at, len, n_seg);
        at += len;
    }
}

void lc_batcher_next(lc_batcher *b, lc_batch *out, int64_t *epoch_out) {
    const lc_rows *rows = b->rows;
    if (b->st.pos >= rows->n_rows) { /* next epoch continues the RNG stream */
        b->st.epoch++;
        b->st.pos = 0;
        b->st.rng = b->rng;
        make_order(b);
    }
    int T, n_seg = 0;
    int64_t n;
    int nb = take_rows(b, b->order, b->st.pos, &T, &n);
    b->seg[0] = 0;
    if (b->padding_free) fill_free(b, b->st.pos, nb, T, &n_seg);
    else fill_padded(b, b->st.pos, nb, T, &n_seg);
    /* a padded batch without packing needs no segment list: one per row */
    int plain = !b->padding_free && !rows->starts;
    *out = (lc_batch){.tokens = b->tokens, .targets = b->targets, .B = nb, .T = T,
                      .seg = plain ? NULL : b->seg, .n_seg = plain ? 0 : n_seg,
                      .slot = b->padding_free ? b->slot : NULL};
    if (epoch_out) *epoch_out = b->st.epoch;
    b->st.pos += nb;
}

lc_batcher_state lc_batcher_get_state(const lc_batcher *b) { return b->st; }

lc_status lc_batcher_set_state(lc_batcher *b, const lc_batcher_state *s) {
    if (s->epoch < 0 || s->pos < 0 || s->pos > b->rows->n_rows)
        return lc_errorf(LC_ERR_ARG, "batcher state (epoch %lld, position %lld) does not fit %d rows",
                         (long long)s->epoch, (long long)s->pos, b->rows->n_rows);
    b->st = *s;
    make_order(b);
    return LC_OK;
}

int64_t lc_batch_count_targets(const lc_batch *batch) {
    int64_t n = 0, N = batch->slot ? batch->seg[batch->n_seg] : (int64_t)batch->B * batch->T;
    for (int64_t i = 0; i < N; i++) n += batch->targets[i] >= 0;
    return n;
}
