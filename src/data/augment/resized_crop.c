/* RandomResizedCrop: torchvision's parameter sampling and the bilinear crop-resize of its tensor path
 * (torch.nn.functional.interpolate, mode bilinear, align_corners False, antialias False). */
#include <math.h>

#include "data/augment/augment.h"

dy_crop_box dy_resized_crop_params(dy_rng *r, int height, int width, const float scale[2], const float ratio[2]) {
    const double area = (double)height * width;
    const double log_lo = log(ratio[0]), log_hi = log(ratio[1]);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target_area = area * dy_rng_range(r, scale[0], scale[1]);
        double aspect = exp(dy_rng_range(r, log_lo, log_hi));
        int w = (int)nearbyint(sqrt(target_area * aspect)); /* Python round(): half to even */
        int h = (int)nearbyint(sqrt(target_area / aspect));
        if (0 < w && w <= width && 0 < h && h <= height) {
            dy_crop_box b;
            b.top = (int)dy_rng_below(r, (uint64_t)(height - h + 1));
            b.left = (int)dy_rng_below(r, (uint64_t)(width - w + 1));
            b.height = h;
            b.width = w;
            return b;
        }
    }
    /* Fallback: central crop, aspect clamped to the ratio range. */
    double in_ratio = (double)width / height;
    int w, h;
    if (in_ratio < ratio[0]) {
        w = width;
        h = (int)nearbyint(w / (double)ratio[0]);
    } else if (in_ratio > ratio[1]) {
        h = height;
        w = (int)nearbyint(h * (double)ratio[1]);
    } else {
        w = width;
        h = height;
    }
    if (h > height) h = height;
    if (w > width) w = width;
    if (h < 1) h = 1;
    if (w < 1) w = 1;
    dy_crop_box b = {(height - h) / 2, (width - w) / 2, h, w};
    return b;
}

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

/* Bilinear sampling of the rows/cols window [top, top+in_h) x [left, left+in_w) resized to (rh, rw), taking
 * output pixels (y + oy, x + ox) of that resized image: covers both crop-then-resize and resize-then-crop. */
static void bilinear(const uint8_t *src, int channels, int height, int width, int top, int left, int in_h, int in_w,
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

void dy_crop_resize_bilinear(const uint8_t *src, int channels, int height, int width, dy_crop_box box, float *dst,
                             int oh, int ow) {
    bilinear(src, channels, height, width, box.top, box.left, box.height, box.width, oh, ow, 0, 0, dst, oh, ow);
}

void dy_resize_center_crop(const uint8_t *src, int channels, int height, int width, float *dst, int oh, int ow) {
    const int size = oh > ow ? oh : ow;
    int rh, rw;
    if (height <= width) {
        rh = size;
        rw = (int)((int64_t)size * width / height);
    } else {
        rw = size;
        rh = (int)((int64_t)size * height / width);
    }
    if (rh < oh) rh = oh; /* only when the long side would round below the crop */
    if (rw < ow) rw = ow;
    const int top = (int)nearbyint((rh - oh) / 2.0), left = (int)nearbyint((rw - ow) / 2.0);
    bilinear(src, channels, height, width, 0, 0, height, width, rh, rw, top, left, dst, oh, ow);
}
