/* The loss object's insides, shared by the loss forms (contrastive.c, moco.c), their row kernels
 * (row_kernels.c) and the diagnostics (diagnostics.c). */
#ifndef DY_LOSS_OBJECT_H
#define DY_LOSS_OBJECT_H

#include "dystress.h"
#include "loss/temperature.h"

/* Partial sums of one block of rows, merged in block order after the parallel passes so that the result does not
 * depend on which thread ran which block. */
typedef struct {
    double loss_sum;                     /* sum of loss_i over the block's rows */
    double pos_sim_sum, pos_tau_sum;
    double neg_sim_sum, neg_tau_sum;
    float neg_sim_max;
    int64_t near_tau_min, near_tau_max;  /* pairs (positive or negative) within 1 % of tau_min / tau_max */
    int64_t pos_hist[DY_LOSS_HIST_BINS];
    int64_t neg_hist[DY_LOSS_HIST_BINS];
} dy_block_stats;

struct dy_loss {
    dy_loss_options opt;
    dy_tau_coef tau;
    int threads;          /* workers the scratch was sized for */
    int64_t tile;         /* rows and columns of a similarity tile */
    int64_t tile_ld;      /* row stride of a tile: tile rounded up to 16 floats (same alignment in every tile) */
    int64_t rows_max;     /* rows a call may pass: 2 max_batch (SimCLR) or max_batch (MoCo) */
    int64_t blocks_max;   /* row blocks: ceil(rows_max / tile) */
    float *unit_rows;     /* rows_max x dim: the L2-normalised input rows (raw input only) */
    float *inv_norm;      /* rows_max: 1 / ||x_i|| (raw input only) */
    float *unit_keys;     /* max_batch x dim: normalised MoCo keys (raw input only) */
    float *row_lse;       /* rows_max: log of each anchor's denominator */
    float *pos_logit;     /* rows_max: a_ip(i) = s / tau of each anchor's positive */
    float *tile_sim;      /* threads x tile x tile_ld: similarities, then gradient weights */
    float *tile_tau;      /* threads x tile x tile_ld: tau of each similarity */
    struct dy_lse_acc *row_acc;  /* threads x tile: running log-sum-exp of the rows of the block in work */
    dy_block_stats *block_stats; /* blocks_max */
    float *queue;         /* queue_capacity x dim ring buffer (MoCo, library-owned queue) */
    int64_t queue_len, queue_head;
    size_t scratch_bytes;
};

/* Running log-sum-exp of one row: the largest logit so far and the sum of exp(logit - max). */
typedef struct dy_lse_acc {
    double max;
    double sum;
} dy_lse_acc;

static inline dy_lse_acc dy_lse_start(void) { return (dy_lse_acc){.max = -1.0 / 0.0, .sum = 0.0}; }
/* Adds one logit. */
void dy_lse_add(dy_lse_acc *acc, float logit);
/* log(sum exp) of what was added; -inf when nothing was. */
double dy_lse_value(const dy_lse_acc *acc);

/* Forward over negatives: columns [lo, hi) of one tile row, similarities s and temperatures tau. Replaces s[j] by
 * the logit s[j] / tau[j], adds the logits to acc and, when stats is not NULL, the pairs to stats as negatives. */
void dy_row_negatives_forward(const dy_tau_coef *c, float *s, const float *tau, int64_t lo, int64_t hi,
                              dy_lse_acc *acc, dy_block_stats *stats);
/* Diagnostics of one positive pair. */
void dy_stats_add_positive(const dy_tau_coef *c, dy_block_stats *stats, float s, float tau);

/* Checks that every element is finite; returns the first bad row, or -1. */
int64_t dy_first_nonfinite_row(const float *x, int64_t rows, int64_t dim, int threads);
/* out_i = x_i / ||x_i|| and inv_norm_i = 1 / ||x_i|| (norm accumulated in double). Returns the first zero row or -1. */
int64_t dy_normalize_rows(const float *x, int64_t rows, int64_t dim, float *out, float *inv_norm, int threads);
/* Returns the first row whose norm is not within 1e-3 of 1, or -1 (norm in *bad_norm). */
int64_t dy_first_nonunit_row(const float *x, int64_t rows, int64_t dim, int threads, double *bad_norm);
/* Backward of the normalisation, in place: g_i <- (g_i - z_i (z_i . g_i)) * inv_norm_i. */
void dy_normalize_rows_backward(float *g, const float *unit, const float *inv_norm, int64_t rows, int64_t dim,
                                int threads);

/* Merges block_stats[0..blocks) into diag (in block order) with the pair counts given. */
void dy_diag_merge(const struct dy_loss *L, int64_t blocks, int64_t pos_pairs, int64_t neg_pairs, double loss,
                   dy_loss_diag *diag);
/* The queue's one append (queue.c): of count rows, the last queue_capacity enter the ring, the oldest rows leave
 * first. A row of unit norm (within 1e-6) enters as given when keep_unit; any other enters normalised: unit's row
 * when the caller has the normalised rows (NULL: normalised here). */
void dy_loss_queue_append(struct dy_loss *L, int64_t count, const float *rows, const float *unit, bool keep_unit);
/* Workers for a call: min(context threads, what the scratch was sized for). */
int dy_loss_workers(const struct dy_loss *L, const dy_ctx *ctx);

#endif
