/*
 * tok_pipeline.c — encode and decode, following Hugging Face `tokenizers`:
 *   1. invalid UTF-8 is replaced by U+FFFD (maximal subparts, like Python's
 *      bytes.decode("utf-8", "replace")), since HF only accepts strings;
 *   2. added tokens with normalized=false are split out of the raw text
 *      (leftmost-longest; single_word/lstrip/rstrip as HF's AddedVocabulary);
 *   3. each remaining segment is normalized, then added tokens with
 *      normalized=true are split out of the normalized text;
 *   4. pre-tokenizers split each segment into pieces (regex Split with its
 *      behaviour, ByteLevel with its byte->unicode map, Metaspace);
 *   5. the BPE model turns each piece into ids (tok_bpe.c);
 *   6. with add_special the post-processor's prefix/suffix ids are added.
 * Decoding runs HF's decoder chain (ByteLevel, Replace, ByteFallback, Fuse,
 * Strip, Metaspace) over the token strings.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "tok_internal.h"

const char *const TK_RE_GPT2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char *const TK_RE_LLAMA3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char *const TK_RE_QWEN2 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

lc_status tk_regex_compile(pcre2_code **out, const char *pattern, size_t len, int literal,
                           const char *what) {
    int err;
    PCRE2_SIZE erroff;
    uint32_t opts = literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &err, &erroff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: regex /%.*s/ does not compile at offset %zu: %s",
                         what, (int)len, pattern, (size_t)erroff, (const char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* best effort; the interpreter is the fallback */
    *out = re;
    return LC_OK;
}

/* ---------------------------------------------------------------- pieces */

typedef struct {
    uint32_t off, len; /* in the arena */
    int first;         /* starts at offset 0 of the original text (Metaspace "first") */
} tk_piece;

typedef struct {
    tk_piece *p;
    int n, cap;
} tk_pvec;

static int pvec_push(tk_pvec *v, uint32_t off, uint32_t len, int first) {
    if (len == 0) return 0; /* HF drops empty splits */
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 64;
        tk_piece *p = realloc(v->p, (size_t)cap * sizeof *p);
        if (!p) return -1;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = (tk_piece){off, len, first};
    return 0;
}

typedef struct {
    uint32_t start, end;
    int match;
} tk_span;

typedef struct {
    tk_span *p;
    int n, cap;
} tk_spans;

static int spans_push(tk_spans *v, uint32_t s, uint32_t e, int match) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 64;
        tk_span *p = realloc(v->p, (size_t)cap * sizeof *p);
        if (!p) return -1;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = (tk_span){s, e, match};
    return 0;
}

/* Per-call scratch: arena for piece text, piece lists, match data. */
typedef struct {
    tk_buf arena;
    tk_pvec a, b;
    tk_spans spans;
    tk_buf norm;
    pcre2_match_data *md;
} tk_work;

/* All regex matches of re in s[0..n) as alternating gap/match spans. */
static lc_status regex_spans(pcre2_code *re, pcre2_match_data *md, const char *s, size_t n,
                             tk_spans *out) {
    out->n = 0;
    size_t pos = 0, prev = 0;
    while (pos <= n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md,
                             NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return lc_errorf(LC_ERR_UNSUPPORTED, "tokenizer: pre-tokenizer regex failed: %s",
                             (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t st = ov[0], en = ov[1];
        if (en == st) { /* empty match: step over one character */
            if (st >= n) break;
            pos = st + (size_t)tk_utf8_len((unsigned char)s[st]);
            continue;
        }
        if (st > prev && spans_push(out, (uint32_t)prev, (uint32_t)st, 0)) goto oom;
        if (spans_push(out, (uint32_t)st, (uint32_t)en, 1)) goto oom;
        prev = pos = en;
    }
    if (prev < n && spans_push(out, (uint32_t)prev, (uint32_t)n, 0)) goto oom;
    return LC_OK;
oom:
    return lc_errorf(LC_ERR_NOMEM, "tokenizer: out of memory");
}

/* HF NormalizedString::split: spans -> pieces according to the behaviour. */
static int apply_behavior(tk_spans *sp, int behavior, int invert, const tk_piece *pc,
                          tk_pvec *out) {
    uint32_t base = pc->off;
    int first_left = pc->first;
    int start_n = out->n;
    if (invert)
        for (int i = 0; i < sp->n; i++) sp->p[i].match = !sp->p[i].match;
    int prev_match = 0;
    if (behavior == TK_SPLIT_NEXT) { /* fold from the right */
        int kept = 0;
        for (int i = sp->n - 1; i >= 0; i--) {
            tk_span s = sp->p[i];
            if (s.match && !prev_match && kept > 0) {
                sp->p[kept - 1].start = s.start; /* merge into the following piece */
            } else {
                sp->p[kept++] = (tk_span){s.start, s.end, 0};
            }
            prev_match = s.match;
        }
        for (int i = kept - 1; i >= 0; i--)
            if (pvec_push(out, base + sp->p[i].start, sp->p[i].end - sp->p[i].start, 0)) return -1;
    } else {
        for (int i = 0; i < sp->n; i++) {
            tk_span s = sp->p[i];
            tk_piece *last = out->n > start_n ? &out->p[out->n - 1] : NULL;
            int extend = 0;
            if (behavior == TK_SPLIT_REMOVED && s.match) {
                prev_match = s.match;
                continue;
            }
            if (behavior == TK_SPLIT_CONTIG) extend = s.match == prev_match && last;
            if (behavior == TK_SPLIT_PREV) extend = s.match && !prev_match && last;
            if (extend) last->len = base + s.end - last->off;
            else if (pvec_push(out, base + s.start, s.end - s.start, 0)) return -1;
            prev_match = s.match;
        }
    }
    if (first_left && out->n > start_n && out->p[start_n].off == base) out->p[start_n].first = 1;
    return 0;
}

/* Append the byte-level mapping of arena[off..off+len) to the arena. */
static int bytelevel_map(tk_buf *A, uint32_t off, uint32_t len, uint32_t *new_off) {
    if (tk_buf_reserve(A, (size_t)len * 2 + 1)) return -1;
    const unsigned char *src = (const unsigned char *)A->p + off;
    char *dst = A->p + A->n;
    *new_off = (uint32_t)A->n;
    size_t k = 0;
    for (uint32_t i = 0; i < len; i++) {
        uint32_t cp = tk_byte_to_cp[src[i]];
        if (cp < 0x80) dst[k++] = (char)cp;
        else {
            dst[k++] = (char)(0xC0 | (cp >> 6));
            dst[k++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    A->n += k;
    return 0;
}

static lc_status run_pre(const tk_pre *p, tk_work *w, const tk_pvec *in, tk_pvec *out) {
    out->n = 0;
    for (int i = 0; i < in->n; i++) {
        tk_piece pc = in->p[i];
        if (p->type == TK_PRE_SPLIT) {
            lc_status st = regex_spans(p->re, w->md, w->arena.p + pc.off, pc.len, &w->spans);
            if (st) return st;
            if (apply_behavior(&w->spans, p->behavior, p->invert, &pc, out)) goto oom;
        } else if (p->type == TK_PRE_BYTELEVEL) {
            if (p->add_prefix_space && w->arena.p[pc.off] != ' ') {
                uint32_t off = (uint32_t)w->arena.n;
                if (tk_buf_reserve(&w->arena, pc.len + 2)) goto oom;
                w->arena.p[w->arena.n++] = ' ';
                memcpy(w->arena.p + w->arena.n, w->arena.p + pc.off, pc.len);
                w->arena.n += pc.len;
                pc.off = off, pc.len += 1;
            }
            int mark = out->n;
            if (p->re) {
                lc_status st = regex_spans(p->re, w->md, w->arena.p + pc.off, pc.len, &w->spans);
                if (st) return st;
                if (apply_behavior(&w->spans, TK_SPLIT_ISOLATED, 0, &pc, out)) goto oom;
            } else if (pvec_push(out, pc.off, pc.len, pc.first)) goto oom;
            for (int k = mark; k < out->n; k++) {
                uint32_t off, len = out->p[k].len;
                if (bytelevel_map(&w->arena, out->p[k].off, len, &off)) goto oom;
                out->p[k].off = off;
                out->p[k].len = (uint32_t)w->arena.n - off;
            }
        } else { /* METASPACE: ' ' -> replacement, optional prepend, optional split */
            size_t rl = strlen(p->repl);
            int prepend = 0;
            if (p->prepend_scheme == TK_PREPEND_ALWAYS ||
                (p->prepend_scheme == TK_PREPEND_FIRST && pc.first))
                prepend = !(pc.len >= rl && memcmp(w->arena.p + pc.off, p->repl, rl) == 0);
            if (tk_buf_reserve(&w->arena, (pc.len + 1) * rl + 1)) goto oom;
            uint32_t off = (uint32_t)w->arena.n;
            char *dst = w->arena.p + w->arena.n;
            const char *src = w->arena.p + pc.off;
            size_t k = 0;
            if (prepend) memcpy(dst, p->repl, rl), k += rl;
            for (uint32_t j = 0; j < pc.len; j++) {
                if (src[j] == ' ') memcpy(dst + k, p->repl, rl), k += rl;
                else dst[k++] = src[j];
            }
            w->arena.n += k;
            if (!p->split) {
                if (pvec_push(out, off, (uint32_t)k, pc.first)) goto oom;
                continue;
            }
            /* MergedWithNext on each replacement character */
            size_t s0 = 0;
            const char *base = w->arena.p + off;
            for (size_t j = 1; j + rl <= k; j++) {
                if (memcmp(base + j, p->repl, rl) == 0) {
                    if (pvec_push(out, off + (uint32_t)s0, (uint32_t)(j - s0), pc.first && s0 == 0))
                        goto oom;
                    s0 = j;
                }
            }
            if (pvec_push(out, off + (uint32_t)s0, (uint32_t)(k - s0), pc.first && s0 == 0))
                goto oom;
        }
    }
    return LC_OK;
oom:
    return lc_errorf(LC_ERR_NOMEM, "tokenizer: out of memory");
}

/* ---------------------------------------------------------------- normalizers */

/* HF's NFC, NFD, NFKC and NFKD normalizers as utf8proc options (0: another
 * name). UTF8PROC_STABLE keeps to the Unicode stability policy, as Python's
 * unicodedata and HF's unicode-normalization crate do. */
int tk_unicode_form(const char *name) {
    if (!strcmp(name, "NFC")) return UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    if (!strcmp(name, "NFD")) return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
    if (!strcmp(name, "NFKC")) return UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    if (!strcmp(name, "NFKD")) return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
    return 0;
}

/* Unicode normalization of valid UTF-8 (invalid bytes were replaced by U+FFFD
 * before normalizers run) into dst. */
static lc_status unicode_normalize(const tk_buf *src, int form, tk_buf *dst) {
    if (src->n == 0) return LC_OK;
    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)src->p, (utf8proc_ssize_t)src->n, &mapped,
                                      (utf8proc_option_t)form);
    if (n < 0) {
        return lc_errorf(n == UTF8PROC_ERROR_NOMEM ? LC_ERR_NOMEM : LC_ERR_FORMAT,
                         "tokenizer: Unicode normalization failed: %s", utf8proc_errmsg(n));
    }
    int bad = tk_buf_put(dst, (const char *)mapped, (size_t)n);
    free(mapped);
    return bad ? lc_errorf(LC_ERR_NOMEM, "tokenizer: out of memory") : LC_OK;
}

static lc_status normalize(const lc_tokenizer *t, const char *s, size_t n, tk_buf *out) {
    tk_buf tmp = {0};
    out->n = 0;
    if (tk_buf_put(out, s, n)) goto oom;
    for (int k = 0; k < t->n_norms; k++) {
        const tk_norm *nm = &t->norms[k];
        tmp.n = 0;
        if (nm->type == TK_NORM_PREPEND) {
            if (out->n == 0) continue;
            if (tk_buf_put(&tmp, nm->a, nm->na) || tk_buf_put(&tmp, out->p, out->n)) goto oom;
        } else if (nm->type == TK_NORM_REPLACE) {
            for (size_t i = 0; i < out->n;) {
                if (nm->na && i + nm->na <= out->n && memcmp(out->p + i, nm->a, nm->na) == 0) {
                    if (tk_buf_put(&tmp, nm->b, nm->nb)) goto oom;
                    i += nm->na;
                } else {
                    if (tk_buf_put(&tmp, out->p + i, 1)) goto oom;
                    i++;
                }
            }
        } else if (nm->type == TK_NORM_LOWERCASE) {
            for (size_t i = 0; i < out->n; i++)
                if (out->p[i] >= 'A' && out->p[i] <= 'Z') out->p[i] += 'a' - 'A';
            continue;
        } else if (nm->type == TK_NORM_STRIP) {
            size_t a = 0, b = out->n;
            while (nm->left && a < b) {
                int adv;
                if (!tk_is_space_cp(tk_utf8_decode(out->p + a, &adv))) break;
                a += (size_t)adv;
            }
            while (nm->right && b > a) {
                size_t c = b - 1;
                while (c > a && ((unsigned char)out->p[c] & 0xC0) == 0x80) c--;
                int adv;
                if (!tk_is_space_cp(tk_utf8_decode(out->p + c, &adv))) break;
                b = c;
            }
            if (tk_buf_put(&tmp, out->p + a, b - a)) goto oom;
        } else { /* UNICODE */
            lc_status st = unicode_normalize(out, nm->form, &tmp);
            if (st) {
                tk_buf_free(&tmp);
                return st;
            }
        }
        tk_buf t2 = *out;
        *out = tmp;
        tmp = t2;
    }
    tk_buf_free(&tmp);
    return LC_OK;
oom:
    tk_buf_free(&tmp);
    return lc_errorf(LC_ERR_NOMEM, "tokenizer: out of memory");
}

/* ---------------------------------------------------------------- added tokens */

static uint32_t last_cp(const char *s, size_t n) {
    if (!n) return 0;
    size_t c = n - 1;
    while (c > 0 && ((unsigned char)s[c] & 0xC0) == 0x80) c--;
    int adv;
    return tk_utf8_decode(s + c, &adv);
}

/* The longest added token (with the given `normalized` flag; the lowest
 * index among equal texts) that s[0..n) starts with, or NULL. */
static const tk_added *longest_added_at(const lc_tokenizer *t, const char *s, size_t n, int normalized) {
    const uint32_t *lens = t->added_lens_by_byte[(unsigned char)s[0]];
    if (lens) {
        for (; *lens; lens++) {
            if (*lens > n) continue;
            int32_t k = tk_strmap_get(&t->added_map[normalized], s, *lens);
            if (k >= 0) return &t->added[k];
        }
        return NULL;
    }
    for (const int32_t *cand = t->added_by_byte[(unsigned char)s[0]]; cand && *cand >= 0; cand++) {
        const tk_added *c = &t->added[*cand];
        if (c->normalized == normalized && c->mlen <= n && memcmp(s, c->mcontent, c->mlen) == 0) return c;
    }
    return NULL;
}

/* Find added tokens (with the given `normalized` flag) in s[0..n) as HF's
 * AddedVocabulary::find_matches does; fills spans with match = id + 1 for
 * tokens and 0 for text between them. */
static int added_spans(const lc_tokenizer *t, const char *s, size_t n, int normalized,
                       tk_spans *out) {
    out->n = 0;
    size_t start_offset = 0;
    for (size_t i = 0; i < n;) {
        const tk_added *a = longest_added_at(t, s + i, n - i, normalized);
        if (!a) {
            i++;
            continue;
        }
        size_t start = i, stop = i + a->mlen;
        i = stop; /* the next search starts after this match, used or not */
        if (a->single_word) {
            int adv;
            int start_space = start == 0 || !tk_is_alnum_cp(last_cp(s, start));
            int stop_space = stop == n || !tk_is_alnum_cp(tk_utf8_decode(s + stop, &adv));
            if (!start_space || !stop_space) continue;
        }
        if (a->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                size_t c = ns - 1;
                while (c > 0 && ((unsigned char)s[c] & 0xC0) == 0x80) c--;
                int adv;
                if (!tk_is_space_cp(tk_utf8_decode(s + c, &adv))) break;
                ns = c;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (a->rstrip) {
            while (stop < n) {
                int adv;
                if (!tk_is_space_cp(tk_utf8_decode(s + stop, &adv))) break;
                stop += (size_t)adv;
            }
        }
        if (start < start_offset) start = start_offset;
        if (start_offset < start && spans_push(out, (uint32_t)start_offset, (uint32_t)start, 0))
            return -1;
        if (spans_push(out, (uint32_t)start, (uint32_t)stop, a->id + 1)) return -1;
        start_offset = stop;
    }
    if (start_offset < n && spans_push(out, (uint32_t)start_offset, (uint32_t)n, 0)) return -1;
    return 0;
}

/* ---------------------------------------------------------------- encode */

/* Pre-tokenize and model one segment of normalized text. */
static lc_status encode_segment(const lc_tokenizer *t, tk_work *w, const char *s, size_t n,
                                int first, tk_ivec *ids) {
    w->arena.n = 0;
    if (tk_buf_put(&w->arena, s, n)) goto oom;
    w->a.n = 0;
    if (pvec_push(&w->a, 0, (uint32_t)n, first)) goto oom;
    tk_pvec *cur = &w->a, *nxt = &w->b;
    for (int k = 0; k < t->n_pres; k++) {
        lc_status st = run_pre(&t->pres[k], w, cur, nxt);
        if (st) return st;
        tk_pvec *x = cur;
        cur = nxt, nxt = x;
    }
    tk_bpe *bpe = (tk_bpe *)&t->bpe; /* only its internally locked cache changes */
    for (int i = 0; i < cur->n; i++)
        if (tk_bpe_encode_piece(bpe, w->arena.p + cur->p[i].off, cur->p[i].len, ids)) goto oom;
    return LC_OK;
oom:
    return lc_errorf(LC_ERR_NOMEM, "tokenizer: out of memory");
}

lc_status lc_tokenizer_encode(const lc_tokenizer *t, const char *text, size_t len,
                              int add_special, int32_t **ids_out, int *n_out) {
    lc_status st = LC_OK;
    char *clean = NULL;
    size_t clean_n;
    tk_work w = {0};
    tk_spans outer = {0}, inner = {0};
    tk_ivec ids = {0};
    if (!t || (!text && len) || !ids_out || !n_out)
        return lc_errorf(LC_ERR_ARG, "lc_tokenizer_encode: NULL argument");
    *ids_out = NULL;
    *n_out = 0;
    int rc = text ? tk_utf8_lossy(text, len, &clean, &clean_n) : 0;
    if (rc < 0) goto oom;
    if (rc == 1) text = clean, len = clean_n;
    if (!(w.md = pcre2_match_data_create(1, NULL))) goto oom;
    if (add_special && tk_ivec_put(&ids, t->post_prefix, t->n_post_prefix)) goto oom;
    if (added_spans(t, text ? text : "", len, 0, &outer)) goto oom;
    int norm_added = t->has_norm_added;
    for (int i = 0; i < outer.n; i++) {
        tk_span sp = outer.p[i];
        if (sp.match) {
            if (tk_ivec_push(&ids, sp.match - 1)) goto oom;
            continue;
        }
        const char *seg = text + sp.start;
        size_t seg_n = sp.end - sp.start;
        if (t->n_norms) {
            if ((st = normalize(t, seg, seg_n, &w.norm))) goto fail;
            seg = w.norm.p, seg_n = w.norm.n;
        }
        if (!norm_added) {
            if ((st = encode_segment(t, &w, seg, seg_n, sp.start == 0, &ids))) goto fail;
            continue;
        }
        /* copy: w.norm is reused by nothing below, but keep segment text stable */
        char *copy = malloc(seg_n + 1);
        if (!copy) goto oom;
        memcpy(copy, seg, seg_n);
        if (added_spans(t, copy, seg_n, 1, &inner)) {
            free(copy);
            goto oom;
        }
        for (int j = 0; j < inner.n && !st; j++) {
            tk_span q = inner.p[j];
            if (q.match) {
                if (tk_ivec_push(&ids, q.match - 1)) st = lc_errorf(LC_ERR_NOMEM, "out of memory");
            } else {
                st = encode_segment(t, &w, copy + q.start, q.end - q.start,
                                    sp.start == 0 && q.start == 0, &ids);
            }
        }
        free(copy);
        if (st) goto fail;
    }
    if (add_special && tk_ivec_put(&ids, t->post_suffix, t->n_post_suffix)) goto oom;
    *ids_out = ids.p ? ids.p : malloc(sizeof(int32_t));
    if (!*ids_out) goto oom;
    *n_out = ids.n;
    ids.p = NULL;
    goto done;
oom:
    st = lc_errorf(LC_ERR_NOMEM, "tokenizer: out of memory while encoding %zu bytes", len);
fail:
    free(ids.p);
done:
    free(clean);
    free(outer.p);
    free(inner.p);
    free(w.spans.p);
    free(w.a.p);
    free(w.b.p);
    tk_buf_free(&w.arena);
    tk_buf_free(&w.norm);
    if (w.md) pcre2_match_data_free(w.md);
    return st;
}

/* ---------------------------------------------------------------- decode */

/* A list of strings stored back to back in one buffer. */
typedef struct {
    tk_buf b;
    tk_spans s; /* start/end into b; match unused */
} tk_strs;

static int strs_add(tk_strs *l, const char *p, size_t n) {
    uint32_t st = (uint32_t)l->b.n;
    if (tk_buf_put(&l->b, p, n)) return -1;
    return spans_push(&l->s, st, (uint32_t)l->b.n, 0);
}

static void strs_free(tk_strs *l) {
    tk_buf_free(&l->b);
    free(l->s.p);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int flush_bytes(tk_strs *out, tk_buf *bytes) {
    if (!bytes->n) return 0;
    char *fixed;
    size_t fn;
    int rc = tk_utf8_lossy(bytes->p, bytes->n, &fixed, &fn);
    if (rc < 0) return -1;
    if (rc == 0) rc = strs_add(out, bytes->p, bytes->n);
    else {
        free(fixed);
        rc = 0;
        for (size_t k = 0; k < bytes->n && !rc; k++) rc = strs_add(out, "\xEF\xBF\xBD", 3);
    }
    bytes->n = 0;
    return rc;
}

static int run_decoder(const tk_dec *d, const tk_strs *in, tk_strs *out) {
    tk_buf acc = {0};
    int rc = 0;
    out->b.n = 0;
    out->s.n = 0;
    for (int i = 0; i < in->s.n && !rc; i++) {
        const char *p = in->b.p + in->s.p[i].start;
        size_t n = in->s.p[i].end - in->s.p[i].start;
        if (d->type == TK_DEC_BYTELEVEL) {
            size_t mark = acc.n;
            int ok = 1;
            for (size_t k = 0; k < n && ok;) {
                int adv;
                int b = tk_cp_to_byte(tk_utf8_decode(p + k, &adv));
                if (b < 0) ok = 0;
                else {
                    char c = (char)b;
                    rc |= tk_buf_put(&acc, &c, 1);
                }
                k += (size_t)adv;
            }
            if (!ok) acc.n = mark, rc |= tk_buf_put(&acc, p, n);
        } else if (d->type == TK_DEC_REPLACE || d->type == TK_DEC_METASPACE) {
            size_t mark = acc.n;
            for (size_t k = 0; k < n;) {
                if (d->na && k + d->na <= n && memcmp(p + k, d->a, d->na) == 0) {
                    if (d->type == TK_DEC_REPLACE) rc |= tk_buf_put(&acc, d->b, d->nb);
                    else if (!(i == 0 && d->prepend)) rc |= tk_buf_put(&acc, " ", 1);
                    k += d->na;
                } else {
                    rc |= tk_buf_put(&acc, p + k, 1);
                    k++;
                }
            }
            rc |= strs_add(out, acc.p + mark, acc.n - mark);
            acc.n = 0;
        } else if (d->type == TK_DEC_BYTEFALLBACK) {
            int h1, h2;
            if (n == 6 && memcmp(p, "<0x", 3) == 0 && p[5] == '>' && (h1 = hexval(p[3])) >= 0 &&
                (h2 = hexval(p[4])) >= 0) {
                char c = (char)(h1 * 16 + h2);
                rc |= tk_buf_put(&acc, &c, 1);
            } else {
                rc |= flush_bytes(out, &acc);
                rc |= strs_add(out, p, n);
            }
        } else if (d->type == TK_DEC_FUSE) {
            rc |= tk_buf_put(&acc, p, n);
        } else { /* STRIP */
            size_t a = 0, b = n;
            for (int k = 0; k < d->start && a < b; k++) {
                int adv;
                if (tk_utf8_decode(p + a, &adv) != d->cp) break;
                a += (size_t)adv;
            }
            for (int k = 0; k < d->stop && b > a; k++) {
                size_t c = b - 1;
                while (c > a && ((unsigned char)p[c] & 0xC0) == 0x80) c--;
                int adv;
                if (tk_utf8_decode(p + c, &adv) != d->cp) break;
                b = c;
            }
            rc |= strs_add(out, p + a, b - a);
        }
    }
    if (!rc && d->type == TK_DEC_BYTELEVEL) {
        char *fixed;
        size_t fn;
        int r = tk_utf8_lossy(acc.p ? acc.p : "", acc.n, &fixed, &fn);
        if (r < 0) rc = -1;
        else if (r == 0) rc = strs_add(out, acc.p ? acc.p : "", acc.n);
        else rc = strs_add(out, fixed, fn), free(fixed);
    } else if (!rc && d->type == TK_DEC_BYTEFALLBACK) {
        rc = flush_bytes(out, &acc);
    } else if (!rc && d->type == TK_DEC_FUSE) {
        rc = strs_add(out, acc.p ? acc.p : "", acc.n);
    }
    tk_buf_free(&acc);
    return rc;
}

char *lc_tokenizer_decode(const lc_tokenizer *t, const int32_t *ids, int n, int skip_special) {
    return lc_tokenizer_decode_len(t, ids, n, skip_special, NULL);
}

char *lc_tokenizer_decode_len(const lc_tokenizer *t, const int32_t *ids, int n, int skip_special,
                              size_t *len) {
    size_t out_len = 0;
    tk_strs a = {0}, b = {0};
    char *res = NULL;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids || !t->id_text[id]) continue;
        if (skip_special && t->id_special[id]) continue;
        if (!t->has_decoder && a.s.n) rc |= tk_buf_put(&a.b, " ", 1);
        rc |= strs_add(&a, t->id_text[id], t->id_text_len[id]);
    }
    if (t->has_decoder) {
        tk_strs *cur = &a, *nxt = &b;
        for (int k = 0; k < t->n_decs && !rc; k++) {
            rc = run_decoder(&t->decs[k], cur, nxt);
            tk_strs *x = cur;
            cur = nxt, nxt = x;
        }
        tk_buf joined = {0};
        for (int i = 0; i < cur->s.n && !rc; i++)
            rc = tk_buf_put(&joined, cur->b.p + cur->s.p[i].start,
                            cur->s.p[i].end - cur->s.p[i].start);
        if (!rc) rc = tk_buf_put(&joined, "", 0);
        out_len = joined.n;
        res = rc ? NULL : joined.p;
        if (rc) tk_buf_free(&joined);
    } else if (!rc) {
        rc = tk_buf_put(&a.b, "", 0);
        out_len = a.b.n;
        if (!rc) res = a.b.p, a.b.p = NULL;
    }
    strs_free(&a);
    strs_free(&b);
    if (len) *len = res ? out_len : 0;
    return res;
}

char *lc_tokenizer_decode_token(const lc_tokenizer *t, int32_t id) {
    return lc_tokenizer_decode(t, &id, 1, 0);
}

/* ---------------------------------------------------------------- small accessors */

int lc_tokenizer_vocab_size(const lc_tokenizer *t) { return t->n_ids; }
int lc_tokenizer_bos_id(const lc_tokenizer *t) { return t->bos_id; }
int lc_tokenizer_eos_id(const lc_tokenizer *t) { return t->eos_id; }
const char *lc_tokenizer_kind(const lc_tokenizer *t) {
    return t->byte_level ? "byte-level BPE" : "SentencePiece BPE";
}
const char *lc_tokenizer_chat_template(const lc_tokenizer *t) { return t->chat_template; }

int lc_tokenizer_token_id(const lc_tokenizer *t, const char *token) {
    size_t n = strlen(token);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && memcmp(t->added[i].content, token, n) == 0)
            return t->added[i].id;
    return tk_strmap_get(&t->bpe.map, token, n);
}

lc_status lc_tokenizer_set_chat_template(lc_tokenizer *t, const char *tmpl) {
    char *c = NULL;
    if (tmpl && !(c = strdup(tmpl))) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    free(t->chat_template);
    t->chat_template = c;
    return LC_OK;
}

/* ---------------------------------------------------------------- construction */

static int cmp_added_len(const void *x, const void *y, void *ctx) {
    const tk_added *a = ctx;
    size_t lx = a[*(const int32_t *)x].mlen, ly = a[*(const int32_t *)y].mlen;
    return lx < ly ? 1 : lx > ly ? -1 : (*(const int32_t *)x - *(const int32_t *)y);
}

/* First bytes with more added tokens than this are matched by hashing. */
#define ADDED_HASH_MIN 32

/* Index the added tokens for matching (leftmost-longest): per first byte a
 * list longest first, or, for bytes with many tokens, their distinct lengths
 * and a hash map per `normalized` flag. 0 ok, -1 out of memory. */
static int index_added(lc_tokenizer *t) {
    int count[256] = {0};
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].mlen) count[(unsigned char)t->added[i].mcontent[0]]++;
    t->added_mkey = malloc(((size_t)t->n_added + 1) * sizeof *t->added_mkey);
    t->added_mlen = malloc(((size_t)t->n_added + 1) * sizeof *t->added_mlen);
    if (!t->added_mkey || !t->added_mlen) return -1;
    for (int i = 0; i < t->n_added; i++) {
        t->added_mkey[i] = t->added[i].mcontent, t->added_mlen[i] = (uint32_t)t->added[i].mlen;
        t->has_norm_added |= t->added[i].normalized;
    }
    for (int f = 0; f < 2; f++) {
        if (tk_strmap_init(&t->added_map[f], (uint32_t)t->n_added, t->added_mkey, t->added_mlen)) return -1;
        for (int i = t->n_added - 1; i >= 0; i--) /* the lowest index wins among equal texts */
            if (t->added[i].mlen && t->added[i].normalized == f) tk_strmap_put(&t->added_map[f], i);
    }
    for (int c = 0; c < 256; c++) {
        if (!count[c]) continue;
        int32_t *v = malloc((size_t)(count[c] + 1) * sizeof *v);
        if (!v) return -1;
        int k = 0;
        for (int i = 0; i < t->n_added; i++)
            if (t->added[i].mlen && (unsigned char)t->added[i].mcontent[0] == c) v[k++] = i;
        v[k] = -1;
        qsort_r(v, (size_t)k, sizeof *v, cmp_added_len, t->added);
        t->added_by_byte[c] = v;
        if (k <= ADDED_HASH_MIN) continue;
        uint32_t *lens = malloc(((size_t)k + 1) * sizeof *lens);
        if (!lens) return -1;
        int nl = 0;
        for (int j = 0; j < k; j++) /* v is sorted longest first */
            if (!nl || lens[nl - 1] != t->added[v[j]].mlen) lens[nl++] = (uint32_t)t->added[v[j]].mlen;
        lens[nl] = 0;
        t->added_lens_by_byte[c] = lens;
    }
    return 0;
}

lc_status tk_tokenizer_finish(lc_tokenizer *t) {
    tk_bytelevel_init();
    if (tk_bpe_finish(&t->bpe)) goto oom;
    /* normalized added tokens are matched in their normalized form */
    for (int i = 0; i < t->n_added; i++) {
        tk_added *a = &t->added[i];
        if (a->normalized && t->n_norms) {
            tk_buf nb = {0};
            lc_status st = normalize(t, a->content, a->len, &nb);
            if (st) {
                tk_buf_free(&nb);
                return st;
            }
            a->mcontent = nb.p ? nb.p : strdup("");
            a->mlen = nb.n;
        } else {
            a->mcontent = strdup(a->content);
            a->mlen = a->len;
        }
        if (!a->mcontent) goto oom;
    }
    if (index_added(t)) goto oom;
    /* id -> text for decoding: added tokens take precedence over the model */
    int n_ids = t->bpe.n_vocab;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id + 1 > n_ids) n_ids = t->added[i].id + 1;
    t->n_ids = n_ids;
    t->id_text = calloc((size_t)n_ids, sizeof *t->id_text);
    t->id_text_len = calloc((size_t)n_ids, sizeof *t->id_text_len);
    t->id_special = calloc((size_t)n_ids, 1);
    if (!t->id_text || !t->id_text_len || !t->id_special) goto oom;
    for (int i = 0; i < t->bpe.n_vocab; i++) {
        t->id_text[i] = t->bpe.tok[i];
        t->id_text_len[i] = t->bpe.tok_len[i];
    }
    for (int i = 0; i < t->n_added; i++) { /* HF decodes normalized ones in normalized form */
        const tk_added *a = &t->added[i];
        t->id_text[a->id] = a->mcontent;
        t->id_text_len[a->id] = (uint32_t)a->mlen;
        t->id_special[a->id] = (uint8_t)a->special;
    }
    return LC_OK;
oom:
    return lc_errorf(LC_ERR_NOMEM, "tokenizer: out of memory");
}

/* Drop the added-token index (index_added builds it again). */
static void unindex_added(lc_tokenizer *t) {
    for (int c = 0; c < 256; c++) {
        free(t->added_by_byte[c]), free(t->added_lens_by_byte[c]);
        t->added_by_byte[c] = NULL, t->added_lens_by_byte[c] = NULL;
    }
    tk_strmap_free(&t->added_map[0]);
    tk_strmap_free(&t->added_map[1]);
    free(t->added_mkey), free(t->added_mlen);
    t->added_mkey = NULL, t->added_mlen = NULL;
}

/* id_text / id_text_len / id_special grown to n_ids + n; the new ids are
 * added[n_added - n ..]. 0 ok, -1 out of memory. */
static int grow_id_text(lc_tokenizer *t, int n) {
    int old = t->n_ids, total = old + n;
    char **txt = realloc(t->id_text, (size_t)total * sizeof *txt);
    if (txt) t->id_text = txt;
    uint32_t *len = realloc(t->id_text_len, (size_t)total * sizeof *len);
    if (len) t->id_text_len = len;
    uint8_t *sp = realloc(t->id_special, (size_t)total);
    if (sp) t->id_special = sp;
    if (!txt || !len || !sp) return -1;
    for (int k = 0; k < n; k++) {
        const tk_added *a = &t->added[t->n_added - n + k];
        txt[a->id] = a->mcontent, len[a->id] = (uint32_t)a->mlen, sp[a->id] = 1;
    }
    t->n_ids = total;
    return 0;
}

lc_status lc_tokenizer_add_special(lc_tokenizer *t, const char *const *tokens, int n) {
    for (int i = 0; i < n; i++) {
        int id = tokens[i][0] ? lc_tokenizer_token_id(t, tokens[i]) : -1;
        if (!tokens[i][0]) return lc_errorf(LC_ERR_ARG, "add_tokens: entry %d is empty", i);
        if (id >= 0)
            return lc_errorf(LC_ERR_ARG, "add_tokens: \"%s\" is already in the vocabulary (id %d)", tokens[i], id);
        for (int j = 0; j < i; j++)
            if (!strcmp(tokens[i], tokens[j]))
                return lc_errorf(LC_ERR_ARG, "add_tokens: \"%s\" is listed twice", tokens[i]);
    }
    tk_added *na = realloc(t->added, ((size_t)t->n_added + (size_t)n) * sizeof *na);
    if (!na) return lc_errorf(LC_ERR_NOMEM, "tokenizer: out of memory");
    t->added = na;
    unindex_added(t);
    for (int k = 0; k < n; k++) {
        tk_added *a = &t->added[t->n_added];
        memset(a, 0, sizeof *a);
        a->len = a->mlen = strlen(tokens[k]);
        a->content = strdup(tokens[k]);
        a->mcontent = strdup(tokens[k]);
        if (!a->content || !a->mcontent)
            return free(a->content), free(a->mcontent), lc_errorf(LC_ERR_NOMEM, "tokenizer: out of memory");
        a->id = t->n_ids + k;
        a->special = 1; /* HF AddedToken(special=True, normalized=False, lstrip=rstrip=single_word=False) */
        t->n_added++;
    }
    if (index_added(t) || grow_id_text(t, n)) return lc_errorf(LC_ERR_NOMEM, "tokenizer: out of memory");
    return LC_OK;
}

void lc_tokenizer_free(lc_tokenizer *t) {
    if (!t) return;
    tk_bpe_free(&t->bpe);
    for (int i = 0; i < t->n_norms; i++) free(t->norms[i].a), free(t->norms[i].b);
    free(t->norms);
    for (int i = 0; i < t->n_pres; i++)
        if (t->pres[i].re) pcre2_code_free(t->pres[i].re);
    free(t->pres);
    for (int i = 0; i < t->n_decs; i++) free(t->decs[i].a), free(t->decs[i].b);
    free(t->decs);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content), free(t->added[i].mcontent);
    free(t->added);
    for (int c = 0; c < 256; c++) free(t->added_by_byte[c]), free(t->added_lens_by_byte[c]);
    tk_strmap_free(&t->added_map[0]);
    tk_strmap_free(&t->added_map[1]);
    free(t->added_mkey);
    free(t->added_mlen);
    free(t->id_text);
    free(t->id_text_len);
    free(t->id_special);
    free(t->post_prefix);
    free(t->post_suffix);
    free(t->chat_template);
    free(t);
}
