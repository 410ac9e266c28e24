/* Evaluation shared by `dystress eval`, `dystress demo` and the pretraining monitor's callers: features of a data
 * set (from an encoder or raw pixels), weighted kNN and the linear probe, printed as a user reads them. */
#ifndef DY_CLI_EVALUATE_H
#define DY_CLI_EVALUATE_H

#include "cli/config.h"

typedef struct {
    double top1, top5;
    double many, medium, few; /* long-tailed training sets only (NaN otherwise) */
    bool has_shots;
    /* long-tailed training sets only: thirds of the classes ranked by training images (dy_eval_thirds_accuracy), the
     * head-tail gap = head - tail; NaN otherwise */
    double head, middle, tail, gap;
    int64_t head_classes, middle_classes, tail_classes;
} eval_scores;

/* What an evaluation gives beyond the scores (the *_detailed forms below; the plain forms pass per_class alone). */
typedef struct {
    bool per_class;              /* print every class's top-1 with its test and training images */
    const int64_t *group_counts; /* [classes] training images per class that decide whether the set is long-tailed
                                    and group its classes (many/medium/few, thirds): the training set before a label
                                    subset; NULL: the counts of the train argument */
    dy_eval_accuracy *acc;       /* NULL, or receives the accuracy with its per-class arrays (dy_eval_accuracy_free;
                                    zeroed on a failure) */
} eval_detail;

/* Features [ds->count, *dim] as the encoder gives them (not normalised): h when model is not NULL (inputs prepared
 * by the eval preset with train's normalisation statistics, whichever split ds is), else the raw pixels scaled to
 * [0, 1] and flattened, as docs/METHOD.md's baseline. The kNN normalises them itself; the linear probe takes them as
 * they are (the reference code's linear.py) unless told to normalise. */
dy_status cli_features(dy_ctx *ctx, dy_model *model, const dy_dataset *train, const dy_dataset *ds, float **features,
                       int64_t *dim);
dy_status cli_knn(dy_ctx *ctx, const float *ftr, const dy_dataset *train, const float *fte, const dy_dataset *test,
                  int64_t dim, int64_t k, double t, bool per_class, eval_scores *out);
/* Linear probe on cached features (Adam, the paper's settings unless changed); normalize: on L2-normalised copies
 * of the features instead of the features as given. */
dy_status cli_linear_cached(dy_ctx *ctx, const float *ftr, const dy_dataset *train, const float *fte,
                            const dy_dataset *test, int64_t dim, const dy_probe_options *po, bool normalize,
                            bool per_class, eval_scores *out);
/* The paper's protocol: a fresh augmented view of every training image each epoch through the frozen encoder. */
dy_status cli_linear_augmented(dy_ctx *ctx, dy_model *model, const dy_augment *aug, const dy_dataset *train,
                               const float *fte, const dy_dataset *test, const dy_probe_options *po, bool normalize,
                               bool per_class, eval_scores *out);

dy_status cli_knn_detailed(dy_ctx *ctx, const float *ftr, const dy_dataset *train, const float *fte,
                           const dy_dataset *test, int64_t dim, int64_t k, double t, const eval_detail *d,
                           eval_scores *out);
dy_status cli_linear_cached_detailed(dy_ctx *ctx, const float *ftr, const dy_dataset *train, const float *fte,
                                     const dy_dataset *test, int64_t dim, const dy_probe_options *po, bool normalize,
                                     const eval_detail *d, eval_scores *out);
dy_status cli_linear_augmented_detailed(dy_ctx *ctx, dy_model *model, const dy_augment *aug, const dy_dataset *train,
                                        const float *fte, const dy_dataset *test, const dy_probe_options *po,
                                        bool normalize, const eval_detail *d, eval_scores *out);

/* Fine-tuning (SimCLR's semi-supervised protocol): the encoder (model, without head) and a linear head trained end to
 * end on train (the labelled images) for `epochs` epochs of batches of `batch` (a last batch of one image is left
 * out: batch norm needs two), each image a fresh view of aug (seed fo->seed + 1, as the augmented probe), in an
 * order drawn from (fo->seed, DY_RNG_EVAL, 3, epoch); then the test split's features through the fine-tuned encoder
 * (eval preset, normalisation statistics of stats) and the head's accuracy. Prints each epoch's mean loss on
 * stderr. */
dy_status cli_finetune_detailed(dy_ctx *ctx, dy_model *model, const dy_augment *aug, const dy_dataset *train,
                                const dy_dataset *stats, const dy_dataset *test, const dy_finetune_options *fo,
                                int64_t epochs, int64_t batch, const eval_detail *d, eval_scores *out);

/* Few labels: how the labelled subset the evaluation trained on was drawn (dy_dataset_label_subset). */
typedef struct {
    double fraction;             /* 0: not given */
    int64_t per_class;           /* 0: not given */
    uint64_t seed;
    const dy_dataset *labelled;  /* the subset */
} eval_label_subset;

/* What cli_write_eval_json writes beyond cli_write_scores_json's keys (any member may be NULL). */
typedef struct {
    const char *description;          /* "protocol_detail": the protocol as printed ("kNN (k 30, t 0.1)",
                                         "fine-tune (sgd, 10 epochs)") */
    const dy_eval_accuracy *acc;      /* per class: "class_top1" (null where a class has no test image),
                                         "class_test" */
    const int64_t *train_counts;      /* [acc->classes] "class_train": training images per class (before a subset) */
    char *const *class_names;         /* [acc->classes] "class_names" */
    const eval_label_subset *labels;  /* "labelled_images", "label_subset" and, for a subset, "label_fraction",
                                         "labels_per_class" (null when not given), "label_seed", "class_labelled" */
} eval_json_extra;

/* Writes the scores to path as one JSON object, atomically (src/io/atomic_file.h): {"features": .., "protocol": ..,
 * "top1": .., "top5": ..} and, when has_shots, "many", "medium", "few", each null where its group of classes is empty
 * (JSON has no NaN); then what --skip-bad left out of the evaluation: "skipped_train", "skipped_test" (counts) and
 * "skipped_files" (the first CLI_SKIPPED_SHOWN paths of each split; train or test may be NULL). A failed write is an
 * error (DY_ERR_IO), and path is then left as it was. */
dy_status cli_write_scores_json(dy_ctx *ctx, const char *path, const char *features, const char *protocol,
                                const eval_scores *s, const dy_dataset *train, const dy_dataset *test);
/* The same with the long-tailed thirds when has_shots ("head", "middle", "tail", "head_tail_gap", "head_classes",
 * "middle_classes", "tail_classes"; NaN as null) and what x holds (x may be NULL). */
dy_status cli_write_eval_json(dy_ctx *ctx, const char *path, const char *features, const char *protocol,
                              const eval_scores *s, const eval_json_extra *x, const dy_dataset *train,
                              const dy_dataset *test);

#endif
