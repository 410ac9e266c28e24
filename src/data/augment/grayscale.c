/* RandomGrayscale's core, as torchvision's tensor rgb_to_grayscale (weights 0.2989, 0.587, 0.114; PIL uses
 * 0.299 — the difference is below 1e-4 of the pixel range), replicated to three channels. */
#include "data/augment/augment.h"

void dy_rgb_to_grayscale(float *img, int channels, int64_t hw) {
    if (channels != 3) return;
    float *r = img, *g = img + hw, *b = img + 2 * hw;
    for (int64_t i = 0; i < hw; i++) {
        float l = 0.2989f * r[i] + 0.587f * g[i] + 0.114f * b[i];
        r[i] = g[i] = b[i] = l;
    }
}
