/* A minimal reader for the flat JSON objects a run directory holds (metrics.jsonl lines, histograms.jsonl lines,
 * config.json, embedding-map.json, eval results): top-level keys whose values are numbers, strings, booleans, null
 * or arrays of numbers or strings. Nested objects are skipped correctly but not read. It reads in place and
 * allocates nothing. Kept in one file so the report can move to a shared JSON parser without other changes. */
#ifndef DY_REPORT_JSON_LITE_H
#define DY_REPORT_JSON_LITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The value of key in the object that text starts with (leading blanks allowed); NULL when the key is absent or
 * the text is not an object. Only top-level keys are matched. */
const char *json_lite_find(const char *text, const char *key);
/* A number (or true/false as 1/0) at value; false when it is something else (null, a string, ...). */
bool json_lite_number(const char *value, double *out);
/* A string at value, unescaped into buf (truncated to size - 1 bytes); false when it is not a string. */
bool json_lite_string(const char *value, char *buf, size_t size);
/* An array of numbers at value: up to max into out (null items become NaN); returns the array's length (which
 * may exceed max), or -1 when value is not an array of numbers. */
int64_t json_lite_numbers(const char *value, double *out, int64_t max);
/* An array of strings at value: item i is unescaped into buf + i * item_size (truncated); returns the array's
 * length, or -1 when value is not an array of strings. */
int64_t json_lite_strings(const char *value, char *buf, size_t item_size, int64_t max);

/* Walks the members of an object in order: *cursor starts at the object's text (set it to the text before the first
 * call); each call copies the next key into key (truncated) and points *value at its value. False at the end or on
 * malformed text. */
bool json_lite_next(const char **cursor, char *key, size_t key_size, const char **value);

/* Shorthands on an object: the value of key as a number / string; false when absent or of another type. */
bool json_lite_get_number(const char *object, const char *key, double *out);
bool json_lite_get_string(const char *object, const char *key, char *buf, size_t size);

#endif
