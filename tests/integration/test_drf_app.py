"""A real application behind weir: Django REST framework served by gunicorn, spoken to with
http.client."""
import http.client
import json

import pytest

from harness import DRF_APP_DIR, Gunicorn, free_port, proxy_config


@pytest.fixture
def app(tmp_path):
    with Gunicorn("drfapp.wsgi:application", DRF_APP_DIR, tmp_path) as g:
        yield g


def call(w, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(w.host, w.port, timeout=10)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        hdrs = {"Accept": "application/json", **(headers or {})}
        if payload is not None:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=hdrs)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def test_drf_get_and_post_round_trip_through_weir(app, weir):
    w = weir(proxy_config(free_port(), {"django": [app.address]}))
    status, data = call(w, "GET", "/api/items/")
    assert status == 200
    assert [i["name"] for i in data["items"]] == ["anvil", "weir"]
    item = {"name": "sluice", "tags": ["water", "gate"], "size": 3.5, "note": "caf\u00e9"}
    status, data = call(w, "POST", "/api/items/", item)
    assert status == 201 and data == {"created": item}


def test_drf_app_sees_the_forwarding_headers(app, weir):
    w = weir(proxy_config(free_port(), {"django": [app.address]}))
    status, seen = call(w, "GET", "/api/whoami/", headers={"Host": "shop.example.test"})
    assert status == 200
    assert seen["host"] == "shop.example.test"
    assert seen["x_forwarded_for"] == "127.0.0.1"
    assert seen["x_forwarded_proto"] == "http"
    assert seen["x_forwarded_host"] == "shop.example.test"
    assert seen["x_request_id"]
    assert "weir" in seen["via"]


def test_drf_app_is_not_fooled_by_underscore_spellings_of_the_forwarding_headers(app, weir):
    """gunicorn hands X_Forwarded_For to Django as HTTP_X_FORWARDED_FOR, the name of
    X-Forwarded-For: weir drops a client's underscore spellings of the fields it writes, so the
    app sees weir's values alone. Other names with '_' still pass."""
    w = weir(proxy_config(free_port(), {"django": [app.address]}))
    status, seen = call(w, "GET", "/api/whoami/", headers={
        "Host": "shop.example.test", "X_Forwarded_For": "203.0.113.66",
        "X_Forwarded_Proto": "https", "X-Forwarded_Host": "evil.example.test",
        "X_Custom_Key": "kept"})
    assert status == 200
    assert seen["x_forwarded_for"] == "127.0.0.1"
    assert seen["x_forwarded_proto"] == "http"
    assert seen["x_forwarded_host"] == "shop.example.test"
    assert seen["x_custom_key"] == "kept"


def test_drf_many_requests_on_one_client_connection(app, weir):
    """gunicorn's sync workers close after each response; weir must keep the client side open."""
    w = weir(proxy_config(free_port(), {"django": [app.address]}))
    conn = http.client.HTTPConnection(w.host, w.port, timeout=10)
    try:
        for i in range(20):
            conn.request("POST", "/api/items/", body=json.dumps({"i": i}),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            assert r.status == 201 and json.loads(r.read()) == {"created": {"i": i}}
    finally:
        conn.close()
