/* Strict JSON parser (RFC 8259; the rules it enforces are listed in json.h). Recursive descent over the bytes;
 * children are gathered on one scratch stack shared by all nesting levels and copied into the document's arena
 * when their array or object closes, so the tree costs O(length) memory and no per-node allocation. */
#include "io/json.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/context.h"

/* ---- arena: chunks freed together with the document ---- */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk;

struct dy_json_doc {
    dy_json root;
    chunk *chunks;
};

static void *arena_alloc(dy_json_doc *d, size_t bytes) {
    if (bytes > SIZE_MAX / 4) return NULL;
    bytes = (bytes + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (bytes == 0) bytes = sizeof(max_align_t);
    chunk *c = d->chunks;
    if (!c || c->cap - c->used < bytes) {
        size_t cap = bytes > ((size_t)64 << 10) ? bytes : ((size_t)64 << 10);
        if (cap > SIZE_MAX - sizeof(chunk)) return NULL;
        c = malloc(sizeof(chunk) + cap);
        if (!c) return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = d->chunks;
        d->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += bytes;
    return p;
}

void dy_json_free(dy_json_doc *doc) {
    if (!doc) return;
    for (chunk *c = doc->chunks, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(doc);
}

const dy_json *dy_json_root(const dy_json_doc *doc) { return doc ? &doc->root : NULL; }

void dy_json_locate(const char *text, size_t length, size_t offset, int64_t *line, int64_t *column) {
    if (offset > length) offset = length;
    int64_t l = 1, c = 1;
    for (size_t i = 0; i < offset; i++) {
        unsigned char b = (unsigned char)text[i];
        if (b == '\n') {
            l++;
            c = 1;
        } else if ((b & 0xC0) != 0x80) { /* not a UTF-8 continuation byte: a new character */
            c++;
        }
    }
    *line = l;
    *column = c;
}

/* ---- parser ---- */

typedef struct {
    const char *s;
    size_t n, pos;
    dy_json_doc *doc;
    dy_json *stack; /* children of the open arrays/objects */
    size_t stack_n, stack_cap;
    int depth;
    bool nonfinite; /* dy_json_options.nonfinite */
    bool nomem;
    size_t err_pos;
    char err[192];
} parser;

static bool fail_at(parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail_at(parser *p, size_t pos, const char *fmt, ...) {
    p->err_pos = pos;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    return false;
}

static bool out_of_memory(parser *p) {
    p->nomem = true;
    return fail_at(p, p->pos, "out of memory");
}

/* What is at pos, for messages: 'x', "the end of the text" or "byte 0x0d". */
static const char *found(parser *p, size_t pos, char buf[32]) {
    if (pos >= p->n) return "the end of the text";
    unsigned char c = (unsigned char)p->s[pos];
    if (c >= 0x20 && c < 0x7f) snprintf(buf, 32, "'%c'", c);
    else if (c == '\n') snprintf(buf, 32, "a line break");
    else snprintf(buf, 32, "byte 0x%02x", c);
    return buf;
}

static void skip_ws(parser *p) {
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static bool push(parser *p, const dy_json *v) {
    if (p->stack_n == p->stack_cap) {
        size_t cap = p->stack_cap ? 2 * p->stack_cap : 64;
        dy_json *s = realloc(p->stack, cap * sizeof *s);
        if (!s) return out_of_memory(p);
        p->stack = s;
        p->stack_cap = cap;
    }
    p->stack[p->stack_n++] = *v;
    return true;
}

/* Moves the children pushed since base into the arena as v's items. */
static bool take_children(parser *p, size_t base, dy_json *v) {
    v->count = p->stack_n - base;
    v->items = NULL;
    if (v->count) {
        v->items = arena_alloc(p->doc, v->count * sizeof *v->items);
        if (!v->items) return out_of_memory(p);
        memcpy(v->items, p->stack + base, v->count * sizeof *v->items);
    }
    p->stack_n = base;
    return true;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits at pos (after "\u"). */
static bool hex4(parser *p, size_t pos, uint32_t *out) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        int d = pos + i < p->n ? hex_value(p->s[pos + i]) : -1;
        if (d < 0) return fail_at(p, pos + i, "a \\u escape needs four hex digits");
        v = v * 16 + (uint32_t)d;
    }
    *out = v;
    return true;
}

/* Length of the valid UTF-8 sequence starting at pos (RFC 3629: shortest form, no surrogates, at most U+10FFFF),
 * or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t left) {
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) len = 3;
    else if (c == 0xED) len = 3, hi = 0x9F;
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) len = 4, hi = 0x8F;
    else return 0;
    if (left < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

bool dy_json_valid_utf8(const char *s, size_t n, size_t *bad) {
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_sequence((const unsigned char *)s + i, n - i);
        if (!k) {
            if (bad) *bad = i;
            return false;
        }
        i += k;
    }
    return true;
}

static size_t utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at p->pos (the opening quote), decoded into the arena. */
static bool parse_string(parser *p, const char **text, size_t *length) {
    size_t open = p->pos;
    /* First pass: where the string ends (escapes skipped), so the decoded copy can be sized: it is never longer. */
    size_t end = open + 1;
    while (end < p->n && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->n) return fail_at(p, open, "string not closed (no matching '\"')");
    char *out = arena_alloc(p->doc, end - open);
    if (!out) return out_of_memory(p);
    size_t len = 0, i = open + 1;
    while (i < end) {
        unsigned char c = (unsigned char)p->s[i];
        if (c < 0x20) {
            return fail_at(p, i, "control character (byte 0x%02x) in a string; write it as an escape such as \\n or "
                                 "\\u00%02x", c, c);
        }
        if (c >= 0x80) {
            size_t k = utf8_sequence((const unsigned char *)p->s + i, end - i);
            if (!k) return fail_at(p, i, "invalid UTF-8 (byte 0x%02x) in a string", c);
            memcpy(out + len, p->s + i, k);
            len += k;
            i += k;
            continue;
        }
        if (c != '\\') {
            out[len++] = (char)c;
            i++;
            continue;
        }
        char e = p->s[i + 1]; /* i + 1 < end: the first pass stepped over escape pairs */
        static const char simple_in[] = "\"\\/bfnrt", simple_out[] = "\"\\/\b\f\n\r\t";
        const char *hit = e ? strchr(simple_in, e) : NULL;
        if (hit) {
            out[len++] = simple_out[hit - simple_in];
            i += 2;
            continue;
        }
        if (e != 'u') {
            const char *valid = "valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX";
            if (e > 0x20 && e < 0x7f) return fail_at(p, i, "unknown escape \\%c in a string (%s)", e, valid);
            return fail_at(p, i, "a backslash followed by byte 0x%02x in a string (%s)", (unsigned char)e, valid);
        }
        uint32_t cp = 0;
        if (!hex4(p, i + 2, &cp)) return false;
        size_t esc = i;
        i += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail_at(p, esc, "lone low surrogate \\u%04X in a string", (unsigned)cp);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (i + 1 >= p->n || p->s[i] != '\\' || p->s[i + 1] != 'u')
                return fail_at(p, esc, "high surrogate \\u%04X is not followed by a \\uDC00-\\uDFFF escape",
                               (unsigned)cp);
            if (!hex4(p, i + 2, &low)) return false;
            if (low < 0xDC00 || low > 0xDFFF)
                return fail_at(p, i, "high surrogate \\u%04X is followed by \\u%04X, not a low surrogate",
                               (unsigned)cp, (unsigned)low);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            i += 6;
        }
        len += utf8_encode(cp, out + len);
    }
    out[len] = 0;
    *text = out;
    *length = len;
    p->pos = end + 1;
    return true;
}

static bool is_digit(parser *p, size_t i) { return i < p->n && p->s[i] >= '0' && p->s[i] <= '9'; }

static bool parse_number(parser *p, dy_json *v) {
    size_t start = p->pos, i = start;
    if (i < p->n && p->s[i] == '-') i++;
    if (!is_digit(p, i)) {
        char b[32];
        return fail_at(p, i, "a number needs a digit here, found %s", found(p, i, b));
    }
    if (p->s[i] == '0') {
        i++;
        if (is_digit(p, i)) return fail_at(p, start, "number with a leading zero (JSON has no octal)");
    } else {
        while (is_digit(p, i)) i++;
    }
    if (i < p->n && p->s[i] == '.') {
        i++;
        if (!is_digit(p, i)) return fail_at(p, i, "a digit must follow the decimal point");
        while (is_digit(p, i)) i++;
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->n && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (!is_digit(p, i)) return fail_at(p, i, "a digit must follow the exponent's 'e'");
        while (is_digit(p, i)) i++;
    }
    size_t len = i - start;
    char *lit = arena_alloc(p->doc, len + 1);
    if (!lit) return out_of_memory(p);
    memcpy(lit, p->s + start, len);
    lit[len] = 0;
    errno = 0;
    double x = strtod(lit, NULL);
    if (!isfinite(x)) return fail_at(p, start, "number %.40s%s is out of range", lit, len > 40 ? "..." : "");
    v->type = DY_JSON_NUMBER;
    v->number = x;
    v->text = lit;
    v->length = len;
    p->pos = i;
    return true;
}

static bool literal(parser *p, const char *word, size_t n) {
    return p->n - p->pos >= n && memcmp(p->s + p->pos, word, n) == 0;
}

/* dy_json_options.nonfinite: nan, inf or infinity in any case, with an optional '-' (C's printf writes nan, -nan, inf,
 * -inf; Python's json module NaN, Infinity, -Infinity), not followed by a letter or digit. 1: read; 0: not one of
 * them; -1: out of memory. */
static int parse_nonfinite(parser *p, dy_json *v) {
    size_t i = p->pos + (p->s[p->pos] == '-');
    size_t n = 0;
    if (p->n - i >= 8 && strncasecmp(p->s + i, "infinity", 8) == 0) n = 8;
    else if (p->n - i >= 3 && (strncasecmp(p->s + i, "inf", 3) == 0 || strncasecmp(p->s + i, "nan", 3) == 0)) n = 3;
    if (!n || (i + n < p->n && isalnum((unsigned char)p->s[i + n]))) return 0;
    size_t len = i + n - p->pos;
    char *lit = arena_alloc(p->doc, len + 1);
    if (!lit) {
        out_of_memory(p);
        return -1;
    }
    memcpy(lit, p->s + p->pos, len);
    lit[len] = 0;
    v->type = DY_JSON_NUMBER;
    v->number = (p->s[i] | 32) == 'n' ? NAN : p->s[p->pos] == '-' ? -INFINITY : INFINITY;
    v->text = lit;
    v->length = len;
    p->pos += len;
    return 1;
}

typedef struct {
    const char *key;
    size_t length, offset;
} key_ref;

static int key_order(const void *a, const void *b) {
    const key_ref *x = a, *y = b;
    size_t n = x->length < y->length ? x->length : y->length;
    int c = memcmp(x->key, y->key, n);
    if (c) return c;
    if (x->length != y->length) return x->length < y->length ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset; /* so the later duplicate is reported */
}

static bool unique_keys(parser *p, const dy_json *members, size_t count) {
    if (count < 2) return true;
    key_ref *k = malloc(count * sizeof *k);
    if (!k) return out_of_memory(p);
    for (size_t i = 0; i < count; i++) k[i] = (key_ref){members[i].key, members[i].key_length, members[i].key_offset};
    qsort(k, count, sizeof *k, key_order);
    bool ok = true;
    for (size_t i = 1; i < count && ok; i++)
        if (k[i].length == k[i - 1].length && memcmp(k[i].key, k[i - 1].key, k[i].length) == 0)
            ok = fail_at(p, k[i].offset, "key \"%.60s\" appears twice in one object", k[i].key);
    free(k);
    return ok;
}

static bool parse_value(parser *p, dy_json *v);

static bool parse_array(parser *p, dy_json *v) {
    size_t base = p->stack_n;
    p->pos++; /* '[' */
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == ']') {
        p->pos++;
    } else {
        for (;;) {
            dy_json item;
            skip_ws(p);
            if (!parse_value(p, &item) || !push(p, &item)) return false;
            skip_ws(p);
            if (p->pos < p->n && p->s[p->pos] == ',') {
                p->pos++;
                skip_ws(p);
                if (p->pos < p->n && p->s[p->pos] == ']') return fail_at(p, p->pos, "trailing comma in an array");
                continue;
            }
            if (p->pos < p->n && p->s[p->pos] == ']') {
                p->pos++;
                break;
            }
            char b[32];
            return fail_at(p, p->pos, "expected ',' or ']' in an array, found %s", found(p, p->pos, b));
        }
    }
    v->type = DY_JSON_ARRAY;
    return take_children(p, base, v);
}

static bool parse_object(parser *p, dy_json *v) {
    size_t base = p->stack_n;
    p->pos++; /* '{' */
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == '}') {
        p->pos++;
    } else {
        for (;;) {
            char b[32];
            skip_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != '"')
                return fail_at(p, p->pos, "expected a member name in double quotes, found %s", found(p, p->pos, b));
            dy_json member;
            size_t key_offset = p->pos;
            const char *key;
            size_t key_length;
            if (!parse_string(p, &key, &key_length)) return false;
            skip_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != ':')
                return fail_at(p, p->pos, "expected ':' after the member name \"%.60s\", found %s", key,
                               found(p, p->pos, b));
            p->pos++;
            skip_ws(p);
            if (!parse_value(p, &member)) return false;
            member.key = key;
            member.key_length = key_length;
            member.key_offset = key_offset;
            if (!push(p, &member)) return false;
            skip_ws(p);
            if (p->pos < p->n && p->s[p->pos] == ',') {
                p->pos++;
                skip_ws(p);
                if (p->pos < p->n && p->s[p->pos] == '}') return fail_at(p, p->pos, "trailing comma in an object");
                continue;
            }
            if (p->pos < p->n && p->s[p->pos] == '}') {
                p->pos++;
                break;
            }
            return fail_at(p, p->pos, "expected ',' or '}' after the value of \"%.60s\", found %s", key,
                           found(p, p->pos, b));
        }
    }
    v->type = DY_JSON_OBJECT;
    if (p->stack_n > base && !unique_keys(p, p->stack + base, p->stack_n - base)) return false;
    return take_children(p, base, v);
}

/* A value at p->pos (whitespace already skipped). */
static bool parse_value(parser *p, dy_json *v) {
    memset(v, 0, sizeof *v);
    v->offset = p->pos;
    if (p->pos >= p->n) return fail_at(p, p->pos, "expected a value, found the end of the text");
    char c = p->s[p->pos];
    if (p->nonfinite && (c == '-' || c == 'n' || c == 'N' || c == 'i' || c == 'I') && !literal(p, "null", 4)) {
        int read = parse_nonfinite(p, v);
        if (read) return read > 0;
    }
    switch (c) {
    case '{':
    case '[': {
        if (p->depth >= DY_JSON_MAX_DEPTH)
            return fail_at(p, p->pos, "arrays and objects nested deeper than %d levels", DY_JSON_MAX_DEPTH);
        p->depth++;
        bool ok = c == '{' ? parse_object(p, v) : parse_array(p, v);
        p->depth--;
        return ok;
    }
    case '"':
        v->type = DY_JSON_STRING;
        return parse_string(p, &v->text, &v->length);
    case 't':
    case 'f':
    case 'n':
        if (literal(p, "true", 4)) {
            v->type = DY_JSON_BOOL;
            v->boolean = true;
            p->pos += 4;
        } else if (literal(p, "false", 5)) {
            v->type = DY_JSON_BOOL;
            p->pos += 5;
        } else if (literal(p, "null", 4)) {
            v->type = DY_JSON_NULL;
            p->pos += 4;
        } else {
            break;
        }
        /* "trueish" is not true followed by garbage but one unknown word */
        if (p->pos < p->n && ((p->s[p->pos] | 32) >= 'a' && (p->s[p->pos] | 32) <= 'z')) {
            p->pos = v->offset;
            break;
        }
        return true;
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
        break;
    }
    char b[32];
    size_t e = p->pos;
    if ((unsigned char)c < 0x80 && ((c | 32) >= 'a' && (c | 32) <= 'z')) {
        /* a bare word: show it (unquoted strings are the common mistake) */
        while (e < p->n && e - p->pos < 40 && (((p->s[e] | 32) >= 'a' && (p->s[e] | 32) <= 'z') ||
                                               (p->s[e] >= '0' && p->s[e] <= '9') || p->s[e] == '_' || p->s[e] == '-'))
            e++;
        return fail_at(p, p->pos, "expected a value, found the bare word '%.*s' (strings need double quotes; the "
                                  "literals are true, false and null)", (int)(e - p->pos), p->s + p->pos);
    }
    return fail_at(p, p->pos, "expected a value, found %s", found(p, p->pos, b));
}

dy_status dy_json_parse(dy_ctx *ctx, const char *what, const char *text, size_t length, dy_json_doc **out,
                        dy_json_error *error) {
    return dy_json_parse_with(ctx, what, text, length, NULL, out, error);
}

dy_status dy_json_parse_with(dy_ctx *ctx, const char *what, const char *text, size_t length, const dy_json_options *o,
                             dy_json_doc **out, dy_json_error *error) {
    *out = NULL;
    if (error) memset(error, 0, sizeof *error);
    parser p = {.s = text, .n = length, .nonfinite = o && o->nonfinite};
    p.doc = calloc(1, sizeof *p.doc);
    bool ok;
    if (!p.doc) {
        ok = out_of_memory(&p);
    } else if (!text && length) {
        ok = fail_at(&p, 0, "no text");
    } else {
        const void *nul = length ? memchr(text, 0, length) : NULL;
        if (nul) {
            ok = fail_at(&p, (size_t)((const char *)nul - text), "NUL byte in the text (not a text file?)");
        } else {
            if (length >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) p.pos = 3; /* a UTF-8 byte order mark */
            skip_ws(&p);
            if (p.pos >= p.n) {
                ok = fail_at(&p, p.pos, "no JSON value (the text is empty or only whitespace)");
            } else {
                ok = parse_value(&p, &p.doc->root);
                if (ok) {
                    skip_ws(&p);
                    char b[32];
                    if (p.pos < p.n)
                        ok = fail_at(&p, p.pos, "text after the end of the JSON value: %s", found(&p, p.pos, b));
                }
            }
        }
    }
    free(p.stack);
    if (ok) {
        *out = p.doc;
        return DY_OK;
    }
    dy_json_free(p.doc);
    int64_t line = 1, column = 1;
    if (text) dy_json_locate(text, length, p.err_pos, &line, &column);
    if (error) {
        error->offset = p.err_pos;
        error->line = line;
        error->column = column;
        snprintf(error->message, sizeof error->message, "%s", p.err);
    }
    dy_status st = p.nomem ? DY_ERR_NOMEM : DY_ERR_FORMAT;
    return dy_fail(ctx, st, "%s:%lld:%lld: %s", what ? what : "JSON", (long long)line, (long long)column, p.err);
}
