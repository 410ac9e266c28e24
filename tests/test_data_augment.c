/* Augmentations: each deterministic core against torchvision 0.14 tensor-path fixtures (tools/fixtures_augment.py)
 * within 2/255 per pixel; the random parameters within their ranges and at their rates over many draws; presets
 * and overrides by name.
 * Documented difference: none for these cores — the crop-resize follows interpolate(antialias=False), which is also
 * torchvision 0.14's default for tensors; PIL-based pipelines antialias when downscaling, we do not. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment/augment.h"
#include "data/dataset.h"
#include "fixture.h"
#include "testlib.h"

#define TOL (2.0 / 255.0)

/* Max absolute difference, one check. */
static bool close_abs(const char *what, const float *got, const float *want, int64_t n, double tol) {
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= worst)) worst = d, at = i;
    }
    return CHECK(worst <= tol, "%s: max |diff| %.3g (tol %.3g) at %lld: got %.6f want %.6f", what, worst, tol,
                 (long long)at, got[at], want[at]);
}

static const fx_tensor *need(const fx_file *f, const char *name) {
    const fx_tensor *t = fx_get(f, name);
    CHECK(t != NULL, "fixture tensor %s present", name);
    return t;
}

enum { C = 3, H = 16, W = 18, HW = H * W };
static uint8_t src_u8[C * HW], grey_u8[HW];
static float src_f[C * HW], grey_f[HW];

static void load_input(const fx_file *f, const char *name, uint8_t *u8, float *fl, int64_t n) {
    const fx_tensor *t = need(f, name);
    if (!t || t->numel != n) return;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = t->dtype == 1 ? ((const int64_t *)t->data)[i] : (int64_t)((const float *)t->data)[i];
        u8[i] = (uint8_t)v, fl[i] = (float)v / 255.0f;
    }
}

static void test_crop_fixtures(void) {
    fx_file *f = fx_load(test_fixture_path("augment_crop.bin"));
    if (!CHECK(f != NULL, "augment_crop.bin loads")) return;
    load_input(f, "input", src_u8, src_f, C * HW);
    const char *cases[3] = {"crop_up", "crop_down", "crop_full"};
    for (int k = 0; k < 3; k++) {
        char boxname[32];
        snprintf(boxname, sizeof boxname, "%s_box", cases[k]);
        const fx_tensor *b = need(f, boxname), *want = need(f, cases[k]);
        if (!b || !want) continue;
        const int64_t *bv = b->data;
        dy_crop_box box = {(int)bv[0], (int)bv[1], (int)bv[2], (int)bv[3]};
        int oh = (int)want->dims[1], ow = (int)want->dims[2];
        float *out = malloc(sizeof(float) * C * oh * ow);
        dy_crop_resize_bilinear(src_u8, C, H, W, box, out, oh, ow);
        close_abs(cases[k], out, want->data, want->numel, TOL);
        free(out);
    }
    const char *evals[2] = {"eval_12", "eval_24"};
    for (int k = 0; k < 2; k++) {
        const fx_tensor *want = need(f, evals[k]);
        if (!want) continue;
        int s = (int)want->dims[1];
        float *out = malloc(sizeof(float) * C * s * s);
        dy_resize_center_crop(src_u8, C, H, W, out, s, s);
        close_abs(evals[k], out, want->data, want->numel, TOL);
        free(out);
    }
    float img[C * HW];
    memcpy(img, src_f, sizeof img);
    dy_hflip(img, C, H, W);
    const fx_tensor *want = need(f, "hflip");
    if (want) close_abs("hflip", img, want->data, want->numel, 0);
    fx_free(f);
}

typedef void (*adjust_fn)(float *, int, int64_t, float);

static void check_adjust(const fx_file *f, const char *name, adjust_fn fn, float factor, int grey) {
    float img[C * HW];
    memcpy(img, grey ? grey_f : src_f, sizeof(float) * (grey ? HW : C * HW));
    fn(img, grey ? 1 : C, HW, factor);
    const fx_tensor *want = need(f, name);
    if (want) close_abs(name, img, want->data, want->numel, TOL);
}

static void test_color_fixtures(void) {
    fx_file *f = fx_load(test_fixture_path("augment_color.bin"));
    if (!CHECK(f != NULL, "augment_color.bin loads")) return;
    load_input(f, "input", src_u8, src_f, C * HW);
    load_input(f, "input_grey", grey_u8, grey_f, HW);
    check_adjust(f, "brightness_1.3", dy_adjust_brightness, 1.3f, 0);
    check_adjust(f, "brightness_0.7", dy_adjust_brightness, 0.7f, 0);
    check_adjust(f, "contrast_0.6", dy_adjust_contrast, 0.6f, 0);
    check_adjust(f, "contrast_1.4", dy_adjust_contrast, 1.4f, 0);
    check_adjust(f, "saturation_1.4", dy_adjust_saturation, 1.4f, 0);
    check_adjust(f, "saturation_0.3", dy_adjust_saturation, 0.3f, 0);
    check_adjust(f, "hue_0.07", dy_adjust_hue, 0.07f, 0);
    check_adjust(f, "hue_-0.23", dy_adjust_hue, -0.23f, 0);
    check_adjust(f, "hue_0.5", dy_adjust_hue, 0.5f, 0);
    check_adjust(f, "grey_brightness_1.3", dy_adjust_brightness, 1.3f, 1);
    check_adjust(f, "grey_contrast_0.6", dy_adjust_contrast, 0.6f, 1);
    float img[C * HW];
    memcpy(img, src_f, sizeof img);
    dy_rgb_to_grayscale(img, C, HW);
    const fx_tensor *want = need(f, "grayscale");
    if (want) close_abs("grayscale", img, want->data, want->numel, TOL);
    memcpy(img, src_f, sizeof img);
    dy_solarize(img, C * HW, 0.5f);
    if ((want = need(f, "solarize_0.5"))) close_abs("solarize_0.5", img, want->data, want->numel, TOL);
    const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std[3] = {0.2023f, 0.1994f, 0.2010f};
    memcpy(img, src_f, sizeof img);
    dy_normalize(img, C, HW, mean, std);
    if ((want = need(f, "normalize"))) close_abs("normalize", img, want->data, want->numel, TOL / 0.1994);
    /* ColorJitter's parts in the order saturation, brightness, hue, contrast with fixed factors */
    dy_augment a;
    memset(&a, 0, sizeof a);
    a.brightness = a.contrast = a.saturation = 0.4f;
    a.hue = 0.1f;
    dy_jitter_params jp = {{2, 0, 3, 1}, 0.8f, 1.3f, 1.25f, -0.05f};
    memcpy(img, src_f, sizeof img);
    dy_color_jitter_apply(img, C, HW, &a, &jp);
    if ((want = need(f, "jitter_order_2031"))) close_abs("jitter in order 2,0,3,1", img, want->data, want->numel, TOL);
    /* the single-channel identities of torchvision: saturation, hue, grayscale */
    float g[HW];
    memcpy(g, grey_f, sizeof g);
    dy_adjust_saturation(g, 1, HW, 1.7f);
    dy_adjust_hue(g, 1, HW, 0.3f);
    dy_rgb_to_grayscale(g, 1, HW);
    CHECK(memcmp(g, grey_f, sizeof g) == 0, "saturation, hue, grayscale leave one channel unchanged");
    fx_free(f);
}

static void test_blur_fixtures(void) {
    fx_file *f = fx_load(test_fixture_path("augment_blur.bin"));
    if (!CHECK(f != NULL, "augment_blur.bin loads")) return;
    load_input(f, "input", src_u8, src_f, C * HW);
    struct { const char *name; int k; float sigma; } cases[3] = {
        {"blur_5_1.3", 5, 1.3f}, {"blur_7_0.6", 7, 0.6f}, {"blur_3_2.0", 3, 2.0f}};
    for (int k = 0; k < 3; k++) {
        float img[C * HW], scratch[HW];
        memcpy(img, src_f, sizeof img);
        dy_gaussian_blur(img, C, H, W, cases[k].k, cases[k].sigma, scratch);
        const fx_tensor *want = need(f, cases[k].name);
        if (want) close_abs(cases[k].name, img, want->data, want->numel, TOL);
    }
    CHECK(dy_blur_auto_kernel(224) == 23 && dy_blur_auto_kernel(32) == 3 && dy_blur_auto_kernel(96) == 9,
          "blur kernel ~10%% of the side, odd: %d %d %d", dy_blur_auto_kernel(224), dy_blur_auto_kernel(32),
          dy_blur_auto_kernel(96));
    fx_free(f);
}

static void test_crop_params(void) {
    const float scale[2] = {0.08f, 1.0f}, ratio[2] = {3.0f / 4, 4.0f / 3};
    const int n = test_quick() ? 5000 : 40000, Hs = 32, Ws = 40;
    int inside = 1, area_ok = 1, ratio_ok = 1, top0 = 0, topmax = 0;
    double mean_area = 0;
    for (int i = 0; i < n; i++) {
        dy_rng r;
        dy_rng_init(&r, 5, DY_RNG_AUGMENT, 0, (uint32_t)i);
        dy_crop_box b = dy_resized_crop_params(&r, Hs, Ws, scale, ratio);
        inside &= b.top >= 0 && b.left >= 0 && b.height >= 1 && b.width >= 1 && b.top + b.height <= Hs &&
                  b.left + b.width <= Ws;
        /* rounding moves each side by at most 1/2 */
        area_ok &=
            (b.width + 0.5) * (b.height + 0.5) >= 0.08 * Hs * Ws && (b.width - 0.5) * (b.height - 0.5) <= Hs * Ws;
        ratio_ok &=
            (b.width + 0.5) / (b.height - 0.5) >= 0.75 - 1e-9 && (b.width - 0.5) / (b.height + 0.5) <= 4.0 / 3 + 1e-9;
        top0 += b.top == 0;
        topmax += b.top == Hs - b.height && b.height < Hs;
        mean_area += (double)b.width * b.height / (Hs * Ws);
    }
    mean_area /= n;
    CHECK(inside, "crop boxes inside the image");
    CHECK(area_ok, "crop areas within scale (0.08, 1) up to rounding");
    CHECK(ratio_ok, "crop aspect within (3/4, 4/3) up to rounding");
    CHECK(top0 > 0 && topmax > 0, "crop positions reach both edges (%d, %d)", top0, topmax);
    /* The accepted area is U(0.08, 1) truncated by the fit test: its mean lies below 0.54 but well above 0.3. */
    CHECK(mean_area > 0.3 && mean_area < 0.54, "mean crop area %.3f", mean_area);
    /* Fallback: a 4x100 strip cannot hold any sampled box with scale >= 0.9: centre crop, aspect clamped to 4/3 */
    const float big[2] = {0.9f, 1.0f};
    dy_rng r;
    dy_rng_init(&r, 1, DY_RNG_AUGMENT, 0, 0);
    dy_crop_box b = dy_resized_crop_params(&r, 4, 100, big, ratio);
    CHECK(b.height == 4 && b.width == 5 && b.top == 0 && b.left == 47, "fallback centre crop %d,%d %dx%d", b.top,
          b.left, b.height, b.width);
    dy_rng_init(&r, 1, DY_RNG_AUGMENT, 0, 0);
    b = dy_resized_crop_params(&r, 100, 4, big, ratio);
    CHECK(b.height == 5 && b.width == 4 && b.top == 47 && b.left == 0, "tall fallback %d,%d %dx%d", b.top, b.left,
          b.height, b.width);
}

static void test_rates(dy_ctx *ctx) {
    dy_augment a;
    dy_dataset *ds = dy_dataset_alloc(1, 3, 32, 32);
    ds->kind = DY_KIND_CIFAR10;
    CHECK(dy_augment_preset(ctx, &a, "imagenet", NULL) == DY_OK, "imagenet preset");
    const int n = test_quick() ? 20000 : 100000;
    int64_t flip = 0, jit = 0, gray = 0, blur[2] = {0}, sol[2] = {0}, perm_pos[4][4] = {{0}};
    double bmin = 9, bmax = -9, hmin = 9, hmax = -9, smin = 9, smax = -9, cmin = 9, cmax = -9;
    double sat_min = 9, sat_max = -9;
    double bsum = 0, hsum = 0;
    int perm_ok = 1;
    for (int i = 0; i < n; i++) {
        for (int v = 0; v < 2; v++) {
            dy_rng r;
            dy_rng_init(&r, 11, DY_RNG_AUGMENT, 3, (uint32_t)(i * 8 + v));
            dy_view_params p;
            dy_augment_draw(&a, &r, v, 256, 256, &p);
            blur[v] += p.blur;
            sol[v] += p.solarize;
            if (p.blur) smin = fmin(smin, p.sigma), smax = fmax(smax, p.sigma);
            if (v) continue;
            flip += p.flip, jit += p.jitter, gray += p.grayscale;
            if (p.jitter) {
                bmin = fmin(bmin, p.jp.brightness), bmax = fmax(bmax, p.jp.brightness), bsum += p.jp.brightness;
                cmin = fmin(cmin, p.jp.contrast), cmax = fmax(cmax, p.jp.contrast);
                sat_min = fmin(sat_min, p.jp.saturation), sat_max = fmax(sat_max, p.jp.saturation);
                hmin = fmin(hmin, p.jp.hue), hmax = fmax(hmax, p.jp.hue), hsum += p.jp.hue;
                int seen = 0;
                for (int k = 0; k < 4; k++) seen |= 1 << p.jp.order[k], perm_pos[k][p.jp.order[k]]++;
                perm_ok &= seen == 15;
            }
        }
    }
    /* rates within 5 standard deviations */
#define RATE(count, p, what)                                                                                          \
    CHECK(fabs((double)(count) / n - (p)) <= 5 * sqrt((p) * (1 - (p)) / n) + 1e-12, "%s rate %.4f (p %.2f)", what,  \
          (double)(count) / n, (double)(p))
    RATE(flip, 0.5, "flip");
    RATE(jit, 0.8, "jitter");
    RATE(gray, 0.2, "grayscale");
    RATE(blur[0], 1.0, "blur view 0");
    RATE(blur[1], 0.1, "blur view 1");
    RATE(sol[0], 0.0, "solarize view 0");
    RATE(sol[1], 0.2, "solarize view 1");
    CHECK(bmin >= 0.6 && bmax <= 1.4 && bmin < 0.61 && bmax > 1.39, "brightness in [0.6, 1.4]: %.4f..%.4f", bmin, bmax);
    CHECK(cmin >= 0.6 && cmax <= 1.4 && sat_min >= 0.6 && sat_max <= 1.4, "contrast, saturation in [0.6, 1.4]");
    CHECK(hmin >= -0.1 && hmax <= 0.1 && hmin < -0.099 && hmax > 0.099, "hue in [-0.1, 0.1]: %.4f..%.4f", hmin, hmax);
    CHECK(fabs(bsum / jit - 1.0) < 0.01 && fabs(hsum / jit) < 0.002, "factor means %.4f %.4f", bsum / jit, hsum / jit);
    CHECK(smin >= 0.1 && smax <= 2.0 && smin < 0.11 && smax > 1.99, "blur sigma in [0.1, 2]: %.3f..%.3f", smin, smax);
    int uniform = perm_ok;
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 4; j++) uniform &= fabs((double)perm_pos[k][j] / jit - 0.25) < 0.01;
    CHECK(uniform, "jitter order: a permutation, each part equally likely at each position");
    /* A zero parameter is not applied (torchvision's None) */
    dy_augment z = a;
    z.hue = 0;
    z.saturation = 0;
    dy_rng r;
    dy_rng_init(&r, 1, DY_RNG_AUGMENT, 0, 0);
    dy_jitter_params jp;
    dy_color_jitter_params(&r, &z, &jp);
    CHECK(jp.hue == 0 && jp.saturation == 1, "zero hue/saturation not drawn");
    dy_dataset_free(ds);
}

static void test_presets(dy_ctx *ctx) {
    dy_dataset *cifar = dy_dataset_alloc(4, 3, 32, 32);
    cifar->kind = DY_KIND_CIFAR10;
    memset(cifar->pixels, 7, 4 * 3072);
    dy_augment a;
    CHECK(dy_augment_preset(ctx, &a, "small", cifar) == DY_OK, "small preset");
    CHECK(a.crop && a.size[0] == 32 && a.size[1] == 32 && a.scale[0] == 0.08f && a.scale[1] == 1.0f &&
              fabsf(a.ratio[0] - 0.75f) < 1e-7f && a.flip_p == 0.5f && a.jitter_p == 0.8f && a.brightness == 0.4f &&
              a.contrast == 0.4f && a.saturation == 0.4f && a.hue == 0.1f && a.grayscale_p == 0.2f &&
              a.blur_p[0] == 0 && a.blur_p[1] == 0 && a.solarize_p[1] == 0,
          "small preset = the paper's recipe");
    CHECK(a.mean[0] == 0.4914f && a.std[2] == 0.2010f, "CIFAR mean/std from docs/METHOD.md");
    CHECK(dy_augment_set(ctx, &a, "brightness", "0.8") == DY_OK && a.brightness == 0.8f, "set brightness");
    CHECK(dy_augment_set(ctx, &a, "scale", "0.2,0.9") == DY_OK && a.scale[0] == 0.2f && a.scale[1] == 0.9f,
          "set scale");
    CHECK(dy_augment_set(ctx, &a, "blur_p", "0.5") == DY_OK && a.blur_p[0] == 0.5f && a.blur_p[1] == 0.5f,
          "set blur_p for both views");
    CHECK(dy_augment_set(ctx, &a, "solarize_p", "0,0.2") == DY_OK && a.solarize_p[1] == 0.2f, "per-view solarize_p");
    CHECK(dy_augment_set(ctx, &a, "size", "24") == DY_OK && a.size[0] == 24 && a.size[1] == 24, "set size");
    CHECK(dy_augment_set(ctx, &a, "mean", "0.5") == DY_OK && a.mean[2] == 0.5f, "set mean");
    CHECK(dy_augment_set(ctx, &a, "flip_p", "1.5") == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "probability"),
          "probability range: %s", dy_ctx_error(ctx));
    CHECK(dy_augment_set(ctx, &a, "hue", "0.7") == DY_ERR_INVALID && a.hue == 0.1f, "hue > 0.5 refused, unchanged");
    CHECK(dy_augment_set(ctx, &a, "blur_kernel", "4") == DY_ERR_INVALID, "even kernel refused");
    CHECK(dy_augment_set(ctx, &a, "colour", "1") == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "colour"),
          "unknown name: %s", dy_ctx_error(ctx));
    CHECK(dy_augment_set(ctx, &a, "contrast", "x") == DY_ERR_INVALID, "unparsable value");
    CHECK(dy_augment_preset(ctx, &a, "fancy", cifar) == DY_ERR_INVALID, "unknown preset");
    CHECK(dy_augment_preset(ctx, &a, "eval", cifar) == DY_OK && !a.crop && a.flip_p == 0 && a.jitter_p == 0,
          "eval preset has nothing random");
    CHECK(dy_augment_preset(ctx, &a, "imagenet", NULL) == DY_OK && a.size[0] == 224 && a.blur_kernel == 23 &&
              a.blur_p[0] == 1.0f && a.blur_p[1] == 0.1f && a.solarize_p[1] == 0.2f && a.mean[0] == 0.485f,
          "imagenet preset (BYOL blur/solarisation)");
    /* grey data set: its own statistics */
    dy_dataset *grey = dy_dataset_alloc(2, 1, 4, 4);
    for (int i = 0; i < 32; i++) grey->pixels[i] = (uint8_t)(i < 16 ? 0 : 255);
    CHECK(dy_augment_preset(ctx, &a, "small", grey) == DY_OK && fabsf(a.mean[0] - 0.5f) < 1e-6f &&
              fabsf(a.std[0] - 0.5f) < 1e-6f,
          "grey data set normalised by its own mean/std (%g, %g)", a.mean[0], a.std[0]);
    /* the public one-view call is deterministic per (seed, epoch, sample, view) */
    float v1[3 * 32 * 32], v2[3 * 32 * 32], v3[3 * 32 * 32];
    for (int i = 0; i < 3072; i++) cifar->pixels[i] = (uint8_t)(i * 13);
    dy_augment_preset(ctx, &a, "small", cifar);
    dy_augment_view(ctx, &a, cifar->pixels, 3, 32, 32, v1, 9, 2, 0, 1);
    dy_augment_view(ctx, &a, cifar->pixels, 3, 32, 32, v2, 9, 2, 0, 1);
    dy_augment_view(ctx, &a, cifar->pixels, 3, 32, 32, v3, 9, 2, 0, 0);
    CHECK(memcmp(v1, v2, sizeof v1) == 0 && memcmp(v1, v3, sizeof v1) != 0, "views: same key same view, other differ");
    dy_dataset_free(cifar);
    dy_dataset_free(grey);
}

int main(void) {
    dy_ctx *ctx;
    dy_ctx_options o = {.threads = 1, .backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return 1;
    test_crop_fixtures();
    test_color_fixtures();
    test_blur_fixtures();
    test_crop_params();
    test_rates(ctx);
    test_presets(ctx);
    dy_ctx_destroy(ctx);
    return test_finish();
}
