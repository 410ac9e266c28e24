/* The search of include/dystress/tune.h driven directly, with a made-up trial runner (scores from the candidate, no
 * training): successive halving promotes the best of each rung and continues their runs; a tune interrupted part way
 * resumes from its result files without running a finished trial again and ends as an uninterrupted one (the same
 * leaderboard.json, byte for byte); a failed trial is recorded, ranked last and not run again; a refused
 * continuation starts the trial afresh; --stop-after-rung stops and a rerun goes on; another tune in a used directory
 * is refused; TPE brackets are proposed and kept. And the CLI's runner opens a trial's log only as a regular file (a
 * FIFO there is refused at once instead of hanging the tune). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/tune_trials.h"
#include "io/atomic_file.h"
#include "testlib.h"

#define MAX_TRIALS 32
#define SLOTS 4

/* The made-up runner: trials end in the order they started. */
typedef struct {
    int64_t slot_trial[SLOTS];
    int slot_rung[SLOTS];
    bool slot_continued[SLOTS], slot_fresh[SLOTS];
    int queue[SLOTS], nq;
    int64_t starts[DY_TUNE_MAX_RUNGS];              /* starts per rung */
    int64_t started[MAX_TRIALS][DY_TUNE_MAX_RUNGS]; /* starts per trial and rung */
    int64_t total, stop_at;                         /* a stop is asked for once stop_at trials started (0: never) */
    bool stop_asked, stop_called, bad_paths;
    bool fail[MAX_TRIALS];           /* these trials diverge */
    bool refuse_continue[MAX_TRIALS]; /* these trials' checkpoints do not fit a continuation */
    int events[DY_TUNE_EVENT_STOPPED + 1];
    int continued_starts;
} fake;

/* A score in (0, 1] that peaks at a temperature of 0.3, a little higher at later rungs. */
static double made_up_score(const dy_tune_candidate *c, int rung) {
    double tau = c->family == DY_TUNE_CONST || c->family == DY_TUNE_ANNEALED ? c->tau : c->tau_max;
    return 1 / (1 + fabs(log(tau / 0.3))) * (1 - 0.1 / (rung + 1));
}

static bool ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && !strcmp(s + a - b, tail);
}

static dy_status fake_start(void *user, int slot, const dy_tune_job *job, bool *continued) {
    fake *f = user;
    char want[64];
    snprintf(want, sizeof want, "/trials/t%02lld", (long long)job->trial);
    f->bad_paths |= !ends_with(job->run_dir, want);
    snprintf(want, sizeof want, "/trials/t%02lld.log", (long long)job->trial);
    f->bad_paths |= !ends_with(job->log, want);
    snprintf(want, sizeof want, "/trials/t%02lld-r%d.json", (long long)job->trial, job->rung + 1);
    f->bad_paths |= !ends_with(job->config, want);
    *continued = job->rung > 0 && !job->fresh; /* a promotion continues the trial's run */
    f->slot_trial[slot] = job->trial;
    f->slot_rung[slot] = job->rung;
    f->slot_continued[slot] = *continued;
    f->slot_fresh[slot] = job->fresh;
    f->queue[f->nq++] = slot;
    f->starts[job->rung]++;
    f->started[job->trial][job->rung]++;
    f->continued_starts += *continued;
    if (++f->total == f->stop_at) f->stop_asked = true;
    return DY_OK;
}

static dy_status fake_wait(void *user, int *slot, dy_tune_outcome *out) {
    fake *f = user;
    *slot = -1;
    if (f->nq == 0) return DY_OK;
    int s = f->queue[0];
    memmove(f->queue, f->queue + 1, sizeof(int) * (size_t)--f->nq);
    *slot = s;
    int64_t i = f->slot_trial[s];
    if (f->stop_asked) {
        out->stopped = true;
        out->status = 143;
        snprintf(out->error, sizeof out->error, "stopped");
    } else if (f->fail[i]) {
        out->status = 1;
        snprintf(out->error, sizeof out->error, "diverged");
    } else if (f->refuse_continue[i] && f->slot_continued[s]) {
        out->status = 2;
        snprintf(out->error, sizeof out->error, "the checkpoint does not fit");
    } else {
        out->finished = true; /* scoring_wait scores it */
    }
    return DY_OK;
}

static bool fake_stopping(void *user) { return ((fake *)user)->stop_asked; }

static void fake_stop(void *user) { ((fake *)user)->stop_called = true; }

static void fake_event(void *user, const dy_tune_event *e) { ((fake *)user)->events[e->kind]++; }

/* The runner's scores need the candidate: the tune it runs for. */
static const dy_tune *scoring;

static dy_status scoring_wait(void *user, int *slot, dy_tune_outcome *out) {
    fake *f = user;
    dy_status st = fake_wait(user, slot, out);
    if (*slot >= 0 && out->finished) {
        int rung = f->slot_rung[*slot];
        double s = made_up_score(&dy_tune_trial_at(scoring, f->slot_trial[*slot])->cand, rung);
        const dy_tune_schedule *sched = dy_tune_rungs(scoring);
        out->result = (dy_tune_result){.top1 = s, .top5 = s < 0.9 ? s + 0.1 : 1, .rankme = 1 + 10 * s,
                                       .step = 10 * sched->budget[rung]};
    }
    return st;
}

static dy_tune_runner runner_of(fake *f, int jobs) {
    return (dy_tune_runner){.user = f, .jobs = jobs, .start = fake_start, .wait = scoring_wait,
                            .stopping = fake_stopping, .stop = fake_stop, .event = fake_event};
}

static dy_tune_options options_in(const char *dir, int64_t trials, int64_t eta) {
    dy_tune_options o = {.dir = dir, .trials = trials, .eta = eta, .min_budget = 1, .brackets = 1, .labelled = true,
                         .score = DY_TUNE_SCORE_KNN, .knn_k = 20, .knn_t = 0.1};
    o.space = (dy_tune_space){.tau = {0.05, 1}, .tau_min = {0.02, 0.3}, .tau_max = {0.1, 1}, .offset = {-0.6, 0.4},
                              .scale = {0.4, 1.2}, .end_ratio = {0.05, 0.5}, .anchors = true, .seed = 5};
    o.space.family[DY_TUNE_CONST] = o.space.family[DY_TUNE_COSINE] = true;
    return o;
}

/* Plans, opens and runs the tune of opt with f (jobs at once); the status of the run, *resumed, *complete. */
static dy_status run_tune(dy_ctx *ctx, const dy_tune_options *opt, fake *f, int jobs, dy_tune **t, bool *resumed,
                          bool *complete) {
    *complete = false;
    dy_status st = dy_tune_plan(ctx, opt, t);
    if (st != DY_OK) return st;
    if ((st = dy_tune_open(*t, "seed=3\nwidth=4\n", resumed)) != DY_OK) return st;
    scoring = *t;
    dy_tune_runner r = runner_of(f, jobs);
    return dy_tune_run(*t, &r, complete);
}

static char *slurp(const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *buf = calloc(1, 1 << 16);
    if (buf && fread(buf, 1, (1 << 16) - 1, fp) == 0) buf[0] = 0;
    fclose(fp);
    return buf;
}

static bool exists(const char *dir, const char *fmt, long long i, int rung) {
    char name[128], path[640];
    snprintf(name, sizeof name, fmt, i, rung);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* The leaderboard order the search should give: the highest rung reached first, then the score there (ties by
 * trial), failed trials last at their rung. */
static void expected_order(const dy_tune *t, int64_t *order) {
    int64_t n = dy_tune_trial_count(t);
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = a + 1; b < n; b++) {
            int64_t x = order[a], y = order[b];
            int rx = dy_tune_reached(t, x), ry = dy_tune_reached(t, y);
            double sx = rx < 0 ? NAN : dy_tune_score_of(t, &dy_tune_trial_at(t, x)->r[rx]);
            double sy = ry < 0 ? NAN : dy_tune_score_of(t, &dy_tune_trial_at(t, y)->r[ry]);
            sx = isnan(sx) ? -1 : sx;
            sy = isnan(sy) ? -1 : sy;
            if (ry > rx || (ry == rx && (sy > sx || (sy == sx && y < x)))) order[a] = y, order[b] = x;
        }
}

/* The trials of leaderboard.json in its order. */
static int board_trials(const char *text, int64_t *ids, int max) {
    int n = 0;
    for (const char *p = text ? strstr(text, "\"trial\": \"t") : NULL; p && n < max;
         p = strstr(p + 1, "\"trial\": \"t"))
        ids[n++] = atoll(p + 11);
    return n;
}

static char *test_halving(dy_ctx *ctx, const char *dir) {
    dy_tune_options opt = options_in(dir, 9, 3);
    fake f = {0};
    dy_tune *t = NULL;
    bool resumed = true, complete = false;
    dy_status st = run_tune(ctx, &opt, &f, 2, &t, &resumed, &complete);
    CHECK(st == DY_OK && complete && !resumed, "a fresh tune runs to its end: %s", dy_ctx_error(ctx));
    if (!t) return NULL;
    const dy_tune_schedule *s = dy_tune_rungs(t);
    CHECK(s->rungs == 3 && s->budget[2] == 9 && dy_tune_trial_count(t) == 9, "9 trials, eta 3: 9@1, 3@3, 1@9");
    CHECK(f.starts[0] == 9 && f.starts[1] == 3 && f.starts[2] == 1, "runs per rung 9, 3, 1 (got %lld %lld %lld)",
          (long long)f.starts[0], (long long)f.starts[1], (long long)f.starts[2]);
    CHECK(f.continued_starts == 4 && !f.bad_paths, "the 4 promotions continue their trials' runs, in the tune "
          "directory's layout");
    /* the promotion: rung 2 holds the best 3 of rung 1, rung 3 the best of rung 2 */
    int64_t order[MAX_TRIALS];
    expected_order(t, order);
    bool promoted = true;
    for (int k = 0; k < 9; k++) promoted &= dy_tune_trial_at(t, order[k])->r[1].done == (k < 3);
    promoted &= dy_tune_reached(t, order[0]) == 2 && dy_tune_reached(t, order[1]) == 1;
    CHECK(promoted, "each rung ran the best of the rung before");
    const dy_tune_result *best = &dy_tune_trial_at(t, order[0])->r[2];
    char six[32];
    snprintf(six, sizeof six, "%.6f", best->top1);
    CHECK(best->step == 90 && best->top1 == strtod(six, NULL), "a result as its file holds it (step 90, top-1 %.9f "
          "to 6 decimals)", best->top1);
    CHECK(exists(dir, "trials/t%02lld/val-knn-r%d.json", (long long)order[0], 3) &&
              !exists(dir, "trials/t%02lld/val-knn-r%d.json", (long long)order[3], 2), "result files per rung reached");
    int64_t board[MAX_TRIALS], got[MAX_TRIALS];
    CHECK(dy_tune_leaderboard(t, board) == DY_OK, "leaderboard: %s", dy_ctx_error(ctx));
    char *text = slurp(dir, "leaderboard.json");
    int n = board_trials(text, got, MAX_TRIALS);
    bool same = n == 9;
    for (int k = 0; k < n && k < 9; k++) same &= board[k] == order[k] && got[k] == order[k];
    CHECK(same, "the leaderboard ranks by rung reached, then score: t%02lld first", (long long)board[0]);
    int64_t ran, kept;
    dy_tune_counts(t, &ran, &kept);
    CHECK(ran == 13 && kept == 0, "13 trial runs (got %lld), none kept", (long long)ran);
    dy_tune_free(t);
    /* the same tune again: everything kept */
    fake g = {0};
    st = run_tune(ctx, &opt, &g, 2, &t, &resumed, &complete);
    dy_tune_counts(t, &ran, &kept);
    CHECK(st == DY_OK && resumed && complete && g.total == 0 && kept == 13, "a rerun runs nothing, keeps 13");
    dy_tune_free(t);
    /* another tune in the directory */
    opt.eta = 2;
    CHECK(dy_tune_plan(ctx, &opt, &t) == DY_OK && dy_tune_open(t, "seed=3\nwidth=4\n", &resumed) == DY_ERR_MISMATCH &&
              strstr(dy_ctx_error(ctx), "holds another tune (line 5: stored   \"eta\": 3,, now   \"eta\": 2,)"),
          "another tune in a used directory is refused: %s", dy_ctx_error(ctx));
    dy_tune_free(t);
    return text;
}

static void test_resume(dy_ctx *ctx, const char *dir, const char *ref_dir, const char *reference) {
    dy_tune_options opt = options_in(dir, 9, 3);
    fake f = {.stop_at = 5};
    dy_tune *t = NULL;
    bool resumed, complete = true;
    dy_status st = run_tune(ctx, &opt, &f, 2, &t, &resumed, &complete);
    CHECK(st == DY_ERR_INTERRUPTED && !complete && strstr(dy_ctx_error(ctx), "interrupted in rung 1"),
          "a stop request interrupts the tune: %s", dy_ctx_error(ctx));
    CHECK(f.stop_called && f.total == 5, "the running trials were asked to stop; no trial started after");
    int finished = 0;
    for (int i = 0; i < 9; i++) finished += exists(dir, "trials/t%02lld/val-knn-r%d.json", i, 1);
    CHECK(finished == 3, "the 3 trials that ended before the stop have results, the 2 stopped none (got %d)",
          finished);
    dy_tune_free(t);
    fake g = {0};
    st = run_tune(ctx, &opt, &g, 3, &t, &resumed, &complete);
    int64_t ran, kept;
    dy_tune_counts(t, &ran, &kept);
    CHECK(st == DY_OK && resumed && complete, "the rerun resumes and ends: %s", dy_ctx_error(ctx));
    CHECK(g.starts[0] == 6 && g.started[0][0] + g.started[1][0] + g.started[2][0] == 0 && kept == 3 && ran == 10,
          "finished trials are not run again: %lld first-rung runs, %lld kept", (long long)g.starts[0],
          (long long)kept);
    int64_t order[MAX_TRIALS];
    CHECK(dy_tune_leaderboard(t, order) == DY_OK, "leaderboard");
    char *text = slurp(dir, "leaderboard.json"), *plan = slurp(dir, "plan.json");
    char *ref_plan = slurp(ref_dir, "plan.json");
    CHECK(text && reference && !strcmp(text, reference) && plan && ref_plan && !strcmp(plan, ref_plan),
          "the resumed tune's plan.json and leaderboard.json equal the uninterrupted one's byte for byte");
    free(text);
    free(plan);
    free(ref_plan);
    dy_tune_free(t);
}

static void test_failures(dy_ctx *ctx, const char *dir) {
    dy_tune_options opt = options_in(dir, 9, 3);
    fake f = {0};
    f.fail[4] = true;
    for (int i = 0; i < MAX_TRIALS; i++) f.refuse_continue[i] = true;
    dy_tune *t = NULL;
    bool resumed, complete;
    dy_status st = run_tune(ctx, &opt, &f, 2, &t, &resumed, &complete);
    CHECK(st == DY_OK && complete, "a tune with a failing trial ends: %s", dy_ctx_error(ctx));
    if (!t) return;
    const dy_tune_trial *bad = dy_tune_trial_at(t, 4);
    CHECK(bad->r[0].done && bad->r[0].failed && f.events[DY_TUNE_EVENT_FAILED] == 1, "the diverged trial is recorded "
          "as failed");
    char *result = slurp(dir, "trials/t04/val-knn-r1.json");
    CHECK(result && strstr(result, "\"failed\": true, \"error\": \"diverged\""), "its result file says why: %s",
          result ? result : "(none)");
    free(result);
    CHECK(f.events[DY_TUNE_EVENT_RETRY] == 4 && f.starts[1] == 6 && f.starts[2] == 2, "each refused continuation "
          "(4) started afresh once (rung 2: %lld starts, rung 3: %lld)", (long long)f.starts[1],
          (long long)f.starts[2]);
    int64_t order[MAX_TRIALS];
    CHECK(dy_tune_leaderboard(t, order) == DY_OK && order[8] == 4, "the failed trial ranks last");
    dy_tune_free(t);
    fake g = {0};
    st = run_tune(ctx, &opt, &g, 2, &t, &resumed, &complete);
    CHECK(st == DY_OK && g.total == 0, "a failed trial is not run again on a rerun");
    dy_tune_free(t);
}

static void test_stop_after_rung(dy_ctx *ctx, const char *dir) {
    dy_tune_options opt = options_in(dir, 4, 2);
    opt.stop_after_rung = 1;
    fake f = {0};
    dy_tune *t = NULL;
    bool resumed, complete = true;
    dy_status st = run_tune(ctx, &opt, &f, 1, &t, &resumed, &complete);
    CHECK(st == DY_OK && !complete && f.starts[0] == 4 && f.starts[1] == 0 && f.events[DY_TUNE_EVENT_STOPPED] == 1,
          "stop_after_rung 1: rung 1 only, not complete");
    dy_tune_free(t);
    opt.stop_after_rung = 0;
    fake g = {0};
    st = run_tune(ctx, &opt, &g, 1, &t, &resumed, &complete);
    CHECK(st == DY_OK && complete && g.starts[0] == 0 && g.starts[1] == 2 && g.events[DY_TUNE_EVENT_KEPT] == 1,
          "the rerun without it keeps rung 1 and runs rung 2");
    dy_tune_free(t);
}

static void test_brackets(dy_ctx *ctx, const char *dir) {
    dy_tune_options opt = options_in(dir, 8, 2);
    opt.rungs = 1;
    opt.brackets = 2;
    opt.tpe = true;
    fake f = {0};
    dy_tune *t = NULL;
    bool resumed, complete;
    dy_status st = run_tune(ctx, &opt, &f, 2, &t, &resumed, &complete);
    CHECK(st == DY_OK && complete && f.starts[0] == 16 && f.events[DY_TUNE_EVENT_PROPOSED] == 1,
          "two brackets of 8: %s", dy_ctx_error(ctx));
    bool proposed = true;
    for (int i = 0; i < 16 && t; i++) proposed &= dy_tune_trial_at(t, i)->proposed == (i >= 8);
    char *text = slurp(dir, "bracket-2.json");
    CHECK(proposed && text && strstr(text, "\"drawn\": \"tpe\"") && strstr(text, "\"t15\""),
          "the second bracket was proposed by TPE from 8 scores, and kept in bracket-2.json");
    free(text);
    dy_tune_free(t);
    fake g = {0};
    st = run_tune(ctx, &opt, &g, 2, &t, &resumed, &complete);
    CHECK(st == DY_OK && complete && g.total == 0, "a rerun proposes the same bracket and runs nothing: %s",
          dy_ctx_error(ctx));
    dy_tune_free(t);
}

/* The CLI's runner opens a trial's log only as a regular file. */
static void test_trial_log(dy_ctx *ctx, const char *dir) {
    char run[512], log[512], cfg[512], path[600];
    snprintf(run, sizeof run, "%s/trials/t00", dir);
    snprintf(log, sizeof log, "%s/trials/t00.log", dir);
    snprintf(cfg, sizeof cfg, "%s/trials/t00-r1.json", dir);
    snprintf(path, sizeof path, "%s/config.json", run);
    FILE *fp = dy_mkdirs(run) == 0 ? fopen(path, "w") : NULL; /* a run to continue: no options to write */
    if (fp) fclose(fp);
    CHECK(fp && mkfifo(log, 0600) == 0, "a FIFO at the trial's log");
    run_options o = {.backend = "ref"};
    dy_tune_options to = {0};
    tune_trials u = {.o = &o, .ctx = ctx, .opt = &to, .child_threads = 1};
    snprintf(u.exe, sizeof u.exe, "/bin/true");
    dy_tune_runner r = tune_runner(&u, 1);
    dy_tune_job job = {.trial = 0, .rung = 0, .budget = 1, .run_dir = run, .config = cfg, .log = log};
    bool continued = false;
    dy_status st = r.start(r.user, 0, &job, &continued);
    CHECK(st == DY_ERR_IO && strstr(dy_ctx_error(ctx), "t00.log is not a regular file") && u.pid[0] == 0,
          "a FIFO at the log is refused at once, nothing started: %s", dy_ctx_error(ctx));
    unlink(log);
    u.failed = false;
    st = r.start(r.user, 0, &job, &continued);
    int ws = 0;
    CHECK(st == DY_OK && continued && u.pid[0] > 0 && waitpid(u.pid[0], &ws, 0) == u.pid[0], "with the FIFO gone the "
          "trial starts (continued): %s", dy_ctx_error(ctx));
    struct stat sb;
    CHECK(stat(log, &sb) == 0 && S_ISREG(sb.st_mode), "its log is a regular file");
    tune_trials_release(&u);
}

int main(void) {
    dy_ctx *ctx = NULL;
    if (dy_ctx_create(&ctx, NULL) != DY_OK) return 1;
    char base[128], dir[6][192], cmd[256];
    snprintf(base, sizeof base, "/tmp/dystress-tune-search-%d", (int)getpid());
    const char *names[6] = {"halving", "resume", "failures", "stop", "brackets", "log"};
    for (int i = 0; i < 6; i++) snprintf(dir[i], sizeof dir[i], "%s/%s", base, names[i]);
    char *reference = test_halving(ctx, dir[0]);
    test_resume(ctx, dir[1], dir[0], reference);
    free(reference);
    test_failures(ctx, dir[2]);
    test_stop_after_rung(ctx, dir[3]);
    test_brackets(ctx, dir[4]);
    test_trial_log(ctx, dir[5]);
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", base);
    dy_ctx_destroy(ctx);
    return test_finish();
}
