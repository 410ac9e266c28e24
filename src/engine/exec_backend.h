/* What a backend provides to run graphs: a table of functions behind the dy_exec handle of exec.h.
 * A backend's executor struct starts with `dy_exec base;` and is freed by its own destroy. */
#ifndef DY_ENGINE_EXEC_BACKEND_H
#define DY_ENGINE_EXEC_BACKEND_H

#include "engine/exec.h"

typedef struct {
    const char *name;
    dy_status (*create)(dy_ctx *ctx, const dy_graph *g, int64_t n, int64_t h, int64_t w, dy_exec_mode mode,
                        dy_exec **out);
    void (*destroy)(dy_exec *e);
    dy_status (*forward)(dy_exec *e, const float *params, float *state, const float *input, float *features,
                         float *output);
    dy_status (*backward)(dy_exec *e, const float *params, float *grads, const float *doutput, float *dinput);
    int64_t (*memory)(const dy_exec *e);
} dy_exec_backend;

struct dy_exec {
    const dy_exec_backend *backend;
    dy_ctx *ctx;
    const dy_graph *graph;
    int64_t n, h, w;
    dy_exec_mode mode;
    bool forward_done;   /* a training forward ran since the last backward */
};

extern const dy_exec_backend dy_ref_exec_backend;   /* src/engine/ref/ref_exec.c */
#ifdef DY_HAVE_DNNL
extern const dy_exec_backend dy_dnnl_exec_backend; /* src/engine/dnnl/dnnl_exec.c */
#endif

#endif
