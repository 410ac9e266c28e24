/* dystress — engine API: ResNet encoders with a projection head, trained on the CPU. Included by dystress.h.
 *
 * A dy_model holds a network (ResNet-18 or -50 with the CIFAR or ImageNet stem, optionally the SimCLR projection
 * head), its parameters, gradients and batch-norm statistics — each ONE contiguous float buffer —
 * and planned executors for the batch and image sizes it has seen. Tensor layouts are PyTorch's; names are
 * torchvision's ("conv1.weight", "layer2.0.downsample.1.running_mean", the head under "head.").
 *
 * A training step:
 *     dy_model_forward_train(m, x, n, h, w, feats, z);   // x [n, c, h, w] -> feats [n, d], z [n, out]
 *     ... loss, dz [n, out] ...
 *     dy_model_backward(m, dz);                          // grads = d(loss)/d(params), assigned
 *     float *p = dy_model_params(m, &count), *g = dy_model_grads(m, NULL);
 *     ... optimizer over the flat buffers (include/dystress/optim.h; its state is the caller's, [count] floats) ...
 */
#ifndef DYSTRESS_ENGINE_H
#define DYSTRESS_ENGINE_H
#include "../dystress.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    DY_STEM_CIFAR = 0,   /* conv 3x3 stride 1 pad 1, BN, ReLU; no max-pool (small images) */
    DY_STEM_IMAGENET = 1 /* conv 7x7 stride 2 pad 3, BN, ReLU, max-pool 3x3 stride 2 pad 1 */
} dy_stem;

/* What the network's convolutions slide over. */
typedef enum {
    DY_DIMS_2D = 0, /* images [n, c, h, w]: torchvision's ResNet (the default) */
    DY_DIMS_1D = 1  /* signals [n, c, t] (audio, time series): the same ResNet with nn.Conv1d, BatchNorm1d, MaxPool1d
                     * and AdaptiveAvgPool1d (python/dystress_torch.py's ResNet1d), the stems' kernels, strides and
                     * paddings along t. A batch is passed as [n, c, 1, t] (h = 1, w = t); conv weights are
                     * [out, in, k] as nn.Conv1d's, in the tensor table and in weight files. */
} dy_dims;

/* Arithmetic of the oneDNN executor. Parameters, gradients, optimizer state, batch-norm statistics, the features
 * and outputs handed back, and checkpoints are float32 in both; the precision is how the network computes. */
typedef enum {
    DY_PRECISION_FP32 = 0, /* float32 throughout */
    DY_PRECISION_BF16 = 1  /* mixed: bfloat16 activations and convolutions (float32 accumulation), float32 master
                            * weights reordered to bfloat16 each pass, float32 weight gradients; the projection head
                            * and the loss in float32. Needs the oneDNN backend on a CPU with AVX512-BF16. */
} dy_precision;

typedef struct {
    int depth;           /* 18 (BasicBlock [2,2,2,2]) or 50 (Bottleneck [3,4,6,3], expansion 4) */
    int64_t width;       /* base width: 64 is torchvision's; layer k has width * 2^(k-1) planes */
    int64_t in_channels; /* 1 for grey images, 3 for RGB */
    dy_stem stem;
    bool head;           /* the projection head Linear-BN1d-ReLU-Linear-BN1d after the encoder */
    int64_t head_hidden; /* 512 by default */
    int64_t head_out;    /* 128 by default */
    dy_precision precision; /* DY_PRECISION_FP32 (0) by default; not part of the weights' layout */
    dy_dims dims;           /* DY_DIMS_2D (0, images) by default; DY_DIMS_1D: a 1-D ResNet for signals */
} dy_model_config;

/* ResNet-18, width 64, 3 input channels, CIFAR stem, head 512/128. */
DY_API dy_model_config dy_model_config_default(void);

typedef struct dy_model dy_model;

/* "fp32" or "bf16" ("?" for an unknown value). */
DY_API const char *dy_precision_name(dy_precision p);
/* DY_OK when ctx can run precision p; otherwise DY_ERR_UNSUPPORTED with a message naming why (bf16 on the reference
 * backend, or a CPU without AVX512-BF16 as oneDNN sees it, ONEDNN_MAX_CPU_ISA included), DY_ERR_INVALID for an
 * unknown value. dy_model_create checks the same. */
DY_API dy_status dy_precision_check(dy_ctx *ctx, dy_precision p);

/* Builds the network of config and initialises it as PyTorch does by default (kaiming-normal fan-out convs,
 * BN weight 1 bias 0, running mean 0 var 1, head linears U(-1/sqrt(fan_in), 1/sqrt(fan_in))) from the seeded
 * Philox stream (seed, DY_RNG_INIT, tensor index). Gradients start at zero. The model keeps ctx
 * (which must outlive it) and runs on ctx's backend. */
DY_API dy_status dy_model_create(dy_ctx *ctx, const dy_model_config *config, uint64_t seed, dy_model **out);
DY_API void dy_model_destroy(dy_model *m);
DY_API const dy_model_config *dy_model_get_config(const dy_model *m);
/* Width of the encoder features h (width * 8 for ResNet-18, width * 32 for ResNet-50). */
DY_API int64_t dy_model_feature_dim(const dy_model *m);
/* Width of the model output: head_out with the head, the feature width without. */
DY_API int64_t dy_model_output_dim(const dy_model *m);

/* The flat buffers; *count (when count is not NULL) receives the number of floats. Parameters and gradients (and
 * an optimizer's state over them) share one layout (a tensor's offset is the same in each); state holds BN running
 * statistics.
 * Two models of the same configuration have the same layouts, so copying between their buffers is valid (a MoCo
 * key encoder, an exponential moving average, a checkpoint). dy_model_tensors gives the offset of each tensor. */
DY_API float *dy_model_params(dy_model *m, int64_t *count);
DY_API float *dy_model_grads(dy_model *m, int64_t *count);
DY_API float *dy_model_state(dy_model *m, int64_t *count);

/* Training-mode forward on input [n, in_channels, h, w] (NCHW): batch statistics, running statistics updated.
 * Writes the features [n, feature_dim] when features is not NULL and the output [n, output_dim] when output is not
 * NULL. Keeps what backward needs. n >= 2 (batch statistics need two samples). */
DY_API dy_status dy_model_forward_train(dy_model *m, const float *input, int64_t n, int64_t h, int64_t w,
                                        float *features, float *output);
/* After dy_model_forward_train: from d(loss)/d(output) [n, output_dim], ASSIGNS d(loss)/d(params) into the
 * gradient buffer (no accumulation; zeroing is never needed). */
DY_API dy_status dy_model_backward(dy_model *m, const float *doutput);
/* Evaluation-mode forward (running statistics, nothing kept, no gradient memory): features [n, feature_dim]
 * and/or output [n, output_dim], either may be NULL. Does not disturb a pending training forward/backward pair
 * of another size. */
DY_API dy_status dy_model_forward_eval(dy_model *m, const float *input, int64_t n, int64_t h, int64_t w,
                                       float *features, float *output);
/* Features for evaluation (kNN, linear probe): dy_model_forward_eval without the output. */
DY_API dy_status dy_model_embed(dy_model *m, const float *input, int64_t n, int64_t h, int64_t w, float *features);
/* Bytes of activation memory held by the model's executors (all cached plans together). */
DY_API int64_t dy_model_memory(const dy_model *m);

/* Rows of x [n, d] divided by their L2 norm, at least 1e-12: torch.nn.functional.normalize(x, dim=1), the same
 * operation as the network's L2-norm node, on ctx's threads. y [n, d] may be x (in place). DY_ERR_INVALID for a
 * negative n, d < 1 or a NULL buffer. */
DY_API dy_status dy_l2_normalize(dy_ctx *ctx, float *y, const float *x, int64_t n, int64_t d);

/* The named tensors of the model in torchvision's state_dict order. */
typedef enum {
    DY_TENSOR_PARAM = 0, /* in the parameter (and gradient) buffer */
    DY_TENSOR_STATE = 1  /* in the state buffer (BN running statistics) */
} dy_tensor_kind;

typedef struct {
    char name[80];      /* "layer1.0.conv1.weight", "bn1.num_batches_tracked", "head.0.weight" */
    dy_tensor_kind kind;
    bool is_int64;      /* num_batches_tracked: an int64 scalar in files, a float in the state buffer */
    bool in_head;       /* part of the projection head */
    int ndim;           /* 0 (a scalar) to 4 */
    int64_t shape[4];
    int64_t numel;
    int64_t offset;     /* in floats, into the params (kind PARAM) or state (kind STATE) buffer */
} dy_tensor_info;

/* The table of tensors (owned by the model); *count receives its length. */
DY_API const dy_tensor_info *dy_model_tensors(const dy_model *m, int64_t *count);

/* Writes parameters and BN state as safetensors (F32; num_batches_tracked I64) with torchvision names,
 * atomically. with_head = false writes the encoder only (loads into torchvision's resnet with fc = Identity). */
DY_API dy_status dy_model_save_weights(dy_model *m, const char *path, bool with_head);
/* Reads a safetensors file written by us or by torchvision. Every expected tensor must be present with the
 * expected shape and dtype, and no other tensor may be present (with_head = false: "head." tensors in the file are
 * ignored and the model's head is left as it is). On any mismatch nothing is changed and DY_ERR_MISMATCH names the
 * first offending tensor and what was expected; a corrupt file gives DY_ERR_FORMAT. */
DY_API dy_status dy_model_load_weights(dy_model *m, const char *path, bool with_head);

#ifdef __cplusplus
}
#endif
#endif
