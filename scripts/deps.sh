#!/usr/bin/env bash
# Installs the Debian packages dystress needs to build, test and run its main job, when they are missing.
# Usage: scripts/deps.sh [--test]   (--test adds what the test suite's extra checks use: clang sanitizers, valgrind,
# and Chromium, in which tests/test_report_browser.c renders the run report). The data sets of the main jobs come as
# packages too: Fashion-MNIST, and espeak-ng, which speaks the digits of the audio main job
# (tools/make_spoken_digits.py).
set -eu
pkgs="build-essential pkg-config libdnnl-dev libopenmpi-dev openmpi-bin zlib1g-dev libpng-dev libjpeg-dev libsndfile1-dev dataset-fashion-mnist espeak-ng"
if [ "${1:-}" = "--test" ]; then
  pkgs="$pkgs clang libclang-rt-14-dev valgrind chromium"
fi
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "deps: installing$missing"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
echo "deps: ok"
