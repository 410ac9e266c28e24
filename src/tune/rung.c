/* One rung of a tune: its trials without a result run through the caller's runner, `jobs` at a time; each end is
 * recorded in the trial's result file (a finished trial with its scores, a failed one with why), a continuation the
 * trial's checkpoint refused is started afresh once, and a stop request lets the running trials end unrecorded. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/context.h"
#include "tune/search.h"

typedef struct {
    bool busy;
    int64_t trial;
    bool continued, retried;
    double t0;
} slot;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void dy_tune_emit(const dy_tune_runner *r, dy_tune_event e) {
    if (r->event) r->event(r->user, &e);
}

static bool stopping(const dy_tune_runner *r) {
    return r->stopping && r->stopping(r->user);
}

/* Starts trial i at rung in slot s (fresh: not from its checkpoint). */
static dy_status start(dy_tune *t, const dy_tune_runner *r, int rung, int64_t i, bool fresh, slot *sl, int s) {
    char dir[4200], cfg[4400], log[4400];
    dy_tune_trial_dir(t, i, rung, dir, sizeof dir);
    snprintf(cfg, sizeof cfg, "%s/trials/t%02lld-r%d.json", t->dir, (long long)i, rung + 1);
    snprintf(log, sizeof log, "%s/trials/t%02lld.log", t->dir, (long long)i);
    dy_tune_job job = {.trial = i, .rung = rung, .budget = t->sched.budget[rung], .cand = &t->trials[i].cand,
                       .fresh = fresh, .run_dir = dir, .config = cfg, .log = log};
    bool continued = false;
    DY_TRY(r->start(r->user, s, &job, &continued));
    *sl = (slot){.busy = true, .trial = i, .continued = continued, .t0 = now_seconds()};
    return DY_OK;
}

/* Records how the trial of slot s ended (out), or starts it afresh when its continuation was refused. */
static dy_status ended(dy_tune *t, const dy_tune_runner *r, int rung, slot *sl, int s, const dy_tune_outcome *out,
                       int64_t *running) {
    int64_t i = sl->trial;
    dy_tune_result *res = &t->trials[i].r[rung];
    double secs = now_seconds() - sl->t0;
    dy_tune_event e = {.bracket = t->trials[i].bracket, .rung = rung, .trial = i, .seconds = secs, .outcome = out};
    if (out->finished) {
        *res = (dy_tune_result){.done = true, .top1 = dy_tune_as_written(out->result.top1),
                                .top5 = dy_tune_as_written(out->result.top5),
                                .rankme = dy_tune_as_written(out->result.rankme), .step = out->result.step};
        DY_TRY(dy_tune_result_write(t, i, rung, res, NULL, secs));
        t->ran++;
        e.kind = DY_TUNE_EVENT_FINISHED;
        dy_tune_emit(r, e);
        return DY_OK;
    }
    if (sl->continued && !sl->retried && !out->stopped) {
        e.kind = DY_TUNE_EVENT_RETRY;
        dy_tune_emit(r, e);
        DY_TRY(start(t, r, rung, i, true, sl, s));
        sl->retried = true;
        (*running)++;
        return DY_OK;
    }
    /* a trial that fails (a diverged loss) is ranked last, and not run again on a rerun */
    *res = (dy_tune_result){.done = true, .failed = true, .top1 = NAN, .top5 = NAN, .rankme = NAN};
    dy_status st = dy_tune_result_write(t, i, rung, res, out->error, secs);
    e.kind = DY_TUNE_EVENT_FAILED;
    dy_tune_emit(r, e);
    return st;
}

/* The trials of ids[n] without a result of this rung (read from their files where there) into queue; their count. */
static int64_t pending(dy_tune *t, const dy_tune_runner *r, int rung, const int64_t *ids, int64_t n, int64_t *queue) {
    int64_t nq = 0;
    for (int64_t k = 0; k < n; k++) {
        dy_tune_trial *tr = &t->trials[ids[k]];
        bool stale = false;
        if (tr->r[rung].done || dy_tune_result_read(t, ids[k], rung, &tr->r[rung], &stale)) {
            t->kept++;
            continue;
        }
        if (stale) {
            char path[4400];
            dy_tune_result_path(t, ids[k], rung, path, sizeof path);
            dy_tune_emit(r, (dy_tune_event){.kind = DY_TUNE_EVENT_NOT_THIS_RUNG, .bracket = tr->bracket, .rung = rung,
                                            .trial = ids[k], .path = path});
        }
        queue[nq++] = ids[k];
    }
    if (n - nq > 0)
        dy_tune_emit(r, (dy_tune_event){.kind = DY_TUNE_EVENT_KEPT, .bracket = t->trials[ids[0]].bracket,
                                        .rung = rung, .trial = -1, .count = n, .kept = n - nq});
    return nq;
}

dy_status dy_tune_run_rung(dy_tune *t, const dy_tune_runner *r, int rung, const int64_t *ids, int64_t n) {
    int64_t *queue = malloc(sizeof(int64_t) * (size_t)(n + 1));
    slot *slots = calloc((size_t)r->jobs, sizeof *slots);
    dy_status st = DY_OK;
    if (!queue || !slots) {
        st = dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t nq = pending(t, r, rung, ids, n, queue), next = 0, running = 0;
    bool forwarded = false;
    while ((next < nq && !stopping(r) && st == DY_OK) || running > 0) {
        for (int s = 0; s < r->jobs && next < nq && !stopping(r) && st == DY_OK; s++) {
            if (slots[s].busy) continue;
            if ((st = start(t, r, rung, queue[next], false, &slots[s], s)) != DY_OK) break;
            dy_tune_emit(r, (dy_tune_event){.kind = DY_TUNE_EVENT_STARTED, .bracket = t->trials[queue[next]].bracket,
                                            .rung = rung, .trial = queue[next], .continued = slots[s].continued});
            next++;
            running++;
        }
        if (stopping(r) && !forwarded) { /* every trial is asked to stop (dystress's save a checkpoint first) */
            if (r->stop) r->stop(r->user);
            forwarded = true;
        }
        int s = -1;
        dy_tune_outcome out;
        memset(&out, 0, sizeof out);
        dy_status w = r->wait(r->user, &s, &out);
        if (w != DY_OK && st == DY_OK) st = w;
        if (s < 0 || s >= r->jobs || !slots[s].busy) {
            if (w != DY_OK) break; /* the runner cannot wait any more */
            continue;
        }
        slots[s].busy = false;
        running--;
        if (w != DY_OK || stopping(r)) continue; /* interrupted: nothing recorded, the rerun continues it */
        dy_status e = ended(t, r, rung, &slots[s], s, &out, &running);
        if (e != DY_OK && st == DY_OK) st = e;
    }
    if (st == DY_OK && stopping(r))
        st = dy_fail(t->ctx, DY_ERR_INTERRUPTED, "interrupted in rung %d; finished trials are kept, the running ones "
                     "saved a checkpoint: run the same command again to continue", rung + 1);
done:
    free(queue);
    free(slots);
    return st;
}
