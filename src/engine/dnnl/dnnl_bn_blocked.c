/* Training batch norm (+ ReLU) on nChw16c activations, in plain C with OpenMP over (image, 16-channel block) tiles.
 *
 * Why not oneDNN's: on this machine oneDNN 2.6's bnorm_jit took 70-170 ms per call on the 16-64 MiB activations
 * of ResNet-18's first two stages (6 ms on the 8 MiB ones of stage 3; memcpy moves 64 MiB in 4 ms), erratic and
 * far from the memory bound, which made batch norm 30 % of a training step.
 *
 * Layout: element (n, c, p) of an [N, C, HW] tensor in nChw16c is at ((n * C/16 + c/16) * HW + p) * 16 + c % 16, so
 * one tile (image n, block cb) is HW x 16 contiguous floats (64 KiB at 32x32): it stays in L2 while it is read twice.
 *
 * Work splits over tiles, not over channel blocks alone: a width-16 network's first stage has one channel block,
 * which used to run on one thread. Each tile writes its own float partial sums to a work buffer [N][C]; the per-
 * channel totals are then added in double over the images in order, so the result does not depend on the thread
 * count (nor on how the tiles are scheduled). Forward streams x from memory twice (statistics; normalise) and
 * writes y once: a tile's statistics are its sum and its sum of squared deviations about its own mean, both from
 * the cached tile, combined over tiles by the parallel-variance formula (Chan et al.) in double, so there is no
 * E[x^2] - E[x]^2 cancellation. Backward streams (dy, x, y) twice: the two sums, then dx. The lanes are 16-float
 * vectors (GCC/clang vector extensions: AVX-512, or two AVX2 / four SSE registers), four accumulators deep. The
 * forward ReLU's mask is the output itself (y > 0), so no workspace is kept.
 *
 * bf16 (mixed precision): x, y, dy and dx may be bf16 instead (the _bf16 entry points). The same loops read them into
 * float lanes (a bf16 is the top half of a float) and round the results to bf16 (to nearest even, NaN kept) as they
 * store them; statistics, sums and coefficients stay in float and double. Each tile function is written once for
 * both element types (an always-inlined body with the type as a constant argument), so each type gets its own
 * straight loops. */
#include <math.h>
#include <string.h>

#include "engine/dnnl/dnnl_exec_internal.h"

/* Built without AVX-512 (the sanitizer and valgrind builds) these 64-byte vectors are passed in memory, which the
 * compilers warn changes the ABI: true, and of no concern for functions local to this file. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((vector_size(64)));

static inline v16 load16(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store16(float *p, v16 v) { memcpy(p, &v, sizeof v); }

static inline v16 splat16(float f) { return (v16){f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f}; }

typedef int32_t v16i __attribute__((vector_size(64)));

/* v with its negative lanes zeroed (NaN and -0 kept, as `v < 0 ? 0 : v`) */
static inline v16 relu16(v16 v) { return (v16)((v16i)v & ~(v < splat16(0))); }

typedef uint32_t v16u __attribute__((vector_size(64)));
typedef uint16_t v16h __attribute__((vector_size(32)));

/* 16 bf16 values widened to float lanes (exact). */
static inline v16 load16_bf16(const uint16_t *p) {
    v16h h;
    memcpy(&h, p, sizeof h);
    return (v16)(__builtin_convertvector(h, v16u) << 16);
}

/* 16 floats rounded to bf16, to nearest even; a NaN stays a (quiet) NaN instead of rounding into the exponent. */
static inline void store16_bf16(uint16_t *p, v16 v) {
    const v16u u = (v16u)v;
    const v16u rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const v16u nan = (v16u)((u & 0x7fffffffu) > 0x7f800000u);
    const v16h h = __builtin_convertvector((rounded & ~nan) | (((u >> 16) | 0x40u) & nan), v16h);
    memcpy(p, &h, sizeof h);
}

/* Element i.. i+15 of an activation of either type, as float lanes, and stored back. */
static inline __attribute__((always_inline)) v16 load_act(const void *p, int64_t i, bool bf16) {
    return bf16 ? load16_bf16((const uint16_t *)p + i) : load16((const float *)p + i);
}

static inline __attribute__((always_inline)) void store_act(void *p, int64_t i, v16 v, bool bf16) {
    if (bf16) store16_bf16((uint16_t *)p + i, v);
    else store16((float *)p + i, v);
}

/* dy masked by the fused ReLU's output (y > 0; y NULL: no ReLU); NaN in y masks, as y > 0 is false. */
static inline __attribute__((always_inline)) v16 masked_grad(const void *dy, const void *y, int64_t i, bool bf16) {
    const v16 g = load_act(dy, i, bf16);
    return y ? (v16)((v16i)g & (load_act(y, i, bf16) > splat16(0))) : g;
}

/* The work buffer's floats: per-tile partials [2][n][c], then per-channel coefficients [3][c]. */
int64_t dd_bn_blocked_work_floats(int64_t n, int64_t c) { return (2 * n + 3) * c; }

/* One tile's sum over its HW pixels (float, four accumulators) and the sum of squared deviations about the tile's
 * own mean, per lane. */
static inline __attribute__((always_inline)) void tile_stats_t(float *sum_out, float *m2_out, const void *xb,
                                                                 int64_t HW, bool bf16) {
    v16 a0 = splat16(0), a1 = a0, a2 = a0, a3 = a0;
    int64_t p = 0;
    for (; p + 4 <= HW; p += 4) {
        a0 += load_act(xb, (p + 0) * 16, bf16);
        a1 += load_act(xb, (p + 1) * 16, bf16);
        a2 += load_act(xb, (p + 2) * 16, bf16);
        a3 += load_act(xb, (p + 3) * 16, bf16);
    }
    for (; p < HW; p++) a0 += load_act(xb, p * 16, bf16);
    const v16 s = (a0 + a1) + (a2 + a3), m = s / splat16((float)HW);
    a0 = a1 = a2 = a3 = splat16(0);
    p = 0;
    for (; p + 4 <= HW; p += 4) {
        const v16 d0 = load_act(xb, (p + 0) * 16, bf16) - m, d1 = load_act(xb, (p + 1) * 16, bf16) - m;
        const v16 d2 = load_act(xb, (p + 2) * 16, bf16) - m, d3 = load_act(xb, (p + 3) * 16, bf16) - m;
        a0 += d0 * d0, a1 += d1 * d1, a2 += d2 * d2, a3 += d3 * d3;
    }
    for (; p < HW; p++) {
        const v16 d = load_act(xb, p * 16, bf16) - m;
        a0 += d * d;
    }
    store16(sum_out, s);
    store16(m2_out, (a0 + a1) + (a2 + a3));
}

/* y of one tile: (x - m) scale + shift, ReLU'd when relu. */
static inline __attribute__((always_inline)) void tile_normalise_t(void *yb, const void *xb, v16 m, v16 scale,
                                                                   v16 shift, int64_t HW, bool relu, bool bf16) {
    if (relu)
        for (int64_t p = 0; p < HW; p++)
            store_act(yb, p * 16, relu16((load_act(xb, p * 16, bf16) - m) * scale + shift), bf16);
    else
        for (int64_t p = 0; p < HW; p++) store_act(yb, p * 16, (load_act(xb, p * 16, bf16) - m) * scale + shift, bf16);
}

/* One tile's sums of g and of g (x - m), g the masked gradient. */
static inline __attribute__((always_inline)) void tile_grad_sums_t(float *g_out, float *gx_out, const void *gb,
                                                                   const void *xb, const void *yb, v16 m, int64_t HW,
                                                                   bool bf16) {
    v16 g0 = splat16(0), g1 = g0, gx0 = g0, gx1 = g0;
    int64_t p = 0;
    for (; p + 2 <= HW; p += 2) {
        const v16 a = masked_grad(gb, yb, p * 16, bf16), b = masked_grad(gb, yb, (p + 1) * 16, bf16);
        g0 += a, g1 += b;
        gx0 += a * (load_act(xb, p * 16, bf16) - m);
        gx1 += b * (load_act(xb, (p + 1) * 16, bf16) - m);
    }
    for (; p < HW; p++) {
        const v16 a = masked_grad(gb, yb, p * 16, bf16);
        g0 += a;
        gx0 += a * (load_act(xb, p * 16, bf16) - m);
    }
    store16(g_out, g0 + g1);
    store16(gx_out, gx0 + gx1);
}

/* dx of one tile: k1 g - k2 - k3 (x - m); dxb may be gb. */
static inline __attribute__((always_inline)) void tile_dx_t(void *dxb, const void *gb, const void *xb, const void *yb,
                                                            v16 m, v16 k1, v16 k2, v16 k3, int64_t HW, bool bf16) {
    for (int64_t p = 0; p < HW; p++)
        store_act(dxb, p * 16,
                  k1 * masked_grad(gb, yb, p * 16, bf16) - k2 - k3 * (load_act(xb, p * 16, bf16) - m), bf16);
}

/* The tile functions, one copy per element type (called once per 16-channel tile, so the branch is outside the
 * loops). */
static void tile_stats(float *sum_out, float *m2_out, const void *xb, int64_t HW, bool bf16) {
    if (bf16) tile_stats_t(sum_out, m2_out, xb, HW, true);
    else tile_stats_t(sum_out, m2_out, xb, HW, false);
}

static void tile_normalise(void *yb, const void *xb, v16 m, v16 scale, v16 shift, int64_t HW, bool relu, bool bf16) {
    if (bf16) tile_normalise_t(yb, xb, m, scale, shift, HW, relu, true);
    else tile_normalise_t(yb, xb, m, scale, shift, HW, relu, false);
}

static void tile_grad_sums(float *g_out, float *gx_out, const void *gb, const void *xb, const void *yb, v16 m,
                           int64_t HW, bool bf16) {
    if (bf16) tile_grad_sums_t(g_out, gx_out, gb, xb, yb, m, HW, true);
    else tile_grad_sums_t(g_out, gx_out, gb, xb, yb, m, HW, false);
}

static void tile_dx(void *dxb, const void *gb, const void *xb, const void *yb, v16 m, v16 k1, v16 k2, v16 k3,
                    int64_t HW, bool bf16) {
    if (bf16) tile_dx_t(dxb, gb, xb, yb, m, k1, k2, k3, HW, true);
    else tile_dx_t(dxb, gb, xb, yb, m, k1, k2, k3, HW, false);
}

/* y, and the batch mean and biased variance [c]; running statistics updated when rmean is not NULL (rvar with it),
 * num_batches (may be NULL) up by one. gamma and beta may be NULL (1 and 0). work: dd_bn_blocked_work_floats. */
static void bn_forward(void *y, float *mean, float *var, float *rmean, float *rvar, float *batches, const void *x,
                       const float *gamma, const float *beta, int64_t N, int64_t C, int64_t HW, float eps,
                       float momentum, bool relu, float *work, int threads, bool bf16) {
    const int64_t CB = C / 16;
    const size_t esize = bf16 ? sizeof(uint16_t) : sizeof(float);
    const double count = (double)N * (double)HW;
    float *tsum = work, *tm2 = work + N * C;                  /* [N][C] per-tile sums, squared deviations */
    float *scale_c = work + 2 * N * C, *shift_c = scale_c + C; /* [C] y = (x - mean) scale + shift */
#pragma omp parallel num_threads(threads)
    {
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; n++)
            for (int64_t cb = 0; cb < CB; cb++)
                tile_stats(tsum + n * C + cb * 16, tm2 + n * C + cb * 16,
                           (const char *)x + (size_t)((n * CB + cb) * HW * 16) * esize, HW, bf16);
        /* per channel, over the images in order, in double (C is small: one pass over [N][C]) */
#pragma omp for schedule(static)
        for (int64_t c = 0; c < C; c++) {
            double s = 0;
            for (int64_t n = 0; n < N; n++) s += tsum[n * C + c];
            const double m = s / count;
            double q = 0;
            for (int64_t n = 0; n < N; n++) {
                const double d = (double)tsum[n * C + c] / (double)HW - m;
                q += (double)tm2[n * C + c] + (double)HW * d * d;
            }
            const double v = q / count;
            const float rstd = (float)(1.0 / sqrt(v + (double)eps));
            mean[c] = (float)m;
            var[c] = (float)v;
            const float scale = (gamma ? gamma[c] : 1.0f) * rstd;
            scale_c[c] = scale;
            shift_c[c] = beta ? beta[c] : 0.0f;
            if (rmean) {
                const float mo = momentum;
                rmean[c] = (1.0f - mo) * rmean[c] + mo * (float)m;
                rvar[c] = (1.0f - mo) * rvar[c] + mo * (float)(count > 1 ? q / (count - 1) : v);
            }
        }
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; n++)
            for (int64_t cb = 0; cb < CB; cb++) {
                const size_t off = (size_t)((n * CB + cb) * HW * 16) * esize;
                tile_normalise((char *)y + off, (const char *)x + off, load16(mean + cb * 16),
                               load16(scale_c + cb * 16), load16(shift_c + cb * 16), HW, relu, bf16);
            }
    }
    if (batches) batches[0] += 1.0f;
}

void dd_bn_blocked_forward(float *y, float *mean, float *var, float *rmean, float *rvar, float *batches,
                           const float *x, const float *gamma, const float *beta, int64_t N, int64_t C, int64_t HW,
                           float eps, float momentum, bool relu, float *work, int threads) {
    bn_forward(y, mean, var, rmean, rvar, batches, x, gamma, beta, N, C, HW, eps, momentum, relu, work, threads,
               false);
}

void dd_bn_blocked_forward_bf16(uint16_t *y, float *mean, float *var, float *rmean, float *rvar, float *batches,
                                const uint16_t *x, const float *gamma, const float *beta, int64_t N, int64_t C,
                                int64_t HW, float eps, float momentum, bool relu, float *work, int threads) {
    bn_forward(y, mean, var, rmean, rvar, batches, x, gamma, beta, N, C, HW, eps, momentum, relu, work, threads,
               true);
}

/* dx = gamma rstd (g - mean(g) - xhat mean(g xhat)) with g = dy masked by y > 0 (y: the fused ReLU's output, NULL
 * without ReLU); dx may be dy (each element is read before it is written). dgamma and dbeta (may be NULL)
 * assigned; gamma NULL: 1. work: dd_bn_blocked_work_floats. */
static void bn_backward(void *dx, float *dgamma, float *dbeta, const void *dy, const void *x, const void *y,
                        const float *mean, const float *var, const float *gamma, int64_t N, int64_t C, int64_t HW,
                        float eps, float *work, int threads, bool bf16) {
    const int64_t CB = C / 16;
    const size_t esize = bf16 ? sizeof(uint16_t) : sizeof(float);
    const double count = (double)N * (double)HW;
    float *tg = work, *tgx = work + N * C;             /* [N][C] per-tile sums of g and of g (x - mean) */
    float *k1 = work + 2 * N * C, *k2 = k1 + C, *k3 = k2 + C; /* [C] dx = k1 g - k2 - k3 (x - mean) */
#pragma omp parallel num_threads(threads)
    {
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; n++)
            for (int64_t cb = 0; cb < CB; cb++) {
                const size_t off = (size_t)((n * CB + cb) * HW * 16) * esize;
                tile_grad_sums(tg + n * C + cb * 16, tgx + n * C + cb * 16, (const char *)dy + off,
                               (const char *)x + off, y ? (const char *)y + off : NULL, load16(mean + cb * 16), HW,
                               bf16);
            }
#pragma omp for schedule(static)
        for (int64_t c = 0; c < C; c++) {
            double sg = 0, sgx = 0;
            for (int64_t n = 0; n < N; n++) sg += tg[n * C + c], sgx += tgx[n * C + c];
            const float rstd = (float)(1.0 / sqrt((double)var[c] + (double)eps));
            const double db = sg, dg = sgx * rstd; /* d beta, d gamma */
            if (dbeta) dbeta[c] = (float)db;
            if (dgamma) dgamma[c] = (float)dg;
            const float gr = (gamma ? gamma[c] : 1.0f) * rstd;
            k1[c] = gr;
            k2[c] = (float)(gr * db / count);
            k3[c] = (float)(gr * dg / count * rstd);
        }
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; n++)
            for (int64_t cb = 0; cb < CB; cb++) {
                const size_t off = (size_t)((n * CB + cb) * HW * 16) * esize;
                tile_dx((char *)dx + off, (const char *)dy + off, (const char *)x + off,
                        y ? (const char *)y + off : NULL, load16(mean + cb * 16), load16(k1 + cb * 16),
                        load16(k2 + cb * 16), load16(k3 + cb * 16), HW, bf16);
            }
    }
}

void dd_bn_blocked_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *y,
                            const float *mean, const float *var, const float *gamma, int64_t N, int64_t C, int64_t HW,
                            float eps, float *work, int threads) {
    bn_backward(dx, dgamma, dbeta, dy, x, y, mean, var, gamma, N, C, HW, eps, work, threads, false);
}

void dd_bn_blocked_backward_bf16(uint16_t *dx, float *dgamma, float *dbeta, const uint16_t *dy, const uint16_t *x,
                                 const uint16_t *y, const float *mean, const float *var, const float *gamma, int64_t N,
                                 int64_t C, int64_t HW, float eps, float *work, int threads) {
    bn_backward(dx, dgamma, dbeta, dy, x, y, mean, var, gamma, N, C, HW, eps, work, threads, true);
}
