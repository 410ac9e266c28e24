/* Max pooling with a rectangular window (a 1 x k one for 1-D signals), forward and backward. */
#include "engine/ref/ops.h"

#include <math.h>
#include <string.h>

int maxpool2d_shape(dy_pool_shape *ps) {
    /* PyTorch requires pad <= kernel / 2, which also guarantees that no window lies wholly in the padding. */
    if (ps->n < 1 || ps->c < 1 || ps->h < 1 || ps->w < 1 || ps->kernel_h < 1 || ps->kernel_w < 1 ||
        ps->stride_h < 1 || ps->stride_w < 1 || ps->pad_h < 0 || ps->pad_w < 0 || 2 * ps->pad_h > ps->kernel_h ||
        2 * ps->pad_w > ps->kernel_w)
        return -1;
    int64_t hp = ps->h + 2 * ps->pad_h, wp = ps->w + 2 * ps->pad_w;
    if (ps->kernel_h > hp || ps->kernel_w > wp) return -1;
    ps->p = (hp - ps->kernel_h) / ps->stride_h + 1; /* floor: PyTorch's ceil_mode=False */
    ps->q = (wp - ps->kernel_w) / ps->stride_w + 1;
    return 0;
}

/* Index within the plane of the maximum of output (oh, ow)'s window: the first one in row-major window order,
 * as PyTorch picks; a NaN wins, so that it propagates as in PyTorch. */
static int64_t window_argmax(const float *xp, const dy_pool_shape *ps, int64_t oh, int64_t ow) {
    int64_t best = -1;
    float best_v = -INFINITY;
    for (int64_t i = 0; i < ps->kernel_h; i++) {
        const int64_t ih = oh * ps->stride_h - ps->pad_h + i;
        if (ih < 0 || ih >= ps->h) continue;
        for (int64_t j = 0; j < ps->kernel_w; j++) {
            const int64_t iw = ow * ps->stride_w - ps->pad_w + j;
            if (iw < 0 || iw >= ps->w) continue;
            const float v = xp[ih * ps->w + iw];
            if (best < 0 || v > best_v || isnan(v)) {
                best = ih * ps->w + iw;
                best_v = v;
                if (isnan(v)) return best;
            }
        }
    }
    return best;
}

void maxpool2d_forward(float *y, const float *x, const dy_pool_shape *ps, int threads) {
    const int64_t planes = ps->n * ps->c, hw = ps->h * ps->w, pq = ps->p * ps->q;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * hw;
        for (int64_t oh = 0; oh < ps->p; oh++)
            for (int64_t ow = 0; ow < ps->q; ow++) y[pl * pq + oh * ps->q + ow] = xp[window_argmax(xp, ps, oh, ow)];
    }
}

void maxpool2d_backward(float *dx, const float *dy, const float *x, const dy_pool_shape *ps, int threads) {
    const int64_t planes = ps->n * ps->c, hw = ps->h * ps->w, pq = ps->p * ps->q;
    /* Windows overlap (3x3 stride 2), so an input may collect from several outputs: one thread per plane. */
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * hw;
        float *dxp = dx + pl * hw;
        memset(dxp, 0, (size_t)hw * sizeof *dxp);
        for (int64_t oh = 0; oh < ps->p; oh++)
            for (int64_t ow = 0; ow < ps->q; ow++) dxp[window_argmax(xp, ps, oh, ow)] += dy[pl * pq + oh * ps->q + ow];
    }
}
