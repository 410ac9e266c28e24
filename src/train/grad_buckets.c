/* Bucketed, overlapped gradient all-reduce (see grad_buckets.h). */
#include "train/grad_buckets.h"

#include <stdlib.h>
#include <string.h>

#include "core/context.h"

dy_status dy_grad_buckets_plan(dy_ctx *ctx, const int64_t *offsets, const int64_t *counts, int32_t n, int64_t total,
                               int64_t cap_bytes, dy_grad_bucket **buckets, int32_t *n_buckets, int32_t **order) {
    *buckets = NULL;
    *n_buckets = 0;
    *order = NULL;
    if (n < 1) return dy_fail(ctx, DY_ERR_INVALID, "gradient buckets: no parameter tensors");
    int32_t *ord = malloc(sizeof *ord * (size_t)n);
    dy_grad_bucket *b = malloc(sizeof *b * (size_t)n); /* at most one bucket per tensor */
    if (!ord || !b) {
        free(ord);
        free(b);
        return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for gradient buckets");
    }
    /* by offset: an insertion sort (a model's tensors come in offset order already) */
    for (int32_t i = 0; i < n; i++) {
        int32_t k = i;
        for (; k > 0 && offsets[ord[k - 1]] > offsets[i]; k--) ord[k] = ord[k - 1];
        ord[k] = i;
    }
    int64_t at = 0;
    for (int32_t k = 0; k < n; k++) {
        int32_t i = ord[k];
        if (offsets[i] != at || counts[i] < 1 || counts[i] > total - at) {
            free(ord);
            free(b);
            return dy_fail(ctx, DY_ERR_INVALID, "gradient buckets: parameter tensor %d [%lld, +%lld) does not follow "
                           "the previous one (ends at %lld) within the %lld floats of the buffer", (int)i,
                           (long long)offsets[i], (long long)counts[i], (long long)at, (long long)total);
        }
        at += counts[i];
    }
    if (at != total) {
        free(ord);
        free(b);
        return dy_fail(ctx, DY_ERR_INVALID, "gradient buckets: the tensors cover %lld of the %lld floats",
                       (long long)at, (long long)total);
    }
    /* from the last tensor back: the order the backward finishes them */
    int32_t nb = 0, last = n - 1;
    int64_t bytes = 0;
    for (int32_t k = n - 1; k >= 0; k--) {
        bytes += counts[ord[k]] * (int64_t)sizeof(float);
        if (k == 0 || (cap_bytes > 0 && bytes >= cap_bytes)) {
            b[nb++] = (dy_grad_bucket){.begin = offsets[ord[k]], .end = offsets[ord[last]] + counts[ord[last]],
                                       .first = k, .count = last - k + 1};
            last = k - 1;
            bytes = 0;
        }
    }
    *buckets = b;
    *n_buckets = nb;
    *order = ord;
    return DY_OK;
}

void dy_grad_sync_free(dy_grad_sync *s) {
    free(s->buckets);
    free(s->offset);
    free(s->count);
    free(s->bucket_of);
    free(s->ready);
    free(s->waiting);
    memset(s, 0, sizeof *s);
}

dy_status dy_grad_sync_init(dy_ctx *ctx, dy_grad_sync *s, dy_comm *comm, float *grads, const int64_t *offsets,
                            const int64_t *counts, int32_t n, int64_t total, int64_t cap_bytes) {
    memset(s, 0, sizeof *s);
    int32_t *order = NULL;
    dy_status st = dy_grad_buckets_plan(ctx, offsets, counts, n, total, cap_bytes, &s->buckets, &s->n_buckets, &order);
    if (st != DY_OK) return st;
    s->comm = comm;
    s->grads = grads;
    s->n_tensors = n;
    s->offset = malloc(sizeof *s->offset * (size_t)n);
    s->count = malloc(sizeof *s->count * (size_t)n);
    s->bucket_of = malloc(sizeof *s->bucket_of * (size_t)n);
    s->ready = calloc((size_t)n, sizeof *s->ready);
    s->waiting = malloc(sizeof *s->waiting * (size_t)s->n_buckets);
    if (!s->offset || !s->count || !s->bucket_of || !s->ready || !s->waiting) {
        free(order);
        dy_grad_sync_free(s);
        return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for gradient buckets");
    }
    for (int32_t k = 0; k < n; k++) {
        s->offset[k] = offsets[order[k]];
        s->count[k] = counts[order[k]];
    }
    free(order);
    for (int32_t b = 0; b < s->n_buckets; b++) {
        s->waiting[b] = s->buckets[b].count;
        for (int32_t k = s->buckets[b].first; k < s->buckets[b].first + s->buckets[b].count; k++) s->bucket_of[k] = b;
    }
    s->hook = (dy_grad_hook){.ready = dy_grad_sync_ready, .user = s};
    return DY_OK;
}

static dy_status start(dy_grad_sync *s, int32_t b) {
    const dy_grad_bucket *k = &s->buckets[b];
    return s->comm->allreduce_start(s->comm, s->grads + k->begin, k->end - k->begin);
}

dy_status dy_grad_sync_ready(void *sync, int64_t offset, int64_t count) {
    dy_grad_sync *s = sync;
    s->active = true;
    /* the first tensor at or after offset (binary search), then every tensor wholly inside the range */
    int32_t lo = 0, hi = s->n_tensors;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (s->offset[mid] < offset) lo = mid + 1;
        else hi = mid;
    }
    for (int32_t k = lo; k < s->n_tensors && s->offset[k] + s->count[k] <= offset + count; k++) {
        if (s->ready[k]) continue;
        s->ready[k] = true;
        s->waiting[s->bucket_of[k]]--;
    }
    dy_status st = DY_OK;
    while (st == DY_OK && s->next < s->n_buckets && s->waiting[s->next] == 0) st = start(s, s->next++);
    /* MPI moves started collectives on only inside its calls */
    if (st == DY_OK && s->next > 0) st = s->comm->allreduce_test(s->comm);
    return st;
}

dy_status dy_grad_sync_finish(dy_grad_sync *s) {
    dy_status st = DY_OK;
    while (st == DY_OK && s->next < s->n_buckets) st = start(s, s->next++);
    if (st == DY_OK) st = s->comm->allreduce_wait(s->comm);
    for (int32_t k = 0; k < s->n_tensors; k++) s->ready[k] = false;
    for (int32_t b = 0; b < s->n_buckets; b++) s->waiting[b] = s->buckets[b].count;
    s->next = 0;
    s->active = false;
    return st;
}
