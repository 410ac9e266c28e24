/* Per-row pieces shared by the loss forms: the running log-sum-exp, the forward over a run of negatives (with
 * their diagnostics), and the input checks and L2 normalisation with its backward. */
#include "core/context.h"
#include "loss/fastmath.h"
#include "loss/loss_object.h"

#include <math.h>

/* Row loops below this many elements run on one thread: a parallel region costs more than the work (and much
 * more on a loaded machine, where a descheduled worker holds up the barrier). */
#define PARALLEL_MIN_ELEMS ((int64_t)1 << 18)

void dy_lse_add(dy_lse_acc *acc, float logit) {
    double m = logit > acc->max ? logit : acc->max;
    acc->sum = acc->sum * exp(acc->max - m) + exp((double)logit - m);
    acc->max = m;
}

double dy_lse_value(const dy_lse_acc *acc) { return acc->sum > 0 ? acc->max + log(acc->sum) : -1.0 / 0.0; }

/* Histogram bin of a similarity: DY_LOSS_HIST_BINS equal bins over [-1, 1], out-of-range values clamped. */
static inline int hist_bin(float s) {
    float b = (s + 1.0f) * (0.5f * DY_LOSS_HIST_BINS);
    if (!(b > 0.0f)) return 0;
    if (b >= (float)DY_LOSS_HIST_BINS) return DY_LOSS_HIST_BINS - 1;
    return (int)b;
}

void dy_stats_add_positive(const dy_tau_coef *c, dy_block_stats *st, float s, float tau) {
    st->pos_sim_sum += s;
    st->pos_tau_sum += tau;
    st->near_tau_min += tau <= 1.01f * c->tau_min;
    st->near_tau_max += tau >= 0.99f * c->tau_max;
    st->pos_hist[hist_bin(s)]++;
}

void dy_row_negatives_forward(const dy_tau_coef *c, float *restrict s, const float *restrict tau, int64_t lo,
                              int64_t hi, dy_lse_acc *acc, dy_block_stats *st) {
    if (hi <= lo) return;
    if (st) {
        const float near_min = 1.01f * c->tau_min, near_max = 0.99f * c->tau_max;
        double sim_sum = 0, tau_sum = 0;
        int64_t n_min = 0, n_max = 0;
        float sim_max = st->neg_sim_max;
#pragma omp simd reduction(+ : sim_sum, tau_sum, n_min, n_max) reduction(max : sim_max)
        for (int64_t j = lo; j < hi; j++) {
            sim_sum += s[j];
            tau_sum += tau[j];
            n_min += tau[j] <= near_min;
            n_max += tau[j] >= near_max;
            sim_max = s[j] > sim_max ? s[j] : sim_max;
        }
        st->neg_sim_sum += sim_sum;
        st->neg_tau_sum += tau_sum;
        st->near_tau_min += n_min;
        st->near_tau_max += n_max;
        st->neg_sim_max = sim_max;
        for (int64_t j = lo; j < hi; j++) st->neg_hist[hist_bin(s[j])]++;
    }
    float m = -1.0f / 0.0f;
#pragma omp simd reduction(max : m)
    for (int64_t j = lo; j < hi; j++) {
        s[j] = s[j] / tau[j];
        m = s[j] > m ? s[j] : m;
    }
    double new_max = m > acc->max ? m : acc->max;
    const float shift = (float)new_max; /* a float value: it is the max of float logits */
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = lo; j < hi; j++) sum += dy_fast_exp(s[j] - shift);
    acc->sum = acc->sum * exp(acc->max - new_max) + sum;
    acc->max = new_max;
}

int64_t dy_first_nonfinite_row(const float *x, int64_t rows, int64_t dim, int threads) {
    int64_t first = rows;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : first) if (rows * dim >= PARALLEL_MIN_ELEMS)
    for (int64_t i = 0; i < rows; i++) {
        const float *row = x + i * dim;
        int bad = 0;
        for (int64_t k = 0; k < dim; k++) bad |= !isfinite(row[k]);
        if (bad && i < first) first = i;
    }
    return first < rows ? first : -1;
}

int64_t dy_normalize_rows(const float *x, int64_t rows, int64_t dim, float *out, float *inv_norm, int threads) {
    int64_t first_zero = rows;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : first_zero) if (rows * dim >= PARALLEL_MIN_ELEMS)
    for (int64_t i = 0; i < rows; i++) {
        const float *row = x + i * dim;
        double ss = 0;
        for (int64_t k = 0; k < dim; k++) ss += (double)row[k] * row[k];
        double norm = sqrt(ss);
        /* A zero row has no direction; a norm below float's smallest normal would overflow 1 / norm. */
        if (!(norm >= 1e-30)) {
            if (i < first_zero) first_zero = i;
            continue;
        }
        float inv = (float)(1.0 / norm);
        inv_norm[i] = inv;
        float *o = out + i * dim;
        for (int64_t k = 0; k < dim; k++) o[k] = (float)(row[k] / norm);
    }
    return first_zero < rows ? first_zero : -1;
}

int64_t dy_first_nonunit_row(const float *x, int64_t rows, int64_t dim, int threads, double *bad_norm) {
    int64_t first = rows;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : first) if (rows * dim >= PARALLEL_MIN_ELEMS)
    for (int64_t i = 0; i < rows; i++) {
        const float *row = x + i * dim;
        double ss = 0;
        for (int64_t k = 0; k < dim; k++) ss += (double)row[k] * row[k];
        if (fabs(sqrt(ss) - 1.0) > 1e-3 && i < first) first = i;
    }
    if (first < rows) {
        double ss = 0;
        for (int64_t k = 0; k < dim; k++) ss += (double)x[first * dim + k] * x[first * dim + k];
        *bad_norm = sqrt(ss);
        return first;
    }
    return -1;
}

void dy_normalize_rows_backward(float *g, const float *unit, const float *inv_norm, int64_t rows, int64_t dim,
                                int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (rows * dim >= PARALLEL_MIN_ELEMS)
    for (int64_t i = 0; i < rows; i++) {
        float *gi = g + i * dim;
        const float *zi = unit + i * dim;
        double dot = 0;
        for (int64_t k = 0; k < dim; k++) dot += (double)zi[k] * gi[k];
        const float d = (float)dot, inv = inv_norm[i];
        for (int64_t k = 0; k < dim; k++) gi[k] = (gi[k] - zi[k] * d) * inv;
    }
}
