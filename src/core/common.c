/*
 * common.c — status messages, invariant checks, aligned allocation, timing,
 * memory readings, thread setup and the RNG declared in lc_common.h.
 */
#include "lc_common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* OpenBLAS's own thread control (declared in its cblas.h on Debian). */
extern void openblas_set_num_threads(int num_threads);

static _Thread_local char g_err[4096];

lc_status lc_errorf(lc_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return code;
}

lc_status lc_error_wrap(lc_status code, const char *fmt, ...) {
    char prefix[1024], old[sizeof g_err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_err, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof g_err - 3) n = sizeof g_err - 3;
    memcpy(g_err, prefix, n);
    g_err[n] = ':';
    g_err[n + 1] = ' ';
    size_t room = sizeof g_err - n - 3;
    size_t olen = strnlen(old, room);
    memcpy(g_err + n + 2, old, olen);
    g_err[n + 2 + olen] = 0;
    return code;
}

const char *lc_error_msg(void) { return g_err[0] ? g_err : "(no message)"; }

const char *lc_status_name(lc_status s) {
    switch (s) {
    case LC_OK: return "ok";
    case LC_ERR_IO: return "I/O error";
    case LC_ERR_FORMAT: return "format error";
    case LC_ERR_CONFIG: return "config error";
    case LC_ERR_UNSUPPORTED: return "unsupported";
    case LC_ERR_NOMEM: return "out of memory";
    case LC_ERR_ARG: return "bad argument";
    case LC_ERR_NUMERIC: return "numeric error";
    case LC_ERR_MISMATCH: return "mismatch";
    case LC_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown error";
}

void lc_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "lorac: internal invariant failed at %s:%d: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}

void *lc_alloc(size_t bytes) {
    void *p = NULL;
    if (bytes == 0) bytes = 64;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, rounded) != 0) return NULL;
    return p;
}

void *lc_calloc(size_t bytes) {
    void *p = lc_alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void lc_free(void *p) { free(p); }

double lc_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t read_status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0, klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0) {
            kb = strtoull(line + klen, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

size_t lc_peak_rss_bytes(void) { return read_status_kb("VmHWM:"); }
size_t lc_rss_bytes(void) { return read_status_kb("VmRSS:"); }

static int g_threads = 1;

int lc_threads_init(int n) {
    if (n <= 0) {
        const char *env = getenv("OMP_NUM_THREADS");
        n = env ? atoi(env) : 0;
        if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
        if (n <= 0) n = 1;
    }
    g_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    return n;
}

int lc_threads_get(void) { return g_threads; }

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void lc_rng_seed(lc_rng *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

uint64_t lc_rng_u64(lc_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float lc_rng_uniform(lc_rng *rng) {
    return (float)(lc_rng_u64(rng) >> 40) * (1.0f / 16777216.0f);
}

float lc_rng_normal(lc_rng *rng) {
    double u1 = ((double)(lc_rng_u64(rng) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(lc_rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

uint32_t lc_rng_below(lc_rng *rng, uint32_t n) {
    return (uint32_t)(((lc_rng_u64(rng) >> 32) * (uint64_t)n) >> 32);
}

uint64_t lc_hash64(uint64_t seed, uint64_t counter) {
    uint64_t x = seed ^ (counter * 0xD1B54A32D192ED03ull);
    return splitmix64(&x);
}

int lc_all_finite(const float *x, size_t n) {
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) { ok = 0; break; }
    return ok;
}
