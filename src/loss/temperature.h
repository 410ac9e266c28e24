/* Temperature profiles inside the library: a profile checked once and turned into coefficients, and the
 * vectorised tau(s) over a block of similarities that the loss kernels use. */
#ifndef DY_LOSS_TEMPERATURE_H
#define DY_LOSS_TEMPERATURE_H

#include "dystress.h"

typedef struct {
    dy_tau_kind kind;
    float tau_min, tau_max;
    float half_range; /* (tau_max - tau_min) / 2 */
    float offset, scale;
} dy_tau_coef;

/* The coefficients of a profile already accepted by dy_tau_check. */
dy_tau_coef dy_tau_coef_of(const dy_tau_profile *p);

/* tau[i] = tau(s[i]) for i < n, float arithmetic (fastmath.h's cos). tau may not alias s. */
void dy_tau_fill(const dy_tau_coef *c, const float *s, float *tau, int64_t n);
/* One value, the same arithmetic as dy_tau_fill (bitwise). */
float dy_tau_one(const dy_tau_coef *c, float s);

#endif
