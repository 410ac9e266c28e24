/* The manual page man/dystress.1 against the command itself: every command that `dystress --help` lists has a
 * section under COMMANDS, every option of every `dystress COMMAND --help` appears in the page, and the page names no
 * command or option that does not exist. Then it renders without warnings (where groff is installed) and
 * `make install-man` puts it where `man` finds it (checked with man where man-db is installed). Needs no man-db.
 * Run from the repository root; DY_CLI names another binary, DY_MANPAGE another page. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_support.h"
#include "testlib.h"

enum { MAX_NAMES = 512, NAME_LEN = 64, OUT_SIZE = 1 << 17 };

typedef struct {
    char v[MAX_NAMES][NAME_LEN];
    int n;
} name_set;

static bool set_has(const name_set *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], name)) return true;
    return false;
}

static void set_add(name_set *s, const char *name) {
    if (set_has(s, name) || s->n == MAX_NAMES || strlen(name) >= NAME_LEN) return;
    strcpy(s->v[s->n++], name);
}

/* The page as a reader sees its words: font changes dropped, \- and \e made plain, \& and quotes removed. */
static char *read_page(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *raw = malloc((size_t)size + 1), *text = malloc((size_t)size + 1);
    size_t got = raw && text ? fread(raw, 1, (size_t)size, f) : 0;
    fclose(f);
    if (!raw || !text || got != (size_t)size) {
        free(raw);
        free(text);
        return NULL;
    }
    raw[size] = 0;
    size_t o = 0;
    for (long i = 0; i < size; i++) {
        if (raw[i] == '\\' && i + 1 < size) {
            char c = raw[i + 1];
            if (c == 'f' && i + 2 < size) { i += 2; continue; }       /* \fB \fI \fR \fP */
            if (c == '-') { text[o++] = '-'; i++; continue; }
            if (c == 'e') { text[o++] = '\\'; i++; continue; }
            if (c == '&') { i++; continue; }
            if (c == '"') {                                           /* a comment: to the end of the line */
                while (i < size && raw[i] != '\n') i++;
                text[o++] = '\n';
                continue;
            }
        }
        if (raw[i] == '"') continue;
        text[o++] = raw[i];
    }
    text[o] = 0;
    free(raw);
    return text;
}

/* The command names of `dystress --help`: the first field (up to two spaces) of each line after "commands:". */
static void help_commands(const char *help, name_set *cmds) {
    const char *p = strstr(help, "\ncommands:");
    if (!p) return;
    p = strchr(p + 1, '\n');
    while (p && p[1] == ' ') {
        const char *s = p + 1;
        while (*s == ' ') s++;
        const char *e = strstr(s, "  ");
        const char *nl = strchr(s, '\n');
        if (!e || (nl && nl < e)) e = nl ? nl : s + strlen(s);
        char name[NAME_LEN] = {0};
        size_t len = (size_t)(e - s) < NAME_LEN - 1 ? (size_t)(e - s) : NAME_LEN - 1;
        memcpy(name, s, len);
        if (len) set_add(cmds, name);
        p = nl;
    }
}

/* The options of a command's --help: every line that starts with "  --name". */
static int help_options(const char *help, name_set *opts) {
    int n = 0;
    for (const char *p = help; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, "  --", 4) != 0) continue;
        char name[NAME_LEN] = {0};
        size_t len = 2;
        memcpy(name, "--", 2);
        for (const char *s = p + 4; (isalnum((unsigned char)*s) || *s == '-') && len < NAME_LEN - 1; s++)
            name[len++] = *s;
        set_add(opts, name);
        n++;
    }
    return n;
}

/* True when the page holds name as a whole option word (not the start of a longer option). */
static bool page_names_option(const char *page, const char *name) {
    size_t len = strlen(name);
    for (const char *p = strstr(page, name); p; p = strstr(p + 1, name)) {
        char before = p == page ? ' ' : p[-1], after = p[len];
        if ((isalnum((unsigned char)before) || before == '-') || isalnum((unsigned char)after) || after == '-')
            continue;
        return true;
    }
    return false;
}

/* The lines of one section (".SH NAME" to the next .SH), copied into out. */
static void section(const char *page, const char *sh, char *out, size_t out_size) {
    out[0] = 0;
    char head[64];
    snprintf(head, sizeof head, "\n.SH %s\n", sh);
    const char *s = strstr(page, head);
    if (!s) return;
    s += strlen(head) - 1;
    const char *e = strstr(s, "\n.SH ");
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len >= out_size) len = out_size - 1;
    memcpy(out, s, len);
    out[len] = 0;
}

static void test_commands_and_options(const char *page) {
    static char help[OUT_SIZE], sect[OUT_SIZE];
    int rc = cli_run(help, sizeof help, "./dystress --help");
    CHECK(rc == 0, "dystress --help exits 0 (got %d)", rc);
    name_set cmds = {0};
    help_commands(help, &cmds);
    if (!CHECK(cmds.n >= 8, "dystress --help lists its commands (found %d)", cmds.n)) return;

    /* the COMMANDS section's .SS headings are exactly the commands of --help */
    section(page, "COMMANDS", sect, sizeof sect);
    CHECK(sect[0], "the page has a COMMANDS section");
    name_set headings = {0};
    for (const char *p = strstr(sect, "\n.SS "); p; p = strstr(p + 1, "\n.SS ")) {
        char name[NAME_LEN] = {0};
        const char *s = p + 5, *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        while (len && s[len - 1] == ' ') len--;
        memcpy(name, s, len < NAME_LEN - 1 ? len : NAME_LEN - 1);
        set_add(&headings, name);
    }
    for (int i = 0; i < cmds.n; i++)
        CHECK(set_has(&headings, cmds.v[i]), "man page: a section for the command '%s' of dystress --help", cmds.v[i]);
    for (int i = 0; i < headings.n; i++)
        CHECK(set_has(&cmds, headings.v[i]), "man page: section '%s' under COMMANDS is a command of dystress --help",
              headings.v[i]);

    /* every option of every command is in the page */
    name_set all_opts = {0};
    int checked = 0;
    for (int i = 0; i < cmds.n; i++) {
        rc = cli_run(help, sizeof help, "./dystress %s --help", cmds.v[i]);
        name_set opts = {0};
        help_options(help, &opts);
        for (int k = 0; k < opts.n; k++) {
            set_add(&all_opts, opts.v[k]);
            checked++;
            CHECK(page_names_option(page, opts.v[k]), "man page: option %s of dystress %s", opts.v[k], cmds.v[i]);
        }
    }
    CHECK(all_opts.n >= 80, "the commands' --help list their options (found %d distinct)", all_opts.n);
    printf("ok  %d options of %d commands checked against the page (%d distinct)\n", checked, cmds.n, all_opts.n);

    /* every option the page names exists (or is --help, --version, or the --no- form of a boolean) */
    for (const char *p = strstr(page, "--"); p; p = strstr(p + 2, "--")) {
        if (p > page && (isalnum((unsigned char)p[-1]) || p[-1] == '-')) continue;
        char name[NAME_LEN] = {0};
        size_t len = 2;
        memcpy(name, "--", 2);
        for (const char *s = p + 2; (isalnum((unsigned char)*s) || *s == '-') && len < NAME_LEN - 1; s++)
            name[len++] = *s;
        if (len == 2) continue;
        while (name[len - 1] == '-') name[--len] = 0;
        char positive[NAME_LEN + 2];
        snprintf(positive, sizeof positive, "--%s", name + 5);
        bool known = set_has(&all_opts, name) || !strcmp(name, "--help") || !strcmp(name, "--version") ||
                     !strcmp(name, "--no") /* the page's "--no-NAME" rule */ ||
                     (!strncmp(name, "--no-", 5) && set_has(&all_opts, positive));
        CHECK(known, "man page names %s, which no command's --help lists", name);
    }

    /* "dystress WORD" in the synopsis and the examples names a command */
    const char *where[] = {"SYNOPSIS", "EXAMPLES"};
    for (int w = 0; w < 2; w++) {
        section(page, where[w], sect, sizeof sect);
        CHECK(sect[0], "the page has a %s section", where[w]);
        for (const char *p = strstr(sect, "dystress"); p; p = strstr(p + 1, "dystress")) {
            const char *s = p + 8;
            if (*s != ' ') continue;
            while (*s == ' ') s++;
            if (!islower((unsigned char)*s)) continue; /* an option, [command], a line break */
            char word[NAME_LEN] = {0};
            size_t len = 0;
            while (islower((unsigned char)s[len]) && len < NAME_LEN - 1) word[len] = s[len], len++;
            bool known = false;
            for (int i = 0; i < cmds.n && !known; i++) {
                size_t n = strcspn(cmds.v[i], " ");
                known = n == len && !strncmp(cmds.v[i], word, len);
            }
            CHECK(known, "man page %s: 'dystress %s' is a command of dystress --help", where[w], word);
        }
    }
}

static void test_render(const char *path) {
    char out[8192];
    if (system("command -v groff >/dev/null 2>&1") != 0) {
        printf("ok  skip: groff is not installed, the page is not rendered\n");
        return;
    }
    int rc = cli_run(out, sizeof out, "groff -man -Tutf8 -ww -z %s", path);
    CHECK(rc == 0 && out[0] == 0, "groff renders %s without warnings (exit %d): %s", path, rc, out);
    rc = cli_run(out, sizeof out, "groff -man -Tutf8 %s | grep -c 'dystress pretrain'", path);
    CHECK(rc == 0 && atoi(out) >= 2, "the rendered page shows its text (%s)", out);
}

static void test_install(void) {
    char dir[] = "/tmp/dy_test_manpage_XXXXXX", out[4096], path[512];
    if (!CHECK(mkdtemp(dir) != NULL, "temporary folder")) return;
    /* a make of its own: not the jobserver or the variables of a make that may be running this test */
    const char *make = "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory";
    int rc = cli_run(out, sizeof out, "%s install-man DESTDIR=%s PREFIX=/usr", make, dir);
    snprintf(path, sizeof path, "%s/usr/share/man/man1/dystress.1", dir);
    struct stat st;
    CHECK(rc == 0 && stat(path, &st) == 0, "make install-man DESTDIR=%s PREFIX=/usr installs %s (exit %d): %s", dir,
          path, rc, out);
    rc = cli_run(out, sizeof out, "cmp man/dystress.1 %s", path);
    CHECK(rc == 0, "the installed page is man/dystress.1: %s", out);
    if (system("command -v man >/dev/null 2>&1") == 0) {
        rc = cli_run(out, sizeof out, "MANPATH=%s/usr/share/man man -w dystress", dir);
        CHECK(rc == 0 && strstr(out, path), "MANPATH=.../usr/share/man man -w dystress finds it (%s)", out);
    } else {
        printf("ok  skip: man-db is not installed, `man -w dystress` not tried\n");
    }
    rc = cli_run(out, sizeof out, "%s uninstall-man DESTDIR=%s PREFIX=/usr", make, dir);
    CHECK(rc == 0 && stat(path, &st) != 0, "make uninstall-man removes it (exit %d): %s", rc, out);
    cli_run(NULL, 0, "rm -rf %s", dir);
}

int main(void) {
    const char *path = getenv("DY_MANPAGE") ? getenv("DY_MANPAGE") : "man/dystress.1";
    char *page = read_page(path);
    if (CHECK(page != NULL, "read the manual page %s", path)) {
        CHECK(strstr(page, ".TH DYSTRESS 1") != NULL, "%s is section 1 of dystress", path);
        test_commands_and_options(page);
        free(page);
    }
    test_render(path);
    test_install();
    return test_finish();
}
