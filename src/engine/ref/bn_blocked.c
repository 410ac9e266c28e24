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
 * bf16 (mixed precision): x, y, dy and dx may be bf16 instead. The same loops read them into
 * float lanes (a bf16 is the top half of a float) and round the results to bf16 (to nearest even, NaN kept) as they
 * store them; statistics, sums and coefficients stay in float and double. Each tile function is written once for
 * both element types (an always-inlined body with the type as a constant argument), so each type gets its own
 * straight loops. */
#include <math.h>
#include <string.h>

#include "engine/ref/bn_kernels.h"

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

/* A parallel region around F(..., bf16) with bf16 a literal: GCC outlines a region before it inlines, so the passes
 * are always inlined into regions opened here, each for one element type, and their tile loops carry no type test. */
#define REGION(s, F, ...)                                                                                          \
    do {                                                                                                           \
        const int t_ = (s)->threads;                                                                               \
        if ((s)->bf16) {                                                                                           \
            _Pragma("omp parallel num_threads(t_)") F(__VA_ARGS__, true);                                           \
        } else {                                                                                                   \
            _Pragma("omp parallel num_threads(t_)") F(__VA_ARGS__, false);                                          \
        }                                                                                                          \
    } while (0)

/* The work buffer: doubles [2 c + 1] (the per-channel sums and the count, reduced between the passes; forward:
 * [c + 1] sums and count, [c] squared deviations), then floats: per-tile partials [2][n][c], coefficients [3][c]. */
int64_t bn_blocked_work_floats(int64_t n, int64_t c) { return 2 * (2 * c + 2) + (2 * n + 3) * c; }

static float *tiles_of(float *work, int64_t C) { return work + 2 * (2 * C + 2); }

/* Byte offset of tile (image n, block cb). */
static size_t tile_off(const bn_shape *s, int64_t n, int64_t cb, bool bf16) {
    return (size_t)((n * (s->c / 16) + cb) * s->hw * 16) * (bf16 ? sizeof(uint16_t) : sizeof(float));
}

/* ---- forward: y, and the batch mean and biased variance [c] ----------------------------------------------------- */

/* Each tile's sum and squared deviations about its own mean, then the per-channel sums over the images in order, in
 * double. */
static inline __attribute__((always_inline)) void forward_sums(const bn_forward_args *a, double *red, float *work,
                                                               bool bf16) {
    const bn_shape *s = &a->s;
    const int64_t N = s->n, C = s->c, CB = C / 16;
    float *tsum = tiles_of(work, C), *tm2 = tsum + N * C; /* [N][C] per-tile sums, squared deviations */
#pragma omp for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t cb = 0; cb < CB; cb++)
            tile_stats_t(tsum + n * C + cb * 16, tm2 + n * C + cb * 16,
                         (const char *)a->x + tile_off(s, n, cb, bf16), s->hw, bf16);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        double t = 0;
        for (int64_t n = 0; n < N; n++) t += tsum[n * C + c];
        red[c] = t;
    }
}

/* The squared deviations about the batch mean, from the tiles' (C is small: one pass over [N][C]). */
static void forward_deviations(const bn_forward_args *a, double *red, float *work) {
    const int64_t N = a->s.n, C = a->s.c, HW = a->s.hw;
    const double count = red[C];
    const float *tsum = tiles_of(work, C), *tm2 = tsum + N * C;
    double *q = red + C + 1;
#pragma omp parallel for num_threads(a->s.threads) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        const double m = red[c] / count;
        double t = 0;
        for (int64_t n = 0; n < N; n++) {
            const double d = (double)tsum[n * C + c] / (double)HW - m;
            t += (double)tm2[n * C + c] + (double)HW * d * d;
        }
        q[c] = t;
    }
}

static inline __attribute__((always_inline)) void forward_normalise(const bn_forward_args *a, const double *red,
                                                                    float *work, bool bf16) {
    const bn_shape *s = &a->s;
    const int64_t N = s->n, C = s->c, CB = C / 16;
    const double count = red[C], *q = red + C + 1;
    float *scale_c = tiles_of(work, C) + 2 * N * C, *shift_c = scale_c + C; /* [C] y = (x - mean) scale + shift */
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        const double m = red[c] / count, v = q[c] / count;
        const float rstd = (float)(1.0 / sqrt(v + (double)s->eps));
        a->mean[c] = (float)m;
        if (a->var) a->var[c] = (float)v;
        if (a->rstd) a->rstd[c] = rstd;
        scale_c[c] = (a->gamma ? a->gamma[c] : 1.0f) * rstd;
        shift_c[c] = a->beta ? a->beta[c] : 0.0f;
        if (a->running_mean && a->running_var) {
            const float mo = s->momentum;
            a->running_mean[c] = (1.0f - mo) * a->running_mean[c] + mo * (float)m;
            a->running_var[c] = (1.0f - mo) * a->running_var[c] + mo * (float)(count > 1 ? q[c] / (count - 1) : v);
        }
    }
#pragma omp for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t cb = 0; cb < CB; cb++) {
            const size_t off = tile_off(s, n, cb, bf16);
            tile_normalise_t((char *)a->y + off, (const char *)a->x + off, load16(a->mean + cb * 16),
                             load16(scale_c + cb * 16), load16(shift_c + cb * 16), s->hw, a->relu, bf16);
        }
}

dy_status bn_blocked_forward(const bn_forward_args *a, float *work) {
    double *red = (double *)work;
    const int64_t C = a->s.c;
    REGION(&a->s, forward_sums, a, red, work);
    red[C] = (double)a->s.n * (double)a->s.hw;
    dy_status st = bn_allreduce(a->s.sync, red, C + 1);
    if (st != DY_OK) return st;
    forward_deviations(a, red, work);
    if ((st = bn_allreduce(a->s.sync, red + C + 1, C)) != DY_OK) return st;
    REGION(&a->s, forward_normalise, a, red, work);
    return DY_OK;
}

/* ---- backward: dx = gamma rstd (g - mean(g) - xhat mean(g xhat)), g = dy masked by y > 0 ------------------------ */

/* Each tile's sums of g and of g (x - mean), then per channel over the images in order, in double; dgamma and dbeta
 * (this process's share). */
static inline __attribute__((always_inline)) void backward_sums(const bn_backward_args *a, double *red, float *work,
                                                                bool bf16) {
    const bn_shape *s = &a->s;
    const int64_t N = s->n, C = s->c, CB = C / 16;
    float *tg = tiles_of(work, C), *tgx = tg + N * C; /* [N][C] per-tile sums of g and of g (x - mean) */
#pragma omp for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t cb = 0; cb < CB; cb++) {
            const size_t off = tile_off(s, n, cb, bf16);
            tile_grad_sums_t(tg + n * C + cb * 16, tgx + n * C + cb * 16, (const char *)a->dy + off,
                             (const char *)a->x + off, a->y ? (const char *)a->y + off : NULL,
                             load16(a->mean + cb * 16), s->hw, bf16);
        }
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        double sg = 0, sgx = 0;
        for (int64_t n = 0; n < N; n++) sg += tg[n * C + c], sgx += tgx[n * C + c];
        const float rstd = (float)(1.0 / sqrt((double)a->var[c] + (double)s->eps));
        red[c] = sg;
        red[C + c] = sgx;
        if (a->dbeta) a->dbeta[c] = (float)sg;
        if (a->dgamma) a->dgamma[c] = (float)(sgx * rstd);
    }
}

static inline __attribute__((always_inline)) void backward_dx(const bn_backward_args *a, const double *red,
                                                              float *work, bool bf16) {
    const bn_shape *s = &a->s;
    const int64_t N = s->n, C = s->c, CB = C / 16;
    const double count = red[2 * C];
    float *k1 = tiles_of(work, C) + 2 * N * C, *k2 = k1 + C, *k3 = k2 + C; /* [C] dx = k1 g - k2 - k3 (x - mean) */
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        const float rstd = (float)(1.0 / sqrt((double)a->var[c] + (double)s->eps));
        const double db = red[c], dg = red[C + c] * rstd; /* d beta, d gamma (of the global batch) */
        const float gr = (a->gamma ? a->gamma[c] : 1.0f) * rstd;
        k1[c] = gr;
        k2[c] = (float)(gr * db / count);
        k3[c] = (float)(gr * dg / count * rstd);
    }
#pragma omp for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t cb = 0; cb < CB; cb++) {
            const size_t off = tile_off(s, n, cb, bf16);
            tile_dx_t((char *)a->dx + off, (const char *)a->dy + off, (const char *)a->x + off,
                      a->y ? (const char *)a->y + off : NULL, load16(a->mean + cb * 16), load16(k1 + cb * 16),
                      load16(k2 + cb * 16), load16(k3 + cb * 16), s->hw, bf16);
        }
}

/* dx may be dy (each element is read before it is written). */
dy_status bn_blocked_backward(const bn_backward_args *a, float *work) {
    double *red = (double *)work;
    const int64_t C = a->s.c;
    REGION(&a->s, backward_sums, a, red, work);
    if (!a->dx) return DY_OK;
    red[2 * C] = (double)a->s.n * (double)a->s.hw;
    const dy_status st = bn_allreduce(a->s.sync, red, 2 * C + 1);
    if (st != DY_OK) return st;
    REGION(&a->s, backward_dx, a, red, work);
    return DY_OK;
}
