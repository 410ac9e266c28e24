/* How `dystress tune` runs the search's trials (include/dystress/tune.h is the search): each trial a `dystress
 * pretrain` child process on the trial's options (its profile set on the user's base configuration), scored when it
 * ends on the validation split: weighted kNN top-1/top-5 with the rest of the training set as the memory bank
 * (labelled data), and RankMe of the split's encoder features h (always). Also what the runner reports, printed. */
#ifndef DY_CLI_TUNE_TRIALS_H
#define DY_CLI_TUNE_TRIALS_H

#include <sys/types.h>

#include "cli/config.h"
#include "dystress.h"

#define TUNE_MAX_JOBS 256

typedef struct {
    run_options *o;       /* set to each trial's options in turn */
    run_options base;     /* the user's options: every trial starts from them */
    opt_spec *specs;      /* the run table bound to o (its first n_run entries) */
    int n_run;
    dy_ctx *ctx;
    dy_tune *tune;
    const dy_tune_options *opt;
    const dy_dataset *rest, *val; /* the training set less the validation split, and the split */
    int64_t steps_per_epoch;
    int child_threads;
    char exe[4096];       /* this program */
    pid_t pid[TUNE_MAX_JOBS];     /* the slots' processes (0: free) */
    int64_t trial[TUNE_MAX_JOBS]; /* the slots' trials and rungs */
    int rung[TUNE_MAX_JOBS];
    char *run_dir[TUNE_MAX_JOBS];
    bool failed;          /* a trial could not be started or scored (exit status 1) */
} tune_trials;

/* Sets u->o to the options of candidate c at rung (rung -1: the base configuration's epochs). */
void tune_apply(tune_trials *u, const dy_tune_candidate *c, int rung);
/* The base configuration every trial starts from, as plan.json lists it (malloc'ed lines); NULL when out of memory. */
char *tune_base_config(tune_trials *u);
/* Whether trial i's candidate makes a valid run: DY_ERR_INVALID "candidate tNN (...): why" otherwise. */
dy_status tune_check(tune_trials *u, int64_t i, const dy_tune_candidate *c);
/* The runner for dy_tune_run: child processes, `jobs` at once, interrupted by SIGINT/SIGTERM; progress on stderr. */
dy_tune_runner tune_runner(tune_trials *u, int jobs);
/* Frees what the runner holds (the slots' run directories). */
void tune_trials_release(tune_trials *u);
/* Ranks the trials (leaderboard.json), prints the table, and writes best.json with the winner. The exit status. */
int tune_leaderboard(tune_trials *u);
/* Writes path (best.json): trial i's options at rung r for `pretrain --config` (the whole training set, monitored as
 * the user asked). */
dy_status tune_write_best(tune_trials *u, int64_t i, int r, const char *path);
/* "const tau 0.2 (anchor)". */
void tune_describe(const dy_tune_trial *tr, char *buf, size_t size);
/* A finished result as the user reads it: "val top-1 12.50 %", "val RankMe 5.43" or both, the ranking one first;
 * short (the leaderboard's column, named in its header): "12.50 %", "5.43", "12.50 % (RankMe 5.43)". */
void tune_score_text(const dy_tune_options *opt, const dy_tune_result *r, bool short_form, char *buf, size_t size);

#endif
