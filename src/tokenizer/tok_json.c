/*
 * tok_json.c — load a Hugging Face tokenizer.json (model BPE, normalizer,
 * pre_tokenizer, post_processor, decoder, added_tokens) plus, from the same
 * directory, tokenizer_config.json (bos_token/eos_token, chat_template) and
 * config.json (bos_token_id/eos_token_id fallback). Truncation and padding
 * sections are encode-time options and are ignored. Anything lorac does not
 * implement is refused with LC_ERR_UNSUPPORTED naming the component.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tok_internal.h"

typedef struct {
    const char *file; /* for messages */
    lc_tokenizer *t;
} tk_ld;

static const char *jstr(const json_t *o, const char *k) {
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int jbool(const json_t *o, const char *k, int def) {
    const json_t *v = json_object_get(o, k);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n), d[n] = 0;
    return d;
}

static lc_status oom(void) { return lc_errorf(LC_ERR_NOMEM, "tokenizer: out of memory"); }

/* ---------------------------------------------------------------- model */

/* Refuse the BPE options lorac does not implement. */
static lc_status check_bpe_options(const tk_ld *ld, const json_t *m) {
    const char *type = jstr(m, "type");
    if (type ? strcmp(type, "BPE") != 0 : !json_object_get(m, "merges"))
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: model type \"%s\" is not supported (only BPE)",
                         ld->file, type ? type : "?");
    const char *cp = jstr(m, "continuing_subword_prefix"), *ews = jstr(m, "end_of_word_suffix");
    if ((cp && *cp) || (ews && *ews))
        return lc_errorf(LC_ERR_UNSUPPORTED,
                         "%s: BPE continuing_subword_prefix/end_of_word_suffix are not supported",
                         ld->file);
    const json_t *dr = json_object_get(m, "dropout");
    if (json_is_number(dr) && json_number_value(dr) > 0)
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: BPE dropout is not supported", ld->file);
    return LC_OK;
}

/* model.vocab {token: id}: n_vocab = max id + 1, the token strings and the
 * string -> id map. */
static lc_status load_vocab(tk_ld *ld, const json_t *vocab) {
    tk_bpe *b = &ld->t->bpe;
    if (!json_is_object(vocab))
        return lc_errorf(LC_ERR_FORMAT, "%s: model.vocab: expected an object", ld->file);
    const char *key;
    const json_t *val;
    int n = 0;
    json_object_foreach((json_t *)vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 ||
            json_integer_value(val) > (1 << 24))
            return lc_errorf(LC_ERR_FORMAT, "%s: model.vocab[\"%s\"]: expected an id in [0, 2^24]",
                             ld->file, key);
        if (json_integer_value(val) + 1 > n) n = (int)json_integer_value(val) + 1;
    }
    b->n_vocab = n;
    b->tok = calloc((size_t)n + 1, sizeof *b->tok);
    b->tok_len = calloc((size_t)n + 1, sizeof *b->tok_len);
    if (!b->tok || !b->tok_len || tk_strmap_init(&b->map, (uint32_t)n, b->tok, b->tok_len))
        return oom();
    json_object_foreach((json_t *)vocab, key, val) {
        int id = (int)json_integer_value(val);
        size_t kl = strlen(key); /* jansson object keys are NUL-terminated strings */
        free(b->tok[id]);
        if (!(b->tok[id] = dupn(key, kl))) return oom();
        b->tok_len[id] = (uint32_t)kl;
        tk_strmap_put(&b->map, id);
    }
    return LC_OK;
}

/* The two parts of merge rule i: "a b" (older files) or ["a", "b"]. */
static lc_status merge_parts(const tk_ld *ld, const json_t *e, size_t i, const char **a, size_t *la,
                             const char **c, size_t *lc) {
    if (json_is_string(e)) {
        *a = json_string_value(e);
        const char *sp = strchr(*a, ' ');
        if (!sp)
            return lc_errorf(LC_ERR_FORMAT, "%s: model.merges[%zu] \"%s\": expected \"a b\"", ld->file, i, *a);
        *la = (size_t)(sp - *a), *c = sp + 1, *lc = strlen(*c);
        return LC_OK;
    }
    if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
        json_is_string(json_array_get(e, 1))) {
        *a = json_string_value(json_array_get(e, 0)), *la = json_string_length(json_array_get(e, 0));
        *c = json_string_value(json_array_get(e, 1)), *lc = json_string_length(json_array_get(e, 1));
        return LC_OK;
    }
    return lc_errorf(LC_ERR_FORMAT, "%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", ld->file, i);
}

/* model.merges: rank i merges its two parts into the vocab's token a+b; all
 * three must be in the vocab. cat is scratch for a+b. */
static lc_status load_merges(tk_ld *ld, const json_t *merges, tk_buf *cat) {
    tk_bpe *b = &ld->t->bpe;
    if (merges && !json_is_array(merges))
        return lc_errorf(LC_ERR_FORMAT, "%s: model.merges: expected an array", ld->file);
    size_t nm = json_array_size(merges);
    if (tk_mergemap_init(&b->merges, (uint32_t)nm)) return oom();
    for (size_t i = 0; i < nm; i++) {
        const char *a = NULL, *c = NULL;
        size_t la = 0, lc = 0;
        lc_status st = merge_parts(ld, json_array_get(merges, i), i, &a, &la, &c, &lc);
        if (st) return st;
        int rc = tk_bpe_add_merge(b, cat, a, la, c, lc, (int32_t)i);
        if (rc < 0) return oom();
        if (rc)
            return lc_errorf(LC_ERR_FORMAT,
                             "%s: model.merges[%zu] (\"%.*s\" + \"%.*s\"): %s is not in "
                             "the vocab", ld->file, i, (int)la, a, (int)lc, c,
                             rc == TK_MERGE_NO_LEFT ? "left part" : rc == TK_MERGE_NO_RIGHT ? "right part"
                                                                                       : "merged token");
    }
    return LC_OK;
}

static lc_status load_model(tk_ld *ld, const json_t *m) {
    tk_bpe *b = &ld->t->bpe;
    lc_status st;
    if ((st = check_bpe_options(ld, m)) || (st = load_vocab(ld, json_object_get(m, "vocab")))) return st;
    tk_buf cat = {0};
    st = load_merges(ld, json_object_get(m, "merges"), &cat);
    tk_buf_free(&cat);
    if (st) return st;
    const char *unk = jstr(m, "unk_token");
    b->unk_id = unk ? tk_strmap_get(&b->map, unk, strlen(unk)) : -1;
    b->fuse_unk = jbool(m, "fuse_unk", 0);
    b->byte_fallback = jbool(m, "byte_fallback", 0);
    b->ignore_merges = jbool(m, "ignore_merges", 0);
    b->mode = TK_BPE_MERGES;
    return LC_OK;
}

/* ---------------------------------------------------------------- normalizer */

static lc_status add_norm(tk_ld *ld, tk_norm nm) {
    lc_tokenizer *t = ld->t;
    tk_norm *p = realloc(t->norms, (size_t)(t->n_norms + 1) * sizeof *p);
    if (!p) return oom();
    t->norms = p;
    t->norms[t->n_norms++] = nm;
    return LC_OK;
}

static lc_status load_normalizer(tk_ld *ld, const json_t *n) {
    if (!n || json_is_null(n)) return LC_OK;
    const char *type = jstr(n, "type");
    if (!type) return lc_errorf(LC_ERR_FORMAT, "%s: normalizer without \"type\"", ld->file);
    if (!strcmp(type, "Sequence")) {
        const json_t *arr = json_object_get(n, "normalizers");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            lc_status st = load_normalizer(ld, json_array_get(arr, i));
            if (st) return st;
        }
        return LC_OK;
    }
    tk_norm nm = {0};
    if (!strcmp(type, "Prepend")) {
        const char *s = jstr(n, "prepend");
        if (!s) return lc_errorf(LC_ERR_FORMAT, "%s: Prepend normalizer without \"prepend\"", ld->file);
        nm.type = TK_NORM_PREPEND;
        nm.na = strlen(s);
        if (!(nm.a = dupn(s, nm.na))) return oom();
    } else if (!strcmp(type, "Replace")) {
        const json_t *pat = json_object_get(n, "pattern");
        const char *s = jstr(pat, "String"), *c = jstr(n, "content");
        if (!s || !c)
            return lc_errorf(LC_ERR_UNSUPPORTED,
                             "%s: Replace normalizer: only {\"String\": ...} patterns are supported",
                             ld->file);
        nm.type = TK_NORM_REPLACE;
        nm.na = strlen(s), nm.nb = strlen(c);
        nm.a = dupn(s, nm.na), nm.b = dupn(c, nm.nb);
        if (!nm.a || !nm.b) return free(nm.a), free(nm.b), oom();
    } else if (!strcmp(type, "Lowercase")) {
        nm.type = TK_NORM_LOWERCASE;
    } else if (!strcmp(type, "Strip")) {
        nm.type = TK_NORM_STRIP;
        nm.left = jbool(n, "strip_left", 1), nm.right = jbool(n, "strip_right", 1);
    } else if ((nm.form = tk_unicode_form(type))) {
        nm.type = TK_NORM_UNICODE;
    } else {
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: normalizer type \"%s\" is not supported",
                         ld->file, type);
    }
    lc_status st = add_norm(ld, nm);
    if (st) free(nm.a), free(nm.b);
    return st;
}

/* ---------------------------------------------------------------- pre-tokenizer */

static lc_status add_pre(tk_ld *ld, tk_pre p) {
    lc_tokenizer *t = ld->t;
    tk_pre *v = realloc(t->pres, (size_t)(t->n_pres + 1) * sizeof *v);
    if (!v) {
        if (p.re) pcre2_code_free(p.re);
        return oom();
    }
    t->pres = v;
    t->pres[t->n_pres++] = p;
    return LC_OK;
}

static int parse_behavior(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "Removed")) return TK_SPLIT_REMOVED;
    if (!strcmp(s, "Isolated")) return TK_SPLIT_ISOLATED;
    if (!strcmp(s, "MergedWithPrevious")) return TK_SPLIT_PREV;
    if (!strcmp(s, "MergedWithNext")) return TK_SPLIT_NEXT;
    if (!strcmp(s, "Contiguous")) return TK_SPLIT_CONTIG;
    return -1;
}

static lc_status split_pre(tk_ld *ld, const char *re, int literal, int behavior, int invert) {
    tk_pre p = {0};
    p.type = TK_PRE_SPLIT;
    p.behavior = behavior;
    p.invert = invert;
    lc_status st = tk_regex_compile(&p.re, re, strlen(re), literal, "pre_tokenizer Split");
    return st ? st : add_pre(ld, p);
}

static int parse_prepend_scheme(const json_t *n) {
    const char *s = jstr(n, "prepend_scheme");
    if (s) return !strcmp(s, "first") ? TK_PREPEND_FIRST :
                  !strcmp(s, "never") ? TK_PREPEND_NEVER : TK_PREPEND_ALWAYS;
    return jbool(n, "add_prefix_space", 1) ? TK_PREPEND_ALWAYS : TK_PREPEND_NEVER;
}

static lc_status load_pre(tk_ld *ld, const json_t *n) {
    if (!n || json_is_null(n)) return LC_OK;
    const char *type = jstr(n, "type");
    if (!type) return lc_errorf(LC_ERR_FORMAT, "%s: pre_tokenizer without \"type\"", ld->file);
    if (!strcmp(type, "Sequence")) {
        const json_t *arr = json_object_get(n, "pretokenizers");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            lc_status st = load_pre(ld, json_array_get(arr, i));
            if (st) return st;
        }
        return LC_OK;
    }
    if (!strcmp(type, "ByteLevel")) {
        tk_pre p = {0};
        p.type = TK_PRE_BYTELEVEL;
        p.add_prefix_space = jbool(n, "add_prefix_space", 0);
        ld->t->byte_level = 1;
        if (jbool(n, "use_regex", 1)) {
            lc_status st = tk_regex_compile(&p.re, TK_RE_GPT2, strlen(TK_RE_GPT2), 0, "ByteLevel");
            if (st) return st;
        }
        return add_pre(ld, p);
    }
    if (!strcmp(type, "Split")) {
        const json_t *pat = json_object_get(n, "pattern");
        const char *rs = jstr(pat, "Regex"), *ls = jstr(pat, "String");
        int beh = parse_behavior(jstr(n, "behavior"));
        if ((!rs && !ls) || beh < 0)
            return lc_errorf(LC_ERR_FORMAT,
                             "%s: Split pre_tokenizer: expected pattern {Regex|String} and a "
                             "behavior (Removed, Isolated, MergedWithPrevious, MergedWithNext, "
                             "Contiguous)", ld->file);
        return split_pre(ld, rs ? rs : ls, !rs, beh, jbool(n, "invert", 0));
    }
    if (!strcmp(type, "Digits"))
        return split_pre(ld, jbool(n, "individual_digits", 0) ? "\\p{N}" : "\\p{N}+", 0,
                         TK_SPLIT_ISOLATED, 0);
    if (!strcmp(type, "Whitespace")) return split_pre(ld, "\\w+|[^\\w\\s]+", 0, TK_SPLIT_REMOVED, 1);
    if (!strcmp(type, "WhitespaceSplit")) return split_pre(ld, "\\s+", 0, TK_SPLIT_REMOVED, 0);
    if (!strcmp(type, "Metaspace")) {
        tk_pre p = {0};
        const char *r = jstr(n, "replacement");
        p.type = TK_PRE_METASPACE;
        snprintf(p.repl, sizeof p.repl, "%s", r ? r : "\xE2\x96\x81");
        p.prepend_scheme = parse_prepend_scheme(n);
        p.split = jbool(n, "split", 1);
        return add_pre(ld, p);
    }
    return lc_errorf(LC_ERR_UNSUPPORTED, "%s: pre_tokenizer type \"%s\" is not supported", ld->file,
                     type);
}

/* ---------------------------------------------------------------- decoder */

static lc_status add_dec(tk_ld *ld, tk_dec d) {
    lc_tokenizer *t = ld->t;
    tk_dec *v = realloc(t->decs, (size_t)(t->n_decs + 1) * sizeof *v);
    if (!v) return free(d.a), free(d.b), oom();
    t->decs = v;
    t->decs[t->n_decs++] = d;
    return LC_OK;
}

static lc_status load_decoder(tk_ld *ld, const json_t *n) {
    if (!n || json_is_null(n)) return LC_OK;
    ld->t->has_decoder = 1;
    const char *type = jstr(n, "type");
    if (!type) return lc_errorf(LC_ERR_FORMAT, "%s: decoder without \"type\"", ld->file);
    tk_dec d = {0};
    if (!strcmp(type, "Sequence")) {
        const json_t *arr = json_object_get(n, "decoders");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            lc_status st = load_decoder(ld, json_array_get(arr, i));
            if (st) return st;
        }
        return LC_OK;
    } else if (!strcmp(type, "ByteLevel")) {
        d.type = TK_DEC_BYTELEVEL;
    } else if (!strcmp(type, "ByteFallback")) {
        d.type = TK_DEC_BYTEFALLBACK;
    } else if (!strcmp(type, "Fuse")) {
        d.type = TK_DEC_FUSE;
    } else if (!strcmp(type, "Replace")) {
        const char *s = jstr(json_object_get(n, "pattern"), "String"), *c = jstr(n, "content");
        if (!s || !c)
            return lc_errorf(LC_ERR_UNSUPPORTED,
                             "%s: Replace decoder: only {\"String\": ...} patterns are supported",
                             ld->file);
        d.type = TK_DEC_REPLACE;
        d.na = strlen(s), d.nb = strlen(c);
        d.a = dupn(s, d.na), d.b = dupn(c, d.nb);
        if (!d.a || !d.b) return free(d.a), free(d.b), oom();
    } else if (!strcmp(type, "Strip")) {
        const char *c = jstr(n, "content");
        int adv;
        d.type = TK_DEC_STRIP;
        d.cp = c && *c ? tk_utf8_decode(c, &adv) : ' ';
        d.start = (int)json_integer_value(json_object_get(n, "start"));
        d.stop = (int)json_integer_value(json_object_get(n, "stop"));
    } else if (!strcmp(type, "Metaspace")) {
        const char *r = jstr(n, "replacement");
        d.type = TK_DEC_METASPACE;
        d.na = strlen(r ? r : "\xE2\x96\x81");
        if (!(d.a = dupn(r ? r : "\xE2\x96\x81", d.na))) return oom();
        d.prepend = parse_prepend_scheme(n) != TK_PREPEND_NEVER;
    } else {
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: decoder type \"%s\" is not supported", ld->file,
                         type);
    }
    return add_dec(ld, d);
}

/* ---------------------------------------------------------------- post-processor */

static lc_status push_ids(int32_t **v, int *n, const int32_t *ids, int k) {
    int32_t *p = realloc(*v, (size_t)(*n + k + 1) * sizeof *p);
    if (!p) return oom();
    memcpy(p + *n, ids, (size_t)k * sizeof *ids);
    *v = p;
    *n += k;
    return LC_OK;
}

static lc_status load_post(tk_ld *ld, const json_t *n) {
    lc_tokenizer *t = ld->t;
    if (!n || json_is_null(n)) return LC_OK;
    const char *type = jstr(n, "type");
    if (!type) return lc_errorf(LC_ERR_FORMAT, "%s: post_processor without \"type\"", ld->file);
    if (!strcmp(type, "ByteLevel")) return LC_OK; /* offsets only */
    if (!strcmp(type, "Sequence")) {
        const json_t *arr = json_object_get(n, "processors");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            lc_status st = load_post(ld, json_array_get(arr, i));
            if (st) return st;
        }
        return LC_OK;
    }
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        const json_t *cls = json_object_get(n, "cls"), *sep = json_object_get(n, "sep");
        if (!json_is_integer(json_array_get(cls, 1)) || !json_is_integer(json_array_get(sep, 1)))
            return lc_errorf(LC_ERR_FORMAT, "%s: %s: expected cls/sep as [token, id]", ld->file,
                             type);
        int32_t c = (int32_t)json_integer_value(json_array_get(cls, 1));
        int32_t s = (int32_t)json_integer_value(json_array_get(sep, 1));
        lc_status st = push_ids(&t->post_prefix, &t->n_post_prefix, &c, 1);
        return st ? st : push_ids(&t->post_suffix, &t->n_post_suffix, &s, 1);
    }
    if (!strcmp(type, "TemplateProcessing")) {
        const json_t *single = json_object_get(n, "single"), *specials = json_object_get(n, "special_tokens");
        int seen_seq = 0;
        for (size_t i = 0; i < json_array_size(single); i++) {
            const json_t *it = json_array_get(single, i);
            if (json_object_get(it, "Sequence")) {
                seen_seq = 1;
                continue;
            }
            const char *sid = jstr(json_object_get(it, "SpecialToken"), "id");
            const json_t *ids = json_object_get(json_object_get(specials, sid ? sid : ""), "ids");
            if (!sid || !json_is_array(ids))
                return lc_errorf(LC_ERR_FORMAT,
                                 "%s: TemplateProcessing.single[%zu]: special token \"%s\" has no "
                                 "ids in special_tokens", ld->file, i, sid ? sid : "?");
            for (size_t k = 0; k < json_array_size(ids); k++) {
                int32_t id = (int32_t)json_integer_value(json_array_get(ids, k));
                lc_status st = seen_seq ? push_ids(&t->post_suffix, &t->n_post_suffix, &id, 1)
                                        : push_ids(&t->post_prefix, &t->n_post_prefix, &id, 1);
                if (st) return st;
            }
        }
        return LC_OK;
    }
    return lc_errorf(LC_ERR_UNSUPPORTED, "%s: post_processor type \"%s\" is not supported",
                     ld->file, type);
}

/* ---------------------------------------------------------------- added tokens */

/* HF re-assigns added-token ids on load (AddedVocabulary::add_tokens): a
 * token already in the model vocab (or already added) keeps that id, a new
 * one gets the model's vocab size, or one past the largest added id if that
 * is already beyond it. The ids written in the JSON are not used. */
static lc_status load_added(tk_ld *ld, const json_t *arr) {
    lc_tokenizer *t = ld->t;
    size_t n = json_array_size(arr);
    if (!n) return LC_OK;
    t->added = calloc(n, sizeof *t->added);
    if (!t->added) return oom();
    int32_t vocab_size = (int32_t)t->bpe.map.n, max_id = -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(arr, i);
        const json_t *c = json_object_get(a, "content");
        if (!json_is_string(c))
            return lc_errorf(LC_ERR_FORMAT, "%s: added_tokens[%zu]: expected a \"content\" string",
                             ld->file, i);
        size_t len = json_string_length(c);
        const char *str = json_string_value(c);
        if (len == 0) continue;
        tk_added *d = NULL;
        for (int k = 0; k < t->n_added && !d; k++)
            if (t->added[k].len == len && !memcmp(t->added[k].content, str, len)) d = &t->added[k];
        if (!d) {
            d = &t->added[t->n_added];
            if (!(d->content = dupn(str, len))) return oom();
            d->len = len;
            t->n_added++;
            int32_t id = tk_strmap_get(&t->bpe.map, str, len);
            if (id < 0) id = max_id >= vocab_size ? max_id + 1 : vocab_size;
            d->id = id;
            if (id > max_id) max_id = id;
            if (id > (1 << 24))
                return lc_errorf(LC_ERR_FORMAT, "%s: added_tokens[%zu]: id %d out of range",
                                 ld->file, i, id);
        }
        d->special = jbool(a, "special", 0);
        d->lstrip = jbool(a, "lstrip", 0);
        d->rstrip = jbool(a, "rstrip", 0);
        d->single_word = jbool(a, "single_word", 0);
        d->normalized = jbool(a, "normalized", !d->special);
    }
    return LC_OK;
}

/* ---------------------------------------------------------------- configs */

/* Optional JSON file next to tokenizer.json: *out = NULL if absent; an error
 * if present but malformed. Integers are read as reals: tokenizer_config.json
 * files carry model_max_length values beyond int64. */
static lc_status load_json_opt(json_t **out, const char *dir, const char *name) {
    char *path;
    *out = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0) return oom();
    struct stat sb;
    lc_status st = LC_OK;
    if (stat(path, &sb) == 0) {
        json_error_t jerr;
        if (!(*out = json_load_file(path, JSON_DECODE_INT_AS_REAL, &jerr)))
            st = lc_errorf(LC_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", path, jerr.line,
                           jerr.column, jerr.text);
    }
    free(path);
    return st;
}

static const char *token_text(const json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v)) return jstr(v, "content");
    return NULL;
}

static int json_first_int(const json_t *v) {
    if (json_is_array(v)) v = json_array_get(v, 0);
    return json_is_number(v) ? (int)json_number_value(v) : -1;
}

static lc_status load_configs(lc_tokenizer *t, const char *dir) {
    json_t *tc = NULL, *cfg = NULL;
    lc_status st = load_json_opt(&tc, dir, "tokenizer_config.json");
    if (!st) st = load_json_opt(&cfg, dir, "config.json");
    if (st) goto done;
    t->bos_id = t->eos_id = -1;
    const char *bos = token_text(json_object_get(tc, "bos_token"));
    const char *eos = token_text(json_object_get(tc, "eos_token"));
    if (bos) t->bos_id = lc_tokenizer_token_id(t, bos);
    if (eos) t->eos_id = lc_tokenizer_token_id(t, eos);
    if (t->bos_id < 0) t->bos_id = json_first_int(json_object_get(cfg, "bos_token_id"));
    if (t->eos_id < 0) t->eos_id = json_first_int(json_object_get(cfg, "eos_token_id"));
    if (t->bos_id < 0 && t->n_post_prefix) t->bos_id = t->post_prefix[0];
    if (t->eos_id < 0 && t->n_post_suffix) t->eos_id = t->post_suffix[t->n_post_suffix - 1];
    const json_t *ct = json_object_get(tc, "chat_template");
    const char *tmpl = json_is_string(ct) ? json_string_value(ct) : NULL;
    for (size_t i = 0; !tmpl && i < json_array_size(ct); i++) { /* [{name, template}] */
        const json_t *e = json_array_get(ct, i);
        const char *name = jstr(e, "name");
        if (i == 0 || (name && !strcmp(name, "default"))) tmpl = jstr(e, "template");
    }
    if (tmpl) st = lc_tokenizer_set_chat_template(t, tmpl);
done:
    json_decref(tc);
    json_decref(cfg);
    return st;
}

/* ---------------------------------------------------------------- entry */

lc_status lc_tokenizer_load(lc_tokenizer **out, const char *path) {
    lc_status st;
    char *file = NULL, *dir = NULL;
    struct stat sb;
    json_t *root = NULL;
    lc_tokenizer *t = NULL;
    if (!out || !path) return lc_errorf(LC_ERR_ARG, "lc_tokenizer_load: NULL argument");
    *out = NULL;
    if (stat(path, &sb) != 0)
        return lc_errorf(LC_ERR_IO, "%s: cannot open tokenizer (no such file or directory)", path);
    if (S_ISDIR(sb.st_mode)) {
        dir = strdup(path);
        if (asprintf(&file, "%s/tokenizer.json", path) < 0) file = NULL;
    } else {
        file = strdup(path);
        const char *slash = strrchr(path, '/');
        dir = slash ? dupn(path, (size_t)(slash - path)) : strdup(".");
    }
    if (!file || !dir) {
        st = oom();
        goto fail;
    }
    FILE *f = fopen(file, "rb");
    if (!f) {
        st = lc_errorf(LC_ERR_IO, "%s: cannot open tokenizer.json", file);
        goto fail;
    }
    fclose(f);
    json_error_t jerr;
    root = json_load_file(file, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        st = lc_errorf(LC_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", file, jerr.line, jerr.column,
                       jerr.text);
        goto fail;
    }
    if (!json_is_object(root)) {
        st = lc_errorf(LC_ERR_FORMAT, "%s: expected a JSON object at the top level", file);
        goto fail;
    }
    if (!(t = calloc(1, sizeof *t))) {
        st = oom();
        goto fail;
    }
    tk_ld ld = {file, t};
    const json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) {
        st = lc_errorf(LC_ERR_FORMAT, "%s: missing \"model\" object", file);
        goto fail;
    }
    if ((st = load_model(&ld, model)) || (st = load_added(&ld, json_object_get(root, "added_tokens"))) ||
        (st = load_normalizer(&ld, json_object_get(root, "normalizer"))) ||
        (st = load_pre(&ld, json_object_get(root, "pre_tokenizer"))) ||
        (st = load_decoder(&ld, json_object_get(root, "decoder"))) ||
        (st = load_post(&ld, json_object_get(root, "post_processor"))))
        goto fail;
    if (!t->byte_level)
        for (int i = 0; i < t->n_decs; i++) t->byte_level |= t->decs[i].type == TK_DEC_BYTELEVEL;
    if ((st = tk_tokenizer_finish(t)) || (st = load_configs(t, dir))) goto fail;
    json_decref(root);
    free(file);
    free(dir);
    *out = t;
    return LC_OK;
fail:
    json_decref(root);
    lc_tokenizer_free(t);
    free(file);
    free(dir);
    return st;
}
