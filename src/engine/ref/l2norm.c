/* Row L2 normalisation, torch.nn.functional.normalize(x, dim=1, eps): y = x / max(||x||, eps). */
#include "engine/ref/ops.h"

#include <math.h>

static double row_norm(const float *xr, int64_t d) {
    double sq = 0.0;
    for (int64_t j = 0; j < d; j++) sq += (double)xr[j] * xr[j];
    return sqrt(sq);
}

void l2norm_forward(float *y, const float *x, int64_t n, int64_t d, float eps, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const double nrm = row_norm(x + i * d, d);
        const double inv = 1.0 / (nrm > eps ? nrm : (double)eps);
        for (int64_t j = 0; j < d; j++) y[i * d + j] = (float)(x[i * d + j] * inv);
    }
}

void l2norm_backward(float *dx, const float *dy, const float *x, int64_t n, int64_t d, float eps, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *xr = x + i * d, *dyr = dy + i * d;
        float *dxr = dx + i * d;
        const double nrm = row_norm(xr, d);
        if (nrm >= eps) {
            /* y = x / ||x||: dx = (dy - x (x . dy) / ||x||^2) / ||x||, the component of dy across the sphere.
             * (At ||x|| == eps PyTorch's clamp_min passes the gradient through the norm too.) */
            double dot = 0.0;
            for (int64_t j = 0; j < d; j++) dot += (double)xr[j] * dyr[j];
            const double inv = 1.0 / nrm, proj = dot * inv * inv;
            for (int64_t j = 0; j < d; j++) dxr[j] = (float)((dyr[j] - xr[j] * proj) * inv);
        } else {
            /* Norm below eps: y = x / eps, a plain scaling. */
            for (int64_t j = 0; j < d; j++) dxr[j] = (float)(dyr[j] / (double)eps);
        }
    }
}
