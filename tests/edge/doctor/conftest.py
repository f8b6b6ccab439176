"""Fixtures of the doctor tests: a real Mosquitto."""

from tests.fixtures.broker import broker

__all__ = ["broker"]
