/* The trainer's insides, shared by the files of the pretraining loop: pretrain.c (set-up, the step, the loop, the
 * monitors), moco_step.c (MoCo's key encoder, its momentum update and its queue), run_logs.c (metrics.jsonl and
 * histograms.jsonl) and checkpoint.c (the run's state as one safetensors file). */
#ifndef DY_TRAIN_TRAINER_INTERNAL_H
#define DY_TRAIN_TRAINER_INTERNAL_H

#include <stdio.h>

#include "train/grad_buckets.h"
#include "train/pretrain.h"

/* A log of the run directory (metrics.jsonl, histograms.jsonl), one JSON object per line. */
typedef struct {
    FILE *fp;
    char path[4096];
} run_log;

struct dy_trainer {
    dy_ctx *ctx;
    dy_pretrain_config cfg;
    const dy_dataset *train, *test;
    dy_model *model, *key_model;     /* key_model: MoCo's momentum encoder, else NULL */
    dy_loss *loss;                   /* MoCo: holds the queue of keys */
    dy_optimizer *opt;               /* holds its state (momentum, Adam's moments) */
    dy_loader *loader;               /* its position is the step: the batch after it */
    dy_comm local_comm, *comm;       /* comm: cfg->comm, else local_comm (one process) */
    dy_bn_sync bn_sync;              /* sync-bn: batch-norm statistics summed through comm */
    dy_grad_sync grad_sync;          /* P > 1 with buckets: the gradient all-reduce overlapped with the backward */
    bool bucketed;                   /* grad_sync is in use */
    int64_t n_params, out_dim, steps_per_epoch, total_steps;
    int64_t step;                    /* optimizer steps done */
    float *z, *dz;                   /* SimCLR: [2 B, out] (B the global batch); MoCo: q, dq [b, out] (b = B / P) */
    float *keys;                     /* MoCo: [B, out], every process's keys (they all join the queue) */
    float *key_images, *key_local;   /* MoCo's shuffled BN over P > 1: view 1 of the global batch and this process's
                                        slice of its permutation [B + b, C, H, W]; the slice's keys and the
                                        permuted batch's [b + B, out] */
    int64_t *shuffle;                /* [B] that permutation */
    dy_schedule sched;               /* learning rate per step */
    double best_knn;                 /* best kNN top-1 so far (chosen on the test split: labelled so) */
    run_log metrics;                 /* run_dir/metrics.jsonl: a line per step and per monitor */
    bool plan_logged;                /* the first step row of this process names the plan it runs */
    run_log histograms;              /* run_dir/histograms.jsonl: the loss's similarity histograms */
    int64_t hist_every;              /* steps between histogram lines */
    int64_t saved_step;              /* step of the last checkpoint-latest written or loaded (-1: none) */
    dy_tau_adapt_state adapt;        /* the adaptive profile's bounds (cfg.tau_adapt.on) */
    double *tau_table;               /* the schedule's table read from its file (cfg.tau_schedule.table points here) */
    double tau_spec[4];              /* the schedule's checkpoint tensor, staged */
    dy_tau_profile tau_now;          /* the profile of the current step (with a schedule) */
};

/* ---- MoCo (moco_step.c) ---- */

/* MoCo's buffers (queries, keys, the shuffled batch norm's over P > 1 without sync-bn) and its key encoder, a copy of
 * the model; sets the loss options of the MoCo form with the queue (the loss keeps it). */
dy_status dy_moco_prepare(dy_trainer *t, dy_loss_options *lo);
/* The queue's first keys: a full queue of random rows (normalised by the push), from the run's seed. */
dy_status dy_moco_fill_queue(dy_trainer *t);
/* One MoCo v2 step up to the backward: the momentum update, keys, queries, the loss, the queue's new keys. */
dy_status dy_moco_step(dy_trainer *t, const dy_batch *b, double *loss, dy_loss_diag *diag);

/* ---- the run directory's logs (run_logs.c) ---- */

/* run_dir/name */
void dy_run_path(char *buf, size_t n, const dy_trainer *t, const char *name);
/* Opens metrics.jsonl and histograms.jsonl: started afresh at step 0, else cut back to the restored checkpoint's
 * step and appended to. */
dy_status dy_run_logs_open(dy_trainer *t);
void dy_run_logs_close(dy_trainer *t);
/* A step's line of metrics.jsonl, and of histograms.jsonl every hist_every steps (nothing off rank 0). */
dy_status dy_run_log_step(dy_trainer *t, const dy_step_report *r);
/* The epoch's alignment/uniformity line, and its kNN monitor's line (per-class figures included). */
dy_status dy_run_log_repr(dy_trainer *t, int64_t epoch, double align, double unif, int64_t count, const char *on);
dy_status dy_run_log_knn(dy_trainer *t, int64_t epoch, const dy_eval_accuracy *acc, const char *split);
/* metrics.jsonl's lines reach the disk (before a checkpoint: a resume keeps them). */
dy_status dy_run_logs_sync(dy_trainer *t);

/* ---- checkpoints (checkpoint.c) ---- */

/* Writes run_dir/name on rank 0; a failed write stops the run with a message that says what is still good. */
dy_status dy_trainer_checkpoint_named(dy_trainer *t, const char *name);

#endif
