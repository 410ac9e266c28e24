/* What the time-series readers (series_npy.c, series_csv.c) share: the set's allocation, labels from integers or
 * text, the check for values that are not finite, and the list of skipped items. */
#ifndef DY_DATA_SERIES_H
#define DY_DATA_SERIES_H

#include "core/context.h"
#include "dystress/signal.h"

enum { DY_SERIES_MAX_CLASSES = 1 << 16 };

/* A DY_SIGNAL_SERIES set with room for count items of [channels, length] (malloc'ed, as dy_signal_set_free frees),
 * ->count 0 (the reader raises it as it keeps items); NULL when out of memory or the size overflows. */
dy_signal_set *dy_series_alloc(int64_t count, int channels, int64_t length);

/* Labels of n items before any is skipped: -1 or 0 .. num_classes - 1. */
typedef struct {
    int32_t *labels;   /* [n] */
    int num_classes;
    char **names;      /* [num_classes] */
} dy_series_labels;
/* From text fields (a labels file's lines, a CSV column), already trimmed; "" is -1. Integers when every non-empty
 * field is one (-1 .. DY_SERIES_MAX_CLASSES - 1), else class names (the sorted distinct fields). Errors name what
 * and the line: lines[i] when lines is not NULL, else i + 1. */
dy_status dy_series_labels_from_text(dy_ctx *ctx, dy_series_labels *out, char *const *fields, int64_t n,
                                     const int64_t *lines, const char *what);
/* From a labels file of exactly n labels: an integer .npy vector (by the name's ".npy" ending) or a text file of one
 * label a line. */
dy_status dy_series_labels_read(dy_ctx *ctx, dy_series_labels *out, const char *path, int64_t n, uint64_t max_bytes);
void dy_series_labels_free(dy_series_labels *l);
/* Gives s the classes of l (its names move to s) and counts them over s's kept labels; l NULL: unlabelled. */
dy_status dy_series_set_classes(dy_ctx *ctx, dy_signal_set *s, dy_series_labels *l);

/* Splits buf[size] (NUL-terminated, modified) into its lines, each trimmed (dy_series_trim); a final newline ends
 * the last line. *lines (malloc'ed) points into buf. what names the file in errors. */
dy_status dy_series_split_lines(dy_ctx *ctx, char *buf, size_t size, char ***lines, int64_t *count, const char *what);
/* p without its leading spaces and tabs and its trailing spaces, tabs and '\r' (cut in place). */
char *dy_series_trim(char *p);

/* Index of the first value of x[n] that is not finite, or -1. */
int64_t dy_series_first_nonfinite(const float *x, int64_t n);
/* Appends a skipped item's name (printf format) to s->skipped_files. */
dy_status dy_series_skip(dy_ctx *ctx, dy_signal_set *s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The byte limit of opts (4 GiB when 0). */
uint64_t dy_series_max_bytes(const dy_series_options *opts);

#endif
