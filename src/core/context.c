/* Context lifetime, error messages and aligned allocation. */
#include "core/context.h"

#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dy_status dy_fail(dy_ctx *ctx, dy_status status, const char *fmt, ...) {
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
        va_end(ap);
    }
    return status;
}

void *dy_alloc(size_t bytes) {
    if (bytes == 0) bytes = 64;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) return NULL; /* overflow */
    void *p = aligned_alloc(64, rounded);
    if (p) memset(p, 0, rounded);
    return p;
}

void dy_free(void *p) { free(p); }

int dy_threads_enter(int threads) {
    int previous = omp_get_max_threads();
    if (threads > 0 && threads != previous) omp_set_num_threads(threads);
    return previous;
}

void dy_threads_leave(int previous) {
    if (omp_get_max_threads() != previous) omp_set_num_threads(previous);
}

dy_status dy_ctx_create(dy_ctx **out, const dy_ctx_options *opts) {
    if (!out) return DY_ERR_INVALID;
    *out = NULL;
    dy_ctx_options o = {0};
    if (opts) o = *opts;
    if (o.threads < 0) return DY_ERR_INVALID;
    if (o.backend != DY_BACKEND_AUTO && o.backend != DY_BACKEND_REF && o.backend != DY_BACKEND_DNNL)
        return DY_ERR_INVALID;
    if (o.backend == DY_BACKEND_DNNL && !dy_have_dnnl()) return DY_ERR_UNSUPPORTED;
    if (o.conv_algo != DY_CONV_DIRECT && o.conv_algo != DY_CONV_WINOGRAD) return DY_ERR_INVALID;
    if (o.layout != DY_LAYOUT_BLOCKED && o.layout != DY_LAYOUT_NHWC) return DY_ERR_INVALID;
    dy_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return DY_ERR_NOMEM;
    ctx->threads = o.threads > 0 ? o.threads : omp_get_num_procs();
    ctx->conv_algo = o.conv_algo;
    ctx->layout = o.layout;
    ctx->backend = o.backend == DY_BACKEND_AUTO ? (dy_have_dnnl() ? DY_BACKEND_DNNL : DY_BACKEND_REF) : o.backend;
    if (ctx->backend == DY_BACKEND_DNNL) {
        dy_status st = dy_dnnl_context_init(ctx);
        if (st != DY_OK) {
            free(ctx);
            return st;
        }
    }
    *out = ctx;
    return DY_OK;
}

void dy_ctx_destroy(dy_ctx *ctx) {
    if (!ctx) return;
    dy_dnnl_context_fini(ctx);
    free(ctx);
}

const char *dy_ctx_error(const dy_ctx *ctx) { return ctx ? ctx->error : "no context"; }
int dy_ctx_threads(const dy_ctx *ctx) { return ctx->threads; }
dy_backend dy_ctx_backend(const dy_ctx *ctx) { return ctx->backend; }
dy_conv_algo dy_ctx_conv_algo(const dy_ctx *ctx) { return ctx->conv_algo; }
dy_layout dy_ctx_layout(const dy_ctx *ctx) { return ctx->layout; }

dy_status dy_ctx_set_conv_algo(dy_ctx *ctx, dy_conv_algo algo) {
    if (algo != DY_CONV_DIRECT && algo != DY_CONV_WINOGRAD)
        return dy_fail(ctx, DY_ERR_INVALID, "unknown convolution algorithm %d", (int)algo);
    ctx->conv_algo = algo;
    return DY_OK;
}

dy_status dy_ctx_set_layout(dy_ctx *ctx, dy_layout layout) {
    if (layout != DY_LAYOUT_BLOCKED && layout != DY_LAYOUT_NHWC)
        return dy_fail(ctx, DY_ERR_INVALID, "unknown activation layout %d", (int)layout);
    ctx->layout = layout;
    return DY_OK;
}

const char *dy_conv_algo_name(dy_conv_algo a) {
    return a == DY_CONV_DIRECT ? "direct" : a == DY_CONV_WINOGRAD ? "winograd" : "?";
}

const char *dy_layout_name(dy_layout l) {
    return l == DY_LAYOUT_BLOCKED ? "blocked" : l == DY_LAYOUT_NHWC ? "nhwc" : "?";
}

const char *dy_backend_name(dy_backend b) {
    switch (b) {
    case DY_BACKEND_AUTO: return "auto";
    case DY_BACKEND_REF: return "ref";
    case DY_BACKEND_DNNL: return "dnnl";
    }
    return "unknown";
}

const char *dy_status_string(dy_status s) {
    switch (s) {
    case DY_OK: return "ok";
    case DY_ERR_INVALID: return "invalid argument";
    case DY_ERR_NOMEM: return "out of memory";
    case DY_ERR_IO: return "input/output error";
    case DY_ERR_FORMAT: return "corrupt or unrecognised file";
    case DY_ERR_MISMATCH: return "file does not match the model";
    case DY_ERR_NUMERIC: return "NaN or Inf";
    case DY_ERR_UNSUPPORTED: return "not supported by this build";
    case DY_ERR_INTERRUPTED: return "interrupted";
    case DY_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

void dy_cpu_describe(char *name, size_t name_size, char *flags, size_t flags_size) {
    static const char *const wanted[] = {"avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16"};
    snprintf(name, name_size, "unknown");
    flags[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[8192];
    bool have_name = false, have_flags = false;
    while ((!have_name || !have_flags) && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *value = colon + 1 + (colon[1] == ' ');
        value[strcspn(value, "\n")] = 0;
        if (!have_name && !strncmp(line, "model name", 10)) {
            snprintf(name, name_size, "%s", value);
            have_name = true;
        } else if (!have_flags && !strncmp(line, "flags", 5)) {
            size_t used = 0;
            for (size_t k = 0; k < sizeof wanted / sizeof wanted[0]; k++) {
                const size_t len = strlen(wanted[k]);
                for (const char *p = value; (p = strstr(p, wanted[k])) != NULL; p += len)
                    if ((p == value || p[-1] == ' ') && (p[len] == ' ' || p[len] == 0)) {
                        used += (size_t)snprintf(flags + used, used < flags_size ? flags_size - used : 0, "%s%s",
                                                 used ? " " : "", wanted[k]);
                        break;
                    }
            }
            have_flags = true;
        }
    }
    fclose(f);
}
