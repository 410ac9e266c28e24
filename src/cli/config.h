/* The run configuration shared by the subcommands: the options of `dystress pretrain` (data, model, loss,
 * optimizer, schedule, run directory), as a struct and its option table. A run directory's config.json is this
 * table written out, so eval/embed/export rebuild the same model and data from it. The table, the roles of its
 * options and the checks across them are in src/cli/run_options.c; the options turned into the library's
 * configurations (context, data, model, trainer) in src/cli/config.c; config.json and the canonical text in
 * src/cli/run_config.c (declared in commands.h). */
#ifndef DY_CLI_CONFIG_H
#define DY_CLI_CONFIG_H

#include "cli/options.h"
#include "dystress.h"
#include "eval/protocols.h"
#include "train/pretrain.h"

typedef struct {
    /* data */
    const char *data, *data_dir, *test_dir, *cifar100_labels;
    double lt_ratio;
    int64_t image_size;
    bool skip_bad, stl10_unlabeled, long_tail;
    /* model */
    int64_t depth, width, in_channels, head_hidden, head_out;
    const char *stem, *precision;
    /* framework and loss */
    const char *framework, *profile;
    double tau, tau_min, tau_max, shift_offset, shift_scale, moco_momentum;
    bool decoupled;
    int64_t moco_queue;
    /* the adaptive profile (src/train/tau_adapt.h) */
    const char *tau_adapt;
    double tau_band_low, tau_band_high, tau_adapt_rate, tau_adapt_floor, tau_adapt_ceil;
    /* the temperature schedule (src/train/tau_schedule.h) */
    const char *tau_schedule, *tau_schedule_unit, *tau_schedule_file;
    double tau_end, tau_end_ratio;
    /* a validation split held out of the training set (model selection without the test split) */
    int64_t val_size, val_seed;
    /* optimizer and schedule */
    const char *optimizer, *schedule, *milestones;
    double lr, momentum, weight_decay, lars_eta, warmup_epochs, final_lr, gamma;
    bool nesterov, exclude_bn_bias;
    /* loop */
    int64_t batch_size, epochs, seed, threads, loader_threads, max_steps, checkpoint_every, knn_every, knn_k;
    double knn_t, bucket_mb;
    const char *augment, *aug, *backend, *conv_algo, *run_dir, *config;
    bool resume, overwrite, report, sync_bn;
    /* how the oneDNN backend runs it (the plan: src/cli/plan.c) */
    const char *layout;
    bool plan_cache;
    bool precision_auto; /* not an option: --precision auto was given and bf16 runs here (the tuner may pick fp32) */
} run_options;

#define RUN_OPTION_COUNT 96

/* Fills specs (at least RUN_OPTION_COUNT entries) with the table bound to o, by topic (data, model, loss, training,
 * evaluation); returns the count. */
int run_option_table(opt_spec *specs, run_options *o);

/* What an option is to a run (src/cli/run_options.c has the lists): invocation options (threads, backend, run-dir,
 * max-steps, ...) are not part of its configuration; settings (checkpoint-every) are kept in config.json, may change
 * on resume and leave the numbers alone, so checkpoints do not store them; changeable ones (epochs, data paths, the
 * kNN monitor) are stored, but may be changed on the command line of a resume, with a notice; fixed ones never
 * change. */
typedef enum { RUN_OPTION_FIXED, RUN_OPTION_CHANGEABLE, RUN_OPTION_SETTING, RUN_OPTION_INVOCATION } run_option_role;
run_option_role run_option_role_of(const char *name);
/* "--epochs, --data-dir, ...": the changeable options, for messages. */
const char *run_option_changeable_list(void);
/* The run's configuration as canonical text: a version line, then "name=value" per stored option in table order,
 * values as parsed (so 0.2 and 2e-1 agree). What a checkpoint stores as trainer.config. malloc'ed; NULL when out of
 * memory. */
char *run_config_canonical(const opt_spec *specs);
/* The value of option name in a canonical text, or "(absent)". */
void run_config_value(const char *text, const char *name, char *value, size_t size);
/* Replaces --data-dir, --test-dir and --tau-schedule-file (when given) by absolute, resolved paths, so that a run
 * resumes, and its checkpoints evaluate, from any working directory. owned[RUN_OWNED_PATHS] keeps the strings (free
 * each). -1 with err when a path does not resolve. */
#define RUN_OWNED_PATHS 3
int run_options_absolute_paths(opt_spec *specs, char **owned, char *err, size_t err_size);

/* The checks that involve more than one option (each option's own range is in the table, checked when parsed):
 * --nesterov needs momentum, tau-min <= tau-max, milestones increasing and none after the last epoch, a MoCo queue of
 * at least one batch. 0, or -1 with a message. */
int run_options_check(const run_options *o, char *err, size_t err_size);
/* The epochs of --milestones text (at most max): their count, or -1 when it is not a list of integers. */
int run_options_milestones(const char *text, int64_t *out, int max);
/* Loads the training and test splits the options name (test may come back NULL for unlabelled data). With
 * --val-size N the test split is not even opened: *train is the training set less N images held out by --val-seed
 * (src/data/holdout.h) and *test is those N images, the validation split. */
dy_status cli_load_data(dy_ctx *ctx, const run_options *o, dy_dataset **train, dy_dataset **test);
/* cli_load_data prints, for --skip-bad, how many images of each split were skipped and the first CLI_SKIPPED_SHOWN
 * names (the run's files record them: skipped-images.txt of a pretraining run, the eval --json file); the quiet
 * form prints nothing. */
#define CLI_SKIPPED_SHOWN DY_EVAL_SKIPPED_SHOWN /* as many as the eval --json file names */
dy_status cli_load_data_quiet(dy_ctx *ctx, const run_options *o, dy_dataset **train, dy_dataset **test);
/* Model configuration from the options (in_channels 0 = the data's). */
dy_model_config cli_model_config(const run_options *o, int data_channels);
/* The whole trainer configuration; augmentation preset applied to train. DY_ERR_INVALID with a message. */
dy_status cli_pretrain_config(dy_ctx *ctx, const run_options *o, const dy_dataset *train, dy_pretrain_config *c);
/* The temperature schedule the options describe, checked with profile p (a file's table read, checked and freed:
 * *s names the file and the trainer reads it). DY_ERR_INVALID/DY_ERR_IO/DY_ERR_FORMAT with a message. */
dy_status cli_tau_schedule(dy_ctx *ctx, const run_options *o, const dy_tau_profile *p, dy_tau_schedule *s);
/* The temperature profile the options describe. */
dy_tau_profile cli_tau_profile(const run_options *o);
/* Applies "name=value;name=value" augmentation overrides. */
dy_status cli_apply_aug_overrides(dy_ctx *ctx, dy_augment *a, const char *overrides);
/* The training augmentation of a run: the --augment preset on train, then the --aug overrides. */
dy_status cli_training_augment(dy_ctx *ctx, const run_options *o, const dy_dataset *train, dy_augment *a);
/* --config FILE: the options of a JSON object (a run's config.json, a tune's best.json; any subset of the table) read
 * over the defaults, then the command line argv[first..) over them. *text keeps the file's strings alive (free it).
 * 0, 1 for --help, or the exit status of a usage error (printed, prefixed with command). */
int cli_parse_with_config(const char *command, opt_spec *specs, run_options *o, int argc, char **argv, int first,
                          char **text);
/* Context from --threads/--backend. Prints the reason and returns NULL on failure. */
dy_ctx *cli_context(int64_t threads, const char *backend);
/* The same for a run: --backend and --conv-algo of o, with threads; checked against --precision (bf16 needs oneDNN
 * on a CPU with AVX512-BF16): prints "dystress: --precision bf16: why" and returns NULL when it cannot run it.
 * --precision auto becomes bf16 or fp32 in o (with a note on stderr when bf16 cannot run). */
dy_ctx *cli_run_context(int64_t threads, run_options *o);
/* The line that training on the reference ops prints first: they are the test oracle, not a fast path, and a user
 * who got them by accident (a build without oneDNN) should know before waiting hours. Empty for oneDNN. */
const char *cli_backend_warning(const dy_ctx *ctx);
/* The plan of a run (src/cli/plan.c): whatever the user fixed (--layout blocked|nhwc, --conv-algo direct|winograd,
 * --precision fp32|bf16) is kept; the rest (auto) is measured by the plan tuner on this run's model, per-process
 * batch, image size and threads (cached unless --no-plan-cache), printed on one line (when print), applied to ctx
 * and cfg->model.precision, and written back into o so that config.json records the choice. 0, or 1 after printing
 * why the run cannot start. */
int cli_choose_plan(dy_ctx *ctx, run_options *o, dy_pretrain_config *cfg, int procs, bool print);

#endif
