/* Atomically written files (src/io/atomic_file.c), issue 10 item 4: the temporary file sits beside the target under
 * an unpredictable name and is created exclusively without following links; a symlink at the target is replaced,
 * never followed; a failed write (here the OS's file-size limit, a real EFBIG from write()) leaves the target as it
 * was, no temporary file behind, and a message naming the target and the OS error. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dystress.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "testlib.h"

static char dir[256];

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *copy = malloc(n + 1);
    if (copy) memcpy(copy, buf, n + 1);
    return copy;
}

static bool file_is(const char *path, const char *text) {
    char *got = slurp(path);
    bool same = got && !strcmp(got, text);
    free(got);
    return same;
}

static void spit(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Entries of dir whose names start with prefix. */
static int count_prefix(const char *prefix) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d));) n += !strncmp(de->d_name, prefix, strlen(prefix));
    if (d) closedir(d);
    return n;
}

static dy_status write_text(dy_ctx *ctx, const char *path, const char *text) {
    dy_atomic_file f;
    dy_status st = dy_atomic_open(ctx, &f, path);
    if (st != DY_OK) return st;
    fputs(text, f.fp);
    return dy_atomic_commit(ctx, &f);
}

static void item4_temporary_names(dy_ctx *ctx) {
    char path[512];
    snprintf(path, sizeof path, "%s/target.bin", dir);
    dy_atomic_file a, b;
    CHECK(dy_atomic_open(ctx, &a, path) == DY_OK && dy_atomic_open(ctx, &b, path) == DY_OK,
          "item4: two writers of one target open at once");
    char want_prefix[600];
    snprintf(want_prefix, sizeof want_prefix, "%s/.target.bin.tmp-", dir);
    size_t pl = strlen(want_prefix);
    CHECK(a.tmp_path && b.tmp_path && !strncmp(a.tmp_path, want_prefix, pl) && !strncmp(b.tmp_path, want_prefix, pl) &&
              strlen(a.tmp_path + pl) == 8 && strcmp(a.tmp_path, b.tmp_path) != 0,
          "item4_temporary_name_unpredictable: in the target's folder, 8 random characters, distinct: %s, %s",
          a.tmp_path ? a.tmp_path : "-", b.tmp_path ? b.tmp_path : "-");
    /* not derived from the pid, as the old "<out>.tmp.<pid>" was */
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    CHECK(a.tmp_path && !strstr(a.tmp_path + pl, pid), "item4: the name does not carry the pid");
    struct stat st;
    CHECK(a.tmp_path && lstat(a.tmp_path, &st) == 0 && S_ISREG(st.st_mode), "item4: the temporary file exists");
    dy_atomic_abort(&a);
    dy_atomic_abort(&b);
    CHECK(count_prefix(".target.bin.tmp-") == 0, "item4: abort removes the temporary files");
    CHECK(access(path, F_OK) != 0, "item4: abort leaves no target");

    CHECK(write_text(ctx, path, "one\n") == DY_OK && file_is(path, "one\n"), "item4: commit writes the target");
    CHECK(write_text(ctx, path, "two\n") == DY_OK && file_is(path, "two\n"), "item4: commit replaces the target");
    CHECK(count_prefix(".target.bin.tmp-") == 0, "item4: no temporary file after commits");
    mode_t mask = umask(022);
    umask(mask);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == (0666 & ~mask), "item4: mode 0%o as fopen would give (0%o)",
          (unsigned)(st.st_mode & 0777), (unsigned)(0666 & ~mask));

    snprintf(path, sizeof path, "%s/", dir);
    CHECK(write_text(ctx, path, "x") == DY_ERR_INVALID, "item4: a folder path is refused: %s", dy_ctx_error(ctx));
    snprintf(path, sizeof path, "%s/no/such/folder/x.bin", dir);
    CHECK(write_text(ctx, path, "x") == DY_ERR_IO && strstr(dy_ctx_error(ctx), "x.bin") &&
              strstr(dy_ctx_error(ctx), "No such file"),
          "item4: a missing folder is an I/O error naming the file and the OS error: %s", dy_ctx_error(ctx));
}

static void item4_symlink_at_target_not_followed(dy_ctx *ctx) {
    char victim[512], link[512];
    snprintf(victim, sizeof victim, "%s/victim.txt", dir);
    snprintf(link, sizeof link, "%s/checkpoint.safetensors", dir);
    spit(victim, "precious\n");
    CHECK(symlink(victim, link) == 0, "symlink planted at the target");
    CHECK(write_text(ctx, link, "new\n") == DY_OK, "item4: write through a path that is a symlink");
    struct stat st;
    CHECK(file_is(victim, "precious\n"), "item4_symlink_at_target_not_followed: the link's target is untouched");
    CHECK(lstat(link, &st) == 0 && S_ISREG(st.st_mode) && file_is(link, "new\n"),
          "item4: the link itself was replaced by the new file");
    /* a dangling link too: nothing is created where it points */
    char dangling[512], where[512];
    snprintf(where, sizeof where, "%s/created-through-link", dir);
    snprintf(dangling, sizeof dangling, "%s/dangling.json", dir);
    CHECK(symlink(where, dangling) == 0, "dangling symlink planted");
    CHECK(write_text(ctx, dangling, "{}\n") == DY_OK && access(where, F_OK) != 0,
          "item4: a dangling link at the target creates nothing where it points");
}

static void item4_stale_temporaries(void) {
    char path[512], a[600], b[600], c[600], d[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    snprintf(a, sizeof a, "%s/.metrics.jsonl.tmp-AbCdEfGh", dir); /* left by a killed writer */
    snprintf(b, sizeof b, "%s/.metrics.jsonl.tmp-short", dir);    /* not our pattern */
    snprintf(c, sizeof c, "%s/.metrics.jsonl.tmp-LinkLink", dir); /* a link: never followed or removed */
    snprintf(d, sizeof d, "%s/keep.txt", dir);
    spit(a, "x");
    spit(b, "x");
    spit(d, "keep");
    CHECK(symlink(d, c) == 0, "link planted");
    CHECK(dy_atomic_remove_stale(path) == 1 && access(a, F_OK) != 0 && access(b, F_OK) == 0 &&
              access(c, F_OK) == 0 && file_is(d, "keep"),
          "item4: stale temporaries of a target are removed, nothing else");
}

/* In a child process: a file-size limit makes write() fail with EFBIG (SIGXFSZ ignored), as a full disk would. */
static void item5_write_error_keeps_target(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/big.safetensors", dir);
    spit(path, "the last good file\n");
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        dy_ctx *ctx = NULL;
        dy_ctx_options co = {.threads = 1, .backend = DY_BACKEND_REF};
        if (dy_ctx_create(&ctx, &co) != DY_OK) _exit(3);
        static float data[8192];
        dy_st_entry e = {.name = "w", .dtype = DY_ST_F32, .ndim = 1, .shape = {8192}, .data = data};
        dy_status st = dy_st_write(ctx, path, &e, 1);
        const char *msg = dy_ctx_error(ctx);
        if (write(fds[1], msg, strlen(msg)) < 0) _exit(4);
        _exit(st == DY_ERR_IO ? 0 : 5);
    }
    close(fds[1]);
    char msg[1024] = "";
    ssize_t n = read(fds[0], msg, sizeof msg - 1);
    msg[n > 0 ? n : 0] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(msg, "big.safetensors") &&
              strstr(msg, "File too large"),
          "item5_write_error_reported: a failed write is DY_ERR_IO naming the file and the OS error: %s", msg);
    CHECK(file_is(path, "the last good file\n"), "item5: the target keeps its last good contents");
    CHECK(count_prefix(".big.safetensors.tmp-") == 0, "item5: no temporary file is left after the failure");
}

/* Issue 23 item 1: a target that is a FIFO, a device node or a socket is never replaced (rename() would put a regular
 * file in its place: /dev/null for every process when run as root); the node is made here, never one of /dev's. */
static void issue23_nodes_never_replaced(dy_ctx *ctx) {
    char fifo[512], node[512], sock[512];
    snprintf(fifo, sizeof fifo, "%s/out.fifo", dir);
    snprintf(node, sizeof node, "%s/null-like", dir);
    snprintf(sock, sizeof sock, "%s/out.sock", dir);
    struct stat st;
    if (CHECK(mkfifo(fifo, 0600) == 0, "issue23: mkfifo")) {
        dy_status s = write_text(ctx, fifo, "text\n");
        CHECK(s == DY_ERR_IO && strstr(dy_ctx_error(ctx), "a FIFO") && lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode),
              "issue23_fifo_never_replaced: refused and still a FIFO: %s", dy_ctx_error(ctx));
        /* one that appears while the file is written is refused at commit */
        unlink(fifo);
        dy_atomic_file f;
        s = dy_atomic_open(ctx, &f, fifo);
        if (s == DY_OK) {
            fputs("text\n", f.fp);
            mkfifo(fifo, 0600);
            s = dy_atomic_commit(ctx, &f);
        }
        CHECK(s == DY_ERR_IO && lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode) && count_prefix(".out.fifo.tmp-") == 0,
              "issue23: a FIFO made between open and commit is not replaced either, nothing left behind: %s",
              dy_ctx_error(ctx));
    }
    /* a character device with /dev/null's numbers, in our own folder (needs CAP_MKNOD: root, as in a container) */
    if (mknod(node, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        dy_status s = write_text(ctx, node, "text\n");
        CHECK(s == DY_ERR_IO && strstr(dy_ctx_error(ctx), "a device") && lstat(node, &st) == 0 &&
                  S_ISCHR(st.st_mode),
              "issue23_device_never_replaced: refused and still a device node: %s", dy_ctx_error(ctx));
    } else {
        printf("issue23: no device node test (mknod: %s)\n", strerror(errno));
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%.100s", sock);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        dy_status s = write_text(ctx, sock, "text\n");
        CHECK(s == DY_ERR_IO && strstr(dy_ctx_error(ctx), "a socket") && lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode),
              "issue23: a socket is not replaced: %s", dy_ctx_error(ctx));
    }
    if (fd >= 0) close(fd);
    /* a regular file still is */
    char plain[512];
    snprintf(plain, sizeof plain, "%s/plain.txt", dir);
    spit(plain, "old\n");
    CHECK(write_text(ctx, plain, "new\n") == DY_OK && file_is(plain, "new\n"), "issue23: a regular file is replaced");
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/dystress-atomic-test-%d", (int)getpid());
    if (mkdir(dir, 0777) != 0) return 1;
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 1, .backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &co) != DY_OK) return 1;
    item4_temporary_names(ctx);
    item4_symlink_at_target_not_followed(ctx);
    item4_stale_temporaries();
    item5_write_error_keeps_target();
    issue23_nodes_never_replaced(ctx);
    dy_ctx_destroy(ctx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish();
}
