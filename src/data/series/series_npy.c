/* Time series from a .npy array float32 / float64 [N, C, T] or [N, T] (C = 1), labels from a second file. The array
 * is read whole by dy_npy_read_array (src/io/npy.c: dtype, shape, order, header and data length checked against the
 * file's size before anything is allocated), then converted item by item to float, each item checked for values
 * that are not finite. */
#include <stdlib.h>
#include <string.h>

#include "data/series/series.h"
#include "io/npy.h"

enum { SERIES_MAX_CHANNELS = 1 << 16 };

/* Checks the array's dtype and shape and reads them as count, channels, length. */
static dy_status check_array(dy_ctx *ctx, const char *path, const dy_npy_array *a, int64_t *count, int *channels,
                             int64_t *length) {
    if (a->dtype != DY_NPY_F32 && a->dtype != DY_NPY_F64)
        return dy_fail(ctx, DY_ERR_FORMAT, "series %s: an integer array; expected float32 or float64 values", path);
    if (a->ndim != 2 && a->ndim != 3)
        return dy_fail(ctx, DY_ERR_FORMAT, "series %s: a %d-d array; expected [N, C, T] or [N, T]", path, a->ndim);
    int64_t n = a->shape[0], c = a->ndim == 3 ? a->shape[1] : 1, t = a->shape[a->ndim - 1];
    if (n < 1 || c < 1 || t < 1)
        return dy_fail(ctx, DY_ERR_FORMAT, "series %s: shape [%lld, %lld, %lld] is empty (N, C, T must be >= 1)",
                       path, (long long)n, (long long)c, (long long)t);
    if (c > SERIES_MAX_CHANNELS)
        return dy_fail(ctx, DY_ERR_FORMAT, "series %s: %lld channels, more than %d", path, (long long)c,
                       SERIES_MAX_CHANNELS);
    *count = n;
    *channels = (int)c;
    *length = t;
    return DY_OK;
}

/* Item i of a into dst[per] as float; the index of its first value that is not finite as float, or -1. */
static int64_t convert_item(const dy_npy_array *a, int64_t i, int64_t per, float *dst) {
    if (a->dtype == DY_NPY_F32) {
        memcpy(dst, (const float *)a->data + i * per, sizeof(float) * (size_t)per);
    } else {
        const double *src = (const double *)a->data + i * per;
        for (int64_t k = 0; k < per; k++) dst[k] = (float)src[k];
    }
    return dy_series_first_nonfinite(dst, per);
}

dy_status dy_signal_load_npy(dy_ctx *ctx, dy_signal_set **out, const char *data_path, const char *labels_path,
                             const dy_series_options *opts) {
    if (!out || !data_path) return dy_fail(ctx, DY_ERR_INVALID, "dy_signal_load_npy: NULL argument");
    *out = NULL;
    const dy_series_options o = opts ? *opts : dy_series_defaults();
    const uint64_t max_bytes = dy_series_max_bytes(&o);
    dy_npy_array a;
    dy_series_labels l = {0};
    dy_signal_set *s = NULL;
    int64_t n = 0, length = 0;
    int channels = 0;
    dy_status st;
    if ((st = dy_npy_read_array(ctx, data_path, &a, max_bytes)) != DY_OK) return st;
    if ((st = check_array(ctx, data_path, &a, &n, &channels, &length)) != DY_OK) goto done;
    if (labels_path && (st = dy_series_labels_read(ctx, &l, labels_path, n, max_bytes)) != DY_OK) goto done;
    if (!(s = dy_series_alloc(n, channels, length))) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "series %s: out of memory for %lld x %d x %lld values", data_path,
                     (long long)n, channels, (long long)length);
        goto done;
    }
    const int64_t per = (int64_t)channels * length;
    for (int64_t i = 0; i < n; i++) {
        int64_t bad = convert_item(&a, i, per, s->samples + s->count * per);
        if (bad >= 0 && !o.skip_bad) {
            st = dy_fail(ctx, DY_ERR_FORMAT, "series %s: item %lld, channel %lld, sample %lld is %g (not a finite "
                         "float32; skip such items with skip_bad)", data_path, (long long)i, (long long)(bad / length),
                         (long long)(bad % length), dy_npy_value(&a, i * per + bad));
            goto done;
        }
        if (bad >= 0) {
            if ((st = dy_series_skip(ctx, s, "%s[%lld]", data_path, (long long)i)) != DY_OK) goto done;
            continue;
        }
        s->labels[s->count++] = l.labels ? l.labels[i] : -1;
    }
    if (s->count == 0) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "series %s: all %lld items were skipped (values not finite)", data_path,
                     (long long)n);
        goto done;
    }
    st = dy_series_set_classes(ctx, s, labels_path ? &l : NULL);
done:
    dy_npy_array_free(&a);
    dy_series_labels_free(&l);
    if (st != DY_OK) dy_signal_set_free(s);
    else *out = s;
    return st;
}
