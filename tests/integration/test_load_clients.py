"""Load generators as clients: ApacheBench (HTTP/1.0, with and without keep-alive) and wrk
(HTTP/1.1 keep-alive, many connections at once) through weir to a real upstream. Every request is
answered with a 2xx, on connections kept or closed as the client asked. No timing is asserted."""
import re
import shutil
import subprocess

from harness import free_port, proxy_config

AB = shutil.which("ab") or "ab"      # apache2-utils and wrk: scripts/install-deps.sh test
WRK = shutil.which("wrk") or "wrk"


def run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (cmd, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def field(report: str, name: str) -> int:
    m = re.search(rf"^{re.escape(name)}:\s+(\d+)", report, re.M)
    assert m, f"no {name!r} in:\n{report}"
    return int(m.group(1))


def received(up, prefix: str) -> int:
    return sum(e["path"].startswith(prefix) for e in up.stats()["received"])


def test_apachebench_http10_clients_with_and_without_keep_alive(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    kept = run([AB, "-k", "-n", "2000", "-c", "8", f"http://127.0.0.1:{w.port}/echo?kept"])
    assert field(kept, "Complete requests") == 2000
    assert field(kept, "Failed requests") == 0
    assert "Non-2xx responses" not in kept, kept
    assert field(kept, "Keep-Alive requests") == 2000   # every response said keep-alive
    closed = run([AB, "-n", "300", "-c", "8", f"http://127.0.0.1:{w.port}/echo?closed"])
    assert field(closed, "Complete requests") == 300
    assert field(closed, "Failed requests") == 0
    assert "Non-2xx responses" not in closed, closed
    assert (received(web, "/echo?kept"), received(web, "/echo?closed")) == (2000, 300)


def test_wrk_with_many_keep_alive_connections_gets_only_2xx(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    report = run([WRK, "-t2", "-c64", "-d2s", f"http://127.0.0.1:{w.port}/echo?wrk"])
    m = re.search(r"(\d+) requests in", report)
    assert m and int(m.group(1)) > 0, report
    assert "Socket errors" not in report, report
    assert "Non-2xx" not in report, report
    assert received(web, "/echo?wrk") >= int(m.group(1))
