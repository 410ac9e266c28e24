/* dystress demo: the main job. A short pretraining on Fashion-MNIST, then kNN and linear evaluation of the trained
 * encoder beside raw pixels and a randomly initialised encoder of the same shape, measured with the same protocols. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/evaluate.h"
#include "cli/progress.h"
#include "core/context.h"
#include "io/atomic_file.h"
#include "report/encoder_view.h"

/* The demo's recipe: what fits inside about a quarter hour on two cores of a CPU with bf16 and beats raw pixels on
 * both protocols; docs/RESULTS.md has the runs that chose it. The profile is the Fashion-MNIST tune's winner (the
 * cosine profile from 0.255-0.547 with --tau-adapt band), which led constants 0.2, 0.1 and 0.5 and the paper's cosine
 * profile on the test split over 3 seeds. The recipe, epochs included, is the same on every CPU, so that its accuracy
 * does not depend on the machine; only the plan (precision, layout: measured by the plan tuner before training)
 * does, and with it the time. Any option can be overridden on the command line. */
static const char *demo_defaults[][2] = {
    {"width", "16"},         {"epochs", "12"},        {"batch-size", "128"},     {"lr", "0.25"},
    {"momentum", "0.9"},     {"weight-decay", "1e-4"}, {"warmup-epochs", "0"},  {"knn-every", "-1"},
    {"profile", "cosine"},   {"tau-min", "0.255"},   {"tau-max", "0.547"},      {"tau-adapt", "band"},
    {"precision", "auto"},   {"aug", "scale=0.2,1"}, {"run-dir", "runs/demo"},
};

/* The mark that tells a later demo this run directory is a demo's to replace. */
static dy_status write_mark(dy_ctx *ctx, const char *path) {
    dy_atomic_file f;
    dy_status st = dy_atomic_open(ctx, &f, path);
    if (st != DY_OK) return st;
    if (fputs("Made by `dystress demo`, which replaces this folder's run files when it runs again.\n"
              "Delete this file to keep them from the next demo.\n", f.fp) < 0) {
        dy_atomic_abort(&f);
        return dy_fail(ctx, DY_ERR_IO, "cannot write %s", path);
    }
    return dy_atomic_commit(ctx, &f);
}

typedef struct {
    eval_scores knn, linear;
    double seconds;
} demo_row;

/* view_dir: where the trained encoder's retrieval grid and embedding maps go (NULL: not drawn). */
static dy_status evaluate(dy_ctx *ctx, dy_model *model, const dy_dataset *train, const dy_dataset *test,
                          const run_options *o, const char *view_dir, demo_row *row) {
    double t0 = progress_now();
    float *ftr = NULL, *fte = NULL;
    int64_t dim;
    dy_status st = cli_features(ctx, model, train, train, &ftr, &dim);
    if (st == DY_OK) st = cli_features(ctx, model, train, test, &fte, &dim);
    if (st == DY_OK) st = cli_knn(ctx, ftr, train, fte, test, dim, o->knn_k, o->knn_t, false, &row->knn);
    dy_probe_options po = dy_probe_defaults();
    po.seed = (uint64_t)o->seed;
    if (st == DY_OK) st = cli_linear_cached(ctx, ftr, train, fte, test, dim, &po, false, false, &row->linear);
    if (st == DY_OK && view_dir)
        st = dy_encoder_view_write(ctx, view_dir, train, ftr, test, fte, dim, o->epochs, 0);
    free(ftr);
    free(fte);
    row->seconds = progress_now() - t0;
    return st;
}

int cmd_demo(int argc, char **argv) {
    run_options o;
    opt_spec specs[RUN_OPTION_COUNT];
    run_option_table(specs, &o);
    char err[512];
    int rc = opt_parse(specs, 0, argv, 0, NULL, 0, NULL, err, sizeof err);
    for (size_t i = 0; rc == 0 && i < sizeof demo_defaults / sizeof *demo_defaults; i++) {
        opt_spec *s = opt_find(specs, demo_defaults[i][0]);
        s->def = demo_defaults[i][1];
        rc = opt_set(s, s->def, err, sizeof err);
    }
    if (rc == 0) rc = opt_parse_over(specs, argc, argv, 2, NULL, 0, NULL, err, sizeof err);
    /* the default profile is the tune's winner as a whole: a profile chosen on the command line replaces it, so the
     * adaptive controller stays off unless --tau-adapt is given too */
    static const char *const profile_options[] = {"profile",   "tau",          "tau-min",
                                                  "tau-max",   "shift-offset", "shift-scale"};
    bool own_profile = false;
    for (size_t i = 0; i < sizeof profile_options / sizeof *profile_options; i++)
        own_profile |= opt_find(specs, profile_options[i])->set;
    if (rc == 0 && own_profile && !opt_find(specs, "tau-adapt")->set) o.tau_adapt = "none";
    if (rc == 0) rc = run_options_check(&o, err, sizeof err);
    if (rc == 1) {
        printf(
            "usage: dystress demo [options]\n\nThe main job: pretrain briefly on Fashion-MNIST, then compare kNN and "
            "linear-probe accuracy of the\ntrained encoder with raw pixels and a random encoder. Takes the options "
            "of dystress pretrain:\n");
        opt_print_help(stdout, specs);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "dystress demo: %s\n", err);
        return 2;
    }
    double t_start = progress_now();
    dy_ctx *ctx = cli_run_context(o.threads, &o);
    if (!ctx) return 1;
    int status = 1;
    char *canonical = NULL, *owned[RUN_OWNED_PATHS] = {NULL};
    dy_dataset *train = NULL, *test = NULL;
    dy_model *random_model = NULL;
    dy_trainer *tr = NULL;
    dy_pretrain_config cfg;
    char command[8192];
    cli_training ui = {.ctx = ctx, .run_dir = o.run_dir, .command = command, .report = o.report};
    progress *pr = &ui.pr;
    progress_init(pr, stderr, 50);
    /* The demo never resumes: it starts afresh each time. It replaces the run files of its run directory only when
     * that directory was made by a demo (the mark file says so) or --overwrite is given; any other used directory
     * is refused, so `make demo` twice in a row works and nobody's pretraining run is deleted by a demo. */
    char path[4096];
    char entry[256];
    snprintf(path, sizeof path, "%s/" CLI_DEMO_MARKER, o.run_dir);
    int used = cli_dir_entry(o.run_dir, entry, sizeof entry);
    if (used < 0) {
        fprintf(stderr, "dystress demo: cannot read --run-dir %s: %s\n", o.run_dir, strerror(errno));
        goto done;
    }
    bool demo_made = used && access(path, F_OK) == 0;
    if (used && !demo_made && !o.overwrite) {
        fprintf(stderr, "dystress demo: %s holds files not made by a demo (%s); choose another --run-dir, or give "
                "--overwrite to delete its run files%s\n", o.run_dir, entry,
                opt_find(specs, "run-dir")->set ? "" : " (a demo's folder from before the demo marked its own with "
                CLI_DEMO_MARKER " is refused once too)");
        status = 2;
        goto done;
    }
    if (cli_load_data(ctx, &o, &train, &test) != DY_OK) {
        cli_error(ctx, "data");
        if (!strcmp(o.data, "fashion-mnist"))
            fprintf(stderr, "(install it with: apt-get install dataset-fashion-mnist, or run `make demo`)\n");
        goto done;
    }
    if (!test) {
        fprintf(stderr, "dystress demo: the data set needs a labelled test split\n");
        goto done;
    }
    if (cli_pretrain_config(ctx, &o, train, &cfg) != DY_OK) {
        fprintf(stderr, "dystress demo: %s\n", dy_ctx_error(ctx));
        status = 2;
        goto done;
    }
    if (cli_choose_plan(ctx, &o, &cfg, 1, true) != 0) goto done;
    if (dy_mkdirs(o.run_dir) != 0) {
        fprintf(stderr, "dystress demo: cannot create %s: %s\n", o.run_dir, strerror(errno));
        goto done;
    }
    if (used) {
        int removed = cli_clear_run_files(o.run_dir);
        if (removed < 0) {
            fprintf(stderr, "dystress demo: cannot delete the previous run's files in %s: %s\n", o.run_dir,
                    strerror(errno));
            goto done;
        }
        progress_log(pr, "dystress demo: replacing the previous %s in %s", demo_made ? "demo" : "run", o.run_dir);
    }
    if (write_mark(ctx, path) != DY_OK) {
        cli_error(ctx, "demo");
        goto done;
    }
    if (run_options_absolute_paths(specs, owned, err, sizeof err) != 0) {
        fprintf(stderr, "dystress demo: %s\n", err);
        goto done;
    }
    if (!(canonical = run_config_canonical(specs))) {
        fprintf(stderr, "dystress demo: out of memory\n");
        goto done;
    }
    cfg.config_text = canonical; /* stored in its checkpoints, as pretrain does */
    cli_reproduce_command(specs, command, sizeof command);
    snprintf(path, sizeof path, "%s/config.json", o.run_dir);
    if (cli_write_config(ctx, path, specs) != DY_OK) {
        cli_error(ctx, "config");
        goto done;
    }
    progress_log(pr, "dystress demo: %lld train / %lld test images of %s, ResNet-%lld width %lld, %s profile%s%s, "
                 "%lld epochs of batch %lld; backend %s, %s, %d threads", (long long)train->count,
                 (long long)test->count, o.data, (long long)o.depth, (long long)o.width, o.profile,
                 strcmp(o.tau_adapt, "none") ? " with --tau-adapt " : "",
                 strcmp(o.tau_adapt, "none") ? o.tau_adapt : "",
                 (long long)o.epochs, (long long)o.batch_size, dy_backend_name(dy_ctx_backend(ctx)), o.precision,
                 dy_ctx_threads(ctx));

    if (*cli_backend_warning(ctx)) progress_log(pr, "%s", cli_backend_warning(ctx));
    demo_row pixels, random_row, trained;
    progress_log(pr, "evaluating raw pixels ...");
    if (evaluate(ctx, NULL, train, test, &o, NULL, &pixels) != DY_OK) {
        cli_error(ctx, "pixels");
        goto done;
    }
    progress_log(pr, "evaluating a randomly initialised encoder ...");
    dy_model_config mc = cfg.model;
    mc.head = false;
    if (dy_model_create(ctx, &mc, (uint64_t)o.seed, &random_model) != DY_OK ||
        evaluate(ctx, random_model, train, test, &o, NULL, &random_row) != DY_OK) {
        cli_error(ctx, "random encoder");
        goto done;
    }
    progress_log(pr, "pretraining ...");
    double t_train = progress_now();
    if (dy_trainer_create(ctx, &cfg, train, test, &tr) != DY_OK) {
        cli_error(ctx, "pretrain");
        goto done;
    }
    cli_install_signal_handlers();
    dy_pretrain_callbacks cb = {.on_step = cli_on_step, .on_message = cli_on_message,
                                .on_epoch_end = cli_on_epoch_end, .user = &ui};
    dy_status st = dy_trainer_run(tr, &cb, &cli_stop_signal);
    progress_end(pr);
    if (st != DY_OK) {
        cli_error(ctx, "pretrain");
        if (st == DY_ERR_INTERRUPTED) status = 128 + (int)cli_stop_signal;
        goto done;
    }
    t_train = progress_now() - t_train;
    /* the trained encoder: load the final checkpoint into a head-less model, as `dystress eval` does */
    dy_model *trained_model = NULL;
    snprintf(path, sizeof path, "%s/checkpoint-final.safetensors", o.run_dir);
    if (cli_open_model(ctx, &o, train->channels, path, false, &trained_model) != DY_OK) {
        cli_error(ctx, "trained encoder");
        goto done;
    }
    progress_log(pr, "evaluating the trained encoder ...");
    st = evaluate(ctx, trained_model, train, test, &o, o.run_dir, &trained);
    dy_model_destroy(trained_model);
    if (st != DY_OK) {
        cli_error(ctx, "trained encoder");
        goto done;
    }
    printf("\n%s test top-1 (kNN: k %lld, t %g, cosine similarity; linear: Adam %g, batch %lld, %lld epochs on cached "
           "features)\n\n", o.data, (long long)o.knn_k, o.knn_t, dy_probe_defaults().lr,
           (long long)dy_probe_defaults().batch_size, (long long)dy_probe_defaults().epochs);
    printf("  %-36s %8s %8s\n", "features", "kNN", "linear");
    printf("  %-36s %7.2f%% %7.2f%%\n", "raw pixels", 100 * pixels.knn.top1, 100 * pixels.linear.top1);
    char name[80];
    snprintf(name, sizeof name, "random ResNet-%lld (width %lld)", (long long)o.depth, (long long)o.width);
    printf("  %-36s %7.2f%% %7.2f%%\n", name, 100 * random_row.knn.top1, 100 * random_row.linear.top1);
    if (strcmp(o.tau_adapt, "none") != 0)
        snprintf(name, sizeof name, "pretrained, adaptive tau, %lld epochs", (long long)o.epochs);
    else if (!strcmp(o.profile, "const"))
        snprintf(name, sizeof name, "pretrained, tau %g, %lld epochs", o.tau, (long long)o.epochs);
    else
        snprintf(name, sizeof name, "pretrained, %s tau %g-%g, %lld ep.", o.profile, o.tau_min, o.tau_max,
                 (long long)o.epochs);
    printf("  %-36s %7.2f%% %7.2f%%\n", name, 100 * trained.knn.top1, 100 * trained.linear.top1);
    /* the table as the report's final evaluation rows, then the report */
    const demo_row *rows[3] = {&pixels, &random_row, &trained};
    char names[3][80];
    snprintf(names[0], sizeof names[0], "raw pixels");
    snprintf(names[1], sizeof names[1], "random ResNet-%lld (width %lld)", (long long)o.depth, (long long)o.width);
    snprintf(names[2], sizeof names[2], "%s", name);
    snprintf(path, sizeof path, "%s/results.jsonl", o.run_dir);
    dy_atomic_file af;
    if (dy_atomic_open(ctx, &af, path) == DY_OK) {
        for (int i = 0; i < 3; i++)
            fprintf(af.fp, "{\"features\": \"%s\", \"knn_top1\": %.6f, \"knn_top5\": %.6f, \"linear_top1\": %.6f, "
                    "\"linear_top5\": %.6f}\n", names[i], rows[i]->knn.top1, rows[i]->knn.top5, rows[i]->linear.top1,
                    rows[i]->linear.top5);
        if (dy_atomic_commit(ctx, &af) != DY_OK) fprintf(stderr, "dystress demo: %s\n", dy_ctx_error(ctx));
    } else {
        fprintf(stderr, "dystress demo: %s\n", dy_ctx_error(ctx));
    }
    if (o.report) cli_write_report(&ui);
    printf("\npretraining %.0f s, whole job %.0f s; run directory %s%s\n", t_train, progress_now() - t_start, o.run_dir,
           o.report ? " (open report.html there in a browser)" : "");
    status = 0;
done:
    dy_trainer_destroy(tr);
    dy_model_destroy(random_model);
    dy_dataset_free(train);
    dy_dataset_free(test);
    dy_ctx_destroy(ctx);
    free(canonical);
    for (int i = 0; i < RUN_OWNED_PATHS; i++) free(owned[i]);
    return status;
}
