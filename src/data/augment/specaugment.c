/* SpecAugment's frequency and time masking (Park et al. 2019) on spectrograms [channels, mels, frames]; time warping
 * of the spectrogram (their W) is left out: the waveform steps warp time already. */
#include <math.h>

#include "data/augment/signal_aug.h"

void dy_spec_mask_freq(float *spec, int channels, int mels, int frames, int f0, int f, const float *value) {
    for (int c = 0; c < channels; c++)
        for (int m = f0; m < f0 + f && m < mels; m++) {
            float *row = spec + ((int64_t)c * mels + m) * frames;
            for (int t = 0; t < frames; t++) row[t] = value[c];
        }
}

void dy_spec_mask_time(float *spec, int channels, int mels, int frames, int t0, int t, const float *value) {
    for (int c = 0; c < channels; c++)
        for (int m = 0; m < mels; m++) {
            float *row = spec + ((int64_t)c * mels + m) * frames;
            for (int k = t0; k < t0 + t && k < frames; k++) row[k] = value[c];
        }
}

void dy_spec_augment_apply(const dy_signal_augment *a, dy_rng *r, float *spec, int channels, int mels, int frames) {
    float value[DY_SPEC_MAX_CHANNELS] = {0};
    const int64_t plane = (int64_t)mels * frames;
    for (int c = 0; c < channels && c < DY_SPEC_MAX_CHANNELS && a->mask_mean; c++) {
        double s = 0;
        for (int64_t i = 0; i < plane; i++) s += spec[c * plane + i];
        value[c] = (float)(s / (double)plane);
    }
    const int fmax = a->freq_width < mels ? a->freq_width : mels;
    for (int k = 0; k < a->freq_masks; k++) {
        int f = (int)dy_rng_below(r, (uint64_t)fmax + 1);
        int f0 = (int)dy_rng_below(r, (uint64_t)(mels - f) + 1);
        dy_spec_mask_freq(spec, channels, mels, frames, f0, f, value);
    }
    int tmax = (int)floor((double)a->time_mask_max * frames);
    if (a->time_width < tmax) tmax = a->time_width;
    for (int k = 0; k < a->time_masks; k++) {
        int t = (int)dy_rng_below(r, (uint64_t)tmax + 1);
        int t0 = (int)dy_rng_below(r, (uint64_t)(frames - t) + 1);
        dy_spec_mask_time(spec, channels, mels, frames, t0, t, value);
    }
}
