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
 * Adam/AdamW (the linear probe; src/optim/adam.c) and LARS (the ImageNet recipe: trust ratio per tensor, no weight
 * decay or adaptation on BN and bias; src/optim/lars.c) have the same shape: an options struct and a step function
 * over flat buffers; LARS also takes the per-tensor boundaries (dy_param_segment). The learning rate is per call; a
 * step counter, where taken, is the caller's (0 for the first step), so a resumed run passes the step it stopped at.
 * On any error the parameters and the state are untouched.
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

/* ---- Adam and AdamW (src/optim/adam.c) ---------------------------------------------------------------------------
 * Exactly torch.optim.Adam / AdamW (PyTorch 1.13, amsgrad off, maximize off), per element, t = step + 1:
 *     Adam:  g = grad + weight_decay * param                  (L2 penalty added to the gradient)
 *     AdamW: param *= 1 - lr * weight_decay; g = grad          (decoupled weight decay)
 *     m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g * g
 *     param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)        (eps outside the sqrt)
 * exp_avg (m) and exp_avg_sq (v) [n] are the state; zero them before step 0. */
typedef struct {
    double lr;           /* 1e-3 */
    double beta1, beta2; /* 0.9, 0.999; in [0, 1) */
    double eps;          /* 1e-8; >= 0 */
    double weight_decay; /* 0; >= 0 */
    bool decoupled;      /* false: Adam; true: AdamW */
} dy_adam_options;

/* lr 1e-3, betas 0.9 / 0.999, eps 1e-8, no weight decay, Adam (torch.optim.Adam's defaults). */
DY_API dy_adam_options dy_adam_defaults(void);

/* One step over n parameters. DY_ERR_INVALID for bad options or buffers, DY_ERR_NUMERIC (naming the index) for a
 * NaN or Inf gradient. */
DY_API dy_status dy_adam_step(dy_ctx *ctx, const dy_adam_options *opts, float *params, const float *grads,
                              float *exp_avg, float *exp_avg_sq, int64_t n, int64_t step);

/* ---- Parameter segments ----------------------------------------------------------------------------------------
 * Which ranges of the flat parameter buffer are which tensors. The caller builds the list from the model's named
 * tensors: one segment per tensor, in buffer order, exclude = true for BatchNorm weights/biases and biases. */
typedef struct {
    int64_t offset;  /* first element in the flat buffer */
    int64_t count;   /* elements of this tensor (>= 1) */
    bool exclude;    /* no weight decay and no layer adaptation (LARS) */
} dy_param_segment;

/* ---- LARS (src/optim/lars.c) -------------------------------------------------------------------------------------
 * Layer-wise adaptive rate scaling as used for SimCLR (You et al. 2017; SimCLR's LARS with classic momentum). Per
 * segment (one tensor), with w its parameters and grad its gradient:
 *     not excluded: g = grad + weight_decay * w;
 *                   trust = eta * ||w|| / ||g|| when ||w|| > 0 and ||g|| > 0, else 1
 *     excluded:     g = grad; trust = 1
 *     v = momentum * v + lr * trust * g                 (the learning rate sits inside the momentum buffer)
 *     w -= nesterov ? momentum * v + lr * trust * g : v
 * The segments must tile the buffer in order: segment 0 at offset 0, each next one where the previous ends, the last
 * ending at n. Norms are summed in double within one thread per segment, so results do not depend on the thread
 * count. momentum_buf [n] is the state (zero it before step 0). */
typedef struct {
    double lr;
    double momentum;          /* 0.9 */
    double weight_decay;      /* 1e-6 (the ImageNet recipe) */
    double trust_coefficient; /* eta: 0.001 */
    bool nesterov;            /* false */
} dy_lars_options;

/* lr 0.1 (set your own), momentum 0.9, weight decay 1e-6, eta 0.001, no Nesterov. */
DY_API dy_lars_options dy_lars_defaults(void);

DY_API dy_status dy_lars_step(dy_ctx *ctx, const dy_lars_options *opts, float *params, const float *grads,
                              float *momentum_buf, int64_t n, const dy_param_segment *segments, int64_t n_segments);

#ifdef __cplusplus
}
#endif
#endif
