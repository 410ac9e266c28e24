/* PNG encoding (see png_write.h). libpng reports errors by longjmp; every allocation that must survive one lives in
 * a struct reachable from the handler, never in a local that setjmp could clobber. */
#include "io/png_write.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "io/atomic_file.h"

typedef struct {
    uint8_t *data;
    size_t size, cap;
    int failed;         /* out of memory while growing */
    char message[256];  /* libpng's error text */
} png_sink;

static void sink_write(png_structp png, png_bytep bytes, png_size_t n) {
    png_sink *s = png_get_io_ptr(png);
    if (s->size + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->size + n) cap *= 2;
        uint8_t *d = realloc(s->data, cap);
        if (!d) {
            s->failed = 1;
            png_error(png, "out of memory");
        }
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data + s->size, bytes, n);
    s->size += n;
}

static void sink_flush(png_structp png) { (void)png; }

static void on_error(png_structp png, png_const_charp msg) {
    png_sink *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

dy_status dy_png_encode_rgb(dy_ctx *ctx, const uint8_t *rgb, int width, int height, uint8_t **out, size_t *out_size) {
    *out = NULL;
    *out_size = 0;
    if (!rgb || width < 1 || height < 1 || width > 65535 || height > 65535)
        return dy_fail(ctx, DY_ERR_INVALID, "PNG: image of %d x %d pixels, expected 1 .. 65535 on each side", width,
                       height);
    png_sink *s = calloc(1, sizeof *s);
    if (!s) return dy_fail(ctx, DY_ERR_NOMEM, "PNG: out of memory");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        free(s);
        return dy_fail(ctx, DY_ERR_NOMEM, "PNG: out of memory for libpng");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        dy_status st = s->failed ? dy_fail(ctx, DY_ERR_NOMEM, "PNG: out of memory for %d x %d pixels", width, height)
                                 : dy_fail(ctx, DY_ERR_IO, "PNG: libpng: %s", s->message);
        free(s->data);
        free(s);
        return st;
    }
    png_set_write_fn(png, s, sink_write, sink_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * (size_t)width * 3));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *out = s->data;
    *out_size = s->size;
    free(s);
    return DY_OK;
}

dy_status dy_png_write_rgb(dy_ctx *ctx, const char *path, const uint8_t *rgb, int width, int height) {
    uint8_t *data;
    size_t size;
    dy_status st = dy_png_encode_rgb(ctx, rgb, width, height, &data, &size);
    if (st != DY_OK) return st;
    dy_atomic_file af;
    if ((st = dy_atomic_open(ctx, &af, path)) == DY_OK) {
        if (fwrite(data, 1, size, af.fp) != size) {
            dy_atomic_abort(&af);
            st = dy_fail(ctx, DY_ERR_IO, "cannot write %s", path);
        } else {
            st = dy_atomic_commit(ctx, &af);
        }
    }
    free(data);
    return st;
}

char *dy_base64_encode(const uint8_t *data, size_t size) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((size + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    size_t i = 0;
    for (; i + 2 < size; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        *o++ = abc[(v >> 6) & 63];
        *o++ = abc[v & 63];
    }
    if (i < size) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < size ? (uint32_t)data[i + 1] << 8 : 0);
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        *o++ = i + 1 < size ? abc[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = 0;
    return out;
}
