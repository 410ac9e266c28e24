/* dystress — data API. Included by dystress.h. */
#ifndef DYSTRESS_DATA_H
#define DYSTRESS_DATA_H
#include "../dystress.h"
#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
