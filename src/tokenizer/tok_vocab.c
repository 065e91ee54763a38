/*
 * tok_vocab.c — build a tokenizer from GGUF `tokenizer.ggml.*` arrays, as
 * llama.cpp interprets them, expressed as the equivalent Hugging Face
 * pipeline so that both paths share one BPE core:
 *   model "gpt2":  byte-level BPE; the `pre` name picks the pre-tokenizer
 *                  regexes llama.cpp uses for it (llama-vocab.cpp);
 *   model "llama": SentencePiece BPE with byte fallback ("▁" for spaces,
 *                  prepended to each text segment unless add_space_prefix
 *                  is 0, as for Gemma). Given merges it is HF's
 *                  rank-ordered BPE; given only scores it is llama.cpp's SPM
 *                  algorithm (best-scoring adjacent pair first).
 * Control (3), unknown (2) and user-defined (4) tokens become added tokens
 * matched in the text before the model, like llama.cpp's special-token
 * partitioning and HF's added_tokens.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

static lc_status oom(void) { return lc_errorf(LC_ERR_NOMEM, "tokenizer: out of memory"); }

static lc_status add_split(lc_tokenizer *t, const char *re, int behavior) {
    tk_pre *p = &t->pres[t->n_pres];
    memset(p, 0, sizeof *p);
    p->type = TK_PRE_SPLIT;
    p->behavior = behavior;
    lc_status st = tk_regex_compile(&p->re, re, strlen(re), 0, "GGUF pre-tokenizer");
    if (!st) t->n_pres++;
    return st;
}

static lc_status add_bytelevel(lc_tokenizer *t, int use_regex) {
    tk_pre *p = &t->pres[t->n_pres];
    memset(p, 0, sizeof *p);
    p->type = TK_PRE_BYTELEVEL;
    lc_status st = use_regex ? tk_regex_compile(&p->re, TK_RE_GPT2, strlen(TK_RE_GPT2), 0, "ByteLevel")
                             : LC_OK;
    if (!st) t->n_pres++;
    return st;
}

static int name_in(const char *name, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(name, *list)) return 1;
    return 0;
}

/* The pre-tokenizer llama.cpp uses for a GGUF `tokenizer.ggml.pre` name. */
static lc_status gpt2_pre(lc_tokenizer *t, const char *pre) {
    static const char *const gpt2[] = {"gpt-2", "gpt2", "mpt", "olmo", "jais", NULL};
    static const char *const digits[] = {"smollm",   "starcoder", "refact", "command-r",
                                         "codeshell", "exaone",   "minerva", NULL};
    static const char *const llama3[] = {"llama-bpe", "llama3", "llama-v3", "dbrx", "smaug-bpe",
                                         "chatglm-bpe", "falcon3", NULL};
    static const char *const qwen2[] = {"qwen2", "stablelm2", NULL};
    if (!(t->pres = calloc(8, sizeof *t->pres))) return oom();
    lc_status st = LC_OK;
    if (!pre || !strcmp(pre, "default")) {
        /* llama.cpp's default: four regexes applied in turn, each isolating its matches */
        if ((st = add_split(t, "[\\p{P}\\$\\+<=>\\^~\\|]+", TK_SPLIT_ISOLATED)) ||
            (st = add_split(t, TK_RE_GPT2, TK_SPLIT_ISOLATED)) ||
            (st = add_split(t, "\\p{N}+", TK_SPLIT_ISOLATED)) ||
            (st = add_split(t, "[0-9][0-9][0-9]", TK_SPLIT_ISOLATED)))
            return st;
        return add_bytelevel(t, 0);
    }
    if (name_in(pre, gpt2)) return add_bytelevel(t, 1);
    if (name_in(pre, digits)) {
        if ((st = add_split(t, "\\p{N}", TK_SPLIT_ISOLATED))) return st;
        return add_bytelevel(t, 1);
    }
    if (name_in(pre, llama3)) {
        t->bpe.ignore_merges = strcmp(pre, "dbrx") && strcmp(pre, "smaug-bpe") &&
                               strcmp(pre, "chatglm-bpe");
        if ((st = add_split(t, TK_RE_LLAMA3, TK_SPLIT_ISOLATED))) return st;
        return add_bytelevel(t, 0);
    }
    if (name_in(pre, qwen2)) {
        if ((st = add_split(t, TK_RE_QWEN2, TK_SPLIT_ISOLATED))) return st;
        return add_bytelevel(t, 0);
    }
    return lc_errorf(LC_ERR_UNSUPPORTED,
                     "GGUF tokenizer.ggml.pre \"%s\" is not supported (known: default, gpt-2, "
                     "smollm, starcoder, llama-bpe, qwen2, ...)", pre);
}

/* SentencePiece: spaces become "▁" (llama_escape_whitespace); with
 * add_space_prefix a "▁" is prepended to each text segment (llama.cpp: after
 * BOS or a special token; HF's Prepend normalizer: every segment between
 * added tokens) and decode strips one leading space again. */
static lc_status llama_pipeline(lc_tokenizer *t, int add_space_prefix) {
    const char *sp = "\xE2\x96\x81"; /* ▁ */
    if (!(t->norms = calloc(2, sizeof *t->norms)) || !(t->decs = calloc(4, sizeof *t->decs)))
        return oom();
    if (add_space_prefix) {
        t->norms[t->n_norms] = (tk_norm){.type = TK_NORM_PREPEND, .a = strdup(sp), .na = 3};
        if (!t->norms[t->n_norms++].a) return oom();
    }
    t->norms[t->n_norms++] =
        (tk_norm){.type = TK_NORM_REPLACE, .a = strdup(" "), .na = 1, .b = strdup(sp), .nb = 3};
    t->decs[0] = (tk_dec){.type = TK_DEC_REPLACE, .a = strdup(sp), .na = 3, .b = strdup(" "), .nb = 1};
    t->decs[1] = (tk_dec){.type = TK_DEC_BYTEFALLBACK};
    t->decs[2] = (tk_dec){.type = TK_DEC_FUSE};
    t->decs[3] = (tk_dec){.type = TK_DEC_STRIP, .cp = ' ', .start = 1, .stop = 0};
    t->n_decs = add_space_prefix ? 4 : 3;
    t->has_decoder = 1;
    if (!t->norms[t->n_norms - 1].a || !t->norms[t->n_norms - 1].b || !t->decs[0].a || !t->decs[0].b)
        return oom();
    t->bpe.byte_fallback = 1;
    t->bpe.fuse_unk = 1;
    return LC_OK;
}

/* Refuse models and argument combinations lorac cannot build. */
static lc_status check_vocab_args(const char *model, int n_merges, const float *scores) {
    int is_gpt2 = !strcmp(model, "gpt2"), is_llama = !strcmp(model, "llama");
    if (!is_gpt2 && !is_llama)
        return lc_errorf(LC_ERR_UNSUPPORTED,
                         "GGUF tokenizer.ggml.model \"%s\" is not supported (gpt2 or llama)", model);
    if (is_gpt2 && !n_merges)
        return lc_errorf(LC_ERR_FORMAT, "GGUF tokenizer model gpt2 without tokenizer.ggml.merges");
    if (is_llama && !n_merges && !scores)
        return lc_errorf(LC_ERR_FORMAT,
                         "GGUF tokenizer model llama needs tokenizer.ggml.merges or .scores");
    return LC_OK;
}

/* The vocab (strings, map, scores when there are no merges) and the added
 * tokens: unknown (2), control (3) and user-defined (4) types. */
static lc_status load_tokens(lc_tokenizer *t, const char *const *tokens, const float *scores,
                             const int32_t *token_types, int n_tokens) {
    tk_bpe *b = &t->bpe;
    b->tok = calloc((size_t)n_tokens, sizeof *b->tok);
    b->tok_len = calloc((size_t)n_tokens, sizeof *b->tok_len);
    t->added = calloc((size_t)n_tokens, sizeof *t->added);
    if (!b->tok || !b->tok_len || !t->added || tk_strmap_init(&b->map, (uint32_t)n_tokens, b->tok, b->tok_len))
        return oom();
    if (b->mode == TK_BPE_SCORES) {
        if (!(b->scores = malloc((size_t)n_tokens * sizeof *b->scores))) return oom();
        memcpy(b->scores, scores, (size_t)n_tokens * sizeof *scores);
    }
    for (int i = 0; i < n_tokens; i++) {
        if (!tokens[i]) return lc_errorf(LC_ERR_FORMAT, "GGUF tokenizer.ggml.tokens[%d] is missing", i);
        b->tok_len[i] = (uint32_t)strlen(tokens[i]);
        if (!(b->tok[i] = strdup(tokens[i]))) return oom();
        tk_strmap_put(&b->map, i);
        int type = token_types ? token_types[i] : 1;
        if (type == 2 || type == 3 || type == 4) {
            tk_added *a = &t->added[t->n_added++];
            a->len = b->tok_len[i];
            if (!(a->content = strdup(tokens[i]))) return oom();
            a->id = i;
            a->special = type != 4;
        }
    }
    return LC_OK;
}

/* tokenizer.ggml.merges: "a b" per rank; cat is scratch. */
static lc_status load_ggml_merges(tk_bpe *b, const char *const *merges, int n_merges, tk_buf *cat) {
    if (tk_mergemap_init(&b->merges, (uint32_t)n_merges)) return oom();
    for (int i = 0; i < n_merges; i++) {
        const char *m = merges[i], *sp = m ? strchr(m, ' ') : NULL;
        if (!sp)
            return lc_errorf(LC_ERR_FORMAT, "GGUF tokenizer.ggml.merges[%d] \"%s\": expected \"a b\"", i,
                             m ? m : "(null)");
        int rc = tk_bpe_add_merge(b, cat, m, (size_t)(sp - m), sp + 1, strlen(sp + 1), i);
        if (rc < 0) return oom();
        if (rc)
            return lc_errorf(LC_ERR_FORMAT, "GGUF tokenizer.ggml.merges[%d] \"%s\": a token is not "
                             "in tokenizer.ggml.tokens", i, m);
    }
    return LC_OK;
}

/* Byte-level BPE: the pre-tokenizer llama.cpp picks for `pre`, a ByteLevel decoder. */
static lc_status gpt2_pipeline(lc_tokenizer *t, const char *pre) {
    t->byte_level = 1;
    lc_status st = gpt2_pre(t, pre);
    if (st) return st;
    if (!(t->decs = calloc(1, sizeof *t->decs))) return oom();
    t->decs[0].type = TK_DEC_BYTELEVEL;
    t->n_decs = 1;
    t->has_decoder = 1;
    return LC_OK;
}

lc_status lc_tokenizer_from_vocab(lc_tokenizer **out, const char *model, const char *pre,
                                  const char *const *tokens, const float *scores,
                                  const int32_t *token_types, int n_tokens,
                                  const char *const *merges, int n_merges, int bos_id,
                                  int eos_id, int unk_id, int add_bos, int add_space_prefix) {
    if (!out || !model || !tokens || n_tokens <= 0 || n_merges < 0 || (n_merges && !merges))
        return lc_errorf(LC_ERR_ARG, "lc_tokenizer_from_vocab: bad arguments");
    *out = NULL;
    lc_status st = check_vocab_args(model, n_merges, scores);
    if (st) return st;
    lc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return oom();
    tk_bpe *b = &t->bpe;
    b->n_vocab = n_tokens;
    b->unk_id = unk_id >= 0 && unk_id < n_tokens ? unk_id : -1;
    b->mode = n_merges ? TK_BPE_MERGES : TK_BPE_SCORES;
    tk_buf cat = {0};
    if (!(st = load_tokens(t, tokens, scores, token_types, n_tokens)))
        st = load_ggml_merges(b, merges, n_merges, &cat);
    tk_buf_free(&cat);
    if (st) goto fail;
    if ((st = !strcmp(model, "gpt2") ? gpt2_pipeline(t, pre)
                                        : llama_pipeline(t, add_space_prefix != 0))) goto fail;
    if (add_bos && bos_id >= 0) {
        if (!(t->post_prefix = malloc(sizeof(int32_t)))) {
            st = oom();
            goto fail;
        }
        t->post_prefix[0] = bos_id;
        t->n_post_prefix = 1;
    }
    t->bos_id = bos_id >= 0 && bos_id < n_tokens ? bos_id : -1;
    t->eos_id = eos_id >= 0 && eos_id < n_tokens ? eos_id : -1;
    if ((st = tk_tokenizer_finish(t))) goto fail;
    *out = t;
    return LC_OK;
fail:
    lc_tokenizer_free(t);
    return st;
}
