/* The tune directory's files (include/dystress/tune.h lists them): plan.json (dy_tune_open), bracket-K.json, the
 * trials' result files and leaderboard.json (with the ranking, dy_tune_leaderboard), written and read back. Their
 * formats are fixed: a tune continued by a later version reads and compares what an earlier one wrote. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/context.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/json_write.h"
#include "io/read_file.h"
#include "tune/search.h"
#include "tune/tune.h"

#define TUNE_TEXT_MAX ((size_t)1 << 20) /* plan.json and bracket-K.json are a few KB */

/* Writes text to path atomically. */
static dy_status write_text(dy_ctx *ctx, const char *path, const char *text) {
    dy_atomic_file f;
    dy_status st = dy_atomic_open(ctx, &f, path);
    if (st != DY_OK) return st;
    if (fputs(text, f.fp) < 0) {
        dy_atomic_abort(&f);
        return dy_fail(ctx, DY_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    return dy_atomic_commit(ctx, &f);
}

/* The text of a memory stream (open_memstream(buf, ...)) once closed; NULL (and nothing to free) when it failed. */
static char *closed_text(FILE *f, char **buf) {
    if (fclose(f) != 0) {
        free(*buf);
        return NULL;
    }
    return *buf;
}

/* The candidate lines of trials [from, to) (plan.json's, a TPE bracket's). */
static void write_candidates(FILE *f, const dy_tune *t, int64_t from, int64_t to) {
    for (int64_t i = from; i < to; i++) {
        const dy_tune_candidate *c = &t->trials[i].cand;
        fprintf(f, "%s\n    {\"trial\": \"t%02lld\", \"family\": \"%s\", \"tau\": %.17g, \"tau_min\": %.17g, "
                "\"tau_max\": %.17g, \"offset\": %.17g, \"scale\": %.17g, \"anchor\": %s", i > from ? "," : "",
                (long long)i, dy_tune_family_name(c->family), c->tau, c->tau_min, c->tau_max, c->offset, c->scale,
                c->anchor ? "true" : "false");
        /* only the annealed family has an end ratio: the other candidates' lines stay as older tunes wrote them */
        if (c->family == DY_TUNE_ANNEALED) fprintf(f, ", \"end_ratio\": %.17g", c->end_ratio);
        fputc('}', f);
    }
}

/* plan.json's text (base: the base configuration's lines, or NULL); NULL when out of memory. */
static char *plan_text(const dy_tune *t, const char *base) {
    const dy_tune_options *o = &t->opt;
    char *buf = NULL, *lines = base ? strdup(base) : NULL;
    size_t len = 0;
    FILE *f = base && !lines ? NULL : open_memstream(&buf, &len);
    if (!f) {
        free(lines);
        return NULL;
    }
    fprintf(f, "{\n  \"version\": 1,\n  \"method\": \"successive halving\",\n  \"unit\": \"%s\",\n  \"eta\": %lld,\n"
            "  \"promote\": \"%s\",\n", o->steps ? "steps" : "epochs", (long long)o->eta,
            o->restart ? "restart" : "continue");
    /* a kNN-scored tune's plan reads as before RankMe, so that older tunes continue */
    if (o->score == DY_TUNE_SCORE_RANKME)
        fputs("  \"score\": \"RankMe of the encoder features h of the validation split (label-free)\",\n", f);
    else fprintf(f, "  \"score\": \"weighted kNN top-1 on the validation split (k %lld, t %g)\",\n",
                 (long long)o->knn_k, o->knn_t);
    if (o->tpe || o->brackets > 1) /* only then: a plain tune's plan reads as before */
        fprintf(f, "  \"sampler\": \"%s\",\n  \"brackets\": %lld,\n", o->tpe ? "tpe" : "random",
                (long long)o->brackets);
    fputs("  \"rungs\": [", f);
    for (int k = 0; k < t->sched.rungs; k++)
        fprintf(f, "%s\n    {\"rung\": %d, \"trials\": %lld, \"budget\": %lld}", k ? "," : "", k + 1,
                (long long)t->sched.trials[k], (long long)t->sched.budget[k]);
    fputs("\n  ],\n  \"candidates\": [", f);
    /* TPE's brackets after the first depend on the results: the plan holds the first bracket's */
    write_candidates(f, t, 0, o->tpe ? o->trials : t->n_trials);
    fputs("\n  ],\n  \"base\": [", f);
    bool first = true;
    for (char *save = NULL, *line = lines ? strtok_r(lines, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        fputs(first ? "\n    " : ",\n    ", f);
        dy_json_fput_string(f, line);
        first = false;
    }
    fputs("\n  ]\n}\n", f);
    free(lines);
    return closed_text(f, &buf);
}

char *dy_tune_bracket_text(const dy_tune *t, int b) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    int64_t per = t->opt.trials;
    fprintf(f, "{\n  \"bracket\": %d,\n  \"drawn\": \"%s\",\n  \"candidates\": [", b + 1,
            t->trials[b * per].proposed ? "tpe" : "random");
    write_candidates(f, t, b * per, (b + 1) * per);
    fputs("\n  ]\n}\n", f);
    return closed_text(f, &buf);
}

/* The first line where a and b differ, for the message. */
static void first_difference(const char *a, const char *b, char *out, size_t size) {
    int line = 1;
    const char *la = a, *lb = b;
    while (*a && *a == *b) {
        if (*a == '\n') {
            line++;
            la = a + 1;
            lb = b + 1;
        }
        a++, b++;
    }
    const char *ea = strchr(la, '\n'), *eb = strchr(lb, '\n');
    snprintf(out, size, "line %d: stored %.*s, now %.*s", line, (int)(ea ? ea - la : (long)strlen(la)), la,
             (int)(eb ? eb - lb : (long)strlen(lb)), lb);
}

dy_status dy_tune_write_or_compare(dy_ctx *ctx, const char *path, const char *text, const char *what,
                                   const char *advice, bool *existed) {
    *existed = access(path, F_OK) == 0;
    if (!*existed) return write_text(ctx, path, text);
    uint8_t *stored = NULL;
    size_t length;
    dy_status st = dy_read_file(ctx, path, &stored, &length, TUNE_TEXT_MAX);
    if (st == DY_OK && strcmp((const char *)stored, text) != 0) {
        char diff[1024];
        first_difference((const char *)stored, text, diff, sizeof diff);
        st = dy_fail(ctx, DY_ERR_MISMATCH, "%s (%s)%s", what, diff, advice);
    }
    free(stored);
    return st;
}

dy_status dy_tune_result_write(const dy_tune *t, int64_t i, int rung, const dy_tune_result *r, const char *error,
                               double seconds) {
    char path[4400], dir[4200], *buf = NULL;
    size_t len = 0;
    dy_tune_trial_dir(t, i, rung, dir, sizeof dir); /* there unless the runner's trial failed before making it */
    if (dy_mkdirs(dir) != 0) return dy_fail(t->ctx, DY_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    dy_tune_result_path(t, i, rung, path, sizeof path);
    FILE *f = open_memstream(&buf, &len);
    if (!f) return dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory");
    fprintf(f, "{\"trial\": %lld, \"rung\": %d, \"budget\": %lld, \"unit\": \"%s\", \"step\": %lld, \"failed\": %s",
            (long long)i, rung + 1, (long long)t->sched.budget[rung], t->opt.steps ? "steps" : "epochs",
            (long long)r->step, r->failed ? "true" : "false");
    if (r->failed) {
        fputs(", \"error\": ", f);
        dy_json_fput_string(f, error ? error : "");
    } else {
        if (t->opt.labelled) fprintf(f, ", \"val_top1\": %.6f, \"val_top5\": %.6f", r->top1, r->top5);
        fprintf(f, ", \"val_rankme\": %.6f", r->rankme);
    }
    fprintf(f, ", \"seconds\": %.1f}\n", seconds);
    char *text = closed_text(f, &buf);
    dy_status st = text ? write_text(t->ctx, path, text) : dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory");
    free(text);
    return st;
}

/* Whether root is a result of a rung of budget `budget` (with the scores the tune ranks by), into r. */
static bool result_of(const dy_tune *t, const dy_json *root, int64_t budget, dy_tune_result *r) {
    const dy_json *b = dy_json_member(root, "budget"), *failed = dy_json_member(root, "failed");
    const dy_json *top1 = dy_json_member(root, "val_top1"), *top5 = dy_json_member(root, "val_top5");
    const dy_json *step = dy_json_member(root, "step"), *rankme = dy_json_member(root, "val_rankme");
    bool has_rankme = rankme && rankme->type == DY_JSON_NUMBER, labelled = t->opt.labelled;
    bool ok = b && b->type == DY_JSON_NUMBER && b->number == (double)budget && failed &&
              failed->type == DY_JSON_BOOL && step && step->type == DY_JSON_NUMBER;
    if (ok && !failed->boolean && labelled)
        ok = top1 && top1->type == DY_JSON_NUMBER && top5 && top5->type == DY_JSON_NUMBER;
    if (ok && !failed->boolean && t->opt.score == DY_TUNE_SCORE_RANKME) ok = has_rankme;
    if (!ok) return false;
    r->done = true;
    r->failed = failed->boolean;
    r->top1 = r->failed || !labelled ? NAN : top1->number;
    r->top5 = r->failed || !labelled ? NAN : top5->number;
    r->rankme = r->failed || !has_rankme ? NAN : rankme->number;
    r->step = (int64_t)step->number;
    return true;
}

bool dy_tune_result_read(const dy_tune *t, int64_t i, int rung, dy_tune_result *r, bool *stale) {
    char path[4400];
    *stale = false;
    dy_tune_result_path(t, i, rung, path, sizeof path);
    if (access(path, F_OK) != 0) return false;
    uint8_t *text = NULL;
    size_t length;
    if (dy_read_file(NULL, path, &text, &length, (size_t)1 << 16) != DY_OK) return false;
    dy_json_doc *doc = NULL;
    bool ok = dy_json_parse(NULL, path, (const char *)text, length, &doc, NULL) == DY_OK &&
              result_of(t, dy_json_root(doc), t->sched.budget[rung], r);
    *stale = !ok;
    dy_json_free(doc);
    free(text);
    return ok;
}

/* One entry of leaderboard.json: trial i at rank k (0-based). */
static void leaderboard_entry(FILE *f, const dy_tune *t, int64_t k, int64_t i) {
    const dy_tune_trial *tr = &t->trials[i];
    const dy_tune_result *res = tr->r;
    int r = dy_tune_reached(t, i);
    bool scored = r >= 0 && !res[r].failed;
    char params[160];
    dy_tune_candidate_params(&tr->cand, params, sizeof params);
    fprintf(f, "%s\n    {\"rank\": %lld, \"trial\": \"t%02lld\", \"profile\": \"%s\", \"anchor\": %s, ", k ? "," : "",
            (long long)k + 1, (long long)i, dy_tune_family_name(tr->cand.family), tr->cand.anchor ? "true" : "false");
    fprintf(f, "\"bracket\": %d, \"drawn\": \"%s\", ", tr->bracket + 1,
            tr->cand.anchor ? "anchor" : tr->proposed ? "tpe" : "random");
    fputs("\"parameters\": ", f);
    dy_json_fput_string(f, params);
    fprintf(f, ", \"tau\": %.9g, \"tau_min\": %.9g, \"tau_max\": %.9g, \"offset\": %.9g, \"scale\": %.9g, "
            "\"budget\": %lld, \"val_top1\": ", tr->cand.tau, tr->cand.tau_min, tr->cand.tau_max, tr->cand.offset,
            tr->cand.scale, r >= 0 ? (long long)t->sched.budget[r] : 0LL);
    if (scored && t->opt.labelled) fprintf(f, "%.6f", res[r].top1);
    else fputs("null", f);
    fputs(", \"val_rankme\": ", f);
    if (scored && !isnan(res[r].rankme)) fprintf(f, "%.6f", res[r].rankme);
    else fputs("null", f);
    fputs(", \"rungs\": [", f);
    for (int q = 0; q <= r; q++) {
        fprintf(f, "%s{\"rung\": %d, \"budget\": %lld, \"step\": %lld, ", q ? ", " : "", q + 1,
                (long long)t->sched.budget[q], (long long)res[q].step);
        if (res[q].failed) {
            fputs("\"failed\": true}", f);
            continue;
        }
        if (t->opt.labelled) fprintf(f, "\"val_top1\": %.6f, \"val_top5\": %.6f, ", res[q].top1, res[q].top5);
        if (isnan(res[q].rankme)) fputs("\"val_rankme\": null}", f);
        else fprintf(f, "\"val_rankme\": %.6f}", res[q].rankme);
    }
    fputs("]}", f);
}

/* leaderboard.json of the trials in order. */
static dy_status leaderboard_write(const dy_tune *t, const int64_t *order) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory");
    fprintf(f, "{\n  \"unit\": \"%s\",\n  \"score\": \"%s\",\n  \"entries\": [", t->opt.steps ? "steps" : "epochs",
            t->opt.score == DY_TUNE_SCORE_RANKME ? "val_rankme: RankMe, the effective rank of the encoder features h "
            "of the validation split (split.json), label-free" : "val_top1: weighted kNN top-1 on the validation "
            "split (split.json)");
    for (int64_t k = 0; k < t->n_trials; k++) leaderboard_entry(f, t, k, order[k]);
    fputs("\n  ]\n}\n", f);
    char *text = closed_text(f, &buf), path[4400];
    snprintf(path, sizeof path, "%s/leaderboard.json", t->dir);
    dy_status st = text ? write_text(t->ctx, path, text) : dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory");
    free(text);
    return st;
}

dy_status dy_tune_open(dy_tune *t, const char *base, bool *resumed) {
    char path[4400];
    *resumed = false;
    snprintf(path, sizeof path, "%s/trials", t->dir);
    if (dy_mkdirs(path) != 0) return dy_fail(t->ctx, DY_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    char *plan = plan_text(t, base);
    if (!plan) return dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory");
    char what[4500];
    snprintf(path, sizeof path, "%s/plan.json", t->dir);
    snprintf(what, sizeof what, "%s holds another tune", path);
    dy_status st = dy_tune_write_or_compare(t->ctx, path, plan, what, "; rerun with its options to continue it, or "
                                            "choose another --tune-dir", resumed);
    free(plan);
    t->opened = st == DY_OK;
    return st;
}

dy_status dy_tune_leaderboard(dy_tune *t, int64_t *order) {
    int64_t n = t->n_trials, *ids = malloc(sizeof(int64_t) * (size_t)n);
    double *key = malloc(sizeof(double) * (size_t)n);
    dy_status st = DY_OK;
    if (!ids || !key) {
        st = dy_fail(t->ctx, DY_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* rank: the highest rung reached first, then the score there */
    for (int64_t i = 0; i < n; i++) {
        int r = dy_tune_reached(t, i);
        ids[i] = i;
        double s = r >= 0 ? dy_tune_score_of(t, &t->trials[i].r[r]) : NAN;
        key[i] = 1e6 * r + (isnan(s) ? -1 : s); /* top-1 is in [0, 1], RankMe in [1, 4096] */
    }
    dy_tune_select(ids, key, n, n, order);
    st = leaderboard_write(t, order);
done:
    free(ids);
    free(key);
    return st;
}
