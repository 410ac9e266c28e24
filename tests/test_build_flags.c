/* Issue 23 item 7: `make valgrind` must run nothing valgrind 3.19 cannot decode (AVX-512, AMX: SIGILL on Intel CPUs
 * that have them). Checked on the commands make would run (make -n -B, nothing built): every object of the valgrind
 * build is compiled for AVX2, even when the environment carries CFLAGS or ARCH with -march=native, and the tests run
 * with oneDNN's JIT capped at AVX2 (ONEDNN_MAX_CPU_ISA), since it otherwise picks the widest ISA the CPU has. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_support.h"
#include "testlib.h"

static char out[1 << 20];

int main(void) {
    /* the parent make's jobserver and flags are not ours to inherit */
    int rc = cli_run(out, sizeof out, "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL DY_DEPS_DONE=1 CFLAGS=-march=native "
                     "ARCH=-march=native make -n -B valgrind");
    if (rc == 127 || strstr(out, "make: not found")) {
        printf("skipped: no make on PATH\n");
        return test_finish();
    }
    CHECK(rc == 0, "make -n valgrind runs (exit %d): %.2000s", rc, out);
    /* the command that runs the tests (continued over lines with backslashes): its environment */
    char *run = strstr(out, "tests/run.sh build-vg/tests"), *start = run;
    while (start && start > out && !(start[-1] == '\n' && (start - 1 == out || start[-2] != '\\'))) start--;
    bool capped = false;
    if (run) {
        *run = 0;
        capped = strstr(start, "ONEDNN_MAX_CPU_ISA=AVX2") != NULL;
        *run = 't';
    }
    CHECK(run && capped, "issue23_item7_onednn_isa_capped: the tests run with oneDNN's JIT capped at AVX2: %.600s",
          start ? start : "(no tests/run.sh line)");
    int compiles = 0, native = 0, avx2 = 0;
    char first_bad[512] = "";
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, "build-vg/") && strstr(line, " -c ")) {
            compiles++;
            if (strstr(line, "-march=native")) {
                if (!native++) snprintf(first_bad, sizeof first_bad, "%s", line);
            }
            avx2 += strstr(line, "-mavx2") != NULL;
        }
    }
    CHECK(compiles > 50, "issue23_item7: make -n lists the valgrind build's compiles (%d)", compiles);
    CHECK(native == 0 && avx2 == compiles,
          "issue23_item7_no_march_native: all %d compiles for AVX2, none with -march=native from the environment "
          "(%d do: %s)", compiles, native, first_bad);
    return test_finish();
}
