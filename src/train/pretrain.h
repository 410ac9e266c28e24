/* The pretraining loop: SimCLR (both views through one encoder, batch negatives) or MoCo v2 (a momentum key encoder
 * with its own BN and a queue of keys), with any DySTreSS loss, optimizer and schedule; checkpoints that resume
 * bit-exactly; a kNN monitor. The CLI (src/cli/cmd_pretrain.c) maps options onto dy_pretrain_config.
 *
 * One step, data parallel over the processes of cfg->comm (src/train/comm.h; one process when NULL):
 *   views -> encoder+head -> z (local) -> gather z of every process -> loss on the global batch -> dz (global)
 *   -> the local rows of dz -> backward -> sum gradients over processes -> optimizer.
 * batch_size is the global batch: each process takes its slice of the batch one process would draw, so a run does
 * not depend on the process count (exactly so with sync_bn, up to float summation order). Rank 0 alone writes
 * metrics and checkpoints and runs the kNN monitor; the checkpoint holds global state only, so a run resumes on any
 * process count. */
#ifndef DY_TRAIN_PRETRAIN_H
#define DY_TRAIN_PRETRAIN_H

#include <signal.h>
#include <stdio.h>

#include "dystress.h"
#include "dystress/eval.h"
#include "optim/optimizer.h"
#include "train/comm.h"
#include "train/schedule.h"
#include "train/tau_adapt.h"
#include "train/tau_schedule.h"

typedef enum { DY_FRAMEWORK_SIMCLR, DY_FRAMEWORK_MOCO } dy_framework;

typedef struct {
    dy_model_config model;
    dy_framework framework;
    double moco_momentum;     /* key encoder EMA: 0.99 small-scale, 0.999 ImageNet */
    int64_t moco_queue;       /* keys kept as negatives */
    dy_tau_profile tau;
    bool decoupled;
    int64_t loss_tile;        /* 0 = the loss's default */
    dy_tau_adapt_config tau_adapt; /* the adaptive profile (train/tau_adapt.h); off when !tau_adapt.on */
    dy_tau_schedule tau_schedule;  /* the profile's levels over training (train/tau_schedule.h); zeroed: constant */

    dy_optimizer_kind optimizer;
    double lr, momentum, weight_decay, lars_eta, adam_beta1, adam_beta2;
    bool nesterov;
    bool exclude_bn_bias;     /* no weight decay (and, for LARS, no adaptation) on BN parameters and biases */
    dy_schedule_kind schedule;
    double warmup_epochs, final_lr, gamma;
    int64_t milestones[16];   /* epochs, for the step schedule */
    int n_milestones;

    int64_t batch_size, epochs;
    uint64_t seed;
    int loader_threads;
    dy_augment augment;
    int64_t max_steps;        /* stop after this many steps in total (0: train all epochs); for tests and budgets */

    int64_t knn_every;        /* epochs between kNN monitors (0: only at the end, -1: never) */
    dy_knn_options knn;       /* the monitor's; k above the training images is clamped to them (dy_knn_neighbours) */
    const char *eval_split;   /* what the labelled evaluation split is, in metrics and file names: "test" (NULL) or
                               * "val" (a split held out of the training set) */
    int64_t checkpoint_every; /* steps between checkpoints (0: at the end of each epoch) */
    const char *run_dir;      /* checkpoints and metrics.jsonl go here */
    dy_comm *comm;            /* the processes of a data-parallel run; NULL: this one alone. Outlives the trainer */
    bool sync_bn;             /* batch-norm statistics of the global batch (SyncBatchNorm); else each process's own */
    int64_t grad_bucket_bytes; /* several processes: gradients all-reduced in buckets of about this many bytes,
                                * started during the backward (grad_buckets.h; DY_GRAD_BUCKET_DEFAULT_BYTES as DDP);
                                * 0: one all-reduce of the whole buffer after the backward */
    int64_t fault_nan_step;   /* TESTS ONLY (fault injection): the loss of this step (1-based) is taken as NaN on this
                               * process; 0: never */
    const char *config_text;  /* stored in every checkpoint (trainer.config) so that a resume can be checked against
                               * it; the CLI's canonical options. NULL: none stored. Must outlive the trainer. */
} dy_pretrain_config;

/* Everything the loop reports to its caller (the CLI prints, the library does not). */
typedef struct {
    int64_t step, epoch, step_in_epoch, steps_per_epoch, total_steps, epochs;
    double loss, lr, images_per_s;   /* images_per_s: the global batch's */
    double comm_s;                    /* seconds of the step spent in communication (0 for one process) */
    int64_t grad_bytes, gather_bytes; /* bytes all-reduced (gradients) and gathered (the global batch's rows) */
    dy_loss_diag diag;
} dy_step_report;

typedef struct {
    void (*on_step)(void *user, const dy_step_report *r);
    void (*on_message)(void *user, const char *text);
    /* after each epoch's monitors and checkpoint, with every log of the run directory flushed (may be NULL) */
    void (*on_epoch_end)(void *user, int64_t epoch);
    void *user;
} dy_pretrain_callbacks;

/* What the loop writes for the run report besides metrics.jsonl: histograms.jsonl, about DY_HIST_LINES lines of the
 * loss's similarity histograms over a run; an alignment/uniformity line in metrics.jsonl at each epoch end, from
 * DY_REPR_IMAGES held-out images in two fixed views (augmentation stream epoch DY_REPR_EPOCH, which training never
 * reaches); the retrieval grid and embedding maps at each kNN monitor (src/report/encoder_view.h). */
#define DY_HIST_LINES 200
#define DY_REPR_IMAGES 256
#define DY_REPR_EPOCH ((int64_t)0xffffffff)

typedef struct dy_trainer dy_trainer;

/* Builds the model(s), loss, optimizer state and loader. train must outlive the trainer; test (may be NULL: then
 * no kNN monitor) likewise. */
dy_status dy_trainer_create(dy_ctx *ctx, const dy_pretrain_config *cfg, const dy_dataset *train,
                            const dy_dataset *test, dy_trainer **out);
void dy_trainer_destroy(dy_trainer *t);
/* Checkpoints: one safetensors file, the union of the named tensors of the run's objects (the model under torchvision
 * names, so the file also loads as weights; "optimizer.momentum" and "optimizer.exp_avg_sq"; MoCo's "key_encoder."
 * model and "moco.queue"; "trainer.counters" [step, queue length, queue head], "trainer.best_knn" and
 * "trainer.version"; and "trainer.config", the run's options as text, when the configuration has config_text),
 * written atomically. Loading checks the whole file first (every tensor present, no stranger, shapes and dtypes
 * right, values finite, counters that fit): DY_ERR_FORMAT (corrupt/truncated), DY_ERR_MISMATCH naming the first
 * tensor that does not fit or another format version, DY_ERR_NUMERIC naming a tensor that holds NaN or Inf, and
 * nothing changed. The loader continues at the batch after the step. */
#define DY_CHECKPOINT_VERSION 1
#define DY_CHECKPOINT_CONFIG "trainer.config"
/* The configuration text stored in a checkpoint (malloc'ed, NUL-terminated), or *config = NULL when it has none.
 * DY_ERR_IO/DY_ERR_FORMAT when the file cannot be read. */
dy_status dy_checkpoint_read_config(dy_ctx *ctx, const char *path, char **config);
/* The step a checkpoint holds (its "trainer.counters"), or *step = -1 when it has none. DY_ERR_IO/DY_ERR_FORMAT
 * when the file cannot be read. */
dy_status dy_checkpoint_read_step(dy_ctx *ctx, const char *path, int64_t *step);
dy_status dy_trainer_load_checkpoint(dy_trainer *t, const char *path);
dy_status dy_trainer_save_checkpoint(dy_trainer *t, const char *path);
/* Trains until the last epoch (or max_steps), or until *stop becomes non-zero (then a checkpoint is saved and
 * DY_ERR_INTERRUPTED returned). A NaN/Inf loss stops with DY_ERR_NUMERIC naming the step; a failed write of
 * metrics.jsonl or of a checkpoint stops with DY_ERR_IO naming the file and the OS error. Either way the last
 * checkpoint on disk is the last good one. metrics.jsonl is opened without following a symlink; at step 0 it is
 * started afresh, after a restored checkpoint its lines past the checkpoint's step are dropped (atomically). */
dy_status dy_trainer_run(dy_trainer *t, const dy_pretrain_callbacks *cb, volatile sig_atomic_t *stop);
int64_t dy_trainer_step_count(const dy_trainer *t);
dy_model *dy_trainer_model(dy_trainer *t);

#endif
