/* The pretraining loop (see pretrain.h). */
#include "train/pretrain.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/context.h"
#include "core/rng.h"
#include "eval/embed.h"
#include "io/tensor_file.h"
#include "loss/loss_state.h"
#include "model/model.h"
#include "io/atomic_file.h"
#include "report/encoder_view.h"
#include "train/grad_buckets.h"

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

dy_status dy_trainer_create(dy_ctx *ctx, const dy_pretrain_config *cfg, const dy_dataset *train,
                            const dy_dataset *test, dy_trainer **out) {
    *out = NULL;
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
    dy_trainer *t = calloc(1, sizeof *t);
    if (!t) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
    t->ctx = ctx;
    t->cfg = *cfg;
    t->train = train;
    t->test = test;
    t->best_knn = -1;
    t->saved_step = -1;
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
    if (P > 1 && cfg->grad_bucket_bytes > 0 && (st = plan_grad_buckets(t)) != DY_OK) goto fail;

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
    if (cfg->tau_adapt.on) {
        if ((st = dy_tau_adapt_check(ctx, &cfg->tau_adapt, &cfg->tau)) != DY_OK) goto fail;
        t->adapt = (dy_tau_adapt_state){.tau_min = cfg->tau.tau_min, .tau_max = cfg->tau.tau_max};
    }
    /* the schedule: a file's table read here (the trainer keeps it), then every level it reaches checked */
    dy_tau_schedule *ts = &t->cfg.tau_schedule;
    if ((st = dy_tau_schedule_check(ctx, ts, &cfg->tau, cfg->tau_adapt.on)) != DY_OK) goto fail;
    if (ts->kind == DY_TAU_SCHEDULE_FILE && !ts->table) {
        if ((st = dy_tau_schedule_read(ctx, ts->file, &ts->table_kind, &t->tau_table, &ts->rows)) != DY_OK) goto fail;
        ts->table = t->tau_table;
        if ((st = dy_tau_schedule_check(ctx, ts, &cfg->tau, false)) != DY_OK) goto fail;
    }
    t->tau_now = cfg->tau;
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
    if (cfg->epochs > INT64_MAX / t->steps_per_epoch) {
        st = dy_fail(ctx, DY_ERR_INVALID, "%lld epochs of %lld steps overflow the step counter",
                     (long long)cfg->epochs, (long long)t->steps_per_epoch);
        goto fail;
    }
    t->total_steps = t->steps_per_epoch * cfg->epochs;
    t->hist_every = t->total_steps / DY_HIST_LINES > 1 ? t->total_steps / DY_HIST_LINES : 1;

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
    dy_grad_sync_free(&t->grad_sync);
    dy_free(t->z);
    dy_free(t->dz);
    dy_free(t->keys);
    dy_free(t->key_images);
    dy_free(t->key_local);
    free(t->shuffle);
    free(t->tau_table);
    if (t->metrics.fp) fclose(t->metrics.fp);
    if (t->histograms.fp) fclose(t->histograms.fp);
    free(t);
}

int64_t dy_trainer_step_count(const dy_trainer *t) { return t->step; }
dy_model *dy_trainer_model(dy_trainer *t) { return t->model; }

/* ---- checkpoints ---------------------------------------------------------------------------------------------- */

/* The run's state, the union of what each object holds, in the order of the file: the model (torchvision names, so
 * that a checkpoint also loads as weights), the optimizer's state, MoCo's key encoder and queue, then the trainer's
 * own: counters [step, queue length, queue head], the best kNN so far, the format version. counters and version
 * are staged in the caller's memory. The adaptive profile's bounds are state; a temperature schedule's tensors are
 * configuration, compared on load (tau_schedule_matches). */
static void list_state(dy_trainer *t, dy_tensor_list *l, int64_t counters[3], int64_t *version) {
    int64_t three = 3, one = 1;
    dy_model_list_tensors(t->model, l, "", true);
    dy_optimizer_list_tensors(t->opt, l);
    if (t->key_model) dy_model_list_tensors(t->key_model, l, "key_encoder.", true);
    dy_loss_list_tensors(t->loss, l);
    if (t->cfg.tau_adapt.on) dy_tau_adapt_list_tensors(&t->adapt, l);
    dy_tau_schedule_list_tensors(&t->cfg.tau_schedule, t->tau_spec, l);
    dy_tensor_list_add(l, "trainer.", "counters", DY_DTYPE_I64, DY_DTYPE_I64, 1, &three, counters);
    dy_tensor_list_add(l, "trainer.", "best_knn", DY_DTYPE_F64, DY_DTYPE_F64, 1, &one, &t->best_knn);
    dy_tensor_list_add(l, "trainer.", "version", DY_DTYPE_I64, DY_DTYPE_I64, 1, &one, version);
}

dy_status dy_trainer_save_checkpoint(dy_trainer *t, const char *path) {
    int64_t counters[3] = {t->step, 0, 0}, version = DY_CHECKPOINT_VERSION;
    dy_loss_queue_position(t->loss, &counters[1], &counters[2]);
    dy_tensor_list l = {0};
    list_state(t, &l, counters, &version);
    if (t->cfg.config_text) {
        /* the options the run was made with, so that a resume can be checked against them (never loaded back) */
        int64_t len = (int64_t)strlen(t->cfg.config_text);
        dy_tensor_list_add(&l, "", DY_CHECKPOINT_CONFIG, DY_DTYPE_U8, DY_DTYPE_U8, 1, &len,
                           (void *)t->cfg.config_text);
    }
    /* the encoder's architecture and the normalisation it is trained with, for `dystress export` and PyTorch users
     * (src/model/encoder_meta.h): the views' size and Normalize, which the file cannot tell otherwise */
    dy_encoder_meta meta = dy_encoder_meta_of_model(t->model);
    dy_encoder_meta_set_input(&meta, &t->cfg.augment);
    dy_encoder_meta_text text;
    dy_encoder_meta_format(&meta, &text);
    dy_status st = dy_tensor_file_save_meta(t->ctx, path, &l, text.items, text.count);
    dy_tensor_list_free(&l);
    return st;
}

/* The schedule a checkpoint was trained with against this run's (both already the same shapes): a table edited
 * between a run and its resume, or another schedule, would make the resumed run differ from an uninterrupted one. */
static bool tau_schedule_matches(const dy_trainer *t, const dy_st_file *f) {
    const dy_tau_schedule *s = &t->cfg.tau_schedule;
    if (s->kind == DY_TAU_SCHEDULE_CONSTANT) return true;
    const dy_st_tensor *spec = dy_st_find(f, "tau_schedule.spec"), *table = dy_st_find(f, "tau_schedule.table");
    if (!spec || spec->nbytes != sizeof t->tau_spec || memcmp(spec->data, t->tau_spec, sizeof t->tau_spec))
        return false;
    if (s->kind != DY_TAU_SCHEDULE_FILE) return true;
    return table && table->nbytes == (size_t)s->rows * 3 * sizeof(double) && !memcmp(table->data, s->table,
                                                                                     table->nbytes);
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
    /* the stored configuration is the caller's to compare (dy_checkpoint_read_config), not state to restore */
    dy_tensor_file_rules rules = {.what = "a checkpoint of this model and training setup",
                                  .ignore_prefix = DY_CHECKPOINT_CONFIG};
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
        } else if (!tau_schedule_matches(t, &f)) {
            st = dy_fail(t->ctx, DY_ERR_MISMATCH, "%s: the temperature schedule (tau_schedule.spec/table) differs "
                         "from this run's --tau-schedule %s%s%s: was the schedule file changed since the run began?",
                         path, dy_tau_schedule_name(t->cfg.tau_schedule.kind),
                         t->cfg.tau_schedule.file ? " " : "", t->cfg.tau_schedule.file ? t->cfg.tau_schedule.file : "");
        } else {
            dy_tensor_file_copy(&f, &l);
            t->step = counters[0];
            t->saved_step = t->step;
            dy_loss_queue_set_position(t->loss, counters[1], counters[2]);
            if (t->cfg.tau_adapt.on) {
                dy_tau_profile p = dy_tau_adapt_profile(&t->cfg.tau, &t->adapt);
                dy_tau_adapt_apply(t->loss, &p);
            }
            if (t->step < t->total_steps)
                st = dy_loader_seek(t->loader, t->step / t->steps_per_epoch, t->step % t->steps_per_epoch);
        }
    }
    dy_tensor_list_free(&l);
done:
    dy_st_free(&f);
    return st;
}

dy_status dy_checkpoint_read_config(dy_ctx *ctx, const char *path, char **config) {
    *config = NULL;
    dy_st_file f;
    dy_status st = dy_st_read(ctx, path, &f);
    if (st != DY_OK) return st;
    const dy_st_tensor *t = dy_st_find(&f, DY_CHECKPOINT_CONFIG);
    if (t && (t->dtype != DY_ST_U8 || t->ndim != 1 || memchr(t->data, 0, t->nbytes)))
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: tensor '%s' is not a U8 text", path, DY_CHECKPOINT_CONFIG);
    else if (t && !(*config = malloc(t->nbytes + 1)))
        st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory reading %s", path);
    else if (t) {
        memcpy(*config, t->data, t->nbytes);
        (*config)[t->nbytes] = 0;
    }
    dy_st_free(&f);
    return st;
}

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
    /* the queue holds unit rows */
    if ((st = dy_l2_normalize(t->ctx, t->key_local, t->key_local, bl, d)) != DY_OK) return st;
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
        if ((st = dy_l2_normalize(t->ctx, own, own, bl, d)) != DY_OK) return st;
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

static void path_in_run(char *buf, size_t n, const dy_trainer *t, const char *name) {
    snprintf(buf, n, "%s/%s", t->cfg.run_dir, name);
}

/* The step of a metrics line, or -1 when it has none (a line cut short by a crash). */
static int64_t line_step(const char *line) {
    static const char key[] = "{\"step\": ";
    if (strncmp(line, key, sizeof key - 1)) return -1;
    char *end;
    long long v = strtoll(line + sizeof key - 1, &end, 10);
    return end == line + sizeof key - 1 || *end != ',' ? -1 : v;
}

/* Opens path for reading or appending without following a symlink planted there, and only when it is a regular file:
 * O_NONBLOCK so that a FIFO put there cannot hold the open (for ever, waiting for a writer or reader that never
 * comes) before fstat refuses it. NULL with errno; EINVAL: something other than a regular file is there. */
static FILE *open_nofollow(const char *path, int flags, const char *mode) {
    int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0666);
    if (fd < 0) return NULL;
    struct stat sb;
    int e = 0;
    if (fstat(fd, &sb) != 0) e = errno;
    else if (!S_ISREG(sb.st_mode)) e = EINVAL;
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) e = errno;
    FILE *f = e ? NULL : fdopen(fd, mode);
    if (!f) {
        if (!e) e = errno;
        close(fd);
        errno = e;
    }
    return f;
}

static dy_status log_error(dy_trainer *t, const run_log *log, const char *what, int e) {
    char last[96] = "no checkpoint was written";
    if (t->saved_step >= 0)
        snprintf(last, sizeof last, "checkpoint-latest (step %lld) is intact", (long long)t->saved_step);
    return dy_fail(t->ctx, DY_ERR_IO, "cannot %s %s: %s; stopped after step %lld, %s", what, log->path,
                   e ? strerror(e) : "write error", (long long)t->step, last);
}

/* open_nofollow's failure: EINVAL there means a FIFO, device, socket or folder stands at the log's name (ENXIO: a
 * FIFO without a reader, refused by the non-blocking open for writing). */
static dy_status open_error(dy_trainer *t, const run_log *log, const char *what, int e) {
    if (e != EINVAL && e != ENXIO) return log_error(t, log, what, e);
    return dy_fail(t->ctx, DY_ERR_IO, "cannot %s %s: it is not a regular file (a FIFO, device, socket or folder put "
                   "there?); move it away and resume; stopped after step %lld", what, log->path, (long long)t->step);
}

/* Keeps the complete lines of steps up to `step` (a resumed run rewrites what came after its checkpoint): written
 * to a temporary file and renamed over the old one, every read and write checked. */
static dy_status rewrite_log(dy_trainer *t, run_log *log) {
    FILE *old = open_nofollow(log->path, O_RDONLY, "r");
    if (!old) return errno == ENOENT ? DY_OK : open_error(t, log, "read", errno);
    dy_atomic_file nw;
    dy_status st = dy_atomic_open(t->ctx, &nw, log->path);
    if (st != DY_OK) {
        fclose(old);
        return st;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    bool ok = true;
    errno = 0;
    while (ok && (len = getline(&line, &cap, old)) > 0) {
        int64_t s = line_step(line);
        if (line[len - 1] != '\n' || s < 0 || s > t->step) continue;
        ok = fwrite(line, 1, (size_t)len, nw.fp) == (size_t)len;
    }
    int e = errno;
    if (ok && ferror(old)) {
        free(line);
        fclose(old);
        dy_atomic_abort(&nw);
        return log_error(t, log, "read", e);
    }
    free(line);
    fclose(old);
    if (!ok) {
        dy_atomic_abort(&nw);
        return log_error(t, log, "rewrite", e);
    }
    return dy_atomic_commit(t->ctx, &nw);
}

/* Opens a log of the run directory: started afresh at step 0, else cut back to the restored checkpoint's step and
 * appended to. */
static dy_status open_log(dy_trainer *t, run_log *log, const char *name) {
    path_in_run(log->path, sizeof log->path, t, name);
    dy_status st;
    if (t->step > 0 && (st = rewrite_log(t, log)) != DY_OK) return st;
    int flags = O_WRONLY | O_CREAT | (t->step > 0 ? O_APPEND : O_TRUNC);
    log->fp = open_nofollow(log->path, flags, t->step > 0 ? "a" : "w");
    if (!log->fp) return open_error(t, log, "open", errno);
    return DY_OK;
}

static dy_status open_logs(dy_trainer *t) {
    dy_status st = open_log(t, &t->metrics, "metrics.jsonl");
    return st == DY_OK ? open_log(t, &t->histograms, "histograms.jsonl") : st;
}

/* Every line is flushed as it is written, so that `tail -f`, plotting scripts and the report see it at once, and so
 * that a full disk stops the run here, naming the file. ok: the line's fprintf succeeded. */
static dy_status log_flush(dy_trainer *t, run_log *log, bool ok) {
    errno = 0;
    if (!ok || fflush(log->fp) != 0 || ferror(log->fp)) return log_error(t, log, "write", errno);
    return DY_OK;
}

static dy_status log_step(dy_trainer *t, const dy_step_report *r) {
    if (!t->metrics.fp) return DY_OK; /* not rank 0 */
    const dy_loss_diag *g = &r->diag;
    int n = fprintf(t->metrics.fp,
            "{\"step\": %lld, \"epoch\": %lld, \"loss\": %.7g, \"lr\": %.7g, \"pos_sim\": %.6g, \"neg_sim\": %.6g, "
            "\"neg_sim_max\": %.6g, \"pos_tau\": %.6g, \"neg_tau\": %.6g, \"frac_tau_min\": %.6g, "
            "\"frac_tau_max\": %.6g, \"images_per_s\": %.1f",
            (long long)r->step + 1, (long long)r->epoch + 1, r->loss, r->lr, g->pos_sim_mean, g->neg_sim_mean,
            g->neg_sim_max, g->pos_tau_mean, g->neg_tau_mean, g->frac_near_tau_min, g->frac_near_tau_max,
            r->images_per_s);
    /* data parallel: the figures are the global batch's; comm_s is rank 0's time in the communication calls */
    if (n > 0 && t->comm->size > 1)
        n = fprintf(t->metrics.fp, ", \"processes\": %d, \"comm_s\": %.6f, \"grad_bytes\": %lld, "
                    "\"gather_bytes\": %lld", t->comm->size, r->comm_s, (long long)r->grad_bytes,
                    (long long)r->gather_bytes);
    /* the adaptive profile: the bounds this step used */
    if (n > 0 && t->cfg.tau_adapt.on)
        n = fprintf(t->metrics.fp, ", \"tau_min\": %.9g, \"tau_max\": %.9g", t->adapt.tau_min, t->adapt.tau_max);
    /* a temperature schedule: the levels this step used */
    if (n > 0 && t->cfg.tau_schedule.kind != DY_TAU_SCHEDULE_CONSTANT) {
        const dy_tau_profile *p = &t->tau_now;
        if (p->kind == DY_TAU_CONSTANT) n = fprintf(t->metrics.fp, ", \"tau\": %.9g", (double)p->tau_max);
        else n = fprintf(t->metrics.fp, ", \"tau_min\": %.9g, \"tau_max\": %.9g", (double)p->tau_min,
                         (double)p->tau_max);
    }
    /* the plan this process runs (chosen by the user or the plan tuner), once */
    if (n > 0 && !t->plan_logged)
        n = fprintf(t->metrics.fp, ", \"plan\": \"%s %s %s\"", dy_layout_name(dy_ctx_layout(t->ctx)),
                    dy_conv_algo_name(dy_ctx_conv_algo(t->ctx)), dy_precision_name(t->cfg.model.precision));
    t->plan_logged = true;
    if (n > 0) n = fputs("}\n", t->metrics.fp) >= 0 ? 1 : -1;
    dy_status st = log_flush(t, &t->metrics, n > 0);
    /* the similarity histograms at the first step and every hist_every steps (about DY_HIST_LINES in a run) */
    int64_t step = r->step + 1;
    if (st != DY_OK || (step != 1 && step % t->hist_every != 0 && step != t->total_steps)) return st;
    FILE *h = t->histograms.fp;
    bool ok = fprintf(h, "{\"step\": %lld, \"epoch\": %lld, \"bins\": %d, \"pos\": [", (long long)step,
                      (long long)r->epoch + 1, DY_LOSS_HIST_BINS) > 0;
    for (int b = 0; b < DY_LOSS_HIST_BINS; b++) ok &= fprintf(h, "%s%lld", b ? ", " : "", (long long)g->pos_hist[b]) > 0;
    ok &= fputs("], \"neg\": [", h) >= 0;
    for (int b = 0; b < DY_LOSS_HIST_BINS; b++) ok &= fprintf(h, "%s%lld", b ? ", " : "", (long long)g->neg_hist[b]) > 0;
    ok &= fputs("]}\n", h) >= 0;
    return log_flush(t, &t->histograms, ok);
}

/* Writes a checkpoint of the run; a failed write stops the run with a message that says what is still good. */
static dy_status checkpoint_named(dy_trainer *t, const char *name) {
    if (t->comm->rank != 0) return DY_OK; /* every process holds the same global state: rank 0 writes it */
    char path[4096];
    path_in_run(path, sizeof path, t, name);
    dy_status st = dy_trainer_save_checkpoint(t, path);
    if (st != DY_OK) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s", dy_ctx_error(t->ctx));
        if (t->saved_step >= 0)
            return dy_fail(t->ctx, st, "%s; stopped after step %lld, checkpoint-latest (step %lld) is intact", msg,
                           (long long)t->step, (long long)t->saved_step);
        return dy_fail(t->ctx, st, "%s; stopped after step %lld, no checkpoint was written", msg, (long long)t->step);
    }
    return DY_OK;
}

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
    int n = fprintf(t->metrics.fp, "{\"step\": %lld, \"epoch\": %lld, \"alignment\": %.6f, \"uniformity\": %.6f, "
                    "\"repr_images\": %lld, \"repr_on\": \"%s\"}\n", (long long)t->step, (long long)epoch + 1, align,
                    unif, (long long)count, on);
    if ((st = log_flush(t, &t->metrics, n > 0)) != DY_OK) return st;
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
    n = fprintf(t->metrics.fp, "{\"step\": %lld, \"epoch\": %lld, \"knn_top1\": %.6f, \"knn_top5\": %.6f, "
                    "\"knn_k\": %lld, \"knn_t\": %g, \"knn_on\": \"%s\"", (long long)t->step,
                    (long long)epoch + 1, top1, top5, (long long)c->knn.k, (double)c->knn.temperature, split);
    /* per class (the report's per-class table and long-tail groups): top-1 (null for a class without test
     * images) and the training images of each class */
    bool written = n > 0 && fputs(", \"knn_class_top1\": [", t->metrics.fp) >= 0;
    for (int64_t k = 0; written && k < acc.classes; k++)
        written = (isfinite(acc.class_top1[k]) ? fprintf(t->metrics.fp, "%s%.6f", k ? ", " : "", acc.class_top1[k])
                                               : fprintf(t->metrics.fp, "%snull", k ? ", " : "")) > 0;
    written = written && fputs("], \"knn_class_train\": [", t->metrics.fp) >= 0;
    for (int64_t k = 0; written && k < acc.classes; k++)
        written = fprintf(t->metrics.fp, "%s%lld", k ? ", " : "", (long long)t->train->class_counts[k]) > 0;
    written = written && fputs("]}\n", t->metrics.fp) >= 0;
    dy_eval_accuracy_free(&acc);
    if ((st = log_flush(t, &t->metrics, written)) != DY_OK) return st;
    say(cb, "epoch %lld: kNN top-1 %.2f %%, top-5 %.2f %% (k %lld, t %g, on the %s split; %.0f s)",
        (long long)epoch + 1, 100 * top1, 100 * top5, (long long)c->knn.k, (double)c->knn.temperature, split,
        now_seconds() - t0);
    if (top1 > t->best_knn) {
        t->best_knn = top1;
        /* named for the split it was chosen on: on TEST data the name says so, so nobody mistakes it for a clean
         * choice */
        char name[96];
        snprintf(name, sizeof name, "checkpoint-best-knn-on-%s.safetensors", split);
        if ((st = checkpoint_named(t, name)) != DY_OK) return st;
    }
    return DY_OK;
}

dy_status dy_trainer_run(dy_trainer *t, const dy_pretrain_callbacks *cb, volatile sig_atomic_t *stop) {
    const dy_pretrain_config *c = &t->cfg;
    dy_status st = t->comm->rank == 0 ? open_logs(t) : DY_OK;
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
                                                 : moco_step(t, &b, &r.loss, &r.diag);
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
        if ((st = log_step(t, &r)) != DY_OK) return st;
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
            if (t->metrics.fp && fsync(fileno(t->metrics.fp)) != 0 && errno != EINVAL)
                return log_error(t, &t->metrics, "sync", errno);
            if ((st = checkpoint_named(t, "checkpoint-latest.safetensors")) != DY_OK) return st;
            t->saved_step = t->step;
        }
        if (epoch_done && cb && cb->on_epoch_end) cb->on_epoch_end(cb->user, epoch);
        if (stopping && t->step < end)
            return dy_fail(t->ctx, DY_ERR_INTERRUPTED, "interrupted after step %lld; checkpoint saved, continue "
                           "with --resume", (long long)t->step);
    }
    if (t->step == t->total_steps) return checkpoint_named(t, "checkpoint-final.safetensors");
    return DY_OK;
}
