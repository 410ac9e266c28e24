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
 * forward ReLU's mask is the output itself (y > 0), so no workspace is kept. */
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

/* dy masked by the fused ReLU's output (y > 0; y NULL: no ReLU); NaN in y masks, as y > 0 is false. */
static inline v16 masked_grad(const float *dy, const float *y, int64_t i) {
    const v16 g = load16(dy + i);
    return y ? (v16)((v16i)g & (load16(y + i) > splat16(0))) : g;
}

/* The work buffer's floats: per-tile partials [2][n][c], then per-channel coefficients [3][c]. */
int64_t dd_bn_blocked_work_floats(int64_t n, int64_t c) { return (2 * n + 3) * c; }

/* One tile's sum over its HW pixels (float, four accumulators) and the sum of squared deviations about the tile's
 * own mean, per lane. */
static void tile_stats(float *sum_out, float *m2_out, const float *xb, int64_t HW) {
    v16 a0 = splat16(0), a1 = a0, a2 = a0, a3 = a0;
    int64_t p = 0;
    for (; p + 4 <= HW; p += 4) {
        a0 += load16(xb + (p + 0) * 16);
        a1 += load16(xb + (p + 1) * 16);
        a2 += load16(xb + (p + 2) * 16);
        a3 += load16(xb + (p + 3) * 16);
    }
    for (; p < HW; p++) a0 += load16(xb + p * 16);
    const v16 s = (a0 + a1) + (a2 + a3), m = s / splat16((float)HW);
    a0 = a1 = a2 = a3 = splat16(0);
    p = 0;
    for (; p + 4 <= HW; p += 4) {
        const v16 d0 = load16(xb + (p + 0) * 16) - m, d1 = load16(xb + (p + 1) * 16) - m;
        const v16 d2 = load16(xb + (p + 2) * 16) - m, d3 = load16(xb + (p + 3) * 16) - m;
        a0 += d0 * d0, a1 += d1 * d1, a2 += d2 * d2, a3 += d3 * d3;
    }
    for (; p < HW; p++) {
        const v16 d = load16(xb + p * 16) - m;
        a0 += d * d;
    }
    store16(sum_out, s);
    store16(m2_out, (a0 + a1) + (a2 + a3));
}

/* y, and the batch mean and biased variance [c]; running statistics updated when rmean is not NULL (rvar with it),
 * num_batches (may be NULL) up by one. gamma and beta may be NULL (1 and 0). work: dd_bn_blocked_work_floats. */
void dd_bn_blocked_forward(float *y, float *mean, float *var, float *rmean, float *rvar, float *batches,
                           const float *x, const float *gamma, const float *beta, int64_t N, int64_t C, int64_t HW,
                           float eps, float momentum, bool relu, float *work, int threads) {
    const int64_t CB = C / 16;
    const double count = (double)N * (double)HW;
    float *tsum = work, *tm2 = work + N * C;                  /* [N][C] per-tile sums, squared deviations */
    float *scale_c = work + 2 * N * C, *shift_c = scale_c + C; /* [C] y = (x - mean) scale + shift */
#pragma omp parallel num_threads(threads)
    {
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; n++)
            for (int64_t cb = 0; cb < CB; cb++)
                tile_stats(tsum + n * C + cb * 16, tm2 + n * C + cb * 16, x + (n * CB + cb) * HW * 16, HW);
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
                const float *xb = x + (n * CB + cb) * HW * 16;
                float *yb = y + (n * CB + cb) * HW * 16;
                const v16 m = load16(mean + cb * 16), scale = load16(scale_c + cb * 16);
                const v16 shift = load16(shift_c + cb * 16);
                if (relu)
                    for (int64_t p = 0; p < HW; p++) {
                        store16(yb + p * 16, relu16((load16(xb + p * 16) - m) * scale + shift));
                    }
                else
                    for (int64_t p = 0; p < HW; p++) store16(yb + p * 16, (load16(xb + p * 16) - m) * scale + shift);
            }
    }
    if (batches) batches[0] += 1.0f;
}

/* dx = gamma rstd (g - mean(g) - xhat mean(g xhat)) with g = dy masked by y > 0 (y: the fused ReLU's output, NULL
 * without ReLU); dx may be dy (each element is read before it is written). dgamma and dbeta (may be NULL)
 * assigned; gamma NULL: 1. work: dd_bn_blocked_work_floats. */
void dd_bn_blocked_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *y,
                            const float *mean, const float *var, const float *gamma, int64_t N, int64_t C, int64_t HW,
                            float eps, float *work, int threads) {
    const int64_t CB = C / 16;
    const double count = (double)N * (double)HW;
    float *tg = work, *tgx = work + N * C;             /* [N][C] per-tile sums of g and of g (x - mean) */
    float *k1 = work + 2 * N * C, *k2 = k1 + C, *k3 = k2 + C; /* [C] dx = k1 g - k2 - k3 (x - mean) */
#pragma omp parallel num_threads(threads)
    {
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; n++)
            for (int64_t cb = 0; cb < CB; cb++) {
                const int64_t off = (n * CB + cb) * HW * 16;
                const float *xb = x + off, *gb = dy + off, *yb = y ? y + off : NULL;
                const v16 m = load16(mean + cb * 16);
                v16 g0 = splat16(0), g1 = g0, gx0 = g0, gx1 = g0;
                int64_t p = 0;
                for (; p + 2 <= HW; p += 2) {
                    const v16 a = masked_grad(gb, yb, p * 16), b = masked_grad(gb, yb, (p + 1) * 16);
                    g0 += a, g1 += b;
                    gx0 += a * (load16(xb + p * 16) - m);
                    gx1 += b * (load16(xb + (p + 1) * 16) - m);
                }
                for (; p < HW; p++) {
                    const v16 a = masked_grad(gb, yb, p * 16);
                    g0 += a;
                    gx0 += a * (load16(xb + p * 16) - m);
                }
                store16(tg + n * C + cb * 16, g0 + g1);
                store16(tgx + n * C + cb * 16, gx0 + gx1);
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
                const int64_t off = (n * CB + cb) * HW * 16;
                const float *xb = x + off, *gb = dy + off, *yb = y ? y + off : NULL;
                float *dxb = dx + off;
                const v16 m = load16(mean + cb * 16), a = load16(k1 + cb * 16), b = load16(k2 + cb * 16);
                const v16 d = load16(k3 + cb * 16);
                for (int64_t p = 0; p < HW; p++)
                    store16(dxb + p * 16, a * masked_grad(gb, yb, p * 16) - b - d * (load16(xb + p * 16) - m));
            }
    }
}
