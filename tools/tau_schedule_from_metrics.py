#!/usr/bin/env python3
"""Turns a run's metrics.jsonl into a --tau-schedule-file table: the levels each step used, over the fraction of
training, so that a fixed profile can follow "the schedule the adaptive run actually followed".

    tools/tau_schedule_from_metrics.py runs/adaptive/metrics.jsonl -o adaptive.csv
        fraction,tau_min,tau_max: the cosine or shifted profile replays both bounds
        (dystress pretrain --profile cosine --tau-schedule file --tau-schedule-file adaptive.csv)
    tools/tau_schedule_from_metrics.py runs/adaptive/metrics.jsonl --level tau_max -o annealed.csv
        fraction,tau: a constant follows one bound (tau_min, tau_max, or mean/geomean of the two)
        (dystress pretrain --profile const --tau-schedule file --tau-schedule-file annealed.csv)
    --factor --level L: fraction,factor instead, level L divided by the first step's (the profile's own --tau or
        --tau-min/--tau-max then set the start, and the shape of the fall is the run's)

The step rows of metrics.jsonl log "tau_min"/"tau_max" (--tau-adapt band, or a schedule of the cosine/shifted
profile) or "tau" (a const profile on a schedule). Step s of a run of T steps is at fraction (s - 1) / (T - 1), as the
trainer counts it (steps unit); T is the last step logged unless --total-steps says otherwise (a run stopped early).
The fractions are written with 17 significant digits, so that each step of a run of the same length meets its row
exactly; the levels as logged (9 digits: a float's). --every N keeps every Nth step (and the last) for a shorter file;
between rows the trainer interpolates linearly. Standard library only.
"""
import argparse
import json
import math
import sys


def read_levels(path):
    """{step: (tau_min, tau_max)} of the step rows that log levels; a resumed run's repeated steps: the last wins."""
    levels = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not JSON ({e})")
            if "loss" not in row or "step" not in row:
                continue
            if "tau_min" in row and "tau_max" in row:
                levels[int(row["step"])] = (float(row["tau_min"]), float(row["tau_max"]))
            elif "tau" in row:
                levels[int(row["step"])] = (float(row["tau"]), float(row["tau"]))
    return levels


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("metrics", help="a run's metrics.jsonl")
    ap.add_argument("-o", "--out", help="the table to write (default: standard output)")
    ap.add_argument("--level", choices=["bounds", "tau_min", "tau_max", "mean", "geomean"], default="bounds",
                    help="bounds: fraction,tau_min,tau_max; else fraction,tau of that level (default: bounds)")
    ap.add_argument("--factor", action="store_true", help="fraction,factor: the level relative to the first step's")
    ap.add_argument("--every", type=int, default=1, help="keep every Nth step and the last (default: 1)")
    ap.add_argument("--total-steps", type=int, default=0, help="the run's steps T (default: the last step logged)")
    a = ap.parse_args()
    levels = read_levels(a.metrics)
    if len(levels) < 2:
        sys.exit(f"{a.metrics}: fewer than 2 steps log a temperature level (tau_min/tau_max or tau): was it a run "
                 "with --tau-adapt band or --tau-schedule?")
    steps = sorted(levels)
    total = a.total_steps or steps[-1]
    if total < steps[-1] or total < 2:
        sys.exit(f"--total-steps {total}: the log reaches step {steps[-1]}")
    if steps[0] != 1:
        sys.exit(f"{a.metrics}: the first step logged is {steps[0]}, not 1 (a log cut at its start?)")
    if a.factor and a.level == "bounds":
        sys.exit("--factor writes one column: choose the level it follows with --level tau_min|tau_max|mean|geomean")
    if a.every < 1:
        sys.exit("--every must be at least 1")
    kept = [s for i, s in enumerate(steps) if i % a.every == 0 or s == steps[-1]]

    def level(lo, hi):
        return {"tau_min": lo, "tau_max": hi, "mean": (lo + hi) / 2, "geomean": math.sqrt(lo * hi)}[a.level]

    rows = []
    lo0, hi0 = levels[steps[0]]
    for s in kept:
        lo, hi = levels[s]
        u = (s - 1) / (total - 1)
        if a.factor:
            rows.append((u, level(lo, hi) / level(lo0, hi0)))
        elif a.level == "bounds":
            rows.append((u, lo, hi))
        else:
            rows.append((u, level(lo, hi)))
    if rows[-1][0] != 1:  # a run stopped before its end (--total-steps): hold the last level to the end
        rows.append((1.0,) + rows[-1][1:])
    header = "fraction,factor" if a.factor else "fraction,tau_min,tau_max" if a.level == "bounds" else "fraction,tau"
    out = open(a.out, "w", encoding="utf-8") if a.out else sys.stdout
    out.write(f"# {a.metrics}: {len(steps)} steps of {total}, levels {a.level}{', as factors' if a.factor else ''}\n")
    out.write(header + "\n")
    for r in rows:
        out.write(",".join([repr(r[0])] + ["%.9g" % v for v in r[1:]]) + "\n")
    if a.out:
        out.close()
        print(f"wrote {a.out}: {len(rows)} rows ({header})", file=sys.stderr)


if __name__ == "__main__":
    main()
