/* dy_sgemm: oneDNN's row-major sgemm when built in, else a straightforward loop (the reference). */
#include "core/gemm.h"

#include "core/context.h"

#ifdef DY_HAVE_DNNL
#include <dnnl.h>
#endif

static bool strides_ok(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
                       int64_t ldc) {
    if (m < 0 || n < 0 || k < 0) return false;
    int64_t a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
    return lda >= (a_cols > 1 ? a_cols : 1) && ldb >= (b_cols > 1 ? b_cols : 1) && ldc >= (n > 1 ? n : 1);
}

#ifndef DY_HAVE_DNNL
/* One row of C: c[0..n) = alpha * sum_p op(A)[i,p] op(B)[p,:] + beta * c. The p loop is outermost so that the
 * inner loop runs along contiguous rows of B when B is not transposed. */
static void gemm_row(bool trans_a, bool trans_b, int64_t i, int64_t n, int64_t k, float alpha, const float *a,
                     int64_t lda, const float *b, int64_t ldb, float beta, float *c) {
    if (beta == 0.0f) {
        for (int64_t j = 0; j < n; j++) c[j] = 0.0f;
    } else if (beta != 1.0f) {
        for (int64_t j = 0; j < n; j++) c[j] *= beta;
    }
    if (!trans_b) {
        for (int64_t p = 0; p < k; p++) {
            float aip = alpha * (trans_a ? a[p * lda + i] : a[i * lda + p]);
            const float *brow = b + p * ldb;
            for (int64_t j = 0; j < n; j++) c[j] += aip * brow[j];
        }
    } else {
        for (int64_t j = 0; j < n; j++) {
            const float *bcol = b + j * ldb; /* op(B)[:, j] is row j of B */
            float sum = 0.0f;
            if (trans_a) {
                for (int64_t p = 0; p < k; p++) sum += a[p * lda + i] * bcol[p];
            } else {
                const float *arow = a + i * lda;
                for (int64_t p = 0; p < k; p++) sum += arow[p] * bcol[p];
            }
            c[j] += alpha * sum;
        }
    }
}
#endif

dy_status dy_sgemm(int threads, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (!strides_ok(trans_a, trans_b, m, n, k, lda, ldb, ldc)) return DY_ERR_INVALID;
    if (m == 0 || n == 0) return DY_OK;
#ifdef DY_HAVE_DNNL
    /* dnnl_sgemm takes its thread count from the calling thread's OpenMP setting (see dy_threads_enter). */
    const int previous = dy_threads_enter(threads);
    dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta,
                                  c, ldc);
    dy_threads_leave(previous);
    return st == dnnl_success ? DY_OK : DY_ERR_INTERNAL;
#else
#pragma omp parallel for num_threads(threads) schedule(static) if (m * n * k > 32768)
    for (int64_t i = 0; i < m; i++)
        gemm_row(trans_a, trans_b, i, n, k, alpha, a, lda, b, ldb, beta, c + i * ldc);
    return DY_OK;
#endif
}
