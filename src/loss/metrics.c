/* Representation metrics over a set of embeddings: alignment and uniformity (Wang & Isola 2020) and tolerance
 * (after Wang & Liu 2021, as docs/METHOD.md defines it). Rows are L2-normalised first (in double). These are evaluation
 * calls, not per-step ones, so they allocate their own scratch. */
#include "core/context.h"
#include "core/gemm.h"
#include "loss/loss_object.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define METRIC_TILE 256

/* Common argument checks; names the metric in every message. */
static dy_status check_rows(dy_ctx *ctx, const char *metric, int64_t n, int64_t min_n, int64_t dim,
                            const float *x, const char *xname) {
    if (n < min_n)
        return dy_fail(ctx, DY_ERR_INVALID, "%s: %lld rows, expected at least %lld", metric, (long long)n,
                       (long long)min_n);
    if (dim < 1) return dy_fail(ctx, DY_ERR_INVALID, "%s: dim %lld, expected >= 1", metric, (long long)dim);
    if (!x) return dy_fail(ctx, DY_ERR_INVALID, "%s: %s is NULL", metric, xname);
    int64_t bad = dy_first_nonfinite_row(x, n, dim, dy_ctx_threads(ctx));
    if (bad >= 0) return dy_fail(ctx, DY_ERR_NUMERIC, "%s: row %lld of %s has NaN or Inf", metric, (long long)bad, xname);
    for (int64_t i = 0; i < n; i++) {
        double ss = 0;
        for (int64_t k = 0; k < dim; k++) ss += (double)x[i * dim + k] * x[i * dim + k];
        if (!(sqrt(ss) >= 1e-30))
            return dy_fail(ctx, DY_ERR_INVALID, "%s: row %lld of %s has zero norm", metric, (long long)i, xname);
    }
    return DY_OK;
}

static double row_norm(const float *x, int64_t dim) {
    double ss = 0;
    for (int64_t k = 0; k < dim; k++) ss += (double)x[k] * x[k];
    return sqrt(ss);
}

dy_status dy_metric_alignment(dy_ctx *ctx, int64_t n, int64_t dim, const float *x, const float *y, double alpha,
                              double *out) {
    if (!ctx) return DY_ERR_INVALID;
    if (!out) return dy_fail(ctx, DY_ERR_INVALID, "alignment: out is NULL");
    if (!(alpha > 0) || !isfinite(alpha))
        return dy_fail(ctx, DY_ERR_INVALID, "alignment: alpha %g, expected a finite value > 0", alpha);
    dy_status st = check_rows(ctx, "alignment", n, 1, dim, x, "x");
    if (st == DY_OK) st = check_rows(ctx, "alignment", n, 1, dim, y, "y");
    if (st != DY_OK) return st;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * dim, *yi = y + i * dim;
        const double nx = row_norm(xi, dim), ny = row_norm(yi, dim);
        double d2 = 0;
        for (int64_t k = 0; k < dim; k++) {
            const double diff = xi[k] / nx - yi[k] / ny;
            d2 += diff * diff;
        }
        sum += pow(d2, alpha / 2.0);
    }
    *out = sum / (double)n;
    return DY_OK;
}

dy_status dy_metric_uniformity(dy_ctx *ctx, int64_t n, int64_t dim, const float *z, double t, double *out) {
    if (!ctx) return DY_ERR_INVALID;
    if (!out) return dy_fail(ctx, DY_ERR_INVALID, "uniformity: out is NULL");
    /* exp(-t ||.||^2) >= exp(-4 t) must stay a normal double: t <= 100 */
    if (!(t > 0 && t <= 100))
        return dy_fail(ctx, DY_ERR_INVALID, "uniformity: t %g, expected 0 < t <= 100", t);
    dy_status st = check_rows(ctx, "uniformity", n, 2, dim, z, "z");
    if (st != DY_OK) return st;
    const int threads = dy_ctx_threads(ctx) > 0 ? dy_ctx_threads(ctx) : 1;
    const int64_t tile = METRIC_TILE, blocks = (n + tile - 1) / tile;
    float *unit = dy_alloc(sizeof(float) * (size_t)(n * dim));
    float *tiles = dy_alloc(sizeof(float) * (size_t)(threads * tile * tile));
    double *block_sum = dy_alloc(sizeof(double) * (size_t)blocks);
    if (!unit || !tiles || !block_sum) {
        dy_free(unit);
        dy_free(tiles);
        dy_free(block_sum);
        return dy_fail(ctx, DY_ERR_NOMEM, "uniformity: out of memory for %lld rows", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        const double nrm = row_norm(z + i * dim, dim);
        for (int64_t k = 0; k < dim; k++) unit[i * dim + k] = (float)(z[i * dim + k] / nrm);
    }
    int failed = 0;
    /* Pairs i < j: row block I against column tiles J >= I; each block's sum is kept apart and the blocks are
     * added in order, so the value does not depend on the thread count. */
#pragma omp parallel num_threads(threads)
    {
        float *S = tiles + (size_t)omp_get_thread_num() * (size_t)(tile * tile);
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t i0 = b * tile, bi = n - i0 < tile ? n - i0 : tile;
            double sum = 0;
            for (int64_t j0 = i0; j0 < n; j0 += tile) {
                const int64_t bj = n - j0 < tile ? n - j0 : tile;
                if (dy_sgemm(1, false, true, bi, bj, dim, 1.0f, unit + i0 * dim, dim, unit + j0 * dim, dim, 0.0f, S,
                             tile) != DY_OK) {
#pragma omp atomic write
                    failed = 1;
                }
                for (int64_t r = 0; r < bi; r++) {
                    const int64_t first = j0 == i0 ? r + 1 : 0; /* j > i only */
                    for (int64_t c = first; c < bj; c++) {
                        double d2 = 2.0 - 2.0 * (double)S[r * tile + c];
                        sum += exp(-t * (d2 > 0 ? d2 : 0.0));
                    }
                }
            }
            block_sum[b] = sum;
        }
    }
    double total = 0;
    for (int64_t b = 0; b < blocks; b++) total += block_sum[b];
    dy_free(unit);
    dy_free(tiles);
    dy_free(block_sum);
    if (failed) return dy_fail(ctx, DY_ERR_INTERNAL, "uniformity: a GEMM failed (internal error)");
    const double pairs = (double)n * (double)(n - 1) / 2.0;
    *out = log(total / pairs);
    return DY_OK;
}

dy_status dy_metric_tolerance(dy_ctx *ctx, int64_t n, int64_t dim, const float *z, const int64_t *labels,
                              int64_t num_classes, double *out, double *same_class_fraction) {
    if (!ctx) return DY_ERR_INVALID;
    if (!out) return dy_fail(ctx, DY_ERR_INVALID, "tolerance: out is NULL");
    if (!labels) return dy_fail(ctx, DY_ERR_INVALID, "tolerance: labels is NULL");
    if (num_classes < 1 || num_classes > (int64_t)1 << 24)
        return dy_fail(ctx, DY_ERR_INVALID, "tolerance: num_classes %lld, expected 1 .. %lld",
                       (long long)num_classes, (long long)1 << 24);
    dy_status st = check_rows(ctx, "tolerance", n, 2, dim, z, "z");
    if (st != DY_OK) return st;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= num_classes)
            return dy_fail(ctx, DY_ERR_INVALID, "tolerance: label %lld of row %lld is outside [0, %lld)",
                           (long long)labels[i], (long long)i, (long long)num_classes);
    /* Sum over same-class pairs i != j of z_i . z_j = sum over classes of ||sum of the class's rows||^2 - (rows
     * in the class), for unit rows: O(n d) instead of O(n^2 d). */
    double *class_sum = dy_alloc(sizeof(double) * (size_t)(num_classes * dim));
    int64_t *count = dy_alloc(sizeof(int64_t) * (size_t)num_classes);
    if (!class_sum || !count) {
        dy_free(class_sum);
        dy_free(count);
        return dy_fail(ctx, DY_ERR_NOMEM, "tolerance: out of memory for %lld classes", (long long)num_classes);
    }
    for (int64_t i = 0; i < n; i++) {
        const double nrm = row_norm(z + i * dim, dim);
        double *cs = class_sum + labels[i] * dim;
        for (int64_t k = 0; k < dim; k++) cs[k] += z[i * dim + k] / nrm;
        count[labels[i]]++;
    }
    double sim_sum = 0, pairs = 0;
    for (int64_t c = 0; c < num_classes; c++) {
        if (count[c] < 2) continue;
        double sq = 0;
        for (int64_t k = 0; k < dim; k++) sq += class_sum[c * dim + k] * class_sum[c * dim + k];
        sim_sum += sq - (double)count[c];
        pairs += (double)count[c] * (double)(count[c] - 1);
    }
    dy_free(class_sum);
    dy_free(count);
    if (pairs == 0) return dy_fail(ctx, DY_ERR_INVALID, "tolerance: no two rows share a label");
    *out = sim_sum / pairs;
    if (same_class_fraction) *same_class_fraction = pairs / ((double)n * (double)(n - 1));
    return DY_OK;
}
