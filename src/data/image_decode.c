/* PNG (libpng) and JPEG (libjpeg) decoding from memory. Both libraries report errors by longjmp: everything a
 * jump may leave behind is kept in a heap/struct state reached through a pointer (never in locals changed after
 * setjmp), and each library's messages are captured instead of printed. */
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h> /* needs stdio.h and stddef.h first */
#include <jerror.h>
#include <png.h>

#include "data/image.h"

void dy_image_free(dy_image *img) {
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* ---- PNG ---- */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    char msg[256];
    png_bytep *rows;
    uint8_t *pixels;
} png_state;

static void png_read_mem(png_structp png, png_bytep out, png_size_t n) {
    png_state *s = png_get_io_ptr(png);
    if (n > s->size - s->pos) png_error(png, "truncated file");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static void png_on_error(png_structp png, png_const_charp msg) {
    png_state *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static dy_status decode_png(dy_ctx *ctx, const char *name, const uint8_t *data, size_t size, int64_t max_pixels,
                            dy_image *out) {
    png_state *s = calloc(1, sizeof *s);
    if (!s) return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", name);
    s->data = data;
    s->size = size;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL);
        free(s);
        return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", name);
    }
    dy_status st = DY_OK;
    if (setjmp(png_jmpbuf(png))) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: undecodable PNG: %s", name, s->msg[0] ? s->msg : "error");
        goto done;
    }
    png_set_read_fn(png, s, png_read_mem);
    png_set_user_limits(png, 1u << 16, 1u << 16);
    png_set_chunk_malloc_max(png, (png_alloc_size_t)64 << 20);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((int64_t)w * h > max_pixels) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: PNG of %ux%u pixels is larger than the limit of %lld pixels", name,
                     (unsigned)w, (unsigned)h, (long long)max_pixels);
        goto done;
    }
    /* Deflate cannot expand a byte past 1032 bytes (a 258-byte match in 2 bits): a file too small for the rows it
     * declares is a decompression bomb or a truncated file, refused before anything is allocated. */
    uint64_t raw = (uint64_t)h * (png_get_rowbytes(png, info) + 1);
    if (raw > (uint64_t)size * 1032) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: PNG declares %ux%u pixels (%llu bytes of rows) that its %zu bytes cannot "
                     "hold (corrupt, or a decompression bomb)", name, (unsigned)w, (unsigned)h,
                     (unsigned long long)raw, size);
        goto done;
    }
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_scale_16(png);
    /* Alpha is dropped (PIL's convert("RGB")): an alpha channel, and the alpha that the expansions above make of a
     * tRNS chunk (transparent palette entries or grey levels). */
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    if (channels != 1 && channels != 3) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: PNG decodes to %d channels (expected 1 or 3)", name, channels);
        goto done;
    }
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)w * channels) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: PNG row of %zu bytes for %u pixels", name, rowbytes, (unsigned)w);
        goto done;
    }
    if ((uint64_t)rowbytes * h > DY_IMAGE_DECODE_BUDGET) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: PNG of %ux%u pixels needs %llu MiB to decode, more than the %llu MiB "
                     "allowed for one image", name, (unsigned)w, (unsigned)h,
                     (unsigned long long)((uint64_t)rowbytes * h >> 20), (unsigned long long)(DY_IMAGE_DECODE_BUDGET >> 20));
        goto done;
    }
    s->pixels = malloc((size_t)w * h * channels + 1);
    s->rows = malloc(sizeof(png_bytep) * h + 1);
    if (!s->pixels || !s->rows) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for %ux%u pixels", name, (unsigned)w, (unsigned)h);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) s->rows[y] = s->pixels + (size_t)y * w * channels;
    png_read_image(png, s->rows);
    png_read_end(png, NULL);
    out->width = (int)w;
    out->height = (int)h;
    out->channels = channels;
    out->pixels = s->pixels;
    s->pixels = NULL;
done:
    png_destroy_read_struct(&png, &info, NULL);
    free(s->rows);
    free(s->pixels);
    free(s);
    return st;
}

/* ---- JPEG ---- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    int truncated;
    uint8_t *pixels;
    uint8_t *row;
} jpeg_state;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_state *s = (jpeg_state *)cinfo->err;
    s->pub.format_message(cinfo, s->msg);
    longjmp(s->jump, 1);
}

/* libjpeg's warnings that the entropy-coded data is damaged: it goes on, filling what it cannot decode with grey
 * or garbage, so an image that triggers one is not the image its file was meant to hold. */
static bool corrupt_data_warning(int code) {
    return code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE ||
           code == JWRN_ARITH_BAD_CODE || code == JWRN_MUST_RESYNC || code == JWRN_EXTRANEOUS_DATA ||
           code == JWRN_NOT_SEQUENTIAL || code == JWRN_BOGUS_PROGRESSION;
}

/* Nothing is printed. A warning of damaged data is an error (jumping out at once, so a damaged image costs no
 * more time); the others (an unknown JFIF version, a bad ICC profile, ...) do not change the pixels and pass. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    jpeg_state *s = (jpeg_state *)cinfo->err;
    if (level >= 0) return; /* trace messages */
    s->pub.num_warnings++;
    if (!corrupt_data_warning(s->pub.msg_code)) return;
    if (s->pub.msg_code == JWRN_JPEG_EOF) s->truncated = 1;
    s->pub.format_message(cinfo, s->msg);
    longjmp(s->jump, 1);
}

static void jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

static dy_status decode_jpeg(dy_ctx *ctx, const char *name, const uint8_t *data, size_t size, int64_t max_pixels,
                             int min_side, dy_image *out) {
    jpeg_state *s = calloc(1, sizeof *s);
    struct jpeg_decompress_struct *cinfo = calloc(1, sizeof *cinfo);
    if (!s || !cinfo) {
        free(s);
        free(cinfo);
        return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", name);
    }
    cinfo->err = jpeg_std_error(&s->pub);
    s->pub.error_exit = jpeg_on_error;
    s->pub.emit_message = jpeg_on_message;
    s->pub.output_message = jpeg_silent;
    dy_status st = DY_OK;
    if (setjmp(s->jump)) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: undecodable JPEG: %s%s", name,
                     s->truncated ? "truncated (data ends early): " : "", s->msg);
        goto done;
    }
    jpeg_create_decompress(cinfo);
    jpeg_mem_src(cinfo, (unsigned char *)data, (unsigned long)size);
    jpeg_read_header(cinfo, TRUE);
    if ((int64_t)cinfo->image_width * cinfo->image_height > max_pixels) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: JPEG of %ux%u pixels is larger than the limit of %lld pixels", name,
                     (unsigned)cinfo->image_width, (unsigned)cinfo->image_height, (long long)max_pixels);
        goto done;
    }
    /* The declared size against the file: with Huffman coding every 8x8 block of a component costs at least one
     * bit (its DC code), so a file holds at most 8 * size blocks of its smallest component. A few bytes declaring
     * 16000x16000 would otherwise make libjpeg allocate and decode the whole image (770 MB and 3 s for 1.4 KB).
     * Arithmetic coding can go below a bit per block; the memory budget below still applies to it. */
    uint64_t min_blocks = UINT64_MAX, coef_bytes = 0;
    for (int c = 0; c < cinfo->num_components; c++) {
        uint64_t b = (uint64_t)cinfo->comp_info[c].width_in_blocks * cinfo->comp_info[c].height_in_blocks;
        if (b < min_blocks) min_blocks = b;
        coef_bytes += b * DCTSIZE2 * sizeof(JCOEF);
    }
    if (!cinfo->arith_code && min_blocks > (uint64_t)size * 8) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: JPEG declares %ux%u pixels that its %zu bytes cannot hold (at least "
                     "%llu bytes needed; corrupt, truncated or a decompression bomb)", name,
                     (unsigned)cinfo->image_width, (unsigned)cinfo->image_height, size,
                     (unsigned long long)((min_blocks + 7) / 8));
        goto done;
    }
    /* Memory: the output, and for progressive files the whole image's DCT coefficients, held until the last scan. */
    uint64_t need = (uint64_t)cinfo->image_width * cinfo->image_height * (uint64_t)cinfo->num_components +
                    (cinfo->progressive_mode ? coef_bytes : 0);
    if (need > DY_IMAGE_DECODE_BUDGET) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: %sJPEG of %ux%u pixels needs about %llu MiB to decode, more than the "
                     "%llu MiB allowed for one image", name, cinfo->progressive_mode ? "progressive " : "",
                     (unsigned)cinfo->image_width, (unsigned)cinfo->image_height, (unsigned long long)(need >> 20),
                     (unsigned long long)(DY_IMAGE_DECODE_BUDGET >> 20));
        goto done;
    }
    int cmyk = 0;
    if (cinfo->jpeg_color_space == JCS_GRAYSCALE) cinfo->out_color_space = JCS_GRAYSCALE;
    else if (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK) {
        cinfo->out_color_space = JCS_CMYK;
        cmyk = 1;
    } else cinfo->out_color_space = JCS_RGB;
    if (min_side > 0) {
        /* The coarsest DCT scale that keeps both sides >= min_side. */
        for (unsigned denom = 8; denom >= 2; denom /= 2) {
            if ((cinfo->image_width + denom - 1) / denom >= (unsigned)min_side &&
                (cinfo->image_height + denom - 1) / denom >= (unsigned)min_side) {
                cinfo->scale_num = 1;
                cinfo->scale_denom = denom;
                break;
            }
        }
    }
    jpeg_start_decompress(cinfo);
    int w = (int)cinfo->output_width, h = (int)cinfo->output_height, nc = cinfo->output_components;
    int channels = cmyk ? 3 : nc;
    if (w <= 0 || h <= 0 || (nc != 1 && nc != 3 && !(cmyk && nc == 4))) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: JPEG decodes to %dx%d with %d components", name, w, h, nc);
        goto done;
    }
    s->pixels = malloc((size_t)w * h * channels + 1);
    s->row = malloc((size_t)w * nc + 1);
    if (!s->pixels || !s->row) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for %dx%d pixels", name, w, h);
        goto done;
    }
    while (cinfo->output_scanline < cinfo->output_height) {
        size_t y = cinfo->output_scanline;
        JSAMPROW rp = s->row;
        if (jpeg_read_scanlines(cinfo, &rp, 1) != 1) break;
        uint8_t *dst = s->pixels + y * (size_t)w * channels;
        if (!cmyk) memcpy(dst, s->row, (size_t)w * nc);
        else
            for (int x = 0; x < w; x++) { /* Adobe CMYK is stored inverted: R = C * K / 255 */
                const uint8_t *p = s->row + 4 * x;
                for (int c = 0; c < 3; c++) dst[3 * x + c] = (uint8_t)((p[c] * p[3] + 127) / 255);
            }
        if (s->truncated) break;
    }
    if (s->truncated || cinfo->output_scanline < cinfo->output_height) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: undecodable JPEG: truncated (data ends before the image)", name);
        goto done;
    }
    jpeg_finish_decompress(cinfo);
    if (s->truncated) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: undecodable JPEG: truncated (data ends before the image)", name);
        goto done;
    }
    out->width = w;
    out->height = h;
    out->channels = channels;
    out->pixels = s->pixels;
    s->pixels = NULL;
done:
    jpeg_destroy_decompress(cinfo);
    free(s->pixels);
    free(s->row);
    free(s);
    free(cinfo);
    return st;
}

dy_status dy_image_decode(dy_ctx *ctx, const char *name, const uint8_t *data, size_t size, int64_t max_pixels,
                          int min_side, dy_image *out) {
    memset(out, 0, sizeof *out);
    if (max_pixels <= 0) max_pixels = DY_IMAGE_DEFAULT_MAX_PIXELS;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size >= 8 && memcmp(data, png_sig, 8) == 0) return decode_png(ctx, name, data, size, max_pixels, out);
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return decode_jpeg(ctx, name, data, size, max_pixels, min_side, out);
    if (size == 0) return dy_fail(ctx, DY_ERR_FORMAT, "%s: undecodable image: empty file", name);
    return dy_fail(ctx, DY_ERR_FORMAT, "%s: undecodable image: neither a PNG nor a JPEG signature", name);
}
