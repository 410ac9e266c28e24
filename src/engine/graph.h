/* A network as data: a flat list of nodes in execution order, shared by every backend.
 *
 * Node i reads the values in[0] (and in[1] for an add) and writes value i + 1; value 0 is the input batch.
 * Shapes are inferred for a given input size at plan time (dy_graph_infer), so one graph serves 28x28 and 32x32.
 * Trained parameters live in one float buffer in PyTorch's layouts (conv [k, c, r, s], linear [out, in],
 * batch-norm gamma then beta); batch-norm running statistics live in a second float buffer, the state.
 * Nodes hold offsets into those buffers and the torchvision module name that the safetensors files use.
 */
#ifndef DY_ENGINE_GRAPH_H
#define DY_ENGINE_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "dystress.h"

typedef enum {
    DY_OP_CONV2D,    /* weight [channels, c_in, kernel, kernel]; bias [channels] or none */
    DY_OP_BATCHNORM, /* over channels; 2-D after convs, 1-D in the head (h = w = 1) */
    DY_OP_RELU,
    DY_OP_MAXPOOL,   /* kernel, stride, pad */
    DY_OP_AVGPOOL,   /* global average pool to [c, 1, 1] */
    DY_OP_LINEAR,    /* weight [channels, c_in * h_in * w_in]; bias [channels] or none */
    DY_OP_ADD,       /* in[0] + in[1] (residual) */
    DY_OP_L2NORM     /* rows divided by max(norm, eps) */
} dy_op;

typedef struct {
    dy_op op;
    int32_t in[2];                   /* input value ids; in[1] = -1 except for DY_OP_ADD */
    int64_t channels;                /* output channels (conv, linear); copied from the input otherwise */
    int32_t kernel, stride, pad;     /* conv2d, maxpool */
    int64_t weight, bias;            /* parameter-buffer offsets; bn: gamma, beta; -1 when absent */
    int64_t running_mean, running_var, num_batches; /* state-buffer offsets (bn); -1 otherwise */
    float momentum, eps;             /* bn: 0.1 and 1e-5 as PyTorch; l2norm: eps 1e-12 */
    char name[48];                   /* torchvision module name, e.g. "layer2.0.downsample.0" */
} dy_node;

typedef struct {
    dy_node *nodes;
    int32_t n_nodes, cap_nodes;
    int64_t in_channels;
    int64_t n_params;    /* floats in the parameter buffer */
    int64_t n_state;     /* floats in the state buffer */
    int32_t features;    /* value id of the encoder output h (after the global pool), -1 if none */
    int32_t output;      /* value id of the network output (the projection z, or h without a head) */
} dy_graph;

/* Shape of value v for one image. */
typedef struct {
    int64_t c, h, w;
} dy_value_shape;

/* Fills shapes[0 .. n_nodes] (n_nodes + 1 entries) for an input of in_h x in_w; DY_ERR_INVALID with a message
 * naming the node when a size does not fit (a kernel larger than its padded input, for example). */
dy_status dy_graph_infer(dy_ctx *ctx, const dy_graph *g, int64_t in_h, int64_t in_w, dy_value_shape *shapes);

#endif
