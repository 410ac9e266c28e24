/* The context: what every library call may need (threads, backend, oneDNN handles, the last error). */
#ifndef DY_CORE_CONTEXT_H
#define DY_CORE_CONTEXT_H

#include "dystress.h"

struct dy_ctx {
    int threads;          /* threads used inside ops (OpenMP num_threads) */
    dy_backend backend;   /* resolved: DY_BACKEND_REF or DY_BACKEND_DNNL */
    dy_conv_algo conv_algo; /* the oneDNN backend's convolution algorithm */
    dy_layout layout;     /* the oneDNN backend's activation layout */
    void *dnnl_engine;    /* dnnl_engine_t when backend == DY_BACKEND_DNNL */
    void *dnnl_stream;    /* dnnl_stream_t */
    char error[1024];     /* message of the last failure */
};

/* Records a formatted message in ctx (when ctx is not NULL) and returns status, so that failures read
 *     return dy_fail(ctx, DY_ERR_INVALID, "batch size %lld is below 2", (long long)n);            */
dy_status dy_fail(dy_ctx *ctx, dy_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns the status of a call that failed, so that a sequence of calls reads one call a line
 *     DY_TRY(dy_graph_conv(ctx, g, ...));
 * The message is already in the context (the callee's dy_fail). For functions with nothing to release; a function
 * that holds memory or handles uses `goto` to its one clean-up label instead (docs/ARCHITECTURE.md, "Errors"). */
#define DY_TRY(call)                                                                                               \
    do {                                                                                                           \
        dy_status dy_try_st_ = (call);                                                                             \
        if (dy_try_st_ != DY_OK) return dy_try_st_;                                                                \
    } while (0)

/* Allocation helpers: 64-byte aligned, zeroed; NULL on failure (callers turn that into DY_ERR_NOMEM). */
void *dy_alloc(size_t bytes);
void dy_free(void *p);

/* Threads. A context's thread count reaches every parallel region of the library in one of two ways:
 *  - our own OpenMP regions name it: `#pragma omp parallel ... num_threads(ctx->threads)`;
 *  - oneDNN cannot be told: Debian's libdnnl2 is built with its OpenMP runtime (dnnl_version()->cpu_runtime ==
 *    DNNL_RUNTIME_OMP), and it sizes its teams, its kernels' work split and its scratchpads from
 *    omp_get_max_threads() of the calling thread, both when a primitive is created (the thread count is part of
 *    the primitive cache's key) and when it runs; dnnl_sgemm likewise.
 * omp_get_max_threads() reads nthreads-var, an ICV that OpenMP keeps per thread (per task data environment), not per
 * process: setting it on the calling thread changes no other thread. So every call into oneDNN sits between
 * dy_threads_enter (the context's count, returning the caller's own) and dy_threads_leave (the caller's count
 * back). The caller's setting is what it was before and after any library call, and two contexts with different
 * counts can be used one after the other (or from two threads) without either seeing the other's. */
int dy_threads_enter(int threads);
void dy_threads_leave(int previous);

/* oneDNN handles in the context (src/engine/dnnl/dnnl_context.c); no-ops without oneDNN. */
dy_status dy_dnnl_context_init(dy_ctx *ctx);
void dy_dnnl_context_fini(dy_ctx *ctx);
/* DY_OK when oneDNN runs bf16 arithmetic natively here (its effective ISA, ONEDNN_MAX_CPU_ISA included, is
 * avx512_core_bf16 or above); DY_ERR_UNSUPPORTED naming the missing CPU feature otherwise. */
dy_status dy_dnnl_bf16_check(dy_ctx *ctx);
/* "oneDNN 2.6.3, ISA avx512_core_bf16": the version and the effective ISA (ONEDNN_MAX_CPU_ISA included) of the
 * oneDNN in use, for the plan tuner's cache key and the benchmarks' headers; "no oneDNN" in a build without it. */
void dy_dnnl_describe(char *buf, size_t size);
/* The CPU as /proc/cpuinfo names it ("model name"; "unknown" where it cannot be read) and which of the flags that
 * decide oneDNN's kernels it has ("avx2 avx512f avx512_bf16 amx_tile amx_bf16"; avx512_fp16 too). */
void dy_cpu_describe(char *name, size_t name_size, char *flags, size_t flags_size);

#endif
