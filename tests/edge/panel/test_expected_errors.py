"""Errors raised on purpose, gridgate's and vision's, answer 400 with their message."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gate.errors import ConfigError
from tests.edge.panel.conftest import Panel
from vision.errors import ImageError

ERRORS = {"gridgate": ConfigError("faces.tolerance: must be below 1"),
          "vision": ImageError("photo.jpg: not a readable image")}


@pytest.mark.parametrize("kind", sorted(ERRORS))
def test_an_expected_error_is_a_400_with_its_message(panel: Panel, kind: str) -> None:
    def fail() -> None:
        raise ERRORS[kind]

    panel.app.add_api_route("/api/fail", fail)
    panel.app.add_api_route("/fail", fail)
    client = panel.client()
    api = client.get("/api/fail")
    assert (api.status_code, api.json()) == (400, {"detail": str(ERRORS[kind])})
    page = client.get("/fail")
    assert page.status_code == 400 and str(ERRORS[kind]) in page.text


def test_any_other_error_stays_a_server_error(panel: Panel) -> None:
    def fail() -> None:
        raise RuntimeError("a bug")

    panel.app.add_api_route("/api/fail", fail)
    answer = TestClient(panel.app, raise_server_exceptions=False).get("/api/fail")
    assert answer.status_code == 500
