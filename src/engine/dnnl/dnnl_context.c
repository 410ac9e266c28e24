/* The oneDNN CPU engine and stream held by a context. */
#include "core/context.h"

#include <dnnl.h>

bool dy_have_dnnl(void) { return true; }

dy_status dy_dnnl_context_init(dy_ctx *ctx) {
    dnnl_engine_t engine = NULL;
    dnnl_stream_t stream = NULL;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success)
        return dy_fail(ctx, DY_ERR_INTERNAL, "oneDNN: cannot create the CPU engine");
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(engine);
        return dy_fail(ctx, DY_ERR_INTERNAL, "oneDNN: cannot create a stream");
    }
    ctx->dnnl_engine = engine;
    ctx->dnnl_stream = stream;
    return DY_OK;
}

void dy_dnnl_context_fini(dy_ctx *ctx) {
    if (ctx->dnnl_stream) dnnl_stream_destroy((dnnl_stream_t)ctx->dnnl_stream);
    if (ctx->dnnl_engine) dnnl_engine_destroy((dnnl_engine_t)ctx->dnnl_engine);
    ctx->dnnl_stream = ctx->dnnl_engine = NULL;
}
