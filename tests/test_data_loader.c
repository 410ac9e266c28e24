/* The loader: view-major layout, shuffled drop-last epochs, bit-identical batches for 1 and 2 worker threads and for
 * a run resumed mid-epoch (start options and seek), clean shutdown mid-epoch; the evaluation iterator. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment/augment.h"
#include "data/dataset.h"
#include "testlib.h"

enum { N = 100, B = 16, STEPS = N / B };

static dy_dataset *make_dataset(int channels, int side) {
    dy_dataset *ds = dy_dataset_alloc(N, channels, side, side);
    const int64_t per = (int64_t)channels * side * side;
    for (int64_t i = 0; i < N * per; i++) ds->pixels[i] = (uint8_t)((i * 2654435761u) >> 13);
    for (int i = 0; i < N; i++) ds->labels[i] = i % 10;
    dy_dataset_set_classes(NULL, ds, 10, NULL, "synthetic");
    ds->kind = DY_KIND_CIFAR10;
    return ds;
}

typedef struct {
    float *images;
    int32_t labels[B];
    int64_t indices[B], epoch, step;
} saved;

static void save(saved *s, const dy_batch *b, size_t floats) {
    s->images = malloc(sizeof(float) * floats);
    memcpy(s->images, b->images, sizeof(float) * floats);
    memcpy(s->labels, b->labels, sizeof s->labels);
    memcpy(s->indices, b->indices, sizeof s->indices);
    s->epoch = b->epoch;
    s->step = b->step;
}

static bool same(const saved *s, const dy_batch *b, size_t floats) {
    return s->epoch == b->epoch && s->step == b->step && memcmp(s->images, b->images, sizeof(float) * floats) == 0 &&
           memcmp(s->labels, b->labels, sizeof s->labels) == 0 &&
           memcmp(s->indices, b->indices, sizeof s->indices) == 0;
}

static void test_loader(dy_ctx *ctx, int channels) {
    dy_dataset *ds = make_dataset(channels, 32);
    dy_loader_options o = dy_loader_defaults();
    o.batch_size = B;
    o.seed = 1234;
    o.queue_depth = 3;
    CHECK(dy_augment_preset(ctx, &o.augment, "small", ds) == DY_OK, "preset");
    const int total = 3 * STEPS + 2; /* crosses two epoch boundaries */
    const size_t floats = (size_t)2 * B * channels * 32 * 32;
    saved ref[3 * STEPS + 2];
    /* one worker thread: the reference run */
    o.threads = 1;
    dy_loader *ld = NULL;
    if (!CHECK(dy_loader_create(ctx, &ld, ds, &o) == DY_OK, "loader (1 thread): %s", dy_ctx_error(ctx))) return;
    CHECK(dy_loader_steps_per_epoch(ld) == STEPS, "drop-last: %d steps", STEPS);
    dy_batch b;
    for (int k = 0; k < total; k++) {
        dy_loader_next(ld, &b);
        save(&ref[k], &b, floats);
    }
    dy_loader_destroy(ld);
    CHECK(b.batch_size == B && b.views == 2 && b.channels == channels && b.height == 32 && b.width == 32,
          "batch shape [2*%d, %d, 32, 32]", B, channels);
    /* order, epochs and shuffle */
    int order_ok = 1, labels_ok = 1;
    for (int e = 0; e < 3; e++) {
        int seen[N] = {0};
        for (int s = 0; s < STEPS; s++) {
            const saved *r = &ref[e * STEPS + s];
            order_ok &= r->epoch == e && r->step == s;
            for (int i = 0; i < B; i++) {
                seen[r->indices[i]]++;
                labels_ok &= r->labels[i] == ds->labels[r->indices[i]];
            }
        }
        int distinct = 0, dup = 0;
        for (int i = 0; i < N; i++) distinct += seen[i] == 1, dup += seen[i] > 1;
        CHECK(distinct == STEPS * B && dup == 0, "epoch %d: %d distinct images, none twice", e, distinct);
    }
    CHECK(order_ok && labels_ok, "batches in order (epoch, step); labels match indices");
    CHECK(memcmp(ref[0].indices, ref[STEPS].indices, sizeof ref[0].indices) != 0, "each epoch has its own order");
    /* layout: row v * B + i is view v of image indices[i], from the stream (seed, epoch, sample * 8 + v) */
    const size_t row = (size_t)channels * 32 * 32;
    float *view = malloc(sizeof(float) * row);
    int layout_ok = 1;
    for (int k = 0; k < total; k += 7)
        for (int v = 0; v < 2; v++)
            for (int i = 0; i < B; i += 5) {
                dy_augment_view(ctx, &o.augment, ds->pixels + ref[k].indices[i] * row, channels, 32, 32, view, o.seed,
                                ref[k].epoch, ref[k].indices[i], v);
                layout_ok &= memcmp(view, ref[k].images + (v * B + i) * row, sizeof(float) * row) == 0;
            }
    CHECK(layout_ok, "view-major layout [V*B, C, H, W], each view from its own stream");
    CHECK(memcmp(ref[0].images, ref[0].images + B * row, sizeof(float) * row) != 0, "two views differ");
    free(view);
    /* two worker threads, deeper queue: bit-identical */
    o.threads = 2;
    o.queue_depth = 4;
    CHECK(dy_loader_create(ctx, &ld, ds, &o) == DY_OK, "loader (2 threads)");
    int ident = 1;
    for (int k = 0; k < total && ld; k++) {
        dy_loader_next(ld, &b);
        ident &= same(&ref[k], &b, floats);
    }
    CHECK(ident, "1 and 2 threads give bit-identical batches (%d batches, %d channels)", total, channels);
    /* seek back mid-epoch */
    if (ld) {
        dy_loader_seek(ld, 1, 3);
        dy_loader_next(ld, &b);
        int ok = same(&ref[STEPS + 3], &b, floats);
        dy_loader_next(ld, &b);
        ok &= same(&ref[STEPS + 4], &b, floats);
        CHECK(ok, "seek to epoch 1 step 3 replays the same batches");
        CHECK(dy_loader_seek(ld, 0, STEPS) == DY_ERR_INVALID, "seek past the epoch refused");
        dy_loader_destroy(ld);
    }
    /* a fresh loader resumed mid-epoch with 3 threads */
    o.threads = 3;
    o.start_epoch = 2;
    o.start_step = 1;
    CHECK(dy_loader_create(ctx, &ld, ds, &o) == DY_OK, "resumed loader");
    ident = 1;
    for (int k = 2 * STEPS + 1; k < total && ld; k++) {
        dy_loader_next(ld, &b);
        ident &= same(&ref[k], &b, floats);
    }
    CHECK(ident, "resumed at epoch 2 step 1: the same batches as the uninterrupted run");
    dy_loader_destroy(ld);
    /* clean shutdown mid-epoch, with workers busy and the queue full */
    o.start_epoch = 0;
    o.start_step = 0;
    o.threads = 2;
    CHECK(dy_loader_create(ctx, &ld, ds, &o) == DY_OK, "loader");
    dy_loader_next(ld, &b);
    dy_loader_destroy(ld);
    CHECK(dy_loader_create(ctx, &ld, ds, &o) == DY_OK, "loader destroyed before any batch");
    dy_loader_destroy(ld);
    /* no shuffle: identity order */
    o.shuffle = false;
    o.views = 3;
    CHECK(dy_loader_create(ctx, &ld, ds, &o) == DY_OK, "unshuffled, 3 views");
    dy_loader_next(ld, &b);
    dy_loader_next(ld, &b);
    CHECK(b.indices[0] == B && b.indices[B - 1] == 2 * B - 1 && b.views == 3, "unshuffled order, 3 views");
    dy_loader_destroy(ld);
    for (int k = 0; k < total; k++) free(ref[k].images);
    dy_dataset_free(ds);
}

static void test_errors(dy_ctx *ctx) {
    dy_dataset *ds = make_dataset(3, 8);
    dy_loader_options o = dy_loader_defaults();
    dy_augment_preset(ctx, &o.augment, "small", ds);
    dy_loader *ld = NULL;
    o.batch_size = N + 1;
    CHECK(dy_loader_create(ctx, &ld, ds, &o) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "one batch"),
          "batch larger than the data set: %s", dy_ctx_error(ctx));
    o.batch_size = 10;
    o.views = 9;
    CHECK(dy_loader_create(ctx, &ld, ds, &o) == DY_ERR_INVALID, "9 views refused");
    o.views = 2;
    o.start_step = 10;
    CHECK(dy_loader_create(ctx, &ld, ds, &o) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "step 10"),
          "start step past the epoch: %s", dy_ctx_error(ctx));
    o.start_step = 0;
    o.augment.std[1] = 0;
    CHECK(dy_loader_create(ctx, &ld, ds, &o) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "std[1]"),
          "zero std refused: %s", dy_ctx_error(ctx));
    CHECK(ld == NULL, "nothing created on errors");
    dy_dataset_free(ds);
}

static void test_eval(dy_ctx *ctx) {
    dy_dataset *ds = make_dataset(3, 12);
    dy_augment ev;
    CHECK(dy_augment_preset(ctx, &ev, "eval", ds) == DY_OK, "eval preset");
    CHECK(dy_augment_set(ctx, &ev, "size", "10") == DY_OK, "eval size 10");
    dy_eval_iter *it = NULL;
    if (!CHECK(dy_eval_iter_create(ctx, &it, ds, &ev, B) == DY_OK, "eval iterator: %s", dy_ctx_error(ctx))) return;
    dy_batch b;
    int batches = 0, seen = 0, ok = 1;
    float want[3 * 10 * 10];
    while (dy_eval_iter_next(it, &b)) {
        for (int i = 0; i < b.batch_size; i++) {
            ok &= b.indices[i] == seen && b.labels[i] == ds->labels[seen];
            dy_resize_center_crop(ds->pixels + (size_t)seen * 3 * 144, 3, 12, 12, want, 10, 10);
            dy_normalize(want, 3, 100, ev.mean, ev.std);
            ok &= memcmp(want, b.images + (size_t)i * 300, sizeof want) == 0;
            seen++;
        }
        batches++;
        ok &= b.views == 1 && b.height == 10;
    }
    CHECK(batches == 7 && seen == N && b.batch_size == N - 6 * B, "eval: every image once, last batch %lld",
          (long long)b.batch_size);
    CHECK(ok, "eval: in order, resize + centre crop + normalise only");
    dy_eval_iter_reset(it);
    CHECK(dy_eval_iter_next(it, &b) && b.indices[0] == 0, "eval reset");
    dy_eval_iter_destroy(it);
    dy_dataset_free(ds);
}

int main(void) {
    dy_ctx *ctx;
    dy_ctx_options o = {.threads = 2, .backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return 1;
    test_loader(ctx, 3);
    test_loader(ctx, 1);
    test_errors(ctx);
    test_eval(ctx);
    dy_ctx_destroy(ctx);
    return test_finish();
}
