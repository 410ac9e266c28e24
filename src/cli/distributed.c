#include "cli/distributed.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dystress.h"

/* The world size the launcher announces, 0 when it says none. */
static long launched_size(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return strtol(v, NULL, 10);
    }
    return 0;
}

int cli_dist_launched_rank(long *size) {
    *size = 1;
    if (!dy_comm_mpi_launched()) return 0;
    long n = launched_size();
    *size = n > 0 ? n : 1;
    static const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return (int)strtol(v, NULL, 10);
    }
    return 0;
}

int cli_dist_init(cli_dist *d) {
    memset(d, 0, sizeof *d);
    dy_comm_init_local(&d->comm);
    if (!dy_comm_mpi_launched()) return 0;
    if (!dy_have_mpi()) {
        if (launched_size() > 1) {
            fprintf(stderr, "dystress: started by an MPI launcher with %ld processes, but this build has no MPI (built "
                    "with MPI=0), so each would train alone into the same run directory; install libopenmpi-dev "
                    "(scripts/deps.sh) and rebuild, or run one process\n", launched_size());
            return 1;
        }
        return 0; /* one process: the same run as without a launcher */
    }
    if (dy_comm_init_mpi(NULL, &d->comm) != DY_OK) {
        fprintf(stderr, "dystress: cannot join the MPI job (MPI_Init failed)\n");
        return 1;
    }
    d->on = true;
    if (d->comm.size > 1) snprintf(d->label, sizeof d->label, "rank %d of %d: ", d->comm.rank, d->comm.size);
    return 0;
}

int64_t cli_dist_threads(const cli_dist *d, int64_t threads) {
    if (threads > 0 || !d->on) return threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t per = (cores > 0 ? cores : 1) / (d->comm.local_size > 0 ? d->comm.local_size : 1);
    int64_t allowed = omp_get_num_procs(); /* the launcher may bind this process to some cores */
    if (per > allowed) per = allowed;
    return per > 0 ? per : 1;
}

int cli_dist_agree(cli_dist *d, int status) {
    d->agreed = true;
    int failed = status != 0;
    if (d->comm.any(&d->comm, &failed) != DY_OK) {
        fprintf(stderr, "dystress: %scannot reach the other processes\n", d->label);
        cli_dist_abort(d, 1);
        return 1;
    }
    if (status != 0) return status;
    if (failed) {
        fprintf(stderr, "dystress: %sstopping: another process failed before training (its message says why)\n",
                d->label);
        return 1;
    }
    return 0;
}

void cli_dist_abort(cli_dist *d, int status) {
    if (!d->on || d->comm.size < 2) return;
    fprintf(stderr, "dystress: %sending every process of the run\n", d->label);
    fflush(stderr);
    dy_comm_abort(&d->comm, status ? status : 1);
}

void cli_dist_end(cli_dist *d) {
    if (d->on) dy_comm_finalize(&d->comm);
}
