/* Bilinear resampling as PyTorch's interpolate(mode="bilinear", align_corners=False, antialias=False) on CPU:
 * source coordinate max((dst + 0.5) * in / out - 0.5, 0), the right/bottom neighbour clamped to the edge, float
 * weights. Shared by RandomResizedCrop (crop then resize) and the evaluation resize (resize then centre crop). */
#include "data/augment/augment.h"

/* PyTorch's source index and weight for one output coordinate (compute_source_index_and_lambda). */
static void source_index(int in, int out, float ratio, int o, int *i0, int *i1, float *l1) {
    if (in == out) {
        *i0 = *i1 = o;
        *l1 = 0;
        return;
    }
    float real = ratio * (o + 0.5f) - 0.5f;
    if (real < 0) real = 0;
    int i = (int)real;
    if (i > in - 1) i = in - 1;
    *i0 = i;
    *i1 = i + (i < in - 1 ? 1 : 0);
    float l = real - i;
    *l1 = l < 0 ? 0 : (l > 1 ? 1 : l);
}

void dy_bilinear_window(const uint8_t *src, int channels, int height, int width, int top, int left, int in_h, int in_w,
                     int rh, int rw, int oy, int ox, float *dst, int oh, int ow) {
    const float ry = (float)in_h / rh, rx = (float)in_w / rw;
    int x0s[ow], x1s[ow]; /* small VLAs: ow <= a few thousand */
    float lxs[ow];
    for (int x = 0; x < ow; x++) {
        source_index(in_w, rw, rx, x + ox, &x0s[x], &x1s[x], &lxs[x]);
        x0s[x] += left;
        x1s[x] += left;
    }
    const float inv = 1.0f / 255.0f;
    for (int c = 0; c < channels; c++) {
        const uint8_t *plane = src + (size_t)c * height * width;
        float *out = dst + (size_t)c * oh * ow;
        for (int y = 0; y < oh; y++) {
            int y0, y1;
            float ly;
            source_index(in_h, rh, ry, y + oy, &y0, &y1, &ly);
            const uint8_t *r0 = plane + (size_t)(y0 + top) * width, *r1 = plane + (size_t)(y1 + top) * width;
            const float h0 = 1 - ly, h1 = ly;
            for (int x = 0; x < ow; x++) {
                const float w1 = lxs[x], w0 = 1 - w1;
                float v = h0 * (w0 * r0[x0s[x]] + w1 * r0[x1s[x]]) + h1 * (w0 * r1[x0s[x]] + w1 * r1[x1s[x]]);
                out[(size_t)y * ow + x] = v * inv;
            }
        }
    }
}
