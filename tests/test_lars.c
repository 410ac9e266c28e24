/* LARS against a plain transcription of SimCLR's LARS evaluated in float64 (tests/fixtures/eval_lars.bin from
 * tools/fixtures_eval.py): excluded segments, a zero-weight segment, a zero-gradient segment, Nesterov; plus the
 * segment checks and error statuses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "dystress/optim.h"
#include "fixture.h"
#include "testlib.h"

static const struct {
    const char *name;
    double lr, momentum, wd, eta;
    bool nesterov;
} cases[] = {
    {"plain", 2.0, 0.9, 1e-4, 0.001, false},
    {"nesterov", 5.0, 0.8, 1e-2, 0.02, true},
};

static dy_ctx *make_ctx(int threads) {
    dy_ctx *ctx = NULL;
    dy_ctx_options o = {.threads = threads, .backend = DY_BACKEND_REF};
    return dy_ctx_create(&ctx, &o) == DY_OK ? ctx : NULL;
}

static void test_against_plain_python(void) {
    fx_file *f = fx_load(test_fixture_path("eval_lars.bin"));
    if (!CHECK(f != NULL, "load eval_lars.bin")) return;
    int64_t n = 0, gn = 0;
    const float *p0 = fx_f32(f, "params0", &n);
    const float *grads = fx_f32(f, "grads", &gn);
    const fx_tensor *seg_t = fx_get(f, "segments");
    if (!CHECK(p0 && grads && seg_t && seg_t->dtype == 1 && seg_t->dims[1] == 3, "fixture tensors present")) {
        fx_free(f);
        return;
    }
    int64_t n_seg = seg_t->dims[0], steps = gn / n;
    const int64_t *sd = seg_t->data;
    dy_param_segment *segs = calloc((size_t)n_seg, sizeof *segs);
    for (int64_t s = 0; s < n_seg; s++) segs[s] = (dy_param_segment){sd[3 * s], sd[3 * s + 1], sd[3 * s + 2] != 0};
    float *p = malloc((size_t)n * sizeof *p), *buf = malloc((size_t)n * sizeof *buf);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int threads = 1; threads <= 2; threads++) {
            dy_ctx *ctx = make_ctx(threads);
            memcpy(p, p0, (size_t)n * sizeof *p);
            memset(buf, 0, (size_t)n * sizeof *buf);
            dy_lars_options o = {.lr = cases[c].lr, .momentum = cases[c].momentum, .weight_decay = cases[c].wd,
                                 .trust_coefficient = cases[c].eta, .nesterov = cases[c].nesterov};
            dy_status st = DY_OK;
            for (int64_t s = 0; s < steps && st == DY_OK; s++)
                st = dy_lars_step(ctx, &o, p, grads + s * n, buf, n, segs, n_seg);
            CHECK(st == DY_OK, "%s: %s", cases[c].name, dy_ctx_error(ctx));
            char key[64], what[80];
            snprintf(key, sizeof key, "%s_params", cases[c].name);
            snprintf(what, sizeof what, "LARS %s params after %lld steps (threads %d)", cases[c].name,
                     (long long)steps, threads);
            test_close(what, p, fx_f32(f, key, NULL), (size_t)n, 1e-6);
            snprintf(key, sizeof key, "%s_momentum", cases[c].name);
            snprintf(what, sizeof what, "LARS %s momentum (threads %d)", cases[c].name, threads);
            test_close(what, buf, fx_f32(f, key, NULL), (size_t)n, 1e-6);
            /* Segment-wise too: the small excluded segments would hide in the normwise error of the whole buffer. */
            const float *want = fx_f32(f, (snprintf(key, sizeof key, "%s_params", cases[c].name), key), NULL);
            for (int64_t s = 0; s < n_seg; s++) {
                snprintf(what, sizeof what, "LARS %s segment %lld", cases[c].name, (long long)s);
                test_close(what, p + segs[s].offset, want + segs[s].offset, (size_t)segs[s].count, 1e-6);
            }
            dy_ctx_destroy(ctx);
        }
    free(segs);
    free(p);
    free(buf);
    fx_free(f);
}

static void test_trust_ratio_by_hand(void) {
    /* w = (3, 4): ||w|| = 5; grad = (0, 1), no weight decay: ||g|| = 1; eta 0.1: trust 0.5; lr 2, no momentum:
     * w -= 2 * 0.5 * g = (3, 3). The excluded bias (1) moves by lr * grad = 2 * 0.25. */
    float p[3] = {3, 4, 1}, g[3] = {0, 1, 0.25f}, buf[3] = {0};
    dy_param_segment segs[2] = {{0, 2, false}, {2, 1, true}};
    dy_lars_options o = {.lr = 2, .momentum = 0, .weight_decay = 0, .trust_coefficient = 0.1};
    dy_ctx *ctx = make_ctx(1);
    CHECK(dy_lars_step(ctx, &o, p, g, buf, 3, segs, 2) == DY_OK, "by hand: %s", dy_ctx_error(ctx));
    CHECK(p[0] == 3 && fabsf(p[1] - 3) < 1e-6f && fabsf(p[2] - 0.5f) < 1e-6f, "trust ratio 0.5: got %g %g %g", p[0],
          p[1], p[2]);
    dy_ctx_destroy(ctx);
}

static void test_errors(void) {
    float p[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1}, buf[4] = {0};
    dy_ctx *ctx = make_ctx(1);
    dy_lars_options o = dy_lars_defaults();
    dy_param_segment gap[2] = {{0, 2, false}, {3, 1, false}};
    CHECK(dy_lars_step(ctx, &o, p, g, buf, 4, gap, 2) == DY_ERR_INVALID, "a gap between segments refused: %s",
          dy_ctx_error(ctx));
    dy_param_segment overlap[2] = {{0, 2, false}, {1, 3, false}};
    CHECK(dy_lars_step(ctx, &o, p, g, buf, 4, overlap, 2) == DY_ERR_INVALID, "overlapping segments refused");
    dy_param_segment short_[1] = {{0, 3, false}};
    CHECK(dy_lars_step(ctx, &o, p, g, buf, 4, short_, 1) == DY_ERR_INVALID, "segments not reaching n refused: %s",
          dy_ctx_error(ctx));
    dy_param_segment ok[2] = {{0, 2, false}, {2, 2, true}};
    o.trust_coefficient = 0;
    CHECK(dy_lars_step(ctx, &o, p, g, buf, 4, ok, 2) == DY_ERR_INVALID, "eta 0 refused");
    o = dy_lars_defaults();
    g[3] = INFINITY;
    CHECK(dy_lars_step(ctx, &o, p, g, buf, 4, ok, 2) == DY_ERR_NUMERIC, "Inf gradient refused: %s", dy_ctx_error(ctx));
    CHECK(p[0] == 1 && p[3] == 4 && buf[0] == 0, "a refused step leaves parameters and state untouched");
    g[3] = 1;
    CHECK(dy_lars_step(ctx, &o, p, g, buf, 4, ok, 2) == DY_OK, "valid step after errors");
    dy_ctx_destroy(ctx);
}

int main(void) {
    test_against_plain_python();
    test_trust_ratio_by_hand();
    test_errors();
    return test_finish();
}
