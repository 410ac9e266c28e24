/* The plan tuner's cache. A file per key, named by the key's 64-bit FNV-1a hash, holding the key itself (so that a
 * hash collision or a hand-edited file is noticed) and one line per candidate:
 *
 *     dystress plan cache 1
 *     key cpu=AMD EPYC ...|flags=avx2 avx512f avx512_bf16|oneDNN 2.6.3, ISA avx512_core_bf16|threads=2|...
 *     plan blocked direct fp32 0.1234567
 *     plan nhwc direct fp32 -1
 *
 * A file that does not read back as exactly that (other key, other candidates, a malformed line, a time that is not
 * a finite number) is ignored with a note and measured again; it is read only if it is a regular file of at most
 * 64 KiB (dy_read_file), so a FIFO or device planted at its name cannot hang or flood the run. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/context.h"
#include "io/atomic_file.h"
#include "io/read_file.h"
#include "train/plan_cache.h"

enum { CACHE_MAX_BYTES = 64 * 1024 };

void dy_plan_cache_key(dy_ctx *ctx, const dy_plan_request *rq, const dy_plan_result *out, char *key, size_t size) {
    char name[256], flags[256], dnnl[128], plans[512] = "";
    dy_cpu_describe(name, sizeof name, flags, sizeof flags);
    dy_dnnl_describe(dnnl, sizeof dnnl);
    size_t used = 0;
    for (int k = 0; k < out->count; k++) {
        char p[64];
        used += (size_t)snprintf(plans + used, used < sizeof plans ? sizeof plans - used : 0, "%s%s", k ? "," : "",
                                 dy_run_plan_name(&out->timings[k].plan, p, sizeof p));
    }
    const dy_model_config *m = &rq->model;
    snprintf(key, size,
             "cpu=%s|flags=%s|%s|threads=%d|resnet%d%s width %lld in %lld stem %d head %d %lld %lld|batch %lld of "
             "%lldx%lld|plans=%s",
             name, flags, dnnl, ctx->threads, m->depth, m->dims == DY_DIMS_1D ? "-1d" : "", (long long)m->width,
             (long long)m->in_channels, (int)m->stem, (int)m->head, (long long)m->head_hidden, (long long)m->head_out,
             (long long)rq->n, (long long)rq->h, (long long)rq->w, plans);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static void cache_path(const char *dir, const char *key, char *path, size_t size) {
    snprintf(path, size, "%s/plan-%016llx.txt", dir, (unsigned long long)fnv1a(key));
}

void dy_plan_cache_read(dy_ctx *ctx, const char *dir, const char *key, dy_plan_result *out) {
    cache_path(dir, key, out->cache_path, sizeof out->cache_path);
    if (access(out->cache_path, F_OK) != 0) return; /* not measured yet */
    uint8_t *data = NULL;
    size_t size = 0;
    dy_ctx *quiet = NULL; /* the reader's message goes into the note, not over the caller's last error */
    if (dy_ctx_create(&quiet, &(dy_ctx_options){.threads = 1, .backend = DY_BACKEND_REF}) != DY_OK) return;
    if (dy_read_file(quiet, out->cache_path, &data, &size, CACHE_MAX_BYTES) != DY_OK) {
        snprintf(out->cache_note, sizeof out->cache_note, "plan cache not read: %s", dy_ctx_error(quiet));
        dy_ctx_destroy(quiet);
        return;
    }
    dy_ctx_destroy(quiet);
    (void)ctx;
    dy_plan_timing t[DY_PLAN_MAX];
    memcpy(t, out->timings, sizeof t);
    char *save = NULL, *line = strtok_r((char *)data, "\n", &save);
    bool ok = line && !strcmp(line, "dystress plan cache 1");
    line = ok ? strtok_r(NULL, "\n", &save) : NULL;
    ok = ok && line && !strncmp(line, "key ", 4) && !strcmp(line + 4, key);
    for (int k = 0; ok && k < out->count; k++) {
        line = strtok_r(NULL, "\n", &save);
        char want[64], have[64], l[16], a[16], p[16];
        double seconds;
        int end = 0;
        ok = line && sscanf(line, "plan %15s %15s %15s %lf%n", l, a, p, &seconds, &end) == 4 && line[end] == 0 &&
             isfinite(seconds) && (seconds > 0 || seconds == -1);
        if (!ok) break;
        snprintf(have, sizeof have, "%s %s %s", l, a, p);
        ok = !strcmp(have, dy_run_plan_name(&t[k].plan, want, sizeof want));
        t[k].seconds = seconds;
        snprintf(t[k].error, sizeof t[k].error, "%s", seconds < 0 ? "did not run when measured" : "");
    }
    ok = ok && strtok_r(NULL, "\n", &save) == NULL;
    free(data);
    if (!ok) {
        snprintf(out->cache_note, sizeof out->cache_note, "plan cache %s is not a cache file of this machine and "
                 "model: measured again", out->cache_path);
        return;
    }
    memcpy(out->timings, t, sizeof t);
    out->from_cache = true;
}

void dy_plan_cache_write(dy_ctx *ctx, const char *dir, const char *key, dy_plan_result *out) {
    (void)ctx;
    cache_path(dir, key, out->cache_path, sizeof out->cache_path);
    if (dy_mkdirs(dir) != 0) {
        snprintf(out->cache_note, sizeof out->cache_note, "plan cache not written: cannot create %s: %s", dir,
                 strerror(errno));
        return;
    }
    dy_ctx *quiet = NULL;
    if (dy_ctx_create(&quiet, &(dy_ctx_options){.threads = 1, .backend = DY_BACKEND_REF}) != DY_OK) return;
    dy_atomic_file f;
    dy_status st = dy_atomic_open(quiet, &f, out->cache_path);
    if (st == DY_OK) {
        fprintf(f.fp, "dystress plan cache 1\nkey %s\n", key);
        for (int k = 0; k < out->count; k++) {
            char p[64];
            fprintf(f.fp, "plan %s %.9g\n", dy_run_plan_name(&out->timings[k].plan, p, sizeof p),
                    out->timings[k].seconds < 0 ? -1.0 : out->timings[k].seconds);
        }
        st = dy_atomic_commit(quiet, &f);
        if (st != DY_OK) dy_atomic_abort(&f);
    }
    if (st != DY_OK) { /* after the reader's note, if any (a FIFO there is neither read nor replaced) */
        const size_t used = strlen(out->cache_note);
        snprintf(out->cache_note + used, sizeof out->cache_note - used, "%splan cache not written: %s",
                 used ? "; " : "", dy_ctx_error(quiet));
    }
    dy_ctx_destroy(quiet);
}

const char *dy_plan_cache_dir(char *buf, size_t size) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/') n = snprintf(buf, size, "%s/dystress", xdg); /* the spec: relative paths are ignored */
    else if (home && home[0]) n = snprintf(buf, size, "%s/.cache/dystress", home);
    else return NULL;
    return n > 0 && (size_t)n < size ? buf : NULL;
}
