/* The 1-D layers against PyTorch. A signal [n, c, t] runs as the image [n, c, 1, t] with 1 x k windows
 * (dy_window_1d); tests/fixtures/layers1d.bin (tools/fixtures_layers.py) holds nn.Conv1d (kernels 1 to 7, strides 1
 * to 3, padding 0 to 3, with and without bias), BatchNorm1d on [n, c, t] (training and evaluation), MaxPool1d (ties
 * included) and AdaptiveAvgPool1d(1): outputs, running statistics and the gradients of input and parameters for an
 * upstream gradient g (the loss sum(g * y)).
 *
 * Each case is a small graph: the op alone for a convolution, else an identity 1x1 convolution then the op (so that
 * the oneDNN executor's op reads an activation, as in a network; the identity passes values and gradients on
 * exactly). It runs
 *  1. on the reference executor, in training (output, running statistics, every gradient of the op, dinput) and
 *     evaluation mode, against the fixture at the image layers' tolerance (normwise 1e-4, tests/test_layers.c);
 *  2. on the oneDNN executor in fp32 the same, in the default layout (nChw16c where the channels fill 16-blocks on
 *     AVX-512) and channels-last throughout (DY_LAYOUT_NHWC);
 *  3. on the oneDNN executor in bf16 against the reference executor on the same bf16-rounded operands, at the 4u
 *     (u = 2^-8) of tests/test_bf16.c's op classes, in both layouts (skipped, said, without AVX512-BF16).
 * Finite differences of the reference ops on 1 x k windows are in tests/test_layers.c with the 2-D ones; graph
 * refusals of bad windows here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "engine/exec_backend.h"
#include "engine/graph.h"
#include "fixture.h"
#include "testlib.h"
#include "dystress.h"

#define FIXTURE_TOL 1e-4
#define U_BF16 (1.0 / 256.0)
#define TOL_BF16 (4 * U_BF16)

typedef enum { CASE_CONV, CASE_BN, CASE_MAXPOOL, CASE_AVGPOOL } case_kind;

typedef struct {
    const char *name;
    case_kind kind;
    bool train;        /* training-mode fixture (gradients, running statistics) */
    dy_graph g;
    int32_t op;        /* the node under test */
    int64_t n, c, t;   /* input [n, c, t] */
    float *params, *state;
} layer_case;

static fx_file *fx;
static dy_ctx *ctx;

static const fx_tensor *tensor(const char *name, const char *key) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", name, key);
    return fx_get(fx, full);
}

/* Whether the fixture has "<name>.<key>" (quietly: a conv without bias has no .b). */
static bool has(const char *name, const char *key) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", name, key);
    for (int i = 0; i < fx->count; i++)
        if (!strcmp(fx->tensors[i].name, full)) return true;
    return false;
}

static const float *f32(const char *name, const char *key) {
    const fx_tensor *t = tensor(name, key);
    return t && t->dtype == 0 ? (const float *)t->data : NULL;
}

static float *floats(int64_t n) {
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static int64_t out_size(const layer_case *lc) {
    dy_value_shape *s = malloc(sizeof *s * (size_t)(lc->g.n_nodes + 1));
    int64_t size = 0;
    if (s && dy_graph_infer(ctx, &lc->g, 1, lc->t, s) == DY_OK)
        size = s[lc->g.output].c * s[lc->g.output].h * s[lc->g.output].w;
    free(s);
    return size;
}

#define OK(call) CHECK((call) == DY_OK, "graph building: %s", dy_ctx_error(ctx))

/* The case's graph and operands from the fixture; false (with a failed check) when the fixture lacks them. */
static bool build_case(layer_case *lc, const char *name, case_kind kind, bool train) {
    memset(lc, 0, sizeof *lc);
    lc->name = name;
    lc->kind = kind;
    lc->train = train;
    const fx_tensor *tx = tensor(name, "x");
    if (!CHECK(tx && tx->ndim == 3 && tx->dtype == 0, "%s: fixture input [n, c, t]", name)) return false;
    lc->n = tx->dims[0], lc->c = tx->dims[1], lc->t = tx->dims[2];
    dy_graph_init(&lc->g, lc->c);
    int32_t v = 0;
    if (kind != CASE_CONV) OK(dy_graph_conv(ctx, &lc->g, 0, lc->c, 1, 1, 0, false, "identity", &v));
    const fx_tensor *tw = kind == CASE_CONV ? tensor(name, "w") : NULL;
    const fx_tensor *tc = kind == CASE_CONV || kind == CASE_MAXPOOL ? tensor(name, "conf") : NULL;
    const int64_t *conf = tc && tc->dtype == 1 ? tc->data : NULL;
    switch (kind) {
    case CASE_CONV:
        if (!CHECK(tw && tw->ndim == 3 && conf, "%s: fixture weight [k, c, size] and conf", name)) return false;
        OK(dy_graph_conv_window(ctx, &lc->g, v, tw->dims[0],
                                dy_window_1d((int32_t)tw->dims[2], (int32_t)conf[0], (int32_t)conf[1]),
                                has(name, "b"), "conv", &v));
        break;
    case CASE_BN: OK(dy_graph_batchnorm(ctx, &lc->g, v, "bn", &v)); break;
    case CASE_MAXPOOL:
        if (!CHECK(conf != NULL, "%s: fixture conf", name)) return false;
        OK(dy_graph_maxpool_window(ctx, &lc->g, v,
                                   dy_window_1d((int32_t)conf[0], (int32_t)conf[1], (int32_t)conf[2]), "pool", &v));
        break;
    case CASE_AVGPOOL:
        OK(dy_graph_avgpool(ctx, &lc->g, v, "avgpool", &v));
        lc->g.features = v;
        break;
    }
    if (lc->g.n_nodes != (kind == CASE_CONV ? 1 : 2)) return false; /* a failed check above says why */
    lc->g.output = v;
    lc->op = lc->g.n_nodes - 1;
    lc->params = floats(lc->g.n_params);
    lc->state = floats(lc->g.n_state);
    const dy_node *nd = &lc->g.nodes[lc->op];
    if (kind != CASE_CONV) /* the identity: weight 1 from input channel o to output channel o */
        for (int64_t o = 0; o < lc->c; o++) lc->params[lc->g.nodes[0].weight + o * lc->c + o] = 1.0f;
    if (kind == CASE_CONV) {
        memcpy(lc->params + nd->weight, tw->data, sizeof(float) * (size_t)tw->numel);
        if (nd->bias >= 0) memcpy(lc->params + nd->bias, f32(name, "b"), sizeof(float) * (size_t)nd->channels);
    } else if (kind == CASE_BN) {
        const size_t bytes = sizeof(float) * (size_t)lc->c;
        const float *gamma = f32(name, "gamma"), *beta = f32(name, "beta"), *rm = f32(name, "running_mean_in"),
                    *rv = f32(name, "running_var_in");
        if (!CHECK(gamma && beta && rm && rv, "%s: fixture batch-norm operands", name)) return false;
        memcpy(lc->params + nd->weight, gamma, bytes);
        memcpy(lc->params + nd->bias, beta, bytes);
        memcpy(lc->state + nd->running_mean, rm, bytes);
        memcpy(lc->state + nd->running_var, rv, bytes);
    }
    const fx_tensor *ty = tensor(name, "y");
    return CHECK(ty && out_size(lc) * lc->n == ty->numel, "%s: output size as PyTorch's", name);
}

static void free_case(layer_case *lc) {
    dy_graph_free(&lc->g);
    free(lc->params), free(lc->state);
}

static void against_fixture(const char *what, const char *name, const char *key, const float *got) {
    const fx_tensor *t = tensor(name, key);
    char label[200];
    snprintf(label, sizeof label, "%s: %s %s vs PyTorch", what, name, key);
    if (CHECK(t != NULL, "%s: fixture tensor present", label))
        test_close(label, got, (const float *)t->data, (size_t)t->numel, FIXTURE_TOL);
}

/* The training-mode results of the op node against the fixture. */
static void train_results_vs_fixture(const char *what, const layer_case *lc, const float *state, const float *grads,
                                     const float *dx) {
    const dy_node *nd = &lc->g.nodes[lc->op];
    if (lc->kind == CASE_CONV) {
        against_fixture(what, lc->name, "dw", grads + nd->weight);
        if (nd->bias >= 0) against_fixture(what, lc->name, "db", grads + nd->bias);
    } else if (lc->kind == CASE_BN) {
        against_fixture(what, lc->name, "running_mean", state + nd->running_mean);
        against_fixture(what, lc->name, "running_var", state + nd->running_var);
        against_fixture(what, lc->name, "dgamma", grads + nd->weight);
        against_fixture(what, lc->name, "dbeta", grads + nd->bias);
    }
    against_fixture(what, lc->name, "dx", dx);
}

/* Runs the case on one executor backend in the case's mode; results against the fixture (fp32). */
static void run_fp32(const dy_exec_backend *be, const char *what, layer_case *lc) {
    const int64_t in_count = lc->n * lc->c * lc->t, out_count = lc->n * out_size(lc);
    float *state = floats(lc->g.n_state), *y = floats(out_count), *grads = floats(lc->g.n_params);
    float *dx = floats(in_count);
    memcpy(state, lc->state, sizeof(float) * (size_t)lc->g.n_state);
    for (int64_t i = 0; i < lc->g.n_params; i++) grads[i] = NAN; /* gradients are assigned */
    lc->g.precision = DY_PRECISION_FP32;
    dy_exec *e = NULL;
    dy_status st = be->create(ctx, &lc->g, lc->n, 1, lc->t, lc->train ? DY_EXEC_TRAIN : DY_EXEC_EVAL, &e);
    if (CHECK(st == DY_OK, "%s: %s: executor: %s", what, lc->name, dy_ctx_error(ctx))) {
        st = be->forward(e, lc->params, state, f32(lc->name, "x"), NULL, y);
        if (CHECK(st == DY_OK, "%s: %s: forward: %s", what, lc->name, dy_ctx_error(ctx)))
            against_fixture(what, lc->name, "y", y);
        if (st == DY_OK && lc->train) {
            st = be->backward(e, lc->params, grads, f32(lc->name, "g"), dx);
            if (CHECK(st == DY_OK, "%s: %s: backward: %s", what, lc->name, dy_ctx_error(ctx)))
                train_results_vs_fixture(what, lc, state, grads, dx);
        }
        be->destroy(e);
    }
    free(state), free(y), free(grads), free(dx);
}

typedef struct {
    const char *name;
    case_kind kind;
    bool train;
} case_spec;

static const case_spec cases[] = {
    {"conv1d_k3_s1_p1", CASE_CONV, true},          {"conv1d_k7_s2_p3_bias", CASE_CONV, true},
    {"conv1d_k1_s2", CASE_CONV, true},             {"conv1d_k5_s3_p0_bias", CASE_CONV, true},
    {"conv1d_k3_s2_p1_c16", CASE_CONV, true},      {"conv1d_k4_s1_p2", CASE_CONV, true},
    {"conv1d_k3_s2_p1_c16", CASE_CONV, false},     {"bn1d_seq_train", CASE_BN, true},
    {"bn1d_seq_eval", CASE_BN, false},             {"bn1d_seq_train_c16", CASE_BN, true},
    {"maxpool1d_k3_s2_p1", CASE_MAXPOOL, true},    {"maxpool1d_k2_s2", CASE_MAXPOOL, true},
    {"maxpool1d_ties", CASE_MAXPOOL, true},        {"maxpool1d_k3_s2_p1", CASE_MAXPOOL, false},
    {"avgpool1d", CASE_AVGPOOL, true},             {"avgpool1d_c16", CASE_AVGPOOL, true},
    {"avgpool1d_t1", CASE_AVGPOOL, true},          {"avgpool1d", CASE_AVGPOOL, false},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static void test_fp32(const dy_exec_backend *be, const char *what) {
    for (int i = 0; i < N_CASES; i++) {
        layer_case lc;
        if (build_case(&lc, cases[i].name, cases[i].kind, cases[i].train)) {
            char label[120];
            snprintf(label, sizeof label, "%s %s", what, cases[i].train ? "train" : "eval");
            run_fp32(be, label, &lc);
        }
        free_case(&lc);
    }
}

#ifdef DY_HAVE_DNNL
static float round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* One run of the case with its operands rounded to bf16: output, state, the op's gradients and dinput. */
typedef struct {
    float *y, *state, *grads, *dx;
} run_out;

static bool run_rounded(const dy_exec_backend *be, layer_case *lc, dy_precision p, const float *x, run_out *r) {
    lc->g.precision = p;
    dy_exec *e = NULL;
    dy_status st = be->create(ctx, &lc->g, lc->n, 1, lc->t, lc->train ? DY_EXEC_TRAIN : DY_EXEC_EVAL, &e);
    if (st == DY_OK) st = be->forward(e, lc->params, r->state, x, NULL, r->y);
    if (st == DY_OK && lc->train) st = be->backward(e, lc->params, r->grads, f32(lc->name, "g"), r->dx);
    if (e) be->destroy(e);
    return CHECK(st == DY_OK, "%s (%s): %s", lc->name, be->name, dy_ctx_error(ctx));
}

static void compare_bf16(const char *what, layer_case *lc) {
    const int64_t in_count = lc->n * lc->c * lc->t, out_count = lc->n * out_size(lc);
    float *x = floats(in_count);
    for (int64_t i = 0; i < in_count; i++) x[i] = round_bf16(f32(lc->name, "x")[i]);
    for (int64_t i = 0; i < lc->g.n_params; i++) lc->params[i] = round_bf16(lc->params[i]);
    run_out r[2];
    for (int k = 0; k < 2; k++) {
        r[k] = (run_out){floats(out_count), floats(lc->g.n_state), floats(lc->g.n_params), floats(in_count)};
        memcpy(r[k].state, lc->state, sizeof(float) * (size_t)lc->g.n_state);
    }
    char label[200];
    if (run_rounded(&dy_ref_exec_backend, lc, DY_PRECISION_FP32, x, &r[0]) &&
        run_rounded(&dy_dnnl_exec_backend, lc, DY_PRECISION_BF16, x, &r[1])) {
        const dy_node *nd = &lc->g.nodes[lc->op];
        snprintf(label, sizeof label, "%s: %s output", what, lc->name);
        test_close(label, r[1].y, r[0].y, (size_t)out_count, TOL_BF16);
        if (lc->train) {
            snprintf(label, sizeof label, "%s: %s state", what, lc->name);
            if (lc->g.n_state) test_close(label, r[1].state, r[0].state, (size_t)lc->g.n_state, TOL_BF16);
            snprintf(label, sizeof label, "%s: %s d weight", what, lc->name);
            const int64_t nw = nd->op == DY_OP_CONV2D ? dy_graph_conv_weights(&lc->g, nd) : nd->channels;
            if (nd->weight >= 0)
                test_close(label, r[1].grads + nd->weight, r[0].grads + nd->weight, (size_t)nw, TOL_BF16);
            snprintf(label, sizeof label, "%s: %s d bias", what, lc->name);
            if (nd->bias >= 0)
                test_close(label, r[1].grads + nd->bias, r[0].grads + nd->bias, (size_t)nd->channels, TOL_BF16);
            snprintf(label, sizeof label, "%s: %s dinput", what, lc->name);
            test_close(label, r[1].dx, r[0].dx, (size_t)in_count, TOL_BF16);
        }
    }
    for (int k = 0; k < 2; k++) free(r[k].y), free(r[k].state), free(r[k].grads), free(r[k].dx);
    free(x);
}

static void test_bf16(const char *what) {
    for (int i = 0; i < N_CASES; i++) {
        layer_case lc;
        if (build_case(&lc, cases[i].name, cases[i].kind, cases[i].train)) {
            char label[120];
            snprintf(label, sizeof label, "%s %s", what, cases[i].train ? "train" : "eval");
            compare_bf16(label, &lc);
        }
        free_case(&lc);
    }
}

static void test_dnnl(void) {
    dy_ctx *ref_ctx = ctx;
    for (int nhwc = 0; nhwc < 2; nhwc++) {
        dy_ctx_options o = {.threads = 2, .backend = DY_BACKEND_DNNL,
                            .layout = nhwc ? DY_LAYOUT_NHWC : DY_LAYOUT_BLOCKED};
        if (!CHECK(dy_ctx_create(&ctx, &o) == DY_OK, "context with oneDNN")) break;
        test_fp32(&dy_dnnl_exec_backend, nhwc ? "oneDNN fp32 nhwc" : "oneDNN fp32");
        if (dy_precision_check(ctx, DY_PRECISION_BF16) == DY_OK)
            test_bf16(nhwc ? "oneDNN bf16 nhwc" : "oneDNN bf16");
        else
            printf("skipped: the bf16 checks (%s)\n", dy_ctx_error(ctx));
        dy_ctx_destroy(ctx);
    }
    ctx = ref_ctx;
}
#endif

/* Windows that do not fit are refused by the graph with the node named; a 1-D window's shape is inferred. */
static void test_graph_windows(void) {
    dy_graph g;
    int32_t v;
    dy_graph_init(&g, 2);
    CHECK(dy_graph_conv_window(ctx, &g, 0, 4, dy_window_1d(0, 1, 0), false, "zero", &v) == DY_ERR_INVALID &&
              strstr(dy_ctx_error(ctx), "zero"),
          "a kernel of 0 refused: %s", dy_ctx_error(ctx));
    CHECK(dy_graph_conv_window(ctx, &g, 0, 4, (dy_window){1, 3, 1, 1, 0, -1}, false, "neg", &v) == DY_ERR_INVALID,
          "a negative padding refused: %s", dy_ctx_error(ctx));
    CHECK(dy_graph_maxpool_window(ctx, &g, 0, dy_window_1d(3, 2, 2), "wide", &v) == DY_ERR_INVALID &&
              strstr(dy_ctx_error(ctx), "1x3"),
          "max pool padding above kernel / 2 refused: %s", dy_ctx_error(ctx));
    OK(dy_graph_conv_window(ctx, &g, 0, 4, dy_window_1d(7, 2, 3), false, "stem", &v));
    OK(dy_graph_maxpool_window(ctx, &g, v, dy_window_1d(3, 2, 1), "pool", &v));
    CHECK(g.n_params == 4 * 2 * 7, "a 1x7 kernel holds 7 weights per channel pair (%lld)", (long long)g.n_params);
    dy_value_shape s[3];
    CHECK(dy_graph_infer(ctx, &g, 1, 100, s) == DY_OK && s[1].h == 1 && s[1].w == 50 && s[2].h == 1 && s[2].w == 25,
          "1 x 100 -> 1 x 50 -> 1 x 25 (%lldx%lld, %lldx%lld)", (long long)s[1].h, (long long)s[1].w,
          (long long)s[2].h, (long long)s[2].w);
    g.one_d = true;
    CHECK(dy_graph_infer(ctx, &g, 1, 100, s) == DY_OK, "a 1-D graph takes 1 x 100: %s", dy_ctx_error(ctx));
    CHECK(dy_graph_infer(ctx, &g, 2, 100, s) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "1-D"),
          "a 1-D graph refuses an input of height 2: %s", dy_ctx_error(ctx));
    dy_graph_free(&g);
    dy_graph_init(&g, 2);
    OK(dy_graph_conv_window(ctx, &g, 0, 4, dy_window_1d(5, 1, 0), true, "k5", &v));
    CHECK(dy_graph_infer(ctx, &g, 1, 4, s) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "1x5"),
          "a signal shorter than the kernel refused: %s", dy_ctx_error(ctx));
    CHECK(dy_graph_infer(ctx, &g, 1, 5, s) == DY_OK && s[1].w == 1, "a signal as long as the kernel: one output");
    dy_graph_free(&g);
}

int main(void) {
    dy_ctx_options o = {.threads = 2, .backend = DY_BACKEND_REF};
    if (!CHECK(dy_ctx_create(&ctx, &o) == DY_OK, "context")) return test_finish();
    fx = fx_load(test_fixture_path("layers1d.bin"));
    if (CHECK(fx != NULL, "load tests/fixtures/layers1d.bin (tools/fixtures_layers.py writes it)")) {
        test_fp32(&dy_ref_exec_backend, "reference");
#ifdef DY_HAVE_DNNL
        test_dnnl();
#else
        printf("skipped: the oneDNN checks (this build has no oneDNN)\n");
#endif
        fx_free(fx);
    }
    test_graph_windows();
    dy_ctx_destroy(ctx);
    return test_finish();
}
