"""JSON as the server reads and writes it: standard JSON only (no NaN or Infinity either way),
compact and UTF-8 on the way out, and depth measured without recursion.
"""

from __future__ import annotations

import json
from typing import Any


class NotStandardJSON(ValueError):
    """NaN, Infinity or -Infinity: Python's json takes them, JSON.parse and strict parsers don't."""


class _NonStandard:
    """Stands where a body had NaN or Infinity, so the field that holds it can be named."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _refuse_constant(name: str) -> Any:
    raise NotStandardJSON(f"{name} is not a JSON value")


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes) -> Any:
    """Parse standard JSON; raises ValueError (NotStandardJSON for NaN and Infinity)."""
    return json.loads(text, parse_constant=_refuse_constant)


def loads_marking_nonstandard(text: str | bytes) -> Any:
    """Parse JSON; NaN and Infinity become markers (see `nonstandard`) instead of failing."""
    return json.loads(text, parse_constant=_NonStandard)


def nonstandard(value: Any) -> str | None:
    """The first NaN or Infinity marker anywhere in `value`, as written; None when there is none."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, _NonStandard):
            return item.text
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


def depth(value: Any, stop: int) -> int:
    """How deeply objects and arrays nest (a scalar is 0), counting no further than `stop`."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            if deepest >= stop:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, level) for child in children)
    return deepest
