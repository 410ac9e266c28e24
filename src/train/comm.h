/* How a training step talks to the other processes of a data-parallel run. The step is written against this
 * interface: gather every process's embeddings so the loss sees the global batch (its negatives), then sum the
 * parameter gradients; batch norm may sum its statistics (sync-bn), and the loop agrees on stopping. A single process
 * is the identity implementation (comm.c); the MPI one is in comm_mpi.c.
 *
 * Every call is collective: every rank makes the same calls in the same order with the same sizes. A failure returns
 * DY_ERR_IO with the MPI message in the context; the caller then ends the whole job (dy_comm_abort), since the other
 * ranks are blocked in the collective and cannot be told otherwise. */
#ifndef DY_TRAIN_COMM_H
#define DY_TRAIN_COMM_H

#include <stdbool.h>
#include <stdint.h>

#include "dystress.h"

typedef struct dy_comm dy_comm;
struct dy_comm {
    int rank, size;
    int local_size;   /* processes of this run on this node (1 alone): threads per process are the cores / this */
    dy_ctx *ctx;      /* where failures leave their message (may be NULL) */
    /* global [size * rows, cols] = the local [rows, cols] blocks of every rank, in rank order. */
    dy_status (*allgather_rows)(dy_comm *c, float *global, const float *local, int64_t rows, int64_t cols);
    /* buf [n] = sum over ranks of buf (in place). */
    dy_status (*allreduce_sum)(dy_comm *c, float *buf, int64_t n);
    /* the same in double, for small per-channel statistics (sync-bn) and the reported figures */
    dy_status (*allreduce_sum_f64)(dy_comm *c, double *buf, int64_t n);
    /* The same, non-blocking (MPI_Iallreduce): started now, summed in place by the time allreduce_wait returns; buf
     * must not be touched before. allreduce_test lets the started ones progress (MPI moves them on only inside its
     * calls: the trainer calls it between ops of the backward). Starts are collective and ordered like the rest. */
    dy_status (*allreduce_start)(dy_comm *c, float *buf, int64_t n);
    dy_status (*allreduce_test)(dy_comm *c);
    dy_status (*allreduce_wait)(dy_comm *c);
    /* *flag = 1 on every rank when it was non-zero on any rank, else 0 (the stop flag, agreed each step). */
    dy_status (*any)(dy_comm *c, int *flag);
    void (*abort)(dy_comm *c, int code); /* ends every process of the run (MPI_Abort); nothing for one process */
    void (*finalize)(dy_comm *c);
    /* Wall time spent inside the calls above since the last reset, and the bytes this process gave them: the
     * communication share of a step. */
    double seconds;
    int64_t bytes;
    int64_t bytes_gather; /* the gathered results (every process's rows) of allgather_rows, in bytes */
    int64_t bytes_reduce; /* the float buffers all-reduced (gradients), in bytes */
    void *impl;
};

/* The single-process communicator: gather copies, reductions do nothing. */
void dy_comm_init_local(dy_comm *c);

/* Whether this process was started by an MPI launcher (mpirun, srun, ...: its environment says so). */
bool dy_comm_mpi_launched(void);
/* Joins the MPI job this process belongs to (MPI_Init; the launcher's environment, OMPI_COMM_WORLD_* or PMI, names
 * rank and size). DY_ERR_UNSUPPORTED in a build without MPI. Call once per process; dy_comm_finalize at the end. */
dy_status dy_comm_init_mpi(dy_ctx *ctx, dy_comm *c);
static inline void dy_comm_finalize(dy_comm *c) {
    if (c->finalize) c->finalize(c);
}
/* Ends every process of the run with code (after the caller has printed why). Returns only for one process. */
static inline void dy_comm_abort(dy_comm *c, int code) {
    if (c->abort) c->abort(c, code);
}

#endif
