/* libFuzzer target for config.json: the strict JSON parser (src/io/json.c), the JSON writer (src/io/json_write.c)
 * and the options loader on top of them
 * (opt_read_json with the run table). Any bytes must give a document or an error with a sane position, never a
 * crash, leak or out-of-bounds read. Oracles beyond "no crash":
 *  - a parsed document, written back out by the JSON writer, parses to the same tree, and writing that gives the
 *    same text; written with its numbers as doubles (%.17g), it parses to the same values;
 *  - a configuration the loader accepts, written with opt_write_json, reads back to the same values. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"
#include "cli/options.h"
#include "io/json.h"
#include "io/json_write.h"

/* The document written back through the JSON writer (src/io/json_write.c), compactly: numbers as their literals
 * (exact), or as doubles (%.17g, which must read back to the same value). */
static void write_value(dy_json_writer *w, const dy_json *v, bool doubles) {
    switch (v->type) {
    case DY_JSON_NULL: dy_json_write_null(w); break;
    case DY_JSON_BOOL: dy_json_write_bool(w, v->boolean); break;
    case DY_JSON_NUMBER:
        if (doubles) dy_json_write_double(w, v->number);
        else dy_json_write_number_text(w, v->text, v->length);
        break;
    case DY_JSON_STRING: dy_json_write_string_n(w, v->text, v->length); break;
    case DY_JSON_ARRAY:
    case DY_JSON_OBJECT:
        v->type == DY_JSON_ARRAY ? dy_json_write_array_begin(w) : dy_json_write_object_begin(w);
        for (size_t i = 0; i < v->count; i++) {
            if (v->type == DY_JSON_OBJECT) {
                if (!v->items[i].key) abort(); /* every member has a name */
                dy_json_write_key_n(w, v->items[i].key, v->items[i].key_length);
            } else if (v->items[i].key) {
                abort(); /* array elements have none */
            }
            write_value(w, &v->items[i], doubles);
        }
        v->type == DY_JSON_ARRAY ? dy_json_write_array_end(w) : dy_json_write_object_end(w);
        break;
    }
}

static dy_json_writer write_doc(const dy_json *root, bool doubles) {
    dy_json_writer w;
    dy_json_writer_to_buffer(&w, DY_JSON_COMPACT, NULL);
    write_value(&w, root, doubles);
    if (dy_json_writer_finish(NULL, &w, "fuzz") != DY_OK) abort(); /* a parsed document is always writable */
    return w;
}

/* by_value: numbers compare by value only (the %.17g rewrite changes their text, never their value). */
static int same(const dy_json *a, const dy_json *b, bool by_value) {
    if (a->type != b->type || a->count != b->count || a->key_length != b->key_length) return 0;
    if (a->key && (!b->key || memcmp(a->key, b->key, a->key_length) != 0)) return 0;
    switch (a->type) {
    case DY_JSON_BOOL: return a->boolean == b->boolean;
    case DY_JSON_NUMBER:
        return a->number == b->number &&
               (by_value || (a->length == b->length && !memcmp(a->text, b->text, a->length)));
    case DY_JSON_STRING: return a->length == b->length && !memcmp(a->text, b->text, a->length);
    case DY_JSON_ARRAY:
    case DY_JSON_OBJECT:
        for (size_t i = 0; i < a->count; i++)
            if (!same(&a->items[i], &b->items[i], by_value)) return 0;
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
    dy_json_writer once = write_doc(dy_json_root(doc), false);
    dy_json_doc *again = NULL;
    if (dy_json_parse(NULL, "fuzz", once.buf, once.len, &again, &e) != DY_OK) abort(); /* our own output must parse */
    if (!same(dy_json_root(doc), dy_json_root(again), false)) abort();
    dy_json_writer twice = write_doc(dy_json_root(again), false);
    if (twice.len != once.len || memcmp(once.buf, twice.buf, once.len) != 0) abort();
    dy_json_writer canon = write_doc(dy_json_root(doc), true); /* numbers as doubles: the same values come back */
    dy_json_doc *values = NULL;
    if (dy_json_parse(NULL, "fuzz", canon.buf, canon.len, &values, &e) != DY_OK) abort();
    if (!same(dy_json_root(doc), dy_json_root(values), true)) abort();
    dy_json_free(values);
    dy_json_free(again);
    dy_json_free(doc);
    free(once.buf);
    free(twice.buf);
    free(canon.buf);
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
