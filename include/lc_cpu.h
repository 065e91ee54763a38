/*
 * lc_cpu.h — the compute path: what the CPU can do (cpuid + xgetbv), which
 * OpenBLAS core runs the fp32 GEMMs, and the precision of the frozen matmuls.
 *
 * lorac never runs on a BLAS fallback kernel silently. Debian's OpenBLAS
 * 0.3.21 picks its kernels from the CPU model number; a CPU it does not know
 * (e.g. a Sapphire-Rapids-class "Intel(R) Xeon(R) Processor" in a VM) gets
 * the Prescott (SSE3) kernels, 5x slower than SkylakeX's. The choice of core
 * is a pure function of (CPU features, the core the library reported):
 * lc_blas_core_choice(), tested table-driven on any machine. lc_compute_env_prepare()
 * applies it before the library's kernels are used (through one re-exec, the
 * same one that sets OMP_WAIT_POLICY), unless the user set OPENBLAS_CORETYPE.
 *
 * Precision (config key `precision`): fp32 is the exact reference; bf16 keeps
 * the frozen projection weights in bf16 and runs their matmuls bf16 x bf16 with
 * fp32 accumulation — on the CPU's bf16 units through oneDNN when lorac was
 * built with it, else emulated (bf16 weights widened to fp32 tile by tile,
 * activations rounded to bf16, fp32 sgemm: the same numbers up to summation
 * order). auto picks bf16 where the CPU has bf16 units and oneDNN is built in.
 */
#ifndef LC_CPU_H
#define LC_CPU_H

#include <stddef.h>

#include "lc_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CPU features as cpuid reports them; the os_* flags say the OS saves the
 * register state (XCR0 via xgetbv), without which the instructions fault. */
typedef struct {
    char vendor[13];      /* "GenuineIntel", "AuthenticAMD" */
    char model_name[49];  /* brand string, e.g. "Intel(R) Xeon(R) Processor" */
    int family, model;    /* display family / model */
    int sse3, avx, fma, f16c, avx2;
    int avx512f, avx512dq, avx512cd, avx512bw, avx512vl, avx512_vnni, avx512_bf16;
    int amx_tile, amx_bf16, amx_int8;
    int os_ymm;           /* XCR0 bits 1, 2: SSE + AVX state */
    int os_zmm;           /* XCR0 bits 5, 6, 7: opmask + ZMM state */
    int os_amx;           /* XCR0 bits 17, 18: TILECFG + TILEDATA */
} lc_cpu_features;

/* Fill f from cpuid/xgetbv of the running CPU (all zero off x86-64). */
void lc_cpu_detect(lc_cpu_features *f);
/* f as "avx2 fma avx512f ..." (usable features only, i.e. OS state enabled). */
void lc_cpu_features_str(const lc_cpu_features *f, char *buf, size_t n);
/* 1 if the CPU has usable bf16 matmul units: AVX512-BF16 or AMX-BF16 with the OS state. */
int lc_cpu_has_bf16_units(const lc_cpu_features *f);

/* The OpenBLAS core (an OPENBLAS_CORETYPE name) lorac should ask for, given
 * the CPU's features and the core the library picked itself; NULL when the
 * library's choice is right (or unknown to this table: a newer core name is
 * left alone). Pure: no cpuid, no environment. Only cores OpenBLAS 0.3.21
 * accepts by name are returned (Haswell, Zen, SkylakeX, Sandybridge). */
const char *lc_blas_core_choice(const lc_cpu_features *f, const char *reported);

/* The linked OpenBLAS: openblas_get_corename() / openblas_get_config(). */
const char *lc_blas_corename(void);
const char *lc_blas_config(void);

/* Call first thing in main() of every lorac binary (CLI, benches, tests):
 * sets OMP_WAIT_POLICY=PASSIVE unless set, and OPENBLAS_CORETYPE to
 * lc_blas_core_choice() unless the user set it, then re-executes the program
 * once through /proc/self/exe if either changed (both are read only at
 * library start-up). LORAC_BLAS_CORE_FROM records the core OpenBLAS had
 * picked itself. On any failure it carries on as it is. */
void lc_compute_env_prepare(char **argv);

typedef enum { LC_PREC_FP32 = 0, LC_PREC_BF16, LC_PREC_AUTO } lc_precision;
/* How the frozen matmuls run. */
typedef enum {
    LC_MATMUL_FP32 = 0,     /* fp32 weights (or dequantised tiles), fp32 sgemm */
    LC_MATMUL_BF16_EMULATED, /* bf16 weights and activations widened to fp32, fp32 sgemm */
    LC_MATMUL_BF16_ONEDNN,  /* bf16 x bf16 -> fp32 through oneDNN (its kernel: lc_onednn_impl) */
} lc_matmul_path;

const char *lc_precision_name(lc_precision p);    /* "fp32", "bf16", "auto" */
const char *lc_matmul_path_name(lc_matmul_path p); /* "fp32", "bf16-emulated", "bf16-onednn" */
/* Parse "fp32" | "bf16" | "auto" (also "bf16-emulated", "bf16-onednn", which
 * force one bf16 path: tests and benchmarks). LC_ERR_ARG naming s otherwise. */
lc_status lc_matmul_path_parse(const char *s, lc_precision *prec, int *forced_path);

/* The path a requested precision runs on (pure): fp32 -> fp32; bf16 ->
 * oneDNN when built in and the CPU has bf16 units, else emulated; auto ->
 * bf16 on oneDNN when both hold, else fp32. forced_path >= 0 overrides
 * (bf16-onednn without oneDNN built in is an error). */
lc_status lc_matmul_path_resolve(lc_precision req, int forced_path, const lc_cpu_features *f, int have_onednn,
                                 lc_matmul_path *out);

/* 1 if lorac was built with oneDNN; its version as "2.6.3" (or "none").
 * These two and lc_compute_path_describe live in lc_kernels (matmul_bf16.c). */
int lc_onednn_available(void);
const char *lc_onednn_version(void);

/* One line describing the compute path: CPU model and features, BLAS and its
 * core (and what it was corrected from), the frozen-matmul path. As text
 * (json = 0) or as a JSON object (json = 1) for benchmark output. */
void lc_compute_path_describe(char *buf, size_t n, lc_matmul_path path, int json);

#ifdef __cplusplus
}
#endif
#endif /* LC_CPU_H */
