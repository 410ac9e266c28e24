/* Single-precision matrix product for the whole library: C = alpha * op(A) * op(B) + beta * C, row-major.
 * op(A) is m x k, op(B) is k x n, C is m x n; lda/ldb/ldc are row strides in elements.
 * With oneDNN (DY_HAVE_DNNL) this is dnnl_sgemm, otherwise a plain loop parallel over rows of C.
 * threads: the team size (a context's dy_ctx_threads). Callers that already run in their own parallel region and
 * want a result that does not depend on the thread count pass 1, so that every product runs on its calling thread
 * with a fixed summation order. */
#ifndef DY_CORE_GEMM_H
#define DY_CORE_GEMM_H

#include "dystress.h"

/* Returns DY_OK, or DY_ERR_INVALID for negative sizes or strides too small for the shapes. */
dy_status dy_sgemm(int threads, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

#endif
