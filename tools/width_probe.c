/* One training step of test_small_widths.c's networks on both executors, dumped for tools/width_oracle.py (which
 * builds and runs this; not part of the tests). The networks, parameters, input and output gradient are the test's
 * (short: ResNet-18's stem, layer1.0, layer2.0, layer3.0, pool, head with parameters far from the defaults; r18: the
 * whole ResNet-18 with PyTorch's initialisation and residual batch norms at gamma 0.25).
 *
 *     width_probe short|r18 WIDTH SIZE BATCH DIR [PERTURB [DIRECTION]]
 *
 * writes DIR/graph.txt (the nodes), params, state0, input, dout and, per executor (ref, dnnl; ONLY=ref or ONLY=dnnl
 * runs one), feat, out, state, grad, dx as raw float32 files. PERTURB multiplies the input by 1 + PERTURB r, r
 * normal along random direction DIRECTION (0, 1, ...), as the test's sensitivity runs do. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dystress.h"
#include "core/context.h"
#include "core/rng.h"
#include "graph_params.h"
#include "engine/exec_backend.h"
#include "model/resnet.h"

static dy_ctx *ctx;
static float *floats(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }
static int64_t value_size(const dy_graph *g, int32_t v, int64_t h, int64_t w) {
    dy_value_shape *s = malloc(sizeof *s * (size_t)(g->n_nodes + 1));
    int64_t n = 0;
    if (s && dy_graph_infer(ctx, g, h, w, s) == DY_OK) n = s[v].c * s[v].h * s[v].w;
    free(s);
    return n;
}
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
#define OK(call) do { if ((call) != DY_OK) { fprintf(stderr, "%s\n", dy_ctx_error(ctx)); exit(1);} } while (0)
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
    return a;
}
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
static void dump(const char *dir, const char *name, const float *p, int64_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    FILE *f = fopen(path, "wb");
    fwrite(p, sizeof(float), (size_t)n, f);
    fclose(f);
}
int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: width_probe short|r18 WIDTH SIZE BATCH DIR [PERTURB [DIRECTION]]\n");
        return 2;
    }
    const bool whole = strcmp(argv[1], "r18") == 0;
    int64_t c = atoll(argv[2]), size = atoll(argv[3]), n = atoll(argv[4]);
    const char *dir = argv[5];
    double perturb = argc > 6 ? atof(argv[6]) : 0;
    dy_ctx_options o = {.threads = 0, .backend = DY_BACKEND_DNNL};
    OK(dy_ctx_create(&ctx, &o));
    dy_graph g;
    uint64_t seed;
    if (whole) {
        dy_model_config cfg = {.depth = 18, .width = c, .in_channels = 3, .stem = DY_STEM_CIFAR};
        dy_graph_init(&g, 3);
        OK(dy_resnet_build(ctx, &g, &cfg));
        OK(dy_head_build(ctx, &g, g.features, 32, 16));
        seed = (uint64_t)(100 + c);
    } else {
        short_resnet(&g, c);
        seed = (uint64_t)(1000 * size + c);
    }
    const int64_t in_count = n * g.in_channels * size * size;
    const int64_t out_dim = value_size(&g, g.output, size, size), feat_dim = value_size(&g, g.features, size, size);
    float *params = floats(g.n_params), *state0 = floats(g.n_state), *state = floats(g.n_state);
    float *input = floats(in_count), *dout = floats(n * out_dim), *out = floats(n * out_dim);
    float *feat = floats(n * feat_dim);
    float *grad = floats(g.n_params), *dx = floats(in_count);
    if (whole) resnet_params(&g, params, state0, seed); else test_random_params_uniform(&g, params, state0, seed);
    dy_rng r;
    dy_rng_init(&r, seed, DY_RNG_EVAL, 8, 0);
    for (int64_t i = 0; i < in_count; i++) input[i] = (float)dy_rng_normal(&r);
    for (int64_t i = 0; i < n * out_dim; i++) dout[i] = (float)dy_rng_normal(&r);
    if (perturb != 0) {
        dy_rng p;
        dy_rng_init(&p, 4242, DY_RNG_EVAL, 9, argc > 7 ? (uint32_t)atoi(argv[7]) : 0);
        for (int64_t i = 0; i < in_count; i++) input[i] *= (float)(1.0 + perturb * dy_rng_normal(&p));
    }
    char path[512];
    snprintf(path, sizeof path, "%s/graph.txt", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "%lld %lld %lld %d %d %lld %lld\n", (long long)g.in_channels, (long long)n, (long long)size, g.features,
            g.output, (long long)g.n_params, (long long)g.n_state);
    for (int32_t i = 0; i < g.n_nodes; i++) {
        const dy_node *nd = &g.nodes[i];
        /* square windows (a 2-D ResNet's): one kernel, stride and pad each */
        fprintf(f, "%d %d %d %lld %d %d %d %lld %lld %lld %lld %lld %.9g %.9g %s\n", nd->op, nd->in[0], nd->in[1],
                (long long)nd->channels, nd->kernel_h, nd->stride_h, nd->pad_h, (long long)nd->weight,
                (long long)nd->bias, (long long)nd->running_mean, (long long)nd->running_var,
                (long long)nd->num_batches, nd->momentum, nd->eps, nd->name);
    }
    fclose(f);
    dump(dir, "params", params, g.n_params);
    dump(dir, "state0", state0, g.n_state);
    dump(dir, "input", input, in_count);
    dump(dir, "dout", dout, n * out_dim);
    const dy_exec_backend *be[2] = {&dy_ref_exec_backend, &dy_dnnl_exec_backend};
    const char *tag[2] = {"ref", "dnnl"};
    for (int k = 0; k < 2; k++) {
        if (getenv("ONLY") && strcmp(getenv("ONLY"), tag[k])) continue;
        dy_exec *e;
        memcpy(state, state0, sizeof(float) * (size_t)g.n_state);
        OK(be[k]->create(ctx, &g, n, size, size, DY_EXEC_TRAIN, &e));
        OK(be[k]->forward(e, params, state, input, feat, out));
        OK(be[k]->backward(e, params, grad, dout, dx));
        char nm[64];
#define D(x, cnt) (snprintf(nm, sizeof nm, "%s_%s", tag[k], #x), dump(dir, nm, x, cnt))
        D(feat, n * feat_dim); D(out, n * out_dim); D(state, g.n_state); D(grad, g.n_params); D(dx, in_count);
        be[k]->destroy(e);
    }
    dy_ctx_destroy(ctx);
    return 0;
}
