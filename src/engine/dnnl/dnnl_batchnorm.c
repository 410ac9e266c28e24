/* Batch-norm groups: batch normalisation on the layout of its input (2-D [n, c] in the head, blocked 4-D after
 * convolutions), with a following ReLU fused in (oneDNN's fuse_norm_relu flag, whose workspace, a bit mask, is kept
 * for backward; the shared kernels' relu). Training also updates the running statistics from the batch mean and
 * variance oneDNN returns (the shared kernels update them themselves).
 * The plain-C steps of batch norm are here too: that update, and the fold of an evaluation batch norm into the
 * convolution before it (the convolution groups append it). */
#include <math.h>

#include "engine/dnnl/dnnl_exec_internal.h"

static unsigned bn_flags(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    unsigned f = 0;
    if (nd->weight >= 0) f |= dnnl_use_scale;
    if (nd->bias >= 0) f |= dnnl_use_shift;
    if (gr->relu >= 0) f |= dnnl_fuse_norm_relu;
    if (!b->train) f |= dnnl_use_global_stats;
    return f;
}

static dy_status forward_pd(dd_builder *b, const dd_group *gr, dnnl_primitive_desc_t *pd) {
    const dy_node *nd = &b->g->nodes[gr->main];
    dnnl_batch_normalization_desc_t desc;
    DD_TRY(b,
           dnnl_batch_normalization_forward_desc_init(&desc,
                                                      b->train ? dnnl_forward_training : dnnl_forward_inference,
                                                      dd_value_md(b, nd->in[0]), nd->eps, bn_flags(b, gr)),
           "batch-norm forward descriptor");
    return dd_pd_create(b, pd, &desc, NULL, NULL, "batch-norm forward");
}

static dnnl_memory_desc_t channel_md(int64_t c) {
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {c};
    dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_f32, dnnl_x);
    return md;
}

/* Training batch norm runs the shared kernels of src/engine/ref/bn_kernels.h on nChw16c and nhwc (see bn_blocked.c
 * and bn_rows.c why), in f32 and bf16; with sync-bn (statistics over the processes, which oneDNN's primitive cannot
 * sum) also on nchw and the head's [n, c]. *layout: the kernels' layout, or -1 where oneDNN's batch norm runs
 * (evaluation; the head's 2-D batch norms). */
static dy_status host_layout(dd_builder *b, const dd_group *gr, int *layout) {
    const dnnl_memory_desc_t *md = dd_value_md(b, b->g->nodes[gr->main].in[0]);
    const dnnl_data_type_t t = md->data_type;
    const bool sync = b->g->bn_sync != NULL;
    *layout = -1;
    if (b->train && (t == dnnl_f32 || t == dnnl_bf16)) {
        if (md->ndims == 4 && md->dims[1] % 16 == 0 && dd_md_is(md, dnnl_aBcd16b, t)) *layout = BN_NCHW16C;
        else if (md->ndims == 4 && dd_md_is(md, dnnl_acdb, t)) *layout = BN_NHWC;
        else if (sync && md->ndims == 2 && dd_md_is(md, dnnl_ab, t)) *layout = BN_NHWC; /* [n, c]: one pixel */
        else if (sync && md->ndims == 4 && dd_md_is(md, dnnl_abcd, t)) *layout = BN_NCHW;
    }
    if (*layout < 0 && b->train && sync)
        return dy_fail(b->ctx, DY_ERR_UNSUPPORTED, "oneDNN executor: batch norm %s with sync-bn: its input has a "
                       "layout the batch-norm kernels cannot read", b->g->nodes[gr->main].name);
    return DY_OK;
}

/* The item's shape; its scratch (the kernels' work buffer) sized into the executor's (host items run between
 * primitives, never beside one). */
static bn_shape host_shape(dd_builder *b, const dd_group *gr, bn_layout layout) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const dy_value_shape sh = b->shapes[nd->in[0]];
    const bn_shape s = {.layout = layout, .bf16 = dd_md(b, b->value_mem[nd->in[0]])->data_type == dnnl_bf16,
                        .n = b->e->base.n, .c = sh.c, .hw = sh.h * sh.w, .eps = nd->eps, .momentum = nd->momentum};
    const size_t bytes = sizeof(float) * (size_t)bn_work_floats(layout, s.n, s.c, s.hw);
    if (bytes > b->e->scratch_bytes) b->e->scratch_bytes = bytes;
    return s;
}

static dy_status host_forward(dd_builder *b, const dd_group *gr, bn_layout layout) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
    const dnnl_memory_desc_t cmd = channel_md(b->shapes[in].c), one = channel_md(1);
    const int32_t m_y = dd_arena_mem(b, dd_value_md(b, in)), m_mean = dd_arena_mem(b, &cmd);
    const int32_t m_var = dd_arena_mem(b, &cmd);
    dd_bn_forward_item f = {
        .x = b->value_mem[in], .y = m_y, .mean = m_mean, .var = m_var,
        .gamma = nd->weight >= 0 ? dd_user_mem(b, &cmd, DD_PARAMS, nd->weight) : -1,
        .beta = nd->bias >= 0 ? dd_user_mem(b, &cmd, DD_PARAMS, nd->bias) : -1,
        .running_mean = nd->running_mean >= 0 ? dd_user_mem(b, &cmd, DD_STATE, nd->running_mean) : -1,
        .running_var = nd->running_var >= 0 ? dd_user_mem(b, &cmd, DD_STATE, nd->running_var) : -1,
        .num_batches = nd->num_batches >= 0 ? dd_user_mem(b, &one, DD_STATE, nd->num_batches) : -1,
        .s = host_shape(b, gr, layout), .relu = gr->relu >= 0, .sync = b->g->bn_sync != NULL};
    dd_item *it = f.y < 0 || f.mean < 0 || f.var < 0 ? NULL : dd_add_item(b, DD_ITEM_BN_FORWARD);
    if (!it) return dd_nomem(b);
    it->bn_forward = f;
    b->value_mem[out] = f.y;
    b->aux[gr->main][0] = f.mean;
    b->aux[gr->main][1] = f.var;
    b->aux[gr->main][2] = -1;
    return DY_OK;
}

static dy_status host_backward(dd_builder *b, const dd_group *gr, bn_layout layout) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
    const dnnl_memory_desc_t cmd = channel_md(b->shapes[in].c);
    int32_t m_dy = dd_diff_get(b, out);
    dd_diff_release(b, out);
    const int32_t m_dx = dd_diff_target(b, in, m_dy); /* in place when dy is not needed elsewhere */
    dd_bn_backward_item bw = {
        .x = b->value_mem[in], .y = gr->relu >= 0 ? b->value_mem[out] : -1, .dy = m_dy, .dx = m_dx,
        .mean = b->aux[gr->main][0], .var = b->aux[gr->main][1],
        .gamma = nd->weight >= 0 ? dd_user_mem(b, &cmd, DD_PARAMS, nd->weight) : -1,
        .dgamma = nd->weight >= 0 ? dd_user_mem(b, &cmd, DD_GRADS, nd->weight) : -1,
        .dbeta = nd->bias >= 0 ? dd_user_mem(b, &cmd, DD_GRADS, nd->bias) : -1,
        .s = host_shape(b, gr, layout), .sync = b->g->bn_sync != NULL};
    dd_item *it = bw.dx < 0 ? NULL : dd_add_item(b, DD_ITEM_BN_BACKWARD);
    if (!it) return dd_nomem(b);
    it->bn_backward = bw;
    return dd_diff_commit(b, in, bw.dx);
}

dy_status dd_bn_forward(dd_builder *b, const dd_group *gr) {
    int host;
    DY_TRY(host_layout(b, gr, &host));
    if (host >= 0) return host_forward(b, gr, (bn_layout)host);
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
    const int64_t c = b->shapes[in].c;
    dnnl_primitive_desc_t pd;
    DY_TRY(forward_pd(b, gr, &pd));
    const dnnl_memory_desc_t cmd = channel_md(c);
    const dnnl_memory_desc_t *dmd = dd_value_md(b, in);
    int32_t m_src = b->value_mem[in];
    int32_t m_dst = !b->train && dd_value_dies(b, in, gr) ? m_src : dd_arena_mem(b, dmd);
    int32_t m_mean, m_var, m_ws = -1;
    if (b->train) {
        m_mean = dd_arena_mem(b, &cmd);
        m_var = dd_arena_mem(b, &cmd);
        if (gr->relu >= 0) m_ws = dd_arena_mem(b, dnnl_primitive_desc_query_md(pd, dnnl_query_workspace_md, 0));
    } else {
        if (nd->running_mean < 0 || nd->running_var < 0) {
            dnnl_primitive_desc_destroy(pd);
            return dy_fail(b->ctx, DY_ERR_UNSUPPORTED, "oneDNN executor: batch norm %s has no running statistics",
                           nd->name);
        }
        m_mean = dd_user_mem(b, &cmd, DD_STATE, nd->running_mean);
        m_var = dd_user_mem(b, &cmd, DD_STATE, nd->running_var);
    }
    int32_t m_scale = nd->weight >= 0 ? dd_user_mem(b, &cmd, DD_PARAMS, nd->weight) : -1;
    int32_t m_shift = nd->bias >= 0 ? dd_user_mem(b, &cmd, DD_PARAMS, nd->bias) : -1;
    if (m_dst < 0 || m_mean < 0 || m_var < 0 || (gr->relu >= 0 && b->train && m_ws < 0)) {
        dnnl_primitive_desc_destroy(pd);
        return dd_nomem(b);
    }
    int args[2 * DD_MAX_ARGS], k = 0;
    args[k++] = DNNL_ARG_SRC, args[k++] = m_src;
    args[k++] = DNNL_ARG_DST, args[k++] = m_dst;
    args[k++] = DNNL_ARG_MEAN, args[k++] = m_mean;
    args[k++] = DNNL_ARG_VARIANCE, args[k++] = m_var;
    if (m_scale >= 0) args[k++] = DNNL_ARG_SCALE, args[k++] = m_scale;
    if (m_shift >= 0) args[k++] = DNNL_ARG_SHIFT, args[k++] = m_shift;
    if (m_ws >= 0) args[k++] = DNNL_ARG_WORKSPACE, args[k++] = m_ws;
    args[k] = -1;
    DY_TRY(dd_add_primitive(b, pd, args));
    b->value_mem[out] = m_dst;
    b->aux[gr->main][0] = m_mean;
    b->aux[gr->main][1] = m_var;
    b->aux[gr->main][2] = m_ws;

    if (b->train && nd->running_mean >= 0 && nd->running_var >= 0) {
        const dnnl_memory_desc_t one = channel_md(1);
        dd_running_stats_item rs = {
            .mean = m_mean, .var = m_var,
            .running_mean = dd_user_mem(b, &cmd, DD_STATE, nd->running_mean),
            .running_var = dd_user_mem(b, &cmd, DD_STATE, nd->running_var),
            .num_batches = nd->num_batches >= 0 ? dd_user_mem(b, &one, DD_STATE, nd->num_batches) : -1,
            .channels = c, .count = b->e->base.n * b->shapes[in].h * b->shapes[in].w, .momentum = nd->momentum};
        dd_item *it = dd_add_item(b, DD_ITEM_RUNNING_STATS);
        if (!it) return dd_nomem(b);
        it->stats = rs;
    }
    return DY_OK;
}

/* PyTorch's update: r = (1 - momentum) r + momentum * batch statistic, the variance unbiased over count values per
 * channel; the batch counter (num_batches_tracked) goes up by one. */
void dd_running_stats(float *running_mean, float *running_var, float *num_batches, const float *mean,
                      const float *var, int64_t channels, int64_t count, float momentum) {
    const float m = momentum;
    const double unbias = count > 1 ? (double)count / (double)(count - 1) : 1.0;
    for (int64_t c = 0; c < channels; c++) {
        running_mean[c] = (1.0f - m) * running_mean[c] + m * mean[c];
        running_var[c] = (1.0f - m) * running_var[c] + m * (float)(var[c] * unbias);
    }
    if (num_batches) num_batches[0] += 1.0f;
}

dy_status dd_bn_backward(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
    int host;
    DY_TRY(host_layout(b, gr, &host));
    if (host >= 0) return host_backward(b, gr, (bn_layout)host);
    const dnnl_memory_desc_t cmd = channel_md(b->shapes[in].c);
    const unsigned flags = bn_flags(b, gr);
    dnnl_primitive_desc_t hint, pd;
    DY_TRY(forward_pd(b, gr, &hint));
    dnnl_batch_normalization_desc_t desc;
    dy_status st = dd_check(b,
                            dnnl_batch_normalization_backward_desc_init(
                                &desc, (flags & (dnnl_use_scale | dnnl_use_shift)) ? dnnl_backward : dnnl_backward_data,
                                dd_value_md(b, in), dd_value_md(b, in), nd->eps, flags),
                            "batch-norm backward descriptor");
    if (st == DY_OK) st = dd_pd_create(b, &pd, &desc, NULL, hint, "batch-norm backward");
    dnnl_primitive_desc_destroy(hint);
    if (st != DY_OK) return st;
    int32_t m_dy = dd_diff_get(b, out);
    dd_diff_release(b, out);
    int32_t m_dx = dd_diff_target(b, in, m_dy); /* batch norm runs in place when dy is not needed elsewhere */
    int32_t m_scale = nd->weight >= 0 ? dd_user_mem(b, &cmd, DD_PARAMS, nd->weight) : -1;
    int32_t m_shift = nd->bias >= 0 ? dd_user_mem(b, &cmd, DD_PARAMS, nd->bias) : -1;
    int32_t m_dscale = nd->weight >= 0 ? dd_user_mem(b, &cmd, DD_GRADS, nd->weight) : -1;
    int32_t m_dshift = nd->bias >= 0 ? dd_user_mem(b, &cmd, DD_GRADS, nd->bias) : -1;
    if (m_dx < 0) {
        dnnl_primitive_desc_destroy(pd);
        return dd_nomem(b);
    }
    int args[2 * DD_MAX_ARGS], k = 0;
    args[k++] = DNNL_ARG_SRC, args[k++] = b->value_mem[in];
    args[k++] = DNNL_ARG_MEAN, args[k++] = b->aux[gr->main][0];
    args[k++] = DNNL_ARG_VARIANCE, args[k++] = b->aux[gr->main][1];
    args[k++] = DNNL_ARG_DIFF_DST, args[k++] = m_dy;
    args[k++] = DNNL_ARG_DIFF_SRC, args[k++] = m_dx;
    if (m_scale >= 0) args[k++] = DNNL_ARG_SCALE, args[k++] = m_scale;
    if (m_shift >= 0) args[k++] = DNNL_ARG_SHIFT, args[k++] = m_shift;
    if (m_dscale >= 0) args[k++] = DNNL_ARG_DIFF_SCALE, args[k++] = m_dscale;
    if (m_dshift >= 0) args[k++] = DNNL_ARG_DIFF_SHIFT, args[k++] = m_dshift;
    if (b->aux[gr->main][2] >= 0) args[k++] = DNNL_ARG_WORKSPACE, args[k++] = b->aux[gr->main][2];
    args[k] = -1;
    DY_TRY(dd_add_primitive(b, pd, args));
    return dd_diff_commit(b, in, m_dx);
}

/* w'[k] = w[k] * s_k and b'[k] = beta_k + (b_k - mean_k) * s_k with s_k = gamma_k / sqrt(var_k + eps). */
void dd_fold_bn(float *w_out, float *b_out, const float *w, const float *bias, const float *gamma, const float *beta,
                const float *running_mean, const float *running_var, int64_t channels, int64_t per_channel, float eps,
                int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t k = 0; k < channels; k++) {
        float s = (gamma ? gamma[k] : 1.0f) / sqrtf(running_var[k] + eps);
        for (int64_t j = 0; j < per_channel; j++) w_out[k * per_channel + j] = w[k * per_channel + j] * s;
        b_out[k] = (beta ? beta[k] : 0.0f) + ((bias ? bias[k] : 0.0f) - running_mean[k]) * s;
    }
}

/* ---- the shared kernels with positional arguments (tests/test_bn_kernels.c, tests/test_bf16.c) ---------------- */

int64_t dd_bn_blocked_work_floats(int64_t n, int64_t c) { return bn_work_floats(BN_NCHW16C, n, c, 1); }
int64_t dd_bn_nhwc_work_floats(int64_t n, int64_t c, int64_t hw) { return bn_work_floats(BN_NHWC, n, c, hw); }

#define DD_BN_KERNELS(NAME, SUFFIX, T, LAYOUT, BF16)                                                               \
    void NAME##_forward##SUFFIX(T *y, float *mean, float *var, float *running_mean, float *running_var,           \
                                float *num_batches, const T *x, const float *gamma, const float *beta, int64_t n,  \
                                int64_t c, int64_t hw, float eps, float momentum, bool relu, float *work,          \
                                int threads) {                                                                     \
        const bn_forward_args a = {                                                                                \
            .s = {LAYOUT, BF16, n, c, hw, eps, momentum, threads, work, NULL}, .x = x, .y = y, .relu = relu,       \
            .gamma = gamma, .beta = beta, .mean = mean, .var = var, .running_mean = running_mean,                  \
            .running_var = running_var, .num_batches = num_batches};                                               \
        bn_forward(&a);                                                                                            \
    }                                                                                                              \
    void NAME##_backward##SUFFIX(T *dx, float *dgamma, float *dbeta, const T *dy, const T *x, const T *y,         \
                                 const float *mean, const float *var, const float *gamma, int64_t n, int64_t c,    \
                                 int64_t hw, float eps, float *work, int threads) {                                \
        const bn_backward_args a = {.s = {LAYOUT, BF16, n, c, hw, eps, 0, threads, work, NULL}, .x = x, .y = y,   \
                                    .dy = dy, .dx = dx, .mean = mean, .var = var, .gamma = gamma,                  \
                                    .dgamma = dgamma, .dbeta = dbeta};                                             \
        bn_backward(&a);                                                                                           \
    }
DD_BN_KERNELS(dd_bn_blocked, , float, BN_NCHW16C, false)
DD_BN_KERNELS(dd_bn_blocked, _bf16, uint16_t, BN_NCHW16C, true)
DD_BN_KERNELS(dd_bn_nhwc, , float, BN_NHWC, false)
DD_BN_KERNELS(dd_bn_nhwc, _bf16, uint16_t, BN_NHWC, true)
