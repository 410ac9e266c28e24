/* Liveness analysis and arena placement for executors (see plan.h). */
#include "engine/plan.h"

#include <stdlib.h>
#include <string.h>

#include "core/context.h"

bool dy_plan_backward_needs_input(dy_op op) {
    return op == DY_OP_CONV2D || op == DY_OP_BATCHNORM || op == DY_OP_MAXPOOL || op == DY_OP_LINEAR ||
           op == DY_OP_L2NORM;
}

bool dy_plan_backward_needs_output(dy_op op) { return op == DY_OP_RELU; }

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t round64(int64_t bytes) { return (bytes + 63) & ~(int64_t)63; }

/* ---- placement ---- */

static int by_size_desc(const void *pa, const void *pb, void *blocks) {
    const dy_plan_block *b = blocks;
    const int64_t x = *(const int64_t *)pa, y = *(const int64_t *)pb;
    if (b[x].bytes != b[y].bytes) return b[x].bytes > b[y].bytes ? -1 : 1;
    if (b[x].first != b[y].first) return b[x].first < b[y].first ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int by_offset(const void *pa, const void *pb) {
    const dy_plan_block *x = *(const dy_plan_block *const *)pa, *y = *(const dy_plan_block *const *)pb;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int64_t dy_plan_place(dy_plan_block *blocks, int64_t count) {
    int64_t *order = malloc(sizeof *order * (size_t)(count > 0 ? count : 1));
    const dy_plan_block **live = malloc(sizeof *live * (size_t)(count > 0 ? count : 1));
    if (!order || !live) {
        free(order), free(live);
        return -1;
    }
    for (int64_t i = 0; i < count; i++) order[i] = i;
    qsort_r(order, (size_t)count, sizeof *order, by_size_desc, blocks);
    int64_t arena = 0;
    for (int64_t k = 0; k < count; k++) {
        dy_plan_block *b = &blocks[order[k]];
        b->offset = 0;
        if (b->first < 0 || b->bytes == 0) continue; /* never used */
        int64_t n_live = 0;
        for (int64_t j = 0; j < k; j++) {
            const dy_plan_block *o = &blocks[order[j]];
            if (o->first >= 0 && o->bytes > 0 && o->first <= b->last && b->first <= o->last) live[n_live++] = o;
        }
        qsort(live, (size_t)n_live, sizeof *live, by_offset);
        const int64_t size = round64(b->bytes);
        int64_t at = 0;
        for (int64_t j = 0; j < n_live; j++) {
            if (live[j]->offset >= at + size) break; /* fits in the gap before this block */
            at = max64(at, live[j]->offset + round64(live[j]->bytes));
        }
        b->offset = at;
        arena = max64(arena, at + size);
    }
    free(order), free(live);
    return arena;
}

/* ---- liveness ---- */

/* The state of one planning: blocks to place, and which block holds each value, gradient and scratch. */
typedef struct {
    const dy_graph *g;
    const int64_t *value_bytes;
    bool train;
    int64_t nn, nv, last_step;  /* nodes, values, the last step of backward */
    dy_plan_block *blocks;
    int64_t n_blocks;
    int64_t *value_block, *grad_block, *scratch_block; /* -1: none */
    int64_t *last_reader;                              /* node reading each value last, -1: none */
} planner;

static int64_t new_block(planner *pl, int64_t bytes, int64_t first, int64_t last) {
    pl->blocks[pl->n_blocks] = (dy_plan_block){.bytes = bytes, .first = first, .last = last};
    return pl->n_blocks++;
}

/* Counts the readers of every value and refuses an output that is read or a value that is not. */
static dy_status count_readers(dy_ctx *ctx, planner *pl, dy_plan *p) {
    const dy_graph *g = pl->g;
    for (int64_t j = 0; j < pl->nn; j++)
        for (int k = 0; k < 2; k++) {
            int32_t u = g->nodes[j].in[k];
            if (u < 0) continue;
            p->consumers[u]++;
            pl->last_reader[u] = j;
        }
    for (int64_t v = 1; v < pl->nv; v++) {
        if (v == g->output && p->consumers[v] > 0)
            return dy_fail(ctx, DY_ERR_INVALID, "graph output (node %s) is read by another node", g->nodes[v - 1].name);
        if (v != g->output && p->consumers[v] == 0)
            return dy_fail(ctx, DY_ERR_INVALID, "value of node %s is never used", g->nodes[v - 1].name);
    }
    return DY_OK;
}

/* Values live from their producer to their last reader, or to the backward of a node that needs them; ReLU and
 * add write over an input that dies at that node. */
static void plan_values(planner *pl, dy_plan *p) {
    const dy_graph *g = pl->g;
    for (int64_t v = 0; v < pl->nv; v++) {
        int64_t start = v == 0 ? 0 : v - 1, end = start;
        for (int64_t j = 0; j < pl->nn; j++) {
            const dy_node *nd = &g->nodes[j];
            if (nd->in[0] != v && nd->in[1] != v) continue;
            end = max64(end, j);
            if (pl->train && dy_plan_backward_needs_input(nd->op)) end = max64(end, pl->last_step - j);
        }
        if (pl->train && v > 0 && dy_plan_backward_needs_output(g->nodes[v - 1].op))
            end = max64(end, pl->last_step - (v - 1));
        p->kept[v] = end >= pl->nn;
        if (p->kept[v]) p->kept_bytes += pl->value_bytes[v];
        if (v == 0 && !pl->train) continue; /* the caller's buffer */
        int64_t share = -1;
        if (v > 0) {
            const dy_node *nd = &g->nodes[v - 1];
            int nin = nd->op == DY_OP_ADD ? 2 : nd->op == DY_OP_RELU ? 1 : 0;
            for (int k = 0; k < nin && share < 0; k++) {
                int32_t u = nd->in[k];
                if (u == 0 || pl->value_block[u] < 0 || pl->value_bytes[u] != pl->value_bytes[v]) continue;
                if (pl->blocks[pl->value_block[u]].last == v - 1 && pl->last_reader[u] == v - 1)
                    share = pl->value_block[u];
            }
        }
        if (share >= 0) pl->blocks[share].last = max64(pl->blocks[share].last, end);
        pl->value_block[v] = share >= 0 ? share : new_block(pl, pl->value_bytes[v], start, end);
    }
}

/* Gradients live from the backward of the value's last reader to the backward of its producer (a ReLU's input
 * gradient in place over its output's); the first writer of each gradient (in backward order) assigns it, later
 * writers other than add get a scratch block that the executor adds in. */
static void plan_gradients(planner *pl, dy_plan *p) {
    const dy_graph *g = pl->g;
    for (int64_t v = pl->nv - 1; v >= 1; v--) {
        if (v == g->output) continue; /* the caller's doutput */
        int64_t start = pl->last_step - pl->last_reader[v], end = pl->last_step - (v - 1);
        int64_t share = -1;
        if (p->consumers[v] == 1 && g->nodes[pl->last_reader[v]].op == DY_OP_RELU) {
            int64_t out = pl->last_reader[v] + 1;
            if (pl->grad_block[out] >= 0 && pl->value_bytes[out] == pl->value_bytes[v]) share = pl->grad_block[out];
        }
        if (share >= 0) pl->blocks[share].last = max64(pl->blocks[share].last, end);
        pl->grad_block[v] = share >= 0 ? share : new_block(pl, pl->value_bytes[v], start, end);
    }
    for (int64_t j = pl->nn - 1; j >= 0; j--) {
        const dy_node *nd = &g->nodes[j];
        for (int k = 0; k < 2; k++) {
            int32_t u = nd->in[k];
            if (u < 0) continue;
            bool first = pl->last_reader[u] == j && (k == 0 || nd->in[0] != u);
            p->first[2 * j + k] = first;
            if (!first && nd->op != DY_OP_ADD)
                pl->scratch_block[2 * j + k] = new_block(pl, pl->value_bytes[u], pl->last_step - j, pl->last_step - j);
        }
    }
}

void dy_plan_free(dy_plan *p) {
    free(p->value_off);
    free(p->grad_off);
    free(p->scratch_off);
    free(p->first);
    free(p->kept);
    free(p->consumers);
    memset(p, 0, sizeof *p);
}

dy_status dy_plan_create(dy_ctx *ctx, const dy_graph *g, dy_exec_mode mode, const int64_t *value_bytes,
                         dy_plan *p) {
    memset(p, 0, sizeof *p);
    const int64_t nn = g->n_nodes, nv = nn + 1, n_scratch = 2 * nn + 1;
    planner pl = {.g = g, .value_bytes = value_bytes, .train = mode == DY_EXEC_TRAIN, .nn = nn, .nv = nv,
                  .last_step = 2 * nn - 1};
    p->n_values = (int32_t)nv;
    p->value_off = malloc(sizeof *p->value_off * (size_t)nv);
    p->grad_off = malloc(sizeof *p->grad_off * (size_t)nv);
    p->scratch_off = malloc(sizeof *p->scratch_off * (size_t)n_scratch);
    p->first = calloc((size_t)n_scratch, sizeof *p->first);
    p->kept = calloc((size_t)nv, sizeof *p->kept);
    p->consumers = calloc((size_t)nv, sizeof *p->consumers);
    /* at most one block per value, one per gradient and one per scratch */
    pl.blocks = calloc((size_t)(2 * nv + 2 * nn), sizeof *pl.blocks);
    pl.value_block = malloc(sizeof *pl.value_block * (size_t)nv);
    pl.grad_block = malloc(sizeof *pl.grad_block * (size_t)nv);
    pl.scratch_block = malloc(sizeof *pl.scratch_block * (size_t)n_scratch);
    pl.last_reader = malloc(sizeof *pl.last_reader * (size_t)nv);
    dy_status st = DY_OK;
    if (!p->value_off || !p->grad_off || !p->scratch_off || !p->first || !p->kept || !p->consumers || !pl.blocks ||
        !pl.value_block || !pl.grad_block || !pl.scratch_block || !pl.last_reader) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory planning a graph of %lld nodes", (long long)nn);
        goto done;
    }
    for (int64_t v = 0; v < nv; v++) {
        pl.last_reader[v] = pl.value_block[v] = pl.grad_block[v] = -1;
        p->value_off[v] = p->grad_off[v] = -1;
        p->all_bytes += value_bytes[v];
    }
    for (int64_t k = 0; k < n_scratch; k++) p->scratch_off[k] = pl.scratch_block[k] = -1;
    if ((st = count_readers(ctx, &pl, p)) != DY_OK) goto done;
    plan_values(&pl, p);
    if (pl.train) plan_gradients(&pl, p);
    for (int64_t i = 0; i < pl.n_blocks; i++) pl.blocks[i].bytes = round64(pl.blocks[i].bytes);
    p->arena_bytes = dy_plan_place(pl.blocks, pl.n_blocks);
    if (p->arena_bytes < 0) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory planning a graph of %lld nodes", (long long)nn);
        goto done;
    }
    for (int64_t v = 0; v < nv; v++) {
        if (pl.value_block[v] >= 0) p->value_off[v] = pl.blocks[pl.value_block[v]].offset;
        if (pl.grad_block[v] >= 0) p->grad_off[v] = pl.blocks[pl.grad_block[v]].offset;
    }
    for (int64_t k = 0; k < 2 * nn; k++)
        if (pl.scratch_block[k] >= 0) p->scratch_off[k] = pl.blocks[pl.scratch_block[k]].offset;
done:
    free(pl.blocks), free(pl.value_block), free(pl.grad_block), free(pl.scratch_block), free(pl.last_reader);
    if (st != DY_OK) dy_plan_free(p);
    return st;
}
