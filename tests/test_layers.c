/* The reference layers (src/engine/ref) against PyTorch and against central finite differences.
 *
 * Part 1 compares every op with tests/fixtures/layers.bin (tools/fixtures_layers.py: PyTorch forward outputs and
 * autograd gradients for an upstream gradient g), normwise relative error <= 1e-4.
 * Part 2 checks every backward against central differences of L = sum(g * y) (g a fixed random tensor, L summed in
 * double), perturbing a sample of the elements of each input and parameter one at a time; square windows, 1-D ones
 * (1 x k: a signal as a 1 x t image) and windows with different sizes, strides and pads per direction. The 1-D
 * layers against PyTorch's nn.Conv1d, BatchNorm1d, MaxPool1d and AdaptiveAvgPool1d: tests/test_layers1d.c. */
#include "core/rng.h"
#include "engine/ref/ops.h"
#include "dystress.h"
#include "fixture.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE_TOL 1e-4
#define OP_THREADS 2 /* the ops' thread count (a context's, in the library) */

/* ------------------------------------------------------------------------------------------------------------ */
/* Helpers                                                                                                      */

static fx_file *fx;

/* The tensor "<name>.<key>" of the fixture file, or NULL (fx_get prints which is missing). */
static const fx_tensor *tensor(const char *name, const char *key) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", name, key);
    return fx_get(fx, full);
}

static const float *f32(const char *name, const char *key) {
    const fx_tensor *t = tensor(name, key);
    return t && t->dtype == 0 ? (const float *)t->data : NULL;
}

static int64_t numel(const char *name, const char *key) {
    const fx_tensor *t = tensor(name, key);
    return t ? t->numel : 0;
}

/* A fresh zeroed buffer; the test stops at once if memory is short. */
static float *buffer(int64_t count) {
    float *p = calloc((size_t)(count > 0 ? count : 1), sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static float *copy_of(const float *src, int64_t count) {
    float *p = buffer(count);
    memcpy(p, src, (size_t)count * sizeof *p);
    return p;
}

static float *random_normal(dy_rng *rng, int64_t count, double scale) {
    float *p = buffer(count);
    for (int64_t i = 0; i < count; i++) p[i] = (float)(scale * dy_rng_normal(rng));
    return p;
}

static double dot(const float *a, const float *b, int64_t count) {
    double s = 0.0;
    for (int64_t i = 0; i < count; i++) s += (double)a[i] * b[i];
    return s;
}

static bool close_to_fixture(const char *name, const char *key, const float *got) {
    const float *want = f32(name, key);
    char what[128];
    snprintf(what, sizeof what, "%s %s vs PyTorch", name, key);
    if (!CHECK(want != NULL, "%s: fixture tensor present", what)) return false;
    return test_close(what, got, want, (size_t)numel(name, key), FIXTURE_TOL);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Part 1: PyTorch fixtures                                                                                    */

static void fixture_conv(const char *name, bool bias) {
    const fx_tensor *tx = tensor(name, "x"), *tw = tensor(name, "w"), *tc = tensor(name, "conf");
    if (!CHECK(tx && tw && tc && tx->ndim == 4 && tw->ndim == 4, "%s: fixture shapes", name)) return;
    const int64_t *conf = tc->data;
    dy_conv_shape cs = {.n = tx->dims[0], .c = tx->dims[1], .h = tx->dims[2], .w = tx->dims[3], .k = tw->dims[0],
                        .r = tw->dims[2], .s = tw->dims[3], .stride_h = conf[0], .stride_w = conf[0],
                        .pad_h = conf[1], .pad_w = conf[1]};
    if (!CHECK(conv2d_shape(&cs) == 0 && cs.n * cs.k * cs.p * cs.q == numel(name, "y"), "%s: output shape", name))
        return;
    const float *b = bias ? f32(name, "b") : NULL;
    float *y = buffer(numel(name, "y")), *dx = buffer(tx->numel), *dw = buffer(tw->numel), *db = buffer(cs.k);
    conv2d_forward(y, tx->data, tw->data, b, &cs, OP_THREADS);
    close_to_fixture(name, "y", y);
    conv2d_backward_data(dx, f32(name, "g"), tw->data, &cs, OP_THREADS);
    close_to_fixture(name, "dx", dx);
    conv2d_backward_weights(dw, bias ? db : NULL, f32(name, "g"), tx->data, &cs, OP_THREADS);
    close_to_fixture(name, "dw", dw);
    if (bias) close_to_fixture(name, "db", db);
    free(y), free(dx), free(dw), free(db);
}

/* [n, c] or [n, c, h, w] from the fixture's x. */
static void bn_dims(const fx_tensor *tx, int64_t *n, int64_t *c, int64_t *hw) {
    *n = tx->dims[0];
    *c = tx->dims[1];
    *hw = tx->ndim == 4 ? tx->dims[2] * tx->dims[3] : 1;
}

static void fixture_bn(const char *name, bool train) {
    const fx_tensor *tx = tensor(name, "x");
    if (!CHECK(tx && (tx->ndim == 2 || tx->ndim == 4), "%s: fixture shapes", name)) return;
    int64_t n, c, hw;
    bn_dims(tx, &n, &c, &hw);
    const float *momentum_t = f32(name, "momentum"), *eps_t = f32(name, "eps");
    if (!CHECK(momentum_t && eps_t, "%s: momentum and eps stored", name)) return;
    const float momentum = momentum_t[0], eps = eps_t[0];
    float *y = buffer(tx->numel), *dx = buffer(tx->numel), *dgamma = buffer(c), *dbeta = buffer(c);
    float *rmean = copy_of(f32(name, "running_mean_in"), c), *rvar = copy_of(f32(name, "running_var_in"), c);
    float *mean = buffer(c), *rstd = buffer(c);
    if (train) {
        batchnorm_forward_train(y, mean, rstd, rmean, rvar, tx->data, f32(name, "gamma"), f32(name, "beta"), n, c, hw,
                                momentum, eps, OP_THREADS);
        close_to_fixture(name, "y", y);
        close_to_fixture(name, "running_mean", rmean);
        close_to_fixture(name, "running_var", rvar);
        batchnorm_backward(dx, dgamma, dbeta, f32(name, "g"), tx->data, mean, rstd, f32(name, "gamma"), n, c, hw,
                           OP_THREADS);
        close_to_fixture(name, "dx", dx);
        close_to_fixture(name, "dgamma", dgamma);
        close_to_fixture(name, "dbeta", dbeta);
    } else {
        batchnorm_forward_eval(y, tx->data, f32(name, "gamma"), f32(name, "beta"), rmean, rvar, n, c, hw, eps,
                               OP_THREADS);
        close_to_fixture(name, "y", y);
    }
    free(y), free(dx), free(dgamma), free(dbeta), free(rmean), free(rvar), free(mean), free(rstd);
}

static void fixture_relu(void) {
    int64_t count = numel("relu", "x");
    float *y = buffer(count), *dx = buffer(count);
    relu_forward(y, f32("relu", "x"), count, OP_THREADS);
    close_to_fixture("relu", "y", y);
    relu_backward(dx, f32("relu", "g"), y, count, OP_THREADS);
    close_to_fixture("relu", "dx", dx);
    free(y), free(dx);
}

static void fixture_maxpool(const char *name) {
    const fx_tensor *tx = tensor(name, "x"), *tc = tensor(name, "conf");
    if (!CHECK(tx && tc && tx->ndim == 4, "%s: fixture shapes", name)) return;
    const int64_t *conf = tc->data;
    dy_pool_shape ps = {.n = tx->dims[0], .c = tx->dims[1], .h = tx->dims[2], .w = tx->dims[3], .kernel_h = conf[0],
                        .kernel_w = conf[0], .stride_h = conf[1], .stride_w = conf[1], .pad_h = conf[2],
                        .pad_w = conf[2]};
    if (!CHECK(maxpool2d_shape(&ps) == 0 && ps.n * ps.c * ps.p * ps.q == numel(name, "y"), "%s: output shape", name))
        return;
    float *y = buffer(numel(name, "y")), *dx = buffer(tx->numel);
    maxpool2d_forward(y, tx->data, &ps, OP_THREADS);
    close_to_fixture(name, "y", y);
    maxpool2d_backward(dx, f32(name, "g"), tx->data, &ps, OP_THREADS);
    close_to_fixture(name, "dx", dx); /* with ties: only the first maximum of each window receives the gradient */
    free(y), free(dx);
}

static void fixture_avgpool(const char *name) {
    const fx_tensor *tx = tensor(name, "x");
    if (!CHECK(tx && tx->ndim == 4, "%s: fixture shapes", name)) return;
    const int64_t n = tx->dims[0], c = tx->dims[1], hw = tx->dims[2] * tx->dims[3];
    float *y = buffer(n * c), *dx = buffer(tx->numel);
    avgpool_global_forward(y, tx->data, n, c, hw, OP_THREADS);
    close_to_fixture(name, "y", y);
    avgpool_global_backward(dx, f32(name, "g"), n, c, hw, OP_THREADS);
    close_to_fixture(name, "dx", dx);
    free(y), free(dx);
}

static void fixture_linear(const char *name, bool bias) {
    const fx_tensor *tx = tensor(name, "x"), *tw = tensor(name, "w");
    if (!CHECK(tx && tw && tx->ndim == 2 && tw->ndim == 2, "%s: fixture shapes", name)) return;
    const int64_t n = tx->dims[0], in = tx->dims[1], out = tw->dims[0];
    float *y = buffer(n * out), *dx = buffer(n * in), *dw = buffer(out * in), *db = buffer(out);
    linear_forward(y, tx->data, tw->data, bias ? f32(name, "b") : NULL, n, in, out, OP_THREADS);
    close_to_fixture(name, "y", y);
    linear_backward(dx, dw, bias ? db : NULL, f32(name, "g"), tx->data, tw->data, n, in, out, OP_THREADS);
    close_to_fixture(name, "dx", dx);
    close_to_fixture(name, "dw", dw);
    if (bias) close_to_fixture(name, "db", db);
    free(y), free(dx), free(dw), free(db);
}

static void fixture_add(void) {
    int64_t count = numel("add", "a");
    float *y = buffer(count);
    add_forward(y, f32("add", "a"), f32("add", "b"), count, OP_THREADS);
    close_to_fixture("add", "y", y);
    /* The backward is the identity for both inputs: PyTorch's da and db are g itself. */
    close_to_fixture("add", "da", f32("add", "g"));
    close_to_fixture("add", "db", f32("add", "g"));
    free(y);
}

static void fixture_l2norm(const char *name) {
    const fx_tensor *tx = tensor(name, "x");
    if (!CHECK(tx && tx->ndim == 2, "%s: fixture shapes", name)) return;
    const int64_t n = tx->dims[0], d = tx->dims[1];
    const float *eps_t = f32(name, "eps");
    if (!CHECK(eps_t != NULL, "%s: eps stored", name)) return;
    const float eps = eps_t[0];
    float *y = buffer(n * d), *dx = buffer(n * d);
    l2norm_forward(y, tx->data, n, d, eps, OP_THREADS);
    close_to_fixture(name, "y", y);
    l2norm_backward(dx, f32(name, "g"), tx->data, n, d, eps, OP_THREADS);
    close_to_fixture(name, "dx", dx);
    free(y), free(dx);
}

static void test_fixtures(void) {
    fx = fx_load(test_fixture_path("layers.bin"));
    if (!CHECK(fx != NULL, "load tests/fixtures/layers.bin (tools/fixtures_layers.py writes it)")) return;
    fixture_conv("conv_s1p1", false);
    fixture_conv("conv_s2p1_bias", true);
    fixture_conv("conv_1x1_s2", false);
    fixture_conv("conv_7x7_s2p3", false);
    fixture_conv("conv_batch1", true);
    fixture_conv("conv_1x1_spatial", true);
    fixture_bn("bn2d_train", true);
    fixture_bn("bn2d_eval", false);
    fixture_bn("bn2d_train_1x1", true);
    fixture_bn("bn1d_train", true);
    fixture_bn("bn1d_eval", false);
    fixture_relu();
    fixture_maxpool("maxpool");
    fixture_maxpool("maxpool_ties");
    fixture_avgpool("avgpool");
    fixture_avgpool("avgpool_1x1");
    fixture_linear("linear_bias", true);
    fixture_linear("linear_nobias", false);
    fixture_add();
    fixture_l2norm("l2norm");
    fixture_l2norm("l2norm_eps");
    fx_free(fx);
    fx = NULL;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Part 2: central finite differences                                                                          */

/* Tolerances. The forward runs in float32, so L(x + h) - L(x - h) carries the float rounding of the outputs that
 * the perturbed element touches, about 1e-7 |g y| each; divided by 2h that is ~1e-5 relative for h = 1e-2.
 * - Ops that are linear in the perturbed element (conv, linear, pooling, add; ReLU and max pool away from their
 *   kinks) have no truncation error: h = 1e-2, tolerance 1e-3 (observed 1e-6 .. 8e-5, the 7x7 conv the largest).
 * - Batch norm and L2 normalisation are smooth but curved: the central difference has an O(h^2) truncation error,
 *   so h = 1e-3 (truncation ~1e-6 of the scale, rounding ~1e-4), tolerance 5e-3 (observed 1e-5 .. 3e-4).
 * A wrong formula (a missing term, a transposed index) gives errors of order 1e-2 .. 1, far above either. */
#define FD_H_LINEAR 1e-2f
#define FD_TOL_LINEAR 1e-3
#define FD_H_SMOOTH 1e-3f
#define FD_TOL_SMOOTH 5e-3
#define FD_SAMPLES 24

typedef double (*loss_fn)(void *op); /* runs the forward and returns sum(g * y) in double */

/* Compares analytic[] with central differences of loss over up to FD_SAMPLES elements of param (always the first
 * and the last, the rest drawn at random). */
static void fd_check(const char *what, loss_fn loss, void *op, float *param, const float *analytic, int64_t count,
                     float h, double tol) {
    dy_rng rng;
    dy_rng_init(&rng, 7, DY_RNG_EVAL, (uint32_t)count, (uint32_t)strlen(what));
    float fd[FD_SAMPLES], an[FD_SAMPLES];
    int m = 0;
    for (int i = 0; i < FD_SAMPLES && i < count; i++) {
        int64_t idx;
        if (count <= FD_SAMPLES) idx = i;
        else if (i == 0) idx = 0;
        else if (i == 1) idx = count - 1;
        else idx = (int64_t)dy_rng_below(&rng, (uint64_t)count);
        const float saved = param[idx];
        param[idx] = saved + h;
        const double up = loss(op);
        param[idx] = saved - h;
        const double down = loss(op);
        param[idx] = saved;
        fd[m] = (float)((up - down) / (2.0 * (double)h));
        an[m] = analytic[idx];
        m++;
    }
    char label[160];
    snprintf(label, sizeof label, "finite differences: %s", what);
    test_close(label, an, fd, (size_t)m, tol);
}

typedef struct {
    dy_conv_shape cs;
    float *x, *w, *b, *y, *g;
} conv_op;

static double conv_loss(void *p) {
    conv_op *o = p;
    conv2d_forward(o->y, o->x, o->w, o->b, &o->cs, OP_THREADS);
    return dot(o->g, o->y, o->cs.n * o->cs.k * o->cs.p * o->cs.q);
}

static void fd_conv(const char *name, dy_conv_shape cs, bool bias) {
    if (!CHECK(conv2d_shape(&cs) == 0, "%s: valid shape", name)) return;
    dy_rng rng;
    dy_rng_init(&rng, 11, DY_RNG_EVAL, (uint32_t)(cs.r * 16 + cs.stride_h), (uint32_t)cs.n);
    const int64_t nx = cs.n * cs.c * cs.h * cs.w, nw = cs.k * cs.c * cs.r * cs.s, ny = cs.n * cs.k * cs.p * cs.q;
    conv_op o = {.cs = cs, .x = random_normal(&rng, nx, 1.0), .w = random_normal(&rng, nw, 0.3),
                 .b = bias ? random_normal(&rng, cs.k, 1.0) : NULL, .y = buffer(ny), .g = random_normal(&rng, ny, 1.0)};
    float *dx = buffer(nx), *dw = buffer(nw), *db = buffer(cs.k);
    conv2d_backward_data(dx, o.g, o.w, &cs, OP_THREADS);
    conv2d_backward_weights(dw, bias ? db : NULL, o.g, o.x, &cs, OP_THREADS);
    char what[128];
    snprintf(what, sizeof what, "%s dx", name);
    fd_check(what, conv_loss, &o, o.x, dx, nx, FD_H_LINEAR, FD_TOL_LINEAR);
    snprintf(what, sizeof what, "%s dw", name);
    fd_check(what, conv_loss, &o, o.w, dw, nw, FD_H_LINEAR, FD_TOL_LINEAR);
    if (bias) {
        snprintf(what, sizeof what, "%s db", name);
        fd_check(what, conv_loss, &o, o.b, db, cs.k, FD_H_LINEAR, FD_TOL_LINEAR);
    }
    free(o.x), free(o.w), free(o.b), free(o.y), free(o.g), free(dx), free(dw), free(db);
}

typedef struct {
    int64_t n, c, hw;
    float *x, *gamma, *beta, *y, *g;
} bn_op;

static double bn_loss(void *p) {
    bn_op *o = p;
    /* No running statistics and nothing saved: the loss depends on the normalised output only. */
    batchnorm_forward_train(o->y, NULL, NULL, NULL, NULL, o->x, o->gamma, o->beta, o->n, o->c, o->hw, 0.1f, 1e-5f,
                            OP_THREADS);
    return dot(o->g, o->y, o->n * o->c * o->hw);
}

static void fd_bn(const char *name, int64_t n, int64_t c, int64_t hw) {
    dy_rng rng;
    dy_rng_init(&rng, 13, DY_RNG_EVAL, (uint32_t)n, (uint32_t)hw);
    const int64_t count = n * c * hw;
    bn_op o = {.n = n, .c = c, .hw = hw, .x = random_normal(&rng, count, 1.0), .gamma = random_normal(&rng, c, 1.0),
               .beta = random_normal(&rng, c, 1.0), .y = buffer(count), .g = random_normal(&rng, count, 1.0)};
    float *mean = buffer(c), *rstd = buffer(c), *dx = buffer(count), *dgamma = buffer(c), *dbeta = buffer(c);
    batchnorm_forward_train(o.y, mean, rstd, NULL, NULL, o.x, o.gamma, o.beta, n, c, hw, 0.1f, 1e-5f, OP_THREADS);
    batchnorm_backward(dx, dgamma, dbeta, o.g, o.x, mean, rstd, o.gamma, n, c, hw, OP_THREADS);
    char what[128];
    snprintf(what, sizeof what, "%s dx", name);
    fd_check(what, bn_loss, &o, o.x, dx, count, FD_H_SMOOTH, FD_TOL_SMOOTH);
    snprintf(what, sizeof what, "%s dgamma", name);
    fd_check(what, bn_loss, &o, o.gamma, dgamma, c, FD_H_SMOOTH, FD_TOL_SMOOTH);
    snprintf(what, sizeof what, "%s dbeta", name);
    fd_check(what, bn_loss, &o, o.beta, dbeta, c, FD_H_SMOOTH, FD_TOL_SMOOTH);
    free(o.x), free(o.gamma), free(o.beta), free(o.y), free(o.g), free(mean), free(rstd), free(dx), free(dgamma),
        free(dbeta);
}

typedef struct {
    int64_t count;
    float *x, *y, *g;
} relu_op;

static double relu_loss(void *p) {
    relu_op *o = p;
    relu_forward(o->y, o->x, o->count, OP_THREADS);
    return dot(o->g, o->y, o->count);
}

static void fd_relu(void) {
    dy_rng rng;
    dy_rng_init(&rng, 17, DY_RNG_EVAL, 0, 0);
    const int64_t count = 300;
    relu_op o = {.count = count, .x = random_normal(&rng, count, 1.0), .y = buffer(count),
                 .g = random_normal(&rng, count, 1.0)};
    /* Away from the kink: |x| >= 0.1, ten times the step, so no perturbation crosses zero. */
    for (int64_t i = 0; i < count; i++)
        if (fabsf(o.x[i]) < 0.1f) o.x[i] = o.x[i] < 0 ? o.x[i] - 0.1f : o.x[i] + 0.1f;
    float *dx = buffer(count);
    relu_forward(o.y, o.x, count, OP_THREADS);
    relu_backward(dx, o.g, o.y, count, OP_THREADS);
    fd_check("relu dx", relu_loss, &o, o.x, dx, count, FD_H_LINEAR, FD_TOL_LINEAR);
    free(o.x), free(o.y), free(o.g), free(dx);
}

typedef struct {
    dy_pool_shape ps;
    float *x, *y, *g;
} pool_op;

static double maxpool_loss(void *p) {
    pool_op *o = p;
    maxpool2d_forward(o->y, o->x, &o->ps, OP_THREADS);
    return dot(o->g, o->y, o->ps.n * o->ps.c * o->ps.p * o->ps.q);
}

static void fd_maxpool(const char *name, dy_pool_shape ps) {
    if (!CHECK(maxpool2d_shape(&ps) == 0, "%s: valid shape", name)) return;
    dy_rng rng;
    dy_rng_init(&rng, 19, DY_RNG_EVAL, (uint32_t)ps.h, (uint32_t)ps.w);
    const int64_t nx = ps.n * ps.c * ps.h * ps.w, ny = ps.n * ps.c * ps.p * ps.q;
    /* Away from the kinks: the values of x are a random permutation of 0.05 * i, so any two differ by at least 0.05,
     * five times the step: no perturbation changes which element of a window is the maximum. */
    pool_op o = {.ps = ps, .x = buffer(nx), .y = buffer(ny), .g = random_normal(&rng, ny, 1.0)};
    for (int64_t i = 0; i < nx; i++) o.x[i] = 0.05f * (float)i;
    for (int64_t i = nx - 1; i > 0; i--) {
        int64_t j = (int64_t)dy_rng_below(&rng, (uint64_t)(i + 1));
        float t = o.x[i];
        o.x[i] = o.x[j];
        o.x[j] = t;
    }
    float *dx = buffer(nx);
    maxpool2d_backward(dx, o.g, o.x, &ps, OP_THREADS);
    char what[128];
    snprintf(what, sizeof what, "%s dx", name);
    fd_check(what, maxpool_loss, &o, o.x, dx, nx, FD_H_LINEAR, FD_TOL_LINEAR);
    free(o.x), free(o.y), free(o.g), free(dx);
}

typedef struct {
    int64_t n, c, hw;
    float *x, *y, *g;
} avgpool_op;

static double avgpool_loss(void *p) {
    avgpool_op *o = p;
    avgpool_global_forward(o->y, o->x, o->n, o->c, o->hw, OP_THREADS);
    return dot(o->g, o->y, o->n * o->c);
}

static void fd_avgpool(const char *name, int64_t n, int64_t c, int64_t hw) {
    dy_rng rng;
    dy_rng_init(&rng, 23, DY_RNG_EVAL, (uint32_t)hw, 0);
    avgpool_op o = {.n = n, .c = c, .hw = hw, .x = random_normal(&rng, n * c * hw, 1.0), .y = buffer(n * c),
                    .g = random_normal(&rng, n * c, 1.0)};
    float *dx = buffer(n * c * hw);
    avgpool_global_backward(dx, o.g, n, c, hw, OP_THREADS);
    char what[128];
    snprintf(what, sizeof what, "%s dx", name);
    fd_check(what, avgpool_loss, &o, o.x, dx, n * c * hw, FD_H_LINEAR, FD_TOL_LINEAR);
    free(o.x), free(o.y), free(o.g), free(dx);
}

typedef struct {
    int64_t n, in, out;
    float *x, *w, *b, *y, *g;
} linear_op;

static double linear_loss(void *p) {
    linear_op *o = p;
    linear_forward(o->y, o->x, o->w, o->b, o->n, o->in, o->out, OP_THREADS);
    return dot(o->g, o->y, o->n * o->out);
}

static void fd_linear(const char *name, int64_t n, int64_t in, int64_t out, bool bias) {
    dy_rng rng;
    dy_rng_init(&rng, 29, DY_RNG_EVAL, (uint32_t)in, (uint32_t)out);
    linear_op o = {.n = n, .in = in, .out = out, .x = random_normal(&rng, n * in, 1.0),
                   .w = random_normal(&rng, out * in, 0.3), .b = bias ? random_normal(&rng, out, 1.0) : NULL,
                   .y = buffer(n * out), .g = random_normal(&rng, n * out, 1.0)};
    float *dx = buffer(n * in), *dw = buffer(out * in), *db = buffer(out);
    linear_backward(dx, dw, bias ? db : NULL, o.g, o.x, o.w, n, in, out, OP_THREADS);
    char what[128];
    snprintf(what, sizeof what, "%s dx", name);
    fd_check(what, linear_loss, &o, o.x, dx, n * in, FD_H_LINEAR, FD_TOL_LINEAR);
    snprintf(what, sizeof what, "%s dw", name);
    fd_check(what, linear_loss, &o, o.w, dw, out * in, FD_H_LINEAR, FD_TOL_LINEAR);
    if (bias) {
        snprintf(what, sizeof what, "%s db", name);
        fd_check(what, linear_loss, &o, o.b, db, out, FD_H_LINEAR, FD_TOL_LINEAR);
    }
    free(o.x), free(o.w), free(o.b), free(o.y), free(o.g), free(dx), free(dw), free(db);
}

typedef struct {
    int64_t count;
    float *a, *b, *y, *g;
} add_op;

static double add_loss(void *p) {
    add_op *o = p;
    add_forward(o->y, o->a, o->b, o->count, OP_THREADS);
    return dot(o->g, o->y, o->count);
}

static void fd_add(void) {
    dy_rng rng;
    dy_rng_init(&rng, 31, DY_RNG_EVAL, 0, 0);
    const int64_t count = 200;
    add_op o = {.count = count, .a = random_normal(&rng, count, 1.0), .b = random_normal(&rng, count, 1.0),
                .y = buffer(count), .g = random_normal(&rng, count, 1.0)};
    /* The documented backward: dy passes unchanged to both inputs. */
    fd_check("add da", add_loss, &o, o.a, o.g, count, FD_H_LINEAR, FD_TOL_LINEAR);
    fd_check("add db", add_loss, &o, o.b, o.g, count, FD_H_LINEAR, FD_TOL_LINEAR);
    free(o.a), free(o.b), free(o.y), free(o.g);
}

typedef struct {
    int64_t n, d;
    float eps;
    float *x, *y, *g;
} l2norm_op;

static double l2norm_loss(void *p) {
    l2norm_op *o = p;
    l2norm_forward(o->y, o->x, o->n, o->d, o->eps, OP_THREADS);
    return dot(o->g, o->y, o->n * o->d);
}

/* With eps = 0.5 and rows scaled 0.02 .. 2, some rows are below eps (y = x / eps) and some above: both branches,
 * none within a step of the switch. */
static void fd_l2norm(const char *name, int64_t n, int64_t d, float eps) {
    dy_rng rng;
    dy_rng_init(&rng, 37, DY_RNG_EVAL, (uint32_t)d, 0);
    l2norm_op o = {.n = n, .d = d, .eps = eps, .x = random_normal(&rng, n * d, 1.0), .y = buffer(n * d),
                   .g = random_normal(&rng, n * d, 1.0)};
    for (int64_t i = 0; i < n; i++) {
        const double nrm = sqrt(dot(o.x + i * d, o.x + i * d, d)), target = i % 2 ? 0.2 : 1.5;
        for (int64_t j = 0; j < d; j++) o.x[i * d + j] = (float)(o.x[i * d + j] * target / nrm);
    }
    float *dx = buffer(n * d);
    l2norm_backward(dx, o.g, o.x, n, d, eps, OP_THREADS);
    char what[128];
    snprintf(what, sizeof what, "%s dx", name);
    fd_check(what, l2norm_loss, &o, o.x, dx, n * d, FD_H_SMOOTH, FD_TOL_SMOOTH);
    free(o.x), free(o.y), free(o.g), free(dx);
}

static void test_finite_differences(void) {
    fd_conv("conv 3x3 s1 p1", (dy_conv_shape){.n = 2, .c = 3, .h = 6, .w = 6, .k = 4, .r = 3, .s = 3, .stride_h = 1,
                                              .stride_w = 1, .pad_h = 1, .pad_w = 1},
            false);
    fd_conv("conv 3x3 s2 p1 bias", (dy_conv_shape){.n = 2, .c = 3, .h = 7, .w = 7, .k = 5, .r = 3, .s = 3,
                                                   .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1},
            true);
    fd_conv("conv 1x1 s2", (dy_conv_shape){.n = 2, .c = 4, .h = 6, .w = 6, .k = 6, .r = 1, .s = 1, .stride_h = 2,
                                           .stride_w = 2},
            false);
    fd_conv("conv 7x7 s2 p3 non-square", (dy_conv_shape){.n = 2, .c = 3, .h = 13, .w = 10, .k = 4, .r = 7, .s = 7,
                                                         .stride_h = 2, .stride_w = 2, .pad_h = 3, .pad_w = 3},
            false);
    fd_conv("conv 3x2 kernel s1 p0", (dy_conv_shape){.n = 2, .c = 2, .h = 5, .w = 6, .k = 3, .r = 3, .s = 2,
                                                     .stride_h = 1, .stride_w = 1},
            true);
    fd_conv("conv batch 1", (dy_conv_shape){.n = 1, .c = 2, .h = 5, .w = 5, .k = 3, .r = 3, .s = 3, .stride_h = 1,
                                            .stride_w = 1, .pad_h = 1, .pad_w = 1},
            true);
    fd_conv("conv 1x1 spatial", (dy_conv_shape){.n = 3, .c = 4, .h = 1, .w = 1, .k = 5, .r = 3, .s = 3, .stride_h = 1,
                                                .stride_w = 1, .pad_h = 1, .pad_w = 1},
            true);
    /* 1-D (a signal as a 1 x t image, 1 x k kernels) and a window with different sizes, strides and pads per side */
    fd_conv("conv1d k3 s1 p1", (dy_conv_shape){.n = 2, .c = 3, .h = 1, .w = 16, .k = 4, .r = 1, .s = 3, .stride_h = 1,
                                               .stride_w = 1, .pad_w = 1},
            false);
    fd_conv("conv1d k7 s2 p3 bias", (dy_conv_shape){.n = 2, .c = 2, .h = 1, .w = 21, .k = 5, .r = 1, .s = 7,
                                                    .stride_h = 1, .stride_w = 2, .pad_w = 3},
            true);
    fd_conv("conv 3x1 s2x1 p1x0", (dy_conv_shape){.n = 2, .c = 2, .h = 7, .w = 5, .k = 3, .r = 3, .s = 1,
                                                  .stride_h = 2, .stride_w = 1, .pad_h = 1},
            true);
    fd_conv("conv 2x5 s1x3 p0x2", (dy_conv_shape){.n = 2, .c = 2, .h = 4, .w = 11, .k = 3, .r = 2, .s = 5,
                                                  .stride_h = 1, .stride_w = 3, .pad_w = 2},
            false);
    fd_bn("bn2d train", 4, 3, 25);
    fd_bn("bn2d train 1x1 spatial", 4, 3, 1);
    fd_bn("bn1d train", 6, 5, 1);
    fd_bn("bn1d train over t", 4, 3, 9);
    fd_relu();
    fd_maxpool("maxpool 3x3 s2 p1",
               (dy_pool_shape){.n = 2, .c = 3, .h = 7, .w = 6, .kernel_h = 3, .kernel_w = 3, .stride_h = 2,
                               .stride_w = 2, .pad_h = 1, .pad_w = 1});
    fd_maxpool("maxpool 2x2 s2 1x1 out", (dy_pool_shape){.n = 1, .c = 2, .h = 2, .w = 2, .kernel_h = 2, .kernel_w = 2,
                                                         .stride_h = 2, .stride_w = 2});
    fd_maxpool("maxpool1d k3 s2 p1", (dy_pool_shape){.n = 2, .c = 3, .h = 1, .w = 15, .kernel_h = 1, .kernel_w = 3,
                                                     .stride_h = 1, .stride_w = 2, .pad_w = 1});
    fd_maxpool("maxpool 3x2 s2x1 p1x0", (dy_pool_shape){.n = 1, .c = 2, .h = 7, .w = 5, .kernel_h = 3, .kernel_w = 2,
                                                        .stride_h = 2, .stride_w = 1, .pad_h = 1});
    fd_avgpool("avgpool 5x4", 2, 3, 20);
    fd_avgpool("avgpool 1x1", 3, 4, 1);
    fd_avgpool("avgpool1d t 13", 2, 3, 13);
    fd_linear("linear bias", 4, 6, 5, true);
    fd_linear("linear no bias", 3, 7, 4, false);
    fd_linear("linear batch 1", 1, 5, 3, true);
    fd_add();
    fd_l2norm("l2norm eps 1e-12", 5, 8, 1e-12f);
    fd_l2norm("l2norm both branches eps 0.5", 6, 4, 0.5f);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Shapes, aliasing and edge cases                                                                             */

static void test_shapes_and_aliasing(void) {
    dy_conv_shape cs = {.n = 1, .c = 1, .h = 2, .w = 2, .k = 1, .r = 5, .s = 5, .stride_h = 1, .stride_w = 1,
                        .pad_h = 1, .pad_w = 1};
    CHECK(conv2d_shape(&cs) == -1, "conv: a 5x5 kernel on a padded 4x4 input is refused");
    cs = (dy_conv_shape){.n = 1, .c = 1, .h = 32, .w = 32, .k = 1, .r = 3, .s = 3, .stride_h = 0, .stride_w = 0,
                         .pad_h = 1, .pad_w = 1};
    CHECK(conv2d_shape(&cs) == -1, "conv: stride 0 refused");
    cs = (dy_conv_shape){.n = 8, .c = 3, .h = 224, .w = 224, .k = 64, .r = 7, .s = 7, .stride_h = 2, .stride_w = 2,
                         .pad_h = 3, .pad_w = 3};
    int rc = conv2d_shape(&cs);
    CHECK(rc == 0 && cs.p == 112 && cs.q == 112, "conv: the ImageNet stem gives 112x112 (%lldx%lld)",
          (long long)cs.p, (long long)cs.q);
    dy_pool_shape ps = {.n = 8, .c = 64, .h = 112, .w = 112, .kernel_h = 3, .kernel_w = 3, .stride_h = 2,
                        .stride_w = 2, .pad_h = 1, .pad_w = 1};
    rc = maxpool2d_shape(&ps);
    CHECK(rc == 0 && ps.p == 56 && ps.q == 56, "maxpool: 112 -> 56 (%lldx%lld)", (long long)ps.p, (long long)ps.q);
    ps = (dy_pool_shape){.n = 1, .c = 1, .h = 8, .w = 8, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2,
                         .pad_h = 2, .pad_w = 2};
    CHECK(maxpool2d_shape(&ps) == -1, "maxpool: pad above kernel / 2 refused (as PyTorch)");

    /* In place: relu_forward(x, x), relu_backward(dy, dy, y), add_forward(a, a, b). */
    float x[6] = {-1, 2, -3, 4, 0, 5}, g[6] = {1, 1, 1, 1, 1, 1}, b[6] = {1, 1, 1, 1, 1, 1};
    relu_forward(x, x, 6, OP_THREADS);
    CHECK(x[0] == 0 && x[1] == 2 && x[4] == 0 && x[5] == 5, "relu in place");
    relu_backward(g, g, x, 6, OP_THREADS);
    CHECK(g[0] == 0 && g[1] == 1 && g[4] == 0 && g[5] == 1, "relu backward in place; zero at x = 0");
    add_forward(x, x, b, 6, OP_THREADS);
    CHECK(x[0] == 1 && x[1] == 3 && x[5] == 6, "add in place");

    /* A NaN in a window propagates through max pooling, as in PyTorch. */
    float px[4] = {1, NAN, 3, 2}, py[1];
    ps = (dy_pool_shape){.n = 1, .c = 1, .h = 2, .w = 2, .kernel_h = 2, .kernel_w = 2, .stride_h = 2,
                         .stride_w = 2};
    maxpool2d_shape(&ps);
    maxpool2d_forward(py, px, &ps, OP_THREADS);
    CHECK(isnan(py[0]), "maxpool propagates NaN");
}

/* dy_l2_normalize, the public path for features and keys, is the op of the L2-norm node (checked against PyTorch
 * above): the same rows, in place too, a zero row included; bad sizes refused with a message. */
static void test_public_normalize(void) {
    const int64_t n = 6, d = 9;
    dy_rng rng;
    dy_rng_init(&rng, 11, DY_RNG_EVAL, 1, 0);
    float *x = random_normal(&rng, n * d, 1.0);
    for (int64_t j = 0; j < d; j++) x[2 * d + j] = 0.0f;
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = OP_THREADS, .backend = DY_BACKEND_REF};
    if (!CHECK(dy_ctx_create(&ctx, &co) == DY_OK, "context")) return;
    float *y = buffer(n * d), *op = buffer(n * d), *inplace = buffer(n * d);
    l2norm_forward(op, x, n, d, 1e-12f, OP_THREADS);
    memcpy(inplace, x, sizeof(float) * (size_t)(n * d));
    CHECK(dy_l2_normalize(ctx, y, x, n, d) == DY_OK && !memcmp(y, op, sizeof(float) * (size_t)(n * d)),
          "dy_l2_normalize gives the L2-norm op's rows bit for bit");
    CHECK(dy_l2_normalize(ctx, inplace, inplace, n, d) == DY_OK &&
              !memcmp(inplace, op, sizeof(float) * (size_t)(n * d)),
          "dy_l2_normalize in place");
    CHECK(dy_l2_normalize(ctx, y, x, n, 0) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "sizes"),
          "dy_l2_normalize refuses rows of 0 values: %s", dy_ctx_error(ctx));
    CHECK(dy_l2_normalize(ctx, NULL, x, n, d) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "NULL"),
          "dy_l2_normalize refuses a NULL output: %s", dy_ctx_error(ctx));
    free(x), free(y), free(op), free(inplace);
    dy_ctx_destroy(ctx);
}

int main(void) {
    test_fixtures();
    test_finite_differences();
    test_shapes_and_aliasing();
    test_public_normalize();
    return test_finish();
}
