"""Access log: nginx combined + upstream fields, or one JSON object per line; SIGUSR1 reopens."""
import json
import re
import signal
from datetime import datetime, timezone

from harness import free_port, proxy_config, received_header, wait_until

COMBINED = re.compile(
    r'^(?P<remote>\S+) - - \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) '
    r'(?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<ua>[^"]*)" (?P<upstream_addr>\S+) '
    r'(?P<upstream_status>\S+) (?P<request_time>\d+\.\d{3})$')

JSON_KEYS = {"remote_addr", "time", "method", "uri", "protocol", "status", "bytes_sent", "referer",
             "user_agent", "upstream_addr", "upstream_status", "request_time", "request_id"}


def lines_with(lines, text):
    return [l for l in lines if text in l]


def test_combined_line_for_a_proxied_request(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    r = w.get("/echo?x=1", headers=[("User-Agent", "itest/1.0"),
                                    ("Referer", "http://ref.test/page")])
    assert r.status == 200
    line = w.wait_access_log(lambda ls: lines_with(ls, "/echo?x=1"))[0]
    m = COMBINED.match(line)
    assert m, line
    assert m["remote"] == "127.0.0.1"
    logged = datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z")
    assert abs((datetime.now(timezone.utc) - logged).total_seconds()) < 120
    assert m["request"] == "GET /echo?x=1 HTTP/1.1"
    assert m["status"] == "200"
    assert int(m["bytes"]) >= len(r.body)
    assert m["referer"] == "http://ref.test/page"
    assert m["ua"] == "itest/1.0"
    assert m["upstream_addr"] == web.address
    assert m["upstream_status"] == "200"


def test_combined_line_for_a_local_reply_has_no_upstream(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, routes=[
        {"match": {"path": "/ping"}, "respond": {"status": 200, "body": "pong\n"}},
        {"match": {"path_prefix": "/"}, "upstream": "web"}]))
    assert w.get("/ping").status == 200
    m = COMBINED.match(w.wait_access_log(lambda ls: lines_with(ls, "/ping"))[0])
    assert m and m["status"] == "200" and m["ua"] == "-" and m["referer"] == "-"
    assert m["upstream_addr"] == "-" and m["upstream_status"] == "-"


def test_one_line_per_request(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}))
    with w.client() as c:
        for i in range(5):
            assert c.get(f"/echo?n={i}").status == 200
    assert w.get("/nothing-here").status == 404
    w.wait_access_log(lambda ls: lines_with(ls, "/nothing-here"))
    lines = w.access_log_lines()
    for i in range(5):
        assert len(lines_with(lines, f"/echo?n={i} ")) == 1, lines
    assert all(COMBINED.match(l) for l in lines), lines
    assert COMBINED.match(lines_with(lines, "/nothing-here")[0])["status"] == "404"


def test_failed_request_is_logged_with_its_status(weir):
    w = weir(proxy_config(free_port(), {"web": [f"127.0.0.1:{free_port()}"]}))
    assert w.get("/echo?dead=1").status == 502
    m = COMBINED.match(w.wait_access_log(lambda ls: lines_with(ls, "/echo?dead=1"))[0])
    assert m and m["status"] == "502"


def test_json_format(upstream, weir, tmp_path):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]},
                          access_log={"path": "stdout", "format": "json"}))
    ua = 'tricky "quoted" \\ agent'
    r = w.get("/echo?j=1", headers=[("User-Agent", ua), ("Referer", "http://r.test/")])
    assert r.status == 200
    line = w.wait_access_log(lambda ls: lines_with(ls, "j=1"))[0]
    entry = json.loads(line)
    assert JSON_KEYS <= entry.keys(), entry
    assert entry["remote_addr"] == "127.0.0.1"
    assert entry["method"] == "GET"
    assert entry["uri"] == "/echo?j=1"
    assert entry["protocol"] == "HTTP/1.1"
    assert str(entry["status"]) == "200"
    assert int(entry["bytes_sent"]) >= len(r.body)
    assert entry["referer"] == "http://r.test/"
    assert entry["user_agent"] == ua
    assert entry["upstream_addr"] == web.address
    assert str(entry["upstream_status"]) == "200"
    assert float(entry["request_time"]) >= 0
    assert entry["request_id"] == received_header(r.json(), "X-Request-Id")


def test_sigusr1_reopens_the_log_file_after_rotation(upstream, weir, tmp_path):
    web = upstream("web")
    log = tmp_path / "access.log"
    w = weir(proxy_config(free_port(), {"web": [web.address]},
                          access_log={"path": str(log), "format": "combined"}))
    assert w.get("/echo?before=rotation").status == 200
    w.wait_access_log(lambda ls: lines_with(ls, "before=rotation"), path=log)
    rotated = tmp_path / "access.log.1"
    log.rename(rotated)
    assert w.get("/echo?between=1").status == 200                  # still goes to the old file
    w.wait_access_log(lambda ls: lines_with(ls, "between=1"), path=rotated)
    w.send_signal(signal.SIGUSR1)
    wait_until(log.exists, 5, "weir to create a new access.log after SIGUSR1")
    assert w.get("/echo?after=rotation").status == 200
    w.wait_access_log(lambda ls: lines_with(ls, "after=rotation"), path=log)
    assert not lines_with(w.access_log_lines(rotated), "after=rotation")
    assert lines_with(w.access_log_lines(rotated), "before=rotation")
    assert w.running


def test_access_log_off_writes_nothing(upstream, weir):
    web = upstream("web")
    w = weir(proxy_config(free_port(), {"web": [web.address]}, access_log={"path": "off"}))
    for _ in range(3):
        assert w.get("/echo").status == 200
    assert w.stop() == 0
    assert w.stdout_text() == ""
