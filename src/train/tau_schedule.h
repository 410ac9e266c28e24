/* A temperature schedule: the level of a profile (a constant's tau, the cosine or shifted profile's tau_min and
 * tau_max) as a function of the training step, set before each step. Off (DY_TAU_SCHEDULE_CONSTANT) unless chosen.
 *
 * The fraction of training u in [0, 1]: steps unit, u = step / (T - 1) over the run's T = epochs x steps-per-epoch
 * steps (0-based step; the last step has u = 1, as the learning-rate cosine reaches its end); epochs unit,
 * u = epoch / (E - 1) with epoch = step / steps-per-epoch, so that the level changes at epoch boundaries only. One
 * step or one epoch in all: u = 0. --max-steps does not change T, --epochs on resume stretches the schedule (as it
 * does the learning rate's).
 *
 * Levels: linear and cosine multiply every level of the profile by a factor f(u) that goes from 1 to the end ratio
 * R: linear f = (1 - u) + R u, cosine f = w + (1 - w) R with w = (1 + cos(pi u)) / 2 (so f(0) = 1 and f(1) = R
 * exactly). A file is a piecewise-linear table over u (rows at u = 0 ... 1, increasing), whose column is one of
 *   factor            f(u), multiplying every level as above
 *   tau               the const profile's level itself
 *   tau_min, tau_max  the cosine/shifted profile's bounds themselves (an adaptive run's, replayed)
 * Between rows the values are interpolated linearly, v = (1 - w) v_i + w v_i+1. Levels are computed in double and
 * rounded to float, as the profile holds them.
 *
 * The schedule is a function of the step and the configuration: nothing changes with the run's data, so a resumed run
 * equals an uninterrupted one. The checkpoint keeps the schedule ("tau_schedule.spec" [kind, per_epoch, end_ratio,
 * table kind] and, for a file, "tau_schedule.table" [rows, 3]) and a resume that finds another is refused (the file
 * edited between the run and its resume, a library caller's other schedule). */
#ifndef DY_TRAIN_TAU_SCHEDULE_H
#define DY_TRAIN_TAU_SCHEDULE_H

#include <stdbool.h>

#include "core/tensor_list.h"
#include "dystress.h"

typedef enum {
    DY_TAU_SCHEDULE_CONSTANT,
    DY_TAU_SCHEDULE_LINEAR,
    DY_TAU_SCHEDULE_COSINE,
    DY_TAU_SCHEDULE_FILE
} dy_tau_schedule_kind;

/* What a table's value columns hold (see above). */
typedef enum { DY_TAU_TABLE_FACTOR, DY_TAU_TABLE_TAU, DY_TAU_TABLE_BOUNDS } dy_tau_table_kind;

#define DY_TAU_TABLE_MAX_ROWS ((int64_t)1 << 20)

typedef struct {
    dy_tau_schedule_kind kind;
    bool per_epoch;             /* the epochs unit (else steps) */
    double end_ratio;           /* linear, cosine: f at the end, > 0 */
    /* file: rows x [u, lo, hi] (factor and tau tables: lo = hi), caller's memory; or NULL with file set, and the
     * trainer reads the file (dy_tau_schedule_read) when it is created */
    dy_tau_table_kind table_kind;
    int64_t rows;
    const double *table;
    const char *file;           /* for messages, and for the trainer to read */
} dy_tau_schedule;

const char *dy_tau_schedule_name(dy_tau_schedule_kind k); /* "constant", "linear", "cosine", "file" */

/* The fraction of training of a step (0-based) of a run of total_steps steps of steps_per_epoch. */
double dy_tau_schedule_fraction(const dy_tau_schedule *s, int64_t step, int64_t steps_per_epoch, int64_t total_steps);
/* The levels at fraction u in double, from the profile's starting levels p: *lo and *hi (tau_min, tau_max; equal
 * for a constant). */
void dy_tau_schedule_levels(const dy_tau_schedule *s, const dy_tau_profile *p, double u, double *lo, double *hi);
/* The profile p with the levels of fraction u (float); p itself for the constant schedule. */
dy_tau_profile dy_tau_schedule_profile(const dy_tau_schedule *s, const dy_tau_profile *p, double u);

/* DY_ERR_INVALID with a message naming the option unless s can run with profile p: an end ratio > 0 whose levels
 * stay in dy_tau_check's range; a table of 2 rows or more whose u start at 0, increase strictly and end at 1, whose
 * values are finite and > 0, whose column fits the profile (tau: const; tau_min/tau_max: cosine or shifted), every
 * row's levels accepted by dy_tau_check; no schedule but the constant one with the adaptive profile (adapt_on: both
 * would set the bounds). A file schedule without a table is checked as far as it can be (its table comes later). */
dy_status dy_tau_schedule_check(dy_ctx *ctx, const dy_tau_schedule *s, const dy_tau_profile *p, bool adapt_on);

/* Reads a schedule table: text, one row a line of numbers separated by commas and/or blanks; blank lines and lines
 * starting with '#' skipped; an optional header line first, "fraction,factor", "fraction,tau" or
 * "fraction,tau_min,tau_max" (without one: two columns, fraction and factor). *table is malloc'ed [rows, 3]. At most
 * DY_TAU_TABLE_MAX_ROWS rows. DY_ERR_IO when the file cannot be read, DY_ERR_FORMAT naming the file and line. The
 * rows' values are checked by dy_tau_schedule_check. */
dy_status dy_tau_schedule_read(dy_ctx *ctx, const char *path, dy_tau_table_kind *kind, double **table,
                               int64_t *rows);

/* The checkpoint's tensors of a schedule (none for the constant one): "tau_schedule.spec", spec[4] staged in the
 * caller's memory, and a file's "tau_schedule.table", pointing at s's table. A load compares them with the run's
 * (they are configuration, never restored). */
void dy_tau_schedule_list_tensors(const dy_tau_schedule *s, double spec[4], dy_tensor_list *l);

#endif
