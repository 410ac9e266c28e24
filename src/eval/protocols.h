/* The evaluation protocols on data sets, as `dystress eval`, `demo` and `tune` run them: features of a data set (an
 * encoder's, or raw pixels), the weighted kNN, the linear probe (cached features or augmented views), fine-tuning,
 * each summarised as scores (top-1/top-5 and, for a long-tailed training set, its groups of classes), and the scores
 * written as one JSON file. Built on the array-level API of include/dystress/eval.h and eval/embed.h; prints nothing
 * (the fine-tuning's epochs reach the caller through a callback). */
#ifndef DY_EVAL_PROTOCOLS_H
#define DY_EVAL_PROTOCOLS_H

#include "dystress.h"

typedef struct {
    double top1, top5;
    double many, medium, few; /* long-tailed training sets only (NaN otherwise) */
    bool has_shots;
    /* long-tailed training sets only: thirds of the classes ranked by training images (dy_eval_thirds_accuracy), the
     * head-tail gap = head - tail; NaN otherwise */
    double head, middle, tail, gap;
    int64_t head_classes, middle_classes, tail_classes;
} dy_eval_scores;

/* What an evaluation gives beyond the scores (NULL: the scores alone). */
typedef struct {
    const int64_t *group_counts; /* [classes] training images per class that decide whether the set is long-tailed
                                    and group its classes (many/medium/few, thirds): the training set before a label
                                    subset; NULL: the counts of the train argument */
    dy_eval_accuracy *acc;       /* NULL, or receives the accuracy with its per-class arrays (dy_eval_accuracy_free;
                                    zeroed on a failure) */
} dy_eval_detail;

/* The neighbours a weighted kNN over a bank of n_train images uses: k, or every image of a smaller bank (a small
 * labelled subset, a tiny training set). The one rule of `dystress eval` and the pretraining monitor. */
int64_t dy_knn_neighbours(int64_t k, int64_t n_train);

/* Features [ds->count, *dim] as the encoder gives them (not normalised): h when model is not NULL (inputs prepared
 * by the eval preset with stats' normalisation statistics, whichever split ds is), else the raw pixels scaled to
 * [0, 1] and flattened, as docs/METHOD.md's baseline. The kNN normalises them itself; the linear probe takes them as
 * they are (the reference code's linear.py) unless told to normalise. *features is malloc'ed. */
dy_status dy_eval_features(dy_ctx *ctx, dy_model *model, const dy_dataset *stats, const dy_dataset *ds,
                           float **features, int64_t *dim);
/* Weighted kNN of the test features against train's (the bank), k clamped by dy_knn_neighbours, temperature t. */
dy_status dy_eval_knn(dy_ctx *ctx, const float *ftr, const dy_dataset *train, const float *fte, const dy_dataset *test,
                      int64_t dim, int64_t k, double t, const dy_eval_detail *d, dy_eval_scores *out);
/* Linear probe on cached features (Adam, the paper's settings unless changed); normalize: on L2-normalised copies
 * of the features instead of the features as given (the caller's arrays are left alone). */
dy_status dy_eval_linear_cached(dy_ctx *ctx, const float *ftr, const dy_dataset *train, const float *fte,
                                const dy_dataset *test, int64_t dim, const dy_probe_options *po, bool normalize,
                                const dy_eval_detail *d, dy_eval_scores *out);
/* The paper's protocol: a fresh view of aug of every training image each epoch (seed po->seed + 1) through the
 * frozen encoder model. */
dy_status dy_eval_linear_augmented(dy_ctx *ctx, dy_model *model, const dy_augment *aug, const dy_dataset *train,
                                   const float *fte, const dy_dataset *test, const dy_probe_options *po,
                                   bool normalize, const dy_eval_detail *d, dy_eval_scores *out);

/* How a fine-tuning runs: the optimizer's options, epochs over the labelled images in batches of batch, and
 * on_epoch (may be NULL) told each epoch's mean loss. */
typedef struct {
    dy_finetune_options fo;
    int64_t epochs, batch;
    void (*on_epoch)(void *user, int64_t epoch, int64_t epochs, double mean_loss);
    void *user;
} dy_eval_finetune_plan;

/* Fine-tuning (SimCLR's semi-supervised protocol): the encoder (model, without head) and a linear head trained end to
 * end on train (the labelled images) for plan->epochs epochs of batches of plan->batch (a last batch of one image is
 * left out: batch norm needs two), each image a fresh view of aug (seed fo.seed + 1, as the augmented probe), in an
 * order drawn from (fo.seed, DY_RNG_EVAL, 3, epoch); then the test split's features through the fine-tuned encoder
 * (eval preset, normalisation statistics of stats) and the head's accuracy. */
dy_status dy_eval_finetune(dy_ctx *ctx, dy_model *model, const dy_augment *aug, const dy_dataset *train,
                           const dy_dataset *stats, const dy_dataset *test, const dy_eval_finetune_plan *plan,
                           const dy_eval_detail *d, dy_eval_scores *out);

/* ---- the scores as a JSON file (src/eval/scores_json.c) ---- */

#define DY_EVAL_SKIPPED_SHOWN 5 /* the skipped images named per split */

/* Few labels: how the labelled subset the evaluation trained on was drawn (dy_dataset_label_subset). */
typedef struct {
    double fraction;            /* 0: not given */
    int64_t per_class;          /* 0: not given */
    uint64_t seed;
    const dy_dataset *labelled; /* the subset */
} dy_eval_label_subset;

/* What dy_eval_write_json writes beyond the scores (any member may be NULL). */
typedef struct {
    const char *description;         /* "protocol_detail": the protocol as printed ("kNN (k 30, t 0.1)",
                                        "fine-tune (sgd, 10 epochs)") */
    const dy_eval_accuracy *acc;     /* per class: "class_top1" (null where a class has no test image),
                                        "class_test" */
    const int64_t *train_counts;     /* [acc->classes] "class_train": training images per class (before a subset) */
    char *const *class_names;        /* [acc->classes] "class_names" */
    const dy_eval_label_subset *labels; /* "labelled_images", "label_subset" and, for a subset, "label_fraction",
                                           "labels_per_class" (null when not given), "label_seed", "class_labelled" */
} dy_eval_json_extra;

/* Writes the scores to path as one JSON object, atomically (src/io/atomic_file.h): {"features": .., "protocol": ..,
 * "top1": .., "top5": ..} and, when has_shots, "many", "medium", "few", "head", "middle", "tail", "head_tail_gap"
 * (each null where its group of classes is empty: JSON has no NaN), "head_classes", "middle_classes",
 * "tail_classes"; then what x holds (x may be NULL); then what --skip-bad left out of the evaluation:
 * "skipped_train", "skipped_test" (counts) and "skipped_files" (the first DY_EVAL_SKIPPED_SHOWN paths of each split;
 * train or test may be NULL). features and protocol are plain words (written unescaped). A failed write is an error
 * (DY_ERR_IO), and path is then left as it was. */
dy_status dy_eval_write_json(dy_ctx *ctx, const char *path, const char *features, const char *protocol,
                             const dy_eval_scores *s, const dy_eval_json_extra *x, const dy_dataset *train,
                             const dy_dataset *test);

#endif
