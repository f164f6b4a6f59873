"""The Debian package, built with CPack from a configured build directory ($WEIR_BUILD_DIR, by
default the directory of $WEIR_BIN): its files, control fields, conffiles and maintainer scripts;
the extracted binary accepts the shipped config; the systemd unit keeps its hardening and passes
`systemd-analyze verify`. The package goes to a temporary directory, not the build directory."""
import gzip
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import REPO, SANITIZED, WEIR_BIN

BUILD_DIR = Path(os.environ.get("WEIR_BUILD_DIR", str(WEIR_BIN.parent)))
CPACK_CONFIG = BUILD_DIR / "CPackConfig.cmake"

pytestmark = [
    pytest.mark.skipif(SANITIZED and "WEIR_BUILD_DIR" not in os.environ,
                       reason="the package is checked from the release build (WEIR_BIN is the "
                              "sanitized one; set WEIR_BUILD_DIR to check a package anyway)"),
    pytest.mark.skipif(not CPACK_CONFIG.exists(),
                       reason=f"{BUILD_DIR} has no CPackConfig.cmake (not a CMake build dir)"),
    pytest.mark.skipif(not (shutil.which("cpack") and shutil.which("dpkg-deb")),
                       reason="cpack or dpkg-deb not installed"),
]

FILES = {
    "./usr/sbin/weir": "-rwxr-xr-x",
    "./etc/weir/weir.yaml": "-rw-r--r--",
    "./lib/systemd/system/weir.service": "-rw-r--r--",
    "./usr/share/man/man8/weir.8.gz": "-rw-r--r--",
    "./etc/logrotate.d/weir": "-rw-r--r--",
}


def run(*args, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kw)
    assert r.returncode == 0, \
        f"{args} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> dict:
    """Builds the .deb once per module: {"deb", "root" (extracted), "control" (dir)}."""
    out = tmp_path_factory.mktemp("package")
    # CPack runs the build's `preinstall` target first (a no-op on an up-to-date tree), then
    # installs into its own staging area under -B.
    run("cpack", "-G", "DEB", "-B", out, "--config", CPACK_CONFIG, cwd=BUILD_DIR)
    debs = list(out.glob("weir_*.deb"))
    assert len(debs) == 1, list(out.iterdir())
    root = out / "root"
    run("dpkg-deb", "-x", debs[0], root)
    run("dpkg-deb", "-e", debs[0], out / "DEBIAN")
    return {"deb": debs[0], "root": root, "control": out / "DEBIAN"}


def control_fields(deb: Path) -> dict[str, str]:
    text = run("dpkg-deb", "-f", deb).stdout
    fields, key = {}, None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def test_package_name_carries_version_and_architecture(package):
    version = re.search(r"project\([^)]*VERSION\s+([\d.]+)", (REPO / "CMakeLists.txt").read_text())
    arch = run("dpkg", "--print-architecture").stdout.strip()
    assert package["deb"].name == f"weir_{version.group(1)}_{arch}.deb"


def test_package_holds_the_binary_config_unit_man_page_and_logrotate(package):
    listing = run("dpkg-deb", "-c", package["deb"]).stdout
    entries = {}
    for line in listing.splitlines():
        perms, owner, *_, name = line.split()
        entries[name] = (perms, owner)
    for name, perms in FILES.items():
        assert name in entries, f"{name} missing from the package:\n{listing}"
        assert entries[name] == (perms, "root/root"), (name, entries[name])
    unexpected = [n for n, (p, _) in entries.items() if not p.startswith("d") and n not in FILES]
    assert not unexpected, f"unexpected files in the package: {unexpected}"


def test_control_fields_and_dependencies(package):
    f = control_fields(package["deb"])
    assert f["Package"] == "weir"
    assert f["Section"] == "httpd"
    assert f["Maintainer"] and f["Description"]
    depends = [d.strip().split()[0] for d in f["Depends"].split(",")]
    for lib in ("libuv1", "adduser", "libc6", "libstdc++6", "libyaml-cpp0.7", "libsystemd0"):
        assert lib in depends, f"Depends lacks {lib}: {f['Depends']}"
    assert re.search(r"libuv1 \(>= [\d.]+\)", f["Depends"]), f["Depends"]


def test_conffiles_and_maintainer_scripts(package):
    control = package["control"]
    assert sorted((control / "conffiles").read_text().split()) == \
        ["/etc/logrotate.d/weir", "/etc/weir/weir.yaml"]
    for script in ("postinst", "prerm", "postrm"):
        path = control / script
        assert path.exists(), f"no {script}"
        assert os.access(path, os.X_OK), f"{script} is not executable"
        assert path.read_text().startswith("#!/bin/sh\nset -e\n"), script
        run("sh", "-n", path)
    postinst = (control / "postinst").read_text()
    assert re.search(r"addgroup --system weir", postinst)
    assert re.search(r"adduser --system --ingroup weir .*--no-create-home", postinst,
                     re.S), postinst
    assert "/usr/sbin/nologin" in postinst
    assert 'if [ "$1" = "purge" ]' in (control / "postrm").read_text()
    sums = dict(reversed(line.split(None, 1)) for line in
                (control / "md5sums").read_text().splitlines())
    binary = package["root"] / "usr/sbin/weir"
    assert sums["usr/sbin/weir"] == hashlib.md5(binary.read_bytes()).hexdigest()


def test_extracted_binary_accepts_the_shipped_config(package):
    root = package["root"]
    weir = root / "usr/sbin/weir"
    r = subprocess.run([weir, "-t", "-c", root / "etc/weir/weir.yaml"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "test is successful" in r.stderr
    assert (root / "etc/weir/weir.yaml").read_bytes() == (REPO / "conf/weir.yaml").read_bytes()
    version = subprocess.run([weir, "-v"], capture_output=True, text=True, timeout=10)
    assert version.returncode == 0 and version.stdout.startswith("weir version ")


def test_man_page_and_logrotate_file(package):
    root = package["root"]
    man = gzip.decompress((root / "usr/share/man/man8/weir.8.gz").read_bytes()).decode()
    assert man == (REPO / "packaging/weir.8").read_text()
    assert man.startswith(".TH WEIR 8")
    rotate = (root / "etc/logrotate.d/weir").read_text()
    assert rotate.startswith("/var/log/weir/*.log {")
    assert re.search(r"postrotate\s+systemctl kill --signal=USR1 --kill-whom=main weir\.service",
                     rotate), rotate
    if shutil.which("logrotate"):
        state = package["root"].parent / "logrotate.state"
        r = subprocess.run(["logrotate", "-d", "-s", state, root / "etc/logrotate.d/weir"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "error" not in r.stderr.lower(), r.stderr


def unit_settings(text: str) -> dict[str, list[str]]:
    """Active (not commented out) Key=Value settings of a unit file, in [Section] order."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;" or line.startswith("["):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a Key=Value line: {line!r}"
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_unit_keeps_its_hardening(package):
    unit = (package["root"] / "lib/systemd/system/weir.service").read_text()
    s = unit_settings(unit)
    expected = {
        "Type": "notify", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes", "LimitNOFILE": "65536",
        "LogsDirectory": "weir", "RuntimeDirectory": "weir",
        "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE", "User": "weir", "Group": "weir",
        "NotifyAccess": "main",
        "ExecStart": "/usr/sbin/weir -c /etc/weir/weir.yaml",
        "ExecStartPre": "/usr/sbin/weir -t -c /etc/weir/weir.yaml",
        "ExecReload": "/usr/sbin/weir -s reload -c /etc/weir/weir.yaml",
    }
    for key, value in expected.items():
        assert s.get(key) == [value], f"{key}: expected [{value!r}], got {s.get(key)}"
    assert set(s["RestrictAddressFamilies"][0].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert re.fullmatch(r"\d+(s|min)?", s["WatchdogSec"][0]), s["WatchdogSec"]
    assert s["WantedBy"] == ["multi-user.target"]
    # the pid file's default directory is the unit's RuntimeDirectory (/run/weir)
    assert s["RuntimeDirectory"] == ["weir"]


def test_systemd_analyze_verify_accepts_the_unit(package, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed")
    root = package["root"]
    # verify checks that the ExecStart binaries exist: point them at the extracted package, and
    # MANPATH at its man page so that Documentation=man:weir(8) is checked too.
    unit = (root / "lib/systemd/system/weir.service").read_text()
    unit = unit.replace("/usr/sbin/weir", str(root / "usr/sbin/weir")).replace(
        "/etc/weir/weir.yaml", str(root / "etc/weir/weir.yaml"))
    copy = tmp_path / "weir.service"
    copy.write_text(unit)
    r = subprocess.run([analyze, "verify", copy], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "MANPATH": str(root / "usr/share/man"),
                            "SYSTEMD_LOG_LEVEL": "notice"})
    assert r.returncode == 0, r.stdout + r.stderr
    problems = [line for line in (r.stdout + r.stderr).splitlines() if "weir.service" in line]
    assert not problems, problems
