/* The MoCo form of the DySTreSS loss: each query against its positive key and a queue of negative keys, every
 * logit divided by the temperature of its own similarity. Blocked like contrastive.c: per block of queries,
 * pass 1 runs over queue tiles (GEMM) with a running log-sum-exp; pass 2 recomputes the tiles and accumulates
 *     dq_i = (1/N) [ sum_j P_ij / tau_ij c_j + (P_i0 - 1) / tau_i0 k_i ],   P = exp(a - lse_i)
 * (P_i0 = 0 when decoupled). Keys and queue get no gradient. */
#include "core/context.h"
#include "core/gemm.h"
#include "loss/fastmath.h"
#include "loss/loss_object.h"

#include <math.h>
#include <omp.h>
#include <string.h>

static float dot_rows(const float *a, const float *b, int64_t d) {
    double acc = 0;
    for (int64_t k = 0; k < d; k++) acc += (double)a[k] * b[k];
    return (float)acc;
}

static dy_status moco_passes(dy_loss *L, int workers, int64_t n, const float *q, const float *k, const float *queue,
                             int64_t queue_len, float *dq, bool want_stats) {
    const int64_t d = L->opt.dim, tile = L->tile, ld = L->tile_ld;
    const int64_t blocks = (n + tile - 1) / tile;
    const float inv_rows = 1.0f / (float)n;
    const bool decoupled = L->opt.decoupled;
    int gemm_failed = 0;
    if (workers > blocks) workers = (int)blocks; /* a thread without a block would only wait at the barriers */
    /* Below ~2^25 multiply-adds per pass a second thread costs more than it saves (see contrastive.c). */
    if ((double)n * (double)queue_len * (double)d < 33554432.0) workers = 1;
#pragma omp parallel num_threads(workers)
    {
        /* GEMMs on the calling thread only (thread count 1): see contrastive.c */
        const int w = omp_get_thread_num();
        float *S = L->tile_sim + (size_t)w * (size_t)(tile * ld);
        float *T = L->tile_tau + (size_t)w * (size_t)(tile * ld);
        dy_lse_acc *acc = L->row_acc + (size_t)w * (size_t)tile;

#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t i0 = b * tile, bi = n - i0 < tile ? n - i0 : tile;
            dy_block_stats *block = &L->block_stats[b];
            memset(block, 0, sizeof *block);
            block->neg_sim_max = -1.0f / 0.0f;
            dy_block_stats *stats = want_stats ? block : NULL;
            for (int64_t r = 0; r < bi; r++) {
                const int64_t i = i0 + r;
                const float s = dot_rows(q + i * d, k + i * d, d), tau = dy_tau_one(&L->tau, s);
                acc[r] = dy_lse_start();
                L->pos_logit[i] = s / tau;
                if (!decoupled) dy_lse_add(&acc[r], s / tau);
                if (stats) dy_stats_add_positive(&L->tau, stats, s, tau);
            }
            for (int64_t j0 = 0; j0 < queue_len; j0 += tile) {
                const int64_t bj = queue_len - j0 < tile ? queue_len - j0 : tile;
                if (dy_sgemm(1, false, true, bi, bj, d, 1.0f, q + i0 * d, d, queue + j0 * d, d, 0.0f, S, ld) != DY_OK) {
#pragma omp atomic write
                    gemm_failed = 1;
                }
                for (int64_t r = 0; r < bi; r++) {
                    dy_tau_fill(&L->tau, S + r * ld, T + r * ld, bj);
                    dy_row_negatives_forward(&L->tau, S + r * ld, T + r * ld, 0, bj, &acc[r], stats);
                }
            }
            double loss_sum = 0;
            for (int64_t r = 0; r < bi; r++) {
                const double lse = dy_lse_value(&acc[r]);
                L->row_lse[i0 + r] = (float)lse;
                loss_sum += lse - (double)L->pos_logit[i0 + r];
            }
            block->loss_sum = loss_sum;
        }

        if (dq) {
#pragma omp for schedule(dynamic, 1)
            for (int64_t b = 0; b < blocks; b++) {
                const int64_t i0 = b * tile, bi = n - i0 < tile ? n - i0 : tile;
                if (queue_len == 0) memset(dq + i0 * d, 0, sizeof(float) * (size_t)(bi * d));
                for (int64_t j0 = 0; j0 < queue_len; j0 += tile) {
                    const int64_t bj = queue_len - j0 < tile ? queue_len - j0 : tile;
                    if (dy_sgemm(1, false, true, bi, bj, d, 1.0f, q + i0 * d, d, queue + j0 * d, d, 0.0f, S, ld) !=
                        DY_OK) {
#pragma omp atomic write
                        gemm_failed = 1;
                    }
                    for (int64_t r = 0; r < bi; r++) {
                        float *srow = S + r * ld, *trow = T + r * ld;
                        const float lse = L->row_lse[i0 + r];
                        dy_tau_fill(&L->tau, srow, trow, bj);
#pragma omp simd
                        for (int64_t j = 0; j < bj; j++) {
                            const float a = srow[j] / trow[j];
                            srow[j] = dy_fast_exp(a - lse) * (inv_rows / trow[j]);
                        }
                    }
                    if (dy_sgemm(1, false, false, bi, d, bj, 1.0f, S, ld, queue + j0 * d, d, j0 == 0 ? 0.0f : 1.0f,
                                 dq + i0 * d, d) != DY_OK) {
#pragma omp atomic write
                        gemm_failed = 1;
                    }
                }
                for (int64_t r = 0; r < bi; r++) {
                    const int64_t i = i0 + r;
                    const float s = dot_rows(q + i * d, k + i * d, d), tau = dy_tau_one(&L->tau, s);
                    const float p = decoupled ? 0.0f : dy_fast_exp(L->pos_logit[i] - L->row_lse[i]);
                    const float g = (p - 1.0f) * (inv_rows / tau);
                    float *dqi = dq + i * d;
                    const float *ki = k + i * d;
                    for (int64_t c = 0; c < d; c++) dqi[c] += g * ki[c];
                }
            }
        }
    }
    return gemm_failed ? DY_ERR_INTERNAL : DY_OK;
}

dy_status dy_loss_moco(dy_loss *L, dy_ctx *ctx, int64_t n, const float *q, const float *k, const float *queue,
                       int64_t queue_len, float *dq, float *loss_out, dy_loss_diag *diag) {
    if (!ctx) return DY_ERR_INVALID;
    if (!L) return dy_fail(ctx, DY_ERR_INVALID, "dy_loss_moco: loss is NULL");
    if (L->opt.form != DY_LOSS_MOCO)
        return dy_fail(ctx, DY_ERR_INVALID, "dy_loss_moco on a loss created for the SimCLR form");
    if (n < 1 || n > L->opt.max_batch)
        return dy_fail(ctx, DY_ERR_INVALID, "MoCo loss batch N = %lld: expected 1 .. %lld (max_batch)", (long long)n,
                       (long long)L->opt.max_batch);
    if (!q || !k || !loss_out)
        return dy_fail(ctx, DY_ERR_INVALID, "dy_loss_moco: %s is NULL", !q ? "q" : !k ? "k" : "loss_out");
    const bool own_queue = queue == NULL;
    if (own_queue) {
        if (!L->queue)
            return dy_fail(ctx, DY_ERR_INVALID, "dy_loss_moco: queue is NULL and the loss has no queue of its own "
                                                "(queue_capacity 0)");
        queue = L->queue;
        queue_len = L->queue_len;
    } else if (queue_len < 0) {
        return dy_fail(ctx, DY_ERR_INVALID, "MoCo queue length %lld < 0", (long long)queue_len);
    }
    if (L->opt.decoupled && queue_len == 0)
        return dy_fail(ctx, DY_ERR_INVALID, "decoupled MoCo loss with an empty queue has an empty denominator");
    const int64_t d = L->opt.dim;
    const int workers = dy_loss_workers(L, ctx);
    int64_t bad = dy_first_nonfinite_row(q, n, d, workers);
    if (bad >= 0) return dy_fail(ctx, DY_ERR_NUMERIC, "MoCo query row %lld has NaN or Inf", (long long)bad);
    bad = dy_first_nonfinite_row(k, n, d, workers);
    if (bad >= 0) return dy_fail(ctx, DY_ERR_NUMERIC, "MoCo key row %lld has NaN or Inf", (long long)bad);
    if (!own_queue) {
        bad = dy_first_nonfinite_row(queue, queue_len, d, workers);
        if (bad >= 0) return dy_fail(ctx, DY_ERR_NUMERIC, "MoCo queue row %lld has NaN or Inf", (long long)bad);
        double norm = 0;
        bad = dy_first_nonunit_row(queue, queue_len, d, workers, &norm);
        if (bad >= 0)
            return dy_fail(ctx, DY_ERR_INVALID, "MoCo queue row %lld has norm %.6g, expected 1 (the queue holds "
                           "normalised keys)", (long long)bad, norm);
    }
    const float *uq = q, *uk = k;
    if (!L->opt.normalized_input) {
        /* keys first: inv_norm is then overwritten by the queries' norms, the only ones the backward needs */
        bad = dy_normalize_rows(k, n, d, L->unit_keys, L->inv_norm, workers);
        if (bad >= 0) return dy_fail(ctx, DY_ERR_INVALID, "MoCo key row %lld has zero norm", (long long)bad);
        bad = dy_normalize_rows(q, n, d, L->unit_rows, L->inv_norm, workers);
        if (bad >= 0) return dy_fail(ctx, DY_ERR_INVALID, "MoCo query row %lld has zero norm", (long long)bad);
        uq = L->unit_rows;
        uk = L->unit_keys;
    } else {
        double norm = 0;
        bad = dy_first_nonunit_row(q, n, d, workers, &norm);
        if (bad >= 0)
            return dy_fail(ctx, DY_ERR_INVALID, "MoCo query row %lld has norm %.6g, expected 1 (normalized_input)",
                           (long long)bad, norm);
        bad = dy_first_nonunit_row(k, n, d, workers, &norm);
        if (bad >= 0)
            return dy_fail(ctx, DY_ERR_INVALID, "MoCo key row %lld has norm %.6g, expected 1 (normalized_input)",
                           (long long)bad, norm);
    }
    dy_status st = moco_passes(L, workers, n, uq, uk, queue, queue_len, dq, diag != NULL);
    if (st != DY_OK) return dy_fail(ctx, st, "MoCo loss: a GEMM failed (internal error)");
    const int64_t blocks = (n + L->tile - 1) / L->tile;
    double loss_sum = 0;
    for (int64_t b = 0; b < blocks; b++) loss_sum += L->block_stats[b].loss_sum;
    const double loss = loss_sum / (double)n;
    if (dq && !L->opt.normalized_input) dy_normalize_rows_backward(dq, uq, L->inv_norm, n, d, workers);
    *loss_out = (float)loss;
    if (diag) dy_diag_merge(L, blocks, n, n * queue_len, loss, diag);
    /* a key the caller already normalised (norm 1 within 1e-6, as MoCo normalises its keys before enqueueing them)
     * enters as given; another as the loss normalised it. Normalising a unit row again could move its last bit. */
    if (own_queue) dy_loss_queue_append(L, n, k, uk, true);
    return DY_OK;
}
