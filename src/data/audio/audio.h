/* Inside the audio readers: decoding one file (libsndfile), the RIFF/WAVE header check, the resampler and the real
 * FFT of the log-mel front end. */
#ifndef DY_DATA_AUDIO_AUDIO_H
#define DY_DATA_AUDIO_AUDIO_H

#include "core/context.h"

/* One decoded file: frames x channels samples, interleaved as in the file, scaled to [-1, 1] (float files as
 * stored). */
typedef struct {
    float *samples;  /* [frames * channels], malloc'ed */
    int64_t frames;
    int channels;
    double sample_rate;
} dy_audio_clip;

/* Decodes the file at path. Refused, with path and the problem in the message: what libsndfile cannot open or decode,
 * 0 channels, a sample rate outside 1 .. 1000000 Hz, no samples, more than max_seconds of audio as the file declares
 * it (checked before reading), fewer frames than declared (truncated), a non-finite sample, and (RIFF/WAVE files) a
 * data chunk declaring more bytes than the file holds. */
dy_status dy_audio_decode(dy_ctx *ctx, const char *path, double max_seconds, dy_audio_clip *out);
void dy_audio_clip_free(dy_audio_clip *c);

/* What a RIFF/WAVE file's format chunk declares. */
typedef struct {
    bool is_wave;      /* the file starts RIFF....WAVE */
    bool has_format;   /* a format chunk came before the data chunk */
    unsigned format;   /* its format tag: 1 PCM, 3 IEEE float, 0xFFFE extensible, others compressed */
    unsigned channels;
    uint32_t sample_rate;
} dy_wav_header;

/* Checks a RIFF/WAVE file's chunks up to its data chunk, filling *w. A file that is not RIFF/WAVE gives DY_OK with
 * w->is_wave false. DY_ERR_FORMAT (naming path) for a header broken before its data chunk, a chunk that runs past the
 * end of the file, 0 channels or a sample rate of 0 in the format chunk, and a data chunk that declares more bytes
 * than the file has after it (truncated, or a lying length). */
dy_status dy_wav_check_header(dy_ctx *ctx, const char *path, dy_wav_header *w);

/* The resampler: a Kaiser-windowed sinc (beta 8.6, 32 zero crossings each side of the filter's cutoff), cutoff
 * 0.92 x the lower of the two Nyquist frequencies, each phase's taps normalised to sum 1 (a constant stays exactly
 * constant); samples outside the signal are 0. Output sample j sits at input time j * in_rate / out_rate.
 * Rates are rounded to whole Hz, 1 .. 1000000; down by more than 64x is refused. name goes into the messages. */
typedef struct dy_resampler dy_resampler;
dy_status dy_resampler_create(dy_ctx *ctx, dy_resampler **out, const char *name, double in_rate, double out_rate);
/* Output length for n input samples: ceil(n * out_rate / in_rate) (as torchaudio's resample). */
int64_t dy_resampler_length(const dy_resampler *r, int64_t n);
/* x [n] (stride in_stride between samples, for interleaved input) -> y [dy_resampler_length(r, n)]. */
dy_status dy_resampler_run(dy_ctx *ctx, const dy_resampler *r, const float *x, int64_t n, int64_t in_stride, float *y);
void dy_resampler_free(dy_resampler *r);

/* The real FFT of n points (any n >= 1; mixed radix, in double): X[k] = sum_j x[j] exp(-2 pi i j k / n) for
 * k = 0 .. n / 2, as interleaved (re, im) pairs. */
typedef struct dy_rfft dy_rfft;
dy_rfft *dy_rfft_create(int n); /* NULL when out of memory or n < 1 */
/* Scratch doubles dy_rfft_forward needs (a caller's buffer, so that one plan serves many threads). */
int64_t dy_rfft_scratch(const dy_rfft *f);
/* x [n] -> X [2 (n / 2 + 1)]; scratch [dy_rfft_scratch(f)]. */
void dy_rfft_forward(const dy_rfft *f, const double *x, double *X, double *scratch);
void dy_rfft_free(dy_rfft *f);

/* The log-mel front end's filter bank, [n_mels][n_fft / 2 + 1] (for the tests). */
const double *dy_logmel_filter_bank(const dy_logmel *m);

#endif
