/* Image decoding (PNG grey / RGB / RGBA / palette / 16-bit / interlaced, JPEG colour and grey, written here with
 * libpng and libjpeg), its errors on corrupt files, the load-time resize, and image folders (labelled, unlabelled,
 * fail vs skip, missing folder). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "data/dataset.h"
#include "data/image.h"
#include "testlib.h"

static char tmpdir[256];

static const char *tmp_path(const char *name) { return test_path_in(tmpdir, name); }

static bool has(dy_ctx *ctx, const char *needle) { return strstr(dy_ctx_error(ctx), needle) != NULL; }

/* The test pattern: value of (x, y, c) on 8 bits. */
static int pattern(int x, int y, int c) { return (x * 9 + y * 5 + c * 70) & 255; }

/* Writes a PNG of color type `ct` and bit depth `depth` with the pattern (alpha = x*3, palette: 16 entries). */
static void write_png(const char *path, int w, int h, int ct, int depth, int interlace) {
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, ct, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (ct == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[16];
        for (int i = 0; i < 16; i++)
            pal[i].red = (uint8_t)(i * 16), pal[i].green = (uint8_t)(255 - i * 16), pal[i].blue = (uint8_t)(i * 5);
        png_set_PLTE(png, info, pal, 16);
    }
    png_write_info(png, info);
    if (depth == 16) png_set_swap(png); /* rows below are little-endian uint16 */
    int ch = ct == PNG_COLOR_TYPE_GRAY ? 1 : ct == PNG_COLOR_TYPE_RGB ? 3 : ct == PNG_COLOR_TYPE_RGBA ? 4 : 1;
    size_t bpp = depth == 16 ? 2 : 1;
    uint8_t *img = malloc((size_t)w * h * ch * bpp);
    png_bytep *rows = malloc(sizeof(png_bytep) * h);
    for (int y = 0; y < h; y++) {
        rows[y] = img + (size_t)y * w * ch * bpp;
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++) {
                int v = ct == PNG_COLOR_TYPE_PALETTE ? (x + y) % 16 : (c == 3 ? x * 3 : pattern(x, y, c));
                if (depth == 16) {
                    uint16_t v16 = (uint16_t)(v * 257 + (x % 3 == 1 && v < 255 ? 100 : 0)); /* not a multiple of 257 */
                    rows[y][(x * ch + c) * 2] = (uint8_t)v16, rows[y][(x * ch + c) * 2 + 1] = (uint8_t)(v16 >> 8);
                } else
                    rows[y][x * ch + c] = (uint8_t)v;
            }
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    free(img);
    free(rows);
}

static void write_jpeg(const char *path, int w, int h, int grey, int quality) {
    FILE *f = fopen(path, "wb");
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w, c.image_height = h, c.input_components = grey ? 1 : 3;
    c.in_color_space = grey ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * 3);
    while (c.next_scanline < c.image_height) {
        int y = (int)c.next_scanline;
        for (int x = 0; x < w; x++)
            for (int k = 0; k < (grey ? 1 : 3); k++) row[x * (grey ? 1 : 3) + k] = (uint8_t)(60 + 40 * k + (x + y) / 2);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
}

/* A constant CMYK JPEG as Photoshop stores it (inverted: 255 = no ink), with libjpeg's Adobe marker. */
static void write_cmyk_jpeg(const char *path, int w, int h, const uint8_t cmyk[4]) {
    FILE *f = fopen(path, "wb");
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w, c.image_height = h, c.input_components = 4, c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 98, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * 4);
    for (int x = 0; x < w; x++) memcpy(row + 4 * x, cmyk, 4);
    while (c.next_scanline < c.image_height) jpeg_write_scanlines(&c, &row, 1);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
}

static uint8_t *slurp(const char *path, size_t *n) {
    uint8_t *b = NULL;
    *n = 0;
    if (dy_read_file(NULL, path, &b, n, 0) != DY_OK) return NULL;
    return b;
}

static dy_status decode_file(dy_ctx *ctx, const char *path, dy_image *img) {
    size_t n;
    uint8_t *b = slurp(path, &n);
    dy_status st = dy_image_decode(ctx, path, b ? b : (const uint8_t *)"", n, 0, 0, img);
    free(b);
    return st;
}

static void test_png(dy_ctx *ctx) {
    struct { const char *name; int ct, depth, interlace, want_ch; } cases[] = {
        {"grey8.png", PNG_COLOR_TYPE_GRAY, 8, 0, 1},       {"rgb8.png", PNG_COLOR_TYPE_RGB, 8, 0, 3},
        {"rgba8.png", PNG_COLOR_TYPE_RGBA, 8, 0, 3},       {"palette.png", PNG_COLOR_TYPE_PALETTE, 8, 0, 3},
        {"grey16.png", PNG_COLOR_TYPE_GRAY, 16, 0, 1},     {"rgb16.png", PNG_COLOR_TYPE_RGB, 16, 0, 3},
        {"rgb8_interlaced.png", PNG_COLOR_TYPE_RGB, 8, 1, 3},
    };
    const int w = 13, h = 9;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_png(tmp_path(cases[k].name), w, h, cases[k].ct, cases[k].depth, cases[k].interlace);
        dy_image img;
        if (!CHECK(decode_file(ctx, tmp_path(cases[k].name), &img) == DY_OK, "%s decodes: %s", cases[k].name,
                   dy_ctx_error(ctx)))
            continue;
        CHECK(img.width == w && img.height == h && img.channels == cases[k].want_ch, "%s: %dx%d, %d channels",
              cases[k].name, img.width, img.height, img.channels);
        int bad = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < img.channels; c++) {
                    int want;
                    if (cases[k].ct == PNG_COLOR_TYPE_PALETTE) {
                        int i = (x + y) % 16;
                        want = c == 0 ? i * 16 : c == 1 ? 255 - i * 16 : i * 5;
                    } else if (cases[k].depth == 16) { /* libpng's scale: round(v16 * 255 / 65535) */
                        int v16 = pattern(x, y, c) * 257 + (x % 3 == 1 && pattern(x, y, c) < 255 ? 100 : 0);
                        want = (int)((v16 * 255L + 32767) / 65535);
                    } else
                        want = pattern(x, y, c);
                    bad += img.pixels[(y * w + x) * img.channels + c] != want;
                }
        CHECK(bad == 0, "%s: pixels exact (%d differ)", cases[k].name, bad);
        dy_image_free(&img);
    }
    /* corrupt PNGs */
    size_t n;
    uint8_t *b = slurp(tmp_path("rgb8.png"), &n);
    dy_image img;
    CHECK(dy_image_decode(ctx, "cut.png", b, n / 2, 0, 0, &img) == DY_ERR_FORMAT && has(ctx, "cut.png") &&
              has(ctx, "undecodable PNG"),
          "truncated PNG: %s", dy_ctx_error(ctx));
    CHECK(dy_image_decode(ctx, "head.png", b, 20, 0, 0, &img) == DY_ERR_FORMAT && has(ctx, "head.png"),
          "PNG cut in the header: %s", dy_ctx_error(ctx));
    b[n - 30] ^= 0xff; /* inside the image data: a CRC / zlib error */
    CHECK(dy_image_decode(ctx, "crc.png", b, n, 0, 0, &img) == DY_ERR_FORMAT && has(ctx, "crc.png"),
          "corrupt PNG data: %s", dy_ctx_error(ctx));
    free(b);
    b = slurp(tmp_path("rgb8.png"), &n);
    CHECK(dy_image_decode(ctx, "big.png", b, n, 100, 0, &img) == DY_ERR_FORMAT && has(ctx, "larger than the limit"),
          "pixel limit refuses before decoding: %s", dy_ctx_error(ctx));
    free(b);
    CHECK(dy_image_decode(ctx, "junk.jpg", (const uint8_t *)"hello world", 11, 0, 0, &img) == DY_ERR_FORMAT &&
              has(ctx, "junk.jpg") && has(ctx, "neither a PNG nor a JPEG"),
          "garbage: %s", dy_ctx_error(ctx));
    CHECK(dy_image_decode(ctx, "empty.png", (const uint8_t *)"", 0, 0, 0, &img) == DY_ERR_FORMAT && has(ctx, "empty"),
          "empty file: %s", dy_ctx_error(ctx));
}

static void test_jpeg(dy_ctx *ctx) {
    const int w = 96, h = 64;
    for (int grey = 0; grey < 2; grey++) {
        const char *name = grey ? "grey.jpg" : "rgb.jpg";
        write_jpeg(tmp_path(name), w, h, grey, 95);
        dy_image img;
        if (!CHECK(decode_file(ctx, tmp_path(name), &img) == DY_OK, "%s decodes: %s", name, dy_ctx_error(ctx)))
            continue;
        CHECK(img.width == w && img.height == h && img.channels == (grey ? 1 : 3), "%s: %dx%dx%d", name, img.width,
              img.height, img.channels);
        int worst = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < img.channels; c++) {
                    int d = abs(img.pixels[(y * w + x) * img.channels + c] - (60 + 40 * c + (x + y) / 2));
                    if (d > worst) worst = d;
                }
        CHECK(worst <= 6, "%s: pixels within 6 of the source at quality 95 (worst %d)", name, worst);
        dy_image_free(&img);
    }
    /* CMYK (Adobe, inverted): R = C * K / 255 ... */
    const uint8_t cmyk[4] = {200, 100, 50, 128};
    write_cmyk_jpeg(tmp_path("cmyk.jpg"), 16, 16, cmyk);
    dy_image ci;
    if (CHECK(decode_file(ctx, tmp_path("cmyk.jpg"), &ci) == DY_OK && ci.channels == 3, "CMYK JPEG decodes to RGB: %s",
              dy_ctx_error(ctx))) {
        int r = ci.pixels[0], g = ci.pixels[1], b = ci.pixels[2];
        CHECK(abs(r - 100) <= 3 && abs(g - 50) <= 3 && abs(b - 25) <= 3, "CMYK -> RGB %d %d %d (want 100 50 25)", r,
              g, b);
        dy_image_free(&ci);
    }
    /* DCT-domain downscale: 1/4 keeps both sides >= 12 for a 96x64 image (1/8 would give 8) */
    size_t n;
    uint8_t *b = slurp(tmp_path("rgb.jpg"), &n);
    dy_image img;
    CHECK(dy_image_decode(ctx, "rgb.jpg", b, n, 0, 12, &img) == DY_OK && img.width == 24 && img.height == 16,
          "JPEG decoded at 1/2 scale: %dx%d", img.width, img.height);
    dy_image_free(&img);
    CHECK(dy_image_decode(ctx, "cut.jpg", b, n * 2 / 3, 0, 0, &img) == DY_ERR_FORMAT && has(ctx, "cut.jpg") &&
              has(ctx, "truncated"),
          "truncated JPEG: %s", dy_ctx_error(ctx));
    CHECK(dy_image_decode(ctx, "hdr.jpg", b, 40, 0, 0, &img) == DY_ERR_FORMAT && has(ctx, "hdr.jpg") &&
              has(ctx, "undecodable JPEG") && has(ctx, "truncated"),
          "JPEG cut in the header: %s", dy_ctx_error(ctx));
    for (size_t i = 200; i < 260 && i < n; i++) b[i] = 0xff; /* markers in the header/tables */
    dy_status st = dy_image_decode(ctx, "bad.jpg", b, n, 0, 0, &img);
    CHECK(st == DY_ERR_FORMAT || st == DY_OK, "corrupt JPEG data never crashes (%s)", dy_ctx_error(ctx));
    dy_image_free(&img);
    free(b);
}

static void test_resize(dy_ctx *ctx) {
    /* identity at the same size, exact */
    dy_image img = {.width = 8, .height = 8, .channels = 3, .pixels = malloc(8 * 8 * 3)};
    for (int i = 0; i < 8 * 8 * 3; i++) img.pixels[i] = (uint8_t)(i * 11);
    uint8_t out[3 * 64];
    CHECK(dy_image_resize_square(ctx, &img, 8, 3, out) == DY_OK, "resize");
    int bad = 0;
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            for (int c = 0; c < 3; c++) bad += out[c * 64 + y * 8 + x] != img.pixels[(y * 8 + x) * 3 + c];
    CHECK(bad == 0, "same-size resize is the identity (HWC -> CHW)");
    /* a 16x8 image centre-cropped to its middle 8x8 */
    dy_image wide = {.width = 16, .height = 8, .channels = 1, .pixels = malloc(16 * 8)};
    for (int i = 0; i < 128; i++) wide.pixels[i] = (uint8_t)(i * 3);
    uint8_t o1[64];
    dy_image_resize_square(ctx, &wide, 8, 1, o1);
    bad = 0;
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) bad += o1[y * 8 + x] != wide.pixels[y * 16 + x + 4];
    CHECK(bad == 0, "shorter side kept, centre crop of the longer");
    /* 2x downscale: the triangle filter of support 2 gives weights 1/8, 3/8, 3/8, 1/8 */
    dy_image big = {.width = 8, .height = 8, .channels = 1, .pixels = malloc(64)};
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) big.pixels[y * 8 + x] = (uint8_t)(x * 20);
    uint8_t o2[16];
    dy_image_resize_square(ctx, &big, 4, 1, o2);
    /* column 1: taps x = 1..4 -> (20 + 3*40 + 3*60 + 80) / 8 = 50 */
    CHECK(o2[1] == 50 && o2[5] == 50, "antialiased 2x downscale: %d (want 50)", o2[1]);
    /* grey <-> RGB conversion */
    uint8_t g[64];
    dy_image_resize_square(ctx, &img, 8, 1, g);
    int p = (0 * 8 + 3) * 3;
    int want = (int)(0.299f * img.pixels[p] + 0.587f * img.pixels[p + 1] + 0.114f * img.pixels[p + 2] + 0.5f);
    CHECK(abs(g[3] - want) <= 1, "RGB -> grey 0.299/0.587/0.114: %d vs %d", g[3], want);
    free(img.pixels), free(wide.pixels), free(big.pixels);
}

static void test_folder(dy_ctx *ctx) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/lab/cat %s/lab/dog/sub %s/lab/emu %s/unl/a/b", tmpdir, tmpdir, tmpdir,
             tmpdir);
    CHECK(system(cmd) == 0, "mkdir");
    write_png(tmp_path("lab/cat/1.png"), 20, 16, PNG_COLOR_TYPE_RGB, 8, 0);
    write_png(tmp_path("lab/cat/2.PNG"), 16, 16, PNG_COLOR_TYPE_GRAY, 8, 0);
    write_jpeg(tmp_path("lab/cat/3.jpg"), 33, 17, 0, 90);
    write_png(tmp_path("lab/dog/sub/4.png"), 16, 30, PNG_COLOR_TYPE_PALETTE, 8, 0);
    write_jpeg(tmp_path("lab/dog/5.jpeg"), 64, 64, 1, 90);
    write_png(tmp_path("lab/emu/6.png"), 16, 16, PNG_COLOR_TYPE_RGBA, 8, 0);
    FILE *f = fopen(tmp_path("lab/dog/notes.txt"), "w");
    if (f) fputs("not an image", f), fclose(f);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/lab", tmpdir);
    dy_image_folder_options o = dy_image_folder_defaults();
    o.size = 16;
    dy_dataset *ds = NULL;
    if (CHECK(dy_dataset_load_image_folder(ctx, &ds, dir, &o) == DY_OK, "labelled folder: %s", dy_ctx_error(ctx))) {
        CHECK(ds->count == 6 && ds->channels == 3 && ds->height == 16 && ds->num_classes == 3, "6 images, 3 classes");
        CHECK(!strcmp(ds->class_names[0], "cat") && !strcmp(ds->class_names[2], "emu") && ds->class_counts[0] == 3 &&
                  ds->class_counts[1] == 2 && ds->class_counts[2] == 1,
              "class names sorted, counts 3/2/1");
        CHECK(ds->labels[3] == 1 && ds->labels[5] == 2 && ds->skipped == 0, "labels follow folders");
        /* 2.PNG is grey 16x16: replicated into three identical channels, exact */
        int bad = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 16; x++) bad += ds->pixels[768 + c * 256 + y * 16 + x] != pattern(x, y, 0);
        CHECK(bad == 0, "grey image replicated to RGB (%d differ)", bad);
        dy_dataset_free(ds);
    }
    o.channels = 1;
    CHECK(dy_dataset_load_image_folder(ctx, &ds, dir, &o) == DY_OK && ds->channels == 1 &&
              ds->pixels[256 + 5] == pattern(5, 0, 0),
          "grey data set: %s", dy_ctx_error(ctx));
    dy_dataset_free(ds);
    o.channels = 3;
    /* a corrupt file: fail names it; skip counts it */
    f = fopen(tmp_path("lab/dog/broken.jpg"), "wb");
    if (f) fwrite("\xff\xd8\xff\xe0garbage", 1, 11, f), fclose(f);
    CHECK(dy_dataset_load_image_folder(ctx, &ds, dir, &o) == DY_ERR_FORMAT && has(ctx, "broken.jpg") && ds == NULL,
          "fail mode names the bad file: %s", dy_ctx_error(ctx));
    o.skip_bad = true;
    CHECK(dy_dataset_load_image_folder(ctx, &ds, dir, &o) == DY_OK && ds->count == 6 && ds->skipped == 1 &&
              ds->class_counts[1] == 2 && ds->labels[5] == 2,
          "skip mode: 6 kept, 1 skipped: %s", dy_ctx_error(ctx));
    const char *skipped = ds && ds->skipped_files ? ds->skipped_files[0] : NULL;
    CHECK(skipped && strlen(skipped) > 15 && !strcmp(skipped + strlen(skipped) - 15, "/dog/broken.jpg"),
          "issue23_skipped_files_named: the skipped file's path is kept: %s", skipped ? skipped : "(none)");
    dy_dataset_free(ds);
    /* unlabelled tree */
    write_png(tmp_path("unl/x.png"), 10, 10, PNG_COLOR_TYPE_RGB, 8, 0);
    write_jpeg(tmp_path("unl/a/b/y.jpg"), 12, 10, 0, 90);
    snprintf(dir, sizeof dir, "%s/unl", tmpdir);
    o.labelled = false;
    o.skip_bad = false;
    CHECK(dy_dataset_load_image_folder(ctx, &ds, dir, &o) == DY_OK && ds->count == 2 && ds->labels[0] == -1 &&
              ds->num_classes == 0,
          "unlabelled tree: %s", dy_ctx_error(ctx));
    dy_dataset_free(ds);
    snprintf(dir, sizeof dir, "%s/none", tmpdir);
    CHECK(dy_dataset_load_image_folder(ctx, &ds, dir, &o) == DY_ERR_IO && has(ctx, "none") &&
              has(ctx, "missing folder"),
          "missing folder: %s", dy_ctx_error(ctx));
    snprintf(dir, sizeof dir, "%s/lab/emu/..", tmpdir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/empty/k", tmpdir);
    CHECK(system(cmd) == 0, "mkdir");
    snprintf(dir, sizeof dir, "%s/empty", tmpdir);
    o.labelled = true;
    CHECK(dy_dataset_load_image_folder(ctx, &ds, dir, &o) == DY_ERR_FORMAT && has(ctx, "no .png/.jpg/.jpeg"),
          "no images: %s", dy_ctx_error(ctx));
}

/* ---- issue 10 item 10: corrupt JPEG data, decompression bombs, PNG transparency ---- */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Offset of the first marker 0xFF code at or after from, or 0. */
static size_t find_marker(const uint8_t *b, size_t n, uint8_t code, size_t from) {
    for (size_t i = from; i + 1 < n; i++)
        if (b[i] == 0xFF && b[i + 1] == code) return i;
    return 0;
}

static void item10_corrupt_jpeg(dy_ctx *ctx) {
    write_jpeg(tmp_path("good.jpg"), 96, 64, 0, 95);
    size_t n;
    uint8_t *good = slurp(tmp_path("good.jpg"), &n);
    uint8_t *b = malloc(n + 16);
    size_t sos = find_marker(good, n, 0xDA, 2);
    if (!CHECK(good && sos && n > sos + 200, "item10: a JPEG with a scan (SOS at %zu of %zu)", sos, n)) {
        free(good);
        free(b);
        return;
    }
    size_t data = sos + 2 + ((size_t)good[sos + 2] << 8 | good[sos + 3]); /* the entropy-coded data starts here */
    size_t mid = data + (n - 2 - data) / 2;
    dy_image img;
    /* all-ones bits (0xFF stuffed as FF 00) are no valid Huffman code: libjpeg warns and fills the rest with grey */
    memcpy(b, good, n);
    for (size_t i = mid; i < mid + 40; i += 2) b[i] = 0xFF, b[i + 1] = 0x00;
    CHECK(dy_image_decode(ctx, "huff.jpg", b, n, 0, 0, &img) == DY_ERR_FORMAT && has(ctx, "huff.jpg") &&
              has(ctx, "Corrupt JPEG data"),
          "item10_corrupt_jpeg: bad Huffman codes are an error naming the file: %s", dy_ctx_error(ctx));
    dy_image_free(&img);
    /* a marker in the middle of the scan: "premature end of data segment" */
    memcpy(b, good, n);
    b[mid] = 0xFF, b[mid + 1] = 0xD9;
    CHECK(dy_image_decode(ctx, "marker.jpg", b, n, 0, 0, &img) == DY_ERR_FORMAT && has(ctx, "marker.jpg") &&
              has(ctx, "Corrupt JPEG data"),
          "item10_corrupt_jpeg: a marker inside the scan is an error: %s", dy_ctx_error(ctx));
    dy_image_free(&img);
    /* bytes between the scan and the end marker */
    memcpy(b, good, n - 2);
    memcpy(b + n - 2, "\x12\x34\x56\xFF\xD9", 5);
    CHECK(dy_image_decode(ctx, "extra.jpg", b, n + 3, 0, 0, &img) == DY_ERR_FORMAT && has(ctx, "extraneous bytes"),
          "item10_corrupt_jpeg: extraneous bytes before a marker are an error: %s", dy_ctx_error(ctx));
    dy_image_free(&img);
    /* the same at 1/4 scale (the folder loader's fast path) */
    memcpy(b, good, n);
    for (size_t i = mid; i < mid + 40; i += 2) b[i] = 0xFF, b[i + 1] = 0x00;
    CHECK(dy_image_decode(ctx, "huff.jpg", b, n, 0, 16, &img) == DY_ERR_FORMAT && has(ctx, "Corrupt JPEG data"),
          "item10_corrupt_jpeg: also when decoded at a reduced scale: %s", dy_ctx_error(ctx));
    dy_image_free(&img);
    /* a warning that does not touch the pixels passes: an unknown JFIF major version */
    memcpy(b, good, n);
    if (CHECK(b[2] == 0xFF && b[3] == 0xE0 && !memcmp(b + 6, "JFIF", 5), "item10: the JPEG starts with JFIF")) {
        b[11] = 2;
        CHECK(dy_image_decode(ctx, "jfif2.jpg", b, n, 0, 0, &img) == DY_OK && img.width == 96,
              "item10_corrupt_jpeg: an unknown JFIF version only warns and decodes: %s", dy_ctx_error(ctx));
        dy_image_free(&img);
    }
    CHECK(dy_image_decode(ctx, "good.jpg", good, n, 0, 0, &img) == DY_OK, "item10: the intact file decodes: %s",
          dy_ctx_error(ctx));
    dy_image_free(&img);
    free(good);
    free(b);
}

static void write_progressive_jpeg(const char *path, int w, int h) {
    FILE *f = fopen(path, "wb");
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w, c.image_height = h, c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = calloc((size_t)w * 3, 1);
    while (c.next_scanline < c.image_height) jpeg_write_scanlines(&c, &row, 1);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
}

/* Sets the height and width of the SOF marker (code) to side. */
static bool patch_sof(uint8_t *b, size_t n, uint8_t code, int side) {
    size_t sof = find_marker(b, n, code, 2);
    if (!sof || sof + 9 > n) return false;
    b[sof + 5] = (uint8_t)(side >> 8), b[sof + 6] = (uint8_t)side;
    b[sof + 7] = (uint8_t)(side >> 8), b[sof + 8] = (uint8_t)side;
    return true;
}

static void item10_jpeg_bomb(dy_ctx *ctx) {
    write_progressive_jpeg(tmp_path("prog.jpg"), 64, 64);
    size_t n;
    uint8_t *b = slurp(tmp_path("prog.jpg"), &n);
    if (!CHECK(b && patch_sof(b, n, 0xC2, 16000), "item10: a progressive JPEG of %zu bytes, patched to 16000x16000",
               n)) {
        free(b);
        return;
    }
    dy_image img;
    double t0 = now_s();
    dy_status st = dy_image_decode(ctx, "bomb.jpg", b, n, 0, 0, &img);
    double dt = now_s() - t0;
    CHECK(st == DY_ERR_FORMAT && has(ctx, "bomb.jpg") && has(ctx, "16000x16000") && has(ctx, "cannot hold") &&
              dt < 0.5,
          "item10_jpeg_bomb: %zu bytes declaring 16000x16000 are refused at once (%.3f s): %s", n, dt,
          dy_ctx_error(ctx));
    dy_image_free(&img);
    /* padded so that the file could hold the blocks: the memory budget refuses it (progressive: coefficients of
     * 16000^2 pixels, 768 MB, plus the output) */
    size_t padded = 150000;
    uint8_t *p = calloc(padded, 1);
    memcpy(p, b, n);
    t0 = now_s();
    st = dy_image_decode(ctx, "bomb.jpg", p, padded, 0, 0, &img);
    dt = now_s() - t0;
    CHECK(st == DY_ERR_FORMAT && has(ctx, "progressive JPEG of 16000x16000") && has(ctx, "MiB to decode") && dt < 0.5,
          "item10_jpeg_bomb: beyond the memory budget, refused before decoding (%.3f s): %s", dt, dy_ctx_error(ctx));
    dy_image_free(&img);
    free(p);
    free(b);
    /* baseline too */
    write_jpeg(tmp_path("base.jpg"), 64, 64, 0, 90);
    b = slurp(tmp_path("base.jpg"), &n);
    if (CHECK(b && patch_sof(b, n, 0xC0, 16000), "item10: a baseline JPEG patched to 16000x16000")) {
        CHECK(dy_image_decode(ctx, "bomb0.jpg", b, n, 0, 0, &img) == DY_ERR_FORMAT && has(ctx, "cannot hold"),
              "item10_jpeg_bomb: a baseline JPEG too small for its size is refused: %s", dy_ctx_error(ctx));
        dy_image_free(&img);
    }
    free(b);
}

/* PNG (width w, height h) of colour type ct / depth with a tRNS chunk: palette entries 0..3 transparent, or the grey
 * level / colour of pixel (0, 0). Pixel (x, y) is palette index / grey level (x + y) % levels, colour pattern(). */
static void write_trns_png(const char *path, int w, int h, int ct, int depth) {
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, ct, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    int levels = 1 << depth;
    if (ct == PNG_COLOR_TYPE_PALETTE && levels > 16) levels = 16; /* 16 palette entries */
    if (ct == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[16];
        png_byte alpha[4] = {0, 64, 128, 200};
        for (int i = 0; i < levels && i < 16; i++) pal[i] = (png_color){(png_byte)(i * 16), (png_byte)(255 - i * 16), 7};
        png_set_PLTE(png, info, pal, levels < 16 ? levels : 16);
        png_set_tRNS(png, info, alpha, 4, NULL);
    } else {
        png_color_16 key = {0};
        key.gray = 0;
        key.red = (png_uint_16)pattern(0, 0, 0), key.green = (png_uint_16)pattern(0, 0, 1);
        key.blue = (png_uint_16)pattern(0, 0, 2);
        png_set_tRNS(png, info, NULL, 0, &key);
    }
    png_write_info(png, info);
    png_set_packing(png);
    int ch = ct == PNG_COLOR_TYPE_RGB ? 3 : 1;
    png_bytep row = malloc((size_t)w * ch);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++)
                row[x * ch + c] = (png_byte)(ct == PNG_COLOR_TYPE_RGB ? pattern(x, y, c) : (x + y) % levels);
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    free(row);
}

static void item10_png_transparency(dy_ctx *ctx) {
    const struct {
        const char *name;
        int ct, depth, channels;
    } cases[] = {
        {"pal_trns.png", PNG_COLOR_TYPE_PALETTE, 4, 3},
        {"pal8_trns.png", PNG_COLOR_TYPE_PALETTE, 8, 3},
        {"grey2_trns.png", PNG_COLOR_TYPE_GRAY, 2, 1},
        {"grey8_trns.png", PNG_COLOR_TYPE_GRAY, 8, 1},
        {"rgb_trns.png", PNG_COLOR_TYPE_RGB, 8, 3},
    };
    const int w = 11, h = 7;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        write_trns_png(tmp_path(cases[k].name), w, h, cases[k].ct, cases[k].depth);
        dy_image img;
        if (!CHECK(decode_file(ctx, tmp_path(cases[k].name), &img) == DY_OK, "item10_png_transparency: %s (tRNS) "
                   "decodes: %s", cases[k].name, dy_ctx_error(ctx)))
            continue;
        int bad = img.width != w || img.height != h || img.channels != cases[k].channels;
        int levels = 1 << cases[k].depth;
        if (cases[k].ct == PNG_COLOR_TYPE_PALETTE && levels > 16) levels = 16;
        for (int y = 0; !bad && y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < img.channels; c++) {
                    int i = (x + y) % levels, want; /* the colour, as if opaque: alpha dropped as for RGBA */
                    if (cases[k].ct == PNG_COLOR_TYPE_PALETTE) want = c == 0 ? i * 16 : c == 1 ? 255 - i * 16 : 7;
                    else if (cases[k].ct == PNG_COLOR_TYPE_GRAY) want = i * 255 / (levels - 1);
                    else want = pattern(x, y, c);
                    bad += img.pixels[(y * w + x) * img.channels + c] != want;
                }
        CHECK(!bad, "item10_png_transparency: %s gives %d channels of its colours with the alpha dropped (%dx%dx%d)",
              cases[k].name, cases[k].channels, img.width, img.height, img.channels);
        dy_image_free(&img);
    }
}

/* A PNG whose IHDR declares far more pixels than its compressed data can hold (CRC fixed, so libpng accepts it). */
static void item10_png_bomb(dy_ctx *ctx) {
    write_png(tmp_path("small.png"), 13, 9, PNG_COLOR_TYPE_RGB, 8, 0);
    size_t n;
    uint8_t *b = slurp(tmp_path("small.png"), &n);
    if (!CHECK(b && n > 33 && !memcmp(b + 12, "IHDR", 4), "item10: a PNG with IHDR")) {
        free(b);
        return;
    }
    const uint32_t side = 16000;
    for (int k = 0; k < 2; k++) {
        uint8_t *d = b + 16 + 4 * k;
        d[0] = (uint8_t)(side >> 24), d[1] = (uint8_t)(side >> 16), d[2] = (uint8_t)(side >> 8), d[3] = (uint8_t)side;
    }
    uint32_t crc = (uint32_t)crc32(0, b + 12, 17);
    b[29] = (uint8_t)(crc >> 24), b[30] = (uint8_t)(crc >> 16), b[31] = (uint8_t)(crc >> 8), b[32] = (uint8_t)crc;
    dy_image img;
    double t0 = now_s();
    dy_status st = dy_image_decode(ctx, "bomb.png", b, n, 0, 0, &img);
    double dt = now_s() - t0;
    CHECK(st == DY_ERR_FORMAT && has(ctx, "bomb.png") && has(ctx, "16000x16000") && has(ctx, "cannot hold") &&
              dt < 0.5,
          "item10_png_bomb: %zu bytes declaring 16000x16000 are refused at once (%.3f s): %s", n, dt,
          dy_ctx_error(ctx));
    dy_image_free(&img);
    free(b);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dy_test_images_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    dy_ctx *ctx;
    dy_ctx_options o = {.threads = 2, .backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return 1;
    test_png(ctx);
    test_jpeg(ctx);
    item10_corrupt_jpeg(ctx);
    item10_jpeg_bomb(ctx);
    item10_png_transparency(ctx);
    item10_png_bomb(ctx);
    test_resize(ctx);
    test_folder(ctx);
    dy_ctx_destroy(ctx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) printf("could not remove %s\n", tmpdir);
    return test_finish();
}
