/* An optimizer object: the update rule (SGD, LARS, Adam, AdamW over the flat parameter buffer, include/dystress/
 * optim.h) together with the state it owns — the momentum buffer (Adam's first moment) and Adam's second moment —
 * which it lists by name for checkpoints ("optimizer.momentum", "optimizer.exp_avg_sq"). */
#ifndef DY_OPTIM_OPTIMIZER_H
#define DY_OPTIM_OPTIMIZER_H

#include "core/tensor_list.h"
#include "dystress.h"
#include "dystress/optim.h"

typedef enum { DY_OPTIMIZER_SGD, DY_OPTIMIZER_LARS, DY_OPTIMIZER_ADAM, DY_OPTIMIZER_ADAMW } dy_optimizer_kind;

typedef struct {
    dy_optimizer_kind kind;
    double momentum, weight_decay; /* SGD, LARS (momentum); every kind (weight decay) */
    bool nesterov;                 /* SGD, LARS */
    double lars_eta;               /* LARS trust coefficient */
    double adam_beta1, adam_beta2; /* Adam, AdamW */
} dy_optimizer_config;

typedef struct dy_optimizer dy_optimizer;

/* State for n_params parameters, zeroed. segments (copied) tile the buffer, one per tensor; exclude = true marks
 * those without weight decay (SGD, LARS) and layer adaptation (LARS). */
dy_status dy_optimizer_create(dy_ctx *ctx, const dy_optimizer_config *cfg, int64_t n_params,
                              const dy_param_segment *segments, int64_t n_segments, dy_optimizer **out);
void dy_optimizer_destroy(dy_optimizer *o);
/* One update of params from grads at learning rate lr; step counts from 0 (Adam's bias correction, SGD's first
 * momentum step). On error params and state are unchanged. */
dy_status dy_optimizer_step(dy_optimizer *o, dy_ctx *ctx, float *params, const float *grads, double lr, int64_t step);
/* Appends the state: "optimizer.momentum" [n_params] always (zero and unused without momentum), and for Adam and
 * AdamW "optimizer.exp_avg_sq" [n_params]. */
void dy_optimizer_list_tensors(dy_optimizer *o, dy_tensor_list *l);

#endif
