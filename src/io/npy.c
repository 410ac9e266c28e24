/* NumPy .npy reader and writer for the two arrays dystress exchanges: float32 features and int64 labels.
 * Format (numpy.lib.format): "\x93NUMPY", major, minor, header length (uint16 little-endian in 1.0, uint32 in 2.0
 * and 3.0), then an ASCII (3.0: UTF-8) Python dict literal padded with spaces and ended by '\n' so that the data
 * starts at a multiple of 64 bytes, then the raw little-endian data. */
#include "io/npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "io/atomic_file.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c writes the host's bytes as little-endian data: port it before building on a big-endian machine"
#endif

enum { NPY_MAX_DIMS = 8, NPY_ALIGN = 64 };
static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static dy_status npy_write(dy_ctx *ctx, const char *path, const char *descr, const int64_t *shape, int ndim,
                           const void *data, size_t item) {
    size_t count = 1;
    for (int d = 0; d < ndim; d++) count *= (size_t)shape[d];
    if (!path || (!data && count > 0)) return dy_fail(ctx, DY_ERR_INVALID, "npy: path or data is NULL");
    char dict[256];
    int len;
    if (ndim == 1)
        len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }", descr,
                       (long long)shape[0]);
    else
        len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %lld), }", descr,
                       (long long)shape[0], (long long)shape[1]);
    /* As numpy (>= 1.23) does: spare spaces so that the first dimension can grow to 21 digits in place, then padding
     * and a final newline so that magic (6) + version (2) + length (2) + header is a multiple of 64. The file is
     * then byte for byte what numpy.save writes. */
    char digits[32];
    int growth = 21 - snprintf(digits, sizeof digits, "%lld", (long long)shape[0]);
    len += growth > 0 ? growth : 0;
    size_t total = 10 + (size_t)len + 1;
    size_t padded = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    size_t header_len = padded - 10;
    char header[320];
    const size_t dict_len = strlen(dict);
    memcpy(header, dict, dict_len);
    memset(header + dict_len, ' ', header_len - dict_len - 1);
    header[header_len - 1] = '\n';
    unsigned char pre[10];
    memcpy(pre, npy_magic, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(header_len & 0xff);
    pre[9] = (unsigned char)(header_len >> 8);
    dy_atomic_file f;
    dy_status st = dy_atomic_open(ctx, &f, path);
    if (st != DY_OK) return st;
    if (fwrite(pre, 1, 10, f.fp) != 10 || fwrite(header, 1, header_len, f.fp) != header_len ||
        (count > 0 && fwrite(data, item, count, f.fp) != count)) {
        int e = errno;
        dy_atomic_abort(&f);
        return dy_fail(ctx, DY_ERR_IO, "npy: cannot write %s: %s", path, strerror(e));
    }
    return dy_atomic_commit(ctx, &f);
}

dy_status dy_npy_write_f32(dy_ctx *ctx, const char *path, const float *data, int64_t rows, int64_t cols) {
    if (rows < 0 || cols < 0)
        return dy_fail(ctx, DY_ERR_INVALID, "npy: shape (%lld, %lld) is negative", (long long)rows, (long long)cols);
    const int64_t shape[2] = {rows, cols};
    return npy_write(ctx, path, "<f4", shape, 2, data, sizeof(float));
}

dy_status dy_npy_write_i64(dy_ctx *ctx, const char *path, const int64_t *data, int64_t n) {
    if (n < 0) return dy_fail(ctx, DY_ERR_INVALID, "npy: length %lld is negative", (long long)n);
    const int64_t shape[1] = {n};
    return npy_write(ctx, path, "<i8", shape, 1, data, sizeof(int64_t));
}

/* ---- reading --------------------------------------------------------------------------------------------------- */

typedef struct {
    const char *s, *end;
} cursor;

static void skip_space(cursor *c) {
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\t')) c->s++;
}

static int expect(cursor *c, char ch) {
    skip_space(c);
    if (c->s < c->end && *c->s == ch) {
        c->s++;
        return 1;
    }
    return 0;
}

/* A quoted Python string (single or double quotes, no escapes) into out. */
static int parse_string(cursor *c, char *out, size_t cap) {
    skip_space(c);
    if (c->s >= c->end || (*c->s != '\'' && *c->s != '"')) return 0;
    char q = *c->s++;
    size_t n = 0;
    while (c->s < c->end && *c->s != q) {
        if (*c->s == '\\' || n + 1 >= cap) return 0;
        out[n++] = *c->s++;
    }
    if (c->s >= c->end) return 0;
    c->s++;
    out[n] = 0;
    return 1;
}

static int parse_word(cursor *c, const char *w) {
    skip_space(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->s) >= n && memcmp(c->s, w, n) == 0) {
        c->s += n;
        return 1;
    }
    return 0;
}

/* A tuple of non-negative integers: (), (n,), (a, b), (a, b, ...). */
static int parse_shape(cursor *c, int64_t *shape, int *ndim) {
    if (!expect(c, '(')) return 0;
    *ndim = 0;
    for (;;) {
        skip_space(c);
        if (expect(c, ')')) return 1;
        if (*ndim == NPY_MAX_DIMS) return 0;
        if (c->s >= c->end || *c->s < '0' || *c->s > '9') return 0;
        int64_t v = 0;
        while (c->s < c->end && *c->s >= '0' && *c->s <= '9') {
            if (v > (INT64_MAX - 9) / 10) return 0;
            v = v * 10 + (*c->s++ - '0');
        }
        if (c->s < c->end && *c->s == 'L') c->s++; /* Python 2 longs in old files */
        shape[(*ndim)++] = v;
        skip_space(c);
        if (expect(c, ',')) continue;
        if (expect(c, ')')) return 1;
        return 0;
    }
}

typedef struct {
    char descr[32];
    int fortran;
    int64_t shape[NPY_MAX_DIMS];
    int ndim;
} npy_header;

static int parse_header(const char *text, size_t len, npy_header *h) {
    cursor c = {text, text + len};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    if (!expect(&c, '{')) return 0;
    for (;;) {
        if (expect(&c, '}')) break;
        char key[32];
        if (!parse_string(&c, key, sizeof key) || !expect(&c, ':')) return 0;
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (!parse_string(&c, h->descr, sizeof h->descr)) return 0;
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_fortran) {
            if (parse_word(&c, "False")) h->fortran = 0;
            else if (parse_word(&c, "True")) h->fortran = 1;
            else return 0;
            have_fortran = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (!parse_shape(&c, h->shape, &h->ndim)) return 0;
            have_shape = 1;
        } else
            return 0; /* an unknown or repeated key: numpy refuses these too */
        if (expect(&c, ',')) continue;
        if (expect(&c, '}')) break;
        return 0;
    }
    /* Only padding after the dict. */
    while (c.s < c.end && (*c.s == ' ' || *c.s == '\n' || *c.s == '\r' || *c.s == '\t' || *c.s == 0)) c.s++;
    return c.s == c.end && have_descr && have_fortran && have_shape;
}

/* Opens path and reads its preamble and header: on DY_OK *fpp is positioned at the data, h holds the parsed header
 * and *data_bytes how many bytes follow it. */
static dy_status npy_open(dy_ctx *ctx, const char *path, FILE **fpp, npy_header *h, uint64_t *data_bytes) {
    *fpp = NULL;
    if (!path) return dy_fail(ctx, DY_ERR_INVALID, "npy: path is NULL");
    FILE *fp = fopen(path, "rb");
    if (!fp) return dy_fail(ctx, DY_ERR_IO, "npy: cannot open %s: %s", path, strerror(errno));
    dy_status st = DY_OK;
    char *header = NULL;
    unsigned char pre[12];
    if (fread(pre, 1, 8, fp) != 8 || memcmp(pre, npy_magic, 6) != 0) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "npy: %s is not a .npy file (no \\x93NUMPY magic)", path);
        goto done;
    }
    int major = pre[6];
    size_t header_len;
    if (major == 1) {
        if (fread(pre + 8, 1, 2, fp) != 2) goto truncated;
        header_len = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 8, 1, 4, fp) != 4) goto truncated;
        header_len = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        if (header_len > (1u << 20)) {
            st = dy_fail(ctx, DY_ERR_FORMAT, "npy: %s: header of %zu bytes is implausibly long", path, header_len);
            goto done;
        }
    } else {
        st = dy_fail(ctx, DY_ERR_FORMAT, "npy: %s: format version %d.%d, expected 1.0, 2.0 or 3.0", path, major,
                     pre[7]);
        goto done;
    }
    header = malloc(header_len + 1);
    if (!header) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "npy: cannot allocate a %zu-byte header", header_len);
        goto done;
    }
    if (fread(header, 1, header_len, fp) != header_len) goto truncated;
    header[header_len] = 0;
    memset(h, 0, sizeof *h);
    if (!parse_header(header, header_len, h)) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "npy: %s: cannot parse the header dictionary '%.120s'", path, header);
        goto done;
    }
    long data_at = ftell(fp);
    if (data_at < 0 || fseek(fp, 0, SEEK_END) != 0) {
        st = dy_fail(ctx, DY_ERR_IO, "npy: cannot seek in %s", path);
        goto done;
    }
    long file_end = ftell(fp);
    if (file_end < data_at || fseek(fp, data_at, SEEK_SET) != 0) {
        st = dy_fail(ctx, DY_ERR_IO, "npy: cannot seek in %s", path);
        goto done;
    }
    *data_bytes = (uint64_t)(file_end - data_at);
    goto done;
truncated:
    st = dy_fail(ctx, DY_ERR_FORMAT, "npy: %s is truncated", path);
done:
    free(header);
    if (st == DY_OK) *fpp = fp;
    else fclose(fp);
    return st;
}

/* Checks that the data of h's shape in item-byte elements fills exactly the have bytes after the header (before
 * allocating, so that a corrupt shape cannot ask for an enormous buffer), then reads it into a dy_alloc'ed *data. */
static dy_status npy_load_data(dy_ctx *ctx, const char *path, FILE *fp, const npy_header *h, size_t item,
                               uint64_t have, int64_t *shape, void **data) {
    size_t count = 1;
    for (int d = 0; d < h->ndim; d++) {
        if (h->shape[d] != 0 && count > SIZE_MAX / item / (size_t)h->shape[d])
            return dy_fail(ctx, DY_ERR_FORMAT, "npy: %s: shape too large", path);
        count *= (size_t)h->shape[d];
        shape[d] = h->shape[d];
    }
    if (have < count * item) return dy_fail(ctx, DY_ERR_FORMAT, "npy: %s is truncated", path);
    if (have > count * item)
        return dy_fail(ctx, DY_ERR_FORMAT, "npy: %s has %llu bytes after the %zu values its shape announces", path,
                       (unsigned long long)(have - count * item), count);
    *data = dy_alloc(count * item);
    if (!*data) return dy_fail(ctx, DY_ERR_NOMEM, "npy: cannot allocate %zu values for %s", count, path);
    if (fread(*data, item, count, fp) != count) {
        dy_free(*data);
        *data = NULL;
        return dy_fail(ctx, DY_ERR_FORMAT, "npy: %s is truncated", path);
    }
    return DY_OK;
}

static dy_status npy_read(dy_ctx *ctx, const char *path, const char *want_descr, int want_ndim, size_t item,
                          void **data, int64_t *shape) {
    *data = NULL;
    FILE *fp = NULL;
    npy_header h;
    uint64_t have = 0;
    dy_status st = npy_open(ctx, path, &fp, &h, &have);
    if (st != DY_OK) return st;
    if (strcmp(h.descr, want_descr) != 0)
        st = dy_fail(ctx, DY_ERR_FORMAT, "npy: %s holds dtype '%s', expected '%s'", path, h.descr, want_descr);
    else if (h.fortran)
        st = dy_fail(ctx, DY_ERR_FORMAT, "npy: %s is in Fortran order, expected C order", path);
    else if (h.ndim != want_ndim)
        st = dy_fail(ctx, DY_ERR_FORMAT, "npy: %s has %d dimensions, expected %d", path, h.ndim, want_ndim);
    else
        st = npy_load_data(ctx, path, fp, &h, item, have, shape, data);
    fclose(fp);
    return st;
}

dy_status dy_npy_read_f32(dy_ctx *ctx, const char *path, float **data, int64_t *rows, int64_t *cols) {
    if (!data || !rows || !cols) return dy_fail(ctx, DY_ERR_INVALID, "npy: output pointers are NULL");
    int64_t shape[2] = {0, 0};
    void *p = NULL;
    dy_status st = npy_read(ctx, path, "<f4", 2, sizeof(float), &p, shape);
    *data = p;
    *rows = shape[0];
    *cols = shape[1];
    return st;
}

dy_status dy_npy_read_i64(dy_ctx *ctx, const char *path, int64_t **data, int64_t *n) {
    if (!data || !n) return dy_fail(ctx, DY_ERR_INVALID, "npy: output pointers are NULL");
    int64_t shape[1] = {0};
    void *p = NULL;
    dy_status st = npy_read(ctx, path, "<i8", 1, sizeof(int64_t), &p, shape);
    *data = p;
    *n = shape[0];
    return st;
}

/* The element types dy_npy_read_array accepts, as numpy spells them on a little-endian machine. */
static const struct {
    const char *descr;
    dy_npy_dtype dtype;
    size_t item;
} npy_dtypes[] = {{"<f4", DY_NPY_F32, 4}, {"<f8", DY_NPY_F64, 8}, {"|i1", DY_NPY_I8, 1}, {"|u1", DY_NPY_U8, 1},
                  {"<i2", DY_NPY_I16, 2}, {"<i4", DY_NPY_I32, 4}, {"<i8", DY_NPY_I64, 8}};

dy_status dy_npy_read_array(dy_ctx *ctx, const char *path, dy_npy_array *out, uint64_t max_bytes) {
    if (!out) return dy_fail(ctx, DY_ERR_INVALID, "npy: output pointer is NULL");
    memset(out, 0, sizeof *out);
    FILE *fp = NULL;
    npy_header h;
    uint64_t have = 0;
    dy_status st = npy_open(ctx, path, &fp, &h, &have);
    if (st != DY_OK) return st;
    int k = -1;
    for (int i = 0; i < (int)(sizeof npy_dtypes / sizeof npy_dtypes[0]); i++)
        if (strcmp(h.descr, npy_dtypes[i].descr) == 0) k = i;
    if (k < 0)
        st = dy_fail(ctx, DY_ERR_FORMAT,
                     "npy: %s holds dtype '%s', expected one of '<f4', '<f8', '|i1', '|u1', '<i2', '<i4', '<i8' "
                     "(little-endian float or integer)",
                     path, h.descr);
    else if (h.fortran)
        st = dy_fail(ctx, DY_ERR_FORMAT, "npy: %s is in Fortran order, expected C order", path);
    else if (max_bytes > 0 && have > max_bytes)
        st = dy_fail(ctx, DY_ERR_FORMAT, "npy: %s holds %llu bytes of data, above the limit of %llu", path,
                     (unsigned long long)have, (unsigned long long)max_bytes);
    else
        st = npy_load_data(ctx, path, fp, &h, npy_dtypes[k].item, have, out->shape, &out->data);
    fclose(fp);
    if (st != DY_OK) {
        memset(out, 0, sizeof *out);
        return st;
    }
    out->dtype = npy_dtypes[k].dtype;
    out->item = npy_dtypes[k].item;
    out->ndim = h.ndim;
    out->count = 1;
    for (int d = 0; d < h.ndim; d++) out->count *= h.shape[d];
    return DY_OK;
}

double dy_npy_value(const dy_npy_array *a, int64_t i) {
    const void *p = (const char *)a->data + (size_t)i * a->item;
    switch (a->dtype) {
    case DY_NPY_F32: return *(const float *)p;
    case DY_NPY_F64: return *(const double *)p;
    case DY_NPY_I8: return *(const int8_t *)p;
    case DY_NPY_U8: return *(const uint8_t *)p;
    case DY_NPY_I16: return (double)*(const int16_t *)p;
    case DY_NPY_I32: return *(const int32_t *)p;
    case DY_NPY_I64: return (double)*(const int64_t *)p;
    }
    return 0;
}

bool dy_npy_is_integer(const dy_npy_array *a) { return a->dtype != DY_NPY_F32 && a->dtype != DY_NPY_F64; }

void dy_npy_array_free(dy_npy_array *a) {
    if (!a) return;
    dy_free(a->data);
    memset(a, 0, sizeof *a);
}
