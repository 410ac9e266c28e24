/* What the CLI tests share: a small learnable CIFAR-10 file and a shell runner that captures output. */
#ifndef DY_TESTS_CLI_SUPPORT_H
#define DY_TESTS_CLI_SUPPORT_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* Writes a CIFAR-10 binary batch of per_class x 10 records at path: ten classes that differ in a coloured square's
 * place and colour, with noise (stream picks the noise), learnable in a few steps. */
void cli_write_cifar(const char *path, int per_class, uint32_t stream);

/* Runs a shell command (printf-style) with stderr merged into stdout, copies the output into out (when not NULL,
 * cut at out_size), and returns its exit status (128 + the signal when killed). A command starting with
 * "./dystress" runs $DY_CLI instead when that is set (the sanitizer build names its own binary). */
int cli_run(char *out, size_t out_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The output of a popen'ed command into out (truncated to out_size - 1 bytes, NUL-terminated), then its exit status
 * as cli_run gives it (128 + signal when killed); -1 when p is NULL. Closes p. */
int cli_collect(FILE *p, char *out, size_t out_size);

#endif
