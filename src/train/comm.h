/* How a training step talks to the other processes of a data-parallel run. The step is written against this
 * interface: gather every process's embeddings so the loss sees the global batch (its negatives), then sum the
 * parameter gradients. A single process is the identity implementation below; an MPI one plugs in beside it. */
#ifndef DY_TRAIN_COMM_H
#define DY_TRAIN_COMM_H

#include <stdint.h>

#include "dystress.h"

typedef struct dy_comm dy_comm;
struct dy_comm {
    int rank, size;
    /* global [size * rows, cols] = the local [rows, cols] blocks of every rank, in rank order. */
    dy_status (*allgather_rows)(dy_comm *c, float *global, const float *local, int64_t rows, int64_t cols);
    /* buf [n] = sum over ranks of buf (in place). */
    dy_status (*allreduce_sum)(dy_comm *c, float *buf, int64_t n);
    void *impl;
};

/* The single-process communicator: gather copies, reduce does nothing. */
void dy_comm_init_local(dy_comm *c);

#endif
