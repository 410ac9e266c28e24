/* A data set named as `dystress --data` names it: the reader, its folder, the test split, and what is made of the
 * training set (a long tail, a held-out validation split), loaded in one call. Messages name the fields as the
 * command's options spell them (--data-dir, --val-size, ...). */
#ifndef DY_DATA_SOURCE_H
#define DY_DATA_SOURCE_H

#include "core/context.h"
#include "dystress/data.h"

#define DY_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist" /* Debian's dataset-fashion-mnist */

typedef struct {
    const char *name;     /* fashion-mnist|mnist|cifar10|cifar100|cifar10-lt|cifar100-lt|stl10|folder */
    const char *dir;      /* the files; "" for fashion-mnist: DY_FASHION_MNIST_DIR */
    const char *test_dir; /* folder: the labelled test images ("": none) */
    bool cifar100_coarse; /* CIFAR-100's 20 superclasses instead of its 100 classes */
    bool stl10_unlabeled; /* STL-10: the 100k unlabelled images as the training set */
    bool long_tail;       /* a long-tailed training set (always for the -lt names): lt_ratio, drawn by seed */
    double lt_ratio;
    uint64_t seed;
    int64_t image_size;   /* folder: the side images are resized to */
    bool skip_bad;        /* folder: undecodable images skipped (counted and named in the data set) */
    int64_t val_size;     /* > 0: this many training images held out by val_seed as the test split, which is then
                             not opened (src/data/holdout.h) */
    uint64_t val_seed;
} dy_data_source;

/* The training and test splits of s (*test NULL when the data set has none: a folder without test_dir). Folder
 * splits must have the same class folders. */
dy_status dy_data_source_load(dy_ctx *ctx, const dy_data_source *s, dy_dataset **train, dy_dataset **test);

/* Images of ds that are one flat colour (every byte alike); the first such index in *first (-1 when none). */
int64_t dy_dataset_flat_images(const dy_dataset *ds, int64_t *first);

#endif
