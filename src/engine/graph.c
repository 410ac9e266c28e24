/* Building graphs node by node, and inferring value shapes for one input size. */
#include "engine/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"

void dy_graph_init(dy_graph *g, int64_t in_channels) {
    memset(g, 0, sizeof *g);
    g->in_channels = in_channels;
    g->features = -1;
    g->output = 0;
}

void dy_graph_free(dy_graph *g) {
    free(g->nodes);
    g->nodes = NULL;
    g->n_nodes = g->cap_nodes = 0;
}

int64_t dy_graph_value_channels(const dy_graph *g, int32_t v) {
    if (v == 0) return g->in_channels;
    return g->nodes[v - 1].channels;
}

static bool valid_value(const dy_graph *g, int32_t v) { return v >= 0 && v <= g->n_nodes; }

static bool window_valid(const dy_node *nd) {
    return nd->kernel_h > 0 && nd->kernel_w > 0 && nd->stride_h > 0 && nd->stride_w > 0 && nd->pad_h >= 0 &&
           nd->pad_w >= 0;
}

static void set_window(dy_node *nd, dy_window win) {
    nd->kernel_h = win.kernel_h;
    nd->kernel_w = win.kernel_w;
    nd->stride_h = win.stride_h;
    nd->stride_w = win.stride_w;
    nd->pad_h = win.pad_h;
    nd->pad_w = win.pad_w;
}

int64_t dy_graph_conv_weights(const dy_graph *g, const dy_node *nd) {
    return nd->channels * dy_graph_value_channels(g, nd->in[0]) * nd->kernel_h * nd->kernel_w;
}

dy_status dy_graph_append(dy_ctx *ctx, dy_graph *g, dy_node node, int32_t *value) {
    if (!valid_value(g, node.in[0]))
        return dy_fail(ctx, DY_ERR_INVALID, "graph node %s: input value %d does not exist", node.name, node.in[0]);
    if (node.op == DY_OP_ADD) {
        if (!valid_value(g, node.in[1]))
            return dy_fail(ctx, DY_ERR_INVALID, "graph node %s: input value %d does not exist", node.name,
                           node.in[1]);
        if (dy_graph_value_channels(g, node.in[0]) != dy_graph_value_channels(g, node.in[1]))
            return dy_fail(ctx, DY_ERR_INVALID, "graph node %s: adds %lld channels to %lld", node.name,
                           (long long)dy_graph_value_channels(g, node.in[1]),
                           (long long)dy_graph_value_channels(g, node.in[0]));
    } else {
        node.in[1] = -1;
    }
    int64_t c_in = dy_graph_value_channels(g, node.in[0]);
    bool want_bias = node.bias >= 0;
    node.weight = node.bias = -1;
    node.running_mean = node.running_var = node.num_batches = -1;
    switch (node.op) {
    case DY_OP_CONV2D:
        if (node.channels <= 0 || !window_valid(&node))
            return dy_fail(ctx, DY_ERR_INVALID,
                           "graph node %s: conv with %lld channels, kernel %dx%d, stride %dx%d, pad %dx%d", node.name,
                           (long long)node.channels, node.kernel_h, node.kernel_w, node.stride_h, node.stride_w,
                           node.pad_h, node.pad_w);
        node.weight = g->n_params;
        g->n_params += node.channels * c_in * node.kernel_h * node.kernel_w;
        if (want_bias) {
            node.bias = g->n_params;
            g->n_params += node.channels;
        }
        break;
    case DY_OP_LINEAR:
        if (node.channels <= 0)
            return dy_fail(ctx, DY_ERR_INVALID, "graph node %s: linear with %lld outputs", node.name,
                           (long long)node.channels);
        node.weight = g->n_params;
        g->n_params += node.channels * c_in;
        if (want_bias) {
            node.bias = g->n_params;
            g->n_params += node.channels;
        }
        break;
    case DY_OP_BATCHNORM:
        node.channels = c_in;
        node.weight = g->n_params;
        node.bias = g->n_params + c_in;
        g->n_params += 2 * c_in;
        node.running_mean = g->n_state;
        node.running_var = g->n_state + c_in;
        node.num_batches = g->n_state + 2 * c_in;
        g->n_state += 2 * c_in + 1;
        if (node.momentum == 0) node.momentum = 0.1f;
        if (node.eps == 0) node.eps = 1e-5f;
        break;
    case DY_OP_MAXPOOL:
        if (!window_valid(&node) || 2 * node.pad_h > node.kernel_h || 2 * node.pad_w > node.kernel_w)
            return dy_fail(ctx, DY_ERR_INVALID, "graph node %s: max pool kernel %dx%d, stride %dx%d, pad %dx%d",
                           node.name, node.kernel_h, node.kernel_w, node.stride_h, node.stride_w, node.pad_h,
                           node.pad_w);
        node.channels = c_in;
        break;
    case DY_OP_L2NORM:
        if (node.eps == 0) node.eps = 1e-12f;
        node.channels = c_in;
        break;
    case DY_OP_RELU:
    case DY_OP_AVGPOOL:
    case DY_OP_ADD:
        node.channels = c_in;
        break;
    default:
        return dy_fail(ctx, DY_ERR_INVALID, "graph node %s: unknown op %d", node.name, (int)node.op);
    }
    if (g->n_nodes == g->cap_nodes) {
        int32_t cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
        dy_node *nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory growing a graph to %d nodes", cap);
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    g->nodes[g->n_nodes++] = node;
    *value = g->n_nodes;
    g->output = g->n_nodes;
    return DY_OK;
}

static dy_node named_node(dy_op op, int32_t in, const char *name) {
    dy_node node;
    memset(&node, 0, sizeof node);
    node.op = op;
    node.in[0] = in;
    node.in[1] = -1;
    node.bias = -1;
    snprintf(node.name, sizeof node.name, "%s", name ? name : "");
    return node;
}

dy_status dy_graph_conv_window(dy_ctx *ctx, dy_graph *g, int32_t in, int64_t channels, dy_window win, bool bias,
                               const char *name, int32_t *out) {
    dy_node node = named_node(DY_OP_CONV2D, in, name);
    node.channels = channels;
    set_window(&node, win);
    node.bias = bias ? 0 : -1;
    return dy_graph_append(ctx, g, node, out);
}

dy_status dy_graph_conv(dy_ctx *ctx, dy_graph *g, int32_t in, int64_t channels, int32_t kernel, int32_t stride,
                        int32_t pad, bool bias, const char *name, int32_t *out) {
    return dy_graph_conv_window(ctx, g, in, channels, dy_window_square(kernel, stride, pad), bias, name, out);
}

dy_status dy_graph_batchnorm(dy_ctx *ctx, dy_graph *g, int32_t in, const char *name, int32_t *out) {
    dy_node node = named_node(DY_OP_BATCHNORM, in, name);
    node.momentum = 0.1f;
    node.eps = 1e-5f;
    return dy_graph_append(ctx, g, node, out);
}

dy_status dy_graph_relu(dy_ctx *ctx, dy_graph *g, int32_t in, const char *name, int32_t *out) {
    return dy_graph_append(ctx, g, named_node(DY_OP_RELU, in, name), out);
}

dy_status dy_graph_maxpool_window(dy_ctx *ctx, dy_graph *g, int32_t in, dy_window win, const char *name,
                                  int32_t *out) {
    dy_node node = named_node(DY_OP_MAXPOOL, in, name);
    set_window(&node, win);
    return dy_graph_append(ctx, g, node, out);
}

dy_status dy_graph_maxpool(dy_ctx *ctx, dy_graph *g, int32_t in, int32_t kernel, int32_t stride, int32_t pad,
                           const char *name, int32_t *out) {
    return dy_graph_maxpool_window(ctx, g, in, dy_window_square(kernel, stride, pad), name, out);
}

dy_status dy_graph_avgpool(dy_ctx *ctx, dy_graph *g, int32_t in, const char *name, int32_t *out) {
    return dy_graph_append(ctx, g, named_node(DY_OP_AVGPOOL, in, name), out);
}

dy_status dy_graph_linear(dy_ctx *ctx, dy_graph *g, int32_t in, int64_t channels, bool bias, const char *name,
                          int32_t *out) {
    dy_node node = named_node(DY_OP_LINEAR, in, name);
    node.channels = channels;
    node.bias = bias ? 0 : -1;
    return dy_graph_append(ctx, g, node, out);
}

dy_status dy_graph_add(dy_ctx *ctx, dy_graph *g, int32_t a, int32_t b, const char *name, int32_t *out) {
    dy_node node = named_node(DY_OP_ADD, a, name);
    node.in[1] = b;
    return dy_graph_append(ctx, g, node, out);
}

dy_status dy_graph_l2norm(dy_ctx *ctx, dy_graph *g, int32_t in, const char *name, int32_t *out) {
    dy_node node = named_node(DY_OP_L2NORM, in, name);
    node.eps = 1e-12f;
    return dy_graph_append(ctx, g, node, out);
}

/* Output size of a sliding window, or -1 when the window does not fit. */
static int64_t window_out(int64_t size, int64_t kernel, int64_t stride, int64_t pad) {
    int64_t padded = size + 2 * pad;
    if (padded < kernel) return -1;
    return (padded - kernel) / stride + 1;
}

dy_status dy_graph_infer(dy_ctx *ctx, const dy_graph *g, int64_t in_h, int64_t in_w, dy_value_shape *shapes) {
    if (in_h <= 0 || in_w <= 0)
        return dy_fail(ctx, DY_ERR_INVALID, "input size %lldx%lld is not positive", (long long)in_h, (long long)in_w);
    if (g->one_d && in_h != 1)
        return dy_fail(ctx, DY_ERR_INVALID,
                       "input size %lldx%lld: a 1-D network takes signals [n, c, t] as [n, c, 1, t] (height 1)",
                       (long long)in_h, (long long)in_w);
    shapes[0] = (dy_value_shape){g->in_channels, in_h, in_w};
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const dy_node *nd = &g->nodes[i];
        dy_value_shape x = shapes[nd->in[0]], y = x;
        switch (nd->op) {
        case DY_OP_CONV2D:
        case DY_OP_MAXPOOL:
            y.h = window_out(x.h, nd->kernel_h, nd->stride_h, nd->pad_h);
            y.w = window_out(x.w, nd->kernel_w, nd->stride_w, nd->pad_w);
            if (y.h <= 0 || y.w <= 0)
                return dy_fail(ctx, DY_ERR_INVALID,
                               "input %lldx%lld too small: node %s (kernel %dx%d, pad %dx%d) gets %lldx%lld",
                               (long long)in_h, (long long)in_w, nd->name, nd->kernel_h, nd->kernel_w, nd->pad_h,
                               nd->pad_w, (long long)x.h, (long long)x.w);
            y.c = nd->channels;
            break;
        case DY_OP_AVGPOOL:
            y.h = y.w = 1;
            break;
        case DY_OP_LINEAR:
            if (x.h != 1 || x.w != 1)
                return dy_fail(ctx, DY_ERR_INVALID, "node %s: linear input is %lldx%lld, expected 1x1", nd->name,
                               (long long)x.h, (long long)x.w);
            y.c = nd->channels;
            break;
        case DY_OP_ADD: {
            dy_value_shape b = shapes[nd->in[1]];
            if (b.c != x.c || b.h != x.h || b.w != x.w)
                return dy_fail(ctx, DY_ERR_INVALID, "node %s adds %lldx%lldx%lld to %lldx%lldx%lld", nd->name,
                               (long long)b.c, (long long)b.h, (long long)b.w, (long long)x.c, (long long)x.h,
                               (long long)x.w);
            break;
        }
        default:
            break;
        }
        shapes[i + 1] = y;
    }
    return DY_OK;
}

dy_status dy_graph_node_grads_ready(const dy_graph *g, int32_t j) {
    const dy_node *nd = &g->nodes[j];
    if (!g->grad_hook || nd->weight < 0) return DY_OK;
    const int64_t c_in = dy_graph_value_channels(g, nd->in[0]);
    int64_t weights = 0;
    switch (nd->op) {
    case DY_OP_CONV2D: weights = dy_graph_conv_weights(g, nd); break;
    case DY_OP_LINEAR: weights = nd->channels * c_in; break;
    case DY_OP_BATCHNORM: weights = nd->channels; break; /* gamma; beta is the "bias" */
    default: return DY_OK;
    }
    dy_status st = dy_graph_grads_ready(g, nd->weight, weights);
    if (st == DY_OK && nd->bias >= 0) st = dy_graph_grads_ready(g, nd->bias, nd->channels);
    return st;
}
