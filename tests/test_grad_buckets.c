/* The bucketed gradient all-reduce (src/train/grad_buckets.c) in one process, with a recording communicator:
 *  - the plan: every parameter tensor in exactly one bucket, buckets contiguous and tiling the buffer from its end
 *    (backward order), each closed at the cap; gaps, overlaps and overruns refused;
 *  - on a real backward (reference and oneDNN executors, ResNet-18 width 4 with its head): buckets start in bucket
 *    order, each only once all of its tensors are final, holding the final gradients at that moment (those of a
 *    backward without the hook), most of them before the backward ends (the overlap); finish starts the rest and
 *    waits; a second backward goes the same way.
 * The same over 2 MPI processes, bit for bit against the fused all-reduce, is in test_mpi.c. */
#include <stdlib.h>
#include <string.h>

#include "dystress.h"
#include "model/model.h"
#include "testlib.h"
#include "train/grad_buckets.h"

/* ---- the plan ------------------------------------------------------------------------------------------------- */

static void plan_checks(void) {
    dy_ctx *ctx;
    dy_ctx_create(&ctx, NULL);
    /* tensors given out of order: sizes 10, 3, 7, 5, 1 at offsets 0, 10, 13, 20, 25 (total 26) */
    const int64_t off[] = {20, 0, 13, 25, 10}, cnt[] = {5, 10, 7, 1, 3};
    dy_grad_bucket *b;
    int32_t nb, *order;
    /* cap 32 bytes = 8 floats: from the end, [25] 1 + [20] 5 + [13] 7 -> 13 floats >= 8: bucket 0 = [13, 26);
     * [10] 3 + [0] 10 -> bucket 1 = [0, 13) */
    bool ok = dy_grad_buckets_plan(ctx, off, cnt, 5, 26, 32, &b, &nb, &order) == DY_OK;
    if (CHECK(ok, "plan: %s", dy_ctx_error(ctx))) {
        CHECK(nb == 2 && b[0].begin == 13 && b[0].end == 26 && b[1].begin == 0 && b[1].end == 13,
              "cap 8 floats: buckets [13, 26) then [0, 13) (got %d: [%lld, %lld) ...)", nb, (long long)b[0].begin,
              (long long)b[0].end);
        bool sorted = true;
        for (int k = 1; k < 5; k++) sorted &= off[order[k]] > off[order[k - 1]];
        CHECK(sorted, "the order lists the tensors by offset");
        CHECK(b[0].first == 2 && b[0].count == 3 && b[1].first == 0 && b[1].count == 2,
              "bucket 0 holds the last 3 tensors, bucket 1 the first 2");
        free(b);
        free(order);
    }
    /* every cap: each tensor in exactly one bucket, buckets contiguous from the end, each but the last over the cap */
    bool all = true;
    for (int64_t cap = -1; cap <= 120; cap += 1) {
        if (dy_grad_buckets_plan(ctx, off, cnt, 5, 26, cap, &b, &nb, &order) != DY_OK) {
            all = false;
            break;
        }
        int seen[5] = {0};
        int64_t end = 26;
        for (int32_t k = 0; k < nb; k++) {
            all &= b[k].end == end && b[k].begin < b[k].end;
            int64_t sum = 0;
            for (int32_t i = b[k].first; i < b[k].first + b[k].count; i++) {
                seen[order[i]]++;
                sum += cnt[order[i]];
                all &= off[order[i]] >= b[k].begin && off[order[i]] + cnt[order[i]] <= b[k].end;
            }
            all &= sum == b[k].end - b[k].begin;
            if (k < nb - 1) all &= cap > 0 && 4 * sum >= cap && 4 * (sum - cnt[order[b[k].first]]) < cap;
            end = b[k].begin;
        }
        all &= end == 0 && (cap > 0 || nb == 1);
        for (int i = 0; i < 5; i++) all &= seen[i] == 1;
        free(b);
        free(order);
    }
    CHECK(all, "caps -1 .. 120 bytes: every tensor in exactly one bucket, buckets contiguous from the buffer's end, "
          "each closed at the cap");
    /* refused: a gap, an overlap, an overrun, a short cover */
    const int64_t gap[] = {0, 11}, overlap[] = {0, 9}, adjacent[] = {0, 10}, two[] = {10, 10};
    CHECK(dy_grad_buckets_plan(ctx, gap, two, 2, 21, 8, &b, &nb, &order) == DY_ERR_INVALID &&
              strstr(dy_ctx_error(ctx), "does not follow"), "a gap between tensors is refused: %s", dy_ctx_error(ctx));
    CHECK(dy_grad_buckets_plan(ctx, overlap, two, 2, 19, 8, &b, &nb, &order) == DY_ERR_INVALID,
          "overlapping tensors are refused");
    CHECK(dy_grad_buckets_plan(ctx, adjacent, two, 2, 15, 8, &b, &nb, &order) == DY_ERR_INVALID,
          "tensors beyond the buffer are refused");
    CHECK(dy_grad_buckets_plan(ctx, off, cnt, 5, 30, 8, &b, &nb, &order) == DY_ERR_INVALID &&
              strstr(dy_ctx_error(ctx), "cover 26 of the 30"), "a buffer the tensors do not cover is refused: %s",
          dy_ctx_error(ctx));
    dy_ctx_destroy(ctx);
}

/* ---- a backward with the hook --------------------------------------------------------------------------------- */

typedef struct {
    dy_grad_sync *sync;
    const float *want;       /* the final gradients */
    int64_t starts, bad_value, bad_order, reports, reports_at_last_start, waits, tests;
    int64_t next_begin;      /* where the next started bucket must end (buckets go from the end down) */
    bool finishing;          /* starts after this come from finish */
    int64_t starts_in_backward;
} recorder;

static recorder rec;

static dy_status rec_start(dy_comm *c, float *buf, int64_t n) {
    (void)c;
    const dy_grad_sync *s = rec.sync;
    int64_t begin = buf - s->grads;
    if (begin + n != rec.next_begin) rec.bad_order++;
    rec.next_begin = begin;
    if (memcmp(buf, rec.want + begin, sizeof(float) * (size_t)n)) rec.bad_value++;
    rec.starts++;
    if (!rec.finishing) {
        rec.starts_in_backward++;
        rec.reports_at_last_start = rec.reports;
    }
    return DY_OK;
}

static dy_status rec_test(dy_comm *c) {
    (void)c;
    rec.tests++;
    return DY_OK;
}

static dy_status rec_wait(dy_comm *c) {
    (void)c;
    rec.waits++;
    return DY_OK;
}

static dy_status counting_ready(void *user, int64_t offset, int64_t count) {
    rec.reports++;
    return dy_grad_sync_ready(user, offset, count);
}

static void backward_checks(dy_backend backend) {
    const char *bn = backend == DY_BACKEND_REF ? "ref" : "dnnl";
    dy_ctx_options co = {.threads = 1, .backend = backend};
    dy_ctx *ctx;
    if (!CHECK(dy_ctx_create(&ctx, &co) == DY_OK, "%s: context", bn)) return;
    dy_model_config mc = dy_model_config_default();
    mc.width = 4;
    dy_model *m = NULL;
    dy_model_create(ctx, &mc, 5, &m);
    int64_t np, nt, d = dy_model_output_dim(m);
    const int64_t n = 6, hw = 16, in = 3 * hw * hw;
    float *grads = dy_model_grads(m, &np);
    float *x = malloc(sizeof(float) * (size_t)(n * in)), *z = malloc(sizeof(float) * (size_t)(n * d));
    float *dz = malloc(sizeof(float) * (size_t)(n * d)), *want = malloc(sizeof(float) * (size_t)np);
    for (int64_t i = 0; i < n * in; i++) x[i] = (float)((i * 37 % 101) - 50) / 50.0f;
    for (int64_t i = 0; i < n * d; i++) dz[i] = (float)((i * 13 % 29) - 14) / 14.0f;
    /* the final gradients, without a hook */
    bool ok = dy_model_forward_train(m, x, n, hw, hw, NULL, z) == DY_OK && dy_model_backward(m, dz) == DY_OK;
    if (ok) memcpy(want, grads, sizeof(float) * (size_t)np);
    /* the tensors as the trainer gives them */
    const dy_tensor_info *ti = dy_model_tensors(m, &nt);
    int64_t *off = malloc(sizeof(int64_t) * (size_t)nt), *cnt = malloc(sizeof(int64_t) * (size_t)nt);
    int32_t k = 0;
    for (int64_t i = 0; i < nt; i++)
        if (ti[i].kind == DY_TENSOR_PARAM) off[k] = ti[i].offset, cnt[k++] = ti[i].numel;
    dy_comm comm;
    dy_comm_init_local(&comm);
    comm.allreduce_start = rec_start;
    comm.allreduce_test = rec_test;
    comm.allreduce_wait = rec_wait;
    dy_grad_sync sync;
    const int64_t cap = 2048; /* many buckets: a bucket per tensor or two in the backbone (width 4) */
    ok = ok && dy_grad_sync_init(ctx, &sync, &comm, grads, off, cnt, k, np, cap) == DY_OK;
    if (!CHECK(ok, "%s: reference backward and bucket plan: %s", bn, dy_ctx_error(ctx))) goto done;
    dy_grad_hook hook = {.ready = counting_ready, .user = &sync};
    dy_model_set_grad_hook(m, &hook);
    for (int round = 0; round < 2; round++) {
        memset(&rec, 0, sizeof rec);
        rec.sync = &sync;
        rec.want = want;
        rec.next_begin = np;
        memset(grads, 0xff, sizeof(float) * (size_t)np); /* NaN: a bucket started before its values are written
                                                            shows */
        ok = dy_model_forward_train(m, x, n, hw, hw, NULL, z) == DY_OK && dy_model_backward(m, dz) == DY_OK;
        int64_t reports = rec.reports;
        rec.finishing = true;
        ok = ok && dy_grad_sync_finish(&sync) == DY_OK;
        if (!CHECK(ok, "%s round %d: backward with the hook: %s", bn, round, dy_ctx_error(ctx))) break;
        CHECK(rec.starts == sync.n_buckets && sync.n_buckets >= 8, "%s round %d: %lld buckets started, of %d",
              bn, round, (long long)rec.starts, sync.n_buckets);
        CHECK(rec.bad_order == 0 && rec.next_begin == 0, "%s round %d: buckets start in bucket order, from the "
              "buffer's end to its start", bn, round);
        CHECK(rec.bad_value == 0, "%s round %d: every bucket holds its final gradients when it starts (%lld did not)",
              bn, round, (long long)rec.bad_value);
        CHECK(rec.starts_in_backward == sync.n_buckets && rec.reports_at_last_start == reports,
              "%s round %d: every bucket started during the backward as soon as its last tensor was reported (%lld "
              "of %d in the backward)", bn, round, (long long)rec.starts_in_backward, sync.n_buckets);
        CHECK(rec.tests > 0 && rec.waits == 1, "%s round %d: the started all-reduces are driven on (%lld tests) and "
              "waited for once", bn, round, (long long)rec.tests);
        CHECK(memcmp(grads, want, sizeof(float) * (size_t)np) == 0, "%s round %d: the gradients are unchanged by "
              "the hook", bn, round);
    }
    dy_model_set_grad_hook(m, NULL);
    dy_grad_sync_free(&sync);
done:
    free(off), free(cnt), free(x), free(z), free(dz), free(want);
    dy_model_destroy(m);
    dy_ctx_destroy(ctx);
}

int main(void) {
    plan_checks();
    backward_checks(DY_BACKEND_REF);
    if (dy_have_dnnl()) backward_checks(DY_BACKEND_DNNL);
    return test_finish();
}
