/* The strict JSON parser (src/io/json.c), issue 10 item 6: every value kind, every escape, surrogate pairs, UTF-8
 * checks, numbers, the depth limit, duplicate keys, and errors that name the line and column. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
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

int main(void) {
    item6_json_values();
    item6_json_errors();
    item6_json_depth();
    item6_json_many_keys();
    return test_finish();
}
