/* Reading a run directory for the report (see run_data.h). */
#include "report/run_data.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/context.h"
#include "io/json.h"
#include "io/read_file.h"

static bool push(dy_dvec *d, double v) {
    if (d->n == d->cap) {
        int64_t cap = d->cap ? d->cap * 2 : 256;
        double *nv = realloc(d->v, sizeof(double) * (size_t)cap);
        if (!nv) return false;
        d->v = nv;
        d->cap = cap;
    }
    d->v[d->n++] = v;
    return true;
}

/* Appends a note to what reading the run skipped ("; " between notes, cut at the buffer's end). */
static void note(dy_run_data *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(dy_run_data *r, const char *fmt, ...) {
    size_t len = strlen(r->skipped);
    if (len + 3 >= sizeof r->skipped) return;
    if (len) len += (size_t)snprintf(r->skipped + len, sizeof r->skipped - len, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->skipped + len, sizeof r->skipped - len, fmt, ap);
    va_end(ap);
}

char *dy_read_whole_file(const char *path, size_t *size) {
    struct dy_ctx messages = {0}; /* the message is not wanted: NULL says it all */
    uint8_t *data = NULL;
    size_t n = 0;
    if (dy_read_file(&messages, path, &data, &n, DY_RUN_FILE_MAX_BYTES) != DY_OK) return NULL;
    if (size) *size = n;
    return (char *)data;
}

/* A file of the run besides the logs (config.json, maps, the retrieval grid, eval*.json): NULL when absent, or when
 * it is not a regular file or larger than DY_RUN_FILE_MAX_BYTES (then noted as skipped). */
static char *read_optional(dy_run_data *r, const char *path, size_t *size) {
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT) return NULL;
    struct dy_ctx messages = {0};
    uint8_t *data = NULL;
    size_t n = 0;
    if (dy_read_file(&messages, path, &data, &n, DY_RUN_FILE_MAX_BYTES) != DY_OK) {
        note(r, "%s", messages.error);
        return NULL;
    }
    if (size) *size = n;
    return (char *)data;
}

/* The run's files are written by fprintf (and, for older runs, printed NaN as nan): read with the non-finite
 * spellings allowed. */
static const dy_json_options run_json = {.nonfinite = true};

/* A JSON file of the run (config.json, the maps, eval*.json): NULL when absent, unreadable (noted, see
 * read_optional) or not JSON (noted, with where). */
static dy_json_doc *read_json(dy_run_data *r, const char *path) {
    size_t n = 0;
    char *text = read_optional(r, path, &n);
    if (!text) return NULL;
    dy_json_doc *doc = NULL;
    dy_json_error e;
    if (dy_json_parse_with(NULL, path, text, n, &run_json, &doc, &e) != DY_OK) {
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        note(r, "%s: not JSON (line %lld, column %lld: %s)", name, (long long)e.line, (long long)e.column, e.message);
    }
    free(text);
    return doc;
}

static double num(const dy_json *o, const char *key) {
    double v;
    return dy_json_get_number(o, key, &v) ? v : NAN;
}

typedef bool (*line_fn)(dy_run_data *r, const dy_json *line);

/* One line of a log (NUL-terminated, len bytes): parsed and handed to fn; a line that is not JSON is counted in
 * *bad; one of blanks only is passed over. DY_OK, or DY_ERR_NOMEM. */
static dy_status log_line(dy_run_data *r, char *line, size_t len, line_fn fn, int64_t *bad) {
    if (strspn(line, " \t\r") == len) return DY_OK;
    dy_json_doc *doc = NULL;
    dy_status st = dy_json_parse_with(NULL, NULL, line, len, &run_json, &doc, NULL);
    if (st == DY_ERR_FORMAT) {
        (*bad)++;
        return DY_OK;
    }
    if (st == DY_OK && !fn(r, dy_json_root(doc))) st = DY_ERR_NOMEM;
    dy_json_free(doc);
    return st;
}

/* Streams a log through a buffer of DY_RUN_LINE_MAX bytes, calling fn for each non-empty line: a regular file only
 * (opened without blocking, so that a FIFO cannot hold the report; fstat refuses it), at most DY_RUN_LOG_MAX_BYTES
 * of it; a longer line, or what is beyond that many bytes, is skipped and noted in r->skipped. DY_OK, DY_ERR_IO
 * (message in ctx: cannot be opened or read, not a regular file; *absent when it does not exist) or DY_ERR_NOMEM. */
static dy_status read_log(dy_ctx *ctx, dy_run_data *r, const char *path, line_fn fn, bool *absent) {
    *absent = false;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *absent = errno == ENOENT;
        return dy_fail(ctx, DY_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    }
    struct stat sb;
    int e = fstat(fd, &sb) != 0 ? errno : 0;
    if (e || !S_ISREG(sb.st_mode)) {
        close(fd);
        return dy_fail(ctx, DY_ERR_IO, "cannot read %s: %s", path,
                       e ? strerror(e) : "it is not a regular file (a FIFO, device or folder?)");
    }
    char *buf = malloc(DY_RUN_LINE_MAX + 1);
    if (!buf) {
        close(fd);
        return dy_fail(ctx, DY_ERR_NOMEM, "out of memory reading %s", path);
    }
    size_t len = 0;                /* bytes of the current, unfinished line in buf */
    uint64_t total = 0;            /* bytes read */
    int64_t long_lines = 0, bad_lines = 0;
    bool in_long = false;          /* inside a line longer than the buffer: skip to its end */
    dy_status st = DY_OK;
    while (st == DY_OK && total < DY_RUN_LOG_MAX_BYTES) {
        size_t want = DY_RUN_LINE_MAX - len;
        if (want > DY_RUN_LOG_MAX_BYTES - total) want = (size_t)(DY_RUN_LOG_MAX_BYTES - total);
        ssize_t got = read(fd, buf + len, want);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            st = dy_fail(ctx, DY_ERR_IO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (got == 0) break;
        total += (uint64_t)got;
        size_t end = len + (size_t)got, start = 0;
        for (char *nl; st == DY_OK && (nl = memchr(buf + start, '\n', end - start)); start = (size_t)(nl - buf) + 1) {
            *nl = 0;
            if (in_long) in_long = false; /* the end of a skipped line */
            else if (log_line(r, buf + start, (size_t)(nl - buf) - start, fn, &bad_lines) != DY_OK)
                st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory reading %s", path);
        }
        len = end - start;
        memmove(buf, buf + start, len);
        if (len == DY_RUN_LINE_MAX) { /* no newline in a whole buffer: not a line of ours */
            long_lines += !in_long;
            in_long = true;
            len = 0;
        }
    }
    if (st == DY_OK && len && !in_long) { /* a last line without its newline: read when whole, else a run is still
                                              * writing it, and it is passed over without a note */
        buf[len] = 0;
        int64_t unfinished = 0;
        if (log_line(r, buf, len, fn, &unfinished) != DY_OK)
            st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory reading %s", path);
    }
    free(buf);
    close(fd);
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (long_lines)
        note(r, "%s: %lld line%s longer than %zu KiB", name, (long long)long_lines, long_lines > 1 ? "s" : "",
             DY_RUN_LINE_MAX >> 10);
    if (bad_lines)
        note(r, "%s: %lld line%s that %s not JSON", name, (long long)bad_lines, bad_lines > 1 ? "s" : "",
             bad_lines > 1 ? "are" : "is");
    if (total >= DY_RUN_LOG_MAX_BYTES && (uint64_t)sb.st_size > total)
        note(r, "%s: read its first %llu MiB of %llu MiB", name, (unsigned long long)(total >> 20),
             (unsigned long long)((uint64_t)sb.st_size >> 20));
    return st;
}

/* The per-class figures of a kNN monitor line (none before issue 25): kept when the line has both arrays, of one
 * length; false only when out of memory. */
static bool knn_classes(dy_run_data *r, const dy_json *line, double epoch) {
    const dy_json *top1 = dy_json_member(line, "knn_class_top1"), *train = dy_json_member(line, "knn_class_train");
    int64_t n = dy_json_numbers(top1, NULL, 0);
    if (n < 1 || dy_json_numbers(train, NULL, 0) != n || n > 1000000) return true;
    double *a = realloc(r->knn_class_top1, (size_t)n * sizeof(double));
    if (a) r->knn_class_top1 = a;
    double *b = a ? realloc(r->knn_class_train, (size_t)n * sizeof(double)) : NULL;
    if (!b) return false;
    r->knn_class_train = b;
    dy_json_numbers(top1, r->knn_class_top1, n);
    dy_json_numbers(train, r->knn_class_train, n);
    r->knn_classes = n;
    r->knn_class_epoch = epoch;
    return true;
}

static bool metrics_line(dy_run_data *r, const dy_json *line) {
    double step = num(line, "step"), epoch = num(line, "epoch");
    if (!isfinite(step)) return true; /* not a line of ours */
    bool ok = true;
    if (dy_json_member(line, "loss")) {
        ok = push(&r->step, step) && push(&r->epoch, epoch) && push(&r->loss, num(line, "loss")) &&
             push(&r->lr, num(line, "lr")) && push(&r->ips, num(line, "images_per_s")) &&
             push(&r->pos_sim, num(line, "pos_sim")) && push(&r->neg_sim, num(line, "neg_sim")) &&
             push(&r->neg_sim_max, num(line, "neg_sim_max")) && push(&r->pos_tau, num(line, "pos_tau")) &&
             push(&r->neg_tau, num(line, "neg_tau")) && push(&r->frac_min, num(line, "frac_tau_min")) &&
             push(&r->frac_max, num(line, "frac_tau_max"));
        /* the levels a step used: the adaptive profile's or a schedule's bounds, or a scheduled constant's tau */
        double lo = num(line, "tau_min"), hi = num(line, "tau_max"), tau = num(line, "tau");
        if (!isfinite(lo) && isfinite(tau)) lo = hi = tau;
        ok = ok && push(&r->tau_min, lo) && push(&r->tau_max, hi);
    } else if (dy_json_member(line, "knn_top1")) {
        ok = push(&r->knn_epoch, epoch) && push(&r->knn_top1, num(line, "knn_top1")) &&
             push(&r->knn_top5, num(line, "knn_top5")) && knn_classes(r, line, epoch);
    } else if (dy_json_member(line, "alignment")) {
        ok = push(&r->repr_epoch, epoch) && push(&r->alignment, num(line, "alignment")) &&
             push(&r->uniformity, num(line, "uniformity"));
        const char *on = dy_json_get_string(line, "repr_on");
        if (on) snprintf(r->repr_on, sizeof r->repr_on, "%s", on);
        double n = num(line, "repr_images");
        if (isfinite(n)) r->repr_images = (int64_t)n;
    }
    return ok;
}

static bool hist_line(dy_run_data *r, const dy_json *line) {
    double pos[DY_LOSS_HIST_BINS], neg[DY_LOSS_HIST_BINS];
    if (dy_json_numbers(dy_json_member(line, "pos"), pos, DY_LOSS_HIST_BINS) != DY_LOSS_HIST_BINS ||
        dy_json_numbers(dy_json_member(line, "neg"), neg, DY_LOSS_HIST_BINS) != DY_LOSS_HIST_BINS)
        return true; /* another bin count or a damaged line: skipped */
    size_t n = (size_t)r->n_hist + 1;
    double *s = realloc(r->hist_step, n * sizeof(double)), *e = s ? realloc(r->hist_epoch, n * sizeof(double)) : NULL;
    if (s) r->hist_step = s;
    if (e) r->hist_epoch = e;
    double *p = e ? realloc(r->pos_hist, n * DY_LOSS_HIST_BINS * sizeof(double)) : NULL;
    if (p) r->pos_hist = p;
    double *q = p ? realloc(r->neg_hist, n * DY_LOSS_HIST_BINS * sizeof(double)) : NULL;
    if (!q) return false;
    r->neg_hist = q;
    r->hist_step[r->n_hist] = num(line, "step");
    r->hist_epoch[r->n_hist] = num(line, "epoch");
    memcpy(r->pos_hist + r->n_hist * DY_LOSS_HIST_BINS, pos, sizeof pos);
    memcpy(r->neg_hist + r->n_hist * DY_LOSS_HIST_BINS, neg, sizeof neg);
    r->n_hist++;
    return true;
}

static void add_eval(dy_run_data *r, const char *features, const char *source, double knn1, double knn5, double lin1,
                     double lin5) {
    /* rows of the same features merge (an `eval knn` and an `eval linear` file of one checkpoint) */
    dy_eval_row *row = NULL;
    for (int i = 0; i < r->n_eval; i++)
        if (!strcmp(r->eval[i].features, features)) row = &r->eval[i];
    if (!row) {
        if (r->n_eval == DY_RUN_MAX_EVAL) return;
        row = &r->eval[r->n_eval++];
        snprintf(row->features, sizeof row->features, "%s", features);
        snprintf(row->source, sizeof row->source, "%s", source);
        row->knn1 = row->knn5 = row->lin1 = row->lin5 = NAN;
    }
    if (isfinite(knn1)) row->knn1 = knn1;
    if (isfinite(knn5)) row->knn5 = knn5;
    if (isfinite(lin1)) row->lin1 = lin1;
    if (isfinite(lin5)) row->lin5 = lin5;
}

static bool results_line(dy_run_data *r, const dy_json *line) {
    const char *features = dy_json_get_string(line, "features");
    if (features)
        add_eval(r, features, "results.jsonl", num(line, "knn_top1"), num(line, "knn_top5"), num(line, "linear_top1"),
                 num(line, "linear_top5"));
    return true;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }
static int is_eval_json(const struct dirent *d) {
    size_t n = strlen(d->d_name);
    return !strncmp(d->d_name, "eval", 4) && n > 5 && !strcmp(d->d_name + n - 5, ".json");
}

/* `dystress eval ... --json FILE` results saved in the run directory as eval*.json */
static void read_eval_files(dy_run_data *r) {
    struct dirent **list;
    int n = scandir(r->dir, &list, is_eval_json, by_name);
    for (int i = 0; i < n; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", r->dir, list[i]->d_name);
        dy_json_doc *doc = read_json(r, path);
        const dy_json *o = dy_json_root(doc);
        const char *features = dy_json_get_string(o, "features"), *protocol = dy_json_get_string(o, "protocol");
        if (features && protocol) {
            bool knn = !strcmp(protocol, "knn");
            double t1 = num(o, "top1"), t5 = num(o, "top5");
            /* the table's columns are kNN and linear: a fine-tuning result is not a linear probe's */
            if (knn || !strcmp(protocol, "linear"))
                add_eval(r, features, list[i]->d_name, knn ? t1 : NAN, knn ? t5 : NAN, knn ? NAN : t1,
                         knn ? NAN : t5);
        }
        dy_json_free(doc);
        free(list[i]);
    }
    if (n > 0) free(list);
}

static void read_profile(dy_run_data *r) {
    const dy_json *cfg = dy_json_root(r->config);
    const char *profile = dy_json_get_string(cfg, "profile"), *schedule = dy_json_get_string(cfg, "tau-schedule");
    if (!profile) return;
    char kind[32];
    snprintf(kind, sizeof kind, "%s", profile);
    double tau = num(cfg, "tau"), lo = num(cfg, "tau-min"), hi = num(cfg, "tau-max"), off = num(cfg, "shift-offset");
    double scale = num(cfg, "shift-scale"), epochs = num(cfg, "epochs");
    if (epochs > 0) r->epochs = (int64_t)epochs;
    snprintf(r->tau_schedule, sizeof r->tau_schedule, "%s", schedule && strcmp(schedule, "constant") ? schedule : "");
    snprintf(r->profile_name, sizeof r->profile_name, "%s", kind);
    if (!strcmp(kind, "const")) r->profile = dy_tau_constant((float)tau);
    else if (!strcmp(kind, "shifted")) r->profile = dy_tau_shifted((float)lo, (float)hi, (float)off, (float)scale);
    else if (!strcmp(kind, "cosine")) r->profile = dy_tau_cosine((float)lo, (float)hi);
    else return;
    r->has_profile = dy_tau_check(NULL, &r->profile) == DY_OK;
}

dy_status dy_run_data_load(dy_ctx *ctx, const char *dir, dy_run_data *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    /* the name: the folder's last component */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    size_t len = strlen(tmp);
    while (len > 1 && tmp[len - 1] == '/') tmp[--len] = 0;
    char *last = strrchr(tmp, '/');
    snprintf(r->name, sizeof r->name, "%.255s", last ? last + 1 : tmp);
    char path[4300];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    bool absent;
    dy_status st = read_log(ctx, r, path, metrics_line, &absent);
    if (st != DY_OK) {
        char message[1200];
        snprintf(message, sizeof message, "%s", dy_ctx_error(ctx));
        dy_run_data_free(r);
        return absent ? dy_fail(ctx, st, "%s (is %s a run directory?)", message, dir) : st;
    }
    /* the other logs are optional: one that cannot be read is noted, the page drawn without it */
    static const char *const logs[] = {"histograms.jsonl", "results.jsonl"};
    const line_fn fns[] = {hist_line, results_line};
    for (int i = 0; i < 2 && st == DY_OK; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, logs[i]);
        st = read_log(ctx, r, path, fns[i], &absent);
        if (st == DY_ERR_IO) {
            if (!absent) note(r, "%s", dy_ctx_error(ctx));
            st = DY_OK;
        }
    }
    if (st != DY_OK) {
        dy_run_data_free(r);
        return st;
    }
    read_eval_files(r);
    snprintf(path, sizeof path, "%s/config.json", dir);
    r->config = read_json(r, path);
    read_profile(r);
    snprintf(path, sizeof path, "%s/embedding-map.json", dir);
    r->map = read_json(r, path);
    snprintf(path, sizeof path, "%s/retrieval.json", dir);
    r->retrieval = read_json(r, path);
    snprintf(path, sizeof path, "%s/retrieval.png", dir);
    r->retrieval_png = (uint8_t *)read_optional(r, path, &r->retrieval_png_size);
    return DY_OK;
}

/* Mean of the finite values in the last `frac` of v (at least one value); NaN when none. */
double dy_dvec_tail_mean(const dy_dvec *v, double frac) {
    int64_t from = v->n - (int64_t)ceil(frac * (double)v->n);
    if (from >= v->n) from = v->n - 1;
    if (from < 0) from = 0;
    double s = 0;
    int64_t n = 0;
    for (int64_t i = from; i < v->n; i++)
        if (isfinite(v->v[i])) s += v->v[i], n++;
    return n ? s / (double)n : NAN;
}

double dy_dvec_last(const dy_dvec *v) { return v->n ? v->v[v->n - 1] : NAN; }

double dy_dvec_median(const dy_dvec *v) {
    if (!v->n) return NAN;
    double *c = malloc(sizeof(double) * (size_t)v->n);
    if (!c) return NAN;
    int64_t n = 0;
    for (int64_t i = 0; i < v->n; i++)
        if (isfinite(v->v[i])) c[n++] = v->v[i];
    for (int64_t i = 1; i < n; i++) { /* insertion sort is fine for a one-off; keep it simple but bounded */
        if (n > 20000) break;
        double x = c[i];
        int64_t j = i;
        while (j > 0 && c[j - 1] > x) c[j] = c[j - 1], j--;
        c[j] = x;
    }
    double m = n ? c[n / 2] : NAN;
    free(c);
    return m;
}

bool dy_run_adaptive(const dy_run_data *r) {
    for (int64_t i = 0; i < r->tau_min.n; i++)
        if (isfinite(r->tau_min.v[i])) return true;
    return false;
}

dy_tau_profile dy_run_profile_at(const dy_run_data *r, double step) {
    dy_tau_profile p = r->profile;
    /* the last logged bounds before `step` (rows are in step order; a resumed run may repeat steps) */
    for (int64_t i = 0; i < r->tau_min.n && i < r->step.n; i++) {
        if (r->step.v[i] >= step) break;
        if (isfinite(r->tau_min.v[i]) && isfinite(r->tau_max.v[i]))
            p.tau_min = (float)r->tau_min.v[i], p.tau_max = (float)r->tau_max.v[i];
    }
    return p;
}

void dy_run_data_free(dy_run_data *r) {
    dy_dvec *v[] = {&r->step, &r->epoch, &r->loss, &r->lr, &r->ips, &r->pos_sim, &r->neg_sim, &r->neg_sim_max,
                    &r->pos_tau, &r->neg_tau, &r->frac_min, &r->frac_max, &r->tau_min, &r->tau_max, &r->knn_epoch,
                    &r->knn_top1, &r->knn_top5, &r->repr_epoch, &r->alignment, &r->uniformity};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) free(v[i]->v);
    free(r->hist_step), free(r->hist_epoch), free(r->pos_hist), free(r->neg_hist);
    dy_json_free(r->config), dy_json_free(r->map), dy_json_free(r->retrieval), free(r->retrieval_png);
    free(r->knn_class_top1), free(r->knn_class_train);
    memset(r, 0, sizeof *r);
}
