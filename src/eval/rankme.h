/* RankMe (Garrido et al. 2023, "RankMe: assessing the downstream performance of pretrained self-supervised
 * representations by their rank"): a label-free score of embeddings, the effective rank of the feature matrix. */
#ifndef DY_EVAL_RANKME_H
#define DY_EVAL_RANKME_H

#include <stdint.h>

#include "dystress.h"

#define DY_RANKME_EPS 1e-7 /* the paper's epsilon, added to each normalised singular value */

/* The effective rank of the rows of x [n, dim], as the paper defines it (no centring, no row normalisation):
 * sigma_1..sigma_m the singular values of X (m = min(n, dim)), p_k = sigma_k / sum(sigma) + eps,
 * RankMe = exp(-sum_k p_k log p_k), between 1 and m (up to eps). The singular values are the square roots of the
 * eigenvalues of the smaller Gram matrix (X^T X [dim, dim] or X X^T [n, n]), formed and decomposed (Jacobi) in double.
 * Invariant to scaling x and to orthogonal transforms of rows or columns. A matrix of zeros gives 1 (the convention
 * for no spread). dim and n at most 4096 for the smaller one (the Gram matrix is O(m^2) memory, O(m^3) time).
 * DY_ERR_INVALID for bad sizes, DY_ERR_NUMERIC for NaN/Inf input, DY_ERR_NOMEM. */
dy_status dy_rankme(dy_ctx *ctx, const float *x, int64_t n, int64_t dim, double *out);

/* The same from given singular values s[m] (>= 0): what dy_rankme computes once it has them. */
double dy_rankme_from_singular_values(const double *s, int64_t m);

#endif
