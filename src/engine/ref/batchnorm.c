/* Batch normalisation over [n, c, hw] (BatchNorm2d, and BatchNorm1d with hw = 1): training mode with batch
 * statistics, evaluation mode with running statistics, and the backward of training mode. Every per-channel sum is
 * accumulated in double: a channel of a real batch has 10^5 values. */
#include "engine/ref/ops.h"

#include <math.h>

void batchnorm_forward_train(float *y, float *save_mean, float *save_rstd, float *running_mean, float *running_var,
                             const float *x, const float *gamma, const float *beta, int64_t n, int64_t c, int64_t hw,
                             float momentum, float eps, int threads) {
    const int64_t count = n * hw;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t ch = 0; ch < c; ch++) {
        double sum = 0.0;
        for (int64_t b = 0; b < n; b++) {
            const float *xp = x + (b * c + ch) * hw;
            for (int64_t i = 0; i < hw; i++) sum += xp[i];
        }
        const double mean = sum / (double)count;
        /* Two passes (mean first, then squared deviations) avoid the cancellation of E[x^2] - E[x]^2. */
        double sq = 0.0;
        for (int64_t b = 0; b < n; b++) {
            const float *xp = x + (b * c + ch) * hw;
            for (int64_t i = 0; i < hw; i++) {
                const double d = xp[i] - mean;
                sq += d * d;
            }
        }
        const double var = sq / (double)count; /* biased: what normalises the batch */
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
            /* PyTorch refuses training with one value per channel; the caller must too. The guard only keeps
             * the running variance finite if it does not. */
            const double unbiased = count > 1 ? sq / (double)(count - 1) : var;
            running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mean);
            running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
        }
    }
}

void batchnorm_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var, int64_t n, int64_t c, int64_t hw,
                            float eps, int threads) {
#pragma omp parallel for num_threads(threads) collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++) {
        for (int64_t ch = 0; ch < c; ch++) {
            const double scale = gamma[ch] / sqrt((double)running_var[ch] + (double)eps);
            const double shift = beta[ch] - running_mean[ch] * scale;
            const float *xp = x + (b * c + ch) * hw;
            float *yp = y + (b * c + ch) * hw;
            for (int64_t i = 0; i < hw; i++) yp[i] = (float)(xp[i] * scale + shift);
        }
    }
}

void batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                        const float *save_mean, const float *save_rstd, const float *gamma, int64_t n, int64_t c,
                        int64_t hw, int threads) {
    const int64_t count = n * hw;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t ch = 0; ch < c; ch++) {
        const double mean = save_mean[ch], rstd = save_rstd[ch];
        /* With xhat = (x - mean) rstd: dbeta = sum dy, dgamma = sum dy xhat, and because mean and variance depend
         * on every x of the channel, dx = gamma rstd (dy - dbeta / count - xhat dgamma / count). */
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int64_t b = 0; b < n; b++) {
            const float *xp = x + (b * c + ch) * hw;
            const float *dyp = dy + (b * c + ch) * hw;
            for (int64_t i = 0; i < hw; i++) {
                sum_dy += dyp[i];
                sum_dy_xhat += dyp[i] * ((xp[i] - mean) * rstd);
            }
        }
        if (dbeta) dbeta[ch] = (float)sum_dy;
        if (dgamma) dgamma[ch] = (float)sum_dy_xhat;
        if (!dx) continue;
        const double k = gamma[ch] * rstd, mean_dy = sum_dy / (double)count, mean_dy_xhat = sum_dy_xhat / (double)count;
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
}
