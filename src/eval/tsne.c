/* Exact t-SNE (see map2d.h). Every per-point quantity is computed by one thread from the whole row and the sums
 * over points are added in index order, so the layout does not depend on the thread count. */
#include "eval/map2d.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/rng.h"

dy_tsne_options dy_tsne_defaults(void) {
    return (dy_tsne_options){.perplexity = 30, .iterations = 750, .exaggeration_iters = 250, .learning_rate = 200,
                             .seed = 0};
}

#define EXAGGERATION 12.0

/* Row i of the conditional affinities p_{j|i} for squared distances d (row i of the matrix), with the Gaussian
 * precision found by bisection so that the entropy is log(perplexity). */
static void affinity_row(const double *d, int64_t n, int64_t i, double perplexity, double *p) {
    double beta = 1, lo = 0, hi = INFINITY, target = log(perplexity);
    double dmin = INFINITY;
    for (int64_t j = 0; j < n; j++)
        if (j != i && d[j] < dmin) dmin = d[j];
    for (int it = 0; it < 200; it++) {
        double sum = 0, sum_dp = 0;
        for (int64_t j = 0; j < n; j++) {
            double v = j == i ? 0 : exp(-beta * (d[j] - dmin)); /* shifted by the nearest: no underflow */
            p[j] = v;
            sum += v;
            sum_dp += (d[j] - dmin) * v;
        }
        double h = log(sum) + beta * sum_dp / sum; /* entropy of the normalised row */
        for (int64_t j = 0; j < n; j++) p[j] /= sum;
        if (fabs(h - target) < 1e-6) break;
        if (h > target) { /* too flat: sharpen */
            lo = beta;
            beta = isinf(hi) ? beta * 2 : (beta + hi) / 2;
        } else {
            hi = beta;
            beta = (beta + lo) / 2;
        }
    }
}

dy_status dy_tsne(dy_ctx *ctx, const float *x, int64_t n, int64_t dim, const dy_tsne_options *o, float *out,
                  double *kl) {
    if (!x || !out || !o) return dy_fail(ctx, DY_ERR_INVALID, "t-SNE: NULL argument");
    if (n < 3 || n > 20000 || dim < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "t-SNE: %lld points of dimension %lld (3 .. 20000 points)", (long long)n,
                       (long long)dim);
    if (!(o->perplexity > 0) || o->iterations < 1 || o->exaggeration_iters < 0 || !(o->learning_rate > 0))
        return dy_fail(ctx, DY_ERR_INVALID, "t-SNE: perplexity %g, %d iterations, learning rate %g: all must be "
                       "positive", o->perplexity, o->iterations, o->learning_rate);
    for (int64_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i]))
            return dy_fail(ctx, DY_ERR_NUMERIC, "t-SNE: row %lld has NaN or Inf", (long long)(i / dim));
    double perp = fmin(o->perplexity, (double)(n - 1) / 3);
    if (perp < 1) perp = 1;
    /* each iteration is a few passes of n^2 / threads work: below a few hundred points the threads' fork and join
     * would cost more than they save (and much more on a busy machine) */
    int threads = n < 384 ? 1 : dy_ctx_threads(ctx) > 0 ? dy_ctx_threads(ctx) : 1;
    size_t nn = (size_t)n * (size_t)n;
    double *P = malloc(sizeof(double) * nn), *W = malloc(sizeof(double) * nn);
    double *y = malloc(sizeof(double) * (size_t)(2 * n)), *vel = calloc((size_t)(2 * n), sizeof(double));
    double *gain = malloc(sizeof(double) * (size_t)(2 * n)), *grad = malloc(sizeof(double) * (size_t)(2 * n));
    double *rowsum = malloc(sizeof(double) * (size_t)n);
    if (!P || !W || !y || !vel || !gain || !grad || !rowsum) {
        free(P), free(W), free(y), free(vel), free(gain), free(grad), free(rowsum);
        return dy_fail(ctx, DY_ERR_NOMEM, "t-SNE: out of memory for %lld points", (long long)n);
    }
    /* squared distances into W, then the conditional affinities row by row into P */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t k = 0; k < dim; k++) {
                double d = (double)x[i * dim + k] - x[j * dim + k];
                s += d * d;
            }
            W[i * n + j] = s;
        }
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
    for (int64_t i = 0; i < n; i++) affinity_row(W + i * n, n, i, perp, P + i * n);
    /* symmetrise: p_ij = (p_{j|i} + p_{i|j}) / 2n */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < n; j++) {
            double v = (P[i * n + j] + P[j * n + i]) / (2.0 * (double)n);
            v = fmax(v, 1e-300);
            P[i * n + j] = P[j * n + i] = i == j ? 0 : v;
        }
    dy_rng rng;
    dy_rng_init(&rng, o->seed, DY_RNG_EVAL, 0x75e, 0);
    for (int64_t i = 0; i < 2 * n; i++) {
        y[i] = 1e-4 * dy_rng_normal(&rng);
        gain[i] = 1;
    }
    double Z = 1;
    for (int it = 0; it < o->iterations; it++) {
        double exag = it < o->exaggeration_iters ? EXAGGERATION : 1;
        double momentum = it < o->exaggeration_iters ? 0.5 : 0.8;
        /* Student-t kernel w_ij = 1 / (1 + |y_i - y_j|^2) and its sum Z */
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int64_t j = 0; j < n; j++) {
                double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
                double w = j == i ? 0 : 1 / (1 + dx * dx + dy * dy);
                W[i * n + j] = w;
                s += w;
            }
            rowsum[i] = s;
        }
        Z = 0;
        for (int64_t i = 0; i < n; i++) Z += rowsum[i];
        /* gradient 4 sum_j (exag p_ij - w_ij / Z) w_ij (y_i - y_j) */
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            double g0 = 0, g1 = 0;
            for (int64_t j = 0; j < n; j++) {
                double w = W[i * n + j], m = (exag * P[i * n + j] - w / Z) * w;
                g0 += m * (y[2 * i] - y[2 * j]);
                g1 += m * (y[2 * i + 1] - y[2 * j + 1]);
            }
            grad[2 * i] = 4 * g0;
            grad[2 * i + 1] = 4 * g1;
        }
        for (int64_t i = 0; i < 2 * n; i++) { /* delta-bar-delta gains, as the reference implementation */
            gain[i] = (grad[i] > 0) != (vel[i] > 0) ? gain[i] + 0.2 : fmax(gain[i] * 0.8, 0.01);
            vel[i] = momentum * vel[i] - o->learning_rate * gain[i] * grad[i];
            y[i] += vel[i];
        }
        double c0 = 0, c1 = 0;
        for (int64_t i = 0; i < n; i++) c0 += y[2 * i], c1 += y[2 * i + 1];
        for (int64_t i = 0; i < n; i++) y[2 * i] -= c0 / (double)n, y[2 * i + 1] -= c1 / (double)n;
    }
    if (kl) { /* KL(P || Q) of the final layout (W and Z are one step old; recompute) */
        double s = 0;
        Z = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                if (i == j) continue;
                double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
                W[i * n + j] = 1 / (1 + dx * dx + dy * dy);
                Z += W[i * n + j];
            }
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                if (i != j) s += P[i * n + j] * log(P[i * n + j] / (W[i * n + j] / Z));
        *kl = s;
    }
    for (int64_t i = 0; i < 2 * n; i++) out[i] = (float)y[i];
    free(P), free(W), free(y), free(vel), free(gain), free(grad), free(rowsum);
    return DY_OK;
}
