/* Model weights as safetensors with torchvision's names, so that files move between dystress and PyTorch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "io/safetensors.h"
#include "model/model.h"

static bool wanted(const dy_tensor_info *t, bool with_head) { return with_head || !t->in_head; }

static const float *buffer_of(const dy_model *m, const dy_tensor_info *t) {
    return (t->kind == DY_TENSOR_PARAM ? m->params : m->state) + t->offset;
}

dy_status dy_model_save_weights(dy_model *m, const char *path, bool with_head) {
    if (!path) return dy_fail(m->ctx, DY_ERR_INVALID, "dy_model_save_weights: no path");
    dy_st_entry *entries = calloc((size_t)m->n_tensors + 1, sizeof *entries);
    int64_t *counters = calloc((size_t)m->n_tensors + 1, sizeof *counters); /* num_batches_tracked as int64 */
    if (!entries || !counters) {
        free(entries);
        free(counters);
        return dy_fail(m->ctx, DY_ERR_NOMEM, "out of memory saving %s", path);
    }
    int64_t count = 0;
    for (int64_t i = 0; i < m->n_tensors; i++) {
        const dy_tensor_info *t = &m->tensors[i];
        if (!wanted(t, with_head)) continue;
        dy_st_entry *e = &entries[count++];
        e->name = t->name;
        e->ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) e->shape[d] = t->shape[d];
        if (t->is_int64) {
            counters[i] = (int64_t)buffer_of(m, t)[0];
            e->dtype = DY_ST_I64;
            e->data = &counters[i];
        } else {
            e->dtype = DY_ST_F32;
            e->data = buffer_of(m, t);
        }
    }
    dy_status st = dy_st_write(m->ctx, path, entries, count);
    free(entries);
    free(counters);
    return st;
}

static void shape_string(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && len < size; d++)
        len += (size_t)snprintf(buf + len, size - len, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (len < size) snprintf(buf + len, size - len, "]");
}

/* Checks every expected tensor against the file before anything is copied. */
static dy_status check_file(dy_model *m, const char *path, const dy_st_file *f, bool with_head) {
    for (int64_t i = 0; i < m->n_tensors; i++) {
        const dy_tensor_info *t = &m->tensors[i];
        if (!wanted(t, with_head)) continue;
        const dy_st_tensor *s = dy_st_find(f, t->name);
        if (!s) return dy_fail(m->ctx, DY_ERR_MISMATCH, "%s: tensor %s is missing", path, t->name);
        dy_st_dtype want = t->is_int64 ? DY_ST_I64 : DY_ST_F32;
        if (s->dtype != want)
            return dy_fail(m->ctx, DY_ERR_MISMATCH, "%s: tensor %s has dtype %s, expected %s", path, t->name,
                           dy_st_dtype_name(s->dtype), dy_st_dtype_name(want));
        bool same = s->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = s->shape[d] == t->shape[d];
        if (!same) {
            char got[128], exp[128];
            shape_string(got, sizeof got, s->ndim, s->shape);
            shape_string(exp, sizeof exp, t->ndim, t->shape);
            return dy_fail(m->ctx, DY_ERR_MISMATCH, "%s: tensor %s has shape %s, expected %s", path, t->name, got, exp);
        }
        dy_status st = dy_st_check_finite(m->ctx, path, s);
        if (st != DY_OK) return st;
    }
    /* No tensor the model does not have (with_head = false: the file's head, if any, is ignored). */
    for (int64_t i = 0; i < f->count; i++) {
        const char *name = f->tensors[i].name;
        if (!with_head && strncmp(name, "head.", 5) == 0) continue;
        bool known = false;
        for (int64_t k = 0; k < m->n_tensors && !known; k++)
            known = wanted(&m->tensors[k], with_head) && strcmp(m->tensors[k].name, name) == 0;
        if (!known)
            return dy_fail(m->ctx, DY_ERR_MISMATCH, "%s: tensor %s is not part of this model (ResNet-%d, width %lld%s)",
                           path, name, m->config.depth, (long long)m->config.width,
                           with_head ? (m->config.head ? ", with head" : ", no head") : ", encoder only");
    }
    return DY_OK;
}

dy_status dy_model_load_weights(dy_model *m, const char *path, bool with_head) {
    if (!path) return dy_fail(m->ctx, DY_ERR_INVALID, "dy_model_load_weights: no path");
    dy_st_file f;
    dy_status st = dy_st_read(m->ctx, path, &f);
    if (st != DY_OK) return st;
    st = check_file(m, path, &f, with_head);
    for (int64_t i = 0; st == DY_OK && i < m->n_tensors; i++) {
        const dy_tensor_info *t = &m->tensors[i];
        if (!wanted(t, with_head)) continue;
        const dy_st_tensor *s = dy_st_find(&f, t->name);
        float *dst = (t->kind == DY_TENSOR_PARAM ? m->params : m->state) + t->offset;
        if (t->is_int64) {
            int64_t v;
            memcpy(&v, s->data, sizeof v);
            dst[0] = (float)v;
        } else {
            memcpy(dst, s->data, s->nbytes);
        }
    }
    dy_st_free(&f);
    return st;
}
