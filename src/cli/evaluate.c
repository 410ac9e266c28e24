#include "cli/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "eval/embed.h"
#include "io/atomic_file.h"
#include "io/json.h"

dy_status cli_features(dy_ctx *ctx, dy_model *model, const dy_dataset *train, const dy_dataset *ds, float **features,
                       int64_t *dim) {
    dy_augment eval_aug;
    dy_status st = dy_augment_preset(ctx, &eval_aug, "eval", train);
    if (st != DY_OK) return st;
    if (model) return dy_embed_dataset(ctx, model, ds, &eval_aug, 256, false, features, dim);
    /* raw pixels as docs/METHOD.md measures them: values scaled to [0, 1], flattened */
    *dim = (int64_t)ds->channels * ds->height * ds->width;
    return dy_eval_pixel_features(ctx, ds->pixels, ds->count, *dim, features);
}

static dy_status finish_scores(dy_ctx *ctx, const dy_eval_accuracy *acc, const dy_dataset *train, bool per_class,
                               eval_scores *out) {
    out->top1 = acc->top1;
    out->top5 = acc->top5;
    out->many = out->medium = out->few = NAN;
    out->has_shots = false;
    if (per_class) {
        for (int64_t c = 0; c < acc->classes; c++)
            printf("    class %-3lld %-20s %6.2f %% (%lld images)\n", (long long)c,
                   train->class_names ? train->class_names[c] : "", 100 * acc->class_top1[c],
                   (long long)acc->class_samples[c]);
    }
    /* many/medium/few-shot accuracy when the training set is long-tailed (its class counts differ) */
    bool tailed = false;
    for (int c = 1; c < train->num_classes; c++) tailed |= train->class_counts[c] != train->class_counts[0];
    if (tailed) {
        dy_shot_options so = dy_shot_defaults();
        dy_shot_accuracy sa;
        dy_status st = dy_eval_shot_accuracy(ctx, acc, train->class_counts, &so, &sa);
        if (st != DY_OK) return st;
        out->many = sa.many;
        out->medium = sa.medium;
        out->few = sa.few;
        out->has_shots = true;
    }
    return DY_OK;
}

dy_status cli_knn(dy_ctx *ctx, const float *ftr, const dy_dataset *train, const float *fte, const dy_dataset *test,
                  int64_t dim, int64_t k, double t, bool per_class, eval_scores *out) {
    int64_t *ltr = dy_labels_int64(train), *lte = dy_labels_int64(test);
    dy_eval_accuracy acc = {0};
    dy_status st = DY_OK;
    if (!ltr || !lte) st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory for labels");
    dy_knn_options ko = dy_knn_defaults();
    ko.k = k < train->count ? k : train->count;
    ko.temperature = (float)t;
    if (st == DY_OK)
        st = dy_knn_evaluate(ctx, ftr, ltr, train->count, fte, lte, test->count, dim, train->num_classes, &ko, NULL,
                             &acc);
    if (st == DY_OK) st = finish_scores(ctx, &acc, train, per_class, out);
    dy_eval_accuracy_free(&acc);
    free(ltr);
    free(lte);
    return st;
}

/* A copy of x [n, d] with L2-normalised rows, or NULL (the error set in ctx). */
static float *normalized_copy(dy_ctx *ctx, const float *x, int64_t n, int64_t d) {
    float *y = malloc((size_t)(n * d) * sizeof *y);
    if (!y) {
        dy_fail(ctx, DY_ERR_NOMEM, "out of memory for %lld x %lld normalised features", (long long)n, (long long)d);
        return NULL;
    }
    if (dy_l2_normalize(ctx, y, x, n, d) != DY_OK) {
        free(y);
        return NULL;
    }
    return y;
}

dy_status cli_linear_cached(dy_ctx *ctx, const float *ftr, const dy_dataset *train, const float *fte,
                            const dy_dataset *test, int64_t dim, const dy_probe_options *po, bool normalize,
                            bool per_class, eval_scores *out) {
    int64_t *ltr = dy_labels_int64(train), *lte = dy_labels_int64(test);
    float *ntr = NULL, *nte = NULL;
    dy_eval_accuracy acc = {0};
    dy_probe *probe = NULL;
    dy_status st = DY_OK;
    if (!ltr || !lte) st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory for labels");
    if (st == DY_OK && normalize) {
        if (!(ntr = normalized_copy(ctx, ftr, train->count, dim)) || !(nte = normalized_copy(ctx, fte, test->count, dim)))
            st = DY_ERR_NOMEM;
        ftr = ntr;
        fte = nte;
    }
    if (st == DY_OK) st = dy_probe_create(ctx, &probe, dim, train->num_classes, po);
    if (st == DY_OK) st = dy_probe_train_cached(ctx, probe, ftr, ltr, train->count, NULL, NULL);
    if (st == DY_OK) st = dy_probe_evaluate(ctx, probe, fte, lte, test->count, NULL, &acc);
    if (st == DY_OK) st = finish_scores(ctx, &acc, train, per_class, out);
    dy_probe_destroy(probe);
    dy_eval_accuracy_free(&acc);
    free(ntr);
    free(nte);
    free(ltr);
    free(lte);
    return st;
}

typedef struct {
    dy_ctx *ctx;
    dy_model *model;
    const dy_augment *aug;
    const dy_dataset *train;
    uint64_t seed;
    float *images;   /* [batch, c, h, w] */
    int64_t dim;
    bool normalize;  /* L2-normalise the features before the probe sees them */
} augmented_feed;

static dy_status feed_batch(void *user, int64_t epoch, const int64_t *indices, int64_t count, float *features,
                            int64_t *labels) {
    augmented_feed *f = user;
    const dy_dataset *ds = f->train;
    int64_t px = (int64_t)ds->channels * ds->height * ds->width;
    int64_t out_px = (int64_t)ds->channels * f->aug->size[0] * f->aug->size[1];
    dy_status st = DY_OK;
#pragma omp parallel for num_threads(f->ctx->threads)
    for (int64_t i = 0; i < count; i++) {
        dy_status s = dy_augment_view(f->ctx, f->aug, ds->pixels + indices[i] * px, ds->channels, ds->height,
                                      ds->width, f->images + i * out_px, f->seed, epoch, indices[i], 0);
        if (s != DY_OK) st = s;
    }
    if (st != DY_OK) return st;
    if ((st = dy_model_embed(f->model, f->images, count, f->aug->size[0], f->aug->size[1], features)) != DY_OK)
        return st;
    if (f->normalize && (st = dy_l2_normalize(f->ctx, features, features, count, f->dim)) != DY_OK) return st;
    for (int64_t i = 0; i < count; i++) labels[i] = ds->labels[indices[i]];
    return DY_OK;
}

dy_status cli_linear_augmented(dy_ctx *ctx, dy_model *model, const dy_augment *aug, const dy_dataset *train,
                               const float *fte, const dy_dataset *test, const dy_probe_options *po, bool normalize,
                               bool per_class, eval_scores *out) {
    augmented_feed f = {.ctx = ctx, .model = model, .aug = aug, .train = train, .seed = po->seed + 1,
                        .dim = dy_model_feature_dim(model), .normalize = normalize};
    f.images = malloc((size_t)(po->batch_size * train->channels * aug->size[0] * aug->size[1]) * sizeof(float));
    int64_t *lte = dy_labels_int64(test);
    dy_probe *probe = NULL;
    dy_eval_accuracy acc = {0};
    dy_status st = DY_OK;
    float *nte = NULL;
    if (!f.images || !lte) st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory for the probe's batches");
    if (st == DY_OK && normalize) {
        if (!(nte = normalized_copy(ctx, fte, test->count, f.dim))) st = DY_ERR_NOMEM;
        fte = nte;
    }
    if (st == DY_OK) st = dy_probe_create(ctx, &probe, f.dim, train->num_classes, po);
    if (st == DY_OK) st = dy_probe_train(ctx, probe, train->count, feed_batch, NULL, &f);
    if (st == DY_OK) st = dy_probe_evaluate(ctx, probe, fte, lte, test->count, NULL, &acc);
    if (st == DY_OK) st = finish_scores(ctx, &acc, train, per_class, out);
    dy_probe_destroy(probe);
    dy_eval_accuracy_free(&acc);
    free(f.images);
    free(nte);
    free(lte);
    return st;
}

/* A score as JSON: the number, or null for NaN (a group of classes with no test sample). */
static void json_score(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, ", \"%s\": %.6f", key, v);
    else fprintf(f, ", \"%s\": null", key);
}

/* s as a JSON string; bytes that are not valid UTF-8 (a file name in another encoding) become '?'. */
static void json_string(FILE *f, const char *s) {
    size_t bad = 0, n = strlen(s);
    bool valid = dy_json_valid_utf8(s, n, &bad);
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else if (c >= 0x80 && !valid) fputc('?', f);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* --skip-bad: the count of each split's skipped images and the first CLI_SKIPPED_SHOWN names of each. */
static void json_skipped(FILE *f, const dy_dataset *train, const dy_dataset *test) {
    const dy_dataset *splits[2] = {train, test};
    fprintf(f, ", \"skipped_train\": %lld, \"skipped_test\": %lld, \"skipped_files\": [",
            (long long)(train ? train->skipped : 0), (long long)(test ? test->skipped : 0));
    int written = 0;
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; splits[s] && splits[s]->skipped_files && i < splits[s]->skipped && i < CLI_SKIPPED_SHOWN;
             i++) {
            if (written++) fputs(", ", f);
            json_string(f, splits[s]->skipped_files[i]);
        }
    fputc(']', f);
}

dy_status cli_write_scores_json(dy_ctx *ctx, const char *path, const char *features, const char *protocol,
                                const eval_scores *s, const dy_dataset *train, const dy_dataset *test) {
    dy_atomic_file af;
    dy_status st = dy_atomic_open(ctx, &af, path);
    if (st != DY_OK) return st;
    /* features and protocol are fixed words of the CLI (encoder, pixels, random; knn, linear): nothing to escape */
    fprintf(af.fp, "{\"features\": \"%s\", \"protocol\": \"%s\"", features, protocol);
    json_score(af.fp, "top1", s->top1);
    json_score(af.fp, "top5", s->top5);
    if (s->has_shots) {
        json_score(af.fp, "many", s->many);
        json_score(af.fp, "medium", s->medium);
        json_score(af.fp, "few", s->few);
    }
    json_skipped(af.fp, train, test);
    fputs("}\n", af.fp);
    return dy_atomic_commit(ctx, &af); /* flush, fsync and close are checked there: a full disk is an error */
}
