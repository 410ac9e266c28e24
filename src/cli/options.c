#include "cli/options.h"

#include "io/json.h"
#include "io/json_write.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

opt_spec *opt_find(opt_spec *specs, const char *name) {
    for (opt_spec *s = specs; s->name; s++)
        if (!strcmp(s->name, name)) return s;
    return NULL;
}

static bool choice_ok(const char *choices, const char *text) {
    size_t n = strlen(text);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, text, n)) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

/* "a,b,c": decimal integers, each in the option's range, at most OPT_INT_LIST_MAX; "" is the empty list. */
static int int_list_check(opt_spec *s, const char *text, char *err, size_t err_size) {
    int n = 0;
    for (const char *p = text; *p;) {
        char *end = NULL;
        errno = 0;
        long long v = (*p == '-' || (*p >= '0' && *p <= '9')) ? strtoll(p, &end, 10) : 0;
        if (end && end != p && errno == ERANGE) {
            snprintf(err, err_size, "--%s: each value must be between %.15g and %.15g, got '%.*s'", s->name, s->min,
                     s->max, (int)(end - p), p);
            return -1;
        }
        if (!end || end == p || errno || (*end && *end != ',') || (*end == ',' && !end[1])) {
            snprintf(err, err_size, "--%s expects integers separated by commas, got '%s'", s->name, text);
            return -1;
        }
        if (s->min < s->max && (v < s->min || v > s->max)) {
            snprintf(err, err_size, "--%s: each value must be between %.15g and %.15g, got %lld", s->name, s->min,
                     s->max, v);
            return -1;
        }
        if (++n > OPT_INT_LIST_MAX) {
            snprintf(err, err_size, "--%s takes at most %d values, got more in '%s'", s->name, OPT_INT_LIST_MAX, text);
            return -1;
        }
        p = *end ? end + 1 : end;
    }
    *(const char **)s->value = text;
    return 0;
}

/* "0x10", "-0X1p3": strtod reads hexadecimal (and strtoll would with base 0); a number option takes decimals only,
 * so that 0x10 is refused rather than read as 16. */
static bool hexadecimal(const char *text) {
    if (*text == '+' || *text == '-') text++;
    return text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
}

int opt_set(opt_spec *s, const char *text, char *err, size_t err_size) {
    char *end = NULL;
    errno = 0;
    if ((s->type == OPT_INT || s->type == OPT_FLOAT) && hexadecimal(text)) {
        snprintf(err, err_size, "--%s expects a decimal number, got '%s' (hexadecimal is not accepted)", s->name,
                 text);
        return -1;
    }
    switch (s->type) {
    case OPT_INT: {
        long long v = strtoll(text, &end, 10);
        if (!*text || *end || errno) {
            snprintf(err, err_size, "--%s expects an integer%s, got '%s'", s->name,
                     errno == ERANGE ? " of at most 19 digits" : "", text);
            return -1;
        }
        if (s->choices && !choice_ok(s->choices, text)) {
            snprintf(err, err_size, "--%s must be one of %s, got '%s'", s->name, s->choices, text);
            return -1;
        }
        if (s->min < s->max && (v < s->min || v > s->max)) {
            snprintf(err, err_size, "--%s must be between %.15g and %.15g, got %lld", s->name, s->min, s->max, v);
            return -1;
        }
        *(int64_t *)s->value = v;
        return 0;
    }
    case OPT_FLOAT: {
        double v = strtod(text, &end);
        if (!*text || *end || errno || !isfinite(v)) {
            snprintf(err, err_size, "--%s expects a finite number, got '%s'", s->name, text);
            return -1;
        }
        if (s->min < s->max && (v < s->min || v > s->max)) {
            snprintf(err, err_size, "--%s must be between %.15g and %.15g, got %g", s->name, s->min, s->max, v);
            return -1;
        }
        *(double *)s->value = v;
        return 0;
    }
    case OPT_STRING: {
        /* config.json keeps the value: it must be text JSON can hold (paths in another encoding cannot be) */
        size_t bad = 0;
        if (!dy_json_valid_utf8(text, strlen(text), &bad)) {
            snprintf(err, err_size, "--%s is not valid UTF-8 (byte 0x%02x at offset %zu of '%s')", s->name,
                     (unsigned char)text[bad], bad, text);
            return -1;
        }
        *(const char **)s->value = text;
        return 0;
    }
    case OPT_INT_LIST: return int_list_check(s, text, err, err_size);
    case OPT_CHOICE:
        if (!choice_ok(s->choices, text)) {
            snprintf(err, err_size, "--%s must be one of %s, got '%s'", s->name, s->choices, text);
            return -1;
        }
        *(const char **)s->value = text;
        return 0;
    case OPT_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes")) *(bool *)s->value = true;
        else if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no")) *(bool *)s->value = false;
        else {
            snprintf(err, err_size, "--%s expects true or false, got '%s'", s->name, text);
            return -1;
        }
        return 0;
    }
    return -1;
}

static int parse_args(opt_spec *specs, int argc, char **argv, int first, const char **positional,
                      int max_positional, int *n_positional, char *err, size_t err_size);

int opt_parse(opt_spec *specs, int argc, char **argv, int first, const char **positional, int max_positional,
              int *n_positional, char *err, size_t err_size) {
    for (opt_spec *s = specs; s->name; s++) {
        s->set = false;
        if (opt_set(s, s->def, err, err_size) != 0) return -1;
    }
    return parse_args(specs, argc, argv, first, positional, max_positional, n_positional, err, err_size);
}

int opt_parse_over(opt_spec *specs, int argc, char **argv, int first, const char **positional, int max_positional,
                   int *n_positional, char *err, size_t err_size) {
    for (opt_spec *s = specs; s->name; s++) s->set = false;
    return parse_args(specs, argc, argv, first, positional, max_positional, n_positional, err, err_size);
}

static int parse_args(opt_spec *specs, int argc, char **argv, int first, const char **positional,
                      int max_positional, int *n_positional, char *err, size_t err_size) {
    if (n_positional) *n_positional = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        if (strncmp(a, "--", 2) != 0) {
            if (positional && n_positional && *n_positional < max_positional) {
                positional[(*n_positional)++] = a;
                continue;
            }
            snprintf(err, err_size, "unexpected argument '%s' (options start with --)", a);
            return -1;
        }
        char name[128];
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, a + 2, len);
        name[len] = 0;
        opt_spec *s = opt_find(specs, name);
        const char *value = eq ? eq + 1 : NULL;
        if (!s && !strncmp(name, "no-", 3) && !value) {
            s = opt_find(specs, name + 3);
            if (s && s->type == OPT_BOOL) {
                *(bool *)s->value = false;
                s->set = true;
                continue;
            }
            s = NULL;
        }
        if (!s) {
            snprintf(err, err_size, "unknown option --%s (see --help)", name);
            return -1;
        }
        if (!value) {
            if (s->type == OPT_BOOL) value = "true";
            else if (i + 1 < argc) value = argv[++i];
            else {
                snprintf(err, err_size, "--%s needs a value", name);
                return -1;
            }
        }
        if (opt_set(s, value, err, err_size) != 0) return -1;
        s->set = true;
    }
    return 0;
}

void opt_print_help(FILE *f, const opt_spec *specs) {
    for (const opt_spec *s = specs; s->name; s++) {
        char head[96];
        const char *meta = s->type == OPT_INT ? " N" : s->type == OPT_FLOAT ? " X" : s->type == OPT_BOOL ? "" :
                           s->type == OPT_INT_LIST ? " N,N,.." : " S";
        if (s->choices) meta = "";
        snprintf(head, sizeof head, "  --%s%s%s%s", s->name, meta, s->choices ? " " : "", s->choices ? s->choices : "");
        fprintf(f, "%-44s %s", head, s->help);
        if (s->def && *s->def) fprintf(f, " (default: %s)", s->def);
        else if (s->type == OPT_STRING) fprintf(f, " (default: none)");
        fputc('\n', f);
    }
}

void opt_write_json(FILE *f, const opt_spec *specs, const char *indent) {
    dy_json_writer w;
    dy_json_writer_to_file(&w, f, DY_JSON_INDENTED, indent);
    dy_json_write_object_begin(&w);
    for (const opt_spec *s = specs; s->name; s++) {
        dy_json_write_key(&w, s->name);
        switch (s->type) {
        case OPT_INT: dy_json_write_int(&w, *(int64_t *)s->value); break;
        case OPT_FLOAT: dy_json_write_double(&w, *(double *)s->value); break;
        case OPT_BOOL: dy_json_write_bool(&w, *(bool *)s->value); break;
        case OPT_STRING:
        case OPT_CHOICE:
        case OPT_INT_LIST: dy_json_write_string(&w, *(const char **)s->value); break;
        }
    }
    dy_json_write_object_end(&w);
    fputc('\n', f);
}

/* Where a value of the configuration is, for messages: "what:line:column". */
static void where(char *buf, size_t size, const char *what, const char *text, size_t length, size_t offset) {
    int64_t line, column;
    dy_json_locate(text, length, offset, &line, &column);
    snprintf(buf, size, "%s:%lld:%lld", what, (long long)line, (long long)column);
}

int opt_read_json(opt_spec *specs, const char *what, char *text, size_t length, char *err, size_t err_size) {
    if (!what) what = "configuration";
    dy_json_doc *doc = NULL;
    dy_json_error je;
    if (dy_json_parse(NULL, what, text, length, &doc, &je) != DY_OK) {
        snprintf(err, err_size, "%s:%lld:%lld: %s", what, (long long)je.line, (long long)je.column, je.message);
        return -1;
    }
    const dy_json *root = dy_json_root(doc);
    char at[600];
    int rc = 0;
    if (root->type != DY_JSON_OBJECT) {
        where(at, sizeof at, what, text, length, root->offset);
        snprintf(err, err_size, "%s: the configuration must be a JSON object of options, found %s %s", at,
                 root->type == DY_JSON_ARRAY ? "an" : "a", dy_json_type_name(root->type));
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < root->count; i++) {
        const dy_json *v = &root->items[i];
        opt_spec *s = strlen(v->key) == v->key_length ? opt_find(specs, v->key) : NULL;
        if (!s) {
            where(at, sizeof at, what, text, length, v->key_offset);
            snprintf(err, err_size, "%s: unknown option \"%.100s\" in the configuration", at, v->key);
            rc = -1;
            break;
        }
        where(at, sizeof at, what, text, length, v->offset);
        dy_json_type want = s->type == OPT_INT || s->type == OPT_FLOAT ? DY_JSON_NUMBER
                            : s->type == OPT_BOOL                      ? DY_JSON_BOOL
                                                                       : DY_JSON_STRING;
        if (v->type != want) {
            const char *got = dy_json_type_name(v->type);
            snprintf(err, err_size, "%s: \"%s\" must be a %s, found %s %s", at, s->name,
                     want == DY_JSON_BOOL ? "boolean (true or false)" : dy_json_type_name(want),
                     got[0] == 'a' || got[0] == 'o' ? "an" : "a", got);
            rc = -1;
            break;
        }
        const char *value = v->text;
        if (v->type == DY_JSON_BOOL) value = v->boolean ? "true" : "false";
        if (v->type == DY_JSON_STRING) {
            if (strlen(v->text) != v->length) {
                snprintf(err, err_size, "%s: \"%s\" holds a NUL character (\\u0000)", at, s->name);
                rc = -1;
                break;
            }
            /* The decoded string is never longer than its literal (quotes included): it goes in place of the
             * literal, so the option can point into text, which the caller keeps. */
            memcpy(text + v->offset, v->text, v->length + 1);
            value = text + v->offset;
        }
        char why[512];
        if (opt_set(s, value, why, sizeof why) != 0) {
            snprintf(err, err_size, "%s: %s", at, why);
            rc = -1;
        }
    }
    dy_json_free(doc);
    return rc;
}
