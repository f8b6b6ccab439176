"""System family: free disk space for the journal and free memory for the gate."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from edge.doctor.context import DoctorContext
from edge.doctor.findings import Finding, fail, ok, warn

MB = 1024 * 1024
DISK_FAIL_MB, DISK_WARN_MB = 200, 1024
MEMORY_FAIL_MB, MEMORY_WARN_MB = 100, 300


def available_memory(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """MemAvailable in bytes, or None when the kernel does not say."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(state_dir: Path, fail_mb: int = DISK_FAIL_MB,
               warn_mb: int = DISK_WARN_MB) -> Finding:
    """Space left where the journal lives."""
    where = _existing(state_dir)
    usage = shutil.disk_usage(where)
    free_mb = usage.free // MB
    text = f"{free_mb} MB free of {usage.total // MB} MB for {state_dir}"
    fix = ("free space (journalctl --vacuum-size=100M, old files in /var/log), keep less "
           "([retention] days, storage.snapshot_days; `gridgate prune`), or use a larger SD card")
    if free_mb < fail_mb:
        return fail("system.disk", text + ": the journal may stop recording passages", fix)
    if free_mb < warn_mb:
        return warn("system.disk", text, fix)
    return ok("system.disk", text)


def check_memory(available: int | None, faces: bool, fail_mb: int = MEMORY_FAIL_MB,
                 warn_mb: int = MEMORY_WARN_MB) -> Finding:
    """Memory left for the gate (faces need about 200 MB more)."""
    if available is None:
        return warn("system.memory", "free memory cannot be read (/proc/meminfo)",
                    "check with `free -m`")
    extra = 200 if faces else 0
    free_mb = available // MB
    text = f"{free_mb} MB of memory available"
    fix = ("stop programs the gate does not need, or turn faces off (faces.enabled = false)"
           if faces else "stop programs the gate does not need")
    if free_mb < fail_mb + extra:
        return fail("system.memory", text, fix)
    if free_mb < warn_mb + extra:
        return warn("system.memory", text, fix)
    return ok("system.memory", text)


def check(context: DoctorContext) -> Iterator[Finding]:
    """Disk and memory; these need no valid configuration."""
    state_dir = context.state_dir()
    yield check_disk(state_dir)
    faces = context.settings.faces.enabled if context.settings is not None else False
    yield check_memory(available_memory(), faces)
    if state_dir.is_dir() and not os.access(state_dir, os.W_OK):
        yield warn("system.state_dir", f"{state_dir} is not writable by this user",
                   "run the doctor with sudo; the service itself runs as gridgate, the owner")
