/* The context, error messages and the counter-based random generator. */
#include "core/context.h"
#include "core/rng.h"
#include "testlib.h"

#include <math.h>
#include <string.h>

static void test_context(void) {
    dy_ctx *ctx = NULL;
    dy_ctx_options o = {.threads = 2, .backend = DY_BACKEND_REF};
    CHECK(dy_ctx_create(&ctx, &o) == DY_OK, "create a reference context");
    if (!ctx) return;
    CHECK(dy_ctx_threads(ctx) == 2, "thread count kept");
    CHECK(dy_ctx_backend(ctx) == DY_BACKEND_REF, "backend kept");
    CHECK(dy_fail(ctx, DY_ERR_INVALID, "bad %s %d", "thing", 7) == DY_ERR_INVALID, "dy_fail returns its status");
    CHECK(strcmp(dy_ctx_error(ctx), "bad thing 7") == 0, "message recorded: %s", dy_ctx_error(ctx));
    dy_ctx_destroy(ctx);
    dy_ctx_options bad = {.threads = -1};
    CHECK(dy_ctx_create(&ctx, &bad) == DY_ERR_INVALID && ctx == NULL, "negative threads refused");
    dy_ctx_options autob = {0};
    CHECK(dy_ctx_create(&ctx, &autob) == DY_OK, "auto backend");
    CHECK(dy_ctx_backend(ctx) == (dy_have_dnnl() ? DY_BACKEND_DNNL : DY_BACKEND_REF), "auto resolves to %s",
          dy_backend_name(dy_ctx_backend(ctx)));
    dy_ctx_destroy(ctx);
}

static void test_philox_known_answer(void) {
    /* Known-answer vectors of Random123 (kat_vectors: philox4x32 10 rounds). */
    uint32_t out[4];
    const uint32_t k0[2] = {0, 0}, c0[4] = {0, 0, 0, 0};
    dy_philox4x32(k0, c0, out);
    CHECK(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu && out[3] == 0x9b00dbd8u,
          "philox4x32-10 zero vector: %08x %08x %08x %08x", out[0], out[1], out[2], out[3]);
    const uint32_t k1[2] = {0xffffffffu, 0xffffffffu}, c1[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
    dy_philox4x32(k1, c1, out);
    CHECK(out[0] == 0x408f276du && out[1] == 0x41c83b0eu && out[2] == 0xa20bc7c6u && out[3] == 0x6d5451fdu,
          "philox4x32-10 ones vector: %08x %08x %08x %08x", out[0], out[1], out[2], out[3]);
}

static void test_rng_draws(void) {
    dy_rng a, b;
    dy_rng_init(&a, 42, DY_RNG_AUGMENT, 3, 17);
    dy_rng_init(&b, 42, DY_RNG_AUGMENT, 3, 17);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= dy_rng_u32(&a) == dy_rng_u32(&b);
    CHECK(same, "same stream name gives the same numbers");
    dy_rng_init(&b, 42, DY_RNG_AUGMENT, 3, 18);
    dy_rng_init(&a, 42, DY_RNG_AUGMENT, 3, 17);
    CHECK(dy_rng_u32(&a) != dy_rng_u32(&b), "different stream names differ");
    double sum = 0, sum2 = 0, nsum = 0, nsum2 = 0;
    int n = 200000, in_range = 1;
    int64_t counts[7] = {0};
    for (int i = 0; i < n; i++) {
        double u = dy_rng_uniform(&a);
        in_range &= u >= 0 && u < 1;
        sum += u;
        sum2 += u * u;
        double z = dy_rng_normal(&a);
        nsum += z;
        nsum2 += z * z;
        counts[dy_rng_below(&a, 7)]++;
    }
    CHECK(in_range, "uniform in [0, 1)");
    CHECK(fabs(sum / n - 0.5) < 0.005 && fabs(sum2 / n - 1.0 / 3) < 0.005, "uniform moments %g %g", sum / n, sum2 / n);
    CHECK(fabs(nsum / n) < 0.01 && fabs(nsum2 / n - 1) < 0.02, "normal moments %g %g", nsum / n, nsum2 / n);
    int fair = 1;
    for (int k = 0; k < 7; k++) fair &= fabs(counts[k] / (double)n - 1.0 / 7) < 0.005;
    CHECK(fair, "dy_rng_below(7) uniform over its range");
}

int main(void) {
    test_context();
    test_philox_known_answer();
    test_rng_draws();
    return test_finish();
}
