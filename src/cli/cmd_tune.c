/* dystress tune: searches temperature profiles by successive halving over short pretraining runs, each trial a run
 * directory of `dystress pretrain` (run as a child process of this one), scored by weighted kNN top-1 on a
 * validation split held out of the TRAINING set (the test split is never opened), or, without labels (--score),
 * by RankMe, the effective rank of the encoder features h of that split (src/eval/rankme.h): h, not the projection
 * z, because h is what the tune chooses for (the features every evaluation and downstream use reads, and what the
 * kNN score embeds), and RankMe's authors found the rank of the representation, not of the projector's output, to
 * follow downstream accuracy. The search logic (candidates, schedule, promotion, the TPE sampler) is src/tune/; this
 * file runs the trials, scores them, and writes the tune directory:
 *
 *   plan.json          the schedule, the candidates and the base configuration (a rerun must match it)
 *   split.json         the validation split: seed, sizes, FNV-1a hashes of the two index lists
 *   trials/tNN/        a trial's run directory (promotions continue there; with --promote restart, tNN-rK/)
 *   trials/tNN-rK.json the options a trial was started with at rung K (pretrain --config)
 *   trials/tNN.log     the trial's pretrain output
 *   tNN/val-knn-rK.json  the score after rung K (val_top1 where there are labels, val_rankme always): a trial with
 *                      this file is finished at that rung (skipped on rerun)
 *   bracket-K.json     --sampler tpe: the candidates of bracket K >= 2 (a rerun must propose the same)
 *   leaderboard.json, best.json (the winner's configuration for pretrain --config) */
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
#include "cli/evaluate.h"
#include "data/holdout.h"
#include "eval/rankme.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "tune/tune.h"

extern char **environ;

typedef struct {
    const char *tune_dir, *families, *tau_range, *tau_min_range, *tau_max_range, *offset_range, *scale_range, *unit,
        *promote, *end_ratio_range, *score, *sampler;
    int64_t trials, eta, min_budget, rungs, jobs, tune_seed, stop_after_rung, brackets;
    bool anchors;
} tune_options;

static int tune_option_table(opt_spec *s, tune_options *t) {
    const opt_spec x[] = {
        {"tune-dir", OPT_STRING, &t->tune_dir, "runs/tune", "the tune directory: plan, split, trials, leaderboard"},
        {"trials", OPT_INT, &t->trials, "9", "trials at the first rung (anchors included)", NULL, 1, 1000},
        {"eta", OPT_INT, &t->eta, "3", "successive halving: keep the best 1/eta of a rung, eta x the budget", NULL, 2,
         100},
        {"min-budget", OPT_INT, &t->min_budget, "1", "budget of a first-rung trial (--budget-unit)", NULL, 1,
         (double)(1ll << 40)},
        {"budget-unit", OPT_CHOICE, &t->unit, "epochs", "epochs: a trial of budget b trains b epochs (a promotion "
         "resumes with more epochs, stretching its schedule); steps: b steps of the --epochs schedule (a promotion "
         "continues it exactly)", "epochs|steps"},
        {"rungs", OPT_INT, &t->rungs, "0", "rungs (0: as many as leave one trial)", NULL, 0, DY_TUNE_MAX_RUNGS},
        {"promote", OPT_CHOICE, &t->promote, "continue", "a promoted trial continues from its checkpoint, or "
         "restarts at the new budget", "continue|restart"},
        {"jobs", OPT_INT, &t->jobs, "1", "trials run at once (each gets --threads / jobs threads)", NULL, 1, 256},
        {"families", OPT_STRING, &t->families, "const,cosine,shifted", "profile families the sample draws from "
         "(const, cosine, shifted, adaptive: cosine with --tau-adapt band, annealed: const on a --tau-schedule from "
         "tau to tau x end ratio)"},
        {"tau-range", OPT_STRING, &t->tau_range, "0.05,1", "const: tau (log-uniform)"},
        {"tau-min-range", OPT_STRING, &t->tau_min_range, "0.02,0.3", "tau-min (log-uniform)"},
        {"tau-max-range", OPT_STRING, &t->tau_max_range, "0.1,1", "tau-max (log-uniform, at least tau-min)"},
        {"offset-range", OPT_STRING, &t->offset_range, "-0.6,0.4", "shifted: offset (uniform)"},
        {"scale-range", OPT_STRING, &t->scale_range, "0.4,1.2", "shifted: scale (uniform)"},
        {"end-ratio-range", OPT_STRING, &t->end_ratio_range, "0.05,0.5", "annealed: the level's factor at the end "
         "(log-uniform, within (0, 1]); the schedule is --tau-schedule linear if given, else cosine"},
        {"anchors", OPT_BOOL, &t->anchors, "true", "start with the paper's cosine 0.07-0.2 and constants 0.2 and 0.5"},
        {"tune-seed", OPT_INT, &t->tune_seed, "0", "seed of the candidate sample", NULL, 0, (double)(1ll << 53)},
        {"score", OPT_CHOICE, &t->score, "auto", "what ranks the trials: knn (weighted kNN top-1 on the validation "
         "split, needs labels), rankme (RankMe, the effective rank of the encoder features of the validation split: "
         "label-free), auto (knn with labels, rankme without)", "auto|knn|rankme"},
        {"sampler", OPT_CHOICE, &t->sampler, "random", "how a bracket's candidates are drawn: random (the seeded "
         "sample), tpe (a tree-structured Parzen estimator over the families' parameters, fitted to the first-rung "
         "scores of every earlier bracket; random until 6 trials have scores)", "random|tpe"},
        {"brackets", OPT_INT, &t->brackets, "1", "successive-halving brackets run one after another, each of --trials "
         "trials (--sampler tpe proposes each bracket's from the brackets before it)", NULL, 1, 100},
        {"stop-after-rung", OPT_INT, &t->stop_after_rung, "0", "stop after this rung (0: run them all); rerun "
         "without it to continue", NULL, 0, DY_TUNE_MAX_RUNGS},
        {0},
    };
    int n = 0;
    while (x[n].name) n++;
    memcpy(s, x, (size_t)(n + 1) * sizeof *s);
    return n;
}

/* ---- small helpers -------------------------------------------------------------------------------------------- */

static int parse_range(const char *name, const char *text, dy_tune_range *r) {
    int used = 0;
    if (sscanf(text, "%lf,%lf%n", &r->lo, &r->hi, &used) != 2 || text[used]) {
        fprintf(stderr, "dystress tune: --%s expects low,high (two numbers), got '%s'\n", name, text);
        return -1;
    }
    return 0;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* Writes text to path atomically. */
static dy_status write_text(dy_ctx *ctx, const char *path, const char *text) {
    dy_atomic_file f;
    dy_status st = dy_atomic_open(ctx, &f, path);
    if (st != DY_OK) return st;
    if (fputs(text, f.fp) < 0) {
        dy_atomic_abort(&f);
        return dy_fail(ctx, DY_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    return dy_atomic_commit(ctx, &f);
}

/* The run options of the table (its first n_run entries) without the invocation ones, as a JSON object: what
 * pretrain --config reads. */
static char *run_options_json(const opt_spec *specs, int n_run) {
    opt_spec sub[RUN_OPTION_COUNT];
    int m = 0;
    for (int i = 0; i < n_run; i++)
        if (run_option_role_of(specs[i].name) != RUN_OPTION_INVOCATION) sub[m++] = specs[i];
    sub[m] = (opt_spec){0};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    opt_write_json(f, sub, "  ");
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the tune's state ----------------------------------------------------------------------------------------- */

typedef struct {
    bool done, failed;
    double top1, top5; /* NaN without labels */
    double rankme;     /* NaN in a result file written before --score */
    int64_t step;
} rung_result;

typedef struct {
    dy_tune_candidate cand;
    int bracket;
    bool proposed; /* by TPE (else the random sample or an anchor) */
    rung_result r[DY_TUNE_MAX_RUNGS];
} trial;

typedef struct {
    run_options *o;
    opt_spec *specs;
    int n_run;
    tune_options *t;
    dy_tune_schedule sched;
    trial *trials;
    int64_t n_trials;
    bool steps_unit, restart;
    bool labelled; /* the training set has labels: kNN top-1 is computed (and ranks unless --score rankme) */
    bool rankme;   /* RankMe ranks the trials */
    bool tpe;      /* --sampler tpe: brackets after the first are proposed */
    int64_t base_epochs, base_knn_every, steps_per_epoch;
    bool base_report;
    double base_floor, base_ceil;
    /* the user's temperature schedule: every family but adaptive and annealed trains on it */
    const char *base_schedule, *base_schedule_file;
    double base_tau_end, base_end_ratio;
    /* the user's profile options: every trial starts from them, so a field its family leaves alone (a cosine
     * trial's --tau) reads as the user gave it, not as the previous trial left it, in plan.json and best.json */
    double base_tau, base_tau_min, base_tau_max, base_offset, base_scale;
    const dy_dataset *rest, *val;
    dy_ctx *ctx;
    char exe[4096];
    int child_threads;
    int64_t ran, skipped;
} tuner;

static void trial_dir(const tuner *u, int64_t i, int rung, char *buf, size_t size) {
    if (u->restart && rung > 0) snprintf(buf, size, "%s/trials/t%02lld-r%d", u->t->tune_dir, (long long)i, rung + 1);
    else snprintf(buf, size, "%s/trials/t%02lld", u->t->tune_dir, (long long)i);
}

static void result_path(const tuner *u, int64_t i, int rung, char *buf, size_t size) {
    char dir[4200];
    trial_dir(u, i, rung, dir, sizeof dir);
    snprintf(buf, size, "%s/val-knn-r%d.json", dir, rung + 1);
}

/* The options of trial i at rung k, set on the options struct (every field a candidate or a rung touches). */
static void apply_trial(tuner *u, const dy_tune_candidate *c, int rung) {
    run_options *o = u->o;
    o->tau_adapt = "none";
    o->tau_adapt_floor = u->base_floor;
    o->tau_adapt_ceil = u->base_ceil;
    o->tau = u->base_tau;
    o->tau_min = u->base_tau_min;
    o->tau_max = u->base_tau_max;
    o->shift_offset = u->base_offset;
    o->shift_scale = u->base_scale;
    o->tau_schedule = u->base_schedule;
    o->tau_schedule_file = u->base_schedule_file;
    o->tau_end = u->base_tau_end;
    o->tau_end_ratio = u->base_end_ratio;
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
        o->tau_schedule = !strcmp(u->base_schedule, "linear") ? "linear" : "cosine";
        o->tau_schedule_file = "";
        o->tau_end = 0;
        o->tau_end_ratio = c->end_ratio;
        break;
    default: break;
    }
    o->epochs = u->steps_unit || rung < 0 ? u->base_epochs : u->sched.budget[rung];
    o->knn_every = -1; /* the tuner scores the trial itself */
    o->report = false;
}

/* ---- results -------------------------------------------------------------------------------------------------- */

static dy_status write_result(tuner *u, int64_t i, int rung, const rung_result *r, const char *error, double secs) {
    char path[4400], *buf = NULL;
    size_t len = 0;
    result_path(u, i, rung, path, sizeof path);
    FILE *f = open_memstream(&buf, &len);
    if (!f) return dy_fail(u->ctx, DY_ERR_NOMEM, "out of memory");
    fprintf(f, "{\"trial\": %lld, \"rung\": %d, \"budget\": %lld, \"unit\": \"%s\", \"step\": %lld, \"failed\": %s",
            (long long)i, rung + 1, (long long)u->sched.budget[rung], u->t->unit, (long long)r->step,
            r->failed ? "true" : "false");
    if (r->failed) {
        fputs(", \"error\": ", f);
        json_str(f, error ? error : "");
    } else {
        if (u->labelled) fprintf(f, ", \"val_top1\": %.6f, \"val_top5\": %.6f", r->top1, r->top5);
        fprintf(f, ", \"val_rankme\": %.6f", r->rankme);
    }
    fprintf(f, ", \"seconds\": %.1f}\n", secs);
    fclose(f);
    dy_status st = buf ? write_text(u->ctx, path, buf) : dy_fail(u->ctx, DY_ERR_NOMEM, "out of memory");
    free(buf);
    return st;
}

/* Reads a trial's result file: true when it exists and belongs to this rung's budget. */
static bool read_result(tuner *u, int64_t i, int rung, rung_result *r) {
    char path[4400], err[256];
    result_path(u, i, rung, path, sizeof path);
    if (access(path, F_OK) != 0) return false;
    size_t length;
    char *text = cli_read_file(path, 1 << 16, &length, err, sizeof err);
    if (!text) return false;
    dy_json_doc *doc = NULL;
    dy_json_error je;
    bool ok = false;
    if (dy_json_parse(NULL, path, text, length, &doc, &je) == DY_OK) {
        const dy_json *root = dy_json_root(doc);
        const dy_json *budget = dy_json_member(root, "budget"), *failed = dy_json_member(root, "failed");
        const dy_json *top1 = dy_json_member(root, "val_top1"), *top5 = dy_json_member(root, "val_top5");
        const dy_json *step = dy_json_member(root, "step"), *rankme = dy_json_member(root, "val_rankme");
        bool has_rankme = rankme && rankme->type == DY_JSON_NUMBER;
        ok = budget && budget->type == DY_JSON_NUMBER && budget->number == (double)u->sched.budget[rung] && failed &&
             failed->type == DY_JSON_BOOL && step && step->type == DY_JSON_NUMBER;
        if (ok && !failed->boolean && u->labelled)
            ok = top1 && top1->type == DY_JSON_NUMBER && top5 && top5->type == DY_JSON_NUMBER;
        if (ok && !failed->boolean && u->rankme) ok = has_rankme;
        if (ok) {
            r->done = true;
            r->failed = failed->boolean;
            r->top1 = r->failed || !u->labelled ? NAN : top1->number;
            r->top5 = r->failed || !u->labelled ? NAN : top5->number;
            r->rankme = r->failed || !has_rankme ? NAN : rankme->number;
            r->step = (int64_t)step->number;
        }
    }
    if (!ok) fprintf(stderr, "dystress tune: note: %s is not a result of this rung; the trial runs again\n", path);
    dy_json_free(doc);
    free(text);
    return ok;
}

/* A number as its result file holds it (%.6f): a tune continued from the files ranks, promotes and proposes from
 * the same values as one that ran through. */
static double as_written(double v) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.6f", v);
    return isfinite(v) ? strtod(buf, NULL) : v;
}

/* The score that ranks a trial's result (NaN when it failed). */
static double score_of(const tuner *u, const rung_result *r) {
    return r->failed ? NAN : u->rankme ? r->rankme : r->top1;
}

/* A finished result as the user reads it: "val top-1 12.50 %", "val RankMe 5.43" or both, the ranking one first;
 * short (the leaderboard's column, named in its header): "12.50 %", "5.43", "12.50 % (RankMe 5.43)". */
static void score_text(const tuner *u, const rung_result *r, bool short_form, char *buf, size_t size) {
    char knn[48] = "", rank[48];
    if (u->labelled)
        snprintf(knn, sizeof knn, "%s%.2f %%", short_form && !u->rankme ? "" : "val top-1 ", 100 * r->top1);
    snprintf(rank, sizeof rank, "%s%.2f", short_form ? (u->rankme ? "" : "RankMe ") : "val RankMe ", r->rankme);
    if (!u->labelled) snprintf(buf, size, "%s", rank);
    else if (u->rankme) snprintf(buf, size, "%s (%s)", rank, knn);
    else if (isnan(r->rankme)) snprintf(buf, size, "%s", knn);
    else snprintf(buf, size, "%s (%s)", knn, rank);
}

/* The scores of a trial's checkpoint on the validation split: kNN top-1/top-5 with the rest of the training set as
 * the memory bank (labelled data), and RankMe of the split's encoder features h (always: it needs no labels, and
 * beside kNN it is what a measurement of the label-free score's ranking compares). The checkpoint must hold the
 * rung's step. */
static dy_status score_trial(tuner *u, const char *dir, int rung, rung_result *r) {
    char ckpt[4400];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-latest.safetensors", dir);
    int64_t want = u->steps_unit ? u->sched.budget[rung] : u->sched.budget[rung] * u->steps_per_epoch;
    int64_t step = -1;
    dy_status st = dy_checkpoint_read_step(u->ctx, ckpt, &step);
    if (st != DY_OK) return st;
    if (step != want)
        return dy_fail(u->ctx, DY_ERR_MISMATCH, "%s holds step %lld, the rung's budget is step %lld", ckpt,
                       (long long)step, (long long)want);
    dy_model *model = NULL;
    float *ftr = NULL, *fval = NULL;
    int64_t dim;
    eval_scores sc;
    sc.top1 = sc.top5 = NAN;
    double rankme = NAN;
    if ((st = cli_open_model(u->ctx, u->o, u->rest->channels, ckpt, false, &model)) == DY_OK &&
        (st = cli_features(u->ctx, model, u->rest, u->val, &fval, &dim)) == DY_OK &&
        (st = dy_rankme(u->ctx, fval, u->val->count, dim, &rankme)) == DY_OK && u->labelled &&
        (st = cli_features(u->ctx, model, u->rest, u->rest, &ftr, &dim)) == DY_OK)
        st = cli_knn(u->ctx, ftr, u->rest, fval, u->val, dim, u->o->knn_k, u->o->knn_t, false, &sc);
    if (st == DY_OK) {
        r->done = true;
        r->failed = false;
        r->top1 = as_written(sc.top1);
        r->top5 = as_written(sc.top5);
        r->rankme = as_written(rankme);
        r->step = step;
    }
    free(ftr);
    free(fval);
    dy_model_destroy(model);
    return st;
}

/* ---- running trials ------------------------------------------------------------------------------------------- */

typedef struct {
    pid_t pid;
    int64_t trial;
    bool resumed, retried;
    double t0;
} job;

/* Starts pretrain for trial i at rung k: a continuation of its run directory when there is one to continue (fresh
 * otherwise, or when fresh is set). */
static int start_trial(tuner *u, int64_t i, int rung, bool fresh, job *j) {
    char dir[4200], cfg[4400], log[4400], threads[32], budget[48], epochs[32];
    trial_dir(u, i, rung, dir, sizeof dir);
    snprintf(log, sizeof log, "%s/trials/t%02lld.log", u->t->tune_dir, (long long)i);
    snprintf(threads, sizeof threads, "%d", u->child_threads);
    snprintf(budget, sizeof budget, "%lld", (long long)u->sched.budget[rung]);
    char probe[4400];
    snprintf(probe, sizeof probe, "%s/config.json", dir);
    bool resume = !fresh && access(probe, F_OK) == 0;
    const char *args[24];
    int n = 0;
    args[n++] = u->exe;
    args[n++] = "pretrain";
    if (resume) {
        /* epochs: a promotion stretches the run to the new budget; steps: --max-steps moves on along the schedule */
        snprintf(epochs, sizeof epochs, "%lld", (long long)(u->steps_unit ? u->base_epochs : u->sched.budget[rung]));
        args[n++] = "--resume";
        args[n++] = "--epochs";
        args[n++] = epochs;
    } else {
        apply_trial(u, &u->trials[i].cand, rung);
        snprintf(cfg, sizeof cfg, "%s/trials/t%02lld-r%d.json", u->t->tune_dir, (long long)i, rung + 1);
        char *text = run_options_json(u->specs, u->n_run);
        dy_status st = text ? write_text(u->ctx, cfg, text) : dy_fail(u->ctx, DY_ERR_NOMEM, "out of memory");
        free(text);
        if (st != DY_OK) return cli_error(u->ctx, "tune");
        args[n++] = "--config";
        args[n++] = cfg;
        args[n++] = "--overwrite";
    }
    args[n++] = "--run-dir";
    args[n++] = dir;
    args[n++] = "--threads";
    args[n++] = threads;
    args[n++] = "--backend";
    args[n++] = u->o->backend;
    if (u->steps_unit) {
        args[n++] = "--max-steps";
        args[n++] = budget;
    }
    args[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int e = posix_spawn(&j->pid, u->exe, &fa, NULL, (char *const *)args, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0) {
        fprintf(stderr, "dystress tune: cannot start %s: %s\n", u->exe, strerror(e));
        return 1;
    }
    j->trial = i;
    j->resumed = resume;
    j->t0 = now_seconds();
    return 0;
}

static void describe(const trial *tr, char *buf, size_t size) {
    char p[160];
    dy_tune_candidate_params(&tr->cand, p, sizeof p);
    snprintf(buf, size, "%s %s%s", dy_tune_family_name(tr->cand.family), p, tr->cand.anchor ? " (anchor)" : "");
}

/* Runs the trials of rung k that have no result yet, --jobs at a time. 0, 1 on an error, 128 + signal when
 * interrupted (finished trials are kept). */
static int run_rung(tuner *u, int rung, const int64_t *ids, int64_t n) {
    int64_t *queue = malloc(sizeof(int64_t) * (size_t)(n + 1));
    job *jobs = calloc((size_t)u->t->jobs, sizeof *jobs);
    if (!queue || !jobs) {
        free(queue);
        free(jobs);
        fprintf(stderr, "dystress tune: out of memory\n");
        return 1;
    }
    int64_t nq = 0;
    for (int64_t k = 0; k < n; k++) {
        trial *tr = &u->trials[ids[k]];
        if (tr->r[rung].done || read_result(u, ids[k], rung, &tr->r[rung])) u->skipped++;
        else queue[nq++] = ids[k];
    }
    if (n - nq > 0)
        fprintf(stderr, "dystress tune: rung %d: %lld of %lld trials finished before, kept\n", rung + 1,
                (long long)(n - nq), (long long)n);
    int64_t next = 0, running = 0;
    int status = 0;
    bool forwarded = false;
    while ((next < nq && !cli_stop_signal && status == 0) || running > 0) {
        for (int s = 0; s < u->t->jobs && next < nq && !cli_stop_signal && status == 0; s++) {
            if (jobs[s].pid) continue;
            char what[256];
            describe(&u->trials[queue[next]], what, sizeof what);
            if ((status = start_trial(u, queue[next], rung, false, &jobs[s])) != 0) break;
            fprintf(stderr, "dystress tune: rung %d: t%02lld %s, %lld %s%s\n", rung + 1, (long long)queue[next], what,
                    (long long)u->sched.budget[rung], u->t->unit, jobs[s].resumed ? " (continued)" : "");
            next++;
            running++;
        }
        if (cli_stop_signal && !forwarded) { /* every trial stops after its step with a checkpoint */
            for (int s = 0; s < u->t->jobs; s++)
                if (jobs[s].pid) kill(jobs[s].pid, SIGTERM);
            forwarded = true;
        }
        int ws;
        pid_t pid = waitpid(-1, &ws, WNOHANG);
        if (pid == 0 || (pid < 0 && errno == EINTR)) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (pid < 0) break; /* no child left */
        int s = 0;
        while (s < u->t->jobs && jobs[s].pid != pid) s++;
        if (s == u->t->jobs) continue;
        job *j = &jobs[s];
        int64_t i = j->trial;
        j->pid = 0;
        running--;
        int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        if (cli_stop_signal) continue; /* interrupted: nothing recorded, the rerun continues it */
        char dir[4200], what[256];
        trial_dir(u, i, rung, dir, sizeof dir);
        describe(&u->trials[i], what, sizeof what);
        trial *tr = &u->trials[i];
        if (code == 0) {
            dy_status st = score_trial(u, dir, rung, &tr->r[rung]);
            if (st != DY_OK) {
                status = cli_error(u->ctx, "tune: scoring");
                continue;
            }
            if (write_result(u, i, rung, &tr->r[rung], NULL, now_seconds() - j->t0) != DY_OK) {
                status = cli_error(u->ctx, "tune");
                continue;
            }
            u->ran++;
            char scored[128];
            score_text(u, &tr->r[rung], false, scored, sizeof scored);
            fprintf(stderr, "dystress tune: rung %d: t%02lld %s: %s (%.0f s)\n", rung + 1, (long long)i, what, scored,
                    now_seconds() - j->t0);
        } else if (j->resumed && !j->retried && code != 128 + SIGTERM && code != 128 + SIGINT) {
            /* the continuation was refused (a checkpoint that does not fit): start the trial afresh at this budget */
            fprintf(stderr, "dystress tune: rung %d: t%02lld could not continue from its checkpoint (exit %d, see "
                    "%s/trials/t%02lld.log); starting it afresh\n", rung + 1, (long long)i, code, u->t->tune_dir,
                    (long long)i);
            if ((status = start_trial(u, i, rung, true, j)) == 0) {
                j->retried = true;
                running++;
            }
        } else {
            /* a trial that fails (a diverged loss) is ranked last, and not run again on a rerun */
            char why[160];
            snprintf(why, sizeof why, "pretrain exited with status %d (see trials/t%02lld.log)", code, (long long)i);
            tr->r[rung] = (rung_result){.done = true, .failed = true, .top1 = NAN, .top5 = NAN, .rankme = NAN};
            if (write_result(u, i, rung, &tr->r[rung], why, now_seconds() - j->t0) != DY_OK)
                status = cli_error(u->ctx, "tune");
            fprintf(stderr, "dystress tune: rung %d: t%02lld %s failed: %s\n", rung + 1, (long long)i, what, why);
        }
    }
    free(queue);
    free(jobs);
    if (status) return status;
    if (cli_stop_signal) {
        fprintf(stderr, "dystress tune: interrupted in rung %d; finished trials are kept, the running ones saved a "
                "checkpoint: run the same command again to continue\n", rung + 1);
        return 128 + (int)cli_stop_signal;
    }
    return 0;
}

/* ---- the plan, the split, the leaderboard --------------------------------------------------------------------- */

/* The candidate lines of trials [from, to) (plan.json's, a TPE bracket's). */
static void write_candidates(FILE *f, const tuner *u, int64_t from, int64_t to) {
    for (int64_t i = from; i < to; i++) {
        const dy_tune_candidate *c = &u->trials[i].cand;
        fprintf(f, "%s\n    {\"trial\": \"t%02lld\", \"family\": \"%s\", \"tau\": %.17g, \"tau_min\": %.17g, "
                "\"tau_max\": %.17g, \"offset\": %.17g, \"scale\": %.17g, \"anchor\": %s", i > from ? "," : "",
                (long long)i, dy_tune_family_name(c->family), c->tau, c->tau_min, c->tau_max, c->offset, c->scale,
                c->anchor ? "true" : "false");
        /* only the annealed family has an end ratio: the other candidates' lines stay as older tunes wrote them */
        if (c->family == DY_TUNE_ANNEALED) fprintf(f, ", \"end_ratio\": %.17g", c->end_ratio);
        fputc('}', f);
    }
}

/* plan.json: what the tune is. A rerun computes it again and must find the same text (else the directory holds
 * another tune). */
static char *plan_text(tuner *u) {
    char *buf = NULL, *canon = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    fprintf(f, "{\n  \"version\": 1,\n  \"method\": \"successive halving\",\n  \"unit\": \"%s\",\n  \"eta\": %lld,\n"
            "  \"promote\": \"%s\",\n", u->t->unit, (long long)u->t->eta, u->t->promote);
    /* a kNN-scored tune's plan reads as before --score, so that older tunes continue */
    if (u->rankme)
        fputs("  \"score\": \"RankMe of the encoder features h of the validation split (label-free)\",\n", f);
    else fprintf(f, "  \"score\": \"weighted kNN top-1 on the validation split (k %lld, t %g)\",\n",
                 (long long)u->o->knn_k, u->o->knn_t);
    if (u->tpe || u->t->brackets > 1) /* only then: a plain tune's plan reads as before */
        fprintf(f, "  \"sampler\": \"%s\",\n  \"brackets\": %lld,\n", u->t->sampler, (long long)u->t->brackets);
    fputs("  \"rungs\": [", f);
    for (int k = 0; k < u->sched.rungs; k++)
        fprintf(f, "%s\n    {\"rung\": %d, \"trials\": %lld, \"budget\": %lld}", k ? "," : "", k + 1,
                (long long)u->sched.trials[k], (long long)u->sched.budget[k]);
    fputs("\n  ],\n  \"candidates\": [", f);
    /* TPE's brackets after the first depend on the results: the plan holds the first bracket's */
    write_candidates(f, u, 0, u->tpe ? u->t->trials : u->n_trials);
    fputs("\n  ],\n  \"base\": [", f);
    /* the run configuration every trial starts from (the profile options are the candidates') */
    apply_trial(u, &u->trials[0].cand, -1);
    opt_spec sub[RUN_OPTION_COUNT];
    memcpy(sub, u->specs, sizeof(opt_spec) * (size_t)u->n_run);
    sub[u->n_run] = (opt_spec){0};
    canon = run_config_canonical(sub);
    bool first = true;
    for (char *line = canon ? strtok(canon, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        fputs(first ? "\n    " : ",\n    ", f);
        json_str(f, line);
        first = false;
    }
    fputs("\n  ]\n}\n", f);
    free(canon);
    fclose(f);
    if (!canon) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The first line where a and b differ, for the message. */
static void first_difference(const char *a, const char *b, char *out, size_t size) {
    int line = 1;
    const char *la = a, *lb = b;
    while (*a && *a == *b) {
        if (*a == '\n') {
            line++;
            la = a + 1;
            lb = b + 1;
        }
        a++, b++;
    }
    const char *ea = strchr(la, '\n'), *eb = strchr(lb, '\n');
    snprintf(out, size, "line %d: stored %.*s, now %.*s", line, (int)(ea ? ea - la : (long)strlen(la)), la,
             (int)(eb ? eb - lb : (long)strlen(lb)), lb);
}

static int write_plan_and_split(tuner *u) {
    char path[4400];
    snprintf(path, sizeof path, "%s/plan.json", u->t->tune_dir);
    char *plan = plan_text(u);
    if (!plan) {
        fprintf(stderr, "dystress tune: out of memory\n");
        return 1;
    }
    int rc = 0;
    if (access(path, F_OK) == 0) {
        char err[512];
        size_t length;
        char *stored = cli_read_file(path, CLI_CONFIG_MAX_BYTES, &length, err, sizeof err);
        if (!stored) {
            fprintf(stderr, "dystress tune: %s\n", err);
            rc = 1;
        } else if (strcmp(stored, plan) != 0) {
            char diff[1024];
            first_difference(stored, plan, diff, sizeof diff);
            fprintf(stderr, "dystress tune: %s holds another tune (%s); rerun with its options to continue it, or "
                    "choose another --tune-dir\n", path, diff);
            rc = 2;
        } else {
            fprintf(stderr, "dystress tune: continuing the tune in %s\n", u->t->tune_dir);
        }
        free(stored);
    } else if (write_text(u->ctx, path, plan) != DY_OK) {
        rc = cli_error(u->ctx, "tune");
    }
    free(plan);
    if (rc) return rc;
    /* split.json: which training images are held out, as a fingerprint */
    int64_t all = u->rest->count + u->val->count;
    uint8_t *mask = malloc((size_t)all + 1);
    if (!mask || dy_holdout_mask(u->ctx, all, u->val->count, (uint64_t)u->o->val_seed, mask) != DY_OK) {
        free(mask);
        return cli_error(u->ctx, "tune: split");
    }
    char text[1024];
    snprintf(text, sizeof text,
             "{\n  \"from\": \"the training split of --data %s\",\n  \"train_images\": %lld,\n  \"val_seed\": %lld,\n"
             "  \"val_size\": %lld,\n  \"train_size\": %lld,\n  \"val_indices_fnv1a64\": \"%016llx\",\n"
             "  \"train_indices_fnv1a64\": \"%016llx\",\n  \"test_split\": \"not opened\"\n}\n",
             u->o->data, (long long)all, (long long)u->o->val_seed, (long long)u->val->count,
             (long long)u->rest->count, (unsigned long long)dy_holdout_hash(mask, all, 1),
             (unsigned long long)dy_holdout_hash(mask, all, 0));
    free(mask);
    snprintf(path, sizeof path, "%s/split.json", u->t->tune_dir);
    if (write_text(u->ctx, path, text) != DY_OK) return cli_error(u->ctx, "tune");
    return 0;
}

/* The highest rung trial i finished (-1: none). */
static int reached(const trial *tr, int rungs) {
    int r = -1;
    for (int k = 0; k < rungs; k++)
        if (tr->r[k].done) r = k;
    return r;
}

static int write_leaderboard(tuner *u) {
    int64_t n = u->n_trials, *order = malloc(sizeof(int64_t) * (size_t)n), *ids = malloc(sizeof(int64_t) * (size_t)n);
    double *key = malloc(sizeof(double) * (size_t)n);
    if (!order || !ids || !key) {
        free(order), free(ids), free(key);
        fprintf(stderr, "dystress tune: out of memory\n");
        return 1;
    }
    /* rank: the highest rung reached first, then the score there */
    for (int64_t i = 0; i < n; i++) {
        int r = reached(&u->trials[i], u->sched.rungs);
        ids[i] = i;
        double s = r >= 0 ? score_of(u, &u->trials[i].r[r]) : NAN;
        key[i] = 1e6 * r + (isnan(s) ? -1 : s); /* top-1 is in [0, 1], RankMe in [1, 4096] */
    }
    dy_tune_select(ids, key, n, n, order);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fprintf(f, "{\n  \"unit\": \"%s\",\n  \"score\": \"%s\",\n  \"entries\": [", u->t->unit,
            u->rankme ? "val_rankme: RankMe, the effective rank of the encoder features h of the validation split "
            "(split.json), label-free" : "val_top1: weighted kNN top-1 on the validation split (split.json)");
    printf("\n%-5s %-6s %-9s %-46s %-12s %s\n", "rank", "trial", "profile", "parameters", "budget",
           u->rankme ? "val RankMe" : "val top-1");
    for (int64_t k = 0; k < n; k++) {
        const trial *tr = &u->trials[order[k]];
        int r = reached(tr, u->sched.rungs);
        char params[160], budget[48], score[128];
        dy_tune_candidate_params(&tr->cand, params, sizeof params);
        snprintf(budget, sizeof budget, "%lld %s", r >= 0 ? (long long)u->sched.budget[r] : 0LL, u->t->unit);
        if (r >= 0 && !tr->r[r].failed) score_text(u, &tr->r[r], true, score, sizeof score);
        else snprintf(score, sizeof score, "%s", r >= 0 ? "failed" : "not run");
        printf("%-5lld t%02lld%-3s %-9s %-46s %-12s %s\n", (long long)k + 1, (long long)order[k], "",
               dy_tune_family_name(tr->cand.family), params, budget, score);
        fprintf(f, "%s\n    {\"rank\": %lld, \"trial\": \"t%02lld\", \"profile\": \"%s\", \"anchor\": %s, ",
                k ? "," : "",
                (long long)k + 1, (long long)order[k], dy_tune_family_name(tr->cand.family),
                tr->cand.anchor ? "true" : "false");
        fprintf(f, "\"bracket\": %d, \"drawn\": \"%s\", ", tr->bracket + 1,
                tr->cand.anchor ? "anchor" : tr->proposed ? "tpe" : "random");
        fputs("\"parameters\": ", f);
        json_str(f, params);
        fprintf(f, ", \"tau\": %.9g, \"tau_min\": %.9g, \"tau_max\": %.9g, \"offset\": %.9g, \"scale\": %.9g, "
                "\"budget\": %lld, \"val_top1\": ", tr->cand.tau, tr->cand.tau_min, tr->cand.tau_max, tr->cand.offset,
                tr->cand.scale, r >= 0 ? (long long)u->sched.budget[r] : 0LL);
        if (r >= 0 && !tr->r[r].failed && u->labelled) fprintf(f, "%.6f", tr->r[r].top1);
        else fputs("null", f);
        fputs(", \"val_rankme\": ", f);
        if (r >= 0 && !tr->r[r].failed && !isnan(tr->r[r].rankme)) fprintf(f, "%.6f", tr->r[r].rankme);
        else fputs("null", f);
        fputs(", \"rungs\": [", f);
        for (int q = 0; q <= r; q++) {
            fprintf(f, "%s{\"rung\": %d, \"budget\": %lld, \"step\": %lld, ", q ? ", " : "", q + 1,
                    (long long)u->sched.budget[q], (long long)tr->r[q].step);
            if (tr->r[q].failed) {
                fputs("\"failed\": true}", f);
                continue;
            }
            if (u->labelled) fprintf(f, "\"val_top1\": %.6f, \"val_top5\": %.6f, ", tr->r[q].top1, tr->r[q].top5);
            if (isnan(tr->r[q].rankme)) fputs("\"val_rankme\": null}", f);
            else fprintf(f, "\"val_rankme\": %.6f}", tr->r[q].rankme);
        }
        fputs("]}", f);
    }
    fputs("\n  ]\n}\n", f);
    fclose(f);
    char path[4400];
    snprintf(path, sizeof path, "%s/leaderboard.json", u->t->tune_dir);
    int rc = buf && write_text(u->ctx, path, buf) == DY_OK ? 0 : cli_error(u->ctx, "tune");
    free(buf);
    /* best.json: the winner's configuration for `pretrain --config` (on the whole training set, monitored as usual) */
    const trial *best = &u->trials[order[0]];
    int r = reached(best, u->sched.rungs);
    if (rc == 0 && r >= 0 && !best->r[r].failed) {
        apply_trial(u, &best->cand, u->steps_unit ? -1 : r);
        u->o->val_size = 0;
        u->o->knn_every = u->base_knn_every;
        u->o->report = u->base_report;
        char *text = run_options_json(u->specs, u->n_run);
        snprintf(path, sizeof path, "%s/best.json", u->t->tune_dir);
        if (!text || write_text(u->ctx, path, text) != DY_OK) rc = cli_error(u->ctx, "tune");
        free(text);
        char params[160];
        dy_tune_candidate_params(&best->cand, params, sizeof params);
        char scored[128];
        score_text(u, &best->r[r], false, scored, sizeof scored);
        printf("\nbest: t%02lld, %s %s, %s after %lld %s\n", (long long)order[0],
               dy_tune_family_name(best->cand.family), params, scored, (long long)u->sched.budget[r], u->t->unit);
        printf("train it: dystress pretrain --config %s --epochs N --run-dir DIR   (the test split is first used "
               "there)\n", path);
    } else if (rc == 0) {
        fprintf(stderr, "dystress tune: no trial finished: no best.json\n");
        rc = 1;
    }
    free(order), free(ids), free(key);
    return rc;
}

/* ---- the command ---------------------------------------------------------------------------------------------- */

/* 0 when trials [from, to) make valid runs, else 2 with the first problem named. */
static int check_candidates(tuner *u, int64_t from, int64_t to) {
    for (int64_t i = from; i < to; i++) {
        apply_trial(u, &u->trials[i].cand, 0);
        dy_pretrain_config pc;
        if (cli_pretrain_config(u->ctx, u->o, u->rest, &pc) != DY_OK) {
            char what[256];
            describe(&u->trials[i], what, sizeof what);
            fprintf(stderr, "dystress tune: candidate t%02lld (%s): %s\n", (long long)i, what, dy_ctx_error(u->ctx));
            return 2;
        }
    }
    return 0;
}

/* bracket-K.json: a TPE bracket's candidates, as plan.json holds the first bracket's. A continued tune proposes them
 * again from the results on disk and must find the same (else a result file could belong to another candidate). */
static int keep_bracket(tuner *u, int b) {
    char path[4400], *buf = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/bracket-%d.json", u->t->tune_dir, b + 1);
    FILE *f = open_memstream(&buf, &len);
    if (!f) return 1;
    fprintf(f, "{\n  \"bracket\": %d,\n  \"drawn\": \"%s\",\n  \"candidates\": [", b + 1,
            u->trials[b * u->t->trials].proposed ? "tpe" : "random");
    write_candidates(f, u, b * u->t->trials, (b + 1) * u->t->trials);
    fputs("\n  ]\n}\n", f);
    fclose(f);
    if (!buf) return 1;
    int rc = 0;
    if (access(path, F_OK) == 0) {
        char err[512];
        size_t length;
        char *stored = cli_read_file(path, CLI_CONFIG_MAX_BYTES, &length, err, sizeof err);
        if (!stored) {
            fprintf(stderr, "dystress tune: %s\n", err);
            rc = 1;
        } else if (strcmp(stored, buf) != 0) {
            char diff[1024];
            first_difference(stored, buf, diff, sizeof diff);
            fprintf(stderr, "dystress tune: bracket %d's candidates differ from those in %s (%s): the earlier "
                    "brackets' results changed; choose another --tune-dir\n", b + 1, path, diff);
            rc = 2;
        }
        free(stored);
    } else if (write_text(u->ctx, path, buf) != DY_OK) {
        rc = cli_error(u->ctx, "tune");
    }
    free(buf);
    return rc;
}

/* --sampler tpe: the candidates of bracket b (b >= 1) from the first-rung scores of the brackets before it (the one
 * budget every trial of them reached, so the scores compare); the random sample's where too few have scores. */
static int propose_bracket(tuner *u, const dy_tune_space *space, int b) {
    int64_t per = u->t->trials, first = b * per;
    dy_tune_observation *obs = malloc(sizeof *obs * (size_t)first);
    dy_tune_candidate *out = malloc(sizeof *out * (size_t)per), *fallback = malloc(sizeof *out * (size_t)per);
    if (!obs || !out || !fallback) {
        free(obs), free(out), free(fallback);
        fprintf(stderr, "dystress tune: out of memory\n");
        return 1;
    }
    int64_t n_obs = 0;
    for (int64_t i = 0; i < first; i++)
        if (u->trials[i].r[0].done) obs[n_obs++] = (dy_tune_observation){u->trials[i].cand,
                                                                          score_of(u, &u->trials[i].r[0])};
    for (int64_t c = 0; c < per; c++) fallback[c] = u->trials[first + c].cand;
    dy_tune_tpe_options opt = dy_tune_tpe_defaults();
    bool modelled = false;
    int rc = 0;
    if (dy_tune_tpe_propose(u->ctx, space, &opt, obs, n_obs, fallback, first, per, out, &modelled) != DY_OK) {
        rc = cli_error(u->ctx, "tune: TPE");
    } else {
        for (int64_t c = 0; c < per; c++) {
            u->trials[first + c].cand = out[c];
            u->trials[first + c].proposed = modelled;
        }
        fprintf(stderr, "dystress tune: bracket %d: %lld candidates %s\n", b + 1, (long long)per,
                modelled ? "proposed by TPE from the first-rung scores before it" :
                "from the random sample (too few scores for TPE yet)");
        rc = check_candidates(u, first, first + per);
        if (rc == 0) rc = keep_bracket(u, b);
    }
    free(obs), free(out), free(fallback);
    return rc;
}

static const char *const searched[] = {"profile", "tau", "tau-min", "tau-max", "shift-offset", "shift-scale",
                                       "tau-adapt", "run-dir", "resume", "overwrite", "max-steps", NULL};

int cmd_tune(int argc, char **argv) {
    run_options o;
    tune_options t;
    opt_spec specs[RUN_OPTION_COUNT + 24];
    int n_run = run_option_table(specs, &o);
    tune_option_table(specs + n_run, &t);
    char *file_config = NULL, *owned[RUN_OWNED_PATHS] = {NULL};
    int rc = cli_parse_with_config("tune", specs, &o, argc, argv, 2, &file_config);
    if (rc == 1) {
        printf("usage: dystress tune [options]\n\nSearches temperature profiles for your data and budget by "
               "successive halving over short pretraining runs,\nscored by kNN top-1 on a validation split held out "
               "of the training set (the test split is never opened),\nor without labels by RankMe, the effective "
               "rank of the split's encoder features (--score).\nEvery pretrain option sets the trials' base "
               "configuration (except the searched profile options).\nRerun the same command after an interruption "
               "to continue.\n\noptions:\n");
        opt_print_help(stdout, specs);
        return 0;
    }
    if (rc != 0) return rc;
    tuner u = {.o = &o, .specs = specs, .n_run = n_run, .t = &t};
    dy_tune_space space = {.anchors = t.anchors, .seed = (uint64_t)t.tune_seed};
    dy_dataset *rest = NULL, *val = NULL;
    rc = 2;
    for (int i = 0; searched[i]; i++)
        if (opt_find(specs, searched[i])->set) {
            fprintf(stderr, "dystress tune: --%s is not an option of tune (%s)\n", searched[i],
                    !strcmp(searched[i], "run-dir") ? "the trials go under --tune-dir" :
                    !strcmp(searched[i], "resume") || !strcmp(searched[i], "overwrite") ?
                    "rerun the same command to continue a tune; a used --tune-dir of another tune is refused" :
                    !strcmp(searched[i], "max-steps") ? "budgets are --min-budget, --eta and --budget-unit" :
                    "the profile is searched: set --families and the --*-range options");
            goto done;
        }
    char families[256];
    snprintf(families, sizeof families, "%s", t.families);
    for (char *save = NULL, *f = strtok_r(families, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        int k = dy_tune_family_parse(f);
        if (k < 0) {
            fprintf(stderr, "dystress tune: --families: unknown family '%s' (const, cosine, shifted, adaptive, "
                    "annealed)\n", f);
            goto done;
        }
        space.family[k] = true;
    }
    if (parse_range("tau-range", t.tau_range, &space.tau) || parse_range("tau-min-range", t.tau_min_range,
                                                                          &space.tau_min) ||
        parse_range("tau-max-range", t.tau_max_range, &space.tau_max) ||
        parse_range("offset-range", t.offset_range, &space.offset) ||
        parse_range("scale-range", t.scale_range, &space.scale) ||
        parse_range("end-ratio-range", t.end_ratio_range, &space.end_ratio))
        goto done;
    if (!(u.ctx = cli_context(o.threads, o.backend))) {
        rc = 1;
        goto done;
    }
    if (dy_tune_schedule_make(u.ctx, t.trials, t.eta, t.min_budget, (int)t.rungs, &u.sched) != DY_OK) {
        fprintf(stderr, "dystress tune: %s\n", dy_ctx_error(u.ctx));
        goto done;
    }
    u.n_trials = t.trials * t.brackets;
    u.tpe = !strcmp(t.sampler, "tpe");
    u.trials = calloc((size_t)u.n_trials, sizeof *u.trials);
    dy_tune_candidate *cands = calloc((size_t)u.n_trials, sizeof *cands);
    if (!u.trials || !cands || dy_tune_candidates(u.ctx, &space, u.n_trials, cands) != DY_OK) {
        fprintf(stderr, "dystress tune: %s\n", u.trials && cands ? dy_ctx_error(u.ctx) : "out of memory");
        free(cands);
        goto done;
    }
    for (int64_t i = 0; i < u.n_trials; i++) {
        u.trials[i].cand = cands[i];
        u.trials[i].bracket = (int)(i / t.trials);
    }
    free(cands);
    u.steps_unit = !strcmp(t.unit, "steps");
    u.restart = !strcmp(t.promote, "restart");
    u.base_epochs = o.epochs;
    u.base_knn_every = o.knn_every;
    u.base_report = o.report;
    u.base_floor = o.tau_adapt_floor;
    u.base_ceil = o.tau_adapt_ceil;
    u.base_tau = o.tau;
    u.base_tau_min = o.tau_min;
    u.base_tau_max = o.tau_max;
    u.base_offset = o.shift_offset;
    u.base_scale = o.shift_scale;
    u.base_schedule = o.tau_schedule;
    u.base_schedule_file = o.tau_schedule_file;
    u.base_tau_end = o.tau_end;
    u.base_end_ratio = o.tau_end_ratio;
    /* the validation split: --val-size, else a tenth of the training set; the test split is not opened */
    rc = 1;
    if (o.val_size == 0) {
        /* the training set's size: loaded with a split of one image (which never opens the test split) */
        run_options probe = o;
        dy_dataset *all = NULL, *none = NULL;
        probe.val_size = 1;
        if (cli_load_data_quiet(u.ctx, &probe, &all, &none) != DY_OK) {
            cli_error(u.ctx, "data");
            goto done;
        }
        o.val_size = (all->count + none->count) / 10 > 0 ? (all->count + none->count) / 10 : 1;
        dy_dataset_free(all);
        dy_dataset_free(none);
    }
    if (cli_load_data(u.ctx, &o, &rest, &val) != DY_OK) {
        cli_error(u.ctx, "data");
        goto done;
    }
    u.rest = rest;
    u.val = val;
    u.labelled = rest->num_classes > 0;
    u.rankme = !strcmp(t.score, "rankme") || (!strcmp(t.score, "auto") && !u.labelled);
    if (!u.labelled && !strcmp(t.score, "knn")) {
        fprintf(stderr, "dystress tune: --score knn needs a labelled training set; this one has no labels: use "
                "--score rankme (or auto)\n");
        rc = 2;
        goto done;
    }
    u.steps_per_epoch = rest->count / o.batch_size;
    if (u.steps_per_epoch < 1) {
        fprintf(stderr, "dystress tune: %lld training images after the validation split: fewer than one batch of "
                "%lld\n", (long long)rest->count, (long long)o.batch_size);
        rc = 2;
        goto done;
    }
    int last = u.sched.rungs - 1;
    if (u.steps_unit && u.sched.budget[last] > o.epochs * u.steps_per_epoch) {
        fprintf(stderr, "dystress tune: the last rung's budget, %lld steps, is beyond --epochs %lld (%lld steps of "
                "%lld): raise --epochs or lower --min-budget\n", (long long)u.sched.budget[last], (long long)o.epochs,
                (long long)(o.epochs * u.steps_per_epoch), (long long)u.steps_per_epoch);
        rc = 2;
        goto done;
    }
    char err[512];
    if (run_options_absolute_paths(specs, owned, err, sizeof err) != 0) {
        fprintf(stderr, "dystress tune: %s\n", err);
        rc = 2;
        goto done;
    }
    u.base_schedule_file = o.tau_schedule_file; /* the trials' config.json hold it absolute, as their data folders */
    /* every candidate must make a valid run (a range reaching outside what pretrain accepts fails here, not later) */
    if ((rc = check_candidates(&u, 0, u.n_trials)) != 0) goto done;
    ssize_t len = readlink("/proc/self/exe", u.exe, sizeof u.exe - 1);
    if (len <= 0) {
        fprintf(stderr, "dystress tune: cannot find this program (/proc/self/exe): %s\n", strerror(errno));
        goto done;
    }
    u.exe[len] = 0;
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN), threads = o.threads > 0 ? (int)o.threads : cores;
    u.child_threads = threads / (int)t.jobs > 0 ? threads / (int)t.jobs : 1;
    char sub[4400];
    snprintf(sub, sizeof sub, "%s/trials", t.tune_dir);
    if (cli_mkdirs(sub) != 0) {
        fprintf(stderr, "dystress tune: cannot create %s: %s\n", sub, strerror(errno));
        goto done;
    }
    if ((rc = write_plan_and_split(&u)) != 0) goto done;
    if (t.brackets > 1)
        fprintf(stderr, "dystress tune: %lld brackets, candidates drawn by %s; each:\n", (long long)t.brackets,
                u.tpe ? "TPE after the first" : "the random sample");
    fprintf(stderr, "dystress tune: successive halving of %lld trials, eta %lld:", (long long)t.trials,
            (long long)t.eta);
    for (int k = 0; k < u.sched.rungs; k++)
        fprintf(stderr, "%s %lld at %lld %s", k ? "," : "", (long long)u.sched.trials[k],
                (long long)u.sched.budget[k], t.unit);
    fprintf(stderr, "; validation split %lld of %lld training images (seed %lld), scored by %s, %d job%s of %d "
            "threads; in %s\n", (long long)val->count, (long long)(val->count + rest->count), (long long)o.val_seed,
            u.rankme ? (u.labelled ? "RankMe (--score rankme)" : "RankMe (no labels)") : "kNN top-1", (int)t.jobs,
            t.jobs > 1 ? "s" : "", u.child_threads, t.tune_dir);
    cli_install_signal_handlers();
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)t.trials), *order = malloc(sizeof(int64_t) * (size_t)t.trials);
    int64_t *kept = malloc(sizeof(int64_t) * (size_t)t.trials);
    double *scores = malloc(sizeof(double) * (size_t)t.trials);
    if (!ids || !order || !scores || !kept) {
        free(ids), free(order), free(scores), free(kept);
        fprintf(stderr, "dystress tune: out of memory\n");
        goto done;
    }
    rc = 0;
    for (int b = 0; b < t.brackets && rc == 0; b++) {
        if (b > 0 && u.tpe && (rc = propose_bracket(&u, &space, b)) != 0) break;
        int64_t n = t.trials;
        for (int64_t i = 0; i < n; i++) ids[i] = b * t.trials + i;
        for (int k = 0; k < u.sched.rungs && rc == 0; k++) {
            if (k > 0) { /* the promotion: the best of the previous rung */
                for (int64_t i = 0; i < n; i++) {
                    scores[i] = score_of(&u, &u.trials[ids[i]].r[k - 1]);
                }
                dy_tune_select(ids, scores, n, u.sched.trials[k], order);
                int64_t m = u.sched.trials[k] < n ? u.sched.trials[k] : n;
                for (int64_t i = 0; i < m; i++) kept[i] = ids[order[i]];
                for (int64_t i = 0; i < m; i++) ids[i] = kept[i];
                n = m;
            }
            int64_t ran_before = u.ran;
            if ((rc = run_rung(&u, k, ids, n)) != 0) break;
            /* with brackets: after the rung of the first bracket that ran it this time */
            if (t.stop_after_rung > 0 && k + 1 == t.stop_after_rung && (k + 1 < u.sched.rungs || b + 1 < t.brackets) &&
                (t.brackets == 1 || u.ran > ran_before)) {
                fprintf(stderr, "dystress tune: stopped after rung %d%s as asked (--stop-after-rung); run the command "
                        "again without it to continue\n", k + 1, t.brackets > 1 ? " of this bracket" : "");
                rc = -1;
            }
        }
    }
    free(ids), free(order), free(scores), free(kept);
    if (rc == -1) rc = 0;
    else if (rc == 0) {
        fprintf(stderr, "dystress tune: %lld trial runs this time, %lld kept from before\n", (long long)u.ran,
                (long long)u.skipped);
        rc = write_leaderboard(&u);
    }
done:
    dy_dataset_free(rest);
    dy_dataset_free(val);
    dy_ctx_destroy(u.ctx);
    free(u.trials);
    free(file_config);
    for (int i = 0; i < RUN_OWNED_PATHS; i++) free(owned[i]);
    return rc;
}
