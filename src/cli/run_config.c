/* A run's configuration as files and text: config.json written and read back (--config, the config.json of a run
 * directory or beside a checkpoint), the canonical text a checkpoint stores, and the command that reproduces a run. */
#include "cli/commands.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "io/atomic_file.h"
#include "io/read_file.h"

char *cli_read_file(const char *path, size_t max_bytes, size_t *length, char *err, size_t err_size) {
    struct dy_ctx messages = {0}; /* receives dy_read_file's message only: no threads, no backend */
    uint8_t *data;
    if (dy_read_file(&messages, path, &data, length, max_bytes) != DY_OK) {
        snprintf(err, err_size, "%s", messages.error);
        return NULL;
    }
    return (char *)data;
}

/* What one invocation asked for, not what the run is: never saved as true, so that a later command reading the
 * configuration (export, embed, eval) does not inherit it. */
static const char *const one_shot_options[] = {"resume", "overwrite", NULL};

dy_status cli_write_config(dy_ctx *ctx, const char *path, const opt_spec *specs) {
    bool saved[4] = {false};
    for (int i = 0; one_shot_options[i]; i++) {
        const opt_spec *s = opt_find((opt_spec *)specs, one_shot_options[i]);
        if (s) {
            saved[i] = *(bool *)s->value;
            *(bool *)s->value = false;
        }
    }
    dy_atomic_file af;
    dy_status st = dy_atomic_open(ctx, &af, path);
    if (st == DY_OK) {
        opt_write_json(af.fp, specs, "  ");
        st = dy_atomic_commit(ctx, &af);
    }
    for (int i = 0; one_shot_options[i]; i++) {
        const opt_spec *s = opt_find((opt_spec *)specs, one_shot_options[i]);
        if (s) *(bool *)s->value = saved[i];
    }
    return st;
}

int cli_load_run_config(const char *run_dir, opt_spec *specs, char **text_out) {
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/config.json", run_dir);
    size_t length = 0;
    char *text = cli_read_file(path, CLI_CONFIG_MAX_BYTES, &length, err, sizeof err);
    if (!text) {
        fprintf(stderr, "dystress: %s\n", err);
        return -1;
    }
    for (opt_spec *s = specs; s->name; s++)
        if (opt_set(s, s->def, err, sizeof err) != 0) break;
    if (opt_read_json(specs, path, text, length, err, sizeof err) != 0) {
        fprintf(stderr, "dystress: %s\n", err);
        free(text);
        return -1;
    }
    for (int i = 0; one_shot_options[i]; i++) {
        opt_spec *s = opt_find(specs, one_shot_options[i]);
        if (s) *(bool *)s->value = false;
    }
    *text_out = text;
    return 0;
}

void cli_config_beside(const char *checkpoint, char *out, size_t size) {
    const char *slash = strrchr(checkpoint, '/');
    if (slash) snprintf(out, size, "%.*s/config.json", (int)(slash - checkpoint), checkpoint);
    else snprintf(out, size, "config.json");
}

/* Appends to a growing buffer; *failed on overflow of memory. */
typedef struct {
    char *s;
    size_t len, cap;
    bool failed;
} text_buf;

static void put(text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_buf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? 2 * b->cap : 1024) + (size_t)n;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->failed = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
}

/* One option's value as canonical text: numbers as parsed (0.2 and 2e-1 agree), strings with '\\' and control
 * characters escaped, so that a value is one line. */
static void put_value(text_buf *b, const opt_spec *s) {
    switch (s->type) {
    case OPT_INT: put(b, "%lld", (long long)*(int64_t *)s->value); break;
    case OPT_FLOAT: { /* the fewest digits that give the number back: 0.1, not 0.10000000000000001 */
        double v = *(double *)s->value;
        char digits[40];
        for (int precision = 15; precision <= 17; precision++) {
            snprintf(digits, sizeof digits, "%.*g", precision, v);
            if (strtod(digits, NULL) == v) break;
        }
        put(b, "%s", digits);
        break;
    }
    case OPT_BOOL: put(b, "%s", *(bool *)s->value ? "true" : "false"); break;
    case OPT_STRING:
    case OPT_CHOICE:
    case OPT_INT_LIST: /* kept as its text, "30,60" */
        for (const unsigned char *c = *(const unsigned char *const *)s->value; c && *c; c++) {
            if (*c == '\\') put(b, "\\\\");
            else if (*c < 0x20 || *c == 0x7f) put(b, "\\x%02x", *c);
            else put(b, "%c", *c);
        }
        break;
    }
}

char *run_config_canonical(const opt_spec *specs) {
    text_buf b = {0};
    put(&b, "dystress-config 1\n");
    for (const opt_spec *s = specs; s->name; s++) {
        run_option_role role = run_option_role_of(s->name);
        if (role == RUN_OPTION_INVOCATION || role == RUN_OPTION_SETTING) continue;
        put(&b, "%s=", s->name);
        put_value(&b, s);
        put(&b, "\n");
    }
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* The value of option name in a canonical text, as [*value, *value + *len); false when absent. */
static bool find_line(const char *text, const char *name, const char **value, size_t *len) {
    size_t n = strlen(name);
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t line = nl ? (size_t)(nl - p) : strlen(p);
        if (line > n && !strncmp(p, name, n) && p[n] == '=') {
            *value = p + n + 1;
            *len = line - n - 1;
            return true;
        }
        p = nl ? nl + 1 : NULL;
    }
    return false;
}

void run_config_value(const char *text, const char *name, char *value, size_t size) {
    const char *v;
    size_t len;
    if (find_line(text, name, &v, &len)) snprintf(value, size, "%.*s", (int)len, v);
    else snprintf(value, size, "(absent)");
}

/* Appends s to buf, single-quoted for a POSIX shell when it holds anything but plain characters. */
static void append_quoted(char *buf, size_t size, const char *s) {
    size_t len = strlen(buf);
    bool plain = *s != 0;
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./,=:+-@%", *p)) plain = false;
    if (plain) {
        snprintf(buf + len, size - len, "%s", s);
        return;
    }
    if (len + 1 < size) buf[len++] = '\'';
    for (const char *p = s; *p && len + 5 < size; p++) {
        if (*p == '\'') {
            memcpy(buf + len, "'\\''", 4);
            len += 4;
        } else {
            buf[len++] = *p;
        }
    }
    if (len + 1 < size) buf[len++] = '\'';
    buf[len < size ? len : size - 1] = 0;
}

void cli_reproduce_command(const opt_spec *specs, char *buf, size_t size) {
    run_options d;
    opt_spec defaults[RUN_OPTION_COUNT];
    run_option_table(defaults, &d);
    char err[256];
    for (opt_spec *s = defaults; s->name; s++) opt_set(s, s->def, err, sizeof err);
    snprintf(buf, size, "dystress pretrain");
    for (const opt_spec *s = specs; s->name; s++) {
        opt_spec *ds = opt_find(defaults, s->name);
        if (!ds || !strcmp(s->name, "resume") || !strcmp(s->name, "max-steps")) continue;
        char value[1024] = "";
        switch (s->type) {
        case OPT_INT:
            if (*(int64_t *)s->value == *(int64_t *)ds->value) continue;
            snprintf(value, sizeof value, "%lld", (long long)*(int64_t *)s->value);
            break;
        case OPT_FLOAT: {
            double v = *(double *)s->value;
            if (v == *(double *)ds->value) continue;
            for (int digits = 6; digits <= 17; digits++) { /* the shortest text that reads back as v */
                snprintf(value, sizeof value, "%.*g", digits, v);
                if (strtod(value, NULL) == v) break;
            }
            break;
        }
        case OPT_BOOL: {
            bool v = *(bool *)s->value;
            if (v == *(bool *)ds->value) continue;
            size_t len = strlen(buf);
            snprintf(buf + len, size - len, " --%s%s", v ? "" : "no-", s->name);
            continue;
        }
        case OPT_STRING:
        case OPT_CHOICE:
        case OPT_INT_LIST:
            if (!strcmp(*(const char **)s->value, *(const char **)ds->value)) continue;
            snprintf(value, sizeof value, "%s", *(const char **)s->value);
            break;
        }
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, " --%s ", s->name);
        append_quoted(buf, size, value);
    }
}

int cli_parse_with_config(const char *command, opt_spec *specs, run_options *o, int argc, char **argv, int first,
                          char **text) {
    *text = NULL;
    char err[1024];
    int rc = opt_parse(specs, argc, argv, first, NULL, 0, NULL, err, sizeof err);
    if (rc == 1) return 1;
    if (rc != 0) {
        fprintf(stderr, "dystress %s: %s\n", command, err);
        return 2;
    }
    if (!*o->config) return 0;
    if (o->resume) {
        fprintf(stderr, "dystress %s: --config with --resume: a resumed run reads its own config.json\n", command);
        return 2;
    }
    const char *path = o->config; /* points into argv */
    size_t length = 0;
    char *t = cli_read_file(path, CLI_CONFIG_MAX_BYTES, &length, err, sizeof err);
    if (!t) {
        fprintf(stderr, "dystress %s: --config: %s\n", command, err);
        return 2;
    }
    for (opt_spec *s = specs; s->name; s++) opt_set(s, s->def, err, sizeof err);
    if (opt_read_json(specs, path, t, length, err, sizeof err) != 0) {
        fprintf(stderr, "dystress %s: --config: %s\n", command, err);
        free(t);
        return 2;
    }
    /* the file gives the run's configuration; how this process runs (run-dir, threads, resume, overwrite, ...) is
     * this command line's or the default, never the file's */
    for (opt_spec *s = specs; s->name; s++)
        if (run_option_role_of(s->name) == RUN_OPTION_INVOCATION) opt_set(s, s->def, err, sizeof err);
    if (opt_parse_over(specs, argc, argv, first, NULL, 0, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "dystress %s: %s\n", command, err);
        free(t);
        return 2;
    }
    *text = t;
    return 0;
}
