/* The deterministic cores of the augmentations (fixed crop box, fixed factors), each following torchvision 0.14's
 * tensor path on float images in [0, 1], and the random pipeline that draws their parameters.
 * Images here are planar float [C, H, W] with C = 1 or 3; hw = H * W. */
#ifndef DY_DATA_AUGMENT_H
#define DY_DATA_AUGMENT_H

#include "core/rng.h"
#include "dystress/data.h"

typedef struct {
    int top, left, height, width;
} dy_crop_box;

/* RandomResizedCrop.get_params: ten tries of (area fraction ~ U(scale), log aspect ~ U(log ratio)), each accepted when
 * the rounded box fits, at a uniformly drawn position; else the centre crop with the aspect clamped to ratio. */
dy_crop_box dy_resized_crop_params(dy_rng *r, int height, int width, const float scale[2], const float ratio[2]);
/* Bilinear sampling (interpolate, align_corners=False, antialias=False) of the window [top, top + in_h) x
 * [left, left + in_w) of a uint8 image resized to (rh, rw), writing its pixels (y + oy, x + ox) for y < oh, x < ow
 * into dst float [C, oh, ow] scaled to [0, 1]: crop-then-resize and resize-then-crop in one. */
void dy_bilinear_window(const uint8_t *src, int channels, int height, int width, int top, int left, int in_h,
                        int in_w, int rh, int rw, int oy, int ox, float *dst, int oh, int ow);
/* Crop box then bilinear resize to [C, oh, ow] (F.interpolate, align_corners=False, antialias=False); uint8 source,
 * output scaled to [0, 1]. */
void dy_crop_resize_bilinear(const uint8_t *src, int channels, int height, int width, dy_crop_box box, float *dst,
                             int oh, int ow);
/* Resize(max(oh, ow)) on the shorter side (longer side int(size * long / short)), then CenterCrop(oh, ow) with
 * torchvision's rounding; bilinear, no antialias. */
void dy_resize_center_crop(const uint8_t *src, int channels, int height, int width, float *dst, int oh, int ow);

void dy_hflip(float *img, int channels, int height, int width);

/* ColorJitter parts: factors as torchvision's adjust_* (blend with black / grey mean / grey image; hue in HSV). */
void dy_adjust_brightness(float *img, int channels, int64_t hw, float factor);
void dy_adjust_contrast(float *img, int channels, int64_t hw, float factor);
void dy_adjust_saturation(float *img, int channels, int64_t hw, float factor);  /* identity on 1 channel */
void dy_adjust_hue(float *img, int channels, int64_t hw, float hue_factor);     /* identity on 1 channel */

typedef struct {
    int order[4];          /* 0 brightness, 1 contrast, 2 saturation, 3 hue: application order */
    float brightness, contrast, saturation, hue;
} dy_jitter_params;
/* randperm(4) then the four factors, each drawn only when its parameter is non-zero (as torchvision's None). */
void dy_color_jitter_params(dy_rng *r, const dy_augment *a, dy_jitter_params *p);
void dy_color_jitter_apply(float *img, int channels, int64_t hw, const dy_augment *a, const dy_jitter_params *p);

/* rgb_to_grayscale with 0.2989, 0.587, 0.114, written to all three channels (identity on 1 channel). */
void dy_rgb_to_grayscale(float *img, int channels, int64_t hw);

/* gaussian_blur: odd kernel, sigma, reflect padding; scratch holds height * width floats. */
void dy_gaussian_blur(float *img, int channels, int height, int width, int kernel, float sigma, float *scratch);
/* The automatic kernel: int(0.1 * side) made odd (SimCLR's rule: 224 -> 23, 32 -> 3). */
int dy_blur_auto_kernel(int side);

void dy_solarize(float *img, int64_t n, float threshold);
void dy_normalize(float *img, int channels, int64_t hw, const float *mean, const float *std);

/* Everything random about one view. */
typedef struct {
    dy_crop_box box;      /* when a->crop */
    bool flip, jitter, grayscale, blur, solarize;
    dy_jitter_params jp;  /* when jitter */
    float sigma;          /* when blur */
} dy_view_params;
/* Draws one view's parameters from r, for a source of height x width. */
void dy_augment_draw(const dy_augment *a, dy_rng *r, int view, int height, int width, dy_view_params *p);
/* Applies drawn parameters: src uint8 [C, height, width] -> dst float [C, size[0], size[1]]; scratch: size[0] *
 * size[1] floats. */
void dy_augment_apply_params(const dy_augment *a, const dy_view_params *p, const uint8_t *src, int channels,
                             int height, int width, float *dst, float *scratch);
/* Both: the whole pipeline for one view with stream r (see data.h for the order). */
void dy_augment_apply(const dy_augment *a, const uint8_t *src, int channels, int height, int width, float *dst,
                      dy_rng *r, int view, float *scratch);

#endif
