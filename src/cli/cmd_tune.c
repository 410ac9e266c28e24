/* dystress tune: searches temperature profiles by successive halving over short pretraining runs, each scored by
 * weighted kNN top-1 on a validation split held out of the TRAINING set (the test split is never opened), or, without
 * labels (--score), by RankMe, the effective rank of the encoder features h of that split (src/eval/rankme.h): h, not
 * the projection z, because h is what the tune chooses for (what every evaluation reads and the kNN score embeds),
 * and RankMe's authors found the rank of the representation, not of the projector's output, to follow downstream
 * accuracy. The search is the library's (include/dystress/tune.h: the candidates, rungs, promotion, resuming, the
 * leaderboard and the tune directory's files); a trial is a `dystress pretrain` child process (src/cli/tune_trials.c).
 * This file reads the options and prints, and writes split.json (the validation split: seed, sizes, FNV-1a hashes of
 * the two index lists) and, through tune_trials.c, best.json (the winner's configuration for pretrain --config). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/tune_trials.h"
#include "data/holdout.h"
#include "io/atomic_file.h"

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

/* Prints "dystress tune: " and the message; returns rc. */
static int say(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("dystress tune: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return rc;
}

static int parse_range(const char *name, const char *text, dy_tune_range *r) {
    int used = 0;
    if (sscanf(text, "%lf,%lf%n", &r->lo, &r->hi, &used) != 2 || text[used])
        return say(-1, "--%s expects low,high (two numbers), got '%s'", name, text);
    return 0;
}

/* The search space of the options: 0, or 2 with the problem printed. */
static int parse_space(const tune_options *t, dy_tune_space *space) {
    *space = (dy_tune_space){.anchors = t->anchors, .seed = (uint64_t)t->tune_seed};
    char families[256];
    snprintf(families, sizeof families, "%s", t->families);
    for (char *save = NULL, *f = strtok_r(families, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        int k = dy_tune_family_parse(f);
        if (k < 0)
            return say(2, "--families: unknown family '%s' (const, cosine, shifted, adaptive, annealed)", f);
        space->family[k] = true;
    }
    if (parse_range("tau-range", t->tau_range, &space->tau) ||
        parse_range("tau-min-range", t->tau_min_range, &space->tau_min) ||
        parse_range("tau-max-range", t->tau_max_range, &space->tau_max) ||
        parse_range("offset-range", t->offset_range, &space->offset) ||
        parse_range("scale-range", t->scale_range, &space->scale) ||
        parse_range("end-ratio-range", t->end_ratio_range, &space->end_ratio))
        return 2;
    return 0;
}

static const char *const searched[] = {"profile", "tau", "tau-min", "tau-max", "shift-offset", "shift-scale",
                                       "tau-adapt", "run-dir", "resume", "overwrite", "max-steps", NULL};

/* 2 with the reason printed when an option the tune sets itself was given, else 0. */
static int refuse_searched(opt_spec *specs) {
    for (int i = 0; searched[i]; i++)
        if (opt_find(specs, searched[i])->set) {
            fprintf(stderr, "dystress tune: --%s is not an option of tune (%s)\n", searched[i],
                    !strcmp(searched[i], "run-dir") ? "the trials go under --tune-dir" :
                    !strcmp(searched[i], "resume") || !strcmp(searched[i], "overwrite") ?
                    "rerun the same command to continue a tune; a used --tune-dir of another tune is refused" :
                    !strcmp(searched[i], "max-steps") ? "budgets are --min-budget, --eta and --budget-unit" :
                    "the profile is searched: set --families and the --*-range options");
            return 2;
        }
    return 0;
}

/* The training set less the validation split (--val-size, else a tenth of it), and the split; the test split is
 * not opened. 0, or 1 with the problem printed. */
static int load_split(dy_ctx *ctx, run_options *o, dy_dataset **rest, dy_dataset **val) {
    if (o->val_size == 0) {
        /* the training set's size: loaded with a split of one image (which never opens the test split) */
        run_options probe = *o;
        dy_dataset *all = NULL, *none = NULL;
        probe.val_size = 1;
        if (cli_load_data_quiet(ctx, &probe, &all, &none) != DY_OK) return cli_error(ctx, "data");
        o->val_size = (all->count + none->count) / 10 > 0 ? (all->count + none->count) / 10 : 1;
        dy_dataset_free(all);
        dy_dataset_free(none);
    }
    return cli_load_data(ctx, o, rest, val) != DY_OK ? cli_error(ctx, "data") : 0;
}

/* split.json: which training images are held out, as a fingerprint. */
static dy_status write_split(const tune_trials *u, const char *dir) {
    int64_t all = u->rest->count + u->val->count;
    uint8_t *mask = malloc((size_t)all + 1);
    if (!mask) return dy_fail(u->ctx, DY_ERR_NOMEM, "out of memory");
    dy_atomic_file f;
    char path[4400];
    snprintf(path, sizeof path, "%s/split.json", dir);
    dy_status st = dy_holdout_mask(u->ctx, all, u->val->count, (uint64_t)u->o->val_seed, mask);
    if (st == DY_OK && (st = dy_atomic_open(u->ctx, &f, path)) == DY_OK) {
        fprintf(f.fp, "{\n  \"from\": \"the training split of --data %s\",\n  \"train_images\": %lld,\n  \"val_seed\": "
                "%lld,\n  \"val_size\": %lld,\n  \"train_size\": %lld,\n  \"val_indices_fnv1a64\": \"%016llx\",\n"
                "  \"train_indices_fnv1a64\": \"%016llx\",\n  \"test_split\": \"not opened\"\n}\n",
                u->o->data, (long long)all, (long long)u->o->val_seed, (long long)u->val->count,
                (long long)u->rest->count, (unsigned long long)dy_holdout_hash(mask, all, 1),
                (unsigned long long)dy_holdout_hash(mask, all, 0));
        st = dy_atomic_commit(u->ctx, &f);
    }
    free(mask);
    return st;
}

/* The exit status of a failed search call, its message printed: 2 for a tune that does not fit the options or the
 * directory, 128 + the signal when interrupted, else 1. */
static int failure(const tune_trials *u, dy_status st) {
    if (u->failed) return cli_error(u->ctx, "tune");
    say(0, "%s", dy_ctx_error(u->ctx));
    if (st == DY_ERR_INTERRUPTED) return 128 + (int)cli_stop_signal;
    return st == DY_ERR_INVALID || st == DY_ERR_MISMATCH ? 2 : 1;
}

/* What the tune is about to do, on stderr. */
static void announce(const tune_trials *u, const tune_options *t) {
    const dy_tune_schedule *s = dy_tune_rungs(u->tune);
    if (t->brackets > 1)
        fprintf(stderr, "dystress tune: %lld brackets, candidates drawn by %s; each:\n", (long long)t->brackets,
                u->opt->tpe ? "TPE after the first" : "the random sample");
    fprintf(stderr, "dystress tune: successive halving of %lld trials, eta %lld:", (long long)t->trials,
            (long long)t->eta);
    for (int k = 0; k < s->rungs; k++)
        fprintf(stderr, "%s %lld at %lld %s", k ? "," : "", (long long)s->trials[k], (long long)s->budget[k], t->unit);
    bool rankme = u->opt->score == DY_TUNE_SCORE_RANKME;
    fprintf(stderr, "; validation split %lld of %lld training images (seed %lld), scored by %s, %d job%s of %d "
            "threads; in %s\n", (long long)u->val->count, (long long)(u->val->count + u->rest->count),
            (long long)u->o->val_seed, rankme ? (u->opt->labelled ? "RankMe (--score rankme)" : "RankMe (no labels)") :
            "kNN top-1", (int)t->jobs, t->jobs > 1 ? "s" : "", u->child_threads, t->tune_dir);
}

/* The search's options from the command's. */
static dy_tune_options search_options(const tune_options *t, const run_options *o, const dy_tune_space *space,
                                      bool labelled) {
    bool rankme = !strcmp(t->score, "rankme") || (!strcmp(t->score, "auto") && !labelled);
    return (dy_tune_options){.dir = t->tune_dir, .space = *space, .trials = t->trials, .eta = t->eta,
                             .min_budget = t->min_budget, .rungs = (int)t->rungs, .brackets = t->brackets,
                             .tpe = !strcmp(t->sampler, "tpe"), .steps = !strcmp(t->unit, "steps"),
                             .restart = !strcmp(t->promote, "restart"),
                             .score = rankme ? DY_TUNE_SCORE_RANKME : DY_TUNE_SCORE_KNN, .labelled = labelled,
                             .knn_k = o->knn_k, .knn_t = o->knn_t, .stop_after_rung = (int)t->stop_after_rung};
}

/* Everything before the search runs: the data and its checks, the plan, the trials' base configuration and this
 * program's path. 0, or the exit status with the problem printed. */
static int prepare(tune_trials *u, const tune_options *t, dy_tune_options *to, dy_dataset **rest, dy_dataset **val,
                   char **owned) {
    run_options *o = u->o;
    int rc = load_split(u->ctx, o, rest, val);
    if (rc) return rc;
    u->rest = *rest;
    u->val = *val;
    if ((*rest)->num_classes == 0 && !strcmp(t->score, "knn"))
        return say(2, "--score knn needs a labelled training set; this one has no labels: use --score rankme (or "
                   "auto)");
    dy_tune_space space = to->space;
    *to = search_options(t, o, &space, (*rest)->num_classes > 0);
    u->opt = to;
    if (dy_tune_plan(u->ctx, to, &u->tune) != DY_OK) return say(2, "%s", dy_ctx_error(u->ctx));
    u->steps_per_epoch = (*rest)->count / o->batch_size;
    const dy_tune_schedule *s = dy_tune_rungs(u->tune);
    int64_t last = s->budget[s->rungs - 1], all = o->epochs * u->steps_per_epoch;
    if (u->steps_per_epoch < 1)
        return say(2, "%lld training images after the validation split: fewer than one batch of %lld",
                   (long long)(*rest)->count, (long long)o->batch_size);
    if (to->steps && last > all)
        return say(2, "the last rung's budget, %lld steps, is beyond --epochs %lld (%lld steps of %lld): raise "
                   "--epochs or lower --min-budget", (long long)last, (long long)o->epochs, (long long)all,
                   (long long)u->steps_per_epoch);
    char err[512];
    if (run_options_absolute_paths(u->specs, owned, err, sizeof err) != 0) return say(2, "%s", err);
    u->base = *o; /* the trials' config.json hold the paths absolute, as their data folders */
    /* every candidate must make a valid run (a range reaching outside what pretrain accepts fails here, not later) */
    for (int64_t i = 0; i < dy_tune_trial_count(u->tune); i++)
        if (tune_check(u, i, &dy_tune_trial_at(u->tune, i)->cand) != DY_OK)
            return say(2, "%s", dy_ctx_error(u->ctx));
    ssize_t len = readlink("/proc/self/exe", u->exe, sizeof u->exe - 1);
    if (len <= 0) return say(1, "cannot find this program (/proc/self/exe): %s", strerror(errno));
    u->exe[len] = 0;
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN), threads = o->threads > 0 ? (int)o->threads : cores;
    u->child_threads = threads / (int)t->jobs > 0 ? threads / (int)t->jobs : 1;
    return 0;
}

/* Opens the tune directory, runs the search and ranks its trials. The exit status. */
static int search(tune_trials *u, const tune_options *t) {
    char *base = tune_base_config(u);
    if (!base) return say(1, "out of memory");
    bool resumed = false, complete = false;
    dy_status st = dy_tune_open(u->tune, base, &resumed);
    free(base);
    if (st != DY_OK) return failure(u, st);
    if (resumed) say(0, "continuing the tune in %s", t->tune_dir);
    if (write_split(u, t->tune_dir) != DY_OK) return cli_error(u->ctx, "tune: split");
    announce(u, t);
    cli_install_signal_handlers();
    dy_tune_runner runner = tune_runner(u, (int)t->jobs);
    if ((st = dy_tune_run(u->tune, &runner, &complete)) != DY_OK) return failure(u, st);
    if (!complete) return 0;
    int64_t ran, kept;
    dy_tune_counts(u->tune, &ran, &kept);
    say(0, "%lld trial runs this time, %lld kept from before", (long long)ran, (long long)kept);
    return tune_leaderboard(u);
}

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
    tune_trials u = {.o = &o, .specs = specs, .n_run = n_run};
    dy_tune_options to = {0};
    dy_dataset *rest = NULL, *val = NULL;
    if ((rc = refuse_searched(specs)) == 0 && (rc = parse_space(&t, &to.space)) == 0) {
        u.ctx = cli_context(o.threads, o.backend);
        rc = u.ctx ? prepare(&u, &t, &to, &rest, &val, owned) : 1;
        if (rc == 0) rc = search(&u, &t);
    }
    tune_trials_release(&u);
    dy_tune_free(u.tune);
    dy_dataset_free(rest);
    dy_dataset_free(val);
    dy_ctx_destroy(u.ctx);
    free(file_config);
    for (int i = 0; i < RUN_OWNED_PATHS; i++) free(owned[i]);
    return rc;
}
