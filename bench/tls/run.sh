#!/usr/bin/env bash
# TLS handshake benchmark: full and resumed handshakes per second, weir against nginx in the same
# run with the same certificate (RSA 2048 and ECDSA P-256), TLS 1.3 and 1.2. One worker each,
# pinned alone on CPU 0; the clients (parallel `openssl s_time -www /`) on CPU 1. Rounds alternate
# which server goes first; ratios are taken within a round, medians reported.
#
#   bench/tls/run.sh [--rounds N] [--time SECONDS] [--clients K] [--keys rsa2048,p256]
#                    [--weir BINARY] [--out FILE] [--quick]
#
#   defaults: 5 rounds, 5 s per measurement, 8 clients, both key types, build/weir,
#   bench/tls/last-run.md (raw figures next to it as .jsonl). --quick: 1 round of 2 s.
#
# Installs nginx when missing (its service kept from starting by policy-rc.d, as
# bench/e2e/run.sh does). Every server runs in its own session and only those process groups are
# stopped. Nothing here passes or fails on a number.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
command_line="bench/tls/run.sh${*:+ $*}"
args=()
weir_bin="$repo/build/weir"
while (($#)); do
  case $1 in
    --weir) weir_bin=$2; shift 2 ;;
    --quick) args+=(--rounds 1 --time 2); shift ;;
    --rounds|--time|--clients|--keys|--out) args+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
weir_bin=$(realpath "$weir_bin" 2>/dev/null || echo "$weir_bin")
if [[ ! -x $weir_bin ]]; then
  echo "no weir binary at $weir_bin: build one (cmake --build build --target weir)" >&2
  echo "or pass --weir BINARY" >&2
  exit 2
fi

as_root() { if ((EUID == 0)); then "$@"; else sudo "$@"; fi; }
policy=/usr/sbin/policy-rc.d
policy_backup=""
policy_created=0
restore_policy() {
  if [[ -n $policy_backup ]]; then
    as_root mv -f "$policy_backup" "$policy"; policy_backup=""
  elif ((policy_created)); then
    as_root rm -f "$policy"; policy_created=0
  fi
}
trap restore_policy EXIT

install_packages() {
  local missing=()
  [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v taskset >/dev/null || missing+=(util-linux)
  ((${#missing[@]})) || return 0
  echo "installing ${missing[*]} (services kept from starting by $policy)"
  if [[ -e $policy ]]; then
    if ! grep -qx 'exit 101' "$policy"; then
      policy_backup=$(mktemp /tmp/policy-rc.d.XXXXXX)
      as_root cp -p "$policy" "$policy_backup"
      printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    fi
  else
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    policy_created=1
  fi
  as_root chmod 755 "$policy"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends)
  if ! as_root "${apt[@]}" "${missing[@]}"; then
    as_root apt-get update -qq
    as_root "${apt[@]}" "${missing[@]/nginx-light/nginx}"
  fi
  restore_policy
}

install_packages
/usr/bin/python3 "$here/tls_bench.py" --weir "$weir_bin" --command-line "$command_line" \
  ${args[@]+"${args[@]}"}
