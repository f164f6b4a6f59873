#!/usr/bin/env bash
# Installs every Debian package weir needs to build, test and benchmark. Safe to run again:
# it only calls apt-get when something is missing.
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config libuv1-dev node-llhttp libssl-dev libyaml-cpp-dev
  nlohmann-json3-dev libgtest-dev libbenchmark-dev libre2-dev libcurl4-openssl-dev
  libsystemd-dev libxxhash-dev nodejs npm)
TEST_PKGS=(python3 python3-pytest python3-websockets curl openssl gunicorn python3-django
  python3-djangorestframework procps iproute2 python3-aiosmtpd chromium nodejs npm apache2-utils
  wrk)

want=("${BUILD_PKGS[@]}")
case "${1:-build}" in
  test) want+=("${TEST_PKGS[@]}") ;;
  build) ;;
  *) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  # nodejs and npm (the dashboard's Chart.js, the browser test's Playwright): any install will
  # do; NodeSource's nodejs carries npm and conflicts with Debian's npm package.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
