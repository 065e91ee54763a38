/*
 * optim.c — AdamW step (bit-for-bit the operation order of
 * torch.optim.AdamW(foreach=False) on CPU), the global-norm helper and an
 * in-place scale. Compiled with -ffp-contract=off (see CMakeLists.txt) so the
 * compiler cannot fuse multiplies and adds that torch keeps separate.
 */
#include "lc_kernels.h"

#include <math.h>
#include <omp.h>

#include "lc_common.h"

void lc_adamw_step(float *param, const float *grad, float *m, float *v, size_t n, float lr,
                   float beta1, float beta2, float eps, float weight_decay, long t)
{
    /* param, grad, m, v (n) */
    LC_ASSERT(t >= 1);
    /* torch computes these from Python floats (double) and casts each scalar
     * to float when it meets a float tensor. */
    const double dlr = lr, db1 = beta1, db2 = beta2;
    const float decay = (float)(1.0 - dlr * (double)weight_decay); /* param.mul_(1 - lr*wd) */
    const float w1 = (float)(1.0 - db1);                           /* exp_avg.lerp_(g, 1-b1) */
    const float b2 = beta2;                                        /* exp_avg_sq.mul_(b2) */
    const float omb2 = (float)(1.0 - db2);                         /* .addcmul_(g, g, 1-b2) */
    const double bc1 = 1.0 - pow(db1, (double)t);
    const double bc2 = 1.0 - pow(db2, (double)t);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float neg_step = (float)(-(dlr / bc1));
    const int small = fabsf(w1) < 0.5f; /* torch's lerp picks its formula by |weight| */
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        const float g = grad[i];
        float p = param[i] * decay;
        float mi = m[i], d = g - mi;
        mi = small ? fmaf(w1, d, mi) : fmaf(w1 - 1.0f, d, g); /* torch's vectorised lerp */
        float vi = fmaf(omb2 * g, g, v[i] * b2); /* torch's addcmul is fused on AVX2 */
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        p = p + neg_step * mi / denom;
        param[i] = p;
        m[i] = mi;
        v[i] = vi;
    }
}

/* Sum of x[lo, hi) squared, in double, 4 independent partial sums. */
static double sumsq_range(const float *x, size_t lo, size_t hi)
{
    double s[4] = {0, 0, 0, 0};
    size_t i = lo;
    for (; i + 4 <= hi; i += 4)
        for (int u = 0; u < 4; u++) s[u] += (double)x[i + u] * x[i + u];
    for (; i < hi; i++) s[0] += (double)x[i] * x[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

double lc_sum_squares(const float *x, size_t n)
{
    /* Each thread sums one contiguous slice; the slices are added in thread
     * order, so the result is deterministic for a fixed thread count. */
    if (n < 65536) return sumsq_range(x, 0, n);
    int maxt = omp_get_max_threads();
    double part[maxt];
    for (int i = 0; i < maxt; i++) part[i] = 0;
#pragma omp parallel
    {
        int id = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = n * id / nt, hi = n * (id + 1) / nt;
        part[id] = sumsq_range(x, lo, hi);
    }
    double total = 0;
    for (int i = 0; i < maxt; i++) total += part[i];
    return total;
}

void lc_scale(float *x, size_t n, float s)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) x[i] *= s;
}
