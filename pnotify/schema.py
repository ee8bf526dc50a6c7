"""Request rules as data: each type both checks a value and describes itself as JSON Schema.

A route declares its query parameters and body fields with these (routing.Operation); the app
applies them before the handler runs, and openapi.py publishes the same objects — so the
document cannot drift from what the server enforces.

A value that cannot be read at all (a number that is not one) is a 400; one that reads but is
not allowed (too long, out of range, not a choice, an unknown name) is a 422. Both name it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pnotify import jsontext
from pnotify.clock import parse_iso
from pnotify.http import BadRequest, ValidationError

JSON = dict[str, Any]
_ASCII_DIGITS = re.compile(r"-?[0-9]{1,18}")
_NOT_BLANK = r"\S"
_CURSOR = re.compile(r"[0-9]{1,18}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class Type:
    """A value's rule; `check` returns the value to use, or raises naming `name`."""

    def check(self, name: str, value: Any) -> Any:
        raise NotImplementedError

    def parse_text(self, name: str, text: str) -> Any:
        """From a query parameter (always text)."""
        return self.check(name, text)

    def schema(self) -> JSON:
        raise NotImplementedError


def no_lone_surrogates(name: str, text: str) -> None:
    """A lone surrogate (`"\\ud800"` in JSON) cannot be stored as UTF-8: refuse it by name."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(name, "contains a lone surrogate (not valid Unicode)") from None


@dataclass(frozen=True)
class Text(Type):
    max_length: int
    blank: bool = False  # may it be empty or only spaces?

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(name, "must be a string")
        if not self.blank and not value.strip():
            raise ValidationError(name, "must not be empty")
        if len(value) > self.max_length:
            raise ValidationError(name, f"must be at most {self.max_length} characters")
        if "\x00" in value:
            raise ValidationError(name, "must not contain NUL characters")
        no_lone_surrogates(name, value)
        return value

    def schema(self) -> JSON:
        described: JSON = {"type": "string", "maxLength": self.max_length}
        if not self.blank:
            described.update(minLength=1, pattern=_NOT_BLANK)
        return described


@dataclass(frozen=True)
class Choice(Type):
    choices: tuple[str, ...]

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise ValidationError(name, "must be one of " + ", ".join(self.choices))
        return value

    def schema(self) -> JSON:
        return {"type": "string", "enum": list(self.choices)}


@dataclass(frozen=True)
class Boolean(Type):
    def check(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(name, "must be true or false")
        return value

    def parse_text(self, name: str, text: str) -> bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValidationError(name, "must be true or false")

    def schema(self) -> JSON:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Integer(Type):
    low: int
    high: int

    def check(self, name: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError(name, "must be a whole number")
        return self._bounded(name, value)

    def parse_text(self, name: str, text: str) -> int:
        # ASCII digits only: str.isdigit() and int() also take superscripts and Arabic-Indic
        # digits.
        if not _ASCII_DIGITS.fullmatch(text):
            raise BadRequest(f"{name}: expected a whole number, got {text[:40]!r}")
        return self._bounded(name, int(text))

    def _bounded(self, name: str, value: int) -> int:
        if value < self.low:
            raise ValidationError(name, f"must be at least {self.low}")
        if value > self.high:
            raise ValidationError(name, f"must be at most {self.high}")
        return value

    def schema(self) -> JSON:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}


@dataclass(frozen=True)
class Timestamp(Type):
    def check(self, name: str, value: Any) -> int:
        try:
            return parse_iso(str(value))
        except (ValueError, OverflowError):
            raise BadRequest(
                f"{name}: expected an ISO 8601 timestamp like 2026-01-31T12:00:00Z, "
                f"got {str(value)[:40]!r}"
            ) from None

    def schema(self) -> JSON:
        return {"type": "string", "format": "date-time"}


@dataclass(frozen=True)
class Cursor(Type):
    """A change cursor (a whole number), or for older clients a notification id (a UUID)."""

    def check(self, name: str, value: Any) -> int | str:
        text = str(value).strip()
        if _CURSOR.fullmatch(text):
            return int(text)
        if _UUID.fullmatch(text):
            return text.lower()
        raise BadRequest(
            f"{name}: expected a change cursor (a whole number), got {text[:40]!r}",
            code="invalid_cursor",
        )

    def schema(self) -> JSON:
        return {"type": "string", "pattern": f"^({_CURSOR.pattern}|{_UUID.pattern})$"}


@dataclass(frozen=True)
class JsonObject(Type):
    """A JSON object, returned serialised (compact) for storage."""

    max_bytes: int
    max_depth: int

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, dict):
            raise ValidationError(name, "must be a JSON object")
        problem = jsontext.problem(value, self.max_depth)
        if problem is not None:
            raise ValidationError(name, problem)
        encoded = jsontext.compact(value)
        if len(encoded.encode()) > self.max_bytes:
            raise ValidationError(name, f"must be at most {self.max_bytes} bytes as JSON")
        return encoded

    def schema(self) -> JSON:
        return {"type": "object"}


@dataclass(frozen=True)
class TextList(Type):
    """A list of short strings (tags); from text, comma-separated."""

    max_items: int
    max_length: int

    def check(self, name: str, value: Any) -> list[str]:
        if not isinstance(value, list) or len(value) > self.max_items:
            raise ValidationError(name, f"must be a list of at most {self.max_items} strings")
        return [Text(self.max_length).check(name, item) for item in value]

    def parse_text(self, name: str, text: str) -> list[str]:
        return self.check(name, [item.strip() for item in text.split(",") if item.strip()])

    def schema(self) -> JSON:
        item = Text(self.max_length).schema()
        return {"type": "array", "items": item, "maxItems": self.max_items}


@dataclass(frozen=True)
class IdList(Type):
    """A list of notification ids (UUIDs), lower-cased, each once, in the order given."""

    max_items: int

    def check(self, name: str, value: Any) -> list[str]:
        if not isinstance(value, list) or not 1 <= len(value) <= self.max_items:
            raise ValidationError(name, f"must be a list of 1 to {self.max_items} ids")
        for item in value:
            if not isinstance(item, str) or not _UUID.fullmatch(item):
                raise ValidationError(name, f"must hold ids (UUIDs), got {str(item)[:40]!r}")
        return list(dict.fromkeys(item.lower() for item in value))

    def schema(self) -> JSON:
        item = {"type": "string", "format": "uuid", "pattern": f"^{_UUID.pattern}$"}
        return {"type": "array", "items": item, "minItems": 1, "maxItems": self.max_items}


@dataclass(frozen=True)
class AnyJson(Type):
    """Any JSON value (kept as given, for metadata), standard and not too deep."""

    max_depth: int = 8

    def check(self, name: str, value: Any) -> Any:
        problem = jsontext.problem(value, self.max_depth)
        if problem is not None:
            raise ValidationError(name, problem)
        return value

    def schema(self) -> JSON:
        return {}


@dataclass(frozen=True)
class Field:
    name: str
    type: Type
    required: bool = False
    nullable: bool = True  # may a body field be null (meaning: not given)?
    default: Any = None
    doc: str = ""


@dataclass(frozen=True)
class Fields:
    """The fields of a JSON body, or the parameters of a query string."""

    fields: tuple[Field, ...] = ()
    # Webhook bodies from other tools: names we do not know are ignored, not refused.
    extra_allowed: bool = False
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    def parse_body(self, data: Mapping[str, Any]) -> dict[str, Any]:
        self._refuse_unknown(data, "field")
        values: dict[str, Any] = {}
        for spec in self.fields:
            value = data.get(spec.name)
            if value is None:
                if spec.name in data and not spec.nullable:
                    values[spec.name] = spec.type.check(spec.name, value)  # refuses null
                    continue
                if spec.required:
                    raise ValidationError(spec.name, "is required")
                values[spec.name] = spec.default
            else:
                values[spec.name] = spec.type.check(spec.name, value)
        if self.extra_allowed:  # kept as given, standard JSON only
            for name in set(data) - set(self.by_name):
                values[name] = AnyJson().check(name, data[name])
        return values

    def parse_query(
        self, query: Mapping[str, str], what: str = "query parameter"
    ) -> dict[str, Any]:
        self._refuse_unknown(query, what)
        values: dict[str, Any] = {}
        for spec in self.fields:
            text = query.get(spec.name)
            if text is None or text == "":
                if spec.required:
                    raise ValidationError(spec.name, "is required")
                values[spec.name] = spec.default
            else:
                values[spec.name] = spec.type.parse_text(spec.name, text)
        return values

    def _refuse_unknown(self, given: Mapping[str, Any], what: str) -> None:
        if self.extra_allowed:
            return
        if given.keys() <= self.by_name.keys():  # the usual case, without building sets
            return
        unknown = sorted(set(given) - set(self.by_name))
        if unknown:
            allowed = ", ".join(sorted(self.by_name)) or "none"
            raise ValidationError(unknown[0], f"unknown {what}; allowed: {allowed}")

    def body_schema(self) -> JSON:
        properties: JSON = {}
        for spec in self.fields:
            described = dict(spec.type.schema())
            if spec.nullable and not spec.required:
                described = {"anyOf": [described, {"type": "null"}]}
            if spec.doc:
                described["description"] = spec.doc
            properties[spec.name] = described
        schema: JSON = {
            "type": "object",
            "properties": properties,
            "additionalProperties": self.extra_allowed,
        }
        required = [spec.name for spec in self.fields if spec.required]
        if required:
            schema["required"] = required
        return schema

    def query_parameters(self) -> list[JSON]:
        parameters = []
        for spec in self.fields:
            parameter: JSON = {
                "name": spec.name,
                "in": "query",
                "required": spec.required,
                "schema": spec.type.schema(),
            }
            if spec.doc:
                parameter["description"] = spec.doc
            parameters.append(parameter)
        return parameters
