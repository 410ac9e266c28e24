/* Normalize: (x - mean[c]) / std[c] per channel. */
#include "data/augment/augment.h"

void dy_normalize(float *img, int channels, int64_t hw, const float *mean, const float *std) {
    for (int c = 0; c < channels; c++) {
        float *p = img + c * hw, m = mean[c], inv = 1.0f / std[c];
        for (int64_t i = 0; i < hw; i++) p[i] = (p[i] - m) * inv;
    }
}
