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
 * holds the C channels side by side. Channels are split over threads in blocks of up to 64, each block's sums run
 * over the rows in order: the result does not depend on the thread count. The forward ReLU's mask is the output
 * itself (y > 0), as in dnnl_bn_blocked.c, so no workspace is kept. */
#include <math.h>

#include "engine/dnnl/dnnl_exec_internal.h"

enum { BLOCK = 64 }; /* channels per thread task; doubles on the stack */

/* y, and the batch mean and biased variance [c]; running statistics updated when rmean is not NULL (rvar with it),
 * num_batches (may be NULL) up by one. gamma and beta may be NULL (1 and 0). As dd_bn_blocked_forward. */
void dd_bn_nhwc_forward(float *y, float *mean, float *var, float *rmean, float *rvar, float *batches, const float *x,
                        const float *gamma, const float *beta, int64_t N, int64_t C, int64_t HW, float eps,
                        float momentum, bool relu, int threads) {
    const int64_t rows = N * HW, n_blocks = (C + BLOCK - 1) / BLOCK;
    const double count = (double)rows;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t cb = 0; cb < n_blocks; cb++) {
        const int64_t c0 = cb * BLOCK, nc = C - c0 < BLOCK ? C - c0 : BLOCK;
        double s[BLOCK] = {0}, q[BLOCK] = {0}, m[BLOCK], scale[BLOCK], shift[BLOCK];
        for (int64_t r = 0; r < rows; r++)
            for (int64_t l = 0; l < nc; l++) s[l] += x[r * C + c0 + l];
        for (int64_t l = 0; l < nc; l++) m[l] = s[l] / count;
        /* two passes: mean first, then squared deviations (no cancellation of E[x^2] - E[x]^2) */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t l = 0; l < nc; l++) {
                const double d = x[r * C + c0 + l] - m[l];
                q[l] += d * d;
            }
        for (int64_t l = 0; l < nc; l++) {
            const int64_t c = c0 + l;
            const double v = q[l] / count; /* biased: what normalises the batch */
            const double rstd = 1.0 / sqrt(v + (double)eps);
            mean[c] = (float)m[l];
            var[c] = (float)v;
            scale[l] = (gamma ? gamma[c] : 1.0) * rstd;
            shift[l] = (beta ? beta[c] : 0.0) - m[l] * scale[l];
            if (rmean) {
                const double mo = momentum, unbiased = count > 1 ? q[l] / (count - 1) : v;
                rmean[c] = (float)((1.0 - mo) * rmean[c] + mo * m[l]);
                rvar[c] = (float)((1.0 - mo) * rvar[c] + mo * unbiased);
            }
        }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t l = 0; l < nc; l++) {
                const float v = (float)(x[r * C + c0 + l] * scale[l] + shift[l]);
                y[r * C + c0 + l] = relu && v < 0.0f ? 0.0f : v;
            }
    }
    if (batches) batches[0] += 1.0f;
}

/* With g = dy masked by y > 0 (y: the fused ReLU's output, NULL without) and xhat = (x - mean) rstd: dbeta = sum g,
 * dgamma = sum g xhat, dx = gamma rstd (g - dbeta / count - xhat dgamma / count). dx may be dy: each element is
 * read before it is written. gamma, dgamma, dbeta may be NULL. */
void dd_bn_nhwc_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *y,
                         const float *mean, const float *var, const float *gamma, int64_t N, int64_t C, int64_t HW,
                         float eps, int threads) {
    const int64_t rows = N * HW, n_blocks = (C + BLOCK - 1) / BLOCK;
    const double count = (double)rows;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t cb = 0; cb < n_blocks; cb++) {
        const int64_t c0 = cb * BLOCK, nc = C - c0 < BLOCK ? C - c0 : BLOCK;
        double m[BLOCK], rstd[BLOCK], sg[BLOCK] = {0}, sgx[BLOCK] = {0}, k[BLOCK], mg[BLOCK], mgx[BLOCK];
        for (int64_t l = 0; l < nc; l++) {
            m[l] = mean[c0 + l];
            rstd[l] = 1.0 / sqrt((double)var[c0 + l] + (double)eps);
        }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t l = 0; l < nc; l++) {
                const int64_t i = r * C + c0 + l;
                const double g = y && !(y[i] > 0.0f) ? 0.0 : dy[i];
                sg[l] += g;
                sgx[l] += g * (x[i] - m[l]);
            }
        for (int64_t l = 0; l < nc; l++) {
            const int64_t c = c0 + l;
            const double dg = sgx[l] * rstd[l]; /* d gamma */
            if (dbeta) dbeta[c] = (float)sg[l];
            if (dgamma) dgamma[c] = (float)dg;
            k[l] = (gamma ? gamma[c] : 1.0) * rstd[l];
            mg[l] = sg[l] / count;
            mgx[l] = dg / count;
        }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t l = 0; l < nc; l++) {
                const int64_t i = r * C + c0 + l;
                const double g = y && !(y[i] > 0.0f) ? 0.0 : dy[i];
                const double xhat = (x[i] - m[l]) * rstd[l];
                dx[i] = (float)(k[l] * (g - mg[l] - xhat * mgx[l]));
            }
    }
}
