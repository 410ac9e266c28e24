/* Evaluation shared by `dystress eval`, `dystress demo` and the pretraining monitor's callers: features of a data
 * set (from an encoder or raw pixels), weighted kNN and the linear probe, printed as a user reads them. */
#ifndef DY_CLI_EVALUATE_H
#define DY_CLI_EVALUATE_H

#include "cli/config.h"

typedef struct {
    double top1, top5;
    double many, medium, few; /* long-tailed training sets only (NaN otherwise) */
    bool has_shots;
} eval_scores;

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

/* Writes the scores to path as one JSON object, atomically (src/io/atomic_file.h): {"features": .., "protocol": ..,
 * "top1": .., "top5": ..} and, when has_shots, "many", "medium", "few", each null where its group of classes is empty
 * (JSON has no NaN); then what --skip-bad left out of the evaluation: "skipped_train", "skipped_test" (counts) and
 * "skipped_files" (the first CLI_SKIPPED_SHOWN paths of each split; train or test may be NULL). A failed write is an
 * error (DY_ERR_IO), and path is then left as it was. */
dy_status cli_write_scores_json(dy_ctx *ctx, const char *path, const char *features, const char *protocol,
                                const eval_scores *s, const dy_dataset *train, const dy_dataset *test);

#endif
