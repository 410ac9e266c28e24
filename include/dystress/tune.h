/* dystress — the search of temperature profiles (what `dystress tune` runs), as a library. Included by dystress.h.
 *
 * A tune runs successive halving (Jamieson & Talwalkar 2016) over short pretraining runs: rung 0 runs n trials at
 * budget b, rung k the best floor(n / eta^k) of rung k-1 (at least 1) at budget b eta^k; brackets of n trials run one
 * after another, those after the first proposed by TPE from the first-rung scores before them when asked. All of it
 * lives in a tune directory:
 *
 *   plan.json            the rungs, the first bracket's candidates and the base configuration (a rerun must match it)
 *   bracket-K.json       TPE: the candidates of bracket K >= 2 (a rerun must propose the same)
 *   trials/tNN/          trial NN's run directory (a promotion continues there; promote restart: tNN-rK/ for rung K)
 *   trials/tNN-rK.json   where the runner puts the options trial NN starts with at rung K
 *   trials/tNN.log       the trial's output (the runner's)
 *   trials/tNN/val-knn-rK.json  the result at rung K: a trial with this file is finished there (kept on a rerun)
 *   leaderboard.json     every trial, ranked
 *
 * The library does not train or score: a caller's runner starts a trial (dystress runs `dystress pretrain` as a child
 * process, src/cli/tune_trials.c) and reports its end with its scores. A tune stopped part way (a signal, or
 * stop_after_rung) is resumed by planning the same tune and running it again: finished trials are read back from
 * their result files, and the promotions made from those.
 *
 *     dy_tune *t;
 *     bool resumed, complete;
 *     if (dy_tune_plan(ctx, &opt, &t) != DY_OK) ...             // the rungs and the candidates
 *     if (dy_tune_open(t, base, &resumed) != DY_OK) ...          // plan.json written, or a rerun's compared
 *     if (dy_tune_run(t, &runner, &complete) != DY_OK) ...       // runs what has no result yet
 *     int64_t *order = malloc(...);  dy_tune_leaderboard(t, order);   // leaderboard.json, best first
 *     dy_tune_free(t);
 */
#ifndef DYSTRESS_TUNE_H
#define DYSTRESS_TUNE_H
#include "../dystress.h"
#ifdef __cplusplus
extern "C" {
#endif

/* annealed: a constant whose level falls from tau to tau x end_ratio over training (cosine, or linear when the base
 * configuration's temperature schedule is linear); adaptive: cosine whose bounds a controller moves */
typedef enum {
    DY_TUNE_CONST = 0,
    DY_TUNE_COSINE,
    DY_TUNE_SHIFTED,
    DY_TUNE_ADAPTIVE,
    DY_TUNE_ANNEALED,
    DY_TUNE_FAMILIES
} dy_tune_family;

typedef struct {
    double lo, hi;
} dy_tune_range;

/* The ranges the candidates are drawn from. Candidates: the anchors (the paper's cosine 0.07-0.2, constants 0.2 and
 * 0.5), then a fixed, seeded sample: families taken in turn (those enabled), temperatures and the end ratio
 * log-uniform, offset and scale uniform in their ranges, rounded to 3 significant digits; the same (space, n) gives
 * the same list on every machine. */
typedef struct {
    bool family[DY_TUNE_FAMILIES];  /* which families the sample draws from */
    dy_tune_range tau;              /* const, annealed (its starting level) */
    dy_tune_range end_ratio;        /* annealed: the level's factor at the end, within (0, 1] */
    dy_tune_range tau_min, tau_max; /* cosine, shifted, adaptive (its starting bounds) */
    dy_tune_range offset, scale;    /* shifted */
    bool anchors;                   /* start with the paper's cosine 0.07-0.2 and constants 0.2, 0.5 */
    uint64_t seed;
} dy_tune_space;

typedef struct {
    dy_tune_family family;
    double tau;                     /* const, annealed */
    double end_ratio;               /* annealed */
    double tau_min, tau_max;        /* cosine, shifted, adaptive */
    double offset, scale;           /* shifted */
    bool anchor;
} dy_tune_candidate;

#define DY_TUNE_MAX_RUNGS 16

typedef struct {
    int rungs;
    int64_t trials[DY_TUNE_MAX_RUNGS]; /* trials run at rung k */
    int64_t budget[DY_TUNE_MAX_RUNGS]; /* the budget of each trial at rung k (epochs or steps in all) */
} dy_tune_schedule;

typedef enum {
    DY_TUNE_SCORE_KNN = 0, /* weighted kNN top-1 on a validation split (needs labels) */
    DY_TUNE_SCORE_RANKME   /* RankMe of the encoder features of the validation split (label-free) */
} dy_tune_score;

typedef struct {
    const char *dir;       /* the tune directory */
    dy_tune_space space;   /* the candidates */
    int64_t trials;        /* trials of a bracket's first rung, anchors included (>= 1) */
    int64_t eta;           /* keep the best 1/eta of a rung, eta x the budget (>= 2) */
    int64_t min_budget;    /* the first rung's budget (>= 1) */
    int rungs;             /* 0: as many as leave a trial */
    int64_t brackets;      /* brackets run one after another (>= 1) */
    bool tpe;              /* brackets after the first proposed by TPE (else the seeded sample) */
    bool steps;            /* budgets are steps of one schedule (else epochs) */
    bool restart;          /* a promoted trial restarts at the new budget (else continues its checkpoint) */
    dy_tune_score score;   /* what ranks the trials */
    bool labelled;         /* results hold kNN top-1 and top-5 (the training set has labels) */
    int64_t knn_k;         /* kNN's k and temperature, named in plan.json of a kNN-ranked tune */
    double knn_t;
    int stop_after_rung;   /* 0, or stop after this rung (of the first bracket that ran it this time) */
} dy_tune_options;

/* A trial's result at one rung, as its result file holds it. */
typedef struct {
    bool done;           /* a result: scored, or failed */
    bool failed;         /* the trial did not finish (ranked last; not run again on a rerun) */
    double top1, top5;   /* kNN on the validation split; NaN without labels */
    double rankme;       /* RankMe; NaN in a result file written before RankMe was */
    int64_t step;        /* the step of the checkpoint scored */
} dy_tune_result;

typedef struct {
    dy_tune_candidate cand;
    int bracket;
    bool proposed; /* by TPE (else the seeded sample or an anchor) */
    dy_tune_result r[DY_TUNE_MAX_RUNGS];
} dy_tune_trial;

/* What a runner is asked to run: trial `trial` at rung `rung` (0-based), to `budget` (epochs or steps in all). */
typedef struct {
    int64_t trial;
    int rung;
    int64_t budget;
    const dy_tune_candidate *cand;
    bool fresh;           /* start afresh even where run_dir could continue (its continuation was refused) */
    const char *run_dir;  /* trials/tNN, or tNN-rK */
    const char *config;   /* trials/tNN-rK.json: where a fresh start's options go */
    const char *log;      /* trials/tNN.log */
} dy_tune_job;

/* How a started trial ended. */
typedef struct {
    bool finished;          /* trained to its budget and scored: result's top1, top5, rankme and step hold it */
    bool stopped;           /* ended by a stop signal: a failure, never retried afresh */
    int status;             /* its process's exit status, for messages (0 where there is no process) */
    dy_tune_result result;
    char error[192];        /* not finished: why (written to its result file) */
} dy_tune_outcome;

typedef enum {
    DY_TUNE_EVENT_KEPT,          /* rung: `kept` of `count` trials have results from before */
    DY_TUNE_EVENT_NOT_THIS_RUNG, /* path: a result file not of this rung (another budget, unreadable): runs again */
    DY_TUNE_EVENT_STARTED,       /* trial started at rung (continued: from its checkpoint) */
    DY_TUNE_EVENT_FINISHED,      /* trial finished and scored at rung, in `seconds` */
    DY_TUNE_EVENT_RETRY,         /* trial's continuation failed (outcome): started afresh */
    DY_TUNE_EVENT_FAILED,        /* trial failed at rung (outcome); recorded so */
    DY_TUNE_EVENT_PROPOSED,      /* bracket: `count` candidates, by TPE when modelled (else the seeded sample) */
    DY_TUNE_EVENT_STOPPED        /* stopped after rung as stop_after_rung asked */
} dy_tune_event_kind;

typedef struct {
    dy_tune_event_kind kind;
    int bracket, rung;
    int64_t trial;                  /* -1 when the event is not of one trial */
    int64_t count, kept;
    bool continued, modelled;
    double seconds;
    const char *path;
    const dy_tune_outcome *outcome; /* RETRY, FAILED */
} dy_tune_event;

/* Runs the trials for dy_tune_run. A slot holds one running trial; at most `jobs` run at once. */
typedef struct {
    void *user;
    int jobs;
    /* Starts job in a free slot (0 .. jobs - 1). *continued: it continues run_dir's checkpoint. */
    dy_status (*start)(void *user, int slot, const dy_tune_job *job, bool *continued);
    /* Waits a little for a started trial to end: *slot its slot and *out how it ended, or *slot -1 when none ended
     * yet (the search looks at stopping() and calls again). */
    dy_status (*wait)(void *user, int *slot, dy_tune_outcome *out);
    /* Whether a stop was asked for: no trial starts, and the ends that follow are not recorded. NULL: never. */
    bool (*stopping)(void *user);
    /* Asks the running trials to stop; called once after stopping() turns true. May be NULL. */
    void (*stop)(void *user);
    /* Whether a candidate TPE proposed makes a valid run (DY_ERR_INVALID naming the problem). NULL: every one does. */
    dy_status (*check)(void *user, int64_t trial, const dy_tune_candidate *cand);
    /* Progress. May be NULL. */
    void (*event)(void *user, const dy_tune_event *e);
} dy_tune_runner;

typedef struct dy_tune dy_tune;

/* The rungs and candidates of the tune opt describes (its fields are copied). DY_ERR_INVALID naming the problem: a
 * bad schedule (trials, eta, min_budget, rungs) or space (no family, an empty or reversed range, ...). */
DY_API dy_status dy_tune_plan(dy_ctx *ctx, const dy_tune_options *opt, dy_tune **out);
DY_API void dy_tune_free(dy_tune *t);
DY_API const dy_tune_schedule *dy_tune_rungs(const dy_tune *t);
/* Every trial of every bracket: trials x brackets. */
DY_API int64_t dy_tune_trial_count(const dy_tune *t);
DY_API const dy_tune_trial *dy_tune_trial_at(const dy_tune *t, int64_t i);
/* The highest rung trial i finished (-1: none). */
DY_API int dy_tune_reached(const dy_tune *t, int64_t i);
/* The score that ranks a result: RankMe or kNN top-1; NaN for a failed trial. */
DY_API double dy_tune_score_of(const dy_tune *t, const dy_tune_result *r);

/* Creates the tune directory and its trials/ folder and writes plan.json, or, where plan.json is there already
 * (*resumed true), checks that it is this tune's: DY_ERR_MISMATCH naming the first line that differs otherwise.
 * base: the configuration every trial starts from, as lines (plan.json lists them); NULL for none. */
DY_API dy_status dy_tune_open(dy_tune *t, const char *base, bool *resumed);
/* Runs the brackets and rungs (after dy_tune_open): a trial with a result file of its rung is kept, the others run
 * through the runner. *complete: every rung ran (false when stop_after_rung stopped it). DY_ERR_INTERRUPTED when
 * the runner's stopping() turned true (finished trials are kept: running it again continues). */
DY_API dy_status dy_tune_run(dy_tune *t, const dy_tune_runner *runner, bool *complete);
/* Trials run by dy_tune_run, and trials kept from earlier runs, in all its calls. */
DY_API void dy_tune_counts(const dy_tune *t, int64_t *ran, int64_t *kept);
/* Ranks every trial (the highest rung reached first, then the score there; failed and unrun trials last, ties by
 * trial) into order[dy_tune_trial_count], and writes leaderboard.json. */
DY_API dy_status dy_tune_leaderboard(dy_tune *t, int64_t *order);

DY_API const char *dy_tune_family_name(dy_tune_family f); /* "const", "cosine", "shifted", "adaptive", "annealed" */
/* "const" -> DY_TUNE_CONST ...; -1 when unknown. */
DY_API int dy_tune_family_parse(const char *name);
/* "tau 0.2", "tau_min 0.07, tau_max 0.2", "tau_min 0.07, tau_max 0.2, offset -0.4, scale 0.7", "tau 0.2, end ratio
 * 0.1". */
DY_API void dy_tune_candidate_params(const dy_tune_candidate *c, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
