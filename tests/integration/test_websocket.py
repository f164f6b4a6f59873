"""Upgrade: after the upstream's 101 the connection is a tunnel (WebSocket echo through weir)."""
import asyncio
import base64
import hashlib
import os

import websockets

from harness import build_request, free_port, proxy_config, received_header


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_websocket_echo_through_weir(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))

    async def session():
        async with websockets.connect(w.url("/ws").replace("http", "ws", 1), open_timeout=5,
                                      close_timeout=5, max_size=None) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            blob = os.urandom(300_000)
            await ws.send(blob)
            assert await ws.recv() == blob
            for i in range(20):
                await ws.send(f"message {i}")
            assert [await ws.recv() for _ in range(20)] == [f"message {i}" for i in range(20)]
            pong = await ws.ping(b"are you there")
            await asyncio.wait_for(pong, 5)

    run(session())
    s = web.stats()
    assert s["ws_sessions"] == 1
    handshake = s["received"][0]
    assert received_header(handshake, "Upgrade").lower() == "websocket"
    assert "upgrade" in received_header(handshake, "Connection").lower()


def test_raw_upgrade_response_is_101_and_bytes_flow_both_ways(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    key = base64.b64encode(os.urandom(16)).decode()
    with w.client() as c:
        c.send(build_request("GET", "/ws", [("Connection", "Upgrade"), ("Upgrade", "websocket"),
                                            ("Sec-WebSocket-Key", key),
                                            ("Sec-WebSocket-Version", "13")]))
        r = c.read_response()
        assert r.status == 101
        assert r.header("Upgrade").lower() == "websocket"
        guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        assert r.header("Sec-WebSocket-Accept") == \
            base64.b64encode(hashlib.sha1((key + guid).encode()).digest()).decode()
        mask = os.urandom(4)
        payload = b"tunnel"
        c.send(bytes([0x82, 0x80 | len(payload)]) + mask +
               bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        assert c.read_bytes(2 + len(payload)) == bytes([0x82, len(payload)]) + payload


def test_concurrent_websockets_are_independent(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))

    async def one(i):
        async with websockets.connect(w.url("/ws").replace("http", "ws", 1), open_timeout=5,
                                      close_timeout=5) as ws:
            for j in range(10):
                await ws.send(f"{i}:{j}")
                assert await ws.recv() == f"{i}:{j}"

    async def many():
        await asyncio.gather(*(one(i) for i in range(8)))

    run(many())
    assert web.stats()["ws_sessions"] == 8


def test_upgrade_declined_by_the_upstream_is_a_plain_response(upstream, weir):
    """The upstream answers 200 to an Upgrade request: no tunnel. weir may keep the connection
    (then it must go on working as HTTP) or say Connection: close (then it must close it)."""
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    with w.client() as c:
        r = c.get("/echo", headers=[("Connection", "Upgrade"), ("Upgrade", "websocket"),
                                    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                    ("Sec-WebSocket-Version", "13")])
        assert r.status == 200 and r.json()["path"] == "/echo"
        if "close" in r.tokens("connection"):
            assert c.read_until_close(timeout=5) == (b"", True)
        else:
            follow = c.get("/echo?after=declined")
            assert follow.status == 200 and follow.json()["path"] == "/echo?after=declined"


def test_h2c_upgrade_from_curl_is_not_forwarded(upstream, weir):
    """curl --http2 on plain HTTP asks for "Upgrade: h2c". weir does not pass it on (an upstream
    that switched would speak HTTP/2 past weir's routes: h2c smuggling); the request goes on as
    HTTP/1.1 and the upstream sees no trace of the upgrade."""
    import json
    import subprocess
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    out = subprocess.run(["curl", "-sS", "--http2", "--max-time", "10", "-D", "-",
                          w.url("/echo")], capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    seen = json.loads(body)
    assert received_header(seen, "Upgrade") is None
    assert received_header(seen, "HTTP2-Settings") is None
    assert "upgrade" not in (received_header(seen, "Connection") or "").lower()


def test_declined_h2c_upgrade_keeps_the_connection_as_http_1_1(upstream, weir):
    """The h2c upgrade weir does not pass on leaves a plain request: the connection stays open
    for the next one, as nginx and HAProxy keep it."""
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    with w.client() as c:
        r = c.get("/echo?h2c", headers=[("Connection", "Upgrade, HTTP2-Settings"),
                                        ("Upgrade", "h2c"),
                                        ("HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA")])
        assert r.status == 200 and "close" not in r.tokens("connection"), r.headers
        follow = c.get("/echo?after=h2c")
        assert follow.status == 200 and follow.json()["path"] == "/echo?after=h2c"
