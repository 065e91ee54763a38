/*
 * merge.c — `lorac merge`: fold LoRA adapters into the base weights in fp32
 * (W += scale · alpha/r · B·A; DoRA: W ← m/‖W + sBA‖ ⊙ (W + sBA) per row,
 * as PEFT's merge; trainable tokens: their embedding rows replaced, a tied
 * head following), write the merged model (HF directory or GGUF),
 * reload it from disk and check its logits against the base with the
 * adapters applied unmerged, on fixed probe prompts.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deploy_internal.h"
#include "lc_adapter.h"
#include "lc_dora.h"
#include "lc_loader.h"
#include "lc_tokens.h"
#include "lc_transformer.h"

#include "lc_fsafe.h"

#define PROBES 3
#define LC_MERGE_MAX_INPUTS 40
#define PROBE_LEN 16

lc_merge_params lc_merge_default_params(void) {
    lc_merge_params p;
    memset(&p, 0, sizeof p);
    p.hf_dtype = LC_DT_F32;
    p.gguf_type = LC_DT_F32;
    return p;
}

/* 1 if w->data is the start of a buffer m owns and may write (not mmap'd). */
static int owns_writable(const lc_model *m, const lc_weight *w) {
    size_t n = (size_t)w->rows * (size_t)w->cols * sizeof(float);
    for (int i = 0; i < m->n_buffers; i++)
        if (m->buffers[i].ptr == w->data && !m->buffers[i].is_mmap && m->buffers[i].size >= n) return 1;
    return 0;
}

/* DoRA (lc_dora.h): W (out, in, fp32) ← (m / n) ⊙ (W + s B A) row by row,
 * n = ‖W + s B A‖ of the unmerged W, as PEFT's DoraLinearVariant.merge. */
static lc_status merge_dora(lc_weight *w, const lc_lora_pair *p, int r, float s) {
    float *norm = malloc((size_t)p->out * sizeof *norm); /* (out) */
    if (!norm) return lc_errorf(LC_ERR_NOMEM, "out of memory for DoRA norms");
    lc_status st = lc_dora_pair_norms(norm, w, p, r, s);
    float *W = (float *)w->data;
    if (!st)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->out, p->in, r, s, p->B, r, p->A, p->in, 1.0f, W,
                    p->in);
    for (int i = 0; !st && i < p->out; i++) {
        float g = p->mag[i] / norm[i];
        for (int j = 0; j < p->in; j++) W[(size_t)i * p->in + j] *= g;
    }
    free(norm);
    return st;
}

/* w becomes an fp32 matrix m owns and may write (dequantised / copied if need be). */
static lc_status make_writable_f32(lc_model *m, lc_weight *w, const char *name) {
    if (w->type == LC_DT_F32 && owns_writable(m, w)) return LC_OK;
    const float *src;
    float *tmp;
    lc_status st = dp_weight_f32(w, name, &src, &tmp);
    if (st) return st;
    size_t bytes = (size_t)w->rows * (size_t)w->cols * sizeof(float);
    float *own = tmp;
    if (!own) {
        if (!(own = lc_alloc(bytes))) return lc_errorf(LC_ERR_NOMEM, "out of memory merging %s", name);
        memcpy(own, src, bytes);
    }
    if ((st = lc_model_own(m, own, bytes, 0))) {
        lc_free(own);
        return st;
    }
    w->type = LC_DT_F32;
    w->data = own;
    return LC_OK;
}

/* Trainable tokens (lc_tokens.h): their rows replace the embedding's, as
 * PEFT's merge (index_copy; not scaled by the adapter's multiplier); a tied
 * head keeps sharing the embedding, so its rows follow. */
static lc_status merge_tokens(lc_model *m, const lc_lora *lora) {
    if (!lora->tok.n) return LC_OK;
    if (lora->tok.C != m->cfg.hidden_size)
        return lc_errorf(LC_ERR_MISMATCH, "trainable tokens have %d columns, the model's embedding %d", lora->tok.C,
                         m->cfg.hidden_size);
    int tied = m->lm_head.data == m->tok_emb.data;
    lc_status st = make_writable_f32(m, &m->tok_emb, "embed_tokens");
    if (st) return st;
    lc_tokens_merge_rows((float *)m->tok_emb.data, m->cfg.vocab_size, lora);
    if (tied) m->lm_head = m->tok_emb;
    return LC_OK;
}

lc_status lc_merge_lora(lc_model *m, const lc_lora *lora, float scale) {
    if (lora->n_layers != m->cfg.n_layers)
        return lc_errorf(LC_ERR_MISMATCH, "adapter has %d layers, the model %d", lora->n_layers, m->cfg.n_layers);
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            const lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A) continue;
            lc_status ist = lc_interrupt_check("merging");
            if (ist) return ist;
            lc_weight *w = dp_target_weight(m, l, (lc_lora_target)t);
            if (w->rows != p->out || w->cols != p->in)
                return lc_errorf(LC_ERR_MISMATCH, "layer %d %s: adapter is (%d x %d), the weight (%d x %d)", l,
                                 lc_lora_target_name((lc_lora_target)t), p->out, p->in, w->rows, w->cols);
            lc_status wst = make_writable_f32(m, w, lc_lora_target_name((lc_lora_target)t));
            if (wst) return wst;
            /* W (out, in) += s * B (out, r) · A (r, in), s = scale * this module's alpha / r;
             * DoRA: then each row times m_i / ‖W_i + s (B A)_i‖ */
            const int r = p->r;
            const float s = scale * p->scale;
            lc_status dst = p->mag ? merge_dora(w, p, r, s) : LC_OK;
            if (dst) return dst;
            if (!p->mag)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->out, p->in, r, s, p->B, r, p->A, p->in,
                            1.0f, (float *)w->data, p->in);
            if (!lc_all_finite(w->data, (size_t)w->rows * (size_t)w->cols))
                return lc_errorf(LC_ERR_NUMERIC, "merging layer %d %s (scale %g x alpha/r %g) gives a non-finite "
                                 "weight; nothing was written", l, lc_lora_target_name((lc_lora_target)t),
                                 (double)scale, (double)p->scale);
        }
    lc_status tst = merge_tokens(m, lora);
    if (tst) return tst;
    m->identity[0] = 0;
    return LC_OK;
}

void lc_deploy_probe_tokens(int32_t *tokens, int n, int T, int V, int bos_id) {
    lc_rng rng;
    lc_rng_seed(&rng, 20240611);
    for (int i = 0; i < n; i++)
        for (int t = 0; t < T; t++)
            tokens[i * T + t] = (t == 0 && bos_id >= 0 && bos_id < V) ? bos_id : (int32_t)lc_rng_below(&rng, (uint32_t)V);
}

lc_status lc_deploy_logits(const lc_model *m, const lc_lora *lora, float mult, const int32_t *tokens, int T,
                           float *logits) {
    lc_acts *a = NULL;
    lc_status st = lc_acts_create(&a, m, lora, 1, T);
    if (st) return st;
    lc_batch b = {.tokens = tokens, .targets = NULL, .B = 1, .T = T};
    st = lc_forward(m, lora, mult, a, &b, NULL, NULL, logits);
    lc_acts_free(a);
    return st;
}

/* One adapter equivalent to the sum of n scaled adapters: ranks concatenated,
 * each A pre-multiplied by its scale, alpha = r (scale 1). */
static lc_status combine(lc_lora *out, const lc_model *m, const lc_lora *loras, const float *scales, int n) {
    for (int i = 0; i < n; i++)
        if (loras[i].cfg.use_dora)
            return lc_errorf(LC_ERR_UNSUPPORTED, "adapter %d of %d is a DoRA adapter: DoRA's per-row magnitude does not "
                             "add up with other adapters (it rescales the whole weight), so lorac merges a DoRA adapter "
                             "only on its own: merge it first, then merge the others into that model", i + 1, n);
    for (int i = 0; i < n; i++)
        if (loras[i].tok.n)
            return lc_errorf(LC_ERR_UNSUPPORTED, "adapter %d of %d has trainable tokens, which replace embedding rows "
                             "rather than add to them: lorac merges such an adapter only on its own: merge it "
                             "first, then merge the others into that model", i + 1, n);
    lc_lora_config cfg = lc_lora_default_config();
    cfg.r = 0;
    cfg.targets = 0;
    cfg.dropout = 0;
    cfg.rslora = 0;
    for (int i = 0; i < n; i++) cfg.r += loras[i].r_max, cfg.targets |= loras[i].cfg.targets;
    cfg.alpha = (float)cfg.r;
    lc_rng rng;
    lc_rng_seed(&rng, 0);
    lc_status st = lc_lora_init(out, m, &cfg, &rng);
    if (st) return st;
    memset(out->params, 0, out->n_params * sizeof(float));
    const int R = cfg.r;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            lc_lora_pair *c = lc_lora_get(out, l, (lc_lora_target)t);
            if (!c->A) continue;
            int off = 0;
            for (int i = 0; i < n; i++) {
                const lc_lora_pair *p = lc_lora_get(&loras[i], l, (lc_lora_target)t);
                int r = p->r;
                if (p->A) {
                    float s = scales[i] * p->scale;
                    for (size_t k = 0; k < (size_t)r * p->in; k++) c->A[(size_t)off * c->in + k] = s * p->A[k];
                    for (int o = 0; o < p->out; o++)
                        memcpy(c->B + (size_t)o * R + off, p->B + (size_t)o * r, (size_t)r * sizeof(float));
                }
                off += loras[i].r_max; /* modules of lower rank leave zero rows */
            }
        }
    return LC_OK;
}

static double max_abs(const float *x, size_t n) {
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)x[i]));
    return mx;
}

/* The merged output, reloaded from disk: logits on the probes, compared to ref. */
static lc_status check_output(const lc_merge_params *p, int is_gguf, const int32_t *probes, const float *ref,
                              size_t per_probe, lc_merge_report *rep) {
    lc_model m;
    memset(&m, 0, sizeof m);
    lc_status st = is_gguf ? lc_model_load_gguf(&m, p->out_path, NULL) : lc_model_load_hf(&m, p->out_path);
    if (st) return lc_error_wrap(st, "reloading the merged model %s", p->out_path);
    float *logits = malloc(per_probe * sizeof(float)); /* (T, V) */
    if (!logits) st = lc_errorf(LC_ERR_NOMEM, "out of memory for probe logits");
    rep->max_abs_diff = 0;
    for (int i = 0; i < PROBES && !st; i++) {
        if ((st = lc_deploy_logits(&m, NULL, 1.0f, probes + i * PROBE_LEN, PROBE_LEN, logits))) break;
        for (size_t k = 0; k < per_probe; k++) {
            double d = fabs((double)logits[k] - (double)ref[i * per_probe + k]);
            if (!(d <= rep->max_abs_diff)) rep->max_abs_diff = d; /* NaN propagates */
        }
    }
    free(logits);
    lc_model_free(&m);
    return st;
}

/* Everything checked before the base is loaded: the adapters, the output kind
 * against the base kind, no overwriting of an input; then the parent
 * directories are made. Sets whether the output and the base are GGUF. */
static lc_status merge_preflight(const lc_merge_params *p, int *out_is_gguf, int *base_is_gguf) {
    lc_status st = LC_OK;
    if (p->n_adapters < 1) return lc_errorf(LC_ERR_ARG, "merge: no adapter given (--adapter FILE.h5[:scale])");
    const int out_gguf = dp_ends_with(p->out_path, ".gguf");
    struct stat sb;
    if (stat(p->model_path, &sb) != 0)
        return lc_errorf(LC_ERR_IO, "model '%s' not found (give an HF model directory or a .gguf file)",
                         p->model_path);
    const int base_gguf = S_ISREG(sb.st_mode) && dp_ends_with(p->model_path, ".gguf");
    if (out_gguf && !base_gguf)
        return lc_errorf(LC_ERR_UNSUPPORTED,
                         "%s: GGUF output needs a GGUF base (its metadata and tokenizer are copied); '%s' is not "
                         "a .gguf file. Write an HF directory instead, or convert the base with llama.cpp's "
                         "convert_hf_to_gguf.py first", p->out_path, p->model_path);
    if (!out_gguf && base_gguf && !(p->tokenizer_path && *p->tokenizer_path))
        return lc_errorf(LC_ERR_ARG,
                         "%s: an HF directory from a GGUF base needs a tokenizer.json (--tokenizer FILE): lorac "
                         "cannot rebuild tokenizer.json from GGUF metadata. Or write a .gguf file, which keeps "
                         "the base's tokenizer", p->out_path);
    if (!out_gguf && (st = dp_check_absent(p->out_path))) return st;
    {
        const char *in[LC_MERGE_MAX_INPUTS], *role[LC_MERGE_MAX_INPUTS];
        int n = 0;
        in[n] = p->model_path, role[n++] = "the base model";
        if (p->tokenizer_path) in[n] = p->tokenizer_path, role[n++] = "the tokenizer";
        for (int i = 0; i < p->n_adapters && n < LC_MERGE_MAX_INPUTS; i++) in[n] = p->adapter_paths[i], role[n++] = "an adapter";
        if ((st = lc_fs_refuse_input(p->out_path, in, role, n))) return st;
    }
    if (out_gguf && (st = lc_fs_check_overwrite(p->out_path, "GGUF", 4, "a GGUF file", p->force))) return st;
    for (int i = 0; i < p->n_adapters; i++)
        if ((st = lc_adapter_check_mult(p->adapter_paths[i], p->adapter_scales[i]))) return st;
    *out_is_gguf = out_gguf;
    *base_is_gguf = base_gguf;
    return lc_fs_mkdir_parents(p->out_path);
}

/* The reference: logits of base + adapters unmerged on the probes (written to
 * probes and ref (PROBES, T, V)); multiple adapters go through their
 * concatenation comb. */
static lc_status merge_reference(const lc_merge_params *p, lc_model *m, const lc_lora *loras, lc_lora *comb,
                                 int32_t *probes, float *ref, size_t per_probe, lc_merge_report *rep) {
    lc_status st;
    lc_deploy_probe_tokens(probes, PROBES, PROBE_LEN, m->cfg.vocab_size, m->cfg.bos_id);
    const lc_lora *ref_lora = &loras[0];
    float ref_mult = p->adapter_scales[0];
    if (p->n_adapters > 1) {
        if ((st = combine(comb, m, loras, p->adapter_scales, p->n_adapters))) return st;
        ref_lora = comb;
        ref_mult = 1.0f;
    }
    for (int i = 0; i < PROBES; i++)
        if ((st = lc_deploy_logits(m, ref_lora, ref_mult, probes + i * PROBE_LEN, PROBE_LEN, ref + i * per_probe)))
            return st;
    rep->max_abs_logit = max_abs(ref, PROBES * per_probe);
    rep->n_probes = PROBES;
    rep->probe_len = PROBE_LEN;
    return LC_OK;
}

/* The adapters' add_tokens (lc_base_add_tokens): all must add the same list
 * (or none) to a base of m's size; m grows by it (new rows the mean, which
 * the trainable-token rows then replace). added (cap bytes) = the list. */
static lc_status merge_added(const lc_merge_params *p, lc_model *m, char *added, size_t cap) {
    added[0] = 0;
    lc_status st = LC_OK;
    for (int i = 0; i < p->n_adapters && !st; i++) {
        lc_adapter_info info;
        if ((st = lc_adapter_read_info(p->adapter_paths[i], &info)) || !info.cfg.add_tokens[0]) continue;
        if (added[0] && strcmp(added, info.cfg.add_tokens))
            st = lc_errorf(LC_ERR_UNSUPPORTED,
                           "%s: adds tokens %s, another adapter %s; merge adapters that add the "
                           "same tokens (or none)",
                           p->adapter_paths[i], info.cfg.add_tokens, added);
        else if (info.base_vocab_size != m->cfg.vocab_size)
            st = lc_errorf(LC_ERR_MISMATCH, "%s: its base had %d tokens, the model has %d", p->adapter_paths[i],
                           info.base_vocab_size, m->cfg.vocab_size);
        else snprintf(added, cap, "%s", info.cfg.add_tokens);
    }
    char **strs = NULL;
    int n = 0;
    if (!st && added[0] && !(st = lc_tokens_parse_added(added, &strs, &n))) st = lc_tokens_grow_vocab(m, n);
    lc_tokens_strs_free(strs, n);
    return st;
}

lc_status lc_deploy_merge(const lc_merge_params *p, lc_merge_report *rep) {
    memset(rep, 0, sizeof *rep);
    lc_model m;
    memset(&m, 0, sizeof m);
    lc_gguf *g = NULL;
    lc_lora *loras = NULL, comb;
    memset(&comb, 0, sizeof comb);
    float *ref = NULL;
    unsigned *mask = NULL;
    int32_t probes[PROBES * PROBE_LEN];
    lc_status st = LC_OK;
    int out_gguf = 0, base_gguf = 0;
    if ((st = merge_preflight(p, &out_gguf, &base_gguf))) return st;

    double t0 = lc_time_now();
    st = base_gguf ? lc_model_load_gguf(&m, p->model_path, &g) : lc_model_load_hf(&m, p->model_path);
    char added[LC_LORA_PATTERN_MAX];
    if (!st) st = merge_added(p, &m, added, sizeof added);
    if (st) {
        lc_model_free(&m);
        lc_gguf_close(g);
        return st;
    }
    const int L = m.cfg.n_layers, V = m.cfg.vocab_size;
    loras = calloc((size_t)p->n_adapters, sizeof *loras);
    mask = calloc((size_t)L, sizeof *mask);
    size_t per_probe = (size_t)PROBE_LEN * (size_t)V;
    ref = malloc(PROBES * per_probe * sizeof(float)); /* (PROBES, T, V) */
    if (!loras || !mask || !ref) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < p->n_adapters; i++) {
        if ((st = lc_adapter_load(p->adapter_paths[i], &m, &loras[i], NULL, NULL, p->allow_other_base))) goto fail;
        for (int l = 0; l < L; l++) mask[l] |= loras[i].cfg.targets;
    }

    /* reference: base + adapters unmerged */
    if ((st = merge_reference(p, &m, loras, &comb, probes, ref, per_probe, rep))) goto fail;
    double t1 = lc_time_now();

    for (int i = 0; i < p->n_adapters; i++)
        if ((st = lc_merge_lora(&m, &loras[i], p->adapter_scales[i]))) {
            if (st == LC_ERR_NUMERIC) lc_error_wrap(st, "%s", p->adapter_paths[i]);
            goto fail;
        }
    double t2 = lc_time_now();
    rep->seconds_merge = t2 - t1;
    if (out_gguf) st = lc_deploy_write_gguf(&m, g, mask, added, p->gguf_type, p->out_path);
    else
        st = lc_deploy_write_hf(&m, base_gguf ? NULL : p->model_path, p->tokenizer_path, added, p->hf_dtype,
                                p->out_path);
    if (st) goto fail;
    double t3 = lc_time_now();
    rep->seconds_write = t3 - t2;
    /* free the in-memory merge before reloading: only one full copy at a time */
    lc_model_free(&m);
    st = check_output(p, out_gguf, probes, ref, per_probe, rep);
    rep->seconds_check = (t1 - t0) + (lc_time_now() - t3);
fail:
    for (int i = 0; loras && i < p->n_adapters; i++) lc_lora_free(&loras[i]);
    free(loras);
    lc_lora_free(&comb);
    free(mask);
    free(ref);
    lc_model_free(&m);
    lc_gguf_close(g);
    return st;
}
