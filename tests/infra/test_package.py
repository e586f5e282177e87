"""The deployment zip: built by scripts/package, checked by scripts/check-package.

Which binary is packaged, in order:
  1. $FERRY_PACKAGE_ZIP: an already-built zip (CI builds it with scripts/package first);
  2. target/x86_64-unknown-linux-musl/release/ferry if present: packaged with --binary;
  3. otherwise scripts/package builds the static musl binary itself (a release build:
     minutes on a cold cache).
The static-linking check applies to the musl binary in every case.
"""

import importlib.machinery
import importlib.util
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

MUSL_BINARY = REPO / "target" / "x86_64-unknown-linux-musl" / "release" / "ferry"


def _load_checker():
    loader = importlib.machinery.SourceFileLoader("check_package", str(REPO / "scripts" / "check-package"))
    spec = importlib.util.spec_from_loader("check_package", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


checker = _load_checker()


def _executable_path():
    host = json.loads((REPO / "host.json").read_text())
    return host["customHandler"]["description"]["defaultExecutablePath"]


@pytest.fixture(scope="module")
def package_zip(tmp_path_factory):
    given = os.environ.get("FERRY_PACKAGE_ZIP")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("pkg") / "ferry.zip"
    cmd = [str(REPO / "scripts" / "package"), "--out", str(out)]
    if MUSL_BINARY.is_file():
        cmd += ["--binary", str(MUSL_BINARY)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"scripts/package failed:\n{result.stdout}\n{result.stderr}"
    return out


def test_package_layout_is_exactly_what_the_host_loads(package_zip):
    assert checker.check(str(package_zip), str(REPO), static=True) == []
    with zipfile.ZipFile(package_zip) as z:
        names = sorted(z.namelist())
    functions = sorted(p.parent.name for p in (REPO / "functions").glob("*/function.json"))
    assert names == sorted(["host.json", _executable_path()] + [f"functions/{f}/function.json" for f in functions])
    assert not any(n.startswith(("target/", "src/")) or n.endswith(".rs") for n in names)


def test_package_files_match_the_repository(package_zip):
    with zipfile.ZipFile(package_zip) as z:
        assert z.read("host.json") == (REPO / "host.json").read_bytes()
        for path in (REPO / "functions").glob("*/function.json"):
            assert z.read(f"functions/{path.parent.name}/function.json") == path.read_bytes()
        info = z.getinfo(_executable_path())
        assert info.create_system == 3
        assert (info.external_attr >> 16) & 0o111 == 0o111
        assert stat.S_ISREG(info.external_attr >> 16)


def _dynamic_elf() -> Path:
    """A dynamically linked ELF from this machine (the Python interpreter, or coreutils)."""
    for candidate in (Path(sys.executable).resolve(), Path("/bin/ls"), Path("/usr/bin/env")):
        try:
            data = candidate.read_bytes()
            if data[:4] == b"\x7fELF" and checker.elf_interpreter(data):
                return candidate
        except (OSError, ValueError):
            continue
    why = "no dynamically linked ELF found on this machine"
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false"):
        pytest.fail(f"{why}; on CI (CI is set) no test may be skipped")
    pytest.skip(why)


def _rewrite(src, dst, drop=(), add=(), mode_override=None):
    """Copy a real package, dropping/adding entries or changing the binary's mode."""
    exe = _executable_path()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = zin.read(info)
            if info.filename == exe and mode_override is not None:
                info.external_attr = (stat.S_IFREG | mode_override) << 16
            zout.writestr(info, data)
        for name, data in add:
            zout.writestr(name, data)
    return dst


def test_checker_rejects_extra_entries(package_zip, tmp_path):
    bad = _rewrite(package_zip, tmp_path / "extra.zip", add=[("src/main.rs", b"fn main() {}")])
    assert checker.check(str(bad), str(REPO)) == ["unexpected entry: src/main.rs"]


def test_checker_rejects_missing_function(package_zip, tmp_path):
    bad = _rewrite(package_zip, tmp_path / "missing.zip", drop={"functions/sequencer/function.json"})
    assert checker.check(str(bad), str(REPO)) == ["missing entry: functions/sequencer/function.json"]


def test_checker_rejects_non_executable_binary(package_zip, tmp_path):
    bad = _rewrite(package_zip, tmp_path / "noexec.zip", mode_override=0o644)
    problems = checker.check(str(bad), str(REPO))
    assert len(problems) == 1 and "not marked executable" in problems[0]


def test_checker_rejects_dynamic_binary_when_static_required(package_zip, tmp_path):
    dynamic = _dynamic_elf().read_bytes()
    exe = _executable_path()
    src = _rewrite(package_zip, tmp_path / "base.zip", drop={exe})
    bad = tmp_path / "dynamic.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        info = zipfile.ZipInfo(exe)
        info.create_system = 3
        info.external_attr = (stat.S_IFREG | 0o755) << 16
        zout.writestr(info, dynamic)
    assert checker.check(str(bad), str(REPO), static=False) == []
    problems = checker.check(str(bad), str(REPO), static=True)
    assert len(problems) == 1 and "dynamically linked" in problems[0]


def test_package_script_fails_clearly_on_missing_binary(tmp_path):
    result = subprocess.run(
        [str(REPO / "scripts" / "package"), "--binary", str(tmp_path / "nope"), "--out", str(tmp_path / "x.zip")],
        cwd=REPO, capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "binary not found" in result.stderr
    assert not (tmp_path / "x.zip").exists()


def test_package_script_refuses_a_dynamic_binary_for_musl(tmp_path):
    dynamic = _dynamic_elf()
    result = subprocess.run(
        [str(REPO / "scripts" / "package"), "--binary", str(dynamic), "--out", str(tmp_path / "x.zip")],
        cwd=REPO, capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "dynamically linked" in result.stderr
    assert not (tmp_path / "x.zip").exists()
