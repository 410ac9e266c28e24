#include "core/tensor_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dy_named_tensor *dy_tensor_list_add(dy_tensor_list *l, const char *prefix, const char *name, dy_dtype dtype,
                                    dy_dtype memory, int ndim, const int64_t *shape, void *data) {
    if (l->count == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        dy_named_tensor *n = realloc(l->items, (size_t)cap * sizeof *n);
        if (!n) {
            l->out_of_memory = true;
            return NULL;
        }
        l->items = n;
        l->cap = cap;
    }
    dy_named_tensor *t = &l->items[l->count++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s%s", prefix ? prefix : "", name);
    t->dtype = dtype;
    t->memory = memory;
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->numel *= shape[d];
    }
    t->data = data;
    return t;
}

dy_named_tensor *dy_tensor_list_find(const dy_tensor_list *l, const char *name) {
    for (int64_t i = 0; i < l->count; i++)
        if (!strcmp(l->items[i].name, name)) return &l->items[i];
    return NULL;
}

void dy_tensor_list_free(dy_tensor_list *l) {
    free(l->items);
    *l = (dy_tensor_list){0};
}
