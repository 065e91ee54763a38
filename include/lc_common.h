/*
 * lc_common.h — what every lorac module shares: status codes with a
 * thread-local error message, never-compiled-out invariant checks, aligned
 * allocation, timing, peak memory, the thread count, and a small seedable RNG.
 *
 * Error convention: library functions return lc_status; on failure they call
 * lc_errorf() with a message a user can act on (file, row/tensor, expected,
 * found) and the caller shows lc_error_msg(). Only the CLI exits.
 */
#ifndef LC_COMMON_H
#define LC_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LC_OK = 0,
    LC_ERR_IO,          /* cannot open/read/write a file */
    LC_ERR_FORMAT,      /* a file's content is malformed or truncated */
    LC_ERR_CONFIG,      /* a config key or value is unknown or out of range */
    LC_ERR_UNSUPPORTED, /* valid input that lorac does not handle (yet) */
    LC_ERR_NOMEM,       /* allocation failed */
    LC_ERR_ARG,         /* bad argument from the caller */
    LC_ERR_NUMERIC,     /* NaN/inf where a finite number is required */
    LC_ERR_MISMATCH,    /* e.g. an adapter for another base model */
    LC_ERR_INTERRUPTED, /* stopped by a signal */
} lc_status;

/* Set the thread-local error message (printf-style) and return `code`. */
lc_status lc_errorf(lc_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefix the current message with more context ("loading X: <old message>"). */
lc_status lc_error_wrap(lc_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *lc_error_msg(void);
const char *lc_status_name(lc_status s);

/* Invariant check for programming errors inside the engine (never for user
 * input). Never compiled out: prints file:line and aborts. */
#define LC_ASSERT(cond)                                                      \
    do {                                                                     \
        if (!(cond)) lc_assert_fail(#cond, __FILE__, __LINE__);              \
    } while (0)
void lc_assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

/* 64-byte aligned allocation; NULL on failure. Free with lc_free. */
void *lc_alloc(size_t bytes);
void *lc_calloc(size_t bytes);
void lc_free(void *p);

/* Wall-clock seconds (monotonic). */
double lc_time_now(void);
/* Peak resident set size of this process in bytes (VmHWM). */
size_t lc_peak_rss_bytes(void);
/* Current resident set size in bytes (VmRSS). */
size_t lc_rss_bytes(void);

/* Threads: lc_threads_init(n) sets OpenMP and OpenBLAS to n threads
 * (n <= 0: OMP_NUM_THREADS if set, else the number of cores). */
int lc_threads_init(int n);
int lc_threads_get(void);
/* For programs' main(): lc_compute_env_prepare(argv) in lc_cpu.h sets
 * OMP_WAIT_POLICY=PASSIVE (idle threads sleep instead of spinning: as fast on
 * an idle machine and up to 10x faster on a loaded one) and corrects the
 * OpenBLAS core, with one re-exec. */

/* Small fast RNG (xoshiro256**), fully serialisable for bit-exact resume. */
typedef struct {
    uint64_t s[4];
} lc_rng;
void lc_rng_seed(lc_rng *rng, uint64_t seed);
uint64_t lc_rng_u64(lc_rng *rng);
float lc_rng_uniform(lc_rng *rng);        /* [0, 1) */
float lc_rng_normal(lc_rng *rng);         /* N(0, 1) via Box–Muller */
uint32_t lc_rng_below(lc_rng *rng, uint32_t n); /* uniform in [0, n) */

/* Stateless counter-based hash: the same (seed, counter) always gives the same
 * value; used for dropout masks that backward regenerates instead of storing. */
uint64_t lc_hash64(uint64_t seed, uint64_t counter);
static inline float lc_hash_uniform(uint64_t seed, uint64_t counter) {
    return (float)(lc_hash64(seed, counter) >> 40) * (1.0f / 16777216.0f);
}

/* A float is finite (not NaN, not inf). */
int lc_all_finite(const float *x, size_t n);

/* Interrupts (Ctrl-C, SIGTERM): the CLI's signal handler calls
 * lc_interrupt_raise(sig) (async-signal-safe); every long phase (load,
 * tokenise, validate, eval, generate, merge) polls lc_interrupt_check, which
 * returns LC_ERR_INTERRUPTED "interrupted (SIGINT) while <what>" once a
 * signal has arrived, so the phase unwinds without writing anything. */
void lc_interrupt_raise(int sig);
int lc_interrupt_pending(void);          /* the signal number, or 0 */
lc_status lc_interrupt_check(const char *what);
void lc_interrupt_reset(void);

#ifdef __cplusplus
}
#endif
#endif /* LC_COMMON_H */
