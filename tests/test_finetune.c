/* Issue 25, fine-tuning evaluation (src/eval/finetune.c), on the reference backend and on oneDNN: the head's
 * gradient against central finite differences (element by element and along a random direction), d(loss)/dh against
 * central differences on h, the encoder's gradient equal to dy_model_backward of that d(loss)/dh (the model's
 * backward has its own finite-difference tests), and a learning check: a randomly initialised encoder fine-tuned for
 * a few dozen steps on three separable classes scores well above chance on held-out images. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "dystress.h"
#include "testlib.h"

enum { SIDE = 8, PIX = SIDE * SIDE, CLASSES = 3 };

/* class c lights a 3x3 square at one of three places, with noise; values roughly normalised */
static void make_images(float *x, int64_t *y, int64_t n, uint32_t stream) {
    dy_rng r;
    dy_rng_init(&r, 17, DY_RNG_EVAL, stream, 0);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(i % CLASSES);
        y[i] = c;
        int oy = c == 0 ? 0 : c == 1 ? 4 : 2, ox = c == 0 ? 0 : c == 1 ? 4 : 0;
        for (int p = 0; p < PIX; p++) {
            int py = p / SIDE, pxl = p % SIDE;
            bool lit = py >= oy && py < oy + 3 && pxl >= ox && pxl < ox + 3;
            x[i * PIX + p] = (float)((lit ? 1.5 : -0.5) + 0.3 * dy_rng_normal(&r));
        }
    }
}

static dy_model *tiny_encoder(dy_ctx *ctx) {
    dy_model_config mc = dy_model_config_default();
    mc.width = 4;
    mc.in_channels = 1;
    mc.head = false;
    dy_model *m = NULL;
    return dy_model_create(ctx, &mc, 5, &m) == DY_OK ? m : NULL;
}

/* the directional derivative of the loss along a random direction v, by central differences, against grad . v (for
 * the head, where the loss is smooth) */
static void directional(dy_ctx *ctx, dy_finetune *ft, float *params, const float *grad, int64_t count,
                        const float *x, const int64_t *y, int64_t n, const char *what) {
    float *keep = malloc(sizeof(float) * (size_t)count), *v = malloc(sizeof(float) * (size_t)count);
    float *gsave = malloc(sizeof(float) * (size_t)count);
    memcpy(keep, params, sizeof(float) * (size_t)count);
    memcpy(gsave, grad, sizeof(float) * (size_t)count);
    dy_rng r;
    dy_rng_init(&r, 3, DY_RNG_EVAL, (uint32_t)count, 0);
    double gv = 0, norm = 0;
    for (int64_t i = 0; i < count; i++) v[i] = (float)dy_rng_normal(&r), norm += (double)v[i] * v[i];
    norm = sqrt(norm);
    for (int64_t i = 0; i < count; i++) v[i] = (float)(v[i] / norm), gv += (double)gsave[i] * v[i];
    /* central differences at two steps, Richardson-extrapolated (error O(eps^4) instead of O(eps^2)) */
    double eps = 4e-3, d[2] = {0, 0};
    dy_status st = DY_OK;
    for (int k = 0; k < 2; k++) {
        double e = k ? eps / 2 : eps, lp = 0, lm = 0;
        for (int64_t i = 0; i < count; i++) params[i] = keep[i] + (float)(e * v[i]);
        dy_status s1 = dy_finetune_loss_grad(ctx, ft, x, y, n, SIDE, SIDE, &lp, NULL);
        for (int64_t i = 0; i < count; i++) params[i] = keep[i] - (float)(e * v[i]);
        dy_status s2 = dy_finetune_loss_grad(ctx, ft, x, y, n, SIDE, SIDE, &lm, NULL);
        if (s1 != DY_OK || s2 != DY_OK) st = s1 != DY_OK ? s1 : s2;
        d[k] = (lp - lm) / (2 * e);
    }
    memcpy(params, keep, sizeof(float) * (size_t)count);
    double fd = (4 * d[1] - d[0]) / 3;
    CHECK(st == DY_OK && fabs(fd - gv) <= 0.03 * fabs(gv) + 2e-4,
          "%s: directional derivative %.6g by finite differences (%.6g, %.6g at two steps), %.6g by the gradient",
          what, fd, d[0], d[1], gv);
    free(keep), free(v), free(gsave);
}

/* The test's own head: mean softmax cross-entropy of h [n, d] (double) through weight [CLASSES, d] then bias
 * [CLASSES]; dh [n, d] (when not NULL) receives d(loss)/dh. */
static double head_loss(const float *head, const double *h, const int64_t *y, int64_t n, int64_t d, float *dh) {
    const float *b = head + CLASSES * d;
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        double z[CLASSES], m = -INFINITY, sum = 0;
        for (int c = 0; c < CLASSES; c++) {
            z[c] = b[c];
            for (int64_t k = 0; k < d; k++) z[c] += (double)head[c * d + k] * h[i * d + k];
            m = fmax(m, z[c]);
        }
        for (int c = 0; c < CLASSES; c++) sum += exp(z[c] - m);
        total += m + log(sum) - z[y[i]];
        for (int64_t k = 0; dh && k < d; k++) {
            double g = 0;
            for (int c = 0; c < CLASSES; c++) g += (exp(z[c] - m) / sum - (c == y[i])) * head[c * d + k];
            dh[i * d + k] = (float)(g / (double)n);
        }
    }
    return total / (double)n;
}

static void gradient_check(dy_backend backend, const char *name) {
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 1, .backend = backend};
    if (dy_ctx_create(&ctx, &co) != DY_OK) {
        printf("skipped: the %s backend is not in this build\n", name);
        return;
    }
    enum { N = 6 };
    float x[N * PIX];
    int64_t y[N];
    make_images(x, y, N, 1);
    dy_model *m = tiny_encoder(ctx);
    dy_finetune *ft = NULL;
    if (!CHECK(m && dy_finetune_create(ctx, &ft, m, CLASSES, NULL) == DY_OK, "%s: fine-tuner: %s", name,
               dy_ctx_error(ctx))) {
        dy_model_destroy(m);
        dy_ctx_destroy(ctx);
        return;
    }
    int64_t n_model = 0, n_head = CLASSES * dy_model_feature_dim(m) + CLASSES;
    dy_model_params(m, &n_model);
    float *gm = malloc(sizeof(float) * (size_t)n_model), *gh = malloc(sizeof(float) * (size_t)n_head);
    double loss = 0;
    CHECK(dy_finetune_loss_grad(ctx, ft, x, y, N, SIDE, SIDE, &loss, gh) == DY_OK && isfinite(loss) && loss > 0,
          "%s: loss and gradients: %s (loss %g)", name, dy_ctx_error(ctx), loss);
    memcpy(gm, dy_model_grads(m, NULL), sizeof(float) * (size_t)n_model);
    float *head = dy_probe_weight(dy_finetune_probe(ft));
    /* The encoder: its backward is the model's own (tested against finite differences layer by layer in test_layers
     * and test_model; differences through the whole network cross ReLU kinks and do not converge here). What is new
     * is d(loss)/dh: computed here independently in double, checked by central differences on h (the loss is smooth
     * in h), then handed to dy_model_backward after the same training forward: the encoder's gradients must be the
     * ones dy_finetune_loss_grad assigned. */
    const int64_t D = dy_model_feature_dim(m);
    float *h = malloc(sizeof(float) * (size_t)(N * D)), *dh = malloc(sizeof(float) * (size_t)(N * D));
    double *hd = malloc(sizeof(double) * (size_t)(N * D));
    CHECK(dy_model_forward_train(m, x, N, SIDE, SIDE, NULL, h) == DY_OK, "%s: training forward", name);
    for (int64_t i = 0; i < N * D; i++) hd[i] = h[i];
    double l0 = head_loss(head, hd, y, N, D, dh);
    CHECK(fabs(l0 - loss) < 1e-5 * fabs(loss), "%s: the loss %.9g, recomputed from h %.9g", name, loss, l0);
    int bad_h = 0;
    for (int64_t i = 0; i < N * D; i += 3) {
        double keep = hd[i], e = 1e-4;
        hd[i] = keep + e;
        double lp = head_loss(head, hd, y, N, D, NULL);
        hd[i] = keep - e;
        double lm = head_loss(head, hd, y, N, D, NULL);
        hd[i] = keep;
        bad_h += fabs((lp - lm) / (2 * e) - dh[i]) > 1e-3 * fabs(dh[i]) + 1e-7;
    }
    CHECK(bad_h == 0, "%s: d(loss)/dh by central differences (%d of %lld differ)", name, bad_h,
          (long long)((N * D + 2) / 3));
    CHECK(dy_model_backward(m, dh) == DY_OK, "%s: backward", name);
    test_close("encoder gradient: dy_finetune_loss_grad against dy_model_backward of d(loss)/dh",
               dy_model_grads(m, NULL), gm, (size_t)n_model, 1e-4);
    free(h), free(dh), free(hd);
    directional(ctx, ft, head, gh, n_head, x, y, N, "head");
    /* the head's gradient element by element: the loss is smooth in the head's parameters */
    int bad = 0;
    for (int64_t i = 0; i < n_head; i += 7) {
        float keep = head[i];
        double lp = 0, lm = 0, eps = 1e-2;
        head[i] = keep + (float)eps;
        dy_finetune_loss_grad(ctx, ft, x, y, N, SIDE, SIDE, &lp, NULL);
        head[i] = keep - (float)eps;
        dy_finetune_loss_grad(ctx, ft, x, y, N, SIDE, SIDE, &lm, NULL);
        head[i] = keep;
        double fd = (lp - lm) / (2 * eps);
        if (fabs(fd - gh[i]) > 0.02 * fabs(gh[i]) + 2e-4) {
            if (bad++ < 3) printf("  head[%lld]: %.6g by differences, %.6g by the gradient\n", (long long)i, fd,
                                  (double)gh[i]);
        }
    }
    CHECK(bad == 0, "%s: the head's gradient element by element (%d differ)", name, bad);
    free(gm), free(gh);
    dy_finetune_destroy(ft);
    dy_model_destroy(m);
    dy_ctx_destroy(ctx);
}

static void learns(void) {
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 2};
    if (!CHECK(dy_ctx_create(&ctx, &co) == DY_OK, "context")) return;
    enum { NTR = 60, NTE = 30, B = 20 };
    static float xtr[NTR * PIX], xte[NTE * PIX];
    int64_t ytr[NTR], yte[NTE];
    make_images(xtr, ytr, NTR, 2);
    make_images(xte, yte, NTE, 3);
    dy_model *m = tiny_encoder(ctx);
    dy_finetune *ft = NULL;
    dy_finetune_options fo = dy_finetune_defaults();
    fo.lr = 0.05;
    if (!CHECK(m && dy_finetune_create(ctx, &ft, m, CLASSES, &fo) == DY_OK, "fine-tuner: %s", dy_ctx_error(ctx)))
        return;
    double first = 0, last = 0;
    dy_status st = DY_OK;
    for (int step = 0; step < 30 && st == DY_OK; step++) {
        int64_t b0 = (step * B) % NTR;
        double loss = 0;
        st = dy_finetune_step(ctx, ft, xtr + b0 * PIX, ytr + b0, B, SIDE, SIDE, &loss);
        if (step == 0) first = loss;
        last = loss;
    }
    CHECK(st == DY_OK && last < first, "fine-tuning steps: %s; loss %.4f -> %.4f", dy_ctx_error(ctx), first, last);
    float *h = malloc(sizeof(float) * (size_t)(NTE * dy_model_feature_dim(m)));
    dy_eval_accuracy acc = {0};
    CHECK(dy_model_embed(m, xte, NTE, SIDE, SIDE, h) == DY_OK &&
              dy_probe_evaluate(ctx, dy_finetune_probe(ft), h, yte, NTE, NULL, &acc) == DY_OK && acc.top1 > 0.6,
          "fine-tuned from a random encoder: test top-1 %.3f after 30 steps (chance 0.333)", acc.top1);
    dy_eval_accuracy_free(&acc);
    free(h);
    /* refusals: a model with its projection head, a batch of one */
    dy_finetune *none = NULL;
    dy_model_config mc = dy_model_config_default();
    mc.width = 4, mc.in_channels = 1;
    dy_model *with_head = NULL;
    CHECK(dy_model_create(ctx, &mc, 1, &with_head) == DY_OK &&
              dy_finetune_create(ctx, &none, with_head, CLASSES, NULL) == DY_ERR_INVALID && !none,
          "a model with a projection head is refused: %s", dy_ctx_error(ctx));
    CHECK(dy_finetune_step(ctx, ft, xtr, ytr, 1, SIDE, SIDE, NULL) == DY_ERR_INVALID, "a batch of one is refused");
    dy_model_destroy(with_head);
    dy_finetune_destroy(ft);
    dy_model_destroy(m);
    dy_ctx_destroy(ctx);
}

int main(void) {
    gradient_check(DY_BACKEND_REF, "reference");
    if (dy_have_dnnl()) gradient_check(DY_BACKEND_DNNL, "oneDNN");
    learns();
    return test_finish();
}
