/* Training batch norm (+ ReLU) over the global batch of a data-parallel run (sync-bn), for the oneDNN executor, on
 * whatever layout the activations have (nChw16c, nChw8c, nhwc, nchw after convolutions; [n, c] in the head).
 * oneDNN's primitive cannot sum statistics across processes, so with a graph's bn_sync set every training batch norm
 * runs here instead: three passes forward (per-channel sums, reduce; squared deviations, reduce; normalise) and two
 * backward (the two per-channel sums of dx, reduce; dx), the reductions through the graph's callback.
 *
 * Numbers: per channel, float partial sums over one image added in double (as dnnl_bn_blocked.c), so the figures of
 * P processes differ from one process's only in the order of the double additions over images. Threads take tiles
 * (one image, one layout block of channels); the per-image partials are added in image order, so results do not
 * depend on the thread count. Parameter gradients are this
 * process's part (the trainer sums them with the rest); dx uses the global sums. */
#include <math.h>
#include <stdlib.h>

#include "engine/dnnl/dnnl_exec_internal.h"

/* Where element (n, c, h, w) is: off0 + n sn + (c / blk) sb + c % blk + h sh + w sw. */
typedef struct {
    int64_t off0, sn, sb, sh, sw, blk;
} bn_layout;

#define MAX_LANES 64

/* The layouts this file reads: blocked formats with at most one inner block, on the channels. */
static bool layout_of(const dnnl_memory_desc_t *md, bn_layout *l) {
    if (md->format_kind != dnnl_blocked || md->data_type != dnnl_f32 || (md->ndims != 2 && md->ndims != 4))
        return false;
    const dnnl_blocking_desc_t *bd = &md->format_desc.blocking;
    l->blk = 1;
    if (bd->inner_nblks == 1 && bd->inner_idxs[0] == 1) l->blk = bd->inner_blks[0];
    else if (bd->inner_nblks != 0) return false;
    if (l->blk < 1 || l->blk > MAX_LANES) return false;
    l->off0 = md->offset0;
    l->sn = bd->strides[0];
    l->sb = bd->strides[1];
    l->sh = md->ndims == 4 ? bd->strides[2] : 0;
    l->sw = md->ndims == 4 ? bd->strides[3] : 0;
    return true;
}

static bn_layout layout_at(dd_exec *e, int32_t mem) {
    bn_layout l = {0, 0, 0, 0, 0, 1};
    if (mem >= 0) layout_of(&e->mems[mem]->md, &l);
    return l;
}

static int64_t channel_off(const bn_layout *l, int64_t c) { return (c / l->blk) * l->sb + c % l->blk; }

static dy_status reduce(dd_exec *e, double *buf, int64_t n) {
    const dy_bn_sync *s = e->base.graph->bn_sync;
    return s && s->allreduce ? s->allreduce(s->user, buf, n) : DY_OK;
}

/* Per-image float partial sums of tile (n, channel group) go to part [N][C]: threads take tiles, and the totals add
 * the images' partials in double in image order, so the figures are those of a sequential loop whatever the thread
 * count. */

/* Operands: dd_bn_forward_item's (x, y, mean, var, gamma, beta, running_mean, running_var, num_batches). */
dy_status dd_run_bn_sync_forward(dd_exec *e, const dd_item *it) {
    const dd_bn_forward_item *f = &it->bn_forward;
    const float *x = dd_ptr(e, f->x);
    float *y = dd_ptr(e, f->y), *mean = dd_ptr(e, f->mean), *var = dd_ptr(e, f->var);
    const float *gamma = dd_ptr(e, f->gamma), *beta = dd_ptr(e, f->beta);
    float *rmean = dd_ptr(e, f->running_mean), *rvar = dd_ptr(e, f->running_var);
    float *batches = dd_ptr(e, f->num_batches);
    const dnnl_memory_desc_t *md = &e->mems[f->x]->md;
    const int64_t N = md->dims[0], C = md->dims[1], H = md->ndims == 4 ? md->dims[2] : 1,
                  W = md->ndims == 4 ? md->dims[3] : 1;
    const bn_layout lx = layout_at(e, f->x), ly = layout_at(e, f->y);
    const int64_t G = lx.blk, CG = (C + G - 1) / G;
    const bool relu = f->relu;
    const float eps = f->eps, momentum = f->momentum;
    const int threads = e->base.ctx->threads;
    double *buf = malloc(sizeof(double) * (size_t)(2 * C + 1)); /* [C] sums, [1] count, [C] squared deviations */
    float *m = malloc(sizeof(float) * (size_t)(3 * C)), *part = malloc(sizeof(float) * (size_t)(N * C));
    if (!buf || !m || !part) {
        free(buf), free(m), free(part);
        return dy_fail(e->base.ctx, DY_ERR_NOMEM, "batch norm (sync-bn): out of memory");
    }
    float *scale = m + C, *shift = scale + C;
    double *sum = buf, *sq = buf + C + 1;
#pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t cg = 0; cg < CG; cg++) {
            const int64_t c0 = cg * G, L = C - c0 < G ? C - c0 : G;
            int64_t cx[MAX_LANES];
            float p[MAX_LANES] = {0}; /* float partials over one image, summed in double */
            for (int64_t l = 0; l < L; l++) cx[l] = channel_off(&lx, c0 + l);
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) {
                    const float *xp = x + lx.off0 + n * lx.sn + h * lx.sh + w * lx.sw;
                    for (int64_t l = 0; l < L; l++) p[l] += xp[cx[l]];
                }
            for (int64_t l = 0; l < L; l++) part[n * C + c0 + l] = p[l];
        }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++) s += part[n * C + c];
        sum[c] = s;
    }
    sum[C] = (double)N * (double)(H * W);
    dy_status st = reduce(e, sum, C + 1);
    const double count = sum[C];
    for (int64_t c = 0; c < C; c++) m[c] = (float)(sum[c] / count);
#pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t cg = 0; cg < CG; cg++) {
            const int64_t c0 = cg * G, L = C - c0 < G ? C - c0 : G;
            int64_t cx[MAX_LANES];
            float p[MAX_LANES] = {0};
            for (int64_t l = 0; l < L; l++) cx[l] = channel_off(&lx, c0 + l);
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) {
                    const float *xp = x + lx.off0 + n * lx.sn + h * lx.sh + w * lx.sw;
                    for (int64_t l = 0; l < L; l++) {
                        float d = xp[cx[l]] - m[c0 + l];
                        p[l] += d * d;
                    }
                }
            for (int64_t l = 0; l < L; l++) part[n * C + c0 + l] = p[l];
        }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        double q = 0;
        for (int64_t n = 0; n < N; n++) q += part[n * C + c];
        sq[c] = q;
    }
    if (st == DY_OK) st = reduce(e, sq, C);
    if (st != DY_OK) {
        free(buf), free(m), free(part);
        return st;
    }
    for (int64_t c = 0; c < C; c++) {
        const double v = sq[c] / count;
        const float rstd = (float)(1.0 / sqrt(v + (double)eps));
        mean[c] = m[c];
        var[c] = (float)v;
        scale[c] = (gamma ? gamma[c] : 1.0f) * rstd;
        shift[c] = (beta ? beta[c] : 0.0f) - m[c] * scale[c];
        if (rmean) {
            const float mo = momentum;
            rmean[c] = (1.0f - mo) * rmean[c] + mo * m[c];
            rvar[c] = (1.0f - mo) * rvar[c] + mo * (float)(count > 1 ? sq[c] / (count - 1) : v);
        }
    }
#pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t cg = 0; cg < CG; cg++) {
            const int64_t c0 = cg * G, L = C - c0 < G ? C - c0 : G;
            int64_t cx[MAX_LANES], cy[MAX_LANES];
            for (int64_t l = 0; l < L; l++) cx[l] = channel_off(&lx, c0 + l), cy[l] = channel_off(&ly, c0 + l);
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) {
                    const float *xp = x + lx.off0 + n * lx.sn + h * lx.sh + w * lx.sw;
                    float *yp = y + ly.off0 + n * ly.sn + h * ly.sh + w * ly.sw;
                    for (int64_t l = 0; l < L; l++) {
                        float v = xp[cx[l]] * scale[c0 + l] + shift[c0 + l];
                        yp[cy[l]] = relu && v < 0.0f ? 0.0f : v;
                    }
                }
        }
    if (batches) batches[0] += 1.0f;
    free(buf), free(m), free(part);
    return DY_OK;
}

/* Operands: dd_bn_backward_item's (x, y: the fused ReLU's output or absent, dy, dx: may be dy's memory, mean, var,
 * gamma, dgamma, dbeta). dx = gamma rstd (g - sum(g) / count - xhat sum(g xhat) / count), g = dy masked by y > 0,
 * with the sums and count of the global batch. */
dy_status dd_run_bn_sync_backward(dd_exec *e, const dd_item *it) {
    const dd_bn_backward_item *bw = &it->bn_backward;
    const float *x = dd_ptr(e, bw->x), *y = dd_ptr(e, bw->y), *dy = dd_ptr(e, bw->dy);
    float *dx = dd_ptr(e, bw->dx);
    const float *mean = dd_ptr(e, bw->mean), *var = dd_ptr(e, bw->var);
    const float *gamma = dd_ptr(e, bw->gamma);
    float *dgamma = dd_ptr(e, bw->dgamma), *dbeta = dd_ptr(e, bw->dbeta);
    const dnnl_memory_desc_t *md = &e->mems[bw->x]->md;
    const int64_t N = md->dims[0], C = md->dims[1], H = md->ndims == 4 ? md->dims[2] : 1,
                  W = md->ndims == 4 ? md->dims[3] : 1;
    const bn_layout lx = layout_at(e, bw->x), ly = layout_at(e, bw->y), ld = layout_at(e, bw->dy),
                    ldx = layout_at(e, bw->dx);
    const float eps = bw->eps;
    const int threads = e->base.ctx->threads;
    const int64_t G = lx.blk, CG = (C + G - 1) / G;
    double *buf = malloc(sizeof(double) * (size_t)(2 * C + 1)); /* [C] sum g, [C] sum g (x - mean), [1] count */
    float *part = malloc(sizeof(float) * (size_t)(2 * N * C)), *k = malloc(sizeof(float) * (size_t)(3 * C));
    if (!buf || !part || !k) {
        free(buf), free(part), free(k);
        return dy_fail(e->base.ctx, DY_ERR_NOMEM, "batch norm (sync-bn): out of memory");
    }
    float *pg = part, *pgx = part + N * C; /* [N][C] per-image partials */
    float *k1 = k, *k2 = k + C, *k3 = k + 2 * C;
#pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t cg = 0; cg < CG; cg++) {
            const int64_t c0 = cg * G, L = C - c0 < G ? C - c0 : G;
            int64_t cx[MAX_LANES], cy[MAX_LANES], cd[MAX_LANES];
            float sg[MAX_LANES] = {0}, sgx[MAX_LANES] = {0};
            for (int64_t l = 0; l < L; l++) {
                cx[l] = channel_off(&lx, c0 + l);
                cy[l] = channel_off(&ly, c0 + l);
                cd[l] = channel_off(&ld, c0 + l);
            }
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) {
                    const float *xp = x + lx.off0 + n * lx.sn + h * lx.sh + w * lx.sw;
                    const float *dp = dy + ld.off0 + n * ld.sn + h * ld.sh + w * ld.sw;
                    const float *yp = y ? y + ly.off0 + n * ly.sn + h * ly.sh + w * ly.sw : NULL;
                    for (int64_t l = 0; l < L; l++) {
                        float g = yp && !(yp[cy[l]] > 0.0f) ? 0.0f : dp[cd[l]];
                        sg[l] += g;
                        sgx[l] += g * (xp[cx[l]] - mean[c0 + l]);
                    }
                }
            for (int64_t l = 0; l < L; l++) pg[n * C + c0 + l] = sg[l], pgx[n * C + c0 + l] = sgx[l];
        }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        double sg = 0, sgx = 0;
        for (int64_t n = 0; n < N; n++) sg += pg[n * C + c], sgx += pgx[n * C + c];
        const float rstd = (float)(1.0 / sqrt((double)var[c] + (double)eps));
        buf[c] = sg;
        buf[C + c] = sgx;
        /* this process's share of the parameter gradients, before the sums become global */
        if (dbeta) dbeta[c] = (float)sg;
        if (dgamma) dgamma[c] = (float)(sgx * rstd);
    }
    buf[2 * C] = (double)N * (double)(H * W);
    dy_status st = reduce(e, buf, 2 * C + 1);
    if (st != DY_OK) {
        free(buf), free(part), free(k);
        return st;
    }
    const double count = buf[2 * C];
    for (int64_t c = 0; c < C; c++) {
        const float rstd = (float)(1.0 / sqrt((double)var[c] + (double)eps));
        const double db = buf[c], dg = buf[C + c] * rstd;
        const float gr = (gamma ? gamma[c] : 1.0f) * rstd;
        k1[c] = gr;
        k2[c] = (float)(gr * db / count);
        k3[c] = (float)(gr * dg / count * rstd);
    }
#pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t cg = 0; cg < CG; cg++) {
            const int64_t c0 = cg * G, L = C - c0 < G ? C - c0 : G;
            int64_t cx[MAX_LANES], cy[MAX_LANES], cd[MAX_LANES], cdx[MAX_LANES];
            for (int64_t l = 0; l < L; l++) {
                const int64_t c = c0 + l;
                cx[l] = channel_off(&lx, c);
                cy[l] = channel_off(&ly, c);
                cd[l] = channel_off(&ld, c);
                cdx[l] = channel_off(&ldx, c);
            }
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) {
                    const float *xp = x + lx.off0 + n * lx.sn + h * lx.sh + w * lx.sw;
                    const float *dp = dy + ld.off0 + n * ld.sn + h * ld.sh + w * ld.sw;
                    const float *yp = y ? y + ly.off0 + n * ly.sn + h * ly.sh + w * ly.sw : NULL;
                    float *dxp = dx + ldx.off0 + n * ldx.sn + h * ldx.sh + w * ldx.sw;
                    for (int64_t l = 0; l < L; l++) {
                        const int64_t c = c0 + l;
                        float g = yp && !(yp[cy[l]] > 0.0f) ? 0.0f : dp[cd[l]];
                        dxp[cdx[l]] = k1[c] * g - k2[c] - k3[c] * (xp[cx[l]] - mean[c]);
                    }
                }
        }
    free(buf), free(part), free(k);
    return DY_OK;
}

/* ---- building: the layouts these kernels read ------------------------------------------------------------------ */

dy_status dd_bn_sync_check_layout(dd_builder *b, int32_t mem, const char *what) {
    bn_layout l;
    if (mem >= 0 && !layout_of(dd_md(b, mem), &l))
        return dy_fail(b->ctx, DY_ERR_UNSUPPORTED, "oneDNN executor: batch norm %s with sync-bn: the %s has a layout "
                       "this build cannot read", b->g->nodes[b->node].name, what);
    return DY_OK;
}
