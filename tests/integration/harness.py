"""Integration harness: runs the real weir binary and fake upstreams as separate processes on
loopback, and speaks raw HTTP/1.1 to them. Every wait is bounded by a deadline; every process is
started in its own session and stopped by its own PID (and process group).
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from servers import pattern

HERE = Path(__file__).resolve().parent
REPO = Path(__file__).resolve().parents[2]
WEIR_BIN = Path(os.environ.get("WEIR_BIN", str(REPO / "build/weir")))
UPSTREAM_SCRIPT = HERE / "servers" / "upstream.py"
DRF_APP_DIR = HERE / "apps" / "drf"
GUNICORN = "/usr/bin/gunicorn"
PYTHON = sys.executable
SANITIZED = os.environ.get("WEIR_SANITIZED") == "1"
DEFAULT_TIMEOUT = 5.0


# --------------------------------------------------------------------------------------------
# small utilities

def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_EPHEMERAL_LOW = _ephemeral_low()
_handed_out: set[int] = set()
_random = random.Random()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago and is not handed out twice by this run.

    Picked below the ephemeral range: a port bound to 0 and closed is one that any outgoing
    connection of this machine (a test's client, weir's upstream connections) may take as its
    local port before the test binds it; ports below the range are never taken that way."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    low = max(1024, min(20000, _EPHEMERAL_LOW - 4096))
    for _ in range(200):
        port = _random.randrange(low, _EPHEMERAL_LOW)
        if port in _handed_out:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket(family, socket.SOCK_STREAM) as s:  # the range is crowded: any free port
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, what: str = "condition",
               interval: float = 0.02):
    """Polls predicate until it returns something truthy (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def port_accepts(host: str, port: int, timeout: float = 0.25) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def connection_refused(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when connecting gets ECONNREFUSED (nobody listening)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def tcp_counters(local_port: int, remote_port: int) -> dict[str, int]:
    """The segment counters of one connection's socket (the end bound to `local_port`), from
    `ss -i`: segs_out, data_segs_out, segs_in, data_segs_in (0 when ss leaves one out)."""
    out = subprocess.run(["ss", "-tinH", f"( sport = :{local_port} and dport = :{remote_port} )"],
                         capture_output=True, text=True, check=True).stdout
    assert f":{remote_port}" in out, out
    names = ("segs_out", "data_segs_out", "segs_in", "data_segs_in")
    return {n: int(m.group(1)) if (m := re.search(rf"\b{n}:(\d+)", out)) else 0 for n in names}


def _split_hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _stop_process(proc: subprocess.Popen, sig: int, timeout: float) -> int | None:
    """Sends sig to proc and waits; on timeout SIGKILLs the process group we started. Returns the
    exit code, or None when it had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.wait(5)
        return None


def _kill_group(proc: subprocess.Popen) -> None:
    # start_new_session=True made proc.pid the id of the group holding only what we started.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _proc_status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{key} not in /proc/{pid}/status")


# --------------------------------------------------------------------------------------------
# config text

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*|\d+(ms|s|m|h|B|KiB|MiB|GiB)")


def _yaml_scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    return s if _PLAIN.fullmatch(s) and s not in ("true", "false", "null", "yes", "no") \
        else json.dumps(s)


def to_yaml(value, indent: int = 0) -> str:
    """Block-style YAML for nested dicts/lists/scalars (strings quoted unless plainly safe)."""
    pad = " " * indent
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:\n{to_yaml(v, indent + 2)}")
            elif isinstance(v, (dict, list)):
                out.append(f"{pad}{k}: {'{}' if isinstance(v, dict) else '[]'}")
            else:
                out.append(f"{pad}{k}: {_yaml_scalar(v)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                inner = to_yaml(item, indent + 2)
                out.append(pad + "- " + inner[indent + 2:])
            else:
                out.append(f"{pad}- {_yaml_scalar(item)}")
    else:
        out.append(pad + _yaml_scalar(value))
    return "\n".join(out)


def proxy_config(port: int, upstreams: dict[str, list], *, routes: list | None = None,
                 workers=2, listen_host: str = "127.0.0.1", limits: dict | None = None,
                 timeouts: dict | None = None, access_log: dict | None = None,
                 upstream_timeouts: dict | None = None, keepalive: dict | None = None) -> str:
    """A weir config with one listener named `public`. upstreams maps a name to servers, each an
    address string or (address, weight). Default route: everything to the first upstream.
    Timeouts default short so failures show up quickly."""
    ups = []
    for name, servers in upstreams.items():
        entries = []
        for s in servers:
            if isinstance(s, tuple):
                entries.append({"address": s[0], "weight": s[1]})
            else:
                entries.append({"address": s})
        up = {"name": name, "servers": entries,
              "timeouts": {"connect": "1s", "response": "5s", **(upstream_timeouts or {})}}
        if keepalive:
            up["keepalive"] = keepalive
        ups.append(up)
    if routes is None:
        routes = [{"match": {"path_prefix": "/"}, "upstream": next(iter(upstreams))}]
    cfg = {
        "workers": workers,
        "listeners": [{"name": "public", "listen": _format_hostport(listen_host, port),
                       "routes": routes}],
        "upstreams": ups,
        "timeouts": {"client_header": "5s", "client_body": "5s", "keepalive": "10s",
                     "shutdown_grace": "5s", **(timeouts or {})},
    }
    if limits:
        cfg["limits"] = limits
    if access_log:
        cfg["access_log"] = access_log
    return to_yaml(cfg) + "\n"


# --------------------------------------------------------------------------------------------
# HTTP/1.1 client over a raw socket

class IncompleteResponse(AssertionError):
    """The server closed the connection before a complete response."""

    def __init__(self, message: str, partial: bytes = b""):
        super().__init__(message)
        self.partial = partial


@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    body_length: int = 0
    interim: list["Response"] = field(default_factory=list)  # 1xx responses before this one

    def header(self, name: str, default: str | None = None) -> str | None:
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default

    def header_all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def tokens(self, name: str) -> list[str]:
        return [t.strip().lower() for v in self.header_all(name) for t in v.split(",") if t.strip()]

    def json(self):
        return json.loads(self.body)

    @property
    def upstream(self) -> str | None:
        """Which fake upstream answered (its X-Upstream header)."""
        return self.header("X-Upstream")


def build_request(method: str, target: str, headers: Iterable[tuple[str, str]] | dict = (),
                  body: bytes | None = None, host: str | None = "weir.test",
                  version: str = "HTTP/1.1") -> bytes:
    """Request bytes; adds Host (unless host is None) and Content-Length when a body is given and
    the caller set neither Content-Length nor Transfer-Encoding."""
    headers = list(headers.items()) if isinstance(headers, dict) else list(headers)
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    names = {n.lower() for n, _ in headers}
    if body is not None and not names & {"content-length", "transfer-encoding"}:
        headers.append(("Content-Length", str(len(body))))
    lines += [f"{n}: {v}" for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def chunked(body: bytes, sizes: Iterable[int] = (1, 10, 4096, 65536)) -> bytes:
    """body in chunked encoding, cut into pieces cycling through sizes."""
    out, pos, sizes = [], 0, list(sizes)
    i = 0
    while pos < len(body):
        n = min(sizes[i % len(sizes)], len(body) - pos)
        out.append(b"%x\r\n" % n + body[pos:pos + n] + b"\r\n")
        pos += n
        i += 1
    return b"".join(out) + b"0\r\n\r\n"


class HttpClient:
    """One client connection over a plain socket. Each read is bounded by `timeout` seconds."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = DEFAULT_TIMEOUT):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def request(self, method: str, target: str, headers=(), body: bytes | None = None,
                host: str | None = "weir.test", sink=None,
                timeout: float | None = None) -> Response:
        self.send(build_request(method, target, headers, body, host))
        return self.read_response(method, sink=sink, timeout=timeout)

    def get(self, target: str, headers=(), **kw) -> Response:
        return self.request("GET", target, headers, **kw)

    # -- reading ---------------------------------------------------------------------------------

    def _fill(self, deadline: float) -> bool:
        """Reads more into buf; False on EOF (or reset). Raises TimeoutError at the deadline."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from server before the deadline")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError("no data from server before the deadline") from None
        except (ConnectionResetError, ConnectionAbortedError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _line(self, deadline: float) -> bytes:
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if not self._fill(deadline):
                raise IncompleteResponse("connection closed inside a response head",
                                         bytes(self.buf))

    def _exact(self, n: int, deadline: float, sink) -> int:
        """Passes n body bytes to sink; returns n. Large reads go straight from the socket."""
        left = n
        if self.buf:
            take = min(left, len(self.buf))
            sink(bytes(self.buf[:take]))
            del self.buf[:take]
            left -= take
        scratch = memoryview(bytearray(1 << 20)) if left > (1 << 16) else None
        while left > 0:
            if scratch is None:
                if not self._fill(deadline):
                    raise IncompleteResponse(f"connection closed with {left} of {n} body bytes "
                                             "missing")
                take = min(left, len(self.buf))
                sink(bytes(self.buf[:take]))
                del self.buf[:take]
                left -= take
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"body incomplete at the deadline ({left} of {n} bytes missing)")
            self.sock.settimeout(remaining)
            try:
                got = self.sock.recv_into(scratch, min(left, len(scratch)))
            except socket.timeout:
                raise TimeoutError(f"body incomplete at the deadline ({left} of {n} missing)") \
                    from None
            except (ConnectionResetError, ConnectionAbortedError):
                got = 0
            if got == 0:
                self.eof = True
                raise IncompleteResponse(f"connection closed with {left} of {n} body bytes missing")
            sink(scratch[:got])
            left -= got
        return n

    def read_head(self, timeout: float | None = None) -> Response:
        """Reads one response head (status line + headers), whatever its status."""
        deadline = time.monotonic() + (timeout or self.timeout)
        line = self._line(deadline)
        m = re.match(rb"(HTTP/\d\.\d) (\d{3})(?: ([^\r\n]*))?\r?\n$", line)
        if not m:
            raise AssertionError(f"bad status line from server: {line!r}")
        headers = []
        while True:
            h = self._line(deadline)
            if h in (b"\r\n", b"\n"):
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers.append((name, value.strip()))
        return Response(int(m.group(2)), (m.group(3) or b"").decode("latin-1"),
                        m.group(1).decode(), headers)

    def read_response(self, method: str = "GET", sink=None, timeout: float | None = None,
                      stop_at_interim: bool = False) -> Response:
        """Reads one final response (1xx collected in .interim). With sink, body bytes go to
        sink(memoryview|bytes) instead of .body; .body_length counts them either way."""
        deadline = time.monotonic() + (timeout or self.timeout)
        interim = []
        while True:
            resp = self.read_head(timeout=max(0.001, deadline - time.monotonic()))
            if 100 <= resp.status < 200 and resp.status != 101:
                interim.append(resp)
                if stop_at_interim:
                    return resp
                continue
            break
        resp.interim = interim
        parts = []
        total = 0

        def take(piece):
            nonlocal total
            total += len(piece)
            if sink is None:
                parts.append(bytes(piece))
            else:
                sink(piece)

        if method == "HEAD" or resp.status in (101, 204, 304):
            pass
        elif "chunked" in resp.tokens("transfer-encoding"):
            while True:
                size_line = self._line(deadline)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._line(deadline) not in (b"\r\n", b"\n"):
                        pass
                    break
                self._exact(size, deadline, take)
                if self._line(deadline) not in (b"\r\n", b"\n"):
                    raise AssertionError("chunk data not followed by CRLF")
        elif resp.header("content-length") is not None:
            self._exact(int(resp.header("content-length")), deadline, take)
        else:  # delimited by close
            while True:
                if self.buf:
                    take(bytes(self.buf))
                    self.buf.clear()
                if not self._fill(deadline):
                    break
        resp.body = b"".join(parts)
        resp.body_length = total
        return resp

    def read_bytes(self, n: int, timeout: float | None = None) -> bytes:
        """Exactly n raw bytes (e.g. from a tunnel); raises IncompleteResponse on close."""
        deadline = time.monotonic() + (timeout or self.timeout)
        parts = []
        self._exact(n, deadline, lambda piece: parts.append(bytes(piece)))
        return b"".join(parts)

    def read_until_close(self, timeout: float | None = None) -> tuple[bytes, bool]:
        """Everything the server sends until it closes, or until the deadline.
        Returns (data, closed)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while self._fill(deadline):
                pass
            closed = True
        except TimeoutError:
            closed = False
        data = bytes(self.buf)
        self.buf.clear()
        return data, closed

    def closed_by_peer(self, timeout: float | None = None) -> bool:
        """True if the server closes the connection within timeout (data it sends meanwhile is
        kept in the buffer)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while self._fill(deadline):
                pass
            return True
        except TimeoutError:
            return False


def raw_exchange(port: int, data: bytes, timeout: float = DEFAULT_TIMEOUT,
                 host: str = "127.0.0.1") -> tuple[bytes, bool]:
    """Sends data on a new connection and reads until the server closes or timeout passes.
    Returns (everything received, whether the server closed the connection)."""
    with HttpClient(port, host, timeout) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close before taking everything; what it answered still counts
        return c.read_until_close(timeout)


def raw_request(port: int, data: bytes, timeout: float = DEFAULT_TIMEOUT,
                host: str = "127.0.0.1") -> bytes:
    """Sends data on a new connection; returns what came back until close or timeout."""
    return raw_exchange(port, data, timeout, host)[0]


def status_of(data: bytes) -> int | None:
    """Status code of the first response in data, or None if there is no status line."""
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(m.group(1)) if m else None


def get(port: int, target: str, headers=(), host: str = "weir.test",
        timeout: float = DEFAULT_TIMEOUT) -> Response:
    """One request on a fresh connection."""
    with HttpClient(port, timeout=timeout) as c:
        return c.request("GET", target, headers, host=host)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# processes

class WeirProcess:
    """The weir binary running one config. Use as a context manager: writes the YAML to workdir,
    starts `weir -c`, waits until every listener accepts. On exit stops it (SIGTERM, then kill) and
    fails the test if weir died on its own or a sanitizer reported something."""

    def __init__(self, config: str, workdir: Path, *, name: str = "weir", args: Iterable[str] = (),
                 wait_ready: bool = True, listen: list[tuple[str, int]] | None = None,
                 env: dict[str, str] | None = None, nofile: tuple[int, int] | None = None):
        self.config = config
        self.env = env  # extra environment variables for weir (e.g. NOTIFY_SOCKET)
        self.nofile = nofile  # (soft, hard) RLIMIT_NOFILE to start weir with
        self.workdir = Path(workdir)
        self.name = name
        self.args = list(args)
        self.wait_ready_on_start = wait_ready
        self.config_path = self.workdir / f"{name}.yaml"
        self.stdout_path = self.workdir / f"{name}.stdout"
        self.stderr_path = self.workdir / f"{name}.stderr"
        self.listen = listen if listen is not None else [
            _split_hostport(m.group(1)) for m in
            re.finditer(r"""^\s*listen:\s*["']?([^\s"']+)["']?\s*$""", config, re.M)]
        self.proc: subprocess.Popen | None = None
        self.stopped_by_us = False

    # lifecycle ------------------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        died_on_its_own = self.proc is not None and self.proc.poll() is not None \
            and not self.stopped_by_us
        if self.proc is not None and self.proc.poll() is None:
            self.stopped_by_us = True
            _stop_process(self.proc, signal.SIGTERM, 10)
            _kill_group(self.proc)
        if exc_type is not None or self.proc is None:
            return False
        problems = []
        if died_on_its_own:
            problems.append(f"weir exited on its own with status {self.proc.returncode}")
        err = self.stderr_text()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer"):
            if marker in err:
                problems.append(f"sanitizer report ({marker})")
        if problems:
            raise AssertionError("; ".join(problems) + f"\n--- weir stderr ---\n{err[-6000:]}")
        return False

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config)
        if not WEIR_BIN.exists():
            raise AssertionError(f"weir binary not found at {WEIR_BIN} (build it, or set WEIR_BIN)")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [str(WEIR_BIN), "-c", str(self.config_path), *self.args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=self.workdir,
                start_new_session=True, env={**os.environ, **self.env} if self.env else None,
                preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile))
                if self.nofile else None)
        if self.wait_ready_on_start:
            self.wait_ready()

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Waits until every listener accepts connections; fails with weir's stderr otherwise."""
        deadline = time.monotonic() + timeout
        pending = list(self.listen)
        while pending:
            if self.proc.poll() is not None:
                raise AssertionError(f"weir exited with status {self.proc.returncode} before "
                                     f"listening\n--- stderr ---\n{self.stderr_text()[-6000:]}")
            pending = [hp for hp in pending if not port_accepts(*hp)]
            if not pending:
                break
            if time.monotonic() >= deadline:
                self.kill()
                raise AssertionError(f"weir not listening on {pending} after {timeout}s\n"
                                     f"--- stderr ---\n{self.stderr_text()[-6000:]}")
            time.sleep(0.02)

    def send_signal(self, sig: int) -> None:
        if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
            self.stopped_by_us = True
        os.kill(self.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Sends sig (SIGTERM) and waits for the exit status; kills weir and fails if it has not
        exited within timeout."""
        self.stopped_by_us = True
        rc = _stop_process(self.proc, sig, timeout)
        if rc is None:
            raise AssertionError(f"weir did not exit within {timeout}s of signal {sig}; killed\n"
                                 f"--- stderr ---\n{self.stderr_text()[-6000:]}")
        return rc

    def wait(self, timeout: float) -> int | None:
        """Exit status once weir has exited, or None if it is still running after timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        self.stopped_by_us = True
        if self.proc.poll() is None:
            _kill_group(self.proc)
            self.proc.wait(5)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # addresses ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.listen[0][1]

    @property
    def host(self) -> str:
        return self.listen[0][0]

    def url(self, path: str = "/", listener: int = 0) -> str:
        host, port = self.listen[listener]
        return f"http://{_format_hostport(host, port)}{path}"

    def client(self, timeout: float = DEFAULT_TIMEOUT) -> HttpClient:
        return HttpClient(self.port, self.host, timeout)

    def get(self, target: str, headers=(), host: str = "weir.test",
            timeout: float = DEFAULT_TIMEOUT) -> Response:
        with self.client(timeout) as c:
            return c.request("GET", target, headers, host=host)

    # outputs --------------------------------------------------------------------------------

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def access_log_lines(self, path: Path | str | None = None) -> list[str]:
        """Lines of the access log: weir's stdout by default, or the file at path."""
        p = Path(path) if path else self.stdout_path
        return p.read_text(errors="replace").splitlines() if p.exists() else []

    def wait_stderr(self, regex: str, since: int = 0, timeout: float = 5.0) -> re.Match:
        """Waits until stderr (from character offset `since`) matches regex (case-insensitive)."""
        rx = re.compile(regex, re.I)
        return wait_until(lambda: rx.search(self.stderr_text()[since:]), timeout,
                          f"weir stderr to match {regex!r}; it has:\n{self.stderr_text()[since:]}")

    def wait_access_log(self, predicate: Callable[[list[str]], object], path=None,
                        timeout: float = 5.0):
        return wait_until(lambda: predicate(self.access_log_lines(path)), timeout,
                          "access log condition")

    def rss_kib(self) -> int:
        return _proc_status_kib(self.pid, "VmRSS")

    def hwm_kib(self) -> int:
        return _proc_status_kib(self.pid, "VmHWM")


class Upstream:
    """servers/upstream.py running as its own process on a free port of `host`."""

    def __init__(self, name: str, workdir: Path, *, host: str = "127.0.0.1",
                 idle_timeout: float | None = None):
        self.name = name
        self.host = host
        self.workdir = Path(workdir)
        self.idle_timeout = idle_timeout
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / f"upstream-{name}.log"

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        problems = None
        if exc_type is None and self.proc is not None and self.proc.poll() is None:
            try:
                problems = self.stats()["errors"]
            except OSError as e:
                problems = [f"upstream {self.name} did not answer /__stats: {e}"]
        self.stop()
        if problems:
            raise AssertionError(f"upstream {self.name} received malformed requests from weir: "
                                 f"{problems[:10]}")
        return False

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ready = self.workdir / f"upstream-{self.name}.ready"
        ready.unlink(missing_ok=True)
        args = [PYTHON, str(UPSTREAM_SCRIPT), "--name", self.name, "--host", self.host,
                "--port", "0", "--ready-file", str(ready)]
        if self.idle_timeout is not None:
            args += ["--idle-timeout", str(self.idle_timeout)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + 10
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"upstream {self.name} did not start:\n"
                                     f"{self.log_path.read_text(errors='replace')}")
            time.sleep(0.02)
        self.port = int(ready.read_text())

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM, 5)
            _kill_group(self.proc)

    @property
    def address(self) -> str:
        return _format_hostport(self.host, self.port)

    def _control(self, path: str) -> dict:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=DEFAULT_TIMEOUT)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stats(self) -> dict:
        """Counters since start or the last reset(): requests, responses, connections, accepted,
        open, bytes_received, aborted, ws_sessions, received [{method, path, version, headers}],
        errors (malformed input seen)."""
        return self._control("/__stats")

    def reset(self) -> None:
        self._control("/__reset")

    def received_nothing(self) -> bool:
        s = self.stats()
        return s["requests"] == 0 and s["accepted"] == 0 and s["bytes_received"] == 0


def received_header(entry: dict, name: str) -> str | None:
    """A header's value in an upstream's `received` entry or /echo answer (first occurrence)."""
    for n, v in entry["headers"]:
        if n.lower() == name.lower():
            return v
    return None


def received_header_all(entry: dict, name: str) -> list[str]:
    return [v for n, v in entry["headers"] if n.lower() == name.lower()]


class Gunicorn:
    """Debian's gunicorn serving a WSGI app from a directory on 127.0.0.1:free port."""

    def __init__(self, app: str, chdir: Path, workdir: Path, workers: int = 2):
        self.app, self.chdir, self.workdir, self.workers = app, Path(chdir), Path(workdir), workers
        self.port = free_port()
        self.log_path = self.workdir / "gunicorn.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [GUNICORN, "--chdir", str(self.chdir), "--bind", f"127.0.0.1:{self.port}",
                 "--workers", str(self.workers), "--access-logfile", "-", self.app],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        deadline = time.monotonic() + 15
        while not port_accepts("127.0.0.1", self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise AssertionError(f"gunicorn did not start:\n"
                                     f"{self.log_path.read_text(errors='replace')}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM, 10)
            _kill_group(self.proc)
        return False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def pattern_sha256(n: int) -> str:
    """sha256 of the first n bytes of the upstream's /bytes pattern."""
    return pattern.sha256_of(n)


def pattern_chunks(n: int):
    return pattern.chunks(n)


def pattern_data(n: int) -> bytes:
    return pattern.data(n)
