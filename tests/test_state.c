/* The state of a run as named tensors: lists (src/core/tensor_list.h) written, checked and read back by the one
 * writer/reader (src/io/tensor_file.h), with the refusals and their messages; the optimizer object, which owns its
 * state, steps exactly as the flat step functions over the caller's buffers do; the one whole-file reader. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dystress.h"
#include "io/read_file.h"
#include "io/tensor_file.h"
#include "optim/optimizer.h"
#include "testlib.h"

static dy_ctx *ctx;
static char dir[128];

static const char *path_of(const char *name) {
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* An object with one tensor of each kind a run holds. */
typedef struct {
    float weight[6];    /* F32 [2, 3] */
    float tracked;      /* I64 in files, a float in memory */
    double best;        /* F64 [1] */
    int64_t counters[3];
} thing;

static void list_thing(thing *t, dy_tensor_list *l, const char *prefix) {
    int64_t w[2] = {2, 3}, one = 1, three = 3;
    dy_tensor_list_add(l, prefix, "weight", DY_DTYPE_F32, DY_DTYPE_F32, 2, w, t->weight);
    dy_tensor_list_add(l, prefix, "tracked", DY_DTYPE_I64, DY_DTYPE_F32, 0, NULL, &t->tracked);
    dy_tensor_list_add(l, prefix, "best", DY_DTYPE_F64, DY_DTYPE_F64, 1, &one, &t->best);
    dy_tensor_list_add(l, prefix, "counters", DY_DTYPE_I64, DY_DTYPE_I64, 1, &three, t->counters);
}

static void test_round_trip_and_refusals(void) {
    thing a = {.weight = {1.5f, -2, 3, 0.25f, 1e-30f, -0.0f}, .tracked = 12345, .best = 0.123456789012345,
               .counters = {7, -1, 1LL << 40}};
    thing b = {0}, zero = {0};
    dy_tensor_list la = {0}, lb = {0};
    list_thing(&a, &la, "thing.");
    list_thing(&b, &lb, "thing.");
    CHECK(la.count == 4 && !strcmp(la.items[0].name, "thing.weight") && la.items[0].numel == 6 &&
              la.items[1].ndim == 0 && la.items[1].numel == 1 && dy_tensor_list_find(&la, "thing.best") == &la.items[2],
          "a list names its tensors with the prefix");
    const char *file = path_of("thing.safetensors");
    CHECK(dy_tensor_file_save(ctx, file, &la) == DY_OK, "save: %s", dy_ctx_error(ctx));
    dy_st_file f;
    if (CHECK(dy_st_read(ctx, file, &f) == DY_OK, "read back: %s", dy_ctx_error(ctx))) {
        const dy_st_tensor *tr = dy_st_find(&f, "thing.tracked");
        int64_t v = 0;
        if (tr) memcpy(&v, tr->data, sizeof v);
        CHECK(f.count == 4 && !strcmp(f.tensors[0].name, "thing.weight") && tr && tr->dtype == DY_ST_I64 &&
                  tr->ndim == 0 && v == 12345,
              "written in list order; a float counter is an I64 scalar in the file");
        dy_st_free(&f);
    }
    dy_tensor_file_rules exact = {.what = "a thing"};
    CHECK(dy_tensor_file_load(ctx, file, &lb, &exact) == DY_OK, "load: %s", dy_ctx_error(ctx));
    /* field by field: the struct's padding is not a tensor (a memcmp of the whole struct read it uninitialised) */
    CHECK(!memcmp(a.weight, b.weight, sizeof a.weight) && !memcmp(&a.tracked, &b.tracked, sizeof a.tracked) &&
              !memcmp(&a.best, &b.best, sizeof a.best) && !memcmp(a.counters, b.counters, sizeof a.counters),
          "every tensor comes back bit for bit");

    /* refusals name the file, the tensor and what was expected, and change nothing */
    dy_tensor_list lc = {0};
    thing c = {0};
    list_thing(&c, &lc, "other.");
    dy_status st = dy_tensor_file_load(ctx, file, &lc, &exact);
    CHECK(st == DY_ERR_MISMATCH && strstr(dy_ctx_error(ctx), "thing.safetensors") &&
              strstr(dy_ctx_error(ctx), "tensor other.weight is missing (expected a thing)"),
          "a missing tensor: %s", dy_ctx_error(ctx));
    dy_tensor_list_free(&lc);
    int64_t w3[2] = {3, 2}, one = 1;
    dy_tensor_list_add(&lc, "thing.", "weight", DY_DTYPE_F32, DY_DTYPE_F32, 2, w3, c.weight);
    dy_tensor_file_rules extra_ok = {.what = "a thing", .allow_extra = true};
    st = dy_tensor_file_load(ctx, file, &lc, &extra_ok);
    CHECK(st == DY_ERR_MISMATCH && strstr(dy_ctx_error(ctx), "tensor thing.weight has shape [2, 3], expected [3, 2]"),
          "a wrong shape: %s", dy_ctx_error(ctx));
    dy_tensor_list_free(&lc);
    dy_tensor_list_add(&lc, "thing.", "best", DY_DTYPE_F32, DY_DTYPE_F32, 1, &one, c.weight);
    st = dy_tensor_file_load(ctx, file, &lc, &extra_ok);
    CHECK(st == DY_ERR_MISMATCH && strstr(dy_ctx_error(ctx), "tensor thing.best has dtype F64, expected F32"),
          "a wrong dtype: %s", dy_ctx_error(ctx));
    dy_tensor_list_free(&lc);
    list_thing(&c, &lc, "thing.");
    lc.count = 3; /* a list without the counters */
    st = dy_tensor_file_load(ctx, file, &lc, &exact);
    CHECK(st == DY_ERR_MISMATCH && strstr(dy_ctx_error(ctx), "tensor thing.counters is not part of a thing"),
          "a tensor the list does not name: %s", dy_ctx_error(ctx));
    CHECK(memcmp(&c, &zero, sizeof c) == 0, "refused loads changed nothing");
    dy_tensor_file_rules ignore = {.what = "a thing", .ignore_prefix = "thing.count"};
    CHECK(dy_tensor_file_load(ctx, file, &lc, &ignore) == DY_OK && !memcmp(c.weight, a.weight, sizeof a.weight),
          "an ignored prefix loads: %s", dy_ctx_error(ctx));
    CHECK(dy_tensor_file_load(ctx, file, &lc, &extra_ok) == DY_OK, "allow_extra loads: %s", dy_ctx_error(ctx));
    st = dy_tensor_file_load(ctx, path_of("none.safetensors"), &lc, &exact);
    CHECK(st == DY_ERR_IO && strstr(dy_ctx_error(ctx), "none.safetensors"), "a missing file: %s", dy_ctx_error(ctx));
    lc.count = 4;
    dy_tensor_list_free(&lc);
    dy_tensor_list_free(&la);
    dy_tensor_list_free(&lb);
}

/* The optimizer object against the flat step functions on the caller's own buffers: bitwise the same. */
static void test_optimizer(void) {
    enum { N = 40 };
    /* three tensors: a 1-D one (excluded from weight decay), a matrix, another 1-D one */
    dy_param_segment seg[3] = {{0, 8, true}, {8, 24, false}, {32, 8, true}};
    const dy_optimizer_kind kinds[] = {DY_OPTIMIZER_SGD, DY_OPTIMIZER_LARS, DY_OPTIMIZER_ADAM, DY_OPTIMIZER_ADAMW};
    const char *names[] = {"sgd", "lars", "adam", "adamw"};
    for (int k = 0; k < 4; k++) {
        dy_optimizer_config oc = {.kind = kinds[k], .momentum = 0.9, .weight_decay = 0.01, .lars_eta = 0.001,
                                  .adam_beta1 = 0.9, .adam_beta2 = 0.999};
        dy_optimizer *o = NULL;
        if (!CHECK(dy_optimizer_create(ctx, &oc, N, seg, 3, &o) == DY_OK, "%s: create: %s", names[k],
                   dy_ctx_error(ctx)))
            continue;
        float p[N], q[N], g[N], m[N] = {0}, v[N] = {0};
        for (int i = 0; i < N; i++) p[i] = q[i] = 0.1f * (float)(i % 7) - 0.3f;
        bool same = true;
        for (int64_t step = 0; step < 3; step++) {
            for (int i = 0; i < N; i++) g[i] = 0.01f * (float)((i * 13 + (int)step * 5) % 11) - 0.05f;
            double lr = 0.1 / (double)(step + 1);
            CHECK(dy_optimizer_step(o, ctx, p, g, lr, step) == DY_OK, "%s step %lld: %s", names[k], (long long)step,
                  dy_ctx_error(ctx));
            if (kinds[k] == DY_OPTIMIZER_SGD) {
                dy_sgd_options so = {.lr = lr, .momentum = 0.9, .weight_decay = 0.01};
                dy_sgd_options none = so;
                none.weight_decay = 0;
                for (int s = 0; s < 3; s++)
                    dy_sgd_step(ctx, seg[s].exclude ? &none : &so, q + seg[s].offset, g + seg[s].offset,
                                m + seg[s].offset, seg[s].count, step);
            } else if (kinds[k] == DY_OPTIMIZER_LARS) {
                dy_lars_options lo = dy_lars_defaults();
                lo.lr = lr;
                lo.momentum = 0.9;
                lo.weight_decay = 0.01;
                dy_lars_step(ctx, &lo, q, g, m, N, seg, 3);
            } else {
                dy_adam_options ao = dy_adam_defaults();
                ao.lr = lr;
                ao.weight_decay = 0.01;
                ao.decoupled = kinds[k] == DY_OPTIMIZER_ADAMW;
                dy_adam_step(ctx, &ao, q, g, m, v, N, step);
            }
            same &= memcmp(p, q, sizeof p) == 0;
        }
        CHECK(same, "%s: three steps equal the step function's bit for bit", names[k]);
        dy_tensor_list l = {0};
        dy_optimizer_list_tensors(o, &l);
        bool adam = kinds[k] >= DY_OPTIMIZER_ADAM;
        const dy_named_tensor *mt = dy_tensor_list_find(&l, "optimizer.momentum"),
                              *vt = dy_tensor_list_find(&l, "optimizer.exp_avg_sq");
        CHECK(l.count == (adam ? 2 : 1) && mt && mt->ndim == 1 && mt->shape[0] == N &&
                  !memcmp(mt->data, m, sizeof m) && (!adam || (vt && !memcmp(vt->data, v, sizeof v))),
              "%s: its state is listed by name (%lld tensors) and holds the step function's state", names[k],
              (long long)l.count);
        dy_tensor_list_free(&l);
        float bad[N];
        memcpy(bad, g, sizeof g);
        bad[5] = NAN;
        memcpy(q, p, sizeof p);
        CHECK(dy_optimizer_step(o, ctx, p, bad, 0.1, 3) == DY_ERR_NUMERIC && !memcmp(p, q, sizeof p),
              "%s: a NaN gradient is refused and nothing moves: %s", names[k], dy_ctx_error(ctx));
        dy_optimizer_destroy(o);
    }
}

static void test_read_file(void) {
    const char *p = path_of("hundred.bin");
    FILE *f = fopen(p, "wb");
    for (int i = 0; f && i < 100; i++) fputc('a' + i % 26, f);
    if (f) fclose(f);
    uint8_t *data = NULL;
    size_t size = 0;
    CHECK(dy_read_file(ctx, p, &data, &size, 100) == DY_OK && size == 100 && data[99] == 'a' + 99 % 26 &&
              data[100] == 0,
          "a file at the limit reads whole, with a 0 byte after it: %s", dy_ctx_error(ctx));
    free(data);
    CHECK(dy_read_file(ctx, p, &data, &size, 99) == DY_ERR_FORMAT && strstr(dy_ctx_error(ctx), "limit of 99 bytes") &&
              data == NULL,
          "a file over the limit is refused: %s", dy_ctx_error(ctx));
    CHECK(dy_read_file(ctx, p, &data, &size, 0) == DY_OK && size == 100, "no limit");
    free(data);
    CHECK(dy_read_file(ctx, path_of("absent"), &data, &size, 0) == DY_ERR_IO && strstr(dy_ctx_error(ctx), "absent"),
          "a missing file names itself: %s", dy_ctx_error(ctx));
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/dystress-state-test-%d", (int)getpid());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0 || dy_ctx_create(&ctx, NULL) != DY_OK) return 1;
    test_round_trip_and_refusals();
    test_optimizer();
    test_read_file();
    dy_ctx_destroy(ctx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish();
}
