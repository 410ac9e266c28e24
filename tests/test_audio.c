/* Audio: the real FFT against a direct DFT, the log-mel front end against the numpy reference (tools/logmel_ref.py,
 * tests/fixtures/logmel.bin), the resampler against exact sines, and the audio folder reader on WAV files written
 * here, good and hostile (truncated, wrong header, 0 channels, a 10-hour file, non-PCM, NaN samples, ...). */
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/audio/audio.h"
#include "fixture.h"
#include "testlib.h"

static char tmpdir[256];

static const char *tmp_path(const char *name) { return test_path_in(tmpdir, name); }

static bool has(dy_ctx *ctx, const char *needle) { return strstr(dy_ctx_error(ctx), needle) != NULL; }

/* ---- the real FFT ---------------------------------------------------------------------------------------------- */

static void test_rfft(void) {
    const int sizes[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 25, 30, 49, 64, 97, 194, 255, 400, 512, 1000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int n = sizes[s];
        dy_rfft *f = dy_rfft_create(n);
        if (!CHECK(f != NULL, "rfft plan of %d", n)) continue;
        double *x = malloc(sizeof(double) * n), *X = malloc(sizeof(double) * 2 * (n / 2 + 1));
        double *scratch = malloc(sizeof(double) * (size_t)dy_rfft_scratch(f));
        for (int j = 0; j < n; j++) x[j] = sin(0.37 * j * j + 1.3) + 0.25 * cos(3.1 * j);
        dy_rfft_forward(f, x, X, scratch);
        double err = 0, scale = 0;
        for (int k = 0; k <= n / 2; k++) {
            long double re = 0, im = 0;
            for (int j = 0; j < n; j++) {
                const long double a = -2.0L * 3.141592653589793238462643383279L * ((long)j * k % n) / n;
                re += x[j] * cosl(a);
                im += x[j] * sinl(a);
            }
            err = fmax(err, fmax(fabs(X[2 * k] - (double)re), fabs(X[2 * k + 1] - (double)im)));
            scale = fmax(scale, (double)sqrtl(re * re + im * im));
        }
        CHECK(err <= 1e-12 * fmax(scale, 1.0), "rfft of %d points equals the direct DFT: max error %.3g (scale %.3g)",
              n, err, scale);
        free(x);
        free(X);
        free(scratch);
        dy_rfft_free(f);
    }
}

/* ---- the log-mel front end ------------------------------------------------------------------------------------- */

static void test_logmel(dy_ctx *ctx) {
    fx_file *fx = fx_load(test_fixture_path("logmel.bin"));
    if (!CHECK(fx != NULL, "tests/fixtures/logmel.bin loads (tools/logmel_ref.py writes it)")) return;
    const fx_tensor *cases = fx_get(fx, "cases");
    const int64_t nc = cases ? ((const int64_t *)cases->data)[0] : 0;
    CHECK(nc == 5, "5 log-mel cases in the fixture");
    for (int64_t c = 0; c < nc; c++) {
        char name[64];
        snprintf(name, sizeof name, "case%lld.options", (long long)c);
        const float *op = fx_f32(fx, name, NULL);
        snprintf(name, sizeof name, "case%lld.x", (long long)c);
        int64_t n;
        const float *x = fx_f32(fx, name, &n);
        snprintf(name, sizeof name, "case%lld.logmel", (long long)c);
        const fx_tensor *want = fx_get(fx, name);
        if (!CHECK(op && x && want && want->ndim == 2, "case %lld in the fixture", (long long)c)) continue;
        dy_logmel_options o = {.sample_rate = op[0], .n_fft = (int)op[1], .win_length = (int)op[2],
                               .hop = (int)op[3], .n_mels = (int)op[4], .f_min = op[5], .f_max = op[6],
                               .log_eps = op[7]};
        dy_logmel *m = NULL;
        if (!CHECK(dy_logmel_create(ctx, &m, &o) == DY_OK, "log-mel %lld: %s", (long long)c, dy_ctx_error(ctx)))
            continue;
        const int64_t frames = dy_logmel_frames(m, n);
        CHECK(want->dims[0] == o.n_mels && want->dims[1] == frames, "log-mel %lld: [%d, %lld] as the reference's "
              "[%lld, %lld]", (long long)c, o.n_mels, (long long)frames, (long long)want->dims[0],
              (long long)want->dims[1]);
        float *got = malloc(sizeof(float) * (size_t)(o.n_mels * frames));
        CHECK(dy_logmel_apply(ctx, m, x, n, got) == DY_OK, "log-mel %lld runs: %s", (long long)c, dy_ctx_error(ctx));
        double err = 0;
        const float *w = want->data;
        for (int64_t i = 0; i < o.n_mels * frames && i < want->numel; i++) err = fmax(err, fabs(got[i] - w[i]));
        /* absolute, on the log values (the reference is float64, stored as float32) */
        CHECK(err <= 1e-5, "log-mel case %lld equals the numpy reference: max |difference| %.3g (<= 1e-5)",
              (long long)c, err);
        if (c == 0) {
            int64_t nb;
            const float *fb = fx_f32(fx, "fbank_default", &nb); /* [n_freq, n_mels] as torchaudio's */
            const double *mine = dy_logmel_filter_bank(m);
            double fe = 0;
            for (int k = 0; fb && nb == 201 * 64 && k < 201; k++)
                for (int b = 0; b < 64; b++) fe = fmax(fe, fabs(mine[b * 201 + k] - fb[k * 64 + b]));
            CHECK(fb && nb == 201 * 64 && fe <= 1e-6, "the default filter bank equals torchaudio's formula: %.3g", fe);
        }
        free(got);
        dy_logmel_free(m);
    }
    fx_free(fx);
    /* refusals */
    dy_logmel *m = NULL;
    dy_logmel_options o = dy_logmel_defaults();
    float x[200] = {0};
    CHECK(dy_logmel_create(ctx, &m, &o) == DY_OK && dy_logmel_apply(ctx, m, x, 200, x) == DY_ERR_INVALID &&
              has(ctx, "too short"),
          "a signal of n_fft / 2 samples is refused: %s", dy_ctx_error(ctx));
    dy_logmel_free(m);
    o.f_max = 9000;
    CHECK(dy_logmel_create(ctx, &m, &o) == DY_ERR_INVALID && has(ctx, "band"), "f_max above half the rate: %s",
          dy_ctx_error(ctx));
    o = dy_logmel_defaults();
    o.hop = 0;
    CHECK(dy_logmel_create(ctx, &m, &o) == DY_ERR_INVALID && has(ctx, "hop"), "hop 0: %s", dy_ctx_error(ctx));
}

/* ---- the resampler --------------------------------------------------------------------------------------------- */

/* Resamples amp sin(2 pi f t) from rate a to rate b; the largest error against the exact sine at the output's times,
 * away from the ends (margin output samples at each). */
static double sine_error(dy_ctx *ctx, double a, double b, double f, double amp, double want_amp, int64_t n,
                         int64_t margin) {
    dy_resampler *r = NULL;
    if (dy_resampler_create(ctx, &r, "sine", a, b) != DY_OK) return INFINITY;
    float *x = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(amp * sin(2 * M_PI * f * i / a));
    const int64_t m = dy_resampler_length(r, n);
    float *y = malloc(sizeof(float) * m);
    double err = INFINITY;
    if (m == (int64_t)ceil(n * b / a) && dy_resampler_run(ctx, r, x, n, 1, y) == DY_OK) {
        err = 0;
        for (int64_t j = margin; j < m - margin; j++)
            err = fmax(err, fabs(y[j] - want_amp * sin(2 * M_PI * f * j / b)));
    }
    free(x);
    free(y);
    dy_resampler_free(r);
    return err;
}

static void test_resampler(dy_ctx *ctx) {
    /* in the passband: the sine itself (Kaiser beta 8.6: ripple about 5e-5 of the amplitude) */
    const double pass[][3] = {{44100, 16000, 1000}, {22050, 16000, 3000}, {8000, 16000, 1000}, {48000, 16000, 5000},
                              {16001, 16000, 440},  {11025, 16000, 2500}, {16000, 44100, 6000}};
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
        double e = sine_error(ctx, pass[i][0], pass[i][1], pass[i][2], 0.9, 0.9, 20000, 200);
        CHECK(e <= 1e-4, "a %g Hz sine resampled from %g to %g Hz: max error %.3g (<= 1e-4)", pass[i][2], pass[i][0],
              pass[i][1], e);
    }
    /* in the stopband: above the output's Nyquist frequency, removed instead of aliased */
    const double stop[][3] = {{44100, 16000, 12000}, {22050, 16000, 9000}, {48000, 8000, 4500}};
    for (size_t i = 0; i < sizeof stop / sizeof stop[0]; i++) {
        double e = sine_error(ctx, stop[i][0], stop[i][1], stop[i][2], 0.9, 0.0, 20000, 200);
        CHECK(e <= 1e-4, "a %g Hz sine from %g to %g Hz is filtered out: largest sample %.3g (<= 1e-4)", stop[i][2],
              stop[i][0], stop[i][1], e);
    }
    /* a constant stays constant (every phase's taps sum to 1); equal rates copy */
    dy_resampler *r = NULL;
    float x[3000], y[3000];
    for (int i = 0; i < 3000; i++) x[i] = 0.5f;
    CHECK(dy_resampler_create(ctx, &r, "dc", 22050, 16000) == DY_OK &&
              dy_resampler_run(ctx, r, x, 3000, 1, y) == DY_OK,
          "resampler 22050 -> 16000");
    double e = 0;
    for (int j = 100; j < dy_resampler_length(r, 3000) - 100; j++) e = fmax(e, fabs(y[j] - 0.5));
    CHECK(e <= 1e-6, "a constant stays constant: %.3g", e);
    dy_resampler_free(r);
    for (int i = 0; i < 3000; i++) x[i] = (float)sin(i * 0.1);
    CHECK(dy_resampler_create(ctx, &r, "same", 16000, 16000) == DY_OK && dy_resampler_length(r, 3000) == 3000 &&
              dy_resampler_run(ctx, r, x, 3000, 1, y) == DY_OK && !memcmp(x, y, sizeof x),
          "equal rates copy");
    dy_resampler_free(r);
    CHECK(dy_resampler_create(ctx, &r, "far", 1000000, 8000) == DY_ERR_INVALID && has(ctx, "far") &&
              has(ctx, "64x"),
          "down by more than 64x is refused: %s", dy_ctx_error(ctx));
}

/* ---- WAV files ------------------------------------------------------------------------------------------------- */

static void put16(unsigned char *b, unsigned v) { b[0] = (unsigned char)v, b[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *b, uint32_t v) { put16(b, v & 0xffff), put16(b + 2, v >> 16); }

/* A canonical WAV header (44 bytes) of the given fields; data_bytes is what the data chunk declares. */
static void wav_header(unsigned char *h, unsigned format, unsigned channels, uint32_t rate, unsigned bits,
                       uint32_t data_bytes) {
    memcpy(h, "RIFF", 4);
    put32(h + 4, 36 + data_bytes);
    memcpy(h + 8, "WAVEfmt ", 8);
    put32(h + 16, 16);
    put16(h + 20, format);
    put16(h + 22, channels);
    put32(h + 24, rate);
    put32(h + 28, rate * channels * bits / 8);
    put16(h + 32, channels * bits / 8);
    put16(h + 34, bits);
    memcpy(h + 36, "data", 4);
    put32(h + 40, data_bytes);
}

/* A 16-bit PCM WAV of frames x channels samples v(t, c) (in [-1, 1], stored as round(v * 32767)). */
static void write_pcm16(const char *path, int channels, uint32_t rate, int64_t frames, double (*v)(int64_t, int)) {
    unsigned char h[44];
    wav_header(h, 1, (unsigned)channels, rate, 16, (uint32_t)(frames * channels * 2));
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(h, 1, 44, f);
    for (int64_t t = 0; t < frames; t++)
        for (int c = 0; c < channels; c++) {
            unsigned char b[2];
            put16(b, (unsigned)(int16_t)lrint(v(t, c) * 32767));
            fwrite(b, 1, 2, f);
        }
    fclose(f);
}

static void write_raw(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static double ramp(int64_t t, int c) { return c == 0 ? (double)(t % 200) / 400.0 : -0.25; }
static double tone(int64_t t, int c) { return 0.5 * sin(2 * M_PI * 440 * t / 22050.0); }

/* Makes a folder (and its parents) under tmpdir. */
static void make_dir(const char *rel) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/%s", tmpdir, rel);
    CHECK(system(cmd) == 0, "mkdir %s", rel);
}

static void write_flac(const char *path, int64_t frames) {
    SF_INFO info = {.samplerate = 16000, .channels = 1, .format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!CHECK(sf != NULL, "libsndfile writes FLAC: %s", sf_strerror(NULL))) return;
    float *x = malloc(sizeof(float) * frames);
    for (int64_t t = 0; t < frames; t++) x[t] = (float)ramp(t, 0);
    sf_writef_float(sf, x, frames);
    sf_close(sf);
    free(x);
}

/* A mu-law WAV (8-bit compressed, not PCM) that libsndfile decodes. */
static void write_ulaw(const char *path, int64_t frames) {
    SF_INFO info = {.samplerate = 8000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_ULAW};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!CHECK(sf != NULL, "libsndfile writes mu-law: %s", sf_strerror(NULL))) return;
    float *x = malloc(sizeof(float) * frames);
    for (int64_t t = 0; t < frames; t++) x[t] = (float)ramp(t, 0);
    sf_writef_float(sf, x, frames);
    sf_close(sf);
    free(x);
}

static float q16(double v) { return (float)(lrint(v * 32767) / 32768.0); } /* a 16-bit sample as read back */

static void test_folder_values(const dy_signal_set *s) {
    const int64_t lengths[4] = {1600, 800, 1600, 1600};
    const int32_t labels[4] = {0, 0, 1, 1}, groups[4] = {0, 2, 0, 1};
    bool ok = s->count == 4 && s->channels == 1 && s->sample_rate == 16000 && s->kind == DY_SIGNAL_AUDIO;
    for (int i = 0; ok && i < 4; i++)
        ok = dy_signal_length(s, i) == lengths[i] && s->labels[i] == labels[i] && s->groups[i] == groups[i];
    CHECK(ok, "4 clips in file order (classes sorted), lengths 1600/800/1600/1600, labels 0 0 1 1, speakers 0 2 0 1");
    CHECK(s->num_classes == 2 && !strcmp(s->class_names[0], "one") && !strcmp(s->class_names[1], "zero") &&
              s->class_counts[0] == 2 && s->class_counts[1] == 2,
          "classes one, zero with 2 clips each");
    CHECK(s->num_groups == 3 && !strcmp(s->group_names[0], "alice") && !strcmp(s->group_names[1], "bob") &&
              !strcmp(s->group_names[2], "carol"),
          "speakers alice, bob, carol (up to '_'; carol.flac has none)");
    if (!ok) return;
    double e16 = 0, emix = 0, eflac = 0;
    for (int64_t t = 0; t < 1600; t++) {
        e16 = fmax(e16, fabs(dy_signal_channel(s, 2, 0)[t] - q16(ramp(t, 0))));
        emix = fmax(emix, fabs(dy_signal_channel(s, 3, 0)[t] - 0.5f * (q16(ramp(t, 0)) + q16(ramp(t, 1)))));
    }
    for (int64_t t = 0; t < 800; t++) eflac = fmax(eflac, fabs(dy_signal_channel(s, 1, 0)[t] - q16(ramp(t, 0))));
    CHECK(e16 == 0, "a 16 kHz 16-bit WAV reads as its samples / 32768: %.3g", e16);
    CHECK(emix <= 1e-7, "a stereo WAV mixes down to the mean of its channels: %.3g", emix);
    CHECK(eflac == 0, "a FLAC file reads as its samples: %.3g", eflac);
    double etone = 0;
    for (int64_t j = 200; j < 1400; j++)
        etone = fmax(etone, fabs(dy_signal_channel(s, 0, 0)[j] - 0.5 * sin(2 * M_PI * 440 * j / 16000.0)));
    CHECK(etone <= 2e-4, "a 22050 Hz WAV of a 440 Hz tone resampled to 16 kHz: max error %.3g", etone);
}

static void test_folder(dy_ctx *ctx) {
    make_dir("lab/one");
    make_dir("lab/zero");
    make_dir("lab/.hidden");
    write_pcm16(tmp_path("lab/one/alice_3.wav"), 1, 22050, 2205, tone);
    write_flac(tmp_path("lab/one/carol.flac"), 800);
    write_pcm16(tmp_path("lab/zero/alice_1.wav"), 1, 16000, 1600, ramp);
    write_pcm16(tmp_path("lab/zero/bob_2.WAV"), 2, 16000, 1600, ramp);
    write_raw(tmp_path("lab/one/notes.txt"), "not audio", 9);
    write_raw(tmp_path("lab/.hidden/x.wav"), "not audio", 9);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/lab", tmpdir);
    dy_audio_folder_options o = dy_audio_folder_defaults();
    dy_signal_set *s = NULL;
    if (CHECK(dy_signal_load_audio_folder(ctx, dir, &o, &s) == DY_OK, "audio folder loads: %s", dy_ctx_error(ctx)))
        test_folder_values(s);
    /* one thread reads the same set */
    dy_ctx *one;
    dy_ctx_options co = {.threads = 1, .backend = DY_BACKEND_REF};
    dy_signal_set *s1 = NULL;
    CHECK(dy_ctx_create(&one, &co) == DY_OK && dy_signal_load_audio_folder(one, dir, &o, &s1) == DY_OK && s &&
              s1->count == s->count && s1->offsets[s1->count] == s->offsets[s->count] &&
              !memcmp(s1->samples, s->samples, sizeof(float) * (size_t)s->offsets[s->count]),
          "the set read by one thread is the set read by two");
    dy_signal_set_free(s1);
    dy_ctx_destroy(one);
    dy_signal_set_free(s);
    /* unlabelled: the whole tree, labels -1; no speakers when not asked */
    o.labelled = false;
    o.speakers = false;
    s = NULL;
    CHECK(dy_signal_load_audio_folder(ctx, dir, &o, &s) == DY_OK && s->count == 4 && s->labels[0] == -1 &&
              s->num_classes == 0 && s->groups == NULL && dy_signal_length(s, 1) == 800,
          "unlabelled audio folder: %s", dy_ctx_error(ctx));
    dy_signal_set_free(s);
    /* channels 0: kept as the files have them, which must agree */
    o = dy_audio_folder_defaults();
    o.channels = 0;
    s = NULL;
    CHECK(dy_signal_load_audio_folder(ctx, dir, &o, &s) == DY_ERR_FORMAT && has(ctx, "bob_2.WAV") &&
              has(ctx, "2 channels"),
          "channels 0 with mono and stereo files: %s", dy_ctx_error(ctx));
    o.skip_bad = true;
    CHECK(dy_signal_load_audio_folder(ctx, dir, &o, &s) == DY_OK && s->count == 3 && s->skipped == 1 &&
              strstr(s->skipped_files[0], "bob_2.WAV"),
          "channels 0, skip_bad: the stereo file skipped and named: %s", dy_ctx_error(ctx));
    dy_signal_set_free(s);
    make_dir("st/x");
    write_pcm16(tmp_path("st/x/a_1.wav"), 2, 16000, 500, ramp);
    snprintf(dir, sizeof dir, "%s/st", tmpdir);
    s = NULL;
    o.skip_bad = false;
    bool ok = dy_signal_load_audio_folder(ctx, dir, &o, &s) == DY_OK && s->channels == 2 &&
              dy_signal_length(s, 0) == 500;
    for (int64_t t = 0; ok && t < 500; t++)
        ok = dy_signal_channel(s, 0, 0)[t] == q16(ramp(t, 0)) && dy_signal_channel(s, 0, 1)[t] == -0.25f;
    CHECK(ok, "channels 0 keeps a stereo file's channels, planar: %s", dy_ctx_error(ctx));
    dy_signal_set_free(s);
    /* options and folders refused */
    o = dy_audio_folder_defaults();
    o.sample_rate = 10;
    CHECK(dy_signal_load_audio_folder(ctx, dir, &o, &s) == DY_ERR_INVALID && has(ctx, "sample rate"),
          "sample rate 10 Hz refused: %s", dy_ctx_error(ctx));
    o = dy_audio_folder_defaults();
    o.max_seconds = 0;
    CHECK(dy_signal_load_audio_folder(ctx, dir, &o, &s) == DY_ERR_INVALID && has(ctx, "max_seconds"),
          "max_seconds 0 refused: %s", dy_ctx_error(ctx));
    snprintf(dir, sizeof dir, "%s/none", tmpdir);
    CHECK(dy_signal_load_audio_folder(ctx, dir, NULL, &s) == DY_ERR_IO && has(ctx, "missing folder"),
          "missing folder: %s", dy_ctx_error(ctx));
    make_dir("empty/k");
    snprintf(dir, sizeof dir, "%s/empty", tmpdir);
    CHECK(dy_signal_load_audio_folder(ctx, dir, NULL, &s) == DY_ERR_FORMAT && has(ctx, "no audio files"),
          "no audio files: %s", dy_ctx_error(ctx));
    snprintf(dir, sizeof dir, "%s/st/x", tmpdir);
    CHECK(dy_signal_load_audio_folder(ctx, dir, NULL, &s) == DY_ERR_FORMAT && has(ctx, "no class sub-folders") &&
              has(ctx, "audio folder"),
          "labelled folder without classes: %s", dy_ctx_error(ctx));
}

/* ---- hostile files --------------------------------------------------------------------------------------------- */

enum { RATE = 16000, TEN_HOURS = 36000 };

/* A header for data_bytes of data, followed by have bytes of a quiet tone (0 channels, rates and formats as given). */
static void write_claim(const char *path, unsigned format, unsigned channels, uint32_t rate, unsigned bits,
                        uint32_t data_bytes, uint32_t have) {
    unsigned char *b = calloc(44 + have, 1);
    wav_header(b, format, channels, rate, bits, data_bytes);
    for (uint32_t i = 0; i < have; i++) b[44 + i] = (unsigned char)(i * 7);
    write_raw(path, b, 44 + have);
    free(b);
}

static void bad_truncated(const char *p) { write_claim(p, 1, 1, RATE, 16, 32000, 1000); }
static void bad_header(const char *p) { write_raw(p, "RIFF\x10\0\0\0WAVXjunkjunkjunkjunk", 24); }
static void bad_text(const char *p) { write_raw(p, "this is not a sound file at all\n", 32); }
static void bad_empty_file(const char *p) { write_raw(p, "", 0); }
static void bad_zero_channels(const char *p) { write_claim(p, 1, 0, RATE, 16, 1000, 1000); }
static void bad_ten_hours_claimed(const char *p) {
    write_claim(p, 1, 1, RATE, 16, (uint32_t)RATE * 2 * TEN_HOURS, 32000);
}
/* a real 10-hour file, sparse: its header and a hole of 1.15 GB that takes no disk */
static void bad_ten_hours(const char *p) {
    write_claim(p, 1, 1, RATE, 16, (uint32_t)RATE * 2 * TEN_HOURS, 0);
    CHECK(truncate(p, 44 + (off_t)RATE * 2 * TEN_HOURS) == 0, "a sparse 10-hour WAV");
}
static void bad_mp3_in_wav(const char *p) { write_claim(p, 0x0055, 1, RATE, 0, 2000, 2000); }
static void bad_unknown_codec(const char *p) { write_claim(p, 0x7a7a, 1, RATE, 16, 2000, 2000); }
static void bad_no_samples(const char *p) { write_claim(p, 1, 1, RATE, 16, 0, 0); }
static void bad_rate_zero(const char *p) { write_claim(p, 1, 1, 0, 16, 1000, 1000); }
static void bad_chunk_past_end(const char *p) {
    unsigned char b[60] = {0};
    wav_header(b, 1, 1, RATE, 16, 16);
    memcpy(b + 36, "LIST", 4); /* a chunk before the data claims 4 GB */
    put32(b + 40, 0xfffffff0u);
    write_raw(p, b, sizeof b);
}
static void bad_nan(const char *p) {
    unsigned char b[44 + 16];
    wav_header(b, 3, 1, RATE, 32, 16);
    const float v[4] = {0.5f, NAN, -0.5f, 0.0f};
    memcpy(b + 44, v, sizeof v);
    write_raw(p, b, sizeof b);
}

static void bad_no_data_chunk(const char *p) {
    unsigned char b[44];
    wav_header(b, 1, 1, RATE, 16, 0);
    write_raw(p, b, 36); /* RIFF, WAVE and the format chunk, and nothing after */
}
static void bad_cut_flac(const char *p) {
    write_flac(p, 16000);
    FILE *f = fopen(p, "rb");
    long n = 0;
    if (f && fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (f) fclose(f);
    CHECK(n > 1000 && truncate(p, n / 2) == 0, "a FLAC file cut in half");
}

typedef struct {
    const char *file;
    void (*write)(const char *path);
    const char *needle; /* what the message must say, beside the file's name */
} hostile;

static const hostile HOSTILE[] = {
    {"cut.wav", bad_truncated, "truncated WAV: its data chunk declares 32000 bytes"},
    {"hdr.wav", bad_header, "cannot decode (libsndfile: Format not recognised"},
    {"txt.wav", bad_text, "cannot decode (libsndfile: Format not recognised"},
    {"nil.wav", bad_empty_file, "cannot decode"},
    {"mono0.wav", bad_zero_channels, "0 channels"},
    {"claim.wav", bad_ten_hours_claimed, "(36000.0 s of audio), the file holds 32000"},
    {"long.wav", bad_ten_hours, "lasts 36000.0 s (576000000 frames at 16000 Hz), above the limit of 30 s"},
    {"mp3.wav", bad_mp3_in_wav, "cannot decode its WAV encoding 0x0055 (MPEG layer 3"},
    {"codec.wav", bad_unknown_codec, "cannot decode its WAV encoding 0x7a7a (not PCM"},
    {"none.wav", bad_no_samples, "holds no samples"},
    {"r0.wav", bad_rate_zero, "sample rate 0 Hz"},
    {"chunk.wav", bad_chunk_past_end, "past the end"},
    {"nan.wav", bad_nan, "sample 1 of channel 0 is not finite"},
    {"nodata.wav", bad_no_data_chunk, "WAV header ends before its data chunk"},
    {"cut.flac", bad_cut_flac, "truncated: its header declares 16000 frames"},
};

static void test_hostile(dy_ctx *ctx) {
    const int n = (int)(sizeof HOSTILE / sizeof HOSTILE[0]);
    make_dir("all/c");
    write_pcm16(tmp_path("all/c/good_1.wav"), 1, RATE, 400, ramp);
    for (int i = 0; i < n; i++) {
        char rel[256], dir[512];
        snprintf(rel, sizeof rel, "bad%d/c", i);
        make_dir(rel);
        snprintf(rel, sizeof rel, "bad%d/c/%s", i, HOSTILE[i].file);
        HOSTILE[i].write(tmp_path(rel));
        snprintf(rel, sizeof rel, "all/c/%s", HOSTILE[i].file);
        HOSTILE[i].write(tmp_path(rel));
        snprintf(dir, sizeof dir, "%s/bad%d", tmpdir, i);
        dy_signal_set *s = NULL;
        dy_status st = dy_signal_load_audio_folder(ctx, dir, NULL, &s);
        CHECK(st != DY_OK && s == NULL && has(ctx, HOSTILE[i].file) && has(ctx, HOSTILE[i].needle),
              "%s: refused with its name and \"%s\": %s", HOSTILE[i].file, HOSTILE[i].needle, dy_ctx_error(ctx));
    }
    char dir[512];
    /* compressed, but decoded by libsndfile: read (mu-law: within half a step of its largest segment, 1/64) */
    make_dir("ulaw/c");
    write_ulaw(tmp_path("ulaw/c/u_1.wav"), 800);
    snprintf(dir, sizeof dir, "%s/ulaw", tmpdir);
    dy_audio_folder_options uo = dy_audio_folder_defaults();
    uo.sample_rate = 8000;
    dy_signal_set *u = NULL;
    double eu = INFINITY;
    if (dy_signal_load_audio_folder(ctx, dir, &uo, &u) == DY_OK && dy_signal_length(u, 0) == 800) {
        eu = 0;
        for (int64_t t = 0; t < 800; t++) eu = fmax(eu, fabs(dy_signal_channel(u, 0, 0)[t] - ramp(t, 0)));
    }
    CHECK(eu <= 1.0 / 64, "a mu-law WAV is read: max error %.3g against its source: %s", eu, dy_ctx_error(ctx));
    dy_signal_set_free(u);
    snprintf(dir, sizeof dir, "%s/all", tmpdir);
    dy_audio_folder_options o = dy_audio_folder_defaults();
    o.skip_bad = true;
    dy_signal_set *s = NULL;
    bool ok = dy_signal_load_audio_folder(ctx, dir, &o, &s) == DY_OK && s->count == 1 && s->skipped == n &&
              dy_signal_length(s, 0) == 400 && !strcmp(s->group_names[0], "good");
    for (int64_t i = 0; ok && i < s->skipped; i++) ok = strstr(s->skipped_files[i], "/all/c/") != NULL;
    CHECK(ok, "skip_bad: the good file read, the %d hostile ones skipped and named: %s", n, dy_ctx_error(ctx));
    dy_signal_set_free(s);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dy_test_audio_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    dy_ctx *ctx;
    dy_ctx_options o = {.threads = 2, .backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return 1;
    test_rfft();
    test_logmel(ctx);
    test_resampler(ctx);
    test_folder(ctx);
    test_hostile(ctx);
    dy_ctx_destroy(ctx);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) printf("could not remove %s\n", tmpdir);
    return test_finish();
}
