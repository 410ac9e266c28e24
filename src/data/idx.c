/* MNIST / Fashion-MNIST IDX files, plain or gzip-compressed (zlib detects the gzip header by itself; several gzip
 * members are read as one stream, zero padding after them is ignored, other trailing bytes are an error).
 * Format: two zero bytes, element type (0x08 = unsigned byte), number of dimensions, big-endian uint32 sizes,
 * then the elements. Every size is checked against the bytes actually present before anything is allocated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/dataset.h"

#define IDX_DEFAULT_MAX_BYTES ((size_t)1 << 33) /* 8 GiB of decompressed data */

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Inflates a gzip/zlib stream; the output grows with the data actually decompressed, up to max_bytes. */
static dy_status gunzip(dy_ctx *ctx, const char *name, const uint8_t *buf, size_t size, size_t max_bytes,
                        uint8_t **out, size_t *out_size) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) return dy_fail(ctx, DY_ERR_INTERNAL, "%s: zlib init failed", name);
    size_t cap = size * 4 < ((size_t)1 << 20) ? ((size_t)1 << 20) : size * 4;
    if (cap > max_bytes) cap = max_bytes;
    uint8_t *dst = malloc(cap + 1);
    if (!dst) {
        inflateEnd(&z);
        return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", name);
    }
    size_t have = 0, in_off = 0;
    dy_status st = DY_OK;
    for (;;) {
        if (have == cap) {
            if (cap >= max_bytes) {
                st = dy_fail(ctx, DY_ERR_FORMAT, "%s: decompresses to more than the limit of %zu bytes", name,
                             max_bytes);
                break;
            }
            size_t ncap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            uint8_t *nd = realloc(dst, ncap + 1);
            if (!nd) {
                st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory decompressing", name);
                break;
            }
            dst = nd;
            cap = ncap;
        }
        /* zlib counts in uInt: feed and drain in pieces below 1 GiB. */
        size_t in_left = size - in_off, out_left = cap - have;
        z.next_in = (Bytef *)(buf + in_off);
        z.avail_in = (uInt)(in_left > (1u << 30) ? (1u << 30) : in_left);
        z.next_out = dst + have;
        z.avail_out = (uInt)(out_left > (1u << 30) ? (1u << 30) : out_left);
        uInt in_before = z.avail_in, out_before = z.avail_out;
        int r = inflate(&z, Z_NO_FLUSH);
        in_off += in_before - z.avail_in;
        have += out_before - z.avail_out;
        if (r == Z_STREAM_END) {
            /* What follows the stream: nothing; another gzip member (gzip -c a b > c, read as one, as zcat does);
             * zero padding (tape blocks, as gzip and Python ignore); anything else is an error, not a silent
             * truncation of the data set. */
            size_t rest = size - in_off;
            if (rest == 0) break;
            if (rest >= 2 && buf[in_off] == 0x1f && buf[in_off + 1] == 0x8b) {
                if (inflateReset(&z) != Z_OK) {
                    st = dy_fail(ctx, DY_ERR_INTERNAL, "%s: zlib reset failed", name);
                    break;
                }
                continue;
            }
            size_t nonzero = in_off;
            while (nonzero < size && buf[nonzero] == 0) nonzero++;
            if (nonzero == size) break;
            st = dy_fail(ctx, DY_ERR_FORMAT, "%s: %zu bytes of trailing data after the gzip stream (from byte %zu; "
                         "not another gzip member)", name, rest, in_off);
            break;
        }
        if (r == Z_NEED_DICT || r == Z_DATA_ERROR || r == Z_MEM_ERROR) {
            st = dy_fail(ctx, DY_ERR_FORMAT, "%s: corrupt gzip data (%s)", name, z.msg ? z.msg : "data error");
            break;
        }
        if (r == Z_BUF_ERROR && in_off >= size && have < cap) {
            st = dy_fail(ctx, DY_ERR_FORMAT, "%s: truncated gzip stream (ends after %zu bytes)", name, size);
            break;
        }
    }
    inflateEnd(&z);
    if (st != DY_OK) {
        free(dst);
        return st;
    }
    *out = dst;
    *out_size = have;
    return DY_OK;
}

void dy_idx_array_free(dy_idx_array *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

dy_status dy_idx_decode(dy_ctx *ctx, const char *name, const uint8_t *buf, size_t size, size_t max_bytes,
                        dy_idx_array *out) {
    memset(out, 0, sizeof *out);
    if (max_bytes == 0) max_bytes = IDX_DEFAULT_MAX_BYTES;
    uint8_t *plain = NULL;
    size_t n = size;
    const uint8_t *p = buf;
    if (size >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
        dy_status st = gunzip(ctx, name, buf, size, max_bytes, &plain, &n);
        if (st != DY_OK) return st;
        p = plain;
    }
    dy_status st = DY_OK;
    if (n < 4) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: truncated: %zu bytes, an IDX header needs at least 4", name, n);
        goto done;
    }
    if (p[0] != 0 || p[1] != 0) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: wrong magic number 0x%02x%02x%02x%02x (an IDX file starts 0x0000)",
                     name, p[0], p[1], p[2], p[3]);
        goto done;
    }
    if (p[2] != 0x08) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: element type 0x%02x is not supported (only unsigned byte, 0x08)", name,
                     p[2]);
        goto done;
    }
    int ndim = p[3];
    if (ndim < 1 || ndim > 4) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: %d dimensions (expected 1 to 4)", name, ndim);
        goto done;
    }
    size_t header = 4 + 4 * (size_t)ndim;
    if (n < header) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: truncated header: %zu bytes, %d dimensions need %zu", name, n, ndim,
                     header);
        goto done;
    }
    uint64_t total = 1;
    for (int d = 0; d < ndim; d++) {
        uint32_t v = be32(p + 4 + 4 * d);
        out->dims[d] = v;
        if (v != 0 && total > UINT64_MAX / v) total = UINT64_MAX;
        else total *= v;
    }
    out->ndim = ndim;
    if (total > n - header) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: truncated: the header promises %llu bytes of data, the file has %zu",
                     name, (unsigned long long)total, n - header);
        goto done;
    }
    if (total < n - header) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: %zu unexpected bytes after the %llu bytes of data", name,
                     n - header - (size_t)total, (unsigned long long)total);
        goto done;
    }
    out->bytes = (size_t)total;
    out->data = malloc(out->bytes + 1);
    if (!out->data) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for %zu bytes", name, out->bytes);
        goto done;
    }
    memcpy(out->data, p + header, out->bytes);
done:
    free(plain);
    return st;
}

dy_status dy_idx_from_memory(dy_ctx *ctx, dy_dataset **out, const char *images_name, const uint8_t *images,
                             size_t images_size, const char *labels_name, const uint8_t *labels, size_t labels_size,
                             size_t max_bytes) {
    *out = NULL;
    dy_idx_array im, lb = {0};
    dy_status st = dy_idx_decode(ctx, images_name, images, images_size, max_bytes, &im);
    if (st != DY_OK) return st;
    if (im.ndim != 3 || im.dims[1] == 0 || im.dims[2] == 0 || im.dims[1] > 65535 || im.dims[2] > 65535) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: images must have 3 dimensions [N, H, W] with 0 < H, W < 65536 (has %d)",
                     images_name, im.ndim);
        goto done;
    }
    if (labels) {
        st = dy_idx_decode(ctx, labels_name, labels, labels_size, max_bytes, &lb);
        if (st != DY_OK) goto done;
        if (lb.ndim != 1) {
            st = dy_fail(ctx, DY_ERR_FORMAT, "%s: labels must have 1 dimension (has %d)", labels_name, lb.ndim);
            goto done;
        }
        if (lb.dims[0] != im.dims[0]) {
            st = dy_fail(ctx, DY_ERR_FORMAT, "%s: %lld labels for %lld images in %s", labels_name,
                         (long long)lb.dims[0], (long long)im.dims[0], images_name);
            goto done;
        }
    }
    dy_dataset *ds = dy_dataset_alloc(im.dims[0], 1, (int)im.dims[1], (int)im.dims[2]);
    if (!ds) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", images_name);
        goto done;
    }
    ds->kind = DY_KIND_IDX;
    memcpy(ds->pixels, im.data, im.bytes);
    int num_classes = 0;
    if (labels) {
        for (int64_t i = 0; i < ds->count; i++) {
            ds->labels[i] = lb.data[i];
            if (lb.data[i] + 1 > num_classes) num_classes = lb.data[i] + 1;
        }
    }
    st = dy_dataset_set_classes(ctx, ds, num_classes, NULL, labels_name ? labels_name : images_name);
    if (st != DY_OK) {
        dy_dataset_free(ds);
        goto done;
    }
    *out = ds;
done:
    dy_idx_array_free(&im);
    dy_idx_array_free(&lb);
    return st;
}

dy_status dy_dataset_load_idx(dy_ctx *ctx, dy_dataset **out, const char *images_path, const char *labels_path) {
    if (!out || !images_path) return dy_fail(ctx, DY_ERR_INVALID, "dy_dataset_load_idx: NULL argument");
    *out = NULL;
    uint8_t *im = NULL, *lb = NULL;
    size_t im_n = 0, lb_n = 0;
    dy_status st = dy_read_file(ctx, images_path, &im, &im_n, 0);
    if (st == DY_OK && labels_path) st = dy_read_file(ctx, labels_path, &lb, &lb_n, 0);
    if (st == DY_OK) st = dy_idx_from_memory(ctx, out, images_path, im, im_n, labels_path, lb, lb_n, 0);
    free(im);
    free(lb);
    return st;
}

/* The first of <dir>/<stem> and <dir>/<stem>.gz that exists (malloc'ed), else NULL. */
static char *find_idx(const char *dir, const char *stem) {
    char name[256];
    const char *suffixes[2] = {"", ".gz"};
    for (int k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "%s%s", stem, suffixes[k]);
        char *p = dy_path_join(dir, name);
        if (!p) return NULL;
        FILE *f = fopen(p, "rb");
        if (f) {
            fclose(f);
            return p;
        }
        free(p);
    }
    return NULL;
}

dy_status dy_dataset_load_mnist(dy_ctx *ctx, dy_dataset **out, const char *dir, dy_split split) {
    if (!out || !dir) return dy_fail(ctx, DY_ERR_INVALID, "dy_dataset_load_mnist: NULL argument");
    *out = NULL;
    if (split == DY_SPLIT_UNLABELED)
        return dy_fail(ctx, DY_ERR_INVALID, "%s: MNIST-style data sets have no unlabelled split", dir);
    const char *pre = split == DY_SPLIT_TRAIN ? "train" : "t10k";
    char stem_i[64], stem_l[64];
    snprintf(stem_i, sizeof stem_i, "%s-images-idx3-ubyte", pre);
    snprintf(stem_l, sizeof stem_l, "%s-labels-idx1-ubyte", pre);
    char *pi = find_idx(dir, stem_i), *pl = find_idx(dir, stem_l);
    dy_status st;
    if (!pi || !pl)
        st = dy_fail(ctx, DY_ERR_IO, "%s: no %s[.gz] in this folder", dir, !pi ? stem_i : stem_l);
    else
        st = dy_dataset_load_idx(ctx, out, pi, pl);
    free(pi);
    free(pl);
    if (st != DY_OK) return st;
    /* names, when the folder has them (one per line, as STL-10's class_names.txt) */
    return dy_dataset_names_from_file(ctx, out, dir, "class_names.txt");
}

dy_status dy_dataset_load_fashion_mnist(dy_ctx *ctx, dy_dataset **out, const char *dir, dy_split split) {
    dy_status st = dy_dataset_load_mnist(ctx, out, dir, split);
    if (st != DY_OK || !dy_dataset_names_are_numbers(*out)) return st; /* a class_names.txt named them */
    if ((*out)->num_classes != 10) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: %d classes, Fashion-MNIST has 10", dir, (*out)->num_classes);
    } else {
        st = dy_dataset_name_classes(ctx, *out, dy_fashion_mnist_class_names, 10);
    }
    if (st != DY_OK) {
        dy_dataset_free(*out);
        *out = NULL;
    }
    return st;
}
