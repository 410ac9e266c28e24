/* Long-tailed subsets as CIFAR-10-LT / CIFAR-100-LT (Cao et al., LDAM): class c keeps
 * floor(n_max * ratio^(c / (C - 1))) of its images (at most all of them), a random choice per class. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/dataset.h"

dy_status dy_dataset_longtail(dy_ctx *ctx, dy_dataset **out, const dy_dataset *src, double ratio, uint64_t seed) {
    if (!out || !src) return dy_fail(ctx, DY_ERR_INVALID, "dy_dataset_longtail: NULL argument");
    *out = NULL;
    if (!(ratio > 0 && ratio <= 1)) return dy_fail(ctx, DY_ERR_INVALID, "long-tail ratio %g not in (0, 1]", ratio);
    const int C = src->num_classes;
    if (C < 2) return dy_fail(ctx, DY_ERR_INVALID, "long-tail subset needs a labelled data set with >= 2 classes");
    int64_t n_max = 0;
    for (int c = 0; c < C; c++)
        if (src->class_counts[c] > n_max) n_max = src->class_counts[c];
    int64_t *keep = calloc((size_t)C, sizeof(int64_t));
    int64_t *members = malloc(sizeof(int64_t) * (size_t)(n_max + 1));
    uint8_t *chosen = calloc((size_t)src->count + 1, 1);
    dy_status st = DY_OK;
    if (!keep || !members || !chosen) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "long-tail subset: out of memory");
        goto done;
    }
    int64_t total = 0;
    for (int c = 0; c < C; c++) {
        int64_t k = (int64_t)floor(n_max * pow(ratio, (double)c / (C - 1)) + 1e-9);
        keep[c] = k < src->class_counts[c] ? k : src->class_counts[c];
        /* The members of class c in order, then a seeded partial Fisher-Yates picks keep[c] of them. */
        int64_t m = 0;
        for (int64_t i = 0; i < src->count; i++)
            if (src->labels[i] == c) members[m++] = i;
        dy_rng r;
        dy_rng_init(&r, seed, DY_RNG_SUBSET, (uint32_t)c, 0);
        for (int64_t i = 0; i < keep[c]; i++) {
            int64_t j = i + (int64_t)dy_rng_below(&r, (uint64_t)(m - i));
            int64_t t = members[i];
            members[i] = members[j];
            members[j] = t;
            chosen[members[i]] = 1;
        }
        total += keep[c];
    }
    dy_dataset *ds = dy_dataset_alloc(total, src->channels, src->height, src->width);
    if (!ds) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "long-tail subset: out of memory for %lld images", (long long)total);
        goto done;
    }
    ds->kind = src->kind;
    const size_t per = (size_t)src->channels * src->height * src->width;
    int64_t j = 0;
    for (int64_t i = 0; i < src->count; i++) {
        if (!chosen[i]) continue;
        memcpy(ds->pixels + (size_t)j * per, src->pixels + (size_t)i * per, per);
        ds->labels[j++] = src->labels[i];
    }
    char **names = calloc((size_t)C, sizeof(char *));
    for (int c = 0; names && c < C; c++) {
        names[c] = strdup(src->class_names[c]);
        if (!names[c]) {
            dy_free_names(names, C);
            names = NULL;
        }
    }
    if (!names) {
        dy_dataset_free(ds);
        st = dy_fail(ctx, DY_ERR_NOMEM, "long-tail subset: out of memory");
        goto done;
    }
    st = dy_dataset_set_classes(ctx, ds, C, names, "long-tail subset");
    if (st != DY_OK) {
        dy_dataset_free(ds);
        goto done;
    }
    if ((st = dy_dataset_copy_skipped(ctx, ds, src)) != DY_OK) {
        dy_dataset_free(ds);
        goto done;
    }
    *out = ds;
done:
    free(keep);
    free(members);
    free(chosen);
    return st;
}
