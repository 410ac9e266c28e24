#!/usr/bin/python3
"""Fixtures for tests/test_series.c and tests/test_signal_augment.c (numpy only; scipy, when present, is a second
check of the spline reference).

- series_f64.npy: numpy.save of float64 [3, 2, 5] = arange(30) * 0.25 - 1; series_labels_i32.npy: int32 [2, 0, 1];
  series_fortran.npy: the same array in Fortran order; series_big_endian.npy: the same as '>f8'. The reader must load
  the first two and refuse the last two.
- signal_spline.bin: not-a-knot cubic splines through random knots (uniform and not), evaluated at points inside and
  outside the knots. The reference solves for the 4 (n - 1) coefficients of the pieces a + b u + c u^2 + d u^3 with
  interpolation, C1 and C2 at the interior knots and d_0 = d_1, d_{n-3} = d_{n-2} (not-a-knot) as one dense system:
  a formulation independent of the C code's (second derivatives, tridiagonal-like rows).
Run: /usr/bin/python3 tools/fixtures_series.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from fixture_io import write_fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")


def spline_coefficients(x, y):
    """Pieces [n - 1, 4] (a, b, c, d) of the not-a-knot cubic spline through (x, y), n >= 4."""
    n = len(x)
    m = n - 1
    h = np.diff(x)
    rows, rhs = [], []

    def row():
        r = np.zeros(4 * m)
        rows.append(r)
        return r

    for i in range(m):  # S_i(x_i) = y_i, S_i(x_{i+1}) = y_{i+1}
        r = row()
        r[4 * i] = 1
        rhs.append(y[i])
        r = row()
        r[4 * i:4 * i + 4] = [1, h[i], h[i] ** 2, h[i] ** 3]
        rhs.append(y[i + 1])
    for i in range(m - 1):  # S_i'(x_{i+1}) = S_{i+1}'(x_{i+1}), same for S''
        r = row()
        r[4 * i:4 * i + 4] = [0, 1, 2 * h[i], 3 * h[i] ** 2]
        r[4 * (i + 1) + 1] = -1
        rhs.append(0)
        r = row()
        r[4 * i:4 * i + 4] = [0, 0, 2, 6 * h[i]]
        r[4 * (i + 1) + 2] = -2
        rhs.append(0)
    r = row()  # not-a-knot: the third derivative is continuous at x_1 and x_{n-2}
    r[3], r[7] = 1, -1
    rhs.append(0)
    r = row()
    r[4 * (m - 2) + 3], r[4 * (m - 1) + 3] = 1, -1
    rhs.append(0)
    return np.linalg.solve(np.array(rows), np.array(rhs)).reshape(m, 4)


def spline_eval(x, coef, t):
    i = np.clip(np.searchsorted(x, t, side="right") - 1, 0, len(x) - 2)
    u = t - x[i]
    a, b, c, d = coef[i].T
    return a + u * (b + u * (c + u * d))


def main():
    os.makedirs(OUT, exist_ok=True)
    data = np.arange(30, dtype=np.float64).reshape(3, 2, 5) * 0.25 - 1
    np.save(os.path.join(OUT, "series_f64.npy"), data)
    np.save(os.path.join(OUT, "series_labels_i32.npy"), np.array([2, 0, 1], dtype=np.int32))
    np.save(os.path.join(OUT, "series_fortran.npy"), np.asfortranarray(data))
    np.save(os.path.join(OUT, "series_big_endian.npy"), data.astype(">f8"))

    rng = np.random.default_rng(26)
    cases = {}
    for name, x in [("uniform", np.linspace(0, 99, 6)), ("uneven", np.array([0.0, 0.7, 2.5, 3.0, 5.5, 6.0, 9.25])),
                    ("four", np.array([1.0, 2.0, 4.0, 7.0])), ("many", np.linspace(0, 999, 34))]:
        y = 1 + 0.2 * rng.standard_normal(len(x))
        t = np.concatenate([np.linspace(x[0] - 1, x[-1] + 1, 57), x])
        v = spline_eval(x, spline_coefficients(x, y), t)
        try:
            from scipy.interpolate import CubicSpline
            assert np.allclose(CubicSpline(x, y)(t), v, rtol=1e-10, atol=1e-10), name
        except ImportError:
            pass
        cases[name + "_x"], cases[name + "_y"], cases[name + "_t"], cases[name + "_v"] = x, y, t, v
    # the fixture stores float32: keep the knots' and points' float32 values as the case's exact inputs
    stored = {k: np.asarray(v, dtype=np.float32).astype(np.float64) for k, v in cases.items()}
    for name in ["uniform", "uneven", "four", "many"]:
        x, y, t = stored[name + "_x"], stored[name + "_y"], stored[name + "_t"]
        stored[name + "_v"] = spline_eval(x, spline_coefficients(x, y), t)
    write_fixture(os.path.join(OUT, "signal_spline.bin"), stored)


if __name__ == "__main__":
    main()
