/* Adam and AdamW over flat buffers, with torch.optim.Adam/AdamW's update (PyTorch 1.13, single-tensor path): the
 * hyperparameters are doubles like Python floats, the bias corrections are computed in double, and the per-element
 * arithmetic is float in the same order as PyTorch's tensor ops, so results agree to float rounding. */
#include <math.h>

#include "core/context.h"
#include "dystress/optim.h"

dy_adam_options dy_adam_defaults(void) {
    return (dy_adam_options){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0,
                             .decoupled = false};
}

/* Elements below which a pass runs on one thread (a linear probe's few thousand parameters): thread wake-ups and
 * barriers would cost more than the work. Element-wise, so the result is the same either way. */
#define ADAM_PARALLEL_MIN ((int64_t)1 << 16)

static int64_t first_non_finite(const float *g, int64_t n, int threads) {
    int64_t first = n;
#pragma omp parallel for num_threads(threads) reduction(min : first) schedule(static) if (n >= ADAM_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(g[i]) && i < first) first = i;
    return first;
}

dy_status dy_adam_step(dy_ctx *ctx, const dy_adam_options *opts, float *params, const float *grads, float *exp_avg,
                       float *exp_avg_sq, int64_t n, int64_t step) {
    const char *name = opts && opts->decoupled ? "adamw" : "adam";
    if (!opts) return dy_fail(ctx, DY_ERR_INVALID, "adam: no options");
    const double lr = opts->lr, b1 = opts->beta1, b2 = opts->beta2, eps = opts->eps, wd = opts->weight_decay;
    if (!(lr >= 0) || !isfinite(lr)) return dy_fail(ctx, DY_ERR_INVALID, "%s: learning rate %g, expected >= 0", name, lr);
    if (!(b1 >= 0 && b1 < 1)) return dy_fail(ctx, DY_ERR_INVALID, "%s: beta1 %g, expected in [0, 1)", name, b1);
    if (!(b2 >= 0 && b2 < 1)) return dy_fail(ctx, DY_ERR_INVALID, "%s: beta2 %g, expected in [0, 1)", name, b2);
    if (!(eps >= 0) || !isfinite(eps)) return dy_fail(ctx, DY_ERR_INVALID, "%s: eps %g, expected >= 0", name, eps);
    if (!(wd >= 0) || !isfinite(wd))
        return dy_fail(ctx, DY_ERR_INVALID, "%s: weight decay %g, expected >= 0", name, wd);
    if (n < 0) return dy_fail(ctx, DY_ERR_INVALID, "%s: %lld parameters, expected >= 0", name, (long long)n);
    if (step < 0) return dy_fail(ctx, DY_ERR_INVALID, "%s: step %lld, expected >= 0", name, (long long)step);
    if (n > 0 && (!params || !grads || !exp_avg || !exp_avg_sq))
        return dy_fail(ctx, DY_ERR_INVALID, "%s: parameter, gradient or state buffer missing", name);
    int threads = ctx ? dy_ctx_threads(ctx) : 1;
    /* A read-only scan first, so that a bad gradient leaves parameters and state as they were. */
    const int64_t bad = first_non_finite(grads, n, threads);
    if (bad < n)
        return dy_fail(ctx, DY_ERR_NUMERIC, "%s: gradient %lld of %lld is %g", name, (long long)bad, (long long)n,
                       (double)grads[bad]);

    const double t = (double)(step + 1);
    const double bias_correction1 = 1.0 - pow(b1, t), bias_correction2 = 1.0 - pow(b2, t);
    /* PyTorch passes these Python floats to float tensor ops, which round them to float. */
    const float step_size = (float)(lr / bias_correction1), bc2_sqrt = (float)sqrt(bias_correction2);
    const float b1_f = (float)b1, b2_f = (float)b2, one_minus_b1 = (float)(1.0 - b1), one_minus_b2 = (float)(1.0 - b2);
    const float eps_f = (float)eps, wd_f = (float)wd, decay = (float)(1.0 - lr * wd);
    const bool decoupled = opts->decoupled, l2 = !decoupled && wd != 0, shrink = decoupled && wd != 0;
#pragma omp parallel for num_threads(threads) schedule(static) if (n >= ADAM_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        float p = params[i];
        if (shrink) p *= decay;
        const float g = l2 ? grads[i] + wd_f * p : grads[i];
        const float m = exp_avg[i] * b1_f + one_minus_b1 * g;
        const float v = exp_avg_sq[i] * b2_f + one_minus_b2 * (g * g);
        const float denom = sqrtf(v) / bc2_sqrt + eps_f;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        params[i] = p + -step_size * (m / denom);
    }
    return DY_OK;
}
