/* The activation plan of an executor: a liveness analysis over the node list that decides which values backward
 * needs and places every value, gradient and scratch buffer in one arena, reusing memory whose lifetimes do not
 * overlap. Backend-independent: the caller gives each value's size in bytes (a blocked layout may be larger).
 *
 * Time runs over the forward pass (node i at step i) and then the backward pass (node j at step 2N-1-j). A value
 * lives from its producer to its last reader; in training mode "readers" include the backward of a node that
 * needs it: conv, batch norm, max pool, linear and L2 norm need their input, ReLU its output. In evaluation mode
 * nothing is needed after the forward, and there are no gradients.
 *
 * Gradients are summed over fan-out (a block input read by conv1 and the shortcut): the consumer with the highest
 * index writes d(value) first (backward runs in reverse); later consumers write into a scratch buffer that the
 * executor adds in, except add nodes, which accumulate d(output) directly.
 */
#ifndef DY_ENGINE_PLAN_H
#define DY_ENGINE_PLAN_H

#include "engine/exec.h"

typedef struct {
    int32_t n_values;        /* n_nodes + 1 */
    int64_t *value_off;      /* [n_values] byte offset of each value in the arena; -1: the caller's input (eval) */
    int64_t *grad_off;       /* [n_values] byte offset of d(value); -1: none, or the caller's buffer (input, output) */
    int64_t *scratch_off;    /* [2 * n_nodes] scratch for node j's gradient to input k, -1 when not needed */
    bool *first;             /* [2 * n_nodes] node j is the first (in backward order) to write d(in[k]) */
    bool *kept;              /* [n_values] value still alive after the forward pass (backward needs it) */
    int32_t *consumers;      /* [n_values] number of (node, input) pairs reading each value */
    int64_t arena_bytes;     /* the arena's size */
    int64_t kept_bytes;      /* sum of the sizes of the kept values (before sharing) */
    int64_t all_bytes;       /* sum of the sizes of every value (what keeping everything would cost) */
} dy_plan;

/* Static memory placement, shared by every executor: a block of bytes alive from step first to step last (both
 * included) gets a byte offset such that two blocks alive at the same step never overlap. Greedy by size: the
 * largest block first (ties: the earlier first step, then the lower index), each at the lowest offset (a multiple
 * of 64) where it fits between the placed blocks whose lifetimes overlap its own. This is the usual heuristic for
 * static memory planning; on ResNet training it comes within a few percent of the peak of live bytes. */
typedef struct {
    int64_t bytes;        /* rounded up to 64 when placed */
    int64_t first, last;  /* lifetime in steps; first < 0: never used (offset 0, takes no space) */
    int64_t offset;       /* set by dy_plan_place */
} dy_plan_block;

/* Places blocks[0 .. count); returns the arena size in bytes, or -1 when out of memory. */
int64_t dy_plan_place(dy_plan_block *blocks, int64_t count);

/* Which values a node's backward reads. */
bool dy_plan_backward_needs_input(dy_op op);
bool dy_plan_backward_needs_output(dy_op op);

/* Plans g in mode; value_bytes[v] for v in 0 .. n_nodes. In place where the reference ops allow it: ReLU and
 * add forward into a dying input, ReLU backward into d(output). Value 0 lives in the arena in training mode
 * (backward needs a copy of the input); in evaluation it is the caller's buffer and is never written. Refuses
 * (DY_ERR_INVALID) a value other than the output that no node reads, and an output that a node reads. */
dy_status dy_plan_create(dy_ctx *ctx, const dy_graph *g, dy_exec_mode mode, const int64_t *value_bytes,
                         dy_plan *plan);
void dy_plan_free(dy_plan *plan);

#endif
