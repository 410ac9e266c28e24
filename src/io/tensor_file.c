#include "io/tensor_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"

static dy_st_dtype st_dtype(dy_dtype d) {
    return d == DY_DTYPE_F64 ? DY_ST_F64 : d == DY_DTYPE_I64 ? DY_ST_I64 : d == DY_DTYPE_U8 ? DY_ST_U8 : DY_ST_F32;
}

/* An I64 counter kept as a float in memory. */
static bool converted(const dy_named_tensor *t) { return t->dtype == DY_DTYPE_I64 && t->memory == DY_DTYPE_F32; }

dy_status dy_tensor_file_save(dy_ctx *ctx, const char *path, const dy_tensor_list *l) {
    return dy_tensor_file_save_meta(ctx, path, l, NULL, 0);
}

dy_status dy_tensor_file_save_meta(dy_ctx *ctx, const char *path, const dy_tensor_list *l, const dy_st_meta *meta,
                                   int64_t meta_count) {
    if (l->out_of_memory) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory listing the tensors for %s", path);
    int64_t n_conv = 0;
    for (int64_t i = 0; i < l->count; i++)
        if (converted(&l->items[i])) n_conv += l->items[i].numel;
    dy_st_entry *e = calloc((size_t)l->count + 1, sizeof *e);
    int64_t *conv = malloc((size_t)(n_conv + 1) * sizeof *conv), used = 0;
    if (!e || !conv) {
        free(e);
        free(conv);
        return dy_fail(ctx, DY_ERR_NOMEM, "out of memory writing %s", path);
    }
    for (int64_t i = 0; i < l->count; i++) {
        const dy_named_tensor *t = &l->items[i];
        e[i].name = t->name;
        e[i].dtype = st_dtype(t->dtype);
        e[i].ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) e[i].shape[d] = t->shape[d];
        e[i].data = t->data;
        if (converted(t)) {
            for (int64_t k = 0; k < t->numel; k++) conv[used + k] = (int64_t)((const float *)t->data)[k];
            e[i].data = conv + used;
            used += t->numel;
        }
    }
    dy_status st = dy_st_write_meta(ctx, path, e, l->count, meta, meta_count);
    free(e);
    free(conv);
    return st;
}

static void shape_text(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && len < size; d++)
        len += (size_t)snprintf(buf + len, size - len, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (len < size) snprintf(buf + len, size - len, "]");
}

/* A batch norm's running variance is never negative (the normalisation takes its square root): one that is came from
 * a damaged or hand-edited file, refused like a NaN. */
static dy_status check_variance(dy_ctx *ctx, const char *path, const dy_st_tensor *s) {
    static const char suffix[] = "running_var";
    size_t len = strlen(s->name);
    if (s->dtype != DY_ST_F32 || len < sizeof suffix - 1 || strcmp(s->name + len - (sizeof suffix - 1), suffix))
        return DY_OK;
    int64_t bad = 0, first = -1;
    float first_value = 0;
    for (int64_t i = 0; i < s->numel; i++) {
        float v;
        memcpy(&v, s->data + 4 * (size_t)i, sizeof v);
        if (v < 0 && bad++ == 0) first = i, first_value = v;
    }
    if (!bad) return DY_OK;
    return dy_fail(ctx, DY_ERR_NUMERIC, "%s: tensor '%s' holds %g at element %lld (%lld of its %lld values are "
                   "negative; a batch norm's running variance cannot be): the file is not usable", path, s->name,
                   (double)first_value, (long long)first, (long long)bad, (long long)s->numel);
}

dy_status dy_tensor_file_check(dy_ctx *ctx, const char *path, const dy_st_file *f, const dy_tensor_list *l,
                               const dy_tensor_file_rules *rules) {
    if (l->out_of_memory) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory listing the tensors for %s", path);
    for (int64_t i = 0; i < l->count; i++) {
        const dy_named_tensor *t = &l->items[i];
        const dy_st_tensor *s = dy_st_find(f, t->name);
        if (!s) return dy_fail(ctx, DY_ERR_MISMATCH, "%s: tensor %s is missing (expected %s)", path, t->name, rules->what);
        if (s->dtype != st_dtype(t->dtype))
            return dy_fail(ctx, DY_ERR_MISMATCH, "%s: tensor %s has dtype %s, expected %s", path, t->name,
                           dy_st_dtype_name(s->dtype), dy_st_dtype_name(st_dtype(t->dtype)));
        bool same = s->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = s->shape[d] == t->shape[d];
        if (!same) {
            char got[128], want[128];
            shape_text(got, sizeof got, s->ndim, s->shape);
            shape_text(want, sizeof want, t->ndim, t->shape);
            return dy_fail(ctx, DY_ERR_MISMATCH, "%s: tensor %s has shape %s, expected %s (%s)", path, t->name, got,
                           want, rules->what);
        }
        dy_status st = dy_st_check_finite(ctx, path, s);
        if (st == DY_OK) st = check_variance(ctx, path, s);
        if (st != DY_OK) return st;
    }
    if (rules->allow_extra) return DY_OK;
    size_t skip = rules->ignore_prefix ? strlen(rules->ignore_prefix) : 0;
    for (int64_t i = 0; i < f->count; i++) {
        const char *name = f->tensors[i].name;
        if (skip && !strncmp(name, rules->ignore_prefix, skip)) continue;
        if (!dy_tensor_list_find(l, name))
            return dy_fail(ctx, DY_ERR_MISMATCH, "%s: tensor %s is not part of %s", path, name, rules->what);
    }
    return DY_OK;
}

void dy_tensor_file_copy(const dy_st_file *f, const dy_tensor_list *l) {
    for (int64_t i = 0; i < l->count; i++) {
        const dy_named_tensor *t = &l->items[i];
        const dy_st_tensor *s = dy_st_find(f, t->name);
        if (converted(t)) {
            for (int64_t k = 0; k < t->numel; k++) {
                int64_t v;
                memcpy(&v, s->data + 8 * k, sizeof v);
                ((float *)t->data)[k] = (float)v;
            }
        } else {
            memcpy(t->data, s->data, s->nbytes);
        }
    }
}

bool dy_tensor_file_i64(const dy_st_file *f, const char *name, int64_t *out, int64_t n) {
    const dy_st_tensor *s = dy_st_find(f, name);
    if (!s || s->dtype != DY_ST_I64 || s->numel != n) return false;
    memcpy(out, s->data, (size_t)n * sizeof *out);
    return true;
}

bool dy_tensor_file_holds(const dy_st_file *f, const char *name, const void *data, size_t nbytes) {
    const dy_st_tensor *s = dy_st_find(f, name);
    return s && s->nbytes == nbytes && !memcmp(s->data, data, nbytes);
}

dy_status dy_tensor_file_load(dy_ctx *ctx, const char *path, const dy_tensor_list *l,
                              const dy_tensor_file_rules *rules) {
    dy_st_file f;
    dy_status st = dy_st_read(ctx, path, &f);
    if (st != DY_OK) return st;
    if ((st = dy_tensor_file_check(ctx, path, &f, l, rules)) == DY_OK) dy_tensor_file_copy(&f, l);
    dy_st_free(&f);
    return st;
}
