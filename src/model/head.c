/* The SimCLR projection head of the paper: Linear(d, hidden, no bias) - BN1d - ReLU - Linear(hidden, out, no bias)
 * - BN1d, with the module names of an nn.Sequential called "head" (index 2 is the ReLU, which has no weights). */
#include "model/resnet.h"

#include "core/context.h"

dy_status dy_head_build(dy_ctx *ctx, dy_graph *g, int32_t in, int64_t hidden, int64_t out) {
    if (hidden <= 0 || out <= 0)
        return dy_fail(ctx, DY_ERR_INVALID, "projection head sizes %lld/%lld: expected positive", (long long)hidden,
                       (long long)out);
    int32_t v;
    dy_status st = dy_graph_linear(ctx, g, in, hidden, false, "head.0", &v);
    if (st == DY_OK) st = dy_graph_batchnorm(ctx, g, v, "head.1", &v);
    if (st == DY_OK) st = dy_graph_relu(ctx, g, v, "head.2", &v);
    if (st == DY_OK) st = dy_graph_linear(ctx, g, v, out, false, "head.3", &v);
    if (st == DY_OK) st = dy_graph_batchnorm(ctx, g, v, "head.4", &v);
    if (st == DY_OK) g->output = v;
    return st;
}
