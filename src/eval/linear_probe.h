/* Internals of the linear probe shared with its tests. */
#ifndef DY_EVAL_LINEAR_PROBE_H
#define DY_EVAL_LINEAR_PROBE_H

#include "dystress/eval.h"

/* Mean softmax cross-entropy of the probe on a batch, and its gradient (ASSIGNED, not accumulated) with respect to
 * the weight [classes, dim] and bias [classes], without weight decay: grad_weight and grad_bias may be NULL. */
dy_status dy_probe_loss_grad(dy_ctx *ctx, dy_probe *probe, const float *features, const int64_t *labels, int64_t n,
                             double *loss, float *grad_weight, float *grad_bias);

#endif
