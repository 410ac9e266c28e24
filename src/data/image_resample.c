/* Load-time resize of decoded images: shorter side to `size`, centre crop to a square, with a triangle filter whose
 * support grows with the downscale factor (antialiased, like PIL's bilinear resize). Used once per file when an image
 * folder is loaded, so it favours quality over speed. */
#include <math.h>
#include <stdlib.h>

#include "data/image.h"

typedef struct {
    int lo, n;      /* first source index and number of taps */
    int offset;     /* into the weight table */
} taps;

/* Weights for out_n outputs covering the source interval [start, start + extent) of an axis of in_n pixels. */
static float *make_taps(int in_n, double start, double extent, int out_n, taps *t) {
    double scale = extent / out_n, support = scale > 1 ? scale : 1;
    int max_taps = (int)ceil(2 * support) + 2;
    float *w = malloc(sizeof(float) * (size_t)out_n * max_taps);
    if (!w) return NULL;
    for (int i = 0; i < out_n; i++) {
        double center = start + (i + 0.5) * scale;
        int lo = (int)floor(center - support), hi = (int)ceil(center + support);
        if (lo < 0) lo = 0;
        if (hi > in_n) hi = in_n;
        if (hi - lo > max_taps) hi = lo + max_taps;
        double sum = 0;
        float *wi = w + (size_t)i * max_taps;
        for (int x = lo; x < hi; x++) {
            double d = fabs((x + 0.5 - center) / support);
            wi[x - lo] = (float)(d < 1 ? 1 - d : 0);
            sum += wi[x - lo];
        }
        if (sum <= 0) { /* cannot happen for a valid box; keep a nearest-pixel tap to stay defined */
            int x = (int)floor(center);
            lo = x < 0 ? 0 : (x >= in_n ? in_n - 1 : x);
            hi = lo + 1;
            wi[0] = 1;
            sum = 1;
        }
        for (int x = lo; x < hi; x++) wi[x - lo] = (float)(wi[x - lo] / sum);
        t[i].lo = lo;
        t[i].n = hi - lo;
        t[i].offset = i * max_taps;
    }
    return w;
}

static uint8_t to_u8(float v) {
    v = v < 0 ? 0 : (v > 255 ? 255 : v);
    return (uint8_t)(v + 0.5f);
}

dy_status dy_image_resize_square(dy_ctx *ctx, const dy_image *img, int size, int channels, uint8_t *dst) {
    if (size <= 0 || (channels != 1 && channels != 3) || img->width <= 0 || img->height <= 0)
        return dy_fail(ctx, DY_ERR_INVALID, "resize: bad size %d or channels %d", size, channels);
    const int w = img->width, h = img->height, sc = img->channels;
    const double side = w < h ? w : h;
    taps *tx = malloc(sizeof(taps) * size), *ty = malloc(sizeof(taps) * size);
    float *wx = tx ? make_taps(w, (w - side) / 2, side, size, tx) : NULL;
    float *wy = ty ? make_taps(h, (h - side) / 2, side, size, ty) : NULL;
    int y_lo = ty && wy ? ty[0].lo : 0, y_hi = ty && wy ? ty[size - 1].lo + ty[size - 1].n : 0;
    float *rows = malloc(sizeof(float) * (size_t)(y_hi - y_lo + 1) * size * sc);
    float *px = malloc(sizeof(float) * 3);
    dy_status st = DY_OK;
    if (!tx || !ty || !wx || !wy || !rows || !px) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "resize: out of memory");
        goto done;
    }
    /* Horizontal pass over the source rows the vertical pass will need. */
    for (int y = y_lo; y < y_hi; y++) {
        const uint8_t *src = img->pixels + (size_t)y * w * sc;
        float *r = rows + (size_t)(y - y_lo) * size * sc;
        for (int i = 0; i < size; i++) {
            const float *wi = wx + tx[i].offset;
            for (int c = 0; c < sc; c++) {
                float a = 0;
                for (int k = 0; k < tx[i].n; k++) a += wi[k] * src[(size_t)(tx[i].lo + k) * sc + c];
                r[(size_t)i * sc + c] = a;
            }
        }
    }
    const size_t plane = (size_t)size * size;
    for (int j = 0; j < size; j++) {
        const float *wj = wy + ty[j].offset;
        for (int i = 0; i < size; i++) {
            for (int c = 0; c < sc; c++) {
                float a = 0;
                for (int k = 0; k < ty[j].n; k++)
                    a += wj[k] * rows[((size_t)(ty[j].lo - y_lo + k) * size + i) * sc + c];
                px[c] = a;
            }
            size_t o = (size_t)j * size + i;
            if (channels == sc) {
                for (int c = 0; c < sc; c++) dst[c * plane + o] = to_u8(px[c]);
            } else if (channels == 3) { /* grey source replicated */
                for (int c = 0; c < 3; c++) dst[c * plane + o] = to_u8(px[0]);
            } else {
                dst[o] = to_u8(0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2]);
            }
        }
    }
done:
    free(tx);
    free(ty);
    free(wx);
    free(wy);
    free(rows);
    free(px);
    return st;
}
