/* The few steps oneDNN has no primitive for, run in plain C between primitives: the running-statistics update of
 * training batch norm, the batch-norm fold of evaluation convolutions, and the row L2 normalisation (the
 * reference op, on a plain [n, d] copy). Operands are memory indices in the order each builder lists them. */
#include <math.h>

#include "engine/dnnl/dnnl_exec_internal.h"
#include "engine/ref/ops.h"

float *dd_ptr(dd_exec *e, int32_t mem) {
    if (mem < 0) return NULL;
    const dd_mem *m = e->mems[mem];
    switch (m->where) {
    case DD_ARENA: return (float *)(e->arena + e->tensors[m->offset].offset);
    case DD_SCRATCH: return (float *)e->scratch;
    default: return e->user[m->where] ? (float *)e->user[m->where] + m->offset : NULL;
    }
}

/* PyTorch's update: r = (1 - momentum) r + momentum * batch statistic, the variance unbiased; the batch counter
 * (num_batches_tracked) goes up by one. */
void dd_run_running_stats(dd_exec *e, const dd_item *it) {
    const float *mean = dd_ptr(e, it->arg_mem[0]), *var = dd_ptr(e, it->arg_mem[1]);
    float *rmean = dd_ptr(e, it->arg_mem[2]), *rvar = dd_ptr(e, it->arg_mem[3]);
    float *batches = dd_ptr(e, it->arg_mem[4]);
    const float m = it->momentum;
    const double unbias = it->extra > 1 ? (double)it->extra / (double)(it->extra - 1) : 1.0;
    for (int64_t c = 0; c < it->count; c++) {
        rmean[c] = (1.0f - m) * rmean[c] + m * mean[c];
        rvar[c] = (1.0f - m) * rvar[c] + m * (float)(var[c] * unbias);
    }
    if (batches) batches[0] += 1.0f;
}

/* w'[k] = w[k] * s_k and b'[k] = beta_k + (b_k - mean_k) * s_k with s_k = gamma_k / sqrt(var_k + eps). */
void dd_run_fold_bn(dd_exec *e, const dd_item *it) {
    const float *w = dd_ptr(e, it->arg_mem[0]), *bias = dd_ptr(e, it->arg_mem[1]);
    const float *gamma = dd_ptr(e, it->arg_mem[2]), *beta = dd_ptr(e, it->arg_mem[3]);
    const float *rmean = dd_ptr(e, it->arg_mem[4]), *rvar = dd_ptr(e, it->arg_mem[5]);
    float *w_out = dd_ptr(e, it->arg_mem[6]), *b_out = dd_ptr(e, it->arg_mem[7]);
    const int64_t per = it->extra;
#pragma omp parallel for num_threads(e->base.ctx->threads) schedule(static)
    for (int64_t k = 0; k < it->count; k++) {
        float s = (gamma ? gamma[k] : 1.0f) / sqrtf(rvar[k] + it->eps);
        for (int64_t j = 0; j < per; j++) w_out[k * per + j] = w[k * per + j] * s;
        b_out[k] = (beta ? beta[k] : 0.0f) + ((bias ? bias[k] : 0.0f) - rmean[k]) * s;
    }
}

void dd_run_l2norm_forward(dd_exec *e, const dd_item *it) {
    l2norm_forward(dd_ptr(e, it->arg_mem[1]), dd_ptr(e, it->arg_mem[0]), it->count, it->extra, it->eps,
                   e->base.ctx->threads);
}

void dd_run_l2norm_backward(dd_exec *e, const dd_item *it) {
    l2norm_backward(dd_ptr(e, it->arg_mem[2]), dd_ptr(e, it->arg_mem[1]), dd_ptr(e, it->arg_mem[0]), it->count,
                    it->extra, it->eps, e->base.ctx->threads);
}

/* ---- the L2-normalisation group: the reference op on plain rows ---- */

dy_status dd_l2norm_forward(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
    const dnnl_memory_desc_t *md = dd_value_md(b, in);
    dnnl_memory_desc_t plain = dd_plain_md(md->ndims, md->dims);
    int32_t m_x = b->value_mem[in];
    if (!dd_md_equal(md, &plain)) {
        m_x = dd_arena_mem(b, &plain);
        if (m_x < 0) return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory for the program");
        DY_TRY(dd_add_reorder(b, b->value_mem[in], m_x));
    }
    int32_t m_y = dd_arena_mem(b, &plain);
    dd_item *it = m_y < 0 ? NULL : dd_add_item(b, DD_ITEM_L2NORM_FORWARD);
    if (!it) return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory for the program");
    it->nargs = 2;
    it->arg_mem[0] = m_x;
    it->arg_mem[1] = m_y;
    it->count = b->e->base.n;
    it->extra = dd_value_elems(b, in) / b->e->base.n;
    it->eps = nd->eps;
    b->value_mem[out] = m_y;
    b->aux[gr->main][0] = m_x; /* the plain input, kept for backward */
    return DY_OK;
}

dy_status dd_l2norm_backward(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
    const int32_t m_x = b->aux[gr->main][0];
    int32_t m_dy = dd_diff_get(b, out);
    dd_diff_release(b, out);
    int32_t m_dx = dd_arena_mem(b, dd_md(b, m_x)); /* plain */
    dd_item *it = m_dx < 0 ? NULL : dd_add_item(b, DD_ITEM_L2NORM_BACKWARD);
    if (!it) return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory for the program");
    it->nargs = 3;
    it->arg_mem[0] = m_x;
    it->arg_mem[1] = m_dy;
    it->arg_mem[2] = m_dx;
    it->count = b->e->base.n;
    it->extra = dd_value_elems(b, in) / b->e->base.n;
    it->eps = nd->eps;
    if (!dd_md_equal(dd_md(b, m_dx), dd_value_md(b, in))) {
        int32_t m_v = dd_diff_target(b, in, -1);
        if (m_v < 0) return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory for the program");
        DY_TRY(dd_add_reorder(b, m_dx, m_v));
        m_dx = m_v;
    }
    return dd_diff_commit(b, in, m_dx);
}
