"""jsontext.py: standard JSON only, both ways; depth without recursion."""

from __future__ import annotations

import datetime
import json

import pytest

from pnotify import jsontext


@pytest.mark.parametrize("text", ['{"n": NaN}', '{"n": Infinity}', "[-Infinity]"])
def test_nan_and_infinity_are_refused_on_the_way_in(text: str) -> None:
    with pytest.raises(jsontext.NotStandardJSON):
        jsontext.loads(text)


def test_nan_is_never_written() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        jsontext.compact({"n": float("nan")})


def test_depth_is_measured_without_recursion() -> None:
    deep: list[object] = []
    for _ in range(100_000):  # far past Python's recursion limit
        deep = [deep]
    assert jsontext.depth(deep, stop=33) == 33
    assert jsontext.depth({"a": [1, {"b": 2}]}, stop=10) == 3
    assert jsontext.depth("scalar", stop=10) == 0


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": [1, {"b": "ok"}]}, None),
        ({"a": {"b": {"c": {}}}}, "must be nested at most 3 levels deep"),
        ({"k": "\ud800"}, "contains a lone surrogate (not valid Unicode)"),
        ({"\udfff": 1}, "contains a lone surrogate (not valid Unicode)"),
        (jsontext.loads_marking_nonstandard('{"n": [NaN]}'), "NaN is not a JSON number"),
    ],
)
def test_problem_finds_what_cannot_be_kept(value: object, problem: str | None) -> None:
    found = jsontext.problem(value, max_depth=3)
    assert found == problem or (
        problem is not None and found is not None and found.startswith(problem)
    )


VALUES: list[object] = [
    {"title": 'café ☕ "quoted" \\ \n\t\u0001', "n": -12, "x": 2.5e-07, "ok": True},
    [None, [], {}, [[1]], {"a": {"b": [False]}}],
    "text",
    0,
]


@pytest.mark.parametrize("value", VALUES)
def test_compact_writes_what_json_dumps_writes(value: object) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    assert jsontext.compact(value) == expected


def test_an_encoder_with_a_default_and_its_separators() -> None:
    encode = jsontext.encoder((", ", ": "), allow_nan=True, default=str)
    value = {"at": datetime.date(2026, 11, 27), "n": float("nan"), "list": [1, 2]}
    assert encode(value) == json.dumps(value, ensure_ascii=False, default=str)
    assert encode(value) == '{"at": "2026-11-27", "n": NaN, "list": [1, 2]}'


def test_a_value_json_cannot_write_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsontext.compact({"what": object()})
