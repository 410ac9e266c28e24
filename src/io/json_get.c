/* Reading values out of a parsed JSON document (see json.h): members by name, numbers and strings, arrays of them. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/json.h"

const dy_json *dy_json_member(const dy_json *object, const char *key) {
    if (!object || object->type != DY_JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < object->count; i++)
        if (object->items[i].key_length == n && memcmp(object->items[i].key, key, n) == 0) return &object->items[i];
    return NULL;
}

const char *dy_json_type_name(dy_json_type type) {
    switch (type) {
    case DY_JSON_NULL: return "null";
    case DY_JSON_BOOL: return "boolean";
    case DY_JSON_NUMBER: return "number";
    case DY_JSON_STRING: return "string";
    case DY_JSON_ARRAY: return "array";
    case DY_JSON_OBJECT: return "object";
    }
    return "?";
}

bool dy_json_get_number(const dy_json *object, const char *key, double *out) {
    const dy_json *v = dy_json_member(object, key);
    if (!v || v->type != DY_JSON_NUMBER) return false;
    *out = v->number;
    return true;
}

const char *dy_json_get_string(const dy_json *object, const char *key) {
    const dy_json *v = dy_json_member(object, key);
    return v && v->type == DY_JSON_STRING ? v->text : NULL;
}

int64_t dy_json_numbers(const dy_json *array, double *out, int64_t max) {
    if (!array || array->type != DY_JSON_ARRAY) return -1;
    for (size_t i = 0; i < array->count; i++)
        if (array->items[i].type != DY_JSON_NUMBER && array->items[i].type != DY_JSON_NULL) return -1;
    for (size_t i = 0; i < array->count && (int64_t)i < max; i++)
        out[i] = array->items[i].type == DY_JSON_NUMBER ? array->items[i].number : NAN;
    return (int64_t)array->count;
}

int64_t dy_json_strings(const dy_json *array, char *buf, size_t item_size, int64_t max) {
    if (!array || array->type != DY_JSON_ARRAY) return -1;
    for (size_t i = 0; i < array->count; i++)
        if (array->items[i].type != DY_JSON_STRING) return -1;
    for (size_t i = 0; i < array->count && (int64_t)i < max && item_size; i++)
        snprintf(buf + i * item_size, item_size, "%s", array->items[i].text);
    return (int64_t)array->count;
}
