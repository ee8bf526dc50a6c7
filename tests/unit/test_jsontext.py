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
