#!/usr/bin/env bash
# Installs the build dependencies, builds weir and runs it in the foreground on conf/weir.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
scripts/build.sh release
exec build/weir -c "${1:-conf/weir.yaml}"
