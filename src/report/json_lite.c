/* The minimal flat-JSON reader (see json_lite.h). */
#include "report/json_lite.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}

/* The character after the string that starts at p (at its opening quote), or NULL when unterminated. */
static const char *skip_string(const char *p) {
    for (p++; *p && *p != '"'; p++)
        if (*p == '\\' && p[1]) p++;
    return *p == '"' ? p + 1 : NULL;
}

/* The character after the value at p, or NULL on malformed text. */
static const char *skip_value(const char *p) {
    p = skip_ws(p);
    if (*p == '"') return skip_string(p);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (*p) {
            if (*p == '"') {
                if (!(p = skip_string(p))) return NULL;
                continue;
            }
            if (*p == '{' || *p == '[') depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    const char *start = p;
    while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') p++;
    return p > start ? p : NULL;
}

const char *json_lite_find(const char *text, const char *key) {
    if (!text) return NULL;
    const char *p = skip_ws(text);
    if (*p != '{') return NULL;
    p = skip_ws(p + 1);
    size_t klen = strlen(key);
    while (*p == '"') {
        const char *kend = skip_string(p);
        if (!kend) return NULL;
        bool match = (size_t)(kend - p - 2) == klen && !memcmp(p + 1, key, klen);
        p = skip_ws(kend);
        if (*p != ':') return NULL;
        p = skip_ws(p + 1);
        if (match) return p;
        if (!(p = skip_value(p))) return NULL;
        p = skip_ws(p);
        if (*p != ',') return NULL;
        p = skip_ws(p + 1);
    }
    return NULL;
}

bool json_lite_number(const char *value, double *out) {
    if (!value) return false;
    value = skip_ws(value);
    if (!strncmp(value, "true", 4)) {
        *out = 1;
        return true;
    }
    if (!strncmp(value, "false", 5)) {
        *out = 0;
        return true;
    }
    if (!strncmp(value, "NaN", 3) || !strncmp(value, "nan", 3)) { /* printf's spelling of a NaN */
        *out = NAN;
        return true;
    }
    char *end;
    double v = strtod(value, &end);
    if (end == value) return false;
    *out = v;
    return true;
}

/* Unescapes the string at p into buf; returns the character after it or NULL. */
static const char *read_string(const char *p, char *buf, size_t size) {
    if (*p != '"') return NULL;
    size_t n = 0;
    for (p++; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\') {
            p++;
            switch (*p) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 1; i <= 4; i++) {
                    char h = p[i];
                    if (!((h >= '0' && h <= '9') || ((h | 32) >= 'a' && (h | 32) <= 'f'))) return NULL;
                    v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
                }
                p += 4;
                c = v < 0x80 ? (char)v : '?'; /* the run directory's writers escape only control characters */
                break;
            }
            case 0: return NULL;
            default: c = *p; break;
            }
        }
        if (buf && n + 1 < size) buf[n++] = c;
    }
    if (buf && size) buf[n] = 0;
    return *p == '"' ? p + 1 : NULL;
}

bool json_lite_string(const char *value, char *buf, size_t size) {
    if (!value) return false;
    return read_string(skip_ws(value), buf, size) != NULL;
}

int64_t json_lite_numbers(const char *value, double *out, int64_t max) {
    if (!value) return -1;
    const char *p = skip_ws(value);
    if (*p != '[') return -1;
    p = skip_ws(p + 1);
    int64_t n = 0;
    if (*p == ']') return 0;
    for (;;) {
        double v;
        if (!strncmp(p, "null", 4)) v = NAN;
        else if (!json_lite_number(p, &v) || *p == '"') return -1;
        if (n < max) out[n] = v;
        n++;
        if (!(p = skip_value(p))) return -1;
        p = skip_ws(p);
        if (*p == ']') return n;
        if (*p != ',') return -1;
        p = skip_ws(p + 1);
    }
}

int64_t json_lite_strings(const char *value, char *buf, size_t item_size, int64_t max) {
    if (!value) return -1;
    const char *p = skip_ws(value);
    if (*p != '[') return -1;
    p = skip_ws(p + 1);
    int64_t n = 0;
    if (*p == ']') return 0;
    for (;;) {
        if (*p != '"') return -1;
        p = read_string(p, n < max ? buf + (size_t)n * item_size : NULL, item_size);
        if (!p) return -1;
        n++;
        p = skip_ws(p);
        if (*p == ']') return n;
        if (*p != ',') return -1;
        p = skip_ws(p + 1);
    }
}

bool json_lite_next(const char **cursor, char *key, size_t key_size, const char **value) {
    const char *p = *cursor;
    if (!p) return false;
    p = skip_ws(p);
    if (*p == '{') p = skip_ws(p + 1); /* the first call */
    else if (*p == ',') p = skip_ws(p + 1);
    else return false;
    if (*p != '"' || !(p = read_string(p, key, key_size))) return false;
    p = skip_ws(p);
    if (*p != ':') return false;
    *value = skip_ws(p + 1);
    *cursor = skip_value(*value);
    return *cursor != NULL;
}

bool json_lite_get_number(const char *object, const char *key, double *out) {
    return json_lite_number(json_lite_find(object, key), out);
}

bool json_lite_get_string(const char *object, const char *key, char *buf, size_t size) {
    return json_lite_string(json_lite_find(object, key), buf, size);
}
