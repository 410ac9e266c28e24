/* Temperature profiles: constructors, validation, the double-precision reference tau(s) and the float kernel. */
#include "loss/temperature.h"

#include "core/context.h"
#include "loss/fastmath.h"

#include <math.h>

dy_tau_profile dy_tau_constant(float tau0) {
    return (dy_tau_profile){.kind = DY_TAU_CONSTANT, .tau_min = tau0, .tau_max = tau0, .offset = 0, .scale = 1};
}

dy_tau_profile dy_tau_cosine(float tau_min, float tau_max) {
    return (dy_tau_profile){.kind = DY_TAU_COSINE, .tau_min = tau_min, .tau_max = tau_max, .offset = 0, .scale = 1};
}

dy_tau_profile dy_tau_shifted(float tau_min, float tau_max, float offset, float scale) {
    return (dy_tau_profile){
        .kind = DY_TAU_SHIFTED, .tau_min = tau_min, .tau_max = tau_max, .offset = offset, .scale = scale};
}

dy_status dy_tau_check(dy_ctx *ctx, const dy_tau_profile *p) {
    if (!p) return dy_fail(ctx, DY_ERR_INVALID, "temperature profile is NULL");
    /* An unknown kind is an error, never a silent fall-back to a constant (a defect of the reference code). */
    if (p->kind != DY_TAU_CONSTANT && p->kind != DY_TAU_COSINE && p->kind != DY_TAU_SHIFTED)
        return dy_fail(ctx, DY_ERR_INVALID, "unknown temperature profile kind %d (expected constant 0, cosine 1 "
                                            "or shifted 2)", (int)p->kind);
    if (!isfinite(p->tau_min) || !isfinite(p->tau_max))
        return dy_fail(ctx, DY_ERR_INVALID, "temperature tau_min %g / tau_max %g is not finite", (double)p->tau_min,
                       (double)p->tau_max);
    if (p->tau_min <= 0)
        return dy_fail(ctx, DY_ERR_INVALID, "temperature tau_min %g must be > 0", (double)p->tau_min);
    /* Logits s / tau and gradients 1 / tau stay well inside float's range and precision. */
    if (p->tau_min < 1e-4f || p->tau_max > 1e4f)
        return dy_fail(ctx, DY_ERR_INVALID, "temperature %g outside the supported range [1e-4, 1e4]",
                       p->tau_min < 1e-4f ? (double)p->tau_min : (double)p->tau_max);
    if (p->tau_min > p->tau_max)
        return dy_fail(ctx, DY_ERR_INVALID, "temperature tau_min %g is above tau_max %g", (double)p->tau_min,
                       (double)p->tau_max);
    if (p->kind == DY_TAU_CONSTANT && p->tau_min != p->tau_max)
        return dy_fail(ctx, DY_ERR_INVALID, "constant temperature needs tau_min == tau_max (got %g and %g); "
                                            "use dy_tau_constant(tau0)", (double)p->tau_min, (double)p->tau_max);
    if (p->kind == DY_TAU_SHIFTED) {
        if (!isfinite(p->offset) || !isfinite(p->scale))
            return dy_fail(ctx, DY_ERR_INVALID, "shifted profile offset %g / scale %g is not finite",
                           (double)p->offset, (double)p->scale);
        if (p->scale <= 0)
            return dy_fail(ctx, DY_ERR_INVALID, "shifted profile scale k = %g must be > 0", (double)p->scale);
        /* cos(pi x) is reduced exactly only for |x| < 2^22: (|s| + |o|) / k must stay below that. */
        if ((1.0 + fabs((double)p->offset)) / (double)p->scale >= 4194304.0)
            return dy_fail(ctx, DY_ERR_INVALID, "shifted profile scale k = %g is too small for offset %g",
                           (double)p->scale, (double)p->offset);
    }
    return DY_OK;
}

double dy_tau_eval(const dy_tau_profile *p, double s) {
    const double pi = 3.14159265358979323846;
    double lo = p->tau_min, hi = p->tau_max;
    switch (p->kind) {
    case DY_TAU_CONSTANT: return hi;
    case DY_TAU_COSINE: return lo + 0.5 * (hi - lo) * (1.0 + cos(pi * (1.0 + s)));
    case DY_TAU_SHIFTED:
        if (s > -(double)p->offset) return hi;
        return lo + 0.5 * (hi - lo) * (1.0 + cos(pi * (s + p->offset) / p->scale));
    }
    return NAN;
}

dy_tau_coef dy_tau_coef_of(const dy_tau_profile *p) {
    return (dy_tau_coef){.kind = p->kind,
                         .tau_min = p->tau_min,
                         .tau_max = p->tau_max,
                         .half_range = 0.5f * (p->tau_max - p->tau_min),
                         .offset = p->offset,
                         .scale = p->scale};
}

static inline float tau_cosine(float s, float lo, float half) { return lo + half * (1.0f + dy_fast_cospi(1.0f + s)); }

static inline float tau_shifted(float s, float lo, float hi, float half, float o, float k) {
    float t = lo + half * (1.0f + dy_fast_cospi((s + o) / k));
    return s > -o ? hi : t;
}

float dy_tau_one(const dy_tau_coef *c, float s) {
    switch (c->kind) {
    case DY_TAU_CONSTANT: return c->tau_max;
    case DY_TAU_COSINE: return tau_cosine(s, c->tau_min, c->half_range);
    case DY_TAU_SHIFTED: return tau_shifted(s, c->tau_min, c->tau_max, c->half_range, c->offset, c->scale);
    }
    return NAN;
}

/* One loop per kind, so that each vectorises without a branch inside. */
void dy_tau_fill(const dy_tau_coef *c, const float *restrict s, float *restrict tau, int64_t n) {
    const float lo = c->tau_min, hi = c->tau_max, half = c->half_range, o = c->offset, k = c->scale;
    switch (c->kind) {
    case DY_TAU_CONSTANT:
        for (int64_t i = 0; i < n; i++) tau[i] = hi;
        break;
    case DY_TAU_COSINE:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) tau[i] = tau_cosine(s[i], lo, half);
        break;
    case DY_TAU_SHIFTED:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) tau[i] = tau_shifted(s[i], lo, hi, half, o, k);
        break;
    }
}
