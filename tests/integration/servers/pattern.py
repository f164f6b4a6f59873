"""The deterministic byte stream that fake upstreams send and tests upload: byte i is BASE[i % LEN].

LEN is prime so chunk boundaries never line up with the period. Shared by upstream.py and
harness.py.
"""
import functools
import hashlib
import random

LEN = 65521
BASE = random.Random(20261124).randbytes(LEN)
_BIG = memoryview(BASE * 17)  # ~1.1 MB: any slice of up to 1 MiB starting inside the period fits


def chunks(n: int, offset: int = 0, size: int = 1 << 20):
    """Yields memoryviews covering pattern bytes [offset, offset + n), each at most `size` long."""
    size = min(size, len(_BIG) - LEN)
    pos, end = offset, offset + n
    while pos < end:
        take = min(size, end - pos)
        start = pos % LEN
        yield _BIG[start:start + take]
        pos += take


def data(n: int, offset: int = 0) -> bytes:
    """The first n pattern bytes (from offset) as one bytes object: for small bodies only."""
    return b"".join(bytes(c) for c in chunks(n, offset))


@functools.lru_cache(maxsize=16)
def sha256_of(n: int) -> str:
    """Hex sha256 of the first n pattern bytes."""
    h = hashlib.sha256()
    for c in chunks(n):
        h.update(c)
    return h.hexdigest()
