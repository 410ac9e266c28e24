/* The raw-pixel baseline: on synthetic images (three classes, each a fixed pattern plus noise) both protocols are
 * near-perfect, the kNN part equals dy_knn_evaluate on the pixels scaled to [0, 1], and bad arguments are refused. */
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/rng.h"
#include "dystress/eval.h"
#include "testlib.h"

static void make_images(uint8_t *x, int64_t *y, int64_t n, int64_t pixels, uint32_t stream) {
    dy_rng r;
    dy_rng_init(&r, 4, DY_RNG_EVAL, stream, 0);
    for (int64_t i = 0; i < n; i++) {
        y[i] = i % 3;
        for (int64_t p = 0; p < pixels; p++) {
            /* class c lights the pixels p = c (mod 3), brighter towards the end */
            double base = p % 3 == y[i] ? 100 + 100.0 * p / pixels : 20;
            double v = base + 40 * dy_rng_normal(&r);
            x[i * pixels + p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

int main(void) {
    const int64_t n_train = 300, n_test = 90, pixels = 48;
    uint8_t *xtr = malloc((size_t)(n_train * pixels)), *xte = malloc((size_t)(n_test * pixels));
    int64_t *ytr = malloc((size_t)n_train * 8), *yte = malloc((size_t)n_test * 8);
    make_images(xtr, ytr, n_train, pixels, 1);
    make_images(xte, yte, n_test, pixels, 2);
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 2, .backend = DY_BACKEND_REF};
    dy_ctx_create(&ctx, &co);
    dy_knn_options ko = dy_knn_defaults();
    ko.k = 20;
    dy_probe_options po = dy_probe_defaults();
    po.epochs = 30;
    po.batch_size = 32;
    po.lr = 1e-2;
    dy_raw_baseline b;
    CHECK(dy_eval_raw_pixels(ctx, xtr, ytr, n_train, xte, yte, n_test, pixels, 3, &ko, &po, &b) == DY_OK,
          "raw pixels: %s", dy_ctx_error(ctx));
    CHECK(b.knn.top1 >= 0.95 && b.linear.top1 >= 0.95, "separable patterns: kNN %.3f, linear %.3f", b.knn.top1,
          b.linear.top1);
    CHECK(b.knn_seconds >= 0 && b.linear_seconds > 0, "times recorded");
    float *ftr = malloc((size_t)(n_train * pixels) * 4), *fte = malloc((size_t)(n_test * pixels) * 4);
    for (int64_t i = 0; i < n_train * pixels; i++) ftr[i] = xtr[i] / 255.0f;
    for (int64_t i = 0; i < n_test * pixels; i++) fte[i] = xte[i] / 255.0f;
    dy_eval_accuracy k;
    CHECK(dy_knn_evaluate(ctx, ftr, ytr, n_train, fte, yte, n_test, pixels, 3, &ko, NULL, &k) == DY_OK, "kNN");
    CHECK(k.correct_top1 == b.knn.correct_top1, "the baseline's kNN is kNN on pixels / 255 (%lld vs %lld)",
          (long long)k.correct_top1, (long long)b.knn.correct_top1);
    dy_eval_accuracy_free(&k);
    dy_raw_baseline_free(&b);
    CHECK(dy_eval_raw_pixels(ctx, xtr, ytr, n_train, NULL, yte, n_test, pixels, 3, &ko, &po, &b) == DY_ERR_INVALID,
          "missing test images refused");
    ytr[5] = 3;
    CHECK(dy_eval_raw_pixels(ctx, xtr, ytr, n_train, xte, yte, n_test, pixels, 3, &ko, &po, &b) == DY_ERR_INVALID &&
              b.knn.class_top1 == NULL,
          "label out of range refused: %s", dy_ctx_error(ctx));
    dy_ctx_destroy(ctx);
    free(xtr);
    free(xte);
    free(ytr);
    free(yte);
    free(ftr);
    free(fte);
    return test_finish();
}
