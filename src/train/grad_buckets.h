/* The gradient all-reduce of a data-parallel step, bucketed and overlapped with the backward (as PyTorch DDP does):
 * the flat gradient buffer is cut into buckets of consecutive parameter tensors of about cap bytes each, in the
 * order the backward finishes them (the graph runs backward from the last parameters to the first, so bucket 0
 * holds the buffer's tail). The executors tell which ranges of the buffer are final (graph.h's dy_grad_hook); when
 * every tensor of the next bucket is, its non-blocking all-reduce starts while the backward goes on. Buckets start
 * strictly in bucket order, so every process issues the same collectives in the same order whatever order its
 * executor reports in. dy_grad_sync_finish starts what is left and waits for all before the optimizer.
 *
 * The result: each bucket is summed by its own all-reduce instead of one call over the whole buffer. With 2
 * processes the sum of a float is a + b either way, so the gradients are bit for bit those of the single fused
 * all-reduce (tested); with more, MPI may order the additions differently per call (float summation order). */
#ifndef DY_TRAIN_GRAD_BUCKETS_H
#define DY_TRAIN_GRAD_BUCKETS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/graph.h"
#include "train/comm.h"

/* DDP's default bucket size (bucket_cap_mb = 25) */
#define DY_GRAD_BUCKET_DEFAULT_BYTES (INT64_C(25) << 20)

/* A bucket: floats [begin, end) of the gradient buffer, which are tensors [first, first + count) in offset order. */
typedef struct {
    int64_t begin, end;
    int32_t first, count;
} dy_grad_bucket;

/* The buckets of n parameter tensors (offsets[i], counts[i] floats; any order) that tile [0, total) exactly, each
 * bucket closed once it holds at least cap_bytes (cap_bytes <= 0: one bucket of everything), in backward order:
 * bucket 0 ends at total. *order (n entries, malloc'ed) gets the tensors' indices sorted by offset, which the
 * buckets' first/count index. DY_ERR_INVALID when the tensors leave a gap, overlap or overrun. */
dy_status dy_grad_buckets_plan(dy_ctx *ctx, const int64_t *offsets, const int64_t *counts, int32_t n, int64_t total,
                               int64_t cap_bytes, dy_grad_bucket **buckets, int32_t *n_buckets, int32_t **order);

typedef struct {
    dy_comm *comm;
    float *grads;              /* the buffer the executors write and the buckets reduce */
    dy_grad_bucket *buckets;
    int32_t n_buckets;
    int64_t *offset, *count;   /* the tensors in offset order */
    int32_t *bucket_of;        /* each tensor's bucket */
    bool *ready;               /* each tensor final in this backward */
    int32_t *waiting;          /* per bucket: tensors not yet final */
    int32_t n_tensors;
    int32_t next;              /* the next bucket to start */
    bool active;               /* a backward has reported since the last finish */
    dy_grad_hook hook;         /* what the model is given (user: this) */
} dy_grad_sync;

/* Plans the buckets of a model's parameter tensors (offsets/counts as dy_grad_buckets_plan) over grads [total]. */
dy_status dy_grad_sync_init(dy_ctx *ctx, dy_grad_sync *s, dy_comm *comm, float *grads, const int64_t *offsets,
                            const int64_t *counts, int32_t n, int64_t total, int64_t cap_bytes);
void dy_grad_sync_free(dy_grad_sync *s);
/* The hook's function: [offset, offset + count) of grads is final; starts the buckets that are complete. */
dy_status dy_grad_sync_ready(void *sync, int64_t offset, int64_t count);
/* After the backward: starts every bucket not started yet (in order), waits for all; the next backward starts
 * afresh. */
dy_status dy_grad_sync_finish(dy_grad_sync *s);

#endif
