/* Executors: a graph planned for one batch size and input size on one backend. This is the single interface
 * behind which every backend (src/engine/ref, src/engine/dnnl) runs a network; the model code sees only this.
 *
 * Buffers passed in are plain and contiguous: the input batch NCHW, parameters/grads/state in the layouts of
 * graph.h. A backend may keep activations in its own (blocked) layouts between nodes.
 */
#ifndef DY_ENGINE_EXEC_H
#define DY_ENGINE_EXEC_H

#include "engine/graph.h"

typedef enum {
    DY_EXEC_TRAIN, /* batch statistics, running statistics updated, activations kept for backward */
    DY_EXEC_EVAL   /* running statistics, forward only: nothing kept, activation memory reused at once */
} dy_exec_mode;

typedef struct dy_exec dy_exec;

/* Plans g for batches of n images of size h x w on ctx's backend. The graph must outlive the executor. */
dy_status dy_exec_create(dy_ctx *ctx, const dy_graph *g, int64_t n, int64_t h, int64_t w, dy_exec_mode mode,
                         dy_exec **out);
void dy_exec_destroy(dy_exec *e);

/* Runs the network on input [n, c, h, w]. Writes the features h [n, dim(features)] when features is not NULL and
 * the output [n, dim(output)] when output is not NULL. Training mode updates the running statistics in state. */
dy_status dy_exec_forward(dy_exec *e, const float *params, float *state, const float *input, float *features,
                          float *output);

/* Training mode only, after dy_exec_forward: from d(loss)/d(output) [n, dim(output)], ASSIGNS every parameter
 * gradient into grads (same layout as params). dinput [n, c, h, w] may be NULL. */
dy_status dy_exec_backward(dy_exec *e, const float *params, float *grads, const float *doutput, float *dinput);

/* Bytes of activation and scratch memory this executor holds (for benchmarks and the memory plan). */
int64_t dy_exec_memory(const dy_exec *e);

#endif
