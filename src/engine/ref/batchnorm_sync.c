/* Training batch norm over the global batch of a data-parallel run (SyncBatchNorm), on the reference layout
 * [n, c, hw]. The arithmetic per channel is batchnorm.c's (double sums, mean first, then squared deviations); the
 * per-channel sums are only summed over the processes between the passes, so one process with a reduction that does
 * nothing gives batchnorm.c's numbers exactly, and P processes give them up to the order of the double additions. */
#include <math.h>
#include <stdlib.h>

#include "core/context.h"
#include "engine/ref/ops.h"

static dy_status reduce(const dy_bn_sync *sync, double *buf, int64_t n) {
    return sync && sync->allreduce ? sync->allreduce(sync->user, buf, n) : DY_OK;
}

dy_status batchnorm_forward_train_sync(float *y, float *save_mean, float *save_rstd, float *running_mean,
                                       float *running_var, const float *x, const float *gamma, const float *beta,
                                       int64_t n, int64_t c, int64_t hw, float momentum, float eps, int threads,
                                       const dy_bn_sync *sync) {
    /* buf: [c] sums, [1] count, [c] squared deviations */
    double *buf = malloc(sizeof(double) * (size_t)(2 * c + 1));
    if (!buf) return dy_fail(NULL, DY_ERR_NOMEM, "batch norm: out of memory");
    double *sum = buf, *sq = buf + c + 1;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t ch = 0; ch < c; ch++) {
        double s = 0.0;
        for (int64_t b = 0; b < n; b++) {
            const float *xp = x + (b * c + ch) * hw;
            for (int64_t i = 0; i < hw; i++) s += xp[i];
        }
        sum[ch] = s;
    }
    sum[c] = (double)(n * hw);
    dy_status st = reduce(sync, sum, c + 1);
    const double count = sum[c];
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t ch = 0; ch < c; ch++) {
        const double mean = sum[ch] / count;
        double q = 0.0;
        for (int64_t b = 0; b < n; b++) {
            const float *xp = x + (b * c + ch) * hw;
            for (int64_t i = 0; i < hw; i++) {
                const double d = xp[i] - mean;
                q += d * d;
            }
        }
        sq[ch] = q;
    }
    if (st == DY_OK) st = reduce(sync, sq, c);
    if (st != DY_OK) {
        free(buf);
        return st;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t ch = 0; ch < c; ch++) {
        const double mean = sum[ch] / count, var = sq[ch] / count;
        const double rstd = 1.0 / sqrt(var + (double)eps);
        const double scale = gamma[ch] * rstd, shift = beta[ch] - mean * scale;
        for (int64_t b = 0; b < n; b++) {
            const float *xp = x + (b * c + ch) * hw;
            float *yp = y + (b * c + ch) * hw;
            for (int64_t i = 0; i < hw; i++) yp[i] = (float)(xp[i] * scale + shift);
        }
        if (save_mean) save_mean[ch] = (float)mean;
        if (save_rstd) save_rstd[ch] = (float)rstd;
        if (running_mean && running_var) {
            const double unbiased = count > 1 ? sq[ch] / (count - 1) : var;
            running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mean);
            running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
        }
    }
    free(buf);
    return DY_OK;
}

dy_status batchnorm_backward_sync(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                                  const float *save_mean, const float *save_rstd, const float *gamma, int64_t n,
                                  int64_t c, int64_t hw, int threads, const dy_bn_sync *sync) {
    /* buf: [c] sum dy, [c] sum dy xhat, [1] count */
    double *buf = malloc(sizeof(double) * (size_t)(2 * c + 1));
    if (!buf) return dy_fail(NULL, DY_ERR_NOMEM, "batch norm: out of memory");
    double *sum_dy = buf, *sum_dy_xhat = buf + c;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t ch = 0; ch < c; ch++) {
        const double mean = save_mean[ch], rstd = save_rstd[ch];
        double s = 0.0, sx = 0.0;
        for (int64_t b = 0; b < n; b++) {
            const float *xp = x + (b * c + ch) * hw;
            const float *dyp = dy + (b * c + ch) * hw;
            for (int64_t i = 0; i < hw; i++) {
                s += dyp[i];
                sx += dyp[i] * ((xp[i] - mean) * rstd);
            }
        }
        sum_dy[ch] = s;
        sum_dy_xhat[ch] = sx;
        /* this process's share of the parameter gradients, before the sums become global */
        if (dbeta) dbeta[ch] = (float)s;
        if (dgamma) dgamma[ch] = (float)sx;
    }
    buf[2 * c] = (double)(n * hw);
    dy_status st = dx ? reduce(sync, buf, 2 * c + 1) : DY_OK;
    if (st != DY_OK || !dx) {
        free(buf);
        return st;
    }
    const double count = buf[2 * c];
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t ch = 0; ch < c; ch++) {
        const double mean = save_mean[ch], rstd = save_rstd[ch];
        const double k = gamma[ch] * rstd, mean_dy = sum_dy[ch] / count, mean_dy_xhat = sum_dy_xhat[ch] / count;
        for (int64_t b = 0; b < n; b++) {
            const float *xp = x + (b * c + ch) * hw;
            const float *dyp = dy + (b * c + ch) * hw;
            float *dxp = dx + (b * c + ch) * hw;
            for (int64_t i = 0; i < hw; i++) {
                const double xhat = (xp[i] - mean) * rstd;
                dxp[i] = (float)(k * (dyp[i] - mean_dy - xhat * mean_dy_xhat));
            }
        }
    }
    free(buf);
    return DY_OK;
}
