/* The log-mel spectrogram (include/dystress/signal.h): torchaudio.transforms.MelSpectrogram's computation with its
 * defaults (a periodic Hann window, torch.stft with center=True and reflect padding, power 2, the HTK mel scale,
 * norm None), then log(mel + log_eps). The filter bank follows torchaudio's melscale_fbanks: the FFT bin k lies at
 * k (sample_rate // 2) / (n_fft / 2) Hz (sample_rate rounded down to a whole Hz, halved and rounded down, as its
 * integer division), n_mels + 2 points evenly spaced in mel over [f_min, f_max], and filter m is the triangle
 *     max(0, min((f - f_m) / (f_{m+1} - f_m), (f_{m+2} - f) / (f_{m+2} - f_{m+1}))).
 * tools/logmel_ref.py is the numpy reference the tests compare with. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/audio/audio.h"

struct dy_logmel {
    dy_logmel_options o;
    int n_freq;      /* n_fft / 2 + 1 */
    double *window;  /* [n_fft]: the Hann window of win_length samples, centred, zero around it */
    double *fb;      /* [n_mels][n_freq] */
    int *lo, *hi;    /* [n_mels]: filter m is non-zero on bins lo[m] .. hi[m] - 1 */
    dy_rfft *fft;
};

dy_logmel_options dy_logmel_defaults(void) {
    dy_logmel_options o = {.sample_rate = 16000, .n_fft = 400, .win_length = 0, .hop = 160, .n_mels = 64,
                           .f_min = 0, .f_max = 0, .log_eps = 1e-6};
    return o;
}

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

static dy_status check_options(dy_ctx *ctx, const dy_logmel_options *o) {
    if (!(o->sample_rate >= 1 && o->sample_rate <= 1000000))
        return dy_fail(ctx, DY_ERR_INVALID, "log-mel: sample rate %g Hz not in 1 .. 1000000", o->sample_rate);
    if (o->n_fft < 2 || o->n_fft > 65536)
        return dy_fail(ctx, DY_ERR_INVALID, "log-mel: n_fft %d not in 2 .. 65536", o->n_fft);
    if (o->win_length < 0 || o->win_length > o->n_fft)
        return dy_fail(ctx, DY_ERR_INVALID, "log-mel: win_length %d not in 1 .. n_fft %d (0: n_fft)", o->win_length,
                       o->n_fft);
    if (o->hop < 1) return dy_fail(ctx, DY_ERR_INVALID, "log-mel: hop %d below 1", o->hop);
    if (o->n_mels < 1 || o->n_mels > 4096)
        return dy_fail(ctx, DY_ERR_INVALID, "log-mel: n_mels %d not in 1 .. 4096", o->n_mels);
    const double f_max = o->f_max > 0 ? o->f_max : o->sample_rate / 2;
    if (!(o->f_min >= 0 && o->f_min < f_max && f_max <= o->sample_rate / 2))
        return dy_fail(ctx, DY_ERR_INVALID, "log-mel: the band [%g, %g] Hz is not within [0, %g] (half the rate)",
                       o->f_min, f_max, o->sample_rate / 2);
    if (!(o->log_eps > 0 && isfinite(o->log_eps)))
        return dy_fail(ctx, DY_ERR_INVALID, "log-mel: log_eps %g is not above 0", o->log_eps);
    return DY_OK;
}

/* The triangular filters of the HTK mel scale, torchaudio's melscale_fbanks with norm None. */
static void filter_bank(dy_logmel *m) {
    const dy_logmel_options *o = &m->o;
    const int nm = o->n_mels, nf = m->n_freq;
    const double f_max = o->f_max > 0 ? o->f_max : o->sample_rate / 2;
    const double top = floor(floor(o->sample_rate) / 2); /* sample_rate // 2 */
    const double m_lo = hz_to_mel(o->f_min), m_hi = hz_to_mel(f_max);
    double *f_pts = m->fb + (size_t)nm * nf; /* nm + 2 points past the bank (allocated with it) */
    for (int i = 0; i < nm + 2; i++) f_pts[i] = mel_to_hz(m_lo + (m_hi - m_lo) * i / (nm + 1));
    for (int b = 0; b < nm; b++) {
        m->lo[b] = nf;
        m->hi[b] = 0;
        for (int k = 0; k < nf; k++) {
            const double f = top * k / (nf - 1);
            const double down = (f - f_pts[b]) / (f_pts[b + 1] - f_pts[b]);
            const double up = (f_pts[b + 2] - f) / (f_pts[b + 2] - f_pts[b + 1]);
            const double v = fmax(0.0, fmin(down, up));
            m->fb[(size_t)b * nf + k] = v;
            if (v > 0) {
                if (k < m->lo[b]) m->lo[b] = k;
                m->hi[b] = k + 1;
            }
        }
    }
}

dy_status dy_logmel_create(dy_ctx *ctx, dy_logmel **out, const dy_logmel_options *opts) {
    *out = NULL;
    const dy_logmel_options o = opts ? *opts : dy_logmel_defaults();
    DY_TRY(check_options(ctx, &o));
    dy_logmel *m = calloc(1, sizeof *m);
    if (!m) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
    m->o = o;
    m->n_freq = o.n_fft / 2 + 1;
    m->window = calloc((size_t)o.n_fft, sizeof(double));
    m->fb = malloc(sizeof(double) * ((size_t)o.n_mels * m->n_freq + o.n_mels + 2));
    m->lo = malloc(sizeof(int) * (size_t)o.n_mels);
    m->hi = malloc(sizeof(int) * (size_t)o.n_mels);
    m->fft = dy_rfft_create(o.n_fft);
    if (!m->window || !m->fb || !m->lo || !m->hi || !m->fft) {
        dy_logmel_free(m);
        return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for the log-mel front end (n_fft %d)", o.n_fft);
    }
    const int win = o.win_length ? o.win_length : o.n_fft, left = (o.n_fft - win) / 2;
    for (int j = 0; j < win; j++) m->window[left + j] = 0.5 - 0.5 * cos(2.0 * M_PI * j / win); /* periodic Hann */
    filter_bank(m);
    *out = m;
    return DY_OK;
}

int64_t dy_logmel_frames(const dy_logmel *m, int64_t length) {
    const int64_t padded = length + 2 * (int64_t)(m->o.n_fft / 2);
    return padded < m->o.n_fft ? 0 : 1 + (padded - m->o.n_fft) / m->o.hop;
}

/* x[i] with reflect padding (the edge sample not repeated): valid for -n < i < 2 n - 1. */
static double reflect(const float *x, int64_t n, int64_t i) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * (n - 1) - i;
    return x[i];
}

dy_status dy_logmel_apply(dy_ctx *ctx, const dy_logmel *m, const float *x, int64_t length, float *out) {
    const int n_fft = m->o.n_fft, pad = n_fft / 2, nf = m->n_freq, nm = m->o.n_mels;
    if (length <= pad)
        return dy_fail(ctx, DY_ERR_INVALID, "log-mel: a signal of %lld samples is too short for n_fft %d (reflect "
                       "padding needs more than %d)", (long long)length, n_fft, pad);
    const int64_t frames = dy_logmel_frames(m, length);
    const int64_t need = n_fft + 2 * (int64_t)nf + nf + dy_rfft_scratch(m->fft);
    double *buf = malloc(sizeof(double) * (size_t)need);
    if (!buf) return dy_fail(ctx, DY_ERR_NOMEM, "log-mel: out of memory");
    double *frame = buf, *spec = frame + n_fft, *power = spec + 2 * nf, *scratch = power + nf;
    for (int64_t t = 0; t < frames; t++) {
        const int64_t start = t * m->o.hop - pad;
        for (int j = 0; j < n_fft; j++) frame[j] = m->window[j] * reflect(x, length, start + j);
        dy_rfft_forward(m->fft, frame, spec, scratch);
        for (int k = 0; k < nf; k++) power[k] = spec[2 * k] * spec[2 * k] + spec[2 * k + 1] * spec[2 * k + 1];
        for (int b = 0; b < nm; b++) {
            const double *w = m->fb + (size_t)b * nf;
            double e = 0;
            for (int k = m->lo[b]; k < m->hi[b]; k++) e += w[k] * power[k];
            out[b * frames + t] = (float)log(e + m->o.log_eps);
        }
    }
    free(buf);
    return DY_OK;
}

const double *dy_logmel_filter_bank(const dy_logmel *m) { return m->fb; }

void dy_logmel_free(dy_logmel *m) {
    if (!m) return;
    free(m->window);
    free(m->fb);
    free(m->lo);
    free(m->hi);
    dy_rfft_free(m->fft);
    free(m);
}
