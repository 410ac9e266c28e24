/* A small test harness: checks count into passed/failed, and test_finish() prints the closing line
 * "N passed, N failed" and returns the exit status. Every failure prints what was expected and what was got. */
#ifndef DY_TESTLIB_H
#define DY_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Records one check. Returns ok, so callers can stop early on failure. */
bool test_check(bool ok, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define CHECK(cond, ...) test_check((cond), __FILE__, __LINE__, __VA_ARGS__)

/* Normwise relative error max|got - want| / max|want| (want all zero: the absolute error).
 * Any NaN or Inf in got or want counts as an infinite error. */
double test_rel_error(const float *got, const float *want, size_t n);
/* One check: test_rel_error(got, want, n) <= tol. Prints the error and the worst element either way with -v, at the
 * caller's file and line. */
#define test_close(what, got, want, n, tol) test_close_at(__FILE__, __LINE__, (what), (got), (want), (n), (tol))
/* Same, for the value of a scalar. */
#define test_close_scalar(what, got, want, tol) test_close_scalar_at(__FILE__, __LINE__, (what), (got), (want), (tol))
bool test_close_at(const char *file, int line, const char *what, const float *got, const float *want, size_t n,
                   double tol);
bool test_close_scalar_at(const char *file, int line, const char *what, double got, double want, double tol);

/* True when DY_TEST_QUICK is set (sanitizer and valgrind runs): tests may shrink their slow cases. */
bool test_quick(void);
/* Prints "<passed> passed, <failed> failed" and returns 0 when nothing failed, else 1. */
int test_finish(void);
/* Path of a checked-in fixture: tests/fixtures/<name> relative to the repository (DY_FIXTURES overrides). */
const char *test_fixture_path(const char *name);
/* dir/name in one of four static buffers used in turn: up to four such paths can be alive at once (in one call). */
const char *test_path_in(const char *dir, const char *name);

#endif
