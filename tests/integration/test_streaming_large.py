"""1 GiB through weir in each direction: byte-for-byte (sha256) with weir's memory flat, also when
the receiving side is slow (backpressure). Select with `-m large`."""
import hashlib
import time

import pytest

from harness import (SANITIZED, build_request, free_port, pattern_chunks, pattern_sha256,
                     proxy_config)

GIB = 1 << 30
MAX_GROWTH_KIB = 64 * 1024
TRANSFER_DEADLINE = 300.0


def start(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1,
                          limits={"max_body_bytes": "2048MiB"},
                          timeouts={"client_body": "30s"}, upstream_timeouts={"response": "60s"}))
    assert w.get("/echo").status == 200                      # warm up before the baseline
    return web, w


def assert_memory_flat(w, baseline_kib):
    growth = w.hwm_kib() - baseline_kib
    if SANITIZED:
        return
    assert growth < MAX_GROWTH_KIB, f"weir's peak RSS grew by {growth} KiB"


def download(w, target, pause_s=0.0):
    h = hashlib.sha256()
    with w.client(timeout=60) as c:
        c.send(build_request("GET", target))
        time.sleep(pause_s)                                  # a slow reader: weir must hold back
        r = c.read_response(sink=h.update, timeout=TRANSFER_DEADLINE)
    return r, h.hexdigest()


def upload(w, target):
    with w.client(timeout=60) as c:
        c.send(build_request("POST", target, [("Content-Length", str(GIB))]))
        deadline = time.monotonic() + TRANSFER_DEADLINE
        for piece in pattern_chunks(GIB):
            assert time.monotonic() < deadline, "upload did not finish in time"
            c.send(piece)
        return c.read_response(timeout=120)


@pytest.mark.large
def test_1gib_download_is_byte_exact_with_flat_memory(upstream, weir):
    web, w = start(upstream, weir)
    baseline = w.rss_kib()
    r, digest = download(w, f"/bytes?n={GIB}")
    assert r.status == 200 and r.body_length == GIB
    assert digest == pattern_sha256(GIB)
    assert_memory_flat(w, baseline)


@pytest.mark.large
def test_1gib_chunked_download_to_a_slow_reader_keeps_memory_flat(upstream, weir):
    web, w = start(upstream, weir)
    baseline = w.rss_kib()
    r, digest = download(w, f"/bytes?n={GIB}&chunked=1", pause_s=3.0)
    assert r.status == 200 and r.body_length == GIB
    assert digest == pattern_sha256(GIB)
    assert_memory_flat(w, baseline)


@pytest.mark.large
def test_1gib_upload_is_byte_exact_with_flat_memory(upstream, weir):
    web, w = start(upstream, weir)
    baseline = w.rss_kib()
    r = upload(w, "/upload")
    assert r.status == 200
    assert r.json()["length"] == GIB and r.json()["sha256"] == pattern_sha256(GIB)
    assert_memory_flat(w, baseline)


@pytest.mark.large
def test_1gib_upload_to_a_slow_upstream_keeps_memory_flat(upstream, weir):
    web, w = start(upstream, weir)
    baseline = w.rss_kib()
    r = upload(w, "/upload?delay_ms=3000")                  # upstream reads nothing for 3 s
    assert r.status == 200
    assert r.json()["length"] == GIB and r.json()["sha256"] == pattern_sha256(GIB)
    assert_memory_flat(w, baseline)
