/* exp and cos(pi x) for float, written as branch-free polynomials so that loops calling them vectorise (the loss
 * evaluates both for every pair of a 2N x 2N similarity matrix; libm calls would dominate the run time).
 * Both are accurate to a few ulp (tested against libm in tests/test_loss.c) and give the same bits in vector and
 * scalar code (no contraction: the library is compiled as ISO C, -ffp-contract=off). */
#ifndef DY_LOSS_FASTMATH_H
#define DY_LOSS_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__clang__)
/* clang below -O2 (the sanitizer build) does not vectorise and warns on every `omp simd` loop; the loops are
 * correct either way (the pragmas only allow reordering of reductions). */
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

/* exp(x); 0 for x < -87.3 (and for -inf), exp(88.3) for larger x. Cody-Waite reduction x = n ln2 + r,
 * |r| <= ln2/2, and the degree-7 Taylor polynomial of exp(r) (truncation error below 6e-9 relative). */
static inline float dy_fast_exp(float x) {
    const float lo = -87.3f, hi = 88.3f;
    float xc = x < lo ? lo : (x > hi ? hi : x);
    float n = rintf(xc * 1.44269504088896341f);
    float r = xc - n * 0.693359375f;   /* ln2 = 0.693359375 - 2.12194440e-4: n * high part is exact */
    r = r + n * 2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    return x < lo ? 0.0f : y;
}

/* cos(pi x) for |x| < 2^22. Reduce to r in [-1, 1] (period 2), u = |r|, cos(pi u) = -sin(pi (u - 1/2)), and
 * sin(t) for |t| <= pi/2 by its Taylor series to t^13 (truncation error below 7e-10). */
static inline float dy_fast_cospi(float x) {
    float r = x - 2.0f * rintf(0.5f * x);
    float w = fabsf(r) - 0.5f;
    float t = 3.14159265358979324f * w;
    float t2 = t * t;
    float p = 1.0f / 6227020800.0f; /* 1/13! */
    p = p * t2 - 1.0f / 39916800.0f;
    p = p * t2 + 1.0f / 362880.0f;
    p = p * t2 - 1.0f / 5040.0f;
    p = p * t2 + 1.0f / 120.0f;
    p = p * t2 - 1.0f / 6.0f;
    p = p * t2 + 1.0f;
    return -(t * p);
}

#endif
