/* Convolution groups. Training: one convolution (forward, backward data, backward weights). Evaluation: the
 * convolution with the following batch norm folded into its weights and bias, then optionally the residual add
 * (a sum post-op writing over the shortcut) and the ReLU (an eltwise post-op): one primitive per ResNet stage. */
#include <string.h>

#include "engine/dnnl/dnnl_exec_internal.h"

typedef struct {
    dnnl_memory_desc_t src, src_any, weights_any, weights_plain, bias, dst_any;
    dnnl_memory_desc_t diff_weights_any; /* f32 whatever the activations (bf16: oneDNN sums them in f32) */
    dnnl_dims_t strides, pad, pad_r;
    bool has_bias;
} conv_descs;

static void describe(dd_builder *b, const dd_group *gr, conv_descs *cd) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const dy_value_shape in = b->shapes[nd->in[0]], out = b->shapes[gr->main + 1];
    cd->src = *dd_value_md(b, nd->in[0]);
    /* The image may be reordered to the layout the first convolution likes; every other convolution reads its
     * input where the previous primitives left it, so that one layout runs through the network. */
    if (nd->in[0] == 0) dnnl_memory_desc_init_by_tag(&cd->src_any, 4, cd->src.dims, b->act, dnnl_format_tag_any);
    else cd->src_any = cd->src;
    dnnl_dims_t wdims = {nd->channels, in.c, nd->kernel_h, nd->kernel_w};
    dnnl_dims_t ddims = {b->e->base.n, out.c, out.h, out.w};
    dnnl_dims_t bdims = {nd->channels};
    /* bf16: weights reordered from the f32 parameters each pass, bias (evaluation's folded one) left in f32 */
    dnnl_memory_desc_init_by_tag(&cd->weights_any, 4, wdims, b->act, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&cd->diff_weights_any, 4, wdims, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&cd->weights_plain, 4, wdims, dnnl_f32, dnnl_oihw);
    dnnl_memory_desc_init_by_tag(&cd->dst_any, 4, ddims, b->act, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&cd->bias, 1, bdims, dnnl_f32, dnnl_x);
    /* Per direction (k = 0 rows, 1 columns). PyTorch pads both sides by pad and drops what the last window does not
     * reach; oneDNN is told the right padding the last window really uses (smaller than pad, or negative, when the
     * stride leaves a remainder), which describes the same convolution exactly.
     * bf16: oneDNN 2.6's jit_bf16 backward-weights kernel runs a strided 3x3 convolution 20-50x slower when its
     * right padding is below its left (1 s instead of 30 ms for ResNet-18's stride-2 convolutions at width 16,
     * batch 256); PyTorch's symmetric padding, whose extra row and column no window reaches, gives the same output
     * size and the same convolution, and the fast kernel. */
    for (int k = 0; k < 2; k++) {
        const int64_t in_k = k ? in.w : in.h, out_k = k ? out.w : out.h;
        const int64_t kernel = k ? nd->kernel_w : nd->kernel_h, stride = k ? nd->stride_w : nd->stride_h;
        const int64_t pad = k ? nd->pad_w : nd->pad_h;
        cd->strides[k] = stride;
        cd->pad[k] = pad;
        cd->pad_r[k] = (out_k - 1) * stride + kernel - in_k - pad;
        if (b->act == dnnl_bf16 && cd->pad_r[k] < pad && (in_k + 2 * pad - kernel) / stride + 1 == out_k)
            cd->pad_r[k] = pad;
    }
    cd->has_bias = nd->bias >= 0 || (!b->train && gr->bn >= 0);
}

/* The algorithm for one pass of a convolution. Winograd F(4x4, 3x3) (the context's DY_CONV_WINOGRAD) only where it
 * can pay: 3x3, stride 1, at least 64 channels in and out, not the stem (its 3 input channels would be padded to
 * 16). Measured alone (oneDNN 2.6, one thread, this machine loaded by other work: ratios only), against direct: at
 * 16 channels 32x32 Winograd took 1.7-7x as long (its transforms stream the data), at 32 channels about the same,
 * at 64-256 channels of 16x16 to 4x4 it was 1.1-3.5x faster in most passes, with exceptions. */
static dnnl_alg_kind_t conv_algo(const dd_builder *b, const dy_node *nd) {
    const int64_t in_c = dy_graph_value_channels(b->g, nd->in[0]);
    return b->ctx->conv_algo == DY_CONV_WINOGRAD && nd->kernel_h == 3 && nd->kernel_w == 3 && nd->stride_h == 1 &&
                   nd->stride_w == 1 && nd->in[0] != 0 && in_c >= 64 && nd->channels >= 64
               ? dnnl_convolution_winograd
               : dnnl_convolution_direct;
}

static dy_status forward_pd(dd_builder *b, const dd_group *gr, const conv_descs *cd, dnnl_primitive_attr_t attr,
                            dnnl_primitive_desc_t *pd) {
    dnnl_convolution_desc_t desc;
    const dnnl_prop_kind_t prop = b->train ? dnnl_forward_training : dnnl_forward_inference;
    const dnnl_memory_desc_t *bias = cd->has_bias ? &cd->bias : NULL;
    /* Layouts: nChw16c when the channels fill whole 16-blocks and oneDNN runs AVX-512 (its kernels' own blocking),
     * nhwc otherwise: for other channel counts (oneDNN 2.6 gave wrong training results on zero-padded nChw16c
     * tensors of 4 and 8 channels), and on CPUs below AVX-512, where oneDNN 2.6 has no kernel for nChw16c (it fell
     * back to its reference convolutions, 200x slower) and its AVX2 nChw8c path gave wrong weight gradients through
     * ResNet's strided blocks (tests/test_dnnl_exec.c's AVX2 pass). A convolution keeps the layout of its input
     * where it can, so that one layout runs through the network and nothing is reordered between layers. Left to
     * choose, oneDNN switches layouts along the way. */
    {
        const dnnl_memory_desc_t *src = &cd->src;
        const bool avx512 = (dnnl_get_effective_cpu_isa() & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core;
        dnnl_memory_desc_t nchw16c, nhwc, want;
        dnnl_memory_desc_init_by_tag(&nchw16c, 4, cd->dst_any.dims, b->act, dnnl_aBcd16b);
        dnnl_memory_desc_init_by_tag(&nhwc, 4, cd->dst_any.dims, b->act, dnnl_acdb);
        bool input_nhwc = b->g->nodes[gr->main].in[0] != 0 && dd_md_is(src, dnnl_acdb, src->data_type);
        /* DY_LAYOUT_NHWC: channels-last throughout, where oneDNN has its brgemm (and, on AMX CPUs, AMX) kernels */
        want = avx512 && cd->dst_any.dims[1] % 16 == 0 && !input_nhwc && b->ctx->layout != DY_LAYOUT_NHWC ? nchw16c
                                                                                                         : nhwc;
        /* Winograd where asked for and oneDNN has it for this layer; else direct */
        const dnnl_alg_kind_t alg = conv_algo(b, &b->g->nodes[gr->main]);
        if (alg != dnnl_convolution_direct &&
            dnnl_convolution_forward_desc_init(&desc, prop, alg, &cd->src_any, &cd->weights_any, bias, &want,
                                               cd->strides, cd->pad, cd->pad_r) == dnnl_success &&
            dnnl_primitive_desc_create(pd, &desc, attr ? attr : b->attr_plain, b->engine, NULL) == dnnl_success)
            return DY_OK;
        if (dnnl_convolution_forward_desc_init(&desc, prop, dnnl_convolution_direct, &cd->src_any, &cd->weights_any,
                                               bias, &want, cd->strides, cd->pad, cd->pad_r) == dnnl_success &&
            dnnl_primitive_desc_create(pd, &desc, attr ? attr : b->attr_plain, b->engine, NULL) == dnnl_success)
            return DY_OK;
    }
    DD_TRY(b,
           dnnl_convolution_forward_desc_init(&desc, prop, dnnl_convolution_direct, &cd->src_any, &cd->weights_any,
                                              bias, &cd->dst_any, cd->strides, cd->pad, cd->pad_r),
           "convolution forward descriptor");
    return dd_pd_create(b, pd, &desc, attr, NULL, "convolution forward");
}

/* Evaluation: the batch norm's scale and shift folded into plain weights and bias, each forward (the parameters
 * and running statistics may change between calls). */
static dy_status fold_bn(dd_builder *b, const dd_group *gr, const conv_descs *cd, int32_t *w_plain,
                         int32_t *bias) {
    const dy_node *conv = &b->g->nodes[gr->main], *bn = &b->g->nodes[gr->bn];
    if (bn->running_mean < 0 || bn->running_var < 0)
        return dy_fail(b->ctx, DY_ERR_UNSUPPORTED, "oneDNN executor: batch norm %s has no running statistics",
                       bn->name);
    *w_plain = dd_arena_mem(b, &cd->weights_plain);
    *bias = dd_arena_mem(b, &cd->bias);
    const dnnl_memory_desc_t *cmd = &cd->bias;
    dd_fold_bn_item f = {
        .weight = dd_user_mem(b, &cd->weights_plain, DD_PARAMS, conv->weight),
        .bias = conv->bias >= 0 ? dd_user_mem(b, cmd, DD_PARAMS, conv->bias) : -1,
        .gamma = bn->weight >= 0 ? dd_user_mem(b, cmd, DD_PARAMS, bn->weight) : -1,
        .beta = bn->bias >= 0 ? dd_user_mem(b, cmd, DD_PARAMS, bn->bias) : -1,
        .running_mean = dd_user_mem(b, cmd, DD_STATE, bn->running_mean),
        .running_var = dd_user_mem(b, cmd, DD_STATE, bn->running_var),
        .weight_out = *w_plain, .bias_out = *bias, .channels = conv->channels,
        .per_channel = cd->weights_plain.dims[1] * cd->weights_plain.dims[2] * cd->weights_plain.dims[3],
        .eps = bn->eps};
    dd_item *it = *w_plain < 0 || *bias < 0 || f.weight < 0 || f.running_mean < 0 || f.running_var < 0
                      ? NULL
                      : dd_add_item(b, DD_ITEM_FOLD_BN);
    if (!it) return dd_nomem(b);
    it->fold = f;
    return DY_OK;
}

dy_status dd_conv_forward(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->last + 1;
    conv_descs cd;
    describe(b, gr, &cd);
    dnnl_primitive_attr_t attr = NULL;
    DY_TRY(dd_attr_create(b, &attr, gr->add >= 0, gr->relu >= 0));
    dnnl_primitive_desc_t pd;
    dy_status st = forward_pd(b, gr, &cd, attr, &pd);
    dnnl_primitive_attr_destroy(attr);
    if (st != DY_OK) return st;
    const dnnl_memory_desc_t wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t dmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);

    int32_t m_w = -1, m_bias = -1;
    if (!b->train && gr->bn >= 0) {
        int32_t w_plain = -1;
        st = fold_bn(b, gr, &cd, &w_plain, &m_bias);
        if (st == DY_OK && !dd_md_equal(&wmd, &cd.weights_plain)) {
            m_w = dd_arena_mem(b, &wmd);
            st = m_w < 0 ? dd_nomem(b) : dd_add_reorder(b, w_plain, m_w);
        } else {
            m_w = w_plain;
        }
    } else {
        st = dd_weights_in(b, &wmd, &cd.weights_plain, DD_PARAMS, nd->weight, &m_w);
        if (st == DY_OK && nd->bias >= 0) m_bias = dd_user_mem(b, &cd.bias, DD_PARAMS, nd->bias);
    }
    if (st != DY_OK) {
        dnnl_primitive_desc_destroy(pd);
        return st;
    }

    /* the image in the first convolution's layout (kept for backward in training) */
    int32_t m_src = b->value_mem[in];
    const dnnl_memory_desc_t smd = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    if (!dd_md_equal(&smd, dd_md(b, m_src))) {
        m_src = dd_arena_mem(b, &smd);
        st = m_src < 0 ? dd_nomem(b)
                       : dd_add_reorder(b, b->value_mem[in], m_src);
        if (st != DY_OK) {
            dnnl_primitive_desc_destroy(pd);
            return st;
        }
    }
    b->aux[gr->main][0] = m_src;

    int32_t m_dst;
    if (gr->add >= 0) {
        /* The sum post-op adds the convolution into what dst holds: the shortcut, in place when it dies here. */
        int32_t other = gr->add_other;
        int32_t m_other = b->value_mem[other];
        if (dd_value_dies(b, other, gr) && dd_md_equal(dd_md(b, m_other), &dmd)) {
            m_dst = m_other;
        } else {
            m_dst = dd_arena_mem(b, &dmd);
            if (m_dst >= 0) st = dd_add_reorder(b, m_other, m_dst);
        }
    } else {
        m_dst = dd_arena_mem(b, &dmd);
    }
    if (st != DY_OK || m_dst < 0) {
        dnnl_primitive_desc_destroy(pd);
        return st != DY_OK ? st : dd_nomem(b);
    }
    int args[] = {DNNL_ARG_SRC, m_src, DNNL_ARG_WEIGHTS, m_w, DNNL_ARG_DST, m_dst,
                  m_bias >= 0 ? DNNL_ARG_BIAS : -1, m_bias, -1};
    DY_TRY(dd_add_primitive(b, pd, args));
    b->value_mem[out] = m_dst;
    return DY_OK;
}

/* oneDNN 2.6's jit_1x1 backward-weights kernels write past their scratchpad on a strided 1x1 convolution whose
 * input is channels-last with fewer channels than a vector block (issue 10 item 1: ResNet's layer2.0.downsample.0
 * at widths below 16 corrupted the heap, then crashed). Such a convolution first gathers the strided input ("rtus",
 * reduce to unit stride) into a per-thread buffer booked as is * ic floats (src/cpu/x64/jit_uni_1x1_conv_utils.hpp
 * :121-122 in v2.6.3), but places each chunk at sp * ic_block (jit_avx512_common_1x1_convolution.cpp:823-825;
 * jit_avx2_1x1_convolution.cpp:631-633 alike): with ic < ic_block the later chunks run into the next thread's
 * part and past the end. Still so in oneDNN 3.5. Those convolutions take the next implementation oneDNN offers. */
static bool rtus_overflows(const dy_node *nd, const dnnl_memory_desc_t *src) {
    return nd->kernel_h == 1 && nd->kernel_w == 1 && (nd->stride_h > 1 || nd->stride_w > 1) && src->dims[1] < 16 &&
           dd_md_is(src, dnnl_acdb, src->data_type);
}

static dy_status backward_weights_pd(dd_builder *b, const dy_node *nd, const conv_descs *cd,
                                     const dnnl_convolution_desc_t *desc, const_dnnl_primitive_desc_t hint,
                                     dnnl_primitive_desc_t *pd) {
    const char *what = "convolution backward weights";
    if (!rtus_overflows(nd, &cd->src)) return dd_pd_create(b, pd, desc, NULL, hint, what);
    dnnl_primitive_desc_iterator_t iter;
    DD_TRY(b, dnnl_primitive_desc_iterator_create(&iter, desc, b->attr_plain, b->engine, hint), what);
    *pd = NULL;
    do {
        dnnl_primitive_desc_t cand = dnnl_primitive_desc_iterator_fetch(iter);
        const char *impl = NULL;
        if (cand && dnnl_primitive_desc_query(cand, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
            strncmp(impl, "jit_1x1", 7) != 0) {
            *pd = cand;
            break;
        }
        if (cand) dnnl_primitive_desc_destroy(cand);
    } while (dnnl_primitive_desc_iterator_next(iter) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(iter);
    if (!*pd)
        return dy_fail(b->ctx, DY_ERR_UNSUPPORTED, "oneDNN: no implementation for %s of %s without jit_1x1", what,
                       nd->name);
    return DY_OK;
}

dy_status dd_conv_backward(dd_builder *b, const dd_group *gr) {
    const dy_node *nd = &b->g->nodes[gr->main];
    const int32_t in = nd->in[0], out = gr->main + 1;
    conv_descs cd;
    describe(b, gr, &cd);
    const int32_t m_src = b->aux[gr->main][0];
    cd.src = *dd_md(b, m_src); /* the layout the forward convolution read */
    const dnnl_memory_desc_t *dst = dd_value_md(b, out);
    int32_t m_dy = dd_diff_get(b, out);
    dnnl_primitive_desc_t hint;
    DY_TRY(forward_pd(b, gr, &cd, NULL, &hint));

    dnnl_convolution_desc_t wdesc, ddesc;
    dnnl_primitive_desc_t pd_w = NULL, pd_d = NULL;
    /* Winograd where asked for and oneDNN has it (quietly direct otherwise), each pass on its own */
    const dnnl_alg_kind_t alg = conv_algo(b, nd);
    if (alg != dnnl_convolution_direct) {
        if (dnnl_convolution_backward_weights_desc_init(&wdesc, alg, &cd.src, &cd.diff_weights_any,
                                                        cd.has_bias ? &cd.bias : NULL, dst, cd.strides, cd.pad,
                                                        cd.pad_r) != dnnl_success ||
            dnnl_primitive_desc_create(&pd_w, &wdesc, b->attr_plain, b->engine, hint) != dnnl_success)
            pd_w = NULL;
        if (dnnl_convolution_backward_data_desc_init(&ddesc, alg, &cd.src, &cd.weights_any, dst, cd.strides, cd.pad,
                                                     cd.pad_r) != dnnl_success ||
            dnnl_primitive_desc_create(&pd_d, &ddesc, b->attr_plain, b->engine, hint) != dnnl_success)
            pd_d = NULL;
    }
    dy_status st = DY_OK;
    if (!pd_w) {
        st = dd_check(b,
                      dnnl_convolution_backward_weights_desc_init(&wdesc, dnnl_convolution_direct, &cd.src,
                                                                  &cd.diff_weights_any,
                                                                  cd.has_bias ? &cd.bias : NULL, dst, cd.strides,
                                                                  cd.pad, cd.pad_r),
                      "convolution backward-weights descriptor");
        if (st == DY_OK) st = backward_weights_pd(b, nd, &cd, &wdesc, hint, &pd_w);
    }
    if (st == DY_OK && !pd_d) {
        st = dd_check(b,
                      dnnl_convolution_backward_data_desc_init(&ddesc, dnnl_convolution_direct, &cd.src,
                                                               &cd.weights_any, dst, cd.strides, cd.pad, cd.pad_r),
                      "convolution backward-data descriptor");
        if (st == DY_OK) st = dd_pd_create(b, &pd_d, &ddesc, NULL, hint, "convolution backward data");
    }
    if (st == DY_OK)
        st = dd_weighted_backward(b, nd, in, pd_w, pd_d, m_src, m_dy, &cd.weights_plain, &cd.bias, &cd.src);
    else {
        if (pd_w) dnnl_primitive_desc_destroy(pd_w);
        if (pd_d) dnnl_primitive_desc_destroy(pd_d);
    }
    dnnl_primitive_desc_destroy(hint);
    dd_diff_release(b, out);
    return st;
}
