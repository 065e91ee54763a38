/*
 * test_lora_init.c — lc_lora_init_from_weights (PiSSA / OLoRA) against PEFT.
 *
 * usage: test_lora_init <hf_model_dir> <ref.safetensors>   (written by inits.py)
 *
 * The reference's metadata gives the init ("pissa" / "olora"), r, alpha and
 * rank_pattern; for each adapted module it holds PEFT's lora_A, lora_B,
 * s·B·A and residual weight, each with its tolerance "<name>.atol" =
 * max(1e-5 max|ref|, 4 × PEFT's measured float32 noise). lorac loads the
 * model, makes the adapter from the same config, runs the init, and
 * compares: the module's scaling (1e-7 rel), s·B·A and the residual weight
 * (sign-free), and A and B with each component's sign aligned to PEFT's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_cpu.h"
#include "lc_loader.h"
#include "lc_lora.h"
#include "oracle_harness.h"

static const lc_weight *weight_of(const lc_model *m, int l, lc_lora_target t) {
    const lc_layer *L = &m->layers[l];
    const lc_weight *w[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    return t < 7 ? w[t] : NULL;
}

/* Compare got (n) against "<module>.<tag>" with its stored tolerance. */
static void compare_tensor(const lc_safetensors *st, const char *module, const char *tag, const float *got, size_t n) {
    char name[300], atol_name[320];
    snprintf(name, sizeof name, "%s.%s", module, tag);
    snprintf(atol_name, sizeof atol_name, "%s.atol", name);
    float *ref = oracle_ref_get(st, name, LC_ST_F32, n), atol = 0;
    if (!ref || oracle_ref_scalar_f32(st, atol_name, &atol)) {
        oracle_check(0, name);
        free(ref);
        return;
    }
    oracle_compare(name + strlen("base_model.model.model."), got, ref, n, 1e-5, atol);
    free(ref);
}

static int run(const char *dir, const char *ref_path) {
    lc_model m;
    lc_safetensors st;
    lc_lora lora = {0};
    if (lc_model_load_hf(&m, dir) || lc_safetensors_open(&st, ref_path)) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return -1;
    }
    const char *kind = lc_safetensors_meta(&st, "init"), *rp = lc_safetensors_meta(&st, "rank_pattern");
    const char *rs = lc_safetensors_meta(&st, "r"), *as = lc_safetensors_meta(&st, "alpha");
    if (!kind || !rp || !rs || !as) {
        fprintf(stderr, "%s: metadata init / r / alpha / rank_pattern missing\n", ref_path);
        return -1;
    }
    lc_lora_config cfg = lc_lora_default_config();
    cfg.r = atoi(rs);
    cfg.alpha = (float)atof(as);
    snprintf(cfg.rank_pattern, sizeof cfg.rank_pattern, "%s", rp);
    lc_lora_targets_parse_arch("all-linear", m.cfg.arch, &cfg.targets);
    lc_rng rng;
    lc_rng_seed(&rng, 1);
    lc_lora_init_kind k = !strcmp(kind, "pissa") ? LC_INIT_PISSA : LC_INIT_OLORA;
    if (lc_lora_init(&lora, &m, &cfg, &rng) || lc_lora_init_from_weights(&lora, &m, k)) {
        fprintf(stderr, "init: %s\n", lc_error_msg());
        return -1;
    }
    printf("%s on %s (r %d, alpha %g, rank_pattern %s)\n", kind, dir, cfg.r, cfg.alpha, rp);
    printf("  %-*s %10s %10s %10s %10s\n", oracle_name_width, "tensor", "max_abs", "max|ref|", "rel", "tol");
    char module[256];
    for (int l = 0; l < lora.n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            lc_lora_pair *p = lc_lora_get(&lora, l, (lc_lora_target)t);
            if (!p->A) continue;
            lc_lora_tensor_name(module, sizeof module, l, (lc_lora_target)t, 0);
            *strstr(module, ".lora_A.weight") = 0;
            char sname[300];
            snprintf(sname, sizeof sname, "%s.scaling", module);
            float s_ref;
            if (!oracle_ref_scalar_f32(&st, sname, &s_ref)) oracle_compare_scalar(sname + 23, p->scale, s_ref, 1e-7);
            size_t nA = (size_t)p->r * p->in, nB = (size_t)p->out * p->r, nW = (size_t)p->out * p->in;
            /* s·B·A in double, then the residual the model now holds */
            float *ba = malloc(nW * sizeof *ba);
            for (int o = 0; o < p->out; o++)
                for (int j = 0; j < p->in; j++) {
                    double acc = 0;
                    for (int i = 0; i < p->r; i++) acc += (double)p->B[(size_t)o * p->r + i] * p->A[(size_t)i * p->in + j];
                    ba[(size_t)o * p->in + j] = (float)(p->scale * acc);
                }
            compare_tensor(&st, module, "sBA", ba, nW);
            const lc_weight *w = weight_of(&m, l, (lc_lora_target)t);
            oracle_check(w->type == LC_DT_F32, "residual held in fp32");
            compare_tensor(&st, module, "residual", w->data, nW);
            /* A and B, sign of each component aligned to PEFT's A */
            char an[300];
            snprintf(an, sizeof an, "%s.lora_A", module);
            float *Aref = oracle_ref_get(&st, an, LC_ST_F32, nA);
            float *A = malloc(nA * sizeof *A), *B = malloc(nB * sizeof *B);
            for (int i = 0; i < p->r && Aref; i++) {
                double d = 0;
                for (int j = 0; j < p->in; j++) d += (double)p->A[(size_t)i * p->in + j] * Aref[(size_t)i * p->in + j];
                float sg = d < 0 ? -1.0f : 1.0f;
                for (int j = 0; j < p->in; j++) A[(size_t)i * p->in + j] = sg * p->A[(size_t)i * p->in + j];
                for (int o = 0; o < p->out; o++) B[(size_t)o * p->r + i] = sg * p->B[(size_t)o * p->r + i];
            }
            if (Aref) {
                compare_tensor(&st, module, "lora_A", A, nA);
                compare_tensor(&st, module, "lora_B", B, nB);
            } else {
                oracle_check(0, an);
            }
            free(Aref), free(A), free(B), free(ba);
        }
    lc_lora_free(&lora);
    lc_safetensors_close(&st);
    lc_model_free(&m);
    return 0;
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv);
    if (argc != 3) {
        fprintf(stderr, "usage: %s <hf_model_dir> <ref.safetensors>\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    lc_threads_init(0);
    if (run(argv[1], argv[2])) oracle_failures++;
    printf("%d checks, %d failed: %s\n", oracle_checks, oracle_failures, oracle_failures ? "FAIL" : "PASS");
    return oracle_failures ? 1 : 0;
}
