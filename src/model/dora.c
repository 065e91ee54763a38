/*
 * dora.c — DoRA over the model's frozen weights (maths in lc_dora.h): the
 * constant row norms ‖W_i‖², the per-step W Aᵀ over dequantised row tiles,
 * the norms of one adapter pair, and PEFT's magnitude initialisation.
 */
#include "lc_dora.h"

#include "lc_quant.h"
#include "lc_kernels.h" /* before cblas.h: its complex.h defines the macro I */

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#define DORA_TILE_FLOATS ((size_t)1 << 20) /* scratch of lc_dora_pair_norms: 4 MB of dequantised rows */

/* Rows [r0, r0 + n) of W as floats: W's own memory when F32, else dequantised into scratch. */
static const float *rows_f32(const lc_weight *W, int r0, int n, float *scratch) {
    if (W->type == LC_DT_F32) return (const float *)W->data + (size_t)r0 * W->cols;
    lc_dequantize_rows(W->type, W->data, (int64_t)lc_dtype_row_bytes(W->type, W->cols), r0, n, W->cols, scratch);
    return scratch;
}

lc_status lc_dora_weight_sq(double *w2, const lc_weight *W) {
    float *row = W->type == LC_DT_F32 ? NULL : lc_alloc((size_t)W->cols * sizeof(float));
    if (W->type != LC_DT_F32 && !row) return lc_errorf(LC_ERR_NOMEM, "out of memory for DoRA row norms");
    for (int i = 0; i < W->rows; i++) {
        const float *w = rows_f32(W, i, 1, row); /* (cols) */
        double ss = 0;
        for (int j = 0; j < W->cols; j++) ss += (double)w[j] * (double)w[j];
        w2[i] = ss;
    }
    lc_free(row);
    return LC_OK;
}

void lc_dora_weight_at(float *WA, const lc_weight *W, const float *A, int r, float *scratch, size_t cap) {
    int in = W->cols, out = W->rows;
    size_t rows = cap / (size_t)in; /* F32 rows take the same tiles as quantised ones */
    int tile = (int)(rows < (size_t)out ? rows : (size_t)out);
    LC_ASSERT(tile >= 1);
    for (int t0 = 0; t0 < out; t0 += tile) {
        int nt = out - t0 < tile ? out - t0 : tile;
        const float *w = rows_f32(W, t0, nt, scratch); /* (nt, in) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nt, r, in, 1.0f, w, in, A, in, 0.0f,
                    WA + (size_t)t0 * r, r);
    }
}

lc_status lc_dora_pair_norms(float *norm, const lc_weight *W, const lc_lora_pair *p, int r, float s) {
    LC_ASSERT(W->rows == p->out && W->cols == p->in);
    size_t cap = DORA_TILE_FLOATS > (size_t)p->in ? DORA_TILE_FLOATS : (size_t)p->in;
    double *w2 = malloc((size_t)p->out * sizeof *w2);
    float *WA = malloc((size_t)p->out * r * sizeof *WA), *gram = malloc((size_t)r * r * sizeof *gram);
    float *scratch = W->type == LC_DT_F32 ? NULL : lc_alloc(cap * sizeof(float));
    lc_status st = LC_OK;
    if (!w2 || !WA || !gram || (W->type != LC_DT_F32 && !scratch))
        st = lc_errorf(LC_ERR_NOMEM, "out of memory for DoRA norms (%d x %d)", p->out, p->in);
    if (!st) st = lc_dora_weight_sq(w2, W);
    if (!st) {
        lc_dora_weight_at(WA, W, p->A, r, scratch, cap);
        lc_dora_norms(norm, w2, WA, p->A, p->B, s, p->in, p->out, r, gram);
    }
    free(w2);
    free(WA);
    free(gram);
    lc_free(scratch);
    return st;
}

lc_status lc_dora_init_magnitude(lc_lora *lora, const lc_model *m) {
    for (int l = 0; l < lora->n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A || !p->mag) continue;
            lc_status st = lc_dora_pair_norms(p->mag, lc_lora_target_weight(m, l, (lc_lora_target)t), p,
                                              p->r, p->scale);
            if (st) return st;
        }
    return LC_OK;
}
