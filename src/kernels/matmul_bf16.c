/*
 * matmul_bf16.c — the bf16 pieces of the frozen matmuls: rounding activations
 * to bf16 (round to nearest even, as torch's .to(bfloat16)), and
 * y (M, N) [+]= x (M, K) · w with x, w bf16 and fp32 accumulation through
 * oneDNN's matmul (when lorac is built with it: LC_HAVE_ONEDNN), which picks
 * its kernel from the CPU's features (AMX, AVX512-BF16, else a reference
 * loop). Also lc_compute_path_describe(), the one-line compute path printed by
 * `lorac info`, `train`'s header and the benchmarks.
 */
#include "lc_cpu.h"
#include "lc_kernels.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LC_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

static inline uint16_t to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

void lc_round_bf16_f32(float *out, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536 && !omp_in_parallel())
    for (size_t i = 0; i < n; i++) {
        uint32_t b = (uint32_t)to_bf16(x[i]) << 16;
        memcpy(&out[i], &b, 4);
    }
}

void lc_round_bf16(uint16_t *out, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536 && !omp_in_parallel())
    for (size_t i = 0; i < n; i++) out[i] = to_bf16(x[i]);
}

#ifdef LC_HAVE_ONEDNN
static dnnl_engine_t g_engine;
static char g_impl[128]; /* the kernel of the first bf16 matmul that ran */

int lc_onednn_available(void) { return 1; }

const char *lc_onednn_version(void) {
    static char v[32];
    const dnnl_version_t *d = dnnl_version();
    snprintf(v, sizeof v, "%d.%d.%d", d->major, d->minor, d->patch);
    return v;
}

const char *lc_onednn_impl(void) { return g_impl[0] ? g_impl : "not run yet"; }

static lc_status dnnl_fail(dnnl_status_t s, const char *what) {
    return lc_errorf(LC_ERR_UNSUPPORTED, "oneDNN: %s failed (status %d)", what, (int)s);
}

/* Create (or reuse, through oneDNN's primitive cache) the matmul and run it. */
static lc_status run_matmul(const dnnl_memory_desc_t *xd, const dnnl_memory_desc_t *wd, const dnnl_memory_desc_t *yd,
                            int accumulate, float *y, const uint16_t *x, const uint16_t *w) {
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_memory_t mx = NULL, mw = NULL, my = NULL;
    dnnl_status_t s;
    lc_status st = LC_OK;
    if ((s = dnnl_matmul_desc_init(&desc, xd, wd, NULL, yd))) return dnnl_fail(s, "matmul_desc_init");
    dnnl_primitive_attr_create(&attr);
    if (accumulate) {
        dnnl_post_ops_create(&po);
        dnnl_post_ops_append_sum(po, 1.0f);
        dnnl_primitive_attr_set_post_ops(attr, po);
    }
    if ((s = dnnl_primitive_desc_create(&pd, &desc, attr, g_engine, NULL))) {
        const char *isa = getenv("ONEDNN_MAX_CPU_ISA");
        if (s == dnnl_unimplemented)
            st = lc_errorf(LC_ERR_UNSUPPORTED,
                           "oneDNN %s has no bf16 matmul kernel for this CPU%s%s%s (it needs AVX-512, "
                           "AVX512-BF16 or AMX): use precision bf16-emulated or fp32",
                           lc_onednn_version(), isa ? " with ONEDNN_MAX_CPU_ISA=" : "", isa ? isa : "", "");
        else
            st = dnnl_fail(s, "bf16 matmul primitive_desc_create");
        goto done;
    }
    if (!g_impl[0]) {
        const char *impl = NULL;
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
#pragma omp critical(lc_onednn_impl)
        if (!g_impl[0]) snprintf(g_impl, sizeof g_impl, "%s", impl ? impl : "?");
    }
    if ((s = dnnl_primitive_create(&prim, pd)) || (s = dnnl_stream_create(&stream, g_engine, dnnl_stream_default_flags))) {
        st = dnnl_fail(s, "primitive/stream create");
        goto done;
    }
    dnnl_memory_create(&mx, xd, g_engine, (void *)x);
    dnnl_memory_create(&mw, wd, g_engine, (void *)w);
    dnnl_memory_create(&my, yd, g_engine, y);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, mx}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, my}};
    if ((s = dnnl_primitive_execute(prim, stream, 3, args)) || (s = dnnl_stream_wait(stream)))
        st = dnnl_fail(s, "bf16 matmul execute");
done:
    dnnl_memory_destroy(mx), dnnl_memory_destroy(mw), dnnl_memory_destroy(my);
    dnnl_stream_destroy(stream), dnnl_primitive_destroy(prim), dnnl_primitive_desc_destroy(pd);
    dnnl_post_ops_destroy(po), dnnl_primitive_attr_destroy(attr);
    return st;
}

lc_status lc_onednn_init(void) {
    dnnl_status_t s = dnnl_success;
#pragma omp critical(lc_onednn_engine)
    if (!g_engine) s = dnnl_engine_create(&g_engine, dnnl_cpu, 0);
    return s ? dnnl_fail(s, "engine_create") : LC_OK;
}

lc_status lc_matmul_bf16(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *w, int ldw, int w_trans,
                         int M, int N, int K, int accumulate) {
    if (!g_engine) return lc_errorf(LC_ERR_ARG, "oneDNN: lc_onednn_init was not called");
    dnnl_memory_desc_t xd, wd, yd;
    dnnl_dims_t xdims = {M, K}, xs = {ldx, 1}, wdims = {K, N}, ydims = {M, N}, ys = {ldy, 1};
    dnnl_dims_t ws = {w_trans ? 1 : ldw, w_trans ? ldw : 1};
    dnnl_memory_desc_init_by_strides(&xd, 2, xdims, dnnl_bf16, xs);
    dnnl_memory_desc_init_by_strides(&wd, 2, wdims, dnnl_bf16, ws);
    dnnl_memory_desc_init_by_strides(&yd, 2, ydims, dnnl_f32, ys);
    return run_matmul(&xd, &wd, &yd, accumulate, y, x, w);
}
#else
int lc_onednn_available(void) { return 0; }
const char *lc_onednn_version(void) { return "none"; }
const char *lc_onednn_impl(void) { return "none"; }
lc_status lc_onednn_init(void) {
    return lc_errorf(LC_ERR_UNSUPPORTED, "lorac was built without oneDNN (install libdnnl-dev and rebuild)");
}
lc_status lc_matmul_bf16(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *w, int ldw, int w_trans,
                         int M, int N, int K, int accumulate) {
    (void)y, (void)ldy, (void)x, (void)ldx, (void)w, (void)ldw, (void)w_trans, (void)M, (void)N, (void)K;
    (void)accumulate;
    return lc_onednn_init();
}
#endif

void lc_compute_path_describe(char *buf, size_t n, lc_matmul_path path, int json) {
    lc_cpu_features f;
    char feat[256], mm[192];
    lc_cpu_detect(&f);
    lc_cpu_features_str(&f, feat, sizeof feat);
    const char *from = getenv("LORAC_BLAS_CORE_FROM"), *forced = getenv("OPENBLAS_CORETYPE");
    char core[96];
    if (from && forced) snprintf(core, sizeof core, "%s (set by lorac; OpenBLAS picked %s)", lc_blas_corename(), from);
    else if (forced) snprintf(core, sizeof core, "%s (OPENBLAS_CORETYPE=%s set by the user)", lc_blas_corename(), forced);
    else snprintf(core, sizeof core, "%s", lc_blas_corename());
    if (path == LC_MATMUL_BF16_ONEDNN)
        snprintf(mm, sizeof mm, "bf16-onednn (oneDNN %s, kernel %s)", lc_onednn_version(), lc_onednn_impl());
    else if (path == LC_MATMUL_BF16_EMULATED)
        snprintf(mm, sizeof mm, "bf16-emulated (bf16 weights widened to fp32, fp32 sgemm)");
    else
        snprintf(mm, sizeof mm, "fp32");
    const char *bf16u = lc_cpu_has_bf16_units(&f) ? "yes" : "no";
    if (json)
        snprintf(buf, n,
                 "{\"cpu\":\"%s\",\"cpu_features\":\"%s\",\"bf16_units\":\"%s\",\"blas\":\"%s\",\"blas_core\":\"%s\","
                 "\"onednn\":\"%s\",\"precision\":\"%s\"}",
                 f.model_name, feat, bf16u, lc_blas_config(), core, lc_onednn_version(), mm);
    else
        snprintf(buf, n, "cpu %s [%s; bf16 units: %s] | BLAS %s, core %s | oneDNN %s | frozen matmuls %s", f.model_name,
                 feat, bf16u, lc_blas_config(), core, lc_onednn_version(), mm);
}
