/* The oneDNN executor: cuts the graph into fused groups, builds the forward and backward programs once, plans
 * the arena, and runs the programs. See dnnl_exec_internal.h for the design. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dnnl/dnnl_exec_internal.h"

/* ---- values ---- */

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

/* ---- grouping ---- */

/* The node reading value v when it is the only reader, v is not an output of the network, and the reader is op. */
static int32_t only_reader(const dy_graph *g, const int32_t *n_consumers, const int32_t *reader, const bool *taken,
                           int32_t v, dy_op op) {
    if (v == g->features || v == g->output || n_consumers[v] != 1) return -1;
    int32_t r = reader[v];
    return g->nodes[r].op == op && !taken[r] ? r : -1;
}

static dy_status make_groups(dy_ctx *ctx, const dy_graph *g, bool train, dd_group *groups, int32_t *n_groups) {
    const int32_t nn = g->n_nodes;
    int32_t *n_consumers = calloc((size_t)nn + 1, sizeof *n_consumers);
    int32_t *reader = calloc((size_t)nn + 1, sizeof *reader);
    bool *taken = calloc((size_t)nn, sizeof *taken);
    if (!n_consumers || !reader || !taken) {
        free(n_consumers), free(reader), free(taken);
        return dy_fail(ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory");
    }
    for (int32_t i = 0; i < nn; i++)
        for (int k = 0; k < 2; k++) {
            int32_t v = g->nodes[i].in[k];
            if (v < 0) continue;
            n_consumers[v]++;
            reader[v] = i;
        }
    int32_t ng = 0;
    for (int32_t i = 0; i < nn; i++) {
        if (taken[i]) continue;
        dd_group gr = {.main = i, .bn = -1, .add = -1, .relu = -1, .last = i, .add_other = -1};
        switch (g->nodes[i].op) {
        case DY_OP_CONV2D:
            gr.kind = DD_G_CONV;
            if (!train && (gr.bn = only_reader(g, n_consumers, reader, taken, i + 1, DY_OP_BATCHNORM)) >= 0) {
                gr.last = gr.bn;
                gr.add = only_reader(g, n_consumers, reader, taken, gr.bn + 1, DY_OP_ADD);
                if (gr.add >= 0) {
                    const dy_node *a = &g->nodes[gr.add];
                    gr.add_other = a->in[0] == gr.bn + 1 ? a->in[1] : a->in[0];
                    if (gr.add_other == gr.bn + 1) gr.add = gr.add_other = -1; /* x + x: not a residual */
                    else gr.last = gr.add;
                }
                gr.relu = only_reader(g, n_consumers, reader, taken, gr.last + 1, DY_OP_RELU);
                if (gr.relu >= 0) gr.last = gr.relu;
            }
            break;
        case DY_OP_BATCHNORM:
            gr.kind = DD_G_BN;
            gr.relu = only_reader(g, n_consumers, reader, taken, i + 1, DY_OP_RELU);
            break;
        case DY_OP_ADD:
            gr.kind = DD_G_ADD;
            gr.relu = only_reader(g, n_consumers, reader, taken, i + 1, DY_OP_RELU);
            break;
        case DY_OP_RELU: gr.kind = DD_G_RELU; break;
        case DY_OP_MAXPOOL: gr.kind = DD_G_MAXPOOL; break;
        case DY_OP_AVGPOOL: gr.kind = DD_G_AVGPOOL; break;
        case DY_OP_LINEAR: gr.kind = DD_G_LINEAR; break;
        case DY_OP_L2NORM: gr.kind = DD_G_L2NORM; break;
        default:
            free(n_consumers), free(reader), free(taken);
            return dy_fail(ctx, DY_ERR_UNSUPPORTED, "oneDNN executor: node %d (%s) has unknown op %d", (int)i,
                           g->nodes[i].name, (int)g->nodes[i].op);
        }
        if (gr.relu >= 0 && gr.relu > gr.last) gr.last = gr.relu;
        int32_t parts[] = {gr.main, gr.bn, gr.add, gr.relu};
        for (int k = 0; k < 4; k++)
            if (parts[k] >= 0) taken[parts[k]] = true;
        groups[ng++] = gr;
    }
    free(n_consumers), free(reader), free(taken);
    /* A group runs where its last node is: by then every value it reads exists (the shortcut of a folded
     * residual block, for one). Groups are made in order of their first node; order them by their last. */
    for (int32_t i = 1; i < ng; i++)
        for (int32_t j = i; j > 0 && groups[j - 1].last > groups[j].last; j--) {
            dd_group t = groups[j];
            groups[j] = groups[j - 1];
            groups[j - 1] = t;
        }
    *n_groups = ng;
    return DY_OK;
}

/* ---- building ---- */

static dy_status group_forward(dd_builder *b, const dd_group *gr) {
    switch (gr->kind) {
    case DD_G_CONV: return dd_conv_forward(b, gr);
    case DD_G_BN: return dd_bn_forward(b, gr);
    case DD_G_RELU: return dd_relu_forward(b, gr);
    case DD_G_ADD: return dd_add_forward(b, gr);
    case DD_G_MAXPOOL:
    case DD_G_AVGPOOL: return dd_pool_forward(b, gr);
    case DD_G_LINEAR: return dd_linear_forward(b, gr);
    case DD_G_L2NORM: return dd_l2norm_forward(b, gr);
    }
    return DY_ERR_INTERNAL;
}

static dy_status group_backward(dd_builder *b, const dd_group *gr) {
    if (dd_diff_get(b, gr->last + 1) < 0)
        return dy_fail(b->ctx, DY_ERR_UNSUPPORTED,
                       "oneDNN executor: node %d (%s) does not lead to the output; cannot train it", (int)gr->last,
                       b->g->nodes[gr->last].name);
    switch (gr->kind) {
    case DD_G_CONV: return dd_conv_backward(b, gr);
    case DD_G_BN: return dd_bn_backward(b, gr);
    case DD_G_RELU: return dd_relu_backward(b, gr);
    case DD_G_ADD: return dd_add_backward(b, gr);
    case DD_G_MAXPOOL:
    case DD_G_AVGPOOL: return dd_pool_backward(b, gr);
    case DD_G_LINEAR: return dd_linear_backward(b, gr);
    case DD_G_L2NORM: return dd_l2norm_backward(b, gr);
    }
    return DY_ERR_INTERNAL;
}

/* Which values the backward program reads, given the groups. */
static void mark_backward_reads(dd_builder *b, const dd_group *groups, int32_t ng) {
    for (int32_t k = 0; k < ng; k++) {
        const dd_group *gr = &groups[k];
        const dy_node *nd = &b->g->nodes[gr->main];
        switch (gr->kind) {
        case DD_G_BN:
            /* the plain-C blocked batch norm takes its ReLU mask from the output */
            if (gr->relu >= 0) b->needed_backward[gr->last + 1] = true;
            b->needed_backward[nd->in[0]] = true;
            break;
        case DD_G_CONV:
        case DD_G_LINEAR:
        case DD_G_L2NORM: b->needed_backward[nd->in[0]] = true; break;
        case DD_G_RELU: b->needed_backward[gr->last + 1] = true; break;
        case DD_G_ADD:
            if (gr->relu >= 0) b->needed_backward[gr->last + 1] = true;
            break;
        case DD_G_MAXPOOL:
        case DD_G_AVGPOOL: break; /* max pooling keeps its workspace instead */
        }
    }
}

/* Copies value v out to a caller buffer (plain layout). */
static dy_status copy_out(dd_builder *b, int32_t v, dd_where where) {
    const dnnl_memory_desc_t *md = dd_value_md(b, v);
    dnnl_memory_desc_t plain = dd_plain_md(md->ndims, md->dims);
    int32_t m = dd_user_mem(b, &plain, where, 0);
    if (m < 0) return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory for the program");
    if (where == DD_OUTPUT) b->e->output_mem = m;
    return dd_add_reorder(b, b->value_mem[v], m);
}

static dy_status build(dd_builder *b) {
    const dy_graph *g = b->g;
    const int32_t nn = g->n_nodes, nv = nn + 1;
    dd_group *groups = malloc(sizeof *groups * (size_t)(nn > 0 ? nn : 1));
    if (!groups) return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory");
    int32_t ng = 0;
    dy_status st = make_groups(b->ctx, g, b->train, groups, &ng);
    if (st != DY_OK) {
        free(groups);
        return st;
    }
    /* the last group that reads each value */
    for (int32_t v = 0; v < nv; v++) b->last_use[v] = -1;
    for (int32_t k = 0; k < ng; k++) {
        const dd_group *gr = &groups[k];
        int32_t parts[] = {gr->main, gr->bn, gr->add, gr->relu};
        for (int p = 0; p < 4; p++) {
            if (parts[p] < 0) continue;
            for (int j = 0; j < 2; j++) {
                int32_t v = g->nodes[parts[p]].in[j];
                if (v >= 0 && gr->last > b->last_use[v]) b->last_use[v] = gr->last;
            }
        }
    }
    if (b->train) mark_backward_reads(b, groups, ng);

    /* the input batch, plain NCHW in the caller's buffer */
    dnnl_dims_t in_dims = {b->e->base.n, g->in_channels, b->e->base.h, b->e->base.w};
    dnnl_memory_desc_t in_md = dd_plain_md(4, in_dims);
    b->value_mem[0] = dd_user_mem(b, &in_md, DD_INPUT, 0);

    b->prog = &b->e->fwd;
    if (b->train && b->value_mem[0] >= 0) {
        /* backward reads the input (the first convolution's weight gradient); the caller's buffer is not passed
         * to backward, so training keeps a copy */
        int32_t m_copy = dd_arena_mem(b, &in_md);
        if (m_copy < 0) st = dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory");
        if (st == DY_OK) st = dd_add_reorder(b, b->value_mem[0], m_copy);
        b->value_mem[0] = m_copy;
    }
    for (int32_t k = 0; k < ng && st == DY_OK; k++) {
        b->node = groups[k].main;
        st = group_forward(b, &groups[k]);
        int32_t v = groups[k].last + 1;
        if (st == DY_OK && v == g->features) st = copy_out(b, v, DD_FEATURES);
        if (st == DY_OK && v == g->output) st = copy_out(b, v, DD_OUTPUT);
    }
    if (st == DY_OK && nn == 0) st = dy_fail(b->ctx, DY_ERR_INVALID, "oneDNN executor: the graph has no nodes");

    if (st == DY_OK && b->train) {
        b->prog = &b->e->bwd;
        b->node = g->output - 1;
        const dnnl_memory_desc_t *omd = dd_value_md(b, g->output);
        dnnl_memory_desc_t plain = dd_plain_md(omd->ndims, omd->dims);
        int32_t m_user = dd_user_mem(b, &plain, DD_DOUTPUT, 0);
        int32_t m_dy = dd_arena_mem(b, omd);
        if (m_user < 0 || m_dy < 0) st = dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory");
        if (st == DY_OK) st = dd_add_reorder(b, m_user, m_dy);
        if (st == DY_OK) st = dd_diff_commit(b, g->output, m_dy);
        for (int32_t k = ng - 1; k >= 0 && st == DY_OK; k--) {
            b->node = groups[k].main;
            st = group_backward(b, &groups[k]);
        }
        if (st == DY_OK && dd_diff_get(b, 0) >= 0) {
            b->dinput_only = true;
            int32_t m_dx = dd_user_mem(b, &in_md, DD_DINPUT, 0);
            st = m_dx < 0 ? dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory")
                          : dd_add_reorder(b, dd_diff_get(b, 0), m_dx);
            b->dinput_only = false;
        }
    }
    free(groups);
    return st;
}

/* ---- after building: lifetimes, the arena, memory objects, argument lists ---- */

static void note_lifetimes(dd_exec *e, const dd_program *p, int32_t base) {
    for (int32_t i = 0; i < p->n; i++) {
        const dd_item *it = &p->items[i];
        for (int k = 0; k < it->nargs; k++) {
            if (it->arg_mem[k] < 0) continue;
            const dd_mem *m = e->mems[it->arg_mem[k]];
            if (m->where != DD_ARENA) continue;
            dd_tensor *t = &e->tensors[m->offset];
            if (t->first < 0) t->first = base + i;
            t->last = base + i;
        }
    }
}

static dy_status finish(dd_builder *b) {
    dd_exec *e = b->e;
    note_lifetimes(e, &e->fwd, 0);
    note_lifetimes(e, &e->bwd, e->fwd.n);
    e->arena_bytes = dd_plan_arena(e->tensors, e->n_tensors);
    if (e->arena_bytes == SIZE_MAX) return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory");
    e->arena = dy_alloc(e->arena_bytes);
    e->scratch = dy_alloc(e->scratch_bytes);
    if (!e->arena || !e->scratch)
        return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: cannot allocate %zu bytes of activations and %zu of scratch",
                       e->arena_bytes, e->scratch_bytes);
    for (int32_t i = 0; i < e->n_mems; i++) {
        dd_mem *m = e->mems[i];
        void *handle = DNNL_MEMORY_NONE;
        if (m->where == DD_ARENA) handle = e->arena + e->tensors[m->offset].offset;
        else if (m->where == DD_SCRATCH) handle = e->scratch;
        DD_TRY(b, dnnl_memory_create(&m->mem, &m->md, b->engine, handle), "memory creation");
    }
    int64_t total = 0;
    dd_program *progs[2] = {&e->fwd, &e->bwd};
    for (int p = 0; p < 2; p++)
        for (int32_t i = 0; i < progs[p]->n; i++) total += progs[p]->items[i].nargs;
    e->arg_pool = calloc((size_t)(total > 0 ? total : 1), sizeof *e->arg_pool);
    if (!e->arg_pool) return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory");
    dnnl_exec_arg_t *next = e->arg_pool;
    for (int p = 0; p < 2; p++)
        for (int32_t i = 0; i < progs[p]->n; i++) {
            dd_item *it = &progs[p]->items[i];
            it->args = next;
            it->needs = it->dinput_only ? 1u << DD_DINPUT : 0;
            for (int k = 0; k < it->nargs; k++) {
                if (it->arg_mem[k] < 0) continue;
                const dd_mem *m = e->mems[it->arg_mem[k]];
                if (m->where < DD_ARENA) it->needs |= 1u << m->where;
                if (it->kind == DD_ITEM_PRIMITIVE) *next++ = (dnnl_exec_arg_t){it->arg_kind[k], m->mem};
            }
        }
    return DY_OK;
}

/* ---- the backend ---- */

static void program_free(dd_program *p) {
    for (int32_t i = 0; i < p->n; i++)
        if (p->items[i].prim) dnnl_primitive_destroy(p->items[i].prim);
    free(p->items);
    p->items = NULL;
    p->n = p->cap = 0;
}

static void dnnl_exec_destroy(dy_exec *base) {
    dd_exec *e = (dd_exec *)base;
    if (!e) return;
    program_free(&e->fwd);
    program_free(&e->bwd);
    for (int32_t i = 0; i < e->n_mems; i++)
        if (e->mems[i]->mem) dnnl_memory_destroy(e->mems[i]->mem);
    for (int32_t i = 0; i < e->n_mems; i++) free(e->mems[i]);
    free(e->mems);
    free(e->tensors);
    free(e->arg_pool);
    dy_free(e->arena);
    dy_free(e->scratch);
    free(e);
}

static dy_status dnnl_exec_create(dy_ctx *ctx, const dy_graph *g, int64_t n, int64_t h, int64_t w, dy_exec_mode mode,
                                  dy_exec **out) {
    *out = NULL;
    if (!ctx->dnnl_engine || !ctx->dnnl_stream)
        return dy_fail(ctx, DY_ERR_INVALID, "oneDNN executor: the context has no oneDNN engine (backend %s)",
                       dy_backend_name(ctx->backend));
    if (n < 1 || h < 1 || w < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "oneDNN executor: batch %lld of %lldx%lld images", (long long)n,
                       (long long)h, (long long)w);
    if (mode == DY_EXEC_TRAIN && g->output < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "oneDNN executor: the graph has no output to train");
    dd_exec *e = calloc(1, sizeof *e);
    if (!e) return dy_fail(ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory");
    e->base = (dy_exec){.backend = &dy_dnnl_exec_backend, .ctx = ctx, .graph = g, .n = n, .h = h, .w = w, .mode = mode};
    const int32_t nv = g->n_nodes + 1;
    dd_builder b = {.e = e, .ctx = ctx, .g = g, .engine = (dnnl_engine_t)ctx->dnnl_engine,
                    .train = mode == DY_EXEC_TRAIN, .node = -1};
    b.shapes = malloc(sizeof *b.shapes * (size_t)nv);
    b.value_mem = malloc(sizeof *b.value_mem * (size_t)nv);
    b.value_diff = malloc(sizeof *b.value_diff * (size_t)nv);
    b.last_use = malloc(sizeof *b.last_use * (size_t)nv);
    b.n_consumers = calloc((size_t)nv, sizeof *b.n_consumers);
    b.needed_backward = calloc((size_t)nv, sizeof *b.needed_backward);
    b.aux = malloc(sizeof *b.aux * (size_t)nv);
    dy_status st = DY_OK;
    if (!b.shapes || !b.value_mem || !b.value_diff || !b.last_use || !b.n_consumers || !b.needed_backward || !b.aux)
        st = dy_fail(ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory");
    if (st == DY_OK) {
        for (int32_t v = 0; v < nv; v++) {
            b.value_mem[v] = b.value_diff[v] = -1;
            b.aux[v][0] = b.aux[v][1] = b.aux[v][2] = -1;
        }
        st = dy_graph_infer(ctx, g, h, w, b.shapes);
    }
    if (st == DY_OK) {
        if (dnnl_primitive_attr_create(&b.attr_plain) != dnnl_success)
            st = dy_fail(ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory");
        else
            dnnl_primitive_attr_set_scratchpad_mode(b.attr_plain, dnnl_scratchpad_mode_user);
    }
    if (st == DY_OK) st = build(&b);
    if (st == DY_OK) st = finish(&b);
    if (b.attr_plain) dnnl_primitive_attr_destroy(b.attr_plain);
    free(b.shapes), free(b.value_mem), free(b.value_diff), free(b.last_use), free(b.n_consumers);
    free(b.needed_backward), free(b.aux);
    if (st != DY_OK) {
        dnnl_exec_destroy(&e->base);
        return st;
    }
    *out = &e->base;
    return DY_OK;
}

static dy_status run(dd_exec *e, const dd_program *p) {
    dy_ctx *ctx = e->base.ctx;
    unsigned missing = 0;
    for (int w = 0; w < DD_ARENA; w++)
        if (!e->user[w]) missing |= 1u << w;
    for (int32_t i = 0; i < e->n_mems; i++) {
        dd_mem *m = e->mems[i];
        if (m->where < DD_ARENA && e->user[m->where])
            dnnl_memory_set_data_handle(m->mem, (float *)e->user[m->where] + m->offset);
    }
    dnnl_stream_t stream = (dnnl_stream_t)ctx->dnnl_stream;
    for (int32_t i = 0; i < p->n; i++) {
        const dd_item *it = &p->items[i];
        if (it->needs & missing) continue;
        switch (it->kind) {
        case DD_ITEM_PRIMITIVE: {
            dnnl_status_t s = dnnl_primitive_execute(it->prim, stream, it->nargs, it->args);
            if (s != dnnl_success)
                return dy_fail(ctx, DY_ERR_INTERNAL, "oneDNN: a primitive of node %d (%s) failed with status %d",
                               (int)it->node, e->base.graph->nodes[it->node < 0 ? 0 : it->node].name, (int)s);
            break;
        }
        case DD_ITEM_RUNNING_STATS: dnnl_stream_wait(stream), dd_run_running_stats(e, it); break;
        case DD_ITEM_FOLD_BN: dnnl_stream_wait(stream), dd_run_fold_bn(e, it); break;
        case DD_ITEM_L2NORM_FORWARD: dnnl_stream_wait(stream), dd_run_l2norm_forward(e, it); break;
        case DD_ITEM_L2NORM_BACKWARD: dnnl_stream_wait(stream), dd_run_l2norm_backward(e, it); break;
        case DD_ITEM_BN_FORWARD: dnnl_stream_wait(stream), dd_run_bn_blocked_forward(e, it); break;
        case DD_ITEM_BN_BACKWARD: dnnl_stream_wait(stream), dd_run_bn_blocked_backward(e, it); break;
        case DD_ITEM_BN_SYNC_FORWARD:
        case DD_ITEM_BN_SYNC_BACKWARD: {
            dnnl_stream_wait(stream);
            dy_status st = it->kind == DD_ITEM_BN_SYNC_FORWARD ? dd_run_bn_sync_forward(e, it)
                                                                : dd_run_bn_sync_backward(e, it);
            if (st != DY_OK) return st;
            break;
        }
        }
    }
    dnnl_stream_wait(stream);
    return DY_OK;
}

static dy_status dnnl_exec_forward(dy_exec *base, const float *params, float *state, const float *input,
                                   float *features, float *output) {
    dd_exec *e = (dd_exec *)base;
    if (!params || !input || (!state && base->graph->n_state > 0))
        return dy_fail(base->ctx, DY_ERR_INVALID, "oneDNN executor: forward needs params, state and input");
    memset(e->user, 0, sizeof e->user);
    e->user[DD_PARAMS] = (void *)params;
    e->user[DD_STATE] = state;
    e->user[DD_INPUT] = (void *)input;
    e->user[DD_FEATURES] = features;
    e->user[DD_OUTPUT] = output;
    /* oneDNN's ReLU maps NaN to 0, so a NaN parameter does not reach the output as NaN (it zeroes channels
     * instead): training refuses non-finite parameters up front, in plain words (a scan costs ~0.2% of a step). */
    const dy_graph *g = base->graph;
    if (base->mode == DY_EXEC_TRAIN) {
        int64_t bad = -1;
#pragma omp parallel for num_threads(base->ctx->threads) reduction(max : bad) schedule(static)
        for (int64_t i = 0; i < g->n_params; i++)
            if (!isfinite(params[i])) bad = bad > i ? bad : i;
        if (bad >= 0)
            return dy_fail(base->ctx, DY_ERR_NUMERIC, "oneDNN executor: parameter %lld is %g (not finite)",
                           (long long)bad, (double)params[bad]);
    }
    dy_status st = run(e, &e->fwd);
    /* and an output that is not finite (an input that is not, or diverged training) */
    if (st == DY_OK && output) {
        const dnnl_memory_desc_t *md = &e->mems[e->output_mem]->md;
        int64_t count = 1;
        for (int k = 0; k < md->ndims; k++) count *= md->dims[k];
        for (int64_t i = 0; i < count; i++)
            if (!isfinite(output[i])) {
                st = dy_fail(base->ctx, DY_ERR_NUMERIC,
                             "oneDNN executor: output value %lld of node %s is %g (a parameter or the input is not "
                             "finite, or training diverged)",
                             (long long)i, g->nodes[g->output - 1].name, (double)output[i]);
                break;
            }
    }
    base->forward_done = st == DY_OK && base->mode == DY_EXEC_TRAIN;
    return st;
}

static dy_status dnnl_exec_backward(dy_exec *base, const float *params, float *grads, const float *doutput,
                                    float *dinput) {
    dd_exec *e = (dd_exec *)base;
    if (base->mode != DY_EXEC_TRAIN || !base->forward_done)
        return dy_fail(base->ctx, DY_ERR_INVALID, "oneDNN executor: backward needs a training-mode forward first");
    if (!params || !grads || !doutput)
        return dy_fail(base->ctx, DY_ERR_INVALID, "oneDNN executor: backward needs params, grads and doutput");
    memset(e->user, 0, sizeof e->user);
    e->user[DD_PARAMS] = (void *)params;
    e->user[DD_GRADS] = grads;
    e->user[DD_DOUTPUT] = (void *)doutput;
    e->user[DD_DINPUT] = dinput;
    dy_status st = run(e, &e->bwd);
    base->forward_done = false;
    return st;
}

static int64_t dnnl_exec_memory(const dy_exec *base) {
    const dd_exec *e = (const dd_exec *)base;
    return (int64_t)(e->arena_bytes + e->scratch_bytes);
}

const dy_exec_backend dy_dnnl_exec_backend = {
    .name = "dnnl",
    .create = dnnl_exec_create,
    .destroy = dnnl_exec_destroy,
    .forward = dnnl_exec_forward,
    .backward = dnnl_exec_backward,
    .memory = dnnl_exec_memory,
};
