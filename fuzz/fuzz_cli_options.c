/* libFuzzer target for the command-line option parser (src/cli/options.c) with the run table of `dystress
 * pretrain`: the input, split at NUL bytes, is the argument list. Any arguments must be accepted or refused with a
 * message, never crash, leak or read out of bounds. Oracles beyond "no crash":
 *  - what the parser accepts is in range: every option's value passes opt_set again (its one range);
 *  - accepted options written as config.json (what a run directory keeps) read back to exactly the same values,
 *    and a command line layered over them (opt_parse_over, as `eval --checkpoint` does) gives the same result. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"
#include "cli/options.h"

#define MAX_ARGS 48

static char *table_json(const opt_spec *t) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) abort();
    opt_write_json(f, t, "  ");
    fclose(f);
    return text;
}

/* The value of option s as text that opt_set reads back. */
static void value_text(const opt_spec *s, char *out, size_t size) {
    switch (s->type) {
    case OPT_INT: snprintf(out, size, "%lld", (long long)*(int64_t *)s->value); break;
    case OPT_FLOAT: snprintf(out, size, "%.17g", *(double *)s->value); break;
    case OPT_BOOL: snprintf(out, size, "%s", *(bool *)s->value ? "true" : "false"); break;
    default: snprintf(out, size, "%s", *(const char **)s->value); break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = 0;
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    for (size_t i = 0; i <= size && argc < MAX_ARGS;) {
        argv[argc++] = copy + i;
        i += strlen(copy + i) + 1;
    }
    argv[argc] = NULL;

    run_options o, back;
    opt_spec t[RUN_OPTION_COUNT], tb[RUN_OPTION_COUNT];
    char err[1024];
    err[0] = 0;
    run_option_table(t, &o);
    int rc = opt_parse(t, argc, argv, 0, NULL, 0, NULL, err, sizeof err);
    if (rc == -1 && !err[0]) abort(); /* a refusal says why */
    if (rc == 0) {
        run_options_check(&o, err, sizeof err);
        /* every accepted value is inside its option's range */
        for (opt_spec *s = t; s->name; s++) {
            char v[4096];
            value_text(s, v, sizeof v);
            run_options probe = o;
            opt_spec ps = *s;
            ps.value = (char *)&probe + ((char *)s->value - (char *)&o);
            if (opt_set(&ps, s->type == OPT_STRING || s->type == OPT_CHOICE || s->type == OPT_INT_LIST
                                 ? *(const char **)s->value : v, err, sizeof err) != 0) {
                fprintf(stderr, "accepted --%s does not pass its own check: %s\n", s->name, err);
                abort();
            }
        }
        /* config.json round trip */
        char *written = table_json(t);
        char *scratch = strdup(written); /* opt_read_json decodes strings in place; the options point into it */
        run_option_table(tb, &back);
        for (opt_spec *s = tb; s->name; s++)
            if (opt_set(s, s->def, err, sizeof err) != 0) abort();
        if (opt_read_json(tb, "config.json", scratch, strlen(scratch), err, sizeof err) != 0) {
            fprintf(stderr, "accepted options do not read back from config.json: %s\n", err);
            abort();
        }
        char *rewritten = table_json(tb);
        if (strcmp(written, rewritten) != 0) abort();
        /* the same command line over the saved configuration gives the same options */
        if (opt_parse_over(tb, argc, argv, 0, NULL, 0, NULL, err, sizeof err) != 0) abort();
        char *layered = table_json(tb);
        if (strcmp(written, layered) != 0) abort();
        free(layered);
        free(rewritten);
        free(written);
        free(scratch);
    }
    free(copy);
    return 0;
}
