/* The options of a run (config.h): the table, by topic, what each option is to a run, and the checks across
 * options. */
#include "cli/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "data/source.h" /* DY_FASHION_MNIST_DIR */

/* Appends the table t (ended by {0}) to s[n..], keeps s ended by {0}; the new count. */
static int append(opt_spec *s, int n, const opt_spec *t) {
    while (t->name) s[n++] = *t++;
    s[n] = (opt_spec){0};
    return n;
}

/* The data set and its splits. */
static int data_options(opt_spec *s, int n, run_options *o) {
    const opt_spec t[] = {
        {"data", OPT_CHOICE, &o->data, "fashion-mnist", "data set",
         "fashion-mnist|mnist|cifar10|cifar100|cifar10-lt|cifar100-lt|stl10|folder"},
        {"data-dir", OPT_STRING, &o->data_dir, "", "folder of the data set (fashion-mnist: " DY_FASHION_MNIST_DIR
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
        {0},
    };
    return append(s, n, t);
}

/* The encoder and its projection head. */
static int model_options(opt_spec *s, int n, run_options *o) {
    const opt_spec t[] = {
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
        {0},
    };
    return append(s, n, t);
}

/* The framework, the temperature profile (and its adaptation and schedule) and MoCo's queue. */
static int loss_options(opt_spec *s, int n, run_options *o) {
    const opt_spec t[] = {
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
        {0},
    };
    return append(s, n, t);
}

/* The optimizer, its schedule and the loop: batches, epochs, threads, backend and plan, augmentation, the run
 * directory. */
static int training_options(opt_spec *s, int n, run_options *o) {
    const opt_spec t[] = {
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
        {0},
    };
    return append(s, n, t);
}

/* The kNN monitor and the report. */
static int evaluation_options(opt_spec *s, int n, run_options *o) {
    const opt_spec t[] = {
        {"knn-every", OPT_INT, &o->knn_every, "10", "epochs between kNN monitors (0: only at the end, -1: never)",
         NULL, -1, 1 << 20},
        {"knn-k", OPT_INT, &o->knn_k, "200", "kNN neighbours", NULL, 1, 1 << 20},
        {"knn-t", OPT_FLOAT, &o->knn_t, "0.1", "kNN temperature", NULL, 1e-6, 100},
        {"report", OPT_BOOL, &o->report, "true", "refresh RUN_DIR/report.html at each epoch end (dystress report "
         "RUN_DIR writes it at any time)"},
        {0},
    };
    return append(s, n, t);
}

int run_option_table(opt_spec *s, run_options *o) {
    int n = data_options(s, 0, o);
    n = model_options(s, n, o);
    n = loss_options(s, n, o);
    n = training_options(s, n, o);
    return evaluation_options(s, n, o);
}

int run_options_milestones(const char *text, int64_t *out, int max) {
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
    int n = run_options_milestones(o->milestones, m, OPT_INT_LIST_MAX);
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
