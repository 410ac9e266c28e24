#!/usr/bin/env bash
# Plays a fresh machine: oneDNN's header is absent when make reads the Makefile and appears only when the package
# step runs. Checks that the README's commands then build the oneDNN path on their first run, that a later change of
# configuration (DNNL=0 and back) rebuilds instead of answering "Nothing to be done", and that a plain `make` without
# the header stops with a message instead of building the slow reference path by accident.
# Usage: tests/build/fresh_machine.sh   (from the repository root; needs the real header, /usr/include/dnnl.h)
set -u
top=$(pwd)
[ -f /usr/include/dnnl.h ] || { echo "fresh_machine: needs libdnnl-dev installed (scripts/deps.sh)"; echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# the tracked and untracked-but-not-ignored files, as a clean checkout would have them
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$work"
cd "$work"
mkdir -p fake-include
cat > fake-deps.sh <<DEPS
#!/bin/sh
# the package step: the header appears only now
ln -sf /usr/include/dnnl.h "$work/fake-include/dnnl.h"
echo "deps: ok (simulated)"
DEPS
chmod +x fake-deps.sh
fast="OPT=-O0 DNNL_HEADER=$work/fake-include/dnnl.h DEPS=$work/fake-deps.sh"
pass=0; fail=0
check() { if eval "$2"; then echo "ok   $1"; pass=$((pass + 1)); else echo "FAIL $1"; fail=$((fail + 1)); fi; }

out=$(make $fast all 2>&1); rc=$?
check "plain make without the header stops" '[ $rc -ne 0 ]'
check "its message says how to get oneDNN or choose DNNL=0" 'printf "%s" "$out" | grep -q "libdnnl-dev" && printf "%s" "$out" | grep -q "DNNL=0"'
check "and nothing was built" '[ ! -e dystress ]'

# the README's test command on the fresh machine (one test binary run, all built)
make -j2 $fast test DY_TEST_ONLY=test_dnnl_exec > test.log 2>&1; rc=$?
check "make test on the fresh machine succeeds" '[ $rc -eq 0 ] || tail -n 30 test.log'
check "its binary reports oneDNN: yes" './dystress --version | grep -q "oneDNN: yes"'
check "test_dnnl_exec ran checks" 'grep -qE "^ok +test_dnnl_exec +[1-9][0-9]* passed, 0 failed" test.log'

# again from nothing, through `make build`
rm -rf build dystress fake-include/dnnl.h
make -j2 $fast build > build.log 2>&1; rc=$?
check "make build (install, then build) succeeds" '[ $rc -eq 0 ] || tail -n 30 build.log'
check "the fresh build reports oneDNN: yes" './dystress --version | grep -q "oneDNN: yes"'

make -j2 $fast DNNL=0 all > build0.log 2>&1; rc=$?
check "make DNNL=0 after it rebuilds (config stamp)" '[ $rc -eq 0 ] && ./dystress --version | grep -q "oneDNN: no"'
make -j2 $fast all > build1.log 2>&1; rc=$?
check "and back to the default rebuilds with oneDNN" '[ $rc -eq 0 ] && ./dystress --version | grep -q "oneDNN: yes"'
check "the switch back did rebuild the engine" 'grep -q "dnnl_exec.c" build1.log'
make $fast all > build2.log 2>&1
check "an unchanged configuration rebuilds nothing" '! grep -q "\-c src/" build2.log'
cd "$top"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
