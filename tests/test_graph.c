/* Graph building: torchvision's ResNet names, parameter counts and shapes; PyTorch's default initialisation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "engine/graph.h"
#include "model/resnet.h"
#include "testlib.h"

static dy_model_config config(int depth, int64_t width, int64_t in_ch, dy_stem stem) {
    dy_model_config c = {.depth = depth, .width = width, .in_channels = in_ch, .stem = stem, .head = true,
                         .head_hidden = 512, .head_out = 128};
    return c;
}

static const dy_node *find(const dy_graph *g, const char *name) {
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return &g->nodes[i];
    return NULL;
}

static void test_resnet18_counts(dy_ctx *ctx) {
    dy_graph g;
    dy_model_config c = config(18, 64, 3, DY_STEM_CIFAR);
    dy_graph_init(&g, 3);
    CHECK(dy_resnet_build(ctx, &g, &c) == DY_OK, "build resnet18: %s", dy_ctx_error(ctx));
    /* torchvision resnet18 without fc has 11,176,512 parameters; the CIFAR conv1 (3x3 instead of 7x7) has 7,680
     * fewer. Its buffers: 9,600 running statistics and one num_batches_tracked per BN (20 BNs). */
    CHECK(g.n_params == 11176512 - 7680, "resnet18 CIFAR parameters %lld", (long long)g.n_params);
    CHECK(g.n_state == 9600 + 20, "resnet18 state %lld", (long long)g.n_state);
    const char *order[] = {"conv1", "bn1", "relu", "layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu",
                           "layer1.0.conv2", "layer1.0.bn2", "layer1.0.add", "layer1.0.relu", "layer1.1.conv1"};
    bool same = true;
    for (int i = 0; i < 11; i++) same &= strcmp(g.nodes[i].name, order[i]) == 0;
    CHECK(same, "resnet18 node order as torchvision's forward");
    const dy_node *ds = find(&g, "layer2.0.downsample.0"), *bn2 = find(&g, "layer2.0.bn2");
    CHECK(ds && ds->op == DY_OP_CONV2D && ds->kernel_h == 1 && ds->kernel_w == 1 && ds->stride_h == 2 &&
              ds->stride_w == 2 && ds->channels == 128,
          "layer2.0.downsample.0 is a 1x1 stride-2 conv to 128");
    CHECK(ds && bn2 && ds->weight > bn2->bias, "downsample parameters follow bn2 (state_dict order)");
    CHECK(find(&g, "layer1.0.downsample.0") == NULL, "no downsample in layer1 of resnet18");
    CHECK(find(&g, "maxpool") == NULL, "no max-pool with the CIFAR stem");
    dy_value_shape *shapes = malloc(sizeof *shapes * (size_t)(g.n_nodes + 1));
    CHECK(dy_graph_infer(ctx, &g, 32, 32, shapes) == DY_OK, "infer 32x32: %s", dy_ctx_error(ctx));
    CHECK(shapes[g.features].c == 512 && shapes[g.features].h == 1, "features 512x1x1");
    const dy_node *l4 = find(&g, "layer4.1.bn2");
    CHECK(l4 && shapes[l4 - g.nodes + 1].h == 4 && shapes[l4 - g.nodes + 1].w == 4, "layer4 is 4x4 at 32x32 input");
    CHECK(dy_graph_infer(ctx, &g, 28, 28, shapes) == DY_OK, "infer 28x28");
    CHECK(l4 && shapes[l4 - g.nodes + 1].h == 4, "layer4 is 4x4 at 28x28 input (ceil of halvings)");
    int64_t head_before = g.n_params;
    CHECK(dy_head_build(ctx, &g, g.features, 512, 128) == DY_OK, "head");
    CHECK(g.n_params - head_before == 512 * 512 + 2 * 512 + 512 * 128 + 2 * 128, "head parameters");
    CHECK(strcmp(g.nodes[g.n_nodes - 1].name, "head.4") == 0 && g.output == g.n_nodes, "head.4 is the output");
    free(shapes);
    dy_graph_free(&g);
}

static void test_resnet50_counts(dy_ctx *ctx) {
    dy_graph g;
    dy_model_config c = config(50, 64, 3, DY_STEM_IMAGENET);
    dy_graph_init(&g, 3);
    CHECK(dy_resnet_build(ctx, &g, &c) == DY_OK, "build resnet50: %s", dy_ctx_error(ctx));
    /* torchvision resnet50 without fc: 23,508,032 parameters, 53,120 running statistics, 53 BNs. */
    CHECK(g.n_params == 23508032, "resnet50 parameters %lld", (long long)g.n_params);
    CHECK(g.n_state == 53120 + 53, "resnet50 state %lld", (long long)g.n_state);
    const dy_node *c2 = find(&g, "layer3.0.conv2"), *c1 = find(&g, "layer3.0.conv1");
    CHECK(c2 && c2->stride_h == 2 && c2->stride_w == 2 && c2->kernel_h == 3 && c2->kernel_w == 3 && c1 &&
              c1->stride_h == 1 && c1->stride_w == 1, "v1.5: the stride is on the 3x3 conv");
    const dy_node *ds = find(&g, "layer1.0.downsample.0");
    CHECK(ds && ds->stride_h == 1 && ds->stride_w == 1 && ds->channels == 256, "layer1.0 has a 1x1 downsample to 256");
    dy_value_shape *shapes = malloc(sizeof *shapes * (size_t)(g.n_nodes + 1));
    CHECK(dy_graph_infer(ctx, &g, 224, 224, shapes) == DY_OK, "infer 224");
    const dy_node *mp = find(&g, "maxpool"), *last = find(&g, "layer4.2.bn3");
    CHECK(mp && shapes[mp - g.nodes + 1].h == 56, "max-pool output 56x56");
    CHECK(last && shapes[last - g.nodes + 1].h == 7 && shapes[last - g.nodes + 1].c == 2048, "layer4 2048x7x7");
    free(shapes);
    dy_graph_free(&g);
}

static void test_infer_refusals(dy_ctx *ctx) {
    dy_graph g;
    dy_graph_init(&g, 2);
    int32_t v;
    CHECK(dy_graph_conv(ctx, &g, 0, 4, 5, 1, 0, true, "big", &v) == DY_OK, "conv with bias");
    CHECK(g.n_params == 4 * 2 * 25 + 4 && g.nodes[0].bias == 200, "bias after the weight");
    dy_value_shape shapes[4];
    CHECK(dy_graph_infer(ctx, &g, 3, 3, shapes) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "big"),
          "kernel larger than the input refused naming the node: %s", dy_ctx_error(ctx));
    CHECK(dy_graph_linear(ctx, &g, v, 3, false, "fc", &v) == DY_OK, "linear");
    CHECK(dy_graph_infer(ctx, &g, 6, 6, shapes) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "fc"),
          "linear on a 2x2 input refused: %s", dy_ctx_error(ctx));
    CHECK(dy_graph_add(ctx, &g, 0, 1, "bad", &v) == DY_ERR_INVALID, "adding 2 channels to 4 refused");
    CHECK(dy_graph_relu(ctx, &g, 7, "bad", &v) == DY_ERR_INVALID, "unknown input value refused");
    dy_graph_free(&g);
    dy_model_config bad = config(34, 64, 3, DY_STEM_CIFAR);
    dy_graph_init(&g, 3);
    CHECK(dy_resnet_build(ctx, &g, &bad) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "34"), "depth 34 refused");
    dy_graph_free(&g);
}

/* Mean and standard deviation of count floats. */
static void moments(const float *p, int64_t count, double *mean, double *std, double *maxabs) {
    double s = 0, s2 = 0, m = 0;
    for (int64_t i = 0; i < count; i++) {
        s += p[i];
        s2 += (double)p[i] * p[i];
        if (fabs(p[i]) > m) m = fabs(p[i]);
    }
    *mean = s / (double)count;
    *std = sqrt(s2 / (double)count - *mean * *mean);
    *maxabs = m;
}

static void test_init(dy_ctx *ctx) {
    dy_graph g;
    dy_model_config c = config(18, 32, 3, DY_STEM_CIFAR);
    dy_graph_init(&g, 3);
    CHECK(dy_resnet_build(ctx, &g, &c) == DY_OK && dy_head_build(ctx, &g, g.features, 512, 128) == DY_OK, "build");
    float *params = calloc((size_t)g.n_params, sizeof *params), *state = calloc((size_t)g.n_state, sizeof *state);
    float *again = calloc((size_t)g.n_params, sizeof *again), *state2 = calloc((size_t)g.n_state, sizeof *state2);
    dy_model_init_weights(&g, 7, params, state);
    dy_model_init_weights(&g, 7, again, state2);
    CHECK(memcmp(params, again, sizeof *params * (size_t)g.n_params) == 0, "same seed, same weights");
    dy_model_init_weights(&g, 8, again, state2);
    CHECK(memcmp(params, again, sizeof *params * 100) != 0, "another seed, other weights");
    /* layer4.1.conv2: 256 x 256 x 3 x 3, kaiming normal fan_out: std sqrt(2 / (256 * 9)). */
    const dy_node *cv = find(&g, "layer4.1.conv2");
    double mean, std, maxabs, want = sqrt(2.0 / (256 * 9));
    int64_t count = 256 * 256 * 9;
    moments(params + cv->weight, count, &mean, &std, &maxabs);
    CHECK(fabs(std / want - 1) < 0.01 && fabs(mean) < 4 * want / sqrt((double)count),
          "conv weights N(0, %.4f): mean %.2e std %.4f", want, mean, std);
    /* 4th moment of a normal is 3 std^4: tells a normal from a uniform of the same variance (1.8 std^4). */
    double m4 = 0;
    for (int64_t i = 0; i < count; i++) m4 += pow(params[cv->weight + i], 4);
    m4 /= (double)count;
    CHECK(fabs(m4 / pow(std, 4) - 3) < 0.1, "conv weights are normal: kurtosis %.3f", m4 / pow(std, 4));
    /* head.0: Linear(256, 512): U(-1/16, 1/16): std 1/(16 sqrt 3), all inside the bound. */
    const dy_node *h0 = find(&g, "head.0");
    moments(params + h0->weight, 512 * 256, &mean, &std, &maxabs);
    CHECK(fabs(std * 16 * sqrt(3.0) - 1) < 0.01 && maxabs <= 1.0 / 16 && maxabs > 0.99 / 16 && fabs(mean) < 1e-3,
          "head.0 weights U(-1/16, 1/16): mean %.2e std %.5f max %.5f", mean, std, maxabs);
    const dy_node *bn = find(&g, "layer3.0.bn1");
    bool bn_ok = state[bn->num_batches] == 0;
    for (int64_t i = 0; i < bn->channels; i++)
        bn_ok &= params[bn->weight + i] == 1 && params[bn->bias + i] == 0 && state[bn->running_mean + i] == 0 &&
                 state[bn->running_var + i] == 1;
    CHECK(bn_ok, "BN weight 1, bias 0, running mean 0, var 1, count 0");
    free(params);
    free(again);
    free(state);
    free(state2);
    dy_graph_free(&g);
}

int main(void) {
    dy_ctx *ctx;
    dy_ctx_options o = {.threads = 1, .backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return 1;
    test_resnet18_counts(ctx);
    test_resnet50_counts(ctx);
    test_infer_refusals(ctx);
    test_init(ctx);
    dy_ctx_destroy(ctx);
    return test_finish();
}
