/* Alignment, uniformity and tolerance against tools/fixtures_loss.py (PyTorch, float64), plus their errors. */
#include "dystress.h"
#include "fixture.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    dy_ctx *ctx = NULL;
    dy_ctx_options o = {.threads = 2};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return 1;
    fx_file *f = fx_load(test_fixture_path("metrics.bin"));
    if (!CHECK(f != NULL, "metrics fixture")) return test_finish();
    const fx_tensor *xt = fx_get(f, "x");
    const int64_t n = xt->dims[0], d = xt->dims[1];
    const float *x = xt->data, *y = fx_f32(f, "y", NULL);
    const int64_t *labels = fx_get(f, "labels")->data, classes = ((const int64_t *)fx_get(f, "classes")->data)[0];
    double v = 0, frac = 0;
    CHECK(dy_metric_alignment(ctx, n, d, x, y, 2.0, &v) == DY_OK, "alignment: %s", dy_ctx_error(ctx));
    test_close_scalar("alignment (alpha 2)", v, fx_scalar(f, "alignment2"), 1e-6);
    CHECK(dy_metric_alignment(ctx, n, d, x, y, 1.0, &v) == DY_OK, "alignment alpha 1");
    test_close_scalar("alignment (alpha 1)", v, fx_scalar(f, "alignment1"), 1e-6);
    CHECK(dy_metric_uniformity(ctx, n, d, x, 2.0, &v) == DY_OK, "uniformity: %s", dy_ctx_error(ctx));
    /* similarities come from a float GEMM (error ~1e-7 per pair) */
    test_close_scalar("uniformity (t 2)", v, fx_scalar(f, "uniformity2"), 1e-5);
    CHECK(dy_metric_uniformity(ctx, n, d, x, 1.0, &v) == DY_OK, "uniformity t 1");
    test_close_scalar("uniformity (t 1)", v, fx_scalar(f, "uniformity1"), 1e-5);
    CHECK(dy_metric_tolerance(ctx, n, d, x, labels, classes, &v, &frac) == DY_OK, "tolerance: %s", dy_ctx_error(ctx));
    test_close_scalar("tolerance", v, fx_scalar(f, "tolerance"), 1e-6);
    /* fixture scalars are stored as float32 */
    test_close_scalar("same-class fraction", frac, fx_scalar(f, "same_class_fraction"), 1e-7);

    /* uniformity over many rows (several tiles, 2 threads) equals the 1-thread value bitwise */
    {
        const int64_t m = 700, e = 8;
        float *z = malloc(sizeof(float) * (size_t)(m * e));
        srand(3);
        for (int64_t i = 0; i < m * e; i++) z[i] = (float)((double)rand() / RAND_MAX) - 0.5f;
        dy_ctx *one = NULL;
        dy_ctx_options o1 = {.threads = 1};
        double u1 = 0, u2 = 1;
        bool ok = dy_ctx_create(&one, &o1) == DY_OK && dy_metric_uniformity(one, m, e, z, 2.0, &u1) == DY_OK &&
                  dy_metric_uniformity(ctx, m, e, z, 2.0, &u2) == DY_OK;
        CHECK(ok && u1 == u2, "uniformity over 700 rows: 1 and 2 threads equal (%.17g, %.17g)", u1, u2);
        /* against a plain double loop */
        double sum = 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = i + 1; j < m; j++) {
                double ni = 0, nj = 0, d2 = 0;
                for (int64_t k = 0; k < e; k++) {
                    ni += (double)z[i * e + k] * z[i * e + k];
                    nj += (double)z[j * e + k] * z[j * e + k];
                }
                for (int64_t k = 0; k < e; k++) {
                    double diff = z[i * e + k] / sqrt(ni) - z[j * e + k] / sqrt(nj);
                    d2 += diff * diff;
                }
                sum += exp(-2.0 * d2);
            }
        test_close_scalar("uniformity over 700 rows vs a double loop", u2, log(sum / (m * (m - 1) / 2.0)), 1e-5);
        dy_ctx_destroy(one);
        free(z);
    }

    /* errors */
    float bad[6] = {1, 0, NAN, 1, 0, 0}, zero[6] = {1, 0, 0, 0, 0, 0};
    int64_t lab[3] = {0, 1, 2}, lab_bad[3] = {0, 5, 0};
    CHECK(dy_metric_alignment(ctx, 3, 2, bad, bad, 2.0, &v) == DY_ERR_NUMERIC, "alignment NaN: %s", dy_ctx_error(ctx));
    CHECK(dy_metric_alignment(ctx, 3, 2, zero, x, 2.0, &v) == DY_ERR_INVALID, "alignment zero row: %s",
          dy_ctx_error(ctx));
    CHECK(dy_metric_alignment(ctx, 3, 2, x, x, 0.0, &v) == DY_ERR_INVALID, "alignment alpha 0: %s", dy_ctx_error(ctx));
    CHECK(dy_metric_alignment(ctx, 0, 2, x, x, 2.0, &v) == DY_ERR_INVALID, "alignment n 0: %s", dy_ctx_error(ctx));
    CHECK(dy_metric_uniformity(ctx, 1, 2, x, 2.0, &v) == DY_ERR_INVALID, "uniformity n 1: %s", dy_ctx_error(ctx));
    CHECK(dy_metric_uniformity(ctx, 3, 0, x, 2.0, &v) == DY_ERR_INVALID, "uniformity d 0: %s", dy_ctx_error(ctx));
    CHECK(dy_metric_uniformity(ctx, 3, 2, x, -1.0, &v) == DY_ERR_INVALID, "uniformity t < 0: %s", dy_ctx_error(ctx));
    CHECK(dy_metric_uniformity(ctx, 3, 2, bad, 2.0, &v) == DY_ERR_NUMERIC, "uniformity NaN: %s", dy_ctx_error(ctx));
    CHECK(dy_metric_tolerance(ctx, 3, 2, x, lab, 3, &v, NULL) == DY_ERR_INVALID, "tolerance without a shared label: %s",
          dy_ctx_error(ctx));
    CHECK(dy_metric_tolerance(ctx, 3, 2, x, lab_bad, 3, &v, NULL) == DY_ERR_INVALID, "tolerance label out of range: %s",
          dy_ctx_error(ctx));
    CHECK(dy_metric_tolerance(ctx, 3, 2, x, NULL, 3, &v, NULL) == DY_ERR_INVALID, "tolerance NULL labels: %s",
          dy_ctx_error(ctx));
    fx_free(f);
    dy_ctx_destroy(ctx);
    return test_finish();
}
