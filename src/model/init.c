/* PyTorch's default initialisation, drawn from counter-based streams so that it does not depend on threads. */
#include "model/resnet.h"

#include <math.h>

#include "core/rng.h"

static void fill_normal(float *p, int64_t count, double std, uint64_t seed, uint32_t tensor) {
    dy_rng r;
    dy_rng_init(&r, seed, DY_RNG_INIT, tensor, 0);
    for (int64_t i = 0; i < count; i++) p[i] = (float)(std * dy_rng_normal(&r));
}

static void fill_uniform(float *p, int64_t count, double bound, uint64_t seed, uint32_t tensor) {
    dy_rng r;
    dy_rng_init(&r, seed, DY_RNG_INIT, tensor, 0);
    for (int64_t i = 0; i < count; i++) p[i] = (float)dy_rng_range(&r, -bound, bound);
}

void dy_model_init_weights(const dy_graph *g, uint64_t seed, float *params, float *state) {
    uint32_t tensor = 0; /* parameter tensors in buffer order: each weight, then its bias */
    int64_t c_in;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const dy_node *nd = &g->nodes[i];
        c_in = dy_graph_value_channels(g, nd->in[0]);
        switch (nd->op) {
        case DY_OP_CONV2D: {
            /* torchvision ResNet: kaiming_normal_(mode='fan_out', nonlinearity='relu'): std = sqrt(2 / fan_out). */
            int64_t area = (int64_t)nd->kernel_h * nd->kernel_w;
            fill_normal(params + nd->weight, nd->channels * c_in * area, sqrt(2.0 / (double)(nd->channels * area)),
                        seed, tensor++);
            /* nn.Conv2d's default bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
            if (nd->bias >= 0)
                fill_uniform(params + nd->bias, nd->channels, 1.0 / sqrt((double)(c_in * area)), seed, tensor++);
            break;
        }
        case DY_OP_LINEAR: {
            /* nn.Linear: kaiming_uniform_(a=sqrt(5)) gives the bound gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in). */
            double bound = 1.0 / sqrt((double)c_in);
            fill_uniform(params + nd->weight, nd->channels * c_in, bound, seed, tensor++);
            if (nd->bias >= 0) fill_uniform(params + nd->bias, nd->channels, bound, seed, tensor++);
            break;
        }
        case DY_OP_BATCHNORM:
            for (int64_t c = 0; c < nd->channels; c++) {
                params[nd->weight + c] = 1.0f;
                params[nd->bias + c] = 0.0f;
                state[nd->running_mean + c] = 0.0f;
                state[nd->running_var + c] = 1.0f;
            }
            state[nd->num_batches] = 0.0f;
            tensor += 2;
            break;
        default:
            break;
        }
    }
}
