/* dystress eval knn|linear: accuracy of a trained encoder's features (or raw pixels, or a random encoder). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/evaluate.h"
#include "cli/progress.h"
#include "io/atomic_file.h"
#include "io/npy.h"

typedef struct {
    const char *checkpoint, *features, *mode, *json;
    int64_t probe_epochs, probe_batch;
    double probe_lr, probe_wd;
    bool per_class, probe_normalize;
} eval_options;

static void print_scores(const char *what, const char *protocol, const eval_scores *s) {
    printf("%-10s %-28s top-1 %6.2f %%  top-5 %6.2f %%", what, protocol, 100 * s->top1, 100 * s->top5);
    if (s->has_shots) {
        const char *names[3] = {"many", "medium", "few"};
        double v[3] = {s->many, s->medium, s->few};
        for (int g = 0; g < 3; g++) { /* NaN: no class in the group */
            if (isfinite(v[g])) printf("  %s %6.2f %%", names[g], 100 * v[g]);
            else printf("  %s    n/a  ", names[g]);
        }
    }
    printf("\n");
}

int cmd_eval(int argc, char **argv) {
    const char *usage =
        "usage: dystress eval knn|linear --checkpoint FILE [options]\n\n"
        "knn: weighted kNN (InstDisc monitor: k neighbours by cosine, weights exp(s/t)).\n"
        "linear: a linear classifier on the frozen features, Adam; --mode cached trains on features computed once,\n"
        "--mode augment is the paper's protocol (a fresh augmented view of each training image every epoch).";
    if (argc < 3 || (strcmp(argv[2], "knn") && strcmp(argv[2], "linear"))) {
        if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
            printf("%s\n", usage);
            return 0;
        }
        fprintf(stderr, "dystress eval: say which evaluation: knn or linear (see dystress eval --help)\n");
        return 2;
    }
    bool linear = !strcmp(argv[2], "linear");
    eval_options e;
    const opt_spec extra[] = {
        {"checkpoint", OPT_STRING, &e.checkpoint, "", "checkpoint or weights file (empty: see --features)"},
        {"features", OPT_CHOICE, &e.features, "encoder", "what to evaluate: the encoder (from --checkpoint, or its "
         "seeded initialisation without one) or raw pixels", "encoder|pixels"},
        {"mode", OPT_CHOICE, &e.mode, "cached", "linear: cached features or augmented views each epoch",
         "cached|augment"},
        {"probe-epochs", OPT_INT, &e.probe_epochs, "100", "linear: epochs", NULL, 1, 100000},
        {"probe-batch", OPT_INT, &e.probe_batch, "512", "linear: batch size", NULL, 1, 1 << 20},
        {"probe-lr", OPT_FLOAT, &e.probe_lr, "1e-3", "linear: Adam learning rate", NULL, 0, 10},
        {"probe-wd", OPT_FLOAT, &e.probe_wd, "1e-6", "linear: Adam weight decay", NULL, 0, 1},
        {"probe-normalize", OPT_BOOL, &e.probe_normalize, "false", "linear: train and test on L2-normalised "
         "features (default: as the encoder gives them, as the reference code's probe)"},
        {"per-class", OPT_BOOL, &e.per_class, "false", "print the accuracy of every class"},
        {"json", OPT_STRING, &e.json, "", "also write the scores to this JSON file"},
        {0},
    };
    run_options o;
    opt_spec specs[RUN_OPTION_COUNT + 16];
    char *text = NULL;
    /* argv[2] is the protocol: parse from argv[3] on by shifting */
    int rc = cli_parse_model_command(usage, specs, &o, extra, argc - 1, argv + 1, &e.checkpoint, &text);
    if (rc) return rc == 1 ? 0 : 2;
    if (*e.json) {
        char config[4200];
        cli_config_beside(e.checkpoint, config, sizeof config);
        const char *inputs[] = {e.checkpoint, config, NULL};
        if (cli_check_output("eval", e.json, o.overwrite, inputs) != 0) {
            free(text);
            return 2;
        }
    }
    dy_ctx *ctx = cli_run_context(o.threads, &o);
    if (!ctx) {
        free(text);
        return 1;
    }
    int status = 1;
    dy_dataset *train = NULL, *test = NULL;
    dy_model *model = NULL;
    float *ftr = NULL, *fte = NULL;
    int64_t dim = 0;
    if (cli_load_data(ctx, &o, &train, &test) != DY_OK) {
        cli_error(ctx, "data");
        goto done;
    }
    if (!test || test->num_classes == 0) {
        fprintf(stderr, "dystress eval: the data set has no labelled test split (folder data: give --test-dir)\n");
        status = 2;
        goto done;
    }
    bool pixels = !strcmp(e.features, "pixels");
    if (!pixels && cli_open_model(ctx, &o, train->channels, e.checkpoint, false, &model) != DY_OK) {
        cli_error(ctx, "model");
        goto done;
    }
    double t0 = progress_now();
    if (cli_features(ctx, model, train, train, &ftr, &dim) != DY_OK || cli_features(ctx, model, train, test, &fte, &dim) != DY_OK) {
        cli_error(ctx, "features");
        goto done;
    }
    const char *what = pixels ? "pixels" : *e.checkpoint ? "encoder" : "random";
    eval_scores s;
    char protocol[64];
    dy_status st;
    if (!linear) {
        snprintf(protocol, sizeof protocol, "kNN (k %lld, t %g)", (long long)o.knn_k, o.knn_t);
        st = cli_knn(ctx, ftr, train, fte, test, dim, o.knn_k, o.knn_t, e.per_class, &s);
    } else {
        dy_probe_options po = dy_probe_defaults();
        po.epochs = e.probe_epochs;
        po.batch_size = e.probe_batch;
        po.lr = e.probe_lr;
        po.weight_decay = e.probe_wd;
        po.seed = (uint64_t)o.seed;
        bool augment = !strcmp(e.mode, "augment");
        if (augment && pixels) {
            fprintf(stderr, "dystress eval: --mode augment needs an encoder, not --features pixels\n");
            status = 2;
            goto done;
        }
        snprintf(protocol, sizeof protocol, "linear (%s%s, %lld epochs)", e.mode,
                 e.probe_normalize ? ", normalised" : "", (long long)po.epochs);
        if (augment) {
            dy_augment aug;
            st = dy_augment_preset(ctx, &aug, o.augment, train);
            if (st == DY_OK && *o.aug) st = cli_apply_aug_overrides(ctx, &aug, o.aug);
            if (st == DY_OK) st = cli_linear_augmented(ctx, model, &aug, train, fte, test, &po, e.probe_normalize,
                                                          e.per_class, &s);
        } else {
            st = cli_linear_cached(ctx, ftr, train, fte, test, dim, &po, e.probe_normalize, e.per_class, &s);
        }
    }
    if (st != DY_OK) {
        cli_error(ctx, linear ? "linear probe" : "kNN");
        goto done;
    }
    print_scores(what, protocol, &s);
    fprintf(stderr, "(%lld train / %lld test images of %s, %.0f s)\n", (long long)train->count,
            (long long)test->count, o.data, progress_now() - t0);
    if (*e.json && cli_write_scores_json(ctx, e.json, what, argv[2], &s, train, test) != DY_OK) {
        cli_error(ctx, "--json");
        goto done;
    }
    status = 0;
done:
    free(ftr);
    free(fte);
    dy_model_destroy(model);
    dy_dataset_free(train);
    dy_dataset_free(test);
    dy_ctx_destroy(ctx);
    free(text);
    return status;
}
