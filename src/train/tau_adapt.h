/* An adaptive temperature profile (off unless chosen): tau_min and tau_max of a cosine or shifted profile steered
 * during training so that the fractions of pairs the loss counts near each extreme (dy_loss_diag's
 * frac_near_tau_min, frac_near_tau_max: tau within 1 % of the bound) stay in a target band [low, high].
 *
 * Why the directions: for fixed similarities a pair is near tau_min when (1 + cos)/2 <= 0.01 r / (1 - r) and near
 * tau_max when 1 - (1 + cos)/2 <= 0.01 / (1 - r), with r = tau_min / tau_max: both fractions grow as the bounds
 * close in. So a fraction above the band is brought down by moving its bound away from the other one (tau_min
 * down, tau_max up), and one below the band by moving it towards the other: negative feedback on what is measured.
 * The opposite rule would feed back positively and run the bounds to their limits.
 *
 * Each step multiplies a bound by exp(+-rate) (a fraction inside the band leaves its bound alone); both stay within
 * [floor, ceil] and tau_min <= tau_max. The diagnostics of step t set the profile of step t + 1, so the bounds are
 * a deterministic function of the run: the checkpoint stores them ("tau_adapt.bounds", float64 [tau_min, tau_max])
 * and a resumed run equals an uninterrupted one. */
#ifndef DY_TRAIN_TAU_ADAPT_H
#define DY_TRAIN_TAU_ADAPT_H

#include <stdbool.h>

#include "core/tensor_list.h"
#include "dystress.h"

typedef struct {
    bool on;
    double band_low, band_high; /* target band of each fraction, 0 <= low <= high <= 1 */
    double rate;                /* log-step per training step, > 0 */
    double floor, ceil;         /* limits of both bounds */
} dy_tau_adapt_config;

typedef struct {
    double tau_min, tau_max; /* adjacent: the checkpoint's tensor [2] points at tau_min */
} dy_tau_adapt_state;
_Static_assert(sizeof(dy_tau_adapt_state) == 2 * sizeof(double), "dy_tau_adapt_state is two adjacent doubles");

/* DY_ERR_INVALID with a message unless the configuration is usable with profile p (cosine or shifted, its bounds
 * inside [floor, ceil]). */
dy_status dy_tau_adapt_check(dy_ctx *ctx, const dy_tau_adapt_config *c, const dy_tau_profile *p);
/* One controller step from the fractions measured under the current bounds. */
void dy_tau_adapt_update(const dy_tau_adapt_config *c, double frac_near_min, double frac_near_max,
                         dy_tau_adapt_state *s);
/* The profile p with the state's bounds. */
dy_tau_profile dy_tau_adapt_profile(const dy_tau_profile *p, const dy_tau_adapt_state *s);
/* Makes the loss use profile p from its next call (p already accepted by dy_tau_check). */
void dy_tau_adapt_apply(dy_loss *loss, const dy_tau_profile *p);
/* Adds the state to a checkpoint's tensor list ("tau_adapt.bounds"). */
void dy_tau_adapt_list_tensors(dy_tau_adapt_state *s, dy_tensor_list *l);

#endif
