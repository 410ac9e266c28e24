/* Issue 10 item 1: training with --width below 16 crashed on the oneDNN backend (heap corruption by oneDNN 2.6's
 * jit_1x1 backward-weights kernel on a strided 1x1 convolution with fewer than 16 channels-last input channels: the
 * downsample of layer2, and of layer3 below width 8; see backward_weights_pd in src/engine/dnnl/dnnl_conv.c).
 *
 * 1. The issue's command: eight 64-pixel JPEGs, `dystress pretrain --width 8 --image-size 64 --batch-size 4
 *    --max-steps 1` on the oneDNN backend exits 0 and writes its checkpoint (it exited 139).
 * 2. The issue's network: ResNet-18 width 8 with the head, 64 pixels, batch 8 (two views of 4 images), one training
 *    step on the reference and the oneDNN executor. Forward values (features, output, running statistics) agree to
 *    a normwise relative error of 1e-4. Gradients are only checked to be finite and within 5 %, which memory
 *    corruption would not give: at 64 pixels and widths below 16 the oneDNN path's gradients of the stem and layer1
 *    differ from the reference's by 1e-4 to 1e-2 (width 16, and width 8 at 32 pixels, agree to 1e-4). That is a
 *    precision question of its own, left open; the largest error is printed.
 * 3. Widths 2 to 64: ResNet-18's pattern cut short (CIFAR stem conv-bn-relu with c channels, a layer1 block, the
 *    layer2 and layer3 downsample blocks to 2c and 4c channels with their 1x1 stride-2 shortcuts, global pool, head)
 *    with parameters far from the defaults, as the small graphs of test_dnnl_exec.c, at 16x16, batch 4: features,
 *    output, running statistics, every parameter gradient and the input gradient agree to 1e-4.
 *
 * Not here, because they do not pass at 1e-4 yet (see the lead's report): width 1 (d layer2.0.downsample.0.weight
 * 2e-4 at 16 pixels, 5e-3 at 64), and the short network at 33 and 64 pixels for some widths (8, 9, 17, 32:
 * 1e-4 to 3e-2). Whole ResNets at every width would take minutes on the reference executor and, trained on small
 * batches, are chaotic (the reference's own gradients move by percents at widths 1 and 19 when the input moves by
 * one part in 1e6). With DY_TEST_QUICK (sanitizers, valgrind) part 3 stops at width 17. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jpeglib.h>

#include "dystress.h"
#include "testlib.h"

#ifndef DY_HAVE_DNNL
int main(void) {
    printf("skipped: this build has no oneDNN (DNNL=0), nothing to compare\n");
    return test_finish();
}
#else

#include "core/context.h"
#include "core/rng.h"
#include "engine/exec_backend.h"
#include "model/resnet.h"

#define TOL 1e-4

static dy_ctx *ctx;

static float *floats(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static int64_t value_size(const dy_graph *g, int32_t v, int64_t h, int64_t w) {
    dy_value_shape *s = malloc(sizeof *s * (size_t)(g->n_nodes + 1));
    int64_t n = 0;
    if (s && dy_graph_infer(ctx, g, h, w, s) == DY_OK) n = s[v].c * s[v].h * s[v].w;
    free(s);
    return n;
}

/* Parameters and statistics far from the defaults, so that every term of every formula matters. */
static void random_params(const dy_graph *g, float *params, float *state, uint64_t seed) {
    dy_rng r;
    dy_rng_init(&r, seed, DY_RNG_EVAL, 7, 0);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const dy_node *nd = &g->nodes[i];
        int64_t c_in = dy_graph_value_channels(g, nd->in[0]);
        if (nd->op == DY_OP_CONV2D || nd->op == DY_OP_LINEAR) {
            int64_t fan_in = c_in * (nd->op == DY_OP_CONV2D ? (int64_t)nd->kernel * nd->kernel : 1);
            double scale = sqrt(2.0 / (double)fan_in);
            for (int64_t k = 0; k < nd->channels * fan_in; k++) params[nd->weight + k] = (float)(scale * dy_rng_normal(&r));
        } else if (nd->op == DY_OP_BATCHNORM) {
            for (int64_t c = 0; c < nd->channels; c++) {
                params[nd->weight + c] = (float)dy_rng_range(&r, 0.5, 1.5);
                params[nd->bias + c] = (float)dy_rng_range(&r, -0.3, 0.3);
                state[nd->running_mean + c] = (float)dy_rng_range(&r, -0.3, 0.3);
                state[nd->running_var + c] = (float)dy_rng_range(&r, 0.5, 2.0);
            }
            state[nd->num_batches] = 3;
        }
    }
}

/* PyTorch's initialisation with the residual branches scaled down (the batch norms that feed an add get gamma
 * 0.25), as test_dnnl_exec.c does for whole ResNets. */
static void resnet_params(const dy_graph *g, float *params, float *state, uint64_t seed) {
    dy_model_init_weights(g, seed, params, state);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const dy_node *nd = &g->nodes[i];
        if (nd->op != DY_OP_ADD) continue;
        for (int k = 0; k < 2; k++) {
            const dy_node *src = nd->in[k] > 0 ? &g->nodes[nd->in[k] - 1] : NULL;
            if (src && src->op == DY_OP_BATCHNORM)
                for (int64_t c = 0; c < src->channels; c++) params[src->weight + c] = 0.25f;
        }
    }
}

/* Number of floats of a parameter tensor's weight. */
static int64_t weight_count(const dy_graph *g, const dy_node *nd) {
    int64_t count = nd->channels;
    if (nd->op == DY_OP_CONV2D || nd->op == DY_OP_LINEAR)
        count *= dy_graph_value_channels(g, nd->in[0]) * (nd->op == DY_OP_CONV2D ? nd->kernel * nd->kernel : 1);
    return count;
}

static double worst_whole; /* the largest gradient error of the whole ResNets (part 2), printed */

/* One gradient tensor: within TOL (part 1), or finite and within 5 % (part 2, see the top). */
static bool close_grad(const char *name, const float *got, const float *want, bool whole, size_t n) {
    if (!whole) return test_close(name, got, want, n, TOL);
    double err = test_rel_error(got, want, n);
    if (err > worst_whole) worst_whole = err;
    return CHECK(err <= 0.05, "%s: rel error %.3g (sanity bound 0.05)", name, err);
}

/* One training step of g on both executors. whole: PyTorch's initialisation, gradients sanity-bounded (part 2);
 * else parameters far from the defaults and 1e-4 everywhere (part 1). */
static void train_step(const char *what, const dy_graph *g, int64_t size, int64_t n, uint64_t seed, bool whole) {
    char name[300];
    const int64_t in_count = n * g->in_channels * size * size;
    const int64_t out_dim = value_size(g, g->output, size, size), feat_dim = value_size(g, g->features, size, size);
    float *params = floats(g->n_params), *state_ref = floats(g->n_state), *state_dnnl = floats(g->n_state);
    float *input = floats(in_count), *dout = floats(n * out_dim);
    float *out_ref = floats(n * out_dim), *out_dnnl = floats(n * out_dim);
    float *feat_ref = floats(n * feat_dim), *feat_dnnl = floats(n * feat_dim);
    float *grad_ref = floats(g->n_params), *grad_dnnl = floats(g->n_params);
    float *dx_ref = floats(in_count), *dx_dnnl = floats(in_count);
    if (whole) resnet_params(g, params, state_ref, seed);
    else random_params(g, params, state_ref, seed);
    memcpy(state_dnnl, state_ref, sizeof(float) * (size_t)g->n_state);
    for (int64_t i = 0; i < g->n_params; i++) grad_dnnl[i] = NAN; /* gradients are assigned, never accumulated */
    dy_rng r;
    dy_rng_init(&r, seed, DY_RNG_EVAL, 8, 0);
    for (int64_t i = 0; i < in_count; i++) input[i] = (float)dy_rng_normal(&r);
    for (int64_t i = 0; i < n * out_dim; i++) dout[i] = (float)dy_rng_normal(&r);

    dy_exec *ref = NULL, *fast = NULL;
    dy_status st = dy_ref_exec_backend.create(ctx, g, n, size, size, DY_EXEC_TRAIN, &ref);
    if (!CHECK(st == DY_OK, "%s: reference executor: %s", what, dy_ctx_error(ctx))) goto done;
    st = dy_dnnl_exec_backend.create(ctx, g, n, size, size, DY_EXEC_TRAIN, &fast);
    if (!CHECK(st == DY_OK, "%s: oneDNN executor: %s", what, dy_ctx_error(ctx))) goto done;
    st = dy_ref_exec_backend.forward(ref, params, state_ref, input, feat_ref, out_ref);
    if (!CHECK(st == DY_OK, "%s: reference forward: %s", what, dy_ctx_error(ctx))) goto done;
    st = dy_dnnl_exec_backend.forward(fast, params, state_dnnl, input, feat_dnnl, out_dnnl);
    if (!CHECK(st == DY_OK, "%s: oneDNN forward: %s", what, dy_ctx_error(ctx))) goto done;
    st = dy_ref_exec_backend.backward(ref, params, grad_ref, dout, dx_ref);
    if (!CHECK(st == DY_OK, "%s: reference backward: %s", what, dy_ctx_error(ctx))) goto done;
    st = dy_dnnl_exec_backend.backward(fast, params, grad_dnnl, dout, dx_dnnl);
    if (!CHECK(st == DY_OK, "%s: oneDNN backward: %s", what, dy_ctx_error(ctx))) goto done;
    snprintf(name, sizeof name, "%s: features", what);
    bool ok = test_close(name, feat_dnnl, feat_ref, (size_t)(n * feat_dim), TOL);
    snprintf(name, sizeof name, "%s: output", what);
    ok &= test_close(name, out_dnnl, out_ref, (size_t)(n * out_dim), TOL);
    snprintf(name, sizeof name, "%s: running statistics", what);
    ok &= test_close(name, state_dnnl, state_ref, (size_t)g->n_state, TOL);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const dy_node *nd = &g->nodes[i];
        if (nd->weight < 0) continue;
        snprintf(name, sizeof name, "%s: d %s.weight", what, nd->name);
        ok &= close_grad(name, grad_dnnl + nd->weight, grad_ref + nd->weight, whole, (size_t)weight_count(g, nd));
        if (nd->bias >= 0) {
            snprintf(name, sizeof name, "%s: d %s.bias", what, nd->name);
            ok &= close_grad(name, grad_dnnl + nd->bias, grad_ref + nd->bias, whole, (size_t)nd->channels);
        }
    }
    snprintf(name, sizeof name, "%s: dinput", what);
    ok &= close_grad(name, dx_dnnl, dx_ref, whole, (size_t)in_count);
    CHECK(ok, "%s: a training step agrees on both executors", what);
done:
    if (ref) dy_ref_exec_backend.destroy(ref);
    if (fast) dy_dnnl_exec_backend.destroy(fast);
    free(params), free(state_ref), free(state_dnnl), free(input), free(dout), free(out_ref), free(out_dnnl);
    free(feat_ref), free(feat_dnnl), free(grad_ref), free(grad_dnnl), free(dx_ref), free(dx_dnnl);
}

#define OK(call) CHECK((call) == DY_OK, "graph building: %s", dy_ctx_error(ctx))

/* A ResNet basic block from x with c channels at stride (with the 1x1 downsample when stride is not 1). */
static int32_t basic_block(dy_graph *g, int32_t x, int64_t c, int32_t stride, const char *prefix) {
    char nm[64];
    int32_t a, s = x;
#define NAME(part) (snprintf(nm, sizeof nm, "%s.%s", prefix, part), nm)
    OK(dy_graph_conv(ctx, g, x, c, 3, stride, 1, false, NAME("conv1"), &a));
    OK(dy_graph_batchnorm(ctx, g, a, NAME("bn1"), &a));
    OK(dy_graph_relu(ctx, g, a, NAME("relu1"), &a));
    OK(dy_graph_conv(ctx, g, a, c, 3, 1, 1, false, NAME("conv2"), &a));
    OK(dy_graph_batchnorm(ctx, g, a, NAME("bn2"), &a));
    if (stride != 1) {
        OK(dy_graph_conv(ctx, g, x, c, 1, stride, 0, false, NAME("downsample.0"), &s));
        OK(dy_graph_batchnorm(ctx, g, s, NAME("downsample.1"), &s));
    }
    OK(dy_graph_add(ctx, g, a, s, NAME("add"), &a));
    OK(dy_graph_relu(ctx, g, a, NAME("relu2"), &a));
#undef NAME
    return a;
}

/* Part 1's network: ResNet-18's CIFAR stem, layer1.0, layer2.0 and layer3.0 at width c, pool, head. */
static void short_resnet(dy_graph *g, int64_t c) {
    int32_t v;
    dy_graph_init(g, 3);
    OK(dy_graph_conv(ctx, g, 0, c, 3, 1, 1, false, "conv1", &v));
    OK(dy_graph_batchnorm(ctx, g, v, "bn1", &v));
    OK(dy_graph_relu(ctx, g, v, "relu", &v));
    v = basic_block(g, v, c, 1, "layer1.0");
    v = basic_block(g, v, 2 * c, 2, "layer2.0");
    v = basic_block(g, v, 4 * c, 2, "layer3.0");
    OK(dy_graph_avgpool(ctx, g, v, "avgpool", &v));
    g->features = v;
    OK(dy_head_build(ctx, g, v, 24, 10));
}

static void part1(int64_t c, int64_t size, int64_t n) {
    char what[96];
    snprintf(what, sizeof what, "short ResNet width %lld %lldx%lld n%lld", (long long)c, (long long)size,
             (long long)size, (long long)n);
    dy_graph g;
    short_resnet(&g, c);
    train_step(what, &g, size, n, (uint64_t)(1000 * size + c), false);
    dy_graph_free(&g);
}

static void part2(int64_t width, dy_stem stem, int64_t size, int64_t n) {
    char what[96];
    snprintf(what, sizeof what, "ResNet-18 width %lld %s stem %lldx%lld n%lld", (long long)width,
             stem == DY_STEM_CIFAR ? "CIFAR" : "ImageNet", (long long)size, (long long)size, (long long)n);
    dy_model_config cfg = {.depth = 18, .width = width, .in_channels = 3, .stem = stem};
    dy_graph g;
    dy_graph_init(&g, cfg.in_channels);
    if (OK(dy_resnet_build(ctx, &g, &cfg)) && OK(dy_head_build(ctx, &g, g.features, 32, 16)))
        train_step(what, &g, size, n, (uint64_t)(100 + width), true);
    dy_graph_free(&g);
}

/* The issue's command: a folder of eight 64-pixel JPEGs, --width 8, one step on the oneDNN backend; it exited with
 * rc 139. DY_CLI names the binary under test, as in test_cli_pretrain.c. */
static void cli_issue_command(void) {
    char dir[256], path[512], cmd[2048];
    snprintf(dir, sizeof dir, "/tmp/dystress-small-widths-%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s/images", dir, dir);
    if (!CHECK(system(cmd) == 0, "scratch folder %s", dir)) return;
    for (int i = 0; i < 8; i++) {
        snprintf(path, sizeof path, "%s/images/%d.jpg", dir, i);
        FILE *f = fopen(path, "wb");
        if (!CHECK(f != NULL, "write %s", path)) return;
        struct jpeg_compress_struct c;
        struct jpeg_error_mgr err;
        c.err = jpeg_std_error(&err);
        jpeg_create_compress(&c);
        jpeg_stdio_dest(&c, f);
        c.image_width = 64, c.image_height = 64, c.input_components = 3, c.in_color_space = JCS_RGB;
        jpeg_set_defaults(&c);
        jpeg_start_compress(&c, TRUE);
        unsigned char row[64 * 3];
        while (c.next_scanline < c.image_height) {
            int y = (int)c.next_scanline;
            for (int x = 0; x < 64; x++)
                for (int k = 0; k < 3; k++) row[3 * x + k] = (unsigned char)((x * (i + 3) + y * (7 + k) + 31 * i) & 255);
            JSAMPROW rp = row;
            jpeg_write_scanlines(&c, &rp, 1);
        }
        jpeg_finish_compress(&c);
        jpeg_destroy_compress(&c);
        fclose(f);
    }
    const char *cli = getenv("DY_CLI");
    snprintf(cmd, sizeof cmd,
             "%s pretrain --backend dnnl --data folder --data-dir %s/images --image-size 64 --width 8 --batch-size 4 "
             "--max-steps 1 --knn-every -1 --run-dir %s/run > %s/log 2>&1",
             cli ? cli : "./dystress", dir, dir, dir);
    int st = system(cmd);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    CHECK(rc == 0, "dystress pretrain --width 8 on 64-pixel JPEGs exits 0 (got %d; log in %s/log)", rc, dir);
    snprintf(path, sizeof path, "%s/run/checkpoint-latest.safetensors", dir);
    CHECK(access(path, F_OK) == 0, "the run wrote %s", path);
    if (rc == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) printf("could not remove %s\n", dir);
    }
}

int main(void) {
    dy_ctx_options o = {.threads = 0, .backend = DY_BACKEND_DNNL};
    if (!CHECK(dy_ctx_create(&ctx, &o) == DY_OK, "context with oneDNN")) return test_finish();
    const bool quick = test_quick();
    cli_issue_command();
    part2(8, DY_STEM_CIFAR, 64, 8); /* the issue's case */
    for (int64_t c = 2; c <= (quick ? 17 : 64); c++) part1(c, 16, 4);
    printf("whole ResNet-18 at 64 pixels: largest gradient error against the reference %.3g\n", worst_whole);
    dy_ctx_destroy(ctx);
    return test_finish();
}
#endif
