/* SGD over flat buffers (src/optim/sgd.c) against torch.optim.SGD (tests/fixtures/sgd.bin, tools/fixtures_sgd.py),
 * plus its refusals: bad options as PyTorch refuses them, and NaN/Inf gradients. */
#include "dystress.h"
#include "fixture.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every step is a few float operations per element, done in the same order as PyTorch: the results agree to a few
 * ulps (~1e-7); 1e-6 leaves room for the fixtures' options being stored as float32. */
#define SGD_TOL 1e-6

static void against_pytorch(dy_ctx *ctx, const fx_file *fx, const char *name) {
    char key[96];
    snprintf(key, sizeof key, "%s.conf", name);
    const float *conf = fx_f32(fx, key, NULL);
    snprintf(key, sizeof key, "%s.grads", name);
    const fx_tensor *tg = fx_get(fx, key);
    snprintf(key, sizeof key, "%s.params", name);
    const float *want = fx_f32(fx, key, NULL);
    snprintf(key, sizeof key, "%s.momentum_buffer", name);
    const float *want_buf = fx_f32(fx, key, NULL);
    int64_t n;
    snprintf(key, sizeof key, "%s.p0", name);
    const float *p0 = fx_f32(fx, key, &n);
    if (!CHECK(conf && tg && tg->ndim == 2 && want && want_buf && p0 && tg->dims[1] == n, "%s: fixture complete",
               name))
        return;
    const dy_sgd_options o = {.lr = conf[0], .momentum = conf[1], .dampening = conf[2], .weight_decay = conf[3],
                              .nesterov = conf[4] != 0};
    float *params = malloc((size_t)n * sizeof *params), *buf = malloc((size_t)n * sizeof *buf);
    memcpy(params, p0, (size_t)n * sizeof *params);
    /* Garbage in the buffer before the first step: PyTorch's first step ignores it, so must ours. */
    for (int64_t i = 0; i < n; i++) buf[i] = 1e3f;
    for (int64_t t = 0; t < tg->dims[0]; t++) {
        dy_status st = dy_sgd_step(ctx, &o, params, (const float *)tg->data + t * n, o.momentum ? buf : NULL, n, t);
        if (!CHECK(st == DY_OK, "%s step %lld: %s", name, (long long)t, dy_ctx_error(ctx))) break;
        char what[96];
        snprintf(what, sizeof what, "%s params after step %lld", name, (long long)t + 1);
        test_close(what, params, want + t * n, (size_t)n, SGD_TOL);
    }
    if (o.momentum) {
        snprintf(key, sizeof key, "%s momentum buffer", name);
        test_close(key, buf, want_buf, (size_t)n, SGD_TOL);
    }
    free(params);
    free(buf);
}

static void refusals(dy_ctx *ctx) {
    float p[8] = {1, 2, 3, 4, 5, 6, 7, 8}, g[8] = {1, 1, 1, 1, 1, 1, 1, 1}, buf[8] = {0};
    const float p_before[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct {
        const char *what;
        dy_sgd_options o;
    } bad[] = {
        {"negative learning rate", {.lr = -0.1}},
        {"NaN learning rate", {.lr = NAN}},
        {"negative momentum", {.lr = 0.1, .momentum = -0.5}},
        {"negative weight decay", {.lr = 0.1, .weight_decay = -1e-4}},
        {"Nesterov without momentum", {.lr = 0.1, .nesterov = true}},
        {"Nesterov with dampening", {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dy_status st = dy_sgd_step(ctx, &bad[i].o, p, g, buf, 8, 0);
        CHECK(st == DY_ERR_INVALID && dy_ctx_error(ctx)[0] != '\0', "%s refused: %s", bad[i].what,
              dy_ctx_error(ctx));
    }
    dy_sgd_options mom = {.lr = 0.1, .momentum = 0.9};
    CHECK(dy_sgd_step(ctx, &mom, p, g, NULL, 8, 0) == DY_ERR_INVALID, "momentum without a buffer refused: %s",
          dy_ctx_error(ctx));
    CHECK(memcmp(p, p_before, sizeof p) == 0, "refused steps leave the parameters untouched");

    g[5] = NAN;
    dy_status st = dy_sgd_step(ctx, &mom, p, g, buf, 8, 0);
    CHECK(st == DY_ERR_NUMERIC && strstr(dy_ctx_error(ctx), " 5 ") != NULL, "NaN gradient at 5 refused, named: %s",
          dy_ctx_error(ctx));
    g[5] = 1;
    g[2] = -INFINITY;
    g[7] = INFINITY;
    st = dy_sgd_step(ctx, &mom, p, g, buf, 8, 0);
    CHECK(st == DY_ERR_NUMERIC && strstr(dy_ctx_error(ctx), " 2 ") != NULL, "first Inf gradient (2) named: %s",
          dy_ctx_error(ctx));
    CHECK(memcmp(p, p_before, sizeof p) == 0, "a bad gradient leaves the parameters untouched");
    CHECK(dy_sgd_step(ctx, &mom, NULL, NULL, NULL, 0, 0) == DY_OK, "zero parameters: nothing to do");
}

/* A buffer large enough to be split over threads, against the update written out in double here. */
static void large_buffer(dy_ctx *ctx) {
    const int64_t n = test_quick() ? 100003 : 1000003;
    float *p = malloc((size_t)n * sizeof *p), *g = malloc((size_t)n * sizeof *g);
    float *buf = malloc((size_t)n * sizeof *buf);
    double *pd = malloc((size_t)n * sizeof *pd), *bd = malloc((size_t)n * sizeof *bd);
    for (int64_t i = 0; i < n; i++) {
        p[i] = (float)sin(0.001 * (double)i);
        pd[i] = p[i];
    }
    const dy_sgd_options o = {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true};
    bool ok = true;
    for (int64_t t = 0; t < 3 && ok; t++) {
        for (int64_t i = 0; i < n; i++) g[i] = (float)cos(0.0007 * (double)i + (double)t);
        ok = CHECK(dy_sgd_step(ctx, &o, p, g, buf, n, t) == DY_OK, "large buffer step %lld", (long long)t);
        for (int64_t i = 0; i < n; i++) {
            const double d = g[i] + o.weight_decay * pd[i];
            bd[i] = t == 0 ? d : o.momentum * bd[i] + d;
            pd[i] -= o.lr * (d + o.momentum * bd[i]);
        }
    }
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs(p[i] - pd[i]));
        scale = fmax(scale, fabs(pd[i]));
    }
    CHECK(worst / scale <= SGD_TOL, "large buffer (%lld values) matches the update in double: rel error %.3g",
          (long long)n, worst / scale);
    free(p), free(g), free(buf), free(pd), free(bd);
}

int main(void) {
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.backend = DY_BACKEND_REF};
    if (!CHECK(dy_ctx_create(&ctx, &co) == DY_OK, "create a context")) return test_finish();
    fx_file *fx = fx_load(test_fixture_path("sgd.bin"));
    if (CHECK(fx != NULL, "load tests/fixtures/sgd.bin (tools/fixtures_sgd.py writes it)")) {
        const char *cases[] = {"plain",     "momentum", "nesterov", "weight_decay", "momentum_weight_decay",
                               "dampening", "nesterov_weight_decay"};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) against_pytorch(ctx, fx, cases[i]);
        fx_free(fx);
    }
    refusals(ctx);
    large_buffer(ctx);
    dy_ctx_destroy(ctx);
    return test_finish();
}
