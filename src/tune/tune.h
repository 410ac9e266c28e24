/* The pieces of the search (include/dystress/tune.h is the search as a whole, with its types): which temperature
 * profiles to try, the rungs of successive halving, the promotion, and the TPE sampler.
 *
 * Candidates: the anchors (the paper's cosine 0.07-0.2, constants 0.2 and 0.5), then a fixed, seeded sample of the
 * ranges: families taken in turn (const, cosine, shifted, adaptive, annealed, those enabled), temperatures and the
 * annealed family's end ratio log-uniform and offset/scale uniform in their ranges, rounded to 3 significant
 * digits. The same (space, n) gives the same list on every machine.
 *
 * Successive halving (Jamieson & Talwalkar 2016): rung 0 runs n trials at budget b; rung k keeps the best
 * floor(n / eta^k) of rung k-1 (at least 1) at budget b eta^k; rungs as many as leave at least one trial (or fewer
 * when asked). Budgets are epochs or steps; the runner decides what a budget means. */
#ifndef DY_TUNE_TUNE_H
#define DY_TUNE_TUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dystress.h"

/* DY_ERR_INVALID naming the problem: no family, an empty or reversed range, temperatures outside [1e-4, 1e4], a
 * scale <= 0, a tau_min range wholly above the tau_max range, an end ratio outside (0, 1] (annealed only). */
dy_status dy_tune_space_check(dy_ctx *ctx, const dy_tune_space *s);
/* n candidates (anchors first, those of enabled families, then the sample) into out[n]. */
dy_status dy_tune_candidates(dy_ctx *ctx, const dy_tune_space *s, int64_t n, dy_tune_candidate *out);

/* The schedule of n trials, halving factor eta >= 2, first budget min_budget >= 1; rungs 0 = as many as leave a
 * trial. DY_ERR_INVALID when n < 1, rungs beyond that, or a budget overflows. */
dy_status dy_tune_schedule_make(dy_ctx *ctx, int64_t n, int64_t eta, int64_t min_budget, int rungs,
                                dy_tune_schedule *out);
/* The promotion: the indices (into ids/scores, n of them) of the best `keep`, best first; higher score first, ties
 * (and NaN scores, last) by smaller id. order[keep]. */
void dy_tune_select(const int64_t *ids, const double *scores, int64_t n, int64_t keep, int64_t *order);

/* ---- TPE: a model-based sampler (Bergstra et al. 2011, tree-structured Parzen estimator) -------------------------
 *
 * A candidate is its family (categorical) and its family's parameters mapped into [0, 1]: temperatures and the end
 * ratio on a log scale over their ranges, offset and scale linearly (tau_max over its own range, then raised to
 * tau_min as the random sample does). The finished observations, best score first (NaN, a failed trial, last), split
 * into the good ones (the best ceil(gamma n) of the n with a score) and the bad ones (the rest). Each side is a
 * density: a categorical over the enabled families (counts + 1) times, within a family, a Parzen mixture of the
 * uniform prior and one Gaussian per observation of the family (bandwidth 0.25 (m + 1)^(-1/(d + 4)) for m
 * observations in d parameters, at least 0.03). Each candidate draws `proposals` points from the good density l and
 * keeps the one of largest l(x) / g(x) that repeats no observation or earlier candidate (if every one does, the
 * largest). Its random numbers are (space seed, DY_RNG_TUNE, first + c, 1): the random sample's streams are
 * (..., i, 0), so the two never share one, and the same observations give the same proposals on every machine. */

typedef struct {
    dy_tune_candidate cand;
    double score; /* higher is better; NaN: the trial failed (counted among the bad) */
} dy_tune_observation;

typedef struct {
    double gamma;             /* the good fraction, in (0, 1) (0.25) */
    int64_t proposals;        /* points drawn from l per candidate (24) */
    int64_t min_observations; /* below this many scored observations, the fallback candidates are returned (6) */
} dy_tune_tpe_options;

dy_tune_tpe_options dy_tune_tpe_defaults(void);
/* n candidates into out[n], proposed from obs[n_obs] in space s (checked); first: the index of the first proposed
 * trial (seeds its stream). Fewer than opt->min_observations scored observations: out = fallback[n] (the random
 * sample), *modelled false (modelled may be NULL). DY_ERR_INVALID for a bad space or options. */
dy_status dy_tune_tpe_propose(dy_ctx *ctx, const dy_tune_space *s, const dy_tune_tpe_options *opt,
                              const dy_tune_observation *obs, int64_t n_obs, const dy_tune_candidate *fallback,
                              int64_t first, int64_t n, dy_tune_candidate *out, bool *modelled);
/* 3 significant digits, as the candidates are written (so that tables and configurations show the value run). */
double dy_tune_round3(double v);

#endif
