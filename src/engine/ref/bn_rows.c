/* Training batch norm (+ ReLU) on the plain layouts, every per-channel sum in double: BN_NCHW (the reference op of
 * the reference executor, and nchw activations under sync-bn) and BN_NHWC (the oneDNN executor's channels-last
 * activations, and its [n, c] ones under sync-bn), float or bf16.
 *
 * Why not oneDNN's on nhwc: nhwc is the layout of channel counts that are not multiples of 16 (see forward_pd in
 * dnnl_conv.c), and oneDNN 2.6's batch norms for it (nspc_bnorm, bnorm_tbb_jit) sum in float32. Measured on their
 * own against a double evaluation (4 x C x 32 x 32, channel means 10 to 100 times the spread, as after a
 * convolution), their means were off by 1e-4 to 3e-4 of the spread, 10 times the blocked kernels' error; and at
 * width 1, where a 1x1 shortcut convolution's weight gradient is a near-total cancellation (batch norm makes the
 * loss nearly independent of the scale of a single input channel), the oneDNN path's gradient of
 * layer2.0.downsample.0 was off the double value by 5e-3 at 64 pixels against 6e-5 for the reference (tests/
 * test_small_widths.c, docs/SMALL_WIDTHS.md). These loops cost little: nhwc only carries narrow networks.
 *
 * A row is one pixel of one image (row r = n HW + p). The statistics are summed per (chunk of rows, block of
 * channels) tile: on nhwc 64 channels side by side (the loops vectorise across them), on nchw one channel. Chunks
 * are a property of the shape, not of the thread count: channels-last tensors of 16 channels and more are cut into
 * chunks of 256 rows (the tiles keep every thread busy however few channel blocks there are); narrower ones (the
 * widths below 16 that the blocked layout also sends here) and nchw tensors are one chunk of all the rows, the
 * sequential sums, which tests/test_cli_checkpoint_fixture.c holds to committed bits (adding the one chunk's sum to
 * 0 changes no bit). The element-wise passes (normalise; dx) split over (image, channel block) tiles. The forward
 * ReLU's mask is the output itself (y > 0), as in bn_blocked.c, so no workspace is kept.
 *
 * GCC outlines an OpenMP region before it inlines: so every region here is opened around a call of an always-inlined
 * pass with the layout, the element type and the mask as literals (the REGION macros), and its loops vectorise with
 * no test of them inside. */
#include <math.h>
#include <string.h>

#include "engine/ref/bn_kernels.h"

enum { LANES = 64, WIDE = 16, CHUNK = 256 };

#define LANES_OF(L) ((L) == BN_NHWC ? LANES : 1) /* channels per tile */

/* Element i of an activation of either type, as a float, and a float stored back (bf16: rounded to nearest even, a
 * NaN kept a quiet NaN). */
static inline __attribute__((always_inline)) float ld(const void *p, int64_t i, bool bf16) {
    if (!bf16) return ((const float *)p)[i];
    const uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline __attribute__((always_inline)) void st(void *p, int64_t i, float v, bool bf16) {
    if (!bf16) {
        ((float *)p)[i] = v;
        return;
    }
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
    ((uint16_t *)p)[i] = (uint16_t)(nan ? (u >> 16) | 0x40u : (u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* dy masked by the fused ReLU's output (mask: y > 0; a NaN in y masks); both loads unconditional, a select after
 * them, so that the loops vectorise. */
static inline __attribute__((always_inline)) double grad(const void *dy, const void *y, int64_t i, bool bf16,
                                                         bool mask) {
    const double d = ld(dy, i, bf16);
    const float keep = mask ? ld(y, i, bf16) : 1.0f;
    return keep > 0.0f ? d : 0.0;
}

static int64_t chunk_rows(bn_layout L, const bn_shape *s) {
    const int64_t rows = s->n * s->hw;
    return L == BN_NHWC && s->c >= WIDE ? CHUNK : rows > 0 ? rows : 1;
}

static int64_t n_chunks(bn_layout L, const bn_shape *s) {
    return (s->n * s->hw + chunk_rows(L, s) - 1) / chunk_rows(L, s);
}

/* In doubles: forward [c + 1] sums and count, [c] means, [c] squared deviations, [c] scale, [c] shift, [chunks][c]
 * partial sums; backward [2 c + 1] sums and count, [c] rstd, [c] k, [c] mean g, [c] mean g xhat, two [chunks][c]. */
int64_t bn_rows_work_floats(bn_layout layout, int64_t n, int64_t c, int64_t hw) {
    const bn_shape s = {.layout = layout, .n = n, .c = c, .hw = hw};
    return 2 * (6 * c + 2 + 2 * n_chunks(layout, &s) * c);
}

/* part[chunk][c] (and part2, when not NULL) = the sums of TERM (TERM2) over the chunk's rows, in row order, for
 * every channel c, as orphaned worksharing in the caller's region: the per-element terms are written out by each
 * caller (a macro keeps the loops that the compiler vectorises). i is the element's index, c its channel. */
#define CHUNKED_SUMS(L, s, part, part2, TERM, TERM2)                                                               \
    do {                                                                                                           \
        const int64_t C_ = (s)->c, HW_ = (s)->hw, R_ = (s)->n * HW_, CH_ = chunk_rows(L, s);                       \
        const int64_t n_blocks_ = (C_ + LANES_OF(L) - 1) / LANES_OF(L), chunks_ = n_chunks(L, s);                  \
        _Pragma("omp for collapse(2) schedule(static)") for (int64_t ch = 0; ch < chunks_; ch++) for (             \
            int64_t cb = 0; cb < n_blocks_; cb++) {                                                                \
            const int64_t c0 = cb * LANES_OF(L), nc = C_ - c0 < LANES_OF(L) ? C_ - c0 : LANES_OF(L);               \
            const int64_t r0 = ch * CH_, r1 = r0 + CH_ < R_ ? r0 + CH_ : R_;                                       \
            double s_[LANES] = {0}, t_[LANES] = {0};                                                               \
            int64_t n_ = r0 / HW_, p_ = r0 % HW_; /* (image, pixel) of row r (nchw) */                             \
            for (int64_t r = r0; r < r1; r++) {                                                                    \
                const int64_t row_ = L == BN_NHWC ? r * C_ : n_ * C_ * HW_ + p_;                                   \
                for (int64_t l = 0; l < nc; l++) {                                                                 \
                    const int64_t c = c0 + l, i = row_ + (L == BN_NHWC ? c : c * HW_);                             \
                    (void)c;                                                                                       \
                    s_[l] += (TERM);                                                                               \
                    t_[l] += (TERM2);                                                                              \
                }                                                                                                  \
                if (++p_ == HW_) p_ = 0, n_++;                                                                     \
            }                                                                                                      \
            for (int64_t l = 0; l < nc; l++) {                                                                     \
                (part)[ch * C_ + c0 + l] = s_[l];                                                                  \
                if (part2) (part2)[ch * C_ + c0 + l] = t_[l];                                                      \
            }                                                                                                      \
        }                                                                                                          \
    } while (0)

/* out[c] = the chunks' partial sums added in chunk order (out2 likewise from part2, when not NULL). */
static inline __attribute__((always_inline)) void add_chunks(double *out, double *out2, const double *part,
                                                             const double *part2, const bn_shape *s, int64_t chunks) {
#pragma omp for schedule(static)
    for (int64_t c = 0; c < s->c; c++) {
        double t = 0, t2 = 0;
        for (int64_t ch = 0; ch < chunks; ch++) t += part[ch * s->c + c];
        out[c] = t;
        if (!out2) continue;
        for (int64_t ch = 0; ch < chunks; ch++) t2 += part2[ch * s->c + c];
        out2[c] = t2;
    }
}

/* For the element-wise passes: BODY for every element i (channel c) of image n's channels c0 .. c0 + nc - 1, in
 * memory order (nchw: a channel's pixels; nhwc: a pixel's channels). */
#define FOR_TILE(L, s, n, c0, nc, BODY)                                                                            \
    do {                                                                                                           \
        const int64_t C_ = (s)->c, HW_ = (s)->hw;                                                                  \
        if (L == BN_NHWC)                                                                                          \
            for (int64_t r = (n) * HW_; r < ((n) + 1) * HW_; r++)                                                  \
                for (int64_t l = 0; l < (nc); l++) {                                                               \
                    const int64_t c = (c0) + l, i = r * C_ + c;                                                    \
                    BODY;                                                                                          \
                }                                                                                                  \
        else                                                                                                       \
            for (int64_t l = 0; l < (nc); l++)                                                                     \
                for (int64_t p = 0; p < HW_; p++) {                                                                \
                    const int64_t c = (c0) + l, i = ((n) * C_ + c) * HW_ + p;                                      \
                    BODY;                                                                                          \
                }                                                                                                  \
    } while (0)

/* The (image, channel block) tiles of the element-wise passes, as worksharing. */
#define FOR_TILES(L, s, BODY)                                                                                      \
    do {                                                                                                           \
        const int64_t nb_ = ((s)->c + LANES_OF(L) - 1) / LANES_OF(L);                                              \
        _Pragma("omp for collapse(2) schedule(static)") for (int64_t n = 0; n < (s)->n; n++) for (                 \
            int64_t cb = 0; cb < nb_; cb++) {                                                                      \
            const int64_t c0 = cb * LANES_OF(L), nc = (s)->c - c0 < LANES_OF(L) ? (s)->c - c0 : LANES_OF(L);       \
            FOR_TILE(L, s, n, c0, nc, BODY);                                                                       \
        }                                                                                                          \
    } while (0)

/* A parallel region around F(..., layout, bf16) with both literal (see the top of the file). */
#define REGION(a, F, ...)                                                                                          \
    do {                                                                                                           \
        const int t_ = (a)->s.threads;                                                                             \
        if ((a)->s.layout == BN_NHWC && (a)->s.bf16) {                                                             \
            _Pragma("omp parallel num_threads(t_)") F(__VA_ARGS__, BN_NHWC, true);                                  \
        } else if ((a)->s.layout == BN_NHWC) {                                                                     \
            _Pragma("omp parallel num_threads(t_)") F(__VA_ARGS__, BN_NHWC, false);                                 \
        } else if ((a)->s.bf16) {                                                                                  \
            _Pragma("omp parallel num_threads(t_)") F(__VA_ARGS__, BN_NCHW, true);                                  \
        } else {                                                                                                   \
            _Pragma("omp parallel num_threads(t_)") F(__VA_ARGS__, BN_NCHW, false);                                 \
        }                                                                                                          \
    } while (0)

/* ---- forward ---------------------------------------------------------------------------------------------------- */

static inline __attribute__((always_inline)) void forward_sums(const bn_forward_args *a, double *w, bn_layout L,
                                                               bool bf16) {
    const int64_t C = a->s.c;
    const void *x = a->x;
    double *part = w + 5 * C + 1;
    CHUNKED_SUMS(L, &a->s, part, (double *)NULL, (double)ld(x, i, bf16), 0.0);
    add_chunks(w, NULL, part, NULL, &a->s, n_chunks(L, &a->s));
}

/* two passes: mean first, then squared deviations (no cancellation of E[x^2] - E[x]^2) */
static inline __attribute__((always_inline)) void forward_deviations(const bn_forward_args *a, double *w,
                                                                     bn_layout L, bool bf16) {
    const int64_t C = a->s.c;
    const double count = w[C];
    const void *x = a->x;
    double *m = w + C + 1, *q = m + C, *part = w + 5 * C + 1;
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++) m[c] = w[c] / count;
    CHUNKED_SUMS(L, &a->s, part, (double *)NULL, ((double)ld(x, i, bf16) - m[c]) * ((double)ld(x, i, bf16) - m[c]),
                 0.0);
    add_chunks(q, NULL, part, NULL, &a->s, n_chunks(L, &a->s));
}

static inline __attribute__((always_inline)) void forward_normalise(const bn_forward_args *a, double *w,
                                                                    bn_layout L, bool bf16) {
    const int64_t C = a->s.c;
    const double count = w[C];
    const double *m = w + C + 1, *q = m + C;
    double *scale = w + 3 * C + 1, *shift = scale + C;
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        const double v = q[c] / count; /* biased: what normalises the batch */
        const double rstd = 1.0 / sqrt(v + (double)a->s.eps);
        if (a->mean) a->mean[c] = (float)m[c];
        if (a->var) a->var[c] = (float)v;
        if (a->rstd) a->rstd[c] = (float)rstd;
        scale[c] = (a->gamma ? a->gamma[c] : 1.0) * rstd;
        shift[c] = (a->beta ? a->beta[c] : 0.0) - m[c] * scale[c];
        if (a->running_mean && a->running_var) {
            /* PyTorch refuses training with one value per channel; the caller must too. The guard only keeps the
             * running variance finite if it does not. */
            const double mo = a->s.momentum, unbiased = count > 1 ? q[c] / (count - 1) : v;
            a->running_mean[c] = (float)((1.0 - mo) * a->running_mean[c] + mo * m[c]);
            a->running_var[c] = (float)((1.0 - mo) * a->running_var[c] + mo * unbiased);
        }
    }
    const bool relu = a->relu;
    const void *x = a->x;
    void *y = a->y;
    FOR_TILES(L, &a->s, {
        const float v = (float)(ld(x, i, bf16) * scale[c] + shift[c]);
        st(y, i, relu && v < 0.0f ? 0.0f : v, bf16);
    });
}

dy_status bn_rows_forward(const bn_forward_args *a, double *w) {
    const int64_t C = a->s.c;
    REGION(a, forward_sums, a, w);
    w[C] = (double)a->s.n * (double)a->s.hw;
    dy_status st = bn_allreduce(a->s.sync, w, C + 1);
    if (st != DY_OK) return st;
    REGION(a, forward_deviations, a, w);
    if ((st = bn_allreduce(a->s.sync, w + 2 * C + 1, C)) != DY_OK) return st;
    REGION(a, forward_normalise, a, w);
    return DY_OK;
}

/* ---- backward --------------------------------------------------------------------------------------------------- */

/* With g = dy masked by y > 0 and xhat = (x - mean) rstd: dbeta = sum g, dgamma = sum g xhat, and because mean and
 * variance depend on every x of the channel, dx = gamma rstd (g - dbeta / count - xhat dgamma / count). The sum of
 * g xhat is taken as g xhat (xhat_sum: the reference op's) or as g (x - mean), scaled by rstd after. */
static inline __attribute__((always_inline)) void backward_sums(const bn_backward_args *a, double *w, bool mask,
                                                                bool xhat_sum, bn_layout L, bool bf16) {
    const int64_t C = a->s.c, chunks = n_chunks(L, &a->s);
    double *rs = w + 2 * C + 1, *part = rs + 4 * C, *part2 = part + chunks * C;
    const float *mean = a->mean;
    const void *x = a->x, *y = a->y, *dy = a->dy;
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++)
        rs[c] = a->rstd ? (double)a->rstd[c] : 1.0 / sqrt((double)a->var[c] + (double)a->s.eps);
#define GRAD grad(dy, y, i, bf16, mask)
    CHUNKED_SUMS(L, &a->s, part, part2, GRAD,
                 xhat_sum ? GRAD * (((double)ld(x, i, bf16) - (double)mean[c]) * rs[c])
                          : GRAD * ((double)ld(x, i, bf16) - (double)mean[c]));
#undef GRAD
    add_chunks(w, w + C, part, part2, &a->s, chunks);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++) { /* this process's share, before the sums become global */
        if (a->dbeta) a->dbeta[c] = (float)w[c];
        if (a->dgamma) a->dgamma[c] = (float)(xhat_sum ? w[C + c] : w[C + c] * rs[c]);
    }
}

static inline __attribute__((always_inline)) void backward_dx(const bn_backward_args *a, double *w, bool mask,
                                                              bn_layout L, bool bf16) {
    const int64_t C = a->s.c;
    const double count = w[2 * C];
    double *rs = w + 2 * C + 1, *k = rs + C, *mg = k + C, *mgx = mg + C;
    const float *mean = a->mean;
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        k[c] = (a->gamma ? a->gamma[c] : 1.0) * rs[c];
        mg[c] = w[c] / count;
        mgx[c] = (a->rstd ? w[C + c] : w[C + c] * rs[c]) / count;
    }
    const void *x = a->x, *y = a->y, *dy = a->dy;
    void *dx = a->dx;
    FOR_TILES(L, &a->s, {
        const double g = grad(dy, y, i, bf16, mask);
        const double xhat = (ld(x, i, bf16) - (double)mean[c]) * rs[c];
        st(dx, i, (float)(k[c] * (g - mg[c] - xhat * mgx[c])), bf16);
    });
}

dy_status bn_rows_backward(const bn_backward_args *a, double *w) {
    const int64_t C = a->s.c;
    if (a->y && a->rstd) REGION(a, backward_sums, a, w, true, true);
    else if (a->y) REGION(a, backward_sums, a, w, true, false);
    else if (a->rstd) REGION(a, backward_sums, a, w, false, true);
    else REGION(a, backward_sums, a, w, false, false);
    if (!a->dx) return DY_OK;
    w[2 * C] = (double)a->s.n * (double)a->s.hw;
    const dy_status st = bn_allreduce(a->s.sync, w, 2 * C + 1);
    if (st != DY_OK) return st;
    if (a->y) REGION(a, backward_dx, a, w, true);
    else REGION(a, backward_dx, a, w, false);
    return DY_OK;
}
