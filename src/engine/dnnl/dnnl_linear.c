/* Linear groups: inner product on the layout of its input (4-D blocked after the global pool, 2-D [n, c] inside
 * the head). The PyTorch weight [out, in] is the plain oihw (or oi) layout of the primitive's weights.
 * Linears run in f32 in both precisions: a bf16 input (the encoder's features) is converted first, so that the
 * projection head and what the loss sees are f32 (the head is a small part of a step). */
#include "engine/dnnl/dnnl_exec_internal.h"

typedef struct {
    dnnl_memory_desc_t weights_any, weights_plain, bias, dst_any;
    bool has_bias;
} linear_descs;

/* The memory the linear reads: its input, or an f32 copy of it made in forward (kept for backward). */
static int32_t src_mem(dd_builder *b, const dd_group *gr) {
    const int32_t copy = b->aux[gr->main][0];
    return copy >= 0 ? copy : b->value_mem[b->g->nodes[gr->main].in[0]];
}

static void describe(dd_builder *b, const dd_group *gr, linear_descs *ld) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const dnnl_memory_desc_t *src = dd_md(b, src_mem(b, gr));
    dnnl_dims_t wdims = {nd->channels, 1, 1, 1};
    for (int k = 1; k < src->ndims; k++) wdims[k] = src->dims[k];
    dnnl_memory_desc_init_by_tag(&ld->weights_any, src->ndims, wdims, dnnl_f32, dnnl_format_tag_any);
    ld->weights_plain = dd_plain_md(src->ndims, wdims);
    dnnl_dims_t bdims = {nd->channels};
    dnnl_memory_desc_init_by_tag(&ld->bias, 1, bdims, dnnl_f32, dnnl_x);
    dnnl_dims_t ddims = {b->e->base.n, nd->channels};
    dnnl_memory_desc_init_by_tag(&ld->dst_any, 2, ddims, dnnl_f32, dnnl_format_tag_any);
    ld->has_bias = nd->bias >= 0;
}

static dy_status forward_pd(dd_builder *b, const dd_group *gr, const linear_descs *ld, dnnl_primitive_desc_t *pd) {
    dnnl_inner_product_desc_t desc;
    DD_TRY(b,
           dnnl_inner_product_forward_desc_init(&desc, b->train ? dnnl_forward_training : dnnl_forward_inference,
                                                dd_md(b, src_mem(b, gr)), &ld->weights_any,
                                                ld->has_bias ? &ld->bias : NULL, &ld->dst_any),
           "linear forward descriptor");
    return dd_pd_create(b, pd, &desc, NULL, NULL, "linear forward");
}

dy_status dd_linear_forward(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
    if (dd_value_md(b, in)->data_type != dnnl_f32) {
        const dnnl_memory_desc_t f32 = dd_f32_md(dd_value_md(b, in));
        const int32_t copy = dd_arena_mem(b, &f32);
        if (copy < 0) return dd_nomem(b);
        DY_TRY(dd_add_reorder(b, b->value_mem[in], copy));
        b->aux[gr->main][0] = copy;
    }
    linear_descs ld;
    describe(b, gr, &ld);
    dnnl_primitive_desc_t pd;
    DY_TRY(forward_pd(b, gr, &ld, &pd));
    int32_t m_w = -1;
    dy_status st = dd_weights_in(b, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &ld.weights_plain,
                                 DD_PARAMS, nd->weight, &m_w);
    int32_t m_dst = dd_arena_mem(b, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0));
    int32_t m_bias = ld.has_bias ? dd_user_mem(b, &ld.bias, DD_PARAMS, nd->bias) : -1;
    if (st != DY_OK || m_dst < 0) {
        dnnl_primitive_desc_destroy(pd);
        return st != DY_OK ? st : dd_nomem(b);
    }
    DY_TRY(dd_add_primitive(b, pd,
                            (int[]){DNNL_ARG_SRC, src_mem(b, gr), DNNL_ARG_WEIGHTS, m_w, DNNL_ARG_DST, m_dst,
                                    m_bias >= 0 ? DNNL_ARG_BIAS : -1, m_bias, -1}));
    b->value_mem[out] = m_dst;
    return DY_OK;
}

dy_status dd_linear_backward(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
    linear_descs ld;
    describe(b, gr, &ld);
    const int32_t m_src = src_mem(b, gr);
    const dnnl_memory_desc_t *src = dd_md(b, m_src), *dst = dd_value_md(b, out);
    int32_t m_dy = dd_diff_get(b, out);
    dnnl_primitive_desc_t hint, pd_w = NULL, pd_d = NULL;
    DY_TRY(forward_pd(b, gr, &ld, &hint));
    dnnl_inner_product_desc_t wdesc, ddesc;
    dy_status st = dd_check(b,
                            dnnl_inner_product_backward_weights_desc_init(&wdesc, src, &ld.weights_any,
                                                                          ld.has_bias ? &ld.bias : NULL, dst),
                            "linear backward-weights descriptor");
    if (st == DY_OK) st = dd_pd_create(b, &pd_w, &wdesc, NULL, hint, "linear backward weights");
    if (st == DY_OK)
        st = dd_check(b, dnnl_inner_product_backward_data_desc_init(&ddesc, src, &ld.weights_any, dst),
                      "linear backward-data descriptor");
    if (st == DY_OK) st = dd_pd_create(b, &pd_d, &ddesc, NULL, hint, "linear backward data");
    if (st == DY_OK)
        st = dd_weighted_backward(b, nd, in, pd_w, pd_d, m_src, m_dy, &ld.weights_plain, &ld.bias, src);
    else if (pd_w) dnnl_primitive_desc_destroy(pd_w);
    dnnl_primitive_desc_destroy(hint);
    dd_diff_release(b, out);
    return st;
}
