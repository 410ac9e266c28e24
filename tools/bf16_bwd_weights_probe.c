/* A probe, not part of the build or the tests: the bf16 weight gradients of ResNet-18's 3x3 stride-1 convolutions
 * at width 64, batch 256 (stages of 64..512 channels at 32x32..4x4), timed two ways: oneDNN 2.6's backward-weights
 * convolution (nChw16c bf16 in, f32 gradient out, as the executor runs it) against im2col + oneDNN's bf16 matmul
 * computing the same sum (dW^T[9c, c] = im2col(X)^T dY), the im2col timed apart. Median of 5 after 2 warm-ups.
 * docs/PERFORMANCE.md ("Where the bf16 step goes at width 64") quotes its figures.
 *
 *     cc -O2 -fopenmp -o /tmp/bwdw tools/bf16_bwd_weights_probe.c -ldnnl && OMP_NUM_THREADS=2 /tmp/bwdw */
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define CK(x) do { dnnl_status_t s_ = (x); if (s_ != dnnl_success) { fprintf(stderr, "%s: %d\n", #x, s_); exit(1);} } while (0)
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
static dnnl_engine_t eng; static dnnl_stream_t st;
static double timeit(dnnl_primitive_t p, int nargs, dnnl_exec_arg_t *args) {
    double t[7];
    for (int i = 0; i < 7; i++) { double t0 = now(); CK(dnnl_primitive_execute(p, st, nargs, args)); CK(dnnl_stream_wait(st)); t[i] = now() - t0; }
    qsort(t + 2, 5, sizeof(double), cmp); return t[4];
}
static dnnl_memory_t mem(const dnnl_memory_desc_t *md) { dnnl_memory_t m; CK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
    void *h; CK(dnnl_memory_get_data_handle(m, &h)); memset(h, 0x3c, dnnl_memory_desc_get_size(md)); return m; }
int main(void) {
    CK(dnnl_engine_create(&eng, dnnl_cpu, 0)); CK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
    int C[4] = {64, 128, 256, 512}, S[4] = {32, 16, 8, 4}; const int N = 256;
    for (int l = 0; l < 4; l++) {
        int c = C[l], s = S[l];
        dnnl_dims_t xd = {N, c, s, s}, wd = {c, c, 3, 3}, st1 = {1, 1}, pd1 = {1, 1};
        dnnl_memory_desc_t x16, w_any, wf, y16, xany, yany;
        CK(dnnl_memory_desc_init_by_tag(&x16, 4, xd, dnnl_bf16, dnnl_aBcd16b));
        CK(dnnl_memory_desc_init_by_tag(&y16, 4, xd, dnnl_bf16, dnnl_aBcd16b));
        CK(dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_bf16, dnnl_format_tag_any));
        CK(dnnl_memory_desc_init_by_tag(&wf, 4, wd, dnnl_f32, dnnl_format_tag_any));
        (void)xany; (void)yany;
        dnnl_convolution_desc_t fd, bd; dnnl_primitive_desc_t fpd, bpd;
        CK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &x16, &w_any, NULL, &y16, st1, pd1, pd1));
        CK(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
        CK(dnnl_convolution_backward_weights_desc_init(&bd, dnnl_convolution_direct, &x16, &wf, NULL, &y16, st1, pd1, pd1));
        CK(dnnl_primitive_desc_create(&bpd, &bd, NULL, eng, fpd));
        dnnl_primitive_t bp; CK(dnnl_primitive_create(&bp, bpd));
        const dnnl_memory_desc_t *dwmd = dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_weights_md, 0);
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(bpd, dnnl_query_scratchpad_md, 0);
        dnnl_memory_t X = mem(&x16), DY = mem(&y16), DW = mem(dwmd), SP = smd ? mem(smd) : NULL;
        dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, X}, {DNNL_ARG_DIFF_DST, DY}, {DNNL_ARG_DIFF_WEIGHTS, DW}, {DNNL_ARG_SCRATCHPAD, SP}};
        double tc = timeit(bp, SP ? 4 : 3, a);
        /* matmul: dW^T[9c, c] = im2col^T [9c, NHW] x dY [NHW, c]; A given transposed by strides (im2col stored [NHW, 9c]) */
        long K = (long)N * s * s, M = 9L * c, Nn = c;
        dnnl_dims_t ad = {M, K}, as = {1, M}, bd2 = {K, Nn}, cd = {M, Nn};
        dnnl_memory_desc_t amd, bmd, cmd;
        CK(dnnl_memory_desc_init_by_strides(&amd, 2, ad, dnnl_bf16, as));
        CK(dnnl_memory_desc_init_by_tag(&bmd, 2, bd2, dnnl_bf16, dnnl_ab));
        CK(dnnl_memory_desc_init_by_tag(&cmd, 2, cd, dnnl_f32, dnnl_ab));
        dnnl_matmul_desc_t md; dnnl_primitive_desc_t mpd; dnnl_primitive_t mp;
        CK(dnnl_matmul_desc_init(&md, &amd, &bmd, NULL, &cmd));
        CK(dnnl_primitive_desc_create(&mpd, &md, NULL, eng, NULL)); CK(dnnl_primitive_create(&mp, mpd));
        const char *impl = NULL; CK(dnnl_primitive_desc_query(mpd, dnnl_query_impl_info_str, 0, &impl));
        const dnnl_memory_desc_t *msp = dnnl_primitive_desc_query_md(mpd, dnnl_query_scratchpad_md, 0);
        dnnl_memory_t A = mem(&amd), B = mem(&bmd), Cm = mem(&cmd), MS = msp && msp->ndims ? mem(msp) : NULL;
        dnnl_exec_arg_t b[4] = {{DNNL_ARG_SRC, A}, {DNNL_ARG_WEIGHTS, B}, {DNNL_ARG_DST, Cm}, {DNNL_ARG_SCRATCHPAD, MS}};
        double tm = timeit(mp, MS ? 4 : 3, b);
        /* im2col from nhwc bf16 (uint16) into [NHW, 9c], plain C one thread per half */
        unsigned short *xin = malloc((size_t)N * s * s * c * 2), *col = malloc((size_t)K * M * 2);
        memset(xin, 1, (size_t)N * s * s * c * 2);
        double ti[5];
        for (int r = 0; r < 5; r++) {
            double t0 = now();
            #pragma omp parallel for num_threads(2)
            for (long p = 0; p < K; p++) {
                int n = p / (s * s), h = (p / s) % s, w = p % s;
                unsigned short *o = col + p * M;
                for (int kh = 0; kh < 3; kh++) for (int kw = 0; kw < 3; kw++, o += c) {
                    int hh = h + kh - 1, ww = w + kw - 1;
                    if (hh < 0 || hh >= s || ww < 0 || ww >= s) memset(o, 0, (size_t)c * 2);
                    else memcpy(o, xin + (((long)n * s + hh) * s + ww) * c, (size_t)c * 2);
                }
            }
            ti[r] = now() - t0;
        }
        qsort(ti, 5, sizeof(double), cmp);
        double gf = 2.0 * N * s * s * c * c * 9 * 1e-9;
        printf("%3dch %2dx%-2d  conv bwd_w %6.1f ms (%4.0f GFLOP/s)  matmul %-24s %6.1f ms (%4.0f GFLOP/s)  im2col %5.1f ms (%4.0f MB)\n",
               c, s, s, tc * 1e3, gf / tc, impl, tm * 1e3, gf / tm, ti[2] * 1e3, K * M * 2e-6);
        fflush(stdout);
        free(xin), free(col);
    }
    return 0;
}
