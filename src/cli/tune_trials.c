/* The trials of `dystress tune` (see tune_trials.h): a trial's options, its child process, its scores. */
#include "cli/tune_trials.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "eval/protocols.h"
#include "core/context.h"
#include "eval/rankme.h"

extern char **environ;

void tune_apply(tune_trials *u, const dy_tune_candidate *c, int rung) {
    run_options *o = u->o;
    const run_options *b = &u->base;
    o->tau_adapt = "none";
    o->tau_adapt_floor = b->tau_adapt_floor;
    o->tau_adapt_ceil = b->tau_adapt_ceil;
    o->tau = b->tau;
    o->tau_min = b->tau_min;
    o->tau_max = b->tau_max;
    o->shift_offset = b->shift_offset;
    o->shift_scale = b->shift_scale;
    o->tau_schedule = b->tau_schedule;
    o->tau_schedule_file = b->tau_schedule_file;
    o->tau_end = b->tau_end;
    o->tau_end_ratio = b->tau_end_ratio;
    switch (c->family) {
    case DY_TUNE_CONST:
        o->profile = "const";
        o->tau = c->tau;
        break;
    case DY_TUNE_SHIFTED:
        o->profile = "shifted";
        o->shift_offset = c->offset;
        o->shift_scale = c->scale;
        /* fall through */
    case DY_TUNE_COSINE:
    case DY_TUNE_ADAPTIVE:
        if (c->family != DY_TUNE_SHIFTED) o->profile = "cosine";
        o->tau_min = c->tau_min;
        o->tau_max = c->tau_max;
        if (c->family == DY_TUNE_ADAPTIVE) { /* the controller sets the bounds: no schedule */
            o->tau_schedule = "constant";
            o->tau_schedule_file = "";
            o->tau_end = 0;
            o->tau_end_ratio = 1;
            o->tau_adapt = "band";
            if (o->tau_adapt_floor > c->tau_min) o->tau_adapt_floor = c->tau_min;
            if (o->tau_adapt_ceil < c->tau_max) o->tau_adapt_ceil = c->tau_max;
        }
        break;
    case DY_TUNE_ANNEALED:
        o->profile = "const";
        o->tau = c->tau;
        o->tau_schedule = !strcmp(b->tau_schedule, "linear") ? "linear" : "cosine";
        o->tau_schedule_file = "";
        o->tau_end = 0;
        o->tau_end_ratio = c->end_ratio;
        break;
    default: break;
    }
    o->epochs = u->opt->steps || rung < 0 ? b->epochs : dy_tune_rungs(u->tune)->budget[rung];
    o->knn_every = -1; /* the tuner scores the trial itself */
    o->report = false;
}

/* The run options of the table without the invocation ones, into sub (NULL-terminated): what pretrain --config
 * reads. */
static void run_subset(const tune_trials *u, opt_spec *sub) {
    int m = 0;
    for (int i = 0; i < u->n_run; i++)
        if (run_option_role_of(u->specs[i].name) != RUN_OPTION_INVOCATION) sub[m++] = u->specs[i];
    sub[m] = (opt_spec){0};
}

char *tune_base_config(tune_trials *u) {
    /* the run configuration every trial starts from (the profile options are the candidates') */
    tune_apply(u, &dy_tune_trial_at(u->tune, 0)->cand, -1);
    opt_spec sub[RUN_OPTION_COUNT + 1];
    memcpy(sub, u->specs, sizeof(opt_spec) * (size_t)u->n_run);
    sub[u->n_run] = (opt_spec){0};
    return run_config_canonical(sub);
}

void tune_describe(const dy_tune_trial *tr, char *buf, size_t size) {
    char p[160];
    dy_tune_candidate_params(&tr->cand, p, sizeof p);
    snprintf(buf, size, "%s %s%s", dy_tune_family_name(tr->cand.family), p, tr->cand.anchor ? " (anchor)" : "");
}

dy_status tune_check(tune_trials *u, int64_t i, const dy_tune_candidate *c) {
    tune_apply(u, c, 0);
    dy_pretrain_config pc;
    if (cli_pretrain_config(u->ctx, u->o, u->rest, &pc) == DY_OK) return DY_OK;
    char what[256], why[1024];
    dy_tune_trial tr = {.cand = *c};
    tune_describe(&tr, what, sizeof what);
    snprintf(why, sizeof why, "%s", dy_ctx_error(u->ctx));
    return dy_fail(u->ctx, DY_ERR_INVALID, "candidate t%02lld (%s): %s", (long long)i, what, why);
}

void tune_score_text(const dy_tune_options *opt, const dy_tune_result *r, bool short_form, char *buf, size_t size) {
    bool rankme = opt->score == DY_TUNE_SCORE_RANKME;
    char knn[48] = "", rank[48];
    if (opt->labelled)
        snprintf(knn, sizeof knn, "%s%.2f %%", short_form && !rankme ? "" : "val top-1 ", 100 * r->top1);
    snprintf(rank, sizeof rank, "%s%.2f", short_form ? (rankme ? "" : "RankMe ") : "val RankMe ", r->rankme);
    if (!opt->labelled) snprintf(buf, size, "%s", rank);
    else if (rankme) snprintf(buf, size, "%s (%s)", rank, knn);
    else if (isnan(r->rankme)) snprintf(buf, size, "%s", knn);
    else snprintf(buf, size, "%s (%s)", knn, rank);
}

/* The scores of a trial's checkpoint on the validation split, into r: kNN top-1/top-5 (labelled data) and RankMe.
 * The checkpoint must hold the rung's step. */
static dy_status score_trial(tune_trials *u, const char *dir, int rung, dy_tune_result *r) {
    char ckpt[4400];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-latest.safetensors", dir);
    int64_t budget = dy_tune_rungs(u->tune)->budget[rung];
    int64_t want = u->opt->steps ? budget : budget * u->steps_per_epoch, step = -1;
    dy_status st = dy_checkpoint_read_step(u->ctx, ckpt, &step);
    if (st != DY_OK) return st;
    if (step != want)
        return dy_fail(u->ctx, DY_ERR_MISMATCH, "%s holds step %lld, the rung's budget is step %lld", ckpt,
                       (long long)step, (long long)want);
    dy_model *model = NULL;
    float *ftr = NULL, *fval = NULL;
    int64_t dim;
    dy_eval_scores sc = {.top1 = NAN, .top5 = NAN};
    double rankme = NAN;
    if ((st = cli_open_model(u->ctx, u->o, u->rest->channels, ckpt, false, &model)) == DY_OK &&
        (st = dy_eval_features(u->ctx, model, u->rest, u->val, &fval, &dim)) == DY_OK &&
        (st = dy_rankme(u->ctx, fval, u->val->count, dim, &rankme)) == DY_OK && u->opt->labelled &&
        (st = dy_eval_features(u->ctx, model, u->rest, u->rest, &ftr, &dim)) == DY_OK)
        st = dy_eval_knn(u->ctx, ftr, u->rest, fval, u->val, dim, u->o->knn_k, u->o->knn_t, NULL, &sc);
    if (st == DY_OK) *r = (dy_tune_result){.top1 = sc.top1, .top5 = sc.top5, .rankme = rankme, .step = step};
    free(ftr);
    free(fval);
    dy_model_destroy(model);
    return st;
}

/* The trial's log, opened for appending (*fd): a regular file only. O_NONBLOCK so that a FIFO put at its name cannot
 * hold the open (waiting for a reader that never comes) before fstat refuses it; blocking again once checked. */
static dy_status open_log(dy_ctx *ctx, const char *path, int *fd) {
    *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
    int e = *fd < 0 ? errno : 0;
    struct stat sb;
    bool regular = *fd >= 0 && fstat(*fd, &sb) == 0 && S_ISREG(sb.st_mode);
    if (regular && fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) & ~O_NONBLOCK) == 0) return DY_OK;
    if (*fd >= 0) close(*fd);
    *fd = -1;
    if (e && e != ENXIO) return dy_fail(ctx, DY_ERR_IO, "cannot open the trial's log %s: %s", path, strerror(e));
    return dy_fail(ctx, DY_ERR_IO, "the trial's log %s is not a regular file (a FIFO, device or socket stands at its "
                   "name): remove it, or choose another --tune-dir", path);
}

/* The command line of `dystress pretrain` for job into args (NULL-terminated); writes a fresh start's options to
 * job->config. buf holds the numbers. */
static dy_status trial_args(tune_trials *u, const dy_tune_job *job, bool resume, const char **args, char buf[3][48]) {
    int n = 0;
    args[n++] = u->exe;
    args[n++] = "pretrain";
    if (resume) {
        /* epochs: a promotion stretches the run to the new budget; steps: --max-steps moves on along the schedule */
        snprintf(buf[0], 48, "%lld", (long long)(u->opt->steps ? u->base.epochs : job->budget));
        args[n++] = "--resume";
        args[n++] = "--epochs";
        args[n++] = buf[0];
    } else {
        tune_apply(u, job->cand, job->rung);
        opt_spec sub[RUN_OPTION_COUNT + 1];
        run_subset(u, sub);
        DY_TRY(cli_write_config(u->ctx, job->config, sub));
        args[n++] = "--config";
        args[n++] = job->config;
        args[n++] = "--overwrite";
    }
    snprintf(buf[1], 48, "%d", u->child_threads);
    snprintf(buf[2], 48, "%lld", (long long)job->budget);
    const char *rest[] = {"--run-dir", job->run_dir, "--threads", buf[1], "--backend", u->o->backend};
    for (size_t i = 0; i < sizeof rest / sizeof *rest; i++) args[n++] = rest[i];
    if (u->opt->steps) {
        args[n++] = "--max-steps";
        args[n++] = buf[2];
    }
    args[n] = NULL;
    return DY_OK;
}

/* Starts pretrain for the job: a continuation of its run directory when there is one to continue (fresh otherwise,
 * or when the job says so). */
static dy_status start_trial(void *user, int slot, const dy_tune_job *job, bool *continued) {
    tune_trials *u = user;
    char probe[4400], buf[3][48];
    snprintf(probe, sizeof probe, "%s/config.json", job->run_dir);
    bool resume = !job->fresh && access(probe, F_OK) == 0;
    const char *args[24];
    int fd;
    dy_status st = trial_args(u, job, resume, args, buf);
    if (st == DY_OK) st = open_log(u->ctx, job->log, &fd);
    if (st != DY_OK) {
        u->failed = true;
        return st;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
    int e = posix_spawn(&u->pid[slot], u->exe, &fa, NULL, (char *const *)args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd);
    if (e != 0) {
        u->pid[slot] = 0;
        u->failed = true;
        return dy_fail(u->ctx, DY_ERR_IO, "cannot start %s: %s", u->exe, strerror(e));
    }
    u->trial[slot] = job->trial;
    u->rung[slot] = job->rung;
    free(u->run_dir[slot]);
    u->run_dir[slot] = strdup(job->run_dir);
    *continued = resume;
    return DY_OK;
}

/* Waits 50 ms at most for a trial's process to end; scores it when it finished. */
static dy_status wait_trial(void *user, int *slot, dy_tune_outcome *out) {
    tune_trials *u = user;
    *slot = -1;
    int ws;
    pid_t pid = waitpid(-1, &ws, WNOHANG);
    if (pid == 0 || (pid < 0 && errno == EINTR)) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        return DY_OK;
    }
    if (pid < 0) return dy_fail(u->ctx, DY_ERR_INTERNAL, "no trial process left to wait for: %s", strerror(errno));
    int s = 0;
    while (s < TUNE_MAX_JOBS && u->pid[s] != pid) s++;
    if (s == TUNE_MAX_JOBS) return DY_OK;
    u->pid[s] = 0;
    *slot = s;
    int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    out->status = code;
    out->stopped = code == 128 + SIGTERM || code == 128 + SIGINT;
    if (cli_stop_signal) return DY_OK; /* interrupted: not recorded */
    if (code != 0) {
        snprintf(out->error, sizeof out->error, "pretrain exited with status %d (see trials/t%02lld.log)", code,
                 (long long)u->trial[s]);
        return DY_OK;
    }
    if (!u->run_dir[s]) {
        u->failed = true;
        return dy_fail(u->ctx, DY_ERR_NOMEM, "out of memory");
    }
    dy_status st = score_trial(u, u->run_dir[s], u->rung[s], &out->result);
    if (st != DY_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", dy_ctx_error(u->ctx));
        u->failed = true;
        return dy_fail(u->ctx, st, "scoring %s: %s", u->run_dir[s], why);
    }
    out->finished = true;
    return DY_OK;
}

static bool stopping(void *user) {
    (void)user;
    return cli_stop_signal != 0;
}

/* every trial stops after its step with a checkpoint */
static void stop_trials(void *user) {
    tune_trials *u = user;
    for (int s = 0; s < TUNE_MAX_JOBS; s++)
        if (u->pid[s]) kill(u->pid[s], SIGTERM);
}

static dy_status check_trial(void *user, int64_t i, const dy_tune_candidate *c) {
    return tune_check(user, i, c);
}

/* The search's progress, as lines on stderr. */
static void on_event(void *user, const dy_tune_event *e) {
    tune_trials *u = user;
    const dy_tune_options *opt = u->opt;
    const char *unit = opt->steps ? "steps" : "epochs";
    const dy_tune_trial *tr = e->trial >= 0 ? dy_tune_trial_at(u->tune, e->trial) : NULL;
    char what[256] = "", scored[128];
    if (tr) tune_describe(tr, what, sizeof what);
    int rung = e->rung + 1;
    long long i = (long long)e->trial;
    switch (e->kind) {
    case DY_TUNE_EVENT_KEPT:
        fprintf(stderr, "dystress tune: rung %d: %lld of %lld trials finished before, kept\n", rung,
                (long long)e->kept, (long long)e->count);
        break;
    case DY_TUNE_EVENT_NOT_THIS_RUNG:
        fprintf(stderr, "dystress tune: note: %s is not a result of this rung; the trial runs again\n", e->path);
        break;
    case DY_TUNE_EVENT_STARTED:
        fprintf(stderr, "dystress tune: rung %d: t%02lld %s, %lld %s%s\n", rung, i, what,
                (long long)dy_tune_rungs(u->tune)->budget[e->rung], unit, e->continued ? " (continued)" : "");
        break;
    case DY_TUNE_EVENT_FINISHED:
        tune_score_text(opt, &tr->r[e->rung], false, scored, sizeof scored);
        fprintf(stderr, "dystress tune: rung %d: t%02lld %s: %s (%.0f s)\n", rung, i, what, scored, e->seconds);
        break;
    case DY_TUNE_EVENT_RETRY: /* the continuation was refused (a checkpoint that does not fit) */
        fprintf(stderr, "dystress tune: rung %d: t%02lld could not continue from its checkpoint (exit %d, see "
                "%s/trials/t%02lld.log); starting it afresh\n", rung, i, e->outcome->status, opt->dir, i);
        break;
    case DY_TUNE_EVENT_FAILED:
        fprintf(stderr, "dystress tune: rung %d: t%02lld %s failed: %s\n", rung, i, what, e->outcome->error);
        break;
    case DY_TUNE_EVENT_PROPOSED:
        fprintf(stderr, "dystress tune: bracket %d: %lld candidates %s\n", e->bracket + 1, (long long)e->count,
                e->modelled ? "proposed by TPE from the first-rung scores before it" :
                "from the random sample (too few scores for TPE yet)");
        break;
    case DY_TUNE_EVENT_STOPPED:
        fprintf(stderr, "dystress tune: stopped after rung %d%s as asked (--stop-after-rung); run the command again "
                "without it to continue\n", rung, opt->brackets > 1 ? " of this bracket" : "");
        break;
    }
}

dy_tune_runner tune_runner(tune_trials *u, int jobs) {
    return (dy_tune_runner){.user = u, .jobs = jobs, .start = start_trial, .wait = wait_trial, .stopping = stopping,
                            .stop = stop_trials, .check = check_trial, .event = on_event};
}

void tune_trials_release(tune_trials *u) {
    for (int s = 0; s < TUNE_MAX_JOBS; s++) {
        free(u->run_dir[s]);
        u->run_dir[s] = NULL;
    }
}

dy_status tune_write_best(tune_trials *u, int64_t i, int r, const char *path) {
    tune_apply(u, &dy_tune_trial_at(u->tune, i)->cand, u->opt->steps ? -1 : r);
    u->o->val_size = 0;
    u->o->knn_every = u->base.knn_every;
    u->o->report = u->base.report;
    opt_spec sub[RUN_OPTION_COUNT + 1];
    run_subset(u, sub);
    return cli_write_config(u->ctx, path, sub);
}

/* The leaderboard (leaderboard.json and the table), and best.json with the winner. */
int tune_leaderboard(tune_trials *u) {
    const dy_tune_options *to = u->opt;
    const dy_tune_schedule *sched = dy_tune_rungs(u->tune);
    int64_t n = dy_tune_trial_count(u->tune), *order = malloc(sizeof(int64_t) * (size_t)n);
    if (!order || dy_tune_leaderboard(u->tune, order) != DY_OK) {
        free(order);
        return order ? cli_error(u->ctx, "tune") : (fprintf(stderr, "dystress tune: out of memory\n"), 1);
    }
    const char *unit = to->steps ? "steps" : "epochs";
    printf("\n%-5s %-6s %-9s %-46s %-12s %s\n", "rank", "trial", "profile", "parameters", "budget",
           to->score == DY_TUNE_SCORE_RANKME ? "val RankMe" : "val top-1");
    for (int64_t k = 0; k < n; k++) {
        const dy_tune_trial *tr = dy_tune_trial_at(u->tune, order[k]);
        int r = dy_tune_reached(u->tune, order[k]);
        char params[160], budget[48], score[128];
        dy_tune_candidate_params(&tr->cand, params, sizeof params);
        snprintf(budget, sizeof budget, "%lld %s", r >= 0 ? (long long)sched->budget[r] : 0LL, unit);
        if (r >= 0 && !tr->r[r].failed) tune_score_text(to, &tr->r[r], true, score, sizeof score);
        else snprintf(score, sizeof score, "%s", r >= 0 ? "failed" : "not run");
        printf("%-5lld t%02lld%-3s %-9s %-46s %-12s %s\n", (long long)k + 1, (long long)order[k], "",
               dy_tune_family_name(tr->cand.family), params, budget, score);
    }
    const dy_tune_trial *best = dy_tune_trial_at(u->tune, order[0]);
    int r = dy_tune_reached(u->tune, order[0]), rc = 0;
    char path[4400], params[160], scored[128];
    snprintf(path, sizeof path, "%s/best.json", to->dir);
    if (r < 0 || best->r[r].failed) {
        fprintf(stderr, "dystress tune: no trial finished: no best.json\n");
        rc = 1;
    } else if (tune_write_best(u, order[0], r, path) != DY_OK) {
        rc = cli_error(u->ctx, "tune");
    } else {
        dy_tune_candidate_params(&best->cand, params, sizeof params);
        tune_score_text(to, &best->r[r], false, scored, sizeof scored);
        printf("\nbest: t%02lld, %s %s, %s after %lld %s\n", (long long)order[0],
               dy_tune_family_name(best->cand.family), params, scored, (long long)sched->budget[r], unit);
        printf("train it: dystress pretrain --config %s --epochs N --run-dir DIR   (the test split is first used "
               "there)\n", path);
    }
    free(order);
    return rc;
}
