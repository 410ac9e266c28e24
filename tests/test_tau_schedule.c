/* The temperature schedule (src/train/tau_schedule.h) against its formulas: the fraction of training (steps, epochs),
 * linear and cosine factors at the start, the end and between, a file's table interpolated (factor, tau, bounds),
 * the constant schedule returning the profile untouched; the file reader (headers, comments, separators) and every
 * refusal naming the option. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "train/tau_schedule.h"

static char dir[128];

static const char *write_file(const char *name, const char *text) {
    static char path[8][256];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

static void fractions(void) {
    dy_tau_schedule s = {.kind = DY_TAU_SCHEDULE_LINEAR, .end_ratio = 0.1};
    /* 5 epochs of 4 steps: 20 steps, u = step / 19 */
    CHECK(dy_tau_schedule_fraction(&s, 0, 4, 20) == 0, "steps: the first step has u = 0");
    CHECK(dy_tau_schedule_fraction(&s, 19, 4, 20) == 1, "steps: the last step has u = 1");
    CHECK(dy_tau_schedule_fraction(&s, 7, 4, 20) == 7.0 / 19.0, "steps: step 7 of 20 has u = 7/19");
    CHECK(dy_tau_schedule_fraction(&s, 0, 4, 1) == 0, "steps: a run of one step stays at u = 0");
    s.per_epoch = true;
    CHECK(dy_tau_schedule_fraction(&s, 0, 4, 20) == 0 && dy_tau_schedule_fraction(&s, 3, 4, 20) == 0,
          "epochs: every step of the first epoch has u = 0");
    CHECK(dy_tau_schedule_fraction(&s, 4, 4, 20) == 0.25 && dy_tau_schedule_fraction(&s, 7, 4, 20) == 0.25,
          "epochs: the second of 5 epochs has u = 1/4 at each of its steps");
    CHECK(dy_tau_schedule_fraction(&s, 16, 4, 20) == 1 && dy_tau_schedule_fraction(&s, 19, 4, 20) == 1,
          "epochs: the last epoch has u = 1");
    CHECK(dy_tau_schedule_fraction(&s, 2, 4, 4) == 0, "epochs: a run of one epoch stays at u = 0");
}

static void formulas(void) {
    const double pi = 3.14159265358979323846;
    dy_tau_profile c = dy_tau_constant(0.2f), cos_p = dy_tau_cosine(0.07f, 0.2f);
    dy_tau_schedule none = {.kind = DY_TAU_SCHEDULE_CONSTANT};
    dy_tau_profile q = dy_tau_schedule_profile(&none, &cos_p, 0.7);
    CHECK(!memcmp(&q, &cos_p, sizeof q), "the constant schedule returns the profile itself, bit for bit");

    dy_tau_schedule lin = {.kind = DY_TAU_SCHEDULE_LINEAR, .end_ratio = 0.1};
    double lo, hi;
    dy_tau_schedule_levels(&lin, &c, 0, &lo, &hi);
    CHECK(lo == (double)0.2f && hi == (double)0.2f, "linear: the start is tau (%.17g)", lo);
    dy_tau_schedule_levels(&lin, &c, 1, &lo, &hi);
    CHECK(lo == (double)0.2f * 0.1, "linear: the end is tau x R exactly (%.17g)", lo);
    dy_tau_schedule_levels(&lin, &c, 0.5, &lo, &hi);
    CHECK(lo == (double)0.2f * (0.5 + 0.1 * 0.5), "linear: the middle is tau (1 + R) / 2 (%.17g)", lo);
    dy_tau_schedule_levels(&lin, &cos_p, 0.25, &lo, &hi);
    double f = 0.75 + 0.1 * 0.25;
    CHECK(lo == (double)0.07f * f && hi == (double)0.2f * f, "linear: both bounds scaled by f(1/4) = %.17g", f);
    q = dy_tau_schedule_profile(&lin, &c, 1);
    CHECK(q.kind == DY_TAU_CONSTANT && q.tau_min == q.tau_max && q.tau_max == (float)((double)0.2f * 0.1),
          "linear: the const profile's end level, in float, tau_min = tau_max (%.9g)", (double)q.tau_max);

    dy_tau_schedule cs = {.kind = DY_TAU_SCHEDULE_COSINE, .end_ratio = 0.1};
    dy_tau_schedule_levels(&cs, &cos_p, 0, &lo, &hi);
    CHECK(lo == (double)0.07f && hi == (double)0.2f, "cosine: the start is the profile's bounds exactly");
    dy_tau_schedule_levels(&cs, &cos_p, 1, &lo, &hi);
    CHECK(lo == (double)0.07f * 0.1 && hi == (double)0.2f * 0.1, "cosine: the end is the bounds x R exactly");
    dy_tau_schedule_levels(&cs, &c, 0.5, &lo, &hi);
    double w = 0.5 * (1 + cos(pi * 0.5));
    CHECK(lo == (double)0.2f * (w + (1 - w) * 0.1) && fabs(lo - 0.2 * 0.55) < 1e-8,
          "cosine: the middle is tau (1 + R) / 2 (%.17g)", lo);
    dy_tau_schedule_levels(&cs, &c, 0.25, &lo, &hi);
    w = 0.5 * (1 + cos(pi * 0.25));
    CHECK(lo == (double)0.2f * (w + (1 - w) * 0.1), "cosine: a quarter in follows the half cosine (%.17g)", lo);
    /* the cosine schedule stays above the linear one while annealing down: it falls slowly first */
    double l_lin, l_cos;
    dy_tau_schedule_levels(&lin, &c, 0.25, &l_lin, &hi);
    dy_tau_schedule_levels(&cs, &c, 0.25, &l_cos, &hi);
    CHECK(l_cos > l_lin, "cosine (%g) above linear (%g) a quarter in", l_cos, l_lin);

    /* a table of factors, and one of levels */
    const double factors[] = {0, 1, 1, 0.5, 0.4, 0.4, 1, 0.1, 0.1};
    dy_tau_schedule tf = {.kind = DY_TAU_SCHEDULE_FILE, .table_kind = DY_TAU_TABLE_FACTOR, .rows = 3,
                          .table = factors};
    dy_tau_schedule_levels(&tf, &cos_p, 0.25, &lo, &hi);
    CHECK(lo == (double)0.07f * (0.5 * 1 + 0.5 * 0.4) && hi == (double)0.2f * (0.5 * 1 + 0.5 * 0.4),
          "file (factor): halfway along the first segment, f = 0.7");
    dy_tau_schedule_levels(&tf, &cos_p, 0.5, &lo, &hi);
    CHECK(lo == (double)0.07f * 0.4, "file (factor): at a row, its factor");
    dy_tau_schedule_levels(&tf, &cos_p, 0.75, &lo, &hi);
    CHECK(fabs(hi - 0.2 * 0.25) < 1e-7 && hi == (double)0.2f * ((1 - 0.5) * 0.4 + 0.5 * 0.1),
          "file (factor): halfway along the second, f = 0.25");
    const double bounds[] = {0, 0.07, 0.2, 0.5, 0.03, 0.05, 1, 0.02, 0.021};
    dy_tau_schedule tb = {.kind = DY_TAU_SCHEDULE_FILE, .table_kind = DY_TAU_TABLE_BOUNDS, .rows = 3,
                          .table = bounds};
    dy_tau_schedule_levels(&tb, &cos_p, 0.25, &lo, &hi);
    CHECK(lo == 0.5 * 0.07 + 0.5 * 0.03 && hi == 0.5 * 0.2 + 0.5 * 0.05, "file (bounds): each bound interpolated");
    q = dy_tau_schedule_profile(&tb, &cos_p, 1);
    CHECK(q.tau_min == 0.02f && q.tau_max == 0.021f && q.kind == DY_TAU_COSINE, "file (bounds): the last row's levels");
}

static void check_refused(dy_ctx *ctx, const dy_tau_schedule *s, const dy_tau_profile *p, bool adapt,
                          const char *want, const char *what) {
    dy_status st = dy_tau_schedule_check(ctx, s, p, adapt);
    CHECK(st == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), want), "%s refused: %s (want '%s')", what,
          st ? dy_ctx_error(ctx) : "accepted", want);
}

static void checks(dy_ctx *ctx) {
    dy_tau_profile c = dy_tau_constant(0.2f), cos_p = dy_tau_cosine(0.07f, 0.2f);
    dy_tau_schedule s = {.kind = DY_TAU_SCHEDULE_COSINE, .end_ratio = 0.1};
    CHECK(dy_tau_schedule_check(ctx, &s, &cos_p, false) == DY_OK, "cosine 0.07-0.2 to R 0.1 accepted");
    check_refused(ctx, &s, &cos_p, true, "--tau-adapt band", "a schedule with the adaptive profile");
    s.end_ratio = 0;
    check_refused(ctx, &s, &c, false, "--tau-end-ratio 0 must be finite and > 0", "R = 0");
    s.end_ratio = NAN;
    check_refused(ctx, &s, &c, false, "--tau-end-ratio", "R = NaN");
    s.end_ratio = 1e-4;
    check_refused(ctx, &s, &c, false, "outside the supported range", "an end level below 1e-4");
    s.end_ratio = 1e6;
    check_refused(ctx, &s, &cos_p, false, "--tau-end-ratio 1e+06", "an end level above 1e4");
    dy_tau_schedule none = {.kind = DY_TAU_SCHEDULE_CONSTANT};
    CHECK(dy_tau_schedule_check(ctx, &none, &cos_p, true) == DY_OK, "no schedule goes with the adaptive profile");

    const double ok[] = {0, 1, 1, 1, 0.1, 0.1};
    dy_tau_schedule f = {.kind = DY_TAU_SCHEDULE_FILE, .rows = 2, .table = ok, .file = "t.csv"};
    CHECK(dy_tau_schedule_check(ctx, &f, &c, false) == DY_OK, "a two-row factor table accepted");
    const double late[] = {0.1, 1, 1, 1, 0.1, 0.1}, short_[] = {0, 1, 1, 0.9, 0.1, 0.1};
    const double back[] = {0, 1, 1, 0.5, 1, 1, 0.5, 1, 1, 1, 1, 1}, neg[] = {0, 1, 1, 1, -0.1, -0.1};
    const double tiny[] = {0, 1, 1, 1, 1e-5, 1e-5}, crossed[] = {0, 0.2, 0.07, 1, 0.07, 0.2};
    f.table = late;
    check_refused(ctx, &f, &c, false, "must start at 0 and end at 1 (got 0.1 and 1)", "a table starting at 0.1");
    f.table = short_;
    check_refused(ctx, &f, &c, false, "start at 0 and end at 1", "a table ending at 0.9");
    f.table = back, f.rows = 4;
    check_refused(ctx, &f, &c, false, "row 3: fraction 0.5 after 0.5", "a repeated fraction");
    f.table = neg, f.rows = 2;
    check_refused(ctx, &f, &c, false, "row 2: values must be finite and > 0", "a negative factor");
    f.table = tiny;
    check_refused(ctx, &f, &c, false, "t.csv: row 2 (fraction 1)", "a level below 1e-4");
    f.table = ok, f.rows = 1;
    check_refused(ctx, &f, &c, false, "1 rows, expected 2", "a single row");
    f.rows = 2, f.table_kind = DY_TAU_TABLE_TAU;
    check_refused(ctx, &f, &cos_p, false, "needs tau_min,tau_max columns", "a tau column with the cosine profile");
    CHECK(dy_tau_schedule_check(ctx, &f, &c, false) == DY_OK, "a tau column with the const profile accepted");
    f.table_kind = DY_TAU_TABLE_BOUNDS;
    check_refused(ctx, &f, &c, false, "needs a tau column", "tau_min,tau_max with the const profile");
    f.table = crossed;
    check_refused(ctx, &f, &cos_p, false, "above tau_max", "a row with tau_min above tau_max");
    dy_tau_schedule nofile = {.kind = DY_TAU_SCHEDULE_FILE};
    check_refused(ctx, &nofile, &c, false, "--tau-schedule file needs --tau-schedule-file", "a file schedule without "
                  "a file");
}

static void reader(dy_ctx *ctx) {
    dy_tau_table_kind kind;
    double *t = NULL;
    int64_t rows = 0;
    const char *p = write_file("plain.csv", "# a comment\n\n0,1\n0.5 0.3\n1,\t0.1\n");
    dy_status st = dy_tau_schedule_read(ctx, p, &kind, &t, &rows);
    CHECK(st == DY_OK && kind == DY_TAU_TABLE_FACTOR && rows == 3 && t[3] == 0.5 && t[4] == 0.3 && t[5] == 0.3 &&
              t[8] == 0.1, "no header: fraction,factor rows, commas and blanks, comments skipped (%s)",
          st ? dy_ctx_error(ctx) : "ok");
    free(t);
    p = write_file("tau.csv", "fraction,tau\n0,0.2\n1,0.02\n");
    st = dy_tau_schedule_read(ctx, p, &kind, &t, &rows);
    CHECK(st == DY_OK && kind == DY_TAU_TABLE_TAU && rows == 2 && t[5] == 0.02, "fraction,tau header");
    free(t);
    p = write_file("bounds.csv", "# from a run\nfraction,tau_min,tau_max\n0,0.07,0.2\n1,0.02,0.022\n");
    st = dy_tau_schedule_read(ctx, p, &kind, &t, &rows);
    CHECK(st == DY_OK && kind == DY_TAU_TABLE_BOUNDS && rows == 2 && t[4] == 0.02 && t[5] == 0.022,
          "fraction,tau_min,tau_max header");
    free(t);
    const struct {
        const char *name, *text, *want;
    } bad[] = {
        {"b1.csv", "fraction,level\n0,1\n1,1\n", "b1.csv:1: unknown header"},
        {"b2.csv", "0,1\n0.5\n1,1\n", "b2.csv:2: 1 numbers, expected 2"},
        {"b3.csv", "fraction,tau_min,tau_max\n0,0.1\n", "b3.csv:2: 2 numbers, expected 3"},
        {"b4.csv", "0,1\n1,0x1p-3\n", "b4.csv:2: '0x1p-3' is not a number"},
        {"b5.csv", "0,1\n1,nan\n", "'nan' is not a number"},
        {"b6.csv", "# only a comment\n", "no rows"},
        {"b7.csv", "0,1\n1,1e999\n", "'1e999' is not a number"},
        {"b8.csv", "0,1,2,3\n", "more than 3 numbers, expected 2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = write_file(bad[i].name, bad[i].text);
        t = NULL;
        st = dy_tau_schedule_read(ctx, p, &kind, &t, &rows);
        CHECK(st == DY_ERR_FORMAT && strstr(dy_ctx_error(ctx), bad[i].want) && !t, "%s refused: %s (want '%s')",
              bad[i].name, st ? dy_ctx_error(ctx) : "accepted", bad[i].want);
    }
    st = dy_tau_schedule_read(ctx, "/nonexistent/schedule.csv", &kind, &t, &rows);
    CHECK(st == DY_ERR_IO && strstr(dy_ctx_error(ctx), "--tau-schedule-file /nonexistent/schedule.csv"),
          "a missing file refused, named: %s", dy_ctx_error(ctx));
    st = dy_tau_schedule_read(ctx, dir, &kind, &t, &rows);
    CHECK(st == DY_ERR_IO && strstr(dy_ctx_error(ctx), "not a regular file"), "a folder refused: %s",
          dy_ctx_error(ctx));
    char fifo[256];
    snprintf(fifo, sizeof fifo, "%s/fifo.csv", dir);
    if (mkfifo(fifo, 0600) == 0) {
        st = dy_tau_schedule_read(ctx, fifo, &kind, &t, &rows);
        CHECK(st == DY_ERR_IO && strstr(dy_ctx_error(ctx), "not a regular file"), "a FIFO refused without blocking: "
              "%s", dy_ctx_error(ctx));
    }
}

int main(void) {
    dy_ctx *ctx;
    dy_ctx_options co = {.threads = 1};
    if (dy_ctx_create(&ctx, &co) != DY_OK) return 1;
    snprintf(dir, sizeof dir, "/tmp/dystress-tau-schedule-test-%d", (int)getpid());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0) return 1;
    fractions();
    formulas();
    checks(ctx);
    reader(ctx);
    dy_ctx_destroy(ctx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish();
}
