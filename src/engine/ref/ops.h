/* The reference ops: short, readable plain C over contiguous NCHW float arrays. They are the test oracle for
 * the fast backends and the whole engine when oneDNN is absent.
 *
 * Conventions (for every op in the engine, reference and fast):
 *  - Argument order as in llm.c: outputs first, then inputs, then shapes.
 *  - Gradients are ASSIGNED (=), never accumulated: backward overwrites dx, dweight, dbias. A caller that needs a
 *    sum (a value read by two nodes) adds the parts itself.
 *  - A gradient pointer may be NULL when that gradient is not wanted (the network's input, for example).
 *  - Loops over independent outputs (planes, channels, rows) are parallelised with OpenMP. The ops take no
 *    context but its thread count, the last argument, which every parallel region names (num_threads): nothing
 *    depends on the calling thread's OpenMP setting or on another context's.
 *  - Sums over a batch (weight gradients, batch-norm statistics, pooling) are accumulated in double, so the
 *    oracle's own rounding stays far below the 1e-4 tolerance the fast paths are held to.
 *  - Shapes: n batch, c channels, h x w spatial size; hw = h * w.
 */
#ifndef DY_ENGINE_REF_OPS_H
#define DY_ENGINE_REF_OPS_H

#include <stdint.h>

#include "engine/graph.h"

/* 2-D convolution without dilation or groups; output size p = (h + 2 pad_h - r) / stride_h + 1, likewise q with
 * w, s, pad_w and stride_w. A 1-D convolution over [n, c, t] is the case h = r = 1, pad_h = 0. */
typedef struct {
    int64_t n, c, h, w;          /* input  [n, c, h, w] */
    int64_t k, r, s;             /* weight [k, c, r, s] */
    int64_t stride_h, stride_w;  /* step down and across */
    int64_t pad_h, pad_w;        /* zero rows on each side, zero columns on each side */
    int64_t p, q;                /* output [n, k, p, q]; filled by conv2d_shape() */
} dy_conv_shape;

/* Fills cs->p and cs->q; returns 0, or -1 when the shape is impossible (kernel larger than padded input, ...). */
int conv2d_shape(dy_conv_shape *cs);
/* y [n,k,p,q] = conv(x [n,c,h,w], weight [k,c,r,s]) + bias [k] (bias may be NULL). */
void conv2d_forward(float *y, const float *x, const float *weight, const float *bias, const dy_conv_shape *cs,
                    int threads);
/* dx [n,c,h,w] from dy [n,k,p,q] (dx NULL: nothing to do). */
void conv2d_backward_data(float *dx, const float *dy, const float *weight, const dy_conv_shape *cs,
                          int threads);
/* dweight [k,c,r,s] and dbias [k] (may be NULL) from dy and the forward input x. */
void conv2d_backward_weights(float *dweight, float *dbias, const float *dy, const float *x, const dy_conv_shape *cs,
                             int threads);

/* Batch normalisation over [n, c, hw] (hw = 1 for BatchNorm1d; batchnorm.c, on the kernels of bn_kernels.h).
 * Training mode normalises with the batch mean and the biased variance, stores mean and 1/sqrt(var + eps) per channel
 * for backward, and (when running_mean is not NULL) updates running_mean/running_var as PyTorch does:
 * r = (1 - momentum) r + momentum * batch_stat, with the unbiased variance (n*hw / (n*hw - 1)) for running_var.
 * save_mean/save_rstd may be NULL (nothing to keep), and running_mean/running_var NULL together (no update). n*hw must
 * be at least 2: PyTorch refuses training with one value per channel, and so must the caller. gamma and beta are
 * always present (affine). DY_ERR_NOMEM, or sync's failure. */
dy_status batchnorm_forward_train(float *y, float *save_mean, float *save_rstd, float *running_mean, float *running_var,
                                  const float *x, const float *gamma, const float *beta, int64_t n, int64_t c,
                                  int64_t hw, float momentum, float eps, int threads);
/* Evaluation mode: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta. */
void batchnorm_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var, int64_t n, int64_t c, int64_t hw,
                            float eps, int threads);
/* Backward of the training-mode forward: dx, dgamma [c], dbeta [c] (each may be NULL) from dy, the input x and the
 * saved statistics. */
dy_status batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                             const float *save_mean, const float *save_rstd, const float *gamma, int64_t n, int64_t c,
                             int64_t hw, int threads);

/* The same two with the statistics of the global batch of a data-parallel run: sync sums the per-channel figures
 * over the processes (SyncBatchNorm); n is this process's batch. dgamma and dbeta stay this process's part (the
 * trainer sums parameter gradients); dx uses the global sums. With sync NULL they are the functions above. */
dy_status batchnorm_forward_train_sync(float *y, float *save_mean, float *save_rstd, float *running_mean,
                                       float *running_var, const float *x, const float *gamma, const float *beta,
                                       int64_t n, int64_t c, int64_t hw, float momentum, float eps, int threads,
                                       const dy_bn_sync *sync);
dy_status batchnorm_backward_sync(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                                  const float *save_mean, const float *save_rstd, const float *gamma, int64_t n,
                                  int64_t c, int64_t hw, int threads, const dy_bn_sync *sync);

/* y = max(x, 0) elementwise over count values; y may equal x. */
void relu_forward(float *y, const float *x, int64_t count, int threads);
/* dx = dy where the forward output y > 0, else 0; dx may equal dy. */
void relu_backward(float *dx, const float *dy, const float *y, int64_t count, int threads);

/* Max pooling, window kernel_h x kernel_w, strides and pads per direction (padding never wins); output
 * [n, c, p, q]. Ties go to the first maximum in row-major window order, as PyTorch does. */
typedef struct {
    int64_t n, c, h, w;
    int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    int64_t p, q;
} dy_pool_shape;
int maxpool2d_shape(dy_pool_shape *ps);
void maxpool2d_forward(float *y, const float *x, const dy_pool_shape *ps, int threads);
/* dx from dy; the window maxima are found again from x. */
void maxpool2d_backward(float *dx, const float *dy, const float *x, const dy_pool_shape *ps, int threads);

/* Global average pool: y [n, c] = mean over hw of x [n, c, hw]. */
void avgpool_global_forward(float *y, const float *x, int64_t n, int64_t c, int64_t hw, int threads);
void avgpool_global_backward(float *dx, const float *dy, int64_t n, int64_t c, int64_t hw, int threads);

/* Linear: y [n, out] = x [n, in] weight^T + bias, weight [out, in] (PyTorch layout), bias may be NULL. */
void linear_forward(float *y, const float *x, const float *weight, const float *bias, int64_t n, int64_t in,
                    int64_t out, int threads);
/* dx [n, in] (may be NULL), dweight [out, in], dbias [out] (may be NULL). */
void linear_backward(float *dx, float *dweight, float *dbias, const float *dy, const float *x, const float *weight,
                     int64_t n, int64_t in, int64_t out, int threads);

/* Residual add: y = a + b over count values (y may alias a or b). Its backward passes dy to both inputs. */
void add_forward(float *y, const float *a, const float *b, int64_t count, int threads);

/* Row L2 normalisation as torch.nn.functional.normalize: y = x / max(||x||, eps), rows of d values. */
void l2norm_forward(float *y, const float *x, int64_t n, int64_t d, float eps, int threads);
void l2norm_backward(float *dx, const float *dy, const float *x, int64_t n, int64_t d, float eps, int threads);

#endif
