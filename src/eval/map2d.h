/* Two-dimensional maps of embeddings for the run report: principal components (PCA) and t-SNE, in plain C. */
#ifndef DY_EVAL_MAP2D_H
#define DY_EVAL_MAP2D_H

#include <stdint.h>

#include "dystress.h"

/* Principal components of the rows of x [n, dim] (n >= 2): the k (1 <= k <= min(dim, 8)) directions of largest
 * variance of the centred rows, by block power iteration on the covariance (computed as X^T (X v), never formed)
 * followed by a Rayleigh-Ritz step. out [n, k]: each centred row's coordinates on the components; var[k]: the
 * variance (divided by n) along each, decreasing; total_var (may be NULL): the sum over all dims; components
 * [k, dim] (may be NULL): unit directions, each signed so that its largest-magnitude entry is positive.
 * Deterministic. DY_ERR_INVALID for bad sizes, DY_ERR_NUMERIC for NaN/Inf input, DY_ERR_NOMEM. */
dy_status dy_pca(dy_ctx *ctx, const float *x, int64_t n, int64_t dim, int k, float *out, double *var,
                 double *total_var, float *components);

/* Eigen-decomposition of the symmetric b x b matrix a (destroyed) by cyclic Jacobi rotations: eigenvalues in
 * val[b] (unordered), eigenvectors as the columns of e [b, b] (e NULL: eigenvalues only). Also RankMe's (rankme.h). */
void dy_jacobi_eigen(double *a, int b, double *val, double *e);

typedef struct {
    double perplexity;    /* effective neighbours per point (30; lowered to (n - 1) / 3 for small n) */
    int iterations;       /* gradient steps (750) */
    int exaggeration_iters; /* early exaggeration steps (250), factor 12 */
    double learning_rate; /* 200 */
    uint64_t seed;        /* the initial layout */
} dy_tsne_options;

dy_tsne_options dy_tsne_defaults(void);

/* Exact t-SNE (van der Maaten & Hinton 2008: Gaussian affinities calibrated to the perplexity by bisection,
 * symmetrised; Student-t similarities in 2-D; gradient descent with momentum 0.5 then 0.8, gains, early
 * exaggeration) of the rows of x [n, dim], 3 <= n <= 20000 (O(n^2) time and memory). out [n, 2], centred. kl (may
 * be NULL): the final KL(P || Q). The result does not depend on the thread count. */
dy_status dy_tsne(dy_ctx *ctx, const float *x, int64_t n, int64_t dim, const dy_tsne_options *o, float *out,
                  double *kl);

#endif
