/* RandomSolarize's core on [0, 1] images: pixels at or above the threshold are inverted (1 - x). */
#include "data/augment/augment.h"

void dy_solarize(float *img, int64_t n, float threshold) {
    for (int64_t i = 0; i < n; i++)
        if (img[i] >= threshold) img[i] = 1.0f - img[i];
}
