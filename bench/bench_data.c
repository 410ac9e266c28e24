/* Data pipeline throughput: prepared views per second from the loader (2 worker threads, 2 views per image):
 *   - the paper's small-image recipe at 32x32 on CIFAR-like synthetic data,
 *   - the same at 28x28 on Fashion-MNIST (when /usr/share/datasets/fashion-mnist is installed),
 *   - the ImageNet recipe (224 crops, blur, solarisation) from a JPEG folder written to /tmp (500x375 images, loaded
 *     at 256x256), with the folder's decode rate.
 * Also the single-thread rate of the augmentation alone. Usage: bench_data [seconds per measurement, default 3]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h>

#include "dystress.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Smooth colour images with noise: content-wise closer to photos than uniform noise (matters for nothing here but
 * keeps the crop/jitter paths realistic). */
static void fill_images(uint8_t *px, int64_t n, int c, int h, int w) {
    uint32_t s = 12345;
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < c; k++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    s = s * 1664525u + 1013904223u;
                    int v = (int)((x * (k + 1) * 7 + y * 5 + i * 31) % 256) / 2 + (int)(s >> 26);
                    px[(((size_t)i * c + k) * h + y) * w + x] = (uint8_t)(v > 255 ? 255 : v);
                }
}

/* Runs the loader for about `secs` seconds after one warm-up batch; returns views per second. */
static double loader_rate(dy_ctx *ctx, const dy_dataset *ds, const dy_augment *aug, int64_t batch, int threads,
                          double secs, int64_t *batches_out) {
    dy_loader_options o = dy_loader_defaults();
    o.batch_size = batch;
    o.threads = threads;
    o.seed = 1;
    o.augment = *aug;
    dy_loader *ld;
    if (dy_loader_create(ctx, &ld, ds, &o) != DY_OK) {
        fprintf(stderr, "loader: %s\n", dy_ctx_error(ctx));
        return 0;
    }
    dy_batch b;
    dy_loader_next(ld, &b); /* warm-up: threads started, first batch ready */
    double t0 = now();
    int64_t n = 0;
    volatile float sink = 0;
    while (now() - t0 < secs) {
        dy_loader_next(ld, &b);
        sink += b.images[0];
        n++;
    }
    double dt = now() - t0;
    dy_loader_destroy(ld);
    *batches_out = n;
    return (double)n * batch * o.views / dt;
}

static double single_thread_rate(dy_ctx *ctx, const dy_dataset *ds, const dy_augment *aug, double secs) {
    const size_t per = (size_t)ds->channels * ds->height * ds->width;
    float *dst = malloc(sizeof(float) * ds->channels * aug->size[0] * aug->size[1]);
    double t0 = now();
    int64_t n = 0;
    while (now() - t0 < secs) {
        for (int k = 0; k < 64; k++, n++)
            dy_augment_view(ctx, aug, ds->pixels + (size_t)(n % ds->count) * per, ds->channels, ds->height, ds->width,
                            dst, 1, 0, n % ds->count, (int)(n & 1));
    }
    double r = n / (now() - t0);
    free(dst);
    return r;
}

static int write_jpeg(const char *path, int w, int h, int seed) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w, c.image_height = h, c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * 3);
    uint32_t s = (uint32_t)seed * 2654435761u;
    while (c.next_scanline < c.image_height) {
        int y = (int)c.next_scanline;
        for (int x = 0; x < w; x++) {
            s = s * 1664525u + 1013904223u;
            for (int k = 0; k < 3; k++) row[x * 3 + k] = (uint8_t)((x * (k + 2) + y * 3 + seed * 17) / 3 + (s >> 28));
        }
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
    return 0;
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 3.0;
    dy_ctx *ctx;
    dy_ctx_options co = {.threads = 2, .backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &co) != DY_OK) return 1;
    printf("data pipeline, 2 worker threads, 2 views per image, %.0f s per figure (load average at start: ", secs);
    FILE *la = fopen("/proc/loadavg", "r");
    char lbuf[64] = "?";
    if (la) {
        if (!fgets(lbuf, sizeof lbuf, la)) strcpy(lbuf, "?");
        fclose(la);
    }
    lbuf[strcspn(lbuf, " ")] = 0;
    printf("%s)\n", lbuf);

    /* 1. CIFAR-like 32x32 */
    dy_dataset cifar = {.kind = DY_KIND_CIFAR10, .count = 4096, .channels = 3, .height = 32, .width = 32};
    cifar.pixels = malloc((size_t)cifar.count * 3072);
    cifar.labels = calloc((size_t)cifar.count, sizeof(int32_t));
    fill_images(cifar.pixels, cifar.count, 3, 32, 32);
    dy_augment small;
    dy_augment_preset(ctx, &small, "small", &cifar);
    int64_t nb;
    double r1 = single_thread_rate(ctx, &cifar, &small, secs / 2);
    double r2 = loader_rate(ctx, &cifar, &small, 256, 2, secs, &nb);
    printf("small recipe 32x32x3 (CIFAR-like): %8.0f views/s (loader, %lld batches of 256x2); one thread, augment "
           "only: %8.0f views/s\n",
           r2, (long long)nb, r1);

    /* 2. Fashion-MNIST 28x28 */
    dy_dataset *fm = NULL;
    if (access("/usr/share/datasets/fashion-mnist", R_OK) == 0) {
        double t0 = now();
        if (dy_dataset_load_mnist(ctx, &fm, "/usr/share/datasets/fashion-mnist", DY_SPLIT_TRAIN) == DY_OK) {
            double tl = now() - t0;
            dy_augment fa;
            dy_augment_preset(ctx, &fa, "small", fm);
            double f1 = single_thread_rate(ctx, fm, &fa, secs / 2);
            double f2 = loader_rate(ctx, fm, &fa, 256, 2, secs, &nb);
            printf("small recipe 28x28x1 (Fashion-MNIST): %8.0f views/s (loader); one thread: %8.0f views/s; "
                   "load of 60000 images (gzip IDX): %.2f s\n",
                   f2, f1, tl);
        } else
            printf("Fashion-MNIST: %s\n", dy_ctx_error(ctx));
    } else
        printf("Fashion-MNIST: not installed (skipped)\n");

    /* 3. JPEG folder, ImageNet recipe at 224 */
    const char *dir = "/tmp/dy_bench_jpeg";
    const int nimg = 96, ncls = 4;
    char path[512];
    for (int c = 0; c < ncls; c++) {
        snprintf(path, sizeof path, "%s/class%d", dir, c);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "mkdir -p %s", path);
        if (system(cmd) != 0) return 1;
    }
    for (int i = 0; i < nimg; i++) {
        snprintf(path, sizeof path, "%s/class%d/img%03d.jpg", dir, i % ncls, i);
        if (access(path, R_OK) != 0 && write_jpeg(path, 500, 375, i) != 0) return 1;
    }
    dy_image_folder_options fo = dy_image_folder_defaults();
    fo.size = 256;
    dy_dataset *jf = NULL;
    double t0 = now();
    if (dy_dataset_load_image_folder(ctx, &jf, dir, &fo) != DY_OK) {
        printf("JPEG folder: %s\n", dy_ctx_error(ctx));
        return 1;
    }
    double tl = now() - t0;
    dy_augment in;
    dy_augment_preset(ctx, &in, "imagenet", jf);
    double j1 = single_thread_rate(ctx, jf, &in, secs / 2);
    double j2 = loader_rate(ctx, jf, &in, 32, 2, secs, &nb);
    printf("imagenet recipe 224x224x3 from 256x256 (JPEG folder): %8.1f views/s (loader, batches of 32x2); one "
           "thread: %8.1f views/s\n",
           j2, j1);
    printf("JPEG folder load (500x375 JPEG -> 256x256, DCT 1/1 + antialiased resize, 2 threads): %8.1f images/s\n",
           nimg / tl);
    dy_dataset_free(jf);
    dy_dataset_free(fm);
    free(cifar.pixels);
    free(cifar.labels);
    dy_ctx_destroy(ctx);
    return 0;
}
