/* The time-series readers' shared pieces: allocation, labels (integers or class names), skipped items. */
#include "data/series/series.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npy.h"
#include "io/read_file.h"

dy_series_options dy_series_defaults(void) {
    dy_series_options o = {.channels = 1, .label_first = false, .skip_bad = false, .max_bytes = 0};
    return o;
}

uint64_t dy_series_max_bytes(const dy_series_options *opts) {
    return opts && opts->max_bytes > 0 ? opts->max_bytes : (UINT64_C(1) << 32);
}

dy_signal_set *dy_series_alloc(int64_t count, int channels, int64_t length) {
    if (count < 1 || channels < 1 || length < 1) return NULL;
    int64_t per = (int64_t)channels * length;
    if (length > INT64_MAX / channels || per > INT64_MAX / count / (int64_t)sizeof(float)) return NULL;
    dy_signal_set *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->kind = DY_SIGNAL_SERIES;
    s->channels = channels;
    s->offsets = malloc(sizeof(int64_t) * (size_t)(count + 1));
    s->samples = malloc(sizeof(float) * (size_t)(count * per));
    s->labels = malloc(sizeof(int32_t) * (size_t)count);
    if (!s->offsets || !s->samples || !s->labels) {
        dy_signal_set_free(s);
        return NULL;
    }
    for (int64_t i = 0; i <= count; i++) s->offsets[i] = i * per;
    for (int64_t i = 0; i < count; i++) s->labels[i] = -1;
    return s;
}

void dy_series_labels_free(dy_series_labels *l) {
    if (!l) return;
    free(l->labels);
    for (int i = 0; l->names && i < l->num_classes; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

/* A whole field as a decimal integer. */
static bool parse_int(const char *f, long long *v) {
    char *end;
    errno = 0;
    *v = strtoll(f, &end, 10);
    return end != f && *end == '\0' && errno == 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static dy_status labels_from_names(dy_ctx *ctx, dy_series_labels *out, char *const *fields, int64_t n,
                                   const char *what) {
    char **sorted = malloc(sizeof(char *) * (size_t)n + 1);
    if (!sorted) return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for labels", what);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (fields[i][0]) sorted[m++] = fields[i];
    qsort(sorted, (size_t)m, sizeof(char *), cmp_str);
    int64_t k = 0;
    for (int64_t i = 0; i < m; i++)
        if (k == 0 || strcmp(sorted[k - 1], sorted[i]) != 0) sorted[k++] = sorted[i];
    dy_status st = DY_OK;
    if (k > DY_SERIES_MAX_CLASSES) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: %lld distinct class names, more than %d", what, (long long)k,
                     DY_SERIES_MAX_CLASSES);
        goto done;
    }
    out->names = calloc((size_t)k + 1, sizeof(char *));
    if (!out->names) goto nomem;
    out->num_classes = (int)k;
    for (int64_t c = 0; c < k; c++)
        if (!(out->names[c] = strdup(sorted[c]))) goto nomem;
    for (int64_t i = 0; i < n; i++) {
        if (!fields[i][0]) continue;
        const char *key = fields[i];
        char **hit = bsearch(&key, sorted, (size_t)k, sizeof(char *), cmp_str);
        out->labels[i] = (int32_t)(hit - sorted);
    }
    goto done;
nomem:
    st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for class names", what);
done:
    free(sorted);
    return st;
}

dy_status dy_series_labels_from_text(dy_ctx *ctx, dy_series_labels *out, char *const *fields, int64_t n,
                                     const int64_t *lines, const char *what) {
    memset(out, 0, sizeof *out);
    out->labels = malloc(sizeof(int32_t) * (size_t)n + 1);
    if (!out->labels) return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for labels", what);
    for (int64_t i = 0; i < n; i++) out->labels[i] = -1;
    bool integers = true;
    long long v;
    for (int64_t i = 0; i < n && integers; i++)
        if (fields[i][0] && !parse_int(fields[i], &v)) integers = false;
    dy_status st = DY_OK;
    if (!integers) {
        st = labels_from_names(ctx, out, fields, n, what);
    } else {
        int64_t top = -1;
        for (int64_t i = 0; i < n && st == DY_OK; i++) {
            if (!fields[i][0]) continue;
            parse_int(fields[i], &v);
            if (v < -1 || v >= DY_SERIES_MAX_CLASSES)
                st = dy_fail(ctx, DY_ERR_FORMAT, "%s: line %lld: label %lld is outside -1 .. %d", what,
                             (long long)(lines ? lines[i] : i + 1), v, DY_SERIES_MAX_CLASSES - 1);
            out->labels[i] = (int32_t)v;
            if (v > top) top = v;
        }
        out->num_classes = (int)(top + 1);
    }
    if (st != DY_OK) dy_series_labels_free(out);
    return st;
}

char *dy_series_trim(char *p) {
    while (*p == ' ' || *p == '\t') p++;
    size_t len = strlen(p);
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r')) p[--len] = '\0';
    return p;
}

static bool ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcasecmp(s + a - b, tail) == 0;
}

static dy_status labels_from_npy(dy_ctx *ctx, dy_series_labels *out, const char *path, int64_t n,
                                 uint64_t max_bytes) {
    dy_npy_array a;
    DY_TRY(dy_npy_read_array(ctx, path, &a, max_bytes));
    dy_status st = DY_OK;
    int64_t top = -1;
    if (!dy_npy_is_integer(&a) || a.ndim != 1) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "series labels %s: expected an integer vector [%lld], found a %d-d %s array",
                     path, (long long)n, a.ndim, dy_npy_is_integer(&a) ? "integer" : "float");
        goto done;
    }
    if (a.shape[0] != n) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "series labels %s: %lld labels for %lld items", path, (long long)a.shape[0],
                     (long long)n);
        goto done;
    }
    if (!(out->labels = malloc(sizeof(int32_t) * (size_t)n + 1))) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "series labels %s: out of memory", path);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = dy_npy_value(&a, i);
        if (v < -1 || v >= DY_SERIES_MAX_CLASSES) {
            st = dy_fail(ctx, DY_ERR_FORMAT, "series labels %s: label %.0f of item %lld is outside -1 .. %d", path, v,
                         (long long)i, DY_SERIES_MAX_CLASSES - 1);
            goto done;
        }
        out->labels[i] = (int32_t)v;
        if (v > top) top = (int64_t)v;
    }
    out->num_classes = (int)(top + 1);
done:
    dy_npy_array_free(&a);
    if (st != DY_OK) dy_series_labels_free(out);
    return st;
}

dy_status dy_series_split_lines(dy_ctx *ctx, char *buf, size_t size, char ***lines, int64_t *count, const char *what) {
    int64_t n = 0;
    for (size_t i = 0; i < size; i++) n += buf[i] == '\n';
    if (size > 0 && buf[size - 1] != '\n') n++;
    *lines = malloc(sizeof(char *) * (size_t)n + 1);
    if (!*lines) return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", what);
    char *p = buf;
    for (int64_t k = 0; k < n; k++) {
        char *e = strchr(p, '\n');
        char *next = e ? e + 1 : p + strlen(p);
        if (e) *e = '\0';
        (*lines)[k] = dy_series_trim(p);
        p = next;
    }
    *count = n;
    return DY_OK;
}

dy_status dy_series_labels_read(dy_ctx *ctx, dy_series_labels *out, const char *path, int64_t n, uint64_t max_bytes) {
    memset(out, 0, sizeof *out);
    if (ends_with(path, ".npy")) return labels_from_npy(ctx, out, path, n, max_bytes);
    uint8_t *buf = NULL;
    size_t size = 0;
    char **lines = NULL;
    int64_t count = 0;
    dy_status st;
    if ((st = dy_read_file(ctx, path, &buf, &size, (size_t)max_bytes)) != DY_OK) goto done;
    if (memchr(buf, '\0', size)) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "series labels %s: a NUL byte in a text file", path);
        goto done;
    }
    if ((st = dy_series_split_lines(ctx, (char *)buf, size, &lines, &count, path)) != DY_OK) goto done;
    if (count != n) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "series labels %s: %lld lines for %lld items (one label a line)", path,
                     (long long)count, (long long)n);
        goto done;
    }
    st = dy_series_labels_from_text(ctx, out, lines, n, NULL, path);
done:
    free(lines);
    free(buf);
    return st;
}

dy_status dy_series_set_classes(dy_ctx *ctx, dy_signal_set *s, dy_series_labels *l) {
    int k = l ? l->num_classes : 0;
    s->class_counts = calloc((size_t)k + 1, sizeof(int64_t));
    s->class_names = calloc((size_t)k + 1, sizeof(char *));
    if (!s->class_counts || !s->class_names) return dy_fail(ctx, DY_ERR_NOMEM, "series: out of memory for classes");
    s->num_classes = k;
    for (int c = 0; c < k; c++) {
        if (l->names) {
            s->class_names[c] = l->names[c];
            l->names[c] = NULL;
        } else {
            char num[16];
            snprintf(num, sizeof num, "%d", c);
            s->class_names[c] = strdup(num);
        }
        if (!s->class_names[c]) return dy_fail(ctx, DY_ERR_NOMEM, "series: out of memory for class names");
    }
    for (int64_t i = 0; i < s->count; i++)
        if (s->labels[i] >= 0) s->class_counts[s->labels[i]]++;
    return DY_OK;
}

int64_t dy_series_first_nonfinite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

dy_status dy_series_skip(dy_ctx *ctx, dy_signal_set *s, const char *fmt, ...) {
    char **grown = realloc(s->skipped_files, sizeof(char *) * (size_t)(s->skipped + 1));
    if (!grown) return dy_fail(ctx, DY_ERR_NOMEM, "series: out of memory for the skipped list");
    s->skipped_files = grown;
    char name[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (!(grown[s->skipped] = strdup(name))) return dy_fail(ctx, DY_ERR_NOMEM, "series: out of memory");
    s->skipped++;
    return DY_OK;
}
