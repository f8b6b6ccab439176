"""Trust family: the trust list is present, readable, has keys that are valid now, and is fresh."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.doctor.context import DoctorContext
from edge.doctor.findings import Finding, fail, ok, warn
from gate.errors import KeyFileError
from gate.passes import Revocations, TrustList, load_signing_key
from gate.store import gate_key_path

EXPIRY_WARNING = timedelta(days=30)
STALE_AFTER = timedelta(days=30)


def check(context: DoctorContext) -> Iterator[Finding]:
    """Trust list and revocation list as the gate will load them."""
    settings = context.settings
    if settings is None:
        return
    path = settings.passes.trust_list
    try:
        trust = TrustList.load(path)
    except KeyFileError as exc:
        yield fail("trust.list", str(exc),
                   f"copy the platform's trust list (or its signing.pub) to {path}; once the "
                   "broker link works the platform keeps it up to date")
        return
    now = context.clock.now()
    valid = [k for k in trust if k.not_after is None or k.not_after > now]
    if not valid:
        yield fail("trust.list", f"{path}: all {len(trust)} key(s) have expired, so every "
                   "pass is refused", "get a current trust list from the platform")
        return
    expiring = [k for k in valid if k.not_after is not None and k.not_after - now < EXPIRY_WARNING]
    if expiring and len(expiring) == len(valid):
        last = max(k.not_after for k in expiring if k.not_after is not None)
        yield warn("trust.list", f"{path}: every key expires by {last:%Y-%m-%d}",
                   "ask the platform for its next key before then")
    else:
        kids = ", ".join(k.key_id for k in valid)
        yield ok("trust.list", f"{path}: {len(valid)} key(s) valid now ({kids})")
    age = now - datetime.fromtimestamp(path.stat().st_mtime, UTC)
    if settings.mqtt.enabled and age > STALE_AFTER:
        yield warn("trust.fresh", f"{path} has not changed for {age.days} days although the "
                   "platform link is on", "check the broker findings; the platform pushes the "
                   "trust list over MQTT when it changes")
    if settings.mqtt.enabled and settings.mqtt.peer_link:
        yield _gate_key(trust, settings.storage.state_dir, settings.gate.gate_id)
    revocations = settings.passes.revocations
    if revocations is not None:
        try:
            count = len(Revocations.load(revocations))
        except KeyFileError as exc:
            yield fail("trust.revocations", str(exc),
                       "create the file (one revoked pass id per line) or unset "
                       "passes.revocations")
            return
        yield ok("trust.revocations", f"{revocations}: {count} revoked pass(es)")


def _gate_key(trust: TrustList, state_dir: Path, gate_id: str) -> Finding:
    """This gate's own key (it signs what the gate tells the other gates of its compound)."""
    path = gate_key_path(state_dir)
    if not path.exists():
        return ok("trust.gate_key", f"this gate's key is made on its first run ({path}); "
                  "`gridgate keys gate` then shows it for the platform's trust list")
    try:
        key = load_signing_key(path)
    except KeyFileError as exc:
        return fail("trust.gate_key", str(exc), f"remove {path} (a new key is made at the next "
                    "start) and give the new key to the platform")
    listed = trust.get(key.key_id)
    if listed is not None and listed.scope == "gate" and listed.gate_id == gate_id:
        return ok("trust.gate_key", f"this gate's key {key.key_id} is in the trust list "
                  f"(scope gate, {gate_id})")
    return warn("trust.gate_key", f"this gate's key {key.key_id} is not in the trust list as "
                f"the 'gate' key of {gate_id}: the other gates refuse its passages",
                "`gridgate keys gate` prints the entry: have the platform add it to the "
                "compound's trust list")
