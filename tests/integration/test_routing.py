"""Routing seen from a client: every match condition (host_regex, path_regex, methods, headers,
query), first-match order, redirects with placeholders, the path modifiers (strip_prefix,
add_prefix, rewrite), header edits both ways, host_rewrite and per-route timeouts.

Each upstream is a fake server whose X-Upstream response header names it, so a response tells
which route took the request; /echo answers with the target and headers the upstream received.
"""
import http.client

import pytest

from harness import (HttpClient, free_port, proxy_config, raw_exchange, received_header,
                     received_header_all, status_of)


def start(weir, servers, routes, **kw):
    """weir with one upstream per fake server (named like it) and these routes."""
    return weir(proxy_config(free_port(), {u.name: [u.address] for u in servers}, routes=routes,
                             **kw))


def last_path(up):
    """The target of the last request the fake upstream received."""
    return up.stats()["received"][-1]["path"]


# --------------------------------------------------------------------------------------------
# match conditions

def test_host_regex_fully_matches_the_host_without_port_in_any_case(upstream, weir):
    regional, web = upstream("regional"), upstream("web")
    w = start(weir, [regional, web], [
        {"match": {"host_regex": r"(eu|us)-api\.example\.com"}, "upstream": "regional"},
        {"upstream": "web"},
    ])
    cases = [
        ("eu-api.example.com", "regional"),
        ("US-API.Example.COM:8443", "regional"),
        ("eu-api.example.com.", "regional"),       # one trailing dot is ignored
        ("ap-api.example.com", "web"),
        ("eu-api.example.com.evil.test", "web"),   # a full match, not a search
        ("x.eu-api.example.com", "web"),
    ]
    for host, expected in cases:
        assert w.get("/echo", host=host).upstream == expected, host


def test_path_regex_matches_anywhere_in_the_path_unless_anchored(upstream, weir):
    images, admin, web = upstream("images"), upstream("admin"), upstream("web")
    w = start(weir, [images, admin, web], [
        {"match": {"path_regex": r"\.(png|jpe?g)$"}, "upstream": "images"},
        {"match": {"path_regex": "/admin/"}, "upstream": "admin"},
        {"upstream": "web"},
    ])
    cases = [
        ("/static/logo.png", "images"),
        ("/a/b/photo.jpeg?size=2", "images"),      # the query is not part of the path
        ("/logo.png.html", "web"),
        ("/logo.PNG", "web"),                      # path regexes are case-sensitive
        ("/site/admin/users", "admin"),            # unanchored: matches in the middle
        ("/administrator", "web"),
    ]
    for target, expected in cases:
        assert w.get(target).upstream == expected, target


def test_routes_match_the_normalized_path_which_is_what_the_upstream_gets(upstream, weir):
    """"/%61dmin", "//admin" and "/x/../admin" are "/admin" to most servers: a route that
    refuses "/admin" must refuse them too (nginx normalizes the same way before matching).
    The upstream receives the path routes saw; the query is left alone. A path that climbs
    above the root or a '%' without two hex digits is a 400."""
    web = upstream("web")
    w = start(weir, [web], [
        {"match": {"path_prefix": "/admin"}, "respond": {"status": 403, "body": "no\n"}},
        {"upstream": "web"},
    ])
    for target in ("/%61dmin/users", "//admin", "/static/../admin", "/./admin/.", "/%2e/admin"):
        reply, _ = raw_exchange(w.port, f"GET {target} HTTP/1.1\r\nHost: a\r\n"
                                        "Connection: close\r\n\r\n".encode())
        assert status_of(reply) == 403, (target, reply[:100])
    with HttpClient(w.port) as c:
        c.send(b"GET /x/./y//../../e%63ho/.?q=/../a%zz HTTP/1.1\r\nHost: a\r\n\r\n")
        assert c.read_response().status == 200
    assert last_path(web) == "/echo/?q=/../a%zz"
    web.reset()
    for target in ("/../etc/passwd", "/a/%2e%2e/..", "/50%off"):
        reply, closed = raw_exchange(w.port, f"GET {target} HTTP/1.1\r\nHost: a\r\n\r\n"
                                     .encode())
        assert status_of(reply) == 400 and closed, (target, reply[:100])
    assert web.received_nothing()


def test_methods_send_writes_elsewhere_than_reads(upstream, weir):
    writes, reads = upstream("writes"), upstream("reads")
    w = start(weir, [writes, reads], [
        {"match": {"path_prefix": "/items", "methods": ["POST", "PUT", "DELETE"]},
         "upstream": "writes"},
        {"match": {"path_prefix": "/items", "methods": ["GET"]}, "upstream": "reads"},
    ])
    with w.client() as c:
        assert c.request("POST", "/items", body=b'{"a":1}').upstream == "writes"
        assert c.request("PUT", "/items/1", body=b"x").upstream == "writes"
        assert c.request("DELETE", "/items/1").upstream == "writes"
        assert c.request("GET", "/items/1").upstream == "reads"
        head = c.request("HEAD", "/items/1")        # GET does not imply HEAD
        assert head.status == 404 and head.upstream is None
        patch = c.request("PATCH", "/items/1", body=b"x")
        assert patch.status == 404 and patch.upstream is None
    posted = writes.stats()["received"][0]
    assert (posted["method"], posted["path"]) == ("POST", "/items")


def test_options_asterisk_and_trace_are_forwarded_unless_a_route_answers_them(upstream, weir):
    """`OPTIONS *` has the path "*": a path_prefix "/" route does not match it, a route without
    a path condition does. TRACE is forwarded like any method; a route can refuse it."""
    web, other = upstream("web"), upstream("other")
    w = start(weir, [web, other], [
        {"match": {"methods": ["TRACE"], "path_prefix": "/private/"},
         "respond": {"status": 405, "headers": {"Allow": "GET, HEAD"},
                     "body": "Method Not Allowed\n"}},
        {"match": {"path_prefix": "/"}, "upstream": "web"},
        {"upstream": "other"},
    ])
    with w.client() as c:
        assert c.request("OPTIONS", "*").upstream == "other"
        assert c.request("TRACE", "/x").upstream == "web"
        refused = c.request("TRACE", "/private/x")
        assert (refused.status, refused.header("Allow"), refused.upstream) == (405, "GET, HEAD", None)
    assert [(e["method"], e["path"]) for e in other.stats()["received"]] == [("OPTIONS", "*")]
    assert [(e["method"], e["path"]) for e in web.stats()["received"]] == [("TRACE", "/x")]


def test_max_forwards_zero_is_answered_by_weir_and_counted_down_otherwise(upstream, weir):
    """RFC 9110 7.6.2: an OPTIONS or TRACE with Max-Forwards 0 is answered by weir itself (OPTIONS
    with the route's methods in Allow, TRACE with the request echoed as message/http, minus the
    fields that carry credentials); with hops left it goes upstream with one fewer. Other
    methods, and values weir cannot read, go on unchanged."""
    web, api = upstream("web"), upstream("api")
    w = start(weir, [web, api], [
        {"match": {"path_prefix": "/api/", "methods": ["GET", "OPTIONS"]}, "upstream": "api"},
        {"match": {"path_prefix": "/"}, "upstream": "web"},
    ])
    with w.client() as c:
        opt = c.request("OPTIONS", "/x", headers=[("Max-Forwards", "0")])
        assert (opt.status, opt.upstream, opt.body) == (200, None, b"")
        assert opt.header("Allow") == "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH"
        assert c.request("OPTIONS", "/api/v", headers=[("Max-Forwards", "0")]).header(
            "Allow") == "GET, OPTIONS"
        trace = c.request("TRACE", "/t?q=1", headers=[("Max-Forwards", "0"), ("X-Hop", "a"),
                                                     ("Cookie", "s=1"),
                                                     ("Authorization", "Bearer x")])
        assert (trace.status, trace.upstream) == (200, None)
        assert trace.header("Content-Type") == "message/http"
        assert trace.body.startswith(b"TRACE /t?q=1 HTTP/1.1\r\n")
        assert b"X-Hop: a\r\n" in trace.body and trace.body.endswith(b"\r\n\r\n")
        assert b"Cookie" not in trace.body and b"Authorization" not in trace.body
        assert web.received_nothing() and api.received_nothing()
        assert c.request("TRACE", "/t", headers=[("Max-Forwards", "3")]).upstream == "web"
        assert c.request("OPTIONS", "/o", headers=[("Max-Forwards", "1")]).upstream == "web"
        assert c.request("GET", "/g", headers=[("Max-Forwards", "0")]).upstream == "web"
        assert c.request("TRACE", "/bad", headers=[("Max-Forwards", "x")]).upstream == "web"
    got = {e["path"]: received_header(e, "max-forwards") for e in web.stats()["received"]}
    assert got == {"/t": "2", "/o": "0", "/g": "0", "/bad": "x"}


def test_header_exact_value_is_byte_for_byte_and_the_name_any_case(upstream, weir):
    canary, web = upstream("canary"), upstream("web")
    w = start(weir, [canary, web], [
        {"match": {"headers": {"X-Env": "canary"}}, "upstream": "canary"},
        {"upstream": "web"},
    ])
    assert w.get("/echo", headers=[("X-Env", "canary")]).upstream == "canary"
    assert w.get("/echo", headers=[("x-env", "canary")]).upstream == "canary"
    assert w.get("/echo", headers=[("X-Env", "Canary")]).upstream == "web"
    assert w.get("/echo", headers=[("X-Env", "canary2")]).upstream == "web"
    assert w.get("/echo").upstream == "web"
    # the first field of that name is the one tested
    assert w.get("/echo", headers=[("X-Env", "prod"), ("X-Env", "canary")]).upstream == "web"
    assert w.get("/echo", headers=[("X-Env", "canary"), ("X-Env", "prod")]).upstream == "canary"


def test_header_regex_matches_anywhere_in_the_value(upstream, weir):
    mobile, web = upstream("mobile"), upstream("web")
    w = start(weir, [mobile, web], [
        {"match": {"headers": {"User-Agent": "~(?i)(android|iphone)"}}, "upstream": "mobile"},
        {"upstream": "web"},
    ])
    assert w.get("/echo", headers=[("User-Agent", "Mozilla/5.0 (iPhone; CPU)")]).upstream == \
        "mobile"
    assert w.get("/echo", headers=[("User-Agent", "Dalvik/2.1 (Linux; Android 14)")]).upstream == \
        "mobile"
    assert w.get("/echo", headers=[("User-Agent", "curl/8.0")]).upstream == "web"
    assert w.get("/echo").upstream == "web"   # missing header: a regex never matches


def test_header_present_and_absent(upstream, weir):
    private, public, web = upstream("private"), upstream("public"), upstream("web")
    w = start(weir, [private, public, web], [
        {"match": {"path_prefix": "/p/", "headers": {"Authorization": {"present": True}}},
         "upstream": "private"},
        {"match": {"path_prefix": "/p/", "headers": {"Authorization": {"present": False}}},
         "upstream": "public"},
        {"upstream": "web"},
    ])
    assert w.get("/p/x", headers=[("Authorization", "Bearer t")]).upstream == "private"
    assert w.get("/p/x", headers=[("authorization", "")]).upstream == "private"  # empty counts
    assert w.get("/p/x").upstream == "public"
    assert w.get("/p/x", headers=[("X-Authorization", "t")]).upstream == "public"


def test_query_parameter_must_equal_the_value_of_its_first_occurrence(upstream, weir):
    v2, web = upstream("v2"), upstream("web")
    w = start(weir, [v2, web], [
        {"match": {"query": {"version": "2"}}, "upstream": "v2"},
        {"upstream": "web"},
    ])
    cases = [
        ("/echo?version=2", "v2"),
        ("/echo?a=1&version=2&b", "v2"),
        ("/echo?version=20", "web"),
        ("/echo?version=", "web"),
        ("/echo?version=1&version=2", "web"),     # the first one counts
        ("/echo?xversion=2", "web"),
        ("/echo", "web"),
    ]
    for target, expected in cases:
        assert w.get(target).upstream == expected, target
    assert v2.stats()["received"][0]["path"] == "/echo?version=2"   # the query goes upstream


def test_all_conditions_of_a_route_must_hold(upstream, weir):
    special, web = upstream("special"), upstream("web")
    w = start(weir, [special, web], [
        {"match": {"host": "api.example.com", "path_prefix": "/v1/", "methods": ["POST"],
                   "headers": {"X-Tenant": "~^t[0-9]+$"}, "query": {"dry_run": "1"}},
         "upstream": "special"},
        {"upstream": "web"},
    ])
    good = dict(method="POST", target="/v1/jobs?dry_run=1", headers=[("X-Tenant", "t42")],
                host="api.example.com")

    def send(**change):
        req = {**good, **change}
        with w.client() as c:
            return c.request(req["method"], req["target"], req["headers"], body=b"{}",
                             host=req["host"]).upstream

    assert send() == "special"
    assert send(host="www.example.com") == "web"
    assert send(target="/v2/jobs?dry_run=1") == "web"
    assert send(method="PUT") == "web"
    assert send(headers=[("X-Tenant", "admin")]) == "web"
    assert send(target="/v1/jobs?dry_run=0") == "web"


def test_first_matching_route_wins_not_the_most_specific(upstream, weir):
    general, specific = upstream("general"), upstream("specific")
    routes = [
        {"match": {"path_prefix": "/api/"}, "upstream": "general"},
        {"match": {"path_prefix": "/api/v2/"}, "upstream": "specific"},
        {"match": {"path": "/api/v2/exact"}, "upstream": "specific"},
    ]
    w = start(weir, [general, specific], routes)
    assert w.get("/api/v2/users").upstream == "general"
    assert w.get("/api/v2/exact").upstream == "general"
    assert specific.received_nothing()

    w2 = start(weir, [general, specific], list(reversed(routes)))
    assert w2.get("/api/v2/exact").upstream == "specific"
    assert w2.get("/api/v2/users").upstream == "specific"
    assert w2.get("/api/v1/users").upstream == "general"


def test_first_match_across_host_wildcard_and_any_host_routes(upstream, weir):
    """The index keeps config order across host buckets: an any-host route listed first beats a
    later exact-host one, and a wildcard listed before an exact host wins for that host."""
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    w = start(weir, [a, b, c], [
        {"match": {"path": "/health"}, "upstream": "a"},
        {"match": {"host": "*.example.com", "path_prefix": "/"}, "upstream": "b"},
        {"match": {"host": "api.example.com"}, "upstream": "c"},
        {"match": {"host": "api.example.com", "path": "/health"}, "upstream": "c"},
    ])
    assert w.get("/health", host="api.example.com").upstream == "a"
    assert w.get("/echo", host="api.example.com").upstream == "b"
    assert w.get("/echo", host="other.test").status == 404
    assert c.received_nothing()


# --------------------------------------------------------------------------------------------
# redirects

@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_expands_placeholders_for_each_status(upstream, weir, status):
    web = upstream("web")
    w = start(weir, [web], [
        {"match": {"path_prefix": "/old/"},
         "redirect": {"status": status, "location": "https://{host}/new{path}?{query}#s={scheme}"}},
        {"match": {"path_prefix": "/keep/"}, "redirect": {"status": status,
                                                          "location": "https://www.test{uri}"}},
        {"upstream": "web"},
    ])
    r = w.get("/old/page?x=1&y=two", host="Shop.Example.com:8080")
    assert r.status == status
    assert r.header_all("Location") == ["https://Shop.Example.com/new/old/page?x=1&y=two#s=http"]
    assert r.header("Content-Length") == "0" and r.body == b""
    r = w.get("/keep/a%20b?q=%2F", host="x.test")
    assert r.status == status
    assert r.header("Location") == "https://www.test/keep/a%20b?q=%2F"
    assert web.received_nothing()


def test_redirect_defaults_to_302_and_empty_placeholders_stay_empty(upstream, weir):
    web = upstream("web")
    w = start(weir, [web], [
        {"match": {"path": "/go"}, "redirect": {"location": "http://{host}/there?{query}"}},
    ])
    conn = http.client.HTTPConnection("127.0.0.1", w.port, timeout=5)
    try:
        conn.request("GET", "/go", headers={"Host": "a.test"})
        r = conn.getresponse()
        r.read()
        assert r.status == 302
        assert r.getheader("Location") == "http://a.test/there?"
        conn.request("HEAD", "/go?k=v", headers={"Host": "a.test"})   # same connection
        r = conn.getresponse()
        r.read()
        assert r.status == 302 and r.getheader("Location") == "http://a.test/there?k=v"
    finally:
        conn.close()


def test_redirect_host_placeholder_keeps_the_brackets_of_an_ipv6_literal(upstream, weir):
    """{host} drops the port; for [::1]:8080 that must leave [::1], or the URL is invalid."""
    web = upstream("web")
    w = start(weir, [web], [
        {"redirect": {"status": 301, "location": "https://{host}{uri}"}},
    ])
    r = w.get("/p?q=1", host="[::1]:8080")
    assert r.status == 301
    assert r.header("Location") == "https://[::1]/p?q=1"


def test_redirect_uses_the_authority_of_an_absolute_form_target(upstream, weir):
    web = upstream("web")
    w = start(weir, [web], [
        {"redirect": {"status": 308, "location": "https://{host}{uri}"}},
    ])
    data, _ = raw_exchange(w.port, b"GET http://abs.test:81/p?q=1 HTTP/1.1\r\nHost: other.test\r\n"
                                   b"Connection: close\r\n\r\n")
    assert status_of(data) == 308
    assert b"\r\nLocation: https://abs.test/p?q=1\r\n" in data, data


# --------------------------------------------------------------------------------------------
# path modifiers

def test_strip_prefix_removes_the_prefix_and_keeps_the_query(upstream, weir):
    api = upstream("api")
    w = start(weir, [api], [
        {"match": {"path_prefix": "/api/"}, "upstream": "api", "strip_prefix": "/api"},
        {"match": {"path_prefix": "/svc"}, "upstream": "api", "strip_prefix": "/svc/"},
    ])
    echo = w.get("/api/echo?x=1&y=2").json()
    assert echo["path"] == "/echo?x=1&y=2"
    assert w.get("/svc/echo").json()["path"] == "/echo"      # a '/' is put back in front
    w.get("/svc")                                            # not starting with the strip
    assert last_path(api) == "/svc"


def test_add_prefix_is_put_in_front_without_doubling_the_slash(upstream, weir):
    api = upstream("api")
    w = start(weir, [api], [
        {"match": {"path_prefix": "/a/"}, "upstream": "api", "add_prefix": "/internal"},
        {"match": {"path_prefix": "/b/"}, "upstream": "api", "add_prefix": "/internal/"},
        {"match": {"path_prefix": "/c/"}, "upstream": "api", "strip_prefix": "/c",
         "add_prefix": "/v2"},
    ])
    w.get("/a/x?q=1")
    assert last_path(api) == "/internal/a/x?q=1"
    w.get("/b/x")
    assert last_path(api) == "/internal/b/x"
    w.get("/c/users/7")
    assert last_path(api) == "/v2/users/7"


def test_rewrite_substitutes_groups_after_strip_and_add(upstream, weir):
    api = upstream("api")
    w = start(weir, [api], [
        {"match": {"path_regex": "^/u/[0-9]+$"}, "upstream": "api",
         "rewrite": {"regex": "^/u/([0-9]+)$", "replace": r"/users/\1/profile"}},
        {"match": {"path_prefix": "/legacy/"}, "upstream": "api", "strip_prefix": "/legacy",
         "add_prefix": "/x", "rewrite": {"regex": "^/x/old-echo$", "replace": "/echo"}},
        {"match": {"path_prefix": "/first/"}, "upstream": "api",
         "rewrite": {"regex": "a", "replace": "b"}},
    ])
    w.get("/u/42?tab=posts")
    assert last_path(api) == "/users/42/profile?tab=posts"
    echo = w.get("/legacy/old-echo?k=v").json()       # strip, then add, then rewrite
    assert echo["path"] == "/echo?k=v"
    w.get("/first/aaa")                                 # the first match only
    assert last_path(api) == "/first/baa"


# --------------------------------------------------------------------------------------------
# header edits

def test_request_headers_set_add_and_remove_reach_the_upstream(upstream, weir):
    api = upstream("api")
    w = start(weir, [api], [
        {"upstream": "api", "request_headers": {
            "set": {"X-Env": "prod"},
            "add": {"X-Tag": "weir"},
            "remove": ["X-Debug", "Cookie"]}},
    ])
    echo = w.get("/echo", headers=[("x-env", "dev"), ("X-Env", "test"), ("X-Tag", "client"),
                                   ("X-DEBUG", "1"), ("Cookie", "s=1"), ("X-Kept", "k")]).json()
    assert received_header_all(echo, "X-Env") == ["prod"]
    assert received_header_all(echo, "X-Tag") == ["client", "weir"]
    assert received_header(echo, "X-Debug") is None
    assert received_header(echo, "Cookie") is None
    assert received_header(echo, "X-Kept") == "k"
    # without the client's fields the edits still apply
    echo = w.get("/echo").json()
    assert received_header_all(echo, "X-Env") == ["prod"]
    assert received_header_all(echo, "X-Tag") == ["weir"]


@pytest.mark.parametrize("name,value", [
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "www.example.com"),
    ("X-Forwarded-For", "198.51.100.1"),
    ("X-Request-Id", "fixed-id"),
    ("Via", "1.1 edge"),
])
def test_request_header_set_replaces_a_header_weir_adds_itself(upstream, weir, name, value):
    """`set` means one field with that value. Behind a TLS terminator an operator sets
    X-Forwarded-Proto: https; the upstream must see that one value, not weir's "http" too."""
    api = upstream("api")
    w = start(weir, [api], [
        {"upstream": "api", "request_headers": {"set": {name: value}}},
    ])
    echo = w.get("/echo").json()
    assert received_header_all(echo, name) == [value]


def test_response_headers_set_add_and_remove_reach_the_client(upstream, weir):
    api = upstream("api")
    w = start(weir, [api], [
        {"match": {"path_prefix": "/edited/"}, "upstream": "api", "strip_prefix": "/edited",
         "response_headers": {"set": {"Content-Type": "text/plain; charset=utf-8",
                                      "Cache-Control": "no-store"},
                              "add": {"X-Served-By": "weir", "Vary": "Accept"},
                              "remove": ["x-upstream"]}},
        {"upstream": "api"},
    ])
    r = w.get("/edited/echo")
    assert r.status == 200 and r.json()["path"] == "/echo"
    assert r.header_all("Content-Type") == ["text/plain; charset=utf-8"]
    assert r.header_all("Cache-Control") == ["no-store"]
    assert r.header_all("X-Served-By") == ["weir"]
    assert r.header_all("Vary") == ["Accept"]
    assert r.header("X-Upstream") is None
    assert r.header("Content-Length") == str(len(r.body))
    plain = w.get("/echo")                   # another route: untouched
    assert plain.header("X-Upstream") == "api"
    assert plain.header("Content-Type") == "application/json"
    assert plain.header("X-Served-By") is None


def test_response_header_remove_takes_out_the_via_weir_adds(upstream, weir):
    api = upstream("api")
    w = start(weir, [api], [
        {"upstream": "api", "response_headers": {"remove": ["Via"]}},
    ])
    r = w.get("/echo")
    assert r.status == 200 and r.header_all("Via") == []


def test_response_header_edits_apply_to_error_statuses_too(upstream, weir):
    api = upstream("api")
    w = start(weir, [api], [
        {"upstream": "api", "response_headers": {"add": {"X-Edge": "1"}}},
    ])
    r = w.get("/status?code=503")
    assert r.status == 503 and r.header("X-Edge") == "1"
    r = w.get("/status?code=204")
    assert r.status == 204 and r.header("X-Edge") == "1"


# --------------------------------------------------------------------------------------------
# host_rewrite

def test_host_rewrite_changes_host_and_x_forwarded_host_keeps_the_original(upstream, weir):
    api = upstream("api")
    w = start(weir, [api], [
        {"match": {"path_prefix": "/int/"}, "upstream": "api", "strip_prefix": "/int",
         "host_rewrite": "internal.svc:8080"},
        {"upstream": "api"},
    ])
    echo = w.get("/int/echo", host="Public.Example.com:8443").json()
    assert received_header_all(echo, "Host") == ["internal.svc:8080"]
    assert received_header_all(echo, "X-Forwarded-Host") == ["Public.Example.com:8443"]
    echo = w.get("/echo", host="public.example.com").json()          # other route: as sent
    assert received_header_all(echo, "Host") == ["public.example.com"]

    # absolute-form target: its authority is the original host
    data, _ = raw_exchange(w.port, b"GET http://abs.example.com/int/echo HTTP/1.1\r\n"
                                   b"Host: ignored.test\r\nConnection: close\r\n\r\n")
    assert status_of(data) == 200
    entry = api.stats()["received"][-1]
    assert entry["path"] == "/echo"
    assert received_header_all(entry, "Host") == ["internal.svc:8080"]
    assert received_header_all(entry, "X-Forwarded-Host") == ["abs.example.com"]


# --------------------------------------------------------------------------------------------
# per-route timeouts

def test_route_response_timeout_replaces_the_upstreams_for_that_route_only(upstream, weir):
    api = upstream("api")
    w = start(weir, [api], [
        {"match": {"path_prefix": "/impatient/"}, "upstream": "api", "strip_prefix": "/impatient",
         "timeouts": {"response": "300ms"}},
        {"upstream": "api"},
    ], upstream_timeouts={"response": "5s"})
    with HttpClient(w.port, timeout=10) as c:
        r = c.get("/impatient/slow?ms=2000")
        assert r.status == 504 and r.upstream is None
    with HttpClient(w.port, timeout=10) as c:
        r = c.get("/slow?ms=2000")
        assert r.status == 200 and r.body == b"slow\n" and r.upstream == "api"
        assert c.get("/impatient/slow?ms=10").status == 200   # fast enough for the short one
    paths = [e["path"] for e in api.stats()["received"]]
    assert paths == ["/slow?ms=2000", "/slow?ms=2000", "/slow?ms=10"]
