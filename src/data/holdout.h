/* A validation split carved from a training set: n_val images chosen by a seeded permutation, the rest kept for
 * training. Model selection (dystress tune, pretrain --val-size) scores on it, so the test split is never used to
 * choose anything. The choice depends only on (count, n_val, seed): the same on every machine and process. */
#ifndef DY_DATA_HOLDOUT_H
#define DY_DATA_HOLDOUT_H

#include "core/context.h"
#include "dystress/data.h"

/* in_val[count]: 1 for the images of the validation split, 0 for the rest. n_val in [1, count - 1]. */
dy_status dy_holdout_mask(dy_ctx *ctx, int64_t count, int64_t n_val, uint64_t seed, uint8_t *in_val);
/* FNV-1a (64 bit) of the indices i < count with in_val[i] == which, each as 8 little-endian bytes, in increasing
 * order: a fingerprint of an index list that a record can keep instead of the list. */
uint64_t dy_holdout_hash(const uint8_t *in_val, int64_t count, uint8_t which);
/* Splits src into *rest (the training images kept, in their order) and *val (the held-out ones, in their order); both
 * keep src's classes. */
dy_status dy_dataset_holdout(dy_ctx *ctx, const dy_dataset *src, int64_t n_val, uint64_t seed, dy_dataset **rest,
                             dy_dataset **val);

#endif
