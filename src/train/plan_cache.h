/* The plan tuner's cache (plan_cache.c): one small text file per machine, oneDNN, model, batch, threads and
 * candidate set, under the user's cache folder. */
#ifndef DY_TRAIN_PLAN_CACHE_H
#define DY_TRAIN_PLAN_CACHE_H

#include "dystress.h"

/* The key: the CPU (model name, the ISA flags that decide kernels), oneDNN's version and effective ISA, the model,
 * the batch and image size, the thread count and the candidates (out->timings[].plan, out->count). */
void dy_plan_cache_key(dy_ctx *ctx, const dy_plan_request *rq, const dy_plan_result *out, char *key, size_t size);
/* Fills out's timings from the cache file of key and sets out->from_cache, when a well-formed file for exactly this
 * key and these candidates is there; otherwise leaves them and says why in out->cache_note (nothing when there is
 * simply no file yet). out->cache_path is set either way. */
void dy_plan_cache_read(dy_ctx *ctx, const char *dir, const char *key, dy_plan_result *out);
/* Writes out's timings under key (atomically, creating the folder); a failure is noted in out->cache_note. */
void dy_plan_cache_write(dy_ctx *ctx, const char *dir, const char *key, dy_plan_result *out);

#endif
