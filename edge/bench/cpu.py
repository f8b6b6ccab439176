"""CPU accounting from /proc for the fleet benchmark: how much of a core each process used
between two moments, the machine as a whole, and which part of the run is at its limit."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

TICK = os.sysconf("SC_CLK_TCK")


class Measured(Protocol):
    """A process of the run whose CPU seconds can be read."""

    def cpu(self) -> float: ...


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / TICK


@dataclass
class CpuMark:
    """CPU seconds of the broker, of each worker and of the machine at one moment."""

    wall: float
    machine: float
    broker: float
    workers: dict[str, list[float]]


class CpuMeter:
    """Where the CPU goes between two marks: broker, gate processes, consumer processes, the
    machine as a whole (what none of ours used is other load, e.g. the kernel's loopback
    networking or other programs on the machine)."""

    def __init__(self, broker_pid: int, groups: dict[str, Sequence[Measured]]) -> None:
        self.broker_pid = broker_pid
        self.groups = groups

    def mark(self) -> CpuMark:
        return CpuMark(time.time(), machine_busy_seconds(), cpu_seconds(self.broker_pid),
                       {name: [w.cpu() for w in workers]
                        for name, workers in self.groups.items()})

    @staticmethod
    def between(a: CpuMark, b: CpuMark, events: int) -> dict[str, Any]:
        wall = max(1e-6, b.wall - a.wall)

        def group(per: list[float]) -> dict[str, Any]:
            return {"cpu_s": round(sum(per), 2), "cores": round(sum(per) / wall, 2),
                    "processes": len(per),
                    "busiest_process_cores": round(max(per, default=0.0) / wall, 2),
                    "cpu_ms_per_event": round(1000 * sum(per) / events, 3) if events else None}

        figures = {"broker": group([b.broker - a.broker])}
        for name in a.workers:
            figures[name] = group([y - x for x, y in zip(a.workers[name], b.workers[name],
                                                         strict=True)])
        ours = sum(g["cpu_s"] for g in figures.values())
        machine = b.machine - a.machine
        figures["machine"] = {"cores": os.cpu_count() or 1,
                              "busy_cores": round(machine / wall, 2),
                              "other_load_cores": round(max(0.0, machine - ours) / wall, 2)}
        return figures


def saturation(cpu: dict[str, Any]) -> dict[str, Any]:
    """Which part limits the run. A process at about one core is at its own limit
    (Mosquitto is single-threaded; a Python process runs one thread at a time); otherwise a
    machine with every core busy is the limit, and the part using most of it the bottleneck."""
    parts = ("broker", "gates", "consumers")
    full = [p for p in parts if cpu[p]["busiest_process_cores"] >= 0.85]
    machine = cpu["machine"]
    if full:
        part = max(full, key=lambda p: cpu[p]["busiest_process_cores"])
        return {"bottleneck": part, "why": f"a {part} process uses a whole core "
                f"({cpu[part]['busiest_process_cores']})"}
    if machine["busy_cores"] >= 0.85 * machine["cores"]:
        part = max(parts, key=lambda p: cpu[p]["cores"])
        return {"bottleneck": part, "why": f"all {machine['cores']} cores busy "
                f"({machine['busy_cores']}); the {part} use the most ({cpu[part]['cores']})"}
    return {"bottleneck": None, "why": "no process and not the machine at its limit "
            f"({machine['busy_cores']} of {machine['cores']} cores busy)"}
