/* The oneDNN executor's plain-C training batch norms (src/engine/ref/bn_blocked.c on nChw16c,
 * bn_rows.c on nhwc) on their own, against a batch norm written here in double: y, mean, variance, running
 * statistics, dx, dgamma, dbeta, with and without the fused ReLU, gamma/beta absent, dx computed in place over dy;
 * shapes with one image, one pixel, odd pixel counts, one to several channel blocks and (nhwc, 16 channels and more)
 * one to several chunks of rows, channel means 10 to 50
 * times the spread (as after a convolution). Every output must be bit-identical for 1, 2, 3 and 4 threads (the
 * kernels split work over images and channel blocks and add the partial sums in a fixed order). Then the same
 * property through the oneDNN executor, sync-bn (the same kernels with a reduction) included: conv -> batch norm -> ReLU at
 * 16 channels (nChw16c) and 8 (nhwc), output, running statistics and the batch norm's gradients bit-identical for
 * 1 and 3 threads (the convolution's forward is oneDNN's; only the batch norm's outputs are compared backward).
 * Tolerance: normwise relative error 1e-5 against the double evaluation (float data, float per-tile sums, the mean
 * rounded to float before the backward pass uses it: errors seen up to 3.5e-6, on dgamma). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#ifndef DY_HAVE_DNNL
int main(void) {
    printf("skipped: this build has no oneDNN (DNNL=0), so no oneDNN batch norm kernels\n");
    return test_finish();
}
#else

#include "core/rng.h"
#include "dystress.h"
#include "engine/dnnl/dnnl_exec_internal.h"
#include "engine/exec.h"

#define TOL 1e-5

typedef enum { BLOCKED, NHWC } layout;

typedef struct {
    int64_t n, c, hw;
} shape;

/* index of element (n, c, p) */
static int64_t at(layout lay, shape s, int64_t n, int64_t c, int64_t p) {
    if (lay == BLOCKED) return ((n * (s.c / 16) + c / 16) * s.hw + p) * 16 + c % 16;
    return (n * s.hw + p) * s.c + c;
}

typedef struct {
    float *y, *mean, *var, *rmean, *rvar, *batches, *dx, *dgamma, *dbeta;
} outputs;

static outputs outputs_new(int64_t size, int64_t c) {
    outputs o = {calloc((size_t)size, 4), calloc((size_t)c, 4), calloc((size_t)c, 4), calloc((size_t)c, 4),
                 calloc((size_t)c, 4), calloc(1, 4), calloc((size_t)size, 4), calloc((size_t)c, 4),
                 calloc((size_t)c, 4)};
    for (int64_t i = 0; i < c; i++) o.rmean[i] = 0.5f, o.rvar[i] = 2.0f;
    return o;
}

static void outputs_free(outputs *o) {
    free(o->y), free(o->mean), free(o->var), free(o->rmean), free(o->rvar), free(o->batches), free(o->dx);
    free(o->dgamma), free(o->dbeta);
}

/* The batch norm in double: what the kernels compute, written plainly. */
/* The ReLU's mask backward is the kernel's own y > 0 (mask_y), which is checked against the reference's y on its own:
 * an element within rounding of the kink may fall either side. */
static void reference(outputs *o, const float *x, const float *gamma, const float *beta, const float *dy,
                      const float *mask_y, layout lay, shape s, bool relu, float eps, float momentum) {
    const double count = (double)(s.n * s.hw);
    for (int64_t c = 0; c < s.c; c++) {
        double sum = 0, q = 0;
        for (int64_t n = 0; n < s.n; n++)
            for (int64_t p = 0; p < s.hw; p++) sum += x[at(lay, s, n, c, p)];
        const double m = sum / count;
        for (int64_t n = 0; n < s.n; n++)
            for (int64_t p = 0; p < s.hw; p++) q += (x[at(lay, s, n, c, p)] - m) * (x[at(lay, s, n, c, p)] - m);
        const double v = q / count, rstd = 1.0 / sqrt(v + eps), ga = gamma ? gamma[c] : 1.0, be = beta ? beta[c] : 0.0;
        o->mean[c] = (float)m;
        o->var[c] = (float)v;
        o->rmean[c] = (float)((1.0 - momentum) * o->rmean[c] + momentum * m);
        o->rvar[c] = (float)((1.0 - momentum) * o->rvar[c] + momentum * (count > 1 ? q / (count - 1) : v));
        double sg = 0, sgx = 0;
        for (int64_t n = 0; n < s.n; n++)
            for (int64_t p = 0; p < s.hw; p++) {
                const int64_t i = at(lay, s, n, c, p);
                const double yv = (x[i] - m) * rstd * ga + be;
                o->y[i] = (float)(relu && yv < 0 ? 0 : yv);
                const double g = relu && !(mask_y[i] > 0) ? 0 : dy[i];
                sg += g;
                sgx += g * (x[i] - m) * rstd;
            }
        o->dbeta[c] = (float)sg;
        o->dgamma[c] = (float)sgx;
        for (int64_t n = 0; n < s.n; n++)
            for (int64_t p = 0; p < s.hw; p++) {
                const int64_t i = at(lay, s, n, c, p);
                const double g = relu && !(mask_y[i] > 0) ? 0 : dy[i];
                o->dx[i] = (float)(ga * rstd * (g - sg / count - (x[i] - m) * rstd * sgx / count));
            }
    }
    o->batches[0] += 1.0f;
}

/* The kernel under test; dx is computed in place over a copy of dy when in_place. */
static void run_kernel(outputs *o, float *work, const float *x, const float *gamma, const float *beta,
                       const float *dy, layout lay, shape s, bool relu, float eps, float momentum, bool in_place,
                       int threads) {
    const int64_t size = s.n * s.c * s.hw;
    float *grad = o->dx;
    memcpy(grad, dy, sizeof(float) * (size_t)size);
    const float *dyp = in_place ? grad : dy;
    const float *yp = relu ? o->y : NULL;
    if (lay == BLOCKED) {
        dd_bn_blocked_forward(o->y, o->mean, o->var, o->rmean, o->rvar, o->batches, x, gamma, beta, s.n, s.c, s.hw,
                              eps, momentum, relu, work, threads);
        dd_bn_blocked_backward(grad, o->dgamma, o->dbeta, dyp, x, yp, o->mean, o->var, gamma, s.n, s.c, s.hw, eps,
                               work, threads);
    } else {
        dd_bn_nhwc_forward(o->y, o->mean, o->var, o->rmean, o->rvar, o->batches, x, gamma, beta, s.n, s.c, s.hw,
                           eps, momentum, relu, work, threads);
        dd_bn_nhwc_backward(grad, o->dgamma, o->dbeta, dyp, x, yp, o->mean, o->var, gamma, s.n, s.c, s.hw, eps,
                            work, threads);
    }
}

static bool same(const float *a, const float *b, int64_t n) { return memcmp(a, b, sizeof(float) * (size_t)n) == 0; }

static void test_case(layout lay, shape s, bool relu, bool affine, bool in_place, uint64_t seed) {
    const int64_t size = s.n * s.c * s.hw;
    const float eps = 1e-5f, momentum = 0.1f;
    dy_rng r;
    dy_rng_init(&r, seed, 0, 0, 0);
    float *x = malloc(sizeof(float) * (size_t)size), *dy = malloc(sizeof(float) * (size_t)size);
    float *gamma = malloc(sizeof(float) * (size_t)s.c), *beta = malloc(sizeof(float) * (size_t)s.c);
    const int64_t wb = dd_bn_blocked_work_floats(s.n, s.c), wn = dd_bn_nhwc_work_floats(s.n, s.c, s.hw);
    float *work = malloc(sizeof(float) * (size_t)(lay == BLOCKED ? wb : wn));
    double *offset = malloc(sizeof(double) * (size_t)s.c), *spread = malloc(sizeof(double) * (size_t)s.c);
    for (int64_t c = 0; c < s.c; c++) {
        spread[c] = 0.2 + 2.0 * dy_rng_uniform(&r);
        offset[c] = spread[c] * (10.0 + 40.0 * dy_rng_uniform(&r)) * (c % 2 ? -1 : 1);
        gamma[c] = (float)(0.5 + dy_rng_uniform(&r));
        beta[c] = (float)(dy_rng_uniform(&r) - 0.5);
    }
    for (int64_t n = 0; n < s.n; n++)
        for (int64_t c = 0; c < s.c; c++)
            for (int64_t p = 0; p < s.hw; p++) {
                const int64_t i = at(lay, s, n, c, p);
                x[i] = (float)(offset[c] + spread[c] * dy_rng_normal(&r));
                dy[i] = (float)dy_rng_normal(&r);
            }
    const float *ga = affine ? gamma : NULL, *be = affine ? beta : NULL;
    outputs want = outputs_new(size, s.c), got[4];
    char what[160];
    snprintf(what, sizeof what, "%s n=%lld c=%lld hw=%lld%s%s%s", lay == BLOCKED ? "nChw16c" : "nhwc",
             (long long)s.n, (long long)s.c, (long long)s.hw, relu ? " relu" : "", affine ? " affine" : "",
             in_place ? " in place" : "");
    for (int t = 0; t < 4; t++) {
        got[t] = outputs_new(size, s.c);
        run_kernel(&got[t], work, x, ga, be, dy, lay, s, relu, eps, momentum, in_place, t + 1);
    }
    reference(&want, x, ga, be, dy, got[0].y, lay, s, relu, eps, momentum);
    char msg[240];
#define CLOSE(field, n)                                                                                             \
    snprintf(msg, sizeof msg, "%s: " #field, what), test_close(msg, got[0].field, want.field, (size_t)(n), TOL)
    CLOSE(mean, s.c);
    CLOSE(var, s.c);
    CLOSE(rmean, s.c);
    CLOSE(rvar, s.c);
    CLOSE(y, size);
    CLOSE(dx, size);
    CLOSE(dgamma, s.c);
    CLOSE(dbeta, s.c);
#undef CLOSE
    CHECK(got[0].batches[0] == 1.0f, "%s: num_batches counted once (%g)", what, (double)got[0].batches[0]);
    bool ident = true;
    for (int t = 1; t < 4; t++)
        ident = ident && same(got[t].y, got[0].y, size) && same(got[t].dx, got[0].dx, size) &&
                same(got[t].mean, got[0].mean, s.c) && same(got[t].var, got[0].var, s.c) &&
                same(got[t].rmean, got[0].rmean, s.c) && same(got[t].rvar, got[0].rvar, s.c) &&
                same(got[t].dgamma, got[0].dgamma, s.c) && same(got[t].dbeta, got[0].dbeta, s.c);
    CHECK(ident, "%s: every output bit-identical for 1, 2, 3 and 4 threads", what);
    for (int t = 0; t < 4; t++) outputs_free(&got[t]);
    outputs_free(&want);
    free(x), free(dy), free(gamma), free(beta), free(work), free(offset), free(spread);
}

static dy_status identity_reduce(void *user, double *buf, int64_t n) {
    (void)user, (void)buf, (void)n;
    return DY_OK;
}

typedef struct {
    float *out, *state, *grads;
} exec_result;

/* One training step of g on n images of h x w with `threads` threads; false (with a failed check) on an error. */
static bool exec_step(exec_result *r, const dy_graph *g, const float *params, const float *input, const float *dout,
                      int64_t n, int64_t h, int64_t w, int64_t out_size, int threads) {
    dy_ctx_options o = {.threads = threads, .backend = DY_BACKEND_DNNL};
    dy_ctx *ctx = NULL;
    dy_exec *e = NULL;
    r->out = calloc((size_t)out_size, 4), r->state = calloc((size_t)g->n_state, 4);
    r->grads = calloc((size_t)g->n_params, 4);
    bool ok = dy_ctx_create(&ctx, &o) == DY_OK && r->out && r->state && r->grads;
    ok = ok && dy_exec_create(ctx, g, n, h, w, DY_EXEC_TRAIN, &e) == DY_OK;
    ok = ok && dy_exec_forward(e, params, r->state, input, NULL, r->out) == DY_OK;
    ok = ok && dy_exec_backward(e, params, r->grads, dout, NULL) == DY_OK;
    CHECK(ok, "executor step with %d threads ran: %s", threads, ctx ? dy_ctx_error(ctx) : "no context");
    dy_exec_destroy(e);
    dy_ctx_destroy(ctx);
    return ok;
}

static void test_exec(int64_t channels, bool sync) {
    const int64_t n = 6, h = 9, w = 7;
    const dy_bn_sync ident = {.allreduce = identity_reduce};
    dy_ctx_options o = {.threads = 1, .backend = DY_BACKEND_DNNL};
    dy_ctx *ctx = NULL;
    dy_graph g;
    dy_graph_init(&g, 3);
    int32_t v = 0;
    bool ok = dy_ctx_create(&ctx, &o) == DY_OK;
    ok = ok && dy_graph_conv(ctx, &g, 0, channels, 3, 1, 1, false, "conv", &v) == DY_OK;
    ok = ok && dy_graph_batchnorm(ctx, &g, v, "bn", &v) == DY_OK;
    ok = ok && dy_graph_relu(ctx, &g, v, "relu", &v) == DY_OK;
    dy_ctx_destroy(ctx);
    if (!CHECK(ok, "graph conv-bn-relu with %lld channels built", (long long)channels)) return;
    g.output = v;
    g.bn_sync = sync ? &ident : NULL;
    const dy_node *bn = &g.nodes[1];
    const int64_t in_size = n * 3 * h * w, out_size = n * channels * h * w;
    float *params = calloc((size_t)g.n_params, 4), *input = malloc(4 * (size_t)in_size);
    float *dout = malloc(4 * (size_t)out_size);
    dy_rng r;
    dy_rng_init(&r, (uint64_t)channels, 0, sync, 0);
    for (int64_t i = 0; i < g.n_params; i++) params[i] = (float)(0.3 * dy_rng_normal(&r));
    for (int64_t c = 0; c < channels; c++) params[bn->weight + c] = (float)(0.5 + dy_rng_uniform(&r));
    for (int64_t i = 0; i < in_size; i++) input[i] = (float)(3.0 + dy_rng_normal(&r));
    for (int64_t i = 0; i < out_size; i++) dout[i] = (float)dy_rng_normal(&r);
    exec_result one = {0}, three = {0};
    const char *what = sync ? "sync-bn" : "batch norm";
    if (exec_step(&one, &g, params, input, dout, n, h, w, out_size, 1) &&
        exec_step(&three, &g, params, input, dout, n, h, w, out_size, 3)) {
        CHECK(same(one.out, three.out, out_size), "%s, %lld channels: output bit-identical for 1 and 3 threads", what,
              (long long)channels);
        CHECK(same(one.state, three.state, g.n_state), "%s, %lld channels: running statistics bit-identical", what,
              (long long)channels);
        CHECK(same(one.grads + bn->weight, three.grads + bn->weight, channels) &&
                  same(one.grads + bn->bias, three.grads + bn->bias, channels),
              "%s, %lld channels: gamma and beta gradients bit-identical", what, (long long)channels);
    }
    free(one.out), free(one.state), free(one.grads), free(three.out), free(three.state), free(three.grads);
    free(params), free(input), free(dout);
    dy_graph_free(&g);
}

int main(void) {
    const shape shapes[] = {{1, 16, 1}, {3, 16, 7}, {4, 16, 64}, {2, 48, 9}, {5, 32, 25}, {8, 16, 1024}};
    uint64_t seed = 100;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (int variant = 0; variant < 4; variant++) {
            const bool relu = variant & 1, affine = variant != 2, in_place = variant == 3;
            test_case(BLOCKED, shapes[k], relu, affine, in_place, seed++);
        }
    /* 16 channels and more: statistics over chunks of 256 rows (one to several chunks, the last one partial) */
    const shape nhwc[] = {{1, 3, 1},      {3, 5, 7},    {4, 8, 64},    {2, 70, 9},
                          {5, 12, 25},    {6, 4, 1024}, {8, 24, 100},  {3, 130, 200},
                          {4, 16, 64}};
    for (size_t k = 0; k < sizeof nhwc / sizeof nhwc[0]; k++)
        for (int variant = 0; variant < 4; variant++) {
            const bool relu = variant & 1, affine = variant != 2, in_place = variant == 3;
            test_case(NHWC, nhwc[k], relu, affine, in_place, seed++);
        }
    for (int sync = 0; sync < 2; sync++) {
        test_exec(16, sync);
        test_exec(8, sync);
    }
    return test_finish();
}
#endif
