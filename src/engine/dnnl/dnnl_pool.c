/* Pooling groups: max pooling (the ImageNet stem; its workspace of argmax positions is kept for backward) and the
 * global average pool (a pooling whose kernel is the whole image). */
#include "engine/dnnl/dnnl_exec_internal.h"

typedef struct {
    dnnl_alg_kind_t alg;
    dnnl_dims_t kernel, strides, dilation, pad;
    dnnl_memory_desc_t dst_any;
} pool_descs;

static void describe(dd_builder *b, const dd_group *gr, pool_descs *pd) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const dy_value_shape in = b->shapes[nd->in[0]], out = b->shapes[gr->main + 1];
    pd->dilation[0] = pd->dilation[1] = 0;
    if (nd->op == DY_OP_MAXPOOL) {
        pd->alg = dnnl_pooling_max;
        pd->kernel[0] = nd->kernel_h;
        pd->kernel[1] = nd->kernel_w;
        pd->strides[0] = nd->stride_h;
        pd->strides[1] = nd->stride_w;
        pd->pad[0] = nd->pad_h;
        pd->pad[1] = nd->pad_w;
    } else {
        pd->alg = dnnl_pooling_avg_exclude_padding;
        pd->kernel[0] = pd->strides[0] = in.h;
        pd->kernel[1] = pd->strides[1] = in.w;
        pd->pad[0] = pd->pad[1] = 0;
    }
    dnnl_dims_t ddims = {b->e->base.n, out.c, out.h, out.w};
    pd->dst_any = dd_like_md(dd_value_md(b, nd->in[0]), 4, ddims); /* keep the network's layout */
}

static dy_status forward_pd(dd_builder *b, const dd_group *gr, const pool_descs *p, dnnl_primitive_desc_t *pd) {
    dnnl_pooling_v2_desc_t desc;
    DD_TRY(b,
           dnnl_pooling_v2_forward_desc_init(&desc, b->train ? dnnl_forward_training : dnnl_forward_inference,
                                             p->alg, dd_value_md(b, b->g->nodes[gr->main].in[0]), &p->dst_any,
                                             p->strides, p->kernel, p->dilation, p->pad, p->pad),
           "pooling forward descriptor");
    return dd_pd_create(b, pd, &desc, NULL, NULL, "pooling forward");
}

dy_status dd_pool_forward(dd_builder *b, const dd_group *gr) {
    const int32_t in = b->g->nodes[gr->main].in[0], out = gr->last + 1;
    pool_descs p;
    describe(b, gr, &p);
    dnnl_primitive_desc_t pd;
    DY_TRY(forward_pd(b, gr, &p, &pd));
    int32_t m_dst = dd_arena_mem(b, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0));
    int32_t m_ws = -1;
    if (b->train && p.alg == dnnl_pooling_max)
        m_ws = dd_arena_mem(b, dnnl_primitive_desc_query_md(pd, dnnl_query_workspace_md, 0));
    if (m_dst < 0 || (b->train && p.alg == dnnl_pooling_max && m_ws < 0)) {
        dnnl_primitive_desc_destroy(pd);
        return dd_nomem(b);
    }
    DY_TRY(dd_add_primitive(b, pd,
                            (int[]){DNNL_ARG_SRC, b->value_mem[in], DNNL_ARG_DST, m_dst,
                                    m_ws >= 0 ? DNNL_ARG_WORKSPACE : -1, m_ws, -1}));
    b->value_mem[out] = m_dst;
    b->aux[gr->main][2] = m_ws;
    return DY_OK;
}

dy_status dd_pool_backward(dd_builder *b, const dd_group *gr) {
    const int32_t in = b->g->nodes[gr->main].in[0], out = gr->last + 1;
    pool_descs p;
    describe(b, gr, &p);
    dnnl_primitive_desc_t hint, pd;
    DY_TRY(forward_pd(b, gr, &p, &hint));
    dnnl_pooling_v2_desc_t desc;
    dy_status st = dd_check(b,
                            dnnl_pooling_v2_backward_desc_init(&desc, p.alg, dd_value_md(b, in), dd_value_md(b, out),
                                                               p.strides, p.kernel, p.dilation, p.pad, p.pad),
                            "pooling backward descriptor");
    if (st == DY_OK) st = dd_pd_create(b, &pd, &desc, NULL, hint, "pooling backward");
    dnnl_primitive_desc_destroy(hint);
    if (st != DY_OK) return st;
    int32_t m_dy = dd_diff_get(b, out);
    int32_t m_dx = dd_diff_target(b, in, -1);
    if (m_dx < 0) {
        dnnl_primitive_desc_destroy(pd);
        return dd_nomem(b);
    }
    int32_t m_ws = b->aux[gr->main][2];
    DY_TRY(dd_add_primitive(b, pd,
                            (int[]){DNNL_ARG_DIFF_DST, m_dy, DNNL_ARG_DIFF_SRC, m_dx,
                                    m_ws >= 0 ? DNNL_ARG_WORKSPACE : -1, m_ws, -1}));
    dd_diff_release(b, out);
    return dd_diff_commit(b, in, m_dx);
}
