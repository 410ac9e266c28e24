/* Features of a data set through a model, and its labels in the evaluation API's type. */
#include "eval/embed.h"

#include <stdlib.h>

#include "core/context.h"

dy_status dy_embed_dataset(dy_ctx *ctx, dy_model *model, const dy_dataset *ds, const dy_augment *eval_aug,
                           int64_t batch_size, bool normalize, float **features, int64_t *dim) {
    *features = NULL;
    int64_t fd = dy_model_feature_dim(model);
    float *f = malloc((size_t)(ds->count * fd) * sizeof(float));
    if (!f) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for %lld features", (long long)ds->count);
    dy_eval_iter *it;
    dy_status st = dy_eval_iter_create(ctx, &it, ds, eval_aug, batch_size);
    if (st != DY_OK) {
        free(f);
        return st;
    }
    dy_batch b;
    int64_t row = 0;
    while (dy_eval_iter_next(it, &b)) {
        st = dy_model_embed(model, b.images, b.batch_size, b.height, b.width, f + row * fd);
        if (st != DY_OK) break;
        row += b.batch_size;
    }
    dy_eval_iter_destroy(it);
    if (st == DY_OK && row != ds->count)
        st = dy_fail(ctx, DY_ERR_INTERNAL, "embedded %lld of %lld images", (long long)row, (long long)ds->count);
    if (st != DY_OK) {
        free(f);
        return st;
    }
    if (normalize && (st = dy_l2_normalize(ctx, f, f, ds->count, fd)) != DY_OK) {
        free(f);
        return st;
    }
    *features = f;
    *dim = fd;
    return DY_OK;
}

int64_t *dy_labels_int64(const dy_dataset *ds) {
    int64_t *l = malloc((size_t)(ds->count > 0 ? ds->count : 1) * sizeof(int64_t));
    if (l)
        for (int64_t i = 0; i < ds->count; i++) l[i] = ds->labels[i];
    return l;
}
