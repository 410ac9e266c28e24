#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rd(FILE *fp, void *p, size_t n) { return fread(p, 1, n, fp) == n; }

fx_file *fx_load(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fixture %s: cannot open (run tools/make_fixtures.sh?)\n", path);
        return NULL;
    }
    char magic[8];
    uint32_t count;
    fx_file *f = calloc(1, sizeof *f);
    if (!rd(fp, magic, 8) || memcmp(magic, "DYFX0001", 8) || !rd(fp, &count, 4) || count > 100000) goto bad;
    f->tensors = calloc(count ? count : 1, sizeof *f->tensors);
    for (uint32_t i = 0; i < count; i++) {
        fx_tensor *t = &f->tensors[i];
        uint32_t len, dtype, ndim;
        if (!rd(fp, &len, 4) || len > 4096) goto bad;
        t->name = calloc(len + 1, 1);
        f->count = (int)i + 1;
        if (!rd(fp, t->name, len) || !rd(fp, &dtype, 4) || !rd(fp, &ndim, 4) || dtype > 1 || ndim > 8) goto bad;
        t->dtype = (int)dtype;
        t->ndim = (int)ndim;
        t->numel = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            if (!rd(fp, &t->dims[d], 8) || t->dims[d] < 0) goto bad;
            t->numel *= t->dims[d];
        }
        size_t bytes = (size_t)t->numel * (dtype ? 8 : 4);
        t->data = malloc(bytes ? bytes : 8);
        if (!rd(fp, t->data, bytes)) goto bad;
    }
    fclose(fp);
    return f;
bad:
    fprintf(stderr, "fixture %s: malformed\n", path);
    fclose(fp);
    fx_free(f);
    return NULL;
}

void fx_free(fx_file *f) {
    if (!f) return;
    for (int i = 0; i < f->count; i++) {
        free(f->tensors[i].name);
        free(f->tensors[i].data);
    }
    free(f->tensors);
    free(f);
}

const fx_tensor *fx_get(const fx_file *f, const char *name) {
    for (int i = 0; f && i < f->count; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    fprintf(stderr, "fixture: no tensor '%s'\n", name);
    return NULL;
}

const float *fx_f32(const fx_file *f, const char *name, int64_t *numel) {
    const fx_tensor *t = fx_get(f, name);
    if (!t || t->dtype != 0) return NULL;
    if (numel) *numel = t->numel;
    return t->data;
}

double fx_scalar(const fx_file *f, const char *name) {
    const float *p = fx_f32(f, name, NULL);
    return p ? p[0] : NAN;
}
