"""Active health checks against real upstream processes under a steady client load: a server whose
check fails is taken out after `fall` probes and gets no more requests, and comes back after
`rise` passes; `initial_state`, `expect_body`, `type: tcp`; health state survives a reload.

The fake upstreams answer /healthz with 200 "ok" until told otherwise (/__health); their probe
requests are counted apart ("probes") from the requests weir forwards ("requests"). Intervals are
short (200 ms) so that transitions take well under a second; every wait is bounded, and traffic
is compared as counts, never against wall-clock thresholds.
"""
import re
import signal
import socket
import threading
from collections import Counter
from urllib.parse import urlencode

from harness import HttpClient, free_port, to_yaml, wait_until

FAST_CHECK = {"type": "http", "path": "/healthz", "interval": "200ms", "timeout": "100ms",
              "rise": 2, "fall": 3, "jitter": "0%", "initial_state": "healthy"}


# --------------------------------------------------------------------------------------------
# helpers

def config(port, servers, *, health_check=None, workers=2, extra_routes=(), **upstream_keys):
    """One listener on port; one upstream `web` over the given fake upstreams (with a health check
    when given, and any other upstream keys); every path to it unless extra_routes come first."""
    web = {"name": "web", "servers": [{"address": s.address} for s in servers],
           "timeouts": {"connect": "1s", "response": "5s"}, **upstream_keys}
    if health_check is not None:
        web["health_check"] = health_check
    cfg = {
        "workers": workers,
        "listeners": [{"name": "public", "listen": f"127.0.0.1:{port}",
                       "routes": [*extra_routes, {"upstream": "web"}]}],
        "upstreams": [web],
        "timeouts": {"client_header": "5s", "client_body": "5s", "keepalive": "10s",
                     "shutdown_grace": "5s"},
        "pid_file": "off",
    }
    return to_yaml(cfg) + "\n"


def set_health(up, status=None, body=None):
    """From now on the fake upstream's /healthz answers this status and/or body."""
    query = urlencode({k: v for k, v in (("status", status), ("body", body)) if v is not None})
    return up._control(f"/__health?{query}")


def requests_at(up):
    return up.stats()["requests"]


def probes_at(up):
    return up.stats()["probes"]


def transition(server, old, new):
    """The stderr line weir logs when a server changes state."""
    return rf"server {re.escape(server.address)}: {old} -> {new}\b"


class Load:
    """Client threads sending GET /echo on keep-alive connections until stopped. Keeps who answered
    each request, in order, and every failure (a non-200 status or an exception)."""

    def __init__(self, w, clients=2, target="/echo"):
        self.w, self.clients, self.target = w, clients, target
        self.answers = []          # X-Upstream of each 200, in arrival order
        self.failures = []         # (mark when it happened, status and body or exception)
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(15)
        assert not any(t.is_alive() for t in self.threads), "load threads did not stop"

    def run(self):
        c = None
        while not self.stop_event.is_set():
            try:
                c = c or HttpClient(self.w.port, timeout=10)
                r = c.get(self.target)
                with self.lock:
                    if r.status == 200:
                        self.answers.append(r.upstream)
                    else:
                        self.failures.append((len(self.answers), r.status, r.body[:200]))
                if "close" in r.tokens("connection"):
                    c.close()
                    c = None
            except Exception as e:  # noqa: BLE001 - every failure is reported by the test
                with self.lock:
                    self.failures.append((len(self.answers), repr(e)))
                if c:
                    c.close()
                c = None
        if c:
            c.close()

    def mark(self):
        with self.lock:
            return len(self.answers)

    def wait_for(self, n, timeout=10.0):
        """Waits until n more requests have been answered; returns the new mark."""
        target = self.mark() + n
        wait_until(lambda: self.mark() >= target, timeout, f"{n} more answers under load")
        return self.mark()

    def answered_since(self, mark):
        with self.lock:
            return Counter(self.answers[mark:])

    def failures_since(self, mark):
        with self.lock:
            return [f for f in self.failures if f[0] >= mark]


# --------------------------------------------------------------------------------------------
# a failing check takes a server out; passing checks bring it back

def test_failing_server_is_marked_down_after_fall_probes_and_back_after_rise_passes(upstream,
                                                                                    weir):
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    w = weir(config(free_port(), [a, b, c], health_check=FAST_CHECK))
    with Load(w) as load:
        load.wait_for(30)
        assert {"a", "b", "c"} <= set(load.answered_since(0))

        mark = len(w.stderr_text())
        probes_before = probes_at(b)
        set_health(b, status=503)
        w.wait_stderr(transition(b, "healthy", "unhealthy"), since=mark)
        failed_probes = probes_at(b) - probes_before
        assert failed_probes >= FAST_CHECK["fall"], f"down after only {failed_probes} probes"
        assert re.search(r"check failed: status 503", w.stderr_text()[mark:])

        load.wait_for(20)                         # let requests already sent to b finish
        settled, seen_by_b = load.mark(), requests_at(b)
        load.wait_for(100)
        assert requests_at(b) == seen_by_b, "a server marked down still got requests"
        assert load.answered_since(settled)["b"] == 0
        assert load.answered_since(settled).keys() == {"a", "c"}

        mark = len(w.stderr_text())
        probes_before = probes_at(b)
        set_health(b, status=200)
        w.wait_stderr(transition(b, "unhealthy", "healthy"), since=mark)
        passes = probes_at(b) - probes_before
        assert passes >= FAST_CHECK["rise"], f"back after only {passes} passing probes"
        wait_until(lambda: requests_at(b) > seen_by_b, 10, "b to get requests again")
        mark = load.wait_for(60)
        assert load.answered_since(mark - 60)["b"] > 0
    assert not load.failures, load.failures[:5]


def test_initially_unhealthy_server_gets_no_traffic_until_its_check_passes(upstream, weir):
    a, b = upstream("a"), upstream("b")
    set_health(b, status=503)                     # failing before weir starts
    check = {**FAST_CHECK, "initial_state": "unhealthy", "rise": 1}
    w = weir(config(free_port(), [a, b], health_check=check))
    w.wait_stderr(transition(b, r"\S+", "unhealthy"))   # its first check failed
    wait_until(lambda: w.get("/echo").status == 200, 10, "a to pass its first check")
    with Load(w) as load:
        load.wait_for(100)
        assert requests_at(b) == 0, "an initially unhealthy server got traffic before a pass"
        assert load.answered_since(0).keys() == {"a"}
        set_health(b, status=200)
        w.wait_stderr(transition(b, "unhealthy", "healthy"))
        wait_until(lambda: requests_at(b) > 0, 10, "b to get requests after its check passed")
    assert not load.failures, load.failures[:5]


def test_initially_unhealthy_server_enters_service_after_its_first_passing_check(upstream, weir):
    """Envoy's rule: at start-up (initial_state: unhealthy) a server whose first check passes is
    in service at once; `rise` counts for servers that failed. With rise: 5 and probes every
    200 ms, b must get requests after one probe, not five."""
    a, b = upstream("a"), upstream("b")
    check = {**FAST_CHECK, "initial_state": "unhealthy", "rise": 5}
    w = weir(config(free_port(), [a, b], health_check=check))
    with Load(w) as load:
        wait_until(lambda: requests_at(b) > 0, 10, "b to get requests")
        passes = probes_at(b)
    assert passes < check["rise"], (
        f"initially unhealthy server needed {passes} passing checks (rise {check['rise']}) "
        f"before its first request; expected one")
    # Before the first passes, weir may have refused requests (every server unhealthy); after
    # them, nothing fails.
    assert all(f[1] == 503 for f in load.failures), load.failures[:5]


def test_fresh_start_serves_once_every_server_passed_its_first_check(upstream, weir):
    """With the defaults (initial_state: unhealthy, panic: fail_closed) every server starts
    unhealthy. Once the first probe of each server has passed, requests must be served: a fresh
    weir in front of healthy servers must not answer 503 for rise x interval."""
    a, b = upstream("a"), upstream("b")
    check = {k: v for k, v in FAST_CHECK.items() if k != "initial_state"}
    check["interval"], check["timeout"], check["rise"] = "1s", "500ms", 3
    w = weir(config(free_port(), [a, b], health_check=check))
    for up in (a, b):                             # weir has seen each server pass once
        w.wait_stderr(rf"server {re.escape(up.address)}: .*check passed", timeout=10)
    statuses = Counter(w.get("/echo").status for _ in range(5))
    assert statuses == {200: 5}, (
        f"after every server passed its first check, got {dict(statuses)}; stderr:\n"
        f"{w.stderr_text()[-2000:]}")


def test_start_up_log_lines_name_real_transitions(upstream, weir):
    """initial_state: healthy, a passes its first check and b fails it. A log line "X -> Y" must
    be a change (X differs from Y), and a failed check never makes a server healthy."""
    a, b = upstream("a"), upstream("b")
    set_health(b, status=503)
    w = weir(config(free_port(), [a, b], health_check=FAST_CHECK))
    w.wait_stderr(transition(b, "healthy", "unhealthy"))          # after `fall` failures
    lines = re.findall(r"server (\S+): (\S+) -> (\S+) \((.*)\)", w.stderr_text())
    assert lines
    assert not [ln for ln in lines if ln[1] == ln[2]], lines
    assert not [ln for ln in lines if ln[2] == "healthy" and "failed" in ln[3]], lines


# --------------------------------------------------------------------------------------------
# what counts as a pass

def test_expect_body_mismatch_fails_the_check(upstream, weir):
    a, b = upstream("a"), upstream("b")
    check = {**FAST_CHECK, "expect_body": "ok", "fall": 2}
    w = weir(config(free_port(), [a, b], health_check=check))
    with Load(w) as load:
        load.wait_for(20)
        mark = len(w.stderr_text())
        set_health(b, body="degraded")            # still 200, but not the expected body
        w.wait_stderr(transition(b, "healthy", "unhealthy") + r".*status 200", since=mark)
        load.wait_for(20)
        settled, seen_by_b = load.mark(), requests_at(b)
        load.wait_for(60)
        assert requests_at(b) == seen_by_b
        assert load.answered_since(settled).keys() == {"a"}

        set_health(b, body="all ok here")         # contains "ok": passes again
        w.wait_stderr(transition(b, "unhealthy", "healthy"), since=mark)
    assert not load.failures, load.failures[:5]


def test_expect_status_range_decides_the_check(upstream, weir):
    a, b = upstream("a"), upstream("b")
    check = {**FAST_CHECK, "expect_status": "200-299", "fall": 2}
    w = weir(config(free_port(), [a, b], health_check=check))
    mark = len(w.stderr_text())
    set_health(b, status=302)                     # outside 200-299
    w.wait_stderr(transition(b, "healthy", "unhealthy") + r".*status 302", since=mark)
    assert all(w.get("/echo").upstream == "a" for _ in range(10))


def test_probe_sends_the_configured_method_path_and_host(upstream, weir):
    a = upstream("a")
    check = {**FAST_CHECK, "method": "GET", "path": "/healthz", "host": "web.internal"}
    w = weir(config(free_port(), [a], health_check=check))
    wait_until(lambda: probes_at(a) >= 2, 10, "two probes")
    probe = a.stats()["last_probe"]
    headers = {n.lower(): v for n, v in probe["headers"]}
    assert (probe["method"], probe["path"], probe["version"]) == ("GET", "/healthz", "HTTP/1.1")
    assert headers["host"] == "web.internal"
    assert headers["user-agent"] == "weir-health-check"
    assert w.get("/echo").status == 200


def test_probe_answered_after_its_timeout_fails(upstream, weir):
    a, b = upstream("a"), upstream("b")
    check = {**FAST_CHECK, "timeout": "100ms", "fall": 2}
    w = weir(config(free_port(), [a, b], health_check=check))
    mark = len(w.stderr_text())
    b._control("/__health?delay_ms=150")                 # 200 "ok", but too late
    w.wait_stderr(transition(b, "healthy", "unhealthy") + r".*timed out", since=mark)
    assert all(w.get("/echo").upstream == "a" for _ in range(10))


def test_tcp_check_detects_a_stopped_server(upstream, weir):
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    check = {"type": "tcp", "interval": "200ms", "timeout": "100ms", "rise": 2, "fall": 2,
             "jitter": "0%", "initial_state": "healthy"}
    w = weir(config(free_port(), [a, b, c], health_check=check))
    with Load(w) as load:
        load.wait_for(30)
        mark = len(w.stderr_text())
        b.stop()
        w.wait_stderr(transition(b, "healthy", "unhealthy") + r".*connect", since=mark)
        load.wait_for(20)
        settled_log = len(w.stderr_text())
        settled = load.mark()
        load.wait_for(100)
        # Marked down: weir does not even try it any more (no connect failures to it).
        tried_b = re.findall(rf"server {re.escape(b.address)}: connect failed",
                             w.stderr_text()[settled_log:])
        assert not tried_b, f"{len(tried_b)} connects to a server marked down"
        assert load.answered_since(settled).keys() == {"a", "c"}
    # Without retries, a request in flight to b when it died may fail; none may fail afterwards.
    assert not load.failures_since(settled), load.failures_since(settled)[:5]

    # Something listens on b's port again: the TCP check passes and b comes back.
    with socket.socket() as back:
        back.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        back.bind(("127.0.0.1", b.port))
        back.listen(16)
        w.wait_stderr(transition(b, "unhealthy", "healthy"), since=mark)


# --------------------------------------------------------------------------------------------
# reloads

def test_down_server_stays_down_across_a_reload(upstream, weir):
    """initial_state is `healthy`: a reload that forgot the state would put b back into service
    until `fall` probes had failed again (600 ms). It must stay out, and come back only when its
    check passes again."""
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    port = free_port()
    w = weir(config(port, [a, b, c], health_check=FAST_CHECK))
    with Load(w, clients=3) as load:
        load.wait_for(30)
        mark = len(w.stderr_text())
        set_health(b, status=503)
        w.wait_stderr(transition(b, "healthy", "unhealthy"), since=mark)
        load.wait_for(20)
        seen_by_b = requests_at(b)

        mark = len(w.stderr_text())
        new_route = {"match": {"path": "/ver"}, "respond": {"status": 200, "body": "v2"}}
        w.config_path.write_text(config(port, [a, b, c], health_check=FAST_CHECK,
                                        extra_routes=[new_route]))
        w.send_signal(signal.SIGHUP)
        w.wait_stderr(r"reloaded .*generation 2", since=mark)
        assert w.get("/ver").body == b"v2"
        reloaded, probes_then = load.mark(), probes_at(b)
        # More than `fall` probes: time enough for a forgotten state to show as traffic.
        wait_until(lambda: probes_at(b) > probes_then + FAST_CHECK["fall"], 10,
                   "more than fall probes of b after the reload")
        load.wait_for(50)
        after = load.answered_since(reloaded)
        assert requests_at(b) == seen_by_b, "a down server got requests right after a reload"
        assert after["b"] == 0
        assert not re.search(transition(b, r"\S+", "healthy"), w.stderr_text()[mark:])

        set_health(b, status=200)                 # its probe still runs after the reload
        w.wait_stderr(transition(b, "unhealthy", "healthy"), since=mark)
        wait_until(lambda: requests_at(b) > seen_by_b, 10, "b to get requests again")
    assert not load.failures, load.failures[:5]
