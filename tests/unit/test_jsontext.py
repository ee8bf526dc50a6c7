"""jsontext.py: standard JSON only, both ways; depth without recursion."""

from __future__ import annotations

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
