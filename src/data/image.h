/* Decoded images (8-bit, interleaved HWC, 1 or 3 channels) and the load-time resampler used by image folders. */
#ifndef DY_DATA_IMAGE_H
#define DY_DATA_IMAGE_H

#include "core/context.h"

typedef struct {
    int width, height;
    int channels;     /* 1 (grey) or 3 (RGB) */
    uint8_t *pixels;  /* [height, width, channels], malloc'ed */
} dy_image;

#define DY_IMAGE_DEFAULT_MAX_PIXELS ((int64_t)1 << 28)
/* Bytes one image may take to decode (pixels, and a progressive JPEG's coefficients). */
#define DY_IMAGE_DECODE_BUDGET ((uint64_t)1 << 30)

/* Decodes a PNG or JPEG held in memory (kind detected from the signature). PNG: palette expanded to RGB, grey
 * below 8 bits expanded, 16-bit scaled to 8 (v * 255 / 65535 rounded), alpha and tRNS transparency dropped (as
 * PIL's convert("RGB"): a transparent pixel keeps its colour). JPEG: grey stays grey; YCbCr/RGB give RGB; CMYK/YCCK
 * are converted to RGB (Adobe's inverted CMYK).
 * min_side > 0 lets libjpeg decode at 1/2, 1/4 or 1/8 scale while both sides stay >= min_side (speed).
 * Refused before decoding: images with more than max_pixels pixels (0 = 1 << 28); images whose declared size the
 * file is too small to hold (a JPEG needs a bit per 8x8 block, deflate expands at most 1032:1); images that would
 * need more than DY_IMAGE_DECODE_BUDGET bytes. Refused while decoding: a truncated JPEG, and one whose data libjpeg
 * reports as corrupt (bad Huffman code, unexpected marker, extraneous bytes, bad progression), which it would
 * otherwise decode into grey or garbage. name appears in every error message. */
dy_status dy_image_decode(dy_ctx *ctx, const char *name, const uint8_t *data, size_t size, int64_t max_pixels,
                          int min_side, dy_image *out);
void dy_image_free(dy_image *img);

/* Resizes the shorter side of img to `size` and centre-crops size x size, with an antialiasing triangle filter
 * (support widened by the downscale factor, as PIL's bilinear resize), into dst planar uint8 [channels, size, size].
 * channels 1 from RGB uses 0.299 R + 0.587 G + 0.114 B (PIL's "L"); 3 from grey replicates. */
dy_status dy_image_resize_square(dy_ctx *ctx, const dy_image *img, int size, int channels, uint8_t *dst);

#endif
