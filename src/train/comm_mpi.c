/* The MPI communicator behind comm.h: every process of `mpirun -np P` (or `srun`) holds one. Collectives on
 * MPI_COMM_WORLD with errors returned (not fatal), timed, so the trainer can report the share of a step spent
 * communicating. Built only with DY_HAVE_MPI (the Makefile's MPI=1, the default); without it, init says so. */
#include "train/comm.h"

#include <stdlib.h>

#include "core/context.h"

bool dy_comm_mpi_launched(void) {
    /* OpenMPI's mpirun, PMIx launchers (OpenMPI 4, srun --mpi=pmix), PMI/PMI2 launchers (MPICH, srun --mpi=pmi2).
     * Not SLURM_PROCID alone: a batch script's own shell has it too, and is one process. */
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return true;
    return false;
}

#ifndef DY_HAVE_MPI

bool dy_have_mpi(void) { return false; }

dy_status dy_comm_init_mpi(dy_ctx *ctx, dy_comm *c) {
    dy_comm_init_local(c);
    return dy_fail(ctx, DY_ERR_UNSUPPORTED, "this build has no MPI (built with MPI=0): it trains in one process; "
                   "install libopenmpi-dev (scripts/deps.sh) and rebuild to run under mpirun or srun");
}

#else

#include <limits.h>
#include <mpi.h>

bool dy_have_mpi(void) { return true; }

/* Counts handed to one MPI call stay below INT_MAX elements. */
#define CHUNK (INT64_C(1) << 30)

static dy_status mpi_fail(dy_comm *c, int err, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(err, msg, &len);
    return dy_fail(c->ctx, DY_ERR_IO, "rank %d of %d: MPI %s failed: %s", c->rank, c->size, what, msg);
}

static dy_status mpi_allgather_rows(dy_comm *c, float *global, const float *local, int64_t rows, int64_t cols) {
    const int64_t n = rows * cols;
    if (n > INT_MAX / 2)
        return dy_fail(c->ctx, DY_ERR_INVALID, "all-gather of %lld floats per process is beyond one MPI call",
                       (long long)n);
    double t0 = MPI_Wtime();
    int err = MPI_Allgather(local, (int)n, MPI_FLOAT, global, (int)n, MPI_FLOAT, MPI_COMM_WORLD);
    c->seconds += MPI_Wtime() - t0;
    c->bytes += n * (int64_t)sizeof(float);
    c->bytes_gather += n * c->size * (int64_t)sizeof(float);
    return err == MPI_SUCCESS ? DY_OK : mpi_fail(c, err, "all-gather");
}

static dy_status mpi_allreduce_sum(dy_comm *c, float *buf, int64_t n) {
    double t0 = MPI_Wtime();
    int err = MPI_SUCCESS;
    for (int64_t at = 0; at < n && err == MPI_SUCCESS; at += CHUNK) {
        int64_t k = n - at < CHUNK ? n - at : CHUNK;
        err = MPI_Allreduce(MPI_IN_PLACE, buf + at, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    c->seconds += MPI_Wtime() - t0;
    c->bytes += n * (int64_t)sizeof(float);
    c->bytes_reduce += n * (int64_t)sizeof(float);
    return err == MPI_SUCCESS ? DY_OK : mpi_fail(c, err, "all-reduce");
}

/* The non-blocking all-reduces started and not yet waited for. */
typedef struct {
    MPI_Request *req;
    int n, cap;
} mpi_requests;

static dy_status mpi_allreduce_start(dy_comm *c, float *buf, int64_t n) {
    mpi_requests *r = c->impl;
    double t0 = MPI_Wtime();
    int err = MPI_SUCCESS;
    for (int64_t at = 0; at < n && err == MPI_SUCCESS; at += CHUNK) {
        if (r->n == r->cap) {
            int cap = r->cap ? 2 * r->cap : 64;
            MPI_Request *grown = realloc(r->req, sizeof *grown * (size_t)cap);
            if (!grown) return dy_fail(c->ctx, DY_ERR_NOMEM, "out of memory for MPI requests");
            r->req = grown;
            r->cap = cap;
        }
        int64_t k = n - at < CHUNK ? n - at : CHUNK;
        err = MPI_Iallreduce(MPI_IN_PLACE, buf + at, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r->req[r->n]);
        if (err == MPI_SUCCESS) r->n++;
    }
    c->seconds += MPI_Wtime() - t0;
    c->bytes += n * (int64_t)sizeof(float);
    c->bytes_reduce += n * (int64_t)sizeof(float);
    return err == MPI_SUCCESS ? DY_OK : mpi_fail(c, err, "non-blocking all-reduce");
}

static dy_status mpi_allreduce_test(dy_comm *c) {
    mpi_requests *r = c->impl;
    if (r->n == 0) return DY_OK;
    double t0 = MPI_Wtime();
    int done = 0;
    int err = MPI_Testall(r->n, r->req, &done, MPI_STATUSES_IGNORE);
    c->seconds += MPI_Wtime() - t0;
    if (err != MPI_SUCCESS) return mpi_fail(c, err, "test of the all-reduces");
    if (done) r->n = 0;
    return DY_OK;
}

static dy_status mpi_allreduce_wait(dy_comm *c) {
    mpi_requests *r = c->impl;
    if (r->n == 0) return DY_OK;
    double t0 = MPI_Wtime();
    int err = MPI_Waitall(r->n, r->req, MPI_STATUSES_IGNORE);
    c->seconds += MPI_Wtime() - t0;
    r->n = 0;
    return err == MPI_SUCCESS ? DY_OK : mpi_fail(c, err, "wait for the all-reduces");
}

static dy_status mpi_allreduce_sum_f64(dy_comm *c, double *buf, int64_t n) {
    double t0 = MPI_Wtime();
    int err = MPI_SUCCESS;
    for (int64_t at = 0; at < n && err == MPI_SUCCESS; at += CHUNK) {
        int64_t k = n - at < CHUNK ? n - at : CHUNK;
        err = MPI_Allreduce(MPI_IN_PLACE, buf + at, (int)k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    }
    c->seconds += MPI_Wtime() - t0;
    c->bytes += n * (int64_t)sizeof(double);
    return err == MPI_SUCCESS ? DY_OK : mpi_fail(c, err, "all-reduce");
}

static dy_status mpi_any(dy_comm *c, int *flag) {
    int v = *flag != 0;
    double t0 = MPI_Wtime();
    int err = MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    c->seconds += MPI_Wtime() - t0;
    c->bytes += (int64_t)sizeof(int);
    if (err != MPI_SUCCESS) return mpi_fail(c, err, "all-reduce of the stop flag");
    *flag = v != 0;
    return DY_OK;
}

static void mpi_abort(dy_comm *c, int code) {
    (void)c;
    MPI_Abort(MPI_COMM_WORLD, code);
}

static void mpi_finalize(dy_comm *c) {
    mpi_requests *r = c->impl;
    if (r) free(r->req);
    free(r);
    c->impl = NULL;
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
    c->finalize = NULL;
}

dy_status dy_comm_init_mpi(dy_ctx *ctx, dy_comm *c) {
    dy_comm_init_local(c);
    c->ctx = ctx;
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    /* only the main thread calls MPI (the loader's and OpenMP's threads never do) */
    if (!inited && MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return dy_fail(ctx, DY_ERR_IO, "MPI_Init failed");
    if (!(c->impl = calloc(1, sizeof(mpi_requests)))) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &c->local_size);
        MPI_Comm_free(&node);
    }
    if (c->local_size < 1) c->local_size = 1;
    c->allgather_rows = mpi_allgather_rows;
    c->allreduce_sum = mpi_allreduce_sum;
    c->allreduce_sum_f64 = mpi_allreduce_sum_f64;
    c->allreduce_start = mpi_allreduce_start;
    c->allreduce_test = mpi_allreduce_test;
    c->allreduce_wait = mpi_allreduce_wait;
    c->any = mpi_any;
    c->abort = mpi_abort;
    c->finalize = mpi_finalize;
    return DY_OK;
}

#endif
