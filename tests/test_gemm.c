/* dy_sgemm (row-major, transposes, strides, alpha/beta) against a plain double loop. */
#include "core/gemm.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>

static float rnd(void) { return (float)((double)rand() / RAND_MAX) * 2.0f - 1.0f; }

static void check_case(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, float beta, int64_t pad) {
    /* op(A) m x k stored as (ta ? k x m : m x k) with row stride cols + pad; likewise B and C */
    const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
    const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
    float *a = malloc(sizeof(float) * (size_t)(a_rows * lda + 1)), *b = malloc(sizeof(float) * (size_t)(b_rows * ldb + 1));
    float *c = malloc(sizeof(float) * (size_t)(m * ldc + 1)), *want = malloc(sizeof(float) * (size_t)(m * n + 1));
    float *got = malloc(sizeof(float) * (size_t)(m * n + 1));
    for (int64_t i = 0; i < a_rows * lda; i++) a[i] = rnd();
    for (int64_t i = 0; i < b_rows * ldb; i++) b[i] = rnd();
    for (int64_t i = 0; i < m * ldc; i++) c[i] = rnd();
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t p = 0; p < k; p++)
                acc += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
            want[i * n + j] = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * c[i * ldc + j]));
        }
    if (beta == 0.0f)
        for (int64_t i = 0; i < m * ldc; i++) c[i] = 0.0f / 0.0f; /* beta 0 must ignore (even NaN) old values */
    dy_status st = dy_sgemm(2, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) got[i * n + j] = c[i * ldc + j];
    char what[160];
    snprintf(what, sizeof what, "sgemm %c%c m %lld n %lld k %lld alpha %g beta %g pad %lld", ta ? 'T' : 'N',
             tb ? 'T' : 'N', (long long)m, (long long)n, (long long)k, (double)alpha, (double)beta, (long long)pad);
    CHECK(st == DY_OK, "%s: status", what);
    test_close(what, got, want, (size_t)(m * n), 1e-5);
    free(a);
    free(b);
    free(c);
    free(want);
    free(got);
}

int main(void) {
    srand(11);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_case(ta, tb, 7, 5, 3, 1.0f, 0.0f, 0);
            check_case(ta, tb, 33, 17, 64, 0.5f, 1.0f, 3);
            check_case(ta, tb, 130, 129, 70, -2.0f, 0.25f, 1);
            check_case(ta, tb, 1, 1, 1, 1.0f, 0.0f, 0);
        }
    float x = 1.0f;
    CHECK(dy_sgemm(1, false, false, -1, 1, 1, 1.0f, &x, 1, &x, 1, 0.0f, &x, 1) == DY_ERR_INVALID, "negative size refused");
    CHECK(dy_sgemm(1, false, false, 2, 3, 4, 1.0f, &x, 3, &x, 3, 0.0f, &x, 3) == DY_ERR_INVALID,
          "lda below the row length refused");
    CHECK(dy_sgemm(1, false, false, 0, 3, 4, 1.0f, &x, 4, &x, 3, 0.0f, &x, 3) == DY_OK, "an empty product is a no-op");
    return test_finish();
}
