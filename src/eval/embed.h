/* Evaluation inputs from a model and a data set: the encoder's features of every image, and the labels in the type
 * the evaluation API takes. With the protocols on data sets (protocols.h) the files of src/eval that sit above the
 * model and the data pipeline (they run them); kNN, the linear probe and the accuracy summaries below work on plain
 * arrays and need the core only. Used by the trainer's kNN monitor and by `dystress eval`, `embed` and `demo`. */
#ifndef DY_EVAL_EMBED_H
#define DY_EVAL_EMBED_H

#include "dystress.h"

/* Features h [ds->count, *dim] of every image of ds through model in evaluation mode, batch_size images at a time,
 * each prepared by eval_aug (the "eval" preset: resize/centre-crop, then normalise). normalize: rows L2-normalised
 * (dy_l2_normalize) as the kNN monitor uses them; false: as the encoder gives them. *features is malloc'ed; free
 * with free(). */
dy_status dy_embed_dataset(dy_ctx *ctx, dy_model *model, const dy_dataset *ds, const dy_augment *eval_aug,
                           int64_t batch_size, bool normalize, float **features, int64_t *dim);

/* The data set's labels widened to int64 (the evaluation API's type); malloc'ed, NULL when out of memory. */
int64_t *dy_labels_int64(const dy_dataset *ds);

#endif
