/* The pretraining loop (see pretrain.h): the trainer's set-up, SimCLR's step, the optimizer step, the monitors at
 * each epoch's end and the loop. MoCo's parts are in moco_step.c, the run's logs in run_logs.c, checkpoints in
 * checkpoint.c; the trainer itself in trainer_internal.h. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/context.h"
#include "eval/embed.h"
#include "eval/protocols.h"
#include "model/model.h"
#include "report/encoder_view.h"
#include "train/trainer_internal.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void say(const dy_pretrain_callbacks *cb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const dy_pretrain_callbacks *cb, const char *fmt, ...) {
    if (!cb || !cb->on_message) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cb->on_message(cb->user, buf);
}

/* The optimizer over the model's parameters, one segment per tensor. */
static dy_status create_optimizer(dy_trainer *t) {
    const dy_pretrain_config *c = &t->cfg;
    int64_t nt, n = 0;
    const dy_tensor_info *ti = dy_model_tensors(t->model, &nt);
    dy_param_segment *segments = calloc((size_t)nt, sizeof *segments);
    if (!segments) return dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory for parameter segments");
    for (int64_t i = 0; i < nt; i++) {
        if (ti[i].kind != DY_TENSOR_PARAM) continue;
        /* BN weights and biases and every bias are 1-D; conv and linear weights are not. */
        segments[n++] = (dy_param_segment){.offset = ti[i].offset, .count = ti[i].numel,
                                           .exclude = c->exclude_bn_bias && ti[i].ndim == 1};
    }
    dy_optimizer_config oc = {.kind = c->optimizer, .momentum = c->momentum, .weight_decay = c->weight_decay,
                              .nesterov = c->nesterov, .lars_eta = c->lars_eta, .adam_beta1 = c->adam_beta1,
                              .adam_beta2 = c->adam_beta2};
    dy_status st = dy_optimizer_create(t->ctx, &oc, t->n_params, segments, n, &t->opt);
    free(segments);
    return st;
}

/* The buckets of the gradient all-reduce over the model's parameter tensors; the executors report to them. */
static dy_status plan_grad_buckets(dy_trainer *t) {
    int64_t nt, n = 0;
    const dy_tensor_info *ti = dy_model_tensors(t->model, &nt);
    int64_t *offsets = malloc(sizeof *offsets * (size_t)nt), *counts = malloc(sizeof *counts * (size_t)nt);
    dy_status st = offsets && counts ? DY_OK : dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory for gradient buckets");
    for (int64_t i = 0; st == DY_OK && i < nt; i++) {
        if (ti[i].kind != DY_TENSOR_PARAM) continue;
        offsets[n] = ti[i].offset;
        counts[n++] = ti[i].numel;
    }
    if (st == DY_OK)
        st = dy_grad_sync_init(t->ctx, &t->grad_sync, t->comm, dy_model_grads(t->model, NULL), offsets, counts,
                               (int32_t)n, t->n_params, t->cfg.grad_bucket_bytes);
    free(offsets);
    free(counts);
    if (st != DY_OK) return st;
    t->bucketed = true;
    dy_model_set_grad_hook(t->model, &t->grad_sync.hook);
    return DY_OK;
}

/* sync-bn's reduction: per-channel sums in double over the processes */
static dy_status bn_allreduce(void *user, double *buf, int64_t n) {
    dy_comm *c = user;
    return c->allreduce_sum_f64(c, buf, n);
}

/* What a configuration must satisfy before anything is built. */
static dy_status check_config(dy_ctx *ctx, const dy_pretrain_config *cfg, const dy_dataset *train) {
    if (cfg->batch_size < 2) return dy_fail(ctx, DY_ERR_INVALID, "batch size must be at least 2, got %lld",
                                            (long long)cfg->batch_size);
    if (cfg->epochs < 1) return dy_fail(ctx, DY_ERR_INVALID, "epochs must be at least 1");
    if (cfg->n_milestones < 0 || cfg->n_milestones > 16)
        return dy_fail(ctx, DY_ERR_INVALID, "%d milestones: expected 0 to 16", cfg->n_milestones);
    for (int i = 0; i < cfg->n_milestones; i++)
        if (cfg->milestones[i] < 0 || cfg->milestones[i] > cfg->epochs)
            return dy_fail(ctx, DY_ERR_INVALID, "milestone %lld is outside the epochs [0, %lld]",
                           (long long)cfg->milestones[i], (long long)cfg->epochs);
    for (int i = 1; i < cfg->n_milestones; i++)
        if (cfg->milestones[i] <= cfg->milestones[i - 1])
            return dy_fail(ctx, DY_ERR_INVALID, "milestones must increase: %lld after %lld",
                           (long long)cfg->milestones[i], (long long)cfg->milestones[i - 1]);
    /* each step enqueues the global batch's keys: a queue shorter than that would drop keys of the batch it holds */
    if (cfg->framework == DY_FRAMEWORK_MOCO && cfg->moco_queue < cfg->batch_size)
        return dy_fail(ctx, DY_ERR_INVALID, "the MoCo queue of %lld keys is smaller than the batch of %lld (each step "
                       "enqueues the whole batch's keys)", (long long)cfg->moco_queue, (long long)cfg->batch_size);
    if (train->count < cfg->batch_size)
        return dy_fail(ctx, DY_ERR_INVALID, "the training set has %lld images, fewer than one batch of %lld",
                       (long long)train->count, (long long)cfg->batch_size);
    if (cfg->model.in_channels != train->channels)
        return dy_fail(ctx, DY_ERR_INVALID, "the model takes %lld input channels but the data has %d",
                       (long long)cfg->model.in_channels, train->channels);
    return DY_OK;
}

/* The global batch split over the processes: equal slices, and for MoCo at least 2 images in each. */
static dy_status check_processes(const dy_trainer *t) {
    const dy_pretrain_config *cfg = &t->cfg;
    const int64_t P = t->comm->size;
    if (cfg->batch_size % P != 0)
        return dy_fail(t->ctx, DY_ERR_INVALID, "the batch size %lld is not divisible by the %lld processes: "
                       "--batch-size is the global batch and each process takes an equal slice of it (choose a "
                       "multiple of %lld)", (long long)cfg->batch_size, (long long)P, (long long)P);
    if (cfg->framework == DY_FRAMEWORK_MOCO && cfg->batch_size / P < 2)
        return dy_fail(t->ctx, DY_ERR_INVALID, "the batch size %lld leaves %lld image per process: MoCo's batch norm "
                       "needs at least 2 (a larger --batch-size, or fewer processes)", (long long)cfg->batch_size,
                       (long long)(cfg->batch_size / P));
    return DY_OK;
}

/* The model (with sync-bn's reduction), its optimizer and, over several processes, the gradient buckets. */
static dy_status create_model(dy_trainer *t) {
    const dy_pretrain_config *cfg = &t->cfg;
    DY_TRY(dy_model_create(t->ctx, &cfg->model, cfg->seed, &t->model));
    t->bn_sync = (dy_bn_sync){.allreduce = bn_allreduce, .user = t->comm};
    if (cfg->sync_bn) dy_model_set_bn_sync(t->model, &t->bn_sync);
    dy_model_params(t->model, &t->n_params);
    t->out_dim = dy_model_output_dim(t->model);
    DY_TRY(create_optimizer(t));
    if (t->comm->size > 1 && cfg->grad_bucket_bytes > 0) DY_TRY(plan_grad_buckets(t));
    return DY_OK;
}

/* The loss of the framework and the embeddings it takes: SimCLR's over the global batch, MoCo's (moco_step.c) over
 * this process's slice with the queue. */
static dy_status create_loss(dy_trainer *t) {
    const dy_pretrain_config *cfg = &t->cfg;
    dy_loss_options lo = dy_loss_defaults();
    lo.tau = cfg->tau;
    lo.decoupled = cfg->decoupled;
    lo.normalized_input = false;
    lo.dim = t->out_dim;
    lo.tile = cfg->loss_tile;
    if (cfg->framework == DY_FRAMEWORK_SIMCLR) {
        const int64_t B = cfg->batch_size;
        lo.form = DY_LOSS_SIMCLR;
        lo.max_batch = B;
        t->z = dy_alloc((size_t)(2 * B * t->out_dim) * sizeof(float));
        t->dz = dy_alloc((size_t)(2 * B * t->out_dim) * sizeof(float));
    } else {
        DY_TRY(dy_moco_prepare(t, &lo));
    }
    if (!t->z || !t->dz) return dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory for embeddings");
    return dy_loss_create(t->ctx, &lo, &t->loss);
}

/* The temperature's adaptive bounds and schedule: a schedule file's table read here (the trainer keeps it), then
 * every level the schedule reaches checked. */
static dy_status prepare_tau(dy_trainer *t) {
    dy_pretrain_config *cfg = &t->cfg;
    if (cfg->tau_adapt.on) {
        DY_TRY(dy_tau_adapt_check(t->ctx, &cfg->tau_adapt, &cfg->tau));
        t->adapt = (dy_tau_adapt_state){.tau_min = cfg->tau.tau_min, .tau_max = cfg->tau.tau_max};
    }
    dy_tau_schedule *ts = &cfg->tau_schedule;
    DY_TRY(dy_tau_schedule_check(t->ctx, ts, &cfg->tau, cfg->tau_adapt.on));
    if (ts->kind == DY_TAU_SCHEDULE_FILE && !ts->table) {
        DY_TRY(dy_tau_schedule_read(t->ctx, ts->file, &ts->table_kind, &t->tau_table, &ts->rows));
        ts->table = t->tau_table;
        DY_TRY(dy_tau_schedule_check(t->ctx, ts, &cfg->tau, false));
    }
    t->tau_now = cfg->tau;
    return DY_OK;
}

/* The loader of this process's slice of the global batch, and the steps it makes of the epochs. */
static dy_status create_loader(dy_trainer *t) {
    const dy_pretrain_config *cfg = &t->cfg;
    dy_loader_options ldo = dy_loader_defaults();
    ldo.batch_size = cfg->batch_size; /* global: this process prepares its slice */
    ldo.shard = t->comm->rank;
    ldo.shards = t->comm->size;
    ldo.views = 2;
    ldo.threads = cfg->loader_threads;
    ldo.seed = cfg->seed;
    ldo.augment = cfg->augment;
    DY_TRY(dy_loader_create(t->ctx, &t->loader, t->train, &ldo));
    t->steps_per_epoch = dy_loader_steps_per_epoch(t->loader);
    if (cfg->epochs > INT64_MAX / t->steps_per_epoch)
        return dy_fail(t->ctx, DY_ERR_INVALID, "%lld epochs of %lld steps overflow the step counter",
                       (long long)cfg->epochs, (long long)t->steps_per_epoch);
    t->total_steps = t->steps_per_epoch * cfg->epochs;
    t->hist_every = t->total_steps / DY_HIST_LINES > 1 ? t->total_steps / DY_HIST_LINES : 1;
    return DY_OK;
}

/* The learning rate per step: epochs (warm-up, milestones) turned into steps. */
static void plan_lr_schedule(dy_trainer *t) {
    const dy_pretrain_config *cfg = &t->cfg;
    dy_schedule *sc = &t->sched;
    sc->kind = cfg->schedule;
    sc->base_lr = cfg->lr;
    sc->final_lr = cfg->final_lr;
    sc->total_steps = t->total_steps;
    sc->warmup_steps = (int64_t)llround(cfg->warmup_epochs * (double)t->steps_per_epoch);
    if (sc->warmup_steps >= t->total_steps) sc->warmup_steps = t->total_steps - 1;
    sc->gamma = cfg->gamma;
    sc->n_milestones = cfg->n_milestones;
    for (int i = 0; i < cfg->n_milestones; i++) sc->milestones[i] = cfg->milestones[i] * t->steps_per_epoch;
}

dy_status dy_trainer_create(dy_ctx *ctx, const dy_pretrain_config *cfg, const dy_dataset *train,
                            const dy_dataset *test, dy_trainer **out) {
    *out = NULL;
    DY_TRY(check_config(ctx, cfg, train));
    dy_trainer *t = calloc(1, sizeof *t);
    if (!t) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
    t->ctx = ctx;
    t->cfg = *cfg;
    /* the kNN monitor's bank is the training set: a smaller one than k votes whole, as in dystress eval */
    t->cfg.knn.k = dy_knn_neighbours(cfg->knn.k, train->count);
    t->train = train;
    t->test = test;
    t->best_knn = -1;
    t->saved_step = -1;
    dy_comm_init_local(&t->local_comm);
    t->local_comm.ctx = ctx;
    t->comm = cfg->comm ? cfg->comm : &t->local_comm;
    dy_status st;
    if ((st = check_processes(t)) != DY_OK) goto fail;
    if ((st = create_model(t)) != DY_OK) goto fail;
    if ((st = create_loss(t)) != DY_OK) goto fail;
    if ((st = prepare_tau(t)) != DY_OK) goto fail;
    /* MoCo starts from a full queue of random keys */
    if (cfg->framework == DY_FRAMEWORK_MOCO && (st = dy_moco_fill_queue(t)) != DY_OK) goto fail;
    if ((st = create_loader(t)) != DY_OK) goto fail;
    plan_lr_schedule(t);
    *out = t;
    return DY_OK;
fail:
    dy_trainer_destroy(t);
    return st;
}

void dy_trainer_destroy(dy_trainer *t) {
    if (!t) return;
    dy_loader_destroy(t->loader);
    dy_loss_destroy(t->loss);
    dy_optimizer_destroy(t->opt);
    dy_model_destroy(t->model);
    dy_model_destroy(t->key_model);
    dy_grad_sync_free(&t->grad_sync);
    dy_free(t->z);
    dy_free(t->dz);
    dy_free(t->keys);
    dy_free(t->key_images);
    dy_free(t->key_local);
    free(t->shuffle);
    free(t->tau_table);
    dy_run_logs_close(t);
    free(t);
}

int64_t dy_trainer_step_count(const dy_trainer *t) { return t->step; }
dy_model *dy_trainer_model(dy_trainer *t) { return t->model; }


/* ---- one step ------------------------------------------------------------------------------------------------- */

static dy_status optimizer_step(dy_trainer *t, double lr) {
    float *p = dy_model_params(t->model, NULL), *g = dy_model_grads(t->model, NULL);
    /* the buckets started during the backward, finished here; else one fused all-reduce of the flat gradient
     * buffer (ResNet-18: 46 MB) */
    dy_status st = t->bucketed ? dy_grad_sync_finish(&t->grad_sync) : t->comm->allreduce_sum(t->comm, g, t->n_params);
    if (st != DY_OK) return st;
    /* The loss is a mean over the global batch and each process differentiated it for its own rows only, so the
     * sum over processes is the gradient: nothing to rescale (MoCo's step scales its dq for that). */
    return dy_optimizer_step(t->opt, t->ctx, p, g, lr, t->step);
}

/* SimCLR: both views through the encoder as one batch of 2B, the loss over the global batch. */
static dy_status simclr_step(dy_trainer *t, const dy_batch *b, double *loss, dy_loss_diag *diag) {
    int64_t B = b->batch_size, d = t->out_dim, P = t->comm->size, r = t->comm->rank;
    float *zl = t->dz; /* the local embeddings go to dz's memory first: it is free until the loss writes it */
    dy_status st = dy_model_forward_train(t->model, b->images, 2 * B, b->height, b->width, NULL, zl);
    if (st != DY_OK) return st;
    /* global layout [view0 of every process; view1 of every process], so row i's positive is row i + B P */
    for (int v = 0; v < 2; v++)
        if ((st = t->comm->allgather_rows(t->comm, t->z + v * B * P * d, zl + v * B * d, B, d)) != DY_OK) return st;
    float lf;
    if ((st = dy_loss_contrastive(t->loss, t->ctx, B * P, t->z, t->dz, &lf, diag)) != DY_OK) return st;
    *loss = lf;
    /* the local rows of dz: view v rows [r B, (r + 1) B) of each half, packed [view0; view1] */
    if (P > 1)
        for (int v = 0; v < 2; v++)
            memmove(t->dz + v * B * d, t->dz + (v * B * P + r * B) * d, (size_t)(B * d) * sizeof(float));
    return dy_model_backward(t->model, t->dz);
}


/* Weighted kNN top-1/top-5 of the current encoder: train features as the memory bank, test as queries. The same
 * features give the report's retrieval grid and embedding maps (a failure there is only reported). */
static dy_status knn_monitor(dy_trainer *t, const dy_pretrain_callbacks *cb, int64_t epoch, dy_eval_accuracy *acc) {
    dy_augment eval_aug;
    dy_status st = dy_augment_preset(t->ctx, &eval_aug, "eval", t->train);
    if (st != DY_OK) return st;
    float *ftr = NULL, *fte = NULL;
    int64_t *ltr = dy_labels_int64(t->train), *lte = dy_labels_int64(t->test), dim;
    if (!ltr || !lte) {
        st = dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory for labels");
        goto done;
    }
    if ((st = dy_embed_dataset(t->ctx, t->model, t->train, &eval_aug, 256, true, &ftr, &dim)) != DY_OK) goto done;
    if ((st = dy_embed_dataset(t->ctx, t->model, t->test, &eval_aug, 256, true, &fte, &dim)) != DY_OK) goto done;
    st = dy_knn_evaluate(t->ctx, ftr, ltr, t->train->count, fte, lte, t->test->count, dim, t->train->num_classes,
                         &t->cfg.knn, NULL, acc);
    if (st == DY_OK) {
        if (dy_encoder_view_write(t->ctx, t->cfg.run_dir, t->train, ftr, t->test, fte, dim, epoch + 1, t->step) !=
            DY_OK)
            say(cb, "warning: the report's retrieval grid and embedding map were not written: %s",
                dy_ctx_error(t->ctx));
    }
done:
    free(ftr);
    free(fte);
    free(ltr);
    free(lte);
    return st;
}

/* ---- the loop ------------------------------------------------------------------------------------------------- */


/* Alignment and uniformity (Wang & Isola 2020, on the projections z as the loss sees them) of a fixed held-out
 * batch: the first DY_REPR_IMAGES images of the test split (else of the training set), each in two views drawn with
 * the training augmentation from a fixed stream, so that every monitor sees the same pairs. Evaluation mode: the
 * training state is not touched. */
static dy_status repr_monitor(dy_trainer *t, double *align, double *unif, int64_t *count, const char **on) {
    const dy_dataset *ds = t->test && t->test->count >= 2 ? t->test : t->train;
    *on = ds == t->test ? (t->cfg.eval_split ? t->cfg.eval_split : "test") : "train";
    int64_t n = ds->count < DY_REPR_IMAGES ? ds->count : DY_REPR_IMAGES, d = t->out_dim;
    const dy_augment *a = &t->cfg.augment;
    int64_t plane = (int64_t)ds->channels * a->size[0] * a->size[1];
    int64_t in = (int64_t)ds->channels * ds->height * ds->width;
    /* images through the encoder at once: the kNN monitor's batch of 256 (its planned executor is reused), or 64 where
     * 256 views would take more than 64 MB (224-pixel images) */
    const int64_t chunk = (int64_t)sizeof(float) * 256 * plane <= (64 << 20) ? 256 : 64;
    float *views = malloc(sizeof(float) * (size_t)(chunk * plane)), *z = malloc(sizeof(float) * (size_t)(2 * n * d));
    dy_status st = views && z ? DY_OK : dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory for the representation monitor");
    for (int64_t v = 0; v < 2 && st == DY_OK; v++)
        for (int64_t i0 = 0; i0 < n && st == DY_OK; i0 += chunk) {
            int64_t m = n - i0 < chunk ? n - i0 : chunk;
            for (int64_t i = i0; i < i0 + m && st == DY_OK; i++)
                st = dy_augment_view(t->ctx, a, ds->pixels + i * in, ds->channels, ds->height, ds->width,
                                     views + (i - i0) * plane, t->cfg.seed, DY_REPR_EPOCH, i, (int)v);
            if (st == DY_OK)
                st = dy_model_forward_eval(t->model, views, m, a->size[0], a->size[1], NULL, z + (v * n + i0) * d);
        }
    if (st == DY_OK) st = dy_metric_alignment(t->ctx, n, d, z, z + n * d, 2.0, align);
    if (st == DY_OK) st = dy_metric_uniformity(t->ctx, n, d, z, 2.0, unif);
    *count = n;
    free(views);
    free(z);
    return st;
}

static dy_status after_epoch(dy_trainer *t, const dy_pretrain_callbacks *cb, int64_t epoch, bool last) {
    const dy_pretrain_config *c = &t->cfg;
    if (t->comm->rank != 0) return DY_OK; /* the monitors run once, on rank 0 (the others wait in the next step) */
    double align, unif;
    int64_t count;
    const char *on;
    dy_status st = repr_monitor(t, &align, &unif, &count, &on);
    if (st != DY_OK) return st;
    if ((st = dy_run_log_repr(t, epoch, align, unif, count, on)) != DY_OK) return st;
    bool monitor = t->test && c->knn_every >= 0 && t->test->num_classes > 0 &&
                   (last || (c->knn_every > 0 && (epoch + 1) % c->knn_every == 0));
    if (!monitor) return DY_OK;
    double t0 = now_seconds();
    dy_eval_accuracy acc = {0};
    st = knn_monitor(t, cb, epoch, &acc);
    if (st != DY_OK) {
        dy_eval_accuracy_free(&acc);
        return st;
    }
    double top1 = acc.top1, top5 = acc.top5;
    const char *split = c->eval_split ? c->eval_split : "test";
    st = dy_run_log_knn(t, epoch, &acc, split);
    dy_eval_accuracy_free(&acc);
    if (st != DY_OK) return st;
    say(cb, "epoch %lld: kNN top-1 %.2f %%, top-5 %.2f %% (k %lld, t %g, on the %s split; %.0f s)",
        (long long)epoch + 1, 100 * top1, 100 * top5, (long long)c->knn.k, (double)c->knn.temperature, split,
        now_seconds() - t0);
    if (top1 > t->best_knn) {
        t->best_knn = top1;
        /* named for the split it was chosen on: on TEST data the name says so, so nobody mistakes it for a clean
         * choice */
        char name[96];
        snprintf(name, sizeof name, "checkpoint-best-knn-on-%s.safetensors", split);
        if ((st = dy_trainer_checkpoint_named(t, name)) != DY_OK) return st;
    }
    return DY_OK;
}

dy_status dy_trainer_run(dy_trainer *t, const dy_pretrain_callbacks *cb, volatile sig_atomic_t *stop) {
    const dy_pretrain_config *c = &t->cfg;
    dy_status st = t->comm->rank == 0 ? dy_run_logs_open(t) : DY_OK;
    if (st != DY_OK) return st;
    int64_t end = t->total_steps;
    if (c->max_steps > 0 && c->max_steps < end) end = c->max_steps;
    while (t->step < end) {
        int64_t epoch = t->step / t->steps_per_epoch, in_epoch = t->step % t->steps_per_epoch;
        double t0 = now_seconds(), comm0 = t->comm->seconds;
        int64_t reduced0 = t->comm->bytes_reduce, gathered0 = t->comm->bytes_gather;
        dy_batch b;
        if ((st = dy_loader_next(t->loader, &b)) != DY_OK) return st;
        if (b.epoch != epoch || b.step != in_epoch)
            return dy_fail(t->ctx, DY_ERR_INTERNAL, "loader gave batch %lld/%lld, expected %lld/%lld",
                           (long long)b.epoch, (long long)b.step, (long long)epoch, (long long)in_epoch);
        dy_step_report r = {.step = t->step, .epoch = epoch, .step_in_epoch = in_epoch,
                            .steps_per_epoch = t->steps_per_epoch, .total_steps = end, .epochs = c->epochs};
        r.lr = dy_schedule_lr(&t->sched, t->step);
        if (c->tau_schedule.kind != DY_TAU_SCHEDULE_CONSTANT) { /* a function of the step: nothing to restore */
            double u = dy_tau_schedule_fraction(&c->tau_schedule, t->step, t->steps_per_epoch, t->total_steps);
            t->tau_now = dy_tau_schedule_profile(&c->tau_schedule, &c->tau, u);
            dy_tau_adapt_apply(t->loss, &t->tau_now);
        }
        st = c->framework == DY_FRAMEWORK_SIMCLR ? simclr_step(t, &b, &r.loss, &r.diag)
                                                 : dy_moco_step(t, &b, &r.loss, &r.diag);
        if (st == DY_OK && c->fault_nan_step == t->step + 1) r.loss = NAN; /* tests only (pretrain.h) */
        if (st == DY_OK && !isfinite(r.loss))
            st = dy_fail(t->ctx, DY_ERR_NUMERIC, "loss is %g", r.loss);
        if (st == DY_OK) st = optimizer_step(t, r.lr);
        if (st != DY_OK) {
            if (st == DY_ERR_NUMERIC) {
                char msg[1100];
                snprintf(msg, sizeof msg, "step %lld (epoch %lld): %s; stopped, the last checkpoint on disk is the "
                         "last good state", (long long)t->step + 1, (long long)epoch + 1, dy_ctx_error(t->ctx));
                dy_fail(t->ctx, DY_ERR_NUMERIC, "%s", msg);
            }
            return st;
        }
        /* every process stops after the same step: the stop flag (a signal to any of them) is agreed on */
        int stop_flag = stop && *stop;
        if ((st = t->comm->any(t->comm, &stop_flag)) != DY_OK) return st;
        r.images_per_s = (double)(b.batch_size * b.views * t->comm->size) / fmax(now_seconds() - t0, 1e-9);
        r.comm_s = t->comm->seconds - comm0;
        r.grad_bytes = t->comm->bytes_reduce - reduced0;
        r.gather_bytes = t->comm->bytes_gather - gathered0;
        t->step++;
        if ((st = dy_run_log_step(t, &r)) != DY_OK) return st;
        if (c->tau_adapt.on) { /* this step's diagnostics set the next step's bounds */
            dy_tau_adapt_update(&c->tau_adapt, r.diag.frac_near_tau_min, r.diag.frac_near_tau_max, &t->adapt);
            dy_tau_profile p = dy_tau_adapt_profile(&c->tau, &t->adapt);
            dy_tau_adapt_apply(t->loss, &p);
        }
        if (cb && cb->on_step) cb->on_step(cb->user, &r);
        bool epoch_done = t->step % t->steps_per_epoch == 0;
        /* the monitor runs at epoch ends only, so an invocation cut short by --max-steps or a signal leaves the
         * same state (best kNN, its checkpoint) as an uninterrupted run */
        if (epoch_done && (st = after_epoch(t, cb, epoch, t->step == t->total_steps)) != DY_OK) return st;
        bool periodic = c->checkpoint_every > 0 ? t->step % c->checkpoint_every == 0 : epoch_done;
        bool stopping = stop_flag != 0;
        if (periodic || stopping || t->step == end) {
            /* the metric lines up to the checkpoint reach the disk first: a resume keeps them */
            if ((st = dy_run_logs_sync(t)) != DY_OK) return st;
            if ((st = dy_trainer_checkpoint_named(t, "checkpoint-latest.safetensors")) != DY_OK) return st;
            t->saved_step = t->step;
        }
        if (epoch_done && cb && cb->on_epoch_end) cb->on_epoch_end(cb->user, epoch);
        if (stopping && t->step < end)
            return dy_fail(t->ctx, DY_ERR_INTERRUPTED, "interrupted after step %lld; checkpoint saved, continue "
                           "with --resume", (long long)t->step);
    }
    if (t->step == t->total_steps) return dy_trainer_checkpoint_named(t, "checkpoint-final.safetensors");
    return DY_OK;
}
