/*
 * test_oracle_bf16.c — lorac's `precision: bf16` against PyTorch (Llama family).
 *
 * usage: test_oracle_bf16 <hf_model_dir> <case_ref.safetensors> <case_bf16_ref.safetensors> PATH...
 *        PATH: bf16-emulated | bf16-onednn
 *
 * For each PATH: the model's projection weights stored in bf16
 * (lc_model_frozen_to_bf16), the activations set to PATH, the reference's
 * adapter, then logits and loss (lc_forward), loss and every A/B gradient
 * (lc_forward_backward) against
 *   bf16def.*   lorac's bf16 definition computed exactly in float64 by
 *               make_refs_bf16.py (same bf16 operands; only fp32 rounding and
 *               accumulation order differ): tight tolerances;
 *   autocast.*  PyTorch + PEFT under torch.autocast(bfloat16): every linear,
 *               LoRA and LM head included, rounds inputs, weights and outputs
 *               to bf16: tolerances derived from bf16's 8-bit mantissa;
 *   the fp32 reference: the bf16 path must differ from it by more than fp32
 *               noise (proof that bf16 rounding ran) and stay within the
 *               bf16 tolerance.
 * With gradient checkpointing the gradients must be bit-identical, and the
 * printed compute path must name the path that ran (for oneDNN: its kernel).
 *
 * Tolerances. bf16 keeps 8 significant bits: round to nearest even has unit
 * roundoff u = 2^-9 (1.95e-3).
 *   vs bf16def: the same bf16 operands, so what is left is fp32 evaluation
 *     (the fp32 oracle's 1e-5 of max|ref| for logits and loss, 1e-4 for
 *     gradients) plus rounding flips: an input that fp32 and float64 put on
 *     different sides of a bf16 rounding midpoint moves by a whole bf16 step
 *     (2u relative). make_refs_bf16.py measures that effect as the distance
 *     between PyTorch's own fp32 and float64 evaluations of the definition and
 *     stores 4x it as "<key>_atol" where it exceeds the fp32 tolerance
 *     (tiny-qwen2: never; stories260K, whose logits are sharp: 1.2e-2 of
 *     max|logits|, 3.7e-2 of a gradient's max).
 *   vs autocast: every linear (LoRA and the LM head too) rounds its input,
 *     weight and output to bf16, attention's QK^T and PV too: about 15
 *     roundings of at most u per layer on the deepest path, plus 3 for the LM
 *     head. Independent rounding errors add in quadrature: sqrt(15 L + 3) u
 *     <= 8.9u for L <= 5 layers. Logits and loss: 16u (3.1e-2) of max|ref|
 *     (about twice that). Gradients are differences of such products (PyTorch's
 *     own autocast is 2.4e-2 .. 6.9e-2 of max|ref| from its fp32 gradients):
 *     64u (0.125) of max|ref|.
 *   vs fp32: more than 10x the fp32 logits tolerance (bf16 rounding ran) and
 *     at most 16u of max|ref|.
 * Exits 0 only if every check passes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_common.h"
#include "lc_cpu.h"
#include "lc_kernels.h"
#include "oracle_harness.h"

#define U_BF16 (1.0 / 512) /* unit roundoff of bf16 (8 significant bits, nearest even) */
#define TOL_DEF_LOGITS 1e-5 /* unless the reference's "<key>_atol" (flips) is larger */
#define TOL_DEF_GRAD 1e-4
#define TOL_AC_LOGITS (16 * U_BF16)
#define TOL_AC_GRAD (64 * U_BF16)

static double max_rel(const float *a, const float *b, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= e)) e = d; /* NaN propagates */
        if (fabs(b[i]) > m) m = fabs(b[i]);
    }
    return m > 0 ? e / m : e;
}

static int forward_checks(oracle_case *c, lc_safetensors *bst, float *fp32_logits) {
    const size_t BTV = (size_t)c->B * c->T * c->V;
    double loss_sum = 0;
    int64_t nt = 0;
    if (lc_forward(&c->m, &c->lora, 1.0f, c->acts, &c->batch, &loss_sum, &nt, c->logits) != LC_OK) {
        fprintf(stderr, "lc_forward: %s\n", lc_error_msg());
        return -1;
    }
    const char *kinds[2] = {"bf16def", "autocast"};
    double tol[2] = {TOL_DEF_LOGITS, TOL_AC_LOGITS};
    for (int i = 0; i < 2; i++) {
        char name[64], what[96];
        snprintf(name, sizeof name, "%s.logits", kinds[i]);
        float *ref = oracle_ref_get(bst, name, LC_ST_F32, BTV), loss_ref;
        snprintf(name, sizeof name, "%s.loss", kinds[i]);
        if (!ref || oracle_ref_scalar_f32(bst, name, &loss_ref)) return free(ref), -1;
        float atol[2] = {0, 0}, loss = (float)(loss_sum / (double)nt);
        if (i == 0 && (oracle_ref_scalar_f32(bst, "bf16def.logits_atol", &atol[0]) ||
                       oracle_ref_scalar_f32(bst, "bf16def.loss_atol", &atol[1])))
            return free(ref), -1;
        snprintf(what, sizeof what, "logits vs %s", kinds[i]);
        oracle_compare(what, c->logits, ref, BTV, tol[i], atol[0]);
        snprintf(what, sizeof what, "loss vs %s", kinds[i]);
        oracle_compare(what, &loss, &loss_ref, 1, tol[i], atol[1]);
        free(ref);
    }
    float *ref = oracle_ref_get(&c->st, "logits", LC_ST_F32, BTV);
    if (!ref) return -1;
    double d = max_rel(c->logits, ref, BTV);
    printf("  logits vs the fp32 reference: max_abs/max|ref| %.3e (bf16 rounding ran: > 1e-4; <= 16u)\n", d);
    oracle_check(d > 10 * ORACLE_TOL_LOGITS && d <= TOL_AC_LOGITS, "bf16 logits: not fp32, within bf16 tolerance");
    if (fp32_logits) memcpy(fp32_logits, c->logits, BTV * sizeof(float));
    free(ref);
    return 0;
}

/* Gradients with and without checkpointing (bit-identical), against both refs. */
static int backward_checks(oracle_case *c, lc_safetensors *bst, lc_matmul_path path) {
    lc_lora *lora = &c->lora;
    double loss_sum = 0;
    int64_t nt = 0;
    lc_acts *ck = NULL;
    float *g = malloc(lora->n_params * sizeof(float));
    int rc = -1;
    if (!g || lc_acts_create_ex(&ck, &c->m, lora, c->B, c->T, 1) || lc_acts_set_matmul_path(ck, &c->m, path)) goto out;
    lc_lora_zero_grad(lora);
    if (lc_forward_backward(&c->m, lora, ck, &c->batch, 1.0f / (float)c->n_ref, 0, &loss_sum, &nt)) goto out;
    memcpy(g, lora->grads, lora->n_params * sizeof(float));
    lc_lora_zero_grad(lora);
    if (lc_forward_backward(&c->m, lora, c->acts, &c->batch, 1.0f / (float)c->n_ref, 0, &loss_sum, &nt)) goto out;
    oracle_check(!memcmp(g, lora->grads, lora->n_params * sizeof(float)),
                 "gradients with checkpointing bit-identical");
    if (oracle_compare_grads(lora, bst, ".grad.bf16def", TOL_DEF_GRAD) ||
        oracle_compare_grads(lora, bst, ".grad.autocast", TOL_AC_GRAD))
        goto out;
    rc = 0;
out:
    if (rc) fprintf(stderr, "backward checks: %s\n", lc_error_msg());
    lc_acts_free(ck);
    free(g);
    return rc;
}

static int cpu_bf16_units(void) {
    lc_cpu_features f;
    lc_cpu_detect(&f);
    return lc_cpu_has_bf16_units(&f);
}

/* One path: 0 when its checks ran, 1 when it was refused where it may be
 * (no logits to compare), else -1. */
static int run_path(const char *dir, const char *ref_path, lc_safetensors *bst, const char *name, float *keep) {
    oracle_case c;
    lc_precision p;
    int forced, rc = -1;
    if (oracle_open(&c, dir, ref_path) || oracle_adapter(&c)) goto fail;
    if (lc_matmul_path_parse(name, &p, &forced) || forced < 0 || lc_model_frozen_to_bf16(&c.m)) {
        fprintf(stderr, "%s: %s\n", name, lc_error_msg());
        goto fail;
    }
    lc_status st = lc_acts_set_matmul_path(c.acts, &c.m, (lc_matmul_path)forced);
    if (st && forced == LC_MATMUL_BF16_ONEDNN && !cpu_bf16_units()) {
        /* oneDNN has no bf16 kernel below AVX-512: the path is refused, clearly */
        printf("path %s: refused on this CPU (no bf16 units): %s\n", name, lc_error_msg());
        oracle_check(st == LC_ERR_UNSUPPORTED && strstr(lc_error_msg(), "bf16-emulated"),
                     "bf16-onednn without bf16 units: refused with a clear error, or ran");
        oracle_close(&c);
        return 1;
    }
    if (st) {
        fprintf(stderr, "%s: %s\n", name, lc_error_msg());
        goto fail;
    }
    printf("path %s: %s (L=%d C=%d V=%d), B=%d T=%d\n", name, dir, c.m.cfg.n_layers, c.m.cfg.hidden_size, c.V, c.B,
           c.T);
    printf("  %-*s %10s %10s %10s %10s\n", oracle_name_width, "tensor", "max_abs", "max|ref|", "rel", "tol");
    if (forward_checks(&c, bst, keep) || backward_checks(&c, bst, (lc_matmul_path)forced)) goto fail;
    char line[1024];
    lc_compute_path_describe(line, sizeof line, lc_acts_matmul_path(c.acts), 0);
    printf("  compute path: %s\n", line);
    oracle_check(strstr(line, name) != NULL, "the printed compute path names the path that ran");
    if (forced == LC_MATMUL_BF16_ONEDNN) {
        oracle_check(strcmp(lc_onednn_impl(), "not run yet") && strstr(line, lc_onednn_impl()),
                     "the printed path names oneDNN's kernel");
        const char *isa = getenv("ONEDNN_MAX_CPU_ISA"); /* a cap without AMX: no AMX kernel may run */
        if (isa && !strstr(isa, "AMX") && !strstr(isa, "amx"))
            oracle_check(!strstr(lc_onednn_impl(), "amx"), "ONEDNN_MAX_CPU_ISA without AMX: no AMX kernel ran");
    }
    rc = 0;
fail:
    if (rc) oracle_failures++;
    oracle_close(&c);
    return rc;
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    if (argc < 5) {
        fprintf(stderr, "usage: %s <hf_model_dir> <case_ref.safetensors> <case_bf16_ref.safetensors> PATH...\n",
                argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    lc_threads_init(0);
    lc_safetensors bst;
    if (lc_safetensors_open(&bst, argv[3]) != LC_OK) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return 1;
    }
    float *logits[2] = {NULL, NULL}; /* the first two paths' logits, compared with each other */
    int ran[2] = {0, 0};
    oracle_case probe; /* only for the logits' size */
    size_t BTV = oracle_open(&probe, argv[1], argv[2]) ? 0 : (size_t)probe.B * probe.T * probe.V;
    oracle_close(&probe);
    for (int i = 4; i < argc; i++) {
        float *keep = i - 4 < 2 && BTV ? (logits[i - 4] = malloc(BTV * sizeof(float))) : NULL;
        if (run_path(argv[1], argv[2], &bst, argv[i], keep) == 0 && i - 4 < 2) ran[i - 4] = 1;
    }
    if (logits[0] && logits[1] && ran[0] && ran[1]) {
        oracle_name_width = 72;
        printf("  %s vs %s (same bf16 operands; fp32 summation order):\n", argv[4], argv[5]);
        oracle_compare("logits, path 1 vs path 2", logits[1], logits[0], BTV, TOL_DEF_LOGITS, 0);
    }
    free(logits[0]), free(logits[1]);
    lc_safetensors_close(&bst);
    printf("%d checks, %d failed: %s\n", oracle_checks, oracle_failures, oracle_failures ? "FAIL" : "PASS");
    return oracle_failures ? 1 : 0;
}
