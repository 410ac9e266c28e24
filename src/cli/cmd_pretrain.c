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

/* --resume: the run's config.json, checked against the configuration its checkpoint was trained with, then the
 * command line on top: invocation options freely, changeable ones with a notice, others refused. On success *config
 * holds config.json's text (the options' strings point into it) and *changed counts the changed options. */
static int resume_options(opt_spec *specs, int argc, char **argv, char **config, char **owned,
                          int *changed) {
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
    /* config.json as it is now against the configuration the checkpoint was trained with */
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-latest.safetensors", given.run_dir);
    dy_ctx *ctx = cli_context(1, "ref");
    if (!ctx) return 1;
    char *stored = NULL;
    if (access(ckpt, F_OK) == 0 && dy_checkpoint_read_config(ctx, ckpt, &stored) != DY_OK) {
        cli_error(ctx, "resume");
        dy_ctx_destroy(ctx);
        return 1;
    }
    dy_ctx_destroy(ctx);
    char *now = run_config_canonical(specs);
    if (!now) {
        free(stored);
        fprintf(stderr, "dystress pretrain: out of memory\n");
        return 1;
    }
    /* every stored option as config.json has it now, except a changeable one this command line sets explicitly */
    for (opt_spec *sp = specs; stored && sp->name; sp++) {
        char in_config[512], in_ckpt[512];
        run_option_role role = run_option_role_of(sp->name);
        if (role == RUN_OPTION_INVOCATION || role == RUN_OPTION_SETTING) continue;
        if (role == RUN_OPTION_CHANGEABLE && opt_find(given_specs, sp->name)->set) continue;
        run_config_value(now, sp->name, in_config, sizeof in_config);
        run_config_value(stored, sp->name, in_ckpt, sizeof in_ckpt);
        if (!strcmp(in_config, in_ckpt)) continue;
        /* an option newer than the checkpoint (--sync-bn): the run had its default */
        if (!strcmp(in_ckpt, "(absent)") && !strcmp(in_config, sp->def)) continue;
        fprintf(stderr, "dystress pretrain: %s/config.json does not match the checkpoint it resumes: %s is %s there "
                "but %s in %s (was config.json edited?). ", given.run_dir, sp->name, in_config, in_ckpt, ckpt);
        if (role == RUN_OPTION_CHANGEABLE)
            fprintf(stderr, "--%s may change on resume, explicitly: give --%s %s on the command line, or put %s back "
                    "in config.json\n", sp->name, sp->name, in_config, in_ckpt);
        else
            fprintf(stderr, "--%s cannot change during a run: put %s back in config.json, or start a new run\n",
                    sp->name, in_ckpt);
        free(stored);
        free(now);
        return 2;
    }
    if (!stored && access(ckpt, F_OK) == 0)
        fprintf(stderr, "dystress pretrain: note: %s stores no configuration (written by an older dystress), so "
                "config.json is taken as it is\n", ckpt);
    /* the command line on top, changes announced; invocation options (threads, max-steps, ...) are this command
     * line's or their defaults, never config.json's */
    for (opt_spec *sp = specs; sp->name; sp++)
        if (run_option_role_of(sp->name) == RUN_OPTION_INVOCATION) opt_set(sp, sp->def, err, sizeof err);
    if (opt_parse_over(specs, argc, argv, 2, NULL, 0, NULL, err, sizeof err) != 0) {
        free(stored);
        free(now);
        fprintf(stderr, "dystress pretrain: %s\n", err);
        return 2;
    }
    if (run_options_absolute_paths(specs, owned, err, sizeof err) != 0) {
        free(stored);
        free(now);
        fprintf(stderr, "dystress pretrain: %s\n", err);
        return 2;
    }
    char *next = run_config_canonical(specs);
    for (opt_spec *sp = specs; next && sp->name; sp++) {
        if (!sp->set || run_option_role_of(sp->name) != RUN_OPTION_CHANGEABLE) continue;
        char before[512], after[512]; /* what the run had: its checkpoint's value, else config.json's */
        run_config_value(stored ? stored : now, sp->name, before, sizeof before);
        run_config_value(next, sp->name, after, sizeof after);
        if (!strcmp(before, after)) continue;
        fprintf(stderr, "dystress pretrain: --%s changes from %s to %s on resume%s\n", sp->name, before, after,
                !strcmp(sp->name, "epochs") ? " (the learning-rate schedule stretches to the new length: the result "
                "differs from a run started with it)" : "");
        (*changed)++;
    }
    bool ok = next != NULL;
    free(stored);
    free(now);
    free(next);
    if (!ok) fprintf(stderr, "dystress pretrain: out of memory\n");
    return ok ? 0 : 1;
}

int cmd_pretrain(int argc, char **argv) {
    run_options o;
    opt_spec specs[RUN_OPTION_COUNT];
    run_option_table(specs, &o);
    char err[512], *file_config = NULL;
    int rc = cli_parse_with_config("pretrain", specs, &o, argc, argv, 2, &file_config);
    if (rc == 1) {
        printf("usage: dystress pretrain [options]\n\nSelf-supervised pretraining with the DySTreSS loss. With no "
               "options: ResNet-18 on Fashion-MNIST\n(the Debian package dataset-fashion-mnist), the paper's "
               "small-scale recipe, into runs/pretrain.\n\noptions:\n");
        opt_print_help(stdout, specs);
        return 0;
    }
    if (rc != 0) return rc;
    /* under mpirun/srun: one process of a data-parallel run. From here every exit before training passes through
     * cli_dist_agree (at `done` at the latest), so that no process waits for one that left. */
    cli_dist dist;
    if ((rc = cli_dist_init(&dist)) != 0) {
        free(file_config);
        return rc;
    }
    cli_process_label = dist.label;
    const bool lead = dist.comm.rank == 0; /* writes the run directory and reports */
    char *config_text = NULL, *owned[RUN_OWNED_PATHS] = {NULL}, *canonical = NULL;
    int changed = 0, status = 1;
    dy_ctx *ctx = NULL;
    dy_dataset *train = NULL, *test = NULL;
    dy_trainer *tr = NULL;
    dy_pretrain_config cfg;
    if (o.resume) {
        if ((status = resume_options(specs, argc, argv, &config_text, owned, &changed)) != 0) goto done;
        o.resume = true;
    } else if (lead && (status = check_fresh_run_dir(&o)) != 0) {
        goto done;
    }
    status = 1;
    if (run_options_check(&o, err, sizeof err) != 0) {
        fprintf(stderr, "dystress pretrain: %s\n", err);
        status = 2;
        goto done;
    }
    if (!(ctx = cli_run_context(cli_dist_threads(&dist, o.threads), &o))) goto done;
    dist.comm.ctx = ctx;
    if (cli_load_data(ctx, &o, &train, &test) != DY_OK) {
        cli_error(ctx, "data");
        goto done;
    }
    if (cli_pretrain_config(ctx, &o, train, &cfg) != DY_OK) {
        if (lead) fprintf(stderr, "dystress pretrain: %s\n", dy_ctx_error(ctx));
        status = 2;
        goto done;
    }
    if (cli_choose_plan(ctx, &o, &cfg, dist.comm.size, lead) != 0) goto done;
    /* data paths as absolute paths: the run resumes, and its checkpoints evaluate, from any working directory */
    if (!o.resume && run_options_absolute_paths(specs, owned, err, sizeof err) != 0) {
        fprintf(stderr, "dystress pretrain: %s\n", err);
        status = 2;
        goto done;
    }
    if (!(canonical = run_config_canonical(specs))) {
        fprintf(stderr, "dystress pretrain: out of memory\n");
        goto done;
    }
    cfg.config_text = canonical; /* every checkpoint stores it; --resume compares config.json with it */
    /* TESTS ONLY, fault injection (tests/test_mpi.c): DY_FAULT_NAN_RANK=r with DY_FAULT_NAN_STEP=k make the loss of
     * step k NaN on rank r alone, to show that one failing process ends the whole job with its message */
    const char *fault_rank = getenv("DY_FAULT_NAN_RANK"), *fault_step = getenv("DY_FAULT_NAN_STEP");
    if (fault_rank && fault_step && atoi(fault_rank) == dist.comm.rank) cfg.fault_nan_step = atoll(fault_step);
    cfg.comm = dist.on ? &dist.comm : NULL;
    if (dy_mkdirs(o.run_dir) != 0) {
        fprintf(stderr, "dystress pretrain: %scannot create run directory %s: %s\n", dist.label, o.run_dir,
                strerror(errno));
        goto done;
    }
    char path[4096], cpath[4096];
    snprintf(path, sizeof path, "%s/checkpoint-latest.safetensors", o.run_dir);
    snprintf(cpath, sizeof cpath, "%s/config.json", o.run_dir);
    bool have_checkpoint = o.resume && access(path, F_OK) == 0;
    if (lead && !o.resume && o.overwrite) {
        int removed = cli_clear_run_files(o.run_dir);
        if (removed < 0) {
            fprintf(stderr, "dystress pretrain: --overwrite: cannot delete the run files in %s: %s\n", o.run_dir,
                    strerror(errno));
            goto done;
        }
        if (removed) fprintf(stderr, "dystress pretrain: --overwrite: deleted %d files of the previous run in %s\n",
                             removed, o.run_dir);
    }
    if (lead && o.resume) /* temporary files of writes that a kill cut short */
        for (int i = 0; cli_run_files[i]; i++) {
            char stale[4400];
            snprintf(stale, sizeof stale, "%s/%s", o.run_dir, cli_run_files[i]);
            dy_atomic_remove_stale(stale);
        }
    if (lead && (!o.resume || changed) && cli_write_config(ctx, cpath, specs) != DY_OK) {
        cli_error(ctx, "config");
        goto done;
    }
    if (lead && cli_write_skipped_list(ctx, o.run_dir, train, test) != DY_OK) {
        cli_error(ctx, "--skip-bad");
        goto done;
    }
    if (dy_trainer_create(ctx, &cfg, train, test, &tr) != DY_OK) {
        cli_error(ctx, "pretrain");
        goto done;
    }
    if (have_checkpoint && dy_trainer_load_checkpoint(tr, path) != DY_OK) {
        cli_error(ctx, "resume");
        goto done;
    }
    if ((status = cli_dist_agree(&dist, 0)) != 0) goto done;
    status = 1;
    char command[8192];
    cli_reproduce_command(specs, command, sizeof command);
    cli_training ui = {.ctx = ctx, .run_dir = o.run_dir, .command = command, .report = o.report};
    progress *pr = &ui.pr;
    progress_init(pr, stderr, 50);
    const dy_model_config *mc = &cfg.model;
    char procs[64] = "";
    if (dist.comm.size > 1)
        snprintf(procs, sizeof procs, " in each of %d processes%s", dist.comm.size, cfg.sync_bn ? " (sync-bn)" : "");
    char profile[96];
    snprintf(profile, sizeof profile, "%s profile%s%s", o.profile, strcmp(o.tau_schedule, "constant") ? " on a " : "",
             strcmp(o.tau_schedule, "constant") ? o.tau_schedule : "");
    if (strcmp(o.tau_schedule, "constant")) strncat(profile, " schedule", sizeof profile - strlen(profile) - 1);
    if (lead)
    progress_log(pr, "dystress pretrain: %s, ResNet-%d width %lld (%s stem), %s, %s, %s; %lld train images, "
                 "batch %lld, %lld epochs; backend %s, %s, %d threads%s; run %s%s",
                 o.data, mc->depth, (long long)mc->width, o.stem, o.framework, profile, o.optimizer,
                 (long long)train->count, (long long)o.batch_size, (long long)o.epochs,
                 dy_backend_name(dy_ctx_backend(ctx)), dy_precision_name(mc->precision), dy_ctx_threads(ctx), procs,
                 o.run_dir,
                 o.resume ? " (resumed)" : "");
    if (lead && *cli_backend_warning(ctx)) progress_log(pr, "%s", cli_backend_warning(ctx));
    if (lead && have_checkpoint)
        progress_log(pr, "resuming after step %lld", (long long)dy_trainer_step_count(tr));
    else if (lead && o.resume)
        progress_log(pr, "no checkpoint yet in %s: starting from step 0 with its config.json", o.run_dir);
    cli_install_signal_handlers();
    dy_pretrain_callbacks cb = {.on_step = cli_on_step, .on_message = cli_on_message,
                                .on_epoch_end = cli_on_epoch_end, .user = &ui};
    dy_status st = dy_trainer_run(tr, lead ? &cb : NULL, &cli_stop_signal);
    /* the report of the run as it stopped (mid-epoch after an interruption or --max-steps; a run resumed only to
     * write it); the trainer's message is kept */
    char message[1100];
    snprintf(message, sizeof message, "%s", dy_ctx_error(ctx));
    if (lead && o.report) cli_write_report(&ui);
    progress_end(pr);
    if (st == DY_ERR_INTERRUPTED) {
        if (lead) fprintf(stderr, "dystress pretrain: %s\n", message);
        status = 128 + (cli_stop_signal ? (int)cli_stop_signal : SIGTERM); /* another process may have had it */
    } else if (st != DY_OK) {
        fprintf(stderr, "dystress: %spretrain: %s\n", dist.label, message);
        cli_dist_abort(&dist, 1); /* the others wait in a collective: end them, this message says why */
    } else {
        if (lead)
            fprintf(stderr, "dystress pretrain: done after %lld steps; weights%s in %s\n",
                    (long long)dy_trainer_step_count(tr), o.report ? " and report.html" : "", o.run_dir);
        status = 0;
    }
done:
    if (!dist.agreed) status = cli_dist_agree(&dist, status); /* a failure before training: tell the others */
    dy_trainer_destroy(tr);
    dy_dataset_free(train);
    dy_dataset_free(test);
    dy_ctx_destroy(ctx);
    free(config_text);
    free(file_config);
    free(canonical);
    for (int i = 0; i < RUN_OWNED_PATHS; i++) free(owned[i]);
    cli_dist_end(&dist);
    return status;
}
