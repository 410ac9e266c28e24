/* The oneDNN executor's inner parts, shared by the files of src/engine/dnnl.
 *
 * How it works. At creation the graph is cut into fused groups (dnnl_groups.c): conv, bn+relu, add+relu, ... in
 * training; conv+bn(+add)(+relu) folded into one convolution in evaluation. Each group appends oneDNN primitives and
 * a few plain-C steps ("items") to a forward program and, in training, to a backward program. Items name their
 * operands by memory index; a memory lives either in one of the caller's buffers (parameters, gradients, state,
 * input, ...) at a fixed float offset, or in a tensor of the executor's own arena. After all items are known, each
 * arena tensor's lifetime (first and last item that touches it) decides where it goes in one arena
 * (dnnl_memory_plan.c), so tensors that are never alive together share bytes. A step then only sets the handles
 * of the caller's buffers and runs the items: it allocates nothing.
 *
 * Activations stay in the layouts oneDNN picks for the convolutions (nChw16c here): every other primitive is
 * created on the layout of its input, so nothing is reordered between layers. Only weights are reordered (from
 * the PyTorch layouts in the parameter buffer, once per pass) and weight gradients back.
 */
#ifndef DY_ENGINE_DNNL_EXEC_INTERNAL_H
#define DY_ENGINE_DNNL_EXEC_INTERNAL_H

#include <dnnl.h>

#include "core/context.h"
#include "engine/exec_backend.h"

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

typedef struct {
    size_t bytes;
    int32_t first, last; /* first and last item (forward and backward numbered on) that uses the tensor */
    size_t offset;       /* bytes into the arena, from the plan */
    int32_t readers;     /* while building backward: gradients of values that still point at this tensor */
} dd_tensor;

typedef enum {
    DD_ITEM_PRIMITIVE,     /* a oneDNN primitive with its arguments */
    DD_ITEM_RUNNING_STATS, /* running mean/var update from the batch statistics (training) */
    DD_ITEM_FOLD_BN,       /* conv weights and bias with an evaluation-mode batch norm folded in */
    DD_ITEM_L2NORM_FORWARD,
    DD_ITEM_L2NORM_BACKWARD,
    DD_ITEM_BN_FORWARD,    /* training batch norm (+ ReLU) on nChw16c (dnnl_bn_blocked.c) */
    DD_ITEM_BN_BACKWARD,
    DD_ITEM_BN_SYNC_FORWARD, /* training batch norm (+ ReLU) over the processes, any layout (dnnl_bn_sync.c) */
    DD_ITEM_BN_SYNC_BACKWARD
} dd_item_kind;

#define DD_MAX_ARGS 16

typedef struct {
    dd_item_kind kind;
    dnnl_primitive_t prim;
    int nargs;
    int arg_kind[DD_MAX_ARGS];   /* DNNL_ARG_* */
    int32_t arg_mem[DD_MAX_ARGS];/* memory indices; for plain-C items the operands in an item-specific order */
    dnnl_exec_arg_t *args;       /* resolved at the end of creation */
    bool dinput_only;            /* only needed for the input gradient: skipped when dinput is NULL */
    int32_t node;                /* the graph node the item belongs to */
    int64_t count;               /* plain-C items: rows / elements as the item needs */
    int64_t extra;
    float eps, momentum;         /* plain-C items of batch norm and l2norm */
    int64_t dims[3];             /* plain-C batch norm: N, C, HW */
    unsigned needs;              /* bit per dd_where of the caller buffers the item touches (resolved late) */
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
    dd_tensor *tensors;
    int32_t n_tensors, cap_tensors;
    dd_program fwd, bwd;
    unsigned char *arena;
    size_t arena_bytes;
    unsigned char *scratch;
    size_t scratch_bytes;
    int32_t scratch_mem;
    int32_t output_mem;          /* the memory the output is copied to (its dims give the output's size) */
    dnnl_exec_arg_t *arg_pool;   /* every item's resolved argument list, one allocation */
    /* caller buffers of the current call, by dd_where */
    void *user[DD_N_WHERE];
    bool user_bound[DD_N_WHERE];
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
    int32_t *n_consumers;
    bool *needed_backward;    /* the value is read by the backward program */
    int32_t (*aux)[3];        /* per node: memories saved for backward (bn: mean, variance, workspace) */
    bool train;
    dd_program *prog;         /* the program items are appended to */
    bool dinput_only;         /* mark the items appended now as input-gradient only */
    int32_t node;             /* node being built (messages) */
    dnnl_primitive_attr_t attr_plain; /* user scratchpad, nothing else */
} dd_builder;

/* ---- dnnl_exec.c: memories, items and gradients ---- */
dy_status dd_check(dd_builder *b, dnnl_status_t s, const char *what);
#define DD_TRY(b, call, what)                                                                                      \
    do {                                                                                                           \
        dy_status dd_st_ = dd_check((b), (call), (what));                                                          \
        if (dd_st_ != DY_OK) return dd_st_;                                                                        \
    } while (0)
#define DY_TRY(call)                                                                                               \
    do {                                                                                                           \
        dy_status dy_st_ = (call);                                                                                 \
        if (dy_st_ != DY_OK) return dy_st_;                                                                        \
    } while (0)

/* A memory in a caller's buffer at a float offset. */
int32_t dd_user_mem(dd_builder *b, const dnnl_memory_desc_t *md, dd_where where, int64_t offset);
/* A memory on a new arena tensor (-1 on allocation failure). */
int32_t dd_arena_mem(dd_builder *b, const dnnl_memory_desc_t *md);
/* A second view of an existing memory's tensor with another descriptor of at most the same size. */
int32_t dd_alias_mem(dd_builder *b, int32_t of, const dnnl_memory_desc_t *md);
const dnnl_memory_desc_t *dd_md(dd_builder *b, int32_t mem);
bool dd_md_equal(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b);
/* A descriptor of dims in the same layout as like (nChw16c, nChw8c, nhwc, nchw), or format any. */
dnnl_memory_desc_t dd_like_md(const dnnl_memory_desc_t *like, int ndims, const int64_t *dims);
/* Plain (row-major) descriptor of the given dims. */
dnnl_memory_desc_t dd_plain_md(int ndims, const int64_t *dims);

/* Appends a primitive item made from pd (which it destroys); args as (DNNL_ARG_*, memory) pairs, -1 ends.
 * The scratchpad argument is added here. */
dy_status dd_add_primitive(dd_builder *b, dnnl_primitive_desc_t pd, const int *arg_pairs);
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

/* ---- the groups (one file per family) ---- */
typedef enum { DD_G_CONV, DD_G_BN, DD_G_RELU, DD_G_ADD, DD_G_MAXPOOL, DD_G_AVGPOOL, DD_G_LINEAR, DD_G_L2NORM } dd_group_kind;

typedef struct {
    dd_group_kind kind;
    int32_t main;         /* the node the group starts with (conv, bn, add, ...) */
    int32_t bn, add, relu;/* nodes folded or fused in, -1 when absent */
    int32_t last;         /* the last node of the group: its output value is last + 1 */
    int32_t add_other;    /* eval conv+bn+add: the value added (the shortcut) */
} dd_group;

/* Whether the forward value is read for the last time by group gr and not kept for backward, so that the
 * group may write its output over it. */
bool dd_value_dies(dd_builder *b, int32_t value, const dd_group *gr);
/* The descriptor of the value's forward memory. */
const dnnl_memory_desc_t *dd_value_md(dd_builder *b, int32_t value);
int64_t dd_value_elems(dd_builder *b, int32_t value);

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

/* Plain-C items at run time (dnnl_host_items.c). */
void dd_run_running_stats(dd_exec *e, const dd_item *it);
void dd_run_fold_bn(dd_exec *e, const dd_item *it);
void dd_run_l2norm_forward(dd_exec *e, const dd_item *it);
void dd_run_l2norm_backward(dd_exec *e, const dd_item *it);
void dd_run_bn_blocked_forward(dd_exec *e, const dd_item *it);
void dd_run_bn_blocked_backward(dd_exec *e, const dd_item *it);
float *dd_ptr(dd_exec *e, int32_t mem);

/* Sync-bn (dnnl_bn_sync.c): with the graph's bn_sync set, every training batch norm is built and run there. */
dy_status dd_bn_sync_forward(dd_builder *b, const dd_group *gr);
dy_status dd_bn_sync_backward(dd_builder *b, const dd_group *gr);
dy_status dd_run_bn_sync_forward(dd_exec *e, const dd_item *it);
dy_status dd_run_bn_sync_backward(dd_exec *e, const dd_item *it);

/* dnnl_memory_plan.c: offsets for every tensor so that tensors alive at the same time do not overlap; returns
 * the arena size in bytes. */
size_t dd_plan_arena(dd_tensor *tensors, int32_t n);

#endif
