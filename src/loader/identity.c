/*
 * identity.c — the 256-bit lc_digest (4 independent multiply-rotate lanes per
 * 1 MiB chunk, chunks hashed in parallel with OpenMP and folded in order) and
 * lc_model_identity_compute, the digest of a model's config and weights.
 * Not cryptographic: it tells models apart, it does not resist attackers.
 */
#include "lc_loader.h"
#include "lc_quant.h"

#include <stdio.h>
#include <string.h>

#define DG_CHUNK ((size_t)1 << 20)
#define DG_BATCH 64 /* chunks hashed per parallel region */

static const uint64_t P1 = 0x9E3779B185EBCA87ull, P2 = 0xC2B2AE3D27D4EB4Full,
                      P3 = 0x165667B19E3779F9ull, P4 = 0x85EBCA77C2B2AE63ull;
static const uint64_t SEEDS[4] = {0x243F6A8885A308D3ull, 0x13198A2E03707344ull,
                                  0xA4093822299F31D0ull, 0x082EFA98EC4E6C89ull};

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

static inline uint64_t load64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; /* little-endian on every host */
    return v;
}

static inline uint64_t lane_round(uint64_t acc, uint64_t w) { return rotl(acc + w * P2, 31) * P1; }

/* Hash one chunk of n bytes into out[4]; every output word depends on every byte. */
static void hash_chunk(const unsigned char *p, size_t n, uint64_t out[4]) {
    uint64_t v[4];
    for (int i = 0; i < 4; i++) v[i] = SEEDS[i] ^ (n * P3);
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int l = 0; l < 4; l++) v[l] = lane_round(v[l], load64(p + i + 8 * l));
    int l = 0;
    for (; i + 8 <= n; i += 8, l++) v[l] = lane_round(v[l], load64(p + i));
    if (i < n) {
        unsigned char tail[8] = {0};
        memcpy(tail, p + i, n - i);
        v[l & 3] = lane_round(v[l & 3], load64(tail) ^ P4);
    }
    uint64_t s = mix64(v[0]) ^ rotl(mix64(v[1]), 16) ^ rotl(mix64(v[2]), 32) ^ rotl(mix64(v[3]), 48);
    for (int k = 0; k < 4; k++) out[k] = mix64(v[k] ^ s ^ SEEDS[3 - k]);
}

void lc_digest_init(lc_digest *d) {
    memset(d, 0, sizeof *d);
    for (int i = 0; i < 4; i++) d->h[i] = SEEDS[i];
}

static void fold(lc_digest *d, const uint64_t c[4]) {
    d->n_chunks++;
    for (int i = 0; i < 4; i++) d->h[i] = mix64(d->h[i] ^ c[i] ^ (d->n_chunks * P3)) + rotl(d->h[(i + 1) & 3], 23);
}

void lc_digest_update(lc_digest *d, const void *data, size_t n) {
    const unsigned char *p = data;
    size_t n_chunks = n ? (n + DG_CHUNK - 1) / DG_CHUNK : 1; /* an empty update still counts */
    uint64_t res[DG_BATCH][4];
    for (size_t c0 = 0; c0 < n_chunks; c0 += DG_BATCH) {
        int nb = (int)(n_chunks - c0 < DG_BATCH ? n_chunks - c0 : DG_BATCH);
#pragma omp parallel for schedule(static) if (nb > 1)
        for (int b = 0; b < nb; b++) {
            size_t off = (c0 + (size_t)b) * DG_CHUNK;
            size_t len = n - off < DG_CHUNK ? n - off : DG_CHUNK;
            hash_chunk(p + off, len, res[b]);
        }
        for (int b = 0; b < nb; b++) fold(d, res[b]);
    }
    d->n_bytes += n;
}

void lc_digest_final(const lc_digest *d, char hex[65]) {
    uint64_t h[4];
    for (int i = 0; i < 4; i++) h[i] = mix64(d->h[i] ^ (d->n_bytes * P4) ^ rotl(d->h[(i + 2) & 3], 41));
    for (int i = 0; i < 4; i++) snprintf(hex + 16 * i, 17, "%016llx", (unsigned long long)h[i]);
}

static lc_status digest_weight(lc_digest *d, const char *role, const lc_weight *w) {
    if ((unsigned)w->type >= LC_DT_COUNT || w->cols % lc_dtype_block_elems(w->type))
        return lc_errorf(LC_ERR_ARG, "model identity: weight %s has type %d and %d columns", role, (int)w->type,
                         w->cols);
    char tag[128];
    int tl = snprintf(tag, sizeof tag, "%s type=%d %dx%d", role, (int)w->type, w->rows, w->cols);
    lc_digest_update(d, tag, (size_t)tl);
    lc_digest_update(d, w->data, (size_t)w->rows * lc_dtype_row_bytes(w->type, w->cols));
    return LC_OK;
}

static void digest_vec(lc_digest *d, const char *role, const float *v, int n) {
    char tag[128];
    int tl = snprintf(tag, sizeof tag, "%s f32 %d", role, n);
    lc_digest_update(d, tag, (size_t)tl);
    lc_digest_update(d, v, (size_t)n * sizeof(float));
}

lc_status lc_model_identity_compute(const lc_model *m, char hex[65]) {
    const lc_model_config *c = &m->cfg;
    lc_status rc;
    lc_digest d;
    lc_digest_init(&d);
    char cfg[512], role[64];
    int cl = snprintf(cfg, sizeof cfg,
                      "lorac-identity-v1 arch=%d V=%d C=%d F=%d L=%d Hq=%d Hkv=%d hd=%d eps=%a theta=%a "
                      "tie=%d bias=%d",
                      (int)c->arch, c->vocab_size, c->hidden_size, c->intermediate_size, c->n_layers,
                      c->n_heads, c->n_kv_heads, c->head_dim, (double)c->rms_eps, (double)c->rope_theta,
                      c->tie_embeddings, c->attn_bias);
    lc_digest_update(&d, cfg, (size_t)cl);
    if (c->rope_scaling.type != LC_ROPE_NONE) { /* only then: older identities stay as they were */
        const lc_rope_scaling *r = &c->rope_scaling;
        cl = snprintf(cfg, sizeof cfg, " rope=%s factor=%a low=%a high=%a orig=%d", lc_rope_scaling_name(r->type),
                      (double)r->factor, (double)r->low_freq_factor, (double)r->high_freq_factor,
                      r->original_max_position);
        if (r->type == LC_ROPE_YARN)
            cl += snprintf(cfg + cl, sizeof cfg - (size_t)cl, " beta=%a,%a trunc=%d attn=%a", (double)r->beta_fast,
                           (double)r->beta_slow, r->truncate, (double)r->attn_factor);
        lc_digest_update(&d, cfg, (size_t)cl);
    }
    if (c->sliding_window || c->query_pre_attn_scalar > 0 || c->final_softcap > 0) { /* Gemma 3 only */
        cl = snprintf(cfg, sizeof cfg, " window=%d pattern=%d local_theta=%a qpas=%a softcap=%a", c->sliding_window,
                      c->sliding_pattern, (double)c->rope_local_theta, (double)c->query_pre_attn_scalar,
                      (double)c->final_softcap);
        lc_digest_update(&d, cfg, (size_t)cl);
    }
    if (m->rope_freqs) digest_vec(&d, "rope_freqs", m->rope_freqs, c->head_dim / 2);
    if ((rc = digest_weight(&d, "tok_emb", &m->tok_emb))) return rc;
    int qd = c->n_heads * c->head_dim, kd = c->n_kv_heads * c->head_dim;
    for (int l = 0; l < c->n_layers; l++) {
        const lc_layer *ly = &m->layers[l];
        const struct { const char *n; const lc_weight *w; } ws[] = {
            {"wq", &ly->wq}, {"wk", &ly->wk}, {"wv", &ly->wv}, {"wo", &ly->wo},
            {"w_gate", &ly->w_gate}, {"w_up", &ly->w_up}, {"w_down", &ly->w_down},
        };
        snprintf(role, sizeof role, "layers.%d.attn_norm", l);
        digest_vec(&d, role, ly->attn_norm, c->hidden_size);
        snprintf(role, sizeof role, "layers.%d.mlp_norm", l);
        digest_vec(&d, role, ly->mlp_norm, c->hidden_size);
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
            snprintf(role, sizeof role, "layers.%d.%s", l, ws[i].n);
            if ((rc = digest_weight(&d, role, ws[i].w))) return rc;
        }
        if (ly->post_attn_norm) { /* sandwich-norm families (Gemma 3) */
            snprintf(role, sizeof role, "layers.%d.post_attn_norm", l);
            digest_vec(&d, role, ly->post_attn_norm, c->hidden_size);
            snprintf(role, sizeof role, "layers.%d.post_mlp_norm", l);
            digest_vec(&d, role, ly->post_mlp_norm, c->hidden_size);
        }
        if (ly->q_norm) { /* q/k-norm families (Qwen3) */
            snprintf(role, sizeof role, "layers.%d.q_norm", l);
            digest_vec(&d, role, ly->q_norm, c->head_dim);
            snprintf(role, sizeof role, "layers.%d.k_norm", l);
            digest_vec(&d, role, ly->k_norm, c->head_dim);
        }
        if (c->attn_bias) {
            snprintf(role, sizeof role, "layers.%d.bq", l);
            digest_vec(&d, role, ly->bq, qd);
            snprintf(role, sizeof role, "layers.%d.bk", l);
            digest_vec(&d, role, ly->bk, kd);
            snprintf(role, sizeof role, "layers.%d.bv", l);
            digest_vec(&d, role, ly->bv, kd);
        }
    }
    digest_vec(&d, "final_norm", m->final_norm, c->hidden_size);
    if (!c->tie_embeddings && (rc = digest_weight(&d, "lm_head", &m->lm_head))) return rc;
    lc_digest_final(&d, hex);
    return LC_OK;
}
