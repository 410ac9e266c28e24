/* Strict safetensors reader (format in safetensors.h; the writer is safetensors_write.c). */
#include "io/safetensors.h"
#include "io/read_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/context.h"
#include "io/atomic_file.h"

static const char *const dtype_names[DY_ST_N_DTYPES] = {"BOOL", "U8",  "I8",  "U16", "I16", "F16", "BF16",
                                                        "U32",  "I32", "F32", "U64", "I64", "F64"};
static const size_t dtype_sizes[DY_ST_N_DTYPES] = {1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};

const char *dy_st_dtype_name(dy_st_dtype d) { return (unsigned)d < DY_ST_N_DTYPES ? dtype_names[d] : "?"; }
size_t dy_st_dtype_size(dy_st_dtype d) { return (unsigned)d < DY_ST_N_DTYPES ? dtype_sizes[d] : 0; }

/* ---- a JSON parser for exactly the header's grammar ---- */

typedef struct {
    const char *s;   /* header text */
    size_t n, pos;   /* length, cursor */
    dy_ctx *ctx;
    const char *what;
} json;

static dy_status bad(json *j, const char *problem) {
    return dy_fail(j->ctx, DY_ERR_FORMAT, "%s: corrupt safetensors header at byte %zu: %s", j->what, j->pos, problem);
}

static void skip_ws(json *j) {
    while (j->pos < j->n && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' || j->s[j->pos] == '\n' ||
                             j->s[j->pos] == '\r'))
        j->pos++;
}

static bool eat(json *j, char c) {
    skip_ws(j);
    if (j->pos < j->n && j->s[j->pos] == c) {
        j->pos++;
        return true;
    }
    return false;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(json *j, uint32_t *out) {
    if (j->n - j->pos < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(j->s[j->pos + (size_t)i]);
        if (d < 0) return false;
        v = v * 16 + (uint32_t)d;
    }
    j->pos += 4;
    *out = v;
    return true;
}

/* A JSON string into a new malloc'ed, NUL-terminated buffer (escapes decoded to UTF-8). */
static dy_status parse_string(json *j, char **out) {
    *out = NULL;
    if (!eat(j, '"')) return bad(j, "expected a string");
    /* The decoded string is never longer than the encoded one. */
    size_t start = j->pos, cap = 1;
    while (start + cap - 1 < j->n && j->s[start + cap - 1] != '"') cap += (j->s[start + cap - 1] == '\\') ? 2 : 1;
    char *buf = malloc(cap + 1);
    if (!buf) return dy_fail(j->ctx, DY_ERR_NOMEM, "%s: out of memory reading the header", j->what);
    size_t len = 0;
    for (;;) {
        if (j->pos >= j->n) {
            free(buf);
            return bad(j, "unterminated string");
        }
        unsigned char c = (unsigned char)j->s[j->pos++];
        if (c == '"') break;
        if (c < 0x20) {
            free(buf);
            return bad(j, "control character in a string");
        }
        if (c != '\\') {
            buf[len++] = (char)c;
            continue;
        }
        if (j->pos >= j->n) {
            free(buf);
            return bad(j, "unterminated escape");
        }
        char e = j->s[j->pos++];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != 0 && simple) {
            static const char decoded[] = "\"\\/\b\f\n\r\t";
            buf[len++] = decoded[simple - "\"\\/bfnrt"];
            continue;
        }
        uint32_t cp;
        if (e != 'u' || !read_hex4(j, &cp)) {
            free(buf);
            return bad(j, "bad escape in a string");
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* a surrogate pair */
            uint32_t lo;
            if (j->n - j->pos < 6 || j->s[j->pos] != '\\' || j->s[j->pos + 1] != 'u') {
                free(buf);
                return bad(j, "lone surrogate in a string");
            }
            j->pos += 2;
            if (!read_hex4(j, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                free(buf);
                return bad(j, "bad surrogate pair in a string");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            free(buf);
            return bad(j, "lone surrogate in a string");
        }
        /* \uXXXX takes 6 bytes (12 for a pair) and decodes to at most 4: it fits. */
        if (cp < 0x80) {
            buf[len++] = (char)cp;
        } else if (cp < 0x800) {
            buf[len++] = (char)(0xC0 | (cp >> 6));
            buf[len++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            buf[len++] = (char)(0xE0 | (cp >> 12));
            buf[len++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            buf[len++] = (char)(0x80 | (cp & 0x3F));
        } else {
            buf[len++] = (char)(0xF0 | (cp >> 18));
            buf[len++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            buf[len++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            buf[len++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    buf[len] = 0;
    if (strlen(buf) != len) {
        free(buf);
        return bad(j, "NUL character in a string");
    }
    *out = buf;
    return DY_OK;
}

/* A non-negative integer without sign, fraction or exponent, at most 2^53. */
static dy_status parse_uint(json *j, uint64_t *out) {
    skip_ws(j);
    size_t start = j->pos;
    uint64_t v = 0;
    while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9') {
        v = v * 10 + (uint64_t)(j->s[j->pos] - '0');
        if (v > ((uint64_t)1 << 53)) return bad(j, "integer too large");
        j->pos++;
    }
    if (j->pos == start) return bad(j, "expected a non-negative integer");
    if (j->pos - start > 1 && j->s[start] == '0') return bad(j, "integer with a leading zero");
    if (j->pos < j->n && (j->s[j->pos] == '.' || j->s[j->pos] == 'e' || j->s[j->pos] == 'E'))
        return bad(j, "expected an integer, got a fraction or exponent");
    *out = v;
    return DY_OK;
}

/* [int, int, ...] with at most max entries. */
static dy_status parse_uint_array(json *j, uint64_t *vals, int max, int *count) {
    *count = 0;
    if (!eat(j, '[')) return bad(j, "expected an array");
    if (eat(j, ']')) return DY_OK;
    do {
        if (*count == max) return bad(j, "array too long");
        dy_status st = parse_uint(j, &vals[*count]);
        if (st != DY_OK) return st;
        (*count)++;
    } while (eat(j, ','));
    if (!eat(j, ']')) return bad(j, "expected ',' or ']' in an array");
    return DY_OK;
}

/* The checksums of __metadata__ (DY_ST_CRC_KEY + tensor name: 8 hex digits), kept until the tensors are known. */
typedef struct {
    char *name;
    uint32_t crc;
} stored_crc;

typedef struct {
    stored_crc *items;
    int64_t count, cap;
} crc_list;

static void crc_list_free(crc_list *c) {
    for (int64_t i = 0; i < c->count; i++) free(c->items[i].name);
    free(c->items);
    memset(c, 0, sizeof *c);
}

/* value as a CRC-32 written by dy_st_write: exactly 8 hex digits. */
static bool parse_crc(const char *value, uint32_t *crc) {
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        int d = hex_digit(value[i]);
        if (d < 0) return false;
        v = v << 4 | (uint32_t)d;
    }
    *crc = v;
    return value[8] == 0;
}

/* {"key": "value", ...}: the tensors' checksums (DY_ST_CRC_KEY + name) into crcs, every other pair into f->meta. */
static dy_status parse_metadata(json *j, dy_st_file *f, crc_list *crcs) {
    if (!eat(j, '{')) return bad(j, "__metadata__ must be an object");
    if (eat(j, '}')) return DY_OK;
    static const char key[] = DY_ST_CRC_KEY;
    int64_t cap = 0;
    do {
        char *k = NULL, *v = NULL;
        dy_status st = parse_string(j, &k);
        if (st == DY_OK && !eat(j, ':')) st = bad(j, "expected ':' in __metadata__");
        if (st == DY_OK) st = parse_string(j, &v);
        if (st == DY_OK && !strncmp(k, key, sizeof key - 1)) {
            uint32_t crc = 0;
            if (!parse_crc(v, &crc)) {
                st = bad(j, "a tensor checksum in __metadata__ is not 8 hexadecimal digits");
            } else if (crcs->count == crcs->cap) {
                int64_t n = crcs->cap ? 2 * crcs->cap : 64;
                stored_crc *items = realloc(crcs->items, sizeof *items * (size_t)n);
                if (!items) st = dy_fail(j->ctx, DY_ERR_NOMEM, "%s: out of memory reading the header", j->what);
                else crcs->items = items, crcs->cap = n;
            }
            if (st == DY_OK) {
                memmove(k, k + sizeof key - 1, strlen(k) - (sizeof key - 1) + 1); /* the tensor's name */
                crcs->items[crcs->count++] = (stored_crc){k, crc};
                k = NULL;
            }
            free(k);
            free(v);
            if (st != DY_OK) return st;
            continue;
        }
        if (st == DY_OK && f->meta_count == cap) {
            cap = cap ? cap * 2 : 8;
            dy_st_meta *m = realloc(f->meta, sizeof *m * (size_t)cap);
            if (m) f->meta = m;
            else st = dy_fail(j->ctx, DY_ERR_NOMEM, "%s: out of memory reading the header", j->what);
        }
        if (st != DY_OK) {
            free(k);
            free(v);
            return st;
        }
        f->meta[f->meta_count++] = (dy_st_meta){.key = k, .value = v};
    } while (eat(j, ','));
    if (!eat(j, '}')) return bad(j, "expected ',' or '}' in __metadata__");
    return DY_OK;
}

uint32_t dy_st_crc32(const uint8_t *data, size_t n) {
    uLong crc = crc32_z(0L, Z_NULL, 0);
    return (uint32_t)crc32_z(crc, data, n);
}

/* Each stored checksum against its tensor's bytes: a flipped bit inside the data is found here, naming the tensor.
 * A checksum of a tensor the file does not hold is corrupt metadata. */
static dy_status verify_crcs(dy_ctx *ctx, const char *what, const dy_st_file *f, const crc_list *crcs) {
    for (int64_t i = 0; i < crcs->count; i++) {
        const stored_crc *c = &crcs->items[i];
        const dy_st_tensor *t = dy_st_find(f, c->name);
        if (!t)
            return dy_fail(ctx, DY_ERR_FORMAT, "%s: __metadata__ holds a checksum of tensor %s, which the file does "
                           "not have", what, c->name);
        uint32_t got = dy_st_crc32(t->data, t->nbytes);
        if (got != c->crc)
            return dy_fail(ctx, DY_ERR_FORMAT, "%s: tensor %s is corrupt: its %zu data bytes have CRC-32 %08x, the "
                           "file's header stored %08x when it was written (a damaged copy or disk?)", what, t->name,
                           t->nbytes, (unsigned)got, (unsigned)c->crc);
    }
    return DY_OK;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]}, each field exactly once. */
static dy_status parse_tensor(json *j, dy_st_tensor *t, uint64_t offsets[2]) {
    if (!eat(j, '{')) return bad(j, "a tensor entry must be an object");
    bool have_dtype = false, have_shape = false, have_offsets = false;
    do {
        char *key = NULL;
        dy_status st = parse_string(j, &key);
        if (st != DY_OK) return st;
        if (!eat(j, ':')) st = bad(j, "expected ':'");
        if (st == DY_OK && strcmp(key, "dtype") == 0 && !have_dtype) {
            char *d = NULL;
            st = parse_string(j, &d);
            if (st == DY_OK) {
                int found = -1;
                for (int i = 0; i < DY_ST_N_DTYPES; i++)
                    if (strcmp(d, dtype_names[i]) == 0) found = i;
                if (found < 0) st = bad(j, "unknown dtype");
                t->dtype = (dy_st_dtype)found;
            }
            free(d);
            have_dtype = true;
        } else if (st == DY_OK && strcmp(key, "shape") == 0 && !have_shape) {
            uint64_t dims[DY_ST_MAX_DIMS];
            st = parse_uint_array(j, dims, DY_ST_MAX_DIMS, &t->ndim);
            for (int d = 0; st == DY_OK && d < t->ndim; d++) t->shape[d] = (int64_t)dims[d];
            have_shape = true;
        } else if (st == DY_OK && strcmp(key, "data_offsets") == 0 && !have_offsets) {
            int count;
            st = parse_uint_array(j, offsets, 2, &count);
            if (st == DY_OK && count != 2) st = bad(j, "data_offsets needs two integers");
            have_offsets = true;
        } else if (st == DY_OK) {
            st = bad(j, "unknown or repeated field in a tensor entry");
        }
        free(key);
        if (st != DY_OK) return st;
    } while (eat(j, ','));
    if (!eat(j, '}')) return bad(j, "expected ',' or '}' in a tensor entry");
    if (!have_dtype || !have_shape || !have_offsets) return bad(j, "tensor entry lacks dtype, shape or data_offsets");
    return DY_OK;
}

/* qsort has no context argument: the tensors being sorted, per thread (readers may run in several threads). */
static _Thread_local const dy_st_tensor *sort_tensors;

static int by_name_local(const void *a, const void *b) {
    return strcmp(sort_tensors[*(const int64_t *)a].name, sort_tensors[*(const int64_t *)b].name);
}

static dy_status sort_names(dy_ctx *ctx, const char *what, dy_st_file *f) {
    f->by_name = malloc(sizeof *f->by_name * (size_t)(f->count + 1));
    if (!f->by_name) return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", what);
    for (int64_t i = 0; i < f->count; i++) f->by_name[i] = i;
    sort_tensors = f->tensors;
    qsort(f->by_name, (size_t)f->count, sizeof *f->by_name, by_name_local);
    for (int64_t i = 1; i < f->count; i++)
        if (!strcmp(f->tensors[f->by_name[i]].name, f->tensors[f->by_name[i - 1]].name))
            return dy_fail(ctx, DY_ERR_FORMAT, "%s: tensor %s appears twice in the header", what,
                           f->tensors[f->by_name[i]].name);
    return DY_OK;
}

void dy_st_free(dy_st_file *f) {
    if (!f) return;
    for (int64_t i = 0; i < f->count; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (int64_t i = 0; i < f->meta_count; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->meta);
    free(f->by_name);
    free(f->owned);
    memset(f, 0, sizeof *f);
}

static int by_begin(const void *a, const void *b) {
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

dy_status dy_st_parse(dy_ctx *ctx, const char *what, const uint8_t *buf, size_t size, dy_st_file *out) {
    memset(out, 0, sizeof *out);
    crc_list crcs = {0}; /* the checksums __metadata__ holds */
    if (size < 8) return dy_fail(ctx, DY_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file", what, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | buf[i];
    if (n < 2 || n > DY_ST_MAX_HEADER || n > size - 8)
        return dy_fail(ctx, DY_ERR_FORMAT, "%s: safetensors header size %llu does not fit the file of %zu bytes", what,
                       (unsigned long long)n, size);
    json j = {.s = (const char *)buf + 8, .n = (size_t)n, .pos = 0, .ctx = ctx, .what = what};
    const uint8_t *data = buf + 8 + n;
    size_t data_size = size - 8 - (size_t)n;
    int64_t cap = 16;
    uint64_t(*offsets)[2] = malloc(sizeof *offsets * (size_t)cap);
    out->tensors = calloc((size_t)cap, sizeof *out->tensors);
    dy_status st = DY_OK;
    if (!offsets || !out->tensors) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    bool have_metadata = false;
    if (!eat(&j, '{')) {
        st = bad(&j, "the header is not a JSON object");
        goto done;
    }
    if (!eat(&j, '}')) {
        do {
            char *name = NULL;
            if ((st = parse_string(&j, &name)) != DY_OK) goto done;
            if (!eat(&j, ':')) {
                free(name);
                st = bad(&j, "expected ':'");
                goto done;
            }
            if (strcmp(name, "__metadata__") == 0) {
                free(name);
                if (have_metadata) {
                    st = bad(&j, "__metadata__ repeated");
                    goto done;
                }
                have_metadata = true;
                if ((st = parse_metadata(&j, out, &crcs)) != DY_OK) goto done;
                continue;
            }
            if (out->count == cap) {
                cap *= 2;
                void *o = realloc(offsets, sizeof *offsets * (size_t)cap);
                if (o) offsets = o;
                void *t = realloc(out->tensors, sizeof *out->tensors * (size_t)cap);
                if (t) out->tensors = t;
                if (!o || !t) {
                    free(name);
                    st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", what);
                    goto done;
                }
            }
            dy_st_tensor *t = &out->tensors[out->count];
            memset(t, 0, sizeof *t);
            t->name = name;
            out->count++;
            if ((st = parse_tensor(&j, t, offsets[out->count - 1])) != DY_OK) goto done;
        } while (eat(&j, ','));
        if (!eat(&j, '}')) {
            st = bad(&j, "expected ',' or '}' after a tensor entry");
            goto done;
        }
    }
    skip_ws(&j);
    if (j.pos != j.n) {
        st = bad(&j, "text after the header object");
        goto done;
    }
    /* Names are unique: sorted once (O(n log n); a check at each insertion made 100k names take seconds), and the
     * order kept for dy_st_find's binary search. */
    if ((st = sort_names(ctx, what, out)) != DY_OK) goto done;
    /* Sizes and offsets against the data buffer. */
    for (int64_t i = 0; i < out->count; i++) {
        dy_st_tensor *t = &out->tensors[i];
        uint64_t numel = 1;
        bool overflow = false;
        for (int d = 0; d < t->ndim; d++) {
            uint64_t dim = (uint64_t)t->shape[d];
            if (dim != 0 && numel > ((uint64_t)1 << 53) / dim) overflow = true;
            numel *= dim;
        }
        uint64_t begin = offsets[i][0], end = offsets[i][1];
        if (!overflow && begin <= end && end > data_size) {
            st = dy_fail(ctx, DY_ERR_FORMAT, "%s: tensor %s needs data bytes [%llu, %llu) but the file has %zu (truncated?)",
                         what, t->name, (unsigned long long)begin, (unsigned long long)end, data_size);
            goto done;
        }
        if (overflow || end < begin || end - begin != numel * dtype_sizes[t->dtype]) {
            st = dy_fail(ctx, DY_ERR_FORMAT,
                         "%s: tensor %s (%s, %llu elements) has data_offsets [%llu, %llu] in a buffer of %zu bytes",
                         what, t->name, dtype_names[t->dtype], (unsigned long long)numel, (unsigned long long)begin,
                         (unsigned long long)end, data_size);
            goto done;
        }
        t->numel = (int64_t)numel;
        t->nbytes = (size_t)(end - begin);
        t->data = data + begin;
    }
    /* The tensors must tile the buffer: sorted by offset, each starts where the previous ended. */
    uint64_t(*sorted)[2] = malloc(sizeof *sorted * (size_t)(out->count + 1));
    if (!sorted) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    memcpy(sorted, offsets, sizeof *sorted * (size_t)out->count);
    qsort(sorted, (size_t)out->count, sizeof *sorted, by_begin);
    uint64_t covered = 0;
    for (int64_t i = 0; i < out->count && st == DY_OK; i++) {
        if (sorted[i][0] != covered)
            st = dy_fail(ctx, DY_ERR_FORMAT, "%s: tensor data %s at byte %llu of the buffer (expected %llu)", what,
                         sorted[i][0] < covered ? "overlaps" : "leaves a gap", (unsigned long long)sorted[i][0],
                         (unsigned long long)covered);
        covered = sorted[i][1];
    }
    if (st == DY_OK && covered != data_size)
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: tensors cover %llu of the %zu data bytes (truncated or padded file?)",
                     what, (unsigned long long)covered, data_size);
    free(sorted);
    if (st == DY_OK) st = verify_crcs(ctx, what, out, &crcs);
done:
    crc_list_free(&crcs);
    free(offsets);
    if (st != DY_OK) dy_st_free(out);
    return st;
}

/* Reads exactly n bytes at offset from fd into dst; false on an error or an early end. */
dy_status dy_st_read(dy_ctx *ctx, const char *path, dy_st_file *out) {
    memset(out, 0, sizeof *out);
    /* The header's length first, so that a file it cannot describe is refused before the rest is read. */
    uint8_t head[8];
    size_t got;
    uint64_t size;
    dy_status st = dy_read_file_head(ctx, path, head, sizeof head, &got, &size);
    if (st != DY_OK) return st;
    if (size > DY_ST_MAX_FILE)
        return dy_fail(ctx, DY_ERR_FORMAT, "%s is %llu bytes, more than the %llu GiB a safetensors file may have here",
                       path, (unsigned long long)size, (unsigned long long)(DY_ST_MAX_FILE >> 30));
    if (got == sizeof head) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = n << 8 | head[i];
        if (n < 2 || n > DY_ST_MAX_HEADER || n > size - 8)
            return dy_fail(ctx, DY_ERR_FORMAT, "%s: safetensors header size %llu does not fit the file of %llu bytes "
                           "(or is above the %d MB limit)", path, (unsigned long long)n, (unsigned long long)size,
                           DY_ST_MAX_HEADER >> 20);
    }
    uint8_t *buf;
    size_t len;
    if ((st = dy_read_file(ctx, path, &buf, &len, (size_t)DY_ST_MAX_FILE)) != DY_OK) return st;
    if ((st = dy_st_parse(ctx, path, buf, len, out)) != DY_OK) {
        free(buf);
        return st;
    }
    out->owned = buf;
    return DY_OK;
}

const dy_st_tensor *dy_st_find(const dy_st_file *f, const char *name) {
    if (f->by_name) { /* binary search in the name order made by the parser */
        int64_t lo = 0, hi = f->count;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            int c = strcmp(f->tensors[f->by_name[mid]].name, name);
            if (c == 0) return &f->tensors[f->by_name[mid]];
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
        return NULL;
    }
    for (int64_t i = 0; i < f->count; i++)
        if (f->tensors[i].name && strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *dy_st_meta_get(const dy_st_file *f, const char *key) {
    for (int64_t i = 0; i < f->meta_count; i++)
        if (!strcmp(f->meta[i].key, key)) return f->meta[i].value;
    return NULL;
}

dy_status dy_st_check_finite(dy_ctx *ctx, const char *what, const dy_st_tensor *t) {
    size_t size = dy_st_dtype_size(t->dtype);
    int64_t bad = 0, first = -1;
    double first_value = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        const uint8_t *p = t->data + (size_t)i * size;
        bool finite = true;
        double v = 0;
        if (t->dtype == DY_ST_F32) {
            float x;
            memcpy(&x, p, sizeof x);
            finite = isfinite(x);
            v = x;
        } else if (t->dtype == DY_ST_F64) {
            memcpy(&v, p, sizeof v);
            finite = isfinite(v);
        } else if (t->dtype == DY_ST_F16 || t->dtype == DY_ST_BF16) {
            uint16_t h = (uint16_t)(p[0] | p[1] << 8); /* little-endian */
            bool half = t->dtype == DY_ST_F16;
            uint16_t exponent = half ? 0x7c00 : 0x7f80, mantissa = half ? 0x03ff : 0x007f;
            finite = (h & exponent) != exponent;
            v = (h & mantissa) ? NAN : (h & 0x8000) ? -INFINITY : INFINITY; /* used only when not finite */
        } else {
            return DY_OK;
        }
        if (!finite && bad++ == 0) {
            first = i;
            first_value = v;
        }
    }
    if (!bad) return DY_OK;
    return dy_fail(ctx, DY_ERR_NUMERIC, "%s: tensor '%s' holds %s at element %lld (%lld of its %lld values are not "
                   "finite): the file is not usable", what, t->name, isnan(first_value) ? "NaN" : first_value > 0 ?
                   "+Inf" : "-Inf", (long long)first, (long long)bad, (long long)t->numel);
}
