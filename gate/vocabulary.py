"""The gate's fixed words: decision rules, alert kinds, door-event kinds and event types.

StrEnum members equal their values, so journal rows in SQLite and JSON on the wire are the
plain strings; a value that is not a member is one the gate never sends.
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class Rule(StrEnum):
    """The rule that decided a passage (`Decision.rule`, the `rule` of a passage row)."""

    # The pass itself was refused: "pass." + its PassReason.
    PASS_MALFORMED = "pass.malformed"
    PASS_BAD_SIGNATURE = "pass.bad_signature"
    PASS_UNKNOWN_KEY = "pass.unknown_key"
    PASS_KEY_NOT_ALLOWED = "pass.key_not_allowed"  # e.g. a visitor key signed a resident pass
    PASS_EXPIRED = "pass.expired"
    PASS_NOT_YET_VALID = "pass.not_yet_valid"
    PASS_REVOKED = "pass.revoked"
    PASS_OTHER_COMPOUND = "pass.other_compound"
    PERSON_UNKNOWN = "person.unknown"  # no registered person for what was seen
    FACE_UNKNOWN = "face.unknown"  # a face alone, recognised as nobody
    FACE_MISMATCH = "face.mismatch"  # the pass shown by someone else
    FACE_MISSING = "face.missing"  # the holder's face was needed and not seen
    FACE_NOT_LIVE = "face.not_live"
    PERMIT_MISSING = "permit.missing"
    PERMIT_EXPIRED = "permit.expired"
    PERMIT_NOT_YET_VALID = "permit.not_yet_valid"
    VISITOR_NO_HOST = "visitor.no_host"
    GREEN_IN = "green.in"
    GREEN_OUT = "green.out"
    YELLOW_IN = "yellow.in"
    YELLOW_EXIT = "yellow.exit"
    YELLOW_EXIT_WINDOW = "yellow.exit_window"  # outside the policy's exit hours
    YELLOW_HOUSEHOLD_QUOTA = "yellow.household_quota"  # the household's exits are used up
    YELLOW_COMPANIONS = "yellow.companions"  # several yellow persons leaving together
    RED_IN = "red.in"
    RED_EXIT_DENIED = "red.exit_denied"
    WHITE_UNVERIFIED = "white.unverified"
    ANTI_PASSBACK = "anti_passback"  # a hard anti-passback reader, same direction twice
    # The gates cannot hear each other and the policy will not decide on local knowledge.
    COMPOUND_STALE = "compound.stale"  # refused (policy compound.*_when_stale = "deny")
    COMPOUND_GUARD = "compound.guard"  # refused, the guard decides ("guard")
    OVERRIDE_OPEN_ONCE = "override.open_once"  # a guard or a signed command opened the door
    OVERRIDE_REFUSED = "override.refused"  # such an opening, not carried out (lockdown, no relay)


@unique
class AlertKind(StrEnum):
    """What an alert is about (`AlertSpec.kind`, the `kind` of an alert row)."""

    # Raised by decisions.
    FORGED_PASS = "forged_pass"
    REVOKED_PASS = "revoked_pass"
    PASS_SHARED = "pass_shared"  # the pass was shown by another person's face
    RED_EXIT_ATTEMPT = "red_exit_attempt"
    RED_ENTRY = "red_entry"
    PASSBACK = "passback"  # a soft anti-passback reader, same direction twice
    # Two gates of the compound let out more of a yellow household than its quota allows
    # (a partition, or two exits inside the propagation delay); raised by one gate only.
    QUOTA_CONFLICT = "quota_conflict"
    TAILGATING = "tailgating"  # several faces at a granted passage
    # Raised by guards, the door and the gate's own configuration.
    OVERRIDE = "override"  # a door opened once, locked down or held open by hand or command
    DOOR_FORCED = "door_forced"
    DOOR_HELD_OPEN = "door_held_open"
    CONFIG_CHANGED = "config_changed"  # the panel replaced the configuration file
    LOGIN_GUESSING = "login_guessing"  # failed panel logins locked an account (guessed at)
    DISK_FULL = "disk_full"  # a write failed for lack of space; the disk reserve was freed
    # Raised by the platform link.
    FORGED_DOCUMENT = "forged_document"  # platform data failed the signature check
    FORGED_COMMAND = "forged_command"  # a command failed the signature check or was replayed
    FORGED_PEER = "forged_peer"  # a peer gate's message failed the signature or key check
    ROSTER_REFUSED = "roster_refused"  # well signed, yet unusable: "<document>_refused"
    PERMITS_REFUSED = "permits_refused"
    TRUST_REFUSED = "trust_refused"
    REVOCATIONS_REFUSED = "revocations_refused"
    POLICY_REFUSED = "policy_refused"
    OUTBOX_FULL = "outbox_full"  # the storage bound dropped door events or was exceeded
    EVENT_TRUNCATED = "event_truncated"  # an event sent without its data (too large)
    EVENT_UNDELIVERABLE = "event_undeliverable"  # an event the broker refused, moved aside
    WEBHOOK_FAILED = "webhook_failed"


@unique
class DoorEventKind(StrEnum):
    """What a door did or had done to it (`DoorEvent.kind`, the `kind` of a door-event row)."""

    RELEASED = "released"  # the relay released the lock
    LOCKED = "locked"  # the relay locked again after a release
    OPENED = "opened"  # the door contact opened while released
    CLOSED = "closed"
    FORCED = "forced"  # the door contact opened while locked
    HELD_OPEN = "held_open"  # open longer than allowed
    EXIT_REQUEST = "exit_request"  # the request-to-exit button
    MODE = "mode"  # normal, lockdown or hold-open set
    RELEASE_REFUSED = "release_refused"  # a release asked for in lockdown


@unique
class EventType(StrEnum):
    """What an event is: `JournalEvent.kind` and the `type` of an MQTT event message."""

    PASSAGE = "passage"
    ALERT = "alert"
    DOOR = "door"
    WIPE = "wipe"  # personal data erased on this gate (one person, or all): proof for the platform
    # Messages of the platform link itself, never journal events.
    COMMAND_RESULT = "command_result"
    SNAPSHOT_REQUEST = "snapshot_request"
