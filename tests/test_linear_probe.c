/* Linear probe: the cross-entropy gradient against central finite differences; Adam steps from a given
 * initialisation over given batches against PyTorch (tests/fixtures/eval_probe.bin); linearly separable data learnt to
 * ~100 %; the callback mode equals the cached mode; thread independence; errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/rng.h"
#include "dystress/eval.h"
#include "eval/linear_probe.h"
#include "fixture.h"
#include "testlib.h"

static dy_ctx *make_ctx(int threads) {
    dy_ctx *ctx = NULL;
    dy_ctx_options o = {.threads = threads, .backend = DY_BACKEND_REF};
    return dy_ctx_create(&ctx, &o) == DY_OK ? ctx : NULL;
}

static void fill_normal(float *x, int64_t n, uint32_t stream, double scale) {
    dy_rng r;
    dy_rng_init(&r, 21, DY_RNG_EVAL, stream, 7);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(scale * dy_rng_normal(&r));
}

static void test_gradient_finite_differences(void) {
    const int64_t dim = 9, classes = 4, n = 6;
    float x[6 * 9];
    int64_t y[6] = {0, 3, 1, 1, 2, 0};
    fill_normal(x, n * dim, 1, 1.0);
    dy_ctx *ctx = make_ctx(1);
    dy_probe *p = NULL;
    CHECK(dy_probe_create(ctx, &p, dim, classes, NULL) == DY_OK, "create: %s", dy_ctx_error(ctx));
    if (!p) return;
    float *w = dy_probe_weight(p), *b = dy_probe_bias(p);
    fill_normal(w, classes * dim, 2, 0.5); /* larger than the init, so the softmax is far from uniform */
    float gw[4 * 9], gb[4];
    double loss = 0;
    CHECK(dy_probe_loss_grad(ctx, p, x, y, n, &loss, gw, gb) == DY_OK, "loss and gradient");
    /* Central differences of the double-precision loss; h = 1e-2 keeps the float rounding of the logits (~1e-7)
     * below 1e-5 of the difference, and the O(h^2) truncation error is of the same order. */
    const double h = 1e-2;
    float fd_w[4 * 9], fd_b[4];
    for (int64_t i = 0; i < classes * dim + classes; i++) {
        float *q = i < classes * dim ? w + i : b + (i - classes * dim);
        const float keep = *q;
        double lp = 0, lm = 0;
        *q = (float)(keep + h);
        double hp = (double)*q - keep;
        dy_probe_loss_grad(ctx, p, x, y, n, &lp, NULL, NULL);
        *q = (float)(keep - h);
        double hm = keep - (double)*q;
        dy_probe_loss_grad(ctx, p, x, y, n, &lm, NULL, NULL);
        *q = keep;
        float d = (float)((lp - lm) / (hp + hm));
        if (i < classes * dim) fd_w[i] = d;
        else fd_b[i - classes * dim] = d;
    }
    test_close("d loss / d weight vs finite differences", gw, fd_w, (size_t)(classes * dim), 1e-4);
    test_close("d loss / d bias vs finite differences", gb, fd_b, (size_t)classes, 1e-4);
    /* The loss by hand for one row: -log softmax. */
    double z[4], m = -1e30, s = 0, want = 0;
    for (int64_t i = 0; i < n; i++) {
        m = -1e30;
        s = 0;
        for (int64_t c = 0; c < classes; c++) {
            z[c] = b[c];
            for (int64_t q = 0; q < dim; q++) z[c] += (double)w[c * dim + q] * x[i * dim + q];
            m = z[c] > m ? z[c] : m;
        }
        for (int64_t c = 0; c < classes; c++) s += exp(z[c] - m);
        want += (m + log(s) - z[y[i]]) / (double)n;
    }
    test_close_scalar("cross-entropy value", loss, want, 1e-6);
    dy_probe_destroy(p);
    dy_ctx_destroy(ctx);
}

static const struct {
    const char *name;
    double lr, wd;
} probe_cases[] = {{"paper", 1e-3, 1e-6}, {"fast", 5e-2, 1e-2}};

static void test_against_torch(void) {
    fx_file *f = fx_load(test_fixture_path("eval_probe.bin"));
    if (!CHECK(f != NULL, "load eval_probe.bin")) return;
    const fx_tensor *xt = fx_get(f, "x"), *yt = fx_get(f, "y"), *bi = fx_get(f, "batch_index"),
                    *bs = fx_get(f, "batch_size"), *w0t = fx_get(f, "w0"), *tx = fx_get(f, "test_x");
    if (!CHECK(xt && yt && bi && bs && w0t && tx, "fixture tensors present")) {
        fx_free(f);
        return;
    }
    const int64_t dim = xt->dims[1], classes = w0t->dims[0], n_test = tx->dims[0];
    const float *x = xt->data, *w0 = w0t->data, *b0 = fx_f32(f, "b0", NULL);
    const int64_t *y = yt->data, *index = bi->data, *sizes = bs->data;
    float *bx = malloc((size_t)(64 * dim) * sizeof *bx);
    int64_t by[64];
    for (size_t c = 0; c < 2; c++)
        for (int threads = 1; threads <= 2; threads++) {
            dy_ctx *ctx = make_ctx(threads);
            dy_probe_options o = dy_probe_defaults();
            o.lr = probe_cases[c].lr;
            o.weight_decay = probe_cases[c].wd;
            dy_probe *p = NULL;
            CHECK(dy_probe_create(ctx, &p, dim, classes, &o) == DY_OK, "create");
            if (!p) continue;
            memcpy(dy_probe_weight(p), w0, (size_t)(classes * dim) * sizeof(float));
            memcpy(dy_probe_bias(p), b0, (size_t)classes * sizeof(float));
            char key[64], what[96];
            snprintf(key, sizeof key, "%s_loss", probe_cases[c].name);
            const float *want_loss = fx_f32(f, key, NULL);
            int64_t at = 0;
            float losses[16];
            for (int64_t s = 0; s < bs->numel; s++) {
                for (int64_t i = 0; i < sizes[s]; i++) {
                    memcpy(bx + i * dim, x + index[at + i] * dim, (size_t)dim * sizeof(float));
                    by[i] = y[index[at + i]];
                }
                at += sizes[s];
                CHECK(dy_probe_step(ctx, p, bx, by, sizes[s], &losses[s]) == DY_OK, "step: %s", dy_ctx_error(ctx));
            }
            snprintf(what, sizeof what, "probe %s: batch losses (threads %d)", probe_cases[c].name, threads);
            test_close(what, losses, want_loss, (size_t)bs->numel, 1e-6);
            /* Compare what the steps changed: the weights themselves would hide a wrong update below 1e-6. */
            snprintf(key, sizeof key, "%s_weight", probe_cases[c].name);
            const float *want_w = fx_f32(f, key, NULL);
            snprintf(key, sizeof key, "%s_bias", probe_cases[c].name);
            const float *want_b = fx_f32(f, key, NULL);
            float dw[5 * 20 + 5], want_dw[5 * 20 + 5];
            for (int64_t i = 0; i < classes * dim; i++) {
                dw[i] = dy_probe_weight(p)[i] - w0[i];
                want_dw[i] = want_w[i] - w0[i];
            }
            for (int64_t i = 0; i < classes; i++) {
                dw[classes * dim + i] = dy_probe_bias(p)[i] - b0[i];
                want_dw[classes * dim + i] = want_b[i] - b0[i];
            }
            snprintf(what, sizeof what, "probe %s: weight and bias after %lld Adam steps (threads %d)",
                     probe_cases[c].name, (long long)bs->numel, threads);
            test_close(what, dy_probe_weight(p), want_w, (size_t)(classes * dim), 1e-6);
            /* The change is ~lr per step; float rounding of the weights (~1e-8) is ~1e-5 of it at lr 1e-3. */
            snprintf(what, sizeof what, "probe %s: change of weight and bias (threads %d)", probe_cases[c].name,
                     threads);
            test_close(what, dw, want_dw, (size_t)(classes * dim + classes), 3e-5);
            float logits[12 * 5];
            int64_t ranked[12 * DY_EVAL_TOPK];
            CHECK(dy_probe_predict(ctx, p, tx->data, n_test, ranked, logits) == DY_OK, "predict");
            snprintf(key, sizeof key, "%s_test_logits", probe_cases[c].name);
            snprintf(what, sizeof what, "probe %s: test logits", probe_cases[c].name);
            const float *want_z = fx_f32(f, key, NULL);
            test_close(what, logits, want_z, (size_t)(n_test * classes), 1e-5);
            int rank_ok = 1;
            for (int64_t i = 0; i < n_test; i++)
                for (int k = 0; k + 1 < DY_EVAL_TOPK; k++)
                    rank_ok &= want_z[i * classes + ranked[i * 5 + k]] >= want_z[i * classes + ranked[i * 5 + k + 1]];
            CHECK(rank_ok, "probe %s: predictions ranked by torch's logits", probe_cases[c].name);
            CHECK(dy_probe_steps(p) == bs->numel, "step count");
            dy_probe_destroy(p);
            dy_ctx_destroy(ctx);
        }
    free(bx);
    fx_free(f);
}

/* Labels from a random linear map with a margin: linearly separable by construction. */
static void separable(int64_t n, int64_t dim, int64_t classes, float *x, int64_t *y, uint32_t stream) {
    float a[4 * 10];
    fill_normal(a, classes * dim, 100, 1.0);
    dy_rng r;
    dy_rng_init(&r, 3, DY_RNG_EVAL, stream, 0);
    for (int64_t i = 0; i < n;) {
        float *xi = x + i * dim;
        for (int64_t q = 0; q < dim; q++) xi[q] = (float)dy_rng_normal(&r);
        double best = -1e30, second = -1e30;
        int64_t arg = 0;
        for (int64_t c = 0; c < classes; c++) {
            double s = 0;
            for (int64_t q = 0; q < dim; q++) s += (double)a[c * dim + q] * xi[q];
            if (s > best) {
                second = best;
                best = s;
                arg = c;
            } else if (s > second)
                second = s;
        }
        if (best - second < 0.5) continue; /* keep a margin */
        y[i++] = arg;
    }
}

typedef struct {
    const float *x;
    const int64_t *y;
    int64_t dim, n, calls, epochs_seen;
    int64_t *seen; /* [n] visits in the current epoch */
    int bad_order;
    int64_t stop_after_epoch;
} source;

static dy_status source_batch(void *user, int64_t epoch, const int64_t *idx, int64_t count, float *f, int64_t *l) {
    source *s = user;
    s->calls++;
    for (int64_t i = 0; i < count; i++) {
        if (idx[i] < 0 || idx[i] >= s->n) {
            s->bad_order = 1;
            return DY_ERR_INTERNAL;
        }
        s->seen[idx[i]]++;
        memcpy(f + i * s->dim, s->x + idx[i] * s->dim, (size_t)s->dim * sizeof(float));
        l[i] = s->y[idx[i]];
    }
    (void)epoch;
    return DY_OK;
}

static dy_status source_epoch(void *user, int64_t epoch, double loss) {
    source *s = user;
    for (int64_t i = 0; i < s->n; i++) {
        if (s->seen[i] != 1) s->bad_order = 1;
        s->seen[i] = 0;
    }
    s->epochs_seen = epoch + 1;
    (void)loss;
    return epoch + 1 == s->stop_after_epoch ? DY_ERR_INTERRUPTED : DY_OK;
}

static void test_separable_and_modes(void) {
    const int64_t dim = 10, classes = 4, n = 400, n_test = 200;
    float *x = malloc((size_t)(n * dim) * sizeof *x), *tx = malloc((size_t)(n_test * dim) * sizeof *tx);
    int64_t *y = malloc((size_t)n * sizeof *y), *ty = malloc((size_t)n_test * sizeof *ty);
    separable(n, dim, classes, x, y, 1);
    separable(n_test, dim, classes, tx, ty, 2);
    dy_ctx *ctx = make_ctx(2);
    dy_probe_options o = dy_probe_defaults();
    o.epochs = 60;
    o.batch_size = 32;
    o.lr = 1e-2;
    o.seed = 5;
    dy_probe *cached = NULL, *streamed = NULL;
    CHECK(dy_probe_create(ctx, &cached, dim, classes, &o) == DY_OK, "create");
    CHECK(dy_probe_create(ctx, &streamed, dim, classes, &o) == DY_OK, "create");
    CHECK(memcmp(dy_probe_weight(cached), dy_probe_weight(streamed), (size_t)(classes * dim) * sizeof(float)) == 0,
          "the same seed gives the same initialisation");
    CHECK(dy_probe_train_cached(ctx, cached, x, y, n, NULL, NULL) == DY_OK, "train cached: %s", dy_ctx_error(ctx));
    dy_eval_accuracy tr, te;
    CHECK(dy_probe_evaluate(ctx, cached, x, y, n, NULL, &tr) == DY_OK, "evaluate train");
    CHECK(dy_probe_evaluate(ctx, cached, tx, ty, n_test, NULL, &te) == DY_OK, "evaluate test");
    CHECK(tr.top1 >= 0.99, "separable data: train top-1 %.3f, expected >= 0.99", tr.top1);
    CHECK(te.top1 >= 0.95 && te.top5 == 1.0, "separable data: test top-1 %.3f top-5 %.3f", te.top1, te.top5);
    dy_eval_accuracy_free(&tr);
    dy_eval_accuracy_free(&te);
    /* The callback mode with the same rows: bit-identical weights; every sample once per epoch. */
    source s = {.x = x, .y = y, .dim = dim, .n = n, .seen = calloc((size_t)n, sizeof(int64_t))};
    CHECK(dy_probe_train(ctx, streamed, n, source_batch, source_epoch, &s) == DY_OK, "train streamed");
    CHECK(!s.bad_order && s.epochs_seen == 60 && s.calls == 60 * ((n + 31) / 32),
          "each epoch a permutation in batches of 32 (%lld calls)", (long long)s.calls);
    CHECK(memcmp(dy_probe_weight(cached), dy_probe_weight(streamed), (size_t)(classes * dim + classes) * 4) == 0,
          "callback mode equals cached mode bit for bit");
    /* One thread gives the same weights. */
    dy_ctx *ctx1 = make_ctx(1);
    dy_probe *single = NULL;
    CHECK(dy_probe_create(ctx1, &single, dim, classes, &o) == DY_OK, "create");
    CHECK(dy_probe_train_cached(ctx1, single, x, y, n, NULL, NULL) == DY_OK, "train on one thread");
    CHECK(memcmp(dy_probe_weight(cached), dy_probe_weight(single), (size_t)(classes * dim + classes) * 4) == 0,
          "one and two threads give the same weights");
    /* An epoch callback stops training with its status. */
    s.stop_after_epoch = 2;
    s.epochs_seen = 0;
    CHECK(dy_probe_train(ctx, streamed, n, source_batch, source_epoch, &s) == DY_ERR_INTERRUPTED && s.epochs_seen == 2,
          "the epoch callback's status stops training");
    dy_probe_destroy(cached);
    dy_probe_destroy(streamed);
    dy_probe_destroy(single);
    dy_ctx_destroy(ctx1);
    dy_ctx_destroy(ctx);
    free(s.seen);
    free(x);
    free(tx);
    free(y);
    free(ty);
}

static void test_errors(void) {
    dy_ctx *ctx = make_ctx(1);
    dy_probe *p = NULL;
    dy_probe_options o = dy_probe_defaults();
    o.batch_size = 0;
    CHECK(dy_probe_create(ctx, &p, 4, 3, &o) == DY_ERR_INVALID && !p, "batch size 0 refused");
    CHECK(dy_probe_create(ctx, &p, 0, 3, NULL) == DY_ERR_INVALID, "dim 0 refused");
    CHECK(dy_probe_create(ctx, &p, 4, 3, NULL) == DY_OK, "create");
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t y[2] = {0, 3};
    CHECK(dy_probe_step(ctx, p, x, y, 2, NULL) == DY_ERR_INVALID, "label 3 of 3 classes refused: %s",
          dy_ctx_error(ctx));
    y[1] = 2;
    x[5] = NAN;
    CHECK(dy_probe_step(ctx, p, x, y, 2, NULL) == DY_ERR_NUMERIC, "NaN feature refused: %s", dy_ctx_error(ctx));
    for (int i = 0; i < 3 * 4 + 3; i++) dy_probe_weight(p)[i] = 1; /* logits of row 1: 5 + 2 * 3e38 + 8 = inf */
    x[5] = x[6] = 3e38f;
    CHECK(dy_probe_step(ctx, p, x, y, 2, NULL) == DY_ERR_NUMERIC, "overflowing loss refused: %s", dy_ctx_error(ctx));
    CHECK(dy_probe_steps(p) == 0, "no step was taken");
    x[5] = 6;
    x[6] = 7;
    CHECK(dy_probe_step(ctx, p, x, y, 2, NULL) == DY_OK && dy_probe_steps(p) == 1, "valid step");
    dy_probe_destroy(p);
    dy_ctx_destroy(ctx);
}

int main(void) {
    test_gradient_finite_differences();
    test_against_torch();
    test_separable_and_modes();
    test_errors();
    return test_finish();
}
