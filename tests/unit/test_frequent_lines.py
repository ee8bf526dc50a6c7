"""The lines logged at a request's pace: the JSON log's shape, put together by hand."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime

from pnotify.logs import FrequentLines, JSONFormatter


def _lines(write: list[tuple[str, str, dict[str, object]]]) -> list[dict[str, object]]:
    out = io.StringIO()
    lines = FrequentLines(out, plain=False)
    for logger, event, entry in write:
        lines.write(logger, event, entry)
    lines.flush()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_has_the_json_logs_fields_in_its_order() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    (line,) = _lines([("pnotify.access", "request", {"status": 201, "user_id": None, "x": "é"})])
    after = datetime.now(UTC)
    assert list(line) == ["time", "level", "logger", "event", "status", "user_id", "x"]
    assert line["level"] == "info" and line["logger"] == "pnotify.access"
    fields = (line["event"], line["status"], line["user_id"], line["x"])
    assert fields == ("request", 201, None, "é")
    stamp = str(line["time"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", stamp)
    assert before <= datetime.fromisoformat(stamp) <= after


def test_an_entry_without_fields_and_a_second_event_of_a_logger() -> None:
    first, second = _lines([("a", "opened", {}), ("a", "closed", {"reason": "gone"})])
    assert {k: v for k, v in first.items() if k != "time"} == {
        "level": "info",
        "logger": "a",
        "event": "opened",
    }
    assert (second["event"], second["reason"]) == ("closed", "gone")


def test_the_same_shape_as_a_logged_record() -> None:
    record = logging.LogRecord("pnotify.access", logging.INFO, "", 0, "request", (), None)
    record.__dict__["status"] = 200
    formatted = json.loads(JSONFormatter().format(record))
    (line,) = _lines([("pnotify.access", "request", {"status": 200})])
    assert list(line) == list(formatted)
    assert {k: v for k, v in line.items() if k != "time"} == {
        k: v for k, v in formatted.items() if k != "time"
    }
