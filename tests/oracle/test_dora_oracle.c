/*
 * test_dora_oracle.c — lorac's DoRA against PEFT (use_dora=True) on a whole
 * model; the reference file comes from tests/oracle/dora_oracle.py, which
 * runs this binary (ctest oracle_dora_f32 / _q8_0 / _q4_1).
 *
 * usage: test_dora_oracle <hf_model_dir> <dora_ref.safetensors> <f32|q8_0|q4_1>
 *
 *   0. q8_0 / q4_1: every projection weight quantised with lc_quantize (the
 *      reference quantised the same weights with gguf-python, bit-identical);
 *   1. a fresh DoRA adapter's magnitude is ‖W_i‖ (B = 0), as PEFT initialises
 *      it: checked against the row norms in double (rel 1e-6: float32
 *      rounding of a double norm is 6e-8);
 *   2. A, B and magnitude set to the reference's; lc_forward logits
 *      (1e-5 · max|ref|) and loss (1e-5 rel); the generation engine
 *      (lc_infer: prefill and one-token decode) on row 0 (1e-5 · max|ref|);
 *   3. lc_forward_backward: loss, every lora_A / lora_B / lora_magnitude_vector
 *      gradient (1e-4 · max|ref| each), and the same with gradient
 *      checkpointing (bit-identical: same kernels, same order);
 *   4. 3 AdamW steps (lr 1e-2, wd 0.01, clip 1.0): loss (1e-5 rel) and
 *      pre-clip grad norm (1e-4 rel) before each — the norms ‖W + sBA‖ are
 *      recomputed every step — and every parameter after (1e-4 · max|ref|, or
 *      the reference's "<name>.after3_atol" = 4 × the measured float32 noise
 *      where that is larger);
 *   5. dropout: see dropout_check.
 * The tolerances are today's oracle tolerances (tests/oracle/README.md); the
 * float32-vs-float64 noise the generator prints is 1e-7 … 1e-6 of max|ref|.
 * Exits 0 only if every check passes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_cpu.h"
#include "lc_common.h"
#include "lc_dora.h"
#include "lc_quant.h"
#include "oracle_harness.h"

#define STEPS 3

/* Quantise every projection of m to type t in place (buffers owned by m). */
static int quantize_model(lc_model *m, lc_dtype t) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < 7; k++) {
            lc_weight *W = (lc_weight *)lc_lora_target_weight(m, l, (lc_lora_target)k);
            size_t rb = lc_dtype_row_bytes(t, W->cols);
            uint8_t *q = lc_alloc(rb * W->rows);
            if (!q || lc_model_own(m, q, rb * W->rows, 0) != LC_OK) return -1;
            for (int r = 0; r < W->rows; r++)
                lc_quantize(t, (const float *)W->data + (size_t)r * W->cols, q + r * rb, W->cols);
            W->data = q;
            W->type = t;
        }
    return 0;
}

/* For each pair: name of tensor `which` (0 A, 1 B, 2 magnitude), its data and size. */
static float *param(lc_lora_pair *p, int which, int r, size_t *n) {
    *n = which == 0 ? (size_t)r * p->in : which == 1 ? (size_t)p->out * r : (size_t)p->out;
    return which == 0 ? p->A : which == 1 ? p->B : p->mag;
}
static float *grad(lc_lora_pair *p, int which) { return which == 0 ? p->dA : which == 1 ? p->dB : p->dmag; }
static void pname(char *buf, size_t size, int l, int t, int which) {
    if (which == 2) lc_lora_magnitude_name(buf, size, l, (lc_lora_target)t);
    else lc_lora_tensor_name(buf, size, l, (lc_lora_target)t, which);
}

/* mode 0: copy the reference's "<name>" into the adapter; 1: compare gradients
 * with "<name>.grad"; 2: compare parameters with "<name>.after3" (atol from the file). */
static int each_tensor(lc_lora *lora, const lc_safetensors *st, int mode) {
    char name[256], key[300];
    for (int l = 0; l < lora->n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A) continue;
            for (int w = 0; w < 3; w++) {
                size_t n;
                float *x = param(p, w, lora->cfg.r, &n);
                pname(name, sizeof name, l, t, w);
                snprintf(key, sizeof key, "%s%s", name, mode == 0 ? "" : mode == 1 ? ".grad" : ".after3");
                float *ref = oracle_ref_get(st, key, LC_ST_F32, n), atol = 0;
                if (!ref) return -1;
                if (mode == 0) memcpy(x, ref, n * sizeof(float));
                if (mode == 2) {
                    snprintf(key, sizeof key, "%s.after3_atol", name);
                    if (oracle_ref_scalar_f32(st, key, &atol)) return free(ref), -1;
                    snprintf(key, sizeof key, "%s.after3", name);
                }
                if (mode == 1) oracle_compare(key, grad(p, w), ref, n, ORACLE_TOL_GRAD, 0);
                if (mode == 2) oracle_compare(key, x, ref, n, ORACLE_TOL_PARAM, atol);
                free(ref);
            }
        }
    return 0;
}

/* Step 1: the magnitude of a fresh adapter is ‖W_i‖ (double, from the dequantised rows). */
static void check_init(const lc_lora *lora, const lc_model *m) {
    double worst = 0;
    for (int l = 0; l < lora->n_layers; l++)
        for (int t = 0; t < 7; t++) {
            const lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            const lc_weight *W = lc_lora_target_weight(m, l, (lc_lora_target)t);
            float *row = malloc((size_t)W->cols * sizeof(float));
            for (int i = 0; i < W->rows; i++) {
                lc_dequantize_rows(W->type, W->data, (int64_t)lc_dtype_row_bytes(W->type, W->cols), i, 1, W->cols,
                                   row);
                double ss = 0;
                for (int j = 0; j < W->cols; j++) ss += (double)row[j] * row[j];
                double e = fabs(p->mag[i] - sqrt(ss)) / sqrt(ss);
                if (!(e <= worst)) worst = e;
            }
            free(row);
        }
    printf("  fresh adapter: max rel |magnitude - ||W_i|||  = %.3e (tol 1e-6)\n", worst);
    oracle_check(worst <= 1e-6, "initial magnitude = row norms of W (PEFT init, B = 0)");
}

/* Step 5: DoRA with dropout (PEFT's base_result = None path: W x̃ in forward,
 * mask ⊙ ((g-1) ⊙ dy) W in backward), which PEFT cannot be made to share a
 * mask with: the magnitude gradient against central differences of the
 * engine's own training loss (same seed = same mask) along a random
 * direction v over all magnitudes. The norm does not depend on m, so this is
 * the exact derivative; it runs through every later layer's dx, so the
 * dropout dx path is checked too. h = 1e-2 along v ~ N(0,1) (magnitudes are
 * O(1)): the O(h²) truncation plus float loss noise (~1e-7 of the loss / 2h)
 * measure 5e-4 of |g·v| on tiny-qwen2 fp32: tol 2e-3 rel (4x). Without the dropout formula (p = 0's gradient) the check must
 * fail: that is asserted too. */
static int dropout_check(oracle_case *c) {
    lc_lora *lora = &c->lora;
    lc_acts *a = NULL;
    float *v = calloc(lora->n_params, sizeof(float)), *g = malloc(lora->n_params * sizeof(float));
    lc_rng rng;
    lc_rng_seed(&rng, 77);
    for (int l = 0; l < lora->n_layers; l++)
        for (int t = 0; t < 7; t++) {
            lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            for (int i = 0; i < p->out; i++) v[p->mag - lora->params + i] = lc_rng_normal(&rng);
        }
    double loss = 0, gv = 0, gv0 = 0, lp = 0, lm = 0, h = 1e-2;
    int64_t nt;
    float gs = 1.0f / (float)c->n_ref;
    lc_status st = lc_acts_create(&a, &c->m, lora, c->B, c->T); /* p = 0 gradient first (negative control) */
    if (!st) lc_lora_zero_grad(lora), st = lc_forward_backward(&c->m, lora, a, &c->batch, gs, 9, &loss, &nt);
    for (size_t i = 0; i < lora->n_params; i++) gv0 += (double)lora->grads[i] * v[i];
    lc_acts_free(a), a = NULL;
    lora->cfg.dropout = 0.3f;
    if (!st) st = lc_acts_create(&a, &c->m, lora, c->B, c->T);
    if (!st) lc_lora_zero_grad(lora), st = lc_forward_backward(&c->m, lora, a, &c->batch, gs, 9, &loss, &nt);
    if (!st) memcpy(g, lora->grads, lora->n_params * sizeof(float));
    for (int sign = 1; !st && sign >= -1; sign -= 2) {
        for (size_t i = 0; i < lora->n_params; i++) lora->params[i] += (float)(sign * h) * v[i];
        st = lc_forward_backward(&c->m, lora, a, &c->batch, gs, 9, sign > 0 ? &lp : &lm, &nt);
        for (size_t i = 0; i < lora->n_params; i++) lora->params[i] -= (float)(sign * h) * v[i];
    }
    for (size_t i = 0; i < lora->n_params; i++) gv += (double)g[i] * v[i];
    if (!st) {
        double fd = (lp - lm) / (2 * h) / (double)nt, rel = fabs(fd - gv) / fabs(fd), rel0 = fabs(fd - gv0) / fabs(fd);
        printf("  dropout 0.3: magnitude grad . v = %.6e, central difference %.6e: rel err %.2e (tol 2e-3); "
               "the p = 0 gradient is %.2e off\n", gv, fd, rel, rel0);
        oracle_check(rel <= 2e-3, "dropout: magnitude gradient = d loss / d m (central differences)");
        oracle_check(rel0 > 2e-2, "dropout: the check tells the dropout formula from p = 0's");
    }
    lora->cfg.dropout = 0;
    lc_acts_free(a);
    free(v), free(g);
    return st ? -1 : 0;
}

static int run(const char *dir, const char *ref_path, const char *qtype) {
    oracle_case c;
    lc_acts *ck = NULL;
    float *g0 = NULL;
    int rc = -1;
    if (oracle_open(&c, dir, ref_path)) goto fail;
    if (strcmp(qtype, "f32") && quantize_model(&c.m, !strcmp(qtype, "q8_0") ? LC_DT_Q8_0 : LC_DT_Q4_1)) goto fail;
    printf("model %s, projections %s, batch B=%d T=%d, %d targets, DoRA r=%d alpha=%g\n", dir, qtype, c.B, c.T,
           c.n_ref, c.r, c.alpha);
    lc_lora_config cfg = lc_lora_default_config();
    cfg.r = c.r, cfg.alpha = c.alpha, cfg.use_dora = 1;
    lc_rng rng;
    lc_rng_seed(&rng, 1);
    if (lc_lora_targets_parse_arch("all-linear", c.m.cfg.arch, &cfg.targets) ||
        lc_lora_init(&c.lora, &c.m, &cfg, &rng)) {
        fprintf(stderr, "%s\n", lc_error_msg());
        goto fail;
    }
    c.have_lora = 1;
    check_init(&c.lora, &c.m);
    if (each_tensor(&c.lora, &c.st, 0)) goto fail;
    size_t BTV = (size_t)c.B * c.T * c.V;
    c.logits = malloc(BTV * sizeof(float));
    float *ref_logits = oracle_ref_get(&c.st, "logits", LC_ST_F32, BTV), ref_loss;
    if (!c.logits || !ref_logits || oracle_ref_scalar_f32(&c.st, "loss", &ref_loss)) goto fail;
    if (lc_acts_create(&c.acts, &c.m, &c.lora, c.B, c.T) ||
        lc_acts_create_ex(&ck, &c.m, &c.lora, c.B, c.T, 1)) {
        fprintf(stderr, "%s\n", lc_error_msg());
        free(ref_logits);
        goto fail;
    }
    double loss_sum = 0;
    int64_t nt = 0;
    if (lc_forward(&c.m, &c.lora, 1.0f, c.acts, &c.batch, &loss_sum, &nt, c.logits)) goto fail_msg;
    oracle_compare("logits (lc_forward)", c.logits, ref_logits, BTV, ORACLE_TOL_LOGITS, 0);
    if (oracle_infer_check(&c, ref_logits)) {
        free(ref_logits);
        goto fail_msg;
    }
    free(ref_logits);
    oracle_compare_scalar("loss (lc_forward)", loss_sum / (double)nt, ref_loss, ORACLE_TOL_LOSS);
    lc_lora_zero_grad(&c.lora);
    if (lc_forward_backward(&c.m, &c.lora, c.acts, &c.batch, 1.0f / (float)c.n_ref, 0, &loss_sum, &nt))
        goto fail_msg;
    oracle_compare_scalar("loss (lc_forward_backward)", loss_sum / (double)nt, ref_loss, ORACLE_TOL_LOSS);
    if (each_tensor(&c.lora, &c.st, 1)) goto fail;
    g0 = malloc(c.lora.n_params * sizeof(float));
    if (!g0) goto fail;
    memcpy(g0, c.lora.grads, c.lora.n_params * sizeof(float));
    lc_lora_zero_grad(&c.lora);
    if (lc_forward_backward(&c.m, &c.lora, ck, &c.batch, 1.0f / (float)c.n_ref, 0, &loss_sum, &nt)) goto fail_msg;
    oracle_check(!memcmp(g0, c.lora.grads, c.lora.n_params * sizeof(float)),
                 "gradients with grad_checkpointing bit-identical");
    /* AdamW steps */
    float *losses = oracle_ref_get(&c.st, "losses_3", LC_ST_F32, STEPS);
    float *norms = oracle_ref_get(&c.st, "grad_norms_3", LC_ST_F32, STEPS);
    if (!losses || !norms) {
        free(losses), free(norms);
        goto fail;
    }
    lc_adamw_params opt = lc_adamw_default_params();
    opt.lr = 1e-2f, opt.weight_decay = 0.01f, opt.max_grad_norm = 1.0f;
    memset(c.lora.m, 0, c.lora.n_params * sizeof(float));
    memset(c.lora.v, 0, c.lora.n_params * sizeof(float));
    for (int s = 0; s < STEPS; s++) {
        char what[64];
        double gn = 0;
        lc_lora_zero_grad(&c.lora);
        if (lc_forward_backward(&c.m, &c.lora, c.acts, &c.batch, 1.0f / (float)c.n_ref, (uint64_t)s, &loss_sum,
                                &nt) ||
            lc_lora_optimizer_step(&c.lora, &opt, s + 1, &gn)) {
            free(losses), free(norms);
            goto fail_msg;
        }
        snprintf(what, sizeof what, "step %d loss", s + 1);
        oracle_compare_scalar(what, loss_sum / (double)nt, losses[s], ORACLE_TOL_LOSS);
        snprintf(what, sizeof what, "step %d grad norm (pre-clip)", s + 1);
        oracle_compare_scalar(what, gn, norms[s], ORACLE_TOL_NORM);
    }
    free(losses), free(norms);
    if (each_tensor(&c.lora, &c.st, 2)) goto fail;
    if (dropout_check(&c)) goto fail_msg;
    rc = 0;
    goto fail;
fail_msg:
    fprintf(stderr, "%s\n", lc_error_msg());
fail:
    if (rc) oracle_failures++;
    free(g0);
    lc_acts_free(ck);
    oracle_close(&c);
    return rc;
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv);
    if (argc != 4 || (strcmp(argv[3], "f32") && strcmp(argv[3], "q8_0") && strcmp(argv[3], "q4_1"))) {
        fprintf(stderr, "usage: %s <hf_model_dir> <dora_ref.safetensors> <f32|q8_0|q4_1>\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    lc_threads_init(0);
    run(argv[1], argv[2], argv[3]);
    printf("%d checks, %d failed: %s\n", oracle_checks, oracle_failures, oracle_failures ? "FAIL" : "PASS");
    return oracle_failures ? 1 : 0;
}
