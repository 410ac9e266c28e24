/* Philox4x32-10 and the draws built on it. Constants from Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3" (SC 2011). */
#include "core/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void dy_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void dy_rng_init(dy_rng *r, uint64_t seed, uint32_t purpose, uint32_t a, uint32_t b) {
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = purpose;
    r->ctr[2] = a;
    r->ctr[3] = b;
    r->avail = 0;
}

uint32_t dy_rng_u32(dy_rng *r) {
    if (r->avail == 0) {
        dy_philox4x32(r->key, r->ctr, r->buf);
        r->ctr[0]++;
        r->avail = 4;
    }
    return r->buf[4 - r->avail--];
}

float dy_rng_uniform(dy_rng *r) { return (float)(dy_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

double dy_rng_uniform_double(dy_rng *r) {
    uint64_t hi = dy_rng_u32(r) >> 5, lo = dy_rng_u32(r) >> 6; /* 27 + 26 = 53 bits */
    return (double)(hi * 67108864u + lo) * (1.0 / 9007199254740992.0);
}

double dy_rng_range(dy_rng *r, double lo, double hi) { return lo + (hi - lo) * dy_rng_uniform_double(r); }

uint64_t dy_rng_below(dy_rng *r, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t x = ((uint64_t)dy_rng_u32(r) << 32) | dy_rng_u32(r);
        if (x < limit) return x % n;
    }
}

double dy_rng_normal(dy_rng *r) {
    double u1 = dy_rng_uniform_double(r), u2 = dy_rng_uniform_double(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
