/* One augmented view of a signal: the steps of include/dystress/signal_augment.h in their order, each drawing its gate
 * and then its parameters (and its noise) from the view's own Philox stream as it runs. */
#include <math.h>
#include <stdlib.h>

#include "core/context.h"
#include "data/augment/signal_aug.h"

enum { SIGNAL_MAX_CHANNELS = 1 << 16 };

static bool gate(dy_rng *r, float p) { return dy_rng_uniform(r) < p; }

int64_t dy_signal_augment_length(const dy_signal_augment *a, int64_t length) {
    return a && a->crop_length > 0 ? a->crop_length : length;
}

/* The warps: per channel, knots ~ N(1, sigma^2) drawn channel by channel. */
static void warp_channels(dy_rng *r, float *x, int channels, int64_t len, float sigma, int interior, bool time,
                          float *scratch) {
    double y[DY_SIGNAL_MAX_KNOTS + 2];
    const int knots = interior + 2;
    for (int c = 0; c < channels; c++) {
        for (int k = 0; k < knots; k++) y[k] = 1.0 + sigma * dy_rng_normal(r);
        float *ch = x + (int64_t)c * len;
        if (time) dy_series_time_warp(ch, len, y, knots, scratch);
        else dy_series_magnitude_warp(ch, len, y, knots);
    }
}

/* The steps that move samples in time: mixing, shift, permutation, time warp. */
static void time_steps(const dy_signal_augment *a, dy_rng *r, float *x, int channels, int64_t len, const float *other,
                       int64_t other_len, float *scratch) {
    if (gate(r, a->mix_p)) {
        double w = dy_rng_range(r, a->mix_weight[0], a->mix_weight[1]);
        int64_t start = dy_signal_crop_start(r, other_len, len, a->crop_center);
        if (other) {
            dy_signal_crop(scratch, len, other, channels, other_len, start);
            dy_signal_mix(x, scratch, (int64_t)channels * len, w);
        }
    }
    if (gate(r, a->shift_p)) {
        int64_t most = (int64_t)floor((double)a->shift_max * (double)len);
        int64_t s = -most + (int64_t)dy_rng_below(r, (uint64_t)(2 * most + 1));
        dy_signal_shift(x, channels, len, s, scratch);
    }
    if (gate(r, a->permute_p)) {
        int64_t bounds[DY_SIGNAL_MAX_SEGMENTS + 1];
        int order[DY_SIGNAL_MAX_SEGMENTS];
        int n = dy_series_permute_draw(r, len, a->permute_segments, bounds, order);
        dy_series_permute(x, channels, len, bounds, order, n, scratch);
    }
    if (gate(r, a->time_warp_p))
        warp_channels(r, x, channels, len, a->time_warp_sigma, a->time_warp_knots, true, scratch);
}

/* The steps that change magnitudes: magnitude warp, scaling, gain, jitter, noise. */
static void magnitude_steps(const dy_signal_augment *a, dy_rng *r, float *x, int channels, int64_t len) {
    const int64_t n = (int64_t)channels * len;
    if (gate(r, a->magnitude_warp_p))
        warp_channels(r, x, channels, len, a->magnitude_warp_sigma, a->magnitude_warp_knots, false, NULL);
    if (gate(r, a->scaling_p))
        for (int c = 0; c < channels; c++) {
            double f = 1.0 + a->scaling_sigma * dy_rng_normal(r);
            dy_series_scale(x + (int64_t)c * len, 1, len, &f);
        }
    if (gate(r, a->gain_p)) dy_signal_gain(x, n, dy_rng_range(r, a->gain_db[0], a->gain_db[1]));
    if (gate(r, a->jitter_p)) dy_series_jitter(x, n, a->jitter_sigma, r);
    if (gate(r, a->noise_p)) dy_signal_add_noise(x, n, dy_rng_range(r, a->noise_snr_db[0], a->noise_snr_db[1]), r);
}

void dy_signal_augment_apply(const dy_signal_augment *a, dy_rng *r, const float *src, int channels, int64_t len,
                             const float *other, int64_t other_len, float *dst, float *scratch) {
    const int64_t out_len = dy_signal_augment_length(a, len);
    const int64_t start = a->crop_length > 0 ? dy_signal_crop_start(r, len, out_len, a->crop_center) : 0;
    dy_signal_crop(dst, out_len, src, channels, len, start);
    time_steps(a, r, dst, channels, out_len, other, other_len, scratch);
    magnitude_steps(a, r, dst, channels, out_len);
}

/* The stream's name (epoch, sample * 8 + view) must fit its two 32-bit words, as the images' (dy_augment_view). */
static dy_status check_stream(dy_ctx *ctx, const char *what, int64_t epoch, int64_t sample, int view) {
    if (view < 0 || view >= 8 || sample < 0 || sample >= (INT64_C(1) << 29) || epoch < 0 || epoch > UINT32_MAX)
        return dy_fail(ctx, DY_ERR_INVALID, "%s: view %d / sample %lld / epoch %lld out of range", what, view,
                       (long long)sample, (long long)epoch);
    return DY_OK;
}

dy_status dy_signal_augment_view(dy_ctx *ctx, const dy_signal_augment *a, const float *src, int channels,
                                 int64_t length, const float *other, int64_t other_length, float *dst, uint64_t seed,
                                 int64_t epoch, int64_t sample, int view) {
    if (!a || !src || !dst) return dy_fail(ctx, DY_ERR_INVALID, "dy_signal_augment_view: NULL argument");
    DY_TRY(dy_signal_augment_check(ctx, a));
    DY_TRY(check_stream(ctx, "dy_signal_augment_view", epoch, sample, view));
    if (channels < 1 || channels > SIGNAL_MAX_CHANNELS || length < 1 || (other && other_length < 1))
        return dy_fail(ctx, DY_ERR_INVALID, "dy_signal_augment_view: item [%d, %lld] (other %lld samples): need 1 .. "
                       "65536 channels and at least one sample", channels, (long long)length, (long long)other_length);
    const int64_t out_len = dy_signal_augment_length(a, length);
    float *scratch = malloc(sizeof(float) * (size_t)channels * (size_t)out_len);
    if (!scratch) return dy_fail(ctx, DY_ERR_NOMEM, "dy_signal_augment_view: out of memory");
    dy_rng r;
    dy_rng_init(&r, seed, DY_RNG_AUGMENT, (uint32_t)epoch, (uint32_t)(sample * 8 + view));
    dy_signal_augment_apply(a, &r, src, channels, length, other, other ? other_length : 0, dst, scratch);
    free(scratch);
    return DY_OK;
}

dy_status dy_spec_augment_view(dy_ctx *ctx, const dy_signal_augment *a, float *spec, int channels, int mels,
                               int frames, uint64_t seed, int64_t epoch, int64_t sample, int view) {
    if (!a || !spec) return dy_fail(ctx, DY_ERR_INVALID, "dy_spec_augment_view: NULL argument");
    DY_TRY(dy_signal_augment_check(ctx, a));
    DY_TRY(check_stream(ctx, "dy_spec_augment_view", epoch, sample, view));
    if (channels < 1 || channels > DY_SPEC_MAX_CHANNELS || mels < 1 || frames < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "dy_spec_augment_view: spectrogram [%d, %d, %d]: need 1 .. 64 channels "
                       "and at least one mel bin and frame", channels, mels, frames);
    dy_rng r;
    dy_rng_init(&r, seed, DY_RNG_SPECAUGMENT, (uint32_t)epoch, (uint32_t)(sample * 8 + view));
    dy_spec_augment_apply(a, &r, spec, channels, mels, frames);
    return DY_OK;
}
