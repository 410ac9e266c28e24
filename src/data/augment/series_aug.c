/* Time-series augmentations (Um et al. 2017; Iwana and Uchida 2021): jitter, scaling, magnitude warping, time
 * warping, permutation of segments. Definitions in include/dystress/signal_augment.h. */
#include <math.h>
#include <string.h>

#include "data/augment/signal_aug.h"

void dy_series_jitter(float *x, int64_t n, double sigma, dy_rng *r) {
    for (int64_t i = 0; i < n; i++) x[i] += (float)(sigma * dy_rng_normal(r));
}

void dy_series_scale(float *x, int channels, int64_t len, const double *factor) {
    for (int c = 0; c < channels; c++) {
        const float f = (float)factor[c];
        float *ch = x + (int64_t)c * len;
        for (int64_t t = 0; t < len; t++) ch[t] *= f;
    }
}

/* Knots at linspace(0, len - 1, knots) (the last one exactly len - 1) and the spline's second derivatives. */
static void warp_curve(int64_t len, const double *y, int knots, double *xk, double *m) {
    for (int k = 0; k < knots; k++) xk[k] = (double)k * (double)(len - 1) / (double)(knots - 1);
    dy_spline_fit(xk, y, knots, m);
}

void dy_series_magnitude_warp(float *x, int64_t len, const double *y, int knots) {
    if (len < 2) return;
    double xk[DY_SIGNAL_MAX_KNOTS + 2], m[DY_SIGNAL_MAX_KNOTS + 2];
    warp_curve(len, y, knots, xk, m);
    for (int64_t t = 0; t < len; t++) x[t] = (float)(x[t] * dy_spline_eval(xk, y, m, knots, (double)t));
}

/* s at position pos by linear interpolation, clamped to the ends. */
static float interp(const float *s, int64_t len, double pos) {
    if (pos <= 0) return s[0];
    if (pos >= (double)(len - 1)) return s[len - 1];
    const int64_t i = (int64_t)pos;
    const double f = pos - (double)i;
    return (float)((1 - f) * s[i] + f * s[i + 1]);
}

/* The speed curve at t, clamped at 0 so that the warped time never runs backwards. */
static double speed(const double *xk, const double *y, const double *m, int knots, int64_t t) {
    double v = dy_spline_eval(xk, y, m, knots, (double)t);
    return v > 0 ? v : 0;
}

void dy_series_time_warp(float *x, int64_t len, const double *y, int knots, float *scratch) {
    if (len < 2) return;
    double xk[DY_SIGNAL_MAX_KNOTS + 2], m[DY_SIGNAL_MAX_KNOTS + 2];
    warp_curve(len, y, knots, xk, m);
    double tau = 0, prev = speed(xk, y, m, knots, 0);
    for (int64_t t = 1; t < len; t++) {
        double v = speed(xk, y, m, knots, t);
        tau += (prev + v) / 2;
        prev = v;
    }
    if (!(tau > 0)) return; /* a curve at or below 0 throughout: no warp to rescale */
    const double scale = (double)(len - 1) / tau;
    memcpy(scratch, x, sizeof(float) * (size_t)len);
    tau = 0;
    prev = speed(xk, y, m, knots, 0);
    for (int64_t t = 1; t < len; t++) {
        double v = speed(xk, y, m, knots, t);
        tau += (prev + v) / 2;
        prev = v;
        x[t] = interp(scratch, len, tau * scale);
    }
}

void dy_series_permute(float *x, int channels, int64_t len, const int64_t *bounds, const int *order, int segments,
                       float *scratch) {
    for (int c = 0; c < channels; c++) {
        float *ch = x + (int64_t)c * len;
        memcpy(scratch, ch, sizeof(float) * (size_t)len);
        int64_t at = 0;
        for (int k = 0; k < segments; k++) {
            const int64_t a = bounds[order[k]], b = bounds[order[k] + 1];
            memcpy(ch + at, scratch + a, sizeof(float) * (size_t)(b - a));
            at += b - a;
        }
    }
}

int dy_series_permute_draw(dy_rng *r, int64_t len, int max_segments, int64_t *bounds, int *order) {
    int n = 1 + (int)dy_rng_below(r, (uint64_t)max_segments);
    if (n > len) n = (int)len;
    bounds[0] = 0;
    bounds[n] = len;
    for (int k = 1; k < n; k++) {
        bool fresh;
        do { /* distinct cut points: redraw a repeat (n - 1 <= 31 of len - 1 places) */
            bounds[k] = 1 + (int64_t)dy_rng_below(r, (uint64_t)(len - 1));
            fresh = true;
            for (int j = 1; j < k; j++) fresh &= bounds[j] != bounds[k];
        } while (!fresh);
    }
    for (int k = 2; k < n; k++) /* insertion sort of the cuts */
        for (int j = k; j > 1 && bounds[j - 1] > bounds[j]; j--) {
            int64_t t = bounds[j];
            bounds[j] = bounds[j - 1];
            bounds[j - 1] = t;
        }
    for (int k = 0; k < n; k++) order[k] = k;
    for (int k = n - 1; k > 0; k--) { /* Fisher-Yates */
        int j = (int)dy_rng_below(r, (uint64_t)k + 1);
        int t = order[k];
        order[k] = order[j];
        order[j] = t;
    }
    return n;
}
