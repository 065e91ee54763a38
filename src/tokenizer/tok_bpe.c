/*
 * tok_bpe.c — the BPE model: turns one pre-tokenized piece into ids.
 *
 * TK_BPE_MERGES is Hugging Face's BPE: each character becomes a symbol
 * (unknown characters become <0xNN> byte tokens with byte_fallback, else the
 * unk token, fused when fuse_unk), then the pair with the lowest merge rank
 * (leftmost on ties) is merged repeatedly, using a binary heap of candidate
 * pairs over a doubly linked symbol list; stale heap entries are skipped.
 * TK_BPE_SCORES is llama.cpp's SentencePiece algorithm for vocabularies with
 * scores but no merges: merge the adjacent pair whose concatenation is a
 * token with the highest score (leftmost on ties); unmatched symbols become
 * byte tokens.
 * Results for pieces up to 256 bytes are cached in a hash table that is
 * cleared when half full; the cache is guarded by a mutex taken with trylock
 * (a busy cache is simply bypassed), so encode is safe from several threads.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

#define CACHE_MAX_KEY 256
#define CACHE_CAP (1u << 16)

typedef struct {
    int32_t id;         /* token id (-1 while unknown in SCORES mode) */
    int32_t prev, next; /* linked list over symbol indices, -1 = none */
    uint32_t off, len;  /* bytes of the piece covered (len 0 = merged away) */
} tk_sym;

typedef struct {
    float score;  /* SCORES mode: higher first; MERGES mode: -rank */
    int32_t pos;  /* left symbol; smaller first on ties */
    int32_t id;   /* merged id (MERGES) */
    uint32_t len; /* merged byte length (SCORES) */
} tk_cand;

/* max-heap on (score, -pos) */
static inline int cand_before(const tk_cand *a, const tk_cand *b) {
    return a->score > b->score || (a->score == b->score && a->pos < b->pos);
}

typedef struct {
    tk_cand *p;
    int n, cap;
} tk_heap;

static int heap_push(tk_heap *h, tk_cand c) {
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 64;
        tk_cand *p = realloc(h->p, (size_t)cap * sizeof *p);
        if (!p) return -1;
        h->p = p;
        h->cap = cap;
    }
    int i = h->n++;
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!cand_before(&c, &h->p[parent])) break;
        h->p[i] = h->p[parent];
        i = parent;
    }
    h->p[i] = c;
    return 0;
}

static tk_cand heap_pop(tk_heap *h) {
    tk_cand top = h->p[0], last = h->p[--h->n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, best = i;
        const tk_cand *bc = &last;
        if (l < h->n && cand_before(&h->p[l], bc)) best = l, bc = &h->p[l];
        if (r < h->n && cand_before(&h->p[r], bc)) best = r;
        if (best == i) break;
        h->p[i] = h->p[best];
        i = best;
    }
    if (h->n) h->p[i] = last;
    return top;
}

int tk_bpe_add_merge(tk_bpe *m, tk_buf *cat, const char *a, size_t la, const char *c, size_t lc, int32_t rank) {
    cat->n = 0;
    if (tk_buf_put(cat, a, la) || tk_buf_put(cat, c, lc)) return -1;
    int32_t ia = tk_strmap_get(&m->map, a, la), ic = tk_strmap_get(&m->map, c, lc);
    int32_t inew = tk_strmap_get(&m->map, cat->p, cat->n);
    if (ia < 0) return TK_MERGE_NO_LEFT;
    if (ic < 0) return TK_MERGE_NO_RIGHT;
    if (inew < 0) return TK_MERGE_NO_MERGED;
    tk_mergemap_put(&m->merges, ia, ic, rank, inew);
    return 0;
}

int tk_bpe_finish(tk_bpe *m) {
    for (int b = 0; b < 256; b++) {
        char name[8];
        static const char hex[] = "0123456789ABCDEF";
        name[0] = '<', name[1] = '0', name[2] = 'x', name[3] = hex[b >> 4], name[4] = hex[b & 15],
        name[5] = '>';
        m->byte_id[b] = tk_strmap_get(&m->map, name, 6);
    }
    m->small_cp_id = malloc(0x800 * sizeof *m->small_cp_id);
    if (!m->small_cp_id) return -1;
    for (uint32_t cp = 0; cp < 0x800; cp++) {
        char u[4];
        int n = tk_utf8_encode(cp, u);
        m->small_cp_id[cp] = tk_strmap_get(&m->map, u, (size_t)n);
    }
    if (pthread_mutex_init(&m->cache_mu, NULL)) return -1;
    m->cache_cap = CACHE_CAP;
    m->cache = calloc(m->cache_cap, sizeof *m->cache);
    return m->cache ? 0 : -1;
}

void tk_bpe_free(tk_bpe *m) {
    if (m->tok)
        for (int i = 0; i < m->n_vocab; i++) free(m->tok[i]);
    free(m->tok);
    free(m->tok_len);
    free(m->scores);
    tk_strmap_free(&m->map);
    tk_mergemap_free(&m->merges);
    free(m->small_cp_id);
    if (m->cache) pthread_mutex_destroy(&m->cache_mu);
    free(m->cache);
    tk_buf_free(&m->cache_keys);
    free(m->cache_ids.p);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- cache */

static int cache_get(tk_bpe *m, uint64_t h, const char *s, size_t n, tk_ivec *out, int *hit) {
    *hit = 0;
    if (pthread_mutex_trylock(&m->cache_mu)) return 0;
    int rc = 0;
    for (uint32_t i = (uint32_t)h & (m->cache_cap - 1);; i = (i + 1) & (m->cache_cap - 1)) {
        tk_cache_slot *c = &m->cache[i];
        if (!c->hash) break;
        if (c->hash == h && c->key_len == n && memcmp(m->cache_keys.p + c->key_off, s, n) == 0) {
            rc = tk_ivec_put(out, m->cache_ids.p + c->ids_off, (int)c->n_ids);
            *hit = 1;
            break;
        }
    }
    pthread_mutex_unlock(&m->cache_mu);
    return rc;
}

static void cache_put(tk_bpe *m, uint64_t h, const char *s, size_t n, const int32_t *ids,
                      int n_ids) {
    if (pthread_mutex_trylock(&m->cache_mu)) return;
    if (m->cache_n * 2 >= m->cache_cap || m->cache_keys.n > (64u << 20)) {
        memset(m->cache, 0, (size_t)m->cache_cap * sizeof *m->cache);
        m->cache_n = 0;
        m->cache_keys.n = 0;
        m->cache_ids.n = 0;
    }
    uint32_t key_off = (uint32_t)m->cache_keys.n, ids_off = (uint32_t)m->cache_ids.n;
    if (tk_buf_put(&m->cache_keys, s, n) == 0 && tk_ivec_put(&m->cache_ids, ids, n_ids) == 0) {
        uint32_t i = (uint32_t)h & (m->cache_cap - 1);
        while (m->cache[i].hash) {
            if (m->cache[i].hash == h && m->cache[i].key_len == n &&
                memcmp(m->cache_keys.p + m->cache[i].key_off, s, n) == 0)
                goto done; /* another thread added it meanwhile */
            i = (i + 1) & (m->cache_cap - 1);
        }
        m->cache[i] = (tk_cache_slot){h, key_off, (uint32_t)n, ids_off, (uint32_t)n_ids};
        m->cache_n++;
    }
done:
    pthread_mutex_unlock(&m->cache_mu);
}

/* ---------------------------------------------------------------- symbols */

static void sym_add(tk_sym *sy, int *ns, int32_t id, uint32_t off, uint32_t len) {
    int i = (*ns)++;
    sy[i] = (tk_sym){id, i - 1, -1, off, len};
    if (i > 0) sy[i - 1].next = i;
}

/* HF BPE::merge_word's first half: characters -> initial symbols. */
static int initial_symbols(const tk_bpe *m, const char *s, size_t n, tk_sym *sy) {
    int ns = 0;
    int32_t unk_id = -1;
    uint32_t unk_off = 0, unk_len = 0;
    for (size_t i = 0; i < n;) {
        int adv;
        uint32_t cp = tk_utf8_decode(s + i, &adv);
        int32_t id = cp < 0x800 ? m->small_cp_id[cp] : tk_strmap_get(&m->map, s + i, (size_t)adv);
        if (id >= 0) {
            if (unk_id >= 0) sym_add(sy, &ns, unk_id, unk_off, unk_len), unk_id = -1;
            sym_add(sy, &ns, id, (uint32_t)i, (uint32_t)adv);
        } else {
            int ok = m->byte_fallback;
            for (int k = 0; ok && k < adv; k++) ok = m->byte_id[(unsigned char)s[i + k]] >= 0;
            if (ok) {
                for (int k = 0; k < adv; k++)
                    sym_add(sy, &ns, m->byte_id[(unsigned char)s[i + k]], (uint32_t)(i + k), 1);
            } else if (m->unk_id >= 0) {
                if (unk_id >= 0 && m->fuse_unk) {
                    unk_len += (uint32_t)adv;
                } else {
                    if (unk_id >= 0) sym_add(sy, &ns, unk_id, unk_off, unk_len);
                    unk_id = m->unk_id, unk_off = (uint32_t)i, unk_len = (uint32_t)adv;
                }
            } /* no unk token: the character is dropped, as HF does */
        }
        i += (size_t)adv;
    }
    if (unk_id >= 0) sym_add(sy, &ns, unk_id, unk_off, unk_len);
    return ns;
}

static int merge_ranked(const tk_bpe *m, tk_sym *sy, int ns, tk_heap *h) {
    for (int i = 0; i + 1 < ns; i++) {
        const tk_merge_slot *mg = tk_mergemap_get(&m->merges, sy[i].id, sy[i + 1].id);
        if (mg && heap_push(h, (tk_cand){-(float)mg->rank, i, mg->id, 0})) return -1;
    }
    while (h->n) {
        tk_cand c = heap_pop(h);
        tk_sym *l = &sy[c.pos];
        if (l->len == 0 || l->next < 0) continue;
        tk_sym *r = &sy[l->next];
        const tk_merge_slot *mg = tk_mergemap_get(&m->merges, l->id, r->id);
        if (!mg || mg->id != c.id) continue; /* stale entry */
        l->id = c.id;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sy[r->next].prev = c.pos;
        if (l->prev >= 0) {
            mg = tk_mergemap_get(&m->merges, sy[l->prev].id, l->id);
            if (mg && heap_push(h, (tk_cand){-(float)mg->rank, l->prev, mg->id, 0})) return -1;
        }
        if (l->next >= 0) {
            mg = tk_mergemap_get(&m->merges, l->id, sy[l->next].id);
            if (mg && heap_push(h, (tk_cand){-(float)mg->rank, c.pos, mg->id, 0})) return -1;
        }
    }
    return 0;
}

/* llama.cpp's SPM: symbols are UTF-8 characters, merged by best score. */
static int try_bigram(const tk_bpe *m, const char *s, const tk_sym *sy, int l, int r, tk_heap *h) {
    if (l < 0 || r < 0) return 0;
    uint32_t len = sy[l].len + sy[r].len;
    int32_t id = tk_strmap_get(&m->map, s + sy[l].off, len);
    if (id < 0) return 0;
    return heap_push(h, (tk_cand){m->scores ? m->scores[id] : 0.0f, l, id, len});
}

static int merge_scored(const tk_bpe *m, const char *s, size_t n, tk_sym *sy, int *pns,
                        tk_heap *h) {
    int ns = 0;
    for (size_t i = 0; i < n;) {
        int adv = tk_utf8_len((unsigned char)s[i]);
        if ((size_t)adv > n - i) adv = (int)(n - i);
        sym_add(sy, &ns, -1, (uint32_t)i, (uint32_t)adv);
        i += (size_t)adv;
    }
    *pns = ns;
    for (int i = 1; i < ns; i++)
        if (try_bigram(m, s, sy, i - 1, i, h)) return -1;
    while (h->n) {
        tk_cand c = heap_pop(h);
        tk_sym *l = &sy[c.pos];
        if (l->len == 0 || l->next < 0) continue;
        tk_sym *r = &sy[l->next];
        if (r->len == 0 || l->len + r->len != c.len) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sy[r->next].prev = c.pos;
        if (try_bigram(m, s, sy, l->prev, c.pos, h) || try_bigram(m, s, sy, c.pos, l->next, h))
            return -1;
    }
    return 0;
}

int tk_bpe_encode_piece(tk_bpe *m, const char *s, size_t n, tk_ivec *out) {
    if (n == 0) return 0;
    uint64_t h = 0;
    if (n <= CACHE_MAX_KEY) {
        int hit;
        h = tk_hash_bytes(s, n) | 1;
        if (cache_get(m, h, s, n, out, &hit)) return -1;
        if (hit) return 0;
    }
    int start = out->n, rc = -1;
    if (m->ignore_merges) {
        int32_t id = tk_strmap_get(&m->map, s, n);
        if (id >= 0) {
            if (tk_ivec_push(out, id)) return -1;
            goto cache;
        }
    }
    tk_sym stack_sy[128], *sy = stack_sy;
    tk_heap heap = {0};
    if (n > 128 && !(sy = malloc(n * sizeof *sy))) return -1; /* <= 1 symbol per byte */
    int ns;
    if (m->mode == TK_BPE_SCORES) {
        if (merge_scored(m, s, n, sy, &ns, &heap)) goto fail;
    } else {
        ns = initial_symbols(m, s, n, sy);
        if (merge_ranked(m, sy, ns, &heap)) goto fail;
    }
    for (int i = 0; ns > 0 && i >= 0; i = sy[i].next) {
        if (sy[i].len == 0 && m->mode == TK_BPE_SCORES) continue;
        if (m->mode == TK_BPE_MERGES) {
            if (tk_ivec_push(out, sy[i].id)) goto fail;
            continue;
        }
        int32_t id = tk_strmap_get(&m->map, s + sy[i].off, sy[i].len);
        if (id >= 0) {
            if (tk_ivec_push(out, id)) goto fail;
            continue;
        }
        for (uint32_t k = 0; k < sy[i].len; k++) {
            int32_t b = m->byte_id[(unsigned char)s[sy[i].off + k]];
            if (b < 0) b = m->unk_id;
            if (b >= 0 && tk_ivec_push(out, b)) goto fail;
        }
    }
    rc = 0;
fail:
    free(heap.p);
    if (sy != stack_sy) free(sy);
    if (rc) return rc;
cache:
    if (h) cache_put(m, h, s, n, out->p + start, out->n - start);
    return 0;
}
