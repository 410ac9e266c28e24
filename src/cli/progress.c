#include "cli/progress.h"

#include <stdarg.h>
#include <time.h>
#include <unistd.h>

double progress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_init(progress *p, FILE *out, int64_t log_every) {
    p->out = out;
    p->tty = isatty(fileno(out)) != 0;
    p->log_every = log_every > 0 ? log_every : 50;
    p->start_time = progress_now();
    p->first_step = -1;
    p->line_open = 0;
}

static void format_duration(char *buf, size_t n, double s) {
    if (s < 0 || s != s) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

void progress_step(progress *p, int64_t epoch, int64_t epochs, int64_t step_in_epoch, int64_t steps_per_epoch,
                   int64_t step, int64_t total_steps, double loss, double lr, double images_per_s) {
    if (p->first_step < 0) {
        p->first_step = step;
        p->start_time = progress_now();
    }
    bool last = step + 1 >= total_steps;
    if (!p->tty && (step + 1) % p->log_every != 0 && !last && step_in_epoch + 1 != steps_per_epoch) return;
    double elapsed = progress_now() - p->start_time;
    int64_t done = step - p->first_step; /* steps timed since the first report (which itself is not timed) */
    double per_step = done > 0 ? elapsed / (double)done : 0;
    char eta[32];
    format_duration(eta, sizeof eta, per_step * (double)(total_steps - step - 1));
    fprintf(p->out, "%sepoch %lld/%lld  step %lld/%lld  loss %.4f  lr %.4g  %.0f img/s  left %s%s",
            p->tty ? "\r" : "", (long long)epoch + 1, (long long)epochs, (long long)step_in_epoch + 1,
            (long long)steps_per_epoch, loss, lr, images_per_s, eta, p->tty ? "\x1b[K" : "\n");
    p->line_open = p->tty;
    fflush(p->out);
}

void progress_log(progress *p, const char *fmt, ...) {
    if (p->line_open) fputc('\n', p->out);
    p->line_open = 0;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    fflush(p->out);
}

void progress_end(progress *p) {
    if (p->line_open) fputc('\n', p->out);
    p->line_open = 0;
    fflush(p->out);
}
