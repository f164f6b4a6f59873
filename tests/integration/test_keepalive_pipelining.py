"""Keep-alive on both sides, the upstream connection pool, and pipelined requests."""
import os
import socket
import time

import pytest

from harness import SANITIZED, build_request, free_port, proxy_config, tcp_counters, \
    wait_until

WORKERS = 2


def test_client_connection_is_kept_alive_across_requests(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=WORKERS))
    with w.client() as c:
        for i in range(20):
            r = c.get(f"/echo?i={i}")
            assert r.status == 200 and r.json()["path"] == f"/echo?i={i}"
            assert "close" not in r.tokens("connection")
        assert not c.closed_by_peer(timeout=0.3)


def test_upstream_connections_are_reused_from_the_pool(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=WORKERS))
    for i in range(50):                    # a fresh client connection each time
        assert w.get(f"/echo?i={i}").status == 200
    with w.client() as c:                  # and one keep-alive client connection
        for i in range(50):
            assert c.get(f"/echo?k={i}").status == 200
    s = web.stats()
    assert s["requests"] == 100
    assert s["connections"] <= 2 * WORKERS, s["connections"]


def test_concurrent_clients_share_a_few_upstream_connections(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=WORKERS))
    clients = [w.client() for _ in range(4)]
    try:
        for round_ in range(25):
            for c in clients:
                c.send(build_request("GET", f"/echo?r={round_}"))
            for c in clients:
                assert c.read_response().status == 200
    finally:
        for c in clients:
            c.close()
    s = web.stats()
    assert s["requests"] == 100
    assert s["connections"] <= 4 * WORKERS, s["connections"]


def test_http10_client_gets_its_answer_then_the_connection_closes(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    with w.client() as c:
        c.send(build_request("GET", "/echo", version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200 and r.json()["path"] == "/echo"
        # RFC 9110 2.5: the highest version weir implements, as nginx answers; and since that
        # is HTTP/1.1, the close is said out loud.
        assert r.version == "HTTP/1.1" and r.tokens("connection") == ["close"]
        assert c.closed_by_peer(timeout=3)


def test_connection_close_from_client_is_honoured(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    with w.client() as c:
        r = c.get("/echo", headers=[("Connection", "close")])
        assert r.status == 200
        assert c.closed_by_peer(timeout=3)


def _weir_socket_fd(pid: int, weir_port: int, client_port: int) -> int | None:
    """weir's descriptor for its end of the TCP connection 127.0.0.1:weir_port <- :client_port."""
    inode = None
    with open(f"/proc/{pid}/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            remote_port = int(fields[2].split(":")[1], 16)
            if local_port == weir_port and remote_port == client_port:
                inode = fields[9]
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if inode and os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                return int(fd)
        except FileNotFoundError:
            continue
    return None


def _epoll_watched_fds(pid: int) -> set[int]:
    """Every descriptor registered in any epoll set of the process (fdinfo's tfd lines)."""
    watched = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                watched.update(int(line.split()[1]) for line in f if line.startswith("tfd:"))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return watched


def test_client_that_asked_to_close_is_not_polled_while_its_request_is_upstream(upstream, weir):
    """A client that sent Connection: close and its whole request sends nothing more (RFC 9112
    9.6): weir does not register its socket with epoll (one system call fewer each way per
    connection, as HAProxy), yet it still gets its response and then the close. A keep-alive
    client's socket is watched meanwhile (which also shows the check below sees it). If weir
    accepts a connection before its request has arrived, it must poll for the request, and
    the socket stays in the epoll set (libuv removes it lazily): so the closing client tries
    up to five connections, and one of them must go unwatched."""
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1))
    sent = 0

    def exchange(close: bool) -> bool:
        """One request on a fresh connection; whether weir's socket was in an epoll set while
        the request was upstream."""
        nonlocal sent
        with w.client() as c:
            headers = [("Connection", "close")] if close else []
            c.send(build_request("GET", "/slow?ms=800", headers))
            sent += 1
            client_port = c.sock.getsockname()[1]
            fd = None

            def upstream_has_it():
                nonlocal fd
                fd = _weir_socket_fd(w.pid, w.port, client_port)
                return fd is not None and web.stats()["requests"] == sent

            wait_until(upstream_has_it, 5, "the request to reach the upstream")
            if close:
                time.sleep(0.3)  # a registration would follow the send to the upstream at once
                watched = fd in _epoll_watched_fds(w.pid)
            else:
                wait_until(lambda: fd in _epoll_watched_fds(w.pid), 5, "the socket to be watched")
                watched = True
            r = c.read_response()
            assert r.status == 200 and r.body == b"slow\n"
            if close:
                assert r.tokens("connection") == ["close"]
                assert c.closed_by_peer(timeout=3)
            else:
                assert not c.closed_by_peer(timeout=0.3)
            return watched

    assert exchange(close=False)
    assert any(not exchange(close=True) for _ in range(5))


def test_bytes_sent_after_a_close_request_do_not_turn_the_close_into_a_reset(upstream, weir):
    """The client is not read after a complete Connection: close request; if it sends more
    anyway (here a second request while the first is upstream), weir still answers the first
    and closes cleanly (a FIN after lingering), not with a reset that could cost the client the
    response; while it lingers it reads what the client sends. The second request is not
    answered (RFC 9112 9.6)."""
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1))
    with socket.create_connection(("127.0.0.1", w.port), timeout=5) as s:
        s.sendall(build_request("GET", "/slow?ms=600", [("Connection", "close")]))
        wait_until(lambda: web.stats()["requests"] == 1, 5, "the request to reach the upstream")
        s.sendall(build_request("GET", "/echo?late=1"))
        data = b""
        while True:
            chunk = s.recv(65536)  # a reset raises ConnectionResetError here
            if not chunk:
                break
            data += chunk
        fd = _weir_socket_fd(w.pid, w.port, s.getsockname()[1])
        assert fd is not None  # weir's side is half-closed, not closed: it lingers
        wait_until(lambda: fd in _epoll_watched_fds(w.pid), 1.5, "weir to read while lingering")
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"\r\n\r\nslow\n"), data
    assert data.count(b"HTTP/1.1 ") == 1
    assert web.stats()["requests"] == 1


def test_a_whole_request_is_acknowledged_by_its_response_alone(upstream, weir):
    """Connections to a plain-HTTP listener start with delayed ACKs (as HAProxy's): a request
    that arrives whole is acknowledged by the response, not by a segment of its own first, one
    packet fewer per connection. A response later than the delayed-ACK timer (40 ms) would
    still be preceded by an ACK, so most connections, not all, must show it; with quick ACKs
    none does. A request head split over two writes by a client that waits for the first
    one's ACK (Nagle) is answered all the same."""
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1))
    assert w.get("/echo").status == 200  # an upstream connection in the pool
    response_only = 0
    for i in range(10):
        with w.client() as c:
            c.send(build_request("GET", f"/echo?i={i}"))
            assert c.read_response().status == 200
            sent = tcp_counters(w.port, c.sock.getsockname()[1])
            assert sent["data_segs_out"] >= 1, sent
            response_only += sent["segs_out"] == sent["data_segs_out"]
    assert response_only >= 6, response_only
    with socket.create_connection(("127.0.0.1", w.port), timeout=5) as s:  # Nagle is on
        s.sendall(b"GET /echo?split=1 HTTP/1.1\r\nHo")
        s.sendall(b"st: x\r\n\r\n")
        data = b""
        while b"split=1" not in data:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 "), data


def test_the_last_response_before_a_close_carries_the_fin(upstream, weir):
    """When weir closes after a response (here the client asked it to), the response and the
    FIN leave in one segment, and the client's ACK of both rides on its own FIN: two segments
    fewer per closed connection. The client receives one segment after the SYN-ACK. A
    response later than the delayed-ACK timer would be preceded by an ACK, so most
    connections, not all, must show it; before, none did."""
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1, routes=[
        {"match": {"path": "/ping"}, "respond": {"status": 200, "body": "pong\n"}}]))
    one_segment = 0
    for _ in range(10):
        with socket.create_connection(("127.0.0.1", w.port), timeout=5) as s:
            s.sendall(build_request("GET", "/ping", [("Connection", "close")]))
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"\r\n\r\npong\n"), data
            got = tcp_counters(s.getsockname()[1], w.port)
            assert got["data_segs_in"] == 1, got
            one_segment += got["segs_in"] == 2  # the SYN-ACK, then the response with the FIN
    assert one_segment >= 6, one_segment


def test_pipelined_requests_are_answered_in_order(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, routes=[
        {"match": {"path": "/ping"}, "respond": {"status": 200, "body": "pong\n"}},
        {"match": {"path_prefix": "/nowhere"}, "respond": {"status": 403, "body": "no\n"}},
        {"match": {"path_prefix": "/"}, "upstream": "web"}]))
    body = b"x" * 3000
    reqs = [("GET", "/slow?ms=300", None), ("GET", "/ping", None), ("GET", "/echo?n=1", None),
            ("POST", "/echo?n=2", body), ("GET", "/slow?ms=100", None),
            ("GET", "/nowhere", None), ("HEAD", "/bytes?n=50", None),
            ("GET", "/bytes?n=70000&chunked=1", None), ("GET", "/echo?n=3", None)]
    with w.client() as c:
        c.send(b"".join(build_request(m, t, body=b) for m, t, b in reqs))
        responses = [c.read_response(m) for m, _, _ in reqs]
    assert [r.status for r in responses] == [200, 200, 200, 200, 200, 403, 200, 200, 200]
    assert responses[0].body == b"slow\n"
    assert responses[1].body == b"pong\n"                 # local reply waits its turn
    assert responses[2].json()["path"] == "/echo?n=1"
    assert responses[3].json()["path"] == "/echo?n=2"
    assert responses[3].json()["body_length"] == 3000
    assert responses[4].body == b"slow\n"
    assert responses[5].body == b"no\n"
    assert responses[6].header("Content-Length") == "50" and responses[6].body == b""
    assert responses[7].body_length == 70000
    assert responses[8].json()["path"] == "/echo?n=3"


def test_upstream_closing_after_a_response_does_not_break_the_next_request(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1))
    with w.client() as c:
        assert c.get("/echo?close=1").status == 200      # upstream says Connection: close
        assert c.get("/echo").status == 200
        assert c.get("/echo").status == 200
    assert web.stats()["connections"] == 2


def test_pooled_connection_closed_by_the_upstream_is_not_used_again(upstream, weir):
    web = upstream("web", idle_timeout=0.3)            # upstream drops idle connections quickly
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1))
    assert w.get("/echo").status == 200
    wait_until(lambda: web.stats()["open"] == 0, 5, "the upstream to close its idle connection")
    for _ in range(3):
        assert w.get("/echo").status == 200
        time.sleep(0.5)
    assert web.stats()["requests"] == 4


def test_idle_upstream_connections_close_after_keepalive_idle_timeout(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1,
                          keepalive={"max_idle": 8, "idle_timeout": "1s"}))
    assert w.get("/echo").status == 200
    assert w.get("/echo").status == 200
    assert web.stats()["connections"] == 1                 # pooled and reused
    wait_until(lambda: web.stats()["open"] == 0, 5, "weir to close its idle upstream connection")
    assert w.get("/echo").status == 200
    assert web.stats()["connections"] == 2                 # the pool had let it go


def test_pool_keeps_at_most_max_idle_connections_per_worker(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1,
                          keepalive={"max_idle": 1, "idle_timeout": "60s"}))
    clients = [w.client() for _ in range(4)]
    try:
        for c in clients:                                   # four requests at once
            c.send(build_request("GET", "/slow?ms=300"))
        for c in clients:
            assert c.read_response().status == 200
    finally:
        for c in clients:
            c.close()
    assert web.stats()["connections"] == 4
    wait_until(lambda: web.stats()["open"] <= 1, 5, "the pool to trim to max_idle=1")
    assert web.stats()["open"] == 1
    assert w.get("/echo").status == 200
    assert web.stats()["connections"] == 4                 # the one kept idle was reused


def test_requests_pipelined_after_connection_close_are_not_answered(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    with w.client() as c:
        c.send(build_request("GET", "/echo?n=1", [("Connection", "close")]) +
               build_request("GET", "/echo?n=2"))
        assert c.read_response().json()["path"] == "/echo?n=1"
        data, closed = c.read_until_close(timeout=5)
        assert closed and data == b""
    assert [r["path"] for r in web.stats()["received"]] == ["/echo?n=1"]


@pytest.mark.skipif(SANITIZED, reason="the sanitizers' allocator keeps freed memory on purpose")
def test_idle_keep_alive_connections_give_their_memory_back(upstream, weir):
    """Between requests a connection hands back its exchange state (parser, buffers, upstream
    timer) and keeps little more than its socket: 800 keep-alive connections, idle after one
    request each, add well under 1.5 KiB each to weir's RSS (about 2.5 KiB each before)."""
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1))
    with w.client() as c:
        for _ in range(20):
            assert c.get("/echo").status == 200
    before = w.rss_kib()
    clients = []
    try:
        for _ in range(800):
            c = w.client()
            clients.append(c)
            assert c.get("/echo").status == 200
        per_conn = {}

        def small():
            per_conn["bytes"] = (w.rss_kib() - before) * 1024 / len(clients)
            return per_conn["bytes"] < 1536

        try:
            wait_until(small, timeout=5)
        except AssertionError:
            pytest.fail(f"{per_conn['bytes']:.0f} bytes of RSS per idle connection")
        for c in clients[:10]:  # and each still works
            assert c.get("/echo").status == 200
    finally:
        for c in clients:
            c.close()
