"""Client-side timeouts (header, body, keep-alive idle) and the connection limit."""
import time

from harness import build_request, free_port, proxy_config, status_of, wait_until


def start(upstream, weir, **kw):
    web = upstream("web")
    return web, weir(proxy_config(free_port(), {"web": [web.address]}, **kw))


def assert_closed_with_nothing_or(c, statuses, within):
    data, closed = c.read_until_close(timeout=within)
    assert closed, "weir did not close the connection"
    assert data == b"" or status_of(data) in statuses, data[:200]


def test_client_that_stalls_inside_the_head_is_disconnected(upstream, weir):
    web, w = start(upstream, weir, timeouts={"client_header": "1s"})
    with w.client() as c:
        c.send(b"GET /echo HTTP/1.1\r\nHost: weir.test\r\n")          # no blank line: stalls
        assert_closed_with_nothing_or(c, {408}, within=5)
    assert web.received_nothing()


def test_client_trickling_its_head_is_disconnected_after_client_header(upstream, weir):
    """The whole head must arrive within client_header, however steadily bytes keep coming."""
    web, w = start(upstream, weir, timeouts={"client_header": "1s"})
    with w.client() as c:
        c.send(b"GET /echo HTTP/1.1\r\nHost: weir.test\r\n")
        deadline = time.monotonic() + 6
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                c.send(b"X-Slow: 1\r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            closed = c.closed_by_peer(timeout=0.2)
        assert closed, "weir let a client trickle its head for 6 s with client_header: 1s"
    assert web.received_nothing()


def test_client_that_stalls_inside_the_body_is_disconnected(upstream, weir):
    web, w = start(upstream, weir, timeouts={"client_body": "1s"})
    with w.client() as c:
        c.send(build_request("POST", "/upload", [("Content-Length", "100")]) + b"x" * 10)
        assert_closed_with_nothing_or(c, {408, 400}, within=5)
    assert web.stats()["responses"] == 0


def test_idle_keepalive_client_connection_is_closed_after_keepalive_timeout(upstream, weir):
    web, w = start(upstream, weir, timeouts={"keepalive": "1s"})
    with w.client() as c:
        assert c.get("/echo").status == 200
        data, closed = c.read_until_close(timeout=5)
        assert closed and data == b""


def test_keepalive_timeout_does_not_cut_a_slow_response(upstream, weir):
    web, w = start(upstream, weir, timeouts={"keepalive": "1s"})
    with w.client() as c:
        assert c.get("/slow?ms=2000", timeout=10).status == 200


def test_connection_over_max_connections_is_closed_at_once(upstream, weir):
    web, w = start(upstream, weir, limits={"max_connections": 2})

    def two_open_connections():
        # The readiness probe's connection may still be counted for a moment: retry until two
        # fresh connections both get answers.
        a, b = w.client(), w.client()
        try:
            if a.get("/echo").status == 200 and b.get("/echo").status == 200:
                return a, b
        except (AssertionError, OSError, TimeoutError):
            pass
        a.close()
        b.close()
        return None

    a, b = wait_until(two_open_connections, 5, "two connections to be served")
    try:
        with w.client() as third:
            try:
                third.send(build_request("GET", "/echo"))
            except (BrokenPipeError, ConnectionResetError):
                pass
            data, closed = third.read_until_close(timeout=3)
            assert closed, "the third connection was kept open"
            assert status_of(data) in (None, 503), data[:200]
        assert a.get("/echo").status == 200                    # the first two still work
        assert b.get("/echo").status == 200
    finally:
        a.close()
        b.close()

    def served():
        try:
            return w.get("/echo").status == 200
        except (AssertionError, OSError, TimeoutError):
            return False
    wait_until(served, 5, "a slot to free up after closing the first two")


def open_files_limit(pid):
    """(soft, hard) 'Max open files' of a process."""
    with open(f"/proc/{pid}/limits") as f:
        line = next(line for line in f if line.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    return int(soft), int(hard)


def test_open_file_limit_is_raised_to_what_max_connections_needs(upstream, weir):
    """A soft limit of 256 would cap weir near 128 proxied connections. weir raises it toward two
    files per allowed connection (client and upstream sockets) plus the upstream pools."""
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1,
                          limits={"max_connections": 2000}), nofile=(256, 8192))
    soft, hard = open_files_limit(w.pid)
    assert hard == 8192
    assert 4000 < soft <= 8192                  # 2 x 2,000 + one pool of 64 + 256 = 4,320
    w.wait_stderr(r"open-file limit raised from 256 to \d+")
    assert w.get("/echo").status == 200


def test_a_hard_open_file_limit_below_max_connections_is_warned_about(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1,
                          limits={"max_connections": 2000}), nofile=(512, 1024))
    assert open_files_limit(w.pid) == (1024, 1024)
    w.wait_stderr(r"open-file limit is 1024 \(the hard limit\) but the config can use about 4320")
    assert w.get("/echo").status == 200
