/* dystress — engine API. Included by dystress.h. */
#ifndef DYSTRESS_ENGINE_H
#define DYSTRESS_ENGINE_H
#include "../dystress.h"
#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
