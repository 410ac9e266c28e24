/* The 1-D ResNet (dy_model_config.dims = DY_DIMS_1D): signals [n, c, t] passed as [n, c, 1, t].
 *
 * 1. The graph: ResNet-18's nodes and names with 1 x k windows (stems: CIFAR conv k3 s1; ImageNet conv k7 s2 p3 and
 *    max-pool k3 s2 p1, all along t), conv weights [out, in, k] in the tensor table, the parameter count of
 *    nn.Conv1d's network (k where the 2-D one has k * k), an input of height 2 refused with a message.
 * 2. A training step (features, output, running statistics, every parameter gradient) and an evaluation forward of the
 *    whole model with the head, on the oneDNN executor against the reference executor, fp32, normwise 1e-4 (as
 *    tests/test_dnnl_exec.c: batch norms that feed a residual add get gamma 0.25, the deep network at PyTorch's
 *    plain initialisation being chaotic in training mode with small batches), both stems, default layout and
 *    channels-last.
 * 3. Weights: save -> load into a fresh 1-D model is bit-exact; the file holds conv1.weight as [width, c, k] and the
 *    metadata dystress.dims "1"; a 1-D file does not load into a 2-D model, nor a 2-D file into a 1-D one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "graph_params.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "testlib.h"
#include "dystress.h"

#define TOL 1e-4

static dy_model_config config(dy_stem stem, int64_t in_ch) {
    return (dy_model_config){.depth = 18, .width = 4, .in_channels = in_ch, .stem = stem, .head = true,
                             .head_hidden = 32, .head_out = 16, .dims = DY_DIMS_1D};
}

static const dy_tensor_info *tensor(const dy_model *m, const char *name) {
    int64_t count;
    const dy_tensor_info *t = dy_model_tensors(m, &count);
    for (int64_t i = 0; i < count; i++)
        if (!strcmp(t[i].name, name)) return &t[i];
    return NULL;
}

static float *floats(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static void test_graph(dy_ctx *ctx) {
    for (int s = 0; s < 2; s++) {
        dy_model_config c = config(s ? DY_STEM_IMAGENET : DY_STEM_CIFAR, 5);
        dy_model *m = NULL;
        if (!CHECK(dy_model_create(ctx, &c, 1, &m) == DY_OK, "create a 1-D ResNet-18: %s", dy_ctx_error(ctx)))
            continue;
        /* nn.Conv1d weights: out * in * k per conv; the 2-D network with every k * k replaced by k */
        int64_t convs = 0, weights = 0, count;
        bool shapes_ok = true;
        const dy_tensor_info *t = dy_model_tensors(m, &count);
        for (int64_t i = 0; i < count; i++) {
            const size_t len = strlen(t[i].name);
            if (len < 7 || strcmp(t[i].name + len - 7, ".weight") || t[i].ndim < 3) continue;
            convs++;
            weights += t[i].numel;
            shapes_ok &= t[i].ndim == 3 && (t[i].shape[2] == 1 || t[i].shape[2] == 3 || t[i].shape[2] == 7);
        }
        /* ResNet-18 width 4: stem 4 x 5 x k0, blocks: layer1 4 convs 4x4x3, layer2 16 (8x4x3 + 3 x 8x8x3) + ds 8x4x1,
         * layer3 doubled, layer4 again */
        const int64_t k0 = s ? 7 : 3;
        const int64_t want = 4 * 5 * k0 + 4 * (4 * 4 * 3) + (8 * 4 * 3 + 3 * 8 * 8 * 3 + 8 * 4) +
                             (16 * 8 * 3 + 3 * 16 * 16 * 3 + 16 * 8) + (32 * 16 * 3 + 3 * 32 * 32 * 3 + 32 * 16);
        CHECK(convs == 20 && shapes_ok && weights == want,
              "%s stem: 20 conv weights [out, in, k] with k in {1, 3, 7}, %lld floats (nn.Conv1d's: %lld)",
              s ? "ImageNet" : "CIFAR", (long long)weights, (long long)want);
        const dy_tensor_info *c1 = tensor(m, "conv1.weight");
        CHECK(c1 && c1->ndim == 3 && c1->shape[0] == 4 && c1->shape[1] == 5 && c1->shape[2] == k0,
              "conv1.weight is [4, 5, %lld]", (long long)k0);
        CHECK(dy_model_feature_dim(m) == 32 && dy_model_output_dim(m) == 16, "features 32, output 16");
        float *x = floats(2 * 5 * 2 * 40), *h = floats(2 * 32);
        CHECK(dy_model_forward_eval(m, x, 2, 2, 40, h, NULL) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "1-D"),
              "an input of height 2 is refused: %s", dy_ctx_error(ctx));
        CHECK(dy_model_forward_eval(m, x, 2, 1, 40, h, NULL) == DY_OK, "a signal of 40 steps: %s", dy_ctx_error(ctx));
        free(x), free(h);
        dy_model_destroy(m);
    }
    dy_model_config bad = config(DY_STEM_CIFAR, 2);
    bad.dims = (dy_dims)3;
    dy_model *m = NULL;
    CHECK(dy_model_create(ctx, &bad, 1, &m) == DY_ERR_INVALID && m == NULL && strstr(dy_ctx_error(ctx), "dims"),
          "dims 3 refused: %s", dy_ctx_error(ctx));
}

/* Residual branches scaled down as in tests/test_dnnl_exec.c: the batch norms feeding an add get gamma 0.25. */
static void scale_residuals(dy_model *m) {
    const dy_graph *g = &m->graph;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const dy_node *nd = &g->nodes[i];
        if (nd->op != DY_OP_ADD) continue;
        for (int k = 0; k < 2; k++) {
            const dy_node *src = nd->in[k] > 0 ? &g->nodes[nd->in[k] - 1] : NULL;
            if (src && src->op == DY_OP_BATCHNORM)
                for (int64_t c = 0; c < src->channels; c++) m->params[src->weight + c] = 0.25f;
        }
    }
}

/* Per tensor, the gradients of b against a's. */
static void compare_grads(const char *what, dy_model *a, dy_model *b) {
    int64_t count;
    const dy_tensor_info *t = dy_model_tensors(a, &count);
    int bad = 0;
    for (int64_t i = 0; i < count; i++) {
        if (t[i].kind != DY_TENSOR_PARAM) continue;
        const float *ga = dy_model_grads(a, NULL) + t[i].offset, *gb = dy_model_grads(b, NULL) + t[i].offset;
        const double err = test_rel_error(gb, ga, (size_t)t[i].numel);
        if (err > TOL && bad++ < 5) printf("  %s: d %s off by %.2e\n", what, t[i].name, err);
    }
    CHECK(bad == 0, "%s: every parameter gradient within %g (%d off)", what, TOL, bad);
}

static void compare_executors(dy_ctx *ref_ctx, dy_ctx *fast_ctx, const char *what, dy_stem stem) {
    const dy_model_config c = config(stem, 3);
    dy_model *a = NULL, *b = NULL;
    if (!CHECK(dy_model_create(ref_ctx, &c, 7, &a) == DY_OK && dy_model_create(fast_ctx, &c, 7, &b) == DY_OK,
               "%s: models: %s", what, dy_ctx_error(fast_ctx)))
        goto done;
    scale_residuals(a);
    scale_residuals(b);
    const int64_t n = 6, t = stem == DY_STEM_IMAGENET ? 96 : 37, d = 32, out = 16;
    float *x = floats(n * 3 * t), *dz = floats(n * out), *h[2] = {floats(n * d), floats(n * d)};
    float *z[2] = {floats(n * out), floats(n * out)};
    dy_rng r;
    dy_rng_init(&r, 5, DY_RNG_EVAL, (uint32_t)t, 0);
    test_fill_normal(x, n * 3 * t, &r, 1.0);
    test_fill_normal(dz, n * out, &r, 1.0);
    char name[160];
    dy_model *ms[2] = {a, b};
    dy_status st = DY_OK;
    for (int k = 0; k < 2 && st == DY_OK; k++) {
        st = dy_model_forward_train(ms[k], x, n, 1, t, h[k], z[k]);
        if (st == DY_OK) st = dy_model_backward(ms[k], dz);
    }
    if (CHECK(st == DY_OK, "%s: training step: %s", what, dy_ctx_error(st == DY_OK ? ref_ctx : fast_ctx))) {
        snprintf(name, sizeof name, "%s train: features", what);
        test_close(name, h[1], h[0], (size_t)(n * d), TOL);
        snprintf(name, sizeof name, "%s train: output", what);
        test_close(name, z[1], z[0], (size_t)(n * out), TOL);
        int64_t ns;
        const float *sa = dy_model_state(a, &ns);
        snprintf(name, sizeof name, "%s train: running statistics", what);
        test_close(name, dy_model_state(b, NULL), sa, (size_t)ns, TOL);
        snprintf(name, sizeof name, "%s train", what);
        compare_grads(name, a, b);
    }
    st = dy_model_forward_eval(a, x, n, 1, t, h[0], z[0]);
    if (st == DY_OK) st = dy_model_forward_eval(b, x, n, 1, t, h[1], z[1]);
    if (CHECK(st == DY_OK, "%s: evaluation: %s", what, dy_ctx_error(fast_ctx))) {
        snprintf(name, sizeof name, "%s eval: features", what);
        test_close(name, h[1], h[0], (size_t)(n * d), TOL);
        snprintf(name, sizeof name, "%s eval: output", what);
        test_close(name, z[1], z[0], (size_t)(n * out), TOL);
    }
    free(x), free(dz), free(h[0]), free(h[1]), free(z[0]), free(z[1]);
done:
    dy_model_destroy(a);
    dy_model_destroy(b);
}

static void test_executors(dy_ctx *ref_ctx) {
#ifdef DY_HAVE_DNNL
    for (int nhwc = 0; nhwc < 2; nhwc++) {
        dy_ctx *fast = NULL;
        dy_ctx_options o = {.threads = 2, .backend = DY_BACKEND_DNNL,
                            .layout = nhwc ? DY_LAYOUT_NHWC : DY_LAYOUT_BLOCKED};
        if (!CHECK(dy_ctx_create(&fast, &o) == DY_OK, "context with oneDNN")) return;
        compare_executors(ref_ctx, fast, nhwc ? "oneDNN nhwc, CIFAR stem" : "oneDNN, CIFAR stem", DY_STEM_CIFAR);
        compare_executors(ref_ctx, fast, nhwc ? "oneDNN nhwc, ImageNet stem" : "oneDNN, ImageNet stem",
                          DY_STEM_IMAGENET);
        dy_ctx_destroy(fast);
    }
#else
    (void)ref_ctx;
    printf("skipped: the oneDNN comparison (this build has no oneDNN)\n");
#endif
}

static bool same_buffers(dy_model *a, dy_model *b) {
    int64_t np, ns;
    const float *pa = dy_model_params(a, &np), *sa = dy_model_state(a, &ns);
    return !memcmp(pa, dy_model_params(b, NULL), sizeof(float) * (size_t)np) &&
           !memcmp(sa, dy_model_state(b, NULL), sizeof(float) * (size_t)ns);
}

static void test_weights(dy_ctx *ctx) {
    char path[256], path2d[256];
    snprintf(path, sizeof path, "/tmp/dy_test_model1d_%ld.safetensors", (long)getpid());
    snprintf(path2d, sizeof path2d, "/tmp/dy_test_model1d_%ld_2d.safetensors", (long)getpid());
    dy_model_config c = config(DY_STEM_IMAGENET, 2), c2 = c;
    c2.dims = DY_DIMS_2D;
    dy_model *a = NULL, *b = NULL, *img = NULL;
    if (!CHECK(dy_model_create(ctx, &c, 1, &a) == DY_OK && dy_model_create(ctx, &c, 2, &b) == DY_OK &&
                   dy_model_create(ctx, &c2, 1, &img) == DY_OK,
               "models: %s", dy_ctx_error(ctx)))
        goto done;
    /* a trained state: a training step moves the running statistics */
    const int64_t n = 4, t = 50;
    float *x = floats(n * 2 * t);
    dy_rng r;
    dy_rng_init(&r, 9, DY_RNG_EVAL, 0, 0);
    test_fill_normal(x, n * 2 * t, &r, 1.0);
    CHECK(dy_model_forward_train(a, x, n, 1, t, NULL, NULL) == DY_OK, "a training forward: %s", dy_ctx_error(ctx));
    free(x);
    CHECK(!same_buffers(a, b), "models differ before loading");
    CHECK(dy_model_save_weights(a, path, true) == DY_OK, "save: %s", dy_ctx_error(ctx));
    CHECK(dy_model_load_weights(b, path, true) == DY_OK, "load: %s", dy_ctx_error(ctx));
    CHECK(same_buffers(a, b), "save -> load round trip of a 1-D model is bit-exact (parameters and state)");
    dy_st_file f;
    if (CHECK(dy_st_read(ctx, path, &f) == DY_OK, "read back: %s", dy_ctx_error(ctx))) {
        const dy_st_tensor *w = dy_st_find(&f, "conv1.weight"), *ds = dy_st_find(&f, "layer2.0.downsample.0.weight");
        CHECK(w && w->ndim == 3 && w->shape[0] == 4 && w->shape[1] == 2 && w->shape[2] == 7,
              "conv1.weight [4, 2, 7] as nn.Conv1d's");
        CHECK(ds && ds->ndim == 3 && ds->shape[0] == 8 && ds->shape[1] == 4 && ds->shape[2] == 1,
              "layer2.0.downsample.0.weight [8, 4, 1]");
        const char *dims = dy_st_meta_get(&f, "dystress.dims");
        CHECK(dims && !strcmp(dims, "1"), "metadata dystress.dims \"1\" (%s)", dims ? dims : "absent");
        dy_st_free(&f);
    }
    CHECK(dy_model_load_weights(img, path, true) == DY_ERR_MISMATCH, "a 1-D file into an image model: %s",
          dy_ctx_error(ctx));
    CHECK(dy_model_save_weights(img, path2d, true) == DY_OK, "save the image model: %s", dy_ctx_error(ctx));
    CHECK(dy_model_load_weights(b, path2d, true) == DY_ERR_MISMATCH && same_buffers(a, b),
          "an image file into a 1-D model refused, nothing changed: %s", dy_ctx_error(ctx));
done:
    remove(path);
    remove(path2d);
    dy_model_destroy(a);
    dy_model_destroy(b);
    dy_model_destroy(img);
}

/* tests/test_export_1d.sh's C half: for two 1-D encoders (ResNet-18 width 8, 3 channels, ImageNet stem; ResNet-50
 * width 4, 2 channels, CIFAR stem) with parameters and statistics far from the defaults, writes DIR/<name>.safetensors
 * (the encoder, as `dystress export` writes it), DIR/<name>_input.npy [n, c * t] and DIR/<name>_features.npy [n, d],
 * the reference executor's features. */
static int export_files(const char *dir) {
    static const struct {
        const char *name;
        int depth;
        int64_t width, channels, t;
        dy_stem stem;
    } encoders[] = {{"r18", 18, 8, 3, 200, DY_STEM_IMAGENET}, {"r50", 50, 4, 2, 45, DY_STEM_CIFAR}};
    dy_ctx *ctx = NULL;
    dy_ctx_options o = {.threads = 2, .backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return 1;
    dy_status st = DY_OK;
    for (int k = 0; k < 2 && st == DY_OK; k++) {
        const dy_model_config c = {.depth = encoders[k].depth, .width = encoders[k].width,
                                   .in_channels = encoders[k].channels, .stem = encoders[k].stem, .dims = DY_DIMS_1D};
        dy_model *m = NULL;
        st = dy_model_create(ctx, &c, 3, &m);
        if (st != DY_OK) break;
        test_random_params(&m->graph, m->params, m->state, 40 + (uint64_t)k);
        const int64_t n = 5, in = encoders[k].channels * encoders[k].t, d = dy_model_feature_dim(m);
        float *x = floats(n * in), *h = floats(n * d);
        dy_rng r;
        dy_rng_init(&r, 41, DY_RNG_EVAL, (uint32_t)k, 0);
        test_fill_normal(x, n * in, &r, 1.0);
        char path[512];
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, encoders[k].name);
        st = dy_model_save_weights(m, path, false);
        if (st == DY_OK) st = dy_model_embed(m, x, n, 1, encoders[k].t, h);
        snprintf(path, sizeof path, "%s/%s_input.npy", dir, encoders[k].name);
        if (st == DY_OK) st = dy_npy_write_f32(ctx, path, x, n, in);
        snprintf(path, sizeof path, "%s/%s_features.npy", dir, encoders[k].name);
        if (st == DY_OK) st = dy_npy_write_f32(ctx, path, h, n, d);
        free(x), free(h);
        dy_model_destroy(m);
    }
    if (st != DY_OK) fprintf(stderr, "export: %s\n", dy_ctx_error(ctx));
    dy_ctx_destroy(ctx);
    return st == DY_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--export")) return export_files(argv[2]);
    dy_ctx *ctx = NULL;
    dy_ctx_options o = {.threads = 2, .backend = DY_BACKEND_REF};
    if (!CHECK(dy_ctx_create(&ctx, &o) == DY_OK, "context")) return test_finish();
    test_graph(ctx);
    test_executors(ctx);
    test_weights(ctx);
    dy_ctx_destroy(ctx);
    return test_finish();
}
