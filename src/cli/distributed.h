/* The command's side of data-parallel pretraining: joining the MPI job when a launcher started this process, the
 * threads each process takes, the prefix that names a process in messages, and ending the job as one. */
#ifndef DY_CLI_DISTRIBUTED_H
#define DY_CLI_DISTRIBUTED_H

#include <stdbool.h>
#include <stdint.h>

#include "train/comm.h"

typedef struct {
    dy_comm comm;   /* the local communicator when not launched by MPI */
    bool on;        /* joined an MPI job */
    bool agreed;    /* cli_dist_agree has run */
    char label[48]; /* "rank 1 of 4: " under MPI, "" alone */
} cli_dist;

/* The rank an MPI launcher gave this process, from its environment (0 when not launched), and the process count in
 * *size. For the commands that run once whatever the launcher (eval, embed, export, report, demo): rank 0 works, the
 * others leave; none of them joins the MPI job. */
int cli_dist_launched_rank(long *size);
/* Joins the MPI job when mpirun/srun started this process. 0, or an exit status with the reason printed. */
int cli_dist_init(cli_dist *d);
/* Threads per process: --threads when given, else the cores of this node divided among its processes (the
 * launcher's slots), within the cores this process may run on. 0 alone means "all cores" (the context decides). */
int64_t cli_dist_threads(const cli_dist *d, int64_t threads);
/* The one collective before training: every process says whether its setup succeeded (status 0). Returns the
 * status this process should end with: its own, or 1 when another process failed (its message is its own). */
int cli_dist_agree(cli_dist *d, int status);
/* After this process printed why it failed during training: ends every process of the job. Returns alone. */
void cli_dist_abort(cli_dist *d, int status);
/* Ends the job normally (MPI_Finalize; waits for the other processes). */
void cli_dist_end(cli_dist *d);

#endif
