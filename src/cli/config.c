#include "cli/config.h"

#include "core/context.h"
#include "data/holdout.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

int run_option_table(opt_spec *s, run_options *o) {
    const opt_spec t[] = {
        /* data */
        {"data", OPT_CHOICE, &o->data, "fashion-mnist", "data set",
         "fashion-mnist|mnist|cifar10|cifar100|cifar10-lt|cifar100-lt|stl10|folder"},
        {"data-dir", OPT_STRING, &o->data_dir, "", "folder of the data set (fashion-mnist: " FASHION_MNIST_DIR
         "; folder: the training images, one sub-folder per class or any tree)"},
        {"test-dir", OPT_STRING, &o->test_dir, "", "folder data: the labelled test images (for kNN/linear)"},
        {"cifar100-labels", OPT_CHOICE, &o->cifar100_labels, "fine", "CIFAR-100 label set", "fine|coarse"},
        {"lt-ratio", OPT_FLOAT, &o->lt_ratio, "0.01", "long-tailed sets (cifar10-lt, cifar100-lt, --long-tail): "
         "imbalance r (class c keeps n_max r^(c/(C-1)), chosen by --seed)", NULL, 1e-6, 1},
        {"long-tail", OPT_BOOL, &o->long_tail, "false", "train on a long-tailed version of any labelled data set "
         "(fashion-mnist, mnist, stl10, folder, cifar10, cifar100) made as cifar10-lt is: --lt-ratio, --seed"},
        {"image-size", OPT_INT, &o->image_size, "96", "folder data: images resized to this side on load", NULL, 8, 4096},
        {"skip-bad", OPT_BOOL, &o->skip_bad, "false", "folder data: skip undecodable images (counted and named) "
         "instead of failing"},
        {"stl10-unlabeled", OPT_BOOL, &o->stl10_unlabeled, "false", "STL-10: pretrain on the 100k unlabelled images"},
        {"val-size", OPT_INT, &o->val_size, "0", "hold this many training images out as a validation split (chosen by "
         "--val-seed): training uses the rest, the kNN monitor runs on it, the test split is not opened", NULL, 0,
         (double)(1ll << 40)},
        {"val-seed", OPT_INT, &o->val_seed, "0", "seed of the validation split", NULL, 0, (double)(1ll << 53)},
        /* model */
        {"depth", OPT_INT, &o->depth, "18", "ResNet depth", "18|50"},
        {"width", OPT_INT, &o->width, "64", "base width (64 standard; 16-32 for quick CPU runs)", NULL, 1, 1024},
        {"stem", OPT_CHOICE, &o->stem, "cifar", "first layers: cifar (3x3, no pool) or imagenet (7x7/2 + pool)",
         "cifar|imagenet"},
        {"in-channels", OPT_INT, &o->in_channels, "0", "input channels (0: the data's)", NULL, 0, 64},
        {"head-hidden", OPT_INT, &o->head_hidden, "512", "projection head hidden width", NULL, 1, 65536},
        {"head-out", OPT_INT, &o->head_out, "128", "projection width d", NULL, 1, 65536},
        {"precision", OPT_CHOICE, &o->precision, "fp32", "arithmetic: fp32, or bf16 mixed precision (oneDNN on a CPU "
         "with AVX512-BF16: bf16 activations and convolutions; weights, gradients, checkpoints and the loss in fp32), "
         "or auto: bf16 where this CPU and backend run it, else fp32 with a note",
         "fp32|bf16|auto"},
        /* framework and loss */
        {"framework", OPT_CHOICE, &o->framework, "simclr", "simclr (batch negatives) or moco (momentum encoder + queue)",
         "simclr|moco"},
        {"profile", OPT_CHOICE, &o->profile, "cosine", "temperature profile", "const|cosine|shifted"},
        /* temperatures: the range dy_tau_check accepts */
        {"tau", OPT_FLOAT, &o->tau, "0.2", "const profile: the temperature", NULL, 1e-4, 1e4},
        {"tau-min", OPT_FLOAT, &o->tau_min, "0.07", "cosine/shifted: tau at the profile's minimum", NULL, 1e-4, 1e4},
        {"tau-max", OPT_FLOAT, &o->tau_max, "0.2", "cosine/shifted: tau at the plateau", NULL, 1e-4, 1e4},
        {"shift-offset", OPT_FLOAT, &o->shift_offset, "-0.4", "shifted profile: offset o (plateau for s > -o)", NULL,
         -2, 2},
        {"shift-scale", OPT_FLOAT, &o->shift_scale, "0.7", "shifted profile: scale k", NULL, 1e-6, 100},
        {"decoupled", OPT_BOOL, &o->decoupled, "false", "decoupled loss (DCL): positive removed from the denominator"},
        {"tau-adapt", OPT_CHOICE, &o->tau_adapt, "none", "adaptive profile: band steers tau-min and tau-max during "
         "training so the fractions of pairs near each (see metrics frac_tau_min/max) stay in [--tau-band-low, "
         "--tau-band-high] (cosine/shifted)", "none|band"},
        {"tau-band-low", OPT_FLOAT, &o->tau_band_low, "0.05", "--tau-adapt band: lower end of the target band", NULL,
         0, 1},
        {"tau-band-high", OPT_FLOAT, &o->tau_band_high, "0.3", "--tau-adapt band: upper end of the target band", NULL,
         0, 1},
        {"tau-adapt-rate", OPT_FLOAT, &o->tau_adapt_rate, "0.01", "--tau-adapt band: a bound moves by a factor "
         "exp(+-rate) per step", NULL, 1e-9, 1},
        {"tau-adapt-floor", OPT_FLOAT, &o->tau_adapt_floor, "0.02", "--tau-adapt band: lowest tau-min", NULL, 1e-4,
         1e4},
        {"tau-adapt-ceil", OPT_FLOAT, &o->tau_adapt_ceil, "1", "--tau-adapt band: highest tau-max", NULL, 1e-4, 1e4},
        {"tau-schedule", OPT_CHOICE, &o->tau_schedule, "constant", "the profile's level over training: constant, or "
         "every level (--tau, or --tau-min and --tau-max) multiplied by a factor going linearly or on a half cosine "
         "from 1 to --tau-end-ratio (or to --tau-end), or a table of (fraction of training, factor or levels) read "
         "from --tau-schedule-file; not with --tau-adapt band", "constant|linear|cosine|file"},
        {"tau-end", OPT_FLOAT, &o->tau_end, "0", "--tau-schedule linear/cosine, const profile: tau at the end of "
         "training (0: use --tau-end-ratio)", NULL, 0, 1e4},
        {"tau-end-ratio", OPT_FLOAT, &o->tau_end_ratio, "1", "--tau-schedule linear/cosine: the factor every level "
         "reaches at the end of training (0.1: 0.2 -> 0.02)", NULL, 1e-6, 1e6},
        {"tau-schedule-unit", OPT_CHOICE, &o->tau_schedule_unit, "steps", "--tau-schedule: the level changes every "
         "step, or at epoch boundaries only", "steps|epochs"},
        {"tau-schedule-file", OPT_STRING, &o->tau_schedule_file, "", "--tau-schedule file: a CSV table, rows "
         "fraction,factor (or a header fraction,tau / fraction,tau_min,tau_max for the levels themselves), fractions "
         "from 0 to 1; tools/tau_schedule_from_metrics.py writes one from a run's metrics.jsonl"},
        {"moco-momentum", OPT_FLOAT, &o->moco_momentum, "0.99", "MoCo: key encoder momentum", NULL, 0, 1},
        {"moco-queue", OPT_INT, &o->moco_queue, "4096", "MoCo: keys in the queue", NULL, 1, 1 << 24},
        /* optimizer */
        {"optimizer", OPT_CHOICE, &o->optimizer, "sgd", "optimizer", "sgd|lars|adam|adamw"},
        {"lr", OPT_FLOAT, &o->lr, "0.2", "base learning rate (the paper's small-scale recipe: 0.2)", NULL, 0, 1e3},
        {"momentum", OPT_FLOAT, &o->momentum, "0", "momentum (the paper's script passes none; SimCLR practice 0.9)",
         NULL, 0, 1},
        {"nesterov", OPT_BOOL, &o->nesterov, "false", "Nesterov momentum (SGD, LARS)"},
        {"weight-decay", OPT_FLOAT, &o->weight_decay, "5e-4", "weight decay", NULL, 0, 1},
        {"exclude-bn-bias", OPT_BOOL, &o->exclude_bn_bias, "false",
         "no weight decay (LARS: no adaptation either) on BN parameters and biases (always on for LARS)"},
        {"lars-eta", OPT_FLOAT, &o->lars_eta, "0.001", "LARS trust coefficient", NULL, 1e-9, 1},
        {"schedule", OPT_CHOICE, &o->schedule, "cosine", "learning-rate schedule", "cosine|step|constant"},
        {"warmup-epochs", OPT_FLOAT, &o->warmup_epochs, "0", "linear warm-up epochs", NULL, 0, 1e6},
        {"final-lr", OPT_FLOAT, &o->final_lr, "0", "cosine: learning rate at the end", NULL, 0, 1e3},
        {"milestones", OPT_INT_LIST, &o->milestones, "", "step schedule: up to 16 epochs, comma-separated, e.g. "
         "120,160 (none after --epochs)", NULL, 1, 1 << 20},
        {"gamma", OPT_FLOAT, &o->gamma, "0.1", "step schedule: factor at each milestone", NULL, 0, 1},
        /* loop */
        {"batch-size", OPT_INT, &o->batch_size, "128", "images per batch (each gives two views); under mpirun the "
         "global batch, split evenly over the processes", NULL, 2, 1 << 20},
        {"sync-bn", OPT_BOOL, &o->sync_bn, "false", "under mpirun: batch-norm statistics of the global batch "
         "(SyncBatchNorm), so the run equals one process's; else each process's own (as DDP)"},
        {"bucket-mb", OPT_FLOAT, &o->bucket_mb, "25", "under mpirun: gradients all-reduced in buckets of about this "
         "many MiB, each started as soon as the backward has finished it (DDP's bucket_cap_mb); 0: one all-reduce "
         "after the backward", NULL, 0, 1 << 20},
        {"epochs", OPT_INT, &o->epochs, "200", "epochs", NULL, 1, 1 << 20},
        {"max-steps", OPT_INT, &o->max_steps, "0", "stop after this many steps in all (0: all epochs)", NULL, 0,
         (double)(1ll << 40)},
        {"seed", OPT_INT, &o->seed, "0", "seed of initialisation, order and augmentations", NULL, 0,
         (double)(1ll << 53)},
        {"threads", OPT_INT, &o->threads, "0", "threads inside ops (0: all cores; under mpirun the cores of a node "
         "shared by its processes)", NULL, 0, 4096},
        {"loader-threads", OPT_INT, &o->loader_threads, "2", "data-loading worker threads", NULL, 1, 256},
        {"backend", OPT_CHOICE, &o->backend, "auto", "compute backend", "auto|ref|dnnl"},
        {"conv-algo", OPT_CHOICE, &o->conv_algo, "direct", "oneDNN convolutions: direct, or winograd for 3x3 "
         "stride-1 layers of 64 channels and more (fewer multiplications, rounding error about 10x direct's), or "
         "auto: the faster of the two on this CPU (the plan tuner measures)", "direct|winograd|auto"},
        {"layout", OPT_CHOICE, &o->layout, "auto", "oneDNN activation layout: blocked (nChw16c), nhwc (channels-"
         "last, oneDNN's AMX kernels on Intel CPUs that have them), or auto: the plan tuner times a few steps of "
         "each on this model, batch and CPU before training and keeps the fastest (cached)", "auto|blocked|nhwc"},
        {"plan-cache", OPT_BOOL, &o->plan_cache, "true", "keep the plan tuner's measurements in $XDG_CACHE_HOME/"
         "dystress (else ~/.cache/dystress) and reuse them; --no-plan-cache: measure every time, write nothing"},
        {"augment", OPT_CHOICE, &o->augment, "small", "augmentation preset: small (the paper's small-image recipe) "
         "or imagenet (224 crops, blur, solarisation)", "small|imagenet"},
        {"aug", OPT_STRING, &o->aug, "", "augmentation overrides 'name=value;...' (names as torchvision's, see "
         "man dystress)"},
        {"run-dir", OPT_STRING, &o->run_dir, "runs/pretrain", "run directory: config.json, metrics.jsonl, checkpoints"},
        {"config", OPT_STRING, &o->config, "", "a JSON file of options (a run's config.json, a tune's best.json) "
         "read first; the command line goes over it"},
        {"resume", OPT_BOOL, &o->resume, "false", "continue the run in --run-dir from its latest checkpoint"},
        {"overwrite", OPT_BOOL, &o->overwrite, "false", "replace what is there: pretrain/demo delete the run files of a "
         "used --run-dir and start afresh; export/embed/eval replace an existing output (never an input)"},
        {"checkpoint-every", OPT_INT, &o->checkpoint_every, "0", "steps between checkpoints (0: every epoch)", NULL, 0,
         (double)(1ll << 40)},
        {"knn-every", OPT_INT, &o->knn_every, "10", "epochs between kNN monitors (0: only at the end, -1: never)",
         NULL, -1, 1 << 20},
        {"knn-k", OPT_INT, &o->knn_k, "200", "kNN neighbours", NULL, 1, 1 << 20},
        {"knn-t", OPT_FLOAT, &o->knn_t, "0.1", "kNN temperature", NULL, 1e-6, 100},
        {"report", OPT_BOOL, &o->report, "true", "refresh RUN_DIR/report.html at each epoch end (dystress report "
         "RUN_DIR writes it at any time)"},
        {0},
    };
    int n = 0;
    while (t[n].name) n++;
    memcpy(s, t, (size_t)(n + 1) * sizeof *s);
    return n;
}

static dy_ctx *context(int64_t threads, const char *backend, dy_conv_algo conv_algo) {
    dy_ctx_options co = {.threads = (int)threads, .conv_algo = conv_algo};
    co.backend = !strcmp(backend, "ref") ? DY_BACKEND_REF : !strcmp(backend, "dnnl") ? DY_BACKEND_DNNL
                                                                                      : DY_BACKEND_AUTO;
    dy_ctx *ctx = NULL;
    dy_status st = dy_ctx_create(&ctx, &co);
    if (st != DY_OK) {
        fprintf(stderr, "dystress: cannot start: %s%s\n", dy_status_string(st),
                st == DY_ERR_UNSUPPORTED ? " (this build has no oneDNN; use --backend ref)" : "");
        return NULL;
    }
    return ctx;
}

dy_ctx *cli_context(int64_t threads, const char *backend) { return context(threads, backend, DY_CONV_DIRECT); }

dy_ctx *cli_run_context(int64_t threads, run_options *o) {
    dy_ctx *ctx =
        context(threads, o->backend, !strcmp(o->conv_algo, "winograd") ? DY_CONV_WINOGRAD : DY_CONV_DIRECT);
    if (!ctx) return NULL;
    if (!strcmp(o->layout, "nhwc")) dy_ctx_set_layout(ctx, DY_LAYOUT_NHWC);
    /* --precision auto: settled here, so the run's config.json records what ran (bf16 where it runs; the plan tuner
     * of pretrain and demo then measures whether it is faster than fp32 here) */
    o->precision_auto = false;
    if (!strcmp(o->precision, "auto")) {
        if (o->sync_bn) {
            fprintf(stderr, "note: --precision auto runs fp32 here: bf16 with --sync-bn is not implemented\n");
            o->precision = "fp32";
        } else if (dy_precision_check(ctx, DY_PRECISION_BF16) == DY_OK) {
            o->precision = "bf16";
            o->precision_auto = true;
        } else {
            fprintf(stderr, "note: --precision auto runs fp32 here: bf16 is not available (%s)\n", dy_ctx_error(ctx));
            o->precision = "fp32";
        }
    }
    /* --precision: refused here, before a run directory is made, where it cannot run */
    if (dy_precision_check(ctx, cli_model_config(o, 1).precision) != DY_OK) {
        fprintf(stderr, "dystress: --precision %s: %s\n", o->precision, dy_ctx_error(ctx));
        dy_ctx_destroy(ctx);
        return NULL;
    }
    return ctx;
}

const char *cli_backend_warning(const dy_ctx *ctx) {
    if (dy_ctx_backend(ctx) != DY_BACKEND_REF) return "";
    return dy_have_dnnl() ? "note: training on the plain-C reference ops (--backend ref), roughly 50x slower than "
                            "the oneDNN path this build also has"
                          : "note: this build has no oneDNN, so training runs on the plain-C reference ops, roughly "
                            "50x slower; install libdnnl-dev (scripts/deps.sh) and rebuild for the fast path";
}

/* Appends to buf the names in a (sorted) that are not in b (sorted), at most 5 then a count. */
static void names_missing(char *buf, size_t size, char *const *a, int na, char *const *b, int nb) {
    int shown = 0, more = 0;
    size_t len = strlen(buf);
    for (int i = 0, j = 0; i < na; i++) {
        while (j < nb && strcmp(b[j], a[i]) < 0) j++;
        if (j < nb && !strcmp(b[j], a[i])) continue;
        if (shown == 5) {
            more++;
            continue;
        }
        len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s'%s'", shown ? ", " : "", a[i]);
        if (len >= size) len = size - 1;
        shown++;
    }
    if (more) snprintf(buf + len, size - len, " and %d more", more);
    if (!shown) snprintf(buf + len, size - len, "none");
}

/* Image folders label images by the sorted names of their class folders: train and test must have the same names, or
 * label 3 means one class in one and another in the other (and kNN/linear scores are silently wrong). */
static dy_status same_classes(dy_ctx *ctx, const dy_dataset *train, const dy_dataset *test, const char *train_dir,
                              const char *test_dir) {
    bool same = train->num_classes == test->num_classes && train->class_names && test->class_names;
    for (int c = 0; same && c < train->num_classes; c++) same = !strcmp(train->class_names[c], test->class_names[c]);
    if (same) return DY_OK;
    if (!train->class_names || !test->class_names)
        return dy_fail(ctx, DY_ERR_FORMAT, "%s and %s: class names missing, cannot check that they match", train_dir,
                       test_dir);
    char only_train[512] = "", only_test[512] = "";
    names_missing(only_train, sizeof only_train, train->class_names, train->num_classes, test->class_names,
                  test->num_classes);
    names_missing(only_test, sizeof only_test, test->class_names, test->num_classes, train->class_names,
                  train->num_classes);
    return dy_fail(ctx, DY_ERR_FORMAT, "the class folders of --data-dir %s (%d classes) and --test-dir %s (%d) differ: "
                   "only in the training folder: %s; only in the test folder: %s", train_dir, train->num_classes,
                   test_dir, test->num_classes, only_train, only_test);
}

static dy_status load_data(dy_ctx *ctx, const run_options *o, dy_dataset **train, dy_dataset **test, bool with_test);

/* --skip-bad: how many images of a split were skipped and the first CLI_SKIPPED_SHOWN of them, on stderr. */
static void print_skipped(const char *split, const dy_dataset *ds) {
    if (!ds || !ds->skipped) return;
    fprintf(stderr, "dystress: --skip-bad: skipped %lld %s image%s that could not be read:", (long long)ds->skipped,
            split, ds->skipped > 1 ? "s" : "");
    for (int64_t i = 0; i < ds->skipped && i < CLI_SKIPPED_SHOWN; i++)
        fprintf(stderr, "%s %s", i ? "," : "", ds->skipped_files ? ds->skipped_files[i] : "?");
    if (ds->skipped > CLI_SKIPPED_SHOWN)
        fprintf(stderr, " and %lld more", (long long)(ds->skipped - CLI_SKIPPED_SHOWN));
    fputc('\n', stderr);
}

/* Images that are one flat colour carry nothing to learn from; a data set of nothing else (RGBA icons whose shapes
 * live only in the alpha channel, which decoding drops as torchvision's convert("RGB") does) makes every view alike,
 * and training then stops at its first step on a loss input of zero norm, which names no cause. Said here instead. */
static void print_flat(const char *split, const dy_dataset *ds) {
    if (!ds || ds->count < 1) return;
    const int64_t per_image = (int64_t)ds->channels * ds->height * ds->width;
    int64_t flat = 0, first = -1;
    for (int64_t i = 0; i < ds->count; i++) {
        const uint8_t *p = ds->pixels + i * per_image;
        int64_t k = 1;
        while (k < per_image && p[k] == p[0]) k++;
        if (k == per_image) flat++, first = first < 0 ? i : first;
    }
    if (flat * 2 > ds->count)
        fprintf(stderr, "dystress: warning: %lld of the %lld %s images are one flat colour (image %lld is the first); "
                "images whose shapes are only in an alpha channel decode that way (the alpha is dropped, as "
                "torchvision's convert(\"RGB\") does): contrastive training needs images that differ\n",
                (long long)flat, (long long)ds->count, split, (long long)first);
}

dy_status cli_load_data(dy_ctx *ctx, const run_options *o, dy_dataset **train, dy_dataset **test) {
    dy_status st = cli_load_data_quiet(ctx, o, train, test);
    if (st == DY_OK) {
        print_skipped("training", *train);
        print_skipped("test", *test);
        print_flat("training", *train);
    }
    return st;
}

dy_status cli_load_data_quiet(dy_ctx *ctx, const run_options *o, dy_dataset **train, dy_dataset **test) {
    *train = *test = NULL;
    if (o->val_size <= 0) return load_data(ctx, o, train, test, true);
    dy_dataset *all = NULL, *none = NULL;
    dy_status st = load_data(ctx, o, &all, &none, false); /* the test split is never opened */
    if (st != DY_OK) return st;
    /* an unlabelled training set may hold a split out too: tune's label-free score (RankMe) embeds it; the kNN
     * monitor leaves a split without labels alone */
    if (o->val_size >= all->count)
        st = dy_fail(ctx, DY_ERR_INVALID, "--val-size %lld leaves no training images (the training set has %lld)",
                     (long long)o->val_size, (long long)all->count);
    else
        st = dy_dataset_holdout(ctx, all, o->val_size, (uint64_t)o->val_seed, train, test);
    dy_dataset_free(all);
    return st;
}

/* Whether dir holds a folder (not a hidden one): a labelled image folder's classes. */
static bool has_subfolder(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return true; /* the reader names the problem */
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        found = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    }
    closedir(d);
    return found;
}

static dy_status load_data(dy_ctx *ctx, const run_options *o, dy_dataset **train, dy_dataset **test, bool with_test) {
    *train = *test = NULL;
    const char *dir = o->data_dir;
    bool mnist_like = !strcmp(o->data, "fashion-mnist") || !strcmp(o->data, "mnist");
    if (!*dir && !strcmp(o->data, "fashion-mnist")) dir = FASHION_MNIST_DIR;
    if (!*dir)
        return dy_fail(ctx, DY_ERR_INVALID, "--data %s needs --data-dir (where the files are)", o->data);
    dy_status st;
    if (mnist_like) {
        /* Fashion-MNIST's classes by their names (in eval --per-class and the report), MNIST's are its digits */
        dy_status (*load)(dy_ctx *, dy_dataset **, const char *, dy_split) =
            !strcmp(o->data, "fashion-mnist") ? dy_dataset_load_fashion_mnist : dy_dataset_load_mnist;
        if ((st = load(ctx, train, dir, DY_SPLIT_TRAIN)) != DY_OK) return st;
        if (with_test) st = load(ctx, test, dir, DY_SPLIT_TEST);
    } else if (!strncmp(o->data, "cifar10", 7) && strncmp(o->data, "cifar100", 8)) {
        if ((st = dy_dataset_load_cifar10(ctx, train, dir, DY_SPLIT_TRAIN)) != DY_OK) return st;
        if (with_test) st = dy_dataset_load_cifar10(ctx, test, dir, DY_SPLIT_TEST);
    } else if (!strncmp(o->data, "cifar100", 8)) {
        bool coarse = !strcmp(o->cifar100_labels, "coarse");
        if ((st = dy_dataset_load_cifar100(ctx, train, dir, DY_SPLIT_TRAIN, coarse)) != DY_OK) return st;
        if (with_test) st = dy_dataset_load_cifar100(ctx, test, dir, DY_SPLIT_TEST, coarse);
    } else if (!strcmp(o->data, "stl10")) {
        if ((st = dy_dataset_load_stl10(ctx, train, dir, o->stl10_unlabeled ? DY_SPLIT_UNLABELED : DY_SPLIT_TRAIN)) !=
            DY_OK)
            return st;
        if (with_test) st = dy_dataset_load_stl10(ctx, test, dir, DY_SPLIT_TEST);
    } else { /* folder */
        dy_image_folder_options fo = dy_image_folder_defaults();
        fo.size = (int)o->image_size;
        fo.skip_bad = o->skip_bad;
        /* a long tail needs the training set's labels; a validation split takes them where the folder has class
         * sub-folders (tune's kNN), and holds out unlabelled images of a folder without any (tune's RankMe) */
        fo.labelled = *o->test_dir != 0 || (!with_test && has_subfolder(dir)) || o->long_tail;
        if ((st = dy_dataset_load_image_folder(ctx, train, dir, &fo)) != DY_OK) return st;
        if (with_test && *o->test_dir) st = dy_dataset_load_image_folder(ctx, test, o->test_dir, &fo);
        if (st == DY_OK && *test) st = same_classes(ctx, *train, *test, dir, o->test_dir);
    }
    if (st == DY_OK && (strstr(o->data, "-lt") || o->long_tail)) {
        dy_dataset *lt = NULL;
        if ((*train)->num_classes < 2)
            st = dy_fail(ctx, DY_ERR_INVALID, "--long-tail needs a labelled training set of 2 classes or more (--data "
                         "%s%s has %d)", o->data,
                         !strcmp(o->data, "stl10") && o->stl10_unlabeled ? " --stl10-unlabeled" : "",
                         (*train)->num_classes);
        else
            st = dy_dataset_longtail(ctx, &lt, *train, o->lt_ratio, (uint64_t)o->seed);
        if (st == DY_OK) {
            dy_dataset_free(*train);
            *train = lt;
        }
    }
    if (st != DY_OK) {
        dy_dataset_free(*train);
        dy_dataset_free(*test);
        *train = *test = NULL;
    }
    return st;
}

dy_model_config cli_model_config(const run_options *o, int data_channels) {
    dy_model_config m = dy_model_config_default();
    m.depth = (int)o->depth;
    m.width = o->width;
    m.in_channels = o->in_channels > 0 ? o->in_channels : data_channels;
    m.stem = !strcmp(o->stem, "imagenet") ? DY_STEM_IMAGENET : DY_STEM_CIFAR;
    m.head = true;
    m.head_hidden = o->head_hidden;
    m.head_out = o->head_out;
    m.precision = !strcmp(o->precision, "bf16") ? DY_PRECISION_BF16 : DY_PRECISION_FP32;
    return m;
}

dy_tau_profile cli_tau_profile(const run_options *o) {
    if (!strcmp(o->profile, "const")) return dy_tau_constant((float)o->tau);
    if (!strcmp(o->profile, "shifted"))
        return dy_tau_shifted((float)o->tau_min, (float)o->tau_max, (float)o->shift_offset, (float)o->shift_scale);
    return dy_tau_cosine((float)o->tau_min, (float)o->tau_max);
}

dy_status cli_apply_aug_overrides(dy_ctx *ctx, dy_augment *a, const char *overrides) {
    char *copy = strdup(overrides), *save = NULL;
    if (!copy) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
    dy_status st = DY_OK;
    for (char *item = strtok_r(copy, ";", &save); item && st == DY_OK; item = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(item, '=');
        if (!eq) {
            st = dy_fail(ctx, DY_ERR_INVALID, "--aug: '%s' is not name=value", item);
            break;
        }
        *eq = 0;
        st = dy_augment_set(ctx, a, item, eq + 1);
    }
    free(copy);
    if (st == DY_OK) st = dy_augment_check(ctx, a);
    return st;
}

/* The epochs of --milestones (already checked by the option table: at most 16 integers in range). */
static int parse_milestones(const char *text, int64_t *out, int max) {
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || n == max) return -1;
        out[n++] = v;
        p = end;
        if (*p == ',') p++;
        else if (*p) return -1;
    }
    return n;
}

/* The temperature schedule's options together: what each schedule needs, nothing it would ignore. */
static int tau_schedule_check(const run_options *o, char *err, size_t err_size) {
    const char *k = o->tau_schedule;
    bool constant = !strcmp(k, "constant"), file = !strcmp(k, "file"), const_profile = !strcmp(o->profile, "const");
    bool end = o->tau_end != 0, ratio = o->tau_end_ratio != 1;
    if (!constant && !strcmp(o->tau_adapt, "band"))
        snprintf(err, err_size, "--tau-schedule %s cannot be combined with --tau-adapt band: the controller sets the "
                 "bounds at every step (to replay an adaptive run's bounds: --tau-schedule file with "
                 "tools/tau_schedule_from_metrics.py)", k);
    else if ((constant || file) && (end || ratio))
        snprintf(err, err_size, "--%s has no effect with --tau-schedule %s (%s)", end ? "tau-end" : "tau-end-ratio", k,
                 constant ? "choose linear or cosine to anneal" : "the file gives the levels");
    else if (!file && *o->tau_schedule_file)
        snprintf(err, err_size, "--tau-schedule-file needs --tau-schedule file (got %s)", k);
    else if (file && !*o->tau_schedule_file)
        snprintf(err, err_size, "--tau-schedule file needs --tau-schedule-file (the table)");
    else if (!constant && !file && !end && !ratio)
        snprintf(err, err_size, "--tau-schedule %s needs an end: --tau-end-ratio R (every level times R at the end)%s",
                 k, const_profile ? " or --tau-end TAU" : "");
    else if (end && ratio)
        snprintf(err, err_size, "--tau-end and --tau-end-ratio both give the end: choose one");
    else if (end && !const_profile)
        snprintf(err, err_size, "--tau-end sets the const profile's end; the %s profile's bounds are scaled by "
                 "--tau-end-ratio", o->profile);
    else if (end && (o->tau_end < 1e-4 || o->tau_end > 1e4))
        snprintf(err, err_size, "--tau-end %g is outside the supported temperatures [1e-4, 1e4]", o->tau_end);
    else
        return 0;
    return -1;
}

int run_options_check(const run_options *o, char *err, size_t err_size) {
    if (o->nesterov && !(o->momentum > 0)) {
        snprintf(err, err_size, "--nesterov needs --momentum above 0");
        return -1;
    }
    if (strcmp(o->profile, "const") != 0 && o->tau_min > o->tau_max) {
        snprintf(err, err_size, "--tau-min %g is above --tau-max %g (the %s profile goes from one to the other)",
                 o->tau_min, o->tau_max, o->profile);
        return -1;
    }
    int64_t m[OPT_INT_LIST_MAX];
    int n = parse_milestones(o->milestones, m, OPT_INT_LIST_MAX);
    if (n < 0) {
        snprintf(err, err_size, "--milestones must be up to %d epochs separated by commas, got '%s'",
                 OPT_INT_LIST_MAX, o->milestones);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (m[i] > o->epochs) {
            snprintf(err, err_size, "--milestones: epoch %lld is after the last epoch (--epochs %lld)",
                     (long long)m[i], (long long)o->epochs);
            return -1;
        }
    for (int i = 1; i < n; i++)
        if (m[i] <= m[i - 1]) {
            snprintf(err, err_size, "--milestones must be increasing epochs, got %lld after %lld in '%s'",
                     (long long)m[i], (long long)m[i - 1], o->milestones);
            return -1;
        }
    if (tau_schedule_check(o, err, err_size) != 0) return -1;
    /* MoCo enqueues the (global) batch's keys at every step: the queue must hold at least one batch */
    if (!strcmp(o->framework, "moco") && o->moco_queue < o->batch_size) {
        snprintf(err, err_size, "--moco-queue %lld is smaller than --batch-size %lld: the queue must hold at least one "
                 "(global) batch of keys", (long long)o->moco_queue, (long long)o->batch_size);
        return -1;
    }
    return 0;
}

dy_status cli_pretrain_config(dy_ctx *ctx, const run_options *o, const dy_dataset *train, dy_pretrain_config *c) {
    memset(c, 0, sizeof *c);
    char err[512];
    if (run_options_check(o, err, sizeof err) != 0) return dy_fail(ctx, DY_ERR_INVALID, "%s", err);
    c->model = cli_model_config(o, train->channels);
    c->framework = !strcmp(o->framework, "moco") ? DY_FRAMEWORK_MOCO : DY_FRAMEWORK_SIMCLR;
    c->moco_momentum = o->moco_momentum;
    c->moco_queue = o->moco_queue;
    c->tau = cli_tau_profile(o);
    dy_status st = dy_tau_check(ctx, &c->tau);
    if (st != DY_OK) return st;
    c->decoupled = o->decoupled;
    c->optimizer = !strcmp(o->optimizer, "lars")    ? DY_OPTIMIZER_LARS
                   : !strcmp(o->optimizer, "adam")  ? DY_OPTIMIZER_ADAM
                   : !strcmp(o->optimizer, "adamw") ? DY_OPTIMIZER_ADAMW
                                                    : DY_OPTIMIZER_SGD;
    c->lr = o->lr;
    c->momentum = o->momentum;
    c->weight_decay = o->weight_decay;
    c->lars_eta = o->lars_eta;
    c->adam_beta1 = 0.9;
    c->adam_beta2 = 0.999;
    c->nesterov = o->nesterov;
    c->exclude_bn_bias = o->exclude_bn_bias || c->optimizer == DY_OPTIMIZER_LARS;
    c->schedule = !strcmp(o->schedule, "step") ? DY_SCHEDULE_STEP
                  : !strcmp(o->schedule, "constant") ? DY_SCHEDULE_CONSTANT
                                                     : DY_SCHEDULE_COSINE;
    c->warmup_epochs = o->warmup_epochs;
    c->final_lr = o->final_lr;
    c->gamma = o->gamma;
    c->n_milestones = parse_milestones(o->milestones, c->milestones, 16);
    if (c->n_milestones < 0)
        return dy_fail(ctx, DY_ERR_INVALID, "--milestones must be up to 16 epochs separated by commas, got '%s'",
                       o->milestones);
    c->batch_size = o->batch_size;
    c->epochs = o->epochs;
    c->seed = (uint64_t)o->seed;
    c->loader_threads = (int)o->loader_threads;
    c->max_steps = o->max_steps;
    if ((st = dy_augment_preset(ctx, &c->augment, o->augment, train)) != DY_OK) return st;
    if (*o->aug && (st = cli_apply_aug_overrides(ctx, &c->augment, o->aug)) != DY_OK) return st;
    c->knn_every = o->knn_every;
    c->knn = dy_knn_defaults();
    c->knn.k = o->knn_k;
    c->knn.temperature = (float)o->knn_t;
    c->checkpoint_every = o->checkpoint_every;
    c->run_dir = o->run_dir;
    c->sync_bn = o->sync_bn;
    c->grad_bucket_bytes = (int64_t)(o->bucket_mb * (1 << 20));
    c->eval_split = o->val_size > 0 ? "val" : "test";
    c->tau_adapt = (dy_tau_adapt_config){.on = !strcmp(o->tau_adapt, "band"), .band_low = o->tau_band_low,
                                         .band_high = o->tau_band_high, .rate = o->tau_adapt_rate,
                                         .floor = o->tau_adapt_floor, .ceil = o->tau_adapt_ceil};
    if ((st = dy_tau_adapt_check(ctx, &c->tau_adapt, &c->tau)) != DY_OK) return st;
    return cli_tau_schedule(ctx, o, &c->tau, &c->tau_schedule);
}

dy_status cli_tau_schedule(dy_ctx *ctx, const run_options *o, const dy_tau_profile *p, dy_tau_schedule *s) {
    *s = (dy_tau_schedule){.kind = DY_TAU_SCHEDULE_CONSTANT, .end_ratio = 1};
    const char *k = o->tau_schedule;
    s->kind = !strcmp(k, "linear") ? DY_TAU_SCHEDULE_LINEAR : !strcmp(k, "cosine") ? DY_TAU_SCHEDULE_COSINE
              : !strcmp(k, "file") ? DY_TAU_SCHEDULE_FILE : DY_TAU_SCHEDULE_CONSTANT;
    s->per_epoch = !strcmp(o->tau_schedule_unit, "epochs");
    /* --tau-end X is the ratio X / tau: every schedule is a factor on the starting levels */
    s->end_ratio = o->tau_end != 0 ? o->tau_end / o->tau : o->tau_end_ratio;
    bool adapt = !strcmp(o->tau_adapt, "band");
    if (s->kind != DY_TAU_SCHEDULE_FILE) return dy_tau_schedule_check(ctx, s, p, adapt);
    /* the table is read and checked here, so that a bad file stops the command before a run directory is made; the
     * trainer reads it again (and keeps it) */
    s->file = o->tau_schedule_file;
    double *table = NULL;
    dy_status st = dy_tau_schedule_check(ctx, s, p, adapt);
    if (st == DY_OK) st = dy_tau_schedule_read(ctx, s->file, &s->table_kind, &table, &s->rows);
    if (st == DY_OK) {
        s->table = table;
        st = dy_tau_schedule_check(ctx, s, p, adapt);
    }
    free(table);
    s->table = NULL;
    return st;
}

/* Which options are the run's configuration. Invocation options say how this process runs (they never change the
 * numbers, or the README says so) and are not stored. Settings are kept in config.json but leave the numbers alone:
 * not in the checkpoint's configuration, free to change on resume. Changeable ones are stored and checked, but an
 * explicit command-line value on --resume replaces the stored one, with a notice. The rest are fixed for the life of
 * a run. */
static const char *const invocation_options[] = {"threads", "loader-threads", "max-steps", "backend", "run-dir",
                                                 "resume", "overwrite", "config", "bucket-mb", "plan-cache", NULL};
/* conv-algo and layout are how the oneDNN backend computes (their kernels round differently, as two CPUs' would):
 * kept in config.json, where a tuned run records the plan it chose, and free to change on resume */
static const char *const setting_options[] = {"checkpoint-every", "report", "conv-algo", "layout", NULL};
static const char *const changeable_options[] = {"epochs", "data-dir", "test-dir", "knn-every", "knn-k", "knn-t",
                                                 "precision", NULL};

static bool listed(const char *const *list, const char *name) {
    for (; *list; list++)
        if (!strcmp(*list, name)) return true;
    return false;
}

run_option_role run_option_role_of(const char *name) {
    if (listed(invocation_options, name)) return RUN_OPTION_INVOCATION;
    if (listed(setting_options, name)) return RUN_OPTION_SETTING;
    if (listed(changeable_options, name)) return RUN_OPTION_CHANGEABLE;
    return RUN_OPTION_FIXED;
}

const char *run_option_changeable_list(void) {
    return "--epochs, --data-dir, --test-dir, --knn-every, --knn-k, --knn-t, --precision";
}

/* Appends to a growing buffer; *failed on overflow of memory. */
typedef struct {
    char *s;
    size_t len, cap;
    bool failed;
} text_buf;

static void put(text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_buf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? 2 * b->cap : 1024) + (size_t)n;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->failed = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
}

/* One option's value as canonical text: numbers as parsed (0.2 and 2e-1 agree), strings with '\\' and control
 * characters escaped, so that a value is one line. */
static void put_value(text_buf *b, const opt_spec *s) {
    switch (s->type) {
    case OPT_INT: put(b, "%lld", (long long)*(int64_t *)s->value); break;
    case OPT_FLOAT: { /* the fewest digits that give the number back: 0.1, not 0.10000000000000001 */
        double v = *(double *)s->value;
        char digits[40];
        for (int precision = 15; precision <= 17; precision++) {
            snprintf(digits, sizeof digits, "%.*g", precision, v);
            if (strtod(digits, NULL) == v) break;
        }
        put(b, "%s", digits);
        break;
    }
    case OPT_BOOL: put(b, "%s", *(bool *)s->value ? "true" : "false"); break;
    case OPT_STRING:
    case OPT_CHOICE:
    case OPT_INT_LIST: /* kept as its text, "30,60" */
        for (const unsigned char *c = *(const unsigned char *const *)s->value; c && *c; c++) {
            if (*c == '\\') put(b, "\\\\");
            else if (*c < 0x20 || *c == 0x7f) put(b, "\\x%02x", *c);
            else put(b, "%c", *c);
        }
        break;
    }
}

char *run_config_canonical(const opt_spec *specs) {
    text_buf b = {0};
    put(&b, "dystress-config 1\n");
    for (const opt_spec *s = specs; s->name; s++) {
        run_option_role role = run_option_role_of(s->name);
        if (role == RUN_OPTION_INVOCATION || role == RUN_OPTION_SETTING) continue;
        put(&b, "%s=", s->name);
        put_value(&b, s);
        put(&b, "\n");
    }
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* The value of option name in a canonical text, as [*value, *value + *len); false when absent. */
static bool find_line(const char *text, const char *name, const char **value, size_t *len) {
    size_t n = strlen(name);
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t line = nl ? (size_t)(nl - p) : strlen(p);
        if (line > n && !strncmp(p, name, n) && p[n] == '=') {
            *value = p + n + 1;
            *len = line - n - 1;
            return true;
        }
        p = nl ? nl + 1 : NULL;
    }
    return false;
}

void run_config_value(const char *text, const char *name, char *value, size_t size) {
    const char *v;
    size_t len;
    if (find_line(text, name, &v, &len)) snprintf(value, size, "%.*s", (int)len, v);
    else snprintf(value, size, "(absent)");
}

int run_options_absolute_paths(opt_spec *specs, char **owned, char *err, size_t err_size) {
    static const char *const names[RUN_OWNED_PATHS] = {"data-dir", "test-dir", "tau-schedule-file"};
    for (int i = 0; i < RUN_OWNED_PATHS; i++) {
        opt_spec *s = opt_find(specs, names[i]);
        const char *v = *(const char **)s->value;
        if (!v || !*v) continue;
        char *abs = realpath(v, NULL);
        if (!abs) {
            snprintf(err, err_size, "--%s %s: %s", names[i], v, strerror(errno));
            return -1;
        }
        free(owned[i]);
        owned[i] = abs;
        *(const char **)s->value = abs;
    }
    return 0;
}
