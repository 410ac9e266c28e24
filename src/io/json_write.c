/* The JSON writer (rules in json_write.h): bytes go to a stream or a growing buffer; the separators come from the
 * state of the open array or object, so callers never write a comma. */
#include "io/json_write.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"

static void init(dy_json_writer *w, FILE *f, dy_json_layout layout, const char *indent) {
    memset(w, 0, sizeof *w);
    w->f = f;
    w->layout = layout;
    w->indent = indent ? indent : "  ";
}

void dy_json_writer_to_file(dy_json_writer *w, FILE *f, dy_json_layout layout, const char *indent) {
    init(w, f, layout, indent);
}

void dy_json_writer_to_buffer(dy_json_writer *w, dy_json_layout layout, const char *indent) {
    init(w, NULL, layout, indent);
}

static void misuse(dy_json_writer *w, const char *why) {
    if (w->failed != DY_OK) return;
    w->failed = DY_ERR_INVALID;
    snprintf(w->why, sizeof w->why, "%s", why);
}

static void put(dy_json_writer *w, const char *s, size_t n) {
    if (w->failed != DY_OK || n == 0) return;
    if (w->f) {
        if (fwrite(s, 1, n, w->f) != n) w->failed = DY_ERR_IO;
        return;
    }
    if (n >= w->cap - w->len || !w->buf) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->len <= n) {
            if (cap > SIZE_MAX / 2) {
                w->failed = DY_ERR_NOMEM;
                return;
            }
            cap *= 2;
        }
        char *b = realloc(w->buf, cap);
        if (!b) {
            w->failed = DY_ERR_NOMEM;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = 0;
}

static void puts_(dy_json_writer *w, const char *s) { put(w, s, strlen(s)); }

static void newline_indent(dy_json_writer *w, int levels) {
    put(w, "\n", 1);
    for (int i = 0; i < levels; i++) puts_(w, w->indent);
}

/* Before a value or a key: the comma and line break the layout puts between items; false on misuse. */
static bool before_item(dy_json_writer *w, bool key) {
    if (w->failed != DY_OK) return false;
    if (w->after_key) {
        if (key) misuse(w, "a key where its value belongs");
        w->after_key = false;
        return !key;
    }
    if (w->depth == 0) {
        if (key) misuse(w, "a key outside an object");
        else if (w->values) misuse(w, "a second value at the top level");
        w->values = true;
        return !key && w->failed == DY_OK;
    }
    if (w->in_object[w->depth] != key) {
        misuse(w, key ? "a key in an array" : "a value in an object without its key");
        return false;
    }
    if (w->has_items[w->depth]) puts_(w, w->layout == DY_JSON_SPACED ? ", " : ",");
    w->has_items[w->depth] = true;
    if (w->layout == DY_JSON_INDENTED) newline_indent(w, w->depth);
    return true;
}

static void escaped(dy_json_writer *w, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    put(w, "\"", 1);
    const char *start = s; /* bytes from start on are written as they are, run of them in one piece */
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        put(w, start, run);
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(w, e, 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(w, e, 6);
        }
        start = s + i + 1;
        run = 0;
    }
    put(w, start, run);
    put(w, "\"", 1);
}

void dy_json_write_key_n(dy_json_writer *w, const char *key, size_t n) {
    if (!before_item(w, true)) return;
    escaped(w, key ? key : "", key ? n : 0);
    puts_(w, w->layout == DY_JSON_COMPACT ? ":" : ": ");
    w->after_key = true;
}

void dy_json_write_key(dy_json_writer *w, const char *key) { dy_json_write_key_n(w, key, key ? strlen(key) : 0); }

static void open_level(dy_json_writer *w, bool object) {
    if (!before_item(w, false)) return;
    if (w->depth == DY_JSON_MAX_DEPTH) {
        misuse(w, "arrays and objects nested deeper than DY_JSON_MAX_DEPTH");
        return;
    }
    w->depth++;
    w->in_object[w->depth] = object;
    w->has_items[w->depth] = false;
    put(w, object ? "{" : "[", 1);
}

static void close_level(dy_json_writer *w, bool object) {
    if (w->failed != DY_OK) return;
    if (w->depth == 0 || w->in_object[w->depth] != object || w->after_key) {
        misuse(w, w->after_key ? "a key without its value" : object ? "an object's end without its begin"
                                                                    : "an array's end without its begin");
        return;
    }
    if (w->layout == DY_JSON_INDENTED && w->has_items[w->depth]) newline_indent(w, w->depth - 1);
    w->depth--;
    put(w, object ? "}" : "]", 1);
}

void dy_json_write_object_begin(dy_json_writer *w) { open_level(w, true); }
void dy_json_write_object_end(dy_json_writer *w) { close_level(w, true); }
void dy_json_write_array_begin(dy_json_writer *w) { open_level(w, false); }
void dy_json_write_array_end(dy_json_writer *w) { close_level(w, false); }

void dy_json_write_string_n(dy_json_writer *w, const char *s, size_t n) {
    if (before_item(w, false)) escaped(w, s ? s : "", s ? n : 0);
}

void dy_json_write_string(dy_json_writer *w, const char *s) { dy_json_write_string_n(w, s, s ? strlen(s) : 0); }

static void formatted(dy_json_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void formatted(dy_json_writer *w, const char *fmt, ...) {
    if (!before_item(w, false)) return;
    char b[40];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    put(w, b, n > 0 && (size_t)n < sizeof b ? (size_t)n : 0);
}

void dy_json_write_double(dy_json_writer *w, double v) {
    if (isfinite(v)) formatted(w, "%.17g", v);
    else dy_json_write_null(w);
}

void dy_json_write_float(dy_json_writer *w, float v) {
    if (isfinite(v)) formatted(w, "%.9g", (double)v);
    else dy_json_write_null(w);
}

void dy_json_write_int(dy_json_writer *w, int64_t v) { formatted(w, "%lld", (long long)v); }
void dy_json_write_uint(dy_json_writer *w, uint64_t v) { formatted(w, "%llu", (unsigned long long)v); }

void dy_json_write_bool(dy_json_writer *w, bool v) {
    if (before_item(w, false)) puts_(w, v ? "true" : "false");
}

void dy_json_write_null(dy_json_writer *w) {
    if (before_item(w, false)) puts_(w, "null");
}

/* Whether n bytes at s are one JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(const char *s, size_t n) {
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i >= n || s[i] < '0' || s[i] > '9') return false;
    if (s[i++] != '0')
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i < n && s[i] == '.') {
        if (++i >= n || s[i] < '0' || s[i] > '9') return false;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || s[i] < '0' || s[i] > '9') return false;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    return i == n;
}

void dy_json_write_number_text(dy_json_writer *w, const char *literal, size_t n) {
    if (!literal || !json_number(literal, n)) {
        misuse(w, "a number literal that is not a JSON number");
        return;
    }
    if (before_item(w, false)) put(w, literal, n);
}

dy_status dy_json_writer_finish(dy_ctx *ctx, dy_json_writer *w, const char *what) {
    if (!what) what = "JSON";
    if (w->failed == DY_OK && w->f && ferror(w->f)) w->failed = DY_ERR_IO;
    if (w->failed == DY_OK && (w->depth || w->after_key))
        misuse(w, w->after_key ? "a key without its value" : "an array or object left open");
    switch (w->failed) {
    case DY_OK: return DY_OK;
    case DY_ERR_IO: return dy_fail(ctx, DY_ERR_IO, "%s: write error", what);
    case DY_ERR_NOMEM: return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", what);
    default: return dy_fail(ctx, w->failed, "%s: JSON written wrongly: %s", what, w->why);
    }
}

int dy_json_fput_string(FILE *f, const char *s) {
    dy_json_writer w;
    dy_json_writer_to_file(&w, f, DY_JSON_COMPACT, NULL);
    dy_json_write_string(&w, s);
    return w.failed == DY_OK ? 0 : EOF;
}
