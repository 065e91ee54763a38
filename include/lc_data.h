/*
 * lc_data.h — training data: read a file into examples, split off a
 * validation set, tokenise examples into rows of (ids, labels), optionally
 * pack them, and serve shuffled micro-batches, padded or padding-free.
 *
 * Path:  file (.jsonl/.csv) --lc_dataset_load--> lc_dataset (examples)
 *        --lc_dataset_split--> train / valid
 *        --lc_rows_build (tokenizer + chat template)--> lc_rows
 *        --lc_rows_pack (optional)--> lc_rows
 *        --lc_batcher_next--> lc_batch (B, T) for lc_forward_backward.
 *
 * Label convention (the same as lc_batch.targets in lc_transformer.h):
 * labels[j] = ids[j+1] when token j+1 carries loss, else -1; the last
 * position of a row is always -1. "Token k carries loss" means the model is
 * trained to predict it: completion / assistant tokens (and the EOS that
 * ends them) when mask_prompt is on, every token otherwise.
 */
#ifndef LC_DATA_H
#define LC_DATA_H

#include <stdint.h>

#include "lc_chat.h"
#include "lc_common.h"
#include "lc_config.h"
#include "lc_tokenizer.h"
#include "lc_transformer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- examples */

typedef enum {
    LC_EX_PROMPT_COMPLETION, /* msgs = [user: prompt, assistant: completion] */
    LC_EX_CHAT,              /* msgs = the conversation as given */
    LC_EX_TEXT,              /* msgs = [text: the text]; every token carries loss */
} lc_example_kind;

typedef struct {
    char *role;    /* "system", "user", "assistant" (or "text" for LC_EX_TEXT) */
    char *content; /* UTF-8 */
} lc_data_msg;

typedef struct {
    lc_example_kind kind;
    int n_msgs;
    lc_data_msg *msgs; /* (n_msgs) */
    int line;          /* 1-based line of the row in its file (first line for csv records) */
} lc_example;

typedef struct {
    lc_example *ex;          /* (n) */
    int n, cap;
    lc_data_format format;   /* the format read (never LC_FMT_AUTO after a load) */
    int n_skipped;           /* malformed rows skipped under skip_bad_rows */
    int first_skipped_line;  /* line of the first skipped row, 0 if none */
} lc_dataset;

/* Read `path` into *ds (zeroed first). Format from cfg->data_format; with
 * LC_FMT_AUTO, ".csv" files are csv and jsonl rows are recognised by the
 * first row's keys (messages > prompt+completion > instruction+output >
 * text); every later row must have the same shape. Alpaca rows become
 * prompt = instruction + "\n\n" + input (just instruction when input is
 * empty or absent), completion = output. Extra keys are ignored; blank lines
 * are skipped. Malformed row: LC_ERR_FORMAT "path:LINE: expected ..., found
 * ..." unless cfg->skip_bad_rows (then counted in n_skipped). A file with no
 * usable row is LC_ERR_FORMAT. On error *ds is freed. */
lc_status lc_dataset_load(lc_dataset *ds, const char *path, const lc_train_config *cfg);
void lc_dataset_free(lc_dataset *ds);

/* Move the examples of *all into *train and *valid (both zeroed first; *all
 * is left empty): round(ratio * n) examples, chosen by a Fisher–Yates
 * shuffle seeded with `seed`, go to valid (at least 1 when ratio > 0 and
 * n >= 2, never all of them); both keep the file order. Deterministic. */
lc_status lc_dataset_split(lc_dataset *all, double ratio, uint64_t seed, lc_dataset *train,
                           lc_dataset *valid);

/* -------------------------------------------------------------------- rows */

typedef struct {
    int n_rows;
    int64_t n_tokens;
    int64_t *offsets;      /* (n_rows + 1): row i is [offsets[i], offsets[i+1]) */
    int32_t *ids;          /* (n_tokens) */
    int32_t *labels;       /* (n_tokens) next-token target or -1 (see top of file) */
    int max_len;           /* longest row */
    int64_t n_loss_tokens; /* labels != -1 */
    int n_truncated;       /* rows cut to max_seq_len */
    int n_dropped_long;    /* rows longer than max_seq_len dropped (truncation: drop) */
    int n_dropped_no_loss; /* rows without any loss token (e.g. completion cut off) */
    uint8_t *starts;       /* (n_tokens) 1 where a packed example starts, or NULL: one example per row */
    int64_t cap_rows, cap_tokens;
} lc_rows;

/* Free the arrays and zero *rows. */
void lc_rows_free(lc_rows *rows);

/* Append one row: ids[n] with per-token flags train[n] (1 = this token
 * carries loss). Rows longer than max_len are truncated to max_len or
 * dropped (counted); a row left without any loss token is dropped
 * (counted). Labels are derived as documented at the top of this file. */
lc_status lc_rows_add(lc_rows *rows, const int32_t *ids, const uint8_t *train, int n, int max_len,
                      lc_truncation truncation);

/* Tokenise every example of ds (see docs/data.md, "Tokenisation"):
 *  - template "none" + prompt/completion: [BOS] prompt completion EOS;
 *  - other templates: prompt as a user turn, completion as the assistant
 *    reply, rendered by lc_chat_render (train segments carry loss);
 *  - chat examples: lc_chat_render of the messages ("none" appends EOS);
 *  - text: [BOS] text EOS, all tokens carry loss.
 * Each segment is encoded separately; only the first with add_special (the
 * tokenizer's BOS), and a BOS the template already wrote is not doubled.
 * tmpl: from lc_data_template_resolve. Rows are cut or dropped per
 * cfg->max_seq_len / cfg->truncation. *out is zeroed first. */
lc_status lc_rows_build(lc_rows *out, const lc_dataset *ds, const lc_tokenizer *tok,
                        const lc_chat_template *tmpl, const lc_train_config *cfg);

/* The chat template for cfg->chat_template, chosen by the one rule of
 * lc_prompt_template_resolve (lc_prompt.h; defined in prompt.c): a name, or
 * "auto" = the tokenizer's chat_template recognised by lc_chat_template_detect
 * (if the tokenizer has none: the family's built-in template, e.g. "gemma"
 * for family "gemma3", else "none"). family: lc_model.fam.name or NULL.
 * Free with lc_chat_template_free. */
lc_status lc_data_template_resolve(lc_chat_template **out, const lc_train_config *cfg,
                                   const lc_tokenizer *tok, const char *family);

/* Concatenate all rows of *in (in order) into one stream and cut it into
 * rows of exactly T tokens (the last may be shorter). Labels are kept (the
 * last token of an original row never predicts the first token of the next
 * one) and the last position of every packed row is -1, as for any row;
 * packed rows without a loss token are dropped. out->starts marks where each
 * original row (example) begins inside the packed rows (and every packed
 * row's first token): the batcher makes each its own attention segment, so
 * packed examples never see each other and their positions restart at 0.
 * *out is zeroed first. */
lc_status lc_rows_pack(lc_rows *out, const lc_rows *in, int T);

/* ----------------------------------------------------------------- batches */

/* Everything needed to resume a batcher exactly: the epoch being served, the
 * next position in that epoch's order, and the RNG state at the start of
 * that epoch (before its shuffle). Plain data: save it in checkpoints. */
typedef struct {
    int64_t epoch;
    int64_t pos;
    lc_rng rng;
} lc_batcher_state;

typedef struct {
    const lc_rows *rows;   /* not owned */
    int B;                 /* rows per micro-batch (unless max_tokens) */
    int64_t max_tokens;    /* > 0: rows per micro-batch while their tokens fit this budget */
    int padding_free;      /* 1: lc_batch padding-free layout (stream + seg + slot) */
    int shuffle;           /* 0: file order every epoch (evaluation) */
    int32_t pad_id;        /* token id used for padding (EOS); its targets are -1 */
    lc_batcher_state st;
    lc_rng rng;            /* st.rng advanced past this epoch's shuffle */
    lc_rng rng0;           /* the RNG of epoch 0 (from the seed), for lc_batcher_count_steps */
    int32_t *order;        /* (n_rows) row order of the current epoch */
    int32_t *tokens;       /* (cap) cap = B * rows->max_len, or max(max_tokens, max_len) */
    int32_t *targets;      /* (cap) */
    int32_t *seg;          /* (cap + 1) segment offsets of the batch */
    int32_t *slot;         /* (cap) padded slot per token (padding-free) */
} lc_batcher;

/* Start at epoch 0, position 0, with an RNG seeded from `seed`.
 * LC_ERR_ARG if rows is empty or B < 1. */
lc_status lc_batcher_init(lc_batcher *b, const lc_rows *rows, int B, int shuffle, int32_t pad_id,
                          uint64_t seed);
void lc_batcher_free(lc_batcher *b);

/* Switch the layout of the batches served from now on: padding_free (the
 * lc_batch stream layout), and max_tokens > 0 (the config's batch_tokens):
 * each micro-batch takes rows in order while their real tokens fit the
 * budget (at least one row, so a longer row comes alone) instead of B rows.
 * A budget needs padding_free (LC_ERR_ARG): padded, its rows could need up
 * to budget x longest-row tokens. Reallocates the batch buffers. */
lc_status lc_batcher_set_layout(lc_batcher *b, int padding_free, int64_t max_tokens);

/* Fill *out with the next micro-batch: up to B rows (fewer only for the
 * last batch of an epoch) or the rows that fit max_tokens, T = the longest
 * of them, padded with pad_id and target -1 or padding-free; packed rows
 * carry one segment per example (lc_batch). When an epoch is exhausted the next call starts the next epoch
 * with a fresh shuffle. *epoch_out (may be NULL) receives the epoch of the
 * returned batch. out's pointers stay valid until the next call. */
void lc_batcher_next(lc_batcher *b, lc_batch *out, int64_t *epoch_out);

/* Number of micro-batches in the current epoch: ceil(n_rows / B); with a
 * token budget it depends on the epoch's order. */
int64_t lc_batcher_batches_per_epoch(const lc_batcher *b);
/* Optimiser steps of `epochs` epochs from the start (the init seed), each
 * epoch ceil(micro-batches / grad_accum) steps. With a token budget the
 * epochs' shuffles are replayed to count. -1: out of memory. */
int64_t lc_batcher_count_steps(const lc_batcher *b, int64_t epochs, int grad_accum);

lc_batcher_state lc_batcher_get_state(const lc_batcher *b);
/* Resume from a saved state (regenerates that epoch's order). LC_ERR_ARG if
 * the state does not fit these rows. */
lc_status lc_batcher_set_state(lc_batcher *b, const lc_batcher_state *s);

/* Number of targets != -1 in a batch. */
int64_t lc_batch_count_targets(const lc_batch *batch);

#ifdef __cplusplus
}
#endif
#endif /* LC_DATA_H */
