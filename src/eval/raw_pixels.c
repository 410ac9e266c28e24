/* The raw-pixel baseline: both evaluation protocols on flattened images scaled to [0, 1]. */
#include <string.h>
#include <time.h>

#include "core/context.h"
#include "dystress/eval.h"

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

dy_status dy_eval_pixel_features(dy_ctx *ctx, const uint8_t *images, int64_t n, int64_t pixels, float **features) {
    *features = NULL;
    if (!images || n < 0 || pixels < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "pixel features: %lld images of %lld pixels%s", (long long)n,
                       (long long)pixels, images ? "" : ", images NULL");
    float *f = dy_alloc((size_t)(n * pixels) * sizeof *f);
    if (!f)
        return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for %lld x %lld pixel features", (long long)n,
                       (long long)pixels);
    const int threads = ctx ? dy_ctx_threads(ctx) : 1;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n * pixels; i++) f[i] = (float)images[i] * (1.0f / 255.0f);
    *features = f;
    return DY_OK;
}

void dy_raw_baseline_free(dy_raw_baseline *b) {
    if (!b) return;
    dy_eval_accuracy_free(&b->knn);
    dy_eval_accuracy_free(&b->linear);
}

dy_status dy_eval_raw_pixels(dy_ctx *ctx, const uint8_t *train_images, const int64_t *train_labels, int64_t n_train,
                             const uint8_t *test_images, const int64_t *test_labels, int64_t n_test, int64_t pixels,
                             int64_t classes, const dy_knn_options *knn_opts, const dy_probe_options *probe_opts,
                             dy_raw_baseline *out) {
    if (!out) return dy_fail(ctx, DY_ERR_INVALID, "raw-pixel baseline: output is NULL");
    memset(out, 0, sizeof *out);
    if (!train_images || !test_images || !train_labels || !test_labels)
        return dy_fail(ctx, DY_ERR_INVALID, "raw-pixel baseline: images or labels are NULL");
    if (n_train < 1 || n_test < 1 || pixels < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "raw-pixel baseline: %lld train and %lld test images of %lld pixels",
                       (long long)n_train, (long long)n_test, (long long)pixels);
    float *train = NULL, *test = NULL;
    dy_probe *probe = NULL;
    dy_status st = dy_eval_pixel_features(ctx, train_images, n_train, pixels, &train);
    if (st == DY_OK) st = dy_eval_pixel_features(ctx, test_images, n_test, pixels, &test);
    if (st != DY_OK) goto done;
    double t0 = seconds_now();
    st = dy_knn_evaluate(ctx, train, train_labels, n_train, test, test_labels, n_test, pixels, classes, knn_opts, NULL,
                         &out->knn);
    out->knn_seconds = seconds_now() - t0;
    if (st != DY_OK) goto done;
    t0 = seconds_now();
    st = dy_probe_create(ctx, &probe, pixels, classes, probe_opts);
    if (st == DY_OK) st = dy_probe_train_cached(ctx, probe, train, train_labels, n_train, NULL, NULL);
    if (st == DY_OK) st = dy_probe_evaluate(ctx, probe, test, test_labels, n_test, NULL, &out->linear);
    out->linear_seconds = seconds_now() - t0;
done:
    if (st != DY_OK) dy_raw_baseline_free(out);
    dy_probe_destroy(probe);
    dy_free(train);
    dy_free(test);
    return st;
}

