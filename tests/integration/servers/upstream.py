#!/usr/bin/env python3
"""Fake HTTP/1.1 upstream for weir's integration tests: one thread per connection, keep-alive,
strict request framing (anything malformed that weir sends is recorded in /__stats "errors").

Run: upstream.py --name a [--host 127.0.0.1] [--port 0] [--ready-file F] [--idle-timeout 60]
                  [--delay-ms 0]
Once listening it writes its port to --ready-file. Every response carries `X-Upstream: <name>`.
--delay-ms N (or GET /__delay?ms=N at any time) waits N ms before answering every request other
than the control endpoints: a uniformly slow server among fast ones, for balancing tests.

Endpoints (query parameters in brackets):
  /echo [close=1]        JSON: server, method, path, version, headers (list of pairs), body_length,
                         body_sha256; close=1 answers with Connection: close and closes
  /bytes n=N [chunked=1|close=1]  N pattern bytes (servers/pattern.py) with Content-Length, chunked,
                         or delimited by closing the connection
  /upload [delay_ms=N]   reads the body (Content-Length or chunked) while hashing; waits N ms before
                         reading it; JSON: length, sha256, transfer_encoding, content_length
  /slow ms=N             reads the body, sleeps N ms, answers "slow\n"
  /status code=N [cl=M]  answers status N; 204/304 without a body (with Content-Length: M if given)
  /continue              sends `100 Continue` when asked (Expect: 100-continue), then reads the body
  /early                 sends `103 Early Hints`, then 200 "early\n"
  /hop                   200 carrying hop-by-hop headers that a proxy must not pass on
  /abort after=N [chunked=1]  promises more than N bytes, sends N, closes
  /raw name=NAME [keep=1]  sends a canned malformed response (see RAW) and closes (keep=1: reads
                         the next request on the same connection instead)
  /ws                    WebSocket (RFC 6455) handshake, then echoes every frame
  /reset-after-read      reads the whole request, then resets the connection (RST) unanswered
  /healthz               the health endpoint: 200 "ok\n" unless changed by /__health
  /__stats               JSON counters (see Stats.snapshot); /__reset zeroes them
  /__delay ms=N          from now on, wait N ms before answering each counted request
  /__health [status=N] [body=TEXT] [delay_ms=N]  from now on /healthz answers status N with
                         body TEXT (200, "ok\n"), after waiting N ms (0)
  /__fail mode=none|reset|status [code=N]  from now on every counted request (any path) is
                         answered normally (none), reset after its request was read (reset), or
                         answered with status N (status, default 503)
Connections whose first request is a control endpoint (/__...) are not counted anywhere.
Connections whose first request is /healthz (health probes) count only in "probes" (and the
head of the last one is kept as "last_probe").
"""
import argparse
import base64
import hashlib
import json
import socket
import socketserver
import struct
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pattern  # noqa: E402

MAX_HEAD_BYTES = 1 << 20
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

RAW = {
    "cl_and_te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n0\r\n\r\n",
    "bad_status_line": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nhi",
    "garbage": b"this is not http at all\r\n\r\n",
    "dup_cl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi",
    "bad_cl": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhi",
    "neg_cl": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhi",
    "empty": b"",
    "two_digit_status": b"HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nhi",
    "status_over_599": b"HTTP/1.1 999 Weird\r\nContent-Length: 2\r\n\r\nhi",
    # a sound head, then a chunk size that is not hex, in the same packet
    "bad_chunk_after_head": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"zz\r\nhello\r\n0\r\n\r\n",
    "no_content_with_length": b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
    # a complete response followed by bytes nobody asked for (a desync attempt): see /raw keep=1
    "desync": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
              b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Upstream: smuggled\r\n\r\nsmuggled",
}


class ProtocolError(Exception):
    """The peer sent something that is not valid HTTP/1.1 framing."""


class PeerClosed(Exception):
    """The peer closed (or reset) the connection in the middle of a message."""


class Stats:
    """Counters shared by all connection threads; guarded by `lock`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = 0        # request heads parsed
        self.responses = 0       # final responses fully sent
        self.connections = 0     # connections that carried at least one request
        self.accepted = 0        # TCP connections accepted (whether or not any byte came)
        self.open = 0            # of those, currently open
        self.bytes_received = 0
        self.aborted = 0         # peer went away mid-message
        self.ws_sessions = 0
        self.probes = 0          # /healthz requests (on connections not counted elsewhere)
        self.last_probe = None   # {method, path, version, headers} of the last /healthz request
        self.received = []      # {method, path, version, headers} per request head
        self.errors = []        # malformed input from the peer (weir): should stay empty

    def snapshot(self):
        return {k: getattr(self, k) for k in (
            "requests", "responses", "connections", "accepted", "open", "bytes_received",
            "aborted", "ws_sessions", "probes", "last_probe", "received", "errors")}


STATS = Stats()
DELAY_MS = 0  # added to every non-control request (--delay-ms, /__delay)
HEALTH = {"status": 200, "body": b"ok\n", "delay_ms": 0}  # what /healthz answers (/__health)
FAIL = {"mode": "none", "code": 503}  # how counted requests fail (/__fail)
HEALTH_PATH = "/healthz"


class Peer:
    """Buffered reader over one accepted socket; counts received bytes once it is known to be a
    counted (non-control) connection."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.counted = False
        self.pending_bytes = 0

    def count(self):
        self.counted = True
        with STATS.lock:
            STATS.bytes_received += self.pending_bytes
        self.pending_bytes = 0

    def fill(self) -> bool:
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            data = b""
        if not data:
            return False
        if self.counted:
            with STATS.lock:
                STATS.bytes_received += len(data)
        else:
            self.pending_bytes += len(data)
        self.buf += data
        return True

    def readline(self, limit=MAX_HEAD_BYTES):
        """One CRLF-terminated line including the CRLF; None on EOF before any byte."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                if not line.endswith(b"\r\n"):
                    raise ProtocolError("bare LF line ending")
                return line
            if len(self.buf) > limit:
                raise ProtocolError("line too long")
            if not self.fill():
                if self.buf:
                    raise PeerClosed("closed in the middle of a line")
                return None

    def read_exact(self, n, sink=None):
        """Reads n bytes, handing them to sink (or returning them when sink is None)."""
        out = bytearray() if sink is None else None
        while n > 0:
            if not self.buf and not self.fill():
                raise PeerClosed(f"closed with {n} body bytes missing")
            take = min(n, len(self.buf))
            piece = self.buf[:take]
            del self.buf[:take]
            n -= take
            if sink is None:
                out += piece
            else:
                sink(piece)
        return bytes(out) if out is not None else None


class Request:
    def __init__(self, method, target, version, headers):
        self.method, self.target, self.version, self.headers = method, target, version, headers
        url = urlsplit(target)
        self.path = url.path
        self.query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.chunked = False
        self.content_length = None
        self.body_length = 0
        self.body_sha256 = hashlib.sha256().hexdigest()
        self.body_read = False

    def header(self, name, default=None):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default

    def tokens(self, name):
        return [t.strip().lower() for n, v in self.headers if n.lower() == name.lower()
                for t in v.split(",") if t.strip()]

    def wants_close(self):
        conn = self.tokens("connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" not in conn
        return "close" in conn


def read_request(peer):
    """Parses one request head strictly; None on a clean EOF between requests."""
    line = peer.readline()
    if line is None:
        return None
    parts = line[:-2].split(b" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise ProtocolError(f"bad request line {line!r}")
    method, target, version = (p.decode("latin-1") for p in parts)
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise ProtocolError(f"bad version {version!r}")
    headers, size = [], len(line)
    while True:
        line = peer.readline()
        if line is None:
            raise PeerClosed("closed in the middle of a request head")
        size += len(line)
        if size > MAX_HEAD_BYTES:
            raise ProtocolError("request head too large")
        if line == b"\r\n":
            break
        if line[:1] in (b" ", b"\t"):
            raise ProtocolError(f"obs-fold {line!r}")
        name, sep, value = line[:-2].partition(b":")
        if not sep or not name or any(c in name for c in b" \t\r\0"):
            raise ProtocolError(f"bad header line {line!r}")
        value = value.strip(b" \t")
        if any(c in value for c in b"\r\n\0"):
            raise ProtocolError(f"bad header value {line!r}")
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
    req = Request(method, target, version, headers)
    te = [v for n, v in headers if n.lower() == "transfer-encoding"]
    cl = [v for n, v in headers if n.lower() == "content-length"]
    if te and cl:
        raise ProtocolError("both Content-Length and Transfer-Encoding")
    if len(te) > 1 or (te and te[0].lower() != "chunked"):
        raise ProtocolError(f"unsupported Transfer-Encoding {te!r}")
    if len(cl) > 1 or (cl and not cl[0].isdigit()):
        raise ProtocolError(f"bad Content-Length {cl!r}")
    req.chunked = bool(te)
    req.content_length = int(cl[0]) if cl else None
    return req


def read_body(peer, req, sink=None):
    """Reads the whole request body, hashing it; records length and sha256 on req."""
    if req.body_read:
        return
    h = hashlib.sha256()
    total = 0

    def take(piece):
        nonlocal total
        h.update(piece)
        total += len(piece)
        if sink:
            sink(piece)

    if req.chunked:
        while True:
            line = peer.readline(limit=4096)
            if line is None:
                raise PeerClosed("closed before a chunk header")
            size_text = line[:-2].split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
                if not size_text or size_text.startswith((b"-", b"+", b"0x", b"0X")):
                    raise ValueError
            except ValueError:
                raise ProtocolError(f"bad chunk size {line!r}")
            if size == 0:
                break
            peer.read_exact(size, take)
            if peer.read_exact(2) != b"\r\n":
                raise ProtocolError("chunk not followed by CRLF")
        while True:  # trailer section
            line = peer.readline()
            if line is None:
                raise PeerClosed("closed in the trailer section")
            if line == b"\r\n":
                break
    elif req.content_length:
        peer.read_exact(req.content_length, take)
    req.body_length = total
    req.body_sha256 = h.hexdigest()
    req.body_read = True


class Handler(socketserver.BaseRequestHandler):
    server_name = "upstream"
    idle_timeout = 60.0

    def setup(self):
        # Heads and bodies go out in separate writes: without TCP_NODELAY, Nagle holds the body
        # until weir's delayed ACK (~40 ms), and every "fast" response would take that long.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.peer = Peer(self.request)
        self.control = None  # None until the first request says which kind of connection this is
        with STATS.lock:
            STATS.accepted += 1
            STATS.open += 1

    def handle(self):
        peer = self.peer
        try:
            while True:
                self.request.settimeout(self.idle_timeout)
                try:
                    req = read_request(peer)
                except socket.timeout:
                    return  # idle keep-alive connection: close it like a real server would
                self.request.settimeout(30.0)
                if req is None:
                    return
                if self.control is None:
                    self.control = req.path.startswith("/__") or req.path == HEALTH_PATH
                    with STATS.lock:
                        if self.control:
                            STATS.accepted -= 1
                            STATS.open -= 1
                        else:
                            STATS.connections += 1
                    if not self.control:
                        peer.count()
                if req.path == HEALTH_PATH:
                    with STATS.lock:
                        STATS.probes += 1
                        STATS.last_probe = {"method": req.method, "path": req.target,
                                            "version": req.version,
                                            "headers": [list(h) for h in req.headers]}
                elif not self.control:
                    with STATS.lock:
                        STATS.requests += 1
                        STATS.received.append({"method": req.method, "path": req.target,
                                               "version": req.version,
                                               "headers": [list(h) for h in req.headers]})
                if not self.dispatch(req):
                    return
        except ProtocolError as e:
            self.note_error(str(e))
            self.send_raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                          b"Connection: close\r\n\r\n")
        except (PeerClosed, ConnectionError, socket.timeout, BrokenPipeError, OSError):
            if self.control is not True:
                with STATS.lock:
                    STATS.aborted += 1

    def finish(self):
        if getattr(self, "reset_connection", False):
            # SO_LINGER 0: close() sends RST instead of FIN, like a crashed server process.
            try:
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                self.request.close()
            except OSError:
                pass
        if self.control is not True:
            with STATS.lock:
                STATS.open -= 1
                if self.control is None:
                    STATS.bytes_received += self.peer.pending_bytes
        if getattr(self, "reset_connection", False):
            return
        # Lingering close: send FIN, then drain what the peer still sends (briefly), so that unread
        # input does not turn our close into a RST that could destroy the response in flight.
        try:
            self.request.shutdown(socket.SHUT_WR)
            self.request.settimeout(1.0)
            while self.request.recv(65536):
                pass
        except OSError:
            pass

    def note_error(self, message):
        if self.control is not True:
            with STATS.lock:
                STATS.errors.append(message)

    # -- writing ---------------------------------------------------------------------------------

    def send_raw(self, data):
        try:
            self.request.sendall(data)
        except OSError:
            pass

    def send_head(self, status, headers=(), reason=None):
        reason = reason or REASONS.get(status, "Status")
        lines = [f"HTTP/1.1 {status} {reason}", f"X-Upstream: {self.server_name}"]
        lines += [f"{n}: {v}" for n, v in headers]
        self.request.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def respond(self, req, status, body=b"", headers=(), close=False):
        """A complete response with Content-Length (HEAD: head only). Returns keep-alive."""
        headers = list(headers)
        close = close or req.wants_close()
        if status not in (204, 304) and status >= 200:
            headers.append(("Content-Length", str(len(body))))
        if close:
            headers.append(("Connection", "close"))
        self.send_head(status, headers)
        if req.method != "HEAD" and status not in (204, 304):
            self.request.sendall(body)
        self.count_response()
        return not close

    def respond_json(self, req, obj, status=200, close=False):
        body = json.dumps(obj).encode()
        return self.respond(req, status, body, [("Content-Type", "application/json")], close)

    def count_response(self):
        if self.control is not True:
            with STATS.lock:
                STATS.responses += 1

    # -- endpoints -------------------------------------------------------------------------------

    def dispatch(self, req):
        """Answers one request; returns whether the connection stays open."""
        handler = getattr(self, "do_" + req.path.strip("/").replace("/", "_").replace("-", "_"),
                          None)
        if req.path not in ("/upload", "/continue", "/ws"):
            read_body(self.peer, req)
        if not self.control and DELAY_MS > 0:
            time.sleep(DELAY_MS / 1000)
        if not self.control and req.path != HEALTH_PATH and FAIL["mode"] != "none":
            if FAIL["mode"] == "reset":
                return self.do_reset_after_read(req)
            code = FAIL["code"]
            return self.respond(req, code, f"failing with {code}\n".encode(),
                                [("Content-Type", "text/plain")])
        if handler is None:
            return self.respond(req, 404, b"no such endpoint\n", [("Content-Type", "text/plain")])
        return handler(req)

    def do___stats(self, req):
        with STATS.lock:
            snap = STATS.snapshot()
        return self.respond_json(req, snap)

    def do___delay(self, req):
        global DELAY_MS
        DELAY_MS = int(req.query.get("ms", "0"))
        return self.respond_json(req, {"delay_ms": DELAY_MS})

    def do___health(self, req):
        if "status" in req.query:
            HEALTH["status"] = int(req.query["status"])
        if "body" in req.query:
            HEALTH["body"] = req.query["body"].encode()
        if "delay_ms" in req.query:
            HEALTH["delay_ms"] = int(req.query["delay_ms"])
        return self.respond_json(req, {"status": HEALTH["status"],
                                       "body": HEALTH["body"].decode("latin-1"),
                                       "delay_ms": HEALTH["delay_ms"]})

    def do___fail(self, req):
        mode = req.query.get("mode", "none")
        if mode not in ("none", "reset", "status"):
            return self.respond_json(req, {"error": f"unknown mode {mode}"}, status=400)
        FAIL["mode"] = mode
        FAIL["code"] = int(req.query.get("code", "503"))
        return self.respond_json(req, dict(FAIL))

    def do_healthz(self, req):
        if HEALTH["delay_ms"]:
            time.sleep(HEALTH["delay_ms"] / 1000)
        return self.respond(req, HEALTH["status"], HEALTH["body"],
                            [("Content-Type", "text/plain")])

    def do_reset_after_read(self, req):
        self.reset_connection = True  # finish() closes with RST; nothing is answered
        return False

    def do___reset(self, req):
        with STATS.lock:
            STATS.reset()
        return self.respond_json(req, {"reset": True})

    def do_echo(self, req):
        return self.respond_json(req, {
            "server": self.server_name, "method": req.method, "path": req.target,
            "version": req.version, "headers": [list(h) for h in req.headers],
            "body_length": req.body_length, "body_sha256": req.body_sha256,
        }, close=req.query.get("close") == "1")

    def do_bytes(self, req):
        n = int(req.query.get("n", "0"))
        headers = [("Content-Type", "application/octet-stream")]
        head_only = req.method == "HEAD"
        if req.query.get("chunked") == "1":
            self.send_head(200, headers + [("Transfer-Encoding", "chunked")])
            if not head_only:
                sizes, i = (1, 100, 8192, 65535, 262144, 1 << 20), 0
                pos = 0
                while pos < n:
                    size = min(sizes[i % len(sizes)], n - pos)
                    i += 1
                    self.request.sendall(b"%x\r\n" % size)
                    for c in pattern.chunks(size, pos):
                        self.request.sendall(c)
                    self.request.sendall(b"\r\n")
                    pos += size
                self.request.sendall(b"0\r\n\r\n")
            self.count_response()
            return not req.wants_close()
        if req.query.get("close") == "1":
            self.send_head(200, headers + [("Connection", "close")])
            if not head_only:
                for c in pattern.chunks(n):
                    self.request.sendall(c)
            self.count_response()
            return False
        close = req.wants_close()
        self.send_head(200, headers + [("Content-Length", str(n))] +
                       ([("Connection", "close")] if close else []))
        if not head_only:
            for c in pattern.chunks(n):
                self.request.sendall(c)
        self.count_response()
        return not close

    def do_upload(self, req):
        delay_ms = int(req.query.get("delay_ms", "0"))
        if delay_ms:
            time.sleep(delay_ms / 1000)
        read_body(self.peer, req)
        return self.respond_json(req, {
            "server": self.server_name, "length": req.body_length, "sha256": req.body_sha256,
            "transfer_encoding": req.header("Transfer-Encoding"),
            "content_length": req.header("Content-Length"),
        })

    def do_slow(self, req):
        time.sleep(int(req.query.get("ms", "1000")) / 1000)
        return self.respond(req, 200, b"slow\n", [("Content-Type", "text/plain")])

    def do_status(self, req):
        code = int(req.query.get("code", "200"))
        if code in (204, 304):
            headers = [("ETag", '"v1"')]
            if "cl" in req.query:
                headers.append(("Content-Length", req.query["cl"]))
            close = req.wants_close()
            if close:
                headers.append(("Connection", "close"))
            self.send_head(code, headers)
            self.count_response()
            return not close
        return self.respond(req, code, f"status {code}\n".encode(),
                            [("Content-Type", "text/plain")])

    def do_continue(self, req):
        sent_continue = False
        if "100-continue" in req.tokens("expect"):
            self.request.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            sent_continue = True
        read_body(self.peer, req)
        return self.respond_json(req, {
            "server": self.server_name, "length": req.body_length, "sha256": req.body_sha256,
            "sent_continue": sent_continue,
        })

    def do_early(self, req):
        self.request.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        return self.respond(req, 200, b"early\n", [("Content-Type", "text/plain")])

    def do_hop(self, req):
        return self.respond(req, 200, b"hop\n", [
            ("Content-Type", "text/plain"), ("Connection", "X-Hop-Secret"), ("X-Hop-Secret", "1"),
            ("Keep-Alive", "timeout=99"), ("Proxy-Connection", "keep-alive"), ("Upgrade", "foo/1"),
            ("X-End-To-End", "kept"),
        ])

    def do_abort(self, req):
        after = int(req.query.get("after", "1000"))
        if req.query.get("chunked") == "1":
            self.send_head(200, [("Transfer-Encoding", "chunked")])
            self.request.sendall(b"%x\r\n" % after + pattern.data(after) + b"\r\n")
        else:
            self.send_head(200, [("Content-Length", str(after + 10000))])
            self.request.sendall(pattern.data(after))
        return False

    def do_raw(self, req):
        self.send_raw(RAW[req.query["name"]])
        return req.query.get("keep") == "1"

    def do_ws(self, req):
        key = req.header("Sec-WebSocket-Key")
        if "websocket" not in req.tokens("upgrade") or not key:
            return self.respond(req, 400, b"not a websocket handshake\n")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_head(101, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                             ("Sec-WebSocket-Accept", accept)], reason="Switching Protocols")
        with STATS.lock:
            STATS.ws_sessions += 1
        self.request.settimeout(30.0)
        self.ws_echo()
        return False

    def ws_echo(self):
        peer = self.peer
        while True:
            if not peer.buf and not peer.fill():
                return
            b0, b1 = peer.read_exact(2)
            opcode, length = b0 & 0x0F, b1 & 0x7F
            if length == 126:
                length = struct.unpack("!H", peer.read_exact(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", peer.read_exact(8))[0]
            mask = peer.read_exact(4) if b1 & 0x80 else None
            payload = bytearray(peer.read_exact(length))
            if mask:
                for i in range(len(payload)):
                    payload[i] ^= mask[i % 4]
            if opcode == 0x9:       # ping -> pong
                b0, opcode = 0x8A, 0xA
            elif opcode == 0xA:     # pong: nothing to do
                continue
            header = bytes([b0])
            if length < 126:
                header += bytes([length])
            elif length < 65536:
                header += bytes([126]) + struct.pack("!H", length)
            else:
                header += bytes([127]) + struct.pack("!Q", length)
            self.request.sendall(header + payload)
            if opcode == 0x8:       # close: echoed, now done
                return


REASONS = {100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created",
           204: "No Content", 304: "Not Modified", 400: "Bad Request", 404: "Not Found",
           500: "Internal Server Error", 503: "Service Unavailable"}


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ready-file")
    ap.add_argument("--idle-timeout", type=float, default=60.0)
    ap.add_argument("--delay-ms", type=int, default=0)
    args = ap.parse_args()

    Handler.server_name = args.name
    Handler.idle_timeout = args.idle_timeout
    global DELAY_MS
    DELAY_MS = args.delay_ms
    if ":" in args.host:
        Server.address_family = socket.AF_INET6
    server = Server((args.host, args.port), Handler)
    port = server.server_address[1]
    if args.ready_file:
        tmp = Path(args.ready_file + ".tmp")
        tmp.write_text(str(port))
        tmp.rename(args.ready_file)
    print(f"upstream {args.name} listening on {args.host}:{port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
