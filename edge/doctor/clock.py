"""Clock family: the wall clock is plausible and synchronised (passes and certificates need it)."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator

from edge.doctor.context import DoctorContext
from edge.doctor.findings import Finding, fail, ok, warn

EARLIEST_YEAR = 2025  # a Pi has no battery clock: before NTP it may think it is 1970
TIME_ERROR = 5  # adjtimex(2): "clock not synchronized"
NTP_FIX = ("enable time synchronisation: sudo timedatectl set-ntp true; the gate needs "
           "network access to an NTP server (UDP port 123); see timedatectl timesync-status")


def kernel_synchronised() -> bool | None:
    """Ask the kernel (adjtimex with no changes); None when it cannot be asked."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    libc = ctypes.CDLL(libc_name, use_errno=True)
    # struct timex is about 208 bytes; its first field `modes` = 0 makes this a pure query.
    buffer = ctypes.create_string_buffer(512)
    state = int(libc.adjtimex(buffer))  # ctypes returns a C int as int by default
    if state < 0:
        return None
    return state != TIME_ERROR


def check(context: DoctorContext) -> Iterator[Finding]:
    """Plausible date, then kernel synchronisation state."""
    now = context.clock.now()
    zone = context.settings.policy.zone if context.settings is not None else None
    shown = f"{now:%Y-%m-%d %H:%M} UTC"
    if zone is not None and zone.key != "UTC":
        local = now.astimezone(zone)
        shown = f"{local:%Y-%m-%d %H:%M} {local.tzname() or zone.key}, {now:%H:%M} UTC"
    if now.year < EARLIEST_YEAR:
        yield fail("clock.synchronised", f"the clock says {shown}, which "
                   "cannot be right: every pass would look expired or not yet valid", NTP_FIX)
        return
    probe = context.time_synchronised or kernel_synchronised
    synced = probe()
    if synced is None:
        yield warn("clock.synchronised", f"the clock says {shown}; whether it "
                   "is synchronised cannot be told here", NTP_FIX)
    elif synced:
        yield ok("clock.synchronised", f"the clock is synchronised ({shown})")
    else:
        yield warn("clock.synchronised", f"the clock ({shown}) is not "
                   "synchronised: pass validity and certificate checks depend on it", NTP_FIX)
