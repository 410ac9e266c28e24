/* Successive halving: the schedule of rungs and the promotion (see tune.h). */
#include <math.h>

#include "core/context.h"
#include "tune/tune.h"

dy_status dy_tune_schedule_make(dy_ctx *ctx, int64_t n, int64_t eta, int64_t min_budget, int rungs,
                                dy_tune_schedule *out) {
    if (n < 1) return dy_fail(ctx, DY_ERR_INVALID, "--trials %lld: at least 1", (long long)n);
    if (eta < 2) return dy_fail(ctx, DY_ERR_INVALID, "--eta %lld: at least 2", (long long)eta);
    if (min_budget < 1) return dy_fail(ctx, DY_ERR_INVALID, "--min-budget %lld: at least 1", (long long)min_budget);
    int most = 1; /* rungs that leave at least one trial: n / eta^(most-1) >= 1 */
    for (int64_t left = n / eta; left >= 1 && most < DY_TUNE_MAX_RUNGS; left /= eta) most++;
    if (rungs < 0 || rungs > most)
        return dy_fail(ctx, DY_ERR_INVALID, "--rungs %d: %lld trials halved by %lld allow 1 to %d rungs", rungs,
                       (long long)n, (long long)eta, most);
    out->rungs = rungs ? rungs : most;
    int64_t trials = n, budget = min_budget;
    for (int k = 0; k < out->rungs; k++) {
        out->trials[k] = trials;
        out->budget[k] = budget;
        trials = trials / eta >= 1 ? trials / eta : 1;
        if (k + 1 < out->rungs && budget > INT64_MAX / eta)
            return dy_fail(ctx, DY_ERR_INVALID, "budgets of %lld x %lld^%d overflow", (long long)min_budget,
                           (long long)eta, k + 1);
        budget *= eta;
    }
    return DY_OK;
}

/* a before b: higher score, NaN last, then smaller id */
static bool better(const int64_t *ids, const double *scores, int64_t a, int64_t b) {
    bool na = isnan(scores[a]), nb = isnan(scores[b]);
    if (na != nb) return nb;
    if (!na && scores[a] != scores[b]) return scores[a] > scores[b];
    return ids[a] < ids[b];
}

void dy_tune_select(const int64_t *ids, const double *scores, int64_t n, int64_t keep, int64_t *order) {
    if (keep > n) keep = n;
    /* each entry's place is the count of those better than it (a strict order: ids differ); n is a few dozen */
    for (int64_t i = 0; i < n; i++) {
        int64_t place = 0;
        for (int64_t j = 0; j < n; j++) place += j != i && better(ids, scores, j, i);
        if (place < keep) order[place] = i;
    }
}
