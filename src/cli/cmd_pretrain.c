/* dystress pretrain: self-supervised pretraining into a run directory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/distributed.h"
#include "cli/progress.h"


/* Options a resumed run may change: they do not alter the numbers (or say so in the README). */
static bool may_change_on_resume(const char *name) {
    return !strcmp(name, "threads") || !strcmp(name, "loader-threads") || !strcmp(name, "max-steps") || !strcmp(name, "backend") ||
           !strcmp(name, "run-dir") || !strcmp(name, "resume");
}

int cmd_pretrain(int argc, char **argv) {
    run_options o;
    opt_spec specs[RUN_OPTION_COUNT];
    run_option_table(specs, &o);
    char err[512];
    int rc = opt_parse(specs, argc, argv, 2, NULL, 0, NULL, err, sizeof err);
    if (rc == 1) {
        printf("usage: dystress pretrain [options]\n\nSelf-supervised pretraining with the DySTreSS loss. With no "
               "options: ResNet-18 on Fashion-MNIST\n(the Debian package dataset-fashion-mnist), the paper's "
               "small-scale recipe, into runs/pretrain.\n\noptions:\n");
        opt_print_help(stdout, specs);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "dystress pretrain: %s\n", err);
        return 2;
    }
    char *config_text = NULL;
    if (o.resume) {
        /* the run's own configuration, with only the harmless options taken from this command line */
        run_options given = o;
        opt_spec given_specs[RUN_OPTION_COUNT];
        run_option_table(given_specs, &given);
        if (opt_parse(given_specs, argc, argv, 2, NULL, 0, NULL, err, sizeof err) != 0) return 2;
        if (cli_load_run_config(given.run_dir, specs, &config_text) != 0) return 1;
        for (int i = 0; given_specs[i].name; i++) {
            if (!given_specs[i].set) continue;
            if (!may_change_on_resume(given_specs[i].name)) {
                fprintf(stderr, "dystress pretrain: --%s cannot change when resuming (the run's config.json "
                        "holds it)\n", given_specs[i].name);
                free(config_text);
                return 2;
            }
        }
        o.threads = given.threads;
        o.loader_threads = given.loader_threads;
        o.max_steps = given.max_steps; /* where this invocation stops; not part of the run */
        o.backend = given.backend;
        o.run_dir = given.run_dir;
        o.resume = true;
    }
    /* under mpirun/srun: one process of a data-parallel run (every exit below reaches cli_dist_agree or aborts) */
    cli_dist dist;
    int status = cli_dist_init(&dist);
    if (status != 0) {
        free(config_text);
        return status;
    }
    cli_process_label = dist.label;
    const bool lead = dist.comm.rank == 0; /* writes the run directory and reports */
    dy_ctx *ctx = cli_context(cli_dist_threads(&dist, o.threads), o.backend);
    if (!ctx) {
        status = cli_dist_agree(&dist, 1);
        cli_dist_end(&dist);
        free(config_text);
        return status;
    }
    dist.comm.ctx = ctx;
    status = 1;
    dy_dataset *train = NULL, *test = NULL;
    dy_trainer *tr = NULL;
    dy_pretrain_config cfg;
    if (cli_load_data(ctx, &o, &train, &test) != DY_OK) {
        cli_error(ctx, "data");
        goto done;
    }
    if (cli_pretrain_config(ctx, &o, train, &cfg) != DY_OK) {
        if (lead) fprintf(stderr, "dystress pretrain: %s\n", dy_ctx_error(ctx));
        status = 2;
        goto done;
    }
    if (cli_mkdirs(o.run_dir) != 0) {
        fprintf(stderr, "dystress pretrain: %scannot create run directory %s: %s\n", dist.label, o.run_dir,
                strerror(errno));
        goto done;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoint-latest.safetensors", o.run_dir);
    cfg.comm = dist.on ? &dist.comm : NULL;
    if (!o.resume) {
        FILE *existing = fopen(path, "rb");
        if (existing) {
            fclose(existing);
            if (lead)
                fprintf(stderr, "dystress pretrain: %s already holds a run; continue it with --resume or choose "
                        "another --run-dir\n", o.run_dir);
            status = 2;
            goto done;
        }
        char cpath[4096];
        snprintf(cpath, sizeof cpath, "%s/config.json", o.run_dir);
        if (lead && cli_write_config(ctx, cpath, specs) != DY_OK) {
            cli_error(ctx, "config");
            goto done;
        }
    }
    if (dy_trainer_create(ctx, &cfg, train, test, &tr) != DY_OK) {
        cli_error(ctx, "pretrain");
        goto done;
    }
    if (o.resume) {
        if (dy_trainer_load_checkpoint(tr, path) != DY_OK) {
            cli_error(ctx, "resume");
            goto done;
        }
    }
    if ((status = cli_dist_agree(&dist, 0)) != 0) goto done;
    status = 1;
    progress pr;
    progress_init(&pr, stderr, 50);
    const dy_model_config *mc = &cfg.model;
    char procs[64] = "";
    if (dist.comm.size > 1)
        snprintf(procs, sizeof procs, " in each of %d processes%s", dist.comm.size, cfg.sync_bn ? " (sync-bn)" : "");
    if (lead) progress_log(&pr, "dystress pretrain: %s, ResNet-%d width %lld (%s stem), %s, %s profile, %s; %lld train images, "
                 "batch %lld, %lld epochs; backend %s, %d threads%s; run %s%s",
                 o.data, mc->depth, (long long)mc->width, o.stem, o.framework, o.profile, o.optimizer,
                 (long long)train->count, (long long)o.batch_size, (long long)o.epochs,
                 dy_backend_name(dy_ctx_backend(ctx)), dy_ctx_threads(ctx), procs, o.run_dir,
                 o.resume ? " (resumed)" : "");
    if (lead && *cli_backend_warning(ctx)) progress_log(&pr, "%s", cli_backend_warning(ctx));
    if (lead && o.resume)
        progress_log(&pr, "resuming after step %lld", (long long)dy_trainer_step_count(tr));
    cli_install_signal_handlers();
    dy_pretrain_callbacks cb = {.on_step = cli_on_step, .on_message = cli_on_message, .user = &pr};
    dy_status st = dy_trainer_run(tr, lead ? &cb : NULL, &cli_stop_signal);
    progress_end(&pr);
    if (st == DY_ERR_INTERRUPTED) {
        if (lead) fprintf(stderr, "dystress pretrain: %s\n", dy_ctx_error(ctx));
        status = 128 + (cli_stop_signal ? (int)cli_stop_signal : SIGTERM); /* another process may have had it */
    } else if (st != DY_OK) {
        cli_error(ctx, "pretrain");
        cli_dist_abort(&dist, 1); /* the others wait in a collective: end them with this message as the reason */
    } else {
        if (lead)
            fprintf(stderr, "dystress pretrain: done after %lld steps; weights in %s\n",
                    (long long)dy_trainer_step_count(tr), o.run_dir);
        status = 0;
    }
done:
    if (!dist.agreed) status = cli_dist_agree(&dist, status); /* a setup failure here: tell the others */
    dy_trainer_destroy(tr);
    dy_dataset_free(train);
    dy_dataset_free(test);
    dy_ctx_destroy(ctx);
    cli_dist_end(&dist);
    free(config_text);
    return status;
}
