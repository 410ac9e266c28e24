/* STL-10, binary version: <split>_X.bin holds N images of 3 x 96 x 96 bytes, each channel stored column-major
 * (pixel (row, col) at col * 96 + row); <split>_y.bin holds N label bytes 1..10 (stored here as 0..9). */
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"

#define STL_SIDE 96
#define STL_PIXELS (3 * STL_SIDE * STL_SIDE)

dy_status dy_stl10_from_memory(dy_ctx *ctx, dy_dataset **out, const char *images_name, const uint8_t *images,
                               size_t images_size, const char *labels_name, const uint8_t *labels,
                               size_t labels_size) {
    *out = NULL;
    if (images_size == 0 || images_size % STL_PIXELS != 0)
        return dy_fail(ctx, DY_ERR_FORMAT,
                       "%s: truncated or not an STL-10 image file: %zu bytes is not a positive multiple of %d",
                       images_name, images_size, STL_PIXELS);
    int64_t n = (int64_t)(images_size / STL_PIXELS);
    if (labels) {
        if (labels_size != (size_t)n)
            return dy_fail(ctx, DY_ERR_FORMAT, "%s: %zu labels for %lld images in %s", labels_name, labels_size,
                           (long long)n, images_name);
        for (int64_t i = 0; i < n; i++)
            if (labels[i] < 1 || labels[i] > 10)
                return dy_fail(ctx, DY_ERR_FORMAT, "%s: label %d of image %lld is out of range [1, 10]", labels_name,
                               labels[i], (long long)i);
    }
    dy_dataset *ds = dy_dataset_alloc(n, 3, STL_SIDE, STL_SIDE);
    if (!ds) return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for %lld images", images_name, (long long)n);
    ds->kind = DY_KIND_STL10;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *src = images + (size_t)i * STL_PIXELS;
        uint8_t *dst = ds->pixels + (size_t)i * STL_PIXELS;
        for (int c = 0; c < 3; c++)
            for (int col = 0; col < STL_SIDE; col++)
                for (int row = 0; row < STL_SIDE; row++)
                    dst[(c * STL_SIDE + row) * STL_SIDE + col] = src[(c * STL_SIDE + col) * STL_SIDE + row];
        if (labels) ds->labels[i] = labels[i] - 1;
    }
    dy_status st = dy_dataset_set_classes(ctx, ds, labels ? 10 : 0, NULL, labels ? labels_name : images_name);
    if (st != DY_OK) {
        dy_dataset_free(ds);
        return st;
    }
    *out = ds;
    return DY_OK;
}

dy_status dy_dataset_load_stl10(dy_ctx *ctx, dy_dataset **out, const char *dir, dy_split split) {
    if (!out || !dir) return dy_fail(ctx, DY_ERR_INVALID, "dy_dataset_load_stl10: NULL argument");
    *out = NULL;
    const char *xn = split == DY_SPLIT_TRAIN  ? "train_X.bin"
                     : split == DY_SPLIT_TEST ? "test_X.bin"
                                              : "unlabeled_X.bin";
    const char *yn = split == DY_SPLIT_TRAIN ? "train_y.bin" : split == DY_SPLIT_TEST ? "test_y.bin" : NULL;
    char *xp = dy_path_join(dir, xn), *yp = yn ? dy_path_join(dir, yn) : NULL;
    uint8_t *x = NULL, *y = NULL;
    size_t xs = 0, ys = 0;
    dy_status st = (!xp || (yn && !yp)) ? dy_fail(ctx, DY_ERR_NOMEM, "out of memory") : DY_OK;
    if (st == DY_OK) st = dy_read_file(ctx, xp, &x, &xs, 0);
    if (st == DY_OK && yp) st = dy_read_file(ctx, yp, &y, &ys, 0);
    if (st == DY_OK) st = dy_stl10_from_memory(ctx, out, xp, x, xs, yp, y, ys);
    if (st == DY_OK && yp) st = dy_dataset_names_from_file(ctx, out, dir, "class_names.txt");
    free(xp);
    free(yp);
    free(x);
    free(y);
    return st;
}
