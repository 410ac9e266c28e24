/* CIFAR-10 and CIFAR-100, binary versions. Each file is a sequence of records:
 *   CIFAR-10:  <1 byte label 0..9> <3072 bytes: 1024 red, 1024 green, 1024 blue, each 32x32 row-major>
 *   CIFAR-100: <1 byte coarse label 0..19> <1 byte fine label 0..99> <3072 pixel bytes>
 * The pixel layout is already our CHW layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"

#define CIFAR_PIXELS 3072

dy_status dy_cifar_from_memory(dy_ctx *ctx, dy_dataset **out, dy_dataset_kind kind, bool coarse, int nfiles,
                               const char *const *names, const uint8_t *const *bufs, const size_t *sizes) {
    *out = NULL;
    if (kind != DY_KIND_CIFAR10 && kind != DY_KIND_CIFAR100)
        return dy_fail(ctx, DY_ERR_INVALID, "CIFAR reader: kind %d is neither CIFAR-10 nor CIFAR-100", (int)kind);
    const size_t head = kind == DY_KIND_CIFAR10 ? 1 : 2, record = head + CIFAR_PIXELS;
    const int num_classes = kind == DY_KIND_CIFAR10 ? 10 : (coarse ? 20 : 100);
    int64_t total = 0;
    for (int f = 0; f < nfiles; f++) {
        if (sizes[f] == 0)
            return dy_fail(ctx, DY_ERR_FORMAT, "%s: empty file (a CIFAR record has %zu bytes)", names[f], record);
        if (sizes[f] % record != 0)
            return dy_fail(ctx, DY_ERR_FORMAT,
                           "%s: truncated or not a CIFAR-%d file: %zu bytes is not a multiple of the record size %zu",
                           names[f], kind == DY_KIND_CIFAR10 ? 10 : 100, sizes[f], record);
        size_t n = sizes[f] / record;
        for (size_t r = 0; r < n; r++) {
            const uint8_t *rec = bufs[f] + r * record;
            int lim[2] = {kind == DY_KIND_CIFAR10 ? 10 : 20, 100};
            for (size_t k = 0; k < head; k++)
                if (rec[k] >= lim[k])
                    return dy_fail(ctx, DY_ERR_FORMAT, "%s: record %zu: %s label %d is out of range [0, %d)", names[f],
                                   r, kind == DY_KIND_CIFAR10 ? "the" : (k == 0 ? "coarse" : "fine"), rec[k], lim[k]);
        }
        total += (int64_t)n;
    }
    if (total == 0) return dy_fail(ctx, DY_ERR_FORMAT, "CIFAR reader: no files given");
    dy_dataset *ds = dy_dataset_alloc(total, 3, 32, 32);
    if (!ds) return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for %lld images", names[0], (long long)total);
    ds->kind = kind;
    int64_t i = 0;
    for (int f = 0; f < nfiles; f++) {
        size_t n = sizes[f] / record;
        for (size_t r = 0; r < n; r++, i++) {
            const uint8_t *rec = bufs[f] + r * record;
            ds->labels[i] = kind == DY_KIND_CIFAR10 ? rec[0] : (coarse ? rec[0] : rec[1]);
            memcpy(ds->pixels + (size_t)i * CIFAR_PIXELS, rec + head, CIFAR_PIXELS);
        }
    }
    dy_status st = dy_dataset_set_classes(ctx, ds, num_classes, NULL, names[0]);
    if (st != DY_OK) {
        dy_dataset_free(ds);
        return st;
    }
    *out = ds;
    return DY_OK;
}

static dy_status load_files(dy_ctx *ctx, dy_dataset **out, dy_dataset_kind kind, bool coarse, const char *dir,
                            int nfiles, const char *const *files, const char *names_file, int num_classes) {
    *out = NULL;
    char *paths[6] = {0};
    uint8_t *bufs[6] = {0};
    size_t sizes[6] = {0};
    dy_status st = DY_OK;
    for (int f = 0; f < nfiles && st == DY_OK; f++) {
        paths[f] = dy_path_join(dir, files[f]);
        if (!paths[f]) st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
        else st = dy_read_file(ctx, paths[f], &bufs[f], &sizes[f], (size_t)1 << 31);
    }
    if (st == DY_OK)
        st = dy_cifar_from_memory(ctx, out, kind, coarse, nfiles, (const char *const *)paths,
                                  (const uint8_t *const *)bufs, sizes);
    if (st == DY_OK) st = dy_dataset_names_from_file(ctx, out, dir, names_file);
    for (int f = 0; f < nfiles; f++) {
        free(paths[f]);
        free(bufs[f]);
    }
    return st;
}

dy_status dy_dataset_load_cifar10(dy_ctx *ctx, dy_dataset **out, const char *dir, dy_split split) {
    if (!out || !dir) return dy_fail(ctx, DY_ERR_INVALID, "dy_dataset_load_cifar10: NULL argument");
    static const char *const train[5] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                         "data_batch_4.bin", "data_batch_5.bin"};
    static const char *const test[1] = {"test_batch.bin"};
    if (split == DY_SPLIT_UNLABELED) return dy_fail(ctx, DY_ERR_INVALID, "%s: CIFAR-10 has no unlabelled split", dir);
    return split == DY_SPLIT_TRAIN ? load_files(ctx, out, DY_KIND_CIFAR10, false, dir, 5, train, "batches.meta.txt", 10)
                                   : load_files(ctx, out, DY_KIND_CIFAR10, false, dir, 1, test, "batches.meta.txt", 10);
}

dy_status dy_dataset_load_cifar100(dy_ctx *ctx, dy_dataset **out, const char *dir, dy_split split, bool coarse) {
    if (!out || !dir) return dy_fail(ctx, DY_ERR_INVALID, "dy_dataset_load_cifar100: NULL argument");
    static const char *const train[1] = {"train.bin"};
    static const char *const test[1] = {"test.bin"};
    if (split == DY_SPLIT_UNLABELED) return dy_fail(ctx, DY_ERR_INVALID, "%s: CIFAR-100 has no unlabelled split", dir);
    const char *names = coarse ? "coarse_label_names.txt" : "fine_label_names.txt";
    return load_files(ctx, out, DY_KIND_CIFAR100, coarse, dir, 1, split == DY_SPLIT_TRAIN ? train : test, names,
                      coarse ? 20 : 100);
}
