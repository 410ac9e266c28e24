/* The candidates of a tune: anchors and a seeded sample of the ranges (see tune.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/context.h"
#include "core/rng.h"
#include "tune/tune.h"

static const char *const family_names[DY_TUNE_FAMILIES] = {"const", "cosine", "shifted", "adaptive", "annealed"};

const char *dy_tune_family_name(dy_tune_family f) {
    return f >= 0 && f < DY_TUNE_FAMILIES ? family_names[f] : "unknown";
}

int dy_tune_family_parse(const char *name) {
    for (int f = 0; f < DY_TUNE_FAMILIES; f++)
        if (!strcmp(name, family_names[f])) return f;
    return -1;
}

static dy_status range_ok(dy_ctx *ctx, const char *what, dy_tune_range r, double lo, double hi) {
    if (!(isfinite(r.lo) && isfinite(r.hi) && r.lo <= r.hi))
        return dy_fail(ctx, DY_ERR_INVALID, "--%s-range %g,%g: expected low,high with low <= high", what, r.lo, r.hi);
    if (r.lo < lo || r.hi > hi)
        return dy_fail(ctx, DY_ERR_INVALID, "--%s-range %g,%g must lie within [%g, %g]", what, r.lo, r.hi, lo, hi);
    return DY_OK;
}

dy_status dy_tune_space_check(dy_ctx *ctx, const dy_tune_space *s) {
    bool any = false;
    for (int f = 0; f < DY_TUNE_FAMILIES; f++) any |= s->family[f];
    if (!any)
        return dy_fail(ctx, DY_ERR_INVALID, "--families names no family (const, cosine, shifted, adaptive, annealed)");
    dy_status st;
    if ((st = range_ok(ctx, "tau", s->tau, 1e-4, 1e4)) != DY_OK) return st;
    if ((st = range_ok(ctx, "tau-min", s->tau_min, 1e-4, 1e4)) != DY_OK) return st;
    if ((st = range_ok(ctx, "tau-max", s->tau_max, 1e-4, 1e4)) != DY_OK) return st;
    if ((st = range_ok(ctx, "offset", s->offset, -2, 2)) != DY_OK) return st;
    if ((st = range_ok(ctx, "scale", s->scale, 1e-3, 100)) != DY_OK) return st;
    if (s->family[DY_TUNE_ANNEALED] && (st = range_ok(ctx, "end-ratio", s->end_ratio, 1e-4, 1)) != DY_OK) return st;
    if (s->tau_min.lo > s->tau_max.hi)
        return dy_fail(ctx, DY_ERR_INVALID, "--tau-min-range %g,%g lies above --tau-max-range %g,%g: no profile has "
                       "tau_min <= tau_max", s->tau_min.lo, s->tau_min.hi, s->tau_max.lo, s->tau_max.hi);
    return DY_OK;
}

double dy_tune_round3(double v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.3g", v);
    double r;
    return sscanf(buf, "%lf", &r) == 1 ? r : v;
}

static double log_uniform(dy_rng *r, dy_tune_range g) {
    return dy_tune_round3(exp(log(g.lo) + dy_rng_uniform_double(r) * (log(g.hi) - log(g.lo))));
}

static double uniform(dy_rng *r, dy_tune_range g) {
    return dy_tune_round3(g.lo + dy_rng_uniform_double(r) * (g.hi - g.lo));
}

dy_status dy_tune_candidates(dy_ctx *ctx, const dy_tune_space *s, int64_t n, dy_tune_candidate *out) {
    dy_status st = dy_tune_space_check(ctx, s);
    if (st != DY_OK) return st;
    int64_t k = 0;
    if (s->anchors) {
        const dy_tune_candidate anchors[3] = {
            {.family = DY_TUNE_COSINE, .tau_min = 0.07, .tau_max = 0.2, .scale = 1, .anchor = true},
            {.family = DY_TUNE_CONST, .tau = 0.2, .scale = 1, .anchor = true},
            {.family = DY_TUNE_CONST, .tau = 0.5, .scale = 1, .anchor = true},
        };
        for (int a = 0; a < 3 && k < n; a++)
            if (s->family[anchors[a].family]) out[k++] = anchors[a];
    }
    int enabled[DY_TUNE_FAMILIES], n_enabled = 0;
    for (int f = 0; f < DY_TUNE_FAMILIES; f++)
        if (s->family[f]) enabled[n_enabled++] = f;
    for (int64_t i = 0; k < n; i++, k++) {
        dy_rng r;
        dy_rng_init(&r, s->seed, DY_RNG_TUNE, (uint32_t)i, 0);
        dy_tune_candidate c = {.family = (dy_tune_family)enabled[i % n_enabled], .scale = 1};
        if (c.family == DY_TUNE_CONST || c.family == DY_TUNE_ANNEALED) {
            c.tau = log_uniform(&r, s->tau);
            if (c.family == DY_TUNE_ANNEALED) c.end_ratio = log_uniform(&r, s->end_ratio);
        } else {
            c.tau_min = log_uniform(&r, s->tau_min);
            /* tau_max from the part of its range at or above tau_min */
            dy_tune_range hi = s->tau_max;
            if (hi.lo < c.tau_min) hi.lo = c.tau_min;
            c.tau_max = hi.lo <= hi.hi ? log_uniform(&r, hi) : c.tau_min;
            if (c.tau_max < c.tau_min) c.tau_max = c.tau_min; /* after rounding */
            if (c.family == DY_TUNE_SHIFTED) {
                c.offset = uniform(&r, s->offset);
                c.scale = uniform(&r, s->scale);
                if (c.scale <= 0) c.scale = s->scale.hi;
            }
        }
        out[k] = c;
    }
    return DY_OK;
}

void dy_tune_candidate_params(const dy_tune_candidate *c, char *buf, size_t size) {
    switch (c->family) {
    case DY_TUNE_CONST: snprintf(buf, size, "tau %.3g", c->tau); break;
    case DY_TUNE_ANNEALED: snprintf(buf, size, "tau %.3g, end ratio %.3g", c->tau, c->end_ratio); break;
    case DY_TUNE_SHIFTED:
        snprintf(buf, size, "tau_min %.3g, tau_max %.3g, offset %.3g, scale %.3g", c->tau_min, c->tau_max, c->offset,
                 c->scale);
        break;
    default: snprintf(buf, size, "tau_min %.3g, tau_max %.3g", c->tau_min, c->tau_max); break;
    }
}
