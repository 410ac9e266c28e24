/* RankMe, the effective rank of embeddings (see rankme.h). */
#include "eval/rankme.h"

#include <math.h>
#include <stdlib.h>

#include "core/context.h"
#include "eval/map2d.h"

#define RANKME_MAX_M 4096

double dy_rankme_from_singular_values(const double *s, int64_t m) {
    double total = 0;
    for (int64_t k = 0; k < m; k++) total += s[k] > 0 ? s[k] : 0;
    if (!(total > 0)) return 1;
    double h = 0;
    for (int64_t k = 0; k < m; k++) {
        double p = (s[k] > 0 ? s[k] : 0) / total + DY_RANKME_EPS;
        h -= p * log(p);
    }
    return exp(h);
}

dy_status dy_rankme(dy_ctx *ctx, const float *x, int64_t n, int64_t dim, double *out) {
    if (!x || !out) return dy_fail(ctx, DY_ERR_INVALID, "RankMe: NULL argument");
    if (n < 1 || dim < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "RankMe: %lld rows of %lld, expected at least 1 x 1", (long long)n,
                       (long long)dim);
    int64_t m = n < dim ? n : dim;
    if (m > RANKME_MAX_M)
        return dy_fail(ctx, DY_ERR_INVALID, "RankMe: %lld rows of %lld: the smaller side is above %d", (long long)n,
                       (long long)dim, RANKME_MAX_M);
    for (int64_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i])) return dy_fail(ctx, DY_ERR_NUMERIC, "RankMe: feature %lld is not finite", (long long)i);
    double *g = malloc(sizeof(double) * (size_t)(m * m)), *val = malloc(sizeof(double) * (size_t)m);
    if (!g || !val) {
        free(g), free(val);
        return dy_fail(ctx, DY_ERR_NOMEM, "RankMe: out of memory for a %lld x %lld Gram matrix", (long long)m,
                       (long long)m);
    }
    int threads = dy_ctx_threads(ctx);
    /* g = X^T X when dim <= n, else X X^T: the same nonzero eigenvalues, the squared singular values */
    bool columns = dim <= n;
    if (columns) { /* row by row, rank-one updates of the upper triangle: x is read along its rows */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8)
        for (int64_t a = 0; a < m; a++) {
            double *ga = g + a * m;
            for (int64_t b = a; b < m; b++) ga[b] = 0;
            for (int64_t i = 0; i < n; i++) {
                const float *xi = x + i * dim;
                double xa = xi[a];
                if (xa != 0)
                    for (int64_t b = a; b < m; b++) ga[b] += xa * (double)xi[b];
            }
        }
    } else {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8)
        for (int64_t a = 0; a < m; a++)
            for (int64_t b = a; b < m; b++) {
                double s = 0;
                for (int64_t j = 0; j < dim; j++) s += (double)x[a * dim + j] * (double)x[b * dim + j];
                g[a * m + b] = s;
            }
    }
    for (int64_t a = 0; a < m; a++)
        for (int64_t b = a + 1; b < m; b++) g[b * m + a] = g[a * m + b];
    /* scaled to a unit largest diagonal entry (RankMe is scale-invariant; this keeps the Jacobi threshold relative) */
    double top = 0;
    for (int64_t a = 0; a < m; a++) top = g[a * m + a] > top ? g[a * m + a] : top;
    if (top > 0)
        for (int64_t k = 0; k < m * m; k++) g[k] /= top;
    dy_jacobi_eigen(g, (int)m, val, NULL); /* eigenvalues only */
    for (int64_t k = 0; k < m; k++) val[k] = val[k] > 0 ? sqrt(val[k]) : 0; /* rounding can leave -1e-17 */
    *out = dy_rankme_from_singular_values(val, m);
    free(g), free(val);
    return DY_OK;
}
