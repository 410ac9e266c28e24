/* The oneDNN executor's inner parts, shared by the files of src/engine/dnnl.
 *
 * Files, each using only those after it: dnnl_exec.c (the backend: builds the programs, places the arena, runs the
 * items), dnnl_groups.c (the graph cut into groups), one file per group family (dnnl_conv.c, dnnl_batchnorm.c with
 * the training kernels of src/engine/ref/bn_kernels.h, dnnl_relu_add.c, dnnl_pool.c, dnnl_linear.c, dnnl_l2norm.c),
 * dnnl_builder.c (memories, values, items, gradients), and dnnl_context.c (the engine and stream of a context).
 *
 * How it works. At creation the graph is cut into fused groups (dnnl_groups.c): conv, bn+relu, add+relu, ... in
 * training; conv+bn(+add)(+relu) folded into one convolution in evaluation. Each group appends oneDNN primitives and
 * a few plain-C steps ("items") to a forward program and, in training, to a backward program. An item names its
 * operands by memory index, in fields named for its kind (dd_item's union); a memory lives either in one of the
 * caller's buffers (parameters, gradients, state, input, ...) at a fixed float offset, or in a tensor of the
 * executor's own arena. After all items are known, each
 * arena tensor's lifetime (first and last item that touches it) decides where it goes in one arena (dy_plan_place,
 * the planner's placement), so tensors that are never alive together share bytes. A step then only sets the handles
 * of the caller's buffers and runs the items: it allocates nothing.
 *
 * Activations stay in the layouts oneDNN picks for the convolutions (nChw16c here): every other primitive is
 * created on the layout of its input, so nothing is reordered between layers. Only weights are reordered (from
 * the PyTorch layouts in the parameter buffer, once per pass) and weight gradients back.
 *
 * Precision (the graph's): in bf16 the encoder's activations and their gradients are bf16 (b->act), convolutions
 * run on bf16 weights reordered from the float parameters each pass and give float weight gradients (oneDNN sums
 * them in float); batch norm keeps float statistics (its plain-C kernels read bf16 into float lanes); a linear
 * converts its input to float, so the projection head, the output and the loss stay float. Caller buffers are float
 * in both precisions.
 */
#ifndef DY_ENGINE_DNNL_EXEC_INTERNAL_H
#define DY_ENGINE_DNNL_EXEC_INTERNAL_H

#include <dnnl.h>

#include "core/context.h"
#include "engine/exec_backend.h"
#include "engine/plan.h"
#include "engine/ref/bn_kernels.h"

/* Where a memory object's bytes are. */
typedef enum {
    DD_PARAMS,   /* the caller's parameter buffer (float offset) */
    DD_GRADS,    /* the caller's gradient buffer */
    DD_STATE,    /* the caller's state buffer (running statistics) */
    DD_INPUT,    /* the input batch */
    DD_DINPUT,   /* the input gradient */
    DD_FEATURES, /* the features output */
    DD_OUTPUT,   /* the network output */
    DD_DOUTPUT,  /* the output gradient */
    DD_ARENA,    /* a tensor of the arena (offset = tensor index) */
    DD_SCRATCH,  /* the shared oneDNN scratchpad */
    DD_N_WHERE
} dd_where;

typedef struct {
    dnnl_memory_desc_t md;
    dd_where where;
    int64_t offset;     /* floats into the caller's buffer, or the tensor index for DD_ARENA */
    dnnl_memory_t mem;  /* created once the arena is planned */
} dd_mem;

/* Plain-C items: operands are memory indices (-1: absent), named per kind. */
typedef struct {              /* DD_ITEM_RUNNING_STATS: PyTorch's update from the batch statistics (training) */
    int32_t mean, var;                                 /* the batch's, biased variance */
    int32_t running_mean, running_var, num_batches;    /* updated (state) */
    int64_t channels, count;                           /* count: values per channel (unbiases the variance) */
    float momentum;
} dd_running_stats_item;

typedef struct {              /* DD_ITEM_FOLD_BN: an evaluation batch norm folded into its convolution */
    int32_t weight, bias;                              /* the convolution's (plain; bias may be absent) */
    int32_t gamma, beta, running_mean, running_var;    /* the batch norm's (gamma, beta may be absent) */
    int32_t weight_out, bias_out;                      /* the folded weights and bias */
    int64_t channels, per_channel;                     /* output channels; weights per output channel */
    float eps;
} dd_fold_bn_item;

typedef struct {              /* DD_ITEM_L2NORM_FORWARD: rows of x divided by their norm */
    int32_t x, y;                                      /* plain [rows, cols] */
    int64_t rows, cols;
    float eps;
} dd_l2norm_forward_item;

typedef struct {              /* DD_ITEM_L2NORM_BACKWARD */
    int32_t x, dy, dx;                                 /* plain [rows, cols] */
    int64_t rows, cols;
    float eps;
} dd_l2norm_backward_item;

typedef struct {              /* DD_ITEM_BN_FORWARD: training batch norm (+ ReLU) on the kernels of bn_kernels.h */
    int32_t x, y, mean, var;                           /* mean, var: the batch's, kept for backward */
    int32_t gamma, beta;                               /* may be absent */
    int32_t running_mean, running_var, num_batches;    /* updated when present */
    bn_shape s;                                        /* layout, type, sizes; threads, work and sync set at run */
    bool relu;
    bool sync;                                         /* the statistics of the global batch (the graph's bn_sync) */
} dd_bn_forward_item;

typedef struct {              /* DD_ITEM_BN_BACKWARD */
    int32_t x, y;                                      /* y: the fused ReLU's output (its mask), or absent */
    int32_t dy, dx;                                    /* dx may be dy */
    int32_t mean, var, gamma, dgamma, dbeta;           /* gamma, dgamma, dbeta may be absent */
    bn_shape s;
    bool sync;
} dd_bn_backward_item;

#define DD_MAX_ARGS 16

typedef struct {              /* DD_ITEM_PRIMITIVE */
    dnnl_primitive_t prim;
    int nargs;
    int32_t arg_mem[DD_MAX_ARGS]; /* the memory of each argument */
    dnnl_exec_arg_t args[DD_MAX_ARGS]; /* DNNL_ARG_* when built; the memory objects once the arena is placed */
} dd_primitive_item;

typedef enum {
    DD_ITEM_PRIMITIVE, DD_ITEM_RUNNING_STATS, DD_ITEM_FOLD_BN, DD_ITEM_L2NORM_FORWARD, DD_ITEM_L2NORM_BACKWARD,
    DD_ITEM_BN_FORWARD, DD_ITEM_BN_BACKWARD
} dd_item_kind;

typedef struct {
    dd_item_kind kind;
    int32_t node;                /* the graph node the item belongs to */
    bool dinput_only;            /* only needed for the input gradient: skipped when dinput is NULL */
    unsigned needs;              /* bit per dd_where of the caller buffers the item touches (resolved late) */
    union {
        dd_primitive_item prim;
        dd_running_stats_item stats;
        dd_fold_bn_item fold;
        dd_l2norm_forward_item l2norm_forward;
        dd_l2norm_backward_item l2norm_backward;
        dd_bn_forward_item bn_forward;
        dd_bn_backward_item bn_backward;
    };
} dd_item;

typedef struct {
    dd_item *items;
    int32_t n, cap;
} dd_program;

/* The executor. */
typedef struct {
    dy_exec base;
    dd_mem **mems;             /* each memory allocated on its own: builders hold pointers to descriptors */
    int32_t n_mems, cap_mems;
    dy_plan_block *tensors;    /* the arena's tensors: lifetimes in items (forward, then backward) and offsets */
    int32_t n_tensors, cap_tensors;
    dd_program fwd, bwd;
    unsigned char *arena;
    size_t arena_bytes;
    unsigned char *scratch;
    size_t scratch_bytes;
    int32_t output_mem;          /* the memory the output is copied to (its dims give the output's size) */
    /* caller buffers of the current call, by dd_where */
    void *user[DD_N_WHERE];
    int32_t *grads_last;         /* per memory in the gradient buffer: the last backward item touching it (else -1);
                                    made on the first backward with a gradient hook (graph.h's dy_grad_hook) */
} dd_exec;

/* State while the programs are built. */
typedef struct {
    dd_exec *e;
    dy_ctx *ctx;
    const dy_graph *g;
    dnnl_engine_t engine;
    dy_value_shape *shapes;   /* n_nodes + 1 */
    int32_t *value_mem;       /* forward memory of each value */
    int32_t *value_diff;      /* backward: memory holding d(loss)/d(value), -1 while none */
    int32_t *last_use;        /* last node that reads each value in forward */
    bool *needed_backward;    /* the value is read by the backward program */
    int32_t (*aux)[3];        /* per node: memories saved for backward (bn: mean, variance, workspace) */
    int32_t *readers;         /* per arena tensor: gradients of values that still point at it */
    bool train;
    dnnl_data_type_t act;     /* activations and their gradients in the encoder: f32, or bf16 (the head stays f32) */
    dd_program *prog;         /* the program items are appended to */
    bool dinput_only;         /* mark the items appended now as input-gradient only */
    int32_t node;             /* node being built (messages) */
    dnnl_primitive_attr_t attr_plain; /* user scratchpad, nothing else */
} dd_builder;

/* The groups: one node or a few fused (dnnl_groups.c cuts the graph). */
typedef enum {
    DD_G_CONV, DD_G_BN, DD_G_RELU, DD_G_ADD, DD_G_MAXPOOL, DD_G_AVGPOOL, DD_G_LINEAR, DD_G_L2NORM
} dd_group_kind;

typedef struct {
    dd_group_kind kind;
    int32_t main;         /* the node the group starts with (conv, bn, add, ...) */
    int32_t bn, add, relu;/* nodes folded or fused in, -1 when absent */
    int32_t last;         /* the last node of the group: its output value is last + 1 */
    int32_t add_other;    /* eval conv+bn+add: the value added (the shortcut) */
} dd_group;

/* ---- dnnl_builder.c: memories, values, items and gradients while the programs are built ---- */
dy_status dd_check(dd_builder *b, dnnl_status_t s, const char *what);
/* A oneDNN call: its dnnl_status_t turned into a dy_status (with the message) and returned on failure. */
#define DD_TRY(b, call, what) DY_TRY(dd_check((b), (call), (what)))
/* The failure every allocation while building reports. */
dy_status dd_nomem(dd_builder *b);

/* A memory in a caller's buffer at a float offset. */
int32_t dd_user_mem(dd_builder *b, const dnnl_memory_desc_t *md, dd_where where, int64_t offset);
/* A memory on a new arena tensor (-1 on allocation failure). */
int32_t dd_arena_mem(dd_builder *b, const dnnl_memory_desc_t *md);
const dnnl_memory_desc_t *dd_md(dd_builder *b, int32_t mem);
bool dd_md_equal(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b);
/* A descriptor of dims in the same layout and data type as like (nChw16c, nChw8c, nhwc, nchw), or format any. */
dnnl_memory_desc_t dd_like_md(const dnnl_memory_desc_t *like, int ndims, const int64_t *dims);
/* Plain (row-major) f32 descriptor of the given dims. */
dnnl_memory_desc_t dd_plain_md(int ndims, const int64_t *dims);
/* md with data type f32 (a copy when it already is). */
dnnl_memory_desc_t dd_f32_md(const dnnl_memory_desc_t *md);
/* Whether md is tag in data type dt (dims taken from md). */
bool dd_md_is(const dnnl_memory_desc_t *md, dnnl_format_tag_t tag, dnnl_data_type_t dt);

/* The descriptor of a value's forward memory, and its number of elements. */
const dnnl_memory_desc_t *dd_value_md(dd_builder *b, int32_t value);
int64_t dd_value_elems(dd_builder *b, int32_t value);
/* Whether the forward value is read for the last time by group gr and not kept for backward, so that the
 * group may write its output over it. */
bool dd_value_dies(dd_builder *b, int32_t value, const dd_group *gr);

/* Appends a primitive item made from pd (which it destroys); args as (DNNL_ARG_*, memory) pairs, -1 ends.
 * The scratchpad argument is added here. */
dy_status dd_add_primitive(dd_builder *b, dnnl_primitive_desc_t pd, const int *arg_pairs);
/* Appends a plain-C item of kind (its operands filled by the caller); NULL when out of memory. */
dd_item *dd_add_item(dd_builder *b, dd_item_kind kind);
/* A reorder from memory src to memory dst. */
dy_status dd_add_reorder(dd_builder *b, int32_t src, int32_t dst);
/* Creates a primitive descriptor with the user scratchpad (attr may be NULL for plain). */
dy_status dd_pd_create(dd_builder *b, dnnl_primitive_desc_t *pd, const void *op_desc, dnnl_primitive_attr_t attr,
                       const_dnnl_primitive_desc_t hint, const char *what);
/* Attributes with the user scratchpad and, when relu, a ReLU post-op (after a sum post-op when sum). */
dy_status dd_attr_create(dd_builder *b, dnnl_primitive_attr_t *attr, bool sum, bool relu);

/* Backward gradient bookkeeping. Gradients are assigned the first time and summed afterwards. */
int32_t dd_diff_target(dd_builder *b, int32_t value, int32_t inplace_mem);
dy_status dd_diff_commit(dd_builder *b, int32_t value, int32_t mem);
/* The memory holding d(value); the caller is its last reader once dd_diff_release is called. */
int32_t dd_diff_get(dd_builder *b, int32_t value);
void dd_diff_release(dd_builder *b, int32_t value);
/* Whether mem's tensor may be overwritten now (no pending gradient refers to it). */
bool dd_mem_free_now(dd_builder *b, int32_t mem);

/* Weights: reorder plain parameters (PyTorch layout) into the descriptor a primitive wants; returns the memory
 * the primitive should read (the parameters themselves when the layouts already agree). */
dy_status dd_weights_in(dd_builder *b, const dnnl_memory_desc_t *want, const dnnl_memory_desc_t *plain,
                        dd_where where, int64_t offset, int32_t *mem);
/* Gradient out: a memory in the descriptor the primitive wants, reordered into grads at offset afterwards
 * (call dd_weights_out_finish after the primitive's item). */
dy_status dd_weights_out(dd_builder *b, const dnnl_memory_desc_t *have, const dnnl_memory_desc_t *plain,
                         int64_t offset, int32_t *mem, int32_t *user_mem);
dy_status dd_weights_out_finish(dd_builder *b, int32_t mem, int32_t user_mem);
/* The backward of a layer with weights (convolution, linear) from its two primitive descriptors, both consumed:
 * d(weights) and d(bias) (when nd has one, in descriptor bias) from src and dy, into the gradient buffer from the
 * layout pd_weights gives them in; then d(input value in) in layout dx from pd_data, summed into the value's
 * gradient (for the network input only when the caller asks for it). */
dy_status dd_weighted_backward(dd_builder *b, const dy_node *nd, int32_t in, dnnl_primitive_desc_t pd_weights,
                               dnnl_primitive_desc_t pd_data, int32_t m_src, int32_t m_dy,
                               const dnnl_memory_desc_t *weights_plain, const dnnl_memory_desc_t *bias,
                               const dnnl_memory_desc_t *dx);

/* ---- dnnl_groups.c: the graph cut into groups, each group's items ---- */
/* groups [n_nodes] in the order they run; *n_groups of them. */
dy_status dd_make_groups(dy_ctx *ctx, const dy_graph *g, bool train, dd_group *groups, int32_t *n_groups);
/* Marks the values the backward program reads (b->needed_backward). */
void dd_mark_backward_reads(dd_builder *b, const dd_group *groups, int32_t n_groups);
dy_status dd_group_forward(dd_builder *b, const dd_group *gr);
dy_status dd_group_backward(dd_builder *b, const dd_group *gr);

/* One file per family. */
dy_status dd_conv_forward(dd_builder *b, const dd_group *gr);
dy_status dd_conv_backward(dd_builder *b, const dd_group *gr);
dy_status dd_bn_forward(dd_builder *b, const dd_group *gr);
dy_status dd_bn_backward(dd_builder *b, const dd_group *gr);
dy_status dd_relu_forward(dd_builder *b, const dd_group *gr);
dy_status dd_relu_backward(dd_builder *b, const dd_group *gr);
dy_status dd_add_forward(dd_builder *b, const dd_group *gr);
dy_status dd_add_backward(dd_builder *b, const dd_group *gr);
dy_status dd_pool_forward(dd_builder *b, const dd_group *gr);
dy_status dd_pool_backward(dd_builder *b, const dd_group *gr);
dy_status dd_linear_forward(dd_builder *b, const dd_group *gr);
dy_status dd_linear_backward(dd_builder *b, const dd_group *gr);
dy_status dd_l2norm_forward(dd_builder *b, const dd_group *gr);
dy_status dd_l2norm_backward(dd_builder *b, const dd_group *gr);

/* ---- the plain-C kernels of the items, on plain pointers (run by dnnl_exec.c) ---- */
/* dnnl_batchnorm.c: PyTorch's running-statistics update (num_batches may be NULL), and the evaluation batch norm
 * folded into a convolution's w_out [channels, per_channel] and b_out [channels] (bias, gamma, beta may be NULL). */
void dd_running_stats(float *running_mean, float *running_var, float *num_batches, const float *mean,
                      const float *var, int64_t channels, int64_t count, float momentum);
void dd_fold_bn(float *w_out, float *b_out, const float *w, const float *bias, const float *gamma, const float *beta,
                const float *running_mean, const float *running_var, int64_t channels, int64_t per_channel, float eps,
                int threads);
/* dnnl_batchnorm.c: the shared training kernels (src/engine/ref/bn_kernels.h) by layout with positional arguments:
 * nChw16c and nhwc [n, hw, c], float or bf16 activations; work: the _work_floats of scratch, 8-byte aligned. */
int64_t dd_bn_blocked_work_floats(int64_t n, int64_t c);
int64_t dd_bn_nhwc_work_floats(int64_t n, int64_t c, int64_t hw);
#define DD_BN_KERNELS(NAME, SUFFIX, T)                                                                             \
    void NAME##_forward##SUFFIX(T *y, float *mean, float *var, float *running_mean, float *running_var,           \
                                float *num_batches, const T *x, const float *gamma, const float *beta, int64_t n,  \
                                int64_t c, int64_t hw, float eps, float momentum, bool relu, float *work,          \
                                int threads);                                                                      \
    void NAME##_backward##SUFFIX(T *dx, float *dgamma, float *dbeta, const T *dy, const T *x, const T *y,         \
                                 const float *mean, const float *var, const float *gamma, int64_t n, int64_t c,    \
                                 int64_t hw, float eps, float *work, int threads);
DD_BN_KERNELS(dd_bn_blocked, , float)
DD_BN_KERNELS(dd_bn_blocked, _bf16, uint16_t)
DD_BN_KERNELS(dd_bn_nhwc, , float)
DD_BN_KERNELS(dd_bn_nhwc, _bf16, uint16_t)
#undef DD_BN_KERNELS

#endif
