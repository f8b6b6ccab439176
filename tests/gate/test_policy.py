"""The policy as data: strict types whether it comes from the config file or the platform."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from gate.model import Colour
from gate.policy import Policy

PLATFORM_BODY = """{"version": "platform-7", "timezone": "UTC", "red_entry_alert": false,
 "face_match_required": ["red"], "liveness_required": [],
 "yellow": {"exits_per_household": 2, "period_days": 3, "quota_mode": "rolling",
            "companion_window_s": 0, "exit_window": "08:00-18:00"},
 "anti_passback": {"reset_hours": 12}}"""


def test_a_platform_document_in_json_is_taken_as_it_comes() -> None:
    for policy in (Policy.model_validate(json.loads(PLATFORM_BODY)),
                   Policy.model_validate_json(PLATFORM_BODY)):
        assert policy.face_match_required == {Colour.RED}
        assert policy.yellow.exits_per_household == 2
        assert policy.anti_passback.reset_hours == 12.0  # a whole number is a number
        assert isinstance(policy.anti_passback.reset_hours, float)
    again = Policy.model_validate_json(policy.model_dump_json())
    assert again == policy


@pytest.mark.parametrize(("body", "where", "kind"), [
    ({"red_entry_alert": "no"}, ("red_entry_alert",), "bool_type"),
    ({"red_entry_alert": 0}, ("red_entry_alert",), "bool_type"),
    ({"version": 7}, ("version",), "string_type"),
    ({"yellow": {"exits_per_household": "2"}}, ("yellow", "exits_per_household"), "int_type"),
    ({"yellow": {"exits_per_household": True}}, ("yellow", "exits_per_household"), "int_type"),
    ({"yellow": {"period_days": 2.0}}, ("yellow", "period_days"), "int_type"),
    ({"anti_passback": {"reset_hours": "24"}}, ("anti_passback", "reset_hours"), "float_type"),
    ({"anti_passback": {"reset_hours": True}}, ("anti_passback", "reset_hours"), "float_type"),
    ({"face_match_required": "red"}, ("face_match_required",), "list_type"),
    ({"face_match_required": ["purple"]}, ("face_match_required",), "enum"),
    ({"liveness_required": [1]}, ("liveness_required",), "enum"),
])
def test_a_value_of_the_wrong_type_is_refused_not_converted(
        body: dict[str, Any], where: tuple[str, ...], kind: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Policy.model_validate(body)
    [error] = caught.value.errors()
    assert (error["loc"], error["type"]) == (where, kind)
