"""Message bodies both ways: Content-Length, chunked (re-encoded), close-delimited, bodiless
responses (HEAD, 204, 304) and interim responses (100-continue, 103)."""
import os

from harness import (build_request, chunked, free_port, pattern_data, pattern_sha256,
                     proxy_config, sha256, wait_until)


def start(upstream, weir, **kw):
    web = upstream("web")
    return web, weir(proxy_config(free_port(), {"web": [web.address]}, **kw))


def test_request_body_with_content_length(upstream, weir):
    web, w = start(upstream, weir)
    body = os.urandom(300_000)
    with w.client() as c:
        r = c.request("POST", "/upload", body=body)
    assert r.status == 200
    assert r.json()["length"] == len(body) and r.json()["sha256"] == sha256(body)
    assert r.json()["content_length"] == str(len(body))


def test_chunked_request_body_is_forwarded_intact(upstream, weir):
    web, w = start(upstream, weir)
    body = os.urandom(200_000)
    with w.client() as c:
        c.send(build_request("POST", "/upload", [("Transfer-Encoding", "chunked")]) +
               chunked(body, sizes=(1, 17, 4096, 65536, 100_000)))
        r = c.read_response()
        assert r.status == 200
        assert r.json()["length"] == len(body) and r.json()["sha256"] == sha256(body)
        assert c.get("/echo").status == 200                 # framing intact: connection reusable


def test_chunked_request_with_extensions_and_trailers(upstream, weir):
    web, w = start(upstream, weir)
    with w.client() as c:
        c.send(build_request("POST", "/upload", [("Transfer-Encoding", "chunked")]) +
               b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 1\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.json()["sha256"] == sha256(b"hello world")
        assert c.get("/echo").status == 200


def test_empty_post_body(upstream, weir):
    web, w = start(upstream, weir)
    with w.client() as c:
        r = c.request("POST", "/echo", body=b"")
    assert r.status == 200 and r.json()["body_length"] == 0


def test_response_with_content_length(upstream, weir):
    web, w = start(upstream, weir)
    with w.client() as c:
        r = c.get("/bytes?n=500000")
        assert r.status == 200
        assert r.header("Content-Length") == "500000"
        assert sha256(r.body) == pattern_sha256(500_000)
        assert c.get("/echo").status == 200


def test_chunked_response_is_forwarded_intact(upstream, weir):
    web, w = start(upstream, weir)
    with w.client() as c:
        r = c.get("/bytes?n=400000&chunked=1")
        assert r.status == 200
        assert sha256(r.body) == pattern_sha256(400_000)
        assert c.get("/echo").status == 200


def test_close_delimited_response_reaches_the_client_whole(upstream, weir):
    web, w = start(upstream, weir)
    with w.client() as c:
        r = c.get("/bytes?n=300000&close=1")
        assert r.status == 200
        assert sha256(r.body) == pattern_sha256(300_000)


def test_http10_client_gets_no_chunked_encoding(upstream, weir):
    web, w = start(upstream, weir)
    with w.client() as c:
        c.send(build_request("GET", "/bytes?n=100000&chunked=1", version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200
        assert "chunked" not in r.tokens("transfer-encoding")
        assert sha256(r.body) == pattern_sha256(100_000)


def test_head_response_has_no_body(upstream, weir):
    web, w = start(upstream, weir)
    with w.client() as c:
        r = c.request("HEAD", "/bytes?n=1000")
        assert r.status == 200 and r.header("Content-Length") == "1000"
        follow = c.get("/echo?after=head")                 # would misparse if a body had leaked
        assert follow.status == 200 and follow.json()["path"] == "/echo?after=head"
    assert web.stats()["received"][0]["method"] == "HEAD"


def test_head_to_a_chunked_resource_has_no_body(upstream, weir):
    web, w = start(upstream, weir)
    with w.client() as c:
        r = c.request("HEAD", "/bytes?n=1000&chunked=1")    # upstream: TE chunked, no body
        assert r.status == 200
        follow = c.get("/echo?after=head")
        assert follow.status == 200 and follow.json()["path"] == "/echo?after=head"


def test_204_and_304_responses_have_no_body(upstream, weir):
    web, w = start(upstream, weir)
    with w.client() as c:
        assert c.get("/status?code=204").status == 204
        r = c.get("/status?code=304&cl=1234")               # 304 may carry the entity's length
        assert r.status == 304
        follow = c.get("/echo?after=304")
        assert follow.status == 200 and follow.json()["path"] == "/echo?after=304"
        data, closed = c.read_until_close(timeout=0.3)
        assert data == b""


def test_expect_100_continue(upstream, weir):
    web, w = start(upstream, weir)
    body = pattern_data(100_000)
    with w.client() as c:
        c.send(build_request("POST", "/continue", [("Expect", "100-continue"),
                                                   ("Content-Length", str(len(body)))]))
        interim = c.read_response(stop_at_interim=True)      # before sending any body byte
        assert interim.status == 100
        c.send(body)
        r = c.read_response()
        assert r.status == 200
        assert r.json()["length"] == len(body) and r.json()["sha256"] == sha256(body)


def test_interim_103_is_followed_by_the_final_response(upstream, weir):
    web, w = start(upstream, weir)
    with w.client() as c:
        r = c.get("/early")
        assert r.status == 200 and r.body == b"early\n"
        assert all(100 <= i.status < 200 for i in r.interim)
        assert c.get("/echo").status == 200


def test_upload_and_download_on_one_keepalive_connection(upstream, weir):
    web, w = start(upstream, weir)
    with w.client() as c:
        for i in range(5):
            body = os.urandom(50_000 * (i + 1))
            up = c.request("POST", "/upload", body=body)
            assert up.json()["sha256"] == sha256(body)
            down = c.get(f"/bytes?n={70_000 * (i + 1)}&chunked={i % 2}")
            assert sha256(down.body) == pattern_sha256(70_000 * (i + 1))


def test_expect_100_continue_with_a_body_over_the_limit_gets_413_not_100(upstream, weir):
    web, w = start(upstream, weir, limits={"max_body_bytes": "1KiB"})
    with w.client() as c:
        c.send(build_request("POST", "/continue", [("Expect", "100-continue"),
                                                   ("Content-Length", "5000")]))
        r = c.read_response(stop_at_interim=True)
        assert r.status == 413
    assert web.received_nothing()


def test_client_leaving_mid_upload_aborts_the_upstream_request(upstream, weir):
    web, w = start(upstream, weir)
    with w.client() as c:
        c.send(build_request("POST", "/upload", [("Content-Length", "100000")]) + b"x" * 30000)
        wait_until(lambda: web.stats()["requests"] == 1, 5, "the upload to reach the upstream")
    wait_until(lambda: web.stats()["aborted"] == 1, 5, "weir to abort the upstream request")
    assert web.stats()["responses"] == 0
    assert w.get("/echo").status == 200
