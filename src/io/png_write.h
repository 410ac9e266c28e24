/* PNG encoding with libpng: 8-bit RGB images, to memory (to embed in a report) or to a file written atomically. */
#ifndef DY_IO_PNG_WRITE_H
#define DY_IO_PNG_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "dystress.h"

/* Encodes rgb [height, width, 3] (rows top to bottom) as a PNG in a malloc'ed buffer (*out, *out_size; free()).
 * width and height 1 .. 65535. DY_ERR_INVALID for bad sizes, DY_ERR_NOMEM, DY_ERR_IO when libpng fails. */
dy_status dy_png_encode_rgb(dy_ctx *ctx, const uint8_t *rgb, int width, int height, uint8_t **out, size_t *out_size);
/* The same, written to path atomically (src/io/atomic_file.h). */
dy_status dy_png_write_rgb(dy_ctx *ctx, const char *path, const uint8_t *rgb, int width, int height);

/* Base64 (RFC 4648, with padding) of data: a malloc'ed NUL-terminated string, NULL when out of memory. */
char *dy_base64_encode(const uint8_t *data, size_t size);

#endif
