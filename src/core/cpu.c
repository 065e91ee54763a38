/*
 * cpu.c — CPU feature detection (cpuid, xgetbv), the OpenBLAS core choice
 * (a pure table over features and the reported core), the start-up
 * environment (OMP_WAIT_POLICY, OPENBLAS_CORETYPE, one re-exec) and the
 * precision / matmul-path resolution. See lc_cpu.h.
 */
#include "lc_cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define LC_X86 1
#endif

/* ------------------------------------------------------------- detection */

#ifdef LC_X86
static unsigned long long xgetbv0(void) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static void detect_names(lc_cpu_features *f) {
    unsigned a, b, c, d, max;
    __cpuid(0, max, b, c, d);
    memcpy(f->vendor, &b, 4), memcpy(f->vendor + 4, &d, 4), memcpy(f->vendor + 8, &c, 4);
    f->vendor[12] = 0;
    __cpuid(0x80000000u, a, b, c, d);
    if (a >= 0x80000004u) {
        unsigned r[12];
        for (unsigned i = 0; i < 3; i++) __cpuid(0x80000002u + i, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
        memcpy(f->model_name, r, 48);
        f->model_name[48] = 0;
        char *s = f->model_name; /* brand strings are padded with spaces */
        while (*s == ' ') s++;
        memmove(f->model_name, s, strlen(s) + 1);
        for (size_t n = strlen(f->model_name); n > 0 && f->model_name[n - 1] == ' '; n--) f->model_name[n - 1] = 0;
    }
}
#endif

void lc_cpu_detect(lc_cpu_features *f) {
    memset(f, 0, sizeof *f);
#ifdef LC_X86
    unsigned a, b, c, d, max;
    detect_names(f);
    __cpuid(0, max, b, c, d);
    __cpuid(1, a, b, c, d);
    int base = (a >> 8) & 15, ext = (a >> 20) & 255;
    f->family = base == 15 ? base + ext : base;
    f->model = (base == 6 || base == 15) ? (int)(((a >> 12) & 0xf0) | ((a >> 4) & 15)) : (int)((a >> 4) & 15);
    f->sse3 = c & 1, f->fma = (c >> 12) & 1, f->avx = (c >> 28) & 1, f->f16c = (c >> 29) & 1;
    int osxsave = (c >> 27) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    f->os_ymm = (xcr0 & 0x6) == 0x6;
    f->os_zmm = f->os_ymm && (xcr0 & 0xe0) == 0xe0;
    f->os_amx = (xcr0 & 0x60000ull) == 0x60000ull;
    if (max >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        unsigned sub = a;
        f->avx2 = (b >> 5) & 1, f->avx512f = (b >> 16) & 1, f->avx512dq = (b >> 17) & 1;
        f->avx512cd = (b >> 28) & 1, f->avx512bw = (b >> 30) & 1, f->avx512vl = (b >> 31) & 1;
        f->avx512_vnni = (c >> 11) & 1;
        f->amx_bf16 = (d >> 22) & 1, f->amx_tile = (d >> 24) & 1, f->amx_int8 = (d >> 25) & 1;
        if (sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f->avx512_bf16 = (a >> 5) & 1;
        }
    }
#endif
}

/* Usable AVX-512 of the SkylakeX kernels: F, DQ, CD, BW, VL and ZMM state. */
static int has_avx512(const lc_cpu_features *f) {
    return f->os_zmm && f->avx512f && f->avx512dq && f->avx512cd && f->avx512bw && f->avx512vl;
}
static int has_avx2(const lc_cpu_features *f) { return f->os_ymm && f->avx2 && f->fma; }

int lc_cpu_has_bf16_units(const lc_cpu_features *f) {
    return (has_avx512(f) && f->avx512_bf16) || (f->os_amx && f->amx_tile && f->amx_bf16);
}

void lc_cpu_features_str(const lc_cpu_features *f, char *buf, size_t n) {
    struct { int on; const char *name; } t[] = {
        {f->sse3, "sse3"},
        {f->avx && f->os_ymm, "avx"},
        {f->avx2 && f->os_ymm, "avx2"},
        {f->fma && f->os_ymm, "fma"},
        {f->f16c && f->os_ymm, "f16c"},
        {f->avx512f && f->os_zmm, "avx512f"},
        {f->avx512bw && f->os_zmm, "avx512bw"},
        {f->avx512vl && f->os_zmm, "avx512vl"},
        {f->avx512_vnni && f->os_zmm, "avx512_vnni"},
        {f->avx512_bf16 && f->os_zmm, "avx512_bf16"},
        {f->amx_tile && f->os_amx, "amx_tile"},
        {f->amx_bf16 && f->os_amx, "amx_bf16"},
    };
    size_t used = 0;
    if (n) buf[0] = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0] && used < n; i++)
        if (t[i].on) used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? " " : "", t[i].name);
    if (n && !buf[0]) snprintf(buf, n, "none");
}

/* ------------------------------------------------------ OpenBLAS core choice */

/* ISA level of each OpenBLAS 0.3.21 x86 core name (driver/others/dynamic.c):
 * 0 SSE-class, 1 AVX, 2 AVX2+FMA, 3 AVX-512 (F/DQ/CD/BW/VL), 4 AVX-512 +
 * BF16. Cooperlake (4) is listed so a library that reports it is left alone;
 * 0.3.21 does not accept it as OPENBLAS_CORETYPE ("Core not found"), and its
 * sgemm kernels are SkylakeX's anyway, so it is never chosen here. */
static const struct { const char *name; int level; } CORES[] = {
    {"Katmai", 0},     {"Coppermine", 0}, {"Northwood", 0},   {"Prescott", 0},     {"Banias", 0},
    {"Atom", 0},       {"Core2", 0},      {"Penryn", 0},      {"Dunnington", 0},   {"Nehalem", 0},
    {"Athlon", 0},     {"Opteron", 0},    {"Opteron_SSE3", 0}, {"Barcelona", 0},   {"Nano", 0},
    {"Bobcat", 0},     {"Sandybridge", 1}, {"Bulldozer", 1},  {"Piledriver", 1},   {"Steamroller", 1},
    {"Excavator", 1},  {"Haswell", 2},    {"Zen", 2},         {"SkylakeX", 3},     {"Cooperlake", 4},
    {"SapphireRapids", 4},
};

static int core_level(const char *name) {
    if (!name) return -1;
    for (size_t i = 0; i < sizeof CORES / sizeof CORES[0]; i++)
        if (!strcasecmp(name, CORES[i].name)) return CORES[i].level;
    return -1;
}

const char *lc_blas_core_choice(const lc_cpu_features *f, const char *reported) {
    int have = core_level(reported);
    if (have < 0) return NULL; /* a core this table does not know: newer than it, leave it */
    int amd = !strcmp(f->vendor, "AuthenticAMD");
    int want;
    const char *name;
    if (has_avx512(f))
        want = 3, name = "SkylakeX"; /* also AVX512-BF16 CPUs: 0.3.21 refuses "Cooperlake" */
    else if (has_avx2(f))
        want = 2, name = amd ? "Zen" : "Haswell";
    else if (f->avx && f->os_ymm)
        want = 1, name = "Sandybridge";
    else
        return NULL;
    return have < want ? name : NULL;
}

/* -------------------------------------------------------- start-up env */

char *openblas_get_corename(void);
char *openblas_get_config(void);

const char *lc_blas_corename(void) { return openblas_get_corename(); }
const char *lc_blas_config(void) { return openblas_get_config(); }

void lc_compute_env_prepare(char **argv) {
    int changed = 0;
    if (!getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0) changed = 1;
    if (!getenv("OPENBLAS_CORETYPE")) {
        lc_cpu_features f;
        lc_cpu_detect(&f);
        const char *now = lc_blas_corename();
        const char *want = lc_blas_core_choice(&f, now);
        if (want && setenv("OPENBLAS_CORETYPE", want, 1) == 0) {
            setenv("LORAC_BLAS_CORE_FROM", now, 1);
            changed = 1;
        }
    }
    if (changed) execv("/proc/self/exe", argv); /* returns only on failure: carry on as we are */
}

/* ------------------------------------------------------------- precision */

const char *lc_precision_name(lc_precision p) {
    return p == LC_PREC_BF16 ? "bf16" : p == LC_PREC_AUTO ? "auto" : "fp32";
}

const char *lc_matmul_path_name(lc_matmul_path p) {
    return p == LC_MATMUL_BF16_EMULATED ? "bf16-emulated" : p == LC_MATMUL_BF16_ONEDNN ? "bf16-onednn" : "fp32";
}

lc_status lc_matmul_path_parse(const char *s, lc_precision *prec, int *forced_path) {
    *forced_path = -1;
    if (!strcmp(s, "fp32")) *prec = LC_PREC_FP32;
    else if (!strcmp(s, "bf16")) *prec = LC_PREC_BF16;
    else if (!strcmp(s, "auto")) *prec = LC_PREC_AUTO;
    else if (!strcmp(s, "bf16-emulated")) *prec = LC_PREC_BF16, *forced_path = LC_MATMUL_BF16_EMULATED;
    else if (!strcmp(s, "bf16-onednn")) *prec = LC_PREC_BF16, *forced_path = LC_MATMUL_BF16_ONEDNN;
    else
        return lc_errorf(LC_ERR_ARG, "precision: '%s' is not one of fp32, bf16, auto, bf16-emulated, bf16-onednn",
                         s);
    return LC_OK;
}

lc_status lc_matmul_path_resolve(lc_precision req, int forced_path, const lc_cpu_features *f, int have_onednn,
                                 lc_matmul_path *out) {
    int units = lc_cpu_has_bf16_units(f);
    if (forced_path == LC_MATMUL_BF16_ONEDNN && !have_onednn)
        return lc_errorf(LC_ERR_ARG, "precision: bf16-onednn asked for, but lorac was built without oneDNN "
                                     "(install libdnnl-dev and rebuild)");
    if (forced_path >= 0) *out = (lc_matmul_path)forced_path;
    else if (req == LC_PREC_FP32) *out = LC_MATMUL_FP32;
    else if (req == LC_PREC_BF16) *out = units && have_onednn ? LC_MATMUL_BF16_ONEDNN : LC_MATMUL_BF16_EMULATED;
    else *out = units && have_onednn ? LC_MATMUL_BF16_ONEDNN : LC_MATMUL_FP32;
    return LC_OK;
}
