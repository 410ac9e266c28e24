/* Test parameters for graphs (graph_params.h). */
#include "graph_params.h"

#include <math.h>

void test_fill_normal(float *x, int64_t n, dy_rng *r, double scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(scale * dy_rng_normal(r));
}

/* The two variants share the draw order (node by node; weights, then bias, then batch-norm terms channel by channel),
 * so each keeps the values its tests were written against. */
static void fill_params(const dy_graph *g, float *params, float *state, uint64_t seed, bool uniform) {
    dy_rng r;
    dy_rng_init(&r, seed, DY_RNG_EVAL, 7, 0);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const dy_node *nd = &g->nodes[i];
        int64_t c_in = dy_graph_value_channels(g, nd->in[0]);
        switch (nd->op) {
        case DY_OP_CONV2D:
        case DY_OP_LINEAR: {
            int64_t fan_in = c_in * (nd->op == DY_OP_CONV2D ? (int64_t)nd->kernel_h * nd->kernel_w : 1);
            if (uniform) { /* uniform with He's variance 2 / fan_in; biases left as they are */
                double bound = sqrt(6.0 / (double)fan_in);
                for (int64_t k = 0; k < nd->channels * fan_in; k++)
                    params[nd->weight + k] = (float)dy_rng_range(&r, -bound, bound);
                break;
            }
            test_fill_normal(params + nd->weight, nd->channels * fan_in, &r, sqrt(2.0 / (double)fan_in));
            if (nd->bias >= 0) test_fill_normal(params + nd->bias, nd->channels, &r, 0.3);
            break;
        }
        case DY_OP_BATCHNORM:
            for (int64_t c = 0; c < nd->channels; c++) {
                params[nd->weight + c] = (float)dy_rng_range(&r, 0.5, 1.5);
                params[nd->bias + c] = (float)dy_rng_range(&r, -0.3, 0.3);
                state[nd->running_mean + c] = (float)dy_rng_range(&r, -0.3, 0.3);
                state[nd->running_var + c] = (float)dy_rng_range(&r, 0.5, 2.0);
            }
            state[nd->num_batches] = 3;
            break;
        default: break;
        }
    }
}

void test_random_params(const dy_graph *g, float *params, float *state, uint64_t seed) {
    fill_params(g, params, state, seed, false);
}

void test_random_params_uniform(const dy_graph *g, float *params, float *state, uint64_t seed) {
    fill_params(g, params, state, seed, true);
}
