"""Mutation fuzzing with fixed seeds (a failure repeats exactly): mutated requests from raw
sockets, and mutated responses from a raw upstream. weir must answer every request it answers
with a well-formed status line, never send the strict test upstream anything it cannot parse,
and hand the client only responses that parse strictly. Under ASan and UBSan (CI), a memory
error or undefined behaviour fails the test when weir stops."""
import random
import re
import socket
import threading

from harness import free_port, proxy_config

STATUS_LINE = re.compile(rb"HTTP/1\.[01] [1-5][0-9][0-9] ")

REQUEST_SEEDS = [
    b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n",
    b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\nGET /echo?2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET http://a/echo HTTP/1.1\r\nHost: b\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"POST /continue HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"HEAD /bytes?n=100 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /echo HTTP/1.0\r\n\r\n",
]
REQUEST_TOKENS = [
    b"\r\n", b"\n", b"\r", b" ", b"\t", b"\x00", b":", b",", b";", b"0", b"chunked", b"\xff", b"#",
    b"Content-Length: 7\r\n", b"Transfer-Encoding: chunked\r\n", b"Host: x\r\n", b"HTTP/1.1",
    b"ffffffffffffffff", b"\r\n\r\n",
]

RESPONSE_SEEDS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\n\r\nuntil close",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
]
RESPONSE_TOKENS = [
    b"\r\n", b"\n", b"\r", b" ", b"\x00", b":", b"0", b"\xff", b"ffffffff", b"\r\n\r\n",
    b"Content-Length: 9\r\n", b"Transfer-Encoding: chunked\r\n", b"HTTP/1.1 200 OK\r\n",
    b"Connection: close\r\n",
]


def mutate(rnd, data, tokens, seeds, max_ops):
    """1..max_ops edits: overwrite a byte, insert a token, delete a run, repeat a run, or (with
    seeds) splice in a whole other message."""
    b = bytearray(data)
    for _ in range(rnd.randint(1, max_ops)):
        op, i = rnd.randrange(5 if seeds else 4), rnd.randrange(len(b) + 1)
        if op == 0:
            if b:
                b[min(i, len(b) - 1)] = rnd.randrange(256)
        elif op == 1:
            b[i:i] = rnd.choice(tokens)
        elif op == 2:
            del b[i:i + rnd.randint(1, 8)]
        elif op == 3:
            b[i:i] = b[i:i + rnd.randint(1, 40)]
        else:
            b[i:i] = rnd.choice(seeds)
    return bytes(b)


def read_all(sock, limit=1 << 20):
    out = b""
    try:
        while len(out) < limit:
            piece = sock.recv(65536)
            if not piece:
                break
            out += piece
    except (socket.timeout, ConnectionResetError):
        pass
    return out


def test_mutated_requests_get_well_formed_answers_and_never_reach_the_upstream_malformed(
        upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, workers=1,
                          limits={"max_header_bytes": "4KiB", "max_uri_bytes": "1KiB",
                                  "max_body_bytes": "64KiB"},
                          timeouts={"client_header": "2s", "client_body": "2s"}))
    rnd = random.Random(20261124)
    answered = 0
    for _ in range(500):
        data = mutate(rnd, rnd.choice(REQUEST_SEEDS), REQUEST_TOKENS, REQUEST_SEEDS, 4)
        with socket.create_connection(("127.0.0.1", w.port), timeout=5) as c:
            c.settimeout(0.3)
            split = rnd.randint(1, len(data)) if rnd.random() < 0.3 else len(data)
            try:
                c.sendall(data[:split])
                c.sendall(data[split:])
                if rnd.random() < 0.2:
                    c.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass                      # weir already refused what it had read
            out = read_all(c)
        assert w.running, f"weir exited after {data!r}"
        if out:
            answered += 1
            assert STATUS_LINE.match(out), f"{data!r} was answered with {out[:200]!r}"
    assert answered > 300                 # most inputs are complete enough to get an answer
    assert web.stats()["errors"] == []    # nothing malformed went upstream


class RawUpstream:
    """Answers each request head with a mutated response; closes after it half the time."""

    def __init__(self, seed):
        self.rnd, self.lock = random.Random(seed), threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(5)
        with conn:
            try:
                while True:
                    head = b""
                    while b"\r\n\r\n" not in head:
                        piece = conn.recv(65536)
                        if not piece:
                            return
                        head += piece
                    with self.lock:
                        reply = mutate(self.rnd, self.rnd.choice(RESPONSE_SEEDS), RESPONSE_TOKENS,
                                       None, 3)
                        close = self.rnd.random() < 0.5
                    conn.sendall(reply)
                    if close:
                        return
            except OSError:
                return

    def close(self):
        self.sock.close()


class StrictReader:
    def __init__(self, sock):
        self.sock, self.buf, self.received = sock, b"", 0

    def _fill(self):
        try:
            piece = self.sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            piece = b""
        self.buf += piece
        self.received += len(piece)
        return bool(piece)

    def line(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def take(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError
        self.buf = self.buf[n:]

    def response(self, head_request):
        """Reads one final response (after any 1xx); returns (status, headers, reusable)."""
        while True:
            status_line = self.line()
            assert re.fullmatch(rb"HTTP/1\.1 ([1-5][0-9][0-9]) [^\r\n]*", status_line), status_line
            status, fields = int(status_line[9:12]), {}
            while line := self.line():
                assert b":" in line and line[:1] not in b" \t", line
                name, value = line.split(b":", 1)
                assert name.lower() not in fields or name.lower() not in (
                    b"content-length", b"transfer-encoding"), line
                fields[name.lower()] = value.strip()
            if status >= 200:
                break
        assert not (b"content-length" in fields and b"transfer-encoding" in fields), fields
        if head_request or status in (204, 304):
            assert status != 204 or b"content-length" not in fields, fields
            return status, fields, True
        if b"transfer-encoding" in fields:
            assert fields[b"transfer-encoding"] == b"chunked", fields
            while size := int(self.line().split(b";")[0], 16):
                self.take(size)
                assert self.line() == b""
            while self.line():
                pass
            return status, fields, True
        if b"content-length" in fields:
            self.take(int(fields[b"content-length"]))
            return status, fields, True
        while self._fill():               # delimited by the close
            pass
        return status, fields, False


def test_mutated_upstream_responses_reach_the_client_well_framed_or_as_502(weir):
    raw = RawUpstream(seed=20261124)
    try:
        w = weir(proxy_config(free_port(), {"raw": [raw.address]}, workers=1,
                              upstream_timeouts={"response": "300ms"}))
        rnd = random.Random(7)
        outcomes = {}
        for _ in range(250):
            with socket.create_connection(("127.0.0.1", w.port), timeout=5) as c:
                c.settimeout(3)
                reader = StrictReader(c)
                head = rnd.random() < 0.15
                c.sendall((b"HEAD" if head else b"GET") + b" /x HTTP/1.1\r\nHost: a\r\n\r\n")
                try:
                    status, fields, reusable = reader.response(head)
                    outcome = status
                    if reusable and fields.get(b"connection", b"").lower() != b"close":
                        c.sendall(b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n")
                        try:
                            reader.response(False)
                        except EOFError:
                            pass          # an idle connection may be closed
                except EOFError:
                    # Closing is right only once part of the response has gone out.
                    assert reader.received > 0, "weir closed without answering"
                    outcome = "cut"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            assert w.running
        assert outcomes.get(502, 0) > 0 and outcomes.get(200, 0) > 0, outcomes
    finally:
        raw.close()
