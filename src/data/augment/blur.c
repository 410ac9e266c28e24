/* GaussianBlur's core as torchvision's tensor gaussian_blur: a normalised 1-D kernel exp(-x^2 / (2 sigma^2)) over
 * x = linspace(-(k-1)/2, (k-1)/2, k), reflect padding (edge not repeated), applied separably (torchvision
 * convolves with the outer product of the two 1-D kernels: the same sums in another order). */
#include <math.h>

#include "data/augment/augment.h"

int dy_blur_auto_kernel(int side) {
    int k = (int)(0.1 * side);
    if (k % 2 == 0) k++;
    return k;
}

static int reflect(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) {
        if (i < 0) i = -i;
        if (i >= n) i = 2 * n - 2 - i;
    }
    return i;
}

void dy_gaussian_blur(float *img, int channels, int height, int width, int kernel, float sigma, float *scratch) {
    if (kernel < 1) return;
    float w[kernel];
    const int half = kernel / 2;
    float sum = 0;
    for (int i = 0; i < kernel; i++) {
        float x = (float)(i - half) / sigma;
        w[i] = expf(-0.5f * x * x);
        sum += w[i];
    }
    for (int i = 0; i < kernel; i++) w[i] /= sum;
    int xi[width + 2 * half], yi[height + 2 * half];
    for (int i = 0; i < width + 2 * half; i++) xi[i] = reflect(i - half, width);
    for (int i = 0; i < height + 2 * half; i++) yi[i] = reflect(i - half, height);
    for (int c = 0; c < channels; c++) {
        float *p = img + (size_t)c * height * width;
        for (int y = 0; y < height; y++) { /* horizontal pass into scratch */
            const float *row = p + (size_t)y * width;
            float *out = scratch + (size_t)y * width;
            for (int x = 0; x < width; x++) {
                float a = 0;
                for (int k = 0; k < kernel; k++) a += w[k] * row[xi[x + k]];
                out[x] = a;
            }
        }
        for (int y = 0; y < height; y++) { /* vertical pass back */
            float *out = p + (size_t)y * width;
            for (int x = 0; x < width; x++) out[x] = 0;
            for (int k = 0; k < kernel; k++) {
                const float *src = scratch + (size_t)yi[y + k] * width, wk = w[k];
                for (int x = 0; x < width; x++) out[x] += wk * src[x];
            }
        }
    }
}
