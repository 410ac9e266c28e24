/* Command-line options declared as a table: each option names its variable, its default and its help, so the
 * parser, `--help` and the resolved configuration written to a run directory all come from one place. */
#ifndef DY_CLI_OPTIONS_H
#define DY_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { OPT_INT, OPT_FLOAT, OPT_STRING, OPT_BOOL, OPT_CHOICE } opt_type;

typedef struct {
    const char *name;     /* without the leading "--" */
    opt_type type;
    void *value;          /* int64_t*, double*, const char**, bool*, const char** (choice) */
    const char *def;      /* default, as text (parsed like a command-line value) */
    const char *help;
    const char *choices;  /* OPT_CHOICE: "a|b|c" */
    double min, max;      /* OPT_INT/OPT_FLOAT: accepted range when min < max */
    bool set;             /* given on the command line */
} opt_spec;

/* Sets every option to its default, then parses argv[first..argc). Accepts --name value, --name=value, --flag and
 * --no-flag for booleans. On an error writes one line naming the problem into err and returns -1.
 * Returns 1 when --help was asked for, else 0. Positional arguments are refused unless positional is not NULL,
 * in which case they are stored there (at most max_positional). */
int opt_parse(opt_spec *specs, int argc, char **argv, int first, const char **positional, int max_positional,
              int *n_positional, char *err, size_t err_size);
/* As opt_parse, but on top of the current values (no defaults first): layering a command line over a saved
 * configuration. */
int opt_parse_over(opt_spec *specs, int argc, char **argv, int first, const char **positional, int max_positional,
                   int *n_positional, char *err, size_t err_size);
/* Parses one value into an option (used for defaults, resume and --config). */
int opt_set(opt_spec *s, const char *text, char *err, size_t err_size);
/* Prints the options with their defaults and help, wrapped for a terminal. */
void opt_print_help(FILE *f, const opt_spec *specs);
/* Writes the current values as one JSON object (keys in table order). */
void opt_write_json(FILE *f, const opt_spec *specs, const char *indent);
opt_spec *opt_find(opt_spec *specs, const char *name);

/* Reads a JSON object written by opt_write_json back into the options (unknown keys are an error, so a
 * configuration from another version is not half-applied). The text is modified in place and string options point
 * into it: keep it alive as long as the options. Returns 0, or -1 with a message in err. */
int opt_read_json(opt_spec *specs, char *text, char *err, size_t err_size);
#endif
