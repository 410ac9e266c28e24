/* Global average pooling: [n, c, hw] -> [n, c]. */
#include "engine/ref/ops.h"

void avgpool_global_forward(float *y, const float *x, int64_t n, int64_t c, int64_t hw, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n * c; i++) {
        double sum = 0.0;
        for (int64_t j = 0; j < hw; j++) sum += x[i * hw + j];
        y[i] = (float)(sum / (double)hw);
    }
}

void avgpool_global_backward(float *dx, const float *dy, int64_t n, int64_t c, int64_t hw, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n * c; i++) {
        const float g = (float)(dy[i] / (double)hw);
        for (int64_t j = 0; j < hw; j++) dx[i * hw + j] = g;
    }
}
