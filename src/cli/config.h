/* The run configuration shared by the subcommands: the options of `dystress pretrain` (data, model, loss,
 * optimizer, schedule, run directory), as a struct and its option table. A run directory's config.json is this
 * table written out, so eval/embed/export rebuild the same model and data from it. */
#ifndef DY_CLI_CONFIG_H
#define DY_CLI_CONFIG_H

#include "cli/options.h"
#include "dystress.h"
#include "train/pretrain.h"

typedef struct {
    /* data */
    const char *data, *data_dir, *test_dir, *cifar100_labels;
    double lt_ratio;
    int64_t image_size;
    bool skip_bad, stl10_unlabeled;
    /* model */
    int64_t depth, width, in_channels, head_hidden, head_out;
    const char *stem;
    /* framework and loss */
    const char *framework, *profile;
    double tau, tau_min, tau_max, shift_offset, shift_scale, moco_momentum;
    bool decoupled;
    int64_t moco_queue;
    /* optimizer and schedule */
    const char *optimizer, *schedule, *milestones;
    double lr, momentum, weight_decay, lars_eta, warmup_epochs, final_lr, gamma;
    bool nesterov, exclude_bn_bias;
    /* loop */
    int64_t batch_size, epochs, seed, threads, loader_threads, max_steps, checkpoint_every, knn_every, knn_k;
    double knn_t;
    const char *augment, *aug, *backend, *run_dir;
    bool resume, sync_bn;
} run_options;

#define RUN_OPTION_COUNT 64

/* Fills specs (at least RUN_OPTION_COUNT entries) with the table bound to o; returns the count. */
int run_option_table(opt_spec *specs, run_options *o);

/* Loads the training and test splits the options name (test may come back NULL for unlabelled data). */
dy_status cli_load_data(dy_ctx *ctx, const run_options *o, dy_dataset **train, dy_dataset **test);
/* Model configuration from the options (in_channels 0 = the data's). */
dy_model_config cli_model_config(const run_options *o, int data_channels);
/* The whole trainer configuration; augmentation preset applied to train. DY_ERR_INVALID with a message. */
dy_status cli_pretrain_config(dy_ctx *ctx, const run_options *o, const dy_dataset *train, dy_pretrain_config *c);
/* The temperature profile the options describe. */
dy_tau_profile cli_tau_profile(const run_options *o);
/* Applies "name=value;name=value" augmentation overrides. */
dy_status cli_apply_aug_overrides(dy_ctx *ctx, dy_augment *a, const char *overrides);
/* Context from --threads/--backend. Prints the reason and returns NULL on failure. */
dy_ctx *cli_context(int64_t threads, const char *backend);
/* The line that training on the reference ops prints first: they are the test oracle, not a fast path, and a user
 * who got them by accident (a build without oneDNN) should know before waiting hours. Empty for oneDNN. */
const char *cli_backend_warning(const dy_ctx *ctx);

#endif
