#include "train/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "io/safetensors.h"

/* One tensor of a checkpoint: where its floats live and how it is stored. */
typedef struct {
    char name[96];
    dy_st_dtype dtype;      /* F32, or I64 (counters stored as floats in memory are converted) */
    int ndim;
    int64_t shape[4];
    int64_t numel;
    float *f32;             /* memory for F32 (and for I64 kept as float, e.g. num_batches_tracked) */
    int64_t *i64;           /* memory for native I64 */
    double *f64;            /* memory for F64 */
    const uint8_t *u8;      /* memory for U8 (trainer.config: written, never loaded into the layout) */
} ckpt_item;

typedef struct {
    ckpt_item *items;
    int64_t count, cap;
    int64_t counters[3];    /* step, queue_len, queue_head */
    double best_knn;
    int64_t version;
} ckpt_plan;

static ckpt_item *add(ckpt_plan *p, const char *name, dy_st_dtype dtype, int ndim, const int64_t *shape) {
    if (p->count == p->cap) {
        int64_t cap = p->cap ? 2 * p->cap : 64;
        ckpt_item *n = realloc(p->items, (size_t)cap * sizeof *n);
        if (!n) return NULL;
        p->items = n;
        p->cap = cap;
    }
    ckpt_item *it = &p->items[p->count++];
    memset(it, 0, sizeof *it);
    snprintf(it->name, sizeof it->name, "%s", name);
    it->dtype = dtype;
    it->ndim = ndim;
    it->numel = 1;
    for (int i = 0; i < ndim; i++) {
        it->shape[i] = shape[i];
        it->numel *= shape[i];
    }
    return it;
}

static int add_model(ckpt_plan *p, dy_model *m, const char *prefix) {
    int64_t nt;
    const dy_tensor_info *ti = dy_model_tensors(m, &nt);
    float *params = dy_model_params(m, NULL), *state = dy_model_state(m, NULL);
    for (int64_t i = 0; i < nt; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s%s", prefix, ti[i].name);
        ckpt_item *it = add(p, name, ti[i].is_int64 ? DY_ST_I64 : DY_ST_F32, ti[i].ndim, ti[i].shape);
        if (!it) return -1;
        it->f32 = (ti[i].kind == DY_TENSOR_PARAM ? params : state) + ti[i].offset;
    }
    return 0;
}

static dy_status plan_of(dy_ctx *ctx, const dy_ckpt_layout *l, ckpt_plan *p) {
    memset(p, 0, sizeof *p);
    int64_t n;
    dy_model_params(l->model, &n);
    int64_t one = 1, three = 3, flat[1] = {n}, q[2] = {l->queue_rows, l->queue_dim};
    ckpt_item *it;
    if (add_model(p, l->model, "") != 0) goto nomem;
    if (!(it = add(p, "optimizer.momentum", DY_ST_F32, 1, flat))) goto nomem;
    it->f32 = l->momentum;
    if (l->exp_avg_sq) {
        if (!(it = add(p, "optimizer.exp_avg_sq", DY_ST_F32, 1, flat))) goto nomem;
        it->f32 = l->exp_avg_sq;
    }
    if (l->key_model && add_model(p, l->key_model, "key_encoder.") != 0) goto nomem;
    if (l->queue) {
        if (!(it = add(p, "moco.queue", DY_ST_F32, 2, q))) goto nomem;
        it->f32 = l->queue;
    }
    if (!(it = add(p, "trainer.counters", DY_ST_I64, 1, &three))) goto nomem;
    it->i64 = p->counters;
    if (!(it = add(p, "trainer.best_knn", DY_ST_F64, 1, &one))) goto nomem;
    it->f64 = &p->best_knn;
    if (!(it = add(p, "trainer.version", DY_ST_I64, 1, &one))) goto nomem;
    it->i64 = &p->version;
    if (l->config) {
        int64_t len[1] = {(int64_t)strlen(l->config)};
        if (!(it = add(p, DY_CHECKPOINT_CONFIG, DY_ST_U8, 1, len))) goto nomem;
        it->u8 = (const uint8_t *)l->config;
    }
    return DY_OK;
nomem:
    free(p->items);
    p->items = NULL;
    return dy_fail(ctx, DY_ERR_NOMEM, "out of memory planning a checkpoint");
}

dy_status dy_checkpoint_save(dy_ctx *ctx, const char *path, const dy_ckpt_layout *l, const dy_ckpt_counters *c) {
    ckpt_plan p;
    dy_status st = plan_of(ctx, l, &p);
    if (st != DY_OK) return st;
    p.counters[0] = c->step;
    p.counters[1] = c->queue_len;
    p.counters[2] = c->queue_head;
    p.best_knn = c->best_knn;
    p.version = DY_CHECKPOINT_VERSION;
    dy_st_entry *e = calloc((size_t)p.count, sizeof *e);
    int64_t n_conv = 0;
    for (int64_t i = 0; i < p.count; i++)
        if (p.items[i].dtype == DY_ST_I64 && p.items[i].f32) n_conv += p.items[i].numel;
    int64_t *conv = malloc((size_t)(n_conv ? n_conv : 1) * sizeof(int64_t)), used = 0;
    if (!e || !conv) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory writing %s", path);
        goto done;
    }
    for (int64_t i = 0; i < p.count; i++) {
        ckpt_item *it = &p.items[i];
        e[i].name = it->name;
        e[i].dtype = it->dtype;
        e[i].ndim = it->ndim;
        for (int d = 0; d < it->ndim; d++) e[i].shape[d] = it->shape[d];
        if (it->dtype == DY_ST_I64 && it->f32) { /* a counter kept as float in the state buffer */
            for (int64_t k = 0; k < it->numel; k++) conv[used + k] = (int64_t)it->f32[k];
            e[i].data = conv + used;
            used += it->numel;
        } else {
            e[i].data = it->f32 ? (const void *)it->f32 : it->i64 ? (const void *)it->i64
                        : it->u8 ? (const void *)it->u8 : (const void *)it->f64;
        }
    }
    st = dy_st_write(ctx, path, e, p.count);
done:
    free(e);
    free(conv);
    free(p.items);
    return st;
}

static void shape_text(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
}

/* Checks every planned tensor against the file (and, unless allow_extra, that the file holds nothing else), then
 * copies them all. */
static dy_status load_plan(dy_ctx *ctx, const char *path, ckpt_plan *p, bool allow_extra, bool check_version,
                           int64_t queue_rows) {
    dy_status st;
    dy_st_file f;
    if ((st = dy_st_read(ctx, path, &f)) != DY_OK) return st;
    /* phase 1: everything fits */
    const dy_st_tensor **found = calloc((size_t)p->count, sizeof *found);
    if (!found) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory reading %s", path);
        goto done;
    }
    for (int64_t i = 0; i < p->count; i++) {
        ckpt_item *it = &p->items[i];
        const dy_st_tensor *t = dy_st_find(&f, it->name);
        if (!t) {
            st = dy_fail(ctx, DY_ERR_MISMATCH, "%s: no tensor '%s' (not a checkpoint of this model and training "
                         "setup)", path, it->name);
            goto done;
        }
        bool same = t->ndim == it->ndim && t->dtype == it->dtype;
        for (int d = 0; same && d < it->ndim; d++) same = t->shape[d] == it->shape[d];
        if (!same) {
            char want[96], got[96];
            shape_text(want, sizeof want, it->ndim, it->shape);
            shape_text(got, sizeof got, t->ndim, t->shape);
            st = dy_fail(ctx, DY_ERR_MISMATCH, "%s: tensor '%s' is %s %s, this model expects %s %s", path, it->name,
                         dy_st_dtype_name(t->dtype), got, dy_st_dtype_name(it->dtype), want);
            goto done;
        }
        if ((st = dy_st_check_finite(ctx, path, t)) != DY_OK) goto done;
        found[i] = t;
    }
    if (!allow_extra && f.count != p->count) {
        for (int64_t j = 0; j < f.count; j++) {
            /* the stored configuration is the caller's to read (dy_checkpoint_read_config) */
            bool known = !strcmp(f.tensors[j].name, DY_CHECKPOINT_CONFIG);
            for (int64_t i = 0; i < p->count && !known; i++) known = !strcmp(f.tensors[j].name, p->items[i].name);
            if (!known) {
                st = dy_fail(ctx, DY_ERR_MISMATCH, "%s: unexpected tensor '%s' (a checkpoint of another model or "
                             "training setup)", path, f.tensors[j].name);
                goto done;
            }
        }
    }
    int64_t version = 0;
    for (int64_t i = 0; i < p->count; i++)
        if (!strcmp(p->items[i].name, "trainer.version")) memcpy(&version, found[i]->data, sizeof version);
    if (check_version && version != DY_CHECKPOINT_VERSION) {
        st = dy_fail(ctx, DY_ERR_MISMATCH, "%s: checkpoint format version %lld, this build reads %d", path,
                     (long long)version, DY_CHECKPOINT_VERSION);
        goto done;
    }
    for (int64_t i = 0; check_version && i < p->count; i++) {
        if (strcmp(p->items[i].name, "trainer.counters")) continue;
        int64_t c[3];
        memcpy(c, found[i]->data, sizeof c);
        if (c[0] < 0 || c[1] < 0 || c[1] > queue_rows || c[2] < 0 || (queue_rows > 0 && c[2] >= queue_rows) ||
            (queue_rows == 0 && c[2] != 0)) {
            st = dy_fail(ctx, DY_ERR_FORMAT, "%s: counters (step %lld, queue length %lld, position %lld) do not fit "
                         "a queue of %lld keys", path, (long long)c[0], (long long)c[1], (long long)c[2],
                         (long long)queue_rows);
            goto done;
        }
    }
    /* phase 2: copy */
    for (int64_t i = 0; i < p->count; i++) {
        ckpt_item *it = &p->items[i];
        const dy_st_tensor *t = found[i];
        if (it->dtype == DY_ST_I64 && it->f32) {
            for (int64_t k = 0; k < it->numel; k++) {
                int64_t v;
                memcpy(&v, t->data + 8 * k, 8);
                it->f32[k] = (float)v;
            }
        } else {
            void *dst = it->f32 ? (void *)it->f32 : it->i64 ? (void *)it->i64 : (void *)it->f64;
            memcpy(dst, t->data, t->nbytes);
        }
    }
done:
    free(found);
    dy_st_free(&f);
    return st;
}

dy_status dy_checkpoint_load(dy_ctx *ctx, const char *path, const dy_ckpt_layout *l, dy_ckpt_counters *c) {
    ckpt_plan p;
    dy_status st = plan_of(ctx, l, &p);
    if (st != DY_OK) return st;
    st = load_plan(ctx, path, &p, false, true, l->queue ? l->queue_rows : 0);
    if (st == DY_OK) {
        c->step = p.counters[0];
        c->queue_len = p.counters[1];
        c->queue_head = p.counters[2];
        c->best_knn = p.best_knn;
    }
    free(p.items);
    return st;
}

dy_status dy_checkpoint_load_model(dy_ctx *ctx, const char *path, dy_model *model) {
    ckpt_plan p;
    memset(&p, 0, sizeof p);
    if (add_model(&p, model, "") != 0) {
        free(p.items);
        return dy_fail(ctx, DY_ERR_NOMEM, "out of memory reading %s", path);
    }
    dy_status st = load_plan(ctx, path, &p, true, false, 0);
    free(p.items);
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
