/* Waveform augmentations: crop (or pad) in time, gain, additive noise at a signal-to-noise ratio, mixing with another
 * clip, circular shift. */
#include <math.h>
#include <string.h>

#include "data/augment/signal_aug.h"

void dy_signal_crop(float *dst, int64_t out_len, const float *src, int channels, int64_t len, int64_t start) {
    /* The part of the window that falls inside the source: output j in [lo, hi). */
    int64_t lo = start < 0 ? (-start < out_len ? -start : out_len) : 0;
    int64_t hi = len - start < out_len ? len - start : out_len;
    if (hi < lo) hi = lo;
    for (int c = 0; c < channels; c++) {
        float *d = dst + (int64_t)c * out_len;
        const float *s = src + (int64_t)c * len;
        memset(d, 0, sizeof(float) * (size_t)lo);
        if (hi > lo) memcpy(d + lo, s + start + lo, sizeof(float) * (size_t)(hi - lo));
        memset(d + hi, 0, sizeof(float) * (size_t)(out_len - hi));
    }
}

int64_t dy_signal_crop_start(dy_rng *r, int64_t len, int64_t out_len, bool center) {
    int64_t d = len - out_len;
    if (center) return d >= 0 ? d / 2 : -((-d + 1) / 2); /* floor(d / 2) */
    int64_t lo = d < 0 ? d : 0, hi = d < 0 ? 0 : d;
    return lo + (int64_t)dy_rng_below(r, (uint64_t)(hi - lo + 1));
}

void dy_signal_gain(float *x, int64_t n, double db) {
    const float g = (float)pow(10.0, db / 20.0);
    for (int64_t i = 0; i < n; i++) x[i] *= g;
}

double dy_signal_power(const float *x, int64_t n) {
    if (n <= 0) return 0;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s / (double)n;
}

void dy_signal_add_noise(float *x, int64_t n, double snr_db, dy_rng *r) {
    const double power = dy_signal_power(x, n);
    if (!(power > 0)) return;
    const double sigma = sqrt(power / pow(10.0, snr_db / 10.0));
    for (int64_t i = 0; i < n; i++) x[i] += (float)(sigma * dy_rng_normal(r));
}

void dy_signal_mix(float *x, const float *other, int64_t n, double w) {
    const float a = (float)(1.0 - w), b = (float)w;
    for (int64_t i = 0; i < n; i++) x[i] = a * x[i] + b * other[i];
}

void dy_signal_shift(float *x, int channels, int64_t len, int64_t shift, float *scratch) {
    if (len <= 0) return;
    int64_t s = shift % len;
    if (s < 0) s += len;
    if (s == 0) return;
    for (int c = 0; c < channels; c++) {
        float *ch = x + (int64_t)c * len;
        memcpy(scratch, ch, sizeof(float) * (size_t)len);
        /* out[t] = in[t - s] for t >= s; out[t] = in[t - s + len] for t < s */
        memcpy(ch + s, scratch, sizeof(float) * (size_t)(len - s));
        memcpy(ch, scratch + len - s, sizeof(float) * (size_t)s);
    }
}
