/* ReLU, elementwise. */
#include "engine/ref/ops.h"

void relu_forward(float *y, const float *x, int64_t count, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < count; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* Masked by the output, not the input, so that the forward may run in place (y == x). At x = 0 the gradient is 0,
 * as in PyTorch. */
void relu_backward(float *dx, const float *dy, const float *y, int64_t count, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < count; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}
