/* dystress — augmentations of signals (include/dystress/signal.h): audio waveforms, their spectrograms, and time
 * series. Included by signal.h (so by dystress.h).
 *
 * One dy_signal_augment describes the pipeline applied to every view of an item [channels, length], in this order
 * (each step with probability p fires when a uniform u drawn for it is below p, as the image pipeline's gates; its
 * gate is drawn whether or not it fires):
 *   crop to crop_length (random, or centred; an item shorter than crop_length is zero-padded around it)
 *   -> mix with another clip at a low weight -> circular time shift -> permutation of segments -> time warp
 *   -> magnitude warp -> scaling -> gain -> jitter -> additive noise at a random SNR.
 * The definitions (Um et al. 2017, "Data augmentation of wearable sensor data for Parkinson's disease monitoring
 * using convolutional neural networks"; Iwana and Uchida 2021, "An empirical survey of data augmentation for time
 * series classification with neural networks"), with x the item, L its length, C its channels:
 *   crop        y[c][j] = x[c][s + j] (0 outside x), s ~ U{min(0, T - L) .. max(0, T - L)} for an item of length T
 *               (a longer item is cut at a random place, a shorter one lands at a random place among zeros); with
 *               crop_center s = (T - L) / 2 rounded towards minus infinity;
 *   mix         y = (1 - w) x + w z, w ~ U[mix_weight], z the other clip cropped to L as above (its own start);
 *   shift       y[c][t] = x[c][(t - s) mod L], s ~ U{-S .. S}, S = floor(shift_max * L) (circular: nothing lost);
 *   permute     n ~ U{1 .. permute_segments} segments (at most L) cut at n - 1 distinct points ~ U{1 .. L - 1},
 *               concatenated in a random order (Fisher-Yates), the same cut and order on every channel;
 *   time warp   per channel, a speed curve v = the cubic spline (not-a-knot) through K + 2 knots at
 *               linspace(0, L - 1, K + 2) with values ~ N(1, sigma^2), clamped at 0; warped times tau(0) = 0,
 *               tau(t) = tau(t - 1) + (v(t - 1) + v(t)) / 2, rescaled so that tau(L - 1) = L - 1; y[t] = x at tau(t)
 *               by linear interpolation (Um et al.'s cumulative warp; knots all 1 is the identity);
 *   magnitude   per channel, y[t] = x[t] * S(t), S the spline through K + 2 knots ~ N(1, sigma^2) as above;
 *   scaling     per channel, y = a_c x, a_c ~ N(1, sigma^2);
 *   gain        y = 10^(g / 20) x, g ~ U[gain_db] (decibels of amplitude);
 *   jitter      y = x + e, e ~ N(0, sigma^2) per sample;
 *   noise       y = x + e, e ~ N(0, P / 10^(snr / 10)) per sample, snr ~ U[noise_snr_db], P the mean of x^2 over
 *               the view's channels and samples (a silent view stays silent).
 * Warps need L >= 2 (shorter views pass unchanged).
 *
 * Spectrograms (SpecAugment, Park et al. 2019), applied by dy_spec_augment_view to [channels, mels, frames] (the
 * log-mel front end's output), the same masks on every channel: freq_masks times, a band of f ~ U{0 .. F} mel bins
 * from f0 ~ U{0 .. mels - f}; then time_masks times, t ~ U{0 .. min(T, floor(time_mask_max * frames))} frames from
 * t0 ~ U{0 .. frames - t}. Masked cells become the channel's mean over the whole spectrogram before masking
 * (mask_mean; Park et al. mask with the mean, zero on their normalised features) or 0.
 *
 * Randomness: a view's waveform steps draw from the Philox stream (seed, DY_RNG_AUGMENT, epoch, sample * 8 + view),
 * the images' naming; its spectrogram masks from (seed, DY_RNG_SPECAUGMENT, epoch, sample * 8 + view)
 * (src/core/rng.h). A view depends on nothing else: any thread count gives the same bits.
 */
#ifndef DYSTRESS_SIGNAL_AUGMENT_H
#define DYSTRESS_SIGNAL_AUGMENT_H

#include "signal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t crop_length;        /* > 0: views of crop_length samples per channel; 0: each item's own length */
    bool crop_center;           /* crop (or pad) around the centre instead of at random: evaluation */
    float mix_p, mix_weight[2]; /* mixing: probability, weight range in [0, 1] */
    float shift_p, shift_max;   /* circular shift: probability, largest shift as a fraction of the length */
    float permute_p;
    int permute_segments;       /* most segments (1 .. 32) */
    float time_warp_p, time_warp_sigma;
    int time_warp_knots;        /* K interior knots (1 .. 32) */
    float magnitude_warp_p, magnitude_warp_sigma;
    int magnitude_warp_knots;   /* K interior knots (1 .. 32) */
    float scaling_p, scaling_sigma;
    float gain_p, gain_db[2];
    float jitter_p, jitter_sigma;
    float noise_p, noise_snr_db[2];
    /* spectrograms */
    int freq_masks, freq_width;  /* m_F, F */
    int time_masks, time_width;  /* m_T, T */
    float time_mask_max;         /* p: a time mask spans at most p * frames */
    bool mask_mean;              /* masked cells: the channel's mean (true) or 0 */
} dy_signal_augment;

/* Presets by name, for the set s (NULL: a 16 kHz audio set or a series set as the name says):
 *  "audio"  — 1-second crops (crop_length = the set's sample rate, 16000 without one), mixing p 0.5 with weight
 *             U[0, 0.2], shift p 0.5 up to 0.1 of the length, gain p 0.8 in U[-6, 6] dB, noise p 0.5 at SNR
 *             U[10, 30] dB; SpecAugment 2 frequency masks of F = 8 mel bins and 2 time masks of T = 10 frames,
 *             time_mask_max 1, masked to the mean. Nothing of the time-series steps.
 *  "series" — Iwana and Uchida's parameters, each step with p 0.5: jitter sigma 0.03, scaling sigma 0.1, magnitude
 *             warp sigma 0.2 with 4 knots, time warp sigma 0.2 with 4 knots, permutation of up to 5 segments; the
 *             item's own length, no audio steps, no masks.
 *  "eval"   — nothing random: for an audio set (or s NULL) centred 1-second crops as "audio", for a series set the
 *             items unchanged. */
DY_API dy_status dy_signal_augment_preset(dy_ctx *ctx, dy_signal_augment *out, const char *preset,
                                          const dy_signal_set *s);
/* Overrides one parameter by its field's name ("gain_db" "-6,6" or "3" for both ends, "crop_center" 0 or 1, ...);
 * checks the ranges (dy_signal_augment_check) and leaves *a unchanged on failure. */
DY_API dy_status dy_signal_augment_set(dy_ctx *ctx, dy_signal_augment *a, const char *name, const char *value);
/* Probabilities in [0, 1], ranges lo <= hi, sigmas >= 0, knots and segments in 1 .. 32, masks 0 .. 16, widths
 * >= 0, shift_max, mix_weight and time_mask_max in [0, 1], crop_length in 0 .. 2^31, everything finite. */
DY_API dy_status dy_signal_augment_check(dy_ctx *ctx, const dy_signal_augment *a);
/* Samples per channel of a view of an item of length samples. */
DY_API int64_t dy_signal_augment_length(const dy_signal_augment *a, int64_t length);
/* One view of one item: src [channels, length] -> dst [channels, dy_signal_augment_length(a, length)]. other
 * [channels, other_length] is the clip to mix in (another item of the batch, chosen by the caller); NULL turns
 * mixing off for this view (its gate is still drawn). Allocates a scratch of channels x the view's length. */
DY_API dy_status dy_signal_augment_view(dy_ctx *ctx, const dy_signal_augment *a, const float *src, int channels,
                                        int64_t length, const float *other, int64_t other_length, float *dst,
                                        uint64_t seed, int64_t epoch, int64_t sample, int view);
/* SpecAugment in place on spec [channels, mels, frames]. */
DY_API dy_status dy_spec_augment_view(dy_ctx *ctx, const dy_signal_augment *a, float *spec, int channels, int mels,
                                      int frames, uint64_t seed, int64_t epoch, int64_t sample, int view);

#ifdef __cplusplus
}
#endif
#endif
