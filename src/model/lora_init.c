/*
 * lora_init.c — PEFT's weight-derived LoRA initialisations, from the frozen
 * weight W (out, in) of each adapted module (peft/tuners/lora/layer.py):
 *
 *   PiSSA (init_lora_weights="pissa"):  W = V S Uh (thin SVD),
 *       A = diag(sqrt(S_r / s)) Uh_r        (r, in)
 *       B = V_r diag(sqrt(S_r / s))         (out, r)
 *   OLoRA (init_lora_weights="olora"):  W = Q R (Householder QR, k = min(out, in)),
 *       A = R_r (first r rows of R)         (r, in)
 *       B = Q_r (first r columns of Q)      (out, r)
 *
 * and in both the base becomes the residual  W <- W - s·B·A  (s = the
 * module's scaling), so the model's output is unchanged at step 0.
 *
 * The factorisations are LAPACK's (OpenBLAS ships it; called through the
 * Fortran symbols dgesdd_ / dgeqrf_ / dorgqr_, as Debian's OpenBLAS has no
 * lapacke.h) in float64 on the float32 weight; PEFT runs them in float32.
 * A weight that is not an fp32 buffer the model owns (mmap'd, f16/bf16, or
 * quantised) is first replaced by an owned fp32 copy: the residual is kept
 * in fp32. (PEFT refuses PiSSA on quantised bitsandbytes weights and
 * dequantises them for OLoRA, re-quantising the residual.)
 *
 * lc_lora_convert_to_base is PEFT's save_pretrained(...,
 * path_initial_model_for_weight_conversion=...): the trained A', B' on the
 * residual base as an adapter of rank 2r on the ORIGINAL base,
 * A = [A'; A0], B = [B', -B0], so s·B·A = s·B'A' - s·B0A0.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "lc_lora.h"
#include "lc_quant.h"

/* LAPACK (Fortran, column-major), as exported by libopenblas. */
extern void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
                    const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork, int *info);
extern void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
                    const int *lwork, int *info);
extern void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau,
                    double *work, const int *lwork, int *info);

static lc_weight *target_weight(lc_model *m, int l, lc_lora_target t) {
    lc_layer *L = &m->layers[l];
    switch (t) {
    case LC_T_Q: return &L->wq;
    case LC_T_K: return &L->wk;
    case LC_T_V: return &L->wv;
    case LC_T_O: case LC_T_ATTN_C_PROJ: return &L->wo;
    case LC_T_GATE: return &L->w_gate;
    case LC_T_UP: case LC_T_C_FC: return &L->w_up;
    case LC_T_DOWN: case LC_T_MLP_C_PROJ: return &L->w_down;
    case LC_T_C_ATTN: return &L->wqkv;
    default: LC_ASSERT(!"bad LoRA target");
    }
    return NULL;
}

/* Make w an fp32 buffer owned (and writable) by m: its data as fp32. */
static lc_status own_f32(lc_model *m, lc_weight *w) {
    size_t n = (size_t)w->rows * (size_t)w->cols, bytes = n * sizeof(float);
    for (int i = 0; i < m->n_buffers; i++)
        if (w->type == LC_DT_F32 && m->buffers[i].ptr == w->data && !m->buffers[i].is_mmap && m->buffers[i].size >= bytes)
            return LC_OK;
    float *own = lc_alloc(bytes);
    if (!own) return lc_errorf(LC_ERR_NOMEM, "out of memory for an fp32 copy of a (%d x %d) weight", w->rows, w->cols);
    size_t rb = lc_dtype_row_bytes(w->type, w->cols);
    for (int r = 0; r < w->rows; r++) {
        const char *row = (const char *)w->data + (size_t)r * rb;
        if (w->type == LC_DT_F32) memcpy(own + (size_t)r * w->cols, row, (size_t)w->cols * sizeof(float));
        else lc_dequantize(w->type, row, own + (size_t)r * w->cols, w->cols);
    }
    lc_status st = lc_model_own(m, own, bytes, 0);
    if (st) {
        lc_free(own);
        return st;
    }
    w->type = LC_DT_F32;
    w->data = own;
    return LC_OK;
}

/* PiSSA factors of W (out, in) into p->A, p->B. */
static lc_status pissa(lc_lora_pair *p, const float *W) {
    int out = p->out, in = p->in, k = out < in ? out : in, r = p->r, info = 0, lwork = -1;
    if (r > k) return lc_errorf(LC_ERR_CONFIG, "PiSSA: rank %d exceeds min(out %d, in %d)", r, out, in);
    /* W row-major (out, in) is W^T column-major (in x out): W^T = U' S VT', so
     * W = VT'^T S U'^T: V row o = VT' column o, Uh row i = U' column i. */
    double *a = malloc((size_t)out * in * sizeof *a), *s = malloc((size_t)k * sizeof *s);
    double *u = malloc((size_t)in * k * sizeof *u), *vt = malloc((size_t)k * out * sizeof *vt), wq;
    int *iw = malloc((size_t)8 * k * sizeof *iw);
    double *work = NULL;
    lc_status st = LC_OK;
    if (!a || !s || !u || !vt || !iw) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory for an SVD");
        goto done;
    }
    for (size_t i = 0; i < (size_t)out * in; i++) a[i] = W[i];
    dgesdd_("S", &in, &out, a, &in, s, u, &in, vt, &k, &wq, &lwork, iw, &info);
    lwork = (int)wq;
    if (!info && !(work = malloc((size_t)lwork * sizeof *work))) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory for an SVD");
        goto done;
    }
    if (!info) dgesdd_("S", &in, &out, a, &in, s, u, &in, vt, &k, work, &lwork, iw, &info);
    if (info) {
        st = lc_errorf(LC_ERR_NUMERIC, "PiSSA: LAPACK dgesdd failed (info %d) on a (%d x %d) weight", info, out, in);
        goto done;
    }
    for (int i = 0; i < r; i++) {
        double g = sqrt(s[i] / p->scale);
        for (int j = 0; j < in; j++) p->A[(size_t)i * in + j] = (float)(g * u[(size_t)i * in + j]);
        for (int o = 0; o < out; o++) p->B[(size_t)o * r + i] = (float)(g * vt[(size_t)o * k + i]);
    }
done:
    free(a), free(s), free(u), free(vt), free(iw), free(work);
    return st;
}

/* OLoRA factors of W (out, in) into p->A, p->B. */
static lc_status olora(lc_lora_pair *p, const float *W) {
    int out = p->out, in = p->in, k = out < in ? out : in, r = p->r, info = 0, lwork = -1;
    if (r > k) return lc_errorf(LC_ERR_CONFIG, "OLoRA: rank %d exceeds min(out %d, in %d)", r, out, in);
    double *a = malloc((size_t)out * in * sizeof *a), *tau = malloc((size_t)k * sizeof *tau), wq, wq2;
    double *work = NULL;
    lc_status st = LC_OK;
    if (!a || !tau) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory for a QR");
        goto done;
    }
    for (int o = 0; o < out; o++) /* W column-major (out x in) */
        for (int j = 0; j < in; j++) a[o + (size_t)j * out] = W[(size_t)o * in + j];
    dgeqrf_(&out, &in, a, &out, tau, &wq, &lwork, &info);
    dorgqr_(&out, &k, &k, a, &out, tau, &wq2, &lwork, &info);
    lwork = (int)(wq > wq2 ? wq : wq2);
    if (!(work = malloc((size_t)lwork * sizeof *work))) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory for a QR");
        goto done;
    }
    dgeqrf_(&out, &in, a, &out, tau, work, &lwork, &info);
    if (!info) {
        for (int i = 0; i < r; i++) /* R: upper triangle of the factored a */
            for (int j = 0; j < in; j++) p->A[(size_t)i * in + j] = j >= i ? (float)a[i + (size_t)j * out] : 0.0f;
        dorgqr_(&out, &k, &k, a, &out, tau, work, &lwork, &info);
    }
    if (info) {
        st = lc_errorf(LC_ERR_NUMERIC, "OLoRA: LAPACK QR failed (info %d) on a (%d x %d) weight", info, out, in);
        goto done;
    }
    for (int o = 0; o < out; o++)
        for (int i = 0; i < r; i++) p->B[(size_t)o * r + i] = (float)a[o + (size_t)i * out];
done:
    free(a), free(tau), free(work);
    return st;
}

lc_status lc_lora_init_from_weights(lc_lora *lora, lc_model *m, lc_lora_init_kind kind) {
    if (kind != LC_INIT_PISSA && kind != LC_INIT_OLORA) return LC_OK;
    for (int l = 0; l < lora->n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A) continue;
            lc_weight *w = target_weight(m, l, (lc_lora_target)t);
            LC_ASSERT(w->rows == p->out && w->cols == p->in);
            lc_status st = own_f32(m, w);
            if (!st) st = kind == LC_INIT_PISSA ? pissa(p, w->data) : olora(p, w->data);
            if (st) return lc_error_wrap(st, "layer %d %s", l, lc_lora_target_name((lc_lora_target)t));
            /* the residual: W (out, in) -= s · B (out, r) · A (r, in) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->out, p->in, p->r, -p->scale, p->B, p->r, p->A,
                        p->in, 1.0f, (float *)w->data, p->in);
        }
    return LC_OK;
}

/* Pattern JSON text with every value multiplied by f (into out, cap bytes). */
static lc_status scale_pattern(const char *text, double f, int integer, char *out, size_t cap) {
    out[0] = 0;
    if (!text[0]) return LC_OK;
    json_t *o = json_loads(text, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return lc_errorf(LC_ERR_CONFIG, "pattern '%s' is not a JSON object", text);
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        double x = json_number_value(v) * f;
        json_object_set_new(o, k, integer ? json_integer((json_int_t)llround(x)) : json_real(x));
    }
    char *s = json_dumps(o, JSON_ENCODE_ANY);
    json_decref(o);
    if (!s) return lc_errorf(LC_ERR_NOMEM, "out of memory");
    size_t n = strlen(s);
    lc_status st = n < cap ? LC_OK : lc_errorf(LC_ERR_CONFIG, "doubled pattern exceeds %zu bytes", cap - 1);
    if (!st) memcpy(out, s, n + 1);
    free(s);
    return st;
}

lc_status lc_lora_convert_to_base(lc_lora *out, const lc_lora *trained, const float *init0, const lc_model *m) {
    lc_lora_config c = trained->cfg;
    /* rank 2r with the same scale: alpha x2 (x sqrt 2 with rsLoRA, whose scale is alpha / sqrt r) */
    double fa = c.rslora ? sqrt(2.0) : 2.0;
    c.r = 2 * trained->cfg.r;
    c.alpha = (float)(fa * trained->cfg.alpha);
    lc_status st = scale_pattern(trained->cfg.rank_pattern, 2.0, 1, c.rank_pattern, sizeof c.rank_pattern);
    if (!st) st = scale_pattern(trained->cfg.alpha_pattern, fa, 0, c.alpha_pattern, sizeof c.alpha_pattern);
    lc_rng rng;
    lc_rng_seed(&rng, 0);
    if (!st) st = lc_lora_init(out, m, &c, &rng);
    if (st) return st;
    for (int l = 0; l < out->n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            lc_lora_pair *q = lc_lora_get(out, l, (lc_lora_target)t);
            const lc_lora_pair *p = lc_lora_get(trained, l, (lc_lora_target)t);
            if (!q->A) continue;
            LC_ASSERT(p->A && q->r == 2 * p->r && fabsf(q->scale - p->scale) <= 1e-6f * fabsf(p->scale));
            int r = p->r, in = p->in;
            const float *A0 = init0 + (p->A - trained->params), *B0 = init0 + (p->B - trained->params);
            memcpy(q->A, p->A, (size_t)r * in * sizeof(float));        /* A = [A'; A0]  (2r, in) */
            memcpy(q->A + (size_t)r * in, A0, (size_t)r * in * sizeof(float));
            for (int o = 0; o < p->out; o++)                            /* B = [B', -B0] (out, 2r) */
                for (int i = 0; i < r; i++) {
                    q->B[(size_t)o * 2 * r + i] = p->B[(size_t)o * r + i];
                    q->B[(size_t)o * 2 * r + r + i] = -B0[(size_t)o * r + i];
                }
        }
    if (out->tok.n) /* trainable tokens replace rows: the same values for either base */
        memcpy(out->tok.delta, trained->tok.delta, (size_t)out->tok.n * out->tok.C * sizeof(float));
    return LC_OK;
}
