/*
 * test_oracle.c — lorac against PyTorch + PEFT on a whole model (Llama family).
 *
 * usage: test_oracle <hf_model_dir> <case_ref.safetensors>
 *
 * The reference file is written by tests/oracle/make_refs.py (committed, so
 * no torch is needed here). Steps (oracle_harness.h), each compared tensor
 * printed with its max abs error, max|ref| and their ratio:
 *   1. load the HF dir, make an r/alpha adapter on all seven projections and
 *      overwrite its A/B with the reference's initial values;
 *   2. lc_forward logits and loss            (max_abs <= 1e-5 * max|ref|)
 *   3. lc_forward_backward loss and every A/B gradient
 *                                            (loss 1e-5 rel, grads 1e-4 * max|ref|)
 *   4. base logits: lora == NULL, and adapter with B = 0   (1e-5 * max|ref|)
 *   5. 10 AdamW steps (lr 1e-2, wd 0.01, clip 1.0) on the same batch: the
 *      loss before each step (1e-5 rel), the pre-clip grad norm (1e-4 rel, as
 *      for gradients) and
 *      the final A/B (1e-4 * max|ref|, or the reference's per-tensor
 *      "<name>.after10_atol" where float32 noise is measured to be larger).
 * Exits 0 only if every check passes.
 */
#include <stdio.h>

#include "lc_cpu.h"
#include "lc_common.h"
#include "oracle_harness.h"

static int run(const char *dir, const char *ref_path) {
    oracle_case c;
    int rc = -1;
    if (oracle_open(&c, dir, ref_path)) goto fail;
    printf("model %s (%s, L=%d C=%d V=%d), batch B=%d T=%d, %d targets, LoRA r=%d alpha=%g\n", dir,
           lc_arch_name(c.m.cfg.arch), c.m.cfg.n_layers, c.m.cfg.hidden_size, c.V, c.B, c.T, c.n_ref, c.r, c.alpha);
    if (oracle_adapter(&c) || oracle_forward_checks(&c, 0) || oracle_adamw_checks(&c)) goto fail;
    rc = 0;
fail:
    if (rc) oracle_failures++;
    oracle_close(&c);
    return rc;
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    if (argc != 3) {
        fprintf(stderr, "usage: %s <hf_model_dir> <case_ref.safetensors>\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep the table if the engine aborts */
    lc_threads_init(0);
    run(argv[1], argv[2]);
    printf("%d checks, %d failed: %s\n", oracle_checks, oracle_failures, oracle_failures ? "FAIL" : "PASS");
    return oracle_failures ? 1 : 0;
}
