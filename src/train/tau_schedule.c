/* The temperature schedule (see tau_schedule.h). */
#include "train/tau_schedule.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/context.h"

static const char *const kind_names[] = {"constant", "linear", "cosine", "file"};

const char *dy_tau_schedule_name(dy_tau_schedule_kind k) {
    return k >= DY_TAU_SCHEDULE_CONSTANT && k <= DY_TAU_SCHEDULE_FILE ? kind_names[k] : "unknown";
}

double dy_tau_schedule_fraction(const dy_tau_schedule *s, int64_t step, int64_t steps_per_epoch, int64_t total_steps) {
    if (s->per_epoch) {
        int64_t epochs = steps_per_epoch > 0 ? total_steps / steps_per_epoch : 0;
        if (epochs <= 1) return 0;
        double u = (double)(step / steps_per_epoch) / (double)(epochs - 1);
        return u > 1 ? 1 : u;
    }
    if (total_steps <= 1) return 0;
    double u = (double)step / (double)(total_steps - 1);
    return u > 1 ? 1 : u < 0 ? 0 : u;
}

/* The table's two value columns at u: the segment [u_i, u_i+1] holding u, interpolated linearly (binary search: a
 * replayed run's table has a row per step). */
static void table_at(const dy_tau_schedule *s, double u, double *lo, double *hi) {
    const double *t = s->table;
    int64_t n = s->rows;
    if (u <= t[0]) {
        *lo = t[1], *hi = t[2];
        return;
    }
    if (u >= t[3 * (n - 1)]) {
        *lo = t[3 * (n - 1) + 1], *hi = t[3 * (n - 1) + 2];
        return;
    }
    int64_t a = 0, b = n - 1; /* t[a] <= u < t[b] */
    while (b - a > 1) {
        int64_t m = a + (b - a) / 2;
        if (t[3 * m] <= u) a = m;
        else b = m;
    }
    const double *r0 = t + 3 * a, *r1 = t + 3 * b;
    double w = (u - r0[0]) / (r1[0] - r0[0]);
    *lo = (1 - w) * r0[1] + w * r1[1];
    *hi = (1 - w) * r0[2] + w * r1[2];
}

void dy_tau_schedule_levels(const dy_tau_schedule *s, const dy_tau_profile *p, double u, double *lo, double *hi) {
    const double pi = 3.14159265358979323846;
    double f_lo = 1, f_hi = 1;
    switch (s->kind) {
    case DY_TAU_SCHEDULE_CONSTANT: break;
    case DY_TAU_SCHEDULE_LINEAR: f_lo = f_hi = (1 - u) + s->end_ratio * u; break;
    case DY_TAU_SCHEDULE_COSINE: {
        double w = 0.5 * (1 + cos(pi * u));
        f_lo = f_hi = w + (1 - w) * s->end_ratio;
        break;
    }
    case DY_TAU_SCHEDULE_FILE:
        table_at(s, u, &f_lo, &f_hi);
        if (s->table_kind != DY_TAU_TABLE_FACTOR) { /* the levels themselves */
            *lo = f_lo, *hi = f_hi;
            return;
        }
        break;
    }
    *lo = (double)p->tau_min * f_lo;
    *hi = (double)p->tau_max * f_hi;
}

dy_tau_profile dy_tau_schedule_profile(const dy_tau_schedule *s, const dy_tau_profile *p, double u) {
    if (s->kind == DY_TAU_SCHEDULE_CONSTANT) return *p;
    double lo, hi;
    dy_tau_schedule_levels(s, p, u, &lo, &hi);
    dy_tau_profile q = *p;
    q.tau_min = (float)lo;
    q.tau_max = p->kind == DY_TAU_CONSTANT ? q.tau_min : (float)hi;
    return q;
}

/* The profile at fraction u accepted by dy_tau_check, else its message prefixed with what. */
static dy_status level_ok(dy_ctx *ctx, const dy_tau_schedule *s, const dy_tau_profile *p, double u, const char *what) {
    dy_tau_profile q = dy_tau_schedule_profile(s, p, u);
    if (dy_tau_check(ctx, &q) == DY_OK) return DY_OK;
    char msg[600];
    snprintf(msg, sizeof msg, "%s", dy_ctx_error(ctx));
    return dy_fail(ctx, DY_ERR_INVALID, "%s: %s", what, msg);
}

static dy_status table_check(dy_ctx *ctx, const dy_tau_schedule *s, const dy_tau_profile *p) {
    const char *file = s->file ? s->file : "the schedule table";
    if (s->table_kind == DY_TAU_TABLE_TAU && p->kind != DY_TAU_CONSTANT)
        return dy_fail(ctx, DY_ERR_INVALID, "--tau-schedule-file %s gives a const profile's tau: the %s profile "
                       "needs tau_min,tau_max columns (or a factor)", file, p->kind == DY_TAU_COSINE ? "cosine" :
                       "shifted");
    if (s->table_kind == DY_TAU_TABLE_BOUNDS && p->kind == DY_TAU_CONSTANT)
        return dy_fail(ctx, DY_ERR_INVALID, "--tau-schedule-file %s gives tau_min,tau_max: the const profile needs a "
                       "tau column (or a factor)", file);
    if (s->rows < 2 || s->rows > DY_TAU_TABLE_MAX_ROWS)
        return dy_fail(ctx, DY_ERR_INVALID, "--tau-schedule-file %s: %lld rows, expected 2 to %lld (fraction 0 to 1)",
                       file, (long long)s->rows, (long long)DY_TAU_TABLE_MAX_ROWS);
    const double *t = s->table;
    if (t[0] != 0 || t[3 * (s->rows - 1)] != 1)
        return dy_fail(ctx, DY_ERR_INVALID, "--tau-schedule-file %s: the fractions of training must start at 0 and end "
                       "at 1 (got %g and %g)", file, t[0], t[3 * (s->rows - 1)]);
    for (int64_t i = 0; i < s->rows; i++) {
        const double *r = t + 3 * i;
        if (i > 0 && !(r[0] > r[-3]))
            return dy_fail(ctx, DY_ERR_INVALID, "--tau-schedule-file %s: row %lld: fraction %g after %g (they must "
                           "increase)", file, (long long)i + 1, r[0], r[-3]);
        if (!(isfinite(r[1]) && isfinite(r[2]) && r[1] > 0 && r[2] > 0))
            return dy_fail(ctx, DY_ERR_INVALID, "--tau-schedule-file %s: row %lld: values must be finite and > 0 "
                           "(got %g, %g)", file, (long long)i + 1, r[1], r[2]);
        char what[600];
        snprintf(what, sizeof what, "--tau-schedule-file %s: row %lld (fraction %g)", file, (long long)i + 1, r[0]);
        dy_status st = level_ok(ctx, s, p, r[0], what);
        if (st != DY_OK) return st;
    }
    return DY_OK;
}

dy_status dy_tau_schedule_check(dy_ctx *ctx, const dy_tau_schedule *s, const dy_tau_profile *p, bool adapt_on) {
    if (!(s->kind >= DY_TAU_SCHEDULE_CONSTANT && s->kind <= DY_TAU_SCHEDULE_FILE))
        return dy_fail(ctx, DY_ERR_INVALID, "--tau-schedule: unknown kind %d", (int)s->kind);
    if (s->kind == DY_TAU_SCHEDULE_CONSTANT) return DY_OK;
    if (adapt_on)
        return dy_fail(ctx, DY_ERR_INVALID, "--tau-schedule %s cannot be combined with --tau-adapt band: the "
                       "controller sets the bounds at every step (to replay an adaptive run's bounds, --tau-schedule "
                       "file with tools/tau_schedule_from_metrics.py)", dy_tau_schedule_name(s->kind));
    if (s->kind == DY_TAU_SCHEDULE_FILE) {
        if (!(s->table_kind >= DY_TAU_TABLE_FACTOR && s->table_kind <= DY_TAU_TABLE_BOUNDS))
            return dy_fail(ctx, DY_ERR_INVALID, "--tau-schedule-file: unknown table kind %d", (int)s->table_kind);
        if (!s->table) {
            if (!s->file || !*s->file)
                return dy_fail(ctx, DY_ERR_INVALID, "--tau-schedule file needs --tau-schedule-file");
            return DY_OK;
        }
        return table_check(ctx, s, p);
    }
    if (!(isfinite(s->end_ratio) && s->end_ratio > 0))
        return dy_fail(ctx, DY_ERR_INVALID, "--tau-end-ratio %g must be finite and > 0", s->end_ratio);
    /* f runs monotonically from 1 to R: the two ends bound every level */
    char what[160];
    snprintf(what, sizeof what, "--tau-schedule %s to --tau-end-ratio %g", dy_tau_schedule_name(s->kind),
             s->end_ratio);
    dy_status st = level_ok(ctx, s, p, 0, what);
    return st == DY_OK ? level_ok(ctx, s, p, 1, what) : st;
}

/* ---- the file ------------------------------------------------------------------------------------------------- */

static bool blank_or_comment(const char *line) {
    while (*line == ' ' || *line == '\t' || *line == '\r' || *line == '\n') line++;
    return !*line || *line == '#';
}

/* Splits a line into at most max fields at commas and blanks; the count, or max + 1 when there are more. */
static int fields(char *line, char **out, int max) {
    int n = 0;
    for (char *save = NULL, *f = strtok_r(line, ", \t\r\n", &save); f; f = strtok_r(NULL, ", \t\r\n", &save)) {
        if (n == max) return max + 1;
        out[n++] = f;
    }
    return n;
}

dy_status dy_tau_schedule_read(dy_ctx *ctx, const char *path, dy_tau_table_kind *kind, double **table,
                               int64_t *rows) {
    *table = NULL;
    *rows = 0;
    *kind = DY_TAU_TABLE_FACTOR;
    /* without blocking, so that a FIFO put there cannot hold the open; then only a regular file is read */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return dy_fail(ctx, DY_ERR_IO, "--tau-schedule-file %s: %s", path, strerror(errno));
    struct stat sb;
    FILE *f = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 ||
        !(f = fdopen(fd, "r"))) {
        close(fd);
        return dy_fail(ctx, DY_ERR_IO, "--tau-schedule-file %s: not a regular file", path);
    }
    char *line = NULL;
    size_t cap = 0;
    int64_t n = 0, allocated = 0, lineno = 0;
    int columns = 2; /* fraction and one value, until a header says otherwise */
    bool header_seen = false, any_row = false;
    double *t = NULL;
    dy_status st = DY_OK;
    while (st == DY_OK && getline(&line, &cap, f) > 0) {
        lineno++;
        if (blank_or_comment(line)) continue;
        char *fv[4];
        int nf = fields(line, fv, 3);
        if (!any_row && !header_seen && nf >= 1 && isalpha((unsigned char)fv[0][0])) {
            header_seen = true;
            if (nf == 2 && !strcmp(fv[0], "fraction") && !strcmp(fv[1], "factor")) *kind = DY_TAU_TABLE_FACTOR;
            else if (nf == 2 && !strcmp(fv[0], "fraction") && !strcmp(fv[1], "tau")) *kind = DY_TAU_TABLE_TAU;
            else if (nf == 3 && !strcmp(fv[0], "fraction") && !strcmp(fv[1], "tau_min") && !strcmp(fv[2], "tau_max"))
                *kind = DY_TAU_TABLE_BOUNDS;
            else
                st = dy_fail(ctx, DY_ERR_FORMAT, "--tau-schedule-file %s:%lld: unknown header (expected "
                             "fraction,factor or fraction,tau or fraction,tau_min,tau_max)", path, (long long)lineno);
            columns = *kind == DY_TAU_TABLE_BOUNDS ? 3 : 2;
            continue;
        }
        if (nf != columns) {
            st = dy_fail(ctx, DY_ERR_FORMAT, "--tau-schedule-file %s:%lld: %s%d numbers, expected %d", path,
                         (long long)lineno, nf > 3 ? "more than " : "", nf > 3 ? 3 : nf, columns);
            break;
        }
        double v[3];
        for (int i = 0; i < nf && st == DY_OK; i++) {
            char *end;
            errno = 0;
            v[i] = strtod(fv[i], &end);
            /* decimal numbers only: no hexadecimal, inf or nan spelled out */
            bool plain = strspn(fv[i], "0123456789+-.eE") == strlen(fv[i]);
            if (*end || errno == ERANGE || !plain)
                st = dy_fail(ctx, DY_ERR_FORMAT, "--tau-schedule-file %s:%lld: '%s' is not a number", path,
                             (long long)lineno, fv[i]);
        }
        if (st != DY_OK) break;
        if (n == DY_TAU_TABLE_MAX_ROWS) {
            st = dy_fail(ctx, DY_ERR_FORMAT, "--tau-schedule-file %s: more than %lld rows", path,
                         (long long)DY_TAU_TABLE_MAX_ROWS);
            break;
        }
        if (n == allocated) {
            int64_t more = allocated ? 2 * allocated : 64;
            double *nt = realloc(t, (size_t)more * 3 * sizeof *t);
            if (!nt) {
                st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory reading %s", path);
                break;
            }
            t = nt, allocated = more;
        }
        t[3 * n] = v[0];
        t[3 * n + 1] = v[1];
        t[3 * n + 2] = columns == 3 ? v[2] : v[1];
        n++;
        any_row = true;
    }
    if (st == DY_OK && ferror(f)) st = dy_fail(ctx, DY_ERR_IO, "--tau-schedule-file %s: read error", path);
    if (st == DY_OK && n == 0) st = dy_fail(ctx, DY_ERR_FORMAT, "--tau-schedule-file %s: no rows", path);
    free(line);
    fclose(f);
    if (st != DY_OK) {
        free(t);
        return st;
    }
    *table = t;
    *rows = n;
    return DY_OK;
}

/* ---- checkpoints ---------------------------------------------------------------------------------------------- */

void dy_tau_schedule_list_tensors(const dy_tau_schedule *s, double spec[4], dy_tensor_list *l) {
    if (s->kind == DY_TAU_SCHEDULE_CONSTANT) return;
    bool file = s->kind == DY_TAU_SCHEDULE_FILE;
    spec[0] = (double)s->kind;
    spec[1] = s->per_epoch ? 1 : 0;
    spec[2] = file ? 0 : s->end_ratio;
    spec[3] = file ? (double)s->table_kind : 0;
    int64_t four = 4, shape[2] = {s->rows, 3};
    dy_tensor_list_add(l, "tau_schedule.", "spec", DY_DTYPE_F64, DY_DTYPE_F64, 1, &four, spec);
    if (file && s->table)
        dy_tensor_list_add(l, "tau_schedule.", "table", DY_DTYPE_F64, DY_DTYPE_F64, 2, shape, (void *)s->table);
}
