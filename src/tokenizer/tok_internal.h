/*
 * tok_internal.h — the tokenizer's private data structures, shared by the
 * files of src/tokenizer/:
 *   tok_util.c     hash maps, UTF-8 helpers, the GPT-2 byte<->unicode map
 *   tok_bpe.c      the BPE model (rank-ordered merges, SentencePiece scores), word cache
 *   tok_pipeline.c normalizers, pre-tokenizers, added tokens, encode, decode
 *   tok_json.c     tokenizer.json (+ tokenizer_config.json / config.json) loading
 *   tok_vocab.c    construction from GGUF tokenizer.ggml.* arrays
 * The pipeline mirrors Hugging Face `tokenizers`: added tokens are split out
 * first, the rest is normalized, pre-tokenized into pieces, and each piece
 * goes through the BPE model; the post-processor adds special tokens.
 */
#ifndef LC_TOK_INTERNAL_H
#define LC_TOK_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "lc_tokenizer.h"

/* ---- growable byte buffer ---- */
typedef struct {
    char *p;
    size_t n, cap;
} tk_buf;
int tk_buf_reserve(tk_buf *b, size_t extra); /* 0 ok, -1 out of memory */
int tk_buf_put(tk_buf *b, const void *s, size_t n);
void tk_buf_free(tk_buf *b);

/* ---- growable int32 vector ---- */
typedef struct {
    int32_t *p;
    int n, cap;
} tk_ivec;
int tk_ivec_push(tk_ivec *v, int32_t x);
int tk_ivec_put(tk_ivec *v, const int32_t *x, int n);

/* ---- string -> id open-addressing map (keys are owned by the caller) ---- */
typedef struct {
    int32_t *slots;        /* (cap) id or -1 */
    uint32_t cap, n;
    char *const *keys;     /* id -> key string (not owned) */
    const uint32_t *klen;  /* id -> key length */
} tk_strmap;
uint64_t tk_hash_bytes(const void *p, size_t n);
int tk_strmap_init(tk_strmap *m, uint32_t expected, char *const *keys, const uint32_t *klen);
/* Insert id (its key is keys[id]); replaces an existing entry with the same key. */
void tk_strmap_put(tk_strmap *m, int32_t id);
int32_t tk_strmap_get(const tk_strmap *m, const char *s, size_t n); /* -1 if absent */
void tk_strmap_free(tk_strmap *m);

/* ---- (left id, right id) -> (rank, merged id) map ---- */
typedef struct {
    uint64_t key;  /* (left << 32 | right) + 1; 0 = empty */
    int32_t rank;
    int32_t id;
} tk_merge_slot;
typedef struct {
    tk_merge_slot *slots;
    uint32_t cap, n;
} tk_mergemap;
int tk_mergemap_init(tk_mergemap *m, uint32_t expected);
void tk_mergemap_put(tk_mergemap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
const tk_merge_slot *tk_mergemap_get(const tk_mergemap *m, int32_t a, int32_t b);
void tk_mergemap_free(tk_mergemap *m);

/* ---- UTF-8 ---- */
/* Length of the UTF-8 sequence starting at s[0] (1 for an invalid lead byte). */
int tk_utf8_len(unsigned char c);
/* Decode one code point of valid UTF-8 at s; sets *adv to its byte length. */
uint32_t tk_utf8_decode(const char *s, int *adv);
int tk_utf8_encode(uint32_t cp, char *out); /* returns 1..4 */
/* If s is valid UTF-8 return 0. Otherwise write a copy with every maximal
 * invalid subpart replaced by U+FFFD (as Rust's from_utf8_lossy and Python's
 * errors="replace") into *out (malloc'd) and return 1; -1 out of memory. */
int tk_utf8_lossy(const char *s, size_t n, char **out, size_t *out_n);
int tk_is_space_cp(uint32_t cp); /* Rust char::is_whitespace */
int tk_is_alnum_cp(uint32_t cp); /* approximation of Rust char::is_alphanumeric */

/* GPT-2 byte-level map: byte -> code point, and the UTF-8 of that code point. */
extern uint32_t tk_byte_to_cp[256];
void tk_bytelevel_init(void); /* idempotent, thread-safe */
int tk_cp_to_byte(uint32_t cp); /* -1 if cp is not in the map */

/* ---- BPE model ---- */
enum { TK_BPE_MERGES = 0, TK_BPE_SCORES = 1 };

typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len; /* in cache arena */
    uint32_t ids_off, n_ids;   /* in cache id arena */
} tk_cache_slot;

typedef struct {
    int mode;              /* TK_BPE_MERGES (HF BPE) or TK_BPE_SCORES (llama.cpp SPM) */
    int n_vocab;           /* max model id + 1 */
    char **tok;            /* (n_vocab) token strings (NULL for holes), owned */
    uint32_t *tok_len;     /* (n_vocab) */
    float *scores;         /* (n_vocab) for TK_BPE_SCORES, owned */
    tk_strmap map;         /* model vocab only (no added tokens) */
    tk_mergemap merges;
    int32_t unk_id;        /* -1 if none */
    int fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_id[256];  /* id of "<0xNN>", -1 if absent */
    int32_t *small_cp_id;  /* (0x800) vocab id of single code points < 0x800, -1 if absent */
    /* word cache (pieces -> ids), guarded by a mutex taken with trylock only */
    pthread_mutex_t cache_mu;
    tk_cache_slot *cache;  /* (cache_cap) */
    uint32_t cache_cap, cache_n;
    tk_buf cache_keys;
    tk_ivec cache_ids;
} tk_bpe;

int tk_bpe_finish(tk_bpe *m); /* build small_cp_id/byte_id, init the cache; 0 ok */
/* Merge rule `rank`: parts a (la bytes) and c (lc bytes) become the vocab
 * token a+c (cat is scratch). 0 ok, -1 out of memory, else which token is
 * not in the vocab: TK_MERGE_NO_LEFT, TK_MERGE_NO_RIGHT, TK_MERGE_NO_MERGED. */
enum { TK_MERGE_NO_LEFT = 1, TK_MERGE_NO_RIGHT, TK_MERGE_NO_MERGED };
int tk_bpe_add_merge(tk_bpe *m, tk_buf *cat, const char *a, size_t la, const char *c, size_t lc, int32_t rank);
void tk_bpe_free(tk_bpe *m);
/* Tokenize one pre-tokenized piece, appending ids to out. 0 ok, -1 OOM. */
int tk_bpe_encode_piece(tk_bpe *m, const char *s, size_t n, tk_ivec *out);

/* ---- pipeline ---- */
enum { TK_NORM_PREPEND, TK_NORM_REPLACE, TK_NORM_LOWERCASE, TK_NORM_STRIP, TK_NORM_UNICODE };
typedef struct {
    int type;
    char *a, *b; /* PREPEND: a; REPLACE: a -> b */
    size_t na, nb;
    int left, right; /* STRIP */
    int form;        /* UNICODE: utf8proc options of NFC, NFD, NFKC or NFKD */
} tk_norm;
/* utf8proc options for a normalizer type name ("NFC", "NFD", "NFKC", "NFKD"); 0 otherwise. */
int tk_unicode_form(const char *name);

enum { TK_SPLIT_REMOVED, TK_SPLIT_ISOLATED, TK_SPLIT_PREV, TK_SPLIT_NEXT, TK_SPLIT_CONTIG };
enum { TK_PRE_SPLIT, TK_PRE_BYTELEVEL, TK_PRE_METASPACE };
enum { TK_PREPEND_ALWAYS, TK_PREPEND_FIRST, TK_PREPEND_NEVER };
typedef struct {
    int type;
    pcre2_code *re; /* SPLIT, and BYTELEVEL with use_regex */
    int behavior, invert;
    int add_prefix_space; /* BYTELEVEL */
    char repl[8];         /* METASPACE replacement (UTF-8) */
    int prepend_scheme, split;
} tk_pre;

enum { TK_DEC_BYTELEVEL, TK_DEC_REPLACE, TK_DEC_BYTEFALLBACK, TK_DEC_FUSE, TK_DEC_STRIP,
       TK_DEC_METASPACE };
typedef struct {
    int type;
    char *a, *b; /* REPLACE a -> b; METASPACE a = replacement */
    size_t na, nb;
    uint32_t cp;   /* STRIP content char */
    int start, stop, prepend;
} tk_dec;

typedef struct {
    char *content;
    size_t len;
    char *mcontent; /* what is matched: content, normalized if `normalized` */
    size_t mlen;
    int32_t id;
    int special, lstrip, rstrip, single_word, normalized;
} tk_added;

struct lc_tokenizer {
    tk_bpe bpe;
    tk_norm *norms;
    int n_norms;
    tk_pre *pres;
    int n_pres;
    tk_dec *decs;
    int n_decs, has_decoder;
    tk_added *added;
    int n_added;
    int32_t *added_by_byte[256]; /* per first byte: indices into added, longest first, -1 end */
    /* first bytes with many added tokens (Gemma: ~6,300 start with '<') are
     * matched by hashing instead: their distinct lengths, longest first, 0 end */
    uint32_t *added_lens_by_byte[256];
    tk_strmap added_map[2];      /* matched text -> index into added, per `normalized` flag */
    char **added_mkey;           /* (n_added) = added[i].mcontent, keys of added_map */
    uint32_t *added_mlen;        /* (n_added) */
    int has_norm_added;          /* some added token has normalized = true */
    char **id_text;              /* (n_ids) text of every id: added tokens override the model */
    uint32_t *id_text_len;
    uint8_t *id_special;         /* (n_ids) 1 for special added tokens */
    int n_ids;
    int32_t *post_prefix, *post_suffix; /* post-processor ids */
    int n_post_prefix, n_post_suffix;
    int bos_id, eos_id;
    int byte_level;
    char *chat_template;
};

/* Finish construction once everything above is filled in (byte tables,
 * id_text, added-token index). 0 ok, else an lc_status already reported. */
lc_status tk_tokenizer_finish(lc_tokenizer *t);
/* Compile a regex for pre-tokenization (PCRE2_UTF|PCRE2_UCP, JIT), or a
 * literal string when `literal`; `what` names it in error messages. */
lc_status tk_regex_compile(pcre2_code **out, const char *pattern, size_t len, int literal,
                           const char *what);
/* Regex patterns used by the pre-tokenizers. */
extern const char *const TK_RE_GPT2;
extern const char *const TK_RE_LLAMA3;
extern const char *const TK_RE_QWEN2;

#endif /* LC_TOK_INTERNAL_H */
