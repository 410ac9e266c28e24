/* MoCo v2 in the trainer: the key encoder (a copy of the model, updated by momentum before each step), its buffers,
 * the queue's first keys, the keys of a step (over several processes with batch norm shuffled between them unless
 * sync-bn) and the step up to the backward. The queue itself is the loss's (src/loss/loss_state.h). */
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/rng.h"
#include "loss/loss_state.h"
#include "model/model.h"
#include "train/trainer_internal.h"

dy_status dy_moco_prepare(dy_trainer *t, dy_loss_options *lo) {
    const dy_pretrain_config *cfg = &t->cfg;
    dy_ctx *ctx = t->ctx;
    const int64_t P = t->comm->size, B = cfg->batch_size, b = B / P; /* the global batch, this process's slice */
    if (cfg->moco_queue < 1) return dy_fail(ctx, DY_ERR_INVALID, "the MoCo queue needs at least one key");
    lo->form = DY_LOSS_MOCO;
    lo->max_batch = b;
    lo->queue_capacity = cfg->moco_queue; /* the loss keeps the queue */
    t->z = dy_alloc((size_t)(b * t->out_dim) * sizeof(float));
    t->dz = dy_alloc((size_t)(b * t->out_dim) * sizeof(float));
    t->keys = dy_alloc((size_t)(B * t->out_dim) * sizeof(float));
    if (P > 1 && !cfg->sync_bn) {
        const int64_t in = (int64_t)t->train->channels * cfg->augment.size[0] * cfg->augment.size[1];
        t->key_images = dy_alloc((size_t)((B + b) * in) * sizeof(float));
        t->key_local = dy_alloc((size_t)((b + B) * t->out_dim) * sizeof(float));
        t->shuffle = malloc((size_t)B * sizeof *t->shuffle);
        if (!t->key_images || !t->key_local || !t->shuffle)
            return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for MoCo's shuffled batch norm");
    }
    if (!t->keys) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for the MoCo keys");
    DY_TRY(dy_model_create(ctx, &cfg->model, cfg->seed, &t->key_model));
    memcpy(dy_model_params(t->key_model, NULL), dy_model_params(t->model, NULL), (size_t)t->n_params * sizeof(float));
    /* with sync-bn the keys' statistics are global too (MoCo v3); else BN is shuffled across processes */
    if (cfg->sync_bn) dy_model_set_bn_sync(t->key_model, &t->bn_sync);
    return DY_OK;
}

dy_status dy_moco_fill_queue(dy_trainer *t) {
    const dy_pretrain_config *cfg = &t->cfg;
    float *rows = malloc((size_t)(cfg->moco_queue * t->out_dim) * sizeof(float));
    if (!rows) return dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory for the MoCo queue");
    dy_rng rng;
    dy_rng_init(&rng, cfg->seed, DY_RNG_INIT, 0xffffffffu, 0);
    for (int64_t i = 0; i < cfg->moco_queue * t->out_dim; i++) rows[i] = (float)dy_rng_normal(&rng);
    dy_status st = dy_loss_queue_push(t->loss, t->ctx, cfg->moco_queue, rows);
    free(rows);
    return st;
}

/* The key encoder's momentum update: key = m key + (1 - m) query, parameter by parameter. */
static void momentum_update(dy_trainer *t) {
    float *pk = dy_model_params(t->key_model, NULL);
    const float *pq = dy_model_params(t->model, NULL);
    float m = (float)t->cfg.moco_momentum;
#pragma omp parallel for num_threads(t->ctx->threads)
    for (int64_t i = 0; i < t->n_params; i++) pk[i] = m * pk[i] + (1.0f - m) * pq[i];
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
dy_status dy_moco_step(dy_trainer *t, const dy_batch *b, double *loss, dy_loss_diag *diag) {
    int64_t bl = b->batch_size, d = t->out_dim, P = t->comm->size, r = t->comm->rank;
    int64_t in = (int64_t)b->channels * b->height * b->width;
    momentum_update(t); /* before computing keys, as MoCo does */
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
