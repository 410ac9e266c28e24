/* What pretrain and demo share: the training's data, configuration and plan set up, and the trainer run with the
 * progress callbacks and the report refreshed at each epoch end. */
#include "cli/commands.h"

#include "report/report.h"

int cli_training_setup(dy_ctx *ctx, const char *command, run_options *o, int procs, bool print, bool need_test,
                       dy_dataset **train, dy_dataset **test, dy_pretrain_config *cfg) {
    if (cli_load_data(ctx, o, train, test) != DY_OK) return cli_error(ctx, "data");
    if (need_test && !*test) {
        fprintf(stderr, "dystress %s: the data set needs a labelled test split\n", command);
        return 1;
    }
    if (cli_pretrain_config(ctx, o, *train, cfg) != DY_OK) {
        if (print) fprintf(stderr, "dystress %s: %s\n", command, dy_ctx_error(ctx));
        return 2;
    }
    if (cli_choose_plan(ctx, o, cfg, procs, print) != 0) return 1;
    return CLI_GO_ON;
}

dy_status cli_train(dy_trainer *tr, cli_training *ui) {
    cli_install_signal_handlers();
    dy_pretrain_callbacks cb = {.on_step = cli_on_step, .on_message = cli_on_message,
                                .on_epoch_end = cli_on_epoch_end, .user = ui};
    return dy_trainer_run(tr, ui ? &cb : NULL, &cli_stop_signal);
}

void cli_on_step(void *user, const dy_step_report *r) {
    progress_step(&((cli_training *)user)->pr, r->epoch, r->epochs, r->step_in_epoch, r->steps_per_epoch, r->step,
                  r->total_steps, r->loss, r->lr, r->images_per_s);
}

void cli_on_message(void *user, const char *text) { progress_log(&((cli_training *)user)->pr, "%s", text); }

void cli_write_report(cli_training *t) {
    char skipped[1024] = "";
    dy_report_options ro = {.command = t->command, .skipped = skipped, .skipped_size = sizeof skipped};
    if (dy_report_write(t->ctx, t->run_dir, NULL, &ro) != DY_OK)
        progress_log(&t->pr, "warning: the report was not written: %s", dy_ctx_error(t->ctx));
    else if (*skipped)
        progress_log(&t->pr, "note: the report skipped %s", skipped);
}

void cli_on_epoch_end(void *user, int64_t epoch) {
    (void)epoch;
    cli_training *t = user;
    if (t->report) cli_write_report(t);
}
