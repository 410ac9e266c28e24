/* Batch-norm groups: batch normalisation on the layout of its input (2-D [n, c] in the head, blocked 4-D after
 * convolutions), with a following ReLU fused in through the fuse_norm_relu flag (its workspace, a bit mask, is kept
 * for backward). Training also updates the running statistics from the batch mean and variance oneDNN returns. */
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

/* Training on nChw16c runs the plain-C kernels of dnnl_bn_blocked.c (see there why). */
static bool blocked_host(dd_builder *b, int32_t in) {
    const dnnl_memory_desc_t *md = dd_value_md(b, in);
    if (!b->train || md->ndims != 4 || md->dims[1] % 16 != 0) return false;
    dnnl_memory_desc_t blocked;
    dnnl_memory_desc_init_by_tag(&blocked, 4, md->dims, dnnl_f32, dnnl_aBcd16b);
    return dd_md_equal(md, &blocked);
}

static dy_status host_forward(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
    const dy_value_shape sh = b->shapes[in];
    const dnnl_memory_desc_t cmd = channel_md(sh.c), one = channel_md(1);
    int32_t m_y = dd_arena_mem(b, dd_value_md(b, in));
    int32_t m_mean = dd_arena_mem(b, &cmd), m_var = dd_arena_mem(b, &cmd);
    int32_t ops[9] = {b->value_mem[in], m_y, m_mean, m_var,
                      nd->weight >= 0 ? dd_user_mem(b, &cmd, DD_PARAMS, nd->weight) : -1,
                      nd->bias >= 0 ? dd_user_mem(b, &cmd, DD_PARAMS, nd->bias) : -1,
                      nd->running_mean >= 0 ? dd_user_mem(b, &cmd, DD_STATE, nd->running_mean) : -1,
                      nd->running_var >= 0 ? dd_user_mem(b, &cmd, DD_STATE, nd->running_var) : -1,
                      nd->num_batches >= 0 ? dd_user_mem(b, &one, DD_STATE, nd->num_batches) : -1};
    dd_item *it = m_y < 0 || m_mean < 0 || m_var < 0 ? NULL : dd_add_item(b, DD_ITEM_BN_FORWARD);
    if (!it) return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory for the program");
    it->nargs = 9;
    for (int k = 0; k < 9; k++) it->arg_mem[k] = ops[k];
    it->dims[0] = b->e->base.n, it->dims[1] = sh.c, it->dims[2] = sh.h * sh.w;
    it->extra = gr->relu >= 0;
    it->eps = nd->eps;
    it->momentum = nd->momentum;
    b->value_mem[out] = m_y;
    b->aux[gr->main][0] = m_mean;
    b->aux[gr->main][1] = m_var;
    b->aux[gr->main][2] = -1;
    return DY_OK;
}

static dy_status host_backward(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
    const dy_value_shape sh = b->shapes[in];
    const dnnl_memory_desc_t cmd = channel_md(sh.c);
    int32_t m_dy = dd_diff_get(b, out);
    dd_diff_release(b, out);
    int32_t m_dx = dd_diff_target(b, in, m_dy); /* in place when dy is not needed elsewhere */
    int32_t ops[9] = {b->value_mem[in], gr->relu >= 0 ? b->value_mem[out] : -1, m_dy, m_dx, b->aux[gr->main][0],
                      b->aux[gr->main][1], nd->weight >= 0 ? dd_user_mem(b, &cmd, DD_PARAMS, nd->weight) : -1,
                      nd->weight >= 0 ? dd_user_mem(b, &cmd, DD_GRADS, nd->weight) : -1,
                      nd->bias >= 0 ? dd_user_mem(b, &cmd, DD_GRADS, nd->bias) : -1};
    dd_item *it = m_dx < 0 ? NULL : dd_add_item(b, DD_ITEM_BN_BACKWARD);
    if (!it) return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory for the program");
    it->nargs = 9;
    for (int k = 0; k < 9; k++) it->arg_mem[k] = ops[k];
    it->dims[0] = b->e->base.n, it->dims[1] = sh.c, it->dims[2] = sh.h * sh.w;
    it->eps = nd->eps;
    return dd_diff_commit(b, in, m_dx);
}

dy_status dd_bn_forward(dd_builder *b, const dd_group *gr) {
    if (b->train && b->g->bn_sync) return dd_bn_sync_forward(b, gr); /* statistics over the processes */
    if (blocked_host(b, b->g->nodes[gr->main].in[0])) return host_forward(b, gr);
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
        return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory for the program");
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
        dd_item *it = dd_add_item(b, DD_ITEM_RUNNING_STATS);
        if (!it) return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory for the program");
        dnnl_memory_desc_t one = channel_md(1);
        int32_t m_rm = dd_user_mem(b, &cmd, DD_STATE, nd->running_mean);
        int32_t m_rv = dd_user_mem(b, &cmd, DD_STATE, nd->running_var);
        int32_t m_nb = nd->num_batches >= 0 ? dd_user_mem(b, &one, DD_STATE, nd->num_batches) : -1;
        it = &b->prog->items[b->prog->n - 1];
        int32_t ops[] = {m_mean, m_var, m_rm, m_rv, m_nb};
        it->nargs = 5;
        for (int j = 0; j < 5; j++) it->arg_mem[j] = ops[j];
        it->count = c;
        it->extra = b->e->base.n * b->shapes[in].h * b->shapes[in].w; /* values per channel */
        it->momentum = nd->momentum;
    }
    return DY_OK;
}

dy_status dd_bn_backward(dd_builder *b, const dd_group *gr) {
    if (b->train && b->g->bn_sync) return dd_bn_sync_backward(b, gr);
    if (blocked_host(b, b->g->nodes[gr->main].in[0])) return host_backward(b, gr);
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
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
        return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory for the program");
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
