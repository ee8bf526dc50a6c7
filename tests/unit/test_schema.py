"""schema.py: the rules that both check requests and describe them in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest

from pnotify.http import BadRequest, ValidationError
from pnotify.schema import (
    Choice,
    Cursor,
    Field,
    Fields,
    Integer,
    JsonObject,
    Text,
    Timestamp,
)

BODY = Fields(
    (
        Field("title", Text(10), required=True),
        Field("note", Text(10, blank=True)),
        Field("priority", Choice(("low", "high")), default="low"),
        Field("status", Choice(("a", "b")), nullable=False),
        Field("metadata", JsonObject(100, 3)),
    )
)
QUERY = Fields((Field("limit", Integer(1, 200), default=50), Field("since", Timestamp())))


def _refused(data: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        BODY.parse_body(data)
    return caught.value


def test_a_good_body_with_defaults() -> None:
    parsed = BODY.parse_body({"title": "hi", "note": "", "metadata": {"a": [1, "é"]}})
    assert parsed == {
        "title": "hi",
        "note": "",
        "priority": "low",
        "status": None,
        "metadata": '{"a":[1,"é"]}',
    }


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ({}, "title: is required"),
        ({"title": None}, "title: is required"),
        ({"title": 5}, "title: must be a string"),
        ({"title": "  "}, "title: must not be empty"),
        ({"title": "x" * 11}, "title: must be at most 10 characters"),
        ({"title": "a\x00b"}, "title: must not contain NUL characters"),
        ({"title": "\ud800"}, "title: contains a lone surrogate"),
        ({"title": "t", "colour": 1}, "colour: unknown field"),
        ({"title": "t", "priority": "urgent"}, "priority: must be one of low, high"),
        ({"title": "t", "status": None}, "status: must be one of a, b"),
        ({"title": "t", "metadata": [1]}, "metadata: must be a JSON object"),
        ({"title": "t", "metadata": {"a": {"b": {"c": {}}}}}, "metadata: must be nested at most 3"),
        ({"title": "t", "metadata": {"a": "x" * 200}}, "metadata: must be at most 100 bytes"),
        ({"title": "t", "metadata": {"k": "\udfff"}}, "metadata: contains a lone surrogate"),
    ],
)
def test_refusals_name_the_field(data: dict[str, Any], detail: str) -> None:
    refused = _refused(data)
    assert refused.detail.startswith(detail)
    assert refused.field == detail.split(":")[0]


def test_query_parameters() -> None:
    assert QUERY.parse_query({}) == {"limit": 50, "since": None}
    assert QUERY.parse_query({"limit": "200"})["limit"] == 200
    assert QUERY.parse_query({"since": "2026-01-02T04:04:05+01:00"})["since"] == (
        1_767_323_045_000_000
    )


@pytest.mark.parametrize(
    ("query", "error", "detail"),
    [
        ({"limit": "ten"}, BadRequest, "limit: expected a whole number"),
        ({"limit": "²"}, BadRequest, "limit: expected a whole number"),
        ({"limit": "\u0661"}, BadRequest, "limit: expected a whole number"),
        ({"limit": "9" * 5000}, BadRequest, "limit: expected a whole number"),
        ({"limit": "9223372036854775808"}, BadRequest, "limit: expected a whole number"),
        ({"limit": "201"}, ValidationError, "limit: must be at most 200"),
        ({"limit": "0"}, ValidationError, "limit: must be at least 1"),
        ({"since": "yesterday"}, BadRequest, "since: expected an ISO 8601 timestamp"),
        ({"prio": "high"}, ValidationError, "prio: unknown query parameter"),
    ],
)
def test_query_refusals(query: dict[str, str], error: type[Exception], detail: str) -> None:
    with pytest.raises(error) as caught:
        QUERY.parse_query(query)
    assert str(caught.value).startswith(detail)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("01A2150D-5823-7E35-80D1-2BF01CE8D93E", "01a2150d-5823-7e35-80d1-2bf01ce8d93e"),
    ],
)
def test_cursor(text: str, value: int | str) -> None:
    assert Cursor().check("after", text) == value


@pytest.mark.parametrize("text", ["²", "\u0661", "-1", "1" * 19, "abc", "9" * 5000])
def test_bad_cursor_is_a_400_naming_it(text: str) -> None:
    with pytest.raises(BadRequest) as caught:
        Cursor().check("after", text)
    assert caught.value.code == "invalid_cursor"
    assert caught.value.detail.startswith("after: ")


def test_schema_describes_the_same_rules() -> None:
    schema = BODY.body_schema()
    assert schema["required"] == ["title"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["title"] == {
        "type": "string",
        "maxLength": 10,
        "minLength": 1,
        "pattern": r"\S",
    }
    assert schema["properties"]["status"] == {"type": "string", "enum": ["a", "b"]}
    assert {"type": "null"} in schema["properties"]["note"]["anyOf"]
    (limit, since) = QUERY.query_parameters()
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
    assert since["schema"]["format"] == "date-time"
