/* Counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 * A stream is named by (seed, purpose, a, b): the same name gives the same numbers on any thread, in any order,
 * so results do not depend on thread count or on where a run was resumed. The data pipeline names its streams
 * (seed, DY_RNG_AUGMENT, epoch, sample * 8 + view); model initialisation uses (seed, DY_RNG_INIT, tensor, 0). */
#ifndef DY_CORE_RNG_H
#define DY_CORE_RNG_H

#include <stdint.h>

enum { DY_RNG_INIT = 1, DY_RNG_SHUFFLE = 2, DY_RNG_AUGMENT = 3, DY_RNG_SUBSET = 4, DY_RNG_EVAL = 5,
       DY_RNG_SHUFFLE_BN = 6 /* MoCo's shuffled batch norm across processes: (seed, this, step, 0) */,
       DY_RNG_HOLDOUT = 7 /* a validation split carved from a training set: (seed, this, 0, 0) */,
       DY_RNG_TUNE = 8 /* the tuner's candidate sample: (seed, this, candidate, 0) */,
       DY_RNG_LABELS = 9 /* a labelled subset for few-label evaluation: (label seed, this, class, 0) */,
       DY_RNG_SPECAUGMENT = 10 /* a spectrogram view's masks: (seed, this, epoch, sample * 8 + view) */ };

typedef struct {
    uint32_t key[2];
    uint32_t ctr[4]; /* ctr[0] counts blocks of 4 draws; ctr[1..3] = purpose, a, b */
    uint32_t buf[4];
    int avail;       /* unread words left in buf */
} dy_rng;

/* One Philox4x32-10 block: out = philox(key, ctr). */
void dy_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]);

void dy_rng_init(dy_rng *r, uint64_t seed, uint32_t purpose, uint32_t a, uint32_t b);
uint32_t dy_rng_u32(dy_rng *r);
/* Uniform in [0, 1) with 24 random bits (float) or 53 (double). */
float dy_rng_uniform(dy_rng *r);
double dy_rng_uniform_double(dy_rng *r);
/* Uniform in [lo, hi). */
double dy_rng_range(dy_rng *r, double lo, double hi);
/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint64_t dy_rng_below(dy_rng *r, uint64_t n);
/* Standard normal (Box–Muller). */
double dy_rng_normal(dy_rng *r);

#endif
