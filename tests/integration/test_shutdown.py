"""Graceful shutdown on SIGTERM/SIGINT: stop accepting, let requests in flight finish within
shutdown_grace, exit 0."""
import contextlib
import signal
import threading
import time

from harness import build_request, connection_refused, free_port, proxy_config, wait_until


def slow_request_in_background(w, ms):
    """Starts GET /slow?ms=ms on its own connection; returns (thread, result dict)."""
    result = {}
    c = w.client(timeout=30)
    c.send(build_request("GET", f"/slow?ms={ms}"))

    def read():
        try:
            result["response"] = c.read_response(timeout=30)
        except Exception as e:  # noqa: BLE001 - reported by the test
            result["error"] = e
        finally:
            c.close()
    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t, result


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]},
                          timeouts={"shutdown_grace": "10s"}))
    thread, result = slow_request_in_background(w, 2000)
    wait_until(lambda: web.stats()["requests"] == 1, 5, "the slow request to reach the upstream")
    w.send_signal(signal.SIGTERM)
    wait_until(lambda: connection_refused(w.host, w.port), 5, "weir to stop accepting")
    assert thread.is_alive(), "the slow request ended before its upstream answered"
    thread.join(15)
    assert "error" not in result, result.get("error")
    assert result["response"].status == 200 and result["response"].body == b"slow\n"
    assert w.stop(timeout=10) == 0


def test_sigint_exits_0_when_idle(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    assert w.get("/echo").status == 200
    assert w.stop(signal.SIGINT, timeout=10) == 0


def test_idle_keepalive_connections_do_not_hold_up_shutdown(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]},
                          timeouts={"keepalive": "60s", "shutdown_grace": "30s"}))
    with w.client() as c:
        assert c.get("/echo").status == 200          # connection now idle, kept alive
        w.send_signal(signal.SIGTERM)
        assert c.closed_by_peer(timeout=8), "weir kept an idle connection open while stopping"
        assert w.wait(8) == 0


def test_requests_longer_than_shutdown_grace_are_cut_off(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]},
                          timeouts={"shutdown_grace": "1s"},
                          upstream_timeouts={"response": "60s"}))
    thread, result = slow_request_in_background(w, 20000)
    wait_until(lambda: web.stats()["requests"] == 1, 5, "the slow request to reach the upstream")
    w.send_signal(signal.SIGTERM)
    assert w.wait(10) == 0, "weir did not exit 0 within 10 s of SIGTERM with shutdown_grace 1s"
    thread.join(10)
    assert "response" not in result


def test_signals_repeated_through_shutdown_never_kill_weir(upstream, weir):
    """SIGTERM again every millisecond until weir is gone (as an impatient operator or a
    supervisor might): the later ones land while it closes its signal handlers and exits; the
    exit status stays 0."""
    web = upstream("web")
    for attempt in range(3):
        w = weir(proxy_config(free_port(), {"web": [web.address]}))
        w.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while w.proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError):
                w.send_signal(signal.SIGTERM)
            time.sleep(0.001)
        rc = w.wait(10)
        assert rc == 0, f"attempt {attempt}: exit status {rc} (negative: killed by that signal)"
