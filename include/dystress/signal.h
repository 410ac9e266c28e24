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

#ifdef __cplusplus
}
#endif
#endif
