"""install.sh into a temporary root, twice (nothing changes the second time), then uninstall."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "install.sh"
HOST_TOOLS = ("systemctl", "useradd", "groupadd", "usermod", "userdel", "apt-get", "udevadm")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the source tree (others keep editing the checkout while tests run)."""
    snapshot = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("install.sh", "pyproject.toml", "requirements.txt", "README.md", "Makefile"):
        shutil.copy2(REPO / name, snapshot / name)
    for name in ("edge", "gate", "vision", "sync", "systemd", "docs", "config"):
        shutil.copytree(REPO / name, snapshot / name, ignore=ignore)
    return snapshot


@pytest.fixture(scope="module")
def wheelhouse(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gridgate wheel built from the snapshot, so the install works offline."""
    build = tmp_path_factory.mktemp("build")
    for name in ("pyproject.toml", "README.md", "edge", "gate", "vision", "sync"):
        (shutil.copytree if (source / name).is_dir() else shutil.copy2)(source / name,
                                                                        build / name)
    house = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(house), str(build)],
                   check=True, capture_output=True)
    return house


@pytest.fixture
def spy_path(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """PATH with recorders in front of the host tools --root mode must never call."""
    bin_dir, calls = tmp_path / "spy-bin", tmp_path / "host-calls.log"
    bin_dir.mkdir()
    for tool in HOST_TOOLS:
        spy = bin_dir / tool
        spy.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\nexit 1\n')
        spy.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return env, calls


def install(root: Path, source: Path, env: dict[str, str], *args: str,
            wheelhouse: Path | None = None, expect: int = 0) -> str:
    command = ["bash", str(source / "install.sh"), "--root", str(root), *args]
    if wheelhouse is not None:
        command += ["--no-deps", "--wheelhouse", str(wheelhouse)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    output = done.stdout + done.stderr
    assert done.returncode == expect, output
    return output


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under root: kind, mode, content hash or link target, and mtime."""
    found: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        rel, info = str(path.relative_to(root)), path.lstat()
        if path.is_symlink():
            found[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            found[rel] = ("dir", oct(info.st_mode))
        else:
            found[rel] = ("file", oct(info.st_mode), info.st_mtime_ns,
                          hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (make setup installs it through apt)")
    done = subprocess.run(["shellcheck", "--severity=style", str(INSTALL)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_install_twice_then_uninstall_keeps_state_then_purge(
        tmp_path: Path, source: Path, wheelhouse: Path,
        spy_path: tuple[dict[str, str], Path]) -> None:
    env, calls = spy_path
    root = tmp_path / "root"
    first = install(root, source, env, wheelhouse=wheelhouse)
    assert "done:" in first

    # The layout: user in gpio and video, directories with their modes, enabled unit.
    passwd = [line for line in lines_of(root / "etc/passwd") if line.startswith("gridgate:")]
    assert len(passwd) == 1
    assert passwd[0].endswith(":/var/lib/gridgate:/usr/sbin/nologin")
    groups = {line.split(":")[0]: line.split(":")[3] for line in lines_of(root / "etc/group")}
    assert "gridgate" in groups["gpio"].split(",") and "gridgate" in groups["video"].split(",")
    assert "gridgate" in groups
    assert oct((root / "etc/gridgate").stat().st_mode & 0o777) == "0o750"
    assert oct((root / "var/lib/gridgate").stat().st_mode & 0o777) == "0o750"
    unit = root / "etc/systemd/system/gridgate.service"
    assert unit.read_text() == (source / "systemd/gridgate.service").read_text()
    wants = root / "etc/systemd/system/multi-user.target.wants/gridgate.service"
    assert os.readlink(wants) == "/etc/systemd/system/gridgate.service"
    assert os.readlink(root / "usr/local/bin/gridgate") == "/opt/gridgate/bin/gridgate"
    assert (root / "etc/gridgate/gridgate.example.toml").read_text() == \
        (source / "config/gridgate.example.toml").read_text()
    assert (root / "opt/gridgate/share/doc/gridgate/configuration.md").is_file()
    assert not (root / "etc/gridgate/gridgate.toml").exists(), "init writes the config"
    assert "gridgate init" in first
    # The venv really holds the package (run outside the checkout so it is not found there).
    venv_python = root / "opt/gridgate/bin/python"
    done = subprocess.run([str(venv_python), "-c", "import edge.notify, sys; "
                           "print(edge.notify.__file__)"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(root / "opt/gridgate/lib"))
    assert (root / "opt/gridgate/bin/gridgate").is_file()
    # The gate display's prompts, where the display looks by default (with espeak-ng only).
    prompts = root / "opt/gridgate/share/gridgate/prompts"
    if shutil.which("espeak-ng", path=env.get("PATH")):
        assert (prompts / "granted.zh.wav").is_file() and "spoken prompts: 18 file(s)" in first
    else:
        assert "spoken prompts: skipped, espeak-ng is missing" in first

    before = snapshot(root)
    second = install(root, source, env, wheelhouse=wheelhouse)
    assert "nothing to change" in second, second
    assert snapshot(root) == before, "the second run changed the tree"

    # Uninstall keeps config and state (and the user); doing it twice removes nothing more.
    (root / "etc/gridgate/gridgate.toml").write_text("# the installer's config\n")
    (root / "var/lib/gridgate/gridgate.db").write_bytes(b"journal")
    removed = install(root, source, env, "--uninstall")
    assert "kept /etc/gridgate and /var/lib/gridgate" in removed
    for gone in ("opt/gridgate", "etc/systemd/system/gridgate.service",
                 "etc/systemd/system/multi-user.target.wants/gridgate.service",
                 "usr/local/bin/gridgate", "etc/udev/rules.d/60-gridgate-gpio.rules",
                 "etc/gridgate/gridgate.example.toml"):
        assert not (root / gone).exists() and not (root / gone).is_symlink(), gone
    assert (root / "etc/gridgate/gridgate.toml").read_text() == "# the installer's config\n"
    assert (root / "var/lib/gridgate/gridgate.db").read_bytes() == b"journal"
    assert any(line.startswith("gridgate:") for line in lines_of(root / "etc/passwd"))
    assert "nothing to remove" in install(root, source, env, "--uninstall")

    purged = install(root, source, env, "--uninstall", "--purge")
    assert not (root / "etc/gridgate").exists() and not (root / "var/lib/gridgate").exists()
    assert not any(line.startswith("gridgate:") for line in lines_of(root / "etc/passwd"))
    groups = {line.split(":")[0]: line.split(":")[3] for line in lines_of(root / "etc/group")}
    assert groups == {"gpio": "", "video": ""}, "groups stay, without the gridgate member"
    assert "groups gpio and video are kept" in purged

    assert not calls.exists(), f"--root mode called host tools: {calls.read_text()}"


def test_existing_groups_get_the_member_added(tmp_path: Path, source: Path, wheelhouse: Path,
                                              spy_path: tuple[dict[str, str], Path]) -> None:
    env, calls = spy_path
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/group").write_text("root:x:0:\nvideo:x:44:pi\ngpio:x:997:\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    install(root, source, env, wheelhouse=wheelhouse)
    group = lines_of(root / "etc/group")
    assert "video:x:44:pi,gridgate" in group and "gpio:x:997:gridgate" in group
    gid = next(line.split(":")[2] for line in group if line.startswith("gridgate:"))
    assert gid not in ("0", "44", "997")
    assert not calls.exists()


def test_bad_invocations_explain_themselves(tmp_path: Path, source: Path,
                                           spy_path: tuple[dict[str, str], Path]) -> None:
    env, _ = spy_path
    out = install(tmp_path / "r", source, env, "--purge", expect=1)
    assert "--purge goes with --uninstall" in out
    out = install(tmp_path / "r", source, env, "--no-deps", "--no-apt", expect=1)
    assert "--no-deps needs a gridgate wheel" in out
    out = install(tmp_path / "r", source, env, "--frobnicate", expect=1)
    assert "unknown option '--frobnicate'" in out
    not_source = tmp_path / "empty"
    not_source.mkdir()
    out = install(tmp_path / "r", source, env, "--source", str(not_source), expect=1)
    assert "is not a gridgate source tree" in out
    assert "--uninstall" in subprocess.run(["bash", str(INSTALL), "--help"],
                                           capture_output=True, text=True).stdout
