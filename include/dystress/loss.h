/* dystress — loss API. Included by dystress.h. */
#ifndef DYSTRESS_LOSS_H
#define DYSTRESS_LOSS_H
#include "../dystress.h"
#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
