/* A tune as a whole (include/dystress/tune.h): its plan (the rungs and the candidates), the trials' state and where
 * their files go. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "tune/search.h"
#include "tune/tune.h"

dy_status dy_tune_plan(dy_ctx *ctx, const dy_tune_options *opt, dy_tune **out) {
    *out = NULL;
    if (!opt->dir || !*opt->dir) return dy_fail(ctx, DY_ERR_INVALID, "a tune needs a directory");
    if (opt->brackets < 1 || opt->brackets > 1000)
        return dy_fail(ctx, DY_ERR_INVALID, "--brackets %lld: 1 to 1000", (long long)opt->brackets);
    if (opt->stop_after_rung < 0 || opt->stop_after_rung > DY_TUNE_MAX_RUNGS)
        return dy_fail(ctx, DY_ERR_INVALID, "--stop-after-rung %d: 0 to %d", opt->stop_after_rung,
                       DY_TUNE_MAX_RUNGS);
    dy_tune *t = calloc(1, sizeof *t);
    if (!t) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
    t->ctx = ctx;
    t->opt = *opt;
    dy_tune_candidate *cands = NULL;
    dy_status st = dy_tune_schedule_make(ctx, opt->trials, opt->eta, opt->min_budget, opt->rungs, &t->sched);
    if (st != DY_OK) goto done;
    t->n_trials = opt->trials * opt->brackets;
    t->dir = strdup(opt->dir);
    t->trials = calloc((size_t)t->n_trials, sizeof *t->trials);
    cands = calloc((size_t)t->n_trials, sizeof *cands);
    if (!t->dir || !t->trials || !cands) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
        goto done;
    }
    t->opt.dir = t->dir;
    if ((st = dy_tune_candidates(ctx, &opt->space, t->n_trials, cands)) != DY_OK) goto done;
    for (int64_t i = 0; i < t->n_trials; i++) {
        t->trials[i].cand = cands[i];
        t->trials[i].bracket = (int)(i / opt->trials);
    }
done:
    free(cands);
    if (st != DY_OK) dy_tune_free(t);
    else *out = t;
    return st;
}

void dy_tune_free(dy_tune *t) {
    if (!t) return;
    free(t->trials);
    free(t->dir);
    free(t);
}

const dy_tune_schedule *dy_tune_rungs(const dy_tune *t) { return &t->sched; }

int64_t dy_tune_trial_count(const dy_tune *t) { return t->n_trials; }

const dy_tune_trial *dy_tune_trial_at(const dy_tune *t, int64_t i) {
    return i >= 0 && i < t->n_trials ? &t->trials[i] : NULL;
}

int dy_tune_reached(const dy_tune *t, int64_t i) {
    int r = -1;
    for (int k = 0; k < t->sched.rungs; k++)
        if (t->trials[i].r[k].done) r = k;
    return r;
}

double dy_tune_score_of(const dy_tune *t, const dy_tune_result *r) {
    return r->failed ? NAN : t->opt.score == DY_TUNE_SCORE_RANKME ? r->rankme : r->top1;
}

void dy_tune_counts(const dy_tune *t, int64_t *ran, int64_t *kept) {
    *ran = t->ran;
    *kept = t->kept;
}

void dy_tune_trial_dir(const dy_tune *t, int64_t i, int rung, char *buf, size_t size) {
    if (t->opt.restart && rung > 0) snprintf(buf, size, "%s/trials/t%02lld-r%d", t->dir, (long long)i, rung + 1);
    else snprintf(buf, size, "%s/trials/t%02lld", t->dir, (long long)i);
}

void dy_tune_result_path(const dy_tune *t, int64_t i, int rung, char *buf, size_t size) {
    char dir[4200];
    dy_tune_trial_dir(t, i, rung, dir, sizeof dir);
    snprintf(buf, size, "%s/val-knn-r%d.json", dir, rung + 1);
}

double dy_tune_as_written(double v) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.6f", v);
    return isfinite(v) ? strtod(buf, NULL) : v;
}
