/* The reference executor: runs a graph with the plain-C ops of ops.h in NCHW, on the activation plan of plan.h.
 * It is the oracle the fast backend is compared to, and the engine of builds without oneDNN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "engine/exec_backend.h"
#include "engine/plan.h"
#include "engine/ref/ops.h"

typedef struct {
    dy_exec base;
    dy_value_shape *shapes; /* [n_values] per image */
    int64_t *numel;         /* [n_values] floats of each value for the whole batch */
    dy_plan plan;
    char *arena;
    float *bn_saved;        /* per BN node: mean [c] then rstd [c], kept from forward to backward (training) */
    int64_t *bn_saved_off;  /* [n_nodes] offset into bn_saved, -1 for other nodes */
    int64_t bn_saved_count;
    const float *input;     /* the caller's input during an evaluation forward */
} ref_exec;

static float *value_ptr(ref_exec *e, int32_t v) {
    if (e->plan.value_off[v] < 0) return (float *)e->input; /* never written: the plan keeps value 0 read-only */
    return (float *)(e->arena + e->plan.value_off[v]);
}

static float *grad_ptr(ref_exec *e, int32_t v) {
    return e->plan.grad_off[v] < 0 ? NULL : (float *)(e->arena + e->plan.grad_off[v]);
}

static void ref_destroy(dy_exec *base) {
    ref_exec *e = (ref_exec *)base;
    if (!e) return;
    free(e->shapes);
    free(e->numel);
    dy_plan_free(&e->plan);
    dy_free(e->arena);
    dy_free(e->bn_saved);
    free(e->bn_saved_off);
    free(e);
}

static dy_status ref_create(dy_ctx *ctx, const dy_graph *g, int64_t n, int64_t h, int64_t w, dy_exec_mode mode,
                            dy_exec **out) {
    *out = NULL;
    ref_exec *e = calloc(1, sizeof *e);
    if (!e) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory creating an executor");
    e->base = (dy_exec){.backend = &dy_ref_exec_backend, .ctx = ctx, .graph = g, .n = n, .h = h, .w = w,
                        .mode = mode};
    int64_t nv = g->n_nodes + 1;
    e->shapes = malloc(sizeof *e->shapes * (size_t)nv);
    e->numel = malloc(sizeof *e->numel * (size_t)nv);
    e->bn_saved_off = malloc(sizeof *e->bn_saved_off * (size_t)(g->n_nodes + 1));
    int64_t *bytes = malloc(sizeof *bytes * (size_t)nv);
    dy_status st = DY_OK;
    if (!e->shapes || !e->numel || !e->bn_saved_off || !bytes) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory creating an executor");
        goto fail;
    }
    if ((st = dy_graph_infer(ctx, g, h, w, e->shapes)) != DY_OK) goto fail;
    for (int64_t v = 0; v < nv; v++) {
        e->numel[v] = n * e->shapes[v].c * e->shapes[v].h * e->shapes[v].w;
        bytes[v] = e->numel[v] * (int64_t)sizeof(float);
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const dy_node *nd = &g->nodes[i];
        e->bn_saved_off[i] = -1;
        if (nd->op == DY_OP_BATCHNORM && mode == DY_EXEC_TRAIN) {
            const dy_value_shape *x = &e->shapes[nd->in[0]];
            if (n * x->h * x->w < 2) {
                st = dy_fail(ctx, DY_ERR_INVALID,
                             "batch norm %s in training mode needs at least 2 values per channel, got %lld", nd->name,
                             (long long)(n * x->h * x->w));
                goto fail;
            }
            e->bn_saved_off[i] = e->bn_saved_count;
            e->bn_saved_count += 2 * nd->channels;
        }
    }
    if ((st = dy_plan_create(ctx, g, mode, bytes, &e->plan)) != DY_OK) goto fail;
    e->arena = dy_alloc((size_t)e->plan.arena_bytes);
    e->bn_saved = dy_alloc(sizeof(float) * (size_t)e->bn_saved_count);
    if (!e->arena || !e->bn_saved) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory: %lld bytes of activations for batch %lld at %lldx%lld",
                     (long long)e->plan.arena_bytes, (long long)n, (long long)h, (long long)w);
        goto fail;
    }
    free(bytes);
    *out = &e->base;
    return DY_OK;
fail:
    free(bytes);
    ref_destroy(&e->base);
    return st;
}

static dy_conv_shape conv_shape(const ref_exec *e, const dy_node *nd) {
    const dy_value_shape *x = &e->shapes[nd->in[0]];
    dy_conv_shape cs = {.n = e->base.n, .c = x->c, .h = x->h, .w = x->w, .k = nd->channels, .r = nd->kernel_h,
                        .s = nd->kernel_w, .stride_h = nd->stride_h, .stride_w = nd->stride_w, .pad_h = nd->pad_h,
                        .pad_w = nd->pad_w};
    conv2d_shape(&cs);
    return cs;
}

static dy_pool_shape pool_shape(const ref_exec *e, const dy_node *nd) {
    const dy_value_shape *x = &e->shapes[nd->in[0]];
    dy_pool_shape ps = {.n = e->base.n, .c = x->c, .h = x->h, .w = x->w, .kernel_h = nd->kernel_h,
                        .kernel_w = nd->kernel_w, .stride_h = nd->stride_h, .stride_w = nd->stride_w,
                        .pad_h = nd->pad_h, .pad_w = nd->pad_w};
    maxpool2d_shape(&ps);
    return ps;
}

/* A training batch norm failed: memory ran out, or sync-bn's reduction left a message in the context (MPI's). */
static dy_status bn_failed(dy_ctx *ctx, dy_status st, const dy_node *nd, bool sync) {
    char why[512];
    snprintf(why, sizeof why, "%s", st == DY_ERR_NOMEM ? "out of memory" : dy_ctx_error(ctx));
    return dy_fail(ctx, st, "batch norm %s%s: %s", nd->name, sync ? " (sync-bn)" : "", why);
}

static dy_status ref_forward(dy_exec *base, const float *params, float *state, const float *input, float *features,
                             float *output) {
    ref_exec *e = (ref_exec *)base;
    const dy_graph *g = base->graph;
    const bool train = base->mode == DY_EXEC_TRAIN;
    const int64_t n = base->n;
    const int threads = base->ctx->threads;
    e->input = input;
    if (train) memcpy(value_ptr(e, 0), input, sizeof(float) * (size_t)e->numel[0]);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const dy_node *nd = &g->nodes[i];
        const dy_value_shape *xs = &e->shapes[nd->in[0]];
        const float *x = value_ptr(e, nd->in[0]);
        float *y = value_ptr(e, i + 1);
        const int64_t hw = xs->h * xs->w;
        switch (nd->op) {
        case DY_OP_CONV2D: {
            dy_conv_shape cs = conv_shape(e, nd);
            conv2d_forward(y, x, params + nd->weight, nd->bias >= 0 ? params + nd->bias : NULL, &cs, threads);
            break;
        }
        case DY_OP_BATCHNORM:
            if (train) {
                float *saved = e->bn_saved + e->bn_saved_off[i];
                /* with sync-bn, the statistics of the global batch */
                dy_status st = batchnorm_forward_train_sync(
                    y, saved, saved + nd->channels, state + nd->running_mean, state + nd->running_var, x,
                    params + nd->weight, params + nd->bias, n, nd->channels, hw, nd->momentum, nd->eps, threads,
                    g->bn_sync);
                if (st != DY_OK) return bn_failed(base->ctx, st, nd, g->bn_sync);
                state[nd->num_batches] += 1.0f;
            } else {
                batchnorm_forward_eval(y, x, params + nd->weight, params + nd->bias, state + nd->running_mean,
                                       state + nd->running_var, n, nd->channels, hw, nd->eps, threads);
            }
            break;
        case DY_OP_RELU:
            relu_forward(y, x, e->numel[i + 1], threads);
            break;
        case DY_OP_MAXPOOL: {
            dy_pool_shape ps = pool_shape(e, nd);
            maxpool2d_forward(y, x, &ps, threads);
            break;
        }
        case DY_OP_AVGPOOL:
            avgpool_global_forward(y, x, n, xs->c, hw, threads);
            break;
        case DY_OP_LINEAR:
            linear_forward(y, x, params + nd->weight, nd->bias >= 0 ? params + nd->bias : NULL, n, xs->c,
                           nd->channels, threads);
            break;
        case DY_OP_ADD:
            add_forward(y, x, value_ptr(e, nd->in[1]), e->numel[i + 1], threads);
            break;
        case DY_OP_L2NORM:
            l2norm_forward(y, x, n, xs->c * hw, nd->eps, threads);
            break;
        }
        size_t out_bytes = sizeof(float) * (size_t)e->numel[i + 1];
        if (features && i + 1 == g->features) memcpy(features, y, out_bytes);
        if (output && i + 1 == g->output) memcpy(output, y, out_bytes);
    }
    e->input = NULL;
    base->forward_done = train;
    return DY_OK;
}

static void add_into(float *dst, const float *src, int64_t count) {
    for (int64_t i = 0; i < count; i++) dst[i] += src[i];
}

static dy_status ref_backward(dy_exec *base, const float *params, float *grads, const float *doutput,
                              float *dinput) {
    ref_exec *e = (ref_exec *)base;
    const dy_graph *g = base->graph;
    const int64_t n = base->n;
    const int threads = base->ctx->threads;
    for (int32_t j = g->n_nodes - 1; j >= 0; j--) {
        const dy_node *nd = &g->nodes[j];
        const int32_t v = j + 1;
        const float *dy = v == g->output ? doutput : grad_ptr(e, v);
        const dy_value_shape *xs = &e->shapes[nd->in[0]];
        const int64_t hw = xs->h * xs->w;
        /* Where each input's gradient goes: the gradient itself for the first writer, else a scratch to add in. */
        float *dest[2] = {NULL, NULL}, *target[2] = {NULL, NULL};
        for (int k = 0; k < 2; k++) {
            int32_t u = nd->in[k];
            if (u < 0) continue;
            dest[k] = u == 0 ? dinput : grad_ptr(e, u);
            if (!dest[k]) continue;
            if (e->plan.first[2 * j + k] || nd->op == DY_OP_ADD)
                target[k] = dest[k];
            else
                target[k] = (float *)(e->arena + e->plan.scratch_off[2 * j + k]);
        }
        const float *x = value_ptr(e, nd->in[0]);
        float *dx = target[0];
        switch (nd->op) {
        case DY_OP_CONV2D: {
            dy_conv_shape cs = conv_shape(e, nd);
            conv2d_backward_weights(grads + nd->weight, nd->bias >= 0 ? grads + nd->bias : NULL, dy, x, &cs, threads);
            if (dx) conv2d_backward_data(dx, dy, params + nd->weight, &cs, threads);
            break;
        }
        case DY_OP_BATCHNORM: {
            const float *saved = e->bn_saved + e->bn_saved_off[j];
            dy_status st = batchnorm_backward_sync(dx, grads + nd->weight, grads + nd->bias, dy, x, saved,
                                                   saved + nd->channels, params + nd->weight, n, nd->channels, hw,
                                                   threads, g->bn_sync);
            if (st != DY_OK) return bn_failed(base->ctx, st, nd, g->bn_sync);
            break;
        }
        case DY_OP_RELU:
            if (dx) relu_backward(dx, dy, value_ptr(e, v), e->numel[v], threads);
            break;
        case DY_OP_MAXPOOL: {
            dy_pool_shape ps = pool_shape(e, nd);
            if (dx) maxpool2d_backward(dx, dy, x, &ps, threads);
            break;
        }
        case DY_OP_AVGPOOL:
            if (dx) avgpool_global_backward(dx, dy, n, xs->c, hw, threads);
            break;
        case DY_OP_LINEAR:
            linear_backward(dx, grads + nd->weight, nd->bias >= 0 ? grads + nd->bias : NULL, dy, x,
                            params + nd->weight, n, xs->c, nd->channels, threads);
            break;
        case DY_OP_ADD:
            /* d(a) = d(b) = dy: copied by the first writer, added by later ones. */
            for (int k = 0; k < 2; k++) {
                if (!dest[k]) continue;
                if (e->plan.first[2 * j + k])
                    memcpy(dest[k], dy, sizeof(float) * (size_t)e->numel[v]);
                else
                    add_into(dest[k], dy, e->numel[v]);
            }
            break;
        case DY_OP_L2NORM:
            if (dx) l2norm_backward(dx, dy, x, n, xs->c * hw, nd->eps, threads);
            break;
        }
        if (nd->op != DY_OP_ADD && dx && dx != dest[0]) add_into(dest[0], dx, e->numel[nd->in[0]]);
        dy_status st = dy_graph_node_grads_ready(g, j); /* data parallel: its all-reduce may start */
        if (st != DY_OK) return st;
    }
    base->forward_done = false;
    return DY_OK;
}

static int64_t ref_memory(const dy_exec *base) {
    const ref_exec *e = (const ref_exec *)base;
    return e->plan.arena_bytes + (int64_t)sizeof(float) * e->bn_saved_count;
}

const dy_exec_backend dy_ref_exec_backend = {
    .name = "ref",
    .create = ref_create,
    .destroy = ref_destroy,
    .forward = ref_forward,
    .backward = ref_backward,
    .memory = ref_memory,
};
