/* The graph cut into groups, the unit the oneDNN executor builds: a convolution, a batch norm with the ReLU after
 * it, a residual add with the block's closing ReLU, ... in training; in evaluation a convolution with the batch
 * norm, residual add and ReLU after it folded in. Each group family appends its items in its own file. */
#include <stdlib.h>

#include "engine/dnnl/dnnl_exec_internal.h"

/* The node reading value v when it is the only reader, v is not an output of the network, and the reader is op. */
static int32_t only_reader(const dy_graph *g, const int32_t *n_consumers, const int32_t *reader, const bool *taken,
                           int32_t v, dy_op op) {
    if (v == g->features || v == g->output || n_consumers[v] != 1) return -1;
    int32_t r = reader[v];
    return g->nodes[r].op == op && !taken[r] ? r : -1;
}

dy_status dd_make_groups(dy_ctx *ctx, const dy_graph *g, bool train, dd_group *groups, int32_t *n_groups) {
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

/* Each family's builders by group kind, and whether its backward reads the group's input. */
typedef dy_status (*group_builder)(dd_builder *b, const dd_group *gr);
static const struct {
    group_builder forward, backward;
    bool backward_reads_input;
} families[] = {
    [DD_G_CONV] = {dd_conv_forward, dd_conv_backward, true},
    [DD_G_BN] = {dd_bn_forward, dd_bn_backward, true},
    [DD_G_RELU] = {dd_relu_forward, dd_relu_backward, false},
    [DD_G_ADD] = {dd_add_forward, dd_add_backward, false},
    [DD_G_MAXPOOL] = {dd_pool_forward, dd_pool_backward, false}, /* max pooling keeps its workspace instead */
    [DD_G_AVGPOOL] = {dd_pool_forward, dd_pool_backward, false},
    [DD_G_LINEAR] = {dd_linear_forward, dd_linear_backward, true},
    [DD_G_L2NORM] = {dd_l2norm_forward, dd_l2norm_backward, true},
};

dy_status dd_group_forward(dd_builder *b, const dd_group *gr) { return families[gr->kind].forward(b, gr); }

dy_status dd_group_backward(dd_builder *b, const dd_group *gr) {
    if (dd_diff_get(b, gr->last + 1) < 0)
        return dy_fail(b->ctx, DY_ERR_UNSUPPORTED,
                       "oneDNN executor: node %d (%s) does not lead to the output; cannot train it", (int)gr->last,
                       b->g->nodes[gr->last].name);
    return families[gr->kind].backward(b, gr);
}

/* Which values the backward program reads, given the groups: a family's input, and the output of every ReLU,
 * alone or fused (its backward, and the plain-C blocked batch norm's, take the mask from the output). */
void dd_mark_backward_reads(dd_builder *b, const dd_group *groups, int32_t ng) {
    for (int32_t k = 0; k < ng; k++) {
        const dd_group *gr = &groups[k];
        if (families[gr->kind].backward_reads_input) b->needed_backward[b->g->nodes[gr->main].in[0]] = true;
        if (gr->relu >= 0 || gr->kind == DD_G_RELU) b->needed_backward[gr->last + 1] = true;
    }
}
