/* The real FFT of the log-mel front end (src/data/audio/audio.h), in double.
 *
 * A complex FFT of any size m by recursive decimation in time over m's prime factors: the DFT of size n = p * l
 * is p DFTs of size l of the subsequences x[q + p r] (r < l), combined by
 *     X[k + l s] = sum_q W_n^(q k) W_p^(q s) Y_q[k],    W_n = exp(-2 pi i / n),
 * each radix by its direct p-point sum (the sizes the front end uses, 400 and 512, factor into 2s and 5s).
 * A real signal of even size n is packed into m = n / 2 complex points z[j] = x[2j] + i x[2j + 1], transformed, and
 * split: with E = (Z[k] + conj Z[m - k]) / 2 and O = (Z[k] - conj Z[m - k]) / 2i, X[k] = E + W_n^k O. Odd sizes take
 * the complex FFT of size n with zero imaginary parts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/audio/audio.h"

struct dy_rfft {
    int n;          /* real points */
    int m;          /* complex points transformed: n / 2 (n even) or n */
    int nf;         /* prime factors of m, ascending */
    int factors[32];
    int maxp;       /* the largest factor */
    double *tw;     /* [2 m]: W_m^k, k < m */
    double *rtw;    /* [2 (n / 2 + 1)]: W_n^k (n even) */
};

static void cmul(double ar, double ai, double br, double bi, double *r, double *i) {
    *r = ar * br - ai * bi;
    *i = ar * bi + ai * br;
}

/* out [2 n] = DFT of n complex points in[q * stride] (interleaved re, im); t: [2 maxp] scratch. */
static void fft_rec(const dy_rfft *f, double *out, const double *in, int n, int64_t stride, int fi, double *t) {
    const int p = f->factors[fi], l = n / p;
    if (l == 1) {
        for (int q = 0; q < p; q++) {
            out[2 * q] = in[2 * q * stride];
            out[2 * q + 1] = in[2 * q * stride + 1];
        }
    } else {
        for (int q = 0; q < p; q++) fft_rec(f, out + 2 * (int64_t)q * l, in + 2 * q * stride, l, stride * p, fi + 1, t);
    }
    const int64_t tn = f->m / n, tp = f->m / p; /* W_n^x = tw[x * tn], W_p^x = tw[x * tp] */
    for (int k = 0; k < l; k++) {
        for (int q = 0; q < p; q++) {
            const double *y = out + 2 * ((int64_t)q * l + k);
            const int64_t w = (int64_t)q * k * tn;
            cmul(y[0], y[1], f->tw[2 * w], f->tw[2 * w + 1], &t[2 * q], &t[2 * q + 1]);
        }
        for (int s = 0; s < p; s++) {
            double re = 0, im = 0;
            for (int q = 0; q < p; q++) {
                const int64_t w = ((int64_t)q * s % p) * tp;
                double r, i;
                cmul(t[2 * q], t[2 * q + 1], f->tw[2 * w], f->tw[2 * w + 1], &r, &i);
                re += r;
                im += i;
            }
            out[2 * (k + (int64_t)l * s)] = re;
            out[2 * (k + (int64_t)l * s) + 1] = im;
        }
    }
}

dy_rfft *dy_rfft_create(int n) {
    if (n < 1) return NULL;
    dy_rfft *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->n = n;
    f->m = n % 2 == 0 ? n / 2 : n;
    int r = f->m;
    for (int p = 2; r > 1; p++) {
        if ((int64_t)p * p > r) p = r; /* what is left is prime */
        while (r % p == 0) {
            f->factors[f->nf++] = p;
            r /= p;
            if (p > f->maxp) f->maxp = p;
        }
    }
    if (f->nf == 0) f->factors[f->nf++] = 1, f->maxp = 1; /* m = 1: the copy alone */
    f->tw = malloc(sizeof(double) * 2 * (size_t)f->m);
    f->rtw = malloc(sizeof(double) * 2 * (size_t)(n / 2 + 1));
    if (!f->tw || !f->rtw) {
        dy_rfft_free(f);
        return NULL;
    }
    for (int k = 0; k < f->m; k++) {
        f->tw[2 * k] = cos(-2.0 * M_PI * k / f->m);
        f->tw[2 * k + 1] = sin(-2.0 * M_PI * k / f->m);
    }
    for (int k = 0; k <= n / 2; k++) {
        f->rtw[2 * k] = cos(-2.0 * M_PI * k / n);
        f->rtw[2 * k + 1] = sin(-2.0 * M_PI * k / n);
    }
    return f;
}

int64_t dy_rfft_scratch(const dy_rfft *f) { return 4 * (int64_t)f->m + 2 * (int64_t)f->maxp; }

void dy_rfft_forward(const dy_rfft *f, const double *x, double *X, double *scratch) {
    const int n = f->n, m = f->m;
    double *z = scratch, *Z = scratch + 2 * (int64_t)m, *t = scratch + 4 * (int64_t)m;
    if (n % 2 == 1) {
        for (int j = 0; j < n; j++) z[2 * j] = x[j], z[2 * j + 1] = 0;
        fft_rec(f, Z, z, m, 1, 0, t);
        memcpy(X, Z, sizeof(double) * 2 * (size_t)(n / 2 + 1));
        return;
    }
    memcpy(z, x, sizeof(double) * (size_t)n); /* x[2j], x[2j + 1] are z[j]'s real and imaginary parts */
    fft_rec(f, Z, z, m, 1, 0, t);
    for (int k = 0; k <= m; k++) {
        const int a = k % m, b = (m - k) % m;
        const double er = 0.5 * (Z[2 * a] + Z[2 * b]), ei = 0.5 * (Z[2 * a + 1] - Z[2 * b + 1]);
        /* O = (Z[a] - conj Z[b]) / 2i */
        const double dr = 0.5 * (Z[2 * a] - Z[2 * b]), di = 0.5 * (Z[2 * a + 1] + Z[2 * b + 1]);
        const double orr = di, oi = -dr;
        double r, i;
        cmul(orr, oi, f->rtw[2 * k], f->rtw[2 * k + 1], &r, &i);
        X[2 * k] = er + r;
        X[2 * k + 1] = ei + i;
    }
}

void dy_rfft_free(dy_rfft *f) {
    if (!f) return;
    free(f->tw);
    free(f->rtw);
    free(f);
}
