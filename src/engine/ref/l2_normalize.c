/* dy_l2_normalize: the reference L2-norm op behind the public API, for features and keys outside a network. */
#include "core/context.h"
#include "engine/ref/ops.h"

dy_status dy_l2_normalize(dy_ctx *ctx, float *y, const float *x, int64_t n, int64_t d) {
    if (n < 0 || d < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "L2 normalisation of %lld rows of %lld values: sizes out of range",
                       (long long)n, (long long)d);
    if (n > 0 && (!x || !y)) return dy_fail(ctx, DY_ERR_INVALID, "L2 normalisation: a buffer is NULL");
    l2norm_forward(y, x, n, d, 1e-12f, ctx ? ctx->threads : 1);
    return DY_OK;
}
