/* Internal helpers shared by the data set readers: allocation, class bookkeeping, and the
 * in-memory entry points of each binary reader (used by the file readers and by the fuzz targets). */
#ifndef DY_DATA_DATASET_H
#define DY_DATA_DATASET_H

#include "core/context.h"
#include "dystress/data.h"
#include "io/read_file.h"

/* An empty data set of count images [channels, height, width]; labels all -1; NULL when out of memory or the size
 * overflows. */
dy_dataset *dy_dataset_alloc(int64_t count, int channels, int height, int width);
/* Sets num_classes, class names (names may be NULL: "0", "1", ...) and counts from ds->labels; every label must be
 * -1 or in [0, num_classes). what names the source in the error. */
dy_status dy_dataset_set_classes(dy_ctx *ctx, dy_dataset *ds, int num_classes, char **names, const char *what);

/* Fashion-MNIST's classes by label, as its authors name them (the IDX files carry no names). */
extern const char *const dy_fashion_mnist_class_names[10];
/* Replaces the names of ds's num_classes classes by copies of names (n must be num_classes): DY_ERR_INVALID when the
 * counts differ, DY_ERR_NOMEM (nothing changed) when out of memory. */
dy_status dy_dataset_name_classes(dy_ctx *ctx, dy_dataset *ds, const char *const *names, int n);
/* true when every class of ds is named by its number ("0", "1", ...: no names were found) */
bool dy_dataset_names_are_numbers(const dy_dataset *ds);
/* Gives dst the count and paths of the files src skipped (a subset's training part keeps them). */
dy_status dy_dataset_copy_skipped(dy_ctx *ctx, dy_dataset *dst, const dy_dataset *src);

/* Joins dir and name into a malloc'ed path. */
char *dy_path_join(const char *dir, const char *name);
/* Reads up to `want` non-empty lines of a text file of class names. Missing file: DY_OK with *names NULL.
 * A file with a different number of non-empty lines than want fails. */
dy_status dy_read_class_names(dy_ctx *ctx, const char *path, int want, char ***names);
/* The names of *ds's classes from dir/file when that file exists (dy_read_class_names, one per class); on failure
 * *ds is freed and set to NULL, so a loader can end with `return dy_dataset_names_from_file(...)`. */
dy_status dy_dataset_names_from_file(dy_ctx *ctx, dy_dataset **ds, const char *dir, const char *file);
void dy_free_names(char **names, int n);

/* IDX (MNIST): decodes one file image in memory (gzip detected by its magic), keeping at most max_bytes of
 * decompressed data. The element type must be unsigned byte (0x08). */
typedef struct {
    int ndim;
    int64_t dims[4];
    uint8_t *data;   /* malloc'ed copy of the elements */
    size_t bytes;
} dy_idx_array;
dy_status dy_idx_decode(dy_ctx *ctx, const char *name, const uint8_t *buf, size_t size, size_t max_bytes,
                        dy_idx_array *out);
void dy_idx_array_free(dy_idx_array *a);
/* Images [N, H, W] + optional labels [N] (labels NULL) -> data set. */
dy_status dy_idx_from_memory(dy_ctx *ctx, dy_dataset **out, const char *images_name, const uint8_t *images,
                             size_t images_size, const char *labels_name, const uint8_t *labels, size_t labels_size,
                             size_t max_bytes);

/* CIFAR binary files in memory, concatenated in order. kind DY_KIND_CIFAR10 or DY_KIND_CIFAR100. */
dy_status dy_cifar_from_memory(dy_ctx *ctx, dy_dataset **out, dy_dataset_kind kind, bool coarse, int nfiles,
                               const char *const *names, const uint8_t *const *bufs, const size_t *sizes);

/* STL-10: images (N x 3 x 96 x 96, column-major per channel) + labels (N bytes, 1..10) or labels NULL. */
dy_status dy_stl10_from_memory(dy_ctx *ctx, dy_dataset **out, const char *images_name, const uint8_t *images,
                               size_t images_size, const char *labels_name, const uint8_t *labels,
                               size_t labels_size);

#endif
