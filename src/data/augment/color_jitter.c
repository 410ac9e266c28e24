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
 * _hsv2rgb (ties of the maximum resolved r, then g, then b). */
void dy_adjust_hue(float *img, int channels, int64_t hw, float hue_factor) {
    if (channels != 3) return;
    float *R = img, *G = img + hw, *B = img + 2 * hw;
    for (int64_t i = 0; i < hw; i++) {
        const float r = R[i], g = G[i], b = B[i];
        const float maxc = fmaxf(r, fmaxf(g, b)), minc = fminf(r, fminf(g, b));
        const int eqc = maxc == minc;
        const float cr = maxc - minc;
        const float s = cr / (eqc ? 1.0f : maxc);
        const float div = eqc ? 1.0f : cr;
        const float rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
        float h;
        if (maxc == r) h = bc - gc;
        else if (maxc == g) h = 2.0f + rc - bc;
        else h = 4.0f + gc - rc;
        h = fmodf(h / 6.0f + 1.0f, 1.0f);
        /* (h + f) % 1.0 with Python's sign convention (result in [0, 1)) */
        h = h + hue_factor;
        h = h - floorf(h);
        if (h >= 1.0f) h = 0.0f;
        const float v = maxc;
        const float h6 = h * 6.0f, fi = floorf(h6), f = h6 - fi;
        const float p = clamp01(v * (1.0f - s)), q = clamp01(v * (1.0f - s * f)), t = clamp01(v * (1.0f - s * (1.0f - f)));
        int sector = ((int)fi) % 6;
        if (sector < 0) sector += 6;
        float o0, o1, o2;
        switch (sector) {
        case 0: o0 = v, o1 = t, o2 = p; break;
        case 1: o0 = q, o1 = v, o2 = p; break;
        case 2: o0 = p, o1 = v, o2 = t; break;
        case 3: o0 = p, o1 = q, o2 = v; break;
        case 4: o0 = t, o1 = p, o2 = v; break;
        default: o0 = v, o1 = p, o2 = q; break;
        }
        R[i] = o0;
        G[i] = o1;
        B[i] = o2;
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
