/* The SimCLR form of the DySTreSS loss over 2N rows [view0; view1], blocked (see include/dystress/loss.h).
 *
 * Pass 1, per block of rows I: for every column tile J, S = Z_I Z_J^T (GEMM), tau(S), logits a = S / tau, and a
 * running log-sum-exp per row over its denominator set; gives the per-row normaliser lse_i and the loss.
 * Pass 2, per block of rows I (the normalisers of all rows are now known): recompute each tile and form
 *     H_ij = (1 / 2N) (1 / tau_ij) (P_ij + P_ji - [j = p(i)] - [i = p(j)]),   P_ij = exp(a_ij - lse_i) on D_i, else 0
 * which is dL/ds_ij + dL/ds_ji (s is symmetric and tau_ij = tau_ji), so dZ_I = sum_J H_IJ Z_J: every block writes
 * only its own rows of dZ, so no two threads touch the same output, and the J order is fixed. */
#include "core/context.h"
#include "core/gemm.h"
#include "loss/fastmath.h"
#include "loss/loss_object.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* Columns of a tile row that are not plain negatives: the anchor itself and its positive (local indices, or -1). */
typedef struct {
    int64_t self, pos;
} excluded_cols;

static excluded_cols excluded_in_tile(int64_t i, int64_t p, int64_t j0, int64_t bj) {
    excluded_cols e = {-1, -1};
    if (i >= j0 && i < j0 + bj) e.self = i - j0;
    if (p >= j0 && p < j0 + bj) e.pos = p - j0;
    return e;
}

/* Pass 1 for one tile row: the negatives between the excluded columns, and the positive. */
static void forward_tile_row(dy_loss *L, int64_t i, float *srow, const float *trow, int64_t bj, excluded_cols e,
                             dy_lse_acc *acc, dy_block_stats *stats) {
    if (e.pos >= 0) {
        const float s = srow[e.pos], tau = trow[e.pos], a = s / tau;
        L->pos_logit[i] = a;
        if (!L->opt.decoupled) dy_lse_add(acc, a);
        if (stats) dy_stats_add_positive(&L->tau, stats, s, tau);
    }
    int64_t cut[2] = {e.self, e.pos}; /* at most two excluded columns, in increasing order */
    if (cut[0] > cut[1]) {
        int64_t t = cut[0];
        cut[0] = cut[1];
        cut[1] = t;
    }
    int64_t lo = 0;
    for (int c = 0; c < 2; c++) {
        if (cut[c] < 0) continue;
        dy_row_negatives_forward(&L->tau, srow, trow, lo, cut[c], acc, stats);
        lo = cut[c] + 1;
    }
    dy_row_negatives_forward(&L->tau, srow, trow, lo, bj, acc, stats);
}

/* Pass 2 for one tile row: gradient weights H (see the top of the file), written over the similarities. */
static void backward_tile_row(const dy_loss *L, float lse_i, const float *restrict lse_cols, float *restrict srow,
                              const float *restrict trow, int64_t bj, excluded_cols e, float inv_rows,
                              float lse_pos) {
    float pos_s = e.pos >= 0 ? srow[e.pos] : 0.0f;
#pragma omp simd
    for (int64_t j = 0; j < bj; j++) {
        const float a = srow[j] / trow[j];
        srow[j] = (dy_fast_exp(a - lse_i) + dy_fast_exp(a - lse_cols[j])) * (inv_rows / trow[j]);
    }
    if (e.self >= 0) srow[e.self] = 0.0f;
    if (e.pos >= 0) {
        const float tau = trow[e.pos], a = pos_s / tau;
        const float both = L->opt.decoupled ? 0.0f : dy_fast_exp(a - lse_i) + dy_fast_exp(a - lse_pos);
        srow[e.pos] = (both - 2.0f) * (inv_rows / tau);
    }
}

/* Runs both passes on unit rows z (2n x d). dz may be NULL (forward only). Returns DY_OK or DY_ERR_INTERNAL. */
static dy_status contrastive_passes(dy_loss *L, int workers, int64_t n, const float *z, float *dz, bool want_stats) {
    const int64_t rows = 2 * n, d = L->opt.dim, tile = L->tile, ld = L->tile_ld;
    const int64_t blocks = (rows + tile - 1) / tile;
    const float inv_rows = 1.0f / (float)rows;
    int gemm_failed = 0;
    if (workers > blocks) workers = (int)blocks; /* a thread without a block would only wait at the barriers */
    /* Below ~2^25 multiply-adds per pass (N < 256 at d = 128) a second thread costs more than it saves. */
    if ((double)rows * (double)rows * (double)d < 33554432.0) workers = 1;
#pragma omp parallel num_threads(workers)
    {
        /* Every GEMM below runs on its calling thread alone (dy_sgemm's thread count 1): parallelism is over row
         * blocks, and a product's summation order then does not depend on the thread count. */
        const int w = omp_get_thread_num();
        float *S = L->tile_sim + (size_t)w * (size_t)(tile * ld);
        float *T = L->tile_tau + (size_t)w * (size_t)(tile * ld);
        dy_lse_acc *acc = L->row_acc + (size_t)w * (size_t)tile;

#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t i0 = b * tile, bi = rows - i0 < tile ? rows - i0 : tile;
            dy_block_stats *block = &L->block_stats[b];
            memset(block, 0, sizeof *block);
            block->neg_sim_max = -1.0f / 0.0f;
            dy_block_stats *stats = want_stats ? block : NULL;
            for (int64_t r = 0; r < bi; r++) acc[r] = dy_lse_start();
            for (int64_t j0 = 0; j0 < rows; j0 += tile) {
                const int64_t bj = rows - j0 < tile ? rows - j0 : tile;
                if (dy_sgemm(1, false, true, bi, bj, d, 1.0f, z + i0 * d, d, z + j0 * d, d, 0.0f, S, ld) != DY_OK) {
#pragma omp atomic write
                    gemm_failed = 1;
                }
                for (int64_t r = 0; r < bi; r++) {
                    const int64_t i = i0 + r, p = i < n ? i + n : i - n;
                    dy_tau_fill(&L->tau, S + r * ld, T + r * ld, bj);
                    forward_tile_row(L, i, S + r * ld, T + r * ld, bj, excluded_in_tile(i, p, j0, bj), &acc[r],
                                     stats);
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

        if (dz) {
#pragma omp for schedule(dynamic, 1)
            for (int64_t b = 0; b < blocks; b++) {
                const int64_t i0 = b * tile, bi = rows - i0 < tile ? rows - i0 : tile;
                for (int64_t j0 = 0; j0 < rows; j0 += tile) {
                    const int64_t bj = rows - j0 < tile ? rows - j0 : tile;
                    if (dy_sgemm(1, false, true, bi, bj, d, 1.0f, z + i0 * d, d, z + j0 * d, d, 0.0f, S, ld) != DY_OK) {
#pragma omp atomic write
                        gemm_failed = 1;
                    }
                    for (int64_t r = 0; r < bi; r++) {
                        const int64_t i = i0 + r, p = i < n ? i + n : i - n;
                        dy_tau_fill(&L->tau, S + r * ld, T + r * ld, bj);
                        backward_tile_row(L, L->row_lse[i], L->row_lse + j0, S + r * ld, T + r * ld, bj,
                                          excluded_in_tile(i, p, j0, bj), inv_rows, L->row_lse[p]);
                    }
                    if (dy_sgemm(1, false, false, bi, d, bj, 1.0f, S, ld, z + j0 * d, d, j0 == 0 ? 0.0f : 1.0f,
                                 dz + i0 * d, d) != DY_OK) {
#pragma omp atomic write
                        gemm_failed = 1;
                    }
                }
            }
        }
    }
    return gemm_failed ? DY_ERR_INTERNAL : DY_OK;
}

dy_status dy_loss_contrastive(dy_loss *L, dy_ctx *ctx, int64_t n, const float *z, float *dz, float *loss_out,
                              dy_loss_diag *diag) {
    if (!ctx) return DY_ERR_INVALID;
    if (!L) return dy_fail(ctx, DY_ERR_INVALID, "dy_loss_contrastive: loss is NULL");
    if (L->opt.form != DY_LOSS_SIMCLR)
        return dy_fail(ctx, DY_ERR_INVALID, "dy_loss_contrastive on a loss created for the MoCo form");
    if (n < 2 || n > L->opt.max_batch)
        return dy_fail(ctx, DY_ERR_INVALID, "contrastive loss batch N = %lld: expected 2 .. %lld (max_batch)",
                       (long long)n, (long long)L->opt.max_batch);
    if (!z || !loss_out)
        return dy_fail(ctx, DY_ERR_INVALID, "dy_loss_contrastive: %s is NULL", !z ? "z" : "loss_out");
    const int64_t rows = 2 * n, d = L->opt.dim;
    const int workers = dy_loss_workers(L, ctx);
    int64_t bad = dy_first_nonfinite_row(z, rows, d, workers);
    if (bad >= 0)
        return dy_fail(ctx, DY_ERR_NUMERIC, "contrastive loss input row %lld (of %lld) has NaN or Inf", (long long)bad,
                       (long long)rows);
    const float *unit = z;
    if (!L->opt.normalized_input) {
        bad = dy_normalize_rows(z, rows, d, L->unit_rows, L->inv_norm, workers);
        if (bad >= 0)
            return dy_fail(ctx, DY_ERR_INVALID, "contrastive loss input row %lld has zero norm (cannot normalise)",
                           (long long)bad);
        unit = L->unit_rows;
    } else {
        double norm = 0;
        bad = dy_first_nonunit_row(z, rows, d, workers, &norm);
        if (bad >= 0)
            return dy_fail(ctx, DY_ERR_INVALID, "contrastive loss input row %lld has norm %.6g, expected 1 (the loss "
                           "was created with normalized_input; pass raw projections otherwise)", (long long)bad, norm);
    }
    dy_status st = contrastive_passes(L, workers, n, unit, dz, diag != NULL);
    if (st != DY_OK) return dy_fail(ctx, st, "contrastive loss: a GEMM failed (internal error)");
    const int64_t blocks = (rows + L->tile - 1) / L->tile;
    double loss_sum = 0;
    for (int64_t b = 0; b < blocks; b++) loss_sum += L->block_stats[b].loss_sum;
    const double loss = loss_sum / (double)rows;
    if (dz && !L->opt.normalized_input) dy_normalize_rows_backward(dz, unit, L->inv_norm, rows, d, workers);
    *loss_out = (float)loss;
    if (diag) dy_diag_merge(L, blocks, rows, rows * (rows - 2), loss, diag);
    return DY_OK;
}
