#!/usr/bin/env bash
# End-to-end benchmark: weir, nginx and HAProxy in front of the same two nginx backends, plus wrk
# straight at one backend ("direct"). One worker per proxy pinned alone on CPU 0; wrk and the
# backends on CPU 1. Rounds rotate the order of the systems; ratios are taken within each round.
#
#   bench/e2e/run.sh [--rounds N] [--quick] [--out FILE] [--weir BINARY] [--duration SECONDS]
#
#   --quick: 1 round of 2 s runs.  --weir: the binary to test (default build/weir).
#   --idle-conns N (default 10000), --keep: keep the temp dir (configs, logs, raw wrk output).
#
# Prints a Markdown report and writes it to --out (default bench/e2e/last-run.md; the raw figures
# go next to it as .jsonl). Every server runs in the foreground in its own session with a config
# generated in a temp dir, and exactly those process groups are stopped on exit or Ctrl-C.
# Nothing here passes or fails on a number.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
measure="$here/measure.py"

rounds=7
duration=5            # seconds per measured wrk run
idle_conns=10000
out="$here/last-run.md"
weir_bin="$repo/build/weir"
keep_dir=0

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

command_line="bench/e2e/run.sh${*:+ $*}"
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --quick) rounds=1; duration=2; shift ;;
    --out) out=$2; shift 2 ;;
    --weir) weir_bin=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --idle-conns) idle_conns=$2; shift 2 ;;
    --keep) keep_dir=1; shift ;;   # keep the temp dir (configs, logs, raw wrk output)
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "--rounds must be a positive integer" >&2; exit 2; }
weir_bin=$(realpath "$weir_bin" 2>/dev/null || echo "$weir_bin")
if [[ ! -x $weir_bin ]]; then
  echo "no weir binary at $weir_bin; build one, e.g.:" >&2
  echo "  cmake -S $repo -B /tmp/weir-bench-build -DCMAKE_BUILD_TYPE=Release -DWEIR_TESTS=OFF -DWEIR_BENCH=OFF" >&2
  echo "  cmake --build /tmp/weir-bench-build -j2 --target weir   # then --weir /tmp/weir-bench-build/weir" >&2
  exit 2
fi

# ---------------------------------------------------------------------------------------------
# Packages. policy-rc.d (exit 101) keeps apt from starting the packaged nginx/haproxy services;
# an existing policy-rc.d is left as it is, or put back afterwards if we had to replace it.

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

install_packages() {
  local missing=()
  [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
  command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
  command -v wrk >/dev/null || missing+=(wrk)
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

# ---------------------------------------------------------------------------------------------
# Processes: every server is its own session and process group (setsid); we stop those groups
# and nothing else.

groups=()
work=""

stop_group() {  # pgid
  local pgid=$1 i
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 -- "-$pgid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  wait "$pgid" 2>/dev/null || true   # reap the leader (our child) now
  local kept=()
  for i in "${groups[@]}"; do [[ $i == "$pgid" ]] || kept+=("$i"); done
  groups=("${kept[@]}")
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local g
  for g in "${groups[@]}"; do stop_group "$g"; done
  restore_policy
  if [[ -n $work && -d $work ]]; then
    if ((keep_dir || rc != 0)); then echo "temp dir kept: $work" >&2; else rm -rf "$work"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started_pid=0
start_group() {  # cpus logfile command...: runs command in a new session pinned to cpus
  local cpus=$1 log=$2; shift 2
  setsid taskset -c "$cpus" "$@" >"$log" 2>&1 </dev/null &
  started_pid=$!
  groups+=("$started_pid")
  # A background job of a non-interactive shell is not a process-group leader, so setsid does
  # not fork and $! is the server itself: its pid becomes its session and process group id.
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(ps -o pgid= -p "$started_pid" | tr -d ' ') == "$started_pid" ]] && return 0
    sleep 0.02
  done
  echo "process $started_pid ($*) did not become its own process group" >&2
  exit 1
}

set_group_cpus() {  # pgid cpus: re-pin every thread of every process in the group
  local pid
  for pid in $(pgrep -g "$1"); do taskset -a -p -c "$2" "$pid" >/dev/null; done
}

# ---------------------------------------------------------------------------------------------
# Configs

nginx_common() {  # dir: lines shared by the backends and the nginx proxy
  cat <<EOF
user root root;
worker_processes 1;
worker_rlimit_nofile $nofile;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections $((nofile - 200)); }
EOF
}

write_backend() {  # dir port
  mkdir -p "$1"
  { nginx_common "$1"; cat <<EOF
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 300s;
  keepalive_requests 1000000000;
  client_body_temp_path $1/body;
  server {
    listen 127.0.0.1:$2 backlog=4096;
    location = /1m.bin { root $work/www; }
    location / { return 200 "ok\n"; }
  }
}
EOF
  } >"$1/nginx.conf"
}

write_nginx_proxy() {  # dir port
  mkdir -p "$1"
  { nginx_common "$1"; cat <<EOF
http {
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 1000000000;
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  upstream backends {
    server 127.0.0.1:$backend1;
    server 127.0.0.1:$backend2;
    keepalive 1024;
    keepalive_requests 1000000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:$2 backlog=511;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # The request headers weir adds, so every proxy does the same work.
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$http_host;
      proxy_set_header X-Request-Id \$request_id;
      proxy_set_header Via "1.1 nginx";
      proxy_max_temp_file_size 0;   # stream with backpressure like the others, no disk spool
    }
  }
}
EOF
  } >"$1/nginx.conf"
}

write_haproxy() {  # dir port
  mkdir -p "$1"
  cat >"$1/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn $((idle_conns + 2000))
  no strict-limits   # it sizes its FD limit for 2 sockets per connection; idle ones need 1
  pidfile $1/haproxy.pid

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 2s
  timeout client 300s
  timeout server 60s
  timeout http-request 10s
  timeout http-keep-alive 300s
  maxconn $((idle_conns + 2000))

frontend bench
  bind 127.0.0.1:$2
  default_backend backends
  # The request headers weir adds, so every proxy does the same work.
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid
  http-request set-header X-Request-Id %[unique-id] unless { req.hdr(x-request-id) -m found }
  http-request add-header Via "1.1 haproxy"

backend backends
  balance roundrobin
  server b1 127.0.0.1:$backend1
  server b2 127.0.0.1:$backend2
EOF
}

write_weir() {  # dir port workers
  mkdir -p "$1"
  cat >"$1/weir.yaml" <<EOF
workers: $3
listeners:
  - name: bench
    listen: 127.0.0.1:$2
    routes:
      - match: {path_prefix: /}
        upstream: backends
upstreams:
  - name: backends
    servers:
      - {address: 127.0.0.1:$backend1}
      - {address: 127.0.0.1:$backend2}
    keepalive: {max_idle: 1024, idle_timeout: 60s}
    timeouts: {connect: 2s, response: 60s}
limits: {max_connections: 100000}
timeouts: {keepalive: 300s, shutdown_grace: 1s}
access_log: {path: "off"}
pid_file: "off"
EOF
  # Builds older than the pid_file key (which default to /run/weir/weir.pid) reject it.
  "$weir_bin" -t -c "$1/weir.yaml" >/dev/null 2>&1 || sed -i '/^pid_file:/d' "$1/weir.yaml"
  "$weir_bin" -t -c "$1/weir.yaml" >/dev/null 2>&1 || "$weir_bin" -t -c "$1/weir.yaml"
}

# ---------------------------------------------------------------------------------------------
# Running one system

results=""
proxy_port=0
proxy_pgid=0

start_system() {  # system cpus [workers]: sets proxy_port and proxy_pgid
  local system=$1 cpus=$2 workers=${3:-1} dir
  proxy_port=$($py "$measure" ports 1)
  dir="$work/$system-$proxy_port"
  case $system in
    weir*)
      write_weir "$dir" "$proxy_port" "$workers"
      start_group "$cpus" "$dir/weir.log" "$weir_bin" -c "$dir/weir.yaml" ;;
    nginx)
      write_nginx_proxy "$dir" "$proxy_port"
      start_group "$cpus" "$dir/stderr.log" /usr/sbin/nginx -p "$dir/" -e "$dir/error.log" \
        -c "$dir/nginx.conf" -g 'daemon off;' ;;
    haproxy)
      write_haproxy "$dir" "$proxy_port"
      start_group "$cpus" "$dir/haproxy.log" haproxy -f "$dir/haproxy.cfg" -db ;;
  esac
  proxy_pgid=$started_pid
  $py "$measure" wait "$proxy_port" || { cat "$dir"/*.log >&2; exit 1; }
  $py "$measure" check "$proxy_port"
}

wrk_run() {  # round system test conns path [extra wrk args...]
  local round=$1 system=$2 test=$3 conns=$4 path=$5; shift 5
  local body=0
  [[ $path == /1m.bin ]] && body=1048576
  $py "$measure" wrk --results "$results" --log "$work/wrk.log" --round "$round" \
    --system "$system" --test "$test" --pgid "$proxy_pgid" --body-bytes "$body" \
    --proxy-cpu "$proxy_cpu" -- \
    "${wrk_prefix[@]}" wrk -t1 -c"$conns" -d"${duration}s" --latency "$@" \
    "http://127.0.0.1:$proxy_port$path"
}

warm_up() { "${wrk_prefix[@]}" wrk -t1 -c64 -d1s "http://127.0.0.1:$proxy_port/" >/dev/null; }

measure_system() {  # round system
  local round=$1 system=$2
  if [[ $system == direct ]]; then
    proxy_port=$backend1; proxy_pgid=0
  else
    start_system "$system" "$proxy_cpu"
  fi
  warm_up
  if [[ $system != direct ]]; then
    $py "$measure" idle --results "$results" --round "$round" --system "$system" \
      --pgid "$proxy_pgid" --port "$proxy_port" --conns "$idle_conns"
  fi
  wrk_run "$round" "$system" ka16 16 /
  wrk_run "$round" "$system" ka64 64 /
  wrk_run "$round" "$system" ka256 256 /
  wrk_run "$round" "$system" close 16 / -H 'Connection: close'
  wrk_run "$round" "$system" 1mib 16 /1m.bin
  [[ $system == direct ]] || stop_group "$proxy_pgid"
}

measure_weir_workers() {  # round: weir workers 1 vs 2, nothing pinned
  local round=$1 order=(1 2) workers
  ((round % 2)) || order=(2 1)
  set_group_cpus "$backend1_pgid" "$all_cpus"
  set_group_cpus "$backend2_pgid" "$all_cpus"
  wrk_prefix=(taskset -c "$all_cpus")
  for workers in "${order[@]}"; do
    start_system "weir-w$workers" "$all_cpus" "$workers"
    warm_up
    wrk_run "$round" "weir-w$workers" ka64 64 /
    wrk_run "$round" "weir-w$workers" ka256 256 /
    stop_group "$proxy_pgid"
  done
  wrk_prefix=()
  set_group_cpus "$backend1_pgid" "$client_cpu"
  set_group_cpus "$backend2_pgid" "$client_cpu"
}

# ---------------------------------------------------------------------------------------------
# Main

started_at=$(date +%s)
install_packages
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"   # the hard limit may be lower
nofile=$(ulimit -n)
((nofile >= idle_conns + 1000)) || echo "warning: open-file limit $nofile is low for $idle_conns idle connections" >&2

ncpu=$(nproc)
proxy_cpu=0
client_cpu=1
all_cpus="0-$((ncpu - 1))"
if ((ncpu < 2)); then
  echo "warning: one CPU only; proxy, wrk and backends share it" >&2
  client_cpu=0
fi
wrk_prefix=()   # wrk runs where this shell runs, unless a test says otherwise
# This shell, wrk and the helpers stay off the proxy's CPU.
taskset -p -c "$client_cpu" $$ >/dev/null

work=$(mktemp -d /tmp/weir-e2e.XXXXXX)
chmod 755 "$work"
results="$work/results.jsonl"
mkdir -p "$work/www"
head -c 1048576 /dev/urandom >"$work/www/1m.bin"

read -r backend1 backend2 < <($py "$measure" ports 2)
write_backend "$work/backend1" "$backend1"
write_backend "$work/backend2" "$backend2"
start_group "$client_cpu" "$work/backend1/stderr.log" /usr/sbin/nginx -p "$work/backend1/" \
  -e "$work/backend1/error.log" -c "$work/backend1/nginx.conf" -g 'daemon off;'
backend1_pgid=$started_pid
start_group "$client_cpu" "$work/backend2/stderr.log" /usr/sbin/nginx -p "$work/backend2/" \
  -e "$work/backend2/error.log" -c "$work/backend2/nginx.conf" -g 'daemon off;'
backend2_pgid=$started_pid
$py "$measure" wait "$backend1"
$py "$measure" wait "$backend2"
$py "$measure" check "$backend1"
$py "$measure" check "$backend2"

meta="$work/meta.md"
{
  echo "# weir end-to-end benchmark"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); command: \`$command_line\`"
  echo "- machine: $ncpu CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r)"
  echo "- weir: $weir_bin ($("$weir_bin" -v 2>&1 | head -1), built $(date -u -r "$weir_bin" "+%Y-%m-%d %H:%M UTC")), repo HEAD $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "- $(/usr/sbin/nginx -v 2>&1); $(haproxy -v 2>&1 | head -1); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "- pinning: each proxy (1 worker) alone on CPU $proxy_cpu; wrk (-t1) and two nginx backends (1 worker each) on CPU $client_cpu"
  echo "- $duration s per wrk run; $idle_conns idle connections; open-file limit $nofile"
  echo
} >"$meta"

systems=(weir nginx haproxy direct)
for ((round = 1; round <= rounds; round++)); do
  order=()
  for ((i = 0; i < ${#systems[@]}; i++)); do
    order+=("${systems[(i + round - 1) % ${#systems[@]}]}")
  done
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  echo "round $round/$rounds: ${order[*]}  (load average $load_before)"
  for system in "${order[@]}"; do measure_system "$round" "$system"; done
  measure_weir_workers "$round"
  echo "- round $round: order ${order[*]}, weir workers 1|2; 1-min load average $load_before before, $(cut -d' ' -f1 /proc/loadavg) after" >>"$meta"
done
echo "- total time $(( ($(date +%s) - started_at) / 60 )) min $(( ($(date +%s) - started_at) % 60 )) s" >>"$meta"
echo >>"$meta"

echo
$py "$measure" report --results "$results" --meta "$meta" --out "$out"
cp "$results" "${out%.md}.jsonl"   # every run's raw figures, for a second look
