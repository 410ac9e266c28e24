/* The CLI tests' shared helpers (cli_support.h). */
#include "cli_support.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/rng.h"

void cli_write_cifar(const char *path, int per_class, uint32_t stream) {
    FILE *f = fopen(path, "wb");
    if (!f) return; /* the test's next step (reading the data) reports it */
    dy_rng r;
    dy_rng_init(&r, 7, DY_RNG_EVAL, stream, 0);
    for (int i = 0; i < per_class * 10; i++) {
        uint8_t rec[3073];
        int c = i % 10;
        rec[0] = (uint8_t)c;
        int x0 = (c % 5) * 6, y0 = (c / 5) * 14 + (int)dy_rng_below(&r, 4);
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) {
                    int v = 40 + (int)dy_rng_below(&r, 60);
                    if (x >= x0 && x < x0 + 8 && y >= y0 && y < y0 + 12) v = ch == c % 3 ? 230 : 120;
                    rec[1 + ch * 1024 + y * 32 + x] = (uint8_t)v;
                }
        fwrite(rec, 1, sizeof rec, f);
    }
    fclose(f);
}

int cli_run(char *out, size_t out_size, const char *fmt, ...) {
    char cmd[8192], full[8400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    const char *cli = getenv("DY_CLI");
    if (cli && !strncmp(cmd, "./dystress", 10)) snprintf(full, sizeof full, "%s%s 2>&1", cli, cmd + 10);
    else snprintf(full, sizeof full, "%s 2>&1", cmd);
    return cli_collect(popen(full, "r"), out, out_size);
}

int cli_collect(FILE *p, char *out, size_t out_size) {
    if (!p) return -1;
    size_t used = 0;
    char buf[1024];
    while (fgets(buf, sizeof buf, p)) {
        size_t n = strlen(buf);
        if (out && used + n < out_size) {
            memcpy(out + used, buf, n);
            used += n;
        }
    }
    if (out && out_size) out[used] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
