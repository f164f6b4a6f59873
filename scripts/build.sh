#!/usr/bin/env bash
# Builds weir. `scripts/build.sh` makes the release build in build/;
# `scripts/build.sh asan` makes the AddressSanitizer + UBSan build in build-asan/.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
case "${1:-release}" in
  release) cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j"$jobs" ;;
  asan) cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_SANITIZE=ON \
          -DWEIR_BENCH=OFF && cmake --build build-asan -j"$jobs" ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
