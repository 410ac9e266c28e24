/* Whole models on the reference executor against PyTorch (tools/fixtures_model.py): forward, every parameter
 * gradient, running statistics, three SGD steps, evaluation mode; the activation plan; safetensors save/load and
 * every refusal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/context.h"
#include "engine/plan.h"
#include "fixture.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "testlib.h"

#define TOL 1e-4

/* The fixture script's fill_value: uniform in [-1, 1) from an integer hash of (tensor t, index i). */
static double fill_value(uint32_t t, uint32_t i) {
    uint32_t x = i * 0x9E3779B1u + (t * 0x85EBCA77u + 0x165667B1u);
    x ^= x >> 15;
    x *= 0x2C1B3C6Du;
    x ^= x >> 12;
    x *= 0x297A2D39u;
    x ^= x >> 15;
    return (double)(x >> 8) * (1.0 / 8388608.0) - 1.0;
}

/* The fixture script's fill_model over our tensor table (which is in state_dict order). */
static void fill_model(dy_model *m) {
    int64_t count;
    const dy_tensor_info *ts = dy_model_tensors(m, &count);
    for (int64_t t = 0; t < count; t++) {
        const dy_tensor_info *ti = &ts[t];
        float *p = (ti->kind == DY_TENSOR_PARAM ? dy_model_params(m, NULL) : dy_model_state(m, NULL)) + ti->offset;
        if (ti->is_int64) {
            p[0] = 3;
            continue;
        }
        const char *name = ti->name;
        size_t len = strlen(name);
        bool ends_weight = len > 7 && strcmp(name + len - 7, ".weight") == 0;
        for (int64_t i = 0; i < ti->numel; i++) {
            double u = fill_value((uint32_t)t, (uint32_t)i), a;
            if (strstr(name, "running_mean"))
                a = 0.1 * u;
            else if (strstr(name, "running_var"))
                a = 1.0 + 0.25 * (u + 1.0);
            else if (ti->ndim == 1 && ends_weight)
                a = 1.0 + 0.25 * u;
            else if (ti->ndim == 1)
                a = 0.25 * u;
            else
                a = u * sqrt(3.0 / (double)(ti->numel / ti->shape[0]));
            p[i] = (float)a;
        }
    }
}

/* count floats of fill_value(t, i) * scale, rounded once to float (the fixture script's formula_tensor). */
static float *formula(uint32_t t, int64_t count, double scale) {
    float *p = malloc(sizeof(float) * (size_t)count);
    for (int64_t i = 0; i < count; i++) p[i] = (float)(scale * fill_value(t, (uint32_t)i));
    return p;
}

static const dy_tensor_info *tensor(const dy_model *m, const char *name) {
    int64_t count;
    const dy_tensor_info *ts = dy_model_tensors(m, &count);
    for (int64_t i = 0; i < count; i++)
        if (strcmp(ts[i].name, name) == 0) return &ts[i];
    return NULL;
}

/* Compares fixture tensor fx_name with count floats at got. */
static bool close_to(const fx_file *fx, const char *fx_name, const float *got, int64_t count, double tol) {
    int64_t n = 0;
    const float *want = fx_f32(fx, fx_name, &n);
    if (!CHECK(want && n == count, "%s: fixture has %lld values, model %lld", fx_name, (long long)n, (long long)count))
        return false;
    return test_close(fx_name, got, want, (size_t)count, tol);
}

/* Every BN running statistic and counter against prefix.<name> in the fixture. */
static void check_state(dy_model *m, const fx_file *fx, const char *prefix) {
    int64_t count, bad = 0, checked = 0;
    const dy_tensor_info *ts = dy_model_tensors(m, &count);
    const float *state = dy_model_state(m, NULL);
    for (int64_t i = 0; i < count; i++) {
        if (ts[i].kind != DY_TENSOR_STATE) continue;
        char name[128];
        snprintf(name, sizeof name, "%s%s", prefix, ts[i].name);
        const fx_tensor *t = fx_get(fx, name);
        checked++;
        if (!t) {
            bad++;
            continue;
        }
        if (ts[i].is_int64) {
            bad += t->dtype != 1 || ((const int64_t *)t->data)[0] != (int64_t)state[ts[i].offset];
        } else {
            bad += test_rel_error(state + ts[i].offset, t->data, (size_t)ts[i].numel) > TOL;
        }
    }
    CHECK(bad == 0 && checked > 0, "%s running statistics and counters of %lld tensors: %lld differ", prefix,
          (long long)checked, (long long)bad);
}

/* Every parameter gradient against grad.<name>. per_tensor: each tensor normwise on its own; otherwise normwise over
 * the whole gradient vector (max |error| / max |gradient| over all parameters). The whole-vector form is for the
 * ResNet-50 fixture: its width-2 bottlenecks make some BN gamma/beta gradients sums that cancel to near zero, so
 * their own relative error is ill-conditioned (PyTorch float32 vs float64 differs by up to 5e-5 per tensor in this
 * configuration and by 2e-1 in neighbouring ones), while the whole vector is well-conditioned (~1e-5). */
static void check_grads(dy_model *m, const fx_file *fx, const char *what, bool per_tensor) {
    int64_t count, params = 0, bad = 0;
    const dy_tensor_info *ts = dy_model_tensors(m, &count);
    const float *grads = dy_model_grads(m, NULL);
    double worst = 0, max_err = 0, max_want = 0;
    const char *worst_name = "";
    for (int64_t i = 0; i < count; i++) {
        if (ts[i].kind != DY_TENSOR_PARAM) continue;
        char name[128];
        snprintf(name, sizeof name, "grad.%s", ts[i].name);
        int64_t n = 0;
        const float *want = fx_f32(fx, name, &n);
        params++;
        if (!want || n != ts[i].numel) {
            bad++;
            continue;
        }
        const float *got = grads + ts[i].offset;
        for (int64_t k = 0; k < n; k++) {
            double e = fabs((double)got[k] - want[k]);
            if (!(e <= max_err)) max_err = e; /* NaN propagates */
            if (fabs(want[k]) > max_want) max_want = fabs(want[k]);
        }
        double err = test_rel_error(got, want, (size_t)n);
        if (!(err <= worst)) {
            worst = err;
            worst_name = ts[i].name;
        }
        bad += per_tensor && !(err <= TOL);
    }
    double whole = max_err / max_want;
    if (per_tensor)
        CHECK(bad == 0, "%s: gradients of all %lld parameter tensors within %g (worst %.2e in %s), %lld differ", what,
              (long long)params, TOL, worst, worst_name, (long long)bad);
    else
        CHECK(bad == 0 && whole <= TOL,
              "%s: the gradient of all %lld parameter tensors within %g normwise: %.2e (worst tensor alone %.2e, %s)",
              what, (long long)params, TOL, whole, worst, worst_name);
}

static dy_model *make_model(dy_ctx *ctx, int depth, int64_t width, int64_t in_ch, dy_stem stem, int64_t hidden,
                            int64_t out) {
    dy_model_config c = {.depth = depth, .width = width, .in_channels = in_ch, .stem = stem, .head = true,
                         .head_hidden = hidden, .head_out = out};
    dy_model *m = NULL;
    if (!CHECK(dy_model_create(ctx, &c, 1, &m) == DY_OK, "create model: %s", dy_ctx_error(ctx))) return NULL;
    fill_model(m);
    return m;
}

static void test_resnet18_train(dy_ctx *ctx) {
    fx_file *fx = fx_load(test_fixture_path("model_r18_train.bin"));
    if (!CHECK(fx != NULL, "load model_r18_train.bin")) return;
    dy_model *m = make_model(ctx, 18, 4, 3, DY_STEM_CIFAR, 32, 16);
    if (!m) {
        fx_free(fx);
        return;
    }
    const int64_t n = 16, hw = 16, d = dy_model_feature_dim(m), out = dy_model_output_dim(m);
    CHECK(d == 32 && out == 16, "dims %lld %lld", (long long)d, (long long)out);
    float *h = malloc(sizeof(float) * (size_t)(n * d)), *z = malloc(sizeof(float) * (size_t)(n * out));
    float *input = formula(1000, n * 3 * hw * hw, 1.0), *dz = formula(1001, n * out, 0.05);
    CHECK(dy_model_forward_train(m, input, n, hw, hw, h, z) == DY_OK, "forward: %s", dy_ctx_error(ctx));
    close_to(fx, "features", h, n * d, TOL);
    close_to(fx, "z", z, n * out, TOL);
    CHECK(dy_model_backward(m, dz) == DY_OK, "backward: %s", dy_ctx_error(ctx));
    check_grads(m, fx, "resnet18 width 4 + head", true);
    check_state(m, fx, "state.");
    CHECK(dy_model_backward(m, dz) == DY_ERR_INVALID, "a second backward without forward is refused");

    /* Three SGD steps as torch.optim.SGD(lr 0.1, momentum 0.9, weight decay 5e-4), the loss sum(z * dz). */
    dy_sgd_options o = {.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4};
    int64_t np;
    float *params = dy_model_params(m, &np), *momentum = calloc((size_t)np, sizeof(float)); /* the optimizer's state */
    static const char *keep[] = {"conv1.weight", "layer1.0.bn1.weight", "layer3.1.conv2.weight",
                                 "layer2.0.downsample.0.weight", "head.3.weight", "head.4.bias"};
    for (int step = 0; step < 3; step++) {
        char name[96];
        if (step > 0) {
            CHECK(dy_model_forward_train(m, input, n, hw, hw, NULL, z) == DY_OK, "forward %d", step);
            snprintf(name, sizeof name, "step%d.z", step);
            close_to(fx, name, z, n * out, TOL);
            CHECK(dy_model_backward(m, dz) == DY_OK, "backward %d", step);
        }
        CHECK(dy_sgd_step(ctx, &o, params, dy_model_grads(m, NULL), momentum, np, step) == DY_OK,
              "sgd step %d: %s", step, dy_ctx_error(ctx));
        for (int k = 0; k < 6; k++) {
            const dy_tensor_info *t = tensor(m, keep[k]);
            snprintf(name, sizeof name, "step%d.%s", step, keep[k]);
            if (CHECK(t != NULL, "tensor %s", keep[k])) close_to(fx, name, params + t->offset, t->numel, TOL);
        }
    }
    check_state(m, fx, "final.");
    free(momentum);
    free(input);
    free(dz);
    free(h);
    free(z);
    dy_model_destroy(m);
    fx_free(fx);
}

static void test_resnet50_train(dy_ctx *ctx) {
    fx_file *fx = fx_load(test_fixture_path("model_r50_train.bin"));
    if (!CHECK(fx != NULL, "load model_r50_train.bin")) return;
    dy_model *m = make_model(ctx, 50, 2, 1, DY_STEM_IMAGENET, 16, 8);
    if (!m) {
        fx_free(fx);
        return;
    }
    const int64_t n = 16, hw = 64, d = dy_model_feature_dim(m), out = dy_model_output_dim(m);
    CHECK(d == 64 && out == 8, "resnet50 width 2 features %lld", (long long)d);
    float *h = malloc(sizeof(float) * (size_t)(n * d)), *z = malloc(sizeof(float) * (size_t)(n * out));
    float *input = formula(1000, n * hw * hw, 1.0), *dz = formula(1001, n * out, 0.05);
    CHECK(dy_model_forward_train(m, input, n, hw, hw, h, z) == DY_OK, "forward: %s", dy_ctx_error(ctx));
    close_to(fx, "features", h, n * d, TOL);
    close_to(fx, "z", z, n * out, TOL);
    CHECK(dy_model_backward(m, dz) == DY_OK, "backward: %s", dy_ctx_error(ctx));
    check_grads(m, fx, "resnet50 width 2 ImageNet stem + head", false);
    check_state(m, fx, "state.");
    free(input);
    free(dz);
    free(h);
    free(z);
    dy_model_destroy(m);
    fx_free(fx);
}

static void test_eval(dy_ctx *ctx) {
    fx_file *fx = fx_load(test_fixture_path("model_r18_eval.bin"));
    if (!CHECK(fx != NULL, "load model_r18_eval.bin")) return;
    dy_model *m = make_model(ctx, 18, 4, 3, DY_STEM_CIFAR, 32, 16);
    if (!m) {
        fx_free(fx);
        return;
    }
    int64_t ns;
    float *state = dy_model_state(m, &ns);
    float *before = malloc(sizeof(float) * (size_t)ns);
    memcpy(before, state, sizeof(float) * (size_t)ns);
    float h[16 * 32], z[16 * 16], h2[16 * 32];
    float *input = formula(1000, 16 * 3 * 16 * 16, 1.0);
    CHECK(dy_model_forward_eval(m, input, 16, 16, 16, h, z) == DY_OK, "eval forward: %s", dy_ctx_error(ctx));
    close_to(fx, "features", h, 16 * 32, TOL);
    close_to(fx, "z", z, 16 * 16, TOL);
    CHECK(memcmp(before, state, sizeof(float) * (size_t)ns) == 0, "evaluation leaves the running statistics alone");
    CHECK(dy_model_embed(m, input, 16, 16, 16, h2) == DY_OK && memcmp(h, h2, sizeof h) == 0,
          "embed gives the eval features");
    /* One image at a time (batch 1 is fine in evaluation) gives the same features. */
    float one[32];
    CHECK(dy_model_embed(m, input + 3 * 3 * 16 * 16, 1, 16, 16, one) == DY_OK, "embed one image: %s",
          dy_ctx_error(ctx));
    test_close("features of image 3 alone", one, h + 3 * 32, 32, 1e-5);
    CHECK(dy_model_backward(m, z) == DY_ERR_INVALID, "backward after an eval forward is refused");
    CHECK(dy_model_forward_train(m, input, 1, 16, 16, NULL, z) == DY_ERR_INVALID, "training with batch 1 refused: %s",
          dy_ctx_error(ctx));
    free(before);
    free(input);
    dy_model_destroy(m);
    fx_free(fx);
}

/* The placement both executors use: blocks alive at the same step never overlap, offsets are multiples of 64, a
 * block never used takes no space, and blocks whose lifetimes do not meet share bytes. */
static void test_plan_place(void) {
    dy_plan_block b[] = {
        {.bytes = 100, .first = 0, .last = 2},    {.bytes = 64, .first = 1, .last = 3},
        {.bytes = 100, .first = 3, .last = 5},    {.bytes = 1000, .first = -1, .last = -1},
        {.bytes = 200, .first = 2, .last = 2},    {.bytes = 0, .first = 0, .last = 5},
        {.bytes = 128, .first = 4, .last = 5},
    };
    const int64_t n = (int64_t)(sizeof b / sizeof b[0]);
    const int64_t arena = dy_plan_place(b, n);
    bool apart = true, aligned = true;
    for (int64_t i = 0; i < n; i++) {
        aligned &= b[i].offset % 64 == 0;
        for (int64_t j = 0; j < i; j++) {
            if (b[i].first < 0 || b[j].first < 0 || !b[i].bytes || !b[j].bytes) continue;
            bool together = b[i].first <= b[j].last && b[j].first <= b[i].last;
            bool overlap = b[i].offset < b[j].offset + b[j].bytes && b[j].offset < b[i].offset + b[i].bytes;
            apart &= !(together && overlap);
        }
    }
    CHECK(apart && aligned, "dy_plan_place: no two blocks alive together overlap; offsets are multiples of 64");
    CHECK(b[3].offset == 0, "a block never used is not placed (offset %lld)", (long long)b[3].offset);
    /* the peak is step 2: blocks 4, 0 and 1 (256 + 128 + 64 bytes once rounded); greedy placement reaches it */
    CHECK(arena == 256 + 128 + 64, "arena of %lld bytes for a peak of 448 live bytes", (long long)arena);
    CHECK(b[6].offset < b[4].offset + 256 && b[4].offset < b[6].offset + 128,
          "blocks whose lifetimes do not meet share bytes (block 6 at %lld, block 4 at %lld)", (long long)b[6].offset,
          (long long)b[4].offset);
}

/* The activation plan: evaluation keeps nothing and reuses memory; training keeps less than every value. */
static void test_memory_plan(dy_ctx *ctx) {
    dy_model *m = make_model(ctx, 18, 16, 3, DY_STEM_CIFAR, 64, 32);
    if (!m) return;
    const dy_graph *g = &m->graph;
    const int64_t n = 8, hw = 32, nv = g->n_nodes + 1;
    dy_value_shape *shapes = malloc(sizeof *shapes * (size_t)nv);
    int64_t *bytes = malloc(sizeof *bytes * (size_t)nv), all = 0, largest = 0;
    CHECK(dy_graph_infer(ctx, g, hw, hw, shapes) == DY_OK, "infer");
    for (int64_t v = 0; v < nv; v++) {
        bytes[v] = n * shapes[v].c * shapes[v].h * shapes[v].w * (int64_t)sizeof(float);
        all += bytes[v];
        if (bytes[v] > largest) largest = bytes[v];
    }
    dy_plan train, eval;
    CHECK(dy_plan_create(ctx, g, DY_EXEC_TRAIN, bytes, &train) == DY_OK, "plan train");
    CHECK(dy_plan_create(ctx, g, DY_EXEC_EVAL, bytes, &eval) == DY_OK, "plan eval");
    int64_t kept = 0;
    bool relu_kept = true, bn_out_dropped = true;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op == DY_OP_RELU) relu_kept &= train.kept[i + 1];
        if (g->nodes[i].op == DY_OP_BATCHNORM && i + 1 != g->output) bn_out_dropped &= !train.kept[i + 1];
    }
    for (int64_t v = 0; v < nv; v++) kept += train.kept[v] ? bytes[v] : 0;
    CHECK(relu_kept && bn_out_dropped, "training keeps ReLU outputs and drops BN outputs");
    CHECK(train.kept_bytes == kept && kept < all, "training keeps %lld of %lld activation bytes",
          (long long)kept, (long long)all);
    /* Values and gradients with no reuse would take 2 * all; the plan shares dying buffers. */
    CHECK(train.arena_bytes < all, "training arena %lld bytes below all values (%lld) and gradients (%lld)",
          (long long)train.arena_bytes, (long long)all, (long long)all);
    bool none_kept = true;
    for (int64_t v = 0; v < nv; v++) none_kept &= !eval.kept[v];
    CHECK(none_kept && eval.value_off[0] == -1, "evaluation keeps nothing and reads the caller's input in place");
    CHECK(eval.arena_bytes <= 3 * largest, "evaluation arena %lld bytes, at most 3 of the largest value (%lld)",
          (long long)eval.arena_bytes, (long long)largest);
    printf("memory plan, resnet18 width 16, batch 8, 32x32: all values %lld B, kept in training %lld B, "
           "training arena %lld B, eval arena %lld B\n",
           (long long)all, (long long)kept, (long long)train.arena_bytes, (long long)eval.arena_bytes);
    /* The model reports its executors' memory: eval then train. */
    float *x = calloc((size_t)(n * 3 * hw * hw), sizeof *x), *feats = malloc(sizeof(float) * (size_t)(n * 128));
    CHECK(dy_model_memory(m) == 0, "no executor before the first forward");
    CHECK(dy_model_embed(m, x, n, hw, hw, feats) == DY_OK, "embed");
    int64_t eval_mem = dy_model_memory(m);
    CHECK(eval_mem == eval.arena_bytes, "eval executor holds its arena (%lld)", (long long)eval_mem);
    CHECK(dy_model_forward_train(m, x, n, hw, hw, feats, NULL) == DY_OK, "train forward");
    int64_t train_mem = dy_model_memory(m) - eval_mem;
    CHECK(train_mem > train.arena_bytes && train_mem < train.arena_bytes + 64 * 1024,
          "train executor: arena + BN statistics (%lld)", (long long)train_mem);
    CHECK(dy_model_forward_train(m, x, n, hw, hw, feats, NULL) == DY_OK && dy_model_memory(m) == eval_mem + train_mem,
          "a second step of the same size plans nothing new");
    free(x);
    free(feats);
    dy_plan_free(&train);
    dy_plan_free(&eval);
    free(shapes);
    free(bytes);
    dy_model_destroy(m);
}

static char *temp_path(const char *name) {
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "/tmp/dy_test_model_%ld_%s", (long)getpid(), name);
    return p;
}

static bool same_buffers(dy_model *a, dy_model *b, bool params, bool state) {
    int64_t np, ns;
    const float *pa = dy_model_params(a, &np), *pb = dy_model_params(b, NULL);
    const float *sa = dy_model_state(a, &ns), *sb = dy_model_state(b, NULL);
    return (!params || memcmp(pa, pb, sizeof(float) * (size_t)np) == 0) &&
           (!state || memcmp(sa, sb, sizeof(float) * (size_t)ns) == 0);
}

/* Rewrites the saved file with one tensor changed by edit(). */
typedef void (*edit_fn)(dy_st_entry *e, int64_t i);

static dy_status rewrite(dy_ctx *ctx, const char *from, const char *to, const char *victim, edit_fn edit) {
    dy_st_file f;
    dy_status st = dy_st_read(ctx, from, &f);
    if (st != DY_OK) return st;
    dy_st_entry *es = calloc((size_t)f.count, sizeof *es);
    char renamed[128];
    for (int64_t i = 0; i < f.count; i++) {
        es[i].name = f.tensors[i].name;
        es[i].dtype = f.tensors[i].dtype;
        es[i].ndim = f.tensors[i].ndim;
        memcpy(es[i].shape, f.tensors[i].shape, sizeof es[i].shape);
        es[i].data = f.tensors[i].data;
        if (strcmp(es[i].name, victim) == 0) {
            edit(&es[i], i);
            if (es[i].name == NULL) {
                snprintf(renamed, sizeof renamed, "%s_renamed", victim);
                es[i].name = renamed;
            }
        }
    }
    st = dy_st_write(ctx, to, es, f.count);
    free(es);
    dy_st_free(&f);
    return st;
}

static void edit_name(dy_st_entry *e, int64_t i) { e->name = NULL; }
static void edit_shape(dy_st_entry *e, int64_t i) { /* [k, c, 3, 3] -> [k * 3, c, 1, 3]: same bytes */
    e->shape[0] *= 3;
    e->shape[2] = 1;
}
static void edit_dtype(dy_st_entry *e, int64_t i) { /* int64 counter written as two float32s: same bytes */
    e->dtype = DY_ST_F32;
    e->ndim = 1;
    e->shape[0] = 2;
}

static void test_weights(dy_ctx *ctx) {
    dy_model *a = make_model(ctx, 18, 8, 3, DY_STEM_CIFAR, 32, 16);
    dy_model_config c = *dy_model_get_config(a);
    dy_model *b = NULL, *other = NULL;
    CHECK(dy_model_create(ctx, &c, 99, &b) == DY_OK, "second model");
    if (!a || !b) return;
    const char *path = temp_path("w.safetensors"), *enc = temp_path("enc.safetensors"),
               *bad = temp_path("bad.safetensors");
    dy_model_state(a, NULL)[tensor(a, "bn1.num_batches_tracked")->offset] = 12345;
    CHECK(dy_model_save_weights(a, path, true) == DY_OK, "save: %s", dy_ctx_error(ctx));
    CHECK(!same_buffers(a, b, true, false), "models differ before loading");
    CHECK(dy_model_load_weights(b, path, true) == DY_OK, "load: %s", dy_ctx_error(ctx));
    CHECK(same_buffers(a, b, true, true), "save -> load round trip is bit-exact (parameters and state)");

    /* The file itself: torchvision names, F32 weights, an I64 counter as a 0-d tensor, data 8-byte aligned. */
    dy_st_file f;
    if (CHECK(dy_st_read(ctx, path, &f) == DY_OK, "read back: %s", dy_ctx_error(ctx))) {
        const dy_st_tensor *w = dy_st_find(&f, "layer2.0.downsample.0.weight"),
                           *nb = dy_st_find(&f, "bn1.num_batches_tracked"), *hd = dy_st_find(&f, "head.4.running_var");
        CHECK(w && w->dtype == DY_ST_F32 && w->ndim == 4 && w->shape[0] == 16 && w->shape[1] == 8 && w->shape[2] == 1,
              "layer2.0.downsample.0.weight F32 [16, 8, 1, 1]");
        int64_t v = 0;
        if (nb) memcpy(&v, nb->data, 8);
        CHECK(nb && nb->dtype == DY_ST_I64 && nb->ndim == 0 && v == 12345, "bn1.num_batches_tracked I64 scalar 12345");
        CHECK(hd && hd->shape[0] == 16, "head.4.running_var present");
        int64_t count;
        dy_model_tensors(a, &count);
        CHECK(f.count == count, "%lld tensors in the file", (long long)f.count);
        CHECK(((uintptr_t)(f.tensors[0].data - f.owned)) % 8 == 0, "data starts 8-byte aligned");
        dy_st_free(&f);
    }

    /* Encoder only: the head of the loading model is left as it is. */
    dy_model_destroy(b);
    CHECK(dy_model_create(ctx, &c, 99, &b) == DY_OK, "fresh model");
    const dy_tensor_info *h0 = tensor(b, "head.0.weight");
    float head_before = dy_model_params(b, NULL)[h0->offset];
    CHECK(dy_model_save_weights(a, enc, false) == DY_OK, "save encoder only");
    CHECK(dy_model_load_weights(b, enc, false) == DY_OK, "load encoder only: %s", dy_ctx_error(ctx));
    CHECK(dy_model_params(b, NULL)[h0->offset] == head_before &&
              memcmp(dy_model_params(a, NULL), dy_model_params(b, NULL), sizeof(float) * (size_t)h0->offset) == 0,
          "encoder copied, head untouched");
    CHECK(dy_model_load_weights(b, enc, true) == DY_ERR_MISMATCH && strstr(dy_ctx_error(ctx), "head.0.weight") &&
              strstr(dy_ctx_error(ctx), "missing"),
          "an encoder file refused where a head is wanted: %s", dy_ctx_error(ctx));
    CHECK(dy_model_load_weights(b, path, false) == DY_OK, "a file with a head loads encoder-only");

    /* Refusals, each naming the tensor; the model is unchanged after each. */
    dy_model_destroy(b);
    CHECK(dy_model_create(ctx, &c, 99, &b) == DY_OK, "fresh model");
    dy_model_create(ctx, &c, 99, &other);
    CHECK(rewrite(ctx, path, bad, "layer1.1.conv2.weight", edit_name) == DY_OK, "write a renamed tensor");
    CHECK(dy_model_load_weights(b, bad, true) == DY_ERR_MISMATCH && strstr(dy_ctx_error(ctx), "layer1.1.conv2.weight") &&
              strstr(dy_ctx_error(ctx), "missing"),
          "wrong name: %s", dy_ctx_error(ctx));
    CHECK(rewrite(ctx, path, bad, "layer3.0.conv2.weight", edit_shape) == DY_OK, "write a reshaped tensor");
    CHECK(dy_model_load_weights(b, bad, true) == DY_ERR_MISMATCH &&
              strstr(dy_ctx_error(ctx), "layer3.0.conv2.weight has shape [96, 32, 1, 3], expected [32, 32, 3, 3]"),
          "wrong shape: %s", dy_ctx_error(ctx));
    CHECK(rewrite(ctx, path, bad, "layer4.1.bn2.num_batches_tracked", edit_dtype) == DY_OK, "write an F32 counter");
    CHECK(dy_model_load_weights(b, bad, true) == DY_ERR_MISMATCH &&
              strstr(dy_ctx_error(ctx), "layer4.1.bn2.num_batches_tracked has dtype F32, expected I64"),
          "wrong dtype: %s", dy_ctx_error(ctx));
    CHECK(same_buffers(b, other, true, true), "refused loads change nothing");

    /* A truncated file and a garbage header are corrupt files (DY_ERR_FORMAT). */
    FILE *in = fopen(path, "rb");
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *raw = malloc((size_t)size);
    CHECK(fread(raw, 1, (size_t)size, in) == (size_t)size, "read the saved file");
    fclose(in);
    FILE *out = fopen(bad, "wb");
    fwrite(raw, 1, (size_t)size - 100, out);
    fclose(out);
    CHECK(dy_model_load_weights(b, bad, true) == DY_ERR_FORMAT && strstr(dy_ctx_error(ctx), "truncated"),
          "truncated file: %s", dy_ctx_error(ctx));
    out = fopen(bad, "wb");
    fwrite(raw, 1, 20, out);
    fclose(out);
    CHECK(dy_model_load_weights(b, bad, true) == DY_ERR_FORMAT && strstr(dy_ctx_error(ctx), "header size"),
          "file cut inside the header: %s", dy_ctx_error(ctx));
    const char *garbage = "{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[8,3,3,3],\"data_offsets\":[0,x";
    memcpy(raw + 8, garbage, strlen(garbage));
    out = fopen(bad, "wb");
    fwrite(raw, 1, (size_t)size, out);
    fclose(out);
    CHECK(dy_model_load_weights(b, bad, true) == DY_ERR_FORMAT && strstr(dy_ctx_error(ctx), "corrupt safetensors header"),
          "garbage header: %s", dy_ctx_error(ctx));
    CHECK(dy_model_load_weights(b, temp_path("none"), true) == DY_ERR_IO, "a missing file is an I/O error");
    CHECK(same_buffers(b, other, true, true), "corrupt files change nothing");
    free(raw);

    /* Another architecture is refused by name. */
    dy_model_config c50 = {.depth = 50, .width = 2, .in_channels = 3, .stem = DY_STEM_IMAGENET, .head = false};
    dy_model *r50 = NULL;
    CHECK(dy_model_create(ctx, &c50, 1, &r50) == DY_OK, "resnet50");
    CHECK(dy_model_load_weights(r50, path, false) == DY_ERR_MISMATCH, "resnet18 weights refused by a resnet50: %s",
          dy_ctx_error(ctx));
    dy_model_destroy(r50);
    remove(path);
    remove(enc);
    remove(bad);
    dy_model_destroy(a);
    dy_model_destroy(b);
    dy_model_destroy(other);
}

/* Strict parsing of hand-made headers. */
static void test_safetensors_parser(dy_ctx *ctx) {
    struct {
        const char *header;
        size_t data;
        bool ok;
    } cases[] = {
        {"{}", 0, true},
        {"{\"__metadata__\":{\"a\":\"b\"},\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, true},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}  ", 4, true},
        {"{\"x\\u00e9\\n\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, true},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, false},   /* bytes left over */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, false},    /* size mismatch */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, false},    /* out of range */
        {"{\"x\":{\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, false},    /* dtype */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, false},   /* negative */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, false},  /* fraction */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"y\":1}}", 8, false}, /* field */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, false},                           /* missing field */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, false},     /* duplicate name */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, false},     /* overlap */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
         false},                                                                            /* overflow */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8, false},  /* trailing text */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, false},     /* unclosed */
        {"{\"x\\ud800\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, false}, /* lone surrogate */
        {"[1,2]", 0, false},
    };
    int n = (int)(sizeof cases / sizeof cases[0]), wrong = 0;
    for (int i = 0; i < n; i++) {
        size_t hl = strlen(cases[i].header), size = 8 + hl + cases[i].data;
        uint8_t *buf = calloc(size, 1);
        for (int b = 0; b < 8; b++) buf[b] = (uint8_t)((uint64_t)hl >> (8 * b));
        memcpy(buf + 8, cases[i].header, hl);
        dy_st_file f;
        dy_status st = dy_st_parse(ctx, "case", buf, size, &f);
        if ((st == DY_OK) != cases[i].ok || (st != DY_OK && st != DY_ERR_FORMAT)) {
            wrong++;
            printf("case %d (%s): status %d, message %s\n", i, cases[i].header, st, dy_ctx_error(ctx));
        }
        if (st == DY_OK && i == 3) CHECK(strcmp(f.tensors[0].name, "x\xc3\xa9\n") == 0, "escapes decoded");
        dy_st_free(&f);
        /* Every prefix of a valid file is refused without reading out of range (ASan watches). */
        if (cases[i].ok)
            for (size_t cut = 0; cut < size; cut++) {
                uint8_t *part = malloc(cut ? cut : 1);
                memcpy(part, buf, cut);
                if (dy_st_parse(ctx, "cut", part, cut, &f) == DY_OK && cut != size) {
                    /* Only a cut inside trailing data may parse if no tensor needs it: never here. */
                    wrong++;
                    printf("case %d cut at %zu parsed\n", i, cut);
                }
                dy_st_free(&f);
                free(part);
            }
        free(buf);
    }
    CHECK(wrong == 0, "%d header cases (valid ones cut at every length): %d wrong", n, wrong);
}

/* The executor on a small graph with fan-out from the input (read by a conv and a residual add): d(input) and a
 * weight gradient against central finite differences of L = sum(output * dz) in training mode. Smooth ops only
 * (ReLU and max-pool kinks would spoil the differences; their own finite-difference tests are in test_layers). */
static double loss_of(dy_exec *e, const float *params, float *state, const float *x, const float *dz, float *out,
                      int64_t count) {
    dy_exec_forward(e, params, state, x, NULL, out);
    double l = 0;
    for (int64_t i = 0; i < count; i++) l += (double)out[i] * dz[i];
    return l;
}

static void test_exec_fanout(dy_ctx *ctx) {
    dy_graph g;
    dy_graph_init(&g, 2);
    int32_t a, b, c;
    bool ok = dy_graph_conv(ctx, &g, 0, 2, 3, 1, 1, true, "c1", &a) == DY_OK &&
              dy_graph_batchnorm(ctx, &g, a, "bn", &a) == DY_OK && dy_graph_add(ctx, &g, a, 0, "add", &b) == DY_OK &&
              dy_graph_conv(ctx, &g, b, 3, 1, 2, 0, false, "c2", &c) == DY_OK &&
              dy_graph_avgpool(ctx, &g, c, "pool", &c) == DY_OK && dy_graph_linear(ctx, &g, c, 4, true, "fc", &c) == DY_OK;
    if (!CHECK(ok, "build the fan-out graph: %s", dy_ctx_error(ctx))) return;
    const int64_t n = 3, hw = 5, nin = n * 2 * hw * hw, nout = n * 4;
    float *params = formula(7, g.n_params, 0.5), *grads = calloc((size_t)g.n_params, sizeof(float));
    float *state = calloc((size_t)g.n_state, sizeof(float)), *x = formula(8, nin, 1.0), *dz = formula(9, nout, 1.0);
    float *dx = calloc((size_t)nin, sizeof(float)), *out = calloc((size_t)nout, sizeof(float));
    for (int32_t i = 0; i < g.n_nodes; i++)
        if (g.nodes[i].op == DY_OP_BATCHNORM) params[g.nodes[i].weight] = params[g.nodes[i].weight + 1] = 1.0f;
    dy_exec *e = NULL;
    if (!CHECK(dy_exec_create(ctx, &g, n, hw, hw, DY_EXEC_TRAIN, &e) == DY_OK, "plan: %s", dy_ctx_error(ctx))) return;
    loss_of(e, params, state, x, dz, out, nout);
    CHECK(dy_exec_backward(e, params, grads, dz, dx) == DY_OK, "backward with dinput");
    CHECK(dy_exec_backward(e, params, grads, dz, dx) == DY_ERR_INVALID, "backward twice refused");
    /* Central differences in double over float32 forwards: h = 1e-2 keeps rounding near 1e-5 relative. */
    const double h = 1e-2;
    double max_err = 0, max_ref = 0;
    for (int64_t i = 0; i < nin; i++) {
        float keep = x[i];
        x[i] = keep + (float)h;
        double lp = loss_of(e, params, state, x, dz, out, nout);
        x[i] = keep - (float)h;
        double lm = loss_of(e, params, state, x, dz, out, nout);
        x[i] = keep;
        double fd = (lp - lm) / (2 * h);
        if (fabs(fd - dx[i]) > max_err) max_err = fabs(fd - dx[i]);
        if (fabs(fd) > max_ref) max_ref = fabs(fd);
    }
    CHECK(max_err / max_ref < 1e-2, "d(input) summed over its two readers matches finite differences: %.2e",
          max_err / max_ref);
    const dy_node *c1 = &g.nodes[0];
    max_err = max_ref = 0;
    for (int64_t i = 0; i < 2 * 2 * 9; i++) {
        float keep = params[c1->weight + i];
        params[c1->weight + i] = keep + (float)h;
        double lp = loss_of(e, params, state, x, dz, out, nout);
        params[c1->weight + i] = keep - (float)h;
        double lm = loss_of(e, params, state, x, dz, out, nout);
        params[c1->weight + i] = keep;
        double fd = (lp - lm) / (2 * h);
        if (fabs(fd - grads[c1->weight + i]) > max_err) max_err = fabs(fd - grads[c1->weight + i]);
        if (fabs(fd) > max_ref) max_ref = fabs(fd);
    }
    CHECK(max_err / max_ref < 1e-2, "conv weight gradient matches finite differences: %.2e", max_err / max_ref);
    CHECK(state[g.nodes[1].num_batches] == 1 + 2 * (nin + 36), "every training forward counts in num_batches");
    dy_exec_destroy(e);
    free(params);
    free(grads);
    free(state);
    free(x);
    free(dz);
    free(dx);
    free(out);
    dy_graph_free(&g);
}

int main(void) {
    dy_ctx *ctx;
    dy_ctx_options o = {.threads = 0, .backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return 1;
    test_resnet18_train(ctx);
    test_resnet50_train(ctx);
    test_eval(ctx);
    test_exec_fanout(ctx);
    test_memory_plan(ctx);
    test_plan_place();
    test_weights(ctx);
    test_safetensors_parser(ctx);
    dy_ctx_destroy(ctx);
    /* The oneDNN executor against the same fixtures (the dnnl helper's addition). Not the ResNet-50 one: its
     * near-cancelling BN sums reach 9e-4 in fp32 accumulation (the reference accumulates in double); bottleneck
     * blocks are compared executor to executor in tests/test_dnnl_exec.c. */
    dy_ctx_options od = {.threads = 0, .backend = DY_BACKEND_DNNL};
    if (dy_have_dnnl() && CHECK(dy_ctx_create(&ctx, &od) == DY_OK, "context with oneDNN")) {
        test_resnet18_train(ctx);
        test_eval(ctx);
        dy_ctx_destroy(ctx);
    }
    return test_finish();
}
