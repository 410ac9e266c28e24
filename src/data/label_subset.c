/* Few labels: a seeded, class-balanced labelled subset of a training set (see dy_dataset_label_subset in data.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/dataset.h"

dy_status dy_dataset_label_subset(dy_ctx *ctx, dy_dataset **out, const dy_dataset *src, double fraction,
                                  int64_t per_class, uint64_t seed) {
    if (!out || !src) return dy_fail(ctx, DY_ERR_INVALID, "label subset: NULL argument");
    *out = NULL;
    if (!(fraction >= 0 && fraction <= 1))
        return dy_fail(ctx, DY_ERR_INVALID, "label fraction %g is not in (0, 1]", fraction);
    if (per_class < 0)
        return dy_fail(ctx, DY_ERR_INVALID, "labels per class %lld: expected at least 1", (long long)per_class);
    if (fraction == 0 && per_class == 0)
        return dy_fail(ctx, DY_ERR_INVALID, "label subset: give a fraction or a number of labels per class");
    const int C = src->num_classes;
    if (C < 1 || !src->class_counts)
        return dy_fail(ctx, DY_ERR_INVALID, "a labelled subset needs a labelled training set");
    /* the images of each class in their order: a counting sort by label (unlabelled images, -1, are left out) */
    int64_t *start = calloc((size_t)C + 1, sizeof(int64_t));
    int64_t *members = malloc(sizeof(int64_t) * (size_t)(src->count + 1));
    uint8_t *chosen = calloc((size_t)src->count + 1, 1);
    dy_status st = DY_OK;
    dy_dataset *ds = NULL;
    char **names = NULL;
    if (!start || !members || !chosen) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "label subset: out of memory for %lld images", (long long)src->count);
        goto done;
    }
    for (int c = 0; c < C; c++) start[c + 1] = start[c] + src->class_counts[c];
    {
        int64_t *fill = calloc((size_t)C, sizeof(int64_t));
        if (!fill) {
            st = dy_fail(ctx, DY_ERR_NOMEM, "label subset: out of memory");
            goto done;
        }
        for (int64_t i = 0; i < src->count; i++) {
            int32_t y = src->labels[i];
            if (y >= 0 && y < C) members[start[y] + fill[y]++] = i;
        }
        free(fill);
    }
    int64_t total = 0;
    for (int c = 0; c < C; c++) {
        int64_t n = src->class_counts[c], k = n;
        if (fraction > 0) {
            k = (int64_t)floor(fraction * (double)n + 0.5);
            if (k < 1) k = 1;
        }
        if (per_class > 0 && per_class < k) k = per_class;
        if (k > n) k = n;
        /* partial Fisher-Yates: the first k places of a random permutation of the class's images, so that a smaller
         * k of the same seed takes a prefix of a larger one's choice */
        int64_t *m = members + start[c];
        dy_rng r;
        dy_rng_init(&r, seed, DY_RNG_LABELS, (uint32_t)c, 0);
        for (int64_t i = 0; i < k; i++) {
            int64_t j = i + (int64_t)dy_rng_below(&r, (uint64_t)(n - i));
            int64_t t = m[i];
            m[i] = m[j];
            m[j] = t;
            chosen[m[i]] = 1;
        }
        total += k;
    }
    if (total < 1) {
        st = dy_fail(ctx, DY_ERR_INVALID, "a labelled subset of an empty training set");
        goto done;
    }
    if (!(ds = dy_dataset_alloc(total, src->channels, src->height, src->width))) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "label subset: out of memory for %lld images", (long long)total);
        goto done;
    }
    ds->kind = src->kind;
    const size_t per = (size_t)src->channels * src->height * src->width;
    for (int64_t i = 0, j = 0; i < src->count; i++) {
        if (!chosen[i]) continue;
        memcpy(ds->pixels + (size_t)j * per, src->pixels + (size_t)i * per, per);
        ds->labels[j++] = src->labels[i];
    }
    names = calloc((size_t)C, sizeof(char *));
    for (int c = 0; names && c < C; c++)
        if (!(names[c] = strdup(src->class_names ? src->class_names[c] : ""))) {
            dy_free_names(names, C);
            names = NULL;
        }
    if (!names) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "label subset: out of memory");
        goto done;
    }
    if ((st = dy_dataset_set_classes(ctx, ds, C, names, "label subset")) != DY_OK) goto done;
    *out = ds;
    ds = NULL;
done:
    dy_dataset_free(ds);
    free(start);
    free(members);
    free(chosen);
    return st;
}
