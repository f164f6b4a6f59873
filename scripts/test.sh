#!/usr/bin/env bash
# Installs everything, builds weir twice (release, and ASan+UBSan) and runs every test against
# both builds: GoogleTest unit tests through ctest, then the integration suite (pytest) that
# drives the real binary. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
scripts/build.sh release
scripts/build.sh asan

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
PYTEST=(/usr/bin/python3 -m pytest tests/integration -q -p no:cacheprovider)

echo "== unit tests (release)"
ctest --test-dir build --output-on-failure
echo "== unit tests (asan+ubsan)"
ctest --test-dir build-asan --output-on-failure
echo "== integration tests (release)"
WEIR_BIN="$PWD/build/weir" "${PYTEST[@]}"
echo "== integration tests (asan+ubsan)"
WEIR_BIN="$PWD/build-asan/weir" WEIR_SANITIZED=1 "${PYTEST[@]}"
