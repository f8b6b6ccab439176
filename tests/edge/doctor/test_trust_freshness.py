"""doctor judges the trust list by what the gate uses: the platform's document in the database
(its version and issue time) when it holds one, the file otherwise; never by a file's date
when the platform's list is in force (the false "stale" of every MQTT-connected gate)."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge.doctor import DoctorContext, Status
from edge.doctor import trust as trust_check
from edge.doctor.findings import Finding
from gate.clock import ManualClock
from gate.passes import load_signing_key
from gate.policy import Policy
from gate.registry import Registry
from gate.store import database_path, open_database
from sync.bodies import PolicySnapshot, TrustEntry, TrustSnapshot
from tests.edge.installer.support import gate_config, write_config

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def findings(root: Path, config: dict[str, Any]) -> dict[str, Finding]:
    context = DoctorContext.load(write_config(root, config), clock=ManualClock(NOW))
    return {f.check: f for f in trust_check.check(context)}


def hold(root: Path, document: str, version: int, issued_days_ago: float,
         body: str | None) -> None:
    """The gate's database holding a platform document, as sync/documents.py leaves it."""
    db = open_database(database_path(root / "state"))
    try:
        Registry(db).set_version(document, version,
                                 issued_at=NOW - timedelta(days=issued_days_ago),
                                 applied_at=NOW - timedelta(days=issued_days_ago), body=body)
    finally:
        db.close()


def platform_trust(root: Path) -> str:
    key = load_signing_key(root / "keys" / "signing.key")
    raw = key.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    entry = TrustEntry(kid=key.key_id, public_key=base64.b64encode(raw).decode())
    return TrustSnapshot(keys=[entry]).model_dump_json()


def age_file(path: Path, days: float) -> None:
    when = (NOW - timedelta(days=days)).timestamp()
    os.utime(path, (when, when))


def linked(root: Path, **extra: Any) -> dict[str, Any]:
    return gate_config(root, mqtt={"enabled": True, "host": "127.0.0.1", "port": 1}, **extra)


def test_a_fresh_platform_list_is_not_stale_however_old_the_file(tmp_path: Path) -> None:
    config = linked(tmp_path)
    age_file(Path(config["passes"]["trust_list"]), 90)  # never touched: the list came by MQTT
    hold(tmp_path, "trust", 3, 2, platform_trust(tmp_path))
    found = findings(tmp_path, config)
    assert found["trust.list"].status is Status.OK
    assert "the platform's trust list (version 3)" in found["trust.list"].message
    fresh = found["trust.fresh"]
    assert fresh.status is Status.OK, fresh.message
    assert "version 3, issued 2026-11-20 (2 days ago; maximum 30 days)" in fresh.message


def test_a_platform_list_past_its_maximum_age_is_stale(tmp_path: Path) -> None:
    config = linked(tmp_path, freshness={"trust_max_age_days": 30, "when_stale": "guard"})
    hold(tmp_path, "trust", 4, 41, platform_trust(tmp_path))
    fresh = findings(tmp_path, config)["trust.fresh"]
    assert fresh.status is Status.WARN
    assert "version 4" in fresh.message and "41 days ago" in fresh.message
    assert "lets the guard decide" in fresh.message and "issue its trust list again" in fresh.fix


def test_the_policy_in_force_is_judged_the_same_way(tmp_path: Path) -> None:
    config = linked(tmp_path, freshness={"policy_max_age_days": 14})
    hold(tmp_path, "policy", 9, 20, PolicySnapshot(policy=Policy()).model_dump_json())
    found = findings(tmp_path, config)
    assert found["trust.policy_fresh"].status is Status.WARN
    assert "policy version 9" in found["trust.policy_fresh"].message
    # It holds the policy but not the trust list: the platform was heard, so that is a gap.
    assert found["trust.fresh"].status is Status.WARN
    assert "holds no trust list from the platform" in found["trust.fresh"].message


def test_a_file_alone_is_the_installer_s_and_never_stale(tmp_path: Path) -> None:
    config = gate_config(tmp_path)  # no platform link
    age_file(Path(config["passes"]["trust_list"]), 400)
    found = findings(tmp_path, config)
    assert found["trust.fresh"].status is Status.OK
    assert "signing.pub" in found["trust.fresh"].message and "by hand" in found[
        "trust.fresh"].message
    assert "trust.policy_fresh" not in found
    # Linked, but before the gate's first run: nothing to hold yet, nothing wrong.
    found = findings(tmp_path, linked(tmp_path))
    assert found["trust.fresh"].status is Status.OK
    assert found["trust.policy_fresh"].status is Status.OK
