/* Batch normalisation over [n, c, hw] (BatchNorm2d, and BatchNorm1d with hw = 1): training mode on the shared
 * kernels of bn_kernels.h (their BN_NCHW layout: every per-channel sum in double, over the batch in order; a channel
 * of a real batch has 10^5 values), with the statistics of this process's batch or, through sync, of the global
 * batch of a data-parallel run; evaluation mode with running statistics. The kernels' entry points are here too. */
#include <math.h>
#include <stdlib.h>

#include "core/context.h"
#include "engine/ref/bn_kernels.h"
#include "engine/ref/ops.h"

int64_t bn_work_floats(bn_layout layout, int64_t n, int64_t c, int64_t hw) {
    return layout == BN_NCHW16C ? bn_blocked_work_floats(n, c) : bn_rows_work_floats(layout, n, c, hw);
}

/* The caller's work buffer, or one of our own (*own, to free). */
static float *work_of(const bn_shape *s, float **own) {
    *own = NULL;
    if (s->work) return s->work;
    return *own = malloc(sizeof(float) * (size_t)bn_work_floats(s->layout, s->n, s->c, s->hw));
}

dy_status bn_forward(const bn_forward_args *a) {
    float *own, *work = work_of(&a->s, &own);
    if (!work) return dy_fail(NULL, DY_ERR_NOMEM, "batch norm: out of memory");
    const dy_status st = a->s.layout == BN_NCHW16C ? bn_blocked_forward(a, work) : bn_rows_forward(a, (double *)work);
    free(own);
    if (st == DY_OK && a->num_batches) a->num_batches[0] += 1.0f;
    return st;
}

dy_status bn_backward(const bn_backward_args *a) {
    float *own, *work = work_of(&a->s, &own);
    if (!work) return dy_fail(NULL, DY_ERR_NOMEM, "batch norm: out of memory");
    const dy_status st = a->s.layout == BN_NCHW16C ? bn_blocked_backward(a, work) : bn_rows_backward(a, (double *)work);
    free(own);
    return st;
}

dy_status batchnorm_forward_train_sync(float *y, float *save_mean, float *save_rstd, float *running_mean,
                                       float *running_var, const float *x, const float *gamma, const float *beta,
                                       int64_t n, int64_t c, int64_t hw, float momentum, float eps, int threads,
                                       const dy_bn_sync *sync) {
    const bn_forward_args a = {
        .s = {.layout = BN_NCHW, .n = n, .c = c, .hw = hw, .eps = eps, .momentum = momentum, .threads = threads,
              .sync = sync},
        .x = x, .y = y, .gamma = gamma, .beta = beta, .mean = save_mean, .rstd = save_rstd,
        .running_mean = running_mean, .running_var = running_var};
    return bn_forward(&a);
}

dy_status batchnorm_forward_train(float *y, float *save_mean, float *save_rstd, float *running_mean, float *running_var,
                                  const float *x, const float *gamma, const float *beta, int64_t n, int64_t c,
                                  int64_t hw, float momentum, float eps, int threads) {
    return batchnorm_forward_train_sync(y, save_mean, save_rstd, running_mean, running_var, x, gamma, beta, n, c, hw,
                                        momentum, eps, threads, NULL);
}

dy_status batchnorm_backward_sync(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                                  const float *save_mean, const float *save_rstd, const float *gamma, int64_t n,
                                  int64_t c, int64_t hw, int threads, const dy_bn_sync *sync) {
    const bn_backward_args a = {
        .s = {.layout = BN_NCHW, .n = n, .c = c, .hw = hw, .threads = threads, .sync = sync},
        .x = x, .dy = dy, .dx = dx, .mean = save_mean, .rstd = save_rstd, .gamma = gamma, .dgamma = dgamma,
        .dbeta = dbeta};
    return bn_backward(&a);
}

dy_status batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                             const float *save_mean, const float *save_rstd, const float *gamma, int64_t n, int64_t c,
                             int64_t hw, int threads) {
    return batchnorm_backward_sync(dx, dgamma, dbeta, dy, x, save_mean, save_rstd, gamma, n, c, hw, threads, NULL);
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
