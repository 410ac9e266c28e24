/* Loss benchmark: forward + backward of the SimCLR-form DySTreSS loss (cosine profile 0.07..0.2, raw projections,
 * d = 128) for N = 128, 1024, 4096 images (2N rows), 2 threads; median time, the loss object's scratch bytes and
 * the process's RSS high-water mark (each N runs in its own child process, so the mark is that N's). Beside it the
 * PyTorch twin bench/bench_loss_torch.py (torch threads = 2) for the same N, run from here through the shell, and
 * the ratio of the medians. The twin is skipped with a message when python3/torch is missing.
 * Options: DY_BENCH_QUICK=1 runs N = 128 and 1024 only (a smoke test). Run from the repository root. */
#include "dystress.h"
#include "twin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    double median_ms, median_diag_ms, median_1t_ms, peak_rss_mb, base_rss_mb, scratch_mb;
    int ok;
} c_result;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double mb = NAN;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) mb = atof(line + 6) / 1024.0;
    if (f) fclose(f);
    return mb;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs in a child process: times `reps` forward+backward calls (after one warm-up) without and with diagnostics. */
static c_result run_c(int64_t n, int64_t d, int reps) {
    c_result r = {0};
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 2};
    if (dy_ctx_create(&ctx, &co) != DY_OK) return r;
    float *x = malloc(sizeof(float) * (size_t)(2 * n * d)), *dx = malloc(sizeof(float) * (size_t)(2 * n * d));
    srand(1);
    for (int64_t i = 0; i < 2 * n * d; i++) x[i] = (float)((double)rand() / RAND_MAX) - 0.5f;
    memset(dx, 0, sizeof(float) * (size_t)(2 * n * d));
    r.base_rss_mb = rss_mb();
    dy_loss_options o = dy_loss_defaults(); /* SimCLR form, cosine 0.07..0.2, raw input */
    o.max_batch = n;
    o.dim = d;
    dy_loss *L = NULL;
    if (dy_loss_create(ctx, &o, &L) != DY_OK) {
        fprintf(stderr, "dy_loss_create: %s\n", dy_ctx_error(ctx));
        return r;
    }
    r.scratch_mb = (double)dy_loss_scratch_bytes(L) / (1024.0 * 1024.0);
    double *t = malloc(sizeof(double) * (size_t)(reps + 1)), *td = malloc(sizeof(double) * (size_t)(reps + 1));
    float loss = 0;
    dy_loss_diag diag;
    int ok = 1;
    for (int k = 0; k <= reps; k++) {
        double t0 = now_s();
        ok &= dy_loss_contrastive(L, ctx, n, x, dx, &loss, NULL) == DY_OK;
        t[k] = now_s() - t0;
        t0 = now_s();
        ok &= dy_loss_contrastive(L, ctx, n, x, dx, &loss, &diag) == DY_OK;
        td[k] = now_s() - t0;
    }
    qsort(t + 1, (size_t)reps, sizeof(double), cmp_double);
    qsort(td + 1, (size_t)reps, sizeof(double), cmp_double);
    r.median_ms = 1000.0 * t[1 + reps / 2];
    r.median_diag_ms = 1000.0 * td[1 + reps / 2];
    /* the same object called through a one-thread context */
    dy_ctx *one = NULL;
    dy_ctx_options o1 = {.threads = 1};
    if (dy_ctx_create(&one, &o1) != DY_OK) return r;
    for (int k = 0; k <= reps; k++) {
        double t0 = now_s();
        ok &= dy_loss_contrastive(L, one, n, x, dx, &loss, NULL) == DY_OK;
        t[k] = now_s() - t0;
    }
    qsort(t + 1, (size_t)reps, sizeof(double), cmp_double);
    r.median_1t_ms = 1000.0 * t[1 + reps / 2];
    dy_ctx_destroy(one);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r.peak_rss_mb = (double)ru.ru_maxrss / 1024.0;
    r.ok = ok && isfinite(loss);
    free(t);
    free(td);
    free(x);
    free(dx);
    dy_loss_destroy(L);
    dy_ctx_destroy(ctx);
    return r;
}

static c_result run_c_in_child(int64_t n, int64_t d, int reps) {
    c_result r = {0};
    int fd[2];
    if (pipe(fd) != 0) return r;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        c_result c = run_c(n, d, reps);
        ssize_t w = write(fd[1], &c, sizeof c);
        _exit(w == (ssize_t)sizeof c ? 0 : 1);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], &r, sizeof r);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof r) memset(&r, 0, sizeof r);
    return r;
}

/* Where Debian's libblas.so.3 points (OpenBLAS or the reference BLAS), for the record. */
static const char *blas_name(void) {
    static char target[512];
    ssize_t n = readlink("/etc/alternatives/libblas.so.3-x86_64-linux-gnu", target, sizeof target - 1);
    if (n <= 0) return "unknown";
    target[n] = 0;
    return strstr(target, "openblas") ? target : "the reference BLAS (install libopenblas0-pthread: 15-25x faster)";
}

/* The PyTorch twin for one N; returns its median in ms (NAN when it did not run) and its RSS figures. */
static double run_torch(int64_t n, int64_t d, int reps, int warmup, double *peak_mb, double *base_mb,
                        double *gemm_ms) {
    char cmd[512], line[512];
    snprintf(cmd, sizeof cmd, "%s/usr/bin/python3 bench/bench_loss_torch.py %lld %lld %d %d 2>&1", twin_env(),
             (long long)n, (long long)d, reps, warmup);
    FILE *p = popen(cmd, "r");
    double ms = NAN;
    *peak_mb = *base_mb = *gemm_ms = NAN;
    if (!p) return ms;
    while (fgets(line, sizeof line, p)) {
        const char *m = strstr(line, "median_ms="), *pk = strstr(line, "peak_rss_mb="), *b = strstr(line, "base_rss_mb=");
        const char *g = strstr(line, "gemm_ms=");
        if (strncmp(line, "torch ", 6) == 0 && m && pk && b && g) {
            ms = atof(m + 10);
            *gemm_ms = atof(g + 8);
            *peak_mb = atof(pk + 12);
            *base_mb = atof(b + 12);
        } else if (strstr(line, "Error") || strstr(line, "No module")) {
            printf("  (PyTorch twin skipped: %s", line);
        }
    }
    pclose(p);
    return ms;
}

int main(void) {
    const int64_t d = 128;
    const int64_t sizes[] = {128, 1024, 4096};
    /* torch as its users run it: tcmalloc (twin.h) and OpenBLAS behind libblas.so.3 (with the reference BLAS one
     * N = 4096 step takes 13-22 s instead of under a second) */
    const int reps_c[] = {21, 7, 5}, reps_torch[] = {11, 5, 5}, warmup_torch[] = {1, 1, 1};
    const int count = getenv("DY_BENCH_QUICK") ? 2 : 3;
    int have_torch = twin_available();
    if (have_torch) printf("torch's BLAS: libblas.so.3 -> %s\n", blas_name());
    printf("DySTreSS loss, SimCLR form, cosine profile, raw projections, d = %lld, forward + backward, 2 threads\n",
           (long long)d);
    printf("%6s %9s %9s %9s %10s %9s | %10s %10s %10s | %8s %9s\n", "N", "C ms", "C+diag", "C 1 thr",
           "scratch MB", "peak RSS", "torch ms", "its GEMMs", "torch RSS", "speed-up", "w/o GEMMs");
    int failed = 0;
    for (int i = 0; i < count; i++) {
        const int64_t n = sizes[i];
        c_result c = run_c_in_child(n, d, reps_c[i]);
        if (!c.ok) {
            printf("%6lld  C run failed\n", (long long)n);
            failed = 1;
            continue;
        }
        double tpeak = NAN, tbase = NAN, tms = NAN, tgemm = NAN;
        if (have_torch) tms = run_torch(n, d, reps_torch[i], warmup_torch[i], &tpeak, &tbase, &tgemm);
        printf("%6lld %9.2f %9.2f %9.2f %10.2f %9.1f | %10.2f %10.2f %10.1f | %7.2fx %8.2fx\n", (long long)n,
               c.median_ms, c.median_diag_ms, c.median_1t_ms, c.scratch_mb, c.peak_rss_mb, tms, tgemm, tpeak - tbase,
               tms / c.median_ms, (tms - tgemm) / c.median_ms);
        fflush(stdout);
    }
    printf("Times are medians in ms ('C+diag': with diagnostics, 'C 1 thr': one thread), memory in MB.\n"
           "C peak RSS: the child process's high-water mark (libraries, input and gradient buffers included).\n"
           "torch RSS: its high-water mark less its RSS after import and input (the loss's own memory).\n"
           "'its GEMMs': torch's three 2N x 2N x d products alone, on the BLAS behind libblas.so.3 (printed above);\n"
           "'w/o GEMMs': torch's time less its GEMMs, over C's time. torch runs with tcmalloc preloaded.\n");
    return failed;
}
