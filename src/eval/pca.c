/* Principal components by block power iteration (see map2d.h). */
#include "eval/map2d.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/rng.h"

#define PCA_MAX_K 8
#define PCA_EXTRA 4 /* more vectors than asked for in the block: faster convergence of the k wanted */

/* w[b, dim] = C v[b, dim] with C = Xc^T Xc / n, Xc the centred rows (t[n] scratch). */
static void cov_times(const float *x, const double *mean, int64_t n, int64_t dim, const double *v, int b, double *w,
                      double *t, int threads) {
    memset(w, 0, sizeof(double) * (size_t)(b * dim));
    for (int c = 0; c < b; c++) {
        const double *vc = v + c * dim;
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int64_t j = 0; j < dim; j++) s += ((double)x[i * dim + j] - mean[j]) * vc[j];
            t[i] = s;
        }
        double *wc = w + c * dim;
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t j = 0; j < dim; j++) {
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += ((double)x[i * dim + j] - mean[j]) * t[i];
            wc[j] = s / (double)n;
        }
    }
}

/* Modified Gram-Schmidt on the b rows of v; a row that vanishes is replaced by a unit basis vector orthogonalised
 * again (this happens only when the data has fewer than b directions). */
static void orthonormalize(double *v, int b, int64_t dim) {
    for (int c = 0; c < b; c++) {
        double *vc = v + c * dim;
        for (int tries = 0; tries < 2 + (int)dim; tries++) {
            for (int p = 0; p < c; p++) {
                const double *vp = v + p * dim;
                double d = 0;
                for (int64_t j = 0; j < dim; j++) d += vc[j] * vp[j];
                for (int64_t j = 0; j < dim; j++) vc[j] -= d * vp[j];
            }
            double nrm = 0;
            for (int64_t j = 0; j < dim; j++) nrm += vc[j] * vc[j];
            nrm = sqrt(nrm);
            if (nrm > 1e-150) {
                for (int64_t j = 0; j < dim; j++) vc[j] /= nrm;
                break;
            }
            memset(vc, 0, sizeof(double) * (size_t)dim);
            vc[(c + tries) % dim] = 1;
        }
    }
}

void dy_jacobi_eigen(double *a, int b, double *val, double *e) {
    if (e)
        for (int i = 0; i < b; i++)
            for (int j = 0; j < b; j++) e[i * b + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < b; i++)
            for (int j = 0; j < b; j++) *(i == j ? &diag : &off) += a[i * b + j] * a[i * b + j];
        if (off <= 1e-30 * diag || off == 0) break;
        for (int p = 0; p < b; p++)
            for (int q = p + 1; q < b; q++) {
                double apq = a[p * b + q];
                if (apq == 0) continue;
                double theta = (a[q * b + q] - a[p * b + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < b; k++) { /* columns p, q */
                    double akp = a[k * b + p], akq = a[k * b + q];
                    a[k * b + p] = c * akp - s * akq;
                    a[k * b + q] = s * akp + c * akq;
                }
                for (int k = 0; k < b; k++) { /* rows p, q */
                    double apk = a[p * b + k], aqk = a[q * b + k];
                    a[p * b + k] = c * apk - s * aqk;
                    a[q * b + k] = s * apk + c * aqk;
                }
                for (int k = 0; e && k < b; k++) {
                    double ekp = e[k * b + p], ekq = e[k * b + q];
                    e[k * b + p] = c * ekp - s * ekq;
                    e[k * b + q] = s * ekp + c * ekq;
                }
            }
    }
    for (int i = 0; i < b; i++) val[i] = a[i * b + i];
}

dy_status dy_pca(dy_ctx *ctx, const float *x, int64_t n, int64_t dim, int k, float *out, double *var,
                 double *total_var, float *components) {
    if (!x || !out || !var) return dy_fail(ctx, DY_ERR_INVALID, "PCA: NULL argument");
    if (n < 2 || dim < 1) return dy_fail(ctx, DY_ERR_INVALID, "PCA: %lld rows of %lld values, expected at least 2 "
                                         "rows", (long long)n, (long long)dim);
    if (k < 1 || k > PCA_MAX_K || k > dim)
        return dy_fail(ctx, DY_ERR_INVALID, "PCA: %d components asked of %lld-dimensional rows (1 .. min(dim, %d))",
                       k, (long long)dim, PCA_MAX_K);
    for (int64_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i]))
            return dy_fail(ctx, DY_ERR_NUMERIC, "PCA: row %lld has NaN or Inf", (long long)(i / dim));
    int b = k + PCA_EXTRA < dim ? k + PCA_EXTRA : (int)dim;
    /* a product with X is n dim work; below about a million the threads' fork and join cost more than they save */
    int threads = n * dim < (1 << 20) ? 1 : dy_ctx_threads(ctx) > 0 ? dy_ctx_threads(ctx) : 1;
    double *mean = calloc((size_t)dim, sizeof(double)), *v = malloc(sizeof(double) * (size_t)(b * dim));
    double *w = malloc(sizeof(double) * (size_t)(b * dim)), *t = malloc(sizeof(double) * (size_t)n);
    double *bm = malloc(sizeof(double) * (size_t)(b * b)), *e = malloc(sizeof(double) * (size_t)(b * b));
    double val[PCA_MAX_K + PCA_EXTRA];
    if (!mean || !v || !w || !t || !bm || !e) {
        free(mean), free(v), free(w), free(t), free(bm), free(e);
        return dy_fail(ctx, DY_ERR_NOMEM, "PCA: out of memory for %lld x %lld", (long long)n, (long long)dim);
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < dim; j++) mean[j] += x[i * dim + j];
    for (int64_t j = 0; j < dim; j++) mean[j] /= (double)n;
    double total = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < dim; j++)
            total += ((double)x[i * dim + j] - mean[j]) * ((double)x[i * dim + j] - mean[j]);
    total /= (double)n;
    dy_rng rng;
    dy_rng_init(&rng, 0x9ca, DY_RNG_EVAL, 0x2d, 0);
    for (int64_t i = 0; i < b * dim; i++) v[i] = dy_rng_normal(&rng);
    orthonormalize(v, b, dim);
    /* block power iteration until the block stops moving (or 300 rounds; the Rayleigh-Ritz step then refines) */
    for (int it = 0; it < 300; it++) {
        cov_times(x, mean, n, dim, v, b, w, t, threads);
        orthonormalize(w, b, dim);
        double change = 0;
        for (int c = 0; c < k; c++) {
            double d = 0;
            for (int64_t j = 0; j < dim; j++) d += w[c * dim + j] * v[c * dim + j];
            change = fmax(change, 1 - fabs(d));
        }
        memcpy(v, w, sizeof(double) * (size_t)(b * dim));
        if (change < 1e-13) break;
    }
    /* Rayleigh-Ritz: the best directions inside the block */
    cov_times(x, mean, n, dim, v, b, w, t, threads);
    for (int r = 0; r < b; r++)
        for (int c = 0; c < b; c++) {
            double s = 0;
            for (int64_t j = 0; j < dim; j++) s += v[r * dim + j] * w[c * dim + j];
            bm[r * b + c] = s;
        }
    for (int r = 0; r < b; r++) /* symmetrise the rounding */
        for (int c = r + 1; c < b; c++) bm[r * b + c] = bm[c * b + r] = 0.5 * (bm[r * b + c] + bm[c * b + r]);
    dy_jacobi_eigen(bm, b, val, e);
    int order[PCA_MAX_K + PCA_EXTRA];
    for (int i = 0; i < b; i++) order[i] = i;
    for (int i = 0; i < b; i++) /* by decreasing eigenvalue */
        for (int j = i + 1; j < b; j++)
            if (val[order[j]] > val[order[i]]) {
                int tmp = order[i];
                order[i] = order[j];
                order[j] = tmp;
            }
    for (int c = 0; c < k; c++) {
        int o = order[c];
        double *dir = w + c * dim; /* w is free now */
        for (int64_t j = 0; j < dim; j++) {
            double s = 0;
            for (int r = 0; r < b; r++) s += v[r * dim + j] * e[r * b + o];
            dir[j] = s;
        }
        double nrm = 0, big = 0;
        for (int64_t j = 0; j < dim; j++) {
            nrm += dir[j] * dir[j];
            if (fabs(dir[j]) > fabs(big)) big = dir[j];
        }
        nrm = sqrt(nrm) * (big < 0 ? -1 : 1);
        for (int64_t j = 0; j < dim; j++) dir[j] /= nrm;
        var[c] = fmax(val[o], 0);
        if (components)
            for (int64_t j = 0; j < dim; j++) components[c * dim + j] = (float)dir[j];
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < k; c++) {
            double s = 0;
            for (int64_t j = 0; j < dim; j++) s += ((double)x[i * dim + j] - mean[j]) * w[c * dim + j];
            out[i * k + c] = (float)s;
        }
    if (total_var) *total_var = total;
    free(mean), free(v), free(w), free(t), free(bm), free(e);
    return DY_OK;
}
