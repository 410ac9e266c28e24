/* A strict JSON (RFC 8259) parser into a tree: objects, arrays, strings (every escape, surrogate pairs, UTF-8
 * checked), numbers, true, false, null. The one JSON reader of dystress (configuration files a person may edit by
 * hand, so every error names the line and column where it was found; the run's logs and files the report reads;
 * why ours and not a library's: docs/ARCHITECTURE.md, "JSON"). Its writer is json_write.h.
 *
 *     dy_json_doc *doc = NULL;
 *     dy_json_error e;
 *     if (dy_json_parse(ctx, "config.json", text, length, &doc, &e) != DY_OK) // e.line, e.column, e.message
 *         return ...;
 *     const dy_json *lr = dy_json_member(dy_json_root(doc), "lr");           // NULL when absent
 *     dy_json_free(doc);
 *
 * Strict means: one value and nothing after it but whitespace; no comments, trailing commas, single quotes, NaN,
 * leading zeros or '+'; strings hold valid UTF-8 only (no overlong forms, no encoded surrogates, nothing above
 * U+10FFFF; a \uD800-\uDBFF escape must be followed by a \uDC00-\uDFFF one); control characters must be escaped;
 * numbers must fit a double (1e999 is refused; tiny ones round to 0); an object's keys are unique; nesting is at
 * most DY_JSON_MAX_DEPTH arrays/objects deep. A UTF-8 byte order mark at the start is skipped (RFC 8259 allows a
 * parser to ignore one). \u0000 is valid JSON and is kept: a string's length counts it, so a caller that wants C
 * strings checks strlen(text) == length. dy_json_parse_with can also take printf's nan and inf (logs only).
 *
 * Memory: the whole tree lives in the document (one free); parsing is O(length) time and memory, except the
 * duplicate-key check, O(m log m) per object of m members. Numbers are converted with strtod, which reads '.' as
 * the decimal point in the "C" locale (the library never calls setlocale). */
#ifndef DY_IO_JSON_H
#define DY_IO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dystress.h"

#define DY_JSON_MAX_DEPTH 128

typedef enum { DY_JSON_NULL, DY_JSON_BOOL, DY_JSON_NUMBER, DY_JSON_STRING, DY_JSON_ARRAY, DY_JSON_OBJECT } dy_json_type;

typedef struct dy_json {
    dy_json_type type;
    bool boolean;          /* BOOL */
    double number;         /* NUMBER: the value */
    const char *text;      /* STRING: decoded UTF-8, NUL-terminated (may hold NULs, see length);
                              NUMBER: the literal as written (so integers can be read exactly) */
    size_t length;         /* bytes of text */
    struct dy_json *items; /* ARRAY, OBJECT: the elements / members in document order */
    size_t count;
    const char *key;       /* a member of an object: its name, decoded as a string; else NULL */
    size_t key_length;
    size_t offset;         /* byte offset of the value's first character in the text (dy_json_locate) */
    size_t key_offset;     /* a member: byte offset of its name's opening quote */
} dy_json;

typedef struct dy_json_doc dy_json_doc;

typedef struct {
    size_t offset;         /* byte offset of the problem */
    int64_t line, column;  /* 1-based; columns count characters (UTF-8 sequences), a tab counts 1 */
    char message[192];     /* the problem, without the position */
} dy_json_error;

typedef struct {
    /* Also read the non-finite numbers that C's printf and Python's json module write (nan, -nan, inf, -inf, NaN,
     * Infinity, -Infinity; any case) as numbers: for logs written by fprintf before they went through the writer
     * (json_write.h writes null). Not JSON: off for anything a person writes. */
    bool nonfinite;
} dy_json_options;

/* Parses length bytes of text (need not be NUL-terminated; a NUL byte in it is an error). On DY_OK *out is the
 * document (free with dy_json_free). On failure (DY_ERR_FORMAT for bad text, DY_ERR_NOMEM) *out is NULL, error
 * (when not NULL) says where and what, and ctx (when not NULL) holds "what:line:column: message". */
dy_status dy_json_parse(dy_ctx *ctx, const char *what, const char *text, size_t length, dy_json_doc **out,
                        dy_json_error *error);
/* dy_json_parse with options (NULL: none, the strict parser). */
dy_status dy_json_parse_with(dy_ctx *ctx, const char *what, const char *text, size_t length, const dy_json_options *o,
                             dy_json_doc **out, dy_json_error *error);
void dy_json_free(dy_json_doc *doc);
const dy_json *dy_json_root(const dy_json_doc *doc);
/* The member of object called key (a C string), or NULL (also when object is not an object). */
const dy_json *dy_json_member(const dy_json *object, const char *key);
/* "null", "boolean", "number", "string", "array", "object". */
const char *dy_json_type_name(dy_json_type type);

/* Shorthands (json_get.c), NULL-safe: a missing member, a member of another type or a NULL object gives false / NULL
 * / -1. The number of member key of object into *out (untouched when false). */
bool dy_json_get_number(const dy_json *object, const char *key, double *out);
/* The text of string member key (NUL-terminated; see dy_json.length for strings holding \u0000), or NULL. */
const char *dy_json_get_string(const dy_json *object, const char *key);
/* An array of numbers and nulls (a null is "no value": NaN): up to max of them into out; returns the array's length
 * (which may exceed max), or -1 when it is not such an array. */
int64_t dy_json_numbers(const dy_json *array, double *out, int64_t max);
/* An array of strings: up to max of them into buf, item i at buf + i * item_size, cut to item_size - 1 bytes;
 * returns the array's length, or -1 when it is not an array of strings. */
int64_t dy_json_strings(const dy_json *array, char *buf, size_t item_size, int64_t max);
/* Whether n bytes at s are valid UTF-8 as a JSON string must hold (RFC 3629); when not, *bad (if not NULL) is the
 * offset of the first invalid byte. */
bool dy_json_valid_utf8(const char *s, size_t n, size_t *bad);
/* Line and column (1-based, as dy_json_error) of a byte offset into text. */
void dy_json_locate(const char *text, size_t length, size_t offset, int64_t *line, int64_t *column);

#endif
