"""Command line: `weir -t -c FILE` validates, `weir -v` prints the version, `weir --explain`
tells which route a request would take."""
import re
import subprocess

from harness import WEIR_BIN, free_port, proxy_config

GOOD = """\
workers: 2
listeners:
  - name: public
    listen: 127.0.0.1:{port}
    routes:
      - match: {{host: api.example.com, path_prefix: /v1/}}
        upstream: api
      - match: {{path: /ping}}
        respond: {{status: 200, body: "pong\\n", headers: {{Content-Type: text/plain}}}}
      - match: {{path_prefix: /}}
        upstream: web
upstreams:
  - name: web
    servers:
      - {{address: 127.0.0.1:9001, weight: 3}}
      - {{address: 127.0.0.1:9002}}
    keepalive: {{max_idle: 64, idle_timeout: 60s}}
    timeouts: {{connect: 2s, response: 60s}}
  - name: api
    servers:
      - address: "[::1]:9003"
limits: {{max_connections: 10000, max_header_bytes: 16KiB, max_uri_bytes: 8KiB, max_body_bytes: 100MiB}}
timeouts: {{client_header: 10s, client_body: 60s, keepalive: 75s, shutdown_grace: 30s}}
access_log: {{path: stdout, format: combined}}
"""

# Three mistakes: an unknown key, a weight out of range, a listener without `listen`.
BAD = """\
workers: 2
listeners:
  - name: public
    listen: 127.0.0.1:8080
    routes:
      - match: {path_prefix: /}
        upstream: web
  - name: admin
    routes:
      - match: {path_prefix: /}
        upstream: web
upstreams:
  - name: web
    servers:
      - address: 127.0.0.1:9001
        wieght: 3
      - address: 127.0.0.1:9002
        weight: 0
"""


def run(*args, timeout=10):
    return subprocess.run([str(WEIR_BIN), *args], capture_output=True, text=True, timeout=timeout)


def test_version_flag_prints_a_version_and_exits_0():
    r = run("-v")
    assert r.returncode == 0, r.stderr
    assert re.search(r"\d+\.\d+\.\d+", r.stdout + r.stderr)


def test_check_accepts_the_documented_example_config(tmp_path):
    path = tmp_path / "weir.yaml"
    path.write_text(GOOD.format(port=free_port()))
    r = run("-t", "-c", str(path))
    assert r.returncode == 0, r.stderr


def test_check_accepts_a_generated_config(tmp_path):
    path = tmp_path / "weir.yaml"
    path.write_text(proxy_config(free_port(), {"web": ["127.0.0.1:9001", ("127.0.0.1:9002", 3)]},
                                 access_log={"path": "off"}))
    r = run("-t", "-c", str(path))
    assert r.returncode == 0, r.stderr


def test_explain_names_the_route_a_request_takes_on_its_normalized_path(tmp_path):
    """--explain reads the config only: the first failing condition of each route tried, then
    the match. The path is normalized as for a real request, and refused the same way."""
    path = tmp_path / "weir.yaml"
    path.write_text(GOOD.format(port=free_port()))
    r = run("--explain", "-c", str(path), "GET http://api.example.com/v2/users?id=7")
    assert r.returncode == 0, r.stderr
    assert re.search(r"route 0 .*no: .*path_prefix /v1/ does not match /v2/users", r.stdout), \
        r.stdout
    assert "MATCH -> upstream web" in r.stdout, r.stdout
    r = run("--explain", "-c", str(path), "GET http://api.example.com/x/..//v1/%75sers",
            "-H", "X-Env: canary")
    assert "path normalized to /v1/users" in r.stdout, r.stdout
    assert re.search(r"route 0 .*MATCH -> upstream api", r.stdout), r.stdout
    r = run("--explain", "-c", str(path), "GET http://api.example.com/../v1/")
    assert "-> 400" in r.stdout and "MATCH" not in r.stdout, r.stdout


def position_of(text, line_text, token):
    """1-based (line, col) of token on the line whose content is line_text."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip() == line_text:
            return n, line.index(token) + 1
    raise AssertionError(line_text)


def test_check_reports_every_error_with_file_line_column_and_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    r = run("-t", "-c", str(path))
    assert r.returncode == 1
    unknown = position_of(BAD, "wieght: 3", "wieght")
    weight = position_of(BAD, "weight: 0", "0")
    admin = position_of(BAD, "- name: admin", "name")
    expected = [
        (unknown, "upstreams[0].servers[0].wieght"),
        (weight, "upstreams[0].servers[1].weight"),
        (admin, "listeners[1]"),
    ]
    for (line, col), key_path in expected:
        prefix = f"{path}:{line}:{col}: {key_path}: "
        assert any(l.startswith(prefix) and len(l) > len(prefix) for l in r.stderr.splitlines()), \
            f"no line starting {prefix!r} in:\n{r.stderr}"
    assert re.search(r"listeners\[1\]: .*listen", r.stderr)


def test_check_reports_a_yaml_syntax_error_with_its_position(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("workers: 2\nlisteners:\n  - name: [unclosed\n")
    r = run("-t", "-c", str(path))
    assert r.returncode == 1
    assert re.search(rf"^{re.escape(str(path))}:\d+:\d+: ", r.stderr, re.M), r.stderr


def test_check_rejects_a_route_to_an_unknown_upstream(tmp_path):
    path = tmp_path / "weir.yaml"
    text = proxy_config(free_port(), {"web": ["127.0.0.1:9001"]},
                        routes=[{"match": {"path_prefix": "/"}, "upstream": "nope"}])
    path.write_text(text)
    r = run("-t", "-c", str(path))
    assert r.returncode == 1
    assert re.search(rf"^{re.escape(str(path))}:\d+:\d+: listeners\[0\]\.routes\[0\]\.upstream: ",
                     r.stderr, re.M), r.stderr


def test_check_fails_for_a_missing_file(tmp_path):
    path = tmp_path / "missing.yaml"
    r = run("-t", "-c", str(path))
    assert r.returncode == 1
    assert str(path) in r.stderr


def test_check_reports_every_unresolvable_server_at_its_entry(tmp_path):
    """Names are resolved once the YAML is valid; each failed lookup is its own positioned error
    (`.invalid` never resolves, RFC 6761)."""
    path = tmp_path / "weir.yaml"
    text = proxy_config(free_port(), {"web": ["127.0.0.1:9001", "one.weir-test.invalid:80"],
                                      "api": ["two.weir-test.invalid:81"]})
    path.write_text(text)
    r = run("-t", "-c", str(path), timeout=30)
    assert r.returncode == 1
    for key_path, host in [("upstreams[0].servers[1]", "one.weir-test.invalid"),
                           ("upstreams[1].servers[0]", "two.weir-test.invalid")]:
        assert re.search(rf"^{re.escape(str(path))}:\d+:\d+: {re.escape(key_path)}: cannot "
                         rf"resolve {re.escape(host)}: ", r.stderr, re.M), r.stderr
