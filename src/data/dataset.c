/* Data set lifetime, class bookkeeping, statistics and the small file helpers every reader uses. */
#include "data/dataset.h"
#include "io/read_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dy_dataset *dy_dataset_alloc(int64_t count, int channels, int height, int width) {
    if (count < 0 || channels <= 0 || height <= 0 || width <= 0) return NULL;
    int64_t per = (int64_t)channels * height * width;
    if (count > 0 && per > INT64_MAX / count) return NULL;
    dy_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return NULL;
    ds->count = count;
    ds->channels = channels;
    ds->height = height;
    ds->width = width;
    ds->pixels = calloc((size_t)(count * per) + 1, 1); /* zeroed: fresh pages cost nothing extra */
    ds->labels = malloc(sizeof(int32_t) * (size_t)count + 1);
    if (!ds->pixels || !ds->labels) {
        dy_dataset_free(ds);
        return NULL;
    }
    for (int64_t i = 0; i < count; i++) ds->labels[i] = -1;
    return ds;
}

void dy_dataset_free(dy_dataset *ds) {
    if (!ds) return;
    free(ds->pixels);
    free(ds->labels);
    dy_free_names(ds->class_names, ds->num_classes);
    free(ds->class_counts);
    for (int64_t i = 0; ds->skipped_files && i < ds->skipped; i++) free(ds->skipped_files[i]);
    free(ds->skipped_files);
    free(ds);
}

dy_status dy_dataset_copy_skipped(dy_ctx *ctx, dy_dataset *dst, const dy_dataset *src) {
    if (!src->skipped) return DY_OK;
    dst->skipped_files = calloc((size_t)src->skipped, sizeof(char *));
    if (!dst->skipped_files) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
    dst->skipped = src->skipped;
    for (int64_t i = 0; src->skipped_files && i < src->skipped; i++)
        if (!(dst->skipped_files[i] = strdup(src->skipped_files[i])))
            return dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
    return DY_OK;
}

void dy_free_names(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

dy_status dy_dataset_set_classes(dy_ctx *ctx, dy_dataset *ds, int num_classes, char **names, const char *what) {
    for (int64_t i = 0; i < ds->count; i++) {
        int32_t l = ds->labels[i];
        if (l < -1 || l >= num_classes) {
            dy_free_names(names, num_classes);
            return dy_fail(ctx, DY_ERR_FORMAT, "%s: label %d of image %lld is out of range [0, %d)", what, (int)l,
                           (long long)i, num_classes);
        }
    }
    ds->num_classes = num_classes;
    ds->class_counts = calloc((size_t)num_classes + 1, sizeof(int64_t));
    if (!ds->class_counts) {
        dy_free_names(names, num_classes);
        return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for class counts", what);
    }
    for (int64_t i = 0; i < ds->count; i++)
        if (ds->labels[i] >= 0) ds->class_counts[ds->labels[i]]++;
    if (names) {
        ds->class_names = names;
        return DY_OK;
    }
    ds->class_names = calloc((size_t)num_classes + 1, sizeof(char *));
    if (!ds->class_names) return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for class names", what);
    for (int c = 0; c < num_classes; c++) {
        char tmp[16];
        snprintf(tmp, sizeof tmp, "%d", c);
        ds->class_names[c] = strdup(tmp);
        if (!ds->class_names[c]) return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for class names", what);
    }
    return DY_OK;
}

const char *const dy_fashion_mnist_class_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

dy_status dy_dataset_name_classes(dy_ctx *ctx, dy_dataset *ds, const char *const *names, int n) {
    if (n != ds->num_classes)
        return dy_fail(ctx, DY_ERR_INVALID, "%d class names for a data set of %d classes", n, ds->num_classes);
    char **copy = calloc((size_t)n + 1, sizeof(char *));
    for (int c = 0; copy && c < n; c++)
        if (!(copy[c] = strdup(names[c]))) {
            dy_free_names(copy, n);
            copy = NULL;
        }
    if (!copy) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for class names");
    dy_free_names(ds->class_names, ds->num_classes);
    ds->class_names = copy;
    return DY_OK;
}

bool dy_dataset_names_are_numbers(const dy_dataset *ds) {
    for (int c = 0; c < ds->num_classes; c++) {
        char number[16];
        snprintf(number, sizeof number, "%d", c);
        if (!ds->class_names || !ds->class_names[c] || strcmp(ds->class_names[c], number) != 0) return false;
    }
    return true;
}

char *dy_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

dy_status dy_read_class_names(dy_ctx *ctx, const char *path, int want, char ***names) {
    *names = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return DY_OK; /* names are optional */
    fclose(f);
    uint8_t *buf;
    size_t n;
    dy_status st = dy_read_file(ctx, path, &buf, &n, 1 << 20);
    if (st != DY_OK) return st;
    char **out = calloc((size_t)want + 1, sizeof(char *));
    if (!out) {
        free(buf);
        return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", path);
    }
    int got = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && buf[j] != '\n') j++;
        size_t e = j;
        while (e > i && (buf[e - 1] == '\r' || buf[e - 1] == ' ' || buf[e - 1] == '\t')) e--;
        if (e > i) {
            if (got < want) {
                out[got] = strndup((const char *)buf + i, e - i);
                if (!out[got]) {
                    free(buf);
                    dy_free_names(out, want);
                    return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", path);
                }
            }
            got++;
        }
        i = j + 1;
    }
    free(buf);
    if (got != want) {
        dy_free_names(out, want);
        return dy_fail(ctx, DY_ERR_FORMAT, "%s: has %d class names, expected %d", path, got, want);
    }
    *names = out;
    return DY_OK;
}

void dy_dataset_mean_std(const dy_dataset *ds, float *mean, float *std) {
    int64_t hw = (int64_t)ds->height * ds->width;
    for (int c = 0; c < ds->channels; c++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < ds->count; i++) {
            const uint8_t *p = ds->pixels + ((size_t)i * ds->channels + c) * hw;
            uint64_t a = 0, a2 = 0; /* exact integer sums per image */
            for (int64_t k = 0; k < hw; k++) {
                a += p[k];
                a2 += (uint64_t)p[k] * p[k];
            }
            s += (double)a;
            s2 += (double)a2;
        }
        double n = (double)ds->count * hw;
        double m = n > 0 ? s / n : 0, v = n > 0 ? s2 / n - m * m : 0;
        mean[c] = (float)(m / 255.0);
        std[c] = (float)(sqrt(v > 0 ? v : 0) / 255.0);
    }
}

dy_status dy_dataset_names_from_file(dy_ctx *ctx, dy_dataset **ds, const char *dir, const char *file) {
    char *path = dy_path_join(dir, file), **names = NULL;
    dy_status st = path ? dy_read_class_names(ctx, path, (*ds)->num_classes, &names)
                        : dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
    free(path);
    if (st == DY_OK && names) {
        dy_free_names((*ds)->class_names, (*ds)->num_classes);
        (*ds)->class_names = names;
    }
    if (st != DY_OK) {
        dy_dataset_free(*ds);
        *ds = NULL;
    }
    return st;
}
