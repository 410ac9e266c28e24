/* The evaluation protocols on data sets (protocols.h): features, kNN, linear probe, fine-tuning, as scores. */
#include "eval/protocols.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/rng.h"
#include "eval/embed.h"

int64_t dy_knn_neighbours(int64_t k, int64_t n_train) { return k < n_train ? k : n_train; }

dy_status dy_eval_features(dy_ctx *ctx, dy_model *model, const dy_dataset *stats, const dy_dataset *ds,
                           float **features, int64_t *dim) {
    dy_augment eval_aug;
    dy_status st = dy_augment_preset(ctx, &eval_aug, "eval", stats);
    if (st != DY_OK) return st;
    if (model) return dy_embed_dataset(ctx, model, ds, &eval_aug, 256, false, features, dim);
    /* raw pixels as docs/METHOD.md measures them: values scaled to [0, 1], flattened */
    *dim = (int64_t)ds->channels * ds->height * ds->width;
    return dy_eval_pixel_features(ctx, ds->pixels, ds->count, *dim, features);
}

#define DY_EVAL_TAILED_RATIO 2

/* The scores of acc; the classes grouped (many/medium/few, thirds) when the set is long-tailed, as d->group_counts
 * (or train's counts) say; acc handed to d->acc when asked for (then the caller frees it), else left to the caller's
 * dy_eval_accuracy_free as always. */
static dy_status finish_scores(dy_ctx *ctx, dy_eval_accuracy *acc, const dy_dataset *train, const dy_eval_detail *d,
                               dy_eval_scores *out) {
    const int64_t *counts = d && d->group_counts ? d->group_counts : train->class_counts;
    out->top1 = acc->top1;
    out->top5 = acc->top5;
    out->many = out->medium = out->few = NAN;
    out->head = out->middle = out->tail = out->gap = NAN;
    out->head_classes = out->middle_classes = out->tail_classes = 0;
    out->has_shots = false;
    /* many/medium/few-shot accuracy and the thirds when the training set is long-tailed: its largest class has at least
     * DY_EVAL_TAILED_RATIO times the images of its smallest (a random hold-out of a balanced set differs by a few
     * images a class, and its "head" and "tail" would be noise) */
    int64_t lo = INT64_MAX, hi = 0;
    for (int c = 0; c < train->num_classes; c++) {
        if (counts[c] < lo) lo = counts[c];
        if (counts[c] > hi) hi = counts[c];
    }
    if (train->num_classes > 1 && hi >= DY_EVAL_TAILED_RATIO * lo) {
        dy_shot_options so = dy_shot_defaults();
        dy_shot_accuracy sa;
        dy_thirds_accuracy ta;
        dy_status st = dy_eval_shot_accuracy(ctx, acc, counts, &so, &sa);
        if (st == DY_OK) st = dy_eval_thirds_accuracy(ctx, acc, counts, &ta);
        if (st != DY_OK) return st;
        out->many = sa.many;
        out->medium = sa.medium;
        out->few = sa.few;
        out->head = ta.head;
        out->middle = ta.middle;
        out->tail = ta.tail;
        out->gap = ta.gap;
        out->head_classes = ta.head_classes;
        out->middle_classes = ta.middle_classes;
        out->tail_classes = ta.tail_classes;
        out->has_shots = true;
    }
    if (d && d->acc) {
        *d->acc = *acc;
        memset(acc, 0, sizeof *acc);
    }
    return DY_OK;
}

dy_status dy_eval_knn(dy_ctx *ctx, const float *ftr, const dy_dataset *train, const float *fte, const dy_dataset *test,
                      int64_t dim, int64_t k, double t, const dy_eval_detail *d, dy_eval_scores *out) {
    if (d && d->acc) memset(d->acc, 0, sizeof *d->acc);
    int64_t *ltr = dy_labels_int64(train), *lte = dy_labels_int64(test);
    dy_eval_accuracy acc = {0};
    dy_status st = DY_OK;
    if (!ltr || !lte) st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory for labels");
    dy_knn_options ko = dy_knn_defaults();
    ko.k = dy_knn_neighbours(k, train->count);
    ko.temperature = (float)t;
    if (st == DY_OK)
        st = dy_knn_evaluate(ctx, ftr, ltr, train->count, fte, lte, test->count, dim, train->num_classes, &ko, NULL,
                             &acc);
    if (st == DY_OK) st = finish_scores(ctx, &acc, train, d, out);
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

dy_status dy_eval_linear_cached(dy_ctx *ctx, const float *ftr, const dy_dataset *train, const float *fte,
                                const dy_dataset *test, int64_t dim, const dy_probe_options *po, bool normalize,
                                const dy_eval_detail *d, dy_eval_scores *out) {
    if (d && d->acc) memset(d->acc, 0, sizeof *d->acc);
    int64_t *ltr = dy_labels_int64(train), *lte = dy_labels_int64(test);
    float *ntr = NULL, *nte = NULL;
    dy_eval_accuracy acc = {0};
    dy_probe *probe = NULL;
    dy_status st = DY_OK;
    if (!ltr || !lte) st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory for labels");
    if (st == DY_OK && normalize) {
        if (!(ntr = normalized_copy(ctx, ftr, train->count, dim)) ||
            !(nte = normalized_copy(ctx, fte, test->count, dim)))
            st = DY_ERR_NOMEM;
        ftr = ntr;
        fte = nte;
    }
    if (st == DY_OK) st = dy_probe_create(ctx, &probe, dim, train->num_classes, po);
    if (st == DY_OK) st = dy_probe_train_cached(ctx, probe, ftr, ltr, train->count, NULL, NULL);
    if (st == DY_OK) st = dy_probe_evaluate(ctx, probe, fte, lte, test->count, NULL, &acc);
    if (st == DY_OK) st = finish_scores(ctx, &acc, train, d, out);
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

dy_status dy_eval_linear_augmented(dy_ctx *ctx, dy_model *model, const dy_augment *aug, const dy_dataset *train,
                                   const float *fte, const dy_dataset *test, const dy_probe_options *po,
                                   bool normalize, const dy_eval_detail *d, dy_eval_scores *out) {
    if (d && d->acc) memset(d->acc, 0, sizeof *d->acc);
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
    if (st == DY_OK) st = finish_scores(ctx, &acc, train, d, out);
    dy_probe_destroy(probe);
    dy_eval_accuracy_free(&acc);
    free(f.images);
    free(nte);
    free(lte);
    return st;
}

dy_status dy_eval_finetune(dy_ctx *ctx, dy_model *model, const dy_augment *aug, const dy_dataset *train,
                           const dy_dataset *stats, const dy_dataset *test, const dy_eval_finetune_plan *plan,
                           const dy_eval_detail *d, dy_eval_scores *out) {
    const dy_finetune_options *fo = &plan->fo;
    const int64_t epochs = plan->epochs;
    int64_t batch = plan->batch;
    if (d && d->acc) memset(d->acc, 0, sizeof *d->acc);
    if (train->count < 2)
        return dy_fail(ctx, DY_ERR_INVALID, "fine-tuning needs 2 labelled images or more (batch norm), got %lld",
                       (long long)train->count);
    if (batch > train->count) batch = train->count;
    const int64_t px = (int64_t)train->channels * train->height * train->width;
    const int64_t out_px = (int64_t)train->channels * aug->size[0] * aug->size[1];
    float *images = malloc((size_t)(batch * out_px) * sizeof(float)), *fte = NULL;
    int64_t *order = malloc((size_t)train->count * sizeof(int64_t)), *labels = malloc((size_t)batch * sizeof(int64_t));
    int64_t *lte = dy_labels_int64(test), dim = 0;
    dy_finetune *ft = NULL;
    dy_eval_accuracy acc = {0};
    dy_status st = DY_OK;
    if (!images || !order || !labels || !lte) st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory for fine-tuning");
    if (st == DY_OK) st = dy_finetune_create(ctx, &ft, model, train->num_classes, fo);
    for (int64_t epoch = 0; st == DY_OK && epoch < epochs; epoch++) {
        for (int64_t i = 0; i < train->count; i++) order[i] = i;
        dy_rng r;
        dy_rng_init(&r, fo->seed, DY_RNG_EVAL, 3, (uint32_t)epoch);
        for (int64_t i = train->count - 1; i > 0; i--) { /* Fisher-Yates */
            int64_t j = (int64_t)dy_rng_below(&r, (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double sum = 0;
        int64_t steps = 0;
        for (int64_t b0 = 0; st == DY_OK && b0 + 2 <= train->count; b0 += batch) {
            int64_t n = train->count - b0 < batch ? train->count - b0 : batch;
            dy_status s = DY_OK;
#pragma omp parallel for num_threads(ctx->threads)
            for (int64_t i = 0; i < n; i++) {
                int64_t k = order[b0 + i];
                dy_status si = dy_augment_view(ctx, aug, train->pixels + k * px, train->channels, train->height,
                                               train->width, images + i * out_px, fo->seed + 1, epoch, k, 0);
                if (si != DY_OK) s = si;
            }
            for (int64_t i = 0; i < n; i++) labels[i] = train->labels[order[b0 + i]];
            double loss = 0;
            st = s != DY_OK ? s : dy_finetune_step(ctx, ft, images, labels, n, aug->size[0], aug->size[1], &loss);
            sum += loss;
            steps++;
        }
        if (st == DY_OK && plan->on_epoch)
            plan->on_epoch(plan->user, epoch, epochs, steps ? sum / (double)steps : NAN);
    }
    if (st == DY_OK) st = dy_eval_features(ctx, model, stats, test, &fte, &dim);
    if (st == DY_OK) st = dy_probe_evaluate(ctx, dy_finetune_probe(ft), fte, lte, test->count, NULL, &acc);
    if (st == DY_OK) st = finish_scores(ctx, &acc, train, d, out);
    dy_eval_accuracy_free(&acc);
    dy_finetune_destroy(ft);
    free(images);
    free(order);
    free(labels);
    free(lte);
    free(fte);
    return st;
}
