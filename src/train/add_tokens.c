/*
 * add_tokens.c — new vocabulary entries on a base (lc_base.h): the
 * tokenizer gets the strings as special added tokens (ids V .. V+n-1) and
 * the model's embedding (and LM head) grows by n mean rows, as HF's
 * tokenizer.add_tokens(..., special_tokens=True) + resize_token_embeddings.
 * The adapter trains those rows as PEFT trainable tokens (lc_tokens.h) and
 * carries the strings (adapter/add_tokens), so every verb that applies it
 * first applies them here.
 */
#include "lc_base.h"

#include <stdlib.h>
#include <string.h>

#include "lc_adapter.h"
#include "lc_tokens.h"

lc_status lc_base_add_tokens(lc_base *b, const char *json, int *first) {
    char **strs = NULL;
    int n = 0, V = b->model.cfg.vocab_size, TV = lc_tokenizer_vocab_size(b->tok);
    if (first) *first = V;
    lc_status st = lc_tokens_parse_added(json, &strs, &n);
    if (st || !n) return st;
    if (TV != V)
        st = lc_errorf(LC_ERR_UNSUPPORTED,
                       "add_tokens: the tokenizer of %s has %d ids but the embedding %d rows; "
                       "new tokens need them equal (HF's resize_token_embeddings(len(tokenizer)) "
                       "would resize the embedding to the tokenizer first)",
                       b->path, TV, V);
    if (!st) st = lc_tokenizer_add_special(b->tok, (const char *const *)strs, n);
    if (!st) st = lc_tokens_grow_vocab(&b->model, n);
    lc_tokens_strs_free(strs, n);
    return st;
}

lc_status lc_base_apply_added(lc_base *b, const char *add_tokens, int base_vocab) {
    char **strs = NULL;
    int n = 0, V = b->model.cfg.vocab_size;
    lc_status st = lc_tokens_parse_added(add_tokens, &strs, &n);
    if (st || !n) return st;
    int have = V == base_vocab + n;
    for (int i = 0; have && i < n; i++) have = lc_tokenizer_token_id(b->tok, strs[i]) == base_vocab + i;
    if (!have && V != base_vocab)
        st = lc_errorf(LC_ERR_MISMATCH,
                       "add_tokens %s: the adapter's base had %d tokens, the model has %d "
                       "(other tokens were added already?)",
                       add_tokens, base_vocab, V);
    lc_tokens_strs_free(strs, n);
    return st || have ? st : lc_base_add_tokens(b, add_tokens, NULL);
}

lc_status lc_base_prepare_adapter(lc_base *b, const char *path) {
    lc_adapter_info info;
    lc_status st = lc_adapter_read_info(path, &info);
    if (st || !info.cfg.add_tokens[0]) return st;
    st = lc_base_apply_added(b, info.cfg.add_tokens, info.base_vocab_size);
    return st ? lc_error_wrap(st, "%s", path) : LC_OK;
}

lc_status lc_base_added_lora_config(lc_lora_config *lc, const lc_base *b, const char *add_tokens,
                                    const char *user_indices) {
    char **strs = NULL;
    int n = 0;
    lc_status st = lc_tokens_parse_added(add_tokens, &strs, &n);
    lc_tokens_strs_free(strs, n);
    if (st || !n) return st;
    if (strlen(add_tokens) >= sizeof lc->add_tokens)
        return lc_errorf(LC_ERR_CONFIG, "add_tokens: %zu bytes of JSON (at most %zu)", strlen(add_tokens),
                         sizeof lc->add_tokens - 1);
    strcpy(lc->add_tokens, add_tokens);
    return lc_tokens_indices_with_added(lc->trainable_token_indices, sizeof lc->trainable_token_indices, user_indices,
                                        b->model.cfg.vocab_size - n, n);
}
