"""Run the check families in order; a family that crashes becomes a finding, never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from edge.doctor import broker, camera, clock, config, gpio, relay, system, trust, vision
from edge.doctor.context import DoctorContext
from edge.doctor.findings import Finding, Report, fail

log = logging.getLogger(__name__)

Family = Callable[[DoctorContext], Iterable[Finding]]

# In the order an installer fixes things: the file, the wiring, the camera, the network.
FAMILIES: dict[str, Family] = {
    "config": config.check,
    "gpio": gpio.check,
    "relay": relay.check,
    "camera": camera.check,
    "vision": vision.check,
    "trust": trust.check,
    "broker": broker.check,
    "clock": clock.check,
    "system": system.check,
}


def _guarded(name: str, family: Family, context: DoctorContext) -> Iterator[Finding]:
    try:
        yield from family(context)
    except Exception as exc:  # a bug in one check must not hide the others' findings
        log.exception("doctor check %s crashed", name)
        yield fail(name, f"the {name} check itself failed: {type(exc).__name__}: {exc}",
                   "run `gridgate -vv doctor` and report the output")


def run_doctor(context: DoctorContext, *, only: Iterable[str] = (),
               skip: Iterable[str] = (),
               on_finding: Callable[[Finding], None] | None = None) -> Report:
    """Run the chosen families (all by default) and collect their findings; `on_finding`
    hears each one as soon as it is known (the CLI prints it then)."""
    only, skip = set(only), set(skip)
    unknown = (only | skip) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown check family {sorted(unknown)[0]!r}; "
                         f"choose from {', '.join(FAMILIES)}")
    findings: list[Finding] = []
    for name, family in FAMILIES.items():
        if (only and name not in only) or name in skip:
            continue
        for finding in _guarded(name, family, context):
            findings.append(finding)
            if on_finding is not None:
                on_finding(finding)
    return Report(config=str(context.config_path), findings=findings)
