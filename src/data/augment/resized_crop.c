/* RandomResizedCrop: torchvision's parameter sampling and the crop-resize of its tensor path (the bilinear sampler
 * in bilinear.c). */
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

void dy_crop_resize_bilinear(const uint8_t *src, int channels, int height, int width, dy_crop_box box, float *dst,
                             int oh, int ow) {
    dy_bilinear_window(src, channels, height, width, box.top, box.left, box.height, box.width, oh, ow, 0, 0, dst, oh,
                       ow);
}
