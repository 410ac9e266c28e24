/*
 * dystress — self-supervised contrastive pretraining with dynamically scaled temperature (DySTreSS), in C.
 *
 * Conventions for the whole API:
 *  - Every name starts with dy_ (types dy_*, constants DY_*).
 *  - Calls that can fail return dy_status; DY_OK is 0. The message of the last failure is kept in the
 *    context: dy_ctx_error(ctx). The library never prints and never exits.
 *  - Sizes and offsets are int64_t. Tensors are float32, row-major; images are NCHW.
 *  - No global state: a dy_ctx carries the thread count, the compute backend and the oneDNN engine.
 *    A context is used by one thread at a time (ops parallelise inside themselves, on the context's thread count;
 *    the calling thread's OpenMP setting is left as it was).
 *
 * Example:
 *     dy_ctx *ctx;
 *     if (dy_ctx_create(&ctx, NULL) != DY_OK) return 1;
 *     ...
 *     dy_ctx_destroy(ctx);
 */
#ifndef DYSTRESS_H
#define DYSTRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DY_API __attribute__((visibility("default")))
#else
#define DY_API
#endif

#define DY_VERSION "0.1.0"

typedef enum {
    DY_OK = 0,
    DY_ERR_INVALID,     /* a bad argument or option */
    DY_ERR_NOMEM,       /* an allocation failed */
    DY_ERR_IO,          /* a file could not be opened, read or written */
    DY_ERR_FORMAT,      /* a file is corrupt, truncated or of the wrong kind */
    DY_ERR_MISMATCH,    /* a file does not match the model (names, shapes, dtypes) */
    DY_ERR_NUMERIC,     /* NaN or Inf where a finite number is required */
    DY_ERR_UNSUPPORTED, /* a feature this build does not have */
    DY_ERR_INTERRUPTED, /* stopped on request (a signal) */
    DY_ERR_INTERNAL     /* a bug: please report */
} dy_status;

typedef enum {
    DY_BACKEND_AUTO = 0, /* oneDNN when built in, else the reference */
    DY_BACKEND_REF,      /* the plain-C reference ops (the test oracle) */
    DY_BACKEND_DNNL      /* oneDNN's CPU primitives */
} dy_backend;

typedef struct dy_ctx dy_ctx;

/* How the oneDNN backend computes convolutions (the reference backend ignores it). */
typedef enum {
    DY_CONV_DIRECT = 0, /* direct convolution everywhere (the default) */
    DY_CONV_WINOGRAD    /* Winograd F(4x4, 3x3) for 3x3 stride-1 convolutions with at least 64 input and output
                         * channels (forward and both backward passes), direct for the rest; needs AVX-512, falls
                         * back to direct per layer where oneDNN has no Winograd kernel. Fewer multiplications, a
                         * larger rounding error (about 1e-6 to 1e-5 of the result's scale, against 1e-7 to 1e-6) */
} dy_conv_algo;

/* How the oneDNN backend lays out the encoder's activations between layers (the reference backend ignores it).
 * Both compute the same network; which is faster depends on the CPU (dy_plan_tune measures it). */
typedef enum {
    DY_LAYOUT_BLOCKED = 0, /* nChw16c where the channels fill 16-blocks (oneDNN's AVX-512 blocking), channels-last
                            * (nhwc) elsewhere: the default */
    DY_LAYOUT_NHWC         /* channels-last throughout: the layout of oneDNN's brgemm and AMX kernels */
} dy_layout;

typedef struct {
    int threads;            /* threads inside ops; 0 = all available cores */
    dy_backend backend;     /* DY_BACKEND_AUTO by default */
    dy_conv_algo conv_algo; /* DY_CONV_DIRECT by default */
    dy_layout layout;       /* DY_LAYOUT_BLOCKED by default */
} dy_ctx_options;

/* Creates a context. opts may be NULL for the defaults. */
DY_API dy_status dy_ctx_create(dy_ctx **out, const dy_ctx_options *opts);
DY_API void dy_ctx_destroy(dy_ctx *ctx);
/* The message of the last failed call on this context ("" if none). */
DY_API const char *dy_ctx_error(const dy_ctx *ctx);
DY_API int dy_ctx_threads(const dy_ctx *ctx);
/* The backend actually in use (never DY_BACKEND_AUTO). */
DY_API dy_backend dy_ctx_backend(const dy_ctx *ctx);
/* The convolution algorithm and activation layout of the models created on ctx from now on (models made earlier
 * keep theirs). DY_ERR_INVALID for an unknown value. */
DY_API dy_status dy_ctx_set_conv_algo(dy_ctx *ctx, dy_conv_algo algo);
DY_API dy_status dy_ctx_set_layout(dy_ctx *ctx, dy_layout layout);
DY_API dy_conv_algo dy_ctx_conv_algo(const dy_ctx *ctx);
DY_API dy_layout dy_ctx_layout(const dy_ctx *ctx);
/* "direct"/"winograd" and "blocked"/"nhwc" ("?" for an unknown value). */
DY_API const char *dy_conv_algo_name(dy_conv_algo a);
DY_API const char *dy_layout_name(dy_layout l);
DY_API const char *dy_backend_name(dy_backend b);
DY_API const char *dy_status_string(dy_status s);
/* Whether this build has oneDNN. */
DY_API bool dy_have_dnnl(void);
/* Whether this build has MPI (data-parallel pretraining under mpirun or srun). */
DY_API bool dy_have_mpi(void);

#ifdef __cplusplus
}
#endif

#include "dystress/engine.h"
#include "dystress/loss.h"
#include "dystress/data.h"
#include "dystress/eval.h"
#include "dystress/optim.h"
#include "dystress/plan.h"
#include "dystress/signal.h"
#include "dystress/tune.h"

#endif
