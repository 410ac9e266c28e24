/* Evaluation geometry: torchvision's Resize(size) on the shorter side (the longer side int(size * long / short))
 * followed by CenterCrop (offsets int(round((resized - crop) / 2))), bilinear without antialiasing as the tensor path.
 * Only the cropped window of the resized image is computed. */
#include <math.h>

#include "data/augment/augment.h"

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
    dy_bilinear_window(src, channels, height, width, 0, 0, height, width, rh, rw, top, left, dst, oh, ow);
}
