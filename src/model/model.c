/* The public model: a ResNet graph (+ head), its flat buffers, its named tensors and cached executors. */
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "model/resnet.h"

dy_model_config dy_model_config_default(void) {
    dy_model_config c = {.depth = 18, .width = 64, .in_channels = 3, .stem = DY_STEM_CIFAR, .head = true,
                         .head_hidden = 512, .head_out = 128};
    return c;
}

static void add_tensor(dy_model *m, const char *module, const char *what, dy_tensor_kind kind, int ndim,
                       const int64_t *shape, int64_t offset) {
    dy_tensor_info *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s.%s", module, what);
    t->kind = kind;
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->numel *= shape[d];
    }
    t->offset = offset;
    t->in_head = strncmp(module, "head.", 5) == 0;
}

/* The tensors of every node in torchvision's state_dict order: per module its parameters, then its buffers. */
static dy_status build_tensor_table(dy_model *m) {
    const dy_graph *g = &m->graph;
    m->tensors = calloc((size_t)g->n_nodes * 5 + 1, sizeof *m->tensors);
    if (!m->tensors) return dy_fail(m->ctx, DY_ERR_NOMEM, "out of memory listing the model's tensors");
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const dy_node *nd = &g->nodes[i];
        int64_t c_in = dy_graph_value_channels(g, nd->in[0]), c = nd->channels;
        switch (nd->op) {
        case DY_OP_CONV2D: {
            /* nn.Conv1d's [out, in, k] in a 1-D network (the same floats as [out, in, 1, k]) */
            int64_t shape[4] = {c, c_in, nd->kernel_h, nd->kernel_w}, shape1d[3] = {c, c_in, nd->kernel_w};
            if (g->one_d) add_tensor(m, nd->name, "weight", DY_TENSOR_PARAM, 3, shape1d, nd->weight);
            else add_tensor(m, nd->name, "weight", DY_TENSOR_PARAM, 4, shape, nd->weight);
            if (nd->bias >= 0) add_tensor(m, nd->name, "bias", DY_TENSOR_PARAM, 1, &c, nd->bias);
            break;
        }
        case DY_OP_LINEAR: {
            int64_t shape[2] = {c, c_in};
            add_tensor(m, nd->name, "weight", DY_TENSOR_PARAM, 2, shape, nd->weight);
            if (nd->bias >= 0) add_tensor(m, nd->name, "bias", DY_TENSOR_PARAM, 1, &c, nd->bias);
            break;
        }
        case DY_OP_BATCHNORM:
            add_tensor(m, nd->name, "weight", DY_TENSOR_PARAM, 1, &c, nd->weight);
            add_tensor(m, nd->name, "bias", DY_TENSOR_PARAM, 1, &c, nd->bias);
            add_tensor(m, nd->name, "running_mean", DY_TENSOR_STATE, 1, &c, nd->running_mean);
            add_tensor(m, nd->name, "running_var", DY_TENSOR_STATE, 1, &c, nd->running_var);
            add_tensor(m, nd->name, "num_batches_tracked", DY_TENSOR_STATE, 0, NULL, nd->num_batches);
            m->tensors[m->n_tensors - 1].is_int64 = true;
            break;
        default:
            break;
        }
    }
    return DY_OK;
}

const char *dy_precision_name(dy_precision p) {
    switch (p) {
    case DY_PRECISION_FP32: return "fp32";
    case DY_PRECISION_BF16: return "bf16";
    }
    return "?";
}

dy_status dy_precision_check(dy_ctx *ctx, dy_precision p) {
    if (p == DY_PRECISION_FP32) return DY_OK;
    if (p != DY_PRECISION_BF16) return dy_fail(ctx, DY_ERR_INVALID, "unknown precision %d (fp32 or bf16)", (int)p);
    if (dy_ctx_backend(ctx) != DY_BACKEND_DNNL)
        return dy_fail(ctx, DY_ERR_UNSUPPORTED,
                       "precision bf16 runs on the oneDNN backend only; the reference backend (%s) computes in "
                       "fp32 (use --precision fp32 with --backend ref)",
                       dy_backend_name(dy_ctx_backend(ctx)));
    return dy_dnnl_bf16_check(ctx);
}

dy_status dy_model_create(dy_ctx *ctx, const dy_model_config *config, uint64_t seed, dy_model **out) {
    if (!out) return dy_fail(ctx, DY_ERR_INVALID, "dy_model_create: no place for the model");
    *out = NULL;
    if (!config) return dy_fail(ctx, DY_ERR_INVALID, "dy_model_create: no configuration");
    if (config->head && (config->head_hidden <= 0 || config->head_out <= 0 || config->head_hidden > (1 << 20) ||
                         config->head_out > (1 << 20)))
        return dy_fail(ctx, DY_ERR_INVALID, "projection head sizes %lld/%lld: expected 1 to 1048576",
                       (long long)config->head_hidden, (long long)config->head_out);
    dy_status pst = dy_precision_check(ctx, config->precision);
    if (pst != DY_OK) return pst;
    dy_model *m = calloc(1, sizeof *m);
    if (!m) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory creating a model");
    m->ctx = ctx;
    m->config = *config;
    dy_graph_init(&m->graph, config->in_channels);
    m->graph.precision = config->precision;
    dy_status st = dy_resnet_build(ctx, &m->graph, config);
    if (st == DY_OK && config->head)
        st = dy_head_build(ctx, &m->graph, m->graph.features, config->head_hidden, config->head_out);
    if (st == DY_OK) st = build_tensor_table(m);
    if (st != DY_OK) {
        dy_model_destroy(m);
        return st;
    }
    size_t pbytes = sizeof(float) * (size_t)m->graph.n_params;
    m->params = dy_alloc(pbytes);
    m->grads = dy_alloc(pbytes);
    m->state = dy_alloc(sizeof(float) * (size_t)m->graph.n_state);
    if (!m->params || !m->grads || !m->state) {
        dy_model_destroy(m);
        return dy_fail(ctx, DY_ERR_NOMEM, "out of memory: %lld parameters", (long long)m->graph.n_params);
    }
    dy_model_init_weights(&m->graph, seed, m->params, m->state);
    *out = m;
    return DY_OK;
}

void dy_model_destroy(dy_model *m) {
    if (!m) return;
    for (int i = 0; i < DY_MODEL_EXEC_CACHE; i++) dy_exec_destroy(m->cache[i].exec);
    dy_graph_free(&m->graph);
    free(m->tensors);
    dy_free(m->params);
    dy_free(m->grads);
    dy_free(m->state);
    free(m);
}

const dy_model_config *dy_model_get_config(const dy_model *m) { return &m->config; }

int64_t dy_model_feature_dim(const dy_model *m) { return dy_graph_value_channels(&m->graph, m->graph.features); }

int64_t dy_model_output_dim(const dy_model *m) { return dy_graph_value_channels(&m->graph, m->graph.output); }

float *dy_model_params(dy_model *m, int64_t *count) {
    if (count) *count = m->graph.n_params;
    return m->params;
}

float *dy_model_grads(dy_model *m, int64_t *count) {
    if (count) *count = m->graph.n_params;
    return m->grads;
}

float *dy_model_state(dy_model *m, int64_t *count) {
    if (count) *count = m->graph.n_state;
    return m->state;
}

const dy_tensor_info *dy_model_tensors(const dy_model *m, int64_t *count) {
    if (count) *count = m->n_tensors;
    return m->tensors;
}

void dy_model_set_bn_sync(dy_model *m, const dy_bn_sync *sync) {
    if (m->graph.bn_sync == sync) return;
    for (int i = 0; i < DY_MODEL_EXEC_CACHE; i++) {
        dy_exec_destroy(m->cache[i].exec);
        m->cache[i].exec = NULL;
    }
    m->pending = NULL;
    m->graph.bn_sync = sync;
}

void dy_model_set_grad_hook(dy_model *m, const dy_grad_hook *hook) { m->graph.grad_hook = hook; }

/* The cached executor for (n, h, w, mode), planned on first use; the least recently used one makes room. */
static dy_status get_exec(dy_model *m, int64_t n, int64_t h, int64_t w, dy_exec_mode mode, dy_exec **out) {
    dy_model_exec_entry *victim = &m->cache[0];
    m->clock++;
    for (int i = 0; i < DY_MODEL_EXEC_CACHE; i++) {
        dy_model_exec_entry *c = &m->cache[i];
        if (c->exec && c->n == n && c->h == h && c->w == w && c->mode == mode) {
            c->used = m->clock;
            *out = c->exec;
            return DY_OK;
        }
        /* Never evict the executor whose training forward awaits its backward, unless nothing else is there. */
        if (c->exec == m->pending && m->pending) continue;
        if (!c->exec || (victim->exec && (victim->exec == m->pending || c->used < victim->used))) victim = c;
    }
    if (victim->exec) {
        if (victim->exec == m->pending) m->pending = NULL;
        dy_exec_destroy(victim->exec);
        victim->exec = NULL;
    }
    dy_exec *e;
    dy_status st = dy_exec_create(m->ctx, &m->graph, n, h, w, mode, &e);
    if (st != DY_OK) return st;
    *victim = (dy_model_exec_entry){.exec = e, .n = n, .h = h, .w = w, .mode = mode, .used = m->clock};
    *out = e;
    return DY_OK;
}

static dy_status check_input(dy_model *m, const float *input, int64_t n, int64_t h, int64_t w, int64_t min_n) {
    if (!input) return dy_fail(m->ctx, DY_ERR_INVALID, "model forward: input is NULL");
    if (n < min_n || h <= 0 || w <= 0)
        return dy_fail(m->ctx, DY_ERR_INVALID, "model forward: batch %lld of %lldx%lld images (need n >= %lld)",
                       (long long)n, (long long)h, (long long)w, (long long)min_n);
    return DY_OK;
}

dy_status dy_model_forward_train(dy_model *m, const float *input, int64_t n, int64_t h, int64_t w,
                                 float *features, float *output) {
    dy_status st = check_input(m, input, n, h, w, 2);
    dy_exec *e;
    if (st == DY_OK) st = get_exec(m, n, h, w, DY_EXEC_TRAIN, &e);
    if (st == DY_OK) st = dy_exec_forward(e, m->params, m->state, input, features, output);
    m->pending = st == DY_OK ? e : NULL;
    return st;
}

dy_status dy_model_backward(dy_model *m, const float *doutput) {
    if (!m->pending) return dy_fail(m->ctx, DY_ERR_INVALID, "dy_model_backward without dy_model_forward_train");
    if (!doutput) return dy_fail(m->ctx, DY_ERR_INVALID, "dy_model_backward: doutput is NULL");
    dy_status st = dy_exec_backward(m->pending, m->params, m->grads, doutput, NULL);
    m->pending = NULL;
    return st;
}

dy_status dy_model_forward_eval(dy_model *m, const float *input, int64_t n, int64_t h, int64_t w, float *features,
                                float *output) {
    dy_status st = check_input(m, input, n, h, w, 1);
    dy_exec *e;
    if (st == DY_OK) st = get_exec(m, n, h, w, DY_EXEC_EVAL, &e);
    if (st == DY_OK) st = dy_exec_forward(e, m->params, m->state, input, features, output);
    return st;
}

dy_status dy_model_embed(dy_model *m, const float *input, int64_t n, int64_t h, int64_t w, float *features) {
    if (!features) return dy_fail(m->ctx, DY_ERR_INVALID, "dy_model_embed: features is NULL");
    return dy_model_forward_eval(m, input, n, h, w, features, NULL);
}

int64_t dy_model_memory(const dy_model *m) {
    int64_t bytes = 0;
    for (int i = 0; i < DY_MODEL_EXEC_CACHE; i++) bytes += dy_exec_memory(m->cache[i].exec);
    return bytes;
}
