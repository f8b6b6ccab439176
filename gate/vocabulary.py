"""The gate's fixed words: decision rules, alert kinds, door-event kinds, door modes and event
types.

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
    PASS_STALE_CODE = "pass.stale_code"  # a live code from before the window: a screenshot
    PASS_FUTURE_CODE = "pass.future_code"  # a live code for after the window: clock ahead
    PASS_REPLAYED = "pass.replayed"  # this live code was used in this direction already
    PASS_BAD_PROOF = "pass.bad_proof"  # no, a broken, or another key's live proof
    # The policy takes this colour's pass only as a live code (a printed copy is refused).
    PASS_LIVE_REQUIRED = "pass.live_required"
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
    GATE_LOCKDOWN = "gate.lockdown"  # the rules would grant, but the door is locked down
    # Granted, but the relay could not be released (lockdown set meanwhile, no relay): recorded
    # as denied, so it counts for no who-is-out, quota or anti-passback.
    DOOR_NOT_RELEASED = "door.not_released"
    # The trust list or policy in force is older than its maximum age and the gate is set to let
    # the guard decide (freshness.when_stale = "guard"): a grant becomes this refusal.
    RULES_STALE = "rules.stale"


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
    # Patterns and the alert loop (gate/probing.py, gate/approvals.py, gate/freshness.py).
    PROBING = "probing"  # repeated refusals at a reader, of one pass or of unknown faces
    OVERRIDE_APPROVAL = "override_approval"  # a red-permit override waits for a second account
    TRUST_STALE = "trust_stale"  # the trust list in force is older than its maximum age
    POLICY_STALE = "policy_stale"  # the policy in force is older than its maximum age
    CLOCK_UNSYNCED = "clock_unsynced"  # the wall clock is not synchronised (or implausible)
    CAMERA_DOWN = "camera_down"  # a reader's camera failed and the reader stopped


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
class DoorMode(StrEnum):
    """What a door does with a grant; an input of the decision, kept across restarts."""

    NORMAL = "normal"  # locked; grants release it for open_seconds
    LOCKDOWN = "lockdown"  # locked; grants and the exit button do not release it
    HOLD_OPEN = "hold_open"  # released until a deadline, then normal again


@unique
class EventType(StrEnum):
    """What an event is: `JournalEvent.kind` and the `type` of an MQTT event message."""

    PASSAGE = "passage"
    ALERT = "alert"
    DOOR = "door"
    ALERT_ACK = "alert_ack"  # an alert acknowledged on the panel: who, when, comment
    ALERT_UPDATE = "alert_update"  # a folded alert's count grew (gate/alert_folding.py)
    AUDIT = "audit"  # panel logins, account and setting changes, two-person overrides
    WIPE = "wipe"  # personal data erased on this gate (one person, or all): proof for the platform
    # Messages of the platform link itself, never journal events.
    COMMAND_RESULT = "command_result"
    SNAPSHOT_REQUEST = "snapshot_request"


@unique
class AuditKind(StrEnum):
    """What an audit record is about (`kind` of an audit row and of an `audit` event)."""

    LOGIN = "login"  # a panel login succeeded
    LOGIN_FAILED = "login_failed"  # the name typed is kept, never the password
    LOGOUT = "logout"
    SETUP_ADMIN = "setup_admin"  # the first admin made with the setup token
    ACCOUNT_ADDED = "account_added"
    ACCOUNT_REMOVED = "account_removed"
    PASSWORD_SET = "password_set"  # an admin set someone's password
    PASSWORD_CHANGED = "password_changed"  # one's own password
    SETTINGS_CHANGED = "settings_changed"  # the configuration file was replaced
    OVERRIDE_REQUESTED = "override_requested"  # an open-once of a red-permit denial, waiting
    OVERRIDE_APPROVED = "override_approved"  # a second account approved it: the door opened
    OVERRIDE_EXPIRED = "override_expired"  # nobody approved in time: the door stayed shut


@unique
class Lamp(StrEnum):
    """Which light a signal pattern shows (gate/signals.py; the settings name it)."""

    GREEN = "green"
    RED = "red"
    AMBER = "amber"  # the amber lamp, or green and red together without one
    NONE = "none"
