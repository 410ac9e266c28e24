/* Evaluation benchmarks: the raw-pixel baseline on Fashion-MNIST (kNN k 200 t 0.1 and the linear probe, top-1/top-5
 * and time), and the cost of the kNN monitor on 512-d features (the ResNet-18 embedding size).
 *
 * Usage: bench_eval [--data DIR] [--train N] [--test N] [--epochs E] [--threads T] [--variants] [--monitor-test N]
 *   --variants also runs the probe on L2-normalised and on standardised pixels (the protocol choice for raw pixels).
 * The images come through the library's reader (dy_dataset_load_mnist). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "dystress.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int64_t *labels_i64(const int32_t *l, int64_t n) {
    int64_t *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) y[i] = l[i];
    return y;
}

static void probe_variant(dy_ctx *ctx, const char *name, float *train, const int64_t *ty, int64_t n_train, float *test,
                          const int64_t *sy, int64_t n_test, int64_t d, const dy_probe_options *po) {
    dy_probe *p = NULL;
    dy_eval_accuracy acc = {0};
    double t0 = now();
    if (dy_probe_create(ctx, &p, d, 10, po) || dy_probe_train_cached(ctx, p, train, ty, n_train, NULL, NULL) ||
        dy_probe_evaluate(ctx, p, test, sy, n_test, NULL, &acc)) {
        fprintf(stderr, "probe %s: %s\n", name, dy_ctx_error(ctx));
    } else {
        printf("linear probe on %-22s top-1 %6.2f %%  top-5 %6.2f %%  (%.1f s)\n", name, 100 * acc.top1,
               100 * acc.top5, now() - t0);
    }
    dy_eval_accuracy_free(&acc);
    dy_probe_destroy(p);
}

int main(int argc, char **argv) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    int64_t want_train = 60000, want_test = 10000, monitor_test = 2000;
    int threads = 0, variants = 0;
    dy_probe_options po = dy_probe_defaults();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--train") && i + 1 < argc) want_train = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--test") && i + 1 < argc) want_test = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) po.epochs = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--monitor-test") && i + 1 < argc) monitor_test = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--variants")) variants = 1;
        else {
            fprintf(stderr, "usage: %s [--data DIR] [--train N] [--test N] [--epochs E] [--threads T] [--variants] "
                            "[--monitor-test N]\n", argv[0]);
            return 2;
        }
    }
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = threads};
    if (dy_ctx_create(&ctx, &co) != DY_OK) return 1;
    printf("threads %d, backend %s\n", dy_ctx_threads(ctx), dy_backend_name(dy_ctx_backend(ctx)));

    dy_dataset *train = NULL, *test = NULL;
    if (dy_dataset_load_mnist(ctx, &train, dir, DY_SPLIT_TRAIN) != DY_OK ||
        dy_dataset_load_mnist(ctx, &test, dir, DY_SPLIT_TEST) != DY_OK) {
        printf("Fashion-MNIST not usable under %s (%s): skipping raw pixels\n", dir, dy_ctx_error(ctx));
    } else {
        /* Shallow subsets: the first N images. */
        if (want_train < train->count) train->count = want_train;
        if (want_test < test->count) test->count = want_test;
        const int64_t n_train = train->count, n_test = test->count;
        const int64_t px = (int64_t)train->channels * train->height * train->width;
        const uint8_t *xtr = train->pixels, *xte = test->pixels;
        int64_t *ytr = labels_i64(train->labels, n_train), *yte = labels_i64(test->labels, n_test);
        printf("Fashion-MNIST raw pixels: %lld train, %lld test, %lld pixels; probe %lld epochs, batch %lld\n",
               (long long)n_train, (long long)n_test, (long long)px, (long long)po.epochs, (long long)po.batch_size);
        dy_raw_baseline b;
        if (dy_eval_raw_pixels(ctx, xtr, ytr, n_train, xte, yte, n_test, px, train->num_classes, NULL, &po, &b) !=
            DY_OK) {
            fprintf(stderr, "raw pixels: %s\n", dy_ctx_error(ctx));
        } else {
            printf("kNN (k 200, t 0.1)                 top-1 %6.2f %%  top-5 %6.2f %%  (%.1f s)\n", 100 * b.knn.top1,
                   100 * b.knn.top5, b.knn_seconds);
            printf("linear probe on pixels in [0, 1]   top-1 %6.2f %%  top-5 %6.2f %%  (%.1f s)\n",
                   100 * b.linear.top1, 100 * b.linear.top5, b.linear_seconds);
            printf("per-class kNN top-1:");
            for (int c = 0; c < 10; c++) printf(" %.1f", 100 * b.knn.class_top1[c]);
            printf("\n");
            dy_raw_baseline_free(&b);
        }
        if (variants) {
            float *ftr = malloc((size_t)(n_train * px) * 4), *fte = malloc((size_t)(n_test * px) * 4);
            /* L2-normalised rows. */
            for (int pass = 0; pass < 2; pass++) {
                float *f = pass ? fte : ftr;
                const uint8_t *x = pass ? xte : xtr;
                int64_t n = pass ? n_test : n_train;
                for (int64_t i = 0; i < n; i++) {
                    double s = 0;
                    for (int64_t p = 0; p < px; p++) s += (double)x[i * px + p] * x[i * px + p];
                    double inv = s > 0 ? 1 / sqrt(s) : 0;
                    for (int64_t p = 0; p < px; p++) f[i * px + p] = (float)(x[i * px + p] * inv);
                }
            }
            probe_variant(ctx, "L2-normalised pixels", ftr, ytr, n_train, fte, yte, n_test, px, &po);
            /* Standardised with the training set's per-pixel mean and std. */
            double *mean = calloc((size_t)px, sizeof *mean), *sd = calloc((size_t)px, sizeof *sd);
            for (int64_t i = 0; i < n_train; i++)
                for (int64_t p = 0; p < px; p++) mean[p] += xtr[i * px + p] / 255.0 / (double)n_train;
            for (int64_t i = 0; i < n_train; i++)
                for (int64_t p = 0; p < px; p++) {
                    double d = xtr[i * px + p] / 255.0 - mean[p];
                    sd[p] += d * d / (double)n_train;
                }
            for (int pass = 0; pass < 2; pass++) {
                float *f = pass ? fte : ftr;
                const uint8_t *x = pass ? xte : xtr;
                int64_t n = pass ? n_test : n_train;
                for (int64_t i = 0; i < n; i++)
                    for (int64_t p = 0; p < px; p++)
                        f[i * px + p] = (float)((x[i * px + p] / 255.0 - mean[p]) / (sqrt(sd[p]) + 1e-6));
            }
            probe_variant(ctx, "standardised pixels", ftr, ytr, n_train, fte, yte, n_test, px, &po);
            free(mean);
            free(sd);
            free(ftr);
            free(fte);
        }
        free(ytr);
        free(yte);
    }
    dy_dataset_free(train);
    dy_dataset_free(test);

    /* The kNN monitor's cost on ResNet-18-sized features: 60000 x 512 bank, monitor_test queries. */
    if (monitor_test > 0) {
        const int64_t nb = 60000, d = 512;
        float *bank = malloc((size_t)(nb * d) * 4), *q = malloc((size_t)(monitor_test * d) * 4);
        int64_t *yb = malloc((size_t)nb * 8), *r = malloc((size_t)monitor_test * DY_EVAL_TOPK * 8);
        dy_rng g;
        dy_rng_init(&g, 1, DY_RNG_EVAL, 9, 0);
        for (int64_t i = 0; i < nb * d; i++) bank[i] = dy_rng_uniform(&g) - 0.5f;
        for (int64_t i = 0; i < monitor_test * d; i++) q[i] = dy_rng_uniform(&g) - 0.5f;
        for (int64_t i = 0; i < nb; i++) yb[i] = i % 10;
        dy_knn_options ko = dy_knn_defaults();
        double t0 = now();
        if (dy_knn_classify(ctx, bank, yb, nb, q, monitor_test, d, 10, &ko, r, NULL) != DY_OK)
            fprintf(stderr, "monitor: %s\n", dy_ctx_error(ctx));
        double t = now() - t0;
        printf("kNN monitor, 60000 x 512 bank: %lld queries in %.2f s (%.1f GFLOP/s; 10000 queries ~ %.0f s)\n",
               (long long)monitor_test, t, 2.0 * nb * d * monitor_test / t / 1e9, t * 10000.0 / monitor_test);
        free(bank);
        free(q);
        free(yb);
        free(r);
    }
    dy_ctx_destroy(ctx);
    return 0;
}
