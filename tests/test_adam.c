/* Adam and AdamW against torch.optim.Adam / AdamW (tests/fixtures/eval_adam.bin from tools/fixtures_eval.py): six
 * steps with given gradients; plus thread independence and the error statuses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "dystress/optim.h"
#include "fixture.h"
#include "testlib.h"

/* The same table as ADAM_CASES in tools/fixtures_eval.py (kept as doubles here: the fixture stores float32). */
static const struct {
    const char *name;
    bool decoupled;
    double lr, wd, beta1, beta2, eps;
} cases[] = {
    {"adam", false, 1e-2, 0.0, 0.9, 0.999, 1e-8},
    {"adam_l2", false, 3e-3, 0.1, 0.8, 0.99, 1e-6},
    {"adamw", true, 1e-2, 0.05, 0.9, 0.999, 1e-8},
};

static dy_ctx *make_ctx(int threads) {
    dy_ctx *ctx = NULL;
    dy_ctx_options o = {.threads = threads, .backend = DY_BACKEND_REF};
    return dy_ctx_create(&ctx, &o) == DY_OK ? ctx : NULL;
}

static void test_against_torch(void) {
    fx_file *f = fx_load(test_fixture_path("eval_adam.bin"));
    if (!CHECK(f != NULL, "load eval_adam.bin")) return;
    int64_t n = 0, gn = 0;
    const float *p0 = fx_f32(f, "params0", &n);
    const float *grads = fx_f32(f, "grads", &gn);
    if (!CHECK(p0 && grads && n > 0, "fixture tensors present")) {
        fx_free(f);
        return;
    }
    int64_t steps = gn / n;
    float *p = malloc((size_t)n * sizeof *p), *m = malloc((size_t)n * sizeof *m), *v = malloc((size_t)n * sizeof *v);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char key[64];
        snprintf(key, sizeof key, "%s_hyper", cases[c].name);
        const float *hyper = fx_f32(f, key, NULL);
        CHECK(hyper && fabs(hyper[0] - cases[c].lr) < 1e-9 && fabs(hyper[1] - cases[c].wd) < 1e-8,
              "%s: C table matches the fixture's hyperparameters", cases[c].name);
        for (int threads = 1; threads <= 2; threads++) {
            dy_ctx *ctx = make_ctx(threads);
            memcpy(p, p0, (size_t)n * sizeof *p);
            memset(m, 0, (size_t)n * sizeof *m);
            memset(v, 0, (size_t)n * sizeof *v);
            dy_adam_options o = {.lr = cases[c].lr, .beta1 = cases[c].beta1, .beta2 = cases[c].beta2,
                                 .eps = cases[c].eps, .weight_decay = cases[c].wd, .decoupled = cases[c].decoupled};
            dy_status st = DY_OK;
            for (int64_t s = 0; s < steps && st == DY_OK; s++)
                st = dy_adam_step(ctx, &o, p, grads + s * n, m, v, n, s);
            CHECK(st == DY_OK, "%s steps: %s", cases[c].name, dy_ctx_error(ctx));
            char what[80];
            snprintf(key, sizeof key, "%s_params", cases[c].name);
            snprintf(what, sizeof what, "%s params after %lld steps (threads %d)", cases[c].name, (long long)steps,
                     threads);
            test_close(what, p, fx_f32(f, key, NULL), (size_t)n, 1e-6);
            snprintf(key, sizeof key, "%s_exp_avg", cases[c].name);
            snprintf(what, sizeof what, "%s exp_avg (threads %d)", cases[c].name, threads);
            test_close(what, m, fx_f32(f, key, NULL), (size_t)n, 1e-6);
            snprintf(key, sizeof key, "%s_exp_avg_sq", cases[c].name);
            snprintf(what, sizeof what, "%s exp_avg_sq (threads %d)", cases[c].name, threads);
            test_close(what, v, fx_f32(f, key, NULL), (size_t)n, 1e-6);
            dy_ctx_destroy(ctx);
        }
    }
    free(p);
    free(m);
    free(v);
    fx_free(f);
}

static void test_first_step_by_hand(void) {
    /* Step 1 of Adam moves every parameter by lr * sign(g) (up to eps): m/(1-b1) = g, sqrt(v/(1-b2)) = |g|. */
    float p[3] = {1, -2, 0.5f}, g[3] = {0.3f, -4, 1e-3f}, m[3] = {0}, v[3] = {0};
    dy_ctx *ctx = make_ctx(1);
    dy_adam_options o = dy_adam_defaults();
    o.lr = 0.1;
    o.eps = 0;
    CHECK(dy_adam_step(ctx, &o, p, g, m, v, 3, 0) == DY_OK, "first step");
    CHECK(fabsf(p[0] - 0.9f) < 1e-6f && fabsf(p[1] + 1.9f) < 1e-6f && fabsf(p[2] - 0.4f) < 1e-6f,
          "first step is lr * sign(g): %g %g %g", p[0], p[1], p[2]);
    dy_ctx_destroy(ctx);
}

static void test_errors(void) {
    float p[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1}, m[4] = {0}, v[4] = {0};
    dy_ctx *ctx = make_ctx(1);
    dy_adam_options o = dy_adam_defaults();
    o.beta1 = 1.0;
    CHECK(dy_adam_step(ctx, &o, p, g, m, v, 4, 0) == DY_ERR_INVALID, "beta1 = 1 refused: %s", dy_ctx_error(ctx));
    o = dy_adam_defaults();
    o.lr = -1;
    CHECK(dy_adam_step(ctx, &o, p, g, m, v, 4, 0) == DY_ERR_INVALID, "negative lr refused");
    o = dy_adam_defaults();
    o.weight_decay = NAN;
    CHECK(dy_adam_step(ctx, &o, p, g, m, v, 4, 0) == DY_ERR_INVALID, "NaN weight decay refused");
    o = dy_adam_defaults();
    CHECK(dy_adam_step(ctx, &o, p, g, NULL, v, 4, 0) == DY_ERR_INVALID, "missing state refused");
    CHECK(dy_adam_step(ctx, &o, p, g, m, v, 4, -1) == DY_ERR_INVALID, "negative step refused");
    g[2] = NAN;
    CHECK(dy_adam_step(ctx, &o, p, g, m, v, 4, 0) == DY_ERR_NUMERIC, "NaN gradient refused");
    CHECK(strstr(dy_ctx_error(ctx), "gradient 2") != NULL, "message names the index: %s", dy_ctx_error(ctx));
    CHECK(p[0] == 1 && p[3] == 4 && m[0] == 0 && v[0] == 0, "a refused step leaves parameters and state untouched");
    dy_ctx_destroy(ctx);
}

int main(void) {
    test_against_torch();
    test_first_step_by_hand();
    test_errors();
    return test_finish();
}
