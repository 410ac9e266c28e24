/* The adaptive temperature profile's controller (see tau_adapt.h). */
#include "train/tau_adapt.h"

#include <math.h>

#include "core/context.h"
#include "loss/loss_object.h"

dy_status dy_tau_adapt_check(dy_ctx *ctx, const dy_tau_adapt_config *c, const dy_tau_profile *p) {
    if (!c->on) return DY_OK;
    if (p->kind == DY_TAU_CONSTANT)
        return dy_fail(ctx, DY_ERR_INVALID, "--tau-adapt band steers tau-min and tau-max: it needs the cosine or "
                       "shifted profile, not const");
    if (!(c->band_low >= 0 && c->band_low <= c->band_high && c->band_high <= 1))
        return dy_fail(ctx, DY_ERR_INVALID, "--tau-band-low %g and --tau-band-high %g must satisfy 0 <= low <= high "
                       "<= 1", c->band_low, c->band_high);
    if (!(c->rate > 0 && c->rate <= 1))
        return dy_fail(ctx, DY_ERR_INVALID, "--tau-adapt-rate %g must be in (0, 1]", c->rate);
    if (!(c->floor >= 1e-4 && c->floor <= c->ceil && c->ceil <= 1e4))
        return dy_fail(ctx, DY_ERR_INVALID, "--tau-adapt-floor %g and --tau-adapt-ceil %g must satisfy 1e-4 <= floor "
                       "<= ceil <= 1e4", c->floor, c->ceil);
    if (p->tau_min < c->floor || p->tau_max > c->ceil)
        return dy_fail(ctx, DY_ERR_INVALID, "the profile's tau-min %g and tau-max %g must lie within --tau-adapt-floor "
                       "%g and --tau-adapt-ceil %g", (double)p->tau_min, (double)p->tau_max, c->floor, c->ceil);
    return DY_OK;
}

/* -1: below the band (move the bound towards the other), +1: above (away from it), 0: inside. */
static int side(const dy_tau_adapt_config *c, double frac) {
    return frac > c->band_high ? 1 : frac < c->band_low ? -1 : 0;
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

void dy_tau_adapt_update(const dy_tau_adapt_config *c, double frac_near_min, double frac_near_max,
                         dy_tau_adapt_state *s) {
    double lo = s->tau_min * exp(-c->rate * side(c, frac_near_min)); /* above the band: tau_min down */
    double hi = s->tau_max * exp(c->rate * side(c, frac_near_max));  /* above the band: tau_max up */
    lo = clamp(lo, c->floor, c->ceil);
    hi = clamp(hi, c->floor, c->ceil);
    if (lo > hi) { /* the bounds met: they stay together at the point between them (geometric mean) */
        double m = sqrt(lo * hi);
        lo = hi = m;
    }
    s->tau_min = lo;
    s->tau_max = hi;
}

dy_tau_profile dy_tau_adapt_profile(const dy_tau_profile *p, const dy_tau_adapt_state *s) {
    dy_tau_profile q = *p;
    q.tau_min = (float)s->tau_min;
    q.tau_max = (float)s->tau_max;
    return q;
}

void dy_tau_adapt_apply(dy_loss *loss, const dy_tau_profile *p) {
    loss->opt.tau = *p;
    loss->tau = dy_tau_coef_of(p);
}

void dy_tau_adapt_list_tensors(dy_tau_adapt_state *s, dy_tensor_list *l) {
    int64_t two = 2;
    /* the struct is two adjacent doubles */
    dy_tensor_list_add(l, "tau_adapt.", "bounds", DY_DTYPE_F64, DY_DTYPE_F64, 1, &two, &s->tau_min);
}
