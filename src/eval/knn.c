/* The weighted kNN monitor of InstDisc (Wu et al. 2018): cosine similarities of a block of test rows against the
 * whole training bank, a partial selection of the k best per row, exp(s / t) votes summed per class (computed as
 * exp((s - s_max) / t), which ranks the same and cannot overflow).
 *
 * Memory stays O(block_rows * n_train): test rows are processed a block at a time. A block's similarities are one
 * GEMM (dy_sgemm: oneDNN when built in) of the normalised test rows against the raw train rows, scaled by the train
 * rows' inverse norms, so the bank is never copied. Threads: the GEMM's own, then one test row per thread for the
 * selection (a heap of the k best), whose result does not depend on the split. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/context.h"
#include "core/gemm.h"
#include "dystress/eval.h"

enum { BLOCK_ALIGN = 8 };

/* Bytes of similarities the automatic block size aims for. */
#define KNN_BLOCK_BYTES ((int64_t)16 << 20)

dy_knn_options dy_knn_defaults(void) { return (dy_knn_options){.k = 200, .temperature = 0.1f, .block_rows = 0}; }

typedef struct {
    float sim;
    int64_t index;
} knn_pair;

/* a ranks before b: higher similarity, then lower train index. */
static inline int knn_better(knn_pair a, knn_pair b) { return a.sim > b.sim || (a.sim == b.sim && a.index < b.index); }

/* Min-heap on knn_better: the root is the worst of the kept neighbours. */
static void heap_sift_down(knn_pair *h, int64_t n, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && knn_better(h[w], h[l])) w = l;
        if (r < n && knn_better(h[w], h[r])) w = r;
        if (w == i) return;
        knn_pair t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void heap_sift_up(knn_pair *h, int64_t i) {
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!knn_better(h[p], h[i])) return;
        knn_pair t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* sims[i, j] = <test_block[i], train[j]> * train_inv_norm[j] for i < rows: one GEMM (oneDNN's when built in), then
 * the column scaling that normalises the train rows without copying the bank. */
static dy_status block_similarities(dy_ctx *ctx, const float *test_block, int64_t rows, const float *train,
                                    const float *train_inv_norm, int64_t n_train, int64_t dim, float *sims,
                                    int threads) {
    if (dy_sgemm(threads, false, true, rows, n_train, dim, 1.0f, test_block, dim, train, dim, 0.0f, sims,
                 n_train) != DY_OK)
        return dy_fail(ctx, DY_ERR_INTERNAL, "kNN: GEMM of %lld x %lld x %lld refused", (long long)rows,
                       (long long)n_train, (long long)dim);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n_train; j++) sims[i * n_train + j] *= train_inv_norm[j];
    return DY_OK;
}

/* The k best neighbours of one row of similarities, their votes, and the ranked classes. */
static void rank_row(const float *sims, int64_t n_train, const int64_t *train_labels, int64_t k, float t,
                     int64_t classes, knn_pair *heap, double *class_score, int64_t *ranked, float *scores) {
    for (int64_t j = 0; j < k; j++) {
        heap[j] = (knn_pair){sims[j], j};
        heap_sift_up(heap, j);
    }
    for (int64_t j = k; j < n_train; j++) {
        knn_pair c = {sims[j], j};
        if (knn_better(c, heap[0])) {
            heap[0] = c;
            heap_sift_down(heap, k, 0);
        }
    }
    /* Weights exp((s - s_max) / t): the same ranking as exp(s / t) (a common factor per row), but the best
     * neighbour weighs 1 and none overflows, whatever t (exp(s / t) is inf in float for s / t > 88, t < 0.0114). */
    float best = heap[0].sim;
    for (int64_t j = 1; j < k; j++) best = heap[j].sim > best ? heap[j].sim : best;
    memset(class_score, 0, (size_t)classes * sizeof *class_score);
    double total = 0;
    for (int64_t j = 0; j < k; j++) {
        double w = exp(((double)heap[j].sim - best) / t); /* double: far weights stay above 0 down to e^-745 */
        class_score[train_labels[heap[j].index]] += w;
        total += w;
    }
    if (scores)
        for (int64_t c = 0; c < classes; c++) scores[c] = (float)(class_score[c] / total);
    /* Top DY_EVAL_TOPK classes by repeated scans: classes is small next to n_train. */
    for (int r = 0; r < DY_EVAL_TOPK; r++) {
        int64_t best = -1;
        for (int64_t c = 0; c < classes; c++) {
            int taken = 0;
            for (int q = 0; q < r; q++) taken |= ranked[q] == c;
            if (!taken && (best < 0 || class_score[c] > class_score[best])) best = c;
        }
        ranked[r] = best; /* -1 once every class is ranked */
    }
}

/* Index of the first non-finite value, or -1. */
static int64_t first_nonfinite(const float *x, int64_t count) {
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

static float inverse_norm(const float *x, int64_t dim) {
    double s = 0;
    for (int64_t p = 0; p < dim; p++) s += (double)x[p] * x[p];
    double n = sqrt(s);
    return (float)(1.0 / (n > 1e-12 ? n : 1e-12));
}

static dy_status check_labels(dy_ctx *ctx, const char *what, const int64_t *labels, int64_t n, int64_t classes) {
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return dy_fail(ctx, DY_ERR_INVALID, "kNN: %s label %lld of row %lld is outside [0, %lld)", what,
                           (long long)labels[i], (long long)i, (long long)classes);
    return DY_OK;
}

dy_status dy_knn_classify(dy_ctx *ctx, const float *train, const int64_t *train_labels, int64_t n_train,
                          const float *test, int64_t n_test, int64_t dim, int64_t classes, const dy_knn_options *opts,
                          int64_t *ranked, float *scores) {
    dy_knn_options o = opts ? *opts : dy_knn_defaults();
    if (!train || !train_labels || !test || !ranked)
        return dy_fail(ctx, DY_ERR_INVALID, "kNN: train, train labels, test or the prediction array is NULL");
    if (n_train < 1 || n_test < 1 || dim < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "kNN: empty input (train rows %lld, test rows %lld, dim %lld)",
                       (long long)n_train, (long long)n_test, (long long)dim);
    if (classes < 1) return dy_fail(ctx, DY_ERR_INVALID, "kNN: %lld classes, expected at least 1", (long long)classes);
    if (o.k < 1 || o.k > n_train)
        return dy_fail(ctx, DY_ERR_INVALID, "kNN: k = %lld, expected 1 <= k <= %lld (the train rows)",
                       (long long)o.k, (long long)n_train);
    if (!(o.temperature > 0) || !isfinite(o.temperature))
        return dy_fail(ctx, DY_ERR_INVALID, "kNN: temperature %g, expected > 0", (double)o.temperature);
    if (o.block_rows < 0)
        return dy_fail(ctx, DY_ERR_INVALID, "kNN: block_rows %lld is negative", (long long)o.block_rows);
    dy_status st = check_labels(ctx, "train", train_labels, n_train, classes);
    if (st != DY_OK) return st;
    int64_t bad = first_nonfinite(train, n_train * dim);
    if (bad >= 0)
        return dy_fail(ctx, DY_ERR_NUMERIC, "kNN: train feature [%lld, %lld] is %g", (long long)(bad / dim),
                       (long long)(bad % dim), (double)train[bad]);
    bad = first_nonfinite(test, n_test * dim);
    if (bad >= 0)
        return dy_fail(ctx, DY_ERR_NUMERIC, "kNN: test feature [%lld, %lld] is %g", (long long)(bad / dim),
                       (long long)(bad % dim), (double)test[bad]);

    int64_t block = o.block_rows;
    if (block == 0) {
        block = KNN_BLOCK_BYTES / (n_train * (int64_t)sizeof(float));
        if (block > 256) block = 256;
        block -= block % BLOCK_ALIGN;
        if (block < BLOCK_ALIGN) block = BLOCK_ALIGN;
    }
    if (block > n_test) block = n_test;
    int threads = ctx ? dy_ctx_threads(ctx) : 1;

    float *train_inv = dy_alloc((size_t)n_train * sizeof(float));
    float *test_block = dy_alloc((size_t)(block * dim) * sizeof(float));
    float *sims = dy_alloc((size_t)block * (size_t)n_train * sizeof(float));
    knn_pair *heaps = dy_alloc((size_t)threads * (size_t)o.k * sizeof(knn_pair));
    double *class_scores = dy_alloc((size_t)threads * (size_t)classes * sizeof(double));
    if (!train_inv || !test_block || !sims || !heaps || !class_scores) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "kNN: cannot allocate %lld x %lld similarities and work buffers",
                     (long long)block, (long long)n_train);
        goto done;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t j = 0; j < n_train; j++) train_inv[j] = inverse_norm(train + j * dim, dim);

    for (int64_t i0 = 0; i0 < n_test; i0 += block) {
        int64_t rows = n_test - i0 < block ? n_test - i0 : block;
        for (int64_t i = 0; i < rows; i++) {
            const float *x = test + (i0 + i) * dim;
            float inv = inverse_norm(x, dim);
            for (int64_t p = 0; p < dim; p++) test_block[i * dim + p] = x[p] * inv;
        }
        st = block_similarities(ctx, test_block, rows, train, train_inv, n_train, dim, sims, threads);
        if (st != DY_OK) goto done;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
        for (int64_t i = 0; i < rows; i++) {
            int tid = omp_get_thread_num();
            rank_row(sims + i * n_train, n_train, train_labels, o.k, o.temperature, classes,
                     heaps + (int64_t)tid * o.k, class_scores + (int64_t)tid * classes,
                     ranked + (i0 + i) * DY_EVAL_TOPK, scores ? scores + (i0 + i) * classes : NULL);
        }
    }
    st = DY_OK;
done:
    dy_free(train_inv);
    dy_free(test_block);
    dy_free(sims);
    dy_free(heaps);
    dy_free(class_scores);
    return st;
}

dy_status dy_knn_evaluate(dy_ctx *ctx, const float *train, const int64_t *train_labels, int64_t n_train,
                          const float *test, const int64_t *test_labels, int64_t n_test, int64_t dim, int64_t classes,
                          const dy_knn_options *opts, int64_t *ranked, dy_eval_accuracy *out) {
    if (!out) return dy_fail(ctx, DY_ERR_INVALID, "kNN: accuracy output is NULL");
    memset(out, 0, sizeof *out);
    if (!test_labels) return dy_fail(ctx, DY_ERR_INVALID, "kNN: test labels are NULL");
    if (classes >= 1 && n_test >= 1) {
        dy_status st = check_labels(ctx, "test", test_labels, n_test, classes);
        if (st != DY_OK) return st;
    }
    int64_t *own = NULL;
    if (!ranked && n_test >= 1) {
        own = dy_alloc((size_t)n_test * DY_EVAL_TOPK * sizeof(int64_t));
        if (!own) return dy_fail(ctx, DY_ERR_NOMEM, "kNN: cannot allocate predictions for %lld rows", (long long)n_test);
        ranked = own;
    }
    dy_status st = dy_knn_classify(ctx, train, train_labels, n_train, test, n_test, dim, classes, opts, ranked, NULL);
    if (st == DY_OK) st = dy_eval_accuracy_compute(ctx, ranked, test_labels, n_test, classes, out);
    dy_free(own);
    return st;
}
