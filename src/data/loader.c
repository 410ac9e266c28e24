/* The training loader: worker threads prepare whole batches into a ring of `queue_depth` slots, in order.
 * Batch number s (counted from the start position) always goes to slot s % depth; a worker claims the next number
 * only when that slot is free, and the trainer takes numbers in order, so batches arrive in order whatever the
 * thread count, and the content of batch s depends only on (seed, epoch, step) — never on which thread made it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "data/augment/augment.h"

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_TAKEN };

typedef struct {
    float *images;     /* [views * b, C, H, W], b the shard's images per batch */
    int32_t *labels;   /* [b] */
    int64_t *indices;  /* [b] */
    int64_t seq;
    int state;
} slot;

typedef struct {
    struct dy_loader *ld;
    int64_t perm_epoch;  /* epoch whose order `perm` holds, -1 none */
    int64_t *perm;       /* [count] */
    float *scratch;      /* blur scratch: H_out * W_out floats */
} worker;

struct dy_loader {
    const dy_dataset *ds;
    dy_loader_options o;
    int64_t steps;            /* batches per epoch (drop-last) */
    int64_t local;            /* images of this shard per batch: batch_size / shards */
    int64_t row;              /* floats per prepared view */
    pthread_mutex_t mu;
    pthread_cond_t ready, freed;
    slot *slots;
    int64_t base;             /* global batch number (epoch * steps + step) of sequence number 0 */
    int64_t next_claim;       /* next sequence number a worker prepares */
    int64_t next_take;        /* next sequence number the trainer receives */
    int64_t held;             /* sequence number the trainer holds, -1 none */
    atomic_bool stop;
    pthread_t *threads;
    worker *workers;
    int running;              /* threads started */
};

dy_loader_options dy_loader_defaults(void) {
    dy_loader_options o;
    memset(&o, 0, sizeof o);
    o.batch_size = 128;
    o.views = 2;
    o.threads = 2;
    o.queue_depth = 4;
    o.shuffle = true;
    o.shard = 0;
    o.shards = 1;
    return o;
}

/* The epoch's order: Fisher-Yates with the stream (seed, DY_RNG_SHUFFLE, epoch, 0), or the identity. */
static void epoch_order(const dy_loader *ld, int64_t epoch, int64_t *perm) {
    const int64_t n = ld->ds->count;
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    if (!ld->o.shuffle) return;
    dy_rng r;
    dy_rng_init(&r, ld->o.seed, DY_RNG_SHUFFLE, (uint32_t)epoch, 0);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)dy_rng_below(&r, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static void fill(worker *w, slot *s, int64_t global) {
    dy_loader *ld = w->ld;
    const dy_dataset *ds = ld->ds;
    /* the global batch's positions [first, first + b) are this shard's */
    const int64_t B = ld->o.batch_size, b = ld->local, first = (int64_t)ld->o.shard * b;
    const int64_t epoch = global / ld->steps, step = global % ld->steps;
    if (w->perm_epoch != epoch) {
        epoch_order(ld, epoch, w->perm);
        w->perm_epoch = epoch;
    }
    const size_t per = (size_t)ds->channels * ds->height * ds->width;
    for (int64_t i = 0; i < b; i++) {
        if (atomic_load_explicit(&ld->stop, memory_order_relaxed)) return; /* shutting down: content unused */
        const int64_t sample = w->perm[step * B + first + i];
        s->labels[i] = ds->labels[sample];
        s->indices[i] = sample;
        for (int v = 0; v < ld->o.views; v++) {
            dy_rng r;
            dy_rng_init(&r, ld->o.seed, DY_RNG_AUGMENT, (uint32_t)epoch, (uint32_t)(sample * 8 + v));
            dy_augment_apply(&ld->o.augment, ds->pixels + (size_t)sample * per, ds->channels, ds->height, ds->width,
                             s->images + (size_t)(v * b + i) * ld->row, &r, v, w->scratch);
        }
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    dy_loader *ld = w->ld;
    const int depth = ld->o.queue_depth;
    pthread_mutex_lock(&ld->mu);
    while (!atomic_load(&ld->stop)) {
        int64_t seq = ld->next_claim;
        slot *s = &ld->slots[seq % depth];
        if (s->state != SLOT_FREE) {
            pthread_cond_wait(&ld->freed, &ld->mu);
            continue;
        }
        ld->next_claim++;
        s->state = SLOT_FILLING;
        s->seq = seq;
        pthread_mutex_unlock(&ld->mu);
        fill(w, s, ld->base + seq);
        pthread_mutex_lock(&ld->mu);
        s->state = SLOT_READY;
        pthread_cond_broadcast(&ld->ready);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

static void stop_workers(dy_loader *ld) {
    pthread_mutex_lock(&ld->mu);
    atomic_store(&ld->stop, true);
    pthread_cond_broadcast(&ld->freed);
    pthread_cond_broadcast(&ld->ready);
    pthread_mutex_unlock(&ld->mu);
    for (int t = 0; t < ld->running; t++) pthread_join(ld->threads[t], NULL);
    ld->running = 0;
}

static dy_status start_workers(dy_ctx *ctx, dy_loader *ld, int64_t epoch, int64_t step) {
    ld->base = epoch * ld->steps + step;
    ld->next_claim = ld->next_take = 0;
    ld->held = -1;
    for (int i = 0; i < ld->o.queue_depth; i++) ld->slots[i].state = SLOT_FREE;
    atomic_store(&ld->stop, false);
    for (int t = 0; t < ld->o.threads; t++) {
        if (pthread_create(&ld->threads[t], NULL, worker_main, &ld->workers[t]) != 0) {
            stop_workers(ld);
            return dy_fail(ctx, DY_ERR_INTERNAL, "loader: cannot start worker thread %d", t);
        }
        ld->running = t + 1;
    }
    return DY_OK;
}

void dy_loader_destroy(dy_loader *ld) {
    if (!ld) return;
    stop_workers(ld);
    if (ld->slots)
        for (int i = 0; i < ld->o.queue_depth; i++) {
            dy_free(ld->slots[i].images);
            free(ld->slots[i].labels);
            free(ld->slots[i].indices);
        }
    if (ld->workers)
        for (int t = 0; t < ld->o.threads; t++) {
            free(ld->workers[t].perm);
            free(ld->workers[t].scratch);
        }
    free(ld->slots);
    free(ld->workers);
    free(ld->threads);
    pthread_mutex_destroy(&ld->mu);
    pthread_cond_destroy(&ld->ready);
    pthread_cond_destroy(&ld->freed);
    free(ld);
}

dy_status dy_loader_create(dy_ctx *ctx, dy_loader **out, const dy_dataset *ds, const dy_loader_options *opts) {
    if (!out || !ds || !opts) return dy_fail(ctx, DY_ERR_INVALID, "dy_loader_create: NULL argument");
    *out = NULL;
    const dy_loader_options o = *opts;
    dy_status st = dy_augment_check(ctx, &o.augment);
    if (st != DY_OK) return st;
    if (o.batch_size < 1) return dy_fail(ctx, DY_ERR_INVALID, "loader: batch size %lld < 1", (long long)o.batch_size);
    if (ds->count < o.batch_size)
        return dy_fail(ctx, DY_ERR_INVALID, "loader: %lld images cannot fill one batch of %lld (drop-last)",
                       (long long)ds->count, (long long)o.batch_size);
    if (ds->count >= (INT64_C(1) << 29))
        return dy_fail(ctx, DY_ERR_INVALID, "loader: %lld images exceed the 2^29 the random streams can name",
                       (long long)ds->count);
    if (o.views < 1 || o.views > 8) return dy_fail(ctx, DY_ERR_INVALID, "loader: views %d not in 1..8", o.views);
    if (o.threads < 1 || o.threads > 256)
        return dy_fail(ctx, DY_ERR_INVALID, "loader: threads %d not in 1..256", o.threads);
    if (o.queue_depth < 1 || o.queue_depth > 1024)
        return dy_fail(ctx, DY_ERR_INVALID, "loader: queue depth %d not in 1..1024", o.queue_depth);
    if (o.shards < 1 || o.shard < 0 || o.shard >= o.shards)
        return dy_fail(ctx, DY_ERR_INVALID, "loader: shard %d of %d", o.shard, o.shards);
    if (o.batch_size % o.shards != 0)
        return dy_fail(ctx, DY_ERR_INVALID, "the batch size %lld is not divisible by the %d processes: each takes an "
                       "equal slice of the global batch (choose a multiple of %d)", (long long)o.batch_size, o.shards,
                       o.shards);
    if (ds->channels != 1 && ds->channels != 3)
        return dy_fail(ctx, DY_ERR_INVALID, "loader: %d channels (expected 1 or 3)", ds->channels);
    const int64_t steps = ds->count / o.batch_size;
    if (o.start_epoch < 0 || o.start_epoch > UINT32_MAX || o.start_step < 0 || o.start_step >= steps)
        return dy_fail(ctx, DY_ERR_INVALID, "loader: start at epoch %lld step %lld (steps per epoch %lld)",
                       (long long)o.start_epoch, (long long)o.start_step, (long long)steps);
    dy_loader *ld = calloc(1, sizeof *ld);
    if (!ld) return dy_fail(ctx, DY_ERR_NOMEM, "loader: out of memory");
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->ready, NULL);
    pthread_cond_init(&ld->freed, NULL);
    ld->ds = ds;
    ld->o = o;
    ld->steps = steps;
    ld->local = o.batch_size / o.shards;
    ld->row = (int64_t)ds->channels * o.augment.size[0] * o.augment.size[1];
    ld->slots = calloc((size_t)o.queue_depth, sizeof(slot));
    ld->workers = calloc((size_t)o.threads, sizeof(worker));
    ld->threads = calloc((size_t)o.threads, sizeof(pthread_t));
    bool ok = ld->slots && ld->workers && ld->threads;
    for (int i = 0; ok && i < o.queue_depth; i++) {
        slot *s = &ld->slots[i];
        s->images = dy_alloc(sizeof(float) * (size_t)(o.views * ld->local * ld->row));
        s->labels = malloc(sizeof(int32_t) * (size_t)ld->local);
        s->indices = malloc(sizeof(int64_t) * (size_t)ld->local);
        ok = s->images && s->labels && s->indices;
    }
    for (int t = 0; ok && t < o.threads; t++) {
        worker *w = &ld->workers[t];
        w->ld = ld;
        w->perm_epoch = -1;
        w->perm = malloc(sizeof(int64_t) * (size_t)ds->count);
        w->scratch = malloc(sizeof(float) * (size_t)o.augment.size[0] * o.augment.size[1]);
        ok = w->perm && w->scratch;
    }
    if (!ok) {
        dy_loader_destroy(ld);
        return dy_fail(ctx, DY_ERR_NOMEM, "loader: out of memory for %d batches of %lld x %d views", o.queue_depth,
                       (long long)o.batch_size, o.views);
    }
    st = start_workers(ctx, ld, o.start_epoch, o.start_step);
    if (st != DY_OK) {
        dy_loader_destroy(ld);
        return st;
    }
    *out = ld;
    return DY_OK;
}

int64_t dy_loader_steps_per_epoch(const dy_loader *ld) { return ld->steps; }

dy_status dy_loader_next(dy_loader *ld, dy_batch *out) {
    if (!ld || !out) return DY_ERR_INVALID;
    const int depth = ld->o.queue_depth;
    if (ld->running == 0) return DY_ERR_INTERNAL; /* only after a failed seek could not restart the workers */
    pthread_mutex_lock(&ld->mu);
    if (ld->held >= 0) {
        ld->slots[ld->held % depth].state = SLOT_FREE;
        ld->held = -1;
        pthread_cond_broadcast(&ld->freed);
    }
    slot *s = &ld->slots[ld->next_take % depth];
    while (!(s->state == SLOT_READY && s->seq == ld->next_take)) pthread_cond_wait(&ld->ready, &ld->mu);
    s->state = SLOT_TAKEN;
    ld->held = ld->next_take++;
    pthread_mutex_unlock(&ld->mu);
    const int64_t global = ld->base + s->seq;
    out->images = s->images;
    out->labels = s->labels;
    out->indices = s->indices;
    out->batch_size = ld->local;
    out->views = ld->o.views;
    out->channels = ld->ds->channels;
    out->height = ld->o.augment.size[0];
    out->width = ld->o.augment.size[1];
    out->epoch = global / ld->steps;
    out->step = global % ld->steps;
    return DY_OK;
}

dy_status dy_loader_seek(dy_loader *ld, int64_t epoch, int64_t step) {
    if (!ld) return DY_ERR_INVALID;
    if (epoch < 0 || epoch > UINT32_MAX || step < 0 || step >= ld->steps) return DY_ERR_INVALID;
    stop_workers(ld);
    return start_workers(NULL, ld, epoch, step);
}
