"""One holder of a state directory at a time: the running gate, or `gridgate restore`.

A restore that replaced the database under a running gate would leave that gate deciding on
data rolled back under it (quotas, who is out, anti-passback). The gate holds an exclusive
flock(2) on `state_dir/gridgate.lock` for as long as it runs; restore takes the same lock
without waiting and refuses when it cannot. The kernel drops the lock when its holder exits,
even by SIGKILL or a power cut, so a stale lock file never blocks anyone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from gate.errors import GridgateError

LOCK_NAME = "gridgate.lock"
_HOLDER_MAX = 200  # bytes of the holder's line read back for the message


class StateBusy(GridgateError, RuntimeError):
    """The state directory is held by another process (or cannot be locked)."""


def lock_path(state_dir: Path | str) -> Path:
    """The lock file inside the state directory."""
    return Path(state_dir) / LOCK_NAME


class StateLock:
    """An exclusive hold on a state directory; `release()` (or closing) lets it go."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def take(cls, state_dir: Path | str, holder: str) -> StateLock:
        """Hold `state_dir` for `holder` (a few words: who holds it); StateBusy at once when
        another process holds it, naming that holder."""
        path = lock_path(state_dir)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateBusy(f"cannot lock {path}: {exc.strerror}; check that storage.state_dir "
                            "is writable by this user") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, _HOLDER_MAX, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise StateBusy(f"{Path(state_dir)} is in use by {other or 'another gridgate process'}"
                            ) from None
        except OSError as exc:
            os.close(fd)
            raise StateBusy(f"cannot lock {path}: {exc.strerror}") from None
        try:  # who holds it, for the message of the one refused
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{holder} (pid {os.getpid()})\n".encode(), 0)
        except OSError:
            pass  # a full disk: held all the same, the message is less specific
        return cls(fd, path)

    @property
    def held(self) -> bool:
        """True until released."""
        return self._fd is not None

    def release(self) -> None:
        """Let the state directory go (the holder's line is cleared first)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        # A full or read-only disk: the line stays; the lock goes with the descriptor.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)

    def close(self) -> None:
        """The same as `release()` (for contextlib.closing and ExitStack)."""
        self.release()

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
