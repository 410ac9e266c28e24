/* Network builders and initialisation for the model API (src/model). */
#ifndef DY_MODEL_RESNET_H
#define DY_MODEL_RESNET_H

#include "dystress.h"
#include "engine/graph.h"

/* Appends a torchvision ResNet encoder (no fc) for config (depth, width, stem, dims) to g, which must be empty and
 * initialised with config->in_channels; DY_DIMS_1D makes every window 1 x k and sets g->one_d. Sets g->features (and g->output) to the global-pool value. Node names and
 * parameter order are torchvision's: conv1, bn1, [maxpool], layer1.0.conv1, ..., layer2.0.downsample.0, ... */
dy_status dy_resnet_build(dy_ctx *ctx, dy_graph *g, const dy_model_config *config);

/* Appends the projection head Linear(d, hidden, no bias) - BN1d - ReLU - Linear(hidden, out, no bias) - BN1d to the
 * value in, named head.0, head.1, head.2 (ReLU), head.3, head.4 as an nn.Sequential. Sets g->output. */
dy_status dy_head_build(dy_ctx *ctx, dy_graph *g, int32_t in, int64_t hidden, int64_t out);

/* PyTorch's default initialisation of every node of g, drawn from the Philox streams (seed, DY_RNG_INIT, t, 0)
 * where t counts parameter tensors in buffer order (weight before bias): convs kaiming_normal_(mode='fan_out',
 * nonlinearity='relu') as torchvision's ResNet, linears (and conv biases) nn.Linear's default
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), BN weight 1 bias 0, running mean 0, var 1, num_batches 0. */
void dy_model_init_weights(const dy_graph *g, uint64_t seed, float *params, float *state);

#endif
