#include "cli/options.h"

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

int opt_set(opt_spec *s, const char *text, char *err, size_t err_size) {
    char *end = NULL;
    errno = 0;
    switch (s->type) {
    case OPT_INT: {
        long long v = strtoll(text, &end, 10);
        if (!*text || *end || errno) {
            snprintf(err, err_size, "--%s expects an integer, got '%s'", s->name, text);
            return -1;
        }
        if (s->min < s->max && (v < s->min || v > s->max)) {
            snprintf(err, err_size, "--%s must be between %g and %g, got %lld", s->name, s->min, s->max, v);
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
            snprintf(err, err_size, "--%s must be between %g and %g, got %g", s->name, s->min, s->max, v);
            return -1;
        }
        *(double *)s->value = v;
        return 0;
    }
    case OPT_STRING: *(const char **)s->value = text; return 0;
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
        const char *meta = s->type == OPT_INT ? " N" : s->type == OPT_FLOAT ? " X" : s->type == OPT_BOOL ? "" : " S";
        if (s->type == OPT_CHOICE) meta = "";
        snprintf(head, sizeof head, "  --%s%s%s%s", s->name, meta, s->type == OPT_CHOICE ? " " : "",
                 s->type == OPT_CHOICE ? s->choices : "");
        fprintf(f, "%-44s %s", head, s->help);
        if (s->def && *s->def) fprintf(f, " (default: %s)", s->def);
        else if (s->type == OPT_STRING) fprintf(f, " (default: none)");
        fputc('\n', f);
    }
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

void opt_write_json(FILE *f, const opt_spec *specs, const char *indent) {
    fputs("{", f);
    for (const opt_spec *s = specs; s->name; s++) {
        fprintf(f, "%s\n%s", s == specs ? "" : ",", indent);
        json_string(f, s->name);
        fputs(": ", f);
        switch (s->type) {
        case OPT_INT: fprintf(f, "%lld", (long long)*(int64_t *)s->value); break;
        case OPT_FLOAT: fprintf(f, "%.17g", *(double *)s->value); break;
        case OPT_BOOL: fputs(*(bool *)s->value ? "true" : "false", f); break;
        case OPT_STRING:
        case OPT_CHOICE: json_string(f, *(const char **)s->value); break;
        }
    }
    fputs("\n}\n", f);
}

static char *skip_ws(char *p) {
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}

/* Parses a JSON string at p (which points at the opening quote), unescaping in place; returns the character after
 * the closing quote, or NULL. Only the escapes opt_write_json produces are needed, but all simple ones are read. */
static char *parse_string(char *p, char **out) {
    if (*p != '"') return NULL;
    char *dst = ++p;
    *out = dst;
    while (*p && *p != '"') {
        if (*p == '\\') {
            p++;
            switch (*p) {
            case '"': case '\\': case '/': *dst++ = *p++; break;
            case 'n': *dst++ = '\n'; p++; break;
            case 't': *dst++ = '\t'; p++; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 1; i <= 4; i++) {
                    char c = p[i];
                    if (!c) return NULL;
                    v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
                }
                if (v >= 0x80) return NULL; /* only control characters are escaped by the writer */
                *dst++ = (char)v;
                p += 5;
                break;
            }
            default: return NULL;
            }
        } else {
            *dst++ = *p++;
        }
    }
    if (*p != '"') return NULL;
    *dst = 0; /* safe: dst <= p */
    return p + 1;
}

int opt_read_json(opt_spec *specs, char *text, char *err, size_t err_size) {
    char *p = skip_ws(text);
    if (*p++ != '{') goto bad;
    p = skip_ws(p);
    if (*p == '}') return 0;
    for (;;) {
        char *key, *value;
        p = parse_string(skip_ws(p), &key);
        if (!p) goto bad;
        p = skip_ws(p);
        if (*p++ != ':') goto bad;
        p = skip_ws(p);
        char saved;
        if (*p == '"') {
            p = parse_string(p, &value);
            if (!p) goto bad;
            saved = 0;
        } else {
            value = p;
            while (*p && *p != ',' && *p != '}' && *p != ' ' && *p != '\n') p++;
            saved = *p;
            *p = 0;
        }
        opt_spec *s = opt_find(specs, key);
        if (!s) {
            snprintf(err, err_size, "configuration has an unknown option '%s'", key);
            return -1;
        }
        if (opt_set(s, value, err, err_size) != 0) return -1;
        if (saved) *p = saved;
        p = skip_ws(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}') return 0;
        goto bad;
    }
bad:
    snprintf(err, err_size, "configuration is not a flat JSON object (near byte %ld)", (long)(p - text));
    return -1;
}
