/* ReLU groups and residual-add groups. The add runs as a binary primitive with the block's closing ReLU as an
 * eltwise post-op, in place over the branch that dies there. Backward of the ReLU uses the saved output (relu with
 * use_dst_for_bwd), and the add hands the same gradient to both of its inputs without a copy. */
#include "engine/dnnl/dnnl_exec_internal.h"

static dy_status relu_forward_pd(dd_builder *b, const dnnl_memory_desc_t *md, dnnl_primitive_desc_t *pd) {
    dnnl_eltwise_desc_t desc;
    DD_TRY(b,
           dnnl_eltwise_forward_desc_init(&desc, b->train ? dnnl_forward_training : dnnl_forward_inference,
                                          dnnl_eltwise_relu_use_dst_for_bwd, md, 0.0f, 0.0f),
           "relu forward descriptor");
    return dd_pd_create(b, pd, &desc, NULL, NULL, "relu forward");
}

/* d(src) of a ReLU from its output dst and d(dst); in place over d(dst) when nothing else reads it. */
static dy_status relu_backward(dd_builder *b, int32_t m_dst, int32_t m_ddst, int32_t m_dsrc) {
    const dnnl_memory_desc_t *md = dd_md(b, m_dst);
    dnnl_primitive_desc_t hint, pd;
    DY_TRY(relu_forward_pd(b, md, &hint));
    dnnl_eltwise_desc_t desc;
    dy_status st = dd_check(b, dnnl_eltwise_backward_desc_init(&desc, dnnl_eltwise_relu_use_dst_for_bwd, md, md, 0.0f, 0.0f),
                            "relu backward descriptor");
    if (st == DY_OK) st = dd_pd_create(b, &pd, &desc, NULL, hint, "relu backward");
    dnnl_primitive_desc_destroy(hint);
    if (st != DY_OK) return st;
    return dd_add_primitive(b, pd, (int[]){DNNL_ARG_DST, m_dst, DNNL_ARG_DIFF_DST, m_ddst, DNNL_ARG_DIFF_SRC, m_dsrc, -1});
}

dy_status dd_relu_forward(dd_builder *b, const dd_group *gr) {
    const int32_t in = b->g->nodes[gr->main].in[0], out = gr->last + 1;
    const dnnl_memory_desc_t *md = dd_value_md(b, in);
    dnnl_primitive_desc_t pd;
    DY_TRY(relu_forward_pd(b, md, &pd));
    int32_t m_dst = dd_value_dies(b, in, gr) ? b->value_mem[in] : dd_arena_mem(b, md);
    if (m_dst < 0) {
        dnnl_primitive_desc_destroy(pd);
        return dd_nomem(b);
    }
    DY_TRY(dd_add_primitive(b, pd, (int[]){DNNL_ARG_SRC, b->value_mem[in], DNNL_ARG_DST, m_dst, -1}));
    b->value_mem[out] = m_dst;
    return DY_OK;
}

dy_status dd_relu_backward(dd_builder *b, const dd_group *gr) {
    const int32_t in = b->g->nodes[gr->main].in[0], out = gr->last + 1;
    int32_t m_dy = dd_diff_get(b, out);
    dd_diff_release(b, out);
    int32_t m_dx = dd_diff_target(b, in, m_dy);
    if (m_dx < 0) return dd_nomem(b);
    DY_TRY(relu_backward(b, b->value_mem[out], m_dy, m_dx));
    return dd_diff_commit(b, in, m_dx);
}

dy_status dd_add_forward(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    int32_t in0 = nd->in[0], in1 = nd->in[1];
    const int32_t out = gr->last + 1;
    /* Binary primitives run in place over src0: put the input that dies here first (the sum commutes). */
    if (!dd_value_dies(b, in0, gr) && dd_value_dies(b, in1, gr)) {
        int32_t t = in0;
        in0 = in1, in1 = t;
    }
    const dnnl_memory_desc_t *md = dd_value_md(b, in0);
    int32_t m_src1 = b->value_mem[in1];
    if (!dd_md_equal(md, dd_value_md(b, in1))) {
        /* convolutions chose different blockings for the two branches (channel counts off the 16-blocks) */
        m_src1 = dd_arena_mem(b, md);
        if (m_src1 < 0) return dd_nomem(b);
        DY_TRY(dd_add_reorder(b, b->value_mem[in1], m_src1));
        md = dd_value_md(b, in0); /* the memory array may have moved */
    }
    dnnl_binary_desc_t desc;
    DD_TRY(b, dnnl_binary_desc_init(&desc, dnnl_binary_add, md, md, md), "add descriptor");
    dnnl_primitive_attr_t attr;
    DY_TRY(dd_attr_create(b, &attr, false, gr->relu >= 0));
    dnnl_primitive_desc_t pd;
    dy_status st = dd_pd_create(b, &pd, &desc, attr, NULL, "add");
    dnnl_primitive_attr_destroy(attr);
    if (st != DY_OK) return st;
    int32_t m_dst = dd_value_dies(b, in0, gr) ? b->value_mem[in0] : dd_arena_mem(b, md);
    if (m_dst < 0) {
        dnnl_primitive_desc_destroy(pd);
        return dd_nomem(b);
    }
    DY_TRY(dd_add_primitive(
        b, pd, (int[]){DNNL_ARG_SRC_0, b->value_mem[in0], DNNL_ARG_SRC_1, m_src1, DNNL_ARG_DST, m_dst, -1}));
    b->value_mem[out] = m_dst;
    return DY_OK;
}

dy_status dd_add_backward(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t out = gr->last + 1;
    int32_t m_dy = dd_diff_get(b, out);
    int32_t m_dsum = m_dy;
    if (gr->relu >= 0) {
        dd_diff_release(b, out);
        m_dsum = dd_mem_free_now(b, m_dy) ? m_dy : dd_arena_mem(b, dd_md(b, m_dy));
        if (m_dsum < 0) return dd_nomem(b);
        DY_TRY(relu_backward(b, b->value_mem[out], m_dy, m_dsum));
    }
    DY_TRY(dd_diff_commit(b, nd->in[0], m_dsum));
    DY_TRY(dd_diff_commit(b, nd->in[1], m_dsum));
    if (gr->relu < 0) dd_diff_release(b, out);
    return DY_OK;
}
