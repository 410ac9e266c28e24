/* Diagnostics of a loss call: the per-block partial sums gathered in the passes, merged in block order. */
#include "loss/loss_object.h"

#include <string.h>

void dy_diag_merge(const dy_loss *L, int64_t blocks, int64_t pos_pairs, int64_t neg_pairs, double loss,
                   dy_loss_diag *diag) {
    memset(diag, 0, sizeof *diag);
    double pos_sim = 0, pos_tau = 0, neg_sim = 0, neg_tau = 0;
    float neg_max = -1.0f / 0.0f;
    int64_t near_min = 0, near_max = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const dy_block_stats *st = &L->block_stats[b];
        pos_sim += st->pos_sim_sum;
        pos_tau += st->pos_tau_sum;
        neg_sim += st->neg_sim_sum;
        neg_tau += st->neg_tau_sum;
        if (st->neg_sim_max > neg_max) neg_max = st->neg_sim_max;
        near_min += st->near_tau_min;
        near_max += st->near_tau_max;
        for (int k = 0; k < DY_LOSS_HIST_BINS; k++) {
            diag->pos_hist[k] += st->pos_hist[k];
            diag->neg_hist[k] += st->neg_hist[k];
        }
    }
    const int64_t pairs = pos_pairs + neg_pairs;
    diag->loss = loss;
    diag->pos_pairs = pos_pairs;
    diag->neg_pairs = neg_pairs;
    diag->pos_sim_mean = pos_pairs ? pos_sim / (double)pos_pairs : 0.0;
    diag->pos_tau_mean = pos_pairs ? pos_tau / (double)pos_pairs : 0.0;
    diag->neg_sim_mean = neg_pairs ? neg_sim / (double)neg_pairs : 0.0;
    diag->neg_tau_mean = neg_pairs ? neg_tau / (double)neg_pairs : 0.0;
    diag->neg_sim_max = neg_pairs ? neg_max : 0.0;
    diag->frac_near_tau_min = pairs ? (double)near_min / (double)pairs : 0.0;
    diag->frac_near_tau_max = pairs ? (double)near_max / (double)pairs : 0.0;
}
