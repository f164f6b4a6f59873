"""The admin dashboard: weir with an admin endpoint (and a token file) in front of three real
upstreams, a client thread sending traffic the whole time; the endpoints the page uses are checked
over HTTP, then headless Chromium drives the page itself (tests/browser/dashboard.spec.mjs):
charts that gain points, a server turning unhealthy in the table and on the timeline, the drain
button with the token; afterwards the drained server must get no new requests.

The browser part is skipped only when /usr/bin/chromium is missing. Its screenshots are kept in
build/test-artifacts/ (next to the weir binary under test) and in the pytest tmp dir.
"""
import http.client
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import REPO, WEIR_BIN, HttpClient, free_port, to_yaml, wait_until

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_DIR = REPO / "tests" / "browser"
TOKEN = "dashboard-test-token-7f3a"
CSP = ("default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; "
       "script-src 'self'")


def dashboard_config(port, admin_port, token_file, servers):
    cfg = {
        "workers": 2,
        "listeners": [{"name": "public", "listen": f"127.0.0.1:{port}", "routes": [
            {"match": {"path": "/ping"}, "respond": {"status": 200, "body": "pong\n"}},
            {"match": {"path_prefix": "/"}, "upstream": "web"},
        ]}],
        "upstreams": [{
            "name": "web",
            "servers": [{"address": s.address} for s in servers],
            "timeouts": {"connect": "1s", "response": "5s"},
            "health_check": {"path": "/healthz", "interval": "500ms", "timeout": "300ms",
                             "rise": 1, "fall": 1, "initial_state": "healthy"},
        }],
        "timeouts": {"client_header": "5s", "client_body": "5s", "keepalive": "10s",
                     "shutdown_grace": "2s"},
        "admin": {"listen": f"127.0.0.1:{admin_port}", "token_file": str(token_file)},
        "access_log": {"path": "off"},
        "pid_file": "off",
    }
    return to_yaml(cfg) + "\n"


class Traffic:
    """A client thread: keep-alive requests through weir until stopped (mostly 200s from the
    upstreams, some 500s, some local /ping answers)."""

    def __init__(self, port):
        self.port = port
        self.stop_event = threading.Event()
        self.sent = 0
        self.errors = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(10)

    def run(self):
        targets = ["/echo"] * 8 + ["/status?code=500", "/ping"]
        client = None
        i = 0
        while not self.stop_event.is_set():
            try:
                if client is None:
                    client = HttpClient(self.port, timeout=5)
                client.get(targets[i % len(targets)])
                self.sent += 1
            except (OSError, AssertionError) as e:
                self.errors.append(repr(e))
                if client is not None:
                    client.close()
                client = None
            i += 1
            time.sleep(0.01)
        if client is not None:
            client.close()


def admin_get(admin_port, path, headers=None, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def artefact_dir(tmp_path):
    out = WEIR_BIN.parent / "test-artifacts"
    try:
        out.mkdir(parents=True, exist_ok=True)
        return out
    except OSError:
        return tmp_path


def ensure_playwright():
    if (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: run scripts/install-deps.sh test")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, check=True,
                   timeout=120, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture
def setup(tmp_path, upstream, weir):
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    token_file = tmp_path / "admin.token"
    token_file.write_text(TOKEN + "\n")
    port, admin_port = free_port(), free_port()
    proxy = weir(dashboard_config(port, admin_port, token_file, [a, b, c]))
    return {"a": a, "b": b, "c": c, "port": port, "admin_port": admin_port, "weir": proxy}


def test_history_and_events_serve_one_sample_a_second(setup):
    admin_port = setup["admin_port"]
    with Traffic(setup["port"]) as traffic:
        def samples():
            status, _, body = admin_get(admin_port, "/stats/history")
            assert status == 200
            doc = json.loads(body)
            return doc["samples"] if len(doc["samples"]) >= 3 else None
        got = wait_until(samples, 10, "three samples in /stats/history", interval=0.2)
        assert traffic.sent > 0
    doc = json.loads(admin_get(admin_port, "/stats/history")[2])
    assert doc["capacity"] == 900 and doc["interval_ms"] == 1000
    assert doc["reload"]["ok"] is True and doc["generation"] == 1
    times = [s["t"] for s in got]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert all(500 <= b - a <= 2500 for a, b in zip(times, times[1:])), times
    assert sum(s["requests"] for s in got) > 0
    last = got[-1]
    assert {u["name"] for u in last["upstreams"]} == {"web"}
    assert [v["address"] for v in last["upstreams"][0]["servers"]] == \
        [setup[n].address for n in "abc"]
    assert [r["label"] for r in last["routes"]] == ["path /ping -> respond 200",
                                                    "path_prefix / -> web"]
    # since=T: only what is newer.
    newer = json.loads(admin_get(admin_port, f"/stats/history?since={times[-2]}")[2])["samples"]
    assert [s["t"] for s in newer][:1] == [times[-1]]

    # /events: the head, then an event a second (read with a deadline).
    conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=5)
    try:
        conn.request("GET", "/events")
        r = conn.getresponse()
        assert r.status == 200
        assert r.getheader("Content-Type") == "text/event-stream"
        assert r.getheader("Cache-Control") == "no-store"
        assert r.getheader("Content-Length") is None
        data, deadline = b"", time.monotonic() + 5
        while data.count(b"\ndata: ") < 2 and time.monotonic() < deadline:
            data += r.fp.read1(65536)
        assert data.startswith(b"retry: 2000\n\n"), data[:100]
        events = [e for e in data.split(b"\n\n") if b"data: " in e]
        assert len(events) >= 2
        first = json.loads(events[0].split(b"data: ", 1)[1])
        assert {"t", "requests", "responses", "latency_ms", "connections_open", "upstreams",
                "routes", "reload"} <= set(first)
    finally:
        conn.close()


def test_page_is_served_with_its_csp_and_the_api_list_stays_at_root(setup):
    admin_port = setup["admin_port"]
    status, headers, body = admin_get(admin_port, "/", {"Accept": "text/html,*/*;q=0.8"})
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == CSP
    assert b"<script" in body and b"/dashboard.js" in body
    assert b"<style" not in body and b" style=" not in body and b"onclick" not in body
    # Scripts only from files of this origin: no inline script body anywhere.
    for tag in body.split(b"<script")[1:]:
        assert tag.split(b">", 1)[1].startswith(b"</script>"), tag[:80]
    assert admin_get(admin_port, "/dashboard")[2] == body
    for path, kind in [("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css"),
                       ("/chart.umd.js", "text/javascript")]:
        status, headers, asset = admin_get(admin_port, path)
        assert status == 200 and headers["Content-Type"].startswith(kind), path
        assert len(asset) > 1000, path
    # API clients (no HTML in Accept) still get the endpoint list at /.
    status, headers, body = admin_get(admin_port, "/")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert "GET /stats/history" in json.loads(body)["endpoints"]


def test_browser_pages_may_change_state_only_from_the_dashboard_itself(setup):
    admin_port = setup["admin_port"]
    a = setup["a"].address

    def post(headers):
        conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=5)
        try:
            conn.request("POST", f"/upstreams/web/servers/{a}/enable", headers=headers)
            return conn.getresponse().status
        finally:
            conn.close()

    auth = {"Authorization": f"Bearer {TOKEN}"}
    here = f"http://127.0.0.1:{admin_port}"
    assert post({**auth, "Origin": "http://evil.example"}) == 403
    assert post({**auth, "Origin": here, "Sec-Fetch-Site": "cross-site"}) == 403
    assert post({**auth, "Origin": "http://evil.example:%d" % admin_port,
                 "Host": "evil.example:%d" % admin_port, "Sec-Fetch-Site": "cross-site"}) == 403
    assert post({"Origin": here, "Sec-Fetch-Site": "same-origin"}) == 401  # still the token
    assert post({**auth, "Origin": here, "Sec-Fetch-Site": "same-origin"}) == 200
    assert post(auth) == 200


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing "
                    "(scripts/install-deps.sh test installs it)")
def test_dashboard_in_a_browser(setup, tmp_path):
    ensure_playwright()
    a, b, c = setup["a"], setup["b"], setup["c"]
    admin_port = setup["admin_port"]
    out = artefact_dir(tmp_path)
    screenshot = out / "dashboard.png"
    phone = out / "dashboard-phone.png"
    args = {
        "adminUrl": f"http://127.0.0.1:{admin_port}",
        "token": TOKEN,
        "upstream": "web",
        "drain": a.address,
        "unhealthy": b.address,
        "healthControl": f"http://{b.address}/__health",
        "screenshot": str(screenshot),
        "phoneScreenshot": str(phone),
        "reloadError": "wrokers: unknown key",
    }
    # A reload that fails (a typo in the file): the page must show it with its errors.
    proxy = setup["weir"]
    proxy.config_path.write_text(proxy.config + "wrokers: 2\n")
    conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=10)
    try:
        conn.request("POST", "/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert conn.getresponse().status == 409
    finally:
        conn.close()
    status, _, body = admin_get(admin_port, "/stats/history")
    reload = json.loads(body)["reload"]
    assert reload["ok"] is False and any("wrokers" in e for e in reload["errors"]), reload
    with Traffic(setup["port"]) as traffic:
        # A few seconds of history before the page opens: it must show them at once.
        wait_until(lambda: traffic.sent > 50, 10, "traffic through weir")
        time.sleep(2)
        proc = subprocess.run(["node", str(BROWSER_DIR / "dashboard.spec.mjs"), json.dumps(args)],
                              cwd=BROWSER_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=60, text=True)
        print(proc.stdout)
        for shot in (screenshot, phone):
            if shot.exists() and out != tmp_path:
                shutil.copy(shot, tmp_path / shot.name)
        assert proc.returncode == 0, f"browser test failed:\n{proc.stdout[-6000:]}"

        # The page drained a (and disabled b): the next requests go to c only.
        before = {n: setup[n].stats()["requests"] for n in "abc"}
        sent = traffic.sent
        wait_until(lambda: traffic.sent >= sent + 50, 10, "more traffic")
        after = {n: setup[n].stats()["requests"] for n in "abc"}
        assert after["a"] == before["a"], (before, after)
        assert after["b"] == before["b"], (before, after)
        assert after["c"] > before["c"], (before, after)
        assert not traffic.errors[-5:] or len(traffic.errors) < 5, traffic.errors[-5:]
    assert screenshot.exists() and screenshot.stat().st_size > 10_000
