#!/usr/bin/python3
"""The house drawn from the code: rooms (folders of src/ and include/), the arrows between them (#include "..."
lines), floors (a room sits above every room it includes), circles, and the sizes issue 24 sets as targets.

    tools/house.py            print the drawing, the circles and the measurements
    tools/house.py --write    also put the drawing into docs/ARCHITECTURE.md between the house markers
    tools/house.py --check    also compare docs/ARCHITECTURE.md's drawing with the one the code gives now
    --root DIR                draw another tree (the tests' synthetic ones)

Exit status: 0, or the sum of 1 (a circle between rooms) and 2 (--check: the page's drawing is stale).
Circles between files inside one room (by #include, or by calls: a file using a function another file defines)
are reported as information. Python 3 standard library only; run from anywhere (the root is this file's parent).
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = "docs/ARCHITECTURE.md"
BEGIN = "<!-- house:begin (drawn by tools/house.py from the #include lines; `tools/house.py --write` redraws it) -->"
END = "<!-- house:end -->"
CLI_LINES_MAX, FILE_LINES_MAX, FUNCTION_LINES_MAX = 3000, 600, 100
WIDTH = 116  # the drawing's lines
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "do", "else", "case", "default", "goto", "break",
            "continue", "struct", "union", "enum", "typedef", "static", "const", "inline", "extern", "void"}


def sources():
    """Every .c and .h under src/ and include/, as paths relative to the root."""
    out = []
    for top in ("src", "include"):
        for folder, _, names in os.walk(os.path.join(ROOT, top)):
            for name in names:
                if name.endswith((".c", ".h")):
                    out.append(os.path.relpath(os.path.join(folder, name), ROOT))
    return sorted(out)


def room_of(path):
    return "include" if path.startswith("include/") else os.path.dirname(path)


def resolve(path, target, known):
    """Where the compiler finds `#include "target"` in path: its own folder, then -Iinclude, then -Isrc."""
    for base in (os.path.dirname(path), "include", "src"):
        cand = os.path.normpath(os.path.join(base, target))
        if cand in known:
            return cand
    return None


def strip_code(text):
    """Comments, string and character literals and preprocessor lines blanked out; newlines kept."""
    out, i, n = [], 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c == "#" or (line_start and c in " \t" and text[i:].lstrip(" \t").startswith("#")):
            j = i
            while j < n:  # the directive, with its continuation lines
                k = text.find("\n", j)
                k = n if k < 0 else k
                if k > j and text[k - 1] == "\\":
                    j = k + 1
                    continue
                j = k
                break
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c)
            i = j
            line_start = False
            continue
        out.append(c)
        if c == "\n":
            line_start = True
        elif c not in " \t":
            line_start = False
        i += 1
    return "".join(out)


def functions(code):
    """(name, first line, last line, static) of each function defined in stripped code: a brace at file level
    whose header ends in a parameter list (not an initializer, struct, union or enum)."""
    found, depth, head_start, i = [], 0, 0, 0
    opened = None
    for i, c in enumerate(code):
        if c == "{":
            if depth == 0:
                head = code[head_start:i]
                opened = None
                h = head.rstrip()
                h = re.sub(r"(__attribute__\s*\(\(.*?\)\)\s*)+$", "", h).rstrip()
                if h.endswith(")") and "=" not in head and not re.match(r"\s*(typedef|struct|union|enum)\b", head):
                    level, j = 0, len(h) - 1
                    while j >= 0:  # the '(' matching the last ')'
                        level += {")": 1, "(": -1}.get(h[j], 0)
                        if level == 0:
                            break
                        j -= 1
                    m = re.search(r"([A-Za-z_]\w*)\s*$", h[:j])
                    if m and m.group(1) not in KEYWORDS:
                        start = head_start + m.start(1)
                        static = re.search(r"\bstatic\b", head) is not None
                        opened = (m.group(1), code.count("\n", 0, start) + 1, static)
            depth += 1
        elif c == "}":
            depth = max(depth - 1, 0)
            if depth == 0:
                if opened:
                    found.append((opened[0], opened[1], code.count("\n", 0, i) + 1, opened[2]))
                opened = None
                head_start = i + 1
        elif c == ";" and depth == 0:
            head_start = i + 1
    return found


def tarjan(nodes, edges):
    """Strongly connected components of more than one node (the circles), each sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(out)


def floors(rooms, arrows):
    """Floor of each room: 0 for a room that includes no other, else one above the highest room it includes
    (rooms in one circle share a floor)."""
    comp = {r: r for r in rooms}
    for circle in tarjan(rooms, arrows):
        for r in circle:
            comp[r] = circle[0]
    memo = {}

    def floor(r, seen=()):
        c = comp[r]
        if c in memo:
            return memo[c]
        below = [t for m in rooms if comp[m] == c for t in arrows.get(m, ()) if comp[t] != c and t not in seen]
        memo[c] = 1 + max((floor(t, seen + (r,)) for t in below), default=-1)
        return memo[c]

    return {r: floor(r) for r in rooms}


def survey():
    files = sources()
    known = set(files)
    texts = {f: open(os.path.join(ROOT, f), encoding="utf-8", errors="replace").read() for f in files}
    rooms = sorted({room_of(f) for f in files})
    file_arrows, room_arrows = {}, {r: set() for r in rooms}
    for f in files:
        for target in INCLUDE_RE.findall(texts[f]):
            t = resolve(f, target, known)
            if t is None:
                continue
            file_arrows.setdefault(f, set()).add(t)
            if room_of(t) != room_of(f):
                room_arrows[room_of(f)].add(room_of(t))
    codes = {f: strip_code(texts[f]) for f in files}
    funcs = {f: functions(codes[f]) for f in files if f.endswith(".c")}
    # calls: a .c file using a function that another .c file defines (with external linkage, defined once)
    definers = {}
    for f, fs in funcs.items():
        for name, _, _, static in fs:
            if not static and name != "main":
                definers.setdefault(name, set()).add(f)
    call_arrows = {}
    for f in funcs:
        for word in sorted(set(re.findall(r"[A-Za-z_]\w*", codes[f]))):
            d = definers.get(word)
            if d and len(d) == 1 and f not in d:
                call_arrows.setdefault(f, {}).setdefault(next(iter(d)), word)
    return dict(files=files, texts=texts, rooms=rooms, room_arrows=room_arrows, file_arrows=file_arrows,
                funcs=funcs, call_arrows=call_arrows)


def drawing(s):
    rooms, arrows = s["rooms"], s["room_arrows"]
    fl = floors(rooms, arrows)
    top = max(fl.values())
    width = max(len(r) for r in rooms)
    lines = ["%d rooms on %d floors; a room includes only rooms on the floors below it (the arrows run down)."
             % (len(rooms), top + 1), ""]
    for level in range(top, -1, -1):
        here = sorted(r for r in rooms if fl[r] == level)
        for k, r in enumerate(here):
            targets = sorted(arrows[r], key=lambda t: (-fl[t], t))
            label = ("floor %d" % level) if k == 0 else ""
            line = ("%-8s  %-*s  ->" % (label, width, r)) if targets else "%-8s  %s" % (label, r)
            for t in targets:  # wrapped under the first arrow at WIDTH columns
                if len(line) + 1 + len(t) > WIDTH:
                    lines.append(line)
                    line = " " * (10 + width + 4)
                line += " " + t
            lines.append(line.rstrip())
    circles = tarjan(rooms, arrows)
    for c in circles:
        lines.append("CIRCLE between rooms: " + " <-> ".join(c))
    return "\n".join(lines), circles, fl


def file_circles(s):
    """Circles between files: by #include, and by calls (.c files using each other's functions)."""
    out = []
    for c in tarjan(s["files"], s["file_arrows"]):
        out.append("include circle: " + " <-> ".join(c))
    calls = {f: set(t) for f, t in s["call_arrows"].items()}
    for c in tarjan(list(s["funcs"]), calls):
        rooms = sorted({room_of(f) for f in c})
        members = set(c)
        shown = ["%s -> %s (%s)" % (os.path.basename(a), os.path.basename(b), s["call_arrows"][a][b])
                 for a in c for b in sorted(s["call_arrows"].get(a, {})) if b in members]
        out.append("call circle of %d files in %s: %s" % (len(c), ", ".join(rooms), "; ".join(shown)))
    return out


def upward_calls(s, fl):
    """Calls from a room to a function defined in a room on a higher floor (through a header of a lower room,
    such as the public include/): arrows the #include lines do not show."""
    out = []
    for f, targets in sorted(s["call_arrows"].items()):
        for t, name in sorted(targets.items()):
            if fl[room_of(t)] > fl[room_of(f)]:
                out.append("%s calls %s (%s, floor %d) from floor %d" % (f, name, t, fl[room_of(t)],
                                                                        fl[room_of(f)]))
    return out


def call_room_circles(s):
    """Circles between rooms when calls count as arrows too (a call through the public headers, which declare
    functions of many rooms, is an arrow the #include lines do not show)."""
    arrows = {r: set(t) for r, t in s["room_arrows"].items()}
    for f, targets in s["call_arrows"].items():
        for t in targets:
            if room_of(t) != room_of(f):
                arrows[room_of(f)].add(room_of(t))
    return ["rooms in a circle by includes and calls: " + " <-> ".join(c) for c in tarjan(s["rooms"], arrows)]


def measurements(s):
    lines = []
    counts = {f: s["texts"][f].count("\n") for f in s["files"]}
    cli = sum(n for f, n in counts.items() if room_of(f) == "src/cli")
    lines.append("src/cli: %d lines (target: under %d)%s" % (cli, CLI_LINES_MAX,
                                                            "" if cli < CLI_LINES_MAX else "  OVER"))
    big = sorted(((n, f) for f, n in counts.items() if f.startswith("src/") and n > FILE_LINES_MAX), reverse=True)
    lines.append("files in src/ over %d lines: %d%s" % (FILE_LINES_MAX, len(big), ":" if big else ""))
    lines += ["  %5d  %s" % (n, f) for n, f in big]
    long_ = sorted(((b - a + 1, f, name, a) for f, fs in s["funcs"].items() if f.startswith("src/")
                    for name, a, b, _ in fs if b - a + 1 > FUNCTION_LINES_MAX), reverse=True)
    total = sum(len(fs) for f, fs in s["funcs"].items() if f.startswith("src/"))
    lines.append("functions in src/ over %d lines: %d of %d%s" % (FUNCTION_LINES_MAX, len(long_), total,
                                                               ":" if long_ else ""))
    lines += ["  %5d  %s:%d %s" % (n, f, a, name) for n, f, name, a in long_]
    return lines


def doc_drawing(text):
    if BEGIN not in text or END not in text:
        return None
    body = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    if body.startswith("```text") and body.endswith("```"):
        body = body[len("```text"):-len("```")]
    return body.strip("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="write the drawing into " + DOC)
    ap.add_argument("--check", action="store_true", help="fail (exit status 2) when %s's drawing is stale" % DOC)
    ap.add_argument("--root", help="the repository to draw (default: the one holding this tool)")
    args = ap.parse_args()
    global ROOT
    ROOT = os.path.abspath(args.root) if args.root else ROOT
    s = survey()
    text, circles, fl = drawing(s)
    print(text)
    status = 1 if circles else 0
    print("\ncircles between files (information: inside one room they break no layering):")
    for line in file_circles(s) or ["none"]:
        print("  " + line)
    print("\ncalls up the floors (a function of a higher room called through a lower room's header):")
    for line in upward_calls(s, fl) + call_room_circles(s) or ["none"]:
        print("  " + line)
    print("\nsizes against issue 24's targets (measured, not enforced):")
    for line in measurements(s):
        print("  " + line)
    doc = os.path.join(ROOT, DOC)
    page = open(doc, encoding="utf-8").read() if os.path.exists(doc) else ""
    if args.write:
        if doc_drawing(page) is None:
            sys.exit("%s has no %s ... %s markers" % (DOC, BEGIN, END))
        head, rest = page.split(BEGIN, 1)
        page = head + BEGIN + "\n```text\n" + text + "\n```\n" + END + rest.split(END, 1)[1]
        with open(doc, "w", encoding="utf-8") as f:
            f.write(page)
        print("\nwrote the drawing into " + DOC)
    if args.check:
        if doc_drawing(page) != text:
            print("\n%s's drawing is stale (or missing): run tools/house.py --write" % DOC)
            status |= 2
        else:
            print("\n%s's drawing is the code's" % DOC)
    if circles:
        print("\nthe rooms include each other in a circle: " + "; ".join(" <-> ".join(c) for c in circles))
    return status


if __name__ == "__main__":
    sys.exit(main())
