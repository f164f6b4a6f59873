#!/usr/bin/python3
"""Measurement side of bench/e2e/run.sh: free ports, readiness checks, wrk runs with the proxy's
CPU time sampled around them, idle keep-alive RSS, and the Markdown report.

Standard library only. Results are appended one JSON object per line to a results file; `report`
turns that file into the tables. run.sh owns the processes; this file never starts a server.
"""

import argparse
import asyncio
import glob
import http.client
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import time

kOneMiB = 1024 * 1024
kClockTicks = os.sysconf("SC_CLK_TCK")

# The systems, in the order the tables list them.
kSystems = ["weir", "nginx", "haproxy", "direct"]
kCompetitors = ["nginx", "haproxy"]


# --------------------------------------------------------------------------------------------
# /proc sampling


def group_pids(pgid):
    """Every live process whose process group is `pgid` (nginx master + workers, haproxy, weir)."""
    pids = []
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue  # exited while we looked
        fields = text[text.rindex(")") + 2:].split()  # comm may hold spaces and parentheses
        if int(fields[2]) == pgid:  # fields[0] is state, [1] ppid, [2] pgrp
            pids.append(int(path.split("/")[2]))
    return pids


def group_usage(pgid):
    """(CPU seconds, VmRSS bytes, process count) summed over the process group.

    CPU is sum_exec_runtime from /proc/PID/task/TID/schedstat (nanoseconds, every thread); with
    this kernel's tick-based accounting, utime+stime from /proc/PID/stat moves in 10 ms steps and
    is a sample, so it is only the fallback when schedstat is missing.
    """
    cpu_s = 0.0
    rss_kib = 0
    pids = group_pids(pgid)
    for pid in pids:
        try:
            cpu_s += process_cpu_s(pid)
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss_kib += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
    return cpu_s, rss_kib * 1024, len(pids)


def process_cpu_s(pid):
    try:
        total_ns = 0
        for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            with open(path) as f:
                total_ns += int(f.read().split()[0])
        if total_ns:
            return total_ns / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / kClockTicks  # utime, stime: proc(5) 14, 15


def cpu_busy(cpu):
    """Seconds CPU `cpu` has spent not idle (all processes, interrupts, steal) since boot."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                # user nice system idle iowait irq softirq steal (guest is already in user)
                return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / kClockTicks
    raise ValueError(f"no cpu{cpu} in /proc/stat")


# --------------------------------------------------------------------------------------------
# wrk output


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}[unit]


def parse_wrk(text):
    """The numbers we use from `wrk --latency` output; raises ValueError if the run produced none."""
    out = {"errors": {}, "non2xx": 0}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError("no request count in wrk output:\n" + text)
    out["requests"] = int(m.group(1))
    out["seconds"] = to_ms(m.group(2), m.group(3)) / 1000.0
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else out["requests"] / out["seconds"]
    for pct in ("50", "75", "90", "99"):
        m = re.search(r"^\s+" + pct + r"%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
        if m:
            out["p" + pct + "_ms"] = to_ms(m.group(1), m.group(2))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        for name, value in zip(("connect", "read", "write", "timeout"), m.groups()):
            if int(value):
                out["errors"][name] = int(value)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    return out


# --------------------------------------------------------------------------------------------
# Commands


def cmd_ports(args):
    socks = []
    for _ in range(args.count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def cmd_wait(args):
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", args.port), timeout=0.5).close()
            return 0
        except OSError:
            time.sleep(0.05)
    print(f"nothing listens on 127.0.0.1:{args.port} after {args.timeout}s", file=sys.stderr)
    return 1


def cmd_check(args):
    """One small and one 1 MiB request through `port`: the setup is right before we time it."""
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=5)
    for path, want in (("/", b"ok\n"), ("/1m.bin", None)):
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or (want is not None and body != want) or \
           (want is None and len(body) != kOneMiB):
            print(f"127.0.0.1:{args.port}{path}: status {resp.status}, {len(body)} body bytes",
                  file=sys.stderr)
            return 1
    return 0


def cmd_usage(args):
    cpu_s, rss, n = group_usage(args.pgid)
    print(f"{cpu_s:.2f}s CPU, {rss / kOneMiB:.1f} MiB RSS in {n} processes")


def append(results, record):
    with open(results, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def cmd_wrk(args):
    """Run wrk (args.cmd), sampling the proxy group's CPU time just before and just after."""
    before = group_usage(args.pgid)[0] if args.pgid else None
    busy_before = cpu_busy(args.proxy_cpu)
    proc = subprocess.run(args.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    busy_after = cpu_busy(args.proxy_cpu)
    after = group_usage(args.pgid)[0] if args.pgid else None
    if args.log:
        with open(args.log, "a") as f:
            f.write(f"### round {args.round} {args.system} {args.test}: {' '.join(args.cmd)}\n")
            f.write(proc.stdout + "\n")
    record = {"round": args.round, "system": args.system, "test": args.test}
    try:
        record.update(parse_wrk(proc.stdout))
    except ValueError as e:
        print(f"wrk failed for {args.system} {args.test}: {e}", file=sys.stderr)
        record["failed"] = True
        append(args.results, record)
        return 0  # keep going; the report shows the gap
    record["proxy_cpu_busy_s"] = busy_after - busy_before
    if before is not None:
        record["cpu_s"] = after - before
        # What else ran on the proxy's CPU (other processes, interrupts): noise in this run.
        record["others_on_proxy_cpu"] = max(0.0, busy_after - busy_before - record["cpu_s"]) / \
            record["seconds"]
        record["cpu_us_per_req"] = record["cpu_s"] * 1e6 / max(record["requests"], 1)
    if args.body_bytes:
        mib_per_req = args.body_bytes / kOneMiB
        record["mib_per_s"] = record["rps"] * mib_per_req
        if "cpu_s" in record:
            record["cpu_us_per_mib"] = record["cpu_us_per_req"] / mib_per_req
    append(args.results, record)
    summary = f"{record['rps']:.0f} req/s, p99 {record.get('p99_ms', float('nan')):.2f} ms"
    if "cpu_us_per_req" in record:
        summary += f", {record['cpu_us_per_req']:.1f} us CPU/req"
    if record["errors"] or record["non2xx"]:
        summary += f", errors {record['errors']} non-2xx {record['non2xx']}"
    print(f"  {args.system:8} {args.test:10} {summary}", flush=True)
    return 0


async def open_idle(port, count, parallel):
    """Open `count` connections, send one request on each, read the answer, keep them open."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: weir-e2e-idle\r\n\r\n"
    gate = asyncio.Semaphore(parallel)
    writers = []
    failures = 0

    async def one():
        nonlocal failures
        async with gate:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                await reader.readexactly(int(m.group(1)) if m else 0)
                if not head.startswith(b"HTTP/1.1 200"):
                    failures += 1
                writers.append(writer)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                failures += 1

    await asyncio.gather(*(one() for _ in range(count)))
    return writers, failures


def cmd_idle(args):
    """RSS added per idle keep-alive connection: group RSS before, open N, settle, RSS after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    count = min(args.conns, hard - 64)
    loop = asyncio.new_event_loop()
    time.sleep(0.5)
    rss_before = group_usage(args.pgid)[1]
    t0 = time.monotonic()
    writers, failures = loop.run_until_complete(open_idle(args.port, count, args.parallel))
    open_s = time.monotonic() - t0
    time.sleep(args.settle)
    rss_after = group_usage(args.pgid)[1]
    live = len(writers)
    for w in writers:
        w.close()
    loop.run_until_complete(asyncio.sleep(0.2))
    loop.close()
    record = {"round": args.round, "system": args.system, "test": "idle",
              "conns": live, "failures": failures, "rss_before": rss_before,
              "rss_after": rss_after, "open_s": open_s}
    if live:
        record["rss_bytes_per_conn"] = (rss_after - rss_before) / live
    append(args.results, record)
    print(f"  {args.system:8} idle       {live} connections ({failures} failed): "
          f"RSS {rss_before / kOneMiB:.1f} -> {rss_after / kOneMiB:.1f} MiB, "
          f"{record.get('rss_bytes_per_conn', float('nan')):.0f} B/connection", flush=True)
    return 0


# --------------------------------------------------------------------------------------------
# Report

# (test, metric key, label, higher_is_better, format)
kRows = [
    ("ka16", "rps", "keep-alive c=16: req/s", True, "{:.0f}"),
    ("ka16", "p50_ms", "keep-alive c=16: p50 ms", False, "{:.3f}"),
    ("ka16", "p99_ms", "keep-alive c=16: p99 ms", False, "{:.3f}"),
    ("ka16", "cpu_us_per_req", "keep-alive c=16: proxy CPU µs/req", False, "{:.2f}"),
    ("ka64", "rps", "keep-alive c=64: req/s", True, "{:.0f}"),
    ("ka64", "p50_ms", "keep-alive c=64: p50 ms", False, "{:.3f}"),
    ("ka64", "p99_ms", "keep-alive c=64: p99 ms", False, "{:.3f}"),
    ("ka64", "cpu_us_per_req", "keep-alive c=64: proxy CPU µs/req", False, "{:.2f}"),
    ("ka256", "rps", "keep-alive c=256: req/s", True, "{:.0f}"),
    ("ka256", "p50_ms", "keep-alive c=256: p50 ms", False, "{:.3f}"),
    ("ka256", "p99_ms", "keep-alive c=256: p99 ms", False, "{:.3f}"),
    ("ka256", "cpu_us_per_req", "keep-alive c=256: proxy CPU µs/req", False, "{:.2f}"),
    ("close", "rps", "Connection: close c=16: req/s", True, "{:.0f}"),
    ("close", "p99_ms", "Connection: close c=16: p99 ms", False, "{:.3f}"),
    ("close", "cpu_us_per_req", "Connection: close c=16: proxy CPU µs/req", False, "{:.2f}"),
    ("1mib", "mib_per_s", "1 MiB bodies c=16: MiB/s", True, "{:.0f}"),
    ("1mib", "p99_ms", "1 MiB bodies c=16: p99 ms", False, "{:.2f}"),
    ("1mib", "cpu_us_per_mib", "1 MiB bodies c=16: proxy CPU µs/MiB", False, "{:.0f}"),
    ("idle", "rss_bytes_per_conn", "idle keep-alive: proxy RSS B/connection", False, "{:.0f}"),
]

kWorkerRows = [
    ("ka64", "rps", "keep-alive c=64: req/s", True, "{:.0f}"),
    ("ka64", "p99_ms", "keep-alive c=64: p99 ms", False, "{:.3f}"),
    ("ka64", "cpu_us_per_req", "keep-alive c=64: weir CPU µs/req", False, "{:.2f}"),
    ("ka256", "rps", "keep-alive c=256: req/s", True, "{:.0f}"),
    ("ka256", "p99_ms", "keep-alive c=256: p99 ms", False, "{:.3f}"),
    ("ka256", "cpu_us_per_req", "keep-alive c=256: weir CPU µs/req", False, "{:.2f}"),
]


def load(results):
    records = []
    with open(results) as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))
    return records


def values_by_round(records, system, test, key):
    return {r["round"]: r[key] for r in records
            if r["system"] == system and r["test"] == test and key in r and not r.get("failed")}


def spread(values, fmt):
    if not values:
        return "—"
    v = sorted(values)
    med = statistics.median(v)
    if len(v) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(v[0])}..{fmt.format(v[-1])}]"


def round_ratios(a, b):
    """a[r] / b[r] for every round r both have; a dict keeps the per-round pairing explicit."""
    return [a[r] / b[r] for r in sorted(a) if r in b and b[r]]


def best_of(per_system, higher_is_better):
    """Per round, the better of the competitors' values (max req/s, min latency/CPU/RSS)."""
    rounds = set.intersection(*(set(per_system[s]) for s in kCompetitors)) if all(
        per_system[s] for s in kCompetitors) else set()
    pick = max if higher_is_better else min
    return {r: pick(per_system[s][r] for s in kCompetitors) for r in rounds}


def median_or_dash(values):
    return f"{statistics.median(values):.2f}" if values else "—"


def cmd_report(args):
    records = load(args.results)
    lines = []
    if args.meta and os.path.exists(args.meta):
        with open(args.meta) as f:
            lines.append(f.read().rstrip() + "\n")
    rounds = sorted({r["round"] for r in records})
    lines.append(f"Rounds: {len(rounds)}. Cells: median [min..max] over rounds. Ratios: "
                 "weir ÷ other, computed within each round, median over rounds. "
                 "\"best\" is the better of nginx and HAProxy in that round (higher req/s and "
                 "MiB/s, lower latency, CPU and RSS). Proxy CPU: run time of every thread of every "
                 "process of the proxy (schedstat), divided by the requests wrk completed; RSS: "
                 "sum of VmRSS of those processes. \"direct\" has no proxy, so no CPU or RSS "
                 "figures.\n")
    lines.append("| test | " + " | ".join(kSystems) +
                 " | weir/nginx | weir/haproxy | weir/best | weir/direct |")
    lines.append("|---|" + "---|" * (len(kSystems) + 4))
    for test, key, label, higher, fmt in kRows:
        per = {s: values_by_round(records, s, test, key) for s in kSystems}
        cells = [spread(list(per[s].values()), fmt) for s in kSystems]
        ratios = [median_or_dash(round_ratios(per["weir"], per[s])) for s in kCompetitors]
        ratios.append(median_or_dash(round_ratios(per["weir"], best_of(per, higher))))
        ratios.append(median_or_dash(round_ratios(per["weir"], per["direct"])))
        lines.append(f"| {label} | " + " | ".join(cells + ratios) + " |")

    worker_systems = ["weir-w1", "weir-w2"]
    if any(r["system"] in worker_systems for r in records):
        lines.append("\nweir alone, nothing pinned (weir, wrk and both backends share the 2 cores):"
                     " `workers: 1` vs `workers: 2`.\n")
        lines.append("| test | workers: 1 | workers: 2 | w2/w1 |")
        lines.append("|---|---|---|---|")
        for test, key, label, higher, fmt in kWorkerRows:
            per = {s: values_by_round(records, s, test, key) for s in worker_systems}
            cells = [spread(list(per[s].values()), fmt) for s in worker_systems]
            ratio = median_or_dash(round_ratios(per["weir-w2"], per["weir-w1"]))
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")

    others = [r["others_on_proxy_cpu"] for r in records
              if "others_on_proxy_cpu" in r and not r["system"].startswith("weir-w")]
    if others:
        lines.append(f"\nNoise: share of the proxy's CPU used by anything else during the pinned "
                     f"proxy runs (other processes, interrupts, softirq not charged to the proxy): "
                     f"median {statistics.median(others):.0%}, max {max(others):.0%}.")

    problems = []
    for r in records:
        if r.get("failed"):
            problems.append(f"- round {r['round']} {r['system']} {r['test']}: wrk produced no result")
        elif r.get("errors") or r.get("non2xx"):
            problems.append(f"- round {r['round']} {r['system']} {r['test']}: socket errors "
                            f"{r.get('errors')}, non-2xx/3xx {r.get('non2xx')} "
                            f"(of {r.get('requests')} requests)")
        elif r["test"] == "idle" and r.get("failures"):
            problems.append(f"- round {r['round']} {r['system']} idle: {r['failures']} of "
                            f"{r['conns'] + r['failures']} connections failed")
    lines.append("\nErrors reported by the clients: " + ("none." if not problems else ""))
    lines.extend(problems)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ports", help="print N free loopback TCP ports")
    p.add_argument("count", type=int)
    p.set_defaults(func=cmd_ports)
    p = sub.add_parser("wait", help="wait until 127.0.0.1:PORT accepts")
    p.add_argument("port", type=int)
    p.add_argument("--timeout", type=float, default=10)
    p.set_defaults(func=cmd_wait)
    p = sub.add_parser("check", help="GET / and /1m.bin through PORT")
    p.add_argument("port", type=int)
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("usage", help="CPU and RSS of a process group")
    p.add_argument("pgid", type=int)
    p.set_defaults(func=cmd_usage)
    for name in ("wrk", "idle"):
        p = sub.add_parser(name)
        p.add_argument("--results", required=True)
        p.add_argument("--round", type=int, required=True)
        p.add_argument("--system", required=True)
        p.add_argument("--pgid", type=int, default=0, help="proxy process group; 0 = none")
    p = sub.choices["wrk"]
    p.add_argument("--test", required=True)
    p.add_argument("--body-bytes", type=int, default=0)
    p.add_argument("--proxy-cpu", type=int, default=0, help="CPU the proxy is pinned to")
    p.add_argument("--log")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_wrk)
    p = sub.choices["idle"]
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--conns", type=int, default=10000)
    p.add_argument("--parallel", type=int, default=64)
    p.add_argument("--settle", type=float, default=1.0)
    p.set_defaults(func=cmd_idle)
    p = sub.add_parser("report", help="Markdown tables from a results file")
    p.add_argument("--results", required=True)
    p.add_argument("--meta")
    p.add_argument("--out")
    p.set_defaults(func=cmd_report)
    args = ap.parse_args()
    if getattr(args, "cmd", None) and args.cmd[0] == "--":
        args.cmd = args.cmd[1:]
    try:
        sys.exit(args.func(args))
    except KeyboardInterrupt:
        os._exit(130)  # Ctrl-C: run.sh cleans up; skip asyncio's teardown noise


if __name__ == "__main__":
    main()
