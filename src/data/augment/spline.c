/* The not-a-knot cubic spline (de Boor; scipy.interpolate.CubicSpline's default), the smooth random curves of the
 * magnitude and time warps. Piece i on [x_i, x_{i+1}] (h_i = x_{i+1} - x_i, u = x - x_i) is
 *   S(x) = y_i + b_i u + M_i u^2 / 2 + (M_{i+1} - M_i) u^3 / (6 h_i),
 *   b_i = (y_{i+1} - y_i) / h_i - h_i (2 M_i + M_{i+1}) / 6,
 * with M the second derivatives at the knots: continuity of S' at the interior knots gives
 *   h_{i-1} M_{i-1} + 2 (h_{i-1} + h_i) M_i + h_i M_{i+1} = 6 ((y_{i+1} - y_i) / h_i - (y_i - y_{i-1}) / h_{i-1}),
 * and not-a-knot makes S''' continuous at x_1 and x_{n-2} (the first two pieces one cubic, the last two one cubic).
 * At most 34 knots: the system is solved densely by Gaussian elimination with partial pivoting. */
#include <math.h>
#include <string.h>

#include "data/augment/signal_aug.h"

enum { SPLINE_MAX = DY_SIGNAL_MAX_KNOTS + 2 };

/* Solves a[n][n] m = rhs (a is overwritten). */
static void solve(double a[SPLINE_MAX][SPLINE_MAX + 1], int n, double *m) {
    for (int col = 0; col < n; col++) {
        int piv = col;
        for (int r = col + 1; r < n; r++)
            if (fabs(a[r][col]) > fabs(a[piv][col])) piv = r;
        if (piv != col)
            for (int k = 0; k <= n; k++) {
                double t = a[col][k];
                a[col][k] = a[piv][k];
                a[piv][k] = t;
            }
        for (int r = col + 1; r < n; r++) {
            double f = a[r][col] / a[col][col];
            for (int k = col; k <= n; k++) a[r][k] -= f * a[col][k];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        double s = a[r][n];
        for (int k = r + 1; k < n; k++) s -= a[r][k] * m[k];
        m[r] = s / a[r][r];
    }
}

void dy_spline_fit(const double *xk, const double *yk, int n, double *m) {
    memset(m, 0, sizeof(double) * (size_t)n);
    if (n < 3) return; /* the line */
    if (n == 3) {      /* the parabola: one second derivative throughout */
        double h0 = xk[1] - xk[0], h1 = xk[2] - xk[1];
        double d2 = 2 * ((yk[2] - yk[1]) / h1 - (yk[1] - yk[0]) / h0) / (h0 + h1);
        m[0] = m[1] = m[2] = d2;
        return;
    }
    static const double zero_row[SPLINE_MAX + 1];
    double a[SPLINE_MAX][SPLINE_MAX + 1];
    for (int i = 0; i < n; i++) memcpy(a[i], zero_row, sizeof zero_row);
    double h[SPLINE_MAX];
    for (int i = 0; i + 1 < n; i++) h[i] = xk[i + 1] - xk[i];
    a[0][0] = -h[1], a[0][1] = h[0] + h[1], a[0][2] = -h[0];
    for (int i = 1; i + 1 < n; i++) {
        a[i][i - 1] = h[i - 1];
        a[i][i] = 2 * (h[i - 1] + h[i]);
        a[i][i + 1] = h[i];
        a[i][n] = 6 * ((yk[i + 1] - yk[i]) / h[i] - (yk[i] - yk[i - 1]) / h[i - 1]);
    }
    a[n - 1][n - 3] = -h[n - 2], a[n - 1][n - 2] = h[n - 3] + h[n - 2], a[n - 1][n - 1] = -h[n - 3];
    solve(a, n, m);
}

double dy_spline_eval(const double *xk, const double *yk, const double *m, int n, double x) {
    int i = 0;
    while (i + 2 < n && x >= xk[i + 1]) i++;
    const double h = xk[i + 1] - xk[i], u = x - xk[i];
    const double b = (yk[i + 1] - yk[i]) / h - h * (2 * m[i] + m[i + 1]) / 6;
    return yk[i] + u * (b + u * (m[i] / 2 + u * (m[i + 1] - m[i]) / (6 * h)));
}
