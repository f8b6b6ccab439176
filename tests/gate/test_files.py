"""gate.files on real files: exact permissions from the first byte, atomic replacement, and a
failed write that leaves the old file and nothing else behind."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate import files
from gate.files import write_atomic, write_private
from gate.passes import generate_signing_key, load_signing_key, write_key_pair, write_signing_key


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o000, 0o022, 0o077, 0o277], ids=lambda m: f"umask-{m:03o}")
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Each test under several umasks: none of them may change what the helpers create."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(event, mode of the temporary file) at its creation and at each write of data."""
    seen: list[tuple[str, int]] = []
    real_mkstemp, real_fdopen = files.tempfile.mkstemp, files.os.fdopen

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, name = real_mkstemp(*args, **kwargs)  # type: ignore[call-overload]
        seen.append(("created", stat.S_IMODE(os.fstat(fd).st_mode)))
        return fd, name

    class Watched:
        def __init__(self, handle: object) -> None:
            self._handle = handle

        def write(self, data: bytes) -> int:
            seen.append(("write", stat.S_IMODE(os.fstat(self._handle.fileno()).st_mode)))
            return self._handle.write(data)  # type: ignore[attr-defined]

        def __getattr__(self, name: str) -> object:
            return getattr(self._handle, name)

        def __enter__(self) -> Watched:
            return self

        def __exit__(self, *exc: object) -> None:
            self._handle.close()  # type: ignore[attr-defined]

    monkeypatch.setattr(files.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(files.os, "fdopen", lambda fd, mode: Watched(real_fdopen(fd, mode)))
    return seen


def leftovers(folder: Path, *keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# --- write_atomic ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600])
def test_the_mode_is_exact_whatever_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    target = tmp_path / "settings.toml"
    write_atomic(target, b"a = 1\n", mode=mode)
    assert target.read_bytes() == b"a = 1\n"
    assert mode_of(target) == mode
    assert leftovers(tmp_path, "settings.toml") == []


def test_the_mode_is_set_before_the_first_byte(tmp_path: Path,
                                               watched: list[tuple[str, int]]) -> None:
    write_atomic(tmp_path / "trust.json", b"{}", mode=0o644)
    assert watched[0] == ("created", 0o600)  # never more open than 0600 while empty
    assert [m for event, m in watched if event == "write"] == [0o644]


def test_an_existing_file_is_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "gridgate.toml"
    target.write_bytes(b"old\n")
    old_inode = target.stat().st_ino
    with target.open("rb") as reader:  # a reader that opened the old file keeps it whole
        write_atomic(target, b"new\n", mode=0o640)
        assert reader.read() == b"old\n"
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_ino != old_inode  # a new file renamed in, not the old one rewritten
    assert mode_of(target) == 0o640
    assert leftovers(tmp_path, "gridgate.toml") == []


def test_the_owner_and_group_of_a_replaced_file_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "gridgate.toml"
    target.write_bytes(b"old\n")
    before = target.stat()
    write_atomic(target, b"new\n", mode=0o640)
    after = target.stat()
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "trust.json"
    target.write_bytes(b"old")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    with pytest.raises(OSError) as caught:
        write_atomic(target, b"new" * 1000, mode=0o644)
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(target)  # the file asked for, not the temporary one
    assert str(target) in str(caught.value) and "No space left" in str(caught.value)
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path, "trust.json") == []


def test_data_that_is_not_bytes_is_refused_without_a_trace(tmp_path: Path) -> None:
    target = tmp_path / "trust.json"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_atomic(target, "text", mode=0o644)  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path, "trust.json") == []


def test_a_parent_that_is_a_file_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "etc").write_bytes(b"not a folder")
    with pytest.raises(NotADirectoryError) as caught:
        write_atomic(tmp_path / "etc" / "gridgate.toml", b"x", mode=0o640)
    assert caught.value.filename == str(tmp_path / "etc" / "gridgate.toml")
    assert "Not a directory" in str(caught.value)
    assert (tmp_path / "etc").read_bytes() == b"not a folder"
    assert leftovers(tmp_path, "etc") == []


def test_a_missing_folder_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        write_atomic(tmp_path / "absent" / "x.toml", b"x", mode=0o640)
    assert caught.value.filename == str(tmp_path / "absent" / "x.toml")
    assert leftovers(tmp_path) == []


SYSTEM_PYTHON = Path("/usr/bin/python3")
REPO = Path(__file__).resolve().parents[2]


def write_as(writer: str, target: Path, code_dir: Path) -> str:
    """Try write_atomic(target) in a process of another account; what it raised."""
    # A copy of gate/files.py (standard library only) in a folder every account may read:
    # the clone itself may sit under a folder `nobody` cannot enter.
    (code_dir / "gate").mkdir(parents=True)
    shutil.copy2(REPO / "gate" / "files.py", code_dir / "gate" / "files.py")
    (code_dir / "gate" / "__init__.py").write_text("")
    for path in (code_dir, code_dir / "gate", *(code_dir / "gate").iterdir()):
        path.chmod(0o755)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from gate.files import write_atomic\n"
            "try:\n    write_atomic(sys.argv[2], b'new', mode=0o640)\n"
            "except OSError as exc:\n    print(type(exc).__name__, exc.filename)\n")
    if writer == "self":
        command = [sys.executable, "-c", code, str(code_dir), str(target)]
    else:
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                   str(SYSTEM_PYTHON), "-B", "-c", code, str(code_dir), str(target)]
    return subprocess.run(command, capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def test_a_read_only_folder_keeps_the_old_file() -> None:
    # root writes into any folder: then the writer is `nobody`, for whom the folder is
    # read-only (it belongs to root, mode 0755). Outside pytest's own 0700 tmp folders.
    if os.geteuid() == 0 and not (shutil.which("setpriv") and SYSTEM_PYTHON.exists()):
        pytest.skip("running as root, and no setpriv or /usr/bin/python3 to write as nobody")
    with tempfile.TemporaryDirectory(prefix="gridgate-files-") as made:
        folder = Path(made) / "conf"
        folder.mkdir()
        target = folder / "gridgate.toml"
        target.write_bytes(b"old")
        Path(made).chmod(0o755)
        folder.chmod(0o755 if os.geteuid() == 0 else 0o555)
        try:
            said = write_as("nobody" if os.geteuid() == 0 else "self", target,
                            Path(made) / "code")
        finally:
            folder.chmod(0o755)
        assert said == f"PermissionError {target}"
        assert target.read_bytes() == b"old"
        assert leftovers(folder, "gridgate.toml") == []


def test_replace_false_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "signing.pub"
    write_atomic(target, b"first", mode=0o644, replace=False)
    with pytest.raises(FileExistsError) as caught:
        write_atomic(target, b"second", mode=0o644, replace=False)
    assert caught.value.filename == str(target)
    assert target.read_bytes() == b"first"
    assert leftovers(tmp_path, "signing.pub") == []


# --- write_private --------------------------------------------------------------------------

def test_a_private_file_is_0600_in_new_0700_folders(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "state" / "panel" / "setup-token"
    write_private(target, b"secret\n")
    assert target.read_bytes() == b"secret\n"
    assert mode_of(target) == 0o600
    assert mode_of(tmp_path / "state") == 0o700
    assert mode_of(tmp_path / "state" / "panel") == 0o700
    assert leftovers(target.parent, "setup-token") == []


def test_a_private_file_is_never_readable_by_others(tmp_path: Path,
                                                    watched: list[tuple[str, int]]) -> None:
    old = os.umask(0)  # the most open umask there is
    try:
        write_private(tmp_path / "key.pem", b"-----BEGIN PRIVATE KEY-----\n")
    finally:
        os.umask(old)
    assert watched and all(m == 0o600 for _, m in watched), watched


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    folder = tmp_path / "gridgate"
    folder.mkdir()
    folder.chmod(0o750)
    write_private(folder / "panel-key.pem", b"k")
    assert mode_of(folder) == 0o750


def test_a_readable_old_secret_is_replaced_by_a_private_one(tmp_path: Path) -> None:
    target = tmp_path / "panel-key.pem"
    target.write_bytes(b"old key")
    target.chmod(0o644)  # e.g. written by hand, or by an older version
    write_private(target, b"new key")
    assert target.read_bytes() == b"new key" and mode_of(target) == 0o600


def test_a_private_write_that_fails_keeps_the_old_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "signing.key"
    write_private(target, b"old key")

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(files.os, "fsync", broken)
    with pytest.raises(OSError, match="Input/output error") as caught:
        write_private(target, b"new key")
    assert caught.value.filename == str(target)
    assert target.read_bytes() == b"old key" and mode_of(target) == 0o600
    assert leftovers(tmp_path, "signing.key") == []


def test_a_private_folder_under_a_file_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_bytes(b"")
    with pytest.raises(NotADirectoryError) as caught:
        write_private(tmp_path / "state" / "panel" / "setup-token", b"x")
    assert "state" in str(caught.value) and "Not a directory" in str(caught.value)


# --- the key writers that use them ----------------------------------------------------------

def test_key_pairs_are_private_and_refuse_to_overwrite(tmp_path: Path, umask: int) -> None:
    keys = tmp_path / "keys"
    kid = write_key_pair(keys)
    assert mode_of(keys / "signing.key") == 0o600 and mode_of(keys) == 0o700
    assert mode_of(keys / "signing.pub") == 0o644
    assert load_signing_key(keys / "signing.key").key_id == kid
    before = (keys / "signing.key").read_bytes()
    with pytest.raises(ValueError, match="already exists"):
        write_key_pair(keys)
    assert (keys / "signing.key").read_bytes() == before
    assert write_key_pair(keys, overwrite=True) != kid
    assert sorted(p.name for p in keys.iterdir()) == ["signing.key", "signing.pub"]


def test_a_signing_key_is_not_replaced_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "visitor.key"
    first = generate_signing_key()
    write_signing_key(first, path)
    with pytest.raises(FileExistsError):
        write_signing_key(generate_signing_key(), path)
    assert load_signing_key(path).key_id == first.key_id
    write_signing_key(second := generate_signing_key(), path, replace=True)
    assert load_signing_key(path).key_id == second.key_id and mode_of(path) == 0o600
