/* Training batch norm (+ ReLU) on nChw16c activations, in plain C with OpenMP over 16-channel blocks.
 *
 * Why not oneDNN's: on this machine oneDNN 2.6's bnorm_jit took 70-170 ms per call on the 16-64 MiB activations
 * of ResNet-18's first two stages (6 ms on the 8 MiB ones of stage 3; memcpy moves 64 MiB in 4 ms), erratic and
 * far from the memory bound, which made batch norm 30 % of a training step. These loops make two passes forward
 * (statistics, then normalise) and two backward, each streaming the tensor once, 16 lanes at a time.
 *
 * Layout: element (n, c, p) of an [N, C, HW] tensor in nChw16c is at ((n * C/16 + c/16) * HW + p) * 16 + c % 16.
 * Statistics are summed in double per lane, channel blocks are split over threads: the result does not depend on
 * the thread count. The forward ReLU's mask is the output itself (y > 0), so no workspace is kept. */
#include <math.h>

#include "engine/dnnl/dnnl_exec_internal.h"

/* y, and the batch mean and biased variance [c]; running statistics updated when rmean is not NULL (rvar with it),
 * num_batches (may be NULL) up by one. gamma and beta may be NULL (1 and 0). */
void dd_bn_blocked_forward(float *y, float *mean, float *var, float *rmean, float *rvar, float *batches,
                           const float *x, const float *gamma, const float *beta, int64_t N, int64_t C, int64_t HW,
                           float eps, float momentum, bool relu, int threads) {
    const int64_t CB = C / 16;
    const double count = (double)N * (double)HW;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t cb = 0; cb < CB; cb++) {
        double s[16] = {0}, q[16] = {0};
        for (int64_t n = 0; n < N; n++) {
            const float *xb = x + (n * CB + cb) * HW * 16;
            float part[16] = {0}; /* float partials over one image, summed in double */
            for (int64_t p = 0; p < HW; p++)
                for (int l = 0; l < 16; l++) part[l] += xb[p * 16 + l];
            for (int l = 0; l < 16; l++) s[l] += part[l];
        }
        float m[16];
        for (int l = 0; l < 16; l++) m[l] = (float)(s[l] / count);
        for (int64_t n = 0; n < N; n++) {
            const float *xb = x + (n * CB + cb) * HW * 16;
            float part[16] = {0};
            for (int64_t p = 0; p < HW; p++)
                for (int l = 0; l < 16; l++) {
                    float d = xb[p * 16 + l] - m[l];
                    part[l] += d * d;
                }
            for (int l = 0; l < 16; l++) q[l] += part[l];
        }
        float scale[16], shift[16];
        for (int l = 0; l < 16; l++) {
            const int64_t c = cb * 16 + l;
            const double v = q[l] / count;
            const float rstd = (float)(1.0 / sqrt(v + (double)eps));
            mean[c] = m[l];
            var[c] = (float)v;
            scale[l] = (gamma ? gamma[c] : 1.0f) * rstd;
            shift[l] = (beta ? beta[c] : 0.0f) - m[l] * scale[l];
            if (rmean) {
                const float mo = momentum;
                rmean[c] = (1.0f - mo) * rmean[c] + mo * m[l];
                rvar[c] = (1.0f - mo) * rvar[c] + mo * (float)(count > 1 ? v * count / (count - 1) : v);
            }
        }
        for (int64_t n = 0; n < N; n++) {
            const float *xb = x + (n * CB + cb) * HW * 16;
            float *yb = y + (n * CB + cb) * HW * 16;
            for (int64_t p = 0; p < HW; p++)
                for (int l = 0; l < 16; l++) {
                    float v = xb[p * 16 + l] * scale[l] + shift[l];
                    yb[p * 16 + l] = relu && v < 0.0f ? 0.0f : v;
                }
        }
    }
    if (batches) batches[0] += 1.0f;
}

/* dx = gamma rstd (g - mean(g) - xhat mean(g xhat)) with g = dy masked by y > 0 (y: the fused ReLU's output, NULL
 * without ReLU); dx may be dy. dgamma and dbeta (may be NULL) assigned; gamma NULL: 1. */
void dd_bn_blocked_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *y,
                            const float *mean, const float *var, const float *gamma, int64_t N, int64_t C, int64_t HW,
                            float eps, int threads) {
    const int64_t CB = C / 16;
    const double count = (double)N * (double)HW;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t cb = 0; cb < CB; cb++) {
        float m[16], rstd[16];
        for (int l = 0; l < 16; l++) {
            m[l] = mean[cb * 16 + l];
            rstd[l] = (float)(1.0 / sqrt((double)var[cb * 16 + l] + (double)eps));
        }
        double sg[16] = {0}, sgx[16] = {0};
        for (int64_t n = 0; n < N; n++) {
            const int64_t off = (n * CB + cb) * HW * 16;
            float pg[16] = {0}, pgx[16] = {0};
            for (int64_t p = 0; p < HW; p++)
                for (int l = 0; l < 16; l++) {
                    const int64_t i = off + p * 16 + l;
                    float g = y && !(y[i] > 0.0f) ? 0.0f : dy[i];
                    pg[l] += g;
                    pgx[l] += g * (x[i] - m[l]);
                }
            for (int l = 0; l < 16; l++) sg[l] += pg[l], sgx[l] += pgx[l];
        }
        float k1[16], k2[16], k3[16];
        for (int l = 0; l < 16; l++) {
            const int64_t c = cb * 16 + l;
            const double db = sg[l], dg = sgx[l] * rstd[l]; /* d beta, d gamma */
            if (dbeta) dbeta[c] = (float)db;
            if (dgamma) dgamma[c] = (float)dg;
            const float gr = (gamma ? gamma[c] : 1.0f) * rstd[l];
            k1[l] = gr;                                                      /* times g */
            k2[l] = (float)(gr * db / count);                                /* minus */
            k3[l] = (float)(gr * dg / count * rstd[l]);                      /* times (x - mean) */
        }
        for (int64_t n = 0; n < N; n++) {
            const int64_t off = (n * CB + cb) * HW * 16;
            for (int64_t p = 0; p < HW; p++)
                for (int l = 0; l < 16; l++) {
                    const int64_t i = off + p * 16 + l;
                    float g = y && !(y[i] > 0.0f) ? 0.0f : dy[i];
                    dx[i] = k1[l] * g - k2[l] - k3[l] * (x[i] - m[l]);
                }
        }
    }
}
