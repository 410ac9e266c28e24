/* dystress — evaluation API: the weighted kNN monitor, the linear probe, accuracy summaries. Included by dystress.h.
 *
 * Features are float32 row-major [n, dim]; labels are int64 in [0, classes). Accuracies are fractions in [0, 1].
 * A "ranked" prediction array holds, per sample, the DY_EVAL_TOPK best classes, best first ([n, DY_EVAL_TOPK]);
 * when classes < DY_EVAL_TOPK the unused tail entries are -1.
 *
 * Example (the kNN monitor of InstDisc on encoder features):
 *     dy_knn_options ko = dy_knn_defaults();            // k 200, t 0.1
 *     dy_eval_accuracy acc;
 *     if (dy_knn_evaluate(ctx, train_f, train_y, n_train, test_f, test_y, n_test, dim, classes, &ko, NULL, &acc))
 *         fprintf(stderr, "%s\n", dy_ctx_error(ctx));
 *     else printf("kNN top-1 %.2f %%\n", 100 * acc.top1);
 *     dy_eval_accuracy_free(&acc);
 */
#ifndef DYSTRESS_EVAL_H
#define DYSTRESS_EVAL_H
#include "../dystress.h"
#ifdef __cplusplus
extern "C" {
#endif

#define DY_EVAL_TOPK 5

/* ---- Accuracy summaries -------------------------------------------------------------------------------------- */

typedef struct {
    int64_t samples;        /* test samples scored */
    int64_t classes;
    int64_t correct_top1;   /* samples whose label is ranked first */
    int64_t correct_top5;   /* samples whose label is among the first min(5, classes) */
    double top1, top5;      /* correct_top1 / samples, correct_top5 / samples */
    int64_t *class_samples; /* [classes] test samples of each class */
    int64_t *class_correct; /* [classes] top-1 hits of each class */
    double *class_top1;     /* [classes] class_correct / class_samples; NaN for a class without test samples */
} dy_eval_accuracy;

/* Scores ranked predictions [n, DY_EVAL_TOPK] against labels [n]. Allocates the per-class arrays of *out (free them
 * with dy_eval_accuracy_free, also after a failure, which leaves *out zeroed). */
DY_API dy_status dy_eval_accuracy_compute(dy_ctx *ctx, const int64_t *ranked, const int64_t *labels, int64_t n,
                                          int64_t classes, dy_eval_accuracy *out);
DY_API void dy_eval_accuracy_free(dy_eval_accuracy *acc);

/* Training images per class: counts[c] = number of labels equal to c ([classes], written). */
DY_API dy_status dy_eval_class_counts(dy_ctx *ctx, const int64_t *labels, int64_t n, int64_t classes,
                                      int64_t *counts);

/* Long-tailed evaluation: classes split by their number of TRAINING images (the usual LT convention, OLTR / Kang et
 * al.): many-shot > many_above, few-shot < few_below, medium-shot otherwise (few_below..many_above inclusive). */
typedef struct {
    int64_t many_above; /* 100 */
    int64_t few_below;  /* 20 */
} dy_shot_options;

typedef struct {
    double many, medium, few;    /* mean of the per-class top-1 accuracies in each group; NaN for an empty group */
    int64_t many_classes, medium_classes, few_classes; /* classes in each group that have test samples */
} dy_shot_accuracy;

DY_API dy_shot_options dy_shot_defaults(void);
/* train_counts: [acc->classes] training images per class (dy_eval_class_counts). opts NULL: the defaults.
 * Classes without test samples are left out of the means. */
DY_API dy_status dy_eval_shot_accuracy(dy_ctx *ctx, const dy_eval_accuracy *acc, const int64_t *train_counts,
                                       const dy_shot_options *opts, dy_shot_accuracy *out);

/* ---- Weighted kNN (Wu et al. 2018, InstDisc) --------------------------------------------------------------------
 * Every row of train and test is L2-normalised inside (x / max(||x||, 1e-12), as torch's F.normalize; the inputs are
 * not modified). For each test row: the k train rows of highest cosine similarity s, each weighted by exp(s / t),
 * the weights summed per class of the train row; classes ranked by that score.
 * Tie rules (so results are deterministic and independent of thread count and block size):
 *  - neighbours: a higher similarity wins; equal similarities prefer the lower train index;
 *  - classes: a higher score wins; equal scores (including classes with no neighbour, score 0) prefer the lower
 *    class index.
 * Memory: block_rows * n_train floats of similarities (never n_test * n_train), plus k entries per thread.
 * Errors: DY_ERR_INVALID for k < 1, k > n_train, t <= 0, classes < 1, a label outside [0, classes), NULL arrays;
 * DY_ERR_NUMERIC for a NaN or Inf feature. */
typedef struct {
    int64_t k;          /* neighbours: 200 */
    float temperature;  /* t: 0.1 */
    int64_t block_rows; /* test rows per similarity block; 0 = automatic (at most 64 MiB of similarities) */
} dy_knn_options;

DY_API dy_knn_options dy_knn_defaults(void);

/* Ranked predictions of every test row: ranked [n_test, DY_EVAL_TOPK] (written); scores [n_test, classes] (the summed
 * weights per class; may be NULL). opts NULL: the defaults. */
DY_API dy_status dy_knn_classify(dy_ctx *ctx, const float *train, const int64_t *train_labels, int64_t n_train,
                                 const float *test, int64_t n_test, int64_t dim, int64_t classes,
                                 const dy_knn_options *opts, int64_t *ranked, float *scores);

/* dy_knn_classify, then the accuracy of the predictions on test_labels (*out allocated as dy_eval_accuracy_compute).
 * ranked may be NULL (then an internal array is used), else it receives the predictions [n_test, DY_EVAL_TOPK]. */
DY_API dy_status dy_knn_evaluate(dy_ctx *ctx, const float *train, const int64_t *train_labels, int64_t n_train,
                                 const float *test, const int64_t *test_labels, int64_t n_test, int64_t dim,
                                 int64_t classes, const dy_knn_options *opts, int64_t *ranked, dy_eval_accuracy *out);

#ifdef __cplusplus
}
#endif
#endif
