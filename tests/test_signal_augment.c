/* Signal augmentations (src/data/augment: waveform.c, specaugment.c, spline.c, series_aug.c, signal_pipeline.c,
 * signal_presets.c), each against its definition in include/dystress/signal_augment.h: exact formulas (crop, gain,
 * mix, shift, masks, permutation, warps with known curves), statistics on long signals (noise SNR, jitter), the
 * spline against numpy's not-a-knot reference (tests/fixtures/signal_spline.bin, tools/fixtures_series.py) and
 * against exactly reproduced cubics, and determinism (the same stream name gives the same bits on any thread). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "data/augment/signal_aug.h"
#include "fixture.h"
#include "testlib.h"

static float *ramp(int64_t n, float offset) {
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)i + offset;
    return x;
}

static void test_crop(void) {
    float src[2 * 5] = {0, 1, 2, 3, 4, 10, 11, 12, 13, 14}, dst[2 * 8];
    bool ok = true;
    for (int64_t start = -9; start <= 6; start++) { /* every placement, past both ends */
        for (int64_t out = 1; out <= 8; out++) {
            dy_signal_crop(dst, out, src, 2, 5, start);
            for (int c = 0; c < 2; c++)
                for (int64_t j = 0; j < out; j++) {
                    int64_t i = start + j;
                    float want = i >= 0 && i < 5 ? src[c * 5 + i] : 0.0f;
                    ok &= dst[c * out + j] == want;
                }
        }
    }
    CHECK(ok, "crop: y[c][j] = x[c][start + j], 0 outside, for every start and length");
    dy_rng r;
    dy_rng_init(&r, 1, DY_RNG_AUGMENT, 0, 0);
    int64_t lo = 1000, hi = -1000;
    for (int k = 0; k < 2000; k++) {
        int64_t s = dy_signal_crop_start(&r, 10, 7, false), p = dy_signal_crop_start(&r, 4, 7, false);
        lo = s < lo ? s : lo, hi = s > hi ? s : hi;
        ok &= s >= 0 && s <= 3 && p >= -3 && p <= 0;
    }
    CHECK(ok && lo == 0 && hi == 3, "random start covers exactly [0, T - L] (longer) and [T - L, 0] (shorter)");
    CHECK(dy_signal_crop_start(&r, 10, 7, true) == 1 && dy_signal_crop_start(&r, 4, 7, true) == -2 &&
              dy_signal_crop_start(&r, 7, 7, true) == 0,
          "centred start floor((T - L) / 2)");
}

static void test_gain_mix_shift(void) {
    float x[6] = {1, -2, 0.5f, 3, 0, -0.25f}, y[6];
    memcpy(y, x, sizeof x);
    dy_signal_gain(y, 6, 20.0);
    bool ok = true;
    for (int i = 0; i < 6; i++) ok &= fabsf(y[i] - 10 * x[i]) <= 1e-6f * fabsf(10 * x[i]);
    memcpy(y, x, sizeof x);
    dy_signal_gain(y, 6, -20.0 * log10(2.0));
    for (int i = 0; i < 6; i++) ok &= fabsf(y[i] - x[i] / 2) <= 1e-6f * fabsf(x[i]);
    CHECK(ok, "gain: +20 dB multiplies by 10, -6.02 dB halves (10^(g / 20))");
    float z[6] = {4, 4, 4, -4, -4, -4};
    memcpy(y, x, sizeof x);
    dy_signal_mix(y, z, 6, 0.15);
    ok = true;
    for (int i = 0; i < 6; i++) ok &= fabsf(y[i] - (0.85f * x[i] + 0.15f * z[i])) <= 1e-6f;
    CHECK(ok, "mix: (1 - w) x + w z");
    float *r = ramp(2 * 7, 0), scratch[7];
    const int64_t shifts[] = {0, 1, 3, -2, 7, 9, -15};
    ok = true;
    for (size_t k = 0; k < sizeof shifts / sizeof shifts[0]; k++) {
        float v[14];
        memcpy(v, r, sizeof v);
        dy_signal_shift(v, 2, 7, shifts[k], scratch);
        for (int c = 0; c < 2; c++)
            for (int64_t t = 0; t < 7; t++) ok &= v[c * 7 + t] == r[c * 7 + (((t - shifts[k]) % 7) + 7) % 7];
    }
    CHECK(ok, "shift: y[t] = x[(t - s) mod L] for positive, negative and wrapped s");
    free(r);
}

static void test_noise(void) {
    const int64_t n = 400000;
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(0.3 * sin(0.01 * (double)i) + 0.1 * sin(0.37 * (double)i));
    const double snrs[] = {0, 12.5, 30};
    dy_rng r;
    dy_rng_init(&r, 7, DY_RNG_AUGMENT, 1, 2);
    for (size_t k = 0; k < 3; k++) {
        memcpy(y, x, sizeof(float) * (size_t)n);
        dy_signal_add_noise(y, n, snrs[k], &r);
        double pn = 0, mean = 0;
        for (int64_t i = 0; i < n; i++) {
            double e = (double)y[i] - x[i];
            pn += e * e, mean += e;
        }
        double snr = 10 * log10(dy_signal_power(x, n) / (pn / (double)n));
        /* the realised noise power of n Gaussian draws has a relative sd of sqrt(2 / n), 0.0097 dB here: 4 sd */
        CHECK(fabs(snr - snrs[k]) < 0.04 && fabs(mean / (double)n) < 4 * sqrt(pn / (double)n / (double)n),
              "noise at %.1f dB: realised SNR %.4f dB, mean %.2e", snrs[k], snr, mean / (double)n);
    }
    memset(y, 0, sizeof(float) * 64);
    dy_signal_add_noise(y, 64, 10, &r);
    CHECK(dy_signal_power(y, 64) == 0, "a silent clip stays silent");
    free(x);
    free(y);
}

static void test_specaugment(void) {
    enum { C = 2, M = 12, T = 30 };
    float spec[C * M * T], orig[C * M * T];
    for (int i = 0; i < C * M * T; i++) orig[i] = 1.0f + (float)((i * 37) % 101) / 7.0f;
    dy_signal_augment a;
    dy_signal_augment_preset(NULL, &a, "series", NULL);
    a.freq_masks = 2, a.freq_width = 5, a.time_masks = 3, a.time_width = 8, a.time_mask_max = 0.2f;
    bool exact = true, some = false;
    for (int trial = 0; trial < 50; trial++) {
        a.mask_mean = trial % 2;
        memcpy(spec, orig, sizeof spec);
        CHECK(dy_spec_augment_view(NULL, &a, spec, C, M, T, 3, 0, trial, 1) == DY_OK, "spec view");
        /* the drawn bands, from the same stream in the documented order */
        dy_rng r;
        dy_rng_init(&r, 3, DY_RNG_SPECAUGMENT, 0, (uint32_t)(trial * 8 + 1));
        bool masked[M][T] = {{false}};
        for (int k = 0; k < 2; k++) {
            int f = (int)dy_rng_below(&r, 6), f0 = (int)dy_rng_below(&r, (uint64_t)(M - f + 1));
            for (int m = f0; m < f0 + f; m++)
                for (int t = 0; t < T; t++) masked[m][t] = true;
        }
        for (int k = 0; k < 3; k++) { /* width at most min(8, floor(0.2 * 30) = 6) */
            int w = (int)dy_rng_below(&r, 7), t0 = (int)dy_rng_below(&r, (uint64_t)(T - w + 1));
            for (int m = 0; m < M; m++)
                for (int t = t0; t < t0 + w; t++) masked[m][t] = true;
        }
        for (int c = 0; c < C; c++) {
            double mean = 0;
            for (int i = 0; i < M * T; i++) mean += orig[c * M * T + i];
            float fill = a.mask_mean ? (float)(mean / (M * T)) : 0.0f;
            for (int m = 0; m < M; m++)
                for (int t = 0; t < T; t++) {
                    int i = (c * M + m) * T + t;
                    exact &= spec[i] == (masked[m][t] ? fill : orig[i]);
                    some |= masked[m][t];
                }
        }
    }
    CHECK(exact && some, "masks set exactly the drawn bands (every channel) to 0 or the channel's mean, nothing else");
}

static void test_spline_fixture(void) {
    fx_file *f = fx_load(test_fixture_path("signal_spline.bin"));
    if (!CHECK(f != NULL, "load signal_spline.bin")) return;
    const char *names[] = {"uniform", "uneven", "four", "many"};
    for (int k = 0; k < 4; k++) {
        char key[4][32];
        const float *p[4];
        int64_t nk = 0, nt = 0;
        const char *suffix[4] = {"_x", "_y", "_t", "_v"};
        for (int j = 0; j < 4; j++) {
            snprintf(key[j], sizeof key[j], "%s%s", names[k], suffix[j]);
            p[j] = fx_f32(f, key[j], j == 0 ? &nk : j == 2 ? &nt : NULL);
        }
        if (!CHECK(p[0] && p[1] && p[2] && p[3] && nk <= DY_SIGNAL_MAX_KNOTS + 2, "fixture %s", names[k])) continue;
        double xk[DY_SIGNAL_MAX_KNOTS + 2], yk[DY_SIGNAL_MAX_KNOTS + 2], m[DY_SIGNAL_MAX_KNOTS + 2];
        for (int i = 0; i < nk; i++) xk[i] = p[0][i], yk[i] = p[1][i];
        dy_spline_fit(xk, yk, (int)nk, m);
        float *got = malloc(sizeof(float) * (size_t)nt);
        for (int64_t i = 0; i < nt; i++) got[i] = (float)dy_spline_eval(xk, yk, m, (int)nk, p[2][i]);
        test_close(names[k], got, p[3], (size_t)nt, 2e-6);
        free(got);
    }
    fx_free(f);
}

/* A cubic polynomial sampled at any knots is its own not-a-knot spline; a parabola its own 3-knot spline. */
static void test_spline_exact(void) {
    double xk[7] = {-1, 0.5, 1, 2.25, 4, 4.5, 7}, yk[7], m[7];
    double worst = 0;
    for (int n = 3; n <= 7; n++) {
        for (int i = 0; i < n; i++) {
            double x = xk[i];
            yk[i] = n == 3 ? 2 - x + 0.5 * x * x : 0.3 - 1.2 * x + 0.4 * x * x - 0.05 * x * x * x;
        }
        dy_spline_fit(xk, yk, n, m);
        for (double x = -2; x <= 8; x += 0.125) {
            double want = n == 3 ? 2 - x + 0.5 * x * x : 0.3 - 1.2 * x + 0.4 * x * x - 0.05 * x * x * x;
            double e = fabs(dy_spline_eval(xk, yk, m, n, x) - want);
            worst = e > worst ? e : worst;
        }
    }
    CHECK(worst < 1e-11, "cubics (4..7 knots) and a parabola (3 knots) reproduced exactly (worst %.2e)", worst);
    double lx[2] = {0, 2}, ly[2] = {1, 5}, lm[2];
    dy_spline_fit(lx, ly, 2, lm);
    CHECK(dy_spline_eval(lx, ly, lm, 2, 0.5) == 2.0 && dy_spline_eval(lx, ly, lm, 2, 3) == 7.0, "2 knots: the line");
}

static void test_warps(void) {
    enum { L = 101 };
    float *x = ramp(L, 0), y[L], scratch[L];
    double ones[6] = {1, 1, 1, 1, 1, 1};
    memcpy(y, x, sizeof y);
    dy_series_time_warp(y, L, ones, 6, scratch);
    bool same = memcmp(y, x, sizeof y) == 0;
    dy_series_magnitude_warp(y, L, ones, 6);
    CHECK(same && memcmp(y, x, sizeof y) == 0,
          "knots all 1: time warp and magnitude warp are the identity, bit for bit");
    /* speed knots on the line v(t) = a + b t: the spline is that line, tau(t) = a t + b t^2 / 2 exactly (trapezoids of
     * a line), rescaled to end at L - 1; a ramp resampled at tau is tau itself. */
    const double a = 0.6, b = 0.01;
    double knots[6];
    for (int k = 0; k < 6; k++) knots[k] = a + b * (k * (L - 1) / 5.0);
    memcpy(y, x, sizeof y);
    dy_series_time_warp(y, L, knots, 6, scratch);
    float want[L];
    const double total = a * (L - 1) + b * (L - 1) * (L - 1) / 2.0;
    for (int t = 0; t < L; t++) want[t] = (float)((a * t + b * t * t / 2.0) * (L - 1) / total);
    test_close("time warp with a linear speed", y, want, L, 1e-6);
    /* magnitude knots on a cubic p: the spline is p, y = x p */
    for (int k = 0; k < 6; k++) {
        double t = k * (L - 1) / 5.0;
        knots[k] = 1 + 0.01 * t - 2e-4 * t * t + 1e-6 * t * t * t;
    }
    memcpy(y, x, sizeof y);
    dy_series_magnitude_warp(y, L, knots, 6);
    for (int t = 0; t < L; t++) want[t] = (float)(x[t] * (1 + 0.01 * t - 2e-4 * t * t + 1e-6 * t * t * t));
    test_close("magnitude warp with cubic knots", y, want, L, 1e-6);
    dy_rng r;
    dy_rng_init(&r, 5, DY_RNG_AUGMENT, 0, 0);
    bool monotone = true;
    for (int trial = 0; trial < 200; trial++) {
        for (int k = 0; k < 6; k++) knots[k] = 1 + 0.2 * dy_rng_normal(&r);
        memcpy(y, x, sizeof y);
        dy_series_time_warp(y, L, knots, 6, scratch);
        monotone &= y[0] == 0 && fabsf(y[L - 1] - (L - 1)) < 1e-3f;
        for (int t = 1; t < L; t++) monotone &= y[t] >= y[t - 1];
    }
    CHECK(monotone, "random time warps of a ramp run from 0 to L - 1 without turning back");
    free(x);
}

static void test_permute(void) {
    enum { L = 50 };
    float x[2 * L], scratch[L];
    for (int t = 0; t < L; t++) x[t] = (float)t, x[L + t] = 1000.0f + (float)t;
    int64_t bounds[DY_SIGNAL_MAX_SEGMENTS + 1] = {0, 10, 35, L};
    int order[DY_SIGNAL_MAX_SEGMENTS] = {2, 0, 1};
    float y[2 * L];
    memcpy(y, x, sizeof y);
    dy_series_permute(y, 2, L, bounds, order, 3, scratch);
    bool ok = true;
    for (int c = 0; c < 2; c++) {
        float *ch = y + c * L, base = c ? 1000.0f : 0.0f;
        for (int t = 0; t < 15; t++) ok &= ch[t] == base + 35 + t;
        for (int t = 0; t < 10; t++) ok &= ch[15 + t] == base + t;
        for (int t = 0; t < 25; t++) ok &= ch[25 + t] == base + 10 + t;
    }
    CHECK(ok, "segments [35, 50), [0, 10), [10, 35) concatenated on every channel");
    dy_rng r;
    dy_rng_init(&r, 9, DY_RNG_AUGMENT, 0, 0);
    ok = true;
    int most = 0;
    for (int trial = 0; trial < 500; trial++) {
        int n = dy_series_permute_draw(&r, L, 5, bounds, order);
        most = n > most ? n : most;
        memcpy(y, x, sizeof y);
        dy_series_permute(y, 2, L, bounds, order, n, scratch);
        int seen[L] = {0}, runs = 1;
        for (int t = 0; t < L; t++) {
            int v = (int)y[t];
            ok &= v >= 0 && v < L && y[L + t] == 1000.0f + (float)v;
            if (v >= 0 && v < L) seen[v]++;
            if (t > 0 && y[t] != y[t - 1] + 1) runs++;
        }
        for (int v = 0; v < L; v++) ok &= seen[v] == 1;
        ok &= n >= 1 && n <= 5 && runs <= n && bounds[0] == 0 && bounds[n] == L;
        for (int k = 0; k < n; k++) ok &= bounds[k] < bounds[k + 1];
    }
    CHECK(ok && most == 5,
          "random permutations: a permutation of at most 5 contiguous runs, the same on both channels");
    int n = dy_series_permute_draw(&r, 2, 32, bounds, order);
    CHECK(n >= 1 && n <= 2 && bounds[n] == 2, "no more segments than samples (%d of 2)", n);
}

static void test_jitter_scaling(void) {
    const int64_t n = 200000;
    float *x = calloc((size_t)n, sizeof(float));
    dy_rng r;
    dy_rng_init(&r, 11, DY_RNG_AUGMENT, 0, 0);
    dy_series_jitter(x, n, 0.03, &r);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) s += x[i], s2 += (double)x[i] * x[i];
    double sd = sqrt(s2 / (double)n - (s / (double)n) * (s / (double)n));
    CHECK(fabs(sd - 0.03) < 0.03 * 0.01 && fabs(s / (double)n) < 4 * 0.03 / sqrt((double)n),
          "jitter: sample sd %.5f of sigma 0.03, mean %.2e", sd, s / (double)n);
    float y[6] = {1, 2, 3, 4, 5, 6};
    double f[2] = {0.5, -2};
    dy_series_scale(y, 2, 3, f);
    CHECK(y[0] == 0.5f && y[2] == 1.5f && y[3] == -8 && y[5] == -12, "scaling: channel c times factor[c]");
    free(x);
}

/* Everything off but the named steps. */
static dy_signal_augment only(void) {
    dy_signal_augment a;
    dy_signal_augment_preset(NULL, &a, "series", NULL);
    a.permute_p = a.time_warp_p = a.magnitude_warp_p = a.scaling_p = a.jitter_p = 0;
    return a;
}

static void test_pipeline_steps(dy_ctx *ctx) {
    enum { C = 2, L = 64 };
    float x[C * L], z[C * L], y[C * L], w[C * L];
    for (int i = 0; i < C * L; i++) x[i] = sinf(0.3f * (float)i), z[i] = cosf(0.11f * (float)i);
    dy_signal_augment a = only();
    CHECK(dy_signal_augment_view(ctx, &a, x, C, L, z, L, y, 1, 0, 0, 0) == DY_OK && !memcmp(x, y, sizeof x),
          "nothing on: the view is the item");
    a.gain_p = 1, a.gain_db[0] = a.gain_db[1] = 6;
    dy_signal_augment_view(ctx, &a, x, C, L, NULL, 0, y, 1, 0, 0, 0);
    bool ok = true;
    for (int i = 0; i < C * L; i++) ok &= fabsf(y[i] - x[i] * (float)pow(10, 6.0 / 20)) <= 1e-6f;
    CHECK(ok, "gain step: x 10^(6 / 20)");
    a = only();
    a.mix_p = 1, a.mix_weight[0] = a.mix_weight[1] = 0.1f;
    dy_signal_augment_view(ctx, &a, x, C, L, z, L, y, 1, 0, 0, 0);
    ok = true;
    for (int i = 0; i < C * L; i++) ok &= fabsf(y[i] - (0.9f * x[i] + 0.1f * z[i])) <= 1e-6f;
    CHECK(ok, "mix step: 0.9 x + 0.1 z for a partner of the same length");
    /* with weight 0 the mix is the identity: no partner and a partner give the same view, so the partner changes
     * nothing of the stream (its draws happen either way) */
    a.mix_weight[0] = a.mix_weight[1] = 0;
    a.gain_p = 1, a.gain_db[0] = -6, a.gain_db[1] = 6, a.noise_p = 1;
    dy_signal_augment_view(ctx, &a, x, C, L, z, 40, y, 1, 2, 3, 1);
    dy_signal_augment_view(ctx, &a, x, C, L, NULL, 0, w, 1, 2, 3, 1);
    CHECK(!memcmp(y, w, sizeof y), "the draws do not depend on whether a partner is given");
    a = only();
    a.crop_length = 100, a.crop_center = true;
    float big[C * 100];
    dy_signal_augment_view(ctx, &a, x, C, L, NULL, 0, big, 1, 0, 0, 0);
    ok = dy_signal_augment_length(&a, L) == 100;
    for (int c = 0; c < C; c++)
        for (int j = 0; j < 100; j++) ok &= big[c * 100 + j] == (j >= 18 && j < 82 ? x[c * L + j - 18] : 0.0f);
    CHECK(ok, "a centred crop pads a shorter item with zeros on both sides");
}

/* Every step on: views computed by several threads in any order equal those computed one by one. */
static void test_determinism(dy_ctx *ctx) {
    enum { C = 3, L = 500, N = 24, OUT = 400 };
    float *items = malloc(sizeof(float) * N * C * L);
    for (int i = 0; i < N * C * L; i++) items[i] = sinf(0.01f * (float)i) + 0.1f * cosf(0.7f * (float)i);
    dy_signal_augment a;
    dy_signal_augment_preset(ctx, &a, "audio", NULL);
    a.crop_length = OUT;
    a.mix_p = a.shift_p = a.permute_p = a.time_warp_p = a.magnitude_warp_p = a.scaling_p = a.gain_p = 1;
    a.jitter_p = a.noise_p = 1;
    float *seq = malloc(sizeof(float) * N * 2 * C * OUT), *par = malloc(sizeof(float) * N * 2 * C * OUT);
    for (int k = 0; k < 2 * N; k++)
        dy_signal_augment_view(ctx, &a, items + (k / 2) * C * L, C, L, items + ((k / 2 + 1) % N) * C * L, L,
                               seq + k * C * OUT, 42, 3, k / 2, k % 2);
#pragma omp parallel for num_threads(4) schedule(dynamic, 1)
    for (int k = 2 * N - 1; k >= 0; k--)
        dy_signal_augment_view(ctx, &a, items + (k / 2) * C * L, C, L, items + ((k / 2 + 1) % N) * C * L, L,
                               par + k * C * OUT, 42, 3, k / 2, k % 2);
    CHECK(!memcmp(seq, par, sizeof(float) * N * 2 * C * OUT), "4 threads in reverse order give the same bits");
    CHECK(memcmp(seq, seq + C * OUT, sizeof(float) * C * OUT) != 0, "the two views of an item differ");
    float spec[2][2 * 16 * 20];
    for (int v = 0; v < 2; v++) {
        for (int i = 0; i < 2 * 16 * 20; i++) spec[v][i] = (float)i;
        dy_spec_augment_view(ctx, &a, spec[v], 2, 16, 20, 42, 3, 5, 1);
    }
    CHECK(!memcmp(spec[0], spec[1], sizeof spec[0]), "the same spectrogram stream gives the same masks");
    free(items);
    free(seq);
    free(par);
}

static void test_presets_and_errors(dy_ctx *ctx) {
    dy_signal_set s = {.kind = DY_SIGNAL_AUDIO, .sample_rate = 8000, .channels = 1};
    dy_signal_augment a, b;
    CHECK(dy_signal_augment_preset(ctx, &a, "audio", &s) == DY_OK && a.crop_length == 8000 && a.gain_p == 0.8f &&
              a.freq_masks == 2 && a.jitter_p == 0,
          "audio preset: 1-second crops at the set's rate");
    s.kind = DY_SIGNAL_SERIES, s.sample_rate = 0;
    CHECK(dy_signal_augment_preset(ctx, &a, "eval", &s) == DY_OK && a.crop_length == 0 && a.gain_p == 0,
          "eval preset of a series set: items unchanged");
    CHECK(dy_signal_augment_preset(ctx, &a, "series", &s) == DY_OK && a.jitter_sigma == 0.03f &&
              a.magnitude_warp_knots == 4 && a.permute_segments == 5 && a.crop_length == 0,
          "series preset: Iwana and Uchida's parameters");
    CHECK(dy_signal_augment_preset(ctx, &a, "images", &s) == DY_ERR_INVALID, "unknown preset: %s", dy_ctx_error(ctx));
    dy_signal_augment_preset(ctx, &a, "series", NULL);
    CHECK(dy_signal_augment_set(ctx, &a, "gain_db", "-3, 4.5") == DY_OK && a.gain_db[0] == -3 && a.gain_db[1] == 4.5f,
          "set a range");
    CHECK(dy_signal_augment_set(ctx, &a, "noise_snr_db", "20") == DY_OK && a.noise_snr_db[0] == 20 &&
              a.noise_snr_db[1] == 20,
          "one number sets both ends");
    CHECK(dy_signal_augment_set(ctx, &a, "crop_length", "16000") == DY_OK && a.crop_length == 16000, "crop_length");
    CHECK(dy_signal_augment_set(ctx, &a, "mask_mean", "0") == DY_OK && !a.mask_mean, "mask_mean 0");
    b = a;
    const char *bad[][2] = {{"mix_p", "1.5"},          {"bogus", "1"},           {"time_warp_knots", "2.5"},
                            {"time_warp_knots", "33"}, {"crop_center", "2"},     {"crop_length", "-1"},
                            {"gain_db", "3,-3"},       {"jitter_sigma", "nan"},  {"shift_max", "0.1,0.2"},
                            {"freq_masks", "17"},      {"mix_weight", "0,1.5"},  {"scaling_sigma", "abc"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        CHECK(dy_signal_augment_set(ctx, &a, bad[k][0], bad[k][1]) == DY_ERR_INVALID && !memcmp(&a, &b, sizeof a),
              "%s = %s refused, nothing changed: %s", bad[k][0], bad[k][1], dy_ctx_error(ctx));
    float x[4] = {1, 2, 3, 4}, y[4];
    CHECK(dy_signal_augment_view(ctx, &a, x, 0, 4, NULL, 0, y, 1, 0, 0, 0) == DY_ERR_INVALID, "0 channels refused");
    CHECK(dy_signal_augment_view(ctx, &a, x, 1, 0, NULL, 0, y, 1, 0, 0, 0) == DY_ERR_INVALID, "empty item refused");
    CHECK(dy_signal_augment_view(ctx, &a, x, 1, 4, NULL, 0, y, 1, 0, 0, 8) == DY_ERR_INVALID, "view 8 refused");
    CHECK(dy_signal_augment_view(ctx, &a, x, 1, 4, x, 0, y, 1, 0, 0, 0) == DY_ERR_INVALID, "empty partner refused");
    CHECK(dy_spec_augment_view(ctx, &a, x, 65, 1, 1, 1, 0, 0, 0) == DY_ERR_INVALID, "65 spectrogram channels refused");
    a.gain_p = 2;
    CHECK(dy_signal_augment_view(ctx, &a, x, 1, 4, NULL, 0, y, 1, 0, 0, 0) == DY_ERR_INVALID,
          "an invalid description refused: %s", dy_ctx_error(ctx));
}

int main(void) {
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 1, .backend = DY_BACKEND_REF};
    dy_ctx_create(&ctx, &co);
    test_crop();
    test_gain_mix_shift();
    test_noise();
    test_specaugment();
    test_spline_fixture();
    test_spline_exact();
    test_warps();
    test_permute();
    test_jitter_scaling();
    test_pipeline_steps(ctx);
    test_determinism(ctx);
    test_presets_and_errors(ctx);
    dy_ctx_destroy(ctx);
    return test_finish();
}
