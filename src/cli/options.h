/* Command-line options declared as a table: each option names its variable, its default and its help, so the
 * parser, `--help` and the resolved configuration written to a run directory all come from one place. */
#ifndef DY_CLI_OPTIONS_H
#define DY_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* OPT_INT_LIST: comma-separated integers (at most OPT_INT_LIST_MAX, each in [min, max]), kept as the text. */
typedef enum { OPT_INT, OPT_FLOAT, OPT_STRING, OPT_BOOL, OPT_CHOICE, OPT_INT_LIST } opt_type;

#define OPT_INT_LIST_MAX 16

typedef struct {
    const char *name;     /* without the leading "--" */
    opt_type type;
    void *value;          /* int64_t*, double*, const char**, bool*, const char** (choice, int list) */
    const char *def;      /* default, as text (parsed like a command-line value) */
    const char *help;
    const char *choices;  /* OPT_CHOICE: "a|b|c"; OPT_INT: the accepted values "18|50" (instead of a range) */
    double min, max;      /* OPT_INT/OPT_FLOAT/OPT_INT_LIST: the accepted range (inclusive) when min < max. The one
                             range of the option: the library must accept every value in it. */
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
/* Writes the current values as one JSON object (keys in table order, one a line, indented by indent) and a line
 * break, through the JSON writer (io/json_write.h). */
void opt_write_json(FILE *f, const opt_spec *specs, const char *indent);
opt_spec *opt_find(opt_spec *specs, const char *name);

/* Reads a JSON object written by opt_write_json back into the options: length bytes of text, parsed by the strict
 * JSON parser (src/io/json.h). Unknown keys are an error (so a configuration from another version is not
 * half-applied); each value must have its option's JSON type (number, true/false, or a string without \u0000) and
 * pass opt_set. The text is modified in place and string options point into it: keep it alive as long as the
 * options. Returns 0, or -1 with "what:line:column: problem" in err. */
int opt_read_json(opt_spec *specs, const char *what, char *text, size_t length, char *err, size_t err_size);
#endif
