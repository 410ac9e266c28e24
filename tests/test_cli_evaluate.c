/* The CLI's evaluation helpers (src/cli/evaluate.c): features come out as the encoder (or the pixel scaling) gives
 * them, the kNN does not depend on their norms, and the linear probe trains on them as given (the reference code's
 * linear.py) or, when asked, on normalised copies, leaving the caller's features untouched. Each protocol is compared
 * with the library call it must equal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/evaluate.h"
#include "core/rng.h"
#include "testlib.h"
#include "eval/embed.h"
#include "train/pretrain.h"

enum { N_TRAIN = 240, N_TEST = 60, SIDE = 4, PIX = SIDE * SIDE, CLASSES = 3 };

/* Classes 0 and 1 light the pixels p = 0 and p = 1 (mod 3) of dim images; class 2 has class 1's pattern but is
 * three times brighter. Normalised rows lose the brightness, so only the features as given separate classes 1 and
 * 2: a probe on them beats one on normalised copies, whatever the optimiser's luck. */
static void make_split(dy_dataset *ds, uint8_t *pixels, int32_t *labels, int64_t *counts, int64_t n, uint32_t stream) {
    dy_rng r;
    dy_rng_init(&r, 11, DY_RNG_EVAL, stream, 0);
    memset(counts, 0, sizeof(int64_t) * CLASSES);
    for (int64_t i = 0; i < n; i++) {
        labels[i] = (int32_t)(i % CLASSES);
        counts[labels[i]]++;
        double gain = (labels[i] == 2 ? 0.9 : 0.3) + 0.1 * dy_rng_uniform(&r);
        int pattern = labels[i] == 2 ? 1 : labels[i];
        for (int p = 0; p < PIX; p++) {
            double v = gain * ((p % CLASSES == pattern ? 200 : 60) + 30 * dy_rng_normal(&r));
            pixels[i * PIX + p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    *ds = (dy_dataset){.count = n, .channels = 1, .height = SIDE, .width = SIDE, .pixels = pixels, .labels = labels,
                       .num_classes = CLASSES, .class_counts = counts};
}

static float *normalised(const float *x, int64_t n, int64_t d) {
    float *y = malloc(sizeof(float) * (size_t)(n * d));
    for (int64_t i = 0; i < n; i++) {
        double ss = 0;
        for (int64_t k = 0; k < d; k++) ss += (double)x[i * d + k] * x[i * d + k];
        float inv = (float)(1.0 / fmax(sqrt(ss), 1e-12));
        for (int64_t k = 0; k < d; k++) y[i * d + k] = x[i * d + k] * inv;
    }
    return y;
}

/* top-1 of dy_probe trained on the given features directly */
static double probe_top1(dy_ctx *ctx, const float *ftr, const int64_t *ytr, const float *fte, const int64_t *yte,
                         int64_t d, const dy_probe_options *po) {
    dy_probe *p = NULL;
    dy_eval_accuracy acc = {0};
    double top1 = -1;
    if (dy_probe_create(ctx, &p, d, CLASSES, po) == DY_OK &&
        dy_probe_train_cached(ctx, p, ftr, ytr, N_TRAIN, NULL, NULL) == DY_OK &&
        dy_probe_evaluate(ctx, p, fte, yte, N_TEST, NULL, &acc) == DY_OK)
        top1 = acc.top1;
    dy_eval_accuracy_free(&acc);
    dy_probe_destroy(p);
    return top1;
}

int main(void) {
    static uint8_t ptr[N_TRAIN * PIX], pte[N_TEST * PIX];
    static int32_t ltr[N_TRAIN], lte[N_TEST];
    int64_t ctr[CLASSES], cte[CLASSES];
    dy_dataset train, test;
    make_split(&train, ptr, ltr, ctr, N_TRAIN, 1);
    make_split(&test, pte, lte, cte, N_TEST, 2);
    int64_t *ytr = dy_labels_int64(&train), *yte = dy_labels_int64(&test);
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 2};
    CHECK(dy_ctx_create(&ctx, &co) == DY_OK, "context");

    /* pixels: scaled to [0, 1], not normalised */
    float *ftr = NULL, *fte = NULL;
    int64_t dim = 0;
    CHECK(cli_features(ctx, NULL, &train, &train, &ftr, &dim) == DY_OK &&
              cli_features(ctx, NULL, &train, &test, &fte, &dim) == DY_OK && dim == PIX,
          "pixel features: %s (dim %lld)", dy_ctx_error(ctx), (long long)dim);
    int64_t wrong = 0;
    for (int64_t i = 0; i < N_TRAIN * PIX; i++) wrong += ftr[i] != (float)ptr[i] * (1.0f / 255.0f);
    CHECK(wrong == 0, "pixel features are the pixels / 255 as given (%lld differ)", (long long)wrong);

    float *ntr = normalised(ftr, N_TRAIN, PIX), *nte = normalised(fte, N_TEST, PIX);
    float *keep = malloc(sizeof(float) * N_TRAIN * PIX);
    memcpy(keep, ftr, sizeof(float) * N_TRAIN * PIX);

    /* kNN: cosine similarity, so the same votes on raw and on normalised features */
    eval_scores kr, kn;
    CHECK(cli_knn(ctx, ftr, &train, fte, &test, dim, 20, 0.1, false, &kr) == DY_OK &&
              cli_knn(ctx, ntr, &train, nte, &test, dim, 20, 0.1, false, &kn) == DY_OK,
          "kNN: %s", dy_ctx_error(ctx));
    CHECK(kr.top1 == kn.top1 && kr.top5 == kn.top5, "kNN on raw %.4f and normalised %.4f features", kr.top1, kn.top1);

    /* the probe: as given by default, normalised copies when asked */
    dy_probe_options po = dy_probe_defaults();
    po.epochs = 15;
    po.batch_size = 32;
    po.lr = 1e-2;
    eval_scores lr_, ln_;
    CHECK(cli_linear_cached(ctx, ftr, &train, fte, &test, dim, &po, false, false, &lr_) == DY_OK &&
              cli_linear_cached(ctx, ftr, &train, fte, &test, dim, &po, true, false, &ln_) == DY_OK,
          "linear probe: %s", dy_ctx_error(ctx));
    double want_raw = probe_top1(ctx, ftr, ytr, fte, yte, dim, &po);
    double want_norm = probe_top1(ctx, ntr, ytr, nte, yte, dim, &po);
    CHECK(lr_.top1 == want_raw, "probe on features as given: %.4f, dy_probe on them %.4f", lr_.top1, want_raw);
    CHECK(ln_.top1 == want_norm, "probe with normalize: %.4f, dy_probe on normalised features %.4f", ln_.top1,
          want_norm);
    /* normalised, classes 1 and 2 look alike: at most 2/3 right; as given, all three classes are separable */
    CHECK(want_raw > 0.9 && want_norm > 0.5 && want_norm < 0.75, "probe on features as given %.3f, on normalised "
          "features %.3f (expected > 0.9 and about 2/3)", want_raw, want_norm);
    CHECK(memcmp(keep, ftr, sizeof(float) * N_TRAIN * PIX) == 0, "the caller's features are left as they were");

    /* an encoder: h as the model gives it, the same rows dy_embed_dataset normalises */
    dy_model_config mc = dy_model_config_default();
    mc.width = 4;
    mc.in_channels = 1;
    mc.head = false;
    dy_model *m = NULL;
    float *h = NULL, *hn = NULL;
    int64_t hd = 0, hnd = 0;
    dy_augment eval_aug;
    CHECK(dy_model_create(ctx, &mc, 3, &m) == DY_OK, "model: %s", dy_ctx_error(ctx));
    CHECK(dy_augment_preset(ctx, &eval_aug, "eval", &train) == DY_OK, "eval preset");
    CHECK(cli_features(ctx, m, &train, &test, &h, &hd) == DY_OK &&
              dy_embed_dataset(ctx, m, &test, &eval_aug, 256, true, &hn, &hnd) == DY_OK && hd == hnd && hd == 32,
          "encoder features: %s (dim %lld)", dy_ctx_error(ctx), (long long)hd);
    if (h && hn && hd == hnd) {
        float *h_unit = normalised(h, N_TEST, hd);
        double far_from_unit = 0;
        for (int64_t i = 0; i < N_TEST; i++) {
            double ss = 0;
            for (int64_t k = 0; k < hd; k++) ss += (double)h[i * hd + k] * h[i * hd + k];
            far_from_unit = fmax(far_from_unit, fabs(sqrt(ss) - 1));
        }
        CHECK(far_from_unit > 1e-3, "encoder features are not normalised (largest |norm - 1| %.3g)", far_from_unit);
        test_close("encoder features normalised = dy_embed_dataset's", h_unit, hn, (size_t)(N_TEST * hd), 1e-6);
        free(h_unit);
    }
    free(h);
    free(hn);
    dy_model_destroy(m);
    free(ftr);
    free(fte);
    free(ntr);
    free(nte);
    free(keep);
    free(ytr);
    free(yte);
    dy_ctx_destroy(ctx);
    return test_finish();
}
