/* The evaluation iterator: the data set in its order, every image once (no drop-last), Resize + CenterCrop +
 * Normalize only. Runs in the caller's thread, OpenMP over the images of a batch. */
#include <stdlib.h>

#include "core/context.h"
#include "data/augment/augment.h"

struct dy_eval_iter {
    const dy_dataset *ds;
    dy_augment tf;
    int64_t batch_size, pos, row;
    int threads;
    float *images;
    int32_t *labels;
    int64_t *indices;
};

void dy_eval_iter_destroy(dy_eval_iter *it) {
    if (!it) return;
    dy_free(it->images);
    free(it->labels);
    free(it->indices);
    free(it);
}

dy_status dy_eval_iter_create(dy_ctx *ctx, dy_eval_iter **out, const dy_dataset *ds, const dy_augment *eval,
                              int64_t batch_size) {
    if (!out || !ds || !eval) return dy_fail(ctx, DY_ERR_INVALID, "dy_eval_iter_create: NULL argument");
    *out = NULL;
    dy_status st = dy_augment_check(ctx, eval);
    if (st != DY_OK) return st;
    if (batch_size < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "eval iterator: batch size %lld < 1", (long long)batch_size);
    if (ds->channels != 1 && ds->channels != 3)
        return dy_fail(ctx, DY_ERR_INVALID, "eval iterator: %d channels (expected 1 or 3)", ds->channels);
    dy_eval_iter *it = calloc(1, sizeof *it);
    if (!it) return dy_fail(ctx, DY_ERR_NOMEM, "eval iterator: out of memory");
    it->ds = ds;
    it->tf = *eval;
    it->batch_size = batch_size;
    it->threads = ctx ? ctx->threads : 1;
    it->row = (int64_t)ds->channels * eval->size[0] * eval->size[1];
    it->images = dy_alloc(sizeof(float) * (size_t)(batch_size * it->row));
    it->labels = malloc(sizeof(int32_t) * (size_t)batch_size);
    it->indices = malloc(sizeof(int64_t) * (size_t)batch_size);
    if (!it->images || !it->labels || !it->indices) {
        dy_eval_iter_destroy(it);
        return dy_fail(ctx, DY_ERR_NOMEM, "eval iterator: out of memory for a batch of %lld", (long long)batch_size);
    }
    *out = it;
    return DY_OK;
}

bool dy_eval_iter_next(dy_eval_iter *it, dy_batch *out) {
    if (!it || !out || it->pos >= it->ds->count) return false;
    const dy_dataset *ds = it->ds;
    int64_t n = ds->count - it->pos;
    if (n > it->batch_size) n = it->batch_size;
    const size_t per = (size_t)ds->channels * ds->height * ds->width;
    const int64_t hw = (int64_t)it->tf.size[0] * it->tf.size[1];
#pragma omp parallel for schedule(static) num_threads(it->threads)
    for (int64_t i = 0; i < n; i++) {
        const int64_t s = it->pos + i;
        float *dst = it->images + (size_t)i * it->row;
        dy_resize_center_crop(ds->pixels + (size_t)s * per, ds->channels, ds->height, ds->width, dst, it->tf.size[0],
                              it->tf.size[1]);
        if (it->tf.normalize) dy_normalize(dst, ds->channels, hw, it->tf.mean, it->tf.std);
        it->labels[i] = ds->labels[s];
        it->indices[i] = s;
    }
    out->images = it->images;
    out->labels = it->labels;
    out->indices = it->indices;
    out->batch_size = n;
    out->views = 1;
    out->channels = ds->channels;
    out->height = it->tf.size[0];
    out->width = it->tf.size[1];
    out->epoch = 0;
    out->step = it->pos / it->batch_size;
    it->pos += n;
    return true;
}

void dy_eval_iter_reset(dy_eval_iter *it) {
    if (it) it->pos = 0;
}
