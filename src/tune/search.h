/* The search's state and what its files share (include/dystress/tune.h is the API): search.c plans and holds the
 * trials, tune_files.c writes and reads the tune directory's files (plan.json, results, brackets, the leaderboard),
 * rung.c runs a rung's trials through the runner, halving.c the brackets and rungs (promotion, TPE brackets). */
#ifndef DY_TUNE_SEARCH_H
#define DY_TUNE_SEARCH_H

#include "dystress.h"

struct dy_tune {
    dy_ctx *ctx;
    dy_tune_options opt; /* opt.dir points at dir */
    char *dir;
    dy_tune_schedule sched;
    dy_tune_trial *trials;
    int64_t n_trials;
    int64_t ran, kept; /* trials run by dy_tune_run, and kept from before */
    bool opened;
};

/* The run directory of trial i at rung (trials/tNN, or tNN-rK for a restarted promotion) and its result file. */
void dy_tune_trial_dir(const dy_tune *t, int64_t i, int rung, char *buf, size_t size);
void dy_tune_result_path(const dy_tune *t, int64_t i, int rung, char *buf, size_t size);
/* A number as a result file holds it (%.6f): a tune continued from the files ranks, promotes and proposes from the
 * same values as one that ran through. */
double dy_tune_as_written(double v);

/* ---- tune_files.c ----------------------------------------------------------------------------------------------- */

/* bracket-K.json's text of bracket b; NULL when out of memory. */
char *dy_tune_bracket_text(const dy_tune *t, int b);
/* Writes text to path (atomically) where there is no file yet (*existed false); where there is one (*existed true),
 * compares: DY_ERR_MISMATCH when it differs, the message `what` followed by " (line N: stored ..., now ...)" and then
 * `advice`. */
dy_status dy_tune_write_or_compare(dy_ctx *ctx, const char *path, const char *text, const char *what,
                                   const char *advice, bool *existed);
/* Writes trial i's result at rung (error: why it failed, for a failed one), `seconds` after it started. */
dy_status dy_tune_result_write(const dy_tune *t, int64_t i, int rung, const dy_tune_result *r, const char *error,
                               double seconds);
/* Reads trial i's result file of rung: true when it exists and belongs to this rung's budget (*r filled). *present:
 * a file was there (one that is not this rung's result makes the trial run again). */
bool dy_tune_result_read(const dy_tune *t, int64_t i, int rung, dy_tune_result *r, bool *present);

/* ---- rung.c ----------------------------------------------------------------------------------------------------- */

/* Runs trials ids[n] of rung (those without a result) through the runner. DY_ERR_INTERRUPTED when stopped. */
dy_status dy_tune_run_rung(dy_tune *t, const dy_tune_runner *r, int rung, const int64_t *ids, int64_t n);
/* Passes an event to the runner's event callback (when it has one). */
void dy_tune_emit(const dy_tune_runner *r, dy_tune_event e);

#endif
