"""Retries, passive outlier detection and panic modes against real upstream processes.

Retries go to another server, and never replay what may have had an effect: a request whose bytes
reached a server is tried again only when it is idempotent (or carries Idempotency-Key) and its
body was kept. The retry budget caps retries in flight; outlier detection ejects a server after
consecutive failed responses; `panic` decides what happens when every server is unhealthy.

The fake upstreams fail on demand (/__fail: reset after reading the request, or answer a status)
and count every request they receive, so "never replayed" is checked at the servers.
"""
import re
import threading
import time
from collections import Counter

from harness import HttpClient, free_port, to_yaml, wait_until

RETRY_ALL = {"attempts": 2, "on": ["connect_failure", "timeout", "reset", "502", "503", "504"],
             "backoff": "0ms"}


# --------------------------------------------------------------------------------------------
# helpers

def config(port, servers, *, workers=2, routes=None, **upstream_keys):
    """One listener on port sending everything (or routes) to upstream `web` over the given fake
    upstreams (or address strings), with any other upstream keys (retries, passive, panic...)."""
    web = {"name": "web",
           "servers": [{"address": s if isinstance(s, str) else s.address} for s in servers],
           "timeouts": {"connect": "1s", "response": "5s"}, **upstream_keys}
    cfg = {
        "workers": workers,
        "listeners": [{"name": "public", "listen": f"127.0.0.1:{port}",
                       "routes": routes or [{"upstream": "web"}]}],
        "upstreams": [web],
        "timeouts": {"client_header": "5s", "client_body": "5s", "keepalive": "10s",
                     "shutdown_grace": "5s"},
        "pid_file": "off",
    }
    return to_yaml(cfg) + "\n"


def fail(up, mode, code=503):
    """From now on every request to the fake upstream is reset after it was read (`reset`),
    answered with `code` (`status`), or served normally (`none`)."""
    return up._control(f"/__fail?mode={mode}&code={code}")


def set_delay(up, ms):
    return up._control(f"/__delay?ms={ms}")


def set_health(up, status):
    return up._control(f"/__health?status={status}")


def receipts(ups, target):
    """How many requests for exactly this target each fake upstream received."""
    return {u.name: sum(e["path"] == target for e in u.stats()["received"]) for u in ups}


def receipts_like(ups, prefix):
    """How many requests whose target starts with prefix each fake upstream received."""
    return {u.name: sum(e["path"].startswith(prefix) for e in u.stats()["received"])
            for u in ups}


def total_requests(ups):
    return sum(u.stats()["requests"] for u in ups)


def fresh(w, method, target, headers=(), body=None):
    """One request on a new connection (so either worker may take it)."""
    with w.client(timeout=10) as c:
        return c.request(method, target, headers, body=body)


def concurrently(n, fn):
    """Runs fn(i) for i in 0..n-1 on n threads released together; returns the results."""
    results, errors = [None] * n, []
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(10)
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "client threads did not finish"
    assert not errors, errors[:5]
    return results


# --------------------------------------------------------------------------------------------
# which failures are retried

def test_killing_one_of_three_servers_loses_no_idempotent_request(upstream, weir):
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    w = weir(config(free_port(), [a, b, c], retries=RETRY_ALL))
    stop = threading.Event()
    answers, failures = Counter(), []
    lock = threading.Lock()

    def client_loop(i):
        conn = None
        n = 0
        while not stop.is_set():
            n += 1
            try:
                conn = conn or HttpClient(w.port, timeout=10)
                # Slow enough that some requests are in flight at b when it dies.
                r = conn.get(f"/slow?ms=20&client={i}&n={n}")
                with lock:
                    if r.status == 200:
                        answers[r.upstream] += 1
                    else:
                        failures.append((r.status, r.body[:100]))
            except Exception as e:  # noqa: BLE001
                with lock:
                    failures.append(repr(e))
                conn = None
        if conn:
            conn.close()

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: min(answers[x] for x in "abc") >= 10, 15, "traffic on a, b and c")
        b.stop()
        killed_at = sum(answers.values())
        wait_until(lambda: sum(answers.values()) >= killed_at + 300, 30,
                   "300 answers after b was killed")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not failures, failures[:5]
    w.wait_stderr(rf"{re.escape(b.address)}.*(refused|reset|closed)")
    w.wait_stderr(r"retrying on another server")        # the failures were retried, not lucky


def test_post_reset_after_it_was_sent_is_answered_502_and_never_replayed(upstream, weir):
    ups = [upstream("a"), upstream("b"), upstream("c")]
    w = weir(config(free_port(), ups, retries=RETRY_ALL))
    r = fresh(w, "POST", "/reset-after-read?id=post-1", body=b"charge the card once")
    assert r.status == 502
    seen = receipts(ups, "/reset-after-read?id=post-1")
    assert sum(seen.values()) == 1, seen
    w.wait_stderr(r"not retried \(not_safe\)")


def test_get_reset_after_it_was_sent_is_retried_on_other_servers(upstream, weir):
    ups = [upstream("a"), upstream("b"), upstream("c")]
    w = weir(config(free_port(), ups, retries=RETRY_ALL))
    r = fresh(w, "GET", "/reset-after-read?id=get-1")
    assert r.status == 502                               # every server resets it
    # The first try and both retries, each on a different server.
    assert receipts(ups, "/reset-after-read?id=get-1") == {"a": 1, "b": 1, "c": 1}


def test_get_reset_by_one_server_is_answered_by_another(upstream, weir):
    a, b = upstream("a"), upstream("b")
    fail(a, "reset")
    w = weir(config(free_port(), [a, b], retries=RETRY_ALL))
    for i in range(10):
        r = fresh(w, "GET", f"/echo?id=g{i}")
        assert r.status == 200 and r.upstream == "b", (r.status, r.body)
    assert receipts_like([a], "/echo?id=g")["a"] > 0, "no request went to a first"
    for i in range(10):
        counts = receipts([a, b], f"/echo?id=g{i}")
        assert counts["b"] == 1 and counts["a"] <= 1, (i, counts)


def test_idempotency_key_makes_a_post_retryable(upstream, weir):
    a, b = upstream("a"), upstream("b")
    fail(a, "reset")
    w = weir(config(free_port(), [a, b], retries=RETRY_ALL))
    for i in range(10):
        body = b"order %d" % i
        r = fresh(w, "POST", f"/echo?id=k{i}", [("Idempotency-Key", f"key-{i}")], body)
        assert r.status == 200 and r.upstream == "b", (r.status, r.body)
        assert r.json()["body_length"] == len(body)     # the body was replayed whole
    assert receipts_like([a], "/echo?id=k")["a"] > 0, "no keyed POST went to a first"
    # Unkeyed POSTs in a phase of their own: round robin after a retry that skipped a picks b
    # next, so POSTs interleaved with keyed ones could all miss a. Of two picks in a row on one
    # worker, one is a, and one of the two workers takes at least five of these ten.
    statuses_without_key = Counter()
    for i in range(10):
        statuses_without_key[fresh(w, "POST", f"/echo?id=n{i}", body=b"order %d" % i).status] += 1
    # The same POSTs without the key: those that reached a are not replayed.
    assert statuses_without_key[502] == receipts_like([a], "/echo?id=n")["a"] > 0
    assert statuses_without_key[200] == receipts_like([b], "/echo?id=n")["b"]


def test_put_body_within_max_retry_body_is_replayed_whole(upstream, weir):
    """max_retry_body: 1MiB: a 200 KiB PUT reset by a after it was read is replayed to b."""
    a, b = upstream("a"), upstream("b")
    fail(a, "reset")
    w = weir(config(free_port(), [a, b], retries={**RETRY_ALL, "max_retry_body": "1MiB"}))
    body = bytes(range(256)) * 800                       # 200 KiB
    for i in range(4):
        r = fresh(w, "PUT", f"/echo?id=p{i}", body=body)
        assert (r.status, r.upstream) == (200, "b"), (r.status, r.body[:200])
        assert r.json()["body_length"] == len(body)
    assert receipts_like([a], "/echo?id=p")["a"] > 0


def test_put_body_over_max_retry_body_is_not_replayed(upstream, weir):
    ups = [upstream("a"), upstream("b")]
    for u in ups:
        fail(u, "reset")
    w = weir(config(free_port(), ups, retries={**RETRY_ALL, "max_retry_body": "1KiB"}))
    r = fresh(w, "PUT", "/echo?id=big", body=b"x" * 4096)
    assert r.status == 502
    assert sum(receipts(ups, "/echo?id=big").values()) == 1
    w.wait_stderr(r"not retried \(body_not_buffered\)")


def test_503_listed_in_on_is_retried_on_a_server_that_answers(upstream, weir):
    a, b = upstream("a"), upstream("b")
    fail(a, "status", 503)
    w = weir(config(free_port(), [a, b], retries={**RETRY_ALL, "on": ["503"]}))
    for i in range(10):
        r = fresh(w, "GET", f"/echo?id=s{i}")
        assert r.status == 200 and r.upstream == "b", (r.status, r.body)
    assert receipts_like([a], "/echo?id=s")["a"] > 0
    assert receipts_like([b], "/echo?id=s")["b"] == 10


def test_503_not_listed_in_on_reaches_the_client(upstream, weir):
    a, b = upstream("a"), upstream("b")
    fail(a, "status", 503)
    w = weir(config(free_port(), [a, b], retries={**RETRY_ALL, "on": ["connect_failure"]}))
    statuses = Counter(fresh(w, "GET", f"/echo?id=u{i}").status for i in range(10))
    assert statuses[503] == receipts_like([a], "/echo?id=u")["a"] > 0
    assert statuses[200] == receipts_like([b], "/echo?id=u")["b"]
    assert sum(receipts_like([a, b], "/echo?id=u").values()) == 10  # nothing retried


def test_5xx_status_accepted_in_on_is_retried(upstream, weir):
    """The config accepts any 5xx in `on` (500 here): it must then be retried like 503."""
    a, b = upstream("a"), upstream("b")
    fail(a, "status", 500)
    w = weir(config(free_port(), [a, b], retries={**RETRY_ALL, "on": ["500"]}))
    for i in range(10):
        r = fresh(w, "GET", f"/echo?id=f{i}")
        assert (r.status, r.upstream) == (200, "b"), (r.status, r.upstream, r.body)
    assert receipts_like([a], "/echo?id=f")["a"] > 0


def test_when_retries_run_out_the_client_gets_the_last_servers_answer(upstream, weir):
    """Every server answers 503 with its own body and headers: after the retries, or when the
    request may not be retried (POST), the client gets a server's answer, not a made-up one."""
    a, b = upstream("a"), upstream("b")
    for u in (a, b):
        fail(u, "status", 503)
    w = weir(config(free_port(), [a, b], retries={**RETRY_ALL, "on": ["503"], "attempts": 1}))
    r = fresh(w, "GET", "/echo?id=last")
    assert sum(receipts([a, b], "/echo?id=last").values()) == 2     # retried once
    assert r.status == 503
    assert (r.upstream, r.body) in (("a", b"failing with 503\n"), ("b", b"failing with 503\n")), \
        (r.headers, r.body)
    r = fresh(w, "POST", "/echo?id=post", body=b"x")
    assert sum(receipts([a, b], "/echo?id=post").values()) == 1     # not retried
    assert (r.status, r.body) == (503, b"failing with 503\n"), (r.headers, r.body)
    assert r.upstream in ("a", "b")


def test_route_retries_replace_the_upstreams(upstream, weir):
    a, b = upstream("a"), upstream("b")
    fail(a, "status", 503)
    routes = [{"match": {"path_prefix": "/once/"}, "upstream": "web", "retries": {"attempts": 0}},
              {"upstream": "web"}]
    w = weir(config(free_port(), [a, b], routes=routes, retries={**RETRY_ALL, "on": ["503"]}))
    statuses = Counter(fresh(w, "GET", f"/once/echo?id={i}").status for i in range(10))
    assert statuses[503] == receipts_like([a], "/once/")["a"] > 0   # route: no retries
    assert all(fresh(w, "GET", f"/echo?id={i}").status == 200 for i in range(10))


def test_per_try_timeout_moves_a_slow_attempt_to_another_server(upstream, weir):
    """a takes 2 s to answer, well within the 5 s response timeout; per_try_timeout (300 ms)
    must give up on it and answer from b."""
    a, b = upstream("a"), upstream("b")
    set_delay(a, 2000)
    retries = {**RETRY_ALL, "on": ["timeout"], "per_try_timeout": "300ms"}
    w = weir(config(free_port(), [a, b], workers=1, retries=retries))
    answered = Counter()
    for i in range(4):
        r = fresh(w, "GET", f"/echo?id=t{i}")
        assert r.status == 200
        answered[r.upstream] += 1
    assert receipts_like([a], "/echo?id=t")["a"] > 0
    assert answered == {"b": 4}, f"answers came from {dict(answered)}: per_try_timeout ignored"


# --------------------------------------------------------------------------------------------
# the retry budget

def test_retry_budget_caps_retries_when_every_server_fails(upstream, weir):
    """60 requests at once, every server answering 503 after 300 ms, attempts: 2. Without a
    budget that is 180 attempts. With budget 20% a worker allows max(3, 20% of its requests in
    flight) retries in flight, so the servers see at most 60 x 1.2 plus 3 per worker and per
    retry round (min concurrency)."""
    ups = [upstream("a"), upstream("b"), upstream("c")]
    for u in ups:
        fail(u, "status", 503)
        set_delay(u, 300)
    workers, n, attempts, budget, min_concurrency = 2, 60, 2, 0.2, 3
    retries = {"attempts": attempts, "on": ["503"], "budget": "20%", "backoff": "0ms"}
    w = weir(config(free_port(), ups, workers=workers, retries=retries))

    statuses = concurrently(n, lambda i: fresh(w, "GET", f"/echo?id=b{i}").status)
    assert Counter(statuses) == {503: n}
    seen = total_requests(ups)
    bound = n * (1 + budget) + workers * min_concurrency * attempts
    assert n < seen <= bound, f"{seen} attempts for {n} requests (bound {bound:.0f})"


# --------------------------------------------------------------------------------------------
# passive outlier detection

def test_server_answering_503_is_ejected_for_the_ejection_time(upstream, weir):
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    fail(a, "status", 503)
    passive = {"consecutive_failures": 3, "ejection": "5s", "max_ejection": "1m",
               "max_ejected_percent": 50, "failure_statuses": [503]}
    w = weir(config(free_port(), [a, b, c], passive=passive))
    statuses = Counter()
    for i in range(30):                                  # enough for a to fail 3 times in a row
        statuses[fresh(w, "GET", f"/echo?id=e{i}").status] += 1
        if re.search(r"-> ejected", w.stderr_text()):
            break
    w.wait_stderr(rf"server {re.escape(a.address)}: healthy -> ejected "
                  r"\(3 consecutive failed requests\)")
    assert statuses[503] >= 3
    ejected_at = time.monotonic()
    for i in range(5):                                   # requests already on their way to a
        fresh(w, "GET", f"/echo?id=settle{i}")
    seen_by_a = a.stats()["requests"]
    for i in range(40):
        r = fresh(w, "GET", f"/echo?id=x{i}")
        assert r.status == 200 and r.upstream in ("b", "c"), (r.status, r.upstream)
    assert a.stats()["requests"] == seen_by_a, "an ejected server got requests"
    # A validity check of this test, not of weir's speed: the 40 requests fell in the window.
    assert time.monotonic() - ejected_at < 5, "the ejection window was over before the check"

    # The ejection ends: a gets requests again.
    w.wait_stderr(rf"server {re.escape(a.address)}: ejected -> healthy", timeout=10)

    def a_gets_requests():
        fresh(w, "GET", "/echo")
        return a.stats()["requests"] > seen_by_a

    wait_until(a_gets_requests, 10, "a to get requests after its ejection")


# --------------------------------------------------------------------------------------------
# panic: every server unhealthy

UNHEALTHY_CHECK = {"interval": "200ms", "timeout": "100ms", "rise": 1, "fall": 1,
                   "jitter": "0%", "initial_state": "unhealthy"}


def test_fail_closed_answers_503_with_retry_after_when_every_server_is_unhealthy(upstream,
                                                                                 weir):
    a, b = upstream("a"), upstream("b")
    for u in (a, b):
        set_health(u, 503)
    w = weir(config(free_port(), [a, b], health_check=UNHEALTHY_CHECK, panic="fail_closed"))
    for u in (a, b):
        w.wait_stderr(rf"server {re.escape(u.address)}: \S+ -> unhealthy")
    r = w.get("/echo")
    assert r.status == 503
    assert a.stats()["requests"] == 0 and b.stats()["requests"] == 0   # at once: nobody asked
    w.wait_stderr(r"every server of upstream web is unhealthy \(panic: fail_closed\)")
    assert r.header("Retry-After") is not None, f"no Retry-After in {r.headers}"
    assert re.fullmatch(r"\d+", r.header("Retry-After"))


def test_a_503_for_a_request_without_body_keeps_the_client_connection(upstream, weir):
    """No server to send to is an answer like any other: the keep-alive connection stays open
    and serves the next requests."""
    a = upstream("a")
    set_health(a, 503)
    cfg = config(free_port(), [a], health_check=UNHEALTHY_CHECK, panic="fail_closed")
    w = weir(cfg)
    w.wait_stderr(rf"server {re.escape(a.address)}: \S+ -> unhealthy")
    with w.client() as c:
        for _ in range(3):
            r = c.get("/echo")
            assert r.status == 503
            assert "close" not in r.tokens("connection")
        assert not c.closed_by_peer(timeout=0.3)


def test_fail_open_sends_requests_to_the_unhealthy_servers(upstream, weir):
    a, b = upstream("a"), upstream("b")
    for u in (a, b):
        set_health(u, 503)
    w = weir(config(free_port(), [a, b], health_check=UNHEALTHY_CHECK, panic="fail_open"))
    for u in (a, b):
        w.wait_stderr(rf"server {re.escape(u.address)}: \S+ -> unhealthy")
    answered = Counter()
    for i in range(10):
        r = fresh(w, "GET", f"/echo?id=o{i}")
        assert r.status == 200
        answered[r.upstream] += 1
    assert answered.keys() == {"a", "b"}
