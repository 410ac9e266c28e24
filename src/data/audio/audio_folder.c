/* Audio folders (include/dystress/signal.h): listed as image folders are (src/data/folder_list.c), each file decoded
 * by libsndfile (wav.c), mixed down or kept multichannel, resampled (resample.c) to one rate; files are read in
 * parallel (OpenMP) and the set does not depend on the thread count. Speakers (the set's groups) come from the file
 * names: up to the first '_'. */
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/audio/audio.h"
#include "data/dataset.h"
#include "data/folder_list.h"

static const char *const AUDIO_EXTS[] = {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif",
                                         ".aiff", ".aifc", ".au",  ".snd",  ".caf", ".w64", ".rf64"};

static bool is_audio_name(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return false;
    for (size_t i = 0; i < sizeof AUDIO_EXTS / sizeof AUDIO_EXTS[0]; i++)
        if (!strcasecmp(dot, AUDIO_EXTS[i])) return true;
    return false;
}

dy_audio_folder_options dy_audio_folder_defaults(void) {
    dy_audio_folder_options o = {.sample_rate = 16000, .channels = 1, .max_seconds = 30, .labelled = true,
                                 .skip_bad = false, .speakers = true};
    return o;
}

static dy_status check_options(dy_ctx *ctx, const char *dir, const dy_audio_folder_options *o) {
    if (!(o->sample_rate >= 1000 && o->sample_rate <= 384000))
        return dy_fail(ctx, DY_ERR_INVALID, "%s: sample rate %g Hz not in 1000 .. 384000", dir, o->sample_rate);
    if (o->channels != 0 && o->channels != 1)
        return dy_fail(ctx, DY_ERR_INVALID, "%s: channels %d (1: mixed down to mono; 0: as the files have them)",
                       dir, o->channels);
    if (!(o->max_seconds > 0 && o->max_seconds <= 3600))
        return dy_fail(ctx, DY_ERR_INVALID, "%s: max_seconds %g not in (0, 3600]", dir, o->max_seconds);
    return DY_OK;
}

/* The channel count of the first file libsndfile opens (the one every file must have when channels is 0). */
static int first_channels(const dy_str_list *files) {
    for (int64_t i = 0; i < files->n; i++) {
        SF_INFO info;
        memset(&info, 0, sizeof info);
        SNDFILE *sf = sf_open(files->v[i], SFM_READ, &info);
        if (!sf) continue;
        sf_close(sf);
        if (info.channels >= 1) return info.channels;
    }
    return 0;
}

typedef struct {
    const dy_str_list *files;
    const dy_audio_folder_options *o;
    int channels;   /* every clip's channels in the set */
    float **clips;  /* [files] planar [channels][lengths[i]] */
    int64_t *lengths;
} audio_job;

/* The mean of the clip's channels, in place (sample t moves to t, read from t * C .. t * C + C - 1 >= t). */
static void mix_down(dy_audio_clip *c) {
    for (int64_t t = 0; t < c->frames; t++) {
        double sum = 0;
        for (int ch = 0; ch < c->channels; ch++) sum += c->samples[t * c->channels + ch];
        c->samples[t] = (float)(sum / c->channels);
    }
    c->channels = 1;
}

static dy_status load_audio(dy_ctx *local, int64_t i, void *user) {
    const audio_job *job = user;
    const char *path = job->files->v[i];
    dy_audio_clip c;
    DY_TRY(dy_audio_decode(local, path, job->o->max_seconds, &c));
    dy_resampler *r = NULL;
    float *y = NULL;
    dy_status st = DY_OK;
    if (job->o->channels == 0 && c.channels != job->channels) {
        st = dy_fail(local, DY_ERR_FORMAT, "%s: %d channels where the folder's first file has %d (channels 0 keeps "
                     "the files' channels, which must agree)", path, c.channels, job->channels);
        goto done;
    }
    if (job->o->channels == 1 && c.channels > 1) mix_down(&c);
    if ((st = dy_resampler_create(local, &r, path, c.sample_rate, job->o->sample_rate)) != DY_OK) goto done;
    const int64_t n = dy_resampler_length(r, c.frames);
    if (!(y = malloc(sizeof(float) * (size_t)n * (size_t)c.channels))) {
        st = dy_fail(local, DY_ERR_NOMEM, "%s: out of memory for %lld samples", path, (long long)n);
        goto done;
    }
    for (int ch = 0; ch < c.channels; ch++)
        if ((st = dy_resampler_run(local, r, c.samples + ch, c.frames, c.channels, y + ch * n)) != DY_OK) goto done;
    job->clips[i] = y;
    job->lengths[i] = n;
    y = NULL;
done:
    free(y);
    dy_resampler_free(r);
    dy_audio_clip_free(&c);
    return st;
}

/* Where the speaker's name ends in the file name of path: its first '_', else its extension's '.'. */
static char *speaker_of(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *end = strchr(base, '_');
    if (!end || end == base) end = strrchr(base, '.');
    if (!end || end == base) end = base + strlen(base);
    return strndup(base, (size_t)(end - base));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* s->groups and s->group_names from the speakers of the kept files (paths[i], i < s->count). */
static dy_status assign_speakers(dy_ctx *ctx, dy_signal_set *s, char *const *paths) {
    char **names = calloc((size_t)s->count, sizeof(char *));
    char **sorted = calloc((size_t)s->count, sizeof(char *));
    s->groups = malloc(sizeof(int32_t) * (size_t)s->count);
    s->group_names = calloc((size_t)s->count, sizeof(char *));
    dy_status st = DY_OK;
    if (!names || !sorted || !s->groups || !s->group_names) goto nomem;
    for (int64_t i = 0; i < s->count; i++)
        if (!(names[i] = speaker_of(paths[i]))) goto nomem;
    memcpy(sorted, names, sizeof(char *) * (size_t)s->count);
    qsort(sorted, (size_t)s->count, sizeof(char *), cmp_str);
    for (int64_t i = 0; i < s->count; i++) {
        if (s->num_groups > 0 && !strcmp(sorted[i], s->group_names[s->num_groups - 1])) continue;
        if (!(s->group_names[s->num_groups] = strdup(sorted[i]))) goto nomem;
        s->num_groups++;
    }
    for (int64_t i = 0; i < s->count; i++) {
        char **hit = bsearch(&names[i], s->group_names, (size_t)s->num_groups, sizeof(char *), cmp_str);
        s->groups[i] = (int32_t)(hit - s->group_names);
    }
    goto done;
nomem:
    st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory naming the speakers");
done:
    if (names)
        for (int64_t i = 0; i < s->count; i++) free(names[i]);
    free(names);
    free(sorted);
    return st;
}

/* Moves the kept clips (ok[i]) into s in file order, with their labels and class counts. */
static dy_status assemble(dy_ctx *ctx, dy_signal_set *s, const audio_job *job, const bool *ok,
                          const int32_t *file_class) {
    const int64_t n = job->files->n;
    int64_t count = 0, total = 0;
    for (int64_t i = 0; i < n; i++)
        if (ok[i]) count++, total += job->lengths[i] * job->channels;
    s->offsets = malloc(sizeof(int64_t) * (size_t)(count + 1));
    s->samples = malloc(sizeof(float) * (size_t)total);
    s->labels = malloc(sizeof(int32_t) * (size_t)count);
    s->class_counts = calloc((size_t)(s->num_classes > 0 ? s->num_classes : 1), sizeof(int64_t));
    if (!s->offsets || !s->samples || !s->labels || !s->class_counts)
        return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for %lld clips (%lld samples)", (long long)count,
                       (long long)total);
    s->count = count;
    s->offsets[0] = 0;
    for (int64_t i = 0, k = 0; i < n; i++) {
        if (!ok[i]) continue;
        const int64_t len = job->lengths[i] * job->channels;
        memcpy(s->samples + s->offsets[k], job->clips[i], sizeof(float) * (size_t)len);
        s->offsets[k + 1] = s->offsets[k] + len;
        s->labels[k] = file_class ? file_class[i] : -1;
        if (file_class) s->class_counts[file_class[i]]++;
        k++;
    }
    return DY_OK;
}

/* The paths of the kept files, in order (for the speakers). */
static char **kept_paths(const dy_str_list *files, const bool *ok, int64_t count) {
    char **p = malloc(sizeof(char *) * (size_t)(count ? count : 1));
    if (!p) return NULL;
    for (int64_t i = 0, k = 0; i < files->n; i++)
        if (ok[i]) p[k++] = files->v[i];
    return p;
}

dy_status dy_signal_load_audio_folder(dy_ctx *ctx, const char *dir, const dy_audio_folder_options *opts,
                                      dy_signal_set **out) {
    if (!out || !dir) return dy_fail(ctx, DY_ERR_INVALID, "dy_signal_load_audio_folder: NULL argument");
    *out = NULL;
    const dy_audio_folder_options o = opts ? *opts : dy_audio_folder_defaults();
    DY_TRY(check_options(ctx, dir, &o));
    dy_str_list files, classes;
    int32_t *file_class = NULL;
    DY_TRY(dy_folder_list(ctx, dir, o.labelled, is_audio_name, "audio", &files, &file_class, &classes));
    dy_signal_set *s = NULL;
    bool *ok = NULL;
    char **paths = NULL;
    audio_job job = {.files = &files, .o = &o, .channels = o.channels ? o.channels : first_channels(&files)};
    dy_status st = DY_OK;
    if (files.n == 0) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: no audio files found (.wav, .flac, .ogg, .mp3, .aiff, .au, ...)", dir);
        goto done;
    }
    s = calloc(1, sizeof *s);
    ok = calloc((size_t)files.n, sizeof(bool));
    job.clips = calloc((size_t)files.n, sizeof(float *));
    job.lengths = calloc((size_t)files.n, sizeof(int64_t));
    if (!s || !ok || !job.clips || !job.lengths) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for %lld files", dir, (long long)files.n);
        goto done;
    }
    s->kind = DY_SIGNAL_AUDIO;
    s->channels = job.channels;
    s->sample_rate = o.sample_rate;
    st = dy_folder_load_all(ctx, dir, &files, load_audio, &job, o.skip_bad, "audio files", ok, &s->skipped_files,
                            &s->skipped);
    if (st != DY_OK) goto done;
    if (o.labelled) { /* the class names move to the set */
        s->num_classes = (int)classes.n;
        s->class_names = classes.v;
        memset(&classes, 0, sizeof classes);
    }
    if ((st = assemble(ctx, s, &job, ok, o.labelled ? file_class : NULL)) != DY_OK) goto done;
    if (o.speakers) {
        if (!(paths = kept_paths(&files, ok, s->count))) {
            st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
            goto done;
        }
        st = assign_speakers(ctx, s, paths);
    }
done:
    if (job.clips)
        for (int64_t i = 0; i < files.n; i++) free(job.clips[i]);
    free(job.clips);
    free(job.lengths);
    free(paths);
    free(ok);
    free(file_class);
    dy_str_list_free(&files);
    dy_str_list_free(&classes);
    if (st != DY_OK) dy_signal_set_free(s);
    else *out = s;
    return st;
}
