"""Admin endpoint, driven by http.client like an operator's script: health and readiness, stats as
JSON, CSV (read back with the csv module) and Prometheus text (read back by a strict parser written
here), upstream and server state, drain/disable/enable/weight at runtime, the running config with
its token redacted, config validation, reload, and the JSON errors (400/401/403/404/405/409)."""
import csv
import http.client
import io
import json
import math
import re
import signal
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from harness import HttpClient, build_request, free_port, proxy_config, to_yaml, wait_until

TOKEN = "s3cret-Admin-token"

ENDPOINTS = [
    "GET /healthz", "GET /readyz", "GET /stats", "GET /stats.csv", "GET /metrics",
    "GET /upstreams", "GET /upstreams/NAME",
    "POST /upstreams/NAME/servers/ADDRESS/drain", "POST /upstreams/NAME/servers/ADDRESS/disable",
    "POST /upstreams/NAME/servers/ADDRESS/enable", "PUT /upstreams/NAME/servers/ADDRESS/weight",
    "GET /config", "POST /config/validate", "POST /reload",
]


# --------------------------------------------------------------------------------------------
# the admin client


@dataclass
class AdminResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class Admin:
    """http.client against weir's admin address; token=None sends no Authorization header."""

    def __init__(self, port: int, token: str | None = None):
        self.port = port
        self.token = token

    def request(self, method: str, path: str, body: bytes | str | None = None,
                token: str | None = "default", headers: dict | None = None) -> AdminResponse:
        token = self.token if token == "default" else token
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return AdminResponse(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path: str, **kw) -> AdminResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, body=None, **kw) -> AdminResponse:
        return self.request("POST", path, body, **kw)

    def ok_json(self, method: str, path: str, body=None, **kw):
        r = self.request(method, path, body, **kw)
        assert r.status == 200, (method, path, r.status, r.body)
        return r.json()

    def stats(self) -> dict:
        return self.ok_json("GET", "/stats")

    def server(self, upstream: str, address: str) -> dict:
        for s in self.ok_json("GET", f"/upstreams/{upstream}")["servers"]:
            if s["address"] == address:
                return s
        raise AssertionError(f"{address} not in /upstreams/{upstream}")

    def set_server(self, upstream: str, address: str, action: str) -> dict:
        return self.ok_json("POST", f"/upstreams/{upstream}/servers/{address}/{action}")

    def set_weight(self, upstream: str, address: str, weight: int) -> dict:
        return self.ok_json("PUT", f"/upstreams/{upstream}/servers/{address}/weight",
                            json.dumps({"weight": weight}))


def admin_config(port: int, upstreams: dict, tmp_path, *, admin_port: int, token: bool = True,
                 **kw) -> str:
    """proxy_config plus an admin section (token in a file, with a trailing newline) and a pid file
    of its own. The public listener stays the first `listen:` in the text."""
    admin = {"listen": f"127.0.0.1:{admin_port}"}
    if token:
        token_file = tmp_path / "admin.token"
        token_file.write_text(TOKEN + "\n")
        admin["token_file"] = str(token_file)
    return (proxy_config(port, upstreams, **kw)
            + to_yaml({"admin": admin, "pid_file": str(tmp_path / "weir.pid")}) + "\n")


def start(weir, tmp_path, upstreams: dict, *, token: bool = True, **kw):
    """weir with an admin endpoint; returns (WeirProcess, Admin authorized with TOKEN)."""
    admin_port = free_port()
    w = weir(admin_config(free_port(), upstreams, tmp_path, admin_port=admin_port, token=token,
                          **kw))
    return w, Admin(admin_port, TOKEN if token else None)


def versioned(port, upstreams, version, tmp_path, admin_port, **kw):
    """A config whose /ver route answers its version, so a response tells which config served."""
    return admin_config(port, upstreams, tmp_path, admin_port=admin_port, routes=[
        {"match": {"path": "/ver"}, "respond": {"status": 200, "body": f"v{version}"}},
        {"match": {"path_prefix": "/"}, "upstream": next(iter(upstreams))},
    ], **kw)


def count_requests(*ups) -> list[int]:
    return [u.stats()["requests"] for u in ups]


def send(w, n: int, path: str = "/echo") -> list[str]:
    """n requests over one keep-alive connection; the names of the upstreams that answered."""
    names = []
    with w.client() as c:
        for _ in range(n):
            r = c.get(path)
            assert r.status == 200, r
            names.append(r.upstream)
    return names


# --------------------------------------------------------------------------------------------
# a strict parser for the Prometheus text format (0.0.4)

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class ExpositionError(AssertionError):
    pass


@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str | None = None
    typed: bool = False
    samples: list[tuple[str, dict, float]] = field(default_factory=list)

    def value(self, name: str | None = None, **labels) -> float:
        name = name or self.name
        found = [v for n, ls, v in self.samples if n == name and ls == labels]
        if len(found) != 1:
            raise AssertionError(f"{len(found)} samples {name}{labels} in {self.samples[:20]}")
        return found[0]

    def values(self, name: str | None = None, **labels) -> list[tuple[dict, float]]:
        """Samples of `name` whose labels include `labels`."""
        name = name or self.name
        return [(ls, v) for n, ls, v in self.samples
                if n == name and all(ls.get(k) == x for k, x in labels.items())]


def _unescape(text: str, pos: int, end_quote: bool, where: str) -> tuple[str, int]:
    """Reads escaped text from pos to the closing quote (label value) or the end (HELP)."""
    out = []
    while True:
        if pos >= len(text):
            if end_quote:
                raise ExpositionError(f"{where}: unterminated label value")
            return "".join(out), pos
        c = text[pos]
        if c == "\\":
            nxt = text[pos + 1:pos + 2]
            allowed = ESCAPES if end_quote else {k: v for k, v in ESCAPES.items() if k != '"'}
            if nxt not in allowed:
                raise ExpositionError(f"{where}: invalid escape \\{nxt}")
            out.append(allowed[nxt])
            pos += 2
        elif c == '"' and end_quote:
            return "".join(out), pos + 1
        else:
            out.append(c)
            pos += 1


def _parse_float(text: str, where: str) -> float:
    if not FLOAT.fullmatch(text):
        raise ExpositionError(f"{where}: {text!r} is not a valid sample value")
    return float(text)


def _parse_sample(line: str, where: str) -> tuple[str, dict, float]:
    m = METRIC_NAME.match(line)
    if not m:
        raise ExpositionError(f"{where}: bad metric name")
    name, pos, labels = m.group(), m.end(), {}
    if line[pos:pos + 1] == "{":
        pos += 1
        while line[pos:pos + 1] != "}":
            lm = LABEL_NAME.match(line, pos)
            if not lm:
                raise ExpositionError(f"{where}: bad label name at column {pos + 1}")
            label, pos = lm.group(), lm.end()
            if label.startswith("__"):
                raise ExpositionError(f"{where}: label name {label} is reserved")
            if line[pos:pos + 2] != '="':
                raise ExpositionError(f"{where}: expected =\" after label {label}")
            value, pos = _unescape(line, pos + 2, True, where)
            if label in labels:
                raise ExpositionError(f"{where}: label {label} repeated")
            labels[label] = value
            if line[pos:pos + 1] == ",":
                pos += 1
                if line[pos:pos + 1] == "}":
                    raise ExpositionError(f"{where}: trailing comma in the label set")
            elif line[pos:pos + 1] != "}":
                raise ExpositionError(f"{where}: expected , or }} at column {pos + 1}")
        pos += 1
    rest = line[pos:]
    if not rest[:1] in (" ", "\t"):
        raise ExpositionError(f"{where}: no blank between the name/labels and the value")
    parts = rest.split()
    if len(parts) not in (1, 2):
        raise ExpositionError(f"{where}: expected a value and an optional timestamp")
    value = _parse_float(parts[0], where)
    if len(parts) == 2 and not re.fullmatch(r"-?\d+", parts[1]):
        raise ExpositionError(f"{where}: bad timestamp {parts[1]!r}")
    return name, labels, value


def parse_prometheus(text: str) -> dict[str, Family]:
    """Families by name. Enforces: the text ends with a newline; HELP/TYPE syntax, at most one of
    each per family and both before its first sample; known types; metric and label name syntax;
    escapes (\\\\, \\", \\n only); sample values; no repeated sample; every family contiguous; and
    for histograms, per label set: buckets with an increasing `le` ending at +Inf, cumulative
    counts, _sum and _count present, +Inf bucket == _count. Counters are >= 0."""
    if not text.endswith("\n"):
        raise ExpositionError("the exposition does not end with a newline")
    families: dict[str, Family] = {}
    current: str | None = None
    finished: set[str] = set()
    seen_samples: set[tuple] = set()

    def enter(name: str, where: str) -> Family:
        nonlocal current
        if name != current:
            if name in finished:
                raise ExpositionError(f"{where}: family {name} is not contiguous")
            if current is not None:
                finished.add(current)
            current = name
        return families.setdefault(name, Family(name))

    def family_of(sample: str) -> str:
        if sample in families and families[sample].type not in ("histogram", "summary"):
            return sample
        for suffix in ("_bucket", "_sum", "_count"):
            base = sample[:-len(suffix)]
            if sample.endswith(suffix) and base in families and \
                    families[base].type in ("histogram", "summary"):
                if suffix == "_bucket" and families[base].type != "histogram":
                    break
                return base
        return sample

    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {lineno} {line!r}"
        if line.strip() == "":
            continue
        if line.startswith("#"):
            m = re.match(r"#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$", line)
            if not m:
                continue  # an ordinary comment
            kind, name, rest = m.group(1), m.group(2), m.group(3) or ""
            if not METRIC_NAME.fullmatch(name):
                raise ExpositionError(f"{where}: bad metric name in {kind}")
            fam = enter(name, where)
            if fam.samples:
                raise ExpositionError(f"{where}: {kind} after the family's samples")
            if kind == "HELP":
                if fam.help is not None:
                    raise ExpositionError(f"{where}: second HELP for {name}")
                fam.help, _ = _unescape(rest, 0, False, where)
            else:
                if fam.typed:
                    raise ExpositionError(f"{where}: second TYPE for {name}")
                if rest not in TYPES:
                    raise ExpositionError(f"{where}: unknown type {rest!r}")
                fam.type, fam.typed = rest, True
            continue
        name, labels, value = _parse_sample(line, where)
        fam = enter(family_of(name), where)
        key = (name, tuple(sorted(labels.items())))
        if key in seen_samples:
            raise ExpositionError(f"{where}: sample repeated")
        seen_samples.add(key)
        if fam.type == "counter" and not value >= 0:
            raise ExpositionError(f"{where}: counter value {value} is negative or NaN")
        fam.samples.append((name, labels, value))

    for fam in families.values():
        if fam.type == "histogram":
            _check_histogram(fam)
    return families


def _check_histogram(fam: Family) -> None:
    groups: dict[tuple, dict] = {}
    for name, labels, value in fam.samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name == fam.name + "_bucket":
            if "le" not in labels:
                raise ExpositionError(f"{fam.name}: bucket without le: {labels}")
            le = _parse_float(labels["le"], f"{fam.name} le")
            g["buckets"].append((le, value))
        elif "le" in labels:
            raise ExpositionError(f"{fam.name}: {name} carries le")
        elif name == fam.name + "_sum":
            g["sum"] = value
        elif name == fam.name + "_count":
            g["count"] = value
        else:
            raise ExpositionError(f"{fam.name}: unexpected sample {name} in a histogram")
    for rest, g in groups.items():
        buckets = g["buckets"]
        what = f"{fam.name}{dict(rest)}"
        if not buckets or buckets[-1][0] != math.inf:
            raise ExpositionError(f"{what}: buckets do not end with le=\"+Inf\"")
        les = [le for le, _ in buckets]
        if les != sorted(les) or len(set(les)) != len(les):
            raise ExpositionError(f"{what}: le not strictly increasing: {les}")
        counts = [c for _, c in buckets]
        if any(b < a for a, b in zip(counts, counts[1:])):
            raise ExpositionError(f"{what}: buckets are not cumulative: {counts}")
        if any(c != int(c) or c < 0 for c in counts):
            raise ExpositionError(f"{what}: bucket counts must be non-negative integers")
        if g["count"] is None or g["sum"] is None:
            raise ExpositionError(f"{what}: _sum or _count missing")
        if counts[-1] != g["count"]:
            raise ExpositionError(f"{what}: +Inf bucket {counts[-1]} != _count {g['count']}")


def test_the_prometheus_parser_itself_rejects_what_the_format_forbids():
    good = ('# HELP a_total Help with \\\\ and \\n.\n# TYPE a_total counter\n'
            'a_total{x="q\\"\\\\\\n"} 1\n'
            '# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.3\n'
            'h_count 2\n')
    fams = parse_prometheus(good)
    assert fams["a_total"].value(x='q"\\\n') == 1 and fams["a_total"].help == "Help with \\ and \n."
    bad = {
        "no final newline": "a 1",
        "bad metric name": "1a 1\n",
        "bad label name": 'a{1x="1"} 1\n',
        "bad escape": 'a{x="\\t"} 1\n',
        "unterminated": 'a{x="1} 1\n',
        "bad value": "a one\n",
        "repeated label": 'a{x="1",x="2"} 1\n',
        "repeated sample": "a 1\na 2\n",
        "type after sample": "a 1\n# TYPE a gauge\n",
        "unknown type": "# TYPE a meter\na 1\n",
        "not contiguous": "a 1\nb 1\na{x=\"1\"} 1\n",
        "negative counter": "# TYPE c counter\nc -1\n",
        "no +Inf": '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
        "not cumulative": '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\n'
                          'h_sum 1\nh_count 1\n',
        "count mismatch": '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n',
        "le out of order": '# TYPE h histogram\nh_bucket{le="2"} 1\nh_bucket{le="1"} 1\n'
                           'h_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    }
    for why, text in bad.items():
        try:
            parse_prometheus(text)
        except ExpositionError:
            continue
        raise AssertionError(f"the parser accepted {why}: {text!r}")


# --------------------------------------------------------------------------------------------
# read-only endpoints


def test_index_lists_every_endpoint(upstream, weir, tmp_path):
    w, admin = start(weir, tmp_path, {"web": [upstream("a").address]})
    r = admin.get("/", token=None)
    assert r.status == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["cache-control"] == "no-store"
    listed = r.json()["endpoints"]
    assert [e for e in listed if e in ENDPOINTS] == ENDPOINTS, listed   # others may follow


def test_healthz_and_readyz_answer_200_without_a_token(upstream, weir, tmp_path):
    w, admin = start(weir, tmp_path, {"web": [upstream("a").address]})
    assert admin.get("/healthz", token=None).json() == {"status": "ok"}
    r = admin.get("/readyz", token=None)
    assert (r.status, r.json()) == (200, {"status": "ready"})
    head = admin.request("HEAD", "/healthz", token=None)
    assert head.status == 200 and head.body == b""
    assert int(head.headers["content-length"]) == len(admin.get("/healthz").body)


def test_readyz_is_503_while_shutting_down(upstream, weir, tmp_path):
    slow = upstream("slow")
    w, admin = start(weir, tmp_path, {"web": [slow.address]}, timeouts={"shutdown_grace": "10s"})
    result = {}
    t = threading.Thread(target=lambda: result.update(r=w.get("/slow?ms=1500", timeout=10)))
    t.start()
    wait_until(lambda: admin.server("web", slow.address)["in_flight"] == 1, 5, "request in flight")
    w.send_signal(signal.SIGTERM)
    r = wait_until(lambda: (lambda x: x if x.status == 503 else None)(admin.get("/readyz")), 5,
                   "/readyz to answer 503 while draining")
    assert r.json() == {"status": "not ready"}
    assert admin.get("/healthz").status == 200          # alive, just not taking new work
    t.join(10)
    assert result["r"].status == 200
    assert w.wait(10) == 0


def test_a_client_leaving_mid_request_is_no_longer_in_flight(upstream, weir, tmp_path):
    """Clients that reset their connections while the server is still working end their
    exchanges: the server's in-flight count returns to 0 at once, not when the server answers
    (least_conn and max_conns depend on it), and it is not counted as a failure of the server."""
    slow = upstream("slow")
    w, admin = start(weir, tmp_path, {"web": [slow.address]}, workers=1)
    socks = []
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", w.port), timeout=5)
        s.sendall(build_request("GET", "/slow?ms=30000"))
        socks.append(s)
    wait_until(lambda: admin.server("web", slow.address)["in_flight"] == 3, 5, "3 in flight")
    for s in socks:  # reset, not a half-close (which weir answers before closing)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    wait_until(lambda: admin.server("web", slow.address)["in_flight"] == 0, 10,
               "in-flight back to 0 after the clients left")
    assert admin.server("web", slow.address)["failures"] == 0
    with w.client() as c:  # and the server still takes requests
        assert c.get("/echo").status == 200


def test_read_only_endpoints_need_no_token_and_ignore_a_wrong_one(upstream, weir, tmp_path):
    w, admin = start(weir, tmp_path, {"web": [upstream("a").address]})
    for path in ("/", "/healthz", "/readyz", "/stats", "/stats.csv", "/metrics", "/upstreams",
                 "/upstreams/web", "/config"):
        assert admin.get(path, token=None).status == 200, path
        assert admin.get(path, token="wrong").status == 200, path


def test_stats_json_counts_traffic_by_listener_route_and_server(upstream, weir, tmp_path):
    a, b = upstream("a"), upstream("b")
    w, admin = start(weir, tmp_path, {"web": [a.address, b.address]}, routes=[
        {"match": {"path": "/local"}, "respond": {"status": 404, "body": "none\n"}},
        {"match": {"path_prefix": "/"}, "upstream": "web"},
    ])
    accepted = admin.stats()["totals"]["connections"]["accepted"]   # the readiness probe's
    assert send(w, 6).count("a") == 3
    with w.client() as c:
        assert c.get("/local").status == 404
    s = wait_until(lambda: (lambda s: s if s["totals"]["requests"] == 7 else None)(admin.stats()),
                   5, "/stats to count 7 requests")
    assert s["generation"] == 1 and s["reload_failures"] == 0
    assert s["last_reload"]["ok"] is True and s["last_reload"]["errors"] == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", s["last_reload"]["at"])
    assert s["uptime_seconds"] >= 0
    t = s["totals"]
    assert t["responses"] == {"1xx": 0, "2xx": 6, "3xx": 0, "4xx": 1, "5xx": 0}
    assert t["connections"]["accepted"] == accepted + 2
    assert t["bytes_in"] > 0 and t["bytes_out"] > 0
    assert all(v == 0 for v in t["failures"].values()), t["failures"]
    assert t["tls_handshake_failures"] == {}  # no TLS listener
    [listener] = s["listeners"]
    assert listener["name"] == "public" and listener["address"] == f"127.0.0.1:{w.port}"
    assert listener["requests"] == 7 and listener["connections"] == accepted + 2
    assert [r["requests"] for r in listener["routes"]] == [1, 6]
    assert [r["index"] for r in listener["routes"]] == [0, 1]
    [web] = s["upstreams"]
    by_address = {srv["address"]: srv for srv in web["servers"]}
    for up in (a, b):
        srv = by_address[up.address]
        assert srv["requests"] == 3 and srv["responses"]["2xx"] == 3
        assert srv["state"] == "enabled" and srv["weight"] == 1 and srv["in_flight"] == 0
        assert set(srv["latency"]) == {"p50", "p90", "p99"}
        assert 0 <= srv["latency"]["p50"] <= srv["latency"]["p90"] <= srv["latency"]["p99"]


def test_stats_csv_reads_back_with_the_csv_module_and_matches_the_json(upstream, weir, tmp_path):
    a, b = upstream("a"), upstream("b")
    w, admin = start(weir, tmp_path, {"web": [(a.address, 3), b.address]}, workers=1)
    send(w, 8)
    wait_until(lambda: admin.stats()["totals"]["requests"] == 8, 5, "8 requests counted")
    r = admin.get("/stats.csv")
    assert r.status == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(r.text, newline="")))
    assert rows[0] == ["upstream", "server", "state", "weight", "backup", "in_flight", "requests",
                       "2xx", "3xx", "4xx", "5xx", "failures", "connect_failures", "p50_ms",
                       "p90_ms", "p99_ms"]
    records = list(csv.DictReader(io.StringIO(r.text, newline="")))
    assert [(x["upstream"], x["server"]) for x in records] == [("web", a.address),
                                                                ("web", b.address)]
    assert [int(x["requests"]) for x in records] == [6, 2]
    assert [int(x["weight"]) for x in records] == [3, 1]
    assert [x["state"] for x in records] == ["enabled", "enabled"]
    assert [x["backup"] for x in records] == ["false", "false"]
    json_servers = admin.stats()["upstreams"][0]["servers"]
    for rec, js in zip(records, json_servers):
        assert int(rec["2xx"]) == js["responses"]["2xx"]
        assert int(rec["failures"]) == js["failures"]
        for q in ("p50", "p90", "p99"):
            assert re.fullmatch(r"\d+\.\d{3}", rec[f"{q}_ms"])
            assert float(rec[f"{q}_ms"]) == js["latency"][q]


def test_metrics_pass_a_strict_parser_and_agree_with_the_traffic(upstream, weir, tmp_path):
    a, b = upstream("a"), upstream("b")
    w, admin = start(weir, tmp_path, {"web": [a.address, b.address]}, routes=[
        {"match": {"path": "/local"}, "respond": {"status": 204}},
        {"match": {"path_prefix": "/"}, "upstream": "web"},
    ])
    accepted = admin.stats()["totals"]["connections"]["accepted"]   # the readiness probe's
    send(w, 10)
    with w.client() as c:
        assert c.get("/local").status == 204
        assert c.get("/slow?ms=30").status == 200
    wait_until(lambda: admin.stats()["totals"]["requests"] == 12, 5, "12 requests counted")
    r = admin.get("/metrics", token=None)
    assert r.status == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    fams = parse_prometheus(r.text)

    types = {
        "weir_uptime_seconds": "gauge", "weir_config_generation": "gauge",
        "weir_reload_failures_total": "counter", "weir_last_reload_success": "gauge",
        "weir_connections_accepted_total": "counter", "weir_connections_rejected_total": "counter",
        "weir_connections_open": "gauge", "weir_requests_total": "counter",
        "weir_responses_total": "counter", "weir_bytes_received_total": "counter",
        "weir_bytes_sent_total": "counter", "weir_failures_total": "counter",
        "weir_request_duration_seconds": "histogram",
        "weir_listener_connections_total": "counter", "weir_listener_requests_total": "counter",
        "weir_listener_responses_total": "counter", "weir_route_requests_total": "counter",
        "weir_route_responses_total": "counter", "weir_upstream_requests_total": "counter",
        "weir_upstream_responses_total": "counter", "weir_upstream_in_flight": "gauge",
        "weir_upstream_idle_connections": "gauge", "weir_upstream_weight": "gauge",
        "weir_upstream_state": "gauge", "weir_upstream_failures_total": "counter",
        "weir_upstream_connect_failures_total": "counter",
        "weir_upstream_request_duration_seconds": "histogram",
    }
    assert {n: f.type for n, f in fams.items()} == types
    assert all(f.help for f in fams.values())
    for name, f in fams.items():
        if f.type == "counter":
            assert name.endswith("_total"), name

    assert fams["weir_config_generation"].value() == 1
    assert fams["weir_last_reload_success"].value() == 1
    assert fams["weir_requests_total"].value() == 12
    assert "weir_tls_handshake_failures_total" not in fams  # no TLS listener: no reason
    assert fams["weir_responses_total"].value(**{"class": "2xx"}) == 12    # 204 included
    assert fams["weir_responses_total"].value(**{"class": "5xx"}) == 0
    assert fams["weir_connections_accepted_total"].value() == accepted + 2
    assert fams["weir_listener_connections_total"].value(listener="public") == accepted + 2
    assert fams["weir_listener_requests_total"].value(listener="public") == 12
    assert fams["weir_route_requests_total"].value(listener="public", route="0") == 1
    assert fams["weir_route_requests_total"].value(listener="public", route="1") == 11
    lat = fams["weir_request_duration_seconds"]
    assert lat.value("weir_request_duration_seconds_count") == 12
    assert lat.value("weir_request_duration_seconds_sum") >= 0.03   # /slow?ms=30
    up = fams["weir_upstream_requests_total"]
    assert up.value(upstream="web", server=a.address) + \
        up.value(upstream="web", server=b.address) == 11
    ups_lat = fams["weir_upstream_request_duration_seconds"]
    for srv in (a, b):
        count = ups_lat.value("weir_upstream_request_duration_seconds_count", upstream="web",
                              server=srv.address)
        assert count == up.value(upstream="web", server=srv.address)
        assert fams["weir_upstream_weight"].value(upstream="web", server=srv.address) == 1
        states = {ls["state"]: v for ls, v in
                  fams["weir_upstream_state"].values(upstream="web", server=srv.address)}
        assert states == {"enabled": 1, "draining": 0, "disabled": 0}


def test_label_values_csv_fields_and_paths_are_escaped(upstream, weir, tmp_path):
    a = upstream("a")
    listener = 'edge "a\\b"\nline2'
    ups = 'we,b "x"'
    admin_port = free_port()
    text = admin_config(free_port(), {ups: [a.address]}, tmp_path, admin_port=admin_port)
    text = text.replace("name: public", "name: " + json.dumps(listener))
    w = weir(text)
    admin = Admin(admin_port, TOKEN)
    send(w, 2)
    wait_until(lambda: admin.stats()["totals"]["requests"] == 2, 5, "2 requests counted")
    fams = parse_prometheus(admin.get("/metrics").text)
    assert fams["weir_listener_requests_total"].value(listener=listener) == 2
    assert fams["weir_upstream_requests_total"].value(upstream=ups, server=a.address) == 2
    [rec] = list(csv.DictReader(io.StringIO(admin.get("/stats.csv").text, newline="")))
    assert rec["upstream"] == ups and rec["requests"] == "2"
    one = admin.ok_json("GET", "/upstreams/" + quote(ups, safe=""))
    assert one["name"] == ups
    drained = admin.set_server(quote(ups, safe=""), a.address, "drain")
    assert drained == {"upstream": ups, "server": {**drained["server"], "state": "draining"}}


def test_upstreams_lists_every_upstream_and_one_by_name(upstream, weir, tmp_path):
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    w, admin = start(weir, tmp_path, {"web": [(a.address, 5), b.address], "api": [c.address]})
    listed = admin.ok_json("GET", "/upstreams")["upstreams"]
    assert [u["name"] for u in listed] == ["web", "api"]
    web = admin.ok_json("GET", "/upstreams/web")
    assert web == listed[0]
    assert [(s["address"], s["weight"], s["state"], s["backup"]) for s in web["servers"]] == [
        (a.address, 5, "enabled", False), (b.address, 1, "enabled", False)]
    assert set(web["servers"][0]) == {"address", "state", "weight", "backup", "in_flight",
                                      "idle_connections", "requests", "responses", "failures",
                                      "connect_failures", "latency"}
    r = admin.get("/upstreams/nope")
    assert (r.status, r.json()) == (404, {"error": "no upstream named 'nope'"})


# --------------------------------------------------------------------------------------------
# authorization


def mutating_calls(a_address: str):
    base = f"/upstreams/web/servers/{a_address}"
    return [("POST", f"{base}/drain", None), ("POST", f"{base}/disable", None),
            ("POST", f"{base}/enable", None), ("PUT", f"{base}/weight", '{"weight": 7}'),
            ("POST", "/config/validate", "workers: 1\n"), ("POST", "/reload", None)]


def test_state_changing_calls_need_the_bearer_token_and_failures_are_logged(upstream, weir,
                                                                            tmp_path):
    a = upstream("a")
    w, admin = start(weir, tmp_path, {"web": [a.address]})
    mark = len(w.stderr_text())
    for method, path, body in mutating_calls(a.address):
        for headers, token in (({}, None), ({}, "wrong-token"), ({}, TOKEN + "x"), ({}, ""),
                               ({"Authorization": f"Basic {TOKEN}"}, None),
                               ({"Authorization": TOKEN}, None)):
            r = admin.request(method, path, body, token=token, headers=headers)
            assert r.status == 401, (method, path, headers, token, r.status, r.body)
            assert r.json() == {"error": "unauthorized"}
            assert r.headers["www-authenticate"] == "Bearer"
    srv = admin.server("web", a.address)
    assert (srv["state"], srv["weight"]) == ("enabled", 1)      # nothing changed
    assert admin.stats()["generation"] == 1
    log = w.wait_stderr(r"unauthorized POST /reload from 127\.0\.0\.1", since=mark) and \
        w.stderr_text()[mark:]
    for method, path, _ in mutating_calls(a.address):
        assert f"unauthorized {method} {path} from 127.0.0.1" in log, log
    assert "wrong-token" not in log and TOKEN not in w.stderr_text()   # no secret in the log
    # the right token, in any case for the scheme, is accepted
    r = admin.request("POST", f"/upstreams/web/servers/{a.address}/drain", token=None,
                      headers={"Authorization": f"bearer {TOKEN}"})
    assert r.status == 200 and r.json()["server"]["state"] == "draining"


def test_a_request_with_origin_is_refused_with_403_even_with_the_token(upstream, weir, tmp_path):
    a = upstream("a")
    w, admin = start(weir, tmp_path, {"web": [a.address]})
    mark = len(w.stderr_text())
    for method, path, body in mutating_calls(a.address):
        r = admin.request(method, path, body, headers={"Origin": "http://evil.example"})
        assert r.status == 403, (method, path, r.body)
        assert "Origin" in r.json()["error"]
    assert admin.server("web", a.address)["state"] == "enabled"
    w.wait_stderr(r"refused cross-origin POST /reload from 127\.0\.0\.1", since=mark)
    assert admin.get("/stats", headers={"Origin": "http://evil.example"}).status == 200


def test_without_a_token_file_state_changes_need_no_authorization(upstream, weir, tmp_path):
    a = upstream("a")
    w, admin = start(weir, tmp_path, {"web": [a.address]}, token=False)
    r = admin.post(f"/upstreams/web/servers/{a.address}/disable", token=None)
    assert r.status == 200 and r.json()["server"]["state"] == "disabled"
    assert admin.get("/config").json()["admin"]["token_set"] is False


# --------------------------------------------------------------------------------------------
# runtime changes


def test_drain_lets_the_request_in_flight_finish_and_sends_new_ones_elsewhere(upstream, weir,
                                                                              tmp_path):
    a, b = upstream("a"), upstream("b")
    by_name = {"a": a, "b": b}
    w, admin = start(weir, tmp_path, {"web": [a.address, b.address]})
    result = {}
    t = threading.Thread(target=lambda: result.update(r=w.get("/slow?ms=1500", timeout=10)))
    t.start()

    def busy_server():
        for s in admin.ok_json("GET", "/upstreams/web")["servers"]:
            if s["in_flight"] == 1:
                return s["address"]
    busy = wait_until(busy_server, 5, "the slow request to reach a server")
    drained = next(u for u in (a, b) if u.address == busy)
    other = b if drained is a else a
    answer = admin.set_server("web", busy, "drain")
    assert answer["upstream"] == "web"
    assert answer["server"]["state"] == "draining" and answer["server"]["in_flight"] == 1
    # weir counts in_flight from the pick; wait until the upstream has read the request too
    wait_until(lambda: drained.stats()["requests"] == 1, 5, "the slow request at the upstream")
    before = count_requests(drained, other)
    names = send(w, 10)
    assert set(names) == {other.name}, names
    after = count_requests(drained, other)
    assert after[0] == before[0], "the drained server received new requests"
    assert after[1] == before[1] + 10
    t.join(10)
    assert result["r"].status == 200 and result["r"].body == b"slow\n"
    assert by_name[result["r"].upstream] is drained       # the request in flight finished there
    srv = wait_until(lambda: (lambda s: s if s["in_flight"] == 0 else None)(
        admin.server("web", busy)), 5, "in_flight back to 0")
    assert srv["state"] == "draining"
    assert srv["responses"]["2xx"] == 1


def test_disable_then_enable_a_server(upstream, weir, tmp_path):
    a, b = upstream("a"), upstream("b")
    w, admin = start(weir, tmp_path, {"web": [a.address, b.address]}, workers=1)
    assert sorted(send(w, 4)) == ["a", "a", "b", "b"]
    wait_until(lambda: admin.server("web", a.address)["idle_connections"] >= 1, 5,
               "an idle keep-alive connection to a")
    answer = admin.set_server("web", a.address, "disable")
    assert answer["server"]["state"] == "disabled"
    assert answer["server"]["idle_connections"] == 0           # closed at once
    before = count_requests(a, b)
    assert set(send(w, 6)) == {"b"}
    assert count_requests(a, b) == [before[0], before[1] + 6]
    assert admin.get("/stats.csv").text.count(f"{a.address},disabled,") == 1
    answer = admin.set_server("web", a.address, "enable")
    assert answer["server"]["state"] == "enabled"
    assert sorted(send(w, 6)) == ["a"] * 3 + ["b"] * 3
    again = admin.set_server("web", a.address, "enable")                 # idempotent
    assert again["server"]["state"] == "enabled"


def test_every_server_disabled_answers_503(upstream, weir, tmp_path):
    a = upstream("a")
    w, admin = start(weir, tmp_path, {"web": [a.address]})
    admin.set_server("web", a.address, "disable")
    assert w.get("/echo").status == 503               # no server available
    assert a.stats()["requests"] == 0
    admin.set_server("web", a.address, "enable")
    assert w.get("/echo").status == 200


def test_weight_change_shows_in_stats_and_in_the_traffic_split(upstream, weir, tmp_path):
    a, b = upstream("a"), upstream("b")
    w, admin = start(weir, tmp_path, {"web": [a.address, b.address]}, workers=1)
    answer = admin.set_weight("web", b.address, 3)
    assert answer["upstream"] == "web" and answer["server"]["weight"] == 3
    assert admin.server("web", b.address)["weight"] == 3
    assert {s["address"]: s["weight"] for s in admin.stats()["upstreams"][0]["servers"]} == {
        a.address: 1, b.address: 3}
    assert f"web,{b.address},enabled,3," in admin.get("/stats.csv").text
    fams = parse_prometheus(admin.get("/metrics").text)
    assert fams["weir_upstream_weight"].value(upstream="web", server=b.address) == 3
    assert admin.get("/config").json()["upstreams"][0]["servers"][1]["weight"] == 1  # the file's
    names = send(w, 40)
    assert (names.count("a"), names.count("b")) == (10, 30)
    assert count_requests(a, b) == [10, 30]


def test_weight_rejects_bad_bodies_and_unknown_servers(upstream, weir, tmp_path):
    a = upstream("a")
    w, admin = start(weir, tmp_path, {"web": [a.address]})
    path = f"/upstreams/web/servers/{a.address}/weight"
    for body in ('{"weight": 0}', '{"weight": 1001}', '{"weight": -1}', '{"weight": "3"}',
                 '{"weight": 2.5}', '{"w": 3}', "[3]", "3", "not json", ""):
        r = admin.request("PUT", path, body)
        assert r.status == 400, (body, r.status, r.body)
        assert isinstance(r.json()["error"], str)
    assert admin.request("PUT", path, '{"weight": 1000}').json()["server"]["weight"] == 1000
    r = admin.request("PUT", "/upstreams/web/servers/127.0.0.1:1/weight", '{"weight": 2}')
    assert (r.status, r.json()) == (404, {"error": "upstream 'web' has no server '127.0.0.1:1'"})
    r = admin.request("PUT", f"/upstreams/nope/servers/{a.address}/weight", '{"weight": 2}')
    assert (r.status, r.json()) == (404, {"error": "no upstream named 'nope'"})
    r = admin.post(f"/upstreams/web/servers/{a.address}/bogus")
    assert r.status == 404


def test_runtime_changes_survive_a_reload_that_keeps_the_server(upstream, weir, tmp_path):
    a, b = upstream("a"), upstream("b")
    port, admin_port = free_port(), free_port()
    ups = {"web": [a.address, b.address]}
    w = weir(versioned(port, ups, 1, tmp_path, admin_port, workers=1))
    admin = Admin(admin_port, TOKEN)
    admin.set_server("web", a.address, "drain")
    admin.set_weight("web", b.address, 5)
    w.config_path.write_text(versioned(port, ups, 2, tmp_path, admin_port, workers=1))
    assert admin.ok_json("POST", "/reload") == {"ok": True, "generation": 2}
    assert w.get("/ver").body == b"v2"
    assert (admin.server("web", a.address)["state"], admin.server("web", b.address)["weight"]) == \
        ("draining", 5)
    before = count_requests(a, b)
    assert set(send(w, 5)) == {"b"}
    assert count_requests(a, b) == [before[0], before[1] + 5]


# --------------------------------------------------------------------------------------------
# config, validate, reload


def test_config_shows_the_running_config_with_the_token_redacted(upstream, weir, tmp_path):
    a = upstream("a")
    w, admin = start(weir, tmp_path, {"web": [(a.address, 4)]})
    r = admin.get("/config", token=None)
    assert r.status == 200
    assert TOKEN not in r.text
    cfg = r.json()
    assert cfg["admin"] == {"listen": f"127.0.0.1:{admin.port}",
                            "token_file": str(tmp_path / "admin.token"), "token_set": True}
    assert cfg["file"] == str(w.config_path)
    assert cfg["workers"] == 2
    assert cfg["listeners"] == [{"name": "public", "listen": f"127.0.0.1:{w.port}", "routes": [
        {"match": {"path_prefix": "/"}, "upstream": "web"}]}]
    [web] = cfg["upstreams"]
    assert web["name"] == "web" and web["balance"] == "round_robin"
    assert web["servers"] == [{"address": a.address, "weight": 4, "backup": False,
                               "max_conns": 0}]
    assert web["timeouts"] == {"connect": "1s", "response": "5s"}
    assert cfg["timeouts"]["shutdown_grace"] == "5s"


def position_of(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of needle in text."""
    i = text.index(needle)
    return text.count("\n", 0, i) + 1, i - text.rfind("\n", 0, i)


def test_validate_reports_every_error_with_its_position_and_applies_nothing(upstream, weir,
                                                                           tmp_path):
    a = upstream("a")
    w, admin = start(weir, tmp_path, {"web": [a.address]})
    good = w.config_path.read_text()
    server = f'address: "{a.address}"'
    assert server in good
    bad = good.replace("workers: 2", "wrkers: 2").replace(server, server + "\n        weight: 0")
    r = admin.post("/config/validate", bad)
    assert r.status == 200
    body = r.json()
    assert body["valid"] is False
    line, col = position_of(bad, "wrkers")
    wline, wcol = position_of(bad, "weight: 0")
    assert f"<request>:{line}:{col}: wrkers: unknown key" in body["errors"], body
    assert f"<request>:{wline}:{wcol + len('weight: ')}: upstreams[0].servers[0].weight: " \
           f"must be 1..1000, got 0" in body["errors"], body
    assert len(body["errors"]) == 2

    r = admin.post("/config/validate", "workers: 2\nlisteners: [\n")
    [error] = r.json()["errors"]
    assert re.match(r"<request>:\d+:\d+: invalid YAML: ", error), error

    r = admin.post("/config/validate", "")
    assert r.json()["valid"] is False and r.json()["errors"]
    assert admin.stats()["generation"] == 1 and admin.stats()["reload_failures"] == 0


def test_validate_summarizes_the_changes_of_a_good_config(upstream, weir, tmp_path):
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    port, admin_port = free_port(), free_port()
    w = weir(admin_config(port, {"web": [a.address, b.address]}, tmp_path,
                          admin_port=admin_port))
    admin = Admin(admin_port, TOKEN)
    same = admin.ok_json("POST", "/config/validate", w.config_path.read_text())
    nothing = {"added": [], "removed": [], "changed": []}
    assert same == {"valid": True, "changes": {
        "listeners": nothing, "routes": nothing, "upstreams": nothing, "servers": nothing,
        "settings": {"changed": []}}}
    new = admin_config(port, {"web": [(a.address, 2), c.address], "api": [b.address]}, tmp_path,
                       admin_port=admin_port, routes=[
                           {"match": {"path_prefix": "/api/"}, "upstream": "api"},
                           {"match": {"path_prefix": "/"}, "upstream": "web"}],
                       timeouts={"keepalive": "20s"})
    changes = admin.ok_json("POST", "/config/validate", new)
    assert changes["valid"] is True
    ch = changes["changes"]
    assert ch["upstreams"] == {"added": ["api"], "removed": [], "changed": ["web"]}
    assert ch["servers"] == {"added": [f"api/{b.address}", f"web/{c.address}"],
                             "removed": [f"web/{b.address}"], "changed": [f"web/{a.address}"]}
    assert ch["routes"] == {"added": ["public/1"], "removed": [], "changed": ["public/0"]}
    assert ch["listeners"] == {"added": [], "removed": [], "changed": ["public"]}
    assert ch["settings"] == {"changed": ["timeouts"]}
    # nothing applied
    assert [s["address"] for s in admin.ok_json("GET", "/config")["upstreams"][0]["servers"]] == \
        [a.address, b.address]
    assert admin.stats()["generation"] == 1


def test_post_reload_applies_the_file_and_answers_the_new_generation(upstream, weir, tmp_path):
    a = upstream("a")
    port, admin_port = free_port(), free_port()
    w = weir(versioned(port, {"web": [a.address]}, 1, tmp_path, admin_port))
    admin = Admin(admin_port, TOKEN)
    with w.client() as c:
        assert c.get("/ver").body == b"v1"
        w.config_path.write_text(versioned(port, {"web": [a.address]}, 2, tmp_path, admin_port))
        mark = len(w.stderr_text())
        r = admin.post("/reload")
        assert (r.status, r.json()) == (200, {"ok": True, "generation": 2})
        assert c.get("/ver").body == b"v2"                  # same keep-alive connection
    w.wait_stderr(r"requested a reload", since=mark)
    s = admin.stats()
    assert s["generation"] == 2 and s["last_reload"]["ok"] is True
    assert s["last_reload"]["generation"] == 2
    assert parse_prometheus(admin.get("/metrics").text)["weir_config_generation"].value() == 2
    assert admin.ok_json("POST", "/reload") == {"ok": True, "generation": 3}  # same file again


def test_post_reload_of_a_broken_file_answers_409_and_the_old_config_keeps_serving(
        upstream, weir, tmp_path):
    a = upstream("a")
    port, admin_port = free_port(), free_port()
    w = weir(versioned(port, {"web": [a.address]}, 1, tmp_path, admin_port))
    admin = Admin(admin_port, TOKEN)
    broken = versioned(port, {"web": [a.address]}, 2, tmp_path, admin_port) + "bogus: 1\n"
    w.config_path.write_text(broken)
    r = admin.post("/reload")
    assert r.status == 409
    body = r.json()
    line, col = position_of(broken, "bogus")
    assert body["ok"] is False and body["generation"] == 1
    assert body["errors"] == [f"{w.config_path}:{line}:{col}: bogus: unknown key"], body
    assert w.get("/ver").body == b"v1"
    assert w.get("/echo").status == 200
    s = admin.stats()
    assert s["generation"] == 1 and s["reload_failures"] == 1
    assert s["last_reload"]["ok"] is False and s["last_reload"]["errors"] == body["errors"]
    fams = parse_prometheus(admin.get("/metrics").text)
    assert fams["weir_reload_failures_total"].value() == 1
    assert fams["weir_last_reload_success"].value() == 0
    w.config_path.write_text(versioned(port, {"web": [a.address]}, 2, tmp_path, admin_port))
    assert admin.ok_json("POST", "/reload") == {"ok": True, "generation": 2}
    assert w.get("/ver").body == b"v2"
    assert admin.stats()["last_reload"]["ok"] is True


# --------------------------------------------------------------------------------------------
# errors


def test_errors_are_json_with_the_right_status(upstream, weir, tmp_path):
    a = upstream("a")
    w, admin = start(weir, tmp_path, {"web": [a.address]})
    cases = [
        ("GET", "/nope", 404, {"error": "no such endpoint: /nope"}, None),
        ("GET", "/upstreams/web/servers", 404, None, None),
        ("GET", "/stats/extra", 404, None, None),
        ("GET", "/upstreams/%zz", 400, {"error": "invalid percent-encoding in request target"}, None),
        ("DELETE", "/healthz", 405, {"error": "method DELETE not allowed"}, "GET, HEAD"),
        ("POST", "/stats", 405, {"error": "method POST not allowed"}, "GET, HEAD"),
        ("GET", "/reload", 405, {"error": "method GET not allowed"}, "POST"),
        ("GET", "/config/validate", 405, None, "POST"),
        ("PUT", "/reload", 405, None, "POST"),
        ("POST", f"/upstreams/web/servers/{a.address}/weight", 405, None, "PUT"),
        ("GET", f"/upstreams/web/servers/{a.address}/drain", 405, None, "POST"),
        ("PUT", "/config", 405, None, "GET, HEAD"),
    ]
    for method, path, status, body, allow in cases:
        r = admin.request(method, path, b"{}" if method in ("POST", "PUT") else None)
        assert r.status == status, (method, path, r.status, r.body)
        assert r.headers["content-type"].startswith("application/json"), (method, path)
        got = r.json()
        assert set(got) == {"error"} and isinstance(got["error"], str)
        if body is not None:
            assert got == body, (method, path, got)
        if allow is not None:
            assert r.headers.get("allow") == allow, (method, path, r.headers)
    r = admin.post("/upstreams/nope/servers/1.2.3.4:80/drain")
    assert (r.status, r.json()) == (404, {"error": "no upstream named 'nope'"})
    # a body over 1 MiB is refused from its head, before anything is read
    with HttpClient(admin.port) as c:
        c.send(build_request("POST", "/config/validate",
                             [("Authorization", f"Bearer {TOKEN}"),
                              ("Content-Length", str((1 << 20) + 1))], host="127.0.0.1"))
        r = c.read_response("POST")
        assert r.status == 413 and "error" in r.json(), (r.status, r.body)


def test_one_keep_alive_connection_serves_many_admin_requests(upstream, weir, tmp_path):
    w, admin = start(weir, tmp_path, {"web": [upstream("a").address]})
    conn = http.client.HTTPConnection("127.0.0.1", admin.port, timeout=5)
    try:
        for path in ("/healthz", "/stats", "/metrics", "/nope", "/stats.csv", "/readyz"):
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            assert r.status in (200, 404) and not r.will_close, path
        conn.request("POST", "/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["generation"] == 2
    finally:
        conn.close()


def test_admin_changes_take_effect_quickly_under_traffic(upstream, weir, tmp_path):
    """A drain posted while a client keeps sending: the first request that starts after the
    answer arrives already avoids the server."""
    a, b = upstream("a"), upstream("b")
    w, admin = start(weir, tmp_path, {"web": [a.address, b.address]}, workers=2)
    stop = time.monotonic() + 1.0
    with w.client() as c:
        while time.monotonic() < stop:
            assert c.get("/echo").status == 200
        admin.set_server("web", a.address, "drain")
        names = [c.get("/echo").upstream for _ in range(20)]
    assert set(names) == {"b"}, names


def test_a_reload_picks_up_a_new_token(upstream, weir, tmp_path):
    a = upstream("a")
    w, admin = start(weir, tmp_path, {"web": [a.address]})
    (tmp_path / "admin.token").write_text("rotated-token\n")
    assert admin.ok_json("POST", "/reload")["generation"] == 2       # authorized by the old one
    r = admin.post("/reload")
    assert r.status == 401
    assert admin.ok_json("POST", "/reload", token="rotated-token")["generation"] == 3
    assert "rotated-token" not in admin.get("/config").text


def test_config_after_a_reload_shows_the_start_up_only_settings_in_effect(upstream, weir,
                                                                         tmp_path):
    """admin.listen, workers and access_log are read at start-up only (docs/configuration.md):
    after a reload of a file that changes them, GET /config must still describe what runs."""
    a = upstream("a")
    port, admin_port, new_admin_port = free_port(), free_port(), free_port()
    w = weir(admin_config(port, {"web": [a.address]}, tmp_path, admin_port=admin_port))
    admin = Admin(admin_port, TOKEN)
    log = tmp_path / "access.log"
    w.config_path.write_text(admin_config(port, {"web": [a.address]}, tmp_path,
                                          admin_port=new_admin_port, workers=3,
                                          access_log={"path": str(log), "format": "json"}))
    mark = len(w.stderr_text())
    assert admin.ok_json("POST", "/reload")["generation"] == 2
    for what in ("workers", "access_log", "admin.listen"):
        w.wait_stderr(rf"\[warn\] reload: {re.escape(what)} changes only on restart; keeping "
                      "the running one", since=mark)
    assert admin.get("/healthz").status == 200                # the admin did not move ...
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", new_admin_port)) != 0   # ... nothing listens there
    assert w.get("/echo").status == 200
    time.sleep(0.2)
    assert not log.exists()                                   # the access log did not move
    cfg = admin.ok_json("GET", "/config")
    shown = {"admin.listen": cfg["admin"]["listen"], "workers": cfg["workers"],
             "access_log": cfg["access_log"]}
    in_effect = {"admin.listen": f"127.0.0.1:{admin_port}", "workers": 2,
                 "access_log": {"path": "stdout", "format": "combined"}}
    assert shown == in_effect
