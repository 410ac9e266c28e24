/* Augmentation presets (the paper's small-image recipe, an ImageNet recipe, evaluation), overrides by name, and the
 * range checks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "data/augment/augment.h"

static const float CIFAR_MEAN[3] = {0.4914f, 0.4822f, 0.4465f}, CIFAR_STD[3] = {0.2023f, 0.1994f, 0.2010f};
static const float IMAGENET_MEAN[3] = {0.485f, 0.456f, 0.406f}, IMAGENET_STD[3] = {0.229f, 0.224f, 0.225f};

static void dataset_stats(const dy_dataset *ds, float *mean, float *std) {
    if (ds->kind == DY_KIND_CIFAR10 || ds->kind == DY_KIND_CIFAR100) {
        memcpy(mean, CIFAR_MEAN, sizeof CIFAR_MEAN);
        memcpy(std, CIFAR_STD, sizeof CIFAR_STD);
        return;
    }
    dy_dataset_mean_std(ds, mean, std);
    for (int c = 0; c < ds->channels; c++)
        if (!(std[c] > 1e-6f)) std[c] = 1; /* a constant channel: leave its scale alone */
    for (int c = ds->channels; c < 3; c++) mean[c] = mean[0], std[c] = std[0];
}

dy_status dy_augment_preset(dy_ctx *ctx, dy_augment *out, const char *preset, const dy_dataset *ds) {
    if (!out || !preset) return dy_fail(ctx, DY_ERR_INVALID, "dy_augment_preset: NULL argument");
    dy_augment a;
    memset(&a, 0, sizeof a);
    a.scale[0] = 0.08f, a.scale[1] = 1.0f;
    a.ratio[0] = 3.0f / 4.0f, a.ratio[1] = 4.0f / 3.0f;
    a.blur_sigma[0] = 0.1f, a.blur_sigma[1] = 2.0f;
    a.solarize_threshold = 0.5f;
    a.normalize = true;
    if (!strcmp(preset, "small") || !strcmp(preset, "eval")) {
        if (!ds) return dy_fail(ctx, DY_ERR_INVALID, "augment preset \"%s\" needs the data set", preset);
        a.size[0] = ds->height, a.size[1] = ds->width;
        dataset_stats(ds, a.mean, a.std);
        if (!strcmp(preset, "small")) {
            a.crop = true;
            a.flip_p = 0.5f;
            a.jitter_p = 0.8f;
            a.brightness = a.contrast = a.saturation = 0.4f;
            a.hue = 0.1f;
            a.grayscale_p = 0.2f;
        }
    } else if (!strcmp(preset, "imagenet")) {
        a.size[0] = a.size[1] = 224;
        a.crop = true;
        a.flip_p = 0.5f;
        a.jitter_p = 0.8f;
        a.brightness = a.contrast = a.saturation = 0.4f;
        a.hue = 0.1f;
        a.grayscale_p = 0.2f;
        a.blur_p[0] = 1.0f, a.blur_p[1] = 0.1f;
        a.blur_kernel = 23;
        a.solarize_p[0] = 0.0f, a.solarize_p[1] = 0.2f;
        memcpy(a.mean, IMAGENET_MEAN, sizeof a.mean);
        memcpy(a.std, IMAGENET_STD, sizeof a.std);
        if (ds && ds->channels == 1) dataset_stats(ds, a.mean, a.std);
    } else {
        return dy_fail(ctx, DY_ERR_INVALID, "unknown augmentation preset \"%s\" (small, imagenet, eval)", preset);
    }
    *out = a;
    return DY_OK;
}

/* Parses 1..max comma-separated numbers; returns how many, or -1 on a syntax error. */
static int parse_floats(const char *s, float *v, int max) {
    int n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || n == max || !isfinite(x)) return -1;
        v[n++] = (float)x;
        while (*end == ' ') end++;
        if (*end == '\0') return n;
        if (*end != ',') return -1;
        p = end + 1;
    }
}

dy_status dy_augment_set(dy_ctx *ctx, dy_augment *a, const char *name, const char *value) {
    if (!a || !name || !value) return dy_fail(ctx, DY_ERR_INVALID, "dy_augment_set: NULL argument");
    float v[3];
    int n = parse_floats(value, v, 3);
    if (n < 0) return dy_fail(ctx, DY_ERR_INVALID, "augment %s: cannot parse \"%s\" as 1 to 3 numbers", name, value);
    dy_augment t = *a;
#define ONE(field)                                                                                                    \
    if (!strcmp(name, #field)) {                                                                                      \
        if (n != 1) return dy_fail(ctx, DY_ERR_INVALID, "augment %s takes one number, got \"%s\"", name, value);   \
        t.field = v[0];                                                                                               \
    } else
#define PAIR(field, both)                                                                                             \
    if (!strcmp(name, #field)) {                                                                                      \
        if (n > 2 || (n == 1 && !(both)))                                                                             \
            return dy_fail(ctx, DY_ERR_INVALID, "augment %s takes %s, got \"%s\"", name,                             \
                           (both) ? "one or two numbers" : "two numbers", value);                                     \
        t.field[0] = v[0];                                                                                            \
        t.field[1] = n == 2 ? v[1] : v[0];                                                                            \
    } else
    if (!strcmp(name, "size")) {
        if (n > 2 || v[0] != floorf(v[0]) || v[n - 1] != floorf(v[n - 1]))
            return dy_fail(ctx, DY_ERR_INVALID, "augment size takes one or two integers, got \"%s\"", value);
        t.size[0] = (int)v[0];
        t.size[1] = (int)v[n - 1];
    } else if (!strcmp(name, "blur_kernel")) {
        if (n != 1 || v[0] != floorf(v[0]))
            return dy_fail(ctx, DY_ERR_INVALID, "augment blur_kernel takes one integer, got \"%s\"", value);
        t.blur_kernel = (int)v[0];
    } else if (!strcmp(name, "crop") || !strcmp(name, "normalize")) {
        if (n != 1 || (v[0] != 0 && v[0] != 1))
            return dy_fail(ctx, DY_ERR_INVALID, "augment %s takes 0 or 1, got \"%s\"", name, value);
        if (!strcmp(name, "crop")) t.crop = v[0] != 0;
        else t.normalize = v[0] != 0;
    } else if (!strcmp(name, "mean") || !strcmp(name, "std")) {
        float *dst = !strcmp(name, "mean") ? t.mean : t.std;
        if (n != 1 && n != 3)
            return dy_fail(ctx, DY_ERR_INVALID, "augment %s takes one or three numbers, got \"%s\"", name, value);
        for (int c = 0; c < 3; c++) dst[c] = v[n == 1 ? 0 : c];
    } else
        PAIR(scale, false) PAIR(ratio, false) PAIR(blur_sigma, false) PAIR(blur_p, true) PAIR(solarize_p, true)
        ONE(flip_p) ONE(jitter_p) ONE(brightness) ONE(contrast) ONE(saturation) ONE(hue) ONE(grayscale_p)
        ONE(solarize_threshold) {
        return dy_fail(ctx, DY_ERR_INVALID,
                       "unknown augmentation parameter \"%s\" (size, crop, scale, ratio, flip_p, jitter_p, brightness, "
                       "contrast, saturation, hue, grayscale_p, blur_p, blur_sigma, blur_kernel, solarize_p, "
                       "solarize_threshold, normalize, mean, std)",
                       name);
    }
#undef ONE
#undef PAIR
    dy_status st = dy_augment_check(ctx, &t);
    if (st != DY_OK) return st;
    *a = t;
    return DY_OK;
}

static bool prob(float p) { return p >= 0 && p <= 1; }

dy_status dy_augment_check(dy_ctx *ctx, const dy_augment *a) {
    if (!a) return dy_fail(ctx, DY_ERR_INVALID, "augment: NULL");
    if (a->size[0] < 1 || a->size[1] < 1 || a->size[0] > 8192 || a->size[1] > 8192)
        return dy_fail(ctx, DY_ERR_INVALID, "augment size %dx%d not in 1..8192", a->size[0], a->size[1]);
    if (a->crop && !(a->scale[0] > 0 && a->scale[0] <= a->scale[1] && a->scale[1] <= 1))
        return dy_fail(ctx, DY_ERR_INVALID, "augment scale (%g, %g): need 0 < lo <= hi <= 1", a->scale[0], a->scale[1]);
    if (a->crop && !(a->ratio[0] > 0 && a->ratio[0] <= a->ratio[1] && isfinite(a->ratio[1])))
        return dy_fail(ctx, DY_ERR_INVALID, "augment ratio (%g, %g): need 0 < lo <= hi", a->ratio[0], a->ratio[1]);
    if (!prob(a->flip_p) || !prob(a->jitter_p) || !prob(a->grayscale_p) || !prob(a->blur_p[0]) ||
        !prob(a->blur_p[1]) || !prob(a->solarize_p[0]) || !prob(a->solarize_p[1]))
        return dy_fail(ctx, DY_ERR_INVALID, "augment: a probability (flip_p, jitter_p, grayscale_p, blur_p, "
                                            "solarize_p) is outside [0, 1]");
    if (!(a->brightness >= 0) || !(a->contrast >= 0) || !(a->saturation >= 0) || !isfinite(a->brightness) ||
        !isfinite(a->contrast) || !isfinite(a->saturation))
        return dy_fail(ctx, DY_ERR_INVALID, "augment: brightness, contrast and saturation must be >= 0");
    if (!(a->hue >= 0 && a->hue <= 0.5f)) return dy_fail(ctx, DY_ERR_INVALID, "augment hue %g not in [0, 0.5]", a->hue);
    if ((a->blur_p[0] > 0 || a->blur_p[1] > 0) &&
        !(a->blur_sigma[0] > 0 && a->blur_sigma[0] <= a->blur_sigma[1] && isfinite(a->blur_sigma[1])))
        return dy_fail(ctx, DY_ERR_INVALID, "augment blur_sigma (%g, %g): need 0 < lo <= hi", a->blur_sigma[0],
                       a->blur_sigma[1]);
    if (a->blur_kernel < 0 || (a->blur_kernel > 0 && a->blur_kernel % 2 == 0) || a->blur_kernel > 255)
        return dy_fail(ctx, DY_ERR_INVALID, "augment blur_kernel %d: need an odd size up to 255 (0 = automatic)",
                       a->blur_kernel);
    if (!isfinite(a->solarize_threshold))
        return dy_fail(ctx, DY_ERR_INVALID, "augment solarize_threshold is not finite");
    if (a->normalize)
        for (int c = 0; c < 3; c++)
            if (!(a->std[c] > 0) || !isfinite(a->std[c]) || !isfinite(a->mean[c]))
                return dy_fail(ctx, DY_ERR_INVALID, "augment: std[%d] = %g must be > 0 (mean %g)", c, a->std[c],
                               a->mean[c]);
    return DY_OK;
}
