/*
 * trainable_tokens.c — PEFT trainable tokens (lc_tokens.h): parsing
 * trainable_token_indices, the delta rows inside the LoRA parameter block,
 * and the small hooks the engines call — embedding rows replaced (forward),
 * their gradient gathered (backward), the tied head's rows for the fused
 * LM-head loss, logits columns and merged weights; and for add_tokens the
 * parsing of the new strings and the growth of the embedding / LM head.
 */
#include "lc_tokens.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lc_quant.h"

/* ids (n) of a JSON list into *out (malloc'd): distinct integers in [0, V)
 * (V <= 0: no upper bound). what names the key for messages. */
static lc_status parse_list(const json_t *l, int V, const char *what, int **out, int *n) {
    if (!json_is_array(l) || !json_array_size(l))
        return lc_errorf(LC_ERR_CONFIG, "'%s': expected a non-empty list of token ids", what);
    size_t k = json_array_size(l);
    int *ids = malloc(k * sizeof *ids);
    if (!ids) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < k; i++) {
        const json_t *e = json_array_get(l, i);
        json_int_t v = json_is_integer(e) ? json_integer_value(e) : -1;
        if (v < 0 || v > 0x7fffffff || (V > 0 && v >= V)) {
            free(ids);
            if (V > 0 && v >= V)
                return lc_errorf(LC_ERR_CONFIG, "'%s': token id %lld is outside the vocabulary (0..%d)", what,
                                 (long long)v, V - 1);
            return lc_errorf(LC_ERR_CONFIG, "'%s': entry %zu is not a token id (an integer >= 0)", what, i);
        }
        ids[i] = (int)v;
        for (size_t j = 0; j < i; j++)
            if (ids[j] == ids[i]) {
                free(ids);
                return lc_errorf(LC_ERR_CONFIG, "'%s': token id %lld is listed twice", what, (long long)v);
            }
    }
    *out = ids;
    *n = (int)k;
    return LC_OK;
}

static int same_ids(const int *a, int na, const int *b, int nb) {
    return na == nb && !memcmp(a, b, (size_t)na * sizeof *a);
}

/* The mapping form: one input-embedding key; "lm_head" only with its ids. */
static lc_status parse_map(const json_t *o, int V, int **ids, int *n) {
    const char *key;
    json_t *val;
    int *head = NULL, nh = 0;
    lc_status st = LC_OK;
    json_object_foreach((json_t *)o, key, val) {
        int is_emb = !strcmp(key, "embed_tokens") || !strcmp(key, "model.embed_tokens");
        if (!is_emb && strcmp(key, "lm_head")) {
            st = lc_errorf(LC_ERR_CONFIG, "'trainable_token_indices': module '%s' is not supported (keys: "
                                          "embed_tokens, and lm_head with the same ids for a tied head)", key);
            break;
        }
        if (is_emb && *ids) {
            st = lc_errorf(LC_ERR_CONFIG, "'trainable_token_indices': the input embedding is named twice");
            break;
        }
        if ((st = parse_list(val, V, "trainable_token_indices", is_emb ? ids : &head, is_emb ? n : &nh))) break;
    }
    if (!st && !*ids)
        st = lc_errorf(LC_ERR_CONFIG, "'trainable_token_indices': no embed_tokens entry (training rows of the LM "
                                      "head alone is not supported)");
    if (!st && head && !same_ids(*ids, *n, head, nh))
        st = lc_errorf(LC_ERR_CONFIG, "'trainable_token_indices': lm_head's ids differ from embed_tokens'; only a "
                                      "tied head with the same ids is supported (give embed_tokens alone)");
    free(head);
    if (st) free(*ids), *ids = NULL, *n = 0;
    return st;
}

lc_status lc_tokens_parse(const char *text, int V, int **ids, int *n) {
    *ids = NULL;
    *n = 0;
    if (!text || !text[0]) return LC_OK;
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
    if (!j) return lc_errorf(LC_ERR_CONFIG, "'trainable_token_indices': not valid JSON/YAML (%s): %s", err.text, text);
    lc_status st = json_is_object(j) ? parse_map(j, V, ids, n)
                                     : parse_list(j, V, "trainable_token_indices", ids, n);
    json_decref(j);
    return st;
}

lc_status lc_tokens_plan(lc_lora *lora, const lc_model *m, size_t *floats) {
    lc_lora_tokens *t = &lora->tok;
    memset(t, 0, sizeof *t);
    *floats = 0;
    lc_status st = lc_tokens_parse(lora->cfg.trainable_token_indices, m->cfg.vocab_size, &t->ids, &t->n);
    if (st || !t->n) return st;
    if (m->cfg.arch == LC_ARCH_GPT2) {
        lc_tokens_free(t);
        return lc_errorf(LC_ERR_UNSUPPORTED, "trainable_token_indices is implemented for the Llama family only, "
                                             "not GPT-2");
    }
    t->C = m->cfg.hidden_size;
    t->tied = m->cfg.tie_embeddings || m->lm_head.data == m->tok_emb.data;
    *floats = (size_t)t->n * t->C;
    return LC_OK;
}

void lc_tokens_carve(lc_lora *lora, const lc_model *m, size_t off) {
    lc_lora_tokens *t = &lora->tok;
    if (!t->n) return;
    t->delta = lora->params + off;
    t->ddelta = lora->grads + off;
    const lc_weight *E = &m->tok_emb;
    size_t rb = lc_dtype_row_bytes(E->type, t->C);
    for (int j = 0; j < t->n; j++)
        lc_dequantize(E->type, (const char *)E->data + (size_t)t->ids[j] * rb, t->delta + (size_t)j * t->C, t->C);
}

void lc_tokens_free(lc_lora_tokens *t) {
    free(t->ids);
    memset(t, 0, sizeof *t);
}

/* Index j of token id in t, or -1. */
static int find(const lc_lora_tokens *t, int32_t id) {
    for (int j = 0; j < t->n; j++)
        if (t->ids[j] == id) return j;
    return -1;
}

void lc_tokens_embed(float *x, const int32_t *tokens, int N, const lc_lora *lora) {
    if (!lora || !lora->tok.n) return;
    const lc_lora_tokens *t = &lora->tok;
    for (int i = 0; i < N; i++) {
        int j = find(t, tokens[i]);
        if (j >= 0) memcpy(x + (size_t)i * t->C, t->delta + (size_t)j * t->C, (size_t)t->C * sizeof(float));
    }
}

void lc_tokens_embed_backward(lc_lora *lora, const float *dx, const int32_t *tokens, int N, float scale) {
    if (!lora || !lora->tok.n) return;
    lc_lora_tokens *t = &lora->tok;
    for (int i = 0; i < N; i++) {
        int j = find(t, tokens[i]);
        if (j < 0) continue;
        float *d = t->ddelta + (size_t)j * t->C;
        const float *g = dx + (size_t)i * t->C;
        for (int c = 0; c < t->C; c++) d[c] += scale * g[c];
    }
}

int lc_tokens_head(const lc_lora *lora, const int **ids, const float **rows, float **drows) {
    *ids = NULL, *rows = NULL, *drows = NULL;
    if (!lora || !lora->tok.n || !lora->tok.tied) return 0;
    *ids = lora->tok.ids, *rows = lora->tok.delta, *drows = lora->tok.ddelta;
    return lora->tok.n;
}

void lc_tokens_head_logits(float *logits, const float *hidden, int N, int V, const lc_lora *lora) {
    if (!lora || !lora->tok.n || !lora->tok.tied) return;
    const lc_lora_tokens *t = &lora->tok;
#pragma omp parallel for schedule(static) if (N > 16)
    for (int i = 0; i < N; i++)
        for (int j = 0; j < t->n; j++) {
            const float *h = hidden + (size_t)i * t->C, *w = t->delta + (size_t)j * t->C;
            float s = 0;
            for (int c = 0; c < t->C; c++) s += h[c] * w[c];
            logits[(size_t)i * V + t->ids[j]] = s;
        }
}

void lc_tokens_merge_rows(float *W, int V, const lc_lora *lora) {
    const lc_lora_tokens *t = &lora->tok;
    for (int j = 0; j < t->n; j++)
        if (t->ids[j] < V)
            memcpy(W + (size_t)t->ids[j] * t->C, t->delta + (size_t)j * t->C, (size_t)t->C * sizeof(float));
}

/* ---------------------------------------------------------------- add_tokens */

void lc_tokens_strs_free(char **strs, int n) {
    for (int i = 0; strs && i < n; i++) free(strs[i]);
    free(strs);
}

/* Entry i of the add_tokens list l into strs[i]: a non-empty string not
 * among strs[0 .. i-1]. */
static lc_status added_entry(const json_t *l, size_t i, char **strs) {
    const json_t *e = json_array_get(l, i);
    if (!json_is_string(e))
        return lc_errorf(LC_ERR_CONFIG,
                         "'add_tokens': entry %zu is not a string (expected a list of token strings, "
                         "e.g. [\"<|tool|>\"])",
                         i);
    const char *s = json_string_value(e);
    if (!s[0] || json_string_length(e) != strlen(s))
        return lc_errorf(LC_ERR_CONFIG, "'add_tokens': entry %zu is %s", i,
                         s[0] ? "a string with a NUL byte" : "empty");
    for (size_t j = 0; j < i; j++)
        if (!strcmp(strs[j], s)) return lc_errorf(LC_ERR_CONFIG, "'add_tokens': \"%s\" is listed twice", s);
    if (!(strs[i] = strdup(s))) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    return LC_OK;
}

lc_status lc_tokens_parse_added(const char *text, char ***strs, int *n) {
    *strs = NULL;
    *n = 0;
    if (!text || !text[0]) return LC_OK;
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
    if (!j) return lc_errorf(LC_ERR_CONFIG, "'add_tokens': not valid JSON/YAML (%s): %s", err.text, text);
    lc_status st = LC_OK;
    size_t k = json_is_array(j) ? json_array_size(j) : 0;
    char **s = k ? calloc(k, sizeof *s) : NULL;
    if (!k) st = lc_errorf(LC_ERR_CONFIG, "'add_tokens': expected a non-empty list of token strings, got %s", text);
    else if (!s) st = lc_errorf(LC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < k; i++) st = added_entry(j, i, s);
    json_decref(j);
    if (st) return lc_tokens_strs_free(s, (int)k), st;
    *strs = s;
    *n = (int)k;
    return LC_OK;
}

/* W (rows, C) of w dequantised into out (rows + n, C), the n new rows the
 * mean of the old ones (summed in double). */
static void grown_rows(float *out, const lc_weight *w, int n) {
    int V = w->rows, C = w->cols;
    size_t rb = lc_dtype_row_bytes(w->type, C);
    lc_dequantize_rows(w->type, w->data, (int64_t)rb, 0, V, C, out);
    double *mean = calloc((size_t)C, sizeof *mean);
    LC_ASSERT(mean);
    for (int v = 0; v < V; v++)
        for (int c = 0; c < C; c++) mean[c] += out[(size_t)v * C + c];
    for (int k = 0; k < n; k++)
        for (int c = 0; c < C; c++) out[(size_t)(V + k) * C + c] = (float)(mean[c] / V);
    free(mean);
}

/* A new owned fp32 copy of w grown by n mean rows; *w points at it. */
static lc_status grow_weight(lc_model *m, lc_weight *w, int n) {
    size_t bytes = (size_t)(w->rows + n) * w->cols * sizeof(float);
    float *p = malloc(bytes);
    if (!p)
        return lc_errorf(LC_ERR_NOMEM, "add_tokens: out of memory growing a (%d, %d) embedding", w->rows + n, w->cols);
    grown_rows(p, w, n);
    lc_status st = lc_model_own(m, p, bytes, 0);
    if (st) return free(p), st;
    *w = (lc_weight){LC_DT_F32, w->rows + n, w->cols, p};
    return LC_OK;
}

lc_status lc_tokens_grow_vocab(lc_model *m, int n) {
    if (n <= 0) return LC_OK;
    if (m->cfg.arch == LC_ARCH_GPT2)
        return lc_errorf(LC_ERR_UNSUPPORTED, "add_tokens is implemented for the Llama family only, not GPT-2");
    int tied = m->lm_head.data == m->tok_emb.data;
    lc_status st = grow_weight(m, &m->tok_emb, n);
    if (!st && tied) m->lm_head = m->tok_emb;
    if (!st && !tied) st = grow_weight(m, &m->lm_head, n);
    if (!st) m->cfg.vocab_size += n;
    return st;
}

lc_status lc_tokens_indices_with_added(char *out, size_t cap, const char *user, int first, int n) {
    int *ids = NULL, k = 0;
    lc_status st = lc_tokens_parse(user, first, &ids, &k);
    if (st)
        return lc_error_wrap(st,
                             "trainable_token_indices with add_tokens (the added tokens' ids %d..%d are "
                             "trained already)",
                             first, first + n - 1);
    size_t len = (size_t)snprintf(out, cap, "[");
    for (int i = 0; i < k + n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%d", i ? ", " : "", i < k ? ids[i] : first + i - k);
    if (len < cap) len += (size_t)snprintf(out + len, cap - len, "]");
    free(ids);
    if (len >= cap)
        return lc_errorf(LC_ERR_CONFIG, "trainable_token_indices with add_tokens: %d ids do not fit in %zu bytes",
                         k + n, cap - 1);
    return LC_OK;
}
