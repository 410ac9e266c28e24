/* Stand-ins for the oneDNN hooks in a build without oneDNN (DNNL=0). */
#include "core/context.h"

#include <stdio.h>

#ifndef DY_HAVE_DNNL
bool dy_have_dnnl(void) { return false; }
dy_status dy_dnnl_context_init(dy_ctx *ctx) {
    return dy_fail(ctx, DY_ERR_UNSUPPORTED, "this build of dystress has no oneDNN (built with DNNL=0)");
}
void dy_dnnl_context_fini(dy_ctx *ctx) { (void)ctx; }
dy_status dy_dnnl_bf16_check(dy_ctx *ctx) {
    return dy_fail(ctx, DY_ERR_UNSUPPORTED, "precision bf16 needs oneDNN, and this build has none (DNNL=0)");
}
void dy_dnnl_describe(char *buf, size_t size) { snprintf(buf, size, "no oneDNN"); }
#else
typedef int dy_no_dnnl_unused; /* keeps the translation unit non-empty */
#endif
