/* Building the executor's programs: memories, arena tensors, values, items, primitive descriptors, and the
 * bookkeeping of gradients in the backward program (assigned by the first contribution, summed by the later ones). */
#include <stdlib.h>
#include <string.h>

#include "engine/dnnl/dnnl_exec_internal.h"

dy_status dd_check(dd_builder *b, dnnl_status_t s, const char *what) {
    if (s == dnnl_success) return DY_OK;
    const dy_node *nd = b->node >= 0 && b->node < b->g->n_nodes ? &b->g->nodes[b->node] : NULL;
    if (s == dnnl_out_of_memory)
        return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN: out of memory in %s (node %d %s)", what, (int)b->node,
                       nd ? nd->name : "");
    if (s == dnnl_unimplemented)
        return dy_fail(b->ctx, DY_ERR_UNSUPPORTED, "oneDNN: no implementation for %s (node %d %s)", what,
                       (int)b->node, nd ? nd->name : "");
    return dy_fail(b->ctx, DY_ERR_INTERNAL, "oneDNN: %s failed with status %d (node %d %s)", what, (int)s,
                   (int)b->node, nd ? nd->name : "");
}

dy_status dd_nomem(dd_builder *b) {
    return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory for the program (node %d)", (int)b->node);
}

static int32_t new_mem(dd_builder *b, const dnnl_memory_desc_t *md, dd_where where, int64_t offset) {
    dd_exec *e = b->e;
    if (e->n_mems == e->cap_mems) {
        int32_t cap = e->cap_mems ? 2 * e->cap_mems : 256;
        dd_mem **m = realloc(e->mems, sizeof *m * (size_t)cap);
        if (!m) return -1;
        e->mems = m;
        e->cap_mems = cap;
    }
    dd_mem *m = calloc(1, sizeof *m);
    if (!m) return -1;
    e->mems[e->n_mems] = m;
    m->md = *md;
    m->where = where;
    m->offset = offset;
    return e->n_mems++;
}

int32_t dd_user_mem(dd_builder *b, const dnnl_memory_desc_t *md, dd_where where, int64_t offset) {
    return new_mem(b, md, where, offset);
}

static int32_t new_tensor(dd_builder *b, size_t bytes) {
    dd_exec *e = b->e;
    if (e->n_tensors == e->cap_tensors) {
        int32_t cap = e->cap_tensors ? 2 * e->cap_tensors : 256;
        dy_plan_block *t = realloc(e->tensors, sizeof *t * (size_t)cap);
        if (t) e->tensors = t;
        int32_t *r = t ? realloc(b->readers, sizeof *r * (size_t)cap) : NULL;
        if (!r) return -1;
        b->readers = r;
        e->cap_tensors = cap;
    }
    e->tensors[e->n_tensors] = (dy_plan_block){.bytes = (int64_t)bytes, .first = -1, .last = -1};
    b->readers[e->n_tensors] = 0;
    return e->n_tensors++;
}

int32_t dd_arena_mem(dd_builder *b, const dnnl_memory_desc_t *md) {
    int32_t t = new_tensor(b, dnnl_memory_desc_get_size(md));
    if (t < 0) return -1;
    return new_mem(b, md, DD_ARENA, t);
}

const dnnl_memory_desc_t *dd_md(dd_builder *b, int32_t mem) { return &b->e->mems[mem]->md; }

bool dd_md_equal(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b) {
    return dnnl_memory_desc_equal(a, b) != 0;
}

const dnnl_memory_desc_t *dd_value_md(dd_builder *b, int32_t value) { return dd_md(b, b->value_mem[value]); }

int64_t dd_value_elems(dd_builder *b, int32_t value) {
    const dnnl_memory_desc_t *md = dd_value_md(b, value);
    int64_t n = 1;
    for (int k = 0; k < md->ndims; k++) n *= md->dims[k];
    return n;
}

bool dd_value_dies(dd_builder *b, int32_t value, const dd_group *gr) {
    if (value == 0 || b->needed_backward[value] || b->last_use[value] != gr->last) return false;
    return b->e->mems[b->value_mem[value]]->where == DD_ARENA;
}

dnnl_memory_desc_t dd_plain_md(int ndims, const int64_t *dims) {
    dnnl_memory_desc_t md;
    static const dnnl_format_tag_t tags[] = {dnnl_format_tag_undef, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd};
    dnnl_memory_desc_init_by_tag(&md, ndims, dims, dnnl_f32, tags[ndims]);
    return md;
}

dnnl_memory_desc_t dd_like_md(const dnnl_memory_desc_t *like, int ndims, const int64_t *dims) {
    static const dnnl_format_tag_t tags4[] = {dnnl_aBcd16b, dnnl_aBcd8b, dnnl_acdb, dnnl_abcd};
    const dnnl_data_type_t dt = like->data_type;
    dnnl_memory_desc_t md;
    if (like->ndims == 4 && ndims == 4)
        for (size_t k = 0; k < sizeof tags4 / sizeof tags4[0]; k++) {
            dnnl_memory_desc_init_by_tag(&md, 4, like->dims, dt, tags4[k]);
            if (dnnl_memory_desc_equal(&md, like)) {
                dnnl_memory_desc_init_by_tag(&md, 4, dims, dt, tags4[k]);
                return md;
            }
        }
    dnnl_memory_desc_init_by_tag(&md, ndims, dims, dt, dnnl_format_tag_any);
    return md;
}

dnnl_memory_desc_t dd_f32_md(const dnnl_memory_desc_t *md) {
    dnnl_memory_desc_t f = *md;
    f.data_type = dnnl_f32;
    /* the extra (compensation) fields are unused here; a blocked descriptor's strides are in elements */
    return f;
}

bool dd_md_is(const dnnl_memory_desc_t *md, dnnl_format_tag_t tag, dnnl_data_type_t dt) {
    dnnl_memory_desc_t want;
    if (dnnl_memory_desc_init_by_tag(&want, md->ndims, md->dims, dt, tag) != dnnl_success) return false;
    return dnnl_memory_desc_equal(&want, md) != 0;
}

dd_item *dd_add_item(dd_builder *b, dd_item_kind kind) {
    dd_program *p = b->prog;
    if (p->n == p->cap) {
        int32_t cap = p->cap ? 2 * p->cap : 128;
        dd_item *it = realloc(p->items, sizeof *it * (size_t)cap);
        if (!it) return NULL;
        p->items = it;
        p->cap = cap;
    }
    dd_item *it = &p->items[p->n++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->node = b->node;
    it->dinput_only = b->dinput_only;
    return it;
}

dy_status dd_pd_create(dd_builder *b, dnnl_primitive_desc_t *pd, const void *op_desc, dnnl_primitive_attr_t attr,
                       const_dnnl_primitive_desc_t hint, const char *what) {
    return dd_check(b, dnnl_primitive_desc_create(pd, op_desc, attr ? attr : b->attr_plain, b->engine, hint), what);
}

dy_status dd_attr_create(dd_builder *b, dnnl_primitive_attr_t *attr, bool sum, bool relu) {
    DD_TRY(b, dnnl_primitive_attr_create(attr), "attribute creation");
    dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (sum || relu) {
        dnnl_post_ops_t po;
        DD_TRY(b, dnnl_post_ops_create(&po), "post-op creation");
        if (sum) dnnl_post_ops_append_sum(po, 1.0f);
        if (relu) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
        dnnl_status_t s = dnnl_primitive_attr_set_post_ops(*attr, po);
        dnnl_post_ops_destroy(po);
        DD_TRY(b, s, "post-op attribute");
    }
    return DY_OK;
}

dy_status dd_add_primitive(dd_builder *b, dnnl_primitive_desc_t pd, const int *arg_pairs) {
    dnnl_primitive_t prim = NULL;
    dnnl_status_t s = dnnl_primitive_create(&prim, pd);
    const dnnl_memory_desc_t *scratch = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t scratch_bytes = scratch ? dnnl_memory_desc_get_size(scratch) : 0;
    dnnl_memory_desc_t scratch_md;
    if (scratch_bytes) scratch_md = *scratch;
    dnnl_primitive_desc_destroy(pd);
    DD_TRY(b, s, "primitive creation");
    int32_t m_scratch = scratch_bytes ? new_mem(b, &scratch_md, DD_SCRATCH, 0) : -1;
    dd_item *it = scratch_bytes && m_scratch < 0 ? NULL : dd_add_item(b, DD_ITEM_PRIMITIVE);
    if (!it) {
        dnnl_primitive_destroy(prim);
        return dd_nomem(b);
    }
    dd_primitive_item *p = &it->prim;
    p->prim = prim;
    for (int k = 0; arg_pairs[2 * k] != -1; k++) {
        if (p->nargs >= DD_MAX_ARGS - 1)
            return dy_fail(b->ctx, DY_ERR_INTERNAL, "oneDNN executor: too many primitive arguments");
        if (arg_pairs[2 * k + 1] < 0)
            return dy_fail(b->ctx, DY_ERR_INTERNAL, "oneDNN executor: missing memory for argument %d (node %d)",
                           arg_pairs[2 * k], (int)b->node);
        p->args[p->nargs].arg = arg_pairs[2 * k];
        p->arg_mem[p->nargs++] = arg_pairs[2 * k + 1];
    }
    if (scratch_bytes) {
        p->args[p->nargs].arg = DNNL_ARG_SCRATCHPAD;
        p->arg_mem[p->nargs++] = m_scratch;
        if (scratch_bytes > b->e->scratch_bytes) b->e->scratch_bytes = scratch_bytes;
    }
    return DY_OK;
}

dy_status dd_add_reorder(dd_builder *b, int32_t src, int32_t dst) {
    dnnl_primitive_desc_t pd;
    DD_TRY(b,
           dnnl_reorder_primitive_desc_create(&pd, dd_md(b, src), b->engine, dd_md(b, dst), b->engine,
                                              b->attr_plain),
           "reorder");
    return dd_add_primitive(b, pd, (int[]){DNNL_ARG_FROM, src, DNNL_ARG_TO, dst, -1});
}

/* ---- gradients ---- */

static int32_t tensor_of(dd_builder *b, int32_t mem) {
    return b->e->mems[mem]->where == DD_ARENA ? (int32_t)b->e->mems[mem]->offset : -1;
}

bool dd_mem_free_now(dd_builder *b, int32_t mem) {
    int32_t t = tensor_of(b, mem);
    return t >= 0 && b->readers[t] == 0;
}

int32_t dd_diff_get(dd_builder *b, int32_t value) { return b->value_diff[value]; }

void dd_diff_release(dd_builder *b, int32_t value) {
    int32_t m = b->value_diff[value];
    int32_t t = m >= 0 ? tensor_of(b, m) : -1;
    if (t >= 0 && b->readers[t] > 0) b->readers[t]--;
}

int32_t dd_diff_target(dd_builder *b, int32_t value, int32_t inplace_mem) {
    const dnnl_memory_desc_t *md = dd_md(b, b->value_mem[value]);
    if (b->value_diff[value] < 0 && inplace_mem >= 0 && dd_mem_free_now(b, inplace_mem) &&
        dd_md_equal(dd_md(b, inplace_mem), md))
        return inplace_mem;
    return dd_arena_mem(b, md);
}

dy_status dd_diff_commit(dd_builder *b, int32_t value, int32_t mem) {
    if (mem < 0) return dd_nomem(b);
    if (!dd_md_equal(dd_md(b, mem), dd_md(b, b->value_mem[value]))) {
        /* a gradient computed in another layout (an add of two differently blocked values) */
        int32_t conv = dd_arena_mem(b, dd_md(b, b->value_mem[value]));
        if (conv < 0) return dd_nomem(b);
        DY_TRY(dd_add_reorder(b, mem, conv));
        mem = conv;
    }
    int32_t have = b->value_diff[value];
    if (have < 0) { /* the first contribution: assigned */
        b->value_diff[value] = mem;
        int32_t t = tensor_of(b, mem);
        if (t >= 0) b->readers[t]++;
        return DY_OK;
    }
    if (have == mem) return DY_OK;
    /* A later contribution is summed; in place unless another pending gradient still reads that tensor. */
    int32_t t = tensor_of(b, have);
    int32_t dst = have;
    if (t < 0 || b->readers[t] > 1) {
        dst = dd_arena_mem(b, dd_md(b, have));
        if (dst < 0) return dd_nomem(b);
    }
    dnnl_binary_desc_t desc;
    DD_TRY(b, dnnl_binary_desc_init(&desc, dnnl_binary_add, dd_md(b, have), dd_md(b, mem), dd_md(b, dst)),
           "gradient sum");
    dnnl_primitive_desc_t pd;
    DY_TRY(dd_pd_create(b, &pd, &desc, NULL, NULL, "gradient sum"));
    DY_TRY(dd_add_primitive(b, pd, (int[]){DNNL_ARG_SRC_0, have, DNNL_ARG_SRC_1, mem, DNNL_ARG_DST, dst, -1}));
    if (dst != have) {
        dd_diff_release(b, value);
        b->value_diff[value] = dst;
        b->readers[tensor_of(b, dst)]++;
    }
    return DY_OK;
}

/* ---- weights ---- */

dy_status dd_weights_in(dd_builder *b, const dnnl_memory_desc_t *want, const dnnl_memory_desc_t *plain,
                        dd_where where, int64_t offset, int32_t *mem) {
    int32_t user = dd_user_mem(b, plain, where, offset);
    if (user < 0) return dd_nomem(b);
    if (dd_md_equal(want, plain)) {
        *mem = user;
        return DY_OK;
    }
    *mem = dd_arena_mem(b, want);
    if (*mem < 0) return dd_nomem(b);
    return dd_add_reorder(b, user, *mem);
}

dy_status dd_weights_out(dd_builder *b, const dnnl_memory_desc_t *have, const dnnl_memory_desc_t *plain,
                         int64_t offset, int32_t *mem, int32_t *user_mem) {
    *user_mem = dd_user_mem(b, plain, DD_GRADS, offset);
    if (*user_mem < 0) return dd_nomem(b);
    if (dd_md_equal(have, plain)) {
        *mem = *user_mem;
        return DY_OK;
    }
    *mem = dd_arena_mem(b, have);
    if (*mem < 0) return dd_nomem(b);
    return DY_OK;
}

dy_status dd_weights_out_finish(dd_builder *b, int32_t mem, int32_t user_mem) {
    if (mem == user_mem) return DY_OK;
    return dd_add_reorder(b, mem, user_mem);
}

dy_status dd_weighted_backward(dd_builder *b, const dy_node *nd, int32_t in, dnnl_primitive_desc_t pd_weights,
                               dnnl_primitive_desc_t pd_data, int32_t m_src, int32_t m_dy,
                               const dnnl_memory_desc_t *weights_plain, const dnnl_memory_desc_t *bias,
                               const dnnl_memory_desc_t *dx) {
    int32_t m_dw = -1, m_dw_user = -1;
    dy_status st = dd_weights_out(b, dnnl_primitive_desc_query_md(pd_weights, dnnl_query_diff_weights_md, 0),
                                  weights_plain, nd->weight, &m_dw, &m_dw_user);
    if (st != DY_OK) {
        dnnl_primitive_desc_destroy(pd_weights);
        dnnl_primitive_desc_destroy(pd_data);
        return st;
    }
    const int32_t m_db = nd->bias >= 0 ? dd_user_mem(b, bias, DD_GRADS, nd->bias) : -1;
    st = dd_add_primitive(b, pd_weights,
                          (int[]){DNNL_ARG_SRC, m_src, DNNL_ARG_DIFF_DST, m_dy, DNNL_ARG_DIFF_WEIGHTS, m_dw,
                                  m_db >= 0 ? DNNL_ARG_DIFF_BIAS : -1, m_db, -1});
    if (st == DY_OK) st = dd_weights_out_finish(b, m_dw, m_dw_user);
    if (st != DY_OK) {
        dnnl_primitive_desc_destroy(pd_data);
        return st;
    }
    b->dinput_only = in == 0; /* the network input's gradient only when the caller asks for it */
    int32_t m_w = -1;
    st = dd_weights_in(b, dnnl_primitive_desc_query_md(pd_data, dnnl_query_weights_md, 0), weights_plain, DD_PARAMS,
                       nd->weight, &m_w);
    if (st != DY_OK) {
        dnnl_primitive_desc_destroy(pd_data);
    } else {
        const int32_t m_dx = dd_md_equal(dx, dd_value_md(b, in)) ? dd_diff_target(b, in, -1) : dd_arena_mem(b, dx);
        st = dd_add_primitive(b, pd_data,
                              (int[]){DNNL_ARG_DIFF_DST, m_dy, DNNL_ARG_WEIGHTS, m_w, DNNL_ARG_DIFF_SRC, m_dx, -1});
        if (st == DY_OK) st = dd_diff_commit(b, in, m_dx);
    }
    b->dinput_only = false;
    return st;
}
