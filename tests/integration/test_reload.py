"""Reloads without dropping anything: SIGHUP applies a valid file, keeps the running config on an
invalid one, keeps connections and tunnels open, and holds up under load."""
import asyncio
import re
import signal
import threading
import time

import websockets

from harness import HttpClient, free_port, proxy_config, wait_until


def versioned_config(port, ups, version, servers=None):
    """A config whose /ver route answers the version, so a response tells which config served it."""
    servers = servers or ups
    return proxy_config(port, {"web": [u.address for u in servers]}, routes=[
        {"match": {"path": "/ver"}, "respond": {"status": 200, "body": f"v{version}"}},
        {"match": {"path_prefix": "/"}, "upstream": "web"},
    ])


def reload_with(w, text):
    w.config_path.write_text(text)
    mark = len(w.stderr_text())
    w.send_signal(signal.SIGHUP)
    return mark


def test_sighup_applies_a_changed_route_and_keeps_keepalive_connections(upstream, weir):
    web = upstream("web")
    port = free_port()
    w = weir(versioned_config(port, [web], 1))
    with w.client() as c:
        assert c.get("/ver").body == b"v1"
        reload_with(w, versioned_config(port, [web], 2))
        w.wait_stderr(r"reloaded .*generation 2")
        assert c.get("/ver").body == b"v2"          # same connection, new config
        assert c.get("/echo").status == 200


def test_invalid_file_on_sighup_keeps_the_running_config_and_logs_every_error(upstream, weir):
    web = upstream("web")
    port = free_port()
    w = weir(versioned_config(port, [web], 1))
    bad = versioned_config(port, [web], 2).replace("workers:", "wrkers:") + "bogus: 1\n"
    mark = reload_with(w, bad)
    w.wait_stderr(r"reload failed", since=mark)
    errors = w.stderr_text()[mark:]
    assert re.search(r"weir\d*\.yaml:\d+:\d+: wrkers: unknown key", errors), errors
    assert re.search(r"weir\d*\.yaml:\d+:\d+: bogus: unknown key", errors), errors
    assert w.get("/ver").body == b"v1"


def test_yaml_that_makes_the_yaml_library_loop_is_refused_and_weir_keeps_serving(upstream, weir):
    """yaml-cpp 0.7's LoadAll never returns on this text and allocates until memory runs out
    (found by tests/fuzz/config_fuzz.cpp). A reload with it must fail at once, like any other
    invalid file, and leave weir serving with a flat RSS."""
    web = upstream("web")
    port = free_port()
    w = weir(versioned_config(port, [web], 1))
    rss_before = w.rss_kib()
    mark = reload_with(w, ",a: [1")
    w.wait_stderr(r"reload failed", since=mark, timeout=10)
    assert w.get("/ver").body == b"v1"
    assert w.rss_kib() < rss_before + 50_000


def test_reload_opens_new_listeners_and_closes_removed_ones(upstream, weir):
    web = upstream("web")
    port, other = free_port(), free_port()
    w = weir(versioned_config(port, [web], 1))
    moved = versioned_config(other, [web], 2)
    reload_with(w, moved)
    w.wait_stderr(r"reloaded .*generation 2")
    c = HttpClient(other)
    try:
        assert c.get("/ver").body == b"v2"
    finally:
        c.close()
    wait_until(lambda: not _accepts(port), 5, "the removed listener to close")


def _accepts(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_websocket_tunnel_survives_a_reload(upstream, weir):
    web = upstream("web")
    port = free_port()
    w = weir(versioned_config(port, [web], 1))

    async def session():
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5,
                                      close_timeout=5) as ws:
            await ws.send("before")
            assert await ws.recv() == "before"
            reload_with(w, versioned_config(port, [web], 2))
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: w.wait_stderr(r"reloaded .*generation 2"))
            await ws.send("after")
            assert await ws.recv() == "after"

    asyncio.run(asyncio.wait_for(session(), 20))


def test_fifty_reloads_under_load_drop_nothing(upstream, weir):
    """Half the reloads change the route or the server list, some are invalid; a client keeps
    sending on keep-alive and new connections. Zero failures, and every /ver answer comes from a
    config that was live at that moment (versions never go back on one connection)."""
    a, b = upstream("a"), upstream("b")
    port = free_port()
    w = weir(versioned_config(port, [a, b], 0))
    stop = threading.Event()
    failures, seen = [], []

    def client_loop(keepalive):
        last = -1
        deadline = time.monotonic() + 120
        c = HttpClient(port) if keepalive else None
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    cl = c or HttpClient(port)
                    r1 = cl.get("/ver")
                    r2 = cl.get("/echo")
                    if not keepalive:
                        cl.close()
                    version = int(r1.body.decode()[1:])
                    if r1.status != 200 or r2.status != 200 or version < last:
                        failures.append((r1.status, r2.status, version, last))
                    last = version
                    seen.append(version)
                except Exception as e:  # noqa: BLE001 - any failure counts
                    failures.append(repr(e))
                    if keepalive:
                        c.close()
                        c = HttpClient(port)
        finally:
            if c:
                c.close()

    threads = [threading.Thread(target=client_loop, args=(k,)) for k in (True, True, False)]
    for t in threads:
        t.start()
    applied = 0
    try:
        for i in range(1, 51):
            if i % 10 == 5:   # invalid: nothing changes
                mark = reload_with(w, "listeners: [oops\n")
                w.wait_stderr(r"reload failed", since=mark, timeout=10)
                continue
            applied += 1
            servers = [a, b] if i % 2 else [a]
            mark = reload_with(w, versioned_config(port, [a, b], applied, servers))
            w.wait_stderr(rf"reloaded .*generation {applied + 1}\b", since=mark, timeout=10)
            time.sleep(0.02)
        wait_until(lambda: seen and seen[-1] == applied, 10, "a client to see the last config")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not failures, failures[:10]
    assert len(seen) > 50
    assert max(seen) == applied
    assert a.stats()["requests"] + b.stats()["requests"] >= len(seen)
