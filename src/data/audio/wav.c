/* Decoding one audio file (src/data/audio/audio.h): libsndfile reads it, after a check of a RIFF/WAVE header's
 * declared data length against the file's size (libsndfile itself quietly shortens a data chunk that runs past the
 * end of the file, so a truncated WAV would otherwise load as a shorter clip). */
#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/audio/audio.h"

enum { MAX_CHANNELS = 256, MAX_CHUNKS = 4096 };

static uint32_t le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Walks the chunks of an open RIFF/WAVE file from offset 12 to its data chunk, keeping its format chunk's fields. */
static dy_status walk_chunks(dy_ctx *ctx, const char *path, FILE *f, uint64_t size, dy_wav_header *w) {
    uint64_t pos = 12, byte_rate = 0;
    unsigned char h[16];
    for (int c = 0; c < MAX_CHUNKS; c++) {
        if (pos + 8 > size || fseeko(f, (off_t)pos, SEEK_SET) != 0 || fread(h, 1, 8, f) != 8)
            return dy_fail(ctx, DY_ERR_FORMAT, "%s: WAV header ends before its data chunk (truncated?)", path);
        const uint64_t len = le32(h + 4), body = pos + 8;
        if (!memcmp(h, "data", 4)) {
            if (len > size - body) {
                char dur[64] = "";
                if (byte_rate) snprintf(dur, sizeof dur, " (%.1f s of audio)", (double)len / (double)byte_rate);
                return dy_fail(ctx, DY_ERR_FORMAT,
                               "%s: truncated WAV: its data chunk declares %llu bytes%s, the file holds %llu after "
                               "its header (cut short, or written as a stream that never filled in the length)",
                               path, (unsigned long long)len, dur, (unsigned long long)(size - body));
            }
            return DY_OK;
        }
        if (len > size - body)
            return dy_fail(ctx, DY_ERR_FORMAT, "%s: WAV chunk '%.4s' declares %llu bytes, past the end of the file",
                           path, (const char *)h, (unsigned long long)len);
        if (!memcmp(h, "fmt ", 4) && len >= 16) {
            if (fread(h, 1, 16, f) != 16) return dy_fail(ctx, DY_ERR_IO, "%s: cannot read its format chunk", path);
            w->has_format = true;
            w->format = (unsigned)h[0] | (unsigned)h[1] << 8;
            w->channels = (unsigned)h[2] | (unsigned)h[3] << 8;
            w->sample_rate = le32(h + 4);
            byte_rate = le32(h + 8);
            if (w->channels == 0)
                return dy_fail(ctx, DY_ERR_FORMAT, "%s: 0 channels in its WAV format chunk", path);
            if (w->sample_rate == 0)
                return dy_fail(ctx, DY_ERR_FORMAT, "%s: sample rate 0 Hz in its WAV format chunk", path);
        }
        pos = body + len + (len & 1); /* chunks are padded to an even size */
    }
    return dy_fail(ctx, DY_ERR_FORMAT, "%s: more than %d chunks before the WAV data chunk", path, (int)MAX_CHUNKS);
}

dy_status dy_wav_check_header(dy_ctx *ctx, const char *path, dy_wav_header *w) {
    memset(w, 0, sizeof *w);
    FILE *f = fopen(path, "rb");
    if (!f) return dy_fail(ctx, DY_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    unsigned char h[12];
    dy_status st = DY_OK;
    if (fstat(fileno(f), &sb) != 0) st = dy_fail(ctx, DY_ERR_IO, "%s: cannot stat (%s)", path, strerror(errno));
    else if (fread(h, 1, 12, f) == 12 && !memcmp(h, "RIFF", 4) && !memcmp(h + 8, "WAVE", 4)) {
        w->is_wave = true;
        st = walk_chunks(ctx, path, f, (uint64_t)sb.st_size, w);
    }
    fclose(f);
    return st;
}

/* The name of a WAV format tag, for the message about one libsndfile cannot decode. */
static const char *encoding_name(unsigned tag) {
    switch (tag) {
    case 0x0002: return "Microsoft ADPCM";
    case 0x0006: return "A-law";
    case 0x0007: return "mu-law";
    case 0x0011: return "IMA ADPCM";
    case 0x0031: return "GSM 6.10";
    case 0x0050: return "MPEG audio";
    case 0x0055: return "MPEG layer 3, MP3";
    case 0x0161: case 0x0162: case 0x0163: return "Windows Media Audio";
    case 0x00ff: case 0x1610: return "AAC";
    case 0xfffe: return "extensible: its sub-format";
    default: return "not PCM";
    }
}

/* Refuses what the file declares before anything is read. */
static dy_status check_info(dy_ctx *ctx, const char *path, const SF_INFO *info, double max_seconds) {
    if (info->channels < 1)
        return dy_fail(ctx, DY_ERR_FORMAT, "%s: %d channels (an audio file needs at least one)", path, info->channels);
    if (info->channels > MAX_CHANNELS)
        return dy_fail(ctx, DY_ERR_FORMAT, "%s: %d channels (at most %d)", path, info->channels, (int)MAX_CHANNELS);
    if (info->samplerate < 1 || info->samplerate > 1000000)
        return dy_fail(ctx, DY_ERR_FORMAT, "%s: sample rate %d Hz (expected 1 .. 1000000)", path, info->samplerate);
    if (info->frames <= 0) return dy_fail(ctx, DY_ERR_FORMAT, "%s: holds no samples", path);
    const double seconds = (double)info->frames / info->samplerate;
    if (seconds > max_seconds)
        return dy_fail(ctx, DY_ERR_FORMAT,
                       "%s: lasts %.1f s (%lld frames at %d Hz), above the limit of %g s per clip (max_seconds)", path,
                       seconds, (long long)info->frames, info->samplerate, max_seconds);
    return DY_OK;
}

/* Reads every declared frame; fewer is an error (truncated, or data libsndfile could not decode). */
static dy_status read_all(dy_ctx *ctx, const char *path, SNDFILE *sf, dy_audio_clip *c) {
    sf_count_t got = 0;
    while (got < c->frames) {
        sf_count_t want = c->frames - got < 65536 ? c->frames - got : 65536;
        sf_count_t r = sf_readf_float(sf, c->samples + got * c->channels, want);
        if (r <= 0) break;
        got += r;
    }
    if (sf_error(sf) != SF_ERR_NO_ERROR)
        return dy_fail(ctx, DY_ERR_FORMAT, "%s: cannot decode its samples (libsndfile: %s)", path, sf_strerror(sf));
    if (got < c->frames)
        return dy_fail(ctx, DY_ERR_FORMAT, "%s: truncated: its header declares %lld frames, %lld could be read", path,
                       (long long)c->frames, (long long)got);
    const int64_t n = c->frames * c->channels;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(c->samples[i]))
            return dy_fail(ctx, DY_ERR_NUMERIC, "%s: sample %lld of channel %d is not finite (%g)", path,
                           (long long)(i / c->channels), (int)(i % c->channels), (double)c->samples[i]);
    return DY_OK;
}

dy_status dy_audio_decode(dy_ctx *ctx, const char *path, double max_seconds, dy_audio_clip *out) {
    memset(out, 0, sizeof *out);
    dy_wav_header w;
    DY_TRY(dy_wav_check_header(ctx, path, &w));
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf && w.has_format && w.format != 1 && w.format != 3)
        return dy_fail(ctx, DY_ERR_FORMAT, "%s: cannot decode its WAV encoding 0x%04x (%s; libsndfile: %s)", path,
                       w.format, encoding_name(w.format), sf_strerror(NULL));
    if (!sf) return dy_fail(ctx, DY_ERR_FORMAT, "%s: cannot decode (libsndfile: %s)", path, sf_strerror(NULL));
    dy_status st;
    if ((st = check_info(ctx, path, &info, max_seconds)) != DY_OK) goto done;
    out->frames = info.frames;
    out->channels = info.channels;
    out->sample_rate = info.samplerate;
    out->samples = malloc(sizeof(float) * (size_t)info.frames * (size_t)info.channels);
    if (!out->samples) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for %lld frames", path, (long long)info.frames);
        goto done;
    }
    st = read_all(ctx, path, sf, out);
done:
    sf_close(sf);
    if (st != DY_OK) dy_audio_clip_free(out);
    return st;
}

void dy_audio_clip_free(dy_audio_clip *c) {
    if (!c) return;
    free(c->samples);
    memset(c, 0, sizeof *c);
}
