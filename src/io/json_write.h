/* The JSON writer: every JSON file and header dystress writes goes through it (config.json, the report's data, the
 * safetensors header), so that escaping, number formats and commas are decided once. The reader is io/json.h.
 *
 *     dy_json_writer w;
 *     dy_json_writer_to_file(&w, fp, DY_JSON_SPACED, NULL);   // or dy_json_writer_to_buffer
 *     dy_json_write_object_begin(&w);
 *     dy_json_write_key(&w, "lr");
 *     dy_json_write_double(&w, 0.3);                         // "lr": 0.29999999999999999
 *     dy_json_write_key(&w, "names");
 *     dy_json_write_array_begin(&w);
 *     dy_json_write_string(&w, "a \"b\"");
 *     dy_json_write_array_end(&w);
 *     dy_json_write_object_end(&w);
 *     if (dy_json_writer_finish(ctx, &w, "config.json") != DY_OK) ...   // a failed write, or unbalanced calls
 *
 * The rules (RFC 8259):
 * - Strings: '"' and '\' are written \" and \\, every byte below 0x20 as \u00XX with lower-case hex (\u000a, not
 *   \n: the form all of dystress's writers used before this module, so files written for the same data stay byte
 *   for byte the same); every other byte, UTF-8 included, as it is. The writer does not check UTF-8: a caller with
 *   text from outside (a file name) checks it with dy_json_valid_utf8 (io/json.h), since the reader refuses
 *   invalid UTF-8. dy_json_write_string_n writes n bytes, NUL included (as \u0000).
 * - Numbers round-trip: a double as %.17g, a float as %.9g (the shortest widths that give back the same value
 *   through strtod), integers exactly. A non-finite value (NaN, +-Inf, which JSON cannot hold) is written as null;
 *   readers of our files take a null where a number belongs as "no value" (NaN).
 * - Layout: DY_JSON_COMPACT writes "," and ":" (the safetensors header), DY_JSON_SPACED ", " and ": " on one line
 *   (the run's logs), DY_JSON_INDENTED each member or element on its own line, indented by `indent` per level
 *   (config.json). An empty array or object is [] or {}.
 * - Misuse (a value in an object without its key, a key in an array or after a key, an end that does not match
 *   its begin, more than DY_JSON_MAX_DEPTH levels) marks the writer failed; so does a write error or running out of
 *   memory. Once failed, every call does nothing, and dy_json_writer_finish says why. */
#ifndef DY_IO_JSON_WRITE_H
#define DY_IO_JSON_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dystress.h"
#include "io/json.h"

typedef enum { DY_JSON_COMPACT, DY_JSON_SPACED, DY_JSON_INDENTED } dy_json_layout;

typedef struct {
    FILE *f;                /* the stream written to; NULL: the buffer below */
    char *buf;              /* the text written to a buffer, NUL-terminated; the caller frees it */
    size_t len, cap;        /* bytes of text in buf, bytes allocated */
    dy_json_layout layout;
    const char *indent;     /* DY_JSON_INDENTED: one level's indentation */
    int depth;              /* open arrays and objects */
    bool in_object[DY_JSON_MAX_DEPTH + 1]; /* per level: an object (else an array) */
    bool has_items[DY_JSON_MAX_DEPTH + 1]; /* per level: something was written in it (a comma comes next) */
    bool after_key;         /* a key was written: its value comes next */
    bool values;            /* a value was written at the top level */
    dy_status failed;       /* DY_OK, DY_ERR_IO (the stream), DY_ERR_NOMEM (the buffer) or DY_ERR_INVALID (misuse) */
    char why[96];           /* the misuse, for dy_json_writer_finish */
} dy_json_writer;

/* Writes to f (written as it goes; the caller flushes and closes f). indent: DY_JSON_INDENTED's (NULL: two
 * spaces). */
void dy_json_writer_to_file(dy_json_writer *w, FILE *f, dy_json_layout layout, const char *indent);
/* Writes into w->buf (grown as needed; free(w->buf) when done, also after a failure). */
void dy_json_writer_to_buffer(dy_json_writer *w, dy_json_layout layout, const char *indent);
/* DY_OK when every call succeeded and every array and object is closed; else the status of the first failure with
 * its message in ctx ("what: ..."). Frees nothing: w->buf stays the caller's. */
dy_status dy_json_writer_finish(dy_ctx *ctx, dy_json_writer *w, const char *what);

void dy_json_write_object_begin(dy_json_writer *w);
void dy_json_write_object_end(dy_json_writer *w);
void dy_json_write_array_begin(dy_json_writer *w);
void dy_json_write_array_end(dy_json_writer *w);
/* A member's name (escaped as a string); its value is the next thing written. */
void dy_json_write_key(dy_json_writer *w, const char *key);
void dy_json_write_key_n(dy_json_writer *w, const char *key, size_t n);

void dy_json_write_string(dy_json_writer *w, const char *s);       /* s NULL: "" */
void dy_json_write_string_n(dy_json_writer *w, const char *s, size_t n);
void dy_json_write_double(dy_json_writer *w, double v);            /* %.17g; non-finite: null */
void dy_json_write_float(dy_json_writer *w, float v);              /* %.9g; non-finite: null */
void dy_json_write_int(dy_json_writer *w, int64_t v);
void dy_json_write_uint(dy_json_writer *w, uint64_t v);
void dy_json_write_bool(dy_json_writer *w, bool v);
void dy_json_write_null(dy_json_writer *w);
/* A number literal written as it is: one that dy_json_parse read (dy_json.text of a number), so that copying a
 * document keeps its numbers' text. Refused (misuse) unless it is a JSON number. */
void dy_json_write_number_text(dy_json_writer *w, const char *literal, size_t n);

/* s as a JSON string (quotes included) on f, escaped as above: for code that writes the rest of its JSON with
 * fprintf. 0, or EOF on a write error. */
int dy_json_fput_string(FILE *f, const char *s);

#endif
