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

/* A buffer to place: a byte size and a lifetime [start, end] in steps; buffers sharing memory in place are merged
 * into one slot. */
typedef struct {
    int64_t bytes, start, end, offset;
} slot;

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static int by_size_desc(const void *a, const void *b) {
    const slot *x = *(const slot *const *)a, *y = *(const slot *const *)b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int by_offset(const void *a, const void *b) {
    const slot *x = *(const slot *const *)a, *y = *(const slot *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Greedy placement, largest first: each slot goes to the lowest offset that overlaps no placed slot alive at the
 * same time. Returns the arena size. */
static int64_t place(slot *slots, int64_t count, slot **order, slot **live) {
    for (int64_t i = 0; i < count; i++) order[i] = &slots[i];
    qsort(order, (size_t)count, sizeof *order, by_size_desc);
    int64_t arena = 0;
    for (int64_t i = 0; i < count; i++) {
        slot *s = order[i];
        int64_t n_live = 0;
        for (int64_t j = 0; j < i; j++)
            if (order[j]->start <= s->end && s->start <= order[j]->end) live[n_live++] = order[j];
        qsort(live, (size_t)n_live, sizeof *live, by_offset);
        int64_t off = 0;
        for (int64_t j = 0; j < n_live; j++) {
            if (live[j]->offset - off >= s->bytes) break;
            off = max64(off, live[j]->offset + live[j]->bytes);
        }
        s->offset = off;
        arena = max64(arena, off + s->bytes);
    }
    return arena;
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
    const int64_t nn = g->n_nodes, nv = nn + 1, last_step = 2 * nn - 1;
    const bool train = mode == DY_EXEC_TRAIN;
    p->n_values = (int32_t)nv;
    p->value_off = malloc(sizeof *p->value_off * (size_t)nv);
    p->grad_off = malloc(sizeof *p->grad_off * (size_t)nv);
    p->scratch_off = malloc(sizeof *p->scratch_off * (size_t)(2 * nn + 1));
    p->first = calloc((size_t)(2 * nn + 1), sizeof *p->first);
    p->kept = calloc((size_t)nv, sizeof *p->kept);
    p->consumers = calloc((size_t)nv, sizeof *p->consumers);
    /* Slots: one per value, one per gradient, one per scratch; value_slot/grad_slot map to merged slots. */
    int64_t max_slots = 2 * nv + 2 * nn;
    slot *slots = calloc((size_t)max_slots, sizeof *slots);
    slot **order = malloc(sizeof *order * (size_t)max_slots), **live = malloc(sizeof *live * (size_t)max_slots);
    int64_t *value_slot = malloc(sizeof *value_slot * (size_t)nv), *grad_slot = malloc(sizeof *grad_slot * (size_t)nv);
    int64_t *last_reader = malloc(sizeof *last_reader * (size_t)nv);
    int64_t *scratch_slot = malloc(sizeof *scratch_slot * (size_t)(2 * nn + 1));
    dy_status st = DY_OK;
    if (!p->value_off || !p->grad_off || !p->scratch_off || !p->first || !p->kept || !p->consumers || !slots ||
        !order || !live || !value_slot || !grad_slot || !last_reader || !scratch_slot) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory planning a graph of %lld nodes", (long long)nn);
        goto done;
    }
    for (int64_t v = 0; v < nv; v++) {
        last_reader[v] = -1;
        value_slot[v] = grad_slot[v] = -1;
        p->value_off[v] = p->grad_off[v] = -1;
        p->all_bytes += value_bytes[v];
    }
    for (int64_t k = 0; k < 2 * nn; k++) {
        p->scratch_off[k] = -1;
        scratch_slot[k] = -1;
    }
    for (int64_t j = 0; j < nn; j++)
        for (int k = 0; k < 2; k++) {
            int32_t u = g->nodes[j].in[k];
            if (u < 0) continue;
            p->consumers[u]++;
            last_reader[u] = j;
        }
    for (int64_t v = 1; v < nv; v++) {
        if (v == g->output && p->consumers[v] > 0) {
            st = dy_fail(ctx, DY_ERR_INVALID, "graph output (node %s) is read by another node",
                         g->nodes[v - 1].name);
            goto done;
        }
        if (v != g->output && p->consumers[v] == 0) {
            st = dy_fail(ctx, DY_ERR_INVALID, "value of node %s is never used", g->nodes[v - 1].name);
            goto done;
        }
    }

    /* Value lifetimes. */
    int64_t n_slots = 0;
    for (int64_t v = 0; v < nv; v++) {
        int64_t start = v == 0 ? 0 : v - 1, end = start;
        for (int64_t j = 0; j < nn; j++) {
            const dy_node *nd = &g->nodes[j];
            if (nd->in[0] != v && nd->in[1] != v) continue;
            end = max64(end, j);
            if (train && dy_plan_backward_needs_input(nd->op)) end = max64(end, last_step - j);
        }
        if (train && v > 0 && dy_plan_backward_needs_output(g->nodes[v - 1].op)) end = max64(end, last_step - (v - 1));
        p->kept[v] = end >= nn;
        if (p->kept[v]) p->kept_bytes += value_bytes[v];
        if (v == 0 && !train) continue; /* the caller's buffer */
        /* In place: ReLU and add write over an input that dies at this node. */
        int64_t share = -1;
        if (v > 0) {
            const dy_node *nd = &g->nodes[v - 1];
            int nin = nd->op == DY_OP_ADD ? 2 : nd->op == DY_OP_RELU ? 1 : 0;
            for (int k = 0; k < nin && share < 0; k++) {
                int32_t u = nd->in[k];
                if (u == 0 || value_slot[u] < 0 || value_bytes[u] != value_bytes[v]) continue;
                if (slots[value_slot[u]].end == v - 1 && last_reader[u] == v - 1) share = value_slot[u];
            }
        }
        if (share >= 0) {
            value_slot[v] = share;
            slots[share].end = max64(slots[share].end, end);
        } else {
            value_slot[v] = n_slots;
            slots[n_slots++] = (slot){value_bytes[v], start, end, 0};
        }
    }

    if (train) {
        /* Gradient lifetimes: from the backward of the last reader to the backward of the producer. */
        for (int64_t v = nv - 1; v >= 1; v--) {
            if (v == g->output) continue; /* the caller's doutput */
            int64_t start = last_step - last_reader[v], end = last_step - (v - 1);
            int64_t share = -1;
            const dy_node *reader = &g->nodes[last_reader[v]];
            /* ReLU backward in place: d(v) goes into d(relu output) when v's only reader is that ReLU. */
            if (p->consumers[v] == 1 && reader->op == DY_OP_RELU) {
                int64_t out = last_reader[v] + 1;
                if (grad_slot[out] >= 0 && value_bytes[out] == value_bytes[v]) share = grad_slot[out];
            }
            if (share >= 0) {
                grad_slot[v] = share;
                slots[share].end = max64(slots[share].end, end);
            } else {
                grad_slot[v] = n_slots;
                slots[n_slots++] = (slot){value_bytes[v], start, end, 0};
            }
        }
        /* First writers and scratch for the later ones. */
        for (int64_t j = nn - 1; j >= 0; j--) {
            const dy_node *nd = &g->nodes[j];
            for (int k = 0; k < 2; k++) {
                int32_t u = nd->in[k];
                if (u < 0) continue;
                bool first = last_reader[u] == j && (k == 0 || nd->in[0] != u);
                p->first[2 * j + k] = first;
                if (!first && nd->op != DY_OP_ADD) {
                    scratch_slot[2 * j + k] = n_slots;
                    slots[n_slots++] = (slot){value_bytes[u], last_step - j, last_step - j, 0};
                }
            }
        }
    }
    for (int64_t i = 0; i < n_slots; i++) slots[i].bytes = (slots[i].bytes + 63) & ~(int64_t)63;
    p->arena_bytes = place(slots, n_slots, order, live);
    for (int64_t v = 0; v < nv; v++) {
        if (value_slot[v] >= 0) p->value_off[v] = slots[value_slot[v]].offset;
        if (grad_slot[v] >= 0) p->grad_off[v] = slots[grad_slot[v]].offset;
    }
    for (int64_t k = 0; k < 2 * nn; k++)
        if (scratch_slot[k] >= 0) p->scratch_off[k] = slots[scratch_slot[k]].offset;
done:
    free(slots);
    free(order);
    free(live);
    free(value_slot);
    free(grad_slot);
    free(last_reader);
    free(scratch_slot);
    if (st != DY_OK) dy_plan_free(p);
    return st;
}
