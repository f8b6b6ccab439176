"""What the doctor reports: one finding per thing checked, each with a status, message and fix."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    """How a check went."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


class Finding(BaseModel):
    """One result: which check, how it went, what was seen and how to fix it."""

    model_config = ConfigDict(frozen=True)

    check: str = Field(..., description="Family and subject, e.g. 'camera.in-cam'.")
    status: Status
    message: str = Field(..., description="What was found, in the installer's words.")
    fix: str = Field("", description="What to do about it; empty when nothing is needed.")


def ok(check: str, message: str) -> Finding:
    """A check that passed."""
    return Finding(check=check, status=Status.OK, message=message)


def warn(check: str, message: str, fix: str) -> Finding:
    """Works, but deserves attention."""
    return Finding(check=check, status=Status.WARN, message=message, fix=fix)


def fail(check: str, message: str, fix: str) -> Finding:
    """Will not work until fixed."""
    return Finding(check=check, status=Status.FAIL, message=message, fix=fix)


class Report(BaseModel):
    """All findings of one doctor run."""

    config: str
    findings: list[Finding]

    @property
    def passed(self) -> bool:
        """True when nothing failed (warnings allowed)."""
        return all(f.status is not Status.FAIL for f in self.findings)

    def count(self, status: Status) -> int:
        return sum(f.status is status for f in self.findings)

    def by_check(self, check: str) -> list[Finding]:
        """Findings whose check is `check` or starts with `check.`."""
        return [f for f in self.findings if f.check == check or f.check.startswith(check + ".")]
