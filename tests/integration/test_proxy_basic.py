"""Routing, local replies, balancing and the headers weir adds and removes."""
import itertools
from collections import Counter

from harness import (HttpClient, free_port, get, proxy_config, raw_exchange, received_header,
                     received_header_all, status_of, to_yaml)


def test_respond_route_answers_locally_without_the_upstream(upstream, weir):
    web = upstream("web")
    port = free_port()
    w = weir(proxy_config(port, {"web": [web.address]}, routes=[
        {"match": {"path": "/ping"},
         "respond": {"status": 200, "body": "pong\n", "headers": {"Content-Type": "text/plain"}}},
        {"match": {"path_prefix": "/"}, "upstream": "web"},
    ]))
    r = w.get("/ping")
    assert r.status == 200
    assert r.body == b"pong\n"
    assert r.header("Content-Type") == "text/plain"
    assert web.received_nothing()


def test_request_matching_no_route_gets_404(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, routes=[
        {"match": {"path_prefix": "/app/"}, "upstream": "web"},
    ]))
    r = w.get("/elsewhere")
    assert r.status == 404 and r.upstream is None
    assert w.get("/app/x").upstream == "web"
    assert web.stats()["requests"] == 1


def test_routes_by_host_exact_and_wildcard_case_insensitive_ignoring_port(upstream, weir):
    api, wild, web = upstream("api"), upstream("wild"), upstream("web")
    w = weir(proxy_config(free_port(), {"api": [api.address], "wild": [wild.address],
                                        "web": [web.address]}, routes=[
        {"match": {"host": "api.example.com", "path_prefix": "/v1/"}, "upstream": "api"},
        {"match": {"host": "*.example.com"}, "upstream": "wild"},
        {"match": {"path_prefix": "/"}, "upstream": "web"},
    ]))
    cases = [
        ("api.example.com", "/v1/users", "api"),
        ("API.Example.COM:8080", "/v1/users", "api"),
        ("api.example.com", "/v2/users", "wild"),
        ("shop.example.com", "/", "wild"),
        ("Shop.EXAMPLE.com:443", "/v1/", "wild"),
        ("example.com", "/", "web"),
        ("other.test", "/v1/users", "web"),
    ]
    for host, path, expected in cases:
        assert w.get("/echo" if path == "/" else path, host=host).upstream == expected, (host, path)


def test_weights_split_requests_3_to_1(upstream, weir):
    a, b = upstream("a"), upstream("b")
    w = weir(proxy_config(free_port(), {"web": [(a.address, 3), (b.address, 1)]}))
    counts = Counter()
    clients = [w.client() for _ in range(4)]
    try:
        for c in itertools.islice(itertools.cycle(clients), 400):
            r = c.get("/echo")
            assert r.status == 200
            counts[r.upstream] += 1
    finally:
        for c in clients:
            c.close()
    assert abs(counts["a"] - 300) <= 20, counts
    assert abs(counts["b"] - 100) <= 20, counts


def test_round_robin_is_smooth(upstream, weir):
    """nginx smooth weighted round robin: with 3:1 one sees a a b a, never a a a a or b b; with
    1:1 strict alternation. One client connection stays on one worker (one balancer)."""
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    w = weir(proxy_config(free_port(), {"weighted": [(a.address, 3), (b.address, 1)],
                                        "equal": [b.address, c.address]}, routes=[
        {"match": {"path_prefix": "/eq/"}, "upstream": "equal"},
        {"match": {"path_prefix": "/"}, "upstream": "weighted"},
    ]))
    with w.client() as client:
        seq = "".join(client.get("/echo").upstream for _ in range(40))
        assert "aaaa" not in seq and "bb" not in seq, seq
        assert seq.count("a") == 30, seq
        alt = [client.get("/eq/echo").upstream for _ in range(10)]
        assert all(x != y for x, y in zip(alt, alt[1:])), alt


def test_forwarding_headers_are_added(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    echo = w.get("/echo?q=1", host="App.Test:8443", headers=[("X-Custom", "one"),
                                                             ("X-Custom", "two")]).json()
    assert echo["path"] == "/echo?q=1"
    assert received_header(echo, "Host") == "App.Test:8443"
    assert received_header(echo, "X-Forwarded-For") == "127.0.0.1"
    assert received_header(echo, "X-Forwarded-Proto") == "http"
    assert received_header(echo, "X-Forwarded-Host") == "App.Test:8443"
    assert "weir" in received_header(echo, "Via")
    assert received_header(echo, "X-Request-Id")
    assert received_header_all(echo, "X-Custom") == ["one", "two"]


def test_fields_named_by_connection_are_dropped_but_host_is_not(upstream, weir):
    """RFC 9110 7.6.1: what Connection names is hop-by-hop and goes no further; Host is
    end-to-end whatever the client says (a request upstream without it would be invalid, and a
    backend would answer from its default virtual host)."""
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    echo = w.get("/echo", host="App.Test", headers=[
        ("Connection", "Host, X-Hop, X-Forwarded-For"), ("X-Hop", "1"), ("X-End", "2"),
        ("X-Forwarded-For", "203.0.113.9")]).json()
    assert received_header_all(echo, "Host") == ["App.Test"]
    assert received_header(echo, "X-Hop") is None
    assert received_header(echo, "X-End") == "2"
    assert received_header_all(echo, "X-Forwarded-For") == ["127.0.0.1"]  # weir's own stays


def test_http10_request_without_host_reaches_the_upstream_with_the_upstreams_name(upstream, weir):
    """HTTP/1.1 requires Host, HTTP/1.0 does not: weir sends the upstream's name, as nginx does."""
    import json
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    reply, _ = raw_exchange(w.port, b"GET /echo HTTP/1.0\r\n\r\n")
    assert status_of(reply) == 200
    echo = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert received_header_all(echo, "Host") == ["web"]
    assert received_header(echo, "X-Forwarded-Host") is None


def test_x_forwarded_for_is_appended_to(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    echo = w.get("/echo", headers=[("X-Forwarded-For", "203.0.113.7")]).json()
    assert [s.strip() for s in received_header(echo, "X-Forwarded-For").split(",")] == \
        ["203.0.113.7", "127.0.0.1"]


def test_request_id_is_generated_unique_and_kept_when_given(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    ids = {received_header(w.get("/echo").json(), "X-Request-Id") for _ in range(5)}
    assert len(ids) == 5 and None not in ids and "" not in ids
    given = w.get("/echo", headers=[("X-Request-Id", "req-abc-123")]).json()
    assert received_header_all(given, "X-Request-Id") == ["req-abc-123"]


def test_hop_by_hop_request_headers_are_not_forwarded(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    echo = w.get("/echo", headers=[
        ("Connection", "keep-alive, X-Drop-Me"), ("X-Drop-Me", "secret"),
        ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"), ("TE", "trailers"),
        ("Trailer", "X-Checksum"), ("Upgrade", "h2c"), ("X-Kept", "yes"),
    ]).json()
    names = {n.lower() for n, _ in echo["headers"]}
    for hop in ("x-drop-me", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"):
        assert hop not in names, echo["headers"]
    assert "x-drop-me" not in (received_header(echo, "Connection") or "").lower()
    assert received_header(echo, "X-Kept") == "yes"


def test_hop_by_hop_response_headers_are_not_forwarded(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    r = w.get("/hop")
    assert r.status == 200 and r.body == b"hop\n"
    assert r.header("X-Hop-Secret") is None
    assert r.header("Proxy-Connection") is None
    assert r.header("Upgrade") is None
    assert r.header("Keep-Alive") != "timeout=99"
    assert "x-hop-secret" not in r.tokens("connection")
    assert r.header("X-End-To-End") == "kept"


def test_ipv6_listener_and_upstream(upstream, weir):
    web = upstream("v6", host="::1")
    w = weir(proxy_config(free_port("::1"), {"web": [web.address]}, listen_host="::1"))
    with HttpClient(w.port, "::1") as c:
        r = c.get("/echo")
    assert r.status == 200 and r.upstream == "v6"
    assert received_header(r.json(), "X-Forwarded-For") == "::1"


def test_query_string_reaches_the_upstream_intact(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    data, _ = raw_exchange(w.port, b"GET /echo?a=1&b=%20x HTTP/1.1\r\nHost: weir.test\r\n"
                                   b"Connection: close\r\n\r\n")
    assert status_of(data) == 200
    assert web.stats()["received"][0]["path"] == "/echo?a=1&b=%20x"


def test_workers_auto(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers="auto"))
    assert w.get("/echo").status == 200


def test_two_listeners_each_with_their_own_routes(upstream, weir, tmp_path):
    a, b = upstream("a"), upstream("b")
    p1, p2 = free_port(), free_port()
    config = to_yaml({
        "workers": 1,
        "listeners": [
            {"name": "one", "listen": f"127.0.0.1:{p1}",
             "routes": [{"match": {"path_prefix": "/"}, "upstream": "ua"}]},
            {"name": "two", "listen": f"127.0.0.1:{p2}",
             "routes": [{"match": {"path_prefix": "/"}, "upstream": "ub"}]}],
        "upstreams": [{"name": "ua", "servers": [{"address": a.address}]},
                      {"name": "ub", "servers": [{"address": b.address}]}],
    }) + "\n"
    weir(config)
    assert get(p1, "/echo").upstream == "a"
    assert get(p2, "/echo").upstream == "b"


def test_listeners_have_a_deep_accept_queue(upstream, weir):
    """A burst of new connections (a load test opening them all at once) must not overflow the
    accept queue and cost SYN retransmits: the backlog is 4096, or the kernel's cap if lower."""
    import subprocess
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=2))
    with open("/proc/sys/net/core/somaxconn") as f:
        cap = int(f.read())
    out = subprocess.run(["ss", "-Hltn", f"sport = :{w.port}"], capture_output=True, text=True,
                         timeout=10, check=True).stdout
    backlogs = [int(line.split()[2]) for line in out.splitlines()]
    assert backlogs == [min(4096, cap)] * 2, out       # one listening socket per worker
