/*
 * batcher.c — micro-batches of B rows for training and evaluation: a
 * shuffled order per epoch drawn from an lc_rng, rows padded to the longest
 * in the batch (pad id, target -1). The state (epoch, position, RNG at the
 * start of the epoch) is plain data, so a resumed run sees exactly the
 * batches the interrupted one would have seen.
 */
#include <stdlib.h>
#include <string.h>

#include "lc_data.h"

/* Order of the current epoch from b->st.rng; leaves b->rng past the shuffle. */
static void make_order(lc_batcher *b) {
    int n = b->rows->n_rows;
    b->rng = b->st.rng;
    for (int i = 0; i < n; i++) b->order[i] = i;
    if (!b->shuffle) return;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)lc_rng_below(&b->rng, (uint32_t)i + 1);
        int32_t t = b->order[i];
        b->order[i] = b->order[j];
        b->order[j] = t;
    }
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
    size_t bt = (size_t)B * (size_t)rows->max_len;
    b->order = malloc((size_t)rows->n_rows * sizeof *b->order);
    b->tokens = malloc(bt * sizeof *b->tokens);
    b->targets = malloc(bt * sizeof *b->targets);
    if (!b->order || !b->tokens || !b->targets) {
        lc_batcher_free(b);
        return lc_errorf(LC_ERR_NOMEM, "batcher: out of memory for %d x %d tokens", B, rows->max_len);
    }
    lc_rng_seed(&b->st.rng, seed);
    make_order(b);
    return LC_OK;
}

void lc_batcher_free(lc_batcher *b) {
    free(b->order);
    free(b->tokens);
    free(b->targets);
    memset(b, 0, sizeof *b);
}

int64_t lc_batcher_batches_per_epoch(const lc_batcher *b) {
    return (b->rows->n_rows + b->B - 1) / b->B;
}

void lc_batcher_next(lc_batcher *b, lc_batch *out, int64_t *epoch_out) {
    const lc_rows *rows = b->rows;
    if (b->st.pos >= rows->n_rows) { /* next epoch continues the RNG stream */
        b->st.epoch++;
        b->st.pos = 0;
        b->st.rng = b->rng;
        make_order(b);
    }
    int nb = (int)(rows->n_rows - b->st.pos < b->B ? rows->n_rows - b->st.pos : b->B);
    int T = 0;
    for (int i = 0; i < nb; i++) {
        int32_t r = b->order[b->st.pos + i];
        int len = (int)(rows->offsets[r + 1] - rows->offsets[r]);
        if (len > T) T = len;
    }
    for (int i = 0; i < nb; i++) {
        int32_t r = b->order[b->st.pos + i];
        int64_t off = rows->offsets[r];
        int len = (int)(rows->offsets[r + 1] - off);
        int32_t *tok = b->tokens + (size_t)i * T, *tgt = b->targets + (size_t)i * T; /* (T) each */
        memcpy(tok, rows->ids + off, (size_t)len * sizeof *tok);
        memcpy(tgt, rows->labels + off, (size_t)len * sizeof *tgt);
        for (int t = len; t < T; t++) {
            tok[t] = b->pad_id;
            tgt[t] = -1;
        }
    }
    out->tokens = b->tokens;
    out->targets = b->targets;
    out->B = nb;
    out->T = T;
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
    int64_t n = 0;
    for (size_t i = 0; i < (size_t)batch->B * (size_t)batch->T; i++) n += batch->targets[i] >= 0;
    return n;
}
