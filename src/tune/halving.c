/* Successive halving over a tune's brackets: each bracket's rungs one after another, a rung's trials the best of the
 * rung before (the promotion), a TPE bracket's candidates proposed from the first-rung scores before it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "tune/search.h"
#include "tune/tune.h"

/* The scratch of a bracket: the trials of the rung (ids), the promotion's order and scores. */
typedef struct {
    int64_t *ids, *order, *kept;
    double *scores;
} bracket_work;

/* The promotion to rung k: ids[n] becomes its best sched.trials[k] (best first); their count. */
static int64_t promote(const dy_tune *t, int k, bracket_work *w, int64_t n) {
    for (int64_t i = 0; i < n; i++) w->scores[i] = dy_tune_score_of(t, &t->trials[w->ids[i]].r[k - 1]);
    dy_tune_select(w->ids, w->scores, n, t->sched.trials[k], w->order);
    int64_t m = t->sched.trials[k] < n ? t->sched.trials[k] : n;
    for (int64_t i = 0; i < m; i++) w->kept[i] = w->ids[w->order[i]];
    memcpy(w->ids, w->kept, sizeof(int64_t) * (size_t)m);
    return m;
}

/* Runs bracket b's rungs; *stopped when stop_after_rung stopped it. */
static dy_status run_bracket(dy_tune *t, const dy_tune_runner *r, int b, bracket_work *w, bool *stopped) {
    int64_t n = t->opt.trials;
    for (int64_t i = 0; i < n; i++) w->ids[i] = b * t->opt.trials + i;
    for (int k = 0; k < t->sched.rungs; k++) {
        if (k > 0) n = promote(t, k, w, n);
        int64_t ran_before = t->ran;
        DY_TRY(dy_tune_run_rung(t, r, k, w->ids, n));
        /* with brackets: after the rung of the first bracket that ran it this time */
        if (t->opt.stop_after_rung > 0 && k + 1 == t->opt.stop_after_rung &&
            (k + 1 < t->sched.rungs || b + 1 < t->opt.brackets) && (t->opt.brackets == 1 || t->ran > ran_before)) {
            dy_tune_emit(r, (dy_tune_event){.kind = DY_TUNE_EVENT_STOPPED, .bracket = b, .rung = k, .trial = -1});
            *stopped = true;
            return DY_OK;
        }
    }
    return DY_OK;
}

/* bracket-K.json: a TPE bracket's candidates, as plan.json holds the first bracket's. A continued tune proposes them
 * again from the results on disk and must find the same (else a result file could belong to another candidate). */
static dy_status keep_bracket(dy_tune *t, int b) {
    char *text = dy_tune_bracket_text(t, b), path[4400], what[4500];
    if (!text) return dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/bracket-%d.json", t->dir, b + 1);
    snprintf(what, sizeof what, "bracket %d's candidates differ from those in %s", b + 1, path);
    bool existed;
    dy_status st = dy_tune_write_or_compare(t->ctx, path, text, what, ": the earlier brackets' results changed; "
                                            "choose another --tune-dir", &existed);
    free(text);
    return st;
}

/* TPE: the candidates of bracket b (b >= 1) from the first-rung scores of the brackets before it (the one budget
 * every trial of them reached, so the scores compare); the seeded sample's where too few have scores. */
static dy_status propose_bracket(dy_tune *t, const dy_tune_runner *r, int b) {
    int64_t per = t->opt.trials, first = b * per, n_obs = 0;
    dy_tune_observation *obs = malloc(sizeof *obs * (size_t)first);
    dy_tune_candidate *out = malloc(sizeof *out * (size_t)per), *fallback = malloc(sizeof *out * (size_t)per);
    dy_status st = DY_OK;
    if (!obs || !out || !fallback) {
        st = dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < first; i++)
        if (t->trials[i].r[0].done)
            obs[n_obs++] = (dy_tune_observation){t->trials[i].cand, dy_tune_score_of(t, &t->trials[i].r[0])};
    for (int64_t c = 0; c < per; c++) fallback[c] = t->trials[first + c].cand;
    dy_tune_tpe_options opt = dy_tune_tpe_defaults();
    bool modelled = false;
    if ((st = dy_tune_tpe_propose(t->ctx, &t->opt.space, &opt, obs, n_obs, fallback, first, per, out, &modelled)) !=
        DY_OK)
        goto done;
    for (int64_t c = 0; c < per; c++) {
        t->trials[first + c].cand = out[c];
        t->trials[first + c].proposed = modelled;
    }
    dy_tune_emit(r, (dy_tune_event){.kind = DY_TUNE_EVENT_PROPOSED, .bracket = b, .trial = -1, .count = per,
                                    .modelled = modelled});
    for (int64_t c = 0; c < per && r->check; c++)
        if ((st = r->check(r->user, first + c, &t->trials[first + c].cand)) != DY_OK) goto done;
    st = keep_bracket(t, b);
done:
    free(obs);
    free(out);
    free(fallback);
    return st;
}

dy_status dy_tune_run(dy_tune *t, const dy_tune_runner *r, bool *complete) {
    *complete = false;
    if (!t->opened)
        return dy_fail(t->ctx, DY_ERR_INVALID, "dy_tune_run: the tune directory is not open (dy_tune_open)");
    if (!r || !r->start || !r->wait || r->jobs < 1)
        return dy_fail(t->ctx, DY_ERR_INVALID, "dy_tune_run: a runner needs start, wait and at least one job");
    size_t per = (size_t)t->opt.trials;
    bracket_work w = {malloc(sizeof(int64_t) * per), malloc(sizeof(int64_t) * per), malloc(sizeof(int64_t) * per),
                      malloc(sizeof(double) * per)};
    dy_status st = DY_OK;
    bool stopped = false;
    if (!w.ids || !w.order || !w.kept || !w.scores) st = dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory");
    for (int b = 0; b < t->opt.brackets && st == DY_OK && !stopped; b++) {
        if (b > 0 && t->opt.tpe && (st = propose_bracket(t, r, b)) != DY_OK) break;
        st = run_bracket(t, r, b, &w, &stopped);
    }
    free(w.ids);
    free(w.order);
    free(w.kept);
    free(w.scores);
    *complete = st == DY_OK && !stopped;
    return st;
}
