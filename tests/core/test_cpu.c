/*
 * test_cpu.c — the compute-path choices of lc_cpu.h as pure functions of
 * (CPU features, what the libraries report), table-driven, so every case runs
 * on any machine: a Sapphire-Rapids-class Xeon in a VM (AVX-512, AVX512-BF16,
 * AMX; model name "Intel(R) Xeon(R) Processor"; OpenBLAS 0.3.21 falls back to
 * Prescott), an AVX2-only Zen 3, an AVX512-BF16 Zen 4, and edge cases. Then a
 * live check on this machine: after lc_compute_env_prepare the BLAS core is not
 * below what the CPU supports (or is exactly the user's OPENBLAS_CORETYPE).
 *
 * usage: test_cpu [--expect-core NAME]
 */
#include "lc_cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lc_test.h"

static void check(int ok, const char *what) {
    g_checks++;
    if (!ok) g_fail++;
    printf("  %-78s %s\n", what, ok ? "ok" : "FAIL");
}

static lc_cpu_features xeon_amx(void) {
    lc_cpu_features f = {.vendor = "GenuineIntel", .model_name = "Intel(R) Xeon(R) Processor", .family = 6,
                         .model = 143, .sse3 = 1, .avx = 1, .fma = 1, .f16c = 1, .avx2 = 1, .avx512f = 1,
                         .avx512dq = 1, .avx512cd = 1, .avx512bw = 1, .avx512vl = 1, .avx512_vnni = 1,
                         .avx512_bf16 = 1, .amx_tile = 1, .amx_bf16 = 1, .amx_int8 = 1, .os_ymm = 1, .os_zmm = 1,
                         .os_amx = 1};
    return f;
}

static lc_cpu_features zen3(void) {
    lc_cpu_features f = {.vendor = "AuthenticAMD", .model_name = "AMD EPYC", .family = 25, .model = 1, .sse3 = 1,
                         .avx = 1, .fma = 1, .f16c = 1, .avx2 = 1, .os_ymm = 1};
    return f;
}

static lc_cpu_features zen4(void) {
    lc_cpu_features f = zen3();
    snprintf(f.model_name, sizeof f.model_name, "AMD EPYC 9R14 96-Core Processor");
    f.model = 17;
    f.avx512f = f.avx512dq = f.avx512cd = f.avx512bw = f.avx512vl = f.avx512_vnni = f.avx512_bf16 = 1;
    f.os_zmm = 1;
    return f;
}

typedef struct {
    const char *what;
    lc_cpu_features f;
    const char *reported; /* what openblas_get_corename() said */
    const char *want;     /* lc_blas_core_choice: NULL = leave the library's choice */
    int bf16_units;
} core_case;

static void core_table(void) {
    lc_cpu_features xeon_no_os = xeon_amx(), xeon_no_amx_os = xeon_amx(), old = zen3();
    xeon_no_os.os_zmm = 0, xeon_no_os.os_amx = 0; /* kernel without AVX-512 state: AVX2 only */
    xeon_no_amx_os.os_amx = 0;                    /* AMX state off, AVX512-BF16 still usable */
    old.avx2 = old.fma = 0;                        /* an AVX-only CPU (Sandy Bridge) */
    snprintf(old.vendor, sizeof old.vendor, "GenuineIntel");
    core_case t[] = {
        {"AMX Xeon, OpenBLAS fell back to Prescott -> SkylakeX", xeon_amx(), "Prescott", "SkylakeX", 1},
        {"AMX Xeon, OpenBLAS picked SkylakeX -> keep", xeon_amx(), "SkylakeX", NULL, 1},
        {"AMX Xeon, OpenBLAS picked Haswell -> SkylakeX", xeon_amx(), "Haswell", "SkylakeX", 1},
        {"AMX Xeon, OpenBLAS picked Cooperlake -> keep", xeon_amx(), "Cooperlake", NULL, 1},
        {"AMX Xeon, a core newer than the table -> keep", xeon_amx(), "SapphireRapidsPlus", NULL, 1},
        {"AMX Xeon, OS without AVX-512/AMX state, Prescott -> Haswell", xeon_no_os, "Prescott", "Haswell", 0},
        {"AMX Xeon, AMX state off: AVX512-BF16 units still usable", xeon_no_amx_os, "SkylakeX", NULL, 1},
        {"Zen 3 (AVX2), OpenBLAS picked Zen -> keep", zen3(), "Zen", NULL, 0},
        {"Zen 3 (AVX2), OpenBLAS picked Haswell -> keep", zen3(), "Haswell", NULL, 0},
        {"Zen 3 (AVX2), OpenBLAS fell back to Prescott -> Zen", zen3(), "Prescott", "Zen", 0},
        {"Zen 3 (AVX2), SkylakeX reported (user) -> keep, never lowered", zen3(), "SkylakeX", NULL, 0},
        {"Zen 4 (AVX512-BF16), OpenBLAS 0.3.21 picked Zen -> SkylakeX", zen4(), "Zen", "SkylakeX", 1},
        {"Zen 4 (AVX512-BF16), OpenBLAS picked SkylakeX -> keep", zen4(), "SkylakeX", NULL, 1},
        {"Sandy Bridge (AVX only), Prescott -> Sandybridge", old, "Prescott", "Sandybridge", 0},
        {"Sandy Bridge (AVX only), Sandybridge -> keep", old, "Sandybridge", NULL, 0},
    };
    printf("OpenBLAS core choice (features, reported core) -> OPENBLAS_CORETYPE:\n");
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const char *got = lc_blas_core_choice(&t[i].f, t[i].reported);
        int ok = (!got && !t[i].want) || (got && t[i].want && !strcmp(got, t[i].want));
        check(ok && lc_cpu_has_bf16_units(&t[i].f) == t[i].bf16_units, t[i].what);
        if (!ok) printf("    got %s, want %s\n", got ? got : "(keep)", t[i].want ? t[i].want : "(keep)");
    }
}

typedef struct {
    const char *what, *precision;
    lc_cpu_features f;
    int have_onednn;
    int status_ok;
    lc_matmul_path want;
} path_case;

static void path_table(void) {
    path_case t[] = {
        {"AMX Xeon + oneDNN: auto -> bf16-onednn", "auto", xeon_amx(), 1, 1, LC_MATMUL_BF16_ONEDNN},
        {"AMX Xeon + oneDNN: bf16 -> bf16-onednn", "bf16", xeon_amx(), 1, 1, LC_MATMUL_BF16_ONEDNN},
        {"AMX Xeon + oneDNN: fp32 -> fp32", "fp32", xeon_amx(), 1, 1, LC_MATMUL_FP32},
        {"AMX Xeon, no oneDNN: auto -> fp32", "auto", xeon_amx(), 0, 1, LC_MATMUL_FP32},
        {"AMX Xeon, no oneDNN: bf16 -> bf16-emulated", "bf16", xeon_amx(), 0, 1, LC_MATMUL_BF16_EMULATED},
        {"Zen 3 + oneDNN: auto -> fp32 (no bf16 units)", "auto", zen3(), 1, 1, LC_MATMUL_FP32},
        {"Zen 3 + oneDNN: bf16 -> bf16-emulated", "bf16", zen3(), 1, 1, LC_MATMUL_BF16_EMULATED},
        {"Zen 3 + oneDNN: bf16-onednn forced -> bf16-onednn", "bf16-onednn", zen3(), 1, 1, LC_MATMUL_BF16_ONEDNN},
        {"Zen 3, no oneDNN: bf16-onednn forced -> error", "bf16-onednn", zen3(), 0, 0, LC_MATMUL_FP32},
        {"Zen 4 + oneDNN: auto -> bf16-onednn", "auto", zen4(), 1, 1, LC_MATMUL_BF16_ONEDNN},
        {"Zen 4 + oneDNN: bf16-emulated forced -> bf16-emulated", "bf16-emulated", zen4(), 1, 1,
         LC_MATMUL_BF16_EMULATED},
    };
    printf("precision (requested, features, oneDNN built in) -> frozen-matmul path:\n");
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        lc_precision p;
        int forced;
        lc_matmul_path got = LC_MATMUL_FP32;
        lc_status st = lc_matmul_path_parse(t[i].precision, &p, &forced);
        if (!st) st = lc_matmul_path_resolve(p, forced, &t[i].f, t[i].have_onednn, &got);
        check(t[i].status_ok ? (!st && got == t[i].want) : st != LC_OK, t[i].what);
    }
    lc_precision p;
    int forced;
    lc_status st = lc_matmul_path_parse("bf17", &p, &forced);
    check(st == LC_ERR_ARG && strstr(lc_error_msg(), "'bf17'"), "precision 'bf17' refused, naming the value");
}

/* This process, after lc_compute_env_prepare: never below what the CPU runs. */
static void live(const char *expect_core) {
    lc_cpu_features f;
    char feat[256], line[1024];
    lc_cpu_detect(&f);
    lc_cpu_features_str(&f, feat, sizeof feat);
    const char *core = lc_blas_corename();
    printf("this machine: %s [%s], OpenBLAS core %s\n", f.model_name, feat, core);
    lc_compute_path_describe(line, sizeof line, LC_MATMUL_FP32, 0);
    printf("  %s\n", line);
    const char *user = getenv("OPENBLAS_CORETYPE"), *from = getenv("LORAC_BLAS_CORE_FROM");
    if (expect_core) {
        check(!strcmp(core, expect_core) && !from, "user's OPENBLAS_CORETYPE kept and in effect");
        check(strstr(line, "set by the user") != NULL, "the printed path says the core was the user's");
        return;
    }
    if (user && !from) {
        printf("  (OPENBLAS_CORETYPE=%s set by the user: respected, not checked)\n", user);
        return;
    }
    check(lc_blas_core_choice(&f, core) == NULL, "the running BLAS core is not below what this CPU supports");
    if (from) check(!strcmp(core, user), "the core lorac asked for is the one that runs");
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv);
    const char *expect = argc == 3 && !strcmp(argv[1], "--expect-core") ? argv[2] : NULL;
    core_table();
    path_table();
    live(expect);
    printf("%d checks, %d failed: %s\n", g_checks, g_fail, g_fail ? "FAIL" : "PASS");
    return g_fail ? 1 : 0;
}
