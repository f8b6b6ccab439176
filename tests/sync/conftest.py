"""Fixtures of the sync tests: a real Mosquitto per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.broker import Broker
from tests.sync.support import start_broker


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker shared by the tests of a module (tests use their own client ids)."""
    broker = start_broker(tmp_path_factory.mktemp("broker"))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker for one test, which it may stop and start."""
    broker = start_broker(tmp_path / "broker")
    try:
        yield broker
    finally:
        broker.stop()
