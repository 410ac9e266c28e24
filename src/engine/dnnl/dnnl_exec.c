/* The oneDNN executor: cuts the graph into fused groups, builds the forward and backward programs once, plans
 * the arena, and runs the programs. See dnnl_exec_internal.h for the design. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dnnl/dnnl_exec_internal.h"
#include "engine/ref/ops.h"

/* Copies value v out to a caller buffer (plain layout). */
static dy_status copy_out(dd_builder *b, int32_t v, dd_where where) {
    const dnnl_memory_desc_t *md = dd_value_md(b, v);
    dnnl_memory_desc_t plain = dd_plain_md(md->ndims, md->dims);
    int32_t m = dd_user_mem(b, &plain, where, 0);
    if (m < 0) return dd_nomem(b);
    if (where == DD_OUTPUT) b->e->output_mem = m;
    return dd_add_reorder(b, b->value_mem[v], m);
}

static dy_status build(dd_builder *b) {
    const dy_graph *g = b->g;
    const int32_t nn = g->n_nodes, nv = nn + 1;
    dd_group *groups = malloc(sizeof *groups * (size_t)(nn > 0 ? nn : 1));
    if (!groups) return dy_fail(b->ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory");
    int32_t ng = 0;
    dy_status st = dd_make_groups(b->ctx, g, b->train, groups, &ng);
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
    if (b->train) dd_mark_backward_reads(b, groups, ng);

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
        st = dd_group_forward(b, &groups[k]);
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
            st = dd_group_backward(b, &groups[k]);
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

/* The memories an item reads or writes, into mem (-1 for absent operands); returns how many. */
#define OPERANDS(...)                                                                                              \
    do {                                                                                                           \
        const int32_t list_[] = {__VA_ARGS__};                                                                     \
        memcpy(mem, list_, sizeof list_);                                                                          \
        return (int)(sizeof list_ / sizeof list_[0]);                                                              \
    } while (0)

static int item_operands(const dd_item *it, int32_t *mem) {
    const dd_running_stats_item *s = &it->stats;
    const dd_fold_bn_item *f = &it->fold;
    const dd_l2norm_forward_item *lf = &it->l2norm_forward;
    const dd_l2norm_backward_item *lb = &it->l2norm_backward;
    const dd_bn_forward_item *bf = &it->bn_forward;
    const dd_bn_backward_item *bb = &it->bn_backward;
    switch (it->kind) {
    case DD_ITEM_PRIMITIVE:
        memcpy(mem, it->prim.arg_mem, sizeof(int32_t) * (size_t)it->prim.nargs);
        return it->prim.nargs;
    case DD_ITEM_RUNNING_STATS: OPERANDS(s->mean, s->var, s->running_mean, s->running_var, s->num_batches);
    case DD_ITEM_FOLD_BN:
        OPERANDS(f->weight, f->bias, f->gamma, f->beta, f->running_mean, f->running_var, f->weight_out, f->bias_out);
    case DD_ITEM_L2NORM_FORWARD: OPERANDS(lf->x, lf->y);
    case DD_ITEM_L2NORM_BACKWARD: OPERANDS(lb->x, lb->dy, lb->dx);
    case DD_ITEM_BN_FORWARD:
        OPERANDS(bf->x, bf->y, bf->mean, bf->var, bf->gamma, bf->beta, bf->running_mean, bf->running_var,
                 bf->num_batches);
    case DD_ITEM_BN_BACKWARD:
        OPERANDS(bb->x, bb->y, bb->dy, bb->dx, bb->mean, bb->var, bb->gamma, bb->dgamma, bb->dbeta);
    }
    return 0;
}
#undef OPERANDS

/* Each arena tensor lives from the first to the last item that touches it (forward items, then backward); each
 * item notes the caller buffers it needs. */
static void note_operands(dd_exec *e, dd_program *p, int32_t step0) {
    for (int32_t i = 0; i < p->n; i++) {
        dd_item *it = &p->items[i];
        int32_t mem[DD_MAX_ARGS];
        const int n = item_operands(it, mem);
        it->needs = it->dinput_only ? 1u << DD_DINPUT : 0;
        for (int k = 0; k < n; k++) {
            if (mem[k] < 0) continue;
            const dd_mem *m = e->mems[mem[k]];
            if (m->where < DD_ARENA) it->needs |= 1u << m->where;
            if (m->where != DD_ARENA) continue;
            dy_plan_block *t = &e->tensors[m->offset];
            if (t->first < 0) t->first = step0 + i;
            t->last = step0 + i;
        }
    }
}

static dy_status finish(dd_builder *b) {
    dd_exec *e = b->e;
    note_operands(e, &e->fwd, 0);
    note_operands(e, &e->bwd, e->fwd.n);
    const int64_t arena_bytes = dy_plan_place(e->tensors, e->n_tensors);
    if (arena_bytes < 0) return dd_nomem(b);
    e->arena_bytes = (size_t)arena_bytes;
    e->arena = dy_alloc(e->arena_bytes);
    e->scratch = dy_alloc(e->scratch_bytes);
    if (!e->arena || !e->scratch)
        return dy_fail(b->ctx, DY_ERR_NOMEM,
                       "oneDNN executor: cannot allocate %zu bytes of activations and %zu of scratch", e->arena_bytes,
                       e->scratch_bytes);
    for (int32_t i = 0; i < e->n_mems; i++) {
        dd_mem *m = e->mems[i];
        void *handle = DNNL_MEMORY_NONE;
        if (m->where == DD_ARENA) handle = e->arena + e->tensors[m->offset].offset;
        else if (m->where == DD_SCRATCH) handle = e->scratch;
        DD_TRY(b, dnnl_memory_create(&m->mem, &m->md, b->engine, handle), "memory creation");
    }
    dd_program *progs[2] = {&e->fwd, &e->bwd};
    for (int p = 0; p < 2; p++)
        for (int32_t i = 0; i < progs[p]->n; i++) {
            dd_primitive_item *prim = &progs[p]->items[i].prim;
            if (progs[p]->items[i].kind != DD_ITEM_PRIMITIVE) continue;
            for (int k = 0; k < prim->nargs; k++) prim->args[k].memory = e->mems[prim->arg_mem[k]]->mem;
        }
    return DY_OK;
}

/* ---- the backend ---- */

static void program_free(dd_program *p) {
    for (int32_t i = 0; i < p->n; i++)
        if (p->items[i].kind == DD_ITEM_PRIMITIVE && p->items[i].prim.prim)
            dnnl_primitive_destroy(p->items[i].prim.prim);
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
    free(e->grads_last);
    dy_free(e->arena);
    dy_free(e->scratch);
    free(e);
}

/* Arguments are checked once, by the interface (engine/exec.c). */
static dy_status dnnl_exec_create(dy_ctx *ctx, const dy_graph *g, int64_t n, int64_t h, int64_t w, dy_exec_mode mode,
                                  dy_exec **out) {
    *out = NULL;
    if (!ctx->dnnl_engine || !ctx->dnnl_stream)
        return dy_fail(ctx, DY_ERR_INVALID, "oneDNN executor: the context has no oneDNN engine (backend %s)",
                       dy_backend_name(ctx->backend));
    if (mode == DY_EXEC_TRAIN && g->output < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "oneDNN executor: the graph has no output to train");
    if (g->precision == DY_PRECISION_BF16) {
        dy_status pst = dy_dnnl_bf16_check(ctx);
        if (pst != DY_OK) return pst;
        if (g->bn_sync && mode == DY_EXEC_TRAIN)
            return dy_fail(ctx, DY_ERR_UNSUPPORTED,
                           "oneDNN executor: precision bf16 with synchronised batch norm (--sync-bn) is not "
                           "implemented; use --precision fp32 or leave --sync-bn off");
    } else if (g->precision != DY_PRECISION_FP32) {
        return dy_fail(ctx, DY_ERR_INVALID, "oneDNN executor: unknown precision %d", (int)g->precision);
    }
    dd_exec *e = calloc(1, sizeof *e);
    if (!e) return dy_fail(ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory");
    e->base = (dy_exec){.backend = &dy_dnnl_exec_backend, .ctx = ctx, .graph = g, .n = n, .h = h, .w = w,
                        .mode = mode};
    const int32_t nv = g->n_nodes + 1;
    dd_builder b = {.e = e, .ctx = ctx, .g = g, .engine = (dnnl_engine_t)ctx->dnnl_engine,
                    .train = mode == DY_EXEC_TRAIN, .node = -1,
                    .act = g->precision == DY_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32};
    b.shapes = malloc(sizeof *b.shapes * (size_t)nv);
    b.value_mem = malloc(sizeof *b.value_mem * (size_t)nv);
    b.value_diff = malloc(sizeof *b.value_diff * (size_t)nv);
    b.last_use = malloc(sizeof *b.last_use * (size_t)nv);
    b.needed_backward = calloc((size_t)nv, sizeof *b.needed_backward);
    b.aux = malloc(sizeof *b.aux * (size_t)nv);
    dy_status st = DY_OK;
    if (!b.shapes || !b.value_mem || !b.value_diff || !b.last_use || !b.needed_backward || !b.aux)
        st = dy_fail(ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory");
    if (st == DY_OK) {
        for (int32_t v = 0; v < nv; v++) {
            b.value_mem[v] = b.value_diff[v] = -1;
            b.aux[v][0] = b.aux[v][1] = b.aux[v][2] = -1;
        }
        st = dy_graph_infer(ctx, g, h, w, b.shapes);
    }
    if (st == DY_OK) st = dd_attr_create(&b, &b.attr_plain, false, false); /* user scratchpad, no post-ops */
    if (st == DY_OK) st = build(&b);
    if (st == DY_OK) st = finish(&b);
    if (b.attr_plain) dnnl_primitive_attr_destroy(b.attr_plain);
    free(b.shapes), free(b.value_mem), free(b.value_diff), free(b.last_use), free(b.needed_backward), free(b.aux);
    free(b.readers);
    if (st != DY_OK) {
        dnnl_exec_destroy(&e->base);
        return st;
    }
    *out = &e->base;
    return DY_OK;
}

/* The float buffer of a memory in the current call (NULL: an absent operand, or a caller buffer not given). */
static float *ptr(dd_exec *e, int32_t mem) {
    if (mem < 0) return NULL;
    const dd_mem *m = e->mems[mem];
    switch (m->where) {
    case DD_ARENA: return (float *)(e->arena + e->tensors[m->offset].offset);
    case DD_SCRATCH: return (float *)e->scratch;
    default: return e->user[m->where] ? (float *)e->user[m->where] + m->offset : NULL;
    }
}

/* Runs one plain-C item on the buffers its operands name (after the primitives before it have finished). */
static void run_host_item(dd_exec *e, const dd_item *it) {
    const int threads = e->base.ctx->threads;
    switch (it->kind) {
    case DD_ITEM_PRIMITIVE: break;
    case DD_ITEM_BN_FORWARD: /* run by run(): they can fail */
    case DD_ITEM_BN_BACKWARD: break;
    case DD_ITEM_RUNNING_STATS: {
        const dd_running_stats_item *s = &it->stats;
        dd_running_stats(ptr(e, s->running_mean), ptr(e, s->running_var), ptr(e, s->num_batches), ptr(e, s->mean),
                         ptr(e, s->var), s->channels, s->count, s->momentum);
        break;
    }
    case DD_ITEM_FOLD_BN: {
        const dd_fold_bn_item *f = &it->fold;
        dd_fold_bn(ptr(e, f->weight_out), ptr(e, f->bias_out), ptr(e, f->weight), ptr(e, f->bias), ptr(e, f->gamma),
                   ptr(e, f->beta), ptr(e, f->running_mean), ptr(e, f->running_var), f->channels, f->per_channel,
                   f->eps, threads);
        break;
    }
    case DD_ITEM_L2NORM_FORWARD: {
        const dd_l2norm_forward_item *l = &it->l2norm_forward;
        l2norm_forward(ptr(e, l->y), ptr(e, l->x), l->rows, l->cols, l->eps, threads);
        break;
    }
    case DD_ITEM_L2NORM_BACKWARD: {
        const dd_l2norm_backward_item *l = &it->l2norm_backward;
        l2norm_backward(ptr(e, l->dx), ptr(e, l->dy), ptr(e, l->x), l->rows, l->cols, l->eps, threads);
        break;
    }
    }
}

/* A training batch norm on the shared kernels (src/engine/ref/bn_kernels.h), given its buffers; it may fail (sync-bn's
 * reduction). */
static dy_status run_bn(dd_exec *e, const dd_item *it) {
    const dy_bn_sync *sync = e->base.graph->bn_sync;
    if (it->kind == DD_ITEM_BN_FORWARD) {
        const dd_bn_forward_item *f = &it->bn_forward;
        bn_forward_args a = {.s = f->s, .x = ptr(e, f->x), .y = ptr(e, f->y), .relu = f->relu,
                             .gamma = ptr(e, f->gamma), .beta = ptr(e, f->beta), .mean = ptr(e, f->mean),
                             .var = ptr(e, f->var), .running_mean = ptr(e, f->running_mean), .running_var = ptr(e, f->running_var),
                             .num_batches = ptr(e, f->num_batches)};
        a.s.sync = f->sync ? sync : NULL;
        a.s.work = (float *)e->scratch, a.s.threads = e->base.ctx->threads;
        return bn_forward(&a);
    }
    const dd_bn_backward_item *bw = &it->bn_backward;
    bn_backward_args a = {.s = bw->s, .x = ptr(e, bw->x), .y = ptr(e, bw->y), .dy = ptr(e, bw->dy),
                          .dx = ptr(e, bw->dx), .mean = ptr(e, bw->mean), .var = ptr(e, bw->var),
                          .gamma = ptr(e, bw->gamma), .dgamma = ptr(e, bw->dgamma), .dbeta = ptr(e, bw->dbeta)};
    a.s.sync = bw->sync ? sync : NULL;
    a.s.work = (float *)e->scratch, a.s.threads = e->base.ctx->threads;
    return bn_backward(&a);
}

/* Data parallel (graph.h's dy_grad_hook): after backward item i, the ranges of the gradient buffer it was the last
 * to touch are final. The table of last items is made once. */
static dy_status grads_ready(dd_exec *e, int32_t i) {
    if (!e->grads_last) {
        if (!(e->grads_last = malloc(sizeof(int32_t) * (size_t)(e->n_mems > 0 ? e->n_mems : 1))))
            return dy_fail(e->base.ctx, DY_ERR_NOMEM, "oneDNN executor: out of memory");
        for (int32_t m = 0; m < e->n_mems; m++) e->grads_last[m] = -1;
        int32_t mem[DD_MAX_ARGS];
        for (int32_t k = 0; k < e->bwd.n; k++)
            for (int o = 0, n = item_operands(&e->bwd.items[k], mem); o < n; o++)
                if (mem[o] >= 0 && e->mems[mem[o]]->where == DD_GRADS) e->grads_last[mem[o]] = k;
    }
    int32_t mem[DD_MAX_ARGS];
    bool waited = false;
    for (int o = 0, n = item_operands(&e->bwd.items[i], mem); o < n; o++) {
        if (mem[o] < 0 || e->grads_last[mem[o]] != i) continue;
        const dd_mem *m = e->mems[mem[o]];
        int64_t count = 1;
        for (int k = 0; k < m->md.ndims; k++) count *= m->md.dims[k];
        if (!waited) dnnl_stream_wait((dnnl_stream_t)e->base.ctx->dnnl_stream);
        waited = true;
        dy_status st = dy_graph_grads_ready(e->base.graph, m->offset, count);
        if (st != DY_OK) return st;
    }
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
    const bool hook = p == &e->bwd && e->base.graph->grad_hook;
    dy_status ready = DY_OK;
    for (int32_t i = 0; i < p->n; i++) {
        if (hook && i > 0 && (ready = grads_ready(e, i - 1)) != DY_OK) return ready;
        const dd_item *it = &p->items[i];
        if (it->needs & missing) continue;
        if (it->kind == DD_ITEM_BN_FORWARD || it->kind == DD_ITEM_BN_BACKWARD) {
            dnnl_stream_wait(stream);
            dy_status st = run_bn(e, it);
            if (st != DY_OK) return st;
            continue;
        }
        if (it->kind != DD_ITEM_PRIMITIVE) {
            dnnl_stream_wait(stream);
            run_host_item(e, it);
            continue;
        }
        dnnl_status_t s = dnnl_primitive_execute(it->prim.prim, stream, it->prim.nargs, it->prim.args);
        if (s != dnnl_success)
            return dy_fail(ctx, DY_ERR_INTERNAL, "oneDNN: a primitive of node %d (%s) failed with status %d",
                           (int)it->node, e->base.graph->nodes[it->node < 0 ? 0 : it->node].name, (int)s);
    }
    dnnl_stream_wait(stream);
    if (hook && p->n > 0) ready = grads_ready(e, p->n - 1);
    return ready;
}

static dy_status dnnl_exec_forward(dy_exec *base, const float *params, float *state, const float *input,
                                   float *features, float *output) {
    dd_exec *e = (dd_exec *)base;
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
