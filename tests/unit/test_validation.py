"""Checks for request fields and query parameters."""

from __future__ import annotations

import pytest

from pnotify import validation
from pnotify.http import BadRequest, ValidationError


def test_required_string() -> None:
    assert validation.required_string({"title": "hi"}, "title", 10) == "hi"
    cases: list[tuple[dict[str, object], str]] = [
        ({}, "title: is required"),
        ({"title": None}, "title: is required"),
        ({"title": 5}, "title: must be a string"),
        ({"title": "  "}, "title: must not be empty"),
        ({"title": "x" * 11}, "title: must be at most 10 characters"),
    ]
    for data, problem in cases:
        with pytest.raises(ValidationError) as caught:
            validation.required_string(data, "title", 10)
        assert caught.value.detail == problem
        assert caught.value.field == "title"


def test_unknown_fields() -> None:
    with pytest.raises(ValidationError) as caught:
        validation.reject_unknown({"title": 1, "colour": 2}, ("title",))
    assert caught.value.field == "colour"


def test_choice() -> None:
    assert validation.choice("low", "priority", ("low", "high")) == "low"
    with pytest.raises(ValidationError, match="priority: must be one of low, high"):
        validation.choice("urgent", "priority", ("low", "high"))


def test_json_object() -> None:
    assert validation.json_object({"m": {"a": [1, "é"]}}, "m", 100) == '{"a":[1,"é"]}'
    with pytest.raises(ValidationError, match="m: must be a JSON object"):
        validation.json_object({"m": [1]}, "m", 100)
    with pytest.raises(ValidationError, match="at most 10 bytes"):
        validation.json_object({"m": {"a": "x" * 20}}, "m", 10)


def test_int_param() -> None:
    assert validation.int_param({}, "limit", 50, 1, 200) == 50
    assert validation.int_param({"limit": "200"}, "limit", 50, 1, 200) == 200
    with pytest.raises(BadRequest, match="limit: expected a whole number"):
        validation.int_param({"limit": "ten"}, "limit", 50, 1, 200)
    with pytest.raises(ValidationError, match="limit: must be at most 200"):
        validation.int_param({"limit": "201"}, "limit", 50, 1, 200)
    with pytest.raises(ValidationError, match="limit: must be at least 1"):
        validation.int_param({"limit": "0"}, "limit", 50, 1, 200)


def test_timestamp_param() -> None:
    utc = validation.timestamp_param({"since": "2026-01-02T03:04:05Z"}, "since")
    naive = validation.timestamp_param({"since": "2026-01-02T03:04:05"}, "since")
    shifted = validation.timestamp_param({"since": "2026-01-02T04:04:05+01:00"}, "since")
    assert utc == naive == shifted == 1_767_323_045_000_000
    with pytest.raises(BadRequest, match="since: expected an ISO 8601 timestamp"):
        validation.timestamp_param({"since": "yesterday"}, "since")
