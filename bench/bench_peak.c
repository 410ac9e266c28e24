/* The physical limit of this CPU's arithmetic, measured: multiply-add throughput of each instruction family the
 * training step can use, on every core (OpenMP threads, one per core by default), in GFLOP/s (a multiply-add counts
 * 2). Each thread runs a register-only loop of independent accumulators (no memory traffic), long enough that the
 * clock settles; the best of 5 runs counts. The families, each run only where the CPU has it (else a line says so):
 *   fp32 AVX2 FMA      vfmadd231ps ymm: 8 lanes
 *   fp32 AVX-512 FMA   vfmadd231ps zmm: 16 lanes
 *   bf16 AVX512-BF16   vdpbf16ps zmm: 16 lanes x 2 products (what oneDNN's avx512_core_bf16 kernels use)
 *   bf16 AMX           tdpbf16ps: one 16x32 by 32x16 tile product, 8192 multiply-adds per instruction (Intel
 *                      Sapphire Rapids and later; Linux must grant the tile state: arch_prctl ARCH_REQ_XCOMP_PERM)
 * These are the ceilings docs/PERFORMANCE.md sets the training step's GFLOP/s against. Usage: bench_peak [seconds per
 * run, default 0.5]. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/context.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

enum { ACC = 12 };  /* independent accumulators: more than latency x throughput of an FMA (4 x 2) */
#define INNER 1000  /* instructions per accumulator between clock reads */

/* Each kernel runs `rounds` rounds of INNER x ACC instructions and returns a value that depends on every result
 * (so that nothing is optimised away). */
__attribute__((target("avx2,fma"))) static float fma_avx2(long rounds) {
    __m256 acc[ACC], a = _mm256_set1_ps(1.0f - 1e-7f), b = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < ACC; k++) acc[k] = _mm256_set1_ps((float)k);
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < INNER; i++)
            for (int k = 0; k < ACC; k++) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
    float out = 0, lane[8];
    for (int k = 0; k < ACC; k++) _mm256_storeu_ps(lane, acc[k]), out += lane[0];
    return out;
}

__attribute__((target("avx512f"))) static float fma_avx512(long rounds) {
    __m512 acc[ACC], a = _mm512_set1_ps(1.0f - 1e-7f), b = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < ACC; k++) acc[k] = _mm512_set1_ps((float)k);
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < INNER; i++)
            for (int k = 0; k < ACC; k++) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
    float out = 0;
    for (int k = 0; k < ACC; k++) out += _mm512_reduce_add_ps(acc[k]);
    return out;
}

__attribute__((target("avx512f,avx512bf16"))) static float dp_bf16(long rounds) {
    __m512 acc[ACC];
    const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380); /* 1, ~6e-8 */
    for (int k = 0; k < ACC; k++) acc[k] = _mm512_set1_ps((float)k);
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < INNER; i++)
            for (int k = 0; k < ACC; k++) acc[k] = _mm512_dpbf16_ps(acc[k], a, b);
    float out = 0;
    for (int k = 0; k < ACC; k++) out += _mm512_reduce_add_ps(acc[k]);
    return out;
}

/* AMX: the tile state must be granted to the process first (Linux 5.16+). */
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int amx_request(void) { return (int)syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA); }

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* Tiles 0-3: four 16x16 fp32 accumulators; 4, 5: the 16x32 bf16 A and the 32x16 (16 rows of pairs) bf16 B. Four
 * independent products per round keep the unit busy. */
__attribute__((target("amx-tile,amx-bf16"))) static float dp_amx(long rounds) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 6; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
    _tile_loadconfig(&cfg);
    static uint16_t ab[16 * 32] __attribute__((aligned(64)));
    for (int i = 0; i < 16 * 32; i++) ab[i] = 0x3380;
    float c[16 * 16] __attribute__((aligned(64)));
    memset(c, 0, sizeof c);
    _tile_loadd(0, c, 64);
    _tile_loadd(1, c, 64);
    _tile_loadd(2, c, 64);
    _tile_loadd(3, c, 64);
    _tile_loadd(4, ab, 64);
    _tile_loadd(5, ab, 64);
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < INNER / 4; i++) {
            _tile_dpbf16ps(0, 4, 5);
            _tile_dpbf16ps(1, 4, 5);
            _tile_dpbf16ps(2, 4, 5);
            _tile_dpbf16ps(3, 4, 5);
        }
    _tile_stored(0, c, 64);
    _tile_release();
    return c[0];
}

typedef float kernel_fn(long rounds);

/* GFLOP/s of kernel over every thread: flops_per_round per thread per round; the best of 5 runs of about
 * `seconds` each. */
static double measure(kernel_fn *kernel, double flops_per_round, double seconds, int threads) {
    long rounds = 1;
    double t0 = now_s();
    volatile float sink = kernel(rounds); /* calibrate on one thread */
    const double once = now_s() - t0;
    rounds = (long)(seconds / (once > 1e-6 ? once : 1e-6));
    if (rounds < 1) rounds = 1;
    double best = 0;
    for (int run = 0; run < 5; run++) {
        t0 = now_s();
#pragma omp parallel num_threads(threads)
        sink += kernel(rounds);
        const double t = now_s() - t0, gflops = flops_per_round * (double)rounds * threads / t * 1e-9;
        if (gflops > best) best = gflops;
    }
    (void)sink;
    return best;
}

int main(int argc, char **argv) {
    const double seconds = argc > 1 ? atof(argv[1]) : 0.5;
    const int threads = omp_get_max_threads();
    char cpu[256], flags[256];
    dy_cpu_describe(cpu, sizeof cpu, flags, sizeof flags);
    printf("CPU: %s (flags: %s); %d threads; best of 5 runs of about %.1f s\n", cpu, flags, threads, seconds);
    __builtin_cpu_init();
    const double per_round = (double)INNER * ACC;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        printf("peak fp32 AVX2 FMA (ymm)        %8.1f GFLOP/s\n", measure(fma_avx2, per_round * 8 * 2, seconds, threads));
    else
        printf("peak fp32 AVX2 FMA (ymm)        not on this CPU\n");
    if (__builtin_cpu_supports("avx512f"))
        printf("peak fp32 AVX-512 FMA (zmm)     %8.1f GFLOP/s\n",
               measure(fma_avx512, per_round * 16 * 2, seconds, threads));
    else
        printf("peak fp32 AVX-512 FMA (zmm)     not on this CPU\n");
    if (strstr(flags, "avx512_bf16"))
        printf("peak bf16 AVX512-BF16 (vdpbf16ps) %6.1f GFLOP/s\n",
               measure(dp_bf16, per_round * 32 * 2, seconds, threads));
    else
        printf("peak bf16 AVX512-BF16 (vdpbf16ps) not on this CPU\n");
    if (strstr(flags, "amx_bf16") && strstr(flags, "amx_tile")) {
        if (amx_request() != 0)
            printf("peak bf16 AMX (tdpbf16ps)       the kernel refused the tile state (arch_prctl)\n");
        else
            printf("peak bf16 AMX (tdpbf16ps)       %8.1f GFLOP/s\n",
                   measure(dp_amx, (double)(INNER / 4) * 4 * 8192 * 2, seconds, threads));
    } else {
        printf("peak bf16 AMX (tdpbf16ps)       not on this CPU (no amx_bf16/amx_tile): not measured here\n");
    }
    return 0;
}
