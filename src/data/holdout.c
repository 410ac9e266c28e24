/* A seeded validation split of a training set (see holdout.h). */
#include "data/holdout.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/dataset.h"

dy_status dy_holdout_mask(dy_ctx *ctx, int64_t count, int64_t n_val, uint64_t seed, uint8_t *in_val) {
    if (n_val < 1 || n_val >= count)
        return dy_fail(ctx, DY_ERR_INVALID, "a validation split of %lld images out of %lld: it needs at least 1 and "
                       "must leave at least 1 for training", (long long)n_val, (long long)count);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)count);
    if (!order) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for a validation split of %lld images",
                               (long long)count);
    for (int64_t i = 0; i < count; i++) order[i] = i;
    /* partial Fisher-Yates: the first n_val places of a uniformly random permutation */
    dy_rng r;
    dy_rng_init(&r, seed, DY_RNG_HOLDOUT, 0, 0);
    memset(in_val, 0, (size_t)count);
    for (int64_t i = 0; i < n_val; i++) {
        int64_t j = i + (int64_t)dy_rng_below(&r, (uint64_t)(count - i));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
        in_val[order[i]] = 1;
    }
    free(order);
    return DY_OK;
}

uint64_t dy_holdout_hash(const uint8_t *in_val, int64_t count, uint8_t which) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; i < count; i++) {
        if (in_val[i] != which) continue;
        uint64_t v = (uint64_t)i;
        for (int b = 0; b < 8; b++) {
            h ^= (v >> (8 * b)) & 0xff;
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

/* The images of src with in_val[i] == which, classes kept. */
static dy_status subset(dy_ctx *ctx, const dy_dataset *src, const uint8_t *in_val, uint8_t which, int64_t n,
                        dy_dataset **out) {
    dy_dataset *ds = dy_dataset_alloc(n, src->channels, src->height, src->width);
    if (!ds) return dy_fail(ctx, DY_ERR_NOMEM, "validation split: out of memory for %lld images", (long long)n);
    ds->kind = src->kind;
    const size_t per = (size_t)src->channels * src->height * src->width;
    int64_t j = 0;
    for (int64_t i = 0; i < src->count; i++) {
        if (in_val[i] != which) continue;
        memcpy(ds->pixels + (size_t)j * per, src->pixels + (size_t)i * per, per);
        ds->labels[j++] = src->labels[i];
    }
    char **names = NULL;
    if (src->num_classes > 0) {
        names = calloc((size_t)src->num_classes, sizeof(char *));
        for (int c = 0; names && c < src->num_classes; c++)
            if (!(names[c] = strdup(src->class_names[c]))) {
                dy_free_names(names, src->num_classes);
                names = NULL;
            }
        if (!names) {
            dy_dataset_free(ds);
            return dy_fail(ctx, DY_ERR_NOMEM, "validation split: out of memory");
        }
    }
    dy_status st = dy_dataset_set_classes(ctx, ds, src->num_classes, names, "validation split");
    if (st != DY_OK) {
        dy_dataset_free(ds);
        return st;
    }
    *out = ds;
    return DY_OK;
}

dy_status dy_dataset_holdout(dy_ctx *ctx, const dy_dataset *src, int64_t n_val, uint64_t seed, dy_dataset **rest,
                             dy_dataset **val) {
    *rest = *val = NULL;
    uint8_t *mask = malloc((size_t)src->count + 1);
    if (!mask) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for a validation split");
    dy_status st = dy_holdout_mask(ctx, src->count, n_val, seed, mask);
    if (st == DY_OK) st = subset(ctx, src, mask, 0, src->count - n_val, rest);
    if (st == DY_OK && ((st = dy_dataset_copy_skipped(ctx, *rest, src)) != DY_OK ||
                        (st = subset(ctx, src, mask, 1, n_val, val)) != DY_OK)) {
        dy_dataset_free(*rest);
        *rest = NULL;
    }
    free(mask);
    return st;
}
