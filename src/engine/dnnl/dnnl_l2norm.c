/* The L2-normalisation group: the reference op (engine/ref) on a plain [n, d] copy of its input, run as a plain-C
 * item between primitives (oneDNN has no primitive for it). */
#include "engine/dnnl/dnnl_exec_internal.h"

dy_status dd_l2norm_forward(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
    const dnnl_memory_desc_t *md = dd_value_md(b, in);
    dnnl_memory_desc_t plain = dd_plain_md(md->ndims, md->dims);
    int32_t m_x = b->value_mem[in];
    if (!dd_md_equal(md, &plain)) {
        m_x = dd_arena_mem(b, &plain);
        if (m_x < 0) return dd_nomem(b);
        DY_TRY(dd_add_reorder(b, b->value_mem[in], m_x));
    }
    const int32_t m_y = dd_arena_mem(b, &plain);
    dd_item *it = m_y < 0 ? NULL : dd_add_item(b, DD_ITEM_L2NORM_FORWARD);
    if (!it) return dd_nomem(b);
    it->l2norm_forward = (dd_l2norm_forward_item){.x = m_x, .y = m_y, .rows = b->e->base.n,
                                                  .cols = dd_value_elems(b, in) / b->e->base.n, .eps = nd->eps};
    b->value_mem[out] = m_y;
    b->aux[gr->main][0] = m_x; /* the plain input, kept for backward */
    return DY_OK;
}

dy_status dd_l2norm_backward(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
    const int32_t m_x = b->aux[gr->main][0];
    const int32_t m_dy = dd_diff_get(b, out);
    dd_diff_release(b, out);
    int32_t m_dx = dd_arena_mem(b, dd_md(b, m_x)); /* plain */
    dd_item *it = m_dx < 0 ? NULL : dd_add_item(b, DD_ITEM_L2NORM_BACKWARD);
    if (!it) return dd_nomem(b);
    it->l2norm_backward = (dd_l2norm_backward_item){.x = m_x, .dy = m_dy, .dx = m_dx, .rows = b->e->base.n,
                                                    .cols = dd_value_elems(b, in) / b->e->base.n, .eps = nd->eps};
    if (!dd_md_equal(dd_md(b, m_dx), dd_value_md(b, in))) {
        int32_t m_v = dd_diff_target(b, in, -1);
        if (m_v < 0) return dd_nomem(b);
        DY_TRY(dd_add_reorder(b, m_dx, m_v));
        m_dx = m_v;
    }
    return dd_diff_commit(b, in, m_dx);
}
