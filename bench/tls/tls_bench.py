#!/usr/bin/env python3
"""TLS handshake benchmark: weir against nginx, same certificate, one worker each, both pinned on
one CPU, clients (`openssl s_time`) on another. Called by bench/tls/run.sh, which installs what is
missing; see its header for the options.

Each measurement runs K `openssl s_time -www /` processes in parallel for T seconds against one
server: every connection is a handshake (full with -new, resumed with -reuse), one tiny GET and a
close. We count connections, read the server's CPU time (all its processes) from /proc, and how
many connections s_time says were resumed. Rounds alternate which server goes first; ratios are
taken within a round and the medians reported.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NGINX = "/usr/sbin/nginx"
TICKS = os.sysconf("SC_CLK_TCK")
SERVER_CPU = "0"
CLIENT_CPU = "1"
MODES = [("TLSv1.3", "-tls1_3", "new"), ("TLSv1.3", "-tls1_3", "reuse"),
         ("TLSv1.2", "-tls1_2", "new"), ("TLSv1.2", "-tls1_2", "reuse")]


def sh(*cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited early:\n{log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listening on {port}:\n{log.read_text(errors='replace')}")


def make_certificate(work: Path, key: str) -> tuple[Path, Path]:
    crt, keyf = work / f"{key}.crt", work / f"{key}.key"
    newkey = ["-newkey", "rsa:2048"] if key == "rsa2048" else \
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    sh("openssl", "req", "-x509", *newkey, "-nodes", "-keyout", str(keyf), "-out", str(crt),
       "-days", "7", "-subj", "/CN=bench.test", "-addext", "subjectAltName=DNS:bench.test")
    return crt, keyf


class Server:
    """weir or nginx in its own session, pinned on SERVER_CPU; stopped by its process group."""

    def __init__(self, kind: str, work: Path, crt: Path, key: Path, weir_bin: str):
        self.kind = kind
        self.port = free_port()
        d = work / f"{kind}-{self.port}"
        d.mkdir()
        self.log = d / "stderr.log"
        if kind == "weir":
            cfg = d / "weir.yaml"
            cfg.write_text(f"""\
workers: 1
pid_file: "off"
access_log: {{path: "off"}}
listeners:
  - name: bench
    listen: 127.0.0.1:{self.port}
    tls:
      certificates: [{{cert: {crt}, key: {key}}}]
    routes:
      - match: {{path_prefix: /}}
        respond: {{status: 200, body: "ok\\n"}}
timeouts: {{shutdown_grace: 1s}}
""")
            cmd = [weir_bin, "-c", str(cfg)]
        else:
            cfg = d / "nginx.conf"
            # The defaults that matter match weir's: TLS 1.2 and 1.3, tickets on (a random key
            # made at start, shared by workers), a shared session cache for session ids.
            cfg.write_text(f"""\
user root root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  server {{
    listen 127.0.0.1:{self.port} ssl backlog=4096;
    ssl_certificate {crt};
    ssl_certificate_key {key};
    location / {{ return 200 "ok\\n"; }}
  }}
}}
""")
            cmd = [NGINX, "-p", f"{d}/", "-e", f"{d}/error.log", "-c", str(cfg), "-g",
                   "daemon off;"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *cmd],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        wait_port(self.port, self.proc, self.log)
        out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}",
                              "-servername", "bench.test", "-ign_eof"],
                             input=b"GET / HTTP/1.0\r\n\r\n", capture_output=True, timeout=10)
        if b"ok\n" not in out.stdout:
            sys.exit(f"{kind} did not answer over TLS:\n{out.stdout[-2000:]!r}")
        self.version = sh(NGINX, "-v").stderr.strip() if kind == "nginx" else \
            sh(weir_bin, "-v").stdout.strip()

    def cpu_seconds(self) -> float:
        """utime + stime of every process in the server's process group."""
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.proc.pid:  # pgrp
                total += int(fields[11]) + int(fields[12])
        return total / TICKS

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(5)


def measure(server: Server, version_flag: str, mode: str, seconds: int, clients: int) -> dict:
    cpu0 = server.cpu_seconds()
    t0 = time.monotonic()
    procs = [subprocess.Popen(["taskset", "-c", CLIENT_CPU, "openssl", "s_time", "-connect",
                               f"127.0.0.1:{server.port}", f"-{mode}", version_flag, "-time",
                               str(seconds), "-www", "/"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
             for _ in range(clients)]
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=seconds + 60)[0])
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            outs.append(p.communicate()[0])
    wall = time.monotonic() - t0
    cpu = server.cpu_seconds() - cpu0
    connections = reused = fresh = errors = 0
    for out in outs:
        m = re.search(r"^(\d+) connections in [\d.]+ real seconds", out, re.M)
        if not m:
            errors += 1
            continue
        connections += int(m.group(1))
        if mode == "reuse":
            marks = "".join(l for l in out.splitlines() if re.fullmatch(r"[r*]+", l))
            reused += marks.count("r")
            fresh += marks.count("*")
    return {"connections": connections, "wall_s": wall, "server_cpu_s": cpu,
            "rate": connections / wall, "per_cpu_s": connections / cpu if cpu else 0.0,
            "cpu_util": cpu / wall, "reused": reused, "fresh": fresh, "client_errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", default=str(REPO / "build/weir"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--time", type=int, default=5, help="seconds per measurement")
    ap.add_argument("--clients", type=int, default=8, help="parallel s_time processes")
    ap.add_argument("--keys", default="rsa2048,p256")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "last-run.md"))
    ap.add_argument("--command-line", default="bench/tls/run.sh")
    args = ap.parse_args()

    global CLIENT_CPU
    if os.cpu_count() < 2:
        print("warning: one CPU: servers and clients share it", file=sys.stderr)
        CLIENT_CPU = "0"
    os.sched_setaffinity(0, {int(CLIENT_CPU)})

    started = time.time()
    load_before = Path("/proc/loadavg").read_text().split()[0]
    rows = []  # one per measurement
    versions = {}
    with tempfile.TemporaryDirectory(prefix="weir-tls-bench.") as tmp:
        work = Path(tmp)
        for key in args.keys.split(","):
            crt, keyf = make_certificate(work, key)
            servers = [Server("weir", work, crt, keyf, args.weir),
                       Server("nginx", work, crt, keyf, args.weir)]
            try:
                for s in servers:
                    versions[s.kind] = s.version
                for rnd in range(1, args.rounds + 1):
                    order = servers if rnd % 2 else servers[::-1]
                    print(f"{key} round {rnd}/{args.rounds} "
                          f"(load {Path('/proc/loadavg').read_text().split()[0]})", flush=True)
                    for proto, flag, mode in MODES:
                        for s in order:
                            r = measure(s, flag, mode, args.time, args.clients)
                            r.update(key=key, round=rnd, server=s.kind, proto=proto, mode=mode)
                            rows.append(r)
                            print(f"  {proto} {mode:5} {s.kind:5} {r['rate']:8.0f}/s  "
                                  f"{r['per_cpu_s']:8.0f}/cpu-s  cpu {r['cpu_util']:.0%}"
                                  + (f"  resumed {r['reused']}/{r['reused'] + r['fresh']}"
                                     if mode == "reuse" else ""), flush=True)
            finally:
                for s in servers:
                    s.stop()
    load_after = Path("/proc/loadavg").read_text().split()[0]

    out = Path(args.out)
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cpu_model = next((l.split(":", 1)[1].strip() for l in
                      Path("/proc/cpuinfo").read_text().splitlines()
                      if l.startswith("model name")), "?")
    lines = [
        "# TLS handshakes: weir vs nginx", "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}; "
        f"command: `{args.command_line}`",
        f"- machine: {os.cpu_count()} CPUs, {cpu_model}, kernel {platform.release()}; "
        f"1-min load average {load_before} before, {load_after} after",
        f"- {versions.get('weir', '?')} ({args.weir}); {versions.get('nginx', '?')}; "
        f"{sh('openssl', 'version').stdout.strip()}",
        f"- one worker each, pinned on CPU {SERVER_CPU}; {args.clients} parallel "
        f"`openssl s_time -www /` on CPU {CLIENT_CPU}; {args.time} s per measurement; "
        f"{args.rounds} rounds alternating which server goes first",
        "- hs/s: connections (handshake + one GET + close) per second of wall time; "
        "hs/CPU-s: per second of the server's own CPU time (user + system, all its processes); "
        "ratio: weir / nginx within a round, median over rounds", "",
    ]
    for key in args.keys.split(","):
        lines += [f"## {key} certificate", "",
                  "| handshake | weir hs/s | nginx hs/s | ratio | weir hs/CPU-s | nginx hs/CPU-s "
                  "| ratio | server CPU weir / nginx | resumed weir / nginx |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for proto, _, mode in MODES:
            sel = [r for r in rows if r["key"] == key and r["proto"] == proto and r["mode"] == mode]
            w = {r["round"]: r for r in sel if r["server"] == "weir"}
            n = {r["round"]: r for r in sel if r["server"] == "nginx"}
            rounds = sorted(set(w) & set(n))

            def med(rs, field):
                return statistics.median(r[field] for r in rs)

            ratio = statistics.median(w[i]["rate"] / n[i]["rate"] for i in rounds if n[i]["rate"])
            ratio_cpu = statistics.median(w[i]["per_cpu_s"] / n[i]["per_cpu_s"] for i in rounds
                                          if n[i]["per_cpu_s"])

            def resumed(rs):
                tot = sum(r["reused"] + r["fresh"] for r in rs)
                return f"{sum(r['reused'] for r in rs) / tot:.0%}" if tot else "-"

            ws, ns = list(w.values()), list(n.values())
            lines.append(
                f"| {proto} {'full' if mode == 'new' else 'resumed'} | {med(ws, 'rate'):.0f} | "
                f"{med(ns, 'rate'):.0f} | {ratio:.2f} | {med(ws, 'per_cpu_s'):.0f} | "
                f"{med(ns, 'per_cpu_s'):.0f} | {ratio_cpu:.2f} | "
                f"{med(ws, 'cpu_util'):.0%} / {med(ns, 'cpu_util'):.0%} | "
                + (f"{resumed(ws)} / {resumed(ns)} |" if mode == "reuse" else "- |"))
        lines.append("")
    lines.append(f"Total time {int(time.time() - started)} s. Raw figures: "
                 f"{out.with_suffix('.jsonl').name}.")
    report = "\n".join(lines) + "\n"
    out.write_text(report)
    print()
    print(report)


if __name__ == "__main__":
    main()
