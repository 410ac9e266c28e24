/* The pretraining loop (see pretrain.h). */
#include "train/pretrain.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/context.h"
#include "core/rng.h"
#include "engine/ref/ops.h"
#include "io/tensor_file.h"
#include "loss/loss_state.h"
#include "model/model.h"

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
    FILE *metrics;                   /* run_dir/metrics.jsonl */
};

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

/* sync-bn's reduction: per-channel sums in double over the processes */
static dy_status bn_allreduce(void *user, double *buf, int64_t n) {
    dy_comm *c = user;
    return c->allreduce_sum_f64(c, buf, n);
}

dy_status dy_trainer_create(dy_ctx *ctx, const dy_pretrain_config *cfg, const dy_dataset *train,
                            const dy_dataset *test, dy_trainer **out) {
    *out = NULL;
    if (cfg->batch_size < 2) return dy_fail(ctx, DY_ERR_INVALID, "batch size must be at least 2, got %lld",
                                            (long long)cfg->batch_size);
    if (cfg->epochs < 1) return dy_fail(ctx, DY_ERR_INVALID, "epochs must be at least 1");
    if (train->count < cfg->batch_size)
        return dy_fail(ctx, DY_ERR_INVALID, "the training set has %lld images, fewer than one batch of %lld",
                       (long long)train->count, (long long)cfg->batch_size);
    if (cfg->model.in_channels != train->channels)
        return dy_fail(ctx, DY_ERR_INVALID, "the model takes %lld input channels but the data has %d",
                       (long long)cfg->model.in_channels, train->channels);
    dy_trainer *t = calloc(1, sizeof *t);
    if (!t) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
    t->ctx = ctx;
    t->cfg = *cfg;
    t->train = train;
    t->test = test;
    t->best_knn = -1;
    dy_comm_init_local(&t->local_comm);
    t->local_comm.ctx = ctx;
    t->comm = cfg->comm ? cfg->comm : &t->local_comm;
    const int64_t P = t->comm->size;
    dy_status st;
    if (cfg->batch_size % P != 0) {
        st = dy_fail(ctx, DY_ERR_INVALID, "the batch size %lld is not divisible by the %lld processes: --batch-size "
                     "is the global batch and each process takes an equal slice of it (choose a multiple of %lld)",
                     (long long)cfg->batch_size, (long long)P, (long long)P);
        goto fail;
    }
    if (cfg->framework == DY_FRAMEWORK_MOCO && cfg->batch_size / P < 2) {
        st = dy_fail(ctx, DY_ERR_INVALID, "the batch size %lld leaves %lld image per process: MoCo's batch norm needs "
                     "at least 2 (a larger --batch-size, or fewer processes)", (long long)cfg->batch_size,
                     (long long)(cfg->batch_size / P));
        goto fail;
    }
    if ((st = dy_model_create(ctx, &cfg->model, cfg->seed, &t->model)) != DY_OK) goto fail;
    t->bn_sync = (dy_bn_sync){.allreduce = bn_allreduce, .user = t->comm};
    if (cfg->sync_bn) dy_model_set_bn_sync(t->model, &t->bn_sync);
    dy_model_params(t->model, &t->n_params);
    t->out_dim = dy_model_output_dim(t->model);
    if ((st = create_optimizer(t)) != DY_OK) goto fail;

    dy_loss_options lo = dy_loss_defaults();
    lo.tau = cfg->tau;
    lo.decoupled = cfg->decoupled;
    lo.normalized_input = false;
    lo.dim = t->out_dim;
    lo.tile = cfg->loss_tile;
    const int64_t B = cfg->batch_size, b = B / P; /* the global batch, this process's slice */
    if (cfg->framework == DY_FRAMEWORK_SIMCLR) {
        lo.form = DY_LOSS_SIMCLR;
        lo.max_batch = B;
        t->z = dy_alloc((size_t)(2 * B * t->out_dim) * sizeof(float));
        t->dz = dy_alloc((size_t)(2 * B * t->out_dim) * sizeof(float));
    } else {
        if (cfg->moco_queue < 1) {
            st = dy_fail(ctx, DY_ERR_INVALID, "the MoCo queue needs at least one key");
            goto fail;
        }
        lo.form = DY_LOSS_MOCO;
        lo.max_batch = b;
        lo.queue_capacity = cfg->moco_queue; /* the loss keeps the queue */
        t->z = dy_alloc((size_t)(b * t->out_dim) * sizeof(float));
        t->dz = dy_alloc((size_t)(b * t->out_dim) * sizeof(float));
        t->keys = dy_alloc((size_t)(B * t->out_dim) * sizeof(float));
        if (P > 1 && !cfg->sync_bn) {
            const int64_t in = (int64_t)train->channels * cfg->augment.size[0] * cfg->augment.size[1];
            t->key_images = dy_alloc((size_t)((B + b) * in) * sizeof(float));
            t->key_local = dy_alloc((size_t)((b + B) * t->out_dim) * sizeof(float));
            t->shuffle = malloc((size_t)B * sizeof *t->shuffle);
            if (!t->key_images || !t->key_local || !t->shuffle) {
                st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory for MoCo's shuffled batch norm");
                goto fail;
            }
        }
        if (!t->keys) {
            st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory for the MoCo keys");
            goto fail;
        }
        if ((st = dy_model_create(ctx, &cfg->model, cfg->seed, &t->key_model)) != DY_OK) goto fail;
        memcpy(dy_model_params(t->key_model, NULL), dy_model_params(t->model, NULL),
               (size_t)t->n_params * sizeof(float));
        /* with sync-bn the keys' statistics are global too (MoCo v3); else BN is shuffled across processes */
        if (cfg->sync_bn) dy_model_set_bn_sync(t->key_model, &t->bn_sync);
    }
    if (!t->z || !t->dz) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory for embeddings");
        goto fail;
    }
    if ((st = dy_loss_create(ctx, &lo, &t->loss)) != DY_OK) goto fail;
    if (cfg->framework == DY_FRAMEWORK_MOCO) {
        /* MoCo starts from a full queue of random keys (normalised by the push) */
        float *rows = malloc((size_t)(cfg->moco_queue * t->out_dim) * sizeof(float));
        if (!rows) {
            st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory for the MoCo queue");
            goto fail;
        }
        dy_rng rng;
        dy_rng_init(&rng, cfg->seed, DY_RNG_INIT, 0xffffffffu, 0);
        for (int64_t i = 0; i < cfg->moco_queue * t->out_dim; i++) rows[i] = (float)dy_rng_normal(&rng);
        st = dy_loss_queue_push(t->loss, ctx, cfg->moco_queue, rows);
        free(rows);
        if (st != DY_OK) goto fail;
    }

    dy_loader_options ldo = dy_loader_defaults();
    ldo.batch_size = B; /* global: this process prepares its slice */
    ldo.shard = t->comm->rank;
    ldo.shards = (int)P;
    ldo.views = 2;
    ldo.threads = cfg->loader_threads;
    ldo.seed = cfg->seed;
    ldo.augment = cfg->augment;
    if ((st = dy_loader_create(ctx, &t->loader, train, &ldo)) != DY_OK) goto fail;
    t->steps_per_epoch = dy_loader_steps_per_epoch(t->loader);
    t->total_steps = t->steps_per_epoch * cfg->epochs;

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
    dy_free(t->z);
    dy_free(t->dz);
    dy_free(t->keys);
    dy_free(t->key_images);
    dy_free(t->key_local);
    free(t->shuffle);
    if (t->metrics) fclose(t->metrics);
    free(t);
}

int64_t dy_trainer_step_count(const dy_trainer *t) { return t->step; }
dy_model *dy_trainer_model(dy_trainer *t) { return t->model; }

/* ---- checkpoints ---------------------------------------------------------------------------------------------- */

/* The run's state, the union of what each object holds, in the order of the file: the model (torchvision names, so
 * that a checkpoint also loads as weights), the optimizer's state, MoCo's key encoder and queue, then the trainer's
 * own: counters [step, queue length, queue head], the best kNN so far, the format version. counters and version
 * are staged in the caller's memory. */
static void list_state(dy_trainer *t, dy_tensor_list *l, int64_t counters[3], int64_t *version) {
    int64_t three = 3, one = 1;
    dy_model_list_tensors(t->model, l, "", true);
    dy_optimizer_list_tensors(t->opt, l);
    if (t->key_model) dy_model_list_tensors(t->key_model, l, "key_encoder.", true);
    dy_loss_list_tensors(t->loss, l);
    dy_tensor_list_add(l, "trainer.", "counters", DY_DTYPE_I64, DY_DTYPE_I64, 1, &three, counters);
    dy_tensor_list_add(l, "trainer.", "best_knn", DY_DTYPE_F64, DY_DTYPE_F64, 1, &one, &t->best_knn);
    dy_tensor_list_add(l, "trainer.", "version", DY_DTYPE_I64, DY_DTYPE_I64, 1, &one, version);
}

dy_status dy_trainer_save_checkpoint(dy_trainer *t, const char *path) {
    int64_t counters[3] = {t->step, 0, 0}, version = DY_CHECKPOINT_VERSION;
    dy_loss_queue_position(t->loss, &counters[1], &counters[2]);
    dy_tensor_list l = {0};
    list_state(t, &l, counters, &version);
    dy_status st = dy_tensor_file_save(t->ctx, path, &l);
    dy_tensor_list_free(&l);
    return st;
}

/* An int64 scalar or vector of the file, when it is one. */
static bool file_i64(const dy_st_file *f, const char *name, int64_t *out, int64_t n) {
    const dy_st_tensor *s = dy_st_find(f, name);
    if (!s || s->dtype != DY_ST_I64 || s->numel != n) return false;
    memcpy(out, s->data, (size_t)n * sizeof *out);
    return true;
}

dy_status dy_trainer_load_checkpoint(dy_trainer *t, const char *path) {
    int64_t counters[3], version;
    dy_st_file f;
    dy_status st = dy_st_read(t->ctx, path, &f);
    if (st != DY_OK) return st;
    /* another version first: its tensors may differ, and the version is what to tell */
    if (file_i64(&f, "trainer.version", &version, 1) && version != DY_CHECKPOINT_VERSION) {
        st = dy_fail(t->ctx, DY_ERR_MISMATCH, "%s: checkpoint format version %lld, this build reads %d", path,
                     (long long)version, DY_CHECKPOINT_VERSION);
        goto done;
    }
    dy_tensor_list l = {0};
    list_state(t, &l, counters, &version);
    dy_tensor_file_rules rules = {.what = "a checkpoint of this model and training setup"};
    if ((st = dy_tensor_file_check(t->ctx, path, &f, &l, &rules)) == DY_OK) {
        int64_t c[3];
        file_i64(&f, "trainer.counters", c, 3);
        if (c[0] < 0 || !dy_loss_queue_position_fits(t->loss, c[1], c[2])) {
            st = dy_fail(t->ctx, DY_ERR_FORMAT, "%s: counters (step %lld, queue length %lld, position %lld) do not "
                         "fit a queue of %lld keys", path, (long long)c[0], (long long)c[1], (long long)c[2],
                         (long long)dy_loss_get_options(t->loss)->queue_capacity);
        } else if (c[0] > t->total_steps) {
            st = dy_fail(t->ctx, DY_ERR_MISMATCH, "%s: step %lld is outside this run's %lld steps", path,
                         (long long)c[0], (long long)t->total_steps);
        } else {
            dy_tensor_file_copy(&f, &l);
            t->step = counters[0];
            dy_loss_queue_set_position(t->loss, counters[1], counters[2]);
            if (t->step < t->total_steps)
                st = dy_loader_seek(t->loader, t->step / t->steps_per_epoch, t->step % t->steps_per_epoch);
        }
    }
    dy_tensor_list_free(&l);
done:
    dy_st_free(&f);
    return st;
}

/* ---- one step ------------------------------------------------------------------------------------------------- */

static dy_status optimizer_step(dy_trainer *t, double lr) {
    float *p = dy_model_params(t->model, NULL), *g = dy_model_grads(t->model, NULL);
    /* one fused all-reduce of the flat gradient buffer (ResNet-18: 45 MB) */
    dy_status st = t->comm->allreduce_sum(t->comm, g, t->n_params);
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

/* MoCo's keys over P > 1 processes without sync-bn, with batch norm shuffled as MoCo does: view 1 of the global
 * batch is gathered, permuted (the same permutation on every process), each process computes the keys of its slice
 * of the permuted batch, and the keys are gathered and put back in order. A process's BN statistics then mix images
 * of every process, so its keys cannot cheat through batch statistics shared with its own queries. */
static dy_status moco_shuffled_keys(dy_trainer *t, const dy_batch *b) {
    const int64_t bl = b->batch_size, P = t->comm->size, B = bl * P, d = t->out_dim, r = t->comm->rank;
    const int64_t in = (int64_t)b->channels * b->height * b->width;
    float *all = t->key_images, *slice = t->key_images + B * in; /* [B, in] gathered, [b, in] this slice */
    dy_status st = t->comm->allgather_rows(t->comm, all, b->images + bl * in, bl, in);
    if (st != DY_OK) return st;
    for (int64_t i = 0; i < B; i++) t->shuffle[i] = i;
    dy_rng rng;
    dy_rng_init(&rng, t->cfg.seed, DY_RNG_SHUFFLE_BN, (uint32_t)t->step, 0);
    for (int64_t i = B - 1; i > 0; i--) {
        int64_t j = (int64_t)dy_rng_below(&rng, (uint64_t)i + 1), x = t->shuffle[i];
        t->shuffle[i] = t->shuffle[j];
        t->shuffle[j] = x;
    }
    for (int64_t i = 0; i < bl; i++)
        memcpy(slice + i * in, all + t->shuffle[r * bl + i] * in, (size_t)in * sizeof(float));
    st = dy_model_forward_train(t->key_model, slice, bl, b->height, b->width, NULL, t->key_local);
    if (st != DY_OK) return st;
    l2norm_forward(t->key_local, t->key_local, bl, d, 1e-12f); /* the queue holds unit rows */
    /* the keys in the permuted order, then back in the batch's */
    float *permuted = t->key_local + bl * d;
    if ((st = t->comm->allgather_rows(t->comm, permuted, t->key_local, bl, d)) != DY_OK) return st;
    for (int64_t j = 0; j < B; j++)
        memcpy(t->keys + t->shuffle[j] * d, permuted + j * d, (size_t)d * sizeof(float));
    return DY_OK;
}

/* MoCo v2: queries from view 0 through the encoder, keys from view 1 through the momentum encoder (its own BN),
 * negatives from the queue; then the keys of every process join the queue (every process holds the same queue).
 * Over P processes each computes the loss of its b queries; the reported loss is their mean, and dq is scaled by
 * 1 / P so that the summed gradients are those of that mean. */
static dy_status moco_step(dy_trainer *t, const dy_batch *b, double *loss, dy_loss_diag *diag) {
    int64_t bl = b->batch_size, d = t->out_dim, P = t->comm->size, r = t->comm->rank;
    int64_t in = (int64_t)b->channels * b->height * b->width;
    const dy_pretrain_config *c = &t->cfg;
    /* momentum update of the key encoder before computing keys, as MoCo does */
    float *pk = dy_model_params(t->key_model, NULL);
    const float *pq = dy_model_params(t->model, NULL);
    float m = (float)c->moco_momentum;
#pragma omp parallel for num_threads(t->ctx->threads)
    for (int64_t i = 0; i < t->n_params; i++) pk[i] = m * pk[i] + (1.0f - m) * pq[i];
    dy_status st;
    float *own = t->keys + r * bl * d; /* this process's keys: the positives of its queries */
    if (t->shuffle) { /* P > 1 without sync-bn */
        if ((st = moco_shuffled_keys(t, b)) != DY_OK) return st;
    } else {
        st = dy_model_forward_train(t->key_model, b->images + bl * in, bl, b->height, b->width, NULL, own);
        if (st != DY_OK) return st;
        /* keys are normalised here, as MoCo does; the queue takes them as they are */
        l2norm_forward(own, own, bl, d, 1e-12f);
        if (P > 1 && (st = t->comm->allgather_rows(t->comm, t->keys, own, bl, d)) != DY_OK) return st;
    }
    if ((st = dy_model_forward_train(t->model, b->images, bl, b->height, b->width, NULL, t->z)) != DY_OK) return st;
    float lf;
    if (P == 1) { /* the loss then adds the keys to its queue (NULL: the loss's own) */
        if ((st = dy_loss_moco(t->loss, t->ctx, bl, t->z, own, NULL, 0, t->dz, &lf, diag)) != DY_OK) return st;
        *loss = lf;
        return dy_model_backward(t->model, t->dz);
    }
    /* P > 1: the queue as it is, then the keys of every process join it, in rank order */
    int64_t queue_len;
    const float *queue = dy_loss_queue_rows(t->loss, &queue_len);
    if ((st = dy_loss_moco(t->loss, t->ctx, bl, t->z, own, queue, queue_len, t->dz, &lf, diag)) != DY_OK) return st;
    dy_loss_queue_append_keys(t->loss, bl * P, t->keys);
    const float inv = 1.0f / (float)P;
    for (int64_t i = 0; i < bl * d; i++) t->dz[i] *= inv;
    /* the reported figures: means over the processes (the hardest negative stays this process's) */
    double f[7] = {lf, diag->pos_sim_mean, diag->neg_sim_mean, diag->pos_tau_mean, diag->neg_tau_mean,
                   diag->frac_near_tau_min, diag->frac_near_tau_max};
    if ((st = t->comm->allreduce_sum_f64(t->comm, f, 7)) != DY_OK) return st;
    *loss = f[0] / (double)P;
    diag->loss = *loss;
    diag->pos_sim_mean = f[1] / (double)P, diag->neg_sim_mean = f[2] / (double)P;
    diag->pos_tau_mean = f[3] / (double)P, diag->neg_tau_mean = f[4] / (double)P;
    diag->frac_near_tau_min = f[5] / (double)P, diag->frac_near_tau_max = f[6] / (double)P;
    return dy_model_backward(t->model, t->dz);
}

/* ---- evaluation during training ------------------------------------------------------------------------------- */

dy_status dy_embed_dataset(dy_ctx *ctx, dy_model *model, const dy_dataset *ds, const dy_augment *eval_aug,
                           int64_t batch_size, bool normalize, float **features, int64_t *dim) {
    *features = NULL;
    int64_t fd = dy_model_feature_dim(model);
    float *f = malloc((size_t)(ds->count * fd) * sizeof(float));
    if (!f) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for %lld features", (long long)ds->count);
    dy_eval_iter *it;
    dy_status st = dy_eval_iter_create(ctx, &it, ds, eval_aug, batch_size);
    if (st != DY_OK) {
        free(f);
        return st;
    }
    dy_batch b;
    int64_t row = 0;
    while (dy_eval_iter_next(it, &b)) {
        st = dy_model_embed(model, b.images, b.batch_size, b.height, b.width, f + row * fd);
        if (st != DY_OK) break;
        row += b.batch_size;
    }
    dy_eval_iter_destroy(it);
    if (st == DY_OK && row != ds->count)
        st = dy_fail(ctx, DY_ERR_INTERNAL, "embedded %lld of %lld images", (long long)row, (long long)ds->count);
    if (st != DY_OK) {
        free(f);
        return st;
    }
    if (normalize) l2norm_forward(f, f, ds->count, fd, 1e-12f);
    *features = f;
    *dim = fd;
    return DY_OK;
}

int64_t *dy_labels_int64(const dy_dataset *ds) {
    int64_t *l = malloc((size_t)(ds->count > 0 ? ds->count : 1) * sizeof(int64_t));
    if (l)
        for (int64_t i = 0; i < ds->count; i++) l[i] = ds->labels[i];
    return l;
}

/* Weighted kNN top-1/top-5 of the current encoder: train features as the memory bank, test as queries. */
static dy_status knn_monitor(dy_trainer *t, double *top1, double *top5) {
    dy_augment eval_aug;
    dy_status st = dy_augment_preset(t->ctx, &eval_aug, "eval", t->train);
    if (st != DY_OK) return st;
    float *ftr = NULL, *fte = NULL;
    int64_t *ltr = dy_labels_int64(t->train), *lte = dy_labels_int64(t->test), dim;
    dy_eval_accuracy acc = {0};
    if (!ltr || !lte) {
        st = dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory for labels");
        goto done;
    }
    if ((st = dy_embed_dataset(t->ctx, t->model, t->train, &eval_aug, 256, true, &ftr, &dim)) != DY_OK) goto done;
    if ((st = dy_embed_dataset(t->ctx, t->model, t->test, &eval_aug, 256, true, &fte, &dim)) != DY_OK) goto done;
    st = dy_knn_evaluate(t->ctx, ftr, ltr, t->train->count, fte, lte, t->test->count, dim, t->train->num_classes,
                         &t->cfg.knn, NULL, &acc);
    if (st == DY_OK) {
        *top1 = acc.top1;
        *top5 = acc.top5;
    }
done:
    dy_eval_accuracy_free(&acc);
    free(ftr);
    free(fte);
    free(ltr);
    free(lte);
    return st;
}

/* ---- the loop ------------------------------------------------------------------------------------------------- */

static void path_in_run(char *buf, size_t n, const dy_trainer *t, const char *name) {
    snprintf(buf, n, "%s/%s", t->cfg.run_dir, name);
}

/* Keeps the metric lines of steps up to `step` (a resumed run rewrites what came after its checkpoint). */
static dy_status open_metrics(dy_trainer *t) {
    char path[4096], tmp[4200];
    path_in_run(path, sizeof path, t, "metrics.jsonl");
    FILE *old = fopen(path, "r");
    if (old && t->step > 0) {
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *nw = fopen(tmp, "w");
        if (!nw) {
            fclose(old);
            return dy_fail(t->ctx, DY_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        }
        char line[8192];
        while (fgets(line, sizeof line, old)) {
            const char *s = strstr(line, "\"step\": ");
            if (s && strtoll(s + 8, NULL, 10) > t->step) continue;
            fputs(line, nw);
        }
        fclose(nw);
        fclose(old);
        if (rename(tmp, path) != 0) return dy_fail(t->ctx, DY_ERR_IO, "cannot replace %s", path);
    } else if (old) {
        fclose(old);
    }
    t->metrics = fopen(path, t->step > 0 ? "a" : "w");
    if (!t->metrics) return dy_fail(t->ctx, DY_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return DY_OK;
}

static void log_step(dy_trainer *t, const dy_step_report *r) {
    if (!t->metrics) return; /* not rank 0 */
    const dy_loss_diag *g = &r->diag;
    fprintf(t->metrics,
            "{\"step\": %lld, \"epoch\": %lld, \"loss\": %.7g, \"lr\": %.7g, \"pos_sim\": %.6g, \"neg_sim\": %.6g, "
            "\"neg_sim_max\": %.6g, \"pos_tau\": %.6g, \"neg_tau\": %.6g, \"frac_tau_min\": %.6g, "
            "\"frac_tau_max\": %.6g, \"images_per_s\": %.1f",
            (long long)r->step + 1, (long long)r->epoch + 1, r->loss, r->lr, g->pos_sim_mean, g->neg_sim_mean,
            g->neg_sim_max, g->pos_tau_mean, g->neg_tau_mean, g->frac_near_tau_min, g->frac_near_tau_max,
            r->images_per_s);
    if (t->comm->size > 1) fprintf(t->metrics, ", \"processes\": %d, \"comm_s\": %.6f", t->comm->size, r->comm_s);
    fputs("}\n", t->metrics);
}

static dy_status checkpoint_named(dy_trainer *t, const char *name) {
    if (t->comm->rank != 0) return DY_OK; /* every process holds the same global state: rank 0 writes it */
    char path[4096];
    path_in_run(path, sizeof path, t, name);
    return dy_trainer_save_checkpoint(t, path);
}

static dy_status after_epoch(dy_trainer *t, const dy_pretrain_callbacks *cb, int64_t epoch, bool last) {
    const dy_pretrain_config *c = &t->cfg;
    bool monitor = t->comm->rank == 0 && t->test && c->knn_every >= 0 && t->test->num_classes > 0 &&
                   (last || (c->knn_every > 0 && (epoch + 1) % c->knn_every == 0));
    if (!monitor) return DY_OK;
    double top1 = 0, top5 = 0, t0 = now_seconds();
    dy_status st = knn_monitor(t, &top1, &top5);
    if (st != DY_OK) return st;
    fprintf(t->metrics, "{\"step\": %lld, \"epoch\": %lld, \"knn_top1\": %.6f, \"knn_top5\": %.6f, \"knn_k\": %lld, "
            "\"knn_t\": %g, \"knn_on\": \"test\"}\n", (long long)t->step, (long long)epoch + 1, top1, top5,
            (long long)c->knn.k, (double)c->knn.temperature);
    fflush(t->metrics);
    say(cb, "epoch %lld: kNN top-1 %.2f %%, top-5 %.2f %% (k %lld, t %g, on the test split; %.0f s)",
        (long long)epoch + 1, 100 * top1, 100 * top5, (long long)c->knn.k, (double)c->knn.temperature,
        now_seconds() - t0);
    if (top1 > t->best_knn) {
        t->best_knn = top1;
        /* selected by the kNN monitor on TEST data: the name says so, so nobody mistakes it for a clean choice */
        if ((st = checkpoint_named(t, "checkpoint-best-knn-on-test.safetensors")) != DY_OK) return st;
    }
    return DY_OK;
}

dy_status dy_trainer_run(dy_trainer *t, const dy_pretrain_callbacks *cb, volatile sig_atomic_t *stop) {
    const dy_pretrain_config *c = &t->cfg;
    dy_status st = t->comm->rank == 0 ? open_metrics(t) : DY_OK;
    if (st != DY_OK) return st;
    int64_t end = t->total_steps;
    if (c->max_steps > 0 && c->max_steps < end) end = c->max_steps;
    while (t->step < end) {
        int64_t epoch = t->step / t->steps_per_epoch, in_epoch = t->step % t->steps_per_epoch;
        double t0 = now_seconds(), comm0 = t->comm->seconds;
        dy_batch b;
        if ((st = dy_loader_next(t->loader, &b)) != DY_OK) return st;
        if (b.epoch != epoch || b.step != in_epoch)
            return dy_fail(t->ctx, DY_ERR_INTERNAL, "loader gave batch %lld/%lld, expected %lld/%lld",
                           (long long)b.epoch, (long long)b.step, (long long)epoch, (long long)in_epoch);
        dy_step_report r = {.step = t->step, .epoch = epoch, .step_in_epoch = in_epoch,
                            .steps_per_epoch = t->steps_per_epoch, .total_steps = end, .epochs = c->epochs};
        r.lr = dy_schedule_lr(&t->sched, t->step);
        st = c->framework == DY_FRAMEWORK_SIMCLR ? simclr_step(t, &b, &r.loss, &r.diag)
                                                 : moco_step(t, &b, &r.loss, &r.diag);
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
        t->step++;
        log_step(t, &r);
        if (t->metrics) fflush(t->metrics); /* so that `tail -f metrics.jsonl` and plotting scripts see every step */
        if (cb && cb->on_step) cb->on_step(cb->user, &r);
        bool epoch_done = t->step % t->steps_per_epoch == 0;
        /* the monitor runs at epoch ends only, so an invocation cut short by --max-steps or a signal leaves the
         * same state (best kNN, its checkpoint) as an uninterrupted run */
        if (epoch_done && (st = after_epoch(t, cb, epoch, t->step == t->total_steps)) != DY_OK) return st;
        bool periodic = c->checkpoint_every > 0 ? t->step % c->checkpoint_every == 0 : epoch_done;
        bool stopping = stop_flag != 0;
        if (periodic || stopping || t->step == end) {
            if (t->metrics) fflush(t->metrics);
            if ((st = checkpoint_named(t, "checkpoint-latest.safetensors")) != DY_OK) return st;
        }
        if (stopping && t->step < end)
            return dy_fail(t->ctx, DY_ERR_INTERRUPTED, "interrupted after step %lld; checkpoint saved, continue "
                           "with --resume", (long long)t->step);
    }
    if (t->metrics) fflush(t->metrics);
    if (t->step == t->total_steps) return checkpoint_named(t, "checkpoint-final.safetensors");
    return DY_OK;
}
