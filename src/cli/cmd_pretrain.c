/* dystress pretrain: self-supervised pretraining into a run directory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/distributed.h"
#include "cli/progress.h"
#include "io/atomic_file.h"
#include "train/pretrain.h"

/* A fresh run needs a run directory of its own: one that holds anything is refused unless --overwrite (which deletes
 * the run files there first, see cli_clear_run_files). 0 to go on, else the exit status. */
static int check_fresh_run_dir(const run_options *o) {
    char name[256];
    int used = cli_dir_entry(o->run_dir, name, sizeof name);
    if (used < 0) {
        fprintf(stderr, "dystress pretrain: cannot read --run-dir %s: %s\n", o->run_dir, strerror(errno));
        return 1;
    }
    if (used && !o->overwrite) {
        fprintf(stderr, "dystress pretrain: %s already holds a run (%s); continue it with --resume, start it afresh "
                "with --overwrite (its run files are deleted), or choose another --run-dir\n", o->run_dir, name);
        return 2;
    }
    return 0;
}

/* Every stored option of config.json as it is now (now) against the configuration the checkpoint ckpt was trained
 * with (stored), except a changeable one the command line (given) sets explicitly. 0, or 2 with the mismatch
 * named. */
static int config_matches_checkpoint(const opt_spec *specs, opt_spec *given, const char *now, const char *stored,
                                     const char *run_dir, const char *ckpt) {
    for (const opt_spec *sp = specs; sp->name; sp++) {
        char in_config[512], in_ckpt[512];
        run_option_role role = run_option_role_of(sp->name);
        if (role == RUN_OPTION_INVOCATION || role == RUN_OPTION_SETTING) continue;
        if (role == RUN_OPTION_CHANGEABLE && opt_find(given, sp->name)->set) continue;
        run_config_value(now, sp->name, in_config, sizeof in_config);
        run_config_value(stored, sp->name, in_ckpt, sizeof in_ckpt);
        if (!strcmp(in_config, in_ckpt)) continue;
        /* an option newer than the checkpoint (--sync-bn): the run had its default */
        if (!strcmp(in_ckpt, "(absent)") && !strcmp(in_config, sp->def)) continue;
        fprintf(stderr, "dystress pretrain: %s/config.json does not match the checkpoint it resumes: %s is %s there "
                "but %s in %s (was config.json edited?). ", run_dir, sp->name, in_config, in_ckpt, ckpt);
        if (role == RUN_OPTION_CHANGEABLE)
            fprintf(stderr, "--%s may change on resume, explicitly: give --%s %s on the command line, or put %s back "
                    "in config.json\n", sp->name, sp->name, in_config, in_ckpt);
        else
            fprintf(stderr, "--%s cannot change during a run: put %s back in config.json, or start a new run\n",
                    sp->name, in_ckpt);
        return 2;
    }
    return 0;
}

/* The changeable options the command line changes, each announced: what the run had (before, its checkpoint's or
 * else config.json's configuration) against next. Their count. */
static int announce_changes(const opt_spec *specs, const char *before_text, const char *next) {
    int changed = 0;
    for (const opt_spec *sp = specs; sp->name; sp++) {
        if (!sp->set || run_option_role_of(sp->name) != RUN_OPTION_CHANGEABLE) continue;
        char before[512], after[512];
        run_config_value(before_text, sp->name, before, sizeof before);
        run_config_value(next, sp->name, after, sizeof after);
        if (!strcmp(before, after)) continue;
        fprintf(stderr, "dystress pretrain: --%s changes from %s to %s on resume%s\n", sp->name, before, after,
                !strcmp(sp->name, "epochs") ? " (the learning-rate schedule stretches to the new length: the result "
                "differs from a run started with it)" : "");
        changed++;
    }
    return changed;
}

/* --resume: the run's config.json, checked against the configuration its checkpoint was trained with, then the
 * command line on top: invocation options freely, changeable ones with a notice, others refused. On success *config
 * holds config.json's text (the options' strings point into it) and *changed counts the changed options. */
static int resume_options(opt_spec *specs, int argc, char **argv, char **config, char **owned, int *changed) {
    run_options given;
    opt_spec given_specs[RUN_OPTION_COUNT];
    run_option_table(given_specs, &given);
    char err[512];
    *changed = 0;
    if (opt_parse(given_specs, argc, argv, 2, NULL, 0, NULL, err, sizeof err) != 0) return 2;
    for (int i = 0; given_specs[i].name; i++) {
        if (given_specs[i].set && run_option_role_of(given_specs[i].name) == RUN_OPTION_FIXED) {
            fprintf(stderr, "dystress pretrain: --%s cannot change when resuming (the run's config.json holds it; "
                    "on --resume only %s may change)\n", given_specs[i].name, run_option_changeable_list());
            return 2;
        }
    }
    if (cli_load_run_config(given.run_dir, specs, config) != 0) return 1;
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-latest.safetensors", given.run_dir);
    dy_ctx *ctx = cli_context(1, "ref");
    if (!ctx) return 1;
    char *stored = NULL, *now = NULL, *next = NULL;
    int status = 1;
    if (access(ckpt, F_OK) == 0 && dy_checkpoint_read_config(ctx, ckpt, &stored) != DY_OK) {
        cli_error(ctx, "resume");
        goto done;
    }
    if (!(now = run_config_canonical(specs))) {
        fprintf(stderr, "dystress pretrain: out of memory\n");
        goto done;
    }
    if (stored && (status = config_matches_checkpoint(specs, given_specs, now, stored, given.run_dir, ckpt)) != 0)
        goto done;
    if (!stored && access(ckpt, F_OK) == 0)
        fprintf(stderr, "dystress pretrain: note: %s stores no configuration (written by an older dystress), so "
                "config.json is taken as it is\n", ckpt);
    /* the command line on top, changes announced; invocation options (threads, max-steps, ...) are this command
     * line's or their defaults, never config.json's */
    for (opt_spec *sp = specs; sp->name; sp++)
        if (run_option_role_of(sp->name) == RUN_OPTION_INVOCATION) opt_set(sp, sp->def, err, sizeof err);
    if (opt_parse_over(specs, argc, argv, 2, NULL, 0, NULL, err, sizeof err) != 0 ||
        run_options_absolute_paths(specs, owned, err, sizeof err) != 0) {
        fprintf(stderr, "dystress pretrain: %s\n", err);
        status = 2;
        goto done;
    }
    if (!(next = run_config_canonical(specs))) {
        fprintf(stderr, "dystress pretrain: out of memory\n");
        status = 1;
        goto done;
    }
    *changed = announce_changes(specs, stored ? stored : now, next);
    status = 0;
done:
    dy_ctx_destroy(ctx);
    free(stored);
    free(now);
    free(next);
    return status;
}

/* One pretraining process: its options and where they came from, its place in an MPI job, and what it opened. */
typedef struct {
    run_options o;
    opt_spec specs[RUN_OPTION_COUNT];
    cli_dist dist;
    bool lead;         /* rank 0: writes the run directory and reports */
    char *file_config; /* --config's text */
    char *config_text; /* --resume: config.json's text */
    char *owned[RUN_OWNED_PATHS], *canonical;
    int changed;       /* options a resume changes */
    bool have_checkpoint;
    dy_ctx *ctx;
    dy_dataset *train, *test;
    dy_pretrain_config cfg;
    dy_trainer *tr;
} pretrain_run;

/* A configuration the options describe wrongly: said, exit status 2. */
static int refused(const char *err) {
    fprintf(stderr, "dystress pretrain: %s\n", err);
    return 2;
}

/* The run's options settled (resumed, or checked for a fresh run directory), then the context, the data, the
 * configuration and plan, and the canonical configuration its checkpoints store. CLI_GO_ON, or the exit status. */
static int set_up(pretrain_run *r, int argc, char **argv) {
    run_options *o = &r->o;
    char err[512];
    int status;
    if (o->resume) {
        if ((status = resume_options(r->specs, argc, argv, &r->config_text, r->owned, &r->changed)) != 0)
            return status;
        o->resume = true;
    } else if (r->lead && (status = check_fresh_run_dir(o)) != 0) {
        return status;
    }
    if (run_options_check(o, err, sizeof err) != 0) return refused(err);
    if (!(r->ctx = cli_run_context(cli_dist_threads(&r->dist, o->threads), o))) return 1;
    r->dist.comm.ctx = r->ctx;
    status = cli_training_setup(r->ctx, "pretrain", o, r->dist.comm.size, r->lead, false, &r->train, &r->test, &r->cfg);
    if (status != CLI_GO_ON) return status;
    /* data paths as absolute paths: the run resumes, and its checkpoints evaluate, from any working directory */
    if (!o->resume && run_options_absolute_paths(r->specs, r->owned, err, sizeof err) != 0)
        return refused(err);
    if (!(r->canonical = run_config_canonical(r->specs))) {
        fprintf(stderr, "dystress pretrain: out of memory\n");
        return 1;
    }
    r->cfg.config_text = r->canonical; /* every checkpoint stores it; --resume compares config.json with it */
    /* TESTS ONLY, fault injection (tests/test_mpi.c): DY_FAULT_NAN_RANK=r with DY_FAULT_NAN_STEP=k make the loss of
     * step k NaN on rank r alone, to show that one failing process ends the whole job with its message */
    const char *fault_rank = getenv("DY_FAULT_NAN_RANK"), *fault_step = getenv("DY_FAULT_NAN_STEP");
    if (fault_rank && fault_step && atoi(fault_rank) == r->dist.comm.rank) r->cfg.fault_nan_step = atoll(fault_step);
    r->cfg.comm = r->dist.on ? &r->dist.comm : NULL;
    return CLI_GO_ON;
}

/* The run directory made; --overwrite's deletions, a resume's stale temporary files, config.json and the skipped
 * images written (by the lead process). CLI_GO_ON, or the exit status. */
static int prepare_run_dir(pretrain_run *r) {
    const run_options *o = &r->o;
    if (dy_mkdirs(o->run_dir) != 0) {
        fprintf(stderr, "dystress pretrain: %scannot create run directory %s: %s\n", r->dist.label, o->run_dir,
                strerror(errno));
        return 1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/checkpoint-latest.safetensors", o->run_dir);
    r->have_checkpoint = o->resume && access(path, F_OK) == 0;
    if (!r->lead) return CLI_GO_ON;
    if (!o->resume && o->overwrite) {
        int removed = cli_clear_run_files(o->run_dir);
        if (removed < 0) {
            fprintf(stderr, "dystress pretrain: --overwrite: cannot delete the run files in %s: %s\n", o->run_dir,
                    strerror(errno));
            return 1;
        }
        if (removed) fprintf(stderr, "dystress pretrain: --overwrite: deleted %d files of the previous run in %s\n",
                             removed, o->run_dir);
    }
    for (int i = 0; o->resume && cli_run_files[i]; i++) { /* temporary files of writes that a kill cut short */
        snprintf(path, sizeof path, "%s/%s", o->run_dir, cli_run_files[i]);
        dy_atomic_remove_stale(path);
    }
    snprintf(path, sizeof path, "%s/config.json", o->run_dir);
    if ((!o->resume || r->changed) && cli_write_config(r->ctx, path, r->specs) != DY_OK)
        return cli_error(r->ctx, "config");
    if (cli_write_skipped_list(r->ctx, o->run_dir, r->train, r->test) != DY_OK) return cli_error(r->ctx, "--skip-bad");
    return CLI_GO_ON;
}

/* The run's first line: what trains, on what, where. */
static void announce(pretrain_run *r, progress *pr) {
    const run_options *o = &r->o;
    const dy_model_config *mc = &r->cfg.model;
    char procs[64] = "", profile[96];
    if (r->dist.comm.size > 1)
        snprintf(procs, sizeof procs, " in each of %d processes%s", r->dist.comm.size,
                 r->cfg.sync_bn ? " (sync-bn)" : "");
    bool scheduled = strcmp(o->tau_schedule, "constant") != 0;
    snprintf(profile, sizeof profile, "%s profile%s%s%s", o->profile, scheduled ? " on a " : "",
             scheduled ? o->tau_schedule : "", scheduled ? " schedule" : "");
    progress_log(pr, "dystress pretrain: %s, ResNet-%d width %lld (%s stem), %s, %s, %s; %lld train images, "
                 "batch %lld, %lld epochs; backend %s, %s, %d threads%s; run %s%s", o->data, mc->depth,
                 (long long)mc->width, o->stem, o->framework, profile, o->optimizer, (long long)r->train->count,
                 (long long)o->batch_size, (long long)o->epochs, dy_backend_name(dy_ctx_backend(r->ctx)),
                 dy_precision_name(mc->precision), dy_ctx_threads(r->ctx), procs, o->run_dir,
                 o->resume ? " (resumed)" : "");
    if (*cli_backend_warning(r->ctx)) progress_log(pr, "%s", cli_backend_warning(r->ctx));
    if (r->have_checkpoint)
        progress_log(pr, "resuming after step %lld", (long long)dy_trainer_step_count(r->tr));
    else if (o->resume)
        progress_log(pr, "no checkpoint yet in %s: starting from step 0 with its config.json", o->run_dir);
}

/* Training, the report of the run as it stopped (mid-epoch after an interruption or --max-steps; a run resumed only
 * to write it), and how it ended. The exit status. */
static int train(pretrain_run *r) {
    const run_options *o = &r->o;
    char command[8192];
    cli_reproduce_command(r->specs, command, sizeof command);
    cli_training ui = {.ctx = r->ctx, .run_dir = o->run_dir, .command = command, .report = o->report};
    progress_init(&ui.pr, stderr, 50);
    if (r->lead) announce(r, &ui.pr);
    dy_status st = cli_train(r->tr, r->lead ? &ui : NULL);
    char message[1100]; /* the trainer's message, kept over the report's */
    snprintf(message, sizeof message, "%s", dy_ctx_error(r->ctx));
    if (r->lead && o->report) cli_write_report(&ui);
    progress_end(&ui.pr);
    if (st == DY_ERR_INTERRUPTED) {
        if (r->lead) fprintf(stderr, "dystress pretrain: %s\n", message);
        return 128 + (cli_stop_signal ? (int)cli_stop_signal : SIGTERM); /* another process may have had it */
    }
    if (st != DY_OK) {
        fprintf(stderr, "dystress: %spretrain: %s\n", r->dist.label, message);
        cli_dist_abort(&r->dist, 1); /* the others wait in a collective: end them, this message says why */
        return 1;
    }
    if (r->lead)
        fprintf(stderr, "dystress pretrain: done after %lld steps; weights%s in %s\n",
                (long long)dy_trainer_step_count(r->tr), o->report ? " and report.html" : "", o->run_dir);
    return 0;
}

/* Everything before training; from here every process agrees (cli_dist_agree) before any trains. */
static int start(pretrain_run *r, int argc, char **argv) {
    int status = set_up(r, argc, argv);
    if (status == CLI_GO_ON) status = prepare_run_dir(r);
    if (status != CLI_GO_ON) return status;
    if (dy_trainer_create(r->ctx, &r->cfg, r->train, r->test, &r->tr) != DY_OK) return cli_error(r->ctx, "pretrain");
    char path[4200];
    snprintf(path, sizeof path, "%s/checkpoint-latest.safetensors", r->o.run_dir);
    if (r->have_checkpoint && dy_trainer_load_checkpoint(r->tr, path) != DY_OK) return cli_error(r->ctx, "resume");
    return CLI_GO_ON;
}

int cmd_pretrain(int argc, char **argv) {
    pretrain_run run, *r = &run;
    memset(r, 0, sizeof *r);
    run_option_table(r->specs, &r->o);
    int rc = cli_parse_with_config("pretrain", r->specs, &r->o, argc, argv, 2, &r->file_config);
    if (rc == 0 || rc == 1)
        rc = cli_parse_outcome("pretrain", rc, "usage: dystress pretrain [options]\n\nSelf-supervised pretraining "
                               "with the DySTreSS loss. With no options: ResNet-18 on Fashion-MNIST\n(the Debian "
                               "package dataset-fashion-mnist), the paper's small-scale recipe, into runs/pretrain."
                               "\n\noptions:\n", r->specs, "");
    if (rc != CLI_GO_ON) {
        free(r->file_config);
        return rc;
    }
    /* under mpirun/srun: one process of a data-parallel run. From here every exit before training passes through
     * cli_dist_agree, so that no process waits for one that left. */
    if ((rc = cli_dist_init(&r->dist)) != 0) {
        free(r->file_config);
        return rc;
    }
    cli_process_label = r->dist.label;
    r->lead = r->dist.comm.rank == 0;
    int status = start(r, argc, argv);
    status = cli_dist_agree(&r->dist, status == CLI_GO_ON ? 0 : status);
    if (status == 0) status = train(r);
    dy_trainer_destroy(r->tr);
    dy_dataset_free(r->train);
    dy_dataset_free(r->test);
    dy_ctx_destroy(r->ctx);
    free(r->config_text);
    free(r->file_config);
    free(r->canonical);
    for (int i = 0; i < RUN_OWNED_PATHS; i++) free(r->owned[i]);
    cli_dist_end(&r->dist);
    return status;
}
