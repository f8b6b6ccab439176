"""Settings of the lamps and the buzzer each reader answers the person at the door with.

The patterns are data: one table per outcome and per state, each with its own defaults (so the
generated reference shows them), turned into gate.signals.Patterns for the devices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from edge.settings.core import _ID, Section
from gate.vocabulary import Lamp

if TYPE_CHECKING:  # gate.signals loads gpiozero: settings must load fast (CLI start)
    from gate.signals import Pattern, Patterns

_LAMP = ("'green', 'red', 'amber' (green and red together where no amber lamp is wired, as an "
         "RGB lamp mixes it) or 'none'.")
_PIN = "BCM pin of the {what}, if wired."


class PatternSettings(Section):
    """A lamp, steady or blinking, and beeps of the buzzer when the pattern starts."""

    lamp: Lamp = Field(Lamp.NONE, strict=False, description=_LAMP)
    blink_hz: float = Field(0.0, ge=0, le=10, description="Blinks per second; 0: steady.")
    beeps: int = Field(0, ge=0, le=10, description="Beeps when the pattern starts.")
    beep_ms: int = Field(100, ge=10, le=2000, description="Length of one beep (ms).")
    gap_ms: int = Field(100, ge=10, le=2000, description="Silence between two beeps (ms).")

    def pattern(self, seconds: float = 0.0) -> Pattern:
        """The devices' form of this pattern."""
        from gate.signals import Pattern
        return Pattern(self.lamp, self.blink_hz, self.beeps, self.beep_ms / 1000,
                       self.gap_ms / 1000, seconds)


class GrantedPattern(PatternSettings):
    """A granted passage: green for the door's open time and one short beep."""

    lamp: Lamp = Field(Lamp.GREEN, strict=False, description=_LAMP)
    beeps: int = Field(1, ge=0, le=10, description="Beeps when the pattern starts.")
    beep_ms: int = Field(150, ge=10, le=2000, description="Length of one beep (ms).")
    seconds: float = Field(0.0, ge=0, le=60, description="How long it shows; 0: as long as "
                           "the door is released (door.open_seconds).")


class DeniedPattern(PatternSettings):
    """A denied passage: red and three beeps, then the reader's state again."""

    lamp: Lamp = Field(Lamp.RED, strict=False, description=_LAMP)
    beeps: int = Field(3, ge=0, le=10, description="Beeps when the pattern starts.")
    seconds: float = Field(3.0, ge=0, le=60, description="How long it shows; 0: as long as "
                           "door.open_seconds.")


class WaitingPattern(PatternSettings):
    """While a pass waits for its holder's face (faces.pass_wait_s): amber, blinking."""

    lamp: Lamp = Field(Lamp.AMBER, strict=False, description=_LAMP)
    blink_hz: float = Field(2.0, ge=0, le=10, description="Blinks per second; 0: steady.")


class LockdownPattern(PatternSettings):
    """While the reader's door is locked down: steady red."""

    lamp: Lamp = Field(Lamp.RED, strict=False, description=_LAMP)


class HoldOpenPattern(PatternSettings):
    """While the reader's door is held open: green."""

    lamp: Lamp = Field(Lamp.GREEN, strict=False, description=_LAMP)


class ReaderSignals(Section):
    """The lamps and buzzer of one reader; leave a pin out for what is not wired."""

    reader_id: str = Field(..., pattern=_ID, description="The reader (readers.reader_id).")
    green_pin: int | None = Field(None, ge=0, le=27, description=_PIN.format(what="green lamp"))
    red_pin: int | None = Field(None, ge=0, le=27, description=_PIN.format(what="red lamp"))
    amber_pin: int | None = Field(None, ge=0, le=27, description=_PIN.format(
        what="amber lamp (without it, amber is green and red together)"))
    buzzer_pin: int | None = Field(None, ge=0, le=27, description=_PIN.format(what="buzzer"))
    active_high: bool = Field(True, description="True when a lamp lights on a high pin.")
    buzzer_active_high: bool = Field(True, description="True when the buzzer sounds on a "
                                     "high pin.")

    def pins(self) -> list[tuple[str, int]]:
        """Each wired output: (key, pin)."""
        return [(name, pin) for name, pin in (
            ("green_pin", self.green_pin), ("red_pin", self.red_pin),
            ("amber_pin", self.amber_pin), ("buzzer_pin", self.buzzer_pin)) if pin is not None]


class SignalSettings(Section):
    """Lamps and a buzzer at each reader, so the person at the door sees and hears the answer."""

    granted: GrantedPattern = Field(default_factory=GrantedPattern)
    denied: DeniedPattern = Field(default_factory=DeniedPattern)
    waiting: WaitingPattern = Field(default_factory=WaitingPattern)
    lockdown: LockdownPattern = Field(default_factory=LockdownPattern)
    hold_open: HoldOpenPattern = Field(default_factory=HoldOpenPattern)
    readers: list[ReaderSignals] = Field(
        default_factory=list, description="One per reader with lamps or a buzzer.")

    def patterns(self) -> Patterns:
        """The patterns for the devices."""
        from gate.signals import Patterns
        return Patterns(granted=self.granted.pattern(self.granted.seconds),
                        denied=self.denied.pattern(self.denied.seconds),
                        waiting=self.waiting.pattern(), lockdown=self.lockdown.pattern(),
                        hold_open=self.hold_open.pattern())
