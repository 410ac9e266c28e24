/* The run directory's logs: metrics.jsonl (a line per step, per epoch's representation monitor and per kNN monitor)
 * and histograms.jsonl (the loss's similarity histograms), one JSON object per line, flushed as written. A resumed
 * run cuts both back to its checkpoint's step (atomically) and appends; neither is opened through a symlink. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/context.h"
#include "io/atomic_file.h"
#include "train/trainer_internal.h"

void dy_run_path(char *buf, size_t n, const dy_trainer *t, const char *name) {
    snprintf(buf, n, "%s/%s", t->cfg.run_dir, name);
}

/* The step of a metrics line, or -1 when it has none (a line cut short by a crash). */
static int64_t line_step(const char *line) {
    static const char key[] = "{\"step\": ";
    if (strncmp(line, key, sizeof key - 1)) return -1;
    char *end;
    long long v = strtoll(line + sizeof key - 1, &end, 10);
    return end == line + sizeof key - 1 || *end != ',' ? -1 : v;
}

/* Opens path for reading or appending without following a symlink planted there, and only when it is a regular file:
 * O_NONBLOCK so that a FIFO put there cannot hold the open (for ever, waiting for a writer or reader that never
 * comes) before fstat refuses it. NULL with errno; EINVAL: something other than a regular file is there. */
static FILE *open_nofollow(const char *path, int flags, const char *mode) {
    int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0666);
    if (fd < 0) return NULL;
    struct stat sb;
    int e = 0;
    if (fstat(fd, &sb) != 0) e = errno;
    else if (!S_ISREG(sb.st_mode)) e = EINVAL;
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) e = errno;
    FILE *f = e ? NULL : fdopen(fd, mode);
    if (!f) {
        if (!e) e = errno;
        close(fd);
        errno = e;
    }
    return f;
}

static dy_status log_error(dy_trainer *t, const run_log *log, const char *what, int e) {
    char last[96] = "no checkpoint was written";
    if (t->saved_step >= 0)
        snprintf(last, sizeof last, "checkpoint-latest (step %lld) is intact", (long long)t->saved_step);
    return dy_fail(t->ctx, DY_ERR_IO, "cannot %s %s: %s; stopped after step %lld, %s", what, log->path,
                   e ? strerror(e) : "write error", (long long)t->step, last);
}

/* open_nofollow's failure: EINVAL there means a FIFO, device, socket or folder stands at the log's name (ENXIO: a
 * FIFO without a reader, refused by the non-blocking open for writing). */
static dy_status open_error(dy_trainer *t, const run_log *log, const char *what, int e) {
    if (e != EINVAL && e != ENXIO) return log_error(t, log, what, e);
    return dy_fail(t->ctx, DY_ERR_IO, "cannot %s %s: it is not a regular file (a FIFO, device, socket or folder put "
                   "there?); move it away and resume; stopped after step %lld", what, log->path, (long long)t->step);
}

/* Keeps the complete lines of steps up to `step` (a resumed run rewrites what came after its checkpoint): written
 * to a temporary file and renamed over the old one, every read and write checked. */
static dy_status rewrite_log(dy_trainer *t, run_log *log) {
    FILE *old = open_nofollow(log->path, O_RDONLY, "r");
    if (!old) return errno == ENOENT ? DY_OK : open_error(t, log, "read", errno);
    dy_atomic_file nw;
    dy_status st = dy_atomic_open(t->ctx, &nw, log->path);
    if (st != DY_OK) {
        fclose(old);
        return st;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    bool ok = true;
    errno = 0;
    while (ok && (len = getline(&line, &cap, old)) > 0) {
        int64_t s = line_step(line);
        if (line[len - 1] != '\n' || s < 0 || s > t->step) continue;
        ok = fwrite(line, 1, (size_t)len, nw.fp) == (size_t)len;
    }
    int e = errno;
    if (ok && ferror(old)) {
        free(line);
        fclose(old);
        dy_atomic_abort(&nw);
        return log_error(t, log, "read", e);
    }
    free(line);
    fclose(old);
    if (!ok) {
        dy_atomic_abort(&nw);
        return log_error(t, log, "rewrite", e);
    }
    return dy_atomic_commit(t->ctx, &nw);
}

/* Opens a log of the run directory: started afresh at step 0, else cut back to the restored checkpoint's step and
 * appended to. */
static dy_status open_log(dy_trainer *t, run_log *log, const char *name) {
    dy_run_path(log->path, sizeof log->path, t, name);
    dy_status st;
    if (t->step > 0 && (st = rewrite_log(t, log)) != DY_OK) return st;
    int flags = O_WRONLY | O_CREAT | (t->step > 0 ? O_APPEND : O_TRUNC);
    log->fp = open_nofollow(log->path, flags, t->step > 0 ? "a" : "w");
    if (!log->fp) return open_error(t, log, "open", errno);
    return DY_OK;
}

dy_status dy_run_logs_open(dy_trainer *t) {
    dy_status st = open_log(t, &t->metrics, "metrics.jsonl");
    return st == DY_OK ? open_log(t, &t->histograms, "histograms.jsonl") : st;
}

/* Every line is flushed as it is written, so that `tail -f`, plotting scripts and the report see it at once, and so
 * that a full disk stops the run here, naming the file. ok: the line's fprintf succeeded. */
static dy_status log_flush(dy_trainer *t, run_log *log, bool ok) {
    errno = 0;
    if (!ok || fflush(log->fp) != 0 || ferror(log->fp)) return log_error(t, log, "write", errno);
    return DY_OK;
}

dy_status dy_run_log_step(dy_trainer *t, const dy_step_report *r) {
    if (!t->metrics.fp) return DY_OK; /* not rank 0 */
    const dy_loss_diag *g = &r->diag;
    int n = fprintf(t->metrics.fp,
            "{\"step\": %lld, \"epoch\": %lld, \"loss\": %.7g, \"lr\": %.7g, \"pos_sim\": %.6g, \"neg_sim\": %.6g, "
            "\"neg_sim_max\": %.6g, \"pos_tau\": %.6g, \"neg_tau\": %.6g, \"frac_tau_min\": %.6g, "
            "\"frac_tau_max\": %.6g, \"images_per_s\": %.1f",
            (long long)r->step + 1, (long long)r->epoch + 1, r->loss, r->lr, g->pos_sim_mean, g->neg_sim_mean,
            g->neg_sim_max, g->pos_tau_mean, g->neg_tau_mean, g->frac_near_tau_min, g->frac_near_tau_max,
            r->images_per_s);
    /* data parallel: the figures are the global batch's; comm_s is rank 0's time in the communication calls */
    if (n > 0 && t->comm->size > 1)
        n = fprintf(t->metrics.fp, ", \"processes\": %d, \"comm_s\": %.6f, \"grad_bytes\": %lld, "
                    "\"gather_bytes\": %lld", t->comm->size, r->comm_s, (long long)r->grad_bytes,
                    (long long)r->gather_bytes);
    /* the adaptive profile: the bounds this step used */
    if (n > 0 && t->cfg.tau_adapt.on)
        n = fprintf(t->metrics.fp, ", \"tau_min\": %.9g, \"tau_max\": %.9g", t->adapt.tau_min, t->adapt.tau_max);
    /* a temperature schedule: the levels this step used */
    if (n > 0 && t->cfg.tau_schedule.kind != DY_TAU_SCHEDULE_CONSTANT) {
        const dy_tau_profile *p = &t->tau_now;
        if (p->kind == DY_TAU_CONSTANT) n = fprintf(t->metrics.fp, ", \"tau\": %.9g", (double)p->tau_max);
        else n = fprintf(t->metrics.fp, ", \"tau_min\": %.9g, \"tau_max\": %.9g", (double)p->tau_min,
                         (double)p->tau_max);
    }
    /* the plan this process runs (chosen by the user or the plan tuner), once */
    if (n > 0 && !t->plan_logged)
        n = fprintf(t->metrics.fp, ", \"plan\": \"%s %s %s\"", dy_layout_name(dy_ctx_layout(t->ctx)),
                    dy_conv_algo_name(dy_ctx_conv_algo(t->ctx)), dy_precision_name(t->cfg.model.precision));
    t->plan_logged = true;
    if (n > 0) n = fputs("}\n", t->metrics.fp) >= 0 ? 1 : -1;
    dy_status st = log_flush(t, &t->metrics, n > 0);
    /* the similarity histograms at the first step and every hist_every steps (about DY_HIST_LINES in a run) */
    int64_t step = r->step + 1;
    if (st != DY_OK || (step != 1 && step % t->hist_every != 0 && step != t->total_steps)) return st;
    FILE *h = t->histograms.fp;
    bool ok = fprintf(h, "{\"step\": %lld, \"epoch\": %lld, \"bins\": %d, \"pos\": [", (long long)step,
                      (long long)r->epoch + 1, DY_LOSS_HIST_BINS) > 0;
    for (int b = 0; b < DY_LOSS_HIST_BINS; b++)
        ok &= fprintf(h, "%s%lld", b ? ", " : "", (long long)g->pos_hist[b]) > 0;
    ok &= fputs("], \"neg\": [", h) >= 0;
    for (int b = 0; b < DY_LOSS_HIST_BINS; b++)
        ok &= fprintf(h, "%s%lld", b ? ", " : "", (long long)g->neg_hist[b]) > 0;
    ok &= fputs("]}\n", h) >= 0;
    return log_flush(t, &t->histograms, ok);
}

dy_status dy_run_log_repr(dy_trainer *t, int64_t epoch, double align, double unif, int64_t count, const char *on) {
    int n = fprintf(t->metrics.fp, "{\"step\": %lld, \"epoch\": %lld, \"alignment\": %.6f, \"uniformity\": %.6f, "
                    "\"repr_images\": %lld, \"repr_on\": \"%s\"}\n", (long long)t->step, (long long)epoch + 1, align,
                    unif, (long long)count, on);
    return log_flush(t, &t->metrics, n > 0);
}

dy_status dy_run_log_knn(dy_trainer *t, int64_t epoch, const dy_eval_accuracy *acc, const char *split) {
    const dy_pretrain_config *c = &t->cfg;
    int n = fprintf(t->metrics.fp, "{\"step\": %lld, \"epoch\": %lld, \"knn_top1\": %.6f, \"knn_top5\": %.6f, "
                    "\"knn_k\": %lld, \"knn_t\": %g, \"knn_on\": \"%s\"", (long long)t->step,
                    (long long)epoch + 1, acc->top1, acc->top5, (long long)c->knn.k, (double)c->knn.temperature, split);
    /* per class (the report's per-class table and long-tail groups): top-1 (null for a class without test
     * images) and the training images of each class */
    bool written = n > 0 && fputs(", \"knn_class_top1\": [", t->metrics.fp) >= 0;
    for (int64_t k = 0; written && k < acc->classes; k++)
        written = (isfinite(acc->class_top1[k]) ? fprintf(t->metrics.fp, "%s%.6f", k ? ", " : "", acc->class_top1[k])
                                                : fprintf(t->metrics.fp, "%snull", k ? ", " : "")) > 0;
    written = written && fputs("], \"knn_class_train\": [", t->metrics.fp) >= 0;
    for (int64_t k = 0; written && k < acc->classes; k++)
        written = fprintf(t->metrics.fp, "%s%lld", k ? ", " : "", (long long)t->train->class_counts[k]) > 0;
    written = written && fputs("]}\n", t->metrics.fp) >= 0;
    return log_flush(t, &t->metrics, written);
}

dy_status dy_run_logs_sync(dy_trainer *t) {
    if (t->metrics.fp && fsync(fileno(t->metrics.fp)) != 0 && errno != EINVAL)
        return log_error(t, &t->metrics, "sync", errno);
    return DY_OK;
}

void dy_run_logs_close(dy_trainer *t) {
    if (t->metrics.fp) fclose(t->metrics.fp);
    if (t->histograms.fp) fclose(t->histograms.fp);
    t->metrics.fp = t->histograms.fp = NULL;
}
