/* Signal augmentation presets (audio, series, eval; include/dystress/signal_augment.h), overrides by name, and the
 * range checks. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "data/augment/signal_aug.h"

/* Every parameter at its default, every probability and mask count 0: nothing happens until a preset says so. */
static void defaults(dy_signal_augment *a) {
    memset(a, 0, sizeof *a);
    a->mix_weight[0] = 0.0f, a->mix_weight[1] = 0.2f;
    a->shift_max = 0.1f;
    a->permute_segments = 5;
    a->time_warp_sigma = 0.2f, a->time_warp_knots = 4;
    a->magnitude_warp_sigma = 0.2f, a->magnitude_warp_knots = 4;
    a->scaling_sigma = 0.1f;
    a->gain_db[0] = -6.0f, a->gain_db[1] = 6.0f;
    a->jitter_sigma = 0.03f;
    a->noise_snr_db[0] = 10.0f, a->noise_snr_db[1] = 30.0f;
    a->freq_width = 8, a->time_width = 10;
    a->time_mask_max = 1.0f;
    a->mask_mean = true;
}

dy_status dy_signal_augment_preset(dy_ctx *ctx, dy_signal_augment *out, const char *preset, const dy_signal_set *s) {
    if (!out || !preset) return dy_fail(ctx, DY_ERR_INVALID, "dy_signal_augment_preset: NULL argument");
    dy_signal_augment a;
    defaults(&a);
    const int64_t second = s && s->sample_rate >= 1 ? (int64_t)llround(s->sample_rate) : 16000;
    if (!strcmp(preset, "audio")) {
        a.crop_length = second;
        a.mix_p = 0.5f, a.shift_p = 0.5f, a.gain_p = 0.8f, a.noise_p = 0.5f;
        a.freq_masks = 2, a.time_masks = 2;
    } else if (!strcmp(preset, "series")) {
        a.permute_p = a.time_warp_p = a.magnitude_warp_p = a.scaling_p = a.jitter_p = 0.5f;
    } else if (!strcmp(preset, "eval")) {
        if (!s || s->kind == DY_SIGNAL_AUDIO) a.crop_length = second, a.crop_center = true;
    } else {
        return dy_fail(ctx, DY_ERR_INVALID, "unknown signal augmentation preset \"%s\" (audio, series, eval)", preset);
    }
    DY_TRY(dy_signal_augment_check(ctx, &a));
    *out = a;
    return DY_OK;
}

typedef enum { P_PROB, P_FLOAT, P_RANGE, P_INT, P_INT64, P_BOOL } param_kind;
#define P(field, kind) {#field, offsetof(dy_signal_augment, field), kind}
static const struct {
    const char *name;
    size_t offset;
    param_kind kind;
} params[] = {P(crop_length, P_INT64), P(crop_center, P_BOOL), P(mix_p, P_PROB), P(mix_weight, P_RANGE),
              P(shift_p, P_PROB), P(shift_max, P_FLOAT), P(permute_p, P_PROB), P(permute_segments, P_INT),
              P(time_warp_p, P_PROB), P(time_warp_sigma, P_FLOAT), P(time_warp_knots, P_INT),
              P(magnitude_warp_p, P_PROB), P(magnitude_warp_sigma, P_FLOAT), P(magnitude_warp_knots, P_INT),
              P(scaling_p, P_PROB), P(scaling_sigma, P_FLOAT), P(gain_p, P_PROB), P(gain_db, P_RANGE),
              P(jitter_p, P_PROB), P(jitter_sigma, P_FLOAT), P(noise_p, P_PROB), P(noise_snr_db, P_RANGE),
              P(freq_masks, P_INT), P(freq_width, P_INT), P(time_masks, P_INT), P(time_width, P_INT),
              P(time_mask_max, P_FLOAT), P(mask_mean, P_BOOL)};
#undef P

/* One or two finite numbers "x" or "x,y"; returns how many, or 0 when value is not that. */
static int parse_one_or_two(const char *value, double v[2]) {
    char *end;
    v[0] = strtod(value, &end);
    if (end == value || !isfinite(v[0])) return 0;
    while (*end == ' ') end++;
    if (*end == '\0') return 1;
    if (*end != ',') return 0;
    const char *second = end + 1;
    v[1] = strtod(second, &end);
    while (*end == ' ') end++;
    return end != second && *end == '\0' && isfinite(v[1]) ? 2 : 0;
}

dy_status dy_signal_augment_set(dy_ctx *ctx, dy_signal_augment *a, const char *name, const char *value) {
    if (!a || !name || !value) return dy_fail(ctx, DY_ERR_INVALID, "dy_signal_augment_set: NULL argument");
    int k = -1;
    for (int i = 0; i < (int)(sizeof params / sizeof params[0]); i++)
        if (!strcmp(name, params[i].name)) k = i;
    if (k < 0)
        return dy_fail(ctx, DY_ERR_INVALID, "unknown signal augmentation parameter \"%s\" (the fields of "
                       "dy_signal_augment: crop_length, crop_center, mix_p, mix_weight, shift_p, ... mask_mean)", name);
    double v[2];
    int n = parse_one_or_two(value, v);
    const param_kind kind = params[k].kind;
    if (n == 0 || (n == 2 && kind != P_RANGE))
        return dy_fail(ctx, DY_ERR_INVALID, "signal augment %s: cannot read \"%s\" as %s", name, value,
                       kind == P_RANGE ? "one or two numbers" : "one number");
    if ((kind == P_INT || kind == P_INT64 || kind == P_BOOL) && (v[0] != floor(v[0]) || fabs(v[0]) > 4e9))
        return dy_fail(ctx, DY_ERR_INVALID, "signal augment %s takes an integer, got \"%s\"", name, value);
    if (kind == P_BOOL && v[0] != 0 && v[0] != 1)
        return dy_fail(ctx, DY_ERR_INVALID, "signal augment %s takes 0 or 1, got \"%s\"", name, value);
    if (kind == P_INT && fabs(v[0]) > 1e9)
        return dy_fail(ctx, DY_ERR_INVALID, "signal augment %s: %s is out of range", name, value);
    dy_signal_augment t = *a;
    char *field = (char *)&t + params[k].offset;
    switch (kind) {
    case P_PROB:
    case P_FLOAT: *(float *)field = (float)v[0]; break;
    case P_RANGE:
        ((float *)field)[0] = (float)v[0];
        ((float *)field)[1] = (float)v[n - 1];
        break;
    case P_INT: *(int *)field = (int)v[0]; break;
    case P_INT64: *(int64_t *)field = (int64_t)v[0]; break;
    case P_BOOL: *(bool *)field = v[0] != 0; break;
    }
    DY_TRY(dy_signal_augment_check(ctx, &t));
    *a = t;
    return DY_OK;
}

static bool in(double x, double lo, double hi) { return x >= lo && x <= hi; }

/* The probabilities, by the table. */
static dy_status check_probabilities(dy_ctx *ctx, const dy_signal_augment *a) {
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        if (params[i].kind != P_PROB) continue;
        float p = *(const float *)((const char *)a + params[i].offset);
        if (!in(p, 0, 1))
            return dy_fail(ctx, DY_ERR_INVALID, "signal augment %s = %g not in [0, 1]", params[i].name, p);
    }
    return DY_OK;
}

dy_status dy_signal_augment_check(dy_ctx *ctx, const dy_signal_augment *a) {
    if (!a) return dy_fail(ctx, DY_ERR_INVALID, "signal augment: NULL");
    DY_TRY(check_probabilities(ctx, a));
    if (!in((double)a->crop_length, 0, (double)(INT64_C(1) << 31)))
        return dy_fail(ctx, DY_ERR_INVALID, "signal augment crop_length %lld not in 0 .. 2^31",
                       (long long)a->crop_length);
    if (!(in(a->mix_weight[0], 0, 1) && in(a->mix_weight[1], a->mix_weight[0], 1)))
        return dy_fail(ctx, DY_ERR_INVALID, "signal augment mix_weight (%g, %g): need 0 <= lo <= hi <= 1",
                       a->mix_weight[0], a->mix_weight[1]);
    if (!in(a->shift_max, 0, 1) || !in(a->time_mask_max, 0, 1))
        return dy_fail(ctx, DY_ERR_INVALID, "signal augment shift_max %g and time_mask_max %g must be in [0, 1]",
                       a->shift_max, a->time_mask_max);
    if (!in(a->time_warp_sigma, 0, 10) || !in(a->magnitude_warp_sigma, 0, 10) || !in(a->scaling_sigma, 0, 10) ||
        !in(a->jitter_sigma, 0, 1e6))
        return dy_fail(ctx, DY_ERR_INVALID, "signal augment: a sigma (time_warp %g, magnitude_warp %g, scaling %g: "
                       "0 .. 10; jitter %g: 0 .. 1e6) is out of range", a->time_warp_sigma, a->magnitude_warp_sigma,
                       a->scaling_sigma, a->jitter_sigma);
    if (!in(a->time_warp_knots, 1, DY_SIGNAL_MAX_KNOTS) || !in(a->magnitude_warp_knots, 1, DY_SIGNAL_MAX_KNOTS) ||
        !in(a->permute_segments, 1, DY_SIGNAL_MAX_SEGMENTS))
        return dy_fail(ctx, DY_ERR_INVALID, "signal augment time_warp_knots %d, magnitude_warp_knots %d and "
                       "permute_segments %d must be in 1 .. 32", a->time_warp_knots, a->magnitude_warp_knots,
                       a->permute_segments);
    if (!(in(a->gain_db[0], -100, 100) && in(a->gain_db[1], a->gain_db[0], 100)))
        return dy_fail(ctx, DY_ERR_INVALID, "signal augment gain_db (%g, %g): need -100 <= lo <= hi <= 100",
                       a->gain_db[0], a->gain_db[1]);
    if (!(in(a->noise_snr_db[0], -100, 200) && in(a->noise_snr_db[1], a->noise_snr_db[0], 200)))
        return dy_fail(ctx, DY_ERR_INVALID, "signal augment noise_snr_db (%g, %g): need -100 <= lo <= hi <= 200",
                       a->noise_snr_db[0], a->noise_snr_db[1]);
    if (!in(a->freq_masks, 0, 16) || !in(a->time_masks, 0, 16) || !in(a->freq_width, 0, 1 << 20) ||
        !in(a->time_width, 0, 1 << 20))
        return dy_fail(ctx, DY_ERR_INVALID, "signal augment masks (%d of width %d in frequency, %d of width %d in "
                       "time): need 0 .. 16 masks, widths 0 .. 2^20", a->freq_masks, a->freq_width, a->time_masks,
                       a->time_width);
    return DY_OK;
}
