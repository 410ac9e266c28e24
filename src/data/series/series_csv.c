/* Time series from a CSV file, one item a row (the layout of include/dystress/signal.h and docs/USAGE.md): an
 * optional header row (a field that is not a number makes it one) naming a "label" column and value columns, or no
 * header with the label first (UCR archive) or absent. Every row holds as many fields as the first; values are
 * channel-major (c0_t0 .. c0_t{T-1}, c1_t0, ...). The file is read whole (at most max_bytes) and cut in place. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/series/series.h"
#include "io/read_file.h"

typedef struct {
    int64_t fields;   /* per row */
    int64_t label;    /* the label's field, or -1 */
    int channels;
    int64_t length;   /* values per channel */
} csv_layout;

static int64_t count_fields(const char *line) {
    int64_t n = 1;
    for (; *line; line++) n += *line == ',';
    return n;
}

/* Cuts line at its commas into n trimmed fields. */
static void split_fields(char *line, char **fields, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        char *comma = strchr(line, ',');
        if (comma) *comma = '\0';
        fields[k] = dy_series_trim(line);
        line = comma ? comma + 1 : line + strlen(line);
    }
}

static bool is_number(const char *f) {
    char *end;
    if (!*f) return false;
    (void)strtod(f, &end);
    return *end == '\0';
}

/* "c<k>_t<j>" -> k, j. */
static bool channel_time_name(const char *f, long long *k, long long *j) {
    char *end;
    if (f[0] != 'c' || f[1] < '0' || f[1] > '9') return false;
    *k = strtoll(f + 1, &end, 10);
    if (end[0] != '_' || end[1] != 't' || end[2] < '0' || end[2] > '9') return false;
    *j = strtoll(end + 2, &end, 10);
    return *end == '\0';
}

/* The layout a header gives: the label column, and the channels from c<k>_t<j> names when the value columns have
 * them (checked to run channel-major), else from opts. */
static dy_status header_layout(dy_ctx *ctx, const char *path, int64_t line, char **names, int64_t n,
                               const dy_series_options *o, csv_layout *lay) {
    lay->fields = n;
    lay->label = -1;
    for (int64_t k = 0; k < n; k++) {
        if (strcasecmp(names[k], "label") != 0) continue;
        if (lay->label >= 0)
            return dy_fail(ctx, DY_ERR_FORMAT, "series %s:%lld: two label columns", path, (long long)line);
        lay->label = k;
    }
    if (o->label_first && lay->label < 0)
        return dy_fail(ctx, DY_ERR_FORMAT, "series %s:%lld: label_first is set but the header names no \"label\" "
                       "column", path, (long long)line);
    const int64_t values = n - (lay->label >= 0);
    long long ch, t, top = -1;
    bool named = false;
    for (int64_t k = 0; k < n && !named; k++)
        if (k != lay->label) named = channel_time_name(names[k], &ch, &t);
    if (named)
        for (int64_t k = 0; k < n; k++)
            if (k != lay->label && channel_time_name(names[k], &ch, &t) && ch > top) top = ch;
    lay->channels = named ? (int)(top < INT32_MAX ? top + 1 : INT32_MAX) : o->channels;
    if (values < 1 || values % lay->channels != 0)
        return dy_fail(ctx, DY_ERR_FORMAT, "series %s:%lld: %lld value columns do not split into %d channels", path,
                       (long long)line, (long long)values, lay->channels);
    lay->length = values / lay->channels;
    for (int64_t k = 0, v = 0; named && k < n; k++) {
        if (k == lay->label) continue;
        if (!channel_time_name(names[k], &ch, &t) || ch != v / lay->length || t != v % lay->length)
            return dy_fail(ctx, DY_ERR_FORMAT, "series %s:%lld: column %lld is \"%s\", expected \"c%lld_t%lld\" "
                           "(value columns run c0_t0, c0_t1, ..., c1_t0, ...)", path, (long long)line,
                           (long long)k + 1, names[k], (long long)(v / lay->length), (long long)(v % lay->length));
        v++;
    }
    return DY_OK;
}

/* Reads one row's n fields into dst and *label; false with the reason in why when a value is missing, not a number
 * or not finite. */
static bool parse_row(char **fields, const csv_layout *lay, float *dst, char **label, char *why, size_t cap) {
    int64_t v = 0;
    for (int64_t k = 0; k < lay->fields; k++) {
        if (k == lay->label) {
            *label = fields[k];
            continue;
        }
        char *end;
        double x = strtod(fields[k], &end);
        if (!fields[k][0] || *end != '\0') {
            snprintf(why, cap, "field %lld \"%.40s\" is not a number", (long long)k + 1, fields[k]);
            return false;
        }
        dst[v] = (float)x;
        if (!isfinite(dst[v])) {
            snprintf(why, cap, "field %lld is %g (not a finite float32)", (long long)k + 1, x);
            return false;
        }
        v++;
    }
    return true;
}

/* Data lines (not empty, not a '#' comment) of lines[0..n), from index from on. */
static int64_t data_lines(char **lines, int64_t n, int64_t from) {
    int64_t rows = 0;
    for (int64_t i = from; i < n; i++) rows += lines[i][0] != '\0' && lines[i][0] != '#';
    return rows;
}

typedef struct {
    char **lines;
    int64_t nlines;
    char **fields;      /* [layout.fields] scratch */
    char **labels;      /* [rows] the kept rows' label fields */
    int64_t *label_at;  /* [rows] their line numbers */
} csv_parse;

/* Reads the rows from line index first on into s (allocated for every row), skipping bad ones when asked. */
static dy_status read_rows(dy_ctx *ctx, const char *path, csv_parse *p, int64_t first, const csv_layout *lay,
                           bool skip_bad, dy_signal_set *s) {
    const int64_t per = (int64_t)lay->channels * lay->length;
    char why[160];
    for (int64_t i = first; i < p->nlines; i++) {
        char *line = p->lines[i];
        if (!line[0] || line[0] == '#') continue;
        int64_t n = count_fields(line);
        char *label = "";
        bool ok = n == lay->fields;
        if (!ok) {
            snprintf(why, sizeof why, "%lld fields, expected %lld as the first row", (long long)n,
                     (long long)lay->fields);
        } else {
            split_fields(line, p->fields, n);
            ok = parse_row(p->fields, lay, s->samples + s->count * per, &label, why, sizeof why);
        }
        if (!ok && !skip_bad)
            return dy_fail(ctx, DY_ERR_FORMAT, "series %s:%lld: %s", path, (long long)i + 1, why);
        if (!ok) {
            DY_TRY(dy_series_skip(ctx, s, "%s:%lld", path, (long long)i + 1));
            continue;
        }
        p->labels[s->count] = label;
        p->label_at[s->count++] = i + 1;
    }
    return DY_OK;
}

/* The layout of the first data line (index *first): a header's, or a headerless row's; *first moves past a header. */
static dy_status first_layout(dy_ctx *ctx, const char *path, csv_parse *p, int64_t *first,
                              const dy_series_options *o, csv_layout *lay) {
    char *line = p->lines[*first];
    int64_t n = count_fields(line);
    char *copy = strdup(line);
    char **f = malloc(sizeof(char *) * (size_t)n);
    dy_status st = DY_OK;
    if (!copy || !f) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "series %s: out of memory", path);
        goto done;
    }
    split_fields(copy, f, n);
    /* A header has a field that is not a number; with label_first, the first field (a label, perhaps a class name)
     * counts only when it reads "label". */
    bool header = o->label_first && strcasecmp(f[0], "label") == 0;
    for (int64_t k = o->label_first ? 1 : 0; k < n; k++) header |= f[k][0] && !is_number(f[k]);
    if (header) {
        st = header_layout(ctx, path, *first + 1, f, n, o, lay);
        (*first)++;
        goto done;
    }
    lay->fields = n;
    lay->label = o->label_first ? 0 : -1;
    lay->channels = o->channels;
    int64_t values = n - (lay->label >= 0);
    if (values < 1 || values % o->channels != 0)
        st = dy_fail(ctx, DY_ERR_FORMAT, "series %s:%lld: %lld values do not split into %d channels", path,
                     (long long)*first + 1, (long long)values, o->channels);
    lay->length = values / o->channels;
done:
    free(f);
    free(copy);
    return st;
}

static dy_status check_options(dy_ctx *ctx, const char *path, const dy_series_options *o) {
    if (o->channels < 1 || o->channels > (1 << 16))
        return dy_fail(ctx, DY_ERR_INVALID, "series %s: channels %d not in 1 .. 65536", path, o->channels);
    return DY_OK;
}

dy_status dy_signal_load_csv(dy_ctx *ctx, dy_signal_set **out, const char *path, const dy_series_options *opts) {
    if (!out || !path) return dy_fail(ctx, DY_ERR_INVALID, "dy_signal_load_csv: NULL argument");
    *out = NULL;
    const dy_series_options o = opts ? *opts : dy_series_defaults();
    uint8_t *buf = NULL;
    size_t size = 0;
    csv_parse p = {0};
    dy_series_labels l = {0};
    dy_signal_set *s = NULL;
    csv_layout lay = {0};
    int64_t first = 0, rows = 0;
    dy_status st;
    if ((st = check_options(ctx, path, &o)) != DY_OK) return st;
    if ((st = dy_read_file(ctx, path, &buf, &size, (size_t)dy_series_max_bytes(&o))) != DY_OK) return st;
    if (memchr(buf, '\0', size)) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "series %s: a NUL byte: not a text file", path);
        goto done;
    }
    if ((st = dy_series_split_lines(ctx, (char *)buf, size, &p.lines, &p.nlines, path)) != DY_OK) goto done;
    while (first < p.nlines && (!p.lines[first][0] || p.lines[first][0] == '#')) first++;
    if (first == p.nlines) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "series %s: no rows", path);
        goto done;
    }
    if ((st = first_layout(ctx, path, &p, &first, &o, &lay)) != DY_OK) goto done;
    rows = data_lines(p.lines, p.nlines, first);
    s = rows > 0 ? dy_series_alloc(rows, lay.channels, lay.length) : NULL;
    p.fields = malloc(sizeof(char *) * (size_t)lay.fields);
    p.labels = malloc(sizeof(char *) * (size_t)rows + 1);
    p.label_at = malloc(sizeof(int64_t) * (size_t)rows + 1);
    if (rows == 0) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "series %s: a header and no rows", path);
        goto done;
    }
    if (!s || !p.fields || !p.labels || !p.label_at) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "series %s: out of memory for %lld rows", path, (long long)rows);
        goto done;
    }
    if ((st = read_rows(ctx, path, &p, first, &lay, o.skip_bad, s)) != DY_OK) goto done;
    if (s->count == 0) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "series %s: all %lld rows were skipped", path, (long long)rows);
        goto done;
    }
    if (lay.label >= 0) {
        if ((st = dy_series_labels_from_text(ctx, &l, p.labels, s->count, p.label_at, path)) != DY_OK) goto done;
        memcpy(s->labels, l.labels, sizeof(int32_t) * (size_t)s->count);
    }
    st = dy_series_set_classes(ctx, s, lay.label >= 0 ? &l : NULL);
done:
    dy_series_labels_free(&l);
    free(p.lines);
    free(p.fields);
    free(p.labels);
    free(p.label_at);
    free(buf);
    if (st != DY_OK) dy_signal_set_free(s);
    else *out = s;
    return st;
}
