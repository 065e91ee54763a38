/*
 * test_oracle_gpt2.c — lorac's GPT-2 path against PyTorch + PEFT.
 *
 * usage: test_oracle_gpt2 oracle <hf_gpt2_dir> <tiny-gpt2_ref.safetensors>
 *        test_oracle_gpt2 api    <hf_gpt2_dir>
 *
 * oracle (reference written by make_refs_gpt2.py, committed): load the HF
 * dir (float16 Conv1D weights, transposed and widened by the loader), make an
 * r=4, alpha=8 adapter on c_attn, attn.c_proj, c_fc, mlp.c_proj with the
 * reference's initial A/B (all-linear), then compare with the harness shared
 * with tests/oracle (tests/oracle/oracle_harness.h):
 *   logits, loss (lc_forward)                       1e-5 * max|ref|, 1e-5 rel
 *   loss and every A/B gradient (lc_forward_backward)  1e-5 rel, 1e-4 * max|ref|
 *   base logits: lora = NULL, and every lora_B = 0  1e-5 * max|ref|
 *   10 AdamW steps (lr 1e-2, wd 0.01, clip 1.0): loss and pre-clip grad norm
 *   per step (1e-5 / 1e-4 rel), final A/B (per-tensor atol from the file)
 *   and: gradient checkpointing gives bit-identical gradients (also with
 *   LoRA dropout); parameter count = HF num_parameters().
 * api: target_modules parsing for GPT-2 (c_proj = both, all-linear = the
 * four, Llama names refused), PEFT tensor names, config refusals.
 * Exits 0 only if every check passes.
 */
#define _DEFAULT_SOURCE /* realpath, mkdtemp, symlink */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lc_cpu.h"
#include "lc_common.h"
#include "lc_loader.h"
#include "lc_lora.h"
#include "lc_model.h"
#include "lc_transformer.h"
#include "oracle_harness.h"

/* Gradients with and without checkpointing, at dropout p: must be equal bit for bit. */
static void check_checkpointing(const lc_model *m, lc_lora *lora, const lc_batch *b, int n_ref, float p) {
    lc_acts *a0 = NULL, *a1 = NULL;
    float *g0 = malloc(lora->n_params * sizeof(float));
    double l0 = 0, l1 = 0;
    float saved = lora->cfg.dropout;
    lora->cfg.dropout = p;
    int ok = g0 && lc_acts_create_ex(&a0, m, lora, b->B, b->T, 0) == LC_OK &&
             lc_acts_create_ex(&a1, m, lora, b->B, b->T, 1) == LC_OK;
    if (ok) {
        lc_lora_zero_grad(lora);
        ok = lc_forward_backward(m, lora, a0, b, 1.0f / (float)n_ref, 77, &l0, NULL) == LC_OK;
        memcpy(g0, lora->grads, lora->n_params * sizeof(float));
        lc_lora_zero_grad(lora);
        ok = ok && lc_forward_backward(m, lora, a1, b, 1.0f / (float)n_ref, 77, &l1, NULL) == LC_OK;
    }
    if (!ok) fprintf(stderr, "checkpointing run: %s\n", lc_error_msg());
    char what[128];
    snprintf(what, sizeof what, "grad checkpointing: bit-identical loss and grads (dropout %.1f, %.1f vs %.1f MB)", p,
             a0 ? lc_acts_bytes(a0) / 1e6 : 0.0, a1 ? lc_acts_bytes(a1) / 1e6 : 0.0);
    oracle_check(ok && l0 == l1 && !memcmp(g0, lora->grads, lora->n_params * sizeof(float)) &&
                     lc_acts_bytes(a1) < lc_acts_bytes(a0),
                 what);
    lora->cfg.dropout = saved;
    lc_acts_free(a0);
    lc_acts_free(a1);
    free(g0);
}

static int run_oracle(const char *dir, const char *ref_path) {
    oracle_case c;
    int rc = -1;
    if (oracle_open(&c, dir, ref_path)) goto fail;
    int32_t *np_ref = oracle_ref_get(&c.st, "meta.n_params", LC_ST_I32, 1);
    int64_t n_params = np_ref ? np_ref[0] : -1;
    free(np_ref);
    const lc_model_config *mc = &c.m.cfg;
    printf("model %s (%s, L=%d C=%d F=%d H=%d P=%d V=%d eps=%g), batch B=%d T=%d, %d targets, LoRA r=%d "
           "alpha=%g\n",
           dir, lc_arch_name(mc->arch), mc->n_layers, mc->hidden_size, mc->intermediate_size, mc->n_heads,
           mc->max_position, c.V, mc->layer_norm_eps, c.B, c.T, c.n_ref, c.r, c.alpha);
    oracle_check(mc->arch == LC_ARCH_GPT2 && mc->n_layers == 2 && mc->hidden_size == 64 &&
                     mc->intermediate_size == 256 && mc->n_heads == 4 && mc->max_position == 64 && c.V == 97 &&
                     mc->tie_embeddings && mc->layer_norm_eps == 1e-5f && c.m.lm_head.data == c.m.tok_emb.data,
                 "config: GPT2LMHeadModel 2 x 64, n_inner null -> 256, tied");
    char what[128];
    snprintf(what, sizeof what, "parameter count %lld = HF num_parameters() %lld",
             (long long)lc_model_param_count(&c.m), (long long)n_params);
    oracle_check(lc_model_param_count(&c.m) == n_params, what);

    /* adapter on all four GPT-2 linears; the shared checks up to base logits */
    if (oracle_adapter(&c) || oracle_forward_checks(&c, 1)) goto fail;
    check_checkpointing(&c.m, &c.lora, &c.batch, c.n_ref, 0.0f);
    check_checkpointing(&c.m, &c.lora, &c.batch, c.n_ref, 0.1f);
    if (oracle_adamw_checks(&c)) goto fail;
    rc = 0;
fail:
    if (rc) oracle_failures++;
    oracle_close(&c);
    return rc;
}

/* Write `text` as <tmp>/config.json next to a link to the real weights and
 * load it: returns the status (message in lc_error_msg()). */
static lc_status load_with_config(const char *weights_dir, const char *tmp, const char *text) {
    char p[1024], w[PATH_MAX + 32], abs_dir[PATH_MAX];
    if (!realpath(weights_dir, abs_dir)) return lc_errorf(LC_ERR_IO, "%s: not found", weights_dir);
    snprintf(p, sizeof p, "%s/config.json", tmp);
    FILE *f = fopen(p, "w");
    if (!f) return lc_errorf(LC_ERR_IO, "cannot write %s", p);
    fputs(text, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/model.safetensors", tmp);
    snprintf(w, sizeof w, "%s/model.safetensors", abs_dir);
    unlink(p);
    if (symlink(w, p)) return lc_errorf(LC_ERR_IO, "cannot link %s", p);
    lc_model m;
    lc_status st = lc_model_load_hf(&m, tmp);
    if (!st) lc_model_free(&m);
    return st;
}

static void expect_error(lc_status st, lc_status want, const char *needle, const char *what) {
    const char *msg = st ? lc_error_msg() : "(no error)";
    char line[256];
    snprintf(line, sizeof line, "%s -> %.120s", what, msg);
    oracle_check(st == want && strstr(msg, needle) != NULL, line);
}

static int run_api(const char *dir) {
    unsigned mask = 0;
    const unsigned cproj = (1u << LC_T_ATTN_C_PROJ) | (1u << LC_T_MLP_C_PROJ);
    const unsigned all = (1u << LC_T_C_ATTN) | cproj | (1u << LC_T_C_FC);
    oracle_check(lc_lora_targets_parse_arch("c_proj", LC_ARCH_GPT2, &mask) == LC_OK && mask == cproj,
                 "\"c_proj\" selects attn.c_proj and mlp.c_proj (PEFT suffix match)");
    oracle_check(lc_lora_targets_parse_arch("attn.c_proj", LC_ARCH_GPT2, &mask) == LC_OK &&
                     mask == (1u << LC_T_ATTN_C_PROJ),
                 "\"attn.c_proj\" selects only the attention one");
    oracle_check(lc_lora_targets_parse_arch("all-linear", LC_ARCH_GPT2, &mask) == LC_OK && mask == all,
                 "all-linear = c_attn, attn.c_proj, c_fc, mlp.c_proj for GPT-2");
    oracle_check(lc_lora_targets_parse_arch("all-linear", LC_ARCH_LLAMA, &mask) == LC_OK && mask == 0x7f,
                 "all-linear = the seven projections for Llama");
    expect_error(lc_lora_targets_parse_arch("q_proj,c_attn", LC_ARCH_GPT2, &mask), LC_ERR_CONFIG, "c_attn",
                 "q_proj refused for GPT-2");
    expect_error(lc_lora_targets_parse_arch("c_attn", LC_ARCH_QWEN2, &mask), LC_ERR_CONFIG, "q_proj",
                 "c_attn refused for Qwen2");
    oracle_check(lc_lora_targets_parse("c_attn,attn.c_proj,c_fc,mlp.c_proj", &mask) == LC_OK && mask == all,
                 "stored GPT-2 target list parses back (lc_lora_targets_parse)");
    char name[256];
    lc_lora_tensor_name(name, sizeof name, 1, LC_T_C_ATTN, 0);
    oracle_check(!strcmp(name, "base_model.model.transformer.h.1.attn.c_attn.lora_A.weight"), name);
    lc_lora_tensor_name(name, sizeof name, 0, LC_T_MLP_C_PROJ, 1);
    oracle_check(!strcmp(name, "base_model.model.transformer.h.0.mlp.c_proj.lora_B.weight"), name);
    lc_lora_tensor_name(name, sizeof name, 0, LC_T_ATTN_C_PROJ, 1);
    oracle_check(!strcmp(name, "base_model.model.transformer.h.0.attn.c_proj.lora_B.weight"), name);
    lc_lora_tensor_name(name, sizeof name, 3, LC_T_Q, 0);
    oracle_check(!strcmp(name, "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight"), name);

    /* an adapter for Llama targets on a GPT-2 model is refused; all-linear keeps the four */
    lc_model m;
    lc_lora lora;
    lc_rng rng;
    lc_rng_seed(&rng, 5);
    if (lc_model_load_hf(&m, dir) != LC_OK) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return -1;
    }
    lc_lora_config lc = lc_lora_default_config(); /* q_proj, v_proj */
    expect_error(lc_lora_init(&lora, &m, &lc, &rng), LC_ERR_CONFIG, "c_attn", "q_proj,v_proj on GPT-2 refused");
    lc_lora_targets_parse("all-linear", &lc.targets);
    int ok = lc_lora_init(&lora, &m, &lc, &rng) == LC_OK;
    oracle_check(ok && lora.cfg.targets == all && lora.arch == LC_ARCH_GPT2 &&
                     lc_lora_get(&lora, 0, LC_T_C_ATTN)->out == 192 && lc_lora_get(&lora, 0, LC_T_C_ATTN)->in == 64 &&
                     lc_lora_get(&lora, 1, LC_T_MLP_C_PROJ)->in == 256,
                 "all-linear on GPT-2: four targets, c_attn B (3C, r), mlp.c_proj A (r, F)");
    if (ok) lc_lora_free(&lora);
    /* T beyond n_positions */
    lc_acts *a = NULL;
    expect_error(lc_acts_create(&a, &m, NULL, 1, 65), LC_ERR_ARG, "n_positions", "T = 65 > n_positions 64");
    lc_model_free(&m);

    /* config refusals, each with the real weights beside it */
    char tmp[] = "/tmp/lc_gpt2_cfgXXXXXX";
    if (!mkdtemp(tmp)) return -1;
    const char *good = "{\"architectures\":[\"GPT2LMHeadModel\"],\"model_type\":\"gpt2\",\"vocab_size\":97,"
                       "\"n_embd\":64,\"n_layer\":2,\"n_head\":4,\"n_positions\":64,\"n_inner\":null";
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "%s}", good);
    oracle_check(load_with_config(dir, tmp, cfg) == LC_OK, "minimal GPT-2 config (defaults) loads");
    snprintf(cfg, sizeof cfg, "%s,\"activation_function\":\"relu\"}", good);
    expect_error(load_with_config(dir, tmp, cfg), LC_ERR_UNSUPPORTED, "gelu_new", "activation relu");
    snprintf(cfg, sizeof cfg, "%s,\"n_head\":5}", good);
    expect_error(load_with_config(dir, tmp, cfg), LC_ERR_CONFIG, "n_head", "n_head 5 does not divide 64");
    snprintf(cfg, sizeof cfg, "%s,\"n_inner\":128}", good);
    expect_error(load_with_config(dir, tmp, cfg), LC_ERR_FORMAT, "c_fc.weight", "n_inner 128: c_fc shape");
    snprintf(cfg, sizeof cfg, "%s,\"n_layer\":1}", good);
    expect_error(load_with_config(dir, tmp, cfg), LC_ERR_FORMAT, "unexpected tensor", "n_layer 1: layer 1 extra");
    snprintf(cfg, sizeof cfg, "%s,\"n_layer\":3}", good);
    expect_error(load_with_config(dir, tmp, cfg), LC_ERR_FORMAT, "h.2.ln_1.weight", "n_layer 3: layer 2 missing");
    snprintf(cfg, sizeof cfg, "{\"model_type\":\"gpt2\",\"vocab_size\":97,\"n_layer\":2}");
    expect_error(load_with_config(dir, tmp, cfg), LC_ERR_CONFIG, "n_embd", "n_embd missing");
    char p[1100];
    snprintf(p, sizeof p, "%s/config.json", tmp);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", tmp);
    unlink(p);
    rmdir(tmp);
    return 0;
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core: as lorac runs (lc_cpu.h) */
    if (argc < 3 || (strcmp(argv[1], "oracle") && strcmp(argv[1], "api")) ||
        (!strcmp(argv[1], "oracle") && argc != 4)) {
        fprintf(stderr, "usage: %s oracle <hf_gpt2_dir> <ref.safetensors> | api <hf_gpt2_dir>\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    oracle_name_width = 60; /* this table's tensor names are short */
    lc_threads_init(0);
    int rc = !strcmp(argv[1], "oracle") ? run_oracle(argv[2], argv[3]) : run_api(argv[2]);
    if (rc) oracle_failures++;
    printf("%d checks, %d failed: %s\n", oracle_checks, oracle_failures, oracle_failures ? "FAIL" : "PASS");
    return oracle_failures ? 1 : 0;
}
