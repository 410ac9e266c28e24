/* Fully connected layer in PyTorch's layout: y = x W^T + b, W [out, in]. */
#include "engine/ref/ops.h"

void linear_forward(float *y, const float *x, const float *weight, const float *bias, int64_t n, int64_t in,
                    int64_t out, int threads) {
#pragma omp parallel for num_threads(threads) collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++) {
        for (int64_t o = 0; o < out; o++) {
            const float *xr = x + b * in, *wr = weight + o * in;
            double acc = bias ? bias[o] : 0.0;
            for (int64_t i = 0; i < in; i++) acc += (double)xr[i] * wr[i];
            y[b * out + o] = (float)acc;
        }
    }
}

void linear_backward(float *dx, float *dweight, float *dbias, const float *dy, const float *x, const float *weight,
                     int64_t n, int64_t in, int64_t out, int threads) {
    if (dx) {
        /* dx [n, in] = dy W: one row per thread, walking W row by row so the inner loop is contiguous. */
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t b = 0; b < n; b++) {
            float *dxr = dx + b * in;
            for (int64_t i = 0; i < in; i++) dxr[i] = 0.0f;
            for (int64_t o = 0; o < out; o++) {
                const float g = dy[b * out + o];
                const float *wr = weight + o * in;
                for (int64_t i = 0; i < in; i++) dxr[i] += g * wr[i];
            }
        }
    }
    /* dW [out, in] = dy^T x and db = column sums of dy: sums over the batch, accumulated in double. */
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t o = 0; o < out; o++) {
        if (dweight) {
            for (int64_t i = 0; i < in; i++) {
                double acc = 0.0;
                for (int64_t b = 0; b < n; b++) acc += (double)dy[b * out + o] * x[b * in + i];
                dweight[o * in + i] = (float)acc;
            }
        }
        if (dbias) {
            double acc = 0.0;
            for (int64_t b = 0; b < n; b++) acc += dy[b * out + o];
            dbias[o] = (float)acc;
        }
    }
}
