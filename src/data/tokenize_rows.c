/*
 * tokenize_rows.c — examples to training rows: render each example (chat
 * template or the plain "none" layout), encode the pieces with the
 * tokenizer, flag the tokens that carry loss, and append the row (ids +
 * next-token labels) with truncation per the run config.
 *
 * With prompt.c (the prompt policy these rows follow), the only file of
 * src/data that needs the tokenizer and chat templates (src/tokenizer);
 * everything else here is pure parsing.
 */
#include <stdlib.h>
#include <string.h>

#include "lc_data.h"
#include "lc_prompt.h"

/* Token ids with a per-token "carries loss" flag. */
typedef struct {
    int32_t *ids;   /* (n) */
    uint8_t *train; /* (n) */
    int n, cap;
} tokbuf;

static lc_status tb_push(tokbuf *b, const int32_t *ids, int n, int train) {
    if (b->n + n > b->cap) {
        int cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        int32_t *i2 = realloc(b->ids, (size_t)cap * sizeof *i2);
        if (!i2) return lc_errorf(LC_ERR_NOMEM, "out of memory tokenising");
        b->ids = i2;
        uint8_t *t2 = realloc(b->train, (size_t)cap);
        if (!t2) return lc_errorf(LC_ERR_NOMEM, "out of memory tokenising");
        b->train = t2;
        b->cap = cap;
    }
    memcpy(b->ids + b->n, ids, (size_t)n * sizeof *ids);
    memset(b->train + b->n, train ? 1 : 0, (size_t)n);
    b->n += n;
    return LC_OK;
}

/* Encode one piece of text as lc_prompt_encode_piece does (BOS on the
 * first piece of a row, never doubled) and flag its tokens. */
static lc_status tb_encode(tokbuf *b, const lc_tokenizer *tok, const char *text, int train) {
    int32_t *ids = NULL;
    int n = 0;
    lc_status st = lc_prompt_encode_piece(tok, text, b->n == 0, &ids, &n);
    if (st != LC_OK) return st;
    st = tb_push(b, ids, n, train);
    free(ids);
    return st;
}

static lc_status tb_eos(tokbuf *b, const lc_tokenizer *tok, int train) {
    int32_t eos = lc_tokenizer_eos_id(tok);
    return eos >= 0 ? tb_push(b, &eos, 1, train) : LC_OK;
}

/* Render messages with the template and encode segment by segment. */
static lc_status render_and_encode(tokbuf *b, const lc_tokenizer *tok, const lc_chat_template *tmpl,
                                   const lc_example *e, int mask_prompt) {
    lc_chat_segment *segs = NULL;
    int n_segs = 0;
    lc_status st = LC_OK;
    lc_chat_msg *msgs = malloc((size_t)e->n_msgs * sizeof *msgs);
    if (!msgs) return lc_errorf(LC_ERR_NOMEM, "out of memory tokenising");
    for (int i = 0; i < e->n_msgs; i++) {
        msgs[i].role = e->msgs[i].role;
        msgs[i].content = e->msgs[i].content;
    }
    if ((st = lc_chat_render(tmpl, msgs, e->n_msgs, 0, &segs, &n_segs)) != LC_OK) goto fail;
    for (int i = 0; i < n_segs; i++)
        if ((st = tb_encode(b, tok, segs[i].text, mask_prompt ? segs[i].train : 1)) != LC_OK) goto fail;
fail:
    if (segs) lc_chat_segments_free(segs, n_segs);
    free(msgs);
    return st;
}

/* One example to tokens + loss flags (b is empty on entry). */
static lc_status encode_example(tokbuf *b, const lc_example *e, const lc_tokenizer *tok,
                                const lc_chat_template *tmpl, int is_none, int mask_prompt) {
    lc_status st;
    switch (e->kind) {
    case LC_EX_TEXT:
        if ((st = tb_encode(b, tok, e->msgs[0].content, 1)) != LC_OK) return st;
        return tb_eos(b, tok, 1);
    case LC_EX_PROMPT_COMPLETION:
        if (is_none) { /* [BOS] prompt completion EOS */
            if ((st = tb_encode(b, tok, e->msgs[0].content, !mask_prompt)) != LC_OK) return st;
            if ((st = tb_encode(b, tok, e->msgs[1].content, 1)) != LC_OK) return st;
            return tb_eos(b, tok, 1);
        }
        return render_and_encode(b, tok, tmpl, e, mask_prompt);
    case LC_EX_CHAT:
        if ((st = render_and_encode(b, tok, tmpl, e, mask_prompt)) != LC_OK) return st;
        return is_none ? tb_eos(b, tok, 1) : LC_OK;
    }
    return lc_errorf(LC_ERR_ARG, "example kind %d", (int)e->kind);
}

lc_status lc_rows_build(lc_rows *out, const lc_dataset *ds, const lc_tokenizer *tok,
                        const lc_chat_template *tmpl, const lc_train_config *cfg) {
    tokbuf b = {0};
    lc_status st = LC_OK;
    memset(out, 0, sizeof *out);
    int is_none = !tmpl || !strcmp(lc_chat_template_name(tmpl), "none");
    for (int i = 0; i < ds->n; i++) {
        const lc_example *e = &ds->ex[i];
        if ((st = lc_interrupt_check("tokenising the data"))) goto fail;
        if (e->kind == LC_EX_CHAT && !tmpl) {
            st = lc_errorf(LC_ERR_ARG, "lc_rows_build: chat examples need a chat template (use lc_data_template_resolve)");
            goto fail;
        }
        b.n = 0;
        if ((st = encode_example(&b, e, tok, tmpl, is_none, cfg->mask_prompt)) != LC_OK) {
            lc_error_wrap(st, "tokenising the example at line %d", e->line);
            goto fail;
        }
        if ((st = lc_rows_add(out, b.ids, b.train, b.n, cfg->max_seq_len, cfg->truncation)) != LC_OK) goto fail;
    }
    free(b.ids);
    free(b.train);
    return LC_OK;
fail:
    free(b.ids);
    free(b.train);
    lc_rows_free(out);
    return st;
}
