"""Upstream failures: refused connections, retries on another server, timeouts, a response cut
short, malformed responses. Each one is answered with the right status and logged with a reason."""
import socket

import pytest

from harness import (IncompleteResponse, build_request, free_port, proxy_config, raw_exchange,
                     status_of)


def test_refused_connection_gives_502_and_is_logged(weir):
    dead = f"127.0.0.1:{free_port()}"
    w = weir(proxy_config(free_port(), {"web": [dead]}))
    r = w.get("/echo")
    assert r.status == 502
    w.wait_stderr(rf"refused|{dead}")


def test_request_goes_to_another_server_when_one_refuses(upstream, weir):
    live = upstream("live")
    dead = f"127.0.0.1:{free_port()}"
    w = weir(proxy_config(free_port(), {"web": [dead, live.address]}))
    for i in range(20):
        r = w.get(f"/echo?i={i}")
        assert r.status == 200 and r.upstream == "live"
    with w.client() as c:                                    # nothing was sent: POST is safe too
        for i in range(5):
            r = c.request("POST", "/upload", body=b"payload %d" % i)
            assert r.status == 200 and r.upstream == "live"
    assert live.stats()["requests"] == 25
    w.wait_stderr(rf"refused|{dead}")


def test_upstream_not_answering_within_response_timeout_gives_504(upstream, weir):
    slow = upstream("slow")
    w = weir(proxy_config(free_port(), {"web": [slow.address]},
                          upstream_timeouts={"response": "500ms"}))
    r = w.get("/slow?ms=3000")
    assert r.status == 504
    w.wait_stderr(rf"time|{slow.address}")
    assert w.get("/echo").status == 200                      # the proxy carries on


def test_connect_timeout_to_a_blackholed_server_gives_504_or_502(weir):
    """A listening socket whose accept queue is full drops SYNs: connect() hangs."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    fillers = []
    try:
        for _ in range(4):                                   # fill the accept queue
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(hole.getsockname())
            fillers.append(f)
        address = f"127.0.0.1:{hole.getsockname()[1]}"
        w = weir(proxy_config(free_port(), {"web": [address]},
                              upstream_timeouts={"connect": "300ms", "response": "5s"}))
        r = w.get("/echo", timeout=10)
        assert r.status in (502, 504)
        w.wait_stderr(rf"time|{address}")
    finally:
        for f in fillers:
            f.close()
        hole.close()


def test_upstream_closing_mid_response_closes_the_client_connection(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    with w.client() as c:
        c.send(build_request("GET", "/abort?after=5000"))
        with pytest.raises(IncompleteResponse):              # Content-Length promised 15000
            c.read_response()
        assert c.eof
    w.wait_stderr(rf"{web.address}|upstream")


def test_upstream_closing_mid_chunked_response_closes_without_the_last_chunk(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    data, closed = raw_exchange(w.port, build_request("GET", "/abort?after=5000&chunked=1"))
    assert closed
    assert status_of(data) == 200
    assert not data.endswith(b"0\r\n\r\n"), "weir completed a response the upstream cut short"


@pytest.mark.parametrize("name", ["cl_and_te", "bad_status_line", "garbage", "dup_cl", "bad_cl",
                                  "neg_cl", "empty", "two_digit_status", "status_over_599",
                                  "bad_chunk_after_head"])
def test_malformed_upstream_response_gives_502(upstream, weir, name):
    """Nothing of the bad response has reached the client when weir finds the fault (even a
    sound head followed by a bad chunk in the same read): the client gets a whole 502."""
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    before = len(w.stderr_text())
    r = w.get(f"/raw?name={name}")
    assert r.status == 502
    w.wait_stderr(rf"{web.address}|upstream", since=before)


def test_content_length_of_a_204_is_not_relayed(upstream, weir):
    """RFC 9110 8.6: a 204 carries no Content-Length; weir drops the one the upstream sent."""
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    with w.client() as c:
        r = c.get("/raw?name=no_content_with_length")
        assert r.status == 204 and r.body == b""
        assert r.header("Content-Length") is None


def test_every_server_refusing_in_a_weighted_cluster_gives_502(weir):
    deads = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    w = weir(proxy_config(free_port(), {"web": [(d, 2) for d in deads]}))
    for _ in range(3):
        assert w.get("/echo").status == 502


def test_failed_server_does_not_take_requests_from_the_others(upstream, weir):
    a, b = upstream("a"), upstream("b")
    w = weir(proxy_config(free_port(), {"web": [a.address, b.address]}))
    assert {w.get("/echo").upstream for _ in range(10)} == {"a", "b"}
    b.stop()                              # weir still holds idle pooled connections to b
    responses = [w.get("/echo") for _ in range(12)]
    assert [r.status for r in responses] == [200] * 12
    assert {r.upstream for r in responses} == {"a"}


def test_bytes_after_a_complete_upstream_response_never_reach_another_request(upstream, weir):
    """The upstream sends a response plus a second, unsolicited one and keeps the connection:
    weir must not pool that connection and hand the extra bytes to the next request."""
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1))
    with w.client() as c:
        r = c.get("/raw?name=desync&keep=1")
        assert r.body == b"hi" or r.status == 502
        for i in range(3):
            r = c.get(f"/echo?i={i}")
            assert r.upstream == "web" and r.body != b"smuggled"
            assert r.json()["path"] == f"/echo?i={i}"


def test_post_is_not_retried_once_it_was_sent(upstream, weir):
    """Both servers take the request and close without answering: a POST that reached one server
    gets 502 and is not replayed on the other."""
    a, b = upstream("a"), upstream("b")
    w = weir(proxy_config(free_port(), {"web": [a.address, b.address]}))
    with w.client() as c:
        r = c.request("POST", "/raw?name=empty", body=b"pay once")
    assert r.status == 502
    assert a.stats()["requests"] + b.stats()["requests"] == 1
