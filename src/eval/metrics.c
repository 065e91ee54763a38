/*
 * metrics.c — exact match, token F1, ROUGE-L, corpus BLEU and label accuracy
 * (lc_metrics.h), reproducing SQuAD's evaluate script, rouge-score and
 * sacreBLEU. Text is decoded to code points; words are kept as UTF-8 strings
 * in one buffer (wordlist) and interned to integer ids where they must be
 * compared many times (LCS, n-grams).
 */
#include "lc_metrics.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "unicode_tables.inc"

/* ------------------------------------------------------------- code points */

static int in_ranges(uint32_t cp, const void *tab, int n) {
    const uint32_t *r = tab; /* pairs {lo, hi} */
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < r[2 * mid]) hi = mid - 1;
        else if (cp > r[2 * mid + 1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

static int is_alnum(uint32_t cp) {
    if (cp < 128) return isalnum((int)cp) != 0;
    return in_ranges(cp, ALNUM_RANGES, (int)(sizeof ALNUM_RANGES / sizeof ALNUM_RANGES[0]));
}

static int is_space(uint32_t cp) {
    return in_ranges(cp, SPACE_RANGES, (int)(sizeof SPACE_RANGES / sizeof SPACE_RANGES[0]));
}

/* str.lower() of one code point into out[2]; returns how many. */
static int lower_cp(uint32_t cp, uint32_t out[2]) {
    if (cp < 128) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    if (cp == 0x130) { /* LATIN CAPITAL LETTER I WITH DOT ABOVE -> i + COMBINING DOT ABOVE */
        out[0] = 'i';
        out[1] = 0x307;
        return 2;
    }
    int lo = 0, hi = (int)(sizeof LOWER_RUNS / sizeof LOWER_RUNS[0]) - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < LOWER_RUNS[mid].first) hi = mid - 1;
        else if (cp > LOWER_RUNS[mid].last) lo = mid + 1;
        else {
            uint32_t s = LOWER_RUNS[mid].stride;
            out[0] = (s == 0 || (cp - LOWER_RUNS[mid].first) % s == 0) ? (uint32_t)((int32_t)cp + LOWER_RUNS[mid].delta)
                                                                      : cp;
            return 1;
        }
    }
    out[0] = cp;
    return 1;
}

/* Decode UTF-8 (invalid bytes -> U+FFFD each) into a malloc'd array. */
static uint32_t *utf8_decode(const char *s, size_t *n_out) {
    size_t len = strlen(s), n = 0;
    uint32_t *cp = malloc((len + 1) * sizeof *cp);
    if (!cp) return NULL;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        int k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
        uint32_t v = k == 0 ? c : k == 1 ? (c & 0x1F) : k == 2 ? (c & 0x0F) : (c & 0x07);
        int ok = k >= 0 && p + k < end;
        for (int i = 1; ok && i <= k; i++) {
            if ((p[i] & 0xC0) != 0x80) ok = 0;
            else v = (v << 6) | (p[i] & 0x3F);
        }
        if (ok && k > 0) { /* overlong, surrogate or out of range */
            static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
            if (v < min[k] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) ok = 0;
        }
        if (ok) {
            cp[n++] = v;
            p += k + 1;
        } else {
            cp[n++] = 0xFFFD;
            p += 1;
        }
    }
    *n_out = n;
    return cp;
}

static size_t utf8_put(char *o, uint32_t c) {
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

static int is_cased(uint32_t cp) { /* cased and not case-ignorable */
    return in_ranges(cp, CASED_RANGES, (int)(sizeof CASED_RANGES / sizeof CASED_RANGES[0]));
}
static int is_case_ignorable(uint32_t cp) {
    return in_ranges(cp, CASE_IGNORABLE_RANGES, (int)(sizeof CASE_IGNORABLE_RANGES / sizeof CASE_IGNORABLE_RANGES[0]));
}

/* Python's final-sigma rule for cp[i] == U+03A3: a cased letter before it and
 * none after it (case-ignorable ones skipped both ways) gives U+03C2. */
static uint32_t lower_sigma(const uint32_t *cp, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && is_case_ignorable(cp[j - 1])) j--;
    if (j == 0 || !is_cased(cp[j - 1])) return 0x3C3;
    j = i + 1;
    while (j < n && is_case_ignorable(cp[j])) j++;
    return (j == n || !is_cased(cp[j])) ? 0x3C2 : 0x3C3;
}

/* str.lower() of code points: malloc'd, *n updated (U+0130 grows by one). */
static uint32_t *lower_all(const uint32_t *cp, size_t *n) {
    uint32_t *out = malloc((2 * *n + 1) * sizeof *out);
    if (!out) return NULL;
    size_t m = 0;
    for (size_t i = 0; i < *n; i++) {
        if (cp[i] == 0x3A3) out[m++] = lower_sigma(cp, *n, i);
        else m += (size_t)lower_cp(cp[i], out + m);
    }
    *n = m;
    return out;
}

/* ----------------------------------------------------------------- words */

/* Words as NUL-terminated UTF-8 strings in one buffer. */
typedef struct {
    char *buf;   /* all words, each followed by NUL */
    int *off;    /* (n) start of word i in buf */
    int n;
    int32_t *id; /* (n) interned ids, filled by intern() */
} wordlist;

static void words_free(wordlist *w) {
    free(w->buf);
    free(w->off);
    free(w->id);
    memset(w, 0, sizeof *w);
}

/* Words of cp[n]: maximal runs of code points for which keep() is true. */
static lc_status words_split(wordlist *w, const uint32_t *cp, size_t n, int (*keep)(uint32_t)) {
    memset(w, 0, sizeof *w);
    w->buf = malloc(4 * n + n + 1);
    w->off = malloc((n / 1 + 1) * sizeof *w->off);
    w->id = malloc((n + 1) * sizeof *w->id);
    if (!w->buf || !w->off || !w->id) {
        words_free(w);
        return lc_errorf(LC_ERR_NOMEM, "out of memory scoring text");
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (!keep(cp[i])) {
            i++;
            continue;
        }
        w->off[w->n++] = (int)o;
        while (i < n && keep(cp[i])) o += utf8_put(w->buf + o, cp[i++]);
        w->buf[o++] = 0;
    }
    return LC_OK;
}

static const char *word(const wordlist *w, int i) { return w->buf + w->off[i]; }

typedef struct {
    const char *s;
    int32_t *id;
} word_ref;

static int cmp_word_ref(const void *a, const void *b) {
    return strcmp(((const word_ref *)a)->s, ((const word_ref *)b)->s);
}

/* Give equal words of a and b equal ids (0, 1, ...); returns the count or -1. */
static int intern(wordlist *a, wordlist *b) {
    int n = a->n + b->n;
    word_ref *r = malloc((size_t)(n + 1) * sizeof *r);
    if (!r) return -1;
    for (int i = 0; i < a->n; i++) r[i] = (word_ref){word(a, i), &a->id[i]};
    for (int i = 0; i < b->n; i++) r[a->n + i] = (word_ref){word(b, i), &b->id[i]};
    qsort(r, (size_t)n, sizeof *r, cmp_word_ref);
    int next = -1;
    for (int i = 0; i < n; i++) {
        if (i == 0 || strcmp(r[i].s, r[i - 1].s)) next++;
        *r[i].id = next;
    }
    free(r);
    return next + 1;
}

static int is_python_word(uint32_t c) { return is_alnum(c) || c == '_'; }
static int not_space(uint32_t c) { return !is_space(c); }
static int is_rouge_char(uint32_t c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* ---------------------------------------------------------------- SQuAD */

static int is_ascii_punct(uint32_t c) { return c < 128 && ispunct((int)c); } /* == string.punctuation */

static int is_article(const uint32_t *w, size_t n) {
    return (n == 1 && w[0] == 'a') || (n == 2 && w[0] == 'a' && w[1] == 'n') ||
           (n == 3 && w[0] == 't' && w[1] == 'h' && w[2] == 'e');
}

/* lower -> remove punctuation -> articles to ' ' -> code points (not yet ws-fixed). */
static uint32_t *squad_cps(const char *s, size_t *n_out) {
    size_t n;
    uint32_t *raw = utf8_decode(s, &n);
    if (!raw) return NULL;
    uint32_t *low = lower_all(raw, &n);
    free(raw);
    if (!low) return NULL;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_ascii_punct(low[i])) low[m++] = low[i];
    /* re.sub(r'\b(a|an|the)\b', ' ', text): a whole run of \w characters */
    size_t o = 0;
    for (size_t i = 0; i < m;) {
        if (!is_python_word(low[i])) {
            low[o++] = low[i++];
            continue;
        }
        size_t j = i;
        while (j < m && is_python_word(low[j])) j++;
        if (is_article(low + i, j - i)) {
            low[o++] = ' ';
        } else {
            memmove(low + o, low + i, (j - i) * sizeof *low);
            o += j - i;
        }
        i = j;
    }
    *n_out = o;
    return low;
}

static lc_status squad_words(wordlist *w, const char *s) {
    size_t n;
    uint32_t *cp = squad_cps(s, &n);
    if (!cp) return lc_errorf(LC_ERR_NOMEM, "out of memory scoring text");
    lc_status st = words_split(w, cp, n, not_space);
    free(cp);
    return st;
}

char *lc_squad_normalize(const char *s) {
    wordlist w;
    if (squad_words(&w, s)) return NULL;
    size_t len = 0;
    for (int i = 0; i < w.n; i++) len += strlen(word(&w, i)) + 1;
    char *out = malloc(len + 1), *o = out;
    if (out) {
        for (int i = 0; i < w.n; i++) {
            if (i) *o++ = ' ';
            size_t k = strlen(word(&w, i));
            memcpy(o, word(&w, i), k);
            o += k;
        }
        *o = 0;
    } else {
        lc_errorf(LC_ERR_NOMEM, "out of memory scoring text");
    }
    words_free(&w);
    return out;
}

lc_status lc_metric_em(const char *pred, const char *ref, double *out) {
    char *a = lc_squad_normalize(pred), *b = lc_squad_normalize(ref);
    lc_status st = LC_OK;
    if (!a || !b) st = lc_errorf(LC_ERR_NOMEM, "out of memory scoring text");
    else *out = strcmp(a, b) == 0 ? 1.0 : 0.0;
    free(a);
    free(b);
    return st;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* sum over ids of min(count in a, count in b); a and b are sorted. */
static int64_t multiset_common(const int32_t *a, int na, const int32_t *b, int nb) {
    int64_t common = 0;
    for (int i = 0, j = 0; i < na && j < nb;) {
        if (a[i] < b[j]) i++;
        else if (a[i] > b[j]) j++;
        else {
            common++;
            i++;
            j++;
        }
    }
    return common;
}

lc_status lc_metric_f1(const char *pred, const char *ref, double *out) {
    wordlist p = {0}, g = {0};
    lc_status st;
    if ((st = squad_words(&p, pred)) || (st = squad_words(&g, ref))) goto done;
    if (p.n == 0 || g.n == 0) { /* SQuAD v2: F1 = EM when either side is empty */
        *out = (p.n == 0 && g.n == 0) ? 1.0 : 0.0;
        goto done;
    }
    if (intern(&p, &g) < 0) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory scoring text");
        goto done;
    }
    qsort(p.id, (size_t)p.n, sizeof *p.id, cmp_i32);
    qsort(g.id, (size_t)g.n, sizeof *g.id, cmp_i32);
    int64_t same = multiset_common(p.id, p.n, g.id, g.n);
    if (same == 0) {
        *out = 0.0;
    } else {
        double prec = (double)same / p.n, rec = (double)same / g.n;
        *out = 2 * prec * rec / (prec + rec);
    }
done:
    words_free(&p);
    words_free(&g);
    return st;
}

/* ---------------------------------------------------------------- ROUGE */

static lc_status rouge_words(wordlist *w, const char *s) {
    size_t n;
    uint32_t *raw = utf8_decode(s, &n);
    if (!raw) return lc_errorf(LC_ERR_NOMEM, "out of memory scoring text");
    uint32_t *low = lower_all(raw, &n);
    free(raw);
    if (!low) return lc_errorf(LC_ERR_NOMEM, "out of memory scoring text");
    lc_status st = words_split(w, low, n, is_rouge_char);
    free(low);
    return st;
}

lc_status lc_metric_rouge_l(const char *pred, const char *ref, double *f, double *precision, double *recall) {
    wordlist p = {0}, t = {0};
    int *row = NULL;
    double P = 0, R = 0, F = 0;
    lc_status st;
    if ((st = rouge_words(&p, pred)) || (st = rouge_words(&t, ref))) goto done;
    if (p.n > 0 && t.n > 0) {
        if (intern(&p, &t) < 0 || !(row = calloc((size_t)p.n + 1, sizeof *row))) {
            st = lc_errorf(LC_ERR_NOMEM, "out of memory scoring text");
            goto done;
        }
        for (int i = 0; i < t.n; i++) { /* one row of the LCS table at a time */
            int diag = 0;
            for (int j = 1; j <= p.n; j++) {
                int up = row[j];
                row[j] = t.id[i] == p.id[j - 1] ? diag + 1 : (row[j] > row[j - 1] ? row[j] : row[j - 1]);
                diag = up;
            }
        }
        int lcs = row[p.n];
        P = (double)lcs / p.n;
        R = (double)lcs / t.n;
        F = (P + R) > 0 ? 2 * P * R / (P + R) : 0;
    }
    *f = F;
    if (precision) *precision = P;
    if (recall) *recall = R;
done:
    free(row);
    words_free(&p);
    words_free(&t);
    return st;
}

int lc_label_find(const char *text, const char *const *labels, int n_labels) {
    wordlist w = {0};
    wordlist *lw = calloc((size_t)(n_labels > 0 ? n_labels : 1), sizeof *lw);
    int found = -1;
    if (!lw || rouge_words(&w, text)) goto done;
    for (int k = 0; k < n_labels; k++)
        if (rouge_words(&lw[k], labels[k])) goto done;
    for (int i = 0; i < w.n && found < 0; i++) {
        int best_len = 0;
        for (int k = 0; k < n_labels; k++) {
            int L = lw[k].n;
            if (L == 0 || L <= best_len || i + L > w.n) continue;
            int j = 0;
            while (j < L && !strcmp(word(&w, i + j), word(&lw[k], j))) j++;
            if (j == L) {
                found = k;
                best_len = L;
            }
        }
    }
done:
    words_free(&w);
    if (lw)
        for (int k = 0; k < n_labels; k++) words_free(&lw[k]);
    free(lw);
    return found;
}

/* ----------------------------------------------------------------- BLEU */

/* Growable byte string. */
typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static int sb_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *s2 = realloc(b->s, cap);
        if (!s2) return -1;
        b->s = s2;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return 0;
}

/* Python str.replace(old, new) on a whole string; returns malloc'd or NULL. */
static char *replace_all(char *s, const char *old, const char *new_) {
    sbuf b = {0};
    size_t lo = strlen(old), ln = strlen(new_);
    const char *p = s, *q;
    int err = sb_put(&b, "", 0);
    while (!err && (q = strstr(p, old))) {
        err = sb_put(&b, p, (size_t)(q - p)) || sb_put(&b, new_, ln);
        p = q + lo;
    }
    if (!err) err = sb_put(&b, p, strlen(p));
    free(s);
    if (err) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* The 13a punctuation class [\{-\~\[-\` -\&\(-\+\:-\@\/]. */
static int is_13a_punct(unsigned char c) {
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') || (c >= '(' && c <= '+') ||
           (c >= ':' && c <= '@') || c == '/';
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* One re.sub pass of a two-character pattern, scanning left to right without
 * overlaps. which: 2 = ([^0-9])([.,]) -> "\1 \2 ", 3 = ([.,])([^0-9]) -> " \1 \2",
 * 4 = ([0-9])(-) -> "\1 \2 ". Bytes stand for code points here: a multi-byte
 * character can only take part through its last byte (pass 2) or its first
 * byte (pass 3), which gives the same text as matching the whole character. */
static char *sub_pass(char *s, int which) {
    sbuf b = {0};
    size_t n = strlen(s);
    int err = sb_put(&b, "", 0);
    for (size_t i = 0; i < n && !err;) {
        unsigned char c0 = (unsigned char)s[i], c1 = i + 1 < n ? (unsigned char)s[i + 1] : 0;
        int m = i + 1 < n && ((which == 2 && !is_digit(c0) && (c1 == '.' || c1 == ',')) ||
                              (which == 3 && (c0 == '.' || c0 == ',') && !is_digit(c1)) ||
                              (which == 4 && is_digit(c0) && c1 == '-'));
        if (!m) {
            err = sb_put(&b, s + i, 1);
            i++;
            continue;
        }
        char out[4];
        if (which == 3) out[0] = ' ', out[1] = (char)c0, out[2] = ' ', out[3] = (char)c1;
        else out[0] = (char)c0, out[1] = ' ', out[2] = (char)c1, out[3] = ' ';
        err = sb_put(&b, out, 4);
        i += 2;
    }
    free(s);
    if (err) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* 13a-tokenised words of one segment. */
static lc_status bleu_words(wordlist *w, const char *seg) {
    memset(w, 0, sizeof *w);
    size_t n;
    uint32_t *cp = utf8_decode(seg, &n);
    char *s = NULL;
    if (!cp) goto nomem;
    while (n > 0 && is_space(cp[n - 1])) n--; /* str.rstrip() */
    if (!(s = malloc(4 * n + 3))) goto nomem;
    size_t o = 0;
    s[o++] = ' ';
    for (size_t i = 0; i < n; i++) o += utf8_put(s + o, cp[i]);
    s[o] = 0;
    free(cp);
    cp = NULL;
    /* s = " " + line; the trailing " " is added after the replacements (same result) */
    if (!(s = replace_all(s, "<skipped>", "")) || !(s = replace_all(s, "-\n", "")) ||
        !(s = replace_all(s, "\n", " ")))
        goto nomem;
    if (strchr(s, '&')) {
        if (!(s = replace_all(s, "&quot;", "\"")) || !(s = replace_all(s, "&amp;", "&")) ||
            !(s = replace_all(s, "&lt;", "<")) || !(s = replace_all(s, "&gt;", ">")))
            goto nomem;
    }
    sbuf b = {0};
    if (sb_put(&b, "", 0)) goto nomem_b;
    for (const char *p = s; *p; p++) {
        char sp[3] = {' ', *p, ' '};
        if (is_13a_punct((unsigned char)*p) ? sb_put(&b, sp, 3) : sb_put(&b, p, 1)) goto nomem_b;
    }
    if (sb_put(&b, "   ", 3)) goto nomem_b; /* the trailing " " of f' {line} ', as pass 1 turns it */
    free(s);
    s = b.s;
    if (!(s = sub_pass(s, 2)) || !(s = sub_pass(s, 3)) || !(s = sub_pass(s, 4))) goto nomem;
    if (!(cp = utf8_decode(s, &n))) goto nomem;
    lc_status st = words_split(w, cp, n, not_space);
    free(cp);
    free(s);
    return st;
nomem_b:
    free(b.s);
nomem:
    free(cp);
    free(s);
    return lc_errorf(LC_ERR_NOMEM, "out of memory scoring text");
}

char *lc_bleu_tokenize_13a(const char *seg) {
    wordlist w;
    if (bleu_words(&w, seg)) return NULL;
    sbuf b = {0};
    int err = sb_put(&b, "", 0);
    for (int i = 0; i < w.n && !err; i++) err = (i && sb_put(&b, " ", 1)) || sb_put(&b, word(&w, i), strlen(word(&w, i)));
    words_free(&w);
    if (err) {
        free(b.s);
        lc_errorf(LC_ERR_NOMEM, "out of memory scoring text");
        return NULL;
    }
    return b.s;
}

typedef struct {
    int32_t k[4];
} ngram;

static int cmp_ngram(const void *a, const void *b) { return memcmp(a, b, sizeof(ngram)); }

/* Sorted n-grams of ids[n] of order `order` into g (room for n); returns how many. */
static int make_ngrams(ngram *g, const int32_t *ids, int n, int order) {
    int m = 0;
    for (int i = 0; i + order <= n; i++, m++) {
        memset(&g[m], 0xFF, sizeof g[m]);
        memcpy(g[m].k, ids + i, (size_t)order * sizeof *ids);
    }
    qsort(g, (size_t)m, sizeof *g, cmp_ngram);
    return m;
}

lc_status lc_bleu_add(lc_bleu_stats *s, const char *hyp, const char *ref) {
    wordlist h = {0}, r = {0};
    ngram *gh = NULL, *gr = NULL;
    lc_status st;
    if ((st = bleu_words(&h, hyp)) || (st = bleu_words(&r, ref))) goto done;
    gh = malloc((size_t)(h.n + 1) * sizeof *gh);
    gr = malloc((size_t)(r.n + 1) * sizeof *gr);
    if (!gh || !gr || intern(&h, &r) < 0) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory scoring text");
        goto done;
    }
    s->sys_len += h.n;
    s->ref_len += r.n; /* one reference: the closest length is its length */
    for (int order = 1; order <= 4; order++) {
        int nh = make_ngrams(gh, h.id, h.n, order), nr = make_ngrams(gr, r.id, r.n, order);
        s->total[order - 1] += nh;
        for (int i = 0, j = 0; i < nh && j < nr;) { /* clipped counts: min over equal n-grams */
            int c = cmp_ngram(&gh[i], &gr[j]);
            if (c < 0) i++;
            else if (c > 0) j++;
            else {
                s->correct[order - 1]++;
                i++;
                j++;
            }
        }
    }
    s->n_segments++;
done:
    free(gh);
    free(gr);
    words_free(&h);
    words_free(&r);
    return st;
}

double lc_bleu_score(const lc_bleu_stats *s, double *bp_out, double *precisions) {
    double bp = 1.0, prec[4] = {0, 0, 0, 0};
    if (s->sys_len < s->ref_len) bp = s->sys_len > 0 ? exp(1.0 - (double)s->ref_len / (double)s->sys_len) : 0.0;
    double score = 0.0;
    int any = 0;
    for (int n = 0; n < 4; n++) any |= s->correct[n] != 0;
    if (any) {
        double smooth = 1.0, logsum = 0.0;
        for (int n = 0; n < 4; n++) {
            if (s->total[n] == 0) break;
            if (s->correct[n] == 0) {
                smooth *= 2;
                prec[n] = 100.0 / (smooth * (double)s->total[n]);
            } else {
                prec[n] = 100.0 * (double)s->correct[n] / (double)s->total[n];
            }
        }
        for (int n = 0; n < 4; n++) logsum += prec[n] == 0.0 ? -9999999999.0 : log(prec[n]);
        score = bp * exp(logsum / 4);
    }
    if (bp_out) *bp_out = bp;
    if (precisions) memcpy(precisions, prec, sizeof prec);
    return score;
}

/* ------------------------------------------------------------ metric sets */

static const struct {
    unsigned bit;
    const char *name;
} METRIC_NAMES[] = {
    {LC_METRIC_LOSS, "loss"},       {LC_METRIC_EM, "em"},     {LC_METRIC_F1, "f1"},
    {LC_METRIC_ROUGE_L, "rougeL"},  {LC_METRIC_BLEU, "bleu"}, {LC_METRIC_ACCURACY, "accuracy"},
};
#define N_METRICS ((int)(sizeof METRIC_NAMES / sizeof METRIC_NAMES[0]))

const char *lc_metric_name(unsigned bit) {
    for (int i = 0; i < N_METRICS; i++)
        if (METRIC_NAMES[i].bit == bit) return METRIC_NAMES[i].name;
    return "?";
}

lc_status lc_metrics_parse(const char *spec, unsigned *mask) {
    *mask = 0;
    const char *p = spec;
    while (*p) {
        size_t n = strcspn(p, ",");
        while (n && p[n - 1] == ' ') n--;
        const char *q = p;
        while (*q == ' ') q++, n--;
        int ok = 0;
        if (n == 3 && !strncasecmp(q, "all", 3)) *mask |= LC_METRIC_ALL, ok = 1;
        for (int i = 0; i < N_METRICS && !ok; i++)
            if (strlen(METRIC_NAMES[i].name) == n && !strncasecmp(q, METRIC_NAMES[i].name, n))
                *mask |= METRIC_NAMES[i].bit, ok = 1;
        if (!ok && n == 7 && !strncasecmp(q, "rouge-l", 7)) *mask |= LC_METRIC_ROUGE_L, ok = 1;
        if (!ok && n == 3 && !strncasecmp(q, "acc", 3)) *mask |= LC_METRIC_ACCURACY, ok = 1;
        if (!ok)
            return lc_errorf(LC_ERR_ARG, "unknown metric '%.*s' in '%s': expected loss, em, f1, rougeL, bleu, accuracy or all",
                             (int)n, q, spec);
        p += strcspn(p, ",");
        if (*p == ',') p++;
    }
    if (!*mask) return lc_errorf(LC_ERR_ARG, "no metric named in '%s'", spec);
    return LC_OK;
}

lc_status lc_metric_sums_add(lc_metric_sums *s, const char *pred, const char *ref, const char *const *labels,
                             int n_labels) {
    lc_status st;
    double v;
    if (s->mask & LC_METRIC_EM) {
        if ((st = lc_metric_em(pred, ref, &v))) return st;
        s->em += v;
    }
    if (s->mask & LC_METRIC_F1) {
        if ((st = lc_metric_f1(pred, ref, &v))) return st;
        s->f1 += v;
    }
    if (s->mask & LC_METRIC_ROUGE_L) {
        if ((st = lc_metric_rouge_l(pred, ref, &v, NULL, NULL))) return st;
        s->rouge_l += v;
    }
    if ((s->mask & LC_METRIC_BLEU) && (st = lc_bleu_add(&s->bleu, pred, ref))) return st;
    if (s->mask & LC_METRIC_ACCURACY) {
        int got = lc_label_find(pred, labels, n_labels), want = lc_label_find(ref, labels, n_labels);
        s->acc_hits += got >= 0 && got == want;
    }
    s->n++;
    return LC_OK;
}

double lc_metric_sums_value(const lc_metric_sums *s, unsigned bit) {
    if (!(s->mask & bit) || s->n == 0) return NAN;
    switch (bit) {
    case LC_METRIC_EM: return 100.0 * s->em / s->n;
    case LC_METRIC_F1: return 100.0 * s->f1 / s->n;
    case LC_METRIC_ROUGE_L: return 100.0 * s->rouge_l / s->n;
    case LC_METRIC_BLEU: return lc_bleu_score(&s->bleu, NULL, NULL);
    case LC_METRIC_ACCURACY: return 100.0 * s->acc_hits / s->n;
    default: return NAN;
    }
}
