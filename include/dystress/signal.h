/* dystress — signals: audio clips and multichannel time series, the data of the 1-D encoders.
 *
 * A signal set holds count items of channels x length float samples each; items may differ in length (audio clips),
 * and are stored one after another: item i, channel c, sample t is samples[offsets[i] + c * lengths[i] + t] with
 * lengths[i] = (offsets[i + 1] - offsets[i]) / channels. Fixed-length sets (time series read from [N, C, T] arrays)
 * have every length equal. Audio is mono or multichannel PCM scaled to [-1, 1], resampled to sample_rate on load.
 * Labels and class names follow dy_dataset's conventions (-1 where unlabelled); groups name who or what made each item
 * (an audio set's speaker), so a split can keep every group on one side. */
#ifndef DYSTRESS_SIGNAL_H
#define DYSTRESS_SIGNAL_H

#include "dystress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    DY_SIGNAL_AUDIO = 1, /* sound, read from audio files */
    DY_SIGNAL_SERIES = 2 /* time series, read from .npy or CSV */
} dy_signal_kind;

typedef struct {
    dy_signal_kind kind;
    int64_t count;          /* items */
    int channels;           /* every item has the same number */
    double sample_rate;     /* samples per second per channel (audio; 0 for a time series without one) */
    int64_t *offsets;       /* [count + 1]: item i's samples start at offsets[i]; offsets[count] = total samples */
    float *samples;         /* [offsets[count]] */
    int32_t *labels;        /* [count]; -1 where unlabelled */
    int num_classes;        /* 0 when unlabelled */
    char **class_names;     /* [num_classes] */
    int64_t *class_counts;  /* [num_classes] items per class */
    int32_t *groups;        /* [count] or NULL: the item's group (speaker), 0 .. num_groups - 1 */
    int num_groups;
    char **group_names;     /* [num_groups] or NULL */
    int64_t skipped;        /* files that could not be read, in skip mode */
    char **skipped_files;   /* [skipped] their paths (NULL when none) */
} dy_signal_set;

/* Samples per channel of item i. */
static inline int64_t dy_signal_length(const dy_signal_set *s, int64_t i) {
    return (s->offsets[i + 1] - s->offsets[i]) / s->channels;
}
/* Channel c of item i (length dy_signal_length(s, i)). */
static inline float *dy_signal_channel(const dy_signal_set *s, int64_t i, int c) {
    return s->samples + s->offsets[i] + (int64_t)c * dy_signal_length(s, i);
}

/* Frees everything the set owns; NULL is fine. */
DY_API void dy_signal_set_free(dy_signal_set *s);

/* ---------------------------------------------------------------------------------------------------------------
 * Time-series readers (src/data/series). Both give a DY_SIGNAL_SERIES set of fixed-length items, sample_rate 0.
 *
 * Labels. A labels file given as .npy holds an integer vector [N] (int8 .. int64, uint8); a text file one label a
 * line. Integer labels are -1 (unlabelled) or 0 .. K-1 with K = the largest + 1, classes named "0", "1", ...; when
 * any label of a text file or CSV column is not an integer, every label is a class name, classes being the sorted
 * distinct names (as an image folder's sub-folders). An empty CSV label field is -1.
 *
 * NaN and Inf. A value that is not finite (including a float64 beyond float32's range) fails the load naming the
 * file and the item, or with skip_bad skips that item: it is counted in skipped and named in skipped_files as
 * "FILE[item]" (.npy) or "FILE:LINE" (CSV), as are CSV rows that cannot be read (ragged, a field not a number).
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct {
    int channels;       /* CSV: a row's values are channels blocks of length values / channels (default 1); a header
                           naming its value columns c<k>_t<j> sets it instead */
    bool label_first;   /* CSV without a header: the first field of every row is its label (the UCR archive's
                           layout); default false (no labels) */
    bool skip_bad;      /* skip unreadable items (see above) instead of failing; default false */
    uint64_t max_bytes; /* refuse a data file larger than this before reading it; 0 = 4 GiB */
} dy_series_options;
DY_API dy_series_options dy_series_defaults(void);

/* A .npy array float32 or float64 [N, C, T] (or [N, T], read as C = 1), C order, with labels_path (.npy or text, N
 * labels) or NULL (unlabelled). N, C and T must be at least 1. */
DY_API dy_status dy_signal_load_npy(dy_ctx *ctx, dy_signal_set **out, const char *data_path, const char *labels_path,
                                    const dy_series_options *opts);
/* A CSV file, one item a row (docs/USAGE.md, "Time series"): fields separated by commas, blank lines and lines
 * starting with '#' ignored. The first row is a header when one of its fields is not a number: a column named
 * "label" holds the labels, the others are values; value columns named c<k>_t<j> must run c0_t0, c0_t1, ...,
 * c1_t0, ... (channel-major) and set the channels. Every row must hold as many values as the first, a multiple of
 * the channels. Errors name the file and the line. */
DY_API dy_status dy_signal_load_csv(dy_ctx *ctx, dy_signal_set **out, const char *path, const dy_series_options *opts);

/* ---------------------------------------------------------------------------------------------------------------
 * Audio folders (src/data/audio): one sub-folder per class (labelled; classes are the sorted sub-folder names, as
 * image folders) or any tree (unlabelled). Every file whose name ends in .wav, .wave, .flac, .ogg, .oga, .opus,
 * .mp3, .aif, .aiff, .aifc, .au, .snd, .caf, .w64 or .rf64 (any letter case) is decoded by libsndfile, mixed down or
 * kept multichannel, and resampled to one rate with a Kaiser-windowed sinc (src/data/audio/resample.c).
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct {
    double sample_rate;  /* every clip is resampled to this rate, Hz (16000 by default; 1000 .. 384000) */
    int channels;        /* 1: mixed down to mono, the mean of the file's channels (default); 0: kept as the files
                            have them (every file must have as many) */
    double max_seconds;  /* a clip longer than this (as its file declares, before anything is read) is refused:
                            30 by default, at most 3600 */
    bool labelled;       /* true: one sub-folder per class; false: any tree, labels -1 */
    bool skip_bad;       /* false: the first unreadable file fails the load; true: skipped, counted in ->skipped and
                            named in ->skipped_files */
    bool speakers;       /* true (default): groups are speakers named by the files: the file name up to its first
                            '_' ("en-us+m3_0007.wav" -> "en-us+m3"; a name without '_' is its own speaker, up to
                            its extension); numbered in the order of their sorted names. false: groups NULL */
} dy_audio_folder_options;
DY_API dy_audio_folder_options dy_audio_folder_defaults(void);
/* Reads the folder dir into a new signal set *out (kind DY_SIGNAL_AUDIO; free with dy_signal_set_free). A file is
 * refused with an error naming it and the problem: one libsndfile cannot open or decode (wrong header, unknown or
 * compressed encoding it lacks, 0 channels), a WAV whose data chunk declares more bytes than the file holds
 * (truncated), a clip longer than max_seconds or without samples, one whose samples are not finite, one with a
 * sample rate outside 1 .. 1000000 Hz or more than 64 times sample_rate (the resampler's limit), and (channels 0) one
 * with another channel count than the first file's. Files are read in parallel (the context's threads); the set is
 * the same for any thread count. */
DY_API dy_status dy_signal_load_audio_folder(dy_ctx *ctx, const char *dir, const dy_audio_folder_options *opts,
                                             dy_signal_set **out);

/* ---------------------------------------------------------------------------------------------------------------
 * The log-mel spectrogram (src/data/audio/logmel.c), torchaudio.transforms.MelSpectrogram's computation with its
 * defaults followed by a logarithm: STFT with a periodic Hann window of win_length samples centred in n_fft,
 * center=True with reflect padding of n_fft / 2 samples at each end (as torch.stft), the power spectrum |X|^2, a
 * triangular mel filter bank on the HTK mel scale (mel = 2595 log10(1 + f / 700)) without normalisation
 * (norm=None) over [f_min, f_max], then the natural log(mel + log_eps). Computed in double, returned as float.
 * The sizes are the common speech front end's, not torchaudio's (n_mels 128, hop n_fft / 2): 25 ms windows every
 * 10 ms at 16 kHz, 64 mel bands. tools/logmel_ref.py is the reference the tests compare with (1e-5 on log values).
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct {
    double sample_rate; /* Hz, 16000 by default */
    int n_fft;          /* 400 by default (25 ms at 16 kHz); any size from 2 to 65536, a real FFT of mixed radix */
    int win_length;     /* 0: n_fft (default); else 1 .. n_fft */
    int hop;            /* 160 by default (10 ms at 16 kHz) */
    int n_mels;         /* 64 by default */
    double f_min;       /* 0 by default */
    double f_max;       /* 0: sample_rate / 2 (default) */
    double log_eps;     /* added before the log: 1e-6 by default */
} dy_logmel_options;
DY_API dy_logmel_options dy_logmel_defaults(void);

typedef struct dy_logmel dy_logmel;
/* The window, the FFT's plan and the filter bank for o; DY_ERR_INVALID naming a bad option. */
DY_API dy_status dy_logmel_create(dy_ctx *ctx, dy_logmel **out, const dy_logmel_options *o);
/* Frames of a signal of length samples: 1 + (length + 2 (n_fft / 2) - n_fft) / hop. */
DY_API int64_t dy_logmel_frames(const dy_logmel *m, int64_t length);
/* The log-mel spectrogram of x [length] into out [n_mels, frames] (mel band by band, time along each row).
 * length must exceed n_fft / 2 (reflect padding needs it, as torch.stft's). Thread-safe for one m. */
DY_API dy_status dy_logmel_apply(dy_ctx *ctx, const dy_logmel *m, const float *x, int64_t length, float *out);
DY_API void dy_logmel_free(dy_logmel *m);

#ifdef __cplusplus
}
#endif

/* The augmentations of these signals (their declarations use dy_signal_set). */
#include "signal_augment.h"

#endif
