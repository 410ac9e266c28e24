/* The strict JSON parser (src/io/json.c), issue 10 item 6: every value kind, every escape, surrogate pairs, UTF-8
 * checks, numbers, the depth limit, duplicate keys, and errors that name the line and column. Issue 24: the
 * non-finite numbers of run logs (an option), the shorthands of json_get.c, and the JSON writer (src/io/json_write.c):
 * every control character, quote and backslash escaped, UTF-8 passed through, numbers that round-trip, the three
 * layouts, misuse refused, and everything it writes read back by the parser to what was written. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "io/json_write.h"
#include "testlib.h"

static dy_json_doc *parse_n(const char *text, size_t n, dy_json_error *e) {
    dy_json_doc *d = NULL;
    dy_json_error local;
    if (dy_json_parse(NULL, "t.json", text, n, &d, e ? e : &local) != DY_OK) return NULL;
    return d;
}

static dy_json_doc *parse(const char *text, dy_json_error *e) { return parse_n(text, strlen(text), e); }

/* text must be refused with a message holding want, at line:column. */
static void refused(const char *text, size_t n, const char *want, int64_t line, int64_t column) {
    dy_json_error e;
    dy_json_doc *d = parse_n(text, n, &e);
    CHECK(!d && strstr(e.message, want) && e.line == line && e.column == column,
          "item6_json refuses %.40s: got '%s' at %lld:%lld, want '%s' at %lld:%lld", text, d ? "(accepted)" : e.message,
          (long long)e.line, (long long)e.column, want, (long long)line, (long long)column);
    dy_json_free(d);
}
#define REFUSED(text, want, line, column) refused(text, sizeof text - 1, want, line, column)

static void item6_json_values(void) {
    const char *text = "\xEF\xBB\xBF {\"s\": \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"u\": \"\\u00e9\\u20AC\\ud83d\\ude00\",\r\n"
                       " \"z\": \"x\\u0000y\", \"n\": [0, -0, 1.5e-3, 1E+2, -12.25, 12345678901234567890, 1e-999],\r\n"
                       " \"b\": [true, false, null], \"o\": {\"\": {}}, \"e\": [], \"utf8\": \"\xC3\xA9\xE2\x82\xAC"
                       "\xF0\x9F\x98\x80\"}\r\n";
    dy_json_error e;
    dy_json_doc *d = parse(text, &e);
    if (!CHECK(d != NULL, "item6_json_values: valid text parses (%lld:%lld %s)", (long long)e.line,
               (long long)e.column, e.message))
        return;
    const dy_json *r = dy_json_root(d);
    CHECK(r->type == DY_JSON_OBJECT && r->count == 8, "item6: root object of 8 members (%zu)", r->count);
    const dy_json *s = dy_json_member(r, "s");
    CHECK(s && s->type == DY_JSON_STRING && s->length == 12 && !memcmp(s->text, "a\"b\\c/d\b\f\n\r\t", 13),
          "item6: the simple escapes decode");
    const dy_json *u = dy_json_member(r, "u");
    CHECK(u && !strcmp(u->text, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80") && u->length == 9,
          "item6: \\u escapes and a surrogate pair decode to UTF-8");
    const dy_json *utf8 = dy_json_member(r, "utf8");
    CHECK(utf8 && u && utf8->length == u->length && !memcmp(utf8->text, u->text, u->length),
          "item6: raw UTF-8 is kept as written");
    const dy_json *z = dy_json_member(r, "z");
    CHECK(z && z->length == 3 && !memcmp(z->text, "x\0y", 3) && strlen(z->text) == 1,
          "item6: \\u0000 is kept, and shows in length != strlen");
    const dy_json *n = dy_json_member(r, "n");
    CHECK(n && n->type == DY_JSON_ARRAY && n->count == 7, "item6: number array");
    if (n && n->count == 7) {
        CHECK(n->items[0].number == 0 && n->items[1].number == 0 && signbit(n->items[1].number), "item6: 0 and -0");
        CHECK(n->items[2].number == 1.5e-3 && n->items[3].number == 100 && n->items[4].number == -12.25,
              "item6: fractions and exponents");
        CHECK(!strcmp(n->items[5].text, "12345678901234567890") && n->items[5].length == 20,
              "item6: a number keeps its literal (%s)", n->items[5].text);
        CHECK(n->items[6].number == 0, "item6: an underflowing number rounds to 0");
    }
    const dy_json *b = dy_json_member(r, "b");
    CHECK(b && b->count == 3 && b->items[0].type == DY_JSON_BOOL && b->items[0].boolean &&
              b->items[1].type == DY_JSON_BOOL && !b->items[1].boolean && b->items[2].type == DY_JSON_NULL,
          "item6: true, false, null");
    const dy_json *o = dy_json_member(r, "o");
    CHECK(o && o->count == 1 && o->items[0].key_length == 0 && o->items[0].type == DY_JSON_OBJECT &&
              o->items[0].count == 0,
          "item6: empty key and empty object");
    const dy_json *empty = dy_json_member(r, "e");
    CHECK(empty && empty->type == DY_JSON_ARRAY && empty->count == 0, "item6: empty array");
    CHECK(!dy_json_member(r, "missing") && !dy_json_member(n, "s"), "item6: dy_json_member on a missing key / array");
    int64_t line, column;
    dy_json_locate(text, strlen(text), n->offset, &line, &column);
    CHECK(line == 2 && column == 24, "item6: node positions (n at %lld:%lld, want 2:24)", (long long)line,
          (long long)column);
    dy_json_free(d);

    d = parse(" 42 ", &e);
    CHECK(d && dy_json_root(d)->type == DY_JSON_NUMBER && dy_json_root(d)->number == 42, "item6: a scalar document");
    dy_json_free(d);
    d = parse("\"\\uD834\\uDD1E\"", &e);
    CHECK(d && !strcmp(dy_json_root(d)->text, "\xF0\x9D\x84\x9E"), "item6: U+1D11E from a pair in upper case");
    dy_json_free(d);
}

static void item6_json_errors(void) {
    REFUSED("", "no JSON value", 1, 1);
    REFUSED(" \n\t ", "no JSON value", 2, 3);
    REFUSED("{\"a\": 1} x", "text after the end", 1, 10);
    REFUSED("{\"a\": 1}}", "text after the end", 1, 9);
    REFUSED("{\"a\": 1,}", "trailing comma in an object", 1, 9);
    REFUSED("[1, 2,]", "trailing comma in an array", 1, 7);
    REFUSED("{\"a\": runs/x, \"b\": 2}", "bare word 'runs'", 1, 7);
    REFUSED("{\n  \"a\": 1,\n  \"b\": tru\n}", "bare word 'tru'", 3, 8);
    REFUSED("{\"a\": trueish}", "bare word 'trueish'", 1, 7);
    REFUSED("{'a': 1}", "member name in double quotes", 1, 2);
    REFUSED("{\"a\" 1}", "expected ':'", 1, 6);
    REFUSED("{\"a\": 1 \"b\": 2}", "expected ',' or '}'", 1, 9);
    REFUSED("[1 2]", "expected ',' or ']'", 1, 4);
    REFUSED("{\"a\": 1", "expected ',' or '}'", 1, 8);
    REFUSED("[", "expected a value, found the end", 1, 2);
    REFUSED("[01]", "leading zero", 1, 2);
    REFUSED("[1.]", "decimal point", 1, 4);
    REFUSED("[1e]", "exponent", 1, 4);
    REFUSED("[-]", "needs a digit", 1, 3);
    REFUSED("[+1]", "expected a value, found '+'", 1, 2);
    REFUSED("[.5]", "expected a value, found '.'", 1, 2);
    REFUSED("[NaN]", "bare word 'NaN'", 1, 2);
    REFUSED("[1e999]", "out of range", 1, 2);
    REFUSED("[-1e400]", "out of range", 1, 2);
    REFUSED("\"abc", "not closed", 1, 1);
    REFUSED("\"a\tb\"", "control character (byte 0x09)", 1, 3);
    REFUSED("\"a\nb\"", "control character (byte 0x0a)", 1, 3);
    REFUSED("\"\\x41\"", "unknown escape \\x", 1, 2);
    REFUSED("\"\\u12G4\"", "four hex digits", 1, 6);
    REFUSED("\"\\u12\"", "four hex digits", 1, 6);
    REFUSED("\"\\ud800\"", "not followed by", 1, 2);
    REFUSED("\"\\ud800\\u0041\"", "not a low surrogate", 1, 8);
    REFUSED("\"\\udc00\"", "lone low surrogate", 1, 2);
    REFUSED("\"\xC0\xAF\"", "invalid UTF-8 (byte 0xc0)", 1, 2);      /* overlong '/' */
    REFUSED("\"\xE0\x80\xAF\"", "invalid UTF-8 (byte 0xe0)", 1, 2);  /* overlong, 3 bytes */
    REFUSED("\"\xED\xA0\x80\"", "invalid UTF-8 (byte 0xed)", 1, 2);  /* an encoded surrogate */
    REFUSED("\"\xF4\x90\x80\x80\"", "invalid UTF-8 (byte 0xf4)", 1, 2); /* above U+10FFFF */
    REFUSED("\"\xE2\x82\"", "invalid UTF-8 (byte 0xe2)", 1, 2);      /* cut short */
    REFUSED("\"\x80\"", "invalid UTF-8 (byte 0x80)", 1, 2);          /* a lone continuation byte */
    REFUSED("[\"\xC3\xA9\", x]", "bare word 'x'", 1, 7);             /* columns count characters */
    REFUSED("{\"a\": 1, \"b\": 2, \"a\": 3}", "\"a\" appears twice", 1, 18);
    REFUSED("{\"a\\u0000\": 1, \"a\\u0000\": 2}", "appears twice", 1, 16);
    REFUSED("[1, /* note */ 2]", "expected a value, found '/'", 1, 5);
    REFUSED("{\"a\": 1}\r\n\x00", "NUL byte", 2, 1);
    REFUSED("\x01", "expected a value, found byte 0x01", 1, 1);
    /* keys that differ only after a NUL are different keys */
    dy_json_error e;
    dy_json_doc *d = parse("{\"a\\u0000b\": 1, \"a\\u0000c\": 2, \"a\": 3}", &e);
    CHECK(d && dy_json_root(d)->count == 3, "item6: keys with NULs compare by length and bytes (%s)", e.message);
    dy_json_free(d);
    /* the context gets path:line:column */
    dy_json_doc *out = (dy_json_doc *)1;
    CHECK(dy_json_parse(NULL, "x.json", "[1,]", 4, &out, NULL) == DY_ERR_FORMAT && out == NULL,
          "item6: failure returns DY_ERR_FORMAT and clears *out");
}

static void item6_json_depth(void) {
    char buf[2 * (DY_JSON_MAX_DEPTH + 1) + 1];
    for (int depth = DY_JSON_MAX_DEPTH; depth <= DY_JSON_MAX_DEPTH + 1; depth++) {
        for (int i = 0; i < depth; i++) buf[i] = '[';
        for (int i = 0; i < depth; i++) buf[depth + i] = ']';
        buf[2 * depth] = 0;
        dy_json_error e;
        dy_json_doc *d = parse(buf, &e);
        if (depth == DY_JSON_MAX_DEPTH) CHECK(d != NULL, "item6: %d nested arrays parse (%s)", depth, e.message);
        else
            CHECK(!d && strstr(e.message, "nested deeper") && e.column == depth,
                  "item6: %d nested arrays are refused at column %d (%s at %lld)", depth, depth, e.message,
                  (long long)e.column);
        dy_json_free(d);
    }
    /* objects count too */
    char obj[16 * (DY_JSON_MAX_DEPTH + 2)];
    size_t n = 0;
    for (int i = 0; i <= DY_JSON_MAX_DEPTH; i++) n += (size_t)sprintf(obj + n, "{\"k\":");
    n += (size_t)sprintf(obj + n, "1");
    for (int i = 0; i <= DY_JSON_MAX_DEPTH; i++) obj[n++] = '}';
    obj[n] = 0;
    dy_json_error e;
    dy_json_doc *d = parse(obj, &e);
    CHECK(!d && strstr(e.message, "nested deeper"), "item6: %d nested objects are refused", DY_JSON_MAX_DEPTH + 1);
    dy_json_free(d);
}

/* Many members: the duplicate check is O(n log n), and a late duplicate is still found. */
static void item6_json_many_keys(void) {
    int n = 200000;
    char *t = malloc((size_t)n * 24 + 64);
    size_t len = 0;
    t[len++] = '{';
    for (int i = 0; i < n; i++) len += (size_t)sprintf(t + len, "%s\"k%d\":%d", i ? "," : "", i, i);
    size_t open_end = len;
    t[len++] = '}';
    dy_json_error e;
    dy_json_doc *d = parse_n(t, len, &e);
    CHECK(d && dy_json_root(d)->count == (size_t)n, "item6: %d members parse", n);
    const dy_json *last = d ? dy_json_member(dy_json_root(d), "k199999") : NULL;
    CHECK(last && last->number == 199999, "item6: the last member is found");
    dy_json_free(d);
    len = open_end + (size_t)sprintf(t + open_end, ",\"k7\":1}");
    d = parse_n(t, len, &e);
    CHECK(!d && strstr(e.message, "\"k7\" appears twice"), "item6: a duplicate among %d keys is named (%s)", n,
          e.message);
    free(t);
}

/* The non-finite spellings are numbers only when asked for. */
static void issue24_json_nonfinite(void) {
    static const char *const words[] = {"nan", "-nan", "inf", "-inf", "NaN", "Infinity", "-Infinity", "INF"};
    dy_json_options o = {.nonfinite = true};
    for (int i = 0; i < 8; i++) {
        char text[64];
        snprintf(text, sizeof text, "{\"v\": %s, \"w\": null}", words[i]);
        dy_json_doc *d = NULL, *strict = NULL;
        dy_json_parse_with(NULL, "t", text, strlen(text), &o, &d, NULL);
        dy_json_parse(NULL, "t", text, strlen(text), &strict, NULL);
        const dy_json *v = dy_json_member(dy_json_root(d), "v"), *w = dy_json_member(dy_json_root(d), "w");
        bool nan = (words[i][words[i][0] == '-'] | 32) == 'n', neg = words[i][0] == '-';
        CHECK(v && v->type == DY_JSON_NUMBER && (nan ? isnan(v->number) : v->number == (neg ? -INFINITY : INFINITY)) &&
                  !strcmp(v->text, words[i]) && w && w->type == DY_JSON_NULL && !strict,
              "issue24_json_nonfinite: %s is a number with the option (null stays null), refused without", words[i]);
        dy_json_free(d);
        dy_json_free(strict);
    }
    static const char *const not_numbers[] = {"[nanx]", "[infinit]", "[-nul]", "[nan1]", "[--inf]"};
    for (int i = 0; i < 5; i++) {
        dy_json_doc *d = NULL;
        dy_json_error e;
        CHECK(dy_json_parse_with(NULL, "t", not_numbers[i], strlen(not_numbers[i]), &o, &d, &e) == DY_ERR_FORMAT && !d,
              "issue24_json_nonfinite: %s is refused (%s)", not_numbers[i], e.message);
    }
}

static void issue24_json_get(void) {
    const char *text = "{\"n\": 2.5, \"s\": \"x\", \"b\": true, \"a\": [1, null, 3], \"t\": [\"ab\", \"cdef\"], "
                       "\"m\": [1, \"x\"]}";
    dy_json_doc *d = parse(text, NULL);
    const dy_json *r = dy_json_root(d);
    double v = -1, a[4] = {0};
    char t[2][3];
    CHECK(dy_json_get_number(r, "n", &v) && v == 2.5 && !dy_json_get_number(r, "s", &v) &&
              !dy_json_get_number(r, "b", &v) && !dy_json_get_number(r, "zz", &v) && !dy_json_get_number(NULL, "n", &v),
          "issue24_json_get: numbers, and not a string, a boolean, a missing member or a NULL object");
    CHECK(dy_json_get_string(r, "s") && !strcmp(dy_json_get_string(r, "s"), "x") && !dy_json_get_string(r, "n"),
          "issue24_json_get: strings");
    CHECK(dy_json_numbers(dy_json_member(r, "a"), a, 4) == 3 && a[0] == 1 && isnan(a[1]) && a[2] == 3 && a[3] == 0,
          "issue24_json_get: an array of numbers with a null (NaN), nothing written past its end");
    CHECK(dy_json_numbers(dy_json_member(r, "m"), a, 4) == -1 && dy_json_numbers(dy_json_member(r, "n"), a, 4) == -1,
          "issue24_json_get: a mixed array or a number is not an array of numbers");
    CHECK(dy_json_strings(dy_json_member(r, "t"), &t[0][0], 3, 2) == 2 && !strcmp(t[0], "ab") && !strcmp(t[1], "cd"),
          "issue24_json_get: an array of strings, cut to the item size");
    CHECK(dy_json_strings(dy_json_member(r, "a"), &t[0][0], 3, 2) == -1, "issue24_json_get: numbers are not strings");
    dy_json_free(d);
}

/* What w wrote, as a C string (buffer writers only). */
static const char *text_of(const dy_json_writer *w) { return w->buf ? w->buf : ""; }

/* Every byte below 0x20 as \u00XX, quotes and backslashes escaped, UTF-8 and DEL as they are; read back exactly. */
static void issue24_json_write_strings(void) {
    char all[0x20 + 8];
    for (int c = 0; c < 0x20; c++) all[c] = (char)c;
    memcpy(all + 0x20, "\"\\/\x7f\xC3\xA9", 6);
    size_t n = 0x20 + 6;
    dy_json_writer w;
    dy_json_writer_to_buffer(&w, DY_JSON_COMPACT, NULL);
    dy_json_write_string_n(&w, all, n);
    CHECK(dy_json_writer_finish(NULL, &w, "t") == DY_OK, "issue24_json_write: a string is written");
    char want[400] = "\"";
    for (int c = 0; c < 0x20; c++) snprintf(want + strlen(want), 8, "\\u%04x", c);
    strcat(want, "\\\"\\\\/\x7f\xC3\xA9\"");
    CHECK(!strcmp(text_of(&w), want), "issue24_json_write: every control character as \\u00xx, \" and \\ escaped, "
          "UTF-8 and DEL as they are:\n  got  %s\n  want %s", text_of(&w), want);
    dy_json_doc *d = parse_n(w.buf, w.len, NULL);
    CHECK(d && dy_json_root(d)->length == n && !memcmp(dy_json_root(d)->text, all, n),
          "issue24_json_write: the string reads back byte for byte");
    dy_json_free(d);
    free(w.buf);
    /* UTF-8 of every length, and a key with the same escapes */
    const char *utf8 = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 \"q\"\n";
    dy_json_writer_to_buffer(&w, DY_JSON_SPACED, NULL);
    dy_json_write_object_begin(&w);
    dy_json_write_key(&w, utf8);
    dy_json_write_string(&w, utf8);
    dy_json_write_key(&w, "none");
    dy_json_write_string(&w, NULL);
    dy_json_write_object_end(&w);
    d = dy_json_writer_finish(NULL, &w, "t") == DY_OK ? parse_n(w.buf, w.len, NULL) : NULL;
    const dy_json *m = d ? &dy_json_root(d)->items[0] : NULL;
    CHECK(m && !strcmp(m->key, utf8) && !strcmp(m->text, utf8) && !strcmp(dy_json_get_string(dy_json_root(d), "none"), ""),
          "issue24_json_write: UTF-8 keys and values pass through and read back; NULL is \"\": %s", text_of(&w));
    dy_json_free(d);
    free(w.buf);
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    int rc = f ? dy_json_fput_string(f, "a\"\\\x01") : -1;
    if (f) fclose(f);
    CHECK(rc == 0 && mem && !strcmp(mem, "\"a\\\"\\\\\\u0001\""), "issue24_json_write: dy_json_fput_string (%s)",
          mem ? mem : "");
    free(mem);
}

/* Numbers: doubles by %.17g and floats by %.9g come back as the same value; non-finite ones are null. */
static void issue24_json_write_numbers(void) {
    const double doubles[] = {0.1, 1.0 / 3, -0.0, 5e-324, DBL_MIN, DBL_MAX, -DBL_MAX, 9007199254740993.0, 1e21, 123,
                              2.5e-8, 0.30000000000000004};
    const float floats[] = {0.1f, 1.0f / 3, FLT_MIN, FLT_MAX, 1e-45f, 16777217.0f, 0.2f, -7.5f};
    dy_json_writer w;
    dy_json_writer_to_buffer(&w, DY_JSON_COMPACT, NULL);
    dy_json_write_array_begin(&w);
    for (int i = 0; i < 12; i++) dy_json_write_double(&w, doubles[i]);
    for (int i = 0; i < 8; i++) dy_json_write_float(&w, floats[i]);
    dy_json_write_double(&w, NAN);
    dy_json_write_float(&w, -INFINITY);
    dy_json_write_int(&w, INT64_MIN);
    dy_json_write_uint(&w, UINT64_MAX);
    dy_json_write_bool(&w, false);
    dy_json_write_number_text(&w, "-0.5e+3", 7);
    dy_json_write_array_end(&w);
    dy_json_doc *d = dy_json_writer_finish(NULL, &w, "t") == DY_OK ? parse_n(w.buf, w.len, NULL) : NULL;
    const dy_json *a = dy_json_root(d);
    if (CHECK(a && a->count == 26, "issue24_json_write_numbers: the array reads back (%s)", text_of(&w))) {
        int exact = 0;
        for (int i = 0; i < 12; i++)
            exact += a->items[i].number == doubles[i] && signbit(a->items[i].number) == signbit(doubles[i]);
        for (int i = 0; i < 8; i++) exact += (float)a->items[12 + i].number == floats[i];
        CHECK(exact == 20, "issue24_json_write_numbers: %d of 20 doubles and floats come back exactly", exact);
        CHECK(a->items[20].type == DY_JSON_NULL && a->items[21].type == DY_JSON_NULL,
              "issue24_json_write_numbers: NaN and -Inf are written as null");
        CHECK(!strcmp(a->items[22].text, "-9223372036854775808") && !strcmp(a->items[23].text, "18446744073709551615"),
              "issue24_json_write_numbers: integers exactly (%s, %s)", a->items[22].text, a->items[23].text);
        CHECK(a->items[24].type == DY_JSON_BOOL && !strcmp(a->items[25].text, "-0.5e+3"),
              "issue24_json_write_numbers: a boolean, a literal kept as written");
    }
    CHECK(strstr(text_of(&w), "[0.10000000000000001,0.33333333333333331,-0,") == text_of(&w) &&
              strstr(text_of(&w), ",0.100000001,0.333333343,"),
          "issue24_json_write_numbers: %%.17g and %%.9g: %.80s", text_of(&w));
    dy_json_free(d);
    free(w.buf);
}

/* The same document in the three layouts. */
static void write_sample(dy_json_writer *w) {
    dy_json_write_object_begin(w);
    dy_json_write_key(w, "a");
    dy_json_write_array_begin(w);
    dy_json_write_int(w, 1);
    dy_json_write_int(w, 2);
    dy_json_write_object_begin(w);
    dy_json_write_key(w, "b");
    dy_json_write_null(w);
    dy_json_write_object_end(w);
    dy_json_write_array_end(w);
    dy_json_write_key(w, "c");
    dy_json_write_object_begin(w);
    dy_json_write_object_end(w);
    dy_json_write_key(w, "d");
    dy_json_write_array_begin(w);
    dy_json_write_array_end(w);
    dy_json_write_object_end(w);
}

static void issue24_json_write_layouts(void) {
    static const char *const want[3] = {
        "{\"a\":[1,2,{\"b\":null}],\"c\":{},\"d\":[]}",
        "{\"a\": [1, 2, {\"b\": null}], \"c\": {}, \"d\": []}",
        "{\n\t\"a\": [\n\t\t1,\n\t\t2,\n\t\t{\n\t\t\t\"b\": null\n\t\t}\n\t],\n\t\"c\": {},\n\t\"d\": []\n}"};
    for (int l = 0; l < 3; l++) {
        dy_json_writer w;
        dy_json_writer_to_buffer(&w, (dy_json_layout)l, "\t");
        write_sample(&w);
        dy_json_doc *d = dy_json_writer_finish(NULL, &w, "t") == DY_OK ? parse_n(w.buf, w.len, NULL) : NULL;
        CHECK(d && !strcmp(text_of(&w), want[l]), "issue24_json_write_layouts: layout %d:\n%s", l, text_of(&w));
        dy_json_free(d);
        free(w.buf);
    }
    /* a stream gets the same bytes */
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    dy_json_writer w;
    dy_json_writer_to_file(&w, f, DY_JSON_SPACED, NULL);
    write_sample(&w);
    dy_status st = dy_json_writer_finish(NULL, &w, "t");
    fclose(f);
    CHECK(st == DY_OK && mem && !strcmp(mem, want[1]), "issue24_json_write_layouts: to a stream: %s", mem ? mem : "");
    free(mem);
}

/* Misuse and failures are reported by dy_json_writer_finish, never written as broken JSON silently. */
static void issue24_json_write_misuse(void) {
    static const char *const cases[] = {"value without key", "key in array", "key after key", "end without begin",
                                        "wrong end", "left open", "two top-level values", "key without value",
                                        "bad literal", "bad literal 2"};
    dy_ctx *ctx = NULL;
    dy_ctx_options o = {.threads = 1};
    if (!CHECK(dy_ctx_create(&ctx, &o) == DY_OK, "issue24_json_write_misuse: a context")) return;
    for (int i = 0; i < 10; i++) {
        dy_json_writer w;
        dy_json_writer_to_buffer(&w, DY_JSON_COMPACT, NULL);
        switch (i) {
        case 0: dy_json_write_object_begin(&w), dy_json_write_int(&w, 1), dy_json_write_object_end(&w); break;
        case 1: dy_json_write_array_begin(&w), dy_json_write_key(&w, "k"), dy_json_write_array_end(&w); break;
        case 2: dy_json_write_object_begin(&w), dy_json_write_key(&w, "k"), dy_json_write_key(&w, "l"); break;
        case 3: dy_json_write_array_end(&w); break;
        case 4: dy_json_write_array_begin(&w), dy_json_write_object_end(&w); break;
        case 5: dy_json_write_array_begin(&w), dy_json_write_int(&w, 1); break;
        case 6: dy_json_write_int(&w, 1), dy_json_write_int(&w, 2); break;
        case 7: dy_json_write_object_begin(&w), dy_json_write_key(&w, "k"), dy_json_write_object_end(&w); break;
        case 8: dy_json_write_number_text(&w, "01", 2); break;
        case 9: dy_json_write_number_text(&w, "nan", 3); break;
        }
        dy_status st = dy_json_writer_finish(ctx, &w, "x.json");
        CHECK(st == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "x.json: JSON written wrongly"),
              "issue24_json_write_misuse: %s is refused: %s", cases[i], dy_ctx_error(ctx));
        free(w.buf);
    }
    dy_ctx_destroy(ctx);
    dy_json_writer w;
    dy_json_writer_to_buffer(&w, DY_JSON_COMPACT, NULL);
    for (int i = 0; i <= DY_JSON_MAX_DEPTH; i++) dy_json_write_array_begin(&w);
    CHECK(w.failed == DY_ERR_INVALID && w.depth == DY_JSON_MAX_DEPTH, "issue24_json_write_misuse: %d levels are too "
          "deep (the parser's limit)", DY_JSON_MAX_DEPTH + 1);
    free(w.buf);
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        setvbuf(full, NULL, _IONBF, 0);
        dy_json_writer_to_file(&w, full, DY_JSON_COMPACT, NULL);
        dy_json_write_string(&w, "no room");
        CHECK(dy_json_writer_finish(NULL, &w, "full") == DY_ERR_IO, "issue24_json_write_misuse: a write error is IO");
        fclose(full);
    }
}

int main(void) {
    item6_json_values();
    item6_json_errors();
    item6_json_depth();
    item6_json_many_keys();
    issue24_json_nonfinite();
    issue24_json_get();
    issue24_json_write_strings();
    issue24_json_write_numbers();
    issue24_json_write_layouts();
    issue24_json_write_misuse();
    return test_finish();
}
