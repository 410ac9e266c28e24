/* Training batch norm's per-channel kernels, written once for both executors: the reference executor runs them on
 * its plain [n, c, hw] tensors, the oneDNN executor (src/engine/dnnl/dnnl_batchnorm.c) on its blocked and
 * channels-last activations, with the pointers it resolves. One call is the whole batch norm (+ a fused ReLU):
 * forward = per-channel sums, then squared deviations, then normalise and affine; backward = the two per-channel
 * sums (of g and of g (x - mean)), then the input gradient. The synchronised variant (sync-bn) is the same kernels
 * with the caller's all-reduce (dy_bn_sync, src/engine/graph.h) summing the per-channel figures between the passes;
 * without one, each process's own batch. The kernels call nothing of the executors.
 *
 * The order of every sum is part of the result (fixtures hold training runs to their bits), and no order depends on
 * the thread count:
 *  - BN_NCHW and BN_NHWC (bn_rows.c): every sum in double, over the rows (pixel p of image n, in (n, p) order) in
 *    fixed chunks (channels-last tensors of 16 channels and more: 256 rows; otherwise one chunk of all the rows), the
 *    chunks' sums then added in order;
 *  - BN_NCHW16C (bn_blocked.c): per (image, 16-channel block) tile, float sums in 16-lane vectors, added in double
 *    over the images in order; the variance combines the tiles' own squared deviations (Chan et al.). */
#ifndef DY_ENGINE_REF_BN_KERNELS_H
#define DY_ENGINE_REF_BN_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/graph.h"

typedef enum {
    BN_NCHW,   /* element (n, c, p) at (n C + c) HW + p: plain [n, c, h, w] */
    BN_NHWC,   /* at (n HW + p) C + c: channels last; [n, c] is this with hw = 1 */
    BN_NCHW16C /* at ((n C/16 + c/16) HW + p) 16 + c % 16 (oneDNN's nChw16c), C a multiple of 16 */
} bn_layout;

typedef struct {
    bn_layout layout;
    bool bf16;              /* activations (x, y, dy, dx) in bf16: read into float, results rounded to nearest even
                             * (a NaN stays a NaN); statistics and parameters stay float */
    int64_t n, c, hw;       /* this process's batch */
    float eps, momentum;
    int threads;
    float *work;            /* bn_work_floats(...) floats, 8-byte aligned; NULL: the kernel allocates its own */
    const dy_bn_sync *sync; /* NULL: the statistics of this process's batch */
} bn_shape;

typedef struct {
    bn_shape s;
    const void *x;
    void *y;
    bool relu;                            /* y = max(0, ...) (its mask backward is y > 0) */
    const float *gamma, *beta;            /* NULL: 1 and 0 */
    float *mean, *var, *rstd;             /* [c] kept for backward: mean, biased variance, 1/sqrt(var + eps); each
                                           * may be NULL on BN_NCHW and BN_NHWC; mean is needed on BN_NCHW16C */
    float *running_mean, *running_var;    /* PyTorch's update (unbiased variance) when both are given */
    float *num_batches;                   /* up by one when given */
} bn_forward_args;

typedef struct {
    bn_shape s;
    const void *x, *y, *dy;               /* y: the fused ReLU's output (g = dy where y > 0), or NULL */
    void *dx;                             /* may be dy (in place); NULL: only the parameter gradients */
    const float *mean, *var, *rstd;       /* the forward's: rstd if given (then g xhat is summed, as the reference
                                           * op does), else var (then g (x - mean) is summed and scaled after) */
    const float *gamma;                   /* NULL: 1 */
    float *dgamma, *dbeta;                /* this process's share (may be NULL) */
} bn_backward_args;

/* Each returns DY_OK, DY_ERR_NOMEM (work NULL and no memory) or the all-reduce's failure. */
int64_t bn_work_floats(bn_layout layout, int64_t n, int64_t c, int64_t hw);
dy_status bn_forward(const bn_forward_args *a);
dy_status bn_backward(const bn_backward_args *a);

/* The layouts' passes (bn_rows.c, bn_blocked.c) on a work buffer of bn_work_floats; bn_forward/bn_backward call
 * these. */
int64_t bn_rows_work_floats(bn_layout layout, int64_t n, int64_t c, int64_t hw);
dy_status bn_rows_forward(const bn_forward_args *a, double *work);
dy_status bn_rows_backward(const bn_backward_args *a, double *work);
int64_t bn_blocked_work_floats(int64_t n, int64_t c);
dy_status bn_blocked_forward(const bn_forward_args *a, float *work);
dy_status bn_blocked_backward(const bn_backward_args *a, float *work);
/* The sync-bn all-reduce of buf [n] (nothing without one). */
static inline dy_status bn_allreduce(const dy_bn_sync *sync, double *buf, int64_t n) {
    return sync && sync->allreduce ? sync->allreduce(sync->user, buf, n) : DY_OK;
}

#endif
