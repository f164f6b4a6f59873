"""Alerts on server state changes, delivered to real receivers on loopback: an SMTP server
(aiosmtpd, Debian's python3-aiosmtpd) and an HTTP server for the webhook, both run by the test.
A health check that flips sends one message with the server, old state, new state and time;
changes within one batch window share a message; a delivery that fails is logged and changes
nothing for the traffic.
"""
import email
import email.policy
import http.server
import json
import re
import threading
import time
from datetime import datetime, timezone

import pytest

from harness import HttpClient, free_port, to_yaml, wait_until

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

CHECK = {"interval": "200ms", "timeout": "100ms", "rise": 2, "fall": 2, "jitter": "0%",
         "initial_state": "healthy"}


# --------------------------------------------------------------------------------------------
# receivers

class MailSink:
    """An SMTP server (aiosmtpd) on 127.0.0.1 keeping every message it accepts."""

    def __init__(self):
        self.messages = []   # (envelope from, recipients, parsed message)
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                msg = email.message_from_bytes(envelope.original_content,
                                               policy=email.policy.default)
                with sink.lock:
                    sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
                return "250 Message accepted for delivery"

        self.port = free_port()
        self.controller = aiosmtpd_controller.Controller(Handler(), hostname="127.0.0.1",
                                                         port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()
        return False

    def received(self):
        with self.lock:
            return list(self.messages)


class WebhookSink:
    """An HTTP server on 127.0.0.1 answering 204 to every POST and keeping (path, JSON body)."""

    def __init__(self):
        self.posts = []
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.posts.append((self.path, self.headers.get("Content-Type"),
                                   json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        return False

    def received(self):
        return list(self.posts)


@pytest.fixture
def mail_sink():
    with MailSink() as sink:
        yield sink


@pytest.fixture
def webhook_sink():
    with WebhookSink() as sink:
        yield sink


# --------------------------------------------------------------------------------------------
# helpers

def config(port, servers, alerts, *, check=CHECK):
    web = {"name": "web", "servers": [{"address": s.address} for s in servers],
           "health_check": check, "timeouts": {"connect": "1s", "response": "5s"}}
    cfg = {
        "workers": 2,
        "listeners": [{"name": "public", "listen": f"127.0.0.1:{port}",
                       "routes": [{"upstream": "web"}]}],
        "upstreams": [web],
        "alerts": alerts,
        "timeouts": {"client_header": "5s", "client_body": "5s", "keepalive": "10s",
                     "shutdown_grace": "5s"},
        "pid_file": "off",
    }
    return to_yaml(cfg) + "\n"


def email_to(sink, **extra):
    return {"url": f"smtp://127.0.0.1:{sink.port}", "from": "weir@test", "to": ["ops@test"],
            "starttls": False, **extra}


def webhook_to(sink):
    return {"url": f"http://127.0.0.1:{sink.port}/hook"}


def set_health(up, status):
    return up._control(f"/__health?status={status}")


def now_ms():
    return int(time.time() * 1000)


def parse_iso_ms(text):
    """'2026-11-24T06:58:46.123Z' -> unix milliseconds."""
    dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return round(dt.timestamp() * 1000)


# --------------------------------------------------------------------------------------------
# delivery

def test_health_check_flip_is_mailed_with_server_states_and_time(upstream, weir, mail_sink):
    a, b = upstream("a"), upstream("b")
    w = weir(config(free_port(), [a, b], {"email": email_to(mail_sink), "batch": "200ms"}))
    assert w.get("/echo").status == 200
    before = now_ms()
    set_health(b, 503)
    wait_until(mail_sink.received, 10, "a mail")
    after = now_ms()

    (mail_from, rcpts, msg), = mail_sink.received()
    assert mail_from == "weir@test" and rcpts == ["ops@test"]
    assert msg["From"] == "weir@test" and msg["To"] == "ops@test"
    assert msg["Subject"] == "[weir] 1 server state change"
    body = msg.get_content()
    line = re.search(rf"^(\S+) web {re.escape(b.address)} healthy \u2192 unhealthy: (.*)$",
                     body, re.M)
    assert line, body
    assert "status 503" in line.group(2)
    assert before - 1000 <= parse_iso_ms(line.group(1)) <= after + 1000


def test_health_check_flip_is_posted_to_the_webhook_as_json(upstream, weir, webhook_sink):
    a, b = upstream("a"), upstream("b")
    w = weir(config(free_port(), [a, b], {"webhook": webhook_to(webhook_sink), "batch": "200ms"}))
    assert w.get("/echo").status == 200
    before = now_ms()
    set_health(b, 503)
    wait_until(webhook_sink.received, 10, "a webhook POST")
    after = now_ms()

    (path, content_type, doc), = webhook_sink.received()
    assert path == "/hook" and content_type == "application/json"
    assert doc["source"] == "weir"
    (change,) = doc["changes"]
    assert change["upstream"] == "web" and change["server"] == b.address
    assert (change["old_state"], change["new_state"]) == ("healthy", "unhealthy")
    assert "status 503" in change["reason"]
    assert before - 1000 <= change["at_unix_ms"] <= after + 1000
    assert parse_iso_ms(change["at"]) == change["at_unix_ms"]

    set_health(b, 200)                                   # and back: a second message
    wait_until(lambda: len(webhook_sink.received()) == 2, 10, "a second webhook POST")
    (change,) = webhook_sink.received()[1][2]["changes"]
    assert (change["server"], change["old_state"], change["new_state"]) == \
        (b.address, "unhealthy", "healthy")


def test_changes_within_the_batch_window_arrive_in_one_message(upstream, weir, mail_sink,
                                                               webhook_sink):
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    alerts = {"email": email_to(mail_sink), "webhook": webhook_to(webhook_sink), "batch": "2s"}
    w = weir(config(free_port(), [a, b, c], alerts))
    assert w.get("/echo").status == 200
    set_health(b, 503)
    set_health(c, 503)
    for up in (b, c):
        w.wait_stderr(rf"server {re.escape(up.address)}: healthy -> unhealthy")
    wait_until(lambda: mail_sink.received() and webhook_sink.received(), 10, "the batch")
    time.sleep(2.5)                                      # a whole window more: nothing else comes
    assert len(mail_sink.received()) == 1 and len(webhook_sink.received()) == 1

    msg = mail_sink.received()[0][2]
    assert msg["Subject"] == "[weir] 2 server state changes"
    body = msg.get_content()
    for up in (b, c):
        assert re.search(rf"web {re.escape(up.address)} healthy \u2192 unhealthy", body), body
    changes = webhook_sink.received()[0][2]["changes"]
    assert sorted(ch["server"] for ch in changes) == sorted([b.address, c.address])


def test_failed_mail_delivery_does_not_affect_proxying_and_is_logged(upstream, weir):
    a, b = upstream("a"), upstream("b")
    closed = free_port()                                 # nobody listens: connect is refused
    alerts = {"email": {"url": f"smtp://127.0.0.1:{closed}", "from": "weir@test",
                        "to": ["ops@test"], "starttls": False}, "batch": "200ms"}
    w = weir(config(free_port(), [a, b], alerts))
    statuses = []
    stop = threading.Event()

    def client_loop():
        with HttpClient(w.port, timeout=10) as c:
            while not stop.is_set():
                statuses.append(c.get("/echo").status)

    t = threading.Thread(target=client_loop)
    t.start()
    try:
        wait_until(lambda: len(statuses) >= 20, 10, "traffic")
        set_health(b, 503)
        w.wait_stderr(r"alerts: email delivery failed: .+", timeout=15)
        mark = len(statuses)
        wait_until(lambda: len(statuses) >= mark + 50, 10, "traffic after the failed delivery")
    finally:
        stop.set()
        t.join(15)
    assert set(statuses) == {200}
    assert w.running


def test_no_alert_at_startup_for_servers_that_pass_their_checks(upstream, weir, webhook_sink):
    """Default initial_state (unhealthy): servers start out of service and enter it when their
    checks pass. Nothing may report a server whose checks all passed as unhealthy."""
    a, b = upstream("a"), upstream("b")
    check = {k: v for k, v in CHECK.items() if k != "initial_state"}
    w = weir(config(free_port(), [a, b], {"webhook": webhook_to(webhook_sink), "batch": "200ms"},
                    check=check))
    wait_until(lambda: a.stats()["probes"] >= 3 and b.stats()["probes"] >= 3, 10,
               "three checks of each server")
    assert w.get("/echo").status == 200                  # in service
    time.sleep(1.0)                                      # five batch windows: all sent by now
    changes = [ch for _, _, doc in webhook_sink.received() for ch in doc["changes"]]
    wrong = [ch for ch in changes if ch["new_state"] != "healthy"]
    assert not wrong, f"servers passing every check reported as: {wrong}"
