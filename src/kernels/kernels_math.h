/*
 * kernels_math.h — private: a vectorised single-precision exp for the float
 * kernels. glibc's expf is a scalar call (loops over it do not vectorise),
 * and GCC does not if-convert a scalar polynomial exp with range checks, so
 * this is written directly on 8-lane vectors (GCC/Clang vector extensions):
 * Cody–Waite range reduction, degree-7 Taylor polynomial, 2^n applied in two
 * halves so gradual underflow and overflow to inf come out right.
 * Max error < 1 ulp over [-104, 89] (measured against double exp);
 * exp(-inf) = 0, exp(+inf) = inf, NaN propagates.
 */
#ifndef LC_KERNELS_MATH_H
#define LC_KERNELS_MATH_H

#include <stdint.h>

typedef float lc_v8f __attribute__((vector_size(32)));
typedef int32_t lc_v8i __attribute__((vector_size(32)));

/* lanes of a where mask (all ones), else lanes of b */
static inline lc_v8f lc_v8_select(lc_v8i mask, lc_v8f a, lc_v8f b)
{
    return (lc_v8f)((mask & (lc_v8i)a) | (~mask & (lc_v8i)b));
}

static inline lc_v8f lc_expf_v8(lc_v8f x)
{
    const lc_v8f lo = (lc_v8f){0} - 104.0f, hi = (lc_v8f){0} + 89.0f;
    const float log2e = 1.44269504088896341f, round = 12582912.0f; /* 1.5 * 2^23 */
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187e-06f;
    lc_v8f xc = lc_v8_select(x < lo, lo, x);
    xc = lc_v8_select(xc > hi, hi, xc);
    lc_v8f n = (xc * log2e + round) - round; /* nearest integer to x log2(e) */
    lc_v8f r = (xc - n * ln2_hi) - n * ln2_lo; /* |r| <= ln2 / 2 (+ rounding) */
    lc_v8f p = (lc_v8f){0} + 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    lc_v8i ni = __builtin_convertvector(n, lc_v8i);
    lc_v8i n1 = ni >> 1, n2 = ni - n1; /* 2^n = 2^n1 2^n2, both normal */
    lc_v8f s1 = (lc_v8f)((n1 + 127) << 23), s2 = (lc_v8f)((n2 + 127) << 23);
    lc_v8f y = (p * s1) * s2;
    y = lc_v8_select(x < lo, (lc_v8f){0}, y);
    return lc_v8_select(x != x, x, y); /* NaN in, NaN out */
}

/* Scalar exp with exactly the vector version's rounding. */
static inline float lc_expf_1(float x)
{
    lc_v8f v = (lc_v8f){0} + x;
    return lc_expf_v8(v)[0];
}

#endif /* LC_KERNELS_MATH_H */
