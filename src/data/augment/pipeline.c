/* One augmented view: the random parameters drawn from the view's own Philox stream, in a fixed order
 * (crop, flip, jitter gate [+ order and factors], grayscale, blur gate [+ sigma], solarize gate), then the
 * deterministic cores. Each gate draws one uniform u and fires when u < p, as torchvision's `torch.rand(1) < p`. */
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "data/augment/augment.h"

void dy_augment_draw(const dy_augment *a, dy_rng *r, int view, int height, int width, dy_view_params *p) {
    memset(p, 0, sizeof *p);
    if (a->crop) p->box = dy_resized_crop_params(r, height, width, a->scale, a->ratio);
    p->flip = dy_rng_uniform(r) < a->flip_p;
    p->jitter = dy_rng_uniform(r) < a->jitter_p;
    if (p->jitter) dy_color_jitter_params(r, a, &p->jp);
    p->grayscale = dy_rng_uniform(r) < a->grayscale_p;
    p->blur = dy_rng_uniform(r) < a->blur_p[view & 1];
    if (p->blur) p->sigma = (float)dy_rng_range(r, a->blur_sigma[0], a->blur_sigma[1]);
    p->solarize = dy_rng_uniform(r) < a->solarize_p[view & 1];
}

void dy_augment_apply_params(const dy_augment *a, const dy_view_params *p, const uint8_t *src, int channels,
                             int height, int width, float *dst, float *scratch) {
    const int oh = a->size[0], ow = a->size[1];
    const int64_t hw = (int64_t)oh * ow;
    if (a->crop) dy_crop_resize_bilinear(src, channels, height, width, p->box, dst, oh, ow);
    else dy_resize_center_crop(src, channels, height, width, dst, oh, ow);
    if (p->flip) dy_hflip(dst, channels, oh, ow);
    if (p->jitter) dy_color_jitter_apply(dst, channels, hw, a, &p->jp);
    if (p->grayscale) dy_rgb_to_grayscale(dst, channels, hw);
    if (p->blur) {
        int k = a->blur_kernel > 0 ? a->blur_kernel : dy_blur_auto_kernel(oh < ow ? oh : ow);
        dy_gaussian_blur(dst, channels, oh, ow, k, p->sigma, scratch);
    }
    if (p->solarize) dy_solarize(dst, channels * hw, a->solarize_threshold);
    if (a->normalize) dy_normalize(dst, channels, hw, a->mean, a->std);
}

void dy_augment_apply(const dy_augment *a, const uint8_t *src, int channels, int height, int width, float *dst,
                      dy_rng *r, int view, float *scratch) {
    dy_view_params p;
    dy_augment_draw(a, r, view, height, width, &p);
    dy_augment_apply_params(a, &p, src, channels, height, width, dst, scratch);
}

dy_status dy_augment_view(dy_ctx *ctx, const dy_augment *a, const uint8_t *src, int channels, int height, int width,
                          float *dst, uint64_t seed, int64_t epoch, int64_t sample, int view) {
    if (!a || !src || !dst) return dy_fail(ctx, DY_ERR_INVALID, "dy_augment_view: NULL argument");
    dy_status st = dy_augment_check(ctx, a);
    if (st != DY_OK) return st;
    if ((channels != 1 && channels != 3) || height <= 0 || width <= 0)
        return dy_fail(ctx, DY_ERR_INVALID, "dy_augment_view: image %dx%dx%d (expected 1 or 3 channels)", channels,
                       height, width);
    if (view < 0 || view >= 8 || sample < 0 || sample >= (INT64_C(1) << 29) || epoch < 0 || epoch > UINT32_MAX)
        return dy_fail(ctx, DY_ERR_INVALID, "dy_augment_view: view %d / sample %lld / epoch %lld out of range", view,
                       (long long)sample, (long long)epoch);
    float *scratch = malloc(sizeof(float) * (size_t)a->size[0] * a->size[1]);
    if (!scratch) return dy_fail(ctx, DY_ERR_NOMEM, "dy_augment_view: out of memory");
    dy_rng r;
    dy_rng_init(&r, seed, DY_RNG_AUGMENT, (uint32_t)epoch, (uint32_t)(sample * 8 + view));
    dy_augment_apply(a, src, channels, height, width, dst, &r, view, scratch);
    free(scratch);
    return DY_OK;
}
