/* The run options turned into what the library takes: the context, the data, the model, loss and trainer
 * configurations. */
#include "cli/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "data/source.h"

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
    int64_t first, flat = dy_dataset_flat_images(ds, &first);
    if (ds && flat * 2 > ds->count)
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
    dy_data_source s = {.name = o->data, .dir = o->data_dir, .test_dir = o->test_dir,
                        .cifar100_coarse = !strcmp(o->cifar100_labels, "coarse"),
                        .stl10_unlabeled = o->stl10_unlabeled, .long_tail = o->long_tail, .lt_ratio = o->lt_ratio,
                        .seed = (uint64_t)o->seed, .image_size = o->image_size, .skip_bad = o->skip_bad,
                        .val_size = o->val_size, .val_seed = (uint64_t)o->val_seed};
    return dy_data_source_load(ctx, &s, train, test);
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

dy_status cli_training_augment(dy_ctx *ctx, const run_options *o, const dy_dataset *train, dy_augment *a) {
    dy_status st = dy_augment_preset(ctx, a, o->augment, train);
    if (st == DY_OK && *o->aug) st = cli_apply_aug_overrides(ctx, a, o->aug);
    return st;
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
    c->n_milestones = run_options_milestones(o->milestones, c->milestones, 16);
    if (c->n_milestones < 0)
        return dy_fail(ctx, DY_ERR_INVALID, "--milestones must be up to 16 epochs separated by commas, got '%s'",
                       o->milestones);
    c->batch_size = o->batch_size;
    c->epochs = o->epochs;
    c->seed = (uint64_t)o->seed;
    c->loader_threads = (int)o->loader_threads;
    c->max_steps = o->max_steps;
    if ((st = cli_training_augment(ctx, o, train, &c->augment)) != DY_OK) return st;
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
