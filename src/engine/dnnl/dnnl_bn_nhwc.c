/* Training batch norm (+ ReLU) on channels-last (nhwc) activations, in plain C with every per-channel sum in
 * double, as the reference op (src/engine/ref/batchnorm.c) computes it.
 *
 * Why not oneDNN's: nhwc is the layout of channel counts that are not multiples of 16 (see forward_pd in
 * dnnl_conv.c), and oneDNN 2.6's batch norms for it (nspc_bnorm, bnorm_tbb_jit) sum in float32. Measured on their
 * own against a double evaluation (4 x C x 32 x 32, channel means 10 to 100 times the spread, as after a
 * convolution), their means were off by 1e-4 to 3e-4 of the spread, 10 times the blocked kernels' error; and at
 * width 1, where a 1x1 shortcut convolution's weight gradient is a near-total cancellation (batch norm makes the
 * loss nearly independent of the scale of a single input channel), the oneDNN path's gradient of
 * layer2.0.downsample.0 was off the double value by 5e-3 at 64 pixels against 6e-5 for the reference (tests/
 * test_small_widths.c, docs/SMALL_WIDTHS.md). These loops cost little: nhwc only carries narrow networks.
 *
 * Layout: element (n, c, p) of an [N, C, HW] tensor is at (n * HW + p) * C + c, so a "row" (one pixel of one image)
 * holds the C channels side by side. The statistics split over threads in blocks of up to 64 channels, each block's
 * sums running over the rows in order: the result does not depend on the thread count, and is bit for bit that of
 * the sequential loop (tests/test_cli_checkpoint_fixture.c holds training runs of such narrow networks to their
 * committed bits). The element-wise passes (normalise; dx) split over (image, channel block) tiles, so a network of
 * fewer than 64 channels is not on one thread throughout. The forward ReLU's mask is the output
 * itself (y > 0), as in dnnl_bn_blocked.c, so no workspace is kept.
 *
 * bf16 (mixed precision; the _bf16 entry points): x, y, dy and dx are bf16, read into float (exact) and the results
 * rounded to bf16 to nearest even (NaN kept), as dnnl_bn_blocked.c does; statistics and parameters stay float, sums
 * double. This is the batch norm of channels-last networks in bf16 (DY_LAYOUT_NHWC, and widths below 16). */
#include <math.h>
#include <string.h>

#include "engine/dnnl/dnnl_exec_internal.h"

enum { BLOCK = 64 }; /* channels per tile */


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

/* Statistics of wide tensors (C >= WIDE channels): fixed chunks of CHUNK rows, each chunk's sums (double) over its
 * rows in order, then the chunks' sums added in chunk order. Chunks are a property of the shape, not of the thread
 * count, so the result is still the same for any number of threads; the (chunk, channel block) tiles keep every
 * thread busy however few channel blocks there are. Narrow tensors (the widths below 16 that the blocked layout
 * also sends here) are one chunk of all the rows: the sequential sums, which tests/test_cli_checkpoint_fixture.c holds
 * to committed bits (adding the one chunk's sum to 0 changes no bit). */
enum { WIDE = 16, CHUNK = 256 };

static int64_t chunk_rows(int64_t N, int64_t C, int64_t HW) { return C >= WIDE ? CHUNK : N * HW; }
static int64_t n_chunks(int64_t N, int64_t C, int64_t HW) {
    return (N * HW + chunk_rows(N, C, HW) - 1) / chunk_rows(N, C, HW);
}

/* The work buffer, in floats: per-channel values [4][c] and two chunk-partial arrays [chunks][c], in double. */
int64_t dd_bn_nhwc_work_floats(int64_t n, int64_t c, int64_t hw) {
    return 2 * (4 * c + 2 * n_chunks(n, c, hw) * c);
}

/* part[chunk][c] (and part2, when not NULL) = the sums of TERM (TERM2) over the chunk's rows (CH of them), in row
 * order, for every channel c: the per-element terms written out by each caller (a macro keeps the loops that the
 * compiler vectorises). i is the element's index, c its channel. */
#define CHUNKED_SUMS(R, C, CH, chunks, part, part2, TERM, TERM2)                                                     \
    do {                                                                                                           \
        const int64_t n_blocks_ = ((C) + BLOCK - 1) / BLOCK;                                                         \
        _Pragma("omp for collapse(2) schedule(static)") for (int64_t ch = 0; ch < (chunks); ch++) for (             \
            int64_t cb = 0; cb < n_blocks_; cb++) {                                                                 \
            const int64_t c0 = cb * BLOCK, nc = (C) - c0 < BLOCK ? (C) - c0 : BLOCK;                                 \
            const int64_t r0 = ch * (CH), r1 = r0 + (CH) < (R) ? r0 + (CH) : (R);                                    \
            double s_[BLOCK] = {0}, t_[BLOCK] = {0};                                                                \
            for (int64_t r = r0; r < r1; r++)                                                                       \
                for (int64_t l = 0; l < nc; l++) {                                                                  \
                    const int64_t i = r * (C) + c0 + l, c = c0 + l;                                                 \
                    (void)c;                                                                                        \
                    s_[l] += (TERM);                                                                                \
                    t_[l] += (TERM2);                                                                               \
                }                                                                                                   \
            for (int64_t l = 0; l < nc; l++) {                                                                      \
                (part)[ch * (C) + c0 + l] = s_[l];                                                                  \
                if (part2) (part2)[ch * (C) + c0 + l] = t_[l];                                                      \
            }                                                                                                       \
        }                                                                                                           \
    } while (0)

/* y, and the batch mean and biased variance [c]; running statistics updated when rmean is not NULL (rvar with it).
 * gamma and beta may be NULL (1 and 0). As dd_bn_blocked_forward. Run by every thread of a parallel region that
 * the caller opens (its loops are orphaned worksharing constructs): called there with bf16 a literal, so that the
 * inlined copy in the region's outlined function has it as a constant and its loops vectorise. */
static inline __attribute__((always_inline)) void forward(void *y, float *mean, float *var, float *rmean, float *rvar,
                                                          float *batches, const void *x, const float *gamma,
                                                          const float *beta, int64_t N, int64_t C, int64_t HW,
                                                          float eps, float momentum, bool relu, float *work,
                                                          int threads, bool bf16) {
    const int64_t n_blocks = (C + BLOCK - 1) / BLOCK, R = N * HW, rows = chunk_rows(N, C, HW);
    const int64_t chunks = n_chunks(N, C, HW);
    const double count = (double)N * (double)HW;
    double *m = (double *)work, *scale = m + C, *shift = scale + C, *q = shift + C; /* [C] */
    double *part = q + C;                                                           /* [chunks][C] */
    {
        CHUNKED_SUMS(R, C, rows, chunks, part, (double *)NULL, (double)ld(x, i, bf16), 0.0);
#pragma omp for schedule(static)
        for (int64_t c = 0; c < C; c++) {
            double t = 0;
            for (int64_t ch = 0; ch < chunks; ch++) t += part[ch * C + c];
            m[c] = t / count;
        }
        /* two passes: mean first, then squared deviations (no cancellation of E[x^2] - E[x]^2) */
        CHUNKED_SUMS(R, C, rows, chunks, part, (double *)NULL,
                     ((double)ld(x, i, bf16) - m[c]) * ((double)ld(x, i, bf16) - m[c]), 0.0);
#pragma omp for schedule(static)
        for (int64_t c = 0; c < C; c++) {
            double t = 0;
            for (int64_t ch = 0; ch < chunks; ch++) t += part[ch * C + c];
            q[c] = t;
        }
#pragma omp for schedule(static)
        for (int64_t c = 0; c < C; c++) {
            const double v = q[c] / count; /* biased: what normalises the batch */
            const double rstd = 1.0 / sqrt(v + (double)eps);
            mean[c] = (float)m[c];
            var[c] = (float)v;
            scale[c] = (gamma ? gamma[c] : 1.0) * rstd;
            shift[c] = (beta ? beta[c] : 0.0) - m[c] * scale[c];
            if (rmean) {
                const double mo = momentum, unbiased = count > 1 ? q[c] / (count - 1) : v;
                rmean[c] = (float)((1.0 - mo) * rmean[c] + mo * m[c]);
                rvar[c] = (float)((1.0 - mo) * rvar[c] + mo * unbiased);
            }
        }
        /* normalise: element by element, over (image, channel block) tiles */
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; n++)
            for (int64_t cb = 0; cb < n_blocks; cb++) {
                const int64_t c0 = cb * BLOCK, nc = C - c0 < BLOCK ? C - c0 : BLOCK;
                for (int64_t r = n * HW; r < (n + 1) * HW; r++)
                    for (int64_t l = 0; l < nc; l++) {
                        const float v = (float)(ld(x, r * C + c0 + l, bf16) * scale[c0 + l] + shift[c0 + l]);
                        st(y, r * C + c0 + l, relu && v < 0.0f ? 0.0f : v, bf16);
                    }
            }
    }
}

void dd_bn_nhwc_forward(float *y, float *mean, float *var, float *rmean, float *rvar, float *batches, const float *x,
                        const float *gamma, const float *beta, int64_t N, int64_t C, int64_t HW, float eps,
                        float momentum, bool relu, float *work, int threads) {
#pragma omp parallel num_threads(threads)
    forward(y, mean, var, rmean, rvar, batches, x, gamma, beta, N, C, HW, eps, momentum, relu, work, threads, false);
    if (batches) batches[0] += 1.0f;
}

void dd_bn_nhwc_forward_bf16(uint16_t *y, float *mean, float *var, float *rmean, float *rvar, float *batches,
                             const uint16_t *x, const float *gamma, const float *beta, int64_t N, int64_t C,
                             int64_t HW, float eps, float momentum, bool relu, float *work, int threads) {
#pragma omp parallel num_threads(threads)
    forward(y, mean, var, rmean, rvar, batches, x, gamma, beta, N, C, HW, eps, momentum, relu, work, threads, true);
    if (batches) batches[0] += 1.0f;
}

/* With g = dy masked by y > 0 (y: the fused ReLU's output, NULL without) and xhat = (x - mean) rstd: dbeta = sum g,
 * dgamma = sum g xhat, dx = gamma rstd (g - dbeta / count - xhat dgamma / count). dx may be dy: each element is
 * read before it is written. gamma, dgamma, dbeta may be NULL. */
/* dy masked by the fused ReLU's output (mask: y > 0; a NaN in y masks); both loads unconditional, a select after
 * them, so that the loops vectorise. */
static inline __attribute__((always_inline)) double grad(const void *dy, const void *y, int64_t i, bool bf16,
                                                         bool mask) {
    const double d = ld(dy, i, bf16);
    const float keep = mask ? ld(y, i, bf16) : 1.0f;
    return keep > 0.0f ? d : 0.0;
}

static inline __attribute__((always_inline)) void backward_impl(void *dx, float *dgamma, float *dbeta,
                                                                const void *dy, const void *x, const void *y,
                                                                const float *mean, const float *var,
                                                                const float *gamma, int64_t N, int64_t C, int64_t HW,
                                                                float eps, float *work, int threads, bool bf16,
                                                                bool mask) {
    const int64_t n_blocks = (C + BLOCK - 1) / BLOCK, R = N * HW, rows = chunk_rows(N, C, HW);
    const int64_t chunks = n_chunks(N, C, HW);
    const double count = (double)N * (double)HW;
    double *rstd = (double *)work, *k = rstd + C, *mg = k + C, *mgx = mg + C; /* [C] */
    double *part = mgx + C, *part2 = part + chunks * C;                        /* [chunks][C] each */
    {
#pragma omp for schedule(static)
        for (int64_t c = 0; c < C; c++) rstd[c] = 1.0 / sqrt((double)var[c] + (double)eps);
        /* the two sums by chunks (see CHUNKED_SUMS), into the per-channel values below */
#define GRAD grad(dy, y, i, bf16, mask)
        CHUNKED_SUMS(R, C, rows, chunks, part, part2, GRAD, GRAD * ((double)ld(x, i, bf16) - (double)mean[c]));
#undef GRAD
#pragma omp for schedule(static)
        for (int64_t c = 0; c < C; c++) {
            double sg = 0, sgx = 0;
            for (int64_t ch = 0; ch < chunks; ch++) sg += part[ch * C + c], sgx += part2[ch * C + c];
            const double dg = sgx * rstd[c]; /* d gamma */
            if (dbeta) dbeta[c] = (float)sg;
            if (dgamma) dgamma[c] = (float)dg;
            k[c] = (gamma ? gamma[c] : 1.0) * rstd[c];
            mg[c] = sg / count;
            mgx[c] = dg / count;
        }
        /* dx: element by element, over (image, channel block) tiles */
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < N; n++)
            for (int64_t cb = 0; cb < n_blocks; cb++) {
                const int64_t c0 = cb * BLOCK, nc = C - c0 < BLOCK ? C - c0 : BLOCK;
                for (int64_t r = n * HW; r < (n + 1) * HW; r++)
                    for (int64_t l = 0; l < nc; l++) {
                        const int64_t i = r * C + c0 + l, c = c0 + l;
                        const double g = grad(dy, y, i, bf16, mask);
                        const double xhat = (ld(x, i, bf16) - (double)mean[c]) * rstd[c];
                        st(dx, i, (float)(k[c] * (g - mg[c] - xhat * mgx[c])), bf16);
                    }
            }
    }
}

/* The ReLU's mask (y given) or none, each its own specialisation, and bf16 a literal (see forward): in the parallel
 * region, so that the loops carry no test of y or of the type. */
#define BACKWARD_REGION(BF16)                                                                                      \
    _Pragma("omp parallel num_threads(threads)") {                                                                 \
        if (y) backward_impl(dx, dgamma, dbeta, dy, x, y, mean, var, gamma, N, C, HW, eps, work, threads, BF16, true); \
        else backward_impl(dx, dgamma, dbeta, dy, x, y, mean, var, gamma, N, C, HW, eps, work, threads, BF16, false); \
    }

void dd_bn_nhwc_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *y,
                         const float *mean, const float *var, const float *gamma, int64_t N, int64_t C, int64_t HW,
                         float eps, float *work, int threads) {
    BACKWARD_REGION(false)
}

void dd_bn_nhwc_backward_bf16(uint16_t *dx, float *dgamma, float *dbeta, const uint16_t *dy, const uint16_t *x,
                              const uint16_t *y, const float *mean, const float *var, const float *gamma, int64_t N,
                              int64_t C, int64_t HW, float eps, float *work, int threads) {
    BACKWARD_REGION(true)
}
