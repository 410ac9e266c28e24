#include "testlib.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;
static int verbose = -1;

static bool is_verbose(void) {
    if (verbose < 0) verbose = getenv("DY_TEST_VERBOSE") != NULL;
    return verbose;
}

bool test_check(bool ok, const char *file, int line, const char *fmt, ...) {
    if (ok) passed++;
    else failed++;
    if (!ok || is_verbose()) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s %s:%d: ", ok ? "ok  " : "FAIL", file, line);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    return ok;
}

double test_rel_error(const float *got, const float *want, size_t n) {
    double max_diff = 0, max_want = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) || !isfinite(want[i])) return INFINITY;
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > max_diff) max_diff = d;
        if (fabs(want[i]) > max_want) max_want = fabs(want[i]);
    }
    return max_want > 0 ? max_diff / max_want : max_diff;
}

bool test_close_at(const char *file, int line, const char *what, const float *got, const float *want, size_t n,
                   double tol) {
    double err = test_rel_error(got, want, n);
    size_t worst = 0;
    double wd = -1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= wd)) { wd = d; worst = i; }
    }
    if (n == 0) return test_check(false, file, line, "%s: empty comparison", what);
    return test_check(err <= tol, file, line, "%s: rel error %.3g (tol %.1g), worst [%zu] got %.8g want %.8g",
                      what, err, tol, worst, got[worst], want[worst]);
}

bool test_close_scalar_at(const char *file, int line, const char *what, double got, double want, double tol) {
    double err = fabs(got - want) / (fabs(want) > 0 ? fabs(want) : 1.0);
    if (!isfinite(got) || !isfinite(want)) err = INFINITY;
    return test_check(err <= tol, file, line, "%s: got %.10g want %.10g (rel error %.3g, tol %.1g)", what,
                      got, want, err, tol);
}

bool test_quick(void) { return getenv("DY_TEST_QUICK") != NULL; }

int test_finish(void) {
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

const char *test_fixture_path(const char *name) {
    static char path[4096];
    const char *dir = getenv("DY_FIXTURES");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/fixtures", name);
    return path;
}

const char *test_path_in(const char *dir, const char *name) {
    static char path[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}
