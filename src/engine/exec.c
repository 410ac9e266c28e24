/* The executor interface: checks arguments once, then dispatches to the backend chosen by the context. */
#include "engine/exec.h"

#include "core/context.h"
#include "engine/exec_backend.h"

static const dy_exec_backend *backend_for(const dy_ctx *ctx) {
#ifdef DY_HAVE_DNNL
    if (dy_ctx_backend(ctx) == DY_BACKEND_DNNL) return &dy_dnnl_exec_backend;
#else
    (void)ctx;
#endif
    return &dy_ref_exec_backend;
}

dy_status dy_exec_create(dy_ctx *ctx, const dy_graph *g, int64_t n, int64_t h, int64_t w, dy_exec_mode mode,
                         dy_exec **out) {
    if (!out) return dy_fail(ctx, DY_ERR_INVALID, "dy_exec_create: no place for the executor");
    *out = NULL;
    if (!g || g->n_nodes <= 0) return dy_fail(ctx, DY_ERR_INVALID, "dy_exec_create: empty graph");
    if (n <= 0 || h <= 0 || w <= 0)
        return dy_fail(ctx, DY_ERR_INVALID, "batch %lld of %lldx%lld images: sizes must be positive", (long long)n,
                       (long long)h, (long long)w);
    if (mode != DY_EXEC_TRAIN && mode != DY_EXEC_EVAL)
        return dy_fail(ctx, DY_ERR_INVALID, "unknown executor mode %d", (int)mode);
    /* Threads: each call below runs with the context's OpenMP setting on this thread, and gives the caller's back
     * (dy_threads_enter in core/context.h says why oneDNN needs it). */
    const int previous = dy_threads_enter(ctx->threads);
    dy_status st = backend_for(ctx)->create(ctx, g, n, h, w, mode, out);
    dy_threads_leave(previous);
    return st;
}

void dy_exec_destroy(dy_exec *e) {
    if (e) e->backend->destroy(e);
}

dy_status dy_exec_forward(dy_exec *e, const float *params, float *state, const float *input, float *features,
                          float *output) {
    if (!params || !state || !input) return dy_fail(e->ctx, DY_ERR_INVALID, "dy_exec_forward: a buffer is NULL");
    const int previous = dy_threads_enter(e->ctx->threads);
    dy_status st = e->backend->forward(e, params, state, input, features, output);
    dy_threads_leave(previous);
    return st;
}

dy_status dy_exec_backward(dy_exec *e, const float *params, float *grads, const float *doutput, float *dinput) {
    if (e->mode != DY_EXEC_TRAIN)
        return dy_fail(e->ctx, DY_ERR_INVALID, "backward on an executor planned for evaluation (forward only)");
    if (!e->forward_done) return dy_fail(e->ctx, DY_ERR_INVALID, "backward without a training forward before it");
    if (!params || !grads || !doutput) return dy_fail(e->ctx, DY_ERR_INVALID, "dy_exec_backward: a buffer is NULL");
    const int previous = dy_threads_enter(e->ctx->threads);
    dy_status st = e->backend->backward(e, params, grads, doutput, dinput);
    dy_threads_leave(previous);
    return st;
}

int64_t dy_exec_memory(const dy_exec *e) { return e ? e->backend->memory(e) : 0; }
