/*
 * trainable_tokens.c — PEFT trainable tokens (lc_tokens.h): parsing
 * trainable_token_indices, the delta rows inside the LoRA parameter block,
 * and the small hooks the engines call — embedding rows replaced (forward),
 * their gradient gathered (backward), the tied head's rows for the fused
 * LM-head loss, logits columns and merged weights.
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
