/* dystress — data API: data set readers, augmentations with torchvision's semantics, and the threaded loader.
 * Included by dystress.h.
 *
 * Memory layout: a data set holds uint8 pixels planar (CHW) per image: pixels[((i * C + c) * H + y) * W + x].
 * Batches come out float32 in one contiguous buffer [V * B, C, H, W], view-major: rows 0..B-1 are view 0 of the
 * batch's B images, rows B..2B-1 view 1, and so on (the layout the engine and the contrastive loss consume).
 *
 * Randomness: every random choice comes from the Philox stream (seed, DY_RNG_AUGMENT, epoch, sample * 8 + view)
 * (src/core/rng.h); the order of an epoch from (seed, DY_RNG_SHUFFLE, epoch, 0). Batches are therefore bit-identical
 * for any number of worker threads and when a run resumes at any step of any epoch.
 *
 * Example (the paper's small-image recipe on Fashion-MNIST):
 *     dy_dataset *train;
 *     dy_dataset_load_mnist(ctx, &train, "/usr/share/datasets/fashion-mnist", DY_SPLIT_TRAIN);
 *     dy_loader_options lo = dy_loader_defaults();
 *     lo.batch_size = 128;
 *     dy_augment_preset(ctx, &lo.augment, "small", train);
 *     dy_augment_set(ctx, &lo.augment, "brightness", "0.5");        (any parameter by name)
 *     dy_loader *ld;
 *     dy_loader_create(ctx, &ld, train, &lo);
 *     dy_batch b;
 *     while (... ) { dy_loader_next(ld, &b); ... b.images [2 * 128, 1, 28, 28] ... }
 *     dy_loader_destroy(ld);
 *     dy_dataset_free(train);
 */
#ifndef DYSTRESS_DATA_H
#define DYSTRESS_DATA_H
#include "../dystress.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------------------------
 * Data sets
 * ------------------------------------------------------------------------------------------------------------- */

typedef enum { DY_SPLIT_TRAIN = 0, DY_SPLIT_TEST, DY_SPLIT_UNLABELED } dy_split;

typedef enum {
    DY_KIND_OTHER = 0,
    DY_KIND_IDX,      /* MNIST / Fashion-MNIST */
    DY_KIND_CIFAR10,
    DY_KIND_CIFAR100,
    DY_KIND_STL10,
    DY_KIND_FOLDER
} dy_dataset_kind;

typedef struct {
    dy_dataset_kind kind;
    int64_t count;          /* images */
    int channels;           /* 1 (grey) or 3 (RGB) */
    int height, width;
    uint8_t *pixels;        /* [count, channels, height, width] */
    int32_t *labels;        /* [count]; -1 where unlabelled */
    int num_classes;        /* 0 when unlabelled */
    char **class_names;     /* [num_classes] ("0", "1", ... where the format names none) */
    int64_t *class_counts;  /* [num_classes] images per class */
    int64_t skipped;        /* image folders in skip mode: files that could not be read */
    char **skipped_files;   /* [skipped]: their paths, in the order read (NULL when none); a split or subset of the
                               data set (validation hold-out, long tail) keeps them with its training part */
} dy_dataset;

/* MNIST-style IDX files, plain or gzip (detected by content): images "idx3" uint8 [N, H, W], labels "idx1" uint8 [N].
 * labels_path may be NULL (unlabelled). */
DY_API dy_status dy_dataset_load_idx(dy_ctx *ctx, dy_dataset **out, const char *images_path, const char *labels_path);
/* A folder with train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz] (DY_SPLIT_TRAIN) or t10k-... (TEST);
 * class names from class_names.txt (one per line) when the folder has one, else "0", "1", ... */
DY_API dy_status dy_dataset_load_mnist(dy_ctx *ctx, dy_dataset **out, const char *dir, dy_split split);
/* The same for Fashion-MNIST: its ten classes named as its authors name them ("T-shirt/top", "Trouser", "Pullover",
 * "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot") unless class_names.txt names them; a set
 * without exactly 10 classes is refused (DY_ERR_FORMAT). */
DY_API dy_status dy_dataset_load_fashion_mnist(dy_ctx *ctx, dy_dataset **out, const char *dir, dy_split split);
/* CIFAR-10 binary version: dir holds data_batch_1.bin ... data_batch_5.bin (TRAIN) or test_batch.bin (TEST);
 * class names from batches.meta.txt when present. Records: 1 label byte + 3072 pixel bytes (CHW 3x32x32). */
DY_API dy_status dy_dataset_load_cifar10(dy_ctx *ctx, dy_dataset **out, const char *dir, dy_split split);
/* CIFAR-100 binary version: dir holds train.bin / test.bin; records: coarse byte, fine byte, 3072 pixel bytes.
 * coarse selects the 20 super-class labels instead of the 100 fine ones; names from {coarse,fine}_label_names.txt. */
DY_API dy_status dy_dataset_load_cifar100(dy_ctx *ctx, dy_dataset **out, const char *dir, dy_split split,
                                          bool coarse);
/* STL-10 binary version: dir holds {train,test}_X.bin + {train,test}_y.bin (labels 1..10) or unlabeled_X.bin;
 * images 3x96x96 stored column-major per channel (converted to row-major); names from class_names.txt. */
DY_API dy_status dy_dataset_load_stl10(dy_ctx *ctx, dy_dataset **out, const char *dir, dy_split split);

typedef struct {
    int size;        /* every image: shorter side resized to size (antialiased), then centre-cropped to size x size */
    int channels;    /* 3 (RGB; grey is replicated, alpha dropped) or 1 (grey: 0.299 R + 0.587 G + 0.114 B) */
    bool labelled;   /* true: one sub-folder per class (sorted names = classes 0..C-1); false: any tree, labels -1 */
    bool skip_bad;   /* false: the first unreadable image fails the load; true: skipped, counted in ->skipped and
                        named in ->skipped_files */
    int64_t max_pixels; /* refuse images larger than this before decoding (0 = 1 << 28) */
} dy_image_folder_options;
DY_API dy_image_folder_options dy_image_folder_defaults(void); /* size 96, channels 3, labelled, fail on bad */
/* Reads .png/.jpg/.jpeg (case-insensitive) files: PNG grey/RGB/RGBA/palette/16-bit, baseline/progressive JPEG. */
DY_API dy_status dy_dataset_load_image_folder(dy_ctx *ctx, dy_dataset **out, const char *dir,
                                              const dy_image_folder_options *opts);

/* Long-tailed subset (CIFAR-10-LT / 100-LT): class c keeps min(n_c, floor(n_max * ratio^(c / (C - 1)))) images,
 * n_max the largest class count, chosen at random from its class by the stream (seed, DY_RNG_SUBSET, c, 0); kept
 * images stay in their original order. ratio in (0, 1] (0.01 and 0.1 in the paper). */
DY_API dy_status dy_dataset_longtail(dy_ctx *ctx, dy_dataset **out, const dy_dataset *src, double ratio,
                                     uint64_t seed);
/* Few labels (SimCLR's semi-supervised protocol): a class-balanced labelled subset of a training set. Class c of n_c
 * images keeps k_c of them: with fraction in (0, 1], k_c = max(1, round(fraction * n_c)); with per_class >= 1,
 * k_c = min(per_class, n_c); with both, the smaller of the two; fraction 0 and per_class 0 mean "not given" (one of
 * them must be). The k_c images are the first k_c of a Fisher-Yates shuffle of the class's images (in their order)
 * drawn from the stream (seed, DY_RNG_LABELS, c, 0): the same subset for every model evaluated with the same seed
 * (paired comparisons), and the subsets of one seed are nested (1 % inside 10 %). Kept images stay in their original
 * order, with src's classes (a class keeps at least one image). DY_ERR_INVALID for a fraction outside [0, 1],
 * per_class < 0, neither given, or an unlabelled src. */
DY_API dy_status dy_dataset_label_subset(dy_ctx *ctx, dy_dataset **out, const dy_dataset *src, double fraction,
                                         int64_t per_class, uint64_t seed);
/* Per-channel mean and standard deviation of the pixels in [0, 1] (population std). mean/std: [channels]. */
DY_API void dy_dataset_mean_std(const dy_dataset *ds, float *mean, float *std);
DY_API void dy_dataset_free(dy_dataset *ds);

/* ---------------------------------------------------------------------------------------------------------------
 * Augmentations. One dy_augment describes the pipeline applied to every view, in torchvision's order:
 *   RandomResizedCrop(size, scale, ratio) [or, when crop is false, Resize(size) + CenterCrop(size)]
 *   -> RandomHorizontalFlip(flip_p) -> RandomApply(ColorJitter(brightness, contrast, saturation, hue), jitter_p)
 *   -> RandomGrayscale(grayscale_p) -> RandomApply(GaussianBlur(blur_kernel, blur_sigma), blur_p[view % 2])
 *   -> RandomSolarize(solarize_threshold, solarize_p[view % 2]) -> Normalize(mean, std).
 * All arithmetic is float32 on [0, 1] as torchvision's tensor path (no rounding to uint8 between steps).
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct {
    int size[2];              /* output height, width */
    bool crop;                /* true: RandomResizedCrop; false: Resize(shorter side to size) + CenterCrop */
    float scale[2];           /* RandomResizedCrop scale (area fraction) */
    float ratio[2];           /* RandomResizedCrop aspect ratio w/h */
    float flip_p;             /* RandomHorizontalFlip p */
    float jitter_p;           /* RandomApply p around ColorJitter */
    float brightness, contrast, saturation, hue; /* ColorJitter: factors from [max(0,1-x), 1+x]; hue from [-x, x] */
    float grayscale_p;        /* RandomGrayscale p (weights 0.2989, 0.587, 0.114 as torchvision's tensor path) */
    float blur_p[2];          /* GaussianBlur probability for even / odd views (BYOL's asymmetry) */
    float blur_sigma[2];      /* sigma drawn uniformly from [lo, hi] */
    int blur_kernel;          /* odd kernel side; 0 = about 10 % of the output side, made odd */
    float solarize_p[2];      /* RandomSolarize probability for even / odd views */
    float solarize_threshold; /* on [0, 1]: pixels >= threshold become 1 - pixel */
    bool normalize;
    float mean[3], std[3];    /* Normalize (per channel) */
} dy_augment;

/* Presets by name, sized and normalised for the data set ds (its side, its channels):
 *  "small"    — the paper's small-image recipe: RandomResizedCrop(side, (0.08, 1), (3/4, 4/3)), flip 0.5,
 *               ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.8, RandomGrayscale 0.2, no blur, no solarisation, Normalize with
 *               CIFAR's mean/std for CIFAR data sets and the data set's own statistics otherwise. On one channel
 *               brightness and contrast act on the grey image; saturation, hue and grayscale are identities (as in
 *               torchvision), their random numbers are still drawn.
 *  "imagenet" — 224 crops, the same jitter (docs/METHOD.md), grayscale 0.2, BYOL's GaussianBlur (kernel 23, sigma
 *               0.1-2) with p 1.0 / 0.1 and solarisation (threshold 0.5) with p 0.0 / 0.2 for views 0 / 1,
 *               ImageNet mean/std.
 *  "eval"     — Resize + CenterCrop to the data set's side (or set "size"), Normalize as "small"; nothing random.
 * ds may be NULL for "imagenet" (3 channels, ImageNet statistics). */
DY_API dy_status dy_augment_preset(dy_ctx *ctx, dy_augment *out, const char *preset, const dy_dataset *ds);
/* Overrides one parameter by name: size ("32" or "32,28"), crop (0/1), scale, ratio, flip_p, jitter_p, brightness,
 * contrast, saturation, hue, grayscale_p, blur_p ("0.5" for both views or "1,0.1"), blur_sigma, blur_kernel,
 * solarize_p, solarize_threshold, normalize, mean, std ("0.5" or "0.4914,0.4822,0.4465"). Checks the ranges. */
DY_API dy_status dy_augment_set(dy_ctx *ctx, dy_augment *a, const char *name, const char *value);
/* Checks a whole description (ranges, sizes, std > 0). */
DY_API dy_status dy_augment_check(dy_ctx *ctx, const dy_augment *a);
/* One view of one image: src uint8 CHW [channels, height, width] -> dst float [channels, size[0], size[1]], using
 * the stream (seed, DY_RNG_AUGMENT, epoch, sample * 8 + view). Thread-safe; allocates nothing but stack. */
DY_API dy_status dy_augment_view(dy_ctx *ctx, const dy_augment *a, const uint8_t *src, int channels, int height,
                                 int width, float *dst, uint64_t seed, int64_t epoch, int64_t sample, int view);

/* ---------------------------------------------------------------------------------------------------------------
 * Loader: worker threads fill a bounded queue of prepared batches ahead of the trainer.
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct {
    int64_t batch_size;   /* B images per batch (each gives `views` rows) */
    int views;            /* V, 1..8; 2 by default */
    int threads;          /* worker threads; 2 by default */
    int queue_depth;      /* prepared batches kept ahead; 4 by default */
    bool shuffle;         /* a new order each epoch (true by default) */
    uint64_t seed;
    int64_t start_epoch;  /* where the first dy_loader_next starts (resume): epoch ... */
    int64_t start_step;   /* ... and step within it, 0 <= start_step < steps per epoch */
    dy_augment augment;   /* set with dy_augment_preset */
    int shard, shards;    /* data parallelism: batch_size is the global batch and this process prepares its images
                             [shard B / shards, (shard + 1) B / shards), exactly as the one-process loader would;
                             B must be divisible by shards. 0 and 1 by default (the whole batch). */
} dy_loader_options;
DY_API dy_loader_options dy_loader_defaults(void); /* batch 128, 2 views, 2 threads, depth 4, shuffle, seed 0 */

typedef struct {
    float *images;        /* [views * batch_size, channels, height, width], view-major */
    int32_t *labels;      /* [batch_size] */
    int64_t *indices;     /* [batch_size] sample index in the data set */
    int64_t batch_size;   /* images of this process (the global batch / shards) */
    int views, channels, height, width;
    int64_t epoch, step;  /* which batch this is */
} dy_batch;

typedef struct dy_loader dy_loader;
/* ds must outlive the loader. Batches per epoch = floor(count / batch_size) (drop-last); count < batch_size fails. */
DY_API dy_status dy_loader_create(dy_ctx *ctx, dy_loader **out, const dy_dataset *ds, const dy_loader_options *opts);
DY_API int64_t dy_loader_steps_per_epoch(const dy_loader *ld);
/* The next batch in order (epoch after epoch); blocks until it is ready. The batch's buffers stay valid until the
 * next dy_loader_next, dy_loader_seek or dy_loader_destroy. */
DY_API dy_status dy_loader_next(dy_loader *ld, dy_batch *out);
/* Restarts production at (epoch, step): workers stop, the queue is emptied, production resumes there. */
DY_API dy_status dy_loader_seek(dy_loader *ld, int64_t epoch, int64_t step);
/* Stops the workers (also mid-epoch) and frees everything. */
DY_API void dy_loader_destroy(dy_loader *ld);

/* ---------------------------------------------------------------------------------------------------------------
 * Evaluation iterator: the data set in order, no shuffle, no drop-last, no randomness: Resize + CenterCrop +
 * Normalize as described by `eval` (use the "eval" preset). Each batch has views = 1, epoch = 0.
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct dy_eval_iter dy_eval_iter;
DY_API dy_status dy_eval_iter_create(dy_ctx *ctx, dy_eval_iter **out, const dy_dataset *ds, const dy_augment *eval,
                                     int64_t batch_size);
/* Fills *out with the next batch (the last one may be smaller); returns false when the data set is exhausted. */
DY_API bool dy_eval_iter_next(dy_eval_iter *it, dy_batch *out);
DY_API void dy_eval_iter_reset(dy_eval_iter *it);
DY_API void dy_eval_iter_destroy(dy_eval_iter *it);

#ifdef __cplusplus
}
#endif
#endif
