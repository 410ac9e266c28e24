/* libFuzzer target: the PNG / JPEG decoding wrapper (and the load-time resize of what it decodes).
 * Byte 0: the DCT downscale hint (min side) and the output channels for the resize. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "data/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int min_side = data[0] & 0x3f, channels = (data[0] & 0x40) ? 1 : 3;
    data += 1;
    size -= 1;
    dy_image img;
    /* 4 Mpixel limit keeps the fuzzer's memory bounded; the library default is 256 Mpixel. */
    if (dy_image_decode(NULL, "fuzz", data, size, (int64_t)1 << 22, min_side, &img) == DY_OK) {
        uint8_t *out = malloc((size_t)channels * 16 * 16);
        if (out) dy_image_resize_square(NULL, &img, 16, channels, out);
        free(out);
        dy_image_free(&img);
    }
    return 0;
}
