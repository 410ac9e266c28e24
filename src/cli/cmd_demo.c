/* dystress demo: the main job. A short pretraining on Fashion-MNIST, then kNN and linear evaluation of the trained
 * encoder beside raw pixels and a randomly initialised encoder of the same shape, measured with the same protocols. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/progress.h"
#include "core/context.h"
#include "eval/embed.h"
#include "eval/protocols.h"
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

/* A row of the demo's table: kNN and linear-probe scores of one kind of features. */
typedef struct {
    char name[80];
    dy_eval_scores knn, linear;
} demo_row;

/* An encoder's row (model without head); view_dir: where its retrieval grid and embedding maps go (NULL: none). */
static dy_status evaluate(dy_ctx *ctx, dy_model *model, const dy_dataset *train, const dy_dataset *test,
                          const run_options *o, const char *view_dir, demo_row *row) {
    float *ftr = NULL, *fte = NULL;
    int64_t dim;
    dy_status st = dy_eval_features(ctx, model, train, train, &ftr, &dim);
    if (st == DY_OK) st = dy_eval_features(ctx, model, train, test, &fte, &dim);
    if (st == DY_OK) st = dy_eval_knn(ctx, ftr, train, fte, test, dim, o->knn_k, o->knn_t, NULL, &row->knn);
    dy_probe_options po = dy_probe_defaults();
    po.seed = (uint64_t)o->seed;
    if (st == DY_OK) st = dy_eval_linear_cached(ctx, ftr, train, fte, test, dim, &po, false, NULL, &row->linear);
    if (st == DY_OK && view_dir)
        st = dy_encoder_view_write(ctx, view_dir, train, ftr, test, fte, dim, o->epochs, 0);
    free(ftr);
    free(fte);
    return st;
}

/* The raw-pixel row: the library's baseline (dy_eval_raw_pixels), with the kNN and probe settings of the others. */
static dy_status evaluate_pixels(dy_ctx *ctx, const dy_dataset *train, const dy_dataset *test, const run_options *o,
                                 demo_row *row) {
    int64_t *ltr = dy_labels_int64(train), *lte = dy_labels_int64(test);
    dy_knn_options ko = dy_knn_defaults();
    ko.k = dy_knn_neighbours(o->knn_k, train->count);
    ko.temperature = (float)o->knn_t;
    dy_probe_options po = dy_probe_defaults();
    po.seed = (uint64_t)o->seed;
    dy_raw_baseline b = {0};
    dy_status st = ltr && lte ? DY_OK : dy_fail(ctx, DY_ERR_NOMEM, "out of memory for labels");
    if (st == DY_OK)
        st = dy_eval_raw_pixels(ctx, train->pixels, ltr, train->count, test->pixels, lte, test->count,
                                (int64_t)train->channels * train->height * train->width, train->num_classes, &ko, &po,
                                &b);
    row->knn = (dy_eval_scores){.top1 = b.knn.top1, .top5 = b.knn.top5};
    row->linear = (dy_eval_scores){.top1 = b.linear.top1, .top5 = b.linear.top5};
    dy_raw_baseline_free(&b);
    free(ltr);
    free(lte);
    return st;
}

/* Demo defaults under the command line; a profile chosen there replaces the tune's winner as a whole, so the adaptive
 * controller stays off unless --tau-adapt is given too. CLI_GO_ON, or the exit status (help printed: 0). */
static int parse(opt_spec *specs, run_options *o, int argc, char **argv) {
    char err[512];
    int rc = opt_parse(specs, 0, argv, 0, NULL, 0, NULL, err, sizeof err);
    for (size_t i = 0; rc == 0 && i < sizeof demo_defaults / sizeof *demo_defaults; i++) {
        opt_spec *s = opt_find(specs, demo_defaults[i][0]);
        s->def = demo_defaults[i][1];
        rc = opt_set(s, s->def, err, sizeof err);
    }
    if (rc == 0) rc = opt_parse_over(specs, argc, argv, 2, NULL, 0, NULL, err, sizeof err);
    static const char *const profile_options[] = {"profile",   "tau",          "tau-min",
                                                  "tau-max",   "shift-offset", "shift-scale"};
    bool own_profile = false;
    for (size_t i = 0; i < sizeof profile_options / sizeof *profile_options; i++)
        own_profile |= opt_find(specs, profile_options[i])->set;
    if (rc == 0 && own_profile && !opt_find(specs, "tau-adapt")->set) o->tau_adapt = "none";
    if (rc == 0) rc = run_options_check(o, err, sizeof err);
    return cli_parse_outcome("demo", rc, "usage: dystress demo [options]\n\nThe main job: pretrain briefly on "
                             "Fashion-MNIST, then compare kNN and linear-probe accuracy of the\ntrained encoder with "
                             "raw pixels and a random encoder. Takes the options of dystress pretrain:\n", specs, err);
}

/* The demo never resumes: it starts afresh each time. It replaces the run files of its run directory only when that
 * directory was made by a demo (the mark file says so) or --overwrite is given; any other used directory is refused,
 * so `make demo` twice in a row works and nobody's pretraining run is deleted by a demo. *used: the directory holds
 * anything; *demo_made: a demo's. CLI_GO_ON, or the exit status. */
static int check_run_dir(const run_options *o, const opt_spec *specs, const char *mark, int *used, bool *demo_made) {
    char entry[256];
    *used = cli_dir_entry(o->run_dir, entry, sizeof entry);
    if (*used < 0) {
        fprintf(stderr, "dystress demo: cannot read --run-dir %s: %s\n", o->run_dir, strerror(errno));
        return 1;
    }
    *demo_made = *used && access(mark, F_OK) == 0;
    if (*used && !*demo_made && !o->overwrite) {
        fprintf(stderr, "dystress demo: %s holds files not made by a demo (%s); choose another --run-dir, or give "
                "--overwrite to delete its run files%s\n", o->run_dir, entry,
                opt_find((opt_spec *)specs, "run-dir")->set ? "" : " (a demo's folder from before the demo marked "
                "its own with " CLI_DEMO_MARKER " is refused once too)");
        return 2;
    }
    return CLI_GO_ON;
}

/* The run directory made (the previous run's files replaced), marked, and its config.json written; cfg gets the
 * canonical configuration its checkpoints store (*canonical). */
static int prepare_run_dir(dy_ctx *ctx, progress *pr, opt_spec *specs, const run_options *o, int used, bool demo_made,
                           const char *mark, char **owned, char **canonical, dy_pretrain_config *cfg) {
    char err[512], path[4200];
    if (dy_mkdirs(o->run_dir) != 0) {
        fprintf(stderr, "dystress demo: cannot create %s: %s\n", o->run_dir, strerror(errno));
        return 1;
    }
    if (used) {
        if (cli_clear_run_files(o->run_dir) < 0) {
            fprintf(stderr, "dystress demo: cannot delete the previous run's files in %s: %s\n", o->run_dir,
                    strerror(errno));
            return 1;
        }
        progress_log(pr, "dystress demo: replacing the previous %s in %s", demo_made ? "demo" : "run", o->run_dir);
    }
    if (write_mark(ctx, mark) != DY_OK) return cli_error(ctx, "demo");
    if (run_options_absolute_paths(specs, owned, err, sizeof err) != 0) {
        fprintf(stderr, "dystress demo: %s\n", err);
        return 1;
    }
    if (!(*canonical = run_config_canonical(specs))) {
        fprintf(stderr, "dystress demo: out of memory\n");
        return 1;
    }
    cfg->config_text = *canonical; /* stored in its checkpoints, as pretrain does */
    snprintf(path, sizeof path, "%s/config.json", o->run_dir);
    if (cli_write_config(ctx, path, specs) != DY_OK) return cli_error(ctx, "config");
    return CLI_GO_ON;
}

/* The raw pixels' and the random encoder's rows, before training. */
static int baselines(dy_ctx *ctx, progress *pr, const dy_pretrain_config *cfg, const dy_dataset *train,
                     const dy_dataset *test, const run_options *o, demo_row *rows) {
    snprintf(rows[0].name, sizeof rows[0].name, "raw pixels");
    snprintf(rows[1].name, sizeof rows[1].name, "random ResNet-%lld (width %lld)", (long long)o->depth,
             (long long)o->width);
    progress_log(pr, "evaluating raw pixels ...");
    if (evaluate_pixels(ctx, train, test, o, &rows[0]) != DY_OK) return cli_error(ctx, "pixels");
    progress_log(pr, "evaluating a randomly initialised encoder ...");
    dy_model_config mc = cfg->model;
    mc.head = false;
    dy_model *random_model = NULL;
    dy_status st = dy_model_create(ctx, &mc, (uint64_t)o->seed, &random_model);
    if (st == DY_OK) st = evaluate(ctx, random_model, train, test, o, NULL, &rows[1]);
    dy_model_destroy(random_model);
    return st == DY_OK ? CLI_GO_ON : cli_error(ctx, "random encoder");
}

/* Pretraining (its time in *seconds), then the trained encoder's row: the final checkpoint loaded into a head-less
 * model, as `dystress eval` does. */
static int train_and_evaluate(dy_ctx *ctx, cli_training *ui, const dy_pretrain_config *cfg, const dy_dataset *train,
                              const dy_dataset *test, const run_options *o, demo_row *row, double *seconds) {
    progress_log(&ui->pr, "pretraining ...");
    *seconds = progress_now();
    dy_trainer *tr = NULL;
    dy_status st = dy_trainer_create(ctx, cfg, train, test, &tr);
    if (st == DY_OK) st = cli_train(tr, ui);
    progress_end(&ui->pr);
    dy_trainer_destroy(tr);
    *seconds = progress_now() - *seconds;
    if (st != DY_OK) {
        cli_error(ctx, "pretrain");
        return st == DY_ERR_INTERRUPTED ? 128 + (int)cli_stop_signal : 1;
    }
    if (strcmp(o->tau_adapt, "none") != 0)
        snprintf(row->name, sizeof row->name, "pretrained, adaptive tau, %lld epochs", (long long)o->epochs);
    else if (!strcmp(o->profile, "const"))
        snprintf(row->name, sizeof row->name, "pretrained, tau %g, %lld epochs", o->tau, (long long)o->epochs);
    else
        snprintf(row->name, sizeof row->name, "pretrained, %s tau %g-%g, %lld ep.", o->profile, o->tau_min,
                 o->tau_max, (long long)o->epochs);
    dy_model *model = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/checkpoint-final.safetensors", o->run_dir);
    st = cli_open_model(ctx, o, train->channels, path, false, &model);
    if (st == DY_OK) {
        progress_log(&ui->pr, "evaluating the trained encoder ...");
        st = evaluate(ctx, model, train, test, o, o->run_dir, row);
    }
    dy_model_destroy(model);
    return st == DY_OK ? CLI_GO_ON : cli_error(ctx, "trained encoder");
}

/* The table on stdout, and the same rows as the report's final evaluation (results.jsonl). */
static void print_results(dy_ctx *ctx, const run_options *o, const demo_row *rows) {
    printf("\n%s test top-1 (kNN: k %lld, t %g, cosine similarity; linear: Adam %g, batch %lld, %lld epochs on cached "
           "features)\n\n", o->data, (long long)o->knn_k, o->knn_t, dy_probe_defaults().lr,
           (long long)dy_probe_defaults().batch_size, (long long)dy_probe_defaults().epochs);
    printf("  %-36s %8s %8s\n", "features", "kNN", "linear");
    for (int i = 0; i < 3; i++)
        printf("  %-36s %7.2f%% %7.2f%%\n", rows[i].name, 100 * rows[i].knn.top1, 100 * rows[i].linear.top1);
    char path[4200];
    snprintf(path, sizeof path, "%s/results.jsonl", o->run_dir);
    dy_atomic_file af;
    if (dy_atomic_open(ctx, &af, path) == DY_OK) {
        for (int i = 0; i < 3; i++)
            fprintf(af.fp, "{\"features\": \"%s\", \"knn_top1\": %.6f, \"knn_top5\": %.6f, \"linear_top1\": %.6f, "
                    "\"linear_top5\": %.6f}\n", rows[i].name, rows[i].knn.top1, rows[i].knn.top5, rows[i].linear.top1,
                    rows[i].linear.top5);
        if (dy_atomic_commit(ctx, &af) != DY_OK) fprintf(stderr, "dystress demo: %s\n", dy_ctx_error(ctx));
    } else {
        fprintf(stderr, "dystress demo: %s\n", dy_ctx_error(ctx));
    }
}

int cmd_demo(int argc, char **argv) {
    run_options o;
    opt_spec specs[RUN_OPTION_COUNT];
    run_option_table(specs, &o);
    int status = parse(specs, &o, argc, argv), used;
    if (status != CLI_GO_ON) return status;
    double t_start = progress_now(), t_train = 0;
    dy_ctx *ctx = cli_run_context(o.threads, &o);
    if (!ctx) return 1;
    char *canonical = NULL, *owned[RUN_OWNED_PATHS] = {NULL}, mark[4200], command[8192];
    dy_dataset *train = NULL, *test = NULL;
    dy_pretrain_config cfg;
    bool demo_made;
    cli_training ui = {.ctx = ctx, .run_dir = o.run_dir, .command = command, .report = o.report};
    progress_init(&ui.pr, stderr, 50);
    demo_row rows[3];
    snprintf(mark, sizeof mark, "%s/" CLI_DEMO_MARKER, o.run_dir);
    if ((status = check_run_dir(&o, specs, mark, &used, &demo_made)) != CLI_GO_ON) goto done;
    if ((status = cli_training_setup(ctx, "demo", &o, 1, true, true, &train, &test, &cfg)) != CLI_GO_ON) {
        if (!train && !strcmp(o.data, "fashion-mnist"))
            fprintf(stderr, "(install it with: apt-get install dataset-fashion-mnist, or run `make demo`)\n");
        goto done;
    }
    if ((status = prepare_run_dir(ctx, &ui.pr, specs, &o, used, demo_made, mark, owned, &canonical, &cfg)) != CLI_GO_ON)
        goto done;
    cli_reproduce_command(specs, command, sizeof command);
    progress_log(&ui.pr, "dystress demo: %lld train / %lld test images of %s, ResNet-%lld width %lld, %s profile%s%s, "
                 "%lld epochs of batch %lld; backend %s, %s, %d threads", (long long)train->count,
                 (long long)test->count, o.data, (long long)o.depth, (long long)o.width, o.profile,
                 strcmp(o.tau_adapt, "none") ? " with --tau-adapt " : "",
                 strcmp(o.tau_adapt, "none") ? o.tau_adapt : "",
                 (long long)o.epochs, (long long)o.batch_size, dy_backend_name(dy_ctx_backend(ctx)), o.precision,
                 dy_ctx_threads(ctx));
    if (*cli_backend_warning(ctx)) progress_log(&ui.pr, "%s", cli_backend_warning(ctx));
    if ((status = baselines(ctx, &ui.pr, &cfg, train, test, &o, rows)) != CLI_GO_ON) goto done;
    if ((status = train_and_evaluate(ctx, &ui, &cfg, train, test, &o, &rows[2], &t_train)) != CLI_GO_ON) goto done;
    print_results(ctx, &o, rows);
    if (o.report) cli_write_report(&ui);
    printf("\npretraining %.0f s, whole job %.0f s; run directory %s%s\n", t_train, progress_now() - t_start, o.run_dir,
           o.report ? " (open report.html there in a browser)" : "");
    status = 0;
done:
    dy_dataset_free(train);
    dy_dataset_free(test);
    dy_ctx_destroy(ctx);
    free(canonical);
    for (int i = 0; i < RUN_OWNED_PATHS; i++) free(owned[i]);
    return status;
}
