/*
 * tok_util.c — small building blocks for the tokenizer: growable buffers,
 * open-addressing hash maps (token string -> id, id pair -> merge), UTF-8
 * decoding/encoding/validation with U+FFFD replacement, and the GPT-2
 * byte-level byte<->unicode map.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* ---------------------------------------------------------------- buffers */

int tk_buf_reserve(tk_buf *b, size_t extra) {
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int tk_buf_put(tk_buf *b, const void *s, size_t n) {
    if (tk_buf_reserve(b, n + 1)) return -1;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0; /* always NUL-terminated for convenience */
    return 0;
}

void tk_buf_free(tk_buf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

int tk_ivec_put(tk_ivec *v, const int32_t *x, int n) {
    if (v->n + n > v->cap) {
        int cap = v->cap ? v->cap : 64;
        while (cap < v->n + n) cap *= 2;
        int32_t *p = realloc(v->p, (size_t)cap * sizeof *p);
        if (!p) return -1;
        v->p = p;
        v->cap = cap;
    }
    if (n) memcpy(v->p + v->n, x, (size_t)n * sizeof *x);
    v->n += n;
    return 0;
}

int tk_ivec_push(tk_ivec *v, int32_t x) { return tk_ivec_put(v, &x, 1); }

/* ---------------------------------------------------------------- hashing */

uint64_t tk_hash_bytes(const void *p, size_t n) {
    /* FNV-1a over 8-byte words with a final avalanche (fast, good enough here) */
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    while (n--) h = (h ^ *s++) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint32_t pow2_at_least(uint64_t x) {
    uint32_t c = 16;
    while (c < x) c <<= 1;
    return c;
}

int tk_strmap_init(tk_strmap *m, uint32_t expected, char *const *keys, const uint32_t *klen) {
    m->cap = pow2_at_least((uint64_t)expected * 2 + 16);
    m->n = 0;
    m->keys = keys;
    m->klen = klen;
    m->slots = malloc((size_t)m->cap * sizeof *m->slots);
    if (!m->slots) return -1;
    memset(m->slots, 0xff, (size_t)m->cap * sizeof *m->slots);
    return 0;
}

void tk_strmap_put(tk_strmap *m, int32_t id) {
    LC_ASSERT(m->n + 1 < m->cap / 2 + m->cap / 4);
    const char *s = m->keys[id];
    uint32_t n = m->klen[id];
    uint32_t i = (uint32_t)tk_hash_bytes(s, n) & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        int32_t o = m->slots[i];
        if (o < 0) {
            m->slots[i] = id;
            m->n++;
            return;
        }
        if (m->klen[o] == n && memcmp(m->keys[o], s, n) == 0) {
            m->slots[i] = id;
            return;
        }
    }
}

int32_t tk_strmap_get(const tk_strmap *m, const char *s, size_t n) {
    if (!m->slots) return -1;
    uint32_t i = (uint32_t)tk_hash_bytes(s, n) & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        int32_t o = m->slots[i];
        if (o < 0) return -1;
        if (m->klen[o] == n && memcmp(m->keys[o], s, n) == 0) return o;
    }
}

void tk_strmap_free(tk_strmap *m) {
    free(m->slots);
    m->slots = NULL;
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

int tk_mergemap_init(tk_mergemap *m, uint32_t expected) {
    m->cap = pow2_at_least((uint64_t)expected * 2 + 16);
    m->n = 0;
    m->slots = calloc(m->cap, sizeof *m->slots);
    return m->slots ? 0 : -1;
}

void tk_mergemap_put(tk_mergemap *m, int32_t a, int32_t b, int32_t rank, int32_t id) {
    LC_ASSERT(m->n + 1 < m->cap / 2 + m->cap / 4);
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint32_t i = (uint32_t)mix64(key) & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == 0) m->n++;
        if (m->slots[i].key == 0 || m->slots[i].key == key) {
            /* a later duplicate overrides the earlier one, as HF's map does */
            m->slots[i].key = key;
            m->slots[i].rank = rank;
            m->slots[i].id = id;
            return;
        }
    }
}

const tk_merge_slot *tk_mergemap_get(const tk_mergemap *m, int32_t a, int32_t b) {
    if (!m->slots) return NULL;
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint32_t i = (uint32_t)mix64(key) & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        const tk_merge_slot *s = &m->slots[i];
        if (s->key == key) return s;
        if (s->key == 0) return NULL;
    }
}

void tk_mergemap_free(tk_mergemap *m) {
    free(m->slots);
    m->slots = NULL;
}

/* ---------------------------------------------------------------- UTF-8 */

int tk_utf8_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1;
}

uint32_t tk_utf8_decode(const char *s, int *adv) {
    const unsigned char *u = (const unsigned char *)s;
    int n = tk_utf8_len(u[0]);
    *adv = n;
    switch (n) {
    case 1: return u[0];
    case 2: return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    case 3: return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    default:
        return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
               ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    }
}

int tk_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Number of bytes of a valid sequence at s[0..n), or -k where k >= 1 is the
 * length of the maximal invalid subpart to replace with one U+FFFD. */
static int utf8_valid_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    int need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) need = 2, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) need = 2;
    else if (c == 0xED) need = 2, hi = 0x9F;
    else if (c == 0xF0) need = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) need = 3, hi = 0x8F;
    else return -1;
    for (int k = 1; k <= need; k++) {
        if ((size_t)k >= n) return -k;
        unsigned char d = s[k];
        if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) return -k;
    }
    return need + 1;
}

int tk_utf8_lossy(const char *s, size_t n, char **out, size_t *out_n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        int l = utf8_valid_len(u + i, n - i);
        if (l < 0) break;
        i += (size_t)l;
    }
    if (i == n) return 0;
    tk_buf b = {0};
    if (tk_buf_put(&b, s, i)) return -1;
    while (i < n) {
        int l = u[i] < 0x80 ? 1 : utf8_valid_len(u + i, n - i);
        if (l > 0) {
            if (tk_buf_put(&b, s + i, (size_t)l)) goto oom;
            i += (size_t)l;
        } else {
            if (tk_buf_put(&b, "\xEF\xBF\xBD", 3)) goto oom;
            i += (size_t)(-l);
        }
    }
    *out = b.p;
    *out_n = b.n;
    return 1;
oom:
    tk_buf_free(&b);
    return -1;
}

int tk_is_space_cp(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int tk_is_alnum_cp(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    /* Non-ASCII: letters/digits unless whitespace, Latin-1 punctuation or a
     * general/CJK punctuation block. (Only used for added tokens' single_word.) */
    if (tk_is_space_cp(cp)) return 0;
    if (cp < 0xC0) return cp == 0xAA || cp == 0xB5 || cp == 0xBA;
    if (cp == 0xD7 || cp == 0xF7) return 0;
    if ((cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F)) return 0;
    return 1;
}

/* ---------------------------------------------------------------- byte-level */

uint32_t tk_byte_to_cp[256];
static int16_t cp_to_byte_tab[0x144];
static pthread_once_t bytelevel_once = PTHREAD_ONCE_INIT;

static void bytelevel_build(void) {
    /* printable bytes map to themselves, the rest to 256, 257, ... in order */
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        tk_byte_to_cp[b] = keep ? (uint32_t)b : next++;
    }
    for (size_t i = 0; i < sizeof cp_to_byte_tab / sizeof *cp_to_byte_tab; i++)
        cp_to_byte_tab[i] = -1;
    for (int b = 0; b < 256; b++) cp_to_byte_tab[tk_byte_to_cp[b]] = (int16_t)b;
}

void tk_bytelevel_init(void) { pthread_once(&bytelevel_once, bytelevel_build); }

int tk_cp_to_byte(uint32_t cp) {
    return cp < sizeof cp_to_byte_tab / sizeof *cp_to_byte_tab ? cp_to_byte_tab[cp] : -1;
}
