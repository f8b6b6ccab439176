"""Writing files that must survive a crash: atomic replacement, and private files (0600).

A reader, or the disk after a power cut, sees the old file or the new one, never a mix; a
failed write leaves the old file as it was and no temporary file behind. Private files are
never readable by others, not even for an instant, whatever the umask.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_FOLDER_MODE = 0o700


def write_atomic(path: Path | str, data: bytes, *, mode: int, replace: bool = True) -> None:
    """Write `data` to `path` with permissions `mode` (exactly: the umask does not apply).

    The data goes to a temporary file in the same folder, created 0600 and given `mode`
    before its first byte, flushed and fsynced, then renamed over `path`, and the folder is
    fsynced so the rename itself survives a power cut. A file being replaced lends its owner
    and group to the new one where this process may set them (root, or its own files).

    With `replace=False` an existing `path` is never replaced: FileExistsError instead.

    Raises OSError (of the same kind, naming `path`) when the file cannot be written; the old
    file is then untouched and the temporary file removed.
    """
    path = Path(path)
    folder = path.parent
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _naming(exc, path) from None
    try:
        try:
            handle = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with handle:
            os.fchmod(handle.fileno(), mode)  # before the first byte
            _keep_owner(handle.fileno(), path)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # atomic, and refuses an existing name
            os.unlink(temporary)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise _naming(exc, path) from None
        raise
    try:
        fsync_folder(folder)
    except OSError as exc:
        raise _naming(exc, folder) from None


def write_private(path: Path | str, data: bytes, *, replace: bool = True) -> None:
    """Write a secret (a private key, a token) readable by this account only.

    Mode 0600 from creation, atomically as `write_atomic`; folders it has to create are 0700.
    With `replace=False` an existing file is kept and FileExistsError raised.
    """
    path = Path(path)
    make_private_folder(path.parent)
    write_atomic(path, data, mode=PRIVATE_FILE_MODE, replace=replace)


def make_private_folder(folder: Path | str) -> None:
    """Create `folder` and any missing parents with mode 0700; existing folders keep theirs."""
    folder = Path(folder)
    missing: list[Path] = []
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        try:
            candidate.mkdir(mode=PRIVATE_FOLDER_MODE)
        except FileExistsError:
            if not candidate.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR),
                                         str(candidate)) from None
            continue  # made meanwhile by someone else: theirs to set
        except OSError as exc:
            raise _naming(exc, candidate) from None
        os.chmod(candidate, PRIVATE_FOLDER_MODE)  # mkdir's mode is cut by the umask


def fsync_folder(folder: Path | str) -> None:
    """Make the entries of `folder` (a rename, a new file) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _keep_owner(fd: int, path: Path) -> None:
    # `sudo gridgate config install` must not turn root:gridgate 0640 into root:root 0640,
    # which the service could no longer read.
    try:
        old = os.stat(path)
    except OSError:
        return
    with contextlib.suppress(OSError):
        os.fchown(fd, old.st_uid, old.st_gid)


def _naming(exc: OSError, path: Path) -> OSError:
    """The same kind of error, naming the file the caller asked for, not our temporary one."""
    if exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror, str(path))


__all__ = ["PRIVATE_FILE_MODE", "PRIVATE_FOLDER_MODE", "fsync_folder", "make_private_folder",
           "write_atomic", "write_private"]
