/* ColorJitter: brightness, contrast, saturation and hue as torchvision 0.14's tensor functions on float images
 * (_blend(img1, img2, r) = clamp(r * img1 + (1 - r) * img2, 0, 1)), applied in a random order. */
#include <math.h>

#include "data/augment/augment.h"

static float clamp01(float v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }

/* Blend with black. */
void dy_adjust_brightness(float *img, int channels, int64_t hw, float factor) {
    for (int64_t i = 0; i < channels * hw; i++) img[i] = clamp01(factor * img[i]);
}

/* Blend with the mean of the grey image (one scalar per image). */
void dy_adjust_contrast(float *img, int channels, int64_t hw, float factor) {
    double sum = 0;
    if (channels == 3)
        for (int64_t i = 0; i < hw; i++) sum += 0.2989f * img[i] + 0.587f * img[hw + i] + 0.114f * img[2 * hw + i];
    else
        for (int64_t i = 0; i < hw; i++) sum += img[i];
    const float mean = (float)(sum / hw), bias = (1 - factor) * mean;
    for (int64_t i = 0; i < channels * hw; i++) img[i] = clamp01(factor * img[i] + bias);
}

/* Blend with the grey image (per pixel). */
void dy_adjust_saturation(float *img, int channels, int64_t hw, float factor) {
    if (channels != 3) return;
    float *r = img, *g = img + hw, *b = img + 2 * hw;
    for (int64_t i = 0; i < hw; i++) {
        float l = (1 - factor) * (0.2989f * r[i] + 0.587f * g[i] + 0.114f * b[i]);
        r[i] = clamp01(factor * r[i] + l);
        g[i] = clamp01(factor * g[i] + l);
        b[i] = clamp01(factor * b[i] + l);
    }
}

/* RGB -> HSV, shift h by hue_factor (mod 1), HSV -> RGB, with the exact case analysis of torchvision's _rgb2hsv and
 * _hsv2rgb (ties of the maximum resolved r, then g, then b). Written with selects instead of branches and library
 * calls so that the compiler vectorises it (it was two thirds of the small-image pipeline's time); fmod(x, 1) is
 * x - floor(x) exactly for the positive x that occur here. */
void dy_adjust_hue(float *img, int channels, int64_t hw, float hue_factor) {
    if (channels != 3) return;
    float *restrict R = img, *restrict G = img + hw, *restrict B = img + 2 * hw; /* disjoint planes */
#pragma omp simd
    for (int64_t i = 0; i < hw; i++) {
        const float r = R[i], g = G[i], b = B[i];
        float maxc = r > g ? r : g, minc = r < g ? r : g;
        maxc = maxc > b ? maxc : b;
        minc = minc < b ? minc : b;
        const int eqc = maxc == minc;
        const float cr = maxc - minc;
        const float s = cr / (eqc ? 1.0f : maxc);
        const float div = eqc ? 1.0f : cr;
        const float rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
        float h = maxc == r ? bc - gc : (maxc == g ? 2.0f + rc - bc : 4.0f + gc - rc);
        h = h / 6.0f + 1.0f;
        h = h - floorf(h);             /* torch.fmod(h / 6 + 1, 1) */
        h = h + hue_factor;
        h = h - floorf(h);             /* (h + f) % 1.0, Python's sign convention */
        const float v = maxc;
        const float h6 = h * 6.0f, fi = floorf(h6), f = h6 - fi;
        const float p = clamp01(v * (1.0f - s)), q = clamp01(v * (1.0f - s * f)),
                    t = clamp01(v * (1.0f - s * (1.0f - f)));
        int sector = (int)fi;
        sector = sector >= 6 ? sector - 6 : sector; /* i % 6 for i in [0, 6] */
        /* torchvision's tables: R = (v, q, p, p, t, v), G = (t, v, v, q, p, p), B = (p, p, t, v, v, q) */
        R[i] = (sector == 0 || sector == 5) ? v : (sector == 1 ? q : (sector == 4 ? t : p));
        G[i] = sector == 0 ? t : ((sector == 1 || sector == 2) ? v : (sector == 3 ? q : p));
        B[i] = sector <= 1 ? p : (sector == 2 ? t : (sector == 5 ? q : v));
    }
}

void dy_color_jitter_params(dy_rng *r, const dy_augment *a, dy_jitter_params *p) {
    for (int i = 0; i < 4; i++) p->order[i] = i;
    for (int i = 3; i > 0; i--) { /* uniform random permutation */
        int j = (int)dy_rng_below(r, (uint64_t)i + 1);
        int t = p->order[i];
        p->order[i] = p->order[j];
        p->order[j] = t;
    }
    const float b = a->brightness, c = a->contrast, s = a->saturation;
    p->brightness = b > 0 ? (float)dy_rng_range(r, fmaxf(0, 1 - b), 1 + b) : 1;
    p->contrast = c > 0 ? (float)dy_rng_range(r, fmaxf(0, 1 - c), 1 + c) : 1;
    p->saturation = s > 0 ? (float)dy_rng_range(r, fmaxf(0, 1 - s), 1 + s) : 1;
    p->hue = a->hue > 0 ? (float)dy_rng_range(r, -a->hue, a->hue) : 0;
}

void dy_color_jitter_apply(float *img, int channels, int64_t hw, const dy_augment *a, const dy_jitter_params *p) {
    for (int k = 0; k < 4; k++) {
        switch (p->order[k]) {
        case 0: if (a->brightness > 0) dy_adjust_brightness(img, channels, hw, p->brightness); break;
        case 1: if (a->contrast > 0) dy_adjust_contrast(img, channels, hw, p->contrast); break;
        case 2: if (a->saturation > 0) dy_adjust_saturation(img, channels, hw, p->saturation); break;
        default: if (a->hue > 0) dy_adjust_hue(img, channels, hw, p->hue); break;
        }
    }
}
