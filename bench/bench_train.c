/*
 * bench_train.c — LoRA training throughput at the SmolLM2-135M shape with
 * random fp32 weights (or a real model given with --model): B=4, T=256,
 * r=8 on all seven projections, AdamW. Prints tokens/s, achieved GFLOP/s
 * (useful FLOPs: forward + activation-gradient backward, no recompute) and
 * peak RSS as a JSON line. bench/run_bench.sh runs it next to PyTorch.
 * --precision fp32|bf16|auto|bf16-emulated|bf16-onednn picks the frozen-matmul
 * path (lc_cpu.h); the JSON names the path that ran and the compute path
 * (CPU model and features, BLAS core, oneDNN kernel).
 *
 * In the same process it times a bare cblas_sgemm (the BLAS's own threading,
 * all threads) at the step's main frozen-matmul shapes, before and after the
 * timed steps, best of several repetitions: "sgemm_peak_gflop_per_s" is the
 * best of those shapes, the reference for the frozen matmuls' speed. With
 * --profile 1 (the default) a per-part breakdown of the timed steps follows
 * (lc_pass_profile: frozen matmuls forward / backward to the input with
 * their GFLOP/s and share of the peak, LoRA, attention, LM head + loss,
 * element-wise rest, optimizer) as "parts" in the JSON and a table on stderr.
 * The same comparison per CPU second (frozen matmuls' FLOPs over their
 * process CPU time against the sgemm's best FLOPs per CPU second,
 * "frozen_of_peak_cpu") leaves out the time other processes held the cores:
 * on a shared machine it is the kernels' share of the peak, where the
 * wall-time share mostly measures the load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <time.h>

#include "lc_cpu.h"
#include "lc_base.h"
#include "lc_common.h"
#include "lc_lora.h"
#include "lc_model.h"
#include "lc_transformer.h"

static double useful_flops(const lc_model_config *c, int B, int T, int r) {
    double N = (double)B * T, C = c->hidden_size, F = c->intermediate_size;
    double Q = (double)c->n_heads * c->head_dim, KV = (double)c->n_kv_heads * c->head_dim;
    double lin = C * Q * 2 + C * KV * 2 + 3 * C * F;             /* frozen linear params per layer */
    double lora = r * ((C + Q) * 2 + (C + KV) * 2 + 2 * (C + F) + (F + C));
    double attn = 2.0 * B * c->n_heads * (double)T * T * c->head_dim; /* causal QK^T + PV */
    double fwd = c->n_layers * (2 * N * (lin + lora) + attn) + 2 * N * c->vocab_size * C;
    double bwd = c->n_layers * (2 * N * lin + 3 * 2 * N * lora + 2 * attn) + 2 * N * c->vocab_size * C;
    return fwd + bwd;
}

/* CPU seconds of the process, all threads (less sensitive than wall time to a
 * shared machine's load: "step_cpu_s" is it per step and thread). */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* GFLOP/s of the bare sgemm y (M, O) = x (M, In) · W^T (forward, NoTrans/Trans)
 * or dx (M, In) = dy (M, O) · W (backward, NoTrans/NoTrans), best of reps;
 * *best raised to it, *best_cpu to the best GFLOP per process CPU second. */
static double sgemm_gflops(int M, int O, int In, int backward, int reps, double *best, double *best_cpu) {
    size_t nx = (size_t)M * (backward ? O : In), nw = (size_t)O * In, ny = (size_t)M * (backward ? In : O);
    float *x = malloc(nx * sizeof(float)), *w = malloc(nw * sizeof(float)), *y = malloc(ny * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = (float)(i % 7) * 0.01f;
    for (size_t i = 0; i < nw; i++) w[i] = (float)(i % 5) * 0.01f;
    double fastest = 1e30, least_cpu = 1e30;
    for (int rep = 0; rep < reps; rep++) {
        double t0 = lc_time_now(), c0 = cpu_now();
        if (backward)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, In, O, 1.0f, x, O, w, In, 0.0f, y, In);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, O, In, 1.0f, x, In, w, In, 0.0f, y, O);
        double dt = lc_time_now() - t0, dc = cpu_now() - c0;
        if (dt < fastest) fastest = dt;
        if (dc < least_cpu) least_cpu = dc;
    }
    free(x), free(w), free(y);
    double g = 2.0 * M * O * In / fastest / 1e9, gc = 2.0 * M * O * In / least_cpu / 1e9;
    if (g > *best) *best = g;
    if (gc > *best_cpu) *best_cpu = gc;
    return g;
}

/* The step's main frozen-matmul shapes at M = B·T rows: gate/up (F, C) and
 * down (C, F), forward and backward. gflops[4] raised to each shape's best;
 * *peak to the best GFLOP/s, *peak_cpu to the best GFLOP per CPU second. */
static void sgemm_peak(const lc_model_config *c, int M, double *gflops, double *peak, double *peak_cpu) {
    int C = c->hidden_size, F = c->intermediate_size;
    double g[4] = {sgemm_gflops(M, F, C, 0, 8, peak, peak_cpu), sgemm_gflops(M, C, F, 0, 8, peak, peak_cpu),
                   sgemm_gflops(M, F, C, 1, 8, peak, peak_cpu), sgemm_gflops(M, C, F, 1, 8, peak, peak_cpu)};
    for (int i = 0; i < 4; i++)
        if (g[i] > gflops[i]) gflops[i] = g[i];
}

/* The per-part breakdown of the timed steps: a table on stderr and the JSON
 * "parts" object on stdout (seconds per step, GFLOP/s and share of the sgemm
 * peak for the frozen matmuls; the same per CPU second against peak_cpu, the
 * sgemm's best GFLOP per CPU second: the kernels' share of the peak with the
 * time other processes held the cores left out). */
static void print_parts(const lc_pass_profile *p, double opt_s, double step_s, double peak, double peak_cpu,
                        int steps) {
    double fw = p->frozen_fwd_s / steps, bw = p->frozen_bwd_s / steps, lora = p->lora_s / steps;
    double att = p->attention_s / steps, head = p->head_s / steps, pass = p->pass_s / steps, opt = opt_s / steps;
    double rest = pass - (fw + bw + lora + att + head);
    double gf = p->frozen_fwd_flop / p->frozen_fwd_s / 1e9, gb = p->frozen_bwd_flop / p->frozen_bwd_s / 1e9;
    double gall = (p->frozen_fwd_flop + p->frozen_bwd_flop) / (p->frozen_fwd_s + p->frozen_bwd_s) / 1e9;
    double gcpu = (p->frozen_fwd_flop + p->frozen_bwd_flop) / p->frozen_cpu_s / 1e9;
    struct {
        const char *name;
        double s;
    } row[] = {{"frozen matmuls, forward", fw},
               {"frozen matmuls, backward to input", bw},
               {"LoRA (both ways)", lora},
               {"attention + RoPE (both ways)", att},
               {"LM head + loss (both ways)", head},
               {"element-wise rest (norms, SwiGLU, ...)", rest},
               {"optimizer (AdamW)", opt}};
    fprintf(stderr, "bench_train: per step %.3f s; sgemm peak %.1f GFLOP/s\n", step_s, peak);
    for (size_t i = 0; i < sizeof row / sizeof row[0]; i++)
        fprintf(stderr, "  %-40s %7.3f s  %5.1f %%\n", row[i].name, row[i].s, 100.0 * row[i].s / step_s);
    fprintf(stderr, "  frozen matmuls: forward %.1f, backward %.1f, all %.1f GFLOP/s = %.0f %% of the sgemm peak\n", gf,
            gb, gall, 100.0 * gall / peak);
    fprintf(stderr, "  frozen matmuls per CPU second: %.1f GFLOP, sgemm peak %.1f: %.0f %% (load-independent)\n", gcpu,
            peak_cpu, 100.0 * gcpu / peak_cpu);
    printf("\"parts\":{\"frozen_fwd_s\":%.3f,\"frozen_bwd_s\":%.3f,\"lora_s\":%.3f,\"attention_s\":%.3f,"
           "\"head_s\":%.3f,\"elementwise_s\":%.3f,\"optimizer_s\":%.3f,\"frozen_fwd_gflop_per_s\":%.1f,"
           "\"frozen_bwd_gflop_per_s\":%.1f,\"frozen_gflop_per_s\":%.1f,\"frozen_of_peak\":%.3f,"
           "\"frozen_gflop_per_cpu_s\":%.1f,\"frozen_of_peak_cpu\":%.3f},",
           fw, bw, lora, att, head, rest, opt, gf, gb, gall, gall / peak, gcpu, gcpu / peak_cpu);
}

/* precision -> the path for this CPU and build; bf16 paths store the weights in bf16. */
static lc_status choose_path(lc_model *m, const char *precision, lc_matmul_path *path) {
    lc_precision p;
    int forced;
    lc_cpu_features f;
    lc_cpu_detect(&f);
    lc_status st = lc_matmul_path_parse(precision, &p, &forced);
    if (!st) st = lc_matmul_path_resolve(p, forced, &f, lc_onednn_available(), path);
    if (!st && *path != LC_MATMUL_FP32) st = lc_model_frozen_to_bf16(m);
    return st;
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core (lc_cpu.h) */
    int B = 4, T = 256, r = 8, steps = 3, warmup = 1, threads = 0, to_f32 = 0, ckpt = 0, profile = 1;
    const char *model_path = NULL, *precision = "fp32";
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--f32")) { /* dequantise a quantised base to fp32 */
            to_f32 = 1;
            for (int j = i; j + 1 < argc; j++) argv[j] = argv[j + 1];
            argc--;
        }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seq")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--r")) r = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--model")) model_path = argv[i + 1];
        else if (!strcmp(argv[i], "--grad-checkpointing")) ckpt = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--precision")) precision = argv[i + 1];
        else if (!strcmp(argv[i], "--profile")) profile = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_train [--batch 4] [--seq 256] [--r 8] [--steps 3] [--warmup 1] [--threads N] [--model HF_DIR|X.gguf [--f32]] [--grad-checkpointing 0|1] [--precision fp32|bf16|auto|bf16-emulated|bf16-onednn] [--profile 0|1]\n");
            return 2;
        }
    }
    threads = lc_threads_init(threads);
    lc_model_config cfg = {.arch = LC_ARCH_LLAMA, .vocab_size = 49152, .hidden_size = 576,
                           .intermediate_size = 1536, .n_layers = 30, .n_heads = 9, .n_kv_heads = 3,
                           .head_dim = 64, .max_position = 2048, .rms_eps = 1e-5f,
                           .rope_theta = 100000.0f, .tie_embeddings = 1, .bos_id = 1, .eos_id = 2};
    lc_base base;
    memset(&base, 0, sizeof base);
    lc_model m;
    lc_lora lora;
    lc_acts *acts = NULL;
    lc_rng rng;
    lc_rng_seed(&rng, 1234);
    lc_lora_config lcfg = lc_lora_default_config();
    lcfg.r = r;
    lcfg.alpha = 2.0f * r;
    lcfg.targets = (1u << LC_T_COUNT) - 1;
    lc_status st = LC_OK;
    if (model_path) {
        st = lc_base_open(&base, model_path, NULL);
        if (!st && to_f32) st = lc_model_dequantize_all(&base.model);
        m = base.model;
        cfg = m.cfg;
    } else {
        st = lc_model_init_random(&m, &cfg, 0.02f, 42);
    }
    lc_matmul_path path = LC_MATMUL_FP32;
    if (!st) st = choose_path(&m, precision, &path);
    if (st || lc_lora_init(&lora, &m, &lcfg, &rng) || lc_acts_create_ex(&acts, &m, &lora, B, T, ckpt) ||
        lc_acts_set_matmul_path(acts, &m, path)) {
        fprintf(stderr, "bench_train: %s\n", lc_error_msg());
        return 1;
    }
    int32_t *tokens = malloc(sizeof(int32_t) * B * T), *targets = malloc(sizeof(int32_t) * B * T);
    for (int i = 0; i < B * T; i++) tokens[i] = (int32_t)lc_rng_below(&rng, cfg.vocab_size);
    for (int i = 0; i < B * T; i++) targets[i] = (i % T == T - 1) ? -1 : tokens[i + 1];
    lc_batch batch = {.tokens = tokens, .targets = targets, .B = B, .T = T};
    lc_adamw_params opt = lc_adamw_default_params();
    double t0 = 0, c0 = 0, loss = 0, opt_s = 0, peak = 0, peak_cpu = 0, shape_gflops[4] = {0, 0, 0, 0};
    sgemm_peak(&cfg, B * T, shape_gflops, &peak, &peak_cpu); /* before the steps, and again after them */
    lc_pass_profile prof;
    memset(&prof, 0, sizeof prof);
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) {
            t0 = lc_time_now();
            c0 = cpu_now();
            if (profile) lc_acts_set_profile(acts, &prof);
        }
        int64_t nt = 0;
        lc_lora_zero_grad(&lora);
        st = lc_forward_backward(&m, &lora, acts, &batch, 1.0f / (B * (T - 1)), (uint64_t)s, &loss, &nt);
        double t_opt = lc_time_now();
        if (st || lc_lora_optimizer_step(&lora, &opt, s + 1, NULL)) {
            fprintf(stderr, "bench_train: %s\n", lc_error_msg());
            return 1;
        }
        if (s >= warmup) opt_s += lc_time_now() - t_opt;
    }
    double dt = (lc_time_now() - t0) / steps, cpu_dt = (cpu_now() - c0) / steps / threads;
    lc_acts_set_profile(acts, NULL);
    sgemm_peak(&cfg, B * T, shape_gflops, &peak, &peak_cpu);
    double fl = useful_flops(&cfg, B, T, r);
    const char *wtype = lc_dtype_name(m.layers[0].wq.type); /* after the bf16 conversion, if any */
    printf("{\"impl\":\"lorac\",\"model\":\"%s\",\"weights\":\"%s\",", model_path ? model_path : "random-smollm2-shape", wtype);
    char compute[1024];
    lc_compute_path_describe(compute, sizeof compute, path, 1);
    printf("\"precision\":\"%s\",\"matmul_path\":\"%s\",\"compute\":%s,", precision, lc_matmul_path_name(path),
           compute);
    int C = cfg.hidden_size, F = cfg.intermediate_size, M = B * T;
    printf("\"sgemm_peak_gflop_per_cpu_s\":%.1f,", peak_cpu);
    printf("\"sgemm_peak_gflop_per_s\":%.1f,\"sgemm\":{\"fwd_%dx%dx%d\":%.1f,\"fwd_%dx%dx%d\":%.1f,"
           "\"bwd_%dx%dx%d\":%.1f,\"bwd_%dx%dx%d\":%.1f},",
           peak, M, F, C, shape_gflops[0], M, C, F, shape_gflops[1], M, C, F, shape_gflops[2], M, F, C,
           shape_gflops[3]);
    if (profile) print_parts(&prof, opt_s, dt, peak, peak_cpu, steps);
    printf("\"step_cpu_s\":%.3f,", cpu_dt);
    printf("\"tokens_per_s\":%.1f,\"gflop_per_s\":%.1f,\"step_s\":%.3f,"
           "\"peak_rss_mb\":%.0f,\"acts_mb\":%.0f,\"grad_checkpointing\":%d,\"threads\":%d,\"B\":%d,\"T\":%d,\"r\":%d,\"loss\":%.4f}\n",
           B * T / dt, fl / dt / 1e9, dt, lc_peak_rss_bytes() / 1048576.0, lc_acts_bytes(acts) / 1048576.0,
           ckpt, threads, B, T, r, loss / (B * (T - 1)));
    free(tokens);
    free(targets);
    lc_acts_free(acts);
    lc_lora_free(&lora);
    if (model_path) lc_base_close(&base);
    else lc_model_free(&m);
    return 0;
}
