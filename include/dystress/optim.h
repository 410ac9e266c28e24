/* dystress — optimizers over flat buffers. Included by dystress.h.
 *
 * A model keeps all its parameters in one contiguous float array, their gradients in another of the same length and
 * the optimizer state in a third, so an optimizer step is one pass over a few flat arrays.
 *
 * Example, plain SimCLR practice:
 *     dy_sgd_options o = {.lr = 0.06, .momentum = 0.9, .weight_decay = 5e-4};
 *     for (int64_t step = 0; ...; step++) {
 *         ... forward, backward: grads ...
 *         if (dy_sgd_step(ctx, &o, params, grads, momentum_buf, n, step) != DY_OK) ... dy_ctx_error(ctx) ...
 *     }
 *
 * Later (with the CLI): LARS (ImageNet recipe: trust ratio per tensor, no weight decay or adaptation on BN and bias)
 * and Adam (linear probe) will join here with the same shape: an options struct and a step function over flat
 * buffers, plus the per-tensor boundaries that LARS and per-group weight decay need.
 */
#ifndef DYSTRESS_OPTIM_H
#define DYSTRESS_OPTIM_H
#include "../dystress.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Stochastic gradient descent exactly as torch.optim.SGD (PyTorch 1.13), per element:
 *     d = grad + weight_decay * param
 *     if momentum != 0:
 *         buf = (step == 0) ? d : momentum * buf + (1 - dampening) * d
 *         d   = nesterov ? d + momentum * buf : buf
 *     param -= lr * d
 * The learning rate is per call, so a schedule just changes lr between steps. */
typedef struct {
    double lr;           /* >= 0 */
    double momentum;     /* >= 0; 0 = no momentum buffer */
    double dampening;    /* 0 in PyTorch's default; must be 0 with Nesterov */
    double weight_decay; /* >= 0, L2 penalty added to the gradient */
    bool nesterov;       /* needs momentum > 0 and dampening == 0 */
} dy_sgd_options;

/* One SGD step over n parameters. momentum_buf [n] is the optimizer state (may be NULL when momentum is 0); on the
 * first step (step == 0) it is overwritten with the gradient, as PyTorch initialises it, so its contents before that
 * do not matter. Returns DY_ERR_INVALID for bad options (negative or non-finite lr, momentum or weight decay;
 * Nesterov without momentum or with dampening, as PyTorch refuses; a missing buffer) and DY_ERR_NUMERIC, naming the
 * first offending index, when a gradient is NaN or Inf. On any error params and momentum_buf are left untouched. */
DY_API dy_status dy_sgd_step(dy_ctx *ctx, const dy_sgd_options *opts, float *params, const float *grads,
                             float *momentum_buf, int64_t n, int64_t step);

#ifdef __cplusplus
}
#endif
#endif
