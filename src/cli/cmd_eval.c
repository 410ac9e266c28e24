/* dystress eval knn|linear|finetune: accuracy of a trained encoder's features (or raw pixels, or a random encoder). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/session.h"
#include "eval/protocols.h"

typedef struct {
    const char *checkpoint, *features, *mode, *json;
    int64_t probe_epochs, probe_batch, labels_per_class, label_seed, ft_epochs, ft_batch;
    double probe_lr, probe_wd, label_fraction, ft_lr, ft_momentum, ft_wd;
    const char *ft_optimizer;
    bool per_class, probe_normalize;
    /* not options */
    const char *protocol; /* knn, linear or finetune (argv[2]) */
    bool pixels;          /* --features pixels */
} eval_options;

/* One evaluation: the bank (the training images the protocol learns from: all, or the labelled subset), the
 * features, the scores with the accuracy behind them, and the protocol as printed. */
typedef struct {
    cli_session *s;
    const eval_options *e;
    dy_dataset *subset;
    const dy_dataset *bank;
    float *ftr, *fte;
    int64_t dim;
    dy_eval_accuracy acc;
    dy_eval_scores scores;
    char description[64];
    double t0; /* when the evaluation proper began (the model opened) */
} eval_run;

static const char *usage =
    "usage: dystress eval knn|linear|finetune --checkpoint FILE [options]\n\n"
    "knn: weighted kNN (InstDisc monitor: k neighbours by cosine, weights exp(s/t)).\n"
    "linear: a linear classifier on the frozen features, Adam; --mode cached trains on features computed once,\n"
    "--mode augment is the paper's protocol (a fresh augmented view of each training image every epoch).\n"
    "finetune: the encoder and a linear head trained end to end on the (labelled) training images, SimCLR's\n"
    "semi-supervised protocol (with --label-fraction or --labels-per-class), then scored on the test split.";

/* argv[2] is the protocol, the options follow it. */
static int parse(cli_session *s, eval_options *e, int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[2], "knn") && strcmp(argv[2], "linear") && strcmp(argv[2], "finetune"))) {
        if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
            printf("%s\n", usage);
            return 0;
        }
        fprintf(stderr, "dystress eval: say which evaluation: knn, linear or finetune (see dystress eval --help)\n");
        return 2;
    }
    e->protocol = argv[2];
    const opt_spec extra[] = {
        {"checkpoint", OPT_STRING, &e->checkpoint, "", "checkpoint or weights file (empty: see --features)"},
        {"features", OPT_CHOICE, &e->features, "encoder", "what to evaluate: the encoder (from --checkpoint, or its "
         "seeded initialisation without one) or raw pixels", "encoder|pixels"},
        {"mode", OPT_CHOICE, &e->mode, "cached", "linear: cached features or augmented views each epoch",
         "cached|augment"},
        {"probe-epochs", OPT_INT, &e->probe_epochs, "100", "linear: epochs", NULL, 1, 100000},
        {"probe-batch", OPT_INT, &e->probe_batch, "512", "linear: batch size", NULL, 1, 1 << 20},
        {"probe-lr", OPT_FLOAT, &e->probe_lr, "1e-3", "linear: Adam learning rate", NULL, 0, 10},
        {"probe-wd", OPT_FLOAT, &e->probe_wd, "1e-6", "linear: Adam weight decay", NULL, 0, 1},
        {"probe-normalize", OPT_BOOL, &e->probe_normalize, "false", "linear: train and test on L2-normalised "
         "features (default: as the encoder gives them, as the reference code's probe)"},
        {"label-fraction", OPT_FLOAT, &e->label_fraction, "0", "few labels: the kNN bank and the probe's training "
         "set are this fraction of each class's training images (at least 1 a class; 0.01 and 0.1 as SimCLR; 0: all), "
         "the test split whole", NULL, 0, 1},
        {"labels-per-class", OPT_INT, &e->labels_per_class, "0", "few labels: this many training images a class (or "
         "all of a smaller class; with --label-fraction: at most this many; 0: all)", NULL, 0, (double)(1ll << 40)},
        {"label-seed", OPT_INT, &e->label_seed, "0", "few labels: seed of the labelled subset, the same for every "
         "checkpoint (paired comparisons; the subsets of one seed are nested)", NULL, 0, (double)(1ll << 53)},
        {"ft-epochs", OPT_INT, &e->ft_epochs, "10", "finetune: epochs over the labelled images", NULL, 1, 100000},
        {"ft-batch", OPT_INT, &e->ft_batch, "64", "finetune: batch size", NULL, 2, 1 << 20},
        {"ft-optimizer", OPT_CHOICE, &e->ft_optimizer, "sgd", "finetune: optimizer of the encoder and the head",
         "sgd|adam"},
        {"ft-lr", OPT_FLOAT, &e->ft_lr, "0.01", "finetune: learning rate (constant)", NULL, 0, 10},
        {"ft-momentum", OPT_FLOAT, &e->ft_momentum, "0.9", "finetune: SGD momentum", NULL, 0, 0.999},
        {"ft-wd", OPT_FLOAT, &e->ft_wd, "0", "finetune: weight decay (L2, every parameter)", NULL, 0, 1},
        {"per-class", OPT_BOOL, &e->per_class, "false", "print the accuracy of every class"},
        {"json", OPT_STRING, &e->json, "", "also write the scores to this JSON file"},
        {0},
    };
    /* parsed from argv[3] on by shifting */
    int rc = cli_session_parse(s, "eval", usage, extra, argc - 1, argv + 1, &e->checkpoint);
    e->pixels = rc == CLI_GO_ON && !strcmp(e->features, "pixels");
    return rc;
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

/* The bank (a labelled subset when asked for), the model unless raw pixels, and the features the kNN and the cached
 * probe learn from. CLI_GO_ON, or the exit status. */
static int prepare(eval_run *r) {
    cli_session *s = r->s;
    const eval_options *e = r->e;
    r->bank = s->train;
    /* few labels: the kNN bank and the probe's training set are a labelled subset; classes keep the full training
     * set's counts for the long-tail groups, and the normalisation its statistics */
    if (e->label_fraction > 0 || e->labels_per_class > 0) {
        if (dy_dataset_label_subset(s->ctx, &r->subset, s->train, e->label_fraction, e->labels_per_class,
                                    (uint64_t)e->label_seed) != DY_OK)
            return cli_error(s->ctx, "labels");
        r->bank = r->subset;
        print_labels(e, s->train, r->bank);
    }
    bool finetune = !strcmp(e->protocol, "finetune");
    if ((finetune || (!strcmp(e->protocol, "linear") && !strcmp(e->mode, "augment"))) && e->pixels) {
        fprintf(stderr, finetune ? "dystress eval finetune: needs an encoder, not --features pixels\n"
                                 : "dystress eval: --mode augment needs an encoder, not --features pixels\n");
        return 2;
    }
    int rc = e->pixels ? CLI_GO_ON : cli_session_model(s, e->checkpoint, s->train->channels, false);
    r->t0 = progress_now();
    if (rc != CLI_GO_ON || finetune) return rc;
    if (dy_eval_features(s->ctx, s->model, s->train, r->bank, &r->ftr, &r->dim) != DY_OK ||
        dy_eval_features(s->ctx, s->model, s->train, s->test, &r->fte, &r->dim) != DY_OK)
        return cli_error(s->ctx, "features");
    return CLI_GO_ON;
}

static void print_epoch(void *user, int64_t epoch, int64_t epochs, double mean_loss) {
    (void)user;
    fprintf(stderr, "fine-tuning epoch %lld/%lld: mean loss %.4f\n", (long long)epoch + 1, (long long)epochs,
            mean_loss);
}

/* The protocol on the prepared features (the fine-tuning on the images). */
static dy_status run_protocol(eval_run *r) {
    cli_session *s = r->s;
    const eval_options *e = r->e;
    dy_eval_detail detail = {.group_counts = s->train->class_counts, .acc = &r->acc};
    if (!strcmp(e->protocol, "knn")) {
        /* a small labelled bank holds fewer than k images: all of them vote */
        snprintf(r->description, sizeof r->description, "kNN (k %lld, t %g)",
                 (long long)dy_knn_neighbours(s->o.knn_k, r->bank->count), s->o.knn_t);
        return dy_eval_knn(s->ctx, r->ftr, r->bank, r->fte, s->test, r->dim, s->o.knn_k, s->o.knn_t, &detail,
                           &r->scores);
    }
    dy_augment aug;
    dy_status st;
    if (!strcmp(e->protocol, "finetune")) {
        dy_eval_finetune_plan plan = {.fo = dy_finetune_defaults(), .epochs = e->ft_epochs, .batch = e->ft_batch,
                                      .on_epoch = print_epoch};
        plan.fo.optimizer = !strcmp(e->ft_optimizer, "adam") ? DY_FINETUNE_ADAM : DY_FINETUNE_SGD;
        plan.fo.lr = e->ft_lr;
        plan.fo.momentum = e->ft_momentum;
        plan.fo.weight_decay = e->ft_wd;
        plan.fo.seed = (uint64_t)s->o.seed;
        snprintf(r->description, sizeof r->description, "fine-tune (%s, %lld epochs)", e->ft_optimizer,
                 (long long)e->ft_epochs);
        if ((st = cli_training_augment(s->ctx, &s->o, s->train, &aug)) != DY_OK) return st;
        return dy_eval_finetune(s->ctx, s->model, &aug, r->bank, s->train, s->test, &plan, &detail, &r->scores);
    }
    dy_probe_options po = {.epochs = e->probe_epochs, .batch_size = e->probe_batch, .lr = e->probe_lr,
                           .weight_decay = e->probe_wd, .seed = (uint64_t)s->o.seed};
    snprintf(r->description, sizeof r->description, "linear (%s%s, %lld epochs)", e->mode,
             e->probe_normalize ? ", normalised" : "", (long long)po.epochs);
    if (!strcmp(e->mode, "cached"))
        return dy_eval_linear_cached(s->ctx, r->ftr, r->bank, r->fte, s->test, r->dim, &po, e->probe_normalize,
                                     &detail, &r->scores);
    if ((st = cli_training_augment(s->ctx, &s->o, s->train, &aug)) != DY_OK) return st;
    return dy_eval_linear_augmented(s->ctx, s->model, &aug, r->bank, r->fte, s->test, &po, e->probe_normalize,
                                    &detail, &r->scores);
}

static void print_scores(const char *what, const char *protocol, const dy_eval_scores *s) {
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

/* The result: every class with --per-class, the scores, the data's line on stderr, the --json file. */
static int report(eval_run *r) {
    double seconds = progress_now() - r->t0;
    cli_session *s = r->s;
    const eval_options *e = r->e;
    const dy_dataset *train = s->train, *test = s->test;
    for (int64_t c = 0; e->per_class && c < r->acc.classes; c++)
        printf("    class %-3lld %-20s %6.2f %% (%lld images; %lld training)\n", (long long)c,
               r->bank->class_names ? r->bank->class_names[c] : "", 100 * r->acc.class_top1[c],
               (long long)r->acc.class_samples[c], (long long)train->class_counts[c]);
    const char *what = e->pixels ? "pixels" : *e->checkpoint ? "encoder" : "random";
    print_scores(what, r->description, &r->scores);
    if (r->subset)
        fprintf(stderr, "(%lld labelled of %lld train / %lld test images of %s, %.0f s)\n", (long long)r->bank->count,
                (long long)train->count, (long long)test->count, s->o.data, seconds);
    else
        fprintf(stderr, "(%lld train / %lld test images of %s, %.0f s)\n", (long long)train->count,
                (long long)test->count, s->o.data, seconds);
    dy_eval_label_subset labels = {.fraction = e->label_fraction, .per_class = e->labels_per_class,
                                   .seed = (uint64_t)e->label_seed, .labelled = r->bank};
    dy_eval_json_extra x = {.description = r->description, .acc = &r->acc, .train_counts = train->class_counts,
                            .class_names = train->class_names, .labels = &labels};
    if (*e->json && dy_eval_write_json(s->ctx, e->json, what, e->protocol, &r->scores, &x, train, test) != DY_OK)
        return cli_error(s->ctx, "--json");
    return 0;
}

int cmd_eval(int argc, char **argv) {
    eval_options e;
    cli_session s;
    int rc = parse(&s, &e, argc, argv);
    if (rc != CLI_GO_ON) return rc;
    if ((rc = cli_session_outputs(&s, e.checkpoint, NULL, (const char *const[]){e.json, NULL})) != CLI_GO_ON ||
        (rc = cli_session_data(&s)) != CLI_GO_ON)
        return cli_session_end(&s, rc);
    if (!s.test || s.test->num_classes == 0) {
        fprintf(stderr, "dystress eval: the data set has no labelled test split (folder data: give --test-dir)\n");
        return cli_session_end(&s, 2);
    }
    eval_run r = {.s = &s, .e = &e};
    if ((rc = prepare(&r)) == CLI_GO_ON) {
        if (run_protocol(&r) != DY_OK)
            rc = cli_error(s.ctx, !strcmp(e.protocol, "finetune") ? "fine-tuning"
                                  : !strcmp(e.protocol, "linear") ? "linear probe" : "kNN");
        else rc = report(&r);
    }
    free(r.ftr);
    free(r.fte);
    dy_eval_accuracy_free(&r.acc);
    dy_dataset_free(r.subset);
    return cli_session_end(&s, rc);
}
