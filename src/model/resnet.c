/* torchvision's ResNet encoders as graphs: BasicBlock (ResNet-18) and Bottleneck (ResNet-50, stride on the 3x3
 * conv as in torchvision's "v1.5"), the CIFAR or ImageNet stem, any base width and input channel count; and the same
 * networks in one dimension for signals (DY_DIMS_1D: every k x k window becomes 1 x k, as nn.Conv1d's k). */
#include "model/resnet.h"

#include <stdio.h>

#include "core/context.h"

/* A k x k window (1 x k in a 1-D network) with stride and padding on each of its sides. */
static dy_window window(const dy_graph *g, int32_t kernel, int32_t stride, int32_t pad) {
    return g->one_d ? dy_window_1d(kernel, stride, pad) : dy_window_square(kernel, stride, pad);
}

static dy_status conv(dy_ctx *ctx, dy_graph *g, int32_t in, int64_t channels, int32_t kernel, int32_t stride,
                      int32_t pad, const char *name, int32_t *out) {
    return dy_graph_conv_window(ctx, g, in, channels, window(g, kernel, stride, pad), false, name, out);
}

/* conv (no bias) then BN, named prefix.conv<k> / prefix.bn<k>. */
static dy_status conv_bn(dy_ctx *ctx, dy_graph *g, int32_t in, int64_t channels, int32_t kernel, int32_t stride,
                         const char *prefix, int k, int32_t *out) {
    char name[48];
    int32_t v;
    snprintf(name, sizeof name, "%s.conv%d", prefix, k);
    DY_TRY(conv(ctx, g, in, channels, kernel, stride, kernel / 2, name, &v));
    snprintf(name, sizeof name, "%s.bn%d", prefix, k);
    return dy_graph_batchnorm(ctx, g, v, name, out);
}

static dy_status relu(dy_ctx *ctx, dy_graph *g, int32_t in, const char *prefix, int32_t *out) {
    char name[48];
    snprintf(name, sizeof name, "%s.relu", prefix);
    return dy_graph_relu(ctx, g, in, name, out);
}

/* The shortcut: identity, or downsample.0 (1x1 conv with the block's stride) and downsample.1 (BN) when the
 * shape changes. Built after the main path, as torchvision registers (and runs) it. */
static dy_status shortcut(dy_ctx *ctx, dy_graph *g, int32_t in, int64_t channels, int32_t stride, const char *prefix,
                          int32_t *out) {
    if (stride == 1 && dy_graph_value_channels(g, in) == channels) {
        *out = in;
        return DY_OK;
    }
    char name[48];
    int32_t v;
    snprintf(name, sizeof name, "%s.downsample.0", prefix);
    DY_TRY(conv(ctx, g, in, channels, 1, stride, 0, name, &v));
    snprintf(name, sizeof name, "%s.downsample.1", prefix);
    return dy_graph_batchnorm(ctx, g, v, name, out);
}

static dy_status basic_block(dy_ctx *ctx, dy_graph *g, int32_t in, int64_t planes, int32_t stride,
                             const char *prefix, int32_t *out) {
    int32_t v, skip;
    DY_TRY(conv_bn(ctx, g, in, planes, 3, stride, prefix, 1, &v));
    DY_TRY(relu(ctx, g, v, prefix, &v));
    DY_TRY(conv_bn(ctx, g, v, planes, 3, 1, prefix, 2, &v));
    DY_TRY(shortcut(ctx, g, in, planes, stride, prefix, &skip));
    char name[48];
    snprintf(name, sizeof name, "%s.add", prefix);
    DY_TRY(dy_graph_add(ctx, g, v, skip, name, &v));
    return relu(ctx, g, v, prefix, out);
}

static dy_status bottleneck(dy_ctx *ctx, dy_graph *g, int32_t in, int64_t planes, int32_t stride,
                            const char *prefix, int32_t *out) {
    int32_t v, skip;
    DY_TRY(conv_bn(ctx, g, in, planes, 1, 1, prefix, 1, &v));
    DY_TRY(relu(ctx, g, v, prefix, &v));
    DY_TRY(conv_bn(ctx, g, v, planes, 3, stride, prefix, 2, &v));
    DY_TRY(relu(ctx, g, v, prefix, &v));
    DY_TRY(conv_bn(ctx, g, v, planes * 4, 1, 1, prefix, 3, &v));
    DY_TRY(shortcut(ctx, g, in, planes * 4, stride, prefix, &skip));
    char name[48];
    snprintf(name, sizeof name, "%s.add", prefix);
    DY_TRY(dy_graph_add(ctx, g, v, skip, name, &v));
    return relu(ctx, g, v, prefix, out);
}

dy_status dy_resnet_build(dy_ctx *ctx, dy_graph *g, const dy_model_config *config) {
    static const int blocks18[4] = {2, 2, 2, 2}, blocks50[4] = {3, 4, 6, 3};
    if (config->depth != 18 && config->depth != 50)
        return dy_fail(ctx, DY_ERR_INVALID, "model depth %d: expected 18 or 50", config->depth);
    if (config->width <= 0 || config->width > 4096)
        return dy_fail(ctx, DY_ERR_INVALID, "model width %lld: expected 1 to 4096", (long long)config->width);
    if (config->in_channels <= 0 || config->in_channels > 4096)
        return dy_fail(ctx, DY_ERR_INVALID, "model input channels %lld: expected 1 to 4096",
                       (long long)config->in_channels);
    if (config->stem != DY_STEM_CIFAR && config->stem != DY_STEM_IMAGENET)
        return dy_fail(ctx, DY_ERR_INVALID, "model stem %d: expected CIFAR (0) or ImageNet (1)", (int)config->stem);
    if (config->dims != DY_DIMS_2D && config->dims != DY_DIMS_1D)
        return dy_fail(ctx, DY_ERR_INVALID, "model dims %d: expected 2-D (0, images) or 1-D (1, signals)",
                       (int)config->dims);
    if (g->n_nodes != 0 || g->in_channels != config->in_channels)
        return dy_fail(ctx, DY_ERR_INTERNAL, "dy_resnet_build needs an empty graph with the input channels");
    g->one_d = config->dims == DY_DIMS_1D;
    const int *blocks = config->depth == 18 ? blocks18 : blocks50;
    int32_t v;
    if (config->stem == DY_STEM_CIFAR) {
        DY_TRY(conv(ctx, g, 0, config->width, 3, 1, 1, "conv1", &v));
    } else {
        DY_TRY(conv(ctx, g, 0, config->width, 7, 2, 3, "conv1", &v));
    }
    DY_TRY(dy_graph_batchnorm(ctx, g, v, "bn1", &v));
    DY_TRY(dy_graph_relu(ctx, g, v, "relu", &v));
    if (config->stem == DY_STEM_IMAGENET) DY_TRY(dy_graph_maxpool_window(ctx, g, v, window(g, 3, 2, 1), "maxpool", &v));
    for (int layer = 0; layer < 4; layer++) {
        int64_t planes = config->width << layer;
        for (int b = 0; b < blocks[layer]; b++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "layer%d.%d", layer + 1, b);
            int32_t stride = (layer > 0 && b == 0) ? 2 : 1;
            if (config->depth == 18)
                DY_TRY(basic_block(ctx, g, v, planes, stride, prefix, &v));
            else
                DY_TRY(bottleneck(ctx, g, v, planes, stride, prefix, &v));
        }
    }
    DY_TRY(dy_graph_avgpool(ctx, g, v, "avgpool", &v));
    g->features = v;
    g->output = v;
    return DY_OK;
}
