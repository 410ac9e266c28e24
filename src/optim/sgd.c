/* SGD with momentum, dampening, Nesterov and weight decay over flat buffers (torch.optim.SGD's update). */
#include "core/context.h"

#include <math.h>

/* Index of the first NaN or Inf in g[0, n), or n when all are finite. */
static int64_t first_non_finite(const float *g, int64_t n, int threads) {
    int64_t first = n;
#pragma omp parallel for num_threads(threads) reduction(min : first) schedule(static)
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(g[i]) && i < first) first = i;
    return first;
}

dy_status dy_sgd_step(dy_ctx *ctx, const dy_sgd_options *opts, float *params, const float *grads,
                      float *momentum_buf, int64_t n, int64_t step) {
    if (!opts) return dy_fail(ctx, DY_ERR_INVALID, "sgd: no options");
    const double lr = opts->lr, mom = opts->momentum, damp = opts->dampening, wd = opts->weight_decay;
    /* !(x >= 0) also catches NaN. */
    if (!(lr >= 0) || !isfinite(lr)) return dy_fail(ctx, DY_ERR_INVALID, "sgd: learning rate %g, expected >= 0", lr);
    if (!(mom >= 0) || !isfinite(mom)) return dy_fail(ctx, DY_ERR_INVALID, "sgd: momentum %g, expected >= 0", mom);
    if (!(wd >= 0) || !isfinite(wd))
        return dy_fail(ctx, DY_ERR_INVALID, "sgd: weight decay %g, expected >= 0", wd);
    if (!isfinite(damp)) return dy_fail(ctx, DY_ERR_INVALID, "sgd: dampening %g, expected a finite number", damp);
    if (opts->nesterov && (mom <= 0 || damp != 0))
        return dy_fail(ctx, DY_ERR_INVALID,
                       "sgd: Nesterov momentum needs momentum > 0 and dampening 0 (got momentum %g, dampening %g)",
                       mom, damp);
    if (n < 0) return dy_fail(ctx, DY_ERR_INVALID, "sgd: %lld parameters, expected >= 0", (long long)n);
    if (step < 0) return dy_fail(ctx, DY_ERR_INVALID, "sgd: step %lld, expected >= 0", (long long)step);
    if (n > 0 && (!params || !grads)) return dy_fail(ctx, DY_ERR_INVALID, "sgd: parameter or gradient buffer missing");
    if (n > 0 && mom != 0 && !momentum_buf)
        return dy_fail(ctx, DY_ERR_INVALID, "sgd: momentum %g needs a momentum buffer of %lld values", mom,
                       (long long)n);

    /* A read-only scan first, so that a bad gradient leaves parameters and state as they were: the caller can skip
     * the batch or stop with a clean checkpoint. */
    const int threads = ctx ? dy_ctx_threads(ctx) : 1;
    const int64_t bad = first_non_finite(grads, n, threads);
    if (bad < n)
        return dy_fail(ctx, DY_ERR_NUMERIC, "sgd: gradient %lld of %lld is %g", (long long)bad, (long long)n,
                       (double)grads[bad]);

    /* The same float operations, in the same order, as PyTorch's update. */
    const float lr_f = (float)lr, mom_f = (float)mom, wd_f = (float)wd, keep = (float)(1.0 - damp);
    const bool first = step == 0, nesterov = opts->nesterov;
    if (mom == 0) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            const float d = wd != 0 ? grads[i] + wd_f * params[i] : grads[i];
            params[i] -= lr_f * d;
        }
        return DY_OK;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float d = wd != 0 ? grads[i] + wd_f * params[i] : grads[i];
        const float buf = first ? d : mom_f * momentum_buf[i] + keep * d;
        momentum_buf[i] = buf;
        params[i] -= lr_f * (nesterov ? d + mom_f * buf : buf);
    }
    return DY_OK;
}
