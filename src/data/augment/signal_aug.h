/* The deterministic cores of the signal augmentations (definitions in include/dystress/signal_augment.h), each on
 * one item's samples x [channels, length] (channel-major), and the random pipeline that draws their parameters. */
#ifndef DY_DATA_SIGNAL_AUG_H
#define DY_DATA_SIGNAL_AUG_H

#include "core/rng.h"
#include "dystress/signal_augment.h"

enum { DY_SIGNAL_MAX_KNOTS = 32, DY_SIGNAL_MAX_SEGMENTS = 32, DY_SPEC_MAX_CHANNELS = 64 };

/* ---- waveforms (waveform.c) ---- */
/* dst[c][j] = src[c][start + j] for j < out_len, 0 where start + j falls outside [0, len). */
void dy_signal_crop(float *dst, int64_t out_len, const float *src, int channels, int64_t len, int64_t start);
/* The crop's start for an item of len samples cut to out_len: uniform in [min(0, len - out_len), max(0, ...)], or
 * floor((len - out_len) / 2) when center (nothing drawn). */
int64_t dy_signal_crop_start(dy_rng *r, int64_t len, int64_t out_len, bool center);
/* x *= 10^(db / 20). */
void dy_signal_gain(float *x, int64_t n, double db);
/* Mean of x^2 (double accumulation); 0 for n = 0. */
double dy_signal_power(const float *x, int64_t n);
/* x += N(0, power(x) / 10^(snr_db / 10)) per sample, drawn from r in order; nothing (and nothing drawn) when x is
 * silent. */
void dy_signal_add_noise(float *x, int64_t n, double snr_db, dy_rng *r);
/* x = (1 - w) x + w other. */
void dy_signal_mix(float *x, const float *other, int64_t n, double w);
/* Circular: x[c][t] <- x[c][(t - shift) mod len]; scratch: len floats. */
void dy_signal_shift(float *x, int channels, int64_t len, int64_t shift, float *scratch);

/* ---- spectrograms (specaugment.c) ---- */
/* spec [channels, mels, frames]: bins [f0, f0 + f) of every frame, or frames [t0, t0 + t) of every bin, set to
 * value[c] on channel c. */
void dy_spec_mask_freq(float *spec, int channels, int mels, int frames, int f0, int f, const float *value);
void dy_spec_mask_time(float *spec, int channels, int mels, int frames, int t0, int t, const float *value);
/* The whole SpecAugment step of a (draws from r). */
void dy_spec_augment_apply(const dy_signal_augment *a, dy_rng *r, float *spec, int channels, int mels, int frames);

/* ---- cubic splines (spline.c) ---- */
/* The not-a-knot cubic spline through (xk[i], yk[i]), i < n, xk increasing, 2 <= n <= DY_SIGNAL_MAX_KNOTS + 2 (n = 2:
 * the line; n = 3: the parabola, as scipy's CubicSpline): its second derivatives m[n] at the knots. */
void dy_spline_fit(const double *xk, const double *yk, int n, double *m);
/* Its value at x (extrapolated by the end pieces outside [xk[0], xk[n - 1]]). */
double dy_spline_eval(const double *xk, const double *yk, const double *m, int n, double x);

/* ---- time series (series_aug.c) ---- */
void dy_series_jitter(float *x, int64_t n, double sigma, dy_rng *r);
/* x[c][t] *= factor[c]. */
void dy_series_scale(float *x, int channels, int64_t len, const double *factor);
/* One channel x[len]: x[t] *= S(t), S the spline through knots values y[k] at linspace(0, len - 1, knots). */
void dy_series_magnitude_warp(float *x, int64_t len, const double *y, int knots);
/* One channel x[len]: resampled at the warped times of the speed knots y[k] (as above); scratch: len floats. */
void dy_series_time_warp(float *x, int64_t len, const double *y, int knots, float *scratch);
/* Segments [bounds[k], bounds[k + 1]) of the time axis, k < segments (bounds[0] = 0, bounds[segments] = len),
 * written in the order order[0], order[1], ... on every channel; scratch: len floats. */
void dy_series_permute(float *x, int channels, int64_t len, const int64_t *bounds, const int *order, int segments,
                       float *scratch);
/* Draws the permutation's segment count, cut points (sorted, in bounds[0 .. segments]) and order; returns segments. */
int dy_series_permute_draw(dy_rng *r, int64_t len, int max_segments, int64_t *bounds, int *order);

/* ---- the pipeline (signal_pipeline.c) ---- */
/* The whole waveform / series pipeline for one view (draws from r): src [channels, len] -> dst [channels, out_len],
 * out_len = dy_signal_augment_length(a, len); other [channels, other_len] or NULL; scratch: channels * out_len
 * floats. */
void dy_signal_augment_apply(const dy_signal_augment *a, dy_rng *r, const float *src, int channels, int64_t len,
                             const float *other, int64_t other_len, float *dst, float *scratch);

#endif
