/*
 * test_data_batcher.c — rows and batches without a tokenizer: the label
 * convention (labels[j] = ids[j+1] where token j+1 carries loss, else -1),
 * truncation / dropping, packing, and the batcher: every row once per
 * epoch, padding, determinism per seed, and exact resume from a state saved
 * mid-epoch and at an epoch boundary; the padding-free layout (same rows,
 * stream + segments + slots), the batch_tokens budget (greedy fill, step
 * count replaying the epochs' shuffles) and packed rows' per-example
 * segments.
 */
#include "data_test.h"
#include "lc_data.h"

static void test_rows_add(void) {
    lc_rows rows = {0};
    /* ids 10..15; tokens 3.. carry loss (a 3-token prompt) */
    int32_t ids[6] = {10, 11, 12, 13, 14, 15};
    uint8_t train[6] = {0, 0, 0, 1, 1, 1};
    CHECK_OK(lc_rows_add(&rows, ids, train, 6, 8, LC_TRUNC_TRUNCATE));
    int32_t want[6] = {-1, -1, 13, 14, 15, -1};
    CHECK(rows.n_rows == 1 && rows.n_tokens == 6 && rows.offsets[1] == 6 && rows.n_loss_tokens == 3);
    CHECK(!memcmp(rows.labels, want, sizeof want) && !memcmp(rows.ids, ids, sizeof ids));
    /* truncated to 4: only token 3 (id 13) is left to learn */
    CHECK_OK(lc_rows_add(&rows, ids, train, 6, 4, LC_TRUNC_TRUNCATE));
    int32_t want2[4] = {-1, -1, 13, -1};
    CHECK(rows.n_rows == 2 && rows.n_truncated == 1 && rows.offsets[2] == 10);
    CHECK(!memcmp(rows.labels + 6, want2, sizeof want2));
    /* truncated to 3: no loss token left -> dropped */
    CHECK_OK(lc_rows_add(&rows, ids, train, 6, 3, LC_TRUNC_TRUNCATE));
    CHECK(rows.n_rows == 2 && rows.n_truncated == 2 && rows.n_dropped_no_loss == 1);
    /* drop mode */
    CHECK_OK(lc_rows_add(&rows, ids, train, 6, 5, LC_TRUNC_DROP));
    CHECK(rows.n_rows == 2 && rows.n_dropped_long == 1);
    CHECK(rows.max_len == 6 && rows.n_loss_tokens == 4);
    CHECK_ERR(lc_rows_add(&rows, ids, train, 6, 1, LC_TRUNC_DROP), LC_ERR_ARG, "max_len 1");
    lc_rows_free(&rows);
    CHECK(rows.ids == NULL && rows.n_rows == 0);
}

/* Rows of lengths 2 + (i * 7) % 9 with ids i*100 + j; every token but the first carries loss. */
static void make_rows(lc_rows *rows, int n) {
    memset(rows, 0, sizeof *rows);
    int32_t ids[16];
    uint8_t train[16];
    for (int i = 0; i < n; i++) {
        int len = 2 + (i * 7) % 9;
        for (int j = 0; j < len; j++) ids[j] = i * 100 + j, train[j] = j > 0;
        CHECK_OK(lc_rows_add(rows, ids, train, len, 16, LC_TRUNC_TRUNCATE));
    }
}

static void test_pack(void) {
    lc_rows rows, packed;
    make_rows(&rows, 10);
    CHECK_OK(lc_rows_pack(&packed, &rows, 8));
    CHECK(packed.n_tokens == rows.n_tokens && !memcmp(packed.ids, rows.ids, (size_t)rows.n_tokens * 4));
    int ok = 1;
    for (int r = 0; r < packed.n_rows; r++) {
        int64_t a = packed.offsets[r], b = packed.offsets[r + 1];
        if (r + 1 < packed.n_rows && b - a != 8) ok = 0;
        for (int64_t s = a; s < b; s++) {
            int32_t want = s == b - 1 ? -1 : rows.labels[s];
            if (packed.labels[s] != want) ok = 0;
        }
    }
    CHECK(ok && packed.max_len == 8);
    CHECK(packed.n_rows == (int)((rows.n_tokens + 7) / 8));
    /* a row's last token never predicts the next row's first token */
    for (int r = 0; r < rows.n_rows; r++) CHECK(packed.labels[rows.offsets[r + 1] - 1] == -1);
    lc_rows_free(&packed);
    lc_rows_free(&rows);
}

/* Row index a batch row came from (ids encode it), or -1 for padding. */
static int row_of(int32_t id) { return id >= 0 ? id / 100 : -1; }

static void test_batcher(void) {
    lc_rows rows;
    const int N = 23, B = 4;
    make_rows(&rows, N);
    lc_batcher b;
    CHECK_OK(lc_batcher_init(&b, &rows, B, 1, -7, 1234));
    CHECK(lc_batcher_batches_per_epoch(&b) == 6);
    int64_t epoch;
    lc_batch batch;
    /* two epochs: each row exactly once per epoch, padding, T = longest row */
    int order0[23], order1[23];
    for (int e = 0; e < 2; e++) {
        int count[23] = {0}, k = 0, pad_ok = 1, t_ok = 1;
        for (int i = 0; i < 6; i++) {
            lc_batcher_next(&b, &batch, &epoch);
            CHECK(epoch == e && batch.B == (i < 5 ? B : N - 5 * B));
            int Tmax = 0;
            for (int r = 0; r < batch.B; r++) {
                int row = row_of(batch.tokens[r * batch.T]);
                if (row < 0 || row >= N) { pad_ok = 0; continue; }
                count[row]++;
                (e ? order1 : order0)[k++] = row;
                int len = (int)(rows.offsets[row + 1] - rows.offsets[row]);
                if (len > Tmax) Tmax = len;
                for (int t = 0; t < batch.T; t++) {
                    int32_t tok = batch.tokens[r * batch.T + t], tgt = batch.targets[r * batch.T + t];
                    if (t < len && (tok != rows.ids[rows.offsets[row] + t] || tgt != rows.labels[rows.offsets[row] + t])) pad_ok = 0;
                    if (t >= len && (tok != -7 || tgt != -1)) pad_ok = 0;
                }
            }
            if (batch.T != Tmax) t_ok = 0;
        }
        int once = 1;
        for (int r = 0; r < N; r++) once &= count[r] == 1;
        CHECK(once && pad_ok && t_ok && k == N);
    }
    CHECK(memcmp(order0, order1, sizeof order0) != 0); /* reshuffled */
    int identity = 1;
    for (int r = 0; r < N; r++) identity &= order0[r] == r;
    CHECK(!identity);
    lc_batcher_free(&b);

    /* determinism: same seed, same stream; resume mid-epoch and at an epoch boundary */
    int saved_at[2] = {9, 12}; /* batch 9 = mid-epoch 1; batch 12 = end of epoch 1 */
    for (int s = 0; s < 2; s++) {
        lc_batcher a, c;
        CHECK_OK(lc_batcher_init(&a, &rows, B, 1, -7, 99));
        lc_batcher_state st = {0};
        for (int i = 0; i < saved_at[s]; i++) lc_batcher_next(&a, &batch, NULL);
        st = lc_batcher_get_state(&a);
        CHECK_OK(lc_batcher_init(&c, &rows, B, 1, -7, 5)); /* another seed: the state overrides it */
        CHECK_OK(lc_batcher_set_state(&c, &st));
        int same = 1, n_cmp = 0;
        for (int i = 0; i < 20; i++) {
            lc_batch x, y;
            int64_t ex, ey;
            lc_batcher_next(&a, &x, &ex);
            lc_batcher_next(&c, &y, &ey);
            if (x.B != y.B || x.T != y.T || ex != ey ||
                memcmp(x.tokens, y.tokens, (size_t)x.B * x.T * 4) || memcmp(x.targets, y.targets, (size_t)x.B * x.T * 4))
                same = 0;
            n_cmp++;
        }
        printf("resume after %d batches (epoch %lld, pos %lld): %d following batches identical: %s\n", saved_at[s],
               (long long)st.epoch, (long long)st.pos, n_cmp, same ? "yes" : "NO");
        CHECK(same);
        lc_batcher_free(&a);
        lc_batcher_free(&c);
    }
    /* two fresh batchers with the same seed agree; another seed differs */
    lc_batcher a, c, d;
    CHECK_OK(lc_batcher_init(&a, &rows, B, 1, -7, 7));
    CHECK_OK(lc_batcher_init(&c, &rows, B, 1, -7, 7));
    CHECK_OK(lc_batcher_init(&d, &rows, B, 1, -7, 8));
    CHECK(!memcmp(a.order, c.order, N * 4) && memcmp(a.order, d.order, N * 4));
    lc_batcher_state bad = {0, N + 1, a.st.rng};
    CHECK_ERR(lc_batcher_set_state(&a, &bad), LC_ERR_ARG, "does not fit 23 rows");
    lc_batcher_free(&a);
    lc_batcher_free(&c);
    lc_batcher_free(&d);

    /* evaluation order: no shuffle */
    CHECK_OK(lc_batcher_init(&a, &rows, 5, 0, 0, 1));
    lc_batcher_next(&a, &batch, NULL);
    int seq = 1;
    for (int r = 0; r < batch.B; r++) seq &= row_of(batch.tokens[r * batch.T]) == r;
    CHECK(seq);
    /* targets counted = labels != -1 of those rows */
    int64_t want = 0;
    for (int64_t t = 0; t < rows.offsets[5]; t++) want += rows.labels[t] >= 0;
    CHECK(lc_batch_count_targets(&batch) == want);
    lc_batcher_free(&a);

    lc_rows empty = {0};
    CHECK_ERR(lc_batcher_init(&a, &empty, 4, 1, 0, 1), LC_ERR_ARG, "no rows");
    lc_rows_free(&rows);
}

/* The padding-free layout serves the padded batcher's rows in the same
 * order: the rows concatenated, one segment per row, slot = b*T + t. */
static void test_padding_free(void) {
    lc_rows rows;
    const int N = 23, B = 4;
    make_rows(&rows, N);
    lc_batcher p, f;
    CHECK_OK(lc_batcher_init(&p, &rows, B, 1, -7, 77));
    CHECK_OK(lc_batcher_init(&f, &rows, B, 1, -7, 77));
    CHECK_OK(lc_batcher_set_layout(&f, 1, 0));
    int ok = 1;
    for (int i = 0; i < 12; i++) { /* two epochs */
        lc_batch x, y;
        lc_batcher_next(&p, &x, NULL);
        lc_batcher_next(&f, &y, NULL);
        ok &= x.B == y.B && x.T == y.T && !x.seg && !x.slot && y.seg && y.slot && y.n_seg == y.B && y.seg[0] == 0;
        for (int r = 0; ok && r < y.B; r++) {
            int row = row_of(x.tokens[r * x.T]), len = (int)(rows.offsets[row + 1] - rows.offsets[row]);
            ok &= y.seg[r + 1] - y.seg[r] == len;
            for (int t = 0; ok && t < len; t++) {
                int32_t at = y.seg[r] + t;
                ok &= y.tokens[at] == x.tokens[r * x.T + t] && y.targets[at] == x.targets[r * x.T + t] &&
                      y.slot[at] == r * x.T + t;
            }
        }
        ok &= lc_batch_count_targets(&x) == lc_batch_count_targets(&y);
    }
    CHECK(ok);
    lc_batcher_free(&p);
    lc_batcher_free(&f);
    lc_rows_free(&rows);
}

/* batch_tokens: rows while their tokens fit the budget (a longer row
 * alone), every row once per epoch, and lc_batcher_count_steps equals the
 * micro-batches actually served over 3 epochs (the order differs by epoch). */
static void test_token_budget(void) {
    lc_rows rows;
    const int N = 23;
    make_rows(&rows, N); /* lengths 2..10 */
    lc_batcher b;
    CHECK_OK(lc_batcher_init(&b, &rows, 1, 1, -7, 5));
    CHECK_ERR(lc_batcher_set_layout(&b, 0, 25), LC_ERR_ARG, "needs padding-free");
    CHECK_OK(lc_batcher_set_layout(&b, 1, 25));
    int64_t served = 0, epoch = 0, steps = 0;
    int fit = 1, once = 1;
    for (int e = 0; e < 3; e++) {
        int count[23] = {0}, in_epoch = 0;
        while (lc_batcher_get_state(&b).pos < N) {
            lc_batch x;
            lc_batcher_next(&b, &x, &epoch);
            int64_t n = x.seg[x.n_seg];
            fit &= n <= 25 || x.B == 1;
            /* greedy: the next row would not have fitted */
            lc_batcher_state after = lc_batcher_get_state(&b);
            if (after.pos < N) {
                int32_t nxt = b.order[after.pos];
                fit &= n + (rows.offsets[nxt + 1] - rows.offsets[nxt]) > 25;
            }
            for (int s2 = 0; s2 < x.n_seg; s2++) count[row_of(x.tokens[x.seg[s2]])]++;
            in_epoch++;
        }
        for (int r = 0; r < N; r++) once &= count[r] == 1;
        served += in_epoch;
        steps += (in_epoch + 1) / 2; /* grad_accum 2 */
        if (e < 2) { /* start the next epoch */
            lc_batch x;
            lc_batcher_next(&b, &x, &epoch);
            CHECK(epoch == e + 1);
            lc_batcher_state st = lc_batcher_get_state(&b);
            st.pos = 0; /* replay this epoch from its start */
            CHECK_OK(lc_batcher_set_state(&b, &st));
        }
    }
    CHECK(fit && once && served > 3 * 6);
    CHECK(lc_batcher_count_steps(&b, 3, 2) == steps);
    lc_batcher_free(&b);
    lc_rows_free(&rows);
}

/* Packed rows: one segment per example (lc_rows.starts), in both layouts;
 * in the padded one a row's padding joins its last segment. */
static void test_packed_segments(void) {
    lc_rows rows, packed;
    make_rows(&rows, 9);
    CHECK_OK(lc_rows_pack(&packed, &rows, 8));
    CHECK(packed.starts != NULL);
    /* starts: every packed row's first token and every original row's start */
    int ok = 1;
    for (int64_t t = 0; t < packed.n_tokens; t++) {
        int row_start = 0, pack_start = t % 8 == 0;
        for (int r = 0; r < rows.n_rows; r++) row_start |= rows.offsets[r] == t;
        ok &= packed.starts[t] == (row_start || pack_start);
    }
    CHECK(ok);
    for (int pf = 0; pf < 2; pf++) {
        lc_batcher b;
        CHECK_OK(lc_batcher_init(&b, &packed, 3, 0, -7, 1));
        CHECK_OK(lc_batcher_set_layout(&b, pf, 0));
        lc_batch x;
        lc_batcher_next(&b, &x, NULL);
        int good = x.seg != NULL && x.seg[0] == 0 && (pf ? x.slot != NULL : x.seg[x.n_seg] == x.B * x.T);
        for (int s = 0; good && s < x.n_seg; s++) {
            int32_t a = x.seg[s];
            int64_t src = pf ? x.slot[a] / x.T * 8 + x.slot[a] % x.T : a / x.T * 8 + a % x.T;
            good &= packed.starts[src] == 1; /* every segment starts an example or a packed row */
            for (int32_t i = a + 1; i < x.seg[s + 1]; i++) {
                int64_t si = pf ? x.slot[i] / x.T * 8 + x.slot[i] % x.T : i / x.T * 8 + i % x.T;
                if (x.tokens[i] != -7) good &= packed.starts[si] == 0; /* and only one */
            }
        }
        CHECK(good && x.n_seg > x.B);
        lc_batcher_free(&b);
    }
    lc_rows_free(&packed);
    lc_rows_free(&rows);
}

int main(void) {
    test_rows_add();
    test_pack();
    test_batcher();
    test_padding_free();
    test_token_budget();
    test_packed_segments();
    return test_finish("data_batcher");
}
