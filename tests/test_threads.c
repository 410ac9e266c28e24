/* Threads belong to a context: two contexts with different thread counts in one process each keep their own, used
 * one after the other and from two threads at once, on the reference ops, the optimizer, the kNN GEMM and inside
 * oneDNN's primitives; and a library call leaves the caller's own OpenMP setting as it was.
 *
 * How the team sizes are seen: this binary defines GOMP_parallel, the libgomp entry that every `#pragma omp
 * parallel` compiled by GCC calls, oneDNN's own included (libdnnl2 is built with GCC's OpenMP runtime). The
 * definition here wraps the region's body, notes the team size the body runs with, and hands it to libgomp's. The
 * notes are kept per calling thread (the team's master is the caller), and oneDNN's regions are told from ours by
 * the library the body's code lies in. Under another OpenMP runtime (clang's libomp in the sanitizer build) no
 * region comes through here, and the test says it cannot look instead of passing. */
#include <dlfcn.h>
#include <omp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dystress.h"
#include "testlib.h"

typedef struct {
    int regions, min, max;             /* outermost regions of the library's own code */
    int dnnl_regions, dnnl_min, dnnl_max; /* outermost regions in libdnnl */
} teams;

static _Thread_local teams seen;

static void teams_reset(void) {
    memset(&seen, 0, sizeof seen);
    seen.min = seen.dnnl_min = 1 << 30;
}

typedef struct {
    void (*fn)(void *);
    void *data;
    bool in_dnnl;
} region;

static void region_body(void *p) {
    region *r = p;
    if (omp_get_level() == 1 && omp_get_thread_num() == 0) {
        int n = omp_get_num_threads();
        if (r->in_dnnl) {
            seen.dnnl_regions++;
            if (n < seen.dnnl_min) seen.dnnl_min = n;
            if (n > seen.dnnl_max) seen.dnnl_max = n;
        } else {
            seen.regions++;
            if (n < seen.min) seen.min = n;
            if (n > seen.max) seen.max = n;
        }
    }
    r->fn(r->data);
}

typedef void (*gomp_parallel_fn)(void (*)(void *), void *, unsigned, unsigned);

/* Exported from the executable (the build hides symbols by default), so that libdnnl's calls come here too. */
__attribute__((visibility("default"))) void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads,
                                                          unsigned flags) {
    static gomp_parallel_fn real;
    if (!real) real = (gomp_parallel_fn)dlvsym(RTLD_NEXT, "GOMP_parallel", "GOMP_4.0");
    if (!real) real = (gomp_parallel_fn)dlsym(RTLD_NEXT, "GOMP_parallel");
    Dl_info info;
    region r = {fn, data, dladdr((void *)fn, &info) && info.dli_fname && strstr(info.dli_fname, "libdnnl")};
    real(region_body, &r, num_threads, flags);
}

/* ---- the work run under one context ---- */

enum { BATCH = 8, SIDE = 16, CHANNELS = 3, N_TRAIN = 512, N_TEST = 64, DIM = 64, CLASSES = 4 };

typedef struct {
    int threads;
    dy_backend backend;
    dy_ctx *ctx;
    dy_model *model;
    float *input, *output, *dout, *train, *test;
    int64_t *train_labels, *test_labels;
} worker;

static bool worker_open(worker *w, int threads, dy_backend backend) {
    memset(&w->ctx, 0, sizeof *w - offsetof(worker, ctx));
    w->threads = threads;
    w->backend = backend;
    dy_ctx_options co = {.threads = threads, .backend = backend};
    if (!CHECK(dy_ctx_create(&w->ctx, &co) == DY_OK, "context of %d threads on %s", threads, dy_backend_name(backend)))
        return false;
    dy_model_config mc = dy_model_config_default();
    mc.width = 16; /* whole 16-channel blocks: oneDNN's blocked layouts */
    mc.in_channels = CHANNELS;
    mc.head_hidden = 32;
    mc.head_out = 16;
    if (!CHECK(dy_model_create(w->ctx, &mc, 1, &w->model) == DY_OK, "model: %s", dy_ctx_error(w->ctx))) return false;
    int64_t out_dim = dy_model_output_dim(w->model);
    w->input = malloc(sizeof(float) * BATCH * CHANNELS * SIDE * SIDE);
    w->output = malloc(sizeof(float) * (size_t)(BATCH * out_dim));
    w->dout = malloc(sizeof(float) * (size_t)(BATCH * out_dim));
    w->train = malloc(sizeof(float) * N_TRAIN * DIM);
    w->test = malloc(sizeof(float) * N_TEST * DIM);
    w->train_labels = malloc(sizeof(int64_t) * N_TRAIN);
    w->test_labels = malloc(sizeof(int64_t) * N_TEST);
    unsigned s = 12345;
    for (int i = 0; i < BATCH * CHANNELS * SIDE * SIDE; i++)
        w->input[i] = (float)((s = s * 1103515245u + 12345u) >> 16) / 65536.0f - 0.5f;
    for (int64_t i = 0; i < BATCH * out_dim; i++) w->dout[i] = 1e-3f * (float)(i % 7 - 3);
    for (int i = 0; i < N_TRAIN * DIM; i++) w->train[i] = (float)((s = s * 1103515245u + 12345u) >> 16) / 65536.0f;
    for (int i = 0; i < N_TEST * DIM; i++) w->test[i] = (float)((s = s * 1103515245u + 12345u) >> 16) / 65536.0f;
    for (int i = 0; i < N_TRAIN; i++) w->train_labels[i] = i % CLASSES;
    for (int i = 0; i < N_TEST; i++) w->test_labels[i] = i % CLASSES;
    return true;
}

static void worker_close(worker *w) {
    dy_model_destroy(w->model);
    dy_ctx_destroy(w->ctx);
    free(w->input), free(w->output), free(w->dout), free(w->train), free(w->test);
    free(w->train_labels), free(w->test_labels);
}

typedef enum { STEP_FORWARD, STEP_BACKWARD, STEP_SGD, STEP_KNN, STEP_EVAL, N_STEPS } step_kind;
static const char *const step_names[] = {"training forward", "backward", "SGD step", "kNN", "evaluation forward"};

static dy_status run_step(worker *w, step_kind k) {
    switch (k) {
    case STEP_FORWARD: return dy_model_forward_train(w->model, w->input, BATCH, SIDE, SIDE, NULL, w->output);
    case STEP_BACKWARD: return dy_model_backward(w->model, w->dout);
    case STEP_SGD: {
        int64_t n;
        float *p = dy_model_params(w->model, &n);
        dy_sgd_options o = {.lr = 1e-3, .weight_decay = 5e-4};
        return dy_sgd_step(w->ctx, &o, p, dy_model_grads(w->model, NULL), NULL, n, 0);
    }
    case STEP_KNN: {
        dy_knn_options ko = dy_knn_defaults();
        ko.k = 20;
        dy_eval_accuracy acc = {0};
        dy_status st = dy_knn_evaluate(w->ctx, w->train, w->train_labels, N_TRAIN, w->test, w->test_labels, N_TEST,
                                       DIM, CLASSES, &ko, NULL, &acc);
        dy_eval_accuracy_free(&acc);
        return st;
    }
    case STEP_EVAL: return dy_model_forward_eval(w->model, w->input, BATCH, SIDE, SIDE, NULL, w->output);
    default: return DY_ERR_INVALID;
    }
}

/* Runs step k under w's context and checks the teams it ran with: every region of our own code has exactly the
 * context's count; oneDNN's regions (the model's primitives; dnnl_sgemm in kNN) never more, and the largest as
 * many. Returns false when no region was seen at all (another OpenMP runtime). */
static bool check_step(worker *w, step_kind k, const char *when) {
    teams_reset();
    const int caller = omp_get_max_threads();
    dy_status st = run_step(w, k);
    CHECK(st == DY_OK, "%s %s on %s: %s", when, step_names[k], dy_backend_name(w->backend), dy_ctx_error(w->ctx));
    if (seen.regions == 0 && seen.dnnl_regions == 0) return false;
    CHECK(omp_get_max_threads() == caller, "%s %s: the caller's OpenMP setting stays %d (now %d)", when,
          step_names[k], caller, omp_get_max_threads());
    if (seen.regions > 0)
        CHECK(seen.min == w->threads && seen.max == w->threads,
              "%s %s on %s, context of %d threads: %d regions of our code ran with %d to %d threads", when,
              step_names[k], dy_backend_name(w->backend), w->threads, seen.regions, seen.min, seen.max);
    if (w->backend == DY_BACKEND_DNNL && (k == STEP_FORWARD || k == STEP_BACKWARD || k == STEP_KNN))
        CHECK(seen.dnnl_regions > 0 && seen.dnnl_max == w->threads,
              "%s %s on dnnl, context of %d threads: %d oneDNN regions ran with %d to %d threads", when,
              step_names[k], w->threads, seen.dnnl_regions, seen.dnnl_regions ? seen.dnnl_min : 0, seen.dnnl_max);
    return true;
}

/* Two contexts, their steps interleaved: A's, then B's, then A's again... */
static bool interleaved(dy_backend backend, int a_threads, int b_threads) {
    worker a, b;
    bool ok = worker_open(&a, a_threads, backend) && worker_open(&b, b_threads, backend);
    bool looked = true;
    for (int k = 0; ok && k < N_STEPS; k++) {
        char when[64];
        snprintf(when, sizeof when, "interleaved (A %d, B %d threads), A:", a_threads, b_threads);
        looked &= check_step(&a, (step_kind)k, when);
        snprintf(when, sizeof when, "interleaved (A %d, B %d threads), B:", a_threads, b_threads);
        looked &= check_step(&b, (step_kind)k, when);
    }
    worker_close(&a);
    worker_close(&b);
    return looked;
}

/* The same steps from two threads at once, each with its own context. */
typedef struct {
    worker w;
    bool opened, looked;
} concurrent;

static void *concurrent_main(void *p) {
    concurrent *c = p;
    c->looked = true;
    for (int rep = 0; rep < 2; rep++)
        for (int k = 0; k < N_STEPS; k++) c->looked &= check_step(&c->w, (step_kind)k, "concurrent:");
    return NULL;
}

static bool concurrently(dy_backend backend, int a_threads, int b_threads) {
    concurrent c[2] = {0};
    c[0].opened = worker_open(&c[0].w, a_threads, backend);
    c[1].opened = worker_open(&c[1].w, b_threads, backend);
    bool looked = true;
    if (c[0].opened && c[1].opened) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, concurrent_main, &c[i]);
        for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
        looked = c[0].looked && c[1].looked;
    }
    worker_close(&c[0].w);
    worker_close(&c[1].w);
    return looked;
}

int main(void) {
    /* The caller's own setting, different from both contexts': a library call must neither use nor change it. */
    omp_set_num_threads(5);
    dy_backend backends[2] = {DY_BACKEND_REF, DY_BACKEND_DNNL};
    for (int i = 0; i < 2; i++) {
        if (backends[i] == DY_BACKEND_DNNL && !dy_have_dnnl()) continue;
        /* B is created last: a library with one process-wide setting would run A's work with B's count. */
        if (!interleaved(backends[i], 3, 2) || !interleaved(backends[i], 2, 3) || !concurrently(backends[i], 3, 2)) {
#if defined(__clang__)
            printf("skipped: no OpenMP region came through GOMP_parallel (clang's OpenMP runtime), so the team sizes "
                   "cannot be seen in this build\n");
            return test_finish();
#else
            CHECK(false, "no OpenMP region came through GOMP_parallel: the team sizes cannot be seen");
            break;
#endif
        }
    }
    CHECK(omp_get_max_threads() == 5, "the caller's OpenMP setting is still 5 (now %d)", omp_get_max_threads());
    return test_finish();
}
