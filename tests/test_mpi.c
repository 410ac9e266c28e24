/* Data-parallel pretraining over MPI, end to end, with `mpirun --oversubscribe --allow-run-as-root -np 2` on the tiny
 * synthetic CIFAR-10 set of test_cli_pretrain.c (width 4, batch 32, --threads 1: steps of milliseconds):
 *  - library level (this binary run under mpirun as a worker): a step split over 2 processes with sync-bn equals the
 *    step on the concatenated batch in one process: embeddings, the gathered loss, parameter gradients, running
 *    statistics, on the reference ops and on oneDNN's;
 *  - with --sync-bn, 20 steps on 2 processes against 1 process at the same global batch: per-step loss within 1e-5
 *    relative, final parameters within 1e-4 (normwise);
 *  - resume from a 2-process checkpoint on 1 process and on 2, continuing the same run;
 *  - SIGTERM to mpirun: every rank stops after the same step, one checkpoint; a killed rank ends the job with a
 *    message naming it within a bounded time; a batch not divisible by the process count is refused.
 * A build without MPI has nothing to run here (it says so); a build with MPI but no mpirun FAILS. */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_support.h"
#include "core/rng.h"
#include "dystress.h"
#include "dystress/loss.h"
#include "model/model.h"
#include "testlib.h"
#include "train/comm.h"
#include "train/grad_buckets.h"

/* Under the sanitizer build the ranks keep AddressSanitizer but not its leak check: OpenMPI's components are
 * dlopen'ed and unloaded at finalize, so their by-design allocations report from "<unknown module>" and cannot be
 * suppressed by library name. Single-process runs elsewhere in the suite keep the leak check. */
#define MPIRUN "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 timeout 300 mpirun --oversubscribe " \
               "--allow-run-as-root -np 2"

static char dir[256];  /* scratch folder */
static char data[300]; /* the CIFAR-10 files */

/* ---- the library-level worker (under mpirun) ------------------------------------------------------------------ */

static dy_status identity_reduce(void *user, double *buf, int64_t n) {
    (void)user, (void)buf, (void)n;
    return DY_OK;
}

static dy_status comm_reduce(void *user, double *buf, int64_t n) {
    dy_comm *c = user;
    return c->allreduce_sum_f64(c, buf, n);
}

/* The same backward again, its gradients all-reduced in small buckets started during the backward
 * (grad_buckets.h) against the one fused all-reduce after it: with 2 processes a + b either way, so bit for bit. */
static void bucketed_equals_fused(dy_comm *comm, dy_ctx *ctx, dy_model *m, const float *x, int64_t n, int64_t hw,
                                  const float *dz, const char *bn) {
    int64_t np, nt;
    float *g = dy_model_grads(m, &np), *fused = malloc(sizeof(float) * (size_t)np);
    float *z = malloc(sizeof(float) * (size_t)(n * dy_model_output_dim(m)));
    const dy_tensor_info *ti = dy_model_tensors(m, &nt);
    int64_t *off = malloc(sizeof(int64_t) * (size_t)nt), *cnt = malloc(sizeof(int64_t) * (size_t)nt);
    int32_t k = 0;
    for (int64_t i = 0; i < nt; i++)
        if (ti[i].kind == DY_TENSOR_PARAM) off[k] = ti[i].offset, cnt[k++] = ti[i].numel;
    dy_grad_sync sync;
    bool ok = fused && z && off && cnt;
    ok = ok && dy_model_forward_train(m, x, n, hw, hw, NULL, z) == DY_OK && dy_model_backward(m, dz) == DY_OK;
    if (ok) memcpy(fused, g, sizeof(float) * (size_t)np);
    ok = ok && comm->allreduce_sum(comm, fused, np) == DY_OK;
    ok = ok && dy_grad_sync_init(ctx, &sync, comm, g, off, cnt, k, np, 4096) == DY_OK;
    if (ok) {
        dy_model_set_grad_hook(m, &sync.hook);
        ok = dy_model_forward_train(m, x, n, hw, hw, NULL, z) == DY_OK && dy_model_backward(m, dz) == DY_OK &&
             dy_grad_sync_finish(&sync) == DY_OK;
        dy_model_set_grad_hook(m, NULL);
        CHECK(sync.n_buckets >= 8, "%s: %d gradient buckets", bn, sync.n_buckets);
        dy_grad_sync_free(&sync);
    }
    if (CHECK(ok, "%s: bucketed backward ran: %s", bn, dy_ctx_error(ctx)))
        CHECK(memcmp(g, fused, sizeof(float) * (size_t)np) == 0, "%s: gradients all-reduced in buckets during the "
              "backward equal the fused all-reduce after it, bit for bit", bn);
    free(fused), free(z), free(off), free(cnt);
}

/* One SimCLR step's pieces on `backend`: the global batch (2 x 8 P images, view-major) through one model with
 * identity reductions, against this process's rows through a model whose batch norm sums over the processes. */
static void split_step_equals_whole(dy_comm *comm, dy_backend backend) {
    const char *bn = backend == DY_BACKEND_REF ? "ref" : "dnnl";
    dy_ctx_options co = {.threads = 1, .backend = backend};
    dy_ctx *ctx;
    if (!CHECK(dy_ctx_create(&ctx, &co) == DY_OK, "%s: context", bn)) return;
    comm->ctx = ctx;
    const int64_t P = comm->size, r = comm->rank, b = 8, B = b * P, hw = 32, in = 3 * hw * hw;
    dy_model_config mc = dy_model_config_default();
    mc.width = 4;
    dy_model *whole = NULL, *part = NULL;
    dy_model_create(ctx, &mc, 5, &whole);
    dy_model_create(ctx, &mc, 5, &part);
    dy_bn_sync ident = {.allreduce = identity_reduce}, over = {.allreduce = comm_reduce, .user = comm};
    dy_model_set_bn_sync(whole, &ident);
    dy_model_set_bn_sync(part, &over);
    int64_t np, ns, d = dy_model_output_dim(whole);
    float *x = malloc(sizeof(float) * (size_t)(2 * B * in)), *xl = malloc(sizeof(float) * (size_t)(2 * b * in));
    float *zw = malloc(sizeof(float) * (size_t)(2 * B * d)), *zg = malloc(sizeof(float) * (size_t)(2 * B * d));
    float *zl = malloc(sizeof(float) * (size_t)(2 * b * d));
    float *dzw = malloc(sizeof(float) * (size_t)(2 * B * d)), *dzg = malloc(sizeof(float) * (size_t)(2 * B * d));
    dy_rng rng;
    dy_rng_init(&rng, 11, DY_RNG_EVAL, 3, 0); /* the same images on every process */
    for (int64_t i = 0; i < 2 * B * in; i++) x[i] = (float)dy_rng_normal(&rng);
    for (int v = 0; v < 2; v++) /* this process's rows of each view */
        memcpy(xl + v * b * in, x + (v * B + r * b) * in, sizeof(float) * (size_t)(b * in));
    dy_loss_options lo = dy_loss_defaults();
    lo.form = DY_LOSS_SIMCLR;
    lo.max_batch = B;
    lo.dim = d;
    lo.normalized_input = false;
    dy_loss *loss = NULL;
    dy_loss_create(ctx, &lo, &loss);
    float lw = 0, lg = 0;
    bool ok = whole && part && loss && x && xl && zw && zg && zl && dzw && dzg;
    ok = ok && dy_model_forward_train(whole, x, 2 * B, hw, hw, NULL, zw) == DY_OK;
    ok = ok && dy_model_forward_train(part, xl, 2 * b, hw, hw, NULL, zl) == DY_OK;
    for (int v = 0; ok && v < 2; v++)
        ok = comm->allgather_rows(comm, zg + v * B * d, zl + v * b * d, b, d) == DY_OK;
    ok = ok && dy_loss_contrastive(loss, ctx, B, zw, dzw, &lw, NULL) == DY_OK;
    ok = ok && dy_loss_contrastive(loss, ctx, B, zg, dzg, &lg, NULL) == DY_OK;
    if (!CHECK(ok, "%s: the steps ran: %s", bn, dy_ctx_error(ctx))) goto done;
    test_close(bn, zg, zw, (size_t)(2 * B * d), 1e-5);
    CHECK(fabs(lg - lw) <= 1e-6 * fabs(lw), "%s: the gathered loss %.9g equals the loss on the concatenated batch "
          "%.9g", bn, (double)lg, (double)lw);
    /* backward: each process its own rows of dz, then the gradients summed */
    for (int v = 0; v < 2; v++) memmove(dzg + v * b * d, dzg + (v * B + r * b) * d, sizeof(float) * (size_t)(b * d));
    ok = dy_model_backward(whole, dzw) == DY_OK && dy_model_backward(part, dzg) == DY_OK;
    float *gp = dy_model_grads(part, &np), *gw = dy_model_grads(whole, NULL);
    ok = ok && comm->allreduce_sum(comm, gp, np) == DY_OK;
    if (!CHECK(ok, "%s: backward ran: %s", bn, dy_ctx_error(ctx))) goto done;
    CHECK(test_rel_error(gp, gw, (size_t)np) <= 1e-4, "%s: summed gradients of the split batch equal the whole "
          "batch's (rel. error %.3g)", bn, test_rel_error(gp, gw, (size_t)np));
    const float *sp = dy_model_state(part, &ns), *sw = dy_model_state(whole, NULL);
    CHECK(test_rel_error(sp, sw, (size_t)ns) <= 1e-5, "%s: running statistics are the global batch's (rel. error "
          "%.3g)", bn, test_rel_error(sp, sw, (size_t)ns));
    bucketed_equals_fused(comm, ctx, part, xl, 2 * b, hw, dzg, bn);
done:
    dy_loss_destroy(loss);
    dy_model_destroy(whole);
    dy_model_destroy(part);
    free(x), free(xl), free(zw), free(zg), free(zl), free(dzw), free(dzg);
    dy_ctx_destroy(ctx);
    comm->ctx = NULL;
}

static int worker(void) {
    dy_comm comm;
    if (dy_comm_init_mpi(NULL, &comm) != DY_OK) {
        printf("worker: cannot join the MPI job\n");
        return 1;
    }
    CHECK(comm.size == 2, "worker: 2 processes (got %d)", comm.size);
    split_step_equals_whole(&comm, DY_BACKEND_REF);
    if (dy_have_dnnl()) split_step_equals_whole(&comm, DY_BACKEND_DNNL);
    /* the stop flag: set on one process, seen by all */
    int flag = comm.rank == 1;
    CHECK(comm.any(&comm, &flag) == DY_OK && flag == 1, "a flag set on rank 1 is set everywhere");
    flag = 0;
    CHECK(comm.any(&comm, &flag) == DY_OK && flag == 0, "a flag set nowhere stays clear");
    int rc = test_finish(); /* each rank prints its own "N passed, N failed" line */
    dy_comm_finalize(&comm);
    return rc;
}

/* ---- the driver ----------------------------------------------------------------------------------------------- */

/* The synthetic CIFAR-10 file name in the data folder (cli_support.h). */
static void write_cifar(const char *name, int per_class, uint32_t stream) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", data, name);
    cli_write_cifar(path, per_class, stream);
}

static const char *cli(void) { return getenv("DY_CLI") ? getenv("DY_CLI") : "./dystress"; }


/* The per-step losses of a run directory's metrics.jsonl: loss[step - 1]; returns the number of step lines. */
static int losses(const char *run_dir, double *loss, int max) {
    char path[512], line[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    FILE *f = fopen(path, "r");
    int lines = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *s = strstr(line, "\"step\": "), *l = strstr(line, "\"loss\": ");
        if (!s || !l) continue;
        int step = atoi(s + 8);
        if (step >= 1 && step <= max) loss[step - 1] = atof(l + 8);
        lines++;
    }
    if (f) fclose(f);
    return lines;
}

/* Largest relative difference of steps [from, to] (1-based) between two runs; also whether all were there. */
static double loss_diff(const double *a, const double *b, int from, int to) {
    double worst = 0;
    for (int s = from; s <= to; s++) {
        if (!(a[s - 1] > 0) || !(b[s - 1] > 0)) return INFINITY;
        worst = fmax(worst, fabs(a[s - 1] - b[s - 1]) / fabs(a[s - 1]));
    }
    return worst;
}

/* The parameters of a checkpoint, through a model of the runs' shape; NULL when it cannot be read. */
static float *params_of(dy_ctx *ctx, const char *path, int64_t *n) {
    dy_model_config mc = dy_model_config_default();
    mc.width = 4;
    dy_model *m;
    if (dy_model_create(ctx, &mc, 0, &m) != DY_OK) return NULL;
    float *p = NULL;
    if (dy_model_load_from(m, path) == DY_OK) {
        float *src = dy_model_params(m, n);
        p = malloc(sizeof(float) * (size_t)*n);
        if (p) memcpy(p, src, sizeof(float) * (size_t)*n);
    }
    dy_model_destroy(m);
    return p;
}

static bool params_close(dy_ctx *ctx, const char *what, const char *a, const char *b, double tol) {
    int64_t na = 0, nb = 0;
    float *pa = params_of(ctx, a, &na), *pb = params_of(ctx, b, &nb);
    double err = pa && pb && na == nb ? test_rel_error(pb, pa, (size_t)na) : INFINITY;
    free(pa);
    free(pb);
    return CHECK(err <= tol, "%s: final parameters within %g (rel. error %.3g)", what, tol, err);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 20 steps at a small learning rate: training on this set is chaotic (in one process a 1e-5 relative change of the
 * learning rate grows to 5e-4 in the loss within two steps at lr 1e-3, and oneDNN's batch-size-dependent summation
 * order alone to 1e-3), so the comparison runs where float summation order stays far below the tolerance (measured:
 * 2.5e-7 on oneDNN). The steps still matter: gradients summed wrongly (doubled) move the loss by 1e-4 at step 2 and
 * 3.5e-3 by step 20 here. */
#define RUN "pretrain --data cifar10 --data-dir %s --width 4 --batch-size 32 --epochs 2 --lr 2e-6 --momentum 0.9 " \
            "--profile const --tau 0.5 --threads 1 --loader-threads 1 --seed 3 --knn-every -1 --sync-bn"

static void sync_bn_runs(dy_ctx *ctx, const char *backend) {
    char out[16384], one[512], two[512], a[600], b[600];
    double l1[20] = {0}, l2[20] = {0}, lr[20] = {0};
    snprintf(one, sizeof one, "%s/one-%s", dir, backend);
    snprintf(two, sizeof two, "%s/two-%s", dir, backend);
    int rc = cli_run(out, sizeof out, "%s " RUN " --backend %s --max-steps 20 --run-dir %s", cli(), data, backend, one);
    CHECK(rc == 0, "%s: 1 process, 20 steps: %s", backend, out);
    rc = cli_run(out, sizeof out, MPIRUN " %s " RUN " --backend %s --max-steps 20 --run-dir %s", cli(), data, backend,
                 two);
    CHECK(rc == 0, "%s: 2 processes, 20 steps: %s", backend, out);
    const char *start = strstr(out, "dystress pretrain: cifar10");
    CHECK(start && !strstr(start + 1, "dystress pretrain: cifar10") && strstr(out, "in each of 2 processes (sync-bn)"),
          "%s: one start line, from rank 0, naming 2 processes: %s", backend, out);
    int n1 = losses(one, l1, 20), n2 = losses(two, l2, 20);
    CHECK(n1 == 20 && n2 == 20, "%s: 20 metric lines each, rank 0's only (got %d and %d)", backend, n1, n2);
    double worst = loss_diff(l1, l2, 1, 20);
    CHECK(worst <= 1e-5, "%s: per-step loss of 2 processes equals 1 process's within 1e-5 (worst %.3g)", backend,
          worst);
    snprintf(a, sizeof a, "%s/checkpoint-latest.safetensors", one);
    snprintf(b, sizeof b, "%s/checkpoint-latest.safetensors", two);
    params_close(ctx, backend, a, b, 1e-4);

    /* the gradient all-reduce in many small buckets during the backward (--bucket-mb 0.01: about 10 KB each), and
     * in one call after it (--bucket-mb 0), against the default (25 MB: here one bucket, started when the backward
     * finishes it): with 2 processes each float is a + b whichever way, so the runs are the same bit for bit */
    const char *buckets[2] = {"0.01", "0"};
    for (int k = 0; k < 2; k++) {
        char other[512];
        double lb[20] = {0};
        snprintf(other, sizeof other, "%s/two-%s-bucket-%s", dir, backend, buckets[k]);
        rc = cli_run(out, sizeof out, MPIRUN " %s " RUN " --backend %s --max-steps 20 --bucket-mb %s --run-dir %s",
                     cli(), data, backend, buckets[k], other);
        CHECK(rc == 0, "%s: 2 processes, --bucket-mb %s: %s", backend, buckets[k], out);
        int nb = losses(other, lb, 20);
        CHECK(nb == 20 && memcmp(lb, l2, sizeof lb) == 0, "%s: --bucket-mb %s: the 20 losses equal the default's bit "
              "for bit (%d lines, worst relative difference %.3g)", backend, buckets[k], nb, loss_diff(l2, lb, 1, 20));
        snprintf(a, sizeof a, "%s/checkpoint-latest.safetensors", other);
        int64_t na = 0, nb2 = 0;
        float *pa = params_of(ctx, a, &na), *pb = params_of(ctx, b, &nb2);
        CHECK(pa && pb && na == nb2 && memcmp(pa, pb, sizeof(float) * (size_t)na) == 0, "%s: --bucket-mb %s: final "
              "parameters equal the default's bit for bit", backend, buckets[k]);
        free(pa);
        free(pb);
    }

    /* resume: a 2-process run stopped at step 10, continued on 1 process and on 2 */
    for (int p = 1; p <= 2; p++) {
        char half[512];
        snprintf(half, sizeof half, "%s/half%d-%s", dir, p, backend);
        rc = cli_run(out, sizeof out, MPIRUN " %s " RUN " --backend %s --max-steps 10 --run-dir %s", cli(), data,
                     backend, half);
        CHECK(rc == 0, "%s: 2 processes, first 10 steps: %s", backend, out);
        rc = cli_run(out, sizeof out, "%s %s pretrain --resume --max-steps 20 --backend %s --run-dir %s",
                 p == 2 ? MPIRUN : "", cli(), backend, half);
        CHECK(rc == 0 && strstr(out, "resuming after step 10"), "%s: resumed on %d process(es) after step 10: %s",
              backend, p, out);
        memset(lr, 0, sizeof lr);
        int n = losses(half, lr, 20);
        worst = loss_diff(l2, lr, 1, 20);
        CHECK(n == 20 && worst <= 1e-5, "%s: 2-process checkpoint resumed on %d: the same run (%d lines, worst "
              "relative loss difference %.3g)", backend, p, n, worst);
        snprintf(a, sizeof a, "%s/checkpoint-latest.safetensors", half);
        char what[64];
        snprintf(what, sizeof what, "%s, resumed on %d", backend, p);
        params_close(ctx, what, b, a, 1e-4);
        if (p == 2) CHECK(loss_diff(l2, lr, 11, 20) == 0, "%s: resumed on 2 processes, bit for bit", backend);
    }
}

/* `timeout` bounds every run; 124 means it had to. */
#define MPIRUN_BARE "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 timeout 120 mpirun --oversubscribe " \
                    "--allow-run-as-root"

static void fault_runs(void) {
    char out[16384], run_dir[300], cmd[1200];
    double got[20];
    /* (a) a NaN loss at step 3 on rank 1 alone (the test-only fault hook): rank 1 says so and ends the job; rank 0,
     * waiting for rank 1's gradients, goes with it; nothing after step 2 is recorded */
    snprintf(run_dir, sizeof run_dir, "%s/nan", dir);
    double t0 = now();
    int rc = cli_run(out, sizeof out, "DY_FAULT_NAN_RANK=1 DY_FAULT_NAN_STEP=3 " MPIRUN_BARE " -np 2 %s " RUN
                 " --max-steps 20 --run-dir %s", cli(), data, run_dir);
    double secs = now() - t0;
    CHECK(rc != 0 && rc != 124 && secs < 60, "NaN on rank 1: the job ended with exit %d after %.1f s (bound 60 s)", rc,
          secs);
    CHECK(strstr(out, "rank 1 of 2: pretrain: step 3 (epoch 1): loss is nan") && strstr(out, "ending every process"),
          "NaN on rank 1: the message names rank 1, the step and the reason: %s", out);
    CHECK(!strstr(out, "rank 0 of 2: pretrain:"), "NaN on rank 1: rank 0 reports no failure of its own: %s", out);
    int lines = losses(run_dir, got, 20);
    CHECK(lines == 2, "NaN on rank 1: rank 0 recorded steps 1-2 only (%d lines)", lines);

    /* (b) the data unreadable on rank 1 only (mpirun's MPMD form gives rank 1 another --data-dir, holding a
     * truncated batch file): rank 1 names the file, rank 0 stops before training */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/cifar-bad", dir);
    snprintf(cmd, sizeof cmd, "cp -r %s %s && truncate -s 1000 %s/data_batch_3.bin", data, bad, bad);
    CHECK(system(cmd) == 0, "a copy of the data with a truncated file");
    snprintf(run_dir, sizeof run_dir, "%s/baddata", dir);
    t0 = now();
    rc = cli_run(out, sizeof out, MPIRUN_BARE " -np 1 %s " RUN " --max-steps 5 --run-dir %s : -np 1 %s " RUN
             " --max-steps 5 --run-dir %s", cli(), data, run_dir, cli(), bad, run_dir);
    secs = now() - t0;
    CHECK(rc != 0 && rc != 124 && secs < 60, "bad data on rank 1: the job ended with exit %d after %.1f s", rc, secs);
    CHECK(strstr(out, "rank 1 of 2: data:") && strstr(out, "data_batch_3.bin"), "bad data on rank 1: rank 1 names "
          "the file: %s", out);
    CHECK(strstr(out, "rank 0 of 2: stopping: another process failed before training"), "bad data on rank 1: rank 0 "
          "stops, pointing at the other's message: %s", out);
    CHECK(losses(run_dir, got, 20) == 0, "bad data on rank 1: no step was trained");
}

/* The number of times needle occurs in text. */
static int count_of(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* eval and embed under mpirun: rank 0 computes and writes, the other ranks leave at once and quietly (exit 0); the
 * output is the one-process command's. */
static void once_under_mpirun(void) {
    char out[16384], one[16384], ckpt[400], cmd[2400];
    snprintf(ckpt, sizeof ckpt, "%s/two-ref/checkpoint-latest.safetensors", dir);
    int rc = cli_run(one, sizeof one, "%s eval knn --checkpoint %s --threads 1", cli(), ckpt);
    char *score = strstr(one, "encoder    kNN");
    CHECK(rc == 0 && score && count_of(one, "top-1") == 1, "eval knn in one process: %s", one);
    if (score && strchr(score, '\n')) *strchr(score, '\n') = 0;
    rc = cli_run(out, sizeof out, MPIRUN " %s eval knn --checkpoint %s --threads 1", cli(), ckpt);
    CHECK(rc == 0 && count_of(out, "top-1") == 1 && score && strstr(out, score), "eval knn under mpirun -np 2: exit "
          "%d, one score line, the one-process one (%s): %s", rc, score ? score : "none", out);
    CHECK(count_of(out, "runs once, in rank 0") == 1 && count_of(out, "train / ") == 1, "eval knn under mpirun: one "
          "note and one timing line on stderr: %s", out);
    char emb1[400], emb2[400];
    snprintf(emb1, sizeof emb1, "%s/emb-one", dir);
    snprintf(emb2, sizeof emb2, "%s/emb-two", dir);
    rc = cli_run(out, sizeof out, "%s embed --checkpoint %s --threads 1 --out %s", cli(), ckpt, emb1);
    CHECK(rc == 0, "embed in one process: %s", out);
    rc = cli_run(out, sizeof out, MPIRUN " %s embed --checkpoint %s --threads 1 --out %s", cli(), ckpt, emb2);
    CHECK(rc == 0 && count_of(out, "wrote ") == 1, "embed under mpirun -np 2: exit %d, one 'wrote' line: %s", rc,
          out);
    snprintf(cmd, sizeof cmd, "cmp %s_features.npy %s_features.npy && cmp %s_labels.npy %s_labels.npy && "
             "test $(ls %s | grep -c '^emb-two') = 2", emb1, emb2, emb1, emb2, dir);
    CHECK(cli_run(out, sizeof out, "%s", cmd) == 0, "embed under mpirun: the one-process files, and no others (no "
          "temporary left): %s", out);
}

int main(int argc, char **argv) {
    (void)argc;
    if (getenv("DY_TEST_MPI_WORKER")) return worker();
    if (!dy_have_mpi()) {
        printf("this build has no MPI (MPI=0): data-parallel pretraining is not built in, nothing to test\n");
        char out[1024];
        int rc = cli_run(out, sizeof out, "%s --version", cli());
        CHECK(rc == 0 && strstr(out, "MPI: no"), "--version says MPI: no: %s", out);
        return test_finish();
    }
    char out[16384], cmd[4096];
    if (!CHECK(cli_run(out, sizeof out, "command -v mpirun") == 0,
               "mpirun is installed (openmpi-bin): this build has MPI, "
               "so its tests must run"))
        return test_finish();
    int rc = cli_run(out, sizeof out, "%s --version", cli());
    CHECK(rc == 0 && strstr(out, "MPI: yes"), "--version says MPI: yes: %s", out);

    snprintf(dir, sizeof dir, "/tmp/dystress-mpi-test-%d", (int)getpid());
    snprintf(data, sizeof data, "%s/cifar", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s", data);
    if (system(cmd) != 0) return 1;
    char name[32];
    for (int b = 1; b <= 5; b++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        write_cifar(name, 8, (uint32_t)b); /* 400 training images */
    }
    write_cifar("test_batch.bin", 10, 99);

    /* 1. the library: a split step equals the whole step */
    rc = cli_run(out, sizeof out, "DY_TEST_MPI_WORKER=1 " MPIRUN " %s", argv[0]);
    int ranks_ok = 0; /* lines "N passed, 0 failed" with N >= 12, one per rank */
    for (char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        int p = -1, f = -1;
        if (sscanf(line, "%d passed, %d failed", &p, &f) == 2 && p >= 12 && f == 0) ranks_ok++;
    }
    CHECK(rc == 0 && ranks_ok == 2 && !strstr(out, "FAIL"),
          "library step over 2 processes equals the step on the concatenated batch (both ranks): %s", out);

    /* 2. the command: sync-bn runs and resumes, on each backend */
    dy_ctx *ctx;
    dy_ctx_create(&ctx, NULL);
    sync_bn_runs(ctx, "ref");
    if (dy_have_dnnl()) sync_bn_runs(ctx, "dnnl");
    dy_ctx_destroy(ctx);

    /* 3. a batch the processes cannot share evenly */
    rc =
        cli_run(out, sizeof out, MPIRUN " %s " RUN " --batch-size 33 --max-steps 2 --run-dir %s/odd", cli(), data, dir);
    CHECK(rc != 0 && rc != 124 && strstr(out, "batch size 33 is not divisible by the 2 processes"),
          "batch 33 on 2 processes refused with a message (exit %d): %s", rc, out);

    /* 4. SIGTERM to mpirun: all ranks stop after the same step with one checkpoint, and the run continues. OpenMPI
     * 4.1 kills the ranks odls_base_sigkill_timeout seconds (default 1) after it forwards the signal; with the
     * timeout raised, the forwarding itself came about twice that late here, so keep it short. */
    char run_dir[300];
    snprintf(run_dir, sizeof run_dir, "%s/term", dir);
    snprintf(cmd, sizeof cmd, "OMPI_MCA_odls_base_sigkill_timeout=5 " MPIRUN " %s " RUN " --epochs 100 "
             "--run-dir %s > %s.log 2>&1 & echo $! > %s.pid", cli(), data, run_dir, run_dir, run_dir);
    CHECK(system(cmd) == 0, "background 2-process run started");
    double got[1200];
    for (int i = 0; i < 1200 && losses(run_dir, got, 0) < 5; i++) usleep(50000);
    /* `timeout` runs mpirun as its child: signal mpirun itself */
    snprintf(cmd, sizeof cmd, "pid=$(cat %s.pid); m=$(pgrep -P $pid mpirun || echo $pid); kill -TERM $m; "
             "while kill -0 $pid 2>/dev/null; do sleep 0.05; done; cat %s.log", run_dir, run_dir);
    rc = cli_run(out, sizeof out, "%s", cmd);
    char *msg = strstr(out, "interrupted after step ");
    int stopped = msg ? atoi(msg + 23) : -1;
    CHECK(msg && !strstr(msg + 1, "interrupted after step"), "SIGTERM: one 'interrupted' line (rank 0's): %s", out);
    int lines = losses(run_dir, got, 0);
    CHECK(stopped > 0 && lines == stopped, "SIGTERM: stopped after step %d with %d metric lines", stopped, lines);
    rc = cli_run(out, sizeof out, MPIRUN " %s pretrain --resume --max-steps %d --run-dir %s", cli(), stopped + 2,
                 run_dir);
    CHECK(rc == 0 && strstr(out, "resuming after step"), "SIGTERM: the checkpoint resumes on 2 processes: %s", out);
    char want[64];
    snprintf(want, sizeof want, "resuming after step %d", stopped);
    CHECK(strstr(out, want) != NULL, "SIGTERM: every rank stopped after step %d, the checkpoint's", stopped);

    /* 5. a rank killed mid-step: the job ends with a message naming the rank, in bounded time */
    snprintf(run_dir, sizeof run_dir, "%s/kill", dir);
    snprintf(cmd, sizeof cmd, MPIRUN " %s " RUN " --epochs 100 --run-dir %s > %s.log 2>&1 & echo $! > %s.pid", cli(),
             data, run_dir, run_dir, run_dir);
    CHECK(system(cmd) == 0, "background 2-process run started");
    for (int i = 0; i < 1200 && losses(run_dir, got, 0) < 5; i++) usleep(50000);
    double t0 = now();
    /* the process whose environment says rank 1 */
    snprintf(cmd, sizeof cmd, "pid=$(cat %s.pid); m=$(pgrep -P $pid mpirun || echo $pid); for c in $(pgrep -P $m); do "
             "tr '\\0' '\\n' < /proc/$c/environ | grep -qx OMPI_COMM_WORLD_RANK=1 && kill -KILL $c; done; "
             "while kill -0 $pid 2>/dev/null; do sleep 0.05; done; cat %s.log", run_dir, run_dir);
    rc = cli_run(out, sizeof out, "%s", cmd);
    double secs = now() - t0;
    CHECK(strstr(out, "rank 1") && strstr(out, "signal 9"), "killed rank: the job's message names rank 1: %s", out);
    CHECK(secs < 60, "killed rank: the job ended %.1f s after the kill (bound 60 s), not a hang", secs);

    /* 6. a rank that fails by an error ends the job on every rank, in bounded time, with its message */
    fault_runs();

    /* 7. eval and embed under mpirun: run once (rank 0), one output */
    once_under_mpirun();

    if (!getenv("DY_TEST_KEEP")) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_finish();
}
