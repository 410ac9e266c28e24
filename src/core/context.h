/* The context: what every library call may need (threads, backend, oneDNN handles, the last error). */
#ifndef DY_CORE_CONTEXT_H
#define DY_CORE_CONTEXT_H

#include "dystress.h"

struct dy_ctx {
    int threads;          /* threads used inside ops (OpenMP num_threads) */
    dy_backend backend;   /* resolved: DY_BACKEND_REF or DY_BACKEND_DNNL */
    void *dnnl_engine;    /* dnnl_engine_t when backend == DY_BACKEND_DNNL */
    void *dnnl_stream;    /* dnnl_stream_t */
    char error[1024];     /* message of the last failure */
};

/* Records a formatted message in ctx (when ctx is not NULL) and returns status, so that failures read
 *     return dy_fail(ctx, DY_ERR_INVALID, "batch size %lld is below 2", (long long)n);            */
dy_status dy_fail(dy_ctx *ctx, dy_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Allocation helpers: 64-byte aligned, zeroed; NULL on failure (callers turn that into DY_ERR_NOMEM). */
void *dy_alloc(size_t bytes);
void dy_free(void *p);

/* oneDNN handles in the context (src/engine/dnnl/dnnl_context.c); no-ops without oneDNN. */
dy_status dy_dnnl_context_init(dy_ctx *ctx);
void dy_dnnl_context_fini(dy_ctx *ctx);

#endif
