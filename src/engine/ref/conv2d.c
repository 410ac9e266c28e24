/* 2-D convolution (no dilation, no groups; any kernel, stride and padding per direction), forward and backward,
 * over contiguous NCHW floats. */
#include "engine/ref/ops.h"

#include <string.h>

int conv2d_shape(dy_conv_shape *cs) {
    if (cs->n < 1 || cs->c < 1 || cs->h < 1 || cs->w < 1 || cs->k < 1 || cs->r < 1 || cs->s < 1 ||
        cs->stride_h < 1 || cs->stride_w < 1 || cs->pad_h < 0 || cs->pad_w < 0)
        return -1;
    int64_t hp = cs->h + 2 * cs->pad_h, wp = cs->w + 2 * cs->pad_w;
    if (cs->r > hp || cs->s > wp) return -1;
    cs->p = (hp - cs->r) / cs->stride_h + 1;
    cs->q = (wp - cs->s) / cs->stride_w + 1;
    return 0;
}

/* The output indices o in [*lo, *hi) whose input index o * stride - pad + tap lies inside [0, size). Computing the
 * range once keeps the bounds test out of the inner loops. */
static void valid_range(int64_t *lo, int64_t *hi, int64_t tap, int64_t size, int64_t stride, int64_t pad,
                        int64_t out) {
    int64_t first = pad - tap;          /* o * stride >= first */
    int64_t last = size - 1 + pad - tap; /* o * stride <= last */
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    *hi = last < 0 ? 0 : last / stride + 1;
    if (*hi > out) *hi = out;
    if (*lo > *hi) *lo = *hi;
}

void conv2d_forward(float *y, const float *x, const float *weight, const float *bias, const dy_conv_shape *cs,
                    int threads) {
    const int64_t n = cs->n, c = cs->c, h = cs->h, w = cs->w, k = cs->k, r = cs->r, s = cs->s;
    const int64_t sh = cs->stride_h, sw = cs->stride_w, ph = cs->pad_h, pw = cs->pad_w, p = cs->p, q = cs->q;
    /* One output plane per iteration: planes are independent, and each is written by a single thread. */
#pragma omp parallel for num_threads(threads) collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++) {
        for (int64_t ko = 0; ko < k; ko++) {
            float *yp = y + (b * k + ko) * p * q;
            const float init = bias ? bias[ko] : 0.0f;
            for (int64_t i = 0; i < p * q; i++) yp[i] = init;
            for (int64_t ci = 0; ci < c; ci++) {
                const float *xp = x + (b * c + ci) * h * w;
                const float *wp = weight + (ko * c + ci) * r * s;
                for (int64_t ri = 0; ri < r; ri++) {
                    int64_t oh0, oh1;
                    valid_range(&oh0, &oh1, ri, h, sh, ph, p);
                    for (int64_t si = 0; si < s; si++) {
                        int64_t ow0, ow1;
                        valid_range(&ow0, &ow1, si, w, sw, pw, q);
                        const float wv = wp[ri * s + si];
                        for (int64_t oh = oh0; oh < oh1; oh++) {
                            const float *xrow = xp + (oh * sh - ph + ri) * w; /* input row of this tap */
                            float *yrow = yp + oh * q;
                            for (int64_t ow = ow0; ow < ow1; ow++) yrow[ow] += wv * xrow[ow * sw - pw + si];
                        }
                    }
                }
            }
        }
    }
}

void conv2d_backward_data(float *dx, const float *dy, const float *weight, const dy_conv_shape *cs,
                          int threads) {
    if (!dx) return;
    const int64_t n = cs->n, c = cs->c, h = cs->h, w = cs->w, k = cs->k, r = cs->r, s = cs->s;
    const int64_t sh = cs->stride_h, sw = cs->stride_w, ph = cs->pad_h, pw = cs->pad_w, p = cs->p, q = cs->q;
    /* Each input-gradient plane (b, ci) gathers from every output channel; scattering within the plane it owns
     * keeps threads apart. */
#pragma omp parallel for num_threads(threads) collapse(2) schedule(static)
    for (int64_t b = 0; b < n; b++) {
        for (int64_t ci = 0; ci < c; ci++) {
            float *dxp = dx + (b * c + ci) * h * w;
            memset(dxp, 0, (size_t)(h * w) * sizeof *dxp);
            for (int64_t ko = 0; ko < k; ko++) {
                const float *dyp = dy + (b * k + ko) * p * q;
                const float *wp = weight + (ko * c + ci) * r * s;
                for (int64_t ri = 0; ri < r; ri++) {
                    int64_t oh0, oh1;
                    valid_range(&oh0, &oh1, ri, h, sh, ph, p);
                    for (int64_t si = 0; si < s; si++) {
                        int64_t ow0, ow1;
                        valid_range(&ow0, &ow1, si, w, sw, pw, q);
                        const float wv = wp[ri * s + si];
                        for (int64_t oh = oh0; oh < oh1; oh++) {
                            float *dxrow = dxp + (oh * sh - ph + ri) * w;
                            const float *dyrow = dyp + oh * q;
                            for (int64_t ow = ow0; ow < ow1; ow++) dxrow[ow * sw - pw + si] += wv * dyrow[ow];
                        }
                    }
                }
            }
        }
    }
}

void conv2d_backward_weights(float *dweight, float *dbias, const float *dy, const float *x, const dy_conv_shape *cs,
                             int threads) {
    const int64_t n = cs->n, c = cs->c, h = cs->h, w = cs->w, k = cs->k, r = cs->r, s = cs->s;
    const int64_t sh = cs->stride_h, sw = cs->stride_w, ph = cs->pad_h, pw = cs->pad_w, p = cs->p, q = cs->q;
    /* Each weight is a sum over batch and output positions (n p q terms, 10^5 for a real batch): accumulate in
     * double so that the oracle stays accurate well below the 1e-4 comparison tolerance. */
    if (dweight) {
#pragma omp parallel for num_threads(threads) collapse(2) schedule(static)
        for (int64_t ko = 0; ko < k; ko++) {
            for (int64_t ci = 0; ci < c; ci++) {
                for (int64_t ri = 0; ri < r; ri++) {
                    int64_t oh0, oh1;
                    valid_range(&oh0, &oh1, ri, h, sh, ph, p);
                    for (int64_t si = 0; si < s; si++) {
                        int64_t ow0, ow1;
                        valid_range(&ow0, &ow1, si, w, sw, pw, q);
                        double acc = 0.0;
                        for (int64_t b = 0; b < n; b++) {
                            const float *xp = x + (b * c + ci) * h * w;
                            const float *dyp = dy + (b * k + ko) * p * q;
                            for (int64_t oh = oh0; oh < oh1; oh++) {
                                const float *xrow = xp + (oh * sh - ph + ri) * w; /* input row of this tap */
                                const float *dyrow = dyp + oh * q;
                                for (int64_t ow = ow0; ow < ow1; ow++)
                                    acc += (double)dyrow[ow] * xrow[ow * sw - pw + si];
                            }
                        }
                        dweight[((ko * c + ci) * r + ri) * s + si] = (float)acc;
                    }
                }
            }
        }
    }
    if (dbias) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t ko = 0; ko < k; ko++) {
            double acc = 0.0;
            for (int64_t b = 0; b < n; b++) {
                const float *dyp = dy + (b * k + ko) * p * q;
                for (int64_t i = 0; i < p * q; i++) acc += dyp[i];
            }
            dbias[ko] = (float)acc;
        }
    }
}
