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

/* Head / middle / tail thirds: the classes that have test samples, ranked by their number of TRAINING images (more
 * first; equal counts: the lower class index first), the class of rank r among n in group floor(3 r / n) (10 classes:
 * 4 head, 3 middle, 3 tail). For sets where the LT thresholds above leave groups empty (Fashion-MNIST-LT at ratio 0.01
 * has no class under 20 images, CIFAR-10-LT none under 50). gap = head - tail: the head-tail gap (NaN when either
 * group is empty, e.g. one or two classes). */
typedef struct {
    double head, middle, tail, gap;  /* mean per-class top-1 of each group; NaN for an empty group */
    int64_t head_classes, middle_classes, tail_classes;
} dy_thirds_accuracy;

/* train_counts: [acc->classes] training images per class. */
DY_API dy_status dy_eval_thirds_accuracy(dy_ctx *ctx, const dy_eval_accuracy *acc, const int64_t *train_counts,
                                         dy_thirds_accuracy *out);

/* ---- Weighted kNN (Wu et al. 2018, InstDisc) --------------------------------------------------------------------
 * Every row of train and test is L2-normalised inside (x / max(||x||, 1e-12), as torch's F.normalize; the inputs are
 * not modified). For each test row: the k train rows of highest cosine similarity s, each weighted by exp(s / t),
 * the weights summed per class of the train row; classes ranked by that score.
 * Tie rules (so results are deterministic and independent of thread count and block size):
 *  - neighbours: a higher similarity wins; equal similarities prefer the lower train index;
 *  - classes: a higher score wins; equal scores (including classes with no neighbour, score 0) prefer the lower
 *    class index.
 * Similarities come from one GEMM per block of test rows (dy_sgemm; oneDNN when built in); identical train rows get
 * identical similarities there (tested), so the neighbour tie rule applies to duplicates as stated.
 * Memory: block_rows * n_train floats of similarities (never n_test * n_train), plus k entries per thread.
 * Errors: DY_ERR_INVALID for k < 1, k > n_train, t <= 0, classes < 1, a label outside [0, classes), NULL arrays;
 * DY_ERR_NUMERIC for a NaN or Inf feature. */
typedef struct {
    int64_t k;          /* neighbours: 200 */
    float temperature;  /* t: 0.1 */
    int64_t block_rows; /* test rows per similarity block; 0 = automatic (about 16 MiB of similarities, 8..256 rows) */
} dy_knn_options;

DY_API dy_knn_options dy_knn_defaults(void);

/* Ranked predictions of every test row: ranked [n_test, DY_EVAL_TOPK] (written); scores [n_test, classes] (each
 * class's share of the row's summed weights, so a row sums to 1; may be NULL). opts NULL: the defaults.
 * The weights are computed as exp((s - s_max) / t), s_max the row's best neighbour: the same ranking as exp(s / t)
 * without overflow at any t > 0 (in float exp(s / t) overflows once s / t > 88, e.g. t < 0.0114 at s = 1). */
DY_API dy_status dy_knn_classify(dy_ctx *ctx, const float *train, const int64_t *train_labels, int64_t n_train,
                                 const float *test, int64_t n_test, int64_t dim, int64_t classes,
                                 const dy_knn_options *opts, int64_t *ranked, float *scores);

/* dy_knn_classify, then the accuracy of the predictions on test_labels (*out allocated as dy_eval_accuracy_compute).
 * ranked may be NULL (then an internal array is used), else it receives the predictions [n_test, DY_EVAL_TOPK]. */
DY_API dy_status dy_knn_evaluate(dy_ctx *ctx, const float *train, const int64_t *train_labels, int64_t n_train,
                                 const float *test, const int64_t *test_labels, int64_t n_test, int64_t dim,
                                 int64_t classes, const dy_knn_options *opts, int64_t *ranked, dy_eval_accuracy *out);

/* ---- Linear probe -------------------------------------------------------------------------------------------------
 * One linear layer (weight [classes, dim] as torch's nn.Linear, bias [classes]) with softmax cross-entropy (mean over
 * the batch), trained on frozen features with Adam (L2 weight decay on weight and bias, as torch.optim.Adam over
 * model.parameters() in the reference probe). Initialisation as nn.Linear: weight and bias uniform in
 * [-1/sqrt(dim), 1/sqrt(dim)), drawn from the Philox stream (seed, DY_RNG_EVAL, 0, 0) (weight first, row-major);
 * each epoch visits the training samples in a fresh order, a Fisher-Yates shuffle drawn from (seed, DY_RNG_EVAL, 1,
 * epoch), in batches of batch_size (the last one smaller when batch_size does not divide n_train, as torch's
 * DataLoader without drop_last). Features are used as given (normalise them first if the protocol says so).
 *
 * Example, the fast mode on cached features:
 *     dy_probe *p;
 *     dy_probe_options po = dy_probe_defaults();   // 100 epochs, batch 512, Adam 1e-3, weight decay 1e-6
 *     dy_probe_create(ctx, &p, dim, classes, &po);
 *     dy_probe_train_cached(ctx, p, train_f, train_y, n_train, NULL, NULL);
 *     dy_probe_evaluate(ctx, p, test_f, test_y, n_test, NULL, &acc);
 *     dy_probe_destroy(p);
 */
typedef struct {
    int64_t epochs;      /* 100 */
    int64_t batch_size;  /* 512 (the reference code's linear.py) */
    double lr;           /* 1e-3 (constant) */
    double weight_decay; /* 1e-6 */
    uint64_t seed;       /* 0; initialisation and shuffling */
} dy_probe_options;

DY_API dy_probe_options dy_probe_defaults(void);

typedef struct dy_probe dy_probe;

DY_API dy_status dy_probe_create(dy_ctx *ctx, dy_probe **out, int64_t dim, int64_t classes,
                                 const dy_probe_options *opts);
DY_API void dy_probe_destroy(dy_probe *probe);
/* The parameters, writable: weight [classes, dim], bias [classes]. */
DY_API float *dy_probe_weight(dy_probe *probe);
DY_API float *dy_probe_bias(dy_probe *probe);
DY_API int64_t dy_probe_dim(const dy_probe *probe);
DY_API int64_t dy_probe_classes(const dy_probe *probe);
/* Adam steps taken so far. */
DY_API int64_t dy_probe_steps(const dy_probe *probe);

/* One Adam step on a batch: features [n, dim], labels [n]. *loss (may be NULL) receives the mean cross-entropy of
 * the batch before the step. DY_ERR_NUMERIC for a non-finite feature or loss; DY_ERR_INVALID for a bad label. */
DY_API dy_status dy_probe_step(dy_ctx *ctx, dy_probe *probe, const float *features, const int64_t *labels, int64_t n,
                               float *loss);

/* Supplies one batch for training: the features [count, dim] and labels [count] of the training samples
 * indices[0..count) (the probe's shuffled order) in epoch `epoch`. The paper's protocol computes them here through
 * the frozen encoder with fresh training augmentations; the fast mode copies cached rows. Return DY_OK or an error,
 * which stops training and is returned (keep the message in the context with dy_fail). */
typedef dy_status (*dy_probe_batch_fn)(void *user, int64_t epoch, const int64_t *indices, int64_t count,
                                       float *features, int64_t *labels);
/* Called after each epoch with the mean training loss over its batches; a non-DY_OK return stops training (a signal,
 * say) and is returned. May be NULL. */
typedef dy_status (*dy_probe_epoch_fn)(void *user, int64_t epoch, double mean_loss);

/* Trains for opts.epochs epochs over n_train samples supplied by batch_fn. */
DY_API dy_status dy_probe_train(dy_ctx *ctx, dy_probe *probe, int64_t n_train, dy_probe_batch_fn batch_fn,
                                dy_probe_epoch_fn epoch_fn, void *user);
/* The fast mode: features [n_train, dim] and labels [n_train] in memory (epoch_fn may be NULL; user goes to it). */
DY_API dy_status dy_probe_train_cached(dy_ctx *ctx, dy_probe *probe, const float *features, const int64_t *labels,
                                       int64_t n_train, dy_probe_epoch_fn epoch_fn, void *user);

/* Logits [n, classes] (may be NULL) and ranked classes [n, DY_EVAL_TOPK] (may be NULL; ties: lower class first). */
DY_API dy_status dy_probe_predict(dy_ctx *ctx, const dy_probe *probe, const float *features, int64_t n,
                                  int64_t *ranked, float *logits);
/* Predictions on a test set and their accuracy (*out allocated as dy_eval_accuracy_compute; ranked may be NULL). */
DY_API dy_status dy_probe_evaluate(dy_ctx *ctx, const dy_probe *probe, const float *features, const int64_t *labels,
                                   int64_t n, int64_t *ranked, dy_eval_accuracy *out);

/* ---- Fine-tuning (SimCLR's semi-supervised protocol) ------------------------------------------------------------
 * The encoder (a dy_model WITHOUT the projection head, whose output is its features h [n, dim]) trained end to end
 * with a linear head (a dy_probe: weight [classes, dim], bias [classes], nn.Linear's initialisation from (seed,
 * DY_RNG_EVAL, 0, 0)) by softmax cross-entropy, mean over the batch. The encoder runs in training mode
 * (dy_model_forward_train: batch statistics, running statistics updated); the head's gradient is computed here and
 * d(loss)/dh goes to dy_model_backward, which ASSIGNS the encoder's gradients. One optimizer (SGD as torch.optim.SGD,
 * or Adam) steps the encoder's and the head's parameters with the same learning rate and weight decay.
 *
 *     dy_finetune *ft;
 *     dy_finetune_options fo = dy_finetune_defaults();      // SGD lr 0.01 momentum 0.9, no weight decay
 *     dy_finetune_create(ctx, &ft, encoder, classes, &fo);
 *     for (...) dy_finetune_step(ctx, ft, images, labels, n, h, w, &loss);   // augmented views, n >= 2
 *     dy_model_embed(encoder, test_images, ...); dy_probe_evaluate(ctx, dy_finetune_probe(ft), ...);
 */
typedef enum { DY_FINETUNE_SGD = 0, DY_FINETUNE_ADAM = 1 } dy_finetune_optimizer;

typedef struct {
    dy_finetune_optimizer optimizer; /* SGD */
    double lr;                       /* 0.01 */
    double momentum;                 /* 0.9 (SGD only) */
    double weight_decay;             /* 0 (L2, on every parameter) */
    uint64_t seed;                   /* 0: the head's initialisation */
} dy_finetune_options;

DY_API dy_finetune_options dy_finetune_defaults(void);

typedef struct dy_finetune dy_finetune;

/* model must have no projection head and outlive the fine-tuner; classes >= 1. */
DY_API dy_status dy_finetune_create(dy_ctx *ctx, dy_finetune **out, dy_model *model, int64_t classes,
                                    const dy_finetune_options *opts);
DY_API void dy_finetune_destroy(dy_finetune *ft);
/* The linear head, for predictions on features (dy_probe_predict, dy_probe_evaluate) and its parameters. */
DY_API dy_probe *dy_finetune_probe(dy_finetune *ft);
/* Mean cross-entropy of a batch (images [n, channels, h, w], labels [n], n >= 2) through the encoder in training
 * mode and the head; ASSIGNS the encoder's gradients (dy_model_grads) and the head's into head_grad [classes * dim +
 * classes] (weight then bias; may be NULL), without weight decay. Changes no parameter (the running statistics of
 * batch norm move, as in any training forward). */
DY_API dy_status dy_finetune_loss_grad(dy_ctx *ctx, dy_finetune *ft, const float *images, const int64_t *labels,
                                       int64_t n, int64_t h, int64_t w, double *loss, float *head_grad);
/* dy_finetune_loss_grad, then one optimizer step over the encoder and the head. *loss (may be NULL): the batch's
 * loss before the step. */
DY_API dy_status dy_finetune_step(dy_ctx *ctx, dy_finetune *ft, const float *images, const int64_t *labels,
                                  int64_t n, int64_t h, int64_t w, double *loss);

/* ---- Raw-pixel baseline ------------------------------------------------------------------------------------------
 * The bar learnt features must beat: flattened images as features, both protocols above. Images are uint8 [n, pixels]
 * (any fixed flattening order; a dy_dataset's pixels with pixels = channels * height * width), scaled to [0, 1]; kNN
 * normalises rows itself, the probe sees the scaled pixels. knn_opts / probe_opts NULL: the defaults
 * (dy_knn_defaults: k 200, t 0.1; dy_probe_defaults: 100 epochs, batch 512, Adam 1e-3, wd 1e-6). */
typedef struct {
    dy_eval_accuracy knn, linear;         /* free with dy_raw_baseline_free */
    double knn_seconds, linear_seconds;   /* wall-clock time of each protocol */
} dy_raw_baseline;

/* The raw-pixel features themselves: images [n, pixels] as floats scaled to [0, 1] (what the baseline evaluates and
 * what `dystress eval` uses without a checkpoint); *features is allocated [n, pixels], free with free(). */
DY_API dy_status dy_eval_pixel_features(dy_ctx *ctx, const uint8_t *images, int64_t n, int64_t pixels,
                                        float **features);
DY_API dy_status dy_eval_raw_pixels(dy_ctx *ctx, const uint8_t *train_images, const int64_t *train_labels,
                                    int64_t n_train, const uint8_t *test_images, const int64_t *test_labels,
                                    int64_t n_test, int64_t pixels, int64_t classes, const dy_knn_options *knn_opts,
                                    const dy_probe_options *probe_opts, dy_raw_baseline *out);
DY_API void dy_raw_baseline_free(dy_raw_baseline *b);

#ifdef __cplusplus
}
#endif
#endif
