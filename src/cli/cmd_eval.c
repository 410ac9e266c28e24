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
    int64_t probe_epochs, probe_batch, labels_per_class, label_seed, ft_epochs, ft_batch;
    double probe_lr, probe_wd, label_fraction, ft_lr, ft_momentum, ft_wd;
    const char *ft_optimizer;
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
        /* thirds of the classes by training images: defined for any long-tailed set (the thresholds above leave
         * groups empty on small sets) */
        const char *third[3] = {"head", "middle", "tail"};
        double w[3] = {s->head, s->middle, s->tail};
        int64_t k[3] = {s->head_classes, s->middle_classes, s->tail_classes};
        printf("\n%-10s %-28s", "", "thirds by training images");
        for (int g = 0; g < 3; g++) {
            if (isfinite(w[g])) printf("  %s %6.2f %% (%lld)", third[g], 100 * w[g], (long long)k[g]);
            else printf("  %s    n/a", third[g]);
        }
        if (isfinite(s->gap)) printf("  head-tail gap %.2f points", 100 * s->gap);
    }
    printf("\n");
}

/* Few labels: the labelled subset on one line (how many per class). */
static void print_labels(const eval_options *e, const dy_dataset *train, const dy_dataset *labelled) {
    char how[96];
    if (e->label_fraction > 0 && e->labels_per_class > 0)
        snprintf(how, sizeof how, "%g %% of each class's labels, at most %lld", 100 * e->label_fraction,
                 (long long)e->labels_per_class);
    else if (e->label_fraction > 0) snprintf(how, sizeof how, "%g %% of each class's labels", 100 * e->label_fraction);
    else snprintf(how, sizeof how, "%lld labels per class", (long long)e->labels_per_class);
    printf("%-10s %s (--label-seed %lld): %lld of %lld training images;", "labels", how, (long long)e->label_seed,
           (long long)labelled->count, (long long)train->count);
    int64_t lo = labelled->class_counts[0], hi = lo;
    for (int c = 1; c < labelled->num_classes; c++) {
        if (labelled->class_counts[c] < lo) lo = labelled->class_counts[c];
        if (labelled->class_counts[c] > hi) hi = labelled->class_counts[c];
    }
    if (lo == hi) printf(" %lld per class\n", (long long)lo);
    else if (labelled->num_classes <= 20) {
        printf(" per class");
        for (int c = 0; c < labelled->num_classes; c++) printf(" %lld", (long long)labelled->class_counts[c]);
        printf("\n");
    } else printf(" %lld to %lld per class\n", (long long)lo, (long long)hi);
}

int cmd_eval(int argc, char **argv) {
    const char *usage =
        "usage: dystress eval knn|linear|finetune --checkpoint FILE [options]\n\n"
        "knn: weighted kNN (InstDisc monitor: k neighbours by cosine, weights exp(s/t)).\n"
        "linear: a linear classifier on the frozen features, Adam; --mode cached trains on features computed once,\n"
        "--mode augment is the paper's protocol (a fresh augmented view of each training image every epoch).\n"
        "finetune: the encoder and a linear head trained end to end on the (labelled) training images, SimCLR's\n"
        "semi-supervised protocol (with --label-fraction or --labels-per-class), then scored on the test split.";
    if (argc < 3 || (strcmp(argv[2], "knn") && strcmp(argv[2], "linear") && strcmp(argv[2], "finetune"))) {
        if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
            printf("%s\n", usage);
            return 0;
        }
        fprintf(stderr, "dystress eval: say which evaluation: knn, linear or finetune (see dystress eval --help)\n");
        return 2;
    }
    bool linear = !strcmp(argv[2], "linear"), finetune = !strcmp(argv[2], "finetune");
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
        {"label-fraction", OPT_FLOAT, &e.label_fraction, "0", "few labels: the kNN bank and the probe's training "
         "set are this fraction of each class's training images (at least 1 a class; 0.01 and 0.1 as SimCLR; 0: all), "
         "the test split whole", NULL, 0, 1},
        {"labels-per-class", OPT_INT, &e.labels_per_class, "0", "few labels: this many training images a class (or "
         "all of a smaller class; with --label-fraction: at most this many; 0: all)", NULL, 0, (double)(1ll << 40)},
        {"label-seed", OPT_INT, &e.label_seed, "0", "few labels: seed of the labelled subset, the same for every "
         "checkpoint (paired comparisons; the subsets of one seed are nested)", NULL, 0, (double)(1ll << 53)},
        {"ft-epochs", OPT_INT, &e.ft_epochs, "10", "finetune: epochs over the labelled images", NULL, 1, 100000},
        {"ft-batch", OPT_INT, &e.ft_batch, "64", "finetune: batch size", NULL, 2, 1 << 20},
        {"ft-optimizer", OPT_CHOICE, &e.ft_optimizer, "sgd", "finetune: optimizer of the encoder and the head",
         "sgd|adam"},
        {"ft-lr", OPT_FLOAT, &e.ft_lr, "0.01", "finetune: learning rate (constant)", NULL, 0, 10},
        {"ft-momentum", OPT_FLOAT, &e.ft_momentum, "0.9", "finetune: SGD momentum", NULL, 0, 0.999},
        {"ft-wd", OPT_FLOAT, &e.ft_wd, "0", "finetune: weight decay (L2, every parameter)", NULL, 0, 1},
        {"per-class", OPT_BOOL, &e.per_class, "false", "print the accuracy of every class"},
        {"json", OPT_STRING, &e.json, "", "also write the scores to this JSON file"},
        {0},
    };
    run_options o;
    opt_spec specs[RUN_OPTION_COUNT + 32];
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
    dy_dataset *train = NULL, *test = NULL, *subset = NULL;
    dy_eval_accuracy acc = {0};
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
    /* few labels: the kNN bank and the probe's training set are a labelled subset; classes keep the full training
     * set's counts for the long-tail groups, and the normalisation its statistics */
    const dy_dataset *bank = train;
    if (e.label_fraction > 0 || e.labels_per_class > 0) {
        if (dy_dataset_label_subset(ctx, &subset, train, e.label_fraction, e.labels_per_class,
                                    (uint64_t)e.label_seed) != DY_OK) {
            cli_error(ctx, "labels");
            goto done;
        }
        bank = subset;
        print_labels(&e, train, bank);
    }
    bool pixels = !strcmp(e.features, "pixels");
    if (finetune && pixels) {
        fprintf(stderr, "dystress eval finetune: needs an encoder, not --features pixels\n");
        status = 2;
        goto done;
    }
    if (!pixels && cli_open_model(ctx, &o, train->channels, e.checkpoint, false, &model) != DY_OK) {
        cli_error(ctx, "model");
        goto done;
    }
    double t0 = progress_now();
    if (!finetune && (cli_features(ctx, model, train, bank, &ftr, &dim) != DY_OK ||
                      cli_features(ctx, model, train, test, &fte, &dim) != DY_OK)) {
        cli_error(ctx, "features");
        goto done;
    }
    const char *what = pixels ? "pixels" : *e.checkpoint ? "encoder" : "random";
    eval_scores s;
    char protocol[64];
    dy_status st;
    eval_detail detail = {.per_class = e.per_class, .group_counts = train->class_counts, .acc = &acc};
    if (finetune) {
        dy_finetune_options fo = dy_finetune_defaults();
        fo.optimizer = !strcmp(e.ft_optimizer, "adam") ? DY_FINETUNE_ADAM : DY_FINETUNE_SGD;
        fo.lr = e.ft_lr;
        fo.momentum = e.ft_momentum;
        fo.weight_decay = e.ft_wd;
        fo.seed = (uint64_t)o.seed;
        snprintf(protocol, sizeof protocol, "fine-tune (%s, %lld epochs)", e.ft_optimizer, (long long)e.ft_epochs);
        dy_augment aug;
        st = dy_augment_preset(ctx, &aug, o.augment, train);
        if (st == DY_OK && *o.aug) st = cli_apply_aug_overrides(ctx, &aug, o.aug);
        if (st == DY_OK)
            st = cli_finetune_detailed(ctx, model, &aug, bank, train, test, &fo, e.ft_epochs, e.ft_batch, &detail, &s);
    } else if (!linear) {
        /* a small labelled bank holds fewer than k images: all of them vote (as cli_knn clamps k) */
        int64_t k = o.knn_k < bank->count ? o.knn_k : bank->count;
        snprintf(protocol, sizeof protocol, "kNN (k %lld, t %g)", (long long)k, o.knn_t);
        st = cli_knn_detailed(ctx, ftr, bank, fte, test, dim, o.knn_k, o.knn_t, &detail, &s);
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
            if (st == DY_OK) st = cli_linear_augmented_detailed(ctx, model, &aug, bank, fte, test, &po,
                                                                   e.probe_normalize, &detail, &s);
        } else {
            st = cli_linear_cached_detailed(ctx, ftr, bank, fte, test, dim, &po, e.probe_normalize, &detail, &s);
        }
    }
    if (st != DY_OK) {
        cli_error(ctx, finetune ? "fine-tuning" : linear ? "linear probe" : "kNN");
        goto done;
    }
    print_scores(what, protocol, &s);
    if (subset)
        fprintf(stderr, "(%lld labelled of %lld train / %lld test images of %s, %.0f s)\n", (long long)bank->count,
                (long long)train->count, (long long)test->count, o.data, progress_now() - t0);
    else
        fprintf(stderr, "(%lld train / %lld test images of %s, %.0f s)\n", (long long)train->count,
                (long long)test->count, o.data, progress_now() - t0);
    eval_label_subset labels = {.fraction = e.label_fraction, .per_class = e.labels_per_class,
                                .seed = (uint64_t)e.label_seed, .labelled = bank};
    eval_json_extra json_extra = {.description = protocol, .acc = &acc, .train_counts = train->class_counts,
                                  .class_names = train->class_names, .labels = &labels};
    if (*e.json && cli_write_eval_json(ctx, e.json, what, argv[2], &s, &json_extra, train, test) != DY_OK) {
        cli_error(ctx, "--json");
        goto done;
    }
    status = 0;
done:
    free(ftr);
    free(fte);
    dy_eval_accuracy_free(&acc);
    dy_dataset_free(subset);
    dy_model_destroy(model);
    dy_dataset_free(train);
    dy_dataset_free(test);
    dy_ctx_destroy(ctx);
    free(text);
    return status;
}
