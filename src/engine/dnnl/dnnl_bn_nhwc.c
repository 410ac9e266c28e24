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

/* Operands of DD_ITEM_BN_NHWC_FORWARD: those of DD_ITEM_BN_FORWARD (dnnl_bn_blocked.c). */
void dd_run_bn_nhwc_forward(dd_exec *e, const dd_item *it) {
    const float *x = dd_ptr(e, it->arg_mem[0]);
    float *y = dd_ptr(e, it->arg_mem[1]), *mean = dd_ptr(e, it->arg_mem[2]), *var = dd_ptr(e, it->arg_mem[3]);
    const float *gamma = dd_ptr(e, it->arg_mem[4]), *beta = dd_ptr(e, it->arg_mem[5]);
    float *rmean = dd_ptr(e, it->arg_mem[6]), *rvar = dd_ptr(e, it->arg_mem[7]);
    float *batches = dd_ptr(e, it->arg_mem[8]);
    const int64_t C = it->dims[1], rows = it->dims[0] * it->dims[2], n_blocks = (C + BLOCK - 1) / BLOCK;
    const bool relu = it->extra != 0;
    const double count = (double)rows;
#pragma omp parallel for num_threads(e->base.ctx->threads) schedule(dynamic, 1)
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
            const double rstd = 1.0 / sqrt(v + (double)it->eps);
            mean[c] = (float)m[l];
            var[c] = (float)v;
            scale[l] = (gamma ? gamma[c] : 1.0) * rstd;
            shift[l] = (beta ? beta[c] : 0.0) - m[l] * scale[l];
            if (rmean) {
                const double mo = it->momentum, unbiased = count > 1 ? q[l] / (count - 1) : v;
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

/* Operands of DD_ITEM_BN_NHWC_BACKWARD: those of DD_ITEM_BN_BACKWARD. With g = dy masked by y > 0 and
 * xhat = (x - mean) rstd: dbeta = sum g, dgamma = sum g xhat, dx = gamma rstd (g - dbeta / count - xhat dgamma
 * / count). dx may be dy: each element is read before it is written. */
void dd_run_bn_nhwc_backward(dd_exec *e, const dd_item *it) {
    const float *x = dd_ptr(e, it->arg_mem[0]), *y = dd_ptr(e, it->arg_mem[1]), *dy = dd_ptr(e, it->arg_mem[2]);
    float *dx = dd_ptr(e, it->arg_mem[3]);
    const float *mean = dd_ptr(e, it->arg_mem[4]), *var = dd_ptr(e, it->arg_mem[5]);
    const float *gamma = dd_ptr(e, it->arg_mem[6]);
    float *dgamma = dd_ptr(e, it->arg_mem[7]), *dbeta = dd_ptr(e, it->arg_mem[8]);
    const int64_t C = it->dims[1], rows = it->dims[0] * it->dims[2], n_blocks = (C + BLOCK - 1) / BLOCK;
    const double count = (double)rows;
#pragma omp parallel for num_threads(e->base.ctx->threads) schedule(dynamic, 1)
    for (int64_t cb = 0; cb < n_blocks; cb++) {
        const int64_t c0 = cb * BLOCK, nc = C - c0 < BLOCK ? C - c0 : BLOCK;
        double m[BLOCK], rstd[BLOCK], sg[BLOCK] = {0}, sgx[BLOCK] = {0}, k[BLOCK], mg[BLOCK], mgx[BLOCK];
        for (int64_t l = 0; l < nc; l++) {
            m[l] = mean[c0 + l];
            rstd[l] = 1.0 / sqrt((double)var[c0 + l] + (double)it->eps);
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
