/* libFuzzer target for config.json: the strict JSON parser (src/io/json.c) and the options loader on top of it
 * (opt_read_json with the run table). Any bytes must give a document or an error with a sane position, never a
 * crash, leak or out-of-bounds read. Oracles beyond "no crash":
 *  - a parsed document, written back out canonically, parses to the same tree, and writing that gives the same text;
 *  - a configuration the loader accepts, written with opt_write_json, reads back to the same values. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"
#include "cli/options.h"
#include "io/json.h"

typedef struct {
    char *s;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
        if (!b->s) abort();
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void put_string(buf *b, const char *s, size_t n) {
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            put(b, e, 6);
        } else {
            put(b, s + i, 1);
        }
    }
    put(b, "\"", 1);
}

static void write_value(buf *b, const dy_json *v) {
    switch (v->type) {
    case DY_JSON_NULL: put(b, "null", 4); break;
    case DY_JSON_BOOL: v->boolean ? put(b, "true", 4) : put(b, "false", 5); break;
    case DY_JSON_NUMBER: put(b, v->text, v->length); break;
    case DY_JSON_STRING: put_string(b, v->text, v->length); break;
    case DY_JSON_ARRAY:
    case DY_JSON_OBJECT:
        put(b, v->type == DY_JSON_ARRAY ? "[" : "{", 1);
        for (size_t i = 0; i < v->count; i++) {
            if (i) put(b, ",", 1);
            if (v->type == DY_JSON_OBJECT) {
                if (!v->items[i].key) abort(); /* every member has a name */
                put_string(b, v->items[i].key, v->items[i].key_length);
                put(b, ":", 1);
            } else if (v->items[i].key) {
                abort(); /* array elements have none */
            }
            write_value(b, &v->items[i]);
        }
        put(b, v->type == DY_JSON_ARRAY ? "]" : "}", 1);
        break;
    }
}

static int same(const dy_json *a, const dy_json *b) {
    if (a->type != b->type || a->count != b->count || a->key_length != b->key_length) return 0;
    if (a->key && (!b->key || memcmp(a->key, b->key, a->key_length) != 0)) return 0;
    switch (a->type) {
    case DY_JSON_BOOL: return a->boolean == b->boolean;
    case DY_JSON_NUMBER: return a->number == b->number && a->length == b->length && !memcmp(a->text, b->text, a->length);
    case DY_JSON_STRING: return a->length == b->length && !memcmp(a->text, b->text, a->length);
    case DY_JSON_ARRAY:
    case DY_JSON_OBJECT:
        for (size_t i = 0; i < a->count; i++)
            if (!same(&a->items[i], &b->items[i])) return 0;
        return 1;
    default: return 1;
    }
}

static void check_json(const uint8_t *data, size_t size) {
    dy_json_doc *doc = NULL;
    dy_json_error e;
    if (dy_json_parse(NULL, "fuzz", (const char *)data, size, &doc, &e) != DY_OK) {
        if (doc || e.line < 1 || e.column < 1 || e.offset > size || !e.message[0]) abort();
        return;
    }
    buf once = {0}, twice = {0};
    write_value(&once, dy_json_root(doc));
    dy_json_doc *again = NULL;
    if (dy_json_parse(NULL, "fuzz", once.s, once.n, &again, &e) != DY_OK) abort(); /* our own output must parse */
    if (!same(dy_json_root(doc), dy_json_root(again))) abort();
    write_value(&twice, dy_json_root(again));
    if (twice.n != once.n || memcmp(once.s, twice.s, once.n) != 0) abort();
    dy_json_free(again);
    dy_json_free(doc);
    free(once.s);
    free(twice.s);
}

static char *table_json(const opt_spec *t) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) abort();
    opt_write_json(f, t, " ");
    fclose(f);
    return text;
}

static void check_options(const uint8_t *data, size_t size) {
    run_options o, back;
    opt_spec t[RUN_OPTION_COUNT], tb[RUN_OPTION_COUNT];
    char err[1024];
    run_option_table(t, &o);
    for (opt_spec *s = t; s->name; s++)
        if (opt_set(s, s->def, err, sizeof err) != 0) abort();
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    err[0] = 0;
    if (opt_read_json(t, "fuzz.json", text, size, err, sizeof err) == 0) {
        run_options_check(&o, err, sizeof err);
        char *written = table_json(t);
        char *scratch = strdup(written); /* opt_read_json decodes strings in place; the options point into it */
        run_option_table(tb, &back);
        for (opt_spec *s = tb; s->name; s++)
            if (opt_set(s, s->def, err, sizeof err) != 0) abort();
        if (opt_read_json(tb, "written.json", scratch, strlen(scratch), err, sizeof err) != 0) {
            fprintf(stderr, "accepted configuration does not read back: %s\n", err);
            abort();
        }
        char *rewritten = table_json(tb);
        if (strcmp(written, rewritten) != 0) abort();
        free(rewritten);
        free(written);
        free(scratch);
    } else if (!err[0]) {
        abort(); /* a refusal says why */
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_json(data, size);
    check_options(data, size);
    return 0;
}
