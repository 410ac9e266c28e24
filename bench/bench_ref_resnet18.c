/* Times the reference ops on the layer sequence of a small ResNet-18 (CIFAR stem): every conv with its batch norm
 * and ReLU, forward and backward, then pool and a linear layer. It checks that the plain-C oracle is fast enough to
 * run the engine's whole-network tests (the goal: well under a second per forward+backward at width 16, 16x16
 * images, batch 8). Not the real network (the residual wiring is left out: adds cost nothing here), only its cost.
 * Usage: bench_ref_resnet18 [width] [image size] [batch]. */
#include "engine/ref/ops.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    dy_conv_shape cs;
    float *x, *w, *y, *z, *dz, *dy, *dx, *dw, *mean, *rstd, *gamma, *beta, *dgamma, *dbeta;
} layer;

static float *filled(int64_t count, float value) {
    float *p = malloc((size_t)count * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (int64_t i = 0; i < count; i++) p[i] = value * (float)((i * 7919) % 17 - 8);
    return p;
}

int main(int argc, char **argv) {
    const int64_t width = argc > 1 ? atoll(argv[1]) : 16, size = argc > 2 ? atoll(argv[2]) : 16;
    const int64_t batch = argc > 3 ? atoll(argv[3]) : 8;
    /* (in, out, stride, kernel) of every conv: stem, then per stage two BasicBlocks of two 3x3 convs, the first block
     * of stages 2-4 with stride 2 and a 1x1 stride-2 downsample. */
    int64_t spec[21][4], nl = 0, c = 3;
    spec[nl][0] = c, spec[nl][1] = width, spec[nl][2] = 1, spec[nl][3] = 3, nl++;
    c = width;
    for (int stage = 0; stage < 4; stage++) {
        const int64_t out = width << stage, stride = stage ? 2 : 1;
        spec[nl][0] = c, spec[nl][1] = out, spec[nl][2] = stride, spec[nl][3] = 3, nl++;
        spec[nl][0] = out, spec[nl][1] = out, spec[nl][2] = 1, spec[nl][3] = 3, nl++;
        if (stage) spec[nl][0] = c, spec[nl][1] = out, spec[nl][2] = 2, spec[nl][3] = 1, nl++;
        spec[nl][0] = out, spec[nl][1] = out, spec[nl][2] = 1, spec[nl][3] = 3, nl++;
        spec[nl][0] = out, spec[nl][1] = out, spec[nl][2] = 1, spec[nl][3] = 3, nl++;
        c = out;
    }
    layer L[21];
    int64_t h = size;
    double flops = 0;
    for (int64_t i = 0; i < nl; i++) {
        layer *l = &L[i];
        /* A downsample conv reads the block input, whose size is the one before the block's strided conv. */
        const int64_t in_h = spec[i][3] == 1 ? L[i - 2].cs.h : h;
        l->cs = (dy_conv_shape){.n = batch, .c = spec[i][0], .h = in_h, .w = in_h, .k = spec[i][1], .r = spec[i][3],
                                .s = spec[i][3], .stride_h = spec[i][2], .stride_w = spec[i][2],
                                .pad_h = spec[i][3] / 2, .pad_w = spec[i][3] / 2};
        if (conv2d_shape(&l->cs)) return fprintf(stderr, "bad shape at conv %lld\n", (long long)i), 1;
        if (spec[i][3] != 1) h = l->cs.p;
        const dy_conv_shape *s = &l->cs;
        const int64_t nx = s->n * s->c * s->h * s->w, ny = s->n * s->k * s->p * s->q, nw = s->k * s->c * s->r * s->s;
        l->x = filled(nx, 0.01f), l->w = filled(nw, 0.01f), l->y = filled(ny, 0), l->z = filled(ny, 0);
        l->dz = filled(ny, 0.01f), l->dy = filled(ny, 0), l->dx = filled(nx, 0), l->dw = filled(nw, 0);
        l->mean = filled(s->k, 0), l->rstd = filled(s->k, 0), l->gamma = filled(s->k, 0.1f);
        l->beta = filled(s->k, 0.1f), l->dgamma = filled(s->k, 0), l->dbeta = filled(s->k, 0);
        flops += 3.0 * 2.0 * (double)ny * (double)(s->c * s->r * s->s); /* forward, data and weight gradients */
    }
    const int64_t feat = c;
    const int64_t pool_hw = L[nl - 1].cs.p * L[nl - 1].cs.q;
    float *pooled = filled(batch * feat, 0), *dpooled = filled(batch * feat, 0.01f);
    float *fc_w = filled(10 * feat, 0.01f), *logits = filled(batch * 10, 0), *dfc_w = filled(10 * feat, 0);
    float *dpool_in = filled(batch * feat * pool_hw, 0);

    const int reps = 5;
    double best = 1e30;
    for (int rep = 0; rep < reps; rep++) {
        const double t0 = omp_get_wtime();
        for (int64_t i = 0; i < nl; i++) {
            layer *l = &L[i];
            const dy_conv_shape *s = &l->cs;
            conv2d_forward(l->y, l->x, l->w, NULL, s, omp_get_max_threads());
            batchnorm_forward_train(l->z, l->mean, l->rstd, NULL, NULL, l->y, l->gamma, l->beta, s->n, s->k,
                                    s->p * s->q, 0.1f, 1e-5f, omp_get_max_threads());
            relu_forward(l->z, l->z, s->n * s->k * s->p * s->q, omp_get_max_threads());
        }
        avgpool_global_forward(pooled, L[nl - 1].z, batch, feat, pool_hw, omp_get_max_threads());
        linear_forward(logits, pooled, fc_w, NULL, batch, feat, 10, omp_get_max_threads());
        linear_backward(dpooled, dfc_w, NULL, logits, pooled, fc_w, batch, feat, 10, omp_get_max_threads());
        avgpool_global_backward(dpool_in, dpooled, batch, feat, pool_hw, omp_get_max_threads());
        for (int64_t i = nl - 1; i >= 0; i--) {
            layer *l = &L[i];
            const dy_conv_shape *s = &l->cs;
            relu_backward(l->dz, l->dz, l->z, s->n * s->k * s->p * s->q, omp_get_max_threads());
            batchnorm_backward(l->dy, l->dgamma, l->dbeta, l->dz, l->y, l->mean, l->rstd, l->gamma, s->n, s->k,
                               s->p * s->q, omp_get_max_threads());
            conv2d_backward_weights(l->dw, NULL, l->dy, l->x, s, omp_get_max_threads());
            conv2d_backward_data(i ? l->dx : NULL, l->dy, l->w, s, omp_get_max_threads());
        }
        const double t = omp_get_wtime() - t0;
        if (t < best) best = t;
    }
    printf("reference ops, ResNet-18 layer sequence, width %lld, %lldx%lld, batch %lld, %d threads: "
           "forward+backward %.3f s (best of %d), %.2f GFLOP/s in convolutions\n",
           (long long)width, (long long)size, (long long)size, (long long)batch, omp_get_max_threads(), best, reps,
           flops / best * 1e-9);
    for (int64_t i = 0; i < nl; i++) {
        layer *l = &L[i];
        free(l->x), free(l->w), free(l->y), free(l->z), free(l->dz), free(l->dy), free(l->dx), free(l->dw);
        free(l->mean), free(l->rstd), free(l->gamma), free(l->beta), free(l->dgamma), free(l->dbeta);
    }
    free(pooled), free(dpooled), free(fc_w), free(logits), free(dfc_w), free(dpool_in);
    return 0;
}
