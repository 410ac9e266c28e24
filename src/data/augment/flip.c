/* RandomHorizontalFlip's deterministic core: mirror each row. */
#include "data/augment/augment.h"

void dy_hflip(float *img, int channels, int height, int width) {
    for (int64_t r = 0; r < (int64_t)channels * height; r++) {
        float *row = img + r * width;
        for (int a = 0, b = width - 1; a < b; a++, b--) {
            float t = row[a];
            row[a] = row[b];
            row[b] = t;
        }
    }
}
