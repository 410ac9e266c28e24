/* The resampler of the audio readers (src/data/audio/audio.h): a Kaiser-windowed sinc, polyphase.
 *
 * With g = gcd(in, out), L = out / g and M = in / g, output sample j sits at input time t = j M / L: integer part
 * k0 = floor(j M / L), phase p = (j M) mod L, fraction d = p / L. Its value is sum_k x[k] h(t - k) with the low-pass
 *     h(u) = fc sinc(fc u) w(u / W),   sinc(v) = sin(pi v) / (pi v),   w(r) = I0(beta sqrt(1 - r^2)) / I0(beta),
 * fc = 0.92 min(1, out / in) the cutoff (a fraction of the input's Nyquist frequency), W = 32 / fc input samples the
 * half-width (32 zero crossings of the sinc each side) and beta = 8.6 (stopband about -86 dB; the transition band,
 * about 0.17 fc wide, ends below the output's Nyquist frequency). The taps of each phase are normalised to sum 1.
 * There are L phases; each is computed once when L is at most 4096 (the table), otherwise for every output sample.
 * Input outside [0, n) counts as 0. Down by more than 64x is refused (the filter would pass 2 x 32 x 64 taps). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/audio/audio.h"

enum { ZEROS = 32, TABLE_MAX_PHASES = 4096, MAX_DOWN = 64 };
static const double CUTOFF = 0.92, BETA = 8.6;

struct dy_resampler {
    int64_t L, M;  /* out / g, in / g */
    double fc;     /* cutoff, in cycles per input sample x 2 */
    int H;         /* taps per phase 2 H: input samples k0 - H + 1 .. k0 + H */
    double W;      /* half-width in input samples */
    float *table;  /* [L][2 H] or NULL */
};

/* The modified Bessel function of the first kind, order 0, by its series (converges fast for beta <= 20). */
static double bessel_i0(double x) {
    double sum = 1, term = 1, q = x * x / 4;
    for (int k = 1; k < 200; k++) {
        term *= q / ((double)k * k);
        sum += term;
        if (term < sum * 1e-17) break;
    }
    return sum;
}

/* The 2 H taps of fraction d in [0, 1): tap i weighs input sample k0 - H + 1 + i, at distance u = d + H - 1 - i.
 * w: [2 H] scratch. */
static void phase_taps(const dy_resampler *r, double d, double *w, float *taps) {
    double sum = 0;
    const double i0b = bessel_i0(BETA);
    for (int i = 0; i < 2 * r->H; i++) {
        const double u = d + r->H - 1 - i;
        double v = 0;
        if (fabs(u) < r->W) {
            const double a = r->fc * u, q = u / r->W;
            const double sinc = a == 0 ? 1.0 : sin(M_PI * a) / (M_PI * a);
            v = r->fc * sinc * bessel_i0(BETA * sqrt(1 - q * q)) / i0b;
        }
        w[i] = v;
        sum += v;
    }
    for (int i = 0; i < 2 * r->H; i++) taps[i] = (float)(w[i] / sum);
}

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

dy_status dy_resampler_create(dy_ctx *ctx, dy_resampler **out, const char *name, double in_rate, double out_rate) {
    *out = NULL;
    const int64_t in = llround(in_rate), o = llround(out_rate);
    if (!(in_rate >= 0.5 && in_rate < 1000000.5 && out_rate >= 0.5 && out_rate < 1000000.5))
        return dy_fail(ctx, DY_ERR_INVALID, "%s: resampling from %.6g Hz to %.6g Hz: rates must be 1 .. 1000000 Hz",
                       name, in_rate, out_rate);
    if (in > (int64_t)MAX_DOWN * o)
        return dy_fail(ctx, DY_ERR_INVALID,
                       "%s: resampling from %lld Hz down to %lld Hz: more than %dx down is not supported", name,
                       (long long)in, (long long)o, (int)MAX_DOWN);
    dy_resampler *r = calloc(1, sizeof *r);
    if (!r) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
    const int64_t g = gcd64(in, o);
    r->L = o / g;
    r->M = in / g;
    r->fc = CUTOFF * (o < in ? (double)o / (double)in : 1.0);
    r->W = ZEROS / r->fc;
    r->H = (int)ceil(r->W);
    if (r->L > 1 || r->M > 1) { /* equal rates copy; otherwise the table when it is small */
        if (r->L <= TABLE_MAX_PHASES) {
            r->table = malloc(sizeof(float) * (size_t)r->L * 2 * (size_t)r->H);
            double *w = malloc(sizeof(double) * 2 * (size_t)r->H);
            if (!r->table || !w) {
                free(w);
                dy_resampler_free(r);
                return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for the resampler's table", name);
            }
            for (int64_t p = 0; p < r->L; p++) phase_taps(r, (double)p / (double)r->L, w, r->table + p * 2 * r->H);
            free(w);
        }
    }
    *out = r;
    return DY_OK;
}

int64_t dy_resampler_length(const dy_resampler *r, int64_t n) { return (n * r->L + r->M - 1) / r->M; }

dy_status dy_resampler_run(dy_ctx *ctx, const dy_resampler *r, const float *x, int64_t n, int64_t in_stride, float *y) {
    const int64_t len = dy_resampler_length(r, n);
    if (r->L == 1 && r->M == 1) {
        for (int64_t j = 0; j < n; j++) y[j] = x[j * in_stride];
        return DY_OK;
    }
    float *own = NULL;
    double *w = NULL;
    if (!r->table) {
        own = malloc(sizeof(float) * 2 * (size_t)r->H);
        w = malloc(sizeof(double) * 2 * (size_t)r->H);
        if (!own || !w) {
            free(own);
            free(w);
            return dy_fail(ctx, DY_ERR_NOMEM, "out of memory resampling");
        }
    }
    for (int64_t j = 0; j < len; j++) {
        const int64_t pos = j * r->M, k0 = pos / r->L, p = pos % r->L;
        const float *taps = r->table ? r->table + p * 2 * r->H : own;
        if (!r->table) phase_taps(r, (double)p / (double)r->L, w, own);
        const int64_t first = k0 - r->H + 1;
        double acc = 0;
        for (int i = 0; i < 2 * r->H; i++) {
            const int64_t k = first + i;
            if (k >= 0 && k < n) acc += (double)taps[i] * x[k * in_stride];
        }
        y[j] = (float)acc;
    }
    free(own);
    free(w);
    return DY_OK;
}

void dy_resampler_free(dy_resampler *r) {
    if (!r) return;
    free(r->table);
    free(r);
}
