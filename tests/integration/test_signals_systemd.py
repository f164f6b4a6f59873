"""Running under systemd and being driven from outside: the sd_notify messages weir sends on a real
NOTIFY_SOCKET datagram socket (READY, RELOADING + MONOTONIC_USEC, STOPPING, WATCHDOG), the pid file
and its reload status, `weir -s reload|stop|reopen`, and one test per reload trigger (SIGHUP is
covered by test_reload.py, POST /reload by test_admin.py): `weir -s reload` and `watch: true`.
SIGUSR1 reopening the access log is covered by test_access_log.py."""
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import WEIR_BIN, free_port, port_accepts, proxy_config, to_yaml, wait_until


# --------------------------------------------------------------------------------------------
# a NOTIFY_SOCKET of our own


@dataclass
class Notification:
    at: float             # time.monotonic() when received
    pid: int              # the sender, from SCM_CREDENTIALS
    fields: dict[str, str]
    raw: str

    def __contains__(self, key: str) -> bool:
        return key in self.fields


class NotifySocket:
    """An AF_UNIX datagram socket like systemd's notify socket (short path: sun_path has 108
    bytes), with SO_PASSCRED so each message says which process sent it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="weir-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)
        self.received: list[Notification] = []

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _read(self, timeout: float) -> Notification | None:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = -1
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, _, _ = struct.unpack("iII", payload[:12])
        text = data.decode()
        fields = {}
        for line in text.split("\n"):
            if line:
                key, sep, value = line.partition("=")
                assert sep, f"notification line without '=': {line!r} in {text!r}"
                fields[key] = value
        n = Notification(time.monotonic(), pid, fields, text)
        self.received.append(n)
        return n

    def wait_for(self, key: str, timeout: float = 5.0, value: str | None = None) -> Notification:
        """The next notification carrying key (=value); the ones before it are kept in
        .received."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {key} notification within {timeout}s; got "
                                     f"{[n.raw for n in self.received]}")
            n = self._read(left)
            if n and key in n and (value is None or n.fields[key] == value):
                return n

    def drain(self, seconds: float) -> list[Notification]:
        """Everything that arrives within the next `seconds`."""
        out = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            n = self._read(left)
            if n:
                out.append(n)
        return out


@pytest.fixture
def notify():
    s = NotifySocket()
    yield s
    s.close()


def monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def versioned(port: int, ups, version: int, tmp_path: Path, **extra) -> str:
    """A config whose /ver route answers its version, with a pid file in tmp_path."""
    text = proxy_config(port, {"web": [u.address for u in ups]}, routes=[
        {"match": {"path": "/ver"}, "respond": {"status": 200, "body": f"v{version}"}},
        {"match": {"path_prefix": "/"}, "upstream": "web"},
    ])
    return text + to_yaml({"pid_file": str(tmp_path / "weir.pid"), **extra}) + "\n"


def pid_file_written(w, pid_file: Path) -> None:
    """Waits for the pid file and its status: weir writes them just after its listeners open,
    so a listener that accepts does not mean they are there yet."""
    status = Path(str(pid_file) + ".status")
    wait_until(lambda: status.exists() and pid_file.exists()
               and pid_file.read_text() == f"{w.pid}\n", 5, f"weir to write {pid_file}")


def weir_cli(*args, timeout: float = 40) -> subprocess.CompletedProcess:
    return subprocess.run([str(WEIR_BIN), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def read_status(pid_file: Path) -> dict:
    """The FILE.status companion of the pid file: attempts, ok, generation, errors."""
    out = {"errors": []}
    for line in Path(str(pid_file) + ".status").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "error":
            out["errors"].append(value)
        else:
            out[key] = int(value)
    return out


# --------------------------------------------------------------------------------------------
# sd_notify


def test_ready_is_sent_once_listening_with_a_status(upstream, weir, notify, tmp_path):
    web = upstream("web")
    port = free_port()
    w = weir(versioned(port, [web], 1, tmp_path), env={"NOTIFY_SOCKET": notify.path},
             wait_ready=False)
    ready = notify.wait_for("READY")
    assert port_accepts("127.0.0.1", port), "READY=1 before the listener accepts"
    assert (tmp_path / "weir.pid").read_text() == f"{w.pid}\n", "READY=1 before the pid file"
    assert ready.fields == {"READY": "1", "STATUS": "serving generation 1"}
    assert ready.pid == w.pid                     # NotifyAccess=main accepts it
    assert notify.received == [ready]             # nothing before READY=1
    assert w.get("/ver").body == b"v1"
    assert not notify.drain(0.5), "no WATCHDOG_USEC: nothing more expected while idle"


def test_reload_is_bracketed_by_reloading_and_ready(upstream, weir, notify, tmp_path):
    web = upstream("web")
    port = free_port()
    w = weir(versioned(port, [web], 1, tmp_path), env={"NOTIFY_SOCKET": notify.path},
             wait_ready=False)
    notify.wait_for("READY")
    w.wait_ready()
    w.config_path.write_text(versioned(port, [web], 2, tmp_path))
    before = monotonic_usec()
    w.send_signal(signal.SIGHUP)
    reloading = notify.wait_for("RELOADING")
    after = monotonic_usec()
    assert reloading.fields["RELOADING"] == "1"
    assert before <= int(reloading.fields["MONOTONIC_USEC"]) <= after, (before, reloading, after)
    assert reloading.pid == w.pid
    ready = notify.wait_for("READY")
    assert ready.fields == {"READY": "1", "STATUS": "serving generation 2"}
    assert w.get("/ver").body == b"v2"

    # a refused reload is bracketed too, and READY=1 says the old generation still serves
    w.config_path.write_text(versioned(port, [web], 3, tmp_path) + "bogus: 1\n")
    mark = len(notify.received)
    w.send_signal(signal.SIGHUP)
    ready = notify.wait_for("READY")
    sequence = [k for n in notify.received[mark:] for k in n.fields if k in ("RELOADING", "READY")]
    assert sequence == ["RELOADING", "READY"], [n.raw for n in notify.received[mark:]]
    assert ready.fields["STATUS"] == "reload failed; serving generation 2"
    assert w.get("/ver").body == b"v2"


def test_stopping_is_sent_on_sigterm_and_is_the_last_word(upstream, weir, notify, tmp_path):
    web = upstream("web")
    w = weir(versioned(free_port(), [web], 1, tmp_path), env={"NOTIFY_SOCKET": notify.path},
             wait_ready=False)
    notify.wait_for("READY")
    w.wait_ready()
    w.send_signal(signal.SIGTERM)
    stopping = notify.wait_for("STOPPING")
    assert stopping.fields["STOPPING"] == "1" and stopping.pid == w.pid
    assert w.wait(10) == 0
    assert not notify.drain(0.3)
    assert [k for n in notify.received for k in n.fields if k in ("READY", "STOPPING")] == \
        ["READY", "STOPPING"]


def test_watchdog_pings_come_at_half_the_watchdog_interval(upstream, weir, notify, tmp_path):
    web = upstream("web")
    env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"}
    if "WATCHDOG_PID" in os.environ:
        pytest.skip("WATCHDOG_PID is set in the test environment and would be inherited")
    w = weir(versioned(free_port(), [web], 1, tmp_path), env=env, wait_ready=False)
    notify.wait_for("READY")
    pings = [n for n in notify.drain(1.5) if "WATCHDOG" in n]
    assert all(n.fields["WATCHDOG"] == "1" and n.pid == w.pid for n in pings)
    assert len(pings) >= 8, f"{len(pings)} WATCHDOG=1 in 1.5 s with WATCHDOG_USEC=200000"
    gaps = [b.at - a.at for a, b in zip(pings, pings[1:])]
    assert max(gaps) < 0.2, f"a gap of {max(gaps):.3f}s would trip a 200 ms watchdog: {gaps}"
    # still pinging while serving traffic and across a reload
    w.get("/ver")
    w.send_signal(signal.SIGHUP)
    notify.wait_for("RELOADING")
    assert sum("WATCHDOG" in n for n in notify.drain(0.5)) >= 3


def test_watchdog_pings_are_not_sent_for_another_watchdog_pid(upstream, weir, notify, tmp_path):
    web = upstream("web")
    env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}
    weir(versioned(free_port(), [web], 1, tmp_path), env=env, wait_ready=False)
    notify.wait_for("READY")
    assert not [n for n in notify.drain(0.6) if "WATCHDOG" in n]


# --------------------------------------------------------------------------------------------
# pid file


def test_pid_file_is_written_at_start_and_removed_at_exit(upstream, weir, tmp_path):
    web = upstream("web")
    pid_file = tmp_path / "weir.pid"
    w = weir(versioned(free_port(), [web], 1, tmp_path))
    pid_file_written(w, tmp_path / "weir.pid")
    assert pid_file.read_text() == f"{w.pid}\n"
    assert read_status(pid_file) == {"attempts": 0, "ok": 1, "generation": 1, "errors": []}
    assert not Path(str(pid_file) + ".tmp").exists()
    assert w.stop() == 0
    assert not pid_file.exists()
    assert not Path(str(pid_file) + ".status").exists()


def test_pid_status_records_each_reload_outcome(upstream, weir, tmp_path):
    web = upstream("web")
    port = free_port()
    pid_file = tmp_path / "weir.pid"
    w = weir(versioned(port, [web], 1, tmp_path))
    pid_file_written(w, tmp_path / "weir.pid")
    w.config_path.write_text(versioned(port, [web], 2, tmp_path))
    w.send_signal(signal.SIGHUP)
    wait_until(lambda: read_status(pid_file)["attempts"] == 1, 5, "the first reload recorded")
    assert read_status(pid_file) == {"attempts": 1, "ok": 1, "generation": 2, "errors": []}
    broken = versioned(port, [web], 3, tmp_path) + "bogus: 1\n"
    w.config_path.write_text(broken)
    w.send_signal(signal.SIGHUP)
    wait_until(lambda: read_status(pid_file)["attempts"] == 2, 5, "the second reload recorded")
    status = read_status(pid_file)
    line = broken[:broken.index("bogus")].count("\n") + 1
    assert status == {"attempts": 2, "ok": 0, "generation": 2,
                      "errors": [f"{w.config_path}:{line}:1: bogus: unknown key"]}


def test_sigint_also_removes_the_pid_file(upstream, weir, tmp_path):
    w = weir(versioned(free_port(), [upstream("web")], 1, tmp_path))
    pid_file_written(w, tmp_path / "weir.pid")
    assert (tmp_path / "weir.pid").exists()
    assert w.stop(signal.SIGINT) == 0
    assert not (tmp_path / "weir.pid").exists()


def test_an_unwritable_pid_file_is_a_warning_not_a_failure(upstream, weir, tmp_path):
    web = upstream("web")
    text = versioned(free_port(), [web], 1, tmp_path).replace(
        str(tmp_path / "weir.pid"), str(tmp_path / "missing" / "dir" / "weir.pid"))
    w = weir(text)
    w.wait_stderr(r"cannot write the pid file .*missing/dir/weir\.pid.*weir -s will not work")
    assert w.get("/ver").body == b"v1"
    r = weir_cli("-s", "reload", "-c", str(w.config_path))
    assert r.returncode == 1 and "cannot read the pid file" in r.stderr, r.stderr


def test_pid_file_off_writes_nothing_and_s_refuses(upstream, weir, tmp_path):
    web = upstream("web")
    text = versioned(free_port(), [web], 1, tmp_path).replace(
        f"pid_file: {tmp_path / 'weir.pid'}", "pid_file: off")
    assert "pid_file: off" in text
    w = weir(text)
    assert not list(tmp_path.glob("*.pid*"))
    r = weir_cli("-s", "reload", "-c", str(w.config_path))
    assert r.returncode == 1
    assert f"pid_file is off in {w.config_path}: -s needs it" in r.stderr


# --------------------------------------------------------------------------------------------
# weir -s


def test_s_reload_applies_the_file_and_reports_the_generation(upstream, weir, tmp_path):
    web = upstream("web")
    port = free_port()
    w = weir(versioned(port, [web], 1, tmp_path))
    pid_file_written(w, tmp_path / "weir.pid")
    with w.client() as c:
        assert c.get("/ver").body == b"v1"
        w.config_path.write_text(versioned(port, [web], 2, tmp_path))
        r = weir_cli("-s", "reload", "-c", str(w.config_path))
        assert (r.returncode, r.stdout) == (0, "")
        assert r.stderr == "weir: reloaded, generation 2\n"
        assert c.get("/ver").body == b"v2"                  # same keep-alive connection
    w.wait_stderr(r"SIGHUP: reloading")
    r = weir_cli("-s", "reload", "-c", str(w.config_path))   # unchanged file: a new generation
    assert (r.returncode, r.stderr) == (0, "weir: reloaded, generation 3\n")


def test_s_reload_of_an_invalid_file_exits_1_without_signalling(upstream, weir, tmp_path):
    web = upstream("web")
    port = free_port()
    pid_file = tmp_path / "weir.pid"
    w = weir(versioned(port, [web], 1, tmp_path))
    pid_file_written(w, tmp_path / "weir.pid")
    broken = versioned(port, [web], 2, tmp_path).replace("workers:", "wrkers:")
    w.config_path.write_text(broken)
    mark = len(w.stderr_text())
    r = weir_cli("-s", "reload", "-c", str(w.config_path))
    assert r.returncode == 1
    # -s reads the file first (to find the pid file) and prints its errors, like -t
    assert f"{w.config_path}:1:1: wrkers: unknown key" in r.stderr, r.stderr
    time.sleep(0.3)
    assert "SIGHUP" not in w.stderr_text()[mark:]            # the running weir was not asked
    assert read_status(pid_file)["attempts"] == 0
    assert w.get("/ver").body == b"v1"
    assert w.running


def test_s_reload_reports_a_reload_the_running_instance_refused(upstream, weir, tmp_path):
    """A file that is valid on its own but that the running weir cannot apply (the new
    listener's port is taken): -s signals, waits for the outcome, prints the errors, exits 1."""
    web = upstream("web")
    port = free_port()
    pid_file = tmp_path / "weir.pid"
    w = weir(versioned(port, [web], 1, tmp_path))
    pid_file_written(w, tmp_path / "weir.pid")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        moved = versioned(taken, [web], 2, tmp_path)
        w.config_path.write_text(moved)
        r = weir_cli("-s", "reload", "-c", str(w.config_path))
    assert r.returncode == 1, r.stderr
    assert f"{w.config_path}: cannot open the new listeners" in r.stderr, r.stderr
    assert r.stderr.endswith("weir: reload failed; generation 1 keeps serving\n"), r.stderr
    status = read_status(pid_file)
    assert (status["attempts"], status["ok"], status["generation"]) == (1, 0, 1)
    assert w.get("/ver").body == b"v1"                      # the old listener, the old config
    w.wait_stderr(r"reload failed; still serving generation 1")


def test_s_reload_without_a_running_weir_fails(tmp_path):
    cfg = tmp_path / "weir.yaml"
    cfg.write_text(proxy_config(free_port(), {"web": ["127.0.0.1:9"]})
                   + f"pid_file: {tmp_path / 'weir.pid'}\n")
    r = weir_cli("-s", "reload", "-c", str(cfg))
    assert r.returncode == 1
    assert r.stderr == f"weir: cannot read the pid file {tmp_path / 'weir.pid'}: " \
                       "is weir running?\n"


def test_s_with_an_unknown_signal_name_exits_2(upstream, weir, tmp_path):
    w = weir(versioned(free_port(), [upstream("web")], 1, tmp_path))
    pid_file_written(w, tmp_path / "weir.pid")
    r = weir_cli("-s", "restart", "-c", str(w.config_path))
    assert r.returncode == 2 and "-s takes stop, quit, reopen or reload" in r.stderr
    assert w.running


def test_s_stop_drains_and_the_pid_file_goes(upstream, weir, tmp_path):
    web = upstream("web")
    w = weir(versioned(free_port(), [web], 1, tmp_path))
    pid_file_written(w, tmp_path / "weir.pid")
    r = weir_cli("-s", "stop", "-c", str(w.config_path))
    assert r.returncode == 0, r.stderr
    w.stopped_by_us = True
    assert w.wait(10) == 0
    assert not (tmp_path / "weir.pid").exists()


def test_s_reopen_reopens_the_access_log(upstream, weir, tmp_path):
    web = upstream("web")
    log = tmp_path / "access.log"
    port = free_port()
    text = proxy_config(port, {"web": [web.address]},
                        access_log={"path": str(log), "format": "combined"}) + \
        f"pid_file: {tmp_path / 'weir.pid'}\n"
    w = weir(text)
    pid_file_written(w, tmp_path / "weir.pid")
    assert w.get("/echo?before=1").status == 200
    wait_until(lambda: log.exists() and "before=1" in log.read_text(), 5, "first line logged")
    log.rename(tmp_path / "access.log.1")
    r = weir_cli("-s", "reopen", "-c", str(w.config_path))
    assert r.returncode == 0, r.stderr
    wait_until(log.exists, 5, "a new access.log after -s reopen")
    assert w.get("/echo?after=1").status == 200
    wait_until(lambda: "after=1" in log.read_text(), 5, "the next line in the new file")
    assert "after=1" not in (tmp_path / "access.log.1").read_text()


# --------------------------------------------------------------------------------------------
# watch: true


def test_watch_reloads_when_the_file_is_replaced_or_rewritten(upstream, weir, tmp_path):
    web = upstream("web")
    port = free_port()
    pid_file = tmp_path / "weir.pid"
    w = weir(versioned(port, [web], 1, tmp_path, watch=True))
    pid_file_written(w, tmp_path / "weir.pid")
    # traffic writes weir's own stdout/stderr next to the config: that must not trigger reloads
    for _ in range(20):
        assert w.get("/echo").status == 200
    time.sleep(0.6)
    assert read_status(pid_file)["attempts"] == 0

    # as editors and config management do: write a temporary file, rename it over the config
    tmp = w.config_path.with_suffix(".new")
    tmp.write_text(versioned(port, [web], 2, tmp_path, watch=True))
    os.rename(tmp, w.config_path)
    wait_until(lambda: w.get("/ver").body == b"v2", 5, "the renamed-in config to be applied")
    w.wait_stderr(r"config file changed: reloading")

    # a rewrite in place
    w.config_path.write_text(versioned(port, [web], 3, tmp_path, watch=True))
    wait_until(lambda: w.get("/ver").body == b"v3", 5, "the rewritten config to be applied")
    time.sleep(0.6)
    status = read_status(pid_file)
    assert (status["ok"], status["generation"]) == (1, 3)
    assert status["attempts"] == 2, f"one reload per change (debounced): {status}"

    # a broken file is refused; the running config stays
    w.config_path.write_text(versioned(port, [web], 4, tmp_path, watch=True) + "bogus: 1\n")
    wait_until(lambda: read_status(pid_file)["attempts"] == 3, 5, "the broken file to be tried")
    assert read_status(pid_file)["ok"] == 0
    assert w.get("/ver").body == b"v3"


def test_watch_off_ignores_changes_to_the_file(upstream, weir, tmp_path):
    web = upstream("web")
    port = free_port()
    w = weir(versioned(port, [web], 1, tmp_path))
    pid_file_written(w, tmp_path / "weir.pid")
    w.config_path.write_text(versioned(port, [web], 2, tmp_path))
    time.sleep(1.0)
    assert w.get("/ver").body == b"v1"
    assert read_status(tmp_path / "weir.pid")["attempts"] == 0


def test_watch_can_be_turned_on_by_a_reload(upstream, weir, tmp_path):
    web = upstream("web")
    port = free_port()
    w = weir(versioned(port, [web], 1, tmp_path))
    pid_file_written(w, tmp_path / "weir.pid")
    w.config_path.write_text(versioned(port, [web], 2, tmp_path, watch=True))
    assert weir_cli("-s", "reload", "-c", str(w.config_path)).returncode == 0
    w.config_path.write_text(versioned(port, [web], 3, tmp_path, watch=True))
    wait_until(lambda: w.get("/ver").body == b"v3", 5, "the watch started by the reload to fire")
