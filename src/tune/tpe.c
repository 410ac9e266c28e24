/* The TPE sampler of a tune: proposals from the finished trials (see tune.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/rng.h"
#include "tune/tune.h"

#define TPE_MAX_DIMS 4

dy_tune_tpe_options dy_tune_tpe_defaults(void) {
    return (dy_tune_tpe_options){.gamma = 0.25, .proposals = 24, .min_observations = 6};
}

static int dims_of(dy_tune_family f) {
    return f == DY_TUNE_CONST ? 1 : f == DY_TUNE_SHIFTED ? 4 : 2;
}

static double to_unit_log(double v, dy_tune_range r) {
    if (!(r.hi > r.lo) || !(v > 0)) return 0.5;
    double u = (log(v) - log(r.lo)) / (log(r.hi) - log(r.lo));
    return u < 0 ? 0 : u > 1 ? 1 : u;
}

static double to_unit(double v, dy_tune_range r) {
    if (!(r.hi > r.lo)) return 0.5;
    double u = (v - r.lo) / (r.hi - r.lo);
    return u < 0 ? 0 : u > 1 ? 1 : u;
}

static double from_unit_log(double u, dy_tune_range r) {
    return dy_tune_round3(exp(log(r.lo) + u * (log(r.hi) - log(r.lo))));
}

/* A candidate's parameters in [0, 1]^dims_of(family). */
static void encode(const dy_tune_space *s, const dy_tune_candidate *c, double *x) {
    switch (c->family) {
    case DY_TUNE_CONST: x[0] = to_unit_log(c->tau, s->tau); break;
    case DY_TUNE_ANNEALED:
        x[0] = to_unit_log(c->tau, s->tau);
        x[1] = to_unit_log(c->end_ratio, s->end_ratio);
        break;
    default:
        x[0] = to_unit_log(c->tau_min, s->tau_min);
        x[1] = to_unit_log(c->tau_max, s->tau_max);
        if (c->family == DY_TUNE_SHIFTED) {
            x[2] = to_unit(c->offset, s->offset);
            x[3] = to_unit(c->scale, s->scale);
        }
        break;
    }
}

static dy_tune_candidate decode(const dy_tune_space *s, dy_tune_family f, const double *x) {
    dy_tune_candidate c = {.family = f, .scale = 1};
    switch (f) {
    case DY_TUNE_CONST: c.tau = from_unit_log(x[0], s->tau); break;
    case DY_TUNE_ANNEALED:
        c.tau = from_unit_log(x[0], s->tau);
        c.end_ratio = from_unit_log(x[1], s->end_ratio);
        break;
    default:
        c.tau_min = from_unit_log(x[0], s->tau_min);
        c.tau_max = from_unit_log(x[1], s->tau_max);
        if (c.tau_max < c.tau_min) c.tau_max = c.tau_min;
        if (f == DY_TUNE_SHIFTED) {
            c.offset = dy_tune_round3(s->offset.lo + x[2] * (s->offset.hi - s->offset.lo));
            c.scale = dy_tune_round3(s->scale.lo + x[3] * (s->scale.hi - s->scale.lo));
            if (c.scale <= 0) c.scale = s->scale.hi;
        }
        break;
    }
    return c;
}

static bool same_candidate(const dy_tune_candidate *a, const dy_tune_candidate *b) {
    return a->family == b->family && a->tau == b->tau && a->end_ratio == b->end_ratio && a->tau_min == b->tau_min &&
           a->tau_max == b->tau_max && a->offset == b->offset && a->scale == b->scale;
}

/* One side of the model (the good or the bad observations): per family, the encoded points. */
typedef struct {
    int64_t count[DY_TUNE_FAMILIES], total;
    double *x[DY_TUNE_FAMILIES]; /* [count[f], TPE_MAX_DIMS] */
    double bw[DY_TUNE_FAMILIES];
    int enabled;
} side;

static double bandwidth(int64_t m, int d) {
    double bw = 0.25 * pow((double)(m + 1), -1.0 / (d + 4));
    return bw > 0.03 ? bw : 0.03;
}

/* log of the side's density at (f, x): the family's share times the Parzen mixture (prior weight 1) */
static double log_density(const side *sd, dy_tune_family f, const double *x) {
    int d = dims_of(f);
    double bw = sd->bw[f], sum = 1, norm = pow(1 / (sqrt(2 * M_PI) * bw), d);
    for (int64_t i = 0; i < sd->count[f]; i++) {
        double q = 0;
        for (int k = 0; k < d; k++) {
            double z = (x[k] - sd->x[f][i * TPE_MAX_DIMS + k]) / bw;
            q += z * z;
        }
        sum += norm * exp(-0.5 * q);
    }
    double share = (double)(sd->count[f] + 1) / (double)(sd->total + sd->enabled);
    return log(share) + log(sum / (double)(sd->count[f] + 1));
}

/* A point drawn from the side's density, given the family: the prior or one observation's Gaussian */
static void draw(const side *sd, dy_tune_family f, dy_rng *r, double *x) {
    int d = dims_of(f);
    uint64_t pick = dy_rng_below(r, (uint64_t)sd->count[f] + 1);
    for (int k = 0; k < d; k++) {
        if (pick == (uint64_t)sd->count[f]) {
            x[k] = dy_rng_uniform_double(r);
            continue;
        }
        double mu = sd->x[f][(int64_t)pick * TPE_MAX_DIMS + k], v = -1;
        for (int tries = 0; tries < 8 && (v < 0 || v > 1); tries++) v = mu + sd->bw[f] * dy_rng_normal(r);
        x[k] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

static dy_tune_family draw_family(const side *sd, const bool *family, dy_rng *r) {
    uint64_t t = dy_rng_below(r, (uint64_t)(sd->total + sd->enabled));
    for (int f = 0; f < DY_TUNE_FAMILIES; f++) {
        if (!family[f]) continue;
        uint64_t w = (uint64_t)sd->count[f] + 1;
        if (t < w) return (dy_tune_family)f;
        t -= w;
    }
    return DY_TUNE_CONST; /* not reached */
}

static void side_free(side *sd) {
    for (int f = 0; f < DY_TUNE_FAMILIES; f++) free(sd->x[f]);
}

/* fills the side from the observations obs[idx[0..m)] of enabled families */
static dy_status side_make(dy_ctx *ctx, const dy_tune_space *s, const dy_tune_observation *obs, const int64_t *idx,
                           int64_t m, side *sd) {
    memset(sd, 0, sizeof *sd);
    for (int f = 0; f < DY_TUNE_FAMILIES; f++) sd->enabled += s->family[f];
    for (int64_t i = 0; i < m; i++)
        if (s->family[obs[idx[i]].cand.family]) sd->count[obs[idx[i]].cand.family]++;
    for (int f = 0; f < DY_TUNE_FAMILIES; f++) {
        sd->total += sd->count[f];
        sd->bw[f] = bandwidth(sd->count[f], dims_of((dy_tune_family)f));
        if (sd->count[f] && !(sd->x[f] = calloc((size_t)(sd->count[f] * TPE_MAX_DIMS), sizeof(double)))) {
            side_free(sd);
            return dy_fail(ctx, DY_ERR_NOMEM, "TPE: out of memory");
        }
    }
    int64_t filled[DY_TUNE_FAMILIES] = {0};
    for (int64_t i = 0; i < m; i++) {
        const dy_tune_candidate *c = &obs[idx[i]].cand;
        if (s->family[c->family]) encode(s, c, sd->x[c->family] + filled[c->family]++ * TPE_MAX_DIMS);
    }
    return DY_OK;
}

/* obs[a] before obs[b]: the higher score, NaN last, then the earlier observation */
static bool before(const dy_tune_observation *obs, int64_t a, int64_t b) {
    double sa = obs[a].score, sb = obs[b].score;
    bool na = isnan(sa), nb = isnan(sb);
    if (na != nb) return nb;
    if (!na && sa != sb) return sa > sb;
    return a < b;
}

dy_status dy_tune_tpe_propose(dy_ctx *ctx, const dy_tune_space *s, const dy_tune_tpe_options *opt,
                              const dy_tune_observation *obs, int64_t n_obs, const dy_tune_candidate *fallback,
                              int64_t first, int64_t n, dy_tune_candidate *out, bool *modelled) {
    dy_status st = dy_tune_space_check(ctx, s);
    if (st != DY_OK) return st;
    if (!(opt->gamma > 0 && opt->gamma < 1) || opt->proposals < 1 || opt->min_observations < 2 || n_obs < 0 ||
        n < 0 || first < 0)
        return dy_fail(ctx, DY_ERR_INVALID, "TPE: gamma %g (in (0, 1)), %lld proposals (>= 1), %lld observations "
                       "at least (>= 2)", opt->gamma, (long long)opt->proposals, (long long)opt->min_observations);
    int64_t scored = 0;
    for (int64_t i = 0; i < n_obs; i++) scored += !isnan(obs[i].score);
    if (modelled) *modelled = scored >= opt->min_observations;
    if (scored < opt->min_observations) {
        memcpy(out, fallback, sizeof *out * (size_t)n);
        return DY_OK;
    }
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)n_obs);
    if (!idx) return dy_fail(ctx, DY_ERR_NOMEM, "TPE: out of memory");
    for (int64_t i = 0; i < n_obs; i++) idx[i] = i;
    for (int64_t i = 1; i < n_obs; i++) /* insertion sort: a tune has tens of observations */
        for (int64_t j = i; j > 0 && before(obs, idx[j], idx[j - 1]); j--) {
            int64_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    int64_t n_good = (int64_t)ceil(opt->gamma * (double)scored);
    if (n_good < 1) n_good = 1;
    side good, bad;
    if ((st = side_make(ctx, s, obs, idx, n_good, &good)) != DY_OK) {
        free(idx);
        return st;
    }
    if ((st = side_make(ctx, s, obs, idx + n_good, n_obs - n_good, &bad)) != DY_OK) {
        side_free(&good);
        free(idx);
        return st;
    }
    typedef struct {
        dy_tune_candidate c;
        double ratio;
    } proposal;
    proposal *p = malloc(sizeof *p * (size_t)opt->proposals);
    if (!p) st = dy_fail(ctx, DY_ERR_NOMEM, "TPE: out of memory");
    for (int64_t c = 0; c < n && st == DY_OK; c++) {
        dy_rng r;
        dy_rng_init(&r, s->seed, DY_RNG_TUNE, (uint32_t)(first + c), 1);
        for (int64_t j = 0; j < opt->proposals; j++) {
            double x[TPE_MAX_DIMS] = {0}, y[TPE_MAX_DIMS] = {0};
            dy_tune_family f = draw_family(&good, s->family, &r);
            draw(&good, f, &r, x);
            p[j].c = decode(s, f, x);
            encode(s, &p[j].c, y); /* the ratio of the point as it will run (rounded) */
            p[j].ratio = log_density(&good, f, y) - log_density(&bad, f, y);
        }
        /* the best ratio that repeats nothing tried or proposed (ties: the earlier proposal) */
        int64_t pick = -1, any = 0;
        for (int64_t j = 0; j < opt->proposals; j++) {
            if (p[j].ratio > p[any].ratio) any = j;
            bool repeat = false;
            for (int64_t i = 0; i < n_obs && !repeat; i++) repeat = same_candidate(&p[j].c, &obs[i].cand);
            for (int64_t i = 0; i < c && !repeat; i++) repeat = same_candidate(&p[j].c, &out[i]);
            if (!repeat && (pick < 0 || p[j].ratio > p[pick].ratio)) pick = j;
        }
        out[c] = p[pick >= 0 ? pick : any].c;
    }
    free(p);
    side_free(&good);
    side_free(&bad);
    free(idx);
    return st;
}
