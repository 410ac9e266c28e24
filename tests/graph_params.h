/* Test parameters for graphs, shared by the executor tests (test_dnnl_exec, test_bf16, test_small_widths) and
 * tools/width_probe.c. */
#ifndef DY_TESTS_GRAPH_PARAMS_H
#define DY_TESTS_GRAPH_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rng.h"
#include "engine/graph.h"

/* x[i] = scale * N(0, 1) from r. */
void test_fill_normal(float *x, int64_t n, dy_rng *r, double scale);
/* Parameters and statistics far from the defaults, so that every term of every formula matters: He-scaled normal
 * weights, biases N(0, 0.3^2), gamma in [0.5, 1.5], beta and running means in [-0.3, 0.3], running variances in
 * [0.5, 2], num_batches 3. */
void test_random_params(const dy_graph *g, float *params, float *state, uint64_t seed);
/* The same, with uniform He-variance weights and the biases left alone (test_small_widths and tools/width_probe: their
 * kink-sensitive cases were chosen on these draws). */
void test_random_params_uniform(const dy_graph *g, float *params, float *state, uint64_t seed);

#endif
