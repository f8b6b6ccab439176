"""Settings of the gate itself: identity, readers, door, storage, passes, vision."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from gate.model import AntiPassback, Direction

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ID_PATTERN = _ID  # edge/cli/init.py says it in words


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors, values are frozen, and no value
    is converted from another type (strict): `true` is no GPIO pin, `"off"` no boolean, `"5"`
    no number. What TOML cannot write otherwise is taken: an integer where a number is expected
    (`open_seconds = 5`), and strings for paths and named choices; those fields say
    `strict=False` (lax pydantic still takes only a string or a path for a path and only one of
    the names for a choice)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class GateSettings(Section):
    """Who this gate is."""

    gate_id: str = Field(..., pattern=_ID, description="This gate's id, unique in the compound.")
    compound_id: str = Field(
        ..., pattern=_ID, description="The compound this gate belongs to; passes of other "
        "compounds are rejected."
    )
    name: str = Field("", max_length=100, description="Human name shown on the panel.")


class ReaderSettings(Section):
    """One camera watching one direction."""

    reader_id: str = Field(..., pattern=_ID, description="Reader id, unique on this gate.")
    direction: Direction = Field(..., strict=False, description="'in' or 'out'.")
    camera: str = Field(
        ...,
        min_length=1,
        description="Camera source: a device index ('0'), a video file, an rtsp:// or http:// "
        "URL, or a folder of images.",
    )
    loop: bool = Field(False, description="Replay a file source from the start when it ends "
                       "(for demos).")
    width: int = Field(640, ge=160, le=3840, description="Requested frame width in pixels.")
    height: int = Field(480, ge=120, le=2160, description="Requested frame height in pixels.")
    fps: float = Field(15.0, gt=0, le=120, description="Frames per second to process at most.")
    relay_pin: int = Field(
        ..., ge=0, le=27, description="BCM GPIO number of the door relay this reader opens."
    )
    anti_passback: AntiPassback = Field(
        AntiPassback.SOFT,
        strict=False,
        description="'off', 'soft' (allow and alert) or 'hard' (deny) on a repeated direction.",
    )


class DoorSettings(Section):
    """Door relay timing and the optional exit button and door contact."""

    relay_active_high: bool = Field(
        True, description="True when the relay board energises on a high pin."
    )
    open_seconds: float = Field(
        3.0, gt=0, le=60, description="How long a grant keeps the lock released."
    )
    exit_button_pin: int | None = Field(
        None, ge=0, le=27, description="BCM pin of the request-to-exit button, if wired."
    )
    door_contact_pin: int | None = Field(
        None, ge=0, le=27, description="BCM pin of the door contact, if wired."
    )
    contact_open_when_high: bool = Field(
        True, description="True when the contact pin reads high while the door is open."
    )
    held_open_seconds: float = Field(
        30.0, gt=0, le=3600, description="Alert when the door stays open longer than this."
    )


class StorageSettings(Section):
    """Where the gate keeps its state."""

    state_dir: Path = Field(
        Path("/var/lib/gridgate"),
        strict=False, description="Directory for the SQLite journal, snapshots and local keys.",
    )
    snapshot_days: int = Field(
        7, ge=0, le=365, description="Days to keep the snapshot of a pass shown by someone "
        "else (a denied person's face); unknown faces: faces.unknown_snapshot_days, guards' "
        "evidence: retention.override_snapshot_days."
    )


class PassesSettings(Section):
    """Trust in pass signatures."""

    trust_list: Path = Field(
        ...,
        strict=False,
        description="Trust list file (JSON: key id -> public key) or a single signing.pub file.",
    )
    revocations: Path | None = Field(
        None, strict=False, description="Optional file with one revoked pass id per line."
    )


class VisionSettings(Section):
    """How frames become facts."""

    qr_decoder: str = Field(
        "zxing", pattern="^(zxing|pyzbar)$", description="QR decoder: 'zxing' or 'pyzbar'."
    )
    repeat_seconds: float = Field(
        3.0,
        ge=0,
        le=600,
        description="The same pass seen again within this many seconds is the same scan.",
    )
