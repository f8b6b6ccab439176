"""The panel's TLS key is private from its first byte, also when it replaces an older key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from edge.panel.errors import PanelError
from edge.panel.tls import check_pair, create_self_signed


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_key_replaces_a_readable_one_as_0600(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    key.write_bytes(b"an old key, left readable by all")
    key.chmod(0o644)
    create_self_signed(cert, key, hosts=["localhost"])
    assert mode_of(key) == 0o600 and mode_of(cert) == 0o644
    check_pair(cert, key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tls.crt", "tls.key"]


def test_a_key_in_a_new_folder_gets_a_private_folder(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "private" / "tls.key"
    create_self_signed(cert, key, hosts=["localhost"])
    assert mode_of(key.parent) == 0o700 and mode_of(key) == 0o600


def test_an_unwritable_place_is_a_panel_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "etc").write_bytes(b"")
    with pytest.raises(PanelError, match="cannot write the panel certificate") as caught:
        create_self_signed(tmp_path / "etc" / "tls.crt", tmp_path / "etc" / "tls.key",
                           hosts=["localhost"])
    assert "etc" in str(caught.value)
