"""Malformed and ambiguous requests (request smuggling vectors): weir answers with an error status,
closes the connection, and the upstream receives nothing at all."""
import pytest

from harness import HttpClient, Upstream, WeirProcess, free_port, proxy_config, raw_exchange, \
    status_of

GET = b"GET /echo HTTP/1.1\r\nHost: weir.test\r\n"
POST = b"POST /upload HTTP/1.1\r\nHost: weir.test\r\n"


def cl(value):
    return POST + b"Content-Length: " + value + b"\r\n\r\nabc"


def te(*values):
    return POST + b"".join(b"Transfer-Encoding: " + v + b"\r\n" for v in values) + \
        b"\r\n3\r\nabc\r\n0\r\n\r\n"


# (id, bytes sent, acceptable statuses, connection must be closed)
CASES = [
    # no version at all reads as HTTP/0.9: unsupported version (505) is as right as 400
    ("request-line-without-version", b"GET /echo\r\nHost: weir.test\r\n\r\n", {400, 505}, True),
    ("request-line-extra-token", b"GET /echo HTTP/1.1 x\r\nHost: weir.test\r\n\r\n", {400}, True),
    ("method-not-a-token", b"G(T /echo HTTP/1.1\r\nHost: weir.test\r\n\r\n", {400}, True),
    ("control-char-in-target", b"GET /ec\x01ho HTTP/1.1\r\nHost: weir.test\r\n\r\n", {400}, True),
    ("header-without-colon", GET + b"X-Broken\r\n\r\n", {400}, True),
    ("empty-header-name", GET + b": value\r\n\r\n", {400}, True),
    ("space-before-colon", GET + b"X-A : b\r\n\r\n", {400}, True),
    ("obs-fold-space", GET + b"X-A: a\r\n  folded\r\n\r\n", {400}, True),
    ("obs-fold-tab", GET + b"X-A: a\r\n\tfolded\r\n\r\n", {400}, True),
    ("nul-in-header-value", GET + b"X-A: a\x00b\r\n\r\n", {400}, True),
    ("cr-in-header-value", GET + b"X-A: a\rb\r\n\r\n", {400}, True),
    ("bare-lf-everywhere", b"GET /echo HTTP/1.1\nHost: weir.test\nX-A: b\n\n", {400}, True),
    ("bare-lf-one-header", GET + b"X-A: b\nX-B: c\r\n\r\n", {400}, True),
    ("http11-without-host", b"GET /echo HTTP/1.1\r\nX-A: b\r\n\r\n", {400}, True),
    ("two-host-headers", GET + b"Host: other.test\r\n\r\n", {400}, True),
    ("host-unclosed-ip-literal", b"GET /echo HTTP/1.1\r\nHost: [::1\r\n\r\n", {400}, True),
    ("host-port-out-of-range", b"GET /echo HTTP/1.1\r\nHost: weir.test:99999\r\n\r\n", {400},
     True),
    ("absolute-form-userinfo", b"GET http://user@weir.test/echo HTTP/1.1\r\nHost: weir.test\r\n\r\n",
     {400}, True),
    ("content-length-and-transfer-encoding",
     POST + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400}, True),
    ("transfer-encoding-and-content-length",
     POST + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", {400}, True),
    ("content-length-differing-duplicates",
     POST + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", {400}, True),
    ("content-length-identical-duplicates",
     POST + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", {400}, True),
    ("content-length-plus-sign", cl(b"+3"), {400}, True),
    ("content-length-two-numbers", cl(b"3 3"), {400}, True),
    ("content-length-negative", cl(b"-1"), {400}, True),
    ("content-length-not-a-number", cl(b"abc"), {400}, True),
    ("transfer-encoding-gzip", te(b"gzip"), {400}, True),
    ("transfer-encoding-chunked-then-gzip", te(b"chunked, gzip"), {400}, True),
    ("transfer-encoding-gzip-then-chunked", te(b"gzip, chunked"), {501}, True),
    ("transfer-encoding-xchunked", te(b"xchunked"), {400}, True),
    ("transfer-encoding-identity", te(b"identity"), {400}, True),
    ("transfer-encoding-header-twice", te(b"chunked", b"chunked"), {400}, True),
    ("unknown-method", b"BREW /echo HTTP/1.1\r\nHost: weir.test\r\n\r\n", {501}, True),
    ("lowercase-method", b"get /echo HTTP/1.1\r\nHost: weir.test\r\n\r\n", {501}, True),
    ("fragment-in-target", b"GET /echo#.png HTTP/1.1\r\nHost: weir.test\r\n\r\n", {400}, True),
    ("non-ascii-in-target", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: weir.test\r\n\r\n", {400},
     True),
    ("http-2-version", b"GET /echo HTTP/2.0\r\nHost: weir.test\r\n\r\n", {505, 400}, False),
    ("http-3-version", b"GET /echo HTTP/3.0\r\nHost: weir.test\r\n\r\n", {505, 400}, False),
    ("header-section-too-large", GET + b"X-Big: " + b"a" * 8000 + b"\r\n\r\n", {431}, False),
    ("too-many-headers", GET + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 50) for i in range(100)) +
     b"\r\n", {431}, False),
    ("uri-too-long", b"GET /echo?q=" + b"a" * 2000 + b" HTTP/1.1\r\nHost: weir.test\r\n\r\n",
     {414}, False),
    ("content-length-over-max-body", POST + b"Content-Length: 5000\r\n\r\n", {413}, False),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad_input")
    with Upstream("web", tmp) as web:
        config = proxy_config(free_port(), {"web": [web.address]}, limits={
            "max_header_bytes": "4KiB", "max_uri_bytes": "1KiB", "max_body_bytes": "1KiB"})
        with WeirProcess(config, tmp) as w:
            yield w, web


@pytest.mark.parametrize("data,statuses,must_close", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_request_is_rejected_before_reaching_the_upstream(stack, data, statuses, must_close):
    w, web = stack
    web.reset()
    stderr_before = len(w.stderr_text())
    reply, closed = raw_exchange(w.port, data, timeout=5)
    assert status_of(reply) in statuses, reply[:200]
    if must_close:
        assert closed, "weir kept the connection open after a bad request"
    assert web.received_nothing(), web.stats()
    w.wait_stderr(r"\S", since=stderr_before)                 # the error is logged


def test_a_valid_request_passes_on_the_same_proxy(stack):
    w, web = stack
    web.reset()
    reply, _ = raw_exchange(w.port, GET + b"Connection: close\r\n\r\n")
    assert status_of(reply) == 200
    assert web.stats()["requests"] == 1


def test_a_higher_minor_version_is_handled_as_http_1_1(stack):
    """RFC 9110, 2.5: HTTP/1.2 is served as HTTP/1.1 (nginx and HAProxy do the same)."""
    w, web = stack
    web.reset()
    with HttpClient(w.port) as c:
        for _ in range(2):                                  # kept alive, as HTTP/1.1 is
            c.send(b"GET /echo HTTP/1.2\r\nHost: weir.test\r\n\r\n")
            r = c.read_response()
            assert r.status == 200 and r.version == "HTTP/1.1", (r.status, r.version)
    assert [e["version"] for e in web.stats()["received"]] == ["HTTP/1.1"] * 2


@pytest.mark.parametrize("data", [
    GET + b"X-Big: " + b"a" * 3000 + b"\r\n\r\n",
    b"GET /echo?q=" + b"a" * 900 + b" HTTP/1.1\r\nHost: weir.test\r\n\r\n",
    POST + b"Content-Length: 1024\r\n\r\n" + b"x" * 1024,
], ids=["header-section-under-max", "uri-under-max", "body-at-max"])
def test_requests_within_the_limits_pass(stack, data):
    w, web = stack
    web.reset()
    with HttpClient(w.port) as c:
        c.send(data)
        assert c.read_response().status == 200
    assert web.stats()["requests"] == 1


def test_chunked_body_over_max_body_bytes_gets_413(stack):
    w, web = stack
    web.reset()
    body = b"".join(b"200\r\n" + b"x" * 0x200 + b"\r\n" for _ in range(8)) + b"0\r\n\r\n"
    reply, _ = raw_exchange(w.port, POST + b"Transfer-Encoding: chunked\r\n\r\n" + body)
    assert status_of(reply) == 413, reply[:200]
    assert web.stats()["responses"] == 0                      # the upload never completed there


def test_malformed_chunk_size_gets_400_and_close(stack):
    w, web = stack
    web.reset()
    reply, closed = raw_exchange(w.port, POST + b"Transfer-Encoding: chunked\r\n\r\n"
                                               b"zz\r\nhello\r\n0\r\n\r\n")
    assert status_of(reply) == 400, reply[:200]
    assert closed
    assert web.stats()["responses"] == 0


def test_bad_request_after_a_good_one_on_the_same_connection(stack):
    w, web = stack
    web.reset()
    with HttpClient(w.port) as c:
        assert c.get("/echo").status == 200
        c.send(GET + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab")
        reply, closed = c.read_until_close()
    assert status_of(reply) == 400 and closed
    assert web.stats()["requests"] == 1


def test_chunk_size_overflow_gets_400_and_close(stack):
    w, web = stack
    web.reset()
    reply, closed = raw_exchange(w.port, POST + b"Transfer-Encoding: chunked\r\n\r\n"
                                               b"10000000000000001\r\nhello\r\n0\r\n\r\n")
    assert status_of(reply) in (400, 413), reply[:200]
    assert closed
    assert web.stats()["responses"] == 0
