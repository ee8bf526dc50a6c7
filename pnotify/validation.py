"""Checks for request fields and query parameters.

A value that cannot be parsed at all (a timestamp or number that is not one) is a 400; a value
that parses but is not allowed (too long, out of range, not one of the choices) is a 422. Both
name the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pnotify import jsontext
from pnotify.clock import parse_iso
from pnotify.http import BadRequest, ValidationError


def reject_unknown(data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationError(unknown[0], "unknown field; allowed: " + ", ".join(sorted(allowed)))


def string(
    data: Mapping[str, Any], name: str, max_length: int, *, required: bool = False
) -> str | None:
    """A string field. Missing or null is None (or an error when required); blank is refused."""
    value = data.get(name)
    if value is None:
        if required:
            raise ValidationError(name, "is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(name, "must be a string")
    if not value.strip():
        raise ValidationError(name, "must not be empty")
    if len(value) > max_length:
        raise ValidationError(name, f"must be at most {max_length} characters")
    if "\x00" in value:
        raise ValidationError(name, "must not contain NUL characters")
    return value


def required_string(data: Mapping[str, Any], name: str, max_length: int) -> str:
    value = string(data, name, max_length, required=True)
    assert value is not None
    return value


def choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(name, "must be one of " + ", ".join(choices))
    return value


def json_object(data: Mapping[str, Any], name: str, max_bytes: int) -> str | None:
    """A JSON object field, returned serialised (compact) for storage."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError(name, "must be a JSON object")
    encoded = jsontext.compact(value)
    if len(encoded.encode()) > max_bytes:
        raise ValidationError(name, f"must be at most {max_bytes} bytes as JSON")
    return encoded


def int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}: expected a whole number, got {raw[:40]!r}") from None
    if value < low:
        raise ValidationError(name, f"must be at least {low}")
    if high is not None and value > high:
        raise ValidationError(name, f"must be at most {high}")
    return value


def timestamp_param(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_iso(raw)
    except (ValueError, OverflowError):
        raise BadRequest(
            f"{name}: expected an ISO 8601 timestamp like 2026-01-31T12:00:00Z, got {raw[:40]!r}"
        ) from None


def choice_param(query: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    return choice(raw, name, choices)


def string_param(query: Mapping[str, str], name: str, max_length: int) -> str | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_length:
        raise ValidationError(name, f"must be at most {max_length} characters")
    return raw
