/* The "dystress.*" safetensors metadata of an encoder: architecture and input normalisation (encoder_meta.h). */
#include "model/encoder_meta.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"

dy_encoder_meta dy_encoder_meta_of_model(const dy_model *m) {
    const dy_model_config *c = dy_model_get_config(m);
    return (dy_encoder_meta){.depth = c->depth, .width = c->width, .in_channels = c->in_channels, .stem = c->stem,
                             .dims = c->dims, .feature_dim = dy_model_feature_dim(m)};
}

void dy_encoder_meta_set_input(dy_encoder_meta *e, const dy_augment *a) {
    e->has_input = true;
    e->image_size[0] = a->size[0];
    e->image_size[1] = a->size[1];
    for (int c = 0; c < 3; c++) {
        e->mean[c] = a->normalize ? a->mean[c] : 0.0f;
        e->std[c] = a->normalize ? a->std[c] : 1.0f;
    }
}

static void add(dy_encoder_meta_text *t, const char *key, const char *value) {
    int64_t i = t->count++;
    snprintf(t->keys[i], sizeof t->keys[i], "dystress.%s", key);
    snprintf(t->values[i], sizeof t->values[i], "%s", value);
    t->items[i] = (dy_st_meta){.key = t->keys[i], .value = t->values[i]};
}

/* n floats, comma-separated, each with the digits that read back as the same float */
static void floats_text(char *buf, size_t size, const float *v, int64_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (int64_t i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, i ? ",%.9g" : "%.9g", (double)v[i]);
}

void dy_encoder_meta_format(const dy_encoder_meta *e, dy_encoder_meta_text *out) {
    memset(out, 0, sizeof *out);
    char v[96];
    snprintf(v, sizeof v, "%d", DY_ENCODER_META_VERSION);
    add(out, "format_version", v);
    snprintf(v, sizeof v, "%d", e->depth);
    add(out, "depth", v);
    snprintf(v, sizeof v, "%lld", (long long)e->width);
    add(out, "width", v);
    snprintf(v, sizeof v, "%lld", (long long)e->in_channels);
    add(out, "in_channels", v);
    add(out, "stem", e->stem == DY_STEM_IMAGENET ? "imagenet" : "cifar");
    snprintf(v, sizeof v, "%lld", (long long)e->feature_dim);
    add(out, "feature_dim", v);
    if (e->dims == DY_DIMS_1D) add(out, "dims", "1"); /* image encoders' files stay as they were */
    if (!e->has_input) return;
    if (e->image_size[0] == e->image_size[1]) snprintf(v, sizeof v, "%lld", (long long)e->image_size[0]);
    else snprintf(v, sizeof v, "%lld,%lld", (long long)e->image_size[0], (long long)e->image_size[1]);
    add(out, "image_size", v);
    int64_t n = e->in_channels >= 1 && e->in_channels <= 3 ? e->in_channels : 3;
    floats_text(v, sizeof v, e->mean, n);
    add(out, "mean", v);
    floats_text(v, sizeof v, e->std, n);
    add(out, "std", v);
}

/* Up to max comma-separated numbers (integers when integral); how many, or -1 when the text is not that. */
static int parse_numbers(const char *s, double *v, int max, bool integral) {
    int n = 0;
    for (const char *p = s;; p++) {
        char *end;
        errno = 0;
        double x = strtod(p, &end);
        if (end == p || errno || !isfinite(x) || n == max || (integral && (x != floor(x) || x < 1 || x > 1e9)))
            return -1;
        v[n++] = x;
        p = end;
        if (!*p) return n;
        if (*p != ',') return -1;
    }
}

static dy_status bad_key(dy_ctx *ctx, const char *what, const char *key, const char *value, const char *want) {
    return dy_fail(ctx, DY_ERR_FORMAT, "%s: metadata %s is \"%s\", expected %s", what, key, value, want);
}

dy_status dy_encoder_meta_read(dy_ctx *ctx, const char *what, const dy_st_file *f, dy_encoder_meta *out,
                               bool *has_arch) {
    memset(out, 0, sizeof *out);
    *has_arch = false;
    static const char *const arch[] = {"dystress.depth", "dystress.width", "dystress.in_channels", "dystress.stem",
                                       "dystress.feature_dim"};
    const char *value[5];
    int present = 0;
    for (int i = 0; i < 5; i++) present += (value[i] = dy_st_meta_get(f, arch[i])) != NULL;
    if (present < 5) return DY_OK;
    double v[3];
    if (parse_numbers(value[0], v, 1, true) != 1 || (v[0] != 18 && v[0] != 50))
        return bad_key(ctx, what, arch[0], value[0], "18 or 50");
    out->depth = (int)v[0];
    for (int i = 1; i <= 4; i++) {
        if (i == 3) continue;
        if (parse_numbers(value[i], v, 1, true) != 1)
            return bad_key(ctx, what, arch[i], value[i], "a positive integer");
        if (i == 1) out->width = (int64_t)v[0];
        else if (i == 2) out->in_channels = (int64_t)v[0];
        else out->feature_dim = (int64_t)v[0];
    }
    const char *dims = dy_st_meta_get(f, "dystress.dims");
    if (dims && strcmp(dims, "1") && strcmp(dims, "2")) return bad_key(ctx, what, "dystress.dims", dims, "1 or 2");
    out->dims = dims && !strcmp(dims, "1") ? DY_DIMS_1D : DY_DIMS_2D;
    if (out->dims == DY_DIMS_2D && out->in_channels != 1 && out->in_channels != 3)
        return bad_key(ctx, what, arch[2], value[2], "1 or 3");
    if (!strcmp(value[3], "cifar")) out->stem = DY_STEM_CIFAR;
    else if (!strcmp(value[3], "imagenet")) out->stem = DY_STEM_IMAGENET;
    else return bad_key(ctx, what, arch[3], value[3], "cifar or imagenet");
    *has_arch = true;
    const char *size = dy_st_meta_get(f, "dystress.image_size"), *mean = dy_st_meta_get(f, "dystress.mean"),
               *std = dy_st_meta_get(f, "dystress.std");
    if (!size || !mean || !std) return DY_OK;
    int n = parse_numbers(size, v, 2, true);
    if (n < 1) return bad_key(ctx, what, "dystress.image_size", size, "a side or height,width");
    out->image_size[0] = (int64_t)v[0];
    out->image_size[1] = (int64_t)v[n - 1];
    int channels = (int)out->in_channels;
    if (parse_numbers(mean, v, 3, false) != channels)
        return bad_key(ctx, what, "dystress.mean", mean, "one number per input channel");
    for (int c = 0; c < channels; c++) out->mean[c] = (float)v[c];
    if (parse_numbers(std, v, 3, false) != channels)
        return bad_key(ctx, what, "dystress.std", std, "one positive number per input channel");
    for (int c = 0; c < channels; c++) {
        if (!(v[c] > 0)) return bad_key(ctx, what, "dystress.std", std, "one positive number per input channel");
        out->std[c] = (float)v[c];
    }
    out->has_input = true;
    return DY_OK;
}

dy_status dy_encoder_file_read(dy_ctx *ctx, const char *path, dy_encoder_meta *meta, bool *has_arch,
                               int *in_channels) {
    *in_channels = 0;
    dy_st_file f;
    dy_status st = dy_st_read(ctx, path, &f);
    if (st != DY_OK) return st;
    st = dy_encoder_meta_read(ctx, path, &f, meta, has_arch);
    const dy_st_tensor *c1 = dy_st_find(&f, "conv1.weight");
    *in_channels = c1 && (c1->ndim == 4 || (c1->ndim == 3 && meta->dims == DY_DIMS_1D)) ? (int)c1->shape[1] : 0;
    dy_st_free(&f);
    return st;
}
