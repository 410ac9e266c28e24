/* A network as data: a flat list of nodes in execution order, shared by every backend.
 *
 * Node i reads the values in[0] (and in[1] for an add) and writes value i + 1; value 0 is the input batch.
 * Shapes are inferred for a given input size at plan time (dy_graph_infer), so one graph serves 28x28 and 32x32.
 * Trained parameters live in one float buffer in PyTorch's layouts (conv [k, c, r, s], linear [out, in],
 * batch-norm gamma then beta); batch-norm running statistics live in a second float buffer, the state.
 * Nodes hold offsets into those buffers and the torchvision module name that the safetensors files use.
 *
 * Buffer layouts, in node order (which is torchvision's state_dict order): a conv or linear node owns
 * weight then bias (when present) in the parameters; a batch-norm node owns gamma [c] then beta [c] in the
 * parameters and running_mean [c], running_var [c], num_batches [1] in the state. num_batches is
 * torchvision's num_batches_tracked kept as a float (exact to 2^24 steps): every training-mode forward adds 1 to it,
 * and updates the running statistics with the node's momentum (0.1, unbiased running variance).
 */
#ifndef DY_ENGINE_GRAPH_H
#define DY_ENGINE_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "dystress.h"

typedef enum {
    DY_OP_CONV2D,    /* weight [channels, c_in, kernel_h, kernel_w]; bias [channels] or none */
    DY_OP_BATCHNORM, /* over channels; 2-D after convs, 1-D in the head (h = w = 1) */
    DY_OP_RELU,
    DY_OP_MAXPOOL,   /* kernel, stride, pad (each per direction) */
    DY_OP_AVGPOOL,   /* global average pool to [c, 1, 1] */
    DY_OP_LINEAR,    /* weight [channels, c_in]; bias [channels] or none. The input must be c_in x 1 x 1 (after the
                        global pool): the weight size is fixed when the graph is built, dy_graph_infer checks it */
    DY_OP_ADD,       /* in[0] + in[1] (residual) */
    DY_OP_L2NORM     /* rows divided by max(norm, eps) */
} dy_op;

typedef struct {
    dy_op op;
    int32_t in[2];                   /* input value ids; in[1] = -1 except for DY_OP_ADD */
    int64_t channels;                /* output channels (conv, linear); copied from the input otherwise */
    int32_t kernel_h, kernel_w;      /* conv2d, maxpool: the window, rows by columns */
    int32_t stride_h, stride_w;      /* its step down and across */
    int32_t pad_h, pad_w;            /* zero rows above and below, zero columns left and right */
    int64_t weight, bias;            /* parameter-buffer offsets; bn: gamma, beta; -1 when absent */
    int64_t running_mean, running_var, num_batches; /* state-buffer offsets (bn); -1 otherwise */
    float momentum, eps;             /* bn: 0.1 and 1e-5 as PyTorch; l2norm: eps 1e-12 */
    char name[48];                   /* torchvision module name, e.g. "layer2.0.downsample.0" */
} dy_node;

/* Batch-norm statistics shared by the processes of a data-parallel run (PyTorch's SyncBatchNorm): allreduce(user,
 * buf, n) replaces buf [n] by its sum over every process (a collective: every process calls it for the same node in
 * the same order). Training-mode batch norm then normalises with the statistics of the global batch: forward sums
 * the per-channel sums and counts (for the mean), then the squared deviations (for the variance); backward the two
 * per-channel sums of dx. Parameter gradients stay local (the trainer sums them with the rest). */
typedef struct {
    dy_status (*allreduce)(void *user, double *buf, int64_t n);
    void *user;
} dy_bn_sync;

/* Gradients handed on while the backward still runs (data-parallel training: src/train/grad_buckets.h starts the
 * all-reduce of a bucket of gradients as soon as all of its parameters are final). An executor calls ready(user,
 * offset, count) once the range [offset, offset + count) of the gradient buffer holds its final values for this
 * backward and will not be touched again by it; a range may be reported more than once, and not every range need be
 * reported (the caller finishes the rest after the backward). Called on the executor's calling thread, between ops.
 * A failure ends the backward with its status. */
typedef struct {
    dy_status (*ready)(void *user, int64_t offset, int64_t count);
    void *user;
} dy_grad_hook;

typedef struct {
    dy_node *nodes;
    int32_t n_nodes, cap_nodes;
    int64_t in_channels;
    int64_t n_params;    /* floats in the parameter buffer */
    int64_t n_state;     /* floats in the state buffer */
    int32_t features;    /* value id of the encoder output h (after the global pool), -1 if none */
    int32_t output;      /* value id of the network output (the projection z, or h without a head) */
    const dy_bn_sync *bn_sync; /* NULL: batch norm uses each process's own batch (the default, as DDP) */
    const dy_grad_hook *grad_hook; /* NULL: nobody is told before the backward returns */
    dy_precision precision;    /* how executors compute (the model's config; bf16: oneDNN only) */
    bool one_d;                /* a network of 1-D signals [n, c, t], planned as [n, c, 1, t]: inputs must have h = 1 */
} dy_graph;

/* A sliding window (conv2d, maxpool) in each direction. A 1-D signal [n, c, t] runs as the image [n, c, 1, t]
 * with a 1 x k window: dy_window_1d(k, stride, pad). */
typedef struct {
    int32_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
} dy_window;

static inline dy_window dy_window_square(int32_t kernel, int32_t stride, int32_t pad) {
    return (dy_window){kernel, kernel, stride, stride, pad, pad};
}
static inline dy_window dy_window_1d(int32_t kernel, int32_t stride, int32_t pad) {
    return (dy_window){1, kernel, 1, stride, 0, pad};
}

/* Shape of value v for one image. */
typedef struct {
    int64_t c, h, w;
} dy_value_shape;

/* Building (src/engine/graph.c). A graph starts empty with dy_graph_init and owns its node array. */
void dy_graph_init(dy_graph *g, int64_t in_channels);
void dy_graph_free(dy_graph *g);
/* Channels of value v (value 0: the input channels). */
int64_t dy_graph_value_channels(const dy_graph *g, int32_t v);
/* Appends node and returns its output value id in *value. The caller fills op, in[], the op's size fields and
 * name; channels is set from the input for ops that keep it. Offsets are allocated here: for conv and linear set
 * node.bias to 0 to ask for a bias, -1 for none (weight and the other offsets are overwritten). Fails with
 * DY_ERR_INVALID when an input id is not an existing value or a size is not positive. */
dy_status dy_graph_append(dy_ctx *ctx, dy_graph *g, dy_node node, int32_t *value);

/* Builders over dy_graph_append, one per op; each writes the new value id into *out. dy_graph_conv and
 * dy_graph_maxpool take a square window; the _window forms any. */
dy_status dy_graph_conv(dy_ctx *ctx, dy_graph *g, int32_t in, int64_t channels, int32_t kernel, int32_t stride,
                        int32_t pad, bool bias, const char *name, int32_t *out);
dy_status dy_graph_conv_window(dy_ctx *ctx, dy_graph *g, int32_t in, int64_t channels, dy_window win, bool bias,
                               const char *name, int32_t *out);
dy_status dy_graph_batchnorm(dy_ctx *ctx, dy_graph *g, int32_t in, const char *name, int32_t *out);
dy_status dy_graph_relu(dy_ctx *ctx, dy_graph *g, int32_t in, const char *name, int32_t *out);
dy_status dy_graph_maxpool(dy_ctx *ctx, dy_graph *g, int32_t in, int32_t kernel, int32_t stride, int32_t pad,
                           const char *name, int32_t *out);
dy_status dy_graph_maxpool_window(dy_ctx *ctx, dy_graph *g, int32_t in, dy_window win, const char *name,
                                  int32_t *out);
dy_status dy_graph_avgpool(dy_ctx *ctx, dy_graph *g, int32_t in, const char *name, int32_t *out);
dy_status dy_graph_linear(dy_ctx *ctx, dy_graph *g, int32_t in, int64_t channels, bool bias, const char *name,
                          int32_t *out);
dy_status dy_graph_add(dy_ctx *ctx, dy_graph *g, int32_t a, int32_t b, const char *name, int32_t *out);
dy_status dy_graph_l2norm(dy_ctx *ctx, dy_graph *g, int32_t in, const char *name, int32_t *out);

/* Weights of a conv node: channels x c_in x kernel_h x kernel_w. */
int64_t dy_graph_conv_weights(const dy_graph *g, const dy_node *nd);

/* Tells g's gradient hook (if any) that node j's parameter gradients (weight, then bias) are final. */
dy_status dy_graph_node_grads_ready(const dy_graph *g, int32_t j);
/* Tells g's gradient hook (if any) that [offset, offset + count) of the gradient buffer is final. */
static inline dy_status dy_graph_grads_ready(const dy_graph *g, int64_t offset, int64_t count) {
    return g->grad_hook ? g->grad_hook->ready(g->grad_hook->user, offset, count) : DY_OK;
}

/* Fills shapes[0 .. n_nodes] (n_nodes + 1 entries) for an input of in_h x in_w; DY_ERR_INVALID with a message
 * naming the node when a size does not fit (a kernel larger than its padded input, for example). */
dy_status dy_graph_infer(dy_ctx *ctx, const dy_graph *g, int64_t in_h, int64_t in_w, dy_value_shape *shapes);

#endif
