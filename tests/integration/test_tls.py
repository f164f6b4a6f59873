"""TLS: termination on listeners (SNI, versions, ALPN, resumption across workers, mutual TLS,
OCSP stapling, certificate checks at start-up) and TLS to upstreams (verification, SNI, client
certificates, session reuse), driven by real clients: curl, `openssl s_client`, Python's ssl and
http.client, and websockets. Certificates come from a throwaway CA made with the `openssl`
command once per module. Everything runs on loopback; every subprocess has a timeout."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import http.server
import json
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import websockets

from harness import (SANITIZED, WEIR_BIN, HttpClient, free_port, pattern_chunks, pattern_sha256,
                     port_accepts, raw_exchange, received_header, status_of, tcp_counters, to_yaml,
                     wait_until)

CMD_TIMEOUT = 15  # seconds, for every openssl / curl run
MIB = 1 << 20


# --------------------------------------------------------------------------------------------
# certificates


def openssl(*args, cwd: Path, input: bytes | None = None) -> str:
    r = subprocess.run(["openssl", *args], cwd=cwd, input=input, capture_output=True,
                       timeout=CMD_TIMEOUT)
    assert r.returncode == 0, f"openssl {' '.join(args)} failed:\n{r.stderr.decode()}"
    return r.stdout.decode(errors="replace")


CA_CONF = """\
[ca]
default_ca = weir
[weir]
dir = .
database = {name}-db/index.txt
serial = {name}-db/serial
new_certs_dir = {name}-db
certificate = {name}.pem
private_key = {name}.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
"""

SERVER_EXT = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
              "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
              "authorityKeyIdentifier=keyid\nsubjectAltName={sans}\n")
CLIENT_EXT = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
              "extendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\n"
              "authorityKeyIdentifier=keyid\n")


class Pki:
    """A directory of PEM files: CAs (`<ca>.pem`, `<ca>.key`) and leaves (`<name>.crt`,
    `<name>.key`) signed with `openssl ca`, which also keeps the index an OCSP response needs."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, name: str) -> str:
        return str(self.root / name)

    def crt(self, name: str) -> str:
        return self.path(f"{name}.crt")

    def key(self, name: str) -> str:
        return self.path(f"{name}.key")

    def ca(self, name: str, cn: str) -> None:
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "30",
                "-subj", f"/CN={cn}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.root)
        db = self.root / f"{name}-db"
        db.mkdir()
        (db / "index.txt").write_text("")
        (db / "serial").write_text("1000\n")
        (self.root / f"{name}.cnf").write_text(CA_CONF.format(name=name))

    def leaf(self, name: str, cn: str, *, ca: str = "ca", ext: str,
             dates: tuple[str, str] | None = None) -> None:
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
                cwd=self.root)
        (self.root / f"{name}.ext").write_text(ext)
        validity = ["-startdate", dates[0], "-enddate", dates[1]] if dates else ["-days", "30"]
        openssl("ca", "-batch", "-config", f"{ca}.cnf", "-in", f"{name}.csr", "-out",
                f"{name}.crt", "-extfile", f"{name}.ext", "-notext", *validity, cwd=self.root)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    """ca: a.test, b.test, *.w.test, an expired old.test, backend.test (upstream server),
    client.test (client certificate); other-ca: another CA with its own client certificate.
    Plus an OCSP response for a.test and a garbage certificate file."""
    p = Pki(tmp_path_factory.mktemp("pki"))
    p.ca("ca", "weir test CA")
    p.ca("other-ca", "some other CA")
    p.leaf("a", "a.test", ext=SERVER_EXT.format(sans="DNS:a.test"))
    p.leaf("b", "b.test", ext=SERVER_EXT.format(sans="DNS:b.test"))
    p.leaf("wild", "*.w.test", ext=SERVER_EXT.format(sans="DNS:*.w.test"))
    p.leaf("old", "old.test", ext=SERVER_EXT.format(sans="DNS:old.test"),
           dates=("20200101000000Z", "20200201000000Z"))
    p.leaf("backend", "backend.test", ext=SERVER_EXT.format(sans="DNS:backend.test"))
    p.leaf("client", "client.test", ext=CLIENT_EXT)
    p.leaf("stranger", "stranger.test", ca="other-ca", ext=CLIENT_EXT)
    # A stapled OCSP response saying a.test's certificate is good.
    openssl("ocsp", "-issuer", "ca.pem", "-cert", "a.crt", "-no_nonce", "-reqout", "a.ocsp-req",
            cwd=p.root)
    openssl("ocsp", "-index", "ca-db/index.txt", "-rsigner", "ca.pem", "-rkey", "ca.key", "-CA",
            "ca.pem", "-reqin", "a.ocsp-req", "-respout", "a.ocsp.der", "-ndays", "2",
            cwd=p.root)
    (p.root / "garbage.crt").write_text("this is not a certificate\n")
    return p


# --------------------------------------------------------------------------------------------
# configs


def listener_tls(pki: Pki, certs=("a", "b", "wild"), **extra) -> dict:
    return {"certificates": [{"cert": pki.crt(c), "key": pki.key(c)} for c in certs], **extra}


def tls_config(port: int, tls: dict | None, *, upstream: str | None = None, workers: int = 2,
               upstreams: list | None = None, more_listeners: list | None = None,
               admin_port: int | None = None, timeouts: dict | None = None) -> str:
    """One TLS listener `secure` (plus more_listeners): /ping answered by weir ("pong"), the rest
    to `upstream` when given. upstreams: full upstream entries (default: `web` on upstream).
    tls None: `secure` speaks plain HTTP."""
    routes = [{"match": {"path": "/ping"},
               "respond": {"status": 200, "body": "pong\n",
                           "headers": {"Content-Type": "text/plain"}}}]
    if upstream or upstreams:
        routes.append({"match": {"path_prefix": "/"},
                       "upstream": upstreams[0]["name"] if upstreams else "web"})
    if upstreams is None and upstream:
        upstreams = [{"name": "web", "servers": [{"address": upstream}],
                      "timeouts": {"connect": "1s", "response": "20s"}}]
    cfg = {
        "workers": workers,
        "pid_file": "off",
        "listeners": [{"name": "secure", "listen": f"127.0.0.1:{port}", "routes": routes,
                       **({"tls": tls} if tls is not None else {})}, *(more_listeners or [])],
        "limits": {"max_body_bytes": "200MiB"},
        "timeouts": {"client_header": "5s", "client_body": "20s", "keepalive": "10s",
                     "shutdown_grace": "5s", **(timeouts or {})},
    }
    if upstreams:
        cfg["upstreams"] = upstreams
    if admin_port:
        cfg["admin"] = {"listen": f"127.0.0.1:{admin_port}"}
    return to_yaml(cfg) + "\n"


# --------------------------------------------------------------------------------------------
# clients


def s_client(port: int, *args: str, data: bytes = b"") -> str:
    """`openssl s_client -connect 127.0.0.1:PORT ARGS` with `data` on stdin; stdout + stderr.
    With data, -ign_eof keeps it reading until weir closes (so TLS 1.3 tickets arrive)."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args]
    if data:
        cmd.append("-ign_eof")
    r = subprocess.run(cmd, input=data, capture_output=True, timeout=CMD_TIMEOUT)
    return (r.stdout + r.stderr).decode(errors="replace")


def subject_cn(output: str) -> str | None:
    m = re.search(r"^subject=.*?CN\s*=\s*([^,\n]+)", output, re.M)
    return m.group(1).strip() if m else None


def session_line(output: str) -> str | None:
    """'New, TLSv1.3' or 'Reused, TLSv1.2' from s_client's summary; None: no handshake."""
    m = re.search(r"^(New|Reused), (TLSv1\.\d)", output, re.M)
    return f"{m.group(1)}, {m.group(2)}" if m else None


def close_request(host: str, path: str = "/ping") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


def s_client_script(port: int, args: list[str], steps: list[bytes], pause: float = 0.4) -> str:
    """s_client fed `steps` one at a time with a pause after each (a line "R" renegotiates, "K"
    and "k" send a TLS 1.3 KeyUpdate, asking for one back or not); stdout + stderr."""
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with contextlib.suppress(BrokenPipeError):  # s_client may quit before the last step
        for step in steps:
            p.stdin.write(step)
            p.stdin.flush()
            time.sleep(pause)
    with contextlib.suppress(BrokenPipeError):
        p.stdin.close()
    try:
        p.wait(CMD_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
    return p.stdout.read().decode(errors="replace")


def curl(port: int, name: str, path: str, pki: Pki, *args: str) -> subprocess.CompletedProcess:
    """curl https://NAME:PORT/PATH resolved to 127.0.0.1 and verified against the test CA; the
    last line of stdout is the status code."""
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--resolve", f"{name}:{port}:127.0.0.1",
         "--cacert", pki.path("ca.pem"), "-w", "\n%{http_code}", *args,
         f"https://{name}:{port}{path}"],
        capture_output=True, text=True, timeout=CMD_TIMEOUT)


def curl_status(r: subprocess.CompletedProcess) -> int:
    return int(r.stdout.rsplit("\n", 1)[-1] or 0)


def admin_get(port: int, path: str) -> str:
    """GET on weir's admin address (no token); the body, after checking for 200."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        assert r.status == 200, (path, r.status)
        return r.read().decode()
    finally:
        c.close()


def client_context(pki: Pki, ca: str = "ca.pem") -> ssl.SSLContext:
    return ssl.create_default_context(cafile=pki.path(ca))


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to `name` (SNI, verified host name, Host header) over a TCP connection to
    127.0.0.1:port, whatever `name` resolves to."""

    def __init__(self, name: str, port: int, context: ssl.SSLContext, timeout: float = 20):
        super().__init__(name, port, timeout=timeout, context=context)
        self.pinned_context = context

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self.pinned_context.wrap_socket(raw, server_hostname=self.host)


def https_get(port: int, name: str, path: str, context: ssl.SSLContext) -> tuple[int, bytes]:
    conn = PinnedHTTPSConnection(name, port, context)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


class TlsHttpClient(HttpClient):
    """The harness's raw HTTP/1.1 client over a verified TLS connection to `name`."""

    def __init__(self, port: int, name: str, context: ssl.SSLContext, timeout: float = 10):
        super().__init__(port, "127.0.0.1", timeout)
        self.sock = context.wrap_socket(self.sock, server_hostname=name)


# --------------------------------------------------------------------------------------------
# a real TLS upstream


class TlsBackend:
    """Python's http.server behind ssl on 127.0.0.1 (threads): every GET answers JSON with the
    path, the request headers, the SNI name and client certificate subject of its connection, and
    whether that TLS session was resumed. `/close` answers with Connection: close."""

    def __init__(self, pki: Pki, cert: str = "backend", client_ca: str | None = None,
                 handshake_delay: float = 0.0):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pki.crt(cert), pki.key(cert))
        if client_ca:
            self.context.load_verify_locations(pki.path(client_ca))
            self.context.verify_mode = ssl.CERT_REQUIRED
        self.handshake_errors: list[str] = []
        self.connections: list[dict] = []
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                info = backend.connection_info(self.connection)
                body = json.dumps({"path": self.path, "headers": list(self.headers.items()),
                                   **info}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if self.path.startswith("/close"):
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                left, h = int(self.headers["Content-Length"]), hashlib.sha256()
                while left:
                    piece = self.rfile.read(min(left, 1 << 20))
                    if not piece:
                        return
                    h.update(piece)
                    left -= len(piece)
                if self.path.startswith("/bytes"):  # answers n pattern bytes
                    n = int(self.path.split("n=")[1])
                    self.send_response(200)
                    self.send_header("Content-Length", str(n))
                    self.end_headers()
                    for piece in pattern_chunks(n):
                        self.wfile.write(piece)
                    return
                body = json.dumps({"sha256": h.hexdigest(), "length": int(
                    self.headers["Content-Length"])}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request, client_address):
                request.settimeout(20)
                time.sleep(handshake_delay)  # the TCP connection is up; the handshake waits
                try:
                    tls = backend.context.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    backend.handshake_errors.append(str(e))
                    return
                with tls:
                    backend.connections.append(backend.connection_info(tls))
                    with contextlib.suppress(OSError):
                        Handler(tls, client_address, self)

        self.snis: dict[int, str | None] = {}

        def on_sni(sock, name, _ctx):
            self.snis[id(sock)] = name

        self.context.sni_callback = on_sni
        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def connection_info(self, tls: ssl.SSLSocket) -> dict:
        peer = tls.getpeercert()
        subject = dict(x[0] for x in peer["subject"]) if peer else {}
        return {"sni": self.snis.get(id(tls)), "client_cn": subject.get("commonName"),
                "resumed": tls.session_reused, "version": tls.version()}

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        return False


# The log line of a failed upstream handshake (a warning, or the final 502's reason).
UPSTREAM_TLS_FAILED = r"upstream secure-backend: .*TLS to upstream server 127\.0\.0\.1:\d+: "
# ... when the certificate failed verification: the line ends with why.
UPSTREAM_TLS_VERIFY_FAILED = "(?m)" + UPSTREAM_TLS_FAILED + "certificate verify failed: "


def upstream_entry(address: str, tls: dict, name: str = "secure-backend",
                   response: str = "5s") -> dict:
    return {"name": name, "servers": [{"address": address}], "tls": tls,
            "timeouts": {"connect": "1s", "response": response}}


# --------------------------------------------------------------------------------------------
# certificates by SNI


def test_sni_selects_exact_then_wildcard_then_default_certificate(weir, pki):
    port = free_port()
    weir(tls_config(port, listener_tls(pki)))
    # curl verifies the chain and the name for every certificate weir serves.
    for name in ("a.test", "b.test", "x.w.test", "API.W.TEST"):
        r = curl(port, name, "/ping", pki)
        assert r.returncode == 0, (name, r.stderr)
        assert r.stdout.startswith("pong\n") and curl_status(r) == 200, (name, r.stdout)
    expected = {
        "a.test": "a.test", "b.test": "b.test", "B.Test": "b.test",
        "x.w.test": "*.w.test", "deep.x.w.test": "a.test",   # a wildcard covers one label
        "w.test": "a.test", "unknown.example": "a.test",      # unknown: the first certificate
    }
    for name, cn in expected.items():
        out = s_client(port, "-servername", name)
        assert subject_cn(out) == cn, (name, out[-2000:])
    assert subject_cn(s_client(port, "-noservername")) == "a.test"


def test_unknown_name_gets_the_default_which_a_verifying_client_rejects(weir, pki):
    port = free_port()
    weir(tls_config(port, listener_tls(pki)))
    r = curl(port, "nobody.test", "/ping", pki)
    assert r.returncode != 0
    assert "nobody.test" in r.stderr or "certificate" in r.stderr.lower(), r.stderr


# --------------------------------------------------------------------------------------------
# versions, ciphers, ALPN


def test_tls13_and_tls12_negotiated_and_tls11_refused(weir, pki):
    port = free_port()
    w = weir(tls_config(port, listener_tls(pki)))
    assert session_line(s_client(port, "-servername", "a.test")) == "New, TLSv1.3"
    out = s_client(port, "-servername", "a.test", "-tls1_2")
    assert session_line(out) == "New, TLSv1.2"
    assert re.search(r"Cipher is ECDHE-ECDSA-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)", out), out
    # The client is allowed to offer TLS 1.1 (security level 0); weir says protocol_version.
    out = s_client(port, "-servername", "a.test", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert session_line(out) is None, out
    assert "alert protocol version" in out, out
    w.wait_stderr(r"TLS: unsupported protocol")
    # and the listener is fine afterwards
    assert session_line(s_client(port, "-servername", "a.test")) == "New, TLSv1.3"


def test_min_version_13_refuses_tls12(weir, pki):
    port = free_port()
    weir(tls_config(port, listener_tls(pki, min_version="1.3")))
    out = s_client(port, "-servername", "a.test", "-tls1_2")
    assert session_line(out) is None and "alert protocol version" in out, out
    assert session_line(s_client(port, "-servername", "a.test")) == "New, TLSv1.3"


def test_tls12_cipher_list_is_applied(weir, pki):
    port = free_port()
    weir(tls_config(port, listener_tls(pki, ciphers="ECDHE-ECDSA-CHACHA20-POLY1305")))
    out = s_client(port, "-servername", "a.test", "-tls1_2")
    assert "Cipher is ECDHE-ECDSA-CHACHA20-POLY1305" in out, out
    out = s_client(port, "-servername", "a.test", "-tls1_2", "-cipher",
                   "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert session_line(out) is None, out


def test_alpn_http11_is_selected_and_h2_is_not(weir, pki):
    port = free_port()
    weir(tls_config(port, listener_tls(pki)))
    assert "ALPN protocol: http/1.1" in s_client(port, "-servername", "a.test", "-alpn", "http/1.1")
    assert "ALPN protocol: http/1.1" in s_client(port, "-servername", "a.test", "-alpn",
                                                 "h2,http/1.1")
    out = s_client(port, "-servername", "a.test", "-alpn", "h2")
    assert "No ALPN negotiated" in out and session_line(out) == "New, TLSv1.3", out


def test_ocsp_response_is_stapled_for_the_first_certificate(weir, pki):
    port = free_port()
    weir(tls_config(port, listener_tls(pki, ocsp_staple=pki.path("a.ocsp.der"))))
    out = s_client(port, "-servername", "a.test", "-status")
    assert "OCSP Response Status: successful" in out, out
    assert re.search(r"Cert Status: good", out), out
    out = s_client(port, "-servername", "b.test", "-status")
    assert "OCSP response: no response sent" in out, out


# --------------------------------------------------------------------------------------------
# Python's ssl and http.client: chain, headers, bodies, WebSocket


def test_python_ssl_verifies_the_chain_and_x_forwarded_proto_is_https(upstream, weir, pki):
    web = upstream("web")
    port = free_port()
    weir(tls_config(port, listener_tls(pki), upstream=web.address))
    for name in ("a.test", "b.test", "files.w.test"):
        status, body = https_get(port, name, "/echo", client_context(pki))
        assert status == 200
        echo = json.loads(body)
        assert received_header(echo, "X-Forwarded-Proto") == "https"
        assert received_header(echo, "Host") == f"{name}:{port}"
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get(port, "a.test", "/echo", client_context(pki, "other-ca.pem"))
    # What the upstream saw, request by request.
    assert [received_header(e, "X-Forwarded-Proto") for e in web.stats()["received"]] == \
        ["https"] * 3


def test_keep_alive_requests_share_one_tls_connection(upstream, weir, pki):
    web = upstream("web")
    port = free_port()
    weir(tls_config(port, listener_tls(pki), upstream=web.address))
    conn = PinnedHTTPSConnection("a.test", port, client_context(pki))
    try:
        for i in range(20):
            conn.request("GET", f"/echo?i={i}")
            r = conn.getresponse()
            assert r.status == 200 and json.loads(r.read())["path"] == f"/echo?i={i}"
        sock = conn.sock
        assert sock.version() in ("TLSv1.3", "TLSv1.2")
    finally:
        conn.close()


def test_concurrent_handshakes_on_two_workers(upstream, weir, pki):
    web = upstream("web")
    port = free_port()
    weir(tls_config(port, listener_tls(pki), upstream=web.address, workers=2))
    ctx = client_context(pki)

    def one(i):
        name = ("a.test", "b.test", f"n{i}.w.test")[i % 3]
        return https_get(port, name, f"/echo?n={i}", ctx)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(96), timeout=60))
    assert all(s == 200 for s, _ in results)
    assert sorted(json.loads(b)["path"] for _, b in results) == \
        sorted(f"/echo?n={i}" for i in range(96))


def test_50_mib_upload_and_download_intact_through_tls(upstream, weir, pki):
    web = upstream("web")
    port = free_port()
    weir(tls_config(port, listener_tls(pki), upstream=web.address, workers=1))
    n = 50 * MIB
    conn = PinnedHTTPSConnection("a.test", port, client_context(pki), timeout=60)
    try:
        conn.request("POST", "/upload", body=pattern_chunks(n),
                     headers={"Content-Length": str(n), "Content-Type": "application/octet-stream"})
        r = conn.getresponse()
        assert r.status == 200
        got = json.loads(r.read())
        assert got["length"] == n and got["sha256"] == pattern_sha256(n)

        conn.request("GET", f"/bytes?n={n}")  # same connection: keep-alive after a big upload
        r = conn.getresponse()
        assert r.status == 200
        h, total = hashlib.sha256(), 0
        while piece := r.read(MIB):
            h.update(piece)
            total += len(piece)
        assert total == n and h.hexdigest() == pattern_sha256(n)

        conn.request("GET", f"/bytes?n={n}&chunked=1")
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("Transfer-Encoding") == "chunked"
        assert hashlib.sha256(r.read()).hexdigest() == pattern_sha256(n)
    finally:
        conn.close()


def test_websocket_over_tls(upstream, weir, pki):
    web = upstream("web")
    port = free_port()
    weir(tls_config(port, listener_tls(pki), upstream=web.address))
    ctx = client_context(pki)

    async def session():
        async with websockets.connect(f"wss://a.test:{port}/ws", ssl=ctx, host="127.0.0.1",
                                      port=port, server_hostname="a.test", open_timeout=5,
                                      close_timeout=5, max_size=None) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            blob = bytes(range(256)) * 8192  # 2 MiB: many TLS records each way
            await ws.send(blob)
            assert await ws.recv() == blob
            for i in range(50):
                await ws.send(f"message {i}")
            assert [await ws.recv() for _ in range(50)] == [f"message {i}" for i in range(50)]
            await asyncio.wait_for(await ws.ping(b"still there"), 5)

    asyncio.run(asyncio.wait_for(session(), 30))
    s = web.stats()
    assert s["ws_sessions"] == 1
    assert received_header(s["received"][0], "X-Forwarded-Proto") == "https"


def test_pipelined_requests_in_one_tls_record(upstream, weir, pki):
    web = upstream("web")
    port = free_port()
    weir(tls_config(port, listener_tls(pki), upstream=web.address))
    with TlsHttpClient(port, "a.test", client_context(pki)) as c:
        c.send(b"".join(f"GET /echo?p={i} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode()
                        for i in range(10)))
        paths = [c.read_response().json()["path"] for _ in range(10)]
        assert paths == [f"/echo?p={i}" for i in range(10)]
        r = c.request("POST", "/upload", body=b"x" * 100_000, host="a.test")
        assert r.status == 200 and r.json()["length"] == 100_000


def test_handshake_and_request_one_byte_at_a_time(upstream, weir, pki):
    """A client whose every TLS byte arrives in its own TCP segment: the handshake and the
    request still go through (weir feeds the TLS engine whatever has arrived)."""
    web = upstream("web")
    port = free_port()
    weir(tls_config(port, listener_tls(pki), upstream=web.address, workers=1))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context(pki).wrap_bio(incoming, outgoing, server_hostname="b.test")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def drip():
            data = outgoing.read()
            for i in range(len(data)):
                sock.sendall(data[i:i + 1])
                time.sleep(0.0005)

        def pump():
            drip()
            chunk = sock.recv(65536)
            assert chunk, "weir closed the connection"
            incoming.write(chunk)

        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pump()
        drip()
        assert tls.getpeercert()["subject"] == ((("commonName", "b.test"),),)
        tls.write(b"GET /echo?drip=1 HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n")
        drip()
        answer = b""
        deadline = time.monotonic() + 10
        while b"}" not in answer and time.monotonic() < deadline:
            try:
                answer += tls.read(65536)
            except ssl.SSLWantReadError:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                incoming.write(chunk)
        assert status_of(answer) == 200 and b'"/echo?drip=1"' in answer, answer[:300]


def test_silent_and_stalled_handshakes_time_out(weir, pki):
    """A client that connects and says nothing, or stops halfway through its ClientHello, is
    closed after timeouts.client_header; other clients are served meanwhile."""
    port = free_port()
    weir(tls_config(port, listener_tls(pki), timeouts={"client_header": "1s"}))
    silent = HttpClient(port, timeout=5)
    stalled = HttpClient(port, timeout=5)
    stalled.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    started = time.monotonic()
    assert https_get(port, "a.test", "/ping", client_context(pki)) == (200, b"pong\n")
    for c in (silent, stalled):
        with c:
            assert c.closed_by_peer(timeout=4)
    assert time.monotonic() - started < 4


def test_slow_tls_reader_and_slow_upstream_reader_keep_memory_flat(upstream, weir, pki):
    """Backpressure through TLS: a 100 MiB download read only after a pause, and a 100 MiB
    upload to an upstream that waits before reading, do not pile up in weir."""
    web = upstream("web")
    port = free_port()
    w = weir(tls_config(port, listener_tls(pki), upstream=web.address, workers=1))
    n = 100 * MIB
    assert https_get(port, "a.test", "/echo", client_context(pki))[0] == 200  # warm up
    baseline = w.hwm_kib()
    with TlsHttpClient(port, "a.test", client_context(pki), timeout=60) as c:
        c.send(f"GET /bytes?n={n} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode())
        time.sleep(1.5)
        h = hashlib.sha256()
        r = c.read_response(sink=h.update, timeout=120)
        assert r.status == 200 and r.body_length == n and h.hexdigest() == pattern_sha256(n)
        c.send(f"POST /upload?delay_ms=1500 HTTP/1.1\r\nHost: a.test\r\n"
               f"Content-Length: {n}\r\n\r\n".encode())
        for piece in pattern_chunks(n):
            c.send(piece)
        r = c.read_response(timeout=120)
        assert r.status == 200 and r.json()["sha256"] == pattern_sha256(n)
    growth = w.hwm_kib() - baseline
    if not SANITIZED:
        assert growth < 32 * 1024, f"weir's peak RSS grew by {growth} KiB"


def test_tls12_renegotiation_is_refused_and_tls13_key_update_works(weir, pki):
    port = free_port()
    w = weir(tls_config(port, listener_tls(pki)))
    ping = b"GET /ping HTTP/1.1\r\nHost: a.test\r\n\r\n"
    out = s_client_script(port, ["-tls1_2", "-servername", "a.test"], [ping, b"R\n", ping])
    assert out.count("pong") == 1 and "RENEGOTIATING" in out, out
    assert "no renegotiation" in out, out
    out = s_client_script(port, ["-tls1_3", "-servername", "a.test"],
                          [ping, b"K\n", ping, b"k\n", ping])
    assert out.count("KEYUPDATE") == 2 and out.count("pong") == 3, out
    assert https_get(port, "a.test", "/ping", client_context(pki)) == (200, b"pong\n")
    assert w.running


def test_graceful_stop_finishes_a_tls_request_in_flight(upstream, weir, pki):
    web = upstream("web")
    port = free_port()
    w = weir(tls_config(port, listener_tls(pki), upstream=web.address))
    idle = TlsHttpClient(port, "b.test", client_context(pki))
    assert idle.get("/echo", host="b.test").status == 200
    with TlsHttpClient(port, "a.test", client_context(pki)) as busy:
        busy.send(b"GET /slow?ms=1000 HTTP/1.1\r\nHost: a.test\r\n\r\n")
        time.sleep(0.3)
        w.send_signal(signal.SIGTERM)
        r = busy.read_response(timeout=10)
        assert r.status == 200 and r.body == b"slow\n"
    with idle:
        assert idle.closed_by_peer(timeout=5)  # the idle keep-alive connection is closed
    assert w.wait(10) == 0


# --------------------------------------------------------------------------------------------
# session resumption


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("version,tickets", [("-tls1_3", True), ("-tls1_2", True),
                                             ("-tls1_2", False), ("-tls1_3", False)])
def test_sessions_resume(weir, pki, tmp_path, workers, version, tickets):
    """A session saved by one connection resumes on the next ones, whichever worker takes them:
    tickets (one key ring for all workers) and, with tickets off, the shared session cache."""
    port = free_port()
    weir(tls_config(port, listener_tls(pki, session_tickets=tickets), workers=workers))
    sess = str(tmp_path / "session.pem")
    proto = "TLSv1.3" if version == "-tls1_3" else "TLSv1.2"
    first = s_client(port, version, "-servername", "a.test", "-sess_out", sess,
                     data=close_request("a.test"))
    assert session_line(first) == f"New, {proto}", first
    assert "pong" in first
    if tickets:
        assert "TLS session ticket lifetime hint" in first, first
    # Enough connections that, with two workers, both take some of them.
    lines = [session_line(s_client(port, version, "-servername", "a.test", "-sess_in", sess,
                                   data=close_request("a.test"))) for _ in range(12)]
    assert lines == [f"Reused, {proto}"] * 12


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_session_for_one_name_offered_for_another(weir, pki, tmp_path, version):
    """A client offers a.test's session while asking for b.test. TLS 1.2: RFC 6066 section 3
    says the server MUST NOT resume then, but do a full handshake (and so send b.test's
    certificate). TLS 1.3 leaves that check to the client (RFC 8446 section 4.6.1); either way
    the request is served."""
    port = free_port()
    weir(tls_config(port, listener_tls(pki)))
    sess = str(tmp_path / "session.pem")
    s_client(port, version, "-servername", "a.test", "-sess_out", sess,
             data=close_request("a.test"))
    out = s_client(port, version, "-servername", "b.test", "-sess_in", sess,
                   data=close_request("b.test"))
    assert "pong" in out
    if version == "-tls1_2":
        assert session_line(out) == "New, TLSv1.2" and subject_cn(out) == "b.test", \
            "a.test's session resumed for SNI b.test:\n" + out[-1500:]


def test_reload_changes_certificates_and_keeps_tickets(weir, pki, tmp_path):
    """SIGHUP with a new certificate list: new handshakes get the new default, and a ticket
    issued before the reload still resumes (the ticket keys carry over)."""
    port = free_port()
    w = weir(tls_config(port, listener_tls(pki, certs=("a",))))
    sess = str(tmp_path / "session.pem")
    first = s_client(port, "-servername", "a.test", "-sess_out", sess, data=close_request("a.test"))
    assert session_line(first) == "New, TLSv1.3"
    assert subject_cn(s_client(port, "-servername", "b.test")) == "a.test"  # no b.test yet
    w.config_path.write_text(tls_config(port, listener_tls(pki, certs=("b", "a"))))
    mark = len(w.stderr_text())
    w.send_signal(signal.SIGHUP)
    w.wait_stderr(r"reloaded .*generation 2", since=mark)
    assert subject_cn(s_client(port, "-servername", "b.test")) == "b.test"
    assert subject_cn(s_client(port, "-noservername")) == "b.test"  # the new default
    out = s_client(port, "-servername", "a.test", "-sess_in", sess, data=close_request("a.test"))
    assert session_line(out) == "Reused, TLSv1.3" and "pong" in out, out


def test_reload_with_a_bad_key_keeps_the_running_certificates(weir, pki):
    port = free_port()
    w = weir(tls_config(port, listener_tls(pki, certs=("a",))))
    w.config_path.write_text(tls_config(port, {"certificates": [
        {"cert": pki.crt("b"), "key": pki.key("a")}]}))
    mark = len(w.stderr_text())
    w.send_signal(signal.SIGHUP)
    w.wait_stderr(r"reload failed", since=mark)
    assert "does not match" in w.stderr_text()[mark:]
    assert curl_status(curl(port, "a.test", "/ping", pki)) == 200


def test_a_reload_switches_a_listener_between_tls_and_plain_http(weir, pki):
    """TLS turned off and on again at the same address: the listening sockets stay, and new
    connections speak what the running config says. Without TLS they start with delayed ACKs as
    a plain listener's always do (a request that arrives whole is acknowledged by its response
    alone, for most of ten connections; see test_a_whole_request_is_acknowledged_by_its_
    response_alone): a socket kept from the TLS config would acknowledge each one at once."""
    port = free_port()
    w = weir(tls_config(port, listener_tls(pki, certs=("a",))))
    assert https_get(port, "a.test", "/ping", client_context(pki)) == (200, b"pong\n")
    for generation, tls in ((2, None), (3, listener_tls(pki, certs=("a",)))):
        w.config_path.write_text(tls_config(port, tls))
        mark = len(w.stderr_text())
        w.send_signal(signal.SIGHUP)
        w.wait_stderr(rf"reloaded .*generation {generation}", since=mark)
        if tls:
            assert https_get(port, "a.test", "/ping", client_context(pki)) == (200, b"pong\n")
            continue
        response_only = 0
        for _ in range(10):
            with HttpClient(port, timeout=5) as c:
                c.send(b"GET /ping HTTP/1.1\r\nHost: a.test\r\n\r\n")
                r = c.read_response()
                assert (r.status, r.body) == (200, b"pong\n")
                sent = tcp_counters(port, c.sock.getsockname()[1])
                response_only += sent["segs_out"] == sent["data_segs_out"]
        assert response_only >= 6, response_only


def test_a_refused_reload_reports_every_tls_problem(weir, pki):
    """POST /reload answers 409 with every bad TLS file, each at its tls block; SIGHUP logs the
    same list; /stats keeps it; the running certificates stay in service."""
    port, admin = free_port(), free_port()
    w = weir(tls_config(port, listener_tls(pki, certs=("a",)), admin_port=admin))
    w.config_path.write_text(tls_config(
        port, {"certificates": [{"cert": pki.crt("b"), "key": pki.key("a")},
                                {"cert": pki.path("missing.crt"), "key": pki.key("b")}]},
        admin_port=admin,
        upstreams=[upstream_entry("127.0.0.1:9", {"ca_file": pki.path("missing-ca.pem")})]))
    c = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
    try:
        c.request("POST", "/reload")
        r = c.getresponse()
        status, body = r.status, json.loads(r.read())
    finally:
        c.close()
    assert status == 409 and body["ok"] is False and body["generation"] == 1, body
    at = rf"^{re.escape(str(w.config_path))}:\d+:\d+: "
    expected = [
        at + rf"listeners\[0\]\.tls: {re.escape(pki.key('a'))}: private key does not match the "
             rf"certificate in {re.escape(pki.crt('b'))}$",
        at + rf"listeners\[0\]\.tls: {re.escape(pki.path('missing.crt'))}: cannot read: No such "
             r"file or directory$",
        at + rf"upstreams\[0\]\.tls: {re.escape(pki.path('missing-ca.pem'))}: cannot read: No "
             r"such file or directory$"]
    errors = body["errors"]
    assert len(errors) == 3 and all(any(re.match(e, x) for x in errors) for e in expected), errors
    assert json.loads(admin_get(admin, "/stats"))["last_reload"]["errors"] == errors

    mark = len(w.stderr_text())
    w.send_signal(signal.SIGHUP)
    w.wait_stderr(r"reload failed", since=mark)
    logged = w.stderr_text()[mark:]
    assert all(f"reload: {e}" in logged for e in errors), logged
    assert curl_status(curl(port, "a.test", "/ping", pki)) == 200


# --------------------------------------------------------------------------------------------
# mutual TLS


def test_client_certificate_required(upstream, weir, pki):
    web = upstream("web")
    port = free_port()
    w = weir(tls_config(port, listener_tls(pki, client_ca=pki.path("ca.pem"),
                                           client_auth="require"), upstream=web.address))
    ok = curl(port, "a.test", "/echo", pki, "--cert", pki.crt("client"), "--key",
              pki.key("client"))
    assert ok.returncode == 0 and curl_status(ok) == 200, ok.stderr
    assert received_header(json.loads(ok.stdout.rsplit("\n", 1)[0]), "X-Forwarded-Proto") == "https"

    without = curl(port, "a.test", "/echo", pki)
    assert without.returncode != 0 and curl_status(without) == 0, without
    stranger = curl(port, "a.test", "/echo", pki, "--cert", pki.crt("stranger"), "--key",
                    pki.key("stranger"))
    assert stranger.returncode != 0 and curl_status(stranger) == 0, stranger
    for proto in ("-tls1_2", "-tls1_3"):
        out = s_client(port, proto, "-servername", "a.test", data=close_request("a.test"))
        assert "pong" not in out, out
        out = s_client(port, proto, "-servername", "a.test", "-cert", pki.crt("client"), "-key",
                       pki.key("client"), data=close_request("a.test"))
        assert "pong" in out, out
    assert len(web.stats()["received"]) == 1  # only the request with the client certificate
    w.wait_stderr(r"TLS: peer did not return a certificate")
    w.wait_stderr(r"(?m)TLS: certificate verify failed: unable to get local issuer certificate$")


def test_client_certificate_optional(weir, pki):
    port = free_port()
    weir(tls_config(port, listener_tls(pki, client_ca=pki.path("ca.pem"),
                                       client_auth="optional")))
    assert curl_status(curl(port, "a.test", "/ping", pki)) == 200
    assert curl_status(curl(port, "a.test", "/ping", pki, "--cert", pki.crt("client"), "--key",
                            pki.key("client"))) == 200
    # optional still verifies a certificate that is presented
    bad = curl(port, "a.test", "/ping", pki, "--cert", pki.crt("stranger"), "--key",
               pki.key("stranger"))
    assert bad.returncode != 0, bad


# --------------------------------------------------------------------------------------------
# certificate problems at start-up


def check(config_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(WEIR_BIN), "-t", "-c", str(config_path)], capture_output=True,
                          text=True, timeout=CMD_TIMEOUT)


def test_expired_certificate_is_a_warning_and_weir_starts(weir, pki):
    port = free_port()
    w = weir(tls_config(port, listener_tls(pki, certs=("a", "old"))))
    m = w.wait_stderr(r"\[warn\] (\S+):(\d+):(\d+): listeners\[0\]\.tls: (\S+): certificate "
                      r"expired on Feb +1 00:00:00 2020 GMT")
    assert m.group(1).endswith(".yaml") and m.group(4) == pki.crt("old")
    assert curl_status(curl(port, "a.test", "/ping", pki)) == 200
    r = curl(port, "old.test", "/ping", pki)
    assert r.returncode != 0 and "expired" in r.stderr.lower(), r.stderr
    assert subject_cn(s_client(port, "-servername", "old.test")) == "old.test"


def test_check_reports_a_key_that_does_not_match_its_certificate(pki, tmp_path):
    cfg = tmp_path / "weir.yaml"
    cfg.write_text(tls_config(free_port(), {"certificates": [
        {"cert": pki.crt("a"), "key": pki.key("a")},
        {"cert": pki.crt("b"), "key": pki.key("a")}]}))
    r = check(cfg)
    assert r.returncode == 1, r
    line = next(l for l in r.stderr.splitlines() if "does not match" in l)
    m = re.match(rf"{re.escape(str(cfg))}:(\d+):(\d+): listeners\[0\]\.tls: ", line)
    assert m, line
    # the position is the listener's tls block
    tls_line = next(i for i, l in enumerate(cfg.read_text().splitlines(), 1) if "tls:" in l)
    assert int(m.group(1)) in (tls_line, tls_line + 1), (line, tls_line)
    assert pki.key("a") in line and pki.crt("b") in line, line


@pytest.mark.parametrize("cert,problem", [
    ("missing.crt", r"cannot read: No such file or directory"),
    ("garbage.crt", r"no PEM certificate found"),
])
def test_check_reports_an_unreadable_certificate_file(pki, tmp_path, cert, problem):
    cfg = tmp_path / "weir.yaml"
    cfg.write_text(tls_config(free_port(), {"certificates": [
        {"cert": pki.path(cert), "key": pki.key("a")}]}))
    r = check(cfg)
    assert r.returncode == 1, r
    assert re.search(rf"^{re.escape(str(cfg))}:\d+:\d+: listeners\[0\]\.tls: "
                     rf"{re.escape(pki.path(cert))}: {problem}", r.stderr, re.M), r.stderr


def test_check_reports_a_missing_key_file_and_client_ca(pki, tmp_path):
    cfg = tmp_path / "weir.yaml"
    cfg.write_text(tls_config(free_port(), {"certificates": [
        {"cert": pki.crt("a"), "key": pki.path("nope.key")}]}))
    r = check(cfg)
    assert r.returncode == 1 and pki.path("nope.key") in r.stderr, r
    cfg.write_text(tls_config(free_port(), listener_tls(pki, client_ca=pki.path("nope-ca.pem"),
                                                       client_auth="require")))
    r = check(cfg)
    assert r.returncode == 1 and pki.path("nope-ca.pem") in r.stderr, r


def test_check_reports_an_upstream_client_key_that_does_not_match(pki, tmp_path):
    cfg = tmp_path / "weir.yaml"
    cfg.write_text(tls_config(free_port(), listener_tls(pki), upstreams=[upstream_entry(
        "127.0.0.1:9", {"client_cert": pki.crt("client"), "client_key": pki.key("a")})]))
    r = check(cfg)
    assert r.returncode == 1, r
    assert re.search(rf"^{re.escape(str(cfg))}:\d+:\d+: .*{re.escape(pki.key('a'))}: private key "
                     rf"does not match the certificate in {re.escape(pki.crt('client'))}",
                     r.stderr, re.M), r.stderr


def test_check_reports_an_unreadable_upstream_ca_file(pki, tmp_path):
    """Like every other error: position, the dotted path of the key, the file, a readable
    reason."""
    cfg = tmp_path / "weir.yaml"
    missing = pki.path("missing-ca.pem")
    cfg.write_text(tls_config(free_port(), listener_tls(pki), upstreams=[upstream_entry(
        "127.0.0.1:9", {"ca_file": missing})]))
    r = check(cfg)
    assert r.returncode == 1, r
    assert re.search(rf"^{re.escape(str(cfg))}:\d+:\d+: upstreams\[0\]\.tls(\.ca_file)?: "
                     rf"{re.escape(missing)}: .*No such file or directory", r.stderr, re.M), \
        r.stderr


def test_check_reports_every_tls_problem_at_once(pki, tmp_path):
    """`weir -t` promises every error in one pass: two listeners' bad certificates and an
    upstream's missing CA file are three errors."""
    cfg = tmp_path / "weir.yaml"
    second = {"name": "second", "listen": f"127.0.0.1:{free_port()}",
              "tls": {"certificates": [{"cert": pki.path("missing.crt"), "key": pki.key("b")}]},
              "routes": [{"match": {"path_prefix": "/"}, "respond": {"status": 204}}]}
    cfg.write_text(tls_config(free_port(), {"certificates": [
        {"cert": pki.crt("a"), "key": pki.key("b")}]}, more_listeners=[second],
        upstreams=[upstream_entry("127.0.0.1:9", {"ca_file": pki.path("missing-ca.pem")})]))
    r = check(cfg)
    assert r.returncode == 1, r
    problems = [pki.key("b") + ": private key does not match", pki.path("missing.crt"),
                pki.path("missing-ca.pem")]
    assert all(p in r.stderr for p in problems), r.stderr


def test_weir_refuses_to_start_with_a_mismatched_key(pki, tmp_path):
    cfg = tmp_path / "weir.yaml"
    cfg.write_text(tls_config(free_port(), {"certificates": [
        {"cert": pki.crt("a"), "key": pki.key("b")}]}))
    r = subprocess.run([str(WEIR_BIN), "-c", str(cfg)], capture_output=True, text=True,
                       timeout=CMD_TIMEOUT)
    assert r.returncode != 0 and "does not match" in r.stderr, r


# --------------------------------------------------------------------------------------------
# https_redirect, and plain HTTP on the TLS port


def test_https_redirect_on_a_plain_listener(upstream, weir, pki):
    web = upstream("web")
    port, plain = free_port(), free_port()
    weir(tls_config(port, listener_tls(pki), upstream=web.address, more_listeners=[
        {"name": "plain", "listen": f"127.0.0.1:{plain}", "https_redirect": True,
         "routes": [{"match": {"path_prefix": "/"}, "upstream": "web"}]}]))
    with HttpClient(plain) as c:
        r = c.get("/shop/cart?item=42&x=%20y", host="a.test:8080")
        assert r.status == 301
        assert r.header("Location") == "https://a.test/shop/cart?item=42&x=%20y"
        r = c.request("POST", "/form", body=b"a=1", host="b.test")
        assert r.status == 301 and r.header("Location") == "https://b.test/form"
    assert web.received_nothing()
    # curl follows a redirect's scheme: here just check it sees the same thing.
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                        "%{http_code} %{redirect_url}", "-H", "Host: a.test",
                        f"http://127.0.0.1:{plain}/x"],
                       capture_output=True, text=True, timeout=CMD_TIMEOUT)
    assert r.stdout == "301 https://a.test/x", r
    assert curl_status(curl(port, "a.test", "/ping", pki)) == 200


def test_plain_http_to_the_tls_port_is_closed_and_others_carry_on(upstream, weir, pki):
    web = upstream("web")
    port = free_port()
    w = weir(tls_config(port, listener_tls(pki), upstream=web.address))
    # one TLS connection open across the bad ones
    conn = PinnedHTTPSConnection("a.test", port, client_context(pki))
    conn.request("GET", "/echo?before")
    assert conn.getresponse().read()
    data, closed = raw_exchange(port, b"GET /ping HTTP/1.1\r\nHost: a.test\r\n\r\n", timeout=5)
    assert closed and status_of(data) is None, data
    with HttpClient(port, timeout=5) as c:  # a ClientHello cut short, then FIN
        c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 40)
        c.sock.shutdown(socket.SHUT_WR)
        assert c.closed_by_peer(timeout=3)
    data, closed = raw_exchange(port, bytes(range(256)) * 4, timeout=5)
    assert closed
    w.wait_stderr(r"client 127\.0\.0\.1: TLS: http request")
    conn.request("GET", "/echo?after")
    r = conn.getresponse()
    assert r.status == 200 and json.loads(r.read())["path"] == "/echo?after"
    conn.close()
    assert https_get(port, "b.test", "/ping", client_context(pki)) == (200, b"pong\n")
    assert w.running


def handshake_failures(admin: int) -> tuple[dict, dict]:
    """tls_handshake_failures by reason from /stats, and weir_tls_handshake_failures_total's
    samples by their reason label from /metrics."""
    stats = json.loads(admin_get(admin, "/stats"))["totals"]["tls_handshake_failures"]
    metrics = {m.group(1): int(m.group(2)) for m in re.finditer(
        r'^weir_tls_handshake_failures_total\{reason="([^"]*)"\} (\d+)$',
        admin_get(admin, "/metrics"), re.M)}
    return stats, metrics


def test_handshake_failures_are_counted_in_stats_and_metrics(weir, pki):
    """Plain HTTP on the TLS port and a TLS 1.1 client are handshake failures: counted by
    reason (summed over both workers) in /stats and /metrics, the reason logged. A good
    handshake is not."""
    port, admin = free_port(), free_port()
    w = weir(tls_config(port, listener_tls(pki), admin_port=admin))
    assert handshake_failures(admin) == ({}, {})
    for _ in range(2):
        data, closed = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", timeout=5)
        assert closed and status_of(data) is None, data
    out = s_client(port, "-servername", "a.test", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert session_line(out) is None, out
    assert curl_status(curl(port, "a.test", "/ping", pki)) == 200
    want = {"http request": 2, "unsupported protocol": 1}
    wait_until(lambda: handshake_failures(admin) == (want, want), 5,
               f"{want} in /stats and /metrics")
    w.wait_stderr(r"client 127\.0\.0\.1: TLS: http request")
    w.wait_stderr(r"client 127\.0\.0\.1: TLS: unsupported protocol")


# --------------------------------------------------------------------------------------------
# TLS to upstreams


def test_upstream_tls_verified_with_server_name(weir, pki):
    with TlsBackend(pki) as backend:
        port = free_port()
        weir(tls_config(port, listener_tls(pki), upstreams=[upstream_entry(
            backend.address, {"ca_file": pki.path("ca.pem"), "server_name": "backend.test"})]))
        for i in range(5):
            status, body = https_get(port, "a.test", f"/hello?i={i}", client_context(pki))
            assert status == 200, body
            got = json.loads(body)
            assert got["path"] == f"/hello?i={i}" and got["sni"] == "backend.test"
            assert got["version"] in ("TLSv1.3", "TLSv1.2")
            assert dict(got["headers"])["X-Forwarded-Proto"] == "https"
        assert not backend.handshake_errors
        assert len(backend.connections) <= 2  # pooled: at most one per worker


def test_upstream_tls_sessions_resume_on_new_connections(weir, pki):
    with TlsBackend(pki) as backend:
        port = free_port()
        weir(tls_config(port, listener_tls(pki), workers=1, upstreams=[upstream_entry(
            backend.address, {"ca_file": pki.path("ca.pem"), "server_name": "backend.test"})]))
        for i in range(4):  # the backend closes after each: a new connection every time
            status, body = https_get(port, "a.test", f"/close?i={i}", client_context(pki))
            assert status == 200, body
        assert len(backend.connections) == 4
        assert [c["resumed"] for c in backend.connections] == [False, True, True, True], \
            backend.connections


def upload_pattern(c, n: int):
    """POSTs n pattern bytes to the TLS backend's /upload; it must have received them intact."""
    c.send(f"POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: {n}\r\n\r\n".encode())
    for piece in pattern_chunks(n):
        c.send(piece)
    r = c.read_response(timeout=60)
    assert r.status == 200 and r.json() == {"sha256": pattern_sha256(n), "length": n}


def test_large_bodies_both_ways_over_tls_on_both_sides(weir, pki):
    with TlsBackend(pki) as backend:
        port = free_port()
        weir(tls_config(port, listener_tls(pki), workers=1, upstreams=[upstream_entry(
            backend.address, {"ca_file": pki.path("ca.pem"), "server_name": "backend.test"},
            response="30s")]))
        n = 40 * MIB
        with TlsHttpClient(port, "a.test", client_context(pki), timeout=60) as c:
            upload_pattern(c, n)
            c.send(b"POST /bytes?n=%d HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\n\r\nx" % n)
            h = hashlib.sha256()
            r = c.read_response(sink=h.update, timeout=60)
            assert r.status == 200 and r.body_length == n and h.hexdigest() == pattern_sha256(n)


def test_upload_waits_for_a_slow_upstream_handshake_without_buffering_it(weir, pki):
    """The upstream accepts the TCP connection at once but takes 3 s to do its TLS handshake.
    Meanwhile a client uploads 64 MiB: weir must stop reading it (backpressure) rather than hold
    the body in memory until the handshake completes."""
    with TlsBackend(pki, handshake_delay=3.0) as backend:
        port = free_port()
        w = weir(tls_config(port, listener_tls(pki), workers=1, upstreams=[upstream_entry(
            backend.address, {"ca_file": pki.path("ca.pem"), "server_name": "backend.test"},
            response="30s")]))
        assert https_get(port, "a.test", "/ping", client_context(pki)) == (200, b"pong\n")
        baseline = w.hwm_kib()
        n = 64 * MIB
        with TlsHttpClient(port, "a.test", client_context(pki), timeout=60) as c:
            upload_pattern(c, n)
        growth = w.hwm_kib() - baseline
        if not SANITIZED:
            assert growth < 32 * 1024, \
                f"weir's peak RSS grew by {growth} KiB while the upstream handshake was pending"


def test_upstream_tls_wrong_ca_is_502_with_the_reason_logged(weir, pki):
    with TlsBackend(pki) as backend:
        port = free_port()
        w = weir(tls_config(port, listener_tls(pki), upstreams=[upstream_entry(
            backend.address,
            {"ca_file": pki.path("other-ca.pem"), "server_name": "backend.test"})]))
        status, body = https_get(port, "a.test", "/hello", client_context(pki))
        assert status == 502, body
        w.wait_stderr(UPSTREAM_TLS_VERIFY_FAILED + "unable to get local issuer certificate$")
        assert not any(c.get("path") for c in backend.connections)


def test_upstream_tls_name_mismatch_is_502(weir, pki):
    with TlsBackend(pki) as backend:
        port = free_port()
        w = weir(tls_config(port, listener_tls(pki), upstreams=[upstream_entry(
            backend.address, {"ca_file": pki.path("ca.pem"), "server_name": "other.test"})]))
        status, _ = https_get(port, "a.test", "/hello", client_context(pki))
        assert status == 502
        w.wait_stderr(UPSTREAM_TLS_VERIFY_FAILED + "hostname mismatch$")
        # without server_name the address's host (127.0.0.1) is verified: not in the certificate
    with TlsBackend(pki) as backend:
        port = free_port()
        w = weir(tls_config(port, listener_tls(pki), upstreams=[upstream_entry(
            backend.address, {"ca_file": pki.path("ca.pem")})]))
        status, _ = https_get(port, "a.test", "/hello", client_context(pki))
        assert status == 502
        w.wait_stderr(UPSTREAM_TLS_VERIFY_FAILED + "IP address mismatch$")


def test_upstream_tls_expired_certificate_is_502_saying_so(weir, pki):
    with TlsBackend(pki, cert="old") as backend:  # old.test: expired in 2020, signed by ca
        port = free_port()
        w = weir(tls_config(port, listener_tls(pki), upstreams=[upstream_entry(
            backend.address, {"ca_file": pki.path("ca.pem"), "server_name": "old.test"})]))
        status, _ = https_get(port, "a.test", "/hello", client_context(pki))
        assert status == 502
        w.wait_stderr(UPSTREAM_TLS_VERIFY_FAILED + "certificate has expired$")
        assert not any(c.get("path") for c in backend.connections)


@pytest.mark.parametrize("retries", [None, {"attempts": 1, "on": ["connect_failure"]}],
                         ids=["no-retries-block", "retries-on-connect-failure"])
def test_upstream_tls_handshake_failure_moves_on_to_another_server(weir, pki, retries):
    """A failed handshake is a connect failure (nothing of the request was sent): like a refused
    connection, the request goes to the next server instead of failing, retries configured or
    not."""
    with TlsBackend(pki, cert="a") as bad, TlsBackend(pki) as good:  # bad: a.test's certificate
        port = free_port()
        up = {"name": "secure-backend", "servers": [{"address": bad.address},
                                                    {"address": good.address}],
              "tls": {"ca_file": pki.path("ca.pem"), "server_name": "backend.test"},
              "timeouts": {"connect": "1s", "response": "5s"}}
        if retries:
            up["retries"] = retries
        w = weir(tls_config(port, listener_tls(pki), workers=1, upstreams=[up]))
        statuses = [https_get(port, "a.test", f"/hello?i={i}", client_context(pki))[0]
                    for i in range(4)]
        w.wait_stderr(r"certificate verify failed")
        assert statuses == [200] * 4, statuses
        assert len(good.connections) >= 1


def test_upstream_tls_verify_false_accepts_the_wrong_ca(weir, pki):
    with TlsBackend(pki) as backend:
        port = free_port()
        weir(tls_config(port, listener_tls(pki), upstreams=[upstream_entry(
            backend.address, {"ca_file": pki.path("other-ca.pem"), "server_name": "backend.test",
                              "verify": False})]))
        status, body = https_get(port, "a.test", "/hello", client_context(pki))
        assert status == 200, body
        assert json.loads(body)["sni"] == "backend.test"


def test_upstream_tls_client_certificate(weir, pki):
    with TlsBackend(pki, client_ca="ca.pem") as backend:
        port = free_port()
        weir(tls_config(port, listener_tls(pki), upstreams=[upstream_entry(
            backend.address, {"ca_file": pki.path("ca.pem"), "server_name": "backend.test",
                              "client_cert": pki.crt("client"), "client_key": pki.key("client")})]))
        status, body = https_get(port, "a.test", "/hello", client_context(pki))
        assert status == 200, body
        assert json.loads(body)["client_cn"] == "client.test"
    with TlsBackend(pki, client_ca="ca.pem") as backend:
        port = free_port()
        weir(tls_config(port, listener_tls(pki), upstreams=[upstream_entry(
            backend.address, {"ca_file": pki.path("ca.pem"), "server_name": "backend.test"})]))
        status, _ = https_get(port, "a.test", "/hello", client_context(pki))
        assert status == 502
        assert not any(c.get("path") for c in backend.connections)


def test_upstream_tls_against_openssl_s_server(weir, pki, tmp_path):
    """openssl s_server -www answers any GET with a status page (HTTP/1.0, closes)."""
    backend_port = free_port()
    log = open(tmp_path / "s_server.log", "wb")
    server = subprocess.Popen(["openssl", "s_server", "-www", "-accept", str(backend_port),
                               "-cert", pki.crt("backend"), "-key", pki.key("backend"),
                               "-naccept", "20"],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                              start_new_session=True)
    try:
        wait_until(lambda: server.poll() is not None or port_accepts("127.0.0.1", backend_port), 10,
                   "s_server to listen")
        port = free_port()
        weir(tls_config(port, listener_tls(pki), upstreams=[upstream_entry(
            f"127.0.0.1:{backend_port}", {"ca_file": pki.path("ca.pem"),
                                          "server_name": "backend.test"})]))
        status, body = https_get(port, "a.test", "/", client_context(pki))
        assert status == 200, body
        assert b"s_server" in body and b"TLSv1.3" in body, body[:500]
    finally:
        server.kill()
        server.wait(5)
        log.close()


def test_upstream_tls_to_a_plain_http_server_is_502(weir, pki):
    """The server speaks plain HTTP to weir's ClientHello: a handshake failure, a 502, logged."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    got: list[bytes] = []

    def serve():
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(5)
                    got.append(conn.recv(4096))
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        port = free_port()
        w = weir(tls_config(port, listener_tls(pki), upstreams=[upstream_entry(
            f"127.0.0.1:{listener.getsockname()[1]}",
            {"ca_file": pki.path("ca.pem"), "server_name": "backend.test"})]))
        status, _ = https_get(port, "a.test", "/echo", client_context(pki))
        assert status == 502
        w.wait_stderr(UPSTREAM_TLS_FAILED)
        assert got and got[0].startswith(b"\x16\x03"), got  # it did get a ClientHello
        assert https_get(port, "b.test", "/ping", client_context(pki)) == (200, b"pong\n")
    finally:
        listener.close()
        thread.join(5)
