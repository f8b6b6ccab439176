"""A reserve of disk space in the state directory, given up when the disk fills.

A Pi's SD card fills (logs, snapshots, another program); SQLite then cannot write a passage, an
alert or even the alert that says the disk is full. The gate keeps a file of real, allocated
blocks beside its database and deletes it the moment a write fails for lack of space: the
journal can then write what waited and raise `disk_full`, which buys the guards time to act.
The reserve is laid again once the disk has room for it and a margin.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)

BALLAST_NAME = "reserve.ballast"
DEFAULT_BYTES = 16 * 1024 * 1024  # about 30,000 passages with their outbox rows


def is_disk_full(exc: BaseException | None) -> bool:
    """True when `exc` (or what caused it) says the disk or the database is full."""
    while exc is not None:
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == \
                sqlite3.SQLITE_FULL:
            return True
        if isinstance(exc, sqlite3.Error) and "disk is full" in str(exc):
            return True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class Ballast:
    """A file of `size` allocated bytes that can be released to let the journal write."""

    def __init__(self, path: Path, *, size: int = DEFAULT_BYTES) -> None:
        self.path = Path(path)
        self.size = size

    @property
    def held(self) -> bool:
        """True while the reserve is on disk."""
        return self.path.exists()

    def lay(self) -> bool:
        """Put the reserve on disk when there is room for it and as much again; True if held."""
        if self.size <= 0:
            return False
        if self.held:
            return True
        try:
            free = os.statvfs(self.path.parent).f_bavail * os.statvfs(self.path.parent).f_frsize
            if free < 2 * self.size:
                return False
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)  # real blocks, not a sparse hole
                os.fsync(fd)
            finally:
                os.close(fd)
        except FileExistsError:
            return True
        except OSError as exc:
            log.warning("disk reserve %s not laid: %s", self.path, exc)
            self.path.unlink(missing_ok=True)
            return False
        log.info("disk reserve of %d MB laid at %s", self.size // 2**20, self.path)
        return True

    def release(self) -> bool:
        """Delete the reserve; True when there was one to free."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.error("disk reserve %s cannot be freed: %s", self.path, exc)
            return False
        log.critical("the disk is full: freed the %d MB reserve %s so records can be written",
                     self.size // 2**20, self.path)
        return True
