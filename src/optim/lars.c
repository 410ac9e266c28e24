/* LARS over flat buffers, segment by segment (one segment = one tensor): the trust ratio eta * ||w|| / ||g|| scales
 * the learning rate of each tensor, except for the excluded ones (BatchNorm parameters and biases), which also get
 * no weight decay. The formula is SimCLR's LARS with classic momentum (the learning rate inside the momentum). */
#include <math.h>

#include "core/context.h"
#include "dystress/optim.h"

dy_lars_options dy_lars_defaults(void) {
    return (dy_lars_options){.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-6, .trust_coefficient = 0.001,
                             .nesterov = false};
}

/* One tensor's update. Runs on one thread, so the norms (double sums in element order) do not depend on how many
 * threads there are. */
static void lars_segment(const dy_lars_options *o, float *w, const float *grad, float *v, int64_t count, bool exclude) {
    const float wd_f = (float)o->weight_decay, mom_f = (float)o->momentum;
    const bool decay = !exclude && o->weight_decay != 0;
    double trust = 1.0;
    if (!exclude) {
        double w2 = 0, g2 = 0;
        for (int64_t i = 0; i < count; i++) {
            const float g = decay ? grad[i] + wd_f * w[i] : grad[i];
            w2 += (double)w[i] * w[i];
            g2 += (double)g * g;
        }
        if (w2 > 0 && g2 > 0) trust = o->trust_coefficient * sqrt(w2) / sqrt(g2);
    }
    const float scaled_lr = (float)(o->lr * trust);
    for (int64_t i = 0; i < count; i++) {
        const float g = decay ? grad[i] + wd_f * w[i] : grad[i];
        const float next_v = mom_f * v[i] + scaled_lr * g;
        v[i] = next_v;
        w[i] -= o->nesterov ? mom_f * next_v + scaled_lr * g : next_v;
    }
}

dy_status dy_lars_step(dy_ctx *ctx, const dy_lars_options *opts, float *params, const float *grads,
                       float *momentum_buf, int64_t n, const dy_param_segment *segments, int64_t n_segments) {
    if (!opts) return dy_fail(ctx, DY_ERR_INVALID, "lars: no options");
    const dy_lars_options o = *opts;
    if (!(o.lr >= 0) || !isfinite(o.lr)) return dy_fail(ctx, DY_ERR_INVALID, "lars: learning rate %g, expected >= 0", o.lr);
    if (!(o.momentum >= 0) || !isfinite(o.momentum))
        return dy_fail(ctx, DY_ERR_INVALID, "lars: momentum %g, expected >= 0", o.momentum);
    if (!(o.weight_decay >= 0) || !isfinite(o.weight_decay))
        return dy_fail(ctx, DY_ERR_INVALID, "lars: weight decay %g, expected >= 0", o.weight_decay);
    if (!(o.trust_coefficient > 0) || !isfinite(o.trust_coefficient))
        return dy_fail(ctx, DY_ERR_INVALID, "lars: trust coefficient %g, expected > 0", o.trust_coefficient);
    if (o.nesterov && o.momentum <= 0)
        return dy_fail(ctx, DY_ERR_INVALID, "lars: Nesterov momentum needs momentum > 0 (got %g)", o.momentum);
    if (n < 0) return dy_fail(ctx, DY_ERR_INVALID, "lars: %lld parameters, expected >= 0", (long long)n);
    if (n > 0 && (!params || !grads || !momentum_buf || !segments))
        return dy_fail(ctx, DY_ERR_INVALID, "lars: parameter, gradient, momentum or segment list missing");
    if (n_segments < 0 || (n > 0 && n_segments < 1))
        return dy_fail(ctx, DY_ERR_INVALID, "lars: %lld segments for %lld parameters", (long long)n_segments,
                       (long long)n);
    int64_t end = 0;
    for (int64_t s = 0; s < n_segments; s++) {
        if (segments[s].offset != end || segments[s].count < 1)
            return dy_fail(ctx, DY_ERR_INVALID,
                           "lars: segment %lld covers [%lld, %lld), expected to start at %lld with at least 1 "
                           "element (segments must tile the buffer in order)",
                           (long long)s, (long long)segments[s].offset,
                           (long long)(segments[s].offset + segments[s].count), (long long)end);
        end += segments[s].count;
    }
    if (end != n)
        return dy_fail(ctx, DY_ERR_INVALID, "lars: segments end at %lld, the buffer has %lld parameters",
                       (long long)end, (long long)n);
    int threads = ctx ? dy_ctx_threads(ctx) : 1;
    int64_t first = n;
#pragma omp parallel for num_threads(threads) reduction(min : first) schedule(static)
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(grads[i]) && i < first) first = i;
    if (first < n)
        return dy_fail(ctx, DY_ERR_NUMERIC, "lars: gradient %lld of %lld is %g", (long long)first, (long long)n,
                       (double)grads[first]);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t s = 0; s < n_segments; s++) {
        const int64_t off = segments[s].offset;
        lars_segment(&o, params + off, grads + off, momentum_buf + off, segments[s].count, segments[s].exclude);
    }
    return DY_OK;
}
