/* The optimizer object (optimizer.h): the step functions of sgd.c, lars.c and adam.c over the state it owns. */
#include "optim/optimizer.h"

#include <stdlib.h>
#include <string.h>

#include "core/context.h"

struct dy_optimizer {
    dy_optimizer_config cfg;
    int64_t n;
    float *momentum;   /* [n]: SGD/LARS momentum buffer, Adam's first moment */
    float *exp_avg_sq; /* [n]: Adam's second moment, else NULL */
    dy_param_segment *segments;
    int64_t n_segments;
    bool any_excluded;
};

dy_status dy_optimizer_create(dy_ctx *ctx, const dy_optimizer_config *cfg, int64_t n_params,
                              const dy_param_segment *segments, int64_t n_segments, dy_optimizer **out) {
    *out = NULL;
    dy_optimizer *o = calloc(1, sizeof *o);
    if (!o) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for the optimizer");
    o->cfg = *cfg;
    o->n = n_params;
    o->n_segments = n_segments;
    bool adam = cfg->kind == DY_OPTIMIZER_ADAM || cfg->kind == DY_OPTIMIZER_ADAMW;
    o->momentum = dy_alloc((size_t)n_params * sizeof(float));
    if (adam) o->exp_avg_sq = dy_alloc((size_t)n_params * sizeof(float));
    o->segments = malloc((size_t)(n_segments + 1) * sizeof *o->segments);
    if (!o->momentum || (adam && !o->exp_avg_sq) || !o->segments) {
        dy_optimizer_destroy(o);
        return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for the optimizer's state (%lld parameters)",
                       (long long)n_params);
    }
    if (n_segments) memcpy(o->segments, segments, (size_t)n_segments * sizeof *segments);
    for (int64_t i = 0; i < n_segments; i++) o->any_excluded |= segments[i].exclude;
    *out = o;
    return DY_OK;
}

void dy_optimizer_destroy(dy_optimizer *o) {
    if (!o) return;
    dy_free(o->momentum);
    dy_free(o->exp_avg_sq);
    free(o->segments);
    free(o);
}

/* SGD with weight decay only where the segment is not excluded: one call per run of adjacent segments with the same
 * flag (the update is element-wise, so the split does not change it). */
static dy_status sgd_segments(dy_optimizer *o, dy_ctx *ctx, const dy_sgd_options *opts, float *p, const float *g,
                              int64_t step) {
    const dy_param_segment *s = o->segments;
    for (int64_t i = 0; i < o->n_segments;) {
        int64_t j = i;
        while (j + 1 < o->n_segments && s[j + 1].exclude == s[i].exclude && s[j + 1].offset == s[j].offset + s[j].count)
            j++;
        dy_sgd_options oi = *opts;
        if (s[i].exclude) oi.weight_decay = 0;
        int64_t off = s[i].offset, cnt = s[j].offset + s[j].count - off;
        dy_status st = dy_sgd_step(ctx, &oi, p + off, g + off, o->momentum + off, cnt, step);
        if (st != DY_OK) return st;
        i = j + 1;
    }
    return DY_OK;
}

dy_status dy_optimizer_step(dy_optimizer *o, dy_ctx *ctx, float *params, const float *grads, double lr,
                            int64_t step) {
    const dy_optimizer_config *c = &o->cfg;
    switch (c->kind) {
    case DY_OPTIMIZER_SGD: {
        dy_sgd_options so = {.lr = lr, .momentum = c->momentum, .weight_decay = c->weight_decay,
                             .nesterov = c->nesterov};
        if (o->any_excluded) return sgd_segments(o, ctx, &so, params, grads, step);
        return dy_sgd_step(ctx, &so, params, grads, o->momentum, o->n, step);
    }
    case DY_OPTIMIZER_LARS: {
        dy_lars_options lo = dy_lars_defaults();
        lo.lr = lr;
        lo.momentum = c->momentum;
        lo.weight_decay = c->weight_decay;
        lo.trust_coefficient = c->lars_eta;
        lo.nesterov = c->nesterov;
        return dy_lars_step(ctx, &lo, params, grads, o->momentum, o->n, o->segments, o->n_segments);
    }
    case DY_OPTIMIZER_ADAM:
    case DY_OPTIMIZER_ADAMW: {
        dy_adam_options ao = dy_adam_defaults();
        ao.lr = lr;
        ao.beta1 = c->adam_beta1;
        ao.beta2 = c->adam_beta2;
        ao.weight_decay = c->weight_decay;
        ao.decoupled = c->kind == DY_OPTIMIZER_ADAMW;
        return dy_adam_step(ctx, &ao, params, grads, o->momentum, o->exp_avg_sq, o->n, step);
    }
    }
    return dy_fail(ctx, DY_ERR_INTERNAL, "unknown optimizer %d", (int)c->kind);
}

void dy_optimizer_list_tensors(dy_optimizer *o, dy_tensor_list *l) {
    int64_t shape[1] = {o->n};
    dy_tensor_list_add(l, "optimizer.", "momentum", DY_DTYPE_F32, DY_DTYPE_F32, 1, shape, o->momentum);
    if (o->exp_avg_sq)
        dy_tensor_list_add(l, "optimizer.", "exp_avg_sq", DY_DTYPE_F32, DY_DTYPE_F32, 1, shape, o->exp_avg_sq);
}
